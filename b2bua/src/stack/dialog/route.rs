//! Route sets and request targeting: loose and strict routing for requests inside a dialog
//! (RFC 3261 §12.1.1, §12.1.2, §12.2.1.1), and the default next hop (RFC 3261 §8.1.2).

use crate::stack::transaction::{Dest, Transport};
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Message, NameAddr};
use std::net::SocketAddr;

/// A dialog's route set: the Record-Route entries as name-addr text, in the order requests
/// must visit them (RFC 3261 §12.1.1, §12.1.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteSet(Vec<String>);

impl RouteSet {
    /// A route set from entries already in visiting order (RFC 3261 §12.2.1.1).
    pub fn new(entries: Vec<String>) -> Self {
        Self(entries)
    }

    /// The UAS route set: the request's Record-Route entries in order (RFC 3261 §12.1.1).
    pub fn for_uas(request: &Message) -> Self {
        Self(record_route_entries(request))
    }

    /// The UAC route set: the response's Record-Route entries reversed (RFC 3261 §12.1.2).
    pub fn for_uac(response: &Message) -> Self {
        let mut entries = record_route_entries(response);
        entries.reverse();
        Self(entries)
    }

    /// The entries as name-addr text, first hop first (RFC 3261 §12.2.1.1).
    pub fn entries(&self) -> &[String] {
        &self.0
    }

    /// Whether the route set is empty, so requests go straight to the remote target
    /// (RFC 3261 §12.2.1.1).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URI of the first entry, if any (RFC 3261 §12.2.1.1).
    pub fn first_uri(&self) -> Option<&str> {
        self.0.first().and_then(|e| entry_uri(e))
    }

    /// Whether the first entry is a strict router, i.e. its URI lacks `lr` (RFC 3261 §12.2.1.1,
    /// §16.12.1.1).
    pub fn first_is_strict(&self) -> bool {
        self.first_uri()
            .is_some_and(|u| Uri::parse(u).is_ok_and(|u| !u.lr()))
    }

    /// The Request-URI and Route values for a request to `remote_target`: loose routing keeps the
    /// target as Request-URI and the route set as Route; strict routing moves the first route
    /// (cleaned, §19.1.1) to the Request-URI and appends the target as the last Route
    /// (RFC 3261 §12.2.1.1).
    pub fn target(&self, remote_target: &str) -> RequestTarget {
        match self.0.split_first() {
            None => RequestTarget {
                request_uri: remote_target.to_owned(),
                routes: Vec::new(),
            },
            Some((first, rest)) if self.first_is_strict() => {
                let uri = entry_uri(first).unwrap_or(remote_target);
                let mut routes = rest.to_vec();
                routes.push(format!("<{remote_target}>"));
                RequestTarget {
                    request_uri: request_uri_form(uri),
                    routes,
                }
            }
            Some(_) => RequestTarget {
                request_uri: remote_target.to_owned(),
                routes: self.0.clone(),
            },
        }
    }
}

/// Where an in-dialog request goes: its Request-URI and its Route header values, in order
/// (RFC 3261 §12.2.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTarget {
    /// The Request-URI.
    pub request_uri: String,
    /// The Route header values (name-addr text), first hop first.
    pub routes: Vec<String>,
}

/// The URI a request is first sent to: the first route, else the remote target
/// (RFC 3261 §8.1.2, §12.2.1.1).
pub fn next_hop_uri<'a>(route_set: &'a RouteSet, remote_target: &'a str) -> &'a str {
    route_set.first_uri().unwrap_or(remote_target)
}

/// The destination of a URI whose host is an IP literal: explicit port or 5060/5061, transport
/// from `transport=` or `sips:` (RFC 3261 §18.1.1, RFC 3263 §4 without DNS). `None` when the
/// host is a name the caller must resolve, or the URI is not SIP.
pub fn literal_dest(uri: &str) -> Option<Dest> {
    let uri = Uri::parse(uri).ok()?;
    let ip = uri
        .maddr()
        .and_then(|m| m.parse().ok())
        .or_else(|| uri.ip())?;
    let port = uri.port_or_default()?;
    let transport = match uri.transport() {
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        Some(t) if t.eq_ignore_ascii_case("tls") => Transport::Tls,
        Some(t) if t.eq_ignore_ascii_case("wss") => Transport::Wss,
        Some(t) if t.eq_ignore_ascii_case("ws") => Transport::Ws,
        Some(_) | None if uri.is_secure() => Transport::Tls,
        Some(_) | None => Transport::Udp,
    };
    Some(Dest::new(SocketAddr::new(ip, port), transport))
}

/// Every Record-Route element of `msg` as trimmed text, top first; unparsable ones are skipped
/// (RFC 3261 §20.30).
fn record_route_entries(msg: &Message) -> Vec<String> {
    msg.record_routes()
        .zip(msg.values(&HeaderName::RecordRoute))
        .filter(|(parsed, _)| parsed.is_ok())
        .map(|(_, raw)| raw.trim().to_owned())
        .collect()
}

/// The URI inside one route entry (RFC 3261 §20.34).
fn entry_uri(entry: &str) -> Option<&str> {
    NameAddr::parse(entry).ok().map(|n| n.uri)
}

/// A URI with the parts a Request-URI may not carry (`method` parameter, headers) removed
/// (RFC 3261 §12.2.1.1, §19.1.1 Table 1); other schemes are kept as written.
fn request_uri_form(uri: &str) -> String {
    match Uri::parse(uri).and_then(|u| u.to_buf()) {
        Ok(mut buf) => {
            buf.remove_param("method");
            buf.clear_headers();
            buf.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}
