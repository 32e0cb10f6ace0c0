//! The lab of SPEC section 2: wan and lan networks, the NAT router, the Apache proxy and the
//! bridge host, each with a static address, every container and network labelled with its lab;
//! removed by `down`, on drop (panic), on Ctrl-C, and by the sweep of leftovers.

pub mod bridgebin;
pub mod firewall;
pub mod sweep;

use crate::host::SetupError;
use crate::images::Images;
use crate::net::{self, AddressPlan};
use crate::pki::{CertKey, LabPki};
use crate::profile::{self, BackendCert, Profile, ProfileError, ProxyCert, Rendered, ReturnPath};
use crate::vhost::ConfigError;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testcontainers::bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use testcontainers::bollard::Docker;
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::AsyncBufReadExt;

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
    pub webroot: String,
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
    pub up_ms: u128,
    docker: Docker,
    containers: HashMap<&'static str, ContainerAsync<GenericImage>>,
    networks: Vec<String>,
    workdir: PathBuf,
    down: bool,
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random::<u8>() & 0xf))
        .collect()
}

struct Role {
    name: &'static str,
    /// (network index, address) in connection order: wan before lan for the router.
    addresses: Vec<(usize, std::net::Ipv4Addr)>,
    env: Vec<(&'static str, String)>,
}

impl Lab {
    /// Starts a lab for `profile` with `images`. Errors in the profile's files name the file
    /// and line; a lab that fails half-way is removed before returning.
    pub async fn up(docker: &Docker, images: &Images, profile: Profile) -> Result<Lab, LabError> {
        let started = Instant::now();
        // Validate before touching Docker: errors here name the operator's file and line.
        profile.render(&AddressPlan::for_slot(0))?;
        let bridge_bin = bridgebin::ensure().await?;
        sweep::stale(docker).await;
        let id = random_hex(8);
        // Registered before anything exists, so Ctrl-C during creation finds it.
        sweep::register(&id);
        let (mut plan, networks) = match create_networks(docker, &id).await {
            Ok(v) => v,
            Err(e) => {
                sweep::unregister(&id);
                return Err(e);
            }
        };
        if let Some(fqdn) = &profile.manifest.fqdn {
            plan.fqdn = fqdn.clone();
        }
        let workdir = std::env::temp_dir().join(format!("jc-lab-{id}"));
        let mut lab = Lab {
            id: id.clone(),
            pki: LabPki::generate(&plan.fqdn, plan.bridge_ip).map_err(|e| setup("pki", e))?,
            rendered: profile.render(&plan)?,
            plan,
            profile,
            versions: BTreeMap::new(),
            acme: AcmeToken {
                name: random_hex(43),
                content: format!("{}.{}", random_hex(43), random_hex(43)),
                webroot: String::new(),
            },
            marker: format!("jc-{}", random_hex(16)),
            up_ms: 0,
            docker: docker.clone(),
            containers: HashMap::new(),
            networks,
            workdir,
            down: false,
        };
        lab.acme.webroot = lab.rendered.acme_webroot.clone();
        if let Err(e) = lab.start(images, &bridge_bin).await {
            lab.teardown().await;
            return Err(e);
        }
        lab.up_ms = started.elapsed().as_millis();
        Ok(lab)
    }

    async fn start(&mut self, images: &Images, bridge_bin: &Path) -> Result<(), LabError> {
        firewall::install(&self.id).map_err(|e| setup("firewall", e))?;
        self.write_files(bridge_bin)
            .map_err(|e| setup("lab-files", e))?;
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
        let roles = vec![
            Role {
                name: "router",
                addresses: vec![(0, p.public_ip), (1, p.router_lan_ip)],
                env: vec![],
            },
            Role {
                name: "proxy",
                addresses: vec![(1, p.proxy_ip)],
                env: vec![
                    ("JC_ACME_WEBROOT", self.acme.webroot.clone()),
                    ("JC_ACME_TOKEN", self.acme.name.clone()),
                ],
            },
            Role {
                name: "bridge",
                addresses: vec![(1, p.bridge_ip)],
                env: vec![
                    ("JC_MARKER", self.marker.clone()),
                    ("JC_RETURN_PATH", return_path.into()),
                ],
            },
        ];
        let starts = roles.into_iter().map(|role| {
            let image = images.role(role.name).to_string();
            let env: Vec<(&str, String)> = common.iter().cloned().chain(role.env.clone()).collect();
            self.start_role(role, image, env)
        });
        let mut failures = Vec::new();
        for r in futures_util::future::join_all(starts).await {
            match r {
                Ok((name, c, versions)) => {
                    self.versions.extend(versions);
                    self.containers.insert(name, c);
                }
                Err((Some((name, c)), e)) => {
                    self.containers.insert(name, c);
                    failures.push(e);
                }
                Err((None, e)) => failures.push(e),
            }
        }
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    #[allow(clippy::type_complexity)]
    async fn start_role(
        &self,
        role: Role,
        image: String,
        env: Vec<(&str, String)>,
    ) -> Result<
        (
            &'static str,
            ContainerAsync<GenericImage>,
            BTreeMap<String, String>,
        ),
        (
            Option<(&'static str, ContainerAsync<GenericImage>)>,
            LabError,
        ),
    > {
        let (repo, tag) = image.split_once(':').unwrap_or((&image, "latest"));
        let mount = Mount::bind_mount(self.workdir.join(role.name).display().to_string(), "/jc")
            .with_access_mode(AccessMode::ReadOnly);
        let is_router = role.name == "router";
        let mut req = GenericImage::new(repo, tag)
            .with_cmd(["/bin/sh", &format!("/jc/{}.sh", role.name)])
            // Networks are connected after start with static addresses (bollard), so the
            // container starts on none.
            .with_network("none")
            .with_container_name(format!("jc-{}-{}", self.id, role.name))
            .with_hostname(role.name)
            .with_label(LAB_LABEL, &self.id)
            .with_label(PID_LABEL, std::process::id().to_string())
            .with_mount(mount)
            .with_cap_add("NET_ADMIN")
            .with_host_config_modifier(move |hc| {
                hc.init = Some(true);
                if is_router {
                    hc.sysctls = Some(HashMap::from([(
                        "net.ipv4.ip_forward".to_string(),
                        "1".to_string(),
                    )]));
                }
            });
        for (k, v) in env {
            req = req.with_env_var(k, v);
        }
        let in_flight = sweep::begin().map_err(|e| (None, setup("interrupted", e)))?;
        let c = req.start().await.map_err(|e| {
            (
                None,
                setup("container", format!("{}: cannot start: {e}", role.name)),
            )
        })?;
        let wire = async {
            let held = in_flight;
            let id = c.id().to_string();
            self.docker
                .disconnect_network(
                    "none",
                    NetworkDisconnectRequest {
                        container: id.clone(),
                        force: Some(true),
                    },
                )
                .await
                .map_err(|e| setup("network", format!("{}: {e}", role.name)))?;
            for (net, ip) in &role.addresses {
                let req = NetworkConnectRequest {
                    container: id.clone(),
                    endpoint_config: Some(EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(ip.to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                };
                self.docker
                    .connect_network(&self.networks[*net], req)
                    .await
                    .map_err(|e| setup("network", format!("{}: connect {ip}: {e}", role.name)))?;
            }
            // Wired: a sweep may now remove this container safely.
            drop(held);
            // Only now may the entry script touch routes (see fixtures/lab/common.sh).
            std::fs::write(self.workdir.join(role.name).join("wired"), b"")
                .map_err(|e| setup("lab-files", format!("{}: {e}", role.name)))?;
            self.wait_ready(role.name, &c).await
        };
        match wire.await {
            Ok(v) => Ok((role.name, c, v)),
            Err(e) => Err((Some((role.name, c)), e)),
        }
    }

    /// Follows the container's stdout until `jc-ready` or `jc-failed`, within a deadline.
    async fn wait_ready(
        &self,
        role: &str,
        c: &ContainerAsync<GenericImage>,
    ) -> Result<BTreeMap<String, String>, LabError> {
        let mut out = c.stdout(true);
        let mut seen = Vec::new();
        let mut versions = BTreeMap::new();
        let follow = async {
            let mut line = String::new();
            loop {
                line.clear();
                match out.read_line(&mut line).await {
                    Ok(0) | Err(_) => return Err("the container exited".to_string()),
                    Ok(_) => {}
                }
                let l = line.trim_end().to_string();
                if l == "jc-ready" {
                    return Ok(());
                }
                if let Some(v) = l.strip_prefix("jc-version ") {
                    if let Some((k, v)) = v.split_once('=') {
                        versions.insert(k.to_string(), v.to_string());
                    }
                }
                if let Some(reason) = l.strip_prefix("jc-failed: ") {
                    return Err(reason.to_string());
                }
                seen.push(l);
            }
        };
        match tokio::time::timeout(READY_TIMEOUT, follow).await {
            Ok(Ok(())) => Ok(versions),
            Ok(Err(reason)) => Err(self.explain_failure(role, &reason, &seen.join("\n"))),
            Err(_) => Err(setup(
                "lab-timeout",
                format!(
                    "{role} did not report ready within {} s; its output:\n{}",
                    READY_TIMEOUT.as_secs(),
                    seen.join("\n")
                ),
            )),
        }
    }

    /// Maps a container's complaint onto the profile file that caused it.
    fn explain_failure(&self, role: &str, reason: &str, detail: &str) -> LabError {
        let source = |rel: &str| {
            self.profile
                .file(rel)
                .map(|f| f.origin.display().to_string())
                .unwrap_or_else(|| rel.to_string())
        };
        match role {
            "proxy" if reason.contains("configtest") => {
                let (line, why) = crate::vhost::apache_error_line(detail)
                    .unwrap_or((1, detail.trim().to_string()));
                ConfigError {
                    file: source(profile::VHOST),
                    line,
                    reason: format!("Apache rejects it: {why}"),
                }
                .into()
            }
            "router" if reason.contains("iptables-restore") => {
                let line = crate::rules::restore_error_line(detail).unwrap_or(1);
                ConfigError {
                    file: source(profile::RULES),
                    line,
                    reason: format!("iptables-restore rejects it: {}", detail.trim()),
                }
                .into()
            }
            "bridge" => match bridge_config_error(detail) {
                // The bridge read its own file and named the line: name the operator's file.
                Some((rel, line, why)) => ConfigError {
                    file: source(rel),
                    line,
                    reason: format!("the videobridge rejects it: {why}"),
                }
                .into(),
                None => setup("lab-start", format!("{role}: {reason}\n{detail}")),
            },
            _ => setup("lab-start", format!("{role}: {reason}\n{detail}")),
        }
    }

    fn write_files(&self, bridge_bin: &Path) -> std::io::Result<()> {
        let fixtures = bridgebin::workspace_root().join("fixtures/lab");
        let r = &self.rendered.files;
        let pki = &self.pki;
        let proxy_cert = match self.profile.manifest.proxy_cert {
            ProxyCert::Lab => &pki.proxy,
            ProxyCert::Expired => &pki.proxy_expired,
            ProxyCert::WrongName => &pki.proxy_wrong_name,
        };
        let backend_cert = match self.profile.manifest.backend_cert {
            BackendCert::LabCa => &pki.backend,
            BackendCert::SelfSigned => &pki.backend_self_signed,
        };
        let put = |rel: &str, text: &str| -> std::io::Result<()> {
            let p = self.workdir.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent"))?;
            std::fs::write(p, text)
        };
        let pair = |dir: &str, name: &str, ck: &CertKey| -> std::io::Result<()> {
            put(&format!("{dir}/tls/{name}.pem"), &ck.cert_pem)?;
            put(&format!("{dir}/tls/{name}.key"), &ck.key_pem)
        };
        for role in ["router", "proxy", "bridge"] {
            put(
                &format!("{role}/common.sh"),
                &std::fs::read_to_string(fixtures.join("common.sh"))?,
            )?;
            put(
                &format!("{role}/{role}.sh"),
                &std::fs::read_to_string(fixtures.join(format!("{role}.sh")))?,
            )?;
        }
        put("router/rules.v4", &r[profile::RULES])?;
        put("proxy/site.conf", &r[profile::VHOST])?;
        put("proxy/acme-token", &self.acme.content)?;
        match &self.profile.manifest.operator_cert {
            // The operator's own pair: tls/cert/* judge it.
            Some((cert, key)) => {
                put("proxy/tls/proxy.pem", &std::fs::read_to_string(cert)?)?;
                put("proxy/tls/proxy.key", &std::fs::read_to_string(key)?)?;
            }
            None => pair("proxy", "proxy", proxy_cert)?,
        }
        put("proxy/tls/lab-ca.pem", &pki.root.cert_pem)?;
        put(
            "bridge/nginx.conf",
            &std::fs::read_to_string(fixtures.join("nginx.conf"))?,
        )?;
        put(
            "bridge/restart-nginx.sh",
            &std::fs::read_to_string(fixtures.join("restart-nginx.sh"))?,
        )?;
        pair("bridge", "backend", backend_cert)?;
        pair("bridge", "original", backend_cert)?;
        pair("bridge", "untrusted", &pki.backend_untrusted)?;
        std::fs::create_dir_all(self.workdir.join("bridge/jitsi/videobridge"))?;
        std::fs::create_dir_all(self.workdir.join("bridge/jitsi/jicofo"))?;
        for rel in [
            profile::JVB_PROPERTIES,
            profile::JVB_CONF,
            profile::JICOFO_PROPERTIES,
        ] {
            if let Some(text) = r.get(rel) {
                put(&format!("bridge/jitsi/{rel}"), text)?;
            }
        }
        std::fs::create_dir_all(self.workdir.join("bridge/bin"))?;
        std::fs::copy(bridge_bin, self.workdir.join("bridge/bin/jc-fake-bridge"))?;
        Ok(())
    }

    /// Runs a command in a role's container: (exit code, stdout + stderr).
    pub async fn exec(&self, role: &str, cmd: &[&str]) -> Result<(i64, String), LabError> {
        use testcontainers::bollard::exec::{CreateExecOptions, StartExecResults};
        let c = self
            .containers
            .get(role)
            .ok_or_else(|| setup("exec", format!("no {role} container")))?;
        let opts = CreateExecOptions {
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(c.id(), opts)
            .await
            .map_err(|e| setup("exec", e))?;
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| setup("exec", e))?
        {
            use futures_util::StreamExt;
            while let Some(chunk) = output.next().await {
                text.push_str(&chunk.map_err(|e| setup("exec", e))?.to_string());
            }
        }
        let code = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| setup("exec", e))?
            .exit_code
            .unwrap_or(-1);
        Ok((code, text))
    }

    /// The lab's guard for the internet client's probes.
    pub fn guard(&self) -> net::Guard {
        self.plan.guard()
    }

    /// How to reach and remove a lab kept with `--keep`.
    pub fn keep(mut self) -> String {
        self.down = true;
        // Its process is about to exit: mark it so the next run's sweep leaves it alone.
        let _ = std::fs::write(sweep::kept_marker(&self.id), b"");
        for (_, c) in self.containers.drain() {
            // Leave the container running: its drop would remove it.
            std::mem::forget(c);
        }
        sweep::unregister(&self.id);
        format!(
            "lab {id} kept: https://{fqdn} is {ip} (the suite resolves it itself; e.g. curl --resolve {fqdn}:443:{ip} -k https://{fqdn}/)\n  shell: docker exec -it jc-{id}-proxy bash   (router, proxy, bridge)\n  remove: jitsi-conformance clean --lab {id}",
            id = self.id,
            fqdn = self.plan.fqdn,
            ip = self.plan.public_ip
        )
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
        let removals = self.containers.drain().map(|(_, c)| async move {
            let _ = c.rm().await;
        });
        futures_util::future::join_all(removals).await;
        for n in &self.networks {
            let _ = self.docker.remove_network(n).await;
        }
        let _ = firewall::remove(&self.id);
        let _ = std::fs::remove_dir_all(&self.workdir);
        sweep::unregister(&self.id);
    }
}

/// "/etc/jitsi/videobridge/jvb.conf:4: reason" in the fake bridge's output, as the profile
/// file it came from, its line and the reason.
pub fn bridge_config_error(output: &str) -> Option<(&'static str, usize, String)> {
    output.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("/etc/jitsi/")?;
        let (file, rest) = rest.split_once(':')?;
        let (line, why) = rest.split_once(':')?;
        let rel = [profile::JVB_PROPERTIES, profile::JVB_CONF]
            .into_iter()
            .find(|r| *r == file)?;
        Some((rel, line.trim().parse().ok()?, why.trim().to_string()))
    })
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.down {
            return;
        }
        // A panic or an early return: sweep by label on a thread with its own runtime (this
        // may run outside any runtime), and keep testcontainers from removing twice.
        for (_, c) in self.containers.drain() {
            std::mem::forget(c);
        }
        let id = self.id.clone();
        let workdir = self.workdir.clone();
        let _ = std::thread::spawn(move || sweep::lab_blocking(&id)).join();
        let _ = std::fs::remove_dir_all(workdir);
    }
}

/// Creates the lab's wan and lan networks on the first slot that is free on this host and in
/// Docker (another process's lab holding a subnet makes Docker refuse; the next slot is tried).
async fn create_networks(
    docker: &Docker,
    id: &str,
) -> Result<(AddressPlan, Vec<String>), LabError> {
    // The host's own routes say what a lab must not cover. (No name is resolved here: the
    // suite sends nothing outside the lab, not even a DNS query.)
    let taken = net::host_subnets();
    let mut reasons = Vec::new();
    for slot in 0..net::MAX_SLOTS {
        let plan = AddressPlan::for_slot(slot);
        if let Some(why) = net::clash(&plan, &taken) {
            reasons.push(format!("slot {slot}: {why}"));
            continue;
        }
        let wan = format!("jc-{id}-wan");
        let lan = format!("jc-{id}-lan");
        match create_network(docker, id, &wan, "w", plan.wan, plan.client_ip).await {
            Ok(()) => {}
            Err(e) if is_overlap(&e) => continue,
            Err(e) => return Err(setup("network", e)),
        }
        match create_network(docker, id, &lan, "l", plan.lan, plan.lan_gateway).await {
            Ok(()) => return Ok((plan, vec![wan, lan])),
            Err(e) => {
                let _ = docker.remove_network(&wan).await;
                if !is_overlap(&e) {
                    return Err(setup("network", e));
                }
            }
        }
    }
    Err(setup(
        "network",
        format!(
            "no free lab subnet: every slot clashes with the host or another lab.\n{}",
            reasons.join("\n")
        ),
    ))
}

fn is_overlap(e: &testcontainers::bollard::errors::Error) -> bool {
    let s = e.to_string();
    s.contains("overlaps") || s.contains("already exists")
}

async fn create_network(
    docker: &Docker,
    id: &str,
    name: &str,
    suffix: &str,
    subnet: ipnet::Ipv4Net,
    gateway: std::net::Ipv4Addr,
) -> Result<(), testcontainers::bollard::errors::Error> {
    let req = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(gateway.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        options: Some(HashMap::from([
            // Docker's own masquerading breaks DNAT between the two bridges (SPEC section 2).
            (
                "com.docker.network.bridge.enable_ip_masquerade".to_string(),
                "false".to_string(),
            ),
            (
                "com.docker.network.bridge.name".to_string(),
                format!("jc{id}{suffix}"),
            ),
        ])),
        labels: Some(HashMap::from([
            (LAB_LABEL.to_string(), id.to_string()),
            (PID_LABEL.to_string(), std::process::id().to_string()),
        ])),
        ..Default::default()
    };
    let _in_flight =
        sweep::begin().map_err(|e| testcontainers::bollard::errors::Error::IOError {
            err: std::io::Error::other(e),
        })?;
    docker.create_network(req).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_errors_name_the_profile_file() {
        let out =
            "starting\n/etc/jitsi/videobridge/jvb.conf:4: expected `=` or `{` after `ice4j`\n";
        assert_eq!(
            bridge_config_error(out),
            Some((
                profile::JVB_CONF,
                4,
                "expected `=` or `{` after `ice4j`".to_string()
            ))
        );
        assert_eq!(bridge_config_error("/etc/jitsi/jicofo/x:1: no"), None);
        assert_eq!(bridge_config_error("nothing"), None);
    }
}
