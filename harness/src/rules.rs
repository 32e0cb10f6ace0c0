//! A reader of the router's rules in `iptables-save` format, so a rules file that does not
//! parse is rejected with file and line before the lab starts (`iptables-restore` in the
//! router remains the judge of each rule's meaning).

use crate::vhost::ConfigError;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub line: usize,
    pub table: String,
    pub chain: String,
    /// The rule as written, without the leading `-A CHAIN`.
    pub spec: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub rules: Vec<Rule>,
    /// (table, chain, policy) for built-in chains.
    pub policies: Vec<(String, String, String)>,
}

const TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

pub fn parse(file: &Path, text: &str) -> Result<Ruleset, ConfigError> {
    let err = |line: usize, reason: String| ConfigError {
        file: file.display().to_string(),
        line,
        reason,
    };
    let mut set = Ruleset::default();
    let mut table: Option<(String, usize)> = None;
    let mut chains: Vec<String> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let n = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if let Some((open, at)) = &table {
                return Err(err(
                    n,
                    format!("table *{name} starts before *{open} (line {at}) has its COMMIT"),
                ));
            }
            if !TABLES.contains(&name) {
                return Err(err(
                    n,
                    format!(
                        "unknown table *{name} (expected one of {})",
                        TABLES.join(", ")
                    ),
                ));
            }
            table = Some((name.to_string(), n));
            chains.clear();
            continue;
        }
        let Some((tname, _)) = &table else {
            return Err(err(
                n,
                format!("`{line}` is outside a table: start one with a line like *nat"),
            ));
        };
        if line == "COMMIT" {
            table = None;
            continue;
        }
        if let Some(decl) = line.strip_prefix(':') {
            let mut w = decl.split_whitespace();
            let (Some(chain), Some(policy)) = (w.next(), w.next()) else {
                return Err(err(n, format!("chain declaration `{line}` needs a name and a policy, e.g. :FORWARD DROP [0:0]")));
            };
            if !["ACCEPT", "DROP", "-"].contains(&policy) {
                return Err(err(
                    n,
                    format!("chain {chain}: policy `{policy}` is not ACCEPT, DROP or -"),
                ));
            }
            if policy != "-" {
                set.policies
                    .push((tname.clone(), chain.to_string(), policy.to_string()));
            }
            chains.push(chain.to_string());
            continue;
        }
        let mut w = line.splitn(3, char::is_whitespace);
        match (w.next(), w.next()) {
            (Some("-A" | "-I" | "--append" | "--insert"), Some(chain)) => {
                if !chains.iter().any(|c| c == chain) {
                    return Err(err(n, format!("chain {chain} is not declared in table *{tname} (add `:{chain} ACCEPT [0:0]` or use a built-in chain)")));
                }
                let spec = w.next().unwrap_or("").trim().to_string();
                if spec.matches('"').count() % 2 == 1 {
                    return Err(err(n, "unbalanced double quote".into()));
                }
                set.rules.push(Rule { line: n, table: tname.clone(), chain: chain.to_string(), spec });
            }
            _ => return Err(err(n, format!("`{line}` is not an iptables-save line (*table, :CHAIN POLICY, -A CHAIN ..., COMMIT)"))),
        }
    }
    if let Some((open, at)) = table {
        return Err(err(at, format!("table *{open} has no COMMIT")));
    }
    Ok(set)
}

/// Maps `iptables-restore`'s complaint ("line N failed") back to the file's line.
pub fn restore_error_line(output: &str) -> Option<usize> {
    let at = output.find("line ")?;
    output[at + 5..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 198.51.100.2/32 -p udp --dport 10000 -j DNAT --to-destination 172.30.77.20:10000\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m comment --comment \"a b\" -j ACCEPT\nCOMMIT\n";

    #[test]
    fn reads_rules_and_policies() {
        let r = parse(Path::new("rules.v4"), GOOD).unwrap();
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.rules[0].line, 4);
        assert_eq!(r.rules[0].chain, "PREROUTING");
        assert!(r
            .policies
            .contains(&("filter".into(), "FORWARD".into(), "DROP".into())));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("-A FORWARD -j ACCEPT\n", 1, "outside a table"),
            ("*nat\n-A FORWARD -j ACCEPT\nCOMMIT\n", 2, "not declared"),
            ("*filter\n:FORWARD DROP\n", 1, "no COMMIT"),
            ("*filter\n:FORWARD MAYBE [0:0]\nCOMMIT\n", 2, "policy"),
            ("*nat\nwhat\nCOMMIT\n", 2, "not an iptables-save line"),
            ("*natty\n", 1, "unknown table"),
        ];
        for (text, line, word) in cases {
            let e = parse(Path::new("r"), text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.reason.contains(word), "{text:?}: {e}");
        }
    }

    #[test]
    fn restore_errors_are_mapped() {
        assert_eq!(
            restore_error_line("iptables-restore: line 12 failed"),
            Some(12)
        );
        assert_eq!(restore_error_line("nothing"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(Path::new("x"), &s);
            let _ = restore_error_line(&s);
        }
    }
}
