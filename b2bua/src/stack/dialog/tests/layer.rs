//! The dialog layer end to end: 2xx retransmission and ACK, BYE, forking and early dialogs, and
//! reliable provisionals with their PRACKs.

use super::*;

// ---- The layer: 2xx retransmission, ACK, forking, BYE (RFC 3261 §13, §15) ----

fn uas_layer(status: u16) -> (DialogLayer, DialogId) {
    let mut layer = DialogLayer::new(TimerConfig::default());
    let id = layer.insert(uas_dialog(status)).expect("insert");
    (layer, id)
}

fn alice_ack(cseq: u32) -> Message {
    alice_request("ACK", cseq, Some("sbc1"), ALICE_CONTACT)
}

#[test]
fn uas_2xx_is_retransmitted_t1_doubling_to_t2_then_no_ack() {
    let (mut layer, id) = uas_layer(180);
    let t0 = t0();
    let ok = layer
        .get(&id)
        .expect("dialog")
        .response(&alice_invite(), 200, "");
    layer.handle_response_sent(t0, &id, &ok).expect("sent");
    assert_eq!(events(&drain(&mut layer)), [DialogEvent::Confirmed]);
    let mut fired = Vec::new();
    while let Some(when) = layer.poll_timeout() {
        layer.handle_timer(when);
        for out in drain(&mut layer) {
            match out {
                DialogOutput::Send { bytes, dest } => {
                    assert_eq!(bytes, ok.to_bytes());
                    assert_eq!(dest, udp(10));
                    fired.push(when.duration_since(t0).as_millis());
                }
                DialogOutput::Event { event, .. } => {
                    assert_eq!(event, DialogEvent::NoAck { cseq: 314_159 });
                    assert_eq!(when, at(t0, 32_000));
                }
            }
        }
    }
    assert_eq!(
        fired,
        [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    // NoAck does not end the dialog: the call sends BYE.
    assert_eq!(
        layer.get(&id).map(Dialog::state),
        Some(DialogState::Confirmed)
    );
    let bye = layer.new_request(&id, Method::Bye, None).expect("BYE");
    assert_eq!(bye.header(&HeaderName::CSeq), Some("1001 BYE"));
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Terminated(TerminateReason::ByeSent)]
    );
    assert!(layer.is_empty());
}

#[test]
fn ack_stops_2xx_retransmission() {
    let (mut layer, id) = uas_layer(200);
    let t0 = t0();
    let ok = layer
        .get(&id)
        .expect("dialog")
        .response(&alice_invite(), 200, "");
    layer.handle_response_sent(t0, &id, &ok).expect("sent");
    assert!(drain(&mut layer).is_empty(), "already confirmed");
    layer.handle_timer(at(t0, 499));
    assert!(drain(&mut layer).is_empty());
    layer.handle_timer(at(t0, 500));
    assert_eq!(sends(&drain(&mut layer)).len(), 1);
    assert_eq!(layer.poll_timeout(), Some(at(t0, 1500)));

    let ack = alice_ack(314_159);
    assert_eq!(layer.find_for_request(&ack), Some(id.clone()));
    let (matched, verdict) = layer.handle_request(&ack).expect("in dialog");
    assert_eq!(
        (matched, verdict),
        (id.clone(), RequestVerdict::AckAbsorbed)
    );
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Acked { ack: ack.clone() }]
    );
    assert_eq!(layer.poll_timeout(), None);
    layer.handle_timer(at(t0, 40_000));
    assert!(drain(&mut layer).is_empty());
    // A retransmitted ACK is absorbed silently.
    assert_eq!(
        layer.handle_request(&ack).map(|(_, v)| v),
        Ok(RequestVerdict::AckAbsorbed)
    );
    assert!(drain(&mut layer).is_empty());
}

#[test]
fn ack_for_another_cseq_does_not_stop_retransmission() {
    let (mut layer, id) = uas_layer(200);
    let t0 = t0();
    let ok = layer
        .get(&id)
        .expect("dialog")
        .response(&alice_invite(), 200, "");
    layer.handle_response_sent(t0, &id, &ok).expect("sent");
    layer.handle_request(&alice_ack(1)).expect("in dialog");
    assert!(drain(&mut layer).is_empty());
    assert_eq!(layer.poll_timeout(), Some(at(t0, 500)));
}

#[test]
fn bye_received_terminates_and_stops_retransmission() {
    let (mut layer, id) = uas_layer(200);
    let t0 = t0();
    let ok = layer
        .get(&id)
        .expect("dialog")
        .response(&alice_invite(), 200, "");
    layer.handle_response_sent(t0, &id, &ok).expect("sent");
    let (_, verdict) = layer
        .handle_request(&alice_in_dialog("BYE", 314_160))
        .expect("in dialog");
    assert_eq!(verdict, RequestVerdict::Accept);
    assert_eq!(
        drain(&mut layer),
        [DialogOutput::Event {
            id: id.clone(),
            event: DialogEvent::Terminated(TerminateReason::ByeReceived)
        }]
    );
    assert!(layer.get(&id).is_none());
    assert_eq!(layer.poll_timeout(), None);
    assert_eq!(
        layer.handle_request(&alice_in_dialog("BYE", 314_161)),
        Err(DialogError::UnknownDialog(id))
    );
}

fn expected_ack(tag: &str) -> Message {
    parse(&format!(
        "ACK sip:bob@192.0.2.4 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKack1\n\
         Max-Forwards: 70\n\
         Route: <sip:p1.example.com;lr>\n\
         Route: <sip:p2.example.com;lr>\n\
         To: Bob <sip:bob@biloxi.example.com>;tag={tag}\n\
         From: SBC <sip:sbc@sbc.example.com>;tag=sbctag\n\
         Call-ID: {SBC_CALL_ID}\n\
         CSeq: 7 ACK\n\
         Content-Length: 0\n\n"
    ))
}

#[test]
fn uac_acks_2xx_and_resends_the_same_ack_for_retransmissions() {
    let mut layer = DialogLayer::default();
    let outcome = layer
        .handle_creating_response(&sbc_invite(), &bob_200("bob1"), udp(20))
        .expect("creates");
    let ResponseOutcome::Created(id) = outcome else {
        panic!("expected a new dialog, got {outcome:?}");
    };
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Confirmed, DialogEvent::AckNeeded { cseq: 7 }]
    );
    let ack = layer
        .send_ack(
            &id,
            7,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKack1",
            None,
        )
        .expect("ack");
    assert_eq!(ack, expected_ack("bob1"));
    assert_eq!(sends(&drain(&mut layer)), [(ack.clone(), udp(20))]);

    // A retransmission while the INVITE client is in Accepted (TxEvent::Response) ...
    assert_eq!(
        layer.handle_creating_response(&sbc_invite(), &bob_200("bob1"), udp(20)),
        Ok(ResponseOutcome::Matched(id.clone()))
    );
    assert_eq!(sends(&drain(&mut layer)), [(ack.clone(), udp(20))]);
    // ... and one after timer M (TxEvent::StrayResponse) get the very same ACK.
    assert_eq!(layer.handle_response(&bob_200("bob1")), Ok(id));
    assert_eq!(sends(&drain(&mut layer)), [(ack, udp(20))]);
}

#[test]
fn ack_carries_a_body_when_the_caller_gives_one() {
    let mut d = uac_dialog();
    let sdp = Bytes::from_static(b"v=0\r\n");
    let ack = d.ack_for_2xx(
        7,
        "SIP/2.0/UDP h;branch=z9hG4bKx",
        Some((sdp.clone(), "application/sdp")),
    );
    assert_eq!(ack.body(), &sdp);
    assert!(ack.has_sdp());
    assert_eq!(ack.content_length(), Some(5));
    assert_eq!(d.ack_for(7), Some(&ack.to_bytes()));
    assert_eq!(d.ack_for(8), None);
}

#[test]
fn a_fork_answering_after_the_invite_is_let_go_takes_our_side_from_its_sibling() {
    let mut layer = DialogLayer::default();
    let ResponseOutcome::Created(first) = layer
        .handle_creating_response(&sbc_invite(), &bob_200("bob1"), udp(20))
        .expect("creates")
    else {
        panic!("a dialog")
    };
    drain(&mut layer);
    // Another fork's 2xx, with its own Contact and no Record-Route; the INVITE is gone.
    let late = bob_response(
        200,
        "bob2",
        "7 INVITE",
        "Contact: <sip:bob2@10.0.0.21:5060>\n",
    );
    let outcome = layer
        .handle_sibling_response(&first, &late, udp(21))
        .expect("creates");
    let ResponseOutcome::Created(second) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(second.remote_tag.as_str(), "bob2");
    let d = layer.get(&second).expect("kept");
    assert_eq!(d.role(), Role::Uac);
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.local_party(), "SBC <sip:sbc@sbc.example.com>;tag=sbctag");
    assert_eq!(
        d.local_contact(),
        "<sip:sbc@192.0.2.1:5060>",
        "the sibling's"
    );
    assert_eq!(d.remote_target(), "sip:bob2@10.0.0.21:5060");
    assert!(d.route_set().entries().is_empty());
    assert_eq!((d.local_cseq(), d.peer()), (7, udp(21)));
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Confirmed, DialogEvent::AckNeeded { cseq: 7 }]
    );
    // Its retransmission matches it; a failure creates nothing; another Call-ID is refused.
    assert!(matches!(
        layer.handle_sibling_response(&first, &late, udp(21)),
        Ok(ResponseOutcome::Matched(_))
    ));
    let busy = bob_response(486, "bob3", "7 INVITE", "");
    assert!(matches!(
        layer.handle_sibling_response(&first, &busy, udp(21)),
        Ok(ResponseOutcome::NoDialog)
    ));
    let mut stranger = bob_response(200, "bob4", "7 INVITE", "Contact: <sip:x@10.0.0.22>\n");
    stranger.set_header(HeaderName::CallId, "other-call");
    assert!(layer
        .handle_sibling_response(&first, &stranger, udp(21))
        .is_err());
}

#[test]
fn forked_2xx_with_another_to_tag_creates_a_second_dialog() {
    let mut layer = DialogLayer::default();
    for tag in ["bob1", "bob2"] {
        let outcome = layer
            .handle_creating_response(&sbc_invite(), &bob_200(tag), udp(20))
            .expect("creates");
        assert!(matches!(outcome, ResponseOutcome::Created(_)));
    }
    let set = layer.dialog_set(SBC_CALL_ID, "sbctag");
    assert_eq!(
        set.iter()
            .map(|id| id.remote_tag.as_str())
            .collect::<Vec<_>>(),
        ["bob1", "bob2"]
    );
    let outs = drain(&mut layer);
    assert_eq!(
        events(&outs),
        [
            DialogEvent::Confirmed,
            DialogEvent::AckNeeded { cseq: 7 },
            DialogEvent::Confirmed,
            DialogEvent::AckNeeded { cseq: 7 }
        ]
    );
    // The B2BUA keeps bob1 and gets rid of bob2: ACK, then BYE.
    let loser = set.get(1).expect("two dialogs").clone();
    let ack = layer
        .send_ack(
            &loser,
            7,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKack1",
            None,
        )
        .expect("ack");
    assert_eq!(ack, expected_ack("bob2"));
    let bye = layer.new_request(&loser, Method::Bye, None).expect("BYE");
    assert_eq!(bye.header(&HeaderName::CSeq), Some("8 BYE"));
    assert_eq!(
        bye.to().and_then(|t| t.tag()),
        Some("bob2"),
        "BYE goes to the losing fork"
    );
    assert_eq!(layer.dialog_set(SBC_CALL_ID, "sbctag").len(), 1);
}

#[test]
fn early_dialog_from_180_is_confirmed_by_200_with_the_same_tag() {
    let mut layer = DialogLayer::default();
    let ringing = bob_response(
        180,
        "bob1",
        "7 INVITE",
        &format!("Record-Route: <sip:p1.example.com;lr>\nContact: <{BOB_CONTACT}>\n"),
    );
    let Ok(ResponseOutcome::Created(id)) =
        layer.handle_creating_response(&sbc_invite(), &ringing, udp(20))
    else {
        panic!("180 with a tag creates an early dialog");
    };
    assert_eq!(events(&drain(&mut layer)), [DialogEvent::Early]);
    let early = layer.get(&id).expect("dialog");
    assert_eq!(early.state(), DialogState::Early);
    assert_eq!(early.route_set().entries(), ["<sip:p1.example.com;lr>"]);

    // A 180 without a tag, or 100 Trying, creates nothing.
    let trying = parse(&format!(
        "SIP/2.0 100 Trying\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsbc1\n\
         To: Bob <sip:bob@biloxi.example.com>\n\
         From: SBC <sip:sbc@sbc.example.com>;tag=sbctag\n\
         Call-ID: {SBC_CALL_ID}\n\
         CSeq: 7 INVITE\n\
         Content-Length: 0\n\n"
    ));
    assert_eq!(
        layer.handle_creating_response(&sbc_invite(), &trying, udp(20)),
        Ok(ResponseOutcome::NoDialog)
    );

    assert_eq!(
        layer.handle_creating_response(&sbc_invite(), &bob_200("bob1"), udp(20)),
        Ok(ResponseOutcome::Matched(id.clone()))
    );
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Confirmed, DialogEvent::AckNeeded { cseq: 7 }]
    );
    let d = layer.get(&id).expect("dialog");
    assert_eq!(d.state(), DialogState::Confirmed);
    // The route set is recomputed from the 2xx (RFC 3261 §13.2.2.4).
    assert_eq!(
        d.route_set().entries(),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(layer.len(), 1);
}

#[test]
fn non_2xx_final_ends_early_dialogs() {
    let mut layer = DialogLayer::default();
    for tag in ["a", "b"] {
        let ringing = bob_response(180, tag, "7 INVITE", "");
        layer
            .handle_creating_response(&sbc_invite(), &ringing, udp(20))
            .expect("early");
    }
    drain(&mut layer);
    // The 486 comes with fork a's tag: it ends a directly; the caller ends the rest.
    let busy = bob_response(486, "a", "7 INVITE", "");
    assert!(matches!(
        layer.handle_creating_response(&sbc_invite(), &busy, udp(20)),
        Ok(ResponseOutcome::Matched(_))
    ));
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Terminated(TerminateReason::Rejected)]
    );
    layer.terminate_early(SBC_CALL_ID, "sbctag", TerminateReason::Rejected);
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Terminated(TerminateReason::Rejected)]
    );
    assert!(layer.is_empty());
}

#[test]
fn layer_reports_unknown_and_duplicate_dialogs() {
    let mut layer = DialogLayer::default();
    let id = layer.insert(uac_dialog()).expect("insert");
    assert_eq!(
        layer.insert(uac_dialog()),
        Err(DialogError::Duplicate(id.clone()))
    );
    assert_eq!(layer.find_for_response(&bob_200("bob1")), Some(id.clone()));
    assert_eq!(layer.find_for_response(&bob_200("nobody")), None);
    assert!(matches!(
        layer.handle_response(&bob_200("nobody")),
        Err(DialogError::UnknownDialog(_))
    ));
    assert!(matches!(
        layer.handle_request(&alice_invite()),
        Err(DialogError::Malformed(_))
    ));
    layer.terminate(&id, TerminateReason::Local).expect("live");
    assert_eq!(
        events(&drain(&mut layer)),
        [DialogEvent::Terminated(TerminateReason::Local)]
    );
    assert_eq!(
        layer.terminate(&id, TerminateReason::Local),
        Err(DialogError::UnknownDialog(id))
    );
}

#[test]
fn secure_flag_needs_tls_and_a_sips_request_uri() {
    let tls = Dest::new(SocketAddr::from(([192, 0, 2, 10], 5061)), Transport::Tls);
    let mut sips_invite = alice_invite();
    sips_invite.set_uri("sips:bob@sbc.example.com");
    let mk = |req: &Message, peer| {
        Dialog::uas_from_request(req, "sbc1", "<sips:sbc@192.0.2.1>", 1, peer, 200)
            .expect("creates")
            .is_secure()
    };
    assert!(mk(&sips_invite, tls));
    assert!(!mk(&sips_invite, udp(10)));
    assert!(!mk(&alice_invite(), tls));
}

#[test]
fn a_200_to_cancel_does_not_confirm_the_early_dialog() {
    let mut layer = DialogLayer::default();
    let ringing = bob_response(
        180,
        "bob1",
        "7 INVITE",
        &format!("Contact: <{BOB_CONTACT}>\n"),
    );
    let Ok(ResponseOutcome::Created(id)) =
        layer.handle_creating_response(&sbc_invite(), &ringing, udp(20))
    else {
        panic!("180 with a tag creates an early dialog");
    };
    drain(&mut layer);
    // The 200 to our CANCEL has the INVITE's CSeq number and Bob's To tag.
    let cancel_ok = bob_response(200, "bob1", "7 CANCEL", "");
    let _ = layer.handle_response(&cancel_ok);
    assert_eq!(layer.get(&id).expect("dialog").state(), DialogState::Early);
    assert!(!events(&drain(&mut layer)).contains(&DialogEvent::Confirmed));
}

// ---- reliable provisionals (RFC 3262) ----

/// The SBC's reliable 18x to Alice's INVITE with `rseq`.
fn reliable_18x(layer: &DialogLayer, id: &DialogId, rseq: u32) -> Message {
    let mut rsp = layer
        .get(id)
        .expect("dialog")
        .response(&alice_invite(), 183, "Session Progress");
    rsp.push_header(HeaderName::Require, "100rel");
    rsp.push_header(HeaderName::RSeq, rseq.to_string());
    rsp
}

fn alice_prack(cseq: u32, rack: &str) -> Message {
    let mut m = alice_in_dialog("PRACK", cseq);
    m.push_header(HeaderName::RAck, rack.to_owned());
    m
}

#[test]
fn reliable_provisional_is_retransmitted_t1_doubling_until_no_prack_at_64_t1() {
    let (mut layer, id) = uas_layer(183);
    let t0 = t0();
    let rel = reliable_18x(&layer, &id, 77);
    assert_eq!(reliable_rseq(&rel), Some(77));
    layer.handle_response_sent(t0, &id, &rel).expect("sent");
    assert_eq!(layer.get(&id).and_then(Dialog::unacked_rseq), Some(77));
    let mut fired = Vec::new();
    while let Some(when) = layer.poll_timeout() {
        layer.handle_timer(when);
        for out in drain(&mut layer) {
            match out {
                DialogOutput::Send { bytes, dest } => {
                    assert_eq!((bytes, dest), (rel.to_bytes(), udp(10)));
                    fired.push(when.duration_since(t0).as_millis());
                }
                DialogOutput::Event { event, .. } => {
                    assert_eq!(event, DialogEvent::NoPrack { rseq: 77 });
                    assert_eq!(when, at(t0, 32_000));
                }
            }
        }
    }
    // No T2 cap for provisionals (RFC 3262 §3).
    assert_eq!(fired, [500, 1500, 3500, 7500, 15_500, 31_500]);
    assert_eq!(layer.get(&id).map(Dialog::state), Some(DialogState::Early));
}

#[test]
fn prack_must_match_the_unacknowledged_rseq_and_stops_retransmission() {
    let (mut layer, id) = uas_layer(183);
    let t0 = t0();
    // An unreliable 18x starts nothing.
    let plain = layer
        .get(&id)
        .expect("dialog")
        .response(&alice_invite(), 180, "Ringing");
    layer.handle_response_sent(t0, &id, &plain).expect("sent");
    assert_eq!(layer.poll_timeout(), None);
    let rel = reliable_18x(&layer, &id, 5);
    layer.handle_response_sent(t0, &id, &rel).expect("sent");
    assert_eq!(layer.poll_timeout(), Some(at(t0, 500)));
    for (cseq, rack) in [
        (314_160, "6 314159 INVITE"),
        (314_161, "5 314158 INVITE"),
        (314_162, "5 314159 BYE"),
    ] {
        let (_, verdict) = layer
            .handle_request(&alice_prack(cseq, rack))
            .expect("in dialog");
        assert!(
            matches!(verdict, RequestVerdict::Reject { status: 481, .. }),
            "{rack}: {verdict:?}"
        );
    }
    assert_eq!(layer.poll_timeout(), Some(at(t0, 500)), "still running");
    let (_, verdict) = layer
        .handle_request(&alice_prack(314_163, "5 314159 INVITE"))
        .expect("in dialog");
    assert_eq!(verdict, RequestVerdict::Accept);
    assert_eq!(layer.poll_timeout(), None);
    assert_eq!(layer.get(&id).and_then(Dialog::unacked_rseq), None);
    // The same PRACK again (a new transaction) matches nothing any more.
    let (_, verdict) = layer
        .handle_request(&alice_prack(314_164, "5 314159 INVITE"))
        .expect("in dialog");
    assert!(matches!(
        verdict,
        RequestVerdict::Reject { status: 481, .. }
    ));
}

#[test]
fn a_final_response_stops_provisional_retransmission_but_a_late_prack_still_matches() {
    let (mut layer, id) = uas_layer(183);
    let t0 = t0();
    let rel = reliable_18x(&layer, &id, 9);
    layer.handle_response_sent(t0, &id, &rel).expect("sent");
    let ok = layer
        .get(&id)
        .expect("dialog")
        .response(&alice_invite(), 200, "OK");
    layer
        .handle_response_sent(at(t0, 100), &id, &ok)
        .expect("sent");
    drain(&mut layer);
    // Only the 2xx is retransmitted now.
    layer.handle_timer(at(t0, 600));
    let sent = sends(&drain(&mut layer));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.status(), Some(200));
    let (_, verdict) = layer
        .handle_request(&alice_prack(314_160, "9 314159 INVITE"))
        .expect("in dialog");
    assert_eq!(verdict, RequestVerdict::Accept);
}
