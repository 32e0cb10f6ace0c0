//! nat/exposure/*: nothing but the web, media (and TURN) ports answers on the public address.

use crate::checks::{Ctx, Verdict};
use jc_harness::ports::PRIVATE;
use jc_harness::probe::portscan::{self, PortState};

/// nat/exposure/1: none of Jitsi's other ports answers on the public address.
/// nat/exposure/1
pub async fn nat_exposure_1(ctx: &Ctx<'_>) -> Verdict {
    let site = ctx.site_ip();
    let expected = format!(
        "tcp {} on {} (PUBLIC_IP) refuse or stay silent (only 80, 443, 4443/tcp and 10000/udp are public)",
        PRIVATE.map(|p| p.to_string()).join(", "),
        site
    );
    match portscan::tcp_ports(&ctx.guard(), site, &PRIVATE, ctx.budgets.port).await {
        Err(e) => Verdict::error(expected, e),
        Ok(states) => judge_exposure(&states, expected),
    }
}

pub fn judge_exposure(states: &[(u16, PortState)], expected: String) -> Verdict {
    let open: Vec<String> = states
        .iter()
        .filter(|(_, s)| s.answers())
        .map(|(p, _)| p.to_string())
        .collect();
    let all = states
        .iter()
        .map(|(p, s)| format!("{p} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    if open.is_empty() {
        Verdict::pass(expected, all)
    } else {
        Verdict::fail(
            expected,
            format!(
                "tcp {} open{}: remove the router's DNAT/FORWARD rules for them ({all})",
                open.join(", "),
                if open.iter().any(|p| p == "9090") {
                    " (9090 is the bridge's colibri websocket server: it belongs behind the proxy)"
                } else {
                    ""
                }
            ),
        )
    }
}
