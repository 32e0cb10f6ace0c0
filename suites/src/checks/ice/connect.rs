//! ice/connect/*: sessions from the internet side, through the NAT. The client gathers only its
//! wan address, sends only where the lab's guard allows, and never tells the bridge its
//! candidates, so only inbound reachability of PUBLIC:10000 can make a session work.

use crate::checks::bridge::allocate_with;
use crate::checks::{Ctx, Verdict};
use jc_harness::ports::MEDIA_UDP;
use jc_videobridge::candidates::ParsedTransport;
use jc_webrtc_client::{
    default_budget, ice_connect, webrtc_session, CandidateFact, ClientParams, Credentials, IceFacts,
};
use std::sync::Arc;

async fn params(ctx: &Ctx<'_>) -> Result<ClientParams, String> {
    let credentials = Credentials::generate();
    let transport = allocate_with(
        ctx,
        &credentials.ufrag,
        &credentials.pwd,
        Some(&credentials.fingerprint),
    )
    .await?;
    let guard = ctx.guard();
    let client_ip = guard
        .gather_ip(std::net::SocketAddr::new(ctx.public_ip().into(), MEDIA_UDP))
        .map_err(|e| format!("no local address towards {}: {e}", ctx.public_ip()))?;
    Ok(ClientParams {
        client_ip: client_ip.into(),
        allow: Arc::new(move |a| guard.check(a).is_ok()),
        credentials,
        transport,
        budget: default_budget(),
    })
}

fn is_public_srflx(ctx: &Ctx<'_>, c: &CandidateFact) -> bool {
    c.typ == "srflx" && c.ip == ctx.public_ip().to_string() && c.port == MEDIA_UDP
}

fn describe(c: &CandidateFact) -> String {
    format!("{} {} {}:{}", c.typ, c.protocol, c.ip, c.port)
}

/// Why no session came up, in terms of what the bridge advertised.
fn diagnose(ctx: &Ctx<'_>, transport: &ParsedTransport, facts: &IceFacts) -> String {
    let public = ctx.public_ip().to_string();
    let udp_srflx: Vec<String> = transport
        .candidates
        .iter()
        .filter(|c| c.typ == "srflx" && c.protocol == "udp")
        .map(|c| format!("{}:{}", c.ip, c.port))
        .collect();
    let skipped: Vec<String> = facts
        .remote_skipped
        .iter()
        .map(|s| format!("{} ({})", describe(&s.candidate), s.reason))
        .collect();
    let mut why = match facts.error.as_deref() {
        Some(e) => format!("no pair came up within {} ms: {e}", facts.elapsed_ms),
        None => format!("no pair came up within {} ms", facts.elapsed_ms),
    };
    if udp_srflx.is_empty() {
        why.push_str(": the bridge advertises no UDP srflx candidate, so an internet client has no address it can reach (see ice/candidates/2)");
    } else if !udp_srflx
        .iter()
        .any(|a| a == &format!("{public}:{MEDIA_UDP}"))
    {
        why.push_str(&format!(
            ": the bridge advertises srflx {} but the public address is {public}:{MEDIA_UDP}",
            udp_srflx.join(", ")
        ));
    } else {
        why.push_str(&format!(
            ": checks to {public}:{MEDIA_UDP} went unanswered or were answered from another address (is udp/10000 forwarded to the bridge, and do its replies go back through the router?)"
        ));
    }
    if !skipped.is_empty() {
        why.push_str(&format!(
            "; advertised but not contacted (outside the public network): {}",
            skipped.join(", ")
        ));
    }
    why
}

/// ice/connect/1
pub async fn ice_connect_1(ctx: &Ctx<'_>) -> Verdict {
    let public = ctx.public_ip();
    let expected = format!(
        "an ICE agent on the internet side completes connectivity checks and selects the advertised srflx {public}:{MEDIA_UDP} as the remote candidate"
    );
    let p = match params(ctx).await {
        Ok(p) => p,
        Err(e) => return Verdict::error(expected, e),
    };
    let transport = p.transport.clone();
    let facts = ice_connect(p).await;
    match (&facts.selected_remote, facts.connected) {
        (Some(r), true) if is_public_srflx(ctx, r) => Verdict::pass(
            expected,
            format!(
                "connected in {} ms over remote {}",
                facts.elapsed_ms,
                describe(r)
            ),
        ),
        (Some(r), true) => Verdict::fail(
            expected,
            format!(
                "connected, but over remote {}: not the advertised public srflx",
                describe(r)
            ),
        ),
        _ => Verdict::fail(expected, diagnose(ctx, &transport, &facts)),
    }
}

/// ice/connect/2
pub async fn ice_connect_2(ctx: &Ctx<'_>) -> Verdict {
    let public = ctx.public_ip();
    let expected = format!(
        "a WebRTC session (ICE, DTLS, SCTP data channel) through the NAT over remote {public}:{MEDIA_UDP}, and a message round-trips"
    );
    let p = match params(ctx).await {
        Ok(p) => p,
        Err(e) => return Verdict::error(expected, e),
    };
    let transport = p.transport.clone();
    let s = webrtc_session(p).await;
    let stages = s
        .stage_ms
        .iter()
        .map(|(k, v)| format!("{k} {v} ms"))
        .collect::<Vec<_>>()
        .join(", ");
    let over_public = s
        .selected_remote
        .as_ref()
        .is_some_and(|r| is_public_srflx(ctx, r));
    if s.echo && over_public {
        // Where the bridge serves no colibri websockets (Jitsi since 2026), this SCTP data
        // channel is also the bridge channel (SPEC section 10).
        let channel = if ctx
            .lab()
            .is_some_and(|lab| lab.rendered.websockets.why_not().is_some())
        {
            "the data channel, which is the bridge channel here (the bridge serves no colibri websockets)"
        } else {
            "the data channel"
        };
        return Verdict::pass(
            expected,
            format!("message echoed over {channel} ({stages})"),
        );
    }
    let actual = if !s.ice.connected {
        diagnose(ctx, &transport, &s.ice)
    } else if !over_public {
        format!(
            "the session ran over remote {}, not the public srflx",
            s.selected_remote.as_ref().map(describe).unwrap_or_default()
        )
    } else {
        let stage = if !s.dtls {
            "DTLS"
        } else if !s.sctp {
            "SCTP"
        } else if !s.channel_open {
            "the data channel"
        } else {
            "the echo"
        };
        format!(
            "ICE connected but {stage} did not complete ({stages}): {}",
            s.first_error.unwrap_or_default()
        )
    };
    Verdict::fail(expected, actual)
}
