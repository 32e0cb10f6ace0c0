//! STUN as the lab speaks it, shared by the fake videobridge (`jc-videobridge`) and the
//! internet client's probes:
//! - the codec (RFC 5389 / RFC 8489 wire format with RFC 8445's ICE attributes), re-exported at
//!   the crate root: [`decode`], [`MessageBuilder`], [`attr`], ...;
//! - [`client`]: an ICE connectivity check as a client sends it and the facts of its answer;
//! - [`framing`]: RFC 4571 framing and ice4j's "ssltcp" pseudo-SSL handshake for ICE-TCP;
//! - [`recv_from`]: a UDP receive that outlives ICMP errors.

mod codec;

pub mod client;
pub mod framing;

pub use codec::*;

use std::net::SocketAddr;

/// Receives one datagram, outliving ICMP errors: on Linux an ICMP port unreachable for an
/// earlier send surfaces as `ConnectionRefused` on the next receive, which says nothing about
/// the datagram still to come.
pub async fn recv_from(
    socket: &tokio::net::UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    loop {
        match socket.recv_from(buf).await {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) => {}
            r => return r,
        }
    }
}
