//! proxy/*: what the proxy does with requests for the bridge host.

use super::{Ctx, Verdict};
use jc_harness::probe::ws;
use std::net::SocketAddr;

pub async fn backend_1(ctx: &Ctx<'_>) -> Verdict {
    let expected = format!(
        "GET {} answers 200 with the bridge host's front page (marker {})",
        ctx.https_url("/"),
        ctx.lab.marker
    );
    match ctx.http.get("https", "/").await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f)
            if f.status == 200
                && f.body_text()
                    .contains(&format!("jc-marker:{}", ctx.lab.marker)) =>
        {
            Verdict::pass(expected, "200 with the bridge host's front page")
        }
        Ok(f) => Verdict::fail(expected, explain(ctx, &f)),
    }
}

/// Words for a response that did not come from the backend.
fn explain(ctx: &Ctx<'_>, f: &jc_harness::probe::http::HttpFacts) -> String {
    let body = f.body_text();
    let hint = if body.contains("Proxy Error") || f.status == 502 || f.status == 500 {
        ": the proxy could not talk to the backend over HTTPS (is SSLProxyEngine on, and does it trust the backend's certificate?)"
    } else if !ctx.from_backend(f) {
        ": the answer did not come from the bridge host"
    } else {
        ""
    };
    format!("{}{hint}", f.summary())
}

pub async fn backend_2(ctx: &Ctx<'_>) -> Verdict {
    let expected = "/config.js, /SomeRoom and a BOSH POST to /http-bind reach the backend with method, path and body intact".to_string();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for target in ["/config.js", "/SomeRoom"] {
        match ctx.http.get("https", target).await {
            Err(e) => problems.push(format!("GET {target}: {e}")),
            Ok(f) if !ctx.from_backend(&f) => {
                problems.push(format!("GET {target}: {}", explain(ctx, &f)))
            }
            Ok(f) => {
                let (m, u) = (
                    f.header("x-jc-seen-method").unwrap_or(""),
                    f.header("x-jc-seen-uri").unwrap_or(""),
                );
                if f.status != 200 || m != "GET" || u != target {
                    problems.push(format!(
                        "GET {target}: {} and the backend saw {m} {u}",
                        f.status
                    ));
                } else {
                    seen.push(format!("GET {target} -> backend saw GET {u}"));
                }
            }
        }
    }
    let body =
        b"<body rid='1' xmlns='http://jabber.org/protocol/httpbind' to='meet.lab.test'/>".to_vec();
    match ctx
        .http
        .request("POST", "https", "/http-bind", Some(body.clone()))
        .await
    {
        Err(e) => problems.push(format!("POST /http-bind: {e}")),
        Ok(f) if !ctx.from_backend(&f) => {
            problems.push(format!("POST /http-bind: {}", explain(ctx, &f)))
        }
        Ok(f) => {
            let (m, u) = (
                f.header("x-jc-seen-method").unwrap_or(""),
                f.header("x-jc-seen-uri").unwrap_or(""),
            );
            if f.status != 200 || m != "POST" || u != "/http-bind" || f.body != body {
                problems.push(format!("POST /http-bind: {} and the backend saw {m} {u} with {} of {} body bytes echoed intact", f.status, if f.body == body { "all" } else { "not all" }, body.len()));
            } else {
                seen.push(
                    "POST /http-bind -> backend saw POST /http-bind, body echoed intact".into(),
                );
            }
        }
    }
    if problems.is_empty() {
        Verdict::pass(expected, seen.join("; "))
    } else {
        Verdict::fail(expected, problems.join("; "))
    }
}

pub async fn backend_3(ctx: &Ctx<'_>) -> Verdict {
    let want = ctx.https_url("/static/");
    let expected = format!(
        "the backend's redirect of /static reaches the client as a 3xx with Location: {want}"
    );
    match ctx.http.get("https", "/static").await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            let loc = f.header("location").unwrap_or("");
            let mut actual = f.summary();
            if loc.contains(&ctx.lab.plan.bridge_ip.to_string()) {
                actual.push_str(": the backend's internal address leaks (ProxyPassReverse / https://BRIDGE/ rewrites it)");
            } else if !ctx.from_backend(&f) {
                actual = explain(ctx, &f);
            }
            Verdict::judge(
                (300..400).contains(&f.status) && loc == want,
                expected,
                actual,
            )
        }
    }
}

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

pub async fn websocket_1(ctx: &Ctx<'_>) -> Verdict {
    websocket(ctx, "/xmpp-websocket").await
}

pub async fn websocket_2(ctx: &Ctx<'_>) -> Verdict {
    websocket(ctx, "/colibri-ws/jvb-1/conference-1/endpoint-1").await
}

pub async fn forwarded_1(ctx: &Ctx<'_>) -> Verdict {
    let client = ctx.lab.plan.client_ip.to_string();
    let expected = format!("the backend sees X-Forwarded-For starting with the client's address {client} and X-Forwarded-Host {}", ctx.fqdn());
    match ctx.http.get("https", "/").await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) if !ctx.from_backend(&f) => Verdict::fail(expected, explain(ctx, &f)),
        Ok(f) => {
            let xff = f.header("x-jc-seen-xff").unwrap_or("");
            let xfh = f.header("x-jc-seen-xfh").unwrap_or("");
            let first = xff.split(',').next().unwrap_or("").trim();
            Verdict::judge(
                first == client && xfh == ctx.fqdn(),
                expected,
                format!("X-Forwarded-For: {xff:?}, X-Forwarded-Host: {xfh:?}"),
            )
        }
    }
}

/// Changes the lab: restarts the bridge host's nginx with a certificate from a CA the proxy
/// does not trust, asks through the proxy, and restores the original. Runs alone, last.
pub async fn upstream_tls_1(ctx: &Ctx<'_>) -> Verdict {
    let expected = "with an untrusted backend certificate, the proxy answers an error (Apache: 500/502 Proxy Error) instead of the content".to_string();
    match ctx
        .lab
        .exec("bridge", &["/bin/sh", "/jc/restart-nginx.sh", "untrusted"])
        .await
    {
        Ok((0, _)) => {}
        Ok((code, out)) => {
            return Verdict::error(
                expected,
                format!("could not swap the backend certificate (exit {code}): {out}"),
            )
        }
        Err(e) => return Verdict::error(expected, e.to_string()),
    }
    let got = ctx.http.get("https", "/").await;
    let restored = ctx
        .lab
        .exec("bridge", &["/bin/sh", "/jc/restart-nginx.sh", "original"])
        .await;
    if !matches!(restored, Ok((0, _))) {
        return Verdict::error(
            expected,
            format!("could not restore the backend certificate: {restored:?}"),
        );
    }
    match got {
        Err(e) => Verdict::pass(expected, format!("no content: {e}")),
        Ok(f) if ctx.from_backend(&f) && f.status < 400 => Verdict::fail(
            expected,
            format!("{}: the backend's content came through although its certificate is from an untrusted CA (set SSLProxyVerify require with SSLProxyCACertificateFile, SSLProxyCheckPeerName on)", f.status),
        ),
        Ok(f) => Verdict::pass(expected, f.summary()),
    }
}
