//! What the lab tests share. Test binaries are not the suite's CLI, so the bridge host is given
//! the real `jitsi-conformance` executable to run as its fake bridge.
#![allow(dead_code)]

use jc_harness::lab::{selfexe, LAB_LABEL};
use jitsi_conformance::report::{Report, Status};
use jitsi_conformance::run::{self, RunOptions};
use std::collections::BTreeSet;
use std::process::Command;
use testcontainers::bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use testcontainers::bollard::Docker;

pub const EXE: &str = env!("CARGO_BIN_EXE_jitsi-conformance");

/// Call first in every lab test.
pub fn init() {
    selfexe::use_executable(std::path::Path::new(EXE));
}

pub fn binary() -> Command {
    Command::new(EXE)
}

pub async fn report(opts: RunOptions) -> Report {
    init();
    match run::run(&opts).await {
        Ok(o) => o.report,
        Err(e) => panic!("the lab could not run ({}): {}", e.kind, e.message),
    }
}

pub fn ids_with(r: &Report, status: Status) -> BTreeSet<&str> {
    r.checks
        .iter()
        .filter(|c| c.status == status)
        .map(|c| c.id.as_str())
        .collect()
}

/// Every check that did not pass, with its words: the message of a failed assertion.
pub fn explain(r: &Report) -> String {
    r.checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("{} {:?}: {}", c.id, c.status, c.actual))
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn docker() -> Docker {
    jc_harness::host::docker(jc_harness::host::HostSetup::from_env())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Containers and networks of lab `id` that still exist.
pub async fn leftovers(docker: &Docker, id: &str) -> usize {
    let f = Some(std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("{LAB_LABEL}={id}")],
    )]));
    let c = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: f.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let n = docker
        .list_networks(Some(ListNetworksOptions { filters: f }))
        .await
        .unwrap();
    c.len() + n.len()
}
