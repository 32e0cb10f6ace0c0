//! Profiles (SPEC section 5) and faults (section 6): a directory of config files in the
//! operator's form plus a small manifest, loaded, overlaid, validated and rendered.

use crate::error::ConfigError;
use crate::net::AddressPlan;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The files a profile may hold, relative to its directory.
pub const VHOST: &str = "apache/site.conf";
pub const RULES: &str = "router/rules.v4";
pub const JVB_PROPERTIES: &str = "videobridge/sip-communicator.properties";
pub const JVB_CONF: &str = "videobridge/jvb.conf";
pub const JICOFO_PROPERTIES: &str = "jicofo/sip-communicator.properties";
/// coturn's `/etc/turnserver.conf` (profiles with TURN).
pub const TURN_CONF: &str = "coturn/turnserver.conf";
/// prosody's config for the FQDN (its TURN secret and external services).
pub const PROSODY_CONF: &str = "prosody/site.cfg.lua";
/// The name of the profile a pre-change run builds from an operator's files.
pub const OPERATOR: &str = "operator";
const KNOWN_FILES: [&str; 7] = [
    VHOST,
    RULES,
    JVB_PROPERTIES,
    JVB_CONF,
    JICOFO_PROPERTIES,
    TURN_CONF,
    PROSODY_CONF,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnPath {
    /// Backends route via the router (symmetric NAT).
    Routed,
    /// The bridge host's replies bypass the router (fault material).
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendCert {
    /// Signed by the lab CA, for profiles whose proxy verifies the upstream.
    LabCa,
    /// Self-signed for the FQDN, as Jitsi's installer makes it.
    SelfSigned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyCert {
    Lab,
    Expired,
    WrongName,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub description: String,
    /// Whether the profile has ICE-TCP: decides nat/tcp/1 and ice/candidates/4, never what
    /// the bridge happens to advertise.
    pub ice_tcp: bool,
    pub return_path: ReturnPath,
    pub backend_cert: BackendCert,
    #[serde(default = "default_proxy_cert")]
    pub proxy_cert: ProxyCert,
    /// The FQDN the lab serves (default meet.lab.test); a pre-change run uses the operator's.
    #[serde(default)]
    pub fqdn: Option<String>,
    /// The operator's own certificate and key for the proxy (pre-change run only).
    #[serde(skip)]
    pub operator_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Whether the target has a TURN server (coturn on the bridge host, SPEC section 10): set
    /// from its files (coturn's config), never from probing port 3478.
    #[serde(skip)]
    pub turn: bool,
    /// The verdicts SPEC section 5 gives the profile, checked by the fault catalogue's test.
    #[serde(default)]
    pub expect: Expect,
}

/// A profile's or a case's verdicts, as exact sets (the catalogue's test compares them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// MUST checks that fail or error, exactly.
    #[serde(default)]
    pub must_fail: Vec<String>,
    /// SHOULD checks that warn, exactly.
    #[serde(default)]
    pub warn: Vec<String>,
    /// Checks that skip, exactly.
    #[serde(default)]
    pub skip: Vec<String>,
    /// Words a check's `actual` must contain: the diagnosis, not just the verdict.
    #[serde(default)]
    pub diagnosis: BTreeMap<String, Vec<String>>,
}

fn default_proxy_cert() -> ProxyCert {
    ProxyCert::Lab
}

/// Manifest fields a fault may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestOverride {
    pub ice_tcp: Option<bool>,
    pub return_path: Option<ReturnPath>,
    pub backend_cert: Option<BackendCert>,
    pub proxy_cert: Option<ProxyCert>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultManifest {
    pub description: String,
    /// The one change, in words.
    pub change: String,
    #[serde(default = "default_base")]
    pub base: String,
    /// The MUST failures the suite must report, exactly.
    pub must_fail: Vec<String>,
    /// SHOULD checks that must warn (others may warn too): the teeth of SHOULD-only faults.
    #[serde(default)]
    pub must_warn: Vec<String>,
    /// Words a check's `actual` must contain: the diagnosis, not just the verdict.
    #[serde(default)]
    pub diagnosis: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub manifest: ManifestOverride,
    /// Files of the base removed by the fault.
    #[serde(default)]
    pub remove: Vec<String>,
    /// The change as exact edits of the base's files: each `find` must occur exactly once.
    #[serde(default)]
    pub edit: Vec<Edit>,
    /// Files written back with the base's content once the lab is up, without restarting
    /// the program that reads them (the bridge reads its config only at start).
    #[serde(default)]
    pub after_start: Vec<String>,
}

/// One textual change to a profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub file: String,
    pub find: String,
    #[serde(default)]
    pub replace: String,
}

fn default_base() -> String {
    "reference".into()
}

/// One config file and where it came from (for file:line errors).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub origin: PathBuf,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub manifest: Manifest,
    pub files: BTreeMap<&'static str, SourceFile>,
    pub fault: Option<(String, FaultManifest)>,
    /// What the lab stands in for (a pre-change run's certificates, directories, names).
    pub stage: LabStage,
    /// Files written once the lab is up (a fault's `after_start`), by profile path.
    pub late_files: BTreeMap<&'static str, SourceFile>,
}

/// A file the lab puts where the operator's config expects one of theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandIn {
    /// The proxy's certificate chain (the lab's, or `--cert`).
    ProxyChain,
    /// The chain followed by the key, for a vhost that names no SSLCertificateKeyFile.
    ProxyChainWithKey,
    ProxyKey,
    /// The lab's root CA.
    LabRoot,
    /// certbot's standard `options-ssl-apache.conf`.
    CertbotOptions,
    /// One of the operator's own files.
    File(PathBuf),
}

/// The lab's side of a pre-change run: everything the lab puts in place so the operator's
/// files run as written. Empty for the shipped profiles.
#[derive(Debug, Clone, Default)]
pub struct LabStage {
    /// Files the proxy container gets at these paths.
    pub proxy_files: Vec<(String, StandIn)>,
    /// Directories the vhost names (DocumentRoot, Alias targets, log directories).
    pub proxy_dirs: Vec<String>,
    /// Hashed CA directories (SSLProxyCACertificatePath) the lab root goes into.
    pub proxy_hashed_dirs: Vec<String>,
    /// Names Apache proxies to that the proxy resolves to the bridge.
    pub proxy_hosts: Vec<String>,
    /// The router's interface names as the rules spell them (default `wan`/`lan`).
    pub wan_if: Option<String>,
    pub lan_if: Option<String>,
    /// The backend's own certificate and key (`--backend-cert`).
    pub backend_pair: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no profile `{name}`: looked for {dir}; known profiles: {known}")]
    NotFound {
        name: String,
        dir: String,
        known: String,
    },
    #[error("no fault `{name}`: looked for {dir}; known faults: {known}")]
    NoFault {
        name: String,
        dir: String,
        known: String,
    },
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{file}: {reason}")]
    Io { file: String, reason: String },
}

fn read(path: &Path) -> Result<String, ProfileError> {
    std::fs::read_to_string(path).map_err(|e| ProfileError::Io {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn toml_error(path: &Path, text: &str, e: toml::de::Error) -> ProfileError {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
        .unwrap_or(1);
    ConfigError {
        file: path.display().to_string(),
        line,
        reason: e.message().to_string(),
    }
    .into()
}

/// The names of the subdirectories of `dir`, for "known: ..." hints.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

impl Profile {
    /// Loads `fixtures/profiles/NAME`, or a directory given by path.
    pub fn load(fixtures: &Path, name_or_dir: &str) -> Result<Profile, ProfileError> {
        let as_path = Path::new(name_or_dir);
        let dir = if name_or_dir.contains('/') || as_path.is_absolute() {
            as_path.to_path_buf()
        } else {
            fixtures.join("profiles").join(name_or_dir)
        };
        let manifest_path = dir.join("manifest.toml");
        if !manifest_path.is_file() {
            return Err(ProfileError::NotFound {
                name: name_or_dir.into(),
                dir: dir.display().to_string(),
                known: names_in(&fixtures.join("profiles")).join(", "),
            });
        }
        let text = read(&manifest_path)?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|e| toml_error(&manifest_path, &text, e))?;
        let mut files = BTreeMap::new();
        for rel in KNOWN_FILES {
            let p = dir.join(rel);
            if p.is_file() {
                files.insert(
                    rel,
                    SourceFile {
                        text: read(&p)?,
                        origin: p,
                    },
                );
            }
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name_or_dir)
            .to_string();
        let mut manifest = manifest;
        manifest.turn = files.contains_key(TURN_CONF);
        let profile = Profile {
            name,
            manifest,
            files,
            fault: None,
            stage: LabStage::default(),
            late_files: BTreeMap::new(),
        };
        profile.validate_shape()?;
        Ok(profile)
    }

    /// Applies fault `name` (`fixtures/faults/NAME`) on top of its base profile.
    pub fn load_fault(fixtures: &Path, name: &str) -> Result<Profile, ProfileError> {
        let dir = fixtures.join("faults").join(name);
        let path = dir.join("fault.toml");
        if !path.is_file() {
            return Err(ProfileError::NoFault {
                name: name.into(),
                dir: dir.display().to_string(),
                known: names_in(&fixtures.join("faults")).join(", "),
            });
        }
        let text = read(&path)?;
        let fault: FaultManifest =
            toml::from_str(&text).map_err(|e| toml_error(&path, &text, e))?;
        let mut p = Profile::load(fixtures, &fault.base)?;
        for rel in &fault.after_start {
            let Some((known, f)) = p.files.iter().find(|(k, _)| *k == rel) else {
                return Err(ConfigError {
                    file: path.display().to_string(),
                    line: 1,
                    reason: format!("after_start: the base profile has no {rel}"),
                }
                .into());
            };
            p.late_files.insert(known, f.clone());
        }
        for rel in KNOWN_FILES {
            let f = dir.join(rel);
            if f.is_file() {
                p.files.insert(
                    rel,
                    SourceFile {
                        text: read(&f)?,
                        origin: f,
                    },
                );
            }
        }
        for (n, e) in fault.edit.iter().enumerate() {
            let bad = |reason: String| -> ProfileError {
                // The line of this edit's `[[edit]]` header in fault.toml.
                let line = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.trim() == "[[edit]]")
                    .nth(n)
                    .map(|(i, _)| i + 1)
                    .unwrap_or(1);
                ConfigError {
                    file: path.display().to_string(),
                    line,
                    reason: format!("edit #{}: {reason}", n + 1),
                }
                .into()
            };
            let Some(rel) = KNOWN_FILES.iter().find(|k| **k == e.file) else {
                return Err(bad(format!(
                    "`{}` is not a profile file ({})",
                    e.file,
                    KNOWN_FILES.join(", ")
                )));
            };
            let Some(f) = p.files.get_mut(rel) else {
                return Err(bad(format!("the base profile has no {rel}")));
            };
            match f.text.matches(&e.find).count() {
                1 => f.text = f.text.replacen(&e.find, &e.replace, 1),
                0 => {
                    return Err(bad(format!(
                        "{:?} does not occur in {}",
                        e.find,
                        f.origin.display()
                    )))
                }
                k => {
                    return Err(bad(format!(
                        "{:?} occurs {k} times in {}; make it unique",
                        e.find,
                        f.origin.display()
                    )))
                }
            }
        }
        for rel in &fault.remove {
            let Some(known) = KNOWN_FILES.iter().find(|k| *k == rel) else {
                return Err(ConfigError {
                    file: path.display().to_string(),
                    line: 1,
                    reason: format!(
                        "remove: `{rel}` is not a profile file ({})",
                        KNOWN_FILES.join(", ")
                    ),
                }
                .into());
            };
            p.files.remove(known);
        }
        let o = &fault.manifest;
        let m = &mut p.manifest;
        m.ice_tcp = o.ice_tcp.unwrap_or(m.ice_tcp);
        m.return_path = o.return_path.unwrap_or(m.return_path);
        m.backend_cert = o.backend_cert.unwrap_or(m.backend_cert);
        m.proxy_cert = o.proxy_cert.unwrap_or(m.proxy_cert);
        m.turn = p.files.contains_key(TURN_CONF);
        p.fault = Some((name.to_string(), fault));
        p.validate_shape()?;
        Ok(p)
    }

    fn validate_shape(&self) -> Result<(), ProfileError> {
        for rel in [VHOST, RULES] {
            if !self.files.contains_key(rel) {
                return Err(ProfileError::Io {
                    file: format!("profile {}", self.name),
                    reason: format!("missing {rel}"),
                });
            }
        }
        Ok(())
    }

    /// A pre-change run of an operator's own files (not a fixture).
    pub fn is_operator(&self) -> bool {
        self.name == OPERATOR
    }

    pub fn file(&self, rel: &str) -> Option<&SourceFile> {
        self.files.get(rel)
    }

    /// Renders every file for `plan` and checks the ones the harness can read (vhost, rules),
    /// so errors name the operator's file and line before any container starts.
    pub fn render(&self, plan: &AddressPlan) -> Result<Rendered, ProfileError> {
        let files: BTreeMap<&'static str, String> = self
            .files
            .iter()
            .map(|(k, f)| (*k, render(&f.text, &|n| plan.resolve(n))))
            .collect();
        let vhost_src = &self.files[VHOST];
        let apache = crate::site::apache::parse(&vhost_src.origin, &files[VHOST])?;
        crate::site::iptables::parse(&self.files[RULES].origin, &files[RULES])?;
        // Where Apache serves /.well-known/acme-challenge/ from for the site on :80.
        let fqdn = self.manifest.fqdn.as_deref().unwrap_or(&plan.fqdn);
        let vh = apache.select_vhost(fqdn, crate::ports::HTTP, None);
        let root = apache.acme_root(vh);
        let acme_dir = if root.problem.is_none() && !root.dir.is_empty() {
            root.dir
        } else {
            format!(
                "{}/.well-known/acme-challenge",
                crate::site::apache::DEBIAN_DOCROOT
            )
        };
        // The bridge's own files, read as JVB reads them: an error names the file and line.
        let parse =
            |rel: &str| -> Result<Option<String>, ProfileError> { Ok(files.get(rel).cloned()) };
        let lift = |e: jc_videobridge::config::ParseError| {
            ProfileError::Config(ConfigError::new(e.file, e.line, e.reason))
        };
        let origin = |rel: &str| {
            self.files
                .get(rel)
                .map(|f| f.origin.display().to_string())
                .unwrap_or_else(|| rel.to_string())
        };
        let props = parse(JVB_PROPERTIES)?
            .map(|t| jc_videobridge::config::properties::parse(&t, &origin(JVB_PROPERTIES)))
            .transpose()
            .map_err(lift)?;
        let conf = parse(JVB_CONF)?
            .map(|t| jc_videobridge::config::hocon::parse(&t, &origin(JVB_CONF)))
            .transpose()
            .map_err(lift)?;
        jc_videobridge::config::IceSettings::resolve(props.as_ref(), conf.as_ref())
            .map_err(lift)?;
        let websockets = jc_videobridge::config::websockets::WebsocketSettings::resolve(
            props.as_ref(),
            conf.as_ref(),
        );
        let late_files = self
            .late_files
            .iter()
            .map(|(k, f)| (*k, render(&f.text, &|n| plan.resolve(n))))
            .collect();
        // coturn on the bridge host, and the secret the clients' credentials are made with.
        let turn = match files.get(TURN_CONF) {
            Some(text) => Some(crate::turn::TurnSetup::read(
                &self.files[TURN_CONF].origin,
                text,
                files
                    .get(PROSODY_CONF)
                    .map(|t| (self.files[PROSODY_CONF].origin.as_path(), t.as_str())),
            )?),
            None => None,
        };
        Ok(Rendered {
            turn,
            acme_dir,
            files,
            late_files,
            websockets,
        })
    }
}

/// A profile's files with the lab's addresses in.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub files: BTreeMap<&'static str, String>,
    /// The directory the ACME token file goes into.
    pub acme_dir: String,
    /// Files written once the lab is up.
    pub late_files: BTreeMap<&'static str, String>,
    /// Whether the bridge serves colibri websockets, as JVB reads its files.
    pub websockets: jc_videobridge::config::websockets::WebsocketSettings,
    /// The TURN server on the bridge host, where the profile has one.
    pub turn: Option<crate::turn::TurnSetup>,
}

/// Replaces `${NAME}` for the lab's placeholders; anything else (Apache's own `${APACHE_LOG_DIR}`)
/// is left for the program that reads the file. Line structure is kept, so line numbers in
/// errors from the lab's programs are the source file's.
pub fn render(text: &str, resolve: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find('}').map(|end| (&after[..end], end)) {
            Some((name, end)) if resolve(name).is_some() => {
                out.push_str(&resolve(name).expect("checked"));
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
    }

    #[test]
    fn placeholders_render_and_foreign_ones_stay() {
        let plan = AddressPlan::for_slot(0);
        let out = render("a ${PUBLIC_IP} ${APACHE_LOG_DIR} ${FQDN}$0 ${", &|n| {
            plan.resolve(n)
        });
        assert_eq!(out, "a 198.51.100.2 ${APACHE_LOG_DIR} meet.lab.test$0 ${");
    }

    #[test]
    fn shipped_profiles_load_and_render() {
        let plan = AddressPlan::for_slot(3);
        for name in names_in(&fixtures().join("profiles")) {
            let p = Profile::load(&fixtures(), &name).unwrap();
            let r = p.render(&plan).unwrap();
            for text in r.files.values() {
                for (k, _) in plan.placeholders() {
                    assert!(
                        !text.contains(&format!("${{{k}}}")),
                        "{name}: {k} left unrendered"
                    );
                }
            }
        }
    }

    #[test]
    fn shipped_faults_load() {
        for name in names_in(&fixtures().join("faults")) {
            let p = Profile::load_fault(&fixtures(), &name).unwrap();
            assert!(p.fault.is_some());
            p.render(&AddressPlan::for_slot(0)).unwrap();
        }
    }

    #[test]
    fn edits_must_match_exactly_once() {
        let root = tempfile::tempdir().unwrap();
        let profiles = root.path().join("profiles");
        let faults = root.path().join("faults");
        let base = profiles.join("reference");
        for rel in ["manifest.toml", VHOST, RULES] {
            std::fs::create_dir_all(base.join(rel).parent().unwrap()).unwrap();
            std::fs::copy(
                fixtures().join("profiles/reference").join(rel),
                base.join(rel),
            )
            .unwrap();
        }
        let write = |name: &str, body: &str| {
            std::fs::create_dir_all(faults.join(name)).unwrap();
            std::fs::write(
                faults.join(name).join("fault.toml"),
                format!("description = \"d\"\nchange = \"c\"\nmust_fail = []\n{body}"),
            )
            .unwrap();
        };
        write(
            "ok",
            "[[edit]]\nfile = \"apache/site.conf\"\nfind = \"R=301\"\nreplace = \"R=302\"\n",
        );
        let p = Profile::load_fault(root.path(), "ok").unwrap();
        assert!(p.files[VHOST].text.contains("R=302") && !p.files[VHOST].text.contains("R=301"));
        write(
            "absent",
            "\n[[edit]]\nfile = \"apache/site.conf\"\nfind = \"no such text\"\n",
        );
        let e = Profile::load_fault(root.path(), "absent")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fault.toml:5") && e.contains("does not occur"),
            "{e}"
        );
        write(
            "twice",
            "[[edit]]\nfile = \"router/rules.v4\"\nfind = \"-A PREROUTING\"\n",
        );
        let e = Profile::load_fault(root.path(), "twice")
            .unwrap_err()
            .to_string();
        assert!(e.contains("occurs 4 times"), "{e}");
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let e = Profile::load(&fixtures(), "nope").unwrap_err().to_string();
        assert!(e.contains("reference"), "{e}");
    }

    #[test]
    fn bad_manifest_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manifest.toml"),
            "description = \"x\"\nice_tcp = maybe\n",
        )
        .unwrap();
        let e = Profile::load(&fixtures(), dir.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("manifest.toml:2"), "{e}");
    }

    proptest! {
        #[test]
        fn render_never_panics(s in "\\PC*") {
            let _ = render(&s, &|n| AddressPlan::for_slot(0).resolve(n));
        }

        #[test]
        fn render_keeps_line_count(s in "[a-z${}\\n_A-Z]*") {
            let out = render(&s, &|n| AddressPlan::for_slot(0).resolve(n));
            prop_assert_eq!(out.lines().count(), s.lines().count());
        }
    }
}
