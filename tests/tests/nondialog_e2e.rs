//! Requests outside calls through the real `sbc` binary on loopback: an out-of-dialog MESSAGE
//! (RFC 3428) and a SUBSCRIBE/NOTIFY subscription (RFC 6665) from phone A to phone B, with
//! topology hiding both ways; and, in a call, leg A's requests following A's latest source
//! address (a NAT rebinding, RFC 3581 §4).

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::{contact_addr, contact_uri, dialog_request, tagged_response, udp_via};
use sbc_tests::{free_udp_port, Sbc, TestUa};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// The SBC and both phones.
struct Setup {
    _sbc: Sbc,
    a: TestUa,
    b: TestUa,
    sbc_a: SocketAddr,
    sbc_b: SocketAddr,
}

fn config(customer: u16, core: u16, phone_b: SocketAddr) -> String {
    SbcConfig::loopback(customer, core, 48000..=48999, 49000..=49999)
        .route("customer-to-core", phone_b, "")
        .render()
}

fn start() -> Setup {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (a, b) = (TestUa::new(), TestUa::new());
    let sbc = Sbc::start_ready(&config(customer, core, b.addr()));
    Setup {
        _sbc: sbc,
        a,
        b,
        sbc_a: format!("127.0.0.1:{customer}").parse().unwrap(),
        sbc_b: format!("127.0.0.1:{core}").parse().unwrap(),
    }
}

/// An out-of-dialog request from phone A.
fn from_a(a: &TestUa, method: Method, call_id: &str, branch: &str) -> Message {
    let name = method.as_str().to_owned();
    let mut m = Message::request(method, "sip:bob@example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch={branch};rport", a.addr()),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(
        HeaderName::From,
        "\"Alice\" <sip:alice@example.com>;tag=ood-a-tag",
    );
    m.push_header(HeaderName::To, "<sip:bob@example.com>");
    m.push_header(HeaderName::CallId, call_id.to_owned());
    m.push_header(HeaderName::CSeq, format!("1 {name}"));
    m.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    m
}

fn raw(m: &Message) -> String {
    String::from_utf8_lossy(&m.to_bytes()).into_owned()
}

/// Phone B's answer to `req`, with its tag and Contact.
fn answer_b(b: &TestUa, req: &Message, code: u16) -> Message {
    let mut r = tagged_response(req, code, "ood-b-tag");
    r.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
    r
}

#[test]
fn out_of_dialog_message_crosses_both_ways_with_topology_hidden() {
    let s = start();
    let mut msg = from_a(&s.a, Method::Message, "ood-msg@127.0.0.1", "z9hG4bKoodm1");
    msg.set_body(Bytes::from_static(b"hello bob"), Some("text/plain"));
    s.a.send(s.sbc_a, &msg);
    let (b_msg, from) =
        s.b.recv_until(WAIT, |m| m.method() == Some(&Method::Message))
            .expect("MESSAGE at B");
    assert_eq!(from, s.sbc_b);
    let text = raw(&b_msg);
    for leak in [
        s.a.addr().to_string(),
        "ood-msg@127.0.0.1".to_owned(),
        "ood-a-tag".to_owned(),
        "z9hG4bKoodm1".to_owned(),
    ] {
        assert!(!text.contains(&leak), "{leak} leaked into leg B:\n{text}");
    }
    assert_eq!(b_msg.body().as_ref(), b"hello bob");
    assert_eq!(b_msg.content_type(), Some("text/plain"));
    s.b.send(from, &answer_b(&s.b, &b_msg, 200));
    let (ok, from) =
        s.a.recv_until(WAIT, |m| m.status().is_some_and(|c| c >= 200))
            .expect("final answer at A");
    assert_eq!(from, s.sbc_a);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.call_id(), Some("ood-msg@127.0.0.1"));
    assert!(ok.to().unwrap().tag().is_some());
    let text = raw(&ok);
    for leak in [s.b.addr().to_string(), "ood-b-tag".to_owned()] {
        assert!(!text.contains(&leak), "{leak} leaked into leg A:\n{text}");
    }
}

#[test]
fn subscribe_and_notifies_cross_until_the_subscription_terminates() {
    let s = start();
    let mut sub = from_a(&s.a, Method::Subscribe, "ood-sub@127.0.0.1", "z9hG4bKoods1");
    sub.push_header(HeaderName::Event, "dialog");
    sub.push_header(HeaderName::Expires, "600");
    sub.set_body(Bytes::new(), None);
    s.a.send(s.sbc_a, &sub);
    let (b_sub, from) =
        s.b.recv_until(WAIT, |m| m.method() == Some(&Method::Subscribe))
            .expect("SUBSCRIBE at B");
    assert_eq!(from, s.sbc_b);
    assert_eq!(contact_addr(&b_sub), s.sbc_b);
    assert!(!raw(&b_sub).contains(&s.a.addr().to_string()));
    assert_eq!(b_sub.header(&HeaderName::Event), Some("dialog"));
    let mut ok = answer_b(&s.b, &b_sub, 200);
    ok.push_header(HeaderName::Expires, "600");
    s.b.send(from, &ok);
    let (a_ok, _) =
        s.a.recv_until(WAIT, |m| m.status().is_some_and(|c| c >= 200))
            .expect("200 at A");
    assert_eq!(a_ok.status(), Some(200));
    assert_eq!(contact_addr(&a_ok), s.sbc_a);
    assert!(!raw(&a_ok).contains(&s.b.addr().to_string()));

    // Two NOTIFYs from B, the second terminating; each reaches A and A's 200 comes back.
    for (seq, state) in [
        (1, "active;expires=600"),
        (2, "terminated;reason=noresource"),
    ] {
        let mut notify = Message::request(Method::Notify, format!("sip:{}", s.sbc_b));
        notify.push_header(
            HeaderName::Via,
            format!("SIP/2.0/UDP {};branch=z9hG4bKoodn{seq};rport", s.b.addr()),
        );
        notify.push_header(HeaderName::MaxForwards, "70");
        notify.push_header(
            HeaderName::From,
            format!("{};tag=ood-b-tag", b_sub.header(&HeaderName::To).unwrap()),
        );
        notify.push_header(
            HeaderName::To,
            b_sub.header(&HeaderName::From).unwrap().to_owned(),
        );
        notify.push_header(HeaderName::CallId, b_sub.call_id().unwrap().to_owned());
        notify.push_header(HeaderName::CSeq, format!("{seq} NOTIFY"));
        notify.push_header(HeaderName::Contact, format!("<sip:bob@{}>", s.b.addr()));
        notify.push_header(HeaderName::Event, "dialog");
        notify.push_header(HeaderName::SubscriptionState, state);
        notify.set_body(
            Bytes::from_static(b"<dialog-info/>"),
            Some("application/dialog-info+xml"),
        );
        s.b.send(s.sbc_b, &notify);
        let (a_notify, from) =
            s.a.recv_until(WAIT, |m| m.method() == Some(&Method::Notify))
                .expect("NOTIFY at A");
        assert_eq!(from, s.sbc_a);
        assert_eq!(a_notify.call_id(), Some("ood-sub@127.0.0.1"));
        assert_eq!(a_notify.to().unwrap().tag(), Some("ood-a-tag"));
        assert_eq!(a_notify.header(&HeaderName::SubscriptionState), Some(state));
        assert_eq!(a_notify.body().as_ref(), b"<dialog-info/>");
        assert!(!raw(&a_notify).contains(&s.b.addr().to_string()));
        s.a.send(from, &Message::response_to(&a_notify, 200, "OK"));
        let (b_ok, _) =
            s.b.recv_until(WAIT, |m| m.status().is_some())
                .expect("200 to NOTIFY at B");
        assert_eq!(b_ok.status(), Some(200));
        assert_eq!(b_ok.cseq().unwrap().seq, seq);
    }
}

#[test]
fn after_a_rebinds_the_sbcs_bye_follows_its_latest_in_dialog_request() {
    let s = start();
    // Phone A's NAT gives it a new mapping mid-call: `moved` stands in for it.
    let moved = TestUa::new();
    let mut invite = from_a(&s.a, Method::Invite, "ood-call@127.0.0.1", "z9hG4bKoodi1");
    invite.set_body(Bytes::from(s.a.sdp("alice")), Some("application/sdp"));
    s.a.send(s.sbc_a, &invite);
    let (b_inv, from) =
        s.b.recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
            .expect("INVITE at B");
    let mut ok = answer_b(&s.b, &b_inv, 200);
    ok.set_body(Bytes::from(s.b.sdp("bob")), Some("application/sdp"));
    s.b.send(from, &ok);
    let (a_ok, _) =
        s.a.recv_until(WAIT, |m| {
            m.status() == Some(200) && m.cseq().is_some_and(|c| c.method == "INVITE")
        })
        .expect("200 at A");
    let in_dialog = |ua: &TestUa, method: Method, seq: u32, branch: &str| {
        let via = udp_via(ua.addr(), branch);
        dialog_request(method, contact_uri(&a_ok), seq, via, &invite, &a_ok)
    };
    s.a.send(s.sbc_a, &in_dialog(&s.a, Method::Ack, 1, "z9hG4bKoodi2"));
    s.b.recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at B");

    // An INFO from the new mapping; its 200 comes back there.
    moved.send(s.sbc_a, &in_dialog(&moved, Method::Info, 2, "z9hG4bKoodi3"));
    let (b_info, from) =
        s.b.recv_until(WAIT, |m| m.method() == Some(&Method::Info))
            .expect("INFO at B");
    s.b.send(from, &Message::response_to(&b_info, 200, "OK"));
    moved
        .recv_until(WAIT, |m| m.status() == Some(200))
        .expect("200 to INFO at the new mapping");

    // B hangs up: the SBC's BYE to A goes to the new mapping.
    let mut bye = Message::request(Method::Bye, format!("sip:{}", s.sbc_b));
    bye.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKoodi4;rport", s.b.addr()),
    );
    bye.push_header(HeaderName::MaxForwards, "70");
    bye.push_header(
        HeaderName::From,
        format!("{};tag=ood-b-tag", b_inv.header(&HeaderName::To).unwrap()),
    );
    bye.push_header(
        HeaderName::To,
        b_inv.header(&HeaderName::From).unwrap().to_owned(),
    );
    bye.push_header(HeaderName::CallId, b_inv.call_id().unwrap().to_owned());
    bye.push_header(HeaderName::CSeq, "1 BYE");
    s.b.send(s.sbc_b, &bye);
    let (a_bye, from) = moved
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE at A's new mapping");
    assert_eq!(from, s.sbc_a);
    assert_eq!(a_bye.call_id(), Some("ood-call@127.0.0.1"));
    assert!(
        s.a.recv_until(Duration::from_millis(200), |m| m.method()
            == Some(&Method::Bye))
            .is_none(),
        "the BYE went to the stale mapping"
    );
}
