//! Where one SSRC stands (RFC 3711 §3.3.1, §3.3.2): the rollover counter and highest sequence
//! number that give each packet its 48-bit index, and the 64-packet replay window.

/// What one SSRC's receiver or sender remembers: the rollover counter, the highest sequence
/// number and the replay window (§3.3.1, §3.3.2).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stream {
    pub(super) ssrc: u32,
    pub(super) roc: u32,
    pub(super) highest: u16,
    pub(super) started: bool,
    /// Bit i set: index (highest_index − i) was received.
    pub(super) window: u64,
}

impl Stream {
    pub(super) fn highest_index(&self) -> u64 {
        (u64::from(self.roc) << 16) | u64::from(self.highest)
    }

    /// The packet index for sequence number `seq` (§3.3.1, Appendix A).
    pub(super) fn estimate(&self, seq: u16) -> u64 {
        if !self.started {
            return u64::from(seq);
        }
        let (s_l, roc) = (i64::from(self.highest), i64::from(self.roc));
        let seq_i = i64::from(seq);
        let v = if s_l < 32_768 {
            if seq_i - s_l > 32_768 {
                roc - 1
            } else {
                roc
            }
        } else if s_l - 32_768 > seq_i {
            roc + 1
        } else {
            roc
        };
        (u64::try_from(v.max(0)).unwrap_or(0) << 16) | u64::from(seq)
    }

    /// Whether `index` is new to the window.
    pub(super) fn fresh(&self, index: u64) -> bool {
        if !self.started {
            return true;
        }
        let top = self.highest_index();
        if index > top {
            return true;
        }
        let back = top - index;
        back < 64 && self.window & (1 << back) == 0
    }

    /// Records `index` as received.
    pub(super) fn accept(&mut self, index: u64) {
        let top = self.highest_index();
        if !self.started || index > top {
            let shift = if self.started { index - top } else { 64 };
            self.window = if shift >= 64 { 0 } else { self.window << shift };
            self.window |= 1;
            self.roc = u32::try_from(index >> 16).unwrap_or(u32::MAX);
            self.highest = (index & 0xffff) as u16;
            self.started = true;
        } else {
            self.window |= 1 << (top - index);
        }
    }
}
