//! Admission at the endpoint: which sources are trusted, the per-source request rate limit for
//! everyone else (before any other work), and call admission caps per source, user and route
//! for each new INVITE before the call core makes state for it (RFC 3261 §21.5.4).
//!
//! Trusted sources are the peers the configuration names: every `[[route]]`'s `from_addresses`
//! (trunks and PBXes), every route's next hop and every forward-mode realm's registrar (the
//! core). They are neither rate-limited nor capped per address; per-route caps still apply.

use super::{Endpoint, Ingress};
use crate::call::{CallEvent, MediaRelay, Target};
use crate::edge::admission::CallAdmission;
use crate::edge::customers::Admission;
use crate::edge::throttle::LogBudget;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_config::{Config, IpNet};
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Instant;

/// Log lines per second about refused calls.
const LOG_PER_S: u32 = 5;

/// The endpoint's admission state (see the module docs).
#[derive(Debug)]
pub(super) struct Gate {
    trusted_nets: Vec<IpNet>,
    trusted_ips: HashSet<IpAddr>,
    /// Certificate names routes trust (`from_certificates`).
    trusted_names: Vec<String>,
    pub(super) calls: CallAdmission,
    log: LogBudget,
    retry_after_s: u32,
    /// When idle admission entries are next dropped.
    next_purge: Option<Instant>,
}

/// How often idle admission entries are dropped.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Gate {
    pub(super) fn new(cfg: &Config) -> Self {
        let mut g = Self {
            trusted_nets: Vec::new(),
            trusted_ips: HashSet::new(),
            trusted_names: Vec::new(),
            calls: CallAdmission::from_config(cfg),
            log: LogBudget::new(LOG_PER_S),
            retry_after_s: cfg.limits.retry_after_s,
            next_purge: None,
        };
        g.trust(cfg);
        g
    }

    /// Takes a reloaded configuration: trusted peers and caps change, calls up stay counted.
    pub(super) fn reload(&mut self, cfg: &Config) {
        self.trust(cfg);
        self.calls.set_caps(CallAdmission::from_config(cfg));
        self.retry_after_s = cfg.limits.retry_after_s;
    }

    fn trust(&mut self, cfg: &Config) {
        self.trusted_names = cfg
            .routes
            .iter()
            .flat_map(|r| r.from_certificates.iter().cloned())
            .collect();
        self.trusted_nets = cfg
            .routes
            .iter()
            .flat_map(|r| r.from_addresses.iter().copied())
            .collect();
        self.trusted_ips = cfg
            .routes
            .iter()
            .filter_map(|r| r.next_hop.addr().map(|a| a.ip()))
            .chain(
                cfg.realms
                    .iter()
                    .filter_map(|r| r.registrar.map(|a| a.ip())),
            )
            .collect();
    }

    /// Also trusts `ips`: the addresses named next hops resolved to (they are next hops too).
    pub(super) fn trust_resolved(&mut self, cfg: &Config, ips: impl Iterator<Item = IpAddr>) {
        self.trust(cfg);
        self.trusted_ips.extend(ips);
    }

    /// Drops idle admission entries, at most every [`PURGE_EVERY`].
    pub(super) fn housekeeping(&mut self, now: Instant) {
        if self.next_purge.is_some_and(|t| now < t) {
            return;
        }
        self.calls.purge(now);
        self.next_purge = Some(now + PURGE_EVERY);
    }

    /// Whether a verified certificate naming `names` is a peer a route trusts by identity.
    pub(super) fn trusts_names(&self, names: &[String]) -> bool {
        !names.is_empty()
            && self
                .trusted_names
                .iter()
                .any(|n| names.iter().any(|p| p.eq_ignore_ascii_case(n)))
    }

    /// Whether `ip` is a peer the configuration names (see the module docs).
    pub(super) fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_ips.contains(&ip) || self.trusted_nets.iter().any(|n| n.contains(ip))
    }
}

impl<M: MediaRelay> Endpoint<M> {
    /// The per-source rate limit for a request from an untrusted source: `true` when it was
    /// dropped or answered here.
    pub(super) fn over_source_rate(
        &mut self,
        now: Instant,
        msg: &Message,
        ingress: Ingress,
    ) -> bool {
        if !msg.is_request()
            || self.gate.trusted(ingress.source.ip())
            || self.gate.trusts_names(self.names_of(ingress))
        {
            return false;
        }
        let verdict = self.front.customers.rate_limit(now, msg, &ingress.flow());
        if verdict.is_some() {
            self.record_customers();
        }
        match verdict {
            None => false,
            Some(Admission::Respond(rsp)) => {
                self.reply(now, ingress, rsp);
                true
            }
            Some(_) => true,
        }
    }

    /// Call admission for `msg` if it is a new INVITE: `Ok(Some(call_id))` when it took a ticket
    /// (give it back with [`Endpoint::settle_admission`] if the core starts no call), `Ok(None)`
    /// for other requests, `Err(())` when it was refused with 503 + Retry-After here.
    pub(super) fn admit_call(
        &mut self,
        now: Instant,
        msg: &Message,
        ingress: Ingress,
        user: Option<&str>,
        targets: Option<&[Target]>,
    ) -> Result<Option<String>, ()> {
        let new_invite =
            msg.method() == Some(&Method::Invite) && msg.to().is_some_and(|t| t.tag().is_none());
        let Some(call_id) = msg.call_id().filter(|_| new_invite) else {
            return Ok(None);
        };
        if self.core.has_call_id(call_id) {
            return Ok(None);
        }
        let ip = ingress.source.ip();
        let trusted = self.gate.trusted(ip) || self.gate.trusts_names(self.names_of(ingress));
        let source = (!trusted).then_some(ip);
        // The first target's route: a registered contact's name matches no route's caps.
        let route = match targets {
            Some(t) => t.first().map(|t| t.name.clone()),
            None => self.first_route(msg, ingress),
        };
        match self
            .gate
            .calls
            .admit(now, call_id, source, user, route.as_deref())
        {
            Ok(()) => Ok(Some(call_id.to_owned())),
            Err(why) => {
                if let Some(suppressed) = self.gate.log.admit(now) {
                    tracing::info!(
                        source = %ip,
                        user = user.unwrap_or(""),
                        route = route.as_deref().unwrap_or(""),
                        limit = why.as_str(),
                        suppressed,
                        "new call refused: admission limit"
                    );
                }
                let mut rsp = Message::response_to(msg, 503, "Service Unavailable");
                rsp.push_header(HeaderName::RetryAfter, self.gate.retry_after_s.to_string());
                crate::stack::stateless::add_to_tag(&mut rsp);
                self.reply(now, ingress, rsp);
                self.record_admission();
                Err(())
            }
        }
    }

    /// After the core took the INVITE `call_id`: its ticket goes back unless a call started.
    pub(super) fn settle_admission(&mut self, call_id: &str) {
        if !self.core.has_call_id(call_id) {
            self.gate.calls.not_started(call_id);
        }
    }

    /// Follows call starts and ends for the admission tickets.
    pub(super) fn admission_event(&mut self, e: &CallEvent) {
        match e {
            CallEvent::Started {
                call, a_call_id, ..
            } => self.gate.calls.started(a_call_id, *call),
            CallEvent::Ended { call, .. } => self.gate.calls.ended(*call),
            _ => {}
        }
    }

    /// The name of the first route (by priority) the route table gives the INVITE.
    fn first_route(&self, msg: &Message, ingress: Ingress) -> Option<String> {
        let iface = self.cfg.interfaces.get(ingress.interface)?;
        let uri = msg.request_uri()?;
        let user = uri.user_unescaped().unwrap_or_default();
        let domain = uri.host().map_or("", |h| h.as_str());
        self.cfg
            .matching_routes(
                &iface.name,
                ingress.source.ip(),
                self.names_of(ingress),
                &user,
                domain,
            )
            .first()
            .map(|r| r.name.clone())
    }

    /// Moves the admission refusals into the metrics.
    pub(super) fn record_admission(&mut self) {
        let refused = self.gate.calls.refused();
        self.recorder.admission(&refused);
    }
}
