//! Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol on
//! `--remote-debugging-pipe`: Chromium reads NUL-terminated JSON commands from fd 3 and writes
//! NUL-terminated responses/events to fd 4. A pipe needs no port, so nothing listens on the
//! network, the browser can live in another network namespace, and browsers never collide.

use std::collections::HashMap;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, oneshot};

/// Flags for a headless browser that talks to nothing but loopback and
/// exposes real host IPs to WebRTC.
pub const DEFAULT_ARGS: &[&str] = &[
    "--headless",
    // Root can't use the setuid/namespace sandbox; the renderer runs unsandboxed.
    "--no-sandbox",
    // No GPU on the machines; software compositing is enough and starts faster.
    "--disable-gpu",
    // Keep Chromium from phoning home (update checks, sync, field trials, ...).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-quic",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
    "--password-store=basic",
    // Without this, host candidates carry a random `<uuid>.local` name instead
    // of the IP, and the peer must resolve it over multicast DNS.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
];

pub struct Config {
    /// Words put before the browser, e.g. `["ip", "netns", "exec", "ns1"]`.
    pub prefix: Vec<String>,
    /// The real binary: Debian's /usr/bin/chromium is a shell wrapper that adds
    /// its own flags (extensions, GPU rasterization) from /etc/chromium.d.
    pub binary: PathBuf,
    pub args: Vec<String>,
    /// Where Chromium's stderr goes (its log is chatty; `Stdio::null()` is fine).
    pub stderr: Option<PathBuf>,
    /// Applied to the launch handshake and as the default for each call.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: Vec::new(),
            binary: PathBuf::from("/usr/lib/chromium/chromium"),
            args: DEFAULT_ARGS.iter().map(|s| s.to_string()).collect(),
            stderr: None,
            timeout: Duration::from_secs(20),
        }
    }
}

/// A running browser; killed (whole process group) and reaped on drop.
pub struct Chromium {
    child: Child,
    profile: PathBuf,
    pub cdp: Cdp,
}

impl Chromium {
    pub async fn launch(cfg: &Config) -> Result<Self> {
        let profile = std::env::temp_dir().join(format!(
            "jc-chromium-{}-{}",
            std::process::id(),
            NEXT_PROFILE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile)?;

        // (parent writes -> child fd 3), (child fd 4 -> parent reads)
        let (cmd_r, cmd_w) = pipe_above(4)?;
        let (ev_r, ev_w) = pipe_above(4)?;

        let mut argv = cfg.prefix.iter().map(String::as_str);
        let mut cmd = match argv.next() {
            Some(first) => {
                let mut c = Command::new(first);
                c.args(argv).arg(&cfg.binary);
                c
            }
            None => Command::new(&cfg.binary),
        };
        cmd.args(&cfg.args)
            .arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(match &cfg.stderr {
                Some(p) => Stdio::from(std::fs::File::create(p)?),
                None => Stdio::null(),
            })
            // Own process group, so drop can kill the renderer/GPU/zygote children too.
            .process_group(0);
        let (child_r, child_w) = (raw(&cmd_r), raw(&ev_w));
        // SAFETY: only async-signal-safe dup2 between fork and exec. The pipe fds are
        // all > 4 (pipe_above), so dup2 onto 3/4 never clobbers the other source;
        // dup2 clears FD_CLOEXEC on the copies, the originals close at exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(child_r, 3) < 0 || libc::dup2(child_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
        // The child has its copies; closing ours lets EOF reach us when it exits.
        drop((cmd_r, ev_w));

        let cdp = Cdp::start(cmd_w, ev_r, cfg.timeout)?;
        let mut me = Self {
            child,
            profile,
            cdp,
        };
        // First round trip doubles as the readiness check.
        if let Err(e) = me.cdp.call(None, "Browser.getVersion", json!({})).await {
            let status = me.child.try_wait().ok().flatten();
            bail!("chromium did not answer on the CDP pipe (exit status {status:?}): {e:#}");
        }
        Ok(me)
    }

    /// A fresh tab with its own flat-mode session.
    pub async fn new_page(&self) -> Result<Page> {
        let t = self
            .cdp
            .call(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await?;
        let target_id = t["targetId"].as_str().context("no targetId")?;
        let a = self
            .cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await?;
        let page = Page {
            cdp: self.cdp.clone(),
            session: a["sessionId"].as_str().context("no sessionId")?.to_string(),
        };
        // For Page.loadEventFired. (Runtime.enable would add console events.)
        page.call("Page.enable", json!({})).await?;
        Ok(page)
    }

    /// Grants e.g. `["audioCapture", "videoCapture"]` to `origin` without a prompt.
    pub async fn grant_permissions(&self, origin: &str, perms: &[&str]) -> Result<()> {
        self.cdp
            .call(
                None,
                "Browser.grantPermissions",
                json!({ "origin": origin, "permissions": perms }),
            )
            .await?;
        Ok(())
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // SIGKILL the group: a graceful Browser.close needs an async round trip,
        // and a test that is tearing down wants the browser gone now.
        // SAFETY: plain syscall on the group we created in launch.
        unsafe { libc::killpg(self.child.id() as libc::pid_t, libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Takes 0.2-0.4 s: the profile holds a few hundred files even for one page.
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

static NEXT_PROFILE: AtomicU64 = AtomicU64::new(0);

fn raw(fd: &OwnedFd) -> RawFd {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// A close-on-exec pipe whose fds are both above `min`.
fn pipe_above(min: RawFd) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid [c_int; 2].
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let lift = |fd: RawFd| -> Result<OwnedFd> {
        // SAFETY: fd was just returned by pipe2 and is owned by nobody else.
        let orig = unsafe { OwnedFd::from_raw_fd(fd) };
        if fd > min {
            return Ok(orig);
        }
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min + 1) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(unsafe { OwnedFd::from_raw_fd(dup) })
    };
    Ok((lift(fds[0])?, lift(fds[1])?))
}

/// Waiters by command id; `None` once the pipe hit EOF, so late calls fail fast.
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Value>>>>>;

/// One CDP connection; cheap to clone.
#[derive(Clone)]
pub struct Cdp {
    tx: Arc<tokio::sync::Mutex<pipe::Sender>>,
    pending: Pending,
    events: broadcast::Sender<Value>,
    next_id: Arc<AtomicU64>,
    timeout: Duration,
}

impl Cdp {
    fn start(w: OwnedFd, r: OwnedFd, timeout: Duration) -> Result<Self> {
        let tx = pipe::Sender::from_owned_fd(w)?;
        let rx = pipe::Receiver::from_owned_fd(r)?;
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let (events, _) = broadcast::channel(1024);
        tokio::spawn(read_loop(rx, pending.clone(), events.clone()));
        Ok(Self {
            tx: Arc::new(tokio::sync::Mutex::new(tx)),
            pending,
            events,
            next_id: Arc::new(AtomicU64::new(1)),
            timeout,
        })
    }

    /// Events (messages without an `id`); subscribe before the command that triggers them.
    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }

    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.call_timeout(session, method, params, self.timeout)
            .await
    }

    pub async fn call_timeout(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let (done, wait) = oneshot::channel();
        match self.pending.lock().unwrap().as_mut() {
            Some(p) => p.insert(id, done),
            None => bail!("{method}: chromium closed the CDP pipe"),
        };
        let mut bytes = serde_json::to_vec(&msg)?;
        bytes.push(0);
        let sent = async { self.tx.lock().await.write_all(&bytes).await };
        let reply = tokio::time::timeout(timeout, async {
            sent.await.context("writing to the CDP pipe")?;
            wait.await
                .map_err(|_| anyhow!("chromium closed the CDP pipe"))
        })
        .await;
        if let Some(p) = self.pending.lock().unwrap().as_mut() {
            p.remove(&id);
        }
        let reply = match reply {
            Ok(r) => r?,
            Err(_) => bail!("{method}: no reply within {timeout:?}"),
        };
        if let Some(e) = reply.get("error") {
            bail!("{method}: {e}");
        }
        Ok(reply["result"].clone())
    }
}

async fn read_loop(rx: pipe::Receiver, pending: Pending, events: broadcast::Sender<Value>) {
    let mut rx = BufReader::new(rx);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match rx.read_until(0, &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.last() == Some(&0) {
            buf.pop();
        }
        let Ok(msg) = serde_json::from_slice::<Value>(&buf) else {
            continue;
        };
        match msg.get("id").and_then(Value::as_u64) {
            Some(id) => {
                let done = pending.lock().unwrap().as_mut().and_then(|p| p.remove(&id));
                if let Some(done) = done {
                    let _ = done.send(msg);
                }
            }
            None => {
                let _ = events.send(msg);
            }
        }
    }
    // EOF: dropping the senders wakes every waiter with "closed the CDP pipe".
    pending.lock().unwrap().take();
}

/// A tab attached in flat mode: commands carry its `sessionId`.
pub struct Page {
    pub cdp: Cdp,
    pub session: String,
}

impl Page {
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.cdp.call(Some(&self.session), method, params).await
    }

    /// Navigates and waits for the load event.
    pub async fn navigate(&self, url: &str, timeout: Duration) -> Result<()> {
        let mut ev = self.cdp.subscribe();
        let r = self
            .cdp
            .call_timeout(
                Some(&self.session),
                "Page.navigate",
                json!({ "url": url }),
                timeout,
            )
            .await?;
        // Network failures are not CDP errors: they come back as errorText.
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            bail!("navigating to {url}: {e}");
        }
        tokio::time::timeout(timeout, async {
            loop {
                match ev.recv().await {
                    Ok(m)
                        if m["method"] == "Page.loadEventFired"
                            && m["sessionId"] == self.session.as_str() =>
                    {
                        return Ok(())
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => bail!("CDP closed"),
                }
            }
        })
        .await
        .map_err(|_| anyhow!("{url}: no load event within {timeout:?}"))?
    }

    /// Evaluates `expr`, awaiting a returned promise; gives the value as JSON.
    /// A thrown exception or rejected promise becomes an error.
    pub async fn evaluate(&self, expr: &str, timeout: Duration) -> Result<Value> {
        let r = self
            .cdp
            .call_timeout(
                Some(&self.session),
                "Runtime.evaluate",
                json!({ "expression": expr, "awaitPromise": true, "returnByValue": true }),
                timeout,
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or(ex["text"].as_str())
                .unwrap_or("exception");
            bail!("page threw: {text}");
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }
}
