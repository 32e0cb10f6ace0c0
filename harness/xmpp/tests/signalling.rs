//! The participant and the focus end to end through a real prosody: the conference request,
//! the MUC, Jingle with two participants, and the failures a probe must word clearly.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use jc_videobridge::candidates::{ParsedCandidate, ParsedTransport};
use jc_xmpp::component::Component;
use jc_xmpp::focus::{Allocator, Focus};
use jc_xmpp::{BridgeTransport, Client, ClientTransport, XmppError};
use support::{Prosody, COMPONENT_SECRET, DOMAIN, FOCUS, MUC, TURN_SECRET};

const T: Duration = Duration::from_secs(5);
const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

/// An in-memory bridge that records what the focus asks of it.
#[derive(Default)]
struct FakeAllocator {
    allocated: Mutex<Vec<(String, String)>>,
    updated: Mutex<Vec<(String, ClientTransport)>>,
    expired: Mutex<Vec<String>>,
}

fn bridge_for(endpoint: &str) -> BridgeTransport {
    BridgeTransport {
        transport: ParsedTransport {
            ufrag: format!("br{endpoint}"),
            pwd: "bridgepwd0123456789abcdef".into(),
            candidates: vec![ParsedCandidate {
                foundation: "1".into(),
                component: 1,
                protocol: "udp".into(),
                ip: "198.51.100.2".into(),
                port: 10000,
                priority: 2130706431,
                typ: "host".into(),
                rel_addr: None,
                rel_port: None,
                tcptype: None,
                generation: Some(0),
                id: Some("c1".into()),
            }],
            fingerprints: vec![("sha-256".into(), FP.into())],
        },
        sctp_port: Some(5000),
        web_socket: None,
    }
}

#[async_trait]
impl Allocator for FakeAllocator {
    async fn allocate(&self, room: &str, endpoint: &str) -> Result<BridgeTransport, String> {
        self.allocated
            .lock()
            .unwrap()
            .push((room.to_string(), endpoint.to_string()));
        Ok(bridge_for(endpoint))
    }
    async fn update(&self, _room: &str, endpoint: &str, c: &ClientTransport) -> Result<(), String> {
        self.updated
            .lock()
            .unwrap()
            .push((endpoint.to_string(), c.clone()));
        Ok(())
    }
    async fn expire(&self, _room: &str, endpoint: &str) -> Result<(), String> {
        self.expired.lock().unwrap().push(endpoint.to_string());
        Ok(())
    }
}

async fn participant(p: &Prosody, room: &str) -> Client<tokio::net::TcpStream> {
    Client::connect(p.tcp().await, &p.ws_url(room), DOMAIN, T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", p.log()))
}

async fn start_focus(
    p: &Prosody,
) -> (
    Arc<FakeAllocator>,
    tokio::task::JoinHandle<Result<(), XmppError>>,
) {
    let allocator = Arc::new(FakeAllocator::default());
    let component = Component::connect(p.component, FOCUS, COMPONENT_SECRET, T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", p.log()));
    let focus = Focus::new(component, MUC, allocator.clone());
    (allocator, tokio::spawn(focus.run()))
}

fn client_transport(ufrag: &str) -> ClientTransport {
    ClientTransport {
        ufrag: ufrag.into(),
        pwd: format!("{ufrag}-client-password-0123"),
        fingerprint: ("sha-256".into(), FP.into()),
    }
}

#[tokio::test]
async fn two_participants_get_the_bridge_transport_and_accept() {
    let p = Prosody::start();
    let (allocator, focus) = start_focus(&p).await;
    let room = format!("room1@{MUC}");
    let mut alice = participant(&p, "room1").await;
    let mut bob = participant(&p, "room1").await;
    for (c, nick) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        let focusjid = c.conference_request(FOCUS, &room, T).await.unwrap();
        assert_eq!(focusjid, FOCUS);
        c.join(&room, nick, T).await.unwrap();
    }
    for (c, nick) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        let offer = c.await_session_initiate(T).await.unwrap();
        assert_eq!(offer.from, format!("{room}/focus"));
        assert_eq!(offer.transport, bridge_for(nick).transport, "{}", offer.raw);
        assert_eq!(offer.setup.as_deref(), Some("actpass"));
        assert_eq!(offer.sctp_port, Some(5000));
        assert_eq!(offer.contents, ["audio", "video", "data"]);
        assert!(offer.raw.contains("sctpmap"), "{}", offer.raw);
        c.accept(&offer, &client_transport(nick), T).await.unwrap();
    }
    let mut allocated = allocator.allocated.lock().unwrap().clone();
    allocated.sort();
    assert_eq!(
        allocated,
        [
            (room.clone(), "alice".to_string()),
            (room.clone(), "bob".to_string())
        ]
    );
    let mut updated = allocator.updated.lock().unwrap().clone();
    updated.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        updated,
        [
            ("alice".to_string(), client_transport("alice")),
            ("bob".to_string(), client_transport("bob"))
        ]
    );
    alice.leave(T).await.unwrap();
    bob.leave(T).await.unwrap();
    let deadline = Instant::now() + T;
    while allocator.expired.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the focus expired {:?}",
            allocator.expired.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!focus.is_finished());
}

#[tokio::test]
async fn one_participant_alone_gets_no_session_initiate() {
    let p = Prosody::start();
    let (allocator, _focus) = start_focus(&p).await;
    let room = format!("alone@{MUC}");
    let mut alice = participant(&p, "alone").await;
    alice.conference_request(FOCUS, &room, T).await.unwrap();
    alice.join(&room, "alice", T).await.unwrap();
    let started = Instant::now();
    let e = alice
        .await_session_initiate(Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(e, XmppError::Timeout { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "no session-initiate from the focus within 2 s"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(allocator.allocated.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_focus_that_never_answers_is_a_clear_error() {
    let p = Prosody::start();
    let room = format!("silent@{MUC}");
    let mut alice = participant(&p, "silent").await;
    // No component connected: prosody itself refuses at once (mod_component.lua
    // `handle_stanza`: remote-server-timeout, "Component unavailable").
    let e = alice.conference_request(FOCUS, &room, T).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "the conference request failed: remote-server-timeout (Component unavailable)"
    );
    // A component that authenticates and then never answers.
    let _silent = Component::connect(p.component, FOCUS, COMPONENT_SECRET, T)
        .await
        .unwrap();
    let started = Instant::now();
    let e = alice
        .conference_request(FOCUS, &room, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the focus did not answer the conference request within 3 s"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn a_wrong_component_secret_is_refused() {
    let p = Prosody::start();
    let e = Component::connect(p.component, FOCUS, "not-the-secret", T)
        .await
        .err()
        .expect("a wrong secret is refused");
    assert!(
        matches!(&e, XmppError::Refused { condition, .. } if condition == "not-authorized"),
        "{e}"
    );
}

#[tokio::test]
async fn external_services_carry_turn_rest_credentials() {
    let p = Prosody::start();
    let mut alice = participant(&p, "svc").await;
    let services = alice.external_services(T).await.unwrap();
    let stun = services
        .iter()
        .find(|s| s.typ == "stun")
        .expect("a stun service");
    assert_eq!((stun.host.as_str(), stun.port), ("127.0.0.1", Some(3478)));
    assert_eq!(stun.username, None);
    let turn = services
        .iter()
        .find(|s| s.typ == "turn")
        .expect("a turn service");
    assert_eq!(turn.transport.as_deref(), Some("udp"));
    // coturn's REST API scheme (mod_external_services behave_turn_rest_credentials):
    // username = expiry as a Unix time, password = base64(HMAC-SHA1(secret, username)).
    let username = turn.username.clone().expect("a TURN username");
    let expiry: u64 = username.parse().expect("the username is a timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry > now && expiry <= now + 86400 + 5,
        "{expiry} vs {now}"
    );
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        TURN_SECRET.as_bytes(),
    );
    let expected = base64::engine::general_purpose::STANDARD
        .encode(ring::hmac::sign(&key, username.as_bytes()).as_ref());
    assert_eq!(turn.password.as_deref(), Some(expected.as_str()));
    assert!(turn.expires.is_some());
    alice.leave(T).await.unwrap();
}
