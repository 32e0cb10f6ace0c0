//! One live probe (SPEC section 11): resolve the site, read its config.js, open its signalling,
//! run the catalogue against it, close every session (at the end, on error and on Ctrl-C),
//! and report what was contacted. Same report as a lab run, with `"profile": "live"` and
//! `"lab": null`.

use crate::catalogue::Check;
use crate::report::{Contacted, NotContacted, Report, Target, Timings, Tool};
use crate::run::RunError;
use crate::runner;
use crate::target::live::{LiveOptions, LiveSite};
use std::time::{Duration, Instant};

/// How long leaving the room may take before the probe gives up on it.
const CLOSE_BUDGET: Duration = Duration::from_secs(3);

/// Runs `checks` against the live site of `options`. Errors are exit 2 (bad input, an FQDN
/// that does not resolve) or an interruption.
pub async fn run(options: LiveOptions, checks: &[&'static Check]) -> Result<Report, RunError> {
    let budgets = crate::checks::Budgets::from_env();
    let site = LiveSite::open(options, budgets.http)
        .await
        .map_err(|message| RunError {
            kind: "resolve",
            message,
        })?;
    // A site that does not answer on :443 is not probed check by check: one clear error.
    let https = std::net::SocketAddr::new(site.site_ip.into(), jc_harness::ports::HTTPS);
    if let Err(e) = site.guard.connect_tcp(https, budgets.http).await {
        close(&site).await;
        return Err(RunError {
            kind: "unreachable",
            message: format!(
                "https://{} ({https}) cannot be reached: {e}",
                site.options.fqdn
            ),
        });
    }
    let t = Instant::now();
    let results = tokio::select! {
        r = runner::run(crate::target::Target::Live(&site), checks) => r,
        _ = interrupted() => {
            close(&site).await;
            return Err(RunError {
                kind: "interrupted",
                message: "interrupted: left the room and closed every session".into(),
            });
        }
    };
    close(&site).await;
    let checks_ms = t.elapsed().as_millis() as u64;
    Ok(report(&site, results, checks_ms))
}

async fn close(site: &LiveSite) {
    let _ = tokio::time::timeout(CLOSE_BUDGET, site.signalling.close()).await;
}

/// Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn report(site: &LiveSite, results: Vec<crate::report::CheckReport>, checks_ms: u64) -> Report {
    let config_js = match &site.config {
        Ok(c) => {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            // How the probe signed in (as the site's web client would, or as --xmpp said).
            if let (Some(obj), Ok((wire, url))) = (v.as_object_mut(), site.options.xmpp.choose(c)) {
                let wire = match wire {
                    crate::target::signalling::Wire::Bosh => "bosh",
                    _ => "websocket",
                };
                obj.insert(
                    "signed_in_over".into(),
                    serde_json::json!({ "wire": wire, "url": url }),
                );
            }
            v
        }
        Err(e) => serde_json::json!({ "error": e }),
    };
    Report {
        tool: Tool {
            name: "jitsi-conformance".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        profile: "live".into(),
        fault: None,
        target: Target {
            fqdn: site.options.fqdn.clone(),
            public_ip: site.site_ip.to_string(),
        },
        lab: Default::default(),
        config_js: Some(config_js),
        contacted: Some(
            site.destinations
                .contacted()
                .into_iter()
                .map(|c| Contacted {
                    addr: c.addr,
                    port: c.port,
                    proto: c.proto.into(),
                    purpose: c.purpose.into(),
                })
                .collect(),
        ),
        not_contacted: Some(
            site.destinations
                .refused()
                .into_iter()
                .map(|(a, why)| NotContacted {
                    addr: a.ip().to_string(),
                    port: a.port(),
                    why,
                })
                .collect(),
        ),
        kept: None,
        site: None,
        translation: None,
        assumptions: None,
        lint: None,
        summary: Report::summarize(&results),
        checks: results,
        timings: Timings {
            checks_ms,
            ..Default::default()
        },
    }
}
