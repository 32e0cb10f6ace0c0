//! One run of the suite: images, lab, checks, teardown, report. Shared by the CLI and the tests.

use crate::catalogue::Check;
use crate::report::{Report, Target, Timings, Tool};
use crate::runner;
use jc_harness::host::{self, HostSetup, SetupError};
use jc_harness::images::{self, BuildOptions, Images};
use jc_harness::lab::{selfexe, Lab, LabError};
use jc_harness::profile::Profile;
use jc_harness::site::{self, OperatorFiles, Prepared};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use testcontainers::bollard::Docker;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub profile: String,
    pub fault: Option<String>,
    pub only: Vec<String>,
    pub keep: bool,
    /// Hand the lab's removal to a detached reaper instead of waiting for it (the CLI's
    /// runs; tests wait, so that what they measure next starts on a quiet Docker).
    pub detach_teardown: bool,
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
            detach_teardown: false,
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

/// The profile to run; for a pre-change run also what was read, inferred and assumed.
pub fn load_profile(opts: &RunOptions) -> Result<(Profile, Option<Prepared>), RunError> {
    if let Some(files) = &opts.operator {
        return site::prepare(files)
            .map(|p| (p.profile.clone(), Some(p)))
            .map_err(|e| RunError {
                kind: "config",
                message: e.to_string(),
            });
    }
    let p = match &opts.fault {
        Some(f) => Profile::load_fault(&fixtures(), f),
        None => Profile::load(&fixtures(), &opts.profile),
    };
    p.map(|p| (p, None)).map_err(|e| RunError {
        kind: "profile",
        message: e.to_string(),
    })
}

pub struct Outcome {
    pub report: Report,
    /// The lab's own values and their names (addresses by role, the backend's marker), for
    /// redacted snapshots.
    pub values: Vec<(String, String)>,
    /// With `keep`: how to reach, probe and remove the lab.
    pub kept: Option<jc_harness::lab::Kept>,
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
    let (profile, _) = load_profile(opts)?;
    start_profile(opts, profile).await
}

async fn start_profile(opts: &RunOptions, profile: Profile) -> Result<(Lab, u64), RunError> {
    let docker = host::docker(opts.setup).await?;
    let t = Instant::now();
    selfexe::path()?;
    let imgs = ensure_images(&docker, opts.setup).await?;
    let images_ms = t.elapsed().as_millis() as u64;
    Ok((Lab::up(&docker, &imgs, profile).await?, images_ms))
}

/// The checks `opts` selects; a usage error when none.
fn selected_checks(opts: &RunOptions) -> Result<Vec<&'static Check>, RunError> {
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
    Ok(checks)
}

/// Builds what is missing, runs the lab and the selected checks, and tears down.
pub async fn run(opts: &RunOptions) -> Result<Outcome, RunError> {
    let checks = selected_checks(opts)?;
    // Bad input stops here, before any container (or Docker itself) is touched.
    let (profile, prepared) = load_profile(opts)?;
    // Lint's findings come first, before the lab (whose checks stay the ground truth).
    for f in prepared.iter().flat_map(|p| &p.lint) {
        eprintln!("lint: {}:{}: {}: {}", f.file, f.line, f.rule, f.message);
    }
    let (lab, images_ms) = start_profile(opts, profile).await?;
    let mut outcome = evaluate(&lab, opts, &checks, prepared.as_ref(), images_ms).await;
    if opts.keep {
        let kept = lab.keep();
        outcome.report.kept = Some(kept.clone());
        outcome.kept = Some(kept);
    } else if opts.detach_teardown {
        let t = Instant::now();
        match lab.hand_off().await {
            Ok(pid) => outcome.report.timings.reaper_pid = Some(pid),
            Err(took) => outcome.report.timings.teardown_ms = took.as_millis() as u64,
        }
        if outcome.report.timings.reaper_pid.is_some() {
            outcome.report.timings.teardown_ms = t.elapsed().as_millis() as u64;
        }
    } else {
        outcome.report.timings.teardown_ms = lab.down().await.as_millis() as u64;
    }
    Ok(outcome)
}

/// Runs the checks on a lab that is up and makes the report.
async fn evaluate(
    lab: &Lab,
    opts: &RunOptions,
    checks: &[&'static Check],
    prepared: Option<&Prepared>,
    images_ms: u64,
) -> Outcome {
    let t = Instant::now();
    let mut results = runner::run(crate::target::Target::Lab(lab), checks).await;
    if let Some(p) = prepared {
        say_assumptions(&mut results, &p.assumptions);
    }
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
        site: None,
        translation: None,
        assumptions: None,
        lint: None,
        config_js: None,
        contacted: None,
        not_contacted: None,
        kept: None,
        summary: Report::summarize(&results),
        checks: results,
        timings: Timings {
            images_ms,
            lab_up_ms: lab.up_ms as u64,
            checks_ms,
            teardown_ms: 0,
            reaper_pid: None,
        },
    };
    let mut report = report;
    if let (Some(files), Some(p)) = (&opts.operator, prepared) {
        // The operator reads the report in their own addresses.
        let back = p.back(&lab.plan);
        let theirs = |s: &str| to_operator(s, &back);
        for c in &mut report.checks {
            c.expected = theirs(&c.expected);
            c.actual = theirs(&c.actual);
        }
        report.target.public_ip = p
            .roles
            .public_ip
            .value()
            .map(|a| a.to_string())
            .unwrap_or_else(|| theirs(&report.target.public_ip));
        report.profile = format!("operator files ({})", files.vhost.display());
        report.site = Some(serde_json::to_value(p.roles.report()).unwrap_or_default());
        report.translation = Some(p.translation(&lab.plan));
        report.assumptions = Some(p.assumptions.clone());
        report.lint = Some(p.lint.clone());
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
    Outcome {
        report,
        values,
        kept: None,
    }
}

/// Appends to each check that rests on an assumption what it assumes (SPEC section 8).
pub fn say_assumptions(
    results: &mut [crate::report::CheckReport],
    assumptions: &[site::Assumption],
) {
    for r in results
        .iter_mut()
        .filter(|r| r.status != crate::report::Status::Skip)
    {
        let ids: Vec<&str> = assumptions
            .iter()
            .filter(|a| a.checks.iter().any(|c| c == &r.id))
            .map(|a| a.id.as_str())
            .collect();
        if !ids.is_empty() {
            r.actual = format!("{} [assumes: {}]", r.actual, ids.join(", "));
        }
    }
}

/// A lab text in the operator's addresses: every lab value replaced, longest first, as a whole
/// address.
pub fn to_operator(text: &str, back: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = back.iter().collect();
    pairs.sort_by_key(|(lab, _)| std::cmp::Reverse(lab.len()));
    pairs.iter().fold(text.to_string(), |t, (lab, theirs)| {
        crate::report::redact::replace_token(&t, lab, theirs)
    })
}

/// Many runs over a few labs kept between them (the fault catalogue, the operator corpus): a lab
/// that finished a run takes next the waiting run that restarts the fewest of its roles
/// ([`Lab::reuse`] restarts only the roles whose files or environment differ). Among equals the earlier in the caller's order goes first. SPEC section 6 allows
/// reuse where the verdicts equal a fresh lab's; the catalogue's snapshots, written from fresh
/// labs, check that on every run.
pub struct Pool {
    /// Labs at once.
    pub parallel: usize,
}

struct Waiting {
    at: usize,
    opts: RunOptions,
    profile: Profile,
    prepared: Option<Prepared>,
    checks: Vec<&'static Check>,
}

impl Pool {
    /// Every run of `runs`; the outcomes in `runs`' order.
    pub async fn run_all(&self, runs: Vec<RunOptions>) -> Vec<Result<Outcome, RunError>> {
        let mut results: Vec<Option<Result<Outcome, RunError>>> =
            runs.iter().map(|_| None).collect();
        let mut waiting = Vec::new();
        for (at, opts) in runs.into_iter().enumerate() {
            let loaded = selected_checks(&opts)
                .and_then(|checks| load_profile(&opts).map(|(p, prep)| (checks, p, prep)));
            match loaded {
                Ok((checks, profile, prepared)) => waiting.push(Waiting {
                    at,
                    opts,
                    profile,
                    prepared,
                    checks,
                }),
                Err(e) => results[at] = Some(Err(e)),
            }
        }
        let queue = std::sync::Mutex::new(waiting);
        let done =
            futures_util::future::join_all((0..self.parallel.max(1)).map(|_| Self::worker(&queue)))
                .await;
        for (at, r) in done.into_iter().flatten() {
            results[at] = Some(r);
        }
        results
            .into_iter()
            .map(|r| r.expect("every run ran"))
            .collect()
    }

    /// One lab's life: runs from the queue until it is empty, then the lab's removal.
    async fn worker(
        queue: &std::sync::Mutex<Vec<Waiting>>,
    ) -> Vec<(usize, Result<Outcome, RunError>)> {
        let mut out = Vec::new();
        let mut lab: Option<(Lab, jc_harness::lab::Fingerprint)> = None;
        // What each waiting run would make of this lab, by its place in the caller's order.
        let mut prints: HashMap<usize, Option<jc_harness::lab::Fingerprint>> = HashMap::new();
        loop {
            let next = {
                let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                let pick = match &mut lab {
                    None => (!q.is_empty()).then_some(0),
                    Some((l, now)) => q
                        .iter()
                        .enumerate()
                        .map(|(i, w)| {
                            let print = prints
                                .entry(w.at)
                                .or_insert_with(|| l.fingerprint(&w.profile));
                            let cost = print.map_or(usize::MAX, |p| now.restarts_to(&p));
                            (cost, w.at, i)
                        })
                        .min()
                        .map(|(_, _, i)| i),
                };
                pick.map(|i| q.remove(i))
            };
            let Some(w) = next else { break };
            let r = match lab.take() {
                Some((mut l, _)) => {
                    let reused = l.reuse(w.profile.clone()).await.is_ok();
                    if reused {
                        Ok((l, 0, false))
                    } else {
                        // Whatever went wrong, a fresh lab gives the true verdicts.
                        l.down().await;
                        start_profile(&w.opts, w.profile.clone())
                            .await
                            .map(|(l, ms)| (l, ms, true))
                    }
                }
                None => start_profile(&w.opts, w.profile.clone())
                    .await
                    .map(|(l, ms)| (l, ms, true)),
            };
            match r {
                Ok((mut l, images_ms, fresh)) => {
                    let outcome =
                        evaluate(&l, &w.opts, &w.checks, w.prepared.as_ref(), images_ms).await;
                    out.push((w.at, Ok(outcome)));
                    if fresh {
                        // A new lab (its own addresses and certificates): new fingerprints.
                        prints.clear();
                    }
                    let now = *prints
                        .entry(w.at)
                        .or_insert_with(|| l.fingerprint(&w.profile));
                    match now {
                        Some(now) => lab = Some((l, now)),
                        None => {
                            l.down().await;
                        }
                    }
                }
                Err(e) => out.push((w.at, Err(e))),
            }
        }
        if let Some((l, _)) = lab {
            l.down().await;
        }
        out
    }
}
