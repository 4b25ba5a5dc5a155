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

/// A view of a source description packet, SDES (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes<'a> {
    buf: &'a [u8],
}

impl<'a> Sdes<'a> {
    /// Wraps packet bytes without any check; accessors still never panic.
    pub const fn new_unchecked(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Checks the header, PT 202 and every chunk: its items fit and it ends with a null
    /// octet padded to a 32-bit boundary; bytes after the last chunk are ignored.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let buf = checked_packet(buf, packet_type::SOURCE_DESCRIPTION)?;
        let view = Self { buf };
        let mut rest = buf.get(HEADER_LEN..).unwrap_or_default();
        for _ in 0..view.count() {
            rest = parse_chunk(rest)?.1;
        }
        Ok(view)
    }

    /// The number of chunks SC.
    pub fn count(&self) -> usize {
        usize::from(byte(self.buf, 0) & 0x1f)
    }

    /// Iterates over the chunks; stops early at a malformed one on an unchecked view.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            rest: self.buf.get(HEADER_LEN..).unwrap_or_default(),
            remaining: self.count(),
        }
    }

    /// The first CNAME item (RFC 3550 §6.5.1) and the SSRC of its chunk.
    pub fn cname(&self) -> Option<(u32, &'a [u8])> {
        self.chunks().find_map(|chunk| {
            chunk
                .items()
                .find(|item| item.kind == sdes_item::CNAME)
                .map(|item| (chunk.ssrc, item.value))
        })
    }
}

/// Splits one SDES chunk off the front of `buf`, returning it and the bytes after it.
fn parse_chunk(buf: &[u8]) -> Result<(SdesChunk<'_>, &[u8]), Error> {
    let (ssrc, mut rest) = buf.split_first_chunk::<4>().ok_or(Error::Truncated)?;
    let mut used = 4;
    loop {
        let (&kind, after) = rest.split_first().ok_or(Error::Truncated)?;
        if kind == sdes_item::END {
            // The null octet plus padding up to the next 32-bit boundary (chunks are aligned).
            let chunk_len = (used + 1 + 3) & !3;
            let (_, next) = buf.split_at_checked(chunk_len).ok_or(Error::Truncated)?;
            let items = buf.get(4..used).unwrap_or_default();
            let chunk = SdesChunk {
                ssrc: u32::from_be_bytes(*ssrc),
                items,
            };
            return Ok((chunk, next));
        }
        let (&len, after) = after.split_first().ok_or(Error::Truncated)?;
        rest = after.get(usize::from(len)..).ok_or(Error::Truncated)?;
        used += 2 + usize::from(len);
    }
}

/// Iterator over the chunks of an SDES packet (RFC 3550 §6.5).
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.remaining == 0 {
            return None;
        }
        match parse_chunk(self.rest) {
            Ok((chunk, rest)) => {
                self.rest = rest;
                self.remaining -= 1;
                Some(chunk)
            }
            Err(_) => {
                self.remaining = 0;
                None
            }
        }
    }
}

impl FusedIterator for SdesChunks<'_> {}

/// One SDES chunk: a source and its items (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The SSRC or CSRC the items describe.
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// Iterates over the chunk's items (the terminating null item is not yielded).
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { rest: self.items }
    }
}

/// Iterator over the items of one SDES chunk (RFC 3550 §6.5).
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let (&kind, after) = self.rest.split_first()?;
        let item = after.split_first().and_then(|(&len, after)| {
            let (value, rest) = after.split_at_checked(usize::from(len))?;
            Some((SdesItem { kind, value }, rest))
        });
        match item {
            Some((item, rest)) if kind != sdes_item::END => {
                self.rest = rest;
                Some(item)
            }
            _ => {
                self.rest = &[];
                None
            }
        }
    }
}

impl FusedIterator for SdesItems<'_> {}

/// One SDES item: type and value (RFC 3550 §6.5; see [`sdes_item`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// The item type, e.g. [`sdes_item::CNAME`].
    pub kind: u8,
    /// The item text, UTF-8 by the RFC but not checked here (at most 255 bytes).
    pub value: &'a [u8],
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

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK_A: ReportBlockRepr = ReportBlockRepr {
        ssrc: 0x0102_0304,
        fraction_lost: 0x40,
        cumulative_lost: 1000,
        extended_highest_seq: 0x0001_0010,
        jitter: 17,
        last_sr: 0xb705_2000,
        delay_since_last_sr: 0x0005_4000,
    };

    const BLOCK_B: ReportBlockRepr = ReportBlockRepr {
        ssrc: 0xaabb_ccdd,
        fraction_lost: 0,
        cumulative_lost: -3,
        extended_highest_seq: 65535,
        jitter: 0,
        last_sr: 0,
        delay_since_last_sr: 0,
    };

    /// SR, RFC 3550 §6.4.1 layout: header, SSRC, sender info, one report block.
    #[rustfmt::skip]
    const SR: [u8; 52] = [
        0x81, 200, 0x00, 0x0c,              // V=2 P=0 RC=1, PT=SR, length=12
        0x11, 0x22, 0x33, 0x44,             // SSRC of sender
        0xe1, 0x2f, 0x46, 0x00,             // NTP timestamp, most significant word
        0x80, 0x00, 0x00, 0x00,             // NTP timestamp, least significant word
        0x00, 0x00, 0x03, 0x20,             // RTP timestamp 800
        0x00, 0x00, 0x00, 0x05,             // sender's packet count 5
        0x00, 0x00, 0x03, 0x20,             // sender's octet count 800
        0x01, 0x02, 0x03, 0x04,             // SSRC_1
        0x40, 0x00, 0x03, 0xe8,             // fraction lost 1/4, cumulative lost 1000
        0x00, 0x01, 0x00, 0x10,             // extended highest seq: 1 cycle, seq 16
        0x00, 0x00, 0x00, 0x11,             // jitter 17
        0xb7, 0x05, 0x20, 0x00,             // LSR
        0x00, 0x05, 0x40, 0x00,             // DLSR
    ];

    /// RR, RFC 3550 §6.4.2 layout: header, SSRC, two report blocks.
    #[rustfmt::skip]
    const RR: [u8; 56] = [
        0x82, 201, 0x00, 0x0d,              // V=2 P=0 RC=2, PT=RR, length=13
        0x55, 0x66, 0x77, 0x88,             // SSRC of packet sender
        0x01, 0x02, 0x03, 0x04, 0x40, 0x00, 0x03, 0xe8, 0x00, 0x01, 0x00, 0x10,
        0x00, 0x00, 0x00, 0x11, 0xb7, 0x05, 0x20, 0x00, 0x00, 0x05, 0x40, 0x00,
        0xaa, 0xbb, 0xcc, 0xdd, 0x00, 0xff, 0xff, 0xfd, 0x00, 0x00, 0xff, 0xff,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// SDES with one chunk: CNAME "user@host" (9 bytes) then END and 1 pad octet.
    #[rustfmt::skip]
    const SDES: [u8; 20] = [
        0x81, 202, 0x00, 0x04,
        0x11, 0x22, 0x33, 0x44,
        0x01, 0x09, b'u', b's', b'e', b'r', b'@', b'h', b'o', b's', b't', 0x00,
    ];

    /// BYE with two sources and reason "bye" (length octet + 3 bytes = one word).
    #[rustfmt::skip]
    const BYE: [u8; 16] = [
        0x82, 203, 0x00, 0x03,
        0x11, 0x22, 0x33, 0x44,
        0x55, 0x66, 0x77, 0x88,
        0x03, b'b', b'y', b'e',
    ];

    /// APP subtype 3, name "TEST", 4 bytes of data.
    #[rustfmt::skip]
    const APP: [u8; 16] = [
        0x83, 204, 0x00, 0x03,
        0x11, 0x22, 0x33, 0x44,
        b'T', b'E', b'S', b'T',
        0xde, 0xad, 0xbe, 0xef,
    ];

    fn emitted(len: usize, emit: impl FnOnce(&mut [u8]) -> Result<(), Error>) -> Vec<u8> {
        let mut out = vec![0xee; len];
        emit(&mut out).unwrap();
        out
    }

    #[test]
    fn sender_report_both_ways() {
        let repr = SenderReportRepr {
            ssrc: 0x1122_3344,
            ntp_timestamp: 0xe12f_4600_8000_0000,
            rtp_timestamp: 800,
            packet_count: 5,
            octet_count: 800,
            report_blocks: &[BLOCK_A],
        };
        assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), SR);
        let Ok(RtcpPacket::SenderReport(sr)) = RtcpPacket::parse(&SR) else {
            panic!("not an SR");
        };
        assert_eq!(sr.ssrc(), repr.ssrc);
        assert_eq!(sr.ntp_timestamp(), repr.ntp_timestamp);
        assert_eq!(ntp_middle_32(sr.ntp_timestamp()), 0x4600_8000);
        assert_eq!(sr.rtp_timestamp(), repr.rtp_timestamp);
        assert_eq!(sr.packet_count(), repr.packet_count);
        assert_eq!(sr.octet_count(), repr.octet_count);
        let blocks: Vec<_> = sr
            .report_blocks()
            .map(|b| ReportBlockRepr::parse(&b))
            .collect();
        assert_eq!(blocks, repr.report_blocks);
        assert_eq!(sr.extension(), b"");
    }

    #[test]
    fn receiver_report_both_ways() {
        let repr = ReceiverReportRepr {
            ssrc: 0x5566_7788,
            report_blocks: &[BLOCK_A, BLOCK_B],
        };
        assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), RR);
        let rr = ReceiverReport::new_checked(&RR).unwrap();
        assert_eq!(rr.ssrc(), repr.ssrc);
        assert_eq!(rr.report_blocks().len(), 2);
        let blocks: Vec<_> = rr
            .report_blocks()
            .map(|b| ReportBlockRepr::parse(&b))
            .collect();
        assert_eq!(blocks, repr.report_blocks);
        let b = rr.report_blocks().nth(1).unwrap();
        assert_eq!(b.cumulative_lost(), -3);
        assert_eq!(b.fraction_lost(), 0);
    }

    #[test]
    fn report_block_fields_and_clamp() {
        let block = ReportBlock::new_checked(&SR[28..]).unwrap();
        assert_eq!(block.ssrc(), 0x0102_0304);
        assert_eq!(block.fraction_lost(), 64);
        assert_eq!(block.cumulative_lost(), 1000);
        assert_eq!(block.extended_highest_seq(), 65536 + 16);
        assert_eq!(block.jitter(), 17);
        assert_eq!(block.last_sr(), 0xb705_2000);
        assert_eq!(block.delay_since_last_sr(), 0x0005_4000);
        assert_eq!(ReportBlock::new_checked(&SR[30..]), Err(Error::Truncated));
        for (lost, wire) in [
            (0x7f_ffff, [0x7f, 0xff, 0xff]),
            (0x100_0000, [0x7f, 0xff, 0xff]),
            (-0x80_0000, [0x80, 0x00, 0x00]),
            (i32::MIN, [0x80, 0x00, 0x00]),
            (-1, [0xff, 0xff, 0xff]),
        ] {
            let repr = ReportBlockRepr {
                cumulative_lost: lost,
                ..BLOCK_B
            };
            let out = emitted(24, |b| repr.emit(b));
            assert_eq!(out[5..8], wire);
            let back = ReportBlock::new_unchecked(&out).cumulative_lost();
            assert_eq!(back, lost.clamp(-0x80_0000, 0x7f_ffff));
        }
    }

    #[test]
    fn sdes_both_ways() {
        let items = [SdesItem {
            kind: sdes_item::CNAME,
            value: b"user@host",
        }];
        let repr = SdesRepr {
            ssrc: 0x1122_3344,
            items: &items,
        };
        assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), SDES);
        let sdes = Sdes::new_checked(&SDES).unwrap();
        assert_eq!(sdes.cname(), Some((0x1122_3344, &b"user@host"[..])));
        let chunk = sdes.chunks().next().unwrap();
        assert_eq!(chunk.items().collect::<Vec<_>>(), items);
    }

    #[test]
    fn sdes_multiple_chunks_and_items() {
        // Chunk 1: NAME "ab" + TOOL "xy" (ends exactly on a word, so a full null word
        // follows); chunk 2: no items at all (four null octets), chunk 3: CNAME "c".
        #[rustfmt::skip]
        let bytes = [
            0x83, 202, 0x00, 0x08,
            0, 0, 0, 1, 2, 2, b'a', b'b', 6, 2, b'x', b'y', 0, 0, 0, 0,
            0, 0, 0, 2, 0, 0, 0, 0,
            0, 0, 0, 3, 1, 1, b'c', 0,
        ];
        let sdes = Sdes::new_checked(&bytes).unwrap();
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 3);
        let kinds: Vec<_> = chunks[0].items().map(|i| (i.kind, i.value)).collect();
        assert_eq!(kinds, [(2, &b"ab"[..]), (6, &b"xy"[..])]);
        assert_eq!(chunks[1].items().count(), 0);
        assert_eq!(sdes.cname(), Some((3, &b"c"[..])));
        // SC = 4 with only three chunks.
        let mut bad = bytes;
        bad[0] = 0x84;
        assert_eq!(Sdes::new_checked(&bad), Err(Error::Truncated));
        // An item overrunning the packet.
        let mut bad = SDES;
        bad[9] = 12;
        assert_eq!(Sdes::new_checked(&bad), Err(Error::Truncated));
        // Missing terminator: item ends exactly at the end of the packet.
        #[rustfmt::skip]
        let bad = [0x81, 202, 0x00, 0x02, 0, 0, 0, 1, 1, 2, b'a', b'b'];
        assert_eq!(Sdes::new_checked(&bad), Err(Error::Truncated));
    }

    #[test]
    fn bye_both_ways() {
        let repr = ByeRepr {
            ssrcs: &[0x1122_3344, 0x5566_7788],
            reason: Some(b"bye"),
        };
        assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), BYE);
        let bye = Bye::new_checked(&BYE).unwrap();
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), repr.ssrcs);
        assert_eq!(bye.reason(), repr.reason);
        let bare = ByeRepr {
            ssrcs: &[7],
            reason: None,
        };
        let out = emitted(bare.buffer_len(), |b| bare.emit(b));
        assert_eq!(out, [0x81, 203, 0, 1, 0, 0, 0, 7]);
        assert_eq!(Bye::new_checked(&out).unwrap().reason(), None);
        // Reason length past the end.
        let mut bad = BYE;
        bad[12] = 4;
        assert_eq!(Bye::new_checked(&bad), Err(Error::Truncated));
        // Source count past the end.
        let mut bad = BYE;
        bad[0] = 0x84;
        assert_eq!(Bye::new_checked(&bad), Err(Error::Truncated));
    }

    #[test]
    fn app_both_ways() {
        let repr = AppRepr {
            subtype: 3,
            ssrc: 0x1122_3344,
            name: *b"TEST",
            data: &[0xde, 0xad, 0xbe, 0xef],
        };
        assert_eq!(emitted(repr.buffer_len(), |b| repr.emit(b)), APP);
        let Ok(RtcpPacket::App(app)) = RtcpPacket::parse(&APP) else {
            panic!("not APP");
        };
        assert_eq!(app.subtype(), 3);
        assert_eq!(app.ssrc(), repr.ssrc);
        assert_eq!(&app.name(), b"TEST");
        assert_eq!(app.data(), repr.data);
        assert_eq!(
            App::new_checked(&[0x80, 204, 0, 1, 0, 0, 0, 0]),
            Err(Error::Truncated)
        );
        let bad = AppRepr {
            data: &[1, 2],
            ..repr
        };
        assert_eq!(
            bad.emit(&mut vec![0; bad.buffer_len()]),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn compound_iteration() {
        let mut datagram = Vec::new();
        datagram.extend_from_slice(&SR);
        datagram.extend_from_slice(&SDES);
        datagram.extend_from_slice(&BYE);
        assert_eq!(Compound::validate(&datagram), Ok(3));
        let types: Vec<_> = Compound::new(&datagram)
            .map(|p| p.unwrap().packet_type())
            .collect();
        assert_eq!(types, [200, 202, 203]);
        let views: Vec<_> = Compound::new(&datagram)
            .map(|p| p.unwrap().view().unwrap())
            .collect();
        assert!(matches!(views[0], RtcpPacket::SenderReport(_)));
        assert!(matches!(views[1], RtcpPacket::SourceDescription(s) if s.cname().is_some()));
        assert!(matches!(views[2], RtcpPacket::Goodbye(_)));
        // The last packet's length points past the end: Ok, Ok, Err, then nothing.
        let mut bad = datagram.clone();
        let at = SR.len() + SDES.len() + 3;
        bad[at] = 4;
        let mut it = Compound::new(&bad);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next(), Some(Err(Error::Truncated)));
        assert_eq!(it.next(), None);
        assert_eq!(Compound::validate(&bad), Err(Error::Truncated));
        // Trailing garbage shorter than a header.
        let mut bad = datagram.clone();
        bad.extend_from_slice(&[0x80, 0xc8]);
        assert_eq!(Compound::validate(&bad), Err(Error::Truncated));
        // Wrong version in the second packet.
        let mut bad = datagram;
        bad[SR.len()] = 0x41;
        assert_eq!(Compound::validate(&bad), Err(Error::Version));
        assert_eq!(Compound::validate(&[]), Err(Error::Truncated));
    }

    #[test]
    fn padding_rules() {
        // RR with no blocks plus one padding word: count 4 in the last octet.
        let rr = [0xa0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4];
        let p = Packet::new_checked(&rr[..]).unwrap();
        assert_eq!(p.padding_len(), 4);
        assert_eq!(p.body(), [0, 0, 0, 9]);
        let view = ReceiverReport::new_checked(&rr).unwrap();
        assert_eq!(view.extension(), b"");
        for pad in [0, 9] {
            let mut bad = rr;
            bad[11] = pad;
            assert_eq!(Packet::new_checked(&bad[..]).err(), Some(Error::Padding));
        }
        // Padding hiding part of the report blocks.
        let mut bad = [0u8; 56];
        bad.copy_from_slice(&RR);
        bad[0] |= 0x20;
        bad[55] = 8;
        assert_eq!(ReceiverReport::new_checked(&bad), Err(Error::Truncated));
    }

    #[test]
    fn malformed_rejected() {
        assert_eq!(RtcpPacket::parse(&[]), Err(Error::Truncated));
        assert_eq!(RtcpPacket::parse(&[0x80, 200, 0]), Err(Error::Truncated));
        assert_eq!(RtcpPacket::parse(&[0x40, 200, 0, 0]), Err(Error::Version));
        // Length says 13 words, buffer has 12.
        assert_eq!(RtcpPacket::parse(&SR[..48]), Err(Error::Truncated));
        // RC = 2 but one block.
        let mut bad = SR;
        bad[0] = 0x82;
        assert_eq!(SenderReport::new_checked(&bad), Err(Error::Truncated));
        // Wrong type for the view.
        assert_eq!(ReceiverReport::new_checked(&SR), Err(Error::Malformed));
        assert_eq!(SenderReport::new_checked(&RR), Err(Error::Malformed));
        // Every truncation of every vector fails.
        for vector in [&SR[..], &RR, &SDES, &BYE, &APP] {
            for n in 0..vector.len() {
                assert!(
                    RtcpPacket::parse(&vector[..n]).is_err(),
                    "{vector:02x?} {n}"
                );
            }
        }
        // Unknown types pass with only the header checked.
        let fb = [0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        assert!(matches!(RtcpPacket::parse(&fb), Ok(RtcpPacket::Other(p)) if p.ssrc() == 1));
    }

    #[test]
    fn rtt_rfc3550_example() {
        // RFC 3550 §6.4.1, Figure 2: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000.
        let rtt = round_trip_time(0xb710_8000, 0xb705_2000, 0x0005_4000);
        assert_eq!(rtt, Some(0x0006_2000));
        assert_eq!(
            short_ntp_to_duration(0x0006_2000),
            Duration::from_millis(6125)
        );
        assert_eq!(round_trip_time(0xb710_8000, 0, 0x0005_4000), None);
        assert_eq!(round_trip_time(0xb705_2001, 0xb705_2000, 2), None);
        // Wrap of the 16.16 seconds counter.
        assert_eq!(round_trip_time(0x0000_0010, 0xffff_fff0, 0x10), Some(0x10));
    }

    #[test]
    fn setters() {
        let mut buf = [0u8; 8];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(2);
        p.set_count(31);
        p.set_packet_type(201);
        p.set_length(1);
        p.set_ssrc(9);
        p.set_padding(false);
        assert_eq!(buf, [0x9f, 201, 0, 1, 0, 0, 0, 9]);
        let mut short = [0u8; 2];
        Packet::new_unchecked(&mut short[..]).set_ssrc(1);
        Packet::new_unchecked(&mut short[..]).set_length(1);
        assert_eq!(short, [0, 0]);
    }

    fn exercise(bytes: &[u8]) {
        let p = Packet::new_unchecked(bytes);
        let _ = (
            p.version(),
            p.padding(),
            p.count(),
            p.packet_type(),
            p.length(),
        );
        let _ = (
            p.packet_len(),
            p.padding_len(),
            p.ssrc(),
            p.body(),
            p.as_bytes(),
        );
        let _ = p.check_len();
        for packet in Compound::new(bytes).flatten() {
            let _ = (packet.body(), packet.ssrc(), packet.view());
        }
        let sr = SenderReport::new_unchecked(bytes);
        let _ = (
            sr.ssrc(),
            sr.ntp_timestamp(),
            sr.rtp_timestamp(),
            sr.packet_count(),
        );
        let _ = (sr.octet_count(), sr.extension(), sr.report_blocks().count());
        for b in sr.report_blocks().chain(ReportBlock::new_checked(bytes)) {
            let _ = ReportBlockRepr::parse(&b);
        }
        let _ = ReportBlockRepr::parse(&ReportBlock::new_unchecked(bytes));
        let rr = ReceiverReport::new_unchecked(bytes);
        let _ = (rr.ssrc(), rr.extension(), rr.report_blocks().count());
        let sdes = Sdes::new_unchecked(bytes);
        let _ = sdes.cname();
        let _ = sdes.chunks().map(|c| c.items().count()).sum::<usize>();
        let bye = Bye::new_unchecked(bytes);
        let _ = (bye.ssrcs().count(), bye.reason());
        let app = App::new_unchecked(bytes);
        let _ = (app.subtype(), app.ssrc(), app.name(), app.data());
        let _ = (
            SenderReport::new_checked(bytes),
            ReceiverReport::new_checked(bytes),
            Sdes::new_checked(bytes),
            Bye::new_checked(bytes),
            App::new_checked(bytes),
        );
    }

    #[test]
    fn unchecked_garbage_never_panics() {
        for bytes in [
            &[][..],
            &[0xff],
            &[0xbf, 202, 0xff, 0xff],
            &[0xff; 40],
            &SR[..30],
        ] {
            exercise(bytes);
        }
        // Mutate every byte of every vector.
        for vector in [&SR[..], &RR, &SDES, &BYE, &APP] {
            for i in 0..vector.len() {
                for v in [0x00, 0x01, 0x1f, 0x7f, 0x80, 0xff] {
                    let mut m = vector.to_vec();
                    m[i] = v;
                    exercise(&m);
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bytes_never_panic(
            kind in 200u8..=204,
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128),
        ) {
            exercise(&bytes);
            let mut bytes = bytes;
            // Also with a plausible header so the typed checks get past the first gate.
            if bytes.len() >= 4 {
                bytes[0] = 0x80 | (bytes[0] & 0x3f);
                bytes[1] = kind;
                let words = u16::try_from(bytes.len() / 4 - 1).unwrap();
                bytes[2..4].copy_from_slice(&words.to_be_bytes());
                exercise(&bytes);
            }
        }
    }
}
