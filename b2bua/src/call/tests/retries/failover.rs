//! Leg B's failover on virtual time: 503 and Timer B move to the next route (with the media
//! reset, on another relay interface if the route says so), leg A's CANCEL in the middle, a
//! cancelled attempt that answers anyway, and the next attempt's early dialogs, reliable
//! provisionals and 422 (RFC 3261 §9.1, §16.7, RFC 3262, RFC 4028 §6).

use super::*;

#[test]
fn failover_on_503_tries_the_next_route_with_the_media_reset() {
    let first = Target {
        failover_on: vec![408, 503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to(PHONE_C)], Vec::new());
    let (_, b_inv) = net.start();
    // B sends early media, then fails.
    net.send_b(reply_b(&b_inv, 183, Some(&sdp_b(1, "sendrecv"))));
    assert_eq!(net.one_a().status(), Some(183));
    net.ops();
    net.send_b(reply_b(&b_inv, 503, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    let c_inv = net.one_c();
    assert_next_attempt(&b_inv, &c_inv);
    // What B said is forgotten by the relay until C answers.
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.remote_rtp, None);
    assert!(net.a().is_empty());
    c_answers(&mut net, &c_inv);
}

#[test]
fn failover_on_timer_b_tries_the_next_route() {
    let first = Target {
        failover_on: vec![408, 503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to(PHONE_C)], Vec::new());
    let (_, b_inv) = net.start();
    // B never answers: Timer A retransmits, Timer B (64*T1) ends the attempt.
    for _ in 0..64 {
        net.advance(500);
    }
    let to_b = net.b();
    assert!(!to_b.is_empty());
    assert!(to_b.iter().all(|m| top_branch(m) == top_branch(&b_inv)));
    let c_inv = net.one_c();
    assert_next_attempt(&b_inv, &c_inv);
    assert!(net.a().is_empty());
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Rerouted { after: 408, .. })
    ));
    c_answers(&mut net, &c_inv);
}

#[test]
fn two_calls_timing_out_at_once_both_fail_over() {
    // Both leg-B INVITEs reach timer B in one timer turn: the first call's next attempt is a
    // new transaction made while the second's timeout is still on its way up; it must not
    // take the second's place (transaction slots are reused only once every event is out).
    let first = Target {
        failover_on: vec![408, 503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to(PHONE_C)], Vec::new());
    let (_, b_inv1) = net.start();
    let mut a_inv2 = invite_a(70);
    a_inv2.set_header(HeaderName::CallId, "a-call-2@a.example.com");
    a_inv2.set_header(
        HeaderName::Via,
        "SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKa2nd",
    );
    a_inv2.set_header(HeaderName::From, "<sip:carol@a.example.com>;tag=ctag2");
    net.send_a(a_inv2);
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv2 = net.one_b();
    assert_ne!(b_inv1.call_id(), b_inv2.call_id());
    for _ in 0..64 {
        net.advance(500);
    }
    let to_c = net.c();
    let invites: Vec<_> = to_c
        .iter()
        .filter(|m| m.method() == Some(&Method::Invite))
        .collect();
    assert_eq!(invites.len(), 2, "{to_c:?}");
    assert_ne!(invites[0].call_id(), invites[1].call_id());
    let rerouted = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::Rerouted { after: 408, .. }))
        .count();
    assert_eq!(rerouted, 2, "{:?}", net.events);
    assert!(
        net.a().is_empty(),
        "neither A hears of the first route's timeout"
    );
}

#[test]
fn when_every_route_fails_a_gets_the_last_failure() {
    let failing = |peer| Target {
        failover_on: vec![408, 503],
        ..to(peer)
    };
    let mut net = net(vec![failing(PHONE_B), failing(PHONE_C)], Vec::new());
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 503, None));
    net.b();
    let c_inv = net.one_c();
    // C never answers either: A gets 408, once, and the call ends.
    for _ in 0..64 {
        net.advance(500);
    }
    let v = net.a();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].status(), v[0].reason()),
        (Some(408), Some("Request Timeout"))
    );
    assert!(net.c().iter().all(|m| top_branch(m) == top_branch(&c_inv)));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Timeout,
            code: 408,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);

    // The second route's final is what A gets, with its reason.
    let mut net = net_of_two_failures(480, "Trunk Full");
    let v = net.a();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].status(), v[0].reason()),
        (Some(480), Some("Trunk Full"))
    );
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert_eq!(net.sbc.dialog_count(), 0);
    // Both routes answer 503: A gets 500, not the SBC's own overload signal (RFC 3261 §16.7).
    let mut net = net_of_two_failures(503, "Trunk Full");
    let v = net.a();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].status(), Some(500));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Rejected,
            code: 503,
            ..
        })
    ));
}

/// B answers 503 (failover), then C answers `code` with `reason`.
fn net_of_two_failures(code: u16, reason: &str) -> Net {
    let failing = |peer| Target {
        failover_on: vec![503],
        ..to(peer)
    };
    let mut net = net(vec![failing(PHONE_B), failing(PHONE_C)], Vec::new());
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 503, None));
    let c_inv = net.one_c();
    let mut full = Message::response_to(&c_inv, code, reason);
    let to = c_inv.header(&HeaderName::To).unwrap().to_owned();
    full.set_header(HeaderName::To, format!("{to};tag=ctag"));
    net.send_c(full);
    assert_eq!(net.one_c().method(), Some(&Method::Ack));
    assert_eq!(net.sbc.call_count(), 0);
    net
}

#[test]
fn cancel_from_a_during_a_retry_ends_it_with_487() {
    let first = Target {
        failover_on: vec![503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to(PHONE_C)], Vec::new());
    let (a_inv, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    net.send_b(reply_b(&b_inv, 503, None));
    net.b();
    let c_inv = net.one_c();
    net.send_a(cancel_from_a(&a_inv));
    assert_eq!(net.one_a().status(), Some(200));
    assert!(net.c().is_empty(), "no CANCEL before C's provisional");
    net.send_c(reply_c(&c_inv, 180, None));
    let cancel = net.one_c();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(top_branch(&cancel), top_branch(&c_inv));
    assert!(
        net.a().is_empty(),
        "C's 180 is not relayed once A cancelled"
    );
    net.send_c(reply_c(&cancel, 200, None));
    net.send_c(reply_c(&c_inv, 487, None));
    assert_eq!(net.one_c().method(), Some(&Method::Ack));
    let end = net.one_a();
    assert_eq!(
        (end.status(), end.cseq().unwrap().method),
        (Some(487), "INVITE")
    );
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Cancelled,
            code: 487,
            ..
        })
    ));
    assert!(net.b().is_empty());
    assert_eq!(net.sbc.call_count(), 0);
    assert_eq!(net.sbc.dialog_count(), 0);
}

#[test]
fn a_cancelled_attempt_that_answers_anyway_is_hung_up_while_the_forward_rings() {
    let first = Target {
        no_answer: Some(Duration::from_secs(10)),
        forward: Some(Box::new(to(PHONE_C))),
        ..to(PHONE_B)
    };
    let mut net = net(vec![first], Vec::new());
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    net.advance(10_000);
    assert_eq!(net.one_b().method(), Some(&Method::Cancel));
    let c_inv = net.one_c();
    net.send_c(reply_c(&c_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    // B's 2xx wins the race with the CANCEL: ACK, then BYE with a Reason, A hears nothing.
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let to_b = net.b();
    let methods: Vec<_> = to_b.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert_eq!(to_b[0].cseq().unwrap().seq, b_inv.cseq().unwrap().seq);
    assert!(to_b[1].header(&HeaderName::Reason).is_some());
    assert!(net.a().is_empty() && net.c().is_empty());
    assert!(
        net.ops().is_empty(),
        "B's late answer never reaches the relay"
    );
    net.send_c(reply_c(&c_inv, 200, Some(&sdp_b(2, "sendrecv"))));
    assert_eq!(net.one_a().status(), Some(200));
}

/// Like [`to`], but leg B leaves on another relay interface.
fn to_other_interface(peer: &str) -> Target {
    let mut t = to(peer);
    t.route.b_side.media_interface = "core2".into();
    t
}

#[test]
fn failover_to_another_relay_interface_anchors_the_offer_in_a_new_session() {
    let first = Target {
        failover_on: vec![503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to_other_interface(PHONE_C)], Vec::new());
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 503, None));
    net.b();
    let c_inv = net.one_c();
    let ops = net.ops();
    let [Op::Delete(SessionId(1)), Op::Create(SessionId(2)), Op::Add(SessionId(2), legs)] =
        ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(
        (legs[0].interface.as_str(), legs[1].interface.as_str()),
        ("public", "core2")
    );
    assert_eq!(
        legs[0].signal.remote_rtp,
        Some("198.51.100.10:49170".parse().unwrap())
    );
    // The offer to C points at the new session's ports, not B's.
    assert_ne!(media_of(&c_inv).1, media_of(&b_inv).1);
    net.send_c(reply_c(&c_inv, 503, None));
    assert_eq!(net.one_a().status(), Some(500), "503 reaches A as 500");
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(2))]));
}

#[test]
fn after_a_failover_the_new_attempts_early_dialog_is_a_fork_on_a_and_nothing_leaks() {
    let first = Target {
        failover_on: vec![503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to(PHONE_C)], Vec::new());
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 180, None));
    let b_ringing = net.one_a();
    net.send_b(reply_b(&b_inv, 503, None));
    net.b();
    let c_inv = net.one_c();
    net.send_c(reply_c(&c_inv, 180, None));
    let c_ringing = net.one_a();
    // Like a fork (RFC 3261 §12.1.1): the new attempt gets its own early dialog on A.
    assert_ne!(c_ringing.to().unwrap().tag(), b_ringing.to().unwrap().tag());
    net.send_c(reply_c(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.to().unwrap().tag(), c_ringing.to().unwrap().tag());
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    assert_eq!(net.one_c().method(), Some(&Method::Ack));
    net.send_a(from_a(Method::Bye, &ok, 2, "z9hG4bKa3", None));
    let bye = net.one_c();
    net.send_c(reply_c(&bye, 200, None));
    assert_eq!(net.one_a().status(), Some(200));
    assert_eq!(net.sbc.call_count(), 0);
    assert_eq!(
        net.sbc.dialog_count(),
        0,
        "no dialog of either attempt is left"
    );
}

#[test]
fn reliable_provisionals_of_the_next_attempt_are_pracked_with_its_own_rseq_and_cseq() {
    let first = Target {
        failover_on: vec![503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to(PHONE_C)], Vec::new());
    net.send_a(invite_a_100rel(HeaderName::Supported));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    // B: reliable 183 with early media, PRACKed end to end.
    let b_sdp = sdp_b(7, "sendrecv");
    net.send_b(fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:bob@10.0.0.20:5060",
        Some(777),
        Some(&b_sdp),
    ));
    let a_183 = net.one_a();
    net.send_a(prack_a(&a_183, 2, "z9hG4bKpa1", None));
    let b_prack = net.one_b();
    net.send_b(reply_b(&b_prack, 200, None));
    assert_eq!(net.one_a().cseq().unwrap().method, "PRACK");
    // B fails; C gets the INVITE, still offering 100rel.
    net.send_b(reply_b(&b_inv, 503, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    let c_inv = net.one_c();
    assert_next_attempt(&b_inv, &c_inv);
    assert!(c_inv.has_token(&HeaderName::Supported, "100rel"));
    // C: reliable 180; A sees it reliable in its own early dialog, and its PRACK reaches C
    // with C's RSeq and the new INVITE's CSeq.
    let c_180 = fork_reply(
        &c_inv,
        180,
        "ctag",
        "sip:carol@10.0.0.30:5060",
        Some(5),
        None,
    );
    net.send_c(c_180);
    let a_180 = net.one_a();
    assert!(a_180.has_token(&HeaderName::Require, "100rel"));
    assert_ne!(a_180.to().unwrap().tag(), a_183.to().unwrap().tag());
    net.send_a(prack_a(&a_180, 3, "z9hG4bKpa2", None));
    let c_prack = net.one_c();
    assert_eq!(c_prack.method(), Some(&Method::Prack));
    assert_eq!(c_prack.to().unwrap().tag(), Some("ctag"));
    let c_seq = c_inv.cseq().unwrap().seq;
    assert_eq!(
        c_prack.header(&HeaderName::RAck),
        Some(format!("5 {c_seq} INVITE").as_str())
    );
    net.send_c(reply_c(&c_prack, 200, None));
    assert_eq!(net.one_a().cseq().unwrap().method, "PRACK");
    net.send_c(reply_c(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.to().unwrap().tag(), a_180.to().unwrap().tag());
    assert!(net.b().is_empty());
}

#[test]
fn an_unpracked_reliable_18x_of_a_failed_attempt_does_not_end_the_call() {
    let first = Target {
        failover_on: vec![503],
        ..to(PHONE_B)
    };
    let mut net = net(vec![first, to(PHONE_C)], Vec::new());
    net.send_a(invite_a_100rel(HeaderName::Supported));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    let b_sdp = sdp_b(7, "sendrecv");
    net.send_b(fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:bob@10.0.0.20:5060",
        Some(777),
        Some(&b_sdp),
    ));
    assert!(net.one_a().rseq().is_some());
    // B fails before A PRACKs: that early dialog is abandoned, its 183 no longer retransmitted.
    net.send_b(reply_b(&b_inv, 503, None));
    net.b();
    let c_inv = net.one_c();
    net.send_c(reply_c(&c_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    for _ in 0..80 {
        net.advance(500);
    }
    assert!(
        net.a().is_empty(),
        "no 183 retransmission, no 5xx for a missing PRACK"
    );
    net.send_c(reply_c(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    assert_eq!(net.one_a().status(), Some(200));
}

#[test]
fn a_422_is_negotiated_with_the_same_route_and_the_next_route_starts_afresh() {
    let first = Target {
        failover_on: vec![422, 503],
        ..to(PHONE_B)
    };
    let cfg = timer_config(90);
    let mut net = Net::with_router(
        cfg,
        Table {
            targets: vec![first, to(PHONE_C)],
            redirects: Vec::new(),
        },
    );
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    assert_eq!(b_inv.header(&HeaderName::SessionExpires), Some("1800"));
    // B wants a longer interval: retried on B (not failed over, though 422 is listed).
    net.send_b(with_headers(
        reply_b(&b_inv, 422, None),
        &[("Min-SE", "1900")],
    ));
    let to_b = net.b();
    let retry = to_b
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("the INVITE again to B")
        .clone();
    assert_eq!(retry.header(&HeaderName::SessionExpires), Some("1900"));
    assert!(net.c().is_empty());
    // B then fails: C gets the SBC's own offer, not B's raised one.
    net.send_b(reply_b(&retry, 503, None));
    net.b();
    let c_inv = net.one_c();
    assert_eq!(c_inv.header(&HeaderName::SessionExpires), Some("1800"));
    assert_eq!(c_inv.cseq().unwrap().seq, retry.cseq().unwrap().seq + 1);
    // C accepts without naming a refresher: the call runs on C's leg with 1800 s.
    net.send_c(reply_c(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    assert_eq!(net.one_c().method(), Some(&Method::Ack));
    // The SBC refreshes C's leg at half the interval it offered C, not at 950 s.
    net.advance(899_000);
    assert!(net.c().is_empty());
    net.advance(1_000);
    let refresh = net.c();
    assert!(!refresh.is_empty(), "C's leg is refreshed at 900 s");
}
