//! Verdicts from probe facts. Each check judges one property and returns what was expected
//! and what was seen, in words an operator can act on.
//!
//! A check's code lives where its id says: `area/topic/n` is the function `area_topic_n` in
//! `checks/area/topic.rs` (`ice/connect/2` is `ice::connect::ice_connect_2`). Pieces several
//! areas share live once: the bridge's endpoint, files and candidate wording in [`bridge`],
//! the ports in `jc_harness::ports`.

pub mod bridge;
pub mod http;
pub mod ice;
pub mod nat;
pub mod proxy;
pub mod tls;
pub mod turn;

use jc_harness::lab::Lab;
use jc_harness::probe::http::HttpProbe;
use std::time::Duration;

/// A check's own finding, before severity turns a failed SHOULD into a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    Pass,
    Fail,
    Skip,
    Error,
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub finding: Finding,
    pub expected: String,
    pub actual: String,
}

impl Verdict {
    pub fn pass(expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Verdict {
            finding: Finding::Pass,
            expected: expected.into(),
            actual: actual.into(),
        }
    }
    pub fn fail(expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Verdict {
            finding: Finding::Fail,
            expected: expected.into(),
            actual: actual.into(),
        }
    }
    pub fn skip(reason: impl Into<String>) -> Self {
        Verdict {
            finding: Finding::Skip,
            expected: String::new(),
            actual: reason.into(),
        }
    }
    pub fn error(expected: impl Into<String>, problem: impl Into<String>) -> Self {
        Verdict {
            finding: Finding::Error,
            expected: expected.into(),
            actual: problem.into(),
        }
    }
    /// Pass when `ok`, else fail; the same words either way.
    pub fn judge(ok: bool, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        if ok {
            Self::pass(expected, actual)
        } else {
            Self::fail(expected, actual)
        }
    }
}

/// Budgets inside the lab (SPEC section 2), scaled by JC_TIME_SCALE.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    pub http: Duration,
    /// One STUN transaction (three sends).
    pub stun: Duration,
    /// A TCP connect to a port that should refuse or stay silent.
    pub port: Duration,
}

impl Budgets {
    pub fn from_env() -> Self {
        let scale: f64 = std::env::var("JC_TIME_SCALE")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| *s > 0.0)
            .unwrap_or(1.0);
        Budgets {
            http: Duration::from_secs_f64(3.0 * scale),
            stun: Duration::from_secs_f64(1.5 * scale),
            port: Duration::from_secs_f64(0.7 * scale),
        }
    }
}

/// What every check gets: the running lab and the internet client's probes.
pub struct Ctx<'a> {
    pub lab: &'a Lab,
    pub http: HttpProbe,
    pub budgets: Budgets,
    /// One endpoint allocated through the bridge's control API, shared by the nat/* and
    /// ice/candidates/* checks (see [`bridge::allocation`]).
    pub allocation: tokio::sync::OnceCell<Result<bridge::Allocation, String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(lab: &'a Lab, budgets: Budgets) -> Result<Self, String> {
        let http = HttpProbe::new(
            &lab.guard(),
            lab.plan.public_ip,
            &lab.plan.fqdn,
            budgets.http,
        )?;
        Ok(Ctx {
            lab,
            http,
            budgets,
            allocation: tokio::sync::OnceCell::new(),
        })
    }

    pub fn fqdn(&self) -> &str {
        &self.lab.plan.fqdn
    }

    pub fn https_url(&self, target: &str) -> String {
        format!("https://{}{target}", self.fqdn())
    }

    /// For the ICE-TCP checks: a skip when the profile has none. Decided by the manifest (or
    /// `--tcp`), never by what the bridge happens to advertise (SPEC section 3).
    pub fn skip_without_ice_tcp(&self) -> Option<Verdict> {
        let p = &self.lab.profile;
        (!p.manifest.ice_tcp).then(|| {
            Verdict::skip(if p.is_operator() {
                "your bridge has no ICE-TCP (its files do not enable it as JVB reads them, or --tcp off)".to_string()
            } else {
                format!(
                    "profile `{}` has no ICE-TCP (manifest ice_tcp = false)",
                    p.name
                )
            })
        })
    }

    /// Did this response come from the bridge host's backend (its per-run marker)?
    pub fn from_backend(&self, facts: &jc_harness::probe::http::HttpFacts) -> bool {
        facts.header("x-jc-marker") == Some(self.lab.marker.as_str())
    }
}
