//! Per-endpoint ICE agent identity as ice4j generates it: ufrag, pwd,
//! tie-breaker and the candidate ids JVB derives from Java hash codes.

use rand::Rng;

/// Java's `BigInteger.toString(32)` for a non-negative value: digits `0-9a-v`,
/// no leading zeros.
pub fn java_base32(mut v: u128) -> String {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    if v == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while v > 0 {
        out.push(DIGITS[(v % 32) as usize]);
        v /= 32;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// ice4j `Agent.ensureIceAttributeLength`: left-pad with '0' to `min`, cut to `max`.
fn ensure_len(s: String, min: usize, max: usize) -> String {
    let mut s = if s.len() < min {
        format!("{}{}", "0".repeat(min - s.len()), s)
    } else {
        s
    };
    s.truncate(max);
    s
}

/// Local ufrag as ice4j `Agent(String ufragPrefix, ...)` builds it: optional
/// prefix + `BigInteger(24, random).toString(32)` + current time in ms in base
/// 32, at least 4 and at most 256 characters. (ice4j `ice/Agent.java`.)
pub fn generate_ufrag<R: Rng + ?Sized>(
    rng: &mut R,
    prefix: Option<&str>,
    now_millis: u64,
) -> String {
    let mut s = prefix.unwrap_or("").to_string();
    s.push_str(&java_base32(u128::from(rng.random::<u32>() & 0x00ff_ffff)));
    s.push_str(&java_base32(u128::from(now_millis)));
    ensure_len(s, 4, 256)
}

/// Local password: `BigInteger(128, random).toString(32)`, at least 22
/// characters (left-padded with '0'). (ice4j `ice/Agent.java`.)
pub fn generate_pwd<R: Rng + ?Sized>(rng: &mut R) -> String {
    ensure_len(java_base32(rng.random::<u128>()), 22, 256)
}

/// Tie-breaker: `random.nextLong() & 0x7FFFFFFFFFFFFFFF` (ice4j `ice/Agent.java`).
pub fn generate_tie_breaker<R: Rng + ?Sized>(rng: &mut R) -> u64 {
    rng.random::<u64>() & 0x7FFF_FFFF_FFFF_FFFF
}

/// `java.lang.Long.toHexString(int.toLong())`: negative ints sign-extend to 16 hex digits.
pub fn java_int_hex(v: i32) -> String {
    format!("{:x}", i64::from(v) as u64)
}

/// Candidate id as JVB's `IceTransport.kt` `generateCandidateId` builds it:
/// hex of four Java hash codes / numbers concatenated (a per-process one, the
/// agent's, the agent generation, the candidate's), e.g.
/// `5bbb5d5e101f870f0ffffffffdf286239` in jitsi-videobridge `doc/rest-colibri2.md`.
#[derive(Debug, Clone)]
pub struct CandidateIds {
    process_hash: i32,
    agent_hash: i32,
    generation: u32,
}

impl CandidateIds {
    pub fn new<R: Rng + ?Sized>(rng: &mut R, process_hash: i32, generation: u32) -> Self {
        CandidateIds {
            process_hash,
            // identity hash codes are 31-bit, non-negative
            agent_hash: rng.random::<i32>() & 0x7fff_ffff,
            generation,
        }
    }

    /// Next id (the candidate's hash is random; `Candidate.hashCode` may be negative).
    pub fn next<R: Rng + ?Sized>(&self, rng: &mut R) -> String {
        format!(
            "{}{}{:x}{}",
            java_int_hex(self.process_hash),
            java_int_hex(self.agent_hash),
            self.generation,
            java_int_hex(rng.random::<i32>())
        )
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn base32_matches_java() {
        assert_eq!(java_base32(0), "0");
        assert_eq!(java_base32(31), "v");
        assert_eq!(java_base32(32), "10");
        // BigInteger.valueOf(1700000000000L).toString(32)
        assert_eq!(java_base32(1_700_000_000_000), "1hf7uaq00");
    }

    /// ice4j Agent.java: ufrag = base32(24 random bits) + base32(millis).
    #[test]
    fn ufrag_and_pwd_shapes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let now = 1_780_000_000_000;
        for _ in 0..200 {
            let u = generate_ufrag(&mut rng, None, now);
            assert!(u.ends_with(&java_base32(u128::from(now))), "{u}");
            assert!((10..=14).contains(&u.len()), "{u}");
            assert!(u
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)));
            let p = generate_pwd(&mut rng);
            assert!((22..=26).contains(&p.len()), "{p}");
            assert!(p
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)));
            assert!(generate_tie_breaker(&mut rng) < 1 << 63);
        }
        assert!(generate_ufrag(&mut rng, Some("jvb-123:"), now).starts_with("jvb-123:"));
    }

    #[test]
    fn ids_are_hex_like_jvb() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let ids = CandidateIds::new(&mut rng, 0x5bbb5d5e, 0);
        let id = ids.next(&mut rng);
        assert!(id.starts_with("5bbb5d5e"));
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(java_int_hex(-1), "ffffffffffffffff");
    }
}
