//! The live probe's signalling, as Jitsi's web client does it (SPEC section 11): XMPP over
//! `wss://FQDN/xmpp-websocket`, SASL ANONYMOUS, XEP-0215 external services, the conference
//! request to the focus, MUC occupants and their Jingle sessions.
//!
//! The probe sees it only through [`Signalling`]; [`connect`] is the one place that makes it.
//! Until the XMPP client (crate `jc-xmpp`) is wired in, [`connect`] returns [`NotBuilt`], whose
//! every answer is the error "signalling not built yet", so the checks that need the bridge
//! report `error` with that reason and every other check runs.
//!
//! What an implementation must do (SPEC sections 9 and 11):
//! - connect with [`Dial::tls`] (guarded TCP to the site's address, TLS with SNI = FQDN), then
//!   the RFC 7395 websocket at [`SiteConfig::service_url`] with subprotocol `xmpp`;
//! - log in anonymously at `hosts.anonymousdomain` or `hosts.domain`, ask `hosts.domain` for
//!   XEP-0215 services, send the conference request to `hosts.focus`, join `room@hosts.muc`
//!   with one idle occupant kept for the whole run (jicofo starts Jingle only from two
//!   participants);
//! - [`EndpointSource::open_endpoint`]: join as a new occupant, await `session-initiate` within
//!   [`Dial::budget`], `session-accept` with the client's ufrag/pwd/fingerprint (no
//!   candidates), and return the bridge's transport and colibri websocket URL;
//! - [`Signalling::close`]: leave the room and close every session (called at the end, on error
//!   and on Ctrl-C); every send goes through [`Dial::guard`].

use super::config_js::SiteConfig;
use super::{Endpoint, EndpointSource};
use futures_util::future::BoxFuture;
use jc_harness::lab::bridge_api::ClientTransport;
use jc_harness::net::Guard;
use rustls::pki_types::ServerName;
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// One XEP-0215 service as the deployment hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalService {
    /// `stun`, `turn` or `turns`.
    pub kind: String,
    pub host: String,
    pub port: u16,
    /// `udp` or `tcp`, when given.
    pub transport: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The live probe's signalling session: an endpoint source that also knows the deployment's
/// STUN/TURN services and can leave.
pub trait Signalling: EndpointSource {
    /// The XEP-0215 services (`urn:xmpp:extdisco:2`) with their credentials.
    fn external_services(&self) -> BoxFuture<'_, Result<Vec<ExternalService>, String>>;
    /// Leaves the room and closes every session; never fails, bounded by the budget.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// How to reach the site's signalling: what [`connect`] gets.
#[derive(Clone)]
pub struct Dial {
    pub fqdn: String,
    /// The site's address (from `--resolve` or the system resolver).
    pub site_ip: Ipv4Addr,
    pub guard: Guard,
    /// Every network wait of the signalling (connect, login, `session-initiate`).
    pub budget: Duration,
    /// The room (`--room`, else a random name).
    pub room: String,
}

impl Dial {
    /// A TLS stream to the site's :443 for `wss://FQDN/...`: guarded TCP, SNI = FQDN, ALPN
    /// http/1.1, any certificate accepted (only tls/cert/* judge the certificate).
    pub async fn tls(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        let dest = SocketAddr::new(self.site_ip.into(), jc_harness::ports::HTTPS);
        let tcp = self
            .guard
            .connect_tcp(dest, self.budget)
            .await
            .map_err(|e| format!("TCP connect to {dest}: {e}"))?;
        let (cfg, _) = jc_harness::probe::tls::accept_any(&[b"http/1.1"]);
        let name = ServerName::try_from(self.fqdn.clone()).map_err(|e| e.to_string())?;
        tokio::time::timeout(
            self.budget,
            tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
        )
        .await
        .map_err(|_| format!("TLS handshake with {dest} timed out"))?
        .map_err(|e| format!("TLS handshake with {dest} failed: {e}"))
    }
}

/// Opens the signalling session for `site`. The coordinator replaces the body with the
/// jc-xmpp participant; the signature stays.
pub async fn connect(site: &SiteConfig, dial: &Dial) -> Result<Arc<dyn Signalling>, String> {
    let _ = (site, dial);
    Ok(Arc::new(NotBuilt))
}

/// The stand-in until jc-xmpp is wired: every request errors, nothing is sent.
pub struct NotBuilt;

const NOT_BUILT: &str = "signalling not built yet: the live probe cannot join a room, so it has no bridge endpoint and no TURN credentials";

impl EndpointSource for NotBuilt {
    fn open_endpoint<'a>(
        &'a self,
        _client: &'a ClientTransport,
    ) -> BoxFuture<'a, Result<Endpoint, String>> {
        Box::pin(async { Err(NOT_BUILT.to_string()) })
    }
}

impl Signalling for NotBuilt {
    fn external_services(&self) -> BoxFuture<'_, Result<Vec<ExternalService>, String>> {
        Box::pin(async { Err(NOT_BUILT.to_string()) })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
