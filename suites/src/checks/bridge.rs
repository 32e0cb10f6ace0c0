//! The bridge as the checks see it, in one place: an endpoint allocated through its private
//! control API (inside the bridge host, never via the router, so a proxy or NAT fault cannot hide
//! or fake it), the bridge's own files, and the one wording of candidates every report uses.

use super::Ctx;
use jc_harness::lab::bridge_api::ClientTransport;
use jc_harness::net::AddressPlan;
use jc_harness::role::Role;
use jc_videobridge::candidates::{ParsedCandidate, ParsedTransport};
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
    let transport = allocate_with(ctx, &client_ufrag, &client_pwd, None).await?;
    Ok(Allocation {
        client_ufrag,
        client_pwd,
        transport,
    })
}

/// A new endpoint on the bridge for a client with these credentials (and DTLS fingerprint,
/// when it will run DTLS; never its candidates), from the target's endpoint source.
pub async fn allocate_with(
    ctx: &Ctx<'_>,
    client_ufrag: &str,
    client_pwd: &str,
    client_fingerprint: Option<&str>,
) -> Result<ParsedTransport, String> {
    ctx.endpoints()
        .open_endpoint(&ClientTransport {
            ufrag: client_ufrag.to_string(),
            pwd: client_pwd.to_string(),
            fingerprint: client_fingerprint.map(|f| format!("sha-256 {f}")),
        })
        .await
        .map(|e| e.transport)
}

/// `172.30.77.10 (PROXY_IP)` — addresses named by role so reports read the same in any slot
/// (a live site has no roles: its addresses are shown as they are).
pub fn named(plan: Option<&AddressPlan>, ip: &str) -> String {
    match ip
        .parse::<Ipv4Addr>()
        .ok()
        .and_then(|a| plan.and_then(|p| p.role_of(a)))
    {
        Some(role) => format!("{ip} ({role})"),
        None => ip.to_string(),
    }
}

pub fn show(plan: Option<&AddressPlan>, c: &ParsedCandidate) -> String {
    let mut s = format!("{} {} {}:{}", c.protocol, c.typ, named(plan, &c.ip), c.port);
    if let Some(t) = &c.tcptype {
        s.push_str(&format!(" tcptype {t}"));
    }
    if let (Some(a), Some(p)) = (&c.rel_addr, c.rel_port) {
        s.push_str(&format!(" rel {}:{p}", named(plan, a)));
    }
    s
}

pub fn list(plan: Option<&AddressPlan>, cs: &[ParsedCandidate]) -> String {
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
    /// The bridge's files modified after the running bridge started, with how many seconds
    /// after: what it runs with is not what is on disk.
    pub changed_after_start: Vec<(String, f64)>,
}

/// Run in the bridge host: the running bridge's start (boot time, start in clock ticks, ticks
/// per second) and its files' modification times, as an operator would compare them.
const STARTED_AND_MODIFIED: &str = r#"pid=
for p in /proc/[0-9]*; do
  # The bridge's own process, not this script (whose text names it too).
  [ "${p#/proc/}" = "$$" ] && continue
  case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in "/usr/local/bin/jitsi-conformance fake-bridge serve "*) pid=${p#/proc/} ;; esac
done
[ -n "$pid" ] || exit 3
# btime has whole seconds only: the start is now minus the process's age (uptime - start ticks).
echo "start $(date +%s.%N) $(awk '{print $1}' /proc/uptime) $(awk '{print $22}' "/proc/$pid/stat") $(getconf CLK_TCK)"
for f in /etc/jitsi/videobridge/sip-communicator.properties /etc/jitsi/videobridge/jvb.conf; do
  [ -f "$f" ] && echo "mtime $f $(date -r "$f" +%s.%N)"
done
"#;

/// Files changed after the bridge started, from [`STARTED_AND_MODIFIED`]'s output.
pub fn changed_after_start(out: &str) -> Vec<(String, f64)> {
    let mut start = None;
    let mut changed = Vec::new();
    for l in out.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["start", now, uptime, ticks, hz] => {
                if let (Ok(n), Ok(u), Ok(t), Ok(h)) = (
                    now.parse::<f64>(),
                    uptime.parse::<f64>(),
                    ticks.parse::<f64>(),
                    hz.parse::<f64>(),
                ) {
                    start = Some(n - (u - t / h.max(1.0)));
                }
            }
            ["mtime", file, at] => {
                if let (Some(s), Ok(m)) = (start, at.parse::<f64>()) {
                    // Clock ticks are 10 ms: anything later than that is after the start.
                    if m > s + 0.02 {
                        changed.push((file.to_string(), m - s));
                    }
                }
            }
            _ => {}
        }
    }
    changed
}

impl BridgeFiles {
    /// The lab bridge's files (none for a live site: they are not reachable from outside).
    pub async fn read(ctx: &Ctx<'_>) -> BridgeFiles {
        let Some(lab) = ctx.lab() else {
            return BridgeFiles::default();
        };
        let cat = |path: &'static str| async move {
            match lab.exec(Role::Bridge, &["cat", path]).await {
                Ok((0, text)) => Some(text),
                _ => None,
            }
        };
        let times = async {
            match lab
                .exec(Role::Bridge, &["sh", "-c", STARTED_AND_MODIFIED])
                .await
            {
                Ok((0, out)) => changed_after_start(&out),
                _ => Vec::new(),
            }
        };
        let (properties, jvb_conf, jicofo, changed_after_start) = tokio::join!(
            cat(JVB_PROPERTIES),
            cat(JVB_CONF),
            cat(JICOFO_PROPERTIES),
            times
        );
        BridgeFiles {
            properties,
            jvb_conf,
            jicofo,
            changed_after_start,
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

/// Why there is no srflx candidate, in words an operator can act on (a live site's files are
/// out of reach: only what it advertised is said).
pub fn diagnose_no_srflx(
    plan: Option<&AddressPlan>,
    candidates: &[ParsedCandidate],
    files: &BridgeFiles,
) -> String {
    let Some(lab_plan) = plan else {
        return "no srflx candidate: the bridge maps no host address to a public one (NAT_HARVESTER_LOCAL_ADDRESS/PUBLIC_ADDRESS or ice4j.harvest.mapping.static-mappings)".to_string();
    };
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
                lab_plan.bridge_ip, lab_plan.public_ip
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
            lab_plan.bridge_ip
        );
    }
    if !files.changed_after_start.is_empty() {
        let which: Vec<String> = files
            .changed_after_start
            .iter()
            .map(|(f, s)| format!("{f} modified {s:.1} s after it started"))
            .collect();
        return format!(
            "no srflx candidate, although the bridge's files on disk map {} to a public address: they changed after the running bridge started ({}), so they differ from what it read; the bridge reads its config only at start: restart jitsi-videobridge (systemctl restart jitsi-videobridge2)",
            settings
                .mappings
                .iter()
                .map(|m| named(plan, &m.local_address.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            which.join(", ")
        );
    }
    format!("no matching srflx candidate although a mapping matches a host address ({hosts})")
}

#[cfg(test)]
mod tests {
    use super::changed_after_start;

    #[test]
    fn files_written_after_the_bridge_started_are_named() {
        // Now 1000.5, up 200.0 s, the bridge started 150.00 s after boot (15000 ticks at 100 Hz):
        // it is 50 s old, so it started at 950.5.
        let out = "start 1000.5 200.00 15000 100\nmtime /a 950.49\nmtime /b 951.0\n";
        let got = changed_after_start(out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "/b");
        assert!((got[0].1 - 0.5).abs() < 1e-6);
    }
}
