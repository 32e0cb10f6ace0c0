//! The lab of SPEC section 2: wan and lan networks, the NAT router, the Apache proxy and the
//! bridge host, each with a static address, every container and network labelled with its lab;
//! removed by `down`, on drop (panic), on Ctrl-C, and by the sweep of leftovers.
//!
//! One job per file: [`networks`] (address slots and the two bridges), [`containers`] (starting
//! and wiring one role), [`ready`] (waiting for it, and mapping its complaints to the profile's
//! file and line), [`workdir`] (what each container mounts), [`firewall`] and [`sweep`] (never
//! leak), [`selfexe`] (the executable the bridge host runs); this file is the lifecycle.

pub mod bridge_api;
pub mod containers;
pub mod firewall;
pub mod networks;
pub mod ready;
mod reuse;
pub use reuse::Fingerprint;
pub mod selfexe;
pub(crate) mod shell;
pub mod sweep;
pub mod workdir;

use crate::error::ConfigError;
use crate::host::SetupError;
use crate::images::Images;
use crate::net::{self, AddressPlan};
use crate::pki::LabPki;
use crate::profile::{Profile, ProfileError, Rendered, ReturnPath};
use crate::role::Role;
use containers::RoleSpec;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testcontainers::bollard::Docker;

/// Every container and network of the project carries this label (value: the lab id).
pub const LAB_LABEL: &str = "org.jitsi-conformance.lab";
/// The process that owns the lab, for the sweep of leftovers.
pub const PID_LABEL: &str = "org.jitsi-conformance.pid";

/// How long a container may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Profile(#[from] ProfileError),
}

impl LabError {
    pub fn kind(&self) -> &'static str {
        match self {
            LabError::Setup(e) => e.kind,
            LabError::Config(_) => "config",
            LabError::Profile(_) => "profile",
        }
    }
}

fn setup(kind: &'static str, e: impl std::fmt::Display) -> LabError {
    LabError::Setup(SetupError::new(kind, e.to_string()))
}

/// The ACME HTTP-01 token placed in the proxy's webroot.
#[derive(Debug, Clone)]
pub struct AcmeToken {
    pub name: String,
    pub content: String,
    /// The directory the token file is put in (where Apache serves the challenge from).
    pub dir: String,
}

/// A lab left up by `--keep`: what `probe` needs to check it as a live site (SPEC section 11).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kept {
    pub lab: String,
    #[serde(skip)]
    pub fqdn: String,
    /// The lab CA's PEM, on disk until the lab is removed.
    pub ca: String,
    /// `FQDN:IP`.
    pub resolve: String,
    /// ICE-TCP from the profile's manifest: `on` or `off`.
    pub tcp: String,
    pub public_ip: String,
    pub bridge_ip: String,
    /// The command that removes the lab.
    pub remove: String,
}

impl Kept {
    /// The `probe` command line that checks the kept lab from the internet side.
    pub fn probe_command(&self) -> String {
        format!(
            "jitsi-conformance probe https://{} --resolve {} --ca {} --expect-public-ip {} --expect-bridge-ip {} --tcp {}",
            self.fqdn, self.resolve, self.ca, self.public_ip, self.bridge_ip, self.tcp
        )
    }

    /// How to reach, probe and remove the lab, for the terminal.
    pub fn message(&self) -> String {
        format!(
            "lab {id} kept: https://{fqdn} is {ip} (the suite resolves it itself; e.g. curl --resolve {fqdn}:443:{ip} -k https://{fqdn}/)\n  shell: docker exec -it jc-{id}-proxy bash   (router, proxy, bridge)\n  probe: {probe}\n  remove: {remove}",
            id = self.lab,
            fqdn = self.fqdn,
            ip = self.public_ip,
            probe = self.probe_command(),
            remove = self.remove
        )
    }
}

/// A running lab.
pub struct Lab {
    pub id: String,
    pub plan: AddressPlan,
    pub pki: LabPki,
    pub profile: Profile,
    pub rendered: Rendered,
    /// Package versions the lab runs (apache2, nginx, iptables).
    pub versions: BTreeMap<String, String>,
    pub acme: AcmeToken,
    /// The fake backend's marker: proves a page came from the bridge host.
    pub marker: String,
    /// prosody's secret for the focus stand-in's component connection (XEP-0114).
    focus_secret: String,
    pub up_ms: u128,
    docker: Docker,
    /// Each role's container id.
    containers: HashMap<Role, String>,
    /// What each role's container reported running (`versions` is their union).
    role_versions: HashMap<Role, BTreeMap<String, String>>,
    /// Open shells in each role's container, for [`Lab::exec`].
    shells: HashMap<Role, shell::Shells>,
    networks: Vec<String>,
    workdir: PathBuf,
    /// This program, which the bridge host runs as its fake bridge.
    exe: PathBuf,
    /// The conferences opened on the bridge's control API ([`bridge_api`]), ended before the
    /// lab is reused.
    conferences: std::sync::Mutex<Vec<String>>,
    down: bool,
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random::<u8>() & 0xf))
        .collect()
}

impl Lab {
    /// Starts a lab for `profile` with `images`. Errors in the profile's files name the file
    /// and line; a lab that fails half-way is removed before returning.
    pub async fn up(docker: &Docker, images: &Images, profile: Profile) -> Result<Lab, LabError> {
        let started = Instant::now();
        // Validate before touching Docker: errors here name the operator's file and line.
        profile.render(&AddressPlan::for_slot(0))?;
        let exe = selfexe::path()?;
        sweep::stale(docker).await;
        tracing::debug!("lab: validated and swept {:?}", started.elapsed());
        let id = random_hex(8);
        // Registered before anything exists, so Ctrl-C during creation finds it.
        sweep::register(&id);
        let (mut plan, networks) = match networks::create(docker, &id).await {
            Ok(v) => v,
            Err(e) => {
                sweep::unregister(&id);
                return Err(e);
            }
        };
        tracing::debug!("lab: networks {:?}", started.elapsed());
        if let Some(fqdn) = &profile.manifest.fqdn {
            plan.fqdn = fqdn.clone();
        }
        let workdir = std::env::temp_dir().join(format!("jc-lab-{id}"));
        let mut lab = Lab {
            id: id.clone(),
            pki: LabPki::generate_with(&plan.fqdn, plan.bridge_ip, &profile.stage.proxy_hosts)
                .map_err(|e| setup("pki", e))?,
            rendered: profile.render(&plan)?,
            plan,
            profile,
            versions: BTreeMap::new(),
            acme: AcmeToken {
                name: random_hex(43),
                content: format!("{}.{}", random_hex(43), random_hex(43)),
                dir: String::new(),
            },
            marker: format!("jc-{}", random_hex(16)),
            focus_secret: random_hex(32),
            up_ms: 0,
            docker: docker.clone(),
            containers: HashMap::new(),
            role_versions: HashMap::new(),
            shells: Role::ALL
                .into_iter()
                .map(|r| (r, shell::Shells::default()))
                .collect(),
            networks,
            workdir,
            exe,
            conferences: Default::default(),
            down: false,
        };
        lab.acme.dir = lab.rendered.acme_dir.clone();
        tracing::debug!("lab: networks and pki {:?}", started.elapsed());
        if let Err(e) = lab.start(images).await {
            lab.teardown().await;
            return Err(e);
        }
        if let Err(e) = lab.write_late_files().await {
            lab.teardown().await;
            return Err(e);
        }
        lab.up_ms = started.elapsed().as_millis();
        Ok(lab)
    }

    async fn start(&mut self, images: &Images) -> Result<(), LabError> {
        firewall::install(&self.id, self.plan.wan, self.plan.lan)
            .map_err(|e| setup("firewall", e))?;
        self.write_files().map_err(|e| setup("lab-files", e))?;
        let specs = self.role_specs();
        self.start_roles(images, specs).await
    }

    /// What each role's container is made of, besides its files: addresses and environment.
    fn role_specs(&self) -> Vec<RoleSpec> {
        let p = &self.plan;
        let common = [
            ("JC_PUBLIC_IP", p.public_ip.to_string()),
            ("JC_CLIENT_IP", p.client_ip.to_string()),
            ("JC_ROUTER_LAN_IP", p.router_lan_ip.to_string()),
            ("JC_PROXY_IP", p.proxy_ip.to_string()),
            ("JC_BRIDGE_IP", p.bridge_ip.to_string()),
        ];
        let return_path = match self.profile.manifest.return_path {
            ReturnPath::Routed => "routed",
            ReturnPath::Direct => "direct",
        };
        let stage = &self.profile.stage;
        let own = [
            (
                Role::Router,
                vec![(0, p.public_ip), (1, p.router_lan_ip)],
                // Named as the operator's rules name them (the shipped profiles: wan, lan).
                vec![
                    (
                        "JC_WAN_IF",
                        stage.wan_if.clone().unwrap_or_else(|| "wan".into()),
                    ),
                    (
                        "JC_LAN_IF",
                        stage.lan_if.clone().unwrap_or_else(|| "lan".into()),
                    ),
                ],
            ),
            (
                Role::Proxy,
                vec![(1, p.proxy_ip)],
                vec![
                    ("JC_ACME_DIR", self.acme.dir.clone()),
                    ("JC_ACME_TOKEN", self.acme.name.clone()),
                ],
            ),
            (
                Role::Bridge,
                vec![(1, p.bridge_ip)],
                vec![
                    ("JC_MARKER", self.marker.clone()),
                    ("JC_RETURN_PATH", return_path.into()),
                ],
            ),
        ];
        own.into_iter()
            .map(|(role, addresses, env)| RoleSpec {
                role,
                addresses,
                env: common.iter().cloned().chain(env).collect(),
            })
            .collect()
    }

    /// Starts these roles' containers side by side; the first failure, once all are done.
    async fn start_roles(&mut self, images: &Images, specs: Vec<RoleSpec>) -> Result<(), LabError> {
        let starts = specs.into_iter().map(|spec| {
            let image = images.role(spec.role).to_string();
            self.start_role(spec, image)
        });
        let mut failures = Vec::new();
        for r in futures_util::future::join_all(starts).await {
            match r {
                Ok((name, c, versions)) => {
                    self.role_versions.insert(name, versions);
                    self.containers.insert(name, c);
                }
                Err((Some((name, c)), e)) => {
                    self.containers.insert(name, c);
                    failures.push(e);
                }
                Err((None, e)) => failures.push(e),
            }
        }
        self.gather_versions();
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// What the lab runs: the union of what each role's container reported.
    fn gather_versions(&mut self) {
        self.versions = self
            .role_versions
            .values()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }

    /// Runs a command in a role's container: (exit code, stdout + stderr). Through a shell
    /// kept open in the container (see [`shell`]), opened on first use.
    pub async fn exec(&self, role: Role, cmd: &[&str]) -> Result<(i64, String), LabError> {
        let c = self
            .containers
            .get(&role)
            .ok_or_else(|| setup("exec", format!("no {role} container")))?;
        let shells = &self.shells[&role];
        let mut sh = match shells.take() {
            Some(sh) => sh,
            None => shell::Shell::open(&self.docker, c)
                .await
                .map_err(|e| setup("exec", format!("{role}: cannot open a shell: {e}")))?,
        };
        // A shell that failed is dropped (its exec ends); the next command opens another.
        let out = sh
            .run(cmd)
            .await
            .map_err(|e| setup("exec", format!("{role}: {e}")))?;
        shells.give_back(sh);
        Ok(out)
    }

    /// A fault's `after_start` files, written over the running bridge's own (which it read
    /// only at start, as JVB does).
    async fn write_late_files(&self) -> Result<(), LabError> {
        for rel in self.rendered.late_files.keys() {
            let from = format!("/jc/late/{rel}");
            let to = format!("/etc/jitsi/{rel}");
            match self.exec(Role::Bridge, &["cp", &from, &to]).await? {
                (0, _) => {}
                (code, out) => {
                    return Err(setup(
                        "lab-start",
                        format!("writing {to} after the bridge started (exit {code}): {out}"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The Linux bridge of the lab's wan network (the browser's namespace plugs into it).
    pub fn wan_bridge(&self) -> String {
        format!("jc{}w", self.id)
    }

    /// The lab's guard for the internet client's probes.
    pub fn guard(&self) -> net::Guard {
        self.plan.guard()
    }

    /// How to reach, probe and remove a lab kept with `--keep`.
    pub fn keep(mut self) -> Kept {
        self.down = true;
        // Its process is about to exit: mark it so the next run's sweep leaves it alone.
        let _ = std::fs::write(sweep::kept_marker(&self.id), b"");
        // The lab CA for `probe --ca`, beside the marker: `clean` removes the directory.
        let ca = sweep::kept_marker(&self.id).with_file_name("ca.pem");
        let _ = std::fs::write(&ca, &self.pki.root.cert_pem);
        self.containers.clear();
        sweep::unregister(&self.id);
        Kept {
            lab: self.id.clone(),
            fqdn: self.plan.fqdn.clone(),
            ca: ca.display().to_string(),
            resolve: format!("{}:{}", self.plan.fqdn, self.plan.public_ip),
            tcp: if self.profile.manifest.ice_tcp {
                "on"
            } else {
                "off"
            }
            .into(),
            public_ip: self.plan.public_ip.to_string(),
            bridge_ip: self.plan.bridge_ip.to_string(),
            remove: format!("jitsi-conformance clean --lab {}", self.id),
        }
    }

    /// Hands the removal to a detached `jitsi-conformance clean --lab ID` and returns its pid,
    /// so a run's answer does not wait for Docker's removals (as testcontainers' Ryuk reaps
    /// after the test process). The reaper is marked in the lab's work directory: the next
    /// run's sweep leaves the lab to it while it lives and removes it otherwise. If the reaper
    /// cannot start, the lab is removed here, before returning.
    pub async fn hand_off(mut self) -> Result<u32, Duration> {
        use std::os::unix::process::CommandExt;
        let spawned = std::process::Command::new(&self.exe)
            .args(["clean", "--lab", &self.id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group: a Ctrl-C at the terminal after the run ended does not
            // stop the removal half-way.
            .process_group(0)
            .spawn();
        match spawned {
            Ok(child) => {
                let pid = child.id();
                let _ = std::fs::write(sweep::reaper_marker(&self.id), pid.to_string());
                self.down = true;
                self.containers.clear();
                sweep::unregister(&self.id);
                Ok(pid)
            }
            Err(_) => Err(self.down().await),
        }
    }

    /// Removes everything the lab made; the time it took.
    pub async fn down(mut self) -> Duration {
        let t = Instant::now();
        self.teardown().await;
        t.elapsed()
    }

    async fn teardown(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        // The host's rules and namespaces go while Docker removes the containers; the networks
        // once nothing is attached to them. Everything in parallel: teardown is part of every
        // run's wall time.
        let id = self.id.clone();
        let host_side = tokio::task::spawn_blocking(move || {
            let _ = firewall::remove(&id);
            crate::browser::netns::remove(&id);
        });
        let ids: Vec<String> = self.containers.drain().map(|(_, c)| c).collect();
        futures_util::future::join_all(ids.iter().map(|c| self.remove_container(c))).await;
        let docker = &self.docker;
        futures_util::future::join_all(self.networks.iter().map(|n| async move {
            let _ = docker.remove_network(n).await;
        }))
        .await;
        let _ = host_side.await;
        let _ = std::fs::remove_dir_all(&self.workdir);
        sweep::unregister(&self.id);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.down {
            return;
        }
        // A panic or an early return: sweep by label on a thread with its own runtime (this
        // may run outside any runtime).
        let id = self.id.clone();
        let workdir = self.workdir.clone();
        let _ = std::thread::spawn(move || sweep::lab_blocking(&id)).join();
        let _ = std::fs::remove_dir_all(workdir);
    }
}
