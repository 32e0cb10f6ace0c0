//! A network namespace for the browser, on the lab's wan and nowhere else: a veth whose host
//! end is a port of the lab's wan bridge, whose other end (named `eth0`, an unused address of
//! the wan) is the namespace's only interface besides loopback. The Docker host sits on the
//! LAN bridge too, and Chromium gathers on every interface it sees: in here it sees only the
//! internet side, as a client on the internet would. No default route: nothing but the lab's
//! public network is reachable from it.

use std::net::Ipv4Addr;
use std::process::Command;

/// The namespace's name for a lab (`ip netns` names; the sweep finds them by the prefix).
pub fn name(lab_id: &str) -> String {
    format!("jc{lab_id}b")
}

fn host_end(lab_id: &str) -> String {
    format!("jc{lab_id}bv")
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A namespace that is removed (with its veth) when dropped.
pub struct Netns {
    pub name: String,
    pub address: Ipv4Addr,
}

impl Netns {
    /// Makes the namespace for lab `lab_id` on its wan bridge `bridge`.
    pub fn create(
        lab_id: &str,
        bridge: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<Netns, String> {
        let ns = name(lab_id);
        let (host, peer) = (host_end(lab_id), format!("jc{lab_id}bp"));
        remove(lab_id);
        let made = Netns {
            name: ns.clone(),
            address,
        };
        ip(&["netns", "add", &ns])?;
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer])?;
        ip(&["link", "set", &peer, "netns", &ns])?;
        ip(&["link", "set", &host, "master", bridge])?;
        ip(&["link", "set", &host, "up"])?;
        ip(&["-n", &ns, "link", "set", &peer, "name", "eth0"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{address}/{prefix}"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(made)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let id = self
            .name
            .strip_prefix("jc")
            .and_then(|r| r.strip_suffix('b'))
            .unwrap_or("")
            .to_string();
        remove(&id);
    }
}

/// Removes a lab's browser namespace and veth, if there are any (teardown and sweep).
pub fn remove(lab_id: &str) {
    let _ = ip(&["netns", "del", &name(lab_id)]);
    let _ = ip(&["link", "del", &host_end(lab_id)]);
}

/// The lab ids that have a browser namespace now.
pub fn present() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|n| n.strip_prefix("jc").and_then(|r| r.strip_suffix('b')))
        .map(str::to_string)
        .collect()
}

/// Binds 127.0.0.1:0 inside namespace `ns`: a socket keeps the namespace it was created in,
/// so a short-lived thread switches, binds and ends without moving the rest of the process.
pub fn bind_loopback(ns: &str) -> Result<tokio::net::TcpListener, String> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/var/run/netns/{ns}"))
        .map_err(|e| format!("network namespace {ns}: {e}"))?;
    let listener = std::thread::scope(|s| {
        s.spawn(|| -> Result<std::net::TcpListener, String> {
            // SAFETY: setns on a valid fd changes only this thread's namespace.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
                return Err(format!("setns: {}", std::io::Error::last_os_error()));
            }
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())
        })
        .join()
        .map_err(|_| "the bind thread panicked".to_string())?
    })?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())
}
