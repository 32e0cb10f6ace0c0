//! The operator-case corpus (issue 7): whole files as operators keep them, not one change to a
//! profile. Each case in `fixtures/operator-cases/<name>/` holds the files (found by name:
//! `site.conf`, `rules.v4`, `sip-communicator.properties`, `jvb.conf`,
//! `jicofo-sip-communicator.properties`, `turnserver.conf`, `prosody.cfg.lua`, and a `site.toml`
//! the run reads beside the vhost) and `case.toml`: the flags an operator adds, the exit code,
//! the MUST failures and lint findings, exactly as sets; for exit 2, the words the error says.

mod support;

use jc_harness::profile::names_in;
use jitsi_conformance::run::{self, RunOptions};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Labs at once.
const PARALLEL: usize = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default)]
    args: Vec<String>,
    exit: i32,
    #[serde(default)]
    must_fail: Vec<String>,
    /// Exit 2: words the message must hold.
    #[serde(default)]
    error: Vec<String>,
    /// `rule file:line`, exactly.
    #[serde(default)]
    lint: Vec<String>,
    /// Whether the proxy passes the site's name on as Host. Where it does not, the signalling
    /// verdicts say the lab's prosody answered what Jitsi's would refuse (404 "Unknown host").
    #[serde(default)]
    passes_host: Option<bool>,
}

/// The words of the signalling verdicts' Host caveat (`checks::proxy::host_caveat`).
const HOST_CAVEAT: &str = "Not reproduced by the lab: the proxy sends Host:";

const FILES: [(&str, &str); 7] = [
    ("site.conf", "--vhost"),
    ("rules.v4", "--rules"),
    ("sip-communicator.properties", "--bridge-config"),
    ("jvb.conf", "--jvb-conf"),
    ("jicofo-sip-communicator.properties", "--jicofo-config"),
    ("turnserver.conf", "--turn-config"),
    ("prosody.cfg.lua", "--prosody-config"),
];

fn cases_dir() -> PathBuf {
    run::fixtures().join("operator-cases")
}

fn command_line(dir: &Path, case: &Case) -> Vec<String> {
    let mut args = Vec::new();
    for (file, flag) in FILES {
        if dir.join(file).is_file() {
            args.push(flag.to_string());
            args.push(dir.join(file).display().to_string());
        }
    }
    args.extend(case.args.iter().cloned());
    args
}

/// A case and the run its files and flags ask for (or why they ask for none).
fn load(name: &str) -> Result<(Case, Result<RunOptions, String>), String> {
    let dir = cases_dir().join(name);
    let text = std::fs::read_to_string(dir.join("case.toml")).map_err(|e| e.to_string())?;
    let case: Case = toml::from_str(&text).map_err(|e| format!("case.toml: {e}"))?;
    let args = command_line(&dir, &case);
    let opts = jitsi_conformance::cli::lab_options(&args);
    Ok((case, opts))
}

/// What happened, or why it did not match.
fn judge(case: &Case, run: Result<run::Outcome, String>) -> Result<String, String> {
    match run {
        Err(message) => {
            let missing: Vec<&String> = case
                .error
                .iter()
                .filter(|w| !message.contains(w.as_str()))
                .collect();
            if case.exit == 2 && missing.is_empty() {
                Ok(format!("exit 2: {}", message.lines().next().unwrap_or("")))
            } else {
                Err(format!(
                    "{}: exit 2 ({message}), want exit {}{}",
                    case.description,
                    case.exit,
                    if missing.is_empty() {
                        String::new()
                    } else {
                        format!(", and the message lacks {missing:?}")
                    }
                ))
            }
        }
        Ok(o) => {
            let r = &o.report;
            let got: BTreeSet<&str> = r.must_failures().into_iter().collect();
            let want: BTreeSet<&str> = case.must_fail.iter().map(String::as_str).collect();
            let lint: BTreeSet<String> = r
                .lint
                .iter()
                .flatten()
                .map(|f| {
                    let file = Path::new(&f.file)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    format!("{} {file}:{}", f.rule, f.line)
                })
                .collect();
            let want_lint: BTreeSet<String> = case.lint.iter().cloned().collect();
            let has_sections =
                r.site.is_some() && r.translation.is_some() && r.assumptions.is_some();
            let caveat = r.checks.iter().any(|c| c.actual.contains(HOST_CAVEAT));
            if let Some(passes) = case.passes_host {
                if caveat == passes {
                    return Err(format!(
                        "{}: the proxy {} the Host on, but the Host caveat is {}",
                        case.description,
                        if passes { "passes" } else { "does not pass" },
                        if caveat { "there" } else { "missing" }
                    ));
                }
            }
            if r.exit_code() == case.exit && got == want && lint == want_lint && has_sections {
                Ok(format!("exit {}: MUST failures {got:?}", r.exit_code()))
            } else {
                Err(format!(
                    "{}: exit {} (want {}), MUST failures {got:?} (want {want:?}), lint {lint:?} (want {want_lint:?}), site/translation/assumptions present: {has_sections}\n{}",
                    case.description,
                    r.exit_code(),
                    case.exit,
                    support::explain(r)
                ))
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operator_case_gives_exactly_its_verdicts() {
    support::init();
    let names = names_in(&cases_dir());
    assert!(names.len() >= 25, "the corpus holds {} cases", names.len());
    // On labs kept between the cases (as the fault catalogue runs): a case whose site's name
    // another lab already has runs on it, its roles restarted in their containers.
    let mut results: Vec<(String, Result<String, String>)> = Vec::new();
    let mut waiting = Vec::new();
    for name in names {
        match load(&name) {
            Err(e) => results.push((name, Err(e))),
            Ok((case, Err(e))) => {
                let r = judge(&case, Err(e));
                results.push((name, r));
            }
            Ok((case, Ok(opts))) => waiting.push((name, case, opts)),
        }
    }
    let outcomes = run::Pool { parallel: PARALLEL }
        .run_all(waiting.iter().map(|(_, _, o)| o.clone()).collect())
        .await;
    for ((name, case, _), o) in waiting.into_iter().zip(outcomes) {
        let r = judge(&case, o.map_err(|e| e.message));
        results.push((name, r));
    }
    let mut wrong = Vec::new();
    for (name, r) in &results {
        match r {
            Ok(s) => eprintln!("ok    {name:<36} {s}"),
            Err(e) => {
                eprintln!("WRONG {name:<36} {}", e.lines().next().unwrap_or(""));
                wrong.push(format!("{name}: {e}"));
            }
        }
    }
    println!(
        "operator cases: {}/{} as expected",
        results.len() - wrong.len(),
        results.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// Lint alone (no Docker) names the typo's line, and exits 1 with findings, 0 without.
#[test]
fn lint_names_the_lines_without_a_lab() {
    let run = |name: &str| {
        let dir = cases_dir().join(name);
        let case: Case =
            toml::from_str(&std::fs::read_to_string(dir.join("case.toml")).unwrap()).unwrap();
        let mut args = vec!["lint".to_string(), "--format".into(), "json".into()];
        args.extend(command_line(&dir, &case));
        let out = support::binary()
            .args(&args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code(), v)
    };
    let (code, v) = run("dnat-typo-nothing-declared");
    assert_eq!(code, Some(1), "{v}");
    let lines: Vec<String> = v["lint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["rule"].as_str().unwrap(), f["line"]))
        .collect();
    assert!(lines.contains(&"dnat-target 9".to_string()), "{lines:?}");
    let (code, v) = run("conformant-2020-setup");
    assert_eq!(code, Some(0), "{v}");
    let (code, _) = run("binary-rules-file");
    assert_eq!(code, Some(2));
}
