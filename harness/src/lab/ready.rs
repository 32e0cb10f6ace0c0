//! Waiting for a container to say it is up, and turning a container's complaint into the
//! profile file and line that caused it (Apache's configtest, iptables-restore, the bridge's
//! own config reader), so bad input names the operator's file.

use super::{setup, Lab, LabError, READY_TIMEOUT};
use crate::error::ConfigError;
use crate::profile;
use crate::role::Role;
use futures_util::StreamExt;
use std::collections::BTreeMap;

impl Lab {
    /// Follows the container's stdout until `jc-ready` or `jc-failed`, within a deadline.
    pub(super) async fn wait_ready(
        &self,
        role: Role,
        id: &str,
    ) -> Result<BTreeMap<String, String>, LabError> {
        let mut out = Box::pin(self.stdout(id));
        let mut said = Said::default();
        let follow = async {
            // The log stream's chunks need not end at a line's end.
            let mut partial = String::new();
            loop {
                match out.next().await {
                    Some(Ok(chunk)) => {
                        partial.push_str(&String::from_utf8_lossy(&chunk.into_bytes()))
                    }
                    None | Some(Err(_)) => return Err("the container exited".to_string()),
                }
                while let Some(end) = partial.find('\n') {
                    let l = partial[..end].to_string();
                    partial.drain(..=end);
                    if let Some(done) = said.line(&l) {
                        return done;
                    }
                }
            }
        };
        match tokio::time::timeout(READY_TIMEOUT, follow).await {
            Ok(Ok(())) => Ok(said.versions),
            Ok(Err(reason)) => Err(self.explain_failure(role, &reason, &said.seen.join("\n"))),
            Err(_) => Err(setup(
                "lab-timeout",
                format!(
                    "{role} did not report ready within {} s; its output:\n{}",
                    READY_TIMEOUT.as_secs(),
                    said.seen.join("\n")
                ),
            )),
        }
    }

    /// What an entry script run again in its container (`ROLE.sh restart`, see
    /// fixtures/lab/common.sh) printed, judged as [`Lab::wait_ready`] judges a start.
    pub(super) fn judge_restart(
        &self,
        role: Role,
        code: i64,
        output: &str,
    ) -> Result<BTreeMap<String, String>, LabError> {
        let mut said = Said::default();
        let done = output.lines().find_map(|l| said.line(l));
        match done {
            Some(Ok(())) if code == 0 => Ok(said.versions),
            Some(Err(reason)) => Err(self.explain_failure(role, &reason, &said.seen.join("\n"))),
            _ => Err(setup(
                "lab-start",
                format!(
                    "{role}: restarting in its container ended with exit {code}:\n{}",
                    said.seen.join("\n")
                ),
            )),
        }
    }

    /// Maps a container's complaint onto the profile file that caused it.
    fn explain_failure(&self, role: Role, reason: &str, detail: &str) -> LabError {
        let source = |rel: &str| {
            self.profile
                .file(rel)
                .map(|f| f.origin.display().to_string())
                .unwrap_or_else(|| rel.to_string())
        };
        match role {
            Role::Proxy if reason.contains("configtest") => {
                let (line, why) =
                    apache_error_line(detail).unwrap_or((1, detail.trim().to_string()));
                ConfigError {
                    file: source(profile::VHOST),
                    line,
                    reason: format!("Apache rejects it: {why}"),
                }
                .into()
            }
            Role::Router if reason.contains("iptables-restore") => {
                let line = restore_error_line(detail).unwrap_or(1);
                ConfigError {
                    file: source(profile::RULES),
                    line,
                    reason: format!("iptables-restore rejects it: {}", detail.trim()),
                }
                .into()
            }
            Role::Bridge => match bridge_config_error(detail) {
                // The bridge read its own file and named the line: name the operator's file.
                Some((rel, line, why)) => ConfigError {
                    file: source(rel),
                    line,
                    reason: format!("the videobridge rejects it: {why}"),
                }
                .into(),
                None => setup("lab-start", format!("{role}: {reason}\n{detail}")),
            },
            _ => setup("lab-start", format!("{role}: {reason}\n{detail}")),
        }
    }
}

/// An entry script's status lines: `jc-version PKG=VERSION`, then `jc-ready` or
/// `jc-failed: REASON`; anything else is the detail shown when it fails.
#[derive(Default)]
struct Said {
    versions: BTreeMap<String, String>,
    seen: Vec<String>,
}

impl Said {
    /// Takes one line; the end when it is one.
    fn line(&mut self, line: &str) -> Option<Result<(), String>> {
        let l = line.trim_end();
        if l == "jc-ready" {
            return Some(Ok(()));
        }
        if let Some(reason) = l.strip_prefix("jc-failed: ") {
            return Some(Err(reason.to_string()));
        }
        if let Some((k, v)) = l
            .strip_prefix("jc-version ")
            .and_then(|v| v.split_once('='))
        {
            self.versions.insert(k.to_string(), v.to_string());
        }
        self.seen.push(l.to_string());
        None
    }
}

/// "/etc/jitsi/videobridge/jvb.conf:4: reason" in the fake bridge's output, as the profile
/// file it came from, its line and the reason.
pub fn bridge_config_error(output: &str) -> Option<(&'static str, usize, String)> {
    output.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("/etc/jitsi/")?;
        let (file, rest) = rest.split_once(':')?;
        let (line, why) = rest.split_once(':')?;
        let rel = [profile::JVB_PROPERTIES, profile::JVB_CONF]
            .into_iter()
            .find(|r| *r == file)?;
        Some((rel, line.trim().parse().ok()?, why.trim().to_string()))
    })
}

/// Maps Apache's own complaint ("Syntax error on line N of /etc/apache2/sites-enabled/x.conf")
/// back to the operator's file and line.
pub fn apache_error_line(output: &str) -> Option<(usize, String)> {
    let at = output.find("Syntax error on line ")?;
    let rest = &output[at + "Syntax error on line ".len()..];
    let n: usize = rest.split_whitespace().next()?.parse().ok()?;
    let reason = rest.split_once(":\n").map(|(_, r)| r).unwrap_or(rest);
    Some((n, reason.lines().next().unwrap_or("").trim().to_string()))
}

/// Maps `iptables-restore`'s complaint ("line N failed") back to the file's line.
pub fn restore_error_line(output: &str) -> Option<usize> {
    let at = output.find("line ")?;
    output[at + 5..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_complaints_are_mapped() {
        let out = "AH00526: Syntax error on line 7 of /etc/apache2/sites-enabled/jc.conf:\nInvalid command 'Bogus', perhaps misspelled\nAction 'configtest' failed.";
        assert_eq!(
            apache_error_line(out),
            Some((7, "Invalid command 'Bogus', perhaps misspelled".into()))
        );
        assert_eq!(
            restore_error_line("iptables-restore: line 12 failed"),
            Some(12)
        );
        assert_eq!(restore_error_line("nothing"), None);
    }

    #[test]
    fn bridge_errors_name_the_profile_file() {
        let out =
            "starting\n/etc/jitsi/videobridge/jvb.conf:4: expected `=` or `{` after `ice4j`\n";
        assert_eq!(
            bridge_config_error(out),
            Some((
                profile::JVB_CONF,
                4,
                "expected `=` or `{` after `ice4j`".to_string()
            ))
        );
        assert_eq!(bridge_config_error("/etc/jitsi/jicofo/x:1: no"), None);
        assert_eq!(bridge_config_error("nothing"), None);
    }
}
