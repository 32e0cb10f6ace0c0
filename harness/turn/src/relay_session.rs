//! A relay-only WebRTC session: a client that can reach nothing but TCP
//! completes ICE, DTLS and an SCTP data-channel echo with the bridge through
//! the TURN server over TLS (Jitsi's `turns:` service on 5349, or 443 behind
//! nginx's `ssl_preread`).
//!
//! Layers, bottom up (each opens only after the one below works):
//!
//! 1. `tls`: TCP + TLS to the TURN server ([`crate::turn_probe::tls_connect`]).
//! 2. `allocate`: webrtc-rs's `turn` 0.17 client over [`StreamConn`], a
//!    `webrtc_util::Conn` that frames STUN and ChannelData on the TLS byte
//!    stream (RFC 5766 §11.5 / RFC 8656 §12.5; the crate itself has no stream
//!    support, `turn/src/client/` in the research note). It allocates a UDP
//!    relay (REQUESTED-TRANSPORT 17, hard-coded in `turn/src/client/mod.rs`)
//!    and hands back the relayed `Conn` (`relay_conn.rs`), which creates the
//!    permission and the channel binding on first send.
//! 3. `ice`: [`IceAgent`], a controlled-role agent (RFC 8445 §7) on the
//!    relayed `Conn`. The bridge is controlling and is never told our
//!    candidates: it learns the relayed address peer-reflexively from our
//!    check, checks it back, and nominates (regular nomination, USE-CANDIDATE
//!    on its second check, `harness/videobridge/src/peer.rs`).
//! 4. `dtls`: webrtc-rs `dtls` 0.17 as the DTLS client (the client takes
//!    `setup:active` toward JVB's `actpass`) over [`PairConn`], the selected
//!    pair's non-STUN datagrams (RFC 7983 demultiplexing).
//! 5. `sctp`, `channel`, `echo`: `webrtc-sctp` association 5000/5000 (both
//!    WebRTC ends send INIT, `Association::client`), a `webrtc-data` channel
//!    (DCEP, RFC 8832) and one message that must come back unchanged.
//!
//! Facts, not verdicts: [`RelaySessionFacts`] has the timing of every stage,
//! the selected pair and the first error naming its stage. Every wait is
//! bounded: TLS and Allocate by `allocate_timeout`, everything after by
//! `budget`; teardown waits at most [`CLOSE_WAIT`] per layer.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use jc_stun::client::{verify_response, CheckRequest, Role, PRFLX_PRIORITY};
use jc_stun::{self as ice_stun, attr, Class, MessageBuilder};
use rustls::RootCertStore;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant as Deadline;
use tokio_rustls::client::TlsStream;
use webrtc_util::Conn;

use crate::turn_probe::{
    self, check_destination, ms, Credentials, DestinationFilter, TlsFacts, TLS_TIMEOUT,
};

type DynConn = Arc<dyn Conn + Send + Sync>;

/// Default budget for ICE through echo (after the allocation).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);
/// Longest wait for each layer's close at the end.
pub const CLOSE_WAIT: Duration = Duration::from_millis(500);
/// ice4j's/RFC 8489 STUN retransmission over the UDP leg behind the relay:
/// first wait 100 ms, doubling, at most 1600 ms (ice4j `StunClientTransaction`).
const RTO_INITIAL: Duration = Duration::from_millis(100);
const RTO_MAX: Duration = Duration::from_millis(1600);
/// The WebRTC data channel association's SCTP ports (RFC 8841 default).
const SCTP_PORT: u16 = 5000;
/// The DTLS client opens even stream ids (RFC 8832 §6).
const CHANNEL_ID: u16 = 0;

/// What the session needs; see [`RelaySessionParams::new`] for the defaults.
#[derive(Clone)]
pub struct RelaySessionParams {
    /// The TURN server's TLS port (Jitsi: `turns` on 5349).
    pub turn: SocketAddr,
    pub sni: String,
    /// Verify the TURN chain against these (recorded in `tls`, never fatal).
    pub roots: Option<Arc<RootCertStore>>,
    pub credentials: Credentials,
    /// The bridge's ICE credentials and UDP candidates (Colibri2 transport).
    pub bridge_ufrag: String,
    pub bridge_pwd: String,
    pub bridge_candidates: Vec<SocketAddr>,
    /// The bridge's host candidates: the addresses a coturn on the bridge's own host rewrites
    /// into its public one (see `IceAgent::start`). Never a server-reflexive candidate: that
    /// one is public already, and a coturn without `external-ip` reports its private address
    /// as the relayed one, which must not be mistaken for the rewrite. Defaults to every
    /// candidate (the lab passes host candidates only).
    pub bridge_host_candidates: Vec<SocketAddr>,
    /// SHA-256 fingerprint the bridge advertises (hex pairs, ':'-joined).
    pub bridge_fingerprint_sha256: String,
    /// Ours (ufrag, pwd, DTLS certificate), as given to the bridge: it needs them to check us
    /// back and, as JVB does, to verify our certificate against the signalled fingerprint.
    pub client: jc_webrtc_client::Credentials,
    pub filter: DestinationFilter,
    /// ICE through echo.
    pub budget: Duration,
    /// TLS + Allocate.
    pub allocate_timeout: Duration,
    /// Sent as a string message on the data channel.
    pub message: String,
}

impl RelaySessionParams {
    /// Defaults: no roots (chain recorded, not verified), budget 5 s,
    /// allocation 6 s (connect/handshake and two exchanges of 3 s at most).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        turn: SocketAddr,
        sni: &str,
        credentials: Credentials,
        bridge_ufrag: &str,
        bridge_pwd: &str,
        bridge_candidates: Vec<SocketAddr>,
        bridge_fingerprint_sha256: &str,
        client: jc_webrtc_client::Credentials,
        filter: DestinationFilter,
    ) -> Self {
        RelaySessionParams {
            turn,
            sni: sni.into(),
            roots: None,
            credentials,
            bridge_ufrag: bridge_ufrag.into(),
            bridge_pwd: bridge_pwd.into(),
            bridge_host_candidates: bridge_candidates.clone(),
            bridge_candidates,
            bridge_fingerprint_sha256: bridge_fingerprint_sha256.into(),
            client,
            filter,
            budget: DEFAULT_BUDGET,
            allocate_timeout: TLS_TIMEOUT * 2,
            message: "jitsi-conformance relay echo".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Tls,
    Allocate,
    Ice,
    Dtls,
    Sctp,
    Channel,
    Echo,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Tls => "tls",
            Stage::Allocate => "allocate",
            Stage::Ice => "ice",
            Stage::Dtls => "dtls",
            Stage::Sctp => "sctp",
            Stage::Channel => "channel",
            Stage::Echo => "echo",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageTiming {
    pub stage: Stage,
    pub ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageError {
    pub stage: Stage,
    pub detail: String,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stage, self.detail)
    }
}

/// One of our connectivity checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckFacts {
    pub peer: SocketAddr,
    pub ok: bool,
    /// XOR-MAPPED-ADDRESS of the success: the relayed address as the bridge saw it.
    pub mapped: Option<SocketAddr>,
    pub transmissions: u32,
    pub rtt_ms: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IceFacts {
    /// Advertised candidates the filter refused (never sent to).
    pub refused_candidates: Vec<SocketAddr>,
    pub checks: Vec<CheckFacts>,
    /// Bridge Binding requests answered with success.
    pub requests_answered: u32,
    /// Bridge requests not answered, with why.
    pub requests_rejected: Vec<String>,
    /// The address whose USE-CANDIDATE request we answered.
    pub nominated_by: Option<SocketAddr>,
    /// The bridge's requests carried ICE-CONTROLLING (it is the controlling agent).
    pub bridge_controlling: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SelectedPair {
    pub relayed: SocketAddr,
    pub peer: SocketAddr,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RelaySessionFacts {
    /// Completed stages in order, with their duration.
    pub stages: Vec<StageTiming>,
    pub tls: Option<TlsFacts>,
    /// XOR-RELAYED-ADDRESS of the allocation.
    pub relayed: Option<SocketAddr>,
    pub ice: IceFacts,
    pub selected_pair: Option<SelectedPair>,
    pub srtp_profile: Option<String>,
    /// SHA-256 of the certificate the bridge presented in DTLS.
    pub bridge_certificate_sha256: Option<String>,
    pub echo_matches: Option<bool>,
    pub total_ms: u64,
    /// The first error, naming its stage.
    pub error: Option<StageError>,
}

impl RelaySessionFacts {
    pub fn stage_ms(&self, stage: Stage) -> Option<u64> {
        self.stages.iter().find(|s| s.stage == stage).map(|s| s.ms)
    }
}

/// Run the session; never waits longer than `allocate_timeout + budget`
/// plus the bounded teardown.
pub async fn relay_session(params: RelaySessionParams) -> RelaySessionFacts {
    let t0 = Instant::now();
    let mut facts = RelaySessionFacts::default();
    let mut layers = Layers::default();
    if let Err(e) = run(&params, &mut facts, &mut layers).await {
        facts.error = Some(e);
    }
    layers.close().await;
    facts.total_ms = ms(t0.elapsed());
    facts
}

/// Everything opened so far, closed top-down at the end.
#[derive(Default)]
struct Layers {
    stream: Option<Arc<StreamConn>>,
    client: Option<turn::client::Client>,
    relay: Option<DynConn>,
    agent: Option<IceAgent>,
    dtls: Option<Arc<dtls::conn::DTLSConn>>,
    assoc: Option<Arc<webrtc_sctp::association::Association>>,
    channel: Option<webrtc_data::data_channel::DataChannel>,
}

impl Layers {
    async fn close(self) {
        if let Some(c) = self.channel {
            bounded(c.close()).await;
        }
        if let Some(a) = self.assoc {
            bounded(a.close()).await;
        }
        if let Some(d) = self.dtls {
            bounded(d.close()).await;
        }
        if let Some(a) = self.agent {
            a.reader.abort();
        }
        if let Some(r) = self.relay {
            // Refresh LIFETIME=0, sent without waiting (relay_conn.rs `close`).
            bounded(r.close()).await;
        }
        if let Some(c) = self.client {
            bounded(c.close()).await;
        }
        if let Some(s) = self.stream {
            bounded(s.close()).await;
        }
    }
}

/// Teardown: wait at most [`CLOSE_WAIT`], ignore the outcome.
async fn bounded<F: std::future::Future>(f: F) {
    let _ = tokio::time::timeout(CLOSE_WAIT, f).await;
}

/// Time a stage against a deadline, recording it on success.
async fn stage<T, F>(
    facts: &mut RelaySessionFacts,
    stage: Stage,
    deadline: Deadline,
    f: F,
) -> Result<T, StageError>
where
    F: std::future::Future<Output = Result<T, String>>,
{
    let t = Instant::now();
    match tokio::time::timeout_at(deadline, f).await {
        Ok(Ok(v)) => {
            facts.stages.push(StageTiming {
                stage,
                ms: ms(t.elapsed()),
            });
            Ok(v)
        }
        Ok(Err(detail)) => Err(StageError { stage, detail }),
        Err(_) => Err(StageError {
            stage,
            detail: format!(
                "budget exhausted after {} ms in this stage",
                ms(t.elapsed())
            ),
        }),
    }
}

async fn run(
    p: &RelaySessionParams,
    facts: &mut RelaySessionFacts,
    layers: &mut Layers,
) -> Result<(), StageError> {
    let err = |stage, detail: String| StageError { stage, detail };
    let alloc_deadline = Deadline::now() + p.allocate_timeout;

    // 1. TLS. The filter sees the server before any socket exists.
    check_destination(&p.filter, p.turn).map_err(|e| err(Stage::Tls, e.to_string()))?;
    let mut tls = TlsFacts::default();
    let r = stage(facts, Stage::Tls, alloc_deadline, async {
        turn_probe::tls_connect(p.turn, &p.sni, p.roots.clone(), &mut tls)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    facts.tls = Some(tls);
    let stream = Arc::new(StreamConn::new(r?, p.turn).map_err(|e| err(Stage::Tls, e))?);
    layers.stream = Some(stream.clone());

    // 2. Allocate with the turn crate over the framed stream.
    let relay = stage(facts, Stage::Allocate, alloc_deadline, async {
        let client = turn::client::Client::new(turn::client::ClientConfig {
            stun_serv_addr: String::new(),
            // An IP literal: resolved without DNS (webrtc-util `lookup_host`).
            turn_serv_addr: p.turn.to_string(),
            username: p.credentials.username.clone(),
            password: p.credentials.password.clone(),
            realm: String::new(), // taken from the 401
            software: String::new(),
            // The crate retransmits even on reliable transports
            // (client/transaction.rs: first after rto, then every 1600 ms,
            // the cap applying from the second wait on); waiting the TLS
            // timeout first keeps duplicates off a healthy stream. Below
            // 32768 so its u16 doubling cannot overflow.
            rto_in_ms: TLS_TIMEOUT.as_millis() as u16,
            conn: stream.clone(),
            vnet: None,
        })
        .await
        .map_err(|e| format!("TURN client: {e}"))?;
        layers.client = Some(client.clone());
        client
            .listen()
            .await
            .map_err(|e| format!("TURN client: {e}"))?;
        let relay = client.allocate().await.map_err(|e| e.to_string())?;
        Ok::<DynConn, String>(Arc::new(relay))
    })
    .await?;
    layers.relay = Some(relay.clone());
    let relayed = relay
        .local_addr()
        .map_err(|e| err(Stage::Allocate, e.to_string()))?;
    facts.relayed = Some(relayed);

    // 3. ICE, controlled.
    let deadline = Deadline::now() + p.budget;
    let agent = IceAgent::start(p, relay.clone());
    layers.agent = Some(agent.clone());
    let peer = stage(facts, Stage::Ice, deadline, agent.select(p)).await;
    facts.ice = agent.facts();
    let peer = peer?;
    facts.selected_pair = Some(SelectedPair { relayed, peer });

    // 4. DTLS client over the selected pair, bridge verified by fingerprint.
    let pair: DynConn = Arc::new(agent.pair_conn(peer, relayed));
    let expected = p.bridge_fingerprint_sha256.to_ascii_uppercase();
    let dtls = stage(facts, Stage::Dtls, deadline, async {
        let certificate = p.client.certificate.clone();
        let want = expected.clone();
        // The browser's ClientHello (use_srtp with both profiles), as the DTLS issue asks:
        // JVB refuses one without use_srtp. No CA in WebRTC: the certificate is pinned by the
        // advertised fingerprint (RFC 8122 section 5, RFC 8827 section 6.5) below.
        let mut config = jc_webrtc_client::browser_config(certificate);
        config.verify_peer_certificate = Some(Arc::new(move |certs: &[Vec<u8>], _: &[_]| {
            let got = certs
                .first()
                .map(|c| turn_probe::sha256_hex(c))
                .unwrap_or_default();
            if got == want {
                Ok(())
            } else {
                Err(dtls::Error::Other(format!(
                    "bridge certificate sha-256 {got} is not the advertised {want}"
                )))
            }
        }));
        let conn = dtls::conn::DTLSConn::new(pair, config, true, None)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(Arc::new(conn))
    })
    .await?;
    layers.dtls = Some(dtls.clone());
    facts.srtp_profile = Some(format!("{:?}", dtls.selected_srtpprotection_profile()));
    facts.bridge_certificate_sha256 = dtls
        .connection_state()
        .await
        .peer_certificates
        .first()
        .map(|c| turn_probe::sha256_hex(c));

    // 5. SCTP, data channel, echo.
    let assoc = stage(facts, Stage::Sctp, deadline, async {
        webrtc_sctp::association::Association::client(webrtc_sctp::association::Config {
            net_conn: dtls.clone(),
            max_receive_buffer_size: 0,
            max_message_size: 0,
            mtu: 0,
            name: "jc-relay-client".into(),
            remote_port: SCTP_PORT,
            local_port: SCTP_PORT,
        })
        .await
        .map(Arc::new)
        .map_err(|e| format!("association: {e}"))
    })
    .await?;
    layers.assoc = Some(assoc.clone());
    let channel = stage(facts, Stage::Channel, deadline, async {
        let config = webrtc_data::data_channel::Config {
            label: "jc-relay-echo".into(),
            ..Default::default()
        };
        webrtc_data::data_channel::DataChannel::dial(&assoc, CHANNEL_ID, config)
            .await
            .map_err(|e| format!("DCEP open: {e}"))
    })
    .await?;
    layers.channel = Some(channel.clone());
    let echoed = stage(facts, Stage::Echo, deadline, async {
        let sent = Bytes::from(p.message.clone().into_bytes());
        channel
            .write_data_channel(&sent, true)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut buf = vec![0u8; 65536];
        let (n, is_string) = channel
            .read_data_channel(&mut buf)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        Ok(buf[..n] == sent[..] && is_string)
    })
    .await?;
    facts.echo_matches = Some(echoed);
    if !echoed {
        return Err(err(Stage::Echo, "the message came back different".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// StreamConn: a datagram `Conn` over the TLS byte stream to the TURN server.

/// `webrtc_util::Conn` for the `turn` client over TURN-over-TLS: `send_to`
/// writes the bytes as they are (the crate already pads ChannelData to 4,
/// `proto/chandata.rs`), and a reader task cuts the received stream into
/// whole messages, one per `recv_from` (the crate decodes one message per
/// read and ends its read loop on a partial one, `client/mod.rs` `listen`).
pub struct StreamConn {
    server: SocketAddr,
    local: SocketAddr,
    writer: tokio::sync::Mutex<WriteHalf<TlsStream<TcpStream>>>,
    frames: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl StreamConn {
    pub fn new(stream: TlsStream<TcpStream>, server: SocketAddr) -> Result<Self, String> {
        let local = stream.get_ref().0.local_addr().map_err(|e| e.to_string())?;
        let (read, write) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(256);
        let reader = tokio::spawn(Self::read_loop(read, tx));
        Ok(StreamConn {
            server,
            local,
            writer: tokio::sync::Mutex::new(write),
            frames: tokio::sync::Mutex::new(rx),
            reader,
        })
    }

    /// Ends (dropping `tx`, so `recv_from` fails) on EOF, error or desync.
    async fn read_loop(mut read: ReadHalf<TlsStream<TcpStream>>, tx: mpsc::Sender<Vec<u8>>) {
        let mut pending = Vec::new();
        while let Ok(frame) = turn_probe::read_frame(&mut read, &mut pending).await {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for StreamConn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[async_trait]
impl Conn for StreamConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "StreamConn is connected to its TURN server".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let frame = self.frames.lock().await.recv().await.ok_or_else(|| {
            webrtc_util::Error::Other(format!("TLS stream to {} closed", self.server))
        })?;
        if frame.len() > buf.len() {
            return Err(webrtc_util::Error::ErrBufferShort);
        }
        buf[..frame.len()].copy_from_slice(&frame);
        Ok(frame.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        Ok((self.recv(buf).await?, self.server))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.writer.lock().await.write_all(buf).await?;
        Ok(buf.len())
    }

    /// Everything goes to the TURN server; any other target is refused (the
    /// turn client only ever sends to `turn_serv_addr`, mod.rs:105-136).
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if target != self.server {
            return Err(webrtc_util::Error::Other(format!(
                "StreamConn reaches only {}; refused {target}",
                self.server
            )));
        }
        self.send(buf).await
    }

    /// Same family as the server: the turn client resolves `turn_serv_addr`
    /// for this family (`Net::resolve_addr(local_addr.is_ipv4(), ..)`).
    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.server)
    }

    /// TLS close_notify, then stop reading.
    async fn close(&self) -> webrtc_util::Result<()> {
        let _ = self.writer.lock().await.shutdown().await;
        self.reader.abort();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

// ---------------------------------------------------------------------------
// The controlled ICE agent on the relayed Conn.

#[derive(Default)]
struct AgentState {
    /// Our checks in flight: transaction id -> where the response goes.
    pending: HashMap<[u8; 12], oneshot::Sender<(Vec<u8>, SocketAddr)>>,
    /// Selected peer and the DTLS queue its non-STUN datagrams go to.
    route: Option<(SocketAddr, mpsc::Sender<Vec<u8>>)>,
    facts: IceFacts,
}

/// RFC 8445 controlled agent over the relay: answers the bridge's checks,
/// sends its own, and selects the pair the bridge nominates once its own
/// check on it succeeded (§7.3.1.5, §8.2).
#[derive(Clone)]
pub(crate) struct IceAgent {
    relay: DynConn,
    state: Arc<Mutex<AgentState>>,
    /// Address of the last USE-CANDIDATE request answered.
    nominated: watch::Receiver<Option<SocketAddr>>,
    /// Requests from addresses we have not checked (triggered checks, §7.3.1.4).
    triggered: Arc<tokio::sync::Mutex<mpsc::Receiver<SocketAddr>>>,
    tie_breaker: u64,
    reader: Arc<tokio::task::JoinHandle<()>>,
}

impl IceAgent {
    fn start(p: &RelaySessionParams, relay: DynConn) -> Self {
        let state = Arc::new(Mutex::new(AgentState::default()));
        let (nominate_tx, nominated) = watch::channel(None);
        let (trigger_tx, trigger_rx) = mpsc::channel(16);
        // coturn behind a NAT with `external-ip=PUBLIC/PRIVATE` rewrites every address attribute
        // equal to PRIVATE into PUBLIC, XOR-PEER-ADDRESS of Data indications included
        // (coturn `src/client/ns_turn_msg.c` map_addr_from_private_to_public). Jitsi's coturn
        // shares the bridge's host, so until the channel binding is up the bridge's own address
        // comes back as the relay's public one with the bridge's port: map it back.
        let relayed_ip = relay.local_addr().ok().map(|a| a.ip());
        let aliases: Vec<(SocketAddr, SocketAddr)> = p
            .bridge_host_candidates
            .iter()
            .filter_map(|c| {
                let ip = relayed_ip.filter(|ip| *ip != c.ip())?;
                Some((SocketAddr::new(ip, c.port()), *c))
            })
            .collect();
        let reader = tokio::spawn(read_loop(
            relay.clone(),
            aliases,
            state.clone(),
            nominate_tx,
            trigger_tx,
            Answerer {
                expected_username: format!("{}:{}", p.client.ufrag, p.bridge_ufrag),
                pwd: p.client.pwd.clone(),
                filter: p.filter.clone(),
            },
        ));
        IceAgent {
            relay,
            state,
            nominated,
            triggered: Arc::new(tokio::sync::Mutex::new(trigger_rx)),
            tie_breaker: rand::random(),
            reader: Arc::new(reader),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AgentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn facts(&self) -> IceFacts {
        self.lock().facts.clone()
    }

    /// Check every allowed candidate (and any address that checks us from
    /// elsewhere); the selected peer once nominated and valid.
    async fn select(&self, p: &RelaySessionParams) -> Result<SocketAddr, String> {
        let mut checks = JoinSet::new();
        let mut checked = Vec::new();
        for &c in &p.bridge_candidates {
            if checked.contains(&c) {
                continue;
            }
            if !(p.filter)(c) {
                self.lock().facts.refused_candidates.push(c);
                continue;
            }
            checked.push(c);
            checks.spawn(self.clone().check(p.clone(), c));
        }
        if checked.is_empty() {
            return Err(format!(
                "no bridge candidate passes the filter (advertised: {:?})",
                p.bridge_candidates
            ));
        }
        let mut valid: Vec<SocketAddr> = Vec::new();
        let mut nominated = self.nominated.clone();
        let mut triggered = self.triggered.lock().await;
        loop {
            if let Some(n) = *nominated.borrow_and_update() {
                if valid.contains(&n) {
                    return Ok(n);
                }
            }
            tokio::select! {
                Some(done) = checks.join_next(), if !checks.is_empty() => {
                    if let Ok(f) = done {
                        if f.ok {
                            valid.push(f.peer);
                        }
                        self.lock().facts.checks.push(f);
                    }
                }
                Some(from) = triggered.recv() => {
                    if !checked.contains(&from) && (p.filter)(from) {
                        checked.push(from);
                        checks.spawn(self.clone().check(p.clone(), from));
                    }
                }
                changed = nominated.changed() => {
                    if changed.is_err() {
                        return Err("relay closed during ICE".into());
                    }
                }
            }
            if checks.is_empty() && valid.is_empty() {
                let f = self.facts();
                return Err(format!("every check failed: {:?}", f.checks));
            }
        }
    }

    /// One connectivity check (RFC 8445 §7.2.4): USERNAME
    /// `bridgeUfrag:clientUfrag`, PRIORITY (as a peer-reflexive candidate),
    /// ICE-CONTROLLED with our tie-breaker, MESSAGE-INTEGRITY keyed with the
    /// bridge's pwd, FINGERPRINT (jc_ice `CheckRequest`), retransmitted on the
    /// RTO schedule until a response or the stage deadline.
    async fn check(self, p: RelaySessionParams, peer: SocketAddr) -> CheckFacts {
        let mut req = CheckRequest::new(
            &mut rand::rng(),
            &p.bridge_ufrag,
            &p.client.ufrag,
            &p.bridge_pwd,
        );
        req.role = Some(Role::Controlled(self.tie_breaker));
        req.priority = Some(PRFLX_PRIORITY);
        let tid = req.transaction_id;
        let bytes = req.encode();
        let (tx, mut rx) = oneshot::channel();
        self.lock().pending.insert(tid, tx);
        let mut facts = CheckFacts {
            peer,
            ok: false,
            mapped: None,
            transmissions: 0,
            rtt_ms: None,
            error: None,
        };
        let t0 = Instant::now();
        let mut wait = RTO_INITIAL;
        let answer = loop {
            // Through the relay: CreatePermission on the first send, then a
            // Send indication or ChannelData (turn `relay_conn.rs` send_to);
            // a 403 from the server surfaces here as text.
            if let Err(e) = self.relay.send_to(&bytes, peer).await {
                facts.error = Some(format!("send through the relay: {e}"));
                break None;
            }
            facts.transmissions += 1;
            match tokio::time::timeout(wait, &mut rx).await {
                Ok(Ok(a)) => break Some(a),
                Ok(Err(_)) => break None,
                Err(_) => wait = (wait * 2).min(RTO_MAX),
            }
        };
        self.lock().pending.remove(&tid);
        let Some((resp, from)) = answer else {
            return facts;
        };
        facts.rtt_ms = Some(ms(t0.elapsed()));
        let r = verify_response(&resp, &p.bridge_pwd, &tid);
        facts.mapped = r.xor_mapped;
        // RFC 8445 §7.2.5.2.1: the response must come from where the check went.
        facts.error = if from != peer {
            Some(format!("non-symmetric: response from {from}"))
        } else if r.fingerprint_ok != Some(true) {
            Some("response FINGERPRINT missing or wrong".into())
        } else if r.integrity_ok != Some(true) {
            Some("response MESSAGE-INTEGRITY does not verify with the bridge pwd".into())
        } else if r.class != Some(Class::Success) {
            Some(format!(
                "error response {:?} {:?}",
                r.error_code, r.error_reason
            ))
        } else if r.xor_mapped.is_none() {
            Some("success without XOR-MAPPED-ADDRESS".into())
        } else {
            None
        };
        facts.ok = facts.error.is_none();
        facts
    }

    /// The selected pair as a `Conn` for DTLS: from now on the reader sends
    /// the peer's non-STUN datagrams here.
    fn pair_conn(&self, peer: SocketAddr, relayed: SocketAddr) -> PairConn {
        let (tx, rx) = mpsc::channel(512);
        self.lock().route = Some((peer, tx));
        PairConn {
            relay: self.relay.clone(),
            peer,
            relayed,
            rx: tokio::sync::Mutex::new(rx),
        }
    }
}

/// How the agent answers the bridge's checks.
struct Answerer {
    /// RFC 8445 §7.3: `ourUfrag:theirUfrag` in requests to us.
    expected_username: String,
    pwd: String,
    filter: DestinationFilter,
}

impl Answerer {
    /// The success response to a valid request (RFC 8445 §7.3.1.1:
    /// XOR-MAPPED-ADDRESS = the source as seen, MESSAGE-INTEGRITY with our
    /// pwd, FINGERPRINT), or why it gets none.
    fn answer(&self, m: &ice_stun::Message, from: SocketAddr) -> Result<Vec<u8>, String> {
        if !(self.filter)(from) {
            return Err(format!("request from {from}: refused by the filter"));
        }
        if m.verify_fingerprint() != Some(true) {
            return Err(format!("request from {from}: FINGERPRINT missing or wrong"));
        }
        if m.username() != Some(self.expected_username.as_bytes()) {
            return Err(format!(
                "request from {from}: USERNAME {:?}, expected {:?}",
                m.username().map(String::from_utf8_lossy),
                self.expected_username
            ));
        }
        if m.verify_integrity(self.pwd.as_bytes()) != Some(true) {
            return Err(format!(
                "request from {from}: MESSAGE-INTEGRITY does not verify with our pwd"
            ));
        }
        Ok(
            MessageBuilder::new(ice_stun::BINDING_SUCCESS, m.transaction_id)
                .xor_mapped_address(from)
                .message_integrity(self.pwd.as_bytes())
                .fingerprint()
                .build(),
        )
    }
}

/// The only reader of the relayed `Conn` (RFC 7983 demultiplexing: first
/// byte 0-3 with the magic cookie is STUN, the rest is DTLS).
async fn read_loop(
    relay: DynConn,
    aliases: Vec<(SocketAddr, SocketAddr)>,
    state: Arc<Mutex<AgentState>>,
    nominate: watch::Sender<Option<SocketAddr>>,
    trigger: mpsc::Sender<SocketAddr>,
    answerer: Answerer,
) {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, from)) = relay.recv_from(&mut buf).await else {
            return; // relay closed: `nominate` drops, select() sees it
        };
        let from = aliases
            .iter()
            .find(|(alias, _)| *alias == from)
            .map(|(_, real)| *real)
            .unwrap_or(from);
        let data = &buf[..n];
        let is_stun = data.first().is_some_and(|b| *b <= 3) && ice_stun::has_magic_cookie(data);
        if !is_stun {
            let route = lock().route.clone();
            if let Some((peer, tx)) = route {
                if peer == from {
                    let _ = tx.try_send(data.to_vec());
                }
            }
            continue;
        }
        let Ok(m) = ice_stun::decode(data) else {
            continue;
        };
        if m.class() != Class::Request {
            if let Some(tx) = lock().pending.remove(&m.transaction_id) {
                let _ = tx.send((data.to_vec(), from));
            }
            continue;
        }
        if m.method() != 1 {
            continue; // only Binding
        }
        match answerer.answer(&m, from) {
            Err(why) => lock().facts.requests_rejected.push(why),
            Ok(resp) => {
                if let Err(e) = relay.send_to(&resp, from).await {
                    lock()
                        .facts
                        .requests_rejected
                        .push(format!("answer to {from} not sent: {e}"));
                    continue;
                }
                let use_candidate = m.get(attr::USE_CANDIDATE).is_some();
                {
                    let mut g = lock();
                    g.facts.requests_answered += 1;
                    g.facts.bridge_controlling = Some(m.get(attr::ICE_CONTROLLING).is_some());
                    if use_candidate {
                        g.facts.nominated_by = Some(from);
                    }
                }
                let _ = trigger.try_send(from);
                if use_candidate {
                    nominate.send_replace(Some(from));
                }
            }
        }
    }
}

/// The selected pair as a datagram `Conn` (DTLS below SCTP).
struct PairConn {
    relay: DynConn,
    peer: SocketAddr,
    relayed: SocketAddr,
    rx: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
}

#[async_trait]
impl Conn for PairConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "PairConn is bound to its pair".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let d = self
            .rx
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| webrtc_util::Error::Other("relay closed".into()))?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        Ok((self.recv(buf).await?, self.peer))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.relay.send_to(buf, self.peer).await
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.relayed)
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
