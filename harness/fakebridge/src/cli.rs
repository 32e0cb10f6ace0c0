//! `jitsi-conformance fake-bridge`: the fake Jitsi backend and videobridge of the lab's bridge
//! host. The harness mounts the suite's own executable into the bridge container and runs this
//! subcommand there (SPEC section 12: no second build, no cargo at run time).
//!
//! A thin CLI: it parses arguments, binds every task's sockets, announces readiness and then
//! waits for SIGTERM/SIGINT. The tasks themselves live in the library.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::{http, videobridge};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing_subscriber::EnvFilter;

/// The line the harness waits for on stdout before it starts probing.
const READY_LINE: &str = "jc-fake-bridge ready";

/// The line the lab waits for once the focus component is authenticated.
const FOCUS_READY_LINE: &str = "jc-focus ready";

/// How long prosody gets to accept the focus component.
const FOCUS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight requests get to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What the bridge host runs, or asks of the running bridge.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every listener until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Allocate an endpoint through the private control API and print its Colibri2 JSON.
    Allocate(AllocateArgs),
    /// Tell an endpoint its client's transport (ufrag, pwd, DTLS fingerprint), as jicofo
    /// forwards a participant's session-accept.
    Update(UpdateArgs),
    /// End conferences, as jicofo expires a conference its last participant left (a PATCH
    /// `{"expire":true}` each): their endpoints' ufrags and the remote addresses bound to them
    /// stop being recognised.
    Expire(ExpireArgs),
    /// The focus stand-in: an XEP-0114 component `focus.DOMAIN` on prosody that plays
    /// jicofo's part (conference request, MUC, session-initiate with endpoints allocated on
    /// the control API). Prints `jc-focus ready` once authenticated; never reconnects.
    Focus(FocusArgs),
}

#[derive(Args, Debug)]
pub struct FocusArgs {
    /// The deployment's domain (the focus is `focus.DOMAIN`).
    #[arg(long)]
    domain: String,
    /// The MUC service (`conference.DOMAIN`).
    #[arg(long)]
    muc: String,
    /// Prosody's component port (loopback only).
    #[arg(long)]
    component_addr: SocketAddr,
    /// The component's `component_secret`.
    #[arg(long)]
    secret: String,
    /// The bridge's private control API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    control: SocketAddr,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    api: SocketAddr,
    #[arg(long)]
    meeting: String,
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    client_ufrag: String,
    #[arg(long)]
    client_pwd: String,
    /// `HASH FINGERPRINT`, e.g. `sha-256 AB:CD:...`.
    #[arg(long)]
    client_fingerprint: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExpireArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    api: SocketAddr,
    /// A conference's meeting id (repeat for several).
    #[arg(long, required = true)]
    meeting: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AllocateArgs {
    /// The control API (JVB's private REST API address).
    #[arg(long, default_value = "127.0.0.1:8080")]
    api: SocketAddr,
    /// The client's ICE ufrag, told to the bridge (never its candidates).
    #[arg(long, requires = "client_pwd")]
    client_ufrag: Option<String>,
    /// The client's ICE pwd.
    #[arg(long, requires = "client_ufrag")]
    client_pwd: Option<String>,
    /// The client's DTLS fingerprint, `HASH FINGERPRINT` (e.g. `sha-256 AB:CD:...`).
    #[arg(long, requires = "client_ufrag")]
    client_fingerprint: Option<String>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Stamped on every response (`x-jc-marker`) and in the pages, to tell backends apart.
    #[arg(long)]
    marker: String,
    /// The web listener (nginx's static site stand-in).
    #[arg(long, default_value = "127.0.0.1:8000")]
    web: SocketAddr,
    /// The videobridge's config directory: only its `sip-communicator.properties` and
    /// `jvb.conf` are read, once, at start.
    #[arg(long, default_value = videobridge::DEFAULT_CONFIG_DIR)]
    config_dir: PathBuf,
    /// The address the videobridge's UDP and ICE-TCP ports bind on.
    #[arg(long, default_value = "0.0.0.0")]
    media_ip: IpAddr,
    /// The private control API (JVB binds its REST API on 127.0.0.1:8080).
    #[arg(long, default_value = "127.0.0.1:8080")]
    control: SocketAddr,
}

/// Runs one fake-bridge command to its end, on a runtime of its own.
pub fn main(command: Command) -> i32 {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // The harness captures stderr into reports: no colour codes unless a person watches.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("fake-bridge: cannot start the runtime: {error}");
            return 1;
        }
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Serve(args) => serve(args).await,
            Command::Allocate(args) => allocate(args).await,
            Command::Update(args) => update(args).await,
            Command::Expire(args) => expire(args).await,
            Command::Focus(args) => focus(args).await,
        }
    });
    match outcome {
        Ok(()) => 0,
        // A config file the bridge cannot read: `file:line: reason`, as JVB's own start fails.
        Err(error) if error.is::<jc_videobridge::config::ParseError>() => {
            eprintln!("{error}");
            1
        }
        Err(error) => {
            eprintln!("fake-bridge: {error:#}");
            1
        }
    }
}

async fn focus(args: FocusArgs) -> Result<()> {
    let stop_signal = StopSignal::install()?;
    let allocator =
        jc_xmpp::colibri::ColibriAllocator::new(args.control).map_err(anyhow::Error::msg)?;
    let jid = format!("focus.{}", args.domain);
    tracing::info!(%jid, addr = %args.component_addr, "connecting the focus component");
    let component = jc_xmpp::component::Component::connect(
        args.component_addr,
        &jid,
        &args.secret,
        FOCUS_CONNECT_TIMEOUT,
    )
    .await?;
    tracing::info!(%jid, muc = %args.muc, control = %args.control, "focus component authenticated");
    announce(FOCUS_READY_LINE)?;
    let focus = jc_xmpp::focus::Focus::new(component, &args.muc, std::sync::Arc::new(allocator));
    tokio::select! {
        () = stop_signal.wait() => Ok(()),
        // The focus only ends when prosody drops it: an error, never a reconnect.
        r = focus.run() => r.map_err(|e| anyhow::anyhow!("the focus stopped: {e}")),
    }
}

async fn update(args: UpdateArgs) -> Result<()> {
    let client = videobridge::client_transport(
        Some(&args.client_ufrag),
        Some(&args.client_pwd),
        args.client_fingerprint.as_deref(),
    )
    .expect("both given");
    let body = videobridge::update_body(&args.endpoint, client);
    let (status, text) = videobridge::patch(args.api, &args.meeting, &body).await?;
    if status != 200 {
        anyhow::bail!("the control API answered {status}: {text}");
    }
    println!("{text}");
    Ok(())
}

async fn expire(args: ExpireArgs) -> Result<()> {
    let body = serde_json::json!({ "expire": true });
    for meeting in &args.meeting {
        let (status, text) = videobridge::patch(args.api, meeting, &body).await?;
        // 404: already gone (its last endpoint expired with it), which is what was asked.
        if status != 200 && status != 404 {
            anyhow::bail!("the control API answered {status} for {meeting}: {text}");
        }
    }
    Ok(())
}

async fn allocate(args: AllocateArgs) -> Result<()> {
    let body = videobridge::allocate_body_with(
        args.client_ufrag.as_deref(),
        args.client_pwd.as_deref(),
        args.client_fingerprint.as_deref(),
    );
    let (status, text) = videobridge::allocate(args.api, &body).await?;
    if status != 200 {
        anyhow::bail!("the control API answered {status}: {text}");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .context("cannot write the allocation to stdout")
}

async fn serve(args: ServeArgs) -> Result<()> {
    // Installed before anything is announced, so a stop sent right after the ready line is
    // never met by the default action (dying with no clean-up).
    let stop_signal = StopSignal::install()?;
    // Dropping `stop` tells every task to wind down.
    let (stop, stopped) = watch::channel(());
    let mut tasks = JoinSet::new();

    // JVB's public HTTP server (colibri websockets) as the bridge's own files configure it.
    let ws = videobridge::load_websockets(&args.config_dir)?;
    let http = http::bind(&http::HttpConfig {
        marker: args.marker,
        web: args.web,
        colibri: ws
            .public_port
            .map(|p| SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), p)),
        colibri_ws: ws.enabled,
    })
    .await?;
    tasks.spawn(http.run(stopped.clone()));
    // The videobridge reads its files once here; a parse error (`file:line: reason`) stops
    // the start before readiness is announced.
    let bridge = videobridge::Videobridge::bind(&videobridge::VideobridgeConfig {
        config_dir: args.config_dir,
        bind_ip: args.media_ip,
        control: args.control,
        addresses: None,
    })
    .await?;
    tasks.spawn(bridge.run(stopped.clone()));

    announce(READY_LINE)?;

    let outcome = tokio::select! {
        () = stop_signal.wait() => Ok(()),
        Some(joined) = tasks.join_next() => match joined {
            Ok(Ok(())) => Err(anyhow::anyhow!("a task stopped unexpectedly")),
            Ok(Err(error)) => Err(error),
            Err(panic) => Err(anyhow::anyhow!("a task panicked: {panic}")),
        },
    };
    drop(stop);
    if tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("tasks still busy after {DRAIN_TIMEOUT:?}, exiting anyway");
    }
    outcome
}

fn announce(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .context("cannot write the ready line to stdout")
}

/// SIGTERM (docker stop) or SIGINT (Ctrl-C).
struct StopSignal {
    term: Signal,
    int: Signal,
}

impl StopSignal {
    fn install() -> Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn wait(mut self) {
        let name = tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        };
        tracing::info!("{name} received, stopping");
    }
}
