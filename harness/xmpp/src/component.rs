//! An XEP-0114 external component connection, as prosody's `mod_component.lua` accepts one:
//! open `jabber:component:accept` to the component's domain, answer the stream id with
//! `<handshake>hex(SHA-1(id + secret))</handshake>` (xmpp-parsers
//! `Handshake::from_stream_id_and_password`), then exchange stanzas. The stream is one long
//! XML document, read with rxml's incremental parser into minidom elements; stanzas are moved
//! to `jabber:client` on the way in and back on the way out, so xmpp-parsers reads and builds
//! them as it does for the participant.

use std::net::SocketAddr;
use std::time::Duration;

use minidom::tree_builder::TreeBuilder;
use minidom::Element;
use rxml::{AsyncRawReader, RawEvent};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use xmpp_parsers::component::Handshake;

use crate::xml::{self, CLIENT, COMPONENT, STREAM};
use crate::XmppError;

/// A component stream after a successful handshake.
pub struct Component {
    reader: AsyncRawReader<BufReader<OwnedReadHalf>>,
    tree: TreeBuilder,
    writer: OwnedWriteHalf,
    domain: String,
}

impl Component {
    /// Connects to prosody's component port and authenticates as `domain` with `secret`.
    /// Only a loopback `addr` is accepted: the component port is private to the host
    /// (`mod_component` listens on 127.0.0.1/::1 by default).
    pub async fn connect(
        addr: SocketAddr,
        domain: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<Self, XmppError> {
        if !addr.ip().is_loopback() {
            return Err(XmppError::Transport(format!(
                "refusing to connect the component to {addr}: only loopback is allowed"
            )));
        }
        jid::BareJid::new(domain)
            .map_err(|e| XmppError::Protocol(format!("component domain {domain:?}: {e}")))?;
        let work = async {
            let stream = TcpStream::connect(addr).await.map_err(|e| {
                XmppError::Transport(format!("cannot reach the component port {addr}: {e}"))
            })?;
            let (read, write) = stream.into_split();
            let mut c = Component {
                reader: AsyncRawReader::new(BufReader::new(read)),
                tree: TreeBuilder::new(),
                writer: write,
                domain: domain.to_string(),
            };
            // The stream header cannot be one element: it stays open for the session.
            let header = format!(
                "<?xml version='1.0'?><stream:stream xmlns='{COMPONENT}' xmlns:stream='{STREAM}' to='{domain}'>"
            );
            c.write(header.as_bytes()).await?;
            let id = c.stream_id().await?;
            c.write(
                xml::to_string(&xml::element(Handshake::from_stream_id_and_password(
                    id, secret,
                ))?)
                .as_bytes(),
            )
            .await?;
            match c.next_raw().await? {
                Some(el) if el.name() == "handshake" => Ok(c),
                Some(el) if el.is("error", STREAM) => Err(XmppError::Refused {
                    what: format!("the component handshake for {domain}"),
                    condition: el
                        .children()
                        .find(|c| c.name() != "text")
                        .map(|c| c.name().to_string())
                        .unwrap_or_else(|| "stream error".into()),
                    text: el
                        .children()
                        .find(|c| c.name() == "text")
                        .map(Element::text),
                }),
                Some(el) => Err(XmppError::Protocol(format!(
                    "expected <handshake/>, got {}",
                    xml::to_string(&el)
                ))),
                None => Err(XmppError::closed("the component handshake")),
            }
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| {
            XmppError::timeout(
                format!("prosody's component port {addr} did not complete the handshake"),
                timeout,
            )
        })?
    }

    /// The component's domain (`focus.FQDN`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), XmppError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| XmppError::Transport(format!("cannot write to the component stream: {e}")))
    }

    /// Sends a stanza built in `jabber:client` (xmpp-parsers' namespace).
    pub async fn send(&mut self, el: Element) -> Result<(), XmppError> {
        let text = xml::to_string(&xml::rewrite_ns(el, CLIENT, COMPONENT));
        tracing::trace!(%text, "component send");
        self.write(text.as_bytes()).await
    }

    /// The server's stream header's `id`.
    async fn stream_id(&mut self) -> Result<String, XmppError> {
        while self.tree.depth() == 0 {
            let event = self
                .event()
                .await?
                .ok_or_else(|| XmppError::closed("waiting for the server's stream header"))?;
            self.tree
                .process_event(event)
                .map_err(|e| XmppError::Protocol(format!("bad stream header: {e}")))?;
        }
        self.tree
            .top()
            .and_then(|root| root.attr("id"))
            .map(str::to_string)
            .ok_or_else(|| XmppError::Protocol("the server's stream header has no id".into()))
    }

    async fn event(&mut self) -> Result<Option<RawEvent>, XmppError> {
        self.reader
            .read()
            .await
            .map_err(|e| XmppError::Transport(format!("the component stream failed: {e}")))
    }

    /// The next top-level element as sent, or `None` when the stream ends.
    async fn next_raw(&mut self) -> Result<Option<Element>, XmppError> {
        loop {
            let Some(event) = self.event().await? else {
                return Ok(None);
            };
            let foot = matches!(event, RawEvent::ElementFoot(_));
            self.tree.process_event(event).map_err(|e| {
                XmppError::Protocol(format!("bad XML on the component stream: {e}"))
            })?;
            if foot {
                match self.tree.depth() {
                    0 => return Ok(None),
                    1 => {
                        if let Some(el) = self.tree.unshift_child() {
                            return Ok(Some(el));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The next stanza, in `jabber:client`; `None` when the server closed the stream.
    /// A stream error ends the stream with [`XmppError::Refused`].
    pub async fn next(&mut self) -> Result<Option<Element>, XmppError> {
        let Some(el) = self.next_raw().await? else {
            return Ok(None);
        };
        if el.is("error", STREAM) {
            let condition = el
                .children()
                .find(|c| c.name() != "text")
                .map(|c| c.name().to_string())
                .unwrap_or_else(|| "stream error".into());
            return Err(XmppError::Refused {
                what: "the component stream".into(),
                condition,
                text: el
                    .children()
                    .find(|c| c.name() == "text")
                    .map(Element::text),
            });
        }
        let el = xml::rewrite_ns(el, COMPONENT, CLIENT);
        tracing::trace!(text = %xml::to_string(&el), "component recv");
        Ok(Some(el))
    }
}
