//! Address planning for a lab, the host-route clash check, and the lab-only destination guard.
//!
//! Every lab gets its own slice: a /27 of the public TEST-NET-2 range and its own private /24.
//! Docker itself arbitrates between concurrent processes: creating a network on a subnet that
//! another lab holds fails, and the lab then tries the next slot.

pub use crate::destinations::Destinations;
use ipnet::Ipv4Net;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The FQDN the lab serves; the suite resolves it itself, never through DNS or /etc/hosts.
pub const FQDN: &str = "meet.lab.test";
/// How many /27 slices the public /24 holds.
pub const WAN_SLICES: u32 = 8;
/// How many lab slots are tried before giving up.
pub const MAX_SLOTS: u32 = 24;

/// Every address of one lab, by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPlan {
    pub slot: u32,
    pub wan: Ipv4Net,
    pub lan: Ipv4Net,
    /// The internet client: the Docker host's address on the wan bridge.
    pub client_ip: Ipv4Addr,
    pub public_ip: Ipv4Addr,
    /// An address of the public network nobody holds (fault material).
    pub wan_unused_ip: Ipv4Addr,
    /// The browser's address on the wan (its own network namespace; SPEC section 9).
    pub browser_ip: Ipv4Addr,
    /// The Docker host's address on the lan bridge.
    pub lan_gateway: Ipv4Addr,
    pub router_lan_ip: Ipv4Addr,
    pub proxy_ip: Ipv4Addr,
    pub bridge_ip: Ipv4Addr,
    pub fqdn: String,
}

fn host(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

impl AddressPlan {
    /// The plan of lab slot `slot` (slot 0 is SPEC section 2's default topology).
    pub fn for_slot(slot: u32) -> Self {
        let wan_base = u32::from(Ipv4Addr::new(198, 51, 100, 0)) + (slot % WAN_SLICES) * 32;
        // Slots that share a public slice are told apart by their LAN, and a slot only runs
        // when Docker grants both subnets, so two live labs never share either.
        let wan = Ipv4Net::new(Ipv4Addr::from(wan_base), 27).expect("valid prefix");
        let lan =
            Ipv4Net::new(Ipv4Addr::new(172, 30, 77 + slot as u8, 0), 24).expect("valid prefix");
        AddressPlan {
            slot,
            wan,
            lan,
            client_ip: host(wan, 1),
            public_ip: host(wan, 2),
            wan_unused_ip: host(wan, 29),
            browser_ip: host(wan, 27),
            lan_gateway: host(lan, 1),
            router_lan_ip: host(lan, 2),
            proxy_ip: host(lan, 10),
            bridge_ip: host(lan, 20),
            fqdn: FQDN.to_string(),
        }
    }

    /// The placeholders of SPEC section 2, with their values in this plan.
    pub fn placeholders(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FQDN", self.fqdn.clone()),
            ("PUBLIC_IP", self.public_ip.to_string()),
            ("ROUTER_LAN_IP", self.router_lan_ip.to_string()),
            ("PROXY_IP", self.proxy_ip.to_string()),
            ("BRIDGE_IP", self.bridge_ip.to_string()),
            ("LAN_SUBNET", self.lan.to_string()),
            ("WAN_SUBNET", self.wan.to_string()),
            ("WAN_UNUSED_IP", self.wan_unused_ip.to_string()),
            ("CLIENT_IP", self.client_ip.to_string()),
        ]
    }

    /// The value of a placeholder: the fixed ones of [`Self::placeholders`] and the ones a
    /// pre-change run's address map writes (`LAN_HOST_n`, `WAN_HOST_n`, `LABONLY_n`,
    /// `LABONLY_NET:k:p`, `NET:ROLE+ROLE:p`, `RANGE:NET:...`; see `site::addrmap`).
    pub fn resolve(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.placeholders().into_iter().find(|(k, _)| *k == name) {
            return Some(v);
        }
        let n = |s: &str| s.parse::<u32>().ok().filter(|n| *n <= 255);
        if let Some(o) = name.strip_prefix("LAN_HOST_").and_then(n) {
            return Some(host(self.lan, o).to_string());
        }
        if let Some(o) = name.strip_prefix("WAN_HOST_").and_then(n) {
            return Some(host(self.wan, o).to_string());
        }
        if let Some(o) = name.strip_prefix("LABONLY_").and_then(n) {
            return Some(Ipv4Addr::new(198, 18, 0, o as u8).to_string());
        }
        if let Some(rest) = name.strip_prefix("LABONLY_NET:") {
            let (k, p) = rest.split_once(':')?;
            let (k, p) = (n(k)?, p.parse::<u8>().ok()?);
            // A set holding no lab host: its own /24 (or smaller) of the benchmarking range.
            let net = Ipv4Net::new(Ipv4Addr::new(198, 18, k as u8, 0), p.clamp(24, 32)).ok()?;
            return Some(net.trunc().to_string());
        }
        if let Some(rest) = name.strip_prefix("RANGE:") {
            let net: Ipv4Net = self.resolve(rest)?.parse().ok()?;
            return Some(format!("{}-{}", net.network(), net.broadcast()));
        }
        if let Some(rest) = name.strip_prefix("NET:") {
            let (members, p) = rest.rsplit_once(':')?;
            let p = p.parse::<u8>().ok()?.min(32);
            return self
                .set_holding(&members.split('+').collect::<Vec<_>>(), p)
                .map(|n| n.to_string());
        }
        None
    }

    /// The subnet holding exactly these roles of the lab (and `LAN_SUBNET`: the whole LAN),
    /// with the prefix closest to `wanted`. The internet client is in none: an operator's
    /// subnet smaller than the whole address space does not hold "the internet".
    fn set_holding(&self, members: &[&str], wanted: u8) -> Option<Ipv4Net> {
        let roles = [
            ("PUBLIC_IP", self.public_ip),
            ("PROXY_IP", self.proxy_ip),
            ("BRIDGE_IP", self.bridge_ip),
            ("ROUTER_LAN_IP", self.router_lan_ip),
        ];
        // A set holding the whole LAN holds every host in it.
        let lan_member = members.contains(&"LAN_SUBNET");
        let inside_role =
            |k: &&str, a: &Ipv4Addr| members.contains(k) || (lan_member && self.lan.contains(a));
        let mut inside: Vec<Ipv4Addr> = roles
            .iter()
            .filter(|(k, a)| inside_role(k, a))
            .map(|(_, a)| *a)
            .collect();
        let mut outside: Vec<Ipv4Addr> = roles
            .iter()
            .filter(|(k, a)| !inside_role(k, a))
            .map(|(_, a)| *a)
            .collect();
        outside.push(self.client_ip);
        if members.contains(&"LAN_SUBNET") {
            inside.push(self.lan.network());
            inside.push(self.lan.broadcast());
        } else {
            outside.push(self.lan_gateway);
        }
        let first = *inside.first()?;
        let fits = |q: u8| -> Option<Ipv4Net> {
            let net = Ipv4Net::new(first, q).ok()?.trunc();
            (inside.iter().all(|a| net.contains(a)) && !outside.iter().any(|a| net.contains(a)))
                .then_some(net)
        };
        // The operator's prefix when it fits, else the nearest that does, preferring smaller
        // sets (a larger prefix) when the written one would take in another role.
        fits(wanted)
            .or_else(|| (wanted..=32).find_map(fits))
            .or_else(|| (0..wanted).rev().find_map(fits))
            .or_else(|| {
                (0..=32).rev().find_map(|q| {
                    let net = Ipv4Net::new(first, q).ok()?.trunc();
                    inside.iter().all(|a| net.contains(a)).then_some(net)
                })
            })
    }

    /// The lab's guard for packets the internet client sends.
    pub fn guard(&self) -> Guard {
        Guard {
            scope: Scope::Lab {
                wan: self.wan,
                client_ip: self.client_ip,
            },
        }
    }

    /// Names a lab address by its role, for reports that must not depend on the slot.
    pub fn role_of(&self, ip: Ipv4Addr) -> Option<&'static str> {
        let roles = [
            (self.public_ip, "PUBLIC_IP"),
            (self.client_ip, "CLIENT_IP"),
            (self.wan_unused_ip, "WAN_UNUSED_IP"),
            (self.browser_ip, "BROWSER_IP"),
            (self.router_lan_ip, "ROUTER_LAN_IP"),
            (self.proxy_ip, "PROXY_IP"),
            (self.bridge_ip, "BRIDGE_IP"),
            (self.lan_gateway, "LAN_GATEWAY"),
        ];
        roles.iter().find(|(a, _)| *a == ip).map(|(_, r)| *r)
    }
}

/// Refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to send to {dest}: {why}")]
pub struct OutsideLab {
    pub dest: IpAddr,
    /// Which rule refused it.
    pub why: String,
}

/// The internet client's socket-level guard: every probe asks it before it sends. In a lab the
/// client behaves like a host on the internet, so only addresses on the lab's wan are allowed,
/// even though the Docker host also sits on the lan bridge. In a live probe the
/// [`Destinations`] policy decides, and records what it let through (SPEC section 11).
#[derive(Clone, Debug)]
pub struct Guard {
    scope: Scope,
}

#[derive(Clone, Debug)]
enum Scope {
    Lab { wan: Ipv4Net, client_ip: Ipv4Addr },
    Live(std::sync::Arc<Destinations>),
}

impl Guard {
    /// A live probe's guard: `policy` decides and keeps the list of destinations.
    pub fn live(policy: std::sync::Arc<Destinations>) -> Guard {
        Guard {
            scope: Scope::Live(policy),
        }
    }

    pub fn check(&self, dest: SocketAddr) -> Result<SocketAddr, OutsideLab> {
        match &self.scope {
            Scope::Lab { wan, client_ip } => match dest.ip() {
                IpAddr::V4(v4) if wan.contains(&v4) && v4 != *client_ip => Ok(dest),
                ip => Err(OutsideLab {
                    dest: ip,
                    why: format!("outside the lab's public network {wan} (the internet client only talks to the lab's wan side)"),
                }),
            },
            Scope::Live(policy) => policy
                .admit(dest)
                .map(|()| dest)
                .map_err(|why| OutsideLab {
                    dest: dest.ip(),
                    why,
                }),
        }
    }

    /// The address probes bind to, so packets leave as the internet client (a live probe
    /// leaves the choice to the host's routes).
    pub fn client_ip(&self) -> Ipv4Addr {
        match &self.scope {
            Scope::Lab { client_ip, .. } => *client_ip,
            Scope::Live(_) => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The address an ICE agent gathers: the lab's client address, or in a live probe the
    /// host's own address on the route towards `toward` (asked of the kernel by connecting a
    /// UDP socket, which sends nothing).
    pub fn gather_ip(&self, toward: SocketAddr) -> std::io::Result<Ipv4Addr> {
        match &self.scope {
            Scope::Lab { client_ip, .. } => Ok(*client_ip),
            Scope::Live(_) => {
                let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
                s.connect(toward)?;
                match s.local_addr()?.ip() {
                    IpAddr::V4(v4) => Ok(v4),
                    IpAddr::V6(_) => Err(std::io::Error::other("no IPv4 route to the site")),
                }
            }
        }
    }

    /// A TCP connection to a lab address, with the guard and a deadline.
    pub async fn connect_tcp(
        &self,
        dest: SocketAddr,
        timeout: std::time::Duration,
    ) -> std::io::Result<tokio::net::TcpStream> {
        let dest = self.check(dest).map_err(std::io::Error::other)?;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(self.client_ip().into(), 0))?;
        match tokio::time::timeout(timeout, socket.connect(dest)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from {dest} within {} ms", timeout.as_millis()),
            )),
        }
    }
}

/// Subnets the host already uses (routes other than the default): a lab there would cut the
/// machine off from them.
pub fn host_subnets() -> Vec<Ipv4Net> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    parse_proc_net_route(&text)
}

/// Parses /proc/net/route (little-endian hex destination and mask), skipping default routes.
pub fn parse_proc_net_route(text: &str) -> Vec<Ipv4Net> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints the network-order bytes as a little-endian word.
            let prefix = mask.count_ones();
            if prefix == 0 {
                return None;
            }
            Ipv4Net::new(Ipv4Addr::from(dest.swap_bytes()), prefix as u8)
                .ok()
                .map(|n| n.trunc())
        })
        .collect()
}

/// Why a slot cannot be used on this host, if it cannot.
pub fn clash(plan: &AddressPlan, taken: &[Ipv4Net]) -> Option<String> {
    for net in [plan.wan, plan.lan] {
        if let Some(t) = taken
            .iter()
            .find(|t| t.contains(&net.network()) || net.contains(&t.network()))
        {
            return Some(format!("{net} overlaps the host's route to {t}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slot_zero_is_the_spec_default() {
        let p = AddressPlan::for_slot(0);
        assert_eq!(p.public_ip, Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(p.client_ip, Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(p.proxy_ip, Ipv4Addr::new(172, 30, 77, 10));
        assert_eq!(p.bridge_ip, Ipv4Addr::new(172, 30, 77, 20));
        assert_eq!(p.router_lan_ip, Ipv4Addr::new(172, 30, 77, 2));
    }

    #[test]
    fn map_placeholders_resolve_to_sets_holding_the_same_roles() {
        let p = AddressPlan::for_slot(0);
        assert_eq!(p.resolve("LAN_HOST_21").unwrap(), "172.30.77.21");
        assert_eq!(p.resolve("WAN_HOST_3").unwrap(), "198.51.100.3");
        assert_eq!(
            p.resolve("NET:PROXY_IP+BRIDGE_IP+LAN_SUBNET:16").unwrap(),
            "172.30.0.0/16"
        );
        // An operator's public /24 holds their address, not the internet client.
        assert_eq!(p.resolve("NET:PUBLIC_IP:24").unwrap(), "198.51.100.2/31");
        assert_eq!(
            p.resolve("RANGE:NET:PROXY_IP+BRIDGE_IP+LAN_SUBNET:8")
                .unwrap(),
            "172.0.0.0-172.255.255.255"
        );
        assert_eq!(p.resolve("LABONLY_NET:3:16").unwrap(), "198.18.3.0/24");
        assert_eq!(p.resolve("NOPE"), None);
    }

    #[test]
    fn guard_refuses_everything_but_the_wan() {
        let p = AddressPlan::for_slot(1);
        let g = p.guard();
        assert!(g.check(SocketAddr::new(p.public_ip.into(), 443)).is_ok());
        for bad in [
            p.bridge_ip,
            p.proxy_ip,
            p.client_ip,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(8, 8, 8, 8),
            Ipv4Addr::new(198, 51, 100, 2),
        ] {
            assert!(
                g.check(SocketAddr::new(bad.into(), 443)).is_err(),
                "{bad} must be refused"
            );
        }
        assert!(g.check("[::1]:443".parse().unwrap()).is_err());
    }

    #[tokio::test]
    async fn guard_refuses_to_connect_outside_without_sending() {
        let g = AddressPlan::for_slot(0).guard();
        // An address outside the lab: the error is the guard's, returned before any socket
        // exists, so no SYN can leave.
        let err = g
            .connect_tcp(
                "192.0.2.1:80".parse().unwrap(),
                std::time::Duration::from_millis(10),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("outside the lab"), "{err}");
    }

    #[test]
    fn proc_net_route_is_read() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            parse_proc_net_route(text),
            vec!["192.0.2.0/24".parse::<Ipv4Net>().unwrap()]
        );
    }

    #[test]
    fn clash_is_found() {
        let p = AddressPlan::for_slot(0);
        assert!(clash(&p, &["172.30.0.0/16".parse().unwrap()]).is_some());
        assert!(clash(&p, &["198.51.100.0/24".parse().unwrap()]).is_some());
        assert!(clash(&p, &["192.0.2.0/24".parse().unwrap()]).is_none());
    }

    proptest! {
        #[test]
        fn route_parser_never_panics(s in "\\PC*") {
            let _ = parse_proc_net_route(&s);
        }

        #[test]
        fn slots_never_overlap(a in 0u32..MAX_SLOTS, b in 0u32..MAX_SLOTS) {
            prop_assume!(a != b);
            let (pa, pb) = (AddressPlan::for_slot(a), AddressPlan::for_slot(b));
            prop_assert!(!pa.lan.contains(&pb.lan.network()));
        }
    }
}
