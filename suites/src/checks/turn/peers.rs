//! turn/peers/1: the relay refuses LAN hosts other than the bridge (a CreatePermission for the
//! proxy's address gets 403, coturn's `good_peer_addr` with `denied-peer-ip`).

use super::{credentials, setup, udp_target};
use crate::checks::{Ctx, Verdict};

pub async fn turn_peers_1(ctx: &Ctx<'_>) -> Verdict {
    let Some(lab) = ctx.lab() else {
        return crate::checks::lab_only(
            "needs the address of a LAN host that is not the bridge, which a live site does not tell",
        );
    };
    let s = match setup(ctx).await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let proxy = lab.plan.proxy_ip;
    let expected = format!(
        "a CreatePermission for {proxy} (PROXY_IP, a LAN host that is not the bridge) is refused with 403"
    );
    let creds = match credentials(&s) {
        Ok(c) => c,
        Err(e) => return Verdict::fail(expected, e),
    };
    let f = jc_turn::turn_probe::create_permission(&udp_target(ctx, &s), &creds, proxy).await;
    if !f.allocate.success {
        return Verdict::error(
            expected,
            format!(
                "no allocation to ask from (see turn/udp/1): {}",
                f.allocate
                    .error
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| format!("codes {:?}", f.allocate.error_codes))
            ),
        );
    }
    match (f.class.as_deref(), f.code) {
        (Some("error"), Some(403)) => Verdict::pass(expected, "refused with 403 (Forbidden IP)"),
        (Some("success"), _) => Verdict::fail(
            expected,
            format!("granted: the relay reaches {proxy} on the LAN, so anyone with credentials can get inside the network; deny the private ranges (`denied-peer-ip`, as Jitsi's template does) and allow only the bridge (`allowed-peer-ip={}`)", lab.plan.bridge_ip),
        ),
        (_, code) => Verdict::fail(
            expected,
            format!(
                "answered {code:?} ({}){}",
                f.reason.clone().unwrap_or_default(),
                f.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        ),
    }
}
