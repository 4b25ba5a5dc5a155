//! Requests inside an answered call: re-INVITE and UPDATE (hold, glare, offers), INFO, MESSAGE, SUBSCRIBE and REFER with its NOTIFYs.

use super::*;

#[test]
fn reinvite_hold_and_resume_are_relayed_with_the_relay_updated() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // Hold from A: sendonly.
    net.send_a(from_a(
        Method::Invite,
        &call.a_ok,
        2,
        "z9hG4bKa4",
        Some(&sdp_a(2, "sendonly")),
    ));
    assert_eq!(net.one_a().status(), Some(100));
    let re = net.one_b();
    assert_eq!(re.method(), Some(&Method::Invite));
    assert_eq!(re.call_id(), call.b_invite.call_id());
    assert_eq!(re.to().unwrap().tag(), Some("btag"));
    assert!(re.cseq().unwrap().seq > call.b_invite.cseq().unwrap().seq);
    assert_eq!(re.header(&HeaderName::Contact), Some("<sip:10.0.0.1:5060>"));
    assert_eq!(re.uri(), Some("sip:bob@10.0.0.20:5060"));
    // Same relay port, direction kept, leg B's o= version bumped from 1.
    assert_eq!(
        media_of(&re),
        (
            "10.0.0.1".into(),
            20002,
            "sendonly".into(),
            Some(2),
            "10.0.0.1".into()
        )
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(sig), None])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::SendOnly);
    assert_eq!(sig.remote_rtp, Some("198.51.100.10:49170".parse().unwrap()));

    net.send_b(reply_b(&re, 200, Some(&sdp_b(8, "recvonly"))));
    let ok = net.one_a();
    assert_eq!((ok.status(), ok.cseq().unwrap().seq), (Some(200), 2));
    assert_eq!(
        media_of(&ok),
        (
            "203.0.113.1".into(),
            20000,
            "recvonly".into(),
            Some(8),
            "203.0.113.1".into()
        )
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::RecvOnly);
    assert!(net.b().is_empty());
    net.send_a(from_a(Method::Ack, &ok, 2, "z9hG4bKa5", None));
    let ack = net.one_b();
    assert_eq!(
        (ack.method(), ack.cseq().unwrap().seq),
        (Some(&Method::Ack), re.cseq().unwrap().seq)
    );

    // Resume from A: sendrecv again.
    net.send_a(from_a(
        Method::Invite,
        &call.a_ok,
        3,
        "z9hG4bKa6",
        Some(&sdp_a(3, "sendrecv")),
    ));
    net.a();
    let re2 = net.one_b();
    assert_eq!(media_of(&re2).2, "sendrecv");
    assert_eq!(media_of(&re2).3, Some(3));
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(sig), None])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::SendRecv);
    net.send_b(reply_b(&re2, 200, Some(&sdp_b(9, "sendrecv"))));
    let ok2 = net.one_a();
    assert_eq!(media_of(&ok2).3, Some(9));
    net.send_a(from_a(Method::Ack, &ok2, 3, "z9hG4bKa7", None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn hold_from_b_reaches_a() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.send_b(from_b(
        Method::Invite,
        &call.b_invite,
        1,
        "z9hG4bKb2",
        Some(&sdp_b(8, "inactive")),
    ));
    assert_eq!(net.one_b().status(), Some(100));
    let re = net.one_a();
    assert_eq!(re.call_id(), Some("a-call-1@a.example.com"));
    assert_eq!(re.uri(), Some("sip:alice@198.51.100.10:5060"));
    assert_eq!(
        media_of(&re),
        (
            "203.0.113.1".into(),
            20000,
            "inactive".into(),
            Some(8),
            "203.0.113.1".into()
        )
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::Inactive);
    net.send_a(reply_a(&re, 200, Some(&sdp_a(2, "inactive"))));
    let ok = net.one_b();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(media_of(&ok).2, "inactive");
    assert_eq!(media_of(&ok).3, Some(2));
    // A's 200 waits for B's ACK before the SBC ACKs A.
    assert!(net.a().is_empty());
    let mut ack = from_b(Method::Ack, &call.b_invite, 1, "z9hG4bKb3", None);
    ack.set_header(
        HeaderName::To,
        ok.header(&HeaderName::To).unwrap().to_owned(),
    );
    net.send_b(ack);
    let ack_a = net.one_a();
    assert_eq!(ack_a.method(), Some(&Method::Ack));
}

#[test]
fn in_dialog_info_and_message_are_relayed_with_their_answers() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // INFO (DTMF) from A: relayed in B's dialog with its body; B's 200 goes back to A.
    let mut info = from_a(Method::Info, &call.a_ok, 2, "z9hG4bKa5", None);
    info.set_body(
        bytes::Bytes::from_static(b"Signal=5\r\nDuration=160\r\n"),
        Some("application/dtmf-relay"),
    );
    net.send_a(info);
    let relayed = net.one_b();
    assert_eq!(relayed.method(), Some(&Method::Info));
    assert_eq!(relayed.call_id(), call.b_invite.call_id());
    assert_eq!(relayed.to().unwrap().tag(), Some("btag"));
    assert_eq!(relayed.content_type(), Some("application/dtmf-relay"));
    assert_eq!(relayed.body().as_ref(), b"Signal=5\r\nDuration=160\r\n");
    assert!(!String::from_utf8_lossy(&relayed.to_bytes()).contains("198.51.100.10"));
    net.send_b(reply_b(&relayed, 200, None));
    let ok = net.one_a();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "INFO")
    );
    assert_eq!(ok.call_id(), Some("a-call-1@a.example.com"));
    // MESSAGE from A that B refuses: the code comes back.
    let mut msg = from_a(Method::Message, &call.a_ok, 3, "z9hG4bKa6", None);
    msg.set_body(bytes::Bytes::from_static(b"hello"), Some("text/plain"));
    net.send_a(msg);
    let relayed = net.one_b();
    assert_eq!(relayed.method(), Some(&Method::Message));
    assert_eq!(relayed.body().as_ref(), b"hello");
    net.send_b(reply_b(&relayed, 415, None));
    let rsp = net.one_a();
    assert_eq!(
        (rsp.status(), rsp.cseq().unwrap().method),
        (Some(415), "MESSAGE")
    );
    assert_eq!(net.sbc.call_count(), 1, "the call goes on");
}

#[test]
fn relayed_info_that_b_never_answers_gets_408() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.send_a(from_a(Method::Info, &call.a_ok, 2, "z9hG4bKa7", None));
    assert_eq!(net.one_b().method(), Some(&Method::Info));
    // Timer F (64*T1) fires on leg B's INFO; retransmissions to B are drained on the way.
    net.advance(33_000);
    net.b();
    let v = net.a();
    let rsp = v.last().expect("an answer to A");
    assert_eq!(
        (rsp.status(), rsp.cseq().unwrap().method),
        (Some(408), "INFO")
    );
}

#[test]
fn update_with_an_offer_is_relayed_and_anchored_like_a_reinvite() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // UPDATE from A putting the call on hold (RFC 3311).
    net.send_a(from_a(
        Method::Update,
        &call.a_ok,
        2,
        "z9hG4bKa8",
        Some(&sdp_a(2, "sendonly")),
    ));
    let up = net.one_b();
    assert_eq!(up.method(), Some(&Method::Update));
    assert_eq!(up.call_id(), call.b_invite.call_id());
    let (ip, port, dir, _, _) = media_of(&up);
    assert_eq!(
        (ip.as_str(), port, dir.as_str()),
        ("10.0.0.1", 20002, "sendonly")
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(sig), None])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::SendOnly);
    // B's answer comes back to A anchored on A's side, and the relay learns B's direction.
    net.send_b(reply_b(&up, 200, Some(&sdp_b(8, "recvonly"))));
    let ok = net.one_a();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "UPDATE")
    );
    let (ip, port, dir, _, _) = media_of(&ok);
    assert_eq!(
        (ip.as_str(), port, dir.as_str()),
        ("203.0.113.1", 20000, "recvonly")
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::RecvOnly);
}

#[test]
fn reinvite_glare_gets_491_and_the_pending_one_completes() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // A re-INVITEs; the SBC sends it on to B.
    net.send_a(from_a(
        Method::Invite,
        &call.a_ok,
        2,
        "z9hG4bKa10",
        Some(&sdp_a(2, "sendonly")),
    ));
    assert_eq!(net.one_a().status(), Some(100));
    let re = net.one_b();
    assert_eq!(re.method(), Some(&Method::Invite));
    // Meanwhile B re-INVITEs too (glare): the SBC has an INVITE pending on B's dialog.
    net.send_b(from_b(
        Method::Invite,
        &call.b_invite,
        2,
        "z9hG4bKb10",
        Some(&sdp_b(9, "sendonly")),
    ));
    let to_b = net.b();
    let statuses: Vec<_> = to_b.iter().filter_map(Message::status).collect();
    assert!(statuses.contains(&491), "{to_b:?}");
    assert!(
        net.a().is_empty(),
        "B's colliding re-INVITE does not reach A"
    );
    // The first re-INVITE still completes end to end.
    net.send_b(reply_b(&re, 200, Some(&sdp_b(8, "recvonly"))));
    let ok = net.one_a();
    assert_eq!((ok.status(), ok.cseq().unwrap().seq), (Some(200), 2));
}

#[test]
fn reinvite_without_sdp_gets_the_offer_in_the_200_and_the_answer_in_the_ack() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // A re-INVITE without an offer (RFC 3261 §14.1): it crosses without a body.
    net.send_a(from_a(Method::Invite, &call.a_ok, 2, "z9hG4bKa4", None));
    assert_eq!(net.one_a().status(), Some(100));
    let re = net.one_b();
    assert_eq!(re.method(), Some(&Method::Invite));
    assert!(re.body().is_empty(), "no offer to forward");
    assert_eq!(re.content_type(), None);
    assert!(net.ops().is_empty());
    // B's offer comes in its 200: anchored and sent to A on A's side, version bumped.
    net.send_b(reply_b(&re, 200, Some(&sdp_b(8, "sendonly"))));
    let ok = net.one_a();
    assert_eq!((ok.status(), ok.cseq().unwrap().seq), (Some(200), 2));
    assert_eq!(
        media_of(&ok),
        (
            "203.0.113.1".into(),
            20000,
            "sendonly".into(),
            Some(8),
            "203.0.113.1".into()
        )
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::SendOnly);
    assert!(net.b().is_empty(), "B's 200 waits for A's answer");
    // A's answer in its ACK crosses in B's ACK, on B's side of the relay.
    net.send_a(from_a(
        Method::Ack,
        &ok,
        2,
        "z9hG4bKa5",
        Some(&sdp_a(2, "recvonly")),
    ));
    let ack = net.one_b();
    assert_eq!(
        (ack.method(), ack.cseq().unwrap().seq),
        (Some(&Method::Ack), re.cseq().unwrap().seq)
    );
    assert_eq!(
        media_of(&ack),
        (
            "10.0.0.1".into(),
            20002,
            "recvonly".into(),
            Some(2),
            "10.0.0.1".into()
        )
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(sig), None])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.direction, Direction::RecvOnly);
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn reinvite_adding_then_removing_video_adds_a_relay_stream_and_keeps_port_zero() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // Add video (the seed's "add video"): a second relay stream, both legs' ports in the SDPs.
    let offer = sdp_av("alice", 2, "198.51.100.10", 49170, 49172);
    net.send_a(from_a(
        Method::Invite,
        &call.a_ok,
        2,
        "z9hG4bKa4",
        Some(&offer),
    ));
    net.a();
    let re = net.one_b();
    assert_eq!(ports_of(&re), vec![20002, 20006]);
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(_), None]), Op::Add(SessionId(1), legs)] =
        ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(
        legs[0].signal.remote_rtp,
        Some("198.51.100.10:49172".parse().unwrap())
    );
    assert_eq!(legs[1].signal.remote_rtp, None);
    let answer = sdp_av("bob", 8, "10.0.0.20", 30000, 30002);
    net.send_b(reply_b(&re, 200, Some(&answer)));
    let ok = net.one_a();
    assert_eq!(ports_of(&ok), vec![20000, 20004]);
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(_)]), Op::Update(SessionId(1), 1, [None, Some(video)])] =
        ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(video.remote_rtp, Some("10.0.0.20:30002".parse().unwrap()));
    net.send_a(from_a(Method::Ack, &ok, 2, "z9hG4bKa5", None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));

    // Remove video: port 0 crosses as port 0, and the relay leg stops sending there.
    let offer = sdp_av("alice", 3, "198.51.100.10", 49170, 0);
    net.send_a(from_a(
        Method::Invite,
        &call.a_ok,
        3,
        "z9hG4bKa6",
        Some(&offer),
    ));
    net.a();
    let re = net.one_b();
    assert_eq!(ports_of(&re), vec![20002, 0]);
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(_), None]), Op::Update(SessionId(1), 1, [Some(video), None])] =
        ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(video.remote_rtp, None);
    let answer = sdp_av("bob", 9, "10.0.0.20", 30000, 0);
    net.send_b(reply_b(&re, 200, Some(&answer)));
    let ok = net.one_a();
    assert_eq!(ports_of(&ok), vec![20000, 0]);
    net.send_a(from_a(Method::Ack, &ok, 3, "z9hG4bKa7", None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn refer_is_relayed_and_its_notifies_come_back() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.send_a(with_headers(
        from_a(Method::Refer, &call.a_ok, 2, "z9hG4bKf1", None),
        &[
            ("Refer-To", "<sip:carol@203.0.113.1:5060>"),
            ("Referred-By", "\"Alice\" <sip:alice@a.example.com>"),
        ],
    ));
    let refer = net.one_b();
    assert_eq!(refer.method(), Some(&Method::Refer));
    assert_eq!(refer.call_id(), call.b_invite.call_id());
    assert_eq!(
        refer.header(&HeaderName::ReferTo),
        Some("<sip:carol@203.0.113.1:5060>")
    );
    assert_eq!(
        refer.header(&HeaderName::ReferredBy),
        Some("\"Alice\" <sip:alice@10.0.0.1>"),
        "Referred-By keeps the user, not A's domain"
    );
    net.send_b(reply_b(&refer, 202, None));
    let accepted = net.one_a();
    assert_eq!(
        (accepted.status(), accepted.cseq().unwrap().method),
        (Some(202), "REFER")
    );
    // The implicit subscription's NOTIFYs come back to A, in A's dialog, with their bodies.
    for (cseq, state, frag) in [
        (1, "active;expires=60", "SIP/2.0 100 Trying\r\n"),
        (2, "terminated;reason=noresource", "SIP/2.0 200 OK\r\n"),
    ] {
        let branch = format!("z9hG4bKn{cseq}");
        net.send_b(notify_b(&call.b_invite, cseq, &branch, state, frag));
        let n = net.one_a();
        assert_eq!(n.method(), Some(&Method::Notify));
        assert_eq!(n.call_id(), Some("a-call-1@a.example.com"));
        assert_eq!(n.to().unwrap().tag(), Some("atag"));
        assert_eq!(n.header(&HeaderName::Event), Some("refer"));
        assert_eq!(n.header(&HeaderName::SubscriptionState), Some(state));
        assert_eq!(n.content_type(), Some("message/sipfrag"));
        assert_eq!(n.body().as_ref(), frag.as_bytes());
        net.send_a(reply_a(&n, 200, None));
        let ok = net.one_b();
        assert_eq!(
            (
                ok.status(),
                ok.cseq().unwrap().method,
                ok.cseq().unwrap().seq
            ),
            (Some(200), "NOTIFY", cseq)
        );
    }
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn a_replaces_in_refer_to_is_mapped_to_the_far_leg_or_refused() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    // A second call from A (attended transfer: A is talking to both).
    let second = String::from_utf8(invite_a(70).to_bytes().to_vec())
        .unwrap()
        .replace("a-call-1@", "a-call-2@")
        .replace("z9hG4bKa1", "z9hG4bKc1");
    net.send_a(parse(second.as_bytes()));
    net.a();
    let b2 = net.one_b();
    let mut ok = reply_b(&b2, 200, Some(&sdp_b(1, "sendrecv")));
    let to = b2.header(&HeaderName::To).unwrap().to_owned();
    ok.set_header(HeaderName::To, format!("{to};tag=ctag"));
    net.send_b(ok);
    let a2_ok = net.one_a();
    net.send_a(from_a(Method::Ack, &a2_ok, 1, "z9hG4bKc2", None));
    net.b();
    // A names call 2 as it knows it: A's Call-ID, the SBC's tag as to-tag, its own as from-tag.
    let sbc_tag = a2_ok.to().unwrap().tag().unwrap().to_owned();
    let refer_to =
        format!("<sip:bob@203.0.113.1?Replaces=a-call-2%40a.example.com%3Bto-tag%3D{sbc_tag}%3Bfrom-tag%3Datag>");
    net.send_a(with_headers(
        from_a(Method::Refer, &call.a_ok, 2, "z9hG4bKf2", None),
        &[("Refer-To", &refer_to)],
    ));
    let refer = net.one_b();
    assert_eq!(refer.method(), Some(&Method::Refer));
    assert_eq!(refer.call_id(), call.b_invite.call_id());
    let b2_tag = b2.from().unwrap().tag().unwrap();
    let expected = format!(
        "<sip:bob@203.0.113.1?Replaces={}%3Bto-tag%3Dctag%3Bfrom-tag%3D{b2_tag}>",
        b2.call_id().unwrap().replace('@', "%40")
    );
    assert_eq!(refer.header(&HeaderName::ReferTo), Some(expected.as_str()));
    let text = String::from_utf8(refer.to_bytes().to_vec()).unwrap();
    assert!(!text.contains("a-call-2"), "A's Call-ID leaked: {text}");
    net.send_b(reply_b(&refer, 202, None));
    assert_eq!(net.one_a().status(), Some(202));

    // A Replaces naming a dialog the SBC does not have: 403, nothing to B.
    net.send_a(with_headers(
        from_a(Method::Refer, &call.a_ok, 3, "z9hG4bKf3", None),
        &[(
            "Refer-To",
            "<sip:bob@203.0.113.1?Replaces=nope%3Bto-tag%3Dx%3Bfrom-tag%3Dy>",
        )],
    ));
    let rsp = net.one_a();
    assert_eq!(
        (rsp.status(), rsp.cseq().unwrap().method),
        (Some(403), "REFER")
    );
    assert!(net.b().is_empty());
    // No Refer-To at all: 400 (RFC 3515 §2.4.1).
    net.send_a(from_a(Method::Refer, &call.a_ok, 4, "z9hG4bKf4", None));
    assert_eq!(net.one_a().status(), Some(400));
    assert!(net.b().is_empty());
}

#[test]
fn an_unchanged_reinvite_from_b_is_answered_locally_only_when_the_answer_fits() {
    let mut net = Net::with_config(timer_config(90));
    let b_timer = [
        ("Session-Expires", "1200;refresher=uas"),
        ("Supported", "timer"),
    ];
    let call = call_with(&mut net, &[], &b_timer);
    // B refreshes with the very SDP of its 200: the SBC answers with what it offered B.
    net.send_b(with_headers(
        from_b(
            Method::Invite,
            &call.b_invite,
            1,
            "z9hG4bKu1",
            Some(&sdp_b(7, "sendrecv")),
        ),
        &[("Session-Expires", "1200;refresher=uac")],
    ));
    let to_b = net.b();
    let ok = to_b.last().unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.body(), call.b_invite.body());
    assert_eq!(
        ok.header(&HeaderName::SessionExpires),
        Some("1200;refresher=uac")
    );
    assert!(net.a().is_empty());

    // B kept only PCMU of the SBC's PCMU + telephone-event offer: offering that back, the
    // SBC's old offer is no valid answer, so the refresh goes to A like any re-INVITE.
    let mut net = Net::with_config(timer_config(90));
    net.send_a(invite_a(70));
    net.a();
    let b_invite = net.one_b();
    let pcmu_only = "v=0\r\no=bob 1000 7 IN IP4 10.0.0.20\r\ns=-\r\nc=IN IP4 10.0.0.20\r\n\
                     t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
    net.send_b(with_headers(
        reply_b(&b_invite, 200, Some(pcmu_only)),
        &b_timer,
    ));
    let a_ok = net.one_a();
    net.send_a(from_a(Method::Ack, &a_ok, 1, "z9hG4bKa2", None));
    net.b();
    net.send_b(with_headers(
        from_b(Method::Invite, &b_invite, 1, "z9hG4bKu2", Some(pcmu_only)),
        &[("Session-Expires", "1200;refresher=uac")],
    ));
    let re = net.one_a();
    assert_eq!(re.method(), Some(&Method::Invite));
}

#[test]
fn in_dialog_subscribe_is_relayed_with_event_and_expires() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.send_a(with_headers(
        from_a(Method::Subscribe, &call.a_ok, 2, "z9hG4bKs1", None),
        &[("Event", "dialog"), ("Expires", "600")],
    ));
    let sub = net.one_b();
    assert_eq!(sub.method(), Some(&Method::Subscribe));
    assert_eq!(sub.header(&HeaderName::Event), Some("dialog"));
    assert_eq!(sub.header(&HeaderName::Expires), Some("600"));
    net.send_b(with_headers(
        reply_b(&sub, 200, None),
        &[("Expires", "300")],
    ));
    let ok = net.one_a();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "SUBSCRIBE")
    );
    assert_eq!(ok.header(&HeaderName::Expires), Some("300"));
    assert_eq!(
        ok.header(&HeaderName::Contact),
        Some("<sip:203.0.113.1:5060>"),
        "a 2xx to SUBSCRIBE names the SBC as A's target"
    );
}
