//! The colibri listener: JVB's public HTTP server (all addresses), which nginx reaches for
//! `/colibri-ws/`. As JVB's: the server answers `/about/health` whenever it runs, and registers
//! the colibri-ws servlet only when websockets are enabled ("Disabled, not registering servlet").

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::echo;

pub(super) fn router(websockets: bool) -> Router {
    let r = Router::new().route("/about/health", get(health));
    let r = if websockets {
        // JVB's path is /colibri-ws/{bridge id}/{conference id}/{endpoint id}; anything with
        // more or fewer segments is not a bridge channel.
        r.route("/colibri-ws/{id}/{conf}/{endpoint}", get(colibri_ws))
    } else {
        r
    };
    r.fallback(not_found)
}

async fn colibri_ws(upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    match upgrade {
        Ok(upgrade) => echo::accept(upgrade),
        // JVB refuses a plain GET on a WebSocket endpoint.
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "400 Bad Request: not a WebSocket upgrade\n",
        )
            .into_response(),
    }
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}
