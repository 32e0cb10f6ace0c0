//! The agent's socket, guarded: every send asks the destination filter first
//! (the harness's `Guard`: only the lab's wan, never the client itself), so a
//! refused destination never reaches the kernel.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

/// Which destinations the client may send to.
pub type DestFilter = Arc<dyn Fn(SocketAddr) -> bool + Send + Sync>;

/// Sends refused by the filter (shared between the socket and the facts).
#[derive(Debug, Clone, Default)]
pub struct RefusedSends(Arc<Mutex<Vec<SocketAddr>>>);

impl RefusedSends {
    fn push(&self, dest: SocketAddr) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(dest);
    }

    /// How many sends were refused.
    pub fn count(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// The distinct destinations refused, in first-refused order.
    pub fn destinations(&self) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for d in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if !out.contains(d) {
                out.push(*d);
            }
        }
        out
    }
}

/// A UDP socket whose every send is checked by a [`DestFilter`].
#[derive(Clone)]
pub struct GuardedSocket {
    socket: Arc<tokio::net::UdpSocket>,
    allow: DestFilter,
    refused: RefusedSends,
}

impl std::fmt::Debug for GuardedSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedSocket")
            .field("local", &self.socket.local_addr().ok())
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl GuardedSocket {
    pub async fn bind(local: SocketAddr, allow: DestFilter) -> std::io::Result<Self> {
        Ok(GuardedSocket {
            socket: Arc::new(tokio::net::UdpSocket::bind(local).await?),
            allow,
            refused: RefusedSends::default(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The log of refused sends.
    pub fn refused(&self) -> RefusedSends {
        self.refused.clone()
    }

    /// Send if the filter allows `dest`; otherwise a `PermissionDenied`
    /// error, counted, and nothing sent.
    pub async fn send_to(&self, buf: &[u8], dest: SocketAddr) -> std::io::Result<usize> {
        if !(self.allow)(dest) {
            self.refused.push(dest);
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "refused to send to {dest}: outside the lab's public network (the internet client's guard)"
                ),
            ));
        }
        self.socket.send_to(buf, dest).await
    }

    /// Receives, outliving ICMP errors (they surface as ConnectionRefused on Linux).
    pub async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        jc_stun::recv_from(&self.socket, buf).await
    }

    /// As a `webrtc_util::Conn` for the agent's UDP mux.
    pub(crate) fn into_conn(self) -> GuardedConn {
        GuardedConn(self)
    }
}

/// [`GuardedSocket`] as webrtc-rs's `Conn` (what `UDPMuxDefault` reads and
/// writes through).
pub(crate) struct GuardedConn(GuardedSocket);

#[async_trait]
impl webrtc_util::Conn for GuardedConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "the guarded socket is never connected".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.0.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        Ok(self.0.recv_from(buf).await?)
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other(
            "the guarded socket sends only with a destination".into(),
        ))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        Ok(self.0.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.0.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
