//! http/redirect/*: everything but the ACME path goes to https, permanently, intact.

use super::is_redirect;
use crate::checks::{Ctx, Verdict};

async fn redirect_to(ctx: &Ctx<'_>, target: &str, want: &str, permanent: bool) -> Verdict {
    let expected = if permanent {
        format!(
            "GET http://{}{target} answers 301 with Location: {want}",
            ctx.fqdn()
        )
    } else {
        format!(
            "GET http://{}{target} answers a 3xx with Location: {want}",
            ctx.fqdn()
        )
    };
    match ctx.http.get("http", target).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            let loc = f.header("location");
            let status_ok = if permanent {
                f.status == 301
            } else {
                is_redirect(f.status)
            };
            let mut actual = f.summary();
            if status_ok && loc != Some(want) {
                if let Some(l) = loc {
                    if l.starts_with(&format!("https://{}/", ctx.fqdn()))
                        && !want.ends_with('/')
                        && l.ends_with('/')
                    {
                        actual.push_str(": the path was dropped");
                    }
                }
            }
            if permanent && is_redirect(f.status) && f.status != 301 {
                actual.push_str(&format!(
                    ": {} is not permanent; browsers and crawlers will keep asking http",
                    f.status
                ));
            }
            Verdict::judge(status_ok && loc == Some(want), expected, actual)
        }
    }
}

/// http/redirect/1
pub async fn http_redirect_1(ctx: &Ctx<'_>) -> Verdict {
    redirect_to(ctx, "/", &ctx.https_url("/"), true).await
}

/// http/redirect/2
pub async fn http_redirect_2(ctx: &Ctx<'_>) -> Verdict {
    redirect_to(
        ctx,
        "/SomeRoom?lang=fr",
        &ctx.https_url("/SomeRoom?lang=fr"),
        false,
    )
    .await
}

/// http/redirect/3
pub async fn http_redirect_3(ctx: &Ctx<'_>) -> Verdict {
    let mut v = redirect_to(ctx, "/a%3Fb", &ctx.https_url("/a%3Fb"), false).await;
    if v.actual.contains("/a?b") {
        v.actual.push_str(": the %3F was decoded, turning part of the path into a query (RedirectMatch's $0 is the decoded path; redirect from THE_REQUEST or with mod_rewrite's NE flag)");
    }
    v
}
