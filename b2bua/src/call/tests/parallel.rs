//! Parallel forking on leg B on virtual time: every contact of a group rings at once, the first
//! 2xx wins and the others are cancelled, the best failure reaches A when all fail, A's CANCEL
//! cancels every branch, and the next group is tried after a failed one (RFC 3261 §16.6,
//! §16.7, §16.10).

use super::*;

/// A fourth phone, only in the serial-group test.
const PHONE_D: &str = "10.0.0.40:5060";

/// A target to `peer`, tried at the same time as the next one when `parallel`.
fn to(peer: &str, parallel: bool, failover_on: &[u16]) -> Target {
    let mut route = route(&invite_a(70), dest(PHONE_A)).unwrap();
    route.next_hop = dest(peer);
    Target {
        name: peer.into(),
        failover_on: failover_on.to_vec(),
        parallel_with_next: parallel,
        ..Target::new(route)
    }
}

/// A router giving every INVITE the same targets.
struct Fixed(Vec<Target>);

impl Router for Fixed {
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection> {
        Ok(self.targets(invite, source)?.remove(0).route)
    }

    fn targets(&mut self, _: &Message, _: Dest) -> Result<Vec<Target>, Rejection> {
        Ok(self.0.clone())
    }
}

/// Phone B and C ringing in one parallel group.
fn two_phones() -> Net {
    Net::with_router(
        CallConfig::default(),
        Fixed(vec![to(PHONE_B, true, &[]), to(PHONE_C, false, &[])]),
    )
}

/// The messages sent to C so far.
fn to_c(net: &mut Net) -> Vec<Message> {
    std::mem::take(&mut net.to_c)
}

fn one_c(net: &mut Net) -> Message {
    let mut v = to_c(net);
    assert_eq!(v.len(), 1, "to C: {v:?}");
    v.remove(0)
}

/// A phone's answer to `req` with its own To tag and Contact host.
fn answer(req: &Message, code: u16, tag: &str, host: &str, body: Option<&str>) -> Message {
    let mut r = Message::response_to(req, code, "");
    if code > 100 && req.to().unwrap().tag().is_none() {
        let to = req.header(&HeaderName::To).unwrap().to_owned();
        r.set_header(HeaderName::To, format!("{to};tag={tag}"));
    }
    if (101..300).contains(&code) {
        r.push_header(HeaderName::Contact, format!("<sip:u@{host}>"));
    }
    with_sdp(r, body)
}

fn from_bob(req: &Message, code: u16, body: Option<&str>) -> Message {
    answer(req, code, "btag", PHONE_B, body)
}

fn from_carol(req: &Message, code: u16, body: Option<&str>) -> Message {
    answer(req, code, "ctag", PHONE_C, body)
}

/// A's INVITE in; 100 back; one INVITE each to B and C, checked to be two branches of one
/// leg-B call with one offer.
fn start(net: &mut Net) -> (Message, Message, Message) {
    let a_inv = invite_a(70);
    net.send_a(a_inv.clone());
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    let c_inv = one_c(net);
    for inv in [&b_inv, &c_inv] {
        assert_eq!(inv.method(), Some(&Method::Invite));
        assert!(inv.to().unwrap().tag().is_none());
    }
    assert_eq!(b_inv.call_id(), c_inv.call_id());
    assert_ne!(top_branch(&b_inv), top_branch(&c_inv));
    assert_ne!(b_inv.from().unwrap().tag(), c_inv.from().unwrap().tag());
    assert_eq!(
        b_inv.body(),
        c_inv.body(),
        "A's offer anchored once: the same relay ports for both"
    );
    assert!(!b_inv.body().is_empty());
    net.ops();
    (a_inv, b_inv, c_inv)
}

/// A's CANCEL for its INVITE.
fn cancel_from_a(a_inv: &Message) -> Message {
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
    with_sdp(cancel, None)
}

/// Checks `cancel` is the CANCEL of `inv` (RFC 3261 §9.1).
fn assert_cancels(cancel: &Message, inv: &Message) {
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(top_branch(cancel), top_branch(inv));
    assert_eq!(
        cancel.header(&HeaderName::From),
        inv.header(&HeaderName::From)
    );
    assert_eq!(cancel.cseq().unwrap().seq, inv.cseq().unwrap().seq);
}

#[test]
fn both_contacts_ring_at_once_and_the_first_2xx_wins() {
    let mut net = two_phones();
    let (_, b_inv, c_inv) = start(&mut net);
    assert_eq!(net.sbc.call_count(), 1);
    net.send_b(from_bob(&b_inv, 100, None));
    assert!(net.a().is_empty());
    net.send_feed_c(from_carol(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    // The answer programs the relay, and B (which had a provisional) is cancelled.
    assert!(!net.ops().is_empty());
    let cancel = net.one_b();
    assert_cancels(&cancel, &b_inv);
    net.send_b(from_bob(&cancel, 200, None));
    net.send_b(from_bob(&b_inv, 487, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert!(net.a().is_empty(), "A hears nothing of the losing branch");
    // A's ACK reaches the winner only, in C's dialog.
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    let ack = one_c(&mut net);
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.to().unwrap().tag(), Some("ctag"));
    assert_eq!(ack.from().unwrap().tag(), c_inv.from().unwrap().tag());
    assert!(net.b().is_empty());
    // And A's BYE too.
    net.send_a(from_a(Method::Bye, &ok, 2, "z9hG4bKa3", None));
    assert_eq!(net.one_a().status(), Some(200));
    assert_eq!(one_c(&mut net).method(), Some(&Method::Bye));
    assert!(net.b().is_empty());
}

#[test]
fn a_branch_that_answers_before_any_provisional_is_cancelled_on_its_first() {
    let mut net = two_phones();
    let (_, b_inv, c_inv) = start(&mut net);
    net.send_feed_c(from_carol(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    assert_eq!(net.one_a().status(), Some(200));
    assert!(net.b().is_empty(), "no CANCEL before B's first provisional");
    net.send_b(from_bob(&b_inv, 180, None));
    assert_cancels(&net.one_b(), &b_inv);
    assert!(net.a().is_empty());
    // B answered anyway: its 2xx is ACKed and hung up, A hears nothing.
    net.send_b(from_bob(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let methods: Vec<_> = net.b().iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert!(net.a().is_empty());
    assert_eq!(net.sbc.call_count(), 1);
}

#[test]
fn both_ring_then_one_fails_and_the_other_answers() {
    let mut net = two_phones();
    let (_, b_inv, c_inv) = start(&mut net);
    net.send_b(from_bob(&b_inv, 180, None));
    let ring_b = net.one_a();
    net.send_feed_c(from_carol(&c_inv, 180, None));
    let ring_c = net.one_a();
    assert_eq!((ring_b.status(), ring_c.status()), (Some(180), Some(180)));
    let (tag_b, tag_c) = (ring_b.to().unwrap().tag(), ring_c.to().unwrap().tag());
    assert!(tag_b.is_some() && tag_c.is_some());
    assert_ne!(tag_b, tag_c, "each branch is its own early dialog on leg A");
    net.send_b(from_bob(&b_inv, 486, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert!(net.a().is_empty(), "C still rings: A waits");
    net.send_feed_c(from_carol(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.to().unwrap().tag(),
        tag_c,
        "the answer is in C's early dialog"
    );
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    assert_eq!(one_c(&mut net).method(), Some(&Method::Ack));
    assert!(net.b().is_empty());
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, CallEvent::Answered { .. })));
}

/// B and C fail with `first` then `second`; what A gets.
fn both_fail(first: u16, second: u16) -> u16 {
    let mut net = two_phones();
    let (_, b_inv, c_inv) = start(&mut net);
    net.send_b(from_bob(&b_inv, first, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert!(net.a().is_empty(), "one branch left: A waits");
    net.send_feed_c(from_carol(&c_inv, second, None));
    assert_eq!(one_c(&mut net).method(), Some(&Method::Ack));
    let last = net.one_a();
    assert_eq!(last.cseq().unwrap().method, "INVITE");
    assert_eq!(net.sbc.call_count(), 0);
    assert!(matches!(net.ops()[..], [Op::Delete(_)]));
    last.status().unwrap()
}

#[test]
fn when_every_branch_fails_a_gets_the_best_response() {
    assert_eq!(both_fail(486, 404), 486, "same class: the first");
    assert_eq!(both_fail(404, 486), 404, "same class: the first");
    assert_eq!(both_fail(503, 486), 486, "the lowest class");
    assert_eq!(both_fail(486, 503), 486, "the lowest class");
    assert_eq!(both_fail(486, 603), 603, "a 6xx wins");
    assert_eq!(both_fail(603, 302), 603, "a 6xx wins");
    assert_eq!(both_fail(503, 500), 500, "503 is mapped, like a lone one");
    assert_eq!(
        both_fail(503, 486),
        486,
        "503 counts as the 500 A would get"
    );
    assert_eq!(both_fail(481, 404), 404, "a leg-B-only 4xx counts as 500");
}

#[test]
fn a_422_while_another_branch_rings_drops_that_branch() {
    let mut net = Net::with_router(
        timer_config(90),
        Fixed(vec![to(PHONE_B, true, &[]), to(PHONE_C, false, &[])]),
    );
    let (_, b_inv, c_inv) = start(&mut net);
    let mut too_brief = from_bob(&b_inv, 422, None);
    too_brief.push_header(HeaderName::MinSe, "600");
    net.send_b(too_brief);
    assert_eq!(
        net.one_b().method(),
        Some(&Method::Ack),
        "no new INVITE to B"
    );
    assert!(net.a().is_empty());
    net.send_feed_c(from_carol(&c_inv, 486, None));
    to_c(&mut net);
    assert_eq!(net.one_a().status(), Some(486), "C's 486 beats B's 422");
    assert_eq!(net.sbc.call_count(), 0);
}

#[test]
fn a_timed_out_branch_counts_as_408() {
    let mut net = two_phones();
    let (_, b_inv, c_inv) = start(&mut net);
    net.send_feed_c(from_carol(&c_inv, 500, None));
    assert_eq!(one_c(&mut net).method(), Some(&Method::Ack));
    assert!(net.a().is_empty());
    // B never answers: Timer B (64*T1) ends it, and its 408 beats C's 500.
    let mut waited = 0;
    let to_a = loop {
        net.advance(1000);
        waited += 1;
        let to_a = net.a();
        if !to_a.is_empty() || waited > 70 {
            break to_a;
        }
    };
    assert!(waited >= 32, "only Timer B ends B's branch ({waited} s)");
    assert_eq!(to_a.first().and_then(Message::status), Some(408));
    assert_eq!(net.sbc.call_count(), 0);
    assert!(net.b().iter().all(|m| top_branch(m) == top_branch(&b_inv)));
}

#[test]
fn cancel_from_a_cancels_every_branch() {
    let mut net = two_phones();
    let (a_inv, b_inv, c_inv) = start(&mut net);
    net.send_b(from_bob(&b_inv, 180, None));
    net.send_feed_c(from_carol(&c_inv, 180, None));
    assert_eq!(net.a().len(), 2);
    net.send_a(cancel_from_a(&a_inv));
    let ok = net.one_a();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "CANCEL")
    );
    let b_cancel = net.one_b();
    let c_cancel = one_c(&mut net);
    assert_cancels(&b_cancel, &b_inv);
    assert_cancels(&c_cancel, &c_inv);
    net.send_b(from_bob(&b_cancel, 200, None));
    net.send_feed_c(from_carol(&c_cancel, 200, None));
    net.send_b(from_bob(&b_inv, 487, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    net.send_feed_c(from_carol(&c_inv, 487, None));
    assert_eq!(one_c(&mut net).method(), Some(&Method::Ack));
    let terminated = net.one_a();
    assert_eq!(
        (terminated.status(), terminated.cseq().unwrap().method),
        (Some(487), "INVITE")
    );
    assert!(net.a().is_empty());
    assert_eq!(net.sbc.call_count(), 0);
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
fn the_next_group_is_tried_once_every_branch_of_the_first_failed() {
    let fail = [404, 480, 486];
    let mut net = Net::with_router(
        CallConfig::default(),
        Fixed(vec![
            to(PHONE_B, true, &fail),
            to(PHONE_C, false, &fail),
            to(PHONE_D, false, &[]),
        ]),
    );
    net.elsewhere.push(dest(PHONE_D));
    let (_, b_inv, c_inv) = start(&mut net);
    assert!(net.to_elsewhere.is_empty(), "D is in the next group");
    net.send_b(from_bob(&b_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    net.send_b(from_bob(&b_inv, 486, None));
    net.b();
    assert!(net.to_elsewhere.is_empty(), "C still rings");
    net.send_feed_c(from_carol(&c_inv, 480, None));
    to_c(&mut net);
    let sent: Vec<_> = std::mem::take(&mut net.to_elsewhere);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let d_inv = &sent[0].1;
    assert_eq!(d_inv.method(), Some(&Method::Invite));
    assert_eq!(d_inv.call_id(), b_inv.call_id());
    assert_eq!(d_inv.body(), b_inv.body(), "the same offer");
    assert!(net.a().is_empty(), "A hears nothing of the failed group");
    // D answers: the call is up with D.
    let mut ok_d = answer(d_inv, 200, "dtag", PHONE_D, Some(&sdp_b(1, "sendrecv")));
    ok_d = parse(&ok_d.to_bytes());
    net.feed(ok_d, PHONE_D);
    assert_eq!(net.one_a().status(), Some(200));
    assert!(net.b().is_empty() && to_c(&mut net).is_empty());
}

#[test]
fn a_lone_target_group_behaves_as_before() {
    let mut net = Net::with_router(CallConfig::default(), Fixed(vec![to(PHONE_B, false, &[])]));
    let a_inv = invite_a(70);
    net.send_a(a_inv);
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    assert!(to_c(&mut net).is_empty());
    net.send_b(from_bob(&b_inv, 486, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert_eq!(net.one_a().status(), Some(486));
}

impl Net {
    /// Feeds `msg` as sent by phone C.
    fn send_feed_c(&mut self, msg: Message) {
        self.feed(msg, PHONE_C);
    }
}

#[test]
fn a_prack_goes_to_the_branch_of_its_early_dialog() {
    let mut net = two_phones();
    net.send_a(invite_a_100rel(HeaderName::Supported));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    let c_inv = one_c(&mut net);
    net.send_b(fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:u@10.0.0.20:5060",
        Some(1),
        Some(&sdp_b(1, "sendrecv")),
    ));
    let prov_b = net.one_a();
    net.send_feed_c(fork_reply(
        &c_inv,
        183,
        "ctag",
        "sip:u@10.0.0.30:5060",
        Some(1),
        None,
    ));
    let prov_c = net.one_a();
    assert_ne!(prov_b.to().unwrap().tag(), prov_c.to().unwrap().tag());
    // A PRACKs B's 183 after C's arrived: the PRACK goes to B, in B's dialog, for B's INVITE.
    net.send_a(prack_a(&prov_b, 2, "z9hG4bKp1", None));
    let prack = net.one_b();
    assert!(to_c(&mut net).is_empty());
    assert_eq!(prack.method(), Some(&Method::Prack));
    assert_eq!(prack.to().unwrap().tag(), Some("btag"));
    assert_eq!(prack.from().unwrap().tag(), b_inv.from().unwrap().tag());
    assert_eq!(
        prack.header(&HeaderName::RAck),
        Some(format!("1 {} INVITE", b_inv.cseq().unwrap().seq).as_str())
    );
    // And C's to C.
    net.send_a(prack_a(&prov_c, 3, "z9hG4bKp2", None));
    let prack = one_c(&mut net);
    assert_eq!(prack.to().unwrap().tag(), Some("ctag"));
    assert_eq!(
        prack.header(&HeaderName::RAck),
        Some(format!("1 {} INVITE", c_inv.cseq().unwrap().seq).as_str())
    );
}

/// The B-side RTP address of the last relay update in `ops`.
fn last_b_remote(ops: &[Op]) -> Option<SocketAddr> {
    ops.iter().rev().find_map(|op| match op {
        Op::Update(_, _, [_, Some(sig)]) => sig.remote_rtp,
        _ => None,
    })
}

#[test]
fn the_relay_follows_the_latest_early_sdp_then_the_winners_answer() {
    let mut net = two_phones();
    let (_, b_inv, c_inv) = start(&mut net);
    let carol_sdp = sdp("carol", 1, "10.0.0.30", 31000, "sendrecv");
    net.send_feed_c(from_carol(&c_inv, 183, Some(&carol_sdp)));
    let early_c = net.one_a();
    assert_eq!(early_c.status(), Some(183));
    assert_eq!(
        last_b_remote(&net.ops()),
        Some("10.0.0.30:31000".parse().unwrap())
    );
    net.send_b(from_bob(&b_inv, 183, Some(&sdp_b(1, "sendrecv"))));
    let early_b = net.one_a();
    assert_eq!(
        last_b_remote(&net.ops()),
        Some("10.0.0.20:30000".parse().unwrap()),
        "the latest early SDP wins"
    );
    // Leg A sees one answer address whichever branch it came from: the relay's.
    assert_eq!(media_of(&early_c).0, media_of(&early_b).0);
    assert_eq!(media_of(&early_c).1, media_of(&early_b).1);
    let carol_answer = sdp("carol", 2, "10.0.0.30", 31000, "sendrecv");
    net.send_feed_c(from_carol(&c_inv, 200, Some(&carol_answer)));
    assert_eq!(net.one_a().status(), Some(200));
    assert_eq!(
        last_b_remote(&net.ops()),
        Some("10.0.0.30:31000".parse().unwrap()),
        "the winner's answer programs the relay"
    );
    assert_cancels(&net.one_b(), &b_inv);
}

#[test]
fn an_unpracked_reliable_18x_of_a_failed_branch_does_not_end_the_call() {
    let mut net = two_phones();
    net.send_a(invite_a_100rel(HeaderName::Supported));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    let c_inv = one_c(&mut net);
    net.send_b(fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:u@10.0.0.20:5060",
        Some(777),
        Some(&sdp_b(7, "sendrecv")),
    ));
    assert!(net.one_a().rseq().is_some());
    // B fails before A PRACKs: its early dialog on leg A is abandoned with it.
    net.send_b(from_bob(&b_inv, 486, None));
    net.b();
    net.send_feed_c(from_carol(&c_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    for _ in 0..80 {
        net.advance(500);
    }
    assert!(
        net.a().is_empty(),
        "no 183 retransmission, no 5xx for a missing PRACK"
    );
    assert_eq!(net.sbc.call_count(), 1);
    net.send_feed_c(from_carol(&c_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    assert_eq!(net.one_a().status(), Some(200));
}

#[test]
fn a_request_in_an_early_dialog_goes_to_that_dialogs_branch() {
    let mut net = two_phones();
    let (_, b_inv, c_inv) = start(&mut net);
    net.send_b(from_bob(&b_inv, 183, None));
    let early_b = net.one_a();
    net.send_feed_c(from_carol(&c_inv, 180, None));
    let early_c = net.one_a();
    // A's INFO in B's early dialog, sent after C's 180: it goes to B, in B's dialog.
    net.send_a(from_a(Method::Info, &early_b, 2, "z9hG4bKi1", None));
    let info = net.one_b();
    assert!(to_c(&mut net).is_empty());
    assert_eq!(info.method(), Some(&Method::Info));
    assert_eq!(info.to().unwrap().tag(), Some("btag"));
    assert_eq!(info.from().unwrap().tag(), b_inv.from().unwrap().tag());
    net.send_b(from_bob(&info, 200, None));
    let ok = net.one_a();
    assert_eq!(
        (ok.status(), ok.cseq().unwrap().method),
        (Some(200), "INFO")
    );
    // And one in C's to C.
    net.send_a(from_a(Method::Info, &early_c, 3, "z9hG4bKi2", None));
    let info = one_c(&mut net);
    assert_eq!(info.to().unwrap().tag(), Some("ctag"));
    assert!(net.b().is_empty());
}
