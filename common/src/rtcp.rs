//! Zero-copy RTCP views: compound datagrams, SR, RR, SDES, BYE and APP
//! ([RFC 3550 §6](https://www.rfc-editor.org/rfc/rfc3550#section-6)).
//!
//! [`Compound`] walks the packets of a compound datagram by their length fields and stops
//! with an error at the first bad one. Each item is a [`Packet`] (common header view);
//! [`Packet::view`] or [`RtcpPacket::parse`] turns it into a typed view. Typed views made
//! with `new_checked` have had every count and length validated once; views made with
//! `new_unchecked` never panic either, they read missing fields as 0 / `None` / empty.
//!
//! The `*Repr` structs hold plain values and `emit` into an exact-size buffer (for tests,
//! the bench generator and RTCP the relay originates). [`round_trip_time`] implements the
//! RTT computation of RFC 3550 §6.4.1.

use core::iter::FusedIterator;
use core::slice::ChunksExact;
use core::time::Duration;

pub use crate::rtp::Error;
use crate::rtp::{be_u16, be_u32, byte, put, put_bits, Csrcs};

/// Length of the common RTCP header: V, P, count, PT and length (RFC 3550 §6.4.1).
pub const HEADER_LEN: usize = 4;

/// Length of one reception report block (RFC 3550 §6.4.1).
pub const REPORT_BLOCK_LEN: usize = 24;

/// Length of the sender info section of an SR (RFC 3550 §6.4.1).
pub const SENDER_INFO_LEN: usize = 20;

/// The largest value of the 5-bit count field (RFC 3550 §6.4.1).
pub const MAX_COUNT: usize = 31;

/// RTCP packet type values (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611 §2).
pub mod packet_type {
    /// Sender report, SR (RFC 3550 §6.4.1).
    pub const SENDER_REPORT: u8 = 200;
    /// Receiver report, RR (RFC 3550 §6.4.2).
    pub const RECEIVER_REPORT: u8 = 201;
    /// Source description, SDES (RFC 3550 §6.5).
    pub const SOURCE_DESCRIPTION: u8 = 202;
    /// Goodbye, BYE (RFC 3550 §6.6).
    pub const GOODBYE: u8 = 203;
    /// Application-defined, APP (RFC 3550 §6.7).
    pub const APP: u8 = 204;
    /// Transport-layer feedback, RTPFB (RFC 4585 §6.1).
    pub const TRANSPORT_FEEDBACK: u8 = 205;
    /// Payload-specific feedback, PSFB (RFC 4585 §6.1).
    pub const PAYLOAD_FEEDBACK: u8 = 206;
    /// Extended report, XR (RFC 3611 §2).
    pub const EXTENDED_REPORT: u8 = 207;
}

/// SDES item types (RFC 3550 §6.5, §12.2).
pub mod sdes_item {
    /// End of the item list of a chunk (RFC 3550 §6.5).
    pub const END: u8 = 0;
    /// Canonical end-point identifier, CNAME (RFC 3550 §6.5.1).
    pub const CNAME: u8 = 1;
    /// User name, NAME (RFC 3550 §6.5.2).
    pub const NAME: u8 = 2;
    /// Electronic mail address, EMAIL (RFC 3550 §6.5.3).
    pub const EMAIL: u8 = 3;
    /// Phone number, PHONE (RFC 3550 §6.5.4).
    pub const PHONE: u8 = 4;
    /// Geographic location, LOC (RFC 3550 §6.5.5).
    pub const LOC: u8 = 5;
    /// Application or tool name, TOOL (RFC 3550 §6.5.6).
    pub const TOOL: u8 = 6;
    /// Notice/status, NOTE (RFC 3550 §6.5.7).
    pub const NOTE: u8 = 7;
    /// Private extensions, PRIV (RFC 3550 §6.5.8).
    pub const PRIV: u8 = 8;
}

/// A view of one RTCP packet's common header and body (RFC 3550 §6.4.1).
///
/// The packet occupies the first [`Packet::packet_len`] bytes of the buffer; bytes after
/// that (the rest of a compound datagram) are ignored by every accessor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any check; accessors still never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`] has accepted it.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks version 2, that the length field fits in the buffer and that the padding
    /// count is non-zero and within the body (RFC 3550 §6.4.1, §A.2).
    pub fn check_len(&self) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != crate::rtp::VERSION {
            return Err(Error::Version);
        }
        let len = self.packet_len();
        if len > buf.len() {
            return Err(Error::Truncated);
        }
        if self.padding() {
            let pad = usize::from(self.padding_len());
            if pad == 0 || pad > len - HEADER_LEN {
                return Err(Error::Padding);
            }
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The packet's bytes, padding included, as far as they are in the buffer.
    pub fn as_bytes(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        buf.get(..self.packet_len()).unwrap_or(buf)
    }

    /// The version field V (RFC 3550 §6.4.1); 2 on any checked packet.
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), 0) >> 6
    }

    /// The padding bit P (RFC 3550 §6.4.1).
    pub fn padding(&self) -> bool {
        byte(self.buffer.as_ref(), 0) & 0x20 != 0
    }

    /// The 5-bit count field: reception reports (SR/RR), chunks (SDES), sources (BYE) or
    /// the APP subtype (RFC 3550 §6.4–6.7).
    pub fn count(&self) -> u8 {
        byte(self.buffer.as_ref(), 0) & 0x1f
    }

    /// The packet type PT (RFC 3550 §6.4.1; see [`packet_type`]).
    pub fn packet_type(&self) -> u8 {
        byte(self.buffer.as_ref(), 1)
    }

    /// The raw length field: the packet length in 32-bit words minus one (RFC 3550 §6.4.1).
    pub fn length(&self) -> u16 {
        be_u16(self.buffer.as_ref(), 2)
    }

    /// The packet length in bytes, header and padding included, from the length field.
    pub fn packet_len(&self) -> usize {
        (usize::from(self.length()) + 1) * 4
    }

    /// The padding count from the packet's last octet when P is set, else 0.
    pub fn padding_len(&self) -> u8 {
        if self.padding() {
            self.as_bytes().last().copied().unwrap_or(0)
        } else {
            0
        }
    }

    /// The first 32-bit word after the header: the sender SSRC of SR, RR and APP, the first
    /// SDES chunk's SSRC or the first BYE source; 0 if absent.
    pub fn ssrc(&self) -> u32 {
        be_u32(self.as_bytes(), HEADER_LEN)
    }

    /// The body after the 4-byte header, padding excluded; empty if inconsistent.
    pub fn body(&self) -> &[u8] {
        unpadded(self.as_bytes(), self.padding_len())
            .get(HEADER_LEN..)
            .unwrap_or_default()
    }
}

impl<'a> Packet<&'a [u8]> {
    /// Turns a borrowed packet into its typed view, checking it (see [`RtcpPacket::parse`]).
    pub fn view(self) -> Result<RtcpPacket<'a>, Error> {
        RtcpPacket::parse(self.buffer)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version field V (low 2 bits of `value`).
    pub fn set_version(&mut self, value: u8) {
        put_bits(self.buffer.as_mut(), 0, 0xc0, value << 6);
    }

    /// Sets the padding bit P (the caller writes the padding count into the last octet).
    pub fn set_padding(&mut self, value: bool) {
        put_bits(self.buffer.as_mut(), 0, 0x20, if value { 0x20 } else { 0 });
    }

    /// Sets the 5-bit count field (low 5 bits of `value`).
    pub fn set_count(&mut self, value: u8) {
        put_bits(self.buffer.as_mut(), 0, 0x1f, value);
    }

    /// Sets the packet type PT.
    pub fn set_packet_type(&mut self, value: u8) {
        put(self.buffer.as_mut(), 1, &[value]);
    }

    /// Sets the raw length field (words minus one).
    pub fn set_length(&mut self, value: u16) {
        put(self.buffer.as_mut(), 2, &value.to_be_bytes());
    }

    /// Sets the first word after the header (sender SSRC of SR/RR/APP).
    pub fn set_ssrc(&mut self, value: u32) {
        put(self.buffer.as_mut(), HEADER_LEN, &value.to_be_bytes());
    }
}

/// `bytes` without its last `pad` octets, or empty if `pad` is larger.
fn unpadded(bytes: &[u8], pad: u8) -> &[u8] {
    bytes
        .len()
        .checked_sub(usize::from(pad))
        .and_then(|end| bytes.get(..end))
        .unwrap_or_default()
}

/// Checks the common header and packet type, returning the packet bytes without padding.
fn checked_packet(buf: &[u8], packet_type: u8) -> Result<&[u8], Error> {
    let packet = Packet::new_checked(buf)?;
    if packet.packet_type() != packet_type {
        return Err(Error::Malformed);
    }
    let bytes = buf.get(..packet.packet_len()).unwrap_or(buf);
    Ok(unpadded(bytes, packet.padding_len()))
}

/// Iterator over the packets of a compound RTCP datagram (RFC 3550 §6.1).
///
/// Yields each packet as a [`Packet`] over exactly its own bytes; on a bad header or a
/// length past the end it yields one `Err` and then stops.
#[derive(Debug, Clone)]
pub struct Compound<'a> {
    rest: &'a [u8],
}

impl<'a> Compound<'a> {
    /// Starts iterating over a received datagram.
    pub const fn new(datagram: &'a [u8]) -> Self {
        Self { rest: datagram }
    }

    /// Checks every packet's header and length (not the bodies) and returns how many there are.
    pub fn validate(datagram: &'a [u8]) -> Result<usize, Error> {
        let mut n = 0;
        for packet in Self::new(datagram) {
            packet?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::Truncated);
        }
        Ok(n)
    }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<Packet<&'a [u8]>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let head = Packet::new_checked(rest).and_then(|p| {
            rest.split_at_checked(p.packet_len())
                .ok_or(Error::Truncated)
        });
        match head {
            Ok((packet, tail)) => {
                self.rest = tail;
                Some(Ok(Packet::new_unchecked(packet)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Compound<'_> {}

/// A typed view of one RTCP packet (RFC 3550 §6.4–6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// A sender report (PT 200).
    SenderReport(SenderReport<'a>),
    /// A receiver report (PT 201).
    ReceiverReport(ReceiverReport<'a>),
    /// A source description (PT 202).
    SourceDescription(Sdes<'a>),
    /// A goodbye (PT 203).
    Goodbye(Bye<'a>),
    /// An application-defined packet (PT 204).
    App(App<'a>),
    /// Any other type (feedback, XR, ...): only the common header was checked.
    Other(Packet<&'a [u8]>),
}

impl<'a> RtcpPacket<'a> {
    /// Checks the first packet in `buf` and returns its typed view.
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        let packet = Packet::new_checked(buf)?;
        Ok(match packet.packet_type() {
            packet_type::SENDER_REPORT => Self::SenderReport(SenderReport::new_checked(buf)?),
            packet_type::RECEIVER_REPORT => Self::ReceiverReport(ReceiverReport::new_checked(buf)?),
            packet_type::SOURCE_DESCRIPTION => Self::SourceDescription(Sdes::new_checked(buf)?),
            packet_type::GOODBYE => Self::Goodbye(Bye::new_checked(buf)?),
            packet_type::APP => Self::App(App::new_checked(buf)?),
            _ => Self::Other(Packet::new_unchecked(
                buf.get(..packet.packet_len()).unwrap_or(buf),
            )),
        })
    }
}

/// A view of a sender report, SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    buf: &'a [u8],
}

impl<'a> SenderReport<'a> {
    /// Wraps packet bytes without any check; accessors still never panic.
    pub const fn new_unchecked(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Checks the header, PT 200 and that sender info and all report blocks fit.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let buf = checked_packet(buf, packet_type::SENDER_REPORT)?;
        let view = Self { buf };
        let need = HEADER_LEN + 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * view.count();
        if buf.len() < need {
            return Err(Error::Truncated);
        }
        Ok(view)
    }

    /// The number of report blocks RC.
    pub fn count(&self) -> usize {
        usize::from(byte(self.buf, 0) & 0x1f)
    }

    /// The SSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        be_u32(self.buf, 4)
    }

    /// The 64-bit NTP timestamp (seconds since 1900 in the high 32 bits, fraction in the low).
    pub fn ntp_timestamp(&self) -> u64 {
        (u64::from(be_u32(self.buf, 8)) << 32) | u64::from(be_u32(self.buf, 12))
    }

    /// The RTP timestamp corresponding to the NTP timestamp.
    pub fn rtp_timestamp(&self) -> u32 {
        be_u32(self.buf, 16)
    }

    /// The sender's packet count.
    pub fn packet_count(&self) -> u32 {
        be_u32(self.buf, 20)
    }

    /// The sender's octet count (payload bytes).
    pub fn octet_count(&self) -> u32 {
        be_u32(self.buf, 24)
    }

    /// Iterates over the reception report blocks present in the buffer.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks::new(self.buf, 28, self.count())
    }

    /// The profile-specific extension after the report blocks (RFC 3550 §6.4.1), maybe empty.
    pub fn extension(&self) -> &'a [u8] {
        let at = 28 + REPORT_BLOCK_LEN * self.count();
        self.buf.get(at..).unwrap_or_default()
    }
}

/// A view of a receiver report, RR (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    buf: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    /// Wraps packet bytes without any check; accessors still never panic.
    pub const fn new_unchecked(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Checks the header, PT 201 and that the sender SSRC and all report blocks fit.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let buf = checked_packet(buf, packet_type::RECEIVER_REPORT)?;
        let view = Self { buf };
        if buf.len() < HEADER_LEN + 4 + REPORT_BLOCK_LEN * view.count() {
            return Err(Error::Truncated);
        }
        Ok(view)
    }

    /// The number of report blocks RC.
    pub fn count(&self) -> usize {
        usize::from(byte(self.buf, 0) & 0x1f)
    }

    /// The SSRC of the packet sender.
    pub fn ssrc(&self) -> u32 {
        be_u32(self.buf, 4)
    }

    /// Iterates over the reception report blocks present in the buffer.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks::new(self.buf, 8, self.count())
    }

    /// The profile-specific extension after the report blocks, maybe empty.
    pub fn extension(&self) -> &'a [u8] {
        let at = 8 + REPORT_BLOCK_LEN * self.count();
        self.buf.get(at..).unwrap_or_default()
    }
}

/// Iterator over reception report blocks (RFC 3550 §6.4.1).
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    chunks: ChunksExact<'a, u8>,
}

impl<'a> ReportBlocks<'a> {
    /// Up to `count` whole blocks starting at byte `at` of `buf`.
    fn new(buf: &'a [u8], at: usize, count: usize) -> Self {
        let region = buf.get(at..).unwrap_or_default();
        let region = region.get(..REPORT_BLOCK_LEN * count).unwrap_or(region);
        Self {
            chunks: region.chunks_exact(REPORT_BLOCK_LEN),
        }
    }
}

impl<'a> Iterator for ReportBlocks<'a> {
    type Item = ReportBlock<'a>;

    fn next(&mut self) -> Option<ReportBlock<'a>> {
        self.chunks.next().map(ReportBlock::new_unchecked)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}
impl FusedIterator for ReportBlocks<'_> {}

/// A view of one reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock<'a> {
    buf: &'a [u8],
}

impl<'a> ReportBlock<'a> {
    /// Wraps block bytes without any check; accessors still never panic.
    pub const fn new_unchecked(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Wraps block bytes after checking that all 24 are there.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < REPORT_BLOCK_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self { buf })
    }

    /// The SSRC of the source this block reports on (SSRC_n).
    pub fn ssrc(&self) -> u32 {
        be_u32(self.buf, 0)
    }

    /// The fraction of packets lost since the previous report, in 1/256 units.
    pub fn fraction_lost(&self) -> u8 {
        byte(self.buf, 4)
    }

    /// The cumulative number of packets lost, a 24-bit signed value (negative with duplicates).
    pub fn cumulative_lost(&self) -> i32 {
        // Shift the 24-bit field to the top, then arithmetic-shift back to sign-extend.
        ((be_u32(self.buf, 4) << 8) as i32) >> 8
    }

    /// The extended highest sequence number received (cycles in the high 16 bits).
    pub fn extended_highest_seq(&self) -> u32 {
        be_u32(self.buf, 8)
    }

    /// The interarrival jitter in timestamp units (RFC 3550 §6.4.1, §A.8).
    pub fn jitter(&self) -> u32 {
        be_u32(self.buf, 12)
    }

    /// The middle 32 bits of the NTP timestamp of the last SR from this source (LSR), 0 if none.
    pub fn last_sr(&self) -> u32 {
        be_u32(self.buf, 16)
    }

    /// The delay since that SR was received, in 1/65536 s (DLSR), 0 if none.
    pub fn delay_since_last_sr(&self) -> u32 {
        be_u32(self.buf, 20)
    }
}

/// A view of a goodbye packet, BYE (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    buf: &'a [u8],
}

impl<'a> Bye<'a> {
    /// Wraps packet bytes without any check; accessors still never panic.
    pub const fn new_unchecked(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Checks the header, PT 203, that all sources fit and that an optional reason fits.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let buf = checked_packet(buf, packet_type::GOODBYE)?;
        let view = Self { buf };
        let reason_at = HEADER_LEN + 4 * view.count();
        let tail = buf.get(reason_at..).ok_or(Error::Truncated)?;
        if let Some((&len, text)) = tail.split_first() {
            if text.len() < usize::from(len) {
                return Err(Error::Truncated);
            }
        }
        Ok(view)
    }

    /// The number of sources SC.
    pub fn count(&self) -> usize {
        usize::from(byte(self.buf, 0) & 0x1f)
    }

    /// Iterates over the SSRC/CSRC identifiers leaving the session.
    pub fn ssrcs(&self) -> Csrcs<'a> {
        let list = self.buf.get(HEADER_LEN..).unwrap_or_default();
        Csrcs::new(list.get(..4 * self.count()).unwrap_or(list))
    }

    /// The optional reason for leaving, without its length octet and padding.
    pub fn reason(&self) -> Option<&'a [u8]> {
        let tail = self.buf.get(HEADER_LEN + 4 * self.count()..)?;
        let (&len, text) = tail.split_first()?;
        text.get(..usize::from(len))
    }
}

/// A view of an application-defined packet, APP (RFC 3550 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    buf: &'a [u8],
}

impl<'a> App<'a> {
    /// Wraps packet bytes without any check; accessors still never panic.
    pub const fn new_unchecked(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Checks the header, PT 204 and that the SSRC and name are present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let buf = checked_packet(buf, packet_type::APP)?;
        if buf.len() < HEADER_LEN + 8 {
            return Err(Error::Truncated);
        }
        Ok(Self { buf })
    }

    /// The 5-bit subtype.
    pub fn subtype(&self) -> u8 {
        byte(self.buf, 0) & 0x1f
    }

    /// The SSRC/CSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        be_u32(self.buf, 4)
    }

    /// The four-character ASCII name; zeros if absent.
    pub fn name(&self) -> [u8; 4] {
        self.buf
            .get(8..)
            .and_then(|s| s.first_chunk::<4>())
            .copied()
            .unwrap_or_default()
    }

    /// The application-dependent data (a multiple of 4 bytes on the wire).
    pub fn data(&self) -> &'a [u8] {
        self.buf.get(12..).unwrap_or_default()
    }
}

/// Extracts the middle 32 bits of a 64-bit NTP timestamp, the unit of LSR (RFC 3550 §6.4.1).
pub const fn ntp_middle_32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Computes the round-trip time, in 1/65536 s, from a report block's LSR and DLSR and the
/// report's arrival time in NTP middle-32 format (RFC 3550 §6.4.1); `None` when LSR is 0
/// (no SR received yet) or the result would be negative.
pub const fn round_trip_time(arrival: u32, last_sr: u32, delay_since_last_sr: u32) -> Option<u32> {
    if last_sr == 0 {
        return None;
    }
    arrival
        .wrapping_sub(last_sr)
        .checked_sub(delay_since_last_sr)
}

/// Converts a 16.16 fixed-point seconds value (RTT, DLSR) to a [`Duration`].
pub const fn short_ntp_to_duration(value: u32) -> Duration {
    let nanos = (value as u64 * 1_000_000_000) >> 16;
    Duration::from_nanos(nanos)
}

mod emit;
mod sdes;
pub use emit::{AppRepr, ByeRepr, ReceiverReportRepr, ReportBlockRepr, SdesRepr, SenderReportRepr};
pub use sdes::{Sdes, SdesChunk, SdesChunks, SdesItem, SdesItems};

#[cfg(test)]
mod tests;
