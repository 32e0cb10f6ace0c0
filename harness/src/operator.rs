//! The pre-change run: an operator's own files, as they keep them, turned into a lab profile.
//!
//! Real addresses are found by their role (the public address the DNATs match, the proxy and
//! the bridge they forward to, the LAN the MASQUERADE covers) and replaced by the lab's
//! placeholders, so the lab never takes over a real range on this host; the report names them
//! back in the operator's terms. Certificate paths and certbot Includes in the vhost are
//! pointed at the lab's, each on its own line, so Apache's line numbers stay the operator's.

use crate::net::AddressPlan;
use crate::profile::{self, BackendCert, Manifest, Profile, ProxyCert, ReturnPath, SourceFile};
use crate::rules;
use crate::vhost::ConfigError;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct OperatorFiles {
    pub vhost: PathBuf,
    pub rules: PathBuf,
    pub bridge_config: Option<PathBuf>,
    pub jvb_conf: Option<PathBuf>,
    pub jicofo_config: Option<PathBuf>,
    pub fqdn: Option<String>,
    pub public_ip: Option<Ipv4Addr>,
    pub tcp: Option<bool>,
    /// The operator's own certificate and key (PEM); tls/cert/* judge it when given.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Interface names the rules use, for the router's wan and lan sides.
    pub wan_if: Option<String>,
    pub lan_if: Option<String>,
}

/// What was found in the operator's files, by role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    pub public_ip: Option<Ipv4Addr>,
    pub proxy_ip: Option<Ipv4Addr>,
    pub bridge_ip: Option<Ipv4Addr>,
    pub lan_subnet: Option<String>,
}

/// The translation back from lab addresses to the operator's, for the report.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    pub pairs: Vec<(String, String)>,
}

impl Translation {
    /// The operator's view of a lab text: lab addresses replaced by theirs.
    pub fn to_operator(&self, text: &str) -> String {
        self.pairs
            .iter()
            .fold(text.to_string(), |t, (lab, theirs)| {
                replace_token(&t, lab, theirs)
            })
    }

    pub fn for_plan(found: &Addresses, plan: &AddressPlan) -> Self {
        let mut pairs = Vec::new();
        if let Some(ip) = found.public_ip {
            pairs.push((plan.public_ip.to_string(), ip.to_string()));
        }
        if let Some(ip) = found.proxy_ip {
            pairs.push((plan.proxy_ip.to_string(), ip.to_string()));
        }
        if let Some(ip) = found.bridge_ip {
            pairs.push((plan.bridge_ip.to_string(), ip.to_string()));
        }
        if let Some(s) = &found.lan_subnet {
            pairs.push((plan.lan.to_string(), s.clone()));
        }
        Translation { pairs }
    }
}

/// Replaces `from` where it stands as a whole address (not inside a longer one).
pub fn replace_token(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return text.to_string();
    }
    let is_addr_char = |c: char| c.is_ascii_digit() || c == '.';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        // A trailing dot ends a sentence, not an address.
        let after_ok = match after {
            None => true,
            Some('.') => !rest[at + from.len() + 1..].starts_with(|c: char| c.is_ascii_digit()),
            Some(c) => !is_addr_char(c),
        };
        let before_ok = before.is_none_or(|c| !is_addr_char(c));
        out.push_str(&rest[..at]);
        if before_ok && after_ok {
            out.push_str(to);
        } else {
            out.push_str(from);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

fn arg_after<'a>(spec: &'a str, flag: &str) -> Option<&'a str> {
    let mut w = spec.split_whitespace();
    while let Some(x) = w.next() {
        if x == flag {
            return w.next();
        }
    }
    None
}

fn ip_of(s: &str) -> Option<Ipv4Addr> {
    s.split(['/', ':']).next()?.parse().ok()
}

/// Finds the roles' addresses in an iptables-save ruleset.
pub fn find_addresses(set: &rules::Ruleset) -> Addresses {
    let mut a = Addresses::default();
    for r in set.rules.iter().filter(|r| r.table == "nat") {
        let dport = arg_after(&r.spec, "--dport");
        let to = arg_after(&r.spec, "--to-destination").and_then(ip_of);
        if r.spec.contains("-j DNAT") {
            if a.public_ip.is_none() {
                a.public_ip = arg_after(&r.spec, "-d").and_then(ip_of);
            }
            match dport {
                Some("443") | Some("80") => a.proxy_ip = a.proxy_ip.or(to),
                Some("10000") | Some("4443") => a.bridge_ip = a.bridge_ip.or(to),
                _ => {}
            }
        }
        if r.spec.contains("-j MASQUERADE") && a.lan_subnet.is_none() {
            a.lan_subnet = arg_after(&r.spec, "-s").map(str::to_string);
        }
    }
    a
}

/// Points the vhost's certificate material at the lab's files, line for line.
pub fn rewrite_vhost(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let word = trimmed
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            match word.as_str() {
                "sslcertificatefile" => format!("{indent}SSLCertificateFile /etc/jc/tls/proxy.pem"),
                "sslcertificatekeyfile" => {
                    format!("{indent}SSLCertificateKeyFile /etc/jc/tls/proxy.key")
                }
                "sslproxycacertificatefile" => {
                    format!("{indent}SSLProxyCACertificateFile /etc/jc/tls/lab-ca.pem")
                }
                "sslcertificatechainfile" => {
                    format!("{indent}# (lab: the chain is in proxy.pem) {trimmed}")
                }
                "include" | "includeoptional" if trimmed.contains("letsencrypt") => {
                    format!("{indent}# (lab: certbot's file is not in the lab) {trimmed}")
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

/// Maps the rules' interface names onto the lab router's (`wan`, `lan`).
fn rewrite_interfaces(
    file: &Path,
    text: &str,
    wan: Option<&str>,
    lan: Option<&str>,
) -> Result<String, ConfigError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        for k in 0..words.len() {
            if matches!(
                words[k].as_str(),
                "-i" | "-o" | "--in-interface" | "--out-interface"
            ) && k + 1 < words.len()
            {
                let name = words[k + 1].clone();
                let mapped = if Some(name.as_str()) == wan {
                    "wan"
                } else if Some(name.as_str()) == lan {
                    "lan"
                } else if name == "lo" {
                    "lo"
                } else {
                    return Err(ConfigError {
                        file: file.display().to_string(),
                        line: i + 1,
                        reason: format!("the rule names interface `{name}`: say which side it is with --wan-if {name} or --lan-if {name}"),
                    });
                };
                words[k + 1] = mapped.to_string();
            }
        }
        out.push(words.join(" "));
    }
    Ok(out.join("\n") + "\n")
}

/// Whether the bridge's own files turn ICE-TCP on, read with the bridge's own readers (the
/// same rules the fake bridge applies), so a file it cannot read fails here with its line.
fn bridge_has_ice_tcp(files: &OperatorFiles) -> Result<bool, ConfigError> {
    use jc_videobridge::config::{hocon, properties, IceSettings};
    let lift = |e: jc_videobridge::config::ParseError| ConfigError {
        file: e.file,
        line: e.line,
        reason: e.reason,
    };
    let props = match &files.bridge_config {
        Some(p) => Some(properties::parse(&read(p)?, &p.display().to_string()).map_err(lift)?),
        None => None,
    };
    let conf = match &files.jvb_conf {
        Some(p) => Some(hocon::parse(&read(p)?, &p.display().to_string()).map_err(lift)?),
        None => None,
    };
    let settings = IceSettings::resolve(props.as_ref(), conf.as_ref()).map_err(lift)?;
    Ok(settings.tcp.is_some())
}

fn read(p: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(p).map_err(|e| ConfigError {
        file: p.display().to_string(),
        line: 1,
        reason: e.to_string(),
    })
}

/// Turns the operator's files into a profile and the addresses found in them.
pub fn profile(files: &OperatorFiles) -> Result<(Profile, Addresses), ConfigError> {
    let rules_text = read(&files.rules)?;
    let set = rules::parse(&files.rules, &rules_text)?;
    let mut found = find_addresses(&set);
    if let Some(ip) = files.public_ip {
        found.public_ip = Some(ip);
    }
    let vhost_text = read(&files.vhost)?;
    let vhosts = crate::vhost::parse(&files.vhost, &vhost_text)?;
    if found.bridge_ip.is_none() {
        found.bridge_ip = vhost_text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("https://"))
            .and_then(|r| r.split(['/', ':']).next())
            .and_then(|h| h.parse().ok());
    }
    let fqdn = files
        .fqdn
        .clone()
        .or_else(|| vhosts.hosts.iter().find_map(|h| h.server_name.clone()));
    let translate = |text: &str| -> String {
        let mut t = text.to_string();
        if let Some(s) = &found.lan_subnet {
            t = replace_token(&t, s, "${LAN_SUBNET}");
        }
        for (ip, ph) in [
            (found.public_ip, "${PUBLIC_IP}"),
            (found.proxy_ip, "${PROXY_IP}"),
            (found.bridge_ip, "${BRIDGE_IP}"),
        ] {
            if let Some(ip) = ip {
                t = replace_token(&t, &ip.to_string(), ph);
            }
        }
        t
    };
    let mut map = BTreeMap::new();
    let rules_lab = rewrite_interfaces(
        &files.rules,
        &rules_text,
        files.wan_if.as_deref(),
        files.lan_if.as_deref(),
    )?;
    map.insert(
        profile::RULES,
        SourceFile {
            origin: files.rules.clone(),
            text: translate(&rules_lab),
        },
    );
    map.insert(
        profile::VHOST,
        SourceFile {
            origin: files.vhost.clone(),
            text: translate(&rewrite_vhost(&vhost_text)),
        },
    );
    for (rel, path) in [
        (profile::JVB_PROPERTIES, &files.bridge_config),
        (profile::JVB_CONF, &files.jvb_conf),
        (profile::JICOFO_PROPERTIES, &files.jicofo_config),
    ] {
        if let Some(p) = path {
            let text = read(p)?;
            map.insert(
                rel,
                SourceFile {
                    origin: p.clone(),
                    text: translate(&text),
                },
            );
        }
    }
    let tcp_on = bridge_has_ice_tcp(files)?;
    let verifies = vhost_text.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= 2
            && w[0].eq_ignore_ascii_case("SSLProxyVerify")
            && w[1].eq_ignore_ascii_case("require")
    });
    let manifest = Manifest {
        description: format!("pre-change run of {}", files.vhost.display()),
        ice_tcp: files.tcp.unwrap_or(tcp_on),
        return_path: ReturnPath::Routed,
        backend_cert: if verifies {
            BackendCert::LabCa
        } else {
            BackendCert::SelfSigned
        },
        proxy_cert: ProxyCert::Lab,
        fqdn,
        operator_cert: files.cert.clone(),
        expect: Default::default(),
    };
    Ok((
        Profile {
            name: profile::OPERATOR.into(),
            manifest,
            files: map,
            fault: None,
        },
        found,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_are_whole_addresses() {
        assert_eq!(
            replace_token("a 10.0.0.2 b 10.0.0.20 c 110.0.0.2", "10.0.0.2", "X"),
            "a X b 10.0.0.20 c 110.0.0.2"
        );
        assert_eq!(
            replace_token("to 10.0.0.2:443.", "10.0.0.2", "X"),
            "to X:443."
        );
        assert_eq!(replace_token("-d 10.0.0.2/32", "10.0.0.2", "X"), "-d X/32");
        assert_eq!(
            replace_token("-s 10.0.0.0/24 !", "10.0.0.0/24", "S"),
            "-s S !"
        );
    }

    #[test]
    fn roles_are_found_in_rules() {
        let text = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 198.51.100.77/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 10.1.2.10:443\n-A PREROUTING -d 198.51.100.77/32 -p udp -m udp --dport 10000 -j DNAT --to-destination 10.1.2.20:10000\n-A POSTROUTING -s 10.1.2.0/24 ! -d 10.1.2.0/24 -j MASQUERADE\nCOMMIT\n";
        let a = find_addresses(&rules::parse(Path::new("r"), text).unwrap());
        assert_eq!(a.public_ip, Some("198.51.100.77".parse().unwrap()));
        assert_eq!(a.proxy_ip, Some("10.1.2.10".parse().unwrap()));
        assert_eq!(a.bridge_ip, Some("10.1.2.20".parse().unwrap()));
        assert_eq!(a.lan_subnet.as_deref(), Some("10.1.2.0/24"));
    }

    #[test]
    fn vhost_keeps_its_lines() {
        let v = "<VirtualHost *:443>\n  SSLCertificateFile /etc/letsencrypt/live/x/fullchain.pem\n  SSLCertificateKeyFile /etc/letsencrypt/live/x/privkey.pem\n  Include /etc/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n";
        let r = rewrite_vhost(v);
        assert_eq!(r.lines().count(), v.lines().count());
        assert!(r.contains("SSLCertificateFile /etc/jc/tls/proxy.pem"));
        assert!(r.contains("# (lab: certbot's file is not in the lab) Include"));
    }

    #[test]
    fn interfaces_must_be_named() {
        let t = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -i eth0 -o eth1 -j ACCEPT\nCOMMIT\n";
        let e = rewrite_interfaces(Path::new("rules.v4"), t, None, None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("--wan-if eth0"));
        let ok = rewrite_interfaces(Path::new("rules.v4"), t, Some("eth0"), Some("eth1")).unwrap();
        assert!(ok.contains("-i wan -o lan"));
    }

    proptest! {
        #[test]
        fn replace_never_panics(t in "\\PC*", f in "[0-9./]{0,12}") {
            let _ = replace_token(&t, &f, "X");
            let _ = rewrite_vhost(&t);
        }
    }
}
