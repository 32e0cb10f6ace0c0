//! tls/cert/*: the proxy's certificate for the FQDN.

use super::{shake, stand_in};
use crate::checks::{Ctx, Verdict};
use crate::target::Target;
use jc_harness::probe::tls::{describe, verify_chain, verify_public};
use rustls_pki_types::UnixTime;

/// tls/cert/1
pub async fn tls_cert_1(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = stand_in(ctx) {
        return v;
    }
    // The roots: the lab's own, or a live probe's --ca; the public roots for an operator's
    // certificate and a live probe without --ca.
    let lab_root = match ctx.target {
        Target::Lab(lab) if lab.profile.manifest.operator_cert.is_none() => {
            Some((lab.pki.root.cert_pem.as_str(), "the lab root"))
        }
        Target::Live(site) => site
            .options
            .ca_pem
            .as_deref()
            .map(|p| (p, "the --ca roots")),
        Target::Lab(_) => None,
    };
    let anchor = match lab_root {
        Some((_, name)) => name,
        None => "the public roots (Mozilla's)",
    };
    let expected = format!(
        "with SNI={0}, a chain that verifies to {anchor}, with a SAN for {0}, inside its validity",
        ctx.fqdn()
    );
    let facts = match shake(ctx).await {
        Ok(f) => f,
        Err(e) => return Verdict::fail(expected, e),
    };
    let leaf = facts.chain.first().map(describe);
    let about = match &leaf {
        Some(Ok(c)) => format!(
            "subject {}, SAN {:?}, issuer {}, valid {} to {}",
            c.subject, c.dns_names, c.issuer, c.not_before, c.not_after
        ),
        Some(Err(e)) => format!("an unreadable certificate ({e})"),
        None => "no certificate".into(),
    };
    let judged = match lab_root {
        None => verify_public(&facts.chain, ctx.fqdn(), UnixTime::now()),
        Some((pem, _)) => verify_chain(&facts.chain, pem, ctx.fqdn(), UnixTime::now()),
    };
    match judged {
        Ok(()) => Verdict::pass(expected, format!("verified: {about}")),
        Err(e) => Verdict::fail(expected, format!("{e}: {about}")),
    }
}

/// tls/cert/2
pub async fn tls_cert_2(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = stand_in(ctx) {
        return v;
    }
    let expected = "the certificate has at least 30 days left".to_string();
    match shake(ctx).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => match f.chain.first().map(describe) {
            Some(Ok(c)) => {
                let days = c.seconds_left.div_euclid(86400);
                Verdict::judge(
                    c.seconds_left >= 30 * 86400,
                    expected,
                    format!("{days} days left (notAfter {})", c.not_after),
                )
            }
            Some(Err(e)) => Verdict::fail(expected, e),
            None => Verdict::fail(expected, "no certificate"),
        },
    }
}
