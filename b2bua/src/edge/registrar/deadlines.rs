//! The deadline queue the registrar and the registration cache keep their expiries and
//! keepalives in, so a timer tick and a `poll_timeout` touch only what is due instead of every
//! binding. A binding whose deadline moves gets a new entry; the old one is dropped when it
//! reaches the top ([`Deadlines::settle`]) or comes due, and the queue is rebuilt once stale
//! entries outnumber live ones (a customer refreshing every second leaves one behind each time).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Deadlines by key, earliest first; ties go to the smaller key.
#[derive(Debug)]
pub(crate) struct Deadlines<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Clone> Deadlines<K> {
    /// Queues `key` for `at`; an earlier entry of the same key is left to go stale.
    pub(crate) fn push(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest queued deadline (exact once [`Deadlines::settle`] ran after the last change).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|r| r.0 .0)
    }

    /// Takes the earliest entry if it is due at `now`; the caller checks it is still live.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|r| r.0)
    }

    /// Drops stale entries (`is_live` false) from the top, and rebuilds the queue from `all`
    /// once it holds more than twice `live` entries (plus slack).
    pub(crate) fn settle<I>(
        &mut self,
        live: usize,
        is_live: impl Fn(Instant, &K) -> bool,
        all: impl FnOnce() -> I,
    ) where
        I: IntoIterator<Item = (Instant, K)>,
    {
        if self.heap.len() > 2 * live + 64 {
            self.heap = all().into_iter().map(Reverse).collect();
            return;
        }
        while let Some(Reverse((at, key))) = self.heap.peek() {
            if is_live(*at, key) {
                break;
            }
            self.heap.pop();
        }
    }

    /// How many entries are queued, live and stale.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
