//! Topology hiding for the headers one leg's message carries over to the other: a whitelist
//! copy, and the SBC's own Via, Contact, From and To (RFC 3261 §8.1.1, RFC 5853 §3.1).

use super::Side;
use crate::stack::hostport::{push_ip, push_socket_addr};
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Message, NameAddr};
use std::net::{IpAddr, SocketAddr};

/// The headers copied from one leg to the other by default: end-to-end capability and
/// informational headers only (RFC 3261 §20, RFC 5853 §3.1).
pub const DEFAULT_COPIED_HEADERS: &[&str] = &[
    "Allow",
    "Supported",
    "User-Agent",
    "Server",
    "Accept",
    "Accept-Language",
    "Subject",
    "Priority",
    "Organization",
    "Date",
    "Warning",
    "Reason",
];

/// Headers that identify a dialog, a transaction or the path and are never copied whatever the
/// configuration says (RFC 3261 §8.1.1, §16.6, §20.30, RFC 5853 §3.1).
const NEVER_COPIED: &[HeaderName] = &[
    HeaderName::Via,
    HeaderName::Route,
    HeaderName::RecordRoute,
    HeaderName::Contact,
    HeaderName::CallId,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentLength,
    HeaderName::ContentType,
    HeaderName::Path,
    HeaderName::Replaces,
    HeaderName::RSeq,
    HeaderName::RAck,
];

/// Option tags the SBC negotiates on each leg itself, so they are dropped from a copied
/// Supported or Require (RFC 3262 §3: reliable provisionals are PRACKed per leg).
const PER_LEG_OPTION_TAGS: &[&str] = &["100rel"];

/// Which headers of a request or response cross the B2BUA, by name (RFC 5853 §3.1: topology
/// hiding); dialog-identifying ones are always refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderPolicy {
    copied: Vec<HeaderName>,
}

impl Default for HeaderPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_COPIED_HEADERS.iter().copied())
    }
}

impl HeaderPolicy {
    /// A policy copying the named headers, minus the dialog-identifying ones (RFC 5853 §3.1).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let copied = names
            .into_iter()
            .map(HeaderName::from_name)
            .filter(|n| !NEVER_COPIED.contains(n))
            .collect();
        Self { copied }
    }

    /// Whether a header with this name is copied (RFC 5853 §3.1).
    pub fn copies(&self, name: &HeaderName) -> bool {
        self.copied.contains(name)
    }

    /// Appends the copied headers of `from` to `to`, in their order, before the body headers
    /// that `Message::set_body` adds back (RFC 3261 §7.3); the SBC's per-leg option tags are
    /// left out of Supported and Require (RFC 3262 §3).
    pub fn copy(&self, from: &Message, to: &mut Message) {
        to.remove_headers(&HeaderName::ContentLength);
        for h in from.headers() {
            if !self.copies(h.name()) {
                continue;
            }
            let per_leg = |t: &&str| {
                PER_LEG_OPTION_TAGS
                    .iter()
                    .any(|p| t.eq_ignore_ascii_case(p))
            };
            if matches!(h.name(), HeaderName::Supported | HeaderName::Require)
                && h.values().any(|t| per_leg(&t))
            {
                let kept: Vec<&str> = h.values().filter(|t| !per_leg(t)).collect();
                if !kept.is_empty() {
                    to.push_header(h.name().clone(), kept.join(", "));
                }
                continue;
            }
            to.push_header(h.name().clone(), h.value_bytes());
        }
    }
}

/// The SBC's Via on `side` with `branch` and rport (RFC 3261 §8.1.1.7, RFC 3581 §3).
pub(super) fn via(side: &Side, branch: &str) -> String {
    let mut s = String::with_capacity(96);
    s.push_str("SIP/2.0/");
    s.push_str(side.sip.transport.via_token());
    s.push(' ');
    push_socket_addr(&mut s, side.sip.addr);
    s.push_str(";branch=");
    s.push_str(branch);
    s.push_str(";rport");
    s
}

/// The SBC's Contact on `side`: its own address, so the peer never learns the other leg's
/// (RFC 3261 §8.1.1.8, RFC 5853 §3.1).
pub(super) fn contact(side: &Side) -> String {
    let uri = side.sip.transport.uri(side.sip.addr);
    let mut s = String::with_capacity(uri.len() + 2);
    s.push('<');
    s.push_str(&uri);
    s.push('>');
    s
}

/// The SBC's Contact on `side` answering `req`: a SIPS URI when `req`'s Request-URI is one, as
/// the dialog it forms is then SIPS (RFC 3261 §12.1.1, RFC 5630 §4.1), else [`contact`].
pub(super) fn contact_answering(side: &Side, req: &Message) -> String {
    let sips = req
        .uri()
        .is_some_and(|u| u.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("sips:")));
    if !sips {
        return contact(side);
    }
    let mut s = String::with_capacity(64);
    s.push('<');
    s.push_str(&side.sip.transport.sips_uri(side.sip.addr));
    s.push('>');
    s
}

/// The host part for an address: an IPv6 literal in brackets (RFC 3261 §25.1).
pub(super) fn host(addr: SocketAddr) -> String {
    let mut s = String::with_capacity(48);
    match addr {
        SocketAddr::V4(a) => push_ip(&mut s, IpAddr::V4(*a.ip())),
        SocketAddr::V6(a) => {
            s.push('[');
            push_ip(&mut s, IpAddr::V6(*a.ip()));
            s.push(']');
        }
    }
    s
}

/// The user part of a SIP URI, if any (RFC 3261 §19.1.1).
pub(super) fn uri_user(uri: &str) -> Option<&str> {
    Uri::parse(uri).ok().and_then(|u| u.user())
}

/// `party`'s display name (if any) with `uri` in angle brackets, for a To that names the
/// address-of-record called (RFC 3261 §8.1.1.2).
pub(super) fn party_at(party: Option<NameAddr<'_>>, uri: &str) -> String {
    let mut s = String::with_capacity(uri.len() + 32);
    if let Some(d) = party.and_then(|p| p.display) {
        s.push_str(d);
        s.push(' ');
    }
    s.push('<');
    s.push_str(uri);
    s.push('>');
    s
}

/// A From/To value keeping `party`'s display name and user but with `hostport` as host, so the
/// other leg never sees this leg's domain or addresses (RFC 3261 §20.20, §20.39, RFC 5853 §3.1).
///
/// A URI of another scheme (`tel:`, or any registered one) names no host to hide: it is kept as
/// it came (RFC 3261 §8.1.1.2, §8.1.1.3; RFC 4475 §3.3.3).
pub(super) fn rehost_party(party: Option<NameAddr<'_>>, hostport: &str) -> String {
    if let Some(p) = party {
        let scheme = p.uri.split_once(':').map_or("", |(s, _)| s);
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return party_at(party, p.uri);
        }
    }
    let mut s = String::with_capacity(hostport.len() + 64);
    if let Some(d) = party.and_then(|p| p.display) {
        s.push_str(d);
        s.push(' ');
    }
    s.push_str("<sip:");
    if let Some(user) = party.and_then(|p| uri_user(p.uri)) {
        s.push_str(user);
        s.push('@');
    }
    s.push_str(hostport);
    s.push('>');
    s
}
