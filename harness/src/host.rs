//! Host preparation (SPEC section 2): find a Docker engine, or, as root on a host with apt-get,
//! install Debian's docker.io and debootstrap and start dockerd, saying so on stderr.
//! Otherwise stop with the exact commands to run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testcontainers::bollard::Docker;

/// Why the lab cannot be set up: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SetupError {
    pub kind: &'static str,
    pub message: String,
}

impl SetupError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        SetupError {
            kind,
            message: message.into(),
        }
    }
}

const HOW_TO_START: &str = "Start a Docker engine first, as root:\n  apt-get update && apt-get install -y docker.io debootstrap\n  systemctl start docker   # or, without systemd: nohup dockerd >/var/log/dockerd.log 2>&1 &\nand make sure your user may use /var/run/docker.sock (root, or the docker group).";

#[derive(Debug, Clone, Copy, Default)]
pub struct HostSetup {
    /// Never install or start anything (`--no-host-setup`, or JC_NO_HOST_SETUP=1).
    pub forbid: bool,
}

impl HostSetup {
    pub fn from_env() -> Self {
        HostSetup {
            forbid: std::env::var("JC_NO_HOST_SETUP").is_ok_and(|v| v == "1"),
        }
    }
}

fn is_root() -> bool {
    // SAFETY-free: geteuid via /proc avoids a libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

async fn ping(docker: &Docker) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), docker.ping()).await,
        Ok(Ok(_))
    )
}

/// A Docker client whose engine answers, preparing the host first when allowed.
pub async fn docker(setup: HostSetup) -> Result<Docker, SetupError> {
    if let Ok(d) = Docker::connect_with_local_defaults() {
        if ping(&d).await {
            return d
                .negotiate_version()
                .await
                .map_err(|e| SetupError::new("docker", e.to_string()));
        }
    }
    if setup.forbid || !is_root() || !have("apt-get") {
        let why = if setup.forbid {
            "host setup is disabled (--no-host-setup)"
        } else if !is_root() {
            "not running as root, so the harness will not install it"
        } else {
            "this host has no apt-get"
        };
        return Err(SetupError::new(
            "no-docker",
            format!("No Docker engine answers on this host ({why}).\n{HOW_TO_START}"),
        ));
    }
    install_packages(&["docker.io", "debootstrap", "iptables"])?;
    start_dockerd()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(d) = Docker::connect_with_local_defaults() {
            if ping(&d).await {
                eprintln!("jitsi-conformance: dockerd is up");
                return d
                    .negotiate_version()
                    .await
                    .map_err(|e| SetupError::new("docker", e.to_string()));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(SetupError::new("no-docker", format!("dockerd was started but does not answer after 60 s (see /var/log/jitsi-conformance-dockerd.log).\n{HOW_TO_START}")))
}

/// Installs Debian packages as root, saying so; `apt-get update` once first.
pub fn install_packages(pkgs: &[&str]) -> Result<(), SetupError> {
    eprintln!(
        "jitsi-conformance: preparing the host: apt-get install {} (as root)",
        pkgs.join(" ")
    );
    let run = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend_from_slice(pkgs);
    if !(run(&["update", "-q"]) && run(&install)) {
        return Err(SetupError::new(
            "host-setup",
            format!(
                "apt-get install {} failed; run it by hand to see why.\n{HOW_TO_START}",
                pkgs.join(" ")
            ),
        ));
    }
    Ok(())
}

/// debootstrap for the base image: installed on demand like Docker.
pub fn ensure_debootstrap(setup: HostSetup) -> Result<(), SetupError> {
    if have("debootstrap") {
        return Ok(());
    }
    if setup.forbid || !is_root() || !have("apt-get") {
        return Err(SetupError::new("no-debootstrap", "building the base image needs debootstrap: as root, run `apt-get install -y debootstrap` (or set JC_BASE_IMAGE to a local Debian image, or JC_PULL_BASE=1 to pull debian:bookworm-slim)"));
    }
    install_packages(&["debootstrap"])
}

fn start_dockerd() -> Result<(), SetupError> {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("jitsi-conformance: starting docker with systemctl");
        let ok = Command::new("systemctl")
            .args(["start", "docker"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
    }
    eprintln!("jitsi-conformance: starting dockerd (log: /var/log/jitsi-conformance-dockerd.log)");
    let log = std::fs::File::create("/var/log/jitsi-conformance-dockerd.log")
        .map_err(|e| SetupError::new("host-setup", format!("cannot write the dockerd log: {e}")))?;
    let err = log
        .try_clone()
        .map_err(|e| SetupError::new("host-setup", e.to_string()))?;
    // setsid: dockerd must outlive this process and not get its Ctrl-C.
    Command::new("setsid")
        .arg("dockerd")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| {
            SetupError::new(
                "host-setup",
                format!("cannot start dockerd: {e}\n{HOW_TO_START}"),
            )
        })?;
    Ok(())
}

/// Debian's coturn on the host, for jc-turn's own tests (they run a TURN server on 127.0.0.1):
/// installed on demand like Docker. Where systemd runs, the package's unit starts a server on
/// 3478 at install; it is stopped and disabled, since the tests start their own.
pub fn ensure_coturn(setup: HostSetup) -> Result<(), SetupError> {
    if have("turnserver") {
        return Ok(());
    }
    if setup.forbid || !is_root() || !have("apt-get") {
        return Err(SetupError::new(
            "no-coturn",
            "the TURN tests need Debian's coturn: as root, run `apt-get install -y coturn`",
        ));
    }
    install_packages(&["coturn"])?;
    if std::path::Path::new("/run/systemd/system").is_dir() {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", "coturn"])
            .output();
    }
    if have("turnserver") {
        Ok(())
    } else {
        Err(SetupError::new(
            "no-coturn",
            "coturn installed but turnserver is missing",
        ))
    }
}

/// Debian's prosody on the host, for jc-xmpp's own tests (they run one on 127.0.0.1 with a
/// config of their own): installed on demand like coturn. Where systemd runs, the package's
/// unit starts a server at install; it is stopped and disabled, since the tests start their own.
pub fn ensure_prosody(setup: HostSetup) -> Result<(), SetupError> {
    if have("prosody") {
        return Ok(());
    }
    if setup.forbid || !is_root() || !have("apt-get") {
        return Err(SetupError::new(
            "no-prosody",
            "the XMPP tests need Debian's prosody: as root, run `apt-get install -y prosody`",
        ));
    }
    install_packages(&["prosody"])?;
    if std::path::Path::new("/run/systemd/system").is_dir() {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", "prosody"])
            .output();
    }
    if have("prosody") {
        Ok(())
    } else {
        Err(SetupError::new(
            "no-prosody",
            "prosody installed but its binary is missing",
        ))
    }
}

/// Debian's Chromium for the browser checks and tests (SPEC section 9): installed on demand
/// like Docker, as root on a host with apt-get.
pub fn ensure_chromium(setup: HostSetup) -> Result<std::path::PathBuf, SetupError> {
    if let Some(p) = crate::browser::chromium() {
        return Ok(p);
    }
    if setup.forbid || !is_root() || !have("apt-get") {
        return Err(SetupError::new(
            "no-chromium",
            format!(
                "the browser session needs Debian's Chromium ({}): as root, run `apt-get install -y chromium`",
                crate::browser::CHROMIUM
            ),
        ));
    }
    install_packages(&["chromium"])?;
    crate::browser::chromium().ok_or_else(|| {
        SetupError::new(
            "no-chromium",
            "chromium installed but its binary is missing",
        )
    })
}
