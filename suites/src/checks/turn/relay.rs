//! turn/relay/1: a client that can reach only TCP completes ICE, DTLS and the SCTP echo with the
//! bridge through the TURN server over TLS. The client (jc-turn's relay session) has no UDP
//! socket at all: webrtc-rs' `turn` client over a rustls stream allocates a UDP relay, an ICE
//! controlled agent checks the bridge through it, then the browser's DTLS and an SCTP data
//! channel run over the relayed pair.
//!
//! Live, the session is the one a browser with `iceTransportPolicy: "relay"` makes: the `turns`
//! server and credentials from XEP-0215, a bridge endpoint of its own from the focus, and a
//! permission for every UDP candidate the bridge advertises. Only the TURN server is a
//! destination of ours; the bridge's candidates are the relay's peers, reached by the
//! deployment's own TURN server (as they are for its users), so a private host candidate is not
//! refused here.

use super::{credentials, roots, setup, Turn};
use crate::checks::bridge::{allocate_with, named};
use crate::checks::{Ctx, Verdict};
use jc_turn::relay_session::{relay_session, RelaySessionParams, Stage};
use jc_turn::turn_probe::DestinationFilter;
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn turn_relay_1(ctx: &Ctx<'_>) -> Verdict {
    let s = match setup(ctx).await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let turn = SocketAddr::new(s.tls.ip.into(), s.tls_port);
    let expected = format!(
        "a client with no UDP at all allocates over TLS on {turn} and completes ICE, DTLS and an SCTP data-channel echo with the bridge through the relay"
    );
    if !s.has_tls() {
        return Verdict::fail(
            expected,
            if ctx.live().is_some() {
                "the deployment hands out no `turns` server (XEP-0215): a client that only reaches TCP has no relay"
            } else {
                "coturn's config has no `cert` and `pkey`, so it starts no TLS listener: a client that only reaches TCP has no relay"
            },
        );
    }
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
    let udp = |host_only: bool| -> Vec<SocketAddr> {
        transport
            .candidates
            .iter()
            .filter(|c| c.protocol == "udp" && (!host_only || c.typ == "host"))
            .filter_map(|c| Some(SocketAddr::new(c.ip.parse().ok()?, c.port)))
            .collect()
    };
    // In the lab the relay (on the bridge host) reaches the bridge's host candidate; the srflx
    // one would hairpin through the router and is in coturn's denied ranges in Jitsi's
    // template. Live, as a browser does, every UDP candidate gets a permission.
    let candidates = udp(ctx.lab().is_some());
    let fingerprint = transport
        .fingerprints
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case("sha-256"))
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    let mut params = RelaySessionParams::new(
        turn,
        &s.tls.name,
        creds,
        &transport.ufrag,
        &transport.pwd,
        candidates.clone(),
        &fingerprint,
        client,
        filter(ctx, turn, &candidates),
    );
    params.bridge_host_candidates = udp(true);
    params.roots = Some(roots(ctx));
    let f = relay_session(params).await;
    let plan = ctx.plan();
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
                        named(plan, &p.relayed.ip().to_string()),
                        p.relayed.port(),
                        named(plan, &p.peer.ip().to_string()),
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
                Stage::Ice if e.detail.contains("403") => denied_hint(ctx, &s, &candidates),
                Stage::Ice => format!(
                    " (the relay did not reach the bridge at {})",
                    shown(ctx, &candidates)
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

/// Our only destination is the TURN server (through the target's guard, so live it is recorded
/// in `contacted`). The bridge's candidates are permissions on the relay: in the lab they must
/// be on its LAN; live they are exactly the ones the bridge advertised.
fn filter(ctx: &Ctx<'_>, turn: SocketAddr, candidates: &[SocketAddr]) -> DestinationFilter {
    let guard = ctx.guard();
    let peers: Vec<SocketAddr> = match ctx.lab() {
        Some(lab) => {
            let lan = lab.plan.lan;
            candidates
                .iter()
                .copied()
                .filter(|a| matches!(a.ip(), std::net::IpAddr::V4(v4) if lan.contains(&v4)))
                .collect()
        }
        None => candidates.to_vec(),
    };
    Arc::new(move |a: SocketAddr| {
        if a == turn {
            guard.check(a).is_ok()
        } else {
            peers.contains(&a)
        }
    })
}

fn shown(ctx: &Ctx<'_>, candidates: &[SocketAddr]) -> String {
    if candidates.is_empty() {
        return "no UDP candidate".into();
    }
    candidates
        .iter()
        .map(|a| format!("{}:{}", named(ctx.plan(), &a.ip().to_string()), a.port()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// coturn answered 403 to the permission for the bridge.
fn denied_hint(ctx: &Ctx<'_>, s: &Turn, candidates: &[SocketAddr]) -> String {
    match ctx.lab() {
        Some(lab) => format!(
            ": coturn refuses to relay to the bridge ({0}): a denied-peer-ip range covers it and neither `allowed-peer-ip={0}` nor the private part of `external-ip=PUBLIC/{0}` lets it through",
            lab.plan.bridge_ip
        ),
        None => format!(
            ": the TURN server on {}:{} refuses to relay to the bridge ({}): its `denied-peer-ip` ranges cover the bridge's addresses; allow the bridge's own (`allowed-peer-ip`, or the private part of `external-ip`)",
            s.tls.ip,
            s.tls_port,
            shown(ctx, candidates)
        ),
    }
}
