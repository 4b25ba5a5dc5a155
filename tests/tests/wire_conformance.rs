//! Wire correctness through the real `sbc` binary on loopback, one test per defect outsiders
//! found: Content-Length on every message over TCP (RFC 3261 §18.3, §20.14), Server only when
//! configured and User-Agent on the SBC's own requests (§20.35, §20.41), the address-of-record in
//! To towards a registered customer (§8.1.1.2), the Max-Forwards cap (§16.6 item 3), 403 to a
//! REGISTER for a domain that is no realm (§10.3), and the SIP message log on a new connection.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::message::{
    alice_invite, callee_request, contact_uri, dialog_request, is_request, is_response,
};
use sbc_tests::tcp::{accept_within, TcpPeer};
use sbc_tests::{digest_authorization, free_udp_port, Sbc, TestUa};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An INVITE from `local` over `transport` for bob, with an SDP offer for `media` when given.
fn invite(transport: &str, local: SocketAddr, call_id: &str, media: Option<&TestUa>) -> Message {
    alice_invite(
        transport,
        local,
        call_id,
        "wire-a",
        media.map(|ua| ua.sdp("alice")),
    )
}

/// `code` to `req` with B's To tag and, for 2xx to INVITE, B's Contact and SDP.
fn b_answer(req: &Message, code: u16, contact: &str, media: Option<&TestUa>) -> Message {
    let mut r = Message::response_to(req, code, "");
    if req.to().is_some_and(|t| t.tag().is_none()) {
        let to = req.header(&HeaderName::To).unwrap();
        r.set_header(HeaderName::To, format!("{to};tag=wire-b"));
    }
    if req.method() == Some(&Method::Invite) && code < 300 {
        r.push_header(HeaderName::Contact, contact.to_owned());
    }
    if let Some(ua) = media {
        r.set_body(Bytes::from(ua.sdp("bob")), Some("application/sdp"));
    }
    r
}

/// Asserts that `m`, as it came off the wire, carries Content-Length equal to its body.
fn framed(m: Message, what: &str) -> Message {
    assert_eq!(
        m.content_length(),
        Some(u32::try_from(m.body().len()).unwrap()),
        "{what} without a correct Content-Length: {m:?}"
    );
    m
}

/// Both interfaces on UDP and TCP, a TCP route to `next_hop`.
fn tcp_config(customer: u16, core: u16, next_hop: SocketAddr) -> String {
    let iface = |port, rtp| Iface::udp(addr(port), rtp).and("tcp", addr(port));
    SbcConfig::with(iface(customer, 46000..=46999), iface(core, 47000..=47999))
        .route("customer-to-core", next_hop, "transport = \"tcp\"")
        .render()
}

/// pjsip, Asterisk and others frame a stream by Content-Length alone: the SBC's 200 to PRACK,
/// to in-dialog INFO and MESSAGE, to an out-of-dialog MESSAGE, and a relayed re-INVITE without
/// SDP all carried none over TCP. Every message either side receives here must carry it
/// (`TcpPeer` frames by Content-Length, and [`framed`] checks the value).
#[test]
fn every_message_the_sbc_sends_over_tcp_carries_content_length() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (b_ua, listener) = sbc_tests::ua_with_tcp();
    let _sbc = Sbc::start_ready(&tcp_config(customer, core, b_ua.addr()));
    let a_media = TestUa::new();
    let mut a = TcpPeer::connect(addr(customer));
    let a_via = |branch: &str, local: SocketAddr| {
        format!("SIP/2.0/TCP {local};branch=z9hG4bK-{branch};rport")
    };
    let local = a.local();

    // A call with a reliable provisional: INVITE, 183 + 100rel, PRACK end to end, 200, ACK.
    let mut inv = invite("TCP", local, "wire-tcp-1", Some(&a_media));
    inv.push_header(HeaderName::Supported, "100rel");
    a.send(&inv);
    let mut b = TcpPeer::from_stream(accept_within(&listener, WAIT).expect("connection at B"));
    let b_inv = framed(
        b.recv_until(WAIT, |m| is_request(m, &Method::Invite))
            .expect("INVITE at B"),
        "INVITE",
    );
    let b_contact = format!("<sip:bob@{};transport=tcp>", b_ua.addr());
    let mut p183 = b_answer(&b_inv, 183, &b_contact, Some(&b_ua));
    p183.push_header(HeaderName::Require, "100rel");
    p183.push_header(HeaderName::RSeq, "1");
    b.send(&p183);
    let a183 = framed(
        a.recv_until(WAIT, |m| is_response(m, 183, "INVITE"))
            .expect("183 at A"),
        "183",
    );
    let a_rseq = a183.rseq().expect("reliable 183 at A (A supports 100rel)");
    let mut prack = dialog_request(
        Method::Prack,
        contact_uri(&a183),
        2,
        a_via("prack", local),
        &inv,
        &a183,
    );
    prack.push_header(HeaderName::RAck, format!("{a_rseq} 1 INVITE"));
    a.send(&prack);
    let b_prack = framed(
        b.recv_until(WAIT, |m| is_request(m, &Method::Prack))
            .expect("PRACK at B"),
        "PRACK",
    );
    b.send(&Message::response_to(&b_prack, 200, "OK"));
    framed(
        a.recv_until(WAIT, |m| is_response(m, 200, "PRACK"))
            .expect("200 to PRACK at A"),
        "200 to PRACK",
    );
    b.send(&b_answer(&b_inv, 200, &b_contact, None));
    let a_ok = framed(
        a.recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
            .expect("200 at A"),
        "200 to INVITE",
    );
    let in_dialog = |method: Method, seq: u32, branch: &str| {
        dialog_request(
            method,
            contact_uri(&a_ok),
            seq,
            a_via(branch, local),
            &inv,
            &a_ok,
        )
    };
    a.send(&in_dialog(Method::Ack, 1, "ack"));
    framed(
        b.recv_until(WAIT, |m| is_request(m, &Method::Ack))
            .expect("ACK at B"),
        "ACK",
    );

    // In-dialog INFO (no body) and MESSAGE (a body): B's bodiless 200s come back framed.
    for (seq, method, body) in [(3, Method::Info, ""), (4, Method::Message, "hello")] {
        let mut req = in_dialog(method.clone(), seq, &format!("r{seq}"));
        if !body.is_empty() {
            req.set_body(Bytes::from(body), Some("text/plain"));
        }
        a.send(&req);
        let at_b = framed(
            b.recv_until(WAIT, |m| is_request(m, &method))
                .unwrap_or_else(|| panic!("{method:?} at B")),
            "in-dialog request",
        );
        assert_eq!(at_b.body().as_ref(), body.as_bytes());
        b.send(&Message::response_to(&at_b, 200, "OK"));
        framed(
            a.recv_until(WAIT, |m| is_response(m, 200, method.as_str()))
                .unwrap_or_else(|| panic!("200 to {method:?} at A")),
            "200 to an in-dialog request",
        );
    }

    // A re-INVITE without SDP (delayed offer) reaches B framed; B's offer in the 200 goes to A.
    let reinvite = in_dialog(Method::Invite, 5, "reinv");
    a.send(&reinvite);
    let b_reinv = framed(
        b.recv_until(WAIT, |m| is_request(m, &Method::Invite))
            .expect("re-INVITE at B"),
        "re-INVITE without SDP",
    );
    assert!(b_reinv.body().is_empty());
    b.send(&b_answer(&b_reinv, 200, &b_contact, Some(&b_ua)));
    let a_reok = framed(
        a.recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
            .expect("200 to the re-INVITE at A"),
        "200 to re-INVITE",
    );
    let mut ack = dialog_request(
        Method::Ack,
        contact_uri(&a_ok),
        5,
        a_via("reack", local),
        &inv,
        &a_ok,
    );
    ack.set_body(Bytes::from(a_media.sdp("alice")), Some("application/sdp"));
    assert!(a_reok.has_sdp(), "B's offer reaches A");
    a.send(&ack);
    framed(
        b.recv_until(WAIT, |m| is_request(m, &Method::Ack))
            .expect("ACK with the answer at B"),
        "ACK",
    );

    // B hangs up: its BYE reaches A framed, and B gets the 200.
    let local_b = format!("{};tag=wire-b", b_inv.header(&HeaderName::To).unwrap());
    let b_via = format!("SIP/2.0/TCP {};branch=z9hG4bK-bbye;rport", b.local());
    b.send(&callee_request(Method::Bye, 1, b_via, &b_inv, &local_b));
    let a_bye = framed(
        a.recv_until(WAIT, |m| is_request(m, &Method::Bye))
            .expect("BYE at A"),
        "BYE",
    );
    a.send(&Message::response_to(&a_bye, 200, "OK"));
    framed(
        b.recv_until(WAIT, |m| is_response(m, 200, "BYE"))
            .expect("200 to BYE at B"),
        "200 to BYE",
    );

    // An out-of-dialog MESSAGE and its 200.
    let mut msg = Message::request(Method::Message, "sip:bob@example.com");
    msg.push_header(HeaderName::Via, a_via("ood", local));
    msg.push_header(HeaderName::MaxForwards, "70");
    msg.push_header(HeaderName::From, "<sip:alice@example.com>;tag=wire-m");
    msg.push_header(HeaderName::To, "<sip:bob@example.com>");
    msg.push_header(HeaderName::CallId, "wire-tcp-msg");
    msg.push_header(HeaderName::CSeq, "1 MESSAGE");
    msg.set_body(Bytes::from_static(b"ping"), Some("text/plain"));
    a.send(&msg);
    let b_msg = framed(
        b.recv_until(WAIT, |m| is_request(m, &Method::Message))
            .expect("MESSAGE at B"),
        "out-of-dialog MESSAGE",
    );
    b.send(&b_answer(&b_msg, 200, "", None));
    framed(
        a.recv_until(WAIT, |m| is_response(m, 200, "MESSAGE"))
            .expect("200 to MESSAGE at A"),
        "200 to an out-of-dialog MESSAGE",
    );
}

/// A UDP configuration with a local realm `example.com` (alice/wonderland, digest required,
/// one-second keepalives), a route to `core_ua`, and `general` lines under `[general]`.
fn realm_config(customer: u16, core: u16, core_ua: SocketAddr, general: &str) -> String {
    let mut c = SbcConfig::loopback(customer, core, 46000..=46999, 47000..=47999).route(
        "customer-to-core",
        core_ua,
        "",
    );
    general.clone_into(&mut c.general);
    c.extra = "[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\
               keepalive_interval_s = 1\n\n[[user]]\nusername = \"alice\"\n\
               realm = \"example.com\"\npassword = \"wonderland\"\n"
        .to_owned();
    c.render()
}

/// A REGISTER for `aor_user`@`domain` from `ua`, binding a private Contact nothing listens on.
fn register(ua: &TestUa, domain: &str, cseq: u32) -> Message {
    let mut m = Message::request(Method::Register, format!("sip:{domain}"));
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP 10.99.0.5:5062;branch=z9hG4bKwire{cseq};rport"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, format!("<sip:alice@{domain}>;tag=reg"));
    m.push_header(HeaderName::To, format!("<sip:alice@{domain}>"));
    m.push_header(HeaderName::CallId, format!("wire-reg-{}", ua.addr().port()));
    m.push_header(HeaderName::CSeq, format!("{cseq} REGISTER"));
    m.push_header(HeaderName::Contact, "<sip:alice@10.99.0.5:5062>");
    m.push_header(HeaderName::Expires, "300");
    m.set_body(Bytes::new(), None);
    m
}

/// The next final response to a `method` request at `ua`.
fn final_response(ua: &TestUa, method: &str) -> Message {
    ua.recv_until(WAIT, |m| {
        m.status().is_some_and(|s| s >= 200) && m.cseq().is_some_and(|c| c.method == method)
    })
    .map(|(m, _)| m)
    .unwrap_or_else(|| panic!("no final response to {method}"))
}

/// Registers alice from `ua` with digest; returns the 401 challenge and the 200.
fn register_alice(customer: SocketAddr, ua: &TestUa) -> (Message, Message) {
    ua.send(customer, &register(ua, "example.com", 1));
    let challenge = final_response(ua, "REGISTER");
    assert_eq!(challenge.status(), Some(401), "{challenge:?}");
    let mut again = register(ua, "example.com", 2);
    let auth = digest_authorization(
        &challenge,
        &HeaderName::WwwAuthenticate,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
    )
    .expect("a usable challenge");
    again.push_header(HeaderName::Authorization, auth);
    ua.send(customer, &again);
    let ok = final_response(ua, "REGISTER");
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    (challenge, ok)
}

/// An out-of-dialog OPTIONS from `ua`.
fn options(ua: &TestUa) -> Message {
    let mut m = Message::request(Method::Options, "sip:example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKwireopt;rport", ua.addr()),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:probe@example.net>;tag=opt");
    m.push_header(HeaderName::To, "<sip:example.com>");
    m.push_header(HeaderName::CallId, "wire-options");
    m.push_header(HeaderName::CSeq, "1 OPTIONS");
    m.set_body(Bytes::new(), None);
    m
}

/// config/README.md says an absent `user_agent` sends neither header: no Server on the SBC's
/// answers, and its own OPTIONS keepalive (a request) carries no Server either.
#[test]
fn without_user_agent_the_sbc_names_no_product() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let _sbc = Sbc::start_ready(&realm_config(customer, core, core_ua.addr(), ""));
    let ua = TestUa::new();
    ua.send(addr(customer), &options(&ua));
    let ok = final_response(&ua, "OPTIONS");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.server(), None, "{ok:?}");
    let (challenge, ok) = register_alice(addr(customer), &ua);
    assert_eq!(challenge.server(), None, "{challenge:?}");
    assert_eq!(ok.server(), None, "{ok:?}");
    let (ping, _) = ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Options))
        .expect("OPTIONS keepalive");
    assert_eq!(ping.server(), None, "a request carries no Server: {ping:?}");
    assert_eq!(ping.user_agent(), None, "{ping:?}");
}

/// With `user_agent` set, answers carry it as Server and the SBC's own requests as User-Agent
/// (RFC 3261 §20.35: Server is a response header; §20.41: User-Agent a request header).
#[test]
fn a_configured_user_agent_goes_in_server_on_answers_and_user_agent_on_requests() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let general = "user_agent = \"ExampleCorp SBC\"";
    let _sbc = Sbc::start_ready(&realm_config(customer, core, core_ua.addr(), general));
    let ua = TestUa::new();
    ua.send(addr(customer), &options(&ua));
    assert_eq!(
        final_response(&ua, "OPTIONS").server(),
        Some("ExampleCorp SBC")
    );
    let (challenge, _) = register_alice(addr(customer), &ua);
    assert_eq!(challenge.server(), Some("ExampleCorp SBC"));
    let (ping, _) = ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Options))
        .expect("OPTIONS keepalive");
    assert_eq!(ping.user_agent(), Some("ExampleCorp SBC"), "{ping:?}");
    assert_eq!(ping.server(), None, "{ping:?}");
}

/// The INVITE to a registered customer is addressed to its Contact, but its To names the
/// address-of-record that was called, never the customer's NAT address (RFC 3261 §8.1.1.2).
#[test]
fn an_invite_to_a_registered_customer_keeps_the_address_of_record_in_to() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let _sbc = Sbc::start_ready(&realm_config(customer, core, core_ua.addr(), ""));
    let ua = TestUa::new();
    register_alice(addr(customer), &ua);
    let mut inv = Message::request(Method::Invite, "sip:alice@example.com");
    inv.push_header(
        HeaderName::Via,
        format!(
            "SIP/2.0/UDP {};branch=z9hG4bKwirecore;rport",
            core_ua.addr()
        ),
    );
    inv.push_header(HeaderName::MaxForwards, "70");
    inv.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core");
    inv.push_header(HeaderName::To, "\"Alice\" <sip:alice@example.com>");
    inv.push_header(HeaderName::CallId, "wire-to-aor");
    inv.push_header(HeaderName::CSeq, "1 INVITE");
    inv.push_header(
        HeaderName::Contact,
        format!("<sip:carol@{}>", core_ua.addr()),
    );
    inv.set_body(Bytes::from(core_ua.sdp("carol")), Some("application/sdp"));
    core_ua.send(addr(core), &inv);
    let (at_customer, _) = ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the registered customer");
    assert_eq!(at_customer.uri(), Some("sip:alice@10.99.0.5:5062"));
    let to = at_customer.to().expect("To");
    assert_eq!(to.uri, "sip:alice@example.com", "{at_customer:?}");
    assert_eq!(to.display, Some("\"Alice\""));
    let text = String::from_utf8(at_customer.to_bytes().to_vec()).unwrap();
    assert!(
        !text.contains(&format!(":{}", ua.addr().port())),
        "the customer's NAT port leaked: {text}"
    );
}

/// `[sip] max_forwards` caps what the SBC passes on: 70 in becomes the cap, below the cap it
/// is one less (RFC 3261 §16.6 item 3; config/README.md).
#[test]
fn max_forwards_is_capped_at_the_configured_value() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let b = TestUa::new();
    let mut c = SbcConfig::loopback(customer, core, 46000..=46999, 47000..=47999).route(
        "customer-to-core",
        b.addr(),
        "",
    );
    c.extra = "[sip]\nmax_forwards = 20\n".to_owned();
    let _sbc = Sbc::start_ready(&c.render());
    let a = TestUa::new();
    for (n, (incoming, expected)) in [(70u32, 20u32), (10, 9)].into_iter().enumerate() {
        let mut inv = invite("UDP", a.addr(), &format!("wire-mf-{n}"), Some(&a));
        inv.set_header(HeaderName::MaxForwards, incoming.to_string());
        a.send(addr(customer), &inv);
        let (at_b, _) = b
            .recv_until(WAIT, |m| is_request(m, &Method::Invite))
            .expect("INVITE at B");
        assert_eq!(at_b.max_forwards(), Some(expected), "incoming {incoming}");
        b.send(addr(core), &b_answer(&at_b, 486, "", None));
        final_response(&a, "INVITE");
    }
    // In the dialog too: A's BYE with 70 reaches B with the cap, not the dialog layer's 70.
    let inv = invite("UDP", a.addr(), "wire-mf-dialog", Some(&a));
    a.send(addr(customer), &inv);
    let (at_b, _) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at B");
    let b_contact = format!("<sip:bob@{}>", b.addr());
    b.send(addr(core), &b_answer(&at_b, 200, &b_contact, Some(&b)));
    let ok = final_response(&a, "INVITE");
    let a_via = |br: &str| format!("SIP/2.0/UDP {};branch=z9hG4bK-{br};rport", a.addr());
    let in_dialog =
        |m: Method, seq, br: &str| dialog_request(m, contact_uri(&ok), seq, a_via(br), &inv, &ok);
    a.send(addr(customer), &in_dialog(Method::Ack, 1, "mfack"));
    a.send(addr(customer), &in_dialog(Method::Bye, 2, "mfbye"));
    let (bye, _) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE at B");
    assert_eq!(bye.max_forwards(), Some(20), "{bye:?}");
    b.send(addr(core), &Message::response_to(&bye, 200, "OK"));
}

/// A REGISTER for a domain that is no realm is refused with 403 and a reason, with realms
/// configured or none at all: 501 would say REGISTER is an unknown method (RFC 3261 §10.3).
#[test]
fn a_register_for_a_domain_that_is_no_realm_gets_403() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let ua = TestUa::new();
    {
        let _sbc = Sbc::start_ready(&realm_config(customer, core, core_ua.addr(), ""));
        ua.send(addr(customer), &register(&ua, "other.example", 1));
        let rsp = final_response(&ua, "REGISTER");
        assert_eq!(rsp.status(), Some(403), "{rsp:?}");
        assert_eq!(rsp.reason(), Some("Domain Not Served"));
    }
    let (customer, core) = (free_udp_port(), free_udp_port());
    let c = SbcConfig::loopback(customer, core, 46000..=46999, 47000..=47999).route(
        "customer-to-core",
        core_ua.addr(),
        "",
    );
    let _sbc = Sbc::start_ready(&c.render());
    ua.send(addr(customer), &register(&ua, "example.com", 3));
    let rsp = final_response(&ua, "REGISTER");
    assert_eq!(rsp.status(), Some(403), "{rsp:?}");
    assert_eq!(rsp.reason(), Some("Domain Not Served"));
    assert!(
        core_ua.recv(Duration::from_millis(300)).is_none(),
        "nothing routed"
    );
}

/// With `log_sip_messages`, the request that opens a new outbound TCP connection is logged
/// like every later one.
#[test]
fn the_request_that_opens_a_tcp_connection_is_in_the_message_log() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (b_ua, listener) = sbc_tests::ua_with_tcp();
    let text = tcp_config(customer, core, b_ua.addr()).replacen(
        "[[interface]]",
        "[general]\nlog_sip_messages = true\n\n[[interface]]",
        1,
    );
    let mut sbc = Sbc::start_ready(&text);
    let a = TestUa::new();
    a.send(
        addr(customer),
        &invite("UDP", a.addr(), "wire-log-1", Some(&a)),
    );
    let mut b = TcpPeer::from_stream(accept_within(&listener, WAIT).expect("connection at B"));
    b.recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at B");
    let sent = format!("sent to {}", b_ua.addr());
    assert!(
        sbc.wait_log(&sent, WAIT),
        "no '{sent}' in the log:\n{}",
        std::fs::read_to_string(&sbc.log).unwrap_or_default()
    );
    let log = std::fs::read_to_string(&sbc.log).unwrap();
    let at = log.find(&sent).unwrap();
    assert!(
        log[at..].contains("INVITE sip:bob@"),
        "the logged message is not the INVITE"
    );
}
