//! proxy/*: what the proxy does with requests for the bridge host: reaching the backend
//! ([`backend`]), websockets ([`websocket`]), authenticating the upstream ([`upstream_tls`]) and
//! telling the backend who asked ([`forwarded`]).

pub mod backend;
pub mod forwarded;
pub mod upstream_tls;
pub mod websocket;

use crate::checks::{Ctx, Finding, Verdict};

/// What a passing signalling verdict (proxy/websocket/1, the BOSH part of proxy/backend/2)
/// rests on when the proxy does not pass the site's Host on: Jitsi's nginx hands `Host` to
/// prosody unchanged (`proxy_set_header Host $http_host;` in jitsi-meet's
/// `doc/debian/jitsi-meet/jitsi-meet.example`), and prosody, with no `http_default_host` in
/// Jitsi's config (`doc/debian/jitsi-meet-prosody/prosody.cfg.lua-jvb.example`), answers 404
/// "Unknown host" for any name that is not one of its VirtualHosts (prosody 0.12
/// `net/http/server.lua`). The lab's prosody sets `http_default_host` so that the rest of the
/// path is judged; the report says so, with the Host the bridge host saw (lab only: live, the
/// site's own prosody answers for itself).
pub async fn host_caveat(ctx: &Ctx<'_>, v: Verdict) -> Verdict {
    if ctx.lab().is_none() || !matches!(v.finding, Finding::Pass) {
        return v;
    }
    let Ok(f) = ctx.http.get("https", "/").await else {
        return v;
    };
    if !ctx.from_backend(&f) {
        return v;
    }
    let seen = f.header("x-jc-seen-host").unwrap_or("").to_string();
    let name = seen.rsplit_once(':').map_or(seen.as_str(), |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            seen.as_str()
        }
    });
    if name.eq_ignore_ascii_case(ctx.fqdn()) {
        return v;
    }
    let shown = crate::checks::bridge::named(ctx.plan(), name);
    Verdict {
        actual: format!(
            "{}. Not reproduced by the lab: the proxy sends Host: {shown}, not {}; a Jitsi machine as its packages set it up passes that Host to prosody, which answers 404 \"Unknown host: {name}\" (its config sets no http_default_host, the lab's does): set `ProxyPreserveHost On` in the proxy's vhost",
            v.actual,
            ctx.fqdn()
        ),
        ..v
    }
}
