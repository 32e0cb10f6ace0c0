//! proxy/forwarded/*: the backend learns the client's address and the FQDN.

use super::backend::explain;
use crate::checks::{Ctx, Verdict};

/// proxy/forwarded/1
pub async fn proxy_forwarded_1(ctx: &Ctx<'_>) -> Verdict {
    let Some(lab) = ctx.lab() else {
        return crate::checks::lab_only(
            "needs the backend's record of the headers it saw, which only the lab's stand-in keeps",
        );
    };
    let client = lab.plan.client_ip.to_string();
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
