//! Jingle as jicofo and lib-jitsi-meet speak it: the bridge's ICE-UDP transport in
//! `session-initiate` and the client's in `session-accept`, converted to and from
//! jc-videobridge's [`ParsedTransport`].
//!
//! Built with xmpp-parsers (`Jingle`, `Content`, `jingle_rtp::Description`, `Candidate`,
//! `Fingerprint`, `Group`); the transport element itself is assembled here because Jitsi puts
//! children in it that xmpp-parsers does not model (`sctpmap`, `web-socket`, `rtcp-mux`) and
//! xmpp-parsers' ice-udp `Transport` has no setters for ufrag/pwd. Reading is done on the
//! element tree for the same reason: xmpp-parsers drops `web-socket`, `sctpmap`, `tcptype` and
//! all fingerprints but one.

use jc_videobridge::candidates::{ParsedCandidate, ParsedTransport};
use minidom::Element;
use rxml::xml_ncname;
use xmpp_parsers::jingle::{
    Action, ContentId, Creator, Description, Jingle, Senders, SessionId, Transport,
};
use xmpp_parsers::jingle_dtls_srtp::{Fingerprint, Setup};
use xmpp_parsers::jingle_grouping::{Content as GroupContent, Group, Semantics};
use xmpp_parsers::jingle_ice_udp::{Candidate, Type as CandidateType};
use xmpp_parsers::jingle_rtp::{Description as RtpDescription, PayloadType};

use crate::xml::{self, COLIBRI, DTLS, DTLS_SCTP, ICE_UDP};
use crate::XmppError;

/// The SCTP port browsers put in `a=sctp-port` and LJM copies into the answer's `sctpmap`.
pub const CLIENT_SCTP_PORT: u16 = 5000;

/// The bridge's side of one endpoint, as an [`crate::focus::Allocator`] returns it and
/// `session-initiate` carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BridgeTransport {
    /// ufrag, pwd, candidates, fingerprints `(hash, value)`.
    pub transport: ParsedTransport,
    /// The bridge's SCTP port when it runs the data channel over SCTP (JVB: 5000).
    pub sctp_port: Option<u16>,
    /// The colibri web-socket URL when the bridge offers one.
    pub web_socket: Option<String>,
}

/// The client's side, as `session-accept` carries it: credentials and the DTLS fingerprint,
/// never candidates (the bridge learns the client peer-reflexively).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClientTransport {
    pub ufrag: String,
    pub pwd: String,
    /// `(hash, value)`, e.g. `("sha-256", "AB:CD:...")`.
    pub fingerprint: (String, String),
}

/// A `session-initiate` as the participant received it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionOffer {
    pub sid: String,
    /// The sender, `ROOM@MUC/focus`.
    pub from: String,
    /// The bridge's transport (from the first content that has one: jicofo puts the same,
    /// bundled, in every content).
    pub transport: ParsedTransport,
    /// The fingerprint's `setup` (`actpass` from JVB).
    pub setup: Option<String>,
    /// `sctpmap number` of the data content.
    pub sctp_port: Option<u16>,
    /// The colibri `web-socket url`.
    pub colibri_websocket: Option<String>,
    /// Content names in order (`audio`, `video`, `data`).
    pub contents: Vec<String>,
    /// The whole IQ as received, for reports.
    pub raw: String,
}

fn candidate_element(c: &ParsedCandidate) -> Result<Element, XmppError> {
    let bad = |what: &str| XmppError::Protocol(format!("candidate {}: {what}", c.foundation));
    let typed = Candidate {
        component: u8::try_from(c.component).map_err(|_| bad("component out of range"))?,
        foundation: c.foundation.clone(),
        generation: c.generation.unwrap_or(0).try_into().unwrap_or(0),
        id: c
            .id
            .clone()
            .unwrap_or_else(|| format!("{:x}", rand::random::<u32>())),
        ip: c.ip.parse().map_err(|_| bad("ip is not an address"))?,
        port: c.port,
        priority: c.priority,
        protocol: c.protocol.clone(),
        rel_addr: c
            .rel_addr
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| bad("rel-addr is not an address"))?,
        rel_port: c.rel_port,
        // jvb IceTransport.kt toCandidatePacketExtension: network 0.
        network: Some(0),
        type_: c
            .typ
            .parse::<CandidateType>()
            .map_err(|_| bad("unknown type"))?,
    };
    let mut el = xml::element(typed)?;
    // xmpp-parsers has no tcptype; ICE-TCP candidates need it.
    if let Some(t) = &c.tcptype {
        el.set_attr(
            rxml::Namespace::NONE,
            xml_ncname!("tcptype").to_owned(),
            t.as_str(),
        );
    }
    Ok(el)
}

fn setup_of(setup: &str) -> Result<Setup, XmppError> {
    setup
        .parse()
        .map_err(|_| XmppError::Protocol(format!("unknown DTLS setup {setup:?}")))
}

/// An ICE-UDP `<transport/>` as JVB describes one (jvb `IceTransport.kt` `describe()`,
/// `DtlsTransport.kt` `describe()`) plus what jicofo adds per content (`sctpmap` for data,
/// jicofo `JingleOfferFactory`/`updateOffer`).
fn transport_element(
    t: &ParsedTransport,
    setup: &str,
    rtcp_mux: bool,
    sctp: Option<(u16, u32)>,
    web_socket: Option<&str>,
) -> Result<Element, XmppError> {
    let mut b = Element::builder("transport", ICE_UDP)
        .attr(xml_ncname!("ufrag").to_owned(), t.ufrag.as_str())
        .attr(xml_ncname!("pwd").to_owned(), t.pwd.as_str());
    for (hash, value) in &t.fingerprints {
        let fp = Fingerprint::from_colon_separated_hex(setup_of(setup)?, hash, value)
            .map_err(|e| XmppError::Protocol(format!("fingerprint {hash} {value}: {e}")))?;
        b = b.append(xml::element(fp)?);
    }
    for c in &t.candidates {
        b = b.append(candidate_element(c)?);
    }
    if rtcp_mux {
        b = b.append(Element::bare("rtcp-mux", ICE_UDP));
    }
    if let Some((port, streams)) = sctp {
        b = b.append(
            Element::builder("sctpmap", DTLS_SCTP)
                .attr(xml_ncname!("number").to_owned(), port)
                .attr(xml_ncname!("protocol").to_owned(), "webrtc-datachannel")
                .attr(xml_ncname!("streams").to_owned(), streams)
                .build(),
        );
    }
    if let Some(url) = web_socket {
        b = b.append(
            Element::builder("web-socket", COLIBRI)
                .attr(xml_ncname!("url").to_owned(), url)
                .build(),
        );
    }
    Ok(b.build())
}

/// The offer's descriptions, reduced to one codec per medium: jicofo `JingleOfferFactory`
/// (opus 111 with minptime/useinbandfec, VP8 100) plus the `rtcp-mux` `updateOffer()` adds.
/// The rest of jicofo's codec list is left out: the probe negotiates no media.
fn offer_description(media: &str) -> RtpDescription {
    let mut d = RtpDescription::new(media.to_string());
    match media {
        "audio" => {
            let mut opus = PayloadType::new(111, "opus".into(), 48000, 2);
            opus.parameters = vec![
                xmpp_parsers::jingle_rtp::Parameter {
                    name: "minptime".into(),
                    value: "10".into(),
                },
                xmpp_parsers::jingle_rtp::Parameter {
                    name: "useinbandfec".into(),
                    value: "1".into(),
                },
            ];
            d.payload_types.push(opus);
            d.rtcp_mux = true;
        }
        "video" => {
            d.payload_types
                .push(PayloadType::new(100, "VP8".into(), 90000, 1));
            d.rtcp_mux = true;
        }
        _ => {}
    }
    d
}

/// The `<jingle action='session-initiate'/>` jicofo sends (jicofo `JingleUtils.kt`
/// `createSessionInitiate`, contents from `JingleOfferFactory`): audio, video and, when the
/// bridge runs SCTP, data with `sctpmap`; the bridge's transport in every content; a BUNDLE
/// group. Fingerprints carry `setup='actpass'` as JVB describes them.
pub fn session_initiate(
    sid: &str,
    initiator: &str,
    bridge: &BridgeTransport,
) -> Result<Element, XmppError> {
    let initiator = jid::Jid::new(initiator)
        .map_err(|e| XmppError::Protocol(format!("initiator {initiator}: {e}")))?;
    let mut jingle =
        Jingle::new(Action::SessionInitiate, SessionId(sid.to_string())).with_initiator(initiator);
    let mut names = vec!["audio", "video"];
    if bridge.sctp_port.is_some() {
        names.push("data");
    }
    for name in &names {
        let media = if *name == "data" { "application" } else { name };
        // jicofo: streams='1024' in the offer's sctpmap.
        let sctp = (*name == "data")
            .then_some(bridge.sctp_port)
            .flatten()
            .map(|p| (p, 1024));
        let transport = transport_element(
            &bridge.transport,
            "actpass",
            true,
            sctp,
            bridge.web_socket.as_deref(),
        )?;
        jingle = jingle.add_content(
            xmpp_parsers::jingle::Content::new(Creator::Initiator, ContentId(name.to_string()))
                .with_senders(Senders::Both)
                .with_description(Description::Rtp(offer_description(media)))
                .with_transport(Transport::Unknown(transport)),
        );
    }
    jingle = jingle.set_group(Group {
        semantics: Semantics::Bundle,
        contents: names.iter().map(|n| GroupContent::new(n)).collect(),
    });
    xml::element(jingle)
}

/// The `<jingle action='session-accept'/>` LJM answers with (`JingleSessionPC` `_sendSessionAccept`,
/// `SDP.toJingle`): every offered content with `creator='responder'`, its description's
/// medium, the client's transport (setup `active`, no candidates; `sctpmap` with
/// `streams='0'` on data), and a BUNDLE group.
pub fn session_accept(
    offer: &SessionOffer,
    responder: &str,
    client: &ClientTransport,
) -> Result<Element, XmppError> {
    let initiator = jid::Jid::new(&offer.from)
        .map_err(|e| XmppError::Protocol(format!("initiator {}: {e}", offer.from)))?;
    let responder = jid::Jid::new(responder)
        .map_err(|e| XmppError::Protocol(format!("responder {responder}: {e}")))?;
    let transport = ParsedTransport {
        ufrag: client.ufrag.clone(),
        pwd: client.pwd.clone(),
        candidates: Vec::new(),
        fingerprints: vec![client.fingerprint.clone()],
    };
    let mut jingle = Jingle::new(Action::SessionAccept, SessionId(offer.sid.clone()))
        .with_initiator(initiator)
        .with_responder(responder);
    for name in &offer.contents {
        let media = if name == "data" { "application" } else { name };
        let sctp = (name == "data").then_some((CLIENT_SCTP_PORT, 0));
        let mut d = RtpDescription::new(media.to_string());
        d.rtcp_mux = name != "data";
        jingle = jingle.add_content(
            xmpp_parsers::jingle::Content::new(Creator::Responder, ContentId(name.clone()))
                .with_senders(Senders::Both)
                .with_description(Description::Rtp(d))
                .with_transport(Transport::Unknown(transport_element(
                    &transport, "active", true, sctp, None,
                )?)),
        );
    }
    jingle = jingle.set_group(Group {
        semantics: Semantics::Bundle,
        contents: offer
            .contents
            .iter()
            .map(|n| GroupContent::new(n))
            .collect(),
    });
    xml::element(jingle)
}

/// Candidates as the bridge wrote them (attributes read one by one: xmpp-parsers would reject
/// a candidate without `id` or `generation` and drop `tcptype`).
fn parse_candidate(c: &Element, i: usize) -> Result<ParsedCandidate, XmppError> {
    let need = |k: &str| {
        c.attr(k)
            .map(str::to_string)
            .ok_or_else(|| XmppError::Protocol(format!("candidate {i} has no {k}")))
    };
    let num = |k: &str| -> Result<Option<u64>, XmppError> {
        c.attr(k)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    XmppError::Protocol(format!("candidate {i}: {k} {v:?} is not a number"))
                })
            })
            .transpose()
    };
    let port =
        num("port")?.ok_or_else(|| XmppError::Protocol(format!("candidate {i} has no port")))?;
    Ok(ParsedCandidate {
        foundation: need("foundation")?,
        component: num("component")?.unwrap_or(1) as u16,
        protocol: need("protocol")?,
        ip: need("ip")?,
        port: u16::try_from(port)
            .map_err(|_| XmppError::Protocol(format!("candidate {i}: port {port} out of range")))?,
        priority: num("priority")?.unwrap_or(0) as u32,
        typ: need("type")?,
        rel_addr: c.attr("rel-addr").map(str::to_string),
        rel_port: num("rel-port")?.map(|p| p as u16),
        tcptype: c.attr("tcptype").map(str::to_string),
        generation: num("generation")?.map(|g| g as u32),
        id: c.attr("id").map(str::to_string),
    })
}

/// What one ICE-UDP transport element says: the transport, the first fingerprint's setup, the
/// `sctpmap` number, the `web-socket` url.
type TransportParts = (ParsedTransport, Option<String>, Option<u16>, Option<String>);

fn parse_transport(t: &Element) -> Result<TransportParts, XmppError> {
    let attr = |k: &str| {
        t.attr(k)
            .map(str::to_string)
            .ok_or_else(|| XmppError::Protocol(format!("the ICE-UDP transport has no {k}")))
    };
    let mut candidates = Vec::new();
    let mut fingerprints = Vec::new();
    let mut setup = None;
    let mut sctp_port = None;
    let mut web_socket = None;
    for child in t.children() {
        match (child.name(), child.ns().as_str()) {
            ("candidate", ICE_UDP) => candidates.push(parse_candidate(child, candidates.len())?),
            ("fingerprint", DTLS) => {
                if setup.is_none() {
                    setup = child.attr("setup").map(str::to_string);
                }
                fingerprints.push((
                    child.attr("hash").unwrap_or_default().to_string(),
                    child.text().trim().to_string(),
                ));
            }
            ("sctpmap", DTLS_SCTP) => {
                sctp_port = child.attr("number").and_then(|n| n.parse().ok());
            }
            ("web-socket", COLIBRI) => web_socket = child.attr("url").map(str::to_string),
            _ => {}
        }
    }
    Ok((
        ParsedTransport {
            ufrag: attr("ufrag")?,
            pwd: attr("pwd")?,
            candidates,
            fingerprints,
        },
        setup,
        sctp_port,
        web_socket,
    ))
}

fn transports(jingle: &Element) -> impl Iterator<Item = (&Element, &Element)> {
    jingle
        .children()
        .filter(|c| c.name() == "content")
        .filter_map(|c| c.get_child("transport", ICE_UDP).map(|t| (c, t)))
}

/// Reads a `session-initiate` IQ (already known to carry one) into a [`SessionOffer`].
pub fn parse_offer(iq: &Element, jingle: &Element) -> Result<SessionOffer, XmppError> {
    let sid = jingle
        .attr("sid")
        .ok_or_else(|| XmppError::Protocol("session-initiate without sid".into()))?
        .to_string();
    let contents: Vec<String> = jingle
        .children()
        .filter(|c| c.name() == "content")
        .filter_map(|c| c.attr("name").map(str::to_string))
        .collect();
    let mut first = None;
    let mut sctp = None;
    let mut ws = None;
    for (_, t) in transports(jingle) {
        let (parsed, setup, port, url) = parse_transport(t)?;
        sctp = sctp.or(port);
        ws = ws.or(url);
        if first.is_none() {
            first = Some((parsed, setup));
        }
    }
    let (transport, setup) = first.ok_or_else(|| {
        XmppError::Protocol("session-initiate without an ICE-UDP transport".into())
    })?;
    Ok(SessionOffer {
        sid,
        from: iq.attr("from").unwrap_or_default().to_string(),
        transport,
        setup,
        sctp_port: sctp,
        colibri_websocket: ws,
        contents,
        raw: xml::to_string(iq),
    })
}

/// The client's transport from a `session-accept` (first content's, as jicofo's
/// `ConferenceUtil.getTransport` takes it).
pub fn parse_accept(jingle: &Element) -> Result<ClientTransport, XmppError> {
    let (_, t) = transports(jingle)
        .next()
        .ok_or_else(|| XmppError::Protocol("session-accept without an ICE-UDP transport".into()))?;
    let (parsed, _, _, _) = parse_transport(t)?;
    let fingerprint =
        parsed.fingerprints.into_iter().next().ok_or_else(|| {
            XmppError::Protocol("session-accept without a DTLS fingerprint".into())
        })?;
    Ok(ClientTransport {
        ufrag: parsed.ufrag,
        pwd: parsed.pwd,
        fingerprint,
    })
}
