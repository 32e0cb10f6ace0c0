//! The one catalogue of checks (SPEC section 3), in the manner of h2spec: each entry is an id,
//! a severity, the requirement it enforces, and the function that judges it. Checks not built
//! yet are simply absent.

use crate::checks::{http, ice, nat, proxy, tls, turn, Ctx, Verdict};
use crate::report::Severity;
use futures_util::future::BoxFuture;

pub type CheckFn = for<'a> fn(&'a Ctx<'a>) -> BoxFuture<'a, Verdict>;

pub struct Check {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub requirement: &'static str,
    pub run: CheckFn,
    /// Changes the lab: runs alone, after every other check.
    pub exclusive: bool,
}

macro_rules! check {
    ($id:literal, $sev:ident, $title:literal, $req:literal, $f:path) => {
        check!($id, $sev, $title, $req, $f, false)
    };
    ($id:literal, $sev:ident, $title:literal, $req:literal, $f:path, $excl:literal) => {
        Check {
            id: $id,
            severity: Severity::$sev,
            title: $title,
            requirement: $req,
            run: |ctx| Box::pin($f(ctx)),
            exclusive: $excl,
        }
    };
}

pub static CATALOGUE: &[Check] = &[
    check!("http/redirect/1", Must, "HTTP redirects permanently to HTTPS",
        "`GET http://FQDN/` on the public address answers 301 with `Location: https://FQDN/`", http::redirect::http_redirect_1),
    check!("http/redirect/2", Must, "the redirect keeps path and query",
        "path and query survive the redirect: `/SomeRoom?lang=fr` -> `https://FQDN/SomeRoom?lang=fr` (any 3xx)", http::redirect::http_redirect_2),
    check!("http/redirect/3", Should, "the redirect keeps percent-encoding",
        "percent-encoded characters survive the redirect: `/a%3Fb` -> `https://FQDN/a%3Fb` (Apache's `RedirectMatch ... $0` decodes it to `/a?b`, turning part of the path into a query)", http::redirect::http_redirect_3),
    check!("http/acme/1", Must, "ACME tokens are served over HTTP",
        "a token placed in the proxy's ACME webroot is served at `http://FQDN/.well-known/acme-challenge/<token>` with 200 and its exact content, not redirected", http::acme::http_acme_1),
    check!("http/acme/2", Must, "unknown ACME tokens answer 404",
        "an unknown token under that path answers 404 over plain HTTP (not 3xx, not 5xx)", http::acme::http_acme_2),
    check!("http/acme/3", Must, "the ACME exemption is exact",
        "the exemption is exact: `/.well-known/acme-challengeX/t`, `/.well-known/security.txt` and `/x/.well-known/acme-challenge/t` are still redirected to https (any 3xx)", http::acme::http_acme_3),
    check!("http/acme/4", Should, "the challenge directory does not list",
        "the challenge directory itself (`/.well-known/acme-challenge/`) does not list its files (Debian's default `Options Indexes` does)", http::acme::http_acme_4),
    check!("tls/cert/1", Must, "the certificate verifies for the FQDN",
        ":443 with SNI=FQDN presents a chain that verifies to the lab root, with a SAN for FQDN, inside its validity", tls::cert::tls_cert_1),
    check!("tls/cert/2", Should, "the certificate has 30 days left",
        "the certificate has at least 30 days left", tls::cert::tls_cert_2),
    check!("tls/protocol/1", Must, "TLS 1.2 or 1.3",
        "TLS 1.2 or 1.3 is negotiated", tls::protocol::tls_protocol_1),
    check!("tls/hsts/1", Should, "HSTS for at least 180 days",
        "responses carry Strict-Transport-Security with max-age >= 15552000", tls::hsts::tls_hsts_1),
    check!("proxy/backend/1", Must, "the proxy serves the bridge host's front page",
        "`GET https://FQDN/` answers 200 with the bridge host's front page (its marker), i.e. the proxy reaches the backend over HTTPS", proxy::backend::proxy_backend_1),
    check!("proxy/backend/2", Must, "requests reach the backend intact",
        "`/config.js`, `/SomeRoom` and a BOSH POST to `/http-bind` reach the backend with method, path and body intact", proxy::backend::proxy_backend_2),
    check!("proxy/backend/3", Must, "backend redirects stay on the FQDN",
        "a redirect issued by the backend reaches the client with Location on `https://FQDN/...`, never the internal address", proxy::backend::proxy_backend_3),
    check!("proxy/websocket/1", Must, "XMPP websocket through the proxy",
        "a WebSocket upgrade at `wss://FQDN/xmpp-websocket` completes (101) and a frame round-trips", proxy::websocket::proxy_websocket_1),
    check!("proxy/websocket/2", Must, "colibri websocket through the proxy",
        "the same at `wss://FQDN/colibri-ws/<id>/<conf>/<endpoint>`", proxy::websocket::proxy_websocket_2),
    check!("proxy/upstream-tls/1", Should, "the proxy authenticates the backend",
        "the proxy authenticates the backend: if the backend presents a certificate the proxy does not trust, the client gets an error (Apache answers 500 Proxy Error) rather than the content", proxy::upstream_tls::proxy_upstream_tls_1, true),
    check!("proxy/forwarded/1", Should, "the backend learns the client and the host",
        "the backend sees the client's address in X-Forwarded-For and the FQDN in X-Forwarded-Host", proxy::forwarded::proxy_forwarded_1),
    check!("nat/udp/1", Must, "STUN reaches the bridge through the NAT over UDP",
        "a STUN Binding request with valid ICE credentials (and ICE-CONTROLLED) sent to PUBLIC:10000/udp gets a success response from PUBLIC:10000", nat::udp::nat_udp_1),
    check!("nat/udp/2", Must, "the UDP answer is the bridge's, authenticated",
        "a response from PUBLIC:10000 (no such response: fail) has MESSAGE-INTEGRITY (bridge pwd) and FINGERPRINT that verify, so it is the bridge that answered; its XOR-MAPPED-ADDRESS (the client as the bridge saw it) is reported in `actual`", nat::udp::nat_udp_2),
    check!("nat/tcp/1", Must, "STUN reaches the bridge through the NAT over ICE-TCP",
        "(ICE-TCP profiles; else skip) a STUN Binding over RFC 4571 framing on PUBLIC:4443/tcp gets an authenticated success response", nat::tcp::nat_tcp_1),
    check!("nat/exposure/1", Should, "only the media and web ports are public",
        "nothing but 80, 443, 4443/tcp and 10000/udp (and TURN's 3478/udp and 5349/tcp where the site has a TURN server) answers on the public address: at least Jitsi's own other ports (tcp 22, 5222, 5269, 5280, 5347, 8080, 8888, 9090) refuse or stay silent", nat::exposure::nat_exposure_1),
    check!("ice/candidates/1", Must, "a UDP host candidate on the bridge's LAN address",
        "the bridge advertises a UDP host candidate at BRIDGE_IP:10000", ice::candidates::ice_candidates_1),
    check!("ice/candidates/2", Must, "a UDP srflx candidate on the public address",
        "the bridge advertises a UDP srflx candidate at PUBLIC_IP:10000 with rel-addr BRIDGE_IP:10000", ice::candidates::ice_candidates_2),
    check!("ice/candidates/3", Must, "only the bridge's own addresses are advertised",
        "every advertised address is the bridge's own LAN address or the public address (not the proxy's, not a wrong public address, not loopback)", ice::candidates::ice_candidates_3),
    check!("ice/candidates/4", Must, "passive TCP candidates on 4443",
        "(ICE-TCP profiles; else skip) passive TCP (`tcp` or `ssltcp`) candidates at BRIDGE_IP:4443 (host) and PUBLIC_IP:4443 (srflx)", ice::candidates::ice_candidates_4),
    check!("ice/connect/1", Must, "ICE completes through the NAT on the public srflx",
        "an ICE agent on the internet side, given the advertised candidates, completes connectivity checks, and the selected pair's remote candidate is the advertised srflx PUBLIC:10000 (any other selected pair: fail)", ice::connect::ice_connect_1),
    check!("ice/connect/2", Must, "a WebRTC session through the NAT",
        "a WebRTC session (ICE, DTLS, SCTP data channel) with the bridge completes through the NAT over that same pair (remote PUBLIC:10000) and a message round-trips", ice::connect::ice_connect_2),
    check!("turn/udp/1", Must, "TURN over UDP allocates at the public address",
        "an authenticated TURN Allocate over UDP to PUBLIC:3478 succeeds and its XOR-RELAYED-ADDRESS is the public address", turn::udp::turn_udp_1),
    check!("turn/tls/1", Must, "TURN over TLS on 5349",
        "TURN over TLS on PUBLIC:5349: the certificate verifies for the FQDN and an authenticated Allocate succeeds", turn::tls::turn_tls_1),
    check!("turn/relay/1", Must, "a TCP-only client reaches the bridge through TURN",
        "a client that can reach only TCP (no UDP at all) completes ICE, DTLS and the SCTP data channel echo with the bridge through the TURN server over TLS (any pair may be selected; in this topology the relay reaches the bridge's host candidate)", turn::relay::turn_relay_1),
    check!("turn/auth/1", Should, "the relay is not open to anyone",
        "an Allocate with a wrong password is refused (401): the relay is not open to anyone", turn::auth::turn_auth_1),
    check!("turn/peers/1", Should, "the relay cannot reach into the LAN",
        "the relay refuses to reach LAN hosts other than the bridge (a CreatePermission for the proxy's address gets 403), so it cannot be used to get inside the network", turn::peers::turn_peers_1),
];

/// `*` matches any run of characters; anything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

pub fn find(id: &str) -> Option<&'static Check> {
    CATALOGUE.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = CATALOGUE.iter().map(|c| c.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate check ids");
        for c in CATALOGUE {
            let parts: Vec<&str> = c.id.split('/').collect();
            assert_eq!(parts.len(), 3, "{}", c.id);
            assert!(parts[2].parse::<u32>().is_ok(), "{}", c.id);
            assert!(!c.requirement.is_empty() && !c.title.is_empty());
        }
    }

    #[test]
    fn only_upstream_tls_changes_the_lab() {
        let ex: Vec<&str> = CATALOGUE
            .iter()
            .filter(|c| c.exclusive)
            .map(|c| c.id)
            .collect();
        assert_eq!(ex, vec!["proxy/upstream-tls/1"]);
    }

    #[test]
    fn globs() {
        assert!(glob_match("http/*", "http/acme/1"));
        assert!(glob_match("*/websocket/*", "proxy/websocket/2"));
        assert!(!glob_match("tls/*", "http/acme/1"));
        assert!(glob_match("tls/cert/1", "tls/cert/1"));
    }

    proptest! {
        #[test]
        fn glob_never_panics(p in "\\PC{0,12}", t in "\\PC{0,24}") {
            let _ = glob_match(&p, &t);
        }

        #[test]
        fn star_matches_everything(t in "\\PC{0,24}") {
            prop_assert!(glob_match("*", &t));
        }
    }
}
