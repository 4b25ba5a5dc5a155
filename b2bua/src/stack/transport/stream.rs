//! Reading SIP off a byte stream (RFC 3261 §18.3): Content-Length framing, RFC 5626 keep-alives,
//! and the size limit, with the reply to send before closing when a message breaks it.

use bytes::Bytes;
use sbc_common::sip::{Frame, FrameError, Limits, Message, StreamFramer};

/// What the stream's bytes call for, in order (RFC 3261 §18.3, RFC 5626 §4.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// A whole message, for the parser.
    Message(Bytes),
    /// A double-CRLF keep-alive: write a single CRLF back (RFC 5626 §4.4.1).
    Ping,
    /// The stream cannot be framed any further: write `reply` if there is one, then close
    /// (RFC 3261 §18.3: a stream that loses framing must be closed).
    Close {
        /// Why.
        error: FrameError,
        /// A 413 or 400 for the request whose header section could be read.
        reply: Option<Bytes>,
    },
}

/// One connection's receive side: push bytes in, get [`StreamEvent`]s out (RFC 3261 §18.3).
#[derive(Debug)]
pub struct StreamInput {
    framer: StreamFramer,
    closed: bool,
    server: Option<String>,
}

impl StreamInput {
    /// A reader refusing messages over `max_message` bytes; `server` is the Server header of the
    /// replies it builds (RFC 3261 §20.35).
    pub fn new(max_message: usize, server: Option<&str>) -> Self {
        Self {
            framer: StreamFramer::new(max_message),
            closed: false,
            server: server.map(str::to_owned),
        }
    }

    /// Takes received bytes and appends what they complete to `out`; after a
    /// [`StreamEvent::Close`] everything is ignored.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<StreamEvent>) {
        if self.closed {
            return;
        }
        self.framer.push(data);
        loop {
            match self.framer.poll() {
                Ok(Some(Frame::Message(m))) => out.push(StreamEvent::Message(m)),
                Ok(Some(Frame::Ping)) => out.push(StreamEvent::Ping),
                Ok(Some(Frame::Pong)) => {}
                Ok(None) => break,
                Err(error) => {
                    self.closed = true;
                    let reply = error_reply(self.framer.pending(), error).map(|mut r| {
                        crate::stack::stateless::stamp_server(&mut r, self.server.as_deref());
                        r.to_bytes()
                    });
                    out.push(StreamEvent::Close { error, reply });
                    break;
                }
            }
        }
    }

    /// Bytes held for a message not yet complete.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }
}

/// The response to a request that could not be framed, built from its header section when that
/// arrived whole and names the request (RFC 3261 §8.2.6.2, §21.4.11 413, §21.4.1 400).
fn error_reply(pending: &[u8], error: FrameError) -> Option<Message> {
    let end = pending.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = Bytes::copy_from_slice(pending.get(..end)?);
    let limits = Limits {
        max_message_bytes: usize::MAX,
        max_body_bytes: usize::MAX,
        max_headers: 1024,
        max_header_bytes: usize::MAX,
        max_uri_bytes: usize::MAX,
    };
    let req = match Message::parse(head, &limits) {
        Ok(m) => m,
        Err(e) => *e.partial?,
    };
    let named = req.is_request()
        && req.via().is_some()
        && req.from().is_some()
        && req.to().is_some()
        && req.call_id().is_some()
        && req.cseq().is_some();
    if !named {
        return None;
    }
    let (code, reason) = match error {
        FrameError::TooLarge => (413, "Request Entity Too Large"),
        FrameError::MissingContentLength => (400, "Missing Content-Length on Stream"),
        FrameError::BadContentLength => (400, "Bad Content-Length"),
        _ => (400, "Bad Request"),
    };
    Some(Message::response_to(&req, code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:40000;branch=z9hG4bKs1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: s1\r\nCSeq: 1 INVITE\r\n";

    fn push_all(input: &mut StreamInput, chunks: &[&[u8]]) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        for c in chunks {
            input.push(c, &mut out);
        }
        out
    }

    fn reply_of(ev: &StreamEvent) -> Message {
        let StreamEvent::Close {
            reply: Some(bytes), ..
        } = ev
        else {
            panic!("no reply in {ev:?}")
        };
        Message::parse(bytes.clone(), &Limits::default()).unwrap()
    }

    #[test]
    fn messages_and_keepalives_come_out_in_order_across_reads() {
        let msg = format!("{HEAD}Content-Length: 3\r\n\r\nabc");
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(msg.as_bytes());
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(msg.as_bytes());
        let (a, b) = stream.split_at(50);
        let mut input = StreamInput::new(4096, Some("sbc"));
        let out = push_all(&mut input, &[a, b]);
        let m = Bytes::from(msg);
        assert_eq!(
            out,
            [
                StreamEvent::Ping,
                StreamEvent::Message(m.clone()),
                StreamEvent::Message(m)
            ],
            "the pong is swallowed"
        );
        assert_eq!(input.buffered(), 0);
    }

    #[test]
    fn an_oversized_request_gets_413_and_closes_the_stream() {
        let msg = format!("{HEAD}Content-Length: 5000\r\n\r\n");
        let mut input = StreamInput::new(1024, Some("sbc/test"));
        let out = push_all(&mut input, &[msg.as_bytes()]);
        assert_eq!(out.len(), 1);
        assert!(matches!(
            out[0],
            StreamEvent::Close {
                error: FrameError::TooLarge,
                ..
            }
        ));
        let r = reply_of(&out[0]);
        assert_eq!(r.status(), Some(413));
        assert_eq!(r.call_id(), Some("s1"));
        assert_eq!(r.via().unwrap().branch(), Some("z9hG4bKs1"));
        assert_eq!(r.server(), Some("sbc/test"));
        // Nothing more is read from a closed stream.
        let mut more = Vec::new();
        input.push(
            format!("{HEAD}Content-Length: 0\r\n\r\n").as_bytes(),
            &mut more,
        );
        assert!(more.is_empty());
    }

    #[test]
    fn a_missing_content_length_gets_400_and_garbage_gets_no_reply() {
        let mut input = StreamInput::new(4096, Some("sbc"));
        let out = push_all(&mut input, &[format!("{HEAD}\r\n").as_bytes()]);
        let r = reply_of(&out[0]);
        assert_eq!(r.status(), Some(400));
        let mut input = StreamInput::new(64, Some("sbc"));
        let out = push_all(&mut input, &[&[b'x'; 100]]);
        assert_eq!(
            out,
            [StreamEvent::Close {
                error: FrameError::TooLarge,
                reply: None
            }]
        );
    }
}
