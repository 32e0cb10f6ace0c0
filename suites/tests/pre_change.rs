//! The pre-change run (SPEC section 8) with the operator's own files: the verdicts of the
//! profile they are a copy of, the report in their own addresses, bad input stopped before any
//! container starts, and no probe that can leave the lab, not even for a DNS query.

mod support;

use jc_harness::site::OperatorFiles;
use jitsi_conformance::report::Status;
use jitsi_conformance::run::{self, RunOptions};
use std::path::PathBuf;
use std::process::Command;

fn examples() -> PathBuf {
    run::fixtures().join("examples")
}

fn files() -> OperatorFiles {
    OperatorFiles {
        vhost: examples().join("meet.example.org.conf"),
        rules: examples().join("rules.v4"),
        bridge_config: Some(examples().join("sip-communicator.properties")),
        jvb_conf: Some(examples().join("jvb.conf")),
        jicofo_config: Some(examples().join("jicofo-sip-communicator.properties")),
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
    support::init();
    let (ours, theirs) = (operator_run(files()), RunOptions::profile("reference"));
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
    // What was inferred, rewritten and assumed is in the report.
    let site = mine.site.as_ref().expect("site");
    assert_eq!(site["bridge_ip"]["value"], "10.20.30.40");
    assert!(site["bridge_ip"]["sources"].as_array().unwrap().len() >= 3);
    assert_eq!(site["wan_if"]["value"], "ens3");
    let t = mine.translation.as_ref().expect("translation");
    assert!(t
        .iter()
        .any(|l| l.from.contains("10.20.30.40") && !l.to.contains("10.20.30.40")));
    let ids: Vec<&str> = mine
        .assumptions
        .as_ref()
        .expect("assumptions")
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    for id in [
        "proxy-certificate",
        "backend-certificate",
        "certbot-options",
        "return-path",
    ] {
        assert!(ids.contains(&id), "assumption {id}: {ids:?}");
    }
    let b1 = mine
        .checks
        .iter()
        .find(|c| c.id == "proxy/backend/1")
        .unwrap();
    assert!(
        b1.actual.contains("assumes: backend-certificate"),
        "{}",
        b1.actual
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
    assert!(
        err.message.starts_with(&format!("{}:", vhost.display())),
        "{}",
        err.message
    );
    assert!(err.message.contains(&line.to_string()), "{}", err.message);
}

#[test]
fn interfaces_the_files_cannot_place_need_the_operator_to_say_which() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.v4");
    let text = std::fs::read_to_string(examples().join("rules.v4"))
        .unwrap()
        .replace(" -i ens3", "")
        .replace(
            "-A FORWARD -s 10.20.30.0/24 -i ens4 -j ACCEPT",
            "-A FORWARD -i eth1 -o eth0 -j ACCEPT",
        );
    std::fs::write(&rules, text).unwrap();
    let out = support::binary()
        .args(["lab", "--format", "json", "--no-host-setup", "--vhost"])
        .arg(examples().join("meet.example.org.conf"))
        .arg("--rules")
        .arg(&rules)
        .arg("--bridge-config")
        .arg(examples().join("sip-communicator.properties"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("rules.v4:") && msg.contains("--wan-if"),
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

/// Counts the host's DNS packets (udp and tcp 53) from the moment it is made.
struct DnsCounter(String);

impl DnsCounter {
    fn start() -> Self {
        let tag = format!("jc-dns-count-{}", std::process::id());
        for proto in ["udp", "tcp"] {
            let ok = Command::new("iptables")
                .args([
                    "-w",
                    "-I",
                    "OUTPUT",
                    "1",
                    "-p",
                    proto,
                    "--dport",
                    "53",
                    "-m",
                    "comment",
                    "--comment",
                    &tag,
                ])
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot install the DNS counter");
        }
        DnsCounter(tag)
    }

    fn packets(&self) -> u64 {
        let out = Command::new("iptables")
            .args(["-w", "-L", "OUTPUT", "-v", "-x", "-n"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&self.0))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for DnsCounter {
    fn drop(&mut self) {
        for proto in ["udp", "tcp"] {
            let _ = Command::new("iptables")
                .args([
                    "-w",
                    "-D",
                    "OUTPUT",
                    "-p",
                    proto,
                    "--dport",
                    "53",
                    "-m",
                    "comment",
                    "--comment",
                    &self.0,
                ])
                .status();
        }
    }
}

/// `ServerName meet.example.org:443` is valid Apache; read as a name with a port it once made
/// the HTTP probe fall back to a real DNS lookup of the production name. Now no probe can.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_name_with_a_port_sends_no_dns_query_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let vhost = dir.path().join("meet.conf");
    let text = std::fs::read_to_string(examples().join("meet.example.org.conf"))
        .unwrap()
        .replace(
            "ServerName meet.example.org\n",
            "ServerName meet.example.org:443\n",
        );
    std::fs::write(&vhost, text).unwrap();
    let counter = DnsCounter::start();
    let opts = operator_run(OperatorFiles { vhost, ..files() });
    support::init();
    let r = run::run(&opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .report;
    assert_eq!(counter.packets(), 0, "the run sent DNS queries");
    assert_eq!(r.target.fqdn, "meet.example.org");
    assert!(r.must_failures().is_empty(), "{}", support::explain(&r));
    let all = serde_json::to_string(&r.checks).unwrap();
    assert!(
        !all.contains("dns error") && !all.contains("refused to resolve"),
        "{all}"
    );
}
