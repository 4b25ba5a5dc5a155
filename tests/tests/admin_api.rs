//! The management API of the real `sbc` binary, with loopback test UAs: the call list during a
//! live call (Call-IDs, state, duration, per-stream packet counters moving), terminating a call
//! (BYE with a Reason on both legs, the call gone, media no longer relayed), click-to-dial
//! (RFC 3725 flow I: A rings and answers with the offer, B rings and answers, both are ACKed and
//! talk through the relay), and the bearer token and input checks (RFC 6750).

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::{callee_request, contact_addr, contact_uri, dialog_request, udp_via};
use sbc_tests::{free_tcp_port, free_udp_port, http_request, sdp_audio_addr, Sbc, TestUa};
use serde_json::Value;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// Each test's SBC gets its own RTP ranges (the tests run in parallel): A's side
/// `42000 + 300·slot`, B's `43000 + 300·slot`, 300 ports each.
fn rtp_ranges(slot: u16) -> (RangeInclusive<u16>, RangeInclusive<u16>) {
    let a = 42000 + 300 * slot;
    let b = 43000 + 300 * slot;
    (a..=a + 299, b..=b + 299)
}
const WAIT: Duration = Duration::from_secs(5);
const TOKEN: &str = "e2e-api-token-0123456789abcdef";

/// An SBC with a customer interface (phone A's side) and a core interface (phone B's), a route
/// to each phone, and the management API on `admin`.
struct Setup {
    _sbc: Sbc,
    sbc_a: SocketAddr,
    sbc_b: SocketAddr,
    admin: SocketAddr,
    a_rtp: RangeInclusive<u16>,
    b_rtp: RangeInclusive<u16>,
}

fn start(slot: u16, phone_a: SocketAddr, phone_b: SocketAddr) -> Setup {
    let (a_rtp, b_rtp) = rtp_ranges(slot);
    let (customer, core, admin) = (free_udp_port(), free_udp_port(), free_tcp_port());
    let mut c = SbcConfig::loopback(customer, core, a_rtp.clone(), b_rtp.clone())
        .route("to-bob", phone_b, "")
        .route_between(
            "to-alice",
            ("core", "customer"),
            phone_a,
            "request_user = \"alice\"",
        );
    c.relay = "stats_interval_ms = 100".into();
    c.admin = SocketAddr::from(([127, 0, 0, 1], admin));
    c.admin_token = Some(TOKEN.into());
    let text = c.render();
    let sbc = Sbc::start_ready(&text);
    Setup {
        _sbc: sbc,
        sbc_a: format!("127.0.0.1:{customer}").parse().unwrap(),
        sbc_b: format!("127.0.0.1:{core}").parse().unwrap(),
        admin: format!("127.0.0.1:{admin}").parse().unwrap(),
        a_rtp,
        b_rtp,
    }
}

/// An API request with the right token; the status and the JSON body.
fn api(s: &Setup, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let auth = format!("Bearer {TOKEN}");
    let rsp = http_request(s.admin, method, path, Some(&auth), body).expect("admin answers");
    assert_eq!(rsp.header("content-type"), Some("application/json"));
    let v = serde_json::from_str(&rsp.body).unwrap_or_else(|e| panic!("{e}: {}", rsp.body));
    (rsp.status, v)
}

fn list(s: &Setup) -> Vec<Value> {
    let (status, v) = api(s, "GET", "/api/v1/calls", None);
    assert_eq!(status, 200, "{v}");
    v["calls"].as_array().expect("calls array").clone()
}

/// Lists until `done` holds for the only call (relay statistics refresh every 100 ms), at
/// most 5 s; returns the last listing of it.
fn call_until(s: &Setup, done: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + WAIT;
    loop {
        let calls = list(s);
        assert_eq!(calls.len(), 1, "{calls:?}");
        if done(&calls[0]) || Instant::now() > end {
            return calls[0].clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request from the UA that received `req` (the SBC's INVITE to it), in that dialog: the
/// SBC's From becomes the To, the UA's tagged To the From (RFC 3261 §12.2.1.1).
fn from_callee(method: Method, ua: &TestUa, req: &Message, to_tag: &str, seq: u32) -> Message {
    let local = format!("{};tag={to_tag}", req.header(&HeaderName::To).unwrap());
    let via = format!("SIP/2.0/UDP {};branch=z9hG4bKapi{seq}{to_tag}", ua.addr());
    callee_request(method, seq, via, req, &local)
}

/// The UA's answer to the SBC's INVITE `req`, with its To tag, Contact and optional SDP.
fn answer(ua: &TestUa, req: &Message, code: u16, tag: &str, sdp: Option<String>) -> Message {
    let mut r = Message::response_to(req, code, if code == 200 { "OK" } else { "Ringing" });
    r.set_header(
        HeaderName::To,
        format!("{};tag={tag}", req.header(&HeaderName::To).unwrap()),
    );
    r.push_header(HeaderName::Contact, format!("<sip:ua@{}>", ua.addr()));
    match sdp {
        Some(b) => r.set_body(Bytes::from(b), Some("application/sdp")),
        None => r.set_body(Bytes::new(), None),
    }
    r
}

/// What an established A → SBC → B call left the test with.
struct Call {
    a_call_id: String,
    b_call_id: String,
    relay_a: SocketAddr,
    relay_b: SocketAddr,
}

/// INVITE from A, 180 and 200 from B, ACK from A (RFC 3665 §3.1).
fn establish(s: &Setup, a: &TestUa, b: &TestUa) -> Call {
    let mut invite = Message::request(Method::Invite, "sip:bob@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKapi0;rport", a.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:alice@example.com>;tag=api-a");
    invite.push_header(HeaderName::To, "<sip:bob@example.com>");
    invite.push_header(HeaderName::CallId, "admin-api-call@127.0.0.1");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    invite.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    a.send(s.sbc_a, &invite);

    let (b_invite, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at B");
    let relay_b = sdp_audio_addr(b_invite.body()).expect("SDP at B");
    b.send(from, &answer(b, &b_invite, 180, "api-b", None));
    b.send(
        from,
        &answer(b, &b_invite, 200, "api-b", Some(b.sdp("bob"))),
    );
    let (a_ok, _) = a
        .recv_until(WAIT, |m| {
            m.status() == Some(200) && m.cseq().is_some_and(|c| c.method == "INVITE")
        })
        .expect("200 at A");
    let relay_a = sdp_audio_addr(a_ok.body()).expect("SDP at A");
    let via = udp_via(a.addr(), "z9hG4bKapi1");
    let ack = dialog_request(Method::Ack, contact_uri(&a_ok), 1, via, &invite, &a_ok);
    a.send(contact_addr(&a_ok), &ack);
    b.recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at B");
    Call {
        a_call_id: "admin-api-call@127.0.0.1".into(),
        b_call_id: b_invite.call_id().unwrap().to_owned(),
        relay_a,
        relay_b,
    }
}

fn packets_in(call: &Value, leg: &str) -> u64 {
    call["streams"][0][leg]["packets_in"].as_u64().unwrap_or(0)
}

/// The BYE the SBC sends `ua`, answered 200; its Reason header.
fn expect_bye(ua: &TestUa, call_id: &str) -> String {
    let (bye, from) = ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE");
    assert_eq!(bye.call_id(), Some(call_id));
    ua.send(from, &Message::response_to(&bye, 200, "OK"));
    bye.header(&HeaderName::Reason)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn api_lists_a_live_call_and_terminate_byes_both_legs_and_stops_media() {
    let (a, b) = (TestUa::new(), TestUa::new());
    let s = start(0, a.addr(), b.addr());
    assert!(list(&s).is_empty());
    let call = establish(&s, &a, &b);

    // The first packet may beat the relay worker to B's answer on a loaded machine and have
    // nowhere to go yet: the counts out are what the phones received.
    a.send_rtp(call.relay_a, 0x0a91_0001, 20);
    let to_b = b.count_rtp(0x0a91_0001, 20, Duration::from_secs(3)).0;
    b.send_rtp(call.relay_b, 0x0a91_0002, 20);
    let to_a = a.count_rtp(0x0a91_0002, 20, Duration::from_secs(3)).0;
    assert!(
        to_b >= 18 && to_a >= 18,
        "media through the relay: {to_b}, {to_a}"
    );
    let first = call_until(&s, |c| packets_in(c, "a") >= 20 && packets_in(c, "b") >= 20);
    assert_eq!(first["state"], "answered");
    assert_eq!(first["originated"], false);
    assert_eq!(first["legs"]["a"]["call_id"], call.a_call_id.as_str());
    assert_eq!(first["legs"]["b"]["call_id"], call.b_call_id.as_str());
    assert_eq!(first["legs"]["a"]["peer"], a.addr().to_string());
    assert_eq!(first["legs"]["a"]["local"], s.sbc_a.to_string());
    assert_eq!(first["legs"]["b"]["peer"], b.addr().to_string());
    assert_eq!(first["legs"]["b"]["local"], s.sbc_b.to_string());
    let stream = &first["streams"][0];
    assert_eq!(stream["a"]["local"], call.relay_a.to_string());
    assert_eq!(stream["b"]["local"], call.relay_b.to_string());
    assert_eq!(
        stream["a"]["peer"],
        a.rtp_addr().to_string(),
        "latched on A"
    );
    assert!(
        stream["b"]["packets_out"].as_u64().unwrap() >= to_b as u64,
        "{stream}"
    );
    assert!(
        stream["a"]["packets_out"].as_u64().unwrap() >= to_a as u64,
        "{stream}"
    );

    // The counters and the duration move on.
    std::thread::sleep(Duration::from_millis(200));
    a.send_rtp(call.relay_a, 0x0a91_0001, 10);
    let later = call_until(&s, |c| packets_in(c, "a") >= 30);
    assert!(packets_in(&later, "a") >= 30, "{later}");
    let (d0, d1) = (
        first["duration_seconds"].as_f64().unwrap(),
        later["duration_seconds"].as_f64().unwrap(),
    );
    assert!(d1 > d0 && d0 > 0.0, "{d0} then {d1}");

    let id = first["id"].as_u64().unwrap();
    let (status, one) = api(&s, "GET", &format!("/api/v1/calls/{id}"), None);
    assert_eq!(status, 200);
    assert_eq!(one["legs"]["b"]["call_id"], call.b_call_id.as_str());

    let (status, v) = api(&s, "DELETE", &format!("/api/v1/calls/{id}"), None);
    assert_eq!((status, &v["state"]), (202, &Value::from("terminating")));
    let reason_a = expect_bye(&a, &call.a_call_id);
    let reason_b = expect_bye(&b, &call.b_call_id);
    for r in [&reason_a, &reason_b] {
        assert!(r.contains("terminated by administrator"), "Reason: {r:?}");
    }
    assert!(list(&s).is_empty());
    let (status, v) = api(&s, "GET", &format!("/api/v1/calls/{id}"), None);
    assert_eq!(status, 404, "{v}");
    let (status, _) = api(&s, "DELETE", &format!("/api/v1/calls/{id}"), None);
    assert_eq!(status, 404);

    // The relay session is gone: RTP to its old ports reaches nobody.
    a.send_rtp(call.relay_a, 0x0a91_0003, 10);
    b.send_rtp(call.relay_b, 0x0a91_0004, 10);
    assert_eq!(b.count_rtp(0x0a91_0003, 1, Duration::from_millis(500)).0, 0);
    assert_eq!(a.count_rtp(0x0a91_0004, 1, Duration::from_millis(500)).0, 0);
}

#[test]
fn click_to_dial_rings_a_then_b_and_both_talk_through_the_relay() {
    let (a, b) = (TestUa::new(), TestUa::new());
    let s = start(1, a.addr(), b.addr());
    let (status, v) = api(
        &s,
        "POST",
        "/api/v1/calls",
        Some(r#"{"a":{"user":"alice","route":"to-alice"},"b":{"user":"bob","route":"to-bob"}}"#),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_u64().unwrap();

    // A rings: an INVITE without an offer, from the SBC's customer side.
    let (a_inv, from) = a
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at A");
    assert_eq!(from, s.sbc_a);
    assert!(a_inv.body().is_empty(), "flow I: no SDP to A");
    assert_eq!(
        a_inv.uri(),
        Some(format!("sip:alice@{}", a.addr()).as_str())
    );
    let calls = list(&s);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"], id);
    assert_eq!(calls[0]["state"], "dialing");
    assert_eq!(calls[0]["legs"]["a"]["call_id"], a_inv.call_id().unwrap());
    a.send(from, &answer(&a, &a_inv, 180, "ctd-a", None));
    a.send(
        from,
        &answer(&a, &a_inv, 200, "ctd-a", Some(a.sdp("alice"))),
    );

    // B rings with A's offer, anchored in the relay.
    let (b_inv, from_b) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at B");
    assert_eq!(from_b, s.sbc_b);
    let relay_b = sdp_audio_addr(b_inv.body()).expect("SDP at B");
    assert!(s.b_rtp.contains(&relay_b.port()), "{relay_b}");
    assert_ne!(b_inv.call_id(), a_inv.call_id());
    let proceeding = list(&s);
    assert_eq!(proceeding[0]["state"], "proceeding");
    assert_eq!(
        proceeding[0]["legs"]["b"]["call_id"],
        b_inv.call_id().unwrap()
    );
    b.send(from_b, &answer(&b, &b_inv, 180, "ctd-b", None));
    b.send(
        from_b,
        &answer(&b, &b_inv, 200, "ctd-b", Some(b.sdp("bob"))),
    );

    // Both are ACKed; A's ACK carries B's answer, rewritten to the relay.
    let (ack_b, _) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at B");
    assert_eq!(ack_b.call_id(), b_inv.call_id());
    let (ack_a, _) = a
        .recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at A");
    assert_eq!(ack_a.call_id(), a_inv.call_id());
    let relay_a = sdp_audio_addr(ack_a.body()).expect("answer in A's ACK");
    assert!(s.a_rtp.contains(&relay_a.port()), "{relay_a}");

    a.send_rtp(relay_a, 0x0c7d_0001, 20);
    let to_b = b.count_rtp(0x0c7d_0001, 20, Duration::from_secs(3)).0;
    b.send_rtp(relay_b, 0x0c7d_0002, 20);
    let to_a = a.count_rtp(0x0c7d_0002, 20, Duration::from_secs(3)).0;
    assert!(
        to_b >= 18 && to_a >= 18,
        "media through the relay: {to_b}, {to_a}"
    );
    let live = call_until(&s, |c| packets_in(c, "a") >= 20 && packets_in(c, "b") >= 20);
    assert_eq!(live["state"], "answered");
    assert_eq!(live["originated"], true);

    // An ordinary call now: B hangs up, A gets the BYE.
    b.send(from_b, &from_callee(Method::Bye, &b, &b_inv, "ctd-b", 1));
    assert!(expect_bye(&a, a_inv.call_id().unwrap()).is_empty());
    let (ok, _) = b
        .recv_until(WAIT, |m| m.status() == Some(200))
        .expect("200 to B's BYE");
    assert_eq!(ok.cseq().unwrap().method, "BYE");
    assert!(list(&s).is_empty());
}

#[test]
fn call_endpoints_need_the_token_and_refuse_bad_input() {
    let (a, b) = (TestUa::new(), TestUa::new());
    let s = start(2, a.addr(), b.addr());
    let ctd = r#"{"a":{"user":"alice","route":"to-alice"},"b":{"user":"bob","route":"to-bob"}}"#;
    let requests = [
        ("GET", "/api/v1/calls", None),
        ("POST", "/api/v1/calls", Some(ctd)),
        ("GET", "/api/v1/calls/1", None),
        ("DELETE", "/api/v1/calls/1", None),
    ];
    for (method, path, body) in requests {
        for auth in [None, Some("Bearer wrong-token-wrong-token"), Some(TOKEN)] {
            let rsp = http_request(s.admin, method, path, auth, body).expect("answer");
            assert_eq!(rsp.status, 401, "{method} {path} with {auth:?}");
            assert!(rsp.header("www-authenticate").is_some());
        }
    }
    // Nothing was dialled by the refused POSTs.
    assert!(a.recv(Duration::from_millis(300)).is_none());
    assert!(list(&s).is_empty());

    for (method, path) in [
        ("GET", "/api/v1/calls/999"),
        ("DELETE", "/api/v1/calls/999"),
    ] {
        let (status, v) = api(&s, method, path, None);
        assert_eq!((status, v["error"].as_str()), (404, Some("no such call")));
    }
    let cases = [
        ("/api/v1/calls/abc", None, "decimal integer"),
        ("/api/v1/calls", Some("{not json"), "not JSON"),
        (
            "/api/v1/calls",
            Some(r#"{"a":{"user":"alice"}}"#),
            "\"a\" must be",
        ),
        (
            "/api/v1/calls",
            Some(r#"{"a":{"user":"alice","route":"nowhere"},"b":{"user":"bob","route":"to-bob"}}"#),
            "unknown route \"nowhere\"",
        ),
        (
            "/api/v1/calls",
            Some(
                r#"{"a":{"user":"alice@192.0.2.1","route":"to-alice"},"b":{"user":"bob","route":"to-bob"}}"#,
            ),
            "invalid user",
        ),
    ];
    for (path, body, text) in cases {
        let method = if body.is_some() { "POST" } else { "GET" };
        let (status, v) = api(&s, method, path, body);
        assert_eq!(status, 400, "{path} {body:?}: {v}");
        assert!(v["error"].as_str().unwrap().contains(text), "{v}");
    }
    assert!(
        a.recv(Duration::from_millis(300)).is_none(),
        "nothing dialled"
    );
    let (status, v) = api(&s, "GET", "/api/v1/registrations", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["registrations"], serde_json::json!([]));
}
