//! Reports made reviewable: volatile fields are redacted and lab addresses are written by role
//! (`${PUBLIC_IP}`, `${BRIDGE_IP}`, ...), so a snapshot does not depend on which subnet a
//! parallel lab got or on the clock, and a change of behaviour shows as a diff.

use super::{Report, Timings};
use regex::Regex;
use std::sync::LazyLock;

/// (pattern, replacement), applied in order after the lab's own values.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // The client's ephemeral ports, as the bridge or the NAT saw them.
        (r"\$\{CLIENT_IP\}:\d+", "$${CLIENT_IP}:[port]"),
        // The TURN server's relay ports (coturn picks one per allocation from its range).
        (
            r"(relayed(?: at)? \$\{[A-Z_]+\}(?: \([A-Z_]+\))?):\d+",
            "$1:[port]",
        ),
        // Certificate validity, as x509 prints it.
        (
            r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4} \+00:00",
            "[date]",
        ),
        (r"\d+ days left", "[n] days left"),
        // rustls' own account of validity: Unix times and distances.
        (r"\b\d{10}\b \(UNIX\)", "[unix] (UNIX)"),
        (
            r"\b\d{10}\b \(\d+ seconds (ago|from now)\)",
            "[unix] ([n] seconds $1)",
        ),
        // Measured times (budgets included: they scale with JC_TIME_SCALE).
        (r"\d+ ms\b", "[n] ms"),
        (r"\d+\.\d s after it started", "[n] s after it started"),
        // Where the built-in fixtures were materialized (a hash of their content).
        (r"/tmp/jc-fixtures-[0-9a-f]+/", "[fixtures]/"),
        // Per-run marker of the fake backend.
        (r"jc-[0-9a-f]{16}", "[marker]"),
        // DTLS fingerprints.
        (r"(?i)\b[0-9a-f]{2}(:[0-9a-f]{2}){31}\b", "[fingerprint]"),
    ]
    .into_iter()
    .map(|(p, r)| (Regex::new(p).expect("valid pattern"), r))
    .collect()
});

/// Replaces `values` (value -> its name, e.g. "198.51.100.2" -> "${PUBLIC_IP}"), longest first
/// and as whole addresses, then the volatile patterns.
pub fn text(s: &str, values: &[(String, String)]) -> String {
    let mut values: Vec<&(String, String)> = values.iter().filter(|(v, _)| !v.is_empty()).collect();
    values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    let mut out = s.to_string();
    for (v, name) in values {
        out = replace_token(&out, v, name);
        // Checks that already name the role ("172.30.77.20 (BRIDGE_IP)") need it only once.
        if let Some(role) = name.strip_prefix("${").and_then(|n| n.strip_suffix('}')) {
            out = out.replace(&format!("{name} ({role})"), name);
        }
    }
    for (re, with) in RULES.iter() {
        out = re.replace_all(&out, *with).into_owned();
    }
    out
}

/// Replaces `from` where it stands as a whole address (not inside a longer one).
pub fn replace_token(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return text.to_string();
    }
    let is_addr_char = |c: char| c.is_ascii_digit() || c == '.';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        // A trailing dot ends a sentence, not an address.
        let after_ok = match after {
            None => true,
            Some('.') => !rest[at + from.len() + 1..].starts_with(|c: char| c.is_ascii_digit()),
            Some(c) => !is_addr_char(c),
        };
        let before_ok = before.is_none_or(|c| !is_addr_char(c));
        out.push_str(&rest[..at]);
        if before_ok && after_ok {
            out.push_str(to);
        } else {
            out.push_str(from);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// The report with volatile fields redacted: durations and timings zeroed, package versions
/// (the host's patch level) named only, addresses by role.
pub fn report(r: &Report, values: &[(String, String)]) -> Report {
    let mut r = r.clone();
    r.target.public_ip = text(&r.target.public_ip, values);
    for v in r.lab.values_mut() {
        *v = "[version]".into();
    }
    for c in &mut r.checks {
        c.expected = text(&c.expected, values);
        c.actual = text(&c.actual, values);
        c.duration_ms = 0;
    }
    r.timings = Timings::default();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<(String, String)> {
        vec![
            ("172.30.77.2".into(), "${ROUTER_LAN_IP}".into()),
            ("172.30.77.20".into(), "${BRIDGE_IP}".into()),
            ("198.51.100.1".into(), "${CLIENT_IP}".into()),
        ]
    }

    #[test]
    fn addresses_by_role_and_volatile_fields() {
        let s = "reply from 172.30.77.20 (BRIDGE_IP):10000 via 172.30.77.2, client 198.51.100.1:53055 after 4 ms, valid Nov 27 17:36:43 2026 +00:00, 89 days left, jc-0123456789abcdef";
        assert_eq!(
            text(s, &values()),
            "reply from ${BRIDGE_IP}:10000 via ${ROUTER_LAN_IP}, client ${CLIENT_IP}:[port] after [n] ms, valid [date], [n] days left, [marker]"
        );
    }

    #[test]
    fn fingerprints_are_redacted() {
        let fp = (0..32)
            .map(|i| format!("{i:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(text(&format!("fp {fp}."), &[]), "fp [fingerprint].");
    }
}
