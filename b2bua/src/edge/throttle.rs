//! Abuse throttles on virtual time: a per-source request rate limit (token bucket) and
//! failed-authentication back-off per source address and per user, ending in a block window
//! answered 403 (RFC 3261 §21.4.4, §21.5.4; `[limits]` in the configuration).
//!
//! Both tables are keyed by attacker-controlled values (source addresses, usernames), so they use
//! the crate's seeded `Map` (foldhash) and are bounded: idle entries are dropped by `purge`, and
//! once a table is full, new keys are refused a slot rather than growing it.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sbc_common::sip::{HeaderName, Message};

use crate::Map;

/// Most entries one throttle table holds; past this, `purge` runs and then new keys are not
/// tracked (sources are still rate-limited once they have a bucket).
pub const MAX_ENTRIES: usize = 65_536;

/// The rate limiter's verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the source's rate: process the request.
    Allow,
    /// Over the rate: drop it (UDP) or answer 503 with Retry-After (RFC 3261 §21.5.4).
    Exceeded,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens in thousandths, so that fractional refills need no floating point.
    milli_tokens: u64,
    last: Instant,
}

/// A token bucket per source IP: `rate_per_s` requests per second sustained, bursts up to
/// `burst` (`[limits] source_rate_per_s`, `source_burst`).
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_s: u32,
    burst: u32,
    buckets: Map<IpAddr, Bucket>,
    allowed: u64,
    exceeded: u64,
}

impl RateLimiter {
    /// A limiter with this sustained rate and burst; a rate of 0 turns it off.
    pub fn new(rate_per_s: u32, burst: u32) -> Self {
        Self {
            rate_per_s,
            burst: burst.max(rate_per_s).max(1),
            buckets: Map::default(),
            allowed: 0,
            exceeded: 0,
        }
    }

    /// A limiter configured from `[limits]`.
    pub fn from_config(limits: &sbc_config::Limits) -> Self {
        Self::new(limits.source_rate_per_s, limits.source_burst)
    }

    /// Takes one token for a request from `source` at `now`.
    pub fn check(&mut self, now: Instant, source: IpAddr) -> RateVerdict {
        if self.rate_per_s == 0 {
            self.allowed += 1;
            return RateVerdict::Allow;
        }
        let full = u64::from(self.burst) * 1000;
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_ENTRIES {
            self.purge(now);
        }
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_ENTRIES {
            // Table full of active sources: treat the newcomer as one more of them.
            self.exceeded += 1;
            return RateVerdict::Exceeded;
        }
        let rate = u64::from(self.rate_per_s);
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            milli_tokens: full,
            last: now,
        });
        let elapsed_ms = now.saturating_duration_since(bucket.last).as_millis();
        let refill = u64::try_from(elapsed_ms)
            .unwrap_or(u64::MAX)
            .saturating_mul(rate);
        bucket.milli_tokens = bucket.milli_tokens.saturating_add(refill).min(full);
        bucket.last = bucket.last.max(now);
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            self.allowed += 1;
            RateVerdict::Allow
        } else {
            self.exceeded += 1;
            RateVerdict::Exceeded
        }
    }

    /// Drops the buckets that have refilled completely (they behave as if absent).
    pub fn purge(&mut self, now: Instant) {
        let full = u64::from(self.burst) * 1000;
        let rate = u64::from(self.rate_per_s).max(1);
        self.buckets.retain(|_, b| {
            let elapsed = u64::try_from(now.saturating_duration_since(b.last).as_millis())
                .unwrap_or(u64::MAX);
            b.milli_tokens.saturating_add(elapsed.saturating_mul(rate)) < full
        });
    }

    /// Requests let through so far (for metrics).
    pub fn allowed(&self) -> u64 {
        self.allowed
    }

    /// Requests over the rate so far (for metrics).
    pub fn exceeded(&self) -> u64 {
        self.exceeded
    }

    /// Sources currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The authentication throttle's verdict on a request that carries or needs credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthVerdict {
    /// Go on and authenticate.
    Allow,
    /// Recent failures: refuse until `until` with 503 and Retry-After (RFC 3261 §21.5.4);
    /// the wait doubles with each failure.
    BackOff {
        /// When the next attempt is accepted.
        until: Instant,
    },
    /// Too many failures in the window: refuse with 403 until `until` (RFC 3261 §21.4.4).
    Blocked {
        /// When the block ends.
        until: Instant,
    },
}

impl AuthVerdict {
    /// The answer to send for a refused request: 503 with Retry-After during back-off, 403 while
    /// blocked; `None` when the request is allowed.
    pub fn response(&self, now: Instant, req: &Message) -> Option<Message> {
        let (mut rsp, until) = match *self {
            Self::Allow => return None,
            Self::BackOff { until } => (
                Message::response_to(req, 503, "Service Unavailable"),
                Some(until),
            ),
            Self::Blocked { .. } => (Message::response_to(req, 403, "Forbidden"), None),
        };
        if let Some(until) = until {
            let secs = until.saturating_duration_since(now).as_secs_f64().ceil();
            // Whole seconds, at least 1 (RFC 3261 §20.33 delta-seconds).
            let secs = if secs < 1.0 { 1 } else { secs as u64 };
            rsp.push_header(HeaderName::RetryAfter, secs.to_string());
        }
        crate::stack::stateless::add_to_tag(&mut rsp);
        Some(rsp)
    }
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    window_start: Instant,
    backoff_until: Option<Instant>,
    blocked_until: Option<Instant>,
}

impl Failures {
    fn verdict(&self, now: Instant) -> AuthVerdict {
        if let Some(until) = self.blocked_until.filter(|&u| now < u) {
            return AuthVerdict::Blocked { until };
        }
        if let Some(until) = self.backoff_until.filter(|&u| now < u) {
            return AuthVerdict::BackOff { until };
        }
        AuthVerdict::Allow
    }

    fn idle(&self, now: Instant, window: Duration) -> bool {
        let blocked = self.blocked_until.is_some_and(|u| now < u);
        let backing_off = self.backoff_until.is_some_and(|u| now < u);
        !blocked && !backing_off && now.saturating_duration_since(self.window_start) >= window
    }
}

/// Settings of the authentication throttle (`[limits] auth_fail_*`, `auth_block_s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthThrottleConfig {
    /// Failures within `window` that start a block; 0 turns the throttle off.
    pub max_failures: u32,
    /// The window failures are counted in, from the first failure.
    pub window: Duration,
    /// How long a block lasts.
    pub block: Duration,
    /// The back-off after the first failure; it doubles with each further failure.
    pub first_backoff: Duration,
}

impl AuthThrottleConfig {
    /// The settings from `[limits]`, with a first back-off of one second.
    pub fn from_config(limits: &sbc_config::Limits) -> Self {
        Self {
            max_failures: limits.auth_fail_max,
            window: Duration::from_secs(u64::from(limits.auth_fail_window_s)),
            block: Duration::from_secs(u64::from(limits.auth_block_s)),
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// Failed-authentication throttle per source address and per user (`realm` + username): each
/// failure within the window doubles a back-off (1 s, 2 s, 4 s, ...), and the `max_failures`-th
/// starts a block. Unknown users are tracked exactly like known ones, so the throttle does not
/// reveal which usernames exist.
#[derive(Debug)]
pub struct AuthThrottle {
    cfg: AuthThrottleConfig,
    sources: Map<IpAddr, Failures>,
    users: Map<String, Failures>,
    failures: u64,
    blocks: u64,
    refused_backoff: u64,
    refused_blocked: u64,
}

/// Longest username kept as a throttle key; longer ones are cut (they still collide only with
/// names sharing the same first bytes).
const MAX_USER_KEY: usize = 128;

impl AuthThrottle {
    /// A throttle with these settings.
    pub fn new(cfg: AuthThrottleConfig) -> Self {
        Self {
            cfg,
            sources: Map::default(),
            users: Map::default(),
            failures: 0,
            blocks: 0,
            refused_backoff: 0,
            refused_blocked: 0,
        }
    }

    /// Whether a request from `source` for `user` (if it names one) may try to authenticate;
    /// the stricter of the source's and the user's state wins. Refusals are counted.
    pub fn check(
        &mut self,
        now: Instant,
        source: IpAddr,
        user: Option<(&str, &str)>,
    ) -> AuthVerdict {
        if self.cfg.max_failures == 0 {
            return AuthVerdict::Allow;
        }
        let by_source = self
            .sources
            .get(&source)
            .map_or(AuthVerdict::Allow, |f| f.verdict(now));
        let by_user = user
            .and_then(|(realm, name)| self.users.get(&user_key(realm, name)))
            .map_or(AuthVerdict::Allow, |f| f.verdict(now));
        let verdict = match (by_source, by_user) {
            (b @ AuthVerdict::Blocked { .. }, _) | (_, b @ AuthVerdict::Blocked { .. }) => b,
            (AuthVerdict::BackOff { until: a }, AuthVerdict::BackOff { until: b }) => {
                AuthVerdict::BackOff { until: a.max(b) }
            }
            (b @ AuthVerdict::BackOff { .. }, AuthVerdict::Allow)
            | (AuthVerdict::Allow, b @ AuthVerdict::BackOff { .. }) => b,
            (AuthVerdict::Allow, AuthVerdict::Allow) => AuthVerdict::Allow,
        };
        match verdict {
            AuthVerdict::Allow => {}
            AuthVerdict::BackOff { .. } => self.refused_backoff += 1,
            AuthVerdict::Blocked { .. } => self.refused_blocked += 1,
        }
        verdict
    }

    /// Records a failed authentication (wrong password or unknown user, alike) from `source`
    /// for `user` (`realm`, username).
    pub fn record_failure(&mut self, now: Instant, source: IpAddr, user: Option<(&str, &str)>) {
        if self.cfg.max_failures == 0 {
            return;
        }
        self.failures += 1;
        if !self.sources.contains_key(&source) && self.sources.len() >= MAX_ENTRIES {
            self.purge(now);
        }
        if self.sources.contains_key(&source) || self.sources.len() < MAX_ENTRIES {
            let f = self.sources.entry(source).or_insert_with(|| fresh(now));
            if bump(&self.cfg, f, now) {
                self.blocks += 1;
            }
        }
        if let Some((realm, name)) = user {
            let key = user_key(realm, name);
            if !self.users.contains_key(&key) && self.users.len() >= MAX_ENTRIES {
                self.purge(now);
            }
            if self.users.contains_key(&key) || self.users.len() < MAX_ENTRIES {
                let f = self.users.entry(key).or_insert_with(|| fresh(now));
                if bump(&self.cfg, f, now) {
                    self.blocks += 1;
                }
            }
        }
    }

    /// Records a successful authentication: the user's failures are forgiven (the source's are
    /// not, so one good account cannot launder a source's guessing).
    pub fn record_success(&mut self, user: (&str, &str)) {
        self.users.remove(&user_key(user.0, user.1));
    }

    /// Drops entries with no back-off or block running and an elapsed window.
    pub fn purge(&mut self, now: Instant) {
        let window = self.cfg.window;
        self.sources.retain(|_, f| !f.idle(now, window));
        self.users.retain(|_, f| !f.idle(now, window));
    }

    /// Failed authentications recorded (for metrics).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Blocks started, per source and per user (for metrics).
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Requests refused during a back-off (for metrics).
    pub fn refused_backoff(&self) -> u64 {
        self.refused_backoff
    }

    /// Requests refused during a block (for metrics).
    pub fn refused_blocked(&self) -> u64 {
        self.refused_blocked
    }

    /// Entries tracked: (sources, users).
    pub fn tracked(&self) -> (usize, usize) {
        (self.sources.len(), self.users.len())
    }
}

fn fresh(now: Instant) -> Failures {
    Failures {
        count: 0,
        window_start: now,
        backoff_until: None,
        blocked_until: None,
    }
}

/// Counts one failure; returns whether it started a block.
fn bump(cfg: &AuthThrottleConfig, f: &mut Failures, now: Instant) -> bool {
    if f.blocked_until.is_some_and(|u| now < u) {
        return false;
    }
    if f.blocked_until.is_some() || now.saturating_duration_since(f.window_start) >= cfg.window {
        *f = fresh(now);
    }
    f.count += 1;
    if f.count >= cfg.max_failures {
        f.blocked_until = Some(now + cfg.block);
        f.backoff_until = None;
        true
    } else {
        let shift = (f.count - 1).min(20);
        let backoff = cfg.first_backoff.saturating_mul(1 << shift).min(cfg.block);
        f.backoff_until = Some(now + backoff);
        false
    }
}

fn user_key(realm: &str, name: &str) -> String {
    let mut end = name.len().min(MAX_USER_KEY);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut key = realm.to_ascii_lowercase();
    key.push('\0');
    key.push_str(name.get(..end).unwrap_or(""));
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sbc_common::sip::Limits;

    const S: Duration = Duration::from_secs(1);

    fn src(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn rate_limit_allows_burst_then_refills_at_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, 20);
        let allowed = (0..30)
            .filter(|_| rl.check(t0, src(1)) == RateVerdict::Allow)
            .count();
        assert_eq!(allowed, 20, "burst");
        assert_eq!(rl.exceeded(), 10);
        // 100 ms later exactly one token came back.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rl.check(t1, src(1)), RateVerdict::Allow);
        assert_eq!(rl.check(t1, src(1)), RateVerdict::Exceeded);
        // Another source is independent.
        assert_eq!(rl.check(t1, src(2)), RateVerdict::Allow);
        // One second sustains ten requests, no more.
        let t2 = t1 + S;
        let allowed = (0..15)
            .filter(|_| rl.check(t2, src(1)) == RateVerdict::Allow)
            .count();
        assert_eq!(allowed, 10);
        // Refilled buckets are purged; a drained one stays.
        rl.purge(t2 + Duration::from_millis(500));
        assert_eq!(rl.tracked(), 1);
        rl.purge(t2 + 10 * S);
        assert_eq!(rl.tracked(), 0);
        assert_eq!(rl.allowed(), 20 + 1 + 1 + 10);
    }

    #[test]
    fn rate_limit_zero_is_off() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(0, 0);
        assert!((0..1000).all(|_| rl.check(t0, src(1)) == RateVerdict::Allow));
        assert_eq!(rl.tracked(), 0);
    }

    fn throttle() -> AuthThrottle {
        AuthThrottle::new(AuthThrottleConfig {
            max_failures: 5,
            window: 60 * S,
            block: 300 * S,
            first_backoff: S,
        })
    }

    #[test]
    fn backoff_doubles_then_blocks_then_expires() {
        let t0 = Instant::now();
        let mut th = throttle();
        let user = Some(("example.com", "alice"));
        assert_eq!(th.check(t0, src(1), user), AuthVerdict::Allow);
        let mut t = t0;
        for (n, expect) in [(1u32, 1u32), (2, 2), (3, 4), (4, 8)] {
            th.record_failure(t, src(1), user);
            assert_eq!(
                th.check(t, src(1), user),
                AuthVerdict::BackOff {
                    until: t + expect * S
                },
                "after failure {n}"
            );
            // Still backing off just before the end, allowed at the end.
            assert!(matches!(
                th.check(t + expect * S - Duration::from_millis(1), src(1), user),
                AuthVerdict::BackOff { .. }
            ));
            t += expect * S;
            assert_eq!(th.check(t, src(1), user), AuthVerdict::Allow);
        }
        th.record_failure(t, src(1), user);
        let until = t + 300 * S;
        assert_eq!(th.check(t, src(1), user), AuthVerdict::Blocked { until });
        // The block covers the source for any user, and the user from any source.
        assert_eq!(th.check(t, src(1), None), AuthVerdict::Blocked { until });
        assert_eq!(th.check(t, src(9), user), AuthVerdict::Blocked { until });
        assert_eq!(
            th.check(t, src(9), Some(("example.com", "bob"))),
            AuthVerdict::Allow
        );
        // Failures during a block do not extend it.
        th.record_failure(t + 10 * S, src(1), user);
        assert_eq!(
            th.check(until - S, src(1), user),
            AuthVerdict::Blocked { until }
        );
        assert_eq!(th.check(until, src(1), user), AuthVerdict::Allow);
        assert_eq!(th.blocks(), 2, "one per source, one per user");
        // After the block, counting starts afresh: one failure is a 1 s back-off again.
        th.record_failure(until, src(1), user);
        assert_eq!(
            th.check(until, src(1), user),
            AuthVerdict::BackOff { until: until + S }
        );
        assert!(th.refused_blocked() >= 4);
        assert!(th.refused_backoff() >= 8);
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let t0 = Instant::now();
        let mut th = throttle();
        for i in 0..4 {
            th.record_failure(t0 + i * 20 * S, src(1), None);
        }
        // 4 failures but spread over 60 s: the window restarted at the 4th.
        assert!(matches!(
            th.check(t0 + 60 * S, src(1), None),
            AuthVerdict::BackOff { .. }
        ));
        th.record_failure(t0 + 61 * S, src(1), None);
        assert!(matches!(
            th.check(t0 + 61 * S, src(1), None),
            AuthVerdict::BackOff { .. }
        ));
        th.purge(t0 + 200 * S);
        assert_eq!(th.tracked(), (0, 0));
    }

    #[test]
    fn success_forgives_the_user_not_the_source() {
        let t0 = Instant::now();
        let mut th = throttle();
        let user = Some(("example.com", "alice"));
        th.record_failure(t0, src(1), user);
        th.record_success(("EXAMPLE.com", "alice"));
        assert_eq!(th.check(t0, src(2), user), AuthVerdict::Allow);
        assert!(matches!(
            th.check(t0, src(1), None),
            AuthVerdict::BackOff { .. }
        ));
    }

    #[test]
    fn unknown_and_known_users_are_throttled_alike() {
        let t0 = Instant::now();
        let mut a = throttle();
        let mut b = throttle();
        for i in 0..5 {
            a.record_failure(t0 + i * S, src(1), Some(("example.com", "alice")));
            b.record_failure(t0 + i * S, src(1), Some(("example.com", "no-such-user")));
        }
        assert_eq!(
            a.check(t0 + 5 * S, src(1), Some(("example.com", "alice"))),
            b.check(t0 + 5 * S, src(1), Some(("example.com", "no-such-user")))
        );
        // Absurdly long usernames are cut, not stored whole.
        let long = "x".repeat(10_000);
        a.record_failure(t0, src(3), Some(("example.com", &long)));
        assert!(a
            .users
            .keys()
            .all(|k| k.len() <= "example.com".len() + 1 + MAX_USER_KEY));
    }

    #[test]
    fn throttle_off_with_zero_max() {
        let t0 = Instant::now();
        let mut th = AuthThrottle::new(AuthThrottleConfig {
            max_failures: 0,
            window: 60 * S,
            block: 300 * S,
            first_backoff: S,
        });
        for _ in 0..100 {
            th.record_failure(t0, src(1), None);
        }
        assert_eq!(th.check(t0, src(1), None), AuthVerdict::Allow);
        assert_eq!(th.failures(), 0);
    }

    #[test]
    fn verdict_responses() {
        let req = Message::parse(
            Bytes::from_static(b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"),
            &Limits::default(),
        )
        .unwrap();
        let t0 = Instant::now();
        assert!(AuthVerdict::Allow.response(t0, &req).is_none());
        let r = AuthVerdict::BackOff {
            until: t0 + Duration::from_millis(2500),
        }
        .response(t0, &req)
        .unwrap();
        assert_eq!(r.status(), Some(503));
        assert_eq!(r.header(&HeaderName::RetryAfter), Some("3"));
        let r = AuthVerdict::Blocked { until: t0 + S }
            .response(t0, &req)
            .unwrap();
        assert_eq!(r.status(), Some(403));
        assert!(r.to().unwrap().tag().is_some());
    }
}
