//! The rate limiter, the authentication throttle's keys and blocks, and the log budget, on
//! virtual time.

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
        user_max_failures: 8,
        source_max_failures: 20,
        window: 60 * S,
        block: 300 * S,
        first_backoff: S,
    })
}

fn known(name: &str) -> Option<Claimed<'_>> {
    Some(Claimed {
        realm: "example.com",
        name,
        known: true,
    })
}

fn unknown(name: &str) -> Option<Claimed<'_>> {
    Some(Claimed {
        realm: "example.com",
        name,
        known: false,
    })
}

#[test]
fn backoff_doubles_then_blocks_the_source_and_user_pair_only() {
    let t0 = Instant::now();
    let mut th = throttle();
    let alice = known("alice");
    assert_eq!(th.check(t0, src(1), alice), AuthVerdict::Allow);
    let mut t = t0;
    for (n, expect) in [(1u32, 1u32), (2, 2), (3, 4), (4, 8)] {
        assert!(th.record_failure(t, src(1), alice).is_empty());
        assert_eq!(
            th.check(t, src(1), alice),
            AuthVerdict::BackOff {
                until: t + expect * S
            },
            "after failure {n}"
        );
        // Still backing off just before the end, allowed at the end.
        assert!(matches!(
            th.check(t + expect * S - Duration::from_millis(1), src(1), alice),
            AuthVerdict::BackOff { .. }
        ));
        t += expect * S;
        assert_eq!(th.check(t, src(1), alice), AuthVerdict::Allow);
    }
    let started = th.record_failure(t, src(1), alice);
    let until = t + 300 * S;
    assert_eq!(
        started,
        [BlockStarted {
            key: ThrottleKey::SourceUser,
            until
        }]
    );
    assert_eq!(th.check(t, src(1), alice), AuthVerdict::Blocked { until });
    // Everyone else behind the same address goes on: bob, and a request naming nobody.
    assert_eq!(th.check(t, src(1), known("bob")), AuthVerdict::Allow);
    assert_eq!(th.check(t, src(1), None), AuthVerdict::Allow);
    // Alice from elsewhere is backing off (5 failures of her 8 across sources), not blocked.
    assert!(matches!(
        th.check(t, src(9), alice),
        AuthVerdict::BackOff { .. }
    ));
    // Failures during a block do not extend it.
    th.record_failure(t + 10 * S, src(1), alice);
    assert_eq!(
        th.check(until - S, src(1), alice),
        AuthVerdict::Blocked { until }
    );
    assert_eq!(th.check(until, src(1), alice), AuthVerdict::Allow);
    assert_eq!(th.blocks(), [1, 0, 0]);
    assert!(th.refused_blocked() >= 2);
    assert!(th.refused_backoff() >= 8);
}

#[test]
fn guessing_one_user_from_many_sources_blocks_the_user() {
    let t0 = Instant::now();
    let mut th = throttle();
    let alice = known("alice");
    let mut started = Vec::new();
    for i in 0..8u8 {
        started.extend(th.record_failure(t0, src(10 + i), alice));
    }
    let until = t0 + 300 * S;
    assert_eq!(
        started,
        [BlockStarted {
            key: ThrottleKey::User,
            until
        }]
    );
    assert_eq!(th.check(t0, src(99), alice), AuthVerdict::Blocked { until });
    assert_eq!(th.check(t0, src(10), known("bob")), AuthVerdict::Allow);
}

#[test]
fn unknown_users_from_one_source_block_only_unknown_users_from_it() {
    let t0 = Instant::now();
    let mut th = throttle();
    let mut started = Vec::new();
    for i in 0..20 {
        started.extend(th.record_failure(t0, src(1), unknown(&format!("u{i}"))));
    }
    let until = t0 + 300 * S;
    assert_eq!(
        started,
        [BlockStarted {
            key: ThrottleKey::Source,
            until
        }]
    );
    assert_eq!(
        th.check(t0, src(1), unknown("u99")),
        AuthVerdict::Blocked { until }
    );
    // Requests without credentials get their challenge, and the known customers behind that
    // address are not locked out.
    assert_eq!(th.check(t0, src(1), None), AuthVerdict::Allow);
    assert_eq!(th.check(t0, src(1), known("alice")), AuthVerdict::Allow);
    assert_eq!(th.check(t0, src(2), unknown("u99")), AuthVerdict::Allow);
}

#[test]
fn failures_outside_the_window_are_forgotten() {
    let t0 = Instant::now();
    let mut th = throttle();
    let alice = known("alice");
    for i in 0..4 {
        th.record_failure(t0 + i * 20 * S, src(1), alice);
    }
    // 4 failures but spread over 60 s: the window restarted at the 4th.
    assert!(matches!(
        th.check(t0 + 60 * S, src(1), alice),
        AuthVerdict::BackOff { .. }
    ));
    assert!(th.record_failure(t0 + 61 * S, src(1), alice).is_empty());
    th.purge(t0 + 200 * S);
    assert_eq!(th.tracked(), (0, 0, 0));
}

#[test]
fn success_forgives_the_user_not_the_sources_unknown_names() {
    let t0 = Instant::now();
    let mut th = throttle();
    th.record_failure(t0, src(1), known("alice"));
    th.record_failure(t0, src(1), unknown("mallory"));
    th.record_success(src(1), "EXAMPLE.com", "alice");
    assert_eq!(th.check(t0, src(1), known("alice")), AuthVerdict::Allow);
    assert!(matches!(
        th.check(t0, src(1), unknown("eve")),
        AuthVerdict::BackOff { .. }
    ));
}

#[test]
fn long_usernames_are_cut_in_keys() {
    let t0 = Instant::now();
    let mut th = throttle();
    let long = "x".repeat(10_000);
    th.record_failure(t0, src(3), unknown(&long));
    assert!(th
        .users
        .keys()
        .all(|k| k.len() <= "example.com".len() + 1 + MAX_USER_KEY));
}

#[test]
fn throttle_off_with_zero_max() {
    let t0 = Instant::now();
    let mut th = AuthThrottle::new(AuthThrottleConfig {
        max_failures: 0,
        ..throttle().cfg
    });
    for _ in 0..100 {
        th.record_failure(t0, src(1), known("alice"));
    }
    assert_eq!(th.check(t0, src(1), known("alice")), AuthVerdict::Allow);
    assert_eq!(th.failures(), 0);
}

#[test]
fn the_log_budget_admits_a_few_lines_a_second_and_counts_the_rest() {
    let t0 = Instant::now();
    let mut b = LogBudget::new(2);
    assert_eq!(b.admit(t0), Some(0));
    assert_eq!(b.admit(t0), Some(0));
    assert_eq!(b.admit(t0), None);
    assert_eq!(b.admit(t0 + Duration::from_millis(999)), None);
    assert_eq!(b.admit(t0 + S), Some(2), "two held back");
    assert_eq!(b.admit(t0 + S), Some(0));
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
