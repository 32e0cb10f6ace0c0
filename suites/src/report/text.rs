//! Human report for a terminal.
//!
//! Also home of the small helpers the other renderers share (area grouping, status words,
//! the lab line, durations), because `report/mod.rs` is the model and stays free of layout.

use super::{CheckReport, Report, Severity, Status};

/// Width the report is laid out for; long expected/actual values are wrapped to it.
const WIDTH: usize = 100;

/// Areas in the order a reader follows a request: HTTP, then TLS, the proxy, the NAT, ICE.
/// Areas not listed here follow in the order they first appear in the report.
const AREA_ORDER: [&str; 5] = ["http", "tls", "proxy", "nat", "ice"];

/// Lab packages named first, in the order the request passes through them.
const LAB_ORDER: [&str; 3] = ["apache2", "nginx", "iptables"];

/// The area of a check: the first segment of its id (`proxy/websocket/1` -> `proxy`).
pub(super) fn area(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// Checks grouped by area, areas in [`AREA_ORDER`], checks in report order within an area.
pub(super) fn by_area(checks: &[CheckReport]) -> Vec<(&str, Vec<&CheckReport>)> {
    let mut groups: Vec<(&str, Vec<&CheckReport>)> = Vec::new();
    for check in checks {
        let name = area(&check.id);
        match groups.iter_mut().find(|(a, _)| *a == name) {
            Some((_, members)) => members.push(check),
            None => groups.push((name, vec![check])),
        }
    }
    // Stable sort: unknown areas keep their first-appearance order after the known ones.
    groups.sort_by_key(|(a, _)| {
        AREA_ORDER
            .iter()
            .position(|k| k == a)
            .unwrap_or(AREA_ORDER.len())
    });
    groups
}

pub(super) fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Warn => "warn",
        Status::Skip => "skip",
        Status::Error => "error",
    }
}

pub(super) fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Must => "must",
        Severity::Should => "should",
        Severity::Info => "info",
    }
}

/// `apache2 2.4.71-1~deb12u1, nginx 1.22.1, iptables 1.8.9`: well-known packages first.
pub(super) fn lab_line(report: &Report) -> String {
    let mut names: Vec<&String> = report.lab.keys().collect();
    names.sort_by_key(|n| {
        LAB_ORDER
            .iter()
            .position(|k| k == n)
            .unwrap_or(LAB_ORDER.len())
    });
    names
        .iter()
        .map(|n| format!("{n} {}", report.lab[*n]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `850ms` below a second, `12.3s` above: precise where it matters, short where it does not.
pub(super) fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// `images 0ms, lab up 12.3s, checks 4.5s, teardown 1.2s`.
pub(super) fn timings_line(report: &Report) -> String {
    let t = &report.timings;
    let teardown = match t.reaper_pid {
        Some(pid) => format!(
            "handed off in {} (pid {pid} removes the lab)",
            duration(t.teardown_ms)
        ),
        None => duration(t.teardown_ms),
    };
    format!(
        "images {}, lab up {}, checks {}, teardown {teardown}",
        duration(t.images_ms),
        duration(t.lab_up_ms),
        duration(t.checks_ms),
    )
}

/// `28 checks: 26 pass, 0 fail, 2 warn, 0 skip, 0 error`.
pub(super) fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    format!(
        "{} checks: {} pass, {} fail, {} warn, {} skip, {} error",
        s.total, s.pass, s.fail, s.warn, s.skip, s.error
    )
}

/// The verdict, worded from the same rule as the exit code ([`Report::must_failures`]).
pub(super) fn verdict_line(report: &Report) -> String {
    let failed = report.must_failures();
    if failed.is_empty() {
        return "PASS: no MUST failed".to_string();
    }
    // must_failures also counts errors; say so, or a reader hunts for a failure that is not there.
    let errored = report
        .checks
        .iter()
        .any(|c| c.severity == Severity::Must && c.status == Status::Error);
    let noun = if failed.len() == 1 { "check" } else { "checks" };
    let verb = if errored {
        "failed or errored"
    } else {
        "failed"
    };
    format!(
        "FAIL: {} MUST {noun} {verb}: {}",
        failed.len(),
        failed.join(", ")
    )
}

/// ANSI styling, or none at all so piped output carries no escape bytes.
struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn status(&self, status: Status) -> String {
        // Pad before painting so escape bytes do not upset the column alignment.
        let word = format!("{:<5}", status_word(status).to_uppercase());
        let code = match status {
            Status::Pass => "32",
            Status::Fail | Status::Error => "31",
            Status::Warn => "33",
            Status::Skip => "2",
        };
        self.wrap(code, &word)
    }

    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }

    fn verdict(&self, report: &Report, line: &str) -> String {
        let code = if report.must_failures().is_empty() {
            "1;32"
        } else {
            "1;31"
        };
        self.wrap(code, line)
    }
}

/// Render the report for a terminal. With `color` false the output has no escape bytes.
/// The result ends with a newline.
pub fn render(report: &Report, color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    header(&mut out, report);
    for (title, lines) in report.pre_change_lines() {
        out.push('\n');
        out.push_str(&paint.bold(title));
        out.push('\n');
        for l in lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    let id_width = report
        .checks
        .iter()
        .map(|c| c.id.chars().count())
        .max()
        .unwrap_or(0);
    for (name, checks) in by_area(&report.checks) {
        out.push('\n');
        out.push_str(&paint.bold(name));
        out.push('\n');
        for check in checks {
            check_lines(&mut out, &paint, check, id_width);
        }
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out.push('\n');
    out.push_str(&paint.verdict(report, &verdict_line(report)));
    out.push('\n');
    out.push_str(&format!("timings: {}\n", timings_line(report)));
    out
}

fn header(out: &mut String, report: &Report) {
    let mut line = format!(
        "{} {}  profile {}",
        report.tool.name, report.tool.version, report.profile
    );
    if let Some(fault) = &report.fault {
        line.push_str(&format!("  fault {fault}"));
    }
    line.push_str(&format!(
        "  target {} ({})",
        report.target.fqdn, report.target.public_ip
    ));
    out.push_str(&line);
    out.push('\n');
    if !report.lab.is_empty() {
        out.push_str(&format!("lab: {}\n", lab_line(report)));
    }
    if let Some(c) = &report.config_js {
        out.push_str(&format!("config.js: {c}\n"));
    }
    for l in report.destination_lines() {
        out.push_str(&format!("{l}\n"));
    }
    if let Some(k) = &report.kept {
        out.push_str(&format!(
            "kept: lab {}; probe it: {}\n",
            k.lab,
            k.probe_command()
        ));
    }
}

/// `STATUS  id  title`, then expected/actual indented under anything that did not pass.
fn check_lines(out: &mut String, paint: &Paint, check: &CheckReport, id_width: usize) {
    let status = paint.status(check.status);
    let pad = id_width.saturating_sub(check.id.chars().count());
    out.push_str(&format!(
        "  {status}  {}{}  {}\n",
        check.id,
        " ".repeat(pad),
        check.title
    ));
    if check.status != Status::Pass {
        labelled(out, "expected", &check.expected);
        labelled(out, "actual", &check.actual);
    }
}

/// `      expected: value`, with wrapped and multi-line values aligned under the value.
fn labelled(out: &mut String, label: &str, value: &str) {
    let lead = format!("         {:<10}", format!("{label}:"));
    let indent = " ".repeat(lead.chars().count());
    let avail = WIDTH.saturating_sub(lead.chars().count()).max(20);
    let mut first = true;
    for line in value.lines().flat_map(|l| wrap(l, avail)) {
        out.push_str(if first { &lead } else { &indent });
        out.push_str(&line);
        out.push('\n');
        first = false;
    }
    if first {
        // Empty value: still print the label, so "expected nothing" is visible.
        out.push_str(lead.trim_end());
        out.push('\n');
    }
}

/// Greedy wrap at single spaces. Words longer than `width` (URLs, headers) are left whole:
/// breaking them would make them impossible to copy, and nothing is ever dropped.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut rows = Vec::new();
    let mut rest = line;
    while rest.chars().count() > width {
        let Some(cut) = break_at(rest, width) else {
            break;
        };
        rows.push(rest[..cut].to_string());
        rest = &rest[cut + 1..];
    }
    rows.push(rest.to_string());
    rows
}

/// Byte index of the space to break at: the last one within `width` chars, else the first after.
fn break_at(text: &str, width: usize) -> Option<usize> {
    let limit = text
        .char_indices()
        .nth(width)
        .map_or(text.len(), |(i, _)| i);
    // A space right at the limit still gives a row of exactly `width` chars.
    if text[limit..].starts_with(' ') {
        return Some(limit);
    }
    text[..limit]
        .rfind(' ')
        .filter(|&i| i > 0)
        .or_else(|| text[limit..].find(' ').map(|i| i + limit))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Target, Timings, Tool};
    use super::*;
    use std::collections::BTreeMap;

    fn check(id: &str, severity: Severity, status: Status, actual: &str) -> CheckReport {
        CheckReport {
            id: id.to_string(),
            severity,
            status,
            title: format!("title of {id}"),
            requirement: format!("requirement of {id}"),
            expected: format!("expected of {id}"),
            actual: actual.to_string(),
            duration_ms: 3,
        }
    }

    /// A small report across two areas with every status, shared by the renderers' tests.
    pub(in super::super) fn sample() -> Report {
        let checks = vec![
            check(
                "http/redirect/1",
                Severity::Must,
                Status::Pass,
                "301 to https",
            ),
            check(
                "proxy/websocket/1",
                Severity::Must,
                Status::Fail,
                "got <html> & \"quotes\" 'here'",
            ),
            check(
                "http/hsts/1",
                Severity::Should,
                Status::Warn,
                "no Strict-Transport-Security",
            ),
            check(
                "proxy/websocket/2",
                Severity::Must,
                Status::Error,
                "connection reset\nafter 3s",
            ),
            check(
                "proxy/colibri/1",
                Severity::Info,
                Status::Skip,
                "no bridge configured",
            ),
        ];
        let summary = Report::summarize(&checks);
        Report {
            tool: Tool {
                name: "jitsi-conformance".into(),
                version: "0.1.0".into(),
            },
            profile: "reference".into(),
            fault: Some("no-ws-upgrade".into()),
            target: Target {
                fqdn: "meet.lab.test".into(),
                public_ip: "198.51.100.2".into(),
            },
            lab: BTreeMap::from([
                ("apache2".into(), "2.4.71-1~deb12u1".into()),
                ("iptables".into(), "1.8.9-2".into()),
                ("nginx".into(), "1.22.1-9".into()),
            ]),
            site: None,
            translation: None,
            assumptions: None,
            lint: None,
            config_js: None,
            contacted: None,
            not_contacted: None,
            kept: None,
            checks,
            summary,
            timings: Timings {
                images_ms: 0,
                lab_up_ms: 12_345,
                checks_ms: 850,
                teardown_ms: 1_200,
                reaper_pid: None,
            },
        }
    }

    #[test]
    fn plain_output_has_no_escape_bytes() {
        let text = render(&sample(), false);
        assert!(!text.contains('\x1b'), "{text}");
        assert!(render(&sample(), true).contains("\x1b[31m"));
    }

    #[test]
    fn header_names_profile_fault_target_and_lab() {
        let text = render(&sample(), false);
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        for part in [
            "jitsi-conformance 0.1.0",
            "profile reference",
            "fault no-ws-upgrade",
            "meet.lab.test",
            "198.51.100.2",
        ] {
            assert!(first.contains(part), "{first:?} lacks {part:?}");
        }
        assert_eq!(
            lines.next().unwrap(),
            "lab: apache2 2.4.71-1~deb12u1, nginx 1.22.1-9, iptables 1.8.9-2"
        );
    }

    #[test]
    fn checks_are_grouped_by_area_in_canonical_order() {
        let text = render(&sample(), false);
        let http = text.find("\nhttp\n").unwrap();
        let proxy = text.find("\nproxy\n").unwrap();
        assert!(http < proxy);
        // http/hsts/1 came after a proxy check in the report, but is listed under http.
        assert!(text.find("http/hsts/1").unwrap() < proxy);
    }

    #[test]
    fn details_only_under_non_pass() {
        let text = render(&sample(), false);
        assert!(!text.contains("expected of http/redirect/1"));
        for id in [
            "proxy/websocket/1",
            "http/hsts/1",
            "proxy/websocket/2",
            "proxy/colibri/1",
        ] {
            assert!(
                text.contains(&format!("expected: expected of {id}")),
                "{id}"
            );
        }
        // A multi-line actual keeps its second line, aligned under the first.
        assert!(
            text.contains("actual:   connection reset\n                   after 3s\n"),
            "{text}"
        );
    }

    #[test]
    fn summary_verdict_and_timings() {
        let text = render(&sample(), false);
        assert!(text.contains("\n5 checks: 1 pass, 1 fail, 1 warn, 1 skip, 1 error\n"));
        assert!(text.contains(
            "\nFAIL: 2 MUST checks failed or errored: proxy/websocket/1, proxy/websocket/2\n"
        ));
        assert!(text.ends_with("timings: images 0ms, lab up 12.3s, checks 850ms, teardown 1.2s\n"));
        let mut passing = sample();
        passing.checks.retain(|c| c.status == Status::Pass);
        assert!(render(&passing, false).contains("\nPASS: no MUST failed\n"));
    }

    #[test]
    fn long_values_wrap_within_width_without_losing_words() {
        let mut report = sample();
        let long = (0..60)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        report.checks[1].actual = long.clone();
        let text = render(&report, false);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        let words: Vec<&str> = text
            .split_whitespace()
            .filter(|w| w.starts_with("word"))
            .collect();
        assert_eq!(words.join(" "), long);
    }

    #[test]
    fn wrap_keeps_overlong_words_whole() {
        let url = "x".repeat(30);
        assert_eq!(
            wrap(&format!("a {url} b"), 10),
            vec!["a".to_string(), url.clone(), "b".to_string()]
        );
        assert_eq!(wrap(&url, 10), vec![url]);
        assert_eq!(wrap("", 10), vec![String::new()]);
        assert_eq!(
            wrap("héllo wörld", 6),
            vec!["héllo".to_string(), "wörld".to_string()]
        );
    }
}
