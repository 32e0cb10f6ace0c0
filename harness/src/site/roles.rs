//! The site's roles (SPEC section 8): the FQDN, the public address, the proxy's and the
//! bridge's LAN addresses, the LAN, and the router's interface names. A declared role is the
//! truth; an undeclared one is inferred only when every line that names it agrees. Lines that
//! disagree stop the run with exit 2, naming them and the flag that declares the role.

use super::apache;
use super::iptables::{Cond, Match, Ruleset, Target};
use super::Parsed;
use crate::error::ConfigError;
use crate::ports;
use ipnet::Ipv4Net;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr};

/// A line of the operator's files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Source {
    pub file: String,
    pub line: usize,
}

/// A line naming a role, with what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence<T> {
    pub value: T,
    pub source: Source,
    /// What the line is, e.g. "DNAT of udp/10000".
    pub what: String,
}

/// How a role's value came to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<T> {
    Declared(T),
    /// Every line naming it agrees.
    Inferred(T, Vec<Source>),
    /// No line names it and it was not declared.
    Unnamed,
}

impl<T: Clone> Resolved<T> {
    pub fn value(&self) -> Option<T> {
        match self {
            Resolved::Declared(v) | Resolved::Inferred(v, _) => Some(v.clone()),
            Resolved::Unnamed => None,
        }
    }
}

/// The site as the report shows it (`"site"`): each role with its value and either
/// `"declared": true` or the lines it was inferred from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RoleReport {
    Declared {
        value: String,
        declared: bool,
    },
    Inferred {
        value: Option<String>,
        sources: Vec<Source>,
    },
}

impl<T: Display + Clone> From<&Resolved<T>> for RoleReport {
    fn from(r: &Resolved<T>) -> Self {
        match r {
            Resolved::Declared(v) => RoleReport::Declared {
                value: v.to_string(),
                declared: true,
            },
            Resolved::Inferred(v, s) => RoleReport::Inferred {
                value: Some(v.to_string()),
                sources: s.clone(),
            },
            Resolved::Unnamed => RoleReport::Inferred {
                value: None,
                sources: Vec::new(),
            },
        }
    }
}

/// The roles of one site.
#[derive(Debug, Clone)]
pub struct Roles {
    pub fqdn: Resolved<String>,
    pub public_ip: Resolved<Ipv4Addr>,
    pub proxy_ip: Resolved<Ipv4Addr>,
    pub bridge_ip: Resolved<Ipv4Addr>,
    pub lan_subnet: Resolved<Ipv4Net>,
    pub wan_if: Resolved<String>,
    pub lan_if: Resolved<String>,
    /// The router's own LAN address, when a SNAT rule names it (no flag: nothing else does).
    pub router_lan_ip: Option<Ipv4Addr>,
}

impl Roles {
    /// `"site"` of the report.
    pub fn report(&self) -> BTreeMap<&'static str, RoleReport> {
        BTreeMap::from([
            ("fqdn", (&self.fqdn).into()),
            ("public_ip", (&self.public_ip).into()),
            ("proxy_ip", (&self.proxy_ip).into()),
            ("bridge_ip", (&self.bridge_ip).into()),
            ("lan_subnet", (&self.lan_subnet).into()),
            ("wan_if", (&self.wan_if).into()),
            ("lan_if", (&self.lan_if).into()),
        ])
    }
}

/// Decides one role from its declaration and the lines naming it.
#[cfg(test)]
fn resolve<T: Clone + Eq + Ord + Display>(
    role: &str,
    flag: &str,
    declared: Option<T>,
    lines: Vec<Evidence<T>>,
) -> Result<Resolved<T>, ConfigError> {
    resolve_as(role, flag, declared, lines, false)
}

/// `lenient` (for lint): lines that disagree do not stop; the value most lines name is taken,
/// and the lint rules name the lines that differ from it.
fn resolve_as<T: Clone + Eq + Ord + Display>(
    role: &str,
    flag: &str,
    declared: Option<T>,
    lines: Vec<Evidence<T>>,
    lenient: bool,
) -> Result<Resolved<T>, ConfigError> {
    if let Some(d) = declared {
        // A flag no line agrees with is a mistake in the flag (or the wrong files).
        if !lines.is_empty() && !lines.iter().any(|e| e.value == d) {
            let first = &lines[0];
            return Err(ConfigError::new(
                &first.source.file,
                first.source.line,
                format!(
                    "{flag} {d} is named by no line of your files; they say {}: check the flag, or the files you gave",
                    describe(&lines)
                ),
            ));
        }
        return Ok(Resolved::Declared(d));
    }
    let mut values: BTreeMap<T, Vec<&Evidence<T>>> = BTreeMap::new();
    for e in &lines {
        values.entry(e.value.clone()).or_default().push(e);
    }
    match values.len() {
        0 => Ok(Resolved::Unnamed),
        1 => {
            let (v, es) = values.into_iter().next().expect("one value");
            let mut sources: Vec<Source> = es.iter().map(|e| e.source.clone()).collect();
            sources.sort();
            sources.dedup();
            Ok(Resolved::Inferred(v, sources))
        }
        _ if lenient => {
            let (v, es) = values
                .into_iter()
                .max_by(|a, b| {
                    a.1.len()
                        .cmp(&b.1.len())
                        .then_with(|| b.1[0].source.cmp(&a.1[0].source))
                })
                .expect("values");
            Ok(Resolved::Inferred(
                v,
                es.iter().map(|e| e.source.clone()).collect(),
            ))
        }
        _ => {
            // Blame the line in the smallest camp: most often the typo.
            let odd = values
                .values()
                .min_by_key(|es| es.len())
                .and_then(|es| es.first())
                .expect("values");
            Err(ConfigError::new(
                &odd.source.file,
                odd.source.line,
                format!(
                    "your files disagree about {role}: {}. Say which is right with {flag} (or in site.toml beside the vhost); the lines that disagree stay as they are in the lab",
                    describe(&lines)
                ),
            ))
        }
    }
}

fn describe<T: Display>(lines: &[Evidence<T>]) -> String {
    lines
        .iter()
        .map(|e| {
            format!(
                "{}:{} ({}) says {}",
                e.source.file, e.source.line, e.what, e.value
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn positive(ms: &[Match]) -> impl Iterator<Item = &Cond> {
    ms.iter().filter(|m| !m.negated).map(|m| &m.cond)
}

/// Whether a rule's matches let `proto`/`port` through (no port condition: every port).
fn covers(ms: &[Match], proto: u8, port: u16) -> bool {
    for m in ms {
        let hit = match &m.cond {
            Cond::Proto(p) => *p == 0 || *p == proto,
            Cond::DstPorts(list) | Cond::AnyPorts(list) => {
                list.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port))
            }
            _ => continue,
        };
        if hit == m.negated {
            return false;
        }
    }
    true
}

fn single(n: &super::iptables::Net) -> Option<Ipv4Addr> {
    (n.mask == Ipv4Addr::BROADCAST).then_some(n.addr)
}

fn subnet(n: &super::iptables::Net) -> Option<Ipv4Net> {
    let m = u32::from(n.mask);
    (m != u32::MAX && m.leading_ones() + m.trailing_zeros() == 32)
        .then(|| Ipv4Net::new(n.addr, m.leading_ones() as u8).ok())
        .flatten()
}

const TCP: u8 = 6;
const UDP: u8 = 17;

/// The services a DNAT forwards to a role's host.
const PROXY_SERVICES: [(u8, u16, &str); 2] =
    [(TCP, ports::HTTP, "tcp/80"), (TCP, ports::HTTPS, "tcp/443")];
const BRIDGE_SERVICES: [(u8, u16, &str); 4] = [
    (UDP, ports::MEDIA_UDP, "udp/10000"),
    (TCP, ports::ICE_TCP, "tcp/4443"),
    (UDP, ports::TURN_UDP, "udp/3478"),
    (TCP, ports::TURN_TLS, "tcp/5349"),
];

/// DNAT rules (any nat chain) with their target address, and which services they forward.
pub fn dnat_rules(rules: &Ruleset) -> Vec<(&super::iptables::Rule, Ipv4Addr, Vec<&'static str>)> {
    rules
        .rules()
        .filter(|r| r.table == "nat")
        .filter_map(|r| match r.target {
            Target::Dnat { addr: Some(a), .. } => {
                let services = PROXY_SERVICES
                    .iter()
                    .chain(BRIDGE_SERVICES.iter())
                    .filter(|(p, port, _)| covers(&r.matches, *p, *port))
                    .map(|(_, _, s)| *s)
                    .collect();
                Some((r, a, services))
            }
            _ => None,
        })
        .collect()
}

/// Which role's host a service belongs to.
pub fn service_role(service: &str) -> &'static str {
    if PROXY_SERVICES.iter().any(|(_, _, s)| *s == service) {
        "proxy"
    } else {
        "bridge"
    }
}

/// Works out every role of the site.
pub fn infer(
    parsed: &Parsed,
    declared: &super::Declared,
    lenient: bool,
) -> Result<Roles, ConfigError> {
    let src = |file: &str, line: usize| Source {
        file: file.to_string(),
        line,
    };
    let rules_file = parsed.rules_file.as_str();
    let vhost_file = parsed.vhost_file.as_str();
    let dnats = dnat_rules(&parsed.rules);

    // The FQDN: the vhosts' ServerNames. Several sites in one file are fine when only one of
    // them proxies Jitsi's paths; otherwise the operator says which.
    let fqdn = match &declared.fqdn {
        Some(f) => {
            let f = super::files::check_fqdn(f).map_err(|e| ConfigError::new("--fqdn", 1, e))?;
            if !parsed.apache.vhosts().iter().any(|v| v.matches_name(&f)) {
                let names: Vec<String> = parsed
                    .apache
                    .server_names()
                    .into_iter()
                    .map(|(n, l)| format!("{n} (line {l})"))
                    .collect();
                return Err(ConfigError::new(
                    vhost_file,
                    1,
                    format!(
                        "no VirtualHost here is for {f} (no ServerName or ServerAlias names it){}",
                        if names.is_empty() {
                            String::new()
                        } else {
                            format!("; the file names {}", names.join(", "))
                        }
                    ),
                ));
            }
            Resolved::Declared(f)
        }
        None => {
            let mut lines = Vec::new();
            for v in parsed.apache.vhosts() {
                if let Some((name, line)) = &v.server_name {
                    lines.push((
                        v,
                        Evidence {
                            value: name.to_ascii_lowercase(),
                            source: src(vhost_file, *line),
                            what: "ServerName".into(),
                        },
                    ));
                }
            }
            let jitsi: Vec<Evidence<String>> = lines
                .iter()
                .filter(|(v, _)| is_jitsi_vhost(&parsed.apache, v))
                .map(|(_, e)| e.clone())
                .collect();
            let names = |es: &[Evidence<String>]| {
                es.iter()
                    .map(|e| e.value.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            };
            let all: Vec<Evidence<String>> = lines.into_iter().map(|(_, e)| e).collect();
            let chosen = if names(&all) > 1 && names(&jitsi) == 1 {
                jitsi
            } else {
                all
            };
            if chosen.is_empty() {
                return Err(ConfigError::new(
                    vhost_file,
                    1,
                    "no VirtualHost here has a ServerName: name the site with --fqdn, or give the file that holds Jitsi's vhost",
                ));
            }
            let r = resolve_as("the site's name", "--fqdn", None, chosen, lenient)?;
            if let Resolved::Inferred(name, _) = &r {
                super::files::check_fqdn(name)
                    .map_err(|e| ConfigError::new(vhost_file, 1, format!("the ServerName {e}")))?;
            }
            r
        }
    };

    // The public address: what the DNATs match, what the bridge and coturn are told.
    let mut public = Vec::new();
    for (r, _, services) in &dnats {
        if services.is_empty() {
            continue;
        }
        for c in positive(&r.matches) {
            if let Cond::Dst(n) = c {
                if let Some(a) = single(n) {
                    public.push(Evidence {
                        value: a,
                        source: src(rules_file, r.line),
                        what: format!("DNAT of {} matches -d", services.join(", ")),
                    });
                }
            }
        }
    }
    public.extend(parsed.bridge_public_addresses());
    public.extend(parsed.turn_public_addresses());
    let public_ip = resolve_as(
        "the public address",
        "--public-ip",
        declared.public_ip,
        public,
        lenient,
    )?;

    // The proxy and the bridge: where their services are forwarded, where Apache proxies to,
    // what the bridge calls its local address.
    let mut proxy = Vec::new();
    let mut bridge = Vec::new();
    for (r, a, services) in &dnats {
        for s in services {
            let e = Evidence {
                value: *a,
                source: src(rules_file, r.line),
                what: format!("DNAT of {s}"),
            };
            if service_role(s) == "proxy" {
                proxy.push(e);
            } else {
                bridge.push(e);
            }
        }
    }
    if let Some(name) = fqdn.value() {
        let vh = parsed.apache.select_vhost(&name, ports::HTTPS, None);
        for route in parsed.apache.proxy_routes(vh) {
            if route.excluded {
                continue;
            }
            if let Some(IpAddr::V4(a)) = route
                .target
                .as_ref()
                .and_then(|t| t.host.trim_matches(['[', ']']).parse().ok())
            {
                bridge.push(Evidence {
                    value: a,
                    source: src(vhost_file, route.line),
                    what: match route.kind {
                        apache::RouteKind::Reverse => format!("ProxyPassReverse {}", route.path),
                        apache::RouteKind::PassMatch => format!("ProxyPassMatch {}", route.path),
                        apache::RouteKind::Pass => format!("ProxyPass {}", route.path),
                    },
                });
            }
        }
    }
    bridge.extend(parsed.bridge_local_addresses());
    bridge.extend(parsed.turn_private_addresses());
    let proxy_ip = resolve_as(
        "the proxy's address",
        "--proxy-ip",
        declared.proxy_ip,
        proxy,
        lenient,
    )?;
    let bridge_ip = resolve_as(
        "the bridge's address",
        "--bridge-ip",
        declared.bridge_ip,
        bridge,
        lenient,
    )?;
    if let (Some(p), Some(b)) = (proxy_ip.value(), bridge_ip.value()) {
        if p == b {
            return Err(ConfigError::new(
                rules_file,
                1,
                format!("the proxy and the bridge would both be {p}: this topology has them on two hosts (say which is which with --proxy-ip and --bridge-ip)"),
            ));
        }
    }

    // The LAN: what POSTROUTING masquerades, among the subnets holding a backend.
    let backends: Vec<Ipv4Addr> = [proxy_ip.value(), bridge_ip.value()]
        .into_iter()
        .flatten()
        .collect();
    let mut lan = Vec::new();
    for r in parsed.rules.rules().filter(|r| r.table == "nat") {
        if !matches!(r.target, Target::Masquerade { .. } | Target::Snat { .. }) {
            continue;
        }
        for c in positive(&r.matches) {
            if let Cond::Src(n) = c {
                if let Some(net) = subnet(n) {
                    if backends.is_empty() || backends.iter().any(|b| net.contains(b)) {
                        lan.push(Evidence {
                            value: net,
                            source: src(rules_file, r.line),
                            what: "MASQUERADE/SNAT -s".into(),
                        });
                    }
                }
            }
        }
    }
    let lan_subnet = resolve_as("the LAN", "--lan-subnet", declared.lan_subnet, lan, lenient)?;
    let lan_net = lan_subnet.value().or_else(|| {
        bridge_ip
            .value()
            .or(proxy_ip.value())
            .map(|a| Ipv4Net::new(a, 24).expect("valid").trunc())
    });

    // The router's own LAN address: a SNAT to a LAN address names it.
    let router_lan_ip = parsed.rules.rules().find_map(|r| match r.target {
        Target::Snat { addr: Some(a), .. } if lan_net.is_some_and(|n| n.contains(&a)) => Some(a),
        _ => None,
    });

    let (wan_if, lan_if) = interfaces(parsed, declared, &dnats, lan_net, &backends, lenient)?;
    Ok(Roles {
        fqdn,
        public_ip,
        proxy_ip,
        bridge_ip,
        lan_subnet,
        wan_if,
        lan_if,
        router_lan_ip,
    })
}

/// A vhost that proxies Jitsi's own paths (or everything) to a backend.
fn is_jitsi_vhost(apache: &apache::Config, v: &apache::VHost) -> bool {
    apache.proxy_routes(Some(v)).iter().any(|r| {
        !r.excluded
            && ["/xmpp-websocket", "/http-bind", "/colibri-ws", "/"]
                .iter()
                .any(|p| r.path.trim_end_matches('/') == p.trim_end_matches('/'))
    })
}

/// Interfaces a host makes for itself (containers, VMs, tunnels): never the router's internet
/// or LAN side in this topology, so rules naming them need no declaration.
fn virtual_interface(name: &str) -> bool {
    let n = name.trim_end_matches('+');
    n == "lo"
        || [
            "docker",
            "br-",
            "veth",
            "virbr",
            "vnet",
            "lxcbr",
            "lxdbr",
            "cni",
            "flannel",
            "kube",
            "cali",
            "tun",
            "tap",
            "wg",
            "zt",
            "tailscale",
        ]
        .iter()
        .any(|p| n.starts_with(p))
}

/// The router's interface names, where the rules use them: DNATs come in on the wan, the LAN's
/// traffic out is masqueraded on the wan, forwarded traffic crosses between the two.
fn interfaces(
    parsed: &Parsed,
    declared: &super::Declared,
    dnats: &[(&super::iptables::Rule, Ipv4Addr, Vec<&'static str>)],
    lan: Option<Ipv4Net>,
    backends: &[Ipv4Addr],
    lenient: bool,
) -> Result<(Resolved<String>, Resolved<String>), ConfigError> {
    let file = parsed.rules_file.as_str();
    let ev = |name: &str, line: usize, what: &str| Evidence {
        value: name.to_string(),
        source: Source {
            file: file.to_string(),
            line,
        },
        what: what.to_string(),
    };
    let mut wan = Vec::new();
    for (r, _, services) in dnats {
        if services.is_empty() {
            continue;
        }
        for c in positive(&r.matches) {
            if let Cond::InIf(i) = c {
                wan.push(ev(i, r.line, "-i of a DNAT"));
            }
        }
    }
    for r in parsed.rules.rules().filter(|r| r.table == "nat") {
        if !matches!(r.target, Target::Masquerade { .. } | Target::Snat { .. }) {
            continue;
        }
        let to_lan = positive(&r.matches).any(|c| match c {
            Cond::Dst(n) => {
                subnet(n).is_some_and(|net| lan.is_some_and(|l| net.contains(&l.network())))
            }
            _ => false,
        });
        if to_lan {
            continue;
        }
        for c in positive(&r.matches) {
            if let Cond::OutIf(i) = c {
                wan.push(ev(i, r.line, "-o of the LAN's MASQUERADE"));
            }
        }
    }
    // A forward to a backend's service comes in on the wan; one from the LAN on the lan.
    let mut lan_from_src = Vec::new();
    for r in parsed.rules.rules().filter(|r| r.chain == "FORWARD") {
        let to_backend = positive(&r.matches).any(|c| match c {
            Cond::Dst(n) => single(n).is_some_and(|a| backends.contains(&a)),
            _ => false,
        });
        let from_lan = positive(&r.matches).any(|c| match c {
            Cond::Src(n) => subnet(n).is_some_and(|net| lan.is_some_and(|l| net == l)),
            _ => false,
        });
        for c in positive(&r.matches) {
            if let Cond::InIf(i) = c {
                if to_backend {
                    wan.push(ev(i, r.line, "-i of a forward to a backend"));
                } else if from_lan {
                    lan_from_src.push(ev(i, r.line, "-i of a forward from the LAN"));
                }
            }
        }
    }
    for w in &wan {
        super::files::check_interface(&w.value)
            .map_err(|e| ConfigError::new(file, w.source.line, e))?;
    }
    let wan_if = resolve_as(
        "the router's internet side",
        "--wan-if",
        declared.wan_if.clone(),
        wan,
        lenient,
    )?;
    let mut lan_ev = lan_from_src;
    if let Some(w) = wan_if.value() {
        for r in parsed
            .rules
            .rules()
            .filter(|r| r.chain == "FORWARD" || r.table == "filter")
        {
            let ins: Vec<&String> = positive(&r.matches)
                .filter_map(|c| if let Cond::InIf(i) = c { Some(i) } else { None })
                .collect();
            let outs: Vec<&String> = positive(&r.matches)
                .filter_map(|c| {
                    if let Cond::OutIf(i) = c {
                        Some(i)
                    } else {
                        None
                    }
                })
                .collect();
            for (a, b) in ins.iter().flat_map(|i| outs.iter().map(move |o| (*i, *o))) {
                if *a == w && *b != w {
                    lan_ev.push(ev(b, r.line, "-o of a forward from the wan"));
                } else if *b == w && *a != w {
                    lan_ev.push(ev(a, r.line, "-i of a forward to the wan"));
                }
            }
            // A forward to a backend's address leaves on the LAN side.
            let to_backend = positive(&r.matches).any(|c| match c {
                Cond::Dst(n) => backends.iter().any(|b| n.contains(*b)),
                _ => false,
            });
            if to_backend {
                for o in &outs {
                    if **o != w {
                        lan_ev.push(ev(o, r.line, "-o of a forward to a backend"));
                    }
                }
            }
        }
    }
    let lan_if = resolve_as(
        "the router's LAN side",
        "--lan-if",
        declared.lan_if.clone(),
        lan_ev,
        lenient,
    )?;
    // Every other name (lo, docker0, wg0) stays as written: no lab interface has it, as no
    // packet of the lab's would cross it in production.
    let named: Vec<(String, Vec<usize>)> = parsed.rules.interfaces();
    let wan_name = wan_if.value();
    if wan_name.is_none() {
        if let Some((name, lines)) = named.iter().find(|(n, _)| !virtual_interface(n)) {
            return Err(ConfigError::new(
                file,
                lines.first().copied().unwrap_or(1),
                format!("the rule names interface `{name}` but the files do not say which is the router's internet side and which its LAN: say so with --wan-if NAME and --lan-if NAME"),
            ));
        }
    }
    for name in [wan_if.value(), lan_if.value()].into_iter().flatten() {
        if name.ends_with('+') {
            return Err(ConfigError::new(
                file,
                1,
                format!("the router's interface `{name}` is a wildcard: name the real interface with --wan-if / --lan-if"),
            ));
        }
        super::files::check_interface(&name).map_err(|e| ConfigError::new(file, 1, e))?;
    }
    if wan_name.is_some() && wan_name == lan_if.value() {
        return Err(ConfigError::new(
            file,
            1,
            "the router's internet side and LAN side are the same interface: say which is which with --wan-if and --lan-if",
        ));
    }
    Ok((wan_if, lan_if))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(v: u8, line: usize) -> Evidence<u8> {
        Evidence {
            value: v,
            source: Source {
                file: "rules.v4".into(),
                line,
            },
            what: "DNAT".into(),
        }
    }

    #[test]
    fn agreement_infers_disagreement_stops() {
        assert_eq!(
            resolve("x", "--x", None, vec![ev(1, 3), ev(1, 5)]).unwrap(),
            Resolved::Inferred(
                1,
                vec![
                    Source {
                        file: "rules.v4".into(),
                        line: 3
                    },
                    Source {
                        file: "rules.v4".into(),
                        line: 5
                    }
                ]
            )
        );
        let e = resolve(
            "the bridge",
            "--bridge-ip",
            None,
            vec![ev(21, 3), ev(20, 5), ev(20, 9)],
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "the odd one out is blamed: {e}");
        assert!(
            e.reason.contains("--bridge-ip") && e.reason.contains("rules.v4:5"),
            "{e}"
        );
        assert_eq!(
            resolve::<u8>("x", "--x", None, vec![]).unwrap(),
            Resolved::Unnamed
        );
    }

    #[test]
    fn a_declared_role_is_the_truth_unless_no_line_names_it() {
        assert_eq!(
            resolve("x", "--x", Some(20), vec![ev(21, 3), ev(20, 5)]).unwrap(),
            Resolved::Declared(20)
        );
        let e = resolve("x", "--x", Some(7), vec![ev(21, 3)]).unwrap_err();
        assert!(e.reason.contains("named by no line"), "{e}");
        assert_eq!(
            resolve("x", "--x", Some(7), vec![]).unwrap(),
            Resolved::Declared(7)
        );
    }
}
