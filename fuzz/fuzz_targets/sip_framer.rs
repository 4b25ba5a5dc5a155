//! TCP/TLS stream framing: a `StreamFramer` fed the stream in arbitrary chunks must cut the
//! same messages, and stop with the same error, as one fed the whole stream at once.
//!
//! Input layout: byte 0 picks how many chunk-size bytes follow (1..=8), byte 1 picks the
//! framer's size limit, then come the chunk sizes (each 1..=256, used in a cycle), then the
//! stream itself.
//!
//! Keep-alives are compared by the number of CRLFs they consume, not frame by frame. The
//! framer reads `\r\n\r\n` at a message boundary as a Ping and a lone `\r\n` as a Pong
//! (RFC 5626 §4.4.1), so a CRLF run cut by a chunk boundary can legitimately come out
//! regrouped: `\r\n|\r\n` gives Pong, Pong where the whole stream gives Ping, and
//! `\r\n|\r\n\r\n` gives Pong, Ping where the whole stream gives Ping, Pong. The bytes
//! consumed are the same either way, so each run of consecutive Ping/Pong frames is
//! collapsed into its CRLF count (Ping = 2, Pong = 1) and compared as that. Messages and the
//! final error must match exactly, and, when neither framer failed, so must the number of
//! bytes still buffered. The chunk boundaries are not restricted, so splits inside a CRLF
//! run are exercised too.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sbc_common::sip::{Frame, FrameError, Limits, Message, StreamFramer};

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Message(Bytes),
    /// A run of consecutive keep-alive frames, as the number of CRLFs they stand for.
    Crlfs(usize),
    Error(FrameError),
}

fn record(events: &mut Vec<Event>, frame: Result<Frame, FrameError>) {
    let crlfs = match frame {
        Ok(Frame::Message(m)) => return events.push(Event::Message(m)),
        Err(e) => return events.push(Event::Error(e)),
        Ok(Frame::Ping) => 2,
        Ok(Frame::Pong) => 1,
    };
    match events.last_mut() {
        Some(Event::Crlfs(n)) => *n += crlfs,
        _ => events.push(Event::Crlfs(crlfs)),
    }
}

/// Polls until the framer needs more bytes (`true`) or has failed (`false`).
fn drain(framer: &mut StreamFramer, events: &mut Vec<Event>, max: usize) -> bool {
    loop {
        match framer.poll() {
            Ok(None) => return true,
            Ok(Some(frame)) => {
                if let Frame::Message(m) = &frame {
                    assert!(
                        m.len() <= max,
                        "frame of {} bytes over limit {max}",
                        m.len()
                    );
                }
                record(events, Ok(frame));
            }
            Err(e) => {
                record(events, Err(e));
                return false;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let Some((&limit, rest)) = rest.split_first() else {
        return;
    };
    let n = usize::from(n % 8) + 1;
    if rest.len() < n {
        return;
    }
    let (sizes, stream) = rest.split_at(n);
    let sizes: Vec<usize> = sizes.iter().map(|&s| usize::from(s) + 1).collect();
    // 32..=8192 bytes: small enough that TooLarge is reachable with short inputs.
    let max = (usize::from(limit) + 1) * 32;

    let mut whole = StreamFramer::new(max);
    whole.push(stream);
    let mut whole_events = Vec::new();
    let whole_ok = drain(&mut whole, &mut whole_events, max);

    let mut chunked = StreamFramer::new(max);
    let mut chunked_events = Vec::new();
    let mut chunked_ok = true;
    let mut pos = 0;
    for &size in sizes.iter().cycle() {
        if pos >= stream.len() || !chunked_ok {
            break;
        }
        let end = (pos + size).min(stream.len());
        chunked.push(&stream[pos..end]);
        pos = end;
        chunked_ok = drain(&mut chunked, &mut chunked_events, max);
    }

    assert_eq!(
        chunked_events, whole_events,
        "chunked framing (sizes {sizes:?}, max {max}) differs from whole-stream framing"
    );
    if whole_ok && chunked_ok {
        assert_eq!(
            chunked.buffered(),
            whole.buffered(),
            "leftover bytes differ"
        );
    }

    // Every framed message goes on to the stream parser; it may reject it but not panic.
    let limits = Limits::default();
    for event in &whole_events {
        if let Event::Message(m) = event {
            let _ = Message::parse_stream(m.clone(), &limits);
        }
    }
});
