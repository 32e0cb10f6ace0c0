//! A live site as the checks see it (SPEC section 11): its FQDN and address, the destination
//! policy the operator's arguments set, the expectations they give, and its signalling.

use super::config_js::{self, SiteConfig};
use super::signalling::{self, Dial, Signalling};
use jc_harness::destinations::Destinations;
use jc_harness::net::Guard;
use jc_harness::probe::http::HttpProbe;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// What the operator asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    pub fqdn: String,
    pub resolve: Vec<(String, IpAddr)>,
    /// PEM roots `tls/cert/1` and `turn/tls/1` verify against (`--ca`); else the public roots.
    pub ca_pem: Option<String>,
    pub expect_public_ip: Option<Ipv4Addr>,
    pub expect_bridge_ip: Option<Ipv4Addr>,
    pub ice_tcp: bool,
    pub room: Option<String>,
    /// How the probe signs in (`--xmpp`).
    pub xmpp: super::signalling::Wire,
}

pub struct LiveSite {
    pub options: LiveOptions,
    /// The FQDN's address (`--resolve` or the system resolver).
    pub site_ip: Ipv4Addr,
    pub destinations: Arc<Destinations>,
    pub guard: Guard,
    /// `/config.js` as read, or why it could not be.
    pub config: Result<SiteConfig, String>,
    pub signalling: Arc<dyn Signalling>,
}

impl LiveSite {
    /// Resolves the FQDN, sets the destination policy, reads `/config.js` and opens the
    /// signalling. Only an unresolvable FQDN is an error: the rest is reported by the checks.
    pub async fn open(options: LiveOptions, budget: Duration) -> Result<LiveSite, String> {
        let resolver = jc_harness::probe::resolver::TableResolver::for_probe(&options.resolve);
        let site_ip = resolver.resolve_v4(&options.fqdn).await?;
        let mut named: Vec<IpAddr> = options.resolve.iter().map(|(_, a)| *a).collect();
        named.push(site_ip.into());
        named.extend(options.expect_public_ip.map(IpAddr::from));
        // `--expect-bridge-ip` is an expectation, not a destination: the bridge's LAN address
        // is what an internet client must not reach (on a kept lab the prober's host sits on
        // the LAN bridge, and reaching it directly would hide a NAT fault from ice/connect/*).
        let destinations = Arc::new(Destinations::new(named, jc_harness::net::host_subnets()));
        let guard = Guard::live(destinations.clone());
        let http = HttpProbe::new(&guard, site_ip, &options.fqdn, budget)?;
        let config = read_config(&http, &options.fqdn).await;
        let signalling = match &config {
            Ok(site) => {
                let dial = Dial {
                    fqdn: options.fqdn.clone(),
                    site_ip,
                    guard: guard.clone(),
                    http: Arc::new(http),
                    wire: options.xmpp,
                    budget,
                    room: options
                        .room
                        .clone()
                        .unwrap_or_else(|| format!("jc-probe-{:08x}", rand::random::<u32>())),
                };
                signalling::connect(site, &dial).await
            }
            Err(e) => Err(format!("no signalling without config.js: {e}")),
        };
        let signalling = signalling.unwrap_or_else(|e| Arc::new(Failed(e)) as Arc<dyn Signalling>);
        Ok(LiveSite {
            options,
            site_ip,
            destinations,
            guard,
            config,
            signalling,
        })
    }

    /// The address the bridge should advertise and media goes to: `--expect-public-ip`, else
    /// the FQDN's address.
    pub fn media_ip(&self) -> Ipv4Addr {
        self.options.expect_public_ip.unwrap_or(self.site_ip)
    }
}

async fn read_config(http: &HttpProbe, fqdn: &str) -> Result<SiteConfig, String> {
    let f = http.get("https", "/config.js").await?;
    if f.status != 200 {
        return Err(format!(
            "GET https://{fqdn}/config.js answered {}",
            f.summary()
        ));
    }
    config_js::parse(&f.body_text(), fqdn)
}

/// Signalling that could not start: every request says why.
struct Failed(String);

impl super::EndpointSource for Failed {
    fn open_endpoint<'a>(
        &'a self,
        _client: &'a jc_harness::lab::bridge_api::ClientTransport,
    ) -> futures_util::future::BoxFuture<'a, Result<super::Endpoint, String>> {
        let e = self.0.clone();
        Box::pin(async move { Err(e) })
    }
}

impl Signalling for Failed {
    fn external_services(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<Vec<signalling::ExternalService>, String>> {
        let e = self.0.clone();
        Box::pin(async move { Err(e) })
    }
    fn close(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
