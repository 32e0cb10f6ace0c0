//! http/*: the :80 vhost, as the internet sees it: the redirect to https ([`redirect`]) and
//! the ACME HTTP-01 exemption ([`acme`]).

pub mod acme;
pub mod redirect;

pub(super) fn is_redirect(s: u16) -> bool {
    (300..400).contains(&s)
}
