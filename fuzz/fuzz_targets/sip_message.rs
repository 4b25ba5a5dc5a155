//! SIP datagram parser: `Message::parse` must never panic, an accepted message must serialize
//! byte-identical to its input (after leading CRLFs, up to Content-Length) and re-parse to an
//! equal message, and `parse_checked` plus the error reply must never panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sbc_common::sip::message::check_header;
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{Contact, Limits, Message, NameAddr};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let input = Bytes::copy_from_slice(data);

    if let Ok(msg) = Message::parse(input.clone(), &limits) {
        // Unchanged message: written byte-identical to the input minus the leading CRLFs
        // (RFC 3261 §7.5) and anything past Content-Length.
        let out = msg.to_bytes();
        let lead = data
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(data.len());
        let expected = data.get(lead..lead + out.len());
        assert_eq!(
            expected,
            Some(&out[..]),
            "serialized message is not a byte-identical prefix of the input"
        );
        let mut buf = Vec::new();
        msg.write_to(&mut buf);
        assert_eq!(buf, out, "write_to and to_bytes differ");

        // parse -> serialize -> parse gives the same message.
        let again = Message::parse(out.clone(), &limits)
            .unwrap_or_else(|e| panic!("re-parse of serialized message failed: {e:?}"));
        assert_eq!(again, msg, "re-parsed message differs");
        assert_eq!(again.to_bytes(), out, "second serialization differs");

        exercise_views(&msg);
    }

    // What the SBC does with every datagram: parse, typed checks, and a reply on error.
    match Message::parse_checked(input, &limits) {
        Ok(msg) => exercise_views(&msg),
        Err(err) => {
            let _ = err.status();
            let _ = err.can_reply();
            if let Some(partial) = err.partial.as_deref() {
                exercise_views(partial);
            }
            if let Some(reply) = err.reply() {
                assert_eq!(reply.status(), Some(err.status()));
                let reason = reply.reason().unwrap_or_default();
                assert!(
                    !reason.contains(['\r', '\n']),
                    "reply reason phrase breaks the start line: {reason:?}"
                );
                let _ = reply.to_bytes();
            }
        }
    }
});

/// Calls every typed accessor; none may panic whatever the header text.
fn exercise_views(msg: &Message) {
    let _ = (msg.is_request(), msg.method(), msg.status(), msg.reason());
    if let Some(uri) = msg.uri() {
        exercise_uri(uri);
    }
    for h in msg.headers() {
        let _ = check_header(h.name(), h.value());
        let _ = h.values().count();
    }
    for via in msg.vias().flatten() {
        let _ = (via.branch(), via.is_rfc3261(), via.received(), via.rport());
        let _ = (via.maddr(), via.ttl(), via.host_ip());
    }
    for addr in [msg.from(), msg.to(), msg.refer_to(), msg.referred_by()]
        .into_iter()
        .flatten()
    {
        exercise_name_addr(&addr);
    }
    for c in msg.contacts().flatten() {
        if let Contact::Addr(addr) = c {
            exercise_name_addr(&addr);
        }
    }
    for addr in msg.routes().chain(msg.record_routes()).flatten() {
        exercise_name_addr(&addr);
    }
    let _ = (
        msg.call_id(),
        msg.cseq(),
        msg.max_forwards(),
        msg.content_length(),
    );
    let _ = (
        msg.content_type(),
        msg.has_sdp(),
        msg.expires(),
        msg.min_expires(),
    );
    let _ = (
        msg.rseq(),
        msg.rack(),
        msg.event(),
        msg.subscription_state(),
    );
    let _ = (msg.replaces(), msg.session_expires(), msg.min_se());
    let _ = (msg.user_agent(), msg.server(), msg.check());
}

fn exercise_name_addr(addr: &NameAddr<'_>) {
    let _ = (addr.display_name(), addr.tag(), addr.expires(), addr.q());
    let _ = (addr.instance(), addr.reg_id());
    exercise_uri(addr.uri);
}

/// A URI that parses must print back to text that parses to an equivalent URI, and must be
/// equivalent to itself (RFC 3261 §19.1.4 comparison is reflexive).
fn exercise_uri(text: &str) {
    let Ok(uri) = Uri::parse(text) else {
        return;
    };
    assert!(
        uri.equivalent(&uri),
        "URI not equivalent to itself: {text:?}"
    );
    let printed = uri.to_string();
    let reparsed = Uri::parse(&printed)
        .unwrap_or_else(|e| panic!("printed URI {printed:?} of {text:?} does not parse: {e:?}"));
    assert!(
        reparsed.equivalent(&uri),
        "printed URI {printed:?} not equivalent to {text:?}"
    );
    let _ = (
        uri.user_unescaped(),
        uri.host(),
        uri.ip(),
        uri.port_or_default(),
    );
    let _ = (uri.params().count(), uri.transport(), uri.lr());
    let _ = (uri.maddr(), uri.ttl(), uri.method(), uri.headers().count());
    let _ = (
        uri.number_digits(),
        uri.is_global_number(),
        uri.phone_context(),
    );
    if let Ok(buf) = uri.to_buf() {
        let printed = buf.to_string();
        let reparsed = Uri::parse(&printed)
            .unwrap_or_else(|e| panic!("UriBuf {printed:?} of {text:?} does not parse: {e:?}"));
        assert!(
            buf.equivalent(&reparsed),
            "UriBuf {printed:?} not equivalent to its own parse"
        );
    }
}
