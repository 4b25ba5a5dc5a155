//! RTCP packets written from plain values: the `*Repr` structs `emit` into an exact-size buffer
//! (RFC 3550 §6.4–6.7).

use super::{
    packet_type, sdes_item, ReportBlock, SdesItem, HEADER_LEN, MAX_COUNT, REPORT_BLOCK_LEN,
    SENDER_INFO_LEN,
};
use crate::rtp::{put, Error};

/// Writes the 4-byte common header for a packet of `len` bytes (a multiple of 4).
fn emit_header(buf: &mut [u8], count: usize, packet_type: u8, len: usize) -> Result<(), Error> {
    if count > MAX_COUNT || !len.is_multiple_of(4) || len < HEADER_LEN {
        return Err(Error::Malformed);
    }
    if buf.len() != len {
        return Err(Error::Truncated);
    }
    let words = u16::try_from(len / 4 - 1).map_err(|_| Error::Malformed)?;
    let count = u8::try_from(count).map_err(|_| Error::Malformed)?;
    put(buf, 0, &[(crate::rtp::VERSION << 6) | count, packet_type]);
    put(buf, 2, &words.to_be_bytes());
    Ok(())
}

/// A reception report block as plain values (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlockRepr {
    /// SSRC_n, the source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost; clamped to the 24-bit signed range on emit.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// LSR: middle 32 bits of the last SR's NTP timestamp.
    pub last_sr: u32,
    /// DLSR: delay since the last SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlockRepr {
    /// Reads all fields of a block view.
    pub fn parse(block: &ReportBlock<'_>) -> Self {
        Self {
            ssrc: block.ssrc(),
            fraction_lost: block.fraction_lost(),
            cumulative_lost: block.cumulative_lost(),
            extended_highest_seq: block.extended_highest_seq(),
            jitter: block.jitter(),
            last_sr: block.last_sr(),
            delay_since_last_sr: block.delay_since_last_sr(),
        }
    }

    /// Writes the block into `buf`, which must be exactly 24 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        if buf.len() != REPORT_BLOCK_LEN {
            return Err(Error::Truncated);
        }
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0x00ff_ffff;
        put(buf, 0, &self.ssrc.to_be_bytes());
        put(
            buf,
            4,
            &((u32::from(self.fraction_lost) << 24) | lost).to_be_bytes(),
        );
        put(buf, 8, &self.extended_highest_seq.to_be_bytes());
        put(buf, 12, &self.jitter.to_be_bytes());
        put(buf, 16, &self.last_sr.to_be_bytes());
        put(buf, 20, &self.delay_since_last_sr.to_be_bytes());
        Ok(())
    }
}

/// Writes report blocks one after the other starting at `at`.
fn emit_blocks(buf: &mut [u8], at: usize, blocks: &[ReportBlockRepr]) -> Result<(), Error> {
    let region = buf.get_mut(at..).ok_or(Error::Truncated)?;
    for (block, out) in blocks.iter().zip(region.chunks_exact_mut(REPORT_BLOCK_LEN)) {
        block.emit(out)?;
    }
    Ok(())
}

/// A sender report as plain values, without profile extension (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReportRepr<'a> {
    /// SSRC of the sender.
    pub ssrc: u32,
    /// 64-bit NTP timestamp.
    pub ntp_timestamp: u64,
    /// RTP timestamp matching the NTP timestamp.
    pub rtp_timestamp: u32,
    /// Sender's packet count.
    pub packet_count: u32,
    /// Sender's octet count.
    pub octet_count: u32,
    /// Up to 31 report blocks.
    pub report_blocks: &'a [ReportBlockRepr],
}

impl SenderReportRepr<'_> {
    /// The exact number of bytes [`SenderReportRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * self.report_blocks.len()
    }

    /// Writes the SR into `buf`, which must be exactly [`SenderReportRepr::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let n = self.report_blocks.len();
        emit_header(buf, n, packet_type::SENDER_REPORT, self.buffer_len())?;
        put(buf, 4, &self.ssrc.to_be_bytes());
        put(buf, 8, &self.ntp_timestamp.to_be_bytes());
        put(buf, 16, &self.rtp_timestamp.to_be_bytes());
        put(buf, 20, &self.packet_count.to_be_bytes());
        put(buf, 24, &self.octet_count.to_be_bytes());
        emit_blocks(buf, 28, self.report_blocks)
    }
}

/// A receiver report as plain values, without profile extension (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReportRepr<'a> {
    /// SSRC of the packet sender.
    pub ssrc: u32,
    /// Up to 31 report blocks.
    pub report_blocks: &'a [ReportBlockRepr],
}

impl ReceiverReportRepr<'_> {
    /// The exact number of bytes [`ReceiverReportRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 + REPORT_BLOCK_LEN * self.report_blocks.len()
    }

    /// Writes the RR into `buf`, which must be exactly [`ReceiverReportRepr::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let n = self.report_blocks.len();
        emit_header(buf, n, packet_type::RECEIVER_REPORT, self.buffer_len())?;
        put(buf, 4, &self.ssrc.to_be_bytes());
        emit_blocks(buf, 8, self.report_blocks)
    }
}

/// A one-chunk SDES packet as plain values (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesRepr<'a> {
    /// The SSRC the chunk describes.
    pub ssrc: u32,
    /// The items, each with a non-zero type and at most 255 bytes of value.
    pub items: &'a [SdesItem<'a>],
}

impl SdesRepr<'_> {
    /// The exact number of bytes [`SdesRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let items: usize = self.items.iter().map(|i| 2 + i.value.len()).sum();
        (HEADER_LEN + 4 + items + 1 + 3) & !3
    }

    /// Writes the SDES into `buf`, which must be exactly [`SdesRepr::buffer_len`] bytes;
    /// the item list ends with null octets up to the 32-bit boundary.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        if self
            .items
            .iter()
            .any(|i| i.kind == sdes_item::END || i.value.len() > 255)
        {
            return Err(Error::Malformed);
        }
        emit_header(buf, 1, packet_type::SOURCE_DESCRIPTION, self.buffer_len())?;
        put(buf, 4, &self.ssrc.to_be_bytes());
        let mut at = 8;
        for item in self.items {
            let len = u8::try_from(item.value.len()).map_err(|_| Error::Malformed)?;
            put(buf, at, &[item.kind, len]);
            put(buf, at + 2, item.value);
            at += 2 + item.value.len();
        }
        if let Some(tail) = buf.get_mut(at..) {
            tail.fill(0);
        }
        Ok(())
    }
}

/// A BYE packet as plain values (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByeRepr<'a> {
    /// Up to 31 SSRC/CSRC identifiers.
    pub ssrcs: &'a [u32],
    /// Optional reason, at most 255 bytes.
    pub reason: Option<&'a [u8]>,
}

impl ByeRepr<'_> {
    /// The exact number of bytes [`ByeRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 * self.ssrcs.len() + self.reason.map_or(0, |r| (1 + r.len() + 3) & !3)
    }

    /// Writes the BYE into `buf`, which must be exactly [`ByeRepr::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        emit_header(
            buf,
            self.ssrcs.len(),
            packet_type::GOODBYE,
            self.buffer_len(),
        )?;
        let mut at = HEADER_LEN;
        for ssrc in self.ssrcs {
            put(buf, at, &ssrc.to_be_bytes());
            at += 4;
        }
        if let Some(reason) = self.reason {
            let len = u8::try_from(reason.len()).map_err(|_| Error::Malformed)?;
            if let Some(tail) = buf.get_mut(at..) {
                tail.fill(0);
            }
            put(buf, at, &[len]);
            put(buf, at + 1, reason);
        }
        Ok(())
    }
}

/// An APP packet as plain values (RFC 3550 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppRepr<'a> {
    /// The 5-bit subtype.
    pub subtype: u8,
    /// SSRC/CSRC of the sender.
    pub ssrc: u32,
    /// Four ASCII characters.
    pub name: [u8; 4],
    /// Application data, a multiple of 4 bytes.
    pub data: &'a [u8],
}

impl AppRepr<'_> {
    /// The exact number of bytes [`AppRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 8 + self.data.len()
    }

    /// Writes the APP packet into `buf`, which must be exactly [`AppRepr::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let subtype = usize::from(self.subtype);
        emit_header(buf, subtype, packet_type::APP, self.buffer_len())?;
        put(buf, 4, &self.ssrc.to_be_bytes());
        put(buf, 8, &self.name);
        put(buf, 12, self.data);
        Ok(())
    }
}
