//! proxy/backend/*: requests reach the bridge host's backend over HTTPS, intact, and its
//! redirects stay on the FQDN.

use crate::checks::{Ctx, Verdict};
use jc_harness::probe::http::HttpFacts;
use jc_harness::probe::xmpp;

/// proxy/backend/1
/// (live: a site has no marker, so any 200 HTML page that loads config.js, as Jitsi's does)
pub async fn proxy_backend_1(ctx: &Ctx<'_>) -> Verdict {
    let Some(lab) = ctx.lab() else {
        return live_front_page(ctx).await;
    };
    let expected = format!(
        "GET {} answers 200 with the bridge host's front page (marker {})",
        ctx.https_url("/"),
        lab.marker
    );
    match ctx.http.get("https", "/").await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f)
            if f.status == 200 && f.body_text().contains(&format!("jc-marker:{}", lab.marker)) =>
        {
            Verdict::pass(expected, "200 with the bridge host's front page")
        }
        Ok(f) => Verdict::fail(expected, explain(ctx, &f)),
    }
}

async fn live_front_page(ctx: &Ctx<'_>) -> Verdict {
    let expected = format!(
        "GET {} answers 200 with Jitsi Meet's page (HTML that loads config.js)",
        ctx.https_url("/")
    );
    match ctx.http.get("https", "/").await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) if f.status == 200 && f.body_text().contains("config.js") => {
            Verdict::pass(expected, "200 with a page that loads config.js")
        }
        Ok(f) => Verdict::fail(expected, explain(ctx, &f)),
    }
}

/// Words for a response that did not come from the backend.
pub(super) fn explain(ctx: &Ctx<'_>, f: &HttpFacts) -> String {
    let hint = if is_proxy_error(f) {
        ": the proxy could not talk to the backend over HTTPS (is SSLProxyEngine on, and does it trust the backend's certificate?)"
    } else if ctx.lab().is_some() && !ctx.from_backend(f) {
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
    if ctx.lab().is_none() {
        return live_backend_2(ctx).await;
    }
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
    with_bosh(ctx, expected, seen, problems).await
}

/// A live site records nothing for us: `/config.js` must be Jitsi's (it sets hosts.domain),
/// `/SomeRoom` the app's page, and a BOSH POST must get a BOSH `<body>` back (prosody's session
/// creation answer carries `sid=`).
async fn live_backend_2(ctx: &Ctx<'_>) -> Verdict {
    let expected = "/config.js (setting hosts.domain), /SomeRoom (200) and a BOSH POST to /http-bind (a session from prosody) reach the backend".to_string();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    match ctx.http.get("https", "/config.js").await {
        Err(e) => problems.push(format!("GET /config.js: {e}")),
        Ok(f) if f.status == 200 && f.body_text().contains("domain") => {
            seen.push("GET /config.js -> 200 with hosts.domain".to_string())
        }
        Ok(f) => problems.push(format!("GET /config.js: {}", explain(ctx, &f))),
    }
    match ctx.http.get("https", "/SomeRoom").await {
        Err(e) => problems.push(format!("GET /SomeRoom: {e}")),
        Ok(f) if f.status == 200 => seen.push("GET /SomeRoom -> 200".to_string()),
        Ok(f) => problems.push(format!("GET /SomeRoom: {}", explain(ctx, &f))),
    }
    with_bosh(ctx, expected, seen, problems).await
}

/// proxy/backend/3
pub async fn proxy_backend_3(ctx: &Ctx<'_>) -> Verdict {
    let Some(lab) = ctx.lab() else {
        return super::super::lab_only("needs a redirect the backend is known to issue (the lab's /static); a live site's are not known");
    };
    let want = ctx.https_url("/static/");
    let expected = format!(
        "the backend's redirect of /static reaches the client as a 3xx with Location: {want}"
    );
    match ctx.http.get("https", "/static").await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            let loc = f.header("location").unwrap_or("");
            let mut actual = f.summary();
            if loc.contains(&lab.plan.bridge_ip.to_string()) {
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

/// Adds the BOSH session request to what the GETs found; the verdict.
async fn with_bosh(
    ctx: &Ctx<'_>,
    expected: String,
    mut seen: Vec<String>,
    mut problems: Vec<String>,
) -> Verdict {
    match bosh_session(ctx).await {
        Ok(saw) => seen.push(saw),
        Err(problem) => problems.push(problem),
    }
    if problems.is_empty() {
        super::host_caveat(ctx, Verdict::pass(expected, seen.join("; "))).await
    } else {
        Verdict::fail(expected, problems.join("; "))
    }
}

/// The web client's first BOSH request (XEP-0124 section 7.1, XEP-0206 section 6): only a
/// request that reached prosody with method, path and body intact gets a session back; a
/// re-encoded or cut body is refused (`bad-request`) or never completes. What was seen, or the
/// problem.
async fn bosh_session(ctx: &Ctx<'_>) -> Result<String, String> {
    let fqdn = ctx.fqdn();
    let rid = rand::random_range(1u64..1 << 40);
    let wait = ctx.budgets.http.as_secs().max(1);
    let body = xmpp::bosh_session_request(fqdn, rid, wait).into_bytes();
    let f = ctx
        .http
        .request("POST", "https", "/http-bind", Some(body))
        .await
        .map_err(|e| format!("POST /http-bind: {e}"))?;
    match xmpp::parse_bosh_session(&f.body) {
        Ok(session) if f.status == 200 && session.from.as_deref() == Some(fqdn) => Ok(format!(
            "POST /http-bind (BOSH session request) -> prosody created a session from {fqdn}"
        )),
        Ok(session) => Err(format!(
            "POST /http-bind: {} with a session from {}",
            f.status,
            session.from.as_deref().unwrap_or("no one")
        )),
        Err(_) if ctx.lab().is_some() && ctx.from_backend(&f) => Err(format!(
            "POST /http-bind: {} from the bridge host's web app, which saw {} {}: the request never reached prosody",
            f.status,
            f.header("x-jc-seen-method").unwrap_or(""),
            f.header("x-jc-seen-uri").unwrap_or("")
        )),
        Err(_) if is_proxy_error(&f) => Err(format!("POST /http-bind: {}", explain(ctx, &f))),
        Err(e) => Err(format!(
            "POST /http-bind: {}, and {e}: the BOSH request did not reach prosody intact",
            f.status
        )),
    }
}
