//! The fake Jitsi backend and videobridge that run on the lab's bridge host, as the
//! `jitsi-conformance fake-bridge` subcommand ([`cli`]); each task lives in its own module.

pub mod cli;
pub mod http;
pub mod videobridge;
