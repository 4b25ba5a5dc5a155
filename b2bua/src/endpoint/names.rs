//! Named next hops (RFC 3263): the endpoint asks the driver to locate each name its routes use
//! when the last answer expires, hands the router what came back, trusts the addresses like
//! any next hop, and logs what a name resolves to when that changes. Only names from the
//! configuration are ever resolved (no open relay).

use super::{Endpoint, Output};
use crate::call::MediaRelay;
use crate::routing::ResolvedHop;
use crate::Map;
use sbc_config::{Config, HopName, Transport};
use std::time::{Duration, Instant};

/// Shortest and longest time an answer is used before asking again (positive TTLs are
/// clamped into this range; a failure is retried after the shortest).
const MIN_TTL: Duration = Duration::from_secs(5);
const MAX_TTL: Duration = Duration::from_secs(3600);

/// What the driver reports for a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The addresses, with SRV priority and weight, and the answer's TTL.
    Found(Vec<ResolvedHop>, Duration),
    /// No usable answer: why.
    Failed(String),
}

/// Per name: when to ask next and whether a question is out.
#[derive(Debug, Default)]
pub(super) struct Names {
    due: Map<HopName, (Instant, bool)>,
}

/// Every name the routes of `cfg` use, with the transport to locate it for.
fn configured(cfg: &Config) -> Vec<(HopName, Transport)> {
    let mut names: Vec<(HopName, Transport)> = Vec::new();
    for r in &cfg.routes {
        if let Some(n) = r.next_hop.name() {
            if !names.iter().any(|(m, _)| m == n) {
                names.push((n.clone(), r.hop_transport()));
            }
        }
    }
    names
}

impl<M: MediaRelay> Endpoint<M> {
    /// Takes the names of the (new) configuration: new ones are due at once, unused ones go.
    pub(super) fn names_from_config(&mut self, now: Instant) {
        let names = configured(&self.cfg);
        self.names
            .due
            .retain(|n, _| names.iter().any(|(m, _)| m == n));
        for (n, _) in names {
            self.names.due.entry(n).or_insert((now, false));
        }
    }

    /// When the next name is due.
    pub(super) fn names_deadline(&self) -> Option<Instant> {
        self.names
            .due
            .values()
            .filter(|(_, pending)| !pending)
            .map(|(at, _)| *at)
            .min()
    }

    /// Asks the driver for every name that is due.
    pub(super) fn names_timer(&mut self, now: Instant) {
        let transports = configured(&self.cfg);
        for (name, (at, pending)) in &mut self.names.due {
            if *pending || *at > now {
                continue;
            }
            *pending = true;
            let transport = transports
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Transport::Udp, |(_, t)| *t);
            self.out.push_back(Output::Resolve {
                name: name.clone(),
                transport,
            });
        }
    }

    /// The driver's answer for `name`: the router routes by it until it expires.
    pub(super) fn on_resolved(&mut self, now: Instant, name: HopName, result: Resolution) {
        let Some(slot) = self.names.due.get_mut(&name) else {
            return;
        };
        let (hops, ttl) = match result {
            Resolution::Found(hops, ttl) if !hops.is_empty() => (hops, ttl.clamp(MIN_TTL, MAX_TTL)),
            Resolution::Found(..) => {
                self.recorder.metrics().dns_failed(&name.to_string());
                tracing::warn!(%name, "next hop name has no usable address");
                (Vec::new(), MIN_TTL)
            }
            Resolution::Failed(why) => {
                self.recorder.metrics().dns_failed(&name.to_string());
                tracing::warn!(%name, "next hop name did not resolve: {why}");
                (Vec::new(), MIN_TTL)
            }
        };
        *slot = (now + ttl, false);
        let router = self.core.router_mut();
        let before: Vec<_> = router.resolved_addresses().collect();
        router.set_resolved(name.clone(), hops.clone());
        let after: Vec<_> = router.resolved_addresses().collect();
        if before != after && !hops.is_empty() {
            let list: Vec<String> = hops
                .iter()
                .map(|h| format!("{} (priority {}, weight {})", h.addr, h.priority, h.weight))
                .collect();
            tracing::info!(%name, "next hop name resolves to {}", list.join(", "));
        }
        self.trust_resolved();
    }

    /// Trusts the addresses the routes' names resolved to, like any next hop.
    pub(super) fn trust_resolved(&mut self) {
        let ips: Vec<_> = self
            .core
            .router()
            .resolved_addresses()
            .map(|(_, a)| a.ip())
            .collect();
        let cfg = self.cfg.clone();
        self.gate.trust_resolved(&cfg, ips.into_iter());
    }
}
