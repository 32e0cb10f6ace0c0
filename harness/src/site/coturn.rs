//! coturn's `turnserver.conf`, read as coturn 4.6 reads it (`src/apps/relay/mainrelay.c`
//! `read_config_file`): one option per line, `name=value` or `name value` or a bare flag, an
//! optional leading `--`, `#` comments. Unknown options are ignored with a warning by coturn
//! ("Bad configuration format"), so they are kept here and never refused.

use crate::error::ConfigError;
use std::net::Ipv4Addr;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coturn {
    pub file: String,
    pub entries: Vec<Entry>,
}

/// One `external-ip` line: the public address and, after `/`, the private one it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIp {
    pub public: Ipv4Addr,
    pub private: Option<Ipv4Addr>,
    pub line: usize,
}

pub fn parse(file: &Path, text: &str) -> Result<Coturn, ConfigError> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.trim_start_matches("--");
        let (key, value) = match line.find(|c: char| c == '=' || c.is_whitespace()) {
            Some(at) => (
                &line[..at],
                Some(line[at + 1..].trim().trim_matches('"').to_string()),
            ),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(ConfigError::new(
                file.display(),
                i + 1,
                format!("`{raw}` is not a coturn option (name=value)"),
            ));
        }
        entries.push(Entry {
            key: key.to_ascii_lowercase(),
            value: value.filter(|v| !v.is_empty()),
            line: i + 1,
        });
    }
    Ok(Coturn {
        file: file.display().to_string(),
        entries,
    })
}

impl Coturn {
    /// The last value given for `key` (coturn lets a later line override an earlier one).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.key == key)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// `static-auth-secret`, the TURN REST API secret (`use-auth-secret`).
    pub fn secret(&self) -> Option<&Entry> {
        self.get("static-auth-secret").filter(|e| e.value.is_some())
    }

    pub fn realm(&self) -> Option<&str> {
        self.get("realm").and_then(|e| e.value.as_deref())
    }

    fn port(&self, key: &str, default: u16) -> u16 {
        self.get(key)
            .and_then(|e| e.value.as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// `listening-port` (coturn's default 3478).
    pub fn listening_port(&self) -> u16 {
        self.port("listening-port", 3478)
    }

    /// `tls-listening-port` (coturn's default 5349).
    pub fn tls_listening_port(&self) -> u16 {
        self.port("tls-listening-port", 5349)
    }

    pub fn external_ips(&self) -> Vec<ExternalIp> {
        self.all("external-ip")
            .filter_map(|e| {
                let v = e.value.as_deref()?;
                let (public, private) = match v.split_once('/') {
                    Some((p, q)) => (p.trim().parse().ok()?, q.trim().parse().ok()),
                    None => (v.trim().parse().ok()?, None),
                };
                Some(ExternalIp {
                    public,
                    private,
                    line: e.line,
                })
            })
            .collect()
    }

    /// `denied-peer-ip` / `allowed-peer-ip` ranges (`a-b` or a single address).
    pub fn peer_ranges(&self, key: &str) -> Vec<(Ipv4Addr, Ipv4Addr, usize)> {
        self.all(key)
            .filter_map(|e| {
                let v = e.value.as_deref()?;
                let (lo, hi) = match v.split_once('-') {
                    Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
                    None => {
                        let a: Ipv4Addr = v.trim().parse().ok()?;
                        (a, a)
                    }
                };
                Some((lo, hi, e.line))
            })
            .collect()
    }

    /// Whether coturn would let the relay reach `peer` (mainrelay's `good_peer_addr`): an
    /// allowed range wins over a denied one; loopback needs `allow-loopback-peers`; private
    /// parts of `external-ip` are allowed since coturn 4.5.2.
    pub fn allows_peer(&self, peer: Ipv4Addr) -> bool {
        if peer.is_loopback() && !self.flag("allow-loopback-peers") {
            return false;
        }
        let within = |(lo, hi, _): &(Ipv4Addr, Ipv4Addr, usize)| peer >= *lo && peer <= *hi;
        if self.peer_ranges("allowed-peer-ip").iter().any(within)
            || self.external_ips().iter().any(|x| x.private == Some(peer))
        {
            return true;
        }
        !self.peer_ranges("denied-peer-ip").iter().any(within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JITSI: &str = "# jitsi-meet coturn config. Do not modify this line\nuse-auth-secret\nkeep-address-family\nstatic-auth-secret=s3cret\nrealm=meet.example.org\nlistening-port=3478\ntls-listening-port=5349\nexternal-ip=203.0.113.7/10.0.0.20\ndenied-peer-ip=10.0.0.0-10.255.255.255\nallowed-peer-ip=10.0.0.20\n";

    #[test]
    fn reads_jitsi_s_template() {
        let c = parse(Path::new("turnserver.conf"), JITSI).unwrap();
        assert!(c.flag("use-auth-secret"));
        assert_eq!(c.secret().unwrap().value.as_deref(), Some("s3cret"));
        assert_eq!(c.secret().unwrap().line, 4);
        assert_eq!(c.realm(), Some("meet.example.org"));
        assert_eq!(c.tls_listening_port(), 5349);
        let x = &c.external_ips()[0];
        assert_eq!(x.private, Some("10.0.0.20".parse().unwrap()));
        assert!(c.allows_peer("10.0.0.20".parse().unwrap()));
        assert!(!c.allows_peer("10.0.0.10".parse().unwrap()));
        assert!(c.allows_peer("8.8.8.8".parse().unwrap()));
    }
}
