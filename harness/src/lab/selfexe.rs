//! The executable the bridge host runs as its fake bridge: this very program (SPEC section 12),
//! mounted read-only into the bridge container, so changing the fake bridge never rebuilds an
//! image and nothing is compiled at run time. The container's base comes from the host's own
//! Debian suites, so the host's dynamically linked binary runs there as it is.

use crate::host::SetupError;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the bridge container sees the executable.
pub const IN_CONTAINER: &str = "/usr/local/bin/jitsi-conformance";

static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

/// Use `exe` instead of the running executable: for test binaries, which are not the suite's
/// CLI (`env!("CARGO_BIN_EXE_jitsi-conformance")`). Only the first call counts.
pub fn use_executable(exe: &Path) {
    let _ = CHOSEN.set(exe.to_path_buf());
}

/// The executable to mount: as set by [`use_executable`], else `JC_SELF_EXE`, else this process's.
pub fn path() -> Result<PathBuf, SetupError> {
    if let Some(p) = CHOSEN.get() {
        return check(p.clone());
    }
    if let Some(p) = std::env::var_os("JC_SELF_EXE").filter(|p| !p.is_empty()) {
        return check(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| {
        SetupError::new(
            "self-exe",
            format!("cannot find this program's executable to run as the fake bridge: {e}"),
        )
    })?;
    check(exe)
}

fn check(p: PathBuf) -> Result<PathBuf, SetupError> {
    if p.is_file() {
        Ok(p)
    } else {
        Err(SetupError::new(
            "self-exe",
            format!(
                "{} is not a file: the bridge host needs the jitsi-conformance executable",
                p.display()
            ),
        ))
    }
}
