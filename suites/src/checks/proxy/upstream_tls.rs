//! proxy/upstream-tls/*: the proxy authenticates the backend. Changes the lab (the backend's
//! nginx restarts with an untrusted certificate), so it runs alone, after every other check.

use crate::checks::{Ctx, Verdict};
use jc_harness::role::Role;

/// Changes the lab: restarts the bridge host's nginx with a certificate from a CA the proxy
/// does not trust, asks through the proxy, and restores the original. Runs alone, last.
/// proxy/upstream-tls/1
pub async fn proxy_upstream_tls_1(ctx: &Ctx<'_>) -> Verdict {
    let Some(lab) = ctx.lab() else {
        return crate::checks::lab_only(
            "changes the backend's certificate, which only a lab the suite runs allows",
        );
    };
    let expected = "with an untrusted backend certificate, the proxy answers an error (Apache: 500/502 Proxy Error) instead of the content".to_string();
    match lab
        .exec(
            Role::Bridge,
            &["/bin/sh", "/jc/restart-nginx.sh", "untrusted"],
        )
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
    let restored = lab
        .exec(
            Role::Bridge,
            &["/bin/sh", "/jc/restart-nginx.sh", "original"],
        )
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
