//! The lab's work directory: one folder per role, mounted read-only at `/jc` in its container
//! (entry scripts, rendered config files, certificates, the ACME token).

use super::Lab;
use crate::pki::CertKey;
use crate::profile::{self, BackendCert, ProxyCert};

impl Lab {
    pub(super) fn write_files(&self) -> std::io::Result<()> {
        let fixtures = crate::fixtures::root().join("lab");
        let r = &self.rendered.files;
        let pki = &self.pki;
        let proxy_cert = match self.profile.manifest.proxy_cert {
            ProxyCert::Lab => &pki.proxy,
            ProxyCert::Expired => &pki.proxy_expired,
            ProxyCert::WrongName => &pki.proxy_wrong_name,
        };
        let backend_cert = match self.profile.manifest.backend_cert {
            BackendCert::LabCa => &pki.backend,
            BackendCert::SelfSigned => &pki.backend_self_signed,
        };
        let put = |rel: &str, text: &str| -> std::io::Result<()> {
            let p = self.workdir.join(rel);
            std::fs::create_dir_all(p.parent().expect("has a parent"))?;
            std::fs::write(p, text)
        };
        let pair = |dir: &str, name: &str, ck: &CertKey| -> std::io::Result<()> {
            put(&format!("{dir}/tls/{name}.pem"), &ck.cert_pem)?;
            put(&format!("{dir}/tls/{name}.key"), &ck.key_pem)
        };
        for role in ["router", "proxy", "bridge"] {
            put(
                &format!("{role}/common.sh"),
                &std::fs::read_to_string(fixtures.join("common.sh"))?,
            )?;
            put(
                &format!("{role}/{role}.sh"),
                &std::fs::read_to_string(fixtures.join(format!("{role}.sh")))?,
            )?;
        }
        put("router/rules.v4", &r[profile::RULES])?;
        put("proxy/site.conf", &r[profile::VHOST])?;
        put("proxy/acme-token", &self.acme.content)?;
        match &self.profile.manifest.operator_cert {
            // The operator's own pair: tls/cert/* judge it.
            Some((cert, key)) => {
                put("proxy/tls/proxy.pem", &std::fs::read_to_string(cert)?)?;
                put("proxy/tls/proxy.key", &std::fs::read_to_string(key)?)?;
            }
            None => pair("proxy", "proxy", proxy_cert)?,
        }
        put("proxy/tls/lab-ca.pem", &pki.root.cert_pem)?;
        put(
            "bridge/nginx.conf",
            &std::fs::read_to_string(fixtures.join("nginx.conf"))?,
        )?;
        put(
            "bridge/restart-nginx.sh",
            &std::fs::read_to_string(fixtures.join("restart-nginx.sh"))?,
        )?;
        pair("bridge", "backend", backend_cert)?;
        pair("bridge", "original", backend_cert)?;
        pair("bridge", "untrusted", &pki.backend_untrusted)?;
        std::fs::create_dir_all(self.workdir.join("bridge/jitsi/videobridge"))?;
        std::fs::create_dir_all(self.workdir.join("bridge/jitsi/jicofo"))?;
        for rel in [
            profile::JVB_PROPERTIES,
            profile::JVB_CONF,
            profile::JICOFO_PROPERTIES,
        ] {
            if let Some(text) = r.get(rel) {
                put(&format!("bridge/jitsi/{rel}"), text)?;
            }
        }
        Ok(())
    }
}
