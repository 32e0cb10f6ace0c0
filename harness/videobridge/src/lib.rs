//! The videobridge model: JVB's and ice4j's observable rules, which the fake videobridge on the
//! lab's bridge host runs (`jitsi-conformance fake-bridge`). STUN itself (codec, client checks,
//! ICE-TCP framing) is `jc-stun`, shared with the probes.
//!
//! Modules, each naming the ice4j / jitsi-videobridge sources it follows:
//! - [`config`]: `sip-communicator.properties` and `jvb.conf` readers and the
//!   resolved [`config::IceSettings`];
//! - [`candidates`]: host/srflx candidates, priorities, foundations, Colibri2 JSON;
//! - [`agent`]: ufrag/pwd/tie-breaker/candidate-id shapes;
//! - [`responder`]: the bridge's answers to connectivity checks on UDP and
//!   ICE-TCP (sans-IO core + tokio loops) and the shared [`responder::BridgeState`];
//! - [`control`]: the private Colibri2-style control API;
//! - [`dtls`]: JVB's DTLS rules (use_srtp required, the bridge's SRTP order, the client's
//!   certificate checked against the signalled fingerprint);
//! - [`peer`]: the bridge's checks back to the client and its WebRTC side
//!   (DTLS, SCTP, echoing data channel);
//!
//! Quick start for the binary:
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use jc_videobridge::{config::IceSettings, control::ControlApi, responder::{self, BridgeState}};
//! let settings = IceSettings::load_default().expect("config");
//! let addrs = vec!["172.30.77.20".parse().unwrap()]; // up, non-loopback IPv4 of the host
//! let state = BridgeState::new(settings.clone(), addrs);
//! let udp = tokio::net::UdpSocket::bind(("0.0.0.0", settings.udp_port)).await?;
//! tokio::spawn(responder::serve_udp(udp, state.clone()));
//! if let Some(tcp) = &settings.tcp {
//!     let l = tokio::net::TcpListener::bind(("0.0.0.0", tcp.port)).await?;
//!     tokio::spawn(responder::serve_tcp(l, state.clone()));
//! }
//! let api = ControlApi::new(state);
//! let (status, json) = api.handle_http("POST", "/colibri/v2/conferences", b"");
//! # Ok(()) }
//! ```
//!
//! WebRTC peer ([`peer`]): [`peer::BridgePeer::serve_udp`] replaces
//! [`responder::serve_udp`] on the UDP port. It keeps answering STUN by the
//! responder's rules, checks a peer-reflexive client back as ice4j's
//! controlling agent does (USE-CANDIDATE on the nominating check), and over
//! the selected pair runs webrtc-rs's `dtls` (server), `webrtc-sctp` and
//! `webrtc-data` (an echoing data channel) on a `Conn` implemented here over
//! the same UDP socket, so the library's own ICE agent (and its NAT 1:1
//! option) is never used and the ice4j candidate and check rules stay ours.
//! ```no_run
//! # async fn run(state: jc_videobridge::responder::BridgeState) -> std::io::Result<()> {
//! use std::sync::Arc;
//! let peer = jc_videobridge::peer::BridgePeer::new(state).expect("certificate");
//! let udp = Arc::new(tokio::net::UdpSocket::bind(("0.0.0.0", 10000)).await?);
//! tokio::spawn(async move { peer.serve_udp(udp).await });
//! # Ok(()) }
//! ```

pub mod agent;
pub mod candidates;
pub mod config;
pub mod control;
pub mod control_client;
pub mod dtls;
pub mod peer;
pub mod responder;
