//! One run of the suite: images, lab, checks, teardown, report. Shared by the CLI and the tests.

use crate::catalogue::Check;
use crate::report::{Report, Target, Timings, Tool};
use crate::runner;
use jc_harness::host::{self, HostSetup, SetupError};
use jc_harness::images::{self, BuildOptions, Images};
use jc_harness::lab::{selfexe, Lab, LabError};
use jc_harness::operator::{self, OperatorFiles, Translation};
use jc_harness::profile::Profile;
use std::path::PathBuf;
use std::time::Instant;
use testcontainers::bollard::Docker;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub profile: String,
    pub fault: Option<String>,
    pub only: Vec<String>,
    pub keep: bool,
    pub setup: HostSetup,
    /// A pre-change run: the operator's own files instead of a profile.
    pub operator: Option<OperatorFiles>,
}

impl RunOptions {
    pub fn profile(name: &str) -> Self {
        RunOptions {
            profile: name.into(),
            fault: None,
            only: Vec::new(),
            keep: false,
            setup: HostSetup::from_env(),
            operator: None,
        }
    }

    pub fn fault(name: &str) -> Self {
        RunOptions {
            fault: Some(name.into()),
            ..Self::profile("reference")
        }
    }
}

/// The lab could not be set up, or the input is wrong: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub kind: &'static str,
    pub message: String,
}

impl From<SetupError> for RunError {
    fn from(e: SetupError) -> Self {
        RunError {
            kind: e.kind,
            message: e.message,
        }
    }
}

impl From<LabError> for RunError {
    fn from(e: LabError) -> Self {
        RunError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// The fixtures of this process: built in, or a working copy's when asked for.
pub fn fixtures() -> PathBuf {
    jc_harness::fixtures::root()
}

pub fn load_profile(opts: &RunOptions) -> Result<Profile, RunError> {
    if let Some(files) = &opts.operator {
        return operator::profile(files)
            .map(|(p, _)| p)
            .map_err(|e| RunError {
                kind: "config",
                message: e.to_string(),
            });
    }
    let p = match &opts.fault {
        Some(f) => Profile::load_fault(&fixtures(), f),
        None => Profile::load(&fixtures(), &opts.profile),
    };
    p.map_err(|e| RunError {
        kind: "profile",
        message: e.to_string(),
    })
}

pub struct Outcome {
    pub report: Report,
    /// The lab's own values and their names (addresses by role, the backend's marker), for
    /// redacted snapshots.
    pub values: Vec<(String, String)>,
    /// With `keep`: how to reach and remove the lab.
    pub kept: Option<String>,
}

/// Images are checked once per process: parallel runs (tests, the fault catalogue) must not
/// build the same recipe side by side. Only the tags are kept, not the Docker client, which
/// belongs to the runtime that made it.
static IMAGES: tokio::sync::OnceCell<Images> = tokio::sync::OnceCell::const_new();

pub async fn ensure_images(docker: &Docker, setup: HostSetup) -> Result<Images, SetupError> {
    IMAGES
        .get_or_try_init(|| async move {
            images::ensure(
                docker,
                &fixtures(),
                BuildOptions {
                    rebuild: false,
                    setup,
                },
            )
            .await
        })
        .await
        .cloned()
}

/// Builds what is missing and starts the lab of `opts`; also the time images took.
pub async fn start_lab(opts: &RunOptions) -> Result<(Lab, u64), RunError> {
    let profile = load_profile(opts)?;
    let docker = host::docker(opts.setup).await?;
    let t = Instant::now();
    selfexe::path()?;
    let imgs = ensure_images(&docker, opts.setup).await?;
    let images_ms = t.elapsed().as_millis() as u64;
    Ok((Lab::up(&docker, &imgs, profile).await?, images_ms))
}

/// Builds what is missing, runs the lab and the selected checks, and tears down.
pub async fn run(opts: &RunOptions) -> Result<Outcome, RunError> {
    let checks: Vec<&'static Check> = runner::selected(&opts.only);
    if checks.is_empty() {
        return Err(RunError {
            kind: "usage",
            message: format!(
                "--only {} matches no check (see `jitsi-conformance list`)",
                opts.only.join(" ")
            ),
        });
    }
    let (lab, images_ms) = start_lab(opts).await?;

    let t = Instant::now();
    let results = runner::run(&lab, &checks).await;
    let checks_ms = t.elapsed().as_millis() as u64;
    let report = Report {
        tool: Tool {
            name: "jitsi-conformance".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        profile: lab
            .profile
            .fault
            .as_ref()
            .map(|(_, f)| f.base.clone())
            .unwrap_or_else(|| lab.profile.name.clone()),
        fault: lab.profile.fault.as_ref().map(|(n, _)| n.clone()),
        target: Target {
            fqdn: lab.plan.fqdn.clone(),
            public_ip: lab.plan.public_ip.to_string(),
        },
        lab: lab.versions.clone(),
        summary: Report::summarize(&results),
        checks: results,
        timings: Timings {
            images_ms,
            lab_up_ms: lab.up_ms as u64,
            checks_ms,
            teardown_ms: 0,
        },
    };
    let mut report = report;
    if let Some(files) = &opts.operator {
        // The operator reads the report in their own addresses.
        let found = operator::profile(files).map(|(_, a)| a).unwrap_or_default();
        let t = Translation::for_plan(&found, &lab.plan);
        for c in &mut report.checks {
            c.expected = t.to_operator(&c.expected);
            c.actual = t.to_operator(&c.actual);
        }
        report.target.public_ip = t.to_operator(&report.target.public_ip);
        report.profile = format!("operator files ({})", files.vhost.display());
    }
    let mut values: Vec<(String, String)> = lab
        .plan
        .placeholders()
        .into_iter()
        // The FQDN is the same in every lab: left readable.
        .filter(|(k, _)| *k != "FQDN")
        .map(|(k, v)| (v, format!("${{{k}}}")))
        .collect();
    values.push((lab.plan.lan_gateway.to_string(), "${LAN_GATEWAY}".into()));
    values.push((lab.marker.clone(), "[marker]".into()));
    values.push((lab.acme.name.clone(), "[token]".into()));
    let mut outcome = Outcome {
        report,
        values,
        kept: None,
    };
    if opts.keep {
        outcome.kept = Some(lab.keep());
    } else {
        outcome.report.timings.teardown_ms = lab.down().await.as_millis() as u64;
    }
    Ok(outcome)
}
