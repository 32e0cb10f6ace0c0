//! Starting one role's container and wiring it, with bollard: it is created on its first
//! network with its static address (so Docker has set that network up before the entry script
//! runs), the router then gets its lan address, and only then is the entry script told
//! (`/jc/wired`) that it may touch routes: Docker races its own gateway setup otherwise.

use super::shell::Shell;
use super::{selfexe, setup, sweep, Lab, LabError, LAB_LABEL, PID_LABEL};
use crate::role::Role;
use std::collections::{BTreeMap, HashMap};
use testcontainers::bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkConnectRequest,
    NetworkingConfig,
};
use testcontainers::bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions,
};

/// Shells opened in the bridge host before the checks: the shared allocation, the bridge's
/// files and the two ice/connect checks ask at once.
const BRIDGE_SHELLS: usize = 3;

/// What one role's container needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RoleSpec {
    pub role: Role,
    /// (network index, address) in connection order: wan before lan for the router.
    pub addresses: Vec<(usize, std::net::Ipv4Addr)>,
    pub env: Vec<(&'static str, String)>,
}

fn endpoint(ip: std::net::Ipv4Addr) -> EndpointSettings {
    EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Lab {
    /// Creates, starts and wires `role`'s container and waits for it: its id and the package
    /// versions it reported; on failure, the id of what was created (for removal) and why.
    #[allow(clippy::type_complexity)]
    pub(super) async fn start_role(
        &self,
        role: RoleSpec,
        image: String,
    ) -> Result<(Role, String, BTreeMap<String, String>), (Option<(Role, String)>, LabError)> {
        let name = role.role.name();
        let mut binds = vec![format!("{}:/jc:ro", self.workdir.join(name).display())];
        if role.role == Role::Bridge {
            binds.push(format!(
                "{}:{}:ro",
                self.exe.display(),
                selfexe::IN_CONTAINER
            ));
        }
        let (first, rest) = role
            .addresses
            .split_first()
            .expect("every role has an address");
        let host_config = HostConfig {
            binds: Some(binds),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            init: Some(true),
            network_mode: Some(self.networks[first.0].clone()),
            sysctls: (role.role == Role::Router)
                .then(|| HashMap::from([("net.ipv4.ip_forward".to_string(), "1".to_string())])),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(vec!["/bin/sh".into(), format!("/jc/{name}.sh")]),
            hostname: Some(name.into()),
            env: Some(role.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(HashMap::from([
                (LAB_LABEL.to_string(), self.id.clone()),
                (PID_LABEL.to_string(), std::process::id().to_string()),
            ])),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.networks[first.0].clone(),
                    endpoint(first.1),
                )])),
            }),
            ..Default::default()
        };
        let in_flight = sweep::begin().map_err(|e| (None, setup("interrupted", e)))?;
        let t0 = std::time::Instant::now();
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(format!("jc-{}-{name}", self.id)),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| {
                (
                    None,
                    setup("container", format!("{}: cannot create: {e}", role.role)),
                )
            })?;
        let id = created.id;
        let failed = |e: LabError| (Some((role.role, id.clone())), e);
        self.docker.start_container(&id, None).await.map_err(|e| {
            failed(setup(
                "container",
                format!("{}: cannot start: {e}", role.role),
            ))
        })?;
        let t_started = t0.elapsed();
        for (net, ip) in rest {
            let req = NetworkConnectRequest {
                container: id.clone(),
                endpoint_config: Some(endpoint(*ip)),
            };
            self.docker
                .connect_network(&self.networks[*net], req)
                .await
                .map_err(|e| {
                    failed(setup(
                        "network",
                        format!("{}: connect {ip}: {e}", role.role),
                    ))
                })?;
        }
        // Wired: a sweep may now remove this container safely.
        drop(in_flight);
        tracing::debug!(
            "{}: started {:?}, wired {:?}",
            role.role,
            t_started,
            t0.elapsed()
        );
        // Only now may the entry script touch routes (see fixtures/lab/common.sh).
        std::fs::write(self.workdir.join(name).join("wired"), b"")
            .map_err(|e| failed(setup("lab-files", format!("{}: {e}", role.role))))?;
        let versions = self.wait_ready(role.role, &id).await.map_err(&failed)?;
        if role.role == Role::Bridge {
            // The checks start by asking the bridge host for an endpoint and its files,
            // several at once: their shells open while the other roles get ready.
            let opened = futures_util::future::join_all(
                (0..BRIDGE_SHELLS).map(|_| Shell::open(&self.docker, &id)),
            )
            .await;
            for sh in opened.into_iter().flatten() {
                self.shells[&Role::Bridge].give_back(sh);
            }
        }
        tracing::debug!("{}: ready {:?}", role.role, t0.elapsed());
        Ok((role.role, id, versions))
    }

    /// Removes a container and its volumes, whatever state it is in.
    pub(super) async fn remove_container(&self, id: &str) {
        let _ = self
            .docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await;
    }

    /// The container's stdout, followed from its start.
    pub(super) fn stdout(
        &self,
        id: &str,
    ) -> impl futures_util::Stream<
        Item = Result<
            testcontainers::bollard::container::LogOutput,
            testcontainers::bollard::errors::Error,
        >,
    > {
        self.docker.logs(
            id,
            Some(LogsOptions {
                follow: true,
                stdout: true,
                ..Default::default()
            }),
        )
    }
}
