//! rtpengine's "ng" control protocol, sans IO (rtpengine docs/ng_control_protocol.md): a
//! datagram is `<cookie> <bencoded dictionary>`; the reply repeats the cookie. This module reads
//! requests into [`Request`] (the command and the keys Kamailio's and OpenSIPS's rtpengine
//! modules send in ordinary SBC deployments), writes replies, and remembers recent replies by
//! cookie so a retransmitted request gets the very same answer ([`ReplayCache`]).
//!
//! [`Calls`] carries out `offer`, `answer`, `delete`, `query` and `list` on an [`Anchor`] (the
//! relay), with the flags of [`options`]; [`Service`] serves whole datagrams (source allow-list,
//! replay cache, session limit) for the `sbc-relay` daemon.

mod anchor;
mod calls;
pub mod options;
mod service;

pub use anchor::Anchor;
pub use calls::{Call, CallStats, Calls, Deleted};
pub use service::{LateReply, NgCounters, Out, Service, ServiceConfig};

use sbc_common::bencode::{self, Value};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use thiserror::Error;

/// The largest request accepted (an SDP with many streams fits comfortably).
pub const MAX_REQUEST: usize = 64 * 1024;

/// A command of the ng protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `ping`: answered `pong`.
    Ping,
    /// `offer`: an SDP offer to rewrite and anchor.
    Offer,
    /// `answer`: the SDP answer.
    Answer,
    /// `delete`: end a call (or one branch of it).
    Delete,
    /// `query`: a call's statistics.
    Query,
    /// `list`: the calls.
    List,
    /// `statistics`: the relay's totals.
    Statistics,
}

impl Command {
    /// Every command, in the order counters use.
    pub const ALL: [Command; 7] = [
        Self::Ping,
        Self::Offer,
        Self::Answer,
        Self::Delete,
        Self::Query,
        Self::List,
        Self::Statistics,
    ];

    /// The command's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Offer => "offer",
            Self::Answer => "answer",
            Self::Delete => "delete",
            Self::Query => "query",
            Self::List => "list",
            Self::Statistics => "statistics",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ping" => Self::Ping,
            "offer" => Self::Offer,
            "answer" => Self::Answer,
            "delete" => Self::Delete,
            "query" => Self::Query,
            "list" => Self::List,
            "statistics" => Self::Statistics,
            _ => return None,
        })
    }
}

/// Why a datagram is not a request the relay can act on; [`NgError::reason`] is the
/// `error-reason` of the reply.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum NgError {
    /// No space after the cookie, or an empty cookie.
    #[error("no cookie")]
    NoCookie,
    /// Larger than [`MAX_REQUEST`].
    #[error("message too large")]
    TooLarge,
    /// The part after the cookie is not bencode.
    #[error("malformed bencode: {0}")]
    Bencode(bencode::BencodeError),
    /// Not a dictionary, or no `command`.
    #[error("no command")]
    NoCommand,
    /// A command the relay does not know.
    #[error("unrecognized command {0:?}")]
    UnknownCommand(String),
    /// A command that needs `call-id` (and `from-tag`) without them.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The SDP could not be read.
    #[error("bad SDP: {0}")]
    Sdp(String),
    /// The relay refused (ports, busy).
    #[error("relay: {0}")]
    Relay(String),
    /// No call with this `call-id`.
    #[error("unknown call {0:?}")]
    UnknownCall(String),
    /// The relay ran out of ports (the client then tries another relay).
    #[error("ran out of ports")]
    OutOfPorts,
    /// The session limit is reached (the client then tries another relay).
    #[error("parallel session limit reached")]
    LoadLimit,
}

impl NgError {
    /// The `error-reason` text clients log (rtpengine's wording where it has one).
    pub fn reason(&self) -> String {
        match self {
            Self::UnknownCommand(_) => "Unrecognized command".into(),
            Self::Missing(key) => format!("No {key} in message"),
            Self::UnknownCall(_) => "Unknown call-id".into(),
            Self::OutOfPorts => "Ran out of ports".into(),
            Self::LoadLimit => "Parallel session limit reached".into(),
            Self::Sdp(_) => "Failed to parse SDP".into(),
            other => other.to_string(),
        }
    }

    fn relay(e: crate::api::RelayError) -> Self {
        match e {
            crate::api::RelayError::Ports { .. } => Self::OutOfPorts,
            other => Self::Relay(other.to_string()),
        }
    }
}

/// A request: its cookie, command, and the keys the relay acts on, borrowed from the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The cookie the reply must repeat.
    pub cookie: &'a [u8],
    /// The command.
    pub command: Command,
    /// `call-id`.
    pub call_id: Option<&'a str>,
    /// `from-tag`.
    pub from_tag: Option<&'a str>,
    /// `to-tag`.
    pub to_tag: Option<&'a str>,
    /// `sdp`.
    pub sdp: Option<&'a [u8]>,
    /// `flags` (e.g. `trust-address`, `symmetric`, `strict-source`, `SIP-source-address`).
    pub flags: Vec<&'a str>,
    /// `replace` (`origin`, `session-connection`).
    pub replace: Vec<&'a str>,
    /// `direction`: the interfaces the two sides face.
    pub direction: Vec<&'a str>,
    /// `received-from`: address family and address of the SIP peer.
    pub received_from: Vec<&'a str>,
    /// `ICE` (`remove`, `force`, ...).
    pub ice: Option<&'a str>,
    /// `rtcp-mux` (`offer`, `demux`, `accept`, ...).
    pub rtcp_mux: Vec<&'a str>,
    /// `transport-protocol` (`RTP/AVP`, `RTP/SAVP`, ...).
    pub transport_protocol: Option<&'a str>,
    /// `media-address`.
    pub media_address: Option<&'a str>,
    /// `label` (or `from-label`).
    pub label: Option<&'a str>,
    /// `delete-delay` in seconds.
    pub delete_delay: Option<i64>,
    /// `supports` (e.g. `load limit`): protocol extensions the client understands.
    pub supports: Vec<&'a str>,
    /// `via-branch`.
    pub via_branch: Option<&'a str>,
    /// `limit` of a `list`.
    pub limit: Option<i64>,
}

impl Request<'_> {
    /// Whether `flags` holds `name`, spaces and hyphens alike and case ignored, as rtpengine
    /// reads them ("Spaces in each string may be replaced by hyphens").
    pub fn has_flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| same_word(f, name))
    }

    /// Whether `replace` holds `name` (same matching as [`Request::has_flag`]).
    pub fn replaces(&self, name: &str) -> bool {
        self.replace.iter().any(|f| same_word(f, name))
    }

    /// Whether the client supports the protocol extension `name`.
    pub fn supports(&self, name: &str) -> bool {
        self.supports.iter().any(|f| same_word(f, name))
    }
}

/// Compares two protocol words with spaces, hyphens and case ignored alike.
pub fn same_word(a: &str, b: &str) -> bool {
    let norm = |c: u8| {
        if c == b' ' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// A key's value, under its hyphenated or spaced spelling ("received-from" / "received from").
fn lookup<'v, 'a>(dict: &'v Value<'a>, key: &str) -> Option<&'v Value<'a>> {
    dict.get(key).or_else(|| {
        key.contains('-')
            .then(|| dict.get(&key.replace('-', " ")))
            .flatten()
    })
}

/// A value that is a list of strings or one string (clients send `ICE` both ways).
fn one_or_many<'a>(v: Option<&Value<'a>>) -> Vec<&'a str> {
    match v {
        Some(Value::Bytes(_)) => v.and_then(Value::as_str).into_iter().collect(),
        other => strings(other),
    }
}

fn strings<'a>(v: Option<&Value<'a>>) -> Vec<&'a str> {
    v.and_then(Value::as_list)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Splits a datagram into its cookie and the rest.
fn split_cookie(datagram: &[u8]) -> Result<(&[u8], &[u8]), NgError> {
    let at = datagram
        .iter()
        .position(|&b| b == b' ')
        .filter(|&i| i > 0)
        .ok_or(NgError::NoCookie)?;
    Ok((&datagram[..at], &datagram[at + 1..]))
}

/// Reads one ng request. A datagram with a cookie but nothing usable after it is an error the
/// caller answers ([`error_reply`]); one without a cookie cannot be answered at all.
pub fn parse(datagram: &[u8]) -> Result<Request<'_>, (Option<&[u8]>, NgError)> {
    if datagram.len() > MAX_REQUEST {
        let cookie = split_cookie(datagram).ok().map(|(c, _)| c);
        return Err((cookie, NgError::TooLarge));
    }
    let (cookie, body) = split_cookie(datagram).map_err(|e| (None, e))?;
    let fail = |e| (Some(cookie), e);
    let dict = bencode::decode(body).map_err(|e| fail(NgError::Bencode(e)))?;
    let name = dict
        .get("command")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(NgError::NoCommand))?;
    let command =
        Command::from_name(name).ok_or_else(|| fail(NgError::UnknownCommand(name.to_owned())))?;
    let text = |k: &str| lookup(&dict, k).and_then(Value::as_str);
    let mut direction = strings(dict.get("direction"));
    if direction.is_empty() {
        direction.extend(text("from-interface"));
        direction.extend(text("to-interface"));
    }
    let ice = one_or_many(dict.get("ICE"));
    let req = Request {
        cookie,
        command,
        call_id: text("call-id"),
        from_tag: text("from-tag"),
        to_tag: text("to-tag"),
        sdp: match dict.get("sdp") {
            Some(Value::Bytes(b)) => Some(*b),
            _ => None,
        },
        flags: strings(dict.get("flags")),
        replace: strings(dict.get("replace")),
        direction,
        received_from: strings(lookup(&dict, "received-from")),
        ice: ice
            .iter()
            .copied()
            .find(|w| ["remove", "force", "default", "optional", "force-relay"].contains(w)),
        rtcp_mux: strings(dict.get("rtcp-mux")),
        transport_protocol: text("transport-protocol"),
        media_address: text("media-address"),
        label: text("label").or_else(|| text("from-label")),
        delete_delay: lookup(&dict, "delete-delay").and_then(Value::as_int),
        supports: strings(dict.get("supports")),
        via_branch: text("via-branch"),
        limit: dict.get("limit").and_then(Value::as_int),
    };
    match command {
        Command::Offer | Command::Answer | Command::Delete | Command::Query => {
            if req.call_id.is_none() {
                return Err(fail(NgError::Missing("call-id")));
            }
            if req.from_tag.is_none() && command != Command::Query {
                return Err(fail(NgError::Missing("from-tag")));
            }
            if matches!(command, Command::Offer | Command::Answer) && req.sdp.is_none() {
                return Err(fail(NgError::Missing("sdp")));
            }
        }
        Command::Ping | Command::List | Command::Statistics => {}
    }
    Ok(req)
}

/// A reply: `<cookie> ` and the bencoded dictionary of `pairs`, in that order.
pub fn reply(cookie: &[u8], pairs: &[(&[u8], Value<'_>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cookie.len() + 64);
    out.extend_from_slice(cookie);
    out.push(b' ');
    Value::Dict(pairs.to_vec()).encode(&mut out);
    out
}

/// The error reply for `cookie`: `result` `error` and its `error-reason`.
pub fn error_reply(cookie: &[u8], error: &NgError) -> Vec<u8> {
    let reason = error.reason();
    reply(
        cookie,
        &[
            (b"result", Value::Bytes(b"error")),
            (b"error-reason", Value::Bytes(reason.as_bytes())),
        ],
    )
}

/// The last replies by cookie, so a retransmitted request (Kamailio resends after its timeout)
/// gets the same reply without being acted on twice; bounded in entries and age.
#[derive(Debug)]
pub struct ReplayCache {
    entries: VecDeque<(Vec<u8>, Vec<u8>, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl ReplayCache {
    /// A cache of at most `capacity` replies, each kept for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            ttl,
        }
    }

    /// The reply already given to `cookie`, if it is still kept at `now`.
    pub fn get(&mut self, now: Instant, cookie: &[u8]) -> Option<&[u8]> {
        while self
            .entries
            .front()
            .is_some_and(|(_, _, at)| now.saturating_duration_since(*at) >= self.ttl)
        {
            self.entries.pop_front();
        }
        self.entries
            .iter()
            .find(|(c, _, _)| c == cookie)
            .map(|(_, r, _)| r.as_slice())
    }

    /// Remembers `reply` for `cookie` at `now`, forgetting the oldest beyond the capacity.
    pub fn put(&mut self, now: Instant, cookie: &[u8], reply: Vec<u8>) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((cookie.to_vec(), reply, now));
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod flags_tests;
