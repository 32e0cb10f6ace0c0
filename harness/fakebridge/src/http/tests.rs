//! End-to-end tests of the listeners, over real sockets on 127.0.0.1 only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::*;

const MARKER: &str = "test-marker-42";
const TIMEOUT: Duration = Duration::from_secs(5);

struct Running {
    addrs: BoundAddrs,
    log: Arc<RequestLog>,
    // Held so the listeners keep running for the test's duration.
    _stop: watch::Sender<()>,
}

async fn start() -> Running {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let listeners = bind(&HttpConfig {
        marker: MARKER.to_owned(),
        web: any,
        colibri: Some(any),
        colibri_ws: true,
    })
    .await
    .expect("bind on 127.0.0.1:0");
    let addrs = listeners.addrs();
    let log = listeners.request_log();
    let (stop, stopped) = watch::channel(());
    tokio::spawn(listeners.run(stopped));
    Running {
        addrs,
        log,
        _stop: stop,
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn header_str(&self, name: &str) -> &str {
        let value = self
            .header(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"));
        std::str::from_utf8(value).expect("header is UTF-8")
    }

    fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }
}

/// Sends `request` verbatim (it must ask for `Connection: close`) and parses the reply.
async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("send");
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.expect("read");
        bytes
    };
    let bytes = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .expect("reply in time");
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = std::str::from_utf8(&bytes[..end]).expect("head is ASCII");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, Vec<u8>)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header line");
            (name.to_owned(), value.trim().as_bytes().to_vec())
        })
        .collect();
    let mut body = bytes[end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
    if let Some(length) = length {
        body.truncate(length);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn get(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn every_listener_reports_what_it_saw_with_the_raw_uri() {
    let lab = start().await;
    for addr in [lab.addrs.web, lab.addrs.colibri.unwrap()] {
        let reply = raw(
            addr,
            b"GET /a%3Fb?x=1 HTTP/1.1\r\nHost: meet.lab.test\r\n\
              X-Forwarded-For: 198.51.100.1, 172.30.77.10\r\n\
              X-Forwarded-Host: meet.lab.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(reply.header_str("x-jc-marker"), MARKER);
        assert_eq!(reply.header_str("x-jc-seen-method"), "GET");
        assert_eq!(reply.header_str("x-jc-seen-uri"), "/a%3Fb?x=1");
        assert_eq!(reply.header_str("x-jc-seen-host"), "meet.lab.test");
        assert_eq!(
            reply.header_str("x-jc-seen-xff"),
            "198.51.100.1, 172.30.77.10"
        );
        assert_eq!(reply.header_str("x-jc-seen-xfh"), "meet.lab.test");
    }
    let recent = lab.log.recent();
    assert_eq!(recent.len(), 2);
    let listeners: Vec<_> = recent.iter().map(|r| r.listener).collect();
    assert_eq!(listeners, ["web", "colibri"]);
    assert!(recent
        .iter()
        .all(|r| r.uri == "/a%3Fb?x=1" && r.method == "GET"));
    assert!(recent[0]
        .headers
        .contains(&("x-forwarded-host".to_owned(), "meet.lab.test".to_owned())));
}

#[tokio::test]
async fn absent_forwarding_headers_are_reported_empty() {
    let lab = start().await;
    let reply = raw(
        lab.addrs.colibri.unwrap(),
        b"POST /nowhere HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header_str("x-jc-seen-method"), "POST");
    assert_eq!(reply.header_str("x-jc-seen-host"), "");
    assert_eq!(reply.header_str("x-jc-seen-xff"), "");
    assert_eq!(reply.header_str("x-jc-seen-xfh"), "");
}

#[tokio::test]
async fn web_serves_front_page_config_and_rooms() {
    let lab = start().await;
    let web = lab.addrs.web;

    let front = raw(web, &get("/", "meet.lab.test")).await;
    assert_eq!(front.status, 200);
    assert!(front.header_str("content-type").starts_with("text/html"));
    assert!(front.body_str().contains(&format!("jc-marker:{MARKER}")));

    let config = raw(web, &get("/config.js", "meet.lab.test")).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.header_str("content-type"), "application/javascript");
    assert!(config.body_str().starts_with(
        "var config = { hosts: { domain: 'meet.lab.test', muc: 'conference.meet.lab.test' }, bosh: '//meet.lab.test/http-bind' }; // jc-marker:test-marker-42"
    ));

    let room = raw(web, &get("/SomeRoom", "meet.lab.test")).await;
    assert_eq!(room.status, 200);
    assert_eq!(room.body, front.body);

    let head = raw(
        web,
        b"HEAD / HTTP/1.1\r\nHost: meet.lab.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    assert_eq!(raw(web, &get("/a/b", "meet.lab.test")).await.status, 404);
    let post = raw(
        web,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header_str("x-jc-marker"), MARKER);
}

#[tokio::test]
async fn static_redirect_is_absolute_on_the_host_it_received() {
    let lab = start().await;
    let reply = raw(lab.addrs.web, &get("/static", "172.30.77.20:8443")).await;
    assert_eq!(reply.status, 301);
    assert_eq!(
        reply.header_str("location"),
        "https://172.30.77.20:8443/static/"
    );

    let listing = raw(lab.addrs.web, &get("/static/", "172.30.77.20")).await;
    assert_eq!(listing.status, 200);
    assert!(listing.body_str().contains(&format!("jc-marker:{MARKER}")));
}

#[tokio::test]
async fn bosh_and_xmpp_websocket_are_not_served_here() {
    // nginx proxies them to prosody; a request for them that reaches the web listener (a
    // rewritten path, a missing nginx location) says where it landed, with the marker.
    let lab = start().await;
    for path in ["/http-bind", "/xmpp-websocket"] {
        let reply = raw(
            lab.addrs.web,
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 405, "{path}");
        assert_eq!(reply.header_str("x-jc-marker"), MARKER);
        assert_eq!(reply.header_str("x-jc-seen-uri"), path);
    }
}

#[tokio::test]
async fn colibri_answers_health_and_refuses_the_rest() {
    let lab = start().await;
    let colibri = lab.addrs.colibri.unwrap();
    assert_eq!(raw(colibri, &get("/about/health", "x")).await.status, 200);
    assert_eq!(
        raw(colibri, &get("/colibri-ws/a/b/c", "x")).await.status,
        400
    );
    for path in ["/colibri-ws/a/b", "/colibri-ws/a/b/c/d", "/other", "/"] {
        assert_eq!(raw(colibri, &get(path, "x")).await.status, 404, "{path}");
    }
}

async fn assert_websocket_echo(addr: SocketAddr, path: &str) {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback");
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "xmpp".parse().expect("header value"),
    );
    let session = async {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut socket, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("handshake");
        assert_eq!(response.status(), 101);
        assert_eq!(response.headers()["sec-websocket-protocol"], "xmpp");
        assert_eq!(response.headers()["x-jc-marker"], MARKER);
        assert_eq!(response.headers()["x-jc-seen-uri"], path);

        for message in [
            Message::text("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
            Message::binary(vec![0u8, 0xff, 0x80, 7]),
        ] {
            socket.send(message.clone()).await.expect("send");
            let echoed = socket.next().await.expect("echo").expect("frame");
            assert_eq!(echoed, message);
        }
        socket.close(None).await.expect("close");
    };
    tokio::time::timeout(TIMEOUT, session)
        .await
        .expect("session in time");
}

#[tokio::test]
async fn colibri_websocket_echoes_with_xmpp_subprotocol() {
    let lab = start().await;
    assert_websocket_echo(
        lab.addrs.colibri.unwrap(),
        "/colibri-ws/jvb1/conf%201/ep?pwd=x",
    )
    .await;
}

#[tokio::test]
async fn binding_errors_name_the_listener() {
    let lab = start().await;
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let Err(error) = bind(&HttpConfig {
        marker: MARKER.to_owned(),
        web: lab.addrs.web,
        colibri: Some(any),
        colibri_ws: true,
    })
    .await
    else {
        panic!("binding a port in use must fail");
    };
    let message = format!("{error:#}");
    assert!(message.contains("web listener"), "{message}");
    assert!(message.contains(&lab.addrs.web.to_string()), "{message}");

    let bad_marker = bind(&HttpConfig {
        marker: "line\nbreak".to_owned(),
        web: any,
        colibri: Some(any),
        colibri_ws: true,
    })
    .await;
    assert!(bad_marker.is_err());
}

#[test]
fn request_log_keeps_the_last_256() {
    let log = RequestLog::default();
    for i in 0..300 {
        log.record(SeenRequest {
            listener: "web",
            method: "GET".to_owned(),
            uri: format!("/{i}"),
            headers: Vec::new(),
        });
    }
    let recent = log.recent();
    assert_eq!(recent.len(), seen::LOG_CAPACITY);
    assert_eq!(recent[0].uri, "/44");
    assert_eq!(recent[255].uri, "/299");
}
