//! Reliable provisionals (RFC 3262) and downstream forking (RFC 3261 §13.2.2.4) through the B2BUA.

use super::*;

#[test]
fn reliable_183_with_sdp_prack_and_answer_are_relayed_with_rseq_and_rack_mapped() {
    let mut net = Net::new();
    net.send_a(invite_a_100rel(HeaderName::Supported));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    assert_eq!(
        tokens(&b_inv, &HeaderName::Supported),
        ["replaces", "100rel"]
    );
    assert!(!b_inv.has(&HeaderName::Require));
    net.ops();

    // B: 183 reliable (RSeq 777) with its answer.
    let b_183 = fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:bob@10.0.0.20:5060",
        Some(777),
        Some(&sdp_b(7, "sendrecv")),
    );
    net.send_b(b_183.clone());
    let a_183 = net.one_a();
    assert_eq!(a_183.status(), Some(183));
    assert!(a_183.has_token(&HeaderName::Require, "100rel"));
    let a_rseq = a_183.rseq().expect("RSeq on leg A");
    assert!((1..1 << 31).contains(&a_rseq));
    assert!(
        !a_183.has_token(&HeaderName::Supported, "100rel"),
        "B's 100rel tag does not cross"
    );
    assert_eq!(tokens(&a_183, &HeaderName::Supported), ["timer"]);
    assert_eq!(
        media_of(&a_183),
        (
            "203.0.113.1".into(),
            20000,
            "sendrecv".into(),
            Some(7),
            "203.0.113.1".into()
        )
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.remote_rtp, Some("10.0.0.20:30000".parse().unwrap()));
    assert!(net.b().is_empty(), "B's 183 is PRACKed when A PRACKs");

    // A PRACKs with A's RSeq; B gets a PRACK in its early dialog with B's RSeq.
    net.send_a(prack_a(&a_183, 2, "z9hG4bKpa1", None));
    assert!(net.a().is_empty());
    let b_prack = net.one_b();
    assert_eq!(b_prack.method(), Some(&Method::Prack));
    assert_eq!(b_prack.uri(), Some("sip:bob@10.0.0.20:5060"));
    assert_eq!(b_prack.call_id(), b_inv.call_id());
    assert_eq!(b_prack.to().unwrap().tag(), Some("btag"));
    let b_seq = b_inv.cseq().unwrap().seq;
    assert_eq!(b_prack.cseq().unwrap().seq, b_seq + 1);
    assert_eq!(
        b_prack.header(&HeaderName::RAck),
        Some(format!("777 {b_seq} INVITE").as_str())
    );
    assert!(!b_prack.has_token(&HeaderName::Supported, "100rel"));
    let text = String::from_utf8(b_prack.to_bytes().to_vec()).unwrap();
    assert!(!text.contains(&format!("{a_rseq} 1 INVITE")), "{text}");
    assert!(!text.contains("198.51.100.10"), "{text}");

    // B's 200 to the PRACK answers A's.
    net.send_b(reply_b(&b_prack, 200, None));
    let a_prack_ok = net.one_a();
    assert_eq!(
        (a_prack_ok.status(), a_prack_ok.cseq().unwrap().method),
        (Some(200), "PRACK")
    );
    assert_eq!(a_prack_ok.cseq().unwrap().seq, 2);

    // B answers the INVITE repeating its SDP: A gets it unchanged, in the same dialog.
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(7, "sendrecv"))));
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    assert_eq!(a_ok.to().unwrap().tag(), a_183.to().unwrap().tag());
    assert_eq!(a_ok.body(), a_183.body(), "same answer, same o= version");
    assert!(net.ops().is_empty(), "the relay already has this answer");
    assert!(!a_ok.has(&HeaderName::RSeq));
    assert!(!a_ok.has_token(&HeaderName::Require, "100rel"));
    net.send_a(from_a(Method::Ack, &a_ok, 1, "z9hG4bKa2", None));
    let ack = net.one_b();
    assert_eq!(
        (ack.method(), ack.cseq().unwrap().seq),
        (Some(&Method::Ack), b_seq)
    );
    // The 183 is not retransmitted any more.
    net.advance(40_000);
    assert!(net.a().is_empty() && net.b().is_empty());
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn delayed_offer_in_a_reliable_183_is_answered_in_the_pracks() {
    let mut net = Net::new();
    let mut inv = invite_a_100rel(HeaderName::Supported);
    inv.set_body(bytes::Bytes::new(), None);
    net.send_a(inv);
    net.a();
    let b_inv = net.one_b();
    assert!(b_inv.body().is_empty());
    assert!(b_inv.has_token(&HeaderName::Supported, "100rel"));
    net.ops();
    // B offers in its reliable 183: anchored on A's side.
    net.send_b(fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:bob@10.0.0.20:5060",
        Some(1),
        Some(&sdp_b(3, "sendrecv")),
    ));
    let a_183 = net.one_a();
    assert_eq!(media_of(&a_183).0, "203.0.113.1");
    let ops = net.ops();
    let [Op::Add(SessionId(1), legs)] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(
        legs[1].signal.remote_rtp,
        Some("10.0.0.20:30000".parse().unwrap())
    );
    // A answers in its PRACK: rewritten to the relay's B side in B's PRACK.
    net.send_a(prack_a(
        &a_183,
        2,
        "z9hG4bKpa2",
        Some(&sdp_a(1, "sendrecv")),
    ));
    let b_prack = net.one_b();
    assert_eq!(b_prack.method(), Some(&Method::Prack));
    let (ip, port, ..) = media_of(&b_prack);
    assert_eq!((ip.as_str(), port), ("10.0.0.1", 20002));
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [Some(sig), None])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.remote_rtp, Some("198.51.100.10:49170".parse().unwrap()));
    // A new offer in B's 200 to the PRACK would come back anchored too: here an SDP-less 200.
    net.send_b(reply_b(&b_prack, 200, None));
    assert_eq!(net.one_a().status(), Some(200));
}

#[test]
fn reliable_provisional_is_retransmitted_to_a_until_prack() {
    let mut net = Net::new();
    net.send_a(invite_a_100rel(HeaderName::Supported));
    net.a();
    let b_inv = net.one_b();
    let b_180 = fork_reply(&b_inv, 180, "btag", "sip:bob@10.0.0.20:5060", Some(5), None);
    net.send_b(b_180.clone());
    let first = net.one_a();
    assert!(first.rseq().is_some());
    net.advance(499);
    assert!(net.a().is_empty());
    net.advance(1);
    assert_eq!(net.one_a(), first, "at T1");
    // B retransmits its own 180 (we have not PRACKed it): not relayed again.
    net.send_b(b_180.clone());
    assert!(net.a().is_empty() && net.b().is_empty());
    net.advance(999);
    assert!(net.a().is_empty());
    net.advance(1);
    assert_eq!(net.one_a(), first, "2*T1 later");
    net.advance(2_000);
    assert_eq!(net.one_a(), first, "4*T1 later");
    // A PRACK stops it.
    net.send_a(prack_a(&first, 2, "z9hG4bKpa3", None));
    let prack = net.one_b();
    assert_eq!(prack.method(), Some(&Method::Prack));
    net.send_b(reply_b(&prack, 200, None));
    assert_eq!(net.one_a().status(), Some(200));
    net.advance(4_000);
    net.advance(8_000);
    net.advance(16_000);
    assert!(net.a().is_empty());
    // A second PRACK for the same RSeq matches nothing (RFC 3262 §3).
    net.send_a(prack_a(&first, 3, "z9hG4bKpa4", None));
    assert_eq!(net.one_a().status(), Some(481));
    assert!(net.b().is_empty());
}

#[test]
fn reliable_provisional_never_pracked_gets_a_5xx_at_64_t1_and_b_is_cancelled() {
    let mut net = Net::new();
    net.send_a(invite_a_100rel(HeaderName::Require));
    net.a();
    let b_inv = net.one_b();
    assert!(b_inv.has_token(&HeaderName::Require, "100rel"));
    assert!(b_inv.has_token(&HeaderName::Supported, "100rel"));
    net.ops();
    net.send_b(fork_reply(
        &b_inv,
        180,
        "btag",
        "sip:bob@10.0.0.20:5060",
        Some(1),
        None,
    ));
    assert_eq!(net.one_a().status(), Some(180));
    let mut sent_at = Vec::new();
    let mut final_at = None;
    for ms in (100..=32_000).step_by(100) {
        net.advance(100);
        for m in net.a() {
            match m.status() {
                Some(180) => sent_at.push(ms),
                Some(500) => final_at = Some(ms),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(sent_at, [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    assert_eq!(final_at, Some(32_000));
    let cancel = net.one_b();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Timeout,
            code: 500,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn without_100rel_from_a_the_sbc_pracks_b_itself_and_relays_a_plain_18x() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    assert_eq!(tokens(&b_inv, &HeaderName::Supported), ["100rel"]);
    net.send_b(fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:bob@10.0.0.20:5060",
        Some(42),
        Some(&sdp_b(2, "sendrecv")),
    ));
    let a_183 = net.one_a();
    assert_eq!(a_183.status(), Some(183));
    assert!(!a_183.has(&HeaderName::RSeq));
    assert!(!a_183.has_token(&HeaderName::Require, "100rel"));
    assert_eq!(media_of(&a_183).1, 20000);
    let prack = net.one_b();
    assert_eq!(prack.method(), Some(&Method::Prack));
    let b_seq = b_inv.cseq().unwrap().seq;
    assert_eq!(
        prack.header(&HeaderName::RAck),
        Some(format!("42 {b_seq} INVITE").as_str())
    );
    assert!(prack.body().is_empty());
    net.send_b(reply_b(&prack, 200, None));
    assert!(
        net.a().is_empty(),
        "the SBC's own PRACK is answered to the SBC"
    );
    // No retransmission towards A for a plain 18x.
    net.advance(2_000);
    assert!(net.a().is_empty());
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(2, "sendrecv"))));
    let a_ok = net.one_a();
    assert_eq!(a_ok.body(), a_183.body());

    // A delayed-offer INVITE without 100rel: B is not offered it.
    let mut net = Net::new();
    let mut inv = invite_a(70);
    inv.set_body(bytes::Bytes::new(), None);
    inv.push_header(HeaderName::Supported, "replaces");
    net.send_a(inv);
    let b_inv = net.one_b();
    assert_eq!(tokens(&b_inv, &HeaderName::Supported), ["replaces"]);
}

#[test]
fn two_forks_get_two_early_dialogs_on_a_and_the_first_2xx_wins_in_its_own() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    net.ops();
    let (c1, c2) = ("sip:bob@10.0.0.20:5060", "sip:bob@10.0.0.21:5060");
    net.send_b(fork_reply(&b_inv, 180, "fork1", c1, None, None));
    net.send_b(fork_reply(&b_inv, 180, "fork2", c2, None, None));
    let ringing = net.a();
    assert_eq!(ringing.len(), 2, "{ringing:?}");
    let tag1 = ringing[0].to().unwrap().tag().unwrap().to_owned();
    let tag2 = ringing[1].to().unwrap().tag().unwrap().to_owned();
    assert_ne!(tag1, tag2, "A sees two early dialogs");
    for r in &ringing {
        let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
        assert!(
            !text.contains("fork") && !text.contains("10.0.0.2"),
            "{text}"
        );
    }
    // A fork's retransmitted 180 stays in its dialog.
    net.send_b(fork_reply(&b_inv, 180, "fork1", c1, None, None));
    assert_eq!(net.one_a().to().unwrap().tag(), Some(tag1.as_str()));

    // Early media from both: the relay follows the latest SDP.
    let sdp_f2 = sdp("bob2", 4, "10.0.0.21", 31000, "sendrecv");
    net.send_b(fork_reply(&b_inv, 183, "fork2", c2, None, Some(&sdp_f2)));
    let a_183_f2 = net.one_a();
    assert_eq!(a_183_f2.to().unwrap().tag(), Some(tag2.as_str()));
    net.send_b(fork_reply(
        &b_inv,
        183,
        "fork1",
        c1,
        None,
        Some(&sdp_b(9, "sendrecv")),
    ));
    assert_eq!(net.one_a().to().unwrap().tag(), Some(tag1.as_str()));
    let remotes: Vec<_> = net
        .ops()
        .iter()
        .filter_map(|op| match op {
            Op::Update(SessionId(1), 0, [None, Some(sig)]) => sig.remote_rtp,
            _ => None,
        })
        .collect();
    assert_eq!(
        remotes,
        [
            "10.0.0.21:31000".parse().unwrap(),
            "10.0.0.20:30000".parse().unwrap()
        ]
    );

    // Fork 2 answers: A's 200 is in fork 2's A dialog, with fork 2's SDP as first sent there,
    // and the relay points back at fork 2.
    let mut ok2 = fork_reply(&b_inv, 200, "fork2", c2, None, Some(&sdp_f2));
    ok2.remove_headers(&HeaderName::Supported);
    net.send_b(ok2);
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    assert_eq!(a_ok.to().unwrap().tag(), Some(tag2.as_str()));
    assert_eq!(a_ok.body(), a_183_f2.body());
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.remote_rtp, Some("10.0.0.21:31000".parse().unwrap()));
    net.send_a(from_a(Method::Ack, &a_ok, 1, "z9hG4bKa2", None));
    let ack = net.one_b();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.to().unwrap().tag(), Some("fork2"));
    assert_eq!(ack.uri(), Some(c2));

    // Fork 1 answers late: ACKed and hung up; A hears nothing.
    net.send_b(fork_reply(
        &b_inv,
        200,
        "fork1",
        c1,
        None,
        Some(&sdp_b(9, "sendrecv")),
    ));
    let to_b = net.b();
    let methods: Vec<_> = to_b.iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)], "{to_b:?}");
    assert!(to_b.iter().all(|m| m.to().unwrap().tag() == Some("fork1")));
    assert!(net.a().is_empty());
    net.send_b(reply_b(&to_b[1], 200, None));
    // Fork 1's A dialog ended with the final response: a request in it gets 481.
    let mut stale = from_a(Method::Info, &ringing[0], 2, "z9hG4bKa3", None);
    stale.set_body(bytes::Bytes::new(), None);
    net.send_a(stale);
    assert_eq!(net.one_a().status(), Some(481));
    // The winner's dialog carries the call: A's BYE reaches fork 2.
    net.send_a(from_a(Method::Bye, &a_ok, 2, "z9hG4bKa4", None));
    assert_eq!(net.one_a().status(), Some(200));
    let bye = net.one_b();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.to().unwrap().tag(), Some("fork2"));
    assert_eq!(net.sbc.call_count(), 0);
    assert_eq!(net.sbc.dialog_count(), 0, "no early dialog left behind");
}

#[test]
fn cancel_with_two_forks_ringing_ends_every_early_dialog() {
    let mut net = Net::new();
    let a_inv = invite_a(70);
    net.send_a(a_inv.clone());
    net.a();
    let b_inv = net.one_b();
    net.send_b(fork_reply(
        &b_inv,
        180,
        "fork1",
        "sip:b@10.0.0.20",
        None,
        None,
    ));
    net.send_b(fork_reply(
        &b_inv,
        180,
        "fork2",
        "sip:b@10.0.0.21",
        None,
        None,
    ));
    assert_eq!(net.a().len(), 2);
    assert_eq!(net.sbc.dialog_count(), 4, "two early dialogs per leg");
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
    let b_cancel = net.one_b();
    net.send_b(reply_b(&b_cancel, 200, None));
    net.send_b(fork_reply(
        &b_inv,
        487,
        "fork1",
        "sip:b@10.0.0.20",
        None,
        None,
    ));
    assert_eq!(net.one_a().status(), Some(487));
    assert_eq!(net.sbc.call_count(), 0);
    assert_eq!(net.sbc.dialog_count(), 0);
}

#[test]
fn reliable_provisionals_from_two_forks_are_pracked_in_their_own_dialogs() {
    let mut net = Net::new();
    net.send_a(invite_a_100rel(HeaderName::Supported));
    net.a();
    let b_inv = net.one_b();
    let (c1, c2) = ("sip:bob@10.0.0.20:5060", "sip:bob@10.0.0.21:5060");
    net.send_b(fork_reply(&b_inv, 180, "fork1", c1, Some(10), None));
    net.send_b(fork_reply(&b_inv, 180, "fork2", c2, Some(20), None));
    let ringing = net.a();
    assert_eq!(ringing.len(), 2);
    assert_ne!(
        ringing[0].to().unwrap().tag(),
        ringing[1].to().unwrap().tag()
    );
    // A PRACKs fork 2's first: the PRACK goes to fork 2 with fork 2's RSeq.
    net.send_a(prack_a(&ringing[1], 2, "z9hG4bKpb1", None));
    let p2 = net.one_b();
    assert_eq!(p2.to().unwrap().tag(), Some("fork2"));
    assert_eq!(p2.uri(), Some(c2));
    assert!(p2.header(&HeaderName::RAck).unwrap().starts_with("20 "));
    net.send_a(prack_a(&ringing[0], 3, "z9hG4bKpb2", None));
    let p1 = net.one_b();
    assert_eq!(p1.to().unwrap().tag(), Some("fork1"));
    assert!(p1.header(&HeaderName::RAck).unwrap().starts_with("10 "));
    // Each answer goes back to its own PRACK.
    net.send_b(reply_b(&p1, 200, None));
    let ok1 = net.one_a();
    assert_eq!(ok1.cseq().unwrap().seq, 3);
    assert_eq!(ok1.to().unwrap().tag(), ringing[0].to().unwrap().tag());
    net.send_b(reply_b(&p2, 200, None));
    assert_eq!(net.one_a().cseq().unwrap().seq, 2);
}

#[test]
fn the_100rel_tag_never_crosses_in_copied_headers() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    let mut re = from_a(
        Method::Invite,
        &call.a_ok,
        2,
        "z9hG4bKa20",
        Some(&sdp_a(2, "sendonly")),
    );
    re.push_header(HeaderName::Supported, "100rel, replaces");
    re.push_header(HeaderName::Supported, "100rel");
    let body = re.body().clone();
    re.set_body(body, Some("application/sdp"));
    net.send_a(re);
    net.a();
    let b_re = net.one_b();
    assert_eq!(b_re.method(), Some(&Method::Invite));
    assert_eq!(tokens(&b_re, &HeaderName::Supported), ["replaces"]);
}
