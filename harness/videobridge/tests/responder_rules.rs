//! The bridge's STUN answers, one ice4j rule per test (each names the source).

use std::net::SocketAddr;

use jc_stun::client::{verify_response, CheckRequest, Integrity, Role, ICE4J_SUCCESS_ORDER};
use jc_stun::framing::{frame, unframe_all, SSLTCP_CLIENT_HELLO, SSLTCP_SERVER_HELLO};
use jc_stun::{self, Class, MessageBuilder};
use jc_videobridge::config::{IceSettings, StaticMapping, TcpSettings};
use jc_videobridge::responder::{BridgeState, EndpointSpec, Outcome};
use rand::SeedableRng;

const UFRAG: &str = "1a2b3c4d5e6f7g";
const PWD: &str = "0123456789abcdefghijkl";
const BRIDGE_TB: u64 = 0x4000_0000_0000_0000;

fn client() -> SocketAddr {
    "198.51.100.1:54321".parse().unwrap()
}

fn settings() -> IceSettings {
    IceSettings {
        tcp: Some(TcpSettings {
            port: 4443,
            mapped_port: None,
            ssltcp: true,
        }),
        mappings: vec![StaticMapping {
            local_address: "172.30.77.20".parse().unwrap(),
            public_address: "198.51.100.2".parse().unwrap(),
            local_port: None,
            public_port: None,
            name: None,
            origin: "test".into(),
        }],
        ..IceSettings::default()
    }
}

fn bridge_with(settings: IceSettings) -> BridgeState {
    let b = BridgeState::with_seed(settings, vec!["172.30.77.20".parse().unwrap()], 7);
    b.add_endpoint(EndpointSpec {
        id: Some("ep".into()),
        ufrag: Some(UFRAG.into()),
        pwd: Some(PWD.into()),
        tie_breaker: Some(BRIDGE_TB),
        ..EndpointSpec::default()
    });
    b
}

fn bridge() -> BridgeState {
    bridge_with(settings())
}

fn request() -> CheckRequest {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    CheckRequest::new(&mut rng, UFRAG, "cliU", PWD)
}

/// ConnectivityCheckServer.processRequest + MessageFactory.createBindingResponse +
/// Message.prepareForEncoding: XOR-MAPPED-ADDRESS, USERNAME, SOFTWARE, MI, FP.
#[test]
fn success_response_layout() {
    let b = bridge();
    let r = request();
    let resp = b.handle_udp(&r.encode(), client()).expect("answered");
    let f = verify_response(&resp, PWD, &r.transaction_id);
    assert_eq!(f.class, Some(Class::Success));
    assert!(f.transaction_id_matches);
    assert_eq!(f.attributes_in_order, ICE4J_SUCCESS_ORDER);
    assert_eq!(f.xor_mapped, Some(client()));
    assert!(!f.mapped_address_present);
    assert_eq!(f.integrity_ok, Some(true));
    assert_eq!(f.fingerprint_ok, Some(true));
    assert_eq!(f.software.as_deref(), Some("ice4j.org"));
    assert_eq!(f.username.as_deref(), Some("1a2b3c4d5e6f7g:cliU"));
    assert_eq!(b.endpoint("ep").unwrap().learned_peers, vec![client()]);
}

/// AbstractUdpListener.getUfrag + SinglePortUdpHarvester.maybeAcceptNewSession:
/// unknown ufrag -> dropped silently.
#[test]
fn unknown_ufrag_is_dropped() {
    let b = bridge();
    let mut r = request();
    r.bridge_ufrag = "nosuchufrag".into();
    assert_eq!(
        b.handle_udp_outcome(&r.encode(), client()),
        Outcome::Dropped("USERNAME does not start with an active ufrag")
    );
    // a prefix of the ufrag is not the ufrag (exact match before ':')
    r.bridge_ufrag = UFRAG[..6].into();
    assert!(b.handle_udp(&r.encode(), client()).is_none());
}

/// AbstractUdpListener.getUfrag: non-STUN, responses, bad FINGERPRINT -> dropped.
#[test]
fn junk_and_bad_fingerprint_dropped() {
    let b = bridge();
    assert!(b
        .handle_udp(b"hello there, this is not stun at all", client())
        .is_none());
    let mut bytes = request().encode();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    assert!(b.handle_udp(&bytes, client()).is_none());
    let resp = MessageBuilder::new(jc_stun::BINDING_SUCCESS, [1; 12])
        .username(format!("{UFRAG}:x").as_bytes())
        .build();
    assert!(b.handle_udp(&resp, client()).is_none());
}

/// ConnectivityCheckServer.extractPriority -> IllegalArgumentException ->
/// StunStack.handleMessageEvent 400 with the exception message; error
/// responses: ERROR-CODE, (empty) UNKNOWN-ATTRIBUTES, SOFTWARE, FINGERPRINT.
#[test]
fn missing_priority_is_400() {
    let b = bridge();
    let mut r = request();
    r.priority = None;
    let resp = b.handle_udp(&r.encode(), client()).unwrap();
    let f = verify_response(&resp, PWD, &r.transaction_id);
    assert_eq!(f.class, Some(Class::Error));
    assert_eq!(f.error_code, Some(400));
    assert_eq!(
        f.error_reason.as_deref(),
        Some("Missing PRIORITY attribute!")
    );
    assert_eq!(
        f.attributes_in_order,
        [
            "ERROR-CODE",
            "UNKNOWN-ATTRIBUTES",
            "SOFTWARE",
            "FINGERPRINT"
        ]
    );
    assert_eq!(f.integrity_ok, None);
    assert_eq!(f.fingerprint_ok, Some(true));
}

/// StunStack.validateRequestAttributes: wrong MESSAGE-INTEGRITY -> 401.
#[test]
fn bad_integrity_is_401() {
    let b = bridge();
    let mut r = request();
    r.integrity = Integrity::WrongKey(b"not the pwd".to_vec());
    let resp = b.handle_udp(&r.encode(), client()).unwrap();
    let f = verify_response(&resp, PWD, &r.transaction_id);
    assert_eq!(f.error_code, Some(401));
    assert_eq!(
        f.error_reason.as_deref(),
        Some("Wrong MESSAGE-INTEGRITY value")
    );
}

/// StunStack.validateRequestAttributes: no MESSAGE-INTEGRITY is accepted
/// unless org.ice4j.REQUIRE_MESSAGE_INTEGRITY is set (JVB does not set it).
#[test]
fn missing_integrity_depends_on_require_message_integrity() {
    let mut r = request();
    r.integrity = Integrity::Omit;
    let resp = bridge().handle_udp(&r.encode(), client()).unwrap();
    let f = verify_response(&resp, PWD, &r.transaction_id);
    assert_eq!(f.class, Some(Class::Success));
    assert_eq!(f.integrity_ok, Some(true), "the response is still signed");

    let strict = bridge_with(IceSettings {
        require_message_integrity: true,
        ..settings()
    });
    let resp = strict.handle_udp(&r.encode(), client()).unwrap();
    let f = verify_response(&resp, PWD, &r.transaction_id);
    assert_eq!(f.error_code, Some(401));
    assert_eq!(
        f.error_reason.as_deref(),
        Some("Missing MESSAGE-INTEGRITY.")
    );
}

/// ConnectivityCheckServer.repairRoleConflict: both controlling and our
/// tie-breaker >= theirs -> 487 with ERROR-CODE, SOFTWARE, MI, FP; role kept.
#[test]
fn role_conflict_487_when_bridge_tie_breaker_larger() {
    let b = bridge();
    let mut r = request();
    r.role = Some(Role::Controlling(BRIDGE_TB - 1));
    let resp = b.handle_udp(&r.encode(), client()).unwrap();
    let f = verify_response(&resp, PWD, &r.transaction_id);
    assert_eq!(f.error_code, Some(487));
    assert_eq!(
        f.attributes_in_order,
        ["ERROR-CODE", "SOFTWARE", "MESSAGE-INTEGRITY", "FINGERPRINT"]
    );
    assert_eq!(f.integrity_ok, Some(true));
    assert!(b.endpoint("ep").unwrap().controlling);
    // equal tie-breakers: ">=" -> still 487
    r.role = Some(Role::Controlling(BRIDGE_TB));
    r.transaction_id = [9; 12];
    let f = verify_response(
        &b.handle_udp(&r.encode(), client()).unwrap(),
        PWD,
        &r.transaction_id,
    );
    assert_eq!(f.error_code, Some(487));
}

/// ConnectivityCheckServer.repairRoleConflict: their tie-breaker larger ->
/// the bridge switches to controlled and answers success; then an
/// ICE-CONTROLLED request is the conflict.
#[test]
fn role_conflict_switches_when_client_tie_breaker_larger() {
    let b = bridge();
    let mut r = request();
    r.role = Some(Role::Controlling(BRIDGE_TB + 1));
    let f = verify_response(
        &b.handle_udp(&r.encode(), client()).unwrap(),
        PWD,
        &r.transaction_id,
    );
    assert_eq!(f.class, Some(Class::Success));
    assert!(!b.endpoint("ep").unwrap().controlling);
    let mut r2 = request();
    r2.transaction_id = [5; 12];
    r2.role = Some(Role::Controlled(1));
    let f = verify_response(
        &b.handle_udp(&r2.encode(), client()).unwrap(),
        PWD,
        &r2.transaction_id,
    );
    assert_eq!(f.error_code, Some(487));
}

/// ConnectivityCheckServer.processRequest: role conflict is handled before
/// the PRIORITY check.
#[test]
fn role_conflict_checked_before_priority() {
    let b = bridge();
    let mut r = request();
    r.priority = None;
    r.role = Some(Role::Controlling(0));
    let f = verify_response(
        &b.handle_udp(&r.encode(), client()).unwrap(),
        PWD,
        &r.transaction_id,
    );
    assert_eq!(f.error_code, Some(487));
}

/// StunStack.validateRequestAttributes: unknown comprehension-required
/// attribute -> 420 listing it (AttributeDecoder's known set).
#[test]
fn unknown_required_attribute_is_420() {
    let b = bridge();
    let tid = [3; 12];
    let bytes = MessageBuilder::new(jc_stun::BINDING_REQUEST, tid)
        .username(format!("{UFRAG}:c").as_bytes())
        .priority(1)
        .attribute(0x0030, b"zz")
        .attribute(0xC057, b"goog") // optional: ignored
        .message_integrity(PWD.as_bytes())
        .fingerprint()
        .build();
    let resp = b.handle_udp(&bytes, client()).unwrap();
    let m = jc_stun::decode(&resp).unwrap();
    assert_eq!(m.error_code().unwrap().0, 420);
    let ua = m.get(jc_stun::attr::UNKNOWN_ATTRIBUTES).unwrap();
    assert_eq!(ua.value, vec![0x00, 0x30, 0x00, 0x30]); // odd count: first repeated
}

/// StunStack.handleMessageEvent: a retransmitted request gets the same
/// response (the server transaction is remembered).
#[test]
fn retransmission_gets_same_response() {
    let b = bridge();
    let r = request();
    let first = b.handle_udp(&r.encode(), client()).unwrap();
    let second = b.handle_udp(&r.encode(), client()).unwrap();
    assert_eq!(first, second);
}

/// AbstractUdpListener: once a remote address is bound to an endpoint, its
/// requests go to that endpoint's StunStack, which answers a foreign ufrag
/// with 401 "unknown user" instead of dropping it.
#[test]
fn bound_address_with_foreign_ufrag_gets_401() {
    let b = bridge();
    b.handle_udp(&request().encode(), client()).unwrap();
    let mut r = request();
    r.transaction_id = [8; 12];
    r.bridge_ufrag = "other".into();
    let f = verify_response(
        &b.handle_udp(&r.encode(), client()).unwrap(),
        PWD,
        &r.transaction_id,
    );
    assert_eq!(f.error_code, Some(401));
    assert_eq!(f.error_reason.as_deref(), Some("unknown user other:cliU"));
    // from another address it is silence
    assert!(b
        .handle_udp(&r.encode(), "198.51.100.1:1".parse().unwrap())
        .is_none());
}

/// An expired endpoint's ufrag is no longer recognised.
#[test]
fn expired_endpoint_is_silent() {
    let b = bridge();
    assert!(b.remove_endpoint("ep"));
    assert!(b.handle_udp(&request().encode(), client()).is_none());
}

/// AbstractTcpListener.readFromChannel: the pseudo-SSL ClientHello gets the
/// ServerHello, then RFC 4571 frames; TcpHarvester.acceptSession binds by ufrag.
#[test]
fn tcp_ssltcp_handshake_then_framed_stun() {
    let b = bridge();
    let mut conn = b.tcp_connection(client());
    let r = request();
    let mut input = SSLTCP_CLIENT_HELLO.to_vec();
    input.extend_from_slice(&frame(&r.encode()).unwrap());
    // byte by byte: nothing until 72 bytes are in
    let mut out = Vec::new();
    for (i, byte) in input.iter().enumerate() {
        let o = conn.on_data(&[*byte]);
        assert!(!o.close);
        if i < 71 {
            assert!(o.write.is_empty());
        }
        out.extend_from_slice(&o.write);
    }
    assert_eq!(&out[..79], &SSLTCP_SERVER_HELLO[..]);
    let (frames, rest) = unframe_all(&out[79..]);
    assert!(rest.is_empty());
    assert_eq!(frames.len(), 1);
    let f = verify_response(&frames[0], PWD, &r.transaction_id);
    assert_eq!(f.class, Some(Class::Success));
    assert_eq!(f.xor_mapped, Some(client()));
}

/// AbstractTcpListener: without the preamble, the 72 bytes are the start of
/// RFC 4571 frames (the preamble is optional).
#[test]
fn tcp_without_preamble() {
    let b = bridge();
    let mut conn = b.tcp_connection(client());
    let r = request();
    let mut r2 = request();
    r2.transaction_id = [2; 12];
    let mut input = frame(&r.encode()).unwrap();
    input.extend_from_slice(&frame(&r2.encode()).unwrap());
    let o = conn.on_data(&input);
    assert!(!o.close);
    let (frames, _) = unframe_all(&o.write);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        verify_response(&frames[1], PWD, &r2.transaction_id).class,
        Some(Class::Success)
    );
}

/// AbstractTcpListener.processFirstDatagram / TcpHarvester.acceptSession: the
/// first frame must be a Binding request with a known ufrag, else close.
#[test]
fn tcp_first_frame_rules_close_the_socket() {
    let b = bridge();
    let mut bad = request();
    bad.bridge_ufrag = "unknown".into();
    let o = b
        .tcp_connection(client())
        .on_data(&frame(&bad.encode()).unwrap());
    assert!(o.close && o.write.is_empty());
    let mut junk = frame(&[0x17u8; 100]).unwrap();
    junk.truncate(80);
    let o = b.tcp_connection(client()).on_data(&[0u8; 80]);
    assert!(o.close, "a zero-length first frame is not STUN");
    let o = b.tcp_connection(client()).on_data(&junk);
    assert!(!o.close, "waits for the rest of the 100-byte frame");
}

/// Integration: real sockets on 127.0.0.1 only.
#[tokio::test]
async fn udp_and_tcp_over_loopback() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::{timeout, Duration};
    let b = bridge();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_addr = udp.local_addr().unwrap();
    tokio::spawn(jc_videobridge::responder::serve_udp(udp, b.clone()));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    tokio::spawn(jc_videobridge::responder::serve_tcp(tcp, b.clone()));

    let c = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let r = request();
    c.send_to(&r.encode(), udp_addr).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = timeout(Duration::from_secs(2), c.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, udp_addr);
    let f = verify_response(&buf[..n], PWD, &r.transaction_id);
    assert_eq!(f.class, Some(Class::Success));
    assert_eq!(f.xor_mapped, Some(c.local_addr().unwrap()));

    let mut s = tokio::net::TcpStream::connect(tcp_addr).await.unwrap();
    let mut msg = SSLTCP_CLIENT_HELLO.to_vec();
    msg.extend_from_slice(&frame(&r.encode()).unwrap());
    s.write_all(&msg).await.unwrap();
    let mut hello = [0u8; 79];
    timeout(Duration::from_secs(2), s.read_exact(&mut hello))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello, SSLTCP_SERVER_HELLO);
    let mut len = [0u8; 2];
    timeout(Duration::from_secs(2), s.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).await.unwrap();
    assert_eq!(
        verify_response(&body, PWD, &r.transaction_id).class,
        Some(Class::Success)
    );

    // unknown ufrag over TCP: the bridge closes
    let mut s = tokio::net::TcpStream::connect(tcp_addr).await.unwrap();
    let mut bad = request();
    bad.bridge_ufrag = "nope".into();
    s.write_all(&frame(&bad.encode()).unwrap()).await.unwrap();
    let mut rest = Vec::new();
    let n = timeout(Duration::from_secs(2), s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The responder never panics, whatever arrives.
        #[test]
        fn responder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let b = bridge();
            let _ = b.handle_udp(&bytes, client());
            let _ = b.tcp_connection(client()).on_data(&bytes);
        }

        /// Same, for bytes that start as a valid request.
        #[test]
        fn responder_never_panics_on_mutated_requests(idx in 0usize..200, val in any::<u8>()) {
            let b = bridge();
            let mut bytes = request().encode();
            let i = idx % bytes.len();
            bytes[i] = val;
            let _ = b.handle_udp(&bytes, client());
        }
    }
}

/// ConnectivityCheckServer.processRequest after the agent is TERMINATED (ice4j #287/#304):
/// the selected pair still gets 200 (consent, keepalives); a new remote address, or a pair
/// that succeeded but was not selected, gets 403 "Cannot add new remote candidates in current
/// ICE state"; before the termination delay a new address is still learned (200).
#[test]
fn after_termination_only_the_selected_pair_is_answered() {
    let b = bridge_with(IceSettings {
        termination_delay_ms: 0,
        ..settings()
    });
    let other: SocketAddr = "198.51.100.1:40000".parse().unwrap();
    let succeeded: SocketAddr = "198.51.100.1:40001".parse().unwrap();
    let check = |from: SocketAddr, seed: u64| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let r = CheckRequest::new(&mut rng, UFRAG, "cliU", PWD);
        let resp = b.handle_udp(&r.encode(), from).expect("answered");
        verify_response(&resp, PWD, &r.transaction_id)
    };
    // Learned before completion.
    assert_eq!(check(client(), 1).class, Some(Class::Success));
    assert_eq!(check(succeeded, 2).class, Some(Class::Success));
    b.mark_succeeded("ep", succeeded);
    b.mark_succeeded("ep", client());
    b.mark_selected("ep", client());
    // TERMINATED at once (delay 0).
    assert_eq!(check(client(), 3).class, Some(Class::Success));
    for (from, seed) in [(other, 4), (succeeded, 5)] {
        let f = check(from, seed);
        assert_eq!(f.class, Some(Class::Error), "{from}");
        assert_eq!(f.error_code, Some(403));
        assert_eq!(
            f.error_reason.as_deref(),
            Some("Cannot add new remote candidates in current ICE state")
        );
    }
}

/// Before the termination delay has passed, the agent is only COMPLETED: new addresses are
/// still answered (ice4j default delay: 3 s).
#[test]
fn completed_is_not_terminated() {
    let b = bridge();
    assert_eq!(b.endpoint("ep").unwrap().selected_peer, None);
    b.mark_selected("ep", client());
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let r = CheckRequest::new(&mut rng, UFRAG, "cliU", PWD);
    let resp = b
        .handle_udp(&r.encode(), "198.51.100.1:40009".parse().unwrap())
        .expect("answered");
    assert_eq!(
        verify_response(&resp, PWD, &r.transaction_id).class,
        Some(Class::Success)
    );
}
