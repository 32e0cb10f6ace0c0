//! proxy/backend/*: requests reach the bridge host's backend over HTTPS, intact, and its
//! redirects stay on the FQDN.

use crate::checks::{Ctx, Verdict};
use jc_harness::probe::http::HttpFacts;
use jc_harness::probe::xmpp;

/// proxy/backend/1
pub async fn proxy_backend_1(ctx: &Ctx<'_>) -> Verdict {
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
pub(super) fn explain(ctx: &Ctx<'_>, f: &HttpFacts) -> String {
    let hint = if is_proxy_error(f) {
        ": the proxy could not talk to the backend over HTTPS (is SSLProxyEngine on, and does it trust the backend's certificate?)"
    } else if !ctx.from_backend(f) {
        ": the answer did not come from the bridge host"
    } else {
        ""
    };
    format!("{}{hint}", f.summary())
}

/// The proxy's own error page: it could not reach (or did not trust) the backend.
fn is_proxy_error(f: &HttpFacts) -> bool {
    f.body_text().contains("Proxy Error") || f.status == 502 || f.status == 500
}

/// proxy/backend/2
pub async fn proxy_backend_2(ctx: &Ctx<'_>) -> Verdict {
    let expected = "/config.js, /SomeRoom and a BOSH POST to /http-bind reach the backend with method, path and body intact (prosody answers the BOSH session request with a session)".to_string();
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
    // The web client's first BOSH request (XEP-0124 section 7.1, XEP-0206 section 6): only a
    // request that reached prosody with method, path and body intact gets a session back; a
    // re-encoded or cut body is refused (`bad-request`) or never completes.
    let fqdn = ctx.fqdn();
    let rid = rand::random_range(1u64..1 << 40);
    let wait = ctx.budgets.http.as_secs().max(1);
    let body = xmpp::bosh_session_request(fqdn, rid, wait).into_bytes();
    match ctx
        .http
        .request("POST", "https", "/http-bind", Some(body))
        .await
    {
        Err(e) => problems.push(format!("POST /http-bind: {e}")),
        Ok(f) => match xmpp::parse_bosh_session(&f.body) {
            Ok(session) if f.status == 200 && session.from.as_deref() == Some(fqdn) => seen.push(
                format!("POST /http-bind (BOSH session request) -> prosody created a session from {fqdn}"),
            ),
            Ok(session) => problems.push(format!(
                "POST /http-bind: {} with a session from {}",
                f.status,
                session.from.as_deref().unwrap_or("no one")
            )),
            Err(_) if ctx.from_backend(&f) => problems.push(format!(
                "POST /http-bind: {} from the bridge host's web app, which saw {} {}: the request never reached prosody",
                f.status,
                f.header("x-jc-seen-method").unwrap_or(""),
                f.header("x-jc-seen-uri").unwrap_or("")
            )),
            Err(_) if is_proxy_error(&f) => {
                problems.push(format!("POST /http-bind: {}", explain(ctx, &f)))
            }
            Err(e) => problems.push(format!(
                "POST /http-bind: {}, and {e}: the BOSH request did not reach prosody intact",
                f.status
            )),
        },
    }
    if problems.is_empty() {
        Verdict::pass(expected, seen.join("; "))
    } else {
        Verdict::fail(expected, problems.join("; "))
    }
}

/// proxy/backend/3
pub async fn proxy_backend_3(ctx: &Ctx<'_>) -> Verdict {
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
