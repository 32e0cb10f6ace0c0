//! JUnit XML, for CI systems that show test results.
//!
//! CI marks a run red on any `<failure>` or `<error>`, so the mapping follows the exit code:
//! only a MUST that failed becomes a `<failure>`; a SHOULD or INFO not met (warn, or a
//! non-MUST fail) is a passing testcase with a `<system-out>` note; a check that could not
//! run is an `<error>`; a skipped check is `<skipped>`.

use super::text::{area, severity_word, status_word};
use super::{CheckReport, Report, Severity, Status};

/// What a testcase turns into; also the basis of the suite's counts, so they always agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    /// Passed for CI, with a note: a requirement that is not a MUST was not met.
    Noted,
    Failure,
    Error,
    Skipped,
}

fn outcome(check: &CheckReport) -> Outcome {
    match (check.status, check.severity) {
        (Status::Pass, _) => Outcome::Passed,
        (Status::Fail, Severity::Must) => Outcome::Failure,
        (Status::Fail, _) | (Status::Warn, _) => Outcome::Noted,
        (Status::Error, _) => Outcome::Error,
        (Status::Skip, _) => Outcome::Skipped,
    }
}

/// Render the report as one `<testsuites>` holding one `<testsuite>`. Ends with a newline.
pub fn render(report: &Report) -> String {
    let count = |o: Outcome| report.checks.iter().filter(|c| outcome(c) == o).count();
    let attrs = format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
        report.checks.len(),
        count(Outcome::Failure),
        count(Outcome::Error),
        count(Outcome::Skipped),
        seconds(report.checks.iter().map(|c| c.duration_ms).sum())
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"{}\" {attrs}>\n",
        escape(&report.tool.name)
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" {attrs}>\n",
        escape(&suite_name(report))
    ));
    properties(&mut out, report);
    for check in &report.checks {
        testcase(&mut out, check);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `jitsi-conformance.<profile>[.<fault>]`, so runs of different faults stay apart in CI.
fn suite_name(report: &Report) -> String {
    let mut name = format!("{}.{}", report.tool.name, report.profile);
    if let Some(fault) = &report.fault {
        name.push('.');
        name.push_str(fault);
    }
    name
}

/// Target and lab versions as properties: what a reader of a red CI run asks first.
fn properties(out: &mut String, report: &Report) {
    let mut props = vec![
        ("tool.version".to_string(), report.tool.version.clone()),
        ("target.fqdn".to_string(), report.target.fqdn.clone()),
        (
            "target.public_ip".to_string(),
            report.target.public_ip.clone(),
        ),
    ];
    props.extend(
        report
            .lab
            .iter()
            .map(|(k, v)| (format!("lab.{k}"), v.clone())),
    );
    out.push_str("    <properties>\n");
    for (name, value) in props {
        out.push_str(&format!(
            "      <property name=\"{}\" value=\"{}\"/>\n",
            escape(&name),
            escape(&value)
        ));
    }
    out.push_str("    </properties>\n");
}

fn testcase(out: &mut String, check: &CheckReport) {
    let open = format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        escape(area(&check.id)),
        escape(&format!("{}: {}", check.id, check.title)),
        seconds(check.duration_ms)
    );
    let body = match outcome(check) {
        Outcome::Passed => None,
        Outcome::Failure => Some(element(
            "failure",
            &check.requirement,
            &expected_actual(check),
        )),
        Outcome::Error => Some(element("error", &check.actual, &expected_actual(check))),
        Outcome::Skipped => Some(format!("<skipped message=\"{}\"/>", escape(&check.actual))),
        Outcome::Noted => Some(format!("<system-out>{}</system-out>", escape(&note(check)))),
    };
    match body {
        None => out.push_str(&format!("{open}/>\n")),
        Some(inner) => out.push_str(&format!("{open}>\n      {inner}\n    </testcase>\n")),
    }
}

/// `<failure message="...">expected: ...\nactual: ...</failure>`; same shape for `<error>`.
fn element(tag: &str, message: &str, body: &str) -> String {
    format!(
        "<{tag} message=\"{}\">{}</{tag}>",
        escape(message),
        escape(body)
    )
}

fn expected_actual(check: &CheckReport) -> String {
    format!("expected: {}\nactual: {}", check.expected, check.actual)
}

/// Why a passing testcase still carries a note: which requirement, how strong, what was seen.
fn note(check: &CheckReport) -> String {
    format!(
        "{} ({}, does not fail the run): {}\n{}",
        status_word(check.status).to_uppercase(),
        severity_word(check.severity).to_uppercase(),
        check.requirement,
        expected_actual(check)
    )
}

/// JUnit times are decimal seconds.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Escape for both attribute values and text: the five XML specials, plus tab, newline and
/// carriage return as character references (a parser would otherwise fold them to spaces in
/// attributes, and turn CR into LF in text). Characters XML 1.0 forbids, which no escape can
/// carry, are dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
/// (A Rust `char` is never a surrogate, so the gap between #xD7FF and #xE000 needs no test.)
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

#[cfg(test)]
mod tests {
    use super::super::text::tests::sample;
    use super::*;
    use proptest::prelude::*;

    /// A small well-formedness check, enough for what `render` emits: every `<` starts a
    /// declaration or a tag, tags balance, every `&` starts a known reference, and no raw
    /// `<` or `"` appears inside an attribute value. Returns the element names in order.
    fn well_formed(xml: &str) -> Vec<String> {
        let body = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("declaration");
        let mut stack: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = body;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt]);
            let gt = tag_end(&rest[lt..]) + lt;
            let tag = &rest[lt + 1..gt];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "unbalanced </{name}>");
            } else {
                let name = tag.split([' ', '/']).next().unwrap().to_string();
                check_attributes(tag);
                seen.push(name.clone());
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[gt + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(rest.trim(), "", "trailing text");
        seen
    }

    /// Index of the `>` closing the tag at the start of `s`, skipping quoted values.
    fn tag_end(s: &str) -> usize {
        let mut quoted = false;
        for (i, c) in s.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '<' if i > 0 => panic!("raw < inside a tag: {s}"),
                '>' if !quoted => return i,
                _ => {}
            }
        }
        panic!("unterminated tag: {s}")
    }

    fn check_attributes(tag: &str) {
        assert_eq!(tag.matches('"').count() % 2, 0, "odd quotes in {tag}");
        for value in tag.split('"').skip(1).step_by(2) {
            check_text(value);
        }
    }

    fn check_text(s: &str) {
        assert!(
            !s.contains('<') && !s.contains('>'),
            "raw angle bracket in {s:?}"
        );
        for (i, _) in s.match_indices('&') {
            let entity = &s[i..s[i..]
                .find(';')
                .map(|j| i + j + 1)
                .expect("terminated reference")];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#9;", "&#10;", "&#13;"]
                    .contains(&entity),
                "unknown reference {entity}"
            );
        }
        assert!(s.chars().all(is_xml_char), "illegal char in {s:?}");
    }

    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#9;", "\t")
            .replace("&#10;", "\n")
            .replace("&#13;", "\r")
            .replace("&amp;", "&")
    }

    #[test]
    fn is_well_formed_with_one_testcase_per_check() {
        let xml = render(&sample());
        let names = well_formed(&xml);
        assert_eq!(names.iter().filter(|n| *n == "testsuites").count(), 1);
        assert_eq!(names.iter().filter(|n| *n == "testsuite").count(), 1);
        assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 5);
        for (tag, n) in [
            ("failure", 1),
            ("error", 1),
            ("skipped", 1),
            ("system-out", 1),
        ] {
            assert_eq!(names.iter().filter(|x| *x == tag).count(), n, "{tag}");
        }
    }

    #[test]
    fn counts_and_names() {
        let xml = render(&sample());
        assert!(xml.contains(
            "<testsuite name=\"jitsi-conformance.reference.no-ws-upgrade\" tests=\"5\" \
             failures=\"1\" errors=\"1\" skipped=\"1\" time=\"0.015\">"
        ));
        assert!(xml.contains(
            "<testcase classname=\"http\" name=\"http/redirect/1: title of http/redirect/1\" time=\"0.003\"/>"
        ));
        assert!(xml.contains("<skipped message=\"no bridge configured\"/>"));
        assert!(xml.contains("<property name=\"lab.apache2\" value=\"2.4.71-1~deb12u1\"/>"));
        let mut report = sample();
        report.fault = None;
        assert!(render(&report).contains("<testsuite name=\"jitsi-conformance.reference\" "));
    }

    #[test]
    fn failure_carries_expected_and_actual_escaped() {
        let xml = render(&sample());
        assert!(xml.contains(
            "<failure message=\"requirement of proxy/websocket/1\">expected: expected of proxy/websocket/1\n\
             actual: got &lt;html&gt; &amp; &quot;quotes&quot; &apos;here&apos;</failure>"
                .replace('\n', "&#10;")
                .as_str()
        ));
        assert!(xml.contains("<error message=\"connection reset&#10;after 3s\">"));
    }

    #[test]
    fn should_not_met_does_not_fail() {
        let mut report = sample();
        report.checks[2].status = Status::Fail; // SHOULD fail: a note, not a failure
        let xml = render(&report);
        assert!(xml.contains("failures=\"1\""));
        assert!(xml.contains(
            "<system-out>FAIL (SHOULD, does not fail the run): requirement of http/hsts/1"
        ));
        assert_eq!(
            well_formed(&xml)
                .iter()
                .filter(|n| *n == "system-out")
                .count(),
            1
        );
    }

    #[test]
    fn illegal_characters_are_dropped() {
        assert_eq!(escape("a\u{0}b\u{1b}[31mc\u{FFFF}d\te"), "ab[31mcd&#9;e");
        let mut report = sample();
        report.checks[1].actual = "nul\u{0} bell\u{7} ]]> <![CDATA[".into();
        well_formed(&render(&report));
    }

    #[test]
    fn seconds_format() {
        assert_eq!(seconds(0), "0.000");
        assert_eq!(seconds(3), "0.003");
        assert_eq!(seconds(12_345), "12.345");
    }

    proptest! {
        #[test]
        fn escape_round_trips_legal_text(s in any::<String>()) {
            let escaped = escape(&s);
            check_text(&escaped);
            prop_assert!(!escaped.contains('"') && !escaped.contains('\''));
            let legal: String = s.chars().filter(|&c| is_xml_char(c)).collect();
            prop_assert_eq!(unescape(&escaped), legal);
        }
    }
}
