//! The HTTP side of the fake Jitsi machine: the listeners that sit behind the bridge host's
//! nginx, as on a real Jitsi install. BOSH and `/xmpp-websocket` are not here: nginx proxies
//! them to Debian's real prosody on 127.0.0.1:5280, which the bridge host runs beside this.
//!
//! - web (nginx's own static site: front page, `/config.js`, `/static` redirect),
//! - colibri (JVB's public HTTP server, where the bridge's config starts it: `/about/health`, and
//!   `/colibri-ws/...` only where the config enables colibri websockets; SPEC section 10).
//!
//! Every response carries `x-jc-*` headers describing what the backend saw (see [`seen`]), so a
//! client on the far side of two proxies can check what each proxy forwarded.

mod colibri;
mod echo;
pub mod seen;
mod web;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::http::HeaderValue;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use seen::{RequestLog, SeenRequest};

/// Where the listeners bind and the marker they stamp on every response.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub marker: String,
    pub web: SocketAddr,
    /// JVB's public HTTP server (`videobridge.http-servers.public.port`), when it starts.
    pub colibri: Option<SocketAddr>,
    /// Whether it serves `/colibri-ws/` (`videobridge.websockets.enabled`).
    pub colibri_ws: bool,
}

/// The addresses actually bound (they differ from [`HttpConfig`] when it asked for port 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundAddrs {
    pub web: SocketAddr,
    pub colibri: Option<SocketAddr>,
}

/// The listeners, bound but not yet serving.
///
/// Binding and serving are split so that the caller can announce readiness only once every
/// socket of every task is bound.
pub struct HttpListeners {
    web: TcpListener,
    colibri: Option<TcpListener>,
    colibri_ws: bool,
    addrs: BoundAddrs,
    marker: String,
    marker_header: HeaderValue,
    log: Arc<RequestLog>,
}

/// Binds the listeners. Fails with a message naming the listener and the address.
pub async fn bind(config: &HttpConfig) -> Result<HttpListeners> {
    // The marker travels in a response header, so it has to be a valid header value; checking
    // it here turns a bad `--marker` into a start-up error instead of a per-request one.
    let marker_header = HeaderValue::from_str(&config.marker).with_context(|| {
        format!(
            "--marker {:?} is not a valid HTTP header value",
            config.marker
        )
    })?;
    let web = bind_one("web", config.web).await?;
    let colibri = match config.colibri {
        Some(a) => Some(bind_one("colibri", a).await?),
        None => None,
    };
    let addrs = BoundAddrs {
        web: web.local_addr()?,
        colibri: colibri.as_ref().map(|c| c.local_addr()).transpose()?,
    };
    Ok(HttpListeners {
        web,
        colibri,
        colibri_ws: config.colibri_ws,
        addrs,
        marker: config.marker.clone(),
        marker_header,
        log: Arc::new(RequestLog::default()),
    })
}

async fn bind_one(name: &str, addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind the {name} listener on {addr}"))
}

impl HttpListeners {
    pub fn addrs(&self) -> BoundAddrs {
        self.addrs
    }

    /// The ring of recent requests seen by every listener (for the control API).
    pub fn request_log(&self) -> Arc<RequestLog> {
        Arc::clone(&self.log)
    }

    /// Serves every listener until `shutdown` changes or its sender is dropped.
    pub async fn run(self, shutdown: watch::Receiver<()>) -> Result<()> {
        let web = serve(
            "web",
            self.web,
            web::router(&self.marker, self.addrs.web),
            &self.marker_header,
            &self.log,
            shutdown.clone(),
        );
        let colibri = async {
            match self.colibri {
                Some(l) => {
                    serve(
                        "colibri",
                        l,
                        colibri::router(self.colibri_ws),
                        &self.marker_header,
                        &self.log,
                        shutdown,
                    )
                    .await
                }
                None => Ok(()),
            }
        };
        tokio::try_join!(web, colibri)?;
        Ok(())
    }
}

async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    marker: &HeaderValue,
    log: &Arc<RequestLog>,
    mut shutdown: watch::Receiver<()>,
) -> Result<()> {
    let router = seen::stamp(router, name, marker.clone(), Arc::clone(log));
    tracing::info!(listener = name, addr = %listener.local_addr()?, "serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            // Either an explicit signal or the sender going away means stop.
            let _ = shutdown.changed().await;
        })
        .await
        .with_context(|| format!("the {name} listener failed"))
}
