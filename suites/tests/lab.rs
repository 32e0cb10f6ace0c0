//! Lab tests for the HTTP, TLS and proxy suites (issue 2). They need a Docker engine; as root
//! on Debian the harness installs and starts one, otherwise they fail saying how to start it.

use jc_harness::lab::{firewall, sweep, LAB_LABEL};
use jitsi_conformance::report::{Report, Status};
use jitsi_conformance::run::{self, RunOptions};
use std::collections::BTreeSet;
use std::process::Command;
use testcontainers::bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use testcontainers::bollard::Docker;

const ISSUE_2_CHECKS: &[&str] = &[
    "http/redirect/1",
    "http/redirect/2",
    "http/redirect/3",
    "http/acme/1",
    "http/acme/2",
    "http/acme/3",
    "http/acme/4",
    "tls/cert/1",
    "tls/cert/2",
    "tls/protocol/1",
    "tls/hsts/1",
    "proxy/backend/1",
    "proxy/backend/2",
    "proxy/backend/3",
    "proxy/websocket/1",
    "proxy/websocket/2",
    "proxy/upstream-tls/1",
    "proxy/forwarded/1",
];

async fn report(opts: RunOptions) -> Report {
    match run::run(&opts).await {
        Ok(o) => o.report,
        Err(e) => panic!("the lab could not run ({}): {}", e.kind, e.message),
    }
}

fn only_issue_2() -> Vec<String> {
    vec!["http/*".into(), "tls/*".into(), "proxy/*".into()]
}

fn ids_with(r: &Report, status: Status) -> BTreeSet<&str> {
    r.checks
        .iter()
        .filter(|c| c.status == status)
        .map(|c| c.id.as_str())
        .collect()
}

async fn docker() -> Docker {
    jc_harness::host::docker(jc_harness::host::HostSetup::from_env())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Containers and networks of lab `id` that still exist.
async fn leftovers(docker: &Docker, id: &str) -> usize {
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

#[tokio::test(flavor = "multi_thread")]
async fn reference_passes_every_check() {
    let r = report(RunOptions {
        only: only_issue_2(),
        ..RunOptions::profile("reference")
    })
    .await;
    let ran: BTreeSet<&str> = r.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ran,
        ISSUE_2_CHECKS.iter().copied().collect(),
        "the catalogue's http/tls/proxy checks"
    );
    let not_passing: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| (&c.id, &c.actual))
        .collect();
    assert!(
        not_passing.is_empty(),
        "reference must pass everything: {not_passing:#?}"
    );
    for pkg in ["apache2", "nginx", "iptables"] {
        assert!(
            r.lab.get(pkg).is_some_and(|v| !v.is_empty()),
            "the report names the {pkg} version: {:?}",
            r.lab
        );
    }
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn blog_2020_fails_exactly_the_websocket_checks() {
    let r = report(RunOptions {
        only: only_issue_2(),
        ..RunOptions::profile("blog-2020")
    })
    .await;
    let must: BTreeSet<&str> = r.must_failures().into_iter().collect();
    assert_eq!(
        must,
        BTreeSet::from(["proxy/websocket/1", "proxy/websocket/2"]),
        "{:#?}",
        r.checks
    );
    assert_eq!(
        ids_with(&r, Status::Warn),
        BTreeSet::from([
            "proxy/upstream-tls/1",
            "tls/hsts/1",
            "http/redirect/3",
            "http/acme/4"
        ])
    );
    // The diagnosis says what happened, not just that it failed.
    let ws = r
        .checks
        .iter()
        .find(|c| c.id == "proxy/websocket/1")
        .unwrap();
    assert!(
        ws.actual.contains("200") && ws.actual.contains("Upgrade"),
        "{}",
        ws.actual
    );
    let redirect = r.checks.iter().find(|c| c.id == "http/redirect/3").unwrap();
    assert!(redirect.actual.contains("/a?b"), "{}", redirect.actual);
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_drop_rule_lives_exactly_as_long_as_the_lab() {
    let (lab, _) = run::start_lab(&RunOptions::profile("reference"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = lab.id.clone();
    assert!(
        firewall::installed().contains(&id),
        "DOCKER-USER must hold the lab's drop rule while it is up"
    );
    let docker = docker().await;
    assert!(
        leftovers(&docker, &id).await >= 5,
        "3 containers and 2 networks carry the lab's label"
    );
    lab.down().await;
    assert!(
        !firewall::installed().contains(&id),
        "the drop rule must go with the lab"
    );
    assert_eq!(
        leftovers(&docker, &id).await,
        0,
        "nothing of the lab may remain"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_labs_run_side_by_side() {
    let opts = RunOptions {
        only: vec!["proxy/backend/1".into(), "http/redirect/1".into()],
        ..RunOptions::profile("reference")
    };
    let (a, b) = tokio::join!(run::start_lab(&opts), run::start_lab(&opts));
    let (a, b) = (
        a.unwrap_or_else(|e| panic!("{e}")).0,
        b.unwrap_or_else(|e| panic!("{e}")).0,
    );
    assert_ne!(a.plan.wan, b.plan.wan, "each lab gets its own public slice");
    assert_ne!(a.plan.lan, b.plan.lan, "and its own LAN");
    let checks = jitsi_conformance::runner::selected(&opts.only);
    let (ra, rb) = tokio::join!(
        jitsi_conformance::runner::run(&a, &checks),
        jitsi_conformance::runner::run(&b, &checks)
    );
    for r in ra.iter().chain(rb.iter()) {
        assert_eq!(r.status, Status::Pass, "{}: {}", r.id, r.actual);
    }
    let (ida, idb) = (a.id.clone(), b.id.clone());
    tokio::join!(a.down(), b.down());
    let docker = docker().await;
    assert_eq!(
        leftovers(&docker, &ida).await + leftovers(&docker, &idb).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_run_leaves_nothing() {
    let (lab, _) = run::start_lab(&RunOptions::profile("reference"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = lab.id.clone();
    let task = tokio::spawn(async move {
        let _lab = lab;
        panic!("a check blew up");
    });
    assert!(task.await.unwrap_err().is_panic());
    let docker = docker().await;
    assert_eq!(
        leftovers(&docker, &id).await,
        0,
        "the guard's drop must sweep the lab"
    );
    assert!(!firewall::installed().contains(&id));
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jitsi-conformance"))
}

#[test]
fn unreachable_docker_exits_2_saying_how_to_start_it() {
    let out = binary()
        .args(["lab", "--format", "json", "--no-host-setup"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document on stdout");
    assert_eq!(v["error"]["kind"], "no-docker");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("dockerd"),
        "{v}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install -y docker.io"));
}

#[test]
fn unknown_profile_exits_2_naming_the_known_ones() {
    let out = binary()
        .args(["lab", "--profile", "no-such-profile", "--no-host-setup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reference") && err.contains("blog-2020"),
        "{err}"
    );
}

#[test]
fn list_shows_the_catalogue_as_json() {
    let out = binary()
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: BTreeSet<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in ISSUE_2_CHECKS {
        assert!(ids.contains(id), "{id} listed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vhost_apache_rejects_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let reference = run::fixtures().join("profiles/reference");
    for rel in [
        "manifest.toml",
        "apache/site.conf",
        "router/rules.v4",
        "videobridge/sip-communicator.properties",
    ] {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(reference.join(rel), &to).unwrap();
    }
    let vhost = dir.path().join("apache/site.conf");
    let text = std::fs::read_to_string(&vhost).unwrap().replacen(
        "    SSLEngine on\n",
        "    SSLEngine on\n    SSLBogusDirective yes\n",
        1,
    );
    let line = text
        .lines()
        .position(|l| l.contains("SSLBogusDirective"))
        .unwrap()
        + 1;
    std::fs::write(&vhost, text).unwrap();
    let opts = RunOptions::profile(dir.path().to_str().unwrap());
    let err = match run::run(&opts).await {
        Ok(_) => panic!("a vhost Apache rejects must not run"),
        Err(e) => e,
    };
    assert_eq!(err.kind, "config");
    assert!(
        err.message
            .starts_with(&format!("{}:{line}:", vhost.display())),
        "{}",
        err.message
    );
    assert!(err.message.contains("SSLBogusDirective"), "{}", err.message);
}

#[test]
fn ctrl_c_removes_the_lab() {
    let mut child = binary()
        .args(["lab", "--keep", "--no-host-setup"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Wait (bounded) until the run has a lab, then interrupt it mid-run.
    let id = rt.block_on(async {
        let docker = docker().await;
        for _ in 0..600 {
            let labs = sweep::labs(&docker).await;
            if let Some((id, _)) = labs.iter().find(|(_, p)| **p == pid) {
                return Some(id.clone());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        None
    });
    let Some(id) = id else {
        let _ = child.kill();
        panic!("the run never started a lab");
    };
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted runs exit 130");
    rt.block_on(async {
        let docker = docker().await;
        assert_eq!(
            leftovers(&docker, &id).await,
            0,
            "Ctrl-C must remove the lab"
        );
    });
    assert!(!firewall::installed().contains(&id));
}

#[test]
fn a_kept_lab_survives_other_runs_until_cleaned() {
    let out = binary()
        .args([
            "lab",
            "--keep",
            "--only",
            "tls/protocol/1",
            "--format",
            "json",
            "--no-host-setup",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let id = err
        .split("lab ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the kept lab's id")
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = docker().await;
        // Another run starts (and sweeps leftovers of dead processes): the kept lab stays.
        let again = run::run(&RunOptions {
            only: vec!["tls/protocol/1".into()],
            ..RunOptions::profile("reference")
        })
        .await;
        assert!(again.is_ok());
        assert!(
            leftovers(&docker, &id).await >= 5,
            "a kept lab must survive other runs"
        );
        assert!(firewall::installed().contains(&id));
    });
    let clean = binary().args(["clean", "--lab", &id]).output().unwrap();
    assert_eq!(clean.status.code(), Some(0));
    rt.block_on(async {
        assert_eq!(leftovers(&docker().await, &id).await, 0);
    });
    assert!(!firewall::installed().contains(&id));
}
