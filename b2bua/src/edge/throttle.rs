//! Abuse throttles on virtual time: a per-source request rate limit (token bucket) and
//! failed-authentication back-off per (source, user), per user and, for unknown users, per
//! source, ending in a block window answered 403 (RFC 3261 §21.4.4, §21.5.4; `[limits]` in the
//! configuration).
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
    /// Failures for one user from one source within `window` that block that pair; 0 turns the
    /// whole throttle off.
    pub max_failures: u32,
    /// Failures for one user from all sources that block the user everywhere; 0: no limit.
    pub user_max_failures: u32,
    /// Failures naming unknown users from one source that block the source for unknown users;
    /// 0: no limit.
    pub source_max_failures: u32,
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
            user_max_failures: limits.auth_fail_user_max,
            source_max_failures: limits.auth_fail_source_max,
            window: Duration::from_secs(u64::from(limits.auth_fail_window_s)),
            block: Duration::from_secs(u64::from(limits.auth_block_s)),
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// What a block or back-off is keyed by, for the log and `sbc_auth_blocks_total{key}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleKey {
    /// One username from one source address: a phone retrying a wrong password.
    SourceUser,
    /// One username from every source: guessing spread over many addresses.
    User,
    /// Unknown usernames from one source address: enumeration.
    Source,
}

impl ThrottleKey {
    /// Every key, in the order of [`AuthThrottle::blocks`].
    pub const ALL: [Self; 3] = [Self::SourceUser, Self::User, Self::Source];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceUser => "source_user",
            Self::User => "user",
            Self::Source => "source",
        }
    }
}

/// A block that a failure just started, for one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockStarted {
    /// What is blocked.
    pub key: ThrottleKey,
    /// Until when.
    pub until: Instant,
}

/// Failed-authentication throttle. A failure counts against three keys: the pair (source,
/// user), the user across all sources, and, for unknown users only, the source. Each failure
/// within the window doubles that key's back-off (1 s, 2 s, 4 s, ...), and reaching the key's
/// limit starts a block. Keying by user rather than by address means one customer retrying a
/// wrong password never locks out the others behind the same NAT (an office, a carrier-grade
/// NAT); the per-source key only refuses further unknown usernames from an enumerating source.
#[derive(Debug)]
pub struct AuthThrottle {
    cfg: AuthThrottleConfig,
    source_users: Map<(IpAddr, String), Failures>,
    users: Map<String, Failures>,
    sources: Map<IpAddr, Failures>,
    failures: u64,
    blocks: [u64; 3],
    refused_backoff: u64,
    refused_blocked: u64,
}

/// Longest username kept as a throttle key; longer ones are cut (they still collide only with
/// names sharing the same first bytes).
const MAX_USER_KEY: usize = 128;

/// A user a request names: its realm, its username and whether the realm has it.
#[derive(Clone, Copy, Debug)]
pub struct Claimed<'a> {
    /// The realm (domain).
    pub realm: &'a str,
    /// The digest username.
    pub name: &'a str,
    /// Whether the realm has such a user.
    pub known: bool,
}

impl AuthThrottle {
    /// A throttle with these settings.
    pub fn new(cfg: AuthThrottleConfig) -> Self {
        Self {
            cfg,
            source_users: Map::default(),
            users: Map::default(),
            sources: Map::default(),
            failures: 0,
            blocks: [0; 3],
            refused_backoff: 0,
            refused_blocked: 0,
        }
    }

    /// Whether a request from `source` naming `user` (if any) may try to authenticate: the
    /// stricter of its (source, user) and user states, plus the source's state when the user is
    /// unknown. A request naming nobody (no credentials yet) is always let through to its
    /// challenge. Refusals are counted.
    pub fn check(
        &mut self,
        now: Instant,
        source: IpAddr,
        user: Option<Claimed<'_>>,
    ) -> AuthVerdict {
        if self.cfg.max_failures == 0 {
            return AuthVerdict::Allow;
        }
        let mut verdict = AuthVerdict::Allow;
        if let Some(u) = user {
            let key = user_key(u.realm, u.name);
            if let Some(f) = self.users.get(&key) {
                verdict = stricter(verdict, f.verdict(now));
            }
            if let Some(f) = self.source_users.get(&(source, key)) {
                verdict = stricter(verdict, f.verdict(now));
            }
        }
        if user.is_some_and(|u| !u.known) {
            if let Some(f) = self.sources.get(&source) {
                verdict = stricter(verdict, f.verdict(now));
            }
        }
        match verdict {
            AuthVerdict::Allow => {}
            AuthVerdict::BackOff { .. } => self.refused_backoff += 1,
            AuthVerdict::Blocked { .. } => self.refused_blocked += 1,
        }
        verdict
    }

    /// Records a failed password guess (wrong password or unknown user) from `source` for
    /// `user`; returns the blocks it started.
    pub fn record_failure(
        &mut self,
        now: Instant,
        source: IpAddr,
        user: Option<Claimed<'_>>,
    ) -> Vec<BlockStarted> {
        let mut started = Vec::new();
        if self.cfg.max_failures == 0 {
            return started;
        }
        self.failures += 1;
        let cfg = self.cfg;
        if let Some(u) = user {
            let key = user_key(u.realm, u.name);
            if let Some(until) = count(
                &mut self.source_users,
                (source, key.clone()),
                now,
                &cfg,
                cfg.max_failures,
            ) {
                started.push(BlockStarted {
                    key: ThrottleKey::SourceUser,
                    until,
                });
            }
            if let Some(until) = count(&mut self.users, key, now, &cfg, cfg.user_max_failures) {
                started.push(BlockStarted {
                    key: ThrottleKey::User,
                    until,
                });
            }
        }
        if !user.is_some_and(|u| u.known) {
            if let Some(until) = count(
                &mut self.sources,
                source,
                now,
                &cfg,
                cfg.source_max_failures,
            ) {
                started.push(BlockStarted {
                    key: ThrottleKey::Source,
                    until,
                });
            }
        }
        for b in &started {
            self.blocks[b.key as usize] += 1;
        }
        started
    }

    /// Records a successful authentication of `user` from `source`: that user's failures are
    /// forgiven (the source's unknown-user count is not, so one good account cannot launder a
    /// source's enumeration).
    pub fn record_success(&mut self, source: IpAddr, realm: &str, name: &str) {
        let key = user_key(realm, name);
        self.source_users.remove(&(source, key.clone()));
        self.users.remove(&key);
    }

    /// Drops entries with no back-off or block running and an elapsed window.
    pub fn purge(&mut self, now: Instant) {
        let window = self.cfg.window;
        self.source_users.retain(|_, f| !f.idle(now, window));
        self.sources.retain(|_, f| !f.idle(now, window));
        self.users.retain(|_, f| !f.idle(now, window));
    }

    /// Failed authentications recorded (for metrics).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Blocks started, by key in [`ThrottleKey::ALL`] order (for metrics).
    pub fn blocks(&self) -> [u64; 3] {
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

    /// Entries tracked: (source-user pairs, users, sources).
    pub fn tracked(&self) -> (usize, usize, usize) {
        (
            self.source_users.len(),
            self.users.len(),
            self.sources.len(),
        )
    }
}

/// The stricter of two verdicts: a block over a back-off, the later end among equals.
fn stricter(a: AuthVerdict, b: AuthVerdict) -> AuthVerdict {
    use AuthVerdict::{Allow, BackOff, Blocked};
    match (a, b) {
        (Blocked { until: x }, Blocked { until: y }) => Blocked { until: x.max(y) },
        (v @ Blocked { .. }, _) | (_, v @ Blocked { .. }) => v,
        (BackOff { until: x }, BackOff { until: y }) => BackOff { until: x.max(y) },
        (v @ BackOff { .. }, Allow) | (Allow, v @ BackOff { .. }) => v,
        (Allow, Allow) => Allow,
    }
}

/// Counts one failure against `key` in `table` when `limit` is set, purging a full table first
/// and refusing a new slot when it stays full; returns the end of a block it started.
fn count<K: std::hash::Hash + Eq>(
    table: &mut Map<K, Failures>,
    key: K,
    now: Instant,
    cfg: &AuthThrottleConfig,
    limit: u32,
) -> Option<Instant> {
    if limit == 0 {
        return None;
    }
    if !table.contains_key(&key) && table.len() >= MAX_ENTRIES {
        let window = cfg.window;
        table.retain(|_, f| !f.idle(now, window));
        if table.len() >= MAX_ENTRIES {
            return None;
        }
    }
    let f = table.entry(key).or_insert_with(|| fresh(now));
    bump(cfg, limit, f, now).then(|| now + cfg.block)
}

fn fresh(now: Instant) -> Failures {
    Failures {
        count: 0,
        window_start: now,
        backoff_until: None,
        blocked_until: None,
    }
}

/// Counts one failure against a key whose limit is `limit`; returns whether it started a block.
fn bump(cfg: &AuthThrottleConfig, limit: u32, f: &mut Failures, now: Instant) -> bool {
    if f.blocked_until.is_some_and(|u| now < u) {
        return false;
    }
    if f.blocked_until.is_some() || now.saturating_duration_since(f.window_start) >= cfg.window {
        *f = fresh(now);
    }
    f.count += 1;
    if f.count >= limit {
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

/// A budget of log lines per second, so an attack cannot flood the log: `admit` says whether
/// a line may be written now and how many were held back since the last one.
#[derive(Debug)]
pub struct LogBudget {
    per_s: u32,
    second: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl LogBudget {
    /// At most `per_s` lines per second.
    pub fn new(per_s: u32) -> Self {
        Self {
            per_s,
            second: None,
            used: 0,
            suppressed: 0,
        }
    }

    /// `Some(lines held back since the last admitted one)` when a line may be written at `now`.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        if self
            .second
            .is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1))
        {
            self.second = Some(now);
            self.used = 0;
        }
        if self.used >= self.per_s {
            self.suppressed += 1;
            return None;
        }
        self.used += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests;
