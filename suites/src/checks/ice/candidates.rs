//! ice/candidates/*: the candidates the bridge advertises for a fresh endpoint.

use crate::checks::bridge::{allocation, diagnose_no_srflx, list, show, BridgeFiles};
use crate::checks::{Ctx, Verdict};
use jc_harness::net::AddressPlan;
use jc_harness::ports::{ICE_TCP, MEDIA_UDP};
use jc_videobridge::candidates::ParsedCandidate;
use std::net::Ipv4Addr;

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

/// `c` is at `ip:port`, or on `port` when the address is not known (a live site without
/// `--expect-bridge-ip`).
fn at_maybe(c: &ParsedCandidate, ip: Option<Ipv4Addr>, port: u16) -> bool {
    match ip {
        Some(ip) => at(c, ip, port),
        None => c.port == port,
    }
}

/// ice/candidates/1: a UDP host candidate at BRIDGE_IP:10000 (live without
/// `--expect-bridge-ip`: a UDP host candidate on port 10000).
/// ice/candidates/1
pub async fn ice_candidates_1(ctx: &Ctx<'_>) -> Verdict {
    let expected = match ctx.bridge_ip() {
        Some(bridge) => format!("a UDP host candidate at {bridge}:{MEDIA_UDP} (BRIDGE_IP)"),
        None => {
            format!("a UDP host candidate on port {MEDIA_UDP} (no --expect-bridge-ip: any address)")
        }
    };
    let a = match allocation(ctx).await {
        Ok(a) => a,
        Err(e) => return Verdict::error(expected, e),
    };
    judge_1(
        ctx.plan(),
        ctx.bridge_ip(),
        &a.transport.candidates,
        expected,
    )
}

pub fn judge_1(
    plan: Option<&AddressPlan>,
    bridge: Option<Ipv4Addr>,
    cs: &[ParsedCandidate],
    expected: String,
) -> Verdict {
    match cs
        .iter()
        .find(|c| is_udp(c) && c.typ == "host" && at_maybe(c, bridge, MEDIA_UDP))
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
/// ice/candidates/2
pub async fn ice_candidates_2(ctx: &Ctx<'_>) -> Verdict {
    let plan = ctx.plan();
    let (public, bridge) = (ctx.public_ip(), ctx.bridge_ip());
    let expected = match bridge {
        Some(bridge) => format!(
            "a UDP srflx candidate at {public}:{MEDIA_UDP} (PUBLIC_IP) with rel-addr {bridge}:{MEDIA_UDP} (BRIDGE_IP)"
        ),
        None => format!(
            "a UDP srflx candidate at {public}:{MEDIA_UDP} (PUBLIC_IP) with rel-addr on port {MEDIA_UDP}"
        ),
    };
    let a = match allocation(ctx).await {
        Ok(a) => a,
        Err(e) => return Verdict::error(expected, e),
    };
    let cs = &a.transport.candidates;
    if let Some(c) = cs.iter().find(|c| {
        is_udp(c)
            && c.typ == "srflx"
            && at(c, public, MEDIA_UDP)
            && match bridge {
                Some(b) => rel_at(c, b, MEDIA_UDP),
                None => c.rel_port == Some(MEDIA_UDP),
            }
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

/// ice/candidates/3: every advertised address is BRIDGE_IP or PUBLIC_IP (live without
/// `--expect-bridge-ip`: every public address is PUBLIC_IP; private ones are not judged).
/// ice/candidates/3
pub async fn ice_candidates_3(ctx: &Ctx<'_>) -> Verdict {
    let public = ctx.public_ip();
    let expected = match ctx.bridge_ip() {
        Some(bridge) => format!(
            "every candidate address is {bridge} (BRIDGE_IP) or {public} (PUBLIC_IP)"
        ),
        None => format!(
            "every public candidate address is {public} (PUBLIC_IP); private ones are not judged without --expect-bridge-ip"
        ),
    };
    let a = match allocation(ctx).await {
        Ok(a) => a,
        Err(e) => return Verdict::error(expected, e),
    };
    judge_3(
        ctx.plan(),
        public,
        ctx.bridge_ip(),
        &a.transport.candidates,
        expected,
    )
}

/// Not a public address: private, loopback, link-local, CGNAT (what a live site's bridge
/// may advertise as its own without `--expect-bridge-ip`).
fn is_private_space(ip: &str) -> bool {
    let cgnat: ipnet::Ipv4Net = "100.64.0.0/10".parse().expect("valid net");
    ip.parse::<Ipv4Addr>()
        .is_ok_and(|a| a.is_private() || a.is_loopback() || a.is_link_local() || cgnat.contains(&a))
}

pub fn judge_3(
    plan: Option<&AddressPlan>,
    public: Ipv4Addr,
    bridge: Option<Ipv4Addr>,
    cs: &[ParsedCandidate],
    expected: String,
) -> Verdict {
    let ok = |ip: &str| match bridge {
        Some(b) => ip == b.to_string() || ip == public.to_string(),
        None => ip == public.to_string() || is_private_space(ip),
    };
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
/// ice/candidates/4
pub async fn ice_candidates_4(ctx: &Ctx<'_>) -> Verdict {
    if let Some(skip) = ctx.skip_without_ice_tcp() {
        return skip;
    }
    let plan = ctx.plan();
    let (public, bridge) = (ctx.public_ip(), ctx.bridge_ip());
    let expected = match bridge {
        Some(bridge) => format!(
            "passive TCP (tcp or ssltcp) candidates at {bridge}:{ICE_TCP} (host, BRIDGE_IP) and {public}:{ICE_TCP} (srflx, PUBLIC_IP)"
        ),
        None => format!(
            "passive TCP (tcp or ssltcp) candidates on port {ICE_TCP} (host) and at {public}:{ICE_TCP} (srflx, PUBLIC_IP)"
        ),
    };
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
        .find(|c| c.typ == "host" && at_maybe(c, bridge, ICE_TCP));
    let srflx = cs
        .iter()
        .filter(passive)
        .find(|c| c.typ == "srflx" && at(c, public, ICE_TCP));
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
                "no passive TCP host candidate at BRIDGE_IP:{ICE_TCP} (is TCP_HARVESTER_PORT {ICE_TCP}?); TCP candidates: {}",
                list(plan, &tcp)
            ),
        ),
        (Some(_), None) if tcp.iter().any(|c| c.typ == "srflx") => Verdict::fail(
            expected,
            format!(
                "the TCP srflx candidates are not at PUBLIC_IP:{ICE_TCP} (check NAT_HARVESTER_PUBLIC_ADDRESS / the mapping's public-address, and TCP_HARVESTER_MAPPED_PORT); TCP candidates: {}",
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
    fn proxy_address_is_named_in_the_diagnosis() {
        let plan = AddressPlan::for_slot(0);
        let cs = vec![cand("udp", "host", "172.30.77.20", 10000, None)];
        let files = BridgeFiles {
            properties: Some(
                "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.10\norg.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n".into(),
            ),
            ..Default::default()
        };
        let d = diagnose_no_srflx(Some(&plan), &cs, &files);
        assert!(
            d.contains("no host address (172.30.77.20 (BRIDGE_IP)) equals"),
            "{d}"
        );
        assert!(d.contains("172.30.77.10 (PROXY_IP)"), "{d}");
    }

    #[test]
    fn a_file_changed_after_the_bridge_started_says_restart() {
        let plan = AddressPlan::for_slot(0);
        let cs = vec![cand("udp", "host", "172.30.77.20", 10000, None)];
        // Now 1796164900, up 2000 s, started 1990 s after boot: it started at 1796164890.
        let out = "start 1796164900.0 2000.00 199000 100\nmtime /etc/jitsi/videobridge/sip-communicator.properties 1796164890.5\n";
        let changed = crate::checks::bridge::changed_after_start(out);
        assert_eq!(changed.len(), 1);
        assert!((changed[0].1 - 0.5).abs() < 0.01, "{changed:?}");
        let files = BridgeFiles {
            properties: Some(
                "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.20\norg.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n".into(),
            ),
            changed_after_start: changed,
            ..Default::default()
        };
        let d = diagnose_no_srflx(Some(&plan), &cs, &files);
        assert!(
            d.contains("restart jitsi-videobridge") && d.contains("0.5 s after"),
            "{d}"
        );
        // Written before the bridge started: nothing to say about a restart.
        let before =
            "start 1796163758 113800 100\nmtime /etc/jitsi/videobridge/jvb.conf 1796164895.0\n";
        assert!(crate::checks::bridge::changed_after_start(before).is_empty());
    }

    #[test]
    fn nat_keys_in_jicofo_file_are_named() {
        let plan = AddressPlan::for_slot(0);
        let cs = vec![cand("udp", "host", "172.30.77.20", 10000, None)];
        let files = BridgeFiles {
            properties: Some("org.jitsi.videobridge.ENABLE_STATISTICS=true\n".into()),
            jvb_conf: None,
            jicofo: Some("org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.20\n".into()),
            changed_after_start: Vec::new(),
        };
        let d = diagnose_no_srflx(Some(&plan), &cs, &files);
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
            judge_3(
                Some(&plan),
                plan.public_ip,
                Some(plan.bridge_ip),
                &good,
                String::new()
            )
            .finding,
            crate::checks::Finding::Pass
        );
        let mut bad = good.clone();
        bad.push(cand(
            "udp",
            "srflx",
            "198.51.100.29",
            10000,
            Some(("172.30.77.20", 10000)),
        ));
        let v = judge_3(
            Some(&plan),
            plan.public_ip,
            Some(plan.bridge_ip),
            &bad,
            String::new(),
        );
        assert_eq!(v.finding, crate::checks::Finding::Fail);
        assert!(v.actual.contains("WAN_UNUSED_IP"), "{}", v.actual);
        assert_eq!(
            judge_1(Some(&plan), Some(plan.bridge_ip), &bad, String::new()).finding,
            crate::checks::Finding::Pass
        );
        assert_eq!(
            judge_1(Some(&plan), Some(plan.bridge_ip), &bad[1..], String::new()).finding,
            crate::checks::Finding::Fail
        );
    }

    #[test]
    fn live_without_a_bridge_address_judges_ports_and_public_addresses() {
        let public: Ipv4Addr = "203.0.113.5".parse().unwrap();
        let cs = vec![
            cand("udp", "host", "10.1.2.3", 10000, None),
            cand(
                "udp",
                "srflx",
                "203.0.113.5",
                10000,
                Some(("10.1.2.3", 10000)),
            ),
        ];
        assert_eq!(
            judge_1(None, None, &cs, String::new()).finding,
            crate::checks::Finding::Pass
        );
        assert_eq!(
            judge_3(None, public, None, &cs, String::new()).finding,
            crate::checks::Finding::Pass
        );
        let mut bad = cs.clone();
        bad.push(cand(
            "udp",
            "srflx",
            "203.0.113.9",
            10000,
            Some(("10.1.2.3", 10000)),
        ));
        let v = judge_3(None, public, None, &bad, String::new());
        assert_eq!(v.finding, crate::checks::Finding::Fail);
        assert!(v.actual.contains("203.0.113.9"), "{}", v.actual);
        assert_eq!(
            judge_1(None, None, &cs[1..], String::new()).finding,
            crate::checks::Finding::Fail
        );
    }
}
