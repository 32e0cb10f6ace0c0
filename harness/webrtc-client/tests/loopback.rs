//! The client against the jc-ice bridge (responder + BridgePeer), loopback
//! only: both bind 127.0.0.1 and the client's filter allows nothing but the
//! bridge's socket, so no datagram can go anywhere else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jc_videobridge::candidates::{parse_transport, Fingerprint, ParsedCandidate, ParsedTransport};
use jc_videobridge::config::IceSettings;
use jc_videobridge::control::{endpoint_json, AllocateRequest, ControlApi};
use jc_videobridge::peer::BridgePeer;
use jc_videobridge::responder::BridgeState;
use jc_webrtc_client::{
    browser_config, ice_connect, webrtc_session, webrtc_session_with, CandidateFact, ClientParams,
    Credentials, DestFilter, GuardedSocket,
};

struct Bridge {
    peer: BridgePeer,
    api: ControlApi,
    addr: SocketAddr,
}

async fn bridge() -> Bridge {
    let socket = Arc::new(
        tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind"),
    );
    let addr = socket.local_addr().unwrap();
    let settings = IceSettings {
        udp_port: addr.port(),
        ..IceSettings::default()
    };
    // No NAT mapping; host addresses [127.0.0.1].
    let state = BridgeState::new(settings, vec!["127.0.0.1".parse().unwrap()]);
    let peer = BridgePeer::new(state.clone()).expect("certificate");
    let p = peer.clone();
    tokio::spawn(async move { p.serve_udp(socket).await });
    Bridge {
        peer,
        api: ControlApi::new(state),
        addr,
    }
}

/// ice4j would advertise this host candidate if it used loopback (it skips
/// loopback interfaces, so the loopback transport carries no candidates and
/// the test adds the one the bridge's socket really has).
fn host_candidate(addr: SocketAddr) -> ParsedCandidate {
    ParsedCandidate {
        foundation: "1".into(),
        component: 1,
        protocol: "udp".into(),
        ip: addr.ip().to_string(),
        port: addr.port(),
        priority: 2130706431,
        typ: "host".into(),
        rel_addr: None,
        rel_port: None,
        tcptype: None,
        generation: Some(0),
        id: None,
    }
}

/// Allocate an endpoint (telling the bridge `creds`, or nothing) and return
/// its id and the transport as the client reads it.
fn allocate(b: &Bridge, creds: Option<&Credentials>) -> (String, ParsedTransport) {
    let info = b.api.allocate(AllocateRequest {
        remote_ufrag: creds.map(|c| c.ufrag.clone()),
        remote_pwd: creds.map(|c| c.pwd.clone()),
        remote_fingerprints: creds
            .map(|c| {
                vec![Fingerprint {
                    hash: "sha-256".into(),
                    fingerprint: c.fingerprint.clone(),
                    setup: "active".into(),
                }]
            })
            .unwrap_or_default(),
        ..AllocateRequest::default()
    });
    let mut t = parse_transport(&endpoint_json(&info)).expect("transport");
    assert!(t.candidates.is_empty(), "ice4j rules skip loopback");
    t.candidates.push(host_candidate(b.addr));
    (info.id, t)
}

fn only(addr: SocketAddr) -> DestFilter {
    Arc::new(move |a| a == addr)
}

fn params(b: &Bridge, creds: &Credentials, t: ParsedTransport, budget: Duration) -> ClientParams {
    ClientParams {
        client_ip: "127.0.0.1".parse().unwrap(),
        allow: only(b.addr),
        credentials: creds.clone(),
        transport: t,
        budget,
    }
}

fn host_fact(addr: SocketAddr) -> CandidateFact {
    CandidateFact {
        typ: "host".into(),
        protocol: "udp".into(),
        ip: addr.ip().to_string(),
        port: addr.port(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_connect_selects_the_advertised_host_candidate() {
    let b = bridge().await;
    let creds = Credentials::generate();
    let (id, t) = allocate(&b, Some(&creds));
    let facts = ice_connect(params(&b, &creds, t, Duration::from_secs(5))).await;
    eprintln!("ice_connect on loopback: {} ms", facts.elapsed_ms);
    assert!(facts.connected, "{facts:#?}");
    assert_eq!(facts.selected_remote, Some(host_fact(b.addr)), "{facts:#?}");
    let local = facts.selected_local.clone().expect("local");
    assert_eq!(
        (local.typ.as_str(), local.ip.as_str()),
        ("host", "127.0.0.1")
    );
    assert_eq!(facts.local_candidates.len(), 1, "{facts:#?}");
    assert_eq!(facts.refused_sends, 0);
    assert!(facts.remote_skipped.is_empty());
    // The bridge learned the client peer-reflexively and selects it when
    // the client's answer to its nominating check arrives (the controlled
    // client may select first).
    let client = SocketAddr::new(local.ip.parse().unwrap(), local.port);
    for _ in 0..100 {
        if b.peer.selected_peer(&id).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        b.peer.selected_peer(&id),
        Some(client),
        "{:#?}",
        b.peer.facts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_session_echoes_a_message() {
    let b = bridge().await;
    let creds = Credentials::generate();
    let (id, t) = allocate(&b, Some(&creds));
    assert_eq!(t.fingerprints[0].1, b.peer.fingerprint().fingerprint);
    let facts = webrtc_session(params(&b, &creds, t, Duration::from_secs(5))).await;
    eprintln!(
        "webrtc_session on loopback: {} ms, stages {:?}",
        facts.elapsed_ms, facts.stage_ms
    );
    assert!(facts.ice.connected, "{facts:#?}");
    assert!(facts.dtls, "{facts:#?}");
    assert_eq!(facts.fingerprint_verified, Some(true));
    assert!(facts.sctp && facts.channel_open && facts.echo, "{facts:#?}");
    assert_eq!(facts.received.as_deref(), Some(facts.sent.as_str()));
    assert_eq!(facts.selected_remote, Some(host_fact(b.addr)));
    assert_eq!(facts.first_error, None);
    let bf = b.peer.facts();
    let f = bf
        .iter()
        .find(|f| f.endpoint_id == id)
        .expect("bridge facts");
    assert!(f.selected && f.dtls && f.sctp, "{f:#?}");
    assert!(f.client_fingerprint.is_some());
    assert!(f.messages_echoed >= 1, "{f:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_outside_the_filter_are_skipped_and_never_sent_to() {
    let b = bridge().await;
    let creds = Credentials::generate();
    let (_, mut t) = allocate(&b, Some(&creds));
    // A srflx candidate at a TEST-NET-1 address and a TCP one: advertised,
    // not contacted.
    let mut outside = host_candidate("192.0.2.1:10000".parse().unwrap());
    outside.typ = "srflx".into();
    outside.priority = 1694498815;
    outside.rel_addr = Some("127.0.0.1".into());
    outside.rel_port = Some(b.addr.port());
    let mut tcp = host_candidate(b.addr);
    tcp.protocol = "tcp".into();
    tcp.tcptype = Some("passive".into());
    t.candidates.insert(0, outside);
    t.candidates.push(tcp);
    let facts = ice_connect(params(&b, &creds, t, Duration::from_secs(5))).await;
    assert!(facts.connected, "{facts:#?}");
    assert_eq!(facts.selected_remote, Some(host_fact(b.addr)));
    let skipped: Vec<String> = facts
        .remote_skipped
        .iter()
        .map(|s| {
            format!(
                "{}:{}/{}",
                s.candidate.ip, s.candidate.port, s.candidate.protocol
            )
        })
        .collect();
    assert_eq!(
        skipped,
        ["192.0.2.1:10000/udp".to_string(), format!("{}/tcp", b.addr)]
    );
    assert!(facts.remote_skipped[0].reason.contains("outside"));
    // Never tried, so never refused.
    assert_eq!(facts.refused_sends, 0, "{facts:#?}");
    assert_eq!(facts.remote_added, vec![host_fact(b.addr)]);

    // A direct attempt through a guarded socket is refused before the
    // kernel sees it: the guard's PermissionDenied, counted.
    let s = GuardedSocket::bind("127.0.0.1:0".parse().unwrap(), only(b.addr))
        .await
        .unwrap();
    let err = s
        .send_to(b"x", "192.0.2.1:10000".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(err
        .to_string()
        .contains("refused to send to 192.0.2.1:10000"));
    assert_eq!(s.refused().count(), 1);
    assert_eq!(
        s.refused().destinations(),
        vec!["192.0.2.1:10000".parse::<SocketAddr>().unwrap()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_client_credentials_the_session_does_not_come_up() {
    let b = bridge().await;
    let creds = Credentials::generate();
    let (id, t) = allocate(&b, None);
    let facts = webrtc_session(params(&b, &creds, t, Duration::from_millis(1500))).await;
    assert!(!facts.ice.connected, "{facts:#?}");
    assert!(!facts.dtls && !facts.sctp && !facts.channel_open && !facts.echo);
    let err = facts.first_error.clone().unwrap_or_default();
    assert!(err.contains("never nominated"), "{err}");
    // The bridge answered the client's checks (it learned the peer) but
    // could not check back without the client's pwd.
    let info = b.api.state().endpoint(&id).unwrap();
    assert_eq!(info.learned_peers.len(), 1, "{info:#?}");
    assert!(b.peer.facts().is_empty(), "{:#?}", b.peer.facts());
    assert_eq!(b.peer.selected_peer(&id), None);
}

/// A client that does not offer use_srtp, as no browser does: JVB's `processClientExtensions`
/// ends the handshake with a fatal internal_error alert, and so does the fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_without_use_srtp_is_refused() {
    fn no_srtp(c: dtls::crypto::Certificate) -> dtls::config::Config {
        dtls::config::Config {
            srtp_protection_profiles: Vec::new(),
            ..browser_config(c)
        }
    }
    let b = bridge().await;
    let creds = Credentials::generate();
    let (id, t) = allocate(&b, Some(&creds));
    let facts = webrtc_session_with(params(&b, &creds, t, Duration::from_secs(3)), no_srtp).await;
    assert!(facts.ice.connected, "{facts:#?}");
    assert!(!facts.dtls, "{facts:#?}");
    // The client sees the alert first; the bridge records its reason a moment later.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let f = loop {
        let f = b
            .peer
            .facts()
            .into_iter()
            .find(|f| f.endpoint_id == id)
            .expect("bridge facts");
        if f.error.is_some() || std::time::Instant::now() > deadline {
            break f;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let e = f.error.clone().unwrap_or_default();
    assert!(
        e.contains("no use_srtp") && e.contains("internal_error"),
        "{f:#?}"
    );
    assert!(!f.dtls);
}

/// The bridge picks SRTP_AEAD_AES_128_GCM first (its order), and refuses a certificate that
/// is not the one signalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_picks_its_profile_and_checks_the_signalled_fingerprint() {
    let b = bridge().await;
    let creds = Credentials::generate();
    let (id, t) = allocate(&b, Some(&creds));
    let facts = webrtc_session(params(&b, &creds, t, Duration::from_secs(5))).await;
    assert!(facts.echo, "{facts:#?}");
    let bf = b.peer.facts();
    let f = bf.iter().find(|f| f.endpoint_id == id).unwrap();
    assert_eq!(f.srtp_profile.as_deref(), Some("Srtp_Aead_Aes_128_Gcm"));

    // Another client's certificate than the one signalled: the handshake fails.
    let signalled = Credentials::generate();
    let mut impostor = Credentials::generate();
    impostor.ufrag = signalled.ufrag.clone();
    impostor.pwd = signalled.pwd.clone();
    let (id, t) = allocate(&b, Some(&signalled));
    let facts = webrtc_session(params(&b, &impostor, t, Duration::from_secs(3))).await;
    assert!(facts.ice.connected && !facts.dtls, "{facts:#?}");
    let bf = b.peer.facts();
    let f = bf.iter().find(|f| f.endpoint_id == id).unwrap();
    assert!(
        f.error
            .as_deref()
            .unwrap_or("")
            .contains("None of the fingerprints"),
        "{f:#?}"
    );
}

/// The suite's client speaks like a browser: its ClientHello offers use_srtp with both of
/// JVB's profiles, extended master secret and the browsers' curves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_hello_carries_use_srtp_with_both_profiles() {
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    client.connect(sink.local_addr().unwrap()).await.unwrap();
    let creds = Credentials::generate();
    let conn: Arc<dyn webrtc_util::Conn + Send + Sync> = client;
    let handshake = tokio::spawn(dtls::conn::DTLSConn::new(
        conn,
        browser_config(creds.certificate.clone()),
        true,
        None,
    ));
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sink.recv_from(&mut buf))
        .await
        .expect("a ClientHello")
        .unwrap();
    handshake.abort();
    let hello = jc_videobridge::dtls::parse_client_hello(&buf[..n]).expect("a ClientHello");
    assert_eq!(hello.srtp_profiles, Some(vec![0x0007, 0x0001]), "{hello:?}");
    assert!(hello.extended_master_secret);
    for group in [0x001d, 0x0017, 0x0018] {
        assert!(hello.groups.contains(&group), "{hello:?}");
    }
    assert!(
        hello.cipher_suites.contains(&0xc02b),
        "ECDHE_ECDSA_AES_128_GCM: {hello:?}"
    );
}
