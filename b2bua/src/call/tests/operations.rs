//! The operator's side of the core (`engine/record.rs`): the parties a CDR names, the shutdown
//! of live calls after a drain, and a configuration swap on reload.

use super::*;

/// A's INVITE sent on `net`: leg A's INVITE, leg B's, and the call's Started event, whose
/// Call-IDs are checked against both INVITEs.
fn start_call(net: &mut Net) -> (Message, Message, String, String, CallDetail) {
    let a_inv = invite_a(70);
    net.send_a(a_inv.clone());
    let b_inv = net.one_b();
    let Some(CallEvent::Started {
        a_call_id,
        b_call_id,
        detail,
        ..
    }) = net.events.first()
    else {
        panic!("{:?}", net.events)
    };
    assert_eq!(Some(a_call_id.as_str()), a_inv.call_id());
    assert_eq!(Some(b_call_id.as_str()), b_inv.call_id());
    let (a_call_id, b_call_id, detail) = (a_call_id.clone(), b_call_id.clone(), (**detail).clone());
    (a_inv, b_inv, a_call_id, b_call_id, detail)
}

#[test]
fn started_names_both_legs_parties_and_the_media_session() {
    let mut net = Net::new();
    let (a_inv, b_inv, a_call_id, b_call_id, detail) = start_call(&mut net);
    assert_eq!(detail.legs[0].call_id, *a_call_id);
    assert_eq!(detail.legs[1].call_id, *b_call_id);
    assert_eq!(
        Some(detail.legs[0].from.as_str()),
        a_inv.from().map(|f| f.uri)
    );
    assert_eq!(Some(detail.legs[0].to.as_str()), a_inv.to().map(|t| t.uri));
    assert_eq!(
        Some(detail.legs[1].from.as_str()),
        b_inv.from().map(|f| f.uri)
    );
    assert_eq!(Some(detail.legs[1].to.as_str()), b_inv.to().map(|t| t.uri));
    assert_eq!(detail.media_session, Some(SessionId(1)));
    assert!(net.sbc.has_call_id(&a_call_id));
    assert!(
        !net.sbc.has_call_id(&b_call_id),
        "only leg A's Call-ID names a new call"
    );
}

#[test]
fn without_call_records_started_names_no_parties_but_still_the_session_and_call_ids() {
    let mut net = Net::with_config(CallConfig {
        records: false,
        ..CallConfig::default()
    });
    let (_, _, _, _, detail) = start_call(&mut net);
    assert_eq!(detail.legs, [LegParties::default(), LegParties::default()]);
    assert_eq!(detail.media_session, Some(SessionId(1)));
}

#[test]
fn an_answered_call_lets_its_a_invite_go_and_still_knows_its_call_id() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    let a_call_id = call.a_ok.call_id().unwrap().to_owned();
    // The 2xx is sent: the call keeps A's Call-ID in A's dialog, not the whole INVITE.
    assert!(!net.sbc.keeps_a_invite(CallKey(1)));
    // A plain RTP call keeps no ICE or DTLS state for its line (SDES keeps the offer's
    // profile, which the answer repeats).
    assert_eq!(net.sbc.media_lines(CallKey(1)), Some([1, 0, 0]));
    assert!(net.sbc.has_call_id(&a_call_id));
    let snap = net.sbc.calls();
    assert_eq!(snap[0].legs[0].call_id, a_call_id);
    assert_eq!(snap[0].legs[1].call_id, call.b_invite.call_id().unwrap());
    // A retransmits its INVITE (our 2xx was late): absorbed, no new call, no new leg B.
    net.send_a(invite_a(70));
    assert!(net.b().is_empty(), "no new INVITE on leg B");
    assert_eq!(net.sbc.calls().len(), 1);
    // The call still ends normally from A.
    net.send_a(from_a(Method::Ack, &call.a_ok, 1, "z9hG4bKa2", None));
    net.b();
    net.send_a(from_a(Method::Bye, &call.a_ok, 2, "z9hG4bKa3", None));
    let bye = net.one_b();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.call_id(), call.b_invite.call_id());
    // The call is over: its Call-ID names no live call any more, so the same Call-ID may
    // start a new one.
    assert!(net.sbc.calls().is_empty());
    assert!(!net.sbc.has_call_id(&a_call_id));
}

#[test]
fn two_live_calls_with_one_call_id_are_both_known_until_both_end() {
    let mut net = Net::new();
    let first = answered_call(&mut net);
    let a_call_id = first.a_ok.call_id().unwrap().to_owned();
    // A second INVITE with the same Call-ID but another From tag is another call (RFC 3261
    // §12: a dialog is the Call-ID with both tags).
    let mut other = invite_a(70);
    other.set_header(
        HeaderName::From,
        "\"Alice\" <sip:alice@a.example.com>;tag=second",
    );
    other.set_header(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKsecond",
    );
    net.send_a(other);
    let b_inv = net.one_b();
    assert_eq!(net.sbc.calls().len(), 2, "a second call started");
    // B refuses the second call: the first still holds the Call-ID.
    net.send_b(reply_b(&b_inv, 486, None));
    net.a();
    net.b();
    assert_eq!(net.sbc.calls().len(), 1);
    assert!(net.sbc.has_call_id(&a_call_id));
    net.send_a(from_a(Method::Ack, &first.a_ok, 1, "z9hG4bKa2", None));
    net.b();
    net.send_a(from_a(Method::Bye, &first.a_ok, 2, "z9hG4bKa3", None));
    net.one_b();
    assert!(net.sbc.calls().is_empty());
    assert!(!net.sbc.has_call_id(&a_call_id));
}

#[test]
fn shutdown_byes_both_legs_of_answered_calls_with_a_reason() {
    let mut net = Net::new();
    let call = answered_call(&mut net);
    net.send_a(from_a(Method::Ack, &call.a_ok, 1, "z9hG4bKa2", None));
    net.b();
    net.ops();
    assert_eq!(net.sbc.shut_down_calls(net.now), 1);
    net.drain();
    let (bye_a, bye_b) = (net.one_a(), net.one_b());
    for bye in [&bye_a, &bye_b] {
        assert_eq!(bye.method(), Some(&Method::Bye));
        assert_eq!(
            bye.header(&HeaderName::Reason),
            Some("SIP;cause=503;text=\"SBC shutting down\"")
        );
    }
    assert_eq!(bye_b.call_id(), call.b_invite.call_id());
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Shutdown,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    assert_eq!(net.sbc.shut_down_calls(net.now), 0);
}

#[test]
fn shutdown_cancels_calls_still_ringing() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    net.send_b(reply_b(&b_inv, 180, None));
    net.a();
    assert_eq!(net.sbc.shut_down_calls(net.now), 1);
    net.drain();
    let cancel = net.one_b();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.call_id(), b_inv.call_id());
    // B answers the CANCEL and 487s the INVITE: A gets the 487, the call ends as cancelled.
    net.send_b(reply_b(&cancel, 200, None));
    net.send_b(reply_b(&b_inv, 487, None));
    assert!(net.a().iter().any(|m| m.status() == Some(487)));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Cancelled,
            ..
        })
    ));
}

#[test]
fn a_new_call_config_applies_its_limits_to_the_next_invite() {
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    net.b();
    net.sbc.set_call_config(CallConfig {
        max_calls: 1,
        retry_after_s: 7,
        ..CallConfig::default()
    });
    let mut second = invite_a(70);
    second.set_header(HeaderName::CallId, "second-call@198.51.100.10");
    second.set_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {PHONE_A};branch=z9hG4bKsecond"),
    );
    net.send_a(second);
    let rsp = net.a().pop().expect("an answer");
    assert_eq!(rsp.status(), Some(503));
    assert_eq!(rsp.header(&HeaderName::RetryAfter), Some("7"));
    assert!(net.b().is_empty());
}
