//! The signalling listener: a stand-in for Prosody's HTTP server on 5280, which nginx reaches
//! for `/http-bind` (BOSH) and `/xmpp-websocket`.

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::echo;

pub const BOSH: HeaderName = HeaderName::from_static("x-jc-bosh");

/// Prosody's mod_websocket answer to a GET without a WebSocket upgrade. A proxy that strips
/// `Upgrade`/`Connection` turns the client's handshake into exactly this 200.
pub const NOT_A_WEBSOCKET: &str =
    "It works! Now point your WebSocket client to this URL to connect to Prosody.";

/// Prosody's mod_bosh answer to a GET.
const BOSH_GET: &str =
    "<html><body>You really don't look like a BOSH client to me... what do you want?</body></html>";

pub(super) fn router() -> Router {
    Router::new()
        .route("/http-bind", get(bosh_get).post(bosh_echo))
        .route("/xmpp-websocket", get(xmpp_websocket))
        .fallback(not_found)
}

/// Echoes the BOSH body byte for byte, so a check can detect a proxy that re-encodes,
/// truncates or buffers it.
pub(super) async fn bosh_echo(body: Bytes) -> Response {
    (
        [(CONTENT_TYPE, "text/xml; charset=utf-8"), (BOSH, "echo")],
        body,
    )
        .into_response()
}

async fn bosh_get() -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], BOSH_GET).into_response()
}

async fn xmpp_websocket(upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    match upgrade {
        Ok(upgrade) => echo::accept(upgrade),
        Err(_) => ([(CONTENT_TYPE, "text/plain")], NOT_A_WEBSOCKET).into_response(),
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}
