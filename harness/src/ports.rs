//! The ports of a Jitsi deployment as SPEC sections 1, 3 and 10 name them, in one place.

/// Plain HTTP on the proxy (the redirect and the ACME exemption).
pub const HTTP: u16 = 80;
/// HTTPS on the proxy.
pub const HTTPS: u16 = 443;
/// The bridge's single UDP media port (`videobridge.ice.udp.port`).
pub const MEDIA_UDP: u16 = 10000;
/// ICE-TCP as the 2020 setup had it (`TCP_HARVESTER_PORT=4443`).
pub const ICE_TCP: u16 = 4443;
/// coturn's `listening-port` (STUN/TURN over UDP).
pub const TURN_UDP: u16 = 3478;
/// coturn's `tls-listening-port` (TURN over TLS).
pub const TURN_TLS: u16 = 5349;
/// Jitsi's own other ports, which must not answer on the public address (nat/exposure/1):
/// ssh, XMPP c2s/s2s, prosody's HTTP, its component port, JVB's REST API, jicofo's, and JVB's
/// public HTTP server (colibri websockets).
pub const PRIVATE: [u16; 8] = [22, 5222, 5269, 5280, 5347, 8080, 8888, 9090];
/// The fake bridge's Colibri2-style control API, bound on 127.0.0.1 as JVB's REST API.
pub const CONTROL_API: u16 = 8080;
/// JVB's public HTTP server (colibri websockets), where the config enables it.
pub const COLIBRI_WS: u16 = 9090;
