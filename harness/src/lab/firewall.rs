//! The host rule of SPEC section 2's safety rule: while a lab is up, one commented rule in
//! Docker's DOCKER-USER chain drops packets that enter from the lab's bridges and would leave
//! by any other interface, so no lab container can reach anything outside the lab.

use std::process::Command;

const COMMENT_PREFIX: &str = "jitsi-conformance lab ";

/// The rule's iptables arguments (after `-I DOCKER-USER` / `-D DOCKER-USER`). Both bridges of a
/// lab are named `jc<id>w`/`jc<id>l`, so one wildcard covers the lab.
pub fn rule_args(lab_id: &str) -> Vec<String> {
    let ifaces = format!("jc{lab_id}+");
    [
        "-i",
        &ifaces,
        "!",
        "-o",
        &ifaces,
        "-m",
        "comment",
        "--comment",
        &format!("{COMMENT_PREFIX}{lab_id}: drop lab traffic leaving the lab"),
        "-j",
        "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
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

pub fn install(lab_id: &str) -> Result<(), String> {
    let mut args = vec!["-I".to_string(), "DOCKER-USER".into(), "1".into()];
    args.extend(rule_args(lab_id));
    iptables(&args).map(|_| ()).map_err(|e| {
        format!("{e}\n(the lab needs Docker's DOCKER-USER chain: is dockerd running with its iptables integration on?)")
    })
}

pub fn remove(lab_id: &str) -> Result<(), String> {
    let mut args = vec!["-D".to_string(), "DOCKER-USER".into()];
    args.extend(rule_args(lab_id));
    iptables(&args).map(|_| ())
}

/// The lab ids that have a rule in DOCKER-USER now.
pub fn installed() -> Vec<String> {
    let Ok(text) = iptables(&["-S".into(), "DOCKER-USER".into()]) else {
        return Vec::new();
    };
    labs_in(&text)
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
    fn installed_rules_are_found() {
        let s = "-N DOCKER-USER\n-A DOCKER-USER -i jcab+ ! -o jcab+ -m comment --comment \"jitsi-conformance lab 0a1b2c3d: drop lab traffic leaving the lab\" -j DROP\n-A DOCKER-USER -j RETURN\n";
        assert_eq!(labs_in(s), vec!["0a1b2c3d"]);
    }
}
