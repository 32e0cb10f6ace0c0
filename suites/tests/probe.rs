//! The live probe (SPEC section 11) against kept labs: given the `kept` values a `lab --keep`
//! prints, `probe` gives exactly the lab's verdict for every check both run; bad arguments
//! exit 2 naming them; an unreachable site is one clear error within the budget.
//!
//! Every probe here runs with `JC_PROBE_NO_SYSTEM_RESOLVER` set: a name without a `--resolve`
//! entry is an error, never a DNS query.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Checks whose live verdict needs the room (a Jingle session, XEP-0215): where the site's XMPP
/// websocket is refused (blog-2020), the probe cannot join, and these say why.
const NEED_THE_ROOM: &[&str] = &[
    "proxy/websocket/2",
    "nat/udp/1",
    "nat/udp/2",
    "nat/tcp/1",
    "ice/candidates/1",
    "ice/candidates/2",
    "ice/candidates/3",
    "ice/candidates/4",
    "ice/connect/1",
    "ice/connect/2",
];

/// A lab kept by `lab --keep`, removed (`clean --lab`) when this drops, on failure too.
struct KeptLab {
    id: String,
    report: Value,
}

impl KeptLab {
    /// `lab --keep` of a profile, or of a fault (`fault:NAME`).
    fn start(what: &str) -> KeptLab {
        let (flag, name) = match what.strip_prefix("fault:") {
            Some(f) => ("--fault", f),
            None => ("--profile", what),
        };
        let out = support::binary()
            .args([
                "lab",
                "--keep",
                flag,
                name,
                "--format",
                "json",
                "--no-host-setup",
            ])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "lab --keep printed no report ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let id = report["kept"]["lab"]
            .as_str()
            .unwrap_or_else(|| panic!("no kept.lab in {report}"))
            .to_string();
        let kept = KeptLab { id, report };
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("probe: jitsi-conformance probe https://meet.lab.test --resolve "),
            "lab --keep prints the probe command line"
        );
        kept
    }

    fn kept(&self, key: &str) -> String {
        self.report["kept"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no kept.{key}"))
            .to_string()
    }

    /// `probe` with the kept values, as JSON; its exit code.
    fn probe(&self) -> (Option<i32>, Value) {
        self.probe_with(&[])
    }

    /// `probe` with the kept values and `extra` arguments.
    fn probe_with(&self, extra: &[&str]) -> (Option<i32>, Value) {
        let fqdn = self.report["target"]["fqdn"].as_str().unwrap().to_string();
        let out = support::binary()
            .env(jc_harness::probe::resolver::NO_SYSTEM_RESOLVER, "1")
            .args([
                "probe",
                &format!("https://{fqdn}"),
                "--resolve",
                &self.kept("resolve"),
                "--ca",
                &self.kept("ca"),
                "--expect-public-ip",
                &self.kept("public_ip"),
                "--expect-bridge-ip",
                &self.kept("bridge_ip"),
                "--tcp",
                &self.kept("tcp"),
                "--format",
                "json",
            ])
            .args(extra)
            .output()
            .unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "probe printed no report ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code(), v)
    }
}

impl Drop for KeptLab {
    fn drop(&mut self) {
        let _ = support::binary()
            .args(["clean", "--lab", &self.id])
            .output();
    }
}

fn statuses(report: &Value) -> BTreeMap<String, (String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["actual"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// The kept lab's verdicts against the probe's, check by check; the probe's report.
fn same_verdicts(what: &str) -> Value {
    same_verdicts_but(what, |_, _, _| false)
}

/// As [`same_verdicts`], except the checks `expected_gap(id, status, actual)` accepts (after
/// asserting what they say).
fn same_verdicts_but(what: &str, expected_gap: impl Fn(&str, &str, &str) -> bool) -> Value {
    same_verdicts_with(what, &[], expected_gap)
}

/// As [`same_verdicts_but`], the probe run with `extra` arguments.
fn same_verdicts_with(
    what: &str,
    extra: &[&str],
    expected_gap: impl Fn(&str, &str, &str) -> bool,
) -> Value {
    support::init();
    let lab = KeptLab::start(what);
    let (code, probe) = lab.probe_with(extra);
    assert_eq!(probe["profile"], "live");
    assert!(
        probe["lab"].is_null(),
        "a probe has no lab: {}",
        probe["lab"]
    );
    assert_eq!(probe["config_js"]["domain"], "meet.lab.test");
    assert_eq!(probe["config_js"]["muc"], "conference.meet.lab.test");
    assert_eq!(
        probe["config_js"]["service_url"],
        "wss://meet.lab.test/xmpp-websocket"
    );
    // Only the named public address was contacted, and at least its web ports.
    let public = lab.kept("public_ip");
    let contacted = probe["contacted"].as_array().unwrap();
    assert!(
        contacted.iter().all(|c| c["addr"] == public.as_str()),
        "{contacted:?}"
    );
    for port in [80, 443] {
        assert!(
            contacted
                .iter()
                .any(|c| c["port"] == port && c["proto"] == "tcp"),
            "{port} not in {contacted:?}"
        );
    }
    let labs = statuses(&lab.report);
    let live = statuses(&probe);
    assert_eq!(
        labs.keys().collect::<Vec<_>>(),
        live.keys().collect::<Vec<_>>()
    );
    let mut compared = 0;
    for (id, (lab_status, lab_actual)) in &labs {
        let (status, actual) = &live[id];
        if expected_gap(id, status, actual) {
            continue;
        }
        if status == "skip" && actual.starts_with("live probe:") {
            // Needs the lab's insides (its files, Docker, the ACME webroot): not a live check.
            continue;
        }
        assert_eq!(
            lab_status, status,
            "{id}: lab {lab_status} ({lab_actual}) but probe {status} ({actual})"
        );
        compared += 1;
    }
    assert!(compared >= 14, "only {compared} checks compared");
    let must_failed = probe["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["severity"] == "must" && (c["status"] == "fail" || c["status"] == "error"));
    assert_eq!(code, Some(i32::from(must_failed)));
    probe
}

#[test]
fn the_reference_lab_probed_live_gives_the_labs_verdicts() {
    // As the site's web client signs in: the lab's config.js sets no websocket (Jitsi's
    // template), so over BOSH; then over the websocket, which the reference proxies too.
    for xmpp in ["auto", "websocket"] {
        let probe = same_verdicts_with("reference", &["--xmpp", xmpp], |_, _, _| false);
        let (wire, url) = match xmpp {
            "auto" => ("bosh", "https://meet.lab.test/http-bind"),
            _ => ("websocket", "wss://meet.lab.test/xmpp-websocket"),
        };
        assert_eq!(probe["config_js"]["signed_in_over"]["wire"], wire);
        assert_eq!(probe["config_js"]["signed_in_over"]["url"], url);
        // The media path end to end: a room, Jingle, ICE and DTLS through the NAT.
        assert_eq!(statuses(&probe)["ice/connect/2"].0, "pass", "--xmpp {xmpp}");
        assert_eq!(probe["summary"]["fail"], 0, "--xmpp {xmpp}");
    }
}

/// blog-2020's proxy strips the Upgrade header, but its users sign in over BOSH (config.js
/// sets no websocket), and so does the probe: it joins the room and gives exactly the lab's
/// verdicts, its MUST failures the profile's row.
#[test]
fn the_blog_2020_lab_probed_over_bosh_gives_the_labs_verdicts() {
    let probe = same_verdicts("blog-2020");
    assert_eq!(statuses(&probe)["ice/connect/2"].0, "pass");
    assert_eq!(
        must_failures(&probe),
        ["proxy/websocket/1", "proxy/websocket/2"]
            .into_iter()
            .collect()
    );
}

#[test]
fn the_current_lab_probed_live_gives_the_labs_verdicts() {
    let probe = same_verdicts("current");
    // Its TURN servers and credentials come from prosody's XEP-0215 answer, and work: the
    // relay-only session too.
    for id in ["turn/udp/1", "turn/tls/1", "turn/auth/1", "turn/relay/1"] {
        let turn = &statuses(&probe)[id];
        assert_eq!(turn.0, "pass", "{id}: {}", turn.1);
    }
}

/// The NAT faults: the probe, from outside, finds exactly the lab's MUST failures (each fault's
/// SPEC section 6 row).
#[test]
fn nat_faults_probed_live_give_their_rows() {
    faults_give_their_rows(&["nat-public-wrong", "no-dnat-udp", "asymmetric-return"]);
}

/// The TURN faults, probed with the servers and credentials the site hands out over XEP-0215,
/// turn/relay/1's relay-only session included: exactly each fault's row.
#[test]
fn turn_faults_probed_live_give_their_rows() {
    faults_give_their_rows(&[
        "turn-denies-bridge",
        "no-dnat-turns",
        "turn-secret-mismatch",
        "turn-no-external-ip",
    ]);
}

/// The ids of the report's failed MUST checks.
fn must_failures(report: &Value) -> std::collections::BTreeSet<&str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["severity"] == "must" && c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

fn faults_give_their_rows(faults: &[&str]) {
    for fault in faults {
        let probe = same_verdicts(&format!("fault:{fault}"));
        let p =
            jc_harness::profile::Profile::load_fault(&jitsi_conformance::run::fixtures(), fault)
                .unwrap();
        let row: std::collections::BTreeSet<&str> = p
            .fault
            .as_ref()
            .unwrap()
            .1
            .must_fail
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(must_failures(&probe), row, "{fault}");
    }
}

/// A site whose XEP-0215 answer names a TURN host of its own (`turn.FQDN`, as many deployments
/// do): the probe resolves that name as it resolves the site's (`--resolve` first; the system
/// resolver never in tests), probes the TURN server there, and verifies its certificate for the
/// name clients are given. Without a resolution the TURN checks say which name they could not
/// resolve; nothing is sent anywhere else.
#[test]
fn a_turn_host_under_its_own_name_is_resolved_and_probed_by_that_name() {
    support::init();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("turn-host");
    copy_dir(
        &jitsi_conformance::run::fixtures().join("profiles/current"),
        &profile,
    );
    let site = profile.join("prosody/site.cfg.lua");
    let cfg = std::fs::read_to_string(&site).unwrap();
    let renamed = cfg.replace(
        r#"type = "turn", host = "${FQDN}""#,
        r#"type = "turn", host = "turn.${FQDN}""#,
    );
    let renamed = renamed.replace(
        r#"type = "turns", host = "${FQDN}""#,
        r#"type = "turns", host = "turn.${FQDN}""#,
    );
    assert_ne!(
        cfg, renamed,
        "the current profile's prosody names its TURN host"
    );
    std::fs::write(&site, renamed).unwrap();
    let lab = KeptLab::start(profile.to_str().unwrap());
    let public = lab.kept("public_ip");

    // Unresolved: the TURN checks say which name, and no TURN port is contacted.
    let (_, probe) = lab.probe();
    for id in ["turn/udp/1", "turn/tls/1", "turn/auth/1", "turn/relay/1"] {
        let (status, actual) = &statuses(&probe)[id];
        assert_eq!(status, "error", "{id}: {actual}");
        assert!(
            actual.contains("TURN host turn.meet.lab.test (XEP-0215)"),
            "{id}: {actual}"
        );
    }
    let ports: Vec<u64> = probe["contacted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["port"].as_u64().unwrap())
        .collect();
    assert!(
        !ports.contains(&3478) && !ports.contains(&5349),
        "{ports:?}"
    );

    // Resolved on the command line: probed there. The lab's certificate names only the site,
    // so TURN over TLS fails for the name clients are given, as it would in a browser.
    let (code, probe) = lab.probe_with(&["--resolve", &format!("turn.meet.lab.test:{public}")]);
    let verdicts = statuses(&probe);
    for id in ["turn/udp/1", "turn/auth/1"] {
        assert_eq!(verdicts[id].0, "pass", "{id}: {}", verdicts[id].1);
    }
    let (status, actual) = &verdicts["turn/tls/1"];
    assert_eq!(status, "fail", "{actual}");
    assert!(
        actual.contains("does not verify for turn.meet.lab.test"),
        "{actual}"
    );
    assert_eq!(code, Some(1));
    let contacted: Vec<(String, u64)> = probe["contacted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["addr"].as_str().unwrap().to_string(),
                c["port"].as_u64().unwrap(),
            )
        })
        .collect();
    for port in [3478, 5349] {
        assert!(contacted.contains(&(public.clone(), port)), "{contacted:?}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Stops (SIGSTOP) the bridge host's process whose command line has `what`: it stays, silent.
fn stop_in_bridge(lab: &KeptLab, what: &str) {
    let script = format!(
        r#"n=0; for p in /proc/[0-9]*; do [ "${{p#/proc/}}" = "$$" ] && continue; case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in "/usr/local/bin/jitsi-conformance fake-bridge {what} "*) kill -STOP "${{p#/proc/}}" && n=$((n+1));; esac; done; [ "$n" -gt 0 ]"#
    );
    let st = std::process::Command::new("docker")
        .args([
            "exec",
            &format!("jc-{}-bridge", lab.id),
            "sh",
            "-c",
            &script,
        ])
        .status()
        .unwrap();
    assert!(st.success(), "no `fake-bridge {what}` to stop");
}

/// A probe whose signalling cannot finish: it ends within its budget, with the reason in the
/// checks that needed the room.
fn stalled(lab: &KeptLab, words: &str) {
    let t = Instant::now();
    let (code, probe) = lab.probe();
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(code, Some(1));
    let c = &statuses(&probe)["ice/connect/1"];
    assert_eq!(c.0, "error", "{}", c.1);
    assert!(
        c.1.contains(words),
        "ice/connect/1 must say {words:?}: {}",
        c.1
    );
    // What needs no room is judged all the same.
    assert_eq!(statuses(&probe)["tls/protocol/1"].0, "pass");
}

#[test]
fn a_focus_that_never_answers_is_a_clear_error() {
    support::init();
    let lab = KeptLab::start("reference");
    // Stopped, not gone: prosody hands it the conference request, and no answer comes.
    stop_in_bridge(&lab, "focus");
    stalled(&lab, "the focus did not answer the conference request");
}

#[test]
fn a_room_without_session_initiate_is_a_clear_error() {
    support::init();
    let lab = KeptLab::start("reference");
    // The focus answers and the room fills, but it cannot allocate on the bridge (its control
    // API is pointed where nothing listens), so it invites no one.
    stop_in_bridge(&lab, "focus");
    let script = r#"sed 's/^127\.0\.0\.1:8080$/127.0.0.1:9/' /jc/focus.args >/tmp/focus.args
for p in /proc/[0-9]*; do [ "${p#/proc/}" = "$$" ] && continue; case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in "/usr/local/bin/jitsi-conformance fake-bridge focus "*) kill -KILL "${p#/proc/}";; esac; done
set --; while IFS= read -r a; do set -- "$@" "$a"; done </tmp/focus.args
/usr/local/bin/jitsi-conformance fake-bridge focus "$@" >/tmp/focus.log 2>&1 &
i=0; until grep -q "jc-focus ready" /tmp/focus.log; do i=$((i+1)); [ "$i" -ge 500 ] && { cat /tmp/focus.log; exit 1; }; sleep 0.01; done"#;
    let st = std::process::Command::new("docker")
        .args(["exec", &format!("jc-{}-bridge", lab.id), "sh", "-c", script])
        .status()
        .unwrap();
    assert!(
        st.success(),
        "the focus could not be restarted without its bridge"
    );
    stalled(&lab, "session-initiate");
}

#[test]
fn a_refused_websocket_is_the_probes_verdict_too() {
    // blog-2020: Apache strips the Upgrade header, so the websocket never gets 101, and the
    // probe told to sign in over it (`--xmpp websocket`) cannot join a room. The lab's
    // config.js sets no websocket (as Jitsi's template), so the site's own web client would
    // sign in over BOSH: the errors say so.
    let probe = same_verdicts_with(
        "blog-2020",
        &["--xmpp", "websocket"],
        |id, status, actual| {
            (NEED_THE_ROOM.contains(&id) || id.starts_with("turn/") && id != "turn/peers/1") && {
                assert_eq!(status, "error", "{id}: {actual}");
                assert!(actual.contains("xmpp-websocket"), "{id}: {actual}");
                assert!(
                    actual.contains(
                        "Jitsi's web client signs in over BOSH at https://meet.lab.test/http-bind"
                    ),
                    "{id}: {actual}"
                );
                true
            }
        },
    );
    let ws = &statuses(&probe)["proxy/websocket/1"];
    assert_eq!(ws.0, "fail");
    assert!(ws.1.contains("dropped the Upgrade header"), "{}", ws.1);
}

fn probe_args(args: &[&str]) -> std::process::Output {
    support::binary()
        .env(jc_harness::probe::resolver::NO_SYSTEM_RESOLVER, "1")
        .arg("probe")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_arguments_exit_2_naming_them() {
    let cases: &[(&[&str], &str)] = &[
        (&["http://meet.lab.test"], "https://FQDN"),
        (&["https://meet.lab.test/room"], "no port, path or query"),
        (
            &["https://meet.lab.test", "--resolve", "meet.lab.test"],
            "--resolve",
        ),
        (
            &["https://meet.lab.test", "--resolve", "meet.lab.test:nope"],
            "--resolve",
        ),
        (&["https://meet.lab.test", "--tcp", "maybe"], "--tcp"),
        (&["https://meet.lab.test", "--xmpp", "jabber"], "--xmpp"),
        (
            &["https://meet.lab.test", "--expect-public-ip", "x"],
            "--expect-public-ip",
        ),
        (
            &[
                "https://meet.lab.test",
                "--resolve",
                "meet.lab.test:127.0.0.1",
                "--ca",
                "/nonexistent/ca.pem",
            ],
            "--ca /nonexistent/ca.pem",
        ),
        // No entry and no system resolver: the name is the error, no DNS query is sent.
        (
            &["https://meet.lab.test"],
            "no --resolve entry for meet.lab.test",
        ),
    ];
    for (args, named) in cases {
        let out = probe_args(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(named), "{args:?} must name {named}: {err}");
    }
    let out = probe_args(&["https://meet.lab.test", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "resolve");
}

#[test]
fn an_unreachable_site_is_one_clear_error_within_the_budget() {
    // Loopback, named with --resolve (so the policy allows it), where nothing listens on :443.
    let t = Instant::now();
    let out = probe_args(&[
        "https://meet.lab.test",
        "--resolve",
        "meet.lab.test:127.0.0.9",
        "--format",
        "json",
    ]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "unreachable");
    let msg = doc["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("https://meet.lab.test (127.0.0.9:443) cannot be reached"),
        "{msg}"
    );
}
