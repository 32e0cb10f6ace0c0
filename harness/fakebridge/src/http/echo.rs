//! The WebSocket echo of `/colibri-ws/...`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

/// Accepts the upgrade, selecting the `xmpp` subprotocol when the client offers it (the probe
/// offers it on every WebSocket, as it does to prosody; a proxy that drops
/// `Sec-WebSocket-Protocol` shows up as a missing subprotocol on the client side).
pub(super) fn accept(upgrade: WebSocketUpgrade) -> Response {
    upgrade.protocols(["xmpp"]).on_upgrade(echo)
}

/// Sends every text and binary message back unchanged until the peer goes away.
///
/// Pings and close frames are answered by the WebSocket layer itself on the next read, so the
/// loop only has to keep reading until the stream ends.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            break;
        }
    }
}
