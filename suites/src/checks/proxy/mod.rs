//! proxy/*: what the proxy does with requests for the bridge host: reaching the backend
//! ([`backend`]), websockets ([`websocket`]), authenticating the upstream ([`upstream_tls`]) and
//! telling the backend who asked ([`forwarded`]).

pub mod backend;
pub mod forwarded;
pub mod upstream_tls;
pub mod websocket;
