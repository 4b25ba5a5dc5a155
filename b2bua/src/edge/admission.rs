//! Call admission control on virtual time: caps on concurrent calls and on the rate of new
//! calls per source address, per authenticated user and per route, answered 503 with
//! Retry-After beyond them and counted (RFC 3261 §21.5.4; `[limits]` and `[[route]]`).
//!
//! A new INVITE takes a ticket before the call core makes any state for it; the ticket is kept
//! by the call's key once the core starts the call and given back when the call ends, or at once
//! when the core refuses the INVITE. Sources a route trusts (trunks) are not capped per source.
//! The tables are keyed by attacker-controlled values, so they are bounded like the throttle's.

use crate::call::CallKey;
use crate::edge::throttle::MAX_ENTRIES;
use crate::Map;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Concurrent-call and call-rate caps for one kind of key; 0 switches a cap off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    /// Calls up at once.
    pub max_calls: u32,
    /// New calls per second, sustained (bursts up to twice that).
    pub rate_per_s: u32,
}

impl Caps {
    fn off(self) -> bool {
        self.max_calls == 0 && self.rate_per_s == 0
    }
}

/// Which cap refused a call, for the answer's log line and `sbc_admission_refused_total{limit}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many calls up from this source address.
    SourceCalls,
    /// New calls from this source address too fast.
    SourceRate,
    /// Too many calls up for this user.
    UserCalls,
    /// New calls from this user too fast.
    UserRate,
    /// Too many calls up on this route.
    RouteCalls,
    /// New calls on this route too fast.
    RouteRate,
}

impl Refusal {
    /// Every refusal, in the order of [`CallAdmission::refused`].
    pub const ALL: [Self; 6] = [
        Self::SourceCalls,
        Self::SourceRate,
        Self::UserCalls,
        Self::UserRate,
        Self::RouteCalls,
        Self::RouteRate,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceCalls => "source_calls",
            Self::SourceRate => "source_rate",
            Self::UserCalls => "user_calls",
            Self::UserRate => "user_rate",
            Self::RouteCalls => "route_calls",
            Self::RouteRate => "route_rate",
        }
    }
}

/// What one call is counted against, given back when it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ticket {
    source: Option<IpAddr>,
    user: Option<String>,
    route: Option<String>,
}

/// One key's use: calls up and a token bucket of new calls (tokens in thousandths).
#[derive(Clone, Copy, Debug)]
struct Usage {
    calls: u32,
    milli_tokens: u64,
    last: Instant,
}

impl Usage {
    fn fresh(now: Instant, caps: Caps) -> Self {
        Self {
            calls: 0,
            milli_tokens: u64::from(caps.rate_per_s) * 2000,
            last: now,
        }
    }

    /// Whether one more call fits `caps` at `now` (without taking it).
    fn check(&mut self, now: Instant, caps: Caps) -> Result<(), bool> {
        if caps.max_calls > 0 && self.calls >= caps.max_calls {
            return Err(true);
        }
        if caps.rate_per_s > 0 {
            let rate = u64::from(caps.rate_per_s);
            let full = rate * 2000;
            let ms = u64::try_from(now.saturating_duration_since(self.last).as_millis())
                .unwrap_or(u64::MAX);
            self.milli_tokens = self
                .milli_tokens
                .saturating_add(ms.saturating_mul(rate))
                .min(full);
            self.last = now;
            if self.milli_tokens < 1000 {
                return Err(false);
            }
        }
        Ok(())
    }

    fn take(&mut self, caps: Caps) {
        self.calls += 1;
        if caps.rate_per_s > 0 {
            self.milli_tokens -= 1000;
        }
    }

    fn idle(&self, now: Instant, caps: Caps) -> bool {
        let refilled = caps.rate_per_s == 0
            || now.saturating_duration_since(self.last) >= Duration::from_secs(2);
        self.calls == 0 && refilled
    }
}

/// Call admission state (see the module docs).
#[derive(Debug, Default)]
pub struct CallAdmission {
    source: Caps,
    user: Caps,
    routes: Map<String, Caps>,
    sources: Map<IpAddr, Usage>,
    users: Map<String, Usage>,
    route_use: Map<String, Usage>,
    /// Tickets of INVITEs the core has not started a call for yet, by A's Call-ID.
    pending: Map<String, Ticket>,
    /// Tickets of calls the core started.
    active: Map<CallKey, Ticket>,
    refused: [u64; 6],
}

impl CallAdmission {
    /// Admission with these per-source and per-user caps and per-route caps by route name.
    pub fn new(source: Caps, user: Caps, routes: Map<String, Caps>) -> Self {
        Self {
            source,
            user,
            routes,
            ..Self::default()
        }
    }

    /// The caps from `[limits]` and each `[[route]]`.
    pub fn from_config(cfg: &sbc_config::Config) -> Self {
        let l = &cfg.limits;
        let routes = cfg
            .routes
            .iter()
            .map(|r| {
                let caps = Caps {
                    max_calls: r.max_calls,
                    rate_per_s: r.call_rate_per_s,
                };
                (r.name.clone(), caps)
            })
            .filter(|(_, c)| !c.off())
            .collect();
        Self::new(
            Caps {
                max_calls: l.calls_per_source,
                rate_per_s: l.call_rate_per_source,
            },
            Caps {
                max_calls: l.calls_per_user,
                rate_per_s: l.call_rate_per_user,
            },
            routes,
        )
    }

    /// Takes a ticket for the new call `call_id` from `source` (`None`: a trusted source, not
    /// capped per address), by `user` if authenticated, on `route` if known; or says which cap
    /// refuses it. Every cap is checked before any is charged.
    pub fn admit(
        &mut self,
        now: Instant,
        call_id: &str,
        source: Option<IpAddr>,
        user: Option<&str>,
        route: Option<&str>,
    ) -> Result<(), Refusal> {
        if self.pending.contains_key(call_id) {
            return Ok(());
        }
        let (src_caps, user_caps) = (self.source, self.user);
        let route_caps = route.and_then(|r| self.routes.get(r).copied());
        let source = source.filter(|_| !src_caps.off());
        let user = user.filter(|_| !user_caps.off());
        let route = route.filter(|_| route_caps.is_some());
        let checks = [
            (
                source.map(|s| check(&mut self.sources, s, now, src_caps)),
                Refusal::SourceCalls,
                Refusal::SourceRate,
            ),
            (
                user.map(|u| check(&mut self.users, u.to_owned(), now, user_caps)),
                Refusal::UserCalls,
                Refusal::UserRate,
            ),
            (
                route
                    .zip(route_caps)
                    .map(|(r, c)| check(&mut self.route_use, r.to_owned(), now, c)),
                Refusal::RouteCalls,
                Refusal::RouteRate,
            ),
        ];
        for (result, calls, rate) in checks {
            if let Some(Err(too_many)) = result {
                let why = if too_many { calls } else { rate };
                self.refused[why as usize] += 1;
                return Err(why);
            }
        }
        if let Some(s) = source {
            take(&mut self.sources, &s, src_caps);
        }
        if let Some(u) = user {
            take(&mut self.users, u, user_caps);
        }
        if let (Some(r), Some(c)) = (route, route_caps) {
            take(&mut self.route_use, r, c);
        }
        self.pending.insert(
            call_id.to_owned(),
            Ticket {
                source,
                user: user.map(str::to_owned),
                route: route.map(str::to_owned),
            },
        );
        Ok(())
    }

    /// The core started call `key` for the INVITE `call_id`: its ticket now lasts the call.
    pub fn started(&mut self, call_id: &str, key: CallKey) {
        if let Some(t) = self.pending.remove(call_id) {
            self.active.insert(key, t);
        }
    }

    /// The core did not start a call for `call_id` (routing refused it, say): its ticket goes
    /// back at once.
    pub fn not_started(&mut self, call_id: &str) {
        if let Some(t) = self.pending.remove(call_id) {
            self.give_back(&t);
        }
    }

    /// Call `key` ended: its ticket goes back.
    pub fn ended(&mut self, key: CallKey) {
        if let Some(t) = self.active.remove(&key) {
            self.give_back(&t);
        }
    }

    fn give_back(&mut self, t: &Ticket) {
        if let Some(u) = t.source.and_then(|s| self.sources.get_mut(&s)) {
            u.calls = u.calls.saturating_sub(1);
        }
        if let Some(u) = t.user.as_ref().and_then(|n| self.users.get_mut(n)) {
            u.calls = u.calls.saturating_sub(1);
        }
        if let Some(u) = t.route.as_ref().and_then(|n| self.route_use.get_mut(n)) {
            u.calls = u.calls.saturating_sub(1);
        }
    }

    /// Drops idle entries (no call up, bucket full again).
    pub fn purge(&mut self, now: Instant) {
        let (s, u) = (self.source, self.user);
        self.sources.retain(|_, x| !x.idle(now, s));
        self.users.retain(|_, x| !x.idle(now, u));
        let routes = &self.routes;
        self.route_use
            .retain(|name, x| !x.idle(now, routes.get(name).copied().unwrap_or_default()));
    }

    /// Takes `new`'s caps, keeping the calls up and the buckets (a reload).
    pub fn set_caps(&mut self, new: CallAdmission) {
        self.source = new.source;
        self.user = new.user;
        self.routes = new.routes;
    }

    /// Calls refused so far, by cap in [`Refusal::ALL`] order (for metrics).
    pub fn refused(&self) -> [u64; 6] {
        self.refused
    }

    /// Calls holding a ticket (pending and started).
    pub fn tickets(&self) -> usize {
        self.pending.len() + self.active.len()
    }
}

/// Checks one key against `caps`, creating its entry (after a purge when the table is full;
/// a full table refuses newcomers as over the rate).
fn check<K: std::hash::Hash + Eq>(
    table: &mut Map<K, Usage>,
    key: K,
    now: Instant,
    caps: Caps,
) -> Result<(), bool> {
    if !table.contains_key(&key) && table.len() >= MAX_ENTRIES {
        table.retain(|_, u| !u.idle(now, caps));
        if table.len() >= MAX_ENTRIES {
            return Err(false);
        }
    }
    table
        .entry(key)
        .or_insert_with(|| Usage::fresh(now, caps))
        .check(now, caps)
}

fn take<K, Q>(table: &mut Map<K, Usage>, key: &Q, caps: Caps)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(u) = table.get_mut(key) {
        u.take(caps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, n]))
    }

    fn admission() -> CallAdmission {
        let mut routes = Map::default();
        routes.insert(
            "trunk".to_owned(),
            Caps {
                max_calls: 3,
                rate_per_s: 0,
            },
        );
        CallAdmission::new(
            Caps {
                max_calls: 4,
                rate_per_s: 2,
            },
            Caps {
                max_calls: 2,
                rate_per_s: 0,
            },
            routes,
        )
    }

    #[test]
    fn a_source_gets_its_concurrent_calls_and_its_rate_no_more() {
        let t0 = Instant::now();
        let mut a = admission();
        // Burst of twice the rate, then one call per half second.
        assert!(a.admit(t0, "c1", ip(1), None, None).is_ok());
        assert!(a.admit(t0, "c2", ip(1), None, None).is_ok());
        assert!(a.admit(t0, "c3", ip(1), None, None).is_ok());
        assert!(a.admit(t0, "c4", ip(1), None, None).is_ok());
        assert_eq!(
            a.admit(t0 + S, "c5", ip(1), None, None),
            Err(Refusal::SourceCalls),
            "four calls up"
        );
        // Another address is not affected, nor a trusted source.
        assert!(a.admit(t0, "d1", ip(2), None, None).is_ok());
        assert!(a.admit(t0, "t1", None, None, None).is_ok());
        // Calls end: room again, but the bucket is empty at t0.
        for (n, id) in ["c1", "c2"].into_iter().enumerate() {
            a.started(id, CallKey(n as u64));
            a.ended(CallKey(n as u64));
        }
        assert_eq!(
            a.admit(t0, "c6", ip(1), None, None),
            Err(Refusal::SourceRate)
        );
        assert!(a.admit(t0 + S / 2, "c6", ip(1), None, None).is_ok());
        assert_eq!(a.refused()[Refusal::SourceCalls as usize], 1);
        assert_eq!(a.refused()[Refusal::SourceRate as usize], 1);
    }

    #[test]
    fn users_and_routes_are_capped_and_tickets_come_back() {
        let t0 = Instant::now();
        let mut a = admission();
        assert!(a.admit(t0, "u1", ip(1), Some("alice"), None).is_ok());
        assert!(a.admit(t0, "u2", ip(2), Some("alice"), None).is_ok());
        assert_eq!(
            a.admit(t0, "u3", ip(3), Some("alice"), None),
            Err(Refusal::UserCalls)
        );
        // The refusal charged nothing: ip(3) still has its whole burst.
        for i in 0..3 {
            assert!(a
                .admit(t0, &format!("r{i}"), ip(3), None, Some("trunk"))
                .is_ok());
        }
        assert_eq!(
            a.admit(t0, "r3", ip(4), None, Some("trunk")),
            Err(Refusal::RouteCalls)
        );
        // Routes without caps and unknown routes are not counted.
        assert!(a.admit(t0, "x1", ip(5), None, Some("other")).is_ok());
        // An INVITE the core refused gives its ticket back at once.
        a.not_started("r0");
        assert!(a.admit(t0, "r4", ip(4), None, Some("trunk")).is_ok());
        // A retransmission of a pending INVITE is not charged twice.
        let before = a.tickets();
        assert!(a.admit(t0, "r4", ip(4), None, Some("trunk")).is_ok());
        assert_eq!(a.tickets(), before);
        a.started("u1", CallKey(9));
        a.ended(CallKey(9));
        assert!(a.admit(t0, "u4", ip(6), Some("alice"), None).is_ok());
        a.purge(t0 + 10 * S);
        assert!(!a.sources.is_empty(), "sources with calls up stay");
    }
}
