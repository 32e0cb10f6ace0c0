//! Another profile on a running lab (SPEC section 6: "swap the changed file, restart the
//! affected service"): the new profile's files are written beside the lab's, and each role whose
//! files, image or environment differ gets a new container on the same addresses; the others
//! keep running untouched (the bridge's conferences of the last run ended, as a fresh bridge has
//! none). A role is restarted whole, never patched in place, so what it runs
//! is exactly what a fresh lab's container would run. The fault catalogue's snapshots, taken
//! from fresh labs, hold a reused lab to that on every run.

use super::{setup, Lab, LabError};
use crate::images::Images;
use crate::net::AddressPlan;
use crate::profile::Profile;
use crate::role::Role;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Files the harness writes into a role's directory while the lab runs, not part of its recipe.
const RUNTIME_FILES: [&str; 1] = ["wired"];

impl Lab {
    /// Can `profile` run on this lab? It must name the same site (FQDN and proxy names: the
    /// lab's certificates are made for them).
    pub fn can_take(&self, profile: &Profile) -> bool {
        let fqdn = profile
            .manifest
            .fqdn
            .clone()
            .unwrap_or_else(|| AddressPlan::for_slot(self.plan.slot).fqdn);
        fqdn == self.plan.fqdn && profile.stage.proxy_hosts == self.profile.stage.proxy_hosts
    }

    /// Applies `profile` to this lab; the roles that were restarted.
    pub async fn reuse(
        &mut self,
        images: &Images,
        profile: Profile,
    ) -> Result<Vec<Role>, LabError> {
        let started = Instant::now();
        if !self.can_take(&profile) {
            return Err(setup(
                "reuse",
                format!(
                    "profile `{}` names another site than this lab",
                    profile.name
                ),
            ));
        }
        let rendered = profile.render(&self.plan)?;
        let before = self.role_specs();
        let images_before: Vec<String> = Role::ALL
            .iter()
            .map(|r| images.role(*r).to_string())
            .collect();
        self.profile = profile;
        self.rendered = rendered;
        self.acme.dir = self.rendered.acme_dir.clone();
        let staging = self.workdir.with_file_name(format!(
            "{}-next",
            self.workdir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        let live = std::mem::replace(&mut self.workdir, staging.clone());
        let written = self.write_files();
        self.workdir = live;
        written.map_err(|e| setup("lab-files", e))?;
        let after = self.role_specs();
        let mut restart = Vec::new();
        for (i, role) in Role::ALL.into_iter().enumerate() {
            let dir = role.name();
            let same = before[i] == after[i]
                && images_before[i] == images.role(role)
                && tree(&self.workdir.join(dir)) == tree(&staging.join(dir));
            if !same {
                restart.push(role);
            }
        }
        if restart.contains(&Role::Bridge) {
            // A new bridge starts with no conference.
            self.conferences
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        } else {
            self.end_conferences()
                .await
                .map_err(|e| setup("reuse", format!("ending the last run's conferences: {e}")))?;
        }
        for role in &restart {
            if let Some(id) = self.containers.remove(role) {
                self.remove_container(&id).await;
            }
            // Its shells belonged to the container just removed.
            while self.shells[role].take().is_some() {}
            replace_contents(&self.workdir.join(role.name()), &staging.join(role.name()))
                .map_err(|e| setup("lab-files", format!("{role}: {e}")))?;
        }
        let _ = std::fs::remove_dir_all(&staging);
        let specs = after
            .into_iter()
            .filter(|s| restart.contains(&s.role))
            .collect();
        self.start_roles(images, specs).await?;
        self.write_late_files().await?;
        self.up_ms = started.elapsed().as_millis();
        Ok(restart)
    }
}

/// A directory's files and their contents, the harness's runtime files left out.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                if !RUNTIME_FILES.iter().any(|f| rel == Path::new(f)) {
                    out.insert(rel.to_path_buf(), std::fs::read(&p).unwrap_or_default());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Empties `dst` (kept itself: a running container may mount it) and copies `src` into it.
fn replace_contents(dst: &Path, src: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dst)?.flatten() {
        let p = e.path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    copy_tree(src, dst)
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(src)?.flatten() {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if from.is_dir() {
            std::fs::create_dir_all(&to)?;
            copy_tree(&from, &to)?;
        } else {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_changes_the_tree_and_the_copy_is_exact() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [a.path(), b.path()] {
            std::fs::create_dir_all(d.join("tls")).unwrap();
            std::fs::write(d.join("tls/x.pem"), "cert").unwrap();
            std::fs::write(d.join("site.conf"), "one").unwrap();
        }
        std::fs::write(a.path().join("wired"), "").unwrap();
        assert_eq!(tree(a.path()), tree(b.path()), "runtime files do not count");
        std::fs::write(b.path().join("site.conf"), "two").unwrap();
        std::fs::create_dir_all(b.path().join("late")).unwrap();
        std::fs::write(b.path().join("late/f"), "late").unwrap();
        assert_ne!(tree(a.path()), tree(b.path()));
        replace_contents(a.path(), b.path()).unwrap();
        assert_eq!(tree(a.path()), tree(b.path()));
        assert!(
            !a.path().join("wired").exists(),
            "a restarted role starts unwired"
        );
    }
}
