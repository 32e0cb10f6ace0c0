//! A real browser on the lab's internet side (SPEC section 9): Debian's headless Chromium, in
//! a network namespace whose only interface besides loopback is on the lab's wan, answers an
//! offer built from the bridge's transport with only the srflx candidate (`setup:actpass`, so
//! Chromium is ICE-controlled and DTLS-active). Its ufrag, pwd and fingerprint reach the bridge
//! through the control API, never its candidates; ICE, DTLS, SCTP and a data-channel echo must
//! complete, and Chromium's own stats say which pair carried them. No STUN/TURN servers, no
//! background networking, no mDNS candidates; the page is served on the namespace's loopback.

pub mod chromium;
pub mod netns;

use crate::lab::bridge_api::{BridgeEndpoint, ClientTransport};
use crate::lab::Lab;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Debian's real binary: `/usr/bin/chromium` is a wrapper script that adds flags from
/// /etc/chromium.d.
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";

const SESSION_JS: &str = include_str!("session.js");

/// What the browser session showed. Facts; the caller judges.
#[derive(Debug, Clone, Serialize)]
pub struct BrowserFacts {
    pub ok: bool,
    /// `ok`, or the stage that failed: `launch`, `signalling`, `ice`, `dtls`, `sctp`, `echo`.
    pub stage: String,
    /// Chromium's own reason (its JS state and, on failure, its WebRTC log lines).
    pub reason: String,
    /// The selected pair's remote candidate as Chromium's stats give it (`ip:port type`).
    pub selected_remote: Option<(String, u16, String)>,
    /// Chromium's view: ICE role, DTLS role, SRTP cipher, ...
    pub pair: serde_json::Value,
    pub elapsed_ms: u64,
    /// Milliseconds into the run at which each step completed.
    pub steps: Vec<(String, u64)>,
    pub chromium_log: Vec<String>,
}

/// The browser binary, if this host has it.
pub fn chromium() -> Option<PathBuf> {
    Some(PathBuf::from(CHROMIUM)).filter(|p| p.is_file())
}

/// The SDP offer a Jitsi client would turn the bridge's transport into, with only the
/// bridge's UDP srflx candidate (the address an internet client can reach).
pub fn offer_sdp(ep: &BridgeEndpoint) -> Result<String, String> {
    let t = &ep.transport;
    let srflx = t
        .candidates
        .iter()
        .find(|c| c.typ == "srflx" && c.protocol.eq_ignore_ascii_case("udp"))
        .ok_or("the bridge advertises no UDP srflx candidate to offer the browser")?;
    let (hash, fp) = t
        .fingerprints
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case("sha-256"))
        .ok_or("the bridge's transport has no sha-256 fingerprint")?;
    let mut candidate = format!(
        "candidate:{} {} udp {} {} {} typ srflx",
        srflx.foundation, srflx.component, srflx.priority, srflx.ip, srflx.port
    );
    if let (Some(a), Some(p)) = (&srflx.rel_addr, srflx.rel_port) {
        candidate.push_str(&format!(" raddr {a} rport {p}"));
    }
    candidate.push_str(" generation 0");
    Ok(format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n\
m=application {port} UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 {ip}\r\na=mid:0\r\n\
a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\na=fingerprint:{hash} {fp}\r\na=setup:actpass\r\n\
a=sctp-port:5000\r\na=max-message-size:262144\r\na={candidate}\r\na=end-of-candidates\r\n",
        port = srflx.port,
        ip = srflx.ip,
        ufrag = t.ufrag,
        pwd = t.pwd,
    ))
}

/// The client transport of an answer: ice-ufrag, ice-pwd and the fingerprint.
pub fn answer_transport(sdp: &str) -> Result<ClientTransport, String> {
    let attr = |name: &str| {
        sdp.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("a={name}:")))
            .map(|v| v.trim().to_string())
    };
    Ok(ClientTransport {
        ufrag: attr("ice-ufrag").ok_or("the answer has no ice-ufrag")?,
        pwd: attr("ice-pwd").ok_or("the answer has no ice-pwd")?,
        fingerprint: Some(attr("fingerprint").ok_or("the answer has no fingerprint")?),
    })
}

/// WebRTC warnings and errors from Chromium's log (`--enable-logging=stderr`): the only place
/// it says why DTLS failed (e.g. "Rejected peer certificate due to mismatched digest").
fn webrtc_log_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for l in String::from_utf8_lossy(&text).lines() {
        if (l.contains(":WARNING:") || l.contains(":ERROR:"))
            && (l.contains("webrtc") || l.contains("dtls") || l.contains("p2p"))
            && !out.iter().any(|s| s == l)
        {
            out.push(l.to_string());
        }
    }
    out
}

async fn serve(listener: tokio::net::TcpListener, page: String) {
    while let Ok((mut s, _)) = listener.accept().await {
        let page = page.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        });
    }
}

/// Runs the session against `lab`'s bridge through its NAT, within `budget` (plus Chromium's
/// start).
pub async fn webrtc_session(lab: &Lab, budget: Duration) -> BrowserFacts {
    let t0 = Instant::now();
    let mut facts = BrowserFacts {
        ok: false,
        stage: "launch".into(),
        reason: String::new(),
        selected_remote: None,
        pair: serde_json::Value::Null,
        elapsed_ms: 0,
        steps: Vec::new(),
        chromium_log: Vec::new(),
    };
    let log = std::env::temp_dir().join(format!("jc-chromium-{}.log", lab.id));
    let result = run(lab, budget, t0, &log, &mut facts).await;
    if let Err((stage, reason)) = result {
        facts.stage = stage.into();
        facts.reason = reason;
    }
    facts.chromium_log = webrtc_log_lines(&log);
    if !facts.ok && !facts.chromium_log.is_empty() {
        facts.reason.push_str(&format!(
            "; Chromium's log: {}",
            facts.chromium_log.join(" | ")
        ));
    }
    let _ = std::fs::remove_file(&log);
    facts.elapsed_ms = t0.elapsed().as_millis() as u64;
    facts
}

type Failure = (&'static str, String);

async fn run(
    lab: &Lab,
    budget: Duration,
    t0: Instant,
    log: &Path,
    facts: &mut BrowserFacts,
) -> Result<(), Failure> {
    let step = |facts: &mut BrowserFacts, name: &str| {
        facts
            .steps
            .push((name.to_string(), t0.elapsed().as_millis() as u64))
    };
    let binary = chromium().ok_or((
        "launch",
        format!("{CHROMIUM} is not installed (Debian's `chromium` package)"),
    ))?;
    let signalling = |e: String| ("signalling", e);
    let ep = lab.allocate_endpoint(None).await.map_err(signalling)?;
    let offer = offer_sdp(&ep).map_err(signalling)?;
    step(facts, "allocated");

    let plan = &lab.plan;
    let ns = netns::Netns::create(
        &lab.id,
        &lab.wan_bridge(),
        plan.browser_ip,
        plan.wan.prefix_len(),
    )
    .map_err(|e| ("launch", format!("the browser's network namespace: {e}")))?;
    let listener = netns::bind_loopback(&ns.name).map_err(|e| ("launch", e))?;
    let origin = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| ("launch", e.to_string()))?
    );
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>jitsi-conformance</title><script>{SESSION_JS}</script>"
    );
    let server = tokio::spawn(serve(listener, page));
    let mut cfg = chromium::Config {
        prefix: ["ip", "netns", "exec", &ns.name].map(String::from).to_vec(),
        binary,
        stderr: Some(log.to_path_buf()),
        ..chromium::Config::default()
    };
    cfg.args.push("--enable-logging=stderr".into());
    let launched = async {
        let browser = chromium::Chromium::launch(&cfg).await?;
        // With media permission Chromium enumerates every interface of the namespace (only
        // eth0 here) and shows real addresses.
        browser
            .grant_permissions(&origin, &["audioCapture", "videoCapture"])
            .await?;
        let page = browser.new_page().await?;
        page.navigate(&format!("{origin}/"), Duration::from_secs(10))
            .await?;
        anyhow::Ok((browser, page))
    }
    .await;
    let (browser, page) = launched.map_err(|e| ("launch", format!("{e:#}")))?;
    step(facts, "loaded");

    let answer = page
        .evaluate(
            &format!(
                "jcPrepare({})",
                serde_json::to_string(&offer).expect("a string")
            ),
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| ("signalling", format!("Chromium refused the offer: {e:#}")))?;
    let client = answer_transport(answer.as_str().unwrap_or("")).map_err(signalling)?;
    lab.update_endpoint(&ep, &client)
        .await
        .map_err(signalling)?;
    step(facts, "answered");

    let message = format!("jc-chromium {:016x}", rand::random::<u64>());
    let opts = serde_json::json!({ "message": message, "timeoutMs": budget.as_millis() as u64 });
    let r = page
        .evaluate(&format!("jcRun({opts})"), budget + Duration::from_secs(5))
        .await
        .map_err(|e| ("ice", format!("the page failed: {e:#}")))?;
    step(facts, "done");
    drop(browser);
    server.abort();
    drop(ns);
    facts.pair = r["pair"].clone();
    let remote = &r["pair"]["remote"];
    facts.selected_remote = remote["address"].as_str().map(|a| {
        (
            a.to_string(),
            remote["port"].as_u64().unwrap_or(0) as u16,
            remote["type"].as_str().unwrap_or("").to_string(),
        )
    });
    facts.ok = r["ok"] == true;
    facts.stage = r["stage"].as_str().unwrap_or("echo").to_string();
    facts.reason = r["reason"].as_str().unwrap_or("").to_string();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let sdp = "v=0\r\na=ice-ufrag:Ab1\r\na=ice-pwd:secretsecretsecret\r\na=fingerprint:sha-256 AA:BB\r\na=setup:active\r\n";
        let c = answer_transport(sdp).unwrap();
        assert_eq!(c.ufrag, "Ab1");
        assert_eq!(c.fingerprint.as_deref(), Some("sha-256 AA:BB"));
        assert!(answer_transport("v=0\r\n").is_err());
    }
}
