//! The command line of SPEC section 4: exit code 2 with a message that says what to do, one
//! JSON document on stdout, the catalogue listed.

mod support;

use jitsi_conformance::run::{self, RunOptions};
use std::collections::BTreeSet;

#[test]
fn unreachable_docker_exits_2_saying_how_to_start_it() {
    let out = support::binary()
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
    let out = support::binary()
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
    let out = support::binary()
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
    let catalogue: BTreeSet<&str> = jitsi_conformance::catalogue::CATALOGUE
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, catalogue, "every check of the catalogue is listed");
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
    support::init();
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
