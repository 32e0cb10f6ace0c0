//! The internet client's ICE agent and WebRTC session for ice/connect/1 and
//! ice/connect/2 (SPEC sections 2 and 3), built on webrtc-rs (the async 0.17
//! family: `webrtc-ice`, `dtls`, `webrtc-sctp`, `webrtc-data`).
//!
//! The client behaves like a browser behind its own NAT toward a controlling
//! JVB: it is the controlled ICE agent, it gathers only a host candidate on the
//! given client address (no mDNS, no STUN/TURN servers, UDP4 only), it never
//! tells the bridge its candidates (only its ufrag/pwd, through the caller and
//! the bridge's control API), so the bridge can only learn it peer-reflexively
//! and a session comes up only through inbound reachability of the bridge.
//!
//! Every datagram the agent sends goes through a [`GuardedSocket`]: a
//! destination filter (the harness passes its `Guard`: the lab's wan subnet,
//! never the client itself) decides before the socket is touched; a refused
//! send returns an error and is counted in the facts. Remote candidates the
//! filter refuses are never added to the agent ("advertised, not contacted").
//!
//! Order for a caller: [`Credentials::generate`], tell the bridge the ufrag
//! and pwd (control API), read the bridge's transport, then [`ice_connect`] or
//! [`webrtc_session`] with both.

mod guard;
mod session;

pub use guard::{DestFilter, GuardedSocket, RefusedSends};
pub use session::{browser_config, webrtc_session, webrtc_session_with, SessionFacts};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jc_videobridge::candidates::{ParsedCandidate, ParsedTransport};
use rand::distr::{Alphanumeric, SampleString};
use tokio::sync::mpsc;
use webrtc_ice::agent::agent_config::AgentConfig;
use webrtc_ice::agent::Agent;
use webrtc_ice::candidate::candidate_base::unmarshal_candidate;
use webrtc_ice::candidate::{Candidate, CandidateType};
use webrtc_ice::mdns::MulticastDnsMode;
use webrtc_ice::network_type::NetworkType;
use webrtc_ice::udp_mux::{UDPMux, UDPMuxDefault, UDPMuxParams};
use webrtc_ice::udp_network::UDPNetwork;

/// The client's ICE credentials and DTLS certificate, known before the session starts so the
/// caller can give the bridge the ufrag, pwd and fingerprint (never the candidates), as a
/// browser's answer does through jicofo.
#[derive(Clone, serde::Serialize)]
pub struct Credentials {
    pub ufrag: String,
    pub pwd: String,
    /// SHA-256 fingerprint of [`Self::certificate`], upper-case hex pairs.
    pub fingerprint: String,
    /// A browser's kind of certificate: self-signed ECDSA P-256.
    #[serde(skip)]
    pub certificate: dtls::crypto::Certificate,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("ufrag", &self.ufrag)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Credentials {
    fn eq(&self, o: &Self) -> bool {
        self.ufrag == o.ufrag && self.pwd == o.pwd && self.fingerprint == o.fingerprint
    }
}

impl Credentials {
    /// A browser-shaped pair: 16-character ufrag (>= 24 bits), 32-character
    /// pwd (>= 128 bits), RFC 8445 5.3; and a fresh ECDSA P-256 certificate.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let certificate =
            dtls::crypto::Certificate::generate_self_signed(vec!["jc-webrtc-client".into()])
                .expect("generating an ECDSA P-256 certificate does not fail");
        let fingerprint = certificate
            .certificate
            .first()
            .map(|c| session::sha256_fingerprint(c.as_ref()))
            .unwrap_or_default();
        Credentials {
            ufrag: Alphanumeric.sample_string(&mut rng, 16),
            pwd: Alphanumeric.sample_string(&mut rng, 32),
            fingerprint,
            certificate,
        }
    }
}

/// Everything a connect attempt needs.
#[derive(Clone)]
pub struct ClientParams {
    /// The address the host candidate is gathered on (the lab's CLIENT_IP).
    pub client_ip: IpAddr,
    /// Destination filter for every send and for which remote candidates are
    /// used (the harness: `move |a| guard.check(a).is_ok()`).
    pub allow: DestFilter,
    /// This client's ufrag/pwd (already told to the bridge, or not).
    pub credentials: Credentials,
    /// The bridge's transport from its control API.
    pub transport: ParsedTransport,
    /// Whole budget of the attempt ([`default_budget`]).
    pub budget: Duration,
}

impl std::fmt::Debug for ClientParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientParams")
            .field("client_ip", &self.client_ip)
            .field("credentials", &self.credentials)
            .field("transport", &self.transport)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// 5 s scaled by `JC_TIME_SCALE` (as the suite's other budgets).
pub fn default_budget() -> Duration {
    let scale: f64 = std::env::var("JC_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(1.0);
    Duration::from_secs_f64(5.0 * scale)
}

/// How long [`ice_connect`] keeps the agent up after it connected.
const LINGER: Duration = Duration::from_millis(100);

/// A candidate as reported in facts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CandidateFact {
    /// `host`, `srflx`, `prflx` or `relay`.
    pub typ: String,
    pub protocol: String,
    pub ip: String,
    pub port: u16,
}

impl CandidateFact {
    fn of(c: &dyn Candidate) -> Self {
        CandidateFact {
            typ: c.candidate_type().to_string(),
            protocol: c.network_type().network_short(),
            ip: c.address(),
            port: c.port(),
        }
    }

    fn of_parsed(c: &ParsedCandidate) -> Self {
        CandidateFact {
            typ: c.typ.clone(),
            protocol: c.protocol.clone(),
            ip: c.ip.clone(),
            port: c.port,
        }
    }

    /// `ip:port` when the ip parses.
    pub fn addr(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.ip.parse().ok()?, self.port))
    }
}

/// An advertised candidate the client did not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedCandidate {
    pub candidate: CandidateFact,
    pub reason: String,
}

/// What the ICE attempt showed. Facts, not verdicts: the checks judge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IceFacts {
    pub local_ufrag: String,
    /// Candidates the agent gathered (expected: one host on the client ip).
    pub local_candidates: Vec<CandidateFact>,
    /// Advertised candidates handed to the agent.
    pub remote_added: Vec<CandidateFact>,
    /// Advertised, not contacted.
    pub remote_skipped: Vec<SkippedCandidate>,
    pub connected: bool,
    /// From start to connected (or to giving up).
    pub elapsed_ms: u64,
    pub selected_local: Option<CandidateFact>,
    pub selected_remote: Option<CandidateFact>,
    /// Sends the destination filter refused (nothing left the socket).
    pub refused_sends: u64,
    pub refused_destinations: Vec<SocketAddr>,
    pub error: Option<String>,
}

impl IceFacts {
    fn new(creds: &Credentials) -> Self {
        IceFacts {
            local_ufrag: creds.ufrag.clone(),
            local_candidates: Vec::new(),
            remote_added: Vec::new(),
            remote_skipped: Vec::new(),
            connected: false,
            elapsed_ms: 0,
            selected_local: None,
            selected_remote: None,
            refused_sends: 0,
            refused_destinations: Vec::new(),
            error: None,
        }
    }

    fn fill_refused(&mut self, r: &RefusedSends) {
        self.refused_sends = r.count();
        self.refused_destinations = r.destinations();
    }
}

/// A connected ICE agent with what keeps it alive.
pub(crate) struct IceSession {
    pub agent: Agent,
    pub conn: Arc<dyn webrtc_util::Conn + Send + Sync>,
    pub mux: Arc<UDPMuxDefault>,
    pub refused: RefusedSends,
    _cancel: mpsc::Sender<()>,
}

impl IceSession {
    pub async fn close(self) {
        let _ = self.agent.close().await;
        let _ = self.mux.close().await;
    }
}

/// ICE only (ice/connect/1): connectivity checks with the bridge as the
/// controlled agent until the bridge nominates a pair, within the budget.
pub async fn ice_connect(params: ClientParams) -> IceFacts {
    let t0 = Instant::now();
    let mut facts = IceFacts::new(&params.credentials);
    if let Some(s) = connect(&params, t0, t0 + params.budget, &mut facts).await {
        // webrtc-rs's ControlledSelector selects the pair before it answers
        // the nominating check: stay up a moment so the answer goes out and
        // the bridge selects the pair too.
        tokio::time::sleep(LINGER).await;
        facts.fill_refused(&s.refused);
        s.close().await;
    }
    facts
}

/// Why an advertised candidate is not used, if it is not.
fn skip_reason(c: &ParsedCandidate, allow: &DestFilter) -> Option<String> {
    if !c.protocol.eq_ignore_ascii_case("udp") {
        return Some(format!(
            "protocol {} (the client gathers UDP4 only)",
            c.protocol
        ));
    }
    let Ok(ip) = c.ip.parse::<IpAddr>() else {
        return Some(format!("address {:?} is not an IP address", c.ip));
    };
    if !ip.is_ipv4() {
        return Some("not IPv4 (the client gathers UDP4 only)".into());
    }
    if c.component != 1 {
        return Some(format!(
            "component {} (rtcp-mux: only 1 is used)",
            c.component
        ));
    }
    let addr = SocketAddr::new(ip, c.port);
    if !allow(addr) {
        return Some(format!(
            "{addr} is outside the allowed destinations (the lab's public network)"
        ));
    }
    None
}

fn sdp_candidate(c: &ParsedCandidate) -> String {
    let mut s = format!(
        "{} {} udp {} {} {} typ {}",
        c.foundation, c.component, c.priority, c.ip, c.port, c.typ
    );
    if let (Some(a), Some(p)) = (&c.rel_addr, c.rel_port) {
        s.push_str(&format!(" raddr {a} rport {p}"));
    }
    s
}

/// Set up the agent and wait for a selected pair. `None` (with
/// `facts.error`) when it does not connect by `deadline`.
pub(crate) async fn connect(
    params: &ClientParams,
    t0: Instant,
    deadline: Instant,
    facts: &mut IceFacts,
) -> Option<IceSession> {
    let fail = |facts: &mut IceFacts, e: String| {
        facts.elapsed_ms = t0.elapsed().as_millis() as u64;
        facts.error.get_or_insert(e);
    };
    let socket =
        match GuardedSocket::bind(SocketAddr::new(params.client_ip, 0), params.allow.clone()).await
        {
            Ok(s) => s,
            Err(e) => {
                fail(facts, format!("bind {}: {e}", params.client_ip));
                return None;
            }
        };
    let refused = socket.refused();
    let mux = UDPMuxDefault::new(UDPMuxParams::new(socket.into_conn()));
    let client_ip = params.client_ip;
    let config = AgentConfig {
        udp_network: UDPNetwork::Muxed(mux.clone()),
        local_ufrag: params.credentials.ufrag.clone(),
        local_pwd: params.credentials.pwd.clone(),
        urls: Vec::new(),
        multicast_dns_mode: MulticastDnsMode::Disabled,
        network_types: vec![NetworkType::Udp4],
        candidate_types: vec![CandidateType::Host],
        is_controlling: false,
        check_interval: Duration::from_millis(50),
        ip_filter: Arc::new(Some(Box::new(move |ip: IpAddr| ip == client_ip))),
        include_loopback: client_ip.is_loopback(),
        ..Default::default()
    };
    let agent = match Agent::new(config).await {
        Ok(a) => a,
        Err(e) => {
            fail(facts, format!("ICE agent: {e}"));
            let _ = mux.close().await;
            return None;
        }
    };
    let (gathered_tx, mut gathered_rx) = mpsc::channel::<Option<CandidateFact>>(16);
    agent.on_candidate(Box::new(move |c| {
        let tx = gathered_tx.clone();
        Box::pin(async move {
            let _ = tx.send(c.map(|c| CandidateFact::of(c.as_ref()))).await;
        })
    }));
    if let Err(e) = agent.gather_candidates() {
        fail(facts, format!("gathering: {e}"));
        let _ = agent.close().await;
        let _ = mux.close().await;
        return None;
    }
    for c in &params.transport.candidates {
        if let Some(reason) = skip_reason(c, &params.allow) {
            facts.remote_skipped.push(SkippedCandidate {
                candidate: CandidateFact::of_parsed(c),
                reason,
            });
            continue;
        }
        match unmarshal_candidate(&sdp_candidate(c)) {
            Ok(rc) => {
                let rc: Arc<dyn Candidate + Send + Sync> = Arc::new(rc);
                match agent.add_remote_candidate(&rc) {
                    Ok(()) => facts.remote_added.push(CandidateFact::of_parsed(c)),
                    Err(e) => facts.remote_skipped.push(SkippedCandidate {
                        candidate: CandidateFact::of_parsed(c),
                        reason: format!("the agent refused it: {e}"),
                    }),
                }
            }
            Err(e) => facts.remote_skipped.push(SkippedCandidate {
                candidate: CandidateFact::of_parsed(c),
                reason: format!("unparsable: {e}"),
            }),
        }
    }
    let (cancel_tx, cancel_rx) = mpsc::channel(1);
    let accept = agent.accept(
        cancel_rx,
        params.transport.ufrag.clone(),
        params.transport.pwd.clone(),
    );
    let outcome = tokio::time::timeout_at(deadline.into(), accept).await;
    // Whatever was gathered by now (gathering is local and quick).
    while let Ok(Some(c)) = gathered_rx.try_recv() {
        facts.local_candidates.push(c);
    }
    facts.elapsed_ms = t0.elapsed().as_millis() as u64;
    facts.fill_refused(&refused);
    let conn: Arc<dyn webrtc_util::Conn + Send + Sync> = match outcome {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            fail(facts, format!("ICE: {e}"));
            let _ = agent.close().await;
            let _ = mux.close().await;
            return None;
        }
        Err(_) => {
            let pairs = agent.get_candidate_pairs_stats().await;
            // The distinct states: how many pairs there are depends on timing (a peer-reflexive
            // pair may or may not have formed), what state they reached does not.
            let states: std::collections::BTreeSet<String> =
                pairs.iter().map(|p| format!("{:?}", p.state)).collect();
            let states: Vec<String> = states.into_iter().collect();
            fail(
                facts,
                format!(
                    "no pair selected within {} ms (the bridge never nominated; pair states: [{}])",
                    (deadline - t0).as_millis(),
                    states.join(", ")
                ),
            );
            let _ = agent.close().await;
            let _ = mux.close().await;
            return None;
        }
    };
    facts.connected = true;
    if let Some(pair) = agent.get_selected_candidate_pair() {
        facts.selected_local = Some(CandidateFact::of(pair.local.as_ref()));
        facts.selected_remote = Some(CandidateFact::of(pair.remote.as_ref()));
    }
    Some(IceSession {
        agent,
        conn,
        mux,
        refused,
        _cancel: cancel_tx,
    })
}
