//! The relay-only session against a real coturn (TLS on 127.0.0.1) and the
//! fake bridge of `jc-ice` (`BridgePeer` on a loopback UDP socket, endpoint
//! allocated through its `ControlApi` with the client's ufrag/pwd).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{loopback_filter, turnserver_installed, Coturn, SECRET, SNI};
use jc_turn::relay_session::{relay_session, RelaySessionParams, Stage};
use jc_turn::turn_probe::{rest_credentials, Credentials, DestinationFilter};
use jc_videobridge::candidates::Fingerprint;
use jc_videobridge::config::IceSettings;
use jc_videobridge::control::{AllocateRequest, ControlApi};
use jc_videobridge::peer::BridgePeer;
use jc_videobridge::responder::{BridgeState, EndpointInfo};

macro_rules! require_turnserver {
    () => {
        // Never a silent skip: these tests need Debian's coturn on the host (.ci/run installs it).
        assert!(
            turnserver_installed(),
            "turnserver is not installed: run `apt-get install -y coturn`"
        );
    };
}

struct Bridge {
    peer: BridgePeer,
    addr: SocketAddr,
    info: EndpointInfo,
    client: jc_webrtc_client::Credentials,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The fake JVB serving UDP on 127.0.0.1, with one endpoint that knows the
/// client's ufrag/pwd (never its candidates).
async fn bridge() -> Bridge {
    let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    let settings = IceSettings {
        udp_port: addr.port(),
        ..IceSettings::default()
    };
    let state = BridgeState::new(settings, vec![]);
    let peer = BridgePeer::new(state.clone()).unwrap();
    let client = jc_webrtc_client::Credentials::generate();
    let info = ControlApi::new(state).allocate(AllocateRequest {
        remote_ufrag: Some(client.ufrag.clone()),
        remote_pwd: Some(client.pwd.clone()),
        remote_fingerprints: vec![Fingerprint {
            hash: "sha-256".into(),
            fingerprint: client.fingerprint.clone(),
            setup: "active".into(),
        }],
        ..AllocateRequest::default()
    });
    let p = peer.clone();
    let task = tokio::spawn(async move {
        let _ = p.serve_udp(socket).await;
    });
    Bridge {
        peer,
        addr,
        info,
        client,
        task,
    }
}

fn params(turn: SocketAddr, b: &Bridge, filter: DestinationFilter) -> RelaySessionParams {
    let (u, p) = rest_credentials(SECRET, "conformance", Duration::from_secs(3600));
    // ice4j advertises no loopback host candidate (jc-ice `usable_host_addresses`),
    // so the bridge's socket is given as its host candidate, as the relay
    // reaches the bridge's host candidate in the lab topology.
    RelaySessionParams::new(
        turn,
        SNI,
        Credentials::new(u, p),
        &b.info.ufrag,
        &b.info.pwd,
        vec![b.addr],
        &b.info.transport.fingerprints[0].fingerprint,
        b.client.clone(),
        filter,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_session_completes_the_echo() {
    require_turnserver!();
    let coturn = Coturn::start(None);
    let b = bridge().await;
    let mut p = params(coturn.tls, &b, loopback_filter());
    p.roots = Some(coturn.roots());
    let f = relay_session(p).await;
    eprintln!("relay session: {f:#?}");
    eprintln!("bridge: {:#?}", b.peer.facts());
    assert!(f.error.is_none(), "{:?}\n{}", f.error, coturn.log());
    assert_eq!(f.echo_matches, Some(true));
    let stages: Vec<Stage> = f.stages.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [
            Stage::Tls,
            Stage::Allocate,
            Stage::Ice,
            Stage::Dtls,
            Stage::Sctp,
            Stage::Channel,
            Stage::Echo
        ]
    );
    assert_eq!(f.tls.as_ref().unwrap().verified, Some(true));
    let relayed = f.relayed.unwrap();
    let pair = f.selected_pair.clone().unwrap();
    assert_eq!((pair.relayed, pair.peer), (relayed, b.addr));
    assert_eq!(f.ice.nominated_by, Some(b.addr));
    assert_eq!(f.ice.bridge_controlling, Some(true));
    assert!(
        f.ice
            .checks
            .iter()
            .any(|c| c.ok && c.mapped == Some(relayed)),
        "{:?}",
        f.ice
    );
    assert_eq!(f.srtp_profile.as_deref(), Some("Srtp_Aead_Aes_128_Gcm"));
    assert_eq!(
        f.bridge_certificate_sha256.as_deref(),
        Some(b.info.transport.fingerprints[0].fingerprint.as_str())
    );
    // The bridge saw the relayed address (peer-reflexive), never a client UDP socket.
    let seen = b.peer.facts();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].peer, relayed);
    assert!(seen[0].selected && seen[0].dtls && seen[0].sctp, "{seen:?}");
    assert!(seen[0].messages_echoed >= 1);
    // coturn's verbose log: the relay carried ChannelData (the stream framing
    // with padding was exercised) and the allocation was freed at the end.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = coturn.log();
    assert!(log.contains("CHANNEL_BIND processed, success"), "{log}");
    assert!(log.contains("lifetime=0"), "{log}");
    eprintln!(
        "timings (ms): {:?}, total {}",
        f.stages
            .iter()
            .map(|s| (s.stage.to_string(), s.ms))
            .collect::<Vec<_>>(),
        f.total_ms
    );
}

/// A wrong advertised fingerprint stops the session in DTLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_bridge_fingerprint_fails_in_dtls() {
    require_turnserver!();
    let coturn = Coturn::start(None);
    let b = bridge().await;
    let mut p = params(coturn.tls, &b, loopback_filter());
    p.bridge_fingerprint_sha256 = ["AB"; 32].join(":");
    let f = relay_session(p).await;
    let e = f.error.expect("fails");
    assert_eq!(e.stage, Stage::Dtls, "{e}");
    assert!(f.selected_pair.is_some());
    assert!(f.total_ms < 7000, "{}", f.total_ms);
}

/// Wrong TURN credentials stop the session in `allocate`, with the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_turn_credentials_fail_in_allocate() {
    require_turnserver!();
    let coturn = Coturn::start(None);
    let b = bridge().await;
    let mut p = params(coturn.tls, &b, loopback_filter());
    p.credentials.password.push_str("-wrong");
    let f = relay_session(p).await;
    let e = f.error.expect("fails");
    assert_eq!(e.stage, Stage::Allocate, "{e}");
    assert!(e.detail.contains("401"), "{e}");
    assert!(b.peer.facts().is_empty());
}

/// The filter refuses the bridge's candidate: ICE fails without a check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bridge_candidate_is_never_checked() {
    require_turnserver!();
    let coturn = Coturn::start(None);
    let b = bridge().await;
    let turn = coturn.tls;
    let only_turn: DestinationFilter = Arc::new(move |a: SocketAddr| a == turn);
    let f = relay_session(params(coturn.tls, &b, only_turn)).await;
    let e = f.error.expect("fails");
    assert_eq!(e.stage, Stage::Ice, "{e}");
    assert_eq!(f.ice.refused_candidates, [b.addr]);
    assert!(f.ice.checks.is_empty());
    assert!(b.peer.facts().is_empty());
}

/// The filter refuses the TURN server: a `tls` error naming it, nothing sent.
#[tokio::test]
async fn a_refused_turn_server_is_never_contacted() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b = bridge().await;
    let refuse: DestinationFilter = Arc::new(|_: SocketAddr| false);
    let f = relay_session(params(addr, &b, refuse)).await;
    let e = f.error.expect("fails");
    assert_eq!(e.stage, Stage::Tls);
    assert!(e.detail.contains(&addr.to_string()), "{e}");
    assert!(f.stages.is_empty() && f.tls.is_none());
    assert!(
        tokio::time::timeout(Duration::from_millis(100), listener.accept())
            .await
            .is_err()
    );
}
