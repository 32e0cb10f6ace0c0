//! The private control API, modelled on JVB's Colibri2 REST interface
//! (jvb `doc/rest-colibri2.md`), which JVB binds on 127.0.0.1:8080.
//! Framework-free: the binary mounts [`ControlApi::handle_http`].
//!
//! Routes:
//! - `POST /colibri/v2/conferences` (body optional): allocate endpoints. Body
//!   as Colibri2 conference-modify: `{"meeting-id":..,"endpoints":[{"id":..,
//!   "create":true,"transport":{"ice-controlling":true,"transport":{"ufrag":..,"pwd":..}}}]}`;
//!   the inner transport carries the client's ufrag/pwd (candidates in it are
//!   ignored: the bridge is never told them). An empty body allocates one
//!   endpoint. Answers 200 with conference-modified JSON:
//!   `{"meeting-id":..,"endpoints":[{"id":..,"transport":{"transport":{ufrag,pwd,candidates,fingerprints,..}}}]}`.
//! - `PATCH /colibri/v2/conferences/{meeting-id}`: `{"expire":true}` expires the
//!   conference; endpoints with `"expire":true` are expired; endpoints with an
//!   inner transport get the client's ufrag/pwd.
//! - `GET /colibri/v2/conferences/{meeting-id}`: the conference's endpoints.
//! - `GET /about/health`: 200 `{}`.
//!
//! ICE role: Colibri2's `ice-controlling` defaults to false in the protocol,
//! but jicofo always asks the bridge to be controlling toward clients, so a
//! missing flag means controlling here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::candidates::Fingerprint;
use crate::responder::{BridgeState, EndpointInfo, EndpointSpec};

/// The control API over a [`BridgeState`].
#[derive(Debug, Clone)]
pub struct ControlApi {
    state: BridgeState,
    conferences: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Where the bridge serves colibri websockets (`wss://DOMAIN/colibri-ws/SERVER-ID`), which
    /// it signals per endpoint as JVB does.
    web_sockets: Option<String>,
}

/// An allocation request for one endpoint.
#[derive(Debug, Clone, Default)]
pub struct AllocateRequest {
    pub meeting_id: Option<String>,
    pub endpoint_id: Option<String>,
    pub ice_controlling: Option<bool>,
    pub remote_ufrag: Option<String>,
    pub remote_pwd: Option<String>,
    pub remote_fingerprints: Vec<Fingerprint>,
}

/// Colibri2 JSON of one endpoint with its transport.
pub fn endpoint_json(info: &EndpointInfo) -> Value {
    json!({
        "id": info.id,
        "transport": { "transport": info.transport.to_json() },
    })
}

impl ControlApi {
    pub fn new(state: BridgeState) -> Self {
        ControlApi {
            state,
            conferences: Arc::new(Mutex::new(HashMap::new())),
            web_sockets: None,
        }
    }

    /// Signals each endpoint's colibri websocket under `base` (JVB adds the transport's
    /// `web-sockets` list when its websockets are enabled and a domain is set).
    pub fn with_web_sockets(mut self, base: Option<String>) -> Self {
        self.web_sockets = base;
        self
    }

    pub fn state(&self) -> &BridgeState {
        &self.state
    }

    /// Create an endpoint and return its info (JSON via [`endpoint_json`]).
    pub fn allocate(&self, req: AllocateRequest) -> EndpointInfo {
        let info = self.state.add_endpoint(EndpointSpec {
            id: req.endpoint_id,
            controlling: Some(req.ice_controlling.unwrap_or(true)),
            remote_ufrag: req.remote_ufrag,
            remote_pwd: req.remote_pwd,
            remote_fingerprints: req.remote_fingerprints,
            ..EndpointSpec::default()
        });
        let meeting = req.meeting_id.unwrap_or_else(|| "default".into());
        let mut confs = self.conferences.lock().unwrap_or_else(|e| e.into_inner());
        let eps = confs.entry(meeting).or_default();
        if !eps.contains(&info.id) {
            eps.push(info.id.clone());
        }
        info
    }

    /// Handle one HTTP request; returns status and JSON body.
    pub fn handle_http(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let path = path.split('?').next().unwrap_or("");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let body_json = if body.iter().all(|b| b.is_ascii_whitespace()) {
            Ok(Value::Null)
        } else {
            serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
        };
        match (method.to_ascii_uppercase().as_str(), segs.as_slice()) {
            ("GET", ["about", "health"]) => (200, json!({})),
            ("POST", ["colibri", "v2", "conferences"]) => match body_json {
                Err(e) => (400, json!({"error": format!("invalid JSON: {e}")})),
                Ok(v) => self.post_conference(&v),
            },
            ("PATCH", ["colibri", "v2", "conferences", meeting]) => match body_json {
                Err(e) => (400, json!({"error": format!("invalid JSON: {e}")})),
                Ok(v) => self.patch_conference(meeting, &v),
            },
            ("GET", ["colibri", "v2", "conferences", meeting]) => {
                let confs = self.conferences.lock().unwrap_or_else(|e| e.into_inner());
                match confs.get(*meeting) {
                    None => (404, json!({"error": format!("no conference {meeting}")})),
                    Some(ids) => {
                        let eps: Vec<Value> = ids
                            .iter()
                            .filter_map(|id| self.state.endpoint(id))
                            .map(|i| endpoint_json(&i))
                            .collect();
                        (200, json!({"meeting-id": meeting, "endpoints": eps}))
                    }
                }
            }
            (_, ["colibri", ..]) | (_, ["about", ..]) => {
                (405, json!({"error": "method not allowed"}))
            }
            _ => (404, json!({"error": format!("no such resource {path}")})),
        }
    }

    fn post_conference(&self, v: &Value) -> (u16, Value) {
        let meeting_id = v
            .get("meeting-id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
        let requested: Vec<Value> = match v.get("endpoints") {
            Some(Value::Array(a)) if !a.is_empty() => a.clone(),
            Some(Value::Array(_)) | None => vec![json!({})],
            Some(_) => return (400, json!({"error": "endpoints must be a list"})),
        };
        let mut out = Vec::new();
        for ep in requested {
            let (ufrag, pwd, fingerprints) = remote_transport(&ep);
            let info = self.allocate(AllocateRequest {
                meeting_id: Some(meeting_id.clone()),
                endpoint_id: ep.get("id").and_then(Value::as_str).map(str::to_string),
                ice_controlling: ep
                    .get("transport")
                    .and_then(|t| t.get("ice-controlling"))
                    .and_then(Value::as_bool),
                remote_ufrag: ufrag,
                remote_pwd: pwd,
                remote_fingerprints: fingerprints,
            });
            let mut described = endpoint_json(&info);
            // JVB answers an SCTP request with its association's port and role
            // (jvb `Colibri2ConferenceHandler.kt`; DcSctpTransport accepts only 5000).
            if ep.get("transport").and_then(|t| t.get("sctp")).is_some() {
                described["transport"]["sctp"] =
                    json!({"port": crate::peer::SCTP_PORT, "role": "server"});
            }
            if let Some(base) = &self.web_sockets {
                described["transport"]["transport"]["web-sockets"] =
                    json!([format!("{base}/{meeting_id}/{}", info.id)]);
            }
            out.push(described);
        }
        (200, json!({"meeting-id": meeting_id, "endpoints": out}))
    }

    fn patch_conference(&self, meeting: &str, v: &Value) -> (u16, Value) {
        let mut confs = self.conferences.lock().unwrap_or_else(|e| e.into_inner());
        let Some(ids) = confs.get(meeting).cloned() else {
            return (404, json!({"error": format!("no conference {meeting}")}));
        };
        if v.get("expire").and_then(Value::as_bool) == Some(true) {
            for id in &ids {
                self.state.remove_endpoint(id);
            }
            confs.remove(meeting);
            return (200, json!({}));
        }
        drop(confs);
        let mut out = Vec::new();
        for ep in v
            .get("endpoints")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(id) = ep.get("id").and_then(Value::as_str) else {
                return (400, json!({"error": "endpoint without id"}));
            };
            if !ids.iter().any(|i| i == id) {
                return (
                    404,
                    json!({"error": format!("no endpoint {id} in {meeting}")}),
                );
            }
            if ep.get("expire").and_then(Value::as_bool) == Some(true) {
                self.state.remove_endpoint(id);
                continue;
            }
            let (ufrag, pwd, fingerprints) = remote_transport(ep);
            self.state
                .set_remote_credentials(id, ufrag, pwd, fingerprints);
            if let Some(info) = self.state.endpoint(id) {
                out.push(endpoint_json(&info));
            }
        }
        (200, json!({"meeting-id": meeting, "endpoints": out}))
    }
}

/// The client's ufrag, pwd and DTLS fingerprints from `transport.transport` (or `transport`),
/// as jicofo forwards them in Colibri2 (`fingerprints: [{fingerprint, hash, setup}]`).
fn remote_transport(ep: &Value) -> (Option<String>, Option<String>, Vec<Fingerprint>) {
    let t = ep.get("transport");
    let inner = t.and_then(|t| t.get("transport")).or(t);
    let get = |k: &str| {
        inner
            .and_then(|i| i.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let fingerprints = inner
        .and_then(|i| i.get("fingerprints"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    Some(Fingerprint {
                        fingerprint: f.get("fingerprint")?.as_str()?.to_string(),
                        hash: f.get("hash")?.as_str()?.to_string(),
                        setup: f
                            .get("setup")
                            .and_then(Value::as_str)
                            .unwrap_or("active")
                            .to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    (get("ufrag"), get("pwd"), fingerprints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IceSettings, StaticMapping};

    fn api() -> ControlApi {
        let settings = IceSettings {
            mappings: vec![StaticMapping {
                local_address: "172.30.77.20".parse().unwrap(),
                public_address: "198.51.100.2".parse().unwrap(),
                local_port: None,
                public_port: None,
                name: None,
                origin: "t".into(),
            }],
            ..IceSettings::default()
        };
        ControlApi::new(BridgeState::with_seed(
            settings,
            vec!["172.30.77.20".parse().unwrap()],
            9,
        ))
    }

    #[test]
    fn post_allocates_with_client_credentials() {
        let api = api();
        let body = br#"{"meeting-id":"m1","endpoints":[{"id":"ep1","create":true,
            "transport":{"ice-controlling":true,"transport":{"ufrag":"cli","pwd":"clipwd"}}}]}"#;
        let (status, v) = api.handle_http("POST", "/colibri/v2/conferences/", body);
        assert_eq!(status, 200, "{v}");
        let t = &v["endpoints"][0]["transport"]["transport"];
        assert_eq!(t["candidates"].as_array().unwrap().len(), 2);
        assert_eq!(t["fingerprints"][0]["hash"], "sha-256");
        let info = api.state().endpoint("ep1").unwrap();
        assert_eq!(info.remote_ufrag.as_deref(), Some("cli"));
        assert_eq!(t["ufrag"], info.ufrag.as_str());
        assert!(info.controlling);
        assert!(v["endpoints"][0]["transport"].get("sctp").is_none());
        let parsed = crate::candidates::parse_transport(&v).unwrap();
        assert_eq!(parsed.pwd, info.pwd);
    }

    #[test]
    fn an_sctp_request_gets_the_association_port() {
        let api = api();
        let body = br#"{"meeting-id":"m2","endpoints":[{"id":"ep2","create":true,
            "transport":{"ice-controlling":true,"sctp":{}}}]}"#;
        let (status, v) = api.handle_http("POST", "/colibri/v2/conferences", body);
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["endpoints"][0]["transport"]["sctp"]["port"], 5000);
        assert_eq!(v["endpoints"][0]["transport"]["sctp"]["role"], "server");
    }

    #[test]
    fn empty_post_then_get_patch_expire() {
        let api = api();
        let (s, v) = api.handle_http("POST", "/colibri/v2/conferences", b"");
        assert_eq!(s, 200);
        let meeting = v["meeting-id"].as_str().unwrap().to_string();
        let id = v["endpoints"][0]["id"].as_str().unwrap().to_string();
        let (s, _) = api.handle_http("GET", &format!("/colibri/v2/conferences/{meeting}"), b"");
        assert_eq!(s, 200);
        let patch = format!(
            r#"{{"endpoints":[{{"id":"{id}","transport":{{"transport":{{"ufrag":"u2","pwd":"p2"}}}}}}]}}"#
        );
        let (s, _) = api.handle_http(
            "PATCH",
            &format!("/colibri/v2/conferences/{meeting}"),
            patch.as_bytes(),
        );
        assert_eq!(s, 200);
        assert_eq!(
            api.state().endpoint(&id).unwrap().remote_pwd.as_deref(),
            Some("p2")
        );
        let (s, _) = api.handle_http(
            "PATCH",
            &format!("/colibri/v2/conferences/{meeting}"),
            br#"{"expire":true}"#,
        );
        assert_eq!(s, 200);
        assert!(api.state().endpoint(&id).is_none());
        assert_eq!(api.handle_http("GET", "/nope", b"").0, 404);
        assert_eq!(
            api.handle_http("POST", "/colibri/v2/conferences", b"{").0,
            400
        );
        assert_eq!(api.handle_http("GET", "/about/health", b"").0, 200);
    }
}
