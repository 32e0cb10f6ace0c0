//! The target's TURN server as its files set it up (SPEC section 10): coturn on the bridge host,
//! configured as Jitsi's `jitsi-meet-turnserver` package does (`doc/debian/jitsi-meet-turn/
//! turnserver.conf` in jitsi-meet: `use-auth-secret`, `static-auth-secret`, realm, 3478 and
//! 5349), and the secret prosody's `mod_external_services` makes the clients' credentials with
//! (`external_service_secret` in the host's prosody config, `plugins/mod_external_services.lua`
//! `behave_turn_rest_credentials`). Whether a target has TURN comes from its files, never from
//! probing port 3478.

use crate::error::ConfigError;
use crate::site::{coturn, prosody};
use std::path::Path;

/// What the lab and the checks need to know about the TURN server, read from the rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnSetup {
    /// `realm` (coturn answers the 401 challenge with it).
    pub realm: Option<String>,
    /// `listening-port` (UDP; coturn's default 3478).
    pub udp_port: u16,
    /// `tls-listening-port` (default 5349).
    pub tls_port: u16,
    /// `cert` and `pkey`: where the TLS listener's pair lives on the bridge host. Without
    /// either, coturn disables TLS (mainrelay.c: "cannot start TLS and DTLS listeners").
    pub cert: Option<String>,
    pub pkey: Option<String>,
    /// The secret the clients' credentials are made with, and where it was read.
    pub secret: Option<String>,
    pub secret_source: String,
    /// coturn's own `static-auth-secret` (what it checks the credentials with).
    pub coturn_secret: Option<String>,
}

impl TurnSetup {
    /// Reads coturn's config and, when there is one, prosody's (the source of the clients'
    /// credentials). Without a prosody config the credentials are made with coturn's own
    /// secret, which is said in `secret_source`.
    pub fn read(
        turn_file: &Path,
        turn_text: &str,
        prosody_file: Option<(&Path, &str)>,
    ) -> Result<Self, ConfigError> {
        let c = coturn::parse(turn_file, turn_text)?;
        let value = |k: &str| c.get(k).and_then(|e| e.value.clone());
        let coturn_secret = c.secret().and_then(|e| e.value.clone());
        let (secret, secret_source) = match prosody_file {
            Some((path, text)) => {
                let p = prosody::parse(path, text)?;
                match p.turn_secret() {
                    Some((s, line)) => (
                        Some(s.to_string()),
                        format!(
                            "prosody's external_service_secret ({}:{line})",
                            path.display()
                        ),
                    ),
                    None => (
                        None,
                        format!("{} sets no external_service_secret", path.display()),
                    ),
                }
            }
            None => (
                coturn_secret.clone(),
                match c.secret() {
                    Some(e) => format!(
                        "coturn's own static-auth-secret ({}:{}): no prosody config given, so the secret clients get credentials with is assumed to be the same",
                        turn_file.display(),
                        e.line
                    ),
                    None => format!("{} sets no static-auth-secret", turn_file.display()),
                },
            ),
        };
        Ok(TurnSetup {
            realm: c.realm().map(str::to_string),
            udp_port: c.listening_port(),
            tls_port: c.tls_listening_port(),
            cert: value("cert"),
            pkey: value("pkey"),
            secret,
            secret_source,
            coturn_secret,
        })
    }

    /// Whether coturn starts a TLS listener at all.
    pub fn has_tls(&self) -> bool {
        self.cert.is_some() && self.pkey.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "use-auth-secret\nstatic-auth-secret=abc\nrealm=meet.lab.test\ncert=/etc/jitsi/meet/meet.lab.test.crt\npkey=/etc/jitsi/meet/meet.lab.test.key\nlistening-port=3478\ntls-listening-port=5349\n";

    #[test]
    fn credentials_come_from_prosody_when_given() {
        let p = "external_service_secret = \"xyz\";\n";
        let t = TurnSetup::read(
            Path::new("turnserver.conf"),
            CONF,
            Some((Path::new("site.cfg.lua"), p)),
        )
        .unwrap();
        assert_eq!(t.secret.as_deref(), Some("xyz"));
        assert_eq!(t.coturn_secret.as_deref(), Some("abc"));
        assert!(t.secret_source.contains("site.cfg.lua:1"));
        assert!(t.has_tls());
    }

    #[test]
    fn without_prosody_the_assumption_is_said() {
        let t = TurnSetup::read(Path::new("turnserver.conf"), "realm=x\n", None).unwrap();
        assert_eq!(t.secret, None);
        assert!(t.secret_source.contains("no static-auth-secret"));
        assert!(!t.has_tls());
        assert_eq!((t.udp_port, t.tls_port), (3478, 5349));
    }
}
