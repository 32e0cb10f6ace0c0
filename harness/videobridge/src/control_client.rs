//! A client of the private control API ([`crate::control`]) over plain HTTP/1.1 on loopback,
//! as jicofo drives JVB's Colibri2 (`ColibriV2SessionManager`: allocate an endpoint, tell it
//! the client's transport, expire it). Used by `jitsi-conformance fake-bridge allocate/update`
//! and by the focus stand-in's allocator.

use std::net::SocketAddr;

use anyhow::{Context, Result};

/// The allocate request's body: one endpoint, the bridge controlling, and the client's
/// credentials when given (never its candidates).
pub fn allocate_body(client_ufrag: Option<&str>, client_pwd: Option<&str>) -> serde_json::Value {
    allocate_body_with(client_ufrag, client_pwd, None)
}

/// The client's transport as jicofo forwards it in Colibri2: ufrag, pwd and DTLS fingerprint
/// (`HASH FINGERPRINT`, e.g. `sha-256 AB:CD:...`), never candidates.
pub fn client_transport(
    ufrag: Option<&str>,
    pwd: Option<&str>,
    fingerprint: Option<&str>,
) -> Option<serde_json::Value> {
    let (u, p) = (ufrag?, pwd?);
    let mut t = serde_json::json!({ "ufrag": u, "pwd": p });
    if let Some((hash, fp)) = fingerprint.and_then(|f| f.split_once(' ')) {
        t["fingerprints"] =
            serde_json::json!([{ "hash": hash, "fingerprint": fp, "setup": "active" }]);
    }
    Some(t)
}

pub fn allocate_body_with(
    client_ufrag: Option<&str>,
    client_pwd: Option<&str>,
    client_fingerprint: Option<&str>,
) -> serde_json::Value {
    let mut transport = serde_json::json!({ "ice-controlling": true });
    if let Some(t) = client_transport(client_ufrag, client_pwd, client_fingerprint) {
        transport["transport"] = t;
    }
    serde_json::json!({ "endpoints": [ { "create": true, "transport": transport } ] })
}

/// jicofo's allocation request for one participant (jicofo `Colibri2Session.createRequest`,
/// JSON as jvb `doc/rest-colibri2.md`): the conference by meeting id (created, with the room
/// as its name, on first use), the endpoint by id, the bridge ICE-controlling, and an SCTP
/// association asked for when the participant gets a data content.
pub fn endpoint_allocate_body(
    meeting: &str,
    room: &str,
    endpoint: &str,
    create_conference: bool,
    sctp: bool,
) -> serde_json::Value {
    let mut transport = serde_json::json!({ "ice-controlling": true });
    if sctp {
        transport["sctp"] = serde_json::json!({});
    }
    let mut body = serde_json::json!({
        "meeting-id": meeting,
        "endpoints": [ { "id": endpoint, "create": true, "transport": transport } ],
    });
    if create_conference {
        body["create"] = true.into();
        body["name"] = room.into();
    }
    body
}

/// The PATCH that expires one endpoint (a participant left).
pub fn expire_body(endpoint: &str) -> serde_json::Value {
    serde_json::json!({ "endpoints": [ { "id": endpoint, "expire": true } ] })
}

/// The PATCH that tells an existing endpoint its client's transport (a browser's answer).
pub fn update_body(endpoint: &str, client: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "endpoints": [ { "id": endpoint, "transport": { "transport": client } } ] })
}

/// POSTs the allocate request to the control API over HTTP/1.1: (status, body).
pub async fn allocate(api: SocketAddr, body: &serde_json::Value) -> Result<(u16, String)> {
    request(api, "POST", "/colibri/v2/conferences", body).await
}

/// PATCHes a conference (an endpoint's client transport, or its expiry).
pub async fn patch(
    api: SocketAddr,
    meeting: &str,
    body: &serde_json::Value,
) -> Result<(u16, String)> {
    request(
        api,
        "PATCH",
        &format!("/colibri/v2/conferences/{meeting}"),
        body,
    )
    .await
}

async fn request(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_vec(body)?;
    let mut s = tokio::net::TcpStream::connect(api)
        .await
        .with_context(|| format!("cannot reach the control API on {api}"))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(&body).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    parse_response(&resp)
}

/// Status and body of an HTTP/1.1 response with Content-Length (what axum sends here).
fn parse_response(resp: &[u8]) -> Result<(u16, String)> {
    let text = String::from_utf8_lossy(resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the control API's answer has no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .context("the control API's answer has no status")?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_allocation_names_meeting_endpoint_and_sctp() {
        let b = endpoint_allocate_body("m1", "room1@conference.x", "ab12", true, true);
        assert_eq!(b["meeting-id"], "m1");
        assert_eq!(b["name"], "room1@conference.x");
        assert_eq!(b["endpoints"][0]["id"], "ab12");
        assert_eq!(b["endpoints"][0]["transport"]["ice-controlling"], true);
        assert!(b["endpoints"][0]["transport"]["sctp"].is_object());
        let again = endpoint_allocate_body("m1", "room1@conference.x", "cd34", false, false);
        assert!(again.get("create").is_none());
        assert!(again["endpoints"][0]["transport"].get("sctp").is_none());
        assert_eq!(expire_body("ab12")["endpoints"][0]["expire"], true);
    }

    #[test]
    fn allocate_body_carries_only_credentials() {
        let b = allocate_body(Some("abcd"), Some("p".repeat(22).as_str()));
        let t = &b["endpoints"][0]["transport"];
        assert_eq!(t["ice-controlling"], true);
        assert_eq!(t["transport"]["ufrag"], "abcd");
        assert!(t["transport"].get("candidates").is_none());
        assert!(allocate_body(None, None)["endpoints"][0]["transport"]
            .get("transport")
            .is_none());
    }
}
