//! Reads an Apache httpd 2.4 vhost file the way Apache's config reader does,
//! so the harness can reject broken files with `file:line` before a lab
//! container starts, find the site under test, and feed lint checks.
//! Apache's own `apache2ctl configtest` in the lab stays the final judge.
//!
//! Lab assumptions (Debian 12, apache2 2.4.6x): Debian's default modules
//! plus ssl, proxy, proxy_http, proxy_wstunnel, headers, rewrite; nothing
//! defined with `-D`; Debian's `envvars`; ServerRoot `/etc/apache2`.
//!
//! Behaviour below follows httpd 2.4's `server/util.c` (line reader,
//! `ap_getword_conf`), `server/config.c` (section nesting), `server/core.c`
//! (`<IfModule>`, ServerName), `server/vhost.c` (vhost matching),
//! `mod_alias.c` and `mod_proxy.c`, and their documentation.

use regex::{Regex, RegexBuilder};
use std::net::IpAddr;
use std::path::Path;

pub use crate::error::ConfigError;

/// One directive or section. Section names are stored without `<`/`>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    /// Arguments split like `ap_getword_conf`: quotes removed, `${VAR}` resolved.
    pub args: Vec<String>,
    /// First physical line (Apache itself reports the last line of a
    /// backslash-continued directive; see `last_line`).
    pub line: usize,
    /// Last physical line; for a section, the line of its closing tag.
    pub last_line: usize,
    pub section: bool,
    /// Whether Apache applies it (for a section: its contents). False for an
    /// `<IfModule>`/`<IfDefine>`/`<IfVersion>` whose condition fails in the
    /// lab and all inside it (Apache skips that text unparsed), and for
    /// `<Macro>` (a template; mod_macro is not loaded in the lab).
    pub active: bool,
    pub children: Vec<Directive>,
}

impl Directive {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
    fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrHost {
    /// `*`, `_default_` (an alias for `*` in 2.4, core docs "VirtualHost"),
    /// `0.0.0.0` or `[::]` (vhost.c treats all-zero addresses as wildcards).
    Any,
    Ip(IpAddr),
    /// A DNS name; Apache resolves it at startup. This reader never matches it.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VHostAddr {
    pub text: String,
    pub host: AddrHost,
    /// None: no port or `:*`, the wildcard port ("VirtualHost Matching").
    /// (Apache gives a port-less address the main server's ServerName port;
    /// Debian's apache2.conf sets none, so that is the wildcard.)
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VHost {
    pub line: usize,
    pub addresses: Vec<VHostAddr>,
    /// Last ServerName wins (details.html); scheme and port stripped.
    pub server_name: Option<(String, usize)>,
    pub aliases: Vec<(String, usize)>,
    path: Vec<usize>,
}

impl VHost {
    pub fn listens_on(&self, port: u16) -> bool {
        self.addresses
            .iter()
            .any(|a| a.port.is_none_or(|p| p == port))
    }
    /// vhost.c `matches_aliases`: ServerName exactly, ServerAlias exactly or
    /// as a `*`/`?` wildcard, all case-insensitively.
    pub fn matches_name(&self, host: &str) -> bool {
        let host = normalize_host(host);
        let eq = |n: &str| n.eq_ignore_ascii_case(&host);
        self.server_name.as_ref().is_some_and(|(n, _)| eq(n))
            || self.aliases.iter().any(|(a, _)| {
                let pat = a.to_ascii_lowercase();
                if a.contains(['*', '?']) {
                    glob(&pat, &host, false)
                } else {
                    eq(a)
                }
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub path: String,
    pub optional: bool,
    pub line: usize,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeRoot {
    /// Directory the token file goes into (empty when `problem` says it is unknown).
    pub dir: String,
    pub source: String,
    pub line: Option<usize>,
    /// Set when Apache's mapping could not be evaluated or does not map the
    /// token to `<dir>/<token>`.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Pass,
    PassMatch,
    Reverse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteScope {
    /// Inside `<Location>`/`<LocationMatch>` (server level or in the vhost).
    Location,
    /// Outside any vhost: mod_proxy merges these before the vhost's own.
    Server,
    VirtualHost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    pub kind: RouteKind,
    pub scope: RouteScope,
    /// URL-path (the Location's path for the Location form), or a regex.
    pub path: String,
    pub regex: bool,
    /// As written; `!` for exclusions.
    pub url: String,
    pub target: Option<UrlParts>,
    pub excluded: bool,
    /// Keys, `key=value` pairs and flags after the URL.
    pub params: Vec<String>,
    pub line: usize,
    /// For the Location form: the section's path, whether it is a regex, its line.
    pub location: Option<(String, bool, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub file: String,
    pub directives: Vec<Directive>,
    /// Things Apache accepts but that are almost certainly mistakes.
    pub warnings: Vec<ConfigError>,
    vhosts: Vec<VHost>,
}

/// Modules loaded in the lab: Debian 12's built-ins (`apache2 -l`), its
/// default `mods-enabled`, and the ones the lab enables.
const LAB_MODULES: &str = "core so watchdog http log_config logio version unixd mpm_event \
    access_compat alias auth_basic authn_core authn_file authz_core authz_host authz_user autoindex \
    deflate dir env filter mime negotiation reqtimeout setenvif status \
    ssl socache_shmcb proxy proxy_http proxy_wstunnel headers rewrite";
/// Debian's `/etc/apache2/envvars`, used by `${VAR}` (core.c `ap_resolve_env`).
const DEBIAN_ENVVARS: &[(&str, &str)] = &[
    ("APACHE_RUN_USER", "www-data"),
    ("APACHE_RUN_GROUP", "www-data"),
    ("APACHE_PID_FILE", "/var/run/apache2/apache2.pid"),
    ("APACHE_RUN_DIR", "/var/run/apache2"),
    ("APACHE_LOCK_DIR", "/var/lock/apache2"),
    ("APACHE_LOG_DIR", "/var/log/apache2"),
];
const LAB_VERSION: [u32; 3] = [2, 4, 62];
const SERVER_ROOT: &str = "/etc/apache2";
/// What `apache2ctl -S` reports as "Main DocumentRoot" on Debian.
pub const DEBIAN_DOCROOT: &str = "/var/www/html";
/// A 43-character base64url token, the shape ACME (RFC 8555) uses.
pub const ACME_SAMPLE_TOKEN: &str = "jitsiConformance_AcmeToken-0123456789abcdef";
/// Read-time conditionals: Apache splices their contents into the parent
/// (config.c `ap_build_cont_config`), so they are transparent for queries.
const CONDITIONALS: &str = "IfModule IfDefine IfVersion IfFile IfDirective IfSection";

fn is_conditional(name: &str) -> bool {
    CONDITIONALS
        .split(' ')
        .any(|c| c.eq_ignore_ascii_case(name))
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Logical lines as `ap_cfg_getline` builds them: a backslash right before
/// the newline (`\\\r?\n`) joins the next line with nothing inserted; this
/// happens before the comment check, so a comment ending in `\` swallows the
/// next line. configuring.html: "There must be no other characters or white
/// space between the backslash and the end of the line."
fn logical_lines(text: &str) -> Vec<(usize, usize, String)> {
    let phys: Vec<&str> = text.split('\n').collect();
    let (mut out, mut cur, mut start) = (Vec::new(), String::new(), None);
    for (i, raw) in phys.iter().enumerate() {
        let has_newline = i + 1 < phys.len();
        let l = if has_newline {
            raw.strip_suffix('\r').unwrap_or(raw)
        } else {
            raw
        };
        let first = *start.get_or_insert(i + 1);
        match l.strip_suffix('\\') {
            Some(body) if has_newline => cur.push_str(body),
            _ => {
                cur.push_str(l);
                out.push((first, i + 1, std::mem::take(&mut cur)));
                start = None;
            }
        }
    }
    out
}

fn unescape(s: &str, quote: Option<u8>) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(b.len()), 0);
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && (b[i + 1] == b'\\' || Some(b[i + 1]) == quote) {
            i += 1;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// util.c `ap_getword_conf`: a word is quoted with `"` or `'` (the quote
/// must open the word), `\\` and `\<quote>` are escapes; unquoted words end at
/// whitespace. There are no trailing comments: configuring.html, "Comments
/// may not be included on the same line as a configuration directive", so a
/// `#` mid-line is an ordinary argument character.
fn getword_conf(s: &str) -> (String, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    if i == b.len() {
        return (String::new(), "");
    }
    let (word, mut end);
    if b[i] == b'"' || b[i] == b'\'' {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            j += if b[j] == b'\\' && j + 1 < b.len() && (b[j + 1] == q || b[j + 1] == b'\\') {
                2
            } else {
                1
            };
        }
        word = unescape(&s[i + 1..j], Some(q));
        end = (j + 1).min(b.len());
    } else {
        let mut j = i;
        while j < b.len() && !is_space(b[j]) {
            j += 1;
        }
        word = unescape(&s[i..j], None);
        end = j;
    }
    while end < b.len() && is_space(b[end]) {
        end += 1;
    }
    (word, &s[end..])
}

fn split_args(mut s: &str) -> Vec<String> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (w, rest) = getword_conf(s);
        out.push(w);
        s = rest;
    }
    out
}

/// `${NAME}` from `Define`d variables, then Debian's envvars; unknown names
/// stay as written (Apache warns AH00111 and keeps them).
fn resolve_env(line: &str, vars: &[(String, String)]) -> String {
    let (mut out, mut rest) = (String::new(), line);
    while let Some(p) = rest.find("${") {
        out.push_str(&rest[..p]);
        let Some(e) = rest[p + 2..].find('}') else {
            break;
        };
        let name = &rest[p + 2..p + 2 + e];
        let val = vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let val = val.or_else(|| {
            DEBIAN_ENVVARS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
        });
        out.push_str(val.unwrap_or(&rest[p..p + 3 + e]));
        rest = &rest[p + 3 + e..];
    }
    out + rest
}

/// core.c `find_module`: the source file name (`mod_ssl.c`) or the module
/// identifier (`ssl_module`), compared case-sensitively.
fn module_loaded(name: &str) -> bool {
    let short = match name {
        "core.c" => "core",
        "http_core.c" => "http",
        "event.c" => "mpm_event",
        _ => match name.strip_prefix("mod_").and_then(|n| n.strip_suffix(".c")) {
            Some(n) => n,
            None => name.strip_suffix("_module").unwrap_or(""),
        },
    };
    LAB_MODULES.split_whitespace().any(|m| m == short)
}

/// mod_version `<IfVersion [[!]op] version>` against the lab's 2.4.6x.
fn if_version(args: &[String]) -> bool {
    let (op, ver) = match args {
        [v] => ("=", v.as_str()),
        [op, v, ..] => (op.as_str(), v.as_str()),
        [] => return true,
    };
    let lab = LAB_VERSION.map(|n| n.to_string()).join(".");
    let regex = |p: &str| pcre(p.trim_matches('/')).is_ok_and(|re| re.is_match(&lab));
    if op == "~" || (op == "=" && ver.starts_with('/')) {
        return regex(ver);
    }
    let want: Vec<u32> = ver.split('.').map(|n| n.parse().unwrap_or(0)).collect();
    let want = [0, 1, 2].map(|i| want.get(i).copied().unwrap_or(0));
    let ord = LAB_VERSION.cmp(&want);
    match op {
        "=" | "==" => ord.is_eq(),
        ">" => ord.is_gt(),
        ">=" => ord.is_ge(),
        "<" => ord.is_lt(),
        "<=" => ord.is_le(),
        _ => true,
    }
}

/// vhost.c `get_addresses` with `apr_parse_addr_port`.
fn parse_vhost_addr(w: &str) -> Result<VHostAddr, String> {
    let invalid = || format!("The address or port is invalid: {w}");
    let s = if w == "*" {
        w
    } else {
        w.strip_suffix(":*").unwrap_or(w)
    };
    let head = s.trim_end_matches(|c: char| c.is_ascii_digit());
    if head.is_empty() {
        return Err(format!("Missing address for VirtualHost: {w}"));
    }
    let (host, port) = match head.strip_suffix(':') {
        Some(h) if head.len() < s.len() => {
            let p = s[head.len()..]
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(invalid)?;
            (h, Some(p))
        }
        Some(_) => return Err(invalid()),
        None => (s, None),
    };
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or_else(invalid)?,
        None => host,
    };
    let host = if host == "*" || host.eq_ignore_ascii_case("_default_") {
        AddrHost::Any
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_unspecified() {
            AddrHost::Any
        } else {
            AddrHost::Ip(ip)
        }
    } else if host.is_empty() {
        return Err(invalid());
    } else {
        AddrHost::Name(host.to_ascii_lowercase())
    };
    Ok(VHostAddr {
        text: w.to_string(),
        host,
        port,
    })
}

/// C `atoi` as ServerName uses it: leading digits only, 0 when there are none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let digits: String = t
        .trim_start_matches(['+', '-'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n = digits
        .parse::<i64>()
        .unwrap_or(if digits.is_empty() { 0 } else { i64::MAX });
    if t.starts_with('-') {
        -n
    } else {
        n
    }
}

/// core.c `server_hostname_port`: no wildcards; `scheme://` stripped; the
/// host ends at the first `:` (so an IPv6 literal is rejected, as Apache does).
fn parse_server_name(arg: &str) -> Result<String, String> {
    if arg.contains(['*', '?']) || arg.find('[').is_some_and(|i| arg[i..].contains(']')) {
        return Err(format!(
            "Invalid ServerName \"{arg}\" use ServerAlias to set multiple server names."
        ));
    }
    let part = arg.find("://").map_or(arg, |i| &arg[i + 3..]);
    match part.find(':') {
        Some(i) if !(1..65536).contains(&atoi(&part[i + 1..])) => Err(format!(
            "The port number \"{arg}\" is outside the appropriate range (i.e., 1..65535)."
        )),
        Some(i) => Ok(part[..i].to_string()),
        None => Ok(part.to_string()),
    }
}

/// Reads one config file as Apache 2.4 does: logical lines (backslash
/// continuation), comments only where a line starts with `#`, words split by
/// `ap_getword_conf`, `${VAR}` resolved, sections nested strictly, skipped
/// conditionals checked for nesting only. Errors are the structural ones
/// configtest would also report, at the line a directive starts. Empty text
/// is a valid (empty) config; unknown directives are kept for configtest.
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let fname = file.display().to_string();
    let err = |line: usize, reason: String| ConfigError {
        file: fname.clone(),
        line,
        reason,
    };
    if let Some(pos) = text.find('\0') {
        let line = text[..pos].matches('\n').count() + 1;
        return Err(err(line, "NUL byte: this is not a text file".into()));
    }
    let mut stack: Vec<Directive> = Vec::new();
    let mut top: Vec<Directive> = Vec::new();
    let (mut defines, mut vars): (Vec<String>, Vec<(String, String)>) = (Vec::new(), Vec::new());
    for (line, last, raw) in logical_lines(text) {
        let l = raw.trim_matches(|c: char| c.is_ascii() && is_space(c as u8));
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        // Apache only parses text it does not skip (config.c `ap_soak_end_container`
        // looks at nothing but section tags).
        let reading = stack.last().is_none_or(|d| d.active);
        let l = if reading {
            resolve_env(l, &vars)
        } else {
            l.to_string()
        };
        let (word, rest) = getword_conf(&l);
        if let Some(name) = word.strip_prefix("</") {
            let Some(name) = name.strip_suffix('>') else {
                return Err(err(line, format!("{word}> directive missing closing '>'")));
            };
            let Some(mut open) = stack.pop() else {
                return Err(err(
                    line,
                    format!("</{name}> without matching <{name}> section"),
                ));
            };
            if !open.is(name) {
                let reason = format!(
                    "Expected </{}> but saw </{name}> (<{}> opened at line {})",
                    open.name, open.name, open.line
                );
                return Err(err(line, reason));
            }
            open.last_line = last;
            stack
                .last_mut()
                .map_or(&mut top, |p| &mut p.children)
                .push(open);
            continue;
        }
        let mut d = Directive {
            name: word.clone(),
            args: Vec::new(),
            line,
            last_line: last,
            section: false,
            active: reading,
            children: Vec::new(),
        };
        if word.len() > 1 && word.starts_with('<') {
            let name = word[1..]
                .strip_suffix('>')
                .unwrap_or(&word[1..])
                .to_string();
            // Section handlers take the text up to the last '>' (core.c).
            let args = if rest.is_empty() && word.ends_with('>') {
                ""
            } else if let Some(p) = rest.rfind('>') {
                &rest[..p]
            } else if reading {
                return Err(err(line, format!("<{name}> directive missing closing '>'")));
            } else {
                rest
            };
            d.args = split_args(args);
            d.section = true;
            if reading && is_conditional(&name) {
                let (not, test) = args.strip_prefix('!').map_or((false, args), |a| (true, a));
                let (arg1, _) = getword_conf(test);
                if arg1.is_empty() && !name.eq_ignore_ascii_case("IfVersion") {
                    return Err(err(
                        line,
                        format!("<{name}> directive requires additional arguments"),
                    ));
                }
                let held = match name.to_ascii_lowercase().as_str() {
                    "ifmodule" => module_loaded(&arg1),
                    "ifdefine" => defines.contains(&arg1),
                    "ifversion" => if_version(&split_args(test)),
                    _ => true, // IfFile/IfDirective/IfSection: not evaluated here
                };
                d.active = held != not;
            } else if name.eq_ignore_ascii_case("Macro") {
                d.active = false;
            } else if reading && name.eq_ignore_ascii_case("VirtualHost") {
                if d.args.is_empty() {
                    return Err(err(
                        line,
                        "<VirtualHost> directive requires additional arguments".into(),
                    ));
                }
                if let Some(p) = stack.iter().rev().find(|p| !is_conditional(&p.name)) {
                    let p = stack.iter().find(|p| p.is("VirtualHost")).unwrap_or(p);
                    let reason = format!(
                        "<VirtualHost> cannot occur within <{}> section (line {})",
                        p.name, p.line
                    );
                    return Err(err(line, reason));
                }
                for a in &d.args {
                    parse_vhost_addr(a).map_err(|e| err(line, e))?;
                }
            }
            d.name = name;
            stack.push(d);
            continue;
        }
        d.args = split_args(rest);
        if reading {
            let in_vhost = stack.iter().any(|p| p.is("VirtualHost"));
            if d.is("ServerName") {
                if d.args.len() != 1 {
                    return Err(err(line, "ServerName takes one argument".into()));
                }
                parse_server_name(&d.args[0]).map_err(|e| err(line, e))?;
            } else if d.is("ServerAlias") && !in_vhost {
                return Err(err(line, "ServerAlias only used in <VirtualHost>".into()));
            } else if d.is("Define") && !d.args.is_empty() {
                // Read-time and global, even inside a <VirtualHost> (core docs "Define").
                defines.push(d.args[0].clone());
                if let Some(v) = d.args.get(1) {
                    vars.push((d.args[0].clone(), v.clone()));
                }
            } else if d.is("UnDefine") && !d.args.is_empty() {
                defines.retain(|n| *n != d.args[0]);
                vars.retain(|(n, _)| *n != d.args[0]);
            }
        }
        stack
            .last_mut()
            .map_or(&mut top, |p| &mut p.children)
            .push(d);
    }
    // End of file with sections open. A skipped conditional fails ("Expected
    // </IfModule> before end of configuration"); an applied one swallows EOF
    // silently (`ap_build_cont_config` just returns), so only sections opened
    // outside it get config.c's "<X> was not closed."
    let mut warnings = Vec::new();
    if let Some(s) = stack.iter().find(|s| !s.active && is_conditional(&s.name)) {
        return Err(err(
            s.line,
            format!("Expected </{}> before end of configuration", s.name),
        ));
    }
    let cut = stack
        .iter()
        .position(|s| is_conditional(&s.name))
        .unwrap_or(stack.len());
    if let Some(s) = stack[..cut].last() {
        return Err(err(s.line, format!("<{}> was not closed.", s.name)));
    }
    if let Some(outer) = stack.first() {
        let (name, at) = (outer.name.clone(), outer.line);
        while let Some(mut open) = stack.pop() {
            let reason = format!(
                "<{}> is never closed; Apache 2.4 accepts that inside the applied <{name}> at line {at}",
                open.name
            );
            warnings.push(err(open.line, reason));
            open.last_line = text.lines().count().max(open.line);
            stack
                .last_mut()
                .map_or(&mut top, |p| &mut p.children)
                .push(open);
        }
    }
    let mut cfg = Config {
        file: fname,
        directives: top,
        warnings,
        vhosts: Vec::new(),
    };
    cfg.vhosts = collect_vhosts(&cfg.directives, &mut Vec::new());
    Ok(cfg)
}

fn collect_vhosts(dirs: &[Directive], path: &mut Vec<usize>) -> Vec<VHost> {
    let mut out = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        path.push(i);
        if d.active && d.is("VirtualHost") {
            let mut v = VHost {
                line: d.line,
                addresses: d
                    .args
                    .iter()
                    .filter_map(|a| parse_vhost_addr(a).ok())
                    .collect(),
                server_name: None,
                aliases: Vec::new(),
                path: path.clone(),
            };
            for x in level(&d.children) {
                if x.is("ServerName") {
                    v.server_name = parse_server_name(x.arg(0)).ok().map(|n| (n, x.line));
                } else if x.is("ServerAlias") {
                    v.aliases.extend(x.args.iter().map(|a| (a.clone(), x.line)));
                }
            }
            out.push(v);
        } else if d.active && d.section && is_conditional(&d.name) {
            out.extend(collect_vhosts(&d.children, path));
        }
        path.pop();
    }
    out
}

/// Active directives of one context, looking through read-time conditionals
/// but not into other sections (those are returned as sections).
fn level(dirs: &[Directive]) -> Vec<&Directive> {
    let mut out = Vec::new();
    for d in dirs.iter().filter(|d| d.active) {
        if d.section && is_conditional(&d.name) {
            out.extend(level(&d.children));
        } else {
            out.push(d);
        }
    }
    out
}

/// `<Location>` / `<LocationMatch>` sections of a context: (path, is_regex, section).
fn locations<'a>(dirs: &[&'a Directive]) -> Vec<(String, bool, &'a Directive)> {
    let mut out = Vec::new();
    for d in dirs.iter().filter(|d| d.section) {
        if d.is("LocationMatch") {
            out.push((d.arg(0).to_string(), true, *d));
        } else if d.is("Location") {
            let tilde = d.arg(0) == "~";
            out.push((d.arg(usize::from(tilde)).to_string(), tilde, *d));
        }
    }
    out
}

/// request.c `ap_location_walk`: a regex, an fnmatch pattern, or a prefix
/// that ends on a path-segment boundary.
fn location_matches(path: &str, regex: bool, uri: &str) -> bool {
    if regex {
        pcre(path).is_ok_and(|re| re.is_match(uri))
    } else if path.contains(['*', '?', '[']) {
        glob(path, uri, true)
    } else {
        uri.starts_with(path)
            && (path.ends_with('/')
                || uri.len() == path.len()
                || uri.as_bytes()[path.len()] == b'/')
    }
}

/// mod_alias `alias_matches` / mod_proxy `alias_match`: runs of `/` match
/// runs of `/`; the last alias component must end at a `/` or the URI's
/// end. This is mod_alias's trailing-slash rule: an alias ending in `/`
/// requires that slash in the request. Returns the matched URI length.
fn alias_match(uri: &str, fake: &str) -> Option<usize> {
    let (u, a) = (uri.as_bytes(), fake.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < a.len() {
        if a[j] == b'/' {
            if u.get(i) != Some(&b'/') {
                return None;
            }
            while a.get(j) == Some(&b'/') {
                j += 1;
            }
            while u.get(i) == Some(&b'/') {
                i += 1;
            }
        } else if u.get(i) == Some(&a[j]) {
            i += 1;
            j += 1;
        } else {
            return None;
        }
    }
    let ok = j == 0 || a[j - 1] == b'/' || i == u.len() || u[i] == b'/';
    (ok && i > 0).then_some(i)
}

/// Glob with `*`, `?` and `[...]` (fnmatch; with `pathname`, wildcards do
/// not cross `/`), by dynamic programming so hostile patterns stay cheap.
fn glob(pat: &str, s: &str, pathname: bool) -> bool {
    // ServerAlias wildcards (`ap_strcasecmp_match`) know only `*` and `?`.
    let classes = pathname;
    enum T {
        Star,
        One,
        Lit(u8),
        Class(bool, Vec<(u8, u8)>),
    }
    let p = pat.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' => toks.push(T::Star),
            b'?' => toks.push(T::One),
            b'[' if classes && p[i + 1..].contains(&b']') => {
                let mut k = i + 1;
                let neg = matches!(p.get(k), Some(b'!' | b'^'));
                k += usize::from(neg);
                let mut set = Vec::new();
                while k < p.len() && (p[k] != b']' || set.is_empty()) {
                    if p.get(k + 1) == Some(&b'-') && k + 2 < p.len() && p[k + 2] != b']' {
                        set.push((p[k], p[k + 2]));
                        k += 3;
                    } else {
                        set.push((p[k], p[k]));
                        k += 1;
                    }
                }
                toks.push(T::Class(neg, set));
                i = k;
            }
            c => toks.push(T::Lit(c)),
        }
        i += 1;
    }
    let s = s.as_bytes();
    let mut row = vec![false; s.len() + 1];
    row[0] = true;
    for t in &toks {
        let mut next = vec![false; s.len() + 1];
        for k in 0..=s.len() {
            next[k] = match t {
                T::Star => row[k] || (k > 0 && next[k - 1] && !(pathname && s[k - 1] == b'/')),
                _ if k == 0 => false,
                T::One => row[k - 1] && !(pathname && s[k - 1] == b'/'),
                T::Lit(c) => row[k - 1] && s[k - 1] == *c,
                T::Class(neg, set) => {
                    row[k - 1] && set.iter().any(|(a, b)| (*a..=*b).contains(&s[k - 1])) != *neg
                }
            };
        }
        row = next;
    }
    row[s.len()]
}

/// Compiles an Apache (PCRE2) regex with the `regex` crate, translating
/// what PCRE reads differently: `{` not starting a quantifier (literal in
/// PCRE2 10.42) and a lone `}`, `\<` `\>` (literal in PCRE, word boundaries
/// here), `\Z` (here `\z`), and `[`, `&`, `~` inside a class (set syntax
/// here). Lookaround and backreferences have no equivalent: an error says so.
fn pcre(pat: &str) -> Result<Regex, String> {
    let c: Vec<char> = pat.chars().collect();
    let (mut t, mut i, mut class) = (String::new(), 0, false);
    while i < c.len() {
        let (ch, next) = (c[i], c.get(i + 1).copied());
        i += 1;
        match (ch, next) {
            ('\\', Some(n)) => {
                i += 1;
                match n {
                    '<' | '>' => t.push(n),
                    'Z' => t.push_str("\\z"),
                    _ => t.extend(['\\', n]),
                }
            }
            ('[', Some(':')) if class => {
                // a POSIX class such as [:alpha:] is copied as is
                let end = c[i..]
                    .iter()
                    .position(|x| *x == ']')
                    .map_or(c.len(), |e| i + e + 1);
                t.extend(&c[i - 1..end]);
                i = end;
            }
            ('[' | '&' | '~', _) if class => t.extend(['\\', ch]),
            (']', _) if class => {
                class = false;
                t.push(']');
            }
            ('[', _) => {
                class = true;
                t.push('[');
                if next == Some('^') {
                    t.push('^');
                    i += 1;
                }
                if c.get(i) == Some(&']') {
                    t.push_str("\\]");
                    i += 1;
                }
            }
            ('{', _) if !class => {
                let body: String = c[i..].iter().take_while(|x| **x != '}').collect();
                let (lo, hi) = body.split_once(',').unwrap_or((&body, "0"));
                let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
                if i + body.len() < c.len() && !lo.is_empty() && digits(lo) && digits(hi) {
                    t.push('{');
                    t.push_str(&body);
                    t.push('}');
                    i += body.len() + 1;
                } else {
                    t.push_str("\\{");
                }
            }
            ('}', _) if !class => t.push_str("\\}"),
            _ => t.push(ch),
        }
    }
    let re = RegexBuilder::new(&t).size_limit(1 << 20).build();
    re.map_err(|e| {
        let msg = e.to_string();
        let last = msg.lines().last().unwrap_or("").trim().to_string();
        format!("regex {pat:?} cannot be evaluated by this reader (PCRE-only syntax?): {last}")
    })
}

/// util.c `ap_pregsub`: `$0`..`$9` are groups, `\x` is a literal `x`.
fn pregsub(template: &str, caps: &regex::Captures) -> String {
    let (mut out, mut it) = (String::new(), template.chars().peekable());
    while let Some(c) = it.next() {
        match (c, it.peek().copied()) {
            ('$', Some(d)) if d.is_ascii_digit() => {
                it.next();
                out.push_str(
                    caps.get(d as usize - '0' as usize)
                        .map_or("", |m| m.as_str()),
                );
            }
            ('\\', Some(n)) => {
                it.next();
                out.push(n);
            }
            _ => out.push(c),
        }
    }
    out
}

fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = match h.strip_prefix('[') {
        Some(_) => h.find(']').map_or(h, |e| &h[..=e]),
        None => h
            .rsplit_once(':')
            .filter(|(a, _)| !a.contains(':'))
            .map_or(h, |(a, _)| a),
    };
    h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
}

/// Collapses repeated `/` and drops a trailing one; relative paths are under
/// ServerRoot (`ap_server_root_relative`).
fn fs_path(p: &str) -> String {
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{SERVER_ROOT}/{p}")
    };
    let mut out = String::new();
    for seg in abs.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

/// Parses a ProxyPass target URL: `scheme://[user@]host[:port]/path`, with
/// mod_proxy's `unix:/socket|http://host/` form reduced to the part after `|`.
pub fn parse_url(url: &str) -> Option<UrlParts> {
    let url = url
        .split_once('|')
        .filter(|(a, _)| a.starts_with("unix:"))
        .map_or(url, |(_, b)| b);
    let (scheme, rest) = url.split_once("://")?;
    let (auth, path) = rest
        .find(['/', '?', '#'])
        .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        auth.split_once(':')
            .map_or((auth, None), |(h, p)| (h, Some(p)))
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    if scheme.is_empty() || host.is_empty() {
        return None;
    }
    Some(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_string(),
    })
}

/// `(scheme, host, port)` with the scheme's default port when none is given;
/// None for unparsable URLs and unknown schemes without a port.
pub fn host_of_url(url: &str) -> Option<(String, String, u16)> {
    let u = parse_url(url)?;
    let default = match u.scheme.as_str() {
        "http" | "ws" | "h2c" => Some(80),
        "https" | "wss" | "h2" => Some(443),
        "ajp" => Some(8009),
        _ => None,
    };
    Some((u.scheme, u.host, u.port.or(default)?))
}

impl AcmeRoot {
    fn unknown(source: String, line: usize, problem: String) -> Self {
        let (dir, line, problem) = (String::new(), Some(line), Some(problem));
        AcmeRoot {
            dir,
            source,
            line,
            problem,
        }
    }
}

impl Config {
    /// Every applied `<VirtualHost>`, in file order.
    pub fn vhosts(&self) -> &[VHost] {
        &self.vhosts
    }

    /// The `<VirtualHost>` section a `VHost` came from.
    pub fn section(&self, v: &VHost) -> &Directive {
        let mut d = &self.directives[v.path[0]];
        for &i in &v.path[1..] {
            d = &d.children[i];
        }
        d
    }

    /// vhost.c `ap_update_vhost_given_ip` + `update_server_from_aliases`
    /// ("VirtualHost Matching" in vhosts/details.html). The address set is
    /// chosen first: vhosts with the connection's exact IP and port, else
    /// that IP with a wildcard port, else `*`/`_default_` with the port, else
    /// `*` with a wildcard port. Only that set is searched by name (ServerName
    /// and ServerAlias checks are "never performed" for other sets); a name
    /// equal to a vhost's literal address also matches, then the set's first
    /// vhost in file order answers. `local_ip` None: the connection's address
    /// matches no IP-specific vhost. Vhosts without a ServerName inherit the
    /// machine's name in Apache; they never match by name here.
    pub fn select_vhost(&self, host: &str, port: u16, local_ip: Option<IpAddr>) -> Option<&VHost> {
        let host = normalize_host(host);
        let set = |want: &dyn Fn(&VHostAddr) -> bool| -> Vec<(&VHost, &VHostAddr)> {
            let all = self
                .vhosts
                .iter()
                .flat_map(|v| v.addresses.iter().map(move |a| (v, a)));
            all.filter(|(_, a)| want(a)).collect()
        };
        let ip = local_ip.map(AddrHost::Ip);
        let tries: [&dyn Fn(&VHostAddr) -> bool; 4] = [
            &|a| Some(&a.host) == ip.as_ref() && a.port == Some(port),
            &|a| Some(&a.host) == ip.as_ref() && a.port.is_none(),
            &|a| a.host == AddrHost::Any && a.port == Some(port),
            &|a| a.host == AddrHost::Any && a.port.is_none(),
        ];
        let chain = tries.iter().map(|t| set(*t)).find(|c| !c.is_empty())?;
        let literal = |a: &VHostAddr| match &a.host {
            AddrHost::Ip(ip) => ip.to_string() == host.trim_matches(['[', ']']),
            _ => false,
        };
        chain
            .iter()
            .find(|(v, _)| v.matches_name(&host))
            .or_else(|| chain.iter().find(|(_, a)| literal(a)))
            .or(chain.first())
            .map(|(v, _)| *v)
    }

    /// ServerName and ServerAlias values of all vhosts, with their lines.
    pub fn server_names(&self) -> Vec<(String, usize)> {
        let names = self
            .vhosts
            .iter()
            .flat_map(|v| v.server_name.iter().chain(&v.aliases));
        names.cloned().collect()
    }

    fn server_level(&self) -> Vec<&Directive> {
        level(&self.directives)
            .into_iter()
            .filter(|d| !d.is("VirtualHost"))
            .collect()
    }

    fn context(&self, vhost: Option<&VHost>) -> Vec<&Directive> {
        vhost.map_or_else(Vec::new, |v| level(&self.section(v).children))
    }

    /// Where `/.well-known/acme-challenge/<token>` is read from, for the
    /// vhost answering on port 80 (None: the main server). mod_alias order
    /// (translate_alias_redir): an `Alias` inside a matching `<Location>`
    /// first ("these directives will take precedence over any globally
    /// defined Alias"), then the vhost's Alias/AliasMatch in file order, then
    /// the server-level ones (merge_alias_config appends the base), first
    /// match wins ("Order of Processing"); else DocumentRoot + URI. Redirects
    /// and RewriteRules are deliberately not evaluated.
    pub fn acme_root(&self, vhost: Option<&VHost>) -> AcmeRoot {
        let uri = format!("/.well-known/acme-challenge/{ACME_SAMPLE_TOKEN}");
        let (vh, srv) = (self.context(vhost), self.server_level());
        let result = |found: &str, source: String, line| {
            let file = fs_path(found);
            let (dir, problem) = match file
                .strip_suffix(ACME_SAMPLE_TOKEN)
                .and_then(|d| d.strip_suffix('/'))
            {
                Some(d) => (fs_path(d), None),
                None => (
                    String::new(),
                    Some(format!(
                        "maps the token to {file}, not to <directory>/<token>"
                    )),
                ),
            };
            AcmeRoot {
                dir,
                source,
                line,
                problem,
            }
        };
        let mut locs = locations(&srv);
        locs.extend(locations(&vh));
        let loc_alias = locs
            .iter()
            .rev()
            .filter(|(p, re, _)| location_matches(p, *re, &uri))
            .find_map(|(_, _, s)| {
                level(&s.children)
                    .into_iter()
                    .rev()
                    .find(|d| d.is("Alias") && d.args.len() == 1)
            });
        if let Some(a) = loc_alias {
            let problem = format!(
                "Alias inside <Location> maps every request under it to {:?}",
                a.arg(0)
            );
            return AcmeRoot::unknown(format!("Alias at line {}", a.line), a.line, problem);
        }
        let scoped = vh
            .iter()
            .map(|d| (d, ""))
            .chain(srv.iter().map(|d| (d, "server-level ")));
        for (d, scope) in scoped.filter(|(d, _)| d.args.len() == 2) {
            let source = format!("{scope}{} at line {}", d.name, d.line);
            if d.is("Alias") {
                if let Some(l) = alias_match(&uri, d.arg(0)) {
                    return result(&format!("{}{}", d.arg(1), &uri[l..]), source, Some(d.line));
                }
            } else if d.is("AliasMatch") {
                match pcre(d.arg(0)) {
                    Ok(re) => {
                        if let Some(c) = re.captures(&uri) {
                            return result(&pregsub(d.arg(1), &c), source, Some(d.line));
                        }
                    }
                    Err(e) => return AcmeRoot::unknown(source, d.line, e),
                }
            }
        }
        let docroot = |ds: &[&Directive]| {
            ds.iter()
                .rev()
                .find(|d| d.is("DocumentRoot"))
                .map(|d| (d.arg(0).to_string(), d.line))
        };
        match (docroot(&vh), docroot(&srv)) {
            (Some((r, l)), _) => result(
                &format!("{r}{uri}"),
                format!("DocumentRoot at line {l}"),
                Some(l),
            ),
            (None, Some((r, l))) => result(
                &format!("{r}{uri}"),
                format!("server-level DocumentRoot at line {l}"),
                Some(l),
            ),
            (None, None) => result(
                &format!("{DEBIAN_DOCROOT}{uri}"),
                format!("Debian default {DEBIAN_DOCROOT}"),
                None,
            ),
        }
    }

    /// ProxyPass, ProxyPassMatch and ProxyPassReverse entries that apply to
    /// the vhost (None: the main server), in mod_proxy's order of evaluation
    /// (`proxy_trans`): first the Location form (server-level `<Location>`s
    /// then the vhost's, file order; per-directory merging makes the last
    /// matching one win), then the server-level list, then the vhost's list
    /// (`merge_proxy_config` appends the vhost's to the base); within the
    /// lists "the first rule that matches wins" (mod_proxy, "Ordering
    /// ProxyPass Directives"). `route_for` evaluates this.
    pub fn proxy_routes(&self, vhost: Option<&VHost>) -> Vec<ProxyRoute> {
        let (vh, srv) = (self.context(vhost), self.server_level());
        let mut out = Vec::new();
        let mut locs = locations(&srv);
        locs.extend(locations(&vh));
        for (path, re, s) in &locs {
            for d in level(&s.children) {
                out.extend(route(
                    d,
                    RouteScope::Location,
                    Some((path.clone(), *re, s.line)),
                ));
            }
        }
        out.extend(
            srv.iter()
                .filter_map(|d| route(d, RouteScope::Server, None)),
        );
        out.extend(
            vh.iter()
                .filter_map(|d| route(d, RouteScope::VirtualHost, None)),
        );
        out
    }

    /// Include / IncludeOptional directives anywhere, applied or not.
    pub fn includes(&self) -> Vec<Include> {
        fn walk(ds: &[Directive], out: &mut Vec<Include>) {
            for d in ds {
                if d.is("Include") || d.is("IncludeOptional") {
                    let optional = d.is("IncludeOptional");
                    out.push(Include {
                        path: d.arg(0).to_string(),
                        optional,
                        line: d.line,
                        active: d.active,
                    });
                }
                walk(&d.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.directives, &mut out);
        out
    }

    /// Applied directives named `name` (any case), each with its enclosing
    /// sections, outermost first.
    pub fn find(&self, name: &str) -> Vec<(&Directive, Vec<&Directive>)> {
        fn walk<'a>(
            ds: &'a [Directive],
            name: &str,
            anc: &mut Vec<&'a Directive>,
            out: &mut Vec<(&'a Directive, Vec<&'a Directive>)>,
        ) {
            for d in ds.iter().filter(|d| d.active) {
                if d.is(name) {
                    out.push((d, anc.clone()));
                }
                anc.push(d);
                walk(&d.children, name, anc, out);
                anc.pop();
            }
        }
        let mut out = Vec::new();
        walk(&self.directives, name, &mut Vec::new(), &mut out);
        out
    }
}

/// mod_proxy `add_pass`: `[~] path url [params]`, or `url [params]` inside a
/// Location (the path comes from the section; a path containing fnmatch
/// characters is then compiled as a regex).
fn route(
    d: &Directive,
    scope: RouteScope,
    location: Option<(String, bool, usize)>,
) -> Option<ProxyRoute> {
    let kind = match d.name.to_ascii_lowercase().as_str() {
        "proxypass" => RouteKind::Pass,
        "proxypassmatch" => RouteKind::PassMatch,
        "proxypassreverse" => RouteKind::Reverse,
        _ => return None,
    };
    let mut args: &[String] = &d.args;
    let tilde = kind == RouteKind::Pass && location.is_none() && d.arg(0) == "~";
    args = &args[usize::from(tilde)..];
    let (path, rest) = match &location {
        Some((p, _, _)) => (p.clone(), args),
        None => (args.first()?.clone(), &args[1..]),
    };
    let url = rest.first()?.clone();
    let regex = tilde
        || kind == RouteKind::PassMatch
        || (location.is_some() && kind == RouteKind::Pass && path.contains(['*', '?', '[']));
    Some(ProxyRoute {
        kind,
        scope,
        path,
        regex,
        excluded: url == "!",
        target: parse_url(&url),
        url,
        params: rest[1..].to_vec(),
        line: d.line,
        location,
    })
}

impl ProxyRoute {
    /// mod_proxy `ap_proxy_trans_match`: regex search, or `alias_match`.
    pub fn matches(&self, uri: &str) -> bool {
        let own = if self.regex {
            pcre(&self.path).is_ok_and(|re| re.is_match(uri))
        } else {
            alias_match(uri, &self.path).is_some()
        };
        own && self
            .location
            .as_ref()
            .is_none_or(|(p, re, _)| location_matches(p, *re, uri))
    }
}

/// The route mod_proxy would use for `uri` (an exclusion when `excluded`),
/// from `Config::proxy_routes`. Matching uses the path only (Apache's
/// `r->uri` has no query string). Regexes this reader cannot compile never match.
pub fn route_for<'a>(routes: &'a [ProxyRoute], uri: &str) -> Option<&'a ProxyRoute> {
    let uri = uri.split_once('?').map_or(uri, |(p, _)| p);
    let pass = |r: &&ProxyRoute| r.kind != RouteKind::Reverse;
    let loc = routes
        .iter()
        .rev()
        .filter(pass)
        .filter(|r| r.scope == RouteScope::Location);
    let loc = loc.into_iter().find(|r| {
        r.location
            .as_ref()
            .is_some_and(|(p, re, _)| location_matches(p, *re, uri))
    });
    if let Some(r) = loc.filter(|r| r.matches(uri)) {
        return Some(r);
    }
    routes
        .iter()
        .filter(pass)
        .filter(|r| r.scope != RouteScope::Location)
        .find(|r| r.matches(uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Config {
        parse(Path::new("site.conf"), text).unwrap_or_else(|e| panic!("{e}"))
    }
    fn e(text: &str) -> ConfigError {
        parse(Path::new("site.conf"), text).expect_err("should fail")
    }
    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }
    fn name(v: Option<&VHost>) -> Option<&str> {
        v.and_then(|v| v.server_name.as_ref())
            .map(|(n, _)| n.as_str())
    }

    const BLOG_2020: &str = r#"<VirtualHost *:80>
    ServerName meet.example.org
    RedirectMatch ^/(.*)$ https://meet.example.org/$1
</VirtualHost>

<VirtualHost *:443>
    ServerName meet.example.org
    SSLEngine on
    SSLProxyEngine on
    SSLCertificateFile /etc/ssl/meet.example.org.crt
    SSLCertificateKeyFile /etc/ssl/meet.example.org.key
    ProxyPreserveHost on
    ProxyPass /xmpp-websocket wss://10.0.0.20:443/xmpp-websocket
    ProxyPassReverse /xmpp-websocket wss://10.0.0.20:443/xmpp-websocket
    ProxyPass / https://10.0.0.20/
    ProxyPassReverse / https://10.0.0.20/
    Header always set Strict-Transport-Security "max-age=63072000"
</VirtualHost>
"#;

    #[test]
    fn blog_2020_two_vhosts_with_redirectmatch() {
        let c = p(BLOG_2020);
        let vs = c.vhosts();
        assert_eq!(vs.len(), 2);
        assert_eq!((vs[0].line, vs[1].line), (1, 6));
        assert_eq!(
            vs[1].addresses[0],
            VHostAddr {
                text: "*:443".into(),
                host: AddrHost::Any,
                port: Some(443)
            }
        );
        assert_eq!(c.select_vhost("meet.example.org", 80, None), Some(&vs[0]));
        assert_eq!(c.select_vhost("MEET.example.org.", 443, None), Some(&vs[1]));
        assert_eq!(c.select_vhost("meet.example.org", 8443, None), None);
        let rm = c.find("redirectmatch");
        assert_eq!(rm.len(), 1);
        assert_eq!(rm[0].0.args, ["^/(.*)$", "https://meet.example.org/$1"]);
        assert_eq!((rm[0].0.line, rm[0].1[0].name.as_str()), (3, "VirtualHost"));
        let routes = c.proxy_routes(Some(&vs[1]));
        let kinds: Vec<_> = routes
            .iter()
            .map(|r| (r.kind, r.path.as_str(), r.line))
            .collect();
        assert_eq!(
            kinds,
            [
                (RouteKind::Pass, "/xmpp-websocket", 13),
                (RouteKind::Reverse, "/xmpp-websocket", 14),
                (RouteKind::Pass, "/", 15),
                (RouteKind::Reverse, "/", 16)
            ]
        );
        let ws = route_for(&routes, "/xmpp-websocket?room=x").unwrap();
        let t = ws.target.as_ref().unwrap();
        assert_eq!(
            (t.scheme.as_str(), t.host.as_str(), t.port, t.path.as_str()),
            ("wss", "10.0.0.20", Some(443), "/xmpp-websocket")
        );
        assert_eq!(route_for(&routes, "/room").unwrap().line, 15);
        assert!(c.proxy_routes(Some(&vs[0])).is_empty());
        let hsts = c.find("Header");
        assert_eq!(
            hsts[0].0.args,
            [
                "always",
                "set",
                "Strict-Transport-Security",
                "max-age=63072000"
            ]
        );
    }

    #[test]
    fn certbot_layout() {
        let http = p("<VirtualHost *:80>\n  ServerName meet.example.org\n  DocumentRoot /var/www/html\n  RewriteEngine on\n  RewriteCond %{SERVER_NAME} =meet.example.org\n  RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n</VirtualHost>\n");
        let v80 = http.select_vhost("meet.example.org", 80, None).unwrap();
        let acme = http.acme_root(Some(v80));
        assert_eq!(
            (acme.dir.as_str(), acme.line, acme.problem),
            ("/var/www/html/.well-known/acme-challenge", Some(3), None)
        );
        assert_eq!(
            http.find("RewriteRule")[0].0.args[2],
            "[END,NE,R=permanent]"
        );

        let ssl = p(r#"<IfModule mod_ssl.c>
<VirtualHost *:443>
  ServerName meet.example.org
  DocumentRoot /usr/share/jitsi-meet
  ProxyPass /http-bind http://localhost:5280/http-bind
Include /etc/letsencrypt/options-ssl-apache.conf
SSLCertificateFile /etc/letsencrypt/live/meet.example.org/fullchain.pem
SSLCertificateKeyFile /etc/letsencrypt/live/meet.example.org/privkey.pem
</VirtualHost>
</IfModule>
"#);
        assert_eq!(ssl.vhosts().len(), 1);
        assert_eq!(ssl.server_names(), [("meet.example.org".to_string(), 3)]);
        let inc = ssl.includes();
        assert_eq!(
            inc,
            [Include {
                path: "/etc/letsencrypt/options-ssl-apache.conf".into(),
                optional: false,
                line: 6,
                active: true
            }]
        );
        let cert = ssl.find("sslcertificatefile");
        assert!(cert[0].0.args[0].starts_with("/etc/letsencrypt/live/"));
        let chain: Vec<_> = cert[0].1.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(chain, ["IfModule", "VirtualHost"]);
        assert_eq!(ssl.directives[0].last_line, 10);
    }

    #[test]
    fn several_sites_jitsi_second_and_names() {
        let c = p("<VirtualHost *:443>\nServerName www.example.org\nServerAlias example.org\n</VirtualHost>\n<VirtualHost *:443>\nServerName https://meet.example.org:443\nServerAlias video.example.org *.meet.example.org\n</VirtualHost>\n<VirtualHost *:443>\nServerName meet.example.org:443\n</VirtualHost>\n");
        let vs = c.vhosts();
        assert_eq!(name(Some(&vs[1])), Some("meet.example.org"));
        assert_eq!(
            c.select_vhost("meet.example.org", 443, None),
            Some(&vs[1]),
            "first matching vhost wins"
        );
        assert_eq!(c.select_vhost("video.example.org", 443, None), Some(&vs[1]));
        assert_eq!(
            c.select_vhost("a.b.Meet.Example.org:443", 443, None),
            Some(&vs[1]),
            "wildcard alias, port ignored"
        );
        assert_eq!(
            c.select_vhost("meet.example.org.evil", 443, None),
            Some(&vs[0]),
            "unknown name: first vhost"
        );
        let names: Vec<_> = c
            .server_names()
            .into_iter()
            .map(|(n, l)| format!("{n}@{l}"))
            .collect();
        assert_eq!(
            names,
            [
                "www.example.org@2",
                "example.org@3",
                "meet.example.org@6",
                "video.example.org@7",
                "*.meet.example.org@7",
                "meet.example.org@10"
            ]
        );
    }

    #[test]
    fn ip_specific_vhost_wins_its_address_set() {
        let c = p("<VirtualHost _default_:443>\nServerName fallback.example.org\n</VirtualHost>\n<VirtualHost *:443>\nServerName meet.example.org\n</VirtualHost>\n<VirtualHost 10.0.0.10:443>\nServerName other.example.org\n</VirtualHost>\n<VirtualHost [::]:80 *>\nServerName any.example.org\n</VirtualHost>\n");
        let vs = c.vhosts();
        assert_eq!(vs[3].addresses[1].port, None);
        // The exact IP:port set is searched alone, even for a name another set has.
        assert_eq!(
            name(c.select_vhost("meet.example.org", 443, ip("10.0.0.10"))),
            Some("other.example.org")
        );
        assert_eq!(
            name(c.select_vhost("meet.example.org", 443, ip("10.0.0.11"))),
            Some("meet.example.org")
        );
        assert_eq!(
            name(c.select_vhost("meet.example.org", 443, None)),
            Some("meet.example.org")
        );
        // `_default_` is an alias for `*`: same set, file order decides the default.
        assert_eq!(
            name(c.select_vhost("nobody.example.org", 443, None)),
            Some("fallback.example.org")
        );
        assert_eq!(
            name(c.select_vhost("meet.example.org", 8080, None)),
            Some("any.example.org"),
            "wildcard port"
        );
        assert_eq!(name(c.select_vhost("x", 80, None)), Some("any.example.org"));
        // a request naming the vhost's literal address picks it within the set
        let c = p("<VirtualHost 10.0.0.10:443>\nServerName a.example.org\n</VirtualHost>\n<VirtualHost 10.0.0.10:443>\nServerName b.example.org\n</VirtualHost>\n<VirtualHost 10.0.0.10>\nServerName c.example.org\n</VirtualHost>\n");
        assert_eq!(
            name(c.select_vhost("b.example.org", 443, ip("10.0.0.10"))),
            Some("b.example.org")
        );
        assert_eq!(
            name(c.select_vhost("10.0.0.10", 443, ip("10.0.0.10"))),
            Some("a.example.org")
        );
        assert_eq!(
            name(c.select_vhost("b.example.org", 80, ip("10.0.0.10"))),
            Some("c.example.org")
        );
        assert_eq!(
            c.select_vhost("b.example.org", 443, None),
            None,
            "main server answers"
        );
    }

    fn acme(conf: &str) -> AcmeRoot {
        let c = p(conf);
        let v = c.select_vhost("meet.example.org", 80, None);
        c.acme_root(v)
    }

    #[test]
    fn acme_root_aliases() {
        let vh = |body: &str| {
            format!("<VirtualHost *:80>\nServerName meet.example.org\nDocumentRoot /var/www/meet\n{body}\n</VirtualHost>\n")
        };
        let a = acme(&vh(
            "Alias /.well-known/acme-challenge/ /var/lib/letsencrypt/http_challenges/",
        ));
        assert_eq!(
            (a.dir.as_str(), a.source.as_str(), a.line),
            (
                "/var/lib/letsencrypt/http_challenges",
                "Alias at line 4",
                Some(4)
            )
        );
        let a = acme(&vh("Alias /.well-known/acme-challenge /var/www/acme/"));
        assert_eq!((a.dir.as_str(), a.problem), ("/var/www/acme", None));
        let a = acme(&vh("Alias /.well-known /srv/wk"));
        assert_eq!(a.dir, "/srv/wk/acme-challenge");
        // URL-path with a trailing slash, target without: Apache concatenates.
        let a = acme(&vh("Alias /.well-known/acme-challenge/ /var/www/acme"));
        assert!(a
            .problem
            .unwrap()
            .contains(&format!("/var/www/acme{ACME_SAMPLE_TOKEN}")));
        // An alias ending in a slash the request lacks, or a longer path, does not match.
        let a = acme(&vh(
            "Alias /.well-known/acme-challenge/x/ /nope\nAlias /.well-known/acme /nope",
        ));
        assert_eq!(a.source, "DocumentRoot at line 3");
        let a = acme(&vh(
            r"AliasMatch ^/\.well-known/acme-challenge/(.*)$ /var/www/acme/$1",
        ));
        assert_eq!(
            (a.dir.as_str(), a.source.as_str()),
            ("/var/www/acme", "AliasMatch at line 4")
        );
        let a = acme(&vh(
            r"AliasMatch ^/\.well-known/acme-challenge/(?!x)(.*) /var/www/acme/$1",
        ));
        assert!(a.dir.is_empty() && a.problem.unwrap().contains("cannot be evaluated"));
        let a = acme(&vh("<IfModule mod_alias.c>\n  Alias /.well-known/acme-challenge/ /var/www/le/\n</IfModule>"));
        assert_eq!(a.dir, "/var/www/le");
        let a = acme(&vh("<IfModule !mod_alias.c>\n  Alias /.well-known/acme-challenge/ /var/www/le/\n</IfModule>"));
        assert_eq!(a.dir, "/var/www/meet/.well-known/acme-challenge");
        let a = acme(&vh(
            "<Location /.well-known/acme-challenge/>\n  Alias /srv/one-file\n</Location>",
        ));
        assert!(a.problem.unwrap().contains("every request"));
    }

    #[test]
    fn acme_root_fallbacks_and_server_level() {
        let srv = "Alias /.well-known/acme-challenge/ /var/www/le/\nDocumentRoot webroot/\n";
        let a = acme(&format!("{srv}<VirtualHost *:80>\nServerName meet.example.org\nAlias /.well-known/ /srv/own/\n</VirtualHost>\n"));
        assert_eq!(
            a.dir, "/srv/own/acme-challenge",
            "the vhost's aliases come first"
        );
        let a = acme(&format!("<VirtualHost *:80>\nServerName meet.example.org\nDocumentRoot /x\n</VirtualHost>\n{srv}"));
        assert_eq!(
            (a.dir.as_str(), a.source.as_str()),
            ("/var/www/le", "server-level Alias at line 5")
        );
        let a = acme("DocumentRoot webroot/\n<VirtualHost *:80>\nServerName meet.example.org\n</VirtualHost>\n");
        assert_eq!(
            (a.dir.as_str(), a.line),
            ("/etc/apache2/webroot/.well-known/acme-challenge", Some(1))
        );
        let a = acme("<VirtualHost *:443>\nServerName meet.example.org\n</VirtualHost>\n");
        assert_eq!(
            (a.dir.as_str(), a.source.as_str(), a.line),
            (
                "/var/www/html/.well-known/acme-challenge",
                "Debian default /var/www/html",
                None
            )
        );
    }

    #[test]
    fn proxy_routes_location_form_and_order() {
        let c = p(r#"ProxyPass /server-wide http://127.0.0.1:9/
<VirtualHost *:443>
ServerName meet.example.org
ProxyPass / https://10.0.0.20/ timeout=30
ProxyPass /xmpp-websocket wss://10.0.0.20/xmpp-websocket
ProxyPassMatch ^/colibri-ws/([^/]+)/(.*) ws://10.0.0.21:9090/colibri-ws/$1/$2
<Location /http-bind>
  ProxyPass http://localhost:5280/http-bind
  ProxyPassReverse http://localhost:5280/http-bind
</Location>
<Location /http-bind/static>
  ProxyPass !
</Location>
ProxyPass ~ ^/stats$ "unix:/run/stats.sock|http://localhost/"
</VirtualHost>
"#);
        let v = &c.vhosts()[0];
        let routes = c.proxy_routes(Some(v));
        let order: Vec<_> = routes.iter().map(|r| (r.scope, r.line)).collect();
        use RouteScope::*;
        assert_eq!(
            order,
            [
                (Location, 8),
                (Location, 9),
                (Location, 12),
                (Server, 1),
                (VirtualHost, 4),
                (VirtualHost, 5),
                (VirtualHost, 6),
                (VirtualHost, 14)
            ]
        );
        assert_eq!(routes[0].path, "/http-bind");
        assert_eq!(routes[0].location, Some(("/http-bind".into(), false, 7)));
        assert_eq!(routes[4].params, ["timeout=30"]);
        // Location form is evaluated before the lists; the last matching Location wins.
        assert_eq!(route_for(&routes, "/http-bind").unwrap().line, 8);
        assert!(route_for(&routes, "/http-bind/static/x").unwrap().excluded);
        assert_eq!(
            route_for(&routes, "/http-bindings").unwrap().line,
            4,
            "segment boundary"
        );
        assert_eq!(route_for(&routes, "/server-wide/a").unwrap().scope, Server);
        // A websocket route after `ProxyPass /` is shadowed: callers lint on this order.
        assert_eq!(route_for(&routes, "/xmpp-websocket").unwrap().line, 4);
        assert_eq!(route_for(&routes, "/colibri-ws/jvb1/x").unwrap().line, 4);
        let stats = &routes[7];
        assert!(stats.regex);
        assert_eq!(
            host_of_url(&stats.url),
            Some(("http".into(), "localhost".into(), 80))
        );
    }

    #[test]
    fn structural_errors_with_lines() {
        let r = e("<VirtualHost *:443>\n  <Location />\n  </VirtualHost>\n</Location>\n");
        assert_eq!(r.to_string(), "site.conf:3: Expected </Location> but saw </VirtualHost> (<Location> opened at line 2)");
        let r = e("# c\n<VirtualHost *:80>\nServerName a\n");
        assert_eq!(
            (r.line, r.reason.as_str()),
            (2, "<VirtualHost> was not closed.")
        );
        assert_eq!(
            e("\n</VirtualHost>\n").reason,
            "</VirtualHost> without matching <VirtualHost> section"
        );
        assert_eq!(
            e("<VirtualHost>\n</VirtualHost>").reason,
            "<VirtualHost> directive requires additional arguments"
        );
        assert_eq!(
            e("<VirtualHost *:80\n</VirtualHost>").reason,
            "<VirtualHost> directive missing closing '>'"
        );
        assert_eq!(e("<VirtualHost *:80>\n</VirtualHost\n").line, 2);
        let r = e("<VirtualHost *:80>\n<IfModule mod_ssl.c>\n<VirtualHost *:443>\n</VirtualHost>\n</IfModule>\n</VirtualHost>\n");
        assert_eq!(
            (r.line, r.reason.as_str()),
            (
                3,
                "<VirtualHost> cannot occur within <VirtualHost> section (line 1)"
            )
        );
        assert_eq!(
            e("<Directory />\n<VirtualHost *:80>\n</VirtualHost>\n</Directory>\n").line,
            2
        );
        assert_eq!(e("<VirtualHost *:0>\n</VirtualHost>\n").line, 1);
        assert!(e("<VirtualHost 443>\n</VirtualHost>\n")
            .reason
            .starts_with("Missing address"));
        assert!(
            e("<VirtualHost *:80>\nServerName *.example.org\n</VirtualHost>\n")
                .reason
                .starts_with("Invalid ServerName")
        );
        assert!(e("ServerName meet.example.org:0\n")
            .reason
            .contains("outside the appropriate range"));
        assert_eq!(
            e("ServerAlias meet.example.org\n").reason,
            "ServerAlias only used in <VirtualHost>"
        );
        assert_eq!(
            e("<IfModule>\n</IfModule>\n").reason,
            "<IfModule> directive requires additional arguments"
        );
        assert_eq!(e("ok\n\0").line, 2);
        // Skipped text is only checked for section nesting, as Apache does.
        let c = p(
            "<IfModule mod_nope.c>\n<VirtualHost>\nServerAlias x\n</VirtualHost>\n</IfModule>\n",
        );
        assert!(c.vhosts().is_empty() && !c.directives[0].active);
        assert_eq!(
            e("<IfModule mod_nope.c>\n<VirtualHost>\n</IfModule>\n").line,
            3
        );
        let r = e("<IfModule mod_nope.c>\n<VirtualHost *:80>\n</VirtualHost>\n");
        assert_eq!(
            (r.line, r.reason.as_str()),
            (1, "Expected </IfModule> before end of configuration")
        );
        // An applied <IfModule> swallows the end of file: Apache accepts, we warn.
        let c = p("<IfModule mod_ssl.c>\n<VirtualHost *:443>\nServerName meet.example.org\n");
        assert_eq!(c.vhosts().len(), 1);
        assert_eq!(
            c.warnings.iter().map(|w| w.line).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(e("<VirtualHost *:80>\n<IfModule mod_ssl.c>\n").line, 1);
    }

    #[test]
    fn reader_details() {
        let c = p("# comment \\\nServerName swallowed.example.org\n  ProxyPass /a \\\n    http://b/ # not a comment\nHeader set X-A 'it''s' \"say \\\"hi\\\"\" C:\\\\dir\r\nServerName last\\");
        let d = &c.directives;
        assert_eq!(d.len(), 3, "the comment's continuation swallowed a line");
        assert_eq!((d[0].line, d[0].last_line), (3, 4));
        assert_eq!(d[0].args, ["/a", "http://b/", "#", "not", "a", "comment"]);
        assert_eq!(
            d[1].args,
            ["set", "X-A", "it", "s", "say \"hi\"", "C:\\dir"]
        );
        assert_eq!(d[2].args, ["last\\"], "no continuation without a newline");
        assert!(p("").directives.is_empty() && p("\n# only\n").vhosts().is_empty());
        let c = p("Define FQDN meet.example.org\n<IfDefine FQDN>\n<VirtualHost *:443>\nServerName ${FQDN}\nErrorLog ${APACHE_LOG_DIR}/${NOPE}.log\n</VirtualHost>\n</IfDefine>\n<IfDefine !FQDN>\nServerName skipped\n</IfDefine>\n<IfDefine SSL>\nServerName skipped\n</IfDefine>\n");
        assert_eq!(c.server_names(), [("meet.example.org".to_string(), 4)]);
        assert_eq!(
            c.find("ErrorLog")[0].0.args,
            ["/var/log/apache2/${NOPE}.log"]
        );
        assert_eq!(c.find("ServerName").len(), 1);
        let c = p("<IfVersion >= 2.4>\nA\n</IfVersion>\n<IfVersion < 2.4>\nB\n</IfVersion>\n<IfModule ssl_module>\nC\n</IfModule>\n<IfModule mod_SSL.c>\nD\n</IfModule>\n<Macro VHost $name>\n<VirtualHost *:80>\n</VirtualHost>\n</Macro>\n<ifmodule !mod_macro.c>\nE\n</IFMODULE>\n");
        let applied: Vec<_> = ["A", "B", "C", "D", "E"]
            .into_iter()
            .filter(|n| !c.find(n).is_empty())
            .collect();
        assert_eq!(applied, ["A", "C", "E"]);
        assert!(c.vhosts().is_empty(), "a <Macro> body is a template");
        assert_eq!(c.find("VirtualHost").len(), 0);
    }

    #[test]
    fn pcre_translation() {
        assert!(pcre(r"^/a{x}\<b\>$").unwrap().is_match("/a{x}<b>"));
        assert!(pcre(r"^/a{2}[[]$").unwrap().is_match("/aa["));
        assert!(pcre(r"^/(?<room>[^/]+)/x").unwrap().is_match("/r/x"));
        assert!(pcre(r"^/(a)\1").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            host_of_url("wss://10.0.0.20/xmpp-websocket"),
            Some(("wss".into(), "10.0.0.20".into(), 443))
        );
        assert_eq!(
            host_of_url("HTTP://User@Backend:8080"),
            Some(("http".into(), "backend".into(), 8080))
        );
        assert_eq!(
            host_of_url("https://[::1]:8443/x"),
            Some(("https".into(), "::1".into(), 8443))
        );
        assert_eq!(host_of_url("balancer://jvbs/"), None);
        assert_eq!(parse_url("balancer://jvbs/").unwrap().host, "jvbs");
        assert_eq!(host_of_url("!"), None);
        assert_eq!(host_of_url("http://h:99999/"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        #[test]
        fn parsing_never_panics(text in r#"([<>/\\"' #\t\r\n:*.!~$\{\}\[\]a-zA-Z0-9]|VirtualHost|IfModule|Location|ProxyPass|Alias|ServerName|10\.0\.0\.1){0,80}"#) {
            if let Ok(c) = parse(Path::new("f"), &text) {
                for v in c.vhosts() {
                    let _ = (c.acme_root(Some(v)), c.proxy_routes(Some(v)));
                }
                let routes = c.proxy_routes(None);
                let _ = (c.select_vhost(&text, 443, ip("10.0.0.1")), c.acme_root(None), route_for(&routes, "/a"), c.includes(), c.find("a"));
            }
            let _ = (pcre(&text), glob(&text, "/a/b", true), alias_match("/a//b", &text), if_version(&split_args(&text)));
        }
    }
}
