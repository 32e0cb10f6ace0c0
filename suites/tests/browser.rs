//! A real browser, not ours (SPEC section 9): Debian's headless Chromium, from a network
//! namespace on the lab's wan only, given nothing but the bridge's srflx candidate and
//! credentials, completes ICE, DTLS (JVB's rules on the fake bridge), SCTP and a data-channel
//! echo through the NAT, and its own stats say the selected remote is PUBLIC:10000. On the
//! 2020-style `reference` and on Jitsi 2026's `current`.

mod support;

use jitsi_conformance::run::{self, RunOptions};
use std::time::Duration;

async fn session(profile: &str) -> Result<String, String> {
    let (lab, _) = run::start_lab(&RunOptions::profile(profile))
        .await
        .map_err(|e| format!("{profile}: the lab could not run: {e}"))?;
    let public = lab.plan.public_ip.to_string();
    let f = jc_harness::browser::webrtc_session(&lab, Duration::from_secs(8)).await;
    lab.down().await;
    let remote = f.selected_remote.clone();
    if f.ok
        && remote
            .as_ref()
            .is_some_and(|(ip, port, _)| *ip == public && *port == 10000)
    {
        Ok(format!(
            "{profile}: echo in {} ms over remote {:?} ({})",
            f.elapsed_ms, remote, f.pair
        ))
    } else if f.ok {
        Err(format!(
            "{profile}: the session ran over remote {remote:?}, not the public srflx {public}:10000"
        ))
    } else {
        Err(format!(
            "{profile}: stage {} failed: {} (selected remote {remote:?}, steps {:?})",
            f.stage, f.reason, f.steps
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_completes_a_session_through_the_nat() {
    support::init();
    jc_harness::host::ensure_chromium(jc_harness::host::HostSetup::from_env())
        .unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = tokio::join!(session("reference"), session("current"));
    for r in [&a, &b] {
        match r {
            Ok(s) => eprintln!("{s}"),
            Err(e) => eprintln!("{e}"),
        }
    }
    assert!(a.is_ok() && b.is_ok(), "{a:?}\n{b:?}");
}
