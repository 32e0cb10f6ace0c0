//! The command line of SPEC section 4. Exit codes: 0 no MUST failed, 1 a MUST failed or
//! errored, 2 the lab could not be set up or the command line is wrong. With `--format json`
//! stdout carries exactly one JSON document; logs go to stderr.

use crate::catalogue::CATALOGUE;
use crate::report::{json, junit, markdown, text, Report};
use crate::run::{self, RunError, RunOptions};
use clap::{Parser, Subcommand, ValueEnum};
use jc_harness::host::{self, HostSetup};
use jc_harness::images::{self, BuildOptions};
use jc_harness::lab::sweep;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "jitsi-conformance",
    version,
    about = "Conformance suite for Jitsi Meet behind a reverse proxy and a NAT router"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Junit,
}

/// The operator's own files, as they keep them (a pre-change run, or `lint`).
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Your own files (a pre-change run instead of --profile)")]
pub struct SiteArgs {
    /// Your Apache vhost file (it may hold several sites).
    #[arg(long, requires = "rules")]
    pub vhost: Option<PathBuf>,
    /// Your router's rules in iptables-save format.
    #[arg(long, requires = "vhost")]
    pub rules: Option<PathBuf>,
    /// The bridge's /etc/jitsi/videobridge/sip-communicator.properties.
    #[arg(long, requires = "vhost")]
    pub bridge_config: Option<PathBuf>,
    /// The bridge's /etc/jitsi/videobridge/jvb.conf.
    #[arg(long, requires = "vhost")]
    pub jvb_conf: Option<PathBuf>,
    /// Jicofo's /etc/jitsi/jicofo/sip-communicator.properties.
    #[arg(long, requires = "vhost")]
    pub jicofo_config: Option<PathBuf>,
    /// coturn's /etc/turnserver.conf: the site has a TURN server.
    #[arg(long, requires = "vhost")]
    pub turn_config: Option<PathBuf>,
    /// prosody's config for your FQDN (its TURN secret and external services).
    #[arg(long, requires = "vhost")]
    pub prosody_config: Option<PathBuf>,
    /// Your FQDN (default: the vhost's ServerName, when the file names one site).
    #[arg(long, requires = "vhost", value_parser = fqdn_arg)]
    pub fqdn: Option<String>,
    /// Your public address (default: the one every line naming it agrees on).
    #[arg(long, requires = "vhost")]
    pub public_ip: Option<std::net::Ipv4Addr>,
    /// The reverse proxy's LAN address (default: where your rules forward tcp/80 and 443).
    #[arg(long, requires = "vhost")]
    pub proxy_ip: Option<std::net::Ipv4Addr>,
    /// The Jitsi machine's LAN address (default: where udp/10000 goes, where Apache proxies to).
    #[arg(long, requires = "vhost")]
    pub bridge_ip: Option<std::net::Ipv4Addr>,
    /// Your LAN, e.g. 10.20.30.0/24 (default: what your rules masquerade).
    #[arg(long, requires = "vhost")]
    pub lan_subnet: Option<ipnet::Ipv4Net>,
    /// The interface name your rules use for the internet side.
    #[arg(long, requires = "vhost")]
    pub wan_if: Option<String>,
    /// The interface name your rules use for the LAN side.
    #[arg(long, requires = "vhost")]
    pub lan_if: Option<String>,
    /// Whether your bridge has ICE-TCP (default: from the bridge's config, as JVB reads it).
    #[arg(long, value_parser = ["on", "off"], requires = "vhost")]
    pub tcp: Option<String>,
    /// Your proxy certificate (PEM, with its chain): tls/cert/* judge it.
    #[arg(long, requires_all = ["key", "vhost"])]
    pub cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// The backend's own certificate (PEM), presented by the Jitsi machine's nginx.
    #[arg(long, requires_all = ["backend_key", "backend_ca", "vhost"])]
    pub backend_cert: Option<PathBuf>,
    #[arg(long, requires = "backend_cert")]
    pub backend_key: Option<PathBuf>,
    /// The CA file your SSLProxyCACertificateFile holds.
    #[arg(long, requires = "backend_cert")]
    pub backend_ca: Option<PathBuf>,
}

fn fqdn_arg(s: &str) -> Result<String, String> {
    jc_harness::site::files::check_fqdn(s)
}

/// `https://FQDN` or `https://FQDN/`: the FQDN.
fn site_url(s: &str) -> Result<String, String> {
    let host = s
        .strip_prefix("https://")
        .ok_or("the site is given as https://FQDN")?;
    let host = host.strip_suffix('/').unwrap_or(host);
    if host.contains(['/', ':', '?', '#', '@']) {
        return Err("the site is given as https://FQDN, with no port, path or query".into());
    }
    fqdn_arg(host)
}

/// `NAME:IP`.
fn resolve_arg(s: &str) -> Result<(String, std::net::IpAddr), String> {
    let (name, ip) = s.split_once(':').ok_or("expected NAME:IP")?;
    let ip = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address (expected NAME:IP)"))?;
    Ok((fqdn_arg(name)?, ip))
}

impl SiteArgs {
    fn files(self) -> Option<jc_harness::site::OperatorFiles> {
        let vhost = self.vhost?;
        Some(jc_harness::site::OperatorFiles {
            vhost,
            rules: self.rules.unwrap_or_default(),
            bridge_config: self.bridge_config,
            jvb_conf: self.jvb_conf,
            jicofo_config: self.jicofo_config,
            turn_config: self.turn_config,
            prosody_config: self.prosody_config,
            cert: self.cert.zip(self.key),
            backend_cert: self.backend_cert.zip(self.backend_key),
            backend_ca: self.backend_ca,
            tcp: self.tcp.map(|t| t == "on"),
            declared: jc_harness::site::Declared {
                fqdn: self.fqdn,
                public_ip: self.public_ip,
                proxy_ip: self.proxy_ip,
                bridge_ip: self.bridge_ip,
                lan_subnet: self.lan_subnet,
                wan_if: self.wan_if,
                lan_if: self.lan_if,
            },
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build what is missing, start the lab, run the checks, print the report, tear down.
    Lab {
        /// A profile name from fixtures/profiles, or a profile directory.
        #[arg(long, default_value = "reference")]
        profile: String,
        /// A fault from fixtures/faults, applied to its base profile.
        #[arg(long, conflicts_with = "profile")]
        fault: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also write report.json, report.md and junit.xml into DIR.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only the checks whose id matches GLOB (repeatable; `*` is a wildcard).
        #[arg(long, value_name = "GLOB")]
        only: Vec<String>,
        /// Leave the lab up and print how to reach and remove it.
        #[arg(long)]
        keep: bool,
        /// Never install or start anything on the host.
        #[arg(long)]
        no_host_setup: bool,
        /// Use a working copy's fixtures instead of the built-in ones (also JC_FIXTURES).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
        #[command(flatten)]
        site: Box<SiteArgs>,
    },
    /// Check a running deployment from here (the internet side), with no lab (SPEC section 11).
    Probe {
        /// The site, `https://FQDN` (no path).
        #[arg(value_name = "URL", value_parser = site_url)]
        url: String,
        /// Resolve NAME to IP instead of asking the system resolver (repeatable). The address is
        /// then named: the probe may send there even in private or documentation space.
        #[arg(long, value_name = "NAME:IP", value_parser = resolve_arg)]
        resolve: Vec<(String, std::net::IpAddr)>,
        /// PEM roots the site's certificate must verify to (default: the public roots).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// The public address the bridge should advertise (default: the FQDN's address).
        #[arg(long, value_name = "IP")]
        expect_public_ip: Option<std::net::Ipv4Addr>,
        /// The bridge's own (LAN) address (default: not judged).
        #[arg(long, value_name = "IP")]
        expect_bridge_ip: Option<std::net::Ipv4Addr>,
        /// Judge ICE-TCP (nat/tcp/1, ice/candidates/4).
        #[arg(long, value_parser = ["on", "off"], default_value = "off")]
        tcp: String,
        /// The room to join (default: a random one).
        #[arg(long, value_name = "NAME")]
        room: Option<String>,
        /// How to sign in: as the site's web client does (`auto`: the websocket config.js
        /// sets, else BOSH), or always over `websocket` or `bosh`.
        #[arg(long, value_enum, default_value = "auto")]
        xmpp: crate::target::signalling::Wire,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also write report.json, report.md and junit.xml into DIR.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only the checks whose id matches GLOB (repeatable; `*` is a wildcard).
        #[arg(long, value_name = "GLOB")]
        only: Vec<String>,
    },
    /// Cross-file findings in your own files, with no lab: exit 0 clean, 1 findings, 2 bad input.
    Lint {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        site: Box<SiteArgs>,
    },
    /// The check catalogue.
    List {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Build the lab's images, with progress on stderr.
    Images {
        #[arg(long)]
        rebuild: bool,
        #[arg(long)]
        no_host_setup: bool,
    },
    /// Headless Chromium against a lab's bridge through its NAT (SPEC section 9), as JSON.
    #[command(hide = true)]
    Browser {
        #[arg(long, default_value = "reference")]
        profile: String,
        #[arg(long)]
        no_host_setup: bool,
    },
    /// The fake Jitsi backend and videobridge; the lab runs it on its bridge host.
    #[command(subcommand, hide = true)]
    FakeBridge(jc_fake_bridge::cli::Command),
    /// Remove the project's labs (all of them, or one), and with --images its images too.
    Clean {
        #[arg(long)]
        lab: Option<String>,
        #[arg(long)]
        images: bool,
    },
}

/// The run a `lab ...` command line asks for, as `main` would start it (for tests that drive
/// cases as an operator writes them). Errors carry what `main` prints and exits 2 with.
pub fn lab_options(args: &[String]) -> Result<RunOptions, String> {
    let argv = std::iter::once("jitsi-conformance".to_string())
        .chain(std::iter::once("lab".to_string()))
        .chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let Command::Lab {
        profile,
        fault,
        only,
        keep,
        no_host_setup,
        site,
        ..
    } = cli.command
    else {
        unreachable!("parsed as lab")
    };
    Ok(RunOptions {
        profile,
        fault,
        only,
        keep,
        // Tests wait for the removal (the next lab they start then meets a quiet Docker).
        detach_teardown: false,
        setup: setup(no_host_setup),
        operator: site.files(),
    })
}

fn setup(no_host_setup: bool) -> HostSetup {
    let mut s = HostSetup::from_env();
    s.forbid |= no_host_setup;
    s
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JC_LOG").unwrap_or_else(|_| {
        // webrtc-rs narrates every closed socket at warn: noise an operator cannot act on.
        "warn,webrtc_ice=off,webrtc_sctp=off,webrtc_data=off,webrtc_util=off,dtls=off,turn=off"
            .into()
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    // The bridge host runs this very executable as its fake bridge, with its own runtime and logs.
    let cli = match cli.command {
        Command::FakeBridge(cmd) => return jc_fake_bridge::cli::main(cmd),
        command => Cli { command },
    };
    init_logs();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jitsi-conformance: cannot start the runtime: {e}");
            return 2;
        }
    };
    rt.block_on(dispatch(cli.command))
}

async fn dispatch(cmd: Command) -> i32 {
    match cmd {
        Command::List { format } => list(format),
        Command::Images {
            rebuild,
            no_host_setup,
        } => build_images(rebuild, setup(no_host_setup)).await,
        Command::Clean { lab, images } => clean(lab, images).await,
        Command::FakeBridge(_) => unreachable!("handled before the runtime starts"),
        Command::Browser {
            profile,
            no_host_setup,
        } => {
            sweep::install_signal_handler();
            let mut opts = RunOptions::profile(&profile);
            opts.setup = setup(no_host_setup);
            let (lab, _) = match run::start_lab(&opts).await {
                Ok(v) => v,
                Err(e) => return fail(Format::Json, &e),
            };
            let facts =
                jc_harness::browser::webrtc_session(&lab, std::time::Duration::from_secs(8)).await;
            if !facts.ok {
                if let Ok((_, log)) = lab
                    .exec(
                        jc_harness::role::Role::Bridge,
                        &["tail", "-n", "30", "/var/log/jc-fake-bridge.log"],
                    )
                    .await
                {
                    eprintln!("the fake bridge's log:\n{log}");
                }
            }
            lab.down().await;
            println!(
                "{}",
                serde_json::to_string_pretty(&facts).unwrap_or_default()
            );
            i32::from(!facts.ok)
        }
        Command::Lint { format, site } => lint(format, site.files()),
        Command::Probe {
            url,
            resolve,
            ca,
            expect_public_ip,
            expect_bridge_ip,
            tcp,
            room,
            xmpp,
            format,
            out,
            only,
        } => {
            let ca_pem = match ca.map(|f| {
                std::fs::read_to_string(&f).map_err(|e| format!("--ca {}: {e}", f.display()))
            }) {
                None => None,
                Some(Ok(pem)) => Some(pem),
                Some(Err(message)) => {
                    return fail(
                        format,
                        &RunError {
                            kind: "usage",
                            message,
                        },
                    )
                }
            };
            let options = crate::target::live::LiveOptions {
                fqdn: url,
                resolve,
                ca_pem,
                expect_public_ip,
                expect_bridge_ip,
                ice_tcp: tcp == "on",
                room,
                xmpp,
            };
            probe(options, only, format, out).await
        }
        Command::Lab {
            profile,
            fault,
            format,
            out,
            only,
            keep,
            no_host_setup,
            fixtures,
            site,
        } => {
            if let Some(dir) = &fixtures {
                if let Err(e) = jc_harness::fixtures::use_dir(dir) {
                    return fail(
                        format,
                        &RunError {
                            kind: "usage",
                            message: e,
                        },
                    );
                }
            }
            let operator = site.files();
            if operator.is_some() && (fault.is_some() || profile != "reference") {
                return fail(
                    format,
                    &RunError {
                        kind: "usage",
                        message: "--vhost/--rules (your own files) replace --profile and --fault: give one or the other".into(),
                    },
                );
            }
            sweep::install_signal_handler();
            let opts = RunOptions {
                profile,
                fault,
                only,
                keep,
                // The operator gets the answer; a detached reaper removes the lab.
                detach_teardown: true,
                setup: setup(no_host_setup),
                operator,
            };
            lab(opts, format, out).await
        }
    }
}

fn fail(format: Format, e: &RunError) -> i32 {
    if format == Format::Json {
        println!("{}", json::error(e.kind, &e.message));
    }
    eprintln!("jitsi-conformance: {}", e.message);
    2
}

async fn probe(
    options: crate::target::live::LiveOptions,
    only: Vec<String>,
    format: Format,
    out: Option<PathBuf>,
) -> i32 {
    let checks = crate::runner::selected(&only);
    if checks.is_empty() {
        return fail(
            format,
            &RunError {
                kind: "usage",
                message: format!(
                    "--only {} matches no check (see `jitsi-conformance list`)",
                    only.join(" ")
                ),
            },
        );
    }
    match crate::probe::run(options, &checks).await {
        Ok(report) => report_out(&report, format, out),
        Err(e) if e.kind == "interrupted" => {
            eprintln!("jitsi-conformance: {}", e.message);
            130
        }
        Err(e) => fail(format, &e),
    }
}

/// Writes `--out`, prints the report; the run's exit code.
fn report_out(report: &Report, format: Format, out: Option<PathBuf>) -> i32 {
    if let Some(dir) = out {
        if let Err(e) = write_out(&dir, report) {
            return fail(
                format,
                &RunError {
                    kind: "output",
                    message: format!("{}: {e}", dir.display()),
                },
            );
        }
    }
    print!("{}", render(report, format));
    report.exit_code()
}

async fn lab(opts: RunOptions, format: Format, out: Option<PathBuf>) -> i32 {
    let outcome = match run::run(&opts).await {
        Ok(o) => o,
        Err(e) => return fail(format, &e),
    };
    let code = report_out(&outcome.report, format, out);
    // A kept lab runs on whatever happened to the report: say how to reach and remove it.
    if let Some(k) = outcome.kept {
        eprintln!("{}", k.message());
    }
    code
}

pub fn render(report: &Report, format: Format) -> String {
    let mut s = match format {
        Format::Text => text::render(report, std::io::stdout().is_terminal()),
        Format::Json => json::render(report),
        Format::Markdown => markdown::render(report),
        Format::Junit => junit::render(report),
    };
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn write_out(dir: &std::path::Path, report: &Report) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.json"), render(report, Format::Json))?;
    std::fs::write(dir.join("report.md"), render(report, Format::Markdown))?;
    std::fs::write(dir.join("junit.xml"), render(report, Format::Junit))
}

fn lint(format: Format, files: Option<jc_harness::site::OperatorFiles>) -> i32 {
    let Some(files) = files else {
        return fail(
            format,
            &RunError {
                kind: "usage",
                message: "lint needs your files: --vhost FILE --rules FILE [--bridge-config FILE] [--jvb-conf FILE] ...".into(),
            },
        );
    };
    let findings = match jc_harness::site::lint_only(&files) {
        Ok(f) => f,
        Err(e) => {
            return fail(
                format,
                &RunError {
                    kind: "config",
                    message: e.to_string(),
                },
            )
        }
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "lint": findings }))
                .unwrap_or_default()
        ),
        _ => {
            for f in &findings {
                println!("{}:{}: {}: {}", f.file, f.line, f.rule, f.message);
            }
            println!(
                "{} finding{}",
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            );
        }
    }
    i32::from(!findings.is_empty())
}

fn list(format: Format) -> i32 {
    if format == Format::Json {
        let v: Vec<serde_json::Value> = CATALOGUE
            .iter()
            .map(|c| serde_json::json!({"id": c.id, "severity": c.severity, "title": c.title, "requirement": c.requirement}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"checks": v})).unwrap_or_default()
        );
    } else {
        for c in CATALOGUE {
            let sev = format!("{:?}", c.severity).to_uppercase();
            println!(
                "{:<22} {:<6} {}\n{:<29} {}",
                c.id, sev, c.title, "", c.requirement
            );
        }
        println!("{} checks", CATALOGUE.len());
    }
    0
}

async fn build_images(rebuild: bool, setup: HostSetup) -> i32 {
    let docker = match host::docker(setup).await {
        Ok(d) => d,
        Err(e) => return fail(Format::Text, &e.into()),
    };
    let t = std::time::Instant::now();
    match images::ensure(&docker, &run::fixtures(), BuildOptions { rebuild, setup }).await {
        Ok(i) => {
            let mut roles: Vec<_> = i.roles.iter().collect();
            roles.sort();
            for (role, tag) in roles {
                println!("{role:<7} {tag}");
            }
            println!("base    {}", i.base);
            eprintln!(
                "images: {} built, {:.1} s",
                i.built,
                t.elapsed().as_secs_f64()
            );
            0
        }
        Err(e) => fail(Format::Text, &e.into()),
    }
}

async fn clean(lab: Option<String>, with_images: bool) -> i32 {
    let docker = match host::docker(HostSetup { forbid: true }).await {
        Ok(d) => d,
        Err(e) => return fail(Format::Text, &e.into()),
    };
    let removed = match lab {
        Some(id) => {
            sweep::lab(&docker, &id).await;
            vec![id]
        }
        None => sweep::everything(&docker).await,
    };
    println!(
        "removed {} lab(s){}",
        removed.len(),
        if removed.is_empty() {
            String::new()
        } else {
            format!(": {}", removed.join(", "))
        }
    );
    if with_images {
        match images::remove_all(&docker).await {
            Ok(n) => println!("removed {n} image(s)"),
            Err(e) => return fail(Format::Text, &e.into()),
        }
    }
    0
}
