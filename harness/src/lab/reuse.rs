//! Another profile on a running lab (SPEC section 6: "swap the changed file, restart the
//! affected service"): the new profile's files are written beside the lab's, and each role whose
//! files or environment differ is restarted in the container it has; the others keep running
//! untouched (the bridge's conferences of the last run ended, as a fresh bridge has none). A
//! restart runs the role's entry script again (`ROLE.sh restart`): it stops what the last start
//! ran and undoes what that start changed outside `/jc` (fixtures/lab/common.sh), so what the
//! role runs is what a new container would run. The fault catalogue's snapshots, taken from
//! fresh labs, hold a reused lab to that on every run, and tests/lab_lifecycle.rs compares the
//! containers themselves.

use super::containers::RoleSpec;
use super::{setup, Lab, LabError};
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

    /// What each role's container would be made of under `profile` on this lab (None: the
    /// lab cannot take it), as one number per role: two profiles whose numbers differ for a
    /// role need that role's container started again to switch. For a scheduler of runs over
    /// labs; nothing running is touched (the files are written beside the lab's and removed).
    pub fn fingerprint(&mut self, profile: &Profile) -> Option<Fingerprint> {
        if !self.can_take(profile) {
            return None;
        }
        let rendered = profile.render(&self.plan).ok()?;
        let kept = (
            std::mem::replace(&mut self.profile, profile.clone()),
            std::mem::replace(&mut self.rendered, rendered),
            self.acme.dir.clone(),
        );
        let staged = self.stage();
        let specs = self.role_specs();
        (self.profile, self.rendered, self.acme.dir) = kept;
        let staging = staged.ok()?;
        let roles = Role::ALL.map(|role| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            specs.iter().find(|s| s.role == role).hash(&mut h);
            tree(&staging.join(role.name())).hash(&mut h);
            h.finish()
        });
        let _ = std::fs::remove_dir_all(staging);
        Some(Fingerprint(roles))
    }

    /// Applies `profile` to this lab; the roles that were restarted.
    pub async fn reuse(&mut self, profile: Profile) -> Result<Vec<Role>, LabError> {
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
        self.profile = profile;
        self.rendered = rendered;
        let staging = self.stage()?;
        let after = self.role_specs();
        let restart: Vec<Role> = Role::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, role)| {
                before[*i] != after[*i]
                    || tree(&self.workdir.join(role.name())) != tree(&staging.join(role.name()))
            })
            .map(|(_, role)| role)
            .collect();
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
            replace_contents(&self.workdir.join(role.name()), &staging.join(role.name()))
                .map_err(|e| setup("lab-files", format!("{role}: {e}")))?;
        }
        let _ = std::fs::remove_dir_all(&staging);
        let specs: Vec<RoleSpec> = after
            .into_iter()
            .filter(|s| restart.contains(&s.role))
            .collect();
        let restarted =
            futures_util::future::join_all(specs.iter().map(|s| self.restart_in_place(s))).await;
        for (spec, r) in specs.iter().zip(restarted) {
            self.role_versions.insert(spec.role, r?);
        }
        self.gather_versions();
        self.write_late_files().await?;
        self.up_ms = started.elapsed().as_millis();
        Ok(restart)
    }

    /// With the new profile and rendering in place: its files written beside the lab's, in the
    /// staging directory returned.
    fn stage(&mut self) -> Result<PathBuf, LabError> {
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
        Ok(staging)
    }

    /// Runs the role's entry script again in the container it has (`ROLE.sh restart`, see
    /// fixtures/lab/common.sh), with the new profile's environment: a container's start (the
    /// engine's work, a namespace, a network hook) is most of what a new container costs.
    async fn restart_in_place(
        &self,
        spec: &RoleSpec,
    ) -> Result<std::collections::BTreeMap<String, String>, LabError> {
        let role = spec.role;
        // The script waits for this, as at a first start (its networks are connected).
        std::fs::write(self.workdir.join(role.name()).join("wired"), b"")
            .map_err(|e| setup("lab-files", format!("{role}: {e}")))?;
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        // The daemons it starts keep the file, not the shell's output, open.
        let script = format!(
            "sh /jc/{0}.sh restart >/tmp/jc-restart.log 2>&1; c=$?; cat /tmp/jc-restart.log; exit $c",
            role.name()
        );
        let mut cmd = vec!["env"];
        cmd.extend(env.iter().map(String::as_str));
        cmd.extend(["sh", "-c", &script]);
        let (code, out) = self.exec(role, &cmd).await?;
        self.judge_restart(role, code, &out)
    }
}

/// One number per role (in [`Role::ALL`]'s order) for what its container is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u64; 3]);

impl Fingerprint {
    /// How many containers switching from `self` to `next` starts again.
    pub fn restarts_to(&self, next: &Fingerprint) -> usize {
        self.0.iter().zip(next.0).filter(|(a, b)| **a != *b).count()
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
