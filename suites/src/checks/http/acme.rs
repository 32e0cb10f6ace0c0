//! http/acme/*: the ACME HTTP-01 exemption is served over plain HTTP, exactly.

use super::is_redirect;
use crate::checks::{Ctx, Verdict};

/// The webroot when the token lies under one (DocumentRoot), else the Alias'd directory.
fn webroot(dir: &str) -> &str {
    dir.strip_suffix("/.well-known/acme-challenge")
        .unwrap_or(dir)
}

/// http/acme/1
pub async fn http_acme_1(ctx: &Ctx<'_>) -> Verdict {
    let Some(lab) = ctx.lab() else {
        return crate::checks::lab_only(
            "needs a token the probe cannot place (the site's ACME webroot is not reachable from outside)",
        );
    };
    let t = &lab.acme;
    let target = format!("/.well-known/acme-challenge/{}", t.name);
    let expected = format!(
        "GET http://{}{target} answers 200 with the token's exact content (placed in {})",
        ctx.fqdn(),
        webroot(&t.dir)
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

/// http/acme/2
pub async fn http_acme_2(ctx: &Ctx<'_>) -> Verdict {
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

/// http/acme/3
pub async fn http_acme_3(ctx: &Ctx<'_>) -> Verdict {
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

/// http/acme/4
pub async fn http_acme_4(ctx: &Ctx<'_>) -> Verdict {
    let target = "/.well-known/acme-challenge/";
    let expected = format!(
        "GET http://{}{target} does not list the tokens (403, 404 or a redirect)",
        ctx.fqdn()
    );
    match ctx.http.get("http", target).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            // Live, no token of ours lies there: a listing is recognised by its title alone.
            let token = ctx.lab().map(|lab| &lab.acme);
            let listed = f.status == 200
                && (token.is_some_and(|t| f.body_text().contains(&t.name))
                    || f.body_text().contains("Index of"));
            let actual = if listed {
                match token {
                    Some(t) => format!("200 with a directory listing that shows the token (Options Indexes is on for {}; add `Options -Indexes` there)", webroot(&t.dir)),
                    None => "200 with a directory listing (Options Indexes is on for the ACME webroot; add `Options -Indexes` there)".to_string(),
                }
            } else {
                f.summary()
            };
            Verdict::judge(!listed, expected, actual)
        }
    }
}
