#!/usr/bin/env bash
# Wall-clock benchmark (`just bench`): warm reference runs (images built) several times, then
# one warm run of blog-2020, current and the pre-change example; with --cold a cold run first
# (the project's images removed). Prints the report's own timings next to the wall time.
# Builds the release binary first, untimed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
cold=0
[ "${1:-}" = "--cold" ] && cold=1
cargo build --release -q
bin=target/release/jitsi-conformance
# The fake bridge is built once, outside the timing.
$bin lab --only tls/protocol/1 --format json >/dev/null 2>&1 || true

one() {
  local label=$1; shift
  local t0 t1 json
  t0=$(date +%s%N)
  json=$($bin lab --format json "$@" 2>/dev/null) || true
  t1=$(date +%s%N)
  python3 - "$label" "$(( (t1 - t0) / 1000000 ))" "$json" <<'PY'
import json, sys
label, wall, doc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = json.loads(doc)
t, s = r["timings"], r["summary"]
print(f"{label:<22} wall {wall/1000:6.2f} s  images {t['images_ms']/1000:5.2f}  lab_up {t['lab_up_ms']/1000:5.2f}  checks {t['checks_ms']/1000:5.2f}  teardown {t['teardown_ms']/1000:5.2f}  ({s['pass']}/{s['total']} pass)")
PY
}

if [ $cold = 1 ]; then
  $bin clean --images >/dev/null
  one "cold reference"
fi
for i in $(seq 1 "$runs"); do
  one "warm reference #$i"
done
one "warm blog-2020" --profile blog-2020
one "warm current" --profile current
# The pre-change run (SPEC section 8) on the operator-form files of fixtures/examples/.
one "warm pre-change" --vhost fixtures/examples/meet.example.org.conf \
  --rules fixtures/examples/rules.v4 --wan-if ens3 --lan-if ens4 \
  --bridge-config fixtures/examples/sip-communicator.properties \
  --jvb-conf fixtures/examples/jvb.conf \
  --jicofo-config fixtures/examples/jicofo-sip-communicator.properties
