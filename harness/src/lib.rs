//! The jitsi-conformance lab: images, networks, containers, certificates and probes.
//!
//! Data flows one way: a [`profile::Profile`] is loaded and validated, an address plan is
//! chosen ([`net`]), [`lab::Lab::up`] starts the containers, and probes ([`probe`]) return facts
//! that the suite's checks turn into verdicts.

pub mod browser;
pub mod destinations;
pub mod error;
pub mod fixtures;
pub mod host;
pub mod images;
pub mod lab;
pub mod net;
pub mod pki;
pub mod ports;
pub mod probe;
pub mod profile;
pub mod role;
pub mod site;
pub mod turn;
