//! Lab tests for the NAT and ICE suites (issue 3): `reference` passes every check, `current`
//! passes with the ICE-TCP checks skipped, and each NAT fault gives exactly the MUST failures
//! its fault.toml lists. They need a Docker engine, like the other lab tests.

use jc_harness::profile::Profile;
use jitsi_conformance::report::{Report, Status};
use jitsi_conformance::run::{self, RunOptions};
use std::collections::BTreeSet;

const NAT_ICE_CHECKS: &[&str] = &[
    "nat/udp/1",
    "nat/udp/2",
    "nat/tcp/1",
    "nat/exposure/1",
    "ice/candidates/1",
    "ice/candidates/2",
    "ice/candidates/3",
    "ice/candidates/4",
];

async fn report(opts: RunOptions) -> Report {
    match run::run(&opts).await {
        Ok(o) => o.report,
        Err(e) => panic!("the lab could not run ({}): {}", e.kind, e.message),
    }
}

fn with(r: &Report, status: Status) -> BTreeSet<&str> {
    r.checks
        .iter()
        .filter(|c| c.status == status)
        .map(|c| c.id.as_str())
        .collect()
}

fn explain(r: &Report) -> String {
    r.checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("{} {:?}: {}", c.id, c.status, c.actual))
        .collect::<Vec<_>>()
        .join("\n")
}

fn has_all_nat_ice(r: &Report) {
    let ids: BTreeSet<&str> = r.checks.iter().map(|c| c.id.as_str()).collect();
    for id in NAT_ICE_CHECKS {
        assert!(ids.contains(id), "{id} missing from the report");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reference_passes_every_check() {
    let r = report(RunOptions::profile("reference")).await;
    has_all_nat_ice(&r);
    let not_pass: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| c.id.as_str())
        .collect();
    assert!(not_pass.is_empty(), "{}", explain(&r));
}

#[tokio::test(flavor = "multi_thread")]
async fn current_passes_with_the_tcp_checks_skipped() {
    let r = report(RunOptions::profile("current")).await;
    has_all_nat_ice(&r);
    assert_eq!(
        with(&r, Status::Skip),
        BTreeSet::from(["nat/tcp/1", "ice/candidates/4"]),
        "{}",
        explain(&r)
    );
    assert!(r.must_failures().is_empty(), "{}", explain(&r));
    for c in r.checks.iter().filter(|c| c.status == Status::Skip) {
        assert!(
            c.actual.contains("ice_tcp = false"),
            "{}: {}",
            c.id,
            c.actual
        );
    }
}

async fn fault_gives_exactly_its_must_failures(name: &str) -> Report {
    let fault = Profile::load_fault(&run::fixtures(), name).expect("the fault loads");
    let listed: BTreeSet<String> = fault
        .fault
        .as_ref()
        .expect("a fault")
        .1
        .must_fail
        .iter()
        .cloned()
        .collect();
    let r = report(RunOptions::fault(name)).await;
    let got: BTreeSet<String> = r.must_failures().into_iter().map(String::from).collect();
    assert_eq!(got, listed, "fault {name}:\n{}", explain(&r));
    assert_eq!(r.exit_code(), 1);
    r
}

fn actual<'a>(r: &'a Report, id: &str) -> &'a str {
    &r.checks
        .iter()
        .find(|c| c.id == id)
        .expect("check ran")
        .actual
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_nat_local_is_proxy() {
    let r = fault_gives_exactly_its_must_failures("nat-local-is-proxy").await;
    let a = actual(&r, "ice/candidates/2");
    assert!(
        a.contains("no host address") && a.contains("PROXY_IP"),
        "{a}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_nat_in_jicofo_file() {
    let r = fault_gives_exactly_its_must_failures("nat-in-jicofo-file").await;
    let a = actual(&r, "ice/candidates/2");
    assert!(a.contains("jicofo's file"), "{a}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_no_dnat_udp() {
    let r = fault_gives_exactly_its_must_failures("no-dnat-udp").await;
    let a = actual(&r, "nat/udp/1");
    assert!(a.contains("no answer within"), "{a}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_asymmetric_return() {
    let r = fault_gives_exactly_its_must_failures("asymmetric-return").await;
    let a = actual(&r, "nat/udp/1");
    assert!(
        a.contains("reply came from") && a.contains("BRIDGE_IP") && a.contains("bypasses the NAT"),
        "{a}"
    );
}
