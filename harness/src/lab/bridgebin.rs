//! The fake backend/videobridge binary, built statically for the host's architecture and
//! mounted into the bridge host at start, so changing its code never rebuilds an image.

use crate::host::SetupError;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::sync::OnceCell;

static BUILT: OnceCell<PathBuf> = OnceCell::const_new();

/// The workspace root (this crate lives in `harness/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness has a parent")
        .to_path_buf()
}

/// Builds (or finds fresh) `jc-fake-bridge`; `JC_FAKE_BRIDGE` names a prebuilt one instead.
pub async fn ensure() -> Result<PathBuf, SetupError> {
    BUILT
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(build)
                .await
                .map_err(|e| SetupError::new("bridge-build", e.to_string()))?
        })
        .await
        .cloned()
}

fn build() -> Result<PathBuf, SetupError> {
    if let Ok(p) = std::env::var("JC_FAKE_BRIDGE") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(SetupError::new(
                "bridge-build",
                format!("JC_FAKE_BRIDGE={} is not a file", p.display()),
            ))
        };
    }
    let root = workspace_root();
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    // Its own target dir: the flags differ from the host build's, and a nested cargo under
    // `cargo test` must not wait on the outer build's lock.
    let target_dir = root.join("target").join("lab");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "jc-fake-bridge",
            "--bin",
            "jc-fake-bridge",
            "--target",
            &target,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        // --target keeps these flags off build scripts and proc macros.
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| SetupError::new("bridge-build", format!("cannot run {cargo}: {e}")))?;
    if !out.status.success() {
        return Err(SetupError::new(
            "bridge-build",
            format!(
                "building the fake bridge failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    Ok(target_dir
        .join(target)
        .join("release")
        .join("jc-fake-bridge"))
}
