#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Parse + serialize of typical SIP messages, ours against the `rsip` crate in the same run, so the
//! ratio can be read off one report (criterion groups `sip/<message>` with `sbc` and `rsip` lines).

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sbc_common::sip::{HeaderName, Limits, Message};

const INVITE: &[u8] = include_bytes!("../data/invite.sip");
const OK200: &[u8] = include_bytes!("../data/ok200.sip");
const REGISTER: &[u8] = include_bytes!("../data/register.sip");

fn sip(c: &mut Criterion) {
    let limits = Limits::default();
    for (name, data) in [
        ("invite_sdp", INVITE),
        ("ok200", OK200),
        ("register", REGISTER),
    ] {
        let mut g = c.benchmark_group(format!("sip/{name}"));
        g.throughput(Throughput::Bytes(data.len() as u64));
        let mut out = Vec::with_capacity(2048);
        g.bench_function("sbc_parse_serialize", |b| {
            b.iter(|| {
                let m = Message::parse(Bytes::from_static(black_box(data)), &limits).unwrap();
                out.clear();
                m.write_to(&mut out);
                black_box(out.len())
            })
        });
        g.bench_function("rsip_parse_serialize", |b| {
            b.iter(|| {
                let m = rsip::SipMessage::try_from(black_box(data)).unwrap();
                black_box(m.to_string().len())
            })
        });
        // What the SBC does with each received message: parse plus the typed checks, then write.
        g.bench_function("sbc_parse_checked_serialize", |b| {
            b.iter(|| {
                let m =
                    Message::parse_checked(Bytes::from_static(black_box(data)), &limits).unwrap();
                out.clear();
                m.write_to(&mut out);
                black_box(out.len())
            })
        });
        // What a B2BUA does per message beyond parsing: read the typed headers it routes on.
        g.bench_function("sbc_parse_typed_views", |b| {
            b.iter(|| {
                let m = Message::parse(Bytes::from_static(black_box(data)), &limits).unwrap();
                let via = m.via().unwrap();
                let n = via.branch().map_or(0, str::len)
                    + m.from().unwrap().tag().map_or(0, str::len)
                    + m.cseq().unwrap().seq as usize
                    + m.contacts().count()
                    + m.call_id().map_or(0, str::len)
                    + m.header(&HeaderName::ContentType).map_or(0, str::len);
                black_box(n)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, sip);
criterion_main!(benches);
