//! The lab's two networks on the first free address slot (SPEC section 2): Docker's own
//! masquerading off, bridges named after the lab so the host rule can name them, labelled for
//! the sweep. Docker arbitrates between processes: a subnet another lab holds is refused and the
//! next slot is tried.

use super::{setup, sweep, LabError, LAB_LABEL, PID_LABEL};
use crate::net::{self, AddressPlan};
use std::collections::HashMap;
use testcontainers::bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use testcontainers::bollard::Docker;

/// Where this process's next lab starts looking for a free slot.
static NEXT_SLOT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Creates the lab's wan and lan networks on the first slot that is free on this host and in
/// Docker (another process's lab holding a subnet makes Docker refuse; the next slot is tried).
pub(super) async fn create(
    docker: &Docker,
    id: &str,
) -> Result<(AddressPlan, Vec<String>), LabError> {
    // The host's own routes say what a lab must not cover. (No name is resolved here: the
    // suite sends nothing outside the lab, not even a DNS query.)
    let taken = net::host_subnets();
    let mut reasons = Vec::new();
    // Labs of one process (a test's pool) start their search at different slots, so labs
    // created at once do not all ask Docker for the same subnets first.
    let first = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % net::MAX_SLOTS;
    for slot in (0..net::MAX_SLOTS).map(|k| (first + k) % net::MAX_SLOTS) {
        let plan = AddressPlan::for_slot(slot);
        if let Some(why) = net::clash(&plan, &taken) {
            reasons.push(format!("slot {slot}: {why}"));
            continue;
        }
        let wan = format!("jc-{id}-wan");
        let lan = format!("jc-{id}-lan");
        // Side by side: each is a bridge and its rules for Docker to set up.
        let (w, l) = tokio::join!(
            create_network(docker, id, &wan, "w", plan.wan, plan.client_ip),
            create_network(docker, id, &lan, "l", plan.lan, plan.lan_gateway)
        );
        match (w, l) {
            (Ok(()), Ok(())) => return Ok((plan, vec![wan, lan])),
            (w, l) => {
                // The one Docker made goes; a clash tries the next slot.
                if w.is_ok() {
                    let _ = docker.remove_network(&wan).await;
                }
                if l.is_ok() {
                    let _ = docker.remove_network(&lan).await;
                }
                for e in [w.err(), l.err()].into_iter().flatten() {
                    if !is_overlap(&e) {
                        return Err(setup("network", e));
                    }
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
