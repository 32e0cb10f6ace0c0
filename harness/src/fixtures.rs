//! The fixtures the lab is made of (profiles, faults, operator cases, image recipes, the lab's
//! entry scripts), carried inside the binary so an installed `jitsi-conformance` works from any
//! directory, with no source tree (SPEC section 12). A working copy's fixtures are used only
//! when asked for: `--fixtures DIR` or `JC_FIXTURES`.
//!
//! The embedded tree is written once to a directory named after its content hash under the
//! temp dir, so the rest of the harness reads plain files and two binaries with the same
//! fixtures share one copy.

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `fixtures/` as it was when this binary was built (`harness/build.rs` makes cargo rebuild
/// on any change to it).
static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../fixtures");

static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

/// Use `dir` (a working copy's `fixtures/`) instead of the built-in ones, for this process.
/// Only the first call counts.
pub fn use_dir(dir: &Path) -> Result<(), String> {
    if !dir.join("profiles").is_dir() {
        return Err(format!(
            "{}: not a fixtures directory (it has no profiles/)",
            dir.display()
        ));
    }
    let _ = CHOSEN.set(dir.to_path_buf());
    Ok(())
}

/// The fixtures directory of this process: `--fixtures`/`JC_FIXTURES`, else the built-in tree.
pub fn root() -> PathBuf {
    CHOSEN
        .get_or_init(|| match std::env::var_os("JC_FIXTURES") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => materialize().unwrap_or_else(|e| {
                // Without a writable temp dir nothing else of the lab works either; the
                // caller's first read names the path.
                tracing::warn!("cannot write the built-in fixtures: {e}");
                PathBuf::from("/nonexistent/jitsi-conformance-fixtures")
            }),
        })
        .clone()
}

/// Whether the built-in tree is in use (for the report's provenance).
pub fn built_in() -> bool {
    root().starts_with(std::env::temp_dir())
        && root()
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("jc-fixtures-"))
}

fn files(dir: &'static Dir<'static>, out: &mut Vec<(&'static Path, &'static [u8])>) {
    for f in dir.files() {
        out.push((f.path(), f.contents()));
    }
    for d in dir.dirs() {
        files(d, out);
    }
}

fn materialize() -> std::io::Result<PathBuf> {
    let mut all = Vec::new();
    files(&EMBEDDED, &mut all);
    all.sort_by_key(|(p, _)| *p);
    let mut h = Sha256::new();
    for (p, c) in &all {
        h.update(p.to_string_lossy().as_bytes());
        h.update((c.len() as u64).to_le_bytes());
        h.update(c);
    }
    let hash = hex::encode(&h.finalize()[..8]);
    let dest = std::env::temp_dir().join(format!("jc-fixtures-{hash}"));
    if dest.join(".complete").is_file() {
        return Ok(dest);
    }
    // Written aside and renamed into place, so parallel processes never see half a tree.
    let tmp = std::env::temp_dir().join(format!(
        "jc-fixtures-{hash}.{}.{:x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    for (p, c) in &all {
        let target = tmp.join(p);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, c)?;
        if p.extension().is_some_and(|e| e == "sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    std::fs::write(tmp.join(".complete"), b"")?;
    match std::fs::rename(&tmp, &dest) {
        Ok(()) => Ok(dest),
        // Another process won the race: its copy is the same content.
        Err(_) if dest.join(".complete").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dest)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_tree_holds_what_the_lab_needs() {
        for rel in [
            "profiles/reference/manifest.toml",
            "images/proxy/Dockerfile",
            "lab/bridge.sh",
            "lab/common.sh",
        ] {
            assert!(EMBEDDED.get_file(rel).is_some(), "{rel} is not built in");
        }
        let dir = materialize().unwrap();
        assert!(dir.join("profiles/reference/manifest.toml").is_file());
        // A second call reuses the same copy.
        assert_eq!(materialize().unwrap(), dir);
    }
}
