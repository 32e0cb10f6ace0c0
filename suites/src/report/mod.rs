//! The report model (SPEC section 4) and its renderers, pure functions of a [`Report`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Must,
    Should,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
    Error,
}

/// One check's outcome, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub id: String,
    pub severity: Severity,
    pub status: Status,
    pub title: String,
    pub requirement: String,
    pub expected: String,
    pub actual: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub fqdn: String,
    pub public_ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
    pub error: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub images_ms: u64,
    pub lab_up_ms: u64,
    pub checks_ms: u64,
    pub teardown_ms: u64,
    /// The detached process removing the lab after the run answered (`teardown_ms` is then
    /// the hand-off's own time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaper_pid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub tool: Tool,
    pub profile: String,
    pub fault: Option<String>,
    pub target: Target,
    /// What the lab ran: package versions (apache2, nginx, iptables), keyed by package. A live
    /// probe has no lab: empty here, `null` in JSON.
    #[serde(serialize_with = "lab_or_null", deserialize_with = "null_or_lab")]
    pub lab: BTreeMap<String, String>,
    /// A live probe: what `/config.js` says (or why it could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_js: Option<serde_json::Value>,
    /// A live probe: every destination it sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacted: Option<Vec<Contacted>>,
    /// A live probe: destinations it was given or shown and did not contact, with why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_contacted: Option<Vec<NotContacted>>,
    /// `lab --keep`: what `probe` needs to check the kept lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<jc_harness::lab::Kept>,
    /// A pre-change run's roles, each declared or inferred with the lines naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<serde_json::Value>,
    /// Every line the lab runs differently from the operator's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation: Option<Vec<jc_harness::site::Translated>>,
    /// What the lab stands in for, and the checks resting on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumptions: Option<Vec<jc_harness::site::Assumption>>,
    /// Cross-file findings, before the lab ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lint: Option<Vec<jc_harness::site::lint::Finding>>,
    pub checks: Vec<CheckReport>,
    pub summary: Summary,
    pub timings: Timings,
}

/// One destination a live probe sent to (`"contacted"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contacted {
    pub addr: String,
    pub port: u16,
    pub proto: String,
    pub purpose: String,
}

/// One destination a live probe refused (private space, the prober's own subnets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotContacted {
    pub addr: String,
    pub port: u16,
    pub why: String,
}

fn lab_or_null<S: serde::Serializer>(
    lab: &BTreeMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    if lab.is_empty() {
        s.serialize_none()
    } else {
        lab.serialize(s)
    }
}

fn null_or_lab<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

impl Report {
    /// A live probe's destinations as short lines, for the text and Markdown renderers.
    pub fn destination_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .contacted
            .iter()
            .flatten()
            .map(|c| {
                format!(
                    "contacted {}:{}/{} ({})",
                    c.addr, c.port, c.proto, c.purpose
                )
            })
            .collect();
        out.extend(
            self.not_contacted
                .iter()
                .flatten()
                .map(|n| format!("not contacted {}:{}: {}", n.addr, n.port, n.why)),
        );
        out
    }

    pub fn summarize(checks: &[CheckReport]) -> Summary {
        let mut s = Summary {
            total: checks.len(),
            ..Default::default()
        };
        for c in checks {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Skip => s.skip += 1,
                Status::Error => s.error += 1,
            }
        }
        s
    }

    /// MUST checks that failed or errored: these fail the run (exit 1).
    pub fn must_failures(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| {
                c.severity == Severity::Must && matches!(c.status, Status::Fail | Status::Error)
            })
            .map(|c| c.id.as_str())
            .collect()
    }

    pub fn exit_code(&self) -> i32 {
        if self.must_failures().is_empty() {
            0
        } else {
            1
        }
    }
}

impl Report {
    /// A pre-change run's sections as short lines: lint first (findings before the lab's
    /// verdicts), then the site, what the lab runs differently, what it assumes. Shared by the
    /// text and Markdown renderers.
    pub fn pre_change_lines(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut out = Vec::new();
        if let Some(lint) = &self.lint {
            out.push((
                "lint",
                if lint.is_empty() {
                    vec!["no findings".to_string()]
                } else {
                    lint.iter()
                        .map(|f| format!("{}:{}: {}: {}", f.file, f.line, f.rule, f.message))
                        .collect()
                },
            ));
        }
        if let Some(site) = self.site.as_ref().and_then(|s| s.as_object()) {
            let lines = site
                .iter()
                .map(|(role, v)| {
                    let Some(value) = v["value"].as_str() else {
                        return format!("{role}: named by no line and not declared");
                    };
                    let how = if v["declared"] == true {
                        "declared".to_string()
                    } else {
                        let n = v["sources"].as_array().map_or(0, |s| s.len());
                        format!("from {n} line{}", if n == 1 { "" } else { "s" })
                    };
                    format!("{role}: {value} ({how})")
                })
                .collect();
            out.push(("site", lines));
        }
        if let Some(t) = &self.translation {
            out.push((
                "translation",
                t.iter()
                    .map(|l| {
                        format!(
                            "{}:{}: {}  ->  {}",
                            l.file,
                            l.line,
                            l.from.trim(),
                            l.to.trim()
                        )
                    })
                    .collect(),
            ));
        }
        if let Some(a) = &self.assumptions {
            out.push((
                "assumptions",
                a.iter()
                    .map(|a| {
                        if a.checks.is_empty() {
                            format!("{}: {}", a.id, a.text)
                        } else {
                            format!("{}: {} (checks: {})", a.id, a.text, a.checks.join(", "))
                        }
                    })
                    .collect(),
            ));
        }
        out
    }
}

pub mod json;
pub mod junit;
pub mod markdown;
pub mod redact;
pub mod text;
