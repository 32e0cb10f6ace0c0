//! HTTP(S) from the internet client: one request, no redirect followed, the FQDN resolved to
//! the lab's public address by the suite itself. Returns what came back; never a verdict.

use crate::net::Guard;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// What one request got.
#[derive(Debug, Clone)]
pub struct HttpFacts {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpFacts {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// "301 Location: https://..." — the short form reports use.
    pub fn summary(&self) -> String {
        match self.header("location") {
            Some(l) => format!("{} with Location: {l}", self.status),
            None => format!("{}", self.status),
        }
    }
}

/// Bodies are cut here: checks look for markers, not megabytes.
const BODY_CAP: usize = 256 * 1024;

#[derive(Clone)]
pub struct HttpProbe {
    client: reqwest::Client,
    fqdn: String,
}

impl HttpProbe {
    /// A client whose only name is `fqdn`, at `public_ip` (checked by the guard), that binds the
    /// internet client's address and uses no proxy from the environment. Any other name (a
    /// `ServerName host:port` taken for a name, a redirect elsewhere) fails without a DNS query.
    pub fn new(
        guard: &Guard,
        public_ip: Ipv4Addr,
        fqdn: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        for port in [80, 443] {
            guard
                .check(SocketAddr::new(public_ip.into(), port))
                .map_err(|e| e.to_string())?;
        }
        let (tls, _) = super::tls::accept_any(&[b"http/1.1"]);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(super::resolver::TableResolver::lab(
                fqdn,
                public_ip.into(),
                guard.clone(),
            )))
            .local_address(std::net::IpAddr::V4(guard.client_ip()))
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpProbe {
            client,
            fqdn: fqdn.to_string(),
        })
    }

    /// `scheme://FQDN{target}`: `target` is sent as written (path and query).
    pub async fn request(
        &self,
        method: &str,
        scheme: &str,
        target: &str,
        body: Option<Vec<u8>>,
    ) -> Result<HttpFacts, String> {
        let url = format!("{scheme}://{}{target}", self.fqdn);
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self.client.request(method, &url);
        if let Some(b) = body {
            req = req
                .header("content-type", "text/xml; charset=utf-8")
                .body(b);
        }
        let resp = req.send().await.map_err(|e| describe_error(&url, &e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = resp
            .bytes()
            .await
            .map_err(|e| describe_error(&url, &e))?
            .to_vec();
        body.truncate(BODY_CAP);
        Ok(HttpFacts {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, scheme: &str, target: &str) -> Result<HttpFacts, String> {
        self.request("GET", scheme, target, None).await
    }
}

/// reqwest's errors hide the cause in a chain: show all of it.
fn describe_error(url: &str, e: &reqwest::Error) -> String {
    let mut msg = format!("{url}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    if e.is_timeout() {
        msg.push_str(" (timed out)");
    }
    msg
}
