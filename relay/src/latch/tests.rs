//! The latch's behaviour on virtual time: learning, RTP-bleed rejection, re-signalling and
//! handover.

use super::*;
use proptest::prelude::*;

const SDP: &str = "10.0.0.5:4000";
const NAT: &str = "198.51.100.7:31000";
const EVIL: &str = "203.0.113.66:5555";

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

fn latched(s: &str) -> LatchVerdict {
    LatchVerdict::Latched { peer: a(s) }
}

fn rej(r: RejectReason) -> LatchVerdict {
    LatchVerdict::Reject(r)
}

fn signalled(t0: Instant, policy: LatchPolicy) -> Latch {
    let mut l = Latch::new(LatchConfig::default());
    l.signal(t0, Some(a(SDP)), policy);
    l
}

#[test]
fn unsignalled_rejects_everything() {
    let t0 = Instant::now();
    let mut l = Latch::new(LatchConfig::default());
    assert_eq!(
        l.on_packet(t0, a(SDP), None, None),
        rej(RejectReason::NotSignalled)
    );
    assert_eq!(l.send_target(), None);
    assert_eq!(l.rejected(), 1);
}

#[test]
fn exact_sdp_match_latches_at_once_and_locks() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.send_target(), Some(a(SDP)));
    assert!(l.is_learning(t0));
    assert_eq!(
        l.on_packet(ms(t0, 10), a(SDP), Some(1), Some(1)),
        latched(SDP)
    );
    assert!(!l.is_learning(ms(t0, 10)));
    assert_eq!(
        l.on_packet(ms(t0, 30), a(SDP), Some(1), Some(2)),
        LatchVerdict::Accept
    );
    // Window is closed by the exact match: nobody else gets in, even early.
    assert_eq!(
        l.on_packet(ms(t0, 40), a(NAT), Some(1), Some(3)),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(l.send_target(), Some(a(SDP)));
}

#[test]
fn nat_rewritten_source_latched_within_window() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(
        l.on_packet(ms(t0, 500), a(NAT), Some(7), Some(100)),
        latched(NAT)
    );
    assert_eq!(l.send_target(), Some(a(NAT)));
    assert_eq!(l.peer(), Some(a(NAT)));
    for i in 1..10 {
        assert_eq!(
            l.on_packet(ms(t0, 500 + 20 * i), a(NAT), Some(7), Some(100 + i as u16)),
            LatchVerdict::Accept
        );
    }
    assert!(!l.is_learning(ms(t0, 700)));
    assert_eq!(l.rejected(), 0);
}

#[test]
fn attacker_before_latch_wins_without_sdp_match_tradeoff() {
    // Documented trade-off: a NATed peer cannot be told apart from an
    // attacker who sends first; the attacker is latched and the peer dropped.
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(EVIL), None, None), latched(EVIL));
    assert_eq!(
        l.on_packet(ms(t0, 20), a(NAT), Some(7), Some(1)),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(
        l.on_packet(ms(t0, 40), a(NAT), Some(7), Some(2)),
        rej(RejectReason::NotLatchedPeer)
    );
    // Three packets seen: window closed, attacker fixed.
    assert!(!l.is_learning(ms(t0, 41)));
    assert_eq!(
        l.on_packet(ms(t0, 60), a(NAT), Some(7), Some(3)),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(l.send_target(), Some(a(EVIL)));
    assert_eq!(l.rejected(), 3);
}

#[test]
fn sdp_match_later_in_window_displaces_attacker() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(EVIL), None, None), latched(EVIL));
    assert_eq!(
        l.on_packet(ms(t0, 20), a(SDP), Some(1), Some(1)),
        latched(SDP)
    );
    assert_eq!(
        l.on_packet(ms(t0, 25), a(EVIL), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(l.send_target(), Some(a(SDP)));
}

#[test]
fn same_ip_source_outranks_other_source_in_window() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(EVIL), None, None), latched(EVIL));
    assert_eq!(
        l.on_packet(ms(t0, 10), a("10.0.0.5:4002"), None, None),
        latched("10.0.0.5:4002")
    );
    // A lower-ranked source cannot come back.
    assert_eq!(
        l.on_packet(ms(t0, 15), a(EVIL), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
}

#[test]
fn attacker_after_latch_rejected() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(
        l.on_packet(ms(t0, 5), a(NAT), Some(7), Some(1)),
        latched(NAT)
    );
    assert_eq!(
        l.on_packet(ms(t0, 25), a(NAT), Some(7), Some(2)),
        LatchVerdict::Accept
    );
    assert_eq!(
        l.on_packet(ms(t0, 45), a(NAT), Some(7), Some(3)),
        LatchVerdict::Accept
    );
    for i in 0..5 {
        assert_eq!(
            l.on_packet(ms(t0, 50 + i), a(EVIL), Some(7), Some(4)),
            rej(RejectReason::NotLatchedPeer)
        );
    }
    // Even the exact SDP address is rejected once the window closed on another peer.
    assert_eq!(
        l.on_packet(ms(t0, 60), a(SDP), Some(7), Some(4)),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(l.rejected(), 6);
    assert_eq!(l.send_target(), Some(a(NAT)));
}

#[test]
fn time_window_expiry_fixes_candidate() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 100), a(NAT), None, None), latched(NAT));
    assert!(l.is_learning(ms(t0, 2999)));
    assert!(!l.is_learning(ms(t0, 3000)));
    assert_eq!(
        l.on_packet(ms(t0, 3000), a(SDP), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
}

#[test]
fn window_passes_without_packets_then_only_sdp_address() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(
        l.on_packet(ms(t0, 4000), a(NAT), None, None),
        rej(RejectReason::NotSdpAddress)
    );
    assert_eq!(l.send_target(), Some(a(SDP)));
    assert_eq!(l.on_packet(ms(t0, 4020), a(SDP), None, None), latched(SDP));
    assert_eq!(
        l.on_packet(ms(t0, 4040), a(NAT), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
}

#[test]
fn window_passes_without_sdp_address_keeps_leg_closed() {
    let t0 = Instant::now();
    let mut l = Latch::new(LatchConfig::default());
    l.signal(t0, Some(a("0.0.0.0:4000")), LatchPolicy::Strict);
    assert_eq!(l.sdp_addr(), None);
    assert_eq!(l.send_target(), None);
    assert_eq!(
        l.on_packet(ms(t0, 3500), a(NAT), None, None),
        rej(RejectReason::NotSdpAddress)
    );
    // Within a fresh window the first source is learned even without SDP address.
    l.signal(ms(t0, 4000), None, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 4010), a(NAT), None, None), latched(NAT));
}

#[test]
fn resignal_same_sdp_keeps_peer_and_confirms_it() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(NAT), None, None), latched(NAT));
    l.signal(ms(t0, 10_000), Some(a(SDP)), LatchPolicy::Strict);
    assert!(l.is_learning(ms(t0, 10_000)));
    assert_eq!(l.send_target(), Some(a(NAT)));
    assert_eq!(
        l.on_packet(ms(t0, 10_020), a(NAT), None, None),
        LatchVerdict::Accept
    );
    assert_eq!(
        l.on_packet(ms(t0, 10_030), a(EVIL), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(l.send_target(), Some(a(NAT)));
}

#[test]
fn resignal_same_sdp_new_source_first_relatches() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(NAT), None, None), latched(NAT));
    l.signal(ms(t0, 10_000), Some(a(SDP)), LatchPolicy::Strict);
    let rebound = "198.51.100.7:31002";
    assert_eq!(
        l.on_packet(ms(t0, 10_020), a(rebound), None, None),
        latched(rebound)
    );
    assert_eq!(
        l.on_packet(ms(t0, 10_040), a(NAT), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(l.send_target(), Some(a(rebound)));
}

#[test]
fn resignal_same_sdp_without_packets_keeps_peer() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(NAT), None, None), latched(NAT));
    l.signal(ms(t0, 10_000), Some(a(SDP)), LatchPolicy::Strict);
    assert_eq!(
        l.on_packet(ms(t0, 20_000), a(EVIL), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(
        l.on_packet(ms(t0, 20_020), a(NAT), None, None),
        LatchVerdict::Accept
    );
}

#[test]
fn resignal_cannot_displace_exact_sdp_peer() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(SDP), None, None), latched(SDP));
    l.signal(ms(t0, 10_000), Some(a(SDP)), LatchPolicy::Strict);
    assert_eq!(
        l.on_packet(ms(t0, 10_001), a(EVIL), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
    assert_eq!(l.send_target(), Some(a(SDP)));
}

#[test]
fn resignal_new_sdp_drops_old_latch() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    assert_eq!(l.on_packet(ms(t0, 5), a(NAT), None, None), latched(NAT));
    l.signal(
        ms(t0, 10_000),
        Some(a("10.0.0.9:6000")),
        LatchPolicy::Strict,
    );
    assert_eq!(l.peer(), None);
    assert_eq!(l.send_target(), Some(a("10.0.0.9:6000")));
    let other = "192.0.2.44:40000";
    assert_eq!(
        l.on_packet(ms(t0, 10_010), a(other), None, None),
        latched(other)
    );
    assert_eq!(
        l.on_packet(ms(t0, 10_020), a(NAT), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
}

#[test]
fn handover_follows_same_ssrc_with_sequence_continuity() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Handover);
    assert_eq!(
        l.on_packet(ms(t0, 0), a(NAT), Some(0xAB), Some(10)),
        latched(NAT)
    );
    for i in 1..5u16 {
        let t = ms(t0, 20 * u64::from(i));
        assert_eq!(
            l.on_packet(t, a(NAT), Some(0xAB), Some(10 + i)),
            LatchVerdict::Accept
        );
    }
    let roamed = "198.51.100.200:12000";
    assert_eq!(
        l.on_packet(ms(t0, 5000), a(roamed), Some(0xAB), Some(20)),
        latched(roamed)
    );
    assert_eq!(l.send_target(), Some(a(roamed)));
    assert_eq!(
        l.on_packet(ms(t0, 5020), a(NAT), Some(0xAB), Some(15)),
        rej(RejectReason::SequenceOutOfWindow)
    );
}

#[test]
fn handover_refused_without_continuity() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Handover);
    assert_eq!(
        l.on_packet(ms(t0, 0), a(NAT), Some(0xAB), Some(10)),
        latched(NAT)
    );
    for i in 1..3u16 {
        l.on_packet(ms(t0, 20 * u64::from(i)), a(NAT), Some(0xAB), Some(10 + i));
    }
    let t = ms(t0, 5000);
    assert_eq!(
        l.on_packet(t, a(EVIL), Some(0xCD), Some(13)),
        rej(RejectReason::SsrcMismatch)
    );
    assert_eq!(
        l.on_packet(t, a(EVIL), None, None),
        rej(RejectReason::SsrcMismatch)
    );
    assert_eq!(
        l.on_packet(t, a(EVIL), Some(0xAB), Some(12 + 101)),
        rej(RejectReason::SequenceOutOfWindow)
    );
    assert_eq!(
        l.on_packet(t, a(EVIL), Some(0xAB), Some(12)),
        rej(RejectReason::SequenceOutOfWindow),
        "duplicate sequence is not a continuation"
    );
    assert_eq!(
        l.on_packet(t, a(EVIL), Some(0xAB), Some(5)),
        rej(RejectReason::SequenceOutOfWindow),
        "backwards sequence is not a continuation"
    );
    assert_eq!(
        l.on_packet(t, a(EVIL), Some(0xAB), None),
        rej(RejectReason::SequenceOutOfWindow)
    );
    assert_eq!(l.send_target(), Some(a(NAT)));
    assert_eq!(l.rejected(), 6);
    // Edge of the window is accepted.
    assert_eq!(
        l.on_packet(t, a(EVIL), Some(0xAB), Some(112)),
        latched(EVIL)
    );
}

#[test]
fn handover_sequence_wraps() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Handover);
    for (i, s) in [65530u16, 65531, 65532, 65533].into_iter().enumerate() {
        l.on_packet(ms(t0, 20 * i as u64), a(NAT), Some(1), Some(s));
    }
    let roamed = "198.51.100.200:12000";
    assert_eq!(
        l.on_packet(ms(t0, 4000), a(roamed), Some(1), Some(3)),
        latched(roamed)
    );
}

#[test]
fn handover_rate_limited() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Handover);
    let (b, c) = ("198.51.100.8:1000", "198.51.100.9:1000");
    for i in 0..3u16 {
        l.on_packet(ms(t0, 20 * u64::from(i)), a(NAT), Some(9), Some(i));
    }
    assert_eq!(
        l.on_packet(ms(t0, 4000), a(b), Some(9), Some(3)),
        latched(b)
    );
    assert_eq!(
        l.on_packet(ms(t0, 4999), a(c), Some(9), Some(4)),
        rej(RejectReason::HandoverRateLimited)
    );
    assert_eq!(
        l.on_packet(ms(t0, 4999), a(b), Some(9), Some(4)),
        LatchVerdict::Accept
    );
    assert_eq!(
        l.on_packet(ms(t0, 5000), a(c), Some(9), Some(5)),
        latched(c)
    );
}

#[test]
fn strict_never_hands_over() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Strict);
    for i in 0..3u16 {
        l.on_packet(ms(t0, 20 * u64::from(i)), a(NAT), Some(9), Some(i));
    }
    assert_eq!(
        l.on_packet(ms(t0, 9000), a(EVIL), Some(9), Some(3)),
        rej(RejectReason::NotLatchedPeer)
    );
}

#[test]
fn ssrc_change_by_latched_peer_resets_tracking() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Handover);
    for i in 0..3u16 {
        l.on_packet(ms(t0, 20 * u64::from(i)), a(NAT), Some(1), Some(i));
    }
    // The peer restarts its stream with a new SSRC (e.g. after re-INVITE).
    assert_eq!(
        l.on_packet(ms(t0, 100), a(NAT), Some(2), Some(30000)),
        LatchVerdict::Accept
    );
    let roamed = "198.51.100.200:12000";
    assert_eq!(
        l.on_packet(ms(t0, 4000), a(roamed), Some(1), Some(3)),
        rej(RejectReason::SsrcMismatch)
    );
    assert_eq!(
        l.on_packet(ms(t0, 4000), a(roamed), Some(2), Some(30001)),
        latched(roamed)
    );
}

#[test]
fn off_policy_accepts_any_and_sends_to_sdp() {
    let t0 = Instant::now();
    let mut l = signalled(t0, LatchPolicy::Off);
    for (i, src) in [NAT, EVIL, SDP, NAT].into_iter().enumerate() {
        assert_eq!(
            l.on_packet(ms(t0, 4000 * i as u64), a(src), None, None),
            LatchVerdict::Accept
        );
    }
    assert_eq!(l.send_target(), Some(a(SDP)));
    assert_eq!(l.peer(), None);
    assert_eq!(l.rejected(), 0);
    assert_eq!(l.policy(), LatchPolicy::Off);
}

#[test]
fn zero_packet_window_behaves_like_one() {
    let t0 = Instant::now();
    let cfg = LatchConfig {
        learning_window_packets: 0,
        ..LatchConfig::default()
    };
    let mut l = Latch::new(cfg);
    l.signal(t0, Some(a(SDP)), LatchPolicy::Strict);
    assert_eq!(l.on_packet(t0, a(NAT), None, None), latched(NAT));
    assert_eq!(
        l.on_packet(t0, a(SDP), None, None),
        rej(RejectReason::NotLatchedPeer)
    );
}

proptest! {
    /// Strict, one signal: at most three latch events (one per rank), and
    /// every forwarded packet comes from the peer latched at that moment.
    #[test]
    fn strict_accepts_only_current_peer(
        pkts in proptest::collection::vec((0usize..5, 0u64..2000), 0..60),
    ) {
        let srcs = [SDP, NAT, EVIL, "10.0.0.5:4002", "192.0.2.1:1"];
        let t0 = Instant::now();
        let mut l = signalled(t0, LatchPolicy::Strict);
        let mut t = t0;
        let mut events = 0;
        let sdp = a(SDP);
        for (si, dt) in pkts {
            t += Duration::from_millis(dt);
            let src = a(srcs[si]);
            match l.on_packet(t, src, Some(1), Some(1)) {
                LatchVerdict::Accept => prop_assert_eq!(l.peer(), Some(src)),
                LatchVerdict::Latched { peer } => {
                    prop_assert_eq!(peer, src);
                    prop_assert_eq!(l.peer(), Some(src));
                    events += 1;
                }
                LatchVerdict::Reject(_) => prop_assert_ne!(l.peer(), Some(src)),
            }
            prop_assert_eq!(l.send_target(), l.peer().or(Some(sdp)));
        }
        prop_assert!(events <= 3);
    }
}
