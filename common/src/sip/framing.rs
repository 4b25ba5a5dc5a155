//! Cutting a TCP/TLS byte stream into SIP messages by Content-Length (RFC 3261 §18.3), with the
//! CRLF keep-alives of RFC 5626 §3.5.1.

use super::fields::parse_u32;
use bytes::{Bytes, BytesMut};
use thiserror::Error;

/// One unit cut from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message (start line, headers and exactly Content-Length bytes of body).
    Message(Bytes),
    /// A double-CRLF keep-alive ping; answer it with a single CRLF (RFC 5626 §4.4.1).
    Ping,
    /// A single-CRLF pong answering our ping (RFC 5626 §4.4.1).
    Pong,
}

/// Why a stream cannot be framed any further; the connection should be closed (after a 400 where a
/// reply is possible).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A message on a stream has no Content-Length (RFC 3261 §18.3).
    #[error("missing Content-Length on a stream transport")]
    MissingContentLength,
    /// The Content-Length value is not a number.
    #[error("bad Content-Length")]
    BadContentLength,
    /// The message (or its header section so far) is larger than the limit.
    #[error("message too large")]
    TooLarge,
}

/// Accumulates stream bytes and yields whole messages, whatever the chunking of the input.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    scanned: usize,
    max_message: usize,
}

impl StreamFramer {
    /// A framer that refuses messages larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(4096),
            scanned: 0,
            max_message,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The bytes received but not yet returned as frames, such as the start of a message that
    /// failed to frame, from which a transport can still build a reply (RFC 3261 §18.3).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or an error after which the stream
    /// is unusable.
    pub fn poll(&mut self) -> Result<Option<Frame>, FrameError> {
        // Stray LFs between messages are dropped first, so that a keep-alive after them is
        // seen as one whether or not it arrived in the same read.
        while self.buf.first() == Some(&b'\n') {
            let _ = self.buf.split_to(1);
            self.scanned = 0;
        }
        // Keep-alives at a message boundary.
        if self.buf.starts_with(b"\r\n\r\n") {
            let _ = self.buf.split_to(4);
            self.scanned = 0;
            return Ok(Some(Frame::Ping));
        }
        if self.buf.starts_with(b"\r\n") {
            let _ = self.buf.split_to(2);
            self.scanned = 0;
            return Ok(Some(Frame::Pong));
        }
        let Some(head_len) = self.find_head_end() else {
            if self.buf.len() > self.max_message {
                return Err(FrameError::TooLarge);
            }
            return Ok(None);
        };
        // An oversized header section is TooLarge before its Content-Length is read, as it is
        // when it arrives in pieces and the check above fires first.
        if head_len > self.max_message {
            return Err(FrameError::TooLarge);
        }
        let head = self.buf.get(..head_len).unwrap_or_default();
        let body_len = content_length(head)?;
        let total = head_len
            .checked_add(body_len)
            .filter(|t| *t <= self.max_message)
            .ok_or(FrameError::TooLarge)?;
        if self.buf.len() < total {
            return Ok(None);
        }
        self.scanned = 0;
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }

    /// The length of the header section including the blank line, if it is complete.
    fn find_head_end(&mut self) -> Option<usize> {
        let start = self.scanned.saturating_sub(3);
        let tail = self.buf.get(start..)?;
        let mut found = None;
        for (i, w) in tail.windows(2).enumerate() {
            if w == b"\n\n" {
                found = Some(start + i + 2);
                break;
            }
            if w == b"\n\r" && tail.get(i + 2) == Some(&b'\n') {
                found = Some(start + i + 3);
                break;
            }
        }
        if found.is_none() {
            self.scanned = self.buf.len();
        }
        found
    }
}

/// Reads Content-Length (or its compact form `l`) from a header section.
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let text = std::str::from_utf8(head).map_err(|_| FrameError::BadContentLength)?;
    for line in text.split('\n').skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_end();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            return parse_u32(value)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(FrameError::BadContentLength);
        }
    }
    Err(FrameError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG1: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 5\r\n\r\nhello";
    const MSG2: &[u8] = b"SIP/2.0 200 OK\r\nl: 0\r\n\r\n";

    fn frames_of(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut f = StreamFramer::new(65535);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c);
            while let Some(fr) = f.poll().unwrap() {
                out.push(fr);
            }
        }
        out
    }

    #[test]
    fn any_chunking_gives_the_same_frames() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(MSG1);
        stream.extend_from_slice(MSG2);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(MSG1);
        let whole = frames_of(&[&stream]);
        assert_eq!(
            whole,
            vec![
                Frame::Ping,
                Frame::Message(Bytes::from_static(MSG1)),
                Frame::Message(Bytes::from_static(MSG2)),
                Frame::Pong,
                Frame::Message(Bytes::from_static(MSG1)),
            ]
        );
        // Byte by byte, and every split into two chunks, give the same frames (except that a lone
        // CRLF split from its pair may be seen as two pongs instead of a ping, which is why the ping
        // is kept whole here).
        let ping_len = 4;
        for cut in ping_len..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(frames_of(&[a, b]), whole, "cut at {cut}");
        }
        let (ping, rest) = stream.split_at(ping_len);
        let mut chunks: Vec<&[u8]> = vec![ping];
        chunks.extend(rest.chunks(1));
        assert_eq!(frames_of(&chunks), whole);
    }

    #[test]
    fn missing_or_bad_content_length_and_size_limits() {
        let mut f = StreamFramer::new(65535);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.poll(), Err(FrameError::MissingContentLength));
        let mut f = StreamFramer::new(65535);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n");
        assert_eq!(f.poll(), Err(FrameError::BadContentLength));
        let mut f = StreamFramer::new(100);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n");
        assert_eq!(f.poll(), Err(FrameError::TooLarge));
        let mut f = StreamFramer::new(100);
        f.push(&[b'a'; 101]);
        assert_eq!(f.poll(), Err(FrameError::TooLarge));
    }

    /// Every frame and the error that ends the stream, if any.
    fn results_of(chunks: &[&[u8]], max: usize) -> Vec<Result<Frame, FrameError>> {
        let mut f = StreamFramer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c);
            loop {
                match f.poll() {
                    Ok(Some(fr)) => out.push(Ok(fr)),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        return out;
                    }
                }
            }
        }
        out
    }

    // Regressions found by the sip_framer fuzz target: the outcome depended on the chunking.

    #[test]
    fn oversized_header_section_is_too_large_whatever_the_chunking() {
        // Whole, this was MissingContentLength (resp. BadContentLength); byte by byte, TooLarge.
        let no_length: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        let fuzzed: &[u8] = b"\x00\xffme:20\r\na=\xff\x01\x00\x00\x00\x00\x00\x00\x000\r\na=\xff\xff\xff\xffv\r\n\r\n";
        for stream in [no_length, fuzzed] {
            let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(results_of(&[stream], 32), [Err(FrameError::TooLarge)]);
            assert_eq!(results_of(&bytewise, 32), [Err(FrameError::TooLarge)]);
        }
        // Within the limit the Content-Length errors are still reported.
        assert_eq!(
            results_of(&[no_length], 64),
            [Err(FrameError::MissingContentLength)]
        );
    }

    #[test]
    fn stray_lf_before_a_ping() {
        // Whole, the LF was dropped and "\r\n\r\n" read as an empty header section.
        assert_eq!(results_of(&[b"\n\r\n\r\n"], 100), [Ok(Frame::Ping)]);
        assert_eq!(results_of(&[b"\n", b"\r\n\r\n"], 100), [Ok(Frame::Ping)]);
        let mut stream = MSG2.to_vec();
        stream.extend_from_slice(b"\n\n\r\n\r\n");
        stream.extend_from_slice(MSG2);
        let expected = [
            Ok(Frame::Message(Bytes::from_static(MSG2))),
            Ok(Frame::Ping),
            Ok(Frame::Message(Bytes::from_static(MSG2))),
        ];
        assert_eq!(results_of(&[&stream], 100), expected);
        // Cut after each LF (not inside the CRLF run, which may regroup into two pongs).
        let (a, rest) = stream.split_at(MSG2.len() + 1);
        let (b, c) = rest.split_at(1);
        assert_eq!(results_of(&[a, b, c], 100), expected);
    }
}
