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
use crate::target::signalling::ExternalService;
use jc_harness::turn::TurnSetup;
use jc_turn::turn_probe::{
    rest_credentials, AllocateFacts, Credentials, DestinationFilter, Target,
};
use std::net::{Ipv4Addr, SocketAddr};
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
    /// Where `turn` (UDP) and `turns` (TLS) are probed: the lab's public address; live, the
    /// hosts the XEP-0215 answer names (the site's own, or a TURN host of their own).
    pub udp: TurnHost,
    pub tls: TurnHost,
}

/// A TURN server's name (the TLS name its certificate must carry) and the address it is
/// probed on.
#[derive(Debug, Clone)]
pub struct TurnHost {
    pub name: String,
    pub ip: Ipv4Addr,
}

impl TurnHost {
    fn of_site(ctx: &Ctx<'_>) -> TurnHost {
        TurnHost {
            name: ctx.fqdn().to_string(),
            ip: ctx.public_ip(),
        }
    }
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
    let udp = turn
        .iter()
        .find(|s| s.kind == "turn" && s.transport.as_deref() != Some("tcp"));
    let tls = turn.iter().find(|s| s.kind == "turns");
    let credentials = turn
        .iter()
        .find_map(|s| Some(Credentials::new(s.username.clone()?, s.password.clone()?)))
        .ok_or_else(|| "the deployment hands out TURN servers without credentials".to_string());
    let handed = "the credentials the deployment hands out (XEP-0215)".to_string();
    let (udp_host, tls_host) = (host(ctx, udp).await, host(ctx, tls).await);
    let (udp_host, tls_host) = match (udp_host, tls_host) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return Err(Verdict::error(expected, e)),
    };
    Ok(Turn {
        udp: udp_host,
        tls: tls_host,
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

/// Where an XEP-0215 entry is probed; the site's own address where there is none.
async fn host(ctx: &Ctx<'_>, s: Option<&&ExternalService>) -> Result<TurnHost, String> {
    match s {
        Some(s) => turn_host(ctx, &s.host).await,
        None => Ok(TurnHost::of_site(ctx)),
    }
}

/// Where a TURN host the site names is probed. The site's own name is its public address (as
/// for media). An IP literal is taken as it is; another name is resolved as the FQDN is
/// (`--resolve` first, the system resolver only outside labs and tests). Either way the
/// destination policy still decides at connect time: a private TURN address is reported in
/// `not_contacted`, never reached.
async fn turn_host(ctx: &Ctx<'_>, host: &str) -> Result<TurnHost, String> {
    if host.eq_ignore_ascii_case(ctx.fqdn()) {
        return Ok(TurnHost::of_site(ctx));
    }
    let ip = match host.parse::<Ipv4Addr>() {
        Ok(ip) => ip,
        Err(_) => {
            let entries = ctx
                .live()
                .map(|s| s.options.resolve.clone())
                .unwrap_or_default();
            jc_harness::probe::resolver::TableResolver::for_probe(&entries)
                .resolve_v4(host)
                .await
                .map_err(|e| format!("TURN host {host} (XEP-0215): {e}"))?
        }
    };
    Ok(TurnHost {
        name: host.to_string(),
        ip,
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
        udp: TurnHost::of_site(ctx),
        tls: TurnHost::of_site(ctx),
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

pub fn udp_target(ctx: &Ctx<'_>, s: &Turn) -> Target {
    Target::udp(
        SocketAddr::new(s.udp.ip.into(), s.udp_port),
        wan_filter(ctx),
    )
}

pub fn tls_target(ctx: &Ctx<'_>, s: &Turn) -> Target {
    Target::tls(
        SocketAddr::new(s.tls.ip.into(), s.tls_port),
        &s.tls.name,
        Some(roots(ctx)),
        wan_filter(ctx),
    )
}

/// The roots a TURN server's chain is verified against: the lab's root; live, the `--ca` roots,
/// else the public roots (as a browser).
pub fn roots(ctx: &Ctx<'_>) -> Arc<rustls::RootCertStore> {
    Arc::new(match ctx.target {
        crate::target::Target::Lab(lab) => {
            jc_harness::probe::tls::roots_from_pem(&lab.pki.root.cert_pem)
        }
        crate::target::Target::Live(site) => match site.options.ca_pem.as_deref() {
            Some(pem) => jc_harness::probe::tls::roots_from_pem(pem),
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        },
    })
}

/// Why an Allocate did not succeed, in the operator's terms.
pub fn allocate_failure(s: &Turn, ip: Ipv4Addr, f: &AllocateFacts, port: &str) -> String {
    if let Some(e) = &f.error {
        let mut why = format!("no allocation: {e}");
        if f.error_codes.is_empty() {
            why.push_str(&format!(
                " (nothing answered on {ip}:{port}: is it forwarded to the TURN server?)"
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
