//! nat/udp/*: a STUN Binding with the bridge's credentials to PUBLIC:10000/udp.

use super::{credentials, explain_no_public_reply, is_success, judge_authenticated, named_addr};
use crate::checks::{Ctx, Verdict};
use jc_harness::net::AddressPlan;
use jc_harness::ports::MEDIA_UDP;
use jc_harness::probe::stun::{self, StunFacts};
use std::net::SocketAddr;

const UDP_HINT: &str = "is udp/10000 DNATed to BRIDGE_IP:10000 and accepted in the router's FORWARD chain, and does the bridge listen there?";

async fn udp_probe(ctx: &Ctx<'_>) -> Result<StunFacts, Verdict> {
    let dest = SocketAddr::new(ctx.public_ip().into(), MEDIA_UDP);
    let expected = "a STUN Binding transaction with the bridge".to_string();
    let creds = credentials(ctx)
        .await
        .map_err(|e| Verdict::error(expected.clone(), e))?;
    stun::binding_udp(&ctx.guard(), dest, &creds, ctx.budgets.stun)
        .await
        .map_err(|e| Verdict::error(expected, e))
}

/// nat/udp/1: a Binding with valid credentials to PUBLIC:10000/udp gets a success response
/// from PUBLIC:10000.
/// nat/udp/1
pub async fn nat_udp_1(ctx: &Ctx<'_>) -> Verdict {
    let plan = ctx.plan();
    let expected = format!(
        "a success response from {}:{MEDIA_UDP} (PUBLIC_IP) to a Binding request with valid ICE credentials and ICE-CONTROLLED",
        ctx.public_ip()
    );
    let f = match udp_probe(ctx).await {
        Ok(f) => f,
        Err(v) => return Verdict { expected, ..v },
    };
    judge_udp_1(plan, &f, expected)
}

pub fn judge_udp_1(plan: Option<&AddressPlan>, f: &StunFacts, expected: String) -> Verdict {
    match f.from_dest() {
        Some(r) if is_success(r) => Verdict::pass(
            expected,
            format!(
                "success response from {} after {} ms",
                named_addr(plan, r.from),
                r.after_ms
            ),
        ),
        Some(r) => Verdict::fail(
            expected,
            format!(
                "{} answered, but not with a success response: {}",
                named_addr(plan, r.from),
                stun::describe(&r.facts)
            ),
        ),
        None => Verdict::fail(expected, explain_no_public_reply(plan, f, UDP_HINT)),
    }
}

/// nat/udp/2: the response from PUBLIC:10000 carries MESSAGE-INTEGRITY (bridge pwd) and
/// FINGERPRINT that verify; its XOR-MAPPED-ADDRESS is reported.
/// nat/udp/2
pub async fn nat_udp_2(ctx: &Ctx<'_>) -> Verdict {
    let plan = ctx.plan();
    let expected = format!(
        "the response from {}:{MEDIA_UDP} (PUBLIC_IP) has MESSAGE-INTEGRITY (keyed with the bridge's pwd) and FINGERPRINT that verify",
        ctx.public_ip()
    );
    let f = match udp_probe(ctx).await {
        Ok(f) => f,
        Err(v) => return Verdict { expected, ..v },
    };
    judge_authenticated(plan, &f, expected, UDP_HINT)
}
