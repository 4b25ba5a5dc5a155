//! SIP over TCP through the real `sbc` binary on loopback (RFC 3261 §18): a phone on a TCP
//! connection to the customer side, a TCP next hop on the core side, the §18.1.1 move of large
//! requests from UDP to TCP (and back to UDP when refused), stream size limits and keep-alives.

use bytes::Bytes;
use sbc_common::sip::{Frame, HeaderName, Message, Method};
use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::message::{
    alice_invite, callee_request, contact_addr, contact_uri, dialog_request, is_request,
    is_response,
};
use sbc_tests::tcp::{accept_within, TcpPeer};
use sbc_tests::{free_udp_port, ua_with_tcp, Sbc, TestUa};
use std::net::{SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

const A_RTP: RangeInclusive<u16> = 44000..=44999;
const B_RTP: RangeInclusive<u16> = 45000..=45999;
const WAIT: Duration = Duration::from_secs(5);

/// Both interfaces on UDP and TCP at the same loopback port, a route to `next_hop` with
/// `route_lines` (its transport and so on).
fn sbc_config(customer: u16, core: u16, next_hop: SocketAddr, route_lines: &str) -> SbcConfig {
    let iface = |port, rtp| Iface::udp(addr(port), rtp).and("tcp", addr(port));
    SbcConfig::with(iface(customer, A_RTP), iface(core, B_RTP)).route(
        "customer-to-core",
        next_hop,
        route_lines,
    )
}

/// [`sbc_config`] rendered, with `extra` tables appended.
fn config(customer: u16, core: u16, next_hop: SocketAddr, transport: &str, extra: &str) -> String {
    let mut c = sbc_config(
        customer,
        core,
        next_hop,
        &format!("transport = \"{transport}\""),
    );
    c.extra = extra.to_owned();
    c.render()
}

/// A request in A's dialog (RFC 3261 §12.2.1.1) with the given Via.
fn in_dialog(method: Method, seq: u32, via: &str, invite: &Message, ok: &Message) -> Message {
    dialog_request(method, contact_uri(ok), seq, via.to_owned(), invite, ok)
}

/// A request from B in the dialog its 2xx `ok` to `b_invite` made (RFC 3261 §12.2.1.1).
fn from_b(method: Method, seq: u32, via: &str, b_invite: &Message, ok: &Message) -> Message {
    let local = ok.header(&HeaderName::To).unwrap();
    callee_request(method, seq, via.to_owned(), b_invite, local)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An INVITE from `via_transport` `local` with an offer for `media`'s RTP socket.
fn invite(via_transport: &str, local: SocketAddr, media: &TestUa, call_id: &str) -> Message {
    alice_invite(
        via_transport,
        local,
        call_id,
        "tcp-a",
        Some(media.sdp("alice")),
    )
}

/// B's answer to an INVITE it received: `code` with a To tag and, for 2xx, `contact` and SDP.
fn answer(req: &Message, code: u16, contact: &str, media: &TestUa) -> Message {
    let mut r = Message::response_to(req, code, "");
    r.set_header(
        HeaderName::To,
        format!("{};tag=tcp-b", req.header(&HeaderName::To).unwrap()),
    );
    if code < 300 {
        r.push_header(HeaderName::Contact, contact.to_owned());
        r.set_body(Bytes::from(media.sdp("bob")), Some("application/sdp"));
    }
    r
}

#[test]
fn call_from_a_tcp_phone_to_a_udp_core_keeps_to_one_connection() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let b = TestUa::new();
    let _sbc = Sbc::start_ready(&config(customer, core, b.addr(), "udp", ""));
    let media_a = TestUa::new();
    let mut a = TcpPeer::connect(addr(customer));
    let a_local = a.local();

    // A → SBC over TCP: INVITE; SBC → B over UDP.
    let inv = invite("TCP", a_local, &media_a, "tcp-call-1");
    a.send(&inv);
    let (b_invite, sbc_b) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at B");
    assert_eq!(sbc_b, addr(core));
    assert_eq!(b_invite.via().unwrap().transport, "UDP");
    let b_ok = answer(&b_invite, 200, &format!("<sip:bob@{}>", b.addr()), &b);
    b.send(
        sbc_b,
        &answer(&b_invite, 180, &format!("<sip:bob@{}>", b.addr()), &b),
    );
    b.send(sbc_b, &b_ok);

    // SBC → A: the responses come back on A's connection, Via stamped with where it came from.
    let mut seen = Vec::new();
    let a_ok = a
        .recv_until(WAIT, |m| {
            seen.extend(m.status());
            is_response(m, 200, "INVITE")
        })
        .unwrap_or_else(|| panic!("no 200 on A's connection; saw {seen:?}"));
    assert!(seen.contains(&180), "saw {seen:?}");
    let via = a_ok.via().unwrap();
    assert_eq!(via.transport, "TCP");
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(a_local.port())), "RFC 3581 rport");
    assert!(
        contact_uri(&a_ok).contains("transport=tcp"),
        "the SBC's Contact on a TCP leg says so: {}",
        contact_uri(&a_ok)
    );
    assert_eq!(contact_addr(&a_ok), addr(customer));

    // A → SBC: ACK on the same connection; SBC → B: ACK.
    let a_via = format!("SIP/2.0/TCP {a_local};branch=z9hG4bK-tcp-ack;rport");
    a.send(&in_dialog(Method::Ack, 1, &a_via, &inv, &a_ok));
    b.recv_until(WAIT, |m| is_request(m, &Method::Ack))
        .expect("ACK at B");

    // B → SBC: BYE; SBC → A: BYE on A's connection with a TCP Via.
    let b_via = format!("SIP/2.0/UDP {};branch=z9hG4bK-tcp-bye-b;rport", b.addr());
    b.send(sbc_b, &from_b(Method::Bye, 1, &b_via, &b_invite, &b_ok));
    let bye = a
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE on A's connection");
    let via = bye.via().unwrap();
    assert_eq!(via.transport, "TCP", "{bye:?}");
    assert_eq!(via.port, Some(customer));
    assert_eq!(bye.call_id(), Some("tcp-call-1"));
    a.send(&Message::response_to(&bye, 200, "OK"));
    b.recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE at B");
}

#[test]
fn call_to_a_tcp_next_hop_reuses_the_connection_for_the_dialog() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let b_addr = listener.local_addr().unwrap();
    let _sbc = Sbc::start_ready(&config(customer, core, b_addr, "tcp", ""));
    let (a, media_b) = (TestUa::new(), TestUa::new());

    let inv = invite("UDP", a.addr(), &a, "tcp-call-2");
    a.send(addr(customer), &inv);
    let mut b = TcpPeer::from_stream(accept_within(&listener, WAIT).expect("connection at B"));
    let b_invite = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at B");
    let via = b_invite.via().unwrap();
    assert_eq!(via.transport, "TCP");
    assert_eq!(
        via.port,
        Some(core),
        "sent-by is the core side's TCP address"
    );
    assert!(contact_uri(&b_invite).contains("transport=tcp"));
    let b_ok = answer(
        &b_invite,
        200,
        &format!("<sip:bob@{b_addr};transport=tcp>"),
        &media_b,
    );
    b.send(&b_ok);

    let (a_ok, _) = a
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at A");
    let a_via = |branch: &str| format!("SIP/2.0/UDP {};branch={branch};rport", a.addr());
    a.send(
        addr(customer),
        &in_dialog(Method::Ack, 1, &a_via("z9hG4bK-t2-ack"), &inv, &a_ok),
    );
    b.recv_until(WAIT, |m| is_request(m, &Method::Ack))
        .expect("ACK on the same connection");
    a.send(
        addr(customer),
        &in_dialog(Method::Bye, 2, &a_via("z9hG4bK-t2-bye"), &inv, &a_ok),
    );
    let bye = b
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE on the same connection");
    assert_eq!(bye.via().unwrap().transport, "TCP");
    b.send(&Message::response_to(&bye, 200, "OK"));
    a.recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE at A");
    assert!(
        accept_within(&listener, Duration::from_millis(200)).is_none(),
        "the SBC opened a second connection instead of reusing the first"
    );
}

/// An INVITE over 1300 bytes (a long User-Agent, which the SBC copies) from A over UDP.
fn large_invite(a: &TestUa, call_id: &str) -> Message {
    let mut inv = invite("UDP", a.addr(), a, call_id);
    inv.push_header(HeaderName::UserAgent, format!("phone-{}", "x".repeat(1400)));
    inv
}

#[test]
fn a_large_invite_goes_to_the_udp_next_hop_over_tcp() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    // The next hop listens on TCP at its UDP port too.
    let (b, listener) = ua_with_tcp();
    let _sbc = Sbc::start_ready(&config(customer, core, b.addr(), "udp", ""));
    let a = TestUa::new();
    a.send(addr(customer), &large_invite(&a, "tcp-call-3"));

    let mut tcp = TcpPeer::from_stream(accept_within(&listener, WAIT).expect("connection at B"));
    let b_invite = tcp
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE over TCP");
    assert!(b_invite.to_bytes().len() > 1300);
    let via = b_invite.via().unwrap();
    assert_eq!(
        via.transport, "TCP",
        "RFC 3261 §18.1.1: the top Via says TCP"
    );
    assert_eq!(via.port, Some(core));
    // No copy over UDP and no retransmission on the connection (timer A would fire at 0.5 s
    // and 1.5 s over UDP).
    assert!(
        b.recv(Duration::from_millis(1700)).is_none(),
        "INVITE also sent over UDP"
    );
    assert!(
        tcp.recv(Duration::from_millis(10)).is_none(),
        "INVITE retransmitted over TCP"
    );
    // A 486 on the connection: the SBC's ACK follows the INVITE over TCP.
    tcp.send(&answer(&b_invite, 486, "", &b));
    let ack = tcp
        .recv_until(WAIT, |m| is_request(m, &Method::Ack))
        .expect("ACK over TCP");
    assert_eq!(ack.via().unwrap().transport, "TCP");
    assert_eq!(ack.via().unwrap().branch(), via.branch());
    a.recv_until(WAIT, |m| is_response(m, 486, "INVITE"))
        .expect("486 at A");
}

#[test]
fn a_large_invite_falls_back_to_udp_when_tcp_is_refused() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    // Nothing listens on TCP at B's port: the connection is refused.
    let b = TestUa::new();
    let _sbc = Sbc::start_ready(&config(customer, core, b.addr(), "udp", ""));
    let a = TestUa::new();
    a.send(addr(customer), &large_invite(&a, "tcp-call-4"));
    let (b_invite, from) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE over UDP after the refused connection");
    assert_eq!(from, addr(core));
    assert!(b_invite.to_bytes().len() > 1300);
    assert_eq!(b_invite.via().unwrap().transport, "UDP");
}

#[test]
fn a_large_invite_stays_on_udp_when_the_route_says_so() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (b, listener) = ua_with_tcp();
    let route = "transport = \"udp\"\nlarge_requests_over_tcp = false";
    let text = sbc_config(customer, core, b.addr(), route).render();
    let _sbc = Sbc::start_ready(&text);
    let a = TestUa::new();
    a.send(addr(customer), &large_invite(&a, "tcp-call-5"));
    let (b_invite, _) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE over UDP");
    assert_eq!(b_invite.via().unwrap().transport, "UDP");
    assert!(accept_within(&listener, Duration::from_millis(200)).is_none());
}

#[test]
fn an_oversized_message_on_tcp_gets_413_and_the_connection_closes() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let b = TestUa::new();
    let extra = "[sip]\nmax_message_bytes = 2048\nmax_header_bytes = 1024\n";
    let _sbc = Sbc::start_ready(&config(customer, core, b.addr(), "udp", extra));
    let mut a = TcpPeer::connect(addr(customer));

    // A keep-alive is answered (RFC 5626 §4.4.1) and the connection stays usable.
    a.send_raw(b"\r\n\r\n");
    assert_eq!(a.recv_frame(WAIT), Some(Frame::Pong));

    let head = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {};branch=z9hG4bK-big;rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=big\r\nTo: <sip:bob@example.com>\r\nCall-ID: tcp-big\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 5000\r\n\r\n",
        a.local()
    );
    a.send_raw(head.as_bytes());
    a.send_raw(&[b'v'; 1000]);
    let rsp = a.recv(WAIT).expect("a reply before the close");
    assert_eq!(rsp.status(), Some(413));
    assert_eq!(rsp.call_id(), Some("tcp-big"));
    assert!(a.closed_within(WAIT), "the connection stays open");
    assert!(b.recv(Duration::from_millis(100)).is_none());
}

#[test]
fn options_over_tcp_on_ipv6_is_answered_on_the_connection() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let b = TestUa::new();
    let mut c = sbc_config(customer, core, b.addr(), "transport = \"udp\"");
    c.customer.listen[1] = ("tcp", format!("[::1]:{customer}").parse().unwrap());
    let text = c.render();
    let _sbc = Sbc::start_ready(&text);
    let sbc: SocketAddr = format!("[::1]:{customer}").parse().unwrap();
    let mut a = TcpPeer::connect(sbc);
    let mut m = Message::request(Method::Options, format!("sip:{sbc}"));
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/TCP {};branch=z9hG4bK-v6", a.local()),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:probe@example.com>;tag=v6");
    m.push_header(HeaderName::To, format!("<sip:{sbc}>"));
    m.push_header(HeaderName::CallId, "tcp-v6");
    m.push_header(HeaderName::CSeq, "1 OPTIONS");
    m.set_body(Bytes::new(), None);
    a.send(&m);
    let rsp = a.recv(WAIT).expect("200 on the connection");
    assert_eq!(rsp.status(), Some(200));
    assert_eq!(rsp.call_id(), Some("tcp-v6"));
}

#[test]
fn a_refused_tcp_next_hop_fails_the_call_at_once() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    // A port nobody listens on over TCP.
    let nobody = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let _sbc = Sbc::start_ready(&config(customer, core, nobody, "tcp", ""));
    let a = TestUa::new();
    let sent = Instant::now();
    a.send(addr(customer), &invite("UDP", a.addr(), &a, "tcp-call-6"));
    let (rsp, _) = a
        .recv_until(WAIT, |m| m.status().is_some_and(|s| s >= 300))
        .expect("a final response");
    // The transport error ends the INVITE transaction (RFC 3261 §17.1.4) instead of timer B.
    assert_eq!(rsp.status(), Some(408));
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn an_idle_connection_is_closed_and_keepalives_count_as_traffic() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let b = TestUa::new();
    let extra = "[sip]\ntcp_idle_timeout_s = 1\n";
    let _sbc = Sbc::start_ready(&config(customer, core, b.addr(), "udp", extra));
    let mut busy = TcpPeer::connect(addr(customer));
    let mut quiet = TcpPeer::connect(addr(customer));
    // Keep-alives every 250 ms keep one connection for 1.5 s; the other is closed.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(250));
        busy.send_raw(b"\r\n\r\n");
        assert_eq!(busy.recv_frame(WAIT), Some(Frame::Pong));
    }
    // The busy one answered keep-alives past the 1 s timeout; the quiet one is closed by now
    // (or very soon on a loaded machine).
    assert!(
        quiet.closed_within(Duration::from_secs(1)),
        "the quiet one was closed"
    );
    assert!(
        busy.closed_within(Duration::from_secs(3)),
        "and the busy one once it is quiet"
    );
}

#[test]
fn a_response_whose_connection_closed_goes_to_a_new_one_at_the_via_sent_by() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let b = TestUa::new();
    let _sbc = Sbc::start_ready(&config(customer, core, b.addr(), "udp", ""));
    // A listens for the SBC's new connection at its Via sent-by (no rport: RFC 3261 §18.2.2).
    let a_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a_addr = a_listener.local_addr().unwrap();
    let media_a = TestUa::new();
    let mut inv = invite("TCP", a_addr, &media_a, "tcp-call-7");
    inv.set_header(
        HeaderName::Via,
        format!("SIP/2.0/TCP {a_addr};branch=z9hG4bK-tcp-call-7"),
    );
    {
        let mut a = TcpPeer::connect(addr(customer));
        a.send(&inv);
        // The connection closes here, before any final response.
    }
    let (b_invite, sbc_b) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at B");
    b.send(sbc_b, &answer(&b_invite, 486, "", &b));
    let mut a = TcpPeer::from_stream(
        accept_within(&a_listener, WAIT).expect("a new connection to A's sent-by"),
    );
    let rsp = a
        .recv_until(WAIT, |m| m.status().is_some_and(|s| s >= 300))
        .expect("the final response on the new connection");
    assert_eq!(rsp.status(), Some(486));
    assert_eq!(rsp.call_id(), Some("tcp-call-7"));
    assert_eq!(rsp.via().unwrap().port, Some(a_addr.port()));
}

#[test]
fn a_large_invite_without_a_tcp_address_on_the_interface_stays_on_udp_and_is_retransmitted() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (b, listener) = ua_with_tcp();
    let mut c = sbc_config(customer, core, b.addr(), "transport = \"udp\"");
    c.core.listen.truncate(1); // UDP only on the core side
    let text = c.render();
    let _sbc = Sbc::start_ready(&text);
    let a = TestUa::new();
    a.send(addr(customer), &large_invite(&a, "tcp-call-8"));
    let (first, _) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE over UDP");
    assert_eq!(first.via().unwrap().transport, "UDP");
    // Timer A still runs: the UDP INVITE is retransmitted (RFC 3261 §17.1.1.2).
    let (again, _) = b
        .recv_until(Duration::from_secs(2), |m| is_request(m, &Method::Invite))
        .expect("INVITE retransmitted over UDP");
    assert_eq!(again.to_bytes(), first.to_bytes());
    assert!(accept_within(&listener, Duration::from_millis(100)).is_none());
}

/// A local realm `example.com` with digest authentication and one user, alice.
const REALM: &str = "\n[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n[[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n";

/// A REGISTER for alice over TCP naming a private Contact.
fn tcp_register(local: SocketAddr, seq: u32) -> Message {
    let mut m = Message::request(Method::Register, "sip:example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/TCP 10.99.0.7:5062;branch=z9hG4bKtreg{seq};rport"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=treg");
    m.push_header(HeaderName::To, "<sip:alice@example.com>");
    m.push_header(HeaderName::CallId, format!("treg-{}", local.port()));
    m.push_header(HeaderName::CSeq, format!("{seq} REGISTER"));
    m.push_header(
        HeaderName::Contact,
        "<sip:alice@10.99.0.7:5062;transport=tcp>",
    );
    m.push_header(HeaderName::Expires, "300");
    m.set_body(Bytes::new(), None);
    m
}

/// The core (UDP) calls alice at the SBC's core side.
fn call_alice(b: &TestUa, core: u16, call_id: &str) {
    let mut inv = Message::request(Method::Invite, "sip:alice@example.com");
    inv.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bK{call_id};rport", b.addr()),
    );
    inv.push_header(HeaderName::MaxForwards, "70");
    inv.push_header(HeaderName::From, "<sip:carol@core.example>;tag=tcore");
    inv.push_header(HeaderName::To, "<sip:alice@example.com>");
    inv.push_header(HeaderName::CallId, call_id);
    inv.push_header(HeaderName::CSeq, "1 INVITE");
    inv.push_header(HeaderName::Contact, format!("<sip:carol@{}>", b.addr()));
    inv.set_body(Bytes::from(b.sdp("carol")), Some("application/sdp"));
    b.send(addr(core), &inv);
}

#[test]
fn a_customer_registered_over_tcp_gets_calls_on_its_connection_until_it_closes() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let b = TestUa::new();
    let _sbc = Sbc::start_ready(&config(customer, core, b.addr(), "udp", REALM));
    let mut a = TcpPeer::connect(addr(customer));
    let local = a.local();
    let final_register = |m: &Message| {
        m.status().is_some_and(|s| s >= 200) && m.cseq().is_some_and(|c| c.method == "REGISTER")
    };
    a.send(&tcp_register(local, 1));
    let challenge = a
        .recv_until(WAIT, final_register)
        .expect("answer on the connection");
    assert_eq!(challenge.status(), Some(401), "{challenge:?}");
    let mut again = tcp_register(local, 2);
    again.push_header(
        HeaderName::Authorization,
        sbc_tests::digest_authorization(
            &challenge,
            &HeaderName::WwwAuthenticate,
            "REGISTER",
            "sip:example.com",
            "alice",
            "wonderland",
        )
        .expect("a usable challenge"),
    );
    a.send(&again);
    let ok = a
        .recv_until(WAIT, final_register)
        .expect("answer on the connection");
    assert_eq!(ok.status(), Some(200), "{ok:?}");

    // The core's call comes down the customer's own connection, to the registered Contact.
    call_alice(&b, core, "tcp-reg-call-1");
    let inv = a
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE on the registered connection");
    assert_eq!(inv.uri(), Some("sip:alice@10.99.0.7:5062;transport=tcp"));
    assert!(
        inv.via()
            .is_some_and(|v| v.transport.eq_ignore_ascii_case("TCP")),
        "{inv:?}"
    );

    // The connection closes: the binding goes with it (RFC 5626 §5.3), so the next call is 480.
    drop(a);
    std::thread::sleep(Duration::from_millis(300));
    call_alice(&b, core, "tcp-reg-call-2");
    let (rsp, _) = b
        .recv_until(WAIT, |m| {
            m.status().is_some_and(|s| s >= 200) && m.call_id() == Some("tcp-reg-call-2")
        })
        .expect("final answer to the second call");
    assert_eq!(rsp.status(), Some(480), "{rsp:?}");
}
