//! The rewrites a B2BUA and media relay apply to an SDP before passing it on.
//!
//! Each one replaces, adds or removes whole lines. A replaced line keeps its ending and, where
//! only one field changes (`o=`, `m=` port), the rest of its bytes; an added line ends in
//! CRLF and goes where RFC 4566 §5 orders it.

use std::net::IpAddr;

use super::fields::{
    addr_text, parse_payload_type, push_decimal, Attribute, Connection, Direction, MediaLine,
    OriginTokens, Rtcp,
};
use super::line::{tokens, Line};
use super::section::{self, splice};
use super::{MediaDescription, Sdp, SdpError};

impl Sdp {
    /// Points the whole session at `ip`: rewrites the session-level `c=` line and every
    /// media-level one to `IN IP4 <ip>` or `IN IP6 <ip>` (any multicast suffix is dropped).
    /// If the session level has no `c=` and some media section has none either, a
    /// session-level one is added so that every stream has an address.
    pub fn set_connection_address(&mut self, ip: IpAddr) {
        let in_session = section::rewrite_connections(&mut self.session, ip);
        let mut all_media_have_one = true;
        for m in &mut self.media {
            if section::rewrite_connections(&mut m.lines, ip) == 0 {
                all_media_have_one = false;
            }
        }
        if in_session == 0 && !all_media_have_one {
            self.insert_session_connection(ip);
        }
    }

    /// Sets the session-level `c=` line to `ip`, adding one if there is none. Media-level
    /// `c=` lines, which override it, are left alone.
    pub fn set_session_connection_address(&mut self, ip: IpAddr) {
        if section::rewrite_connections(&mut self.session, ip) == 0 {
            self.insert_session_connection(ip);
        }
    }

    /// Adds a session-level `c=` line where RFC 4566 §5 puts it: before `b=`, `t=`, `r=`,
    /// `z=`, `k=` and `a=`.
    fn insert_session_connection(&mut self, ip: IpAddr) {
        let at = self
            .session
            .iter()
            .position(|l| l.kind_byte().is_some_and(|k| b"btrzka".contains(&k)))
            .unwrap_or_else(|| section::end_of_content(&self.session));
        self.session
            .insert(at, Line::new(b'c', &Connection::value_for(ip)));
    }

    fn origin_line(&mut self) -> Option<&mut Line> {
        self.session.iter_mut().find(|l| l.is(b'o'))
    }

    /// The 1-based line number of `o=`, for errors.
    fn origin_line_number(&self) -> usize {
        self.session
            .iter()
            .position(|l| l.is(b'o'))
            .map_or(0, |i| i + 1)
    }

    /// Sets the address of the `o=` line (and its addrtype to `IP4` or `IP6`), e.g. to hide
    /// the far end's address. The other fields are kept as they were.
    pub fn set_origin_address(&mut self, ip: IpAddr) {
        let Some(line) = self.origin_line() else {
            return;
        };
        let Some(value) = line.value() else { return };
        let Some(t) = OriginTokens::parse(value) else {
            return;
        };
        let replaced = addr_text(ip);
        let new = splice(value, t.addrtype.start, t.address.end(), &replaced);
        *line = line.with_value(&new);
    }

    /// Adds one to the `o=` sess-version, as every changed offer or answer must (RFC 3264 §8).
    /// The number is incremented as a decimal string, so any length works.
    ///
    /// Fails with [`SdpError::BadOrigin`] when the version is not a number.
    pub fn bump_origin_version(&mut self) -> Result<(), SdpError> {
        let number = self.origin_line_number();
        let bad = SdpError::BadOrigin { line: number };
        let line = self.origin_line().ok_or(SdpError::MissingOrigin)?;
        let value = line.value().ok_or_else(|| bad.clone())?;
        let t = OriginTokens::parse(value).ok_or_else(|| bad.clone())?;
        let next = increment_decimal(t.session_version.text).ok_or(bad)?;
        let new = splice(
            value,
            t.session_version.start,
            t.session_version.end(),
            &next,
        );
        *line = line.with_value(&new);
        Ok(())
    }

    /// Sets the `o=` sess-version, for a B2BUA that keeps its own version per call leg.
    pub fn set_origin_version(&mut self, version: u64) {
        let Some(line) = self.origin_line() else {
            return;
        };
        let Some(value) = line.value() else { return };
        let Some(t) = OriginTokens::parse(value) else {
            return;
        };
        let new = splice(value, t.session_version.start, t.session_version.end(), &{
            let mut v = String::with_capacity(20);
            push_decimal(&mut v, version);
            v
        });
        *line = line.with_value(&new);
    }

    /// Replaces the session-level direction attribute, or adds one.
    pub fn set_session_direction(&mut self, direction: Direction) {
        section::set_direction(&mut self.session, direction);
    }

    /// Appends a session-level attribute: `a=<name>` or `a=<name>:<value>`.
    ///
    /// Fails with [`SdpError::InvalidText`] if the text holds CR, LF or NUL, or the name is
    /// empty or holds `:`.
    pub fn add_attribute(&mut self, name: &str, value: Option<&str>) -> Result<(), SdpError> {
        section::add_attribute(&mut self.session, name, value)
    }

    /// Removes every session-level attribute `name`; returns how many there were.
    pub fn remove_attribute(&mut self, name: &str) -> usize {
        section::remove_attribute(&mut self.session, name)
    }

    /// Removes, at session and media level, every attribute that describes the sender's own
    /// transport rather than the media: ICE candidates and credentials (RFC 8839 §5), DTLS
    /// fingerprint, setup and tls-id (RFC 8122, RFC 8842), and BUNDLE groups (RFC 8843 §7).
    /// A B2BUA relaying media writes its own transport on each leg and must never pass these
    /// on: they would leak the far end's addresses and offer what the relay does not provide.
    /// Returns how many lines went.
    pub fn strip_foreign_transport(&mut self) -> usize {
        let mut n = strip_transport_lines(&mut self.session);
        for m in &mut self.media {
            n += strip_transport_lines(&mut m.lines);
        }
        n
    }
}

/// Attributes describing a peer's own transport (see [`Sdp::strip_foreign_transport`]).
const FOREIGN_TRANSPORT: [&str; 13] = [
    "candidate",
    "remote-candidates",
    "end-of-candidates",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
    "ice-pacing",
    "fingerprint",
    "setup",
    "tls-id",
    "bundle-only",
];

fn strip_transport_lines(lines: &mut Vec<Line>) -> usize {
    let before = lines.len();
    lines.retain(|l| {
        let Some((name, value)) = l.attribute_parts() else {
            return true;
        };
        if FOREIGN_TRANSPORT
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
        {
            return false;
        }
        // `a=group:BUNDLE ...`; other group semantics (LS, FID) describe the media.
        let bundle = name.eq_ignore_ascii_case(b"group")
            && value.is_some_and(|v| {
                v.get(..6)
                    .is_some_and(|s| s.eq_ignore_ascii_case(b"BUNDLE"))
            });
        !bundle
    });
    before - lines.len()
}

/// `"41"` → `"42"`, `"99"` → `"100"`; `None` unless all digits.
fn increment_decimal(s: &str) -> Option<String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = s.as_bytes().to_vec();
    let mut carry = true;
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            carry = false;
            break;
        }
    }
    if carry {
        digits.insert(0, b'1');
    }
    String::from_utf8(digits).ok()
}

impl MediaDescription {
    /// Replaces the `m=` line's value, which the caller built from the parsed one.
    fn set_media_line(&mut self, value: &str) {
        if let Some(line) = self.lines.first_mut() {
            *line = line.with_value(value);
        }
    }

    /// Rewrites the port of the `m=` line, keeping any `/<number of ports>`. `a=rtcp` is left
    /// alone; [`Self::set_transport`] does both.
    ///
    /// Returns false, changing nothing, when a non-zero port is asked for an `m=` line without
    /// formats (a rejected stream written as `m=audio 0 RTP/AVP`): RFC 4566 needs a format on
    /// a live stream.
    pub fn set_port(&mut self, port: u16) -> bool {
        self.replace_port(port != 0, |num_ports| {
            let mut text = String::with_capacity(12);
            push_decimal(&mut text, u64::from(port));
            if let Some(n) = num_ports {
                text.push('/');
                push_decimal(&mut text, u64::from(n));
            }
            text
        })
    }

    fn replace_port(&mut self, live: bool, text: impl FnOnce(Option<u16>) -> String) -> bool {
        let Some(value) = self.lines.first().and_then(Line::value) else {
            return false;
        };
        let Ok(m) = MediaLine::parse(value) else {
            return false;
        };
        if live && m.formats.clone().next().is_none() {
            return false;
        }
        let new = splice(
            value,
            m.port_token.start,
            m.port_token.end(),
            &text(m.num_ports),
        );
        self.set_media_line(&new);
        true
    }

    /// Replaces the `m=` line's transport protocol, e.g. `RTP/AVP` with `RTP/SAVP` on a leg
    /// whose media the SBC encrypts (RFC 3711 §12, RFC 4568 §3.2). Returns false, changing
    /// nothing, when the line does not parse or `proto` is not one token.
    pub fn set_proto(&mut self, proto: &str) -> bool {
        if proto.is_empty() || proto.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
            return false;
        }
        let Some(value) = self.lines.first().and_then(Line::value) else {
            return false;
        };
        let Ok(m) = MediaLine::parse(value) else {
            return false;
        };
        let new = splice(value, m.proto.start, m.proto.end(), proto);
        self.set_media_line(&new);
        true
    }

    /// Rejects or disables the stream: port 0, without a port count (RFC 3264 §6, §8.2).
    /// Formats and attributes are kept.
    pub fn reject(&mut self) {
        self.replace_port(false, |_| "0".to_owned());
    }

    /// Rewrites an `a=rtcp` attribute (RFC 3605) to `port`, and to `ip` if it carried an
    /// address. Returns whether the section had one.
    pub fn set_rtcp(&mut self, port: u16, ip: IpAddr) -> bool {
        let Some(line) = self.lines.iter_mut().find(|l| l.is_attribute("rtcp")) else {
            return false;
        };
        let new = {
            let Some(attr) = Attribute::from_line(line) else {
                return false;
            };
            let Some(rtcp) = attr.value.and_then(Rtcp::parse) else {
                return false;
            };
            let mut text = String::with_capacity(64);
            text.push_str(attr.name);
            text.push(':');
            push_decimal(&mut text, u64::from(port));
            if rtcp.connection.is_some() {
                text.push(' ');
                text.push_str(&Connection::value_for(ip));
            }
            text
        };
        *line = line.with_value(&new);
        true
    }

    /// Points the stream at a relay: the `m=` port becomes `rtp_port`, an `a=rtcp` (if any)
    /// becomes `rtcp_port` (and `ip` if it carried an address), and a media-level `c=` (if
    /// any) becomes `ip`. With `a=rtcp-mux`, pass the same port twice. The session-level
    /// `c=` is [`Sdp::set_connection_address`]'s business.
    pub fn set_transport(&mut self, ip: IpAddr, rtp_port: u16, rtcp_port: u16) {
        self.set_port(rtp_port);
        self.set_rtcp(rtcp_port, ip);
        section::rewrite_connections(&mut self.lines, ip);
    }

    /// Sets this section's `c=` line to `ip`, adding one after `m=` (and `i=`) if it has none.
    pub fn set_connection_address(&mut self, ip: IpAddr) {
        if section::rewrite_connections(&mut self.lines, ip) == 0 {
            let at = 1 + self.lines.iter().skip(1).take_while(|l| l.is(b'i')).count();
            let at = at.min(self.lines.len());
            self.lines
                .insert(at, Line::new(b'c', &Connection::value_for(ip)));
        }
    }

    /// Keeps only the payload types in `keep` in the `m=` line, and drops the `a=rtpmap`,
    /// `a=fmtp` and `a=rtcp-fb` lines of the others. Formats that are not payload types
    /// (`t38`, `*`) are kept. Returns how many formats were removed.
    ///
    /// Fails with [`SdpError::NoFormatsLeft`], changing nothing, if no format would remain;
    /// the caller may then [`reject`](Self::reject) the stream.
    pub fn retain_payload_types(&mut self, keep: &[u8]) -> Result<usize, SdpError> {
        self.retain_payload_types_by(|pt| keep.contains(&pt))
    }

    /// Removes the payload types in `remove` as [`Self::retain_payload_types`] does.
    pub fn remove_payload_types(&mut self, remove: &[u8]) -> Result<usize, SdpError> {
        self.retain_payload_types_by(|pt| !remove.contains(&pt))
    }

    /// Keeps the payload types for which `keep` is true; see [`Self::retain_payload_types`].
    pub fn retain_payload_types_by(
        &mut self,
        mut keep: impl FnMut(u8) -> bool,
    ) -> Result<usize, SdpError> {
        let Some(value) = self.lines.first().and_then(Line::value) else {
            return Ok(0);
        };
        let Ok(m) = MediaLine::parse(value) else {
            return Ok(0);
        };
        let mut kept = String::new();
        let mut removed = Vec::new();
        for format in m.formats {
            match parse_payload_type(format.text) {
                Some(pt) if !keep(pt) => removed.push(pt),
                _ => {
                    kept.push(' ');
                    kept.push_str(format.text);
                }
            }
        }
        if removed.is_empty() {
            return Ok(0);
        }
        if kept.is_empty() {
            return Err(SdpError::NoFormatsLeft);
        }
        let new = splice(value, m.proto.end(), value.len(), &kept);
        self.set_media_line(&new);
        self.lines.retain(|l| !names_payload_type(l, &removed));
        Ok(removed.len())
    }

    /// Replaces the direction attribute of this section, or adds one.
    pub fn set_direction(&mut self, direction: Direction) {
        section::set_direction(&mut self.lines, direction);
    }

    /// Appends an attribute to this section: `a=<name>` or `a=<name>:<value>`.
    ///
    /// Fails with [`SdpError::InvalidText`] if the text holds CR, LF or NUL, or the name is
    /// empty or holds `:`.
    pub fn add_attribute(&mut self, name: &str, value: Option<&str>) -> Result<(), SdpError> {
        section::add_attribute(&mut self.lines, name, value)
    }

    /// Removes every attribute `name` of this section; returns how many there were.
    pub fn remove_attribute(&mut self, name: &str) -> usize {
        section::remove_attribute(&mut self.lines, name)
    }
}

/// Whether `line` is an `a=rtpmap`, `a=fmtp` or `a=rtcp-fb` for one of `payload_types`.
fn names_payload_type(line: &Line, payload_types: &[u8]) -> bool {
    let Some((name, Some(value))) = line.attribute_parts() else {
        return false;
    };
    let per_payload = [&b"rtpmap"[..], b"fmtp", b"rtcp-fb"];
    if !per_payload.iter().any(|n| name.eq_ignore_ascii_case(n)) {
        return false;
    }
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    tokens(value)
        .next()
        .and_then(|t| parse_payload_type(t.text))
        .is_some_and(|pt| payload_types.contains(&pt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_transport_attributes_go_and_the_media_stays() {
        let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
            a=group:BUNDLE 0 1\r\na=group:LS 0 1\r\na=ice-lite\r\na=ice-options:trickle\r\na=fingerprint:sha-256 AB:CD\r\n\
            m=audio 4000 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretsecretsecretsecret\r\n\
            a=candidate:1 1 UDP 2130706431 10.0.0.5 4000 typ host\r\n\
            a=candidate:2 1 UDP 1694498815 203.0.113.7 40000 typ srflx raddr 10.0.0.5 rport 4000\r\n\
            a=end-of-candidates\r\na=setup:actpass\r\na=tls-id:1234\r\na=rtpmap:111 opus/48000/2\r\n\
            a=fmtp:111 minptime=10\r\na=rtcp-mux\r\na=sendrecv\r\na=X-unknown:kept\r\n\
            m=video 0 RTP/AVP 96\r\na=bundle-only\r\na=remote-candidates:1 10.0.0.5 4000\r\n";
        let mut sdp = Sdp::from_bytes(bytes::Bytes::from_static(text.as_bytes())).unwrap();
        assert_eq!(sdp.strip_foreign_transport(), 13);
        let out = String::from_utf8(sdp.to_bytes().to_vec()).unwrap();
        for gone in [
            "BUNDLE",
            "ice-",
            "candidate",
            "fingerprint",
            "setup",
            "tls-id",
            "10.0.0.5",
            "203.0.113.7",
            "bundle-only",
        ] {
            assert!(!out.contains(gone), "{gone} left in:\n{out}");
        }
        for kept in [
            "a=group:LS 0 1",
            "a=mid:0",
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10",
            "a=rtcp-mux",
            "a=sendrecv",
            "a=X-unknown:kept",
            "m=video 0 RTP/AVP 96",
        ] {
            assert!(out.contains(kept), "{kept} lost:\n{out}");
        }
    }

    #[test]
    fn the_transport_protocol_is_replaced_and_nothing_else() {
        let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000/2 RTP/AVP 0 8\r\na=sendrecv\r\n";
        let mut sdp = Sdp::from_bytes(bytes::Bytes::from_static(text.as_bytes())).unwrap();
        let m = sdp.media_mut(0).unwrap();
        assert!(m.set_proto("RTP/SAVP"));
        assert!(!m.set_proto("RTP/ SAVP"));
        assert!(!m.set_proto(""));
        assert_eq!(m.proto(), "RTP/SAVP");
        assert_eq!(
            String::from_utf8(sdp.to_bytes().to_vec()).unwrap(),
            text.replace("RTP/AVP", "RTP/SAVP")
        );
    }

    #[test]
    fn decimal_increment() {
        assert_eq!(increment_decimal("0").as_deref(), Some("1"));
        assert_eq!(increment_decimal("41").as_deref(), Some("42"));
        assert_eq!(increment_decimal("199").as_deref(), Some("200"));
        assert_eq!(increment_decimal("999").as_deref(), Some("1000"));
        assert_eq!(
            increment_decimal("18446744073709551615").as_deref(),
            Some("18446744073709551616")
        );
        assert_eq!(increment_decimal(""), None);
        assert_eq!(increment_decimal("1a"), None);
    }
}
