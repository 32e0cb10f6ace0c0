//! nat/*: reachability of the bridge through the router from the internet side: UDP ([`udp`]),
//! ICE-TCP ([`tcp`]) and what else answers on the public address ([`exposure`]). These checks
//! use an endpoint no ICE agent touches (SPEC section 9), and never the advertised candidates.

pub mod exposure;
pub mod tcp;
pub mod udp;

use crate::checks::{bridge, Ctx, Verdict};
use jc_harness::net::AddressPlan;
use jc_harness::probe::stun::{self, Credentials, Reply, StunFacts};
use jc_stun::Class;
use std::net::SocketAddr;

pub(super) async fn credentials(ctx: &Ctx<'_>) -> Result<Credentials, String> {
    let a = bridge::allocation(ctx).await?;
    Ok(Credentials {
        bridge_ufrag: a.transport.ufrag.clone(),
        bridge_pwd: a.transport.pwd.clone(),
        client_ufrag: a.client_ufrag.clone(),
    })
}

pub(super) fn named_addr(plan: Option<&AddressPlan>, a: SocketAddr) -> String {
    format!("{}:{}", bridge::named(plan, &a.ip().to_string()), a.port())
}

/// Why no reply came from the public address: a reply from elsewhere, or silence.
pub fn explain_no_public_reply(plan: Option<&AddressPlan>, f: &StunFacts, what: &str) -> String {
    if let Some(r) = f.from_elsewhere().first() {
        let bypass = match r.from.ip() {
            std::net::IpAddr::V4(ip) if plan.map_or(ip.is_private(), |p| p.lan.contains(&ip)) => {
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

pub(super) fn is_success(r: &Reply) -> bool {
    r.facts.class == Some(Class::Success) && r.facts.transaction_id_matches
}

pub(super) fn verified(r: &Reply) -> bool {
    r.facts.integrity_ok == Some(true) && r.facts.fingerprint_ok == Some(true)
}

pub(super) fn details(r: &Reply) -> String {
    format!(
        "{}; attributes {}; SOFTWARE {}",
        stun::describe(&r.facts),
        r.facts.attributes_in_order.join(", "),
        r.facts.software.as_deref().unwrap_or("absent")
    )
}

pub fn judge_authenticated(
    plan: Option<&AddressPlan>,
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

#[cfg(test)]
mod tests {
    use super::exposure::judge_exposure;
    use super::udp::judge_udp_1;
    use super::*;
    use crate::checks::Finding;
    use jc_harness::probe::portscan::PortState;
    use jc_stun::client::Facts;

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
        let v = judge_udp_1(Some(&plan), &f, String::new());
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
        let v = judge_udp_1(Some(&plan), &stun_facts(vec![]), String::new());
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
        let v = judge_authenticated(Some(&plan), &good, String::new(), "");
        assert_eq!(v.finding, Finding::Pass);
        assert!(
            v.actual.contains("198.51.100.1 (CLIENT_IP):40000"),
            "{}",
            v.actual
        );
        let bad = stun_facts(vec![("198.51.100.2:10000", facts(Class::Success, false))]);
        assert_eq!(
            judge_authenticated(Some(&plan), &bad, String::new(), "").finding,
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
