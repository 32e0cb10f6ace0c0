//! tls/*: what the proxy presents on :443: its certificate ([`cert`]), the protocol
//! ([`protocol`]) and HSTS ([`hsts`]).

pub mod cert;
pub mod hsts;
pub mod protocol;

use crate::checks::{Ctx, Verdict};
use jc_harness::probe::tls::{handshake, TlsFacts};
use std::net::SocketAddr;

pub(super) async fn shake(ctx: &Ctx<'_>) -> Result<TlsFacts, String> {
    let dest = SocketAddr::new(ctx.site_ip().into(), 443);
    handshake(&ctx.guard(), dest, ctx.fqdn(), ctx.budgets.http).await
}

/// In a pre-change run without `--cert/--key` the proxy shows the lab's stand-in: nothing of
/// the operator's to judge.
pub(super) fn stand_in(ctx: &Ctx<'_>) -> Option<Verdict> {
    let lab = ctx.lab()?;
    let m = &lab.profile.manifest;
    (lab.profile.is_operator() && m.operator_cert.is_none())
        .then(|| Verdict::skip("no --cert/--key given: the proxy presents the lab's stand-in certificate, so yours is not judged"))
}
