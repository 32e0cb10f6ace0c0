//! The live probe's signalling, as Jitsi's web client does it (SPEC section 11): XMPP over
//! `wss://FQDN/xmpp-websocket`, SASL ANONYMOUS, XEP-0215 external services, the conference
//! request to the focus, MUC occupants and their Jingle sessions.
//!
//! The probe sees it only through [`Signalling`]; [`connect`] is the one place that makes it,
//! with the participant of crate `jc-xmpp` (xmpp-parsers, minidom, jid).
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
    /// HTTPS to the site (guarded), for BOSH.
    pub http: Arc<jc_harness::probe::http::HttpProbe>,
    /// How to sign in.
    pub wire: Wire,
    /// Every network wait of the signalling (connect, login, `session-initiate`).
    pub budget: Duration,
    /// The room (`--room`, else a random name).
    pub room: String,
}

/// How the probe signs in (`--xmpp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Wire {
    /// As the site's web client: the websocket config.js sets, else BOSH.
    #[default]
    Auto,
    Websocket,
    Bosh,
}

impl Wire {
    /// The wire and URL the probe signs in over for `site` (never `Auto`): the websocket
    /// config.js sets, else its BOSH URL, else `wss://FQDN/xmpp-websocket`; or what `--xmpp`
    /// forces.
    pub fn choose(self, site: &SiteConfig) -> Result<(Wire, String), String> {
        match (self, &site.websocket, &site.bosh) {
            (Wire::Bosh, _, Some(url)) | (Wire::Auto, None, Some(url)) => {
                Ok((Wire::Bosh, url.clone()))
            }
            (Wire::Bosh, _, None) => Err("--xmpp bosh: config.js sets no bosh URL".to_string()),
            _ => Ok((Wire::Websocket, site.service_url.clone())),
        }
    }
}

impl Dial {
    /// One BOSH request: POST `body` to `target` (`/http-bind?room=ROOM`), the 200 answer's text.
    fn bosh_post(&self, target: String) -> jc_xmpp::bosh::Post {
        let http = self.http.clone();
        Arc::new(move |body: String| {
            let http = http.clone();
            let target = target.clone();
            Box::pin(async move {
                let f = http
                    .request("POST", "https", &target, Some(body.into_bytes()))
                    .await?;
                if f.status != 200 {
                    return Err(format!("POST {target} answered {}", f.summary()));
                }
                Ok(f.body_text())
            })
        })
    }

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

/// Opens the signalling session for `site`: the idle occupant joins the room (jicofo invites
/// only from two participants on), and the deployment's XEP-0215 services are asked for once.
pub async fn connect(site: &SiteConfig, dial: &Dial) -> Result<Arc<dyn Signalling>, String> {
    let mut idle = Occupant::join(site, dial).await?;
    let services = idle
        .client
        .external_services(dial.budget)
        .await
        .map(|list| list.into_iter().map(ExternalService::from).collect())
        .map_err(|e| e.to_string());
    Ok(Arc::new(Xmpp {
        site: site.clone(),
        dial: dial.clone(),
        occupants: tokio::sync::Mutex::new(vec![idle]),
        services,
    }))
}

type Stream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Where `config.js` sets no `websocket`, Jitsi's web client signs in over BOSH (its
/// connection's `serviceUrl` is `websocket` unless that is unset or `preferBosh`, else `bosh`;
/// lib-jitsi-meet opens a websocket only for a ws(s) URL), so a failed websocket
/// is not what this site's users meet: said with the failure, since the probe speaks XMPP over
/// the websocket only (SPEC section 11).
fn bosh_client(site: &SiteConfig) -> String {
    match (&site.websocket, &site.bosh) {
        (None, Some(bosh)) => format!(
            " (config.js sets no websocket: Jitsi's web client signs in over BOSH at {bosh}, as `--xmpp auto` does)"
        ),
        _ => String::new(),
    }
}

/// One participant in the probe's room: its own websocket, anonymous login and MUC nick.
struct Occupant {
    client: jc_xmpp::Client<Stream>,
}

impl Occupant {
    /// Connects, logs in, asks the focus for the conference and joins the room, as
    /// lib-jitsi-meet's `ChatRoom.join` does (conference request first, then the presence).
    async fn join(site: &SiteConfig, dial: &Dial) -> Result<Occupant, String> {
        let login = site.anonymous_domain.as_deref().unwrap_or(&site.domain);
        let (wire, url) = dial.wire.choose(site)?;
        let mut client = match wire {
            Wire::Bosh => {
                let target = super::path_on_site(&url, "https", &dial.fqdn).ok_or_else(|| {
                    format!(
                        "config.js's BOSH URL {url} is not on https://{}/: not probed",
                        dial.fqdn
                    )
                })?;
                let target = format!("{target}?room={}", dial.room);
                // The server may hold a poll `wait` seconds: under the HTTP budget.
                let wait = dial
                    .budget
                    .saturating_sub(Duration::from_secs(1))
                    .max(Duration::from_secs(1));
                jc_xmpp::Client::connect_bosh(dial.bosh_post(target), login, wait, dial.budget)
                    .await
                    .map_err(|e| format!("XMPP over BOSH at {url}: {e}"))?
            }
            _ => {
                let stream = dial.tls().await?;
                let url = format!("{url}?room={}", dial.room);
                jc_xmpp::Client::connect(stream, &url, login, dial.budget)
                    .await
                    .map_err(|e| format!("XMPP over {url}: {e}{}", bosh_client(site)))?
            }
        };
        let room = format!("{}@{}", dial.room, site.muc);
        client
            .conference_request(&site.focus, &room, dial.budget)
            .await
            .map_err(|e| e.to_string())?;
        let nick = format!("{:08x}", rand::random::<u32>());
        client
            .join(&room, &nick, dial.budget)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Occupant { client })
    }
}

/// The probe's signalling through jc-xmpp.
struct Xmpp {
    site: SiteConfig,
    dial: Dial,
    /// Everyone the probe put in the room, the idle one first; they stay until [`Signalling::close`]
    /// (an occupant that leaves has its bridge endpoint expired).
    occupants: tokio::sync::Mutex<Vec<Occupant>>,
    services: Result<Vec<ExternalService>, String>,
}

impl From<jc_xmpp::ExternalService> for ExternalService {
    fn from(s: jc_xmpp::ExternalService) -> Self {
        ExternalService {
            kind: s.typ,
            host: s.host,
            port: s.port.unwrap_or(match s.transport.as_deref() {
                Some("tcp") => 5349,
                _ => 3478,
            }),
            transport: s.transport,
            username: s.username,
            password: s.password,
        }
    }
}

/// `sha-256 AB:CD:...` as Jingle carries it; a client that will not run DTLS (the nat/* and
/// ice/candidates/* checks) still answers with a fingerprint, as every browser does.
fn fingerprint(client: &ClientTransport) -> (String, String) {
    match client
        .fingerprint
        .as_deref()
        .and_then(|f| f.split_once(' '))
    {
        Some((hash, value)) => (hash.to_string(), value.to_string()),
        None => (
            "sha-256".to_string(),
            (0..32)
                .map(|_| format!("{:02X}", rand::random::<u8>()))
                .collect::<Vec<_>>()
                .join(":"),
        ),
    }
}

impl EndpointSource for Xmpp {
    fn open_endpoint<'a>(
        &'a self,
        client: &'a ClientTransport,
    ) -> BoxFuture<'a, Result<Endpoint, String>> {
        Box::pin(async move {
            let mut occupant = Occupant::join(&self.site, &self.dial).await?;
            let offer = occupant
                .client
                .await_session_initiate(self.dial.budget)
                .await
                .map_err(|e| e.to_string())?;
            let answer = jc_xmpp::ClientTransport {
                ufrag: client.ufrag.clone(),
                pwd: client.pwd.clone(),
                fingerprint: fingerprint(client),
            };
            occupant
                .client
                .accept(&offer, &answer, self.dial.budget)
                .await
                .map_err(|e| e.to_string())?;
            let endpoint = Endpoint {
                transport: offer.transport,
                colibri_ws: offer.colibri_websocket,
            };
            self.occupants.lock().await.push(occupant);
            Ok(endpoint)
        })
    }
}

impl Signalling for Xmpp {
    fn external_services(&self) -> BoxFuture<'_, Result<Vec<ExternalService>, String>> {
        Box::pin(async move { self.services.clone() })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let occupants: Vec<Occupant> = self.occupants.lock().await.drain(..).collect();
            let budget = self.dial.budget;
            futures_util::future::join_all(occupants.into_iter().map(|o| async move {
                let _ = o.client.leave(budget).await;
            }))
            .await;
        })
    }
}
