//! SDP session descriptions (RFC 4566) for offer/answer (RFC 3264).
//!
//! [`Sdp`] keeps a body as an ordered list of [`Line`]s, each a slice of the received bytes
//! with its own line ending: the session-level lines, then one [`MediaDescription`] per `m=`
//! line. Lines the SBC does not understand (unknown types, `a=crypto`, `a=fingerprint`,
//! `a=candidate`, ...) are kept verbatim, so an SDP that is parsed and written back unchanged
//! comes out byte for byte as it came in. Typed accessors ([`Sdp::origin`],
//! [`Media::connection`], [`MediaDescription::rtpmaps`], ...) read the lines on demand; the
//! rewrites the B2BUA and relay need ([`Sdp::set_connection_address`],
//! [`MediaDescription::set_transport`], [`MediaDescription::retain_payload_types`],
//! [`MediaDescription::set_direction`], ...) replace, add or remove whole lines and leave the
//! others as they were. A line a rewrite adds ends in CRLF; a line it changes keeps its ending.
//!
//! ```
//! # use sbc_common::sdp::{Direction, Sdp};
//! let offer = Sdp::parse(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n\
//!     t=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")?;
//! let audio = offer.media().next().unwrap();
//! assert_eq!((audio.port(), audio.direction()), (4000, Direction::SendRecv));
//! assert_eq!(audio.codec(0).unwrap().encoding, "PCMU");
//!
//! let mut out = offer.clone();
//! out.set_connection_address("203.0.113.5".parse().unwrap());
//! out.media_mut(0).unwrap().set_port(30000);
//! out.bump_origin_version()?;
//! let mut buf = Vec::new();
//! out.write_to(&mut buf);
//! assert!(buf.starts_with(b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\n"));
//! # Ok::<(), sbc_common::sdp::SdpError>(())
//! ```
//!
//! # How strict the parser is
//!
//! Refused ([`SdpError`], which the B2BUA answers with 400 or 488): an empty body; a first
//! line other than `v=0`; a second `v=`; a missing, repeated or malformed `o=`, or one inside a
//! media section; a non-blank line that is not `<letter>=<value>`; NUL or a CR that does not
//! end a line; a malformed `c=` line at any level; a malformed session-level `t=`; an `m=` line
//! without port, protocol or (unless the port is 0) formats, or with a port above 65535.
//!
//! Tolerated, because real phones send them: bare LF line ends, mixed with CRLF; a last line
//! without newline; blank lines (kept and written back); missing `s=` or `t=`; lines out of
//! RFC 4566 order; runs of blanks between fields and blanks at the end of a line; a username
//! with blanks in `o=`; a `c=` with a domain name or an unknown nettype (kept raw, no
//! [`IpAddr`](std::net::IpAddr)); no `c=` at all (the effective connection is then `None`);
//! a rejected `m=` line without formats; malformed attributes (kept, ignored by the typed
//! accessors); values that are not UTF-8 in lines other than `v=`, `o=`, `c=`, `t=`, `m=`
//! (kept, but not returned as text). Attribute names are matched ignoring ASCII case.
//!
//! Parsing never panics, whatever the input.

pub mod crypto;
mod error;
mod fields;
mod line;
mod media;
mod parse;
pub mod payload;
mod rewrite;
mod section;

#[cfg(test)]
mod tests;

use std::str::FromStr;

use bytes::{BufMut, Bytes};

pub use error::SdpError;
pub use fields::{Attribute, Connection, Direction, Fmtp, Origin, Rtcp, RtpMap, Timing};
pub use line::{Line, LineEnding};
pub use media::{Media, MediaDescription};
pub use payload::Codec;

/// A parsed SDP body: session-level lines, then the media sections, each kept line by line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sdp {
    /// From `v=` up to the first `m=`; always holds the `v=` and `o=` lines.
    session: Vec<Line>,
    media: Vec<MediaDescription>,
}

impl Sdp {
    /// Parses a body, copying it once into a [`Bytes`] that the lines then share.
    pub fn parse(input: &[u8]) -> Result<Self, SdpError> {
        parse::parse(Bytes::copy_from_slice(input))
    }

    /// Parses a body without copying it: the lines are slices of `input`.
    pub fn from_bytes(input: Bytes) -> Result<Self, SdpError> {
        parse::parse(input)
    }

    /// The session-level lines, from `v=` up to the first `m=`.
    pub fn session_lines(&self) -> &[Line] {
        &self.session
    }

    /// Every line of the body in order.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.session
            .iter()
            .chain(self.media.iter().flat_map(|m| m.lines.iter()))
    }

    /// The `o=` line (the parser requires one).
    pub fn origin(&self) -> Option<Origin<'_>> {
        self.session
            .iter()
            .filter(|l| l.is(b'o'))
            .find_map(|l| Origin::parse(l.value()?))
    }

    /// The session name from `s=` (`-` or a single blank in most SIP SDPs); `None` when the
    /// line is missing or not UTF-8.
    pub fn session_name(&self) -> Option<&str> {
        self.session
            .iter()
            .find(|l| l.is(b's'))
            .and_then(Line::value)
    }

    /// The first `t=` line, if any.
    pub fn timing(&self) -> Option<Timing> {
        self.session
            .iter()
            .filter(|l| l.is(b't'))
            .find_map(|l| Timing::parse(l.value()?))
    }

    /// The session-level `c=` line, if any (see [`Media::connection`] for the effective one).
    pub fn connection(&self) -> Option<Connection<'_>> {
        section::connection(&self.session)
    }

    /// The session-level direction attribute, if any (see [`Media::direction`]).
    pub fn session_direction(&self) -> Option<Direction> {
        section::direction(&self.session)
    }

    /// The session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        section::attributes(&self.session)
    }

    /// The value of the first session-level attribute `name` (ASCII case-insensitive);
    /// `Some("")` for a property attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        section::attribute(&self.session, name)
    }

    /// Whether the session level has an attribute `name`.
    pub fn has_attribute(&self, name: &str) -> bool {
        section::has_attribute(&self.session, name)
    }

    /// The media sections in order, each able to see the session level.
    pub fn media(&self) -> impl ExactSizeIterator<Item = Media<'_>> + '_ {
        self.media
            .iter()
            .enumerate()
            .map(move |(index, description)| Media {
                sdp: self,
                index,
                description,
            })
    }

    /// The media section at `index` (from 0).
    pub fn media_at(&self, index: usize) -> Option<Media<'_>> {
        let description = self.media.get(index)?;
        Some(Media {
            sdp: self,
            index,
            description,
        })
    }

    /// How many media sections there are.
    pub fn media_count(&self) -> usize {
        self.media.len()
    }

    /// The media section at `index`, to rewrite it.
    pub fn media_mut(&mut self, index: usize) -> Option<&mut MediaDescription> {
        self.media.get_mut(index)
    }

    /// All media sections, to rewrite them.
    pub fn media_iter_mut(&mut self) -> impl Iterator<Item = &mut MediaDescription> {
        self.media.iter_mut()
    }

    /// Whether the call is on hold: there is at least one stream that is not rejected, and
    /// every such stream is on hold ([`Media::is_on_hold`]).
    pub fn is_on_hold(&self) -> bool {
        let mut active = self.media().filter(|m| !m.is_rejected()).peekable();
        active.peek().is_some() && active.all(|m| m.is_on_hold())
    }

    /// The number of bytes [`Sdp::write_to`] appends.
    pub fn encoded_len(&self) -> usize {
        let mut lines = self.lines().peekable();
        let mut n = 0;
        while let Some(line) = lines.next() {
            n += line.encoded_len(lines.peek().is_none());
        }
        n
    }

    /// Appends the body to `buf` (a `Vec<u8>`, a `BytesMut`, ...), so buffers can be reused.
    pub fn write_to<B: BufMut>(&self, buf: &mut B) {
        let mut lines = self.lines().peekable();
        while let Some(line) = lines.next() {
            buf.put_slice(line.as_bytes());
            buf.put_slice(line.written_ending(lines.peek().is_none()));
        }
    }

    /// The body as a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut buf);
        Bytes::from(buf)
    }
}

impl FromStr for Sdp {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, SdpError> {
        Self::parse(s.as_bytes())
    }
}

impl TryFrom<Bytes> for Sdp {
    type Error = SdpError;

    fn try_from(input: Bytes) -> Result<Self, SdpError> {
        Self::from_bytes(input)
    }
}
