//! TLS from the internet client: the handshake facts (protocol, chain) with a verifier that
//! accepts anything and records what it saw, and a separate judgement of that chain against the
//! lab root. Only tls/cert/* judge the certificate; every other HTTPS probe accepts it.

use crate::net::Guard;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_rustls::TlsConnector;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate and keeps the chain it was shown.
#[derive(Debug, Default)]
pub struct Recorder {
    pub chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = chain;
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config that accepts any certificate (and records it), offering TLS 1.2 and 1.3.
pub fn accept_any(alpn: &[&[u8]]) -> (ClientConfig, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports both versions")
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    (cfg, recorder)
}

/// What a handshake showed.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    pub protocol: String,
    pub cipher: String,
    pub chain: Vec<CertificateDer<'static>>,
}

/// Handshakes with `dest` using SNI `sni`, within `timeout`.
pub async fn handshake(
    guard: &Guard,
    dest: SocketAddr,
    sni: &str,
    timeout: Duration,
) -> Result<TlsFacts, String> {
    let tcp = guard
        .connect_tcp(dest, timeout)
        .await
        .map_err(|e| format!("TCP connect to {dest}: {e}"))?;
    let (cfg, recorder) = accept_any(&[b"http/1.1"]);
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let tls = tokio::time::timeout(
        timeout,
        TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
    )
    .await
    .map_err(|_| {
        format!(
            "TLS handshake with {dest} took longer than {} ms",
            timeout.as_millis()
        )
    })?
    .map_err(|e| format!("TLS handshake with {dest} failed: {e}"))?;
    let (_, conn) = tls.get_ref();
    let protocol = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    let chain = recorder
        .chain
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(TlsFacts {
        protocol,
        cipher,
        chain,
    })
}

/// Judges a chain as a browser trusting only the lab root would: Ok, or the verifier's reason.
pub fn verify_chain(
    chain: &[CertificateDer<'static>],
    root_pem: &str,
    name: &str,
    now: UnixTime,
) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    for der in rustls_pki_types_pem(root_pem) {
        roots
            .add(der)
            .map_err(|e| format!("lab root unusable: {e}"))?;
    }
    verify_with(chain, roots, name, now)
}

/// Judges a chain as a browser would, against the public roots (Mozilla's, as webpki-roots
/// ships them): for an operator's own certificate in a pre-change run.
pub fn verify_public(
    chain: &[CertificateDer<'static>],
    name: &str,
    now: UnixTime,
) -> Result<(), String> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    verify_with(chain, roots, name, now)
}

fn verify_with(
    chain: &[CertificateDer<'static>],
    roots: RootCertStore,
    name: &str,
    now: UnixTime,
) -> Result<(), String> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err("no certificate was presented".into());
    };
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| e.to_string())?;
    let sn = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(leaf, rest, &sn, &[], now)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A root store holding the certificates of a PEM text (the lab's CA, an operator's --ca).
pub fn roots_from_pem(pem: &str) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for der in rustls_pki_types_pem(pem) {
        let _ = roots.add(der);
    }
    roots
}

fn rustls_pki_types_pem(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

/// The facts of a certificate a person acts on.
#[derive(Debug, Clone)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub dns_names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Seconds from now to notAfter (negative when expired).
    pub seconds_left: i64,
}

pub fn describe(der: &CertificateDer<'_>) -> Result<CertFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                dns_names.push(d.to_string());
            }
        }
    }
    let v = cert.validity();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        dns_names,
        not_before: v.not_before.to_string(),
        not_after: v.not_after.to_string(),
        seconds_left: v.not_after.timestamp() - now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::LabPki;
    use rustls::pki_types::pem::PemObject;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn chain_judgement_names_the_problem() {
        let pki = LabPki::generate("meet.lab.test", "172.30.77.20".parse().unwrap()).unwrap();
        let now = UnixTime::now();
        assert!(verify_chain(
            &[der(&pki.proxy.cert_pem)],
            &pki.root.cert_pem,
            "meet.lab.test",
            now
        )
        .is_ok());
        let e = verify_chain(
            &[der(&pki.proxy_expired.cert_pem)],
            &pki.root.cert_pem,
            "meet.lab.test",
            now,
        )
        .unwrap_err();
        assert!(e.to_lowercase().contains("expired"), "{e}");
        let e = verify_chain(
            &[der(&pki.proxy_wrong_name.cert_pem)],
            &pki.root.cert_pem,
            "meet.lab.test",
            now,
        )
        .unwrap_err();
        assert!(e.contains("not valid for name"), "{e}");
        let e = verify_chain(
            &[der(&pki.backend_self_signed.cert_pem)],
            &pki.root.cert_pem,
            "meet.lab.test",
            now,
        )
        .unwrap_err();
        assert!(e.contains("UnknownIssuer"), "{e}");
        assert!(verify_chain(&[], &pki.root.cert_pem, "meet.lab.test", now).is_err());
    }

    #[test]
    fn describe_reads_names_and_validity() {
        let pki = LabPki::generate("meet.lab.test", "172.30.77.20".parse().unwrap()).unwrap();
        let f = describe(&der(&pki.proxy.cert_pem)).unwrap();
        assert_eq!(f.dns_names, vec!["meet.lab.test"]);
        assert!(f.seconds_left > 80 * 86400);
        assert!(
            describe(&der(&pki.proxy_expired.cert_pem))
                .unwrap()
                .seconds_left
                < 0
        );
    }
}
