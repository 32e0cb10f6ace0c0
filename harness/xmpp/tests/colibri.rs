//! The focus with the lab's allocator: endpoints allocated, updated and expired on the fake
//! bridge's Colibri2 control API (jc-videobridge's `ControlApi`, served here over HTTP/1.1 on
//! loopback as the fake bridge serves it), through a real prosody.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jc_videobridge::config::IceSettings;
use jc_videobridge::control::ControlApi;
use jc_videobridge::responder::BridgeState;
use jc_xmpp::colibri::ColibriAllocator;
use jc_xmpp::component::Component;
use jc_xmpp::focus::Focus;
use jc_xmpp::{Client, ClientTransport};
use support::{Prosody, COMPONENT_SECRET, DOMAIN, FOCUS, MUC};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(5);
const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

/// One request per connection, `Connection: close`, as the control client sends them.
async fn serve(api: ControlApi) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let api = api.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "request cut short");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_string();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        break (i + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = s.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut words = head.split_whitespace();
                let (method, path) = (words.next().unwrap(), words.next().unwrap());
                let (status, json) =
                    api.handle_http(method, path, &buf[head_end..head_end + length]);
                let body = json.to_string();
                let out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(out.as_bytes()).await.unwrap();
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_focus_allocates_updates_and_expires_on_the_control_api() {
    let p = Prosody::start();
    let state = BridgeState::new(
        IceSettings::default(),
        vec!["172.30.77.20".parse().unwrap()],
    );
    let api = serve(ControlApi::new(state.clone())).await;
    let component = Component::connect(p.component, FOCUS, COMPONENT_SECRET, T)
        .await
        .unwrap();
    let allocator = ColibriAllocator::new(api).unwrap();
    let focus = tokio::spawn(Focus::new(component, MUC, Arc::new(allocator)).run());
    let room = format!("colibri@{MUC}");
    let mut clients = Vec::new();
    for nick in ["alice", "bob"] {
        let tcp = p.tcp().await;
        let mut c = Client::connect(tcp, &p.ws_url("colibri"), DOMAIN, T)
            .await
            .unwrap();
        c.conference_request(FOCUS, &room, T).await.unwrap();
        c.join(&room, nick, T).await.unwrap();
        clients.push((nick, c));
    }
    for (nick, c) in &mut clients {
        let offer = c.await_session_initiate(T).await.unwrap();
        let endpoint = state
            .endpoint(nick)
            .expect("the endpoint exists on the bridge");
        assert_eq!(offer.transport.ufrag, endpoint.ufrag);
        assert_eq!(offer.transport.pwd, endpoint.pwd);
        assert_eq!(offer.transport.candidates[0].ip, "172.30.77.20");
        assert_eq!(offer.sctp_port, Some(5000), "{}", offer.raw);
        let client = ClientTransport {
            ufrag: format!("{nick}u"),
            pwd: format!("{nick}-client-password-0123"),
            fingerprint: ("sha-256".into(), FP.into()),
        };
        c.accept(&offer, &client, T).await.unwrap();
        let endpoint = state.endpoint(nick).unwrap();
        assert_eq!(endpoint.remote_ufrag, Some(client.ufrag.clone()));
        assert_eq!(endpoint.remote_pwd, Some(client.pwd.clone()));
        assert_eq!(endpoint.remote_fingerprints[0].fingerprint, FP);
    }
    for (_, c) in clients {
        c.leave(T).await.unwrap();
    }
    let deadline = Instant::now() + T;
    while state.endpoint("alice").is_some() || state.endpoint("bob").is_some() {
        assert!(Instant::now() < deadline, "the endpoints were not expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!focus.is_finished());
}
