//! Zero-copy RTP packet view ([RFC 3550 §5.1](https://www.rfc-editor.org/rfc/rfc3550#section-5.1)).
//!
//! [`Packet`] wraps any `T: AsRef<[u8]>` without copying. [`Packet::new_checked`] validates
//! every length once (version 2, CSRC list, header extension, padding); after that the
//! accessors read fixed offsets. Accessors never panic, even on a view made with
//! [`Packet::new_unchecked`] over garbage: a field that is not in the buffer reads as 0,
//! `false`, `None` or an empty slice. Setters on a too-short buffer do nothing.
//!
//! [`Repr`] is the parsed header as plain values, with [`Repr::emit`] writing into an
//! exact-size buffer. [`Error`] is the small `Copy` error shared by the RTP, RTCP and STUN
//! views, cheap enough for the relay to count and drop.

use core::fmt;
use core::iter::FusedIterator;

/// Why a wire view rejected a buffer; one word, `Copy`, so the data plane can count drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the fixed header or a length/count field requires.
    Truncated,
    /// The version is not 2 (RTP/RTCP) or the STUN leading bits/magic cookie do not match.
    Version,
    /// The padding bit is set but the padding count is 0 or larger than the payload.
    Padding,
    /// A length, count or type field is inconsistent with the buffer or the expected packet.
    Malformed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "packet truncated",
            Self::Version => "bad version or magic cookie",
            Self::Padding => "bad padding length",
            Self::Malformed => "malformed length or type field",
        })
    }
}

impl std::error::Error for Error {}

/// Reads a big-endian `u16` at `at`, or 0 when the buffer is too short.
pub(crate) fn be_u16(buf: &[u8], at: usize) -> u16 {
    buf.get(at..)
        .and_then(|s| s.first_chunk::<2>())
        .map_or(0, |b| u16::from_be_bytes(*b))
}

/// Reads a big-endian `u32` at `at`, or 0 when the buffer is too short.
pub(crate) fn be_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..)
        .and_then(|s| s.first_chunk::<4>())
        .map_or(0, |b| u32::from_be_bytes(*b))
}

/// Reads the byte at `at`, or 0 when the buffer is too short.
pub(crate) fn byte(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// Writes `bytes` at `at` when they fit; does nothing otherwise.
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..).and_then(|s| s.get_mut(..bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

/// Replaces the bits of `mask` in the byte at `at` with those of `value`; no-op if absent.
pub(crate) fn put_bits(buf: &mut [u8], at: usize, mask: u8, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = (*b & !mask) | (value & mask);
    }
}

/// Length of the fixed RTP header, before the CSRC list (RFC 3550 §5.1).
pub const HEADER_LEN: usize = 12;

/// The RTP version this module accepts (RFC 3550 §5.1).
pub const VERSION: u8 = 2;

/// A read (and, for mutable buffers, write) view of one RTP packet (RFC 3550 §5.1).
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

    /// Checks version 2, the CSRC list, the header extension and padding against the length
    /// (the validity checks of RFC 3550 §A.1 that need no per-source state).
    pub fn check_len(&self) -> Result<(), Error> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != VERSION {
            return Err(Error::Version);
        }
        let header_len = self.header_len();
        if header_len > buf.len() {
            return Err(Error::Truncated);
        }
        if self.padding() {
            let pad = usize::from(self.padding_len());
            if pad == 0 || pad > buf.len() - header_len {
                return Err(Error::Padding);
            }
        }
        Ok(())
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Borrows the whole wrapped buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version field V (RFC 3550 §5.1); 2 on any checked packet.
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), 0) >> 6
    }

    /// The padding bit P (RFC 3550 §5.1).
    pub fn padding(&self) -> bool {
        byte(self.buffer.as_ref(), 0) & 0x20 != 0
    }

    /// The extension bit X (RFC 3550 §5.1).
    pub fn extension(&self) -> bool {
        byte(self.buffer.as_ref(), 0) & 0x10 != 0
    }

    /// The CSRC count CC, 0 to 15 (RFC 3550 §5.1).
    pub fn csrc_count(&self) -> u8 {
        byte(self.buffer.as_ref(), 0) & 0x0f
    }

    /// The marker bit M (RFC 3550 §5.1).
    pub fn marker(&self) -> bool {
        byte(self.buffer.as_ref(), 1) & 0x80 != 0
    }

    /// The 7-bit payload type PT (RFC 3550 §5.1).
    pub fn payload_type(&self) -> u8 {
        byte(self.buffer.as_ref(), 1) & 0x7f
    }

    /// The 16-bit sequence number (RFC 3550 §5.1).
    pub fn sequence_number(&self) -> u16 {
        be_u16(self.buffer.as_ref(), 2)
    }

    /// The 32-bit media timestamp (RFC 3550 §5.1).
    pub fn timestamp(&self) -> u32 {
        be_u32(self.buffer.as_ref(), 4)
    }

    /// The synchronization source identifier SSRC (RFC 3550 §5.1).
    pub fn ssrc(&self) -> u32 {
        be_u32(self.buffer.as_ref(), 8)
    }

    /// Iterates over the CSRC list (RFC 3550 §5.1); yields only entries present in the buffer.
    pub fn csrcs(&self) -> Csrcs<'_> {
        let buf = self.buffer.as_ref();
        let want = 4 * usize::from(self.csrc_count());
        let list = buf.get(HEADER_LEN..).unwrap_or_default();
        Csrcs::new(list.get(..want).unwrap_or(list))
    }

    /// The header extension (RFC 3550 §5.3.1), or `None` if X is clear or it is not in the buffer.
    pub fn header_extension(&self) -> Option<Extension<'_>> {
        if !self.extension() {
            return None;
        }
        let buf = self.buffer.as_ref();
        let at = HEADER_LEN + 4 * usize::from(self.csrc_count());
        let head = buf.get(at..)?.first_chunk::<4>()?;
        let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let data = buf.get(at + 4..)?.get(..4 * words)?;
        Some(Extension {
            profile: u16::from_be_bytes([head[0], head[1]]),
            data,
        })
    }

    /// The header length in bytes, including CSRCs and the extension; on an unchecked
    /// view it may exceed the buffer length.
    pub fn header_len(&self) -> usize {
        let buf = self.buffer.as_ref();
        let mut len = HEADER_LEN + 4 * usize::from(self.csrc_count());
        if self.extension() {
            len += 4 + 4 * usize::from(be_u16(buf, len + 2));
        }
        len
    }

    /// The padding count from the last octet when P is set, else 0 (RFC 3550 §5.1).
    pub fn padding_len(&self) -> u8 {
        if self.padding() {
            self.buffer.as_ref().last().copied().unwrap_or(0)
        } else {
            0
        }
    }

    /// The payload, excluding header and padding; empty if the lengths are inconsistent.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let (start, end) = self.payload_range();
        buf.get(start..end).unwrap_or_default()
    }

    /// Start and end of the payload; `end < start` when inconsistent.
    fn payload_range(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        let end = len.saturating_sub(usize::from(self.padding_len()));
        (self.header_len(), end)
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

    /// Sets the extension bit X.
    pub fn set_extension(&mut self, value: bool) {
        put_bits(self.buffer.as_mut(), 0, 0x10, if value { 0x10 } else { 0 });
    }

    /// Sets the CSRC count CC (low 4 bits of `value`).
    pub fn set_csrc_count(&mut self, value: u8) {
        put_bits(self.buffer.as_mut(), 0, 0x0f, value);
    }

    /// Sets the marker bit M.
    pub fn set_marker(&mut self, value: bool) {
        put_bits(self.buffer.as_mut(), 1, 0x80, if value { 0x80 } else { 0 });
    }

    /// Sets the payload type PT (low 7 bits of `value`).
    pub fn set_payload_type(&mut self, value: u8) {
        put_bits(self.buffer.as_mut(), 1, 0x7f, value);
    }

    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, value: u16) {
        put(self.buffer.as_mut(), 2, &value.to_be_bytes());
    }

    /// Sets the timestamp.
    pub fn set_timestamp(&mut self, value: u32) {
        put(self.buffer.as_mut(), 4, &value.to_be_bytes());
    }

    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, value: u32) {
        put(self.buffer.as_mut(), 8, &value.to_be_bytes());
    }

    /// Sets CSRC number `index` (0-based); does nothing if that slot is not in the buffer.
    pub fn set_csrc(&mut self, index: usize, value: u32) {
        if index < 15 {
            put(
                self.buffer.as_mut(),
                HEADER_LEN + 4 * index,
                &value.to_be_bytes(),
            );
        }
    }

    /// The payload for in-place rewriting; empty if the lengths are inconsistent.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.payload_range();
        self.buffer.as_mut().get_mut(start..end).unwrap_or_default()
    }
}

/// Iterator over a list of big-endian 32-bit identifiers (the RTP CSRC list, RFC 3550 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Csrcs<'a> {
    bytes: &'a [u8],
}

impl<'a> Csrcs<'a> {
    /// Wraps raw big-endian identifiers; a trailing partial word is ignored.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The remaining identifiers as raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl Iterator for Csrcs<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (head, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / 4;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Csrcs<'_> {}
impl FusedIterator for Csrcs<'_> {}

/// The RTP header extension: a profile-defined id and its data (RFC 3550 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The 16 "defined by profile" bits (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// The extension data, a multiple of 4 bytes, without the 4-byte extension header.
    pub data: &'a [u8],
}

/// An RTP packet as plain values, for building packets and comparing (RFC 3550 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr<'a> {
    /// The marker bit M.
    pub marker: bool,
    /// The payload type PT, 0 to 127.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence_number: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The SSRC.
    pub ssrc: u32,
    /// The CSRC list as raw big-endian words (at most 15).
    pub csrcs: Csrcs<'a>,
    /// The header extension, if any.
    pub extension: Option<Extension<'a>>,
    /// The payload without padding.
    pub payload: &'a [u8],
    /// Number of padding octets after the payload, the count octet included (0 = none).
    pub padding: u8,
}

impl<'a> Repr<'a> {
    /// Reads a packet after checking it with [`Packet::check_len`].
    pub fn parse<T: AsRef<[u8]>>(packet: &'a Packet<T>) -> Result<Self, Error> {
        packet.check_len()?;
        Ok(Self {
            marker: packet.marker(),
            payload_type: packet.payload_type(),
            sequence_number: packet.sequence_number(),
            timestamp: packet.timestamp(),
            ssrc: packet.ssrc(),
            csrcs: packet.csrcs(),
            extension: packet.header_extension(),
            payload: packet.payload(),
            padding: packet.padding_len(),
        })
    }

    /// The exact number of bytes [`Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self.csrcs.as_bytes().len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// Writes the packet into `buf`, which must be exactly [`Repr::buffer_len`] bytes long;
    /// padding octets are zero except the final count.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Error> {
        let csrcs = self.csrcs.as_bytes();
        if self.payload_type > 0x7f || csrcs.len() > 60 || !csrcs.len().is_multiple_of(4) {
            return Err(Error::Malformed);
        }
        if let Some(ext) = self.extension {
            if ext.data.len() % 4 != 0 || ext.data.len() / 4 > usize::from(u16::MAX) {
                return Err(Error::Malformed);
            }
        }
        if buf.len() != self.buffer_len() {
            return Err(Error::Truncated);
        }
        // The counts fit: CSRC words <= 15, extension words <= u16::MAX (checked above).
        let cc = u8::try_from(csrcs.len() / 4).map_err(|_| Error::Malformed)?;
        let first = (VERSION << 6)
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | cc;
        let second = if self.marker { 0x80 } else { 0 } | self.payload_type;
        put(buf, 0, &[first, second]);
        put(buf, 2, &self.sequence_number.to_be_bytes());
        put(buf, 4, &self.timestamp.to_be_bytes());
        put(buf, 8, &self.ssrc.to_be_bytes());
        let mut at = HEADER_LEN;
        put(buf, at, csrcs);
        at += csrcs.len();
        if let Some(ext) = self.extension {
            let words = u16::try_from(ext.data.len() / 4).map_err(|_| Error::Malformed)?;
            put(buf, at, &ext.profile.to_be_bytes());
            put(buf, at + 2, &words.to_be_bytes());
            put(buf, at + 4, ext.data);
            at += 4 + ext.data.len();
        }
        put(buf, at, self.payload);
        at += self.payload.len();
        if let Some(pad) = buf.get_mut(at..) {
            pad.fill(0);
            if let Some(last) = pad.last_mut() {
                *last = self.padding;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal packet: PT 0 (PCMU), seq 0x1234, ts 0xdeadbeef, SSRC 0x11223344, 4-byte payload.
    const MINIMAL: [u8; 16] = [
        0x80, 0x00, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4,
    ];

    /// Marker, PT 96, 2 CSRCs, RFC 8285 one-byte extension (1 word), 3-byte payload, 5 padding.
    const FULL: [u8; 36] = [
        0xb2, 0xe0, 0xff, 0xff, 0x00, 0x00, 0x03, 0x20, 0xca, 0xfe, 0xba, 0xbe, // fixed
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // CSRCs
        0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00, // extension
        0x61, 0x62, 0x63, // payload "abc"
        0x00, 0x00, 0x00, 0x00, 0x05, // padding
    ];

    fn full() -> &'static [u8] {
        &FULL
    }

    fn vectors() -> Vec<(Repr<'static>, &'static [u8])> {
        vec![
            (
                Repr {
                    marker: false,
                    payload_type: 0,
                    sequence_number: 0x1234,
                    timestamp: 0xdead_beef,
                    ssrc: 0x1122_3344,
                    csrcs: Csrcs::new(&[]),
                    extension: None,
                    payload: &[1, 2, 3, 4],
                    padding: 0,
                },
                &MINIMAL[..],
            ),
            (
                Repr {
                    marker: true,
                    payload_type: 96,
                    sequence_number: 0xffff,
                    timestamp: 800,
                    ssrc: 0xcafe_babe,
                    csrcs: Csrcs::new(&[0, 0, 0, 1, 0, 0, 0, 2]),
                    extension: Some(Extension {
                        profile: 0xbede,
                        data: &[0x10, 0xaa, 0, 0],
                    }),
                    payload: b"abc",
                    padding: 5,
                },
                full(),
            ),
        ]
    }

    #[test]
    fn vectors_parse_and_emit() {
        for (repr, bytes) in vectors() {
            let packet = Packet::new_checked(bytes).unwrap();
            assert_eq!(Repr::parse(&packet).unwrap(), repr);
            let mut out = vec![0xee; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn accessors_on_full_packet() {
        let p = Packet::new_checked(full()).unwrap();
        assert_eq!(p.version(), 2);
        assert!(p.padding() && p.extension() && p.marker());
        assert_eq!(p.csrc_count(), 2);
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.sequence_number(), 65535);
        assert_eq!(p.timestamp(), 800);
        assert_eq!(p.ssrc(), 0xcafe_babe);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(p.csrcs().len(), 2);
        let ext = p.header_extension().unwrap();
        assert_eq!(ext.profile, 0xbede);
        assert_eq!(ext.data, [0x10, 0xaa, 0, 0]);
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.padding_len(), 5);
        assert_eq!(p.payload(), b"abc");
    }

    #[test]
    fn setters_round_trip() {
        let mut buf = MINIMAL;
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_marker(true);
        p.set_payload_type(111);
        p.set_sequence_number(7);
        p.set_timestamp(0x0102_0304);
        p.set_ssrc(42);
        p.payload_mut().copy_from_slice(b"wxyz");
        assert!(p.marker());
        assert_eq!(p.payload_type(), 111);
        assert_eq!(p.sequence_number(), 7);
        assert_eq!(p.timestamp(), 0x0102_0304);
        assert_eq!(p.ssrc(), 42);
        assert_eq!(p.payload(), b"wxyz");
        p.set_version(1);
        assert_eq!(p.version(), 1);
        p.set_version(2);
        p.set_csrc_count(1);
        p.set_csrc(0, 0xabcd_ef01);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), [0xabcd_ef01]);
        assert_eq!(p.payload(), b"");
        p.set_extension(true);
        p.set_padding(true);
        assert!(p.extension() && p.padding());
        assert!(p.check_len().is_err());
        // Setters on a short buffer are no-ops, not panics.
        let mut short = [0u8; 3];
        let mut s = Packet::new_unchecked(&mut short[..]);
        s.set_ssrc(1);
        s.set_timestamp(1);
        s.set_csrc(14, 1);
        s.set_csrc(usize::MAX, 1);
        s.set_sequence_number(0x0102); // needs bytes 2..4: all or nothing
        s.set_payload_type(5);
        assert_eq!(short, [0, 5, 0]);
    }

    #[test]
    fn malformed_rejected() {
        let cases: &[(&[u8], Error)] = &[
            (&[], Error::Truncated),
            (&MINIMAL[..11], Error::Truncated),
            // Version 1.
            (&[0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], Error::Version),
            // Version 0 (looks like STUN).
            (
                &[0x00, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0],
                Error::Version,
            ),
            // CC = 15 but no CSRCs.
            (
                &[0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
                Error::Truncated,
            ),
            // X set but no extension header.
            (&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], Error::Truncated),
            // Extension says 2 words, 1 present.
            (
                &[
                    0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 2, 1, 2, 3, 4,
                ],
                Error::Truncated,
            ),
            // Padding count 5 but only 4 bytes after the header.
            (
                &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
                Error::Padding,
            ),
            // Padding count 0.
            (
                &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                Error::Padding,
            ),
            // Padding bit set, no byte after the header at all.
            (&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], Error::Padding),
        ];
        for (bytes, err) in cases {
            assert_eq!(
                Packet::new_checked(*bytes).err(),
                Some(*err),
                "{bytes:02x?}"
            );
        }
        // Padding that exactly fills the payload is allowed (padding-only packet).
        let p = Packet::new_checked(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4][..]);
        assert_eq!(p.unwrap().payload(), b"");
        // Every truncation of a valid packet is rejected.
        for n in 0..full().len() {
            assert!(Packet::new_checked(&full()[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn emit_rejects_bad_repr() {
        let (mut repr, bytes) = vectors().remove(1);
        let mut wrong = vec![0; bytes.len() - 1];
        assert_eq!(repr.emit(&mut wrong), Err(Error::Truncated));
        repr.payload_type = 128;
        let mut out = vec![0; repr.buffer_len()];
        assert_eq!(repr.emit(&mut out), Err(Error::Malformed));
        repr.payload_type = 0;
        repr.extension = Some(Extension {
            profile: 0,
            data: &[1, 2, 3],
        });
        let mut out = vec![0; repr.buffer_len()];
        assert_eq!(repr.emit(&mut out), Err(Error::Malformed));
    }

    #[test]
    fn unchecked_garbage_never_panics() {
        for bytes in [
            &[][..],
            &[0xff][..],
            &[0xff; 12][..],
            &[0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
            &[0x3f; 40][..],
        ] {
            let p = Packet::new_unchecked(bytes);
            exercise(&p);
        }
    }

    fn exercise<T: AsRef<[u8]>>(p: &Packet<T>) {
        let _ = (p.version(), p.padding(), p.extension(), p.csrc_count());
        let _ = (p.marker(), p.payload_type(), p.sequence_number());
        let _ = (p.timestamp(), p.ssrc(), p.header_len(), p.padding_len());
        let _ = p.csrcs().count();
        let _ = p.header_extension();
        let _ = p.payload();
        let _ = p.check_len();
        let _ = Repr::parse(p).map(|r| r.buffer_len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..96)) {
            let p = Packet::new_unchecked(&bytes[..]);
            exercise(&p);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                // A checked packet round-trips through Repr byte for byte, except for
                // the values of padding octets other than the count.
                let repr = Repr::parse(&p).unwrap();
                let mut out = vec![0; repr.buffer_len()];
                repr.emit(&mut out).unwrap();
                proptest::prop_assert_eq!(out.len(), bytes.len());
                let keep = bytes.len() - usize::from(repr.padding);
                proptest::prop_assert_eq!(&out[..keep], &bytes[..keep]);
            }
            let mut owned = bytes.clone();
            let mut m = Packet::new_unchecked(&mut owned[..]);
            m.set_csrc(3, 1);
            let _ = m.payload_mut().len();
        }
    }
}
