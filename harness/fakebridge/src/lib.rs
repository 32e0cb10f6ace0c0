//! The fake Jitsi backend and videobridge that runs on the lab's bridge host.
//!
//! The binary (`src/main.rs`) is a thin CLI; each task it runs lives in its own module.

pub mod http;
pub mod videobridge;
