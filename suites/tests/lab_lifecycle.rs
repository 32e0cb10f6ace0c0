//! Labs never leak and never collide (SPEC section 2): the host rule lives exactly as long as
//! its lab, parallel labs get their own subnets, and a panic, Ctrl-C or another run's sweep
//! leaves nothing behind, or, for a kept lab, leaves it alone until `clean`.

mod support;

use jc_harness::lab::{firewall, sweep};
use jitsi_conformance::report::Status;
use jitsi_conformance::run::{self, RunOptions};
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn host_drop_rule_lives_exactly_as_long_as_the_lab() {
    support::init();
    let (lab, _) = run::start_lab(&RunOptions::profile("reference"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = lab.id.clone();
    assert!(
        firewall::installed().contains(&id),
        "DOCKER-USER must hold the lab's drop rule while it is up"
    );
    let docker = support::docker().await;
    assert!(
        support::leftovers(&docker, &id).await >= 5,
        "3 containers and 2 networks carry the lab's label"
    );
    lab.down().await;
    assert!(
        !firewall::installed().contains(&id),
        "the drop rule must go with the lab"
    );
    assert_eq!(
        support::leftovers(&docker, &id).await,
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
    support::init();
    let (a, b) = tokio::join!(run::start_lab(&opts), run::start_lab(&opts));
    let (a, b) = (
        a.unwrap_or_else(|e| panic!("{e}")).0,
        b.unwrap_or_else(|e| panic!("{e}")).0,
    );
    assert_ne!(a.plan.wan, b.plan.wan, "each lab gets its own public slice");
    assert_ne!(a.plan.lan, b.plan.lan, "and its own LAN");
    let checks = jitsi_conformance::runner::selected(&opts.only);
    let (ra, rb) = tokio::join!(
        jitsi_conformance::runner::run(jitsi_conformance::target::Target::Lab(&a), &checks),
        jitsi_conformance::runner::run(jitsi_conformance::target::Target::Lab(&b), &checks)
    );
    for r in ra.iter().chain(rb.iter()) {
        assert_eq!(r.status, Status::Pass, "{}: {}", r.id, r.actual);
    }
    let (ida, idb) = (a.id.clone(), b.id.clone());
    tokio::join!(a.down(), b.down());
    let docker = support::docker().await;
    assert_eq!(
        support::leftovers(&docker, &ida).await + support::leftovers(&docker, &idb).await,
        0
    );
}

/// What a Binding got back from PUBLIC:10000: class and error reason.
type Answer = Option<(Option<jc_stun::Class>, Option<String>)>;

/// An endpoint allocated for client `ufrag`, and what a Binding with its credentials from
/// `socket` to PUBLIC:10000 gets back (class and error reason), after whatever the socket had
/// received before (the bridge's own checks toward it) is dropped.
async fn endpoint_answers(
    lab: &jc_harness::lab::Lab,
    socket: &tokio::net::UdpSocket,
    ufrag: &str,
) -> (jc_harness::probe::stun::Credentials, Answer) {
    let client = jc_harness::lab::bridge_api::ClientTransport {
        ufrag: ufrag.into(),
        pwd: "clientpasswordclientpass".into(),
        fingerprint: None,
    };
    let ep = lab
        .allocate_endpoint(Some(&client))
        .await
        .expect("allocates");
    let creds = jc_harness::probe::stun::Credentials {
        bridge_ufrag: ep.transport.ufrag.clone(),
        bridge_pwd: ep.transport.pwd.clone(),
        client_ufrag: ufrag.into(),
    };
    let mut buf = [0u8; 1500];
    while socket.try_recv_from(&mut buf).is_ok() {}
    let f = jc_harness::probe::stun::binding_udp_on(
        &lab.guard(),
        socket,
        public_media(lab),
        &creds,
        std::time::Duration::from_millis(900),
    )
    .await
    .expect("sends");
    (creds, answer(&f))
}

fn public_media(lab: &jc_harness::lab::Lab) -> std::net::SocketAddr {
    std::net::SocketAddr::new(lab.plan.public_ip.into(), jc_harness::ports::MEDIA_UDP)
}

fn answer(f: &jc_harness::probe::stun::StunFacts) -> Answer {
    f.from_dest()
        .map(|r| (r.facts.class, r.facts.error_reason.clone()))
}

/// A reused lab's bridge holds what a fresh one holds (SPEC section 6): the last run's
/// conferences are ended. ice4j routes a remote address it has bound to an endpoint to that
/// endpoint whatever USERNAME comes next, so a run whose socket reused an earlier run's port
/// would otherwise get 401 "unknown user" from the earlier endpoint (seen in the catalogue as a
/// rare nat/udp/1 failure).
#[tokio::test(flavor = "multi_thread")]
async fn a_reused_lab_ends_the_last_runs_conferences() {
    use jc_stun::Class;
    support::init();
    let (mut lab, _) = run::start_lab(&RunOptions::profile("reference"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let socket = tokio::net::UdpSocket::bind((lab.guard().client_ip(), 0))
        .await
        .expect("binds on the client's address");
    let (first, answered) = endpoint_answers(&lab, &socket, "first").await;
    assert_eq!(
        answered,
        Some((Some(Class::Success), None)),
        "the first run's endpoint answers"
    );

    let profile = jc_harness::profile::Profile::load(&run::fixtures(), "reference").expect("loads");
    let restarted = lab.reuse(profile).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        restarted.is_empty(),
        "the same profile restarts nothing: {restarted:?}"
    );

    let (_, answered) = endpoint_answers(&lab, &socket, "second").await;
    assert_eq!(
        answered,
        Some((Some(Class::Success), None)),
        "the next run, from the same source port, reaches its own endpoint"
    );
    let f = jc_harness::probe::stun::binding_udp(
        &lab.guard(),
        public_media(&lab),
        &first,
        std::time::Duration::from_millis(300),
    )
    .await
    .expect("sends");
    assert_eq!(
        answer(&f),
        None,
        "the last run's endpoint is gone: ice4j drops an unknown ufrag"
    );
    lab.down().await;
}

/// What a role's container holds that its daemons and the checks could see: files under /etc,
/// /var, /srv and /opt with their type, size, mode and content (logs, caches and the restart
/// journal left out), the routes, the interface names and the rules.
const STATE: &str = r#"find /etc /var /srv /opt -xdev \( -path /var/log -o -path /var/cache -o -path /var/lib/jc -o -path /var/tmp \) -prune -o -printf '%p %y %s %m %l\n' | sort
find /etc /var/lib /srv /opt -xdev \( -path /var/lib/jc \) -prune -o -type f -print0 | sort -z | xargs -0 md5sum
ip -4 route show
ip -o link show | awk '{ print $2 }'
command -v iptables-save >/dev/null && iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
true"#;

async fn state(lab: &jc_harness::lab::Lab) -> Vec<(jc_harness::role::Role, String)> {
    let mut out = Vec::new();
    for role in jc_harness::role::Role::ALL {
        let (code, text) = lab.exec(role, &["sh", "-c", STATE]).await.expect("exec");
        assert_eq!(code, 0, "{role}: {text}");
        out.push((role, text));
    }
    out
}

/// A role restarted in its container (SPEC section 6) is what a new container would be: after
/// a profile that differs in every role and back, each container's files, routes, interface
/// names and rules equal the first start's.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_restarted_in_its_container_is_a_new_one() {
    support::init();
    let (mut lab, _) = run::start_lab(&RunOptions::profile("reference"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let fresh = state(&lab).await;
    let load =
        |name: &str| jc_harness::profile::Profile::load(&run::fixtures(), name).expect("loads");
    let away = lab
        .reuse(load("current"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        away.len(),
        3,
        "current differs from reference in every role: {away:?}"
    );
    let between = state(&lab).await;
    let back = lab
        .reuse(load("reference"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.len(), 3, "{back:?}");
    let again = state(&lab).await;
    lab.down().await;
    for ((role, a), (_, b)) in fresh.iter().zip(&again) {
        if a != b {
            let diff: Vec<String> = similar_lines(a, b);
            panic!(
                "{role} after a restart in its container differs from its first start:\n{}",
                diff.join("\n")
            );
        }
    }
    // The test can fail: the profile in between did change what the containers hold.
    assert!(
        fresh.iter().zip(&between).any(|((_, a), (_, b))| a != b),
        "current left every container as reference had it"
    );
}

fn similar_lines(a: &str, b: &str) -> Vec<String> {
    let (la, lb): (
        std::collections::BTreeSet<&str>,
        std::collections::BTreeSet<&str>,
    ) = (a.lines().collect(), b.lines().collect());
    la.difference(&lb)
        .map(|l| format!("- {l}"))
        .chain(lb.difference(&la).map(|l| format!("+ {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_run_leaves_nothing() {
    support::init();
    let (lab, _) = run::start_lab(&RunOptions::profile("reference"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = lab.id.clone();
    let task = tokio::spawn(async move {
        let _lab = lab;
        panic!("a check blew up");
    });
    assert!(task.await.unwrap_err().is_panic());
    let docker = support::docker().await;
    assert_eq!(
        support::leftovers(&docker, &id).await,
        0,
        "the guard's drop must sweep the lab"
    );
    assert!(!firewall::installed().contains(&id));
}

#[test]
fn ctrl_c_removes_the_lab() {
    let mut child = support::binary()
        .args(["lab", "--keep", "--no-host-setup"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Wait (bounded) until the run has a lab, then interrupt it mid-run.
    let id = rt.block_on(async {
        let docker = support::docker().await;
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
        let docker = support::docker().await;
        assert_eq!(
            support::leftovers(&docker, &id).await,
            0,
            "Ctrl-C must remove the lab"
        );
    });
    assert!(!firewall::installed().contains(&id));
}

#[test]
fn a_kept_lab_survives_other_runs_until_cleaned() {
    let out = support::binary()
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
    // The line `lab <id> kept: ...` (other lines may name other labs, e.g. a sweep's notes).
    let id = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("lab ")?
                .split_once(" kept:")
                .map(|(id, _)| id)
        })
        .expect("the kept lab's id")
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = support::docker().await;
        // Another run starts (and sweeps leftovers of dead processes): the kept lab stays.
        support::init();
        let again = run::run(&RunOptions {
            only: vec!["tls/protocol/1".into()],
            ..RunOptions::profile("reference")
        })
        .await;
        assert!(again.is_ok());
        assert!(
            support::leftovers(&docker, &id).await >= 5,
            "a kept lab must survive other runs"
        );
        assert!(firewall::installed().contains(&id));
    });
    let clean = support::binary()
        .args(["clean", "--lab", &id])
        .output()
        .unwrap();
    assert_eq!(clean.status.code(), Some(0));
    rt.block_on(async {
        assert_eq!(support::leftovers(&support::docker().await, &id).await, 0);
    });
    assert!(!firewall::installed().contains(&id));
}

#[test]
fn the_reaper_removes_the_lab_after_the_run_answered() {
    let out = support::binary()
        .args([
            "lab",
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
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reaper = report["timings"]["reaper_pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("the CLI hands its teardown off: {}", report["timings"]));
    let proc = format!("/proc/{reaper}");
    // Which lab it removes: its command line is `jitsi-conformance clean --lab ID`.
    let cmdline = std::fs::read_to_string(format!("{proc}/cmdline")).unwrap_or_default();
    let args: Vec<&str> = cmdline.split('\0').collect();
    let id = args
        .iter()
        .position(|a| *a == "--lab")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.to_string());
    // The reaper is bounded by Docker's own removal: give it 30 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(format!("{proc}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the reaper still runs after 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if let Some(id) = id {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let docker = support::docker().await;
            assert_eq!(
                support::leftovers(&docker, &id).await,
                0,
                "the reaper left lab {id} behind"
            );
        });
        assert!(!firewall::installed().contains(&id));
    }
    // (No command line to read: the reaper had already finished, its lab with it.)
}
