//! The bridge's WebRTC side: the controlling agent's own connectivity checks
//! toward a peer-reflexive client, then DTLS (server), SCTP and a data channel
//! that echoes every message, all on the bridge's single UDP socket.
//!
//! The bridge is told the client's ufrag/pwd but never its candidates, so the
//! only remote candidates it ever has are peer-reflexive ones learned from a
//! client check that [`crate::responder`] answered with success (ice4j
//! `Agent.incomingCheckReceived` -> `ConnectivityCheckServer` learns the prflx
//! remote candidate and `Agent.triggerCheck` schedules a check back on the
//! pair). What it sends back follows ice4j:
//!
//! - `ice/ConnectivityCheckClient.java` `startCheckForPair`: PRIORITY (the
//!   local candidate's priority computed for type peer-reflexive),
//!   ICE-CONTROLLING with the agent's tie-breaker, USE-CANDIDATE only when the
//!   pair is nominated, USERNAME `remoteUfrag:localUfrag`
//!   (`Agent.generateLocalUserName`), MESSAGE-INTEGRITY keyed with the remote
//!   pwd; SOFTWARE and FINGERPRINT are added by `Message.prepareForEncoding`
//!   (`org.ice4j.ALWAYS_SIGN`), so the wire order is PRIORITY, ICE-CONTROLLING,
//!   [USE-CANDIDATE], USERNAME, SOFTWARE, MESSAGE-INTEGRITY, FINGERPRINT;
//! - `ice/ConnectivityCheckClient.java` `processResponse`: the response must
//!   come from the address the request went to (`checkSymmetricAddresses`),
//!   a success must carry XOR-MAPPED-ADDRESS (`processSuccessResponse`); here
//!   MESSAGE-INTEGRITY (client pwd) and FINGERPRINT must verify too (RFC 8445
//!   7.2.5.2 / RFC 5389 10.1.3);
//! - `ice/DefaultNominator.java` (regular nomination; JVB's default strategy
//!   `NominateFirstHostOrReflexiveValid` nominates the first valid pair whose
//!   local candidate is host or server-reflexive, which ours always is): once
//!   a pair is valid, `Agent.nominate` marks it nominated and
//!   `ConnectivityCheckClient.startCheckForPair` sends a second check with
//!   USE-CANDIDATE; its success selects the pair (`Agent.checkListStatesUpdated`);
//! - retransmissions as ice4j's `stack/StunClientTransaction.java` defaults:
//!   first wait 100 ms, doubling up to 1600 ms, 6 retransmissions.
//!
//! Then, over the selected pair only (RFC 7983 demultiplexing on the first
//! byte: 0-3 STUN stays with jc-ice, everything else from the selected peer
//! goes to DTLS): webrtc-rs's `dtls` crate as the DTLS server (the bridge
//! offers `setup:actpass`, a browser then takes `active`), with one
//! self-signed ECDSA P-256 certificate per bridge process (JVB's `DtlsStack`
//! shares one certificate across endpoints), whose SHA-256 fingerprint is what
//! the Colibri2 transport advertises ([`BridgeState::set_dtls_fingerprint`]);
//! webrtc-rs's `webrtc-sctp` association (both ends initiate, ports
//! 5000/5000, as webrtc-rs's `RTCSctpTransport` does) and `webrtc-data` channels (DCEP) that
//! echo every message with its string/binary flag. webrtc-rs's own ICE agent
//! and its NAT 1:1 option are never used here.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::candidates::{CandidateType, Fingerprint};
use crate::responder::{BridgeState, EndpointInfo, Outcome};
use jc_stun::{self as stun, Class, MessageBuilder};

/// ice4j `StunClientTransaction.DEFAULT_ORIGINAL_WAIT_INTERVAL` (ms).
const RTO_INITIAL: Duration = Duration::from_millis(100);
/// ice4j `StunClientTransaction.DEFAULT_MAX_WAIT_INTERVAL` (ms).
const RTO_MAX: Duration = Duration::from_millis(1600);
/// ice4j `StunClientTransaction.DEFAULT_MAX_RETRANSMISSIONS`.
const MAX_RETRANSMISSIONS: u32 = 6;
/// SCTP port of the WebRTC data channel association (RFC 8841 default 5000).
pub const SCTP_PORT: u16 = 5000;
/// JVB's DTLS handshake timeout (jitsi-media-transform `DtlsStack`: 30 s).
const DTLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// SHA-256 fingerprint of a DER certificate as SDP/Colibri2 write it:
/// upper-case hex pairs joined by ':'.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The bridge's DTLS certificate and its advertised fingerprint.
#[derive(Clone)]
pub struct DtlsIdentity {
    certificate: dtls::crypto::Certificate,
    fingerprint: Fingerprint,
}

impl std::fmt::Debug for DtlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl DtlsIdentity {
    /// A fresh self-signed ECDSA P-256 certificate (webrtc-rs's
    /// `Certificate::generate_self_signed`, rcgen's default algorithm).
    pub fn generate() -> Result<Self, String> {
        let certificate =
            dtls::crypto::Certificate::generate_self_signed(vec!["jitsi-videobridge".to_owned()])
                .map_err(|e| format!("generating the DTLS certificate: {e}"))?;
        let der = certificate
            .certificate
            .first()
            .ok_or("generated certificate chain is empty")?;
        let fingerprint = Fingerprint {
            hash: "sha-256".into(),
            fingerprint: sha256_fingerprint(der.as_ref()),
            setup: "actpass".into(),
        };
        Ok(DtlsIdentity {
            certificate,
            fingerprint,
        })
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

/// What the bridge saw of one (endpoint, peer) pair, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerFacts {
    pub endpoint_id: String,
    /// The client as learned peer-reflexively (source of its valid check).
    pub peer: SocketAddr,
    /// Binding requests the bridge sent to it (retransmissions included).
    pub checks_sent: u32,
    /// The ordinary check succeeded: the pair is valid.
    pub valid: bool,
    /// The USE-CANDIDATE check succeeded: the pair is selected.
    pub selected: bool,
    /// Milliseconds from the first check back to selection.
    pub selected_after_ms: Option<u64>,
    pub dtls: bool,
    /// The SRTP profile the bridge chose from the client's use_srtp.
    pub srtp_profile: Option<String>,
    /// SHA-256 fingerprint of the client's DTLS certificate (checked against the signalled
    /// fingerprint during the handshake).
    pub client_fingerprint: Option<String>,
    pub sctp: bool,
    pub channels_opened: u32,
    pub messages_echoed: u64,
    pub error: Option<String>,
}

struct Pending {
    endpoint_id: String,
    peer: SocketAddr,
    remote_pwd: String,
    nominating: bool,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Default)]
struct PeerInner {
    pending: HashMap<[u8; 12], Pending>,
    checking: HashSet<(String, SocketAddr)>,
    /// Selected peers: their non-STUN datagrams go to the DTLS layer.
    routes: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// endpoint id -> selected peer
    selected: HashMap<String, SocketAddr>,
    facts: Vec<PeerFacts>,
    /// The socket [`BridgePeer::serve_udp`] serves (DTLS goes out on it).
    socket: Option<Arc<UdpSocket>>,
    /// Non-STUN datagrams from a peer being checked, before selection.
    early: HashMap<SocketAddr, Vec<Vec<u8>>>,
}

/// How many early non-STUN datagrams are kept per peer being checked.
const EARLY_DATAGRAMS: usize = 16;

/// The bridge's WebRTC peer over a [`BridgeState`]. Cheap to clone.
#[derive(Clone)]
pub struct BridgePeer {
    state: BridgeState,
    identity: Arc<DtlsIdentity>,
    inner: Arc<Mutex<PeerInner>>,
}

impl std::fmt::Debug for BridgePeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgePeer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl BridgePeer {
    /// Generate the bridge's certificate and make every endpoint (present
    /// and future) advertise its fingerprint.
    pub fn new(state: BridgeState) -> Result<Self, String> {
        Ok(Self::with_identity(state, DtlsIdentity::generate()?))
    }

    pub fn with_identity(state: BridgeState, identity: DtlsIdentity) -> Self {
        state.set_dtls_fingerprint(identity.fingerprint.clone());
        BridgePeer {
            state,
            identity: Arc::new(identity),
            inner: Arc::new(Mutex::new(PeerInner::default())),
        }
    }

    pub fn state(&self) -> &BridgeState {
        &self.state
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.identity.fingerprint
    }

    fn lock(&self) -> MutexGuard<'_, PeerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything seen so far, one entry per (endpoint, peer) checked.
    pub fn facts(&self) -> Vec<PeerFacts> {
        self.lock().facts.clone()
    }

    /// The selected peer of an endpoint, if a pair was selected.
    pub fn selected_peer(&self, endpoint_id: &str) -> Option<SocketAddr> {
        self.lock().selected.get(endpoint_id).copied()
    }

    fn update(&self, endpoint_id: &str, peer: SocketAddr, f: impl FnOnce(&mut PeerFacts)) {
        let mut g = self.lock();
        let idx = match g
            .facts
            .iter()
            .position(|x| x.endpoint_id == endpoint_id && x.peer == peer)
        {
            Some(i) => i,
            None => {
                g.facts.push(PeerFacts {
                    endpoint_id: endpoint_id.to_string(),
                    peer,
                    checks_sent: 0,
                    valid: false,
                    selected: false,
                    selected_after_ms: None,
                    dtls: false,
                    srtp_profile: None,
                    client_fingerprint: None,
                    sctp: false,
                    channels_opened: 0,
                    messages_echoed: 0,
                    error: None,
                });
                g.facts.len() - 1
            }
        };
        f(&mut g.facts[idx]);
    }

    /// Serve the bridge's UDP port: STUN requests are answered by
    /// [`BridgeState::handle_udp_outcome`] (ice4j's rules), responses to the
    /// bridge's own checks complete them, and non-STUN datagrams from a
    /// selected peer go to its DTLS connection. Replaces
    /// [`crate::responder::serve_udp`] when the bridge is a WebRTC peer.
    pub async fn serve_udp(&self, socket: Arc<UdpSocket>) -> std::io::Result<()> {
        self.lock().socket = Some(socket.clone());
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = jc_stun::recv_from(&socket, &mut buf).await?;
            self.on_datagram(&buf[..n], from, &socket).await;
        }
    }

    async fn on_datagram(&self, data: &[u8], from: SocketAddr, socket: &Arc<UdpSocket>) {
        // RFC 7983: first byte 0..=3 is STUN.
        let is_stun = data.first().is_some_and(|b| *b <= 3) && stun::has_magic_cookie(data);
        if !is_stun {
            let mut g = self.lock();
            if let Some(tx) = g.routes.get(&from) {
                if tx.try_send(data.to_vec()).is_err() {
                    tracing::debug!("DTLS queue of {from} full or closed: dropped");
                }
            } else if g.checking.iter().any(|(_, p)| *p == from) {
                // A controlled client may select the pair (and send its
                // first DTLS flight) before its answer to our nominating
                // check arrives: webrtc-rs's ControlledSelector
                // `handle_binding_request` selects, then answers. ice4j's
                // component socket likewise lets through datagrams from an
                // address whose check was valid, so keep them for the pair.
                let q = g.early.entry(from).or_default();
                if q.len() < EARLY_DATAGRAMS {
                    q.push(data.to_vec());
                }
            } else {
                tracing::debug!(
                    "dropped {} non-STUN bytes from {from}: no selected pair",
                    data.len()
                );
            }
            return;
        }
        if self.on_response(data, from) {
            return;
        }
        match self.state.handle_udp_outcome(data, from) {
            Outcome::Answer(r) => {
                if let Err(e) = socket.send_to(&r, from).await {
                    tracing::debug!("send to {from} failed: {e}");
                }
                if r.get(..2) == Some(&stun::BINDING_SUCCESS.to_be_bytes()[..]) {
                    self.on_check_answered(from, socket);
                }
            }
            Outcome::Dropped(why) => {
                tracing::debug!("dropped {} bytes from {from}: {why}", data.len())
            }
        }
    }

    /// A STUN response: complete the bridge's own transaction. `true` when
    /// the datagram was a response (consumed either way).
    fn on_response(&self, data: &[u8], from: SocketAddr) -> bool {
        let Ok(m) = stun::decode(data) else {
            return false;
        };
        if !matches!(m.class(), Class::Success | Class::Error) {
            return false;
        }
        let Some(p) = self.lock().pending.remove(&m.transaction_id) else {
            tracing::debug!("response from {from} to no transaction of ours: dropped");
            return true;
        };
        let verdict = if from != p.peer {
            // ConnectivityCheckClient.checkSymmetricAddresses
            Err(format!(
                "non-symmetric response: came from {from}, the check went to {}",
                p.peer
            ))
        } else if m.verify_fingerprint() != Some(true) {
            Err("response without a valid FINGERPRINT".into())
        } else if m.verify_integrity(p.remote_pwd.as_bytes()) != Some(true) {
            Err("response MESSAGE-INTEGRITY does not verify with the client's pwd".into())
        } else if m.class() == Class::Error {
            Err(match m.error_code() {
                Some((c, r)) => format!("error response {c} {r}"),
                None => "malformed error response".into(),
            })
        } else if m.xor_mapped_address().is_none() {
            Err("success response without XOR-MAPPED-ADDRESS".into())
        } else {
            Ok(())
        };
        if verdict.is_ok() && p.nominating {
            // Select synchronously so the client's first DTLS flight, which
            // may be the very next datagram, already has a route.
            self.select(&p.endpoint_id, p.peer);
        }
        let _ = p.done.send(verdict);
        true
    }

    /// The responder answered a valid check from `from`: like ice4j's
    /// triggered check, check the peer-reflexive candidate back (once).
    fn on_check_answered(&self, from: SocketAddr, socket: &Arc<UdpSocket>) {
        let Some(info) = self.state.endpoint_for_udp_peer(from) else {
            return;
        };
        if !info.controlling {
            // A controlled bridge waits for the client's nomination; the
            // fake bridge always runs controlling (jicofo asks for it).
            return;
        }
        let (Some(ru), Some(rp)) = (info.remote_ufrag.clone(), info.remote_pwd.clone()) else {
            tracing::debug!(
                "endpoint {}: valid check from {from} but no client credentials: cannot check back",
                info.id
            );
            return;
        };
        {
            let mut g = self.lock();
            if g.selected.contains_key(&info.id) || !g.checking.insert((info.id.clone(), from)) {
                return;
            }
        }
        let me = self.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let id = info.id.clone();
            let mut result = Ok(());
            for nominating in [false, true] {
                result = me
                    .transact(&socket, &info, &ru, &rp, from, nominating)
                    .await;
                match &result {
                    Ok(()) if !nominating => {
                        me.state.mark_succeeded(&id, from);
                        me.update(&id, from, |f| f.valid = true)
                    }
                    Ok(()) => me.update(&id, from, |f| {
                        f.selected_after_ms = Some(t0.elapsed().as_millis() as u64)
                    }),
                    Err(_) => break,
                }
            }
            if let Err(e) = result {
                tracing::debug!("endpoint {id}: checks to {from} failed: {e}");
                me.update(&id, from, |f| f.error = Some(e));
            }
            let mut g = me.lock();
            g.checking.remove(&(id, from));
            g.early.remove(&from);
        });
    }

    /// One client transaction with retransmissions.
    async fn transact(
        &self,
        socket: &UdpSocket,
        info: &EndpointInfo,
        remote_ufrag: &str,
        remote_pwd: &str,
        peer: SocketAddr,
        nominating: bool,
    ) -> Result<(), String> {
        let tid: [u8; 12] = rand::random();
        let username = format!("{remote_ufrag}:{}", info.ufrag);
        let mut b = MessageBuilder::new(stun::BINDING_REQUEST, tid)
            .priority(prflx_priority(info))
            .ice_controlling(info.tie_breaker);
        if nominating {
            b = b.use_candidate();
        }
        b = b.username(username.as_bytes());
        let software = self.state.settings().software;
        if !software.is_empty() {
            b = b.software(&software);
        }
        let request = b
            .message_integrity(remote_pwd.as_bytes())
            .fingerprint()
            .build();
        let (tx, mut rx) = oneshot::channel();
        self.lock().pending.insert(
            tid,
            Pending {
                endpoint_id: info.id.clone(),
                peer,
                remote_pwd: remote_pwd.to_string(),
                nominating,
                done: tx,
            },
        );
        let mut wait = RTO_INITIAL;
        for _ in 0..=MAX_RETRANSMISSIONS {
            if let Err(e) = socket.send_to(&request, peer).await {
                tracing::debug!("check to {peer} not sent: {e}");
            }
            self.update(&info.id, peer, |f| f.checks_sent += 1);
            match tokio::time::timeout(wait, &mut rx).await {
                Ok(Ok(verdict)) => return verdict,
                Ok(Err(_)) => return Err("transaction abandoned".into()),
                Err(_) => wait = (wait * 2).min(RTO_MAX),
            }
        }
        self.lock().pending.remove(&tid);
        Err(format!(
            "no response from {peer} after {} transmissions{}",
            MAX_RETRANSMISSIONS + 1,
            if nominating { " (nomination)" } else { "" }
        ))
    }

    /// Select `peer` for the endpoint and start the DTLS server on it.
    fn select(&self, endpoint_id: &str, peer: SocketAddr) {
        let socket_rx = {
            let mut g = self.lock();
            if g.selected.contains_key(endpoint_id) {
                return;
            }
            g.selected.insert(endpoint_id.to_string(), peer);
            self.state.mark_selected(endpoint_id, peer);
            let (tx, rx) = mpsc::channel(512);
            for d in g.early.remove(&peer).unwrap_or_default() {
                let _ = tx.try_send(d);
            }
            g.routes.insert(peer, tx);
            rx
        };
        self.update(endpoint_id, peer, |f| f.selected = true);
        let me = self.clone();
        let id = endpoint_id.to_string();
        tokio::spawn(async move {
            if let Err(e) = me.run_webrtc(&id, peer, socket_rx).await {
                tracing::warn!("endpoint {id}: WebRTC with {peer}: {e}");
                me.update(&id, peer, |f| {
                    f.error.get_or_insert(e);
                });
            }
        });
    }

    async fn run_webrtc(
        &self,
        id: &str,
        peer: SocketAddr,
        mut rx: mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), String> {
        let socket = self.socket_for(peer)?;
        // JVB's rules on the ClientHello come first (crate::dtls): no use_srtp is refused with
        // a fatal internal_error, no common profile ends the handshake, and the profile is the
        // bridge's choice, so the library is given only that one.
        let mut reader = crate::dtls::HelloReader::default();
        let mut first = Vec::new();
        let hello = loop {
            let d = tokio::time::timeout(DTLS_HANDSHAKE_TIMEOUT, rx.recv())
                .await
                .map_err(|_| "no DTLS ClientHello within the handshake timeout".to_string())?
                .ok_or("peer route closed")?;
            let got = reader.feed(&d).map_err(|e| format!("DTLS: {e}"));
            first.push(d);
            if let Some(h) = got? {
                break h;
            }
        };
        let profile = match &hello.srtp_profiles {
            None => {
                let alert = crate::dtls::internal_error_alert(hello.record_sequence);
                let _ = socket.send_to(&alert, peer).await;
                return Err("DTLS: the ClientHello has no use_srtp extension: refused with a fatal internal_error alert, as JVB's processClientExtensions does".into());
            }
            Some(offered) => crate::dtls::choose_profile(offered).ok_or_else(|| {
                format!(
                    "DTLS: the client offers SRTP profiles {offered:04x?}, none of the bridge's (SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80): the handshake stops, as JVB's DtlsException does"
                )
            })?,
        };
        self.update(id, peer, |f| f.srtp_profile = Some(format!("{profile:?}")));
        let signalled = self
            .state
            .endpoint(id)
            .map(|e| e.remote_fingerprints)
            .unwrap_or_default();
        let conn: Arc<dyn webrtc_util::Conn + Send + Sync> = Arc::new(PeerConn {
            socket,
            peer,
            first: std::sync::Mutex::new(first.into()),
            rx: tokio::sync::Mutex::new(rx),
        });
        let config =
            crate::dtls::server_config(self.identity.certificate.clone(), profile, signalled);
        let dtls_conn = tokio::time::timeout(
            DTLS_HANDSHAKE_TIMEOUT,
            dtls::conn::DTLSConn::new(conn, config, false, None),
        )
        .await
        .map_err(|_| "DTLS handshake timed out".to_string())?
        .map_err(|e| format!("DTLS handshake: {e}"))?;
        let client_fp = dtls_conn
            .connection_state()
            .await
            .peer_certificates
            .first()
            .map(|c| sha256_fingerprint(c));
        self.update(id, peer, |f| {
            f.dtls = true;
            f.client_fingerprint = client_fp;
        });
        let assoc = Arc::new(
            // Both WebRTC peers send INIT (webrtc-rs's `RTCSctpTransport::start`
            // always uses `Association::client`; browsers do the same): the
            // server path of webrtc-sctp never learns the peer's a_rwnd from
            // INIT and stalls on its first SACK.
            webrtc_sctp::association::Association::client(webrtc_sctp::association::Config {
                net_conn: Arc::new(dtls_conn),
                max_receive_buffer_size: 0,
                max_message_size: 0,
                mtu: 0,
                name: format!("jvb-{id}"),
                remote_port: SCTP_PORT,
                local_port: SCTP_PORT,
            })
            .await
            .map_err(|e| format!("SCTP association: {e}"))?,
        );
        self.update(id, peer, |f| f.sctp = true);
        let none: [Arc<webrtc_data::data_channel::DataChannel>; 0] = [];
        loop {
            let channel = webrtc_data::data_channel::DataChannel::accept(
                &assoc,
                webrtc_data::data_channel::Config::default(),
                &none,
            )
            .await
            .map_err(|e| format!("data channel accept: {e}"))?;
            self.update(id, peer, |f| f.channels_opened += 1);
            let me = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let (n, is_string) = match channel.read_data_channel(&mut buf).await {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::debug!("data channel of {id} closed: {e}");
                            return;
                        }
                    };
                    let msg = Bytes::copy_from_slice(&buf[..n]);
                    if let Err(e) = channel.write_data_channel(&msg, is_string).await {
                        tracing::debug!("echo on {id} failed: {e}");
                        return;
                    }
                    me.update(&id, peer, |f| f.messages_echoed += 1);
                }
            });
        }
    }

    fn socket_for(&self, peer: SocketAddr) -> Result<Arc<UdpSocket>, String> {
        self.lock()
            .socket
            .clone()
            .ok_or_else(|| format!("no socket to reach {peer}"))
    }
}

/// PRIORITY of the bridge's checks: its UDP host candidate's priority
/// recomputed for type peer-reflexive (`LocalCandidate.computePriorityForType`):
/// type preference 110, the host candidate's local preference and component.
fn prflx_priority(info: &EndpointInfo) -> u32 {
    let host = info
        .transport
        .candidates
        .iter()
        .find(|c| c.typ == CandidateType::Host && !c.protocol.is_tcp())
        .map(|c| c.priority)
        .unwrap_or(jc_stun::client::PRFLX_PRIORITY);
    (110 << 24) | (host & 0x00ff_ffff)
}

/// A `webrtc_util::Conn` over the bridge's UDP socket for one selected peer:
/// reads what [`BridgePeer::serve_udp`] routes to it, writes to the peer.
struct PeerConn {
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    /// The datagrams of the ClientHello the bridge's rules looked at, given to the library first.
    first: std::sync::Mutex<std::collections::VecDeque<Vec<u8>>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
}

#[async_trait]
impl webrtc_util::Conn for PeerConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "PeerConn is bound to its peer".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let first = self
            .first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        if let Some(d) = first {
            let n = d.len().min(buf.len());
            buf[..n].copy_from_slice(&d[..n]);
            return Ok(n);
        }
        match self.rx.lock().await.recv().await {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            None => Err(webrtc_util::Error::Other("peer route closed".into())),
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        Ok((self.recv(buf).await?, self.peer))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        Ok(self.socket.send_to(buf, self.peer).await?)
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IceSettings;
    use crate::responder::EndpointSpec;
    use jc_stun::attr;

    const CLIENT_PWD: &str = "clientpwd0123456789abcdef";

    fn names(m: &stun::Message) -> Vec<String> {
        m.attributes.iter().map(|a| attr::name(a.typ)).collect()
    }

    /// Next Binding request the bridge sends to `client` (skipping the
    /// response to the client's own check).
    async fn next_request(client: &UdpSocket) -> stun::Message {
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, _) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
                .await
                .expect("the bridge checks back")
                .unwrap();
            let m = stun::decode(&buf[..n]).unwrap();
            if m.class() == Class::Request {
                return m;
            }
        }
    }

    fn answer(m: &stun::Message, client: SocketAddr) -> Vec<u8> {
        MessageBuilder::new(stun::BINDING_SUCCESS, m.transaction_id)
            .xor_mapped_address(client)
            .message_integrity(CLIENT_PWD.as_bytes())
            .fingerprint()
            .build()
    }

    /// ice4j `ConnectivityCheckClient.startCheckForPair` + `DefaultNominator`:
    /// an ordinary check, then the nominating one with USE-CANDIDATE, both
    /// keyed with the client's pwd; loopback only.
    #[tokio::test]
    async fn checks_back_like_ice4j_and_selects_on_nomination() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let bridge = socket.local_addr().unwrap();
        let settings = IceSettings {
            udp_port: bridge.port(),
            ..IceSettings::default()
        };
        let state = BridgeState::with_seed(settings, vec![], 5);
        let peer = BridgePeer::new(state.clone()).unwrap();
        let info = state.add_endpoint(EndpointSpec {
            remote_ufrag: Some("cliu".into()),
            remote_pwd: Some(CLIENT_PWD.into()),
            ..EndpointSpec::default()
        });
        assert_eq!(
            info.transport.fingerprints,
            vec![peer.fingerprint().clone()]
        );
        let p = peer.clone();
        tokio::spawn(async move { p.serve_udp(socket).await });

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let me = client.local_addr().unwrap();
        let mut rng = rand::rng();
        let (req, _) = jc_stun::client::binding_request(&mut rng, &info.ufrag, "cliu", &info.pwd);
        client.send_to(&req, bridge).await.unwrap();

        let check = next_request(&client).await;
        assert_eq!(
            names(&check),
            [
                "PRIORITY",
                "ICE-CONTROLLING",
                "USERNAME",
                "SOFTWARE",
                "MESSAGE-INTEGRITY",
                "FINGERPRINT"
            ]
        );
        let username = format!("cliu:{}", info.ufrag);
        assert_eq!(check.username(), Some(username.as_bytes()));
        assert_eq!(check.verify_integrity(CLIENT_PWD.as_bytes()), Some(true));
        assert_eq!(check.verify_fingerprint(), Some(true));
        assert_eq!(
            check.tie_breaker(attr::ICE_CONTROLLING),
            Some(info.tie_breaker)
        );
        assert_eq!(check.priority(), Some(jc_stun::client::PRFLX_PRIORITY));
        assert_eq!(peer.selected_peer(&info.id), None);
        client.send_to(&answer(&check, me), bridge).await.unwrap();

        let nomination = next_request(&client).await;
        assert!(names(&nomination).contains(&"USE-CANDIDATE".to_string()));
        assert_eq!(
            nomination.verify_integrity(CLIENT_PWD.as_bytes()),
            Some(true)
        );
        client
            .send_to(&answer(&nomination, me), bridge)
            .await
            .unwrap();
        for _ in 0..100 {
            if peer.selected_peer(&info.id).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(peer.selected_peer(&info.id), Some(me));
        let f = &peer.facts()[0];
        assert!(f.valid && f.selected && f.error.is_none(), "{f:?}");
    }

    /// A response whose integrity is not keyed with the client's pwd does not
    /// validate the pair.
    #[tokio::test]
    async fn a_response_with_bad_integrity_is_not_valid() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let bridge = socket.local_addr().unwrap();
        let state = BridgeState::with_seed(IceSettings::default(), vec![], 6);
        let peer = BridgePeer::new(state.clone()).unwrap();
        let info = state.add_endpoint(EndpointSpec {
            remote_ufrag: Some("cliu".into()),
            remote_pwd: Some(CLIENT_PWD.into()),
            ..EndpointSpec::default()
        });
        let p = peer.clone();
        tokio::spawn(async move { p.serve_udp(socket).await });
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let me = client.local_addr().unwrap();
        let mut rng = rand::rng();
        let (req, _) = jc_stun::client::binding_request(&mut rng, &info.ufrag, "cliu", &info.pwd);
        client.send_to(&req, bridge).await.unwrap();
        let check = next_request(&client).await;
        let bad = MessageBuilder::new(stun::BINDING_SUCCESS, check.transaction_id)
            .xor_mapped_address(me)
            .message_integrity(b"not the client pwd")
            .fingerprint()
            .build();
        client.send_to(&bad, bridge).await.unwrap();
        for _ in 0..100 {
            if peer.facts().first().is_some_and(|f| f.error.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let f = &peer.facts()[0];
        assert!(!f.valid && !f.selected, "{f:?}");
        assert!(
            f.error
                .as_deref()
                .unwrap_or("")
                .contains("MESSAGE-INTEGRITY"),
            "{f:?}"
        );
    }
}
