//! One address map for every file of a pre-change run (SPEC section 8). Each operator address
//! maps to one lab address, the same in every file: a role's address to the lab's address of that
//! role; an address that is no role's to an unused address of the lab's counterpart network (or a
//! lab-only subnet), so a typo stays as wrong in the lab as in production. Subnets and ranges map
//! to lab sets that hold the same roles, so a rule matches in the lab exactly the hosts it matches
//! in production. Ports, rule order, chains and directives are never changed.
//!
//! The map writes placeholders (`${BRIDGE_IP}`, `${LAN_HOST_21}`, ...) that the lab's address
//! plan renders once the lab's slot is known ([`crate::net::AddressPlan::resolve`]).

use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The operator's side of the map: the roles' addresses as declared or inferred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorSite {
    pub public_ip: Option<Ipv4Addr>,
    pub proxy_ip: Option<Ipv4Addr>,
    pub bridge_ip: Option<Ipv4Addr>,
    /// The router's own LAN address, where a rule names it (SNAT `--to-source`).
    pub router_lan_ip: Option<Ipv4Addr>,
    /// The LAN (declared, inferred, or the /24 around the bridge).
    pub lan: Option<Ipv4Net>,
}

/// A lab role a set of addresses may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    Public,
    Proxy,
    Bridge,
    RouterLan,
}

impl Member {
    pub fn placeholder(self) -> &'static str {
        match self {
            Member::Public => "PUBLIC_IP",
            Member::Proxy => "PROXY_IP",
            Member::Bridge => "BRIDGE_IP",
            Member::RouterLan => "ROUTER_LAN_IP",
        }
    }
}

/// An IPv4 literal in a line: a single address, a subnet (`/prefix` or `/dotted-mask`), or a
/// range `a-b` (coturn's `denied-peer-ip`, iptables' `--src-range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Addr(Ipv4Addr),
    Net(Ipv4Net),
    Range(Ipv4Addr, Ipv4Addr),
}

/// Every IPv4 literal in `line` with its byte span. A dotted run that is not exactly four octets
/// (a version `1.2.3.4.5`, a decimal) is no address.
pub fn tokens(line: &str) -> Vec<(std::ops::Range<usize>, Token)> {
    let b = line.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let addr_at = |i: usize| -> Option<(usize, Ipv4Addr)> {
        if i > 0 && (word(b[i - 1]) || b[i - 1] == b'.') {
            return None;
        }
        let mut end = i;
        while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
            end += 1;
        }
        if end < b.len() && word(b[end]) {
            return None;
        }
        // One trailing dot ends a sentence, not the address.
        let stop = if line[i..end].ends_with('.') {
            end - 1
        } else {
            end
        };
        let parts: Vec<&str> = line[i..stop].split('.').collect();
        let octet = |p: &&str| p.len() <= 3 && !p.is_empty() && p.parse::<u8>().is_ok();
        if parts.len() != 4 || !parts.iter().all(octet) {
            return None;
        }
        Some((stop, line[i..stop].parse().ok()?))
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let Some((end, a)) = addr_at(i) else {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            continue;
        };
        // `a/prefix`, `a/mask`, `a-b`
        if b.get(end) == Some(&b'/') {
            if let Some((mend, mask)) = addr_at(end + 1) {
                let m = u32::from(mask);
                if m.leading_ones() + m.trailing_zeros() == 32 {
                    if let Ok(n) = Ipv4Net::new(a, m.leading_ones() as u8) {
                        out.push((i..mend, Token::Net(n)));
                        i = mend;
                        continue;
                    }
                }
                // `public/private`, two addresses (coturn's `external-ip=203.0.113.45/10.0.5.7`),
                // never a prefix: each is mapped on its own.
                out.push((i..end, Token::Addr(a)));
                i = end;
                continue;
            }
            let digits = b[end + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if (1..=2).contains(&digits) {
                let pend = end + 1 + digits;
                if let Ok(n) = line[end + 1..pend]
                    .parse::<u8>()
                    .map_err(|_| ())
                    .and_then(|p| Ipv4Net::new(a, p).map_err(|_| ()))
                {
                    if pend == b.len() || !word(b[pend]) {
                        out.push((i..pend, Token::Net(n)));
                        i = pend;
                        continue;
                    }
                }
            }
        }
        if b.get(end) == Some(&b'-') {
            if let Some((rend, hi)) = addr_at(end + 1) {
                if hi >= a {
                    out.push((i..rend, Token::Range(a, hi)));
                    i = rend;
                    continue;
                }
            }
        }
        out.push((i..end, Token::Addr(a)));
        i = end;
    }
    out
}

/// Where a single non-role address goes in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    LanHost(u8),
    WanHost(u8),
    LabOnly(u8),
}

/// Lab host offsets in the LAN /24 that belong to roles (or the Docker host's gateway).
const LAN_TAKEN: [u8; 4] = [1, 2, 10, 20];
/// Free offsets of a lab's wan /27 (.1 client, .2 public, .27 the browser, .29 the fault
/// catalogue's unused).
const WAN_FREE: std::ops::RangeInclusive<u8> = 3..=26;

/// The map, built as the files are read; the same value always maps the same way.
#[derive(Debug, Clone, Default)]
pub struct AddressMap {
    pub site: OperatorSite,
    singles: BTreeMap<Ipv4Addr, Slot>,
    nets: BTreeMap<(Ipv4Addr, Ipv4Addr), String>,
    lab_only_nets: u8,
}

/// Addresses that mean the same everywhere and are left as written.
fn universal(a: Ipv4Addr) -> bool {
    a.is_loopback() || a.is_unspecified() || a.is_multicast() || a.is_broadcast()
}

fn private(a: Ipv4Addr) -> bool {
    a.is_private() || a.is_link_local() || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64)
}

impl AddressMap {
    pub fn new(site: OperatorSite) -> Self {
        AddressMap {
            site,
            ..Default::default()
        }
    }

    fn role(&self, a: Ipv4Addr) -> Option<Member> {
        let s = &self.site;
        [
            (s.public_ip, Member::Public),
            (s.proxy_ip, Member::Proxy),
            (s.bridge_ip, Member::Bridge),
            (s.router_lan_ip, Member::RouterLan),
        ]
        .into_iter()
        .find(|(ip, _)| *ip == Some(a))
        .map(|(_, m)| m)
    }

    fn slot(&mut self, a: Ipv4Addr) -> Slot {
        if let Some(s) = self.singles.get(&a) {
            return *s;
        }
        let used: Vec<Slot> = self.singles.values().copied().collect();
        let in_lan = self.site.lan.is_some_and(|n| n.contains(&a));
        let slot = if in_lan {
            let lan = self.site.lan.expect("checked");
            let offset = u32::from(a) - u32::from(lan.network());
            // The same host number reads best (a typo .21 stays .21), when it is free.
            match u8::try_from(offset) {
                Ok(o)
                    if (3..=254).contains(&o)
                        && !LAN_TAKEN.contains(&o)
                        && !used.contains(&Slot::LanHost(o)) =>
                {
                    Slot::LanHost(o)
                }
                _ => (200..=254)
                    .map(Slot::LanHost)
                    .find(|s| !used.contains(s))
                    .unwrap_or(Slot::LabOnly(self.singles.len() as u8)),
            }
        } else if private(a) {
            (1..=254)
                .map(Slot::LabOnly)
                .find(|s| !used.contains(s))
                .unwrap_or(Slot::LabOnly(254))
        } else {
            WAN_FREE
                .map(Slot::WanHost)
                .find(|s| !used.contains(s))
                .or_else(|| (1..=254).map(Slot::LabOnly).find(|s| !used.contains(s)))
                .unwrap_or(Slot::LabOnly(254))
        };
        self.singles.insert(a, slot);
        slot
    }

    /// The lab's spelling of one operator address.
    pub fn addr(&mut self, a: Ipv4Addr) -> String {
        if universal(a) {
            return a.to_string();
        }
        if let Some(m) = self.role(a) {
            return format!("${{{}}}", m.placeholder());
        }
        match self.slot(a) {
            Slot::LanHost(o) => format!("${{LAN_HOST_{o}}}"),
            Slot::WanHost(o) => format!("${{WAN_HOST_{o}}}"),
            Slot::LabOnly(o) => format!("${{LABONLY_{o}}}"),
        }
    }

    /// The roles an operator set holds.
    fn members(&self, lo: Ipv4Addr, hi: Ipv4Addr) -> Vec<Member> {
        let inside = |a: Option<Ipv4Addr>| a.is_some_and(|a| a >= lo && a <= hi);
        let s = &self.site;
        let mut m = Vec::new();
        if inside(s.public_ip) {
            m.push(Member::Public);
        }
        if inside(s.proxy_ip) {
            m.push(Member::Proxy);
        }
        if inside(s.bridge_ip) {
            m.push(Member::Bridge);
        }
        if inside(s.router_lan_ip) {
            m.push(Member::RouterLan);
        }
        m
    }

    /// The lab's spelling of an operator subnet: the lab set holding the same roles.
    pub fn net(&mut self, n: Ipv4Net) -> String {
        if n.prefix_len() == 0 {
            return n.to_string();
        }
        if n.prefix_len() == 32 {
            return format!("{}/32", self.addr(n.addr()));
        }
        if universal(n.network()) && universal(n.broadcast()) {
            return n.to_string();
        }
        if self.site.lan == Some(n.trunc()) {
            return "${LAN_SUBNET}".into();
        }
        self.set(n.network(), n.broadcast(), Some(n.prefix_len()))
            .unwrap_or_else(|| n.to_string())
    }

    /// The lab's spelling of an operator range `lo-hi`.
    pub fn range(&mut self, lo: Ipv4Addr, hi: Ipv4Addr) -> String {
        if lo == hi {
            return self.addr(lo);
        }
        if self
            .site
            .lan
            .is_some_and(|l| l.network() == lo && l.broadcast() == hi)
        {
            return "${RANGE:LAN_SUBNET}".into();
        }
        match self.set(lo, hi, None) {
            Some(s) => format!(
                "${{RANGE:{}}}",
                s.trim_start_matches("${").trim_end_matches('}')
            ),
            None => format!("{lo}-{hi}"),
        }
    }

    /// A set placeholder: `${NET:members:prefix}` (resolved by the plan to the smallest lab
    /// subnet holding exactly those roles) or a lab-only subnet for a set holding none.
    fn set(&mut self, lo: Ipv4Addr, hi: Ipv4Addr, prefix: Option<u8>) -> Option<String> {
        if let Some(s) = self.nets.get(&(lo, hi)) {
            return Some(s.clone());
        }
        let members = self.members(lo, hi);
        let lan_inside = self
            .site
            .lan
            .is_some_and(|l| l.network() >= lo && l.broadcast() <= hi);
        let s = if members.is_empty() && !lan_inside {
            self.lab_only_nets = self.lab_only_nets.saturating_add(1);
            format!(
                "${{LABONLY_NET:{}:{}}}",
                self.lab_only_nets,
                prefix.unwrap_or(24).max(16)
            )
        } else {
            let mut names: Vec<&str> = members.iter().map(|m| m.placeholder()).collect();
            if lan_inside {
                names.push("LAN_SUBNET");
            }
            format!("${{NET:{}:{}}}", names.join("+"), prefix.unwrap_or(24))
        };
        self.nets.insert((lo, hi), s.clone());
        Some(s)
    }

    /// `line` with every address literal in the lab's spelling.
    pub fn line(&mut self, line: &str) -> String {
        let toks = tokens(line);
        if toks.is_empty() {
            return line.to_string();
        }
        let mut out = String::with_capacity(line.len());
        let mut at = 0;
        for (span, tok) in toks {
            out.push_str(&line[at..span.start]);
            let lab = match tok {
                Token::Addr(a) => self.addr(a),
                Token::Net(n) => {
                    let written = &line[span.clone()];
                    if written.contains('/') && n.prefix_len() == 32 {
                        format!("{}/32", self.addr(n.addr()))
                    } else {
                        self.net(n)
                    }
                }
                Token::Range(lo, hi) => self.range(lo, hi),
            };
            out.push_str(&lab);
            at = span.end;
        }
        out.push_str(&line[at..]);
        out
    }

    /// Every operator value the map has spelled, with its placeholder: for naming lab values
    /// back in the operator's terms.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let s = &self.site;
        for (ip, m) in [
            (s.public_ip, Member::Public),
            (s.proxy_ip, Member::Proxy),
            (s.bridge_ip, Member::Bridge),
            (s.router_lan_ip, Member::RouterLan),
        ] {
            if let Some(ip) = ip {
                v.push((ip.to_string(), format!("${{{}}}", m.placeholder())));
            }
        }
        if let Some(l) = s.lan {
            v.push((l.to_string(), "${LAN_SUBNET}".into()));
        }
        let singles: Vec<Ipv4Addr> = self.singles.keys().copied().collect();
        let mut me = self.clone();
        for a in singles {
            v.push((a.to_string(), me.addr(a)));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn site() -> OperatorSite {
        OperatorSite {
            public_ip: Some("203.0.113.7".parse().unwrap()),
            proxy_ip: Some("192.168.122.10".parse().unwrap()),
            bridge_ip: Some("192.168.122.20".parse().unwrap()),
            router_lan_ip: None,
            lan: Some("192.168.122.0/24".parse().unwrap()),
        }
    }

    #[test]
    fn tokens_are_whole_literals() {
        let t = tokens("a 10.0.0.2:443 b 10.0.0.0/24 c 1.2.3.4.5 d 10.0.0.1-10.0.0.9 e 10.0.0.0/255.255.0.0 v2.1.0.3 x.");
        let kinds: Vec<Token> = t.into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            kinds,
            vec![
                Token::Addr("10.0.0.2".parse().unwrap()),
                Token::Net("10.0.0.0/24".parse().unwrap()),
                Token::Range("10.0.0.1".parse().unwrap(), "10.0.0.9".parse().unwrap()),
                Token::Net("10.0.0.0/16".parse().unwrap()),
            ]
        );
        assert!(tokens("ends with 10.0.0.2.").len() == 1);
        // Names and words that hold an address are no address; spans are bytes.
        assert!(tokens("x10.0.0.1 10.0.0.1a 10.0.0.1.nip.io").is_empty());
        assert_eq!(tokens("é 10.0.0.1")[0].0, 3..11);
        // coturn's external-ip: public/private, two addresses, not a /10 prefix.
        let pair: Vec<Token> = tokens("external-ip=203.0.113.45/10.0.5.7")
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        assert_eq!(
            pair,
            vec![
                Token::Addr("203.0.113.45".parse().unwrap()),
                Token::Addr("10.0.5.7".parse().unwrap()),
            ]
        );
    }

    #[test]
    fn roles_typos_and_strangers() {
        let mut m = AddressMap::new(site());
        assert_eq!(
            m.line("-d 203.0.113.7/32 -j DNAT --to-destination 192.168.122.21:4443"),
            "-d ${PUBLIC_IP}/32 -j DNAT --to-destination ${LAN_HOST_21}:4443"
        );
        assert_eq!(m.addr("192.168.122.20".parse().unwrap()), "${BRIDGE_IP}");
        // A LAN host on a lab role's number moves out of the way; the same value maps the same.
        let a = m.addr("192.168.122.2".parse().unwrap());
        assert_eq!(a, "${LAN_HOST_200}");
        assert_eq!(m.addr("192.168.122.2".parse().unwrap()), a);
        assert_eq!(m.addr("8.8.8.8".parse().unwrap()), "${WAN_HOST_3}");
        assert_eq!(m.addr("10.9.9.9".parse().unwrap()), "${LABONLY_1}");
        assert_eq!(m.addr("127.0.0.1".parse().unwrap()), "127.0.0.1");
    }

    #[test]
    fn sets_keep_their_roles() {
        let mut m = AddressMap::new(site());
        assert_eq!(m.line("-s 192.168.122.0/24"), "-s ${LAN_SUBNET}");
        assert_eq!(
            m.line("-s 192.168.0.0/16"),
            "-s ${NET:PROXY_IP+BRIDGE_IP+LAN_SUBNET:16}"
        );
        assert_eq!(m.line("-d 0.0.0.0/0"), "-d 0.0.0.0/0");
        assert!(m.line("-s 172.17.0.0/16").starts_with("-s ${LABONLY_NET:"));
        // The same set written as a range is the same set.
        assert_eq!(
            m.line("denied-peer-ip=192.168.0.0-192.168.255.255"),
            "denied-peer-ip=${RANGE:NET:PROXY_IP+BRIDGE_IP+LAN_SUBNET:16}"
        );
        assert_eq!(
            m.line("denied-peer-ip=192.168.122.0-192.168.122.255"),
            "denied-peer-ip=${RANGE:LAN_SUBNET}"
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let mut m = AddressMap::new(site());
            let _ = m.line(&s);
        }
    }
}
