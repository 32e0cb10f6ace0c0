//! Cross-file findings (SPEC section 8), before any container starts: what one file says that
//! another contradicts. Lint never changes a lab verdict; the lab's checks stay the ground truth.

use super::iptables::{self, Outcome, Packet, Proto};
use super::roles::{self, Roles};
use super::Parsed;
use serde::Serialize;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub rule: String,
    pub message: String,
}

/// An address on the internet the walk uses as the client (no operator rule names it).
const SOMEONE: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 1);

pub fn run(parsed: &Parsed, roles: &Roles) -> Vec<Finding> {
    let mut out = Vec::new();
    let f = |file: &str, line: usize, rule: &str, message: String| Finding {
        file: file.to_string(),
        line,
        rule: rule.to_string(),
        message,
    };
    let rules_file = parsed.rules_file.as_str();
    let proxy = roles.proxy_ip.value();
    let bridge = roles.bridge_ip.value();
    let public = roles.public_ip.value();

    // dnat-target: a service forwarded to a host that is not its role's.
    for (r, to, services) in roles::dnat_rules(&parsed.rules) {
        for s in services {
            let (role, want) = if roles::service_role(s) == "proxy" {
                ("the proxy", proxy)
            } else {
                ("the bridge", bridge)
            };
            if let Some(want) = want {
                if to != want {
                    out.push(f(
                        rules_file,
                        r.line,
                        "dnat-target",
                        format!("{s} is forwarded to {to}, but {role} is {want}"),
                    ));
                }
            }
        }
    }

    // forward-drops: a DNATed service the FORWARD chain drops.
    if let Some(public) = public.or_else(|| Some(Ipv4Addr::new(198, 18, 255, 2))) {
        for (proto, port, name) in [
            (Proto::Tcp, crate::ports::HTTP, "tcp/80"),
            (Proto::Tcp, crate::ports::HTTPS, "tcp/443"),
            (Proto::Udp, crate::ports::MEDIA_UDP, "udp/10000"),
            (Proto::Tcp, crate::ports::ICE_TCP, "tcp/4443"),
            (Proto::Udp, crate::ports::TURN_UDP, "udp/3478"),
            (Proto::Tcp, crate::ports::TURN_TLS, "tcp/5349"),
        ] {
            let mut p = Packet::new(proto, SOMEONE, public, port);
            p.in_if = roles.wan_if.value();
            p.local_addrs = [Some(public), roles.router_lan_ip]
                .into_iter()
                .flatten()
                .collect();
            let pre = parsed.rules.prerouting(&p);
            let Outcome::Dnat { addr: Some(to), .. } = pre.outcome else {
                continue;
            };
            let mut fwd = p.after(&pre);
            fwd.out_if = roles.lan_if.value();
            let w = parsed.rules.forward(&fwd);
            if matches!(w.outcome, Outcome::Drop | Outcome::Reject)
                || matches!(w.outcome, Outcome::Policy(iptables::Policy::Drop))
            {
                out.push(f(
                    rules_file,
                    w.line.or(pre.line).unwrap_or(1),
                    "forward-drops",
                    format!(
                        "{name} is DNATed to {to} (line {}) but the FORWARD chain drops it here",
                        pre.line.unwrap_or(0)
                    ),
                ));
            }
        }
    }

    // proxypass-host: Apache proxies the site to a host that is not the bridge.
    if let (Some(fqdn), Some(bridge)) = (roles.fqdn.value(), bridge) {
        let ap = &parsed.apache;
        let vh = ap.select_vhost(&fqdn, crate::ports::HTTPS, None);
        let routes = ap.proxy_routes(vh);
        for r in &routes {
            if r.excluded {
                continue;
            }
            if let Some(Ok(a)) = r
                .target
                .as_ref()
                .map(|t| t.host.trim_matches(['[', ']']).parse::<Ipv4Addr>())
            {
                if a != bridge {
                    out.push(f(
                        &parsed.vhost_file,
                        r.line,
                        "proxypass-host",
                        format!(
                            "{} proxies to {a}, but the bridge is {bridge}{}",
                            r.path,
                            if Some(a) == proxy {
                                " (that is the proxy itself)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
        }
        // websocket-order: a websocket route Apache never reaches because `ProxyPass /` is first.
        for ws in ["/xmpp-websocket", "/colibri-ws/"] {
            let used = super::apache::route_for(&routes, ws);
            let written = routes.iter().find(|r| {
                !r.excluded
                    && r.kind == super::apache::RouteKind::Pass
                    && r.path.trim_end_matches('/') == ws.trim_end_matches('/')
            });
            if let (Some(used), Some(written)) = (used, written) {
                if used.line != written.line {
                    out.push(f(
                        &parsed.vhost_file,
                        written.line,
                        "websocket-order",
                        format!(
                            "the route for {ws} comes after `ProxyPass {}` (line {}), which Apache uses first: move the websocket routes above it",
                            used.path, used.line
                        ),
                    ));
                }
            }
        }
    }

    // nat-local-address: the bridge told a local address that is not its own.
    if let Some(bridge) = bridge {
        for e in parsed.bridge_local_addresses() {
            if e.value != bridge {
                out.push(f(
                    &e.source.file,
                    e.source.line,
                    "nat-local-address",
                    format!(
                        "{} is {}, but the bridge's own LAN address is {bridge}{}",
                        e.what,
                        e.value,
                        if Some(e.value) == proxy {
                            " (that is the proxy's)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
    }

    // public-address: the files name different public addresses.
    if let Some(public) = public {
        let mut named = parsed.bridge_public_addresses();
        named.extend(parsed.turn_public_addresses());
        for (r, _, services) in roles::dnat_rules(&parsed.rules) {
            if services.is_empty() {
                continue;
            }
            for m in r.matches.iter().filter(|m| !m.negated) {
                if let iptables::Cond::Dst(n) = &m.cond {
                    if n.mask == Ipv4Addr::BROADCAST && n.addr != public {
                        out.push(f(
                            rules_file,
                            r.line,
                            "public-address",
                            format!(
                                "this DNAT matches {}, but the public address is {public}",
                                n.addr
                            ),
                        ));
                    }
                }
            }
        }
        for e in named {
            if e.value != public {
                out.push(f(
                    &e.source.file,
                    e.source.line,
                    "public-address",
                    format!(
                        "{} is {}, but the public address is {public}",
                        e.what, e.value
                    ),
                ));
            }
        }
    }

    // nat-in-jicofo-file: the NAT lines sit only in jicofo's look-alike file.
    if let Some(j) = &parsed.jicofo {
        let bridge_has = !parsed.bridge_local_addresses().is_empty();
        if !bridge_has {
            for e in j
                .entries
                .iter()
                .filter(|e| e.key.contains("NAT_HARVESTER_"))
            {
                out.push(f(
                    &j.file,
                    e.line,
                    "nat-in-jicofo-file",
                    format!(
                        "{} is in jicofo's file, which the bridge never reads: move it to /etc/jitsi/videobridge/sip-communicator.properties and restart jitsi-videobridge",
                        e.key
                    ),
                ));
            }
        }
    }

    // turn-secret: coturn and prosody make credentials with different secrets.
    if let (Some(c), Some(p)) = (&parsed.coturn, &parsed.prosody) {
        if let (Some(cs), Some((ps, pline))) = (c.secret(), p.turn_secret()) {
            if cs.value.as_deref() != Some(ps) {
                out.push(f(
                    &c.file,
                    cs.line,
                    "turn-secret",
                    format!(
                        "coturn's static-auth-secret differs from the secret prosody makes TURN credentials with ({}:{pline}): every TURN login fails",
                        p.file
                    ),
                ));
            }
        }
    }
    out
}
