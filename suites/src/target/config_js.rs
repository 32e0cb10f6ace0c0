//! What a Jitsi web client reads from `/config.js` before it signals (lib-jitsi-meet and
//! jitsi-meet's `constructOptions()`, /tmp/research/xmpp.md section 1.1): `hosts.domain`,
//! `hosts.muc`, the optional `hosts.anonymousdomain` and `hosts.focus`, and the service URLs
//! `websocket` (often commented out) and `bosh` (protocol-relative in Jitsi's template,
//! `//FQDN/http-bind`). Both spellings are read: the Debian template's object literal
//! (`hosts: { domain: '...' }`) and docker-jitsi-meet's assignments (`config.hosts.domain = '...'`).

use regex::Regex;
use serde::Serialize;
use std::sync::LazyLock;

/// The site's signalling settings, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteConfig {
    pub domain: String,
    pub muc: String,
    pub anonymous_domain: Option<String>,
    /// `hosts.focus`, else `focus.<domain>` as moderator.js defaults it.
    pub focus: String,
    /// The websocket URL as written (absolute), if config.js sets one.
    pub websocket: Option<String>,
    /// The BOSH URL made absolute (`https:` for a protocol-relative one).
    pub bosh: Option<String>,
    /// What the probe connects to: `websocket`, else `wss://FQDN/xmpp-websocket`.
    pub service_url: String,
}

/// Comments out of the way: `/* ... */` and lines whose first non-blank characters are `//`
/// (a protocol-relative URL inside a string is kept).
fn strip_comments(js: &str) -> String {
    static BLOCK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)/\*.*?\*/").expect("regex"));
    BLOCK
        .replace_all(js, "")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `hosts: { ... }` object's text (no nested objects inside it in Jitsi's template).
fn hosts_block(js: &str) -> Option<&str> {
    static HOSTS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\bhosts\s*:\s*\{([^}]*)\}").expect("regex"));
    HOSTS
        .captures(js)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

fn string_value(text: &str, key: &str, assign: &str) -> Option<String> {
    let re = Regex::new(&format!(
        r#"(?m)(?:^|[\s,{{.]){}\s*{assign}\s*['"`]([^'"`]*)['"`]"#,
        regex::escape(key)
    ))
    .ok()?;
    re.captures(text).map(|c| c[1].to_string())
}

/// `hosts.X`: inside the `hosts` object, or assigned as `config.hosts.X = '...'`.
fn host_value(js: &str, key: &str) -> Option<String> {
    hosts_block(js)
        .and_then(|b| string_value(b, key, ":"))
        .or_else(|| string_value(js, &format!("hosts.{key}"), "="))
}

/// A top-level key: `key: '...'` outside `hosts`, or `config.key = '...'`.
fn top_value(js: &str, key: &str) -> Option<String> {
    let outside = match hosts_block(js) {
        Some(b) => js.replacen(b, "", 1),
        None => js.to_string(),
    };
    string_value(&outside, key, ":").or_else(|| string_value(js, &format!("config.{key}"), "="))
}

fn absolute(url: &str, scheme: &str) -> String {
    match url.strip_prefix("//") {
        Some(rest) => format!("{scheme}://{rest}"),
        None => url.to_string(),
    }
}

/// Reads `config.js`; an error says what is missing.
pub fn parse(js: &str, fqdn: &str) -> Result<SiteConfig, String> {
    let js = strip_comments(js);
    let domain = host_value(&js, "domain")
        .ok_or("config.js sets no hosts.domain (the XMPP domain a client logs in to)")?;
    let muc = host_value(&js, "muc")
        .ok_or("config.js sets no hosts.muc (the conference component rooms live on)")?;
    let websocket = top_value(&js, "websocket").map(|u| absolute(&u, "wss"));
    let bosh = top_value(&js, "bosh").map(|u| absolute(&u, "https"));
    Ok(SiteConfig {
        focus: host_value(&js, "focus").unwrap_or_else(|| format!("focus.{domain}")),
        anonymous_domain: host_value(&js, "anonymousdomain"),
        service_url: websocket
            .clone()
            .unwrap_or_else(|| format!("wss://{fqdn}/xmpp-websocket")),
        domain,
        muc,
        websocket,
        bosh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of jitsi-meet's `config.js` template (Debian package).
    const TEMPLATE: &str = r#"
var config = {
    // Connection
    //

    hosts: {
        // XMPP domain.
        domain: 'meet.example.org',

        // When using authentication, domain for guest users.
        // anonymousdomain: 'guest.example.com',

        // focus: 'focus.meet.example.org',

        // XMPP MUC domain. FIXME: use XEP-0030 to discover it.
        muc: 'conference.meet.example.org',
    },

    // BOSH URL. FIXME: use XEP-0156 to discover it.
    bosh: '//meet.example.org/http-bind',

    // Websocket URL (XMPP)
    // websocket: 'wss://meet.example.org/xmpp-websocket',
};
"#;

    #[test]
    fn the_template_is_read() {
        let c = parse(TEMPLATE, "meet.example.org").unwrap();
        assert_eq!(c.domain, "meet.example.org");
        assert_eq!(c.muc, "conference.meet.example.org");
        assert_eq!(c.anonymous_domain, None);
        assert_eq!(c.focus, "focus.meet.example.org");
        assert_eq!(c.websocket, None);
        assert_eq!(
            c.bosh.as_deref(),
            Some("https://meet.example.org/http-bind")
        );
        assert_eq!(c.service_url, "wss://meet.example.org/xmpp-websocket");
    }

    #[test]
    fn docker_jitsi_meet_assignments_are_read() {
        let js = "var config = {};\nconfig.hosts = {};\nconfig.hosts.domain = 'meet.jitsi';\nconfig.hosts.muc = 'muc.meet.jitsi';\nconfig.bosh = '/http-bind';\nconfig.websocket = 'wss://meet.example.org/xmpp-websocket';\n";
        let c = parse(js, "meet.example.org").unwrap();
        assert_eq!(c.domain, "meet.jitsi");
        assert_eq!(c.muc, "muc.meet.jitsi");
        assert_eq!(c.service_url, "wss://meet.example.org/xmpp-websocket");
    }

    #[test]
    fn a_missing_domain_is_named() {
        let e = parse("var config = { bosh: '//x/http-bind' };", "x").unwrap_err();
        assert!(e.contains("hosts.domain"), "{e}");
    }
}
