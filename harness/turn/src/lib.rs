//! TURN for jitsi-conformance (SPEC section 10):
//! - [`turn_probe`]: facts about a TURN server (Allocate over UDP and TLS, a wrong password,
//!   CreatePermission) with REST-API credentials as prosody's `mod_external_services` makes them;
//! - [`relay_session`]: a client that can reach nothing but TCP and completes ICE, DTLS, SCTP
//!   and a data-channel echo with the bridge through the TURN server over TLS.
//!
//! Crates chosen: webrtc-rs' `turn` 0.17 client (Allocate, permissions, channel binding) over a
//! `webrtc_util::Conn` that frames STUN and ChannelData on a rustls stream (the crate has no
//! stream transport), `stun` 0.17 for the exact error-code probes, `dtls`/`webrtc-sctp`/
//! `webrtc-data` for the session, and the project's own `jc-stun` for the ICE checks.

pub mod relay_session;
pub mod turn_probe;
