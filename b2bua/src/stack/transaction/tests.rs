//! Shared test helpers (messages built as text and parsed) and the layer matching tests
//! (RFC 3261 §17.1.3, §17.2.3, §9.2; RFC 6026).

use super::*;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Limits, Message};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(super) fn t0() -> Instant {
    Instant::now()
}

pub(super) fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

pub(super) fn parse(text: &str) -> Message {
    let wire = text.replace("\r\n", "\n").replace('\n', "\r\n");
    Message::parse(Bytes::from(wire), &Limits::default()).expect("test message parses")
}

pub(super) fn parse_bytes(b: &Bytes) -> Message {
    Message::parse(b.clone(), &Limits::default()).expect("sent bytes parse")
}

/// The bytes of every `Effect::Send`, in order.
pub(super) fn sent(out: &[Effect]) -> Vec<Bytes> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send(b) => Some(b.clone()),
            Effect::Response(_)
            | Effect::Ack(_)
            | Effect::Timeout(_)
            | Effect::NoAck
            | Effect::TransportError
            | Effect::Terminated => None,
        })
        .collect()
}

/// A request in the style of RFC 3261 §24.2 with two Vias and two Routes.
pub(super) fn build(method: &str, via: &str, cseq: u32, to_tag: Option<&str>) -> Message {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    parse(&format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0\n\
         Via: {via}\n\
         Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKprev\n\
         Max-Forwards: 70\n\
         Route: <sip:p1.example.com;lr>\n\
         Route: <sip:p2.example.com;lr>\n\
         To: Bob <sip:bob@biloxi.example.com>{to_tag}\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n\
         Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n\
         CSeq: {cseq} {method}\n\
         Contact: <sip:alice@pc33.atlanta.example.com>\n\
         Content-Length: 0\n\n"
    ))
}

fn udp_via(branch: &str) -> String {
    format!("SIP/2.0/UDP pc33.atlanta.example.com:5060;branch={branch}")
}

pub(super) fn request_with(method: &str, branch: &str, cseq: u32, to_tag: Option<&str>) -> Message {
    build(method, &udp_via(branch), cseq, to_tag)
}

pub(super) fn request(method: &str, branch: &str) -> Message {
    request_with(method, branch, 314_159, None)
}

pub(super) fn invite(branch: &str) -> Message {
    request("INVITE", branch)
}

/// A response to `req` as a UAS would send it, with `to_tag` added to To.
pub(super) fn response(req: &Message, code: u16, to_tag: Option<&str>) -> Message {
    let mut rsp = Message::response_to(req, code, "");
    if let (Some(tag), Some(to)) = (to_tag, req.header(&HeaderName::To)) {
        if req.to().and_then(|t| t.tag()).is_none() {
            rsp.set_header(HeaderName::To, format!("{to};tag={tag}"));
        }
    }
    parse_bytes(&rsp.to_bytes())
}

fn udp() -> Dest {
    Dest::new(SocketAddr::from(([192, 0, 2, 10], 5060)), Transport::Udp)
}

fn tcp() -> Dest {
    Dest::new(SocketAddr::from(([192, 0, 2, 11], 5060)), Transport::Tcp)
}

fn drain(layer: &mut TransactionLayer) -> Vec<Output> {
    std::iter::from_fn(|| layer.poll_output()).collect()
}

fn transmits(outs: &[Output]) -> Vec<Transmit> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => Some(t.clone()),
            Output::Event(_) => None,
        })
        .collect()
}

fn events(outs: &[Output]) -> Vec<TxEvent> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            Output::Transmit(_) => None,
        })
        .collect()
}

/// Feeds a request and returns the new server transaction from its Request event.
fn accept(layer: &mut TransactionLayer, now: Instant, req: Message, src: Dest) -> TxId {
    layer
        .handle_request(now, req.clone(), src)
        .expect("usable request");
    let evs = events(&drain(layer));
    let [TxEvent::Request { tx, msg, source }] = evs.as_slice() else {
        panic!("expected one Request event, got {evs:?}");
    };
    assert_eq!(*msg, req);
    assert_eq!(*source, src);
    *tx
}

// ---- client side ----

#[test]
fn client_response_goes_to_its_transaction() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let a = l.send_request(t0, invite("z9hG4bKa"), udp()).expect("sent");
    let b = l.send_request(t0, invite("z9hG4bKb"), udp()).expect("sent");
    let outs = drain(&mut l);
    assert_eq!(transmits(&outs).len(), 2);
    assert_eq!(transmits(&outs)[0].dest, udp());
    assert_eq!(transmits(&outs)[0].tx, Some(a));
    let ringing = response(&invite("z9hG4bKb"), 180, Some("x"));
    l.handle_response(at(t0, 100), ringing.clone()).expect("ok");
    assert_eq!(
        events(&drain(&mut l)),
        [TxEvent::Response {
            tx: b,
            msg: ringing
        }]
    );
    assert_eq!(
        l.state(b),
        Some(TxState::ClientInvite(ClientInviteState::Proceeding))
    );
    assert_eq!(
        l.state(a),
        Some(TxState::ClientInvite(ClientInviteState::Calling))
    );
}

#[test]
fn unmatched_response_is_stray() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    l.send_request(t0, invite("z9hG4bKa"), udp()).expect("sent");
    drain(&mut l);
    let ok = response(&invite("z9hG4bKzzz"), 200, Some("x"));
    l.handle_response(t0, ok.clone()).expect("ok");
    assert_eq!(events(&drain(&mut l)), [TxEvent::StrayResponse { msg: ok }]);
}

#[test]
fn client_same_branch_different_method_is_another_transaction() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = l.send_request(t0, invite("z9hG4bKc"), udp()).expect("sent");
    let cancel = l
        .send_request(t0, request("CANCEL", "z9hG4bKc"), udp())
        .expect("CANCEL is its own transaction");
    assert_ne!(inv, cancel);
    drain(&mut l);
    let ok = response(&request("CANCEL", "z9hG4bKc"), 200, Some("x"));
    l.handle_response(t0, ok.clone()).expect("ok");
    let terminated = response(&invite("z9hG4bKc"), 487, Some("x"));
    l.handle_response(t0, terminated.clone()).expect("ok");
    let evs = events(&drain(&mut l));
    assert!(evs.contains(&TxEvent::Response {
        tx: cancel,
        msg: ok
    }));
    assert!(evs.contains(&TxEvent::Response {
        tx: inv,
        msg: terminated
    }));
    assert_eq!(
        l.state(inv),
        Some(TxState::ClientInvite(ClientInviteState::Completed))
    );
}

#[test]
fn send_request_refusals() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    l.send_request(t0, invite("z9hG4bKd"), udp()).expect("sent");
    assert_eq!(
        l.send_request(t0, invite("z9hG4bKd"), udp()),
        Err(TransactionError::Duplicate)
    );
    assert_eq!(
        l.send_request(t0, request("ACK", "z9hG4bKe"), udp()),
        Err(TransactionError::AckWithoutTransaction)
    );
    assert!(matches!(
        l.send_request(t0, invite("old2543"), udp()),
        Err(TransactionError::Malformed(_))
    ));
    let resp = response(&invite("z9hG4bKq"), 200, None);
    assert!(l.send_request(t0, resp, udp()).is_err());
}

#[test]
fn client_timers_run_through_the_heap() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let tx = l.send_request(t0, invite("z9hG4bKt"), udp()).expect("sent");
    drain(&mut l);
    let mut retransmits = Vec::new();
    while let Some(next) = l.poll_timeout() {
        l.handle_timer(next);
        let outs = drain(&mut l);
        for t in transmits(&outs) {
            assert_eq!(t.tx, Some(tx));
            retransmits.push(next.duration_since(t0).as_millis());
        }
        if l.is_empty() {
            assert_eq!(next, at(t0, 32_000));
            assert_eq!(
                events(&outs),
                [
                    TxEvent::Timeout {
                        tx,
                        timer: Timer::B
                    },
                    TxEvent::Terminated { tx }
                ]
            );
        }
    }
    assert_eq!(retransmits, [500, 1500, 3500, 7500, 15_500, 31_500]);
    assert_eq!(l.state(tx), None);
}

#[test]
fn stale_heap_entries_are_skipped() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    l.send_request(t0, invite("z9hG4bKs"), udp()).expect("sent");
    assert_eq!(l.poll_timeout(), Some(at(t0, 500)));
    l.handle_response(at(t0, 100), response(&invite("z9hG4bKs"), 100, None))
        .expect("ok");
    assert_eq!(l.poll_timeout(), None, "A and B stopped in Proceeding");
    drain(&mut l);
    l.handle_timer(at(t0, 40_000));
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.len(), 1);
}

#[test]
fn two_xx_after_accepted_ends_is_stray_for_the_dialog() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let tx = l.send_request(t0, invite("z9hG4bKm"), udp()).expect("sent");
    let ok = response(&invite("z9hG4bKm"), 200, Some("x"));
    l.handle_response(at(t0, 100), ok.clone()).expect("ok");
    l.handle_response(at(t0, 600), ok.clone()).expect("ok");
    let evs = events(&drain(&mut l));
    assert_eq!(evs.len(), 2, "both 2xx go up: {evs:?}");
    assert_eq!(l.poll_timeout(), Some(at(t0, 32_100)), "timer M");
    l.handle_timer(at(t0, 32_100));
    assert_eq!(events(&drain(&mut l)), [TxEvent::Terminated { tx }]);
    l.handle_response(at(t0, 33_000), ok.clone()).expect("ok");
    assert_eq!(events(&drain(&mut l)), [TxEvent::StrayResponse { msg: ok }]);
}

#[test]
fn client_transport_error_terminates() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let tx = l
        .send_request(t0, request("OPTIONS", "z9hG4bKo"), tcp())
        .expect("sent");
    drain(&mut l);
    assert_eq!(l.handle_transport_error(tx), Ok(()));
    assert_eq!(
        events(&drain(&mut l)),
        [TxEvent::TransportError { tx }, TxEvent::Terminated { tx }]
    );
    assert_eq!(
        l.handle_transport_error(tx),
        Err(TransactionError::UnknownTransaction(tx))
    );
}

#[test]
fn reliable_client_non_invite_has_no_retransmissions() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    l.send_request(t0, request("OPTIONS", "z9hG4bKr"), tcp())
        .expect("sent");
    drain(&mut l);
    assert_eq!(l.poll_timeout(), Some(at(t0, 32_000)), "only F");
}

/// Drains the layer, then fires the timers due at `now` (zero-length D/I/J/K are due at once)
/// and drains again; returns everything output.
fn settle(l: &mut TransactionLayer, now: Instant) -> Vec<Output> {
    let mut outs = drain(l);
    l.handle_timer(now);
    outs.extend(drain(l));
    outs
}

#[test]
fn reliable_client_non_invite_ends_with_its_final_response() {
    // Over TCP timer K is zero (RFC 3261 §17.1.2.2): the transaction is gone at the 200.
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let req = request("OPTIONS", "z9hG4bKrk");
    let tx = l.send_request(t0, req.clone(), tcp()).expect("sent");
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    // Nothing is retransmitted while waiting (no timer E).
    l.handle_timer(at(t0, 10_000));
    assert!(transmits(&drain(&mut l)).is_empty());
    l.handle_response(at(t0, 10_050), response(&req, 200, Some("k")))
        .expect("ok");
    let evs = events(&settle(&mut l, at(t0, 10_050)));
    assert!(
        matches!(evs.first(), Some(TxEvent::Response { .. })),
        "{evs:?}"
    );
    assert_eq!(evs.last(), Some(&TxEvent::Terminated { tx }));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn reliable_client_invite_sends_once_and_ends_with_its_ack() {
    // Over TCP no timer A, and timer D is zero (RFC 3261 §17.1.1.2): the ACK for a non-2xx
    // goes out once on the same transport and the transaction ends with it.
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = invite("z9hG4bKrci");
    let tx = l.send_request(t0, inv.clone(), tcp()).expect("sent");
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    assert_eq!(l.poll_timeout(), Some(at(t0, 32_000)), "B only, no A");
    l.handle_timer(at(t0, 4_000));
    assert!(transmits(&drain(&mut l)).is_empty(), "never retransmitted");
    l.handle_response(at(t0, 4_100), response(&inv, 486, Some("busy")))
        .expect("ok");
    let outs = settle(&mut l, at(t0, 4_100));
    let tr = transmits(&outs);
    assert_eq!(tr.len(), 1, "one ACK");
    assert_eq!(tr[0].dest, tcp());
    assert_eq!(
        parse_bytes(&tr[0].bytes).method(),
        Some(&sbc_common::sip::Method::Ack)
    );
    assert_eq!(events(&outs).last(), Some(&TxEvent::Terminated { tx }));
    assert!(l.is_empty(), "timer D is zero over TCP");
}

#[test]
fn reliable_server_non_invite_ends_with_its_final_response() {
    // Over TCP timer J is zero (RFC 3261 §17.2.2); over UDP it would be 64*T1.
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let req = request("BYE", "z9hG4bKrj");
    let tx = accept(&mut l, t0, req.clone(), tcp());
    l.send_response(at(t0, 20), tx, &response(&req, 200, Some("j")))
        .expect("sent");
    let outs = settle(&mut l, at(t0, 20));
    assert_eq!(transmits(&outs).len(), 1);
    assert_eq!(
        transmits(&outs)[0].dest,
        tcp(),
        "back on the request's flow"
    );
    assert_eq!(events(&outs), [TxEvent::Terminated { tx }]);
    assert!(l.is_empty());
}

// ---- server side ----

#[test]
fn new_invite_goes_up_and_gets_100_trying_at_once() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    l.handle_request(t0, invite("z9hG4bKi"), udp()).expect("ok");
    let outs = drain(&mut l);
    let tr = transmits(&outs);
    assert_eq!(tr.len(), 1);
    assert_eq!(tr[0].dest, udp(), "responses go back to the source");
    assert_eq!(parse_bytes(&tr[0].bytes).status(), Some(100));
    assert!(matches!(
        events(&outs).as_slice(),
        [TxEvent::Request { .. }]
    ));
}

#[test]
fn retransmitted_request_is_absorbed_and_re_answered() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let req = request("BYE", "z9hG4bKbye");
    let tx = accept(&mut l, t0, req.clone(), udp());
    l.handle_request(at(t0, 500), req.clone(), udp())
        .expect("ok");
    assert!(drain(&mut l).is_empty(), "absorbed in Trying");
    let ok = response(&req, 200, Some("y"));
    l.send_response(at(t0, 600), tx, &ok).expect("sent");
    assert_eq!(transmits(&drain(&mut l))[0].bytes, ok.to_bytes());
    l.handle_request(at(t0, 1500), req.clone(), udp())
        .expect("ok");
    let outs = drain(&mut l);
    assert!(events(&outs).is_empty(), "not passed up again");
    assert_eq!(transmits(&outs)[0].bytes, ok.to_bytes());
    assert_eq!(l.poll_timeout(), Some(at(t0, 32_600)), "timer J");
    l.handle_timer(at(t0, 32_600));
    assert_eq!(events(&drain(&mut l)), [TxEvent::Terminated { tx }]);
    assert!(l.is_empty());
}

#[test]
fn retransmitted_invite_gets_the_latest_provisional() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = invite("z9hG4bKri");
    let tx = accept(&mut l, t0, inv.clone(), udp());
    let ringing = response(&inv, 180, Some("z"));
    l.send_response(t0, tx, &ringing).expect("sent");
    drain(&mut l);
    l.handle_request(at(t0, 500), inv, udp()).expect("ok");
    let outs = drain(&mut l);
    assert!(events(&outs).is_empty());
    assert_eq!(transmits(&outs)[0].bytes, ringing.to_bytes());
}

#[test]
fn ack_for_non_2xx_is_absorbed_by_the_invite_transaction() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = invite("z9hG4bKn2");
    let tx = accept(&mut l, t0, inv.clone(), udp());
    l.send_response(t0, tx, &response(&inv, 486, Some("busy")))
        .expect("sent");
    drain(&mut l);
    let ack = request_with("ACK", "z9hG4bKn2", 314_159, Some("busy"));
    l.handle_request(at(t0, 100), ack, udp()).expect("ok");
    assert!(drain(&mut l).is_empty());
    assert_eq!(
        l.state(tx),
        Some(TxState::ServerInvite(ServerInviteState::Confirmed))
    );
    assert_eq!(l.poll_timeout(), Some(at(t0, 5100)), "timer I");
}

#[test]
fn final_retransmitted_until_no_ack() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = invite("z9hG4bKg");
    let tx = accept(&mut l, t0, inv.clone(), udp());
    l.send_response(t0, tx, &response(&inv, 500, Some("e")))
        .expect("sent");
    drain(&mut l);
    let mut g = Vec::new();
    let mut last = Vec::new();
    while let Some(next) = l.poll_timeout() {
        l.handle_timer(next);
        let outs = drain(&mut l);
        if !transmits(&outs).is_empty() {
            g.push(next.duration_since(t0).as_millis());
        }
        last = events(&outs);
    }
    assert_eq!(g.first(), Some(&500));
    assert_eq!(g.last(), Some(&31_500));
    assert_eq!(last, [TxEvent::NoAck { tx }, TxEvent::Terminated { tx }]);
}

#[test]
fn ack_for_2xx_goes_to_the_tu() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = invite("z9hG4bKok");
    let tx = accept(&mut l, t0, inv.clone(), udp());
    l.send_response(t0, tx, &response(&inv, 200, Some("s")))
        .expect("sent");
    drain(&mut l);
    // RFC 3261 §17.1.1.3: the 2xx ACK is a new transaction with its own branch.
    let ack = request_with("ACK", "z9hG4bKnewbranch", 314_159, Some("s"));
    l.handle_request(at(t0, 100), ack.clone(), udp())
        .expect("ok");
    assert_eq!(
        events(&drain(&mut l)),
        [TxEvent::StrayAck {
            msg: ack,
            source: udp()
        }]
    );
    // An ACK reusing the INVITE's branch reaches the Accepted transaction and goes up too.
    let same = request_with("ACK", "z9hG4bKok", 314_159, Some("s"));
    l.handle_request(at(t0, 200), same.clone(), udp())
        .expect("ok");
    assert_eq!(events(&drain(&mut l)), [TxEvent::Ack { tx, msg: same }]);
    // Retransmitted INVITEs are absorbed in Accepted; the TU may resend the 2xx.
    l.handle_request(at(t0, 300), inv.clone(), udp())
        .expect("ok");
    assert!(drain(&mut l).is_empty());
    l.send_response(at(t0, 400), tx, &response(&inv, 200, Some("s")))
        .expect("2xx retransmission passes");
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    assert_eq!(l.poll_timeout(), Some(at(t0, 32_000)), "timer L");
}

#[test]
fn server_same_branch_different_method_or_sent_by_is_another_transaction() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = accept(&mut l, t0, invite("z9hG4bKx"), udp());
    let cancel = accept(&mut l, t0, request("CANCEL", "z9hG4bKx"), udp());
    assert_ne!(inv, cancel);
    let other_host = build(
        "INVITE",
        "SIP/2.0/UDP other.example.com;branch=z9hG4bKx",
        314_159,
        None,
    );
    let third = accept(&mut l, t0, other_host, udp());
    assert_ne!(third, inv);
    assert_eq!(l.len(), 3);
}

#[test]
fn cancel_finds_its_invite() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = accept(&mut l, t0, invite("z9hG4bKcc"), udp());
    let cancel_msg = request("CANCEL", "z9hG4bKcc");
    let cancel = accept(&mut l, t0, cancel_msg.clone(), udp());
    assert_eq!(l.find_invite_for_cancel(&cancel_msg), Some(inv));
    assert_eq!(
        l.find_invite_for_cancel(&request("CANCEL", "z9hG4bKother")),
        None
    );
    assert_eq!(l.find_invite_for_cancel(&invite("z9hG4bKcc")), None);
    // The TU answers 200 to the CANCEL and 487 to the INVITE.
    l.send_response(t0, cancel, &response(&cancel_msg, 200, Some("c")))
        .expect("sent");
    l.send_response(t0, inv, &response(&invite("z9hG4bKcc"), 487, Some("c")))
        .expect("sent");
    assert_eq!(transmits(&drain(&mut l)).len(), 2);
}

#[test]
fn rfc2543_fallback_matching() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let via = "SIP/2.0/UDP old.example.com;branch=1234";
    let inv = build("INVITE", via, 7, None);
    let tx = accept(&mut l, t0, inv.clone(), udp());
    // Retransmission matches by Request-URI, tags, Call-ID, CSeq and top Via.
    l.handle_request(at(t0, 500), inv.clone(), udp())
        .expect("ok");
    assert!(events(&drain(&mut l)).is_empty());
    // A different CSeq is a different transaction.
    let other = build("INVITE", via, 8, None);
    let tx2 = accept(&mut l, t0, other, udp());
    assert_ne!(tx, tx2);
    // CANCEL matches the INVITE with the method swapped.
    let cancel = build("CANCEL", via, 7, None);
    assert_eq!(l.find_invite_for_cancel(&cancel), Some(tx));
    // The ACK matches the INVITE whose response carried its To tag.
    l.send_response(t0, tx, &response(&inv, 404, Some("nf")))
        .expect("sent");
    drain(&mut l);
    let wrong = build("ACK", via, 7, Some("other"));
    l.handle_request(at(t0, 600), wrong.clone(), udp())
        .expect("ok");
    assert_eq!(
        events(&drain(&mut l)),
        [TxEvent::StrayAck {
            msg: wrong,
            source: udp()
        }]
    );
    let ack = build("ACK", via, 7, Some("nf"));
    l.handle_request(at(t0, 700), ack, udp()).expect("ok");
    assert!(drain(&mut l).is_empty());
    assert_eq!(
        l.state(tx),
        Some(TxState::ServerInvite(ServerInviteState::Confirmed))
    );
}

#[test]
fn rfc2543_request_without_branch() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let req = build("OPTIONS", "SIP/2.0/UDP old.example.com", 3, None);
    let tx = accept(&mut l, t0, req.clone(), udp());
    l.send_response(t0, tx, &response(&req, 200, Some("o")))
        .expect("sent");
    drain(&mut l);
    l.handle_request(at(t0, 10), req, udp()).expect("ok");
    assert_eq!(transmits(&drain(&mut l)).len(), 1, "final re-sent");
}

#[test]
fn reliable_server_invite_ends_on_ack() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let inv = invite("z9hG4bKtcp");
    let tx = accept(&mut l, t0, inv.clone(), tcp());
    l.send_response(t0, tx, &response(&inv, 486, Some("b")))
        .expect("sent");
    drain(&mut l);
    assert_eq!(l.poll_timeout(), Some(at(t0, 32_000)), "H only, no G");
    let ack = request_with("ACK", "z9hG4bKtcp", 314_159, Some("b"));
    l.handle_request(at(t0, 5), ack, tcp()).expect("ok");
    assert_eq!(events(&drain(&mut l)), [TxEvent::Terminated { tx }]);
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn send_response_refusals() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let client = l.send_request(t0, invite("z9hG4bKw"), udp()).expect("sent");
    let inv = invite("z9hG4bKw");
    assert_eq!(
        l.send_response(t0, client, &response(&inv, 200, None)),
        Err(TransactionError::WrongRole)
    );
    let gone = TxId(999);
    assert_eq!(
        l.send_response(t0, gone, &response(&inv, 200, None)),
        Err(TransactionError::UnknownTransaction(gone))
    );
}

#[test]
fn malformed_requests_are_refused() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let mut no_via = request("OPTIONS", "z9hG4bKnv");
    no_via.remove_headers(&HeaderName::Via);
    assert!(matches!(
        l.handle_request(t0, no_via, udp()),
        Err(TransactionError::Malformed(_))
    ));
    let cseq_mismatch = build("OPTIONS", &udp_via("z9hG4bKm"), 1, None);
    let mut bad = cseq_mismatch;
    bad.set_header(HeaderName::CSeq, "1 INVITE");
    assert!(l.handle_request(t0, bad, udp()).is_err());
    assert!(l.is_empty());
}

#[test]
fn stateless_send_is_queued() {
    let mut l = TransactionLayer::default();
    let ack = request("ACK", "z9hG4bKack2xx");
    l.send_stateless(&ack, udp());
    assert_eq!(
        drain(&mut l),
        [Output::Transmit(Transmit {
            dest: udp(),
            bytes: ack.to_bytes(),
            tx: None
        })]
    );
}

#[test]
fn timers_follow_configured_t1_t2_t4() {
    let t0 = t0();
    let cfg = TimerConfig {
        t1: Duration::from_millis(100),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(1000),
    };
    let mut l = TransactionLayer::new(cfg);
    assert_eq!(l.config(), cfg);
    l.send_request(t0, request("OPTIONS", "z9hG4bKcfg"), udp())
        .expect("sent");
    drain(&mut l);
    let mut fired = Vec::new();
    let mut end = None;
    while let Some(next) = l.poll_timeout() {
        l.handle_timer(next);
        let outs = drain(&mut l);
        if !transmits(&outs).is_empty() {
            fired.push(next.duration_since(t0).as_millis());
        }
        if l.is_empty() {
            end = Some(next.duration_since(t0).as_millis());
        }
    }
    // E: 100, 200, 400 (capped at T2) ...; F = 64*T1 = 6.4 s.
    assert_eq!(fired[..5], [100, 300, 700, 1100, 1500]);
    assert_eq!(end, Some(6400));
}

#[test]
fn retransmission_from_a_new_port_is_answered_there() {
    let t0 = t0();
    let mut l = TransactionLayer::default();
    let req = request("BYE", "z9hG4bKrebind");
    let tx = accept(&mut l, t0, req.clone(), udp());
    let ok = response(&req, 200, Some("y"));
    l.send_response(at(t0, 100), tx, &ok).expect("sent");
    drain(&mut l);
    // The client's NAT rebinds: the retransmission arrives from another port.
    let moved = Dest::new("192.0.2.9:40000".parse().expect("addr"), Transport::Udp);
    l.handle_request(at(t0, 600), req, moved).expect("ok");
    let outs = drain(&mut l);
    assert_eq!(transmits(&outs)[0].dest, moved);
    assert_eq!(transmits(&outs)[0].bytes, ok.to_bytes());
}
