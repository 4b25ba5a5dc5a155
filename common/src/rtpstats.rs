//! Per-source RTP reception statistics: sequence tracking, loss and interarrival jitter
//! ([RFC 3550 Appendix A.1, A.3 and A.8](https://www.rfc-editor.org/rfc/rfc3550#appendix-A.1)).
//!
//! Both [`SeqTracker`] and [`Jitter`] are small `Copy` structs updated once per packet with
//! no allocation, no clock reads and no panics (all counters wrap or saturate). The caller
//! supplies arrival times in RTP timestamp units, so the types stay pure and testable.

/// The sequence number space, 2^16 (RFC 3550 §A.1).
pub const RTP_SEQ_MOD: u32 = 1 << 16;

/// A forward jump smaller than this is an in-order packet with a gap (RFC 3550 §A.1).
pub const MAX_DROPOUT: u16 = 3000;

/// A backward jump up to this is a late (reordered or duplicate) packet (RFC 3550 §A.1).
pub const MAX_MISORDER: u16 = 100;

/// Packets in sequence needed before a new source is valid (RFC 3550 §A.1).
pub const MIN_SEQUENTIAL: u32 = 2;

/// Sequence-number state of one source, the `source` struct of RFC 3550 §A.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqTracker {
    max_seq: u16,
    /// Wrap count shifted left by 16, as in the RFC.
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    min_sequential: u32,
    started: bool,
}

impl Default for SeqTracker {
    fn default() -> Self {
        Self::new()
    }
}

/// Loss over one reporting interval (RFC 3550 §A.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interval {
    /// Packets expected in the interval.
    pub expected: u32,
    /// Packets received in the interval (duplicates included).
    pub received: u32,
    /// Expected minus received; negative with duplicates.
    pub lost: i64,
    /// Loss fraction in 1/256 units, 0 when nothing was lost, for the report block.
    pub fraction_lost: u8,
}

impl SeqTracker {
    /// A tracker for a new source that needs [`MIN_SEQUENTIAL`] packets in sequence.
    pub const fn new() -> Self {
        Self::with_min_sequential(MIN_SEQUENTIAL)
    }

    /// A tracker needing `min_sequential` in-sequence packets (0 or 1: valid at once).
    pub const fn with_min_sequential(min_sequential: u32) -> Self {
        Self {
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            min_sequential,
            started: false,
        }
    }

    /// `init_seq` of RFC 3550 §A.1: restart counting at `seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1; // so that seq == bad_seq is false
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// `update_seq` of RFC 3550 §A.1, called for every packet of the source: returns
    /// `false` for packets to ignore (source still on probation, or a large jump that may
    /// be a restart), `true` for packets that count.
    pub fn update_seq(&mut self, seq: u16) -> bool {
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            if self.min_sequential == 0 {
                self.received = 1;
                return true;
            }
            self.max_seq = seq.wrapping_sub(1);
            self.probation = self.min_sequential;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            // Wrapping add fixes the RFC code's `max_seq + 1` int promotion at 65535.
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received = self.received.wrapping_add(1);
                    return true;
                }
            } else {
                self.probation = self.min_sequential.saturating_sub(1);
                self.max_seq = seq;
            }
            return false;
        }
        if udelta < MAX_DROPOUT {
            // In order, with permissible gap.
            if seq < self.max_seq {
                // Sequence number wrapped: count another 64K cycle.
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // The sequence number made a very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: assume the sender restarted, re-sync.
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // Otherwise a duplicate or reordered packet: counted, max unchanged.
        self.received = self.received.wrapping_add(1);
        true
    }

    /// Whether the source has passed probation (RFC 3550 §A.1).
    pub const fn is_valid(&self) -> bool {
        self.started && self.probation == 0
    }

    /// The highest sequence number seen, without cycles.
    pub const fn max_seq(&self) -> u16 {
        self.max_seq
    }

    /// How many times the sequence number has wrapped since counting began.
    pub const fn cycles(&self) -> u32 {
        self.cycles >> 16
    }

    /// The extended highest sequence number, as sent in report blocks (RFC 3550 §6.4.1).
    pub const fn extended_max_seq(&self) -> u32 {
        self.cycles.wrapping_add(self.max_seq as u32)
    }

    /// The first sequence number counted (after probation or a re-sync).
    pub const fn base_seq(&self) -> u32 {
        self.base_seq
    }

    /// Packets counted since the base, duplicates and late packets included.
    pub const fn received(&self) -> u32 {
        self.received
    }

    /// Packets expected since the base: extended max minus base plus one (RFC 3550 §A.3);
    /// 0 before the source is valid.
    pub fn expected(&self) -> u32 {
        if !self.is_valid() {
            return 0;
        }
        let expected = i64::from(self.extended_max_seq()) - i64::from(self.base_seq) + 1;
        u32::try_from(expected.max(0)).unwrap_or(u32::MAX)
    }

    /// Cumulative packets lost, clamped to the 24-bit signed report field (RFC 3550 §A.3).
    pub fn lost(&self) -> i32 {
        let lost = i64::from(self.expected()) - i64::from(self.received);
        // The clamp makes the value fit in 24 bits, so in i32.
        i32::try_from(lost.clamp(-0x80_0000, 0x7f_ffff)).unwrap_or(0)
    }

    /// Closes a reporting interval: loss and fraction lost since the previous call
    /// (RFC 3550 §A.3).
    pub fn take_interval(&mut self) -> Interval {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost <= 0 {
            0
        } else {
            u8::try_from((lost << 8) / i64::from(expected_interval)).unwrap_or(u8::MAX)
        };
        Interval {
            expected: expected_interval,
            received: received_interval,
            lost,
            fraction_lost,
        }
    }
}

/// Interarrival jitter estimator of RFC 3550 §A.8, in integer arithmetic scaled by 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Jitter {
    /// Relative transit time of the previous packet, `None` before the first.
    transit: Option<u32>,
    /// Jitter times 16.
    jitter_q4: u64,
}

impl Jitter {
    /// An estimator with no packets seen.
    pub const fn new() -> Self {
        Self {
            transit: None,
            jitter_q4: 0,
        }
    }

    /// Feeds one packet: its RTP timestamp and its arrival time converted to the same
    /// clock rate (any fixed offset cancels out); the first packet only sets the reference.
    pub fn update(&mut self, rtp_timestamp: u32, arrival: u32) {
        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(prev) = self.transit {
            // Modular difference read as signed, so wraps of either clock cancel out.
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            // J += (|D| - J) / 16, i.e. J16 += |D| - J16 / 16 with rounding.
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// The jitter in timestamp units, as sent in report blocks (RFC 3550 §6.4.1).
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// The jitter scaled by 16, for more precision than [`Jitter::jitter`].
    pub const fn jitter_q4(&self) -> u64 {
        self.jitter_q4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut SeqTracker, seqs: &[u16]) -> Vec<bool> {
        seqs.iter().map(|&s| t.update_seq(s)).collect()
    }

    #[test]
    fn probation_then_in_order() {
        let mut t = SeqTracker::new();
        assert_eq!(t.expected(), 0);
        let seqs: Vec<u16> = (1000..1010).collect();
        let valid = feed(&mut t, &seqs);
        // The first packet is on probation and not counted; the second re-bases.
        assert!(!valid[0]);
        assert!(valid[1..].iter().all(|&v| v));
        assert!(t.is_valid());
        assert_eq!(t.base_seq(), 1001);
        assert_eq!(t.received(), 9);
        assert_eq!(t.expected(), 9);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.extended_max_seq(), 1009);
    }

    #[test]
    fn probation_restarts_on_out_of_sequence() {
        let mut t = SeqTracker::new();
        assert_eq!(feed(&mut t, &[10, 20, 21, 22]), [false, false, true, true]);
        assert_eq!(t.base_seq(), 21);
        assert_eq!((t.received(), t.expected()), (2, 2));
    }

    #[test]
    fn gap_loss_and_fraction() {
        let mut t = SeqTracker::new();
        feed(&mut t, &(1000..1010).collect::<Vec<_>>());
        // 1010..=1014 lost.
        assert!(t.update_seq(1015));
        assert_eq!(t.expected(), 15);
        assert_eq!(t.received(), 10);
        assert_eq!(t.lost(), 5);
        let i = t.take_interval();
        // fraction = (5 << 8) / 15 = 85.33 -> 85.
        assert_eq!(
            i,
            Interval {
                expected: 15,
                received: 10,
                lost: 5,
                fraction_lost: 85
            }
        );
        t.update_seq(1016);
        let i = t.take_interval();
        assert_eq!(
            (i.expected, i.received, i.lost, i.fraction_lost),
            (1, 1, 0, 0)
        );
        assert_eq!(t.take_interval(), Interval::default());
        assert_eq!(t.lost(), 5);
    }

    #[test]
    fn reordering_is_not_loss() {
        let mut t = SeqTracker::new();
        assert_eq!(
            feed(&mut t, &[1, 2, 3, 5, 4, 6]),
            [false, true, true, true, true, true]
        );
        assert_eq!(t.max_seq(), 6);
        assert_eq!((t.expected(), t.received(), t.lost()), (5, 5, 0));
        // A packet from before the base (late by 2) is counted but does not move max.
        assert!(t.update_seq(0));
        assert_eq!(t.max_seq(), 6);
        assert_eq!((t.expected(), t.received(), t.lost()), (5, 6, -1));
    }

    #[test]
    fn duplicates_make_loss_negative() {
        let mut t = SeqTracker::new();
        assert!(feed(&mut t, &[10, 11, 12, 12, 13])[1..].iter().all(|&v| v));
        assert_eq!((t.expected(), t.received(), t.lost()), (3, 4, -1));
        let i = t.take_interval();
        assert_eq!((i.lost, i.fraction_lost), (-1, 0));
    }

    #[test]
    fn wrap_at_65535() {
        let mut t = SeqTracker::new();
        assert_eq!(
            feed(&mut t, &[65533, 65534, 65535, 0, 1]),
            [false, true, true, true, true]
        );
        assert_eq!(t.cycles(), 1);
        assert_eq!(t.extended_max_seq(), 0x0001_0001);
        assert_eq!((t.expected(), t.received(), t.lost()), (4, 4, 0));
        // Loss across the wrap: 2, 3 lost.
        t.update_seq(4);
        assert_eq!((t.expected(), t.received(), t.lost()), (7, 5, 2));
        // A late packet from before the wrap is not a new cycle.
        assert!(t.update_seq(65535));
        assert_eq!(t.cycles(), 1);
        assert_eq!(t.extended_max_seq(), 0x0001_0004);
    }

    #[test]
    fn wrap_during_probation() {
        let mut t = SeqTracker::new();
        assert_eq!(feed(&mut t, &[65535, 0, 1]), [false, true, true]);
        assert_eq!((t.base_seq(), t.cycles(), t.expected()), (0, 0, 2));
    }

    #[test]
    fn large_jump_resyncs_after_two_sequential() {
        let mut t = SeqTracker::new();
        feed(&mut t, &(1000..1006).collect::<Vec<_>>());
        // A lone stray packet far away is ignored...
        assert!(!t.update_seq(30000));
        assert!(t.update_seq(1006));
        assert_eq!((t.expected(), t.received()), (6, 6));
        // ...but two in sequence mean the sender restarted.
        assert!(!t.update_seq(40000));
        assert!(t.update_seq(40001));
        assert_eq!(t.base_seq(), 40001);
        assert_eq!((t.expected(), t.received(), t.lost()), (1, 1, 0));
        // A jump of MAX_DROPOUT - 1 is still a gap, not a restart.
        assert!(t.update_seq(40001 + MAX_DROPOUT - 1));
        assert_eq!(t.lost(), i32::from(MAX_DROPOUT) - 2);
    }

    #[test]
    fn no_probation() {
        let mut t = SeqTracker::with_min_sequential(0);
        assert!(t.update_seq(0));
        assert_eq!(
            (t.base_seq(), t.cycles(), t.expected(), t.received()),
            (0, 0, 1, 1)
        );
        let mut t = SeqTracker::with_min_sequential(1);
        assert!(t.update_seq(7));
        assert_eq!((t.base_seq(), t.expected(), t.received()), (7, 1, 1));
    }

    #[test]
    fn cumulative_loss_clamps_to_24_bits() {
        let mut t = SeqTracker::new();
        t.update_seq(0);
        t.update_seq(1);
        let mut seq = 1u16;
        for _ in 0..3000 {
            seq = seq.wrapping_add(MAX_DROPOUT - 1);
            assert!(t.update_seq(seq));
        }
        assert_eq!(t.received(), 3001);
        assert_eq!(t.expected(), 2999 * 3000 + 1);
        assert_eq!(t.lost(), 0x7f_ffff);
        assert!(t.take_interval().fraction_lost > 250);
    }

    #[test]
    fn jitter_hand_computed() {
        // 8 kHz, 20 ms packets; arrival in timestamp units with transit 1000, 1000, 1020,
        // 1000, 1000 -> |D| = 0, 20, 20, 0.
        // J16: 0, 0 + 20 - 0 = 20, 20 + 20 - (28 >> 4) = 39, 39 + 0 - (47 >> 4) = 37.
        // (Float: 0, 1.25, 2.42, 2.27.)
        let mut j = Jitter::new();
        let packets = [
            (0, 1000),
            (160, 1160),
            (320, 1340),
            (480, 1480),
            (640, 1640),
        ];
        let mut seen = Vec::new();
        for (ts, arrival) in packets {
            j.update(ts, arrival);
            seen.push((j.jitter_q4(), j.jitter()));
        }
        assert_eq!(seen, [(0, 0), (0, 0), (20, 1), (39, 2), (37, 2)]);
    }

    #[test]
    fn jitter_constant_delay_and_wraps() {
        let mut j = Jitter::new();
        for i in 0..50u32 {
            // Both clocks wrap past u32::MAX mid-way; constant transit gives zero jitter.
            let ts = (u32::MAX - 1000).wrapping_add(i * 160);
            j.update(ts, ts.wrapping_add(12345));
        }
        assert_eq!(j.jitter(), 0);
        // Same alternating 80-unit delay sequence with and without clock wrap.
        let run = |base: u32| {
            let mut j = Jitter::new();
            for i in 0..40u32 {
                let ts = base.wrapping_add(i * 160);
                j.update(ts, ts.wrapping_add(if i % 2 == 0 { 0 } else { 80 }));
            }
            j.jitter()
        };
        assert_eq!(run(0), run(u32::MAX - 3000));
        // Converges towards |D| = 80.
        assert!((70..=80).contains(&run(0)));
    }

    #[test]
    fn jitter_extreme_input_does_not_overflow() {
        let mut j = Jitter::new();
        for i in 0..10_000u32 {
            let arrival = if i % 2 == 0 { 0 } else { 0x8000_0000 };
            j.update(0, arrival);
        }
        assert!(j.jitter() >= 0x7000_0000);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_sequences_never_panic(
            seqs in proptest::collection::vec(proptest::num::u16::ANY, 0..64),
            min in 0u32..4,
        ) {
            let mut t = SeqTracker::with_min_sequential(min);
            let mut j = Jitter::new();
            for &s in &seqs {
                t.update_seq(s);
                j.update(u32::from(s).wrapping_mul(2_654_435_761), u32::from(s) << 7);
                let _ = (t.expected(), t.lost(), t.extended_max_seq(), j.jitter());
                let i = t.take_interval();
                proptest::prop_assert!(i.lost <= i64::from(i.expected));
            }
        }
    }
}
