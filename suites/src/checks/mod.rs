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

use crate::target::{EndpointSource, LiveSite, Target};
use jc_harness::lab::Lab;
use jc_harness::net::{AddressPlan, Guard};
use jc_harness::probe::http::HttpProbe;
use std::net::Ipv4Addr;
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

/// What every check gets: its target (a lab or a live site) and the internet client's probes.
pub struct Ctx<'a> {
    pub target: Target<'a>,
    pub http: HttpProbe,
    pub budgets: Budgets,
    /// One endpoint, shared by the nat/* and ice/candidates/* checks (see
    /// [`bridge::allocation`]).
    pub allocation: tokio::sync::OnceCell<Result<bridge::Allocation, String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(target: Target<'a>, budgets: Budgets) -> Result<Self, String> {
        let http = match target {
            Target::Lab(lab) => HttpProbe::new(
                &lab.guard(),
                lab.plan.public_ip,
                &lab.plan.fqdn,
                budgets.http,
            )?,
            Target::Live(site) => {
                HttpProbe::new(&site.guard, site.site_ip, &site.options.fqdn, budgets.http)?
            }
        };
        Ok(Ctx {
            target,
            http,
            budgets,
            allocation: tokio::sync::OnceCell::new(),
        })
    }

    /// The lab, when the target is one.
    pub fn lab(&self) -> Option<&'a Lab> {
        match self.target {
            Target::Lab(lab) => Some(lab),
            Target::Live(_) => None,
        }
    }

    /// The live site, when the target is one.
    pub fn live(&self) -> Option<&'a LiveSite> {
        match self.target {
            Target::Live(site) => Some(site),
            Target::Lab(_) => None,
        }
    }

    /// The lab's addresses by role (reports name them); a live site has none.
    pub fn plan(&self) -> Option<&'a AddressPlan> {
        self.lab().map(|l| &l.plan)
    }

    pub fn fqdn(&self) -> &str {
        match self.target {
            Target::Lab(lab) => &lab.plan.fqdn,
            Target::Live(site) => &site.options.fqdn,
        }
    }

    /// The site's address: where HTTP, TLS and the port scan go.
    pub fn site_ip(&self) -> Ipv4Addr {
        match self.target {
            Target::Lab(lab) => lab.plan.public_ip,
            Target::Live(site) => site.site_ip,
        }
    }

    /// The public address the bridge should advertise and media goes to (the lab's public
    /// address; live, `--expect-public-ip` else the FQDN's address).
    pub fn public_ip(&self) -> Ipv4Addr {
        match self.target {
            Target::Lab(lab) => lab.plan.public_ip,
            Target::Live(site) => site.media_ip(),
        }
    }

    /// The bridge's own address, when known (live: only with `--expect-bridge-ip`).
    pub fn bridge_ip(&self) -> Option<Ipv4Addr> {
        match self.target {
            Target::Lab(lab) => Some(lab.plan.bridge_ip),
            Target::Live(site) => site.options.expect_bridge_ip,
        }
    }

    /// The guard every send asks first.
    pub fn guard(&self) -> Guard {
        match self.target {
            Target::Lab(lab) => lab.guard(),
            Target::Live(site) => site.guard.clone(),
        }
    }

    /// Where bridge endpoints come from.
    pub fn endpoints(&self) -> &'a dyn EndpointSource {
        match self.target {
            Target::Lab(lab) => lab,
            Target::Live(site) => site.signalling.as_ref(),
        }
    }

    pub fn https_url(&self, target: &str) -> String {
        format!("https://{}{target}", self.fqdn())
    }

    /// For the ICE-TCP checks: a skip when the target has none. Decided by the manifest (or
    /// `--tcp`), never by what the bridge happens to advertise (SPEC section 3).
    pub fn skip_without_ice_tcp(&self) -> Option<Verdict> {
        let p = match self.target {
            Target::Lab(lab) => &lab.profile,
            Target::Live(site) => {
                return (!site.options.ice_tcp)
                    .then(|| Verdict::skip("ICE-TCP is judged only with --tcp on (default off)"))
            }
        };
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

    /// Did this response come from the bridge host's backend (its per-run marker)? Live, no
    /// marker exists: the answer is always no.
    pub fn from_backend(&self, facts: &jc_harness::probe::http::HttpFacts) -> bool {
        self.lab()
            .is_some_and(|lab| facts.header("x-jc-marker") == Some(lab.marker.as_str()))
    }
}

/// The skip of a check that needs the lab's insides, in a live probe.
pub fn lab_only(why: &str) -> Verdict {
    Verdict::skip(format!("live probe: {why}"))
}
