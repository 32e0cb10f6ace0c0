//! Per-run lab PKI, generated with rcgen in the manner of rustls' test-ca: one root, and every
//! leaf the lab or a fault needs. Nothing here is ever written into the repository.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::Ipv4Addr;
use time::{Duration, OffsetDateTime};

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Everything the lab needs, for one run.
#[derive(Clone, Debug)]
pub struct LabPki {
    /// The lab root CA: the suite's trust anchor and, for verifying profiles, the proxy's.
    pub root: CertKey,
    /// The proxy's certificate for the FQDN, signed by the root.
    pub proxy: CertKey,
    /// The bridge host's nginx certificate signed by the root: CN = its address, a DNS-type
    /// SAN holding the address string (because Apache's SSLProxyCheckPeerName does not match an
    /// IP-only SAN against the address in ProxyPass, SPEC section 2) and the FQDN.
    pub backend: CertKey,
    /// What Jitsi's installer makes: a self-signed certificate for the FQDN.
    pub backend_self_signed: CertKey,
    /// A backend certificate with the right names from a CA the proxy does not trust, for
    /// proxy/upstream-tls/1.
    pub backend_untrusted: CertKey,
    /// Fault material: the proxy's certificate, expired.
    pub proxy_expired: CertKey,
    /// Fault material: a certificate for another name.
    pub proxy_wrong_name: CertKey,
}

/// Common name of the lab root, also shown in reports.
pub const ROOT_CN: &str = "jitsi-conformance lab root";

impl LabPki {
    pub fn generate(fqdn: &str, bridge_ip: Ipv4Addr) -> Result<Self, rcgen::Error> {
        Self::generate_with(fqdn, bridge_ip, &[])
    }

    /// As [`Self::generate`], with more names on the backend's certificate: the names a
    /// pre-change run's vhost proxies to, which the lab resolves to the bridge.
    pub fn generate_with(
        fqdn: &str,
        bridge_ip: Ipv4Addr,
        backend_names: &[String],
    ) -> Result<Self, rcgen::Error> {
        let now = OffsetDateTime::now_utc();
        let (root, root_issuer) = ca(ROOT_CN, now)?;
        let (_, stranger_issuer) = ca("an untrusted CA", now)?;
        let valid = (now - Duration::days(1), now + Duration::days(90));
        let proxy = leaf(&[dns(fqdn)?], fqdn, valid, &root_issuer)?;
        // The FQDN too: the Jitsi machine's certificate is for the site (its installer's
        // self-signed one, or Let's Encrypt's), and a proxy with `ProxyPreserveHost On` checks
        // the peer name against the Host it passes on.
        let mut names = vec![
            dns(&bridge_ip.to_string())?,
            SanType::IpAddress(bridge_ip.into()),
            dns(fqdn)?,
        ];
        for n in backend_names {
            let n = dns(n)?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let backend_names = names;
        let backend = leaf(&backend_names, &bridge_ip.to_string(), valid, &root_issuer)?;
        let backend_untrusted = leaf(
            &backend_names,
            &bridge_ip.to_string(),
            valid,
            &stranger_issuer,
        )?;
        let backend_self_signed = self_signed(fqdn, valid)?;
        let expired = (now - Duration::days(60), now - Duration::days(1));
        let proxy_expired = leaf(&[dns(fqdn)?], fqdn, expired, &root_issuer)?;
        let proxy_wrong_name = leaf(
            &[dns("other.lab.test")?],
            "other.lab.test",
            valid,
            &root_issuer,
        )?;
        Ok(LabPki {
            root,
            proxy,
            backend,
            backend_self_signed,
            backend_untrusted,
            proxy_expired,
            proxy_wrong_name,
        })
    }
}

fn dns(name: &str) -> Result<SanType, rcgen::Error> {
    Ok(SanType::DnsName(name.try_into()?))
}

fn named(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "jitsi-conformance lab");
    dn.push(DnType::CommonName, cn);
    dn
}

type Issuer = CertifiedIssuer<'static, KeyPair>;

fn ca(cn: &str, now: OffsetDateTime) -> Result<(CertKey, Issuer), rcgen::Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = named(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::days(2);
    params.not_after = now + Duration::days(365);
    let key = KeyPair::generate()?;
    let key_pem = key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(params, key)?;
    Ok((
        CertKey {
            cert_pem: issuer.pem(),
            key_pem,
        },
        issuer,
    ))
}

fn leaf_params(
    sans: &[SanType],
    cn: &str,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = named(cn);
    params.subject_alt_names = sans.to_vec();
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn leaf(
    sans: &[SanType],
    cn: &str,
    validity: (OffsetDateTime, OffsetDateTime),
    issuer: &Issuer,
) -> Result<CertKey, rcgen::Error> {
    let key = KeyPair::generate()?;
    let cert = leaf_params(sans, cn, validity).signed_by(&key, issuer)?;
    Ok(CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn self_signed(
    fqdn: &str,
    validity: (OffsetDateTime, OffsetDateTime),
) -> Result<CertKey, rcgen::Error> {
    let key = KeyPair::generate()?;
    let cert = leaf_params(&[dns(fqdn)?], fqdn, validity).self_signed(&key)?;
    Ok(CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pem: &str) -> (String, Vec<String>, bool) {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = p.parse_x509().unwrap();
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for n in &ext.value.general_names {
                sans.push(format!("{n}"));
            }
        }
        (cn, sans, cert.validity().is_valid())
    }

    #[test]
    fn backend_certificate_has_address_as_cn_and_dns_san() {
        let pki = LabPki::generate("meet.lab.test", Ipv4Addr::new(172, 30, 77, 20)).unwrap();
        let (cn, sans, valid) = parse(&pki.backend.cert_pem);
        assert_eq!(cn, "172.30.77.20");
        assert!(
            sans.iter().any(|s| s == "DNSName(172.30.77.20)"),
            "{sans:?}"
        );
        assert!(valid);
    }

    #[test]
    fn fault_certificates_are_what_they_say() {
        let pki = LabPki::generate("meet.lab.test", Ipv4Addr::new(172, 30, 77, 20)).unwrap();
        assert!(!parse(&pki.proxy_expired.cert_pem).2);
        assert_eq!(parse(&pki.proxy_wrong_name.cert_pem).0, "other.lab.test");
        assert_eq!(parse(&pki.proxy.cert_pem).1, vec!["DNSName(meet.lab.test)"]);
    }
}
