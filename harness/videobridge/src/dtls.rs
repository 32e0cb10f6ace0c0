//! JVB's DTLS, as the fake bridge runs it (SPEC section 9), following jitsi-videobridge's
//! `jitsi-media-transform/src/main/kotlin/org/jitsi/nlj/dtls/TlsServerImpl.kt`, `DtlsUtils.kt`
//! and `jitsi-media-transform/src/main/resources/reference.conf`:
//!
//! - DTLS 1.2 only (`TlsServerImpl.getSupportedVersions`); an ECDSA P-256 certificate, so of
//!   `jmt.dtls.cipher-suites` only the ECDHE_ECDSA ones can complete: AES_128_GCM_SHA256 and
//!   CHACHA20_POLY1305_SHA256, in that order;
//! - `use_srtp` is required: `processClientExtensions` reads the client's profiles without a
//!   null check, so a ClientHello without the extension ends in a fatal `internal_error` (80)
//!   alert. The fake refuses it the same way, before the DTLS library would accept it;
//! - the SRTP profile is the first of the bridge's own list (`jmt.srtp.protection-profiles`:
//!   SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80) that the client offers
//!   (`chooseSrtpProtectionProfile`: server preference); with none in common JVB throws a
//!   `DtlsException` that is no TLS alert, so the handshake just stops;
//! - a client certificate is always requested (`getCertificateRequest`) and checked during the
//!   handshake against the fingerprint signalled for the endpoint, with the strongest hash of
//!   `jmt.dtls.accepted-fingerprint-hash-functions` (sha-512, sha-384, sha-256, sha-1) the
//!   signalling used (`DtlsUtils.verifyAndValidateCertificate`), as an exact match of upper-case
//!   hex; no signalled fingerprint fails the handshake;
//! - extended master secret is offered, not required.

use crate::candidates::Fingerprint;
use dtls::cipher_suite::CipherSuiteId;
use dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use sha2::Digest;
use std::sync::Arc;

/// `jmt.srtp.protection-profiles`, in the bridge's order of preference.
pub const JVB_SRTP_PROFILES: [SrtpProtectionProfile; 2] = [
    SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
    SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
];

/// The ECDHE_ECDSA suites of `jmt.dtls.cipher-suites`, in its order.
pub const JVB_CIPHER_SUITES: [CipherSuiteId; 2] = [
    CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
    CipherSuiteId::Tls_Ecdhe_Ecdsa_With_ChaCha20_Poly1305_Sha256,
];

/// `jmt.dtls.accepted-fingerprint-hash-functions`, strongest first.
pub const ACCEPTED_HASHES: [&str; 4] = ["sha-512", "sha-384", "sha-256", "sha-1"];

const USE_SRTP: u16 = 14;
const EXTENDED_MASTER_SECRET: u16 = 23;
const SUPPORTED_GROUPS: u16 = 10;

/// What a DTLS ClientHello offers, as far as the bridge's rules look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub cipher_suites: Vec<u16>,
    /// `None`: no use_srtp extension at all.
    pub srtp_profiles: Option<Vec<u16>>,
    pub extended_master_secret: bool,
    pub groups: Vec<u16>,
    /// The record's sequence number, for an alert in reply.
    pub record_sequence: u64,
}

/// Reassembles a ClientHello from the handshake fragments of the datagrams that carry it:
/// browsers' ClientHellos no longer fit one datagram (Chromium 156 offers DTLS 1.3 with a
/// post-quantum key share and splits its ClientHello in two).
#[derive(Debug, Default)]
pub struct HelloReader {
    total: Option<usize>,
    body: Vec<u8>,
    /// Byte ranges of `body` received so far.
    have: Vec<(usize, usize)>,
    first_sequence: Option<u64>,
}

impl HelloReader {
    /// Feeds one datagram; `Some` once the whole ClientHello is there, `Err` when a datagram is
    /// not part of one.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<Option<ClientHello>, String> {
        let mut rest = datagram;
        while rest.len() >= 13 {
            // DTLSPlaintext: type(1) version(2) epoch(2) sequence(6) length(2)
            let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
            let rec = rest.get(13..13 + len).ok_or("a truncated DTLS record")?;
            if rest[0] != 22 {
                return Err(format!(
                    "a DTLS record of content type {} before the ClientHello",
                    rest[0]
                ));
            }
            let seq = rest[5..11]
                .iter()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b));
            self.first_sequence.get_or_insert(seq);
            // Handshake: type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3)
            if rec.len() < 12 || rec[0] != 1 {
                return Err("a handshake message that is not a ClientHello".into());
            }
            let total = u32::from_be_bytes([0, rec[1], rec[2], rec[3]]) as usize;
            let offset = u32::from_be_bytes([0, rec[6], rec[7], rec[8]]) as usize;
            let frag = u32::from_be_bytes([0, rec[9], rec[10], rec[11]]) as usize;
            let data = rec
                .get(12..12 + frag)
                .ok_or("a truncated handshake fragment")?;
            if total > 1 << 16 || offset + frag > total || self.total.is_some_and(|t| t != total) {
                return Err("ClientHello fragments that do not fit together".into());
            }
            self.total = Some(total);
            self.body.resize(total, 0);
            self.body[offset..offset + frag].copy_from_slice(data);
            self.have.push((offset, offset + frag));
            rest = &rest[13 + len..];
        }
        let Some(total) = self.total else {
            return Ok(None);
        };
        self.have.sort_unstable();
        let mut covered = 0;
        for (a, b) in &self.have {
            if *a > covered {
                return Ok(None);
            }
            covered = covered.max(*b);
        }
        if covered < total {
            return Ok(None);
        }
        let mut hello = parse_hello_body(&self.body).ok_or("a ClientHello that does not parse")?;
        hello.record_sequence = self.first_sequence.unwrap_or(0);
        Ok(Some(hello))
    }
}

/// Reads a ClientHello that fits one datagram; `None` when it is not one.
pub fn parse_client_hello(datagram: &[u8]) -> Option<ClientHello> {
    HelloReader::default().feed(datagram).ok().flatten()
}

/// The ClientHello body: version, random, session id, cookie, suites, compression, extensions.
fn parse_hello_body(body: &[u8]) -> Option<ClientHello> {
    let mut at = 2 + 32; // client_version, random
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let s = body.get(*at..*at + n)?;
        *at += n;
        Some(s)
    };
    let sid = usize::from(*take(&mut at, 1)?.first()?);
    take(&mut at, sid)?;
    let cookie = usize::from(*take(&mut at, 1)?.first()?);
    take(&mut at, cookie)?;
    let cs_len = usize::from(u16::from_be_bytes(take(&mut at, 2)?.try_into().ok()?));
    let cs = take(&mut at, cs_len)?;
    let comp = usize::from(*take(&mut at, 1)?.first()?);
    take(&mut at, comp)?;
    let mut hello = ClientHello {
        cipher_suites: cs
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect(),
        ..Default::default()
    };
    if at == body.len() {
        return Some(hello);
    }
    let ext_len = usize::from(u16::from_be_bytes(take(&mut at, 2)?.try_into().ok()?));
    let exts = take(&mut at, ext_len)?;
    let mut i = 0;
    while i + 4 <= exts.len() {
        let typ = u16::from_be_bytes([exts[i], exts[i + 1]]);
        let len = usize::from(u16::from_be_bytes([exts[i + 2], exts[i + 3]]));
        let data = exts.get(i + 4..i + 4 + len)?;
        match typ {
            USE_SRTP if data.len() >= 2 => {
                let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
                let list = data.get(2..2 + n)?;
                hello.srtp_profiles = Some(
                    list.chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect(),
                );
            }
            EXTENDED_MASTER_SECRET => hello.extended_master_secret = true,
            SUPPORTED_GROUPS if data.len() >= 2 => {
                let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
                hello.groups = data
                    .get(2..2 + n)?
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
            }
            _ => {}
        }
        i += 4 + len;
    }
    Some(hello)
}

/// The bridge's pick: the first of its own profiles the client offers.
pub fn choose_profile(offered: &[u16]) -> Option<SrtpProtectionProfile> {
    JVB_SRTP_PROFILES
        .into_iter()
        .find(|p| offered.contains(&(*p as u16)))
}

/// A fatal `internal_error` alert in epoch 0, as BouncyCastle sends it when
/// `processClientExtensions` fails on a ClientHello without `use_srtp`.
pub fn internal_error_alert(sequence: u64) -> Vec<u8> {
    let mut r = vec![21, 0xfe, 0xfd, 0, 0];
    r.extend_from_slice(&sequence.to_be_bytes()[2..]);
    r.extend_from_slice(&[0, 2, 2, 80]);
    r
}

/// The fingerprint of a DER certificate with `hash` (one of [`ACCEPTED_HASHES`]), upper-case
/// hex pairs joined by ':' as DtlsUtils writes it.
pub fn fingerprint_with(hash: &str, der: &[u8]) -> Option<String> {
    let digest: Vec<u8> = match hash {
        "sha-512" => sha2::Sha512::digest(der).to_vec(),
        "sha-384" => sha2::Sha384::digest(der).to_vec(),
        "sha-256" => sha2::Sha256::digest(der).to_vec(),
        "sha-1" => sha1::Sha1::digest(der).to_vec(),
        _ => return None,
    };
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// DtlsUtils.verifyAndValidateCertificate: the client's certificate against the signalled
/// fingerprints, with the strongest accepted hash the signalling used.
pub fn verify_client_certificate(der: &[u8], signalled: &[Fingerprint]) -> Result<(), String> {
    let Some(hash) = ACCEPTED_HASHES
        .iter()
        .find(|h| signalled.iter().any(|f| f.hash.eq_ignore_ascii_case(h)))
    else {
        return Err(format!(
            "No fingerprint declared over the signaling path with any of the accepted hash functions: {}",
            ACCEPTED_HASHES.join(", ")
        ));
    };
    let actual = fingerprint_with(hash, der).expect("accepted hash");
    if signalled
        .iter()
        .any(|f| f.hash.eq_ignore_ascii_case(hash) && f.fingerprint == actual)
    {
        Ok(())
    } else {
        Err(format!(
            "None of the fingerprints signalled with {hash} match the client's certificate ({actual})"
        ))
    }
}

/// The DTLS server configuration for one endpoint: JVB's suites, the one SRTP profile the
/// bridge chose for this client, a client certificate required and checked against the
/// endpoint's signalled fingerprints.
pub fn server_config(
    certificate: dtls::crypto::Certificate,
    profile: SrtpProtectionProfile,
    signalled: Vec<Fingerprint>,
) -> dtls::config::Config {
    dtls::config::Config {
        certificates: vec![certificate],
        cipher_suites: JVB_CIPHER_SUITES.to_vec(),
        srtp_protection_profiles: vec![profile],
        client_auth: dtls::config::ClientAuthType::RequireAnyClientCert,
        // Verified by fingerprint (below), not by a CA, as every WebRTC peer does.
        insecure_skip_verify: true,
        verify_peer_certificate: Some(Arc::new(
            move |certs: &[Vec<u8>], _: &[rustls_pki_types::CertificateDer<'static>]| {
                let first = certs
                    .first()
                    .ok_or(dtls::Error::ErrClientCertificateRequired)?;
                verify_client_certificate(first, &signalled).map_err(dtls::Error::Other)
            },
        )),
        extended_master_secret: dtls::config::ExtendedMasterSecretType::Request,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record as a browser sends it: cipher suites, use_srtp (GCM, CM_80),
    /// extended master secret and x25519/P-256/P-384.
    fn hello(with_srtp: bool) -> Vec<u8> {
        let mut exts = Vec::new();
        if with_srtp {
            exts.extend_from_slice(&[0, 14, 0, 7, 0, 4, 0, 7, 0, 1, 0]);
        }
        exts.extend_from_slice(&[0, 23, 0, 0]);
        exts.extend_from_slice(&[0, 10, 0, 8, 0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]);
        let mut body = vec![0xfe, 0xfd];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.push(0); // cookie
        body.extend_from_slice(&[0, 4, 0xc0, 0x2b, 0xcc, 0xa9]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let n = body.len() as u32;
        let mut hs = vec![1];
        hs.extend_from_slice(&n.to_be_bytes()[1..]);
        hs.extend_from_slice(&[0, 0, 0, 0, 0]);
        hs.extend_from_slice(&n.to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn a_browser_hello_is_read() {
        let h = parse_client_hello(&hello(true)).unwrap();
        assert_eq!(h.cipher_suites, vec![0xc02b, 0xcca9]);
        assert_eq!(h.srtp_profiles, Some(vec![7, 1]));
        assert!(h.extended_master_secret);
        assert_eq!(h.groups, vec![0x1d, 0x17, 0x18]);
        assert_eq!(
            choose_profile(&[1, 7]),
            Some(SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm),
            "the bridge's order, not the client's"
        );
        assert_eq!(
            choose_profile(&[1]),
            Some(SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80)
        );
        assert_eq!(choose_profile(&[2]), None);
        assert_eq!(
            parse_client_hello(&hello(false)).unwrap().srtp_profiles,
            None
        );
        assert_eq!(parse_client_hello(b"\x17\xfe\xfd"), None);
    }

    /// A ClientHello split across two datagrams (Chromium 156 sends one so) is put back together.
    #[test]
    fn a_fragmented_hello_is_reassembled() {
        let whole = hello(true);
        let (hs, body) = (&whole[13..], &whole[13 + 12..]);
        let cut = body.len() / 2;
        let frag = |offset: usize, data: &[u8], seq: u8| {
            let total = (body.len() as u32).to_be_bytes();
            let mut h = vec![1, total[1], total[2], total[3], 0, 0];
            h.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
            h.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
            h.extend_from_slice(data);
            let mut rec = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, seq];
            rec.extend_from_slice(&(h.len() as u16).to_be_bytes());
            rec.extend_from_slice(&h);
            rec
        };
        let _ = hs;
        let mut r = HelloReader::default();
        assert_eq!(r.feed(&frag(0, &body[..cut], 0)).unwrap(), None);
        let h = r
            .feed(&frag(cut, &body[cut..], 1))
            .unwrap()
            .expect("complete");
        assert_eq!(h.srtp_profiles, Some(vec![7, 1]));
        assert!(HelloReader::default()
            .feed(b"\x17\xfe\xfd\0\0\0\0\0\0\0\0\0\x01x")
            .is_err());
    }

    #[test]
    fn the_alert_is_a_fatal_internal_error() {
        let a = internal_error_alert(1);
        assert_eq!(a.len(), 15);
        assert_eq!(&a[..3], &[21, 0xfe, 0xfd]);
        assert_eq!(&a[13..], &[2, 80]);
    }

    #[test]
    fn client_certificates_are_checked_against_the_signalling() {
        let der = b"not really a certificate";
        let fp = Fingerprint {
            hash: "sha-256".into(),
            fingerprint: fingerprint_with("sha-256", der).unwrap(),
            setup: "active".into(),
        };
        assert!(verify_client_certificate(der, std::slice::from_ref(&fp)).is_ok());
        let lower = Fingerprint {
            fingerprint: fp.fingerprint.to_lowercase(),
            ..fp.clone()
        };
        assert!(
            verify_client_certificate(der, &[lower]).is_err(),
            "JVB compares exactly"
        );
        let e = verify_client_certificate(der, &[]).unwrap_err();
        assert!(e.contains("No fingerprint declared"), "{e}");
        let strongest = Fingerprint {
            hash: "sha-512".into(),
            fingerprint: "00".into(),
            setup: "active".into(),
        };
        assert!(
            verify_client_certificate(der, &[fp, strongest]).is_err(),
            "the strongest hash signalled is the one used"
        );
    }
}
