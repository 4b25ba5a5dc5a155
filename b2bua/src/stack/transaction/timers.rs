//! Transaction timers A–M with their RFC 3261 names, computed from T1/T2/T4 (RFC 3261 §17,
//! Table 4 in Appendix A; RFC 6026 §8.4, §8.7 for L and M).

use std::time::{Duration, Instant};

/// The base timer values every transaction timer derives from (RFC 3261 §17.1.1.1, Appendix A).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the round-trip time estimate (RFC 3261 Appendix A: 500 ms).
    pub t1: Duration,
    /// T2, the longest retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// T4, the longest time a message stays in the network (5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// The least value of timer D over unreliable transports (RFC 3261 §17.1.1.2: at least 32 s).
pub const TIMER_D_UNRELIABLE: Duration = Duration::from_secs(32);

impl TimerConfig {
    /// 64*T1, the value of timers B, F, H, J (unreliable), L and M (RFC 3261 Appendix A).
    pub fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D: 32 s over unreliable transports, zero over reliable ones (RFC 3261 §17.1.1.2).
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            TIMER_D_UNRELIABLE
        }
    }

    /// Timers I and K: T4 over unreliable transports, zero over reliable ones
    /// (RFC 3261 §17.2.1, §17.1.2.2).
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: 64*T1 over unreliable transports, zero over reliable ones (RFC 3261 §17.2.2).
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1_x64()
        }
    }

    /// The next retransmit interval after `prev` for timers E and G: doubled, capped at T2
    /// (RFC 3261 §17.1.2.2, §17.2.1).
    pub fn backoff_capped(&self, prev: Duration) -> Duration {
        prev.saturating_mul(2).min(self.t2)
    }
}

/// The transaction timers by their RFC 3261 letter (RFC 3261 Appendix A; L and M from RFC 6026).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmit interval, unreliable only (RFC 3261 §17.1.1.2).
    A,
    /// INVITE transaction timeout (RFC 3261 §17.1.1.2).
    B,
    /// Wait time for response retransmits in INVITE client Completed (RFC 3261 §17.1.1.2).
    D,
    /// Non-INVITE request retransmit interval, unreliable only (RFC 3261 §17.1.2.2).
    E,
    /// Non-INVITE transaction timeout (RFC 3261 §17.1.2.2).
    F,
    /// INVITE final response retransmit interval, unreliable only (RFC 3261 §17.2.1).
    G,
    /// Wait time for ACK receipt (RFC 3261 §17.2.1).
    H,
    /// Wait time for ACK retransmits in INVITE server Confirmed (RFC 3261 §17.2.1).
    I,
    /// Wait time for non-INVITE request retransmits (RFC 3261 §17.2.2).
    J,
    /// Wait time for non-INVITE response retransmits (RFC 3261 §17.1.2.2).
    K,
    /// Wait time for INVITE retransmits and 2xx in INVITE server Accepted (RFC 6026 §8.7).
    L,
    /// Wait time for 2xx retransmits in INVITE client Accepted (RFC 6026 §8.4).
    M,
}

impl Timer {
    /// How many timers there are (RFC 3261 Appendix A plus RFC 6026).
    pub const COUNT: usize = 12;

    /// Every timer, in table order (RFC 3261 Appendix A).
    pub const ALL: [Self; Self::COUNT] = [
        Self::A,
        Self::B,
        Self::D,
        Self::E,
        Self::F,
        Self::G,
        Self::H,
        Self::I,
        Self::J,
        Self::K,
        Self::L,
        Self::M,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per timer kind, quinn-style: a fixed array, no allocation
/// (RFC 3261 §17 timers).
///
/// Deadlines are kept as microseconds after a base instant (64 bytes, not 192: tens of
/// thousands of transactions wait out timers J, L and M at once). The base is the first deadline
/// set while none is armed; a deadline before it, or more than 71 minutes after it, moves it to
/// the earliest deadline armed. Only deadlines more than 71 minutes apart at once (64·T1 is at
/// most 64 minutes) are brought forward to that limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerTable {
    base: Option<Instant>,
    /// Each timer's deadline in µs after `base`, plus one; 0 when disarmed.
    slots: [u32; Timer::COUNT],
}

impl TimerTable {
    fn offset(base: Instant, at: Instant) -> u32 {
        let d = at.saturating_duration_since(base);
        // Rounded up, so that a timer never fires early.
        let us = d.as_micros() + u128::from(!d.subsec_nanos().is_multiple_of(1000));
        u32::try_from(us).unwrap_or(u32::MAX - 1).min(u32::MAX - 1) + 1
    }

    fn deadline(&self, slot: u32) -> Option<Instant> {
        let base = self.base?;
        let us = slot.checked_sub(1)?;
        Some(base + Duration::from_micros(u64::from(us)))
    }

    /// Arms `timer` to fire `after` from `now`; a deadline past what `Instant` can hold never
    /// fires (RFC 3261 §17).
    pub fn start(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.set(timer, now.checked_add(after));
    }

    /// Sets `timer`'s deadline directly, `None` disarming it (RFC 3261 §17).
    pub fn set(&mut self, timer: Timer, at: Option<Instant>) {
        let Some(at) = at else {
            if let Some(slot) = self.slots.get_mut(timer.index()) {
                *slot = 0;
            }
            return;
        };
        if let Some(s) = self.slots.get_mut(timer.index()) {
            *s = 0;
        }
        // The others' deadlines, to keep where they are if the base moves.
        let armed = self.slots.map(|s| self.deadline(s));
        match self.base {
            // Nothing else armed (say after stop_all, or a transaction that rang for an hour):
            // start afresh from this deadline.
            _ if armed.iter().all(Option::is_none) => self.base = Some(at),
            // Before the base, or too far after it: re-base on the earliest deadline.
            Some(base) if at < base || Self::offset(base, at) == u32::MAX => {
                let earliest = armed.iter().flatten().fold(at, |a, &b| a.min(b));
                self.base = Some(earliest);
                for (slot, when) in self.slots.iter_mut().zip(armed) {
                    if let Some(when) = when {
                        *slot = Self::offset(earliest, when);
                    }
                }
            }
            Some(_) => {}
            None => self.base = Some(at),
        }
        let base = self.base.unwrap_or(at);
        if let Some(slot) = self.slots.get_mut(timer.index()) {
            *slot = Self::offset(base, at);
        }
    }

    /// Disarms `timer` (RFC 3261 §17).
    pub fn stop(&mut self, timer: Timer) {
        self.set(timer, None);
    }

    /// Disarms every timer, as entering Terminated does (RFC 3261 §17).
    pub fn stop_all(&mut self) {
        self.slots = [0; Timer::COUNT];
        self.base = None;
    }

    /// When `timer` fires, if armed (RFC 3261 §17).
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadline(*self.slots.get(timer.index())?)
    }

    /// The earliest armed deadline (RFC 3261 §17).
    pub fn next_deadline(&self) -> Option<Instant> {
        let earliest = self.slots.iter().filter(|s| **s != 0).min()?;
        self.deadline(*earliest)
    }

    /// Disarms and returns the earliest timer whose deadline is at or before `now`
    /// (RFC 3261 §17); ties go to the earlier letter.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (timer, _) = Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).map(|at| (t, at)))
            .filter(|&(_, at)| at <= now)
            .min_by_key(|&(t, at)| (at, t))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_deadlines_are_exact_rebased_and_never_early() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.start(Timer::H, t0, Duration::from_secs(32));
        // An earlier deadline than the first one moves the base; H stays where it was.
        t.start(
            Timer::I,
            t0 + Duration::from_secs(1),
            Duration::from_secs(5),
        );
        assert_eq!(t.get(Timer::H), Some(t0 + Duration::from_secs(32)));
        assert_eq!(t.get(Timer::I), Some(t0 + Duration::from_secs(6)));
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(6)));
        // Sub-microsecond deadlines round up, never down.
        t.start(
            Timer::G,
            t0 + Duration::from_secs(7),
            Duration::from_nanos(1500),
        );
        let g = t.get(Timer::G).unwrap();
        assert!(
            g >= t0 + Duration::from_secs(7) + Duration::from_nanos(1500),
            "{g:?}"
        );
        assert!(
            g <= t0 + Duration::from_secs(7) + Duration::from_micros(2),
            "{g:?}"
        );
        assert_eq!(t.pop_expired(t0 + Duration::from_secs(6)), Some(Timer::I));
        assert_eq!(t.pop_expired(t0 + Duration::from_secs(6)), None);
        // Past 71 minutes a deadline fires at the limit instead of never.
        t.start(Timer::D, t0, Duration::from_secs(5 * 3600));
        let d = t.get(Timer::D).unwrap();
        assert!(
            d > t0 + Duration::from_secs(4000) && d < t0 + Duration::from_secs(4400),
            "{d:?}"
        );
        t.stop_all();
        assert_eq!(t.next_deadline(), None);
        // An INVITE that rang for two hours: timer M after its 2xx is still exact.
        let mut c = TimerTable::default();
        c.start(Timer::B, t0, Duration::from_secs(32));
        let answered = t0 + Duration::from_secs(7200);
        c.stop(Timer::B);
        c.start(Timer::M, answered, Duration::from_secs(32));
        assert_eq!(c.get(Timer::M), Some(answered + Duration::from_secs(32)));
        // Also with another timer armed far before it: the base moves to the earliest one.
        c.start(
            Timer::D,
            t0 + Duration::from_secs(7000),
            Duration::from_secs(1),
        );
        c.start(Timer::K, answered, Duration::from_secs(5));
        assert_eq!(c.get(Timer::K), Some(answered + Duration::from_secs(5)));
        assert_eq!(c.get(Timer::D), Some(t0 + Duration::from_secs(7001)));
        assert!(size_of::<TimerTable>() <= 64);
    }

    #[test]
    fn defaults_are_rfc3261_appendix_a() {
        let c = TimerConfig::default();
        assert_eq!(c.t1, Duration::from_millis(500));
        assert_eq!(c.t2, Duration::from_secs(4));
        assert_eq!(c.t4, Duration::from_secs(5));
        assert_eq!(c.t1_x64(), Duration::from_secs(32));
        assert_eq!(c.timer_d(false), Duration::from_secs(32));
        assert_eq!(c.timer_d(true), Duration::ZERO);
        assert_eq!(c.t4_or_zero(false), Duration::from_secs(5));
        assert_eq!(c.t4_or_zero(true), Duration::ZERO);
        assert_eq!(c.timer_j(false), Duration::from_secs(32));
        assert_eq!(c.timer_j(true), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_and_caps_at_t2() {
        let c = TimerConfig::default();
        let mut d = c.t1;
        let mut seen = Vec::new();
        for _ in 0..6 {
            d = c.backoff_capped(d);
            seen.push(d.as_millis());
        }
        assert_eq!(seen, [1000, 2000, 4000, 4000, 4000, 4000]);
    }

    #[test]
    fn table_pops_earliest_expired_first() {
        let t0 = Instant::now();
        let ms = |x| t0 + Duration::from_millis(x);
        let mut t = TimerTable::default();
        assert_eq!(t.next_deadline(), None);
        t.start(Timer::B, t0, Duration::from_millis(300));
        t.start(Timer::A, t0, Duration::from_millis(100));
        t.start(Timer::D, t0, Duration::from_millis(100));
        assert_eq!(t.next_deadline(), Some(ms(100)));
        assert_eq!(t.pop_expired(ms(99)), None);
        assert_eq!(t.pop_expired(ms(200)), Some(Timer::A));
        assert_eq!(t.pop_expired(ms(200)), Some(Timer::D));
        assert_eq!(t.pop_expired(ms(200)), None);
        assert_eq!(t.get(Timer::B), Some(ms(300)));
        t.stop(Timer::B);
        assert_eq!(t.next_deadline(), None);
        t.start(Timer::M, t0, Duration::MAX);
        assert_eq!(
            t.get(Timer::M),
            None,
            "unrepresentable deadline never fires"
        );
    }
}
