//! Whole calls through the B2BUA: answer and BYE from either side, busy, CANCEL, refusals (483,
//! 503, SIPS over plain routes, loops), stray requests, media and duration timeouts, delayed
//! offer, redirects, a second fork's 2xx, and the leg-B request that hides leg A.

use super::*;

#[test]
fn leg_b_invite_is_fresh_and_hides_leg_a() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    let _trying = net.one_a();
    let b = net.one_b();
    assert_eq!(b.uri(), Some("sip:bob@10.0.0.20:5060"));
    assert_ne!(b.call_id(), Some("a-call-1@a.example.com"));
    assert_ne!(b.from().unwrap().tag(), Some("atag"));
    assert!(b.from().unwrap().tag().is_some());
    assert_eq!(b.to().unwrap().tag(), None);
    assert_eq!(b.values(&HeaderName::Via).count(), 1);
    assert!(b
        .header(&HeaderName::Via)
        .unwrap()
        .starts_with("SIP/2.0/UDP 10.0.0.1:5060;"));
    assert_ne!(top_branch(&b), "z9hG4bKa1");
    assert!(top_branch(&b).starts_with("z9hG4bK"));
    assert_eq!(b.header(&HeaderName::Contact), Some("<sip:10.0.0.1:5060>"));
    assert!(!b.has(&HeaderName::RecordRoute) && !b.has(&HeaderName::Route));
    assert!(!b.has(&HeaderName::from_name("X-Secret")));
    assert_eq!(b.header(&HeaderName::UserAgent), Some("PhoneA/1.0"));
    assert_eq!(b.max_forwards(), Some(69));
    assert_eq!(b.cseq().unwrap().method, "INVITE");
    assert_eq!(
        b.header(&HeaderName::From),
        Some(
            format!(
                "\"Alice\" <sip:alice@10.0.0.1>;tag={}",
                b.from().unwrap().tag().unwrap()
            )
            .as_str()
        )
    );
    let text = String::from_utf8(b.to_bytes().to_vec()).unwrap();
    for leak in [
        "198.51.100.10",
        "a.example.com",
        "atag",
        "z9hG4bKa1",
        "proxy",
    ] {
        assert!(!text.contains(leak), "{leak} leaked into leg B: {text}");
    }
    // SDP points at the relay's B side: c=, m= port (the fake gave A 20000, B 20002), o=.
    assert_eq!(
        media_of(&b),
        (
            "10.0.0.1".into(),
            20002,
            "sendrecv".into(),
            Some(1),
            "10.0.0.1".into()
        )
    );
    // A second call gets other ids: the generator moves on.
    let mut second = invite_a(70);
    second.set_header(HeaderName::CallId, "a-call-2");
    second.set_header(
        HeaderName::Via,
        "SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKz",
    );
    net.send_a(second);
    let b2 = net.one_b();
    assert_ne!(b2.call_id(), b.call_id());
    assert_ne!(b2.from().unwrap().tag(), b.from().unwrap().tag());
    assert_ne!(top_branch(&b2), top_branch(&b));
}

#[test]
fn successful_call_then_bye_from_a() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.send_a(from_a(Method::Bye, &call.a_ok, 2, "z9hG4bKa3", None));
    let ok = net.one_a();
    assert_eq!((ok.status(), ok.cseq().unwrap().method), (Some(200), "BYE"));
    let bye = net.one_b();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.call_id(), call.b_invite.call_id());
    assert_eq!(bye.to().unwrap().tag(), Some("btag"));
    assert!(bye.cseq().unwrap().seq > call.b_invite.cseq().unwrap().seq);
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Bye(Leg::A),
            code: 200,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    net.send_b(reply_b(&bye, 200, None));
    assert!(net.a().is_empty() && net.b().is_empty());
    // Nothing is retransmitted afterwards.
    net.advance(40_000);
    assert!(net.a().is_empty() && net.b().is_empty());
}

#[test]
fn successful_call_then_bye_from_b() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.send_b(from_b(Method::Bye, &call.b_invite, 1, "z9hG4bKb1", None));
    let ok = net.one_b();
    assert_eq!((ok.status(), ok.cseq().unwrap().method), (Some(200), "BYE"));
    let bye = net.one_a();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.call_id(), Some("a-call-1@a.example.com"));
    assert_eq!(bye.to().unwrap().tag(), Some("atag"));
    assert_eq!(bye.from().unwrap().tag(), call.a_ok.to().unwrap().tag());
    assert_eq!(bye.uri(), Some("sip:alice@198.51.100.10:5060"));
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Bye(Leg::B),
            code: 200,
            ..
        })
    ));
    net.send_a(reply_a(&bye, 200, None));
    assert!(net.a().is_empty() && net.b().is_empty());
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn busy_is_relayed_with_its_code() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    net.ops();
    net.send_b(reply_b(&b_inv, 486, None));
    let busy = net.one_a();
    assert_eq!(busy.status(), Some(486));
    assert!(busy.to().unwrap().tag().is_some());
    assert_eq!(busy.header(&HeaderName::Server), Some("PhoneB/2.0"));
    // The transaction layer ACKs the non-2xx on leg B with the INVITE's branch (§17.1.1.3).
    let ack = net.one_b();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(top_branch(&ack), top_branch(&b_inv));
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Rejected,
            code: 486,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    // A's ACK for the 486 is absorbed by its INVITE server transaction.
    net.send_a(request(
        Method::Ack,
        "sip:bob@203.0.113.1:5060",
        PHONE_A,
        "z9hG4bKa1",
        busy.header(&HeaderName::From).unwrap(),
        busy.header(&HeaderName::To).unwrap(),
        busy.call_id().unwrap(),
        1,
        None,
    ));
    assert!(net.a().is_empty() && net.b().is_empty());
}

#[test]
fn cancel_is_relayed_and_a_gets_487() {
    let mut net = Net::new();
    let a_inv = invite_a(70);
    net.send_a(a_inv.clone());
    net.a();
    let b_inv = net.one_b();
    net.ops();
    net.send_b(reply_b(&b_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));

    let mut cancel = Message::request(Method::Cancel, a_inv.uri().unwrap().to_owned());
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
    ] {
        cancel.push_header(name.clone(), a_inv.header(&name).unwrap().to_owned());
    }
    cancel.push_header(HeaderName::MaxForwards, "70");
    cancel.push_header(HeaderName::CSeq, "1 CANCEL");
    net.send_a(with_sdp(cancel, None));
    let ok = net.one_a();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "CANCEL")
    );
    let b_cancel = net.one_b();
    assert_eq!(b_cancel.method(), Some(&Method::Cancel));
    assert_eq!(b_cancel.uri(), b_inv.uri());
    assert_eq!(top_branch(&b_cancel), top_branch(&b_inv));
    assert_eq!(b_cancel.call_id(), b_inv.call_id());
    assert_eq!(
        b_cancel.header(&HeaderName::From),
        b_inv.header(&HeaderName::From)
    );
    assert_eq!(
        b_cancel.header(&HeaderName::To),
        b_inv.header(&HeaderName::To)
    );
    assert_eq!(b_cancel.cseq().unwrap().seq, b_inv.cseq().unwrap().seq);
    assert_eq!(b_cancel.cseq().unwrap().method, "CANCEL");

    net.send_b(reply_b(&b_cancel, 200, None));
    assert!(net.a().is_empty() && net.b().is_empty());
    net.send_b(reply_b(&b_inv, 487, None));
    let terminated = net.one_a();
    assert_eq!(
        (terminated.status(), terminated.cseq().unwrap().method),
        (Some(487), "INVITE")
    );
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Cancelled,
            code: 487,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn cancel_waits_for_a_provisional_and_loses_the_race_to_200() {
    let mut net = Net::new();
    let a_inv = invite_a(70);
    net.send_a(a_inv.clone());
    net.a();
    let b_inv = net.one_b();
    net.ops();
    let mut cancel = Message::request(Method::Cancel, a_inv.uri().unwrap().to_owned());
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
    ] {
        cancel.push_header(name.clone(), a_inv.header(&name).unwrap().to_owned());
    }
    cancel.push_header(HeaderName::CSeq, "1 CANCEL");
    net.send_a(with_sdp(cancel, None));
    assert_eq!(net.one_a().status(), Some(200));
    assert!(
        net.b().is_empty(),
        "no CANCEL before a provisional (RFC 3261 §9.1)"
    );
    // B answers before any provisional: ACK and BYE on B, 487 to A.
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let to_b = net.b();
    let methods: Vec<_> = to_b.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert_eq!(net.one_a().status(), Some(487));
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Cancelled,
            code: 487,
            ..
        })
    ));
}

#[test]
fn max_forwards_zero_is_refused_with_483() {
    let mut net = Net::new();
    net.send_a(invite_a(0));
    let v = net.a();
    let statuses: Vec<_> = v.iter().map(Message::status).collect();
    assert_eq!(statuses, [Some(100), Some(483)]);
    assert!(net.b().is_empty());
    assert!(net.ops().is_empty());
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn a_sips_request_uri_never_leaves_over_a_route_without_tls() {
    let mut net = Net::new();
    let mut inv = invite_a(70);
    inv.set_uri("sips:bob@example.com");
    net.send_a(inv);
    let v = net.a();
    let last = v.last().expect("an answer");
    assert_eq!(last.status(), Some(480));
    assert_eq!(last.reason(), Some("No TLS Route For SIPS"));
    assert!(net.b().is_empty(), "nothing sent on the UDP route");
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn unacked_2xx_to_a_ends_the_call() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    assert_eq!(net.one_a().status(), Some(200));
    net.ops();
    net.advance(500);
    assert_eq!(net.one_a().status(), Some(200), "2xx retransmitted at T1");
    net.advance(32_000);
    let to_b = net.b();
    let methods: Vec<_> = to_b.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert!(net.a().iter().any(|m| m.method() == Some(&Method::Bye)));
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::NoAck,
            ..
        })
    ));
}

#[test]
fn options_and_stray_requests_get_stateless_or_481_answers() {
    let mut net = Net::new();
    let mut options = invite_a(70);
    options.set_method(Method::Options);
    options.set_header(HeaderName::CSeq, "1 OPTIONS");
    net.send_a(with_sdp(options, None));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header(&HeaderName::Allow),
        Some(crate::stack::stateless::ALLOW)
    );
    assert_eq!(net.sbc.call_count(), 0);
    let bye = request(
        Method::Bye,
        "sip:203.0.113.1:5060",
        PHONE_A,
        "z9hG4bKx",
        "<sip:alice@a.example.com>;tag=1",
        "<sip:bob@b.example.com>;tag=2",
        "nope",
        5,
        None,
    );
    net.send_a(bye);
    assert_eq!(net.one_a().status(), Some(481));
    assert!(net.b().is_empty());
}

#[test]
fn media_timeout_hangs_up_answered_calls_only() {
    let mut net = Net::new();
    let a_inv = invite_a(70);
    net.send_a(a_inv);
    net.a();
    let b_inv = net.one_b();
    net.ops();
    // Ringing: no media yet is normal, the call stays.
    assert!(!net.sbc.handle_media_timeout(net.now, SessionId(1)));
    net.send_b(reply_b(&b_inv, 180, None));
    net.a();
    net.send_b(reply_b(&b_inv, 487, None));
    net.a();
    net.b();

    let mut net = Net::new();
    let call = answered_call(&mut net);
    assert!(
        !net.sbc.handle_media_timeout(net.now, SessionId(99)),
        "unknown session"
    );
    assert!(net.sbc.handle_media_timeout(net.now, SessionId(1)));
    net.drain();
    let bye_a = net.one_a();
    let bye_b = net.one_b();
    assert_eq!(bye_a.method(), Some(&Method::Bye));
    assert_eq!(bye_a.call_id(), call.a_ok.call_id());
    assert_eq!(bye_b.method(), Some(&Method::Bye));
    assert_eq!(bye_b.call_id(), call.b_invite.call_id());
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::MediaTimeout,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn calls_beyond_max_calls_get_503_with_retry_after() {
    let mut net = Net::with_config(CallConfig {
        max_calls: 1,
        retry_after_s: 17,
        ..CallConfig::default()
    });
    net.send_a(invite_a(70));
    assert_eq!(net.sbc.call_count(), 1);
    assert_eq!(net.b().len(), 1, "the first call goes to B");
    net.a();
    // A second call (new Call-ID and branch) is refused while the first is up.
    let second = String::from_utf8(invite_a(70).to_bytes().to_vec())
        .unwrap()
        .replace("a-call-1@", "a-call-2@")
        .replace("z9hG4bKa1", "z9hG4bKa2");
    net.send_a(parse(second.as_bytes()));
    let v = net.a();
    let last = v.last().expect("an answer");
    assert_eq!(last.status(), Some(503));
    assert_eq!(last.header(&HeaderName::RetryAfter), Some("17"));
    assert!(last.to().and_then(|t| t.tag()).is_some());
    assert!(net.b().is_empty(), "nothing sent to B for the refused call");
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn our_own_leg_b_invite_coming_back_is_a_loop() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    let b_invite = net.one_b();
    net.a();
    // A misconfigured next hop routes leg B's INVITE straight back to the SBC's customer side.
    net.send_a(b_invite);
    let v = net.a();
    assert_eq!(v.last().and_then(Message::status), Some(482));
    assert!(net.b().is_empty());
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn advertised_media_address_goes_into_that_sides_sdp() {
    let mut net = Net::with_router(CallConfig::default(), route_behind_nat);
    net.send_a(invite_a(70));
    let b_invite = net.one_b();
    let body = String::from_utf8(b_invite.body().to_vec()).expect("utf-8");
    assert!(body.contains("c=IN IP4 203.0.113.50"), "{body}");
    // c= and o= carry the public address; the port is still the relay's.
    let (ip, port, _, _, origin_ip) = media_of(&b_invite);
    assert_eq!(
        (ip.as_str(), origin_ip.as_str()),
        ("203.0.113.50", "203.0.113.50")
    );
    assert_ne!(port, 0);
    // Leg A's side is not behind NAT: the 200 to A carries the relay's own address.
    net.send_b(reply_b(&b_invite, 200, Some(&sdp_b(1, "sendrecv"))));
    let to_a = net.a();
    let a_ok = to_a
        .iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to A");
    assert_ne!(media_of(a_ok).0, "203.0.113.50");
}

#[test]
fn delayed_offer_offer_in_the_200_answer_in_the_ack() {
    let mut net = Net::new();
    let mut inv = invite_a(70);
    inv.set_body(bytes::Bytes::new(), None);
    net.send_a(inv);
    assert_eq!(net.one_a().status(), Some(100));
    let b_invite = net.one_b();
    assert!(b_invite.body().is_empty(), "no offer to forward");
    assert_eq!(b_invite.content_type(), None);
    assert!(matches!(net.ops()[..], [Op::Create(SessionId(1))]));
    // B makes the offer in its 200: anchored, relayed to A on A's side.
    net.send_b(reply_b(&b_invite, 200, Some(&sdp_b(3, "sendrecv"))));
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    let (ip, port, ..) = media_of(&a_ok);
    assert_eq!((ip.as_str(), port), ("203.0.113.1", 20000));
    let ops = net.ops();
    let [Op::Add(SessionId(1), legs)] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(
        legs[1].signal.remote_rtp,
        Some("10.0.0.20:30000".parse().unwrap())
    );
    assert_eq!(legs[0].signal.remote_rtp, None);
    assert!(
        net.b().is_empty(),
        "B's 200 is ACKed when A's ACK brings the answer"
    );
    // A answers in its ACK: rewritten to the relay's B side and carried in B's ACK.
    net.send_a(from_a(
        Method::Ack,
        &a_ok,
        1,
        "z9hG4bKa2",
        Some(&sdp_a(1, "sendrecv")),
    ));
    let ack = net.one_b();
    assert_eq!(ack.method(), Some(&Method::Ack));
    let (ip, port, ..) = media_of(&ack);
    assert_eq!((ip.as_str(), port), ("10.0.0.1", 20002));
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(sig), None])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.remote_rtp, Some("198.51.100.10:49170".parse().unwrap()));
}

#[test]
fn a_redirect_from_b_is_relayed_with_its_contacts() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_invite = net.one_b();
    let mut moved = reply_b(&b_invite, 302, None);
    moved.set_header(HeaderName::Contact, "<sip:carol@192.0.2.77:5060>;q=0.8");
    net.send_b(moved);
    let v = net.a();
    let rsp = v.last().expect("a final response to A");
    assert_eq!(rsp.status(), Some(302));
    let contacts: Vec<String> = rsp
        .headers_named(&HeaderName::Contact)
        .map(|h| h.value().to_owned())
        .collect();
    assert_eq!(contacts, ["<sip:carol@192.0.2.77:5060>;q=0.8"]);
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn max_call_duration_ends_the_call_with_bye_and_reason_on_both_legs() {
    let mut net = Net::with_config(CallConfig {
        max_call_duration: Some(Duration::from_secs(60)),
        ..CallConfig::default()
    });
    let _call = answered_call(&mut net);
    net.advance(59_000);
    assert!(net.a().is_empty() && net.b().is_empty(), "not yet");
    assert_eq!(net.sbc.call_count(), 1);
    net.advance(1_500);
    let bye_a = net.one_a();
    let bye_b = net.one_b();
    for bye in [&bye_a, &bye_b] {
        assert_eq!(bye.method(), Some(&Method::Bye));
        assert_eq!(
            bye.header(&HeaderName::Reason),
            Some("SIP;cause=200;text=\"maximum call duration\"")
        );
    }
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::MaxDuration,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
}

#[test]
fn a_second_2xx_from_another_fork_is_acked_and_hung_up() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // The call let B's INVITE go when answered: the late fork's dialog takes our side from
    // B's dialog and the rest from the response.
    assert!(!net.sbc.keeps_b_invite(CallKey(1)));
    // A forking proxy downstream: another branch answers too, with its own To tag.
    let mut second = reply_b(&call.b_invite, 200, Some(&sdp_b(1, "sendrecv")));
    let to = call.b_invite.header(&HeaderName::To).unwrap().to_owned();
    second.set_header(HeaderName::To, format!("{to};tag=fork2"));
    second.set_header(HeaderName::Contact, "<sip:bob2@10.0.0.21:5060>");
    net.send_b(second);
    let to_b = net.b();
    let methods: Vec<_> = to_b.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)], "{to_b:?}");
    for m in &to_b {
        assert_eq!(m.to().unwrap().tag(), Some("fork2"));
        assert_eq!(
            m.uri(),
            Some("sip:bob2@10.0.0.21:5060"),
            "the fork's Contact"
        );
        assert_eq!(m.call_id(), call.b_invite.call_id());
        assert_eq!(
            m.header(&HeaderName::From),
            call.b_invite.header(&HeaderName::From)
        );
    }
    assert_eq!(
        to_b[0].cseq().unwrap().seq,
        call.b_invite.cseq().unwrap().seq
    );
    assert!(to_b[1].cseq().unwrap().seq > call.b_invite.cseq().unwrap().seq);
    assert!(net.a().is_empty(), "A sees nothing of the losing fork");
    assert_eq!(net.sbc.call_count(), 1, "the first call goes on");
    // The winning dialog is untouched: A's BYE reaches the first fork.
    net.send_b(reply_b(&to_b[1], 200, None));
    net.send_a(from_a(Method::Bye, &call.a_ok, 2, "z9hG4bKa9", None));
    assert_eq!(net.one_a().status(), Some(200));
    let bye = net.one_b();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.to().unwrap().tag(), Some("btag"));
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn a_503_from_b_reaches_a_as_500_and_the_call_records_503() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    let mut unavailable = reply_b(&b_inv, 503, None);
    unavailable.push_header(HeaderName::RetryAfter, "30");
    net.send_b(unavailable);
    let rsp = net.one_a();
    // A must not take the SBC for overloaded (RFC 3261 §16.7 step 6).
    assert_eq!(
        (rsp.status(), rsp.reason()),
        (Some(500), Some("Server Internal Error"))
    );
    assert!(rsp.header(&HeaderName::RetryAfter).is_none());
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Rejected,
            code: 503,
            ..
        })
    ));
}
