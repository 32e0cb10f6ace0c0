//! The bridge as the checks see it, in one place: an endpoint allocated through its private
//! control API (inside the bridge host, never via the router, so a proxy or NAT fault cannot hide
//! or fake it), the bridge's own files, and the one wording of candidates every report uses.

use super::Ctx;
use jc_harness::lab::selfexe;
use jc_harness::net::AddressPlan;
use jc_harness::role::Role;
use jc_videobridge::candidates::{parse_transport, ParsedCandidate, ParsedTransport};
use jc_videobridge::config::{hocon, properties, IceSettings};
use std::net::Ipv4Addr;

/// The bridge's files, where JVB and jicofo keep them.
const JVB_PROPERTIES: &str = "/etc/jitsi/videobridge/sip-communicator.properties";

const JVB_CONF: &str = "/etc/jitsi/videobridge/jvb.conf";

const JICOFO_PROPERTIES: &str = "/etc/jitsi/jicofo/sip-communicator.properties";

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
            Role::Bridge,
            &[
                selfexe::IN_CONTAINER,
                "fake-bridge",
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

/// The Colibri2 JSON line of `fake-bridge allocate`'s output (stderr may be mixed in).
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

pub fn show(plan: &AddressPlan, c: &ParsedCandidate) -> String {
    let mut s = format!("{} {} {}:{}", c.protocol, c.typ, named(plan, &c.ip), c.port);
    if let Some(t) = &c.tcptype {
        s.push_str(&format!(" tcptype {t}"));
    }
    if let (Some(a), Some(p)) = (&c.rel_addr, c.rel_port) {
        s.push_str(&format!(" rel {}:{p}", named(plan, a)));
    }
    s
}

pub fn list(plan: &AddressPlan, cs: &[ParsedCandidate]) -> String {
    if cs.is_empty() {
        return "no candidates".into();
    }
    cs.iter()
        .map(|c| show(plan, c))
        .collect::<Vec<_>>()
        .join("; ")
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
    pub async fn read(ctx: &Ctx<'_>) -> BridgeFiles {
        let cat = |path: &'static str| async move {
            match ctx.lab.exec(Role::Bridge, &["cat", path]).await {
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
