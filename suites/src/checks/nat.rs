//! nat/*: inbound reachability of the bridge's media ports through the router, judged from
//! the internet client. These checks never look at the advertised candidates: they allocate
//! an endpoint only for valid credentials and send to PUBLIC:10000/udp and PUBLIC:4443/tcp.

use super::{ice, Ctx, Verdict};
use jc_harness::net::AddressPlan;
use jc_harness::probe::portscan::{self, PortState};
use jc_harness::probe::stun::{self, Credentials, Reply, StunFacts};
use jc_ice::stun::Class;
use std::net::SocketAddr;

const UDP_PORT: u16 = 10000;
const TCP_PORT: u16 = 4443;
/// Jitsi's own ports that must not answer on the public address (SPEC nat/exposure/1).
pub const EXPOSURE_PORTS: [u16; 8] = [22, 5222, 5269, 5280, 5347, 8080, 8888, 9090];

async fn credentials(ctx: &Ctx<'_>) -> Result<Credentials, String> {
    let a = ice::allocation(ctx).await?;
    Ok(Credentials {
        bridge_ufrag: a.transport.ufrag.clone(),
        bridge_pwd: a.transport.pwd.clone(),
        client_ufrag: a.client_ufrag.clone(),
    })
}

fn named_addr(plan: &AddressPlan, a: SocketAddr) -> String {
    format!("{}:{}", ice::named(plan, &a.ip().to_string()), a.port())
}

/// Why no reply came from the public address: a reply from elsewhere, or silence.
pub fn explain_no_public_reply(plan: &AddressPlan, f: &StunFacts, what: &str) -> String {
    if let Some(r) = f.from_elsewhere().first() {
        let bypass = match r.from.ip() {
            std::net::IpAddr::V4(ip) if plan.lan.contains(&ip) => {
                ": the return path bypasses the NAT (the bridge host's replies must go back through the router: route its default via the router's LAN address)"
            }
            _ => "",
        };
        return format!(
            "reply came from {}, expected {}{bypass} ({})",
            named_addr(plan, r.from),
            named_addr(plan, f.sent_to),
            stun::describe(&r.facts)
        );
    }
    match &f.transport_error {
        Some(e) => format!("{e}: {what}"),
        None => format!("{} to {}: {what}", f.silence(), named_addr(plan, f.sent_to)),
    }
}

fn is_success(r: &Reply) -> bool {
    r.facts.class == Some(Class::Success) && r.facts.transaction_id_matches
}

fn verified(r: &Reply) -> bool {
    r.facts.integrity_ok == Some(true) && r.facts.fingerprint_ok == Some(true)
}

fn details(r: &Reply) -> String {
    format!(
        "{}; attributes {}; SOFTWARE {}",
        stun::describe(&r.facts),
        r.facts.attributes_in_order.join(", "),
        r.facts.software.as_deref().unwrap_or("absent")
    )
}

const UDP_HINT: &str = "is udp/10000 DNATed to BRIDGE_IP:10000 and accepted in the router's FORWARD chain, and does the bridge listen there?";

async fn udp_probe(ctx: &Ctx<'_>) -> Result<StunFacts, Verdict> {
    let plan = &ctx.lab.plan;
    let dest = SocketAddr::new(plan.public_ip.into(), UDP_PORT);
    let expected = "a STUN Binding transaction with the bridge".to_string();
    let creds = credentials(ctx)
        .await
        .map_err(|e| Verdict::error(expected.clone(), e))?;
    stun::binding_udp(&ctx.lab.guard(), dest, &creds, ctx.budgets.stun)
        .await
        .map_err(|e| Verdict::error(expected, e))
}

/// nat/udp/1: a Binding with valid credentials to PUBLIC:10000/udp gets a success response
/// from PUBLIC:10000.
pub async fn udp_1(ctx: &Ctx<'_>) -> Verdict {
    let plan = &ctx.lab.plan;
    let expected = format!(
        "a success response from {}:{UDP_PORT} (PUBLIC_IP) to a Binding request with valid ICE credentials and ICE-CONTROLLED",
        plan.public_ip
    );
    let f = match udp_probe(ctx).await {
        Ok(f) => f,
        Err(v) => return Verdict { expected, ..v },
    };
    judge_udp_1(plan, &f, expected)
}

pub fn judge_udp_1(plan: &AddressPlan, f: &StunFacts, expected: String) -> Verdict {
    match f.from_dest() {
        Some(r) if is_success(r) => Verdict::pass(
            expected,
            format!(
                "success response from {} after {} ms",
                named_addr(plan, r.from),
                r.after_ms
            ),
        ),
        Some(r) => Verdict::fail(
            expected,
            format!(
                "{} answered, but not with a success response: {}",
                named_addr(plan, r.from),
                stun::describe(&r.facts)
            ),
        ),
        None => Verdict::fail(expected, explain_no_public_reply(plan, f, UDP_HINT)),
    }
}

/// nat/udp/2: the response from PUBLIC:10000 carries MESSAGE-INTEGRITY (bridge pwd) and
/// FINGERPRINT that verify; its XOR-MAPPED-ADDRESS is reported.
pub async fn udp_2(ctx: &Ctx<'_>) -> Verdict {
    let plan = &ctx.lab.plan;
    let expected = format!(
        "the response from {}:{UDP_PORT} (PUBLIC_IP) has MESSAGE-INTEGRITY (keyed with the bridge's pwd) and FINGERPRINT that verify",
        plan.public_ip
    );
    let f = match udp_probe(ctx).await {
        Ok(f) => f,
        Err(v) => return Verdict { expected, ..v },
    };
    judge_authenticated(plan, &f, expected, UDP_HINT)
}

pub fn judge_authenticated(
    plan: &AddressPlan,
    f: &StunFacts,
    expected: String,
    hint: &str,
) -> Verdict {
    match f.from_dest() {
        Some(r) if is_success(r) && verified(r) => Verdict::pass(
            expected,
            format!(
                "the bridge answered: {}; the bridge saw the client as {}",
                details(r),
                r.facts
                    .xor_mapped
                    .map(|a| named_addr(plan, a))
                    .unwrap_or_else(|| "(no XOR-MAPPED-ADDRESS)".into())
            ),
        ),
        Some(r) => Verdict::fail(
            expected,
            format!(
                "the response from {} is not an authenticated success from the bridge: {}",
                named_addr(plan, r.from),
                details(r)
            ),
        ),
        None => Verdict::fail(expected, explain_no_public_reply(plan, f, hint)),
    }
}

/// nat/tcp/1: (ICE-TCP profiles) a Binding over RFC 4571 framing on PUBLIC:4443/tcp gets an
/// authenticated success response.
pub async fn tcp_1(ctx: &Ctx<'_>) -> Verdict {
    let lab = ctx.lab;
    if let Some(skip) = ctx.skip_without_ice_tcp() {
        return skip;
    }
    let plan = &lab.plan;
    let dest = SocketAddr::new(plan.public_ip.into(), TCP_PORT);
    let expected = format!(
        "an authenticated (MESSAGE-INTEGRITY and FINGERPRINT verify) success response to a Binding over RFC 4571 framing on {}:{TCP_PORT}/tcp (PUBLIC_IP)",
        plan.public_ip
    );
    let creds = match credentials(ctx).await {
        Ok(c) => c,
        Err(e) => return Verdict::error(expected, e),
    };
    match stun::binding_tcp(&lab.guard(), dest, &creds, ctx.budgets.stun).await {
        Err(e) => Verdict::error(expected, e),
        Ok(f) => judge_authenticated(
            plan,
            &f,
            expected,
            "is tcp/4443 DNATed to BRIDGE_IP:4443 and accepted in FORWARD, and do the bridge host's replies go back through the router?",
        ),
    }
}

/// nat/exposure/1: none of Jitsi's other ports answers on the public address.
pub async fn exposure_1(ctx: &Ctx<'_>) -> Verdict {
    let plan = &ctx.lab.plan;
    let expected = format!(
        "tcp {} on {} (PUBLIC_IP) refuse or stay silent (only 80, 443, 4443/tcp and 10000/udp are public)",
        EXPOSURE_PORTS.map(|p| p.to_string()).join(", "),
        plan.public_ip
    );
    match portscan::tcp_ports(
        &ctx.lab.guard(),
        plan.public_ip,
        &EXPOSURE_PORTS,
        ctx.budgets.port,
    )
    .await
    {
        Err(e) => Verdict::error(expected, e),
        Ok(states) => judge_exposure(&states, expected),
    }
}

pub fn judge_exposure(states: &[(u16, PortState)], expected: String) -> Verdict {
    let open: Vec<String> = states
        .iter()
        .filter(|(_, s)| s.answers())
        .map(|(p, _)| p.to_string())
        .collect();
    let all = states
        .iter()
        .map(|(p, s)| format!("{p} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    if open.is_empty() {
        Verdict::pass(expected, all)
    } else {
        Verdict::fail(
            expected,
            format!(
                "tcp {} open{}: remove the router's DNAT/FORWARD rules for them ({all})",
                open.join(", "),
                if open.iter().any(|p| p == "9090") {
                    " (9090 is the bridge's colibri websocket server: it belongs behind the proxy)"
                } else {
                    ""
                }
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::Finding;
    use super::*;
    use jc_ice::client::Facts;

    fn facts(class: Class, ok: bool) -> Facts {
        Facts {
            class: Some(class),
            decode_error: None,
            transaction_id_matches: true,
            error_code: None,
            error_reason: None,
            xor_mapped: Some("198.51.100.1:40000".parse().unwrap()),
            mapped_address_present: false,
            integrity_ok: Some(ok),
            fingerprint_ok: Some(true),
            attributes_in_order: vec!["XOR-MAPPED-ADDRESS".into()],
            software: Some("ice4j.org".into()),
            username: None,
        }
    }

    fn stun_facts(replies: Vec<(&str, Facts)>) -> StunFacts {
        StunFacts {
            sent_to: "198.51.100.2:10000".parse().unwrap(),
            sent_from: None,
            sends: 3,
            waited_ms: 1500,
            replies: replies
                .into_iter()
                .map(|(from, facts)| Reply {
                    from: from.parse().unwrap(),
                    after_ms: 2,
                    facts,
                })
                .collect(),
            transport_error: None,
        }
    }

    #[test]
    fn reply_from_the_private_address_is_the_diagnosis() {
        let plan = AddressPlan::for_slot(0);
        let f = stun_facts(vec![("172.30.77.20:10000", facts(Class::Success, true))]);
        let v = judge_udp_1(&plan, &f, String::new());
        assert_eq!(v.finding, Finding::Fail);
        assert!(
            v.actual.starts_with("reply came from 172.30.77.20 (BRIDGE_IP):10000, expected 198.51.100.2 (PUBLIC_IP):10000: the return path bypasses the NAT"),
            "{}",
            v.actual
        );
    }

    #[test]
    fn silence_is_reported_with_the_budget() {
        let plan = AddressPlan::for_slot(0);
        let v = judge_udp_1(&plan, &stun_facts(vec![]), String::new());
        assert_eq!(v.finding, Finding::Fail);
        assert!(
            v.actual.contains("no answer within 1500 ms (3 sends)"),
            "{}",
            v.actual
        );
    }

    #[test]
    fn integrity_decides_udp_2() {
        let plan = AddressPlan::for_slot(0);
        let good = stun_facts(vec![("198.51.100.2:10000", facts(Class::Success, true))]);
        let v = judge_authenticated(&plan, &good, String::new(), "");
        assert_eq!(v.finding, Finding::Pass);
        assert!(
            v.actual.contains("198.51.100.1 (CLIENT_IP):40000"),
            "{}",
            v.actual
        );
        let bad = stun_facts(vec![("198.51.100.2:10000", facts(Class::Success, false))]);
        assert_eq!(
            judge_authenticated(&plan, &bad, String::new(), "").finding,
            Finding::Fail
        );
    }

    #[test]
    fn an_open_port_fails_exposure() {
        let v = judge_exposure(
            &[(22, PortState::Refused), (9090, PortState::Open)],
            String::new(),
        );
        assert_eq!(v.finding, Finding::Fail);
        assert!(v.actual.contains("tcp 9090 open"), "{}", v.actual);
        assert_eq!(
            judge_exposure(&[(22, PortState::Silent)], String::new()).finding,
            Finding::Pass
        );
    }
}
