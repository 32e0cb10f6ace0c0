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

/// The TURN setup, or the skip that says why there is none.
pub fn setup<'a>(ctx: &'a Ctx<'_>) -> Result<&'a TurnSetup, Verdict> {
    ctx.lab.rendered.turn.as_ref().ok_or_else(|| {
        Verdict::skip(if ctx.lab.profile.is_operator() {
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
    let guard = ctx.lab.guard();
    Arc::new(move |a: SocketAddr| guard.check(a).is_ok())
}

pub fn udp_target(ctx: &Ctx<'_>, s: &TurnSetup) -> Target {
    Target::udp(
        SocketAddr::new(ctx.lab.plan.public_ip.into(), s.udp_port),
        wan_filter(ctx),
    )
}

pub fn tls_target(ctx: &Ctx<'_>, s: &TurnSetup) -> Target {
    Target::tls(
        SocketAddr::new(ctx.lab.plan.public_ip.into(), s.tls_port),
        ctx.fqdn(),
        Some(Arc::new(jc_harness::probe::tls::roots_from_pem(
            &ctx.lab.pki.root.cert_pem,
        ))),
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
                ctx.lab.plan.public_ip
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
