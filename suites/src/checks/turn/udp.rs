//! turn/udp/1: an authenticated Allocate over UDP on PUBLIC:3478, relayed at the public address.

use super::{allocate_failure, credentials, setup, udp_target};
use crate::checks::bridge::named;
use crate::checks::{Ctx, Verdict};

pub async fn turn_udp_1(ctx: &Ctx<'_>) -> Verdict {
    let s = match setup(ctx).await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let public = s.udp.ip;
    let shown = named(ctx.plan(), &public.to_string());
    let expected = format!(
        "an authenticated Allocate to {public}:{}/udp succeeds with XOR-RELAYED-ADDRESS {shown}",
        s.udp_port
    );
    let creds = match credentials(&s) {
        Ok(c) => c,
        Err(e) => return Verdict::fail(expected, e),
    };
    let f = jc_turn::turn_probe::allocate(&udp_target(ctx, &s), &creds).await;
    if !f.success {
        let port = format!("{}/udp", s.udp_port);
        return Verdict::fail(expected, allocate_failure(&s, public, &f, &port));
    }
    let relayed = f.relayed.map(|a| a.ip().to_string()).unwrap_or_default();
    let ok = relayed == public.to_string();
    let mut actual = format!(
        "allocated in {} ms; relayed at {}",
        f.elapsed_ms,
        f.relayed
            .map(|a| format!("{}:{}", named(ctx.plan(), &a.ip().to_string()), a.port()))
            .unwrap_or_else(|| "(no XOR-RELAYED-ADDRESS)".into())
    );
    if !ok {
        actual.push_str(&format!(
            ": coturn tells clients an address they cannot reach from the internet; it has no external-ip for its LAN address: set `external-ip={public}/{}` in turnserver.conf",
            ctx.bridge_ip().map(|b| b.to_string()).unwrap_or_else(|| "BRIDGE_IP".into())
        ));
    }
    Verdict::judge(ok, expected, actual)
}
