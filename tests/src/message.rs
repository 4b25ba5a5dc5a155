//! Building and inspecting the SIP messages the end-to-end tests' phones exchange with the SBC.

use bytes::Bytes;
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{Contact, HeaderName, Message, Method};
use std::net::SocketAddr;

/// True if `m` is a `method` request.
pub fn is_request(m: &Message, method: &Method) -> bool {
    m.method() == Some(method)
}

/// True if `m` is a `code` response to a `method` request (by its CSeq, RFC 3261 §8.1.3.1).
pub fn is_response(m: &Message, code: u16, method: &str) -> bool {
    m.status() == Some(code) && m.cseq().is_some_and(|c| c.method == method)
}

/// The URI of the first Contact of `m` (panics without one: the test expected it).
pub fn contact_uri(m: &Message) -> String {
    let Some(Ok(Contact::Addr(c))) = m.contacts().next() else {
        panic!("no Contact in {m:?}")
    };
    c.uri.to_owned()
}

/// The address in the first Contact's SIP URI (port 5060 when it names none).
pub fn contact_addr(m: &Message) -> SocketAddr {
    let uri = contact_uri(m);
    let uri = Uri::parse(&uri).unwrap_or_else(|e| panic!("bad Contact URI {uri}: {e:?}"));
    let ip = uri
        .ip()
        .unwrap_or_else(|| panic!("Contact host is not an IP in {m:?}"));
    SocketAddr::new(ip, uri.port().unwrap_or(5060))
}

/// A UDP Via for a phone at `addr` asking for rport (RFC 3581).
pub fn udp_via(addr: SocketAddr, branch: &str) -> String {
    format!("SIP/2.0/UDP {addr};branch={branch};rport")
}

/// A request in the dialog `invite` and the response `rsp` made, sent by the INVITE's sender
/// (RFC 3261 §12.2.1.1): From and Call-ID of the INVITE, To of the response, CSeq `seq`, no body.
pub fn dialog_request(
    method: Method,
    target: impl Into<String>,
    seq: u32,
    via: String,
    invite: &Message,
    rsp: &Message,
) -> Message {
    let name = method.as_str().to_owned();
    let mut m = Message::request(method, target.into());
    m.push_header(HeaderName::Via, via);
    m.push_header(HeaderName::MaxForwards, "70");
    let from = invite.header(&HeaderName::From).expect("INVITE has From");
    m.push_header(HeaderName::From, from.to_owned());
    let to = rsp.header(&HeaderName::To).expect("response has To");
    m.push_header(HeaderName::To, to.to_owned());
    let call_id = invite.call_id().expect("INVITE has Call-ID");
    m.push_header(HeaderName::CallId, call_id.to_owned());
    m.push_header(HeaderName::CSeq, format!("{seq} {name}"));
    m.set_body(Bytes::new(), None);
    m
}

/// A `code` response to `req` whose To carries `tag` (unless the request's To already has one).
pub fn tagged_response(req: &Message, code: u16, tag: &str) -> Message {
    let mut r = Message::response_to(req, code, "");
    if req.to().is_some_and(|t| t.tag().is_none()) {
        let to = req.header(&HeaderName::To).expect("request has To");
        r.set_header(HeaderName::To, format!("{to};tag={tag}"));
    }
    r
}

/// A request from the callee of `invite` in the dialog it answered (RFC 3261 §12.2.1.1):
/// Request-URI the INVITE's Contact, From `local` (the callee's To with its tag), To the INVITE's
/// From, Call-ID of the INVITE, CSeq `seq`, no body.
pub fn callee_request(
    method: Method,
    seq: u32,
    via: String,
    invite: &Message,
    local: &str,
) -> Message {
    let name = method.as_str().to_owned();
    let mut m = Message::request(method, contact_uri(invite));
    m.push_header(HeaderName::Via, via);
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, local.to_owned());
    let to = invite.header(&HeaderName::From).expect("INVITE has From");
    m.push_header(HeaderName::To, to.to_owned());
    let call_id = invite.call_id().expect("INVITE has Call-ID");
    m.push_header(HeaderName::CallId, call_id.to_owned());
    m.push_header(HeaderName::CSeq, format!("{seq} {name}"));
    m.set_body(Bytes::new(), None);
    m
}

/// An INVITE from alice at `local` over `transport` (`UDP`, `TCP` or `TLS`) to bob@example.com,
/// with `tag` on From, a Contact naming the stream transport, and `sdp` as the offer when given.
pub fn alice_invite(
    transport: &str,
    local: SocketAddr,
    call_id: &str,
    tag: &str,
    sdp: Option<String>,
) -> Message {
    let mut m = Message::request(Method::Invite, "sip:bob@example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id};rport"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(
        HeaderName::From,
        format!("<sip:alice@example.com>;tag={tag}"),
    );
    m.push_header(HeaderName::To, "<sip:bob@example.com>");
    m.push_header(HeaderName::CallId, call_id);
    m.push_header(HeaderName::CSeq, "1 INVITE");
    let param = match transport {
        "TCP" => ";transport=tcp",
        "TLS" => ";transport=tls",
        _ => "",
    };
    m.push_header(HeaderName::Contact, format!("<sip:alice@{local}{param}>"));
    match sdp {
        Some(sdp) => m.set_body(Bytes::from(sdp), Some("application/sdp")),
        None => m.set_body(Bytes::new(), None),
    }
    m
}
