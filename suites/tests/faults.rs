//! The fault catalogue (SPEC section 6) is the suite's own mutation test: every fault must be
//! caught by exactly its MUST checks, and `reference` by none. Labs run a few at a time.

use futures_util::StreamExt;
use jc_harness::profile::{names_in, Profile};
use jitsi_conformance::catalogue::find;
use jitsi_conformance::report::{markdown, redact, Report, Status};
use jitsi_conformance::run::{self, RunOptions};
use std::collections::BTreeSet;

/// Labs at once: the 2-core machine runs three comfortably.
const PARALLEL: usize = 3;

struct Verdict {
    fault: String,
    caught: bool,
    detail: String,
}

fn judge(fault: &str, report: &Report) -> Verdict {
    let p = Profile::load_fault(&run::fixtures(), fault).expect("fault loads");
    let spec = &p.fault.as_ref().expect("is a fault").1;
    // Rows may name checks not built yet (absent from the catalogue): judge those that exist.
    let expected: BTreeSet<&str> = spec
        .must_fail
        .iter()
        .map(String::as_str)
        .filter(|id| find(id).is_some())
        .collect();
    let missing: Vec<&str> = spec
        .must_fail
        .iter()
        .map(String::as_str)
        .filter(|id| find(id).is_none())
        .collect();
    let actual: BTreeSet<&str> = report.must_failures().into_iter().collect();
    let warned: BTreeSet<&str> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .map(|c| c.id.as_str())
        .collect();
    let warns_ok = spec.must_warn.iter().all(|w| warned.contains(w.as_str()));
    // A row whose checks are all still missing proves nothing yet.
    let coverable = !expected.is_empty() || missing.is_empty();
    let caught = coverable && expected == actual && warns_ok;
    let mut detail = format!("expected MUST failures {expected:?}, got {actual:?}");
    if !spec.must_warn.is_empty() {
        detail.push_str(&format!(
            "; must warn {:?}, warned {warned:?}",
            spec.must_warn
        ));
    }
    if !missing.is_empty() {
        detail.push_str(&format!("; not built yet: {missing:?}"));
    }
    Verdict {
        fault: fault.to_string(),
        caught,
        detail,
    }
}

/// The JSON and Markdown reports under `reports/`, redacted (hurl-style golden files): a
/// change of behaviour is a reviewable diff; `cargo test` fails on a mismatch in CI
/// (`cargo insta review` or INSTA_UPDATE=always to accept).
fn snapshot(name: &str, report: &Report, values: &[(String, String)], profile: bool) {
    let r = redact::report(report, values);
    let stem = if profile {
        format!("profile-{name}")
    } else {
        format!("fault-{name}")
    };
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../reports");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::assert_snapshot!(
            format!("{stem}.json"),
            serde_json::to_string_pretty(&r).expect("serializes")
        );
        insta::assert_snapshot!(format!("{stem}.md"), markdown::render(&r));
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_is_caught_by_exactly_its_checks() {
    let faults = names_in(&run::fixtures().join("faults"));
    assert_eq!(
        faults.len(),
        20,
        "SPEC section 6 lists 20 faults: {faults:?}"
    );
    // The shipped profiles run in the same pool: their reports are snapshotted too.
    let profiles = ["reference", "blog-2020", "current"];
    let mut names: Vec<String> = profiles.iter().map(|p| p.to_string()).collect();
    names.extend(faults.iter().cloned());
    let mut results: Vec<(String, Report)> = futures_util::stream::iter(names)
        .map(|name| async move {
            let profile = profiles.contains(&name.as_str());
            let opts = if profile {
                RunOptions::profile(&name)
            } else {
                RunOptions::fault(&name)
            };
            match run::run(&opts).await {
                Ok(o) => {
                    snapshot(&name, &o.report, &o.values, profile);
                    (name, o.report)
                }
                Err(e) => panic!("{name}: the lab could not run ({}): {}", e.kind, e.message),
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    results.retain(|(name, _)| name == "reference" || !profiles.contains(&name.as_str()));
    let mut verdicts = Vec::new();
    for (name, report) in &results {
        if name == "reference" {
            assert!(
                report.must_failures().is_empty(),
                "reference must fail nothing: {:?}",
                report.must_failures()
            );
            let warned: Vec<_> = report
                .checks
                .iter()
                .filter(|c| c.status != Status::Pass && c.status != Status::Skip)
                .map(|c| (&c.id, &c.actual))
                .collect();
            assert!(
                warned.is_empty(),
                "reference must pass every MUST and SHOULD: {warned:#?}"
            );
        } else {
            verdicts.push(judge(name, report));
        }
    }
    verdicts.sort_by(|a, b| a.fault.cmp(&b.fault));
    let caught = verdicts.iter().filter(|v| v.caught).count();
    for v in &verdicts {
        eprintln!(
            "{} {:<22} {}",
            if v.caught { "caught " } else { "MISSED " },
            v.fault,
            v.detail
        );
    }
    let score = format!(
        "mutation score: {caught}/{} ({:.0}%)",
        verdicts.len(),
        100.0 * caught as f64 / verdicts.len() as f64
    );
    println!("{score}");
    eprintln!("{score}");
    let missed: Vec<_> = verdicts
        .iter()
        .filter(|v| !v.caught)
        .map(|v| format!("{}: {}", v.fault, v.detail))
        .collect();
    assert!(missed.is_empty(), "{score}; missed:\n{}", missed.join("\n"));
}
