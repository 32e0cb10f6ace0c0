//! tls/protocol/*: the TLS version negotiated.

use super::shake;
use crate::checks::{Ctx, Verdict};

/// tls/protocol/1
pub async fn tls_protocol_1(ctx: &Ctx<'_>) -> Verdict {
    let expected = "TLS 1.2 or 1.3 negotiated".to_string();
    match shake(ctx).await {
        Err(e) => Verdict::fail(expected, e),
        Ok(f) => {
            let ok = matches!(f.protocol.as_str(), "TLSv1_2" | "TLSv1_3");
            Verdict::judge(ok, expected, format!("{} with {}", f.protocol, f.cipher))
        }
    }
}
