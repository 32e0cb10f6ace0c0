//! proxy/websocket/*: websocket upgrades through the proxy.

use crate::checks::{Ctx, Verdict};
use jc_harness::probe::ws;
use std::net::SocketAddr;

async fn websocket(ctx: &Ctx<'_>, path: &str) -> Verdict {
    let expected = format!(
        "a WebSocket upgrade at wss://{}{path} completes (101) and a frame round-trips",
        ctx.fqdn()
    );
    let dest = SocketAddr::new(ctx.lab.plan.public_ip.into(), 443);
    let msg = format!("jc-echo {}", ctx.lab.marker);
    match ws::exchange(
        &ctx.lab.guard(),
        dest,
        ctx.fqdn(),
        path,
        &msg,
        ctx.budgets.http,
    )
    .await
    {
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

/// proxy/websocket/1
pub async fn proxy_websocket_1(ctx: &Ctx<'_>) -> Verdict {
    websocket(ctx, "/xmpp-websocket").await
}

/// proxy/websocket/2: only where the bridge serves colibri websockets, as JVB reads its config
/// (SPEC section 10): since 2026 Jitsi's packages do not, and the bridge channel is SCTP.
pub async fn proxy_websocket_2(ctx: &Ctx<'_>) -> Verdict {
    if let Some(why) = ctx.lab.rendered.websockets.why_not() {
        return Verdict::skip(why);
    }
    websocket(ctx, "/colibri-ws/jvb-1/conference-1/endpoint-1").await
}
