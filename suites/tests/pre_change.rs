//! The pre-change run (issue 4): an operator's own files, with real-looking addresses, give
//! the verdicts of the profile they are a copy of, and the report speaks their addresses.

mod support;

use jc_harness::operator::OperatorFiles;
use jitsi_conformance::report::Status;
use jitsi_conformance::run::{self, RunOptions};
use std::path::PathBuf;

fn examples() -> PathBuf {
    run::fixtures().join("examples")
}

fn files() -> OperatorFiles {
    OperatorFiles {
        vhost: examples().join("meet.example.org.conf"),
        rules: examples().join("rules.v4"),
        bridge_config: Some(examples().join("sip-communicator.properties")),
        jicofo_config: Some(examples().join("jicofo-sip-communicator.properties")),
        wan_if: Some("ens3".into()),
        lan_if: Some("ens4".into()),
        ..Default::default()
    }
}

fn operator_run(files: OperatorFiles) -> RunOptions {
    RunOptions {
        operator: Some(files),
        ..RunOptions::profile("reference")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_files_give_the_reference_verdicts_in_their_own_addresses() {
    let (ours, theirs) = (operator_run(files()), RunOptions::profile("reference"));
    support::init();
    let (mine, reference) = tokio::join!(run::run(&ours), run::run(&theirs));
    let (mine, reference) = (
        mine.unwrap_or_else(|e| panic!("{e}")).report,
        reference.unwrap_or_else(|e| panic!("{e}")).report,
    );
    assert_eq!(mine.target.fqdn, "meet.example.org");
    assert_eq!(
        mine.target.public_ip, "198.51.100.77",
        "the report names the operator's public address"
    );
    for (a, b) in mine.checks.iter().zip(reference.checks.iter()) {
        assert_eq!(a.id, b.id);
        if a.id.starts_with("tls/cert/") {
            assert_eq!(a.status, Status::Skip, "no --cert/--key: {}", a.actual);
            assert!(a.actual.contains("--cert"), "{}", a.actual);
        } else {
            assert_eq!(
                a.status, b.status,
                "{}: operator {} / reference {}",
                a.id, a.actual, b.actual
            );
        }
    }
    let all = serde_json::to_string(&mine.checks).unwrap();
    assert!(
        !all.contains(&reference.target.public_ip),
        "lab addresses must be named back in the operator's terms"
    );
    assert_eq!(mine.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_operator_vhost_names_their_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let vhost = dir.path().join("meet.conf");
    let text = std::fs::read_to_string(examples().join("meet.example.org.conf")).unwrap();
    // An unclosed section: caught before any container starts.
    let broken = text.replacen("    </Directory>\n", "", 1);
    std::fs::write(&vhost, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("<Directory"))
        .unwrap()
        + 1;
    support::init();
    let err = match run::run(&operator_run(OperatorFiles {
        vhost: vhost.clone(),
        ..files()
    }))
    .await
    {
        Ok(_) => panic!("must not run"),
        Err(e) => e,
    };
    assert_eq!(err.kind, "config");
    // Reported where the imbalance shows, naming where the section opened.
    assert!(
        err.message.starts_with(&format!("{}:", vhost.display())),
        "{}",
        err.message
    );
    assert!(
        err.message.contains(&format!("opened at line {line}")),
        "{}",
        err.message
    );
}

#[test]
fn rules_naming_interfaces_need_the_operator_to_say_which() {
    let out = support::binary()
        .args(["lab", "--format", "json", "--no-host-setup", "--vhost"])
        .arg(examples().join("meet.example.org.conf"))
        .arg("--rules")
        .arg(examples().join("rules.v4"))
        .arg("--bridge-config")
        .arg(examples().join("sip-communicator.properties"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("rules.v4:") && msg.contains("--wan-if ens3"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_config_the_bridge_rejects_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("jvb.conf");
    std::fs::write(
        &conf,
        "videobridge {\n  ice {\n    udp { port = 10000 }\n    tcp { enabled = \n",
    )
    .unwrap();
    let opts = operator_run(OperatorFiles {
        jvb_conf: Some(conf.clone()),
        ..files()
    });
    support::init();
    let err = match run::run(&opts).await {
        Ok(_) => panic!("a jvb.conf the bridge cannot read must not run"),
        Err(e) => e,
    };
    assert_eq!(err.kind, "config", "{}", err.message);
    assert!(
        err.message.starts_with(&format!("{}:", conf.display())),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_certificate_is_judged_against_the_public_roots() {
    // A certificate no public CA signed: the proxy serves it, tls/cert/1 must say so.
    let pki = jc_harness::pki::LabPki::generate("meet.example.org", "10.20.30.40".parse().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        dir.path().join("fullchain.pem"),
        dir.path().join("privkey.pem"),
    );
    std::fs::write(&cert, &pki.proxy.cert_pem).unwrap();
    std::fs::write(&key, &pki.proxy.key_pem).unwrap();
    let opts = RunOptions {
        only: vec!["tls/*".into()],
        ..operator_run(OperatorFiles {
            cert: Some((cert, key)),
            ..files()
        })
    };
    support::init();
    let r = run::run(&opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .report;
    let c1 = r.checks.iter().find(|c| c.id == "tls/cert/1").unwrap();
    assert_eq!(c1.status, Status::Fail, "{}", c1.actual);
    assert!(
        c1.expected.contains("public roots") && c1.actual.contains("UnknownIssuer"),
        "{} / {}",
        c1.expected,
        c1.actual
    );
    let c2 = r.checks.iter().find(|c| c.id == "tls/cert/2").unwrap();
    assert_eq!(
        c2.status,
        Status::Pass,
        "the certificate itself has 90 days: {}",
        c2.actual
    );
}
