#![allow(missing_docs)] // criterion_group! generates undocumented items
//! What the registrar (local mode) and the registration cache (forward mode) cost per event as
//! the number of registered customers grows: one REGISTER refresh followed by the
//! `poll_timeout` the endpoint asks after every input, and a timer tick with nothing due. The
//! same work with 100 and with 10,000 bindings: the ratio between the two is the point (one that
//! walks every binding per event is 100 times slower at 10,000).

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sbc_b2bua::edge::nat::Flow;
use sbc_b2bua::edge::registrar::cache::{CacheAction, CacheConfig, RegistrationCache};
use sbc_b2bua::edge::registrar::{Registrar, RegistrarConfig};
use sbc_common::sip::{Limits, Message};
use sbc_config::ForkMode;
use std::time::{Duration, Instant};

fn register(user: u32, cseq: u32) -> Message {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{user}x{cseq}\r\nFrom: <sip:u{user}@example.com>;tag=f{user}\r\nTo: <sip:u{user}@example.com>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:u{user}@192.0.2.10:5060>;expires=3600\r\nContent-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text), &Limits::default()).unwrap()
}

/// A refresh of one of the first 64 customers, with a CSeq that keeps rising.
fn next_refresh(req: &[Message], cseq: &mut u32) -> Message {
    *cseq += 1;
    let mut m = req[(*cseq % 64) as usize].clone();
    m.set_header(
        sbc_common::sip::HeaderName::CSeq,
        format!("{cseq} REGISTER"),
    );
    m
}

/// A registrar holding `n` bindings behind NAT (so each has keepalives), registered 1 ms apart.
fn loaded(n: u32, t0: Instant) -> Registrar {
    let mut r = Registrar::new(RegistrarConfig {
        min_expires: 30,
        max_expires: 7200,
        nat_expires: 3600,
        keepalive_interval: Duration::from_secs(30),
        keepalive_failures: 3,
        fork_mode: ForkMode::Parallel,
    });
    let flow = Flow::udp("198.51.100.7:40000".parse().unwrap());
    for u in 0..n {
        let at = t0 + Duration::from_millis(u64::from(u));
        assert_eq!(
            r.handle_register(at, &register(u, 1), flow, true).status(),
            Some(200)
        );
    }
    r
}

fn registrar(c: &mut Criterion) {
    let flow = Flow::udp("198.51.100.7:40000".parse().unwrap());
    let mut g = c.benchmark_group("registrar");
    for n in [100u32, 10_000] {
        let t0 = Instant::now();
        let mut r = loaded(n, t0);
        // All registered, nothing due yet (first keepalive 30 s after the first REGISTER).
        let now = t0 + Duration::from_secs(20);
        let mut cseq = 2;
        let req: Vec<Message> = (0..64).map(|i| register(i % n, 0)).collect();
        g.bench_with_input(BenchmarkId::new("refresh_and_poll", n), &n, |b, _| {
            b.iter(|| {
                let m = next_refresh(&req, &mut cseq);
                black_box(r.handle_register(now, &m, flow, true));
                black_box(r.poll_timeout())
            })
        });
        g.bench_with_input(BenchmarkId::new("idle_tick", n), &n, |b, _| {
            b.iter(|| {
                r.handle_timer(black_box(now));
                black_box(r.poll_timeout())
            })
        });
    }
    g.finish();
}

/// A forward-mode cache holding `n` bindings behind NAT, each accepted by the core.
fn cached(n: u32, t0: Instant) -> RegistrationCache {
    let mut c = RegistrationCache::new(
        CacheConfig {
            customer_expires: 60,
            core_expires: 3600,
            min_expires: 30,
            keepalive_interval: Duration::from_secs(30),
            keepalive_failures: 3,
        },
        "192.0.2.1:5080",
        7,
    );
    let flow = Flow::udp("198.51.100.7:40000".parse().unwrap());
    for u in 0..n {
        let at = t0 + Duration::from_millis(u64::from(u));
        let CacheAction::Forward(fwd) = c.handle_customer_register(at, &register(u, 1), flow, true)
        else {
            panic!("not forwarded")
        };
        let contact = fwd.header(&sbc_common::sip::HeaderName::Contact).unwrap();
        let ok = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bKs\r\nFrom: <sip:u{u}@example.com>;tag=f{u}\r\nTo: <sip:u{u}@example.com>;tag=core\r\nCall-ID: reg-{u}\r\nCSeq: 1 REGISTER\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n"
        );
        let ok = Message::parse(Bytes::from(ok), &Limits::default()).unwrap();
        assert!(c.handle_core_response(at, &ok).is_some());
    }
    c
}

fn cache(c: &mut Criterion) {
    let flow = Flow::udp("198.51.100.7:40000".parse().unwrap());
    let mut g = c.benchmark_group("registration_cache");
    for n in [100u32, 10_000] {
        let t0 = Instant::now();
        let mut r = cached(n, t0);
        let now = t0 + Duration::from_secs(20);
        let mut cseq = 2;
        let req: Vec<Message> = (0..64).map(|i| register(i % n, 0)).collect();
        g.bench_with_input(
            BenchmarkId::new("absorbed_refresh_and_poll", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let m = next_refresh(&req, &mut cseq);
                    let action = r.handle_customer_register(now, &m, flow, true);
                    assert!(matches!(action, CacheAction::Absorb(_)));
                    black_box(r.poll_timeout())
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("idle_tick", n), &n, |b, _| {
            b.iter(|| {
                r.handle_timer(black_box(now));
                black_box(r.poll_timeout())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, registrar, cache);
criterion_main!(benches);
