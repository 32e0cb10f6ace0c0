//! The first XMPP exchange a Jitsi web client makes with prosody, over each of its two
//! transports: the RFC 7395 `<open/>` on `/xmpp-websocket`, and the XEP-0124/XEP-0206 session
//! creation request on `/http-bind`. Builds the requests, reads the answers; never a verdict.

use minidom::Element;

/// RFC 7395 section 3.3.2: the framing namespace of `<open/>` and `<close/>`.
pub const FRAMING_NS: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// XEP-0124: the namespace of BOSH's `<body/>`.
pub const HTTPBIND_NS: &str = "http://jabber.org/protocol/httpbind";

/// The client's `<open/>` for `domain` (RFC 7395 section 3.4, as lib-jitsi-meet's Strophe
/// sends it: `to`, `version='1.0'`).
pub fn ws_open(domain: &str) -> String {
    format!(
        "<open xmlns='{FRAMING_NS}' to='{}' version='1.0'/>",
        escape(domain)
    )
}

/// What the server's `<open/>` answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOpen {
    pub from: String,
    pub id: String,
}

/// Reads an RFC 7395 `<open/>` answer: the framing namespace, a `from` and a stream `id`.
/// Anything else (an echo of the client's frame, a web page, a stream error) says what it was.
pub fn parse_ws_open(frame: &str) -> Result<StreamOpen, String> {
    let e = parse(frame)?;
    if !e.is("open", FRAMING_NS) {
        return Err(format!(
            "the first frame is <{}> in {:?}, not an RFC 7395 <open/>: {}",
            e.name(),
            e.ns(),
            short(frame)
        ));
    }
    match (e.attr("from"), e.attr("id")) {
        (Some(from), Some(id)) => Ok(StreamOpen {
            from: from.to_string(),
            id: id.to_string(),
        }),
        _ => Err(format!(
            "the <open/> has no from or no stream id, so no server opened a stream (an echo of the client's own frame?): {}",
            short(frame)
        )),
    }
}

/// XEP-0124 section 7.1 / XEP-0206 section 6: the session creation request for `domain`,
/// shaped as Strophe sends it (`content`, `hold='1'`, `rid`, `to`, `ver`, `wait`, `xml:lang`,
/// `xmpp:version='1.0'`).
pub fn bosh_session_request(domain: &str, rid: u64, wait_s: u64) -> String {
    format!(
        "<body content='text/xml; charset=utf-8' hold='1' rid='{rid}' to='{}' ver='1.6' wait='{wait_s}' xml:lang='en' xmpp:version='1.0' xmlns='{HTTPBIND_NS}' xmlns:xmpp='urn:xmpp:xbosh'/>",
        escape(domain)
    )
}

/// What the session creation response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoshSession {
    pub sid: String,
    pub from: Option<String>,
}

/// Reads a session creation response: a `<body/>` in the httpbind namespace with a `sid`.
/// A terminal binding condition (XEP-0124 section 17, e.g. `bad-request` for a body that
/// arrived mangled) is named.
pub fn parse_bosh_session(body: &[u8]) -> Result<BoshSession, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_string())?;
    let e = parse(text)?;
    if !e.is("body", HTTPBIND_NS) {
        return Err(format!(
            "the answer is <{}> in {:?}, not a BOSH <body/>: {}",
            e.name(),
            e.ns(),
            short(text)
        ));
    }
    if e.attr("type") == Some("terminate") {
        return Err(format!(
            "the server terminated the session: condition '{}'",
            e.attr("condition").unwrap_or("none given")
        ));
    }
    match e.attr("sid") {
        Some(sid) => Ok(BoshSession {
            sid: sid.to_string(),
            from: e.attr("from").map(str::to_string),
        }),
        None => Err(format!("the <body/> has no sid: {}", short(text))),
    }
}

fn parse(text: &str) -> Result<Element, String> {
    text.trim()
        .parse::<Element>()
        .map_err(|e| format!("not an XML element ({e}): {}", short(text)))
}

/// The start of a peer's text, for a diagnosis.
fn short(text: &str) -> String {
    let t: String = text.trim().chars().take(120).collect();
    if t.len() < text.trim().len() {
        format!("{t}...")
    } else {
        t
    }
}

/// An XML attribute value in single quotes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from Debian's prosody 0.12.3 (lab config, FQDN meet.lab.test).
    const PROSODY_OPEN: &str = "<open from='meet.lab.test' xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='41ba5150-2667-4567-86a1-fb2c798c170a' xml:lang='en' version='1.0'/>";
    const PROSODY_BODY: &str = "<body authid='b95aea86' polling='5' hold='1' xmlns='http://jabber.org/protocol/httpbind' secure='true' sid='b95aea86-6951' requests='2' inactivity='60' xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams' xmpp:version='1.0' ver='1.6' wait='10' from='meet.lab.test'><stream:features xmlns='jabber:client'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>ANONYMOUS</mechanism></mechanisms></stream:features></body>";

    #[test]
    fn prosodys_open_is_read() {
        assert_eq!(
            parse_ws_open(PROSODY_OPEN),
            Ok(StreamOpen {
                from: "meet.lab.test".into(),
                id: "41ba5150-2667-4567-86a1-fb2c798c170a".into()
            })
        );
    }

    #[test]
    fn an_echoed_open_or_a_page_is_not_an_answer() {
        let echoed = parse_ws_open(&ws_open("meet.lab.test")).unwrap_err();
        assert!(echoed.contains("no from or no stream id"), "{echoed}");
        let page = parse_ws_open("<!DOCTYPE html><html><body>It works!</body></html>");
        assert!(page.is_err());
        let error = parse_ws_open("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>").unwrap_err();
        assert!(error.contains("<error>"), "{error}");
    }

    #[test]
    fn prosodys_session_is_read() {
        assert_eq!(
            parse_bosh_session(PROSODY_BODY.as_bytes()),
            Ok(BoshSession {
                sid: "b95aea86-6951".into(),
                from: Some("meet.lab.test".into())
            })
        );
    }

    #[test]
    fn a_terminated_echoed_or_garbled_answer_is_not_a_session() {
        let bad = parse_bosh_session(b"<body condition='bad-request' xmlns:stream='http://etherx.jabber.org/streams' type='terminate' xmlns='http://jabber.org/protocol/httpbind'/>").unwrap_err();
        assert!(bad.contains("'bad-request'"), "{bad}");
        let echoed = bosh_session_request("meet.lab.test", 42, 3);
        assert!(parse_bosh_session(echoed.as_bytes())
            .unwrap_err()
            .contains("no sid"));
        assert!(parse_bosh_session(&echoed.as_bytes()[..40]).is_err());
        assert!(parse_bosh_session(b"\xff\xfe").is_err());
    }

    #[test]
    fn requests_are_well_formed_and_escape_the_domain() {
        let open: Element = ws_open("a'b").parse().unwrap();
        assert_eq!(open.attr("to"), Some("a'b"));
        let body: Element = bosh_session_request("a<b", 7, 3).parse().unwrap();
        assert!(body.is("body", HTTPBIND_NS));
        assert_eq!(body.attr("to"), Some("a<b"));
        assert_eq!(body.attr("rid"), Some("7"));
    }
}
