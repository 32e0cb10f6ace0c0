//! The [`Allocator`] of the lab: the fake bridge's Colibri2 REST control API (JVB's private
//! REST API shape, 127.0.0.1:8080), driven as jicofo's `ColibriV2SessionManager` drives a
//! bridge: one conference per room (meeting id chosen on first use), one endpoint per
//! participant with SCTP asked for, the client's transport on session-accept, expiry on leave.
//! The HTTP client is jc-videobridge's `control_client`, shared with `fake-bridge allocate`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use async_trait::async_trait;
use jc_videobridge::candidates::parse_transport;
use jc_videobridge::control_client as api;
use serde_json::Value;

use crate::focus::Allocator;
use crate::jingle::{BridgeTransport, ClientTransport};

/// Allocates on the control API at `addr`.
pub struct ColibriAllocator {
    addr: SocketAddr,
    /// room → meeting id.
    meetings: Mutex<HashMap<String, String>>,
}

impl ColibriAllocator {
    /// Only a loopback `addr`: the control API is private to the bridge host.
    pub fn new(addr: SocketAddr) -> Result<Self, String> {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "refusing the control API at {addr}: only loopback is allowed"
            ));
        }
        Ok(ColibriAllocator {
            addr,
            meetings: Mutex::new(HashMap::new()),
        })
    }

    fn meeting(&self, room: &str) -> (String, bool) {
        let mut meetings = self.meetings.lock().unwrap_or_else(|e| e.into_inner());
        match meetings.get(room) {
            Some(m) => (m.clone(), false),
            None => {
                // jicofo uses the room's muc#roominfo_meetingId, a UUID.
                let m = format!("{:032x}", rand::random::<u128>());
                meetings.insert(room.to_string(), m.clone());
                (m, true)
            }
        }
    }

    fn known_meeting(&self, room: &str) -> Result<String, String> {
        self.meetings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(room)
            .cloned()
            .ok_or_else(|| format!("no conference on the bridge for {room}"))
    }

    async fn patch(&self, room: &str, body: &Value) -> Result<(), String> {
        let meeting = self.known_meeting(room)?;
        let (status, text) = api::patch(self.addr, &meeting, body)
            .await
            .map_err(|e| format!("{e:#}"))?;
        if status != 200 {
            return Err(format!("the control API answered {status}: {text}"));
        }
        Ok(())
    }
}

/// The bridge's transport from a conference-modified answer for one endpoint.
fn bridge_transport(answer: &Value, endpoint: &str) -> Result<BridgeTransport, String> {
    let ep = answer
        .get("endpoints")
        .and_then(Value::as_array)
        .and_then(|eps| {
            eps.iter()
                .find(|e| e.get("id").and_then(Value::as_str) == Some(endpoint))
        })
        .ok_or_else(|| format!("the bridge's answer has no endpoint {endpoint}"))?;
    let transport = parse_transport(ep)?;
    let outer = ep.get("transport");
    let sctp_port = outer
        .and_then(|t| t.get("sctp"))
        .and_then(|s| s.get("port"))
        .and_then(|p| p.as_u64().or_else(|| p.as_str()?.parse().ok()))
        .and_then(|p| u16::try_from(p).ok());
    let web_socket = outer
        .and_then(|t| t.get("transport"))
        .and_then(|t| t.get("web-sockets"))
        .and_then(|w| w.get(0))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(BridgeTransport {
        transport,
        sctp_port,
        web_socket,
    })
}

#[async_trait]
impl Allocator for ColibriAllocator {
    async fn allocate(&self, room: &str, endpoint: &str) -> Result<BridgeTransport, String> {
        let (meeting, create) = self.meeting(room);
        let body = api::endpoint_allocate_body(&meeting, room, endpoint, create, true);
        let (status, text) = api::allocate(self.addr, &body)
            .await
            .map_err(|e| format!("{e:#}"))?;
        if status != 200 {
            return Err(format!("the control API answered {status}: {text}"));
        }
        let answer: Value = serde_json::from_str(&text)
            .map_err(|e| format!("the control API's answer is not JSON ({e}): {text}"))?;
        let bridge = bridge_transport(&answer, endpoint)?;
        // jicofo ColibriV2SessionManager.allocate: SCTP was asked for, so a port must come back.
        if bridge.sctp_port.is_none() {
            return Err(format!(
                "the bridge allocated {endpoint} without the SCTP port it was asked for"
            ));
        }
        Ok(bridge)
    }

    async fn update(
        &self,
        room: &str,
        endpoint: &str,
        client: &ClientTransport,
    ) -> Result<(), String> {
        let fingerprint = format!("{} {}", client.fingerprint.0, client.fingerprint.1);
        let transport =
            api::client_transport(Some(&client.ufrag), Some(&client.pwd), Some(&fingerprint))
                .ok_or("no client credentials")?;
        self.patch(room, &api::update_body(endpoint, transport))
            .await
    }

    async fn expire(&self, room: &str, endpoint: &str) -> Result<(), String> {
        self.patch(room, &api::expire_body(endpoint)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_transport_sctp_and_websocket() {
        let answer = json!({"meeting-id":"m","endpoints":[{"id":"ab","transport":{
            "transport":{"ufrag":"u","pwd":"p","candidates":[{"foundation":"1","component":"1",
            "protocol":"udp","ip":"198.51.100.2","port":"10000","priority":"2130706431",
            "type":"host","generation":"0","id":"c1","network":"0"}],
            "fingerprints":[{"hash":"sha-256","fingerprint":"AA:BB","setup":"actpass"}],
            "web-sockets":["wss://meet/colibri-ws/x"]},
            "sctp":{"port":5000,"role":"server"}}}]});
        let b = bridge_transport(&answer, "ab").unwrap();
        assert_eq!(b.transport.ufrag, "u");
        assert_eq!(b.transport.candidates[0].port, 10000);
        assert_eq!(b.sctp_port, Some(5000));
        assert_eq!(b.web_socket.as_deref(), Some("wss://meet/colibri-ws/x"));
        assert!(bridge_transport(&answer, "zz").is_err());
        assert!(ColibriAllocator::new("10.0.0.1:8080".parse().unwrap()).is_err());
    }
}
