//! tls/hsts/*: Strict-Transport-Security on the proxy's answers.

use crate::checks::{Ctx, Verdict};

/// max-age of a Strict-Transport-Security value.
pub fn hsts_max_age(value: &str) -> Option<u64> {
    value.split(';').find_map(|d| {
        let (k, v) = d.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("max-age"))
            .then(|| v.trim().trim_matches('"').parse().ok())
            .flatten()
    })
}

/// tls/hsts/1
pub async fn tls_hsts_1(ctx: &Ctx<'_>) -> Verdict {
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
