//! Relay port pool for one interface.
//!
//! RTP ports are even and RTCP uses RTP + 1 (RFC 3550 §11), or the RTP port
//! itself with rtcp-mux (RFC 5761). The pool hands out even ports of
//! `[min, max - 1]` so that the RTCP companion `port + 1` never leaves the
//! range. The free list is shuffled once with a seeded SplitMix64 PRNG (no
//! clock or OS randomness inside) and reused FIFO: a released port goes to the
//! back of the queue, so it is handed out again only after every other free
//! port, which makes ports hard to guess and keeps late packets of an old call
//! away from a new one (like rtpengine's port allocation).

use std::collections::VecDeque;

use thiserror::Error;

/// Errors of the [`PortPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PortError {
    /// The configured range contains no even RTP port whose RTCP port is in range too.
    #[error("port range {min}-{max} holds no even RTP/RTCP port pair")]
    InvalidRange {
        /// Lower bound of the configured range.
        min: u16,
        /// Upper bound of the configured range.
        max: u16,
    },
    /// Every RTP port of the range is in use.
    #[error("no free RTP port left in range {min}-{max}")]
    Exhausted {
        /// Lower bound of the configured range.
        min: u16,
        /// Upper bound of the configured range.
        max: u16,
    },
    /// The released port is not an RTP port of this pool (odd, or out of range).
    #[error("port {port} is not an RTP port of range {min}-{max}")]
    Foreign {
        /// The port that was passed in.
        port: u16,
        /// Lower bound of the configured range.
        min: u16,
        /// Upper bound of the configured range.
        max: u16,
    },
    /// The released port belongs to the pool but is not allocated (double release).
    #[error("port {port} is not allocated")]
    NotAllocated {
        /// The port that was passed in.
        port: u16,
    },
}

/// Returns the RTCP port paired with an RTP port (RTP + 1, RFC 3550 §11), if it exists.
#[must_use]
pub fn rtcp_port(rtp_port: u16) -> Option<u16> {
    rtp_port.checked_add(1)
}

/// SplitMix64 step: a tiny, seedable, non-cryptographic PRNG.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform index in `0..n` (Lemire's multiply-shift; `n` must be non-zero).
fn bounded(state: &mut u64, n: usize) -> usize {
    let r = u128::from(splitmix64(state));
    // usize -> u128 is lossless; the high word of the product is < n.
    let n = n as u128;
    usize::try_from((r * n) >> 64).unwrap_or(0)
}

/// Pool of even RTP ports of one interface, shuffled once and reused FIFO.
#[derive(Debug, Clone)]
pub struct PortPool {
    min: u16,
    max: u16,
    /// First even port of the range; slot `i` is port `first + 2 * i`.
    first: u16,
    free: VecDeque<u16>,
    allocated: Vec<bool>,
}

impl PortPool {
    /// Builds the pool of even ports in `[min, max - 1]`, shuffled with `seed`.
    ///
    /// Port 0 is never handed out; a range without any even port `p` with
    /// `p + 1 <= max` is [`PortError::InvalidRange`].
    pub fn new(min: u16, max: u16, seed: u64) -> Result<Self, PortError> {
        let invalid = PortError::InvalidRange { min, max };
        let lo = u32::from(min.max(1));
        let first = lo + (lo & 1);
        let max32 = u32::from(max);
        if first + 1 > max32 {
            return Err(invalid);
        }
        let count = usize::try_from((max32 - 1 - first) / 2 + 1).map_err(|_| invalid)?;
        let first = u16::try_from(first).map_err(|_| invalid)?;
        let mut ports: Vec<u16> = (0..count)
            .filter_map(|i| u16::try_from(u32::from(first) + 2 * u32::try_from(i).ok()?).ok())
            .collect();
        let mut state = seed;
        for i in (1..ports.len()).rev() {
            let j = bounded(&mut state, i + 1);
            ports.swap(i, j);
        }
        Ok(Self {
            min,
            max,
            first,
            free: ports.into(),
            allocated: vec![false; count],
        })
    }

    /// Takes the port at the front of the free queue.
    pub fn allocate(&mut self) -> Result<u16, PortError> {
        let port = self.free.pop_front().ok_or(PortError::Exhausted {
            min: self.min,
            max: self.max,
        })?;
        if let Some(slot) = self.slot(port).and_then(|i| self.allocated.get_mut(i)) {
            *slot = true;
        }
        Ok(port)
    }

    /// Returns an allocated port to the back of the free queue.
    ///
    /// A foreign port or a double release is an error and leaves the pool unchanged.
    pub fn release(&mut self, port: u16) -> Result<(), PortError> {
        let foreign = PortError::Foreign {
            port,
            min: self.min,
            max: self.max,
        };
        let slot = self
            .slot(port)
            .and_then(|i| self.allocated.get_mut(i))
            .ok_or(foreign)?;
        if !*slot {
            return Err(PortError::NotAllocated { port });
        }
        *slot = false;
        self.free.push_back(port);
        Ok(())
    }

    /// Tells whether `port` is currently allocated from this pool.
    #[must_use]
    pub fn is_allocated(&self, port: u16) -> bool {
        self.slot(port)
            .and_then(|i| self.allocated.get(i))
            .copied()
            .unwrap_or(false)
    }

    /// Number of ports currently allocated.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.allocated.len() - self.free.len()
    }

    /// Number of ports currently free.
    #[must_use]
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Total number of RTP ports managed by the pool.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.allocated.len()
    }

    /// The configured `(min, max)` range.
    #[must_use]
    pub fn range(&self) -> (u16, u16) {
        (self.min, self.max)
    }

    /// Slot index of an even in-range port.
    fn slot(&self, port: u16) -> Option<usize> {
        let off = port.checked_sub(self.first)?;
        if off % 2 != 0 {
            return None;
        }
        let i = usize::from(off / 2);
        (i < self.allocated.len()).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn drain(pool: &mut PortPool) -> Vec<u16> {
        let mut out = Vec::new();
        while let Ok(p) = pool.allocate() {
            out.push(p);
        }
        out
    }

    #[test]
    fn all_ports_distinct_even_and_in_range() {
        let mut pool = PortPool::new(30000, 30100, 7).unwrap();
        assert_eq!(pool.capacity(), 50);
        let ports = drain(&mut pool);
        assert_eq!(ports.len(), 50);
        let set: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(set.len(), 50);
        for p in ports {
            assert_eq!(p % 2, 0);
            assert!((30000..=30098).contains(&p));
            assert!(rtcp_port(p).unwrap() <= 30100);
        }
    }

    #[test]
    fn odd_bounds_are_rounded_inwards() {
        let mut pool = PortPool::new(30001, 30006, 1).unwrap();
        let mut ports = drain(&mut pool);
        ports.sort_unstable();
        assert_eq!(ports, vec![30002, 30004]);
        let mut top = PortPool::new(65530, 65535, 1).unwrap();
        let mut ports = drain(&mut top);
        ports.sort_unstable();
        assert_eq!(ports, vec![65530, 65532, 65534]);
        assert_eq!(rtcp_port(65535), None);
    }

    #[test]
    fn invalid_ranges_are_errors() {
        assert_eq!(
            PortPool::new(40000, 30000, 1).unwrap_err(),
            PortError::InvalidRange {
                min: 40000,
                max: 30000
            }
        );
        assert!(PortPool::new(30001, 30002, 1).is_err());
        assert!(PortPool::new(30000, 30000, 1).is_err());
        assert!(PortPool::new(0, 1, 1).is_err());
        // Port 0 is never handed out.
        let mut pool = PortPool::new(0, 3, 1).unwrap();
        assert_eq!(drain(&mut pool), vec![2]);
    }

    #[test]
    fn exhaustion_is_an_error_naming_the_range() {
        let mut pool = PortPool::new(20000, 20005, 3).unwrap();
        assert_eq!(drain(&mut pool).len(), 3);
        let err = pool.allocate().unwrap_err();
        assert_eq!(
            err,
            PortError::Exhausted {
                min: 20000,
                max: 20005
            }
        );
        assert!(err.to_string().contains("20000-20005"));
        assert_eq!(pool.in_use(), 3);
        assert_eq!(pool.free(), 0);
    }

    #[test]
    fn released_port_is_reused_last() {
        let mut pool = PortPool::new(10000, 10020, 99).unwrap();
        let a = pool.allocate().unwrap();
        pool.release(a).unwrap();
        let rest = drain(&mut pool);
        assert_eq!(rest.len(), 10);
        assert_eq!(rest.last(), Some(&a));
        assert!(!rest[..9].contains(&a));
    }

    #[test]
    fn fifo_reuse_order_of_several_releases() {
        let mut pool = PortPool::new(10000, 10010, 5).unwrap();
        let all = drain(&mut pool);
        assert_eq!(all.len(), 5);
        pool.release(all[3]).unwrap();
        pool.release(all[0]).unwrap();
        pool.release(all[4]).unwrap();
        assert_eq!(pool.allocate().unwrap(), all[3]);
        assert_eq!(pool.allocate().unwrap(), all[0]);
        assert_eq!(pool.allocate().unwrap(), all[4]);
    }

    #[test]
    fn seed_determinism_and_different_seeds() {
        let a = drain(&mut PortPool::new(30000, 32000, 42).unwrap());
        let b = drain(&mut PortPool::new(30000, 32000, 42).unwrap());
        let c = drain(&mut PortPool::new(30000, 32000, 43).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_ne!(a, sorted, "order must be shuffled");
    }

    #[test]
    fn double_and_foreign_release_rejected_without_corruption() {
        let mut pool = PortPool::new(10000, 10010, 5).unwrap();
        let p = pool.allocate().unwrap();
        assert!(pool.is_allocated(p));
        pool.release(p).unwrap();
        assert!(!pool.is_allocated(p));
        assert_eq!(
            pool.release(p).unwrap_err(),
            PortError::NotAllocated { port: p }
        );
        // A never-allocated pool port is a double release too.
        let q = (10000..10010).step_by(2).find(|&x| x != p).unwrap();
        assert_eq!(
            pool.release(q).unwrap_err(),
            PortError::NotAllocated { port: q }
        );
        for foreign in [9998, 10001, 10010, 65535, 0] {
            assert!(matches!(
                pool.release(foreign),
                Err(PortError::Foreign { .. })
            ));
        }
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.free(), 5);
        let ports: HashSet<u16> = drain(&mut pool).into_iter().collect();
        assert_eq!(ports.len(), 5);
    }

    proptest! {
        #[test]
        fn random_ops_keep_invariants(
            seed in any::<u64>(),
            ops in proptest::collection::vec((any::<bool>(), 0usize..64), 0..200),
        ) {
            let mut pool = PortPool::new(5000, 5040, seed).unwrap();
            let mut held: Vec<u16> = Vec::new();
            for (alloc, idx) in ops {
                if alloc {
                    match pool.allocate() {
                        Ok(p) => {
                            prop_assert!(!held.contains(&p));
                            held.push(p);
                        }
                        Err(e) => {
                            prop_assert_eq!(held.len(), 20);
                            prop_assert_eq!(e, PortError::Exhausted { min: 5000, max: 5040 });
                        }
                    }
                } else if !held.is_empty() {
                    let p = held.swap_remove(idx % held.len());
                    prop_assert!(pool.release(p).is_ok());
                    prop_assert!(pool.release(p).is_err());
                }
                prop_assert_eq!(pool.in_use(), held.len());
                prop_assert_eq!(pool.in_use() + pool.free(), pool.capacity());
            }
        }
    }
}
