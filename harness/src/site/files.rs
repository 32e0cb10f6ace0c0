//! The operator's files as they keep them, and the roles they declare (flags, or a `site.toml`
//! beside the vhost file; flags win). Every file is checked to be text before anything reads it:
//! bad input stops the run with exit 2 and `file:line`, before any container starts.

use crate::error::ConfigError;
use ipnet::Ipv4Net;
use serde::Deserialize;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The files of a pre-change run (`lab --vhost ... --rules ...`) or of `lint`.
#[derive(Debug, Clone, Default)]
pub struct OperatorFiles {
    /// The Apache vhost file (it may hold several sites).
    pub vhost: PathBuf,
    /// The router's rules, as `iptables-save` writes them.
    pub rules: PathBuf,
    /// `/etc/jitsi/videobridge/sip-communicator.properties`.
    pub bridge_config: Option<PathBuf>,
    /// `/etc/jitsi/videobridge/jvb.conf`.
    pub jvb_conf: Option<PathBuf>,
    /// `/etc/jitsi/jicofo/sip-communicator.properties` (the bridge never reads it).
    pub jicofo_config: Option<PathBuf>,
    /// coturn's `/etc/turnserver.conf`.
    pub turn_config: Option<PathBuf>,
    /// prosody's config for the FQDN (`/etc/prosody/conf.d/FQDN.cfg.lua`).
    pub prosody_config: Option<PathBuf>,
    /// The proxy's own certificate (PEM chain) and key: tls/cert/* judge it.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// The backend's own certificate (PEM) and key, and the CA file the proxy trusts.
    pub backend_cert: Option<(PathBuf, PathBuf)>,
    pub backend_ca: Option<PathBuf>,
    /// ICE-TCP declared on or off (`--tcp`); otherwise read from the bridge's files as JVB does.
    pub tcp: Option<bool>,
    /// Roles given by flags.
    pub declared: Declared,
}

/// The roles of SPEC section 8 as the operator declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Declared {
    pub fqdn: Option<String>,
    pub public_ip: Option<Ipv4Addr>,
    pub proxy_ip: Option<Ipv4Addr>,
    pub bridge_ip: Option<Ipv4Addr>,
    pub lan_subnet: Option<Ipv4Net>,
    pub wan_if: Option<String>,
    pub lan_if: Option<String>,
}

impl Declared {
    /// `self` (flags) over `other` (site.toml).
    pub fn or(self, other: Declared) -> Declared {
        Declared {
            fqdn: self.fqdn.or(other.fqdn),
            public_ip: self.public_ip.or(other.public_ip),
            proxy_ip: self.proxy_ip.or(other.proxy_ip),
            bridge_ip: self.bridge_ip.or(other.bridge_ip),
            lan_subnet: self.lan_subnet.or(other.lan_subnet),
            wan_if: self.wan_if.or(other.wan_if),
            lan_if: self.lan_if.or(other.lan_if),
        }
    }
}

/// The `site.toml` beside the vhost file, if there is one.
pub fn site_toml(vhost: &Path) -> Result<Option<(PathBuf, Declared)>, ConfigError> {
    let path = vhost
        .parent()
        .map(|d| d.join("site.toml"))
        .unwrap_or_else(|| PathBuf::from("site.toml"));
    if !path.is_file() {
        return Ok(None);
    }
    let text = read_text(&path)?;
    let declared: Declared = toml::from_str(&text).map_err(|e| {
        // An unknown key is reported against the whole table: find its own line.
        let key_line = e
            .message()
            .split('`')
            .nth(1)
            .filter(|_| e.message().starts_with("unknown field"))
            .and_then(|k| {
                text.lines()
                    .position(|l| l.trim_start().starts_with(k))
                    .map(|i| i + 1)
            });
        let line = key_line.unwrap_or_else(|| {
            e.span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .unwrap_or(1)
        });
        ConfigError::new(path.display(), line, e.message().to_string())
    })?;
    Ok(Some((path, declared)))
}

/// A file's text, refusing what is not text (NUL bytes, not UTF-8).
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
        ConfigError::new(
            path.display(),
            line,
            "not a text file: it is not UTF-8 (give the file itself, not an archive or a binary)",
        )
    })
}

/// Java reads `.properties` as ISO-8859-1: any byte but NUL is text there.
pub fn read_properties(path: &Path) -> Result<String, ConfigError> {
    let bytes = read_bytes(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::new(path.display(), 1, e.to_string()))?;
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
        return Err(ConfigError::new(
            path.display(),
            line,
            "not a text file: it holds NUL bytes",
        ));
    }
    Ok(bytes)
}

/// A DNS name as a FQDN must be (RFC 1123 labels, at least two of them, not an address).
pub fn check_fqdn(name: &str) -> Result<String, String> {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| Err(format!("{name:?} is not a DNS name: {why}"));
    if n.is_empty() {
        return bad("it is empty");
    }
    if n.len() > 253 {
        return bad("it is longer than 253 characters");
    }
    if n.parse::<std::net::IpAddr>().is_ok() {
        return bad("it is an address; Jitsi needs a name for its certificate");
    }
    let labels: Vec<&str> = n.split('.').collect();
    if labels.len() < 2 {
        return bad("it has a single label; a FQDN has a domain (e.g. meet.example.org)");
    }
    for l in &labels {
        if l.is_empty() || l.len() > 63 {
            return bad("each label is 1 to 63 characters");
        }
        if !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return bad("only letters, digits, '-' and '.' may appear");
        }
        if l.starts_with('-') || l.ends_with('-') {
            return bad("a label cannot start or end with '-'");
        }
    }
    if labels
        .last()
        .is_some_and(|t| t.chars().all(|c| c.is_ascii_digit()))
    {
        return bad("the top-level label is all digits");
    }
    Ok(n)
}

/// An interface name as Linux allows it (what the lab's router is renamed to).
pub fn check_interface(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not an interface name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fqdns() {
        assert_eq!(check_fqdn("Meet.Example.org.").unwrap(), "meet.example.org");
        for bad in [
            "meet.example.org;rm -rf /",
            "meet",
            "10.0.0.1",
            "-a.example.org",
            "a..b",
            "meet.example.123",
            "",
            "mеet.example.org", // a Cyrillic e
        ] {
            assert!(check_fqdn(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn binary_files_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.conf");
        std::fs::write(&p, b"ok\nstill ok\n\0binary").unwrap();
        let e = read_text(&p).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("not a text file"));
        std::fs::write(&p, b"caf\xe9=1\n").unwrap();
        assert!(read_text(&p).is_err());
        assert_eq!(read_properties(&p).unwrap(), "caf\u{e9}=1\n");
    }

    #[test]
    fn site_toml_is_read_beside_the_vhost() {
        let dir = tempfile::tempdir().unwrap();
        let vhost = dir.path().join("meet.conf");
        assert_eq!(site_toml(&vhost).unwrap(), None);
        std::fs::write(
            dir.path().join("site.toml"),
            "fqdn = \"meet.example.org\"\nbridge-ip = \"10.0.0.20\"\nlan-subnet = \"10.0.0.0/24\"\n",
        )
        .unwrap();
        let (_, d) = site_toml(&vhost).unwrap().unwrap();
        assert_eq!(d.bridge_ip, Some("10.0.0.20".parse().unwrap()));
        std::fs::write(dir.path().join("site.toml"), "fqdn = \"a.b\"\nbridge = 1\n").unwrap();
        let e = site_toml(&vhost).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    proptest! {
        #[test]
        fn fqdn_check_never_panics(s in "\\PC{0,80}") {
            let _ = check_fqdn(&s);
            let _ = check_interface(&s);
        }
    }
}
