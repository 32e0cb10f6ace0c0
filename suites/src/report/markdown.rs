//! Markdown report (GitHub-flavoured), for `report.md` and pasting into issues.

use super::text::{by_area, lab_line, severity_word, status_word, timings_line, verdict_line};
use super::{CheckReport, Report, Status};

/// Render the report as Markdown: title, summary table, one table per area, then details
/// for every check that did not pass. Ends with a newline.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    overview(&mut out, report);
    for (title, lines) in report.pre_change_lines() {
        out.push_str(&format!("## {title}\n\n"));
        for l in lines {
            out.push_str(&format!("- {}\n", text(&l)));
        }
        out.push('\n');
    }
    for (area, checks) in by_area(&report.checks) {
        area_table(&mut out, area, &checks);
    }
    details(&mut out, report);
    out
}

fn overview(out: &mut String, report: &Report) {
    let mut title = format!("{} report: profile {}", report.tool.name, report.profile);
    if let Some(fault) = &report.fault {
        title.push_str(&format!(", fault {fault}"));
    }
    out.push_str(&format!("# {}\n\n", text(&title)));
    out.push_str(&format!(
        "- tool: {} {}\n- target: {} ({})\n",
        text(&report.tool.name),
        text(&report.tool.version),
        code(&report.target.fqdn),
        code(&report.target.public_ip)
    ));
    if !report.lab.is_empty() {
        out.push_str(&format!("- lab: {}\n", text(&lab_line(report))));
    }
    if let Some(c) = &report.config_js {
        out.push_str(&format!("- config.js: {}\n", code(&c.to_string())));
    }
    for l in report.destination_lines() {
        out.push_str(&format!("- {}\n", text(&l)));
    }
    if let Some(k) = &report.kept {
        out.push_str(&format!(
            "- kept: lab {}; probe it: {}\n",
            text(&k.lab),
            code(&k.probe_command())
        ));
    }
    out.push_str(&format!("- timings: {}\n\n", timings_line(report)));
    // Bold the verdict word so it stands out in a rendered issue.
    let verdict = verdict_line(report);
    let (word, rest) = verdict.split_once(": ").unwrap_or((&verdict, ""));
    out.push_str(&format!("**{word}**: {}\n\n", text(rest)));
    summary_table(out, report);
}

fn summary_table(out: &mut String, report: &Report) {
    let s = &report.summary;
    out.push_str("| total | pass | fail | warn | skip | error |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} |\n\n",
        s.total, s.pass, s.fail, s.warn, s.skip, s.error
    ));
}

fn area_table(out: &mut String, area: &str, checks: &[&CheckReport]) {
    out.push_str(&format!("## {}\n\n", text(area)));
    out.push_str("| id | severity | status | title |\n|---|---|---|---|\n");
    for c in checks {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&code(&c.id)),
            severity_word(c.severity),
            status_cell(c.status),
            cell(&text(&c.title))
        ));
    }
    out.push('\n');
}

/// Non-pass statuses in bold so they are found at a glance in a long table.
fn status_cell(status: Status) -> String {
    match status {
        Status::Pass => status_word(status).to_string(),
        _ => format!("**{}**", status_word(status)),
    }
}

fn details(out: &mut String, report: &Report) {
    // Same order as the tables above, so a reader scrolling down meets them in sequence.
    let open: Vec<&CheckReport> = by_area(&report.checks)
        .into_iter()
        .flat_map(|(_, checks)| checks)
        .filter(|c| c.status != Status::Pass)
        .collect();
    if open.is_empty() {
        return;
    }
    out.push_str("## Details\n\n");
    for c in open {
        out.push_str(&format!("### {}: {}\n\n", code(&c.id), text(&c.title)));
        out.push_str(&format!(
            "- severity: {}, status: {}\n- requirement: {}\n\n",
            severity_word(c.severity),
            status_word(c.status),
            text(&c.requirement)
        ));
        out.push_str(&format!(
            "Expected:\n\n{}\nActual:\n\n{}\n",
            fenced(&c.expected),
            fenced(&c.actual)
        ));
    }
}

/// Inline prose: backslash-escape the punctuation Markdown would act on (any ASCII punctuation
/// may be escaped in CommonMark, so over-escaping is harmless) and keep it on one line.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '~' | '!' => {
                out.push('\\');
                out.push(ch);
            }
            '\r' => {}
            '\n' => out.push_str("<br>"),
            _ => out.push(ch),
        }
    }
    out
}

/// A table cell: a `|` ends the cell even inside a code span, so it is escaped everywhere;
/// a newline would end the row, so it becomes `<br>`.
fn cell(s: &str) -> String {
    // `text` already escaped `|` outside code spans; only the raw ones in code spans remain.
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for ch in s.chars() {
        match ch {
            '|' if !escaped => out.push_str("\\|"),
            '\n' => out.push_str("<br>"),
            _ => out.push(ch),
        }
        escaped = ch == '\\' && !escaped;
    }
    out
}

/// Inline code with a backtick fence longer than any run inside, padded when the content
/// starts or ends with a backtick (CommonMark strips one space each side).
fn code(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
    let fence = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced block that no line of the content can close early; empty content shows as such.
fn fenced(s: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(s) + 1).max(3));
    let body = if s.is_empty() {
        "(empty)"
    } else {
        s.trim_end_matches('\n')
    };
    format!("{fence}text\n{body}\n{fence}\n")
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::text::tests::sample;
    use super::*;

    const TABLE_HEAD: &str = "| id | severity | status | title |";

    fn details_part(md: &str) -> &str {
        &md[md.find("## Details\n").expect("has details")..]
    }

    #[test]
    fn one_table_per_area() {
        let md = render(&sample());
        assert_eq!(md.matches(TABLE_HEAD).count(), 2);
        assert!(md.find("## http\n").unwrap() < md.find("## proxy\n").unwrap());
        let rows = md.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(rows, 5);
        assert!(
            md.contains("| `proxy/websocket/1` | must | **fail** | title of proxy/websocket/1 |")
        );
    }

    #[test]
    fn summary_table_and_verdict() {
        let md = render(&sample());
        assert!(
            md.starts_with("# jitsi-conformance report: profile reference, fault no-ws-upgrade\n")
        );
        assert!(md.contains("| 5 | 1 | 1 | 1 | 1 | 1 |\n"));
        assert!(md.contains(
            "**FAIL**: 2 MUST checks failed or errored: proxy/websocket/1, proxy/websocket/2\n"
        ));
    }

    #[test]
    fn details_only_for_non_pass() {
        let report = sample();
        let md = render(&report);
        let details = details_part(&md);
        assert_eq!(details.matches("\n### ").count(), 4);
        assert!(!details.contains("http/redirect/1"));
        for c in report.checks.iter().filter(|c| c.status != Status::Pass) {
            assert!(details.contains(&format!("### `{}`", c.id)));
            assert!(details.contains(&format!("```text\n{}\n```", c.actual)));
        }
        let mut passing = report;
        passing.checks.retain(|c| c.status == Status::Pass);
        assert!(!render(&passing).contains("## Details"));
    }

    #[test]
    fn table_cells_stay_in_their_row() {
        let mut report = sample();
        report.checks[0].title = "a | b\nc".into();
        report.checks[0].id = "http/we|ird/1".into();
        let md = render(&report);
        let row = md.lines().find(|l| l.contains("we\\|ird")).unwrap();
        assert_eq!(row, "| `http/we\\|ird/1` | must | pass | a \\| b<br>c |");
    }

    #[test]
    fn fences_survive_backticks_in_values() {
        let mut report = sample();
        report.checks[1].actual = "```\nnot the end\n````".into();
        let details = render(&report);
        assert!(details.contains("`````text\n```\nnot the end\n````\n`````\n"));
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(fenced(""), "```text\n(empty)\n```\n");
    }

    #[test]
    fn prose_is_escaped() {
        assert_eq!(text("<script> & *x*"), "\\<script\\> \\& \\*x\\*");
        assert_eq!(cell(&text("a|b")), "a\\|b");
        assert_eq!(cell("\\\\|"), "\\\\\\|");
    }
}
