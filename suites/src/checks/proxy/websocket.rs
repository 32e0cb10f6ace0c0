//! proxy/websocket/*: websocket upgrades through the proxy.

use crate::checks::{Ctx, Verdict};
use jc_harness::probe::{ws, xmpp};
use std::net::SocketAddr;

/// prosody's mod_websocket page for a GET that is not an upgrade (`websocket_get_response_text`
/// in prosody 0.12 `plugins/mod_websocket.lua`): what a proxy that drops `Upgrade` gets.
const PROSODY_PLAIN_GET: &str =
    "It works! Now point your WebSocket client to this URL to connect to Prosody.";

/// What goes through the upgraded connection, and what must come back.
enum Exchange {
    /// The web client's first XMPP frame: an RFC 7395 `<open/>` that prosody answers with its
    /// own `<open/>` from the FQDN.
    XmppOpen,
    /// A text frame the lab bridge's colibri websocket echoes.
    Echo,
    /// A live bridge's colibri websocket speaks only when it has something to say: the upgrade
    /// completing is what can be judged.
    Upgrade,
}

async fn websocket(ctx: &Ctx<'_>, path: &str, exchange: Exchange) -> Verdict {
    let fqdn = ctx.fqdn();
    let (expected, msg) = match exchange {
        Exchange::XmppOpen => (
            format!("a WebSocket upgrade at wss://{fqdn}{path} completes (101) and prosody answers the client's RFC 7395 <open/> with a stream <open/> from {fqdn}"),
            xmpp::ws_open(fqdn),
        ),
        Exchange::Echo => (
            format!("a WebSocket upgrade at wss://{fqdn}{path} completes (101) and a frame round-trips"),
            format!("jc-echo {}", ctx.lab().map(|l| l.marker.as_str()).unwrap_or_default()),
        ),
        Exchange::Upgrade => (
            format!("the colibri websocket jicofo signals (wss://{fqdn}{path}) completes its upgrade (101)"),
            "{\"colibriClass\":\"EndpointStats\"}".to_string(),
        ),
    };
    let dest = SocketAddr::new(ctx.site_ip().into(), 443);
    let facts = ws::exchange(&ctx.guard(), dest, fqdn, path, &msg, ctx.budgets.http).await;
    let f = match facts {
        Err(e) => return Verdict::fail(expected, e),
        Ok(f) => f,
    };
    if f.status == 101 && matches!(exchange, Exchange::Upgrade) {
        return Verdict::pass(
            expected,
            "101 (the bridge sends frames only when it has something to say)",
        );
    }
    if f.status == 101 {
        if let Some(reply) = &f.reply {
            match exchange {
                Exchange::XmppOpen => match xmpp::parse_ws_open(reply) {
                    Ok(open) if open.from == fqdn => {
                        return Verdict::pass(
                            expected,
                            format!("101, prosody opened a stream from {}", open.from),
                        )
                    }
                    Ok(open) => {
                        return Verdict::fail(
                            expected,
                            format!("101, but the stream was opened from {}", open.from),
                        )
                    }
                    Err(e) => return Verdict::fail(expected, format!("101, but {e}")),
                },
                Exchange::Echo if *reply == msg => {
                    return Verdict::pass(expected, "101, frame echoed")
                }
                Exchange::Echo | Exchange::Upgrade => {}
            }
        }
    }
    let mut actual = f
        .problem
        .unwrap_or_else(|| format!("{}: the frame did not come back intact", f.status));
    if f.status == 200 {
        if f.body
            .as_deref()
            .is_some_and(|b| b.contains(PROSODY_PLAIN_GET))
        {
            actual = format!(
                "the upgrade was answered 200 OK instead of 101, with prosody's page for a plain GET (\"{PROSODY_PLAIN_GET}\")"
            );
        }
        actual.push_str(&format!(
            ": the backend saw a plain GET, so {DROPPED_UPGRADE}"
        ));
    } else if f.status != 101 && matches!(exchange, Exchange::XmppOpen) {
        // prosody upgrades on `Sec-WebSocket-Key` alone (mod_websocket.lua), so a handshake
        // whose Upgrade header the proxy dropped gets a 101 from prosody that nginx, which saw
        // no Upgrade, never passes on: the client waits. A plain GET tells that apart from a
        // backend that is not there.
        if let Ok(plain) = ctx.http.get("https", path).await {
            if plain.status == 200 && plain.body_text().contains(PROSODY_PLAIN_GET) {
                actual.push_str(&format!(
                    ", while a plain GET of {path} gets prosody's 200 page (\"{PROSODY_PLAIN_GET}\"): the backend answers but the handshake never completes, as when {DROPPED_UPGRADE}"
                ));
            }
        }
    }
    Verdict::fail(expected, actual)
}

/// The usual cause of a websocket that reaches the backend as a plain request, and its fix.
const DROPPED_UPGRADE: &str = "the proxy dropped the Upgrade header (proxy this path with mod_proxy_wstunnel, e.g. `ProxyPass /xmpp-websocket wss://BRIDGE/xmpp-websocket`, or `upgrade=websocket`)";

/// proxy/websocket/1
pub async fn proxy_websocket_1(ctx: &Ctx<'_>) -> Verdict {
    let v = websocket(ctx, "/xmpp-websocket", Exchange::XmppOpen).await;
    super::host_caveat(ctx, v).await
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
    websocket(
        ctx,
        "/colibri-ws/jvb-1/conference-1/endpoint-1",
        Exchange::Echo,
    )
    .await
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
    match crate::target::path_on_site(&url, "wss", ctx.fqdn()) {
        Some(path) => websocket(ctx, &path, Exchange::Upgrade).await,
        _ => Verdict::fail(
            expected,
            format!("jicofo signals {url}, not a URL on {prefix}: clients are sent elsewhere than the proxy"),
        ),
    }
}
