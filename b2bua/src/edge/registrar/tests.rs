//! RFC 3261 §10.3 and RFC 5626 §6 rules on virtual time.

use super::*;
use bytes::Bytes;
use sbc_common::sip::Limits;
use std::net::SocketAddr;

const S: Duration = Duration::from_secs(1);
const AOR: &str = "sip:alice@example.com";

fn cfg() -> RegistrarConfig {
    RegistrarConfig {
        min_expires: 30,
        max_expires: 7200,
        nat_expires: 60,
        keepalive_interval: 30 * S,
        keepalive_failures: 3,
        fork_mode: ForkMode::Parallel,
    }
}

fn flow() -> Flow {
    Flow::udp("203.0.113.5:40000".parse().unwrap())
}

/// A REGISTER for alice with these extra header lines (Contact, Expires, ...).
fn register(call_id: &str, cseq: u32, headers: &str) -> Message {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK{cseq}\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:alice@Example.COM>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{headers}Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text), &Limits::default()).unwrap()
}

/// The `(uri, expires)` pairs of a 200's Contact list, in order.
fn contacts(rsp: &Message) -> Vec<(String, u32)> {
    rsp.contacts()
        .map(|c| match c.unwrap() {
            Contact::Addr(a) => (a.uri.to_owned(), a.expires().unwrap()),
            Contact::Star => panic!("* in a response"),
        })
        .collect()
}

#[test]
fn aor_is_canonical() {
    assert_eq!(aor_of("sip:alice@Example.COM;transport=tcp").unwrap(), AOR);
    assert_eq!(aor_of("sips:al%69ce@example.com").unwrap(), AOR);
    assert_eq!(
        aor_of("sip:alice@example.com:5070").unwrap(),
        "sip:alice@example.com:5070"
    );
    assert_eq!(aor_of("sip:example.com"), None);
    assert_eq!(aor_of("tel:+15551234"), None);
}

#[test]
fn default_expiry_is_3600_and_the_200_lists_bindings() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let rsp = r.handle_register(
        t0,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.10:5060>\r\n"),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(200));
    assert!(rsp.to().unwrap().tag().is_some());
    assert_eq!(
        contacts(&rsp),
        vec![("sip:alice@192.0.2.10:5060".to_owned(), 3600)]
    );
    // 100 s later the remaining time is listed.
    let q = r.handle_register(t0 + 100 * S, &register("c9", 1, ""), flow(), false);
    assert_eq!(q.status(), Some(200), "a query without Contact");
    assert_eq!(contacts(&q)[0].1, 3500);
    // Expired at 3600 s.
    assert_eq!(r.bindings(t0 + 3599 * S, AOR).len(), 1);
    assert_eq!(r.poll_timeout(), Some(t0 + 3600 * S));
    r.handle_timer(t0 + 3600 * S);
    assert_eq!(r.binding_count(), 0);
    assert!(matches!(
        r.poll_output(),
        Some(RegistrarOutput::Removed {
            reason: RemovalReason::Expired,
            ..
        })
    ));
    assert_eq!(r.counters().expired, 1);
}

#[test]
fn several_contacts_with_q_values_and_expires_precedence() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let rsp = r.handle_register(
        t0,
        &register(
            "c1",
            1,
            "Expires: 300\r\nContact: <sip:alice@192.0.2.10>;q=0.5, <sip:alice@192.0.2.11>;expires=120;q=1\r\nContact: <sip:alice@192.0.2.12>;q=0.5\r\n",
        ),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(200));
    // The parameter beats the header; the header beats the default.
    assert_eq!(
        contacts(&rsp),
        vec![
            ("sip:alice@192.0.2.10".to_owned(), 300),
            ("sip:alice@192.0.2.11".to_owned(), 120),
            ("sip:alice@192.0.2.12".to_owned(), 300),
        ]
    );
    assert!(rsp
        .values(&HeaderName::Contact)
        .any(|v| v.contains(";q=0.5")));
    // Lookup: highest q first, then newest first among equals.
    let order: Vec<String> = r.lookup(t0, AOR).into_iter().map(|t| t.contact).collect();
    assert_eq!(
        order,
        [
            "sip:alice@192.0.2.11",
            "sip:alice@192.0.2.12",
            "sip:alice@192.0.2.10"
        ]
    );
    assert_eq!(r.fork_plan(t0, AOR).len(), 1, "parallel: one group");
    let mut serial = Registrar::new(RegistrarConfig {
        fork_mode: ForkMode::Serial,
        ..cfg()
    });
    serial.handle_register(
        t0,
        &register(
            "c1",
            1,
            "Contact: <sip:a@192.0.2.1>;q=0.1, <sip:a@192.0.2.2>;q=0.9, <sip:a@192.0.2.3>;q=0.9\r\n",
        ),
        flow(),
        false,
    );
    let plan = serial.fork_plan(t0, AOR);
    let sizes: Vec<usize> = plan.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 1], "q=0.9 pair first, then q=0.1");
    assert_eq!(plan[1][0].contact, "sip:a@192.0.2.1");
    // After 120 s only the middle contact lapses.
    r.handle_timer(t0 + 120 * S);
    assert_eq!(r.bindings(t0 + 120 * S, AOR).len(), 2);
    assert!(r.fork_plan(t0, "sip:nobody@example.com").is_empty());
}

#[test]
fn too_brief_expiry_gets_423_with_min_expires_and_changes_nothing() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let rsp = r.handle_register(
        t0,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.10>, <sip:alice@192.0.2.11>;expires=10\r\n",
        ),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(423));
    assert_eq!(rsp.min_expires(), Some(30));
    assert_eq!(
        r.binding_count(),
        0,
        "atomic: the good contact is not bound either"
    );
    // Exactly the minimum is fine; too long is cut to max_expires.
    let rsp = r.handle_register(
        t0,
        &register(
            "c1",
            2,
            "Contact: <sip:alice@192.0.2.10>;expires=30, <sip:alice@192.0.2.11>;expires=99999\r\n",
        ),
        flow(),
        false,
    );
    assert_eq!(
        contacts(&rsp).iter().map(|c| c.1).collect::<Vec<_>>(),
        [30, 7200]
    );
    assert_eq!(r.counters().rejected, 1);
}

#[test]
fn behind_nat_gets_the_short_expiry() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let rsp = r.handle_register(
        t0,
        &register(
            "c1",
            1,
            "Expires: 3600\r\nContact: <sip:alice@10.0.0.2>\r\n",
        ),
        flow(),
        true,
    );
    assert_eq!(contacts(&rsp)[0].1, 60);
    // The binding keeps the flow, not the private Contact.
    let t = &r.lookup(t0, AOR)[0];
    assert_eq!(t.contact, "sip:alice@10.0.0.2");
    assert_eq!(
        t.flow.source,
        "203.0.113.5:40000".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn expires_zero_removes_one_contact() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    r.handle_register(
        t0,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.10>, <sip:alice@192.0.2.11>\r\n",
        ),
        flow(),
        false,
    );
    // Removal by parameter, with an equivalent (not identical) URI.
    let rsp = r.handle_register(
        t0 + S,
        &register(
            "c1",
            2,
            "Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=0\r\n",
        ),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(200));
    // sip:alice@192.0.2.10 has no port or transport, so it is not equivalent (RFC 3261
    // §19.1.4): nothing removed.
    assert_eq!(contacts(&rsp).len(), 2);
    let rsp = r.handle_register(
        t0 + S,
        &register("c1", 3, "Expires: 0\r\nContact: <sip:alice@192.0.2.10>\r\n"),
        flow(),
        false,
    );
    assert_eq!(
        contacts(&rsp),
        vec![("sip:alice@192.0.2.11".to_owned(), 3599)]
    );
    assert_eq!(r.counters().unregistered, 1);
}

#[test]
fn star_removes_all_only_with_expires_zero() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    r.handle_register(
        t0,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.10>, <sip:alice@192.0.2.11>\r\n",
        ),
        flow(),
        false,
    );
    for bad in [
        "Contact: *\r\n",
        "Expires: 60\r\nContact: *\r\n",
        "Expires: 0\r\nContact: *, <sip:alice@192.0.2.12>\r\n",
        "Expires: 0\r\nContact: *\r\nContact: *\r\n",
    ] {
        let rsp = r.handle_register(t0 + S, &register("c2", 1, bad), flow(), false);
        assert_eq!(rsp.status(), Some(400), "{bad:?}");
    }
    assert_eq!(r.binding_count(), 2);
    let rsp = r.handle_register(
        t0 + S,
        &register("c2", 1, "Expires: 0\r\nContact: *\r\n"),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(200));
    assert!(contacts(&rsp).is_empty());
    assert_eq!(r.binding_count(), 0);
    assert!(r.lookup(t0 + S, AOR).is_empty());
}

#[test]
fn call_id_and_cseq_ordering() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let c = "Contact: <sip:alice@192.0.2.10>\r\n";
    r.handle_register(t0, &register("c1", 5, c), flow(), false);
    // Same Call-ID, CSeq not higher: the whole request fails and nothing changes.
    for stale in [5, 4] {
        let rsp = r.handle_register(
            t0 + S,
            &register(
                "c1",
                stale,
                "Expires: 0\r\nContact: <sip:alice@192.0.2.10>, <sip:alice@192.0.2.99>;expires=60\r\n",
            ),
            flow(),
            false,
        );
        assert_eq!(rsp.status(), Some(400), "CSeq {stale}");
        assert_eq!(rsp.reason(), Some("Out Of Order CSeq"));
    }
    assert_eq!(r.binding_count(), 1);
    assert_eq!(r.bindings(t0, AOR)[0].cseq, 5);
    // A star with an old CSeq fails too.
    let rsp = r.handle_register(
        t0 + S,
        &register("c1", 3, "Expires: 0\r\nContact: *\r\n"),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(400));
    // Higher CSeq updates.
    let rsp = r.handle_register(
        t0 + S,
        &register("c1", 6, "Expires: 120\r\n"),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(200), "query");
    let rsp = r.handle_register(
        t0 + S,
        &register(
            "c1",
            6,
            "Expires: 120\r\nContact: <sip:alice@192.0.2.10>\r\n",
        ),
        flow(),
        false,
    );
    assert_eq!(contacts(&rsp)[0].1, 120);
    // Another Call-ID (the phone rebooted) with a lower CSeq replaces the binding.
    let other_flow = Flow::udp("203.0.113.5:41000".parse().unwrap());
    let rsp = r.handle_register(t0 + 2 * S, &register("c2", 1, c), other_flow, false);
    assert_eq!(rsp.status(), Some(200));
    let b = &r.bindings(t0 + 2 * S, AOR)[0];
    assert_eq!((b.call_id.as_str(), b.cseq), ("c2", 1));
    assert_eq!(b.flow, other_flow, "the flow follows the newest REGISTER");
    assert_eq!(r.binding_count(), 1);
}

#[test]
fn malformed_registers_get_400() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    for (headers, reason) in [
        (
            "Expires: soon\r\nContact: <sip:a@192.0.2.1>\r\n",
            "Bad Expires",
        ),
        ("Contact: <sip:a@192.0.2.1\r\n", "Bad Contact"),
    ] {
        let rsp = r.handle_register(t0, &register("c1", 1, headers), flow(), false);
        assert_eq!((rsp.status(), rsp.reason()), (Some(400), Some(reason)));
    }
    let text = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <tel:+15551234>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    let req = Message::parse(Bytes::from(text), &Limits::default()).unwrap();
    assert_eq!(
        r.handle_register(t0, &req, flow(), false).status(),
        Some(400)
    );
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn too_many_contacts_are_refused() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let list: Vec<String> = (0..=MAX_BINDINGS_PER_AOR)
        .map(|i| format!("<sip:a@192.0.2.{i}>"))
        .collect();
    let rsp = r.handle_register(
        t0,
        &register("c1", 1, &format!("Contact: {}\r\n", list.join(", "))),
        flow(),
        false,
    );
    assert_eq!(rsp.status(), Some(403));
    assert_eq!(r.binding_count(), 0);
}

const OB: &str = "Supported: outbound, path\r\n";

fn ob_contact(host: &str, reg_id: u32) -> String {
    format!(
        "Contact: <sip:alice@{host};ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id={reg_id}\r\n"
    )
}

#[test]
fn outbound_flows_per_instance_and_reg_id() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let tcp1 = Flow::tcp("203.0.113.5:50001".parse().unwrap(), 1);
    let tcp2 = Flow::tcp("203.0.113.5:50002".parse().unwrap(), 2);
    let rsp = r.handle_register(
        t0,
        &register("c1", 1, &format!("{OB}{}", ob_contact("10.0.0.2", 1))),
        tcp1,
        true,
    );
    assert_eq!(rsp.status(), Some(200));
    assert!(rsp.has_token(&HeaderName::Require, "outbound"));
    let v = rsp.header(&HeaderName::Contact).unwrap();
    assert!(v.contains("reg-id=1") && v.contains("+sip.instance"), "{v}");
    // A second flow of the same instance (reg-id 2, another Call-ID) sits beside the first.
    r.handle_register(
        t0,
        &register("c2", 1, &format!("{OB}{}", ob_contact("10.0.0.2", 2))),
        tcp2,
        true,
    );
    assert_eq!(r.binding_count(), 2);
    // Re-registering reg-id 1 from a new connection replaces that flow, even with a new
    // Contact URI (RFC 5626 §6: instance + reg-id identify the binding).
    let tcp3 = Flow::tcp("203.0.113.5:50003".parse().unwrap(), 3);
    r.handle_register(
        t0 + S,
        &register("c3", 1, &format!("{OB}{}", ob_contact("10.0.0.3", 1))),
        tcp3,
        true,
    );
    assert_eq!(r.binding_count(), 2);
    let flows: Vec<Option<u64>> = r
        .lookup(t0 + S, AOR)
        .iter()
        .map(|t| t.flow.connection)
        .collect();
    assert!(flows.contains(&Some(3)) && flows.contains(&Some(2)) && !flows.contains(&Some(1)));
    // When a connection closes, its flow's binding goes.
    r.handle_flow_closed(2);
    assert_eq!(r.binding_count(), 1);
    assert!(matches!(
        r.poll_output(),
        Some(RegistrarOutput::Removed {
            reason: RemovalReason::FlowClosed,
            ..
        })
    ));
    // Two reg-id contacts in one REGISTER are refused.
    let rsp = r.handle_register(
        t0 + S,
        &register(
            "c4",
            1,
            &format!(
                "{OB}{}{}",
                ob_contact("10.0.0.4", 7),
                ob_contact("10.0.0.5", 8)
            ),
        ),
        tcp3,
        true,
    );
    assert_eq!(rsp.status(), Some(400));
    // Without Supported: outbound the reg-id is ignored: plain RFC 3261 binding by URI.
    let rsp = r.handle_register(
        t0 + S,
        &register("c5", 1, &ob_contact("10.0.0.9", 1)),
        tcp3,
        true,
    );
    assert!(!rsp.has(&HeaderName::Require));
    assert_eq!(r.binding_count(), 2);
    assert!(r
        .bindings(t0 + S, AOR)
        .iter()
        .any(|b| b.contact == "sip:alice@10.0.0.9;ob" && b.reg_id.is_none()));
}

#[test]
fn keepalives_to_natted_bindings_and_removal_after_misses() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let tcp = Flow::tcp("203.0.113.5:50001".parse().unwrap(), 9);
    r.handle_register(
        t0,
        &register("c1", 1, "Contact: <sip:alice@10.0.0.2;transport=tcp>\r\n"),
        tcp,
        true,
    );
    // A public (not NATed) contact gets no keepalives.
    let mut rb = Registrar::new(cfg());
    rb.handle_register(
        t0,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.10>\r\n"),
        flow(),
        false,
    );
    assert_eq!(rb.bindings(t0, AOR)[0].next_keepalive(), None);
    assert_eq!(r.poll_timeout(), Some(t0 + 30 * S));
    r.handle_timer(t0 + 29 * S);
    assert_eq!(r.poll_output(), None, "not due yet");
    r.handle_timer(t0 + 30 * S);
    let Some(RegistrarOutput::Keepalive {
        binding,
        kind,
        flow: f,
        ..
    }) = r.poll_output()
    else {
        panic!("keepalive expected")
    };
    assert_eq!(kind, KeepaliveKind::DoubleCrlf);
    assert_eq!(f, tcp);
    r.handle_keepalive_answer(binding);
    assert_eq!(r.bindings(t0, AOR)[0].keepalive_misses(), 0);

    // A UDP binding with a long expiry, and nobody answering.
    let mut r = Registrar::new(RegistrarConfig {
        nat_expires: 3600,
        ..cfg()
    });
    r.handle_register(
        t0,
        &register("c1", 1, "Contact: <sip:alice@10.0.0.2>\r\n"),
        flow(),
        true,
    );
    let mut sent = 0;
    let mut t = t0;
    while let Some(next) = r.poll_timeout() {
        t = next;
        r.handle_timer(t);
        while let Some(out) = r.poll_output() {
            match out {
                RegistrarOutput::Keepalive { kind, .. } => {
                    assert_eq!(kind, KeepaliveKind::Options);
                    sent += 1;
                }
                RegistrarOutput::Removed { reason, .. } => {
                    assert_eq!(reason, RemovalReason::KeepaliveFailed);
                }
            }
        }
        if r.binding_count() == 0 {
            break;
        }
    }
    // Pings at 30, 60, 90 unanswered; the binding goes at 120 when the third miss counts.
    assert_eq!(sent, 3);
    assert_eq!(t, t0 + 120 * S);
    assert_eq!(r.counters().keepalive_removed, 1);
    assert_eq!(r.counters().keepalive_misses, 3);
}

#[test]
fn answers_reset_misses_and_explicit_failures_count() {
    let t0 = Instant::now();
    let mut r = Registrar::new(RegistrarConfig {
        nat_expires: 3600,
        ..cfg()
    });
    r.handle_register(
        t0,
        &register("c1", 1, "Contact: <sip:alice@10.0.0.2>\r\n"),
        flow(),
        true,
    );
    let id = r.bindings(t0, AOR)[0].id;
    // Two misses, then an answer: the count starts again.
    r.handle_timer(t0 + 30 * S);
    r.handle_timer(t0 + 60 * S);
    r.handle_timer(t0 + 90 * S);
    assert_eq!(r.bindings(t0, AOR)[0].keepalive_misses(), 2);
    r.handle_keepalive_answer(id);
    assert_eq!(r.bindings(t0, AOR)[0].keepalive_misses(), 0);
    // Explicit failures (transaction timeouts) count at once: three remove the binding.
    r.handle_keepalive_failure(id);
    r.handle_keepalive_failure(id);
    assert_eq!(r.binding_count(), 1);
    r.handle_keepalive_failure(id);
    assert_eq!(r.binding_count(), 0);
    let outs: Vec<_> = std::iter::from_fn(|| r.poll_output()).collect();
    assert!(outs.iter().any(|o| matches!(
        o,
        RegistrarOutput::Removed {
            binding,
            reason: RemovalReason::KeepaliveFailed,
            ..
        } if *binding == id
    )));
    // Unknown ids are ignored.
    r.handle_keepalive_failure(id);
    r.handle_keepalive_answer(id);
}

#[test]
fn q_values_are_written_back_canonically() {
    assert_eq!(format_q(1000), "1");
    assert_eq!(format_q(500), "0.5");
    assert_eq!(format_q(125), "0.125");
    assert_eq!(format_q(0), "0.0");
    assert_eq!(format_q(50), "0.05");
}

#[test]
fn hostile_values_never_panic() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    for headers in [
        "Contact: <sip:a@[::1]>;expires=4294967295\r\n",
        "Expires: 4294967296\r\nContact: <sip:a@10.0.0.1>\r\n",
        "Contact: <sip:a@10.0.0.1>;expires=-1\r\n",
        "Contact: <sip:a@10.0.0.1>;q=7\r\n",
        "Contact: *;expires=0\r\n",
        "Contact: <>\r\n",
        "Contact: ,,,\r\n",
        "Supported: outbound\r\nContact: <sip:a@10.0.0.1>;+sip.instance=\"<>\";reg-id=99999999999\r\n",
        "Supported: outbound\r\nContact: <sip:a@10.0.0.1>;reg-id=1\r\n",
    ] {
        let rsp = r.handle_register(t0, &register("c1", 1, headers), flow(), true);
        assert!(
            matches!(rsp.status(), Some(200 | 400 | 423)),
            "{headers:?}: {rsp:?}"
        );
    }
    // Whatever was bound expires within max_expires.
    r.handle_timer(t0 + 7200 * S);
    assert_eq!(r.binding_count(), 0);
}

/// A REGISTER for `user` (its own AOR, Call-ID and contact) with this expiry.
fn register_user(user: u32, cseq: u32, expires: u32) -> Message {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK{user}x{cseq}\r\nFrom: <sip:u{user}@example.com>;tag=f{user}\r\nTo: <sip:u{user}@example.com>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:u{user}@192.0.2.10:{port}>;expires={expires}\r\nContent-Length: 0\r\n\r\n",
        port = 1024 + user
    );
    Message::parse(Bytes::from(text), &Limits::default()).unwrap()
}

#[test]
fn a_refresh_moves_the_deadline_and_the_old_one_expires_nothing() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let ok = r.handle_register(t0, &register_user(1, 1, 600), flow(), false);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(r.poll_timeout(), Some(t0 + 600 * S));
    // Refreshed at 100 s: the next work is at 700 s, not at the old 600 s.
    r.handle_register(t0 + 100 * S, &register_user(1, 2, 600), flow(), false);
    assert_eq!(r.poll_timeout(), Some(t0 + 700 * S));
    r.handle_timer(t0 + 600 * S);
    assert_eq!(
        r.binding_count(),
        1,
        "the refreshed binding outlives its old expiry"
    );
    assert_eq!(r.poll_output(), None);
    r.handle_timer(t0 + 700 * S);
    assert_eq!(r.binding_count(), 0);
    assert!(matches!(
        r.poll_output(),
        Some(RegistrarOutput::Removed {
            reason: RemovalReason::Expired,
            ..
        })
    ));
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn among_many_bindings_a_tick_expires_exactly_the_due_ones_in_order() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    // 300 users with expiries 100, 101, ... 399 s, registered in a scrambled order.
    for i in 0..300u32 {
        let user = (i * 7) % 300;
        r.handle_register(t0, &register_user(user, 1, 100 + user), flow(), false);
    }
    assert_eq!(r.binding_count(), 300);
    assert_eq!(r.poll_timeout(), Some(t0 + 100 * S));
    // User 5 unregisters: its deadline no longer counts.
    r.handle_register(t0 + S, &register_user(5, 2, 0), flow(), false);
    r.handle_timer(t0 + 150 * S);
    let expired: Vec<String> = std::iter::from_fn(|| r.poll_output())
        .map(|o| match o {
            RegistrarOutput::Removed { aor, reason, .. } => {
                assert_eq!(reason, RemovalReason::Expired);
                aor
            }
            other @ RegistrarOutput::Keepalive { .. } => panic!("{other:?}"),
        })
        .collect();
    let want: Vec<String> = (0..=50)
        .filter(|u| *u != 5)
        .map(|u| format!("sip:u{u}@example.com"))
        .collect();
    assert_eq!(expired, want, "the 50 due bindings, earliest first");
    assert_eq!(r.binding_count(), 249);
    assert_eq!(r.poll_timeout(), Some(t0 + 151 * S));
}

#[test]
fn rapid_refreshes_do_not_grow_the_deadline_queue() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    for user in 0..10 {
        r.handle_register(t0, &register_user(user, 1, 3600), flow(), false);
    }
    // One customer refreshes every 10 ms for 5,000 refreshes: each leaves a stale entry.
    for n in 0..5000u32 {
        let at = t0 + Duration::from_millis(10 * u64::from(n + 1));
        let ok = r.handle_register(at, &register_user(3, n + 2, 3600), flow(), false);
        assert_eq!(ok.status(), Some(200));
    }
    assert!(r.queued() <= 2 * 10 + 64 + 1, "queue holds {}", r.queued());
    assert_eq!(r.poll_timeout(), Some(t0 + 3600 * S), "user 0's expiry");
    r.handle_timer(t0 + 3600 * S);
    assert_eq!(r.binding_count(), 1, "only the refreshed binding is left");
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + Duration::from_millis(50_000) + 3600 * S)
    );
}

#[test]
fn keepalives_and_expiry_share_one_schedule() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    // Behind NAT: expiry capped at 60 s, a keepalive every 30 s.
    r.handle_register(t0, &register_user(1, 1, 3600), flow(), true);
    r.handle_register(t0 + 10 * S, &register_user(2, 1, 3600), flow(), true);
    let mut seen = Vec::new();
    while let Some(at) = r.poll_timeout() {
        r.handle_timer(at);
        while let Some(out) = r.poll_output() {
            match out {
                RegistrarOutput::Keepalive { aor, .. } => {
                    r.handle_keepalive_answer(r.bindings(at, &aor)[0].id);
                    seen.push((at.duration_since(t0).as_secs(), "ping", aor));
                }
                RegistrarOutput::Removed { aor, .. } => {
                    seen.push((at.duration_since(t0).as_secs(), "gone", aor))
                }
            }
        }
    }
    let (u1, u2) = (
        "sip:u1@example.com".to_owned(),
        "sip:u2@example.com".to_owned(),
    );
    assert_eq!(
        seen,
        vec![
            (30, "ping", u1.clone()),
            (40, "ping", u2.clone()),
            (60, "gone", u1),
            (70, "gone", u2),
        ]
    );
}

#[test]
fn a_closed_connection_takes_only_the_bindings_still_on_it() {
    let t0 = Instant::now();
    let mut r = Registrar::new(cfg());
    let on = |c: u64| Flow::tcp("203.0.113.5:50000".parse().unwrap(), c);
    // Users 1 and 2 register over connection 7; user 1 then refreshes over connection 8.
    r.handle_register(t0, &register_user(1, 1, 600), on(7), false);
    r.handle_register(t0, &register_user(2, 1, 600), on(7), false);
    r.handle_register(t0 + S, &register_user(1, 2, 600), on(8), false);
    // User 3 registers and unregisters over connection 7 forty times (ids pile up, then go).
    for n in 0..40 {
        r.handle_register(t0 + S, &register_user(3, 2 * n + 1, 600), on(7), false);
        r.handle_register(t0 + S, &register_user(3, 2 * n + 2, 0), on(7), false);
    }
    assert_eq!(r.binding_count(), 2);
    r.handle_flow_closed(7);
    assert_eq!(r.binding_count(), 1, "user 2 went with connection 7");
    assert_eq!(
        r.lookup(t0 + S, "sip:u1@example.com").len(),
        1,
        "user 1 moved to 8"
    );
    r.handle_flow_closed(7);
    assert_eq!(r.binding_count(), 1, "a second close of 7 changes nothing");
    r.handle_flow_closed(8);
    assert_eq!(r.binding_count(), 0);
}
