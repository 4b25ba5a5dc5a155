//! The management API's commands on virtual time: call snapshots, terminate, click-to-dial
//! (RFC 3725 flow I).

use super::*;

fn party(user: &str, sip: &str, iface: &str, next_hop: &str) -> Party {
    Party {
        user: user.into(),
        side: Side {
            sip: dest(sip),
            media_interface: iface.into(),
            media_advertised: None,
            srtp: SrtpPolicy::Off,
            ice: IcePolicy::Off,
        },
        next_hop: dest(next_hop),
    }
}

fn alice() -> Party {
    party("alice", SBC_A, "public", PHONE_A)
}

fn bob() -> Party {
    party("bob", SBC_B, "core", PHONE_B)
}

/// Phone A's answer to the SBC's click-to-dial INVITE, with A's To tag and Contact.
fn reply_dialled_a(inv: &Message, code: u16, body: Option<&str>) -> Message {
    let mut r = Message::response_to(inv, code, "");
    let to = inv.header(&HeaderName::To).unwrap().to_owned();
    r.set_header(HeaderName::To, format!("{to};tag=alicetag"));
    if code < 300 {
        r.push_header(HeaderName::Contact, "<sip:alice@198.51.100.10:5060>");
    }
    with_sdp(r, body)
}

fn reason(msg: &Message) -> Option<&str> {
    msg.header(&HeaderName::Reason)
}

#[test]
fn the_snapshot_shows_an_answered_call_and_terminate_byes_both_legs_with_a_reason() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.advance(2_000);
    let calls = net.sbc.calls();
    let [c] = calls.as_slice() else {
        panic!("{calls:?}")
    };
    assert_eq!(c.state, CallState::Answered);
    assert!(!c.originated);
    assert_eq!(c.legs[0].call_id, "a-call-1@a.example.com");
    assert_eq!(Some(c.legs[1].call_id.as_str()), call.b_invite.call_id());
    assert_eq!(
        (c.legs[0].peer, c.legs[1].peer),
        (dest(PHONE_A), dest(PHONE_B))
    );
    assert_eq!(
        (c.legs[0].local, c.legs[1].local),
        (dest(SBC_A), dest(SBC_B))
    );
    assert_eq!(c.media_session, Some(SessionId(1)));
    assert_eq!(c.streams.len(), 1);
    assert_eq!(c.streams[0].local[0], "203.0.113.1:20000".parse().unwrap());
    assert_eq!(c.streams[0].local[1], "10.0.0.1:20002".parse().unwrap());
    assert_eq!(
        net.now.duration_since(c.answered.unwrap()),
        Duration::from_millis(2_000)
    );
    assert!(c.started <= c.answered.unwrap());

    net.sbc.terminate(net.now, c.key).unwrap();
    net.drain();
    let bye_a = net.one_a();
    let bye_b = net.one_b();
    for bye in [&bye_a, &bye_b] {
        assert_eq!(bye.method(), Some(&Method::Bye));
        assert_eq!(
            reason(bye),
            Some("SIP;cause=200;text=\"terminated by administrator\"")
        );
    }
    assert_eq!(bye_a.call_id(), Some("a-call-1@a.example.com"));
    assert_eq!(bye_b.call_id(), call.b_invite.call_id());
    assert!(net
        .ops()
        .iter()
        .any(|o| matches!(o, Op::Delete(SessionId(1)))));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Admin,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    assert!(net.sbc.calls().is_empty());
    assert_eq!(
        net.sbc.terminate(net.now, c.key),
        Err(ControlError::NoSuchCall)
    );
}

#[test]
fn terminating_a_ringing_call_cancels_leg_b_and_a_gets_487() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_invite = net.one_b();
    net.send_b(reply_b(&b_invite, 180, None));
    net.a();
    let key = net.sbc.calls()[0].key;
    assert_eq!(net.sbc.calls()[0].state, CallState::Proceeding);
    net.sbc.terminate(net.now, key).unwrap();
    net.drain();
    let cancel = net.one_b();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    net.send_b(reply_b(&cancel, 200, None));
    net.send_b(reply_b(&b_invite, 487, None));
    let v = net.a();
    assert_eq!(v.last().and_then(Message::status), Some(487));
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn click_to_dial_calls_a_then_b_and_b_answer_reaches_a_in_the_ack() {
    let mut net = Net::new();
    let key = net.sbc.originate(net.now, alice(), bob()).unwrap();
    net.drain();
    let a_inv = net.one_a();
    assert!(net.b().is_empty(), "B is called only once A answers");
    assert_eq!(a_inv.method(), Some(&Method::Invite));
    assert_eq!(a_inv.uri(), Some("sip:alice@198.51.100.10:5060"));
    assert!(a_inv.body().is_empty(), "flow I: no offer to A");
    assert!(a_inv.from().unwrap().uri.starts_with("sip:bob@"));
    assert!(
        a_inv
            .header(&HeaderName::Via)
            .unwrap()
            .contains("203.0.113.1:5060"),
        "sent from the A side"
    );
    assert!(matches!(net.events[..], [CallEvent::Started { call, .. }] if call == key));
    let snap = net.sbc.calls();
    assert_eq!(snap[0].state, CallState::Dialing);
    assert!(snap[0].originated);
    assert_eq!(snap[0].legs[0].call_id, a_inv.call_id().unwrap());
    assert_eq!(net.sbc.call_count(), 1);

    net.send_a(reply_dialled_a(&a_inv, 180, None));
    assert!(net.a().is_empty() && net.b().is_empty());
    net.send_a(reply_dialled_a(&a_inv, 200, Some(&sdp_a(1, "sendrecv"))));
    assert!(net.a().is_empty(), "A's ACK waits for B's answer");
    let b_inv = net.one_b();
    assert_eq!(b_inv.uri(), Some("sip:bob@10.0.0.20:5060"));
    assert_ne!(b_inv.call_id(), a_inv.call_id());
    assert!(b_inv.from().unwrap().uri.starts_with("sip:alice@"));
    let (ip, port, ..) = media_of(&b_inv);
    assert_eq!(
        (ip.as_str(), port),
        ("10.0.0.1", 20002),
        "A's offer via the relay"
    );
    let ops = net.ops();
    let [Op::Create(SessionId(1)), Op::Add(SessionId(1), legs)] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(
        legs[0].signal.remote_rtp,
        Some("198.51.100.10:49170".parse().unwrap())
    );
    assert_eq!(net.sbc.calls()[0].state, CallState::Proceeding);

    net.send_b(reply_b(&b_inv, 180, None));
    assert!(
        net.a().is_empty(),
        "nothing to relay to A: A answered already"
    );
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(4, "sendrecv"))));
    let ack_a = net.one_a();
    let ack_b = net.one_b();
    assert_eq!(ack_a.method(), Some(&Method::Ack));
    assert_eq!(ack_a.call_id(), a_inv.call_id());
    assert_eq!(ack_a.to().unwrap().tag(), Some("alicetag"));
    let (ip, port, ..) = media_of(&ack_a);
    assert_eq!(
        (ip.as_str(), port),
        ("203.0.113.1", 20000),
        "B's answer via the relay"
    );
    assert_eq!(ack_b.method(), Some(&Method::Ack));
    assert_eq!(ack_b.call_id(), b_inv.call_id());
    assert!(ack_b.body().is_empty());
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.remote_rtp, Some("10.0.0.20:30000".parse().unwrap()));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Answered { call }) if *call == key
    ));
    assert_eq!(net.sbc.calls()[0].state, CallState::Answered);

    // A ordinary call from here: B hangs up, A gets the BYE.
    net.send_b(from_b(Method::Bye, &b_inv, 2, "z9hG4bKb9", None));
    let ok = net.one_b();
    assert_eq!(ok.status(), Some(200));
    let bye = net.one_a();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.call_id(), a_inv.call_id());
    assert_eq!(bye.uri(), Some("sip:alice@198.51.100.10:5060"));
    assert_eq!(net.sbc.call_count(), 0);
    // Nothing but the BYE's retransmissions reaches A later: no stale ACK or INVITE.
    net.advance(40_000);
    let late: Vec<_> = net.a().into_iter().filter(|m| m.is_request()).collect();
    assert!(
        late.iter().all(|m| m.method() == Some(&Method::Bye)),
        "{late:?}"
    );
}

#[test]
fn click_to_dial_refused_by_a_ends_without_calling_b() {
    let mut net = Net::new();
    net.sbc.originate(net.now, alice(), bob()).unwrap();
    net.drain();
    let a_inv = net.one_a();
    net.send_a(reply_dialled_a(&a_inv, 486, None));
    let ack = net.one_a();
    assert_eq!(
        ack.method(),
        Some(&Method::Ack),
        "the transaction ACKs the 486"
    );
    assert!(net.b().is_empty());
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Rejected,
            code: 486,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    assert!(net.ops().is_empty(), "no relay session was needed");
}

#[test]
fn click_to_dial_refused_by_b_acks_and_byes_a() {
    let mut net = Net::new();
    net.sbc.originate(net.now, alice(), bob()).unwrap();
    net.drain();
    let a_inv = net.one_a();
    net.send_a(reply_dialled_a(&a_inv, 200, Some(&sdp_a(1, "sendrecv"))));
    let b_inv = net.one_b();
    net.send_b(reply_b(&b_inv, 486, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    let v = net.a();
    let methods: Vec<_> = v.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert!(net
        .ops()
        .iter()
        .any(|o| matches!(o, Op::Delete(SessionId(1)))));
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn terminating_a_click_to_dial_call_while_a_rings_cancels_a() {
    let mut net = Net::new();
    let key = net.sbc.originate(net.now, alice(), bob()).unwrap();
    net.drain();
    let a_inv = net.one_a();
    net.sbc.terminate(net.now, key).unwrap();
    net.drain();
    assert!(
        net.a().is_empty(),
        "no CANCEL before a provisional (RFC 3261 §9.1)"
    );
    net.send_a(reply_dialled_a(&a_inv, 180, None));
    let cancel = net.one_a();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.call_id(), a_inv.call_id());
    net.send_a(reply_a(&cancel, 200, None));
    net.send_a(reply_dialled_a(&a_inv, 487, None));
    assert_eq!(net.one_a().method(), Some(&Method::Ack));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Admin,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    assert!(net.b().is_empty());
}

#[test]
fn click_to_dial_refuses_a_bad_user() {
    let mut net = Net::new();
    let mut a = alice();
    a.user = "alice@192.0.2.9".into();
    assert_eq!(
        net.sbc.originate(net.now, a, bob()),
        Err(ControlError::BadUser("alice@192.0.2.9".into()))
    );
    net.drain();
    assert!(net.a().is_empty() && net.events.is_empty());
}

#[test]
fn click_to_dial_to_a_silent_a_times_out() {
    let mut net = Net::new();
    let key = net.sbc.originate(net.now, alice(), bob()).unwrap();
    net.drain();
    let a_inv = net.one_a();
    // Timer B (64·T1) with the INVITE retransmitted meanwhile (RFC 3261 §17.1.1.2).
    net.advance(31_000);
    assert_eq!(net.sbc.call_count(), 1);
    assert!(net.a().iter().all(|m| m.call_id() == a_inv.call_id()));
    net.advance(2_000);
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            call,
            reason: EndReason::Timeout,
            code: 408,
        }) if *call == key
    ));
    assert_eq!(net.sbc.call_count(), 0);
    assert!(net.b().is_empty());
}

/// Click-to-dial up to B ringing: A answered (its ACK waits), B sent 180.
fn dialled_and_b_ringing(net: &mut Net) -> (CallKey, Message, Message) {
    let key = net.sbc.originate(net.now, alice(), bob()).unwrap();
    net.drain();
    let a_inv = net.one_a();
    net.send_a(reply_dialled_a(&a_inv, 200, Some(&sdp_a(1, "sendrecv"))));
    let b_inv = net.one_b();
    net.send_b(reply_b(&b_inv, 180, None));
    assert!(net.a().is_empty());
    (key, a_inv, b_inv)
}

#[test]
fn terminating_a_click_to_dial_call_while_b_rings_cancels_b_and_byes_a() {
    let mut net = Net::new();
    let (key, a_inv, b_inv) = dialled_and_b_ringing(&mut net);
    net.sbc.terminate(net.now, key).unwrap();
    net.drain();
    let cancel = net.one_b();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    net.send_b(reply_b(&cancel, 200, None));
    net.send_b(reply_b(&b_inv, 487, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack), "the 487's ACK");
    let to_a = net.a();
    let methods: Vec<_> = to_a.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert!(to_a.iter().all(|m| m.call_id() == a_inv.call_id()));
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn a_click_to_dial_call_whose_b_answers_across_the_cancel_is_ended_on_both_legs() {
    let mut net = Net::new();
    let (key, a_inv, b_inv) = dialled_and_b_ringing(&mut net);
    net.sbc.terminate(net.now, key).unwrap();
    net.drain();
    let _cancel = net.one_b();
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(4, "sendrecv"))));
    let to_b = net.b();
    let methods: Vec<_> = to_b.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    let to_a = net.a();
    let methods: Vec<_> = to_a.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(
        methods,
        [Some(Method::Ack), Some(Method::Bye)],
        "A answered already: it gets its ACK and a BYE, not a 487"
    );
    assert!(to_a.iter().all(|m| m.call_id() == a_inv.call_id()));
    assert_eq!(net.sbc.call_count(), 0);
}
