//! Thin clients on the internet side of the lab. Each returns what it saw, never a verdict,
//! and every one sends only after the lab's [`crate::net::Guard`] allowed the destination.

pub mod http;
pub mod portscan;
pub mod resolver;
pub mod stun;
pub mod tls;
pub mod ws;
pub mod xmpp;
