//! The relay over real loopback sockets, for both IO backends: media both ways, RTP bleed
//! defence, inactivity events, port release, IPv4<->IPv6 bridging, and recovery after overload.

use sbc_relay::api::{InterfaceConfig, LegSpec, Relay, RelayConfig, RelayEvent};
use sbc_relay::forward::LegSignal;
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::{LatchConfig, LatchPolicy};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A relay on three interfaces; `base` keeps each test's port ranges apart so tests can run in
/// parallel without competing for ports.
fn relay(kind: BackendKind, inactivity: Duration, base: u16) -> Relay {
    relay_with(kind, inactivity, base, UringConfig::default())
}

/// [`relay`] with the given io_uring tuning.
fn relay_with(kind: BackendKind, inactivity: Duration, base: u16, uring: UringConfig) -> Relay {
    Relay::start(RelayConfig {
        interfaces: vec![
            InterfaceConfig {
                name: "customer".into(),
                address: "127.0.0.1".parse().unwrap(),
                port_min: base,
                port_max: base + 299,
            },
            InterfaceConfig {
                name: "core".into(),
                address: "127.0.0.1".parse().unwrap(),
                port_min: base + 300,
                port_max: base + 599,
            },
            InterfaceConfig {
                name: "v6".into(),
                address: "::1".parse().unwrap(),
                port_min: base + 600,
                port_max: base + 899,
            },
        ],
        workers: 1,
        worker_cpus: Vec::new(),
        worker_rt_priority: None,
        recv_buffer: sbc_relay::api::DEFAULT_RECV_BUFFER,
        backend: kind,
        uring,
        latch: LatchConfig::default(),
        inactivity_timeout: inactivity,
        stats_interval: Duration::from_millis(100),
        seed: u64::from(base),
    })
    .expect("relay starts")
}

fn peer(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind(format!("{ip}:0")).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p
}

fn spec(iface: &str, remote: SocketAddr) -> LegSpec {
    LegSpec {
        interface: iface.into(),
        rtcp_mux: false,
        signal: LegSignal {
            remote_rtp: Some(remote),
            ..LegSignal::default()
        },
    }
}

/// Receives until `n` packets came or the socket times out; returns (count, last seq).
fn drain(s: &UdpSocket, n: usize) -> (usize, Option<u16>) {
    let mut buf = [0u8; 2048];
    let mut got = 0;
    let mut last = None;
    while got < n {
        match s.recv_from(&mut buf) {
            Ok((len, _)) if len >= 12 => {
                got += 1;
                last = Some(u16::from_be_bytes([buf[2], buf[3]]));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    (got, last)
}

fn both(test: impl Fn(BackendKind)) {
    for kind in [BackendKind::Mmsg, BackendKind::IoUring] {
        test(kind);
    }
}

#[test]
fn media_flows_both_ways_and_an_attacker_never_reaches_a_peer() {
    both(|kind| {
        let mut r = relay(kind, Duration::ZERO, 21_000);
        let (a, b) = (peer("127.0.0.1"), peer("127.0.0.1"));
        let s = r.create_session();
        let (_, local) = r
            .add_stream(
                s,
                [
                    spec("customer", a.local_addr().unwrap()),
                    spec("core", b.local_addr().unwrap()),
                ],
            )
            .unwrap();
        for i in 0..50u16 {
            a.send_to(&rtp(i, 0xa), local[0].rtp).unwrap();
            b.send_to(&rtp(i, 0xb), local[1].rtp).unwrap();
        }
        assert_eq!(drain(&b, 50), (50, Some(49)), "{kind:?} A->B");
        assert_eq!(drain(&a, 50), (50, Some(49)), "{kind:?} B->A");
        // An attacker sprays A's relay port after latching: nothing reaches B.
        let evil = peer("127.0.0.1");
        for i in 0..20u16 {
            evil.send_to(&rtp(1000 + i, 0xe), local[0].rtp).unwrap();
        }
        assert_eq!(drain(&b, 1).0, 0, "{kind:?}: attacker packet reached B");
        // The rejection is reported.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut rejected = false;
        while Instant::now() < deadline && !rejected {
            while let Some(e) = r.poll_event() {
                if let RelayEvent::SourceRejected { leg: 0, from, .. } = e {
                    assert_eq!(from, evil.local_addr().unwrap());
                    rejected = true;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(rejected, "{kind:?}: no SourceRejected event");
        // Real media still flows.
        a.send_to(&rtp(50, 0xa), local[0].rtp).unwrap();
        assert_eq!(drain(&b, 1), (1, Some(50)));
        // Metrics are published at the end of each worker turn: wait for them.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut m = r.metrics();
        while Instant::now() < deadline && m.forwarded_packets < 101 {
            std::thread::sleep(Duration::from_millis(10));
            m = r.metrics();
        }
        assert!(m.forwarded_packets >= 101, "{m:?}");
        assert!(m.drops[3] >= 20, "source_rejected drops {m:?}");
        r.shutdown();
    });
}

#[test]
fn inactivity_timeout_is_reported_and_delete_frees_the_ports() {
    both(|kind| {
        let mut r = relay(kind, Duration::from_millis(300), 22_000);
        let (a, b) = (peer("127.0.0.1"), peer("127.0.0.1"));
        let before = r.metrics().ports;
        let s = r.create_session();
        let (_, local) = r
            .add_stream(
                s,
                [
                    spec("customer", a.local_addr().unwrap()),
                    spec("core", b.local_addr().unwrap()),
                ],
            )
            .unwrap();
        a.send_to(&rtp(1, 0xa), local[0].rtp).unwrap();
        assert_eq!(drain(&b, 1).0, 1);
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut idle = None;
        while Instant::now() < deadline && idle.is_none() {
            while let Some(e) = r.poll_event() {
                if let RelayEvent::Inactive { session, idle: d } = e {
                    assert_eq!(session, s);
                    idle = Some(d);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let idle = idle.unwrap_or_else(|| panic!("{kind:?}: no inactivity event"));
        assert!(idle >= Duration::from_millis(300));
        // Ports are in use until the session is deleted and the worker has closed the sockets.
        let during = r.metrics().ports;
        assert_eq!(during[0].1, before[0].1 + 1);
        r.delete_session(s).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut closed = false;
        while Instant::now() < deadline && (r.metrics().ports != before || !closed) {
            while let Some(e) = r.poll_event() {
                closed |= e == RelayEvent::Closed { session: s };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(r.metrics().ports, before, "{kind:?}: ports not released");
        assert!(closed, "{kind:?}: no Closed event after delete");
        // The final statistics count the packet A sent and B received, once.
        let fin = r.take_final_stats(s).expect("final stats");
        assert_eq!(fin.len(), 1);
        assert_eq!(fin[0][0].packets_in, 1, "{kind:?}: {fin:?}");
        assert_eq!(fin[0][1].packets_out, 1, "{kind:?}: {fin:?}");
        assert!(r.take_final_stats(s).is_none());
        // The sockets are closed: the RTP port can be bound again.
        UdpSocket::bind(local[0].rtp).expect("port free again");
        r.shutdown();
    });
}

#[test]
fn ipv4_and_ipv6_legs_are_bridged() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    both(|kind| {
        let mut r = relay(kind, Duration::ZERO, 23_000);
        let (a, b) = (peer("127.0.0.1"), peer("[::1]"));
        let s = r.create_session();
        let (_, local) = r
            .add_stream(
                s,
                [
                    spec("customer", a.local_addr().unwrap()),
                    spec("v6", b.local_addr().unwrap()),
                ],
            )
            .unwrap();
        assert!(local[1].rtp.is_ipv6());
        for i in 0..10u16 {
            a.send_to(&rtp(i, 0xa), local[0].rtp).unwrap();
            b.send_to(&rtp(i, 0xb), local[1].rtp).unwrap();
        }
        assert_eq!(drain(&b, 10).0, 10, "{kind:?} v4->v6");
        assert_eq!(drain(&a, 10).0, 10, "{kind:?} v6->v4");
        r.shutdown();
    });
}

#[test]
fn every_stream_forwards_again_after_an_overload() {
    both(|kind| {
        let mut r = relay(kind, Duration::ZERO, 24_000);
        let n = 20;
        let mut calls = Vec::new();
        for _ in 0..n {
            let (a, b) = (peer("127.0.0.1"), peer("127.0.0.1"));
            let s = r.create_session();
            let (_, local) = r
                .add_stream(
                    s,
                    [
                        spec("customer", a.local_addr().unwrap()),
                        spec("core", b.local_addr().unwrap()),
                    ],
                )
                .unwrap();
            calls.push((a, b, local));
        }
        // Flood: every A sends far more than the relay can take per turn, for about 2 s.
        let end = Instant::now() + Duration::from_secs(2);
        let mut seq = 0u16;
        let pkt_limit = 400_000;
        let mut sent = 0;
        while Instant::now() < end && sent < pkt_limit {
            for (a, _, local) in &calls {
                let _ = a.send_to(&rtp(seq, 0xa), local[0].rtp);
                sent += 1;
            }
            seq = seq.wrapping_add(1);
        }
        // Let queues drain (the relay's forwarded count stops moving; bounded, as a loaded
        // machine may take a while), then empty the sinks: a backlog still arriving would
        // otherwise fill a sink's buffer and push its marker out below.
        let quiet_by = Instant::now() + Duration::from_secs(15);
        let mut last = u64::MAX;
        while Instant::now() < quiet_by {
            std::thread::sleep(Duration::from_millis(200));
            let now = r.metrics().forwarded_packets + r.metrics().drops.iter().sum::<u64>();
            if now == last {
                break;
            }
            last = now;
        }
        for (_, b, _) in &calls {
            b.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 2048];
            while b.recv_from(&mut buf).is_ok() {}
            b.set_nonblocking(false).unwrap();
        }
        // Normal traffic: every stream forwards again.
        for (i, (a, b, local)) in calls.iter().enumerate() {
            let marker = 60_000 + i as u16;
            a.send_to(&rtp(marker, 0xa), local[0].rtp).unwrap();
            let mut buf = [0u8; 2048];
            let mut ok = false;
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok((len, _)) = b.recv_from(&mut buf) {
                    if len >= 4 && u16::from_be_bytes([buf[2], buf[3]]) == marker {
                        ok = true;
                        break;
                    }
                }
            }
            assert!(ok, "{kind:?}: stream {i} did not recover after the flood");
        }
        r.shutdown();
    });
}

#[test]
fn every_stream_gets_through_during_an_overload_that_exhausts_the_buffers() {
    both(|kind| {
        // 16 receive buffers for 80 sockets: bursts of 32 per socket run the io_uring buffer ring
        // dry on every turn, so sockets keep losing their multishot receive to ENOBUFS and must
        // be re-armed in turn; the mmsg backend reads at most 64 per socket per turn.
        let uring = UringConfig {
            buffers: 16,
            ..UringConfig::default()
        };
        let mut r = relay_with(kind, Duration::ZERO, 25_000, uring);
        let n = 20;
        let mut calls = Vec::new();
        for _ in 0..n {
            let (a, b) = (peer("127.0.0.1"), peer("127.0.0.1"));
            b.set_nonblocking(true).unwrap();
            let s = r.create_session();
            let (_, local) = r
                .add_stream(
                    s,
                    [
                        spec("customer", a.local_addr().unwrap()),
                        spec("core", b.local_addr().unwrap()),
                    ],
                )
                .unwrap();
            calls.push((a, b, local));
        }
        let mut got = vec![0u64; n];
        let mut buf = [0u8; 2048];
        let mut collect = |calls: &[(UdpSocket, UdpSocket, [sbc_relay::api::LocalLeg; 2])],
                           got: &mut [u64]| {
            for (i, (_, b, _)) in calls.iter().enumerate() {
                while b.recv_from(&mut buf).is_ok() {
                    got[i] += 1;
                }
            }
        };
        // About 1 s of bursts, bounded in packets too.
        let end = Instant::now() + Duration::from_secs(1);
        let mut seq = 0u16;
        let mut sent = 0u64;
        while Instant::now() < end && sent < 600_000 {
            for (a, _, local) in &calls {
                for k in 0..32u16 {
                    let _ = a.send_to(&rtp(seq.wrapping_add(k), 0xa), local[0].rtp);
                }
                sent += 32;
            }
            seq = seq.wrapping_add(32);
            collect(&calls, &mut got);
        }
        std::thread::sleep(Duration::from_millis(300));
        collect(&calls, &mut got);
        let max = got.iter().copied().max().unwrap_or(0);
        let min = got.iter().copied().min().unwrap_or(0);
        assert!(max > 0, "{kind:?}: nothing forwarded during the overload");
        // Fair shares: no stream may get less than a tenth of the luckiest one's.
        assert!(
            min * 10 >= max,
            "{kind:?}: unfair during overload: per-stream forwarded {got:?}"
        );
        r.shutdown();
    });
}

/// Remote addresses of the connected UDP sockets bound to local port `port` on 127.0.0.1, from
/// /proc/net/udp (the kernel's own table: what a connected twin really is).
fn connected_to(port: u16) -> Vec<SocketAddr> {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let parse = |hex: &str| {
        let (ip, p) = hex.split_once(':').unwrap();
        let ip = u32::from_str_radix(ip, 16).unwrap();
        // The address is printed as the native-endian u32 of the network-order bytes.
        let ip = std::net::Ipv4Addr::from(ip.to_ne_bytes());
        SocketAddr::new(ip.into(), u16::from_str_radix(p, 16).unwrap())
    };
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, remote) = (parse(f[1]), parse(f[2]));
            (local.port() == port && remote.port() != 0).then_some(remote)
        })
        .collect()
}

/// Sends `n` packets from `from` to `to`, one per millisecond (so the worker takes several turns).
fn paced(from: &UdpSocket, to: SocketAddr, seqs: std::ops::Range<u16>, ssrc: u32) {
    for i in seqs {
        from.send_to(&rtp(i, ssrc), to).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_steady_peer_gets_a_connected_twin_and_latching_decides_as_before() {
    both(|kind| {
        let mut r = relay(kind, Duration::ZERO, 26_000);
        let (a, b) = (peer("127.0.0.1"), peer("127.0.0.1"));
        let s = r.create_session();
        let handover = |iface: &str, remote: SocketAddr| {
            let mut l = spec(iface, remote);
            l.signal.policy = LatchPolicy::Handover;
            l
        };
        let (_, local) = r
            .add_stream(
                s,
                [
                    handover("customer", a.local_addr().unwrap()),
                    handover("core", b.local_addr().unwrap()),
                ],
            )
            .unwrap();
        let (pa, pb) = (local[0].rtp.port(), local[1].rtp.port());
        assert!(connected_to(pa).is_empty() && connected_to(pb).is_empty());
        for i in 0..40u16 {
            a.send_to(&rtp(i, 0xa), local[0].rtp).unwrap();
            b.send_to(&rtp(i, 0xb), local[1].rtp).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(drain(&b, 40), (40, Some(39)), "{kind:?} A->B");
        assert_eq!(drain(&a, 40), (40, Some(39)), "{kind:?} B->A");
        // Each leg sent to one peer 40 times: its RTP port has a twin connected to that peer.
        assert_eq!(connected_to(pa), vec![a.local_addr().unwrap()], "{kind:?}");
        assert_eq!(connected_to(pb), vec![b.local_addr().unwrap()], "{kind:?}");
        // Media keeps flowing through the twins, from the relay's own port.
        paced(&a, local[0].rtp, 40..45, 0xa);
        paced(&b, local[1].rtp, 40..45, 0xb);
        let mut buf = [0u8; 2048];
        let (_, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!(
            from, local[1].rtp,
            "{kind:?}: B hears the relay's leg-B port"
        );
        assert_eq!(drain(&b, 4), (4, Some(44)));
        assert_eq!(drain(&a, 5), (5, Some(44)));
        // An attacker (new SSRC) still lands on the unconnected socket and is dropped.
        let evil = peer("127.0.0.1");
        paced(&evil, local[0].rtp, 0..20, 0xe);
        assert_eq!(drain(&b, 1).0, 0, "{kind:?}: attacker packet reached B");
        // A's NAT rebinds: the same SSRC continues from a new source. The relay re-latches,
        // B's media goes to the new source and leg A's twin follows it there.
        let a2 = peer("127.0.0.1");
        paced(&a2, local[0].rtp, 45..50, 0xa);
        assert_eq!(
            drain(&b, 5),
            (5, Some(49)),
            "{kind:?}: media after the rebinding"
        );
        paced(&b, local[1].rtp, 45..85, 0xb);
        assert_eq!(
            drain(&a2, 40),
            (40, Some(84)),
            "{kind:?}: B->A goes to the new source"
        );
        assert_eq!(drain(&a, 1).0, 0, "{kind:?}: nothing to the old binding");
        assert_eq!(connected_to(pa), vec![a2.local_addr().unwrap()], "{kind:?}");
        paced(&a2, local[0].rtp, 50..55, 0xa);
        assert_eq!(
            drain(&b, 5),
            (5, Some(54)),
            "{kind:?}: A->B through the moved twin"
        );
        // The drops were counted as rejected sources (the attacker's 20).
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && r.metrics().drops[3] < 20 {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(r.metrics().drops[3] >= 20, "{kind:?}: {:?}", r.metrics());
        // Deleting the session closes the twins with their legs: the ports bind again.
        r.delete_session(s).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut closed = false;
        while Instant::now() < deadline && !closed {
            while let Some(e) = r.poll_event() {
                closed |= e == RelayEvent::Closed { session: s };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(closed, "{kind:?}: no Closed event");
        assert!(connected_to(pa).is_empty() && connected_to(pb).is_empty());
        UdpSocket::bind(local[0].rtp).expect("leg A's port free again");
        UdpSocket::bind(local[1].rtp).expect("leg B's port free again");
        r.shutdown();
    });
}

/// Whether the notifier is woken within `wait` (consuming the wake-up and re-arming it).
fn woken(n: &sbc_relay::notify::Notifier, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if n.clear() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn events_wake_the_control_plane_through_the_notifier_and_statistics_alone_do_not() {
    both(|kind| {
        let base = if kind == BackendKind::IoUring {
            33_000
        } else {
            34_000
        };
        let mut r = relay(kind, Duration::from_millis(400), base);
        let n = r.notifier();
        let (a, b) = (peer("127.0.0.1"), peer("127.0.0.1"));
        let s = r.create_session();
        let (_, local) = r
            .add_stream(
                s,
                [
                    spec("customer", a.local_addr().unwrap()),
                    spec("core", b.local_addr().unwrap()),
                ],
            )
            .unwrap();
        n.clear();
        // The first packet latches leg A: an event the B2BUA hears of at once.
        a.send_to(&rtp(1, 0xa), local[0].rtp).unwrap();
        assert!(
            woken(&n, Duration::from_secs(2)),
            "{kind:?}: latching woke nobody"
        );
        let mut latched = false;
        while let Some(e) = r.poll_event() {
            latched |= matches!(e, RelayEvent::Latched { session, .. } if session == s);
        }
        assert!(latched, "{kind:?}");
        // Steady media: statistics every 100 ms, and nothing to wake the B2BUA for.
        for seq in 2..15 {
            a.send_to(&rtp(seq, 0xa), local[0].rtp).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !woken(&n, Duration::ZERO),
            "{kind:?}: statistics woke the B2BUA"
        );
        // They were queued all the same, and are read with the next drain.
        while r.poll_event().is_some() {}
        assert!(r.session_stats(s).is_some_and(|st| st[0][0].packets_in > 1));
        // Silence: the inactivity event wakes it.
        assert!(
            woken(&n, Duration::from_secs(3)),
            "{kind:?}: no wake-up for inactivity"
        );
        let mut inactive = false;
        while let Some(e) = r.poll_event() {
            inactive |= matches!(e, RelayEvent::Inactive { session, .. } if session == s);
        }
        assert!(inactive, "{kind:?}");
        // Deleting the session: Closed wakes it once the worker closed the sockets.
        r.delete_session(s).unwrap();
        assert!(
            woken(&n, Duration::from_secs(2)),
            "{kind:?}: no wake-up for Closed"
        );
        let mut closed = false;
        let deadline = Instant::now() + Duration::from_secs(2);
        while !closed && Instant::now() < deadline {
            while let Some(e) = r.poll_event() {
                closed |= e == RelayEvent::Closed { session: s };
            }
            if !closed {
                woken(&n, Duration::from_millis(100));
            }
        }
        assert!(closed, "{kind:?}");
        r.shutdown();
    });
}

#[test]
fn srtp_on_one_leg_is_terminated_by_the_workers_on_both_backends() {
    use sbc_relay::api::KeyChange;
    use sbc_relay::srtp::{Context, MasterKey, Suite};
    let suite = Suite::AesCm128HmacSha1_80;
    both(|kind| {
        let mut r = relay(kind, Duration::ZERO, 27_000);
        let (a, b) = (peer("127.0.0.1"), peer("127.0.0.1"));
        let s = r.create_session();
        let (stream, local) = r
            .add_stream(
                s,
                [
                    spec("customer", a.local_addr().unwrap()),
                    spec("core", b.local_addr().unwrap()),
                ],
            )
            .unwrap();
        // Leg A is SRTP: A's phone sends with `phone`, the relay sends to it with `relay`.
        let (phone, relay_key) = (MasterKey::random().unwrap(), MasterKey::random().unwrap());
        assert_ne!(phone, relay_key);
        r.set_crypto(
            s,
            stream,
            0,
            KeyChange::Key(suite, phone.clone()),
            KeyChange::Key(suite, relay_key.clone()),
        )
        .unwrap();
        let mut tx = Context::new(suite, &phone);
        let mut rx = Context::new(suite, &relay_key);
        let mut buf = [0u8; 2048];
        for i in 0..20u16 {
            let plain = rtp(i, 0xa);
            buf[..plain.len()].copy_from_slice(&plain);
            let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
            a.send_to(&buf[..n], local[0].rtp).unwrap();
            let (n, _) = b.recv_from(&mut buf).expect("B hears A");
            assert_eq!(buf[..n], plain[..], "{kind:?}: B gets plain RTP");
            let reply = rtp(i, 0xb);
            b.send_to(&reply, local[1].rtp).unwrap();
            let (n, _) = a.recv_from(&mut buf).expect("A hears B");
            assert_eq!(n, reply.len() + 10, "{kind:?}: tag appended");
            let n = rx.unprotect_rtp(&mut buf[..n]).unwrap();
            assert_eq!(buf[..n], reply[..], "{kind:?}: A decrypts B's RTP");
        }
        // A forged packet goes nowhere and is counted.
        let mut forged = buf;
        let plain = rtp(99, 0xa);
        forged[..plain.len()].copy_from_slice(&plain);
        let n = Context::new(suite, &relay_key)
            .protect_rtp(&mut forged, plain.len())
            .unwrap();
        a.send_to(&forged[..n], local[0].rtp).unwrap();
        assert_eq!(drain(&b, 1).0, 0, "{kind:?}: forged packet reached B");
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && r.metrics().drops[6] < 1 {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(r.metrics().drops[6], 1, "srtp_auth drops");
        r.shutdown();
    });
}
