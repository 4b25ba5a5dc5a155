//! The seeded generator of Call-IDs, tags, branches and initial CSeq numbers (RFC 3261 §8.1.1.4,
//! §8.1.1.5, §8.1.1.7, §19.3); the driver seeds it, tests pass a constant.

use crate::stack::hostport::push_hex16;

/// Call-ID, tag, branch and CSeq generator on splitmix64, seeded by the caller so that runs are
/// reproducible (RFC 3261 §8.1.1.4, §19.3).
#[derive(Clone, Debug)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator starting from `seed` (RFC 3261 §19.3: the driver seeds it from OS randomness).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits (splitmix64).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A fresh Call-ID of 128 random bits in hex (RFC 3261 §8.1.1.4).
    pub fn call_id(&mut self) -> String {
        let mut s = String::with_capacity(32);
        push_hex16(&mut s, self.next_u64());
        push_hex16(&mut s, self.next_u64());
        s
    }

    /// A fresh tag of 64 random bits in hex (RFC 3261 §19.3).
    pub fn tag(&mut self) -> String {
        let mut s = String::with_capacity(16);
        push_hex16(&mut s, self.next_u64());
        s
    }

    /// A fresh RFC 3261 branch: the magic cookie and 64 random bits (RFC 3261 §8.1.1.7).
    pub fn branch(&mut self) -> String {
        let mut s = String::with_capacity(23);
        s.push_str("z9hG4bK");
        push_hex16(&mut s, self.next_u64());
        s
    }

    /// A fresh initial CSeq number in 1..=65536, far below 2^31 (RFC 3261 §8.1.1.5).
    pub fn cseq(&mut self) -> u32 {
        u32::try_from(self.next_u64() % 65_536).unwrap_or(0) + 1
    }

    /// A Retry-After value of 0–10 seconds for 500 on overlapping INVITEs (RFC 3261 §14.2).
    pub fn retry_after(&mut self) -> u32 {
        u32::try_from(self.next_u64() % 11).unwrap_or(0)
    }
}
