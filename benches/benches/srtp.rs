#![allow(missing_docs)] // criterion_group! generates undocumented items
//! The SRTP transform a leg with SDES keys costs per packet (RFC 3711 AES_CM_128_HMAC_SHA1_80, RFC
//! 7714 AEAD_AES_128_GCM):
//! protect and unprotect of a 20 ms G.711 packet (12-byte header, 160-byte payload), beside
//! copying the same packet, which is what plain forwarding does with its bytes.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use sbc_relay::forward::{
    payload_mask, Forwarder, LegSignal, LegSockets, Rekey, SocketRole, StreamId,
};
use sbc_relay::latch::LatchConfig;
use sbc_relay::srtp::{Context, MasterKey, Suite};
use std::net::SocketAddr;
use std::time::Instant;

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

fn srtp(c: &mut Criterion) {
    let key = MasterKey::from_bytes(&[7u8; 30]);
    let suite = Suite::AesCm128HmacSha1_80;
    let mut g = c.benchmark_group("srtp");
    let plain = rtp(1);
    let mut buf = vec![0u8; 2048];
    g.bench_function("copy_172", |b| {
        b.iter(|| {
            buf[..plain.len()].copy_from_slice(black_box(&plain));
            black_box(buf[100])
        })
    });
    let mut tx = Context::new(suite, &key);
    let mut seq = 0u16;
    g.bench_function("protect_172", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            buf[..plain.len()].copy_from_slice(&plain);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            black_box(tx.protect_rtp(&mut buf, plain.len()).unwrap())
        })
    });
    let mut sender = Context::new(suite, &key);
    let mut receiver = Context::new(suite, &key);
    let mut next = 0u16;
    g.bench_function("unprotect_182", |b| {
        b.iter_batched_ref(
            || {
                next = next.wrapping_add(1);
                let mut p = rtp(next);
                let n = p.len();
                p.resize(n + 10, 0);
                sender.protect_rtp(&mut p, n).unwrap();
                p
            },
            |p| black_box(receiver.unprotect_rtp(p).unwrap()),
            BatchSize::SmallInput,
        )
    });
    let gkey = MasterKey::new(&[7u8; 16], &[9u8; 12]).unwrap();
    let mut gtx = Context::new(Suite::AeadAes128Gcm, &gkey);
    let mut gseq = 0u16;
    g.bench_function("protect_gcm_172", |b| {
        b.iter(|| {
            gseq = gseq.wrapping_add(1);
            buf[..plain.len()].copy_from_slice(&plain);
            buf[2..4].copy_from_slice(&gseq.to_be_bytes());
            black_box(gtx.protect_rtp(&mut buf, plain.len()).unwrap())
        })
    });
    g.finish();
}

/// The whole per-packet decision (`Forwarder::on_packet`: classify, latch, statistics, and the
/// transform), plain A → plain B beside plain A → SRTP B (the relay encrypts for B) and SRTP B →
/// plain A (the relay checks and decrypts B's packet), in one run.
fn forward(c: &mut Criterion) {
    let id = StreamId { slot: 0, gen: 1 };
    let (a, b): (SocketAddr, SocketAddr) = (
        "192.0.2.1:4000".parse().unwrap(),
        "198.51.100.2:5000".parse().unwrap(),
    );
    let setup = |secure: bool| {
        let mut f = Forwarder::new(LatchConfig::default());
        let signal = |to| LegSignal {
            remote_rtp: Some(to),
            ..LegSignal::default()
        };
        let sockets = |fd| LegSockets {
            rtp: fd,
            rtcp: None,
        };
        f.add_stream(
            Instant::now(),
            id,
            1,
            [(sockets(10), signal(a)), (sockets(20), signal(b))],
        )
        .unwrap();
        if secure {
            let key = MasterKey::from_bytes(&[7u8; 30]);
            let ctx = || Rekey::Key(Box::new(Context::new(Suite::AesCm128HmacSha1_80, &key)));
            f.set_crypto(id, 1, ctx(), ctx()).unwrap();
        }
        f
    };
    let a_token = id.token(SocketRole::Rtp { leg: 0 });
    let b_token = id.token(SocketRole::Rtp { leg: 1 });
    let mut g = c.benchmark_group("forward");
    let now = Instant::now();
    let plain = rtp(1);
    let mut buf = vec![0u8; 2048];
    for (name, secure) in [("plain_to_plain_172", false), ("plain_to_srtp_172", true)] {
        let mut f = setup(secure);
        let mut seq = 0u16;
        g.bench_function(name, |bch| {
            bch.iter(|| {
                seq = seq.wrapping_add(1);
                buf[..plain.len()].copy_from_slice(&plain);
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(f.on_packet(now, a_token, a, &mut buf, plain.len()).unwrap())
            })
        });
    }
    let mut f = setup(true);
    let mut sender = Context::new(
        Suite::AesCm128HmacSha1_80,
        &MasterKey::from_bytes(&[7u8; 30]),
    );
    let mut next = 0u16;
    g.bench_function("srtp_to_plain_182", |bch| {
        bch.iter_batched_ref(
            || {
                next = next.wrapping_add(1);
                let mut p = rtp(next);
                let n = p.len();
                p.resize(2048, 0);
                let len = sender.protect_rtp(&mut p, n).unwrap();
                (p, len)
            },
            |(p, len)| black_box(f.on_packet(now, b_token, b, p, *len).unwrap()),
            BatchSize::SmallInput,
        )
    });
    // The same, with B a BUNDLE transport (RFC 8843) whose packets of payload type 96 belong
    // to a second stream: the demultiplexing on top of the decryption.
    let mut f = setup(true);
    let video = StreamId { slot: 1, gen: 1 };
    let v_sockets = |fd| LegSockets {
        rtp: fd,
        rtcp: None,
    };
    let v_signal = |to| LegSignal {
        remote_rtp: Some(to),
        ..LegSignal::default()
    };
    f.add_stream(
        Instant::now(),
        video,
        1,
        [(v_sockets(30), v_signal(a)), (v_sockets(40), v_signal(b))],
    )
    .unwrap();
    f.set_bundle(id, 1, &[(video, payload_mask(&[96]))])
        .unwrap();
    // A sender of its own: its rollover counter starts again with this forwarder's.
    let mut sender = Context::new(
        Suite::AesCm128HmacSha1_80,
        &MasterKey::from_bytes(&[7u8; 30]),
    );
    let mut next = 0u16;
    g.bench_function("bundled_srtp_to_plain_182", |bch| {
        bch.iter_batched_ref(
            || {
                next = next.wrapping_add(1);
                let mut p = rtp(next);
                p[1] = 96;
                let n = p.len();
                p.resize(2048, 0);
                let len = sender.protect_rtp(&mut p, n).unwrap();
                (p, len)
            },
            |(p, len)| {
                let (fwd, n) = f
                    .on_packet(now, b_token, b, p, *len)
                    .unwrap_or_else(|e| panic!("a bundled packet dropped: {e:?}"));
                assert_eq!(fwd.fd, 30, "the video stream's leg");
                black_box((fwd, n))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, srtp, forward);
criterion_main!(benches);
