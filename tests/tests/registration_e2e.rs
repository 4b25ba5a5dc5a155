//! Customers registering through the real `sbc` binary on loopback (RFC 3261 §10, §22): digest
//! challenge and answer, wrong passwords throttled, INVITEs from customers challenged with 407,
//! and calls from the core delivered to the customer's flow (never its private Contact) with
//! media through the relay, ringing every registered contact at once (`fork_mode =
//! "parallel"`); the registration metrics move.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::udp_via;
use sbc_tests::{
    digest_authorization, free_udp_port, http_get, http_request, metric_value, sdp_audio_addr, Sbc,
    TestUa,
};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
const TOKEN: &str = "registration-e2e-token-0123456789";
/// The Contact the customer registers: a private address nothing listens on, so a request
/// that reaches the customer can only have gone to its flow.
const PRIVATE_CONTACT: &str = "sip:alice@10.99.0.5:5062";

struct Setup {
    sbc: Sbc,
    customer: SocketAddr,
    core: SocketAddr,
    admin: SocketAddr,
}

fn start(core_ua: SocketAddr, limits: &str) -> Setup {
    start_with(core_ua, limits, LOCAL)
}

/// A local realm with digest authentication.
const LOCAL: &str = "mode = \"local\"\nauth_required = true\n";

/// Starts the SBC with `realm` as the `[[realm]]` section's keys after `domain`.
fn start_with(core_ua: SocketAddr, limits: &str, realm: &str) -> Setup {
    let (customer, core, admin) = (free_udp_port(), free_udp_port(), free_udp_port());
    let mut c = SbcConfig::loopback(customer, core, 48000..=48999, 49000..=49999).route(
        "customer-to-core",
        core_ua,
        "",
    );
    c.admin = SocketAddr::from(([127, 0, 0, 1], admin));
    c.admin_token = Some(TOKEN.into());
    c.extra = format!(
        "[[realm]]\ndomain = \"example.com\"\n{realm}\n[[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n\n[limits]\n{limits}\n"
    );
    let text = c.render();
    let sbc = Sbc::start_ready(&text);
    Setup {
        sbc,
        customer: format!("127.0.0.1:{customer}").parse().unwrap(),
        core: format!("127.0.0.1:{core}").parse().unwrap(),
        admin: format!("127.0.0.1:{admin}").parse().unwrap(),
    }
}

fn metric(admin: SocketAddr, series: &str) -> f64 {
    let rsp = http_get(admin, "/metrics", None).expect("GET /metrics");
    metric_value(&rsp.body, series).unwrap_or_else(|| panic!("{series} missing"))
}

/// The Authorization value answering the first usable challenge of `rsp` in `header` for alice.
fn answer(rsp: &Message, header: &HeaderName, method: &str, uri: &str, password: &str) -> String {
    digest_authorization(rsp, header, method, uri, "alice", password)
        .unwrap_or_else(|| panic!("no usable {header:?} in {rsp:?}"))
}

fn register(ua: &TestUa, cseq: u32, branch: &str) -> Message {
    register_contact(ua, cseq, branch, PRIVATE_CONTACT)
}

/// A REGISTER from `ua` (its own Call-ID) binding `contact` for alice.
fn register_contact(ua: &TestUa, cseq: u32, branch: &str, contact: &str) -> Message {
    let mut m = Message::request(Method::Register, "sip:example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP 10.99.0.5:5062;branch={branch};rport"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=reg-a");
    m.push_header(HeaderName::To, "<sip:alice@example.com>");
    m.push_header(HeaderName::CallId, format!("reg-{}", ua.addr().port()));
    m.push_header(HeaderName::CSeq, format!("{cseq} REGISTER"));
    m.push_header(HeaderName::Contact, format!("<{contact}>"));
    m.push_header(HeaderName::Expires, "300");
    m.set_body(Bytes::new(), None);
    m
}

fn status_of(ua: &TestUa, method: &str) -> Message {
    ua.recv_until(WAIT, |m| {
        m.status().is_some_and(|s| s >= 200) && m.cseq().is_some_and(|c| c.method == method)
    })
    .map(|(m, _)| m)
    .unwrap_or_else(|| panic!("no final response to {method}"))
}

/// Registers alice with digest from `ua` (401 → REGISTER with Authorization → 200).
fn registered(s: &Setup, ua: &TestUa) {
    registered_as(s, ua, PRIVATE_CONTACT);
}

/// Registers `contact` for alice with digest from `ua`.
fn registered_as(s: &Setup, ua: &TestUa, contact_uri: &str) {
    ua.send(
        s.customer,
        &register_contact(ua, 1, "z9hG4bKreg1", contact_uri),
    );
    let challenge = status_of(ua, "REGISTER");
    assert_eq!(challenge.status(), Some(401), "{challenge:?}");
    let mut again = register_contact(ua, 2, "z9hG4bKreg2", contact_uri);
    again.push_header(
        HeaderName::Authorization,
        answer(
            &challenge,
            &HeaderName::WwwAuthenticate,
            "REGISTER",
            "sip:example.com",
            "wonderland",
        ),
    );
    ua.send(s.customer, &again);
    let ok = status_of(ua, "REGISTER");
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    // Every binding of alice is listed: this one among them, with its expiry.
    let contacts: Vec<String> = ok
        .headers_named(&HeaderName::Contact)
        .map(|h| h.value().to_owned())
        .collect();
    assert!(
        contacts
            .iter()
            .any(|c| c.contains(contact_uri) && c.contains("expires=")),
        "{contacts:?}"
    );
}

#[test]
fn registered_customer_receives_the_core_call_at_its_flow_with_media() {
    let core_ua = TestUa::new();
    let customer_ua = TestUa::new();
    let s = start(core_ua.addr(), "");
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 0.0);
    registered(&s, &customer_ua);
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 1.0);
    assert!(metric(s.admin, "sbc_auth_challenges_total") >= 1.0);

    // Core → SBC: INVITE for the registered address-of-record.
    let invite = core_invite(
        &core_ua,
        "sip:alice@example.com",
        "z9hG4bKcore1",
        "core-a",
        "reg-e2e-core-call",
    );
    core_ua.send(s.core, &invite);

    // SBC → customer: at the flow the REGISTER came from, Request-URI the registered Contact.
    let (c_invite, from) = customer_ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the registered customer's flow");
    assert_eq!(from, s.customer, "leg B leaves from the customer socket");
    assert_eq!(c_invite.uri(), Some(PRIVATE_CONTACT));
    let relay_c = sdp_audio_addr(c_invite.body()).expect("SDP offer to the customer");
    assert!((48000..=48999).contains(&relay_c.port()), "{relay_c}");

    // Customer answers; the core gets the 200.
    let to = format!("{};tag=cust-b", c_invite.header(&HeaderName::To).unwrap());
    let mut ok = Message::response_to(&c_invite, 200, "OK");
    ok.set_header(HeaderName::To, to);
    ok.push_header(HeaderName::Contact, format!("<{PRIVATE_CONTACT}>"));
    ok.set_body(
        Bytes::from(customer_ua.sdp("alice")),
        Some("application/sdp"),
    );
    customer_ua.send(from, &ok);
    let (core_ok, _) = core_ua
        .recv_until(WAIT, |m| {
            m.status() == Some(200) && m.cseq().is_some_and(|c| c.method == "INVITE")
        })
        .expect("200 at the core");
    let relay_k = sdp_audio_addr(core_ok.body()).expect("SDP answer to the core");

    // Core → SBC: ACK; SBC → customer: ACK at the flow.
    let mut ack = Message::request(Method::Ack, format!("sip:x@{}", s.core));
    ack.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKcore2;rport", core_ua.addr()),
    );
    ack.push_header(HeaderName::MaxForwards, "70");
    ack.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core-a");
    ack.push_header(
        HeaderName::To,
        core_ok.header(&HeaderName::To).unwrap().to_owned(),
    );
    ack.push_header(HeaderName::CallId, "reg-e2e-core-call");
    ack.push_header(HeaderName::CSeq, "1 ACK");
    ack.set_body(Bytes::new(), None);
    core_ua.send(s.core, &ack);
    customer_ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at the customer's flow");

    // RTP both ways through the relay.
    core_ua.send_rtp(relay_k, 0x0c0c_0c0c, 20);
    let (n, _) = customer_ua.count_rtp(0x0c0c_0c0c, 20, Duration::from_secs(3));
    assert!(n >= 15, "customer got {n} of 20 RTP packets");
    customer_ua.send_rtp(relay_c, 0x0d0d_0d0d, 20);
    let (n, _) = core_ua.count_rtp(0x0d0d_0d0d, 20, Duration::from_secs(3));
    assert!(n >= 15, "core got {n} of 20 RTP packets");
    drop(s.sbc);
}

/// A customer's response to `req` with To tag `tag`, Contact `contact` and `body` as SDP.
fn customer_response(
    req: &Message,
    code: u16,
    tag: &str,
    contact: &str,
    body: Option<String>,
) -> Message {
    let mut rsp = Message::response_to(req, code, "");
    if req.to().is_some_and(|t| t.tag().is_none()) {
        let to = format!("{};tag={tag}", req.header(&HeaderName::To).unwrap());
        rsp.set_header(HeaderName::To, to);
    }
    if (101..300).contains(&code) {
        rsp.push_header(HeaderName::Contact, format!("<{contact}>"));
    }
    match body {
        Some(b) => rsp.set_body(Bytes::from(b), Some("application/sdp")),
        None => rsp.set_body(Bytes::new(), None),
    }
    rsp
}

#[test]
fn a_core_call_rings_both_registered_contacts_and_the_first_answer_wins() {
    const DESK: &str = "sip:alice@10.99.0.5:5062";
    const MOBILE: &str = "sip:alice@10.99.0.6:5062";
    let core_ua = TestUa::new();
    let desk = TestUa::new();
    let mobile = TestUa::new();
    let s = start_with(
        core_ua.addr(),
        "",
        "mode = \"local\"\nauth_required = true\nfork_mode = \"parallel\"\n",
    );
    registered_as(&s, &desk, DESK);
    registered_as(&s, &mobile, MOBILE);
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 2.0);

    let invite = core_invite(
        &core_ua,
        "sip:alice@example.com",
        "z9hG4bKfork1",
        "core-f",
        "reg-e2e-fork-call",
    );
    core_ua.send(s.core, &invite);

    // Both contacts ring, each at its own flow, before either answers.
    let is_invite = |m: &Message| m.method() == Some(&Method::Invite);
    let (d_invite, d_from) = desk
        .recv_until(WAIT, is_invite)
        .expect("INVITE at the desk");
    let (m_invite, m_from) = mobile
        .recv_until(WAIT, is_invite)
        .expect("INVITE at the mobile too");
    assert_eq!((d_from, m_from), (s.customer, s.customer));
    assert_eq!(d_invite.uri(), Some(DESK));
    assert_eq!(m_invite.uri(), Some(MOBILE));
    assert_eq!(d_invite.call_id(), m_invite.call_id());
    let relay = sdp_audio_addr(d_invite.body()).expect("SDP offer to the desk");
    assert_eq!(
        sdp_audio_addr(m_invite.body()),
        Some(relay),
        "one anchor for both branches"
    );

    // The desk rings, the mobile answers: the core gets the 200, the desk a CANCEL.
    desk.send(
        d_from,
        &customer_response(&d_invite, 180, "desk", DESK, None),
    );
    core_ua
        .recv_until(WAIT, |m| m.status() == Some(180))
        .expect("180 at the core");
    let answer_sdp = Some(mobile.sdp("alice"));
    mobile.send(
        m_from,
        &customer_response(&m_invite, 200, "mobile", MOBILE, answer_sdp),
    );
    let (core_ok, _) = core_ua
        .recv_until(WAIT, |m| {
            m.status() == Some(200) && m.cseq().is_some_and(|c| c.method == "INVITE")
        })
        .expect("200 at the core");
    let (cancel, _) = desk
        .recv_until(WAIT, |m| m.method() == Some(&Method::Cancel))
        .expect("CANCEL at the desk");
    assert_eq!(
        cancel.header(&HeaderName::Via),
        d_invite.header(&HeaderName::Via)
    );
    desk.send(d_from, &customer_response(&cancel, 200, "desk", DESK, None));
    desk.send(
        d_from,
        &customer_response(&d_invite, 487, "desk", DESK, None),
    );
    desk.recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("the desk's 487 is ACKed");

    // The core's ACK reaches the mobile only.
    let mut ack = Message::request(Method::Ack, format!("sip:x@{}", s.core));
    ack.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKfork2;rport", core_ua.addr()),
    );
    ack.push_header(HeaderName::MaxForwards, "70");
    ack.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core-f");
    ack.push_header(
        HeaderName::To,
        core_ok.header(&HeaderName::To).unwrap().to_owned(),
    );
    ack.push_header(HeaderName::CallId, "reg-e2e-fork-call");
    ack.push_header(HeaderName::CSeq, "1 ACK");
    ack.set_body(Bytes::new(), None);
    core_ua.send(s.core, &ack);
    let (m_ack, _) = mobile
        .recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at the mobile");
    assert!(m_ack.to().and_then(|t| t.tag()) == Some("mobile"));
    assert!(
        desk.recv_until(Duration::from_millis(300), |m| m.method()
            == Some(&Method::Ack))
            .is_none(),
        "nothing more for the desk"
    );
    drop(s.sbc);
}

#[test]
fn call_to_an_unregistered_customer_gets_480() {
    let core_ua = TestUa::new();
    let s = start(core_ua.addr(), "");
    let invite = core_invite(
        &core_ua,
        "sip:alice@example.com",
        "z9hG4bKcore480",
        "core-x",
        "reg-e2e-480",
    );
    core_ua.send(s.core, &invite);
    let rsp = status_of(&core_ua, "INVITE");
    assert_eq!(rsp.status(), Some(480), "{rsp:?}");
}

#[test]
fn customer_invite_is_challenged_407_then_reaches_the_core() {
    let core_ua = TestUa::new();
    let ua = TestUa::new();
    let s = start(core_ua.addr(), "");
    let invite = |cseq: u32, branch: &str| {
        let mut m = Message::request(Method::Invite, "sip:bob@core.example");
        m.push_header(
            HeaderName::Via,
            format!("SIP/2.0/UDP {};branch={branch};rport", ua.addr()),
        );
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=inv-a");
        m.push_header(HeaderName::To, "<sip:bob@core.example>");
        m.push_header(HeaderName::CallId, "reg-e2e-407");
        m.push_header(HeaderName::CSeq, format!("{cseq} INVITE"));
        m.push_header(HeaderName::Contact, format!("<sip:alice@{}>", ua.addr()));
        m.set_body(Bytes::from(ua.sdp("alice")), Some("application/sdp"));
        m
    };
    ua.send(s.customer, &invite(1, "z9hG4bKinv1"));
    let challenge = status_of(&ua, "INVITE");
    assert_eq!(challenge.status(), Some(407), "{challenge:?}");
    assert!(
        core_ua.recv(Duration::from_millis(300)).is_none(),
        "nothing reaches the core before authentication"
    );
    let mut again = invite(2, "z9hG4bKinv2");
    again.push_header(
        HeaderName::ProxyAuthorization,
        answer(
            &challenge,
            &HeaderName::ProxyAuthenticate,
            "INVITE",
            "sip:bob@core.example",
            "wonderland",
        ),
    );
    ua.send(s.customer, &again);
    let (k_invite, from) = core_ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("authenticated INVITE at the core");
    assert_eq!(from, s.core);
    assert!(k_invite.header(&HeaderName::ProxyAuthorization).is_none());
    assert!(metric(s.admin, "sbc_auth_challenges_total") >= 1.0);
}

#[test]
fn wrong_password_fails_then_is_throttled() {
    let core_ua = TestUa::new();
    let ua = TestUa::new();
    let s = start(core_ua.addr(), "auth_fail_max = 3");
    ua.send(s.customer, &register(&ua, 1, "z9hG4bKbad1"));
    let challenge = status_of(&ua, "REGISTER");
    assert_eq!(challenge.status(), Some(401));
    let mut bad = register(&ua, 2, "z9hG4bKbad2");
    bad.push_header(
        HeaderName::Authorization,
        answer(
            &challenge,
            &HeaderName::WwwAuthenticate,
            "REGISTER",
            "sip:example.com",
            "not-the-password",
        ),
    );
    ua.send(s.customer, &bad);
    let refused = status_of(&ua, "REGISTER");
    assert_eq!(refused.status(), Some(401), "{refused:?}");
    // A second try at once falls in the back-off: 503 with Retry-After.
    let mut bad2 = register(&ua, 3, "z9hG4bKbad3");
    bad2.push_header(
        HeaderName::Authorization,
        answer(
            &refused,
            &HeaderName::WwwAuthenticate,
            "REGISTER",
            "sip:example.com",
            "not-the-password",
        ),
    );
    ua.send(s.customer, &bad2);
    let throttled = status_of(&ua, "REGISTER");
    assert_eq!(throttled.status(), Some(503), "{throttled:?}");
    assert!(throttled.header(&HeaderName::RetryAfter).is_some());
    assert!(metric(s.admin, "sbc_auth_failures_total") >= 1.0);
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 0.0);
}

#[test]
fn keepalives_reach_the_flow_and_unanswered_ones_remove_the_binding() {
    let core_ua = TestUa::new();
    let ua = TestUa::new();
    // One-second keepalives, two misses allowed.
    let s = start_with(
        core_ua.addr(),
        "",
        &format!("{LOCAL}keepalive_interval_s = 1\nkeepalive_failures = 2\n"),
    );
    registered(&s, &ua);
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 1.0);
    // The first OPTIONS ping arrives at the flow, for the registered Contact; it is answered.
    let (ping, from) = ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Options))
        .expect("OPTIONS keepalive at the customer's flow");
    assert_eq!(from, s.customer);
    assert_eq!(ping.uri(), Some(PRIVATE_CONTACT));
    ua.send(from, &Message::response_to(&ping, 200, "OK"));
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 1.0);
    // Then the customer goes silent: the binding is removed after two misses.
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while metric(s.admin, "sbc_registrations_active") != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "binding still held after unanswered keepalives"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn forward_mode_relays_to_the_core_registrar_absorbs_refreshes_and_routes_the_binding() {
    let core_ua = TestUa::new();
    let registrar = TestUa::new();
    let ua = TestUa::new();
    let realm = format!(
        "mode = \"forward\"\nauth_required = false\nregistrar = \"{}\"\nregistrar_interface = \"core\"\ncustomer_expires_s = 60\ncore_expires_s = 3600\n",
        registrar.addr()
    );
    let s = start_with(core_ua.addr(), "", &realm);

    ua.send(s.customer, &register(&ua, 1, "z9hG4bKfwd1"));
    let (fwd, from) = registrar
        .recv_until(WAIT, |m| m.method() == Some(&Method::Register))
        .expect("REGISTER at the core registrar");
    assert_eq!(from, s.core, "forwarded from the registrar interface");
    let raw = String::from_utf8_lossy(&fwd.to_bytes()).into_owned();
    assert!(!raw.contains("10.99.0.5"), "private address leaked:\n{raw}");
    let contact = fwd
        .header(&HeaderName::Contact)
        .expect("Contact")
        .to_owned();
    let binding = contact
        .trim_start_matches('<')
        .split(['>', ';'])
        .next()
        .unwrap()
        .to_owned();
    assert!(binding.ends_with(&s.core.to_string()), "{binding}");
    let mut ok = Message::response_to(&fwd, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!("{};tag=reg-core", fwd.header(&HeaderName::To).unwrap()),
    );
    ok.push_header(HeaderName::Contact, format!("<{binding}>;expires=3600"));
    registrar.send(from, &ok);
    let customer_ok = status_of(&ua, "REGISTER");
    assert_eq!(customer_ok.status(), Some(200), "{customer_ok:?}");
    assert!(customer_ok
        .header(&HeaderName::Contact)
        .is_some_and(|c| c.contains(PRIVATE_CONTACT)));
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 1.0);

    // A refresh is answered from the cache; the registrar sees nothing.
    ua.send(s.customer, &register(&ua, 2, "z9hG4bKfwd2"));
    assert_eq!(status_of(&ua, "REGISTER").status(), Some(200));
    assert!(registrar.recv(Duration::from_millis(300)).is_none());
    assert_eq!(
        metric(s.admin, "sbc_registration_refreshes_absorbed_total"),
        1.0
    );

    // The core calls the binding address: the customer gets it at its flow.
    let invite = core_invite(
        &core_ua,
        &binding,
        "z9hG4bKfwdinv",
        "core-f",
        "reg-e2e-fwd-call",
    );
    core_ua.send(s.core, &invite);
    let (c_invite, from) = ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE for the binding at the customer's flow");
    assert_eq!(from, s.customer);
    assert_eq!(c_invite.uri(), Some(PRIVATE_CONTACT));
}

/// A management API request; the status and the JSON body.
fn api(admin: SocketAddr, method: &str, path: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {TOKEN}");
    let rsp = http_request(admin, method, path, Some(&auth), None).expect("admin answers");
    let v = serde_json::from_str(&rsp.body).unwrap_or_else(|e| panic!("{e}: {}", rsp.body));
    (rsp.status, v)
}

#[test]
fn management_api_lists_and_removes_registrations() {
    let core_ua = TestUa::new();
    let ua = TestUa::new();
    let s = start(core_ua.addr(), "");
    let (status, v) = api(s.admin, "GET", "/api/v1/registrations");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["registrations"], serde_json::json!([]));
    registered(&s, &ua);
    let (status, v) = api(s.admin, "GET", "/api/v1/registrations");
    assert_eq!(status, 200, "{v}");
    let regs = v["registrations"].as_array().expect("array");
    assert_eq!(regs.len(), 1, "{v}");
    let r = &regs[0];
    assert_eq!(r["aor"], "sip:alice@example.com");
    assert_eq!(r["realm"], "example.com");
    assert_eq!(r["contact"], PRIVATE_CONTACT);
    assert_eq!(r["flow"]["transport"], "udp");
    assert_eq!(r["flow"]["source"], ua.addr().to_string());
    let expires = r["expires_s"].as_u64().expect("expires_s");
    assert!((1..=300).contains(&expires), "{r}");

    let (status, v) = api(
        s.admin,
        "DELETE",
        "/api/v1/registrations/sip%3Aalice%40example.com",
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["removed"], 1);
    let (_, v) = api(s.admin, "GET", "/api/v1/registrations");
    assert_eq!(v["registrations"], serde_json::json!([]));
    assert_eq!(metric(s.admin, "sbc_registrations_active"), 0.0);
    let (status, _) = api(
        s.admin,
        "DELETE",
        "/api/v1/registrations/sip%3Aalice%40example.com",
    );
    assert_eq!(status, 404);
}

#[test]
fn a_flood_of_registers_from_one_source_is_rate_limited() {
    let core_ua = TestUa::new();
    // Not 127.0.0.1: that is the core's address, a trusted peer the rate limit does not apply to.
    let ua = TestUa::bind(std::net::IpAddr::from([127, 0, 0, 2]));
    let s = start(core_ua.addr(), "source_rate_per_s = 1\nsource_burst = 3");
    // Ten REGISTERs at once: the burst is answered (401), the rest dropped silently (UDP).
    for i in 0..10u32 {
        ua.send(
            s.customer,
            &register(&ua, 10 + i, &format!("z9hG4bKflood{i}")),
        );
    }
    let mut answered = 0;
    while ua.recv(Duration::from_millis(500)).is_some() {
        answered += 1;
    }
    assert!((1..=4).contains(&answered), "{answered} of 10 answered");
    assert!(
        metric(s.admin, "sbc_rate_limited_requests_total") >= 6.0,
        "rate limit not counted"
    );
}

/// The core's INVITE with an SDP offer to `uri`, from carol (tag `tag`), To alice.
fn core_invite(core_ua: &TestUa, uri: &str, branch: &str, tag: &str, call_id: &str) -> Message {
    let mut m = Message::request(Method::Invite, uri.to_owned());
    m.push_header(HeaderName::Via, udp_via(core_ua.addr(), branch));
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(
        HeaderName::From,
        format!("<sip:carol@core.example>;tag={tag}"),
    );
    m.push_header(HeaderName::To, "<sip:alice@example.com>");
    m.push_header(HeaderName::CallId, call_id.to_owned());
    m.push_header(HeaderName::CSeq, "1 INVITE");
    m.push_header(
        HeaderName::Contact,
        format!("<sip:carol@{}>", core_ua.addr()),
    );
    m.set_body(Bytes::from(core_ua.sdp("carol")), Some("application/sdp"));
    m
}

/// A request from the core UA to alice's AOR, out of dialog.
fn from_core(core_ua: &TestUa, method: Method, branch: &str, call_id: &str) -> Message {
    let mut m = Message::request(method.clone(), "sip:alice@example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch={branch};rport", core_ua.addr()),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core-m");
    m.push_header(HeaderName::To, "<sip:alice@example.com>");
    m.push_header(HeaderName::CallId, call_id.to_owned());
    m.push_header(HeaderName::CSeq, format!("1 {method}"));
    m
}

#[test]
fn a_message_and_a_subscription_reach_the_registered_customer_at_its_flow() {
    let core_ua = TestUa::new();
    let s = start(core_ua.addr(), "");
    let alice = TestUa::new();
    registered(&s, &alice);

    // MESSAGE from the core to alice's AOR: delivered to the flow the REGISTER came from, with
    // its registered Contact as Request-URI, and her 200 goes back to the core.
    let mut message = from_core(&core_ua, Method::Message, "z9hG4bKcm1", "reg-e2e-message");
    message.set_body(Bytes::from_static(b"hello alice"), Some("text/plain"));
    core_ua.send(s.core, &message);
    let (at_alice, from) = alice
        .recv_until(WAIT, |m| m.method() == Some(&Method::Message))
        .expect("MESSAGE at the registered flow");
    assert_eq!(from, s.customer);
    assert_eq!(at_alice.uri(), Some(PRIVATE_CONTACT));
    assert_eq!(at_alice.body().as_ref(), b"hello alice");
    assert_ne!(
        at_alice.call_id(),
        Some("reg-e2e-message"),
        "Call-ID hidden"
    );
    let mut ok = Message::response_to(&at_alice, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!("{};tag=alice-m", at_alice.header(&HeaderName::To).unwrap()),
    );
    alice.send(from, &ok);
    assert_eq!(status_of(&core_ua, "MESSAGE").status(), Some(200));

    // SUBSCRIBE from the core to alice (presence): her 200 creates the subscription, and her
    // NOTIFY reaches the core in its dialog.
    let mut sub = from_core(&core_ua, Method::Subscribe, "z9hG4bKcs1", "reg-e2e-sub");
    sub.push_header(HeaderName::Event, "presence");
    sub.push_header(HeaderName::Expires, "300");
    sub.push_header(
        HeaderName::Contact,
        format!("<sip:carol@{}>", core_ua.addr()),
    );
    sub.set_body(Bytes::new(), None);
    core_ua.send(s.core, &sub);
    let (a_sub, from) = alice
        .recv_until(WAIT, |m| m.method() == Some(&Method::Subscribe))
        .expect("SUBSCRIBE at the registered flow");
    assert_eq!(from, s.customer);
    assert_eq!(a_sub.uri(), Some(PRIVATE_CONTACT));
    let mut ok = Message::response_to(&a_sub, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!("{};tag=alice-s", a_sub.header(&HeaderName::To).unwrap()),
    );
    ok.push_header(HeaderName::Contact, format!("<{PRIVATE_CONTACT}>"));
    ok.push_header(HeaderName::Expires, "300");
    alice.send(from, &ok);
    assert_eq!(status_of(&core_ua, "SUBSCRIBE").status(), Some(200));
    let sbc_contact = a_sub
        .contacts()
        .next()
        .and_then(Result::ok)
        .map(|c| match c {
            sbc_common::sip::Contact::Addr(a) => a.uri.to_owned(),
            sbc_common::sip::Contact::Star => String::new(),
        })
        .expect("the SBC's Contact in the SUBSCRIBE");
    let mut notify = Message::request(Method::Notify, sbc_contact);
    notify.push_header(
        HeaderName::Via,
        "SIP/2.0/UDP 10.99.0.5:5062;branch=z9hG4bKan1;rport".to_owned(),
    );
    notify.push_header(HeaderName::MaxForwards, "70");
    notify.push_header(
        HeaderName::From,
        format!("{};tag=alice-s", a_sub.header(&HeaderName::To).unwrap()),
    );
    notify.push_header(
        HeaderName::To,
        a_sub.header(&HeaderName::From).unwrap().to_owned(),
    );
    notify.push_header(HeaderName::CallId, a_sub.call_id().unwrap().to_owned());
    notify.push_header(HeaderName::CSeq, "1 NOTIFY");
    notify.push_header(HeaderName::Contact, format!("<{PRIVATE_CONTACT}>"));
    notify.push_header(HeaderName::Event, "presence");
    notify.push_header(HeaderName::SubscriptionState, "active;expires=300");
    notify.set_body(
        Bytes::from_static(b"<presence/>"),
        Some("application/pidf+xml"),
    );
    alice.send(s.customer, &notify);
    let (at_core, from) = core_ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Notify))
        .expect("NOTIFY at the core");
    assert_eq!(from, s.core);
    assert_eq!(at_core.call_id(), Some("reg-e2e-sub"));
    assert_eq!(at_core.body().as_ref(), b"<presence/>");
    assert!(!String::from_utf8_lossy(&at_core.to_bytes()).contains("10.99.0.5"));
    core_ua.send(from, &Message::response_to(&at_core, 200, "OK"));
    assert_eq!(status_of(&alice, "NOTIFY").status(), Some(200));
}

#[test]
fn a_customer_request_outside_every_realm_from_an_untrusted_source_is_refused() {
    let core_ua = TestUa::new();
    let s = start(core_ua.addr(), "");
    let mallory = TestUa::new();
    // A foreign From domain must not skip the realm's authentication (toll fraud): the route
    // trusts no source address, so the SBC refuses it and nothing reaches the core.
    let mut invite = Message::request(Method::Invite, "sip:carol@core.example");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKforeign;rport", mallory.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:mallory@evil.example>;tag=m1");
    invite.push_header(HeaderName::To, "<sip:carol@core.example>");
    invite.push_header(HeaderName::CallId, "reg-e2e-foreign");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(
        HeaderName::Contact,
        format!("<sip:mallory@{}>", mallory.addr()),
    );
    invite.set_body(Bytes::from(mallory.sdp("mallory")), Some("application/sdp"));
    mallory.send(s.customer, &invite);
    let rsp = status_of(&mallory, "INVITE");
    assert_eq!(rsp.status(), Some(403), "{rsp:?}");
    assert!(
        core_ua
            .recv_until(Duration::from_millis(500), |m| m.method().is_some())
            .is_none(),
        "nothing may reach the core"
    );
}
