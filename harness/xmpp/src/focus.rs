//! A focus stand-in that plays jicofo's part of the signalling observably, as an XEP-0114
//! component `focus.FQDN` (jicofo itself logs in as a client `focus@auth.FQDN` behind prosody's
//! `client_proxy` component `focus.FQDN`; participants address the same JID either way):
//!
//! - the conference request (jicofo `ConferenceIqHandler.kt` `doHandleConferenceIq`): the
//!   focus joins the MUC as occupant `focus` and sets `muc#roomconfig_whois=anyone`
//!   (`ChatRoomImpl.kt` `joinAs`) before it answers `ready='true'` with `focusjid` = its JID;
//! - occupants tracked by presence; from `MIN_PARTICIPANTS` non-focus occupants on
//!   (`JitsiMeetConferenceImpl.checkMinParticipants`, jicofo `reference.conf`
//!   `min-participants = 2`) every not-yet-invited occupant is invited: an endpoint (id = the
//!   nick, jicofo `Participant.endpointId`) is allocated on the bridge through an
//!   [`Allocator`], and `session-initiate` goes from `ROOM@MUC/focus` with the bridge's
//!   transport (`ParticipantInviteRunnable`, `JingleUtils.createSessionInitiate`);
//! - `session-accept` hands the client's transport to the bridge
//!   (`JitsiMeetConferenceImpl.acceptSession` → `ColibriV2SessionManager.updateParticipant`);
//!   an occupant that leaves has its endpoint expired.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use minidom::Element;
use rxml::xml_ncname;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::muc::Muc;
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::component::Component;
use crate::jingle::{self, BridgeTransport, ClientTransport};
use crate::xml::{self, DISCO_INFO, FOCUS, JINGLE, MUC_OWNER, MUC_USER};
use crate::XmppError;

/// jicofo `reference.conf` `jicofo.conference.min-participants`.
pub const MIN_PARTICIPANTS: usize = 2;
/// The focus's nick in every room (jicofo joins as its XMPP username, `focus`).
pub const FOCUS_NICK: &str = "focus";

/// The bridge as the focus uses it (jicofo's `ColibriV2SessionManager`): one endpoint per
/// participant, id = the participant's nick, grouped by room.
#[async_trait]
pub trait Allocator: Send + Sync {
    /// Allocates endpoint `endpoint` in the conference of `room` (`ROOM@MUC`).
    async fn allocate(&self, room: &str, endpoint: &str) -> Result<BridgeTransport, String>;
    /// Tells the endpoint its client's transport from `session-accept`.
    async fn update(
        &self,
        room: &str,
        endpoint: &str,
        client: &ClientTransport,
    ) -> Result<(), String>;
    /// Expires the endpoint (the participant left).
    async fn expire(&self, room: &str, endpoint: &str) -> Result<(), String>;
}

#[derive(Debug, Default)]
struct Occupant {
    /// The real JID the room shows the owner.
    jid: Option<String>,
    /// The Jingle sid once invited.
    sid: Option<String>,
}

#[derive(Debug, Default)]
struct Room {
    joining: bool,
    /// Joined and configured: conference requests are answered at once.
    ready: bool,
    /// Conference requests waiting for the room: (requester, IQ id).
    waiting: Vec<(String, String)>,
    occupants: BTreeMap<String, Occupant>,
}

/// What an IQ the focus sent was for.
#[derive(Debug)]
enum Sent {
    Config(String),
    Initiate { room: String, nick: String },
}

/// The focus on an authenticated component stream.
pub struct Focus {
    component: Component,
    muc: String,
    allocator: Arc<dyn Allocator>,
    rooms: HashMap<String, Room>,
    sent: HashMap<String, Sent>,
}

fn jid_of(s: &str) -> Result<jid::Jid, XmppError> {
    jid::Jid::new(s).map_err(|e| XmppError::Protocol(format!("{s:?} is not a JID: {e}")))
}

/// (from, to) of the answer to `iq`: its own addresses swapped.
#[allow(clippy::type_complexity)]
fn answering(iq: &Element) -> Result<(Option<jid::Jid>, Option<jid::Jid>), XmppError> {
    Ok((
        iq.attr("to").map(jid_of).transpose()?,
        iq.attr("from").map(jid_of).transpose()?,
    ))
}

fn error(type_: ErrorType, condition: DefinedCondition, text: &str) -> StanzaError {
    StanzaError::new(type_, condition, "en", text)
}

impl Focus {
    /// A focus for the rooms of MUC service `muc` (`conference.FQDN`).
    pub fn new(component: Component, muc: &str, allocator: Arc<dyn Allocator>) -> Self {
        Focus {
            component,
            muc: muc.to_string(),
            allocator,
            rooms: HashMap::new(),
            sent: HashMap::new(),
        }
    }

    /// The focus's own full JID (`focus.FQDN/focus`), the Jingle initiator.
    fn own_jid(&self) -> String {
        format!("{}/{FOCUS_NICK}", self.component.domain())
    }

    /// Serves until the stream ends. Ending is an error: the focus does not reconnect, and
    /// whoever runs it must know it is gone.
    pub async fn run(mut self) -> Result<(), XmppError> {
        loop {
            let Some(stanza) = self.component.next().await? else {
                return Err(XmppError::Closed {
                    during: "the focus was serving (prosody closed the component stream)".into(),
                });
            };
            match self.handle(stanza).await {
                Ok(()) => {}
                Err(e @ (XmppError::Transport(_) | XmppError::Closed { .. })) => return Err(e),
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }

    async fn handle(&mut self, stanza: Element) -> Result<(), XmppError> {
        match (stanza.name(), stanza.attr("type")) {
            ("presence", _) => self.on_presence(&stanza).await,
            ("iq", Some("get" | "set")) => self.on_request(&stanza).await,
            ("iq", Some("result" | "error")) => self.on_answer(&stanza).await,
            _ => Ok(()),
        }
    }

    async fn on_request(&mut self, iq: &Element) -> Result<(), XmppError> {
        let Some(payload) = iq.children().next() else {
            return self
                .reply_error(
                    iq,
                    error(ErrorType::Modify, DefinedCondition::BadRequest, "empty IQ"),
                )
                .await;
        };
        let set = iq.attr("type") == Some("set");
        match (payload.name(), payload.ns().as_str(), set) {
            ("conference", FOCUS, true) => self.on_conference(iq, payload).await,
            ("jingle", JINGLE, true) => self.on_jingle(iq, payload).await,
            ("query", DISCO_INFO, false) => {
                let info = DiscoInfoResult {
                    node: None,
                    identities: vec![Identity::new("component", "generic", "en", "jc-focus")],
                    features: [DISCO_INFO, FOCUS].iter().map(|f| f.to_string()).collect(),
                    extensions: Vec::new(),
                };
                self.reply(iq, Some(xml::element(info)?)).await
            }
            ("ping", "urn:xmpp:ping", false) => self.reply(iq, None).await,
            _ => self.reply_error(iq, xml::service_unavailable()).await,
        }
    }

    /// jicofo `ConferenceIqHandler`: answer once the focus is in the room.
    async fn on_conference(&mut self, iq: &Element, conference: &Element) -> Result<(), XmppError> {
        let requester = iq.attr("from").unwrap_or_default().to_string();
        let id = iq.attr("id").unwrap_or_default().to_string();
        let room = conference.attr("room").unwrap_or_default().to_lowercase();
        let in_muc = jid::BareJid::new(&room)
            .ok()
            .is_some_and(|j| j.node().is_some() && j.domain().as_str() == self.muc);
        if !in_muc {
            return self
                .reply_error(
                    iq,
                    error(
                        ErrorType::Modify,
                        DefinedCondition::BadRequest,
                        &format!("room {room:?} is not a room of {}", self.muc),
                    ),
                )
                .await;
        }
        tracing::info!(%room, %requester, "conference request");
        let state = self.rooms.entry(room.clone()).or_default();
        if state.ready {
            return self.answer_conference(&room, &requester, &id).await;
        }
        state.waiting.push((requester, id));
        if !state.joining {
            state.joining = true;
            let presence = Presence::available()
                .with_from(jid_of(&self.own_jid())?)
                .with_to(jid_of(&format!("{room}/{FOCUS_NICK}"))?)
                .with_payload(Muc::new());
            tracing::info!(%room, "joining as {FOCUS_NICK}");
            self.component.send(xml::element(presence)?).await?;
        }
        Ok(())
    }

    async fn answer_conference(
        &mut self,
        room: &str,
        requester: &str,
        id: &str,
    ) -> Result<(), XmppError> {
        let property = xml::focus_property;
        let answer = Element::builder("conference", FOCUS)
            .attr(xml_ncname!("room").to_owned(), room)
            .attr(xml_ncname!("ready").to_owned(), "true")
            .attr(xml_ncname!("focusjid").to_owned(), self.component.domain())
            .append(property("authentication", "false"))
            .append(property("visitors-supported", "false"))
            .build();
        tracing::info!(%room, %requester, "conference ready");
        self.component
            .send(xml::element(Iq::Result {
                from: Some(jid_of(self.component.domain())?),
                to: Some(jid_of(requester)?),
                id: id.to_string(),
                payload: Some(answer),
            })?)
            .await
    }

    async fn on_presence(&mut self, presence: &Element) -> Result<(), XmppError> {
        let from = presence.attr("from").unwrap_or_default();
        let Some((room, nick)) = from.split_once('/') else {
            return Ok(());
        };
        let (room, nick) = (room.to_string(), nick.to_string());
        if !self.rooms.contains_key(&room) {
            return Ok(());
        }
        let kind = presence.attr("type");
        if nick == FOCUS_NICK {
            return self.on_own_presence(&room, presence, kind).await;
        }
        match kind {
            Some("unavailable") => {
                let gone = self
                    .rooms
                    .get_mut(&room)
                    .and_then(|r| r.occupants.remove(&nick));
                if let Some(occupant) = gone {
                    tracing::info!(%room, %nick, "occupant left");
                    if occupant.sid.is_some() {
                        if let Err(e) = self.allocator.expire(&room, &nick).await {
                            tracing::warn!(%room, %nick, "cannot expire the endpoint: {e}");
                        }
                    }
                }
                Ok(())
            }
            None => {
                let jid = presence
                    .get_child("x", MUC_USER)
                    .and_then(|x| x.get_child("item", MUC_USER))
                    .and_then(|i| i.attr("jid"))
                    .map(str::to_string);
                let Some(state) = self.rooms.get_mut(&room) else {
                    return Ok(());
                };
                let occupant = state.occupants.entry(nick.clone()).or_default();
                if occupant.jid.is_none() {
                    tracing::info!(%room, %nick, jid = ?jid, "occupant joined");
                }
                occupant.jid = jid;
                self.invite_if_enough(&room).await
            }
            _ => Ok(()),
        }
    }

    async fn on_own_presence(
        &mut self,
        room: &str,
        presence: &Element,
        kind: Option<&str>,
    ) -> Result<(), XmppError> {
        if kind == Some("error") {
            let (condition, text) = xml::stanza_error(presence);
            tracing::warn!(%room, %condition, ?text, "the room refused the focus");
            let waiting = self
                .rooms
                .get_mut(room)
                .map(|r| {
                    r.joining = false;
                    std::mem::take(&mut r.waiting)
                })
                .unwrap_or_default();
            for (requester, id) in waiting {
                self.component
                    .send(xml::element(Iq::Error {
                        from: Some(jid_of(self.component.domain())?),
                        to: Some(jid_of(&requester)?),
                        id,
                        error: error(
                            ErrorType::Wait,
                            DefinedCondition::ServiceUnavailable,
                            &format!("the focus cannot join {room}: {condition}"),
                        ),
                        payload: None,
                    })?)
                    .await?;
            }
            return Ok(());
        }
        let joined = kind.is_none()
            && presence.get_child("x", MUC_USER).is_some_and(|x| {
                x.children()
                    .any(|s| s.name() == "status" && s.attr("code") == Some("110"))
            });
        if !joined
            || self
                .sent
                .values()
                .any(|s| matches!(s, Sent::Config(r) if r == room))
        {
            return Ok(());
        }
        tracing::info!(%room, "joined; setting whois=anyone");
        // jicofo ChatRoomImpl.joinAs: participants must see real JIDs to recognise the focus
        // (LJM ChatRoom.ts ignores members without one).
        let form = DataForm::new(
            DataFormType::Submit,
            "http://jabber.org/protocol/muc#roomconfig",
            vec![Field::new("muc#roomconfig_whois", FieldType::ListSingle).with_value("anyone")],
        );
        let query = Element::builder("query", MUC_OWNER)
            .append(xml::element(form)?)
            .build();
        let id = xml::new_id("config");
        self.sent.insert(id.clone(), Sent::Config(room.to_string()));
        self.component
            .send(xml::element(Iq::Set {
                from: Some(jid_of(&self.own_jid())?),
                to: Some(jid_of(room)?),
                id,
                payload: query,
            })?)
            .await
    }

    async fn on_answer(&mut self, iq: &Element) -> Result<(), XmppError> {
        let Some(sent) = iq.attr("id").and_then(|id| self.sent.remove(id)) else {
            return Ok(());
        };
        let failed = (iq.attr("type") == Some("error")).then(|| xml::stanza_error(iq));
        match sent {
            Sent::Config(room) => {
                if let Some((condition, _)) = &failed {
                    tracing::warn!(%room, %condition, "the room configuration was refused");
                }
                let waiting = match self.rooms.get_mut(&room) {
                    Some(r) => {
                        r.ready = true;
                        std::mem::take(&mut r.waiting)
                    }
                    None => Vec::new(),
                };
                for (requester, id) in waiting {
                    self.answer_conference(&room, &requester, &id).await?;
                }
                // Occupants that joined before the room was configured.
                self.invite_if_enough(&room).await
            }
            Sent::Initiate { room, nick } => {
                match failed {
                    None => tracing::info!(%room, %nick, "session-initiate acknowledged"),
                    Some((condition, text)) => {
                        tracing::warn!(%room, %nick, %condition, ?text, "session-initiate refused")
                    }
                }
                Ok(())
            }
        }
    }

    /// Invites every occupant not yet invited once the room has enough of them.
    async fn invite_if_enough(&mut self, room: &str) -> Result<(), XmppError> {
        let Some(state) = self.rooms.get(room) else {
            return Ok(());
        };
        if !state.ready || state.occupants.len() < MIN_PARTICIPANTS {
            return Ok(());
        }
        let uninvited: Vec<String> = state
            .occupants
            .iter()
            .filter(|(_, o)| o.sid.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        for nick in uninvited {
            self.invite(room, &nick).await?;
        }
        Ok(())
    }

    async fn invite(&mut self, room: &str, nick: &str) -> Result<(), XmppError> {
        let bridge = match self.allocator.allocate(room, nick).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%room, %nick, "the bridge allocation failed: {e}");
                return Ok(());
            }
        };
        tracing::info!(%room, %nick, candidates = bridge.transport.candidates.len(), "endpoint allocated");
        let sid = format!("{:x}", rand::random::<u64>());
        let jingle = jingle::session_initiate(&sid, &self.own_jid(), &bridge)?;
        if let Some(o) = self
            .rooms
            .get_mut(room)
            .and_then(|r| r.occupants.get_mut(nick))
        {
            o.sid = Some(sid.clone());
        }
        let id = xml::new_id("initiate");
        self.sent.insert(
            id.clone(),
            Sent::Initiate {
                room: room.to_string(),
                nick: nick.to_string(),
            },
        );
        tracing::info!(%room, %nick, %sid, "sending session-initiate");
        self.component
            .send(xml::element(Iq::Set {
                from: Some(jid_of(&self.own_jid())?),
                to: Some(jid_of(&format!("{room}/{nick}"))?),
                id,
                payload: jingle,
            })?)
            .await
    }

    /// Jingle from an occupant (jicofo `JingleSession.doProcessIq`).
    async fn on_jingle(&mut self, iq: &Element, jingle: &Element) -> Result<(), XmppError> {
        let from = iq.attr("from").unwrap_or_default();
        let (room, nick) = from.split_once('/').unwrap_or((from, ""));
        let (room, nick) = (room.to_string(), nick.to_string());
        let known = self
            .rooms
            .get(&room)
            .and_then(|r| r.occupants.get(&nick))
            .and_then(|o| o.sid.as_deref())
            .is_some_and(|sid| Some(sid) == jingle.attr("sid"));
        if !known {
            return self
                .reply_error(
                    iq,
                    error(
                        ErrorType::Cancel,
                        DefinedCondition::ItemNotFound,
                        "unknown session",
                    ),
                )
                .await;
        }
        match jingle.attr("action") {
            Some("session-accept") => {
                let client = match jingle::parse_accept(jingle) {
                    Ok(c) => c,
                    Err(e) => {
                        return self
                            .reply_error(
                                iq,
                                error(
                                    ErrorType::Modify,
                                    DefinedCondition::BadRequest,
                                    &e.to_string(),
                                ),
                            )
                            .await
                    }
                };
                tracing::info!(%room, %nick, ufrag = %client.ufrag, "session-accept");
                match self.allocator.update(&room, &nick, &client).await {
                    Ok(()) => self.reply(iq, None).await,
                    Err(e) => {
                        tracing::warn!(%room, %nick, "the bridge update failed: {e}");
                        self.reply_error(
                            iq,
                            error(ErrorType::Wait, DefinedCondition::InternalServerError, &e),
                        )
                        .await
                    }
                }
            }
            Some("session-terminate") => {
                if let Some(o) = self
                    .rooms
                    .get_mut(&room)
                    .and_then(|r| r.occupants.get_mut(&nick))
                {
                    o.sid = None;
                }
                if let Err(e) = self.allocator.expire(&room, &nick).await {
                    tracing::warn!(%room, %nick, "cannot expire the endpoint: {e}");
                }
                self.reply(iq, None).await
            }
            // transport-info, source-add and the rest: acknowledged, as jicofo does.
            _ => self.reply(iq, None).await,
        }
    }

    async fn reply(&mut self, iq: &Element, payload: Option<Element>) -> Result<(), XmppError> {
        let (from, to) = answering(iq)?;
        self.component
            .send(xml::element(Iq::Result {
                from,
                to,
                id: iq.attr("id").unwrap_or_default().to_string(),
                payload,
            })?)
            .await
    }

    async fn reply_error(&mut self, iq: &Element, error: StanzaError) -> Result<(), XmppError> {
        let (from, to) = answering(iq)?;
        self.component
            .send(xml::element(Iq::Error {
                from,
                to,
                id: iq.attr("id").unwrap_or_default().to_string(),
                error,
                payload: None,
            })?)
            .await
    }
}
