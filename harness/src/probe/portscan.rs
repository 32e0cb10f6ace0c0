//! TCP port states on a public address, as an internet host sees them: the connection is
//! refused, nothing answers within the timeout, or it opens. Guard-checked, client-bound.

use crate::net::Guard;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortState {
    Open,
    Refused,
    /// No answer within the timeout (dropped on the way).
    Silent,
    /// Anything else (unreachable, ...), in the kernel's words.
    Other(String),
}

impl PortState {
    pub fn answers(&self) -> bool {
        matches!(self, PortState::Open)
    }
}

impl std::fmt::Display for PortState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortState::Open => write!(f, "open"),
            PortState::Refused => write!(f, "refused"),
            PortState::Silent => write!(f, "silent"),
            PortState::Other(e) => write!(f, "{e}"),
        }
    }
}

/// Probes every port at once; results in the order given.
pub async fn tcp_ports(
    guard: &Guard,
    ip: std::net::Ipv4Addr,
    ports: &[u16],
    timeout: Duration,
) -> Result<Vec<(u16, PortState)>, String> {
    for &p in ports {
        guard
            .check(SocketAddr::new(ip.into(), p))
            .map_err(|e| e.to_string())?;
    }
    let probes = ports.iter().map(|&p| async move {
        let state = match guard
            .connect_tcp(SocketAddr::new(ip.into(), p), timeout)
            .await
        {
            Ok(_) => PortState::Open,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => PortState::Refused,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => PortState::Silent,
            Err(e) => PortState::Other(e.to_string()),
        };
        (p, state)
    });
    Ok(futures_util::future::join_all(probes).await)
}
