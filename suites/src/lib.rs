//! jitsi-conformance: the checks, the runner, the reports and the CLI's logic.

pub mod catalogue;
pub mod checks;
pub mod cli;
pub mod probe;
pub mod report;
pub mod run;
pub mod runner;
pub mod target;
