//! Jitsi signalling over XMPP, as Jitsi's web client (lib-jitsi-meet) and jicofo do it
//! (SPEC section 11). Two sides:
//!
//! - [`client::Client`], a participant over XMPP-over-WebSocket on a stream the caller opened
//!   (TCP and TLS with its own destination guard), or over BOSH ([`bosh`], XEP-0206) through
//!   the caller's HTTP (`Client::connect_bosh(post, "FQDN", wait, timeout)`), as Jitsi's web
//!   client signs in where `config.js` sets no websocket:
//!   ```text
//!   Client::connect(stream, "wss://FQDN/xmpp-websocket?room=ROOM", "FQDN", timeout) -> Client
//!   client.jid() -> &str
//!   client.external_services(timeout) -> Vec<ExternalService>       // XEP-0215 :2, then :1
//!   client.conference_request("focus.FQDN", "ROOM@MUC", timeout) -> focusjid  // ready='true'
//!   client.join("ROOM@MUC", "nick", timeout)                         // MUC self-presence
//!   client.await_session_initiate(timeout) -> SessionOffer           // from ROOM@MUC/focus, acked
//!   client.accept(&offer, &ClientTransport, timeout)                 // session-accept, result
//!   client.leave(timeout)                                            // unavailable + <close/>
//!   ```
//!   Every wait takes a timeout; errors ([`XmppError`]) name what was awaited.
//! - [`focus::Focus`], jicofo's part as an XEP-0114 component on prosody
//!   ([`component::Component`]): answers the conference request once it is in the room,
//!   invites from two participants on with `session-initiate` carrying a bridge transport from
//!   an [`focus::Allocator`] (the lab's is [`colibri::ColibriAllocator`], the fake bridge's
//!   Colibri2 REST API), forwards `session-accept` to it, expires endpoints on leave:
//!   ```text
//!   let component = Component::connect("127.0.0.1:5347", "focus.FQDN", secret, timeout).await?;
//!   Focus::new(component, "conference.FQDN", Arc::new(allocator)).run().await // Err when dropped
//!   ```
//!
//! Jingle payloads and their conversion to and from jc-videobridge's `ParsedTransport` are in
//! [`jingle`]. Crates: xmpp-parsers 0.23, minidom 0.19, jid 0.12, rxml 0.14 (they build
//! together on rustc 1.95); xmpp-parsers' `component` feature stays off (see [`component`]).

pub mod bosh;
pub mod client;
pub mod colibri;
pub mod component;
mod error;
pub mod focus;
pub mod jingle;
mod xml;

pub use client::{Client, ExternalService};
pub use error::XmppError;
pub use jingle::{BridgeTransport, ClientTransport, SessionOffer};
