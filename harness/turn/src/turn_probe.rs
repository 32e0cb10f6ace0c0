//! TURN probes: facts (never verdicts) about a TURN server reached over UDP or
//! over TLS, with TURN REST-API credentials as Prosody's `mod_external_services`
//! hands them out and coturn's `use-auth-secret` checks them.
//!
//! Each probe is one short exchange on a fresh connection (coturn ties the
//! USERNAME to the 5-tuple: a second credential set on the same connection
//! gets 437/441, `ns_turn_server.c` `check_stun_auth`), and records what came
//! back: error codes, XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS, LIFETIME,
//! SOFTWARE, timings, TLS chain. The checks that use them decide.
//!
//! Messages are built and parsed with webrtc-rs's `stun` 0.17 crate and the
//! TURN attributes of the `turn` 0.17 crate (`turn::proto::*`): they cover the
//! long-term credential mechanism (MD5 key, `MessageIntegrity::new_long_term_integrity`),
//! ERROR-CODE, REALM/NONCE and the TURN address attributes, whereas
//! `jc_stun` only knows short-term (ICE) integrity.
//!
//! Safety rule of the project: every destination goes through the caller's
//! [`DestinationFilter`] before a socket is created; a refused one yields
//! [`ProbeError::Refused`] and nothing is sent.
//!
//! Timeouts: over UDP a request is sent three times within 1.5 s (at 0, 500
//! and 1000 ms; RFC 8489 §6.2.1 retransmits unreliable transports); over TLS it
//! is sent once (RFC 8489 §6.2.2: no retransmission on reliable transports)
//! and the answer must come within 3 s, as must the TCP connect and the TLS
//! handshake.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use stun::agent::TransactionId;
use stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_SOFTWARE, ATTR_USERNAME};
use stun::error_code::ErrorCodeAttribute;
use stun::fingerprint::FINGERPRINT;
use stun::integrity::MessageIntegrity;
use stun::message::{
    Getter, Message, MessageType, Method, Setter, CLASS_ERROR_RESPONSE, CLASS_REQUEST,
    CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE, METHOD_CREATE_PERMISSION, METHOD_REFRESH,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use turn::proto::lifetime::Lifetime;
use turn::proto::peeraddr::PeerAddress;
use turn::proto::relayaddr::RelayedAddress;
use turn::proto::reqtrans::RequestedTransport;
use turn::proto::PROTO_UDP;

/// The lab's destination filter: `true` if the suite may send to the address.
pub type DestinationFilter = Arc<dyn Fn(SocketAddr) -> bool + Send + Sync>;

/// UDP: a request is sent at 0, 500 and 1000 ms and abandoned at 1500 ms.
pub const UDP_SENDS: u32 = 3;
pub const UDP_INTERVAL: Duration = Duration::from_millis(500);
/// TLS: TCP connect, handshake, and each request/response exchange.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(3);

/// TURN REST-API credentials (draft-uberti-behave-turn-rest-00 §2.2, as
/// Prosody 0.12 `plugins/mod_external_services.lua` `behave_turn_rest_credentials`
/// builds them): username `"<expiry unix secs>:<name>"` (just the expiry when
/// `name` is empty, which is what Jitsi's config produces), password
/// `base64(HMAC-SHA1(secret, username))`. coturn accepts the timestamp on
/// either side of the ':' and rejects it once expired (`userdb.c` `get_user_key`).
pub fn rest_credentials(secret: &str, name: &str, ttl: Duration) -> (String, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rest_credentials_at(secret, name, (now + ttl).as_secs())
}

/// [`rest_credentials`] for a given expiry (Unix seconds).
pub fn rest_credentials_at(secret: &str, name: &str, expiry: u64) -> (String, String) {
    let username = if name.is_empty() {
        expiry.to_string()
    } else {
        format!("{expiry}:{name}")
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = ring::hmac::sign(&key, username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    (username, password)
}

/// Long-term credentials for one probe.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a probe stopped. Every variant names the step it happened in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ProbeError {
    /// The filter refused this destination; nothing was created or sent.
    Refused(SocketAddr),
    Io {
        step: String,
        detail: String,
    },
    Timeout {
        step: String,
        after_ms: u64,
    },
    Tls {
        step: String,
        detail: String,
    },
    /// An answer that cannot be used (undecodable, missing attribute...).
    Protocol {
        step: String,
        detail: String,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Refused(a) => {
                write!(f, "destination {a} refused by the lab filter: nothing sent")
            }
            ProbeError::Io { step, detail } => write!(f, "{step}: {detail}"),
            ProbeError::Timeout { step, after_ms } => {
                write!(f, "{step}: no answer within {after_ms} ms")
            }
            ProbeError::Tls { step, detail } => write!(f, "{step}: TLS: {detail}"),
            ProbeError::Protocol { step, detail } => write!(f, "{step}: {detail}"),
        }
    }
}

impl std::error::Error for ProbeError {}

pub(crate) fn io_err(step: &str, e: impl fmt::Display) -> ProbeError {
    ProbeError::Io {
        step: step.into(),
        detail: e.to_string(),
    }
}

fn proto_err(step: &str, e: impl fmt::Display) -> ProbeError {
    ProbeError::Protocol {
        step: step.into(),
        detail: e.to_string(),
    }
}

/// Refuse before any socket exists.
pub(crate) fn check_destination(
    filter: &DestinationFilter,
    addr: SocketAddr,
) -> Result<(), ProbeError> {
    if filter(addr) {
        Ok(())
    } else {
        Err(ProbeError::Refused(addr))
    }
}

/// How the TURN server is reached.
#[derive(Clone)]
pub enum Transport {
    Udp,
    /// TURN over TLS (RFC 5766 §2.1 / RFC 8656 §3.1; coturn `tls-listening-port`).
    /// `roots`: verify the chain for `sni` against them and record the verdict;
    /// `None` records the chain without verifying it. The handshake proceeds
    /// either way (facts, not verdicts).
    Tls {
        sni: String,
        roots: Option<Arc<RootCertStore>>,
    },
}

/// A TURN server and the rules for reaching it.
#[derive(Clone)]
pub struct Target {
    pub server: SocketAddr,
    pub transport: Transport,
    pub filter: DestinationFilter,
}

impl Target {
    pub fn udp(server: SocketAddr, filter: DestinationFilter) -> Self {
        Target {
            server,
            transport: Transport::Udp,
            filter,
        }
    }

    pub fn tls(
        server: SocketAddr,
        sni: &str,
        roots: Option<Arc<RootCertStore>>,
        filter: DestinationFilter,
    ) -> Self {
        Target {
            server,
            transport: Transport::Tls {
                sni: sni.into(),
                roots,
            },
            filter,
        }
    }

    fn name(&self) -> &'static str {
        match self.transport {
            Transport::Udp => "udp",
            Transport::Tls { .. } => "tls",
        }
    }
}

/// What the TLS handshake showed.
#[derive(Clone, Default, serde::Serialize)]
pub struct TlsFacts {
    pub sni: String,
    /// e.g. "TLSv1_3".
    pub protocol: Option<String>,
    pub cipher_suite: Option<String>,
    /// The presented chain, end entity first (DER).
    #[serde(skip)]
    pub chain_der: Vec<Vec<u8>>,
    /// SHA-256 of each certificate of the chain (upper-case hex, ':'-joined).
    pub chain_sha256: Vec<String>,
    /// Whether the chain verifies for `sni` against the given roots
    /// (`None`: no roots given).
    pub verified: Option<bool>,
    /// Why it does not verify.
    pub verify_error: Option<String>,
    pub connect_ms: u64,
    pub handshake_ms: u64,
}

impl fmt::Debug for TlsFacts {
    /// Without the DER bytes (the SHA-256 list names the certificates).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFacts")
            .field("sni", &self.sni)
            .field("protocol", &self.protocol)
            .field("cipher_suite", &self.cipher_suite)
            .field("chain_sha256", &self.chain_sha256)
            .field("verified", &self.verified)
            .field("verify_error", &self.verify_error)
            .field("connect_ms", &self.connect_ms)
            .field("handshake_ms", &self.handshake_ms)
            .finish_non_exhaustive()
    }
}

/// What an Allocate exchange showed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AllocateFacts {
    /// "udp" or "tls".
    pub transport: String,
    pub server: Option<SocketAddr>,
    /// Our side of the 5-tuple.
    pub local: Option<SocketAddr>,
    pub tls: Option<TlsFacts>,
    /// ERROR-CODE of every error response, in order (normally `[401]`: the
    /// challenge to the unauthenticated Allocate).
    pub error_codes: Vec<u16>,
    pub error_reasons: Vec<String>,
    /// REALM of the challenge.
    pub realm: Option<String>,
    pub nonce_seen: bool,
    /// The authenticated Allocate succeeded.
    pub success: bool,
    /// XOR-RELAYED-ADDRESS.
    pub relayed: Option<SocketAddr>,
    /// XOR-MAPPED-ADDRESS: us as the server saw us.
    pub mapped: Option<SocketAddr>,
    pub lifetime_s: Option<u64>,
    pub software: Option<String>,
    /// MESSAGE-INTEGRITY of the success response verifies with our key.
    pub response_integrity_ok: Option<bool>,
    /// From the first Allocate sent to the success (or last) response.
    pub elapsed_ms: u64,
    /// Refresh LIFETIME=0 after a success: `Some(true)` if it was accepted.
    pub freed: Option<bool>,
    /// The first error, naming its step.
    pub error: Option<ProbeError>,
}

impl AllocateFacts {
    /// ERROR-CODE of the last response, if it was an error (the verdict on
    /// the credentials: 401 for a wrong password).
    pub fn final_code(&self) -> Option<u16> {
        if self.success {
            None
        } else {
            self.error_codes.last().copied()
        }
    }
}

/// What a CreatePermission after a successful Allocate showed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PermissionFacts {
    pub allocate: AllocateFacts,
    pub peer: Option<Ipv4Addr>,
    /// "success" or "error" (None: no answer, see `error`).
    pub class: Option<String>,
    pub code: Option<u16>,
    pub reason: Option<String>,
    pub elapsed_ms: u64,
    pub error: Option<ProbeError>,
}

/// UDP: unauthenticated Allocate -> 401 with REALM/NONCE -> authenticated
/// Allocate -> facts; then Refresh LIFETIME=0 frees it.
pub async fn allocate_udp(
    server: SocketAddr,
    creds: &Credentials,
    filter: DestinationFilter,
) -> AllocateFacts {
    allocate(&Target::udp(server, filter), creds).await
}

/// The same over TLS, with the TLS facts (chain, protocol, verdict for `sni`).
pub async fn allocate_tls(
    server: SocketAddr,
    sni: &str,
    roots: Option<Arc<RootCertStore>>,
    creds: &Credentials,
    filter: DestinationFilter,
) -> AllocateFacts {
    allocate(&Target::tls(server, sni, roots, filter), creds).await
}

/// Allocate on a fresh connection to `target`, then free the allocation.
pub async fn allocate(target: &Target, creds: &Credentials) -> AllocateFacts {
    let mut facts = AllocateFacts::default();
    let session = open_and_allocate(target, creds, &mut facts).await;
    if let Some(mut s) = session {
        facts.freed = Some(s.free().await);
        s.close().await;
    }
    facts
}

/// An Allocate with a wrong password on a fresh connection: the facts'
/// [`AllocateFacts::final_code`] is the server's verdict (coturn: 401 with a
/// new challenge, `check_stun_auth`).
pub async fn wrong_password(target: &Target, creds: &Credentials) -> AllocateFacts {
    let wrong = Credentials::new(creds.username.clone(), format!("{}-wrong", creds.password));
    allocate(target, &wrong).await
}

/// Allocate, then CreatePermission for `peer` (XOR-PEER-ADDRESS, port 0:
/// RFC 8656 §9.1 ignores it) and record the answer (coturn: 403 "Forbidden IP"
/// for a peer its `good_peer_addr` denies). The peer itself is never sent
/// anything, so it is not a destination for the filter; the server is.
pub async fn create_permission(
    target: &Target,
    creds: &Credentials,
    peer: Ipv4Addr,
) -> PermissionFacts {
    let mut facts = PermissionFacts {
        peer: Some(peer),
        ..PermissionFacts::default()
    };
    let Some(mut s) = open_and_allocate(target, creds, &mut facts.allocate).await else {
        return facts;
    };
    let t0 = Instant::now();
    match s
        .authenticated("CreatePermission", METHOD_CREATE_PERMISSION, &|| {
            vec![Box::new(PeerAddress {
                ip: IpAddr::V4(peer),
                port: 0,
            })]
        })
        .await
    {
        Ok(m) => {
            facts.class = Some(class_name(&m).into());
            if let Some((c, r)) = error_code(&m) {
                facts.code = Some(c);
                facts.reason = Some(r);
            }
        }
        Err(e) => facts.error = Some(e),
    }
    facts.elapsed_ms = ms(t0.elapsed());
    facts.allocate.freed = Some(s.free().await);
    s.close().await;
    facts
}

// ---------------------------------------------------------------------------
// The exchange machinery.

/// A connection to the TURN server that carries whole STUN messages.
enum Link {
    Udp(UdpSocket),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>, Vec<u8>),
}

impl Link {
    /// Send `req` and wait for the response with its transaction id.
    async fn transact(&mut self, req: &Message, step: &str) -> Result<Message, ProbeError> {
        let tid = req.transaction_id;
        match self {
            Link::Udp(sock) => {
                let mut buf = vec![0u8; 2048];
                for _ in 0..UDP_SENDS {
                    sock.send(&req.raw).await.map_err(|e| io_err(step, e))?;
                    let deadline = tokio::time::Instant::now() + UDP_INTERVAL;
                    loop {
                        match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                            Err(_) => break, // resend
                            Ok(Err(e)) => return Err(io_err(step, e)),
                            Ok(Ok(n)) => {
                                if let Some(m) = decode_response(&buf[..n], tid) {
                                    return Ok(m);
                                }
                            }
                        }
                    }
                }
                Err(ProbeError::Timeout {
                    step: format!("{step} ({UDP_SENDS} sends)"),
                    after_ms: ms(UDP_INTERVAL * UDP_SENDS),
                })
            }
            Link::Tls(stream, pending) => {
                let fut = async {
                    stream
                        .write_all(&req.raw)
                        .await
                        .map_err(|e| io_err(step, e))?;
                    loop {
                        let frame = read_frame(stream.as_mut(), pending)
                            .await
                            .map_err(|e| io_err(step, e))?;
                        if let Some(m) = decode_response(&frame, tid) {
                            return Ok(m);
                        }
                    }
                };
                tokio::time::timeout(TLS_TIMEOUT, fut)
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProbeError::Timeout {
                            step: step.into(),
                            after_ms: ms(TLS_TIMEOUT),
                        })
                    })
            }
        }
    }
}

/// A response to `tid`, or `None` for anything else (ChannelData, other
/// transactions, garbage: ignored, as RFC 8489 §6.3 says to).
fn decode_response(bytes: &[u8], tid: TransactionId) -> Option<Message> {
    let mut m = Message::new();
    m.raw = bytes.to_vec();
    m.decode().ok()?;
    (m.transaction_id == tid && m.typ.class != CLASS_REQUEST).then_some(m)
}

/// Total length of the first message in a TURN byte stream, or `None` if more
/// bytes are needed. RFC 5766 §11.5 / RFC 8656 §12.5 and coturn
/// `ns_turn_msg.c` `stun_get_message_len_str`: the first two bits tell a STUN
/// message (00: 20-byte header + Length) from ChannelData (01: 4-byte header +
/// Length, padded to a multiple of 4 on stream transports, the padding not
/// counted in Length). Returns `(total_with_padding, message_len)`.
pub fn stream_frame_len(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let (total, msg) = match buf[0] >> 6 {
        0 => {
            if len % 4 != 0 {
                return Err(format!(
                    "STUN length {len} is not a multiple of 4: stream out of sync"
                ));
            }
            (20 + len, 20 + len)
        }
        1 => ((4 + len + 3) & !3, 4 + len),
        _ => {
            return Err(format!(
                "first byte {:#04x} is neither STUN nor ChannelData: stream out of sync",
                buf[0]
            ))
        }
    };
    Ok((buf.len() >= total).then_some((total, msg)))
}

/// Read one whole message (STUN or ChannelData, padding stripped) from a
/// stream, keeping extra bytes in `pending`.
pub(crate) async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
    pending: &mut Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    loop {
        match stream_frame_len(pending) {
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Ok(Some((total, msg))) => {
                let frame = pending[..msg].to_vec();
                pending.drain(..total);
                return Ok(frame);
            }
            Ok(None) => {}
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// An allocation in progress or made, with its long-term credential state.
struct Session {
    link: Link,
    creds: Credentials,
    realm: String,
    nonce: String,
    /// 438 answers that were retried with a fresh NONCE (code, reason).
    stale: Vec<(u16, String)>,
}

type Setters = Vec<Box<dyn Setter>>;

impl Session {
    /// One authenticated request (USERNAME, REALM, NONCE, MESSAGE-INTEGRITY,
    /// FINGERPRINT after `extra`), retried once with the new NONCE on 438
    /// (RFC 8489 §9.2.5: a stale nonce is not a failure).
    async fn authenticated(
        &mut self,
        step: &str,
        method: Method,
        extra: &(dyn Fn() -> Setters + Sync),
    ) -> Result<Message, ProbeError> {
        let req = self.authenticated_request(step, method, extra)?;
        let mut res = self.link.transact(&req, step).await?;
        if let Some((438, reason)) = error_code(&res) {
            if let Ok(n) = TextAttribute::get_from_as(&res, ATTR_NONCE) {
                self.stale.push((438, reason));
                self.nonce = n.text;
                let req = self.authenticated_request(step, method, extra)?;
                res = self.link.transact(&req, step).await?;
            }
        }
        Ok(res)
    }

    /// Built synchronously: the attribute boxes are not `Send`.
    fn authenticated_request(
        &self,
        step: &str,
        method: Method,
        extra: &(dyn Fn() -> Setters + Sync),
    ) -> Result<Message, ProbeError> {
        let mut setters: Setters = vec![
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(method, CLASS_REQUEST)),
        ];
        setters.extend(extra());
        setters.push(Box::new(TextAttribute::new(
            ATTR_USERNAME,
            self.creds.username.clone(),
        )));
        setters.push(Box::new(TextAttribute::new(ATTR_REALM, self.realm.clone())));
        setters.push(Box::new(TextAttribute::new(ATTR_NONCE, self.nonce.clone())));
        setters.push(Box::new(self.key()));
        setters.push(Box::new(FINGERPRINT));
        build(step, &setters)
    }

    /// RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password).
    fn key(&self) -> MessageIntegrity {
        MessageIntegrity::new_long_term_integrity(
            self.creds.username.clone(),
            self.realm.clone(),
            self.creds.password.clone(),
        )
    }

    /// Refresh LIFETIME=0 (RFC 8656 §7.1): deletes the allocation.
    async fn free(&mut self) -> bool {
        let zero = || -> Setters { vec![Box::new(Lifetime(Duration::ZERO))] };
        match self
            .authenticated("Refresh(0)", METHOD_REFRESH, &zero)
            .await
        {
            Ok(m) => m.typ.class == CLASS_SUCCESS_RESPONSE,
            Err(_) => false,
        }
    }

    async fn close(self) {
        if let Link::Tls(mut s, _) = self.link {
            let _ = tokio::time::timeout(Duration::from_millis(500), s.shutdown()).await;
        }
    }
}

fn build(step: &str, setters: &[Box<dyn Setter>]) -> Result<Message, ProbeError> {
    let mut m = Message::new();
    m.build(setters).map_err(|e| proto_err(step, e))?;
    Ok(m)
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn class_name(m: &Message) -> &'static str {
    if m.typ.class == CLASS_SUCCESS_RESPONSE {
        "success"
    } else if m.typ.class == CLASS_ERROR_RESPONSE {
        "error"
    } else {
        "other"
    }
}

fn error_code(m: &Message) -> Option<(u16, String)> {
    if m.typ.class != CLASS_ERROR_RESPONSE {
        return None;
    }
    let mut e = ErrorCodeAttribute::default();
    e.get_from(m).ok()?;
    Some((e.code.0, String::from_utf8_lossy(&e.reason).into_owned()))
}

/// Open the link, run the challenge and the authenticated Allocate, filling
/// `facts`; the session if the allocation exists.
async fn open_and_allocate(
    target: &Target,
    creds: &Credentials,
    facts: &mut AllocateFacts,
) -> Option<Session> {
    facts.transport = target.name().into();
    facts.server = Some(target.server);
    let link = match open(target, facts).await {
        Ok(l) => l,
        Err(e) => {
            facts.error = Some(e);
            return None;
        }
    };
    let mut s = Session {
        link,
        creds: creds.clone(),
        realm: String::new(),
        nonce: String::new(),
        stale: Vec::new(),
    };
    let t0 = Instant::now();
    let result = allocate_on(&mut s, facts).await;
    facts.elapsed_ms = ms(t0.elapsed());
    match result {
        Ok(true) => Some(s),
        Ok(false) => {
            s.close().await;
            None
        }
        Err(e) => {
            facts.error = Some(e);
            s.close().await;
            None
        }
    }
}

/// RFC 8656 §7.1-7.3 with the long-term mechanism (RFC 8489 §9.2): the first
/// Allocate carries no credentials and draws 401 + REALM + NONCE.
async fn allocate_on(s: &mut Session, facts: &mut AllocateFacts) -> Result<bool, ProbeError> {
    // Jitsi relays media over UDP whatever the client-server transport.
    let transport = || RequestedTransport {
        protocol: PROTO_UDP,
    };
    let first = build(
        "Allocate",
        &[
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
            Box::new(transport()),
            Box::new(FINGERPRINT),
        ],
    )?;
    let res = s.link.transact(&first, "unauthenticated Allocate").await?;
    record(&res, facts);
    if res.typ.class == CLASS_SUCCESS_RESPONSE {
        // A server without authentication: the allocation exists.
        return Ok(true);
    }
    let realm = TextAttribute::get_from_as(&res, ATTR_REALM);
    let nonce = TextAttribute::get_from_as(&res, ATTR_NONCE);
    facts.realm = realm.as_ref().ok().map(|r| r.text.clone());
    facts.nonce_seen = nonce.is_ok();
    let (Ok(realm), Ok(nonce)) = (realm, nonce) else {
        return Err(proto_err(
            "unauthenticated Allocate",
            "error response without REALM and NONCE: no challenge to answer",
        ));
    };
    s.realm = realm.text;
    s.nonce = nonce.text;
    let mut res = s
        .authenticated("authenticated Allocate", METHOD_ALLOCATE, &|| {
            vec![Box::new(transport())]
        })
        .await?;
    for (code, reason) in s.stale.drain(..) {
        facts.error_codes.push(code);
        facts.error_reasons.push(reason);
    }
    record(&res, facts);
    if res.typ.class == CLASS_SUCCESS_RESPONSE {
        facts.response_integrity_ok = Some(s.key().check(&mut res).is_ok());
    }
    Ok(facts.success)
}

fn record(res: &Message, facts: &mut AllocateFacts) {
    if let Some((c, r)) = error_code(res) {
        facts.error_codes.push(c);
        facts.error_reasons.push(r);
    }
    if let Ok(sw) = TextAttribute::get_from_as(res, ATTR_SOFTWARE) {
        facts.software = Some(sw.text);
    }
    if res.typ.class != CLASS_SUCCESS_RESPONSE {
        return;
    }
    facts.success = true;
    let mut relayed = RelayedAddress::default();
    if relayed.get_from(res).is_ok() {
        facts.relayed = Some(SocketAddr::new(relayed.ip, relayed.port));
    }
    let mut mapped = XorMappedAddress::default();
    if mapped.get_from(res).is_ok() {
        facts.mapped = Some(SocketAddr::new(mapped.ip, mapped.port));
    }
    let mut lifetime = Lifetime::default();
    if lifetime.get_from(res).is_ok() {
        facts.lifetime_s = Some(lifetime.0.as_secs());
    }
}

/// Filter, then connect (UDP: a connected socket; TLS: TCP + handshake).
async fn open(target: &Target, facts: &mut AllocateFacts) -> Result<Link, ProbeError> {
    check_destination(&target.filter, target.server)?;
    match &target.transport {
        Transport::Udp => {
            let any: SocketAddr = if target.server.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let sock = UdpSocket::bind(any)
                .await
                .map_err(|e| io_err("UDP bind", e))?;
            sock.connect(target.server)
                .await
                .map_err(|e| io_err("UDP connect", e))?;
            facts.local = sock.local_addr().ok();
            Ok(Link::Udp(sock))
        }
        Transport::Tls { sni, roots } => {
            let mut tls = TlsFacts::default();
            let r = tls_connect(target.server, sni, roots.clone(), &mut tls).await;
            facts.tls = Some(tls);
            let stream = r?;
            facts.local = stream.get_ref().0.local_addr().ok();
            Ok(Link::Tls(Box::new(stream), Vec::new()))
        }
    }
}

/// TCP connect and TLS handshake to an already-filtered `server`, recording
/// the chain and whether it verifies for `sni` against `roots`. The
/// handshake itself accepts any chain (signatures are still checked), so
/// that a misissued certificate is a recorded fact, not a lost probe.
pub(crate) async fn tls_connect(
    server: SocketAddr,
    sni: &str,
    roots: Option<Arc<RootCertStore>>,
    facts: &mut TlsFacts,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ProbeError> {
    facts.sni = sni.into();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = match roots {
        None => None,
        Some(r) => Some(
            rustls::client::WebPkiServerVerifier::builder_with_provider(r, provider.clone())
                .build()
                .map_err(|e| ProbeError::Tls {
                    step: "TLS setup".into(),
                    detail: e.to_string(),
                })?,
        ),
    };
    let verifier = Arc::new(RecordingVerifier {
        webpki,
        provider: provider.clone(),
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::Tls {
            step: "TLS setup".into(),
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_string()).map_err(|e| ProbeError::Tls {
        step: "TLS setup".into(),
        detail: format!("server name {sni:?}: {e}"),
    })?;
    let t0 = Instant::now();
    let tcp = tokio::time::timeout(TLS_TIMEOUT, TcpStream::connect(server))
        .await
        .map_err(|_| ProbeError::Timeout {
            step: format!("TCP connect to {server}"),
            after_ms: ms(TLS_TIMEOUT),
        })?
        .map_err(|e| io_err(&format!("TCP connect to {server}"), e))?;
    let _ = tcp.set_nodelay(true);
    facts.connect_ms = ms(t0.elapsed());
    let t1 = Instant::now();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::time::timeout(TLS_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ProbeError::Timeout {
            step: "TLS handshake".into(),
            after_ms: ms(TLS_TIMEOUT),
        })?;
    facts.handshake_ms = ms(t1.elapsed());
    if let Some((chain, verdict)) = verifier
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        facts.chain_sha256 = chain.iter().map(|c| sha256_hex(c)).collect();
        facts.chain_der = chain;
        if let Some(v) = verdict {
            facts.verified = Some(v.is_ok());
            facts.verify_error = v.err();
        }
    }
    let stream = stream.map_err(|e| ProbeError::Tls {
        step: "TLS handshake".into(),
        detail: e.to_string(),
    })?;
    let conn = stream.get_ref().1;
    facts.protocol = conn.protocol_version().map(|v| format!("{v:?}"));
    facts.cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    Ok(stream)
}

/// SHA-256 as SDP and Colibri2 write fingerprints: upper-case hex, ':'-joined.
pub fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

type Seen = (Vec<Vec<u8>>, Option<Result<(), String>>);

/// Records the chain and the webpki verdict, then accepts; handshake
/// signatures are verified for real with the provider's algorithms.
#[derive(Debug)]
struct RecordingVerifier {
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        let verdict = self.webpki.as_ref().map(|v| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some((chain, verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_credentials_match_the_turn_crate() {
        // turn::auth::generate_long_term_credentials is the name-less form.
        let (u, p) = rest_credentials_at("s3cret", "", 1_767_225_600);
        assert_eq!(u, "1767225600");
        let (tu, tp) =
            turn::auth::generate_long_term_credentials("s3cret", Duration::ZERO).unwrap();
        let (u2, p2) = rest_credentials_at("s3cret", "", tu.parse().unwrap());
        assert_eq!((u2, p2), (tu, tp));
        assert_eq!(p.len(), 28);
        let (u, _) = rest_credentials_at("s3cret", "alice", 42);
        assert_eq!(u, "42:alice");
    }

    #[test]
    fn stream_framing() {
        // STUN: 20 + Length.
        let mut stun = vec![0x01, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42];
        stun.resize(24, 0);
        assert_eq!(stream_frame_len(&stun[..10]), Ok(None));
        assert_eq!(stream_frame_len(&stun), Ok(Some((24, 24))));
        // ChannelData: 4 + Length, padded to 4 on streams.
        let cd = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0, 0x40];
        assert_eq!(stream_frame_len(&cd[..9]), Ok(None));
        assert_eq!(stream_frame_len(&cd), Ok(Some((12, 9))));
        assert!(stream_frame_len(&[0x80, 0, 0, 0]).is_err());
    }

    #[tokio::test]
    async fn read_frame_splits_coalesced_messages() {
        let mut bytes = vec![0x40, 0x01, 0x00, 0x01, 9, 0, 0, 0];
        bytes.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
        bytes.extend_from_slice(&[7; 12]);
        let mut reader: &[u8] = &bytes;
        let mut pending = Vec::new();
        assert_eq!(
            read_frame(&mut reader, &mut pending).await.unwrap(),
            [0x40, 1, 0, 1, 9]
        );
        assert_eq!(
            read_frame(&mut reader, &mut pending).await.unwrap().len(),
            20
        );
        assert!(read_frame(&mut reader, &mut pending).await.is_err());
    }
}
