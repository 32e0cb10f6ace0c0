//! Local candidates exactly as ice4j (driven by JVB) advertises them, and their
//! Colibri2 JSON form.
//!
//! The harvest is replayed step by step because ice4j's priorities depend on
//! the order candidates are added to the `Component`:
//!
//! 1. JVB adds the `TcpHarvester` before the `SinglePortUdpHarvester`s
//!    (jvb `IceTransport.kt` `appendHarvesters`), and both are host harvesters
//!    run first (ice4j `Agent.gatherCandidates`). The TCP harvester adds, in
//!    order, a passive host candidate per address, a srflx per NAT mapping
//!    whose local address equals a host's (same port), then srflx candidates
//!    for the mapped port on each host address and on each mapped address
//!    (ice4j `harvest/TcpHarvester.java` `createLocalCandidates`).
//! 2. One UDP host candidate per address on the UDP port
//!    (`SinglePortUdpHarvester.createHarvesters`).
//! 3. The static mapping harvesters add a UDP srflx for each UDP host whose
//!    address equals the mapping's local address, keeping the host port unless
//!    the mapping has ports (ice4j `MappingCandidateHarvester.kt` `harvest`).
//!
//! Each addition (ice4j `Component.addLocalCandidate`) assigns a foundation
//! (`FoundationsRegistry.assignFoundation`: one number per type, base address,
//! server and transport), computes the priority
//! (`Candidate.computePriorityForType`: `type_pref << 24 | local_pref << 8 |
//! (256 - component)`, type preference host 126, srflx 100;
//! `getLocalPreference`: 65535 while fewer than two host candidates are
//! already in the component, else 10 for IPv4, 40/30 for IPv6), drops a
//! candidate redundant with an existing one (same transport address and same
//! base), and keeps the list sorted by priority (stable).
//!
//! So with one address and UDP only: host 2130706431, srflx 1694498815. With
//! ICE/TCP on, the UDP srflx is added when two host candidates (TCP + UDP)
//! exist and gets 1677724415.

use std::net::{IpAddr, SocketAddr};

use serde_json::{json, Value};

use crate::config::IceSettings;

/// Candidate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateType {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl CandidateType {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }

    /// ice4j `Candidate.getTypePreference`.
    fn type_preference(self) -> u32 {
        match self {
            CandidateType::Host => 126,
            CandidateType::Prflx => 110,
            CandidateType::Srflx => 100,
            CandidateType::Relay => 0,
        }
    }
}

/// Advertised protocol. ICE/TCP candidates with SSL are advertised as
/// `ssltcp` though their transport is TCP (jvb `IceTransport.kt`
/// `toCandidatePacketExtension`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Udp,
    Tcp,
    Ssltcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Ssltcp => "ssltcp",
        }
    }

    pub fn is_tcp(self) -> bool {
        !matches!(self, Protocol::Udp)
    }
}

/// One advertised candidate, with the fields JVB puts in Colibri2.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    pub foundation: String,
    pub component: u16,
    pub protocol: Protocol,
    pub ip: IpAddr,
    pub port: u16,
    pub priority: u32,
    #[serde(rename = "type")]
    pub typ: CandidateType,
    pub generation: u32,
    pub id: String,
    pub network: u32,
    pub rel_addr: Option<IpAddr>,
    pub rel_port: Option<u16>,
    /// `passive` for ICE/TCP candidates.
    pub tcptype: Option<String>,
}

impl Candidate {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Colibri2 JSON: every value a string, as jitsi-xmpp-extensions'
    /// `JSONSerializer` writes XML attributes (jvb `doc/rest-colibri2.md`).
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("generation".into(), json!(self.generation.to_string()));
        m.insert("component".into(), json!(self.component.to_string()));
        m.insert("protocol".into(), json!(self.protocol.as_str()));
        m.insert("port".into(), json!(self.port.to_string()));
        m.insert("ip".into(), json!(self.ip.to_string()));
        m.insert("foundation".into(), json!(self.foundation));
        m.insert("id".into(), json!(self.id));
        m.insert("priority".into(), json!(self.priority.to_string()));
        m.insert("type".into(), json!(self.typ.as_str()));
        m.insert("network".into(), json!(self.network.to_string()));
        if let Some(a) = self.rel_addr {
            m.insert("rel-addr".into(), json!(a.to_string()));
        }
        if let Some(p) = self.rel_port {
            m.insert("rel-port".into(), json!(p.to_string()));
        }
        if let Some(t) = &self.tcptype {
            m.insert("tcptype".into(), json!(t));
        }
        Value::Object(m)
    }

    /// SDP `a=candidate` value (for logs and reports).
    pub fn to_sdp(&self) -> String {
        let mut s = format!(
            "candidate:{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.protocol.as_str(),
            self.priority,
            self.ip,
            self.port,
            self.typ.as_str()
        );
        if let (Some(a), Some(p)) = (self.rel_addr, self.rel_port) {
            s.push_str(&format!(" raddr {a} rport {p}"));
        }
        if let Some(t) = &self.tcptype {
            s.push_str(&format!(" tcptype {t}"));
        }
        s.push_str(&format!(" generation {}", self.generation));
        s
    }
}

/// Which host addresses ice4j would use, from the host's interface addresses:
/// no loopback, no link-local (JVB `application.conf`
/// `ice4j.harvest.use-link-local-addresses = false`), allowed/blocked lists
/// (ice4j `HostCandidateHarvester.isAddressAllowed`), no IPv6 (out of the
/// project's scope; ice4j would use it), duplicates removed.
pub fn usable_host_addresses(addresses: &[IpAddr], settings: &IceSettings) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for &a in addresses {
        let keep = match a {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
            IpAddr::V6(_) => false,
        };
        let allowed = if settings.allowed_addresses.is_empty() {
            !settings.blocked_addresses.contains(&a)
        } else {
            settings.allowed_addresses.contains(&a)
        };
        if keep && allowed && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Local {
    addr: SocketAddr,
    tcp: bool,
    ssl: bool,
    typ: CandidateType,
    /// transport address of the base (itself for a host candidate)
    base: SocketAddr,
    foundation: String,
    priority: u32,
    seq: usize,
}

/// ice4j's `Component` + `FoundationsRegistry`, reduced to what is observable.
#[derive(Debug, Default)]
struct Component {
    locals: Vec<Local>,
    foundations: Vec<(String, String)>,
    last_foundation: u32,
    seq: usize,
}

impl Component {
    fn add(
        &mut self,
        addr: SocketAddr,
        tcp: bool,
        ssl: bool,
        typ: CandidateType,
        base: SocketAddr,
    ) {
        // FoundationsRegistry.assignFoundation (assigned even if then dropped as redundant)
        // key = type + base address + server address ("" for static srflx) + transport
        let key = format!(
            "{}{}{}",
            typ.as_str(),
            base.ip(),
            if tcp { "tcp" } else { "udp" }
        );
        let foundation = match self.foundations.iter().find(|(k, _)| *k == key) {
            Some((_, f)) => f.clone(),
            None => {
                self.last_foundation += 1;
                let f = self.last_foundation.to_string();
                self.foundations.push((key, f.clone()));
                f
            }
        };
        // Candidate.getLocalPreference
        let hosts = self
            .locals
            .iter()
            .filter(|l| l.typ == CandidateType::Host)
            .count();
        let local_pref: u32 = if hosts < 2 {
            65535
        } else {
            match addr.ip() {
                IpAddr::V4(_) => 10,
                IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => 30,
                IpAddr::V6(_) => 40,
            }
        };
        let component_id = 1u32;
        let priority = (typ.type_preference() << 24) + (local_pref << 8) + (256 - component_id);
        // Component.findRedundant: same transport address and same base
        if self
            .locals
            .iter()
            .any(|l| l.addr == addr && l.tcp == tcp && l.base == base)
        {
            return;
        }
        self.seq += 1;
        self.locals.push(Local {
            addr,
            tcp,
            ssl,
            typ,
            base,
            foundation,
            priority,
            seq: self.seq,
        });
    }
}

/// Harvest the candidates for one endpoint. `addresses` are the host's
/// interface addresses (filtered with [`usable_host_addresses`]); `next_id`
/// produces candidate ids (see [`crate::agent::CandidateIds`]).
pub fn harvest(
    addresses: &[IpAddr],
    settings: &IceSettings,
    mut next_id: impl FnMut() -> String,
) -> Vec<Candidate> {
    let hosts = usable_host_addresses(addresses, settings);
    let mut comp = Component::default();

    // 1. TcpHarvester (added first by jvb IceTransport.appendHarvesters).
    if let Some(tcp) = &settings.tcp {
        let ssl = tcp.ssltcp;
        let host_addrs: Vec<SocketAddr> = hosts
            .iter()
            .map(|&ip| SocketAddr::new(ip, tcp.port))
            .collect();
        let mut all: Vec<(SocketAddr, CandidateType, SocketAddr)> = Vec::new();
        for &h in &host_addrs {
            all.push((h, CandidateType::Host, h));
        }
        // TcpHarvester.mappedAddresses is a HashMap<public, local>: one local
        // address per public address (the later mapping wins).
        let mut mapped: Vec<(IpAddr, IpAddr)> = Vec::new();
        for m in &settings.mappings {
            mapped.retain(|(public, _)| *public != m.public_address);
            mapped.push((m.public_address, m.local_address));
        }
        let mut mapped_cands: Vec<(SocketAddr, SocketAddr)> = Vec::new();
        for &(public, local) in &mapped {
            for &h in &host_addrs {
                if h.ip() == local {
                    mapped_cands.push((SocketAddr::new(public, h.port()), h));
                }
            }
        }
        for &(a, base) in &mapped_cands {
            all.push((a, CandidateType::Srflx, base));
        }
        if let Some(mp) = tcp.mapped_port {
            for &h in &host_addrs {
                all.push((SocketAddr::new(h.ip(), mp), CandidateType::Srflx, h));
            }
            for &(a, base) in &mapped_cands {
                all.push((SocketAddr::new(a.ip(), mp), CandidateType::Srflx, base));
            }
        }
        for (a, typ, base) in all {
            comp.add(a, true, ssl, typ, base);
        }
    }

    // 2. SinglePortUdpHarvester per address.
    for &ip in &hosts {
        let a = SocketAddr::new(ip, settings.udp_port);
        comp.add(a, false, false, CandidateType::Host, a);
    }

    // 3. Static mapping harvesters (MappingCandidateHarvester.harvest), UDP hosts only.
    for m in &settings.mappings {
        let match_port = m.local_port.is_some();
        let udp_hosts: Vec<SocketAddr> = comp
            .locals
            .iter()
            .filter(|l| l.typ == CandidateType::Host && !l.tcp)
            .filter(|l| {
                l.addr.ip() == m.local_address
                    && (!match_port || Some(l.addr.port()) == m.local_port)
            })
            .map(|l| l.addr)
            .collect();
        for h in udp_hosts {
            let port = if match_port {
                m.public_port.unwrap_or(9)
            } else {
                h.port()
            };
            comp.add(
                SocketAddr::new(m.public_address, port),
                false,
                false,
                CandidateType::Srflx,
                h,
            );
        }
    }

    let mut locals = comp.locals;
    // Component keeps localCandidates sorted by priority, highest first (stable).
    locals.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.seq.cmp(&b.seq)));
    locals
        .into_iter()
        .map(|l| Candidate {
            foundation: l.foundation,
            component: 1,
            protocol: match (l.tcp, l.ssl) {
                (false, _) => Protocol::Udp,
                (true, false) => Protocol::Tcp,
                (true, true) => Protocol::Ssltcp,
            },
            ip: l.addr.ip(),
            port: l.addr.port(),
            priority: l.priority,
            typ: l.typ,
            generation: 0,
            id: next_id(),
            network: 0,
            rel_addr: (l.typ != CandidateType::Host).then_some(l.base.ip()),
            rel_port: (l.typ != CandidateType::Host).then_some(l.base.port()),
            tcptype: l.tcp.then(|| "passive".to_string()),
        })
        .collect()
}

/// A DTLS fingerprint as advertised in the transport.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fingerprint {
    pub hash: String,
    pub fingerprint: String,
    pub setup: String,
}

/// The ICE part of a Colibri2 transport.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Transport {
    pub ufrag: String,
    pub pwd: String,
    pub candidates: Vec<Candidate>,
    pub fingerprints: Vec<Fingerprint>,
}

impl Transport {
    /// The inner `transport` object of a Colibri2 endpoint, as jitsi-xmpp-extensions'
    /// `JSONSerializer.serializeTransport` writes an `IceUdpTransportPacketExtension`
    /// (see the response in jvb `doc/rest-colibri2.md`).
    pub fn to_json(&self) -> Value {
        json!({
            "candidates": self.candidates.iter().map(Candidate::to_json).collect::<Vec<_>>(),
            "xmlns": "urn:xmpp:jingle:transports:ice-udp:1",
            "ufrag": self.ufrag,
            "rtcp-mux": true,
            "pwd": self.pwd,
            "fingerprints": self.fingerprints.iter().map(|f| json!({
                "fingerprint": f.fingerprint,
                "setup": f.setup,
                "hash": f.hash,
            })).collect::<Vec<_>>(),
        })
    }
}

/// What a probe reads back from a transport (client side).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParsedCandidate {
    pub foundation: String,
    pub component: u16,
    pub protocol: String,
    pub ip: String,
    pub port: u16,
    pub priority: u32,
    pub typ: String,
    pub rel_addr: Option<String>,
    pub rel_port: Option<u16>,
    pub tcptype: Option<String>,
    pub generation: Option<u32>,
    pub id: Option<String>,
}

/// ICE credentials and candidates parsed from bridge JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParsedTransport {
    pub ufrag: String,
    pub pwd: String,
    pub candidates: Vec<ParsedCandidate>,
    pub fingerprints: Vec<(String, String)>,
}

fn str_or_num(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Find and parse the ICE transport in Colibri2 JSON: accepts a whole
/// conference-modified response (first endpoint), an endpoint's
/// `{"transport":{"transport":{..}}}`, `{"transport":{..}}` or the bare
/// transport object. Values may be strings (as JVB sends them) or numbers.
pub fn parse_transport(v: &Value) -> Result<ParsedTransport, String> {
    let mut t = v;
    if let Some(ep) = t.get("endpoints").and_then(|e| e.get(0)) {
        t = ep;
    }
    while t.get("ufrag").is_none() {
        match t.get("transport") {
            Some(inner) => t = inner,
            None => return Err("no transport with a ufrag in the JSON".into()),
        }
    }
    let ufrag = str_or_num(t.get("ufrag")).ok_or("transport without ufrag")?;
    let pwd = str_or_num(t.get("pwd")).ok_or("transport without pwd")?;
    let mut candidates = Vec::new();
    for (i, c) in t
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = |k: &str| str_or_num(c.get(k));
        let num = |k: &str| -> Result<Option<u64>, String> {
            field(k)
                .map(|s| {
                    s.parse::<u64>()
                        .map_err(|_| format!("candidate {i}: {k} {s:?} is not a number"))
                })
                .transpose()
        };
        let need = |k: &str| field(k).ok_or(format!("candidate {i}: missing {k}"));
        candidates.push(ParsedCandidate {
            foundation: need("foundation")?,
            component: num("component")?.unwrap_or(1) as u16,
            protocol: need("protocol")?,
            ip: need("ip")?,
            port: num("port")?.ok_or(format!("candidate {i}: missing port"))? as u16,
            priority: num("priority")?.unwrap_or(0) as u32,
            typ: need("type")?,
            rel_addr: field("rel-addr"),
            rel_port: num("rel-port")?.map(|p| p as u16),
            tcptype: field("tcptype"),
            generation: num("generation")?.map(|g| g as u32),
            id: field("id"),
        });
    }
    let fingerprints = t
        .get("fingerprints")
        .and_then(Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| {
                    Some((
                        str_or_num(f.get("hash"))?,
                        str_or_num(f.get("fingerprint"))?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ParsedTransport {
        ufrag,
        pwd,
        candidates,
        fingerprints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{StaticMapping, TcpSettings};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn mapping(local: &str, public: &str) -> StaticMapping {
        StaticMapping {
            local_address: ip(local),
            public_address: ip(public),
            local_port: None,
            public_port: None,
            name: None,
            origin: "test".into(),
        }
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id{n}")
        }
    }

    fn brief(c: &[Candidate]) -> Vec<String> {
        c.iter()
            .map(|c| {
                format!(
                    "{} {} {} {}:{} {} rel={:?}",
                    c.foundation,
                    c.protocol.as_str(),
                    c.typ.as_str(),
                    c.ip,
                    c.port,
                    c.priority,
                    c.rel_addr.map(|a| format!("{a}:{}", c.rel_port.unwrap()))
                )
            })
            .collect()
    }

    /// `current` profile: UDP only, one address, one mapping.
    /// Candidate.computePriorityForType: host 2130706431, srflx 1694498815;
    /// FoundationsRegistry: 1, 2.
    #[test]
    fn udp_only_one_address() {
        let s = IceSettings {
            mappings: vec![mapping("172.30.77.20", "198.51.100.2")],
            ..IceSettings::default()
        };
        let c = harvest(&[ip("127.0.0.1"), ip("172.30.77.20")], &s, ids());
        assert_eq!(
            brief(&c),
            [
                "1 udp host 172.30.77.20:10000 2130706431 rel=None",
                "2 udp srflx 198.51.100.2:10000 1694498815 rel=Some(\"172.30.77.20:10000\")",
            ]
        );
        assert_eq!(c[0].generation, 0);
        assert_eq!(c[0].network, 0);
        assert_eq!(c[0].component, 1);
        assert_eq!(c[0].tcptype, None);
    }

    /// Reference profile: ICE/TCP on 4443 with ssltcp. TcpHarvester runs
    /// first (IceTransport.appendHarvesters), so the UDP srflx is added with
    /// two host candidates present: local preference 10 (Candidate.getLocalPreference).
    #[test]
    fn reference_profile_with_ssltcp() {
        let s = IceSettings {
            tcp: Some(TcpSettings {
                port: 4443,
                mapped_port: None,
                ssltcp: true,
            }),
            mappings: vec![mapping("172.30.77.20", "198.51.100.2")],
            ..IceSettings::default()
        };
        let c = harvest(&[ip("172.30.77.20")], &s, ids());
        assert_eq!(
            brief(&c),
            [
                "1 ssltcp host 172.30.77.20:4443 2130706431 rel=None",
                "3 udp host 172.30.77.20:10000 2130706431 rel=None",
                "2 ssltcp srflx 198.51.100.2:4443 1694498815 rel=Some(\"172.30.77.20:4443\")",
                "4 udp srflx 198.51.100.2:10000 1677724415 rel=Some(\"172.30.77.20:10000\")",
            ]
        );
        assert_eq!(c[0].tcptype.as_deref(), Some("passive"));
        assert_eq!(c[2].tcptype.as_deref(), Some("passive"));
    }

    /// MappingCandidateHarvester.harvest / TcpHarvester.createLocalCandidates:
    /// no host address equal to the local address -> no srflx of either kind.
    #[test]
    fn wrong_local_address_gives_no_srflx() {
        let s = IceSettings {
            tcp: Some(TcpSettings {
                port: 4443,
                mapped_port: None,
                ssltcp: false,
            }),
            mappings: vec![mapping("172.30.77.10", "198.51.100.2")],
            ..IceSettings::default()
        };
        let c = harvest(&[ip("172.30.77.20")], &s, ids());
        assert!(c.iter().all(|c| c.typ == CandidateType::Host));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].protocol, Protocol::Tcp);
    }

    /// Candidate.getLocalPreference: from the third host candidate on, IPv4
    /// hosts get local preference 10; srflx added later too.
    #[test]
    fn two_addresses_udp_only() {
        let s = IceSettings {
            mappings: vec![mapping("172.30.77.20", "198.51.100.2")],
            ..IceSettings::default()
        };
        let c = harvest(
            &[ip("10.9.0.5"), ip("172.30.77.20"), ip("169.254.1.1")],
            &s,
            ids(),
        );
        assert_eq!(
            brief(&c),
            [
                "1 udp host 10.9.0.5:10000 2130706431 rel=None",
                "2 udp host 172.30.77.20:10000 2130706431 rel=None",
                "3 udp srflx 198.51.100.2:10000 1677724415 rel=Some(\"172.30.77.20:10000\")",
            ]
        );
    }

    /// TcpHarvester.createLocalCandidates: the mapped port adds srflx on the
    /// host address and on the mapped address; same foundation as other TCP
    /// srflx of that base (FoundationsRegistry key has no port).
    #[test]
    fn tcp_mapped_port() {
        let s = IceSettings {
            tcp: Some(TcpSettings {
                port: 4443,
                mapped_port: Some(443),
                ssltcp: true,
            }),
            mappings: vec![mapping("172.30.77.20", "198.51.100.2")],
            ..IceSettings::default()
        };
        let c = harvest(&[ip("172.30.77.20")], &s, ids());
        let tcp: Vec<String> = brief(&c)
            .into_iter()
            .filter(|l| l.contains("ssltcp"))
            .collect();
        assert_eq!(
            tcp,
            [
                "1 ssltcp host 172.30.77.20:4443 2130706431 rel=None",
                "2 ssltcp srflx 198.51.100.2:4443 1694498815 rel=Some(\"172.30.77.20:4443\")",
                "2 ssltcp srflx 172.30.77.20:443 1694498815 rel=Some(\"172.30.77.20:4443\")",
                "2 ssltcp srflx 198.51.100.2:443 1694498815 rel=Some(\"172.30.77.20:4443\")",
            ]
        );
    }

    /// MappingCandidateHarvester with matchPort (local-port/public-port set).
    #[test]
    fn port_specific_mapping() {
        let mut m = mapping("172.30.77.20", "198.51.100.2");
        m.local_port = Some(10000);
        m.public_port = Some(20000);
        let mut other = mapping("172.30.77.20", "198.51.100.3");
        other.local_port = Some(10001);
        other.public_port = Some(20001);
        let s = IceSettings {
            mappings: vec![m, other],
            ..IceSettings::default()
        };
        let c = harvest(&[ip("172.30.77.20")], &s, ids());
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[1].addr(),
            "198.51.100.2:20000".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(c[1].rel_port, Some(10000));
    }

    /// Colibri2 JSON as in jvb doc/rest-colibri2.md (all values strings).
    #[test]
    fn colibri2_json_shape_and_parse_back() {
        let s = IceSettings {
            tcp: Some(TcpSettings {
                port: 4443,
                mapped_port: None,
                ssltcp: true,
            }),
            mappings: vec![mapping("172.30.77.20", "198.51.100.2")],
            ..IceSettings::default()
        };
        let t = Transport {
            ufrag: "26ant1ioqu7qnr".into(),
            pwd: "9q8uj7tg6j4rc4i6ulc1pmsq9".into(),
            candidates: harvest(&[ip("172.30.77.20")], &s, ids()),
            fingerprints: vec![Fingerprint {
                hash: "sha-256".into(),
                fingerprint: "AA:BB".into(),
                setup: "actpass".into(),
            }],
        };
        let j = t.to_json();
        let srflx = &j["candidates"][3];
        assert_eq!(srflx["type"], "srflx");
        assert_eq!(srflx["port"], "10000");
        assert_eq!(srflx["rel-addr"], "172.30.77.20");
        assert_eq!(srflx["rel-port"], "10000");
        assert_eq!(srflx["priority"], "1677724415");
        assert_eq!(srflx["generation"], "0");
        assert_eq!(srflx["network"], "0");
        assert!(srflx.get("tcptype").is_none());
        assert_eq!(j["candidates"][0]["tcptype"], "passive");
        assert_eq!(j["candidates"][0]["protocol"], "ssltcp");
        assert_eq!(j["fingerprints"][0]["setup"], "actpass");
        assert_eq!(j["fingerprints"][0]["hash"], "sha-256");
        let wrapped = json!({"endpoints":[{"id":"e","transport":{"transport": j}}]});
        let p = parse_transport(&wrapped).unwrap();
        assert_eq!(p.ufrag, "26ant1ioqu7qnr");
        assert_eq!(p.candidates.len(), 4);
        assert_eq!(p.candidates[3].rel_port, Some(10000));
        assert_eq!(p.fingerprints[0].0, "sha-256");
        assert!(c_sdp(&t.candidates[3]).contains("typ srflx raddr 172.30.77.20 rport 10000"));
    }

    fn c_sdp(c: &Candidate) -> String {
        c.to_sdp()
    }
}
