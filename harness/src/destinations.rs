//! Where a live probe may send (SPEC section 11): the site's address, the advertised candidates
//! and TURN servers that are public, and any address the operator named on the command line
//! (`--resolve` IPs, `--expect-public-ip`; naming is what makes a kept lab
//! on TEST-NET-2 probeable). Everything else in private, loopback, link-local, CGNAT or
//! documentation space, or in the prober's own subnets, is reported and never contacted.
//! Every destination let through is recorded for the report's `contacted` list.

use crate::ports;
use ipnet::Ipv4Net;
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

/// One destination the probe sent to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Contacted {
    pub addr: String,
    pub port: u16,
    pub proto: &'static str,
    pub purpose: &'static str,
}

/// The live probe's destination policy and its record.
#[derive(Debug)]
pub struct Destinations {
    named: Vec<IpAddr>,
    own: Vec<Ipv4Net>,
    contacted: Mutex<BTreeSet<SocketAddr>>,
    refused: Mutex<BTreeSet<(SocketAddr, String)>>,
}

impl Destinations {
    /// `named`: the site's address and the addresses the operator gave; `own`: the prober's own
    /// subnets (see [`crate::net::host_subnets`]).
    pub fn new(named: Vec<IpAddr>, own: Vec<Ipv4Net>) -> Destinations {
        Destinations {
            named,
            own,
            contacted: Mutex::default(),
            refused: Mutex::default(),
        }
    }

    /// Why `ip` may not be contacted unless named, if it may not.
    pub fn not_public(&self, ip: IpAddr) -> Option<String> {
        let v4 = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) if v6.is_loopback() => return Some("loopback".into()),
            // IPv6 candidates are not probed yet: nothing is sent there.
            IpAddr::V6(_) => return Some("IPv6 (not probed)".into()),
        };
        let cgnat: Ipv4Net = "100.64.0.0/10".parse().expect("valid net");
        let why = if v4.is_private() {
            "private (RFC 1918)"
        } else if v4.is_loopback() {
            "loopback"
        } else if v4.is_link_local() {
            "link-local"
        } else if cgnat.contains(&v4) {
            "CGNAT (RFC 6598)"
        } else if v4.is_documentation() || is_benchmarking(v4) {
            "documentation or benchmarking space"
        } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
            "not a unicast address"
        } else if let Some(net) = self.own.iter().find(|n| n.contains(&v4)) {
            return Some(format!("in the prober's own subnet {net}"));
        } else {
            return None;
        };
        Some(why.to_string())
    }

    /// Lets `dest` through (and records it) or says why not (and records that). Port 0 asks
    /// about the address alone (a resolver's answer): nothing is recorded for it.
    pub fn admit(&self, dest: SocketAddr) -> Result<(), String> {
        let named = self.named.contains(&dest.ip());
        match self.not_public(dest.ip()) {
            Some(why) if !named => {
                let why = format!("{why}: reported, never contacted (name it with --resolve or --expect-public-ip to allow it)");
                if dest.port() != 0 {
                    lock(&self.refused).insert((dest, why.clone()));
                }
                Err(why)
            }
            _ => {
                if dest.port() != 0 {
                    lock(&self.contacted).insert(dest);
                }
                Ok(())
            }
        }
    }

    /// Every destination let through, with its protocol and purpose by port.
    pub fn contacted(&self) -> Vec<Contacted> {
        lock(&self.contacted)
            .iter()
            .map(|a| {
                let (proto, purpose) = purpose(a.port());
                Contacted {
                    addr: a.ip().to_string(),
                    port: a.port(),
                    proto,
                    purpose,
                }
            })
            .collect()
    }

    /// Destinations refused, with the reason.
    pub fn refused(&self) -> Vec<(SocketAddr, String)> {
        lock(&self.refused).iter().cloned().collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// 198.18.0.0/15 (RFC 2544).
fn is_benchmarking(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    o[0] == 198 && (o[1] & 0xfe) == 18
}

/// What a port is contacted for, as the checks use it.
fn purpose(port: u16) -> (&'static str, &'static str) {
    match port {
        ports::HTTP => ("tcp", "http (redirect, ACME exemption)"),
        ports::HTTPS => ("tcp", "https and wss (web app, config.js, XMPP websocket)"),
        ports::MEDIA_UDP => ("udp", "ICE/STUN to the bridge (media)"),
        ports::ICE_TCP => ("tcp", "ICE-TCP to the bridge"),
        ports::TURN_UDP => ("udp", "TURN over UDP"),
        ports::TURN_TLS => ("tcp", "TURN over TLS"),
        p if ports::PRIVATE.contains(&p) => ("tcp", "exposure scan (nat/exposure/1)"),
        _ => ("udp", "an advertised ICE candidate"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_space_is_refused_unless_named() {
        let d = Destinations::new(
            vec!["198.51.100.2".parse().unwrap()],
            vec!["198.51.100.0/27".parse().unwrap()],
        );
        for bad in [
            "172.30.77.20:10000",
            "10.0.0.1:10000",
            "127.0.0.1:443",
            "169.254.1.1:10000",
            "100.64.0.1:10000",
            "198.51.100.3:10000",
            "192.0.2.1:443",
            "[::1]:443",
        ] {
            assert!(d.admit(sock(bad)).is_err(), "{bad} must be refused");
        }
        assert!(d.admit(sock("198.51.100.2:10000")).is_ok());
        assert!(d.admit(sock("8.8.8.8:3478")).is_ok());
        let c = d.contacted();
        assert_eq!(c.len(), 2);
        let site = c.iter().find(|c| c.addr == "198.51.100.2").unwrap();
        assert_eq!((site.proto, site.port), ("udp", 10000));
        assert_eq!(d.refused().len(), 8);
    }

    #[test]
    fn own_subnets_are_refused() {
        let d = Destinations::new(vec![], vec!["8.8.8.0/24".parse().unwrap()]);
        let e = d.admit(sock("8.8.8.8:443")).unwrap_err();
        assert!(e.contains("own subnet 8.8.8.0/24"), "{e}");
    }
}
