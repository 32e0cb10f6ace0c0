//! A light reader of Apache configuration: enough to find the :80 vhost's DocumentRoot (where
//! the ACME token goes) and to reject unbalanced sections with file and line before a
//! container starts. Apache's own `configtest` in the lab remains the judge of everything else.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// One `<VirtualHost>` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualHost {
    pub line: usize,
    pub addresses: Vec<String>,
    pub server_name: Option<String>,
    pub document_root: Option<String>,
}

impl VirtualHost {
    pub fn listens_on(&self, port: u16) -> bool {
        let suffix = format!(":{port}");
        self.addresses.iter().any(|a| a.ends_with(&suffix))
    }
}

/// Debian's built-in DocumentRoot, what `apache2ctl -S` calls Main DocumentRoot.
pub const DEBIAN_DEFAULT_ROOT: &str = "/var/www/html";

#[derive(Debug, Clone, Default)]
pub struct Vhosts {
    pub hosts: Vec<VirtualHost>,
}

impl Vhosts {
    /// The directory the ACME HTTP-01 token belongs in: the :80 vhost's DocumentRoot, or
    /// Debian's default when the vhost sets none.
    pub fn acme_webroot(&self) -> String {
        self.hosts
            .iter()
            .find(|h| h.listens_on(80))
            .and_then(|h| h.document_root.clone())
            .unwrap_or_else(|| DEBIAN_DEFAULT_ROOT.to_string())
    }
}

/// Splits a directive line into words, honouring double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn parse(file: &Path, text: &str) -> Result<Vhosts, ConfigError> {
    let err = |line: usize, reason: String| ConfigError {
        file: file.display().to_string(),
        line,
        reason,
    };
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut hosts = Vec::new();
    let mut current: Option<VirtualHost> = None;
    let mut logical = String::new();
    let mut start_line = 0;
    for (idx, raw) in text.lines().enumerate() {
        let n = idx + 1;
        if logical.is_empty() {
            start_line = n;
        }
        // Apache joins a line ending in a backslash with the next one.
        if let Some(stripped) = raw.strip_suffix('\\') {
            logical.push_str(stripped);
            logical.push(' ');
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("</") {
            let name = rest.trim_end_matches('>').trim().to_ascii_lowercase();
            if !rest.ends_with('>') {
                return Err(err(
                    start_line,
                    format!("section closer `{line}` lacks its `>`"),
                ));
            }
            match stack.pop() {
                Some((open, _)) if open == name => {}
                Some((open, at)) => {
                    return Err(err(
                        start_line,
                        format!("`</{name}>` closes <{open}> opened at line {at}"),
                    ));
                }
                None => {
                    return Err(err(
                        start_line,
                        format!("`</{name}>` without a matching opening section"),
                    ))
                }
            }
            if name == "virtualhost" {
                hosts.extend(current.take());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('<') {
            let Some(inner) = rest.strip_suffix('>') else {
                return Err(err(
                    start_line,
                    format!("section `{line}` lacks its closing `>`"),
                ));
            };
            let w = words(inner);
            let Some(name) = w.first() else {
                return Err(err(start_line, "empty section `<>`".into()));
            };
            let name = name.to_ascii_lowercase();
            if name == "virtualhost" {
                if current.is_some() {
                    return Err(err(
                        start_line,
                        "<VirtualHost> inside another <VirtualHost>".into(),
                    ));
                }
                if w.len() < 2 {
                    return Err(err(
                        start_line,
                        "<VirtualHost> needs an address, e.g. *:80".into(),
                    ));
                }
                current = Some(VirtualHost {
                    line: start_line,
                    addresses: w[1..].to_vec(),
                    server_name: None,
                    document_root: None,
                });
            }
            stack.push((name, start_line));
            continue;
        }
        let w = words(line);
        if let (Some(vh), Some(d)) = (current.as_mut(), w.first()) {
            // Only directives at the vhost's own level count (not those in <Directory> etc.).
            if stack.len() == 1 {
                match d.to_ascii_lowercase().as_str() {
                    "servername" => vh.server_name = w.get(1).cloned(),
                    "documentroot" => {
                        vh.document_root = w.get(1).map(|r| r.trim_end_matches('/').to_string())
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some((open, at)) = stack.pop() {
        return Err(err(at, format!("<{open}> is never closed")));
    }
    Ok(Vhosts { hosts })
}

/// Maps Apache's own complaint ("Syntax error on line N of /etc/apache2/sites-enabled/x.conf")
/// back to the operator's file and line.
pub fn apache_error_line(output: &str) -> Option<(usize, String)> {
    let at = output.find("Syntax error on line ")?;
    let rest = &output[at + "Syntax error on line ".len()..];
    let n: usize = rest.split_whitespace().next()?.parse().ok()?;
    let reason = rest.split_once(":\n").map(|(_, r)| r).unwrap_or(rest);
    Some((n, reason.lines().next().unwrap_or("").trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BLOG: &str = "<VirtualHost *:80>\n    ServerName meet.lab.test\n    RedirectMatch permanent ^(?!/\\.well-known/acme-challenge/).* https://meet.lab.test$0\n</VirtualHost>\n<VirtualHost *:443>\n  ServerName meet.lab.test\n  <Location /x>\n  </Location>\n</VirtualHost>\n";

    #[test]
    fn finds_vhosts_and_default_webroot() {
        let v = parse(Path::new("site.conf"), BLOG).unwrap();
        assert_eq!(v.hosts.len(), 2);
        assert!(v.hosts[0].listens_on(80));
        assert_eq!(v.hosts[1].server_name.as_deref(), Some("meet.lab.test"));
        assert_eq!(v.acme_webroot(), DEBIAN_DEFAULT_ROOT);
    }

    #[test]
    fn webroot_comes_from_the_port_80_vhost() {
        let t = "<VirtualHost *:443>\nDocumentRoot /srv/tls\n</VirtualHost>\n<VirtualHost *:80>\n  DocumentRoot \"/srv/acme/\"\n  <Directory /srv>\n DocumentRoot /nope\n </Directory>\n</VirtualHost>\n";
        assert_eq!(
            parse(Path::new("a"), t).unwrap().acme_webroot(),
            "/srv/acme"
        );
    }

    #[test]
    fn unbalanced_sections_name_file_and_line() {
        let e = parse(
            Path::new("v.conf"),
            "<VirtualHost *:80>\n<Directory /x>\n</VirtualHost>\n",
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("v.conf", 3));
        assert!(e.reason.contains("opened at line 2"), "{e}");
        let e = parse(Path::new("v.conf"), "\n<VirtualHost *:80>\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.to_string(), "v.conf:2: <virtualhost> is never closed");
    }

    #[test]
    fn apache_complaint_is_mapped() {
        let out = "AH00526: Syntax error on line 7 of /etc/apache2/sites-enabled/jc.conf:\nInvalid command 'Bogus', perhaps misspelled\nAction 'configtest' failed.";
        assert_eq!(
            apache_error_line(out),
            Some((7, "Invalid command 'Bogus', perhaps misspelled".into()))
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(Path::new("x"), &s);
            let _ = apache_error_line(&s);
        }

        #[test]
        fn never_panics_on_section_soup(parts in proptest::collection::vec(prop_oneof![
            Just("<VirtualHost *:80>\n"), Just("</VirtualHost>\n"), Just("<Directory />\n"),
            Just("</Directory>\n"), Just("DocumentRoot \"/a\\\n"), Just("<\n"), Just("</>\n"), Just("\\\n"),
        ], 0..20)) {
            let _ = parse(Path::new("x"), &parts.concat());
        }
    }
}
