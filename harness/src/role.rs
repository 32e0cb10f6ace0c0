//! The lab's hosts by role (SPEC section 2): each is one container with one image recipe
//! (`fixtures/images/<role>/`) and one entry script (`fixtures/lab/<role>.sh`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The NAT router: iptables from the profile's rules, on wan and lan.
    Router,
    /// The reverse proxy: Apache with the profile's vhost.
    Proxy,
    /// The Jitsi machine: nginx, the fake backend and videobridge (and, where the profile has
    /// them, coturn, prosody and the focus stand-in).
    Bridge,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Router, Role::Proxy, Role::Bridge];

    /// The role's name in file names, container names and labels.
    pub fn name(self) -> &'static str {
        match self {
            Role::Router => "router",
            Role::Proxy => "proxy",
            Role::Bridge => "bridge",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
        assert_eq!(Role::from_name("client"), None);
    }
}
