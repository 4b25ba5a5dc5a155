//! Source description packets, SDES: chunks of items per source (RFC 3550 §6.5).

use super::{checked_packet, packet_type, sdes_item, Error, HEADER_LEN};
use crate::rtp::byte;
use core::iter::FusedIterator;

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
