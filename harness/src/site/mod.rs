//! The site under test, read from its config files as the programs that own them read them,
//! and the pre-change run (SPEC section 8): the operator's files, as they keep them, turned into
//! a lab profile in which whatever is wrong in production is wrong in the lab, and nothing else.
//!
//! The data flows one way:
//! - [`files`]: the files (checked to be text) and the declared roles (flags, `site.toml`);
//! - the readers: [`apache`], [`iptables`], [`coturn`], [`prosody`], and the bridge's own
//!   (`jc_videobridge::config`);
//! - [`roles`]: each role declared, or inferred only where every line naming it agrees;
//! - [`addrmap`]: one address map for every file; every rewritten line goes into the report's
//!   `translation`;
//! - [`stage`]: what the lab stands in for (certificates at the operator's paths, certbot's
//!   include, the return path, ...), each an [`Assumption`] naming the checks that rest on it;
//! - [`lint`]: cross-file findings, before any container starts.

pub mod addrmap;
pub mod apache;
pub mod coturn;
pub mod files;
pub mod iptables;
pub mod lint;
pub mod prosody;
pub mod roles;
pub mod stage;

pub use files::{Declared, OperatorFiles};

use crate::error::ConfigError;
use crate::profile::{self, BackendCert, Manifest, Profile, ProxyCert, ReturnPath, SourceFile};
use addrmap::{AddressMap, OperatorSite};
use jc_videobridge::config::{hocon, properties, websockets::WebsocketSettings, IceSettings};
use roles::{Evidence, Roles, Source};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// Every file of the site, parsed.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub vhost_file: String,
    pub apache: apache::Config,
    pub rules_file: String,
    pub rules: iptables::Ruleset,
    pub props: Option<properties::Properties>,
    pub conf: Option<hocon::Document>,
    pub jicofo: Option<properties::Properties>,
    pub coturn: Option<coturn::Coturn>,
    pub prosody: Option<prosody::Prosody>,
}

fn lift(e: jc_videobridge::config::ParseError) -> ConfigError {
    ConfigError::new(e.file, e.line, e.reason)
}

impl Parsed {
    /// Reads and parses every file given; the first one that does not read or parse stops it.
    pub fn read(files: &OperatorFiles) -> Result<Parsed, ConfigError> {
        let vhost_text = files::read_text(&files.vhost)?;
        let rules_text = files::read_text(&files.rules)?;
        let props = |p: &Option<std::path::PathBuf>| -> Result<_, ConfigError> {
            p.as_ref()
                .map(|p| {
                    properties::parse(&files::read_properties(p)?, &p.display().to_string())
                        .map_err(lift)
                })
                .transpose()
        };
        Ok(Parsed {
            vhost_file: files.vhost.display().to_string(),
            apache: apache::parse(&files.vhost, &vhost_text)?,
            rules_file: files.rules.display().to_string(),
            rules: iptables::parse(&files.rules, &rules_text)?,
            props: props(&files.bridge_config)?,
            conf: files
                .jvb_conf
                .as_ref()
                .map(|p| {
                    hocon::parse(&files::read_text(p)?, &p.display().to_string()).map_err(lift)
                })
                .transpose()?,
            jicofo: props(&files.jicofo_config)?,
            coturn: files
                .turn_config
                .as_ref()
                .map(|p| coturn::parse(p, &files::read_text(p)?))
                .transpose()?,
            prosody: files
                .prosody_config
                .as_ref()
                .map(|p| prosody::parse(p, &files::read_text(p)?))
                .transpose()?,
        })
    }

    /// The bridge's settings as JVB resolves them from its own two files.
    pub fn ice(&self) -> Result<IceSettings, ConfigError> {
        IceSettings::resolve(self.props.as_ref(), self.conf.as_ref()).map_err(lift)
    }

    pub fn websockets(&self) -> WebsocketSettings {
        WebsocketSettings::resolve(self.props.as_ref(), self.conf.as_ref())
    }

    fn mapping_lines(&self, local: bool) -> Vec<Evidence<Ipv4Addr>> {
        let mut out = Vec::new();
        if let Some(p) = &self.props {
            let key = if local {
                jc_videobridge::config::keys::NAT_HARVESTER_LOCAL_ADDRESS
            } else {
                jc_videobridge::config::keys::NAT_HARVESTER_PUBLIC_ADDRESS
            };
            if let Some(e) = p.entry(key) {
                if let Ok(a) = e.value.trim().parse() {
                    out.push(Evidence {
                        value: a,
                        source: Source {
                            file: p.file.clone(),
                            line: e.line,
                        },
                        what: key.rsplit('.').next().unwrap_or(key).to_string(),
                    });
                }
            }
        }
        if let Some(c) = &self.conf {
            let key = if local {
                "local-address"
            } else {
                "public-address"
            };
            let items = c
                .get(jc_videobridge::config::keys::CONF_STATIC_MAPPINGS)
                .and_then(|n| n.as_list())
                .unwrap_or_default();
            for item in items {
                if let Some(n) = item.get(key) {
                    if let Some(a) = n.as_str().and_then(|s| s.trim().parse().ok()) {
                        out.push(Evidence {
                            value: a,
                            source: Source {
                                file: c.file.clone(),
                                line: n.line,
                            },
                            what: format!("static-mappings {key}"),
                        });
                    }
                }
            }
        }
        out
    }

    /// Lines in the bridge's files naming its own LAN address.
    pub fn bridge_local_addresses(&self) -> Vec<Evidence<Ipv4Addr>> {
        self.mapping_lines(true)
    }

    /// Lines in the bridge's files naming the public address.
    pub fn bridge_public_addresses(&self) -> Vec<Evidence<Ipv4Addr>> {
        self.mapping_lines(false)
    }

    fn external_ip_lines(&self, private: bool) -> Vec<Evidence<Ipv4Addr>> {
        let Some(c) = &self.coturn else {
            return Vec::new();
        };
        c.external_ips()
            .into_iter()
            .filter_map(|x| {
                let value = if private { x.private? } else { x.public };
                Some(Evidence {
                    value,
                    source: Source {
                        file: c.file.clone(),
                        line: x.line,
                    },
                    what: "coturn external-ip".into(),
                })
            })
            .collect()
    }

    /// coturn's `external-ip` public parts.
    pub fn turn_public_addresses(&self) -> Vec<Evidence<Ipv4Addr>> {
        self.external_ip_lines(false)
    }

    /// coturn's `external-ip` private parts: coturn runs on the bridge host, as Jitsi installs it.
    pub fn turn_private_addresses(&self) -> Vec<Evidence<Ipv4Addr>> {
        self.external_ip_lines(true)
    }
}

/// One line the lab runs differently from the operator's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Translated {
    pub file: String,
    pub line: usize,
    pub from: String,
    /// With the map's placeholders until the lab's addresses are known ([`Prepared::translation`]).
    pub to: String,
}

/// Something the lab stands in for, and the checks whose verdict rests on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Assumption {
    pub id: String,
    pub text: String,
    pub checks: Vec<String>,
}

/// A pre-change run, ready for the lab.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub profile: Profile,
    pub roles: Roles,
    pub map: AddressMap,
    translation: Vec<Translated>,
    pub assumptions: Vec<Assumption>,
    pub lint: Vec<lint::Finding>,
}

impl Prepared {
    /// Every rewritten line, with the lab's addresses of `plan`.
    pub fn translation(&self, plan: &crate::net::AddressPlan) -> Vec<Translated> {
        self.translation
            .iter()
            .map(|t| Translated {
                to: profile::render(&t.to, &|n| plan.resolve(n)),
                ..t.clone()
            })
            .collect()
    }

    /// (lab value, operator value) pairs for naming lab values back in the operator's terms.
    pub fn back(&self, plan: &crate::net::AddressPlan) -> Vec<(String, String)> {
        self.map
            .entries()
            .into_iter()
            .map(|(theirs, ph)| (profile::render(&ph, &|n| plan.resolve(n)), theirs))
            .filter(|(lab, theirs)| lab != theirs && !lab.contains("${"))
            .collect()
    }
}

/// The declared roles: flags over `site.toml` beside the vhost.
fn declared(files: &OperatorFiles) -> Result<Declared, ConfigError> {
    let from_toml = files::site_toml(&files.vhost)?;
    let d = match from_toml {
        Some((_, t)) => files.declared.clone().or(t),
        None => files.declared.clone(),
    };
    Ok(d)
}

/// Reads, infers and maps everything; exit 2 material on any error.
pub fn prepare(files: &OperatorFiles) -> Result<Prepared, ConfigError> {
    let declared = declared(files)?;
    let parsed = Parsed::read(files)?;
    let roles = roles::infer(&parsed, &declared, false)?;
    let mut lint = lint::run(&parsed, &roles);
    lint.sort();
    let site = OperatorSite {
        public_ip: roles.public_ip.value(),
        proxy_ip: roles.proxy_ip.value(),
        bridge_ip: roles.bridge_ip.value(),
        router_lan_ip: roles.router_lan_ip,
        lan: roles.lan_subnet.value().or_else(|| {
            roles
                .bridge_ip
                .value()
                .or(roles.proxy_ip.value())
                .map(|a| ipnet::Ipv4Net::new(a, 24).expect("valid").trunc())
        }),
    };
    let mut map = AddressMap::new(site);
    let mut translation = Vec::new();
    let mut stage = stage::Stage::new(&parsed, &roles, files);

    let mut texts: BTreeMap<&'static str, SourceFile> = BTreeMap::new();
    let mut put = |rel: &'static str,
                   path: &Path,
                   text: String,
                   map: &mut AddressMap,
                   translation: &mut Vec<Translated>,
                   rewrite: &dyn Fn(usize, &str) -> Option<String>| {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let base = rewrite(i + 1, line).unwrap_or_else(|| line.to_string());
            let lab = map.line(&base);
            if lab != line {
                translation.push(Translated {
                    file: path.display().to_string(),
                    line: i + 1,
                    from: line.to_string(),
                    to: lab.clone(),
                });
            }
            out.push(lab);
        }
        let mut joined = out.join("\n");
        if text.ends_with('\n') {
            joined.push('\n');
        }
        texts.insert(
            rel,
            SourceFile {
                origin: path.to_path_buf(),
                text: joined,
            },
        );
    };
    let none = |_: usize, _: &str| None;
    let vhost_rewrites = stage.vhost_rewrites();
    put(
        profile::VHOST,
        &files.vhost,
        files::read_text(&files.vhost)?,
        &mut map,
        &mut translation,
        &|n, _| vhost_rewrites.get(&n).cloned(),
    );
    put(
        profile::RULES,
        &files.rules,
        files::read_text(&files.rules)?,
        &mut map,
        &mut translation,
        &none,
    );
    for (rel, path, props) in [
        (profile::JVB_PROPERTIES, &files.bridge_config, true),
        (profile::JVB_CONF, &files.jvb_conf, false),
        (profile::JICOFO_PROPERTIES, &files.jicofo_config, true),
        (profile::TURN_CONF, &files.turn_config, false),
        (profile::PROSODY_CONF, &files.prosody_config, false),
    ] {
        if let Some(p) = path {
            let text = if props {
                files::read_properties(p)?
            } else {
                files::read_text(p)?
            };
            put(rel, p, text, &mut map, &mut translation, &none);
        }
    }

    let ice = parsed.ice()?;
    let ice_tcp = files.tcp.unwrap_or(ice.tcp.is_some());
    stage.bridge(files, &parsed, ice_tcp);
    let fqdn = roles.fqdn.value().expect("infer always names the FQDN");
    let manifest = Manifest {
        description: format!("pre-change run of {}", files.vhost.display()),
        ice_tcp,
        return_path: ReturnPath::Routed,
        backend_cert: if stage.verifies_upstream() {
            BackendCert::LabCa
        } else {
            BackendCert::SelfSigned
        },
        proxy_cert: ProxyCert::Lab,
        fqdn: Some(fqdn),
        operator_cert: files.cert.clone(),
        turn: files.turn_config.is_some(),
        expect: Default::default(),
    };
    let assumptions = stage.assumptions(&parsed, &roles, files);
    let profile = Profile {
        name: profile::OPERATOR.into(),
        manifest,
        files: texts,
        fault: None,
        stage: stage.into_lab(),
        late_files: BTreeMap::new(),
    };
    Ok(Prepared {
        profile,
        roles,
        map,
        translation,
        assumptions,
        lint,
    })
}

/// `jitsi-conformance lint`: the findings, with no lab (roles that disagree are findings here,
/// not an error: lint is where an operator looks for them).
pub fn lint_only(files: &OperatorFiles) -> Result<Vec<lint::Finding>, ConfigError> {
    let declared = declared(files)?;
    let parsed = Parsed::read(files)?;
    let roles = roles::infer(&parsed, &declared, true)?;
    let mut f = lint::run(&parsed, &roles);
    f.sort();
    f.dedup();
    Ok(f)
}
