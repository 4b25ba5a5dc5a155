//! The keepalive schedule of one binding behind NAT (RFC 5626 §4.4, RFC 6223 in spirit): a ping
//! every interval, a ping still unanswered when the next is due counts as a miss, and
//! `max_misses` misses in a row mean the flow is dead.

use std::time::{Duration, Instant};

/// What the schedule wants at a timer tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveStep {
    /// Nothing yet.
    Wait,
    /// Send a keepalive now.
    Send,
    /// Too many misses: remove the binding.
    Remove,
}

/// One binding's keepalive state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepaliveState {
    pub(crate) next_at: Instant,
    outstanding: bool,
    pub(crate) misses: u32,
}

impl KeepaliveState {
    /// A schedule whose first ping is one interval from `now`.
    pub(crate) fn new(now: Instant, interval: Duration) -> Self {
        Self {
            next_at: now + interval,
            outstanding: false,
            misses: 0,
        }
    }

    /// Advances the schedule at `now`; `missed` is set when this tick counted a miss.
    pub(crate) fn on_timer(
        &mut self,
        now: Instant,
        interval: Duration,
        max_misses: u32,
        missed: &mut bool,
    ) -> KeepaliveStep {
        if self.next_at > now {
            return KeepaliveStep::Wait;
        }
        if self.outstanding {
            self.misses += 1;
            *missed = true;
            if self.misses >= max_misses {
                return KeepaliveStep::Remove;
            }
        }
        self.outstanding = true;
        self.next_at = now + interval;
        KeepaliveStep::Send
    }

    /// The peer answered: misses start again from zero.
    pub(crate) fn answered(&mut self) {
        self.outstanding = false;
        self.misses = 0;
    }

    /// A ping failed for sure; returns whether the binding must go.
    pub(crate) fn failed(&mut self, max_misses: u32) -> bool {
        self.outstanding = false;
        self.misses += 1;
        self.misses >= max_misses
    }
}
