//! The bridge side of ICE connectivity checks, by ice4j's rules, sans-IO at
//! the core ([`BridgeState::handle_udp`], [`TcpConnection::on_data`]) with thin
//! tokio loops around it ([`serve_udp`], [`serve_tcp`]).
//!
//! Order of the rules for a datagram (each names the ice4j source followed):
//!
//! 1. Demultiplexing (`harvest/AbstractUdpListener.java` `runInHarvesterThread`,
//!    `getUfrag`): a datagram from a remote address already bound to an
//!    endpoint goes to that endpoint. Otherwise it must have the magic cookie,
//!    decode (a bad FINGERPRINT fails decoding: `Message.decode` /
//!    `performAttributeSpecificActions`), be a Binding request and carry a
//!    USERNAME whose part before the first ':' is the ufrag of an active
//!    endpoint (`SinglePortUdpHarvester.maybeAcceptNewSession`); otherwise it is
//!    dropped silently. A match binds the remote address to that endpoint.
//! 2. Retransmissions (`stack/StunStack.java` `handleMessageEvent`): a request
//!    whose transaction was already answered gets the same response again.
//! 3. `StunStack.validateRequestAttributes`: USERNAME present but its local
//!    part (before ':', which must be at index >= 1) is not this endpoint's
//!    ufrag -> 401 "unknown user ..."; MESSAGE-INTEGRITY present without
//!    USERNAME -> 400 "missing username"; MESSAGE-INTEGRITY that does not
//!    verify with the endpoint's pwd -> 401 "Wrong MESSAGE-INTEGRITY value";
//!    no MESSAGE-INTEGRITY -> 401 only if `org.ice4j.REQUIRE_MESSAGE_INTEGRITY`
//!    is set (JVB does not set it); a comprehension-required attribute ice4j
//!    does not know -> 420. These error responses carry ERROR-CODE, an
//!    UNKNOWN-ATTRIBUTES (empty except for 420: `createCorrespondingErrorResponse`
//!    passes an empty varargs array), SOFTWARE and FINGERPRINT, no integrity.
//! 4. `ice/ConnectivityCheckServer.java` `processRequest`: no USERNAME -> no
//!    answer. Role conflict (we are controlling and it has ICE-CONTROLLING, or
//!    controlled and it has ICE-CONTROLLED) is repaired first
//!    (`repairRoleConflict`): if our tie-breaker >= theirs (unsigned) -> 487
//!    with ERROR-CODE, SOFTWARE, MESSAGE-INTEGRITY, FINGERPRINT; otherwise we
//!    switch role and go on. Then a missing PRIORITY -> 400 "Missing PRIORITY
//!    attribute!" (the IllegalArgumentException mapped by `StunStack`).
//!    Success: XOR-MAPPED-ADDRESS, USERNAME (as received), SOFTWARE
//!    "ice4j.org", MESSAGE-INTEGRITY (endpoint pwd), FINGERPRINT
//!    (`MessageFactory.createBindingResponse`; SOFTWARE and FINGERPRINT added by
//!    `Message.prepareForEncoding`, FINGERPRINT because `Agent` sets
//!    `org.ice4j.ALWAYS_SIGN`). The client's ufrag (after ':') is not checked.
//!
//! ICE-TCP (`harvest/AbstractTcpListener.java` `readFromChannel`,
//! `processFirstDatagram`; `TcpHarvester.acceptSession`): read 72 bytes; if they
//! are the pseudo-SSL ClientHello answer the ServerHello, else they are the
//! start of RFC 4571 frames. The first frame must yield a ufrag (as above) of
//! an active endpoint, else the socket is closed; then every STUN frame is
//! handled as a datagram of that endpoint and answered framed.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::agent::{self, CandidateIds};
use crate::candidates::{self, Candidate, Fingerprint, Transport};
use crate::config::IceSettings;
use jc_stun::framing::{self, SSLTCP_CLIENT_HELLO, SSLTCP_SERVER_HELLO};
use jc_stun::{self as stun, attr, Class, MessageBuilder};

/// How many answered transactions an endpoint remembers for retransmissions.
const TRANSACTION_CACHE: usize = 256;

/// What to create an endpoint with; `None` fields are generated as ice4j would.
#[derive(Debug, Clone, Default)]
pub struct EndpointSpec {
    pub id: Option<String>,
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    pub tie_breaker: Option<u64>,
    /// ICE role; JVB is controlling toward clients (the default here).
    pub controlling: Option<bool>,
    /// The client's credentials, if the bridge was told them.
    pub remote_ufrag: Option<String>,
    pub remote_pwd: Option<String>,
    /// The client's DTLS fingerprints, as signalled (JVB checks the client's certificate
    /// against them).
    pub remote_fingerprints: Vec<Fingerprint>,
    /// DTLS fingerprint to advertise (placeholder generated when `None`).
    pub fingerprint: Option<Fingerprint>,
}

/// An active endpoint as the outside sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointInfo {
    pub id: String,
    pub ufrag: String,
    pub pwd: String,
    pub tie_breaker: u64,
    pub controlling: bool,
    pub remote_ufrag: Option<String>,
    pub remote_pwd: Option<String>,
    pub remote_fingerprints: Vec<Fingerprint>,
    pub transport: Transport,
    /// Remote addresses that completed a successful check (peer-reflexive).
    pub learned_peers: Vec<SocketAddr>,
    /// Remote addresses whose pair the bridge's own check validated.
    pub succeeded_peers: Vec<SocketAddr>,
    /// The selected pair's remote address (the agent is COMPLETED).
    pub selected_peer: Option<SocketAddr>,
}

#[derive(Debug)]
struct Endpoint {
    info: EndpointInfo,
    transactions: HashMap<[u8; 12], Vec<u8>>,
    transaction_order: VecDeque<[u8; 12]>,
    /// When the agent became COMPLETED (its pair selected).
    completed_at: Option<std::time::Instant>,
}

impl Endpoint {
    fn remember(&mut self, tid: [u8; 12], response: &[u8]) {
        if self.transactions.insert(tid, response.to_vec()).is_none() {
            self.transaction_order.push_back(tid);
            if self.transaction_order.len() > TRANSACTION_CACHE {
                if let Some(old) = self.transaction_order.pop_front() {
                    self.transactions.remove(&old);
                }
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    settings: IceSettings,
    host_addresses: Vec<IpAddr>,
    endpoints: Vec<Endpoint>,
    udp_sessions: HashMap<SocketAddr, String>,
    rng: StdRng,
    process_hash: i32,
    /// The DTLS certificate's fingerprint (set by [`crate::peer::BridgePeer`]).
    dtls_fingerprint: Option<Fingerprint>,
}

/// Shared state of the fake bridge's ICE side: settings, host addresses and
/// active endpoints. Cheap to clone (an `Arc`).
#[derive(Debug, Clone)]
pub struct BridgeState {
    inner: Arc<Mutex<Inner>>,
}

/// Why a datagram got no answer (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with these bytes.
    Answer(Vec<u8>),
    /// Dropped silently, with the reason.
    Dropped(&'static str),
}

impl Outcome {
    pub fn into_answer(self) -> Option<Vec<u8>> {
        match self {
            Outcome::Answer(b) => Some(b),
            Outcome::Dropped(_) => None,
        }
    }
}

impl BridgeState {
    /// `host_addresses` are the host's interface addresses (filtered with
    /// [`candidates::usable_host_addresses`] when harvesting).
    pub fn new(settings: IceSettings, host_addresses: Vec<IpAddr>) -> Self {
        Self::with_rng(settings, host_addresses, StdRng::from_os_rng())
    }

    /// Deterministic variant for tests.
    pub fn with_seed(settings: IceSettings, host_addresses: Vec<IpAddr>, seed: u64) -> Self {
        Self::with_rng(settings, host_addresses, StdRng::seed_from_u64(seed))
    }

    fn with_rng(settings: IceSettings, host_addresses: Vec<IpAddr>, mut rng: StdRng) -> Self {
        let process_hash = rng.random::<i32>() & 0x7fff_ffff;
        BridgeState {
            inner: Arc::new(Mutex::new(Inner {
                settings,
                host_addresses,
                endpoints: Vec::new(),
                udp_sessions: HashMap::new(),
                rng,
                process_hash,
                dtls_fingerprint: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn settings(&self) -> IceSettings {
        self.lock().settings.clone()
    }

    pub fn host_addresses(&self) -> Vec<IpAddr> {
        self.lock().host_addresses.clone()
    }

    /// Create an endpoint (a new ice4j Agent): credentials, tie-breaker and a
    /// fresh harvest (foundations and ids are per agent).
    pub fn add_endpoint(&self, spec: EndpointSpec) -> EndpointInfo {
        let mut g = self.lock();
        let inner = &mut *g;
        let rng = &mut inner.rng;
        let id = spec
            .id
            .unwrap_or_else(|| format!("{:08x}", rng.random::<u32>()));
        let ufrag = spec.ufrag.unwrap_or_else(|| {
            agent::generate_ufrag(
                rng,
                inner.settings.ufrag_prefix.as_deref(),
                agent::now_millis(),
            )
        });
        let pwd = spec.pwd.unwrap_or_else(|| agent::generate_pwd(rng));
        let tie_breaker = spec
            .tie_breaker
            .unwrap_or_else(|| agent::generate_tie_breaker(rng));
        let ids = CandidateIds::new(rng, inner.process_hash, 0);
        let cands: Vec<Candidate> =
            candidates::harvest(&inner.host_addresses, &inner.settings, || ids.next(rng));
        let fingerprint = spec
            .fingerprint
            .or_else(|| inner.dtls_fingerprint.clone())
            .unwrap_or_else(|| placeholder_fingerprint(rng));
        let info = EndpointInfo {
            id,
            ufrag: ufrag.clone(),
            pwd,
            tie_breaker,
            controlling: spec.controlling.unwrap_or(true),
            remote_ufrag: spec.remote_ufrag,
            remote_pwd: spec.remote_pwd,
            remote_fingerprints: spec.remote_fingerprints,
            transport: Transport {
                ufrag,
                pwd: String::new(),
                candidates: cands,
                fingerprints: vec![fingerprint],
            },
            learned_peers: Vec::new(),
            succeeded_peers: Vec::new(),
            selected_peer: None,
        };
        let mut info = info;
        info.transport.pwd = info.pwd.clone();
        // A new agent with a ufrag already in use replaces the old one.
        inner
            .endpoints
            .retain(|e| e.info.ufrag != info.ufrag && e.info.id != info.id);
        inner.endpoints.push(Endpoint {
            info: info.clone(),
            transactions: HashMap::new(),
            transaction_order: VecDeque::new(),
            completed_at: None,
        });
        info
    }

    /// Expire an endpoint (its ufrag stops being recognised).
    pub fn remove_endpoint(&self, id: &str) -> bool {
        let mut g = self.lock();
        let before = g.endpoints.len();
        let gone: Vec<String> = g
            .endpoints
            .iter()
            .filter(|e| e.info.id == id)
            .map(|e| e.info.ufrag.clone())
            .collect();
        g.endpoints.retain(|e| e.info.id != id);
        g.udp_sessions.retain(|_, u| !gone.contains(u));
        before != g.endpoints.len()
    }

    pub fn endpoint(&self, id: &str) -> Option<EndpointInfo> {
        self.lock()
            .endpoints
            .iter()
            .find(|e| e.info.id == id)
            .map(|e| e.info.clone())
    }

    pub fn endpoints(&self) -> Vec<EndpointInfo> {
        self.lock()
            .endpoints
            .iter()
            .map(|e| e.info.clone())
            .collect()
    }

    /// Tell the bridge the client's ufrag, pwd and DTLS fingerprints (never its candidates).
    pub fn set_remote_credentials(
        &self,
        id: &str,
        ufrag: Option<String>,
        pwd: Option<String>,
        fingerprints: Vec<Fingerprint>,
    ) -> bool {
        let mut g = self.lock();
        match g.endpoints.iter_mut().find(|e| e.info.id == id) {
            Some(e) => {
                if ufrag.is_some() {
                    e.info.remote_ufrag = ufrag;
                }
                if pwd.is_some() {
                    e.info.remote_pwd = pwd;
                }
                if !fingerprints.is_empty() {
                    e.info.remote_fingerprints = fingerprints;
                }
                true
            }
            None => false,
        }
    }

    /// The bridge's own check on the pair with `peer` succeeded (the pair is valid).
    pub fn mark_succeeded(&self, id: &str, peer: SocketAddr) {
        let mut g = self.lock();
        if let Some(e) = g.endpoints.iter_mut().find(|e| e.info.id == id) {
            if !e.info.succeeded_peers.contains(&peer) {
                e.info.succeeded_peers.push(peer);
            }
        }
    }

    /// The pair with `peer` is selected: the agent is COMPLETED, and TERMINATED after the
    /// termination delay (ice4j `Agent.scheduleTermination`).
    pub fn mark_selected(&self, id: &str, peer: SocketAddr) {
        let mut g = self.lock();
        if let Some(e) = g.endpoints.iter_mut().find(|e| e.info.id == id) {
            e.info.selected_peer = Some(peer);
            e.completed_at.get_or_insert_with(std::time::Instant::now);
        }
    }

    /// Advertise the DTLS certificate's fingerprint: endpoints created from now
    /// on carry it, and existing endpoints have their placeholder replaced.
    pub fn set_dtls_fingerprint(&self, fingerprint: Fingerprint) {
        let mut g = self.lock();
        for e in &mut g.endpoints {
            e.info.transport.fingerprints = vec![fingerprint.clone()];
        }
        g.dtls_fingerprint = Some(fingerprint);
    }

    /// The endpoint a UDP remote address is bound to (by its first valid
    /// Binding request, as `AbstractUdpListener` binds it), if still active.
    pub fn endpoint_for_udp_peer(&self, from: SocketAddr) -> Option<EndpointInfo> {
        let g = self.lock();
        let ufrag = g.udp_sessions.get(&from)?;
        g.endpoints
            .iter()
            .find(|e| &e.info.ufrag == ufrag)
            .map(|e| e.info.clone())
    }

    /// Handle one UDP datagram from `from`; the answer to send back, if any.
    pub fn handle_udp(&self, bytes: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
        self.handle_udp_outcome(bytes, from).into_answer()
    }

    /// Like [`Self::handle_udp`], saying why nothing is sent.
    pub fn handle_udp_outcome(&self, bytes: &[u8], from: SocketAddr) -> Outcome {
        let mut g = self.lock();
        let inner = &mut *g;
        let bound = inner
            .udp_sessions
            .get(&from)
            .filter(|u| inner.endpoints.iter().any(|e| &e.info.ufrag == *u))
            .cloned();
        let ufrag = match bound {
            Some(u) => u,
            None => match first_packet_ufrag(bytes) {
                None => return Outcome::Dropped("not a STUN Binding request with a USERNAME"),
                Some(u) => {
                    if !inner.endpoints.iter().any(|e| e.info.ufrag == u) {
                        return Outcome::Dropped("USERNAME does not start with an active ufrag");
                    }
                    inner.udp_sessions.insert(from, u.clone());
                    u
                }
            },
        };
        process_request(inner, &ufrag, bytes, from)
    }

    /// State machine for one accepted ICE-TCP connection.
    pub fn tcp_connection(&self, peer: SocketAddr) -> TcpConnection {
        TcpConnection {
            state: self.clone(),
            peer,
            buf: Vec::new(),
            preamble_done: false,
            ufrag: None,
            closed: false,
        }
    }
}

/// A random SHA-256-shaped fingerprint until the DTLS peer exists.
fn placeholder_fingerprint(rng: &mut StdRng) -> Fingerprint {
    let bytes: [u8; 32] = rng.random();
    Fingerprint {
        hash: "sha-256".into(),
        fingerprint: bytes
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        setup: "actpass".into(),
    }
}

/// ice4j `AbstractUdpListener.getUfrag`: magic cookie, decodes (FINGERPRINT
/// valid if present), Binding request, USERNAME -> the part before the first ':'.
pub fn first_packet_ufrag(bytes: &[u8]) -> Option<String> {
    if !stun::has_magic_cookie(bytes) {
        return None;
    }
    let m = stun::decode(bytes).ok()?;
    if m.verify_fingerprint() == Some(false) {
        return None;
    }
    if m.msg_type != stun::BINDING_REQUEST {
        return None;
    }
    let u = String::from_utf8_lossy(m.username()?).into_owned();
    // Java's String.split(":")[0]
    Some(u.split(':').next().unwrap_or("").to_string())
}

fn error_response(
    tid: [u8; 12],
    code: u16,
    reason: &str,
    unknown: Option<&[u16]>,
    software: &str,
    integrity_key: Option<&[u8]>,
) -> Vec<u8> {
    let mut b = MessageBuilder::new(stun::BINDING_ERROR, tid).error_code(code, reason);
    if let Some(u) = unknown {
        b = b.unknown_attributes(u);
    }
    if !software.is_empty() {
        b = b.software(software);
    }
    if let Some(k) = integrity_key {
        b = b.message_integrity(k);
    }
    b.fingerprint().build()
}

/// ice4j `ErrorCodeAttribute.getDefaultReasonPhrase(487)` is "Unknown Error"
/// (no case for 487), which is what `createBindingErrorResponse(ROLE_CONFLICT)` sends.
const ROLE_CONFLICT_REASON: &str = "Unknown Error";

/// StunStack + ConnectivityCheckServer for one endpoint (see module doc).
fn process_request(inner: &mut Inner, ufrag: &str, bytes: &[u8], from: SocketAddr) -> Outcome {
    let software = inner.settings.software.clone();
    let require_mi = inner.settings.require_message_integrity;
    let inner_termination_delay = inner.settings.termination_delay_ms;
    let Some(ep) = inner.endpoints.iter_mut().find(|e| e.info.ufrag == ufrag) else {
        return Outcome::Dropped("endpoint gone");
    };
    let msg = match stun::decode(bytes) {
        Ok(m) => m,
        Err(_) => return Outcome::Dropped("not a STUN message"),
    };
    if msg.verify_fingerprint() == Some(false) {
        return Outcome::Dropped("bad FINGERPRINT");
    }
    if msg.class() != Class::Request || msg.method() != 1 {
        return Outcome::Dropped("not a Binding request");
    }
    let tid = msg.transaction_id;
    if let Some(r) = ep.transactions.get(&tid) {
        return Outcome::Answer(r.clone());
    }
    let pwd = ep.info.pwd.clone();

    // StunStack.validateRequestAttributes
    let username = msg
        .username()
        .map(|u| String::from_utf8_lossy(u).into_owned());
    if let Some(u) = &username {
        let ok = match u.find(':') {
            Some(colon) if colon >= 1 => u[..colon] == ep.info.ufrag,
            _ => false,
        };
        if !ok {
            return Outcome::Answer(error_response(
                tid,
                401,
                &format!("unknown user {u}"),
                Some(&[]),
                &software,
                None,
            ));
        }
    }
    match msg.get_effective(attr::MESSAGE_INTEGRITY) {
        Some(_) if username.is_none() => {
            return Outcome::Answer(error_response(
                tid,
                400,
                "missing username",
                Some(&[]),
                &software,
                None,
            ));
        }
        Some(_) if msg.verify_integrity(pwd.as_bytes()) != Some(true) => {
            return Outcome::Answer(error_response(
                tid,
                401,
                "Wrong MESSAGE-INTEGRITY value",
                Some(&[]),
                &software,
                None,
            ));
        }
        Some(_) => {}
        None if require_mi => {
            return Outcome::Answer(error_response(
                tid,
                401,
                "Missing MESSAGE-INTEGRITY.",
                Some(&[]),
                &software,
                None,
            ));
        }
        None => {}
    }
    let unknown: Vec<u16> = msg
        .effective_attributes()
        .iter()
        .map(|a| a.typ)
        .filter(|t| *t < 0x8000 && !attr::ICE4J_KNOWN.contains(t))
        .collect();
    if !unknown.is_empty() {
        return Outcome::Answer(error_response(
            tid,
            420,
            "unknown attribute ",
            Some(&unknown),
            &software,
            None,
        ));
    }

    // ConnectivityCheckServer.processRequest
    let Some(username) = username else {
        return Outcome::Dropped("no USERNAME");
    };
    let local = username
        .split_once(':')
        .map(|(l, _)| l)
        .unwrap_or(&username);
    if local != ep.info.ufrag {
        return Outcome::Dropped("USERNAME not for this endpoint");
    }
    let controlling = ep.info.controlling;
    let conflict_attr = if controlling {
        attr::ICE_CONTROLLING
    } else {
        attr::ICE_CONTROLLED
    };
    if let Some(theirs) = msg.tie_breaker(conflict_attr) {
        if ep.info.tie_breaker >= theirs {
            let r = error_response(
                tid,
                487,
                ROLE_CONFLICT_REASON,
                None,
                &software,
                Some(pwd.as_bytes()),
            );
            ep.remember(tid, &r);
            return Outcome::Answer(r);
        }
        ep.info.controlling = !controlling;
    }
    if msg.priority().is_none() {
        let r = error_response(
            tid,
            400,
            "Missing PRIORITY attribute!",
            Some(&[]),
            &software,
            None,
        );
        ep.remember(tid, &r);
        return Outcome::Answer(r);
    }
    // ice4j ConnectivityCheckServer.processRequest / Agent.incomingCheckReceived: once the
    // agent is TERMINATED its check client is stopped, so a check from a new remote address,
    // or on a pair that succeeded but was not selected, cannot be acted on and gets 403;
    // the selected pair (consent, keepalives) and known pairs that never succeeded still
    // get 200.
    let delay = std::time::Duration::from_millis(inner_termination_delay);
    let terminated = ep.completed_at.is_some_and(|t| t.elapsed() >= delay);
    if terminated && ep.info.selected_peer != Some(from) {
        let known_unsucceeded =
            ep.info.learned_peers.contains(&from) && !ep.info.succeeded_peers.contains(&from);
        if !known_unsucceeded {
            let r = error_response(
                tid,
                403,
                "Cannot add new remote candidates in current ICE state",
                None,
                &software,
                Some(pwd.as_bytes()),
            );
            ep.remember(tid, &r);
            return Outcome::Answer(r);
        }
    }
    let mut b = MessageBuilder::new(stun::BINDING_SUCCESS, tid)
        .xor_mapped_address(from)
        .username(username.as_bytes());
    if !software.is_empty() {
        b = b.software(&software);
    }
    let r = b.message_integrity(pwd.as_bytes()).fingerprint().build();
    ep.remember(tid, &r);
    if !ep.info.learned_peers.contains(&from) {
        ep.info.learned_peers.push(from);
    }
    Outcome::Answer(r)
}

/// What to do after feeding bytes to a [`TcpConnection`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpOutput {
    /// Bytes to write to the socket (server hello and/or framed responses).
    pub write: Vec<u8>,
    /// Close the socket now (after writing `write`).
    pub close: bool,
    /// Why it closes.
    pub reason: Option<&'static str>,
}

/// One ICE-TCP connection (sans-IO).
#[derive(Debug)]
pub struct TcpConnection {
    state: BridgeState,
    peer: SocketAddr,
    buf: Vec<u8>,
    preamble_done: bool,
    ufrag: Option<String>,
    closed: bool,
}

impl TcpConnection {
    /// Feed received bytes.
    pub fn on_data(&mut self, bytes: &[u8]) -> TcpOutput {
        let mut out = TcpOutput::default();
        if self.closed {
            out.close = true;
            return out;
        }
        self.buf.extend_from_slice(bytes);
        if !self.preamble_done {
            if self.buf.len() < SSLTCP_CLIENT_HELLO.len() {
                return out;
            }
            self.preamble_done = true;
            if self.buf[..SSLTCP_CLIENT_HELLO.len()] == SSLTCP_CLIENT_HELLO {
                self.buf.drain(..SSLTCP_CLIENT_HELLO.len());
                out.write.extend_from_slice(&SSLTCP_SERVER_HELLO);
            }
        }
        loop {
            if self.buf.len() < 2 {
                break;
            }
            let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
            if self.buf.len() < 2 + len {
                break;
            }
            let frame: Vec<u8> = self.buf[2..2 + len].to_vec();
            self.buf.drain(..2 + len);
            let ufrag = match &self.ufrag {
                Some(u) => u.clone(),
                None => {
                    let Some(u) = first_packet_ufrag(&frame) else {
                        return self.close(
                            out,
                            "first frame is not a STUN Binding request with a USERNAME",
                        );
                    };
                    let known = self
                        .state
                        .lock()
                        .endpoints
                        .iter()
                        .any(|e| e.info.ufrag == u);
                    if !known {
                        return self.close(out, "no endpoint with that ufrag");
                    }
                    self.ufrag = Some(u.clone());
                    u
                }
            };
            if !stun::has_magic_cookie(&frame) {
                continue; // not STUN (e.g. DTLS): not for the ICE layer
            }
            let mut g = self.state.lock();
            if let Outcome::Answer(r) = process_request(&mut g, &ufrag, &frame, self.peer) {
                if let Some(f) = framing::frame(&r) {
                    out.write.extend_from_slice(&f);
                }
            }
        }
        out
    }

    fn close(&mut self, mut out: TcpOutput, reason: &'static str) -> TcpOutput {
        self.closed = true;
        out.close = true;
        out.reason = Some(reason);
        out
    }

    /// The endpoint this connection was bound to by its first frame.
    pub fn ufrag(&self) -> Option<&str> {
        self.ufrag.as_deref()
    }
}

/// Answer STUN on a UDP socket until it fails. Takes `UdpSocket` or
/// `Arc<UdpSocket>`.
pub async fn serve_udp<S: Borrow<tokio::net::UdpSocket>>(
    socket: S,
    state: BridgeState,
) -> std::io::Result<()> {
    let socket = socket.borrow();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = jc_stun::recv_from(socket, &mut buf).await?;
        match state.handle_udp_outcome(&buf[..n], from) {
            Outcome::Answer(r) => {
                if let Err(e) = socket.send_to(&r, from).await {
                    tracing::debug!("send to {from} failed: {e}");
                }
            }
            Outcome::Dropped(why) => tracing::debug!("dropped {n} bytes from {from}: {why}"),
        }
    }
}

/// Accept ICE-TCP connections until the listener fails; each connection runs
/// in its own task.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    state: BridgeState,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let st = state.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_tcp_stream(stream, peer, st).await {
                tracing::debug!("ICE-TCP connection from {peer}: {e}");
            }
        });
    }
}

/// Serve one accepted ICE-TCP stream.
pub async fn handle_tcp_stream(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: BridgeState,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = state.tcp_connection(peer);
    let mut buf = vec![0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let out = conn.on_data(&buf[..n]);
        if !out.write.is_empty() {
            stream.write_all(&out.write).await?;
        }
        if out.close {
            tracing::debug!("closing ICE-TCP connection from {peer}: {:?}", out.reason);
            let _ = stream.shutdown().await;
            return Ok(());
        }
    }
}
