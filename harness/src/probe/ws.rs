//! WebSocket over TLS from the internet client: the upgrade's answer and the first frame back.

use crate::net::Guard;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

#[derive(Debug, Clone)]
pub struct WsFacts {
    /// The HTTP status that answered the upgrade (101 when it completed).
    pub status: u16,
    /// The subprotocol the server selected, if any.
    pub protocol: Option<String>,
    /// The first text (or binary, read as text) frame that came back.
    pub reply: Option<String>,
    /// The body of an answer other than 101 (lossy UTF-8, at most [`BODY_CAP`] bytes).
    pub body: Option<String>,
    /// Why the exchange stopped, when it did not complete.
    pub problem: Option<String>,
}

/// Bodies of refused upgrades are cut here: checks look for a page's words.
pub const BODY_CAP: usize = 4096;

/// Opens `wss://{sni}{path}` on `dest` (subprotocol xmpp offered), sends `message`, waits for
/// one frame back, all within `timeout`.
pub async fn exchange(
    guard: &Guard,
    dest: SocketAddr,
    sni: &str,
    path: &str,
    message: &str,
    timeout: Duration,
) -> Result<WsFacts, String> {
    let tcp = guard
        .connect_tcp(dest, timeout)
        .await
        .map_err(|e| format!("TCP connect to {dest}: {e}"))?;
    let (cfg, _) = super::tls::accept_any(&[b"http/1.1"]);
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let tls = tokio::time::timeout(
        timeout,
        tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
    )
    .await
    .map_err(|_| "TLS handshake timed out".to_string())?
    .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let mut req = format!("wss://{sni}{path}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "xmpp".parse().expect("valid header"),
    );
    let handshake = tokio::time::timeout(timeout, tokio_tungstenite::client_async(req, tls)).await;
    let (mut ws, resp) = match handshake {
        Err(_) => {
            return Ok(WsFacts {
                status: 0,
                protocol: None,
                reply: None,
                body: None,
                problem: Some(format!(
                    "no answer to the upgrade within {} ms",
                    timeout.as_millis()
                )),
            })
        }
        Ok(Err(WsError::Http(resp))) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(BODY_CAP)]).into_owned())
                .unwrap_or_default();
            let start: String = body.chars().take(120).collect();
            return Ok(WsFacts {
                status: resp.status().as_u16(),
                protocol: None,
                reply: None,
                problem: Some(format!(
                    "the upgrade was answered {} instead of 101 {}",
                    resp.status(),
                    start.trim()
                )),
                body: Some(body),
            });
        }
        Ok(Err(e)) => {
            return Ok(WsFacts {
                status: 0,
                protocol: None,
                reply: None,
                body: None,
                problem: Some(format!("upgrade failed: {e}")),
            })
        }
        Ok(Ok(v)) => v,
    };
    let protocol = resp
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let round_trip = async {
        ws.send(Message::text(message))
            .await
            .map_err(|e| format!("send failed: {e}"))?;
        while let Some(m) = ws.next().await {
            match m.map_err(|e| format!("receive failed: {e}"))? {
                Message::Text(t) => return Ok(t.to_string()),
                Message::Binary(b) => return Ok(String::from_utf8_lossy(&b).into_owned()),
                Message::Close(c) => return Err(format!("closed by the server: {c:?}")),
                _ => continue,
            }
        }
        Err("the connection ended without a frame".to_string())
    };
    let facts = match tokio::time::timeout(timeout, round_trip).await {
        Ok(Ok(reply)) => WsFacts {
            status: resp.status().as_u16(),
            protocol,
            reply: Some(reply),
            body: None,
            problem: None,
        },
        Ok(Err(p)) => WsFacts {
            status: resp.status().as_u16(),
            protocol,
            reply: None,
            body: None,
            problem: Some(p),
        },
        Err(_) => WsFacts {
            status: resp.status().as_u16(),
            protocol,
            reply: None,
            body: None,
            problem: Some("no frame came back in time".into()),
        },
    };
    let _ = ws.close(None).await;
    Ok(facts)
}
