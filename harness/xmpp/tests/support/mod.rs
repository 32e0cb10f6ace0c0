//! A real prosody (Debian's 0.12) for the tests, on 127.0.0.1 only, with a config of its own in
//! a temp dir, killed when dropped (also when a test panics). The config is the lab's
//! (research `prosody-test/v5.cfg.lua`, tested against prosody 0.12.3): core modules only, an
//! anonymous VirtualHost, a MUC component with `muc_room_locking = false`, websocket and BOSH
//! on one loopback HTTP port (`consider_*_secure`: TLS ends in front of it), XEP-0215 services
//! with a TURN REST secret, and the focus component.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "meet.jc.test";
pub const MUC: &str = "conference.meet.jc.test";
pub const FOCUS: &str = "focus.meet.jc.test";
pub const COMPONENT_SECRET: &str = "jc-focus-secret";
pub const TURN_SECRET: &str = "jc-turn-secret";
/// How long prosody gets to open its ports.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Debian's prosody on the host, installed on demand as the harness prepares the host (as
/// root; `JC_NO_HOST_SETUP=1` forbids it). A missing prosody fails the test, never skips it.
pub fn ensure_prosody() {
    if let Err(e) = jc_harness::host::ensure_prosody(jc_harness::host::HostSetup::from_env()) {
        panic!("{e}");
    }
}

pub struct Prosody {
    child: Child,
    dir: PathBuf,
    /// websocket (`/xmpp-websocket`) and BOSH (`/http-bind`).
    pub http: SocketAddr,
    /// XEP-0114.
    pub component: SocketAddr,
}

impl Drop for Prosody {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Prosody {
    pub fn start() -> Prosody {
        ensure_prosody();
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jc-prosody-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("data")).expect("temp dir");
        let (http, component) = (free_port(), free_port());
        let d = dir.display();
        let config = format!(
            r#"
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}"
-- The tests run as root in the build container; this prosody listens on loopback only.
run_as_root = true
log = {{ {{ levels = {{ min = "info" }}, to = "console" }} }}
modules_enabled = {{ "disco"; "saslauth"; "ping"; "posix"; "bosh"; "websocket"; "external_services" }}
c2s_require_encryption = false
consider_websocket_secure = true
consider_bosh_secure = true
http_ports = {{ {http} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
c2s_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ {component} }}
component_interfaces = {{ "127.0.0.1" }}
external_service_secret = "{TURN_SECRET}"
external_services = {{
  {{ type = "stun", host = "127.0.0.1", port = 3478, transport = "udp" }};
  {{ type = "turn", host = "127.0.0.1", port = 3478, transport = "udp", secret = true, ttl = 86400, algorithm = "turn" }};
}}

VirtualHost "{DOMAIN}"
  authentication = "anonymous"

Component "{MUC}" "muc"
  muc_room_locking = false

Component "{FOCUS}"
  component_secret = "{COMPONENT_SECRET}"
"#
        );
        let cfg = dir.join("prosody.cfg.lua");
        std::fs::write(&cfg, config).expect("config");
        let log = std::fs::File::create(dir.join("prosody.log")).expect("log");
        let child = Command::new("prosody")
            .arg("-F")
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("prosody starts");
        let mut p = Prosody {
            child,
            dir,
            http: SocketAddr::from(([127, 0, 0, 1], http)),
            component: SocketAddr::from(([127, 0, 0, 1], component)),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let up =
                |a: &SocketAddr| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok();
            if up(&p.http) && up(&p.component) {
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("prosody exited ({status}):\n{}", p.log());
            }
            if Instant::now() > deadline {
                panic!(
                    "prosody did not open its ports within {START_TIMEOUT:?}:\n{}",
                    p.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
    }

    /// The websocket URL a web client in `room` would use (`?room=` as jitsi-meet appends it).
    pub fn ws_url(&self, room: &str) -> String {
        format!("ws://{}/xmpp-websocket?room={room}", self.http)
    }

    /// A TCP stream to the HTTP port (loopback only, asserted).
    pub async fn tcp(&self) -> tokio::net::TcpStream {
        assert!(self.http.ip().is_loopback());
        tokio::net::TcpStream::connect(self.http)
            .await
            .expect("prosody's HTTP port")
    }
}
