use super::*;
use std::time::Duration;

const A_RTP: RawFd = 10;
const A_RTCP: RawFd = 11;
const B_RTP: RawFd = 20;
const B_RTCP: RawFd = 21;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn rtp(seq: u16, ssrc: u32, ts: u32) -> Vec<u8> {
    let mut p = vec![0u8; 12 + 160];
    p[0] = 0x80;
    p[1] = 0;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p
}

/// An RTCP SR (no blocks) with the given NTP timestamp.
fn sr(ssrc: u32, ntp: u64) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&[0; 12]);
    p
}

/// An RTCP RR with one report block.
fn rr(ssrc: u32, fraction: u8, lost: u32, jitter: u32, lsr: u32, dlsr: u32) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&0x1111_u32.to_be_bytes());
    p.push(fraction);
    p.extend_from_slice(&lost.to_be_bytes()[1..]);
    p.extend_from_slice(&100u32.to_be_bytes());
    p.extend_from_slice(&jitter.to_be_bytes());
    p.extend_from_slice(&lsr.to_be_bytes());
    p.extend_from_slice(&dlsr.to_be_bytes());
    p
}

fn signal(remote: &str) -> LegSignal {
    LegSignal {
        remote_rtp: Some(addr(remote)),
        ..LegSignal::default()
    }
}

/// `on_packet` over a copy of `data` in a buffer with room for a tag, as the IO backends
/// give it; returns the verdict without the length.
trait Plain {
    fn plain(
        &mut self,
        now: Instant,
        token: u64,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<Forward, DropReason>;
}

impl Plain for Forwarder {
    fn plain(
        &mut self,
        now: Instant,
        token: u64,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<Forward, DropReason> {
        let mut buf = [0u8; 1600];
        buf[..data.len()].copy_from_slice(data);
        self.on_packet(now, token, from, &mut buf, data.len())
            .map(|(f, _)| f)
    }
}

const ID: StreamId = StreamId { slot: 3, gen: 7 };

fn setup(a: LegSignal, b: LegSignal, a_mux: bool) -> (Forwarder, Instant) {
    let t0 = Instant::now();
    let mut f = Forwarder::new(LatchConfig::default());
    let a_sock = LegSockets {
        rtp: A_RTP,
        rtcp: (!a_mux).then_some(A_RTCP),
    };
    let b_sock = LegSockets {
        rtp: B_RTP,
        rtcp: Some(B_RTCP),
    };
    f.add_stream(t0, ID, 99, [(a_sock, a), (b_sock, b)])
        .unwrap();
    (f, t0)
}

fn a_rtp() -> u64 {
    ID.token(SocketRole::Rtp { leg: 0 })
}
fn b_rtp() -> u64 {
    ID.token(SocketRole::Rtp { leg: 1 })
}

#[test]
fn tokens_round_trip() {
    for role in [
        SocketRole::Rtp { leg: 0 },
        SocketRole::Rtcp { leg: 0 },
        SocketRole::Rtp { leg: 1 },
        SocketRole::Rtcp { leg: 1 },
    ] {
        let id = StreamId {
            slot: 123_456,
            gen: 0xab_cdef,
        };
        assert_eq!(StreamId::from_token(id.token(role)), (id, role));
        assert!(id.token(role) < 1 << 56);
    }
}

#[test]
fn media_flows_both_ways_to_the_sdp_addresses() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    let v = f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &rtp(1, 0xa, 0));
    assert_eq!(v, Ok(Forward::to(B_RTP, addr("198.51.100.2:5000"))));
    let v = f.plain(t0, b_rtp(), addr("198.51.100.2:5000"), &rtp(1, 0xb, 0));
    assert_eq!(v, Ok(Forward::to(A_RTP, addr("192.0.2.1:4000"))));
    let [a, b] = f.stream_stats(ID).unwrap();
    assert_eq!(
        (a.packets_in, a.packets_out, b.packets_in, b.packets_out),
        (1, 1, 1, 1)
    );
    assert_eq!(f.totals().forwarded_packets, 2);
    // Two latch events: each leg latched onto its exact SDP address.
    assert!(matches!(
        f.poll_event(),
        Some(ForwardEvent::Latched { leg: 0, .. })
    ));
    assert!(matches!(
        f.poll_event(),
        Some(ForwardEvent::Latched { leg: 1, .. })
    ));
}

#[test]
fn nat_rewritten_source_is_latched_and_answered_there() {
    // A's SDP carries its private address; its packets come from the NAT's public mapping.
    let (mut f, t0) = setup(signal("10.0.0.5:4000"), signal("198.51.100.2:5000"), false);
    // Before A sends anything, B's media goes to A's SDP address.
    let v = f.plain(t0, b_rtp(), addr("198.51.100.2:5000"), &rtp(1, 0xb, 0));
    assert_eq!(v.unwrap().to, addr("10.0.0.5:4000"));
    let nat = addr("203.0.113.7:61000");
    assert!(f.plain(t0, a_rtp(), nat, &rtp(1, 0xa, 0)).is_ok());
    let v = f.plain(t0, b_rtp(), addr("198.51.100.2:5000"), &rtp(2, 0xb, 160));
    assert_eq!(v.unwrap().to, nat);
    let [a, _] = f.stream_stats(ID).unwrap();
    assert_eq!(a.peer, Some(nat));
}

#[test]
fn attacker_after_latch_never_reaches_a_peer() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &rtp(1, 0xa, 0))
        .unwrap();
    while f.poll_event().is_some() {}
    let evil = addr("192.0.2.66:4000");
    for i in 0..8u16 {
        let t = t0 + Duration::from_millis(20 * u64::from(i));
        assert_eq!(
            f.plain(t, a_rtp(), evil, &rtp(100 + i, 0xe, 0)),
            Err(DropReason::SourceRejected)
        );
    }
    let counts: Vec<u64> = std::iter::from_fn(|| f.poll_event())
        .map(|e| match e {
            ForwardEvent::SourceRejected { count, from, .. } => {
                assert_eq!(from, evil);
                count
            }
            other @ ForwardEvent::Latched { .. } => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(counts, [1, 2, 4, 8]);
    let [a, _] = f.stream_stats(ID).unwrap();
    assert_eq!(a.drops[DropReason::SourceRejected as usize], 8);
}

#[test]
fn rtcp_goes_between_the_rtcp_ports() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    let token = ID.token(SocketRole::Rtcp { leg: 0 });
    let v = f.plain(t0, token, addr("192.0.2.1:4001"), &sr(0xa, 1 << 40));
    assert_eq!(v, Ok(Forward::to(B_RTCP, addr("198.51.100.2:5001"))));
    // RTP arriving on an RTCP port is junk.
    assert_eq!(
        f.plain(t0, token, addr("192.0.2.1:4001"), &rtp(1, 0xa, 0)),
        Err(DropReason::Junk)
    );
}

#[test]
fn rtcp_mux_leg_is_bridged_to_a_non_muxed_leg() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), true);
    // RTCP on A's single (muxed) port goes out of B's RTCP socket to B's RTCP address.
    let v = f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &sr(0xa, 1 << 40));
    assert_eq!(v, Ok(Forward::to(B_RTCP, addr("198.51.100.2:5001"))));
    // RTP on the same port still goes RTP to RTP.
    let v = f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &rtp(1, 0xa, 0));
    assert_eq!(v, Ok(Forward::to(B_RTP, addr("198.51.100.2:5000"))));
    // B's RTCP comes back out of A's muxed port to A's RTP address.
    let token = ID.token(SocketRole::Rtcp { leg: 1 });
    let v = f.plain(t0, token, addr("198.51.100.2:5001"), &sr(0xb, 1 << 40));
    assert_eq!(v, Ok(Forward::to(A_RTP, addr("192.0.2.1:4000"))));
}

#[test]
fn direction_decides_what_is_forwarded_but_rtcp_always_flows() {
    let hold = LegSignal {
        direction: Direction::SendOnly,
        ..signal("192.0.2.1:4000")
    };
    let held = LegSignal {
        direction: Direction::RecvOnly,
        ..signal("198.51.100.2:5000")
    };
    let (mut f, t0) = setup(hold, held, false);
    // A (sendonly, playing music on hold) reaches B (recvonly).
    assert!(f
        .plain(t0, a_rtp(), addr("192.0.2.1:4000"), &rtp(1, 0xa, 0))
        .is_ok());
    // B's media towards A is blocked.
    assert_eq!(
        f.plain(t0, b_rtp(), addr("198.51.100.2:5000"), &rtp(1, 0xb, 0)),
        Err(DropReason::Direction)
    );
    let token = ID.token(SocketRole::Rtcp { leg: 1 });
    assert!(f
        .plain(t0, token, addr("198.51.100.2:5001"), &sr(0xb, 1))
        .is_ok());
    // Resume: both sendrecv again.
    f.update_stream(
        t0,
        ID,
        [
            Some(signal("192.0.2.1:4000")),
            Some(signal("198.51.100.2:5000")),
        ],
    )
    .unwrap();
    assert!(f
        .plain(t0, b_rtp(), addr("198.51.100.2:5000"), &rtp(2, 0xb, 160))
        .is_ok());
    // Inactive blocks both ways.
    let inactive = LegSignal {
        direction: Direction::Inactive,
        ..signal("192.0.2.1:4000")
    };
    f.update_stream(t0, ID, [Some(inactive), None]).unwrap();
    assert_eq!(
        f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &rtp(3, 0xa, 320)),
        Err(DropReason::Direction)
    );
    assert_eq!(
        f.plain(t0, b_rtp(), addr("198.51.100.2:5000"), &rtp(3, 0xb, 320)),
        Err(DropReason::Direction)
    );
}

#[test]
fn resignalling_moves_the_destination() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    f.plain(t0, b_rtp(), addr("198.51.100.2:5000"), &rtp(1, 0xb, 0))
        .unwrap();
    // B re-INVITEs from a new address (e.g. call transferred to another phone).
    f.update_stream(t0, ID, [None, Some(signal("198.51.100.9:7000"))])
        .unwrap();
    let v = f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &rtp(1, 0xa, 0));
    assert_eq!(v.unwrap().to, addr("198.51.100.9:7000"));
}

#[test]
fn generation_guard_drops_packets_for_a_reused_slot() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    let old = a_rtp();
    f.remove_stream(ID).unwrap();
    assert_eq!(
        f.plain(t0, old, addr("192.0.2.1:4000"), &rtp(1, 1, 0)),
        Err(DropReason::Stale)
    );
    let new = StreamId {
        slot: ID.slot,
        gen: ID.gen + 1,
    };
    let legs = [
        (
            LegSockets {
                rtp: 30,
                rtcp: Some(31),
            },
            signal("192.0.2.1:4000"),
        ),
        (
            LegSockets {
                rtp: 40,
                rtcp: Some(41),
            },
            signal("198.51.100.2:5000"),
        ),
    ];
    f.add_stream(t0, new, 100, legs).unwrap();
    assert_eq!(
        f.add_stream(t0, new, 100, legs),
        Err(ForwardError::SlotInUse(ID.slot))
    );
    assert_eq!(
        f.plain(t0, old, addr("192.0.2.1:4000"), &rtp(1, 1, 0)),
        Err(DropReason::Stale)
    );
    let v = f.plain(
        t0,
        new.token(SocketRole::Rtp { leg: 0 }),
        addr("192.0.2.1:4000"),
        &rtp(1, 1, 0),
    );
    assert_eq!(v.unwrap().fd, 40);
    assert_eq!(
        f.update_stream(t0, ID, [None, None]),
        Err(ForwardError::NoSuchStream(ID))
    );
    assert_eq!(f.totals().drops[DropReason::Stale as usize], 2);
}

#[test]
fn stun_and_junk_are_counted_not_forwarded() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    // A Binding indication (a keepalive) is counted and dropped.
    let mut stun = vec![0x00, 0x11, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    assert_eq!(
        f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &stun),
        Err(DropReason::Stun)
    );
    for junk in [&b""[..], b"\x80", b"hello world, not rtp", &[0x40; 20]] {
        assert_eq!(
            f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), junk),
            Err(DropReason::Junk)
        );
    }
    let [a, _] = f.stream_stats(ID).unwrap();
    assert_eq!(a.drops[DropReason::Stun as usize], 1);
    assert_eq!(a.drops[DropReason::Junk as usize], 4);
    assert_eq!(
        a.packets_out + f.stream_stats(ID).unwrap()[1].packets_out,
        0
    );
}

#[test]
fn loss_jitter_and_rtcp_reported_quality() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    // 20 ms packets with two lost (seq 5 and 6) and steady timing: loss 2, jitter 0.
    for seq in (1u16..=20).filter(|s| *s != 5 && *s != 6) {
        let t = t0 + Duration::from_millis(20 * u64::from(seq));
        f.plain(
            t,
            a_rtp(),
            addr("192.0.2.1:4000"),
            &rtp(seq, 0xa, 160 * u32::from(seq)),
        )
        .unwrap();
    }
    let [a, _] = f.stream_stats(ID).unwrap();
    assert_eq!(a.ssrc, Some(0xa));
    // RFC 3550 A.1 probation: counting starts at the second packet, so 19 are expected.
    assert_eq!((a.expected, a.lost), (19, 2));
    assert_eq!(a.jitter, 0);
    // A sends an SR; B answers with an RR referring to it, 100 ms later with DLSR 40 ms:
    // the relay<->B round trip is 60 ms.
    let ntp: u64 = 0x1234_5678_9abc_def0;
    let t_sr = t0 + Duration::from_secs(1);
    let a_rtcp = ID.token(SocketRole::Rtcp { leg: 0 });
    f.plain(t_sr, a_rtcp, addr("192.0.2.1:4001"), &sr(0xa, ntp))
        .unwrap();
    let lsr = ((ntp >> 16) & 0xffff_ffff) as u32;
    let dlsr = 65_536 * 40 / 1000;
    let b_rtcp = ID.token(SocketRole::Rtcp { leg: 1 });
    let t_rr = t_sr + Duration::from_millis(100);
    f.plain(
        t_rr,
        b_rtcp,
        addr("198.51.100.2:5001"),
        &rr(0xb, 26, 3, 80, lsr, dlsr),
    )
    .unwrap();
    let [_, b] = f.stream_stats(ID).unwrap();
    assert_eq!(b.reported.fraction_lost, 26);
    assert_eq!(b.reported.cumulative_lost, 3);
    assert_eq!(b.reported.jitter, 80);
    let rtt = b.reported.rtt_us.unwrap();
    assert!((59_000..=61_000).contains(&rtt), "rtt {rtt}");
}

#[test]
fn last_activity_tracks_accepted_packets_only() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    assert_eq!(f.last_activity(ID), Some(t0));
    let t1 = t0 + Duration::from_secs(5);
    let _ = f.plain(t1, a_rtp(), addr("192.0.2.99:4000"), &rtp(1, 1, 0));
    assert_eq!(
        f.last_activity(ID),
        Some(t0),
        "a rejected packet is not activity"
    );
    f.plain(t1, a_rtp(), addr("192.0.2.1:4000"), &rtp(1, 1, 0))
        .unwrap();
    assert_eq!(f.last_activity(ID), Some(t1));
    assert_eq!(f.session_of(ID), Some(99));
    // New signalling (e.g. the answer after a long ring) restarts the idle clock.
    let t2 = t1 + Duration::from_secs(30);
    f.update_stream(t2, ID, [None, None]).unwrap();
    assert_eq!(f.last_activity(ID), Some(t2));
}

mod srtp_legs {
    use super::*;
    use crate::srtp::{Context, MasterKey, Suite};

    const A: &str = "192.0.2.1:4000";
    const B: &str = "198.51.100.2:5000";

    fn key(seed: u8) -> MasterKey {
        MasterKey::from_bytes(&[seed; 30])
    }

    fn ctx(suite: Suite, seed: u8) -> Context {
        Context::new(suite, &key(seed))
    }

    /// Leg B is SRTP: its peer sends with key 1, the relay sends it with key 2.
    fn secure_b(suite: Suite) -> (Forwarder, Instant) {
        let (mut f, t0) = setup(signal(A), signal(B), false);
        f.set_crypto(
            ID,
            1,
            Rekey::Key(Box::new(ctx(suite, 1))),
            Rekey::Key(Box::new(ctx(suite, 2))),
        )
        .unwrap();
        (f, t0)
    }

    /// Runs `data` through the forwarder; the bytes sent, or the drop.
    fn relay(
        f: &mut Forwarder,
        t: Instant,
        token: u64,
        from: &str,
        data: &[u8],
    ) -> Result<(Forward, Vec<u8>), DropReason> {
        let mut buf = [0u8; 1600];
        buf[..data.len()].copy_from_slice(data);
        let (fwd, n) = f.on_packet(t, token, addr(from), &mut buf, data.len())?;
        Ok((fwd, buf[..n].to_vec()))
    }

    fn protect(c: &mut Context, plain: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 1600];
        buf[..plain.len()].copy_from_slice(plain);
        let n = c.protect_rtp(&mut buf, plain.len()).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn plain_rtp_from_a_leaves_encrypted_for_b_and_b_srtp_arrives_plain_at_a() {
        for suite in [
            Suite::AesCm128HmacSha1_80,
            Suite::AesCm128HmacSha1_32,
            Suite::AeadAes128Gcm,
        ] {
            let (mut f, t0) = secure_b(suite);
            let plain = rtp(1, 0xa, 0);
            let (fwd, out) = relay(&mut f, t0, a_rtp(), A, &plain).unwrap();
            assert_eq!(fwd, Forward::to(B_RTP, addr(B)));
            assert_eq!(out.len(), plain.len() + suite.rtp_tag_len());
            assert_ne!(
                out[12..plain.len()],
                plain[12..],
                "{suite:?}: payload encrypted"
            );
            // B's peer decrypts with the relay's key for it.
            let mut got = out.clone();
            let n = ctx(suite, 2).unprotect_rtp(&mut got).unwrap();
            assert_eq!(got[..n], plain[..]);

            let from_b = rtp(7, 0xb, 160);
            let mut b_key = ctx(suite, 1);
            let (fwd, out) = relay(&mut f, t0, b_rtp(), B, &protect(&mut b_key, &from_b)).unwrap();
            assert_eq!(fwd, Forward::to(A_RTP, addr(A)));
            assert_eq!(out, from_b, "{suite:?}: A gets plain RTP");
            let [a, b] = f.stream_stats(ID).unwrap();
            assert_eq!((a.packets_out, b.packets_out), (1, 1));
            assert_eq!(b.bytes_out, (plain.len() + suite.rtp_tag_len()) as u64);
        }
    }

    #[test]
    fn forged_and_replayed_srtp_is_dropped_counted_and_never_latches() {
        let suite = Suite::AesCm128HmacSha1_80;
        let (mut f, t0) = secure_b(suite);
        let mut b_key = ctx(suite, 1);
        let good = protect(&mut b_key, &rtp(1, 0xb, 0));
        assert!(relay(&mut f, t0, b_rtp(), B, &good).is_ok());
        while f.poll_event().is_some() {}
        assert_eq!(
            relay(&mut f, t0, b_rtp(), B, &good).unwrap_err(),
            DropReason::SrtpReplay
        );
        let mut forged = protect(&mut b_key, &rtp(2, 0xb, 160));
        forged[20] ^= 1;
        assert_eq!(
            relay(&mut f, t0, b_rtp(), B, &forged).unwrap_err(),
            DropReason::SrtpAuth
        );
        // A stranger's packet keyed with another key: dropped before the latch sees it.
        let mut other = ctx(suite, 9);
        let evil = protect(&mut other, &rtp(3, 0xe, 320));
        assert_eq!(
            relay(&mut f, t0, b_rtp(), "203.0.113.9:6666", &evil).unwrap_err(),
            DropReason::SrtpAuth
        );
        assert_eq!(f.poll_event(), None);
        let b = f.stream_stats(ID).unwrap()[1];
        assert_eq!(b.drops[DropReason::SrtpReplay as usize], 1);
        assert_eq!(b.drops[DropReason::SrtpAuth as usize], 2);
        assert_eq!(b.peer, Some(addr(B)));
        assert_eq!(f.totals().drops[DropReason::SrtpAuth as usize], 2);
        // A plain RTP packet on the secure leg fails authentication too: never forwarded.
        assert_eq!(
            relay(&mut f, t0, b_rtp(), B, &rtp(4, 0xb, 480)).unwrap_err(),
            DropReason::SrtpAuth
        );
    }

    #[test]
    fn rtcp_is_protected_and_unprotected_on_the_secure_leg() {
        let suite = Suite::AesCm128HmacSha1_80;
        let (mut f, t0) = secure_b(suite);
        let a_rtcp = ID.token(SocketRole::Rtcp { leg: 0 });
        let b_rtcp = ID.token(SocketRole::Rtcp { leg: 1 });
        let report = sr(0xa, 1 << 40);
        let (fwd, out) = relay(&mut f, t0, a_rtcp, "192.0.2.1:4001", &report).unwrap();
        assert_eq!(fwd, Forward::to(B_RTCP, addr("198.51.100.2:5001")));
        assert_eq!(out.len(), report.len() + suite.rtcp_overhead());
        let mut got = out.clone();
        let n = ctx(suite, 2).unprotect_rtcp(&mut got).unwrap();
        assert_eq!(got[..n], report[..]);

        let from_b = sr(0xb, 2 << 40);
        let mut buf = [0u8; 200];
        buf[..from_b.len()].copy_from_slice(&from_b);
        let n = ctx(suite, 1).protect_rtcp(&mut buf, from_b.len()).unwrap();
        let (fwd, out) = relay(&mut f, t0, b_rtcp, "198.51.100.2:5001", &buf[..n]).unwrap();
        assert_eq!(fwd, Forward::to(A_RTCP, addr("192.0.2.1:4001")));
        assert_eq!(out, from_b);
    }

    #[test]
    fn rekeying_replaces_one_direction_and_plain_ends_srtp() {
        let suite = Suite::AesCm128HmacSha1_80;
        let (mut f, t0) = secure_b(suite);
        // B's peer re-keys (re-INVITE): its new key 3; the relay's key for B is kept.
        f.set_crypto(ID, 1, Rekey::Key(Box::new(ctx(suite, 3))), Rekey::Keep)
            .unwrap();
        let mut old = ctx(suite, 1);
        assert_eq!(
            relay(&mut f, t0, b_rtp(), B, &protect(&mut old, &rtp(1, 0xb, 0))).unwrap_err(),
            DropReason::SrtpAuth
        );
        let mut new = ctx(suite, 3);
        assert!(relay(&mut f, t0, b_rtp(), B, &protect(&mut new, &rtp(2, 0xb, 0))).is_ok());
        let (_, out) = relay(&mut f, t0, a_rtp(), A, &rtp(1, 0xa, 0)).unwrap();
        let mut got = out.clone();
        assert!(
            ctx(suite, 2).unprotect_rtp(&mut got).is_ok(),
            "outbound key kept"
        );
        // Back to plain RTP both ways.
        f.set_crypto(ID, 1, Rekey::Plain, Rekey::Plain).unwrap();
        let plain = rtp(2, 0xa, 160);
        assert_eq!(relay(&mut f, t0, a_rtp(), A, &plain).unwrap().1, plain);
        assert!(f
            .set_crypto(StreamId { slot: 3, gen: 8 }, 0, Rekey::Plain, Rekey::Plain)
            .is_err());
    }
}

mod ice_legs {
    use super::*;
    use sbc_common::stun::auth::{
        check_fingerprint, check_integrity, write_binding_request, xor_address,
    };
    use sbc_common::stun::{attr, Class, Packet as Stun};

    const A: &str = "192.0.2.1:4000";
    const B: &str = "198.51.100.2:5000";
    /// Where the ICE peer really is (a NAT mapping, not what its SDP said).
    const PEER: &str = "203.0.113.7:61000";
    const PWD: &str = "sbcPasswordForLegA0123456789";

    fn params() -> IceParams {
        IceParams {
            local_ufrag: "sbcA".into(),
            local_pwd: PWD.into(),
            remote_ufrag: Some("peer".into()),
        }
    }

    /// Leg A runs ICE-lite; its SDP said `A`.
    fn ice_a() -> (Forwarder, Instant) {
        let (mut f, t0) = setup(signal(A), signal(B), false);
        f.set_ice(ID, 0, Some(params())).unwrap();
        (f, t0)
    }

    fn check(username: &str, key: &str, nominate: bool) -> Vec<u8> {
        let mut buf = [0u8; 200];
        let n = write_binding_request(
            &mut buf,
            &[9; 12],
            username.as_bytes(),
            key.as_bytes(),
            1,
            nominate,
        )
        .unwrap();
        buf[..n].to_vec()
    }

    /// Runs `data` from `from` into leg A's RTP socket: the verdict and the bytes to send.
    fn to_a(
        f: &mut Forwarder,
        t: Instant,
        from: &str,
        data: &[u8],
    ) -> Result<(Forward, Vec<u8>), DropReason> {
        let mut buf = [0u8; 1600];
        buf[..data.len()].copy_from_slice(data);
        let (fwd, n) = f.on_packet(t, a_rtp(), addr(from), &mut buf, data.len())?;
        Ok((fwd, buf[..n].to_vec()))
    }

    #[test]
    fn a_valid_check_is_answered_from_the_port_it_reached_and_a_nomination_latches_at_once() {
        let (mut f, t0) = ice_a();
        // A plain check: answered with the source as XOR-MAPPED-ADDRESS, keyed by our password.
        let (fwd, rsp) = to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, false)).unwrap();
        assert_eq!(fwd, Forward::to(A_RTP, addr(PEER)));
        let p = Stun::new_checked(&rsp[..]).unwrap();
        assert_eq!(p.class(), Class::SuccessResponse);
        assert_eq!(p.transaction_id(), [9; 12]);
        let mapped = xor_address(p.attribute(attr::XOR_MAPPED_ADDRESS).unwrap(), &[9; 12]);
        assert_eq!(mapped, Some(addr(PEER)));
        assert_eq!(check_integrity(&rsp, PWD.as_bytes()), Ok(()));
        assert_eq!(check_fingerprint(&rsp), Ok(true));
        // Not nominated yet: media from the peer is refused, even from the SDP address.
        assert_eq!(
            f.plain(t0, a_rtp(), addr(PEER), &rtp(1, 0xa, 0)),
            Err(DropReason::SourceRejected)
        );
        assert_eq!(
            f.plain(t0, a_rtp(), addr(A), &rtp(1, 0xa, 0)),
            Err(DropReason::SourceRejected)
        );
        while f.poll_event().is_some() {}
        // USE-CANDIDATE: the peer is latched at once, whatever the SDP said.
        to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap();
        assert_eq!(
            f.poll_event(),
            Some(ForwardEvent::Latched {
                id: ID,
                leg: 0,
                rtcp: false,
                peer: addr(PEER)
            })
        );
        assert_eq!(
            f.plain(t0, a_rtp(), addr(PEER), &rtp(2, 0xa, 160)),
            Ok(Forward::to(B_RTP, addr(B)))
        );
        // B's media goes to the nominated address, not the SDP one.
        assert_eq!(
            f.plain(t0, b_rtp(), addr(B), &rtp(1, 0xb, 0)),
            Ok(Forward::to(A_RTP, addr(PEER)))
        );
        assert_eq!(f.totals().stun_answered, 2);
    }

    #[test]
    fn checks_with_wrong_credentials_get_401_or_400_and_never_latch() {
        let (mut f, t0) = ice_a();
        let evil = "192.0.2.66:6666";
        for (username, key, code) in [
            ("sbcA:peer", "not-the-password-at-all!", 1),
            ("other:peer", PWD, 1),
            ("sbcA:someone", PWD, 1),
        ] {
            let (fwd, rsp) = to_a(&mut f, t0, evil, &check(username, key, true)).unwrap();
            assert_eq!(fwd.to, addr(evil));
            let p = Stun::new_checked(&rsp[..]).unwrap();
            assert_eq!(p.class(), Class::ErrorResponse, "{username}");
            let err = p.attribute(attr::ERROR_CODE).unwrap();
            assert_eq!((err[2], err[3]), (4, code), "{username}");
        }
        // A USERNAME without MESSAGE-INTEGRITY: 400.
        let mut half = check("sbcA:peer", PWD, true);
        half.truncate(36);
        half[2..4].copy_from_slice(&16u16.to_be_bytes());
        let (_, rsp) = to_a(&mut f, t0, evil, &half).unwrap();
        let p = Stun::new_checked(&rsp[..]).unwrap();
        assert_eq!(
            p.attribute(attr::ERROR_CODE).map(|e| (e[2], e[3])),
            Some((4, 0))
        );
        // No credentials at all: a plain STUN client gets its mapped address, nothing more.
        let mut bare = check("sbcA:peer", PWD, true);
        bare.truncate(20);
        bare[2..4].copy_from_slice(&[0, 0]);
        let (_, rsp) = to_a(&mut f, t0, evil, &bare).unwrap();
        let p = Stun::new_checked(&rsp[..]).unwrap();
        assert_eq!(p.class(), Class::SuccessResponse);
        assert_eq!(p.attribute(attr::MESSAGE_INTEGRITY), None);
        let mapped = xor_address(p.attribute(attr::XOR_MAPPED_ADDRESS).unwrap(), &[9; 12]);
        assert_eq!(mapped, Some(addr(evil)));
        // A corrupted fingerprint: dropped without an answer.
        let mut bad = check("sbcA:peer", PWD, true);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            to_a(&mut f, t0, evil, &bad).unwrap_err(),
            DropReason::StunAuth
        );
        // Nothing latched: the attacker's media is refused, and so nothing reaches B.
        assert_eq!(f.poll_event(), None);
        assert_eq!(
            f.plain(t0, a_rtp(), addr(evil), &rtp(1, 0xe, 0)),
            Err(DropReason::SourceRejected)
        );
        let a = f.stream_stats(ID).unwrap()[0];
        assert_eq!(a.drops[DropReason::StunAuth as usize], 5);
        assert_eq!(f.totals().stun_answered, 5);
    }

    #[test]
    fn consent_expires_without_checks_and_a_roaming_peer_is_re_latched() {
        let (mut f, t0) = ice_a();
        to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap();
        assert!(f.plain(t0, b_rtp(), addr(B), &rtp(1, 0xb, 0)).is_ok());
        // 29 s later B's media still goes; at 30 s without a check it stops (counted).
        let t29 = t0 + Duration::from_secs(29);
        assert!(f.plain(t29, b_rtp(), addr(B), &rtp(2, 0xb, 160)).is_ok());
        let t30 = t0 + CONSENT_TIMEOUT;
        assert_eq!(
            f.plain(t30, b_rtp(), addr(B), &rtp(3, 0xb, 320)),
            Err(DropReason::Consent)
        );
        // The peer roams (NAT rebinding): a nominating check from the new address re-latches.
        let moved = "203.0.113.7:62000";
        to_a(&mut f, t30, moved, &check("sbcA:peer", PWD, true)).unwrap();
        assert_eq!(
            f.plain(t30, b_rtp(), addr(B), &rtp(4, 0xb, 480)),
            Ok(Forward::to(A_RTP, addr(moved)))
        );
        assert_eq!(
            f.plain(t30, a_rtp(), addr(PEER), &rtp(5, 0xa, 0)),
            Err(DropReason::SourceRejected),
            "the old address is no longer the peer"
        );
        let b = f.stream_stats(ID).unwrap()[1];
        assert_eq!(b.drops[DropReason::Consent as usize], 1);
    }

    #[test]
    fn a_plain_binding_request_is_answered_on_a_leg_without_ice_and_latches_nothing() {
        let (mut f, t0) = setup(signal(A), signal(B), false);
        let mut bare = check("x:y", PWD, false);
        bare.truncate(20);
        bare[2..4].copy_from_slice(&[0, 0]);
        let (fwd, rsp) = to_a(&mut f, t0, PEER, &bare).unwrap();
        assert_eq!(fwd, Forward::to(A_RTP, addr(PEER)));
        let p = Stun::new_checked(&rsp[..]).unwrap();
        let mapped = xor_address(p.attribute(attr::XOR_MAPPED_ADDRESS).unwrap(), &[9; 12]);
        assert_eq!(mapped, Some(addr(PEER)));
        assert_eq!(check_fingerprint(&rsp), Ok(true));
        assert_eq!(f.poll_event(), None, "nothing latched");
        assert_eq!(f.stream_stats(ID).unwrap()[0].peer, None);
    }

    #[test]
    fn stun_on_a_leg_without_ice_is_dropped_as_before() {
        let (mut f, t0) = setup(signal(A), signal(B), false);
        assert_eq!(
            to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap_err(),
            DropReason::Stun
        );
        f.set_ice(ID, 0, Some(params())).unwrap();
        assert!(to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).is_ok());
        f.set_ice(ID, 0, None).unwrap();
        assert_eq!(
            to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap_err(),
            DropReason::Stun
        );
    }
}

#[test]
fn zrtp_and_dtls_pass_through_between_plain_legs_only() {
    let (mut f, t0) = setup(signal("192.0.2.1:4000"), signal("198.51.100.2:5000"), false);
    // ZRTP Hello (RFC 6189 §5: first byte 0x10, magic cookie "ZRTP"), DTLS ClientHello (22).
    let mut zrtp = vec![0x10, 0, 0, 1];
    zrtp.extend_from_slice(b"ZRTP");
    zrtp.extend_from_slice(&[0xab; 4]);
    zrtp.extend_from_slice(&[0; 40]);
    let mut dtls = vec![22, 0xfe, 0xfd];
    dtls.extend_from_slice(&[0; 50]);
    for pkt in [&zrtp, &dtls] {
        assert_eq!(
            f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), pkt),
            Ok(Forward::to(B_RTP, addr("198.51.100.2:5000")))
        );
    }
    // From a stranger once latched: refused like RTP.
    assert_eq!(
        f.plain(
            t0 + Duration::from_secs(5),
            a_rtp(),
            addr("192.0.2.99:1"),
            &zrtp
        ),
        Err(DropReason::SourceRejected)
    );
    // With SRTP terminated on a leg the relay cannot pass the peers' own keying through.
    let key = crate::srtp::MasterKey::from_bytes(&[1; 30]);
    let ctx = || {
        Rekey::Key(Box::new(crate::srtp::Context::new(
            crate::srtp::Suite::AesCm128HmacSha1_80,
            &key,
        )))
    };
    f.set_crypto(ID, 1, ctx(), ctx()).unwrap();
    assert_eq!(
        f.plain(t0, a_rtp(), addr("192.0.2.1:4000"), &zrtp),
        Err(DropReason::Junk)
    );
    assert_eq!(f.totals().forwarded_packets, 2);
}
