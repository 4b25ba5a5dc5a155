//! Session timers (RFC 4028) per leg: negotiation, refreshes from either side or from the SBC, 422 and expiry.

use super::*;

#[test]
fn session_timers_are_negotiated_per_leg_and_a_silent_refresher_ends_the_call() {
    let mut net = Net::with_config(timer_config(90));
    let call = call_with(
        &mut net,
        &[
            ("Session-Expires", "600;refresher=uac"),
            ("Min-SE", "90"),
            ("Supported", "timer"),
        ],
        &[
            ("Session-Expires", "1200;refresher=uas"),
            ("Require", "timer"),
        ],
    );
    // Leg B gets the SBC's own offer, not A's 600 s.
    let b = &call.b_invite;
    assert_eq!(b.header(&HeaderName::SessionExpires), Some("1800"));
    assert_eq!(b.header(&HeaderName::MinSe), Some("90"));
    assert!(b.has_token(&HeaderName::Supported, "timer"));
    // Leg A gets its own 600 s back, A refreshing, and B's 1200 s does not leak.
    let a = &call.a_ok;
    assert_eq!(
        a.header(&HeaderName::SessionExpires),
        Some("600;refresher=uac")
    );
    assert!(a.has_token(&HeaderName::Require, "timer"));
    // A must refresh by 600 - min(32, 600/3) = 568 s; B (1200 s) by 1168 s.
    net.advance(567_000);
    assert!(net.a().is_empty() && net.b().is_empty(), "not yet");
    net.advance(1_000);
    assert_session_expired(&mut net);
}

#[test]
fn refreshes_from_either_peer_reset_their_leg_and_are_answered_locally() {
    let mut net = Net::with_config(timer_config(90));
    let call = call_with(
        &mut net,
        &[
            ("Session-Expires", "600;refresher=uac"),
            ("Supported", "timer"),
        ],
        &[
            ("Session-Expires", "1200;refresher=uas"),
            ("Supported", "timer"),
        ],
    );
    net.advance(500_000);
    // A refreshes with a re-INVITE carrying the same SDP as before.
    net.send_a(with_headers(
        from_a(
            Method::Invite,
            &call.a_ok,
            2,
            "z9hG4bKr1",
            Some(&sdp_a(1, "sendrecv")),
        ),
        &[
            ("Session-Expires", "600;refresher=uac"),
            ("Supported", "timer"),
        ],
    ));
    let to_a = net.a();
    let ok = to_a.last().expect("an answer");
    assert_eq!((ok.status(), ok.cseq().unwrap().seq), (Some(200), 2));
    assert_eq!(
        ok.header(&HeaderName::SessionExpires),
        Some("600;refresher=uac")
    );
    assert_eq!(
        ok.body(),
        call.a_ok.body(),
        "the SBC's earlier answer, same version"
    );
    assert!(net.b().is_empty(), "the refresh does not bother leg B");
    assert!(net.ops().is_empty(), "nor the relay");
    net.send_a(from_a(Method::Ack, ok, 2, "z9hG4bKr2", None));
    assert!(net.b().is_empty());
    // B refreshes its own leg with an UPDATE without SDP at 900 s.
    net.advance(400_000);
    let up = with_headers(
        from_b(Method::Update, &call.b_invite, 1, "z9hG4bKr3", None),
        // B is the UAC of its UPDATE: refresher=uac means B keeps refreshing (RFC 4028 §4).
        &[("Session-Expires", "1200;refresher=uac")],
    );
    net.send_b(up);
    let ok = net.one_b();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "UPDATE")
    );
    assert_eq!(
        ok.header(&HeaderName::SessionExpires),
        Some("1200;refresher=uac")
    );
    assert!(net.a().is_empty());
    // Without A's refresh at 500 s the call would have ended at 568 s; A refreshes again at
    // 1000 s with an UPDATE, so the next deadline is 1568 s.
    net.advance(100_000);
    assert!(
        net.a().is_empty() && net.b().is_empty(),
        "still up at 1000 s"
    );
    net.send_a(with_headers(
        from_a(Method::Update, &call.a_ok, 3, "z9hG4bKr4", None),
        &[
            ("Session-Expires", "600;refresher=uac"),
            ("Supported", "timer"),
        ],
    ));
    let ok = net.one_a();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "UPDATE")
    );
    assert!(net.b().is_empty());
    net.advance(567_000);
    let (a, b) = (net.a(), net.b());
    assert!(
        a.is_empty() && b.is_empty(),
        "not yet at 1567 s: {a:?} {b:?}"
    );
    net.advance(1_000);
    assert_session_expired(&mut net);
}

#[test]
fn the_sbc_refreshes_at_half_the_interval_with_update_or_reinvite() {
    let mut net = Net::with_config(timer_config(90));
    // A knows nothing of timers and allows no UPDATE; B asks the SBC to refresh every 1000 s.
    let call = call_with(
        &mut net,
        &[],
        &[
            ("Session-Expires", "1000;refresher=uac"),
            ("Allow", "INVITE, ACK, BYE, UPDATE"),
        ],
    );
    assert_eq!(
        call.a_ok.header(&HeaderName::SessionExpires),
        Some("1800;refresher=uas"),
        "the SBC refreshes leg A itself at the configured interval"
    );
    assert!(!call.a_ok.has(&HeaderName::Require));
    net.advance(499_000);
    assert!(net.a().is_empty() && net.b().is_empty());
    net.advance(1_000);
    let up = net.one_b();
    assert_eq!(up.method(), Some(&Method::Update));
    assert_eq!(up.call_id(), call.b_invite.call_id());
    assert!(up.body().is_empty());
    assert_eq!(
        up.header(&HeaderName::SessionExpires),
        Some("1000;refresher=uac")
    );
    assert_eq!(up.header(&HeaderName::MinSe), Some("90"));
    assert!(net.a().is_empty(), "leg B's refresh stays on leg B");
    net.send_b(with_headers(
        reply_b(&up, 200, None),
        &[("Session-Expires", "1000;refresher=uac")],
    ));
    assert!(net.a().is_empty() && net.b().is_empty());
    // Leg A at 900 s: a re-INVITE with the SDP the SBC last sent A.
    net.advance(400_000);
    let re = net.one_a();
    assert_eq!(re.method(), Some(&Method::Invite));
    assert_eq!(re.call_id(), call.a_ok.call_id());
    assert_eq!(re.body(), call.a_ok.body());
    assert_eq!(
        re.header(&HeaderName::SessionExpires),
        Some("1800;refresher=uac")
    );
    assert!(net.b().is_empty());
    net.send_a(reply_a(&re, 200, Some(&sdp_a(1, "sendrecv"))));
    let ack = net.one_a();
    assert_eq!(
        (ack.method(), ack.cseq().unwrap().seq),
        (Some(&Method::Ack), re.cseq().unwrap().seq)
    );
    assert!(net.b().is_empty() && net.ops().is_empty());
    // B's next refresh comes 500 s after the last answer, at 1000 s.
    net.advance(99_000);
    assert!(net.b().is_empty());
    net.advance(1_000);
    let up2 = net.one_b();
    assert_eq!(up2.method(), Some(&Method::Update));
    assert!(up2.cseq().unwrap().seq > up.cseq().unwrap().seq);
    // B has forgotten the call: 481 ends it on both legs (RFC 4028 §10).
    net.send_b(reply_b(&up2, 481, None));
    let bye = net.one_a();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(
        bye.header(&HeaderName::Reason),
        Some("SIP;cause=408;text=\"Session timer expired\"")
    );
    assert!(net.b().is_empty(), "leg B's dialog is gone: no BYE there");
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn a_session_interval_below_min_se_gets_422_with_min_se() {
    let mut net = Net::with_config(timer_config(120));
    net.send_a(with_headers(invite_a(70), &[("Session-Expires", "100")]));
    let v = net.a();
    let statuses: Vec<_> = v.iter().map(Message::status).collect();
    assert_eq!(statuses, [Some(100), Some(422)]);
    assert_eq!(v[1].header(&HeaderName::MinSe), Some("120"));
    assert!(v[1].to().unwrap().tag().is_some());
    assert!(net.b().is_empty() && net.ops().is_empty());
    assert_eq!(net.sbc.call_count(), 0);
    // An unreadable one is a 400 naming the header.
    let again = String::from_utf8(invite_a(70).to_bytes().to_vec())
        .unwrap()
        .replace("z9hG4bKa1", "z9hG4bKa9");
    net.send_a(with_headers(
        parse(again.as_bytes()),
        &[("Session-Expires", "soon")],
    ));
    let v = net.a();
    let last = v.last().unwrap();
    assert_eq!(last.status(), Some(400));
    assert!(last.reason().unwrap().contains("Session-Expires"));
}

#[test]
fn a_422_from_b_is_retried_with_the_larger_interval_a_bounded_number_of_times() {
    let mut net = Net::with_config(timer_config(90));
    net.send_a(invite_a(70));
    net.a();
    let first = net.one_b();
    net.send_b(with_headers(
        reply_b(&first, 422, None),
        &[("Min-SE", "1900")],
    ));
    let to_b = net.b();
    let methods: Vec<_> = to_b.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Invite)]);
    let second = &to_b[1];
    assert_eq!(second.header(&HeaderName::SessionExpires), Some("1900"));
    assert_eq!(second.header(&HeaderName::MinSe), Some("1900"));
    assert_eq!(second.call_id(), first.call_id());
    assert_eq!(second.from().unwrap().tag(), first.from().unwrap().tag());
    assert_eq!(second.cseq().unwrap().seq, first.cseq().unwrap().seq + 1);
    assert_ne!(top_branch(second), top_branch(&first));
    assert_eq!(second.body(), first.body());
    assert!(net.a().is_empty(), "A hears nothing of leg B's negotiation");
    // B accepts without naming a refresher: the SBC refreshes leg B every 950 s.
    net.send_b(reply_b(second, 200, Some(&sdp_b(7, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header(&HeaderName::SessionExpires),
        Some("1800;refresher=uas")
    );
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    net.advance(950_000);
    let re = net.one_b();
    assert_eq!(re.method(), Some(&Method::Invite), "B allows no UPDATE");
    assert_eq!(
        re.header(&HeaderName::SessionExpires),
        Some("1900;refresher=uac")
    );

    // A next hop that keeps raising its Min-SE: after two retries A gets 500.
    let mut net = Net::with_config(timer_config(90));
    net.send_a(invite_a(70));
    net.a();
    let mut inv = net.one_b();
    for min_se in ["1900", "2000", "2100"] {
        net.send_b(with_headers(
            reply_b(&inv, 422, None),
            &[("Min-SE", min_se)],
        ));
        let to_b = net.b();
        if let Some(next) = to_b.iter().find(|m| m.method() == Some(&Method::Invite)) {
            inv = next.clone();
        }
    }
    let v = net.a();
    assert_eq!(v.last().and_then(Message::status), Some(500));
    assert_eq!(net.sbc.call_count(), 0);
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Rejected,
            code: 422,
            ..
        })
    ));
}

#[test]
fn a_relayed_reinvite_refreshes_both_legs_with_their_own_session_expires() {
    let mut net = Net::with_config(timer_config(90));
    let call = call_with(
        &mut net,
        &[
            ("Session-Expires", "600;refresher=uac"),
            ("Supported", "timer"),
        ],
        &[
            ("Session-Expires", "1200;refresher=uas"),
            ("Supported", "timer"),
        ],
    );
    // A refresh asking for less than Min-SE is refused in the dialog (RFC 4028 §6).
    net.send_a(with_headers(
        from_a(Method::Update, &call.a_ok, 2, "z9hG4bKh0", None),
        &[("Session-Expires", "60")],
    ));
    let small = net.one_a();
    assert_eq!(
        (small.status(), small.header(&HeaderName::MinSe)),
        (Some(422), Some("90"))
    );
    assert!(net.b().is_empty());
    net.advance(500_000);
    // Hold from A changes the SDP: it goes to B, carrying leg B's timer, not A's.
    net.send_a(with_headers(
        from_a(
            Method::Invite,
            &call.a_ok,
            3,
            "z9hG4bKh1",
            Some(&sdp_a(2, "sendonly")),
        ),
        &[
            ("Session-Expires", "600;refresher=uac"),
            ("Supported", "timer"),
        ],
    ));
    net.a();
    let re = net.one_b();
    assert_eq!(re.method(), Some(&Method::Invite));
    // The SBC is the UAC here and B refreshes leg B: refresher=uas.
    assert_eq!(
        re.header(&HeaderName::SessionExpires),
        Some("1200;refresher=uas")
    );
    assert_eq!(re.header(&HeaderName::MinSe), Some("90"));
    net.send_b(with_headers(
        reply_b(&re, 200, Some(&sdp_b(8, "recvonly"))),
        &[("Session-Expires", "1200;refresher=uas")],
    ));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header(&HeaderName::SessionExpires),
        Some("600;refresher=uac")
    );
    net.send_a(from_a(Method::Ack, &ok, 3, "z9hG4bKh2", None));
    net.b();
    net.ops();
    // Both legs restarted at 500 s: A's old deadline (568 s) and B's (1168 s) pass quietly.
    net.advance(1_067_000 - 500_000 - 1_000);
    assert!(net.a().is_empty() && net.b().is_empty());
    net.advance(2_000);
    assert_session_expired(&mut net);
}

#[test]
fn with_session_timers_off_the_sbc_does_not_claim_timer_support() {
    let mut net = Net::new();
    net.send_a(with_headers(
        invite_a(70),
        &[("Supported", "timer, 100rel"), ("Session-Expires", "90")],
    ));
    net.a();
    let b = net.one_b();
    let tags: Vec<&str> = b.tokens(&HeaderName::Supported).collect();
    assert_eq!(tags, ["100rel"]);
    assert!(!b.has(&HeaderName::SessionExpires) && !b.has(&HeaderName::MinSe));
}

#[test]
fn a_refresh_that_is_never_answered_ends_the_call() {
    let mut net = Net::with_config(timer_config(90));
    call_with(
        &mut net,
        &[
            ("Session-Expires", "1800;refresher=uac"),
            ("Supported", "timer"),
        ],
        &[
            ("Session-Expires", "1000;refresher=uac"),
            ("Allow", "INVITE, ACK, BYE, UPDATE"),
        ],
    );
    net.advance(500_000);
    assert_eq!(net.one_b().method(), Some(&Method::Update));
    // Timer F: the UPDATE is retransmitted, then given up on (RFC 4028 §10: BYE both legs).
    net.advance(16_000);
    assert!(net.b().iter().all(|m| m.method() == Some(&Method::Update)));
    assert!(net.a().is_empty());
    net.advance(17_000);
    let to_b = net.b();
    let bye_b = to_b.last().expect("a BYE to B");
    assert_eq!(bye_b.method(), Some(&Method::Bye));
    let bye_a = net.one_a();
    for bye in [bye_a, bye_b.clone()] {
        assert_eq!(
            bye.header(&HeaderName::Reason),
            Some("SIP;cause=408;text=\"Session timer expired\"")
        );
    }
    assert_eq!(net.sbc.call_count(), 0);
}
