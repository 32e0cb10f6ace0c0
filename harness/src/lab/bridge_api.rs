//! The bridge's private control API (JVB's Colibri2 REST interface on 127.0.0.1:8080), reached
//! from inside the bridge host with the fake bridge's own client (`fake-bridge allocate` /
//! `update`), never via the router: a proxy or NAT fault can neither hide nor fake what the
//! bridge advertises. In one place for every check and for the browser test.

use super::{selfexe, Lab};
use crate::role::Role;
use jc_videobridge::candidates::{parse_transport, ParsedTransport};

/// A client's transport as jicofo forwards it: ICE credentials and DTLS fingerprint, never
/// its candidates (the bridge learns the client only peer-reflexively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTransport {
    pub ufrag: String,
    pub pwd: String,
    /// `HASH FINGERPRINT`, e.g. `sha-256 AB:CD:...`.
    pub fingerprint: Option<String>,
}

/// An endpoint on the bridge and the transport it advertises.
#[derive(Debug, Clone)]
pub struct BridgeEndpoint {
    pub meeting: String,
    pub id: String,
    pub transport: ParsedTransport,
    /// The Colibri2 JSON as the bridge answered it.
    pub json: serde_json::Value,
}

impl Lab {
    async fn bridge_cli(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = vec![selfexe::IN_CONTAINER, "fake-bridge"];
        cmd.extend_from_slice(args);
        let (code, out) = self
            .exec(Role::Bridge, &cmd)
            .await
            .map_err(|e| format!("cannot reach the bridge's control API in its container: {e}"))?;
        if code != 0 {
            return Err(format!(
                "the bridge's control API refused `{}` (exit {code}): {}",
                args.first().copied().unwrap_or(""),
                out.trim()
            ));
        }
        Ok(out)
    }

    /// A new endpoint, told the client's transport when given.
    pub async fn allocate_endpoint(
        &self,
        client: Option<&ClientTransport>,
    ) -> Result<BridgeEndpoint, String> {
        let mut args = vec!["allocate"];
        if let Some(c) = client {
            args.extend(["--client-ufrag", &c.ufrag, "--client-pwd", &c.pwd]);
            if let Some(f) = &c.fingerprint {
                args.extend(["--client-fingerprint", f]);
            }
        }
        let ep = parse_allocation(&self.bridge_cli(&args).await?)?;
        self.conferences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ep.meeting.clone());
        Ok(ep)
    }

    /// Ends every conference opened through [`Lab::allocate_endpoint`], as jicofo expires a
    /// conference when its participants have left. A reused lab's bridge then holds what a
    /// fresh one holds: no endpoint, and no client address bound to one (ice4j routes a known
    /// remote address to its endpoint whatever USERNAME it sends, so a new run whose socket
    /// reused an old run's port would be answered 401 by the old endpoint).
    pub async fn end_conferences(&self) -> Result<(), String> {
        let meetings =
            std::mem::take(&mut *self.conferences.lock().unwrap_or_else(|e| e.into_inner()));
        if meetings.is_empty() {
            return Ok(());
        }
        let mut args = vec!["expire"];
        for m in &meetings {
            args.extend(["--meeting", m.as_str()]);
        }
        self.bridge_cli(&args).await.map(|_| ())
    }

    /// Tells an endpoint its client's transport (a browser's answer).
    pub async fn update_endpoint(
        &self,
        ep: &BridgeEndpoint,
        client: &ClientTransport,
    ) -> Result<(), String> {
        let mut args = vec![
            "update",
            "--meeting",
            &ep.meeting,
            "--endpoint",
            &ep.id,
            "--client-ufrag",
            &client.ufrag,
            "--client-pwd",
            &client.pwd,
        ];
        if let Some(f) = &client.fingerprint {
            args.extend(["--client-fingerprint", f]);
        }
        self.bridge_cli(&args).await.map(|_| ())
    }
}

/// The Colibri2 JSON line of `fake-bridge allocate`'s output (stderr may be mixed in).
pub fn parse_allocation(out: &str) -> Result<BridgeEndpoint, String> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no JSON in the allocation's output: {}", out.trim()))?;
    let v: serde_json::Value = serde_json::from_str(line.trim())
        .map_err(|e| format!("the allocation's JSON does not parse: {e}: {line}"))?;
    let transport = parse_transport(&v).map_err(|e| format!("the allocation's transport: {e}"))?;
    let text = |x: Option<&serde_json::Value>| x.and_then(|s| s.as_str()).unwrap_or("").to_string();
    Ok(BridgeEndpoint {
        meeting: text(v.get("meeting-id")),
        id: text(v["endpoints"].get(0).and_then(|e| e.get("id"))),
        transport,
        json: v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_output_with_logs_parses() {
        let out = "2026-01-01 INFO something\n{\"meeting-id\":\"m\",\"endpoints\":[{\"id\":\"e\",\"transport\":{\"transport\":{\"ufrag\":\"u\",\"pwd\":\"p\",\"candidates\":[{\"foundation\":\"1\",\"component\":\"1\",\"protocol\":\"udp\",\"ip\":\"172.30.77.20\",\"port\":\"10000\",\"priority\":\"2130706431\",\"type\":\"host\"}]}}}]}\n";
        let e = parse_allocation(out).unwrap();
        assert_eq!((e.meeting.as_str(), e.id.as_str()), ("m", "e"));
        assert_eq!(e.transport.ufrag, "u");
        assert_eq!(e.transport.candidates.len(), 1);
        assert!(parse_allocation("error: refused").is_err());
    }
}
