//! Route failover through the real `sbc` binary on loopback: the first route's next hop answers
//! 503, the SBC tries the second route's next hop, which answers; phone A sees one call
//! (RFC 3261 §16.7).

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::{free_udp_port, Sbc, TestUa};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// `req`'s response from a phone with To tag `tag`.
fn answer(req: &Message, code: u16, tag: &str, contact: SocketAddr) -> Message {
    let mut r = Message::response_to(req, code, "");
    let to = req.header(&HeaderName::To).unwrap();
    r.set_header(HeaderName::To, format!("{to};tag={tag}"));
    if code < 300 {
        r.push_header(HeaderName::Contact, format!("<sip:bob@{contact}>"));
    }
    r
}

fn config(customer: u16, core: u16, first: SocketAddr, second: SocketAddr) -> String {
    SbcConfig::loopback(customer, core, 44000..=44999, 45000..=45999)
        .route("primary", first, "priority = 10\nfailover_on = [503]")
        .route("backup", second, "priority = 20")
        .render()
}

#[test]
fn a_503_on_the_first_route_fails_over_to_the_second() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (a, b1, b2) = (TestUa::new(), TestUa::new(), TestUa::new());
    let _sbc = Sbc::start_ready(&config(customer, core, b1.addr(), b2.addr()));
    let sbc_a: SocketAddr = format!("127.0.0.1:{customer}").parse().unwrap();

    let mut invite = Message::request(Method::Invite, "sip:bob@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKfo1;rport", a.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:alice@example.com>;tag=fo-a");
    invite.push_header(HeaderName::To, "<sip:bob@example.com>");
    invite.push_header(HeaderName::CallId, "e2e-failover@127.0.0.1");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    invite.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    a.send(sbc_a, &invite);

    // The primary next hop is unavailable.
    let (inv1, from1) = b1
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the primary");
    b1.send(from1, &answer(&inv1, 503, "b1", b1.addr()));
    b1.recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("the 503 is ACKed");

    // The backup gets a new INVITE on the same leg-B call, and answers.
    let (inv2, from2) = b2
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the backup");
    assert_eq!(inv2.call_id(), inv1.call_id());
    assert_eq!(inv2.cseq().unwrap().seq, inv1.cseq().unwrap().seq + 1);
    assert_eq!(inv2.body(), inv1.body(), "the same anchored offer");
    let mut ok = answer(&inv2, 200, "b2", b2.addr());
    ok.set_body(Bytes::from(b2.sdp("bob")), Some("application/sdp"));
    b2.send(from2, &ok);

    let mut seen = Vec::new();
    a.recv_until(WAIT, |m| {
        seen.extend(m.status());
        m.status().is_some_and(|s| s >= 200)
    })
    .expect("a final response at A");
    assert_eq!(seen.last(), Some(&200), "A saw {seen:?}");
    assert!(!seen.contains(&503), "A saw {seen:?}");
    assert!(b1.recv(Duration::from_millis(200)).is_none());
}
