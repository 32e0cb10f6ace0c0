//! Labs never leak: a registry of this process's live labs (for Ctrl-C), the removal of one
//! lab by label, and the sweep of labs left by a killed run.

use super::{firewall, LAB_LABEL, PID_LABEL};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use testcontainers::bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};
use testcontainers::bollard::Docker;

static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A Docker change (create, connect) under way. Removing a container while its network connect
/// is in flight leaves a ghost endpoint in dockerd's store that only a dockerd restart clears,
/// so on Ctrl-C no new change starts and the sweep waits for these to finish.
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks a Docker change as under way, unless the run was interrupted.
pub fn begin() -> Result<InFlight, String> {
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let guard = InFlight(());
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err("interrupted".into());
    }
    Ok(guard)
}

/// Waits (at most 10 s) until no Docker change is under way.
fn drain_in_flight() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn register(id: &str) {
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(id.to_string());
}

pub fn unregister(id: &str) {
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|l| l != id);
}

/// Removes every live lab of this process: for Ctrl-C.
pub fn all_live_blocking() {
    let ids = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for id in ids {
        lab_blocking(&id);
        // Keep it registered: the signal handler checks again that it is gone.
        register(&id);
    }
}

/// On Ctrl-C (SIGINT) or SIGTERM: remove this process's labs, then exit 130.
pub fn install_signal_handler() {
    tokio::spawn(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        eprintln!("jitsi-conformance: interrupted; removing this run's labs");
        // A lab may be half-way up: Docker can finish a create that was in flight after a
        // sweep listed it, so sweep until two passes in a row find the labs gone.
        INTERRUPTED.store(true, Ordering::SeqCst);
        std::thread::spawn(|| {
            drain_in_flight();
            let ids = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for _ in 0..10 {
                all_live_blocking();
                std::thread::sleep(std::time::Duration::from_millis(150));
                if ids.iter().all(|id| lab_is_gone_blocking(id)) {
                    break;
                }
            }
        })
        .join()
        .ok();
        std::process::exit(130);
    });
}

fn lab_is_gone_blocking(id: &str) -> bool {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return true;
    };
    rt.block_on(async {
        let Ok(d) = Docker::connect_with_local_defaults() else {
            return true;
        };
        let Ok(d) = d.negotiate_version().await else {
            return true;
        };
        !labs(&d).await.contains_key(id)
    })
}

/// Removes lab `id` on a fresh runtime (callable from Drop, with or without a runtime).
pub fn lab_blocking(id: &str) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        if let Ok(d) = Docker::connect_with_local_defaults() {
            if let Ok(d) = d.negotiate_version().await {
                lab(&d, id).await;
            }
        }
    });
    unregister(id);
}

fn filter(value: String) -> Option<HashMap<String, Vec<String>>> {
    Some(HashMap::from([("label".to_string(), vec![value])]))
}

async fn containers(
    docker: &Docker,
    filters: Option<HashMap<String, Vec<String>>>,
) -> Result<
    Vec<testcontainers::bollard::models::ContainerSummary>,
    testcontainers::bollard::errors::Error,
> {
    let opts = ListContainersOptions {
        all: true,
        filters,
        ..Default::default()
    };
    docker.list_containers(Some(opts)).await
}

/// How many times (200 ms apart) a network with endpoints is asked again before its endpoint
/// is reported as a ghost: 2 s, more than a container removal takes.
const GHOST_RETRIES: u32 = 10;

/// Removes every container and network labelled with lab `id`, and its firewall rule.
pub async fn lab(docker: &Docker, id: &str) {
    let f = filter(format!("{LAB_LABEL}={id}"));
    if let Ok(cs) = containers(docker, f.clone()).await {
        let removals = cs.into_iter().filter_map(|c| c.id).map(|cid| async move {
            let _ = docker
                .remove_container(
                    &cid,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await;
        });
        futures_util::future::join_all(removals).await;
    }
    if let Ok(ns) = docker
        .list_networks(Some(ListNetworksOptions { filters: f }))
        .await
    {
        for n in ns.into_iter().filter_map(|n| n.id) {
            // Another remover (the lab's reaper, a second `clean`) may still be taking a
            // container off this network: its endpoint goes with it, so wait a little before
            // calling what is left a ghost.
            for attempt in 0..=GHOST_RETRIES {
                match docker.remove_network(&n).await {
                    Err(e) if e.to_string().contains("active endpoints") => {
                        if attempt == GHOST_RETRIES {
                            // A container removed mid-connect leaves a ghost endpoint in
                            // dockerd's store.
                            eprintln!("jitsi-conformance: lab {id}: network {n} keeps a ghost endpoint in dockerd's store; restarting dockerd clears it, then run `jitsi-conformance clean`");
                        } else {
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                    }
                    _ => break,
                }
            }
        }
    }
    let _ = firewall::remove(id);
    crate::browser::netns::remove(id);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("jc-lab-{id}")));
}

fn pid_alive(pid: &str) -> bool {
    pid.parse::<u32>()
        .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
}

/// Every lab on this host: id -> owning pid.
pub async fn labs(docker: &Docker) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let f = filter(LAB_LABEL.to_string());
    if let Ok(cs) = containers(docker, f.clone()).await {
        for labels in cs.into_iter().filter_map(|c| c.labels) {
            if let Some(id) = labels.get(LAB_LABEL) {
                out.insert(
                    id.clone(),
                    labels.get(PID_LABEL).cloned().unwrap_or_default(),
                );
            }
        }
    }
    if let Ok(ns) = docker
        .list_networks(Some(ListNetworksOptions { filters: f }))
        .await
    {
        for labels in ns.into_iter().filter_map(|n| n.labels) {
            if let Some(id) = labels.get(LAB_LABEL) {
                out.entry(id.clone())
                    .or_insert_with(|| labels.get(PID_LABEL).cloned().unwrap_or_default());
            }
        }
    }
    out
}

/// Removes labs whose process is gone (a killed run), and firewall rules without a lab.
/// A lab kept with `--keep` outlives its process: this file (in the lab's mounted work
/// directory) tells the sweep of leftovers to spare it; `clean` removes it all the same.
pub fn kept_marker(id: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!("jc-lab-{id}"))
        .join("kept")
}

/// A lab whose removal was handed to a reaper process (`Lab::hand_off`): its pid.
pub fn reaper_marker(id: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!("jc-lab-{id}"))
        .join("reaper")
}

/// Is a reaper still removing lab `id`? Then the sweep leaves it alone.
fn reaped(id: &str) -> bool {
    std::fs::read_to_string(reaper_marker(id)).is_ok_and(|pid| pid_alive(pid.trim()))
}

pub async fn stale(docker: &Docker) -> Vec<String> {
    let all = labs(docker).await;
    let mut removed = Vec::new();
    for (id, pid) in &all {
        if !pid_alive(pid) && !kept_marker(id).exists() && !reaped(id) {
            lab(docker, id).await;
            removed.push(id.clone());
        }
    }
    let known: BTreeSet<&String> = all.keys().collect();
    let mut leftovers = firewall::installed();
    leftovers.extend(crate::browser::netns::present());
    leftovers.sort();
    leftovers.dedup();
    for id in leftovers {
        if !known.contains(&id)
            && !reaped(&id)
            && !LIVE.lock().unwrap_or_else(|e| e.into_inner()).contains(&id)
        {
            let _ = firewall::remove(&id);
            crate::browser::netns::remove(&id);
            removed.push(id);
        }
    }
    removed
}

/// Removes every lab of the project on this host, live or not (`clean`).
pub async fn everything(docker: &Docker) -> Vec<String> {
    let mut ids: Vec<String> = labs(docker).await.into_keys().collect();
    ids.extend(firewall::installed());
    ids.extend(crate::browser::netns::present());
    ids.sort();
    ids.dedup();
    for id in &ids {
        lab(docker, id).await;
    }
    ids
}
