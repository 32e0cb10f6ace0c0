//! Whether the bridge serves colibri websockets, read as JVB reads it (SPEC section 10):
//!
//! - `enabled`: the legacy `org.jitsi.videobridge.rest.COLIBRI_WS_DISABLE` (inverted) wins,
//!   else `videobridge.websockets.enabled`, else `reference.conf`'s `false`
//!   (jitsi-videobridge `jvb/src/main/kotlin/org/jitsi/videobridge/websocket/config/WebsocketServiceConfig.kt`);
//! - the public HTTP server (where `/colibri-ws/` lives) starts only when
//!   `videobridge.http-servers.public.port` (legacy `org.jitsi.videobridge.rest.jetty.port`) or
//!   its `tls-port` is not `-1`, `reference.conf`'s default (jvb `Main.kt`, jicoco
//!   `JettyHelpers.kt` `isEnabled`), whatever `websockets.enabled` says;
//! - colibri websockets are served only when both hold: with the public server but websockets
//!   disabled, the servlet is not registered; with websockets but no public server, no
//!   `<web-socket>` URL is advertised.
//!
//! Until 2026 Jitsi's Debian postinst wrote both into a new jvb.conf
//! (`http-servers.public.port = 9090`, `websockets { enabled = true ... }`); jitsi-videobridge
//! #2416 (May 2026) stopped that, so a 2026 install serves none.

use super::{hocon, java_bool, properties};

pub const COLIBRI_WS_DISABLE: &str = "org.jitsi.videobridge.rest.COLIBRI_WS_DISABLE";
pub const LEGACY_PUBLIC_PORT: &str = "org.jitsi.videobridge.rest.jetty.port";
pub const CONF_ENABLED: &str = "videobridge.websockets.enabled";
pub const CONF_PUBLIC_PORT: &str = "videobridge.http-servers.public.port";
pub const CONF_PUBLIC_TLS_PORT: &str = "videobridge.http-servers.public.tls-port";
pub const CONF_DOMAIN: &str = "videobridge.websockets.domain";
pub const CONF_TLS: &str = "videobridge.websockets.tls";
pub const CONF_SERVER_ID: &str = "videobridge.websockets.server-id";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebsocketSettings {
    pub enabled: bool,
    /// The public HTTP server's port, when it starts.
    pub public_port: Option<u16>,
    /// Where each came from (`file:line`), or `None` for JVB's defaults.
    pub enabled_from: Option<String>,
    pub public_port_from: Option<String>,
    /// The URL prefix JVB signals for an endpoint's colibri websocket
    /// (`wss://DOMAIN/colibri-ws/SERVER-ID`), when `videobridge.websockets.domain` is set
    /// (jvb `ColibriWebSocketService`: `{wss|ws}://{domain}/colibri-ws/{server-id}/`, then
    /// the conference and endpoint ids; `server-id` defaults to `default-id`).
    pub url_base: Option<String>,
}

impl WebsocketSettings {
    pub fn resolve(
        props: Option<&properties::Properties>,
        conf: Option<&hocon::Document>,
    ) -> WebsocketSettings {
        let legacy = |key: &str| {
            props.and_then(|p| {
                p.entry(key)
                    .map(|e| (e.value.clone(), format!("{}:{}", p.file, e.line)))
            })
        };
        let node = |path: &str| {
            conf.and_then(|c| c.get(path).map(|n| (n, format!("{}:{}", c.file, n.line))))
        };
        let (enabled, enabled_from) = match legacy(COLIBRI_WS_DISABLE) {
            Some((v, at)) => (!java_bool(&v), Some(at)),
            None => match node(CONF_ENABLED).and_then(|(n, at)| n.as_bool().map(|b| (b, at))) {
                Some((b, at)) => (b, Some(at)),
                None => (false, None),
            },
        };
        let port = |v: i64| u16::try_from(v).ok().filter(|p| *p != 0);
        let (public_port, public_port_from) = match legacy(LEGACY_PUBLIC_PORT)
            .and_then(|(v, at)| v.trim().parse::<i64>().ok().map(|v| (port(v), Some(at))))
        {
            Some(p) => p,
            None => {
                let plain = node(CONF_PUBLIC_PORT)
                    .and_then(|(n, at)| n.as_i64().map(|v| (port(v), Some(at))));
                let tls = node(CONF_PUBLIC_TLS_PORT)
                    .and_then(|(n, at)| n.as_i64().map(|v| (port(v), Some(at))));
                match (plain, tls) {
                    (Some((Some(p), at)), _) => (Some(p), at),
                    (_, Some((Some(p), at))) => (Some(p), at),
                    (Some((None, at)), _) => (None, at),
                    _ => (None, None),
                }
            }
        };
        let text = |path: &str| {
            conf.and_then(|c| c.get(path))
                .and_then(|n| n.as_str().map(str::to_string))
        };
        let url_base = text(CONF_DOMAIN).map(|domain| {
            let tls = conf
                .and_then(|c| c.get(CONF_TLS))
                .and_then(|n| n.as_bool())
                .unwrap_or(true);
            let id = text(CONF_SERVER_ID).unwrap_or_else(|| "default-id".into());
            format!(
                "{}://{domain}/colibri-ws/{id}",
                if tls { "wss" } else { "ws" }
            )
        });
        WebsocketSettings {
            enabled,
            public_port,
            enabled_from,
            public_port_from,
            url_base,
        }
    }

    /// Reads both of the bridge's files from `dir` (either may be missing, as for JVB).
    pub fn load_dir(dir: &std::path::Path) -> Result<WebsocketSettings, super::ParseError> {
        let (props, conf) = super::read_dir(dir)?;
        Ok(Self::resolve(props.as_ref(), conf.as_ref()))
    }

    /// Colibri websockets answer on the public server.
    pub fn serves_colibri_ws(&self) -> bool {
        self.enabled && self.public_port.is_some()
    }

    /// Why the bridge serves no colibri websockets, in the config's own words.
    pub fn why_not(&self) -> Option<String> {
        if self.serves_colibri_ws() {
            return None;
        }
        let at = |from: &Option<String>, default: &str| match from {
            Some(f) => format!("set at {f}"),
            None => format!("JVB's default: {default}"),
        };
        Some(if !self.enabled {
            format!(
                "the bridge serves no colibri websockets: {CONF_ENABLED} is false ({}; Jitsi's packages stopped enabling them in 2026, the bridge channel is the SCTP data channel)",
                at(&self.enabled_from, "not set in jvb.conf")
            )
        } else {
            format!(
                "the bridge serves no colibri websockets: websockets are enabled but the public HTTP server is off ({CONF_PUBLIC_PORT} is -1, {})",
                at(&self.public_port_from, "not set in jvb.conf")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(t: &str) -> hocon::Document {
        hocon::parse(t, "jvb.conf").unwrap()
    }

    #[test]
    fn postinst_before_2026_serves_them() {
        let c = conf("videobridge {\n  http-servers {\n    public {\n      port = 9090\n    }\n  }\n  websockets {\n    enabled = true\n    domain = \"meet.example.org:443\"\n    tls = true\n  }\n}\n");
        let w = WebsocketSettings::resolve(None, Some(&c));
        assert!(w.serves_colibri_ws());
        assert_eq!(w.public_port, Some(9090));
        assert_eq!(w.enabled_from.as_deref(), Some("jvb.conf:8"));
    }

    #[test]
    fn defaults_and_the_legacy_switch() {
        let w = WebsocketSettings::resolve(None, None);
        assert!(!w.serves_colibri_ws());
        assert!(w.why_not().unwrap().contains("JVB's default"));
        let c = conf(
            "videobridge.websockets.enabled = true\nvideobridge.http-servers.public.port = 9090\n",
        );
        let p = properties::parse(
            "org.jitsi.videobridge.rest.COLIBRI_WS_DISABLE=true\n",
            "sip-communicator.properties",
        )
        .unwrap();
        let w = WebsocketSettings::resolve(Some(&p), Some(&c));
        assert!(!w.enabled, "the legacy key wins");
        let c = conf("videobridge.websockets.enabled = true\n");
        let w = WebsocketSettings::resolve(None, Some(&c));
        assert!(!w.serves_colibri_ws());
        assert!(w.why_not().unwrap().contains("public HTTP server is off"));
    }
}
