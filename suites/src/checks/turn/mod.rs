//! turn/*: the TURN server Jitsi hands clients without UDP (SPEC section 10), probed from the
//! internet side on the public address with REST-API credentials made as prosody's
//! `mod_external_services` makes them. Every check skips, saying why, where the target has no
//! TURN server; that is decided by its files, never by probing port 3478.

pub mod auth;
pub mod peers;
pub mod relay;
pub mod tls;
pub mod udp;

use crate::checks::{Ctx, Verdict};
use jc_harness::turn::TurnSetup;
use jc_turn::turn_probe::{
    rest_credentials, AllocateFacts, Credentials, DestinationFilter, Target,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The lifetime prosody gives TURN credentials in Jitsi's config (`ttl = 86400`).
const CREDENTIAL_TTL: Duration = Duration::from_secs(86400);

/// A live site's TURN servers are the ones its XEP-0215 answer names (SPEC section 10): the
/// verdict when there is none, or none can be learned. Judging the servers it names is the
/// coordinator's part once signalling is wired (they come with their own credentials).
async fn live_turn(ctx: &Ctx<'_>) -> Verdict {
    let Some(site) = ctx.live() else {
        return Verdict::error("a live site", "not a live probe");
    };
    let expected = "the TURN servers the deployment hands out (XEP-0215)";
    match site.signalling.external_services().await {
        Err(e) => Verdict::error(expected, e),
        Ok(services) => {
            let turn: Vec<String> = services
                .iter()
                .filter(|s| s.kind.starts_with("turn"))
                .map(|s| format!("{}:{}:{}", s.kind, s.host, s.port))
                .collect();
            if turn.is_empty() {
                Verdict::skip("the deployment hands out no TURN server (XEP-0215)")
            } else {
                Verdict::error(
                    expected,
                    format!("TURN servers {} are not judged live yet", turn.join(", ")),
                )
            }
        }
    }
}

/// The TURN setup, or the verdict that says why there is none (live: see [`live_turn`]).
pub async fn setup<'a>(ctx: &'a Ctx<'_>) -> Result<&'a TurnSetup, Verdict> {
    let Some(lab) = ctx.lab() else {
        return Err(live_turn(ctx).await);
    };
    lab.rendered.turn.as_ref().ok_or_else(|| {
        Verdict::skip(if lab.profile.is_operator() {
            "no TURN server: no --turn-config was given"
        } else {
            "the profile has no TURN server (no coturn config)"
        })
    })
}

/// Credentials as a Jitsi client gets them over XEP-0215: username the expiry, password
/// base64(HMAC-SHA1(secret, username)).
pub fn credentials(setup: &TurnSetup) -> Result<Credentials, String> {
    let secret = setup
        .secret
        .as_deref()
        .ok_or_else(|| format!("no credentials can be made: {}", setup.secret_source))?;
    let (u, p) = rest_credentials(secret, "", CREDENTIAL_TTL);
    Ok(Credentials::new(u, p))
}

/// Only the lab's public network (the TURN server's public address).
pub fn wan_filter(ctx: &Ctx<'_>) -> DestinationFilter {
    let guard = ctx.guard();
    Arc::new(move |a: SocketAddr| guard.check(a).is_ok())
}

pub fn udp_target(ctx: &Ctx<'_>, s: &TurnSetup) -> Target {
    Target::udp(
        SocketAddr::new(ctx.public_ip().into(), s.udp_port),
        wan_filter(ctx),
    )
}

pub fn tls_target(ctx: &Ctx<'_>, s: &TurnSetup) -> Target {
    Target::tls(
        SocketAddr::new(ctx.public_ip().into(), s.tls_port),
        ctx.fqdn(),
        ctx.lab().map(|lab| {
            Arc::new(jc_harness::probe::tls::roots_from_pem(
                &lab.pki.root.cert_pem,
            ))
        }),
        wan_filter(ctx),
    )
}

/// Why an Allocate did not succeed, in the operator's terms.
pub fn allocate_failure(ctx: &Ctx<'_>, s: &TurnSetup, f: &AllocateFacts, port: &str) -> String {
    if let Some(e) = &f.error {
        let mut why = format!("no allocation: {e}");
        if f.error_codes.is_empty() {
            why.push_str(&format!(
                " (nothing answered on {}:{port}: is it forwarded to the TURN server?)",
                ctx.public_ip()
            ));
        }
        return why;
    }
    match f.final_code() {
        Some(401) if f.error_codes.len() > 1 => format!(
            "the authenticated Allocate was refused with 401 ({}): coturn does not accept the credentials clients get, so its static-auth-secret differs from the secret they are made with ({})",
            f.error_reasons.last().cloned().unwrap_or_default(),
            s.secret_source
        ),
        Some(code) => format!(
            "the Allocate was refused with {code} ({})",
            f.error_reasons.last().cloned().unwrap_or_default()
        ),
        None => "no allocation".into(),
    }
}
