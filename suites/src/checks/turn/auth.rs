//! turn/auth/1: a wrong password is refused, so the relay is not open to anyone.

use super::{credentials, setup, udp_target};
use crate::checks::{Ctx, Verdict};

pub async fn turn_auth_1(ctx: &Ctx<'_>) -> Verdict {
    let s = match setup(ctx).await {
        Ok(s) => s,
        Err(v) => return v,
    };
    let expected = format!(
        "an Allocate to {}:{}/udp with a wrong password is refused with 401",
        s.udp.ip, s.udp_port
    );
    let creds = match credentials(&s) {
        Ok(c) => c,
        Err(e) => return Verdict::fail(expected, e),
    };
    let f = jc_turn::turn_probe::wrong_password(&udp_target(ctx, &s), &creds).await;
    if f.success {
        return Verdict::fail(
            expected,
            "the Allocate with a wrong password succeeded: anyone can relay through this server (set use-auth-secret and static-auth-secret)",
        );
    }
    match (f.final_code(), &f.error) {
        (Some(401), _) => Verdict::pass(expected, "refused with 401 (Unauthorized)"),
        (_, Some(e)) => Verdict::fail(expected, format!("no verdict on the password: {e}")),
        (Some(code), None) => Verdict::fail(
            expected,
            format!(
                "refused with {code} ({}), not 401",
                f.error_reasons.last().cloned().unwrap_or_default()
            ),
        ),
        (None, None) => Verdict::fail(expected, "no answer"),
    }
}
