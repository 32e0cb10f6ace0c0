//! The host's Debian apt sources, read at run time in both formats (one-line `.list` and
//! deb822 `.sources`): the base image is bootstrapped from the host's own mirror and gets the
//! host's suites (main, -updates, -security) so its packages match the host's patch level.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    pub signed_by: Option<String>,
}

/// Reads `/etc/apt/sources.list` and `sources.list.d/*.{list,sources}` under `root`.
pub fn read_host(root: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let etc = root.join("etc/apt");
    if let Ok(t) = std::fs::read_to_string(etc.join("sources.list")) {
        out.extend(parse_one_line(&t));
    }
    let mut entries: Vec<_> = std::fs::read_dir(etc.join("sources.list.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let Ok(t) = std::fs::read_to_string(&p) else {
            continue;
        };
        match p.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_one_line(&t)),
            Some("sources") => out.extend(parse_deb822(&t)),
            _ => {}
        }
    }
    out
}

/// `deb [opts] URI SUITE COMPONENT...`; `deb-src` lines are skipped.
pub fn parse_one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((o, r)) = opts.split_once(']') else {
                continue;
            };
            signed_by = o
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("signed-by="))
                .map(str::to_string);
            rest = r.trim_start();
        }
        let w: Vec<&str> = rest.split_whitespace().collect();
        if w.len() >= 2 {
            out.push(Source {
                uri: w[0].trim_end_matches('/').to_string(),
                suite: w[1].to_string(),
                components: w[2..].iter().map(|s| s.to_string()).collect(),
                signed_by,
            });
        }
    }
    out
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`, `Enabled:`).
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Option<String> {
            let mut value: Option<String> = None;
            let mut lines = stanza.lines().peekable();
            while let Some(l) = lines.next() {
                if l.starts_with('#') {
                    continue;
                }
                if let Some((k, v)) = l.split_once(':') {
                    if k.trim().eq_ignore_ascii_case(name) && !l.starts_with(' ') {
                        let mut v = v.trim().to_string();
                        // Continuation lines (leading space) belong to the field, e.g. an inline key.
                        while lines
                            .peek()
                            .is_some_and(|n| n.starts_with(' ') || n.starts_with('\t'))
                        {
                            let n = lines.next().unwrap_or_default();
                            if !n.trim_start().starts_with('#') {
                                v.push('\n');
                                v.push_str(n.trim());
                            }
                        }
                        value = Some(v);
                    }
                }
            }
            value
        };
        let types = field("Types").unwrap_or_default();
        if !types.split_whitespace().any(|t| t == "deb")
            || field("Enabled").is_some_and(|e| e.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let signed_by = field("Signed-By").filter(|s| !s.contains('\n'));
        let components: Vec<String> = field("Components")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for uri in field("URIs").unwrap_or_default().split_whitespace() {
            for suite in field("Suites").unwrap_or_default().split_whitespace() {
                out.push(Source {
                    uri: uri.trim_end_matches('/').to_string(),
                    suite: suite.to_string(),
                    components: components.clone(),
                    signed_by: signed_by.clone(),
                });
            }
        }
    }
    out
}

/// The host's Debian codename, from os-release.
pub fn codename(root: &Path) -> Option<String> {
    let t = std::fs::read_to_string(root.join("etc/os-release")).ok()?;
    t.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The Debian entries for `codename`: its main suite, -updates and -security.
pub fn debian_suites(all: &[Source], codename: &str) -> Vec<Source> {
    let wanted = [
        codename.to_string(),
        format!("{codename}-updates"),
        format!("{codename}-security"),
    ];
    all.iter()
        .filter(|s| wanted.contains(&s.suite))
        .cloned()
        .collect()
}

/// The deb822 file written into the base image.
pub fn to_deb822(sources: &[Source]) -> String {
    sources
        .iter()
        .map(|s| {
            let mut t = format!(
                "Types: deb\nURIs: {}\nSuites: {}\nComponents: {}\n",
                s.uri,
                s.suite,
                s.components.join(" ")
            );
            t.push_str("Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n");
            t
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_line_format() {
        let t = "# comment\ndeb http://deb.debian.org/debian bookworm main contrib\ndeb-src http://x y z\ndeb [arch=amd64 signed-by=/k.gpg] http://security.debian.org/debian-security/ bookworm-security main\n";
        let s = parse_one_line(t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].suite, "bookworm");
        assert_eq!(s[0].components, vec!["main", "contrib"]);
        assert_eq!(s[1].uri, "http://security.debian.org/debian-security");
        assert_eq!(s[1].signed_by.as_deref(), Some("/k.gpg"));
    }

    #[test]
    fn deb822_format() {
        let t = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://x\nSuites: bookworm\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let s = parse_deb822(t);
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].suite, "bookworm-updates");
        assert_eq!(s[2].uri, "http://deb.debian.org/debian-security");
        let d = debian_suites(&s, "bookworm");
        assert_eq!(d.len(), 3);
        assert!(to_deb822(&d).contains("Suites: bookworm-security"));
    }

    #[test]
    fn disabled_stanzas_are_skipped() {
        assert!(parse_deb822(
            "Types: deb\nURIs: http://a\nSuites: s\nComponents: main\nEnabled: no\n"
        )
        .is_empty());
    }

    proptest! {
        #[test]
        fn readers_never_panic(s in "\\PC*") {
            let _ = parse_one_line(&s);
            let _ = parse_deb822(&s);
        }
    }
}
