//! Client-side helpers for the probes (no sockets): build a connectivity check
//! with short-term credentials (RFC 8445 7.1.1, RFC 5389 10.1) and read the
//! facts of a response. Facts, not verdicts: the checks judge.

use std::net::SocketAddr;

use rand::Rng;

use crate::{self as stun, attr, Class, MessageBuilder};

/// The ICE role attribute the request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// ICE-CONTROLLED with this tie-breaker (the client of a controlling bridge).
    Controlled(u64),
    /// ICE-CONTROLLING with this tie-breaker (provokes a role conflict).
    Controlling(u64),
}

/// How MESSAGE-INTEGRITY is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// Keyed with the bridge's pwd.
    BridgePwd,
    /// Keyed with another key (to provoke a 401).
    WrongKey(Vec<u8>),
    /// Left out.
    Omit,
}

/// A Binding request as an ICE agent sends it to the bridge.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub bridge_ufrag: String,
    pub client_ufrag: String,
    pub bridge_pwd: String,
    /// PRIORITY; `None` leaves it out (provokes 400).
    pub priority: Option<u32>,
    pub role: Option<Role>,
    pub use_candidate: bool,
    pub integrity: Integrity,
    pub fingerprint: bool,
    pub transaction_id: [u8; 12],
}

/// PRIORITY a client puts in its checks: its would-be prflx candidate,
/// `110 << 24 | 65535 << 8 | 255` (RFC 8445 7.1.1).
pub const PRFLX_PRIORITY: u32 = (110 << 24) | (65535 << 8) | 255;

impl CheckRequest {
    /// USERNAME `bridgeUfrag:clientUfrag`, PRIORITY, ICE-CONTROLLED (random
    /// tie-breaker), MESSAGE-INTEGRITY with the bridge pwd, FINGERPRINT.
    pub fn new<R: Rng + ?Sized>(
        rng: &mut R,
        bridge_ufrag: &str,
        client_ufrag: &str,
        bridge_pwd: &str,
    ) -> Self {
        CheckRequest {
            bridge_ufrag: bridge_ufrag.into(),
            client_ufrag: client_ufrag.into(),
            bridge_pwd: bridge_pwd.into(),
            priority: Some(PRFLX_PRIORITY),
            role: Some(Role::Controlled(rng.random())),
            use_candidate: false,
            integrity: Integrity::BridgePwd,
            fingerprint: true,
            transaction_id: rng.random(),
        }
    }

    /// Wire bytes, attributes in the order USERNAME, PRIORITY, role,
    /// USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT.
    pub fn encode(&self) -> Vec<u8> {
        let username = format!("{}:{}", self.bridge_ufrag, self.client_ufrag);
        let mut b = MessageBuilder::new(stun::BINDING_REQUEST, self.transaction_id)
            .username(username.as_bytes());
        if let Some(p) = self.priority {
            b = b.priority(p);
        }
        match self.role {
            Some(Role::Controlled(t)) => b = b.ice_controlled(t),
            Some(Role::Controlling(t)) => b = b.ice_controlling(t),
            None => {}
        }
        if self.use_candidate {
            b = b.use_candidate();
        }
        match &self.integrity {
            Integrity::BridgePwd => b = b.message_integrity(self.bridge_pwd.as_bytes()),
            Integrity::WrongKey(k) => b = b.message_integrity(k),
            Integrity::Omit => {}
        }
        if self.fingerprint {
            b = b.fingerprint();
        }
        b.build()
    }
}

/// Build the standard check: `(bytes, transaction_id)`.
pub fn binding_request<R: Rng + ?Sized>(
    rng: &mut R,
    bridge_ufrag: &str,
    client_ufrag: &str,
    bridge_pwd: &str,
) -> (Vec<u8>, [u8; 12]) {
    let r = CheckRequest::new(rng, bridge_ufrag, client_ufrag, bridge_pwd);
    (r.encode(), r.transaction_id)
}

/// What a response says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Facts {
    /// `None` when the bytes are not a STUN message (see `decode_error`).
    pub class: Option<Class>,
    pub decode_error: Option<String>,
    pub transaction_id_matches: bool,
    pub error_code: Option<u16>,
    pub error_reason: Option<String>,
    /// XOR-MAPPED-ADDRESS: the client as the responder saw it.
    pub xor_mapped: Option<SocketAddr>,
    pub mapped_address_present: bool,
    /// MESSAGE-INTEGRITY verified with the given pwd; `None` when absent.
    pub integrity_ok: Option<bool>,
    /// FINGERPRINT verified; `None` when absent.
    pub fingerprint_ok: Option<bool>,
    /// Attribute names in wire order, e.g. `["XOR-MAPPED-ADDRESS", "USERNAME", ...]`.
    pub attributes_in_order: Vec<String>,
    pub software: Option<String>,
    pub username: Option<String>,
}

/// Read the facts of a response to the request `transaction_id`, checking
/// integrity with `pwd` (the bridge's).
pub fn verify_response(bytes: &[u8], pwd: &str, transaction_id: &[u8; 12]) -> Facts {
    match stun::decode(bytes) {
        Err(e) => Facts {
            class: None,
            decode_error: Some(e.to_string()),
            transaction_id_matches: false,
            error_code: None,
            error_reason: None,
            xor_mapped: None,
            mapped_address_present: false,
            integrity_ok: None,
            fingerprint_ok: None,
            attributes_in_order: Vec::new(),
            software: None,
            username: None,
        },
        Ok(m) => {
            let (error_code, error_reason) = match m.error_code() {
                Some((c, r)) => (Some(c), Some(r)),
                None => (None, None),
            };
            Facts {
                class: Some(m.class()),
                decode_error: None,
                transaction_id_matches: &m.transaction_id == transaction_id,
                error_code,
                error_reason,
                xor_mapped: m.xor_mapped_address(),
                mapped_address_present: m.get(attr::MAPPED_ADDRESS).is_some(),
                integrity_ok: m.verify_integrity(pwd.as_bytes()),
                fingerprint_ok: m.verify_fingerprint(),
                attributes_in_order: m.attributes.iter().map(|a| attr::name(a.typ)).collect(),
                software: m.software(),
                username: m
                    .get(attr::USERNAME)
                    .map(|a| String::from_utf8_lossy(&a.value).into_owned()),
            }
        }
    }
}

/// The attribute order ice4j's success response has.
pub const ICE4J_SUCCESS_ORDER: [&str; 5] = [
    "XOR-MAPPED-ADDRESS",
    "USERNAME",
    "SOFTWARE",
    "MESSAGE-INTEGRITY",
    "FINGERPRINT",
];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn request_layout() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let r = CheckRequest::new(&mut rng, "bridgeu", "cli", "bridgepwd0123456789012");
        let m = stun::decode(&r.encode()).unwrap();
        let names: Vec<String> = m.attributes.iter().map(|a| attr::name(a.typ)).collect();
        assert_eq!(
            names,
            [
                "USERNAME",
                "PRIORITY",
                "ICE-CONTROLLED",
                "MESSAGE-INTEGRITY",
                "FINGERPRINT"
            ]
        );
        assert_eq!(m.username(), Some(&b"bridgeu:cli"[..]));
        assert_eq!(m.verify_integrity(b"bridgepwd0123456789012"), Some(true));
        assert_eq!(m.verify_fingerprint(), Some(true));
        assert_eq!(m.priority(), Some(1862270975));
    }

    #[test]
    fn facts_of_garbage() {
        let f = verify_response(b"nope", "x", &[0; 12]);
        assert_eq!(f.class, None);
        assert!(f.decode_error.is_some());
    }
}
