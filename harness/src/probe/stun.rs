//! STUN Binding with short-term credentials from the internet client, over UDP and over
//! RFC 4571-framed TCP. Facts, never verdicts: what came back, from which address, or that
//! nothing came within the budget. Every destination passes the lab's guard before a packet
//! leaves, and sockets bind the client's address.

use crate::net::Guard;
use jc_stun::client::{self, Facts};
use jc_stun::framing;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The credentials of one allocated endpoint plus the client's own ufrag.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub bridge_ufrag: String,
    pub bridge_pwd: String,
    pub client_ufrag: String,
}

/// One datagram or frame that came back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The address it came from (UDP: the datagram's source; TCP: the connection's peer).
    pub from: SocketAddr,
    pub after_ms: u128,
    pub facts: Facts,
}

/// What a Binding transaction saw.
#[derive(Debug, Clone)]
pub struct StunFacts {
    pub sent_to: SocketAddr,
    pub sent_from: Option<SocketAddr>,
    /// How many requests went out.
    pub sends: u32,
    pub waited_ms: u128,
    /// Every reply that decoded or not, in arrival order (a reply from an unexpected source
    /// is kept: it is the evidence of a return path that bypasses the NAT).
    pub replies: Vec<Reply>,
    /// TCP: what ended the exchange when no frame came (refused, closed, timed out).
    pub transport_error: Option<String>,
}

impl StunFacts {
    /// The first reply from the address the request was sent to.
    pub fn from_dest(&self) -> Option<&Reply> {
        self.replies.iter().find(|r| r.from == self.sent_to)
    }

    /// Replies from anywhere else.
    pub fn from_elsewhere(&self) -> Vec<&Reply> {
        self.replies
            .iter()
            .filter(|r| r.from != self.sent_to)
            .collect()
    }

    /// "no answer within 1500 ms (3 sends)" or the transport error.
    pub fn silence(&self) -> String {
        match &self.transport_error {
            Some(e) => e.clone(),
            None => format!(
                "no answer within {} ms ({} send{})",
                self.waited_ms,
                self.sends,
                if self.sends == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Short words for a reply's facts: class, error, XOR-MAPPED-ADDRESS, integrity, fingerprint.
pub fn describe(f: &Facts) -> String {
    let Some(class) = f.class else {
        return format!(
            "not STUN ({})",
            f.decode_error.as_deref().unwrap_or("undecodable")
        );
    };
    let mut s = format!("{class:?}").to_lowercase();
    if let Some(c) = f.error_code {
        s.push_str(&format!(
            " {c} {}",
            f.error_reason.as_deref().unwrap_or_default()
        ));
    }
    if let Some(x) = f.xor_mapped {
        s.push_str(&format!(", XOR-MAPPED-ADDRESS {x}"));
    }
    let yn = |o: Option<bool>| match o {
        Some(true) => "verifies",
        Some(false) => "does NOT verify",
        None => "absent",
    };
    s.push_str(&format!(
        ", MESSAGE-INTEGRITY {}, FINGERPRINT {}",
        yn(f.integrity_ok),
        yn(f.fingerprint_ok)
    ));
    if !f.transaction_id_matches {
        s.push_str(", transaction id does not match the request");
    }
    s
}

/// A Binding request (USERNAME, PRIORITY, ICE-CONTROLLED, MESSAGE-INTEGRITY, FINGERPRINT)
/// to `dest` over UDP: up to three sends spread over `budget`, every reply collected until a
/// reply from `dest` arrives or the budget ends.
pub async fn binding_udp(
    guard: &Guard,
    dest: SocketAddr,
    creds: &Credentials,
    budget: Duration,
) -> Result<StunFacts, String> {
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(guard.client_ip().into(), 0))
        .await
        .map_err(|e| format!("cannot bind a UDP socket on {}: {e}", guard.client_ip()))?;
    binding_udp_on(guard, &socket, dest, creds, budget).await
}

/// [`binding_udp`] from a socket the caller bound (on the client's address), e.g. to send
/// from the same source port again.
pub async fn binding_udp_on(
    guard: &Guard,
    socket: &tokio::net::UdpSocket,
    dest: SocketAddr,
    creds: &Credentials,
    budget: Duration,
) -> Result<StunFacts, String> {
    let dest = guard.check(dest).map_err(|e| e.to_string())?;
    let (req, tid) = client::binding_request(
        &mut rand::rng(),
        &creds.bridge_ufrag,
        &creds.client_ufrag,
        &creds.bridge_pwd,
    );
    let started = Instant::now();
    let deadline = started + budget;
    let mut facts = StunFacts {
        sent_to: dest,
        sent_from: socket.local_addr().ok(),
        sends: 0,
        waited_ms: 0,
        replies: Vec::new(),
        transport_error: None,
    };
    let mut buf = vec![0u8; 2048];
    for i in 0..3u32 {
        // Unconnected socket: send_to every time, recv_from keeps any source.
        socket
            .send_to(&req, dest)
            .await
            .map_err(|e| format!("send to {dest}: {e}"))?;
        facts.sends += 1;
        let next = if i == 2 {
            deadline
        } else {
            started + budget * (i + 1) / 3
        };
        loop {
            let now = Instant::now();
            if now >= next {
                break;
            }
            match tokio::time::timeout(next - now, socket.recv_from(&mut buf)).await {
                Err(_) => break,
                // ICMP errors may surface on some kernels; they are silence here.
                Ok(Err(_)) => continue,
                Ok(Ok((n, from))) => {
                    facts.replies.push(Reply {
                        from,
                        after_ms: started.elapsed().as_millis(),
                        facts: client::verify_response(&buf[..n], &creds.bridge_pwd, &tid),
                    });
                    if from == dest {
                        facts.waited_ms = started.elapsed().as_millis();
                        return Ok(facts);
                    }
                }
            }
        }
    }
    facts.waited_ms = started.elapsed().as_millis();
    Ok(facts)
}

/// The same request over RFC 4571 framing on a TCP connection to `dest` (no ssltcp preamble:
/// the bridge takes a first frame as STUN). One send; the first frame back is the answer.
pub async fn binding_tcp(
    guard: &Guard,
    dest: SocketAddr,
    creds: &Credentials,
    budget: Duration,
) -> Result<StunFacts, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dest = guard.check(dest).map_err(|e| e.to_string())?;
    let (req, tid) = client::binding_request(
        &mut rand::rng(),
        &creds.bridge_ufrag,
        &creds.client_ufrag,
        &creds.bridge_pwd,
    );
    let started = Instant::now();
    let mut facts = StunFacts {
        sent_to: dest,
        sent_from: None,
        sends: 0,
        waited_ms: 0,
        replies: Vec::new(),
        transport_error: None,
    };
    let mut stream = match guard.connect_tcp(dest, budget).await {
        Ok(s) => s,
        Err(e) => {
            facts.waited_ms = started.elapsed().as_millis();
            facts.transport_error = Some(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    format!("connection to {dest} refused")
                }
                std::io::ErrorKind::TimedOut => format!(
                    "no answer to the TCP connect to {dest} within {} ms",
                    budget.as_millis()
                ),
                _ => format!("connect to {dest}: {e}"),
            });
            return Ok(facts);
        }
    };
    facts.sent_from = stream.local_addr().ok();
    let peer = stream.peer_addr().unwrap_or(dest);
    let frame = framing::frame(&req).ok_or("request too large for RFC 4571 framing")?;
    if let Err(e) = stream.write_all(&frame).await {
        facts.transport_error = Some(format!("write to {dest}: {e}"));
        return Ok(facts);
    }
    facts.sends = 1;
    let mut unframer = framing::Unframer::new();
    let mut buf = vec![0u8; 4096];
    let deadline = started + budget;
    loop {
        if let Some(f) = unframer.next_frame() {
            facts.replies.push(Reply {
                from: peer,
                after_ms: started.elapsed().as_millis(),
                facts: client::verify_response(&f, &creds.bridge_pwd, &tid),
            });
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            facts.transport_error = Some(format!(
                "connected to {dest}, but no framed answer within {} ms",
                budget.as_millis()
            ));
            break;
        }
        match tokio::time::timeout(deadline - now, stream.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) => {
                facts.transport_error = Some(format!(
                    "connected to {dest}, but it closed the connection without a framed answer{}",
                    if unframer.pending() > 0 {
                        format!(" ({} bytes of an incomplete frame)", unframer.pending())
                    } else {
                        String::new()
                    }
                ));
                break;
            }
            Ok(Ok(n)) => unframer.push(&buf[..n]),
            Ok(Err(e)) => {
                facts.transport_error = Some(format!("connected to {dest}, then: {e}"));
                break;
            }
        }
    }
    facts.waited_ms = started.elapsed().as_millis();
    Ok(facts)
}
