//! The videobridge side of the fake Jitsi machine, built on `jc-ice`: configured once at start
//! from the bridge's own files only (`sip-communicator.properties` and `jvb.conf` in the config
//! directory, never jicofo's), host candidates from the container's real interfaces, STUN on
//! UDP, ICE-TCP when enabled, and the private Colibri2-style control API on 127.0.0.1:8080 as
//! JVB binds its REST API.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use jc_videobridge::config::{IceSettings, ParseError};
use jc_videobridge::control::ControlApi;
use jc_videobridge::responder::{self, BridgeState};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

/// Where JVB keeps its files.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/jitsi/videobridge";

/// What the videobridge needs to start.
#[derive(Debug, Clone)]
pub struct VideobridgeConfig {
    /// Holds `sip-communicator.properties` and `jvb.conf` (either may be missing, as for JVB).
    pub config_dir: PathBuf,
    /// The address UDP and ICE-TCP bind on (ports come from the config files).
    pub bind_ip: IpAddr,
    /// The private control API.
    pub control: SocketAddr,
    /// Host addresses to use instead of the interfaces' (tests).
    pub addresses: Option<Vec<IpAddr>>,
}

/// Reads the bridge's two files, once. Errors are `file:line: reason`.
pub fn load_settings(dir: &Path) -> Result<IceSettings, ParseError> {
    IceSettings::load_dir(dir)
}

/// Whether JVB's public HTTP server runs and serves colibri websockets, from the same two files.
pub fn load_websockets(
    dir: &Path,
) -> Result<jc_videobridge::config::websockets::WebsocketSettings, ParseError> {
    jc_videobridge::config::websockets::WebsocketSettings::load_dir(dir)
}

/// IPv4 addresses of up interfaces, from `ip -4 -o addr show up` (iproute2 is in the image).
/// Loopback stays in the list: jc-ice's `usable_host_addresses` applies ice4j's filters.
pub fn interface_addresses() -> Result<Vec<IpAddr>> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "up"])
        .output()
        .context("cannot run `ip -4 -o addr show up` to find the host addresses")?;
    if !out.status.success() {
        anyhow::bail!(
            "`ip -4 -o addr show up` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_ip_addr(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `ip -4 -o addr` lines: `2: eth0    inet 172.30.77.20/24 brd ... scope global eth0 ...`.
pub fn parse_ip_addr(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            let cidr = words.next()?;
            cidr.split('/').next()?.parse::<IpAddr>().ok()
        })
        .collect()
}

/// Every socket of the videobridge, bound but not serving yet.
pub struct Videobridge {
    state: BridgeState,
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    control: TcpListener,
    /// The colibri websocket URL prefix the control API signals, when the bridge serves them.
    web_sockets: Option<String>,
}

impl Videobridge {
    pub async fn bind(config: &VideobridgeConfig) -> Result<Videobridge> {
        let settings = load_settings(&config.config_dir)?;
        for w in &settings.warnings {
            tracing::warn!("{w}");
        }
        let addresses = match &config.addresses {
            Some(a) => a.clone(),
            None => interface_addresses()?,
        };
        tracing::info!(
            ?addresses,
            udp_port = settings.udp_port,
            tcp = ?settings.tcp,
            mappings = ?settings.mappings,
            "videobridge configured"
        );
        let udp_addr = SocketAddr::new(config.bind_ip, settings.udp_port);
        let udp = UdpSocket::bind(udp_addr)
            .await
            .with_context(|| format!("cannot bind the videobridge's UDP port on {udp_addr}"))?;
        let tcp = match &settings.tcp {
            Some(t) => {
                let a = SocketAddr::new(config.bind_ip, t.port);
                Some(
                    TcpListener::bind(a)
                        .await
                        .with_context(|| format!("cannot bind the ICE-TCP port on {a}"))?,
                )
            }
            None => None,
        };
        let control = TcpListener::bind(config.control)
            .await
            .with_context(|| format!("cannot bind the control API on {}", config.control))?;
        let ws = load_websockets(&config.config_dir)?;
        Ok(Videobridge {
            state: BridgeState::new(settings, addresses),
            udp,
            tcp,
            control,
            web_sockets: ws.serves_colibri_ws().then_some(ws.url_base).flatten(),
        })
    }

    pub fn udp_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|t| t.local_addr().ok())
    }

    pub fn control_addr(&self) -> std::io::Result<SocketAddr> {
        self.control.local_addr()
    }

    /// Serves until `shutdown` changes or its sender is dropped.
    pub async fn run(self, mut shutdown: watch::Receiver<()>) -> Result<()> {
        let api = Arc::new(ControlApi::new(self.state.clone()).with_web_sockets(self.web_sockets));
        let router = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let api = Arc::clone(&api);
            async move { control(&api, &method, &uri, &body) }
        });
        let mut stop = shutdown.clone();
        let control = axum::serve(self.control, router).with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        });
        // The WebRTC side (DTLS, SCTP, data channel echo) rides on the same UDP socket: STUN
        // stays with jc-ice's ice4j rules, the rest goes to DTLS once a pair is selected. Made
        // before the control API answers, so every transport carries its fingerprint.
        let peer = jc_videobridge::peer::BridgePeer::new(self.state.clone())
            .map_err(anyhow::Error::msg)
            .context("cannot make the bridge's DTLS identity")?;
        let socket = Arc::new(self.udp);
        let udp = async move { peer.serve_udp(socket).await };
        let tcp = async {
            match self.tcp {
                Some(l) => responder::serve_tcp(l, self.state.clone()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = control => r.context("the control API failed"),
            r = udp => r.context("the UDP responder failed"),
            r = tcp => r.context("the ICE-TCP responder failed"),
            _ = shutdown.changed() => Ok(()),
        }
    }
}

fn control(api: &ControlApi, method: &Method, uri: &Uri, body: &[u8]) -> Response {
    let (status, json) = api.handle_http(method.as_str(), uri.path(), body);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&json).unwrap_or_default(),
    )
        .into_response()
}

// The control API's client (allocate, update, expire) lives with the API in jc-videobridge,
// where the focus stand-in (jc-xmpp) uses it too.
pub use jc_videobridge::control_client::{
    allocate, allocate_body, allocate_body_with, client_transport, patch, update_body,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addr_output_is_read() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                    42: eth0@if43    inet 172.30.77.20/24 brd 172.30.77.255 scope global eth0\\       valid_lft forever preferred_lft forever\n";
        assert_eq!(
            parse_ip_addr(text),
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "172.30.77.20".parse().unwrap()
            ]
        );
        assert!(parse_ip_addr("garbage\ninet\n").is_empty());
    }

    #[tokio::test]
    async fn serves_stun_and_allocates_from_its_own_files_only() {
        let dir = tempfile_dir();
        std::fs::write(
            dir.join("sip-communicator.properties"),
            "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=127.0.0.2\norg.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("jvb.conf"),
            "videobridge.ice.udp.port = 0\nvideobridge.ice.tcp { enabled = true\n port = 0 }\n",
        )
        .unwrap();
        let vb = Videobridge::bind(&VideobridgeConfig {
            config_dir: dir.clone(),
            bind_ip: "127.0.0.1".parse().unwrap(),
            control: "127.0.0.1:0".parse().unwrap(),
            addresses: Some(vec!["172.30.77.20".parse().unwrap()]),
        })
        .await
        .unwrap();
        let api = vb.control_addr().unwrap();
        let udp_addr = vb.udp_addr().unwrap();
        assert!(vb.tcp_addr().is_some());
        let (_stop, stopped) = watch::channel(());
        tokio::spawn(vb.run(stopped));
        let (status, body) = allocate(
            api,
            &allocate_body(Some("cli1"), Some("clientpwd0123456789abc")),
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let t = jc_videobridge::candidates::parse_transport(&v).unwrap();
        assert!(t
            .candidates
            .iter()
            .any(|c| c.typ == "host" && c.ip == "172.30.77.20"));
        // No host address equals the mapping's local address: no srflx (ice4j's rule).
        assert!(t.candidates.iter().all(|c| c.typ != "srflx"));
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut rng = rand::rng();
        let (req, tid) = jc_stun::client::binding_request(&mut rng, &t.ufrag, "cli1", &t.pwd);
        sock.send_to(&req, udp_addr).await.unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) =
            tokio::time::timeout(std::time::Duration::from_secs(2), sock.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(from, udp_addr);
        let f = jc_stun::client::verify_response(&buf[..n], &t.pwd, &tid);
        assert_eq!(f.integrity_ok, Some(true));
        assert_eq!(f.fingerprint_ok, Some(true));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_parse_error_names_file_and_line() {
        let dir = tempfile_dir();
        std::fs::write(dir.join("jvb.conf"), "videobridge {\n  ice {\n").unwrap();
        let e = load_settings(&dir).unwrap_err().to_string();
        assert!(e.contains("jvb.conf:"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "jc-vb-test-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
