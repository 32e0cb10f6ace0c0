//! http/redirect/* and http/acme/*: the :80 vhost.

use super::{Ctx, Verdict};

fn is_redirect(s: u16) -> bool {
    (300..400).contains(&s)
}

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

pub async fn redirect_1(ctx: &Ctx<'_>) -> Verdict {
    redirect_to(ctx, "/", &ctx.https_url("/"), true).await
}

pub async fn redirect_2(ctx: &Ctx<'_>) -> Verdict {
    redirect_to(
        ctx,
        "/SomeRoom?lang=fr",
        &ctx.https_url("/SomeRoom?lang=fr"),
        false,
    )
    .await
}

pub async fn redirect_3(ctx: &Ctx<'_>) -> Verdict {
    let mut v = redirect_to(ctx, "/a%3Fb", &ctx.https_url("/a%3Fb"), false).await;
    if v.actual.contains("/a?b") {
        v.actual.push_str(": the %3F was decoded, turning part of the path into a query (RedirectMatch's $0 is the decoded path; redirect from THE_REQUEST or with mod_rewrite's NE flag)");
    }
    v
}

pub async fn acme_1(ctx: &Ctx<'_>) -> Verdict {
    let t = &ctx.lab.acme;
    let target = format!("/.well-known/acme-challenge/{}", t.name);
    let expected = format!(
        "GET http://{}{target} answers 200 with the token's exact content (placed in {})",
        ctx.fqdn(),
        t.webroot
    );
    match ctx.http.get("http", &target).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) if f.status == 200 && f.body == t.content.as_bytes() => {
            Verdict::pass(expected, "200 with the token's content")
        }
        Ok(f) if f.status == 200 => Verdict::fail(
            expected,
            format!("200 but a different body ({} bytes)", f.body.len()),
        ),
        Ok(f) if is_redirect(f.status) => Verdict::fail(
            expected,
            format!(
                "{}: the challenge is redirected, so an HTTP-01 validation cannot read it",
                f.summary()
            ),
        ),
        Ok(f) => Verdict::fail(expected, f.summary()),
    }
}

pub async fn acme_2(ctx: &Ctx<'_>) -> Verdict {
    let target = "/.well-known/acme-challenge/jc-no-such-token";
    let expected = format!(
        "GET http://{}{target} answers 404 over plain HTTP",
        ctx.fqdn()
    );
    match ctx.http.get("http", target).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            let mut actual = f.summary();
            if is_redirect(f.status) {
                actual.push_str(": the challenge path is redirected, not served");
            }
            Verdict::judge(f.status == 404, expected, actual)
        }
    }
}

pub async fn acme_3(ctx: &Ctx<'_>) -> Verdict {
    let targets = [
        "/.well-known/acme-challengeX/t",
        "/.well-known/security.txt",
        "/x/.well-known/acme-challenge/t",
    ];
    let expected = format!(
        "{} each answer a 3xx to https://{}/...",
        targets.join(", "),
        ctx.fqdn()
    );
    let mut seen = Vec::new();
    let mut ok = true;
    for t in targets {
        match ctx.http.get("http", t).await {
            Err(e) => {
                ok = false;
                seen.push(format!("{t}: {e}"));
            }
            Ok(f) => {
                let good = is_redirect(f.status)
                    && f.header("location")
                        .is_some_and(|l| l.starts_with(&format!("https://{}/", ctx.fqdn())));
                ok &= good;
                let note = if good {
                    ""
                } else {
                    " (not redirected: the exemption is broader than /.well-known/acme-challenge/)"
                };
                seen.push(format!("{t}: {}{note}", f.summary()));
            }
        }
    }
    Verdict::judge(ok, expected, seen.join("; "))
}

pub async fn acme_4(ctx: &Ctx<'_>) -> Verdict {
    let target = "/.well-known/acme-challenge/";
    let expected = format!(
        "GET http://{}{target} does not list the tokens (403, 404 or a redirect)",
        ctx.fqdn()
    );
    match ctx.http.get("http", target).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            let listed = f.status == 200
                && (f.body_text().contains(&ctx.lab.acme.name)
                    || f.body_text().contains("Index of"));
            let actual = if listed {
                format!("200 with a directory listing that shows the token (Options Indexes is on for {}; add `Options -Indexes` there)", ctx.lab.acme.webroot)
            } else {
                f.summary()
            };
            Verdict::judge(!listed, expected, actual)
        }
    }
}
