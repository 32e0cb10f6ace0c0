//! The bridge host's prosody config (SPEC section 11, "the lab grows what the probe needs"):
//! Debian's prosody 0.12 with core modules only, shaped like the site config Jitsi's
//! jitsi-meet-prosody package installs (jitsi-meet `doc/debian/jitsi-meet-prosody/
//! prosody.cfg.lua-jvb.example`) minus Jitsi's own plugins, which Debian does not ship. Every
//! value that comes from a profile is written as a Lua string literal, never as code.

use crate::site::prosody::{Prosody, Service, Value};
use crate::turn::TurnSetup;

/// prosody's HTTP port (BOSH and websocket), where nginx proxies `/http-bind` and
/// `/xmpp-websocket`.
pub const HTTP_PORT: u16 = 5280;
/// prosody's XEP-0114 component port, where the focus stand-in connects.
pub const COMPONENT_PORT: u16 = 5347;

/// Renders the lab's `/etc/prosody/prosody.cfg.lua` for `fqdn`. `turn` is the profile's TURN
/// server (none: no external services), `operator` the profile's own prosody config (its
/// `external_services` entries are handed out as written), `focus_secret` the focus
/// component's secret.
pub fn config(
    fqdn: &str,
    turn: Option<&TurnSetup>,
    operator: Option<&Prosody>,
    focus_secret: &str,
) -> String {
    let host = lua_str(fqdn);
    let muc = lua_str(&format!("conference.{fqdn}"));
    let focus = lua_str(&format!("focus.{fqdn}"));
    let secret = lua_str(focus_secret);
    let (turn_secret, services) = external_services(fqdn, turn, operator);
    let turn_secret = match turn_secret {
        Some(s) => format!("external_service_secret = {};\n", lua_str(&s)),
        None => String::new(),
    };
    let services: String = services.iter().map(|s| format!("    {s};\n")).collect();
    format!(
        r#"-- The lab's prosody (Debian's 0.12, core modules only), rendered by the harness for {host}.
-- Shaped like Jitsi's site config (jitsi-meet doc/debian/jitsi-meet-prosody/
-- prosody.cfg.lua-jvb.example) without Jitsi's own plugins. Run as Debian's unit runs it:
-- user prosody, `prosody -F`, this file at /etc/prosody/prosody.cfg.lua.
pidfile = "/run/prosody/prosody.pid"
data_path = "/var/lib/prosody"
-- Debian's empty certificate directory: no TLS here (nginx terminates it), and no complaint
-- about a missing one.
certificates = "/etc/prosody/certs"
-- The console is /var/log/jc-prosody.log (the entry script redirects it).
log = {{ {{ levels = {{ min = "info" }}, to = "console" }} }}

modules_enabled = {{
    "disco"; "saslauth"; "ping"; "posix";
    "bosh"; "websocket"; "external_services";
}}
-- Auto-loaded core modules the lab never uses (no other servers, no offline storage for
-- anonymous users): about a fifth of prosody's start-up CPU.
modules_disabled = {{ "s2s"; "s2s_auth_certs"; "offline" }}

-- BOSH and websocket only, plain HTTP behind nginx: nginx terminates TLS, so the sessions are
-- secure as Jitsi's config declares them (consider_bosh_secure there, consider_websocket_secure
-- in Jitsi's 2026 packages) and SASL ANONYMOUS is offered. CORS is on by default in 0.12
-- (mod_http's http_default_cors_enabled), which is what Jitsi's deprecated cross_domain_bosh /
-- cross_domain_websocket used to switch; they only log a deprecation line, so they are left out.
consider_bosh_secure = true
consider_websocket_secure = true
c2s_require_encryption = false
http_ports = {{ {HTTP_PORT} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
c2s_ports = {{ }}
component_ports = {{ {COMPONENT_PORT} }}
component_interfaces = {{ "127.0.0.1" }}
-- The lab's Apache proxies to https://BRIDGE/ without ProxyPreserveHost, and nginx passes that
-- Host on ($http_host): without this, prosody answers BOSH and websocket requests for the
-- bridge's address 404 "Unknown host" (net/http/server.lua).
http_default_host = {host}

-- XEP-0215 (mod_external_services): the TURN servers the profile runs, as its prosody config
-- (or Jitsi's template) names them, with the secret the clients' credentials are made with.
{turn_secret}external_services = {{
{services}}}

VirtualHost {host}
    authentication = "anonymous"

-- As Jitsi's: unlocked rooms (no owner config form first), real JIDs visible to everyone
-- (whois=anyone: the client only trusts a focus whose JID it sees), rooms created only by the
-- focus.
Component {muc} "muc"
    restrict_room_creation = true
    admins = {{ {focus} }}
    muc_room_locking = false
    muc_room_default_public_jids = true

-- The focus as an XEP-0114 component, as Jitsi's config declared it before client_proxy
-- (jitsi-meet debian/jitsi-meet-prosody.postinst: `Component "focus.DOMAIN"` with
-- component_secret).
Component {focus}
    component_secret = {secret}
"#
    )
}

/// The global `external_service_secret` and the `external_services` entries (Lua table
/// constructors).
fn external_services(
    fqdn: &str,
    turn: Option<&TurnSetup>,
    operator: Option<&Prosody>,
) -> (Option<String>, Vec<String>) {
    let Some(turn) = turn else {
        return (None, Vec::new());
    };
    let given = operator.map(Prosody::services).unwrap_or_default();
    let entries = if given.is_empty() {
        jitsi_defaults(fqdn, turn)
    } else {
        given.iter().map(entry).collect()
    };
    (turn.secret.clone(), entries)
}

/// Jitsi's template entries for the FQDN, with the ports coturn listens on; `turns` only where
/// coturn has a TLS listener.
fn jitsi_defaults(fqdn: &str, turn: &TurnSetup) -> Vec<String> {
    let host = lua_str(fqdn);
    let (udp, tls) = (turn.udp_port, turn.tls_port);
    let mut v = vec![
        format!(r#"{{ type = "stun", host = {host}, port = {udp} }}"#),
        format!(
            r#"{{ type = "turn", host = {host}, port = {udp}, transport = "udp", secret = true, ttl = 86400, algorithm = "turn" }}"#
        ),
    ];
    if turn.has_tls() {
        v.push(format!(
            r#"{{ type = "turns", host = {host}, port = {tls}, transport = "tcp", secret = true, ttl = 86400, algorithm = "turn" }}"#
        ));
    }
    v
}

/// One operator entry as written: its string, number and boolean fields.
fn entry(s: &Service) -> String {
    let fields: Vec<String> = s
        .fields
        .iter()
        .filter(|(k, _)| is_name(k))
        .filter_map(|(k, v)| Some(format!("{k} = {}", lua_value(v)?)))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

fn lua_value(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(lua_str(s)),
        Value::Num(n) if n.is_finite() => Some(if n.fract() == 0.0 && n.abs() < 1e15 {
            format!("{}", *n as i64)
        } else {
            n.to_string()
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A Lua identifier (a field name written bare).
fn is_name(k: &str) -> bool {
    let mut c = k.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// A double-quoted Lua string literal: quotes, backslashes and control characters escaped
/// (`\ddd`), so no profile value can end the string.
pub fn lua_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn turn(conf: &str, prosody: Option<&str>) -> TurnSetup {
        TurnSetup::read(
            Path::new("turnserver.conf"),
            conf,
            prosody.map(|p| (Path::new("site.cfg.lua"), p)),
        )
        .unwrap()
    }

    #[test]
    fn without_turn_no_service_is_handed_out() {
        let c = config("meet.lab.test", None, None, "s3cret");
        assert!(c.contains("external_services = {\n}"), "{c}");
        assert!(!c.contains("external_service_secret"), "{c}");
        assert!(c.contains("VirtualHost \"meet.lab.test\"\n    authentication = \"anonymous\""));
        assert!(c.contains("Component \"conference.meet.lab.test\" \"muc\""));
        assert!(c.contains("    muc_room_locking = false\n"));
        assert!(c.contains("    admins = { \"focus.meet.lab.test\" }\n"));
        assert!(
            c.contains("Component \"focus.meet.lab.test\"\n    component_secret = \"s3cret\"\n")
        );
        assert!(c.contains("http_ports = { 5280 }") && c.contains("component_ports = { 5347 }"));
    }

    #[test]
    fn jitsi_template_entries_with_coturns_ports_and_secret() {
        let t = turn(
            "static-auth-secret=abc\nlistening-port=3479\ntls-listening-port=5350\ncert=/c\npkey=/k\n",
            None,
        );
        let c = config("meet.lab.test", Some(&t), None, "x");
        assert!(c.contains("external_service_secret = \"abc\";\n"), "{c}");
        assert!(c.contains(r#"{ type = "stun", host = "meet.lab.test", port = 3479 };"#));
        assert!(c.contains(r#"{ type = "turn", host = "meet.lab.test", port = 3479, transport = "udp", secret = true, ttl = 86400, algorithm = "turn" };"#));
        assert!(c.contains(r#"{ type = "turns", host = "meet.lab.test", port = 5350, transport = "tcp", secret = true"#));
        let no_tls = turn("static-auth-secret=abc\n", None);
        let c = config("meet.lab.test", Some(&no_tls), None, "x");
        assert!(!c.contains("turns"), "{c}");
    }

    #[test]
    fn the_operators_entries_and_secret_are_handed_out_as_written() {
        let site = "external_service_secret = \"xyz\";\nexternal_services = {\n  { type = \"turn\", host = \"turn.example.org\", port = 443, transport = \"tcp\", secret = true, weird = { 1 } }\n};\n";
        let t = turn("static-auth-secret=abc\n", Some(site));
        let p = crate::site::prosody::parse(Path::new("site.cfg.lua"), site).unwrap();
        let c = config("meet.lab.test", Some(&t), Some(&p), "x");
        assert!(c.contains("external_service_secret = \"xyz\";\n"), "{c}");
        assert!(c.contains(r#"    { host = "turn.example.org", port = 443, secret = true, transport = "tcp", type = "turn" };"#), "{c}");
        assert!(!c.contains("weird") && !c.contains("stun"), "{c}");
    }

    #[test]
    fn profile_values_cannot_escape_their_strings() {
        assert_eq!(lua_str("a\"b\\c\nd"), r#""a\"b\\c\010d""#);
        let c = config("x\" os.exit() --", None, None, "s\"");
        assert!(c.contains(r#"VirtualHost "x\" os.exit() --""#), "{c}");
        assert!(c.contains(r#"component_secret = "s\"""#), "{c}");
    }
}
