//! What the checks run against: a lab the suite started, or a live site (SPEC section 11).
//! A check asks its [`crate::checks::Ctx`] for the FQDN, the site's address, the guard, the
//! ICE-TCP setting and the addresses it expects, and opens bridge endpoints through an
//! [`EndpointSource`]; only checks that need the lab's insides (its files, Docker, the ACME
//! webroot) look at the [`Lab`], and they skip in a live probe saying why.

pub mod config_js;
pub mod live;
pub mod signalling;

use futures_util::future::BoxFuture;
use jc_harness::lab::bridge_api::ClientTransport;
use jc_harness::lab::Lab;
use jc_videobridge::candidates::ParsedTransport;

pub use live::LiveSite;

/// A lab or a live site.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Lab(&'a Lab),
    Live(&'a LiveSite),
}

/// One endpoint on the bridge, opened for one client.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// What the bridge advertises: ufrag, pwd, candidates, fingerprints.
    pub transport: ParsedTransport,
    /// The colibri websocket URL jicofo signalled (live; the lab's checks build theirs).
    pub colibri_ws: Option<String>,
}

/// Where bridge endpoints come from. A client's ufrag, pwd and DTLS fingerprint go to the
/// bridge, never its candidates (the bridge learns the client peer-reflexively).
pub trait EndpointSource: Send + Sync {
    /// A new endpoint for `client`: in a lab, allocated through the bridge's control API; live,
    /// a new MUC occupant's Jingle session (SPEC section 9: one per ICE-using check).
    fn open_endpoint<'a>(
        &'a self,
        client: &'a ClientTransport,
    ) -> BoxFuture<'a, Result<Endpoint, String>>;
}

/// The lab's source: the bridge's private control API, inside the bridge host.
impl EndpointSource for Lab {
    fn open_endpoint<'a>(
        &'a self,
        client: &'a ClientTransport,
    ) -> BoxFuture<'a, Result<Endpoint, String>> {
        Box::pin(async move {
            self.allocate_endpoint(Some(client))
                .await
                .map(|e| Endpoint {
                    transport: e.transport,
                    colibri_ws: None,
                })
        })
    }
}

/// The path (and query) of `url` when it is on `SCHEME://FQDN/` (`:443` is the same origin:
/// Jitsi's postinst writes the websocket domain with it); `None` for another host.
pub fn path_on_site(url: &str, scheme: &str, fqdn: &str) -> Option<String> {
    let rest = url.strip_prefix(scheme)?.strip_prefix("://")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = host.strip_suffix(":443").unwrap_or(host);
    host.eq_ignore_ascii_case(fqdn).then(|| {
        if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        }
    })
}

#[cfg(test)]
mod path_tests {
    use super::path_on_site;

    #[test]
    fn only_urls_on_the_site_give_a_path() {
        let f = "meet.example.org";
        assert_eq!(
            path_on_site("https://meet.example.org/http-bind", "https", f).as_deref(),
            Some("/http-bind")
        );
        assert_eq!(
            path_on_site("wss://MEET.example.org:443/colibri-ws/x?pwd=1", "wss", f).as_deref(),
            Some("/colibri-ws/x?pwd=1")
        );
        assert_eq!(
            path_on_site("https://meet.example.org", "https", f).as_deref(),
            Some("/")
        );
        for other in [
            "https://meet.example.org.evil/http-bind",
            "https://other.example.org/http-bind",
            "wss://meet.example.org/xmpp-websocket",
            "https://meet.example.org:8443/http-bind",
        ] {
            assert_eq!(path_on_site(other, "https", f), None, "{other}");
        }
    }
}
