//! The host rules of SPEC section 2's safety rule, belt and braces to the probes' own guard.
//! While a lab is up:
//! - one commented rule in Docker's DOCKER-USER chain (FORWARD) drops packets that enter from
//!   the lab's bridges and would leave by any other interface, so no lab container reaches
//!   anything outside the lab;
//! - one commented rule in INPUT sends lab packets addressed to the host itself to the lab's own
//!   chain `jc-<id>-in`, which lets through those for the lab's networks (the internet client's
//!   address, the LAN gateway) and drops the rest: the host's other addresses (its resolver's
//!   network, a management address) are outside the lab too.
//!
//! Every rule carries the lab's id in its comment; removal and the sweep find them by it.

use ipnet::Ipv4Net;
use std::process::Command;

const COMMENT_PREFIX: &str = "jitsi-conformance lab ";

fn comment(lab_id: &str, what: &str) -> Vec<String> {
    vec![
        "-m".into(),
        "comment".into(),
        "--comment".into(),
        format!("{COMMENT_PREFIX}{lab_id}: {what}"),
    ]
}

/// The DOCKER-USER rule's arguments. Both bridges of a lab are named `jc<id>w`/`jc<id>l`, so
/// one wildcard covers the lab.
pub fn rule_args(lab_id: &str) -> Vec<String> {
    let ifaces = format!("jc{lab_id}+");
    let mut a: Vec<String> = ["-i", &ifaces, "!", "-o", &ifaces]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(comment(lab_id, "drop lab traffic leaving the lab"));
    a.extend(["-j".into(), "DROP".into()]);
    a
}

/// The lab's own INPUT chain.
pub fn input_chain(lab_id: &str) -> String {
    format!("jc-{lab_id}-in")
}

/// The INPUT chain's rules: the lab's networks return, everything else from the lab drops.
pub fn input_rule_args(lab_id: &str, wan: Ipv4Net, lan: Ipv4Net) -> Vec<Vec<String>> {
    let mut rules: Vec<Vec<String>> = [wan, lan]
        .into_iter()
        .map(|net| vec!["-d".into(), net.to_string(), "-j".into(), "RETURN".into()])
        .collect();
    let mut drop = comment(lab_id, "drop lab traffic to other host addresses");
    drop.extend(["-j".into(), "DROP".into()]);
    rules.push(drop);
    rules
}

/// The INPUT rule that sends the lab's packets to its chain.
pub fn input_jump_args(lab_id: &str) -> Vec<String> {
    let mut a: Vec<String> = vec!["-i".into(), format!("jc{lab_id}+")];
    a.extend(comment(lab_id, "lab traffic to this host"));
    a.extend(["-j".into(), input_chain(lab_id)]);
    a
}

fn iptables(args: &[String]) -> Result<String, String> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub fn install(lab_id: &str, wan: Ipv4Net, lan: Ipv4Net) -> Result<(), String> {
    let mut args = vec!["-I".to_string(), "DOCKER-USER".into(), "1".into()];
    args.extend(rule_args(lab_id));
    iptables(&args).map_err(|e| {
        format!("{e}\n(the lab needs Docker's DOCKER-USER chain: is dockerd running with its iptables integration on?)")
    })?;
    let chain = input_chain(lab_id);
    iptables(&["-N".into(), chain.clone()])?;
    for rule in input_rule_args(lab_id, wan, lan) {
        let mut args = vec!["-A".to_string(), chain.clone()];
        args.extend(rule);
        iptables(&args)?;
    }
    let mut args = vec!["-I".to_string(), "INPUT".into(), "1".into()];
    args.extend(input_jump_args(lab_id));
    iptables(&args)?;
    Ok(())
}

/// Removes every rule of the lab, in both chains.
pub fn remove(lab_id: &str) -> Result<(), String> {
    let mut first_error = None;
    for chain in ["DOCKER-USER", "INPUT"] {
        let Ok(text) = iptables(&["-S".into(), chain.into()]) else {
            continue;
        };
        for line in text
            .lines()
            .filter(|l| labs_in(l).iter().any(|l| l == lab_id) && l.starts_with("-A "))
        {
            // `-A CHAIN spec...` as iptables -S prints it, deleted by its spec.
            let Some(spec) = line.strip_prefix(&format!("-A {chain} ")) else {
                continue;
            };
            let mut args = vec!["-D".to_string(), chain.to_string()];
            args.extend(shell_words(spec));
            if let Err(e) = iptables(&args) {
                first_error.get_or_insert(e);
            }
        }
    }
    // The lab's own chain, once nothing jumps to it.
    let chain = input_chain(lab_id);
    if iptables(&["-S".into(), chain.clone()]).is_ok() {
        let _ = iptables(&["-F".into(), chain.clone()]);
        if let Err(e) = iptables(&["-X".into(), chain]) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Splits an `iptables -S` line into words, honouring its double quotes (the comments).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            // iptables -S escapes quotes inside a comment.
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    any = true;
                }
            }
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The lab ids that have a rule in DOCKER-USER or INPUT, or a chain of their own, now.
pub fn installed() -> Vec<String> {
    let mut ids = Vec::new();
    for chain in ["DOCKER-USER", "INPUT"] {
        if let Ok(text) = iptables(&["-S".into(), chain.into()]) {
            for id in labs_in(&text) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    // A chain left without its jump (a run killed between the two).
    if let Ok(text) = iptables(&["-S".into()]) {
        for l in text.lines() {
            if let Some(id) = l.strip_prefix("-N jc-").and_then(|r| r.strip_suffix("-in")) {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

pub fn labs_in(iptables_s: &str) -> Vec<String> {
    iptables_s
        .lines()
        .filter_map(|l| l.split(COMMENT_PREFIX).nth(1))
        .filter_map(|rest| rest.split(':').next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_the_lab_and_both_bridges() {
        let a = rule_args("0a1b2c3d").join(" ");
        assert!(a.starts_with("-i jc0a1b2c3d+ ! -o jc0a1b2c3d+"), "{a}");
        assert!(a.ends_with("-j DROP"));
    }

    #[test]
    fn input_rules_let_only_the_lab_s_networks_through() {
        let r = input_rule_args(
            "ab",
            "198.51.100.0/27".parse().unwrap(),
            "172.30.77.0/24".parse().unwrap(),
        );
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].join(" "), "-d 198.51.100.0/27 -j RETURN");
        assert_eq!(r[1].join(" "), "-d 172.30.77.0/24 -j RETURN");
        assert!(r[2].join(" ").ends_with("-j DROP"));
        assert!(input_jump_args("ab")
            .join(" ")
            .starts_with("-i jcab+ -m comment"));
        assert!(input_jump_args("ab").join(" ").ends_with("-j jc-ab-in"));
    }

    #[test]
    fn installed_rules_are_found_and_split() {
        let s = "-N DOCKER-USER\n-A DOCKER-USER -i jcab+ ! -o jcab+ -m comment --comment \"jitsi-conformance lab 0a1b2c3d: drop lab traffic leaving the lab\" -j DROP\n-A DOCKER-USER -j RETURN\n";
        assert_eq!(labs_in(s), vec!["0a1b2c3d"]);
        let w = shell_words("-i x -m comment --comment \"a b: c\" -j DROP");
        assert_eq!(w[4], "--comment");
        assert_eq!(w[5], "a b: c");
    }
}
