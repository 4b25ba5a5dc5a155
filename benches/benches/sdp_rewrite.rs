#![allow(missing_docs)] // criterion_group! generates undocumented items
//! The SDP rewrite the B2BUA does on every offer and answer: parse, point every stream at the relay
//! (connection address, port, a=rtcp), bump o= version, write into a reused buffer.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sbc_common::sdp::Sdp;
use std::net::IpAddr;

const OFFER: &[u8] = include_bytes!("../data/offer.sdp");

fn sdp(c: &mut Criterion) {
    let relay: IpAddr = "203.0.113.10".parse().unwrap();
    let mut out = Vec::with_capacity(1024);
    let mut g = c.benchmark_group("sdp");
    g.bench_function("parse", |b| {
        b.iter(|| black_box(Sdp::from_bytes(Bytes::from_static(black_box(OFFER))).unwrap()))
    });
    g.bench_function("parse_rewrite_write", |b| {
        b.iter(|| {
            let mut s = Sdp::from_bytes(Bytes::from_static(black_box(OFFER))).unwrap();
            s.set_connection_address(relay);
            s.set_origin_address(relay);
            s.bump_origin_version().unwrap();
            for (i, m) in s.media_iter_mut().enumerate() {
                let port = 40_000 + 2 * i as u16;
                m.set_port(port);
                m.set_rtcp(port + 1, relay);
            }
            out.clear();
            s.write_to(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, sdp);
criterion_main!(benches);
