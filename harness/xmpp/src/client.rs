//! A participant as Jitsi's web client is one (lib-jitsi-meet `xmpp.ts`, `XmppConnection.ts`,
//! `moderator.js`, `ChatRoom.ts`, `strophe.jingle.js`, `JingleSessionPC.ts`; the Rust client
//! gst-meet `lib-gst-meet/src/xmpp/connection.rs` and `conference.rs` does the same steps):
//! XMPP over WebSocket (RFC 7395, subprotocol `xmpp`), SASL ANONYMOUS, bind, XEP-0215 external
//! services, the conference request to the focus, the MUC join, and Jingle with the focus.
//!
//! The caller owns the byte stream (TCP and TLS, with its own destination guard); this module
//! only speaks over it. One task owns the client: each call reads until what it waits for
//! arrives, answering in passing what a web client answers (disco#info, ping, Jingle acks) and
//! keeping a `session-initiate` that arrives early for [`Client::await_session_initiate`].

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use minidom::Element;
use rxml::xml_ncname;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use xmpp_parsers::bind::{BindQuery, BindResponse};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::muc::Muc;
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::sasl::{Auth, Mechanism};
use xmpp_parsers::websocket::Open;

use crate::bosh::Bosh;
use crate::jingle::{self, ClientTransport, SessionOffer};
use crate::xml::{self, DISCO_INFO, EXTDISCO_1, EXTDISCO_2, FOCUS, JINGLE, MUC_USER, STREAM};
use crate::XmppError;

const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const PING: &str = "urn:xmpp:ping";

/// What LJM advertises in disco#info by default (`xmpp.ts` `initFeaturesList()`, Chromium with
/// RTX, REMB, TCC and source names on), plus disco#info itself, which Strophe's caps add. The
/// dtls-sctp feature is what makes jicofo offer the data content (`Features.kt`).
pub const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/disco#info",
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:apps:dtls:0",
    "urn:xmpp:jingle:transports:dtls-sctp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video",
    "http://jitsi.org/json-encoded-sources",
    "urn:ietf:rfc:4588",
    "http://jitsi.org/remb",
    "http://jitsi.org/tcc",
    "urn:ietf:rfc:5761",
    "urn:ietf:rfc:5888",
    "http://jitsi.org/source-name",
];

/// One XEP-0215 service, as prosody's `mod_external_services` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExternalService {
    /// `stun`, `turn` or `turns`.
    #[serde(rename = "type")]
    pub typ: String,
    pub host: String,
    pub port: Option<u16>,
    /// `udp` or `tcp`.
    pub transport: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// XEP-0082 date-time.
    pub expires: Option<String>,
}

/// What a wait is for: the sentence for a timeout and the phrase for a closed connection.
struct Awaiting<'a> {
    /// "the focus did not answer the conference request" (`within N s` is appended).
    timeout: &'a str,
    /// "waiting for the answer to the conference request".
    during: &'a str,
}

/// How the client's stanzas travel.
enum Wire<S> {
    /// RFC 7395 on a stream the caller opened.
    Ws(Box<WebSocketStream<S>>),
    /// XEP-0206 through the caller's HTTP ([`crate::bosh`]).
    Bosh(Bosh),
}

/// A signed-in participant on one XMPP-over-WebSocket connection, or one BOSH session.
pub struct Client<S> {
    wire: Wire<S>,
    domain: String,
    jid: String,
    /// A `session-initiate` that arrived while something else was awaited (not yet acked).
    early: VecDeque<Element>,
    /// The occupant JID once joined (`ROOM@MUC/nick`).
    occupant: Option<String>,
}

fn jid_of(s: &str) -> Result<jid::Jid, XmppError> {
    jid::Jid::new(s).map_err(|e| XmppError::Protocol(format!("{s:?} is not a JID: {e}")))
}

fn is_iq(el: &Element, kind: &str) -> bool {
    el.name() == "iq" && el.attr("type") == Some(kind)
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Opens the websocket on `stream` (`url` such as `wss://FQDN/xmpp-websocket?room=ROOM`;
    /// the stream carries TLS for wss, the caller having set it up), then RFC 7395 `<open/>`,
    /// SASL ANONYMOUS (LJM's anonymous login) and resource binding, all within `timeout`.
    pub async fn connect(
        stream: S,
        url: &str,
        domain: &str,
        timeout: Duration,
    ) -> Result<Self, XmppError> {
        let deadline = Instant::now() + timeout;
        let mut request = url
            .into_client_request()
            .map_err(|e| XmppError::Transport(format!("bad websocket URL {url}: {e}")))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("xmpp"));
        let (ws, _) =
            tokio::time::timeout_at(deadline, tokio_tungstenite::client_async(request, stream))
                .await
                .map_err(|_| {
                    XmppError::timeout(format!("the websocket {url} did not open"), timeout)
                })?
                .map_err(|e| {
                    XmppError::Transport(format!("the websocket {url} was refused: {e}"))
                })?;
        let client = Client {
            wire: Wire::Ws(Box::new(ws)),
            domain: domain.to_string(),
            jid: String::new(),
            early: VecDeque::new(),
            occupant: None,
        };
        client.sign_in(deadline, timeout).await
    }

    /// As [`Client::connect`], over BOSH (XEP-0206) where the site's `config.js` sets no
    /// websocket, as Jitsi's web client then does: `post` sends one `<body/>` to the BOSH URL
    /// (with `?room=ROOM`, as the web client adds it); `wait` is how long the server may hold a
    /// poll, under `post`'s own timeout.
    pub async fn connect_bosh(
        post: crate::bosh::Post,
        domain: &str,
        wait: Duration,
        timeout: Duration,
    ) -> Result<Self, XmppError> {
        let deadline = Instant::now() + timeout;
        let bosh = Bosh::create(post, domain, wait, timeout).await?;
        let client = Client {
            wire: Wire::Bosh(bosh),
            domain: domain.to_string(),
            jid: String::new(),
            early: VecDeque::new(),
            occupant: None,
        };
        client.sign_in(deadline, timeout).await
    }

    /// The stream open, SASL ANONYMOUS and resource binding.
    async fn sign_in(self, deadline: Instant, timeout: Duration) -> Result<Self, XmppError> {
        let mut client = self;
        let domain = client.domain.clone();
        let domain = domain.as_str();
        client.open(deadline, timeout).await?;
        let mechanisms = client.features(deadline, timeout).await?;
        if !mechanisms.children().any(|m| {
            m.name() == "mechanisms"
                && m.children()
                    .any(|c| c.name() == "mechanism" && c.text() == "ANONYMOUS")
        }) {
            return Err(XmppError::Protocol(format!(
                "the server offers no SASL ANONYMOUS for {domain}: {}",
                xml::to_string(&mechanisms)
            )));
        }
        client
            .send(xml::element(Auth {
                mechanism: Mechanism::Anonymous,
                data: Vec::new(),
            })?)
            .await?;
        let answer = client
            .next(
                deadline,
                timeout,
                &Awaiting {
                    timeout: "the server did not answer SASL ANONYMOUS",
                    during: "authenticating",
                },
            )
            .await?;
        if !answer.is("success", SASL) {
            return Err(XmppError::Protocol(format!(
                "SASL ANONYMOUS failed: {}",
                xml::to_string(&answer)
            )));
        }
        client.restart(deadline, timeout).await?;
        client.features(deadline, timeout).await?;
        let id = xml::new_id("bind");
        client
            .send(xml::element(Iq::Set {
                from: None,
                to: None,
                id: id.clone(),
                payload: xml::element(BindQuery::new(None))?,
            })?)
            .await?;
        let result = client
            .result(
                &id,
                deadline,
                timeout,
                "resource binding",
                &Awaiting {
                    timeout: "the server did not answer the bind request",
                    during: "binding a resource",
                },
            )
            .await?;
        let bound = result
            .and_then(|p| BindResponse::try_from(p).ok())
            .ok_or_else(|| XmppError::Protocol("the bind result carries no JID".into()))?;
        client.jid = bound.jid.to_string();
        tracing::info!(jid = %client.jid, "signed in anonymously");
        Ok(client)
    }

    /// The full JID the server bound.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// The stream restart after SASL: a new `<open/>` on the websocket, `xmpp:restart` on BOSH.
    async fn restart(&mut self, deadline: Instant, timeout: Duration) -> Result<(), XmppError> {
        match &self.wire {
            Wire::Ws(_) => self.open(deadline, timeout).await,
            Wire::Bosh(b) => b.restart(),
        }
    }

    async fn open(&mut self, deadline: Instant, timeout: Duration) -> Result<(), XmppError> {
        // BOSH: the session request opened the stream (its answer carries the features).
        if matches!(self.wire, Wire::Bosh(_)) {
            return Ok(());
        }
        let to = jid::BareJid::new(&self.domain)
            .map_err(|e| XmppError::Protocol(format!("domain {}: {e}", self.domain)))?;
        self.send(xml::element(Open::new(to))?).await?;
        let open = self
            .next(
                deadline,
                timeout,
                &Awaiting {
                    timeout: "the server did not answer the stream <open/>",
                    during: "opening the XMPP stream",
                },
            )
            .await?;
        if !open.is("open", FRAMING) {
            return Err(XmppError::Protocol(format!(
                "expected the server's <open/>, got {}",
                xml::to_string(&open)
            )));
        }
        Ok(())
    }

    async fn features(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Element, XmppError> {
        let features = self
            .next(
                deadline,
                timeout,
                &Awaiting {
                    timeout: "the server sent no stream features",
                    during: "reading the stream features",
                },
            )
            .await?;
        if !features.is("features", STREAM) {
            return Err(XmppError::Protocol(format!(
                "expected stream features, got {}",
                xml::to_string(&features)
            )));
        }
        Ok(features)
    }

    /// XEP-0215 services of the domain: `urn:xmpp:extdisco:2`, then `:1` if the server
    /// refuses `:2` (LJM `strophe.jingle.js` `getStunAndTurnCredentials`).
    pub async fn external_services(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<ExternalService>, XmppError> {
        let deadline = Instant::now() + timeout;
        match self.services(EXTDISCO_2, deadline, timeout).await {
            Err(XmppError::Refused { .. }) => self.services(EXTDISCO_1, deadline, timeout).await,
            other => other,
        }
    }

    async fn services(
        &mut self,
        ns: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Vec<ExternalService>, XmppError> {
        let id = xml::new_id("extdisco");
        self.send(xml::element(Iq::Get {
            from: None,
            to: Some(jid_of(&self.domain)?),
            id: id.clone(),
            payload: Element::bare("services", ns),
        })?)
        .await?;
        let what = format!("the external services query ({ns})");
        let result = self
            .result(
                &id,
                deadline,
                timeout,
                &what,
                &Awaiting {
                    timeout: &format!("the server did not answer {what}"),
                    during: "waiting for the external services",
                },
            )
            .await?;
        let Some(services) = result.filter(|p| p.name() == "services") else {
            return Ok(Vec::new());
        };
        Ok(services
            .children()
            .filter(|s| s.name() == "service")
            .map(|s| {
                let a = |k: &str| s.attr(k).map(str::to_string);
                ExternalService {
                    typ: a("type").unwrap_or_default(),
                    host: a("host").unwrap_or_default(),
                    port: s.attr("port").and_then(|p| p.parse().ok()),
                    transport: a("transport"),
                    username: a("username"),
                    password: a("password"),
                    expires: a("expires"),
                }
            })
            .collect())
    }

    /// The conference request LJM sends before joining (`moderator.js`
    /// `_createConferenceIq`): `room`, a `machine-uid`, and the properties a default web
    /// client sets. The answer must say `ready='true'` (jicofo `ConferenceIqHandler` answers
    /// so once it has joined the room); returns its `focusjid`.
    pub async fn conference_request(
        &mut self,
        focus: &str,
        room: &str,
        timeout: Duration,
    ) -> Result<String, XmppError> {
        let deadline = Instant::now() + timeout;
        let property = xml::focus_property;
        let conference = Element::builder("conference", FOCUS)
            .attr(xml_ncname!("room").to_owned(), room)
            .attr(
                xml_ncname!("machine-uid").to_owned(),
                format!("{:032x}", rand::random::<u128>()),
            )
            // analytics.rtcstatsEnabled unset, not a recorder or SIP gateway.
            .append(property("rtcstatsEnabled", "false"))
            .append(property("visitors-version", "1"))
            .build();
        let id = xml::new_id("conf");
        self.send(xml::element(Iq::Set {
            from: None,
            to: Some(jid_of(focus)?),
            id: id.clone(),
            payload: conference,
        })?)
        .await?;
        let answer = self
            .result(
                &id,
                deadline,
                timeout,
                "the conference request",
                &Awaiting {
                    timeout: "the focus did not answer the conference request",
                    during: "waiting for the focus's answer to the conference request",
                },
            )
            .await?
            .filter(|p| p.is("conference", FOCUS))
            .ok_or_else(|| {
                XmppError::Protocol("the focus's answer carries no <conference/>".into())
            })?;
        if answer.attr("ready") != Some("true") {
            return Err(XmppError::Protocol(format!(
                "the focus answered the conference request with ready={:?} (the conference is not ready): {}",
                answer.attr("ready").unwrap_or("(none)"),
                xml::to_string(&answer)
            )));
        }
        answer
            .attr("focusjid")
            .map(str::to_string)
            .ok_or_else(|| XmppError::Protocol("the focus's answer has no focusjid".into()))
    }

    /// Joins `room` (`ROOM@MUC`) as `nick` with the MUC presence (`ChatRoom.ts` `join()`:
    /// `<x xmlns='…muc'/>` and the nick), and waits for the room's self-presence.
    pub async fn join(
        &mut self,
        room: &str,
        nick: &str,
        timeout: Duration,
    ) -> Result<(), XmppError> {
        let deadline = Instant::now() + timeout;
        let occupant = format!("{room}/{nick}");
        let to = jid_of(&occupant)?;
        let presence = Presence::available().with_to(to).with_payloads(vec![
            xml::element(Muc::new())?,
            xml::element(xmpp_parsers::nick::Nick(nick.to_string()))?,
        ]);
        self.send(xml::element(presence)?).await?;
        let own = occupant.clone();
        let joined = self
            .wait(
                deadline,
                timeout,
                &Awaiting {
                    timeout: &format!("the room {room} did not answer the join"),
                    during: "joining the room",
                },
                |el| {
                    (el.name() == "presence" && el.attr("from") == Some(own.as_str()))
                        .then(|| el.clone())
                },
            )
            .await?;
        if joined.attr("type") == Some("error") {
            let (condition, text) = xml::stanza_error(&joined);
            return Err(XmppError::Refused {
                what: format!("joining {occupant}"),
                condition,
                text,
            });
        }
        let self_presence = joined.get_child("x", MUC_USER).is_some_and(|x| {
            x.children()
                .any(|s| s.name() == "status" && s.attr("code") == Some("110"))
        });
        if !self_presence {
            return Err(XmppError::Protocol(format!(
                "the room's presence for {occupant} is not a self-presence (no status 110)"
            )));
        }
        tracing::info!(%occupant, "joined");
        self.occupant = Some(occupant);
        Ok(())
    }

    /// Waits for the focus's `session-initiate`, acks it, and reads the bridge's transport.
    /// It must come from the room's `focus` occupant (LJM `strophe.jingle.js` `onJingle`
    /// treats anything else as peer-to-peer).
    pub async fn await_session_initiate(
        &mut self,
        timeout: Duration,
    ) -> Result<SessionOffer, XmppError> {
        let deadline = Instant::now() + timeout;
        let iq = self
            .wait(
                deadline,
                timeout,
                &Awaiting {
                    timeout: "no session-initiate from the focus",
                    during: "waiting for session-initiate",
                },
                |el| is_session_initiate(el).then(|| el.clone()),
            )
            .await?;
        let from = iq.attr("from").unwrap_or_default().to_string();
        let expected = self
            .occupant
            .as_deref()
            .and_then(|o| o.split_once('/'))
            .map(|(room, _)| format!("{room}/focus"));
        if expected.as_deref() != Some(from.as_str()) {
            self.reply_error(&iq, xml::service_unavailable()).await?;
            return Err(XmppError::Protocol(format!(
                "session-initiate from {from}, not from the room's focus ({})",
                expected.unwrap_or_else(|| "not in a room".into())
            )));
        }
        let jingle = iq
            .get_child("jingle", JINGLE)
            .ok_or_else(|| XmppError::Protocol("session-initiate without <jingle/>".into()))?;
        let offer = jingle::parse_offer(&iq, jingle)?;
        self.ack(&iq).await?;
        tracing::info!(sid = %offer.sid, candidates = offer.transport.candidates.len(), "session-initiate");
        Ok(offer)
    }

    /// Answers `offer` with `session-accept` carrying `client`'s ufrag, pwd and fingerprint
    /// (setup `active`, no candidates) and waits for the focus's result.
    pub async fn accept(
        &mut self,
        offer: &SessionOffer,
        client: &ClientTransport,
        timeout: Duration,
    ) -> Result<(), XmppError> {
        let deadline = Instant::now() + timeout;
        let jingle = jingle::session_accept(offer, &self.jid, client)?;
        let id = xml::new_id("accept");
        self.send(xml::element(Iq::Set {
            from: None,
            to: Some(jid_of(&offer.from)?),
            id: id.clone(),
            payload: jingle,
        })?)
        .await?;
        self.result(
            &id,
            deadline,
            timeout,
            "session-accept",
            &Awaiting {
                timeout: "the focus did not acknowledge session-accept",
                during: "waiting for the focus to acknowledge session-accept",
            },
        )
        .await?;
        Ok(())
    }

    /// Leaves the room (unavailable presence) and closes the stream (`<close/>`), waiting at
    /// most `timeout` for the server's `<close/>`.
    pub async fn leave(mut self, timeout: Duration) -> Result<(), XmppError> {
        let deadline = Instant::now() + timeout;
        let unavailable = match self.occupant.take() {
            Some(occupant) => Some(xml::element(
                Presence::new(PresenceType::Unavailable).with_to(jid_of(&occupant)?),
            )?),
            None => None,
        };
        if let Wire::Bosh(b) = &mut self.wire {
            // XEP-0124 section 13: the unavailable presence rides in the terminating request;
            // the session ends when its answer (or the held poll's) has come back.
            b.terminate(unavailable.as_ref().map(xml::to_string).unwrap_or_default())?;
            let _ = tokio::time::timeout_at(deadline, async {
                while let Some(Ok(_)) = b.recv().await {}
            })
            .await;
            return Ok(());
        }
        if let Some(presence) = unavailable {
            self.send(presence).await?;
        }
        self.send(Element::bare("close", FRAMING)).await?;
        let closed = self
            .wait(
                deadline,
                timeout,
                &Awaiting {
                    timeout: "the server did not close the stream",
                    during: "closing the stream",
                },
                |el| el.is("close", FRAMING).then_some(()),
            )
            .await;
        if let Wire::Ws(ws) = &mut self.wire {
            let _ =
                tokio::time::timeout_at(deadline, WebSocketStream::close(&mut **ws, None)).await;
        }
        match closed {
            Ok(()) | Err(XmppError::Closed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn send(&mut self, el: Element) -> Result<(), XmppError> {
        let text = xml::to_string(&el);
        tracing::trace!(%text, "send");
        match &mut self.wire {
            Wire::Ws(ws) => ws
                .send(Message::Text(text.into()))
                .await
                .map_err(|e| XmppError::Transport(format!("cannot send on the websocket: {e}"))),
            Wire::Bosh(b) => b.send(text),
        }
    }

    /// The next top-level element from the server.
    async fn next(
        &mut self,
        deadline: Instant,
        timeout: Duration,
        awaiting: &Awaiting<'_>,
    ) -> Result<Element, XmppError> {
        let ws = match &mut self.wire {
            Wire::Ws(ws) => ws,
            Wire::Bosh(b) => {
                let el = tokio::time::timeout_at(deadline, b.recv())
                    .await
                    .map_err(|_| XmppError::timeout(awaiting.timeout, timeout))?;
                return match el {
                    None => Err(XmppError::closed(awaiting.during)),
                    Some(Err(e)) => Err(e),
                    Some(Ok(el)) => {
                        tracing::trace!(text = %xml::to_string(&el), "recv (bosh)");
                        Ok(el)
                    }
                };
            }
        };
        loop {
            let message = tokio::time::timeout_at(deadline, ws.next())
                .await
                .map_err(|_| XmppError::timeout(awaiting.timeout, timeout))?;
            let text = match message {
                None => return Err(XmppError::closed(awaiting.during)),
                Some(Err(e)) => {
                    return Err(XmppError::Transport(format!(
                        "the websocket failed while {}: {e}",
                        awaiting.during
                    )))
                }
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Close(_))) => return Err(XmppError::closed(awaiting.during)),
                // RFC 7395: XMPP frames are text; pings are answered by tungstenite.
                Some(Ok(_)) => continue,
            };
            tracing::trace!(%text, "recv");
            return text.parse::<Element>().map_err(|e| {
                XmppError::Protocol(format!("the server sent unparsable XML ({e}): {text}"))
            });
        }
    }

    /// Reads until `pick` takes an element, answering the rest as a web client does.
    async fn wait<T>(
        &mut self,
        deadline: Instant,
        timeout: Duration,
        awaiting: &Awaiting<'_>,
        mut pick: impl FnMut(&Element) -> Option<T>,
    ) -> Result<T, XmppError> {
        if let Some(i) = self.early.iter().position(|el| pick(el).is_some()) {
            if let Some(el) = self.early.remove(i) {
                if let Some(t) = pick(&el) {
                    return Ok(t);
                }
            }
        }
        loop {
            let el = self.next(deadline, timeout, awaiting).await?;
            if let Some(t) = pick(&el) {
                return Ok(t);
            }
            if el.is("close", FRAMING) {
                return Err(XmppError::closed(awaiting.during));
            }
            self.in_passing(el).await?;
        }
    }

    /// The payload of the result to IQ `id`, or its error as [`XmppError::Refused`].
    async fn result(
        &mut self,
        id: &str,
        deadline: Instant,
        timeout: Duration,
        what: &str,
        awaiting: &Awaiting<'_>,
    ) -> Result<Option<Element>, XmppError> {
        let answer = self
            .wait(deadline, timeout, awaiting, |el| {
                (el.name() == "iq"
                    && el.attr("id") == Some(id)
                    && matches!(el.attr("type"), Some("result" | "error")))
                .then(|| el.clone())
            })
            .await?;
        if answer.attr("type") == Some("error") {
            let (condition, text) = xml::stanza_error(&answer);
            return Err(XmppError::Refused {
                what: what.to_string(),
                condition,
                text,
            });
        }
        Ok(answer.children().next().cloned())
    }

    /// What a web client does with a stanza nobody awaits: answer disco#info and ping, ack
    /// Jingle (keeping a `session-initiate` for later), refuse other gets and sets, and let
    /// presences, messages and stray results pass.
    async fn in_passing(&mut self, el: Element) -> Result<(), XmppError> {
        if !(is_iq(&el, "get") || is_iq(&el, "set")) {
            tracing::debug!(stanza = %xml::to_string(&el), "ignored");
            return Ok(());
        }
        if is_session_initiate(&el) {
            self.early.push_back(el);
            return Ok(());
        }
        let payload = el.children().next();
        match payload.map(|p| (p.name(), p.ns())) {
            Some(("query", ns)) if ns == DISCO_INFO && is_iq(&el, "get") => {
                let info = DiscoInfoResult {
                    node: payload.and_then(|p| p.attr("node")).map(str::to_string),
                    identities: vec![Identity::new("client", "web", "en", "jc-xmpp")],
                    features: FEATURES.iter().map(|f| f.to_string()).collect(),
                    extensions: Vec::new(),
                };
                self.reply(&el, Some(xml::element(info)?)).await
            }
            Some(("ping", ns)) if ns == PING => self.reply(&el, None).await,
            Some(("jingle", ns)) if ns == JINGLE && is_iq(&el, "set") => self.ack(&el).await,
            _ => self.reply_error(&el, xml::service_unavailable()).await,
        }
    }

    async fn ack(&mut self, iq: &Element) -> Result<(), XmppError> {
        self.reply(iq, None).await
    }

    async fn reply(&mut self, iq: &Element, payload: Option<Element>) -> Result<(), XmppError> {
        let to = iq.attr("from").map(jid_of).transpose()?;
        self.send(xml::element(Iq::Result {
            from: None,
            to,
            id: iq.attr("id").unwrap_or_default().to_string(),
            payload,
        })?)
        .await
    }

    async fn reply_error(
        &mut self,
        iq: &Element,
        error: xmpp_parsers::stanza_error::StanzaError,
    ) -> Result<(), XmppError> {
        let to = iq.attr("from").map(jid_of).transpose()?;
        self.send(xml::element(Iq::Error {
            from: None,
            to,
            id: iq.attr("id").unwrap_or_default().to_string(),
            error,
            payload: None,
        })?)
        .await
    }
}

fn is_session_initiate(el: &Element) -> bool {
    is_iq(el, "set")
        && el
            .get_child("jingle", JINGLE)
            .is_some_and(|j| j.attr("action") == Some("session-initiate"))
}
