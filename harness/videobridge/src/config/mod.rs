//! The bridge's configuration, read the way JVB reads it: once, at start, from
//! `/etc/jitsi/videobridge/sip-communicator.properties` (legacy keys) and
//! `/etc/jitsi/videobridge/jvb.conf` (HOCON), then resolved into
//! [`IceSettings`].
//!
//! Resolution rules (each names the source it follows):
//!
//! - Every setting that has both a legacy and a new key is a jitsi-metaconfig
//!   `config { legacy; new }` block: the first source that has the key wins, so
//!   the legacy property wins where both are set, and jvb.conf (with JVB's
//!   `reference.conf` defaults behind it) decides otherwise.
//!   (jitsi-videobridge `jvb/src/main/kotlin/org/jitsi/videobridge/ice/IceConfig.kt`,
//!   last version before ICE/TCP was removed in commit 55477be81.)
//! - ICE/TCP enabled = `!DISABLE_TCP_HARVESTER` if that legacy key is set, else
//!   `videobridge.ice.tcp.enabled` (default `false` in JVB's `reference.conf`).
//!   `TCP_HARVESTER_PORT`, `TCP_HARVESTER_MAPPED_PORT` and
//!   `TCP_HARVESTER_SSLTCP` do NOT enable TCP by themselves: with jvb.conf
//!   silent and no `DISABLE_TCP_HARVESTER=false`, ICE/TCP is off (IceConfig.kt
//!   `tcpEnabled`; `Harvesters.kt` creates the `TcpHarvester` only when it is
//!   true). JVB 1.x enabled TCP unless disabled; this follows 2.x.
//! - UDP port: `org.jitsi.videobridge.SINGLE_PORT_HARVESTER_PORT`, else
//!   `videobridge.ice.udp.port`, default 10000 (IceConfig.kt `port`).
//! - NAT mappings: the legacy pair `org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS`
//!   / `NAT_HARVESTER_PUBLIC_ADDRESS` (both needed) adds one mapping, first,
//!   alongside `ice4j.harvest.mapping.static-mappings` (ice4j
//!   `src/main/kotlin/org/ice4j/ice/harvest/HarvestConfig.kt` `staticMappings`);
//!   JVB copies `org.ice4j.*` properties into system properties at start
//!   (jvb `Main.kt` `getSystemPropertyDefaults`), which is why the legacy pair
//!   works from sip-communicator.properties.
//! - Mappings are then pruned like ice4j's `MappingCandidateHarvesters.maybeAdd`:
//!   a mapping whose local and public transport addresses are equal is
//!   discarded, and so is one whose local and public addresses both equal an
//!   earlier kept one's (ports ignored there).

pub mod hocon;
pub mod properties;
pub mod websockets;

use std::net::IpAddr;
use std::path::Path;

pub use hocon::Document as Hocon;
pub use properties::Properties;

/// Where the real bridge keeps its files.
pub const PROPERTIES_PATH: &str = "/etc/jitsi/videobridge/sip-communicator.properties";
pub const JVB_CONF_PATH: &str = "/etc/jitsi/videobridge/jvb.conf";

/// A syntax or configuration error, located in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl ParseError {
    pub fn new(file: &str, line: usize, reason: impl Into<String>) -> Self {
        ParseError {
            file: file.to_string(),
            line,
            reason: reason.into(),
        }
    }
}

/// Legacy keys (sip-communicator.properties).
pub mod keys {
    pub const DISABLE_TCP_HARVESTER: &str = "org.jitsi.videobridge.DISABLE_TCP_HARVESTER";
    pub const TCP_HARVESTER_PORT: &str = "org.jitsi.videobridge.TCP_HARVESTER_PORT";
    pub const TCP_HARVESTER_MAPPED_PORT: &str = "org.jitsi.videobridge.TCP_HARVESTER_MAPPED_PORT";
    pub const TCP_HARVESTER_SSLTCP: &str = "org.jitsi.videobridge.TCP_HARVESTER_SSLTCP";
    pub const SINGLE_PORT_HARVESTER_PORT: &str = "org.jitsi.videobridge.SINGLE_PORT_HARVESTER_PORT";
    pub const ICE_UFRAG_PREFIX: &str = "org.jitsi.videobridge.ICE_UFRAG_PREFIX";
    pub const NAT_HARVESTER_LOCAL_ADDRESS: &str =
        "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS";
    pub const NAT_HARVESTER_PUBLIC_ADDRESS: &str =
        "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS";
    pub const REQUIRE_MESSAGE_INTEGRITY: &str = "org.ice4j.REQUIRE_MESSAGE_INTEGRITY";
    pub const SOFTWARE: &str = "org.ice4j.SOFTWARE";
    pub const ALLOWED_ADDRESSES: &str = "org.ice4j.ice.harvest.ALLOWED_ADDRESSES";
    pub const TERMINATION_DELAY: &str = "org.ice4j.TERMINATION_DELAY";
    pub const BLOCKED_ADDRESSES: &str = "org.ice4j.ice.harvest.BLOCKED_ADDRESSES";

    // jvb.conf (HOCON) paths
    pub const CONF_TCP_ENABLED: &str = "videobridge.ice.tcp.enabled";
    pub const CONF_TCP_PORT: &str = "videobridge.ice.tcp.port";
    pub const CONF_TCP_MAPPED_PORT: &str = "videobridge.ice.tcp.mapped-port";
    pub const CONF_TCP_SSLTCP: &str = "videobridge.ice.tcp.ssltcp";
    pub const CONF_UDP_PORT: &str = "videobridge.ice.udp.port";
    pub const CONF_UFRAG_PREFIX: &str = "videobridge.ice.ufrag-prefix";
    pub const CONF_STATIC_MAPPINGS: &str = "ice4j.harvest.mapping.static-mappings";
    pub const CONF_SOFTWARE: &str = "ice4j.software";
    pub const CONF_TERMINATION_DELAY: &str = "ice4j.ice.termination-delay";
    pub const CONF_ALLOWED_ADDRESSES: &str = "ice4j.harvest.allowed-addresses";
    pub const CONF_BLOCKED_ADDRESSES: &str = "ice4j.harvest.blocked-addresses";
}

/// One NAT mapping (ice4j `HarvestConfig.StaticMapping`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaticMapping {
    pub local_address: IpAddr,
    pub public_address: IpAddr,
    /// Both ports set -> the mapping matches only that host port and
    /// advertises `public_port` (ice4j `MappingCandidateHarvester.matchPort`).
    pub local_port: Option<u16>,
    pub public_port: Option<u16>,
    pub name: Option<String>,
    /// Where it came from, e.g. `sip-communicator.properties:3`.
    pub origin: String,
}

/// ICE/TCP settings when enabled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TcpSettings {
    pub port: u16,
    pub mapped_port: Option<u16>,
    pub ssltcp: bool,
}

/// Everything the fake bridge's ICE side needs, resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IceSettings {
    pub udp_port: u16,
    /// `None` when ICE/TCP is disabled.
    pub tcp: Option<TcpSettings>,
    /// Mappings kept after pruning, in ice4j's order.
    pub mappings: Vec<StaticMapping>,
    /// Mappings discarded, with the reason.
    pub discarded_mappings: Vec<(StaticMapping, String)>,
    /// `org.ice4j.REQUIRE_MESSAGE_INTEGRITY` (default false: a request without
    /// MESSAGE-INTEGRITY is answered; ice4j `StunStack.validateRequestAttributes`).
    pub require_message_integrity: bool,
    /// SOFTWARE attribute value (ice4j `reference.conf` `ice4j.software`).
    pub software: String,
    pub ufrag_prefix: Option<String>,
    /// ice4j allowed/blocked host addresses (`HostCandidateHarvester.isAddressAllowed`).
    pub allowed_addresses: Vec<IpAddr>,
    pub blocked_addresses: Vec<IpAddr>,
    /// How long an agent stays COMPLETED before it is TERMINATED (ice4j `AgentConfig`
    /// `terminationDelay`: legacy `org.ice4j.TERMINATION_DELAY` in ms, else
    /// `ice4j.ice.termination-delay`, default 3 seconds). After it, checks from a new remote
    /// address or on a pair that was not selected get 403.
    pub termination_delay_ms: u64,
    /// Values that could not be used (bad numbers etc.), as "file:line: reason".
    pub warnings: Vec<String>,
}

impl Default for IceSettings {
    fn default() -> Self {
        IceSettings {
            udp_port: 10000,
            tcp: None,
            mappings: Vec::new(),
            discarded_mappings: Vec::new(),
            require_message_integrity: false,
            software: "ice4j.org".to_string(),
            ufrag_prefix: None,
            allowed_addresses: Vec::new(),
            blocked_addresses: Vec::new(),
            termination_delay_ms: 3000,
            warnings: Vec::new(),
        }
    }
}

/// Java's `Boolean.parseBoolean`: "true" in any case is true, anything else false.
pub(crate) fn java_bool(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("true")
}

struct Sources<'a> {
    props: Option<&'a Properties>,
    conf: Option<&'a Hocon>,
    warnings: Vec<String>,
}

impl<'a> Sources<'a> {
    fn legacy(&self, key: &str) -> Option<(&'a str, String)> {
        let p = self.props?;
        let e = p.entry(key)?;
        Some((e.value.as_str(), format!("{}:{}", p.file, e.line)))
    }

    fn conf(&self, path: &str) -> Option<(&'a hocon::Node, String)> {
        let c = self.conf?;
        let n = c.get(path)?;
        Some((n, format!("{}:{}", c.file, n.line)))
    }

    fn port(&mut self, legacy: &str, path: &str) -> Option<u16> {
        if let Some((v, at)) = self.legacy(legacy) {
            match v.trim().parse::<u16>() {
                Ok(p) => return Some(p),
                Err(_) => {
                    let w = format!("{at}: {legacy}={v:?} is not a port number; ignored");
                    self.warnings.push(w);
                }
            }
        }
        if let Some((n, at)) = self.conf(path) {
            match n.as_i64().and_then(|p| u16::try_from(p).ok()) {
                Some(p) => return Some(p),
                None => self
                    .warnings
                    .push(format!("{at}: {path} is not a port number; ignored")),
            }
        }
        None
    }

    fn boolean(&mut self, legacy: &str, invert_legacy: bool, path: &str) -> Option<bool> {
        if let Some((v, _)) = self.legacy(legacy) {
            return Some(java_bool(v) != invert_legacy);
        }
        if let Some((n, at)) = self.conf(path) {
            match n.as_bool() {
                Some(b) => return Some(b),
                None => self
                    .warnings
                    .push(format!("{at}: {path} is not a boolean; ignored")),
            }
        }
        None
    }

    fn string(&self, legacy: &str, path: &str) -> Option<String> {
        if let Some((v, _)) = self.legacy(legacy) {
            return Some(v.to_string());
        }
        self.conf(path)
            .and_then(|(n, _)| n.as_str().map(str::to_string))
    }

    /// ice4j's address lists: legacy `;`-separated, jvb.conf a list.
    fn addresses(&mut self, legacy: &str, path: &str) -> Vec<IpAddr> {
        if let Some((v, at)) = self.legacy(legacy) {
            let mut out = Vec::new();
            for a in v.split(';').filter(|s| !s.is_empty()) {
                match a.trim().parse() {
                    Ok(ip) => out.push(ip),
                    Err(_) => self
                        .warnings
                        .push(format!("{at}: invalid address {a:?} in {legacy}; ignored")),
                }
            }
            return out;
        }
        let mut out = Vec::new();
        if let Some((n, at)) = self.conf(path) {
            for item in n.as_list().unwrap_or_default() {
                match item.as_str().and_then(|s| s.parse().ok()) {
                    Some(ip) => out.push(ip),
                    None => self
                        .warnings
                        .push(format!("{at}: invalid address in {path}; ignored")),
                }
            }
        }
        out
    }
}

impl IceSettings {
    /// Resolve settings from the parsed files (either may be absent, as JVB
    /// runs without them). Errors are configuration errors JVB would fail on
    /// (a static mapping without `local-address`, ports given only on one side).
    pub fn resolve(
        props: Option<&Properties>,
        conf: Option<&Hocon>,
    ) -> Result<IceSettings, ParseError> {
        let mut s = Sources {
            props,
            conf,
            warnings: Vec::new(),
        };
        let mut out = IceSettings {
            udp_port: s
                .port(keys::SINGLE_PORT_HARVESTER_PORT, keys::CONF_UDP_PORT)
                .unwrap_or(10000),
            ..IceSettings::default()
        };

        // IceConfig.kt tcpEnabled / tcpPort / tcpMappedPort / iceSslTcp, with
        // JVB reference.conf defaults enabled=false, port=443, ssltcp=true.
        let tcp_enabled = s
            .boolean(keys::DISABLE_TCP_HARVESTER, true, keys::CONF_TCP_ENABLED)
            .unwrap_or(false);
        let tcp_port = s
            .port(keys::TCP_HARVESTER_PORT, keys::CONF_TCP_PORT)
            .unwrap_or(443);
        let mapped_port = s.port(keys::TCP_HARVESTER_MAPPED_PORT, keys::CONF_TCP_MAPPED_PORT);
        let ssltcp = s
            .boolean(keys::TCP_HARVESTER_SSLTCP, false, keys::CONF_TCP_SSLTCP)
            .unwrap_or(true);
        out.tcp = tcp_enabled.then_some(TcpSettings {
            port: tcp_port,
            mapped_port,
            ssltcp,
        });

        out.ufrag_prefix = s.string(keys::ICE_UFRAG_PREFIX, keys::CONF_UFRAG_PREFIX);
        if let Some(sw) = s.string(keys::SOFTWARE, keys::CONF_SOFTWARE) {
            out.software = sw;
        }
        // Only a system property in ice4j (StackProperties.REQUIRE_MESSAGE_INTEGRITY).
        out.require_message_integrity = s
            .legacy(keys::REQUIRE_MESSAGE_INTEGRITY)
            .map(|(v, _)| java_bool(v))
            .unwrap_or(false);
        out.allowed_addresses = s.addresses(keys::ALLOWED_ADDRESSES, keys::CONF_ALLOWED_ADDRESSES);
        if let Some((v, at)) = s.legacy(keys::TERMINATION_DELAY) {
            match v.trim().parse::<u64>() {
                Ok(ms) => out.termination_delay_ms = ms,
                Err(_) => s.warnings.push(format!(
                    "{at}: {}={v:?} is not a number of milliseconds; ignored",
                    keys::TERMINATION_DELAY
                )),
            }
        } else if let Some((n, at)) = s.conf(keys::CONF_TERMINATION_DELAY) {
            match n
                .as_str()
                .and_then(hocon_duration_ms)
                .or(n.as_i64().map(|v| v.max(0) as u64))
            {
                Some(ms) => out.termination_delay_ms = ms,
                None => s.warnings.push(format!(
                    "{at}: {} is not a duration; ignored",
                    keys::CONF_TERMINATION_DELAY
                )),
            }
        }
        out.blocked_addresses = s.addresses(keys::BLOCKED_ADDRESSES, keys::CONF_BLOCKED_ADDRESSES);

        // HarvestConfig.kt staticMappings: legacy pair first, then jvb.conf's.
        let mut candidates: Vec<StaticMapping> = Vec::new();
        if let (Some((local, at)), Some((public, _))) = (
            s.legacy(keys::NAT_HARVESTER_LOCAL_ADDRESS),
            s.legacy(keys::NAT_HARVESTER_PUBLIC_ADDRESS),
        ) {
            match (local.trim().parse::<IpAddr>(), public.trim().parse::<IpAddr>()) {
                (Ok(l), Ok(p)) => candidates.push(StaticMapping {
                    local_address: l,
                    public_address: p,
                    local_port: None,
                    public_port: None,
                    name: None,
                    origin: at,
                }),
                _ => s.warnings.push(format!(
                    "{at}: NAT_HARVESTER_LOCAL_ADDRESS/PUBLIC_ADDRESS {local:?}/{public:?} are not IP literals \
                     (ice4j would resolve names via DNS; the fake bridge does not); mapping ignored"
                )),
            }
        }
        if let Some(c) = conf {
            if let Some(node) = c.get(keys::CONF_STATIC_MAPPINGS) {
                let items = node.as_list().ok_or_else(|| {
                    ParseError::new(
                        &c.file,
                        node.line,
                        format!("{} must be a list", keys::CONF_STATIC_MAPPINGS),
                    )
                })?;
                for item in items {
                    candidates.push(static_mapping(&c.file, item)?);
                }
            }
        }

        // MappingCandidateHarvesters.maybeAdd (prune).
        for m in candidates {
            let lp = m.local_port.unwrap_or(9);
            let pp = m.public_port.unwrap_or(9);
            if m.local_address == m.public_address && lp == pp {
                out.discarded_mappings
                    .push((m, "local and public address are the same".to_string()));
                continue;
            }
            if out
                .mappings
                .iter()
                .any(|k| k.local_address == m.local_address && k.public_address == m.public_address)
            {
                out.discarded_mappings.push((
                    m,
                    "duplicate of an earlier mapping with the same addresses".to_string(),
                ));
                continue;
            }
            out.mappings.push(m);
        }
        out.warnings = s.warnings;
        Ok(out)
    }

    /// Read both files from `dir` (a missing file counts as empty, as for
    /// JVB); parse errors are returned as is.
    pub fn load_dir(dir: &Path) -> Result<IceSettings, ParseError> {
        let props_path = dir.join("sip-communicator.properties");
        let conf_path = dir.join("jvb.conf");
        Self::load(&props_path, &conf_path)
    }

    /// Read both files (missing = absent).
    pub fn load(props_path: &Path, conf_path: &Path) -> Result<IceSettings, ParseError> {
        let (props, conf) = read_files(props_path, conf_path)?;
        Self::resolve(props.as_ref(), conf.as_ref())
    }

    /// Read the real bridge's files at their Debian paths.
    pub fn load_default() -> Result<IceSettings, ParseError> {
        Self::load(Path::new(PROPERTIES_PATH), Path::new(JVB_CONF_PATH))
    }
}

/// The bridge's two files in `dir`, parsed (a missing file is absent, as for JVB).
pub fn read_dir(dir: &Path) -> Result<(Option<Properties>, Option<Hocon>), ParseError> {
    read_files(
        &dir.join("sip-communicator.properties"),
        &dir.join("jvb.conf"),
    )
}

fn read_files(
    props_path: &Path,
    conf_path: &Path,
) -> Result<(Option<Properties>, Option<Hocon>), ParseError> {
    let props = match std::fs::read(props_path) {
        Ok(bytes) => Some(properties::parse(
            &latin1_or_utf8(&bytes),
            &props_path.display().to_string(),
        )?),
        Err(_) => None,
    };
    let conf = match std::fs::read(conf_path) {
        Ok(bytes) => Some(hocon::parse(
            &String::from_utf8_lossy(&bytes),
            &conf_path.display().to_string(),
        )?),
        Err(_) => None,
    };
    Ok((props, conf))
}

/// A HOCON duration ("3 seconds", "500 ms", "2s") in milliseconds.
fn hocon_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = (s[..split].parse::<u64>().ok()?, s[split..].trim());
    let factor = match unit {
        "" | "ms" | "millis" | "milliseconds" | "millisecond" => 1,
        "s" | "second" | "seconds" => 1000,
        "m" | "minute" | "minutes" => 60_000,
        _ => return None,
    };
    Some(n * factor)
}

/// Properties files are ISO-8859-1 for `Properties.load(InputStream)`; accept
/// UTF-8 when it is valid (what people write today).
fn latin1_or_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

fn static_mapping(file: &str, item: &hocon::Node) -> Result<StaticMapping, ParseError> {
    let err = |reason: String| ParseError::new(file, item.line, reason);
    let addr = |key: &str| -> Result<IpAddr, ParseError> {
        let v = item
            .get(key)
            .and_then(|n| n.as_str())
            .ok_or_else(|| err(format!("static mapping without {key}")))?;
        v.trim().parse().map_err(|_| {
            err(format!(
                "{key} {v:?} is not an IP literal (the fake bridge does not resolve names)"
            ))
        })
    };
    let port = |key: &str| -> Result<Option<u16>, ParseError> {
        match item.get(key) {
            None => Ok(None),
            Some(n) => n
                .as_i64()
                .and_then(|p| u16::try_from(p).ok())
                .map(Some)
                .ok_or_else(|| err(format!("{key} is not a port number"))),
        }
    };
    let local_port = port("local-port")?;
    let public_port = port("public-port")?;
    if local_port.is_some() != public_port.is_some() {
        // HarvestConfig.kt: ConfigException "Inconsistent value for local-port and public-port"
        return Err(err(
            "Inconsistent value for local-port and public-port, both must be present or both missing.".into(),
        ));
    }
    Ok(StaticMapping {
        local_address: addr("local-address")?,
        public_address: addr("public-address")?,
        local_port,
        public_port,
        name: item
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string),
        origin: format!("{file}:{}", item.line),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(props: &str, conf: &str) -> IceSettings {
        let p = properties::parse(props, "sip-communicator.properties").unwrap();
        let c = hocon::parse(conf, "jvb.conf").unwrap();
        IceSettings::resolve(Some(&p), Some(&c)).unwrap()
    }

    /// jvb IceConfig.kt + reference.conf defaults.
    #[test]
    fn defaults_without_files() {
        let s = IceSettings::resolve(None, None).unwrap();
        assert_eq!(s.udp_port, 10000);
        assert_eq!(s.tcp, None);
        assert!(s.mappings.is_empty());
        assert_eq!(s.software, "ice4j.org");
        assert!(!s.require_message_integrity);
    }

    /// The reference profile (2020 blog): legacy keys only.
    #[test]
    fn legacy_tcp_and_nat_pair() {
        let s = settings(
            "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.20\n\
             org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n\
             org.jitsi.videobridge.DISABLE_TCP_HARVESTER=false\n\
             org.jitsi.videobridge.TCP_HARVESTER_PORT=4443\n",
            "",
        );
        assert_eq!(
            s.tcp,
            Some(TcpSettings {
                port: 4443,
                mapped_port: None,
                ssltcp: true
            })
        );
        assert_eq!(s.mappings.len(), 1);
        assert_eq!(
            s.mappings[0].local_address,
            "172.30.77.20".parse::<IpAddr>().unwrap()
        );
        assert_eq!(s.mappings[0].origin, "sip-communicator.properties:1");
    }

    /// IceConfig.kt tcpEnabled: only DISABLE_TCP_HARVESTER or
    /// videobridge.ice.tcp.enabled decide; a port alone does not enable TCP.
    #[test]
    fn tcp_port_alone_does_not_enable_tcp() {
        let s = settings("org.jitsi.videobridge.TCP_HARVESTER_PORT=4443\n", "");
        assert_eq!(s.tcp, None);
        let s = settings("", "videobridge.ice.tcp.port = 4443");
        assert_eq!(s.tcp, None);
        let s = settings("", "videobridge.ice.tcp { enabled = true }");
        assert_eq!(s.tcp.unwrap().port, 443);
    }

    /// IceConfig.kt: legacy property first, then jvb.conf.
    #[test]
    fn legacy_property_wins_over_jvb_conf() {
        let s = settings(
            "org.jitsi.videobridge.DISABLE_TCP_HARVESTER=true\n\
             org.jitsi.videobridge.TCP_HARVESTER_PORT=4443\n\
             org.jitsi.videobridge.TCP_HARVESTER_SSLTCP=false\n\
             org.jitsi.videobridge.SINGLE_PORT_HARVESTER_PORT=10001\n",
            "videobridge.ice { tcp { enabled = true, port = 5555, ssltcp = true }, udp.port = 10002 }",
        );
        assert_eq!(s.tcp, None);
        assert_eq!(s.udp_port, 10001);
        let s = settings(
            "org.jitsi.videobridge.DISABLE_TCP_HARVESTER=false\n\
             org.jitsi.videobridge.TCP_HARVESTER_SSLTCP=false\n",
            "videobridge.ice { tcp { enabled = false, port = 5555, ssltcp = true, mapped-port = 443 } }",
        );
        assert_eq!(
            s.tcp,
            Some(TcpSettings {
                port: 5555,
                mapped_port: Some(443),
                ssltcp: false
            })
        );
    }

    /// HarvestConfig.kt staticMappings: legacy pair first, then jvb.conf;
    /// MappingCandidateHarvesters.maybeAdd discards equal and duplicate ones.
    #[test]
    fn mappings_merge_and_prune() {
        let s = settings(
            "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.20\n\
             org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n",
            r#"ice4j.harvest.mapping.static-mappings = [
                 { local-address = "172.30.77.20", public-address = "198.51.100.2", name = "dup" },
                 { local-address = "172.30.77.20", public-address = "172.30.77.20" },
                 { local-address = "10.0.0.1", public-address = "198.51.100.3", local-port = 10000, public-port = 20000 }
               ]"#,
        );
        assert_eq!(s.mappings.len(), 2);
        assert_eq!(s.mappings[1].public_port, Some(20000));
        assert_eq!(s.discarded_mappings.len(), 2);
        assert!(s.discarded_mappings[0].1.contains("duplicate"));
        assert!(s.discarded_mappings[1].1.contains("same"));
    }

    /// HarvestConfig.kt: both ports or neither.
    #[test]
    fn one_sided_ports_are_an_error_with_line() {
        let c = hocon::parse(
            "ice4j.harvest.mapping.static-mappings = [\n  { local-address = \"1.1.1.1\", public-address = \"2.2.2.2\", local-port = 1 }\n]",
            "jvb.conf",
        )
        .unwrap();
        let e = IceSettings::resolve(None, Some(&c)).unwrap_err();
        assert_eq!(e.file, "jvb.conf");
        assert_eq!(e.line, 2);
    }

    /// HarvestConfig.kt: the legacy pair needs both keys.
    #[test]
    fn half_a_legacy_pair_adds_nothing() {
        let s = settings(
            "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n",
            "",
        );
        assert!(s.mappings.is_empty());
    }

    #[test]
    fn bad_numbers_are_warnings_and_fall_back() {
        let s = settings(
            "org.jitsi.videobridge.SINGLE_PORT_HARVESTER_PORT=ten\n",
            "videobridge.ice.udp.port = 10005",
        );
        assert_eq!(s.udp_port, 10005);
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn require_message_integrity_is_read_from_properties() {
        let s = settings("org.ice4j.REQUIRE_MESSAGE_INTEGRITY=true\n", "");
        assert!(s.require_message_integrity);
    }
}
