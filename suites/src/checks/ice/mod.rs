//! ice/*: what the bridge advertises ([`candidates`]) and sessions through the NAT from the
//! internet side ([`connect`]).

pub mod candidates;
pub mod connect;
