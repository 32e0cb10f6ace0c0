//! The web listener: what nginx itself serves on a Jitsi machine (front page, `/config.js`,
//! static files), reached through nginx's `proxy_pass` to the fake backend.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{ALLOW, CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

struct Pages {
    front: String,
    config_js: String,
    static_index: String,
    /// Used for the redirect when a request carries no Host header (HTTP/1.0).
    own_addr: SocketAddr,
}

pub(super) fn router(marker: &str, own_addr: SocketAddr) -> Router {
    let tag = format!("jc-marker:{}", escape_html(marker));
    let pages = Arc::new(Pages {
        front: format!(
            "<!DOCTYPE html>\n<html><head><title>Jitsi Meet</title>\
             <script src=\"config.js\"></script></head>\
             <body><p>{tag}</p></body></html>\n"
        ),
        config_js: format!(
            // The keys a client reads, as Jitsi's template writes them (protocol-relative BOSH,
            // websocket commented out): jitsi-meet `config.js`.
            "var config = {{ hosts: {{ domain: 'meet.lab.test', muc: 'conference.meet.lab.test' }}, bosh: '//meet.lab.test/http-bind' }}; // jc-marker:{marker}\n"
        ),
        static_index: format!(
            "<!DOCTYPE html>\n<html><head><title>static</title></head>\
             <body><p>{tag}</p></body></html>\n"
        ),
        own_addr,
    });
    Router::new().fallback(page).with_state(pages)
}

async fn page(
    State(pages): State<Arc<Pages>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(ALLOW, "GET, HEAD")],
            "405 Method Not Allowed\n",
        )
            .into_response();
    }
    match uri.path() {
        "/" => html(pages.front.clone()),
        "/config.js" => (
            [(CONTENT_TYPE, "application/javascript")],
            pages.config_js.clone(),
        )
            .into_response(),
        "/static" => directory_redirect(&pages, &uri, &headers),
        "/static/" => html(pages.static_index.clone()),
        // Jitsi's nginx rewrites `/RoomName` to index.html.
        path if is_single_segment(path) => html(pages.front.clone()),
        _ => (StatusCode::NOT_FOUND, "404 Not Found\n").into_response(),
    }
}

fn html(body: String) -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// nginx's answer to a directory requested without its slash: an absolute Location built from
/// the Host it received. Behind a reverse proxy that Host is the backend's own address unless
/// the proxy preserves the client's, so only ProxyPassReverse makes it usable by the client.
fn directory_redirect(pages: &Pages, uri: &Uri, headers: &HeaderMap) -> Response {
    let host = match headers.get(HOST) {
        Some(host) => host.as_bytes().to_vec(),
        None => pages.own_addr.to_string().into_bytes(),
    };
    let mut location = b"https://".to_vec();
    location.extend_from_slice(&host);
    location.extend_from_slice(b"/static/");
    // nginx keeps the query string on this redirect.
    if let Some(query) = uri.query() {
        location.push(b'?');
        location.extend_from_slice(query.as_bytes());
    }
    match HeaderValue::from_bytes(&location) {
        Ok(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [
                (LOCATION, location),
                (CONTENT_TYPE, HeaderValue::from_static("text/html")),
            ],
            "<html><head><title>301 Moved Permanently</title></head></html>\n",
        )
            .into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "400 Bad Request\n").into_response(),
    }
}

fn is_single_segment(path: &str) -> bool {
    path.strip_prefix('/')
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
