//! Runs the catalogue against a target (a lab or a live site): independent checks concurrently,
//! the ones that change the lab alone at the end; a failed SHOULD becomes a warning.

use crate::catalogue::{glob_match, Check, CATALOGUE};
use crate::checks::{Budgets, Ctx, Finding, Verdict};
use crate::report::{CheckReport, Severity, Status};
use crate::target::Target;
use std::time::Instant;

pub fn selected(only: &[String]) -> Vec<&'static Check> {
    CATALOGUE
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|g| glob_match(g, c.id)))
        .collect()
}

fn status(severity: Severity, f: Finding) -> Status {
    match (f, severity) {
        (Finding::Pass, _) => Status::Pass,
        (Finding::Skip, _) => Status::Skip,
        (Finding::Error, _) => Status::Error,
        (Finding::Fail, Severity::Must) => Status::Fail,
        (Finding::Fail, _) => Status::Warn,
    }
}

async fn run_one(check: &Check, ctx: &Ctx<'_>) -> CheckReport {
    let t = Instant::now();
    let v: Verdict = (check.run)(ctx).await;
    CheckReport {
        id: check.id.into(),
        severity: check.severity,
        status: status(check.severity, v.finding),
        title: check.title.into(),
        requirement: check.requirement.into(),
        expected: v.expected,
        actual: v.actual,
        duration_ms: t.elapsed().as_millis() as u64,
    }
}

/// Runs `checks` against `target`; results in catalogue order.
pub async fn run(target: Target<'_>, checks: &[&'static Check]) -> Vec<CheckReport> {
    let ctx = match Ctx::new(target, Budgets::from_env()) {
        Ok(c) => c,
        Err(e) => {
            return checks
                .iter()
                .map(|c| CheckReport {
                    id: c.id.into(),
                    severity: c.severity,
                    status: Status::Error,
                    title: c.title.into(),
                    requirement: c.requirement.into(),
                    expected: c.requirement.into(),
                    actual: format!("the probes could not be set up: {e}"),
                    duration_ms: 0,
                })
                .collect()
        }
    };
    let (shared, alone): (Vec<_>, Vec<_>) = checks.iter().copied().partition(|c| !c.exclusive);
    let mut out = futures_util::future::join_all(shared.iter().map(|c| run_one(c, &ctx))).await;
    for c in alone {
        out.push(run_one(c, &ctx).await);
    }
    let order = |id: &str| {
        CATALOGUE
            .iter()
            .position(|c| c.id == id)
            .unwrap_or(usize::MAX)
    };
    out.sort_by_key(|r| order(&r.id));
    out
}
