//! Leg B's retries on virtual time: redirects followed through the routes, call forwarding on
//! busy and no answer, failover on 503 and Timer B, and leg A's CANCEL in the middle
//! (RFC 3261 §8.1.3.4, §9.1, §16.6, §16.7, RFC 3665 §3).

use super::*;

mod failover;

/// A route from leg A's side to `peer` on leg B's side, as a target with no retry settings.
fn to(peer: &str) -> Target {
    let mut route = route(&invite_a(70), dest(PHONE_A)).unwrap();
    route.next_hop = dest(peer);
    Target {
        name: peer.into(),
        ..Target::new(route)
    }
}

/// A routing table: the INVITE's targets, and redirect targets by the Contact host they match.
struct Table {
    targets: Vec<Target>,
    redirects: Vec<(&'static str, Target)>,
}

impl Router for Table {
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection> {
        Ok(self.targets(invite, source)?.remove(0).route)
    }

    fn targets(&mut self, _: &Message, _: Dest) -> Result<Vec<Target>, Rejection> {
        Ok(self.targets.clone())
    }

    fn reroute(&mut self, a_side: &Side, source: Dest, uri: &str) -> Vec<Target> {
        // A redirect is routed as a request from leg A would be.
        assert_eq!((a_side.sip, source), (dest(SBC_A), dest(PHONE_A)));
        self.redirects
            .iter()
            .filter(|(host, _)| uri.contains(&format!("@{host}")))
            .map(|(_, t)| t.clone())
            .collect()
    }
}

fn net(targets: Vec<Target>, redirects: Vec<(&'static str, Target)>) -> Net {
    Net::with_router(CallConfig::default(), Table { targets, redirects })
}

impl Net {
    fn send_c(&mut self, msg: Message) {
        self.feed(msg, PHONE_C);
    }

    fn c(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.to_c)
    }

    fn one_c(&mut self) -> Message {
        let mut v = self.c();
        assert_eq!(v.len(), 1, "to C: {v:?}");
        v.remove(0)
    }

    /// Starts a call: A's INVITE in, 100 back, the INVITE to B out.
    fn start(&mut self) -> (Message, Message) {
        let a_inv = invite_a(70);
        self.send_a(a_inv.clone());
        assert_eq!(self.one_a().status(), Some(100));
        let b_inv = self.one_b();
        self.ops();
        (a_inv, b_inv)
    }
}

/// Phone C's answer to `req`: its own To tag and Contact.
fn reply_c(req: &Message, code: u16, body: Option<&str>) -> Message {
    let mut r = Message::response_to(req, code, "");
    if code > 100 && req.to().unwrap().tag().is_none() {
        let to = req.header(&HeaderName::To).unwrap().to_owned();
        r.set_header(HeaderName::To, format!("{to};tag=ctag"));
    }
    if (101..300).contains(&code) {
        r.push_header(HeaderName::Contact, "<sip:carol@10.0.0.30:5060>");
    }
    with_sdp(r, body)
}

fn redirect(req: &Message, contacts: &[&str]) -> Message {
    let mut r = reply_b(req, 302, None);
    r.remove_headers(&HeaderName::Contact);
    for c in contacts {
        r.push_header(HeaderName::Contact, (*c).to_owned());
    }
    r
}

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

/// Checks that `next` is a new attempt after `prev` on leg B: same Call-ID, a new branch and
/// From tag, CSeq one higher, the same offer (RFC 3261 §8.1.3.4).
fn assert_next_attempt(prev: &Message, next: &Message) {
    assert_eq!(next.method(), Some(&Method::Invite));
    assert_eq!(next.call_id(), prev.call_id());
    assert_ne!(top_branch(next), top_branch(prev));
    assert_ne!(next.from().unwrap().tag(), prev.from().unwrap().tag());
    assert!(next.to().unwrap().tag().is_none());
    assert_eq!(next.cseq().unwrap().seq, prev.cseq().unwrap().seq + 1);
    assert_eq!(
        next.body(),
        prev.body(),
        "leg A's offer, anchored on the same ports"
    );
}

/// C answers `inv` with 180 then 200; A must see exactly those, then its ACK reaches C.
fn c_answers(net: &mut Net, inv: &Message) {
    net.send_c(reply_c(inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    net.send_c(reply_c(inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    let text = String::from_utf8(ok.to_bytes().to_vec()).unwrap();
    assert!(!text.contains("10.0.0.30"), "C's address leaked: {text}");
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    let ack = net.one_c();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, inv.cseq().unwrap().seq);
    assert_eq!(ack.to().unwrap().tag(), Some("ctag"));
    assert_eq!(net.sbc.call_count(), 1);
    net.ops();
    // The call is C's now: A's BYE goes there.
    net.send_a(from_a(Method::Bye, &ok, 2, "z9hG4bKa3", None));
    assert_eq!(net.one_a().status(), Some(200));
    let bye = net.one_c();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.to().unwrap().tag(), Some("ctag"));
    assert!(net.b().is_empty());
    let answered = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::Answered { .. }))
        .count();
    assert_eq!(answered, 1);
}

#[test]
fn a_redirect_is_followed_through_the_routes_only() {
    let first = Target {
        max_redirects: 3,
        ..to(PHONE_B)
    };
    let mut net = net(vec![first], vec![("192.0.2.77", to(PHONE_C))]);
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 100, None));
    net.send_b(redirect(&b_inv, &["<sip:carol@192.0.2.77:5060>"]));
    // B's 302 is ACKed by its transaction; the redirect target is reached through its route
    // (C), never at the host the Contact names (the harness panics on any other destination).
    let ack = net.one_b();
    assert_eq!(
        (ack.method(), top_branch(&ack)),
        (Some(&Method::Ack), top_branch(&b_inv))
    );
    let c_inv = net.one_c();
    assert_eq!(c_inv.uri(), Some("sip:carol@10.0.0.30:5060"));
    assert_next_attempt(&b_inv, &c_inv);
    assert!(net.a().is_empty(), "A hears nothing of the redirect");
    assert!(
        net.ops().is_empty(),
        "same relay interface: same streams, nothing to reset"
    );
    c_answers(&mut net, &c_inv);
}

#[test]
fn a_redirect_to_contacts_no_route_matches_is_relayed_not_followed() {
    let first = Target {
        max_redirects: 3,
        ..to(PHONE_B)
    };
    // Only the lower-q Contact has a route: it is the one followed.
    let mut net1 = net(vec![first.clone()], vec![("192.0.2.77", to(PHONE_C))]);
    let (_, b_inv) = net1.start();
    net1.send_b(redirect(
        &b_inv,
        &[
            "<sip:mallory@198.18.0.1>;q=1.0",
            "<sip:carol@192.0.2.77>;q=0.5",
        ],
    ));
    net1.b();
    assert_eq!(net1.one_c().uri(), Some("sip:carol@10.0.0.30:5060"));

    // No Contact has a route: the 302 goes to A as it came, and nothing is sent anywhere else.
    let mut net2 = net(vec![first], vec![("192.0.2.77", to(PHONE_C))]);
    let (_, b_inv) = net2.start();
    net2.send_b(redirect(&b_inv, &["<sip:mallory@198.18.0.1>"]));
    let moved = net2.one_a();
    assert_eq!(moved.status(), Some(302));
    assert_eq!(
        moved.header(&HeaderName::Contact),
        Some("<sip:mallory@198.18.0.1>")
    );
    assert_eq!(net2.one_b().method(), Some(&Method::Ack));
    assert!(net2.c().is_empty());
    assert_eq!(net2.sbc.call_count(), 0);
}

#[test]
fn redirects_stop_at_max_redirects() {
    // Every target follows up to 2 redirects per call; C keeps redirecting to itself.
    let follows = |peer| Target {
        max_redirects: 2,
        ..to(peer)
    };
    let mut net = net(
        vec![follows(PHONE_B)],
        vec![("192.0.2.77", follows(PHONE_C))],
    );
    let (_, b_inv) = net.start();
    net.send_b(redirect(&b_inv, &["<sip:carol@192.0.2.77>"]));
    net.b();
    let mut prev = b_inv;
    let mut inv = net.one_c();
    for round in 0..2 {
        assert_next_attempt(&prev, &inv);
        let mut again = redirect(&inv, &["<sip:carol@192.0.2.77>"]);
        again.set_header(
            HeaderName::To,
            format!("{};tag=ctag", inv.header(&HeaderName::To).unwrap()),
        );
        net.send_c(again);
        let mut to_c = net.c();
        assert_eq!(to_c.remove(0).method(), Some(&Method::Ack));
        assert!(net.a().is_empty() == (round == 0), "round {round}");
        if round == 0 {
            // The second redirect is followed too.
            assert_eq!(to_c.len(), 1, "{to_c:?}");
            prev = inv;
            inv = to_c.remove(0);
        } else {
            assert!(to_c.is_empty(), "a third redirect is not followed");
        }
    }
    assert_eq!(net.sbc.call_count(), 0);
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Rejected,
            code: 302,
            ..
        })
    ));
    let rerouted = net
        .events
        .iter()
        .filter(|e| matches!(e, CallEvent::Rerouted { after: 302, .. }))
        .count();
    assert_eq!(rerouted, 2);
}

#[test]
fn busy_is_forwarded_to_the_forward_route() {
    let first = Target {
        forward_codes: vec![486, 408, 480],
        forward: Some(Box::new(to(PHONE_C))),
        ..to(PHONE_B)
    };
    let mut net = net(vec![first], Vec::new());
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    net.send_b(reply_b(&b_inv, 486, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    let c_inv = net.one_c();
    assert_eq!(c_inv.uri(), Some("sip:bob@10.0.0.30:5060"));
    assert_next_attempt(&b_inv, &c_inv);
    assert!(net.a().is_empty(), "A never sees the 486");
    assert_eq!(
        net.events.last(),
        Some(&CallEvent::Rerouted {
            call: CallKey(1),
            route: PHONE_C.into(),
            after: 486
        })
    );
    c_answers(&mut net, &c_inv);
}

#[test]
fn no_answer_cancels_the_ringing_attempt_and_forwards() {
    let first = Target {
        no_answer: Some(Duration::from_secs(10)),
        forward: Some(Box::new(to(PHONE_C))),
        ..to(PHONE_B)
    };
    let mut net = net(vec![first], Vec::new());
    let (_, b_inv) = net.start();
    net.send_b(reply_b(&b_inv, 180, None));
    assert_eq!(net.one_a().status(), Some(180));
    net.advance(9_999);
    assert!(net.a().is_empty() && net.b().is_empty() && net.c().is_empty());
    net.advance(1);
    let cancel = net.one_b();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(top_branch(&cancel), top_branch(&b_inv));
    assert_eq!(cancel.cseq().unwrap().seq, b_inv.cseq().unwrap().seq);
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Rerouted { after: 480, .. })
    ));
    let c_inv = net.one_c();
    assert_next_attempt(&b_inv, &c_inv);
    // B confirms the CANCEL and ends its INVITE: absorbed, A hears nothing of it.
    net.send_b(reply_b(&cancel, 200, None));
    net.send_b(reply_b(&b_inv, 487, None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    assert!(net.a().is_empty());
    c_answers(&mut net, &c_inv);
}

#[test]
fn no_answer_without_a_forward_route_cancels_and_ends_with_480() {
    let first = Target {
        no_answer: Some(Duration::from_secs(10)),
        ..to(PHONE_B)
    };
    let mut net = net(vec![first], Vec::new());
    let (_, b_inv) = net.start();
    // No provisional yet: the CANCEL waits for one (RFC 3261 §9.1), A is answered at once.
    net.advance(10_000);
    let v = net.a();
    assert_eq!(v.last().and_then(Message::status), Some(480), "{v:?}");
    assert!(net.b().iter().all(|m| m.method() == Some(&Method::Invite)));
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::Timeout,
            code: 480,
            ..
        })
    ));
    assert_eq!(net.sbc.call_count(), 0);
    net.send_b(reply_b(&b_inv, 180, None));
    assert_eq!(net.one_b().method(), Some(&Method::Cancel));
    // B answers anyway, winning the race with the CANCEL: ACKed and hung up.
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let methods: Vec<_> = net.b().iter().map(|m| m.method().cloned()).collect();
    assert_eq!(methods, [Some(Method::Ack), Some(Method::Bye)]);
    assert!(net.a().is_empty());
}
