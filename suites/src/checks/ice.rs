//! ice/candidates/*: what the bridge advertises. The transport comes from the bridge's private
//! control API, run inside the bridge container (`jc-fake-bridge allocate`), never via the
//! router, so a proxy or NAT fault cannot hide or fake it.

use super::{Ctx, Verdict};
use jc_harness::net::AddressPlan;
use jc_ice::candidates::{parse_transport, ParsedCandidate, ParsedTransport};
use jc_ice::config::{hocon, properties, IceSettings};
use std::net::Ipv4Addr;

/// The bridge's files, where JVB and jicofo keep them.
const JVB_PROPERTIES: &str = "/etc/jitsi/videobridge/sip-communicator.properties";
const JVB_CONF: &str = "/etc/jitsi/videobridge/jvb.conf";
const JICOFO_PROPERTIES: &str = "/etc/jitsi/jicofo/sip-communicator.properties";

const UDP_PORT: u16 = 10000;
const TCP_PORT: u16 = 4443;

/// One endpoint allocated for the checks: the bridge's transport and the client's ufrag/pwd
/// the bridge was told (never the client's candidates).
#[derive(Debug, Clone)]
pub struct Allocation {
    pub client_ufrag: String,
    pub client_pwd: String,
    pub transport: ParsedTransport,
}

fn random_token(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The endpoint shared by the checks of one run (allocated once, on first use).
pub async fn allocation(ctx: &Ctx<'_>) -> Result<Allocation, String> {
    ctx.allocation.get_or_init(|| allocate(ctx)).await.clone()
}

async fn allocate(ctx: &Ctx<'_>) -> Result<Allocation, String> {
    let client_ufrag = random_token(8);
    let client_pwd = random_token(24);
    let transport = allocate_with(ctx, &client_ufrag, &client_pwd).await?;
    Ok(Allocation {
        client_ufrag,
        client_pwd,
        transport,
    })
}

/// A new endpoint on the bridge for a client with these credentials (never its candidates),
/// through the private control API inside the bridge host, never via the router.
pub async fn allocate_with(
    ctx: &Ctx<'_>,
    client_ufrag: &str,
    client_pwd: &str,
) -> Result<ParsedTransport, String> {
    let (code, out) = ctx
        .lab
        .exec(
            "bridge",
            &[
                "/jc/bin/jc-fake-bridge",
                "allocate",
                "--client-ufrag",
                client_ufrag,
                "--client-pwd",
                client_pwd,
            ],
        )
        .await
        .map_err(|e| format!("cannot run the allocation in the bridge container: {e}"))?;
    if code != 0 {
        return Err(format!(
            "the bridge's control API did not allocate an endpoint (exit {code}): {}",
            out.trim()
        ));
    }
    parse_allocation(&out)
}

/// The Colibri2 JSON line of `jc-fake-bridge allocate`'s output (stderr may be mixed in).
pub fn parse_allocation(out: &str) -> Result<ParsedTransport, String> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no JSON in the allocation's output: {}", out.trim()))?;
    let v: serde_json::Value = serde_json::from_str(line.trim())
        .map_err(|e| format!("the allocation's JSON does not parse: {e}: {line}"))?;
    parse_transport(&v).map_err(|e| format!("the allocation's transport: {e}"))
}

/// `172.30.77.10 (PROXY_IP)` — addresses named by role so reports read the same in any slot.
pub fn named(plan: &AddressPlan, ip: &str) -> String {
    match ip.parse::<Ipv4Addr>().ok().and_then(|a| plan.role_of(a)) {
        Some(role) => format!("{ip} ({role})"),
        None => ip.to_string(),
    }
}

fn show(plan: &AddressPlan, c: &ParsedCandidate) -> String {
    let mut s = format!("{} {} {}:{}", c.protocol, c.typ, named(plan, &c.ip), c.port);
    if let Some(t) = &c.tcptype {
        s.push_str(&format!(" tcptype {t}"));
    }
    if let (Some(a), Some(p)) = (&c.rel_addr, c.rel_port) {
        s.push_str(&format!(" rel {}:{p}", named(plan, a)));
    }
    s
}

fn list(plan: &AddressPlan, cs: &[ParsedCandidate]) -> String {
    if cs.is_empty() {
        return "no candidates".into();
    }
    cs.iter()
        .map(|c| show(plan, c))
        .collect::<Vec<_>>()
        .join("; ")
}

fn is_udp(c: &ParsedCandidate) -> bool {
    c.protocol.eq_ignore_ascii_case("udp")
}

fn is_tcp(c: &ParsedCandidate) -> bool {
    c.protocol.eq_ignore_ascii_case("tcp") || c.protocol.eq_ignore_ascii_case("ssltcp")
}

fn at(c: &ParsedCandidate, ip: Ipv4Addr, port: u16) -> bool {
    c.ip == ip.to_string() && c.port == port
}

fn rel_at(c: &ParsedCandidate, ip: Ipv4Addr, port: u16) -> bool {
    c.rel_addr.as_deref() == Some(ip.to_string().as_str()) && c.rel_port == Some(port)
}

/// The bridge's own config as the container holds it (and whether jicofo's file carries NAT
/// keys), for diagnoses.
#[derive(Debug, Clone, Default)]
pub struct BridgeFiles {
    pub properties: Option<String>,
    pub jvb_conf: Option<String>,
    pub jicofo: Option<String>,
}

impl BridgeFiles {
    async fn read(ctx: &Ctx<'_>) -> BridgeFiles {
        let cat = |path: &'static str| async move {
            match ctx.lab.exec("bridge", &["cat", path]).await {
                Ok((0, text)) => Some(text),
                _ => None,
            }
        };
        let (properties, jvb_conf, jicofo) =
            tokio::join!(cat(JVB_PROPERTIES), cat(JVB_CONF), cat(JICOFO_PROPERTIES));
        BridgeFiles {
            properties,
            jvb_conf,
            jicofo,
        }
    }

    /// The settings the bridge resolved from its own two files (as JVB: legacy keys win).
    pub fn settings(&self) -> Result<IceSettings, String> {
        let props = self
            .properties
            .as_deref()
            .map(|t| properties::parse(t, JVB_PROPERTIES))
            .transpose()
            .map_err(|e| e.to_string())?;
        let conf = self
            .jvb_conf
            .as_deref()
            .map(|t| hocon::parse(t, JVB_CONF))
            .transpose()
            .map_err(|e| e.to_string())?;
        IceSettings::resolve(props.as_ref(), conf.as_ref()).map_err(|e| e.to_string())
    }

    fn jicofo_has_nat(&self) -> bool {
        self.jicofo
            .as_deref()
            .is_some_and(|t| t.lines().any(|l| l.contains("NAT_HARVESTER_")))
    }
}

/// Why there is no srflx candidate, in words an operator can act on.
pub fn diagnose_no_srflx(
    plan: &AddressPlan,
    candidates: &[ParsedCandidate],
    files: &BridgeFiles,
) -> String {
    let hosts: Vec<String> = candidates
        .iter()
        .filter(|c| c.typ == "host")
        .map(|c| named(plan, &c.ip))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let hosts = if hosts.is_empty() {
        "none".to_string()
    } else {
        hosts.join(", ")
    };
    let settings = match files.settings() {
        Ok(s) => s,
        Err(e) => return format!("no srflx candidate; the bridge's files do not parse: {e}"),
    };
    if settings.mappings.is_empty() {
        let mut s = format!(
            "no srflx candidate: the bridge's own files ({JVB_PROPERTIES}, {JVB_CONF}) configure no NAT mapping"
        );
        if let Some((m, why)) = settings.discarded_mappings.first() {
            s.push_str(&format!(
                " (the mapping {} -> {} at {} is discarded: {why})",
                named(plan, &m.local_address.to_string()),
                named(plan, &m.public_address.to_string()),
                m.origin
            ));
        }
        if files.jicofo_has_nat() {
            s.push_str(&format!(
                "; the NAT_HARVESTER lines are in jicofo's file {JICOFO_PROPERTIES}, which the bridge never reads: move them to {JVB_PROPERTIES}"
            ));
        } else {
            s.push_str(&format!(
                "; set org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS={} and NAT_HARVESTER_PUBLIC_ADDRESS={} in {JVB_PROPERTIES}",
                plan.bridge_ip, plan.public_ip
            ));
        }
        return s;
    }
    let unmatched: Vec<String> = settings
        .mappings
        .iter()
        .filter(|m| {
            !candidates
                .iter()
                .any(|c| c.ip == m.local_address.to_string())
        })
        .map(|m| {
            format!(
                "{} ({})",
                named(plan, &m.local_address.to_string()),
                m.origin
            )
        })
        .collect();
    if unmatched.len() == settings.mappings.len() {
        return format!(
            "no srflx candidate: no host address ({hosts}) equals NAT_HARVESTER_LOCAL_ADDRESS / the mapping's local address {}; it must be the bridge's own LAN address {}",
            unmatched.join(", "),
            plan.bridge_ip
        );
    }
    format!("no matching srflx candidate although a mapping matches a host address ({hosts})")
}

/// ice/candidates/1: a UDP host candidate at BRIDGE_IP:10000.
pub async fn candidates_1(ctx: &Ctx<'_>) -> Verdict {
    let plan = &ctx.lab.plan;
    let expected = format!(
        "a UDP host candidate at {}:{UDP_PORT} (BRIDGE_IP)",
        plan.bridge_ip
    );
    let a = match allocation(ctx).await {
        Ok(a) => a,
        Err(e) => return Verdict::error(expected, e),
    };
    judge_1(plan, &a.transport.candidates, expected)
}

pub fn judge_1(plan: &AddressPlan, cs: &[ParsedCandidate], expected: String) -> Verdict {
    match cs
        .iter()
        .find(|c| is_udp(c) && c.typ == "host" && at(c, plan.bridge_ip, UDP_PORT))
    {
        Some(c) => Verdict::pass(expected, show(plan, c)),
        None => Verdict::fail(
            expected,
            format!(
                "no such candidate; the bridge advertises: {}",
                list(plan, cs)
            ),
        ),
    }
}

/// ice/candidates/2: a UDP srflx candidate at PUBLIC_IP:10000 with rel-addr BRIDGE_IP:10000.
pub async fn candidates_2(ctx: &Ctx<'_>) -> Verdict {
    let plan = &ctx.lab.plan;
    let expected = format!(
        "a UDP srflx candidate at {}:{UDP_PORT} (PUBLIC_IP) with rel-addr {}:{UDP_PORT} (BRIDGE_IP)",
        plan.public_ip, plan.bridge_ip
    );
    let a = match allocation(ctx).await {
        Ok(a) => a,
        Err(e) => return Verdict::error(expected, e),
    };
    let cs = &a.transport.candidates;
    if let Some(c) = cs.iter().find(|c| {
        is_udp(c)
            && c.typ == "srflx"
            && at(c, plan.public_ip, UDP_PORT)
            && rel_at(c, plan.bridge_ip, UDP_PORT)
    }) {
        return Verdict::pass(expected, show(plan, c));
    }
    let srflx: Vec<ParsedCandidate> = cs
        .iter()
        .filter(|c| is_udp(c) && c.typ == "srflx")
        .cloned()
        .collect();
    if !srflx.is_empty() {
        return Verdict::fail(
            expected,
            format!(
                "the UDP srflx candidates are elsewhere: {} (check NAT_HARVESTER_PUBLIC_ADDRESS / the mapping's public-address)",
                list(plan, &srflx)
            ),
        );
    }
    let files = BridgeFiles::read(ctx).await;
    Verdict::fail(
        expected,
        format!(
            "{}; the bridge advertises: {}",
            diagnose_no_srflx(plan, cs, &files),
            list(plan, cs)
        ),
    )
}

/// ice/candidates/3: every advertised address is BRIDGE_IP or PUBLIC_IP.
pub async fn candidates_3(ctx: &Ctx<'_>) -> Verdict {
    let plan = &ctx.lab.plan;
    let expected = format!(
        "every candidate address is {} (BRIDGE_IP) or {} (PUBLIC_IP)",
        plan.bridge_ip, plan.public_ip
    );
    let a = match allocation(ctx).await {
        Ok(a) => a,
        Err(e) => return Verdict::error(expected, e),
    };
    judge_3(plan, &a.transport.candidates, expected)
}

pub fn judge_3(plan: &AddressPlan, cs: &[ParsedCandidate], expected: String) -> Verdict {
    let ok = |ip: &str| ip == plan.bridge_ip.to_string() || ip == plan.public_ip.to_string();
    let bad: Vec<ParsedCandidate> = cs.iter().filter(|c| !ok(&c.ip)).cloned().collect();
    if cs.is_empty() {
        return Verdict::fail(expected, "the bridge advertises no candidates");
    }
    if bad.is_empty() {
        Verdict::pass(expected, list(plan, cs))
    } else {
        Verdict::fail(
            expected,
            format!(
                "foreign addresses advertised (clients would try them and fail): {}",
                list(plan, &bad)
            ),
        )
    }
}

/// ice/candidates/4: passive TCP candidates at BRIDGE_IP:4443 (host) and PUBLIC_IP:4443 (srflx).
pub async fn candidates_4(ctx: &Ctx<'_>) -> Verdict {
    let lab = ctx.lab;
    if let Some(skip) = ctx.skip_without_ice_tcp() {
        return skip;
    }
    let plan = &lab.plan;
    let expected = format!(
        "passive TCP (tcp or ssltcp) candidates at {}:{TCP_PORT} (host, BRIDGE_IP) and {}:{TCP_PORT} (srflx, PUBLIC_IP)",
        plan.bridge_ip, plan.public_ip
    );
    let a = match allocation(ctx).await {
        Ok(a) => a,
        Err(e) => return Verdict::error(expected, e),
    };
    let cs = &a.transport.candidates;
    let passive =
        |c: &&ParsedCandidate| is_tcp(c) && c.tcptype.as_deref().is_none_or(|t| t == "passive");
    let host = cs
        .iter()
        .filter(passive)
        .find(|c| c.typ == "host" && at(c, plan.bridge_ip, TCP_PORT));
    let srflx = cs
        .iter()
        .filter(passive)
        .find(|c| c.typ == "srflx" && at(c, plan.public_ip, TCP_PORT));
    let tcp: Vec<ParsedCandidate> = cs.iter().filter(|c| is_tcp(c)).cloned().collect();
    match (host, srflx) {
        (Some(h), Some(s)) => Verdict::pass(expected, format!("{}; {}", show(plan, h), show(plan, s))),
        (None, _) if tcp.is_empty() => Verdict::fail(
            expected,
            format!(
                "no TCP candidates at all: the bridge's TCP harvester is off (DISABLE_TCP_HARVESTER / videobridge.ice.tcp.enabled); it advertises: {}",
                list(plan, cs)
            ),
        ),
        (None, _) => Verdict::fail(
            expected,
            format!(
                "no passive TCP host candidate at BRIDGE_IP:{TCP_PORT} (is TCP_HARVESTER_PORT {TCP_PORT}?); TCP candidates: {}",
                list(plan, &tcp)
            ),
        ),
        (Some(_), None) if tcp.iter().any(|c| c.typ == "srflx") => Verdict::fail(
            expected,
            format!(
                "the TCP srflx candidates are not at PUBLIC_IP:{TCP_PORT} (check NAT_HARVESTER_PUBLIC_ADDRESS / the mapping's public-address, and TCP_HARVESTER_MAPPED_PORT); TCP candidates: {}",
                list(plan, &tcp)
            ),
        ),
        (Some(_), None) => {
            let files = BridgeFiles::read(ctx).await;
            Verdict::fail(
                expected,
                format!(
                    "{} (TCP srflx candidates come from the same mappings); TCP candidates: {}",
                    diagnose_no_srflx(plan, cs, &files),
                    list(plan, &tcp)
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(
        protocol: &str,
        typ: &str,
        ip: &str,
        port: u16,
        rel: Option<(&str, u16)>,
    ) -> ParsedCandidate {
        ParsedCandidate {
            foundation: "1".into(),
            component: 1,
            protocol: protocol.into(),
            ip: ip.into(),
            port,
            priority: 1,
            typ: typ.into(),
            rel_addr: rel.map(|r| r.0.to_string()),
            rel_port: rel.map(|r| r.1),
            tcptype: (protocol != "udp").then(|| "passive".into()),
            generation: Some(0),
            id: None,
        }
    }

    #[test]
    fn allocation_output_with_logs_parses() {
        let out = "2026-01-01 INFO something\n{\"meeting-id\":\"m\",\"endpoints\":[{\"id\":\"e\",\"transport\":{\"transport\":{\"ufrag\":\"u\",\"pwd\":\"p\",\"candidates\":[{\"foundation\":\"1\",\"component\":\"1\",\"protocol\":\"udp\",\"ip\":\"172.30.77.20\",\"port\":\"10000\",\"priority\":\"2130706431\",\"type\":\"host\"}]}}}]}\n";
        let t = parse_allocation(out).unwrap();
        assert_eq!(t.ufrag, "u");
        assert_eq!(t.candidates.len(), 1);
        assert!(parse_allocation("error: refused").is_err());
    }

    #[test]
    fn proxy_address_is_named_in_the_diagnosis() {
        let plan = AddressPlan::for_slot(0);
        let cs = vec![cand("udp", "host", "172.30.77.20", 10000, None)];
        let files = BridgeFiles {
            properties: Some(
                "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.10\norg.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n".into(),
            ),
            ..Default::default()
        };
        let d = diagnose_no_srflx(&plan, &cs, &files);
        assert!(
            d.contains("no host address (172.30.77.20 (BRIDGE_IP)) equals"),
            "{d}"
        );
        assert!(d.contains("172.30.77.10 (PROXY_IP)"), "{d}");
    }

    #[test]
    fn nat_keys_in_jicofo_file_are_named() {
        let plan = AddressPlan::for_slot(0);
        let cs = vec![cand("udp", "host", "172.30.77.20", 10000, None)];
        let files = BridgeFiles {
            properties: Some("org.jitsi.videobridge.ENABLE_STATISTICS=true\n".into()),
            jvb_conf: None,
            jicofo: Some("org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.20\n".into()),
        };
        let d = diagnose_no_srflx(&plan, &cs, &files);
        assert!(d.contains("jicofo's file"), "{d}");
    }

    #[test]
    fn foreign_addresses_fail_candidates_3() {
        let plan = AddressPlan::for_slot(0);
        let good = vec![
            cand("udp", "host", "172.30.77.20", 10000, None),
            cand(
                "udp",
                "srflx",
                "198.51.100.2",
                10000,
                Some(("172.30.77.20", 10000)),
            ),
        ];
        assert_eq!(
            judge_3(&plan, &good, String::new()).finding,
            super::super::Finding::Pass
        );
        let mut bad = good.clone();
        bad.push(cand(
            "udp",
            "srflx",
            "198.51.100.29",
            10000,
            Some(("172.30.77.20", 10000)),
        ));
        let v = judge_3(&plan, &bad, String::new());
        assert_eq!(v.finding, super::super::Finding::Fail);
        assert!(v.actual.contains("WAN_UNUSED_IP"), "{}", v.actual);
        assert_eq!(
            judge_1(&plan, &bad, String::new()).finding,
            super::super::Finding::Pass
        );
        assert_eq!(
            judge_1(&plan, &bad[1..], String::new()).finding,
            super::super::Finding::Fail
        );
    }
}
