//! proxy/websocket/*: websocket upgrades through the proxy.

use crate::checks::{Ctx, Verdict};
use jc_harness::probe::ws;
use std::net::SocketAddr;

/// The RFC 7395 stream opening a client sends first: a live site's server answers with its
/// own `<open/>` (prosody), the lab's stand-in echoes it.
fn xmpp_open(fqdn: &str) -> String {
    format!("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{fqdn}' version='1.0'/>")
}

async fn websocket(ctx: &Ctx<'_>, path: &str) -> Verdict {
    let expected = format!(
        "a WebSocket upgrade at wss://{}{path} completes (101) and a frame round-trips",
        ctx.fqdn()
    );
    let dest = SocketAddr::new(ctx.site_ip().into(), 443);
    let lab = match ctx.lab() {
        Some(lab) => lab,
        None => return live_websocket(ctx, dest, path, expected).await,
    };
    let msg = format!("jc-echo {}", lab.marker);
    match ws::exchange(&ctx.guard(), dest, ctx.fqdn(), path, &msg, ctx.budgets.http).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) if f.status == 101 && f.echo.as_deref() == Some(msg.as_str()) => {
            Verdict::pass(expected, "101, frame echoed")
        }
        Ok(f) => {
            let mut actual = f
                .problem
                .unwrap_or_else(|| format!("{}: the frame did not come back intact", f.status));
            if f.status == 200 {
                actual.push_str(": the backend saw a plain GET, so the proxy dropped the Upgrade header (proxy this path with mod_proxy_wstunnel, e.g. `ProxyPass /xmpp-websocket wss://BRIDGE/xmpp-websocket`, or `upgrade=websocket`)");
            }
            Verdict::fail(expected, actual)
        }
    }
}

/// A live site's websocket: the XMPP one must answer the stream opening with an `<open`
/// frame; a colibri one (which speaks only when spoken to in JSON) must complete the upgrade.
async fn live_websocket(ctx: &Ctx<'_>, dest: SocketAddr, path: &str, expected: String) -> Verdict {
    let xmpp = path.starts_with("/xmpp-websocket");
    let msg = if xmpp {
        xmpp_open(ctx.fqdn())
    } else {
        "{\"colibriClass\":\"EndpointStats\"}".to_string()
    };
    match ws::exchange(&ctx.guard(), dest, ctx.fqdn(), path, &msg, ctx.budgets.http).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) if f.status == 101 && xmpp => match f.echo {
            Some(answer) if answer.contains("<open") => Verdict::pass(
                expected,
                format!(
                    "101 (subprotocol {}), the stream opening answered with <open/>",
                    f.protocol.as_deref().unwrap_or("none")
                ),
            ),
            Some(answer) => Verdict::fail(
                expected,
                format!(
                    "101, but the stream opening was answered with {:?}, not <open/>",
                    answer.chars().take(120).collect::<String>()
                ),
            ),
            None => Verdict::fail(
                expected,
                format!(
                    "101, but no frame came back: {}",
                    f.problem.unwrap_or_default()
                ),
            ),
        },
        Ok(f) if f.status == 101 => Verdict::pass(
            expected,
            "101 (the bridge sends frames only when it has something to say)",
        ),
        Ok(f) => Verdict::fail(
            expected,
            f.problem
                .unwrap_or_else(|| format!("{} instead of 101", f.status)),
        ),
    }
}

/// proxy/websocket/1
pub async fn proxy_websocket_1(ctx: &Ctx<'_>) -> Verdict {
    websocket(ctx, "/xmpp-websocket").await
}

/// proxy/websocket/2: only where the bridge serves colibri websockets, as JVB reads its config
/// (SPEC section 10): since 2026 Jitsi's packages do not, and the bridge channel is SCTP.
/// Live, the URL is the one jicofo signalled for an endpoint of the probe's own.
pub async fn proxy_websocket_2(ctx: &Ctx<'_>) -> Verdict {
    let Some(lab) = ctx.lab() else {
        return live_colibri(ctx).await;
    };
    if let Some(why) = lab.rendered.websockets.why_not() {
        return Verdict::skip(why);
    }
    websocket(ctx, "/colibri-ws/jvb-1/conference-1/endpoint-1").await
}

async fn live_colibri(ctx: &Ctx<'_>) -> Verdict {
    let expected = format!(
        "the colibri websocket jicofo signals (wss://{}/colibri-ws/...) completes its upgrade (101)",
        ctx.fqdn()
    );
    let client = jc_webrtc_client::Credentials::generate();
    let endpoint = match ctx
        .endpoints()
        .open_endpoint(&jc_harness::lab::bridge_api::ClientTransport {
            ufrag: client.ufrag.clone(),
            pwd: client.pwd.clone(),
            fingerprint: Some(format!("sha-256 {}", client.fingerprint)),
        })
        .await
    {
        Ok(e) => e,
        Err(e) => return Verdict::error(expected, e),
    };
    let Some(url) = endpoint.colibri_ws else {
        return Verdict::skip("the bridge signals no colibri websocket: its bridge channel is the SCTP data channel (SPEC section 10)");
    };
    let prefix = format!("wss://{}/", ctx.fqdn());
    match url.strip_prefix(&prefix[..prefix.len() - 1]) {
        Some(path) if path.starts_with('/') => websocket(ctx, path).await,
        _ => Verdict::fail(
            expected,
            format!("jicofo signals {url}, not a URL on {prefix}: clients are sent elsewhere than the proxy"),
        ),
    }
}
