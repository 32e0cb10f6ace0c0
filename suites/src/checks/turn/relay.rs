//! turn/relay/1: a client that can reach only TCP completes ICE, DTLS and the SCTP echo with the
//! bridge through the TURN server over TLS. The client (jc-turn's relay session) has no UDP
//! socket at all: webrtc-rs' `turn` client over a rustls stream allocates a UDP relay, an ICE
//! controlled agent checks the bridge through it, then the browser's DTLS and an SCTP data
//! channel run over the relayed pair.

use super::{credentials, setup};
use crate::checks::bridge::{allocate_with, named};
use crate::checks::{Ctx, Verdict};
use jc_turn::relay_session::{relay_session, RelaySessionParams};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn turn_relay_1(ctx: &Ctx<'_>) -> Verdict {
    let (s, lab) = match (setup(ctx).await, ctx.lab()) {
        (Ok(s), Some(lab)) => (s, lab),
        (Err(v), _) => return v,
        // The relay-only session needs the bridge's view of the relay (coturn's external-ip
        // alias), which the lab knows from its files.
        (Ok(s), None) => {
            return Verdict::error(
                "a TURN server",
                format!(
                    "TURN servers {}:{}/udp and {}/tls are not judged live yet for the relay-only session",
                    ctx.public_ip(),
                    s.udp_port,
                    s.tls_port
                ),
            )
        }
    };
    let plan = &lab.plan;
    let expected = format!(
        "a client with no UDP at all allocates over TLS on {}:{} and completes ICE, DTLS and an SCTP data-channel echo with the bridge through the relay",
        plan.public_ip, s.tls_port
    );
    let creds = match credentials(&s) {
        Ok(c) => c,
        Err(e) => return Verdict::fail(expected, e),
    };
    let client = jc_webrtc_client::Credentials::generate();
    let transport =
        match allocate_with(ctx, &client.ufrag, &client.pwd, Some(&client.fingerprint)).await {
            Ok(t) => t,
            Err(e) => return Verdict::error(expected, format!("no endpoint on the bridge: {e}")),
        };
    // The relay (on the bridge host) reaches the bridge's host candidate; the srflx one would
    // hairpin through the router and is in coturn's denied ranges in Jitsi's template.
    let candidates: Vec<SocketAddr> = transport
        .candidates
        .iter()
        .filter(|c| c.protocol == "udp" && c.typ == "host")
        .filter_map(|c| Some(SocketAddr::new(c.ip.parse().ok()?, c.port)))
        .collect();
    let fingerprint = transport
        .fingerprints
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case("sha-256"))
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    // The TURN server on the public network; the bridge's candidates on the lab's LAN (reached
    // only by the relay, as its peers).
    let guard = ctx.guard();
    let lan = plan.lan;
    let filter = Arc::new(move |a: SocketAddr| {
        guard.check(a).is_ok() || matches!(a.ip(), std::net::IpAddr::V4(v4) if lan.contains(&v4))
    });
    let mut params = RelaySessionParams::new(
        SocketAddr::new(plan.public_ip.into(), s.tls_port),
        ctx.fqdn(),
        creds,
        &transport.ufrag,
        &transport.pwd,
        candidates,
        &fingerprint,
        client,
        filter,
    );
    params.roots = Some(Arc::new(jc_harness::probe::tls::roots_from_pem(
        &lab.pki.root.cert_pem,
    )));
    let f = relay_session(params).await;
    let stages = f
        .stages
        .iter()
        .map(|t| format!("{} {} ms", t.stage, t.ms))
        .collect::<Vec<_>>()
        .join(", ");
    match (&f.error, f.echo_matches) {
        (None, Some(true)) => {
            let pair = f
                .selected_pair
                .as_ref()
                .map(|p| {
                    format!(
                        "relayed {}:{} <-> bridge {}:{}",
                        named(Some(plan), &p.relayed.ip().to_string()),
                        p.relayed.port(),
                        named(Some(plan), &p.peer.ip().to_string()),
                        p.peer.port()
                    )
                })
                .unwrap_or_default();
            Verdict::pass(
                expected,
                format!("the echo came back through the relay ({pair}); {stages}"),
            )
        }
        (Some(e), _) => {
            let hint = match e.stage {
                jc_turn::relay_session::Stage::Ice if e.detail.contains("403") => format!(
                    ": coturn refuses to relay to the bridge ({0}): a denied-peer-ip range covers it and neither `allowed-peer-ip={0}` nor the private part of `external-ip=PUBLIC/{0}` lets it through",
                    plan.bridge_ip
                ),
                jc_turn::relay_session::Stage::Ice => format!(
                    " (the relay did not reach the bridge at {}:10000)",
                    plan.bridge_ip
                ),
                _ => String::new(),
            };
            Verdict::fail(
                expected,
                format!("stopped at {}: {}{hint}; {stages}", e.stage, e.detail),
            )
        }
        (None, _) => Verdict::fail(expected, format!("the echo did not come back; {stages}")),
    }
}
