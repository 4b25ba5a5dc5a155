//! The SDP part of a `multipart/*` body (RFC 2046 §5.1, RFC 5621): SIP-I/SIP-T gateways and
//! some PBXes send the session description next to ISUP or other parts; the SBC anchors the SDP
//! and, hiding topology, drops the rest.

use super::{HeaderName, Message, TokenParams};
use bytes::Bytes;

/// The first `application/sdp` part of `msg`'s body when its Content-Type is `multipart/*` with
/// a boundary, as a zero-copy slice of the body; `None` otherwise (RFC 2046 §5.1.1).
pub fn sdp_part(msg: &Message) -> Option<Bytes> {
    let ct = msg.header(&HeaderName::ContentType)?;
    let ct = TokenParams::parse(ct, "Content-Type").ok()?;
    let (major, _) = ct.value.split_once('/')?;
    if !major.trim().eq_ignore_ascii_case("multipart") {
        return None;
    }
    let boundary = ct.params.value("boundary")?;
    let boundary = boundary.trim_matches('"');
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    let body = msg.body();
    let delimiter = [b"--", boundary.as_bytes()].concat();
    let mut parts = Vec::new();
    let mut at = 0;
    // Every delimiter line starts the body or follows a CRLF (RFC 2046 §5.1.1).
    while let Some(i) = memchr::memmem::find(&body[at..], &delimiter) {
        let start = at + i;
        if start == 0 || body[..start].ends_with(b"\r\n") {
            parts.push(start);
        }
        at = start + delimiter.len();
    }
    for pair in parts.windows(2) {
        let (open, close) = (pair[0] + delimiter.len(), pair[1]);
        let part = body.get(open..close)?;
        // The delimiter line ends with CRLF (transport padding aside); the CRLF before the next
        // delimiter belongs to it, not to the part.
        let line_end = memchr::memmem::find(part, b"\r\n")?;
        let content = part.get(line_end + 2..part.len().checked_sub(2)?)?;
        let (head, data) = match memchr::memmem::find(content, b"\r\n\r\n") {
            Some(h) => (&content[..h], content.get(h + 4..)?),
            // No part headers: only a blank line before the content (text/plain by default).
            None if content.starts_with(b"\r\n") => (&b""[..], &content[2..]),
            None => continue,
        };
        let is_sdp = std::str::from_utf8(head).ok().is_some_and(|h| {
            h.split("\r\n").any(|line| {
                line.split_once(':').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("content-type")
                        && TokenParams::parse(value.trim(), "Content-Type")
                            .is_ok_and(|t| t.value.eq_ignore_ascii_case("application/sdp"))
                })
            })
        });
        if is_sdp {
            return Some(body.slice_ref(data));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Limits;

    fn message(content_type: &str, body: &str) -> Message {
        let text = format!(
            "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: mp\r\nCSeq: 1 INVITE\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Message::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    #[test]
    fn the_sdp_part_of_a_sip_i_body_is_found() {
        let body = format!(
            "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--unique-boundary-1\r\nContent-Type: application/ISUP;version=itu-t92+\r\nContent-Disposition: signal;handling=optional\r\n\r\n\x01\x00\x49\x00\r\n--unique-boundary-1--\r\n"
        );
        let m = message("multipart/mixed;boundary=unique-boundary-1", &body);
        assert_eq!(sdp_part(&m).as_deref(), Some(SDP.as_bytes()));
    }

    #[test]
    fn the_sdp_part_may_come_second_and_the_boundary_be_quoted() {
        let body = format!(
            "preamble\r\n--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n--X\r\ncontent-type: Application/SDP\r\n\r\n{SDP}\r\n--X--"
        );
        let m = message("multipart/alternative; boundary=\"X\"", &body);
        assert_eq!(sdp_part(&m).as_deref(), Some(SDP.as_bytes()));
    }

    #[test]
    fn no_sdp_part_or_no_multipart_gives_none() {
        let body = "--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n--X--\r\n";
        assert_eq!(sdp_part(&message("multipart/mixed;boundary=X", body)), None);
        assert_eq!(sdp_part(&message("application/sdp", SDP)), None);
        assert_eq!(
            sdp_part(&message("multipart/mixed", body)),
            None,
            "no boundary"
        );
        // A boundary that never closes a part yields nothing rather than a runaway slice.
        let open = format!("--X\r\nContent-Type: application/sdp\r\n\r\n{SDP}");
        assert_eq!(
            sdp_part(&message("multipart/mixed;boundary=X", &open)),
            None
        );
    }
}
