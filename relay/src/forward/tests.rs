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

mod bundle;
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

/// `plain` SRTP-protected with `c`.
fn protect(c: &mut crate::srtp::Context, plain: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 1600];
    buf[..plain.len()].copy_from_slice(plain);
    let n = c.protect_rtp(&mut buf, plain.len()).unwrap();
    buf[..n].to_vec()
}

mod ice;
mod srtp;

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
