//! The TURN probes against a real coturn on 127.0.0.1 (skipped, with a
//! message, when `turnserver` is not installed).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{loopback_filter, turnserver_installed, Coturn, DENIED_PEER, REALM, SECRET, SNI};
use jc_turn::turn_probe::{self, rest_credentials, Credentials, ProbeError, Target};

fn creds() -> Credentials {
    let (u, p) = rest_credentials(SECRET, "conformance", Duration::from_secs(3600));
    Credentials::new(u, p)
}

macro_rules! require_turnserver {
    () => {
        // Never a silent skip: these tests need Debian's coturn on the host (.ci/run installs it).
        assert!(
            turnserver_installed(),
            "turnserver is not installed: run `apt-get install -y coturn`"
        );
    };
}

/// The IANA ports (3478 UDP, 5349 TLS), as Jitsi's template uses them.
#[tokio::test]
async fn allocate_over_udp_and_tls_and_free() {
    require_turnserver!();
    let coturn = Coturn::start(Some((3478, 5349)));

    let udp = turn_probe::allocate_udp(coturn.udp, &creds(), loopback_filter()).await;
    eprintln!("UDP allocate: {udp:?}");
    assert!(
        udp.error.is_none() && udp.success,
        "{udp:?}\n{}",
        coturn.log()
    );
    assert_eq!(udp.error_codes, [401], "challenge first");
    assert_eq!(udp.realm.as_deref(), Some(REALM));
    assert!(udp.nonce_seen);
    let relayed = udp.relayed.expect("XOR-RELAYED-ADDRESS");
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    assert_eq!(udp.mapped, udp.local, "XOR-MAPPED-ADDRESS is our socket");
    assert!(udp.lifetime_s.unwrap() > 0);
    assert!(
        udp.software.as_deref().unwrap_or("").contains("Coturn"),
        "{:?}",
        udp.software
    );
    assert_eq!(udp.response_integrity_ok, Some(true));
    assert_eq!(udp.freed, Some(true));

    let tls = turn_probe::allocate_tls(
        coturn.tls,
        SNI,
        Some(coturn.roots()),
        &creds(),
        loopback_filter(),
    )
    .await;
    eprintln!("TLS allocate: {tls:?}");
    assert!(
        tls.error.is_none() && tls.success,
        "{tls:?}\n{}",
        coturn.log()
    );
    assert_eq!(tls.error_codes, [401]);
    assert_eq!(tls.relayed.unwrap().ip().to_string(), "127.0.0.1");
    assert_eq!(tls.freed, Some(true));
    let t = tls.tls.as_ref().unwrap();
    assert_eq!(t.verified, Some(true), "{t:?}");
    assert_eq!(t.chain_der.len(), 2, "server + CA as in cert=");
    assert!(t.protocol.is_some() && t.cipher_suite.is_some());
    eprintln!(
        "timings: UDP allocate {} ms; TLS connect {} ms + handshake {} ms + allocate {} ms",
        udp.elapsed_ms, t.connect_ms, t.handshake_ms, tls.elapsed_ms
    );

    // The same chain for another name: recorded, not verified, still allocates.
    let other = turn_probe::allocate_tls(
        coturn.tls,
        "other.lab.test",
        Some(coturn.roots()),
        &creds(),
        loopback_filter(),
    )
    .await;
    let t = other.tls.as_ref().unwrap();
    assert_eq!(t.verified, Some(false), "{t:?}");
    assert!(t.verify_error.is_some());
    assert!(other.success, "{other:?}");
    // No roots: chain recorded, no verdict.
    let any = turn_probe::allocate_tls(coturn.tls, SNI, None, &creds(), loopback_filter()).await;
    assert_eq!(any.tls.as_ref().unwrap().verified, None);
    assert_eq!(any.tls.as_ref().unwrap().chain_sha256.len(), 2);
}

#[tokio::test]
async fn wrong_password_gets_401_on_udp_and_tls() {
    require_turnserver!();
    let coturn = Coturn::start(None);
    for target in [
        Target::udp(coturn.udp, loopback_filter()),
        Target::tls(coturn.tls, SNI, None, loopback_filter()),
    ] {
        let f = turn_probe::wrong_password(&target, &creds()).await;
        assert!(f.error.is_none(), "{f:?}");
        assert!(!f.success);
        assert_eq!(f.error_codes, [401, 401], "{f:?}");
        assert_eq!(f.final_code(), Some(401));
    }
    // An expired REST username is refused the same way (coturn userdb.c).
    let (u, p) = turn_probe::rest_credentials_at(SECRET, "conformance", 1_000_000);
    let f = turn_probe::allocate(
        &Target::udp(coturn.udp, loopback_filter()),
        &Credentials::new(u, p),
    )
    .await;
    assert_eq!(f.final_code(), Some(401), "{f:?}");
}

#[tokio::test]
async fn create_permission_to_a_denied_peer_gets_403() {
    require_turnserver!();
    let coturn = Coturn::start(None);
    for target in [
        Target::udp(coturn.udp, loopback_filter()),
        Target::tls(coturn.tls, SNI, None, loopback_filter()),
    ] {
        let denied = turn_probe::create_permission(&target, &creds(), DENIED_PEER).await;
        assert!(
            denied.error.is_none() && denied.allocate.success,
            "{denied:?}"
        );
        assert_eq!(denied.class.as_deref(), Some("error"));
        assert_eq!(denied.code, Some(403), "{denied:?}");
        assert_eq!(denied.allocate.freed, Some(true));
        // Control: a loopback peer outside the range is allowed, so the 403
        // came from denied-peer-ip, not from the loopback rule.
        let allowed =
            turn_probe::create_permission(&target, &creds(), "127.0.0.1".parse().unwrap()).await;
        assert_eq!(allowed.class.as_deref(), Some("success"), "{allowed:?}");
        assert_eq!(allowed.code, None);
    }
    assert!(
        coturn.log().contains("denied"),
        "coturn logs the denial:\n{}",
        coturn.log()
    );
}

/// A filter that refuses the server: an error naming it, and not one byte
/// reaches the address (a UDP socket and a TCP listener stand there).
#[tokio::test]
async fn a_refused_server_is_never_contacted() {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (u, t) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let refuse: turn_probe::DestinationFilter = Arc::new(|_: SocketAddr| false);

    let f = turn_probe::allocate_udp(u, &creds(), refuse.clone()).await;
    assert_eq!(f.error, Some(ProbeError::Refused(u)));
    assert!(f.error.unwrap().to_string().contains(&u.to_string()));
    let f = turn_probe::allocate_tls(t, SNI, None, &creds(), refuse.clone()).await;
    assert_eq!(f.error, Some(ProbeError::Refused(t)));
    let f = turn_probe::wrong_password(&Target::udp(u, refuse.clone()), &creds()).await;
    assert_eq!(f.error, Some(ProbeError::Refused(u)));
    let f =
        turn_probe::create_permission(&Target::tls(t, SNI, None, refuse), &creds(), DENIED_PEER)
            .await;
    assert_eq!(f.allocate.error, Some(ProbeError::Refused(t)));

    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), udp.recv_from(&mut buf))
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(50), tcp.accept())
            .await
            .is_err()
    );
}

/// Nothing answers: three UDP sends, then a timeout naming the step, ~1.5 s.
#[tokio::test]
async fn a_silent_server_times_out_after_three_sends() {
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let t0 = std::time::Instant::now();
    let probe =
        tokio::spawn(
            async move { turn_probe::allocate_udp(addr, &creds(), loopback_filter()).await },
        );
    let mut buf = [0u8; 256];
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(2), silent.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
    }
    let f = probe.await.unwrap();
    let e = t0.elapsed();
    assert!(matches!(f.error, Some(ProbeError::Timeout { .. })), "{f:?}");
    assert!(
        e >= Duration::from_millis(1400) && e < Duration::from_millis(2500),
        "{e:?}"
    );
}
