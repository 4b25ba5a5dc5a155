//! Locating a SIP server by name, sans IO (RFC 3263 §4; RFC 2782): which DNS questions to ask
//! for a configured next hop, and how to order the answers into targets — NAPTR services by
//! order and preference and the transports the SBC speaks, SRV records by priority with a
//! weighted random order within one (RFC 2782 "Usage rules"), and the default ports. The driver
//! asks the questions; this module only reads answers, so it is tested on data.
//!
//! A target that failed is held back for a while ([`HoldBack`]): the other targets of the same
//! name are tried first, and the name as a whole is never given up on because one host is down.

use crate::stack::transaction::Transport;
use crate::Map;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A next hop named in the configuration: host, optional port and transport, and whether it was
/// a `sips:` URI (TLS only, RFC 3263 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The host name (a fully qualified domain name, no trailing dot needed).
    pub host: String,
    /// An explicit port: no NAPTR or SRV lookup then (RFC 3263 §4.2).
    pub port: Option<u16>,
    /// An explicit transport (`;transport=`), or TLS for `sips:`.
    pub transport: Option<Transport>,
    /// Whether the URI was `sips:`.
    pub sips: bool,
}

/// The first DNS question for a name (RFC 3263 §4.1, §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Question {
    /// NAPTR for the host: neither port nor transport given.
    Naptr(String),
    /// SRV for `_sip(s)._<proto>.<host>`: a transport but no port.
    Srv(Transport, String),
    /// A/AAAA for the host, with the port (given or the transport's default).
    Address(Transport, String, u16),
}

/// The transport's default port (RFC 3261 §19.1.2): 5061 for TLS, 5060 otherwise.
pub fn default_port(t: Transport) -> u16 {
    match t {
        Transport::Tls | Transport::Wss => 5061,
        Transport::Udp | Transport::Tcp | Transport::Ws => 5060,
    }
}

/// The SRV owner name for `transport` at `host` (RFC 3263 §4.1): `_sips._tcp` for TLS,
/// `_sip._tcp`, `_sip._udp`.
pub fn srv_name(transport: Transport, host: &str) -> String {
    let prefix = match transport {
        Transport::Tls | Transport::Wss => "_sips._tcp.",
        Transport::Tcp | Transport::Ws => "_sip._tcp.",
        Transport::Udp => "_sip._udp.",
    };
    format!("{prefix}{host}")
}

impl Named {
    /// The first question to ask (RFC 3263 §4.1, §4.2).
    pub fn question(&self) -> Question {
        let transport = self
            .transport
            .or_else(|| self.sips.then_some(Transport::Tls));
        match (self.port, transport) {
            (Some(port), t) => {
                Question::Address(t.unwrap_or(Transport::Udp), self.host.clone(), port)
            }
            (None, Some(t)) => Question::Srv(t, srv_name(t, &self.host)),
            (None, None) => Question::Naptr(self.host.clone()),
        }
    }

    /// The SRV names to try when the host has no usable NAPTR record (RFC 3263 §4.1): TLS
    /// first, then TCP and UDP unless the name is `sips:`, each only if the SBC speaks it.
    pub fn srv_fallback(&self, speaks: &[Transport]) -> Vec<(Transport, String)> {
        let order: &[Transport] = if self.sips {
            &[Transport::Tls]
        } else {
            &[Transport::Tls, Transport::Tcp, Transport::Udp]
        };
        order
            .iter()
            .filter(|t| speaks.contains(t))
            .map(|&t| (t, srv_name(t, &self.host)))
            .collect()
    }
}

/// One NAPTR record (RFC 3403 §4.1) as the resolver returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Naptr {
    /// Lower first.
    pub order: u16,
    /// Lower first among equal orders.
    pub preference: u16,
    /// `S` for an SRV replacement, the only kind RFC 3263 uses.
    pub flags: String,
    /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, ...
    pub service: String,
    /// The SRV owner name to ask next.
    pub replacement: String,
}

/// The transport a NAPTR service names (RFC 3263 §4.1, RFC 3261 §26.2), if the SBC knows it.
fn naptr_transport(service: &str) -> Option<Transport> {
    match service.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(Transport::Udp),
        "SIP+D2T" => Some(Transport::Tcp),
        "SIPS+D2T" => Some(Transport::Tls),
        _ => None,
    }
}

/// The SRV names to ask, in order, from a host's NAPTR records (RFC 3263 §4.1): `S` records of
/// the SIP services the SBC speaks (only `SIPS+D2T` for a `sips:` name), by order then
/// preference. Empty when none is usable: then [`Named::srv_fallback`].
pub fn from_naptr(records: &[Naptr], speaks: &[Transport], sips: bool) -> Vec<(Transport, String)> {
    let mut usable: Vec<&Naptr> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter(|r| {
            naptr_transport(&r.service)
                .is_some_and(|t| speaks.contains(&t) && (!sips || t == Transport::Tls))
        })
        .collect();
    usable.sort_by_key(|r| (r.order, r.preference));
    usable
        .into_iter()
        .filter_map(|r| {
            Some((
                naptr_transport(&r.service)?,
                r.replacement.trim_end_matches('.').to_owned(),
            ))
        })
        .collect()
}

/// One SRV record (RFC 2782) with the addresses its target resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srv {
    /// Lower first.
    pub priority: u16,
    /// Relative share among records of the same priority.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The target host.
    pub target: String,
}

/// The SRV records in the order to try them (RFC 2782 "Usage rules"): by priority, and within
/// a priority a weighted random order — each pick chooses a record with probability weight /
/// (sum of the remaining weights), zero-weight records having a small chance and coming last.
/// `random` gives uniformly random 64-bit numbers.
pub fn order_srv(records: &[Srv], random: &mut dyn FnMut() -> u64) -> Vec<Srv> {
    let mut sorted: Vec<Srv> = records
        .iter()
        .filter(|r| r.target != ".")
        .cloned()
        .collect();
    sorted.sort_by_key(|r| (r.priority, r.weight));
    let mut out = Vec::with_capacity(sorted.len());
    while let Some(first) = sorted.first().map(|r| r.priority) {
        let split = sorted
            .iter()
            .position(|r| r.priority != first)
            .unwrap_or(sorted.len());
        let mut group: Vec<Srv> = sorted.drain(..split).collect();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                // RFC 2782: a running sum over the records (zero weights first), the first
                // whose sum reaches a random number in 0..=total.
                let n = random() % (total + 1);
                let mut sum = 0u64;
                group
                    .iter()
                    .position(|r| {
                        sum += u64::from(r.weight);
                        sum >= n
                    })
                    .unwrap_or(0)
            };
            out.push(group.remove(pick));
        }
    }
    out
}

/// Targets that failed lately, held back until a deadline (virtual time): still tried, but
/// after every healthy target of the same name.
#[derive(Debug, Default)]
pub struct HoldBack {
    until: Map<SocketAddr, Instant>,
}

impl HoldBack {
    /// Holds `target` back for `period` from `now` (a timeout, 503 or refused connection).
    pub fn hold(&mut self, now: Instant, target: SocketAddr, period: Duration) {
        if let Some(at) = now.checked_add(period) {
            self.until.insert(target, at);
        }
    }

    /// Whether `target` is held back at `now`.
    pub fn is_held(&self, now: Instant, target: SocketAddr) -> bool {
        self.until.get(&target).is_some_and(|&at| now < at)
    }

    /// Forgets the hold-backs that are over at `now`.
    pub fn expire(&mut self, now: Instant) {
        self.until.retain(|_, at| now < *at);
    }

    /// Moves the targets held back (as of the last [`Self::expire`]) behind the others,
    /// keeping each group's order.
    pub fn reorder(&self, targets: &mut Vec<SocketAddr>) {
        let (mut healthy, held): (Vec<SocketAddr>, Vec<SocketAddr>) =
            targets.iter().partition(|t| !self.until.contains_key(*t));
        healthy.extend(held);
        *targets = healthy;
    }
}

#[cfg(test)]
mod tests;
