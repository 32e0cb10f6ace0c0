# jitsi-conformance: recipes a user reaches for. `just --list` shows them.

# Run the lab with the reference profile (pass e.g. `--profile blog-2020 --format json`).
lab *ARGS:
    cargo run --release -- lab {{ARGS}}

# The test suite, as CI runs it.
test:
    cargo test

# The fault catalogue: every fault must be caught by exactly its checks (prints the score).
faults:
    cargo test --test fault_catalogue -- --nocapture

# Interop evidence: aioice (PyPI) and Debian's headless Chromium connect through the NAT,
# Debian's stun-client gets no answer, aioice's STUN decoder verifies the bridge's responses.
interop:
    scripts/interop.sh

# Build the lab's images (add --rebuild to force).
images *ARGS:
    cargo run --release -- images {{ARGS}}

# Warm wall-clock benchmark; `just bench --cold` removes the images first.
bench *ARGS:
    scripts/bench.sh {{ARGS}}

# A report for one profile into target/reports/<profile>/ (json, md, junit; reports/ holds the snapshots).
report PROFILE="reference":
    cargo run --release -- lab --profile {{PROFILE}} --out target/reports/{{PROFILE}} --format text

# Remove every lab of the project on this host; `just clean --images` removes its images too.
clean *ARGS:
    cargo run --release -- clean {{ARGS}}

# The check catalogue.
list:
    cargo run --release -- list
