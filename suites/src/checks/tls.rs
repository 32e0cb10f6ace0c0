//! tls/*: what the proxy presents on :443.

use super::{Ctx, Verdict};
use jc_harness::probe::tls::{describe, handshake, verify_chain, verify_public, TlsFacts};
use rustls_pki_types::UnixTime;
use std::net::SocketAddr;

async fn shake(ctx: &Ctx<'_>) -> Result<TlsFacts, String> {
    let dest = SocketAddr::new(ctx.lab.plan.public_ip.into(), 443);
    handshake(&ctx.lab.guard(), dest, ctx.fqdn(), ctx.budgets.http).await
}

/// In a pre-change run without `--cert/--key` the proxy shows the lab's stand-in: nothing of
/// the operator's to judge.
fn stand_in(ctx: &Ctx<'_>) -> Option<Verdict> {
    let m = &ctx.lab.profile.manifest;
    (ctx.lab.profile.is_operator() && m.operator_cert.is_none())
        .then(|| Verdict::skip("no --cert/--key given: the proxy presents the lab's stand-in certificate, so yours is not judged"))
}

pub async fn cert_1(ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = stand_in(ctx) {
        return v;
    }
    let operator = ctx.lab.profile.manifest.operator_cert.is_some();
    let anchor = if operator {
        "the public roots (Mozilla's)"
    } else {
        "the lab root"
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
    let judged = if operator {
        verify_public(&facts.chain, ctx.fqdn(), UnixTime::now())
    } else {
        verify_chain(
            &facts.chain,
            &ctx.lab.pki.root.cert_pem,
            ctx.fqdn(),
            UnixTime::now(),
        )
    };
    match judged {
        Ok(()) => Verdict::pass(expected, format!("verified: {about}")),
        Err(e) => Verdict::fail(expected, format!("{e}: {about}")),
    }
}

pub async fn cert_2(ctx: &Ctx<'_>) -> Verdict {
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

pub async fn protocol_1(ctx: &Ctx<'_>) -> Verdict {
    let expected = "TLS 1.2 or 1.3 negotiated".to_string();
    match shake(ctx).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            let ok = matches!(f.protocol.as_str(), "TLSv1_2" | "TLSv1_3");
            Verdict::judge(ok, expected, format!("{} with {}", f.protocol, f.cipher))
        }
    }
}

/// max-age of a Strict-Transport-Security value.
pub fn hsts_max_age(value: &str) -> Option<u64> {
    value.split(';').find_map(|d| {
        let (k, v) = d.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("max-age"))
            .then(|| v.trim().trim_matches('"').parse().ok())
            .flatten()
    })
}

pub async fn hsts_1(ctx: &Ctx<'_>) -> Verdict {
    let expected = "Strict-Transport-Security with max-age >= 15552000 (180 days)".to_string();
    match ctx.http.get("https", "/").await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => match f.header("strict-transport-security") {
            None => Verdict::fail(expected, format!("{} without Strict-Transport-Security (add `Header always set Strict-Transport-Security \"max-age=31536000\"` to the :443 vhost)", f.status)),
            Some(v) => {
                let ok = hsts_max_age(v).is_some_and(|a| a >= 15_552_000);
                Verdict::judge(ok, expected, format!("Strict-Transport-Security: {v}"))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::hsts_max_age;

    #[test]
    fn max_age_is_read() {
        assert_eq!(
            hsts_max_age("max-age=31536000; includeSubDomains"),
            Some(31536000)
        );
        assert_eq!(hsts_max_age("includeSubDomains; Max-Age=\"10\""), Some(10));
        assert_eq!(hsts_max_age("preload"), None);
    }
}
