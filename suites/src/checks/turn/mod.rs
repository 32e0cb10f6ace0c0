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

/// The TURN server a check probes: the lab's from its files (credentials made from the
/// secret, as prosody makes them), or a live site's from its XEP-0215 answer (with the
/// credentials it handed out).
pub struct Turn {
    pub setup: TurnSetup,
    pub credentials: Result<Credentials, String>,
}

impl std::ops::Deref for Turn {
    type Target = TurnSetup;
    fn deref(&self) -> &TurnSetup {
        &self.setup
    }
}

/// A live site's TURN servers are the ones its XEP-0215 answer names (SPEC section 10): the
/// `turn` (UDP) and `turns` (TLS) entries, probed on the site's public address.
async fn live_turn(ctx: &Ctx<'_>) -> Result<Turn, Verdict> {
    let Some(site) = ctx.live() else {
        return Err(Verdict::error("a live site", "not a live probe"));
    };
    let expected = "the TURN servers the deployment hands out (XEP-0215)";
    let services = site
        .signalling
        .external_services()
        .await
        .map_err(|e| Verdict::error(expected, e))?;
    let turn: Vec<_> = services
        .iter()
        .filter(|s| s.kind == "turn" || s.kind == "turns")
        .collect();
    if turn.is_empty() {
        return Err(Verdict::skip(
            "the deployment hands out no TURN server (XEP-0215)",
        ));
    }
    // The servers are probed where the site is: a TURN host under another name would need a
    // resolution and a destination of its own.
    let public = ctx.public_ip().to_string();
    if let Some(other) = turn
        .iter()
        .find(|s| !s.host.eq_ignore_ascii_case(ctx.fqdn()) && s.host != public)
    {
        return Err(Verdict::error(
            expected,
            format!(
                "TURN host {} is not the site's own name or address: not judged live yet",
                other.host
            ),
        ));
    }
    let udp = turn
        .iter()
        .find(|s| s.kind == "turn" && s.transport.as_deref() != Some("tcp"));
    let tls = turn.iter().find(|s| s.kind == "turns");
    let credentials = turn
        .iter()
        .find_map(|s| Some(Credentials::new(s.username.clone()?, s.password.clone()?)))
        .ok_or_else(|| "the deployment hands out TURN servers without credentials".to_string());
    let handed = "the credentials the deployment hands out (XEP-0215)".to_string();
    Ok(Turn {
        setup: TurnSetup {
            realm: None,
            udp_port: udp.map(|s| s.port).unwrap_or(3478),
            tls_port: tls.map(|s| s.port).unwrap_or(5349),
            // A `turns` entry stands for the TLS listener the lab reads from coturn's config.
            cert: tls.map(|_| "(the deployment's)".to_string()),
            pkey: tls.map(|_| "(the deployment's)".to_string()),
            secret: None,
            secret_source: handed,
            coturn_secret: None,
        },
        credentials,
    })
}

/// The TURN server, or the verdict that says why there is none.
pub async fn setup(ctx: &Ctx<'_>) -> Result<Turn, Verdict> {
    let Some(lab) = ctx.lab() else {
        return live_turn(ctx).await;
    };
    let setup = lab.rendered.turn.clone().ok_or_else(|| {
        Verdict::skip(if lab.profile.is_operator() {
            "no TURN server: no --turn-config was given"
        } else {
            "the profile has no TURN server (no coturn config)"
        })
    })?;
    Ok(Turn {
        credentials: rest(&setup),
        setup,
    })
}

/// Credentials as a Jitsi client gets them over XEP-0215: username the expiry, password
/// base64(HMAC-SHA1(secret, username)).
fn rest(setup: &TurnSetup) -> Result<Credentials, String> {
    let secret = setup
        .secret
        .as_deref()
        .ok_or_else(|| format!("no credentials can be made: {}", setup.secret_source))?;
    let (u, p) = rest_credentials(secret, "", CREDENTIAL_TTL);
    Ok(Credentials::new(u, p))
}

/// The credentials a client of this TURN server gets.
pub fn credentials(turn: &Turn) -> Result<Credentials, String> {
    turn.credentials.clone()
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
        // The lab's root; live, the --ca roots, else the public roots (as a browser).
        Some(Arc::new(match ctx.target {
            crate::target::Target::Lab(lab) => {
                jc_harness::probe::tls::roots_from_pem(&lab.pki.root.cert_pem)
            }
            crate::target::Target::Live(site) => match site.options.ca_pem.as_deref() {
                Some(pem) => jc_harness::probe::tls::roots_from_pem(pem),
                None => rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
            },
        })),
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
