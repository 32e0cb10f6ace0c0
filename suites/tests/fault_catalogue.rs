//! The fault catalogue (SPEC section 6) is the suite's own mutation test: every fault must be
//! caught by exactly its MUST checks, and every shipped profile must give exactly the verdicts
//! SPEC section 5 gives it. Both are data: `fixtures/faults/*/fault.toml` and the `[expect]`
//! table of `fixtures/profiles/*/manifest.toml`. The same runs feed the snapshot reports.

mod support;

use jc_harness::profile::{names_in, Expect, Profile};
use jitsi_conformance::report::{markdown, redact, Report, Status};
use jitsi_conformance::run::{self, RunOptions};
use std::collections::{BTreeMap, BTreeSet};

/// Labs at once: most of a run is waiting (on Docker, on a budget running out), so four
/// labs share the 2-core machine well.
const PARALLEL: usize = 4;

struct Verdict {
    name: String,
    caught: bool,
    detail: String,
    /// `lab 0.6s, checks 1.2s`: where the catalogue's time goes.
    took: String,
}

fn set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

/// The words each check's diagnosis must hold that it does not.
fn missing_words(report: &Report, diagnosis: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (id, words) in diagnosis {
        let actual = report
            .checks
            .iter()
            .find(|c| &c.id == id)
            .map(|c| c.actual.as_str())
            .unwrap_or("(the check did not run)");
        for w in words.iter().filter(|w| !actual.contains(w.as_str())) {
            out.push(format!("{id} does not say {w:?}: {actual}"));
        }
    }
    out
}

fn judge_fault(name: &str, report: &Report) -> Verdict {
    let p = Profile::load_fault(&run::fixtures(), name).expect("fault loads");
    let spec = &p.fault.as_ref().expect("is a fault").1;
    let expected = set(&spec.must_fail);
    let actual: BTreeSet<&str> = report.must_failures().into_iter().collect();
    let warned = support::ids_with(report, Status::Warn);
    let unwarned: Vec<&str> = spec
        .must_warn
        .iter()
        .map(String::as_str)
        .filter(|w| !warned.contains(w))
        .collect();
    let words = missing_words(report, &spec.diagnosis);
    let mut detail = format!("expected MUST failures {expected:?}, got {actual:?}");
    if !unwarned.is_empty() {
        detail.push_str(&format!("; must warn {unwarned:?}, warned {warned:?}"));
    }
    if !words.is_empty() {
        detail.push_str(&format!("; diagnosis: {}", words.join("; ")));
    }
    Verdict {
        name: name.to_string(),
        caught: expected == actual && unwarned.is_empty() && words.is_empty(),
        detail,
        took: took(report),
    }
}

fn took(report: &Report) -> String {
    let t = &report.timings;
    format!(
        "lab {:.1}s, checks {:.1}s",
        t.lab_up_ms as f64 / 1000.0,
        t.checks_ms as f64 / 1000.0
    )
}

fn judge_profile(name: &str, report: &Report, expect: &Expect) -> Verdict {
    let must: BTreeSet<&str> = report.must_failures().into_iter().collect();
    let warn = support::ids_with(report, Status::Warn);
    let skip = support::ids_with(report, Status::Skip);
    let words = missing_words(report, &expect.diagnosis);
    let ok = must == set(&expect.must_fail)
        && warn == set(&expect.warn)
        && skip == set(&expect.skip)
        && words.is_empty()
        && ["apache2", "nginx", "iptables"]
            .iter()
            .all(|p| report.lab.get(*p).is_some_and(|v| !v.is_empty()));
    Verdict {
        name: name.to_string(),
        caught: ok,
        detail: format!(
            "must fail {must:?} (want {:?}), warn {warn:?} (want {:?}), skip {skip:?} (want {:?}){}; lab {:?}\n{}",
            expect.must_fail,
            expect.warn,
            expect.skip,
            if words.is_empty() { String::new() } else { format!("; diagnosis: {}", words.join("; ")) },
            report.lab,
            support::explain(report)
        ),
        took: took(report),
    }
}

/// The JSON and Markdown reports under `reports/`, redacted (hurl-style golden files): a
/// change of behaviour is a reviewable diff; `cargo test` fails on a mismatch in CI
/// (`cargo insta review` or INSTA_UPDATE=always to accept).
fn snapshot(stem: &str, report: &Report, values: &[(String, String)]) {
    let r = redact::report(report, values);
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
async fn every_profile_and_fault_gives_exactly_its_verdicts() {
    support::init();
    let fixtures = run::fixtures();
    let profiles = names_in(&fixtures.join("profiles"));
    let faults = names_in(&fixtures.join("faults"));
    assert!(!profiles.is_empty() && !faults.is_empty(), "no fixtures");
    let mut runs: Vec<(String, bool)> = profiles
        .iter()
        .map(|p| (p.clone(), true))
        .chain(faults.iter().map(|f| (f.clone(), false)))
        .collect();
    // The longest first: a fault that breaks the media path waits out the ICE budget (5 s,
    // SPEC section 2), which the others' runs fill. Then by what a fault edits.
    let key = |(name, is_profile): &(String, bool)| {
        if *is_profile {
            return (0, String::new());
        }
        let p = Profile::load_fault(&fixtures, name).expect("fault loads");
        let f = &p.fault.as_ref().expect("is a fault").1;
        let waits = f.must_fail.iter().any(|c| c.starts_with("ice/connect/"));
        let edits: BTreeSet<&str> = f.edit.iter().map(|e| e.file.as_str()).collect();
        (if waits { 1 } else { 2 }, format!("{} {edits:?}", f.base))
    };
    runs.sort_by_cached_key(key);
    // Labs are reused from run to run (SPEC section 6): each lab takes next the run that
    // restarts the fewest of its roles. The snapshots below were written from fresh labs, so a
    // reused lab that answered differently from a fresh one would fail here.
    let opts: Vec<RunOptions> = runs
        .iter()
        .map(|(name, is_profile)| {
            if *is_profile {
                RunOptions::profile(name)
            } else {
                RunOptions::fault(name)
            }
        })
        .collect();
    let outcomes = run::Pool { parallel: PARALLEL }.run_all(opts).await;
    let mut verdicts: Vec<(bool, Verdict)> = Vec::new();
    for ((name, is_profile), o) in runs.into_iter().zip(outcomes) {
        let o = match o {
            Ok(o) => o,
            Err(e) => panic!("{name}: the lab could not run ({}): {}", e.kind, e.message),
        };
        let stem = format!("{}-{name}", if is_profile { "profile" } else { "fault" });
        snapshot(&stem, &o.report, &o.values);
        let v = if is_profile {
            let p = Profile::load(&run::fixtures(), &name).expect("profile loads");
            judge_profile(&name, &o.report, &p.manifest.expect)
        } else {
            judge_fault(&name, &o.report)
        };
        verdicts.push((is_profile, v));
    }
    verdicts.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    // Written to the process's stderr itself, not through eprintln! (which the test harness
    // captures): `cargo test` shows the catalogue and its score on every run.
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    for (is_profile, v) in &verdicts {
        let _ = writeln!(
            err,
            "{} {} {:<24} ({}) {}",
            if v.caught { "ok    " } else { "WRONG " },
            if *is_profile { "profile" } else { "fault  " },
            v.name,
            v.took,
            v.detail.lines().next().unwrap_or("")
        );
    }
    let faults: Vec<&Verdict> = verdicts
        .iter()
        .filter(|(p, _)| !p)
        .map(|(_, v)| v)
        .collect();
    let caught = faults.iter().filter(|v| v.caught).count();
    let score = format!(
        "mutation score: {caught}/{} ({:.0}%)",
        faults.len(),
        100.0 * caught as f64 / faults.len() as f64
    );
    let _ = writeln!(err, "{score}");
    drop(err);
    let wrong: Vec<String> = verdicts
        .iter()
        .filter(|(_, v)| !v.caught)
        .map(|(_, v)| format!("{}: {}", v.name, v.detail))
        .collect();
    assert!(wrong.is_empty(), "{score}; wrong:\n{}", wrong.join("\n\n"));
}

#[test]
fn every_fault_has_teeth() {
    for name in names_in(&run::fixtures().join("faults")) {
        let p = Profile::load_fault(&run::fixtures(), &name).expect("fault loads");
        let spec = &p.fault.as_ref().expect("a fault").1;
        assert!(
            !spec.must_fail.is_empty() || !spec.must_warn.is_empty(),
            "{name}: a fault must cause a MUST failure or a warning"
        );
        for id in spec.must_fail.iter().chain(&spec.must_warn) {
            assert!(
                jitsi_conformance::catalogue::find(id).is_some(),
                "{name}: {id} is not in the catalogue"
            );
        }
    }
}
