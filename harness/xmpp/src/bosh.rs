//! XMPP over BOSH (XEP-0124, XEP-0206), the transport Jitsi's web client uses where `config.js`
//! sets no `websocket`. The caller owns HTTP (its own destination guard): it hands in a
//! [`Post`] that POSTs one `<body/>` to the BOSH URL and returns the answer's text.
//!
//! As Strophe's BOSH connection does, one request is always held by the server (`hold='1'`, so
//! stanzas the server has for us come back on it) and a second carries what we send
//! (`requests='2'`): prosody answers the held one as soon as the second arrives
//! (`mod_bosh.lua`: "We are holding too many requests"). A task owns the session: it numbers
//! the requests (`rid`, consecutive), keeps one poll outstanding and hands every stanza of every
//! answer to [`Bosh::recv`] in order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use minidom::Element;
use tokio::sync::mpsc;

use crate::XmppError;

const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
const XBOSH: &str = "urn:xmpp:xbosh";

/// POSTs one `<body/>` and returns the text of the 200 answer, or why there is none.
pub type Post = Arc<dyn Fn(String) -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// What the session task sends next.
enum Out {
    Stanza(String),
    /// `xmpp:restart='true'` after SASL (XEP-0206 section 5), alone in its request.
    Restart,
    /// `type='terminate'` with the stanzas given (XEP-0124 section 13), alone in its request.
    Terminate(String),
}

/// A BOSH session: stanzas out through [`Bosh::send`], in through [`Bosh::recv`].
pub struct Bosh {
    out: mpsc::UnboundedSender<Out>,
    inbox: mpsc::UnboundedReceiver<Result<Element, XmppError>>,
    /// Stanzas of the session creation answer (the stream features), read first.
    first: VecDeque<Element>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bosh {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Bosh {
    /// Creates the session (XEP-0206 section 4: `to`, `xmpp:version='1.0'`, `wait`, `hold='1'`)
    /// within `timeout`. `wait` must stay under the caller's HTTP timeout: the server holds a
    /// poll that long when it has nothing to say.
    pub async fn create(
        post: Post,
        domain: &str,
        wait: Duration,
        timeout: Duration,
    ) -> Result<Bosh, XmppError> {
        let mut rid: u64 = rand::random_range(1u64 << 20..1u64 << 40);
        let wait_s = wait.as_secs().max(1);
        let create = format!(
            "<body xmlns='{HTTPBIND}' xmlns:xmpp='{XBOSH}' content='text/xml; charset=utf-8' hold='1' rid='{rid}' to='{}' ver='1.6' wait='{wait_s}' xml:lang='en' xmpp:version='1.0'/>",
            escape(domain)
        );
        let answer = tokio::time::timeout(timeout, post(create))
            .await
            .map_err(|_| XmppError::timeout("the BOSH session request was not answered", timeout))?
            .map_err(|e| XmppError::Transport(format!("the BOSH session request: {e}")))?;
        let body = parse_body(&answer)?;
        let sid = body
            .attr("sid")
            .ok_or_else(|| {
                XmppError::Protocol(format!("the BOSH session answer has no sid: {answer}"))
            })?
            .to_string();
        let first: VecDeque<Element> = body.children().cloned().collect();
        let (out, out_rx) = mpsc::unbounded_channel();
        let (in_tx, inbox) = mpsc::unbounded_channel();
        rid += 1;
        let task = tokio::spawn(run(post, sid, rid, out_rx, in_tx));
        Ok(Bosh {
            out,
            inbox,
            first,
            task,
        })
    }

    pub fn send(&self, stanza: String) -> Result<(), XmppError> {
        self.out
            .send(Out::Stanza(stanza))
            .map_err(|_| XmppError::Transport("the BOSH session has ended".into()))
    }

    pub fn restart(&self) -> Result<(), XmppError> {
        self.out
            .send(Out::Restart)
            .map_err(|_| XmppError::Transport("the BOSH session has ended".into()))
    }

    /// Ends the session with `stanzas` in the terminating request.
    pub fn terminate(&self, stanzas: String) -> Result<(), XmppError> {
        self.out
            .send(Out::Terminate(stanzas))
            .map_err(|_| XmppError::Transport("the BOSH session has ended".into()))
    }

    /// The next stanza from the server; `None` once the session has ended.
    pub async fn recv(&mut self) -> Option<Result<Element, XmppError>> {
        if let Some(el) = self.first.pop_front() {
            return Some(Ok(el));
        }
        self.inbox.recv().await
    }
}

/// The session task: what `out` brings goes out in order, one poll is always outstanding, and
/// every answer's stanzas go to `inbox` in request order.
async fn run(
    post: Post,
    sid: String,
    mut rid: u64,
    mut out: mpsc::UnboundedReceiver<Out>,
    inbox: mpsc::UnboundedSender<Result<Element, XmppError>>,
) {
    let mut queue: VecDeque<Out> = VecDeque::new();
    let mut inflight = FuturesOrdered::new();
    let mut out_open = true;
    let mut terminated = false;
    loop {
        // What to send: queued stanzas in one request (a restart or terminate alone), while
        // fewer than two requests are open; else a poll when none is.
        while inflight.len() < 2 && !queue.is_empty() && !terminated {
            let (attrs, payload) = match queue.pop_front() {
                Some(Out::Restart) => (
                    format!(" xmlns:xmpp='{XBOSH}' xmpp:restart='true'"),
                    String::new(),
                ),
                Some(Out::Terminate(s)) => {
                    terminated = true;
                    (" type='terminate'".to_string(), s)
                }
                Some(Out::Stanza(s)) => {
                    let mut payload = s;
                    while let Some(Out::Stanza(_)) = queue.front() {
                        if let Some(Out::Stanza(next)) = queue.pop_front() {
                            payload.push_str(&next);
                        }
                    }
                    (String::new(), payload)
                }
                None => break,
            };
            inflight.push_back(post(body(&sid, rid, &attrs, &payload)));
            rid += 1;
        }
        if inflight.is_empty() && !terminated {
            inflight.push_back(post(body(&sid, rid, "", "")));
            rid += 1;
        }
        tokio::select! {
            msg = out.recv(), if out_open => match msg {
                Some(m) => queue.push_back(m),
                None => out_open = false,
            },
            Some(answer) = inflight.next() => {
                let stanzas = answer
                    .map_err(|e| XmppError::Transport(format!("BOSH request: {e}")))
                    .and_then(|text| parse_body(&text));
                match stanzas {
                    Err(e) => {
                        let _ = inbox.send(Err(e));
                        return;
                    }
                    Ok(body) => {
                        for el in body.children() {
                            if inbox.send(Ok(el.clone())).is_err() {
                                return;
                            }
                        }
                        if body.attr("type") == Some("terminate") {
                            return;
                        }
                    }
                }
                if terminated && inflight.is_empty() {
                    return;
                }
            },
            else => return,
        }
    }
}

fn body(sid: &str, rid: u64, attrs: &str, payload: &str) -> String {
    format!(
        "<body xmlns='{HTTPBIND}' rid='{rid}' sid='{}'{attrs}>{payload}</body>",
        escape(sid)
    )
}

/// The answer's `<body/>`; a `type='terminate'` answer with a condition is an error.
fn parse_body(text: &str) -> Result<Element, XmppError> {
    let body: Element = text
        .parse()
        .map_err(|e| XmppError::Protocol(format!("the BOSH answer is not XML ({e}): {text}")))?;
    if !body.is("body", HTTPBIND) {
        return Err(XmppError::Protocol(format!(
            "the BOSH answer is not a <body/>: {text}"
        )));
    }
    if body.attr("type") == Some("terminate") {
        if let Some(condition) = body.attr("condition") {
            return Err(XmppError::Protocol(format!(
                "the server ended the BOSH session ({condition})"
            )));
        }
    }
    Ok(body)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_bodies_and_errors_say_the_condition() {
        let b = parse_body("<body xmlns='http://jabber.org/protocol/httpbind' sid='s1'><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></body>").unwrap();
        assert_eq!(b.attr("sid"), Some("s1"));
        assert_eq!(b.children().count(), 1);
        let e = parse_body("<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='item-not-found'/>").unwrap_err();
        assert!(e.to_string().contains("item-not-found"), "{e}");
        assert!(parse_body("<html/>").is_err());
    }

    #[test]
    fn requests_carry_sid_rid_and_payload() {
        assert_eq!(
            body("ab", 7, " type='terminate'", "<presence/>"),
            "<body xmlns='http://jabber.org/protocol/httpbind' rid='7' sid='ab' type='terminate'><presence/></body>"
        );
    }
}
