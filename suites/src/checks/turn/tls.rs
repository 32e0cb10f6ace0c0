//! turn/tls/1: TURN over TLS on PUBLIC:5349, the certificate verifying for the FQDN.

use super::{allocate_failure, credentials, setup, tls_target};
use crate::checks::{Ctx, Verdict};

pub async fn turn_tls_1(ctx: &Ctx<'_>) -> Verdict {
    let s = match setup(ctx).await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let public = s.tls.ip;
    let expected = format!(
        "TLS on {public}:{}/tcp with a certificate that verifies for {}, then an authenticated Allocate succeeds",
        s.tls_port,
        s.tls.name
    );
    if !s.has_tls() && ctx.live().is_some() {
        return Verdict::fail(
            expected,
            "the deployment hands out no `turns` server (XEP-0215): clients that only reach TCP have no way to the bridge",
        );
    }
    if !s.has_tls() {
        return Verdict::fail(
            expected,
            "coturn's config has no `cert` and `pkey`, so it starts no TLS listener: clients that only reach TCP have no way to the bridge",
        );
    }
    let creds = match credentials(&s) {
        Ok(c) => c,
        Err(e) => return Verdict::fail(expected, e),
    };
    let f = jc_turn::turn_probe::allocate(&tls_target(ctx, &s), &creds).await;
    let tls = f.tls.clone().unwrap_or_default();
    let cert = match (tls.verified, &tls.verify_error) {
        (Some(true), _) => format!(
            "{} verified for {}",
            tls.protocol.clone().unwrap_or_default(),
            s.tls.name
        ),
        (_, Some(e)) => format!("the certificate does not verify for {}: {e}", s.tls.name),
        _ => "no TLS session".to_string(),
    };
    if !f.success {
        let port = format!("{}/tcp", s.tls_port);
        return Verdict::fail(
            expected,
            format!("{cert}; {}", allocate_failure(&s, public, &f, &port)),
        );
    }
    Verdict::judge(
        tls.verified == Some(true),
        expected,
        format!("{cert}; allocated in {} ms", f.elapsed_ms),
    )
}
