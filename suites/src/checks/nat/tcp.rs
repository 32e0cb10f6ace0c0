//! nat/tcp/*: ICE-TCP (RFC 4571 framing) to PUBLIC:4443/tcp, where the profile has it.

use super::{credentials, judge_authenticated};
use crate::checks::{Ctx, Verdict};
use jc_harness::ports::ICE_TCP;
use jc_harness::probe::stun;
use std::net::SocketAddr;

/// nat/tcp/1: (ICE-TCP profiles) a Binding over RFC 4571 framing on PUBLIC:4443/tcp gets an
/// authenticated success response.
/// nat/tcp/1
pub async fn nat_tcp_1(ctx: &Ctx<'_>) -> Verdict {
    if let Some(skip) = ctx.skip_without_ice_tcp() {
        return skip;
    }
    let plan = ctx.plan();
    let dest = SocketAddr::new(ctx.public_ip().into(), ICE_TCP);
    let expected = format!(
        "an authenticated (MESSAGE-INTEGRITY and FINGERPRINT verify) success response to a Binding over RFC 4571 framing on {}:{ICE_TCP}/tcp (PUBLIC_IP)",
        ctx.public_ip()
    );
    let creds = match credentials(ctx).await {
        Ok(c) => c,
        Err(e) => return Verdict::error(expected, e),
    };
    match stun::binding_tcp(&ctx.guard(), dest, &creds, ctx.budgets.stun).await {
        Err(e) => Verdict::error(expected, e),
        Ok(f) => judge_authenticated(
            plan,
            &f,
            expected,
            "is tcp/4443 DNATed to BRIDGE_IP:4443 and accepted in FORWARD, and do the bridge host's replies go back through the router?",
        ),
    }
}
