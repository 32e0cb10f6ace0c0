//! A real coturn for the tests, on 127.0.0.1 only, killed when dropped
//! (also when the test panics).
//!
//! The config follows Jitsi's `doc/debian/jitsi-meet-turn/turnserver.conf`
//! (use-auth-secret, static-auth-secret, realm, no-tcp, no-tcp-relay,
//! no-multicast-peers, no-cli, no-tlsv1/no-tlsv1_1, denied-peer-ip) with the
//! lab's changes: listening-ip/relay-ip 127.0.0.1, `allow-loopback-peers`
//! (loopback peers are denied by default, coturn `ns_turn_server.c`
//! `good_peer_addr`), and one denied range inside loopback so a denial can be
//! observed: `good_peer_addr` lets loopback through (allow-loopback-peers),
//! finds no `allowed-peer-ip`, and then denies 127.0.0.64-127.0.0.127 by
//! `denied-peer-ip`, while 127.0.0.1 (the bridge) stays allowed.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jc_turn::turn_probe::DestinationFilter;

pub const SECRET: &str = "jc-lab-turn-secret";
pub const REALM: &str = "lab.test";
pub const SNI: &str = "turn.lab.test";
/// Inside the denied range of the config.
pub const DENIED_PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 66);

/// Debian's coturn on the host, installed on demand as the harness prepares the host (as root;
/// `JC_NO_HOST_SETUP=1` forbids it).
pub fn turnserver_installed() -> bool {
    match jc_harness::host::ensure_coturn(jc_harness::host::HostSetup::from_env()) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("{e}");
            false
        }
    }
}

/// Only loopback: the lab filter of these tests.
pub fn loopback_filter() -> DestinationFilter {
    Arc::new(|a: SocketAddr| a.ip().is_loopback())
}

pub struct Coturn {
    child: Child,
    dir: PathBuf,
    pub udp: SocketAddr,
    pub tls: SocketAddr,
    /// The CA that signed the server certificate (trust anchor for TLS facts).
    pub ca_der: Vec<u8>,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Coturn {
    /// Start coturn on `ports` (UDP/TCP listening port, TLS port), or on free
    /// ports, and wait until it answers.
    pub fn start(ports: Option<(u16, u16)>) -> Coturn {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jc-coturn-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (port, tls_port) = ports.unwrap_or_else(|| (free_port(), free_port()));

        let (chain_pem, key_pem, ca_der) = certificates();
        std::fs::write(dir.join("cert.pem"), chain_pem).unwrap();
        std::fs::write(dir.join("key.pem"), key_pem).unwrap();
        let conf = format!(
            "listening-ip=127.0.0.1\n\
             relay-ip=127.0.0.1\n\
             listening-port={port}\n\
             tls-listening-port={tls_port}\n\
             use-auth-secret\n\
             static-auth-secret={SECRET}\n\
             realm={REALM}\n\
             cert={d}/cert.pem\n\
             pkey={d}/key.pem\n\
             no-tcp\n\
             no-tcp-relay\n\
             no-dtls\n\
             no-multicast-peers\n\
             no-cli\n\
             no-tlsv1\n\
             no-tlsv1_1\n\
             allow-loopback-peers\n\
             denied-peer-ip=127.0.0.64-127.0.0.127\n\
             userdb={d}/turndb\n\
             pidfile={d}/turnserver.pid\n\
             log-file=stdout\n\
             simple-log\n\
             verbose\n",
            d = dir.display()
        );
        std::fs::write(dir.join("turnserver.conf"), conf).unwrap();
        let log = std::fs::File::create(dir.join("turnserver.log")).unwrap();
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(dir.join("turnserver.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("turnserver starts");
        let me = Coturn {
            child,
            dir,
            udp: (Ipv4Addr::LOCALHOST, port).into(),
            tls: (Ipv4Addr::LOCALHOST, tls_port).into(),
            ca_der,
        };
        me.wait_ready();
        me
    }

    pub fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(self.ca_der.clone()))
            .unwrap();
        Arc::new(roots)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turnserver.log")).unwrap_or_default()
    }

    /// A Binding request over UDP gets an answer and the TLS port accepts.
    fn wait_ready(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        req.extend_from_slice(&[7u8; 12]);
        let t0 = Instant::now();
        let mut buf = [0u8; 512];
        while t0.elapsed() < Duration::from_secs(5) {
            let _ = sock.send_to(&req, self.udp);
            if sock.recv_from(&mut buf).is_ok() && std::net::TcpStream::connect(self.tls).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("turnserver did not come up:\n{}", self.log());
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP right now.
pub fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// A lab CA and a server certificate for [`SNI`] signed by it:
/// (chain PEM server-then-CA, server key PEM, CA DER).
fn certificates() -> (String, String, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "jc lab CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(vec![SNI.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, SNI);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (
        format!("{}{}", cert.pem(), ca.pem()),
        key.serialize_pem(),
        ca.der().to_vec(),
    )
}
