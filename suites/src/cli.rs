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

/// A pre-change run with the operator's own files, as they keep them.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Pre-change run (your own files instead of --profile)")]
pub struct OperatorArgs {
    /// Your Apache vhost (certificate paths and certbot Includes are pointed at the lab's).
    #[arg(long, requires = "rules", conflicts_with_all = ["profile", "fault"])]
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
    /// Your FQDN (default: the vhost's ServerName).
    #[arg(long, requires = "vhost")]
    pub fqdn: Option<String>,
    /// Your public address (default: the address your DNAT rules match).
    #[arg(long, requires = "vhost")]
    pub public_ip: Option<std::net::Ipv4Addr>,
    /// Whether your bridge has ICE-TCP (default: from the bridge's config).
    #[arg(long, value_parser = ["on", "off"], requires = "vhost")]
    pub tcp: Option<String>,
    /// Your proxy certificate (PEM, with its chain): tls/cert/* judge it.
    #[arg(long, requires_all = ["key", "vhost"])]
    pub cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// The interface name your rules use for the internet side.
    #[arg(long, requires = "vhost")]
    pub wan_if: Option<String>,
    /// The interface name your rules use for the LAN side.
    #[arg(long, requires = "vhost")]
    pub lan_if: Option<String>,
}

impl OperatorArgs {
    fn files(self) -> Option<jc_harness::operator::OperatorFiles> {
        let vhost = self.vhost?;
        Some(jc_harness::operator::OperatorFiles {
            vhost,
            rules: self.rules.unwrap_or_default(),
            bridge_config: self.bridge_config,
            jvb_conf: self.jvb_conf,
            jicofo_config: self.jicofo_config,
            fqdn: self.fqdn,
            public_ip: self.public_ip,
            tcp: self.tcp.map(|t| t == "on"),
            cert: self.cert.zip(self.key),
            wan_if: self.wan_if,
            lan_if: self.lan_if,
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
        #[command(flatten)]
        operator: Box<OperatorArgs>,
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

fn setup(no_host_setup: bool) -> HostSetup {
    let mut s = HostSetup::from_env();
    s.forbid |= no_host_setup;
    s
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JC_LOG").unwrap_or_else(|_| {
        // webrtc-rs narrates every closed socket at warn: noise an operator cannot act on.
        "warn,webrtc_ice=off,webrtc_sctp=off,webrtc_data=off,webrtc_util=off,dtls=off".into()
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
        Command::Lab {
            profile,
            fault,
            format,
            out,
            only,
            keep,
            no_host_setup,
            operator,
        } => {
            sweep::install_signal_handler();
            let opts = RunOptions {
                profile,
                fault,
                only,
                keep,
                setup: setup(no_host_setup),
                operator: operator.files(),
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

async fn lab(opts: RunOptions, format: Format, out: Option<PathBuf>) -> i32 {
    let outcome = match run::run(&opts).await {
        Ok(o) => o,
        Err(e) => return fail(format, &e),
    };
    let report = &outcome.report;
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
    if let Some(k) = outcome.kept {
        eprintln!("{k}");
    }
    report.exit_code()
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
