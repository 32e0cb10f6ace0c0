//! What the lab stands in for in a pre-change run, said out loud. The operator's vhost keeps its
//! lines: the lab puts its own certificates at the paths the vhost names, certbot's standard
//! `options-ssl-apache.conf` where it is included, the directories the vhost names; only an
//! `Include` of a file the lab cannot have is commented out (a `translation` line). Each stand-in
//! the verdicts rest on is an [`Assumption`] naming those checks; none turns a failure into a pass.

use super::{files::OperatorFiles, iptables, roles::Roles, Assumption, Parsed};
use crate::profile::{LabStage, StandIn};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where certbot's Apache plugin keeps the TLS options it includes in every vhost it writes.
pub const CERTBOT_OPTIONS: &str = "/etc/letsencrypt/options-ssl-apache.conf";

/// What Debian's apache2 package ships under /etc/apache2 (an Include of these is in the lab).
const DEBIAN_APACHE_DIRS: [&str; 6] = [
    "/etc/apache2/conf-available/",
    "/etc/apache2/conf-enabled/",
    "/etc/apache2/mods-available/",
    "/etc/apache2/mods-enabled/",
    "/etc/apache2/sites-available/",
    "/etc/apache2/sites-enabled/",
];

const PROXIED: [&str; 6] = [
    "proxy/backend/1",
    "proxy/backend/2",
    "proxy/backend/3",
    "proxy/websocket/1",
    "proxy/websocket/2",
    "proxy/forwarded/1",
];

fn server_root(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/etc/apache2/{p}")
    }
}

/// A path the lab may create or write in the proxy container: absolute, no `..`, printable.
fn sane(p: &str) -> bool {
    p.starts_with('/')
        && !p.split('/').any(|s| s == "..")
        && p.len() < 4096
        && !p.chars().any(|c| c.is_control())
        && !p.starts_with("/proc")
        && !p.starts_with("/sys")
        && !p.starts_with("/dev")
        && p != "/"
}

/// The stand-ins, collected from the operator's files.
#[derive(Debug, Clone, Default)]
pub struct Stage {
    lab: LabStage,
    vhost_rewrites: BTreeMap<usize, String>,
    dropped: Vec<(usize, String)>,
    optional_missing: Vec<(usize, String)>,
    certbot_include: Option<usize>,
    cert_paths: Vec<String>,
    upstream_verify: Option<(usize, String)>,
    proxy_ca: Vec<(usize, String)>,
    proxy_names: Vec<(usize, String)>,
    jvb_conf_missing: bool,
    props_missing: bool,
    tcp_declared: bool,
}

impl Stage {
    pub fn new(parsed: &Parsed, roles: &Roles, files: &OperatorFiles) -> Stage {
        let mut s = Stage::default();
        let ap = &parsed.apache;
        let vhost_text = std::fs::read_to_string(&files.vhost).unwrap_or_default();
        let lines: Vec<&str> = vhost_text.lines().collect();
        for inc in ap.includes().into_iter().filter(|i| i.active) {
            let path = server_root(&inc.path);
            if path == CERTBOT_OPTIONS {
                s.certbot_include = Some(inc.line);
                s.lab
                    .proxy_files
                    .push((CERTBOT_OPTIONS.into(), StandIn::CertbotOptions));
                continue;
            }
            if DEBIAN_APACHE_DIRS.iter().any(|d| path.starts_with(d)) {
                continue;
            }
            if inc.optional {
                // Apache skips a missing optional include: so does the lab, but say so.
                s.optional_missing.push((inc.line, inc.path.clone()));
                continue;
            }
            let original = lines.get(inc.line - 1).copied().unwrap_or_default();
            let indent: String = original.chars().take_while(|c| c.is_whitespace()).collect();
            s.vhost_rewrites.insert(
                inc.line,
                format!(
                    "{indent}# (lab: {} is not in the lab) {}",
                    inc.path,
                    original.trim_start()
                ),
            );
            s.dropped.push((inc.line, inc.path.clone()));
        }

        // Certificates at the paths the vhost names.
        let key_in_vhost = !ap.find("SSLCertificateKeyFile").is_empty();
        for (d, _) in ap.find("SSLCertificateFile") {
            let p = server_root(d.args.first().map(String::as_str).unwrap_or(""));
            if sane(&p) {
                s.cert_paths.push(p.clone());
                let what = if key_in_vhost {
                    StandIn::ProxyChain
                } else {
                    StandIn::ProxyChainWithKey
                };
                s.lab.proxy_files.push((p, what));
            }
        }
        for (name, what) in [
            ("SSLCertificateKeyFile", StandIn::ProxyKey),
            ("SSLCertificateChainFile", StandIn::LabRoot),
            ("SSLCACertificateFile", StandIn::LabRoot),
        ] {
            for (d, _) in ap.find(name) {
                let p = server_root(d.args.first().map(String::as_str).unwrap_or(""));
                if sane(&p) {
                    s.lab.proxy_files.push((p, what.clone()));
                }
            }
        }
        for (d, _) in ap.find("SSLProxyVerify") {
            if d.args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("require"))
            {
                s.upstream_verify = Some((d.line, "require".into()));
            }
        }
        for (d, _) in ap.find("SSLProxyCACertificateFile") {
            let p = server_root(d.args.first().map(String::as_str).unwrap_or(""));
            if sane(&p) {
                let what = match &files.backend_cert {
                    Some(_) => StandIn::File(files.backend_ca.clone().unwrap_or_default()),
                    None => StandIn::LabRoot,
                };
                s.proxy_ca.push((d.line, p.clone()));
                s.lab.proxy_files.push((p, what));
            }
        }
        for (d, _) in ap.find("SSLProxyCACertificatePath") {
            // A hashed directory: the lab puts its root there under its OpenSSL hash name
            // (proxy.sh runs c_rehash-like `openssl rehash`), keeping the line as written.
            let p = server_root(d.args.first().map(String::as_str).unwrap_or(""));
            if sane(&p) {
                s.proxy_ca.push((d.line, p.clone()));
                s.lab.proxy_hashed_dirs.push(p);
            }
        }
        s.lab.backend_pair = files.backend_cert.clone();

        // Directories the vhost names exist on the operator's machine.
        for name in [
            "DocumentRoot",
            "Alias",
            "ErrorLog",
            "CustomLog",
            "TransferLog",
        ] {
            for (d, _) in ap.find(name) {
                let arg = match name {
                    "Alias" => d.args.get(1),
                    _ => d.args.first(),
                };
                let Some(arg) = arg else { continue };
                if arg.starts_with('|') || arg.starts_with("syslog") {
                    continue;
                }
                let p = server_root(arg);
                let dir = match name {
                    "DocumentRoot" | "Alias" => p.trim_end_matches('/').to_string(),
                    _ => Path::new(&p)
                        .parent()
                        .map(|x| x.display().to_string())
                        .unwrap_or_default(),
                };
                if sane(&dir) {
                    s.lab.proxy_dirs.push(dir);
                }
            }
        }
        for (d, _) in ap.find("Directory") {
            if let Some(p) = d.args.first() {
                if !p.contains(['*', '?', '[', '~']) && sane(p) && !d.is("DirectoryMatch") {
                    s.lab.proxy_dirs.push(p.trim_end_matches('/').to_string());
                }
            }
        }
        s.lab.proxy_dirs.sort();
        s.lab.proxy_dirs.dedup();

        // Apache proxying to a name: the lab resolves it to the bridge.
        if let Some(fqdn) = roles.fqdn.value() {
            let vh = ap.select_vhost(&fqdn, crate::ports::HTTPS, None);
            for r in ap.proxy_routes(vh) {
                if let Some(t) = &r.target {
                    let host = t.host.trim_matches(['[', ']']);
                    if host.parse::<std::net::IpAddr>().is_err()
                        && !host.is_empty()
                        && host
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                        && !s.proxy_names.iter().any(|(_, h)| h == host)
                    {
                        s.proxy_names.push((r.line, host.to_string()));
                        s.lab.proxy_hosts.push(host.to_string());
                    }
                }
            }
        }

        s.lab.wan_if = roles.wan_if.value();
        s.lab.lan_if = roles.lan_if.value();
        s
    }

    pub fn vhost_rewrites(&self) -> BTreeMap<usize, String> {
        self.vhost_rewrites.clone()
    }

    pub fn verifies_upstream(&self) -> bool {
        self.upstream_verify.is_some()
    }

    /// The bridge's side: which of its files the operator gave.
    pub fn bridge(&mut self, files: &OperatorFiles, _parsed: &Parsed, _ice_tcp: bool) {
        self.jvb_conf_missing = files.jvb_conf.is_none();
        self.props_missing = files.bridge_config.is_none();
        self.tcp_declared = files.tcp.is_some();
    }

    /// The assumptions of this run.
    pub fn assumptions(
        &self,
        parsed: &Parsed,
        roles: &Roles,
        files: &OperatorFiles,
    ) -> Vec<Assumption> {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let vhost = &parsed.vhost_file;
        let mut out = Vec::new();
        if files.cert.is_none() {
            out.push(Assumption {
                id: "proxy-certificate".into(),
                text: format!(
                    "without --cert/--key the proxy presents the lab's certificate for {} (at {}), so yours is not judged",
                    roles.fqdn.value().unwrap_or_default(),
                    if self.cert_paths.is_empty() {
                        "the lab's own path".to_string()
                    } else {
                        self.cert_paths.join(", ")
                    }
                ),
                checks: ids(&["tls/cert/1", "tls/cert/2"]),
            });
        }
        if let Some((line, _)) = &self.upstream_verify {
            if files.backend_cert.is_none() {
                out.push(Assumption {
                    id: "backend-certificate".into(),
                    text: format!(
                        "SSLProxyVerify require ({vhost}:{line}) and no --backend-cert/--backend-ca: the backend presents a lab certificate that your {} is taken to trust",
                        if self.proxy_ca.is_empty() {
                            "proxy CA setting".to_string()
                        } else {
                            self.proxy_ca
                                .iter()
                                .map(|(l, p)| format!("{p} ({vhost}:{l})"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                    checks: ids(&PROXIED),
                });
            }
        }
        if let Some(line) = self.certbot_include {
            out.push(Assumption {
                id: "certbot-options".into(),
                text: format!(
                    "{vhost}:{line} includes {CERTBOT_OPTIONS}: the lab holds certbot's standard one (TLS 1.2 and 1.3, Mozilla's intermediate ciphers)"
                ),
                checks: ids(&["tls/protocol/1"]),
            });
        }
        let http_tls_proxy: Vec<String> = [
            "http/redirect/1",
            "http/redirect/2",
            "http/redirect/3",
            "http/acme/1",
            "http/acme/2",
            "http/acme/3",
            "http/acme/4",
            "tls/protocol/1",
            "tls/hsts/1",
        ]
        .into_iter()
        .chain(PROXIED)
        .map(String::from)
        .collect();
        for (line, path) in &self.dropped {
            out.push(Assumption {
                id: "include-missing".into(),
                text: format!(
                    "{vhost}:{line} includes {path}, which the lab does not have: its directives are not in the lab (the line is commented out)"
                ),
                checks: http_tls_proxy.clone(),
            });
        }
        for (line, path) in &self.optional_missing {
            out.push(Assumption {
                id: "include-missing".into(),
                text: format!(
                    "{vhost}:{line} optionally includes {path}, which the lab does not have: Apache skips it there"
                ),
                checks: http_tls_proxy.clone(),
            });
        }
        for (line, host) in &self.proxy_names {
            out.push(Assumption {
                id: "proxy-target-name".into(),
                text: format!(
                    "{vhost}:{line} proxies to the name {host}: the lab resolves it to the bridge"
                ),
                checks: ids(&PROXIED),
            });
        }
        if !masquerades_towards_lan(&parsed.rules, roles) {
            out.push(Assumption {
                id: "return-path".into(),
                text: "the rules do not source-NAT traffic towards the LAN, so the backends are taken to route back through the router (their default route)".into(),
                checks: ids(&[
                    "proxy/backend/1",
                    "proxy/backend/2",
                    "proxy/backend/3",
                    "proxy/websocket/1",
                    "proxy/websocket/2",
                    "proxy/forwarded/1",
                    "nat/udp/1",
                    "nat/udp/2",
                    "nat/tcp/1",
                    "ice/connect/1",
                    "ice/connect/2",
                ]),
            });
        }
        if self.jvb_conf_missing {
            let mut checks = vec!["proxy/websocket/2"];
            if !self.tcp_declared {
                checks.extend(["nat/tcp/1", "ice/candidates/4"]);
            }
            out.push(Assumption {
                id: "jvb-defaults".into(),
                text: "no --jvb-conf: the bridge runs with JVB's reference.conf defaults (no colibri websockets; ICE-TCP only if sip-communicator.properties enables it)".into(),
                checks: ids(&checks),
            });
        }
        if self.props_missing {
            out.push(Assumption {
                id: "bridge-properties".into(),
                text: "no --bridge-config: the bridge runs without a sip-communicator.properties (no legacy NAT_HARVESTER keys)".into(),
                checks: ids(&[
                    "ice/candidates/2",
                    "ice/candidates/3",
                    "ice/candidates/4",
                    "ice/connect/1",
                    "ice/connect/2",
                ]),
            });
        }
        if files.turn_config.is_some() && files.prosody_config.is_none() {
            out.push(Assumption {
                id: "turn-secret".into(),
                text: "no --prosody-config: TURN credentials are made with coturn's own static-auth-secret, as if prosody's matched it".into(),
                checks: ids(&["turn/udp/1", "turn/tls/1", "turn/relay/1"]),
            });
        }
        if matches!(roles.public_ip, super::roles::Resolved::Unnamed) {
            out.push(Assumption {
                id: "public-address".into(),
                text: "no line of your files names the public address (and no --public-ip): the lab's own stands for it".into(),
                checks: Vec::new(),
            });
        }
        if matches!(roles.lan_subnet, super::roles::Resolved::Unnamed) {
            out.push(Assumption {
                id: "lan-subnet".into(),
                text: "no MASQUERADE names the LAN (and no --lan-subnet): it is taken to be the /24 around the bridge".into(),
                checks: Vec::new(),
            });
        }
        let acme = parsed.apache.acme_root(parsed.apache.select_vhost(
            &roles.fqdn.value().unwrap_or_default(),
            crate::ports::HTTP,
            None,
        ));
        if let Some(problem) = &acme.problem {
            out.push(Assumption {
                id: "acme-location".into(),
                text: format!(
                    "where Apache serves the ACME challenge from could not be worked out ({}: {problem}); the token is put in Debian's default webroot",
                    acme.source
                ),
                checks: ids(&["http/acme/1", "http/acme/2", "http/acme/4"]),
            });
        }
        out
    }

    pub fn into_lab(self) -> LabStage {
        let mut lab = self.lab;
        let mut seen = BTreeSet::new();
        lab.proxy_files.retain(|(p, _)| seen.insert(p.clone()));
        lab
    }
}

/// Whether POSTROUTING source-NATs traffic headed for the LAN (then the backends answer the
/// router whatever their default route is).
fn masquerades_towards_lan(rules: &iptables::Ruleset, roles: &Roles) -> bool {
    let Some(backend) = roles.bridge_ip.value().or(roles.proxy_ip.value()) else {
        return false;
    };
    let mut pkt = iptables::Packet::new(
        iptables::Proto::Udp,
        "198.18.255.1".parse().expect("valid"),
        backend,
        crate::ports::MEDIA_UDP,
    );
    pkt.in_if = roles.wan_if.value();
    pkt.out_if = roles.lan_if.value();
    pkt.dnatted = true;
    matches!(
        rules.postrouting(&pkt).outcome,
        iptables::Outcome::Masquerade { .. } | iptables::Outcome::Snat { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_paths_are_written() {
        assert!(sane("/etc/letsencrypt/live/x/fullchain.pem"));
        for bad in ["relative", "/etc/../passwd", "/proc/x", "/", "/a\nb"] {
            assert!(!sane(bad), "{bad}");
        }
    }

    #[test]
    fn server_root_relative_paths() {
        assert_eq!(server_root("ssl/x.pem"), "/etc/apache2/ssl/x.pem");
        assert_eq!(server_root("/x"), "/x");
    }
}
