//! Name resolution for every HTTP, WebSocket and TLS client of the suite: answers only from a
//! table and errors otherwise, so no probe can ever look a name up on the host's resolver (which
//! would send a packet out of the lab; SPEC section 8). Names are compared case-insensitively,
//! with a trailing dot stripped. Only the live probe may fall back to the system resolver, for
//! names it was given no `--resolve` entry for (SPEC section 11).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Set (to anything) to forbid the live probe's system-resolver fallback.
pub const NO_SYSTEM_RESOLVER: &str = "JC_PROBE_NO_SYSTEM_RESOLVER";

/// `meet.Example.org.` and `meet.example.org` are one name.
pub fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The table and what it was asked that it could not answer.
#[derive(Clone, Default)]
pub struct TableResolver {
    table: Vec<(String, IpAddr)>,
    /// The live probe only: names without an entry go to the system resolver.
    system_fallback: bool,
    /// Which resolved addresses may be returned (the lab's guard).
    allow: Option<Arc<dyn Fn(IpAddr) -> bool + Send + Sync>>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for TableResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableResolver")
            .field("table", &self.table)
            .field("system_fallback", &self.system_fallback)
            .finish_non_exhaustive()
    }
}

impl TableResolver {
    /// The lab's table: the FQDN (any spelling) is the public address; nothing else resolves.
    pub fn lab(fqdn: &str, public: IpAddr, guard: crate::net::Guard) -> Self {
        TableResolver {
            table: vec![(normalize(fqdn), public)],
            system_fallback: false,
            allow: Some(Arc::new(move |ip| {
                guard.check(SocketAddr::new(ip, 0)).is_ok()
            })),
            refused: Arc::default(),
        }
    }

    /// A live probe's `--resolve` entries, with the system resolver for any other name.
    pub fn live(entries: &[(String, IpAddr)], system_fallback: bool) -> Self {
        TableResolver {
            table: entries.iter().map(|(n, a)| (normalize(n), *a)).collect(),
            system_fallback,
            allow: None,
            refused: Arc::default(),
        }
    }

    /// The live probe's resolver: `--resolve` entries, then the system resolver unless
    /// [`NO_SYSTEM_RESOLVER`] is set (the tests set it, so a name without an entry is an error
    /// and no DNS query leaves the machine).
    pub fn for_probe(entries: &[(String, IpAddr)]) -> Self {
        Self::live(entries, std::env::var_os(NO_SYSTEM_RESOLVER).is_none())
    }

    /// One name's first IPv4 address: the table's entry, else (when allowed) the system's.
    pub async fn resolve_v4(&self, name: &str) -> Result<std::net::Ipv4Addr, String> {
        let ip = match self.lookup(name) {
            Some(ip) => ip,
            None if self.system_fallback => tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tokio::net::lookup_host((name, 0)),
            )
            .await
            .map_err(|_| format!("resolving {name} took more than 5 s"))?
            .map_err(|e| format!("cannot resolve {name}: {e}"))?
            .map(|a| a.ip())
            .find(IpAddr::is_ipv4)
            .ok_or_else(|| format!("{name} has no IPv4 address"))?,
            None => {
                return Err(format!(
                    "no --resolve entry for {name} and the system resolver is off ({NO_SYSTEM_RESOLVER} is set)"
                ))
            }
        };
        match ip {
            IpAddr::V4(v4) => Ok(v4),
            IpAddr::V6(_) => Err(format!("{name} is {ip}: IPv6 sites are not probed yet")),
        }
    }

    /// The entry for `name`, if the table has one.
    pub fn lookup(&self, name: &str) -> Option<IpAddr> {
        let n = normalize(name);
        self.table.iter().find(|(k, _)| *k == n).map(|(_, a)| *a)
    }

    /// Names asked for that the table did not hold (and were refused).
    pub fn refused(&self) -> Vec<String> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Resolve for TableResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let asked = name.as_str().to_string();
        match self.lookup(&asked) {
            Some(ip) if self.allow.as_ref().is_none_or(|f| f(ip)) => {
                let addrs: Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
                Box::pin(async move { Ok(addrs) })
            }
            Some(ip) => {
                let msg =
                    format!("{asked} is {ip}, outside the lab's public network: not contacted");
                Box::pin(async move { Err(msg.into()) })
            }
            None if self.system_fallback => Box::pin(async move {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((asked.as_str(), 0))
                    .await?
                    .collect();
                let addrs: Addrs = Box::new(addrs.into_iter());
                Ok(addrs)
            }),
            None => {
                self.refused
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(asked.clone());
                let msg = format!(
                    "refused to resolve {asked}: only the lab's own names resolve (no DNS query is sent from a lab run)"
                );
                Box::pin(async move { Err(msg.into()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_table_answers() {
        let plan = crate::net::AddressPlan::for_slot(0);
        let r = TableResolver::lab("Meet.Example.org", plan.public_ip.into(), plan.guard());
        for spelling in ["meet.example.org", "MEET.EXAMPLE.ORG.", "meet.example.org."] {
            let got: Vec<SocketAddr> = r
                .resolve(spelling.parse().unwrap())
                .await
                .unwrap()
                .collect();
            assert_eq!(got, vec![SocketAddr::new(plan.public_ip.into(), 0)]);
        }
        let e = match r.resolve("example.org".parse().unwrap()).await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a name outside the table resolved"),
        };
        assert!(e.contains("refused to resolve"), "{e}");
        assert_eq!(r.refused(), vec!["example.org".to_string()]);
    }

    #[tokio::test]
    async fn a_table_entry_outside_the_lab_is_not_returned() {
        let plan = crate::net::AddressPlan::for_slot(0);
        let r = TableResolver::lab(
            "meet.example.org",
            "192.0.2.7".parse().unwrap(),
            plan.guard(),
        );
        assert!(r
            .resolve("meet.example.org".parse().unwrap())
            .await
            .is_err());
    }
}
