//! Namespaces and the few element helpers both sides share. Standard stanzas and payloads are
//! built and read with xmpp-parsers; Jitsi's extensions (conference IQ, `web-socket`,
//! `sctpmap`, `bridge-session`) are plain minidom elements, as gst-meet handles them.

use minidom::{Element, Node};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::XmppError;

pub const CLIENT: &str = "jabber:client";
/// XEP-0114: the component stream's default namespace (stanzas are rewritten to and from
/// `jabber:client` at the component's edge, see [`rewrite_ns`]).
pub const COMPONENT: &str = "jabber:component:accept";
pub const STREAM: &str = "http://etherx.jabber.org/streams";
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// jitsi-xmpp-extensions `ConferenceIq.NAMESPACE`.
pub const FOCUS: &str = "http://jitsi.org/protocol/focus";
/// jitsi-xmpp-extensions `WebSocketPacketExtension.NAMESPACE`.
pub const COLIBRI: &str = "http://jitsi.org/protocol/colibri";
/// `sctpmap` (jitsi-xmpp-extensions `SctpMapExtension.NAMESPACE`), also the disco feature
/// jicofo looks for before it offers a data content.
pub const DTLS_SCTP: &str = "urn:xmpp:jingle:transports:dtls-sctp:1";
pub const EXTDISCO_2: &str = "urn:xmpp:extdisco:2";
pub const EXTDISCO_1: &str = "urn:xmpp:extdisco:1";
pub const JINGLE: &str = "urn:xmpp:jingle:1";
pub const ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
pub const DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// The same tree with every element of namespace `from` moved to `to` (attributes, text and
/// other namespaces untouched). XEP-0114 stanzas are `jabber:component:accept`; xmpp-parsers
/// is built for `jabber:client`.
pub fn rewrite_ns(mut el: Element, from: &str, to: &str) -> Element {
    let ns = if el.ns() == from {
        to.to_string()
    } else {
        el.ns()
    };
    let mut out = Element::bare(el.name(), ns);
    *out.attrs_mut() = el.attrs().clone();
    for node in el.take_nodes() {
        match node {
            Node::Element(child) => {
                out.append_child(rewrite_ns(child, from, to));
            }
            Node::Text(text) => out.append_text_node(text),
        }
    }
    out
}

/// The serialized element (for the wire and for reports).
pub fn to_string(el: &Element) -> String {
    let mut buf = Vec::new();
    match el.write_to(&mut buf) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(e) => format!("<!-- unserializable element: {e} -->"),
    }
}

/// An xmpp-parsers value as an element.
pub fn element<T>(value: T) -> Result<Element, XmppError>
where
    Element: TryFrom<T>,
    <Element as TryFrom<T>>::Error: std::fmt::Display,
{
    Element::try_from(value).map_err(|e| XmppError::Protocol(format!("cannot serialize: {e}")))
}

/// The defined condition and text of a stanza's `<error/>`, as RFC 6120 section 8.3 writes it.
pub fn stanza_error(stanza: &Element) -> (String, Option<String>) {
    let Some(error) = stanza.children().find(|c| c.name() == "error") else {
        return ("error without an <error/> element".into(), None);
    };
    let condition = error
        .children()
        .find(|c| c.ns() == STANZAS && c.name() != "text")
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| "undefined-condition".into());
    let text = error
        .children()
        .find(|c| c.name() == "text")
        .map(Element::text)
        .filter(|t| !t.is_empty());
    (condition, text)
}

/// The error a peer gets for a get/set nobody here handles (RFC 6120 section 8.4).
pub fn service_unavailable() -> StanzaError {
    StanzaError::new(
        ErrorType::Cancel,
        DefinedCondition::ServiceUnavailable,
        "en",
        "not handled here",
    )
}

/// A random stanza id.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::random::<u64>())
}

/// A `<property name=.. value=../>` of Jitsi's conference IQ (jitsi-xmpp-extensions
/// `ConferenceIq`), as the web client sends them and jicofo answers them.
pub fn focus_property(name: &str, value: &str) -> Element {
    Element::builder("property", FOCUS)
        .attr(rxml::xml_ncname!("name").to_owned(), name)
        .attr(rxml::xml_ncname!("value").to_owned(), value)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_moves_only_the_given_namespace() {
        let el: Element = "<iq xmlns='jabber:component:accept' type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/><error><x/></error></iq>"
            .parse()
            .unwrap();
        let out = rewrite_ns(el, COMPONENT, CLIENT);
        assert_eq!(out.ns(), CLIENT);
        assert_eq!(out.attr("type"), Some("get"));
        assert_eq!(out.get_child("query", DISCO_INFO).unwrap().ns(), DISCO_INFO);
        assert_eq!(
            out.get_child("error", CLIENT)
                .unwrap()
                .children()
                .next()
                .unwrap()
                .ns(),
            CLIENT
        );
    }

    #[test]
    fn stanza_errors_are_read() {
        let el: Element = "<iq xmlns='jabber:client' type='error' id='1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text></error></iq>"
            .parse()
            .unwrap();
        assert_eq!(
            stanza_error(&el),
            ("service-unavailable".to_string(), Some("gone".to_string()))
        );
    }
}
