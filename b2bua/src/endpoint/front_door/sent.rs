//! The requests the front door sent itself (REGISTERs forwarded to a core registrar, OPTIONS
//! keepalives) and awaits answers to, by branch, with when each is given up (64·T1, RFC 3261
//! §17.1.2.2 Timer F). Their deadlines sit in a queue, so the endpoint's `poll_timeout` after
//! every input and its timer read only the earliest instead of every request in flight.

use crate::edge::customers::KeepaliveRef;
use crate::edge::registrar::deadlines::Deadlines;
use crate::stack::ids::Branch;
use crate::Map;
use std::time::Instant;

/// A request the front door sent and waits an answer for.
#[derive(Debug)]
pub(in crate::endpoint) enum Pending {
    /// A REGISTER forwarded to a core registrar.
    Register,
    /// An OPTIONS keepalive.
    Ping {
        /// The realm of the binding.
        realm: String,
        /// The binding.
        binding: KeepaliveRef,
    },
}

/// The front door's requests in flight, by branch.
#[derive(Debug, Default)]
pub(super) struct Sent {
    by_branch: Map<Branch, (Pending, Instant)>,
    due: Deadlines<Branch>,
}

impl Sent {
    /// Records a request sent with `branch`, given up at `until`.
    pub(super) fn insert(&mut self, branch: Branch, pending: Pending, until: Instant) {
        self.due.push(until, branch.clone());
        self.by_branch.insert(branch, (pending, until));
        self.settle();
    }

    /// The request sent with `branch`, if still awaited.
    pub(super) fn get(&self, branch: &str) -> Option<&Pending> {
        self.by_branch.get(branch).map(|(p, _)| p)
    }

    /// Forgets the request sent with `branch` (answered).
    pub(super) fn remove(&mut self, branch: &str) {
        self.by_branch.remove(branch);
        self.settle();
    }

    /// Forgets every request whose time is up at `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some((at, branch)) = self.due.pop_due(now) {
            if self.by_branch.get(&branch).is_some_and(|(_, u)| *u == at) {
                self.by_branch.remove(&branch);
            }
        }
        self.settle();
    }

    /// When the earliest request in flight is given up.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.due.next()
    }

    /// How many requests are awaited.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_branch.len()
    }

    fn settle(&mut self) {
        let by_branch = &self.by_branch;
        self.due.settle(
            by_branch.len(),
            |at, b| by_branch.get(b).is_some_and(|(_, u)| *u == at),
            || by_branch.iter().map(|(b, (_, u))| (*u, b.clone())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_earliest_request_in_flight_sets_the_deadline_and_answers_move_it() {
        let t0 = Instant::now();
        let mut sent = Sent::default();
        // 500 requests sent 10 ms apart, each given up 32 s later.
        for i in 0..500u64 {
            let at = t0 + Duration::from_millis(10 * i);
            sent.insert(
                Branch::from(format!("b{i}")),
                Pending::Register,
                at + 32 * S,
            );
        }
        assert_eq!(sent.next_deadline(), Some(t0 + 32 * S));
        // The first two are answered: the deadline is the third's.
        sent.remove("b0");
        sent.remove("b1");
        assert!(sent.get("b0").is_none());
        assert!(matches!(sent.get("b2"), Some(Pending::Register)));
        assert_eq!(
            sent.next_deadline(),
            Some(t0 + Duration::from_millis(32_020))
        );
        // At 33 s those sent up to 1 s are given up (b100's time is up at exactly 33 s), the
        // rest still awaited.
        sent.expire(t0 + 33 * S);
        assert_eq!(sent.len(), 399);
        assert!(sent.get("b100").is_none());
        assert!(sent.get("b101").is_some());
        assert_eq!(
            sent.next_deadline(),
            Some(t0 + Duration::from_millis(33_010))
        );
        sent.expire(t0 + 40 * S);
        assert_eq!(sent.len(), 0);
        assert_eq!(sent.next_deadline(), None);
    }
}
