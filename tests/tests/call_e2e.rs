//! A whole call through the real `sbc` binary on loopback: phone A ⇄ SBC ⇄ phone B over UDP,
//! INVITE / 180 / 200 / ACK, RTP both ways through the relay, BYE (RFC 3665 §3.1).

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::{
    contact_addr, contact_uri, dialog_request, is_request, is_response, udp_via,
};
use sbc_tests::{free_udp_port, sdp_audio_addr, Sbc, TestUa};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

const A_RTP: RangeInclusive<u16> = 46000..=46999;
const B_RTP: RangeInclusive<u16> = 47000..=47999;
const WAIT: Duration = Duration::from_secs(5);

fn config(customer: u16, core: u16, phone_b: SocketAddr) -> String {
    SbcConfig::loopback(customer, core, A_RTP, B_RTP)
        .route("customer-to-core", phone_b, "")
        .render()
}

/// A request in A's dialog, built from the INVITE and the SBC's 2xx (RFC 3261 §12.2.1.1).
fn in_dialog(
    method: Method,
    seq: u32,
    a: &TestUa,
    invite: &Message,
    ok: &Message,
    branch: &str,
) -> Message {
    let via = udp_via(a.addr(), branch);
    dialog_request(method, contact_uri(ok), seq, via, invite, ok)
}

/// An answered call: the SBC, both phones and what each saw.
struct Call {
    sbc: Sbc,
    a: TestUa,
    b: TestUa,
    sbc_a: SocketAddr,
    sbc_b: SocketAddr,
    invite: Message,
    a_ok: Message,
    b_invite: Message,
    relay_a: SocketAddr,
    relay_b: SocketAddr,
}

/// Starts an SBC with `extra` appended to the `[relay]` section and runs INVITE / 180 / 200 /
/// ACK through it, checking topology hiding and the SDP rewriting on the way.
fn answered_call(extra: &str) -> Call {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (a, b) = (TestUa::new(), TestUa::new());
    let text =
        config(customer, core, b.addr()).replace("workers = 1\n", &format!("workers = 1\n{extra}"));
    let sbc = Sbc::start_ready(&text);
    let sbc_a: SocketAddr = format!("127.0.0.1:{customer}").parse().unwrap();
    let sbc_b: SocketAddr = format!("127.0.0.1:{core}").parse().unwrap();

    // A → SBC: INVITE with an offer.
    let a_call_id = "e2e-call-a@127.0.0.1";
    let mut invite = Message::request(Method::Invite, "sip:bob@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKe2ea1;rport", a.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(
        HeaderName::From,
        "\"Alice\" <sip:alice@example.com>;tag=e2e-a-tag",
    );
    invite.push_header(HeaderName::To, "<sip:bob@example.com>");
    invite.push_header(HeaderName::CallId, a_call_id);
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    invite.push_header(HeaderName::UserAgent, "e2e-phone-a");
    invite.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    a.send(sbc_a, &invite);

    // SBC → B: a new INVITE with nothing of A's leg in it but users and media through the relay.
    let (b_invite, from) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at B");
    assert_eq!(from, sbc_b, "leg B must leave from the core socket");
    let b_call_id = b_invite.call_id().unwrap().to_owned();
    assert_ne!(b_call_id, a_call_id);
    let raw = String::from_utf8_lossy(&b_invite.to_bytes()).into_owned();
    for leak in [
        a.addr().to_string(),
        a_call_id.to_owned(),
        "e2e-a-tag".to_owned(),
        "z9hG4bKe2ea1".to_owned(),
    ] {
        assert!(!raw.contains(&leak), "{leak} leaked into leg B:\n{raw}");
    }
    assert_eq!(b_invite.vias().count(), 1, "{raw}");
    assert_eq!(b_invite.via().unwrap().port, Some(core));
    assert_eq!(contact_addr(&b_invite), sbc_b);
    assert!(b_invite.uri().unwrap().starts_with("sip:bob@"), "{raw}");
    assert_eq!(b_invite.header(&HeaderName::UserAgent), Some("e2e-phone-a"));
    let relay_b = sdp_audio_addr(b_invite.body()).expect("SDP in leg B's INVITE");
    assert_eq!(relay_b.ip().to_string(), "127.0.0.1");
    assert!(B_RTP.contains(&relay_b.port()), "{relay_b}");

    // B → SBC: 180, then 200 with an answer.
    let b_to = format!(
        "{};tag=e2e-b-tag",
        b_invite.header(&HeaderName::To).unwrap()
    );
    let mut ringing = Message::response_to(&b_invite, 180, "Ringing");
    ringing.set_header(HeaderName::To, b_to.clone());
    ringing.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
    b.send(from, &ringing);
    let mut ok = Message::response_to(&b_invite, 200, "OK");
    ok.set_header(HeaderName::To, b_to);
    ok.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
    ok.set_body(Bytes::from(b.sdp("bob")), Some("application/sdp"));
    b.send(from, &ok);

    // SBC → A: (100), 180, 200 with the relay's A-side address.
    let mut seen = Vec::new();
    let (a_ok, from) = a
        .recv_until(WAIT, |m| {
            seen.extend(m.status());
            is_response(m, 200, "INVITE")
        })
        .unwrap_or_else(|| panic!("no 200 at A; saw {seen:?}"));
    assert_eq!(from, sbc_a);
    assert!(seen.contains(&180), "saw {seen:?}");
    assert_eq!(a_ok.call_id(), Some(a_call_id));
    assert!(a_ok.to().unwrap().tag().is_some());
    assert_eq!(contact_addr(&a_ok), sbc_a);
    let a_raw = String::from_utf8_lossy(&a_ok.to_bytes()).into_owned();
    for leak in [
        b.addr().to_string(),
        b_call_id.clone(),
        "e2e-b-tag".to_owned(),
    ] {
        assert!(!a_raw.contains(&leak), "{leak} leaked into leg A:\n{a_raw}");
    }
    let relay_a = sdp_audio_addr(a_ok.body()).expect("SDP in the 200 to A");
    assert_eq!(relay_a.ip().to_string(), "127.0.0.1");
    assert!(A_RTP.contains(&relay_a.port()), "{relay_a}");

    // A → SBC: ACK; SBC → B: ACK in B's dialog.
    let ack = in_dialog(Method::Ack, 1, &a, &invite, &a_ok, "z9hG4bKe2ea2");
    a.send(contact_addr(&a_ok), &ack);
    let (b_ack, _) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Ack))
        .expect("ACK at B");
    assert_eq!(b_ack.call_id(), Some(b_call_id.as_str()));
    assert_eq!(
        b_ack.cseq().unwrap().seq,
        b_invite.cseq().unwrap().seq,
        "the ACK's CSeq number is the INVITE's"
    );

    Call {
        sbc,
        a,
        b,
        sbc_a,
        sbc_b,
        invite,
        a_ok,
        b_invite,
        relay_a,
        relay_b,
    }
}

#[test]
fn basic_call_with_media_through_the_relay() {
    let Call {
        mut sbc,
        a,
        b,
        sbc_b,
        invite,
        a_ok,
        b_invite,
        relay_a,
        relay_b,
        ..
    } = answered_call("");
    let b_call_id = b_invite.call_id().unwrap().to_owned();

    // RTP A → relay → B.
    a.send_rtp(relay_a, 0xa1a1_a1a1, 20);
    let (n, src) = b.count_rtp(0xa1a1_a1a1, 20, Duration::from_secs(3));
    assert!(n >= 15, "B got {n} of 20 RTP packets from A");
    assert_eq!(
        src,
        Some(relay_b),
        "media reaches B from the relay's B side"
    );

    // RTP B → relay → A.
    b.send_rtp(relay_b, 0xb2b2_b2b2, 20);
    let (n, src) = a.count_rtp(0xb2b2_b2b2, 20, Duration::from_secs(3));
    assert!(n >= 15, "A got {n} of 20 RTP packets from B");
    assert_eq!(
        src,
        Some(relay_a),
        "media reaches A from the relay's A side"
    );

    // A → SBC: BYE; SBC → B: BYE; B answers 200; A gets 200.
    let bye = in_dialog(Method::Bye, 2, &a, &invite, &a_ok, "z9hG4bKe2ea3");
    a.send(contact_addr(&a_ok), &bye);
    let (b_bye, from) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE at B");
    assert_eq!(from, sbc_b);
    assert_eq!(b_bye.call_id(), Some(b_call_id.as_str()));
    b.send(from, &Message::response_to(&b_bye, 200, "OK"));
    a.recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE at A");

    assert!(
        sbc.wait_log("call ended", WAIT),
        "no 'call ended' in the log"
    );
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
}

#[test]
fn invite_without_a_route_gets_404() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let a = TestUa::new();
    let b = TestUa::new();
    // The only route starts on the core side, so nothing from the customer side matches.
    let text = config(customer, core, b.addr())
        .replace("from_interface = \"customer\"", "from_interface = \"core\"")
        .replace("to_interface = \"core\"", "to_interface = \"customer\"");
    let mut sbc = Sbc::start(&text);
    assert!(
        sbc.wait_log("ready; SIGHUP", Duration::from_secs(10)),
        "sbc did not start"
    );
    let sbc_a: SocketAddr = format!("127.0.0.1:{customer}").parse().unwrap();
    let mut invite = Message::request(Method::Invite, format!("sip:bob@{}", b.addr()));
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKe2e404;rport", a.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:alice@example.com>;tag=x404");
    invite.push_header(HeaderName::To, format!("<sip:bob@{}>", b.addr()));
    invite.push_header(HeaderName::CallId, "e2e-404@127.0.0.1");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    invite.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    a.send(sbc_a, &invite);
    let (rsp, _) = a
        .recv_until(WAIT, |m| m.status().is_some_and(|s| s >= 200))
        .expect("final response");
    assert_eq!(rsp.status(), Some(404));
    // Nothing went to the Request-URI's host.
    assert!(b.recv(Duration::from_millis(300)).is_none());
    let ack = {
        let mut m = Message::request(Method::Ack, format!("sip:bob@{}", b.addr()));
        m.push_header(
            HeaderName::Via,
            format!("SIP/2.0/UDP {};branch=z9hG4bKe2e404;rport", a.addr()),
        );
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=x404");
        m.push_header(
            HeaderName::To,
            rsp.header(&HeaderName::To).unwrap().to_owned(),
        );
        m.push_header(HeaderName::CallId, "e2e-404@127.0.0.1");
        m.push_header(HeaderName::CSeq, "1 ACK");
        m.set_body(Bytes::new(), None);
        m
    };
    a.send(sbc_a, &ack);
}

#[test]
fn call_without_media_is_hung_up_after_the_inactivity_timeout() {
    let call = answered_call("inactivity_timeout_s = 1\n");
    // No RTP at all: after about a second the relay reports the call idle, the SBC sends BYE
    // on both legs.
    let (bye_a, from) = call
        .a
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE at A");
    assert_eq!(from, call.sbc_a);
    assert_eq!(bye_a.call_id(), call.invite.call_id());
    call.a.send(from, &Message::response_to(&bye_a, 200, "OK"));
    let (bye_b, from) = call
        .b
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE at B");
    assert_eq!(from, call.sbc_b);
    assert_eq!(bye_b.call_id(), call.b_invite.call_id());
    call.b.send(from, &Message::response_to(&bye_b, 200, "OK"));
    let mut sbc = call.sbc;
    assert!(
        sbc.wait_log("MediaTimeout", WAIT),
        "no media-timeout end in the log"
    );
}
