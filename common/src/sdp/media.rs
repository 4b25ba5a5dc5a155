//! Media sections: [`MediaDescription`] (the lines from one `m=` to the next) and
//! [`Media`], a view that also sees the session level for the effective values.

use std::fmt;
use std::ops::Deref;

use super::fields::{
    parse_payload_type, parse_u32, Attribute, Connection, Direction, Fmtp, MediaLine, Rtcp, RtpMap,
};
use super::line::Line;
use super::payload::{static_codec, Codec};
use super::{section, Sdp};

/// One media section: its `m=` line and every line up to the next `m=`, in order.
///
/// The accessors here read this section alone. [`Media`] (from [`Sdp::media`]) adds the
/// values that fall back to the session level: connection and direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaDescription {
    /// Never empty: `lines[0]` is an `m=` line that parsed (checked by the parser, kept so
    /// by every rewrite). Accessors still never index blindly.
    pub(crate) lines: Vec<Line>,
}

impl MediaDescription {
    pub(crate) fn media_line(&self) -> Option<MediaLine<'_>> {
        let value = self.lines.first()?.value()?;
        MediaLine::parse(value).ok()
    }

    /// All lines of the section, the `m=` line first.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The media type: `audio`, `video`, `image`, `application`, `text`, ...
    pub fn media_type(&self) -> &str {
        self.media_line().map(|m| m.media).unwrap_or_default()
    }

    /// The transport port; 0 for a rejected or disabled stream (RFC 3264 §6).
    pub fn port(&self) -> u16 {
        self.media_line().map_or(0, |m| m.port)
    }

    /// The `/<number of ports>` of the `m=` line, if any.
    pub fn num_ports(&self) -> Option<u16> {
        self.media_line().and_then(|m| m.num_ports)
    }

    /// The transport protocol: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, ...
    pub fn proto(&self) -> &str {
        self.media_line().map(|m| m.proto.text).unwrap_or_default()
    }

    /// Whether the transport is RTP based (`RTP/...` or `.../RTP/...`), so that the formats
    /// are payload types.
    pub fn is_rtp(&self) -> bool {
        self.proto()
            .split('/')
            .any(|p| p.eq_ignore_ascii_case("RTP"))
    }

    /// The formats of the `m=` line in order, as written.
    pub fn formats(&self) -> impl Iterator<Item = &str> + '_ {
        self.media_line()
            .into_iter()
            .flat_map(|m| m.formats.map(|t| t.text))
    }

    /// The formats that are payload types (0–127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats().filter_map(parse_payload_type)
    }

    /// Whether the stream is rejected or disabled: port 0 (RFC 3264 §6, §8.2).
    pub fn is_rejected(&self) -> bool {
        self.port() == 0
    }

    /// The attributes of this section, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        section::attributes(&self.lines)
    }

    /// The value of the first attribute `name` (ASCII case-insensitive) in this section;
    /// `Some("")` for a property attribute such as `a=rtcp-mux`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        section::attribute(&self.lines, name)
    }

    /// Whether this section has an attribute `name`.
    pub fn has_attribute(&self, name: &str) -> bool {
        section::has_attribute(&self.lines, name)
    }

    /// Every well-formed `a=rtpmap` of the section, in order.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'_>> {
        self.attributes()
            .filter(|a| a.is("rtpmap"))
            .filter_map(|a| RtpMap::parse(a.value?))
    }

    /// The `a=rtpmap` for `payload_type`.
    pub fn rtpmap(&self, payload_type: u8) -> Option<RtpMap<'_>> {
        self.rtpmaps().find(|r| r.payload_type == payload_type)
    }

    /// Every `a=fmtp` of the section, in order.
    pub fn fmtps(&self) -> impl Iterator<Item = Fmtp<'_>> {
        self.attributes()
            .filter(|a| a.is("fmtp"))
            .filter_map(|a| Fmtp::parse(a.value?))
    }

    /// The format parameters for `format` (a payload type number or another format name).
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.fmtps().find(|f| f.format == format).map(|f| f.params)
    }

    /// The codec of `payload_type`: from its `a=rtpmap` if the section has one, else from the
    /// RFC 3551 static table; `None` for a dynamic type without `a=rtpmap`.
    pub fn codec(&self, payload_type: u8) -> Option<Codec<'_>> {
        self.rtpmap(payload_type)
            .map(|r| r.codec)
            .or_else(|| static_codec(payload_type))
    }

    /// The payload types of the `m=` line in order, each with its codec as [`Self::codec`]
    /// finds it.
    pub fn codecs(&self) -> impl Iterator<Item = (u8, Option<Codec<'_>>)> + '_ {
        self.payload_types().map(|pt| (pt, self.codec(pt)))
    }

    /// `a=ptime`, the packet duration in milliseconds (a fractional part is dropped).
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime").and_then(parse_millis)
    }

    /// `a=maxptime` in milliseconds (a fractional part is dropped).
    pub fn maxptime(&self) -> Option<u32> {
        self.attribute("maxptime").and_then(parse_millis)
    }

    /// The `a=rtcp` attribute (RFC 3605), if present and well-formed.
    pub fn rtcp(&self) -> Option<Rtcp<'_>> {
        self.attribute("rtcp").and_then(Rtcp::parse)
    }

    /// Whether `a=rtcp-mux` (RFC 5761) or `a=rtcp-mux-only` (RFC 8858) is present: RTCP shares
    /// the RTP port.
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux") || self.has_attribute("rtcp-mux-only")
    }

    /// The `c=` line of this section, without the session-level fallback
    /// ([`Media::connection`] has it).
    pub fn media_connection(&self) -> Option<Connection<'_>> {
        section::connection(&self.lines)
    }

    /// The direction attribute of this section, without the session-level fallback and the
    /// `sendrecv` default ([`Media::direction`] has them).
    pub fn media_direction(&self) -> Option<Direction> {
        section::direction(&self.lines)
    }
}

/// `20`, or `20.5` read as 20: some phones write a fractional ptime.
fn parse_millis(value: &str) -> Option<u32> {
    let value = value.trim_matches([' ', '\t']);
    match value.split_once('.') {
        Some((ms, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => parse_u32(ms),
        Some(_) => None,
        None => parse_u32(value),
    }
}

/// A media section seen within its SDP, so that connection and direction fall back to the
/// session level. Dereferences to [`MediaDescription`] for everything else; values borrowed
/// through that deref live as long as the `Media`, so to keep one beyond it (e.g. in a
/// closure over [`Sdp::media`]) go through [`Media::description`] instead.
#[derive(Clone, Copy)]
pub struct Media<'a> {
    pub(crate) sdp: &'a Sdp,
    pub(crate) index: usize,
    pub(crate) description: &'a MediaDescription,
}

impl<'a> Media<'a> {
    /// The position of this section among the media sections, from 0. Offer and answer pair
    /// their streams by this position (RFC 3264 §6).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The section itself.
    pub fn description(&self) -> &'a MediaDescription {
        self.description
    }

    /// The effective connection: the section's `c=` line, else the session's (RFC 4566 §5.7).
    pub fn connection(&self) -> Option<Connection<'a>> {
        self.description
            .media_connection()
            .or_else(|| self.sdp.connection())
    }

    /// The effective direction: the section's attribute, else the session's, else
    /// `sendrecv` (RFC 3264 §5.1).
    pub fn direction(&self) -> Direction {
        self.description
            .media_direction()
            .or_else(|| self.sdp.session_direction())
            .unwrap_or_default()
    }

    /// Whether the stream is on hold: direction `sendonly` or `inactive` (RFC 3264 §8.4), or
    /// connection address `0.0.0.0` / `::` (the RFC 2543 style). A rejected stream (port 0)
    /// is not on hold, and neither is an ICE stream with `0.0.0.0` (ICE and trickle ICE,
    /// RFC 8839/8840, write that address when the real ones are in `a=candidate` lines).
    pub fn is_on_hold(&self) -> bool {
        if self.description.is_rejected() {
            return false;
        }
        matches!(self.direction(), Direction::SendOnly | Direction::Inactive)
            || (self.connection().is_some_and(|c| c.is_unspecified()) && !self.uses_ice())
    }

    /// Whether the section or the session carries ICE credentials (`a=ice-ufrag`) or the
    /// section has `a=candidate` lines.
    pub fn uses_ice(&self) -> bool {
        self.description.has_attribute("ice-ufrag")
            || self.description.has_attribute("candidate")
            || self.sdp.has_attribute("ice-ufrag")
    }
}

impl fmt::Debug for Media<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Media")
            .field("index", &self.index)
            .field("description", self.description)
            .finish()
    }
}

impl Deref for Media<'_> {
    type Target = MediaDescription;

    fn deref(&self) -> &MediaDescription {
        self.description
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis() {
        assert_eq!(parse_millis("20"), Some(20));
        assert_eq!(parse_millis(" 30 "), Some(30));
        assert_eq!(parse_millis("20.5"), Some(20));
        assert_eq!(parse_millis("20.x"), None);
        assert_eq!(parse_millis("-1"), None);
        assert_eq!(parse_millis(""), None);
    }
}
