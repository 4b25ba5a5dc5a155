//! Moving large requests from UDP to TCP (RFC 3261 §18.1.1): which requests move, and keeping a
//! moved request's retransmissions, CANCEL and non-2xx ACK (all with its top Via branch) on the
//! same transport. Time is passed in.

use super::too_large_for_udp;
use crate::stack::ids::Branch;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How a request leaves (RFC 3261 §18.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// Over UDP as written.
    Udp,
    /// Over TCP, its top Via rewritten to say so.
    Tcp,
    /// Not at all: a UDP retransmission of something already sent over TCP, which is reliable
    /// (RFC 3261 §17.1.1.2, §17.1.2.2).
    Skip,
}

#[derive(Debug)]
struct Moved {
    /// Fingerprints of the messages of this branch already sent over TCP.
    sent: Vec<u64>,
    /// The connection was refused, so the branch goes over UDP after all (§18.1.1).
    fell_back: bool,
    expires: Instant,
}

/// The requests moved to TCP, by top Via branch (RFC 3261 §18.1.1).
#[derive(Debug)]
pub struct Switchover {
    moved: HashMap<Branch, Moved>,
    ttl: Duration,
    max_entries: usize,
}

impl Switchover {
    /// Remembers each moved branch for `ttl` (it must outlive the INVITE transaction, timer C
    /// included, so that a late CANCEL follows), at most `max_entries` at once.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            moved: HashMap::new(),
            ttl,
            max_entries,
        }
    }

    /// How many branches are remembered.
    pub fn len(&self) -> usize {
        self.moved.len()
    }

    /// Whether no branch is remembered, so that small requests need no look-up.
    pub fn is_empty(&self) -> bool {
        self.moved.is_empty()
    }

    /// How a UDP request of `len` bytes with top Via `branch` and content `fingerprint` leaves:
    /// a new request over 1300 bytes goes over TCP when `tcp_allowed` (the route allows it and
    /// the interface has a TCP address); later messages of a moved branch follow it, except
    /// repeats of bytes already sent (RFC 3261 §18.1.1).
    pub fn carrier(
        &mut self,
        now: Instant,
        branch: &str,
        fingerprint: u64,
        len: usize,
        tcp_allowed: bool,
    ) -> Carrier {
        if let Some(m) = self.moved.get_mut(branch) {
            if m.fell_back {
                return Carrier::Udp;
            }
            if m.sent.contains(&fingerprint) {
                return Carrier::Skip;
            }
            m.sent.push(fingerprint);
            return Carrier::Tcp;
        }
        if !(tcp_allowed && too_large_for_udp(len)) {
            return Carrier::Udp;
        }
        if self.moved.len() >= self.max_entries {
            self.expire(now);
            if self.moved.len() >= self.max_entries {
                return Carrier::Udp;
            }
        }
        self.moved.insert(
            branch.into(),
            Moved {
                sent: vec![fingerprint],
                fell_back: false,
                expires: now + self.ttl,
            },
        );
        Carrier::Tcp
    }

    /// The TCP connection for `branch` was refused: it and what follows go over UDP
    /// (RFC 3261 §18.1.1).
    pub fn fall_back(&mut self, branch: &str) {
        if let Some(m) = self.moved.get_mut(branch) {
            m.fell_back = true;
        }
    }

    /// Forgets branches older than the time to live.
    pub fn expire(&mut self, now: Instant) {
        self.moved.retain(|_, m| m.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: usize = 1500;
    const SMALL: usize = 400;

    fn switchover() -> Switchover {
        Switchover::new(Duration::from_secs(240), 100)
    }

    #[test]
    fn a_large_request_moves_and_its_retransmissions_are_skipped() {
        let t0 = Instant::now();
        let mut s = switchover();
        assert_eq!(s.carrier(t0, "z9hG4bK1", 11, BIG, true), Carrier::Tcp);
        assert_eq!(s.carrier(t0, "z9hG4bK1", 11, BIG, true), Carrier::Skip);
        // Its CANCEL and ACK (other bytes, same branch) follow it, even though small, once each.
        assert_eq!(s.carrier(t0, "z9hG4bK1", 12, SMALL, true), Carrier::Tcp);
        assert_eq!(s.carrier(t0, "z9hG4bK1", 12, SMALL, true), Carrier::Skip);
        // Other branches are not affected.
        assert_eq!(s.carrier(t0, "z9hG4bK2", 21, SMALL, true), Carrier::Udp);
    }

    #[test]
    fn small_or_disallowed_requests_stay_on_udp_with_their_retransmissions() {
        let t0 = Instant::now();
        let mut s = switchover();
        assert_eq!(s.carrier(t0, "z9hG4bK1", 11, 1300, true), Carrier::Udp);
        for _ in 0..2 {
            assert_eq!(s.carrier(t0, "z9hG4bK3", 31, BIG, false), Carrier::Udp);
        }
        assert!(
            s.is_empty(),
            "nothing remembered for requests that did not move"
        );
    }

    #[test]
    fn a_refused_branch_goes_back_to_udp() {
        let t0 = Instant::now();
        let mut s = switchover();
        assert_eq!(s.carrier(t0, "z9hG4bK1", 11, BIG, true), Carrier::Tcp);
        s.fall_back("z9hG4bK1");
        assert_eq!(s.carrier(t0, "z9hG4bK1", 11, BIG, true), Carrier::Udp);
        assert_eq!(s.carrier(t0, "z9hG4bK1", 12, SMALL, true), Carrier::Udp);
    }

    #[test]
    fn branches_are_forgotten_after_their_time_and_the_table_is_capped() {
        let t0 = Instant::now();
        let mut s = Switchover::new(Duration::from_secs(10), 2);
        assert_eq!(s.carrier(t0, "a", 1, BIG, true), Carrier::Tcp);
        assert_eq!(s.carrier(t0, "b", 2, BIG, true), Carrier::Tcp);
        assert_eq!(s.carrier(t0, "c", 3, BIG, true), Carrier::Udp, "full");
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            s.carrier(later, "c", 3, BIG, true),
            Carrier::Tcp,
            "expired ones made room"
        );
        s.expire(later + Duration::from_secs(10));
        assert!(s.is_empty());
    }
}
