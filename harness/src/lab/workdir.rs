//! The lab's work directory: one folder per role, mounted read-only at `/jc` in its container
//! (entry scripts, rendered config files, certificates, the ACME token).

mod prosody;

use super::Lab;
use crate::pki::CertKey;
use crate::profile::{self, BackendCert, ProxyCert, StandIn};

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
        self.write_stage(&put)?;
        put(
            "bridge/nginx.conf",
            &nginx_conf(
                &std::fs::read_to_string(fixtures.join("nginx.conf"))?,
                &self.rendered.websockets,
            ),
        )?;
        put(
            "bridge/restart-nginx.sh",
            &std::fs::read_to_string(fixtures.join("restart-nginx.sh"))?,
        )?;
        match &self.profile.stage.backend_pair {
            // The operator's own backend pair (--backend-cert): the proxy's trust is judged.
            Some((cert, key)) => {
                let (c, k) = (
                    std::fs::read_to_string(cert)?,
                    std::fs::read_to_string(key)?,
                );
                for name in ["backend", "original"] {
                    put(&format!("bridge/tls/{name}.pem"), &c)?;
                    put(&format!("bridge/tls/{name}.key"), &k)?;
                }
            }
            None => {
                pair("bridge", "backend", backend_cert)?;
                pair("bridge", "original", backend_cert)?;
            }
        }
        pair("bridge", "untrusted", &pki.backend_untrusted)?;
        // coturn: its config, and the FQDN's pair (lab CA) where its `cert`/`pkey` name it, as
        // Jitsi's postinst points coturn at the site's own certificate. Plain lines the entry
        // script reads with `read -r`, never evaluated.
        if let (Some(turn), Some(conf)) = (&self.rendered.turn, r.get(profile::TURN_CONF)) {
            put("bridge/turnserver.conf", conf)?;
            pair("bridge", "turn", &pki.proxy)?;
            let mut list = String::new();
            for (what, path) in [("pem", &turn.cert), ("key", &turn.pkey)] {
                if let Some(path) = path {
                    list.push_str(&format!("{what}\t{path}\n"));
                }
            }
            put("bridge/turn-files.list", &list)?;
            put(
                "bridge/turn-ports.list",
                &format!("{}\n{}\n", turn.udp_port, turn.tls_port),
            )?;
        }
        self.write_prosody(&put)?;
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
            if let Some(text) = self.rendered.late_files.get(rel) {
                put(&format!("bridge/late/{rel}"), text)?;
            }
        }
        Ok(())
    }

    /// prosody's config, with a focus component secret of its own for this lab, and the focus
    /// stand-in's arguments (one per line, read with `read -r`, never evaluated).
    fn write_prosody(
        &self,
        put: &dyn Fn(&str, &str) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let fqdn = &self.plan.fqdn;
        // One per lab, not per write: a reused lab's bridge files stay equal (see reuse.rs).
        let secret = &self.focus_secret;
        // The profile's prosody config names the external services, which only a profile with
        // TURN hands out; TurnSetup has read it already there, so it parses.
        let operator = self
            .profile
            .file(profile::PROSODY_CONF)
            .filter(|_| self.rendered.turn.is_some())
            .zip(self.rendered.files.get(profile::PROSODY_CONF))
            .map(|(f, text)| crate::site::prosody::parse(&f.origin, text))
            .transpose()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        put(
            "bridge/prosody.cfg.lua",
            &prosody::config(fqdn, self.rendered.turn.as_ref(), operator.as_ref(), secret),
        )?;
        // The focus stand-in: the bridge host's entry script starts it from these arguments.
        {
            let component = format!("127.0.0.1:{}", prosody::COMPONENT_PORT);
            let muc = format!("conference.{fqdn}");
            let args = [
                "--domain",
                fqdn,
                "--muc",
                &muc,
                "--component-addr",
                &component,
                "--secret",
                secret,
                "--control",
                "127.0.0.1:8080",
            ];
            put("bridge/focus.args", &lines(&args.map(String::from)))?;
        }
        Ok(())
    }

    /// A pre-change run's stand-ins for the proxy: files at the operator's paths, directories
    /// the vhost names, names it proxies to. Lists of plain lines the entry script reads with
    /// `read -r` (never evaluated), so no operator path reaches a shell as code.
    fn write_stage(&self, put: &dyn Fn(&str, &str) -> std::io::Result<()>) -> std::io::Result<()> {
        let stage = &self.profile.stage;
        let pki = &self.pki;
        let mut list = String::new();
        for (i, (dest, what)) in stage.proxy_files.iter().enumerate() {
            let text = match what {
                StandIn::ProxyChain | StandIn::ProxyChainWithKey | StandIn::ProxyKey => {
                    let (cert, key) = match &self.profile.manifest.operator_cert {
                        Some((c, k)) => (std::fs::read_to_string(c)?, std::fs::read_to_string(k)?),
                        None => (pki.proxy.cert_pem.clone(), pki.proxy.key_pem.clone()),
                    };
                    match what {
                        StandIn::ProxyChain => cert,
                        StandIn::ProxyKey => key,
                        _ => format!("{cert}{key}"),
                    }
                }
                StandIn::LabRoot => pki.root.cert_pem.clone(),
                StandIn::CertbotOptions => CERTBOT_OPTIONS.to_string(),
                StandIn::File(p) => std::fs::read_to_string(p)?,
            };
            put(&format!("proxy/standins/{i}"), &text)?;
            list.push_str(&format!("{i}\t{dest}\n"));
        }
        put("proxy/standins.list", &list)?;
        put("proxy/dirs.list", &lines(&stage.proxy_dirs))?;
        put("proxy/hashed.list", &lines(&stage.proxy_hashed_dirs))?;
        put("proxy/hosts.list", &lines(&stage.proxy_hosts))
    }
}

/// The bridge host's nginx site: the colibri-ws block only where the bridge serves it.
fn nginx_conf(
    template: &str,
    ws: &jc_videobridge::config::websockets::WebsocketSettings,
) -> String {
    match ws.public_port.filter(|_| ws.serves_colibri_ws()) {
        Some(port) => template.replace("${COLIBRI_PORT}", &port.to_string()),
        None => {
            let mut out = String::new();
            let mut skip = false;
            for l in template.lines() {
                if l.contains("jc-colibri-begin") {
                    skip = true;
                } else if l.contains("jc-colibri-end") {
                    skip = false;
                } else if !skip {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out
        }
    }
}

fn lines(v: &[String]) -> String {
    v.iter().map(|l| format!("{l}\n")).collect()
}

/// certbot's `options-ssl-apache.conf` as its Apache plugin writes it today (certbot-apache
/// `_internal/tls_configs/current-options-ssl-apache.conf`, Mozilla's intermediate profile).
const CERTBOT_OPTIONS: &str = "# The lab's stand-in for certbot's options-ssl-apache.conf.
SSLEngine on
SSLProtocol             all -SSLv2 -SSLv3 -TLSv1 -TLSv1.1
SSLCipherSuite          ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384
SSLHonorCipherOrder     off
SSLSessionTickets       off
SSLOptions +StrictRequire
LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-agent}i\\\"\" vhost_combined
LogFormat \"%v %h %l %u %t \\\"%r\\\" %>s %b\" vhost_common
";
