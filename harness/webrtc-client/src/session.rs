//! A real WebRTC session over the connected ICE agent (ice/connect/2):
//! DTLS client (the bridge offers `setup:actpass`, the client takes
//! `active`, RFC 8842), the bridge's certificate verified against the
//! advertised SHA-256 fingerprint as webrtc-rs's `RTCDtlsTransport`
//! (`validate_fingerprint`) does, an SCTP association (ports 5000/5000 as
//! webrtc-rs's `RTCSctpTransport`) and a DCEP data channel (`webrtc-data`,
//! stream 0: the DTLS client uses even stream ids, RFC 8832 6) on which one
//! message must come back unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::time::timeout_at;

use crate::{connect, CandidateFact, ClientParams, IceFacts};

/// What the session showed, stage by stage. Facts, not verdicts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionFacts {
    pub ice: IceFacts,
    pub dtls: bool,
    /// The bridge's certificate matched the advertised sha-256 fingerprint
    /// (`None` before DTLS completed).
    pub fingerprint_verified: Option<bool>,
    pub sctp: bool,
    pub channel_open: bool,
    pub echo: bool,
    pub sent: String,
    pub received: Option<String>,
    /// The selected pair's remote candidate (same as `ice.selected_remote`).
    pub selected_remote: Option<CandidateFact>,
    /// Milliseconds from start at which each stage completed.
    pub stage_ms: BTreeMap<String, u64>,
    pub elapsed_ms: u64,
    pub first_error: Option<String>,
}

pub(crate) fn sha256_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What a browser offers as a DTLS client (Chromium's and Firefox's WebRTC stacks): DTLS 1.2,
/// `use_srtp` with SRTP_AEAD_AES_128_GCM and SRTP_AES128_CM_HMAC_SHA1_80, extended master
/// secret, the ECDHE suites with AES-GCM and ChaCha20 (then the CBC fallbacks), the curves
/// x25519, P-256 and P-384 (the library's fixed list), and a self-signed ECDSA P-256
/// certificate. JVB refuses a ClientHello without `use_srtp` (see `jc_videobridge::dtls`).
pub fn browser_config(certificate: dtls::crypto::Certificate) -> dtls::config::Config {
    use dtls::cipher_suite::CipherSuiteId as C;
    use dtls::extension::extension_use_srtp::SrtpProtectionProfile as P;
    dtls::config::Config {
        certificates: vec![certificate],
        cipher_suites: vec![
            C::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
            C::Tls_Ecdhe_Rsa_With_Aes_128_Gcm_Sha256,
            C::Tls_Ecdhe_Ecdsa_With_ChaCha20_Poly1305_Sha256,
            C::Tls_Ecdhe_Rsa_With_ChaCha20_Poly1305_Sha256,
            C::Tls_Ecdhe_Ecdsa_With_Aes_256_Cbc_Sha,
            C::Tls_Ecdhe_Rsa_With_Aes_256_Cbc_Sha,
        ],
        srtp_protection_profiles: vec![P::Srtp_Aead_Aes_128_Gcm, P::Srtp_Aes128_Cm_Hmac_Sha1_80],
        // Verified by fingerprint after the handshake, as webrtc-rs's RTCDtlsTransport does.
        insecure_skip_verify: true,
        extended_master_secret: dtls::config::ExtendedMasterSecretType::Request,
        ..Default::default()
    }
}

/// ICE, DTLS, SCTP, a data channel and one echoed message, within the budget.
pub async fn webrtc_session(params: ClientParams) -> SessionFacts {
    webrtc_session_with(params, browser_config).await
}

/// [`webrtc_session`] with another DTLS client configuration (tests of the bridge's rules: a
/// client that does not speak like a browser).
#[doc(hidden)]
pub async fn webrtc_session_with(
    params: ClientParams,
    dtls_config: fn(dtls::crypto::Certificate) -> dtls::config::Config,
) -> SessionFacts {
    let t0 = Instant::now();
    let deadline = t0 + params.budget;
    let message = format!("jc-echo {:016x}", rand::random::<u64>());
    let mut facts = SessionFacts {
        ice: IceFacts::new(&params.credentials),
        dtls: false,
        fingerprint_verified: None,
        sctp: false,
        channel_open: false,
        echo: false,
        sent: message.clone(),
        received: None,
        selected_remote: None,
        stage_ms: BTreeMap::new(),
        elapsed_ms: 0,
        first_error: None,
    };
    let Some(ice) = connect(&params, t0, deadline, &mut facts.ice).await else {
        facts.first_error = facts.ice.error.clone();
        facts.elapsed_ms = t0.elapsed().as_millis() as u64;
        return facts;
    };
    facts.selected_remote = facts.ice.selected_remote.clone();
    facts
        .stage_ms
        .insert("ice".into(), t0.elapsed().as_millis() as u64);
    let result = stages(
        &params,
        dtls_config,
        &ice.conn,
        &message,
        t0,
        deadline,
        &mut facts,
    )
    .await;
    if let Err(e) = result {
        facts.first_error.get_or_insert(e);
    }
    facts.ice.fill_refused(&ice.refused);
    facts.elapsed_ms = t0.elapsed().as_millis() as u64;
    ice.close().await;
    facts
}

async fn stages(
    params: &ClientParams,
    dtls_config: fn(dtls::crypto::Certificate) -> dtls::config::Config,
    ice_conn: &Arc<dyn webrtc_util::Conn + Send + Sync>,
    message: &str,
    t0: Instant,
    deadline: Instant,
    facts: &mut SessionFacts,
) -> Result<(), String> {
    let late = |stage: &str| format!("{stage} not done within the budget");
    let expected = params
        .transport
        .fingerprints
        .iter()
        .find(|(hash, _)| hash.eq_ignore_ascii_case("sha-256"))
        .map(|(_, fp)| fp.clone())
        .ok_or("the transport advertises no sha-256 DTLS fingerprint")?;
    let config = dtls_config(params.credentials.certificate.clone());
    let dtls_conn = timeout_at(
        deadline.into(),
        dtls::conn::DTLSConn::new(ice_conn.clone(), config, true, None),
    )
    .await
    .map_err(|_| late("DTLS handshake"))?
    .map_err(|e| format!("DTLS handshake: {e}"))?;
    let state = dtls_conn.connection_state().await;
    let got = state
        .peer_certificates
        .first()
        .map(|c| sha256_fingerprint(c));
    facts.dtls = true;
    facts
        .stage_ms
        .insert("dtls".into(), t0.elapsed().as_millis() as u64);
    let verified = got
        .as_deref()
        .is_some_and(|g| g.eq_ignore_ascii_case(&expected));
    facts.fingerprint_verified = Some(verified);
    if !verified {
        let _ = webrtc_util::Conn::close(&dtls_conn).await;
        return Err(format!(
            "the bridge's DTLS certificate has fingerprint {}, the transport advertises {expected}",
            got.unwrap_or_else(|| "(none)".into())
        ));
    }
    let dtls_conn: Arc<dyn webrtc_util::Conn + Send + Sync> = Arc::new(dtls_conn);
    let assoc = timeout_at(
        deadline.into(),
        webrtc_sctp::association::Association::client(webrtc_sctp::association::Config {
            net_conn: dtls_conn.clone(),
            max_receive_buffer_size: 0,
            max_message_size: 0,
            mtu: 0,
            name: "jc-client".into(),
            remote_port: 5000,
            local_port: 5000,
        }),
    )
    .await
    .map_err(|_| late("SCTP association"))?
    .map_err(|e| format!("SCTP association: {e}"))?;
    let assoc = Arc::new(assoc);
    facts.sctp = true;
    facts
        .stage_ms
        .insert("sctp".into(), t0.elapsed().as_millis() as u64);
    let result = channel_echo(&assoc, message, t0, deadline, facts).await;
    let _ = assoc.close().await;
    let _ = dtls_conn.close().await;
    result
}

async fn channel_echo(
    assoc: &Arc<webrtc_sctp::association::Association>,
    message: &str,
    t0: Instant,
    deadline: Instant,
    facts: &mut SessionFacts,
) -> Result<(), String> {
    let channel = timeout_at(
        deadline.into(),
        webrtc_data::data_channel::DataChannel::dial(
            assoc,
            0,
            webrtc_data::data_channel::Config {
                label: "jc-echo".into(),
                ..Default::default()
            },
        ),
    )
    .await
    .map_err(|_| "data channel open not done within the budget".to_string())?
    .map_err(|e| format!("data channel open: {e}"))?;
    facts.channel_open = true;
    facts
        .stage_ms
        .insert("channel".into(), t0.elapsed().as_millis() as u64);
    channel
        .write_data_channel(&Bytes::copy_from_slice(message.as_bytes()), true)
        .await
        .map_err(|e| format!("data channel send: {e}"))?;
    let mut buf = vec![0u8; 65536];
    let (n, _is_string) = timeout_at(deadline.into(), channel.read_data_channel(&mut buf))
        .await
        .map_err(|_| "no echo within the budget".to_string())?
        .map_err(|e| format!("data channel read: {e}"))?;
    let received = String::from_utf8_lossy(&buf[..n]).into_owned();
    facts.echo = received == message;
    facts.received = Some(received);
    let _ = channel.close().await;
    if facts.echo {
        facts
            .stage_ms
            .insert("echo".into(), t0.elapsed().as_millis() as u64);
        Ok(())
    } else {
        Err("the echo differs from the message sent".into())
    }
}
