//! Answers the SBC gives without call state (RFC 3261 §8.2, §11): 400 for requests that cannot be
//! read, 200 to OPTIONS, and 501 for methods whose handling is not built yet.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Limits, Message, Method};

/// The methods the SBC lists in Allow (RFC 3261 §20.5).
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY, SUBSCRIBE, MESSAGE, PUBLISH";
/// The option tags the SBC lists in Supported (RFC 3261 §20.37).
pub const SUPPORTED: &str = "100rel, timer, replaces, path, outbound";
/// The body types the SBC accepts: SDP, alone or as a part of a multipart body (RFC 3261 §20.1,
/// RFC 5621).
pub const ACCEPT: &str = "application/sdp, multipart/mixed";

/// What to do with one received datagram.
#[derive(Debug)]
pub enum Reply {
    /// Send this response back to the sender.
    Send(Message),
    /// Nothing to send (a response, an ACK, or junk that cannot be answered).
    Drop(&'static str),
}

/// Reads a datagram and decides the stateless answer; `server`, when given, goes into the Server
/// header.
pub fn handle_datagram(data: Bytes, limits: &Limits, server: Option<&str>) -> Reply {
    let msg = match Message::parse_checked(data, limits) {
        Ok(m) => m,
        Err(e) => {
            return match e.reply() {
                Some(mut r) => {
                    stamp_server(&mut r, server);
                    Reply::Send(r)
                }
                None => Reply::Drop("unreadable message that cannot be answered"),
            }
        }
    };
    answer(&msg, server)
}

/// The stateless answer to a message already parsed and checked: 200 with capabilities to
/// OPTIONS, 403 to REGISTER (no realm of ours), 501 to other methods, nothing for ACK and responses
/// (RFC 3261 §8.2, §10.3, §11).
pub fn answer(msg: &Message, server: Option<&str>) -> Reply {
    let Some(method) = msg.method() else {
        return Reply::Drop("response without a transaction");
    };
    let mut rsp = match method {
        Method::Ack => return Reply::Drop("ACK needs no answer"),
        Method::Options => {
            let mut r = Message::response_to(msg, 200, "OK");
            r.push_header(HeaderName::Allow, ALLOW);
            r.push_header(HeaderName::Accept, ACCEPT);
            r.push_header(HeaderName::Supported, SUPPORTED);
            r
        }
        // An address-of-record that is no SIP URI cannot be bound (RFC 3261 §10.3 step 3, RFC
        // 4475 §3.3.3).
        Method::Register if !sip_address_of_record(msg) => {
            Message::response_to(msg, 416, "Unsupported URI Scheme")
        }
        // The SBC registers customers only for its realms; a REGISTER that reaches here names
        // no realm (RFC 3261 §10.3 step 1): refused, not "unknown method".
        Method::Register => Message::response_to(msg, 403, "Domain Not Served"),
        _ => Message::response_to(msg, 501, "Not Implemented"),
    };
    add_to_tag(&mut rsp);
    stamp_server(&mut rsp, server);
    Reply::Send(rsp)
}

/// Whether a REGISTER's To (its address-of-record) is a SIP or SIPS URI (RFC 3261 §10.2).
pub fn sip_address_of_record(msg: &Message) -> bool {
    msg.to().is_some_and(|to| {
        let scheme = to.uri.split_once(':').map_or("", |(s, _)| s);
        scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
    })
}

/// The 420 Bad Extension a request gets when its Require or Proxy-Require names option tags the
/// SBC does not support, listing them in Unsupported; ACK and CANCEL are never refused this way
/// (RFC 3261 §8.2.2.3, §16.3 item 6, §20.40). `None` when every tag is supported.
pub fn bad_extension(msg: &Message, server: Option<&str>) -> Option<Message> {
    if matches!(msg.method()?, Method::Ack | Method::Cancel) {
        return None;
    }
    let supported = |t: &str| SUPPORTED.split(", ").any(|s| s.eq_ignore_ascii_case(t));
    let mut unsupported: Vec<&str> = Vec::new();
    for h in &[HeaderName::Require, HeaderName::ProxyRequire] {
        for t in msg.tokens(h) {
            if !supported(t) && !unsupported.iter().any(|u| u.eq_ignore_ascii_case(t)) {
                unsupported.push(t);
            }
        }
    }
    if unsupported.is_empty() {
        return None;
    }
    let mut rsp = Message::response_to(msg, 420, "Bad Extension");
    rsp.push_header(HeaderName::Unsupported, unsupported.join(", "));
    add_to_tag(&mut rsp);
    stamp_server(&mut rsp, server);
    Some(rsp)
}

/// Adds the Server header to a response the SBC generates, when a product name is configured
/// and the response has none yet (RFC 3261 §20.35).
pub fn stamp_server(rsp: &mut Message, server: Option<&str>) {
    if let Some(s) = server {
        if !rsp.has(&HeaderName::Server) {
            rsp.push_header(HeaderName::Server, s.to_owned());
        }
    }
}

/// Adds a To tag derived from the Call-ID and CSeq when the request had none, so retransmissions
/// get the same tag (RFC 3261 §8.2.6.2).
pub(crate) fn add_to_tag(rsp: &mut Message) {
    let Some(to) = rsp.header(&HeaderName::To) else {
        return;
    };
    if rsp.to().is_some_and(|t| t.tag().is_some()) {
        return;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rsp
        .call_id()
        .unwrap_or("")
        .bytes()
        .chain(rsp.header(&HeaderName::CSeq).unwrap_or("").bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let tagged = format!("{to};tag={h:016x}");
    rsp.set_header(HeaderName::To, tagged);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str) -> Bytes {
        Bytes::from(format!(
            "{method} sip:sbc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:sbc@127.0.0.1>\r\nCall-ID: x1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn options_gets_200_with_capabilities() {
        let Reply::Send(r) = handle_datagram(req("OPTIONS"), &Limits::default(), Some("sbc"))
        else {
            panic!("no reply")
        };
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.header(&HeaderName::Allow), Some(ALLOW));
        assert_eq!(r.header(&HeaderName::Accept), Some(ACCEPT));
        assert!(r.has_token(&HeaderName::Supported, "100rel"));
        assert!(r.to().unwrap().tag().is_some());
        assert_eq!(r.call_id(), Some("x1"));
    }

    #[test]
    fn bad_request_gets_400_naming_the_header() {
        let bad = String::from_utf8(req("OPTIONS").to_vec())
            .unwrap()
            .replace("Max-Forwards: 70", "Max-Forwards: lots");
        let Reply::Send(r) = handle_datagram(Bytes::from(bad), &Limits::default(), Some("sbc"))
        else {
            panic!("no reply")
        };
        assert_eq!(r.status(), Some(400));
        assert_eq!(
            r.reason(),
            Some("Bad Max-Forwards header: not a number 0-255")
        );
    }

    #[test]
    fn ack_and_junk_are_dropped_and_other_methods_get_501() {
        assert!(matches!(
            handle_datagram(req("ACK"), &Limits::default(), Some("sbc")),
            Reply::Drop(_)
        ));
        assert!(matches!(
            handle_datagram(
                Bytes::from_static(b"garbage"),
                &Limits::default(),
                Some("sbc")
            ),
            Reply::Drop(_)
        ));
        let Reply::Send(r) = handle_datagram(req("INVITE"), &Limits::default(), Some("sbc")) else {
            panic!("no reply")
        };
        assert_eq!(r.status(), Some(501));
    }
}
