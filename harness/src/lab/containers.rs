//! Starting one role's container and wiring it: it starts on `none`, gets its static addresses
//! with bollard (wan before lan for the router), and only then is told (`/jc/wired`) that its
//! entry script may touch routes: Docker races its own gateway setup otherwise.

use super::{selfexe, setup, sweep, Lab, LabError, LAB_LABEL, PID_LABEL};
use crate::role::Role;
use std::collections::{BTreeMap, HashMap};
use testcontainers::bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// What one role's container needs.
pub(super) struct RoleSpec {
    pub role: Role,
    /// (network index, address) in connection order: wan before lan for the router.
    pub addresses: Vec<(usize, std::net::Ipv4Addr)>,
    pub env: Vec<(&'static str, String)>,
}

impl Lab {
    #[allow(clippy::type_complexity)]
    pub(super) async fn start_role(
        &self,
        role: RoleSpec,
        image: String,
        env: Vec<(&str, String)>,
    ) -> Result<
        (Role, ContainerAsync<GenericImage>, BTreeMap<String, String>),
        (Option<(Role, ContainerAsync<GenericImage>)>, LabError),
    > {
        let (repo, tag) = image.split_once(':').unwrap_or((&image, "latest"));
        let mount = Mount::bind_mount(
            self.workdir.join(role.role.name()).display().to_string(),
            "/jc",
        )
        .with_access_mode(AccessMode::ReadOnly);
        let is_router = role.role == Role::Router;
        let exe = (role.role == Role::Bridge).then(|| {
            Mount::bind_mount(self.exe.display().to_string(), selfexe::IN_CONTAINER)
                .with_access_mode(AccessMode::ReadOnly)
        });
        let mut req = GenericImage::new(repo, tag)
            .with_cmd(["/bin/sh", &format!("/jc/{}.sh", role.role.name())])
            // Networks are connected after start with static addresses (bollard), so the
            // container starts on none.
            .with_network("none")
            .with_container_name(format!("jc-{}-{}", self.id, role.role.name()))
            .with_hostname(role.role.name())
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
        if let Some(exe) = exe {
            req = req.with_mount(exe);
        }
        for (k, v) in env {
            req = req.with_env_var(k, v);
        }
        let in_flight = sweep::begin().map_err(|e| (None, setup("interrupted", e)))?;
        let t0 = std::time::Instant::now();
        let c = req.start().await.map_err(|e| {
            (
                None,
                setup("container", format!("{}: cannot start: {e}", role.role)),
            )
        })?;
        let t_started = t0.elapsed();
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
                .map_err(|e| setup("network", format!("{}: {e}", role.role)))?;
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
                    .map_err(|e| setup("network", format!("{}: connect {ip}: {e}", role.role)))?;
            }
            // Wired: a sweep may now remove this container safely.
            drop(held);
            tracing::debug!(
                "{}: started {:?}, wired {:?}",
                role.role,
                t_started,
                t0.elapsed()
            );
            // Only now may the entry script touch routes (see fixtures/lab/common.sh).
            std::fs::write(self.workdir.join(role.role.name()).join("wired"), b"")
                .map_err(|e| setup("lab-files", format!("{}: {e}", role.role)))?;
            let ready = self.wait_ready(role.role, &c).await;
            tracing::debug!("{}: ready {:?}", role.role, t0.elapsed());
            ready
        };
        match wire.await {
            Ok(v) => Ok((role.role, c, v)),
            Err(e) => Err((Some((role.role, c)), e)),
        }
    }
}
