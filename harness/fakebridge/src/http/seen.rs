//! What the backend saw: the `x-jc-*` response headers and the ring of recent requests.
//!
//! The checks run on the far side of a router, Apache and nginx, so the only way for them to
//! learn what actually reached the backend (rewritten URI, Host, X-Forwarded-*) is for the
//! backend to say so in every response, whatever the status.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use serde::Serialize;

pub const MARKER: HeaderName = HeaderName::from_static("x-jc-marker");
pub const SEEN_METHOD: HeaderName = HeaderName::from_static("x-jc-seen-method");
pub const SEEN_URI: HeaderName = HeaderName::from_static("x-jc-seen-uri");
pub const SEEN_HOST: HeaderName = HeaderName::from_static("x-jc-seen-host");
pub const SEEN_XFF: HeaderName = HeaderName::from_static("x-jc-seen-xff");
pub const SEEN_XFH: HeaderName = HeaderName::from_static("x-jc-seen-xfh");

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// How many requests [`RequestLog`] keeps.
pub const LOG_CAPACITY: usize = 256;

/// One request as the backend received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenRequest {
    /// Which listener took it: `web` or `colibri`.
    pub listener: &'static str,
    pub method: String,
    /// The request target exactly as received (path and query, not percent-decoded).
    pub uri: String,
    /// Header names and values in arrival order; values that are not UTF-8 are shown lossily.
    pub headers: Vec<(String, String)>,
}

/// A bounded ring of the most recent requests, oldest first.
#[derive(Debug, Default)]
pub struct RequestLog {
    ring: Mutex<VecDeque<SeenRequest>>,
}

impl RequestLog {
    pub fn record(&self, request: SeenRequest) {
        let mut ring = self.lock();
        if ring.len() == LOG_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(request);
    }

    /// A copy of the ring, oldest first.
    pub fn recent(&self) -> Vec<SeenRequest> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SeenRequest>> {
        // A panic while holding the lock cannot leave the deque half-updated in a way that
        // matters for a diagnostic log, so keep going rather than poisoning every request.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct Stamp {
    listener: &'static str,
    marker: HeaderValue,
    log: Arc<RequestLog>,
}

/// Wraps `router` (fallback included) so that every response is stamped and every request
/// recorded.
pub(super) fn stamp(
    router: Router,
    listener: &'static str,
    marker: HeaderValue,
    log: Arc<RequestLog>,
) -> Router {
    let state = Stamp {
        listener,
        marker,
        log,
    };
    router.layer(middleware::from_fn_with_state(state, stamp_response))
}

async fn stamp_response(State(stamp): State<Stamp>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    // At the outermost layer the URI is still hyper's parse of the request line, which keeps
    // the target's bytes as they were sent (no percent-decoding, no normalisation).
    let uri = request.uri().to_string();
    let headers = request.headers();
    let seen = [
        (SEEN_HOST, header_or_empty(headers, &HOST)),
        (SEEN_XFF, header_or_empty(headers, &X_FORWARDED_FOR)),
        (SEEN_XFH, header_or_empty(headers, &X_FORWARDED_HOST)),
    ];
    tracing::debug!(listener = stamp.listener, %method, %uri, "request");
    stamp.log.record(SeenRequest {
        listener: stamp.listener,
        method: method.to_string(),
        uri: uri.clone(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
    });

    let mut response = next.run(request).await;
    let out = response.headers_mut();
    out.insert(MARKER, stamp.marker.clone());
    if let Ok(value) = HeaderValue::from_str(method.as_str()) {
        out.insert(SEEN_METHOD, value);
    }
    if let Ok(value) = HeaderValue::from_str(&uri) {
        out.insert(SEEN_URI, value);
    }
    for (name, value) in seen {
        out.insert(name, value);
    }
    response
}

/// The header's value as received, or an empty value when absent. When a header is repeated
/// the first occurrence is reported (nginx and Apache each send one).
fn header_or_empty(headers: &HeaderMap, name: &HeaderName) -> HeaderValue {
    headers
        .get(name)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""))
}
