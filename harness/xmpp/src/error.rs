//! What can go wrong on the XMPP side. Every wait names what it awaited, so a report can say
//! "the focus did not answer the conference request within 3 s" rather than "timeout".

use std::time::Duration;

/// An XMPP failure, worded for reports.
#[derive(Debug, thiserror::Error)]
pub enum XmppError {
    /// Nothing arrived in time: `awaited` is the sentence's subject and verb
    /// ("the focus did not answer the conference request").
    #[error("{awaited} within {}", secs(*.after))]
    Timeout { awaited: String, after: Duration },
    /// The peer ended the stream or the connection while something was awaited.
    #[error("the connection closed while {during}")]
    Closed { during: String },
    /// The peer answered with a stanza error (condition as in RFC 6120 section 8.3.3).
    #[error("{what} failed: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Refused {
        what: String,
        condition: String,
        text: Option<String>,
    },
    /// Something arrived that breaks the protocol as Jitsi speaks it.
    #[error("{0}")]
    Protocol(String),
    /// The transport below XMPP (TCP, TLS, the websocket) failed.
    #[error("{0}")]
    Transport(String),
}

/// "3 s", "1.5 s", "250 ms".
pub(crate) fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl XmppError {
    pub(crate) fn timeout(awaited: impl Into<String>, after: Duration) -> Self {
        XmppError::Timeout {
            awaited: awaited.into(),
            after,
        }
    }

    pub(crate) fn closed(during: impl Into<String>) -> Self {
        XmppError::Closed {
            during: during.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_name_what_was_awaited() {
        let e = XmppError::timeout(
            "the focus did not answer the conference request",
            Duration::from_secs(3),
        );
        assert_eq!(
            e.to_string(),
            "the focus did not answer the conference request within 3 s"
        );
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(secs(Duration::from_millis(250)), "250 ms");
    }
}
