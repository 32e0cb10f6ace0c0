//! The operator's router rules, read as iptables-restore reads them and walked as the kernel
//! walks them.
//!
//! The lab applies the operator's `iptables-save` file verbatim with iptables-restore, so this
//! module accepts what iptables-restore accepts and refuses, with file and line, what it refuses.
//! Where iptables versions disagree or the behaviour is unclear we accept: a wrong refusal blocks
//! an operator whose file is fine, a wrong acceptance only moves the error into the lab.
//! Every spelling of a rule (abbreviated options, lists, multiport, old `! ` placement, inserts)
//! is reduced to the same [`Rule`]s, so the walk gives the same answers as for plain rules.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;

/// `return Err(format!(...))`, as anyhow's `bail!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(format!($($arg)*))
    };
}

pub use crate::error::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

/// Inclusive port range.
pub type Ports = (u16, u16);

/// An address and mask as iptables stores them (`addr` already masked). iptables accepts any
/// dotted mask, contiguous or not, so this is not an `Ipv4Net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub addr: Ipv4Addr,
    pub mask: Ipv4Addr,
}

impl Net {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & u32::from(self.mask) == u32::from(self.addr)
    }
}

/// One condition of a rule; all of a rule's conditions must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Src(Net),
    Dst(Net),
    /// IP protocol number; 0 is `all`.
    Proto(u8),
    /// A trailing `+` matches every name with that prefix.
    InIf(String),
    OutIf(String),
    /// `-f`: second and later fragments, which a connection's first packet never is.
    Fragment,
    SrcPorts(Vec<Ports>),
    DstPorts(Vec<Ports>),
    /// multiport `--ports`: source or destination port.
    AnyPorts(Vec<Ports>),
    TcpFlags {
        mask: u8,
        comp: u8,
    },
    /// conntrack `--ctstate` or state `--state`, upper case.
    CtState(Vec<String>),
    AddrType {
        dst: bool,
        types: Vec<String>,
    },
    SrcRange(Ipv4Addr, Ipv4Addr),
    DstRange(Ipv4Addr, Ipv4Addr),
    Mark {
        value: u32,
        mask: u32,
    },
    Comment(String),
    /// A match whose result depends on state the file doesn't carry (rates, sets, clocks, ...),
    /// with its options as written.
    Unjudged(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub negated: bool,
    pub cond: Cond,
}

fn m(negated: bool, cond: Cond) -> Match {
    Match { negated, cond }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Accept,
    Drop,
    Reject,
    Return,
    /// QUEUE/NFQUEUE: a userspace program decides.
    Queue,
    Jump(String),
    Goto(String),
    /// `addr`/`port` are the first of the written ranges; `None` keeps the packet's own.
    Dnat {
        addr: Option<Ipv4Addr>,
        port: Option<Ports>,
    },
    Snat {
        addr: Option<Ipv4Addr>,
        port: Option<Ports>,
    },
    Masquerade {
        port: Option<Ports>,
    },
    Redirect {
        port: Option<Ports>,
    },
    Netmap(Net),
    /// A non-terminating extension (LOG, MARK, CONNMARK, TCPMSS, ...): the walk goes on.
    Other(String),
    /// No `-j`: the rule only counts.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub line: usize,
    pub table: String,
    pub chain: String,
    /// The line as written.
    pub text: String,
    pub matches: Vec<Match>,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub builtin: bool,
    pub policy: Policy,
    /// The `:CHAIN POLICY` (or `-P`) line that set the policy; `None` leaves the kernel's ACCEPT.
    pub policy_line: Option<usize>,
    pub rules: Vec<Rule>,
}

impl Chain {
    fn new(name: &str, builtin: bool) -> Self {
        let (policy, policy_line, rules) = (Policy::Accept, None, vec![]);
        Chain {
            name: name.to_string(),
            builtin,
            policy,
            policy_line,
            rules,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// The `*table` line.
    pub line: usize,
    pub chains: Vec<Chain>,
}

impl Table {
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub tables: Vec<Table>,
    /// Some rule sets packet marks, so `-m mark` can't be judged from a mark of 0.
    marks_set: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtState {
    New,
    Established,
    Related,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub proto: Proto,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    /// `None` (unknown) matches only rules without `-i`: callers pass the names they mean.
    pub in_if: Option<String>,
    pub out_if: Option<String>,
    pub state: CtState,
    /// The connection was DNATed / SNATed (conntrack `--ctstate DNAT` / `SNAT`).
    pub dnatted: bool,
    pub snatted: bool,
    /// The router's own addresses, for `-m addrtype --dst-type LOCAL`.
    pub local_addrs: Vec<Ipv4Addr>,
}

impl Packet {
    /// A new connection with unknown interfaces and source port 40000.
    pub fn new(proto: Proto, src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> Self {
        Packet {
            proto,
            src,
            dst,
            sport: 40000,
            dport,
            in_if: None,
            out_if: None,
            state: CtState::New,
            dnatted: false,
            snatted: false,
            local_addrs: vec![],
        }
    }

    pub fn via(mut self, in_if: &str, out_if: &str) -> Self {
        self.in_if = Some(in_if.to_string());
        self.out_if = Some(out_if.to_string());
        self
    }

    /// The packet as the next hook sees it once a nat walk's rewrite is applied.
    pub fn after(&self, w: &Walk) -> Packet {
        let mut p = self.clone();
        match w.outcome {
            Outcome::Dnat { addr, port } => {
                p.dst = addr.unwrap_or(p.dst);
                p.dport = port.map_or(p.dport, |r| r.0);
                p.dnatted = true;
            }
            Outcome::Redirect { port } => {
                p.dst = p.local_addrs.first().copied().unwrap_or(p.dst);
                p.dport = port.map_or(p.dport, |r| r.0);
                p.dnatted = true;
            }
            Outcome::Snat { addr, port } => {
                p.src = addr.unwrap_or(p.src);
                p.sport = port.map_or(p.sport, |r| r.0);
                p.snatted = true;
            }
            Outcome::Masquerade { .. } => p.snatted = true,
            _ => {}
        }
        p
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accept,
    Drop,
    Reject,
    Dnat {
        addr: Option<Ipv4Addr>,
        port: Option<Ports>,
    },
    Redirect {
        port: Option<Ports>,
    },
    Snat {
        addr: Option<Ipv4Addr>,
        port: Option<Ports>,
    },
    Masquerade {
        port: Option<Ports>,
    },
    /// No rule decided: the built-in chain's policy applies (in nat: no rewrite).
    Policy(Policy),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub outcome: Outcome,
    /// The deciding rule's line, or the policy's declaration line (`None`: never declared).
    pub line: Option<usize>,
    /// Lines of every rule that matched, in walk order, the deciding one last.
    pub path: Vec<usize>,
    /// Lines of matched rules whose matches could not be judged and were assumed to match.
    pub uncertain: Vec<usize>,
}

impl Walk {
    pub fn accepted(&self) -> bool {
        let accept = Outcome::Policy(Policy::Accept);
        self.outcome == Outcome::Accept || self.outcome == accept
    }
}

/// Deeper than any real rule set; a guard only, since loops are refused at parse time.
const MAX_DEPTH: usize = 64;
const CERTAIN_ADDR_TYPES: &[&str] = &["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "MULTICAST"];
#[rustfmt::skip]
const TCP_FLAGS: &[(&str, u8)] = &[("FIN", 1), ("SYN", 2), ("RST", 4), ("PSH", 8), ("ACK", 16),
                                   ("URG", 32), ("ALL", 63), ("NONE", 0)];

impl Ruleset {
    /// nat PREROUTING for the first packet of a connection (later packets never traverse nat,
    /// they reuse the first one's mapping, so the state is taken as NEW). No output device exists
    /// yet at this hook, so `-o` never matches there.
    pub fn prerouting(&self, p: &Packet) -> Walk {
        let out_if = Some(String::new());
        let q = Packet {
            state: CtState::New,
            out_if,
            ..p.clone()
        };
        self.walk("nat", "PREROUTING", &q)
    }

    /// filter FORWARD for the packet as it is after PREROUTING (see [`Packet::after`]).
    pub fn forward(&self, p: &Packet) -> Walk {
        self.walk("filter", "FORWARD", p)
    }

    /// nat POSTROUTING for the first packet of a connection.
    pub fn postrouting(&self, p: &Packet) -> Walk {
        let q = Packet {
            state: CtState::New,
            ..p.clone()
        };
        self.walk("nat", "POSTROUTING", &q)
    }

    pub fn input(&self, p: &Packet) -> Walk {
        let q = Packet {
            out_if: Some(String::new()),
            ..p.clone()
        };
        self.walk("filter", "INPUT", &q)
    }

    /// Walks a built-in chain. A table the file never mentions is empty with ACCEPT policies,
    /// as in a fresh lab container.
    pub fn walk(&self, table: &str, chain: &str, p: &Packet) -> Walk {
        let outcome = Outcome::Policy(Policy::Accept);
        let mut w = Walk {
            outcome,
            line: None,
            path: vec![],
            uncertain: vec![],
        };
        let Some(t) = self.tables.iter().find(|t| t.name == table) else {
            return w;
        };
        let Some(base) = t.chain(chain) else { return w };
        // The kernel keeps only return addresses: a goto replaces the current frame, RETURN or
        // the end of a user chain pops one, and an empty stack means the base chain's policy.
        let mut stack: Vec<(&Chain, usize)> = vec![(base, 0)];
        while let Some(&(c, i)) = stack.last() {
            let Some(r) = c.rules.get(i) else {
                stack.pop();
                continue;
            };
            stack.last_mut().expect("non-empty").1 += 1;
            let Some(unsure) = self.judge(r, p) else {
                continue;
            };
            w.path.push(r.line);
            if unsure {
                w.uncertain.push(r.line);
            }
            w.outcome = match &r.target {
                Target::Jump(n) | Target::Goto(n) => {
                    let Some(next) = t.chain(n) else { continue };
                    if stack.len() >= MAX_DEPTH {
                        w.uncertain.extend(Some(r.line).filter(|_| !unsure));
                        continue;
                    }
                    if matches!(r.target, Target::Goto(_)) {
                        match stack.len() {
                            1 => stack[0].1 = base.rules.len(),
                            _ => _ = stack.pop(),
                        }
                    }
                    stack.push((next, 0));
                    continue;
                }
                Target::Return => {
                    stack.pop();
                    continue;
                }
                Target::Other(_) | Target::None => continue,
                Target::Accept => Outcome::Accept,
                Target::Drop => Outcome::Drop,
                Target::Reject => Outcome::Reject,
                Target::Queue => {
                    // Whatever listens on the queue decides; IPS daemons pass most traffic.
                    w.uncertain.extend(Some(r.line).filter(|_| !unsure));
                    Outcome::Accept
                }
                &Target::Dnat { addr, port } => Outcome::Dnat { addr, port },
                &Target::Redirect { port } => Outcome::Redirect { port },
                &Target::Snat { addr, port } => Outcome::Snat { addr, port },
                &Target::Masquerade { port } => Outcome::Masquerade { port },
                Target::Netmap(n) => {
                    let mask = u32::from(n.mask);
                    let map = |a| Some(Ipv4Addr::from(u32::from(n.addr) | (u32::from(a) & !mask)));
                    // NETMAP rewrites the destination where DNAT may run, the source elsewhere.
                    match chain {
                        "PREROUTING" | "OUTPUT" => Outcome::Dnat {
                            addr: map(p.dst),
                            port: None,
                        },
                        _ => Outcome::Snat {
                            addr: map(p.src),
                            port: None,
                        },
                    }
                }
            };
            w.line = Some(r.line);
            return w;
        }
        w.outcome = Outcome::Policy(base.policy);
        w.line = base.policy_line;
        w
    }

    /// `None`: the rule doesn't match; `Some(unsure)`: it matches, `unsure` when that rests on
    /// matches assumed to hold.
    fn judge(&self, r: &Rule, p: &Packet) -> Option<bool> {
        let mut unsure = false;
        for m in &r.matches {
            match self.test(m, p) {
                Some(true) => {}
                Some(false) => return None,
                None => unsure = true,
            }
        }
        Some(unsure)
    }

    /// One match, negation applied; `None` when it can't be judged from the file. Such matches
    /// (limit, recent, set, time, ...) are assumed to MATCH: they narrow a rule the operator
    /// wrote for this traffic (a rate-limited accept, an ipset drop), so taking the rule's
    /// verdict reports what it was written to do, with the assumption named to the caller;
    /// skipping it would silently give the verdict of a later rule nobody aimed at this traffic.
    fn test(&self, m: &Match, p: &Packet) -> Option<bool> {
        let ports = |r: &[Ports], port: u16| r.iter().any(|r| r.0 <= port && port <= r.1);
        let hit = match &m.cond {
            Cond::Src(n) => n.contains(p.src),
            Cond::Dst(n) => n.contains(p.dst),
            Cond::Proto(n) => *n == 0 || *n == if p.proto == Proto::Tcp { 6 } else { 17 },
            Cond::InIf(pat) | Cond::OutIf(pat) => {
                let name = if matches!(m.cond, Cond::InIf(_)) {
                    &p.in_if
                } else {
                    &p.out_if
                };
                let Some(name) = name else { return Some(false) };
                match pat.strip_suffix('+') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == pat,
                }
            }
            Cond::Fragment => false,
            Cond::SrcPorts(r) => ports(r, p.sport),
            Cond::DstPorts(r) => ports(r, p.dport),
            Cond::AnyPorts(r) => ports(r, p.sport) || ports(r, p.dport),
            Cond::TcpFlags { mask, comp } => {
                // A connection's first packet is a bare SYN; later ones carry ACK.
                let flags = if p.state == CtState::Established {
                    16
                } else {
                    2
                };
                p.proto == Proto::Tcp && flags & mask == *comp
            }
            Cond::CtState(states) => states.iter().any(|s| match s.as_str() {
                "NEW" => p.state == CtState::New,
                "ESTABLISHED" => p.state == CtState::Established,
                "RELATED" => p.state == CtState::Related,
                "DNAT" => p.dnatted,
                "SNAT" => p.snatted,
                _ => false,
            }),
            Cond::AddrType { dst, types } => {
                if types
                    .iter()
                    .any(|t| !CERTAIN_ADDR_TYPES.contains(&t.as_str()))
                {
                    return None; // BLACKHOLE, PROHIBIT, ...: a routing-table question
                }
                let a = if *dst { p.dst } else { p.src };
                let kind = match a {
                    _ if a.is_loopback() || p.local_addrs.contains(&a) => "LOCAL",
                    _ if a.is_unspecified() => "UNSPEC",
                    _ if a.is_broadcast() => "BROADCAST",
                    _ if a.is_multicast() => "MULTICAST",
                    _ => "UNICAST",
                };
                types.iter().any(|t| t == kind)
            }
            Cond::SrcRange(lo, hi) => *lo <= p.src && p.src <= *hi,
            Cond::DstRange(lo, hi) => *lo <= p.dst && p.dst <= *hi,
            Cond::Mark { value, .. } if !self.marks_set => *value == 0,
            Cond::Mark { .. } | Cond::Unjudged(_) => return None,
            Cond::Comment(_) => true,
        };
        Some(hit != m.negated)
    }

    /// Every rule: tables in file order, chains in declaration order, rules in chain order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.tables
            .iter()
            .flat_map(|t| t.chains.iter().flat_map(|c| &c.rules))
    }

    /// A built-in chain's policy and the line that set it (`None`: never set, ACCEPT).
    pub fn policy(&self, table: &str, chain: &str) -> Option<(Policy, Option<usize>)> {
        let c = self.tables.iter().find(|t| t.name == table)?.chain(chain)?;
        c.builtin.then_some((c.policy, c.policy_line))
    }

    /// Every interface name used with `-i`/`-o` (as written, `+` included) and its lines.
    pub fn interfaces(&self) -> Vec<(String, Vec<usize>)> {
        let mut seen: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        for r in self.rules() {
            for m in &r.matches {
                if let Cond::InIf(n) | Cond::OutIf(n) = &m.cond {
                    seen.entry(n.clone()).or_default().insert(r.line);
                }
            }
        }
        seen.into_iter()
            .map(|(n, l)| (n, l.into_iter().collect()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn builtins(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => return None,
    })
}

type OptTable = &'static [(&'static str, u8)];

/// iptables' own long options; getopt_long also takes unique prefixes (`--dest`).
#[rustfmt::skip]
const CORE_LONG: &[(&str, char)] = &[
    ("append", 'A'), ("insert", 'I'), ("delete", 'D'), ("new-chain", 'N'), ("policy", 'P'),
    ("flush", 'F'), ("zero", 'Z'), ("delete-chain", 'X'), ("replace", 'R'), ("rename-chain", 'E'),
    ("check", 'C'), ("list", 'L'), ("list-rules", 'S'), ("source", 's'), ("src", 's'),
    ("destination", 'd'), ("dst", 'd'), ("protocol", 'p'), ("in-interface", 'i'),
    ("out-interface", 'o'), ("jump", 'j'), ("goto", 'g'), ("match", 'm'), ("fragment", 'f'),
    ("set-counters", 'c'), ("table", 't'), ("ipv4", '4'), ("ipv6", '6'), ("verbose", 'v'),
    ("numeric", 'n'), ("exact", 'x'), ("wait", 'w'), ("wait-interval", 'W'),
    ("line-numbers", '0'), ("modprobe", 'M'), ("version", 'V'), ("help", 'h'),
];
const SHORT: &str = "AIDNPFZXRECLSVhsdpiojgmfc46vnxwWMt";
/// Matches we evaluate, with their options and argument counts (man iptables-extensions).
#[rustfmt::skip]
const MATCHES: &[(&str, OptTable)] = &[
    ("tcp", &[("sport", 1), ("source-port", 1), ("dport", 1), ("destination-port", 1),
              ("syn", 0), ("tcp-flags", 2), ("tcp-option", 1)]),
    ("udp", &[("sport", 1), ("source-port", 1), ("dport", 1), ("destination-port", 1)]),
    ("multiport", &[("sports", 1), ("source-ports", 1), ("dports", 1),
                    ("destination-ports", 1), ("ports", 1)]),
    ("conntrack", &[("ctstate", 1), ("ctproto", 1), ("ctorigsrc", 1), ("ctorigdst", 1),
                    ("ctreplsrc", 1), ("ctrepldst", 1), ("ctorigsrcport", 1),
                    ("ctorigdstport", 1), ("ctreplsrcport", 1), ("ctrepldstport", 1),
                    ("ctstatus", 1), ("ctexpire", 1), ("ctdir", 1)]),
    ("state", &[("state", 1)]),
    ("comment", &[("comment", 1)]),
    ("addrtype", &[("src-type", 1), ("dst-type", 1), ("limit-iface-in", 0),
                   ("limit-iface-out", 0)]),
    ("iprange", &[("src-range", 1), ("dst-range", 1)]),
    ("icmp", &[("icmp-type", 1)]),
    ("mark", &[("mark", 1)]),
];
/// Matches the kernel accepts only with `-p` of their protocol (xt_match.proto).
#[rustfmt::skip]
const PROTO_MATCHES: &[(&str, u8)] = &[
    ("tcp", 6), ("udp", 17), ("icmp", 1), ("tcpmss", 6), ("sctp", 132), ("dccp", 33),
    ("udplite", 136), ("esp", 50), ("ah", 51),
];
#[rustfmt::skip]
const TARGETS: &[(&str, OptTable)] = &[
    ("ACCEPT", &[]), ("DROP", &[]), ("RETURN", &[]), ("QUEUE", &[]),
    ("REJECT", &[("reject-with", 1)]),
    ("LOG", &[("log-level", 1), ("log-prefix", 1), ("log-tcp-sequence", 0),
              ("log-tcp-options", 0), ("log-ip-options", 0), ("log-uid", 0),
              ("log-macdecode", 0)]),
    ("DNAT", &[("to-destination", 1), ("random", 0), ("persistent", 0), ("random-fully", 0)]),
    ("SNAT", &[("to-source", 1), ("random", 0), ("persistent", 0), ("random-fully", 0)]),
    ("MASQUERADE", &[("to-ports", 1), ("random", 0), ("random-fully", 0)]),
    ("REDIRECT", &[("to-ports", 1), ("random", 0)]),
    ("NETMAP", &[("to", 1)]),
];
/// Target extensions shipped with iptables whose options we skip; they don't decide the walk
/// (NFQUEUE excepted, see `Target::Queue`).
#[rustfmt::skip]
const OTHER_TARGETS: &[&str] = &[
    "MARK", "CONNMARK", "TCPMSS", "NFLOG", "NFQUEUE", "CT", "NOTRACK", "TPROXY", "CHECKSUM",
    "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "SET", "AUDIT", "TRACE", "ULOG", "CONNSECMARK",
    "SECMARK", "IDLETIMER", "LED", "RATEEST", "TEE", "HMARK", "SYNPROXY", "CLUSTERIP", "ECN",
    "TCPOPTSTRIP", "SNPT", "DNPT",
];
#[rustfmt::skip]
const PROTOCOLS: &[(&str, u8)] = &[
    ("all", 0), ("icmp", 1), ("igmp", 2), ("tcp", 6), ("udp", 17), ("dccp", 33), ("ipv6", 41),
    ("gre", 47), ("esp", 50), ("ah", 51), ("icmpv6", 58), ("ipv6-icmp", 58), ("ospf", 89),
    ("vrrp", 112), ("sctp", 132), ("mh", 135), ("ipv6-mh", 135), ("udplite", 136),
];
/// The usual /etc/services names, which iptables resolves at restore time.
#[rustfmt::skip]
const SERVICES: &[(&str, u16)] = &[
    ("ftp", 21), ("ssh", 22), ("telnet", 23), ("smtp", 25), ("domain", 53), ("http", 80),
    ("www", 80), ("pop3", 110), ("ntp", 123), ("imap", 143), ("imap2", 143), ("snmp", 161),
    ("ldap", 389), ("https", 443), ("submission", 587), ("imaps", 993), ("pop3s", 995),
    ("openvpn", 1194), ("mysql", 3306), ("xmpp-client", 5222), ("xmpp-server", 5269),
    ("postgresql", 5432),
];
#[rustfmt::skip]
const REJECT_WITH: &[&str] = &[
    "icmp-net-unreachable", "net-unreach", "icmp-host-unreachable", "host-unreach",
    "icmp-proto-unreachable", "proto-unreach", "icmp-port-unreachable", "port-unreach",
    "icmp-net-prohibited", "net-prohib", "icmp-host-prohibited", "host-prohib",
    "icmp-admin-prohibited", "admin-prohib", "tcp-reset", "tcp-rst",
];
#[rustfmt::skip]
const ADDR_TYPES: &[&str] = &["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
    "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"];
#[rustfmt::skip]
const LOG_LEVELS: &[&str] = &["emerg", "panic", "alert", "crit", "error", "err", "warning", "warn",
                              "notice", "info", "debug"];
const CT_STATES: &[&str] = &["INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED"];
const NAT_DROP: &str = "the nat table is not intended for filtering, DROP is inhibited there";

/// Parses an iptables-save file; `file` only names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<Ruleset, ConfigError> {
    let fail = |line, reason| ConfigError {
        file: file.display().to_string(),
        line,
        reason,
    };
    let mut p = Parser::default();
    let mut last = 0;
    for (i, raw) in text.split('\n').enumerate() {
        last = i + 1;
        p.line(last, raw)
            .map_err(|(line, reason)| fail(line, reason))?;
    }
    if let Some(t) = &p.cur {
        // iptables-restore reports the line after the last one it read.
        let reason = format!(
            "COMMIT expected: table {} (line {}) is never committed",
            t.name, t.line
        );
        return Err(fail(last, reason));
    }
    let mut set = p.set;
    let marks = ["MARK", "CONNMARK", "HMARK"];
    let marking = |r: &Rule| matches!(&r.target, Target::Other(n) if marks.contains(&n.as_str()));
    let marks_set = set.rules().any(marking);
    set.marks_set = marks_set;
    Ok(set)
}

#[derive(Default)]
struct Parser {
    set: Ruleset,
    cur: Option<Table>,
}

impl Parser {
    /// One line, classified as xtables-restore's parse_line does: only column 1 counts.
    fn line(&mut self, n: usize, raw: &str) -> Result<(), (usize, String)> {
        let e = |r: String| (n, r);
        if raw.starts_with('#') || raw.trim().is_empty() {
            return Ok(());
        }
        if raw.contains('\r') {
            let dos =
                "carriage return (DOS line ending): iptables-restore keeps it in the last word";
            return Err(e(dos.into()));
        }
        let body = raw.trim();
        let indented = raw.len() != raw.trim_start().len();
        if indented && (body.starts_with(['#', '*', ':']) || body.starts_with("COMMIT")) {
            return Err(e(format!(
                "`{body}` must start in column 1 (else it is read as a rule)"
            )));
        }
        if let Some(rest) = raw.strip_prefix('*') {
            if let Some(t) = &self.cur {
                return Err(e(format!(
                    "table {} (line {}) has no COMMIT",
                    t.name, t.line
                )));
            }
            let name = rest
                .split([' ', '\t'])
                .find(|w| !w.is_empty())
                .unwrap_or("");
            let Some(chains) = builtins(name) else {
                return Err(e(format!("table name '{name}' invalid")));
            };
            // Restoring a table flushes its rules and user chains; built-in policies stay.
            let old = self.set.tables.iter().find(|t| t.name == name);
            let chains = chains.iter().map(|c| match old.and_then(|t| t.chain(c)) {
                Some(prev) => Chain {
                    rules: vec![],
                    ..prev.clone()
                },
                None => Chain::new(c, true),
            });
            let name = name.to_string();
            self.cur = Some(Table {
                name,
                line: n,
                chains: chains.collect(),
            });
            return Ok(());
        }
        let Some(t) = self.cur.as_mut() else {
            return Err(e(format!(
                "`{body}` outside a table (no `*filter`/`*nat`/... before)"
            )));
        };
        if raw == "COMMIT" {
            check_table(t)?;
            let t = self.cur.take().expect("in a table");
            match self.set.tables.iter_mut().find(|x| x.name == t.name) {
                Some(old) => *old = t,
                None => self.set.tables.push(t),
            }
            return Ok(());
        }
        match raw.strip_prefix(':') {
            Some(decl) => declare(t, n, decl).map_err(e),
            None => command(t, n, raw).map_err(e),
        }
    }
}

/// `:NAME POLICY [pkts:bytes]`.
fn declare(t: &mut Table, n: usize, decl: &str) -> Result<(), String> {
    let mut words = decl.split([' ', '\t']).filter(|w| !w.is_empty());
    let name = words.next().ok_or("chain name invalid")?;
    let policy = words
        .next()
        .ok_or_else(|| format!("policy invalid for chain {name}"))?;
    let counters = words.next();
    match t.chains.iter_mut().find(|c| c.name == name) {
        Some(c) if c.builtin => {
            if let Some(ctr) = counters {
                let pair = ctr.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
                let nums =
                    |(a, b): (&str, &str)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok();
                if !pair.and_then(|s| s.split_once(':')).is_some_and(nums) {
                    bail!("invalid policy counters `{ctr}` for chain {name}");
                }
            }
            if policy != "-" {
                c.policy = parse_policy(policy)?;
                c.policy_line = Some(n);
            }
        }
        // iptables-nft ignores a repeated user chain (EEXIST) and a user chain's policy word.
        Some(_) => {}
        None => {
            check_chain_name(name)?;
            t.chains.push(Chain::new(name, false));
        }
    }
    Ok(())
}

fn parse_policy(p: &str) -> Result<Policy, String> {
    match p {
        "ACCEPT" => Ok(Policy::Accept),
        "DROP" => Ok(Policy::Drop),
        _ => Err(format!("bad policy `{p}`: ACCEPT or DROP")),
    }
}

/// xshared.c assert_valid_chain_name.
fn check_chain_name(name: &str) -> Result<(), String> {
    if name.len() > 28 {
        bail!("chain name `{name}' too long (must be under 29 chars)");
    }
    if name.starts_with(['-', '!']) {
        bail!("chain name `{name}' may not start with `-' or `!'");
    }
    if TARGETS.iter().any(|(t, _)| *t == name) || OTHER_TARGETS.contains(&name) {
        bail!("chain name `{name}' clashes with a target name");
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    quoted: bool,
}

/// Splits a line as iptables' add_param_to_argv does: blanks separate words, double quotes group
/// (a backslash escapes only inside them), a closing quote ends the word, single quotes are
/// plain characters. Also says whether a quote was left open.
fn tokenize(line: &str) -> (Vec<Tok>, bool) {
    let mut toks = Vec::new();
    let (mut cur, mut start, mut open, mut esc) = (String::new(), None::<usize>, false, false);
    for (i, c) in line.char_indices() {
        if open {
            match c {
                _ if esc => {
                    cur.push(c);
                    esc = false;
                }
                '\\' => esc = true,
                '"' => {
                    open = false;
                    start = None;
                    toks.push(Tok {
                        text: std::mem::take(&mut cur),
                        quoted: true,
                    });
                }
                _ => cur.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                open = true;
                start.get_or_insert(i);
            }
            ' ' | '\t' | '\n' => {
                if start.take().is_some() {
                    let text = std::mem::take(&mut cur);
                    toks.push(Tok {
                        text,
                        quoted: false,
                    });
                }
            }
            _ => {
                start.get_or_insert(i);
                cur.push(c);
            }
        }
    }
    if start.is_some() {
        toks.push(Tok {
            text: cur,
            quoted: open,
        });
    }
    (toks, open)
}

struct Cursor<'a> {
    toks: &'a [Tok],
    i: usize,
    /// A `!` waiting for its option.
    inv: bool,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.i)
    }
    fn value(&mut self, opt: &str, inline: Option<String>) -> Result<String, String> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let t = self
            .peek()
            .ok_or_else(|| format!("option {opt} requires an argument"))?;
        self.i += 1;
        Ok(t.text.clone())
    }
    /// An option's arguments, with the old `--opt ! value` negation folded in (iptables 1.8.10
    /// dropped that spelling, older ones warn and accept it).
    fn args(
        &mut self,
        opt: &str,
        n: u8,
        inline: Option<String>,
    ) -> Result<(bool, Vec<String>), String> {
        let mut neg = std::mem::take(&mut self.inv);
        if n == 0 {
            return match inline {
                Some(_) => Err(format!("option {opt} doesn't allow an argument")),
                None => Ok((neg, vec![])),
            };
        }
        let mut first = self.value(opt, inline)?;
        if first == "!" {
            if neg {
                bail!("multiple `!' flags not allowed");
            }
            neg = true;
            first = self.value(opt, None)?;
        }
        let mut v = vec![first];
        for _ in 1..n {
            v.push(self.value(opt, None)?);
        }
        Ok((neg, v))
    }
    /// An optional argument as iptables takes it (xs_has_arg): the next word unless it starts
    /// with `-` or `!`.
    fn optional(&mut self, inline: Option<String>) -> Option<String> {
        inline.or_else(|| {
            let t = self.peek().filter(|t| !t.text.starts_with(['-', '!']))?;
            self.i += 1;
            Some(t.text.clone())
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Mod(usize),
    Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Core(char),
    Known(Owner, &'static str, u8),
    /// Taken by a match or target whose options we don't list.
    Generic(Owner),
}

struct Mod {
    name: String,
    /// Its options are unknown to us, so the whole match is unjudged.
    generic: bool,
    desc: String,
    opts: Vec<&'static str>,
    conds: Vec<Match>,
}

fn match_opts(name: &str) -> Option<OptTable> {
    MATCHES.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

fn known(table: OptTable, owner: Owner) -> Vec<(&'static str, Opt)> {
    table
        .iter()
        .map(|&(n, a)| (n, Opt::Known(owner, n, a)))
        .collect()
}

/// Options of the matches we evaluate (but `--mark`, which connmark shares). A match we don't
/// know never takes these, or `-m limit ... --dport 22` would hide the implicit tcp match.
fn owned(name: &str) -> bool {
    let mut tables = MATCHES.iter().filter(|(m, _)| *m != "mark");
    tables.any(|(_, o)| o.iter().any(|(n, _)| *n == name))
}

/// getopt_long: an exact name, else a prefix naming a single option.
fn pick(cands: &[(&'static str, Opt)], name: &str) -> Result<Option<Opt>, String> {
    if let Some((_, o)) = cands.iter().find(|(n, _)| *n == name) {
        return Ok(Some(*o));
    }
    let mut found: Vec<Opt> = Vec::new();
    for (n, o) in cands {
        if n.starts_with(name) && !found.contains(o) {
            found.push(*o);
        }
    }
    match found[..] {
        [] => Ok(None),
        [o] => Ok(Some(o)),
        _ => Err(format!("option `--{name}' is ambiguous")),
    }
}

fn tcpish(proto: Option<(bool, u8)>) -> bool {
    matches!(proto, Some((false, 6 | 17 | 33 | 132 | 136)))
}

/// What one command line says, gathered in iptables' order.
#[derive(Default)]
struct Spec {
    cmd: Option<char>,
    chain: Option<String>,
    num: Option<usize>,
    policy: Option<String>,
    src: Option<(bool, Vec<Net>)>,
    dst: Option<(bool, Vec<Net>)>,
    proto: Option<(bool, u8)>,
    core: Vec<Match>,
    mods: Vec<Mod>,
    /// Name, goto, names a chain.
    target: Option<(String, bool, bool)>,
    topts: Vec<(&'static str, Vec<String>)>,
    generic: Option<Owner>,
    seen: Vec<char>,
    /// `-6`: iptables-restore ignores the line.
    skip: bool,
}

impl Spec {
    fn resolve(&mut self, name: &str) -> Result<Opt, String> {
        let mut cands: Vec<_> = CORE_LONG.iter().map(|&(n, c)| (n, Opt::Core(c))).collect();
        let target = match &self.target {
            Some((t, _, false)) => TARGETS
                .iter()
                .find(|(n, _)| n == t)
                .map_or(&[][..], |x| x.1),
            _ => &[],
        };
        let target = known(target, Owner::Target);
        cands.extend(&target);
        for (i, m) in self.mods.iter().enumerate().rev() {
            cands.extend(known(match_opts(&m.name).unwrap_or(&[]), Owner::Mod(i)));
        }
        if let Some(o) = cands.iter().find(|(n, _)| *n == name) {
            return Ok(o.1);
        }
        // `-j DNAT --to 10.0.0.2` is everywhere in tutorials: target prefixes come first.
        if let Some(o) = pick(&target, name)? {
            return Ok(o);
        }
        if let Some(g) = self.generic.filter(|_| !owned(name)) {
            return Ok(Opt::Generic(g));
        }
        if let Some(o) = pick(&cands, name)? {
            return Ok(o);
        }
        // `-p tcp --dport 80` loads the tcp match by itself (xshared.c load_proto), once -p has
        // been seen and if it isn't negated.
        let idx = Owner::Mod(self.mods.len());
        let proto = PROTO_MATCHES
            .iter()
            .find(|(_, n)| Some((false, *n)) == self.proto);
        if let Some(&(m, _)) = proto.filter(|(m, _)| !self.mods.iter().any(|x| x.name == *m)) {
            let opt = match match_opts(m) {
                None => Some(Opt::Generic(idx)), // sctp, dccp, ...
                Some(table) => pick(&known(table, idx), name)?,
            };
            if let Some(o) = opt {
                self.load(m);
                return Ok(o);
            }
        }
        let hint = if owned(name) {
            " (needs -p or -m of its match before it)"
        } else {
            ""
        };
        Err(format!("unknown option \"--{name}\"{hint}"))
    }

    fn load(&mut self, name: &str) {
        let generic = match_opts(name).is_none();
        if generic {
            self.generic = Some(Owner::Mod(self.mods.len()));
        }
        let (desc, opts, conds) = (format!("-m {name}"), vec![], vec![]);
        self.mods.push(Mod {
            name: name.into(),
            generic,
            desc,
            opts,
            conds,
        });
    }

    fn long(&mut self, long: &str, cur: &mut Cursor, t: &Table) -> Result<(), String> {
        let (name, inline) = match long.split_once('=') {
            Some((a, b)) => (a, Some(b.to_string())),
            None => (long, None),
        };
        if name.is_empty() {
            bail!("Bad argument `--{long}'");
        }
        match self.resolve(name)? {
            Opt::Core(c) => self.core(c, inline, cur, t),
            Opt::Known(Owner::Target, canon, arity) => {
                let (_, args) = cur.args(&format!("--{name}"), arity, inline)?;
                self.topts.push((canon, args));
                Ok(())
            }
            Opt::Known(Owner::Mod(i), canon, arity) => {
                let (neg, args) = cur.args(&format!("--{name}"), arity, inline)?;
                let md = &mut self.mods[i];
                md.conds.push(m(neg, module_cond(&md.name, canon, &args)?));
                md.opts.push(canon);
                Ok(())
            }
            Opt::Generic(owner) => {
                // Its words run to the next option; a `!` directly followed by a word is the
                // old in-place negation of this option's value.
                let bang = if std::mem::take(&mut cur.inv) {
                    "! "
                } else {
                    ""
                };
                let mut words = vec![format!("{bang}--{name}")];
                words.extend(inline);
                while let Some(tok) = cur.peek() {
                    let word_next = cur
                        .toks
                        .get(cur.i + 1)
                        .is_some_and(|n| !n.text.starts_with('-'));
                    let ends = tok.text.starts_with('-') || (tok.text == "!" && !word_next);
                    if ends && !tok.quoted {
                        break;
                    }
                    words.push(tok.text.clone());
                    cur.i += 1;
                }
                if let Owner::Mod(i) = owner {
                    self.mods[i].desc = format!("{} {}", self.mods[i].desc, words.join(" "));
                }
                Ok(())
            }
        }
    }

    fn core(
        &mut self,
        c: char,
        inline: Option<String>,
        cur: &mut Cursor,
        t: &Table,
    ) -> Result<(), String> {
        if cur.inv && !"sdpiof".contains(c) {
            bail!("cannot have ! before -{c}");
        }
        if "sdpiofjg".contains(c) {
            let k = if c == 'g' { 'j' } else { c };
            if self.seen.contains(&k) {
                bail!("multiple -{k} options not allowed");
            }
            self.seen.push(k);
        }
        if "f46vnx0".contains(c) && inline.is_some() {
            bail!("Bad argument `-{c}{}'", inline.unwrap_or_default());
        }
        let opt = format!("-{c}");
        match c {
            'A' | 'I' | 'N' | 'P' | 'F' | 'Z' => {
                if let Some(prev) = self.cmd {
                    bail!("Cannot use -{c} with -{prev}");
                }
                self.cmd = Some(c);
                self.chain = match c {
                    'F' | 'Z' => cur.optional(inline),
                    _ => Some(cur.value(&opt, inline)?),
                };
                let num = if "IZ".contains(c) {
                    cur.optional(None)
                } else {
                    None
                };
                if let Some(v) = num {
                    let num = v.parse().ok().filter(|n| *n > 0);
                    self.num = Some(num.ok_or_else(|| format!("Invalid rule number `{v}'"))?);
                }
                if c == 'P' {
                    self.policy = Some(cur.value(&opt, None)?);
                }
            }
            'D' | 'X' | 'R' | 'E' | 'C' | 'L' | 'S' | 'V' | 'h' => {
                bail!("-{c} is not supported by this tool: give the resulting rules");
            }
            't' => bail!("the -t option cannot be used in iptables-restore"),
            'w' | 'W' => bail!("you cannot use `-{c}' from iptables-restore"),
            's' | 'd' => {
                let (neg, v) = cur.args(&opt, 1, inline)?;
                let nets = v[0]
                    .split(',')
                    .map(parse_net)
                    .collect::<Result<Vec<_>, _>>()?;
                *(if c == 's' {
                    &mut self.src
                } else {
                    &mut self.dst
                }) = Some((neg, nets));
            }
            'p' => {
                let (neg, v) = cur.args(&opt, 1, inline)?;
                let name = v[0].to_ascii_lowercase();
                let known = PROTOCOLS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p);
                let num = known.or_else(|| c_uint(&name, 255).map(|p| p as u8));
                let num = num.ok_or_else(|| format!("unknown protocol `{name}' specified"))?;
                if num == 0 && neg {
                    bail!("rule would never match protocol (! -p all)");
                }
                self.proto = Some((neg, num));
            }
            'i' | 'o' => {
                let (neg, v) = cur.args(&opt, 1, inline)?;
                let name = v.into_iter().next().unwrap_or_default();
                if name.is_empty() {
                    bail!("Empty interface is likely to be undesired");
                }
                if name.len() >= 16 {
                    bail!("interface name `{name}' must be shorter than 16 characters");
                }
                self.core.push(m(
                    neg,
                    if c == 'i' {
                        Cond::InIf(name)
                    } else {
                        Cond::OutIf(name)
                    },
                ));
            }
            'f' => self
                .core
                .push(m(std::mem::take(&mut cur.inv), Cond::Fragment)),
            'j' | 'g' => {
                let name = cur.value(&opt, inline)?;
                self.set_target(name, c == 'g', t)?;
            }
            'm' => {
                let name = cur.value(&opt, inline)?;
                self.load(&name);
            }
            'c' => {
                let p = cur.value(&opt, inline)?;
                let (p, b) = match p.split_once(',') {
                    Some((p, b)) => (p.to_string(), b.to_string()),
                    None => (p, cur.value(&opt, None)?),
                };
                if p.parse::<u64>().is_err() || b.parse::<u64>().is_err() {
                    bail!("-c counters not numeric: `{p} {b}`");
                }
            }
            'M' => _ = cur.value(&opt, inline)?,
            '6' => self.skip = true,
            _ => {} // 4 v n x 0: no effect on the rule
        }
        Ok(())
    }

    fn set_target(&mut self, name: String, goto: bool, t: &Table) -> Result<(), String> {
        if name == "CONTINUE" {
            return Ok(()); // xshared.c: the same as no -j
        }
        // Extensions win over chains of the same name (command_jump loads the extension first).
        let generic = OTHER_TARGETS.contains(&name.as_str());
        let ext = generic || TARGETS.iter().any(|(n, _)| *n == name);
        match t.chain(&name) {
            _ if ext => {}
            Some(c) if c.builtin => bail!("cannot jump to built-in chain {name}"),
            Some(_) => {}
            None => {
                let table = &t.name;
                bail!("no chain or target `{name}' in table {table}: declare the chain first")
            }
        }
        if generic {
            self.generic = Some(Owner::Target);
        }
        self.target = Some((name, goto, !ext));
        Ok(())
    }

    fn build_target(&self, table: &str) -> Result<Target, String> {
        let Some((name, goto, chain)) = &self.target else {
            return Ok(Target::None);
        };
        match (chain, goto) {
            (true, false) => return Ok(Target::Jump(name.clone())),
            (true, true) => return Ok(Target::Goto(name.clone())),
            _ => {}
        }
        let opt = |k: &str| {
            let (_, v) = self.topts.iter().find(|(n, _)| *n == k)?;
            v.first().map(String::as_str)
        };
        let ports = |k: &str| opt(k).map(|v| nat_ports(v, tcpish(self.proto))).transpose();
        let needs = match name.as_str() {
            "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP" => "nat",
            "REJECT" => "filter", // ipt_REJECT .table
            _ => table,
        };
        if needs != table {
            bail!("{name} is only valid in the {needs} table, not in {table}");
        }
        Ok(match name.as_str() {
            "ACCEPT" => Target::Accept,
            "DROP" if table == "nat" => return Err(NAT_DROP.into()),
            "DROP" => Target::Drop,
            "RETURN" => Target::Return,
            "QUEUE" | "NFQUEUE" => Target::Queue,
            "REJECT" => {
                // libipt_REJECT compares case-insensitively and takes prefixes.
                let w = opt("reject-with")
                    .unwrap_or("icmp-port")
                    .to_ascii_lowercase();
                let kind = REJECT_WITH
                    .iter()
                    .find(|t| !w.is_empty() && t.starts_with(&w));
                let kind = kind.ok_or_else(|| format!("unknown reject type `{w}'"))?;
                if kind.starts_with("tcp") && self.proto != Some((false, 6)) {
                    bail!("REJECT --reject-with tcp-reset needs -p tcp");
                }
                Target::Reject
            }
            "LOG" => {
                if let Some(p) = opt("log-prefix").filter(|p| p.len() > 29) {
                    bail!("maximum prefix length 29 for --log-prefix: `{p}'");
                }
                let level = opt("log-level").unwrap_or("4").to_ascii_lowercase();
                if c_uint(&level, 7).is_none() && !LOG_LEVELS.contains(&level.as_str()) {
                    bail!("log-level `{level}' unknown");
                }
                Target::Other(name.clone())
            }
            "DNAT" | "SNAT" => {
                let key = if name == "DNAT" {
                    "to-destination"
                } else {
                    "to-source"
                };
                let v = opt(key).ok_or_else(|| format!("{name} needs --{key}"))?;
                let (addr, port) = nat_to(v, tcpish(self.proto))?;
                match name.as_str() {
                    "DNAT" => Target::Dnat { addr, port },
                    _ => Target::Snat { addr, port },
                }
            }
            "MASQUERADE" => Target::Masquerade {
                port: ports("to-ports")?,
            },
            "REDIRECT" => Target::Redirect {
                port: ports("to-ports")?,
            },
            "NETMAP" => Target::Netmap(parse_net(opt("to").ok_or("NETMAP needs --to")?)?),
            _ => Target::Other(name.clone()),
        })
    }

    /// Checks iptables and the kernel make on a whole rule.
    fn check(&self, chain: &str) -> Result<(), String> {
        let list =
            |a: &Option<(bool, Vec<Net>)>| a.as_ref().map_or((false, 0), |(n, v)| (*n, v.len()));
        let ((sn, sl), (dn, dl)) = (list(&self.src), list(&self.dst));
        if (sn || dn) && (sl > 1 || dl > 1) {
            bail!("! not allowed with multiple source or destination IP addresses");
        }
        for x in &self.core {
            let (o, bad) = match x.cond {
                Cond::InIf(_) => ("-i", matches!(chain, "POSTROUTING" | "OUTPUT")),
                Cond::OutIf(_) => ("-o", matches!(chain, "PREROUTING" | "INPUT")),
                _ => continue,
            };
            if bad {
                bail!("Can't use {o} with {chain}: no such interface at that hook");
            }
        }
        for md in &self.mods {
            let name = md.name.as_str();
            let proto = PROTO_MATCHES.iter().find(|(x, _)| *x == name);
            if let Some(&(_, p)) = proto.filter(|&&(_, p)| self.proto != Some((false, p))) {
                let pname = PROTOCOLS.iter().find(|x| x.1 == p).map_or("?", |x| x.0);
                bail!("-m {name} needs -p {pname} (the kernel refuses it otherwise)");
            }
            if name == "multiport" && !tcpish(self.proto) {
                bail!("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
            }
            let has = |o: &[&str]| md.opts.iter().any(|x| o.contains(x));
            let missing = match name {
                "conntrack" | "multiport" | "iprange" => md.opts.is_empty(),
                "state" | "mark" => !has(&[name]),
                "addrtype" => !has(&["src-type", "dst-type"]),
                _ => false,
            };
            if missing {
                bail!("-m {name} is missing its required option");
            }
        }
        Ok(())
    }

    /// The rules this line stands for: iptables expands `-s a,b -d c,d` into one rule per
    /// pair, sources outer.
    fn rules(&self, table: &str, chain: &str, n: usize, raw: &str) -> Result<Vec<Rule>, String> {
        self.check(chain)?;
        let target = self.build_target(table)?;
        let list = |a: &Option<(bool, Vec<Net>)>, f: fn(Net) -> Cond| match a {
            Some((neg, v)) => v.iter().map(|x| Some(m(*neg, f(*x)))).collect(),
            None => vec![None],
        };
        let mut out = Vec::new();
        for s in list(&self.src, Cond::Src) {
            for d in list(&self.dst, Cond::Dst) {
                let mut matches: Vec<Match> = s.iter().chain(&d).cloned().collect();
                matches.extend(self.proto.map(|(neg, p)| m(neg, Cond::Proto(p))));
                matches.extend(self.core.iter().cloned());
                for md in &self.mods {
                    match md.generic {
                        true => matches.push(m(false, Cond::Unjudged(md.desc.clone()))),
                        false => matches.extend(md.conds.iter().cloned()),
                    }
                }
                let (table, chain, text) = (table.to_string(), chain.to_string(), raw.to_string());
                out.push(Rule {
                    line: n,
                    table,
                    chain,
                    text,
                    matches,
                    target: target.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// A rule line (`[pkts:bytes] -A CHAIN ...`) or another iptables command.
fn command(t: &mut Table, n: usize, raw: &str) -> Result<(), String> {
    let mut rest = raw;
    if let Some(r) = raw.strip_prefix('[') {
        let (ctr, after) = r.split_once(']').ok_or("bad counters: need ]")?;
        if !ctr.contains(':') {
            bail!("bad counters: need :");
        }
        rest = after;
    }
    let (toks, open) = tokenize(rest);
    if open {
        // Newer iptables would keep the rest of the line, newline included, as one word;
        // whatever it makes of it, it isn't what the operator meant.
        bail!("unbalanced quote: a `\"` is never closed on this line");
    }
    let mut s = Spec::default();
    let mut cur = Cursor {
        toks: &toks,
        i: 0,
        inv: false,
    };
    while let Some(tok) = cur.peek() {
        cur.i += 1;
        let text = tok.text.as_str();
        if text == "!" {
            if cur.inv {
                bail!("multiple consecutive ! not allowed");
            }
            cur.inv = true;
        } else if let Some(long) = text.strip_prefix("--") {
            s.long(long, &mut cur, t)?;
        } else if let Some(c) = text.strip_prefix('-').and_then(|r| r.chars().next()) {
            if !SHORT.contains(c) {
                bail!("unknown option \"-{c}\"");
            }
            let rest = &text[1 + c.len_utf8()..];
            s.core(c, (!rest.is_empty()).then(|| rest.to_string()), &mut cur, t)?;
        } else {
            bail!("Bad argument `{text}'");
        }
        if s.skip {
            return Ok(()); // `-6`: iptables-restore skips IPv6-only lines
        }
    }
    if cur.inv {
        bail!("nothing appropriate following !");
    }
    let cmd = s
        .cmd
        .ok_or("no command specified (expected -A CHAIN ...)")?;
    let chain = s.chain.clone().unwrap_or_default();
    let missing = || {
        format!(
            "chain `{chain}' does not exist in table {}: declare it first",
            t.name
        )
    };
    let ci = t.chains.iter().position(|c| c.name == chain);
    match cmd {
        'N' if ci.is_some() => bail!("chain `{chain}' already exists"),
        'N' => {
            check_chain_name(&chain)?;
            t.chains.push(Chain::new(&chain, false));
        }
        'P' => {
            let p = s.policy.as_deref().unwrap_or("");
            if t.name == "nat" && p == "DROP" {
                return Err(NAT_DROP.into());
            }
            let policy = parse_policy(p)?;
            let c = ci.map(|i| &mut t.chains[i]).filter(|c| c.builtin);
            let c =
                c.ok_or_else(|| format!("-P needs a built-in chain of {}, not `{chain}'", t.name))?;
            (c.policy, c.policy_line) = (policy, Some(n));
        }
        'F' if chain.is_empty() => t.chains.iter_mut().for_each(|c| c.rules.clear()),
        'F' => t.chains[ci.ok_or_else(missing)?].rules.clear(),
        'Z' if chain.is_empty() => {} // counters only
        'Z' => _ = ci.ok_or_else(missing)?,
        _ => {
            let ci = ci.ok_or_else(missing)?;
            let rules = s.rules(&t.name, &chain, n, raw)?;
            let c = &mut t.chains[ci];
            let pos = match cmd {
                'I' => s.num.unwrap_or(1) - 1,
                _ => c.rules.len(),
            };
            if pos > c.rules.len() {
                bail!(
                    "index of insertion too big: {chain} has {} rules",
                    c.rules.len()
                );
            }
            // `-I` puts each expanded rule at the same position, so they end up reversed.
            for r in rules {
                let at = if cmd == 'I' { pos } else { c.rules.len() };
                c.rules.insert(at, r);
            }
        }
    }
    Ok(())
}

/// The kernel's checks at COMMIT (ip_tables mark_source_chains, xt_check_target): no jump loop
/// reachable from a built-in chain, and NAT targets reached only from hooks they support, also
/// through user chains. Reported at the offending rule's line.
fn check_table(t: &Table) -> Result<(), (usize, String)> {
    let mut hooks: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); t.chains.len()];
    for (i, c) in t.chains.iter().enumerate().filter(|(_, c)| c.builtin) {
        hooks[i].insert(c.name.as_str());
        visit(t, i, &c.name, &mut vec![i], &mut hooks)?;
    }
    for (i, c) in t.chains.iter().enumerate() {
        for r in &c.rules {
            let (name, allowed): (&str, &[&str]) = match r.target {
                Target::Dnat { .. } => ("DNAT", &["PREROUTING", "OUTPUT"]),
                Target::Redirect { .. } => ("REDIRECT", &["PREROUTING", "OUTPUT"]),
                Target::Snat { .. } => ("SNAT", &["POSTROUTING", "INPUT"]),
                Target::Masquerade { .. } => ("MASQUERADE", &["POSTROUTING"]),
                _ => continue,
            };
            if let Some(h) = hooks[i].iter().find(|h| !allowed.contains(h)) {
                let via = match c.builtin {
                    true => String::new(),
                    false => format!(" (chain {} is reached from {h})", c.name),
                };
                let only = allowed.join("/");
                let why = format!("{name} is not usable from {h}{via}, only from {only}");
                return Err((
                    r.line,
                    format!("{why}; the kernel refuses the table at COMMIT"),
                ));
            }
        }
    }
    Ok(())
}

type Hooks<'a> = [BTreeSet<&'a str>];

fn visit<'a>(
    t: &'a Table,
    ci: usize,
    hook: &'a str,
    stack: &mut Vec<usize>,
    hooks: &mut Hooks<'a>,
) -> Result<(), (usize, String)> {
    for r in &t.chains[ci].rules {
        let (Target::Jump(n) | Target::Goto(n)) = &r.target else {
            continue;
        };
        let Some(ni) = t.chains.iter().position(|c| c.name == *n) else {
            continue;
        };
        if stack.contains(&ni) {
            let names = stack.iter().map(|&i| t.chains[i].name.as_str());
            let path: Vec<&str> = names.chain([n.as_str()]).collect();
            let why = format!("jump to {n} makes a loop ({})", path.join(" -> "));
            return Err((r.line, format!("{why}; iptables-restore refuses loops")));
        }
        if hooks[ni].insert(hook) {
            stack.push(ni);
            visit(t, ni, hook, stack, hooks)?;
            stack.pop();
        }
    }
    Ok(())
}

fn module_cond(module: &str, opt: &str, a: &[String]) -> Result<Cond, String> {
    let v = a.first().map_or("", String::as_str);
    let upper = |allowed: &[&str], what: &str| {
        let one = |s: &str| {
            let s = s.to_ascii_uppercase();
            allowed
                .contains(&s.as_str())
                .then_some(s.clone())
                .ok_or(format!("bad {what} `{s}'"))
        };
        v.split(',').map(one).collect::<Result<Vec<_>, _>>()
    };
    Ok(match (module, opt) {
        (_, "sport" | "source-port") => Cond::SrcPorts(vec![port_range(v)?]),
        (_, "dport" | "destination-port") => Cond::DstPorts(vec![port_range(v)?]),
        (_, "sports" | "source-ports") => Cond::SrcPorts(port_list(v)?),
        (_, "dports" | "destination-ports") => Cond::DstPorts(port_list(v)?),
        (_, "ports") => Cond::AnyPorts(port_list(v)?),
        (_, "syn") => Cond::TcpFlags {
            mask: 1 | 2 | 4 | 16,
            comp: 2,
        },
        (_, "tcp-flags") => {
            let comp = tcp_flags(a.get(1).map_or("", String::as_str))?;
            Cond::TcpFlags {
                mask: tcp_flags(v)?,
                comp,
            }
        }
        ("conntrack", "ctstate") => {
            Cond::CtState(upper(&[CT_STATES, &["SNAT", "DNAT"]].concat(), "ctstate")?)
        }
        ("state", "state") => Cond::CtState(upper(CT_STATES, "state")?),
        (_, "comment") if v.len() > 255 => {
            bail!("COMMENT must be shorter than 256 characters")
        }
        (_, "comment") => Cond::Comment(v.to_string()),
        (_, "src-type" | "dst-type") => Cond::AddrType {
            dst: opt == "dst-type",
            types: upper(ADDR_TYPES, "address type")?,
        },
        (_, "src-range" | "dst-range") => {
            let (lo, hi) = v.split_once('-').unwrap_or((v, v));
            let ip = |s: &str| parse_ip(s).ok_or_else(|| format!("iprange: bad address `{s}'"));
            match opt {
                "src-range" => Cond::SrcRange(ip(lo)?, ip(hi)?),
                _ => Cond::DstRange(ip(lo)?, ip(hi)?),
            }
        }
        ("mark", "mark") => {
            let (val, mask) = v.split_once('/').unwrap_or((v, "0xffffffff"));
            let num = |s: &str| c_uint(s, u32::MAX).ok_or_else(|| format!("bad mark value `{v}'"));
            Cond::Mark {
                value: num(val)?,
                mask: num(mask)?,
            }
        }
        _ => Cond::Unjudged(
            format!("-m {module} --{opt} {}", a.join(" "))
                .trim_end()
                .into(),
        ),
    })
}

fn tcp_flags(v: &str) -> Result<u8, String> {
    v.split(',').try_fold(0, |acc, f| {
        let f = f.to_ascii_uppercase();
        let bit = TCP_FLAGS
            .iter()
            .find(|(n, _)| *n == f)
            .map(|(_, b)| acc | b);
        bit.ok_or_else(|| format!("Unknown TCP flag `{f}'"))
    })
}

/// strtoul with base 0, as xtables_strtoui: `0x` is hex and a leading `0` octal, so iptables
/// reads `010.0.0.1` as 8.0.0.1.
fn c_uint(s: &str, max: u32) -> Option<u32> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None if s.len() > 1 && s.starts_with('0') => (&s[1..], 8),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= max)
}

/// xtables numeric_to_ipaddr: missing trailing parts are zero (`10/8` is 10.0.0.0/8).
fn parse_ip(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut b = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        b[i] = c_uint(p, 255)? as u8;
    }
    Some(Ipv4Addr::from(b))
}

/// `addr[/prefix|/dotted-mask]`: the address as written and the mask.
fn parse_net_raw(s: &str) -> Result<(Ipv4Addr, u32), String> {
    let (a, m) = s.split_once('/').map_or((s, None), |(a, m)| (a, Some(m)));
    let addr = parse_ip(a).ok_or_else(|| format!("host/network `{a}' not found (no DNS here)"))?;
    let bad = || format!("invalid mask `{}' specified", m.unwrap_or(""));
    let mask = match m {
        None => u32::MAX,
        Some(m) if m.contains('.') => match parse_ip(m) {
            Some(x) if m.split('.').count() == 4 => u32::from(x),
            _ => return Err(bad()),
        },
        Some(m) => match c_uint(m, 32).ok_or_else(bad)? {
            0 => 0,
            bits => u32::MAX << (32 - bits),
        },
    };
    Ok((addr, mask))
}

fn parse_net(s: &str) -> Result<Net, String> {
    let (a, mask) = parse_net_raw(s)?;
    Ok(Net {
        addr: Ipv4Addr::from(u32::from(a) & mask),
        mask: Ipv4Addr::from(mask),
    })
}

fn port(s: &str) -> Result<u16, String> {
    let named = || SERVICES.iter().find(|(n, _)| *n == s).map(|(_, p)| *p);
    let p = c_uint(s, 65535).map(|p| p as u16).or_else(named);
    p.ok_or_else(|| format!("invalid port/service `{s}' specified"))
}

/// tcp/udp `port`, `a:b`, `:b`, `a:` (libxt_tcp parse_tcp_ports).
fn port_range(v: &str) -> Result<Ports, String> {
    let r = match v.split_once(':') {
        None => (port(v)?, port(v)?),
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { port(a)? };
            (lo, if b.is_empty() { 65535 } else { port(b)? })
        }
    };
    if r.0 > r.1 {
        bail!("invalid portrange `{v}' (min > max)");
    }
    Ok(r)
}

/// multiport lists: at most 15 slots, a range taking two.
fn port_list(v: &str) -> Result<Vec<Ports>, String> {
    let slots: usize = v
        .split(',')
        .map(|p| if p.contains(':') { 2 } else { 1 })
        .sum();
    if slots > 15 {
        bail!("too many ports specified in `{v}' (15 at most, a range counts 2)");
    }
    v.split(',').map(port_range).collect()
}

/// `p` or `p-q` of DNAT/SNAT/MASQUERADE/REDIRECT.
fn nat_ports(v: &str, tcpish: bool) -> Result<Ports, String> {
    if !tcpish {
        bail!("Need TCP, UDP, SCTP or DCCP with port specification");
    }
    let v = v.split('/').next().unwrap_or(v);
    let nz = |s: &str| match port(s)? {
        0 => Err(format!("Port `{s}' not valid")),
        p => Ok(p),
    };
    let (lo, hi) = match v.split_once('-') {
        Some((a, b)) => (nz(a)?, nz(b)?),
        None => (nz(v)?, nz(v)?),
    };
    if lo > hi {
        bail!("invalid port range `{v}'");
    }
    Ok((lo, hi))
}

/// `[ip[-ip]][:port[-port]]`; a DNAT with only an address keeps the packet's port.
fn nat_to(v: &str, tcpish: bool) -> Result<(Option<Ipv4Addr>, Option<Ports>), String> {
    let (a, p) = v.split_once(':').map_or((v, None), |(a, p)| (a, Some(p)));
    let mut addr = None;
    if !a.is_empty() {
        for (i, part) in a.split('-').enumerate() {
            let ip = parse_ip(part)
                .filter(|_| i < 2)
                .ok_or_else(|| format!("bad IP address `{a}'"))?;
            addr = addr.or(Some(ip));
        }
    }
    let port = p.map(|p| nat_ports(p, tcpish)).transpose()?;
    if addr.is_none() && port.is_none() {
        bail!("bad address `{v}': an address or a :port is needed");
    }
    Ok((addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rs(text: &str) -> Ruleset {
        parse(Path::new("router.rules"), text).unwrap_or_else(|e| panic!("{e}"))
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    /// A new connection from the internet to the router's public address, eth0 -> eth1.
    fn tcp(dport: u16) -> Packet {
        Packet::new(Proto::Tcp, ip("198.51.100.7"), ip("203.0.113.1"), dport).via("eth0", "eth1")
    }
    fn udp(dport: u16) -> Packet {
        Packet {
            proto: Proto::Udp,
            ..tcp(dport)
        }
    }
    fn from(src: &str, p: Packet) -> Packet {
        Packet { src: ip(src), ..p }
    }
    fn to(dst: &str, p: Packet) -> Packet {
        Packet { dst: ip(dst), ..p }
    }
    fn dnat(a: &str, p: u16) -> Outcome {
        Outcome::Dnat {
            addr: Some(ip(a)),
            port: Some((p, p)),
        }
    }
    /// Outcome and deciding line.
    fn at(w: Walk) -> (Outcome, Option<usize>) {
        (w.outcome, w.line)
    }
    fn nat(rules: &str) -> Ruleset {
        rs(&format!("*nat\n{rules}\nCOMMIT\n"))
    }
    fn filter(rules: &str) -> Ruleset {
        rs(&format!("*filter\n{rules}\nCOMMIT\n"))
    }
    const DROP: Outcome = Outcome::Policy(Policy::Drop);
    const NONE: Outcome = Outcome::Policy(Policy::Accept);

    const REFERENCE: &str = "# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 203.0.113.1/32 -i eth0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.2:80
-A PREROUTING -d 203.0.113.1/32 -i eth0 -p tcp -m tcp --dport 443 -j DNAT --to-destination 10.0.0.2:443
-A PREROUTING -d 203.0.113.1/32 -i eth0 -p tcp -m tcp --dport 4443 -j DNAT --to-destination 10.0.0.3:4443
-A PREROUTING -d 203.0.113.1/32 -i eth0 -p udp -m udp --dport 10000 -j DNAT --to-destination 10.0.0.3:10000
-A POSTROUTING -s 10.0.0.0/24 -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -d 10.0.0.2/32 -i eth0 -o eth1 -p tcp -m multiport --dports 80,443 -j ACCEPT
-A FORWARD -d 10.0.0.3/32 -i eth0 -o eth1 -p tcp -m tcp --dport 4443 -j ACCEPT
-A FORWARD -d 10.0.0.3/32 -i eth0 -o eth1 -p udp -m udp --dport 10000 -j ACCEPT
-A FORWARD -s 10.0.0.0/24 -i eth1 -o eth0 -j ACCEPT
COMMIT
";

    #[test]
    fn reference_rules_forward_each_service() {
        let r = rs(REFERENCE);
        let services = [(tcp(80), "10.0.0.2", 7, 18), (tcp(443), "10.0.0.2", 8, 18)];
        let bridge = [
            (tcp(4443), "10.0.0.3", 9, 19),
            (udp(10000), "10.0.0.3", 10, 20),
        ];
        for (p, host, line, fwd) in services.into_iter().chain(bridge) {
            let pre = r.prerouting(&p);
            assert_eq!(at(pre.clone()), (dnat(host, p.dport), Some(line)));
            let f = r.forward(&p.after(&pre));
            assert!(f.accepted() && f.uncertain.is_empty());
            assert_eq!(at(f), (Outcome::Accept, Some(fwd)));
        }
        // Not forwarded: nat falls to its policy, filter drops at its policy line.
        assert_eq!(at(r.prerouting(&tcp(22))), (NONE, Some(3)));
        assert_eq!(at(r.forward(&tcp(22))), (DROP, Some(15)));
        let out =
            Packet::new(Proto::Udp, ip("10.0.0.3"), ip("192.0.2.9"), 3478).via("eth1", "eth0");
        assert_eq!(
            at(r.postrouting(&out)),
            (Outcome::Masquerade { port: None }, Some(11))
        );
        let reply = Packet {
            state: CtState::Established,
            ..out.clone()
        };
        assert_eq!(r.forward(&reply).line, Some(17));
        assert_eq!(
            r.policy("filter", "FORWARD"),
            Some((Policy::Drop, Some(15)))
        );
        assert_eq!(r.policy("nat", "FORWARD"), None);
        assert_eq!(r.rules().count(), 10);
        let eth0 = ("eth0".to_string(), vec![7, 8, 9, 10, 11, 18, 19, 20, 21]);
        assert_eq!(
            r.interfaces(),
            vec![eth0, ("eth1".into(), vec![18, 19, 20, 21])]
        );
    }

    #[test]
    fn forward_chain_dropping_the_dnated_service() {
        let rule = "-A FORWARD -d 10.0.0.2/32 -i eth0 -o eth1 -p tcp -m multiport --dports 80,443 -j ACCEPT\n";
        let r = rs(&REFERENCE.replace(rule, ""));
        let pre = r.prerouting(&tcp(443));
        assert_eq!(pre.outcome, dnat("10.0.0.2", 443));
        assert_eq!(at(r.forward(&tcp(443).after(&pre))), (DROP, Some(15)));
    }

    #[test]
    fn ufw_style_chains_limits_and_comments() {
        let r = rs(r#"*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-before-forward - [0:0]
:ufw-user-forward - [0:0]
:ufw-user-limit - [0:0]
:ufw-reject-forward - [0:0]
-A FORWARD -j ufw-before-forward
-A FORWARD -j ufw-user-forward
-A FORWARD -j ufw-reject-forward
-A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-forward -p icmp -m icmp --icmp-type 3 -j ACCEPT
-A ufw-user-forward -d 10.0.0.2/32 -p tcp -m tcp --dport 443 -m comment --comment "\'dapp_Jitsi web\'" -j ACCEPT
-A ufw-user-forward -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource
-A ufw-user-forward -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 --name DEFAULT --mask 255.255.255.255 --rsource -j ufw-user-limit
-A ufw-user-forward -d 10.0.0.3/32 -p udp -m udp --dport 10000 -m limit --limit 50/sec -j ACCEPT
-A ufw-user-limit -m limit --limit 3/min -j LOG --log-prefix "[UFW LIMIT BLOCK] "
-A ufw-user-limit -j REJECT --reject-with icmp-port-unreachable
-A ufw-reject-forward -j RETURN
COMMIT
"#);
        let w = r.forward(&to("10.0.0.2", tcp(443)));
        assert_eq!(w.path, vec![9, 10, 14]);
        assert_eq!(at(w), (Outcome::Accept, Some(14)));
        let w = r.forward(&to("10.0.0.3", udp(10000)));
        assert_eq!((w.line, w.uncertain), (Some(17), vec![17]));
        // ssh: the `recent --update` rule is assumed to hit, so the limit chain rejects.
        let w = r.forward(&tcp(22));
        assert_eq!(w.uncertain, vec![15, 16, 18]);
        assert_eq!(at(w), (Outcome::Reject, Some(19)));
        let w = r.forward(&tcp(25));
        assert_eq!(w.path, vec![9, 10, 11, 20]);
        assert_eq!(at(w), (DROP, Some(3)));
        let rule = |line| r.rules().find(|r| r.line == line).unwrap();
        let comment = Cond::Comment("'dapp_Jitsi web'".into());
        assert!(rule(14).matches.contains(&m(false, comment)));
        assert_eq!(rule(15).target, Target::None);
        let recent = "-m recent --set --name DEFAULT --mask 255.255.255.255 --rsource";
        assert!(rule(15)
            .matches
            .contains(&m(false, Cond::Unjudged(recent.into()))));
    }

    #[test]
    fn docker_style_addrtype_and_docker_chain() {
        let r = rs("*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 443 -j DNAT --to-destination 172.17.0.2:443
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 443 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
");
        let mut p = tcp(443).via("eth0", "docker0");
        // The public address is the router's own only if the caller says so.
        assert_eq!(r.prerouting(&p).outcome, NONE);
        p.local_addrs = vec![ip("203.0.113.1")];
        let pre = r.prerouting(&p);
        assert_eq!(pre.path, vec![7, 11]);
        assert_eq!(at(pre.clone()), (dnat("172.17.0.2", 443), Some(11)));
        let f = r.forward(&p.after(&pre));
        assert_eq!(f.path, vec![21, 30, 22, 27, 24, 25]);
        assert_eq!(at(f), (Outcome::Accept, Some(25)));
        // From the bridge itself the DOCKER chain RETURNs before the DNAT.
        let inside = from("172.17.0.3", p).via("docker0", "docker0");
        assert_eq!(r.prerouting(&inside).outcome, NONE);
        let out =
            Packet::new(Proto::Tcp, ip("172.17.0.2"), ip("192.0.2.1"), 443).via("docker0", "eth0");
        assert_eq!(r.postrouting(&out).line, Some(9));
    }

    #[test]
    fn multiport_ranges_and_dnat_without_port() {
        let r = nat("-A PREROUTING -p tcp -m multiport --dports 80,443,8000:8010 -j DNAT --to-destination 10.0.0.2
-A PREROUTING -p udp -m udp --dport 10000:20000 -j DNAT --to-destination 10.0.0.3
-A PREROUTING -p udp --dport :99 -j DNAT --to 10.0.0.4
-A PREROUTING -p tcp ! --dport 22 -d 198.51.100.0/255.255.255.0 -j DNAT --to-destination 10.0.0.5");
        // A DNAT with only an address keeps the port.
        let to2 = Outcome::Dnat {
            addr: Some(ip("10.0.0.2")),
            port: None,
        };
        assert_eq!(at(r.prerouting(&tcp(8005))), (to2, Some(2)));
        assert_eq!(r.prerouting(&tcp(8011)).line, None);
        assert_eq!(r.prerouting(&udp(15000)).line, Some(3));
        assert_eq!(r.prerouting(&udp(20001)).line, None);
        assert_eq!(r.prerouting(&udp(53)).line, Some(4));
        assert_eq!(r.prerouting(&to("198.51.100.200", tcp(23))).line, Some(5));
        assert_eq!(r.prerouting(&to("198.51.100.200", tcp(22))).line, None);
        let after = tcp(8005).after(&r.prerouting(&tcp(8005)));
        assert_eq!(
            (after.dst, after.dport, after.dnatted),
            (ip("10.0.0.2"), 8005, true)
        );
    }

    #[test]
    fn counters_and_iptables_save_c_output() {
        let r = rs(
            "*filter\n:INPUT ACCEPT [10:2000]\n:FORWARD DROP [3:180]\n:OUTPUT ACCEPT [0:0]
[12:3456] -A FORWARD -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT\n",
        );
        assert_eq!(r.forward(&tcp(443)).line, Some(5));
    }

    #[test]
    fn jump_return_and_goto() {
        let r = filter(
            ":sub - [0:0]\n:gone - [0:0]\n:deep - [0:0]
-A FORWARD -j sub
-A FORWARD -p tcp --dport 1 -g gone
-A FORWARD -p tcp --dport 2 -j deep
-A FORWARD -j DROP
-A sub -p tcp --dport 80 -j RETURN
-A sub -p tcp --dport 81 -j ACCEPT
-A gone -j LOG
-A deep -g sub
-A deep -j ACCEPT",
        );
        // RETURN comes back to FORWARD, which drops.
        let w = r.forward(&tcp(80));
        assert_eq!(
            (w.path.clone(), at(w)),
            (vec![5, 9, 8], (Outcome::Drop, Some(8)))
        );
        assert_eq!(r.forward(&tcp(81)).line, Some(10));
        // A goto from a built-in chain ends at its policy when the target chain runs out.
        let w = r.forward(&tcp(1));
        assert_eq!((w.path.clone(), at(w)), (vec![5, 6, 11], (NONE, None)));
        // deep goes to sub, whose end returns to FORWARD (deep's caller), not to deep.
        let w = r.forward(&tcp(2));
        assert_eq!(
            (w.path.clone(), at(w)),
            (vec![5, 7, 12, 8], (Outcome::Drop, Some(8)))
        );
    }

    #[test]
    fn address_lists_expand_like_iptables() {
        let r = filter(
            "-A FORWARD -s 10.0.0.1,10.0.0.2 -d 192.0.2.1,192.0.2.2 -j ACCEPT
-I FORWARD 1 -d 1.2.3.4,5.6.7.8 -j DROP",
        );
        let dst = |r: &Rule| {
            r.matches.iter().find_map(|m| match m.cond {
                Cond::Dst(n) => Some((r.line, n.addr.to_string())),
                _ => None,
            })
        };
        let dsts: Vec<_> = r.rules().filter_map(dst).collect();
        let (a, b) = ((2, "192.0.2.1".to_string()), (2, "192.0.2.2".to_string()));
        // -I puts every expansion at the same position, so they come out reversed.
        let inserted = [(3, "5.6.7.8".to_string()), (3, "1.2.3.4".to_string())];
        assert_eq!(
            dsts,
            [&inserted[..], &[a.clone(), b.clone(), a, b]].concat()
        );
        let p = from("10.0.0.2", to("192.0.2.2", tcp(1)));
        assert_eq!(r.forward(&p).outcome, Outcome::Accept);
        assert_eq!(r.forward(&to("5.6.7.8", p)).outcome, Outcome::Drop);
    }

    #[test]
    fn negations_old_and_new_syntax() {
        let r = filter(
            "-A FORWARD ! -s 10.0.0.0/8 -p tcp -m tcp ! --dport 443 -j DROP
-A FORWARD -s ! 192.0.2.0/24 -p udp --dport ! 53 -j REJECT",
        );
        assert_eq!(r.forward(&tcp(80)).line, Some(2));
        assert_eq!(r.forward(&tcp(443)).line, None);
        assert_eq!(r.forward(&from("10.1.1.1", tcp(80))).line, None);
        assert_eq!(r.forward(&udp(54)).outcome, Outcome::Reject);
        assert_eq!(r.forward(&udp(53)).line, None);
        assert_eq!(r.forward(&from("192.0.2.5", udp(54))).line, None);
    }

    #[test]
    fn interfaces_with_wildcards_and_unknown_names() {
        let r = filter("-A FORWARD -i eth+ -o wg0 -j ACCEPT\n-A FORWARD ! -i ppp0 -j DROP\n-A FORWARD -i + -j REJECT");
        assert_eq!(r.forward(&tcp(1).via("eth7", "wg0")).line, Some(2));
        assert_eq!(r.forward(&tcp(1).via("eth7", "wg1")).line, Some(3));
        assert_eq!(r.forward(&tcp(1).via("ppp0", "wg0")).line, Some(4));
        let unknown = Packet {
            in_if: None,
            ..tcp(1)
        };
        assert_eq!(r.forward(&unknown).outcome, NONE);
        let names: Vec<String> = r.interfaces().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["+", "eth+", "ppp0", "wg0"]);
    }

    #[test]
    fn conntrack_dnat_status_and_addrtype() {
        let r = filter(
            "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT
-A FORWARD -m state --state INVALID -j DROP
-A FORWARD -m addrtype --dst-type UNICAST -j REJECT
-A FORWARD -m addrtype --dst-type BLACKHOLE -j DROP",
        );
        assert_eq!(
            r.forward(&Packet {
                dnatted: true,
                ..tcp(1)
            })
            .line,
            Some(2)
        );
        assert_eq!(r.forward(&tcp(1)).line, Some(4));
        let w = r.forward(&Packet {
            local_addrs: vec![ip("203.0.113.1")],
            ..tcp(1)
        });
        assert_eq!((w.line, w.uncertain), (Some(5), vec![5]));
    }

    #[test]
    fn syn_flags_input_and_unjudged_conntrack() {
        let r = filter(
            "-A INPUT -p tcp --syn -m conntrack --ctorigdst 10.0.0.1 -j DROP
-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK ACK -j ACCEPT
-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j REJECT",
        );
        let w = r.input(&tcp(22));
        assert_eq!((w.outcome, w.uncertain), (Outcome::Drop, vec![2]));
        let est = Packet {
            state: CtState::Established,
            ..tcp(22)
        };
        assert_eq!(at(r.input(&est)), (Outcome::Accept, Some(3)));
        let local_addrs = vec![ip("203.0.113.1")];
        let state = CtState::Established;
        let w = r.input(&Packet {
            state,
            local_addrs,
            ..udp(53)
        });
        assert_eq!((w.outcome, w.uncertain), (Outcome::Reject, vec![4]));
    }

    #[test]
    fn marks_are_zero_unless_some_rule_sets_them() {
        let plain = filter(
            "-A FORWARD -m mark --mark 0x1/0xff -j DROP\n-A FORWARD -m mark ! --mark 0x1 -j ACCEPT",
        );
        assert_eq!(plain.forward(&tcp(1)).line, Some(3));
        let marked = rs(
            "*mangle\n-A PREROUTING -p tcp --dport 1 -j MARK --set-mark 0x1\nCOMMIT
*filter\n-A FORWARD -m mark --mark 0x1/0xff -j DROP\nCOMMIT\n",
        );
        let w = marked.forward(&tcp(1));
        assert_eq!((w.outcome, w.uncertain), (Outcome::Drop, vec![5]));
    }

    #[test]
    fn other_spellings_iptables_accepts() {
        let r = rs("*nat
-N fwd
-A PREROUTING --in-interface eth0 --protocol TCP --destination-port=443 -j fwd
-A PREROUTING -j fwd
-A fwd -p 6 -m tcp --dpor 443 -j DNAT --to 10.0.0.2:8443
-A fwd -p udp --sport domain -j REDIRECT --to-ports 5353
-A fwd -p tcp -d 10/8 -6 -j DNAT --to-destination 10.0.0.9
-A fwd -p tcp -m multiport --ports 1:2 -j NETMAP --to 10.9.0.0/16
COMMIT
*filter
-P FORWARD DROP
-A FORWARD -p tcp -s 010.0.0.1 -j ACCEPT
-I FORWARD -m iprange --src-range 192.0.2.10-192.0.2.20 -j ACCEPT
-A FORWARD -j CONTINUE
-A FORWARD -p sctp --dport 80 -m set --match-set blocked src -j DROP
COMMIT
");
        assert_eq!(r.prerouting(&tcp(443)).outcome, dnat("10.0.0.2", 8443));
        let w = r.prerouting(&Packet {
            sport: 53,
            ..udp(1)
        });
        assert_eq!(
            w.outcome,
            Outcome::Redirect {
                port: Some((5353, 5353))
            }
        );
        let w = r.prerouting(&Packet {
            sport: 2,
            ..to("203.0.113.77", tcp(9))
        });
        assert_eq!(
            w.outcome,
            Outcome::Dnat {
                addr: Some(ip("10.9.113.77")),
                port: None
            }
        );
        // `-6` lines are skipped; 010 is octal to strtoul.
        assert_eq!(r.rules().filter(|r| r.line == 7).count(), 0);
        assert_eq!(r.forward(&from("8.0.0.1", tcp(1))).line, Some(12));
        assert_eq!(r.forward(&from("192.0.2.15", tcp(1))).line, Some(13));
        let w = r.forward(&tcp(1));
        assert_eq!((w.path.clone(), at(w)), (vec![14], (DROP, Some(11))));
        // -F empties, and a second *filter replaces the first but keeps its policies.
        let r = rs("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT
*filter\n-A FORWARD -p udp -j ACCEPT\n-A FORWARD -p udp -j DROP\n-F FORWARD\n-Z\nCOMMIT");
        assert_eq!(r.forward(&udp(1)).outcome, DROP);
        assert_eq!((r.tables.len(), r.rules().count()), (1, 0));
    }

    /// (file, line iptables-restore stops at, part of the reason)
    #[rustfmt::skip]
    const REFUSED: &[(&str, usize, &str)] = &[
        ("-A INPUT -j ACCEPT\n", 1, "outside a table"),
        ("COMMIT\n", 1, "outside a table"),
        ("*filter\n-A INPUT -j ACCEPT\n", 3, "COMMIT expected"),
        ("*filter\n*nat\nCOMMIT\n", 2, "no COMMIT"),
        ("*filtre\nCOMMIT\n", 1, "table name"),
        ("*nat\n-A PREROUTING -j DOCKER\nCOMMIT\n", 2, "no chain or target `DOCKER'"),
        ("*filter\n-A FORWARD -j ACCEPT\n-A DOCKER -j ACCEPT\nCOMMIT\n", 3, "does not exist"),
        ("*filter\n-A FORWARD -j ACEPT\nCOMMIT\n", 2, "ACEPT"),
        ("*filter\n-A FORWARD --dport 80 -j ACCEPT\nCOMMIT\n", 2, "unknown option \"--dport\""),
        ("*filter\n-A FORWARD --dport 80 -p tcp -j ACCEPT\nCOMMIT\n", 2, "--dport"),
        ("*filter\n-A FORWARD -m limit --limit 1/s --dport 80 -j ACCEPT\nCOMMIT\n", 2, "--dport"),
        ("*filter\n-A FORWARD -m comment --comment \"open -j ACCEPT\nCOMMIT\n", 2, "quote"),
        ("*filter\n-A FORWARD -p tcp -j DNAT --to-destination 1.2.3.4\nCOMMIT\n", 2, "nat table"),
        ("*nat\n-A POSTROUTING -p tcp -j DNAT --to 1.2.3.4\nCOMMIT\n", 2, "DNAT is not usable from POSTROUTING"),
        ("*nat\n-A PREROUTING -j MASQUERADE\nCOMMIT\n", 2, "MASQUERADE is not usable from PREROUTING"),
        ("*nat\n:x - [0:0]\n-A POSTROUTING -j x\n-A x -j DNAT --to 1.2.3.4\nCOMMIT\n", 4, "chain x is reached from POSTROUTING"),
        ("*nat\n-A PREROUTING -j DNAT\nCOMMIT\n", 2, "needs --to-destination"),
        ("*nat\n-A PREROUTING -j DNAT --to-destination 1.2.3.4:80\nCOMMIT\n", 2, "Need TCP, UDP"),
        ("*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:0\nCOMMIT\n", 2, "Port `0'"),
        ("*nat\n-A PREROUTING -j DROP\nCOMMIT\n", 2, "not intended for filtering"),
        ("*nat\n-P PREROUTING DROP\nCOMMIT\n", 2, "not intended for filtering"),
        ("*filter\n-A FORWARD -s 10.0.0.300 -j ACCEPT\nCOMMIT\n", 2, "host/network"),
        ("*filter\n-A FORWARD -s example.com -j ACCEPT\nCOMMIT\n", 2, "DNS"),
        ("*filter\n-A FORWARD -d 10.0.0.0/33 -j ACCEPT\nCOMMIT\n", 2, "mask"),
        ("*filter\n-A FORWARD -p tcp --dport 70000 -j ACCEPT\nCOMMIT\n", 2, "port"),
        ("*filter\n-A FORWARD -p tcp --dport 90:80 -j ACCEPT\nCOMMIT\n", 2, "min > max"),
        ("*filter\n:a - [0:0]\n:b - [0:0]\n-A FORWARD -j a\n-A a -j b\n-A b -j a\nCOMMIT\n", 6, "loop (FORWARD -> a -> b -> a)"),
        ("*filter\n-t nat -A FORWARD -j ACCEPT\nCOMMIT\n", 2, "-t option"),
        ("*filter\n-A FORWARD -m tcp --dport 80 -j ACCEPT\nCOMMIT\n", 2, "-m tcp needs -p tcp"),
        ("*filter\n-A FORWARD -p udp -m multiport --dports 1,2 -j ACCEPT\n-A FORWARD -m multiport --dports 1 -j ACCEPT\nCOMMIT\n", 3, "multiport needs"),
        ("*filter\n-A FORWARD ! -d 1.2.3.4,5.6.7.8 -j ACCEPT\nCOMMIT\n", 2, "! not allowed"),
        ("*filter\n-A FORWARD -j ACCEPT # allow all\nCOMMIT\n", 2, "Bad argument `#'"),
        ("*filter\r\n-A FORWARD -j ACCEPT\r\nCOMMIT\r\n", 1, "DOS"),
        ("*nat\n-A POSTROUTING -i eth0 -j MASQUERADE\nCOMMIT\n", 2, "Can't use -i with POSTROUTING"),
        ("*filter\n-A FORWARD -p tcp -p udp -j ACCEPT\nCOMMIT\n", 2, "multiple -p"),
        ("*filter\n-A FORWARD -p udp -j REJECT --reject-with tcp-reset\nCOMMIT\n", 2, "tcp-reset"),
        ("*filter\n-A FORWARD -j REJECT --reject-with icmp-bogus\nCOMMIT\n", 2, "reject type"),
        ("*filter\n-A FORWARD -j ACCEPT\n  COMMIT\n", 3, "column 1"),
        ("*filter\n-A FORWARD -j ACCEPT\nCOMMIT \n", 3, "Bad argument `COMMIT'"),
        ("*filter\n:FORWARD REJECT [0:0]\nCOMMIT\n", 2, "bad policy"),
        ("*filter\n:INPUT ACCEPT [x]\nCOMMIT\n", 2, "counters"),
        ("*filter\n[12:34 -A INPUT -j ACCEPT\nCOMMIT\n", 2, "need ]"),
        ("*filter\n-A FORWARD -m conntrack -j ACCEPT\nCOMMIT\n", 2, "missing its required option"),
        ("*filter\n-A FORWARD -m state --state NEWISH -j ACCEPT\nCOMMIT\n", 2, "bad state"),
        ("*filter\n-A FORWARD -o averyveryverylongname -j ACCEPT\nCOMMIT\n", 2, "shorter than 16"),
        ("*filter\n-A FORWARD ! -j ACCEPT\nCOMMIT\n", 2, "cannot have ! before -j"),
        ("*filter\n-A FORWARD -j FORWARD\nCOMMIT\n", 2, "built-in chain"),
        ("*filter\n-A FORWARD -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,16,14:15 -j ACCEPT\nCOMMIT\n", 2, "too many ports"),
        ("*filter\n-A FORWARD -j LOG --log-prefix \"this prefix is far too long for LOG\"\nCOMMIT\n", 2, "prefix length"),
        ("*mangle\n-A FORWARD -j REJECT\nCOMMIT\n", 2, "only valid in the filter table"),
        ("*filter\n-N ACCEPT\nCOMMIT\n", 2, "clashes"),
        ("*filter\n-N x\n-N x\nCOMMIT\n", 3, "already exists"),
        ("*filter\n-A FORWARD -j ACCEPT !\nCOMMIT\n", 2, "following !"),
        ("*filter\n-I FORWARD 2 -j ACCEPT\nCOMMIT\n", 2, "insertion too big"),
        ("*filter\n-D FORWARD 1\nCOMMIT\n", 2, "not supported"),
        ("*filter\n-A FORWARD -s 1.2.3.4 extra -j ACCEPT\nCOMMIT\n", 2, "Bad argument `extra'"),
        ("*filter\n-A FORWARD -p tcp --d 80 -j ACCEPT\nCOMMIT\n", 2, "ambiguous"),
    ];

    #[test]
    fn refusals_name_the_line() {
        for (text, line, needle) in REFUSED {
            let Err(e) = parse(Path::new("router.rules"), text) else {
                panic!("accepted: {text:?}")
            };
            assert_eq!(e.line, *line, "{text:?} -> {e}");
            assert!(e.reason.contains(needle), "{text:?} -> {e}");
            assert!(e.to_string().starts_with(&format!("router.rules:{line}: ")));
        }
    }

    #[rustfmt::skip]
    const VOCAB: &[&str] = &["-A", "-I", "-N", "-P", "-F", "FORWARD", "PREROUTING", "x", "!",
        "-s", "-d", "10.0.0.1", "1.2.3.4/8", "1,2", "-p", "tcp", "udp", "-m", "multiport",
        "limit", "--dport", "--dports", "80", "1:2", "-j", "-g", "DNAT", "ACCEPT", "RETURN", "--to",
        "1.2.3.4:80", "--comment", "\"a b\"", "\"", "-i", "eth+", "[1:2]", "--ctstate", "NEW",
        "conntrack", "=", "--", "-", "-6", "DROP", "LOG", "MASQUERADE", "POSTROUTING"];

    proptest! {
        #[test]
        fn parser_never_panics_on_text(text in "\\PC{0,300}") {
            let _ = parse(Path::new("p"), &text);
        }

        #[test]
        fn parser_never_panics_on_rule_like_lines(
            lines in prop::collection::vec(prop::collection::vec(prop::sample::select(VOCAB), 0..14), 0..6),
            table in prop::sample::select(&["nat", "filter"][..]),
        ) {
            let body: Vec<String> = lines.iter().map(|l| l.join(" ")).collect();
            let text = format!("*{table}\n:x - [0:0]\n{}\nCOMMIT\n", body.join("\n"));
            if let Ok(r) = parse(Path::new("p"), &text) {
                let p = tcp(80);
                let _ = (r.prerouting(&p), r.forward(&p), r.postrouting(&p), r.input(&p));
            }
        }

        /// multiport and `-d` lists give the same answers as one plain rule per port/address.
        #[test]
        fn lists_equal_plain_rules(ports in prop::collection::btree_set(1u16..60, 1..6), dport in 1u16..60, last in 1u8..4) {
            let list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
            let dnat = "-j DNAT --to-destination 10.0.0.2";
            let compact = format!("-A PREROUTING -d 203.0.113.1,203.0.113.2 -p tcp -m multiport --dports {} {dnat}", list.join(","));
            let mut plain = vec![];
            for d in ["203.0.113.1", "203.0.113.2"] {
                for p in &ports {
                    plain.push(format!("-A PREROUTING -d {d}/32 -p tcp -m tcp --dport {p} {dnat}"));
                }
            }
            let p = Packet { dst: Ipv4Addr::new(203, 0, 113, last), ..tcp(dport) };
            let (compact, plain) = (nat(&compact), nat(&plain.join("\n")));
            prop_assert_eq!(compact.prerouting(&p).outcome, plain.prerouting(&p).outcome);
        }
    }
}
