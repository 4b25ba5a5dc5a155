//! Requests outside calls (`engine/nondialog.rs`): out-of-dialog MESSAGE and PUBLISH relayed
//! with topology hiding (RFC 3428, RFC 3903), SUBSCRIBE/NOTIFY subscriptions with a dialog on
//! each leg (RFC 6665), and leg A's peer following its NAT mapping (RFC 3581).

use super::*;

/// An out-of-dialog request from phone A, with the leak markers the SBC must strip.
fn ood_a(method: Method, branch: &str, call_id: &str) -> Message {
    let mut m = Message::request(method.clone(), "sip:bob@203.0.113.1:5060");
    for (n, v) in [
        (
            "Via",
            format!("SIP/2.0/UDP 198.51.100.10:5060;branch={branch}"),
        ),
        ("Max-Forwards", "70".to_owned()),
        (
            "From",
            "\"Alice\" <sip:alice@a.example.com>;tag=atag".to_owned(),
        ),
        ("To", "<sip:bob@b.example.com>".to_owned()),
        ("Call-ID", call_id.to_owned()),
        ("CSeq", format!("1 {method}")),
        ("Contact", "<sip:alice@198.51.100.10:5060>".to_owned()),
        ("Record-Route", "<sip:proxy.a.example.com;lr>".to_owned()),
        ("User-Agent", "PhoneA/1.0".to_owned()),
        ("X-Secret", "internal".to_owned()),
    ] {
        m.push_header(HeaderName::from_name(n), v);
    }
    m
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.to_bytes()).into_owned()
}

/// Asserts leg B's copy of `a` shows nothing of leg A's topology (RFC 5853 §3.1).
fn assert_hides_a(b: &Message, a: &Message) {
    let t = text(b);
    for leak in [
        "198.51.100.10",
        "a.example.com",
        "X-Secret",
        "atag",
        "z9hG4bKm",
    ] {
        assert!(!t.contains(leak), "{leak} leaked to B: {t}");
    }
    assert_ne!(b.call_id(), a.call_id());
    assert_eq!(b.headers_named(&HeaderName::Via).count(), 1);
    assert!(b.header(&HeaderName::Via).unwrap().contains(SBC_B));
}

/// Asserts A's answer shows nothing of leg B (RFC 5853 §3.1).
fn assert_hides_b(rsp: &Message) {
    let t = text(rsp);
    for leak in ["10.0.0.20", "btag"] {
        assert!(!t.contains(leak), "{leak} leaked to A: {t}");
    }
}

#[test]
fn out_of_dialog_message_crosses_with_topology_hidden_and_its_200_comes_back() {
    let mut net = Net::new();
    let mut msg = ood_a(Method::Message, "z9hG4bKm1", "msg-1@a.example.com");
    msg.set_body(bytes::Bytes::from_static(b"hello"), Some("text/plain"));
    net.send_a(msg.clone());
    let b = net.one_b();
    assert_eq!(b.method(), Some(&Method::Message));
    assert_eq!(b.uri(), Some("sip:bob@10.0.0.20:5060"));
    assert_hides_a(&b, &msg);
    assert_eq!(b.header(&HeaderName::Contact), None);
    assert_eq!(b.header(&HeaderName::RecordRoute), None);
    assert_eq!(b.header(&HeaderName::UserAgent), Some("PhoneA/1.0"));
    assert_eq!(b.content_type(), Some("text/plain"));
    assert_eq!(b.body().as_ref(), b"hello");
    assert_eq!(b.max_forwards(), Some(69));
    assert_eq!(b.cseq().unwrap().method, "MESSAGE");
    net.send_b(reply_b(&b, 200, None));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.call_id(), Some("msg-1@a.example.com"));
    assert_eq!(ok.cseq().unwrap().method, "MESSAGE");
    assert!(
        ok.to().unwrap().tag().is_some(),
        "out-of-dialog answer gets a To tag"
    );
    assert_eq!(ok.via().unwrap().branch(), Some("z9hG4bKm1"));
    assert_eq!(ok.header(&HeaderName::Server), Some("PhoneB/2.0"));
    assert_eq!(ok.header(&HeaderName::Contact), None);
    assert_hides_b(&ok);
    assert_eq!((net.sbc.call_count(), net.sbc.dialog_count()), (0, 0));
}

#[test]
fn message_from_b_side_refused_with_its_code() {
    let mut net = Net::new();
    net.send_a(ood_a(Method::Message, "z9hG4bKm2", "msg-2@a.example.com"));
    let b = net.one_b();
    net.send_b(reply_b(&b, 486, None));
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(486));
    assert!(rsp.to().unwrap().tag().is_some());
    assert_hides_b(&rsp);
}

/// A router with no route for anything.
struct NoRoute;

impl Router for NoRoute {
    fn route(&mut self, _: &Message, _: Dest) -> Result<Route, Rejection> {
        Err(Rejection {
            code: 404,
            reason: "Not Found",
        })
    }

    fn targets(&mut self, _: &Message, _: Dest) -> Result<Vec<Target>, Rejection> {
        Ok(Vec::new())
    }
}

#[test]
fn message_without_a_route_gets_404_and_nothing_leaves() {
    let mut net = Net::with_router(CallConfig::default(), NoRoute);
    net.send_a(ood_a(Method::Message, "z9hG4bKm3", "msg-3@a.example.com"));
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(404));
    assert!(rsp.to().unwrap().tag().is_some());
    assert!(net.b().is_empty());
}

#[test]
fn message_that_b_never_answers_gets_408() {
    let mut net = Net::new();
    net.send_a(ood_a(Method::Message, "z9hG4bKm4", "msg-4@a.example.com"));
    let first = net.one_b();
    // Timer F (64*T1): retransmissions to B on the way, then 408 to A.
    net.advance(33_000);
    let again = net.b();
    assert!(!again.is_empty(), "leg B's MESSAGE is retransmitted");
    assert!(again.iter().all(|m| m.call_id() == first.call_id()));
    let v = net.a();
    let rsp = v.last().expect("an answer to A");
    assert_eq!(
        (rsp.status(), rsp.cseq().unwrap().method),
        (Some(408), "MESSAGE")
    );
    assert!(rsp.to().unwrap().tag().is_some());
}

#[test]
fn publish_crosses_event_expires_and_sip_if_match_and_the_etag_comes_back() {
    let mut net = Net::new();
    let mut publish = ood_a(Method::Publish, "z9hG4bKp1", "pub-1@a.example.com");
    publish.push_header(HeaderName::Event, "presence");
    publish.push_header(HeaderName::Expires, "3600");
    publish.push_header(HeaderName::SipIfMatch, "etag-old");
    publish.set_body(
        bytes::Bytes::from_static(b"<presence/>"),
        Some("application/pidf+xml"),
    );
    net.send_a(publish.clone());
    let b = net.one_b();
    assert_eq!(b.method(), Some(&Method::Publish));
    assert_hides_a(&b, &publish);
    assert_eq!(b.header(&HeaderName::Event), Some("presence"));
    assert_eq!(b.header(&HeaderName::Expires), Some("3600"));
    assert_eq!(b.header(&HeaderName::SipIfMatch), Some("etag-old"));
    assert_eq!(b.content_type(), Some("application/pidf+xml"));
    assert_eq!(b.body().as_ref(), b"<presence/>");
    let mut ok = reply_b(&b, 200, None);
    ok.push_header(HeaderName::SipETag, "etag-new");
    ok.push_header(HeaderName::Expires, "1800");
    net.send_b(ok);
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(200));
    assert_eq!(rsp.header(&HeaderName::SipETag), Some("etag-new"));
    assert_eq!(rsp.header(&HeaderName::Expires), Some("1800"));
    assert_hides_b(&rsp);

    // A too-short expiry: 423 with Min-Expires crosses back (RFC 3903 §6 step 4).
    let mut short = ood_a(Method::Publish, "z9hG4bKp2", "pub-2@a.example.com");
    short.push_header(HeaderName::Event, "presence");
    short.push_header(HeaderName::Expires, "1");
    net.send_a(short);
    let b = net.one_b();
    let mut too_brief = reply_b(&b, 423, None);
    too_brief.push_header(HeaderName::MinExpires, "60");
    net.send_b(too_brief);
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(423));
    assert_eq!(rsp.header(&HeaderName::MinExpires), Some("60"));
}

#[test]
fn publish_or_subscribe_without_event_is_refused_with_400() {
    let mut net = Net::new();
    net.send_a(ood_a(Method::Publish, "z9hG4bKp3", "pub-3@a.example.com"));
    assert_eq!(net.one_a().status(), Some(400));
    net.send_a(ood_a(Method::Subscribe, "z9hG4bKs0", "sub-0@a.example.com"));
    assert_eq!(net.one_a().status(), Some(400));
    assert!(net.b().is_empty());
}

/// A SUBSCRIBE from A to presence, relayed and answered 200; returns (B's SUBSCRIBE, A's 200).
fn subscribed(net: &mut Net) -> (Message, Message) {
    let mut sub = ood_a(Method::Subscribe, "z9hG4bKs1", "sub-1@a.example.com");
    sub.push_header(HeaderName::Event, "presence");
    sub.push_header(HeaderName::Expires, "600");
    sub.push_header(HeaderName::Accept, "application/pidf+xml");
    net.send_a(sub.clone());
    let b_sub = net.one_b();
    assert_eq!(b_sub.method(), Some(&Method::Subscribe));
    assert_hides_a(&b_sub, &sub);
    assert_eq!(
        b_sub.header(&HeaderName::Contact),
        Some("<sip:10.0.0.1:5060>")
    );
    assert_eq!(b_sub.header(&HeaderName::Event), Some("presence"));
    assert_eq!(b_sub.header(&HeaderName::Expires), Some("600"));
    assert_eq!(
        b_sub.header(&HeaderName::Accept),
        Some("application/pidf+xml")
    );
    let mut ok = reply_b(&b_sub, 200, None);
    ok.push_header(HeaderName::Expires, "300");
    net.send_b(ok);
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    assert_eq!(
        a_ok.header(&HeaderName::Contact),
        Some("<sip:203.0.113.1:5060>")
    );
    assert_eq!(a_ok.header(&HeaderName::Expires), Some("300"));
    assert!(a_ok.to().unwrap().tag().is_some());
    assert_hides_b(&a_ok);
    assert_eq!(net.sbc.subscription_count(), 1);
    assert_eq!(net.sbc.dialog_count(), 2, "a dialog on each leg");
    assert_eq!(net.sbc.call_count(), 0);
    (b_sub, a_ok)
}

/// A NOTIFY from phone B in the subscription `b_sub` created.
fn notify_b(b_sub: &Message, cseq: u32, branch: &str, state: &str) -> Message {
    let mut n = from_b(Method::Notify, b_sub, cseq, branch, None);
    n.push_header(HeaderName::Contact, "<sip:bob@10.0.0.20:5060>");
    n.push_header(HeaderName::Event, "presence");
    n.push_header(HeaderName::SubscriptionState, state.to_owned());
    n.set_body(
        bytes::Bytes::from_static(b"<presence>open</presence>"),
        Some("application/pidf+xml"),
    );
    n
}

#[test]
fn subscribe_notify_refresh_and_terminating_notify_cross_and_both_dialogs_end() {
    let mut net = Net::new();
    let (b_sub, a_ok) = subscribed(&mut net);

    // NOTIFY from B reaches A in A's dialog: A's Call-ID, A's tag as To tag, A's Contact.
    net.send_b(notify_b(&b_sub, 1, "z9hG4bKn1", "active;expires=300"));
    let a_notify = net.one_a();
    assert_eq!(a_notify.method(), Some(&Method::Notify));
    assert_eq!(a_notify.uri(), Some("sip:alice@198.51.100.10:5060"));
    assert_eq!(a_notify.call_id(), Some("sub-1@a.example.com"));
    assert_eq!(a_notify.to().unwrap().tag(), Some("atag"));
    assert_eq!(a_notify.from().unwrap().tag(), a_ok.to().unwrap().tag());
    assert_eq!(
        a_notify.header(&HeaderName::SubscriptionState),
        Some("active;expires=300")
    );
    assert_eq!(a_notify.header(&HeaderName::Event), Some("presence"));
    assert_eq!(a_notify.content_type(), Some("application/pidf+xml"));
    assert_eq!(a_notify.body().as_ref(), b"<presence>open</presence>");
    assert_eq!(
        a_notify.header(&HeaderName::Route),
        Some("<sip:proxy.a.example.com;lr>"),
        "A's dialog keeps A's route set"
    );
    assert_hides_b(&a_notify);
    net.send_a(reply_a(&a_notify, 200, None));
    let b_ok = net.one_b();
    assert_eq!(
        (b_ok.status(), b_ok.cseq().unwrap().method),
        (Some(200), "NOTIFY")
    );
    assert_eq!(b_ok.call_id(), b_sub.call_id());

    // A refreshes, then unsubscribes (Expires: 0); both cross in B's dialog.
    for (cseq, expires, branch) in [(2, "600", "z9hG4bKs2"), (3, "0", "z9hG4bKs3")] {
        let mut re = from_a(Method::Subscribe, &a_ok, cseq, branch, None);
        re.push_header(HeaderName::Contact, "<sip:alice@198.51.100.10:5060>");
        re.push_header(HeaderName::Event, "presence");
        re.push_header(HeaderName::Expires, expires);
        net.send_a(re);
        let b_re = net.one_b();
        assert_eq!(b_re.method(), Some(&Method::Subscribe));
        assert_eq!(b_re.call_id(), b_sub.call_id());
        assert_eq!(b_re.to().unwrap().tag(), Some("btag"));
        assert_eq!(b_re.header(&HeaderName::Expires), Some(expires));
        assert!(!text(&b_re).contains("198.51.100.10"));
        let mut ok = reply_b(&b_re, 200, None);
        ok.push_header(HeaderName::Expires, expires);
        net.send_b(ok);
        let a_re_ok = net.one_a();
        assert_eq!(a_re_ok.status(), Some(200));
        assert_eq!(
            a_re_ok.header(&HeaderName::Contact),
            Some("<sip:203.0.113.1:5060>")
        );
        assert_eq!(a_re_ok.header(&HeaderName::Expires), Some(expires));
        assert_eq!(net.sbc.subscription_count(), 1);
    }

    // The terminating NOTIFY ends the subscription once A answered it.
    net.send_b(notify_b(
        &b_sub,
        2,
        "z9hG4bKn2",
        "terminated;reason=timeout",
    ));
    let last = net.one_a();
    assert_eq!(
        last.header(&HeaderName::SubscriptionState),
        Some("terminated;reason=timeout")
    );
    assert_eq!(net.sbc.subscription_count(), 1, "not before A answers");
    net.send_a(reply_a(&last, 200, None));
    assert_eq!(net.one_b().status(), Some(200));
    assert_eq!(net.sbc.subscription_count(), 0);
    assert_eq!(net.sbc.dialog_count(), 0, "both dialogs are gone");
    // A late NOTIFY finds no dialog.
    net.send_b(notify_b(&b_sub, 3, "z9hG4bKn3", "active"));
    assert_eq!(net.one_b().status(), Some(481));
    assert!(net.a().is_empty());
}

#[test]
fn refused_subscribe_is_relayed_and_leaves_nothing_behind() {
    let mut net = Net::new();
    let mut sub = ood_a(Method::Subscribe, "z9hG4bKs5", "sub-5@a.example.com");
    sub.push_header(HeaderName::Event, "dialog");
    net.send_a(sub);
    let b_sub = net.one_b();
    let mut bad = reply_b(&b_sub, 489, None);
    bad.push_header(HeaderName::AllowEvents, "presence");
    net.send_b(bad);
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(489));
    assert_eq!(rsp.header(&HeaderName::AllowEvents), Some("presence"));
    assert!(rsp.to().unwrap().tag().is_some());
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (0, 0)
    );
}

#[test]
fn a_subscription_nobody_refreshes_is_forgotten_after_its_expiry() {
    let mut net = Net::new();
    let _ = subscribed(&mut net);
    // Granted 300 s; the grace is 32 s.
    net.advance(300_000);
    net.a();
    net.b();
    assert_eq!(net.sbc.subscription_count(), 1);
    net.advance(33_000);
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (0, 0)
    );
}

#[test]
fn a_notify_that_a_never_answers_gets_408_and_ends_the_subscription() {
    let mut net = Net::new();
    let (b_sub, _) = subscribed(&mut net);
    net.send_b(notify_b(&b_sub, 1, "z9hG4bKn4", "active"));
    assert_eq!(net.one_a().method(), Some(&Method::Notify));
    net.advance(33_000);
    net.a();
    let v = net.b();
    let rsp = v.last().expect("an answer to B");
    assert_eq!(
        (rsp.status(), rsp.cseq().unwrap().method),
        (Some(408), "NOTIFY")
    );
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (0, 0)
    );
}

/// Phone A's address after its NAT picked a new mapping.
const PHONE_A_REBOUND: &str = "198.51.100.10:40123";

#[test]
fn leg_a_peer_follows_the_source_of_its_latest_in_dialog_request() {
    let mut net = Net::new();
    net.elsewhere.push(dest(PHONE_A_REBOUND));
    let call = answered_call(&mut net);
    // A's NAT rebinds: its INFO arrives from a new port.
    net.feed(
        from_a(Method::Info, &call.a_ok, 2, "z9hG4bKr1", None),
        PHONE_A_REBOUND,
    );
    let info = net.one_b();
    net.send_b(reply_b(&info, 200, None));
    net.a();
    net.to_elsewhere.clear();
    // B hangs up: the BYE to A goes to A's new mapping, not the INVITE's source.
    net.send_b(from_b(Method::Bye, &call.b_invite, 2, "z9hG4bKbye", None));
    assert_eq!(net.one_b().status(), Some(200));
    assert!(net.a().is_empty(), "nothing to the stale mapping");
    let sent = std::mem::take(&mut net.to_elsewhere);
    let [(to, bye)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(*to, dest(PHONE_A_REBOUND));
    assert_eq!(bye.method(), Some(&Method::Bye));
}

#[test]
fn leg_a_peer_follows_the_source_of_an_ack() {
    let mut net = Net::new();
    net.elsewhere.push(dest(PHONE_A_REBOUND));
    let call = answered_call(&mut net);
    // A re-INVITE from A, answered by B; A's ACK for the 2xx comes from a new mapping.
    let reinvite = from_a(
        Method::Invite,
        &call.a_ok,
        2,
        "z9hG4bKr3",
        Some(&sdp_a(2, "sendonly")),
    );
    net.send_a(reinvite);
    let _ = net.a();
    let b_re = net.one_b();
    net.send_b(reply_b(&b_re, 200, Some(&sdp_b(2, "recvonly"))));
    let a_ok2 = net.one_a();
    assert_eq!(a_ok2.status(), Some(200));
    net.feed(
        from_a(Method::Ack, &call.a_ok, 2, "z9hG4bKr4", None),
        PHONE_A_REBOUND,
    );
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert!(net.to_elsewhere.is_empty());
    net.send_b(from_b(Method::Bye, &call.b_invite, 2, "z9hG4bKbye2", None));
    assert_eq!(net.one_b().status(), Some(200));
    assert!(net.a().is_empty(), "nothing to the stale mapping");
    let sent = std::mem::take(&mut net.to_elsewhere);
    let [(to, bye)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(*to, dest(PHONE_A_REBOUND));
    assert_eq!(bye.method(), Some(&Method::Bye));
}

#[test]
fn a_notify_overtaking_the_subscribe_2xx_creates_the_dialogs_and_is_relayed() {
    let mut net = Net::new();
    let mut sub = ood_a(Method::Subscribe, "z9hG4bKs6", "sub-6@a.example.com");
    sub.push_header(HeaderName::Event, "message-summary");
    sub.push_header(HeaderName::Expires, "600");
    net.send_a(sub);
    let b_sub = net.one_b();
    // B's NOTIFY arrives before its 200 (RFC 6665 §4.1.2.4).
    let mut early = notify_b(&b_sub, 1, "z9hG4bKn6", "active;expires=600");
    early.set_header(HeaderName::Event, "message-summary");
    net.send_b(early);
    let a_notify = net.one_a();
    assert_eq!(a_notify.method(), Some(&Method::Notify));
    assert_eq!(a_notify.call_id(), Some("sub-6@a.example.com"));
    assert_eq!(a_notify.to().unwrap().tag(), Some("atag"));
    assert_eq!(a_notify.header(&HeaderName::Event), Some("message-summary"));
    assert_hides_b(&a_notify);
    assert_eq!(net.sbc.dialog_count(), 2);
    net.send_a(reply_a(&a_notify, 200, None));
    assert_eq!(net.one_b().status(), Some(200));
    // The 200 then reaches A in the same dialog the NOTIFY used.
    net.send_b(reply_b(&b_sub, 200, None));
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    assert_eq!(a_ok.to().unwrap().tag(), a_notify.from().unwrap().tag());
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (1, 2)
    );
    // And the subscription goes on: a second NOTIFY crosses in the same dialogs.
    net.send_b(notify_b(&b_sub, 2, "z9hG4bKn7", "terminated"));
    let last = net.one_a();
    assert_eq!(last.call_id(), Some("sub-6@a.example.com"));
    assert_eq!(last.cseq().unwrap().seq, a_notify.cseq().unwrap().seq + 1);
    net.send_a(reply_a(&last, 200, None));
    assert_eq!(net.one_b().status(), Some(200));
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (0, 0)
    );
}

#[test]
fn our_own_leg_b_message_coming_back_is_a_loop() {
    let mut net = Net::new();
    net.send_a(ood_a(Method::Message, "z9hG4bKm9", "msg-9@a.example.com"));
    let b = net.one_b();
    // The next hop routes it straight back to the SBC's customer side.
    net.send_a(b.clone());
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(482));
    assert_eq!(rsp.call_id(), b.call_id());
    assert!(net.b().is_empty());
    // Once answered, the Call-ID is forgotten.
    net.send_b(reply_b(&b, 200, None));
    assert_eq!(net.one_a().status(), Some(200));
}

/// Two targets: phone B, failing over on 503 and 408, then phone C.
struct TwoTargets;

impl Router for TwoTargets {
    fn route(&mut self, m: &Message, d: Dest) -> Result<Route, Rejection> {
        route(m, d)
    }

    fn targets(&mut self, m: &Message, d: Dest) -> Result<Vec<Target>, Rejection> {
        let first = route(m, d)?;
        let mut second = first.clone();
        second.next_hop = dest(PHONE_C);
        Ok(vec![
            Target {
                failover_on: vec![503, 408],
                ..Target::new(first)
            },
            Target::new(second),
        ])
    }
}

#[test]
fn out_of_dialog_requests_fail_over_to_the_next_target() {
    let mut net = Net::with_router(CallConfig::default(), TwoTargets);
    // MESSAGE: B answers 503, C gets a fresh copy and its 200 reaches A.
    net.send_a(ood_a(Method::Message, "z9hG4bKf1", "fo-1@a.example.com"));
    let b = net.one_b();
    net.send_b(reply_b(&b, 503, None));
    assert!(net.a().is_empty(), "no answer to A while a target is left");
    let c = std::mem::take(&mut net.to_c);
    let [c] = c.as_slice() else { panic!("{c:?}") };
    assert_eq!(c.method(), Some(&Method::Message));
    assert_eq!(c.uri(), Some("sip:bob@10.0.0.30:5060"));
    assert_ne!(c.call_id(), b.call_id());
    let ok = reply_b(c, 200, None);
    net.feed(ok, PHONE_C);
    assert_eq!(net.one_a().status(), Some(200));

    // SUBSCRIBE: B never answers (408), the subscription is made with C instead.
    let mut sub = ood_a(Method::Subscribe, "z9hG4bKf2", "fo-2@a.example.com");
    sub.push_header(HeaderName::Event, "presence");
    net.send_a(sub);
    let _ = net.one_b();
    net.advance(33_000);
    net.b();
    assert!(net.a().is_empty());
    let c = std::mem::take(&mut net.to_c);
    let c_sub = c.first().expect("SUBSCRIBE at C").clone();
    assert_eq!(c_sub.method(), Some(&Method::Subscribe));
    net.feed(reply_b(&c_sub, 200, None), PHONE_C);
    assert_eq!(net.one_a().status(), Some(200));
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (1, 2)
    );
    // C's NOTIFY reaches A; A's answer goes back to C, not B.
    net.feed(notify_b(&c_sub, 1, "z9hG4bKf3", "active"), PHONE_C);
    let n = net.one_a();
    assert_eq!(n.call_id(), Some("fo-2@a.example.com"));
    net.send_a(reply_a(&n, 200, None));
    let c = std::mem::take(&mut net.to_c);
    assert_eq!(c.last().and_then(Message::status), Some(200));
    assert!(net.b().is_empty());
}

#[test]
fn a_notify_refused_with_500_is_relayed_and_the_subscription_stays() {
    let mut net = Net::new();
    let (b_sub, _) = subscribed(&mut net);
    net.send_b(notify_b(&b_sub, 1, "z9hG4bKn8", "active"));
    let n = net.one_a();
    net.send_a(reply_a(&n, 500, None));
    assert_eq!(net.one_b().status(), Some(500));
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (1, 2)
    );
    // A 481 from A does end it, both dialogs with it.
    net.send_b(notify_b(&b_sub, 2, "z9hG4bKn9", "active"));
    let n = net.one_a();
    net.send_a(reply_a(&n, 481, None));
    assert_eq!(net.one_b().status(), Some(481));
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (0, 0)
    );
}

#[test]
fn a_subscribe_2xx_without_a_to_tag_gets_a_502_to_a() {
    let mut net = Net::new();
    let mut sub = ood_a(Method::Subscribe, "z9hG4bKs7", "sub-7@a.example.com");
    sub.push_header(HeaderName::Event, "presence");
    net.send_a(sub);
    let b_sub = net.one_b();
    let mut untagged = Message::response_to(&b_sub, 200, "OK");
    untagged.push_header(HeaderName::Contact, "<sip:bob@10.0.0.20:5060>");
    untagged.push_header(HeaderName::Expires, "600");
    net.send_b(untagged);
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(502));
    assert_eq!(rsp.header(&HeaderName::Expires), None);
    assert!(rsp.to().unwrap().tag().is_some());
    assert_eq!(
        (net.sbc.subscription_count(), net.sbc.dialog_count()),
        (0, 0)
    );
}

#[test]
fn other_methods_in_a_subscription_get_405_with_allow() {
    let mut net = Net::new();
    let (_, a_ok) = subscribed(&mut net);
    net.send_a(from_a(Method::Info, &a_ok, 2, "z9hG4bKs8", None));
    let rsp = net.one_a();
    assert_eq!(rsp.status(), Some(405));
    assert_eq!(rsp.header(&HeaderName::Allow), Some("SUBSCRIBE, NOTIFY"));
    assert!(net.b().is_empty());
    assert_eq!(net.sbc.subscription_count(), 1);
}
