//! The registration cache: customer and core expiries, absorbed refreshes, relayed challenges,
//! flows, keepalives and hostile input.

use super::*;
use bytes::Bytes;
use sbc_common::sip::Limits;

const S: Duration = Duration::from_secs(1);
const SBC: &str = "192.0.2.1:5080";

impl RegistrationCache {
    /// A REGISTER from a customer not behind NAT.
    fn customer_register(&mut self, now: Instant, req: &Message, flow: Flow) -> CacheAction {
        self.handle_customer_register(now, req, flow, false)
    }
}

fn cache() -> RegistrationCache {
    RegistrationCache::new(
        CacheConfig {
            customer_expires: 60,
            core_expires: 3600,
            min_expires: 30,
            keepalive_interval: Duration::from_secs(30),
            keepalive_failures: 2,
        },
        SBC,
        0x5eed,
    )
}

fn flow() -> Flow {
    Flow::udp("203.0.113.5:40000".parse().unwrap())
}

fn parse(text: String) -> Message {
    Message::parse(Bytes::from(text), &Limits::default()).unwrap()
}

fn register(call_id: &str, cseq: u32, headers: &str) -> Message {
    parse(format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKc{cseq};rport\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:alice@example.com>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{headers}Content-Length: 0\r\n\r\n"
    ))
}

const CONTACT: &str = "Expires: 3600\r\nContact: <sip:alice@10.0.0.2:5060;ob>\r\n";

/// The core's answer to a forwarded REGISTER: `code`, echoing its Contacts with `expires`.
fn core_answer(fwd: &Message, code: u16, expires: Option<u32>, extra: &str) -> Message {
    let mut contacts = String::new();
    if let Some(e) = expires {
        for c in fwd.contacts() {
            if let Ok(Contact::Addr(a)) = c {
                if a.expires() != Some(0) {
                    contacts.push_str(&format!("Contact: <{}>;expires={e}\r\n", a.uri));
                }
            }
        }
    }
    parse(format!(
        "SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/UDP {SBC};branch=z9hG4bKsbc\r\nFrom: {}\r\nTo: {};tag=core1\r\nCall-ID: {}\r\nCSeq: {}\r\n{contacts}{extra}Content-Length: 0\r\n\r\n",
        fwd.header(&HeaderName::From).unwrap(),
        fwd.header(&HeaderName::To).unwrap(),
        fwd.call_id().unwrap(),
        fwd.header(&HeaderName::CSeq).unwrap(),
    ))
}

fn forwarded(action: CacheAction) -> Message {
    match action {
        CacheAction::Forward(m) => m,
        other => panic!("expected Forward, got {other:?}"),
    }
}

fn contact_list(m: &Message) -> Vec<(String, Option<u32>)> {
    m.contacts()
        .filter_map(|c| match c.unwrap() {
            Contact::Addr(a) => Some((a.uri.to_owned(), a.expires())),
            Contact::Star => None,
        })
        .collect()
}

/// Registers alice at t0 and returns the binding token.
fn registered(c: &mut RegistrationCache, t0: Instant) -> String {
    let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
    let token = Uri::parse(&contact_list(&fwd)[0].0)
        .unwrap()
        .user()
        .unwrap()
        .to_owned();
    let rsp = c
        .handle_core_response(t0, &core_answer(&fwd, 200, Some(3600), ""))
        .unwrap();
    assert_eq!(rsp.status(), Some(200));
    token
}

#[test]
fn customer_gets_short_expiry_and_core_long_with_rewritten_contact() {
    let t0 = Instant::now();
    let mut c = cache();
    let req = register(
        "c1",
        1,
        &format!("{CONTACT}Authorization: Digest username=\"alice\"\r\n"),
    );
    let fwd = forwarded(c.customer_register(t0, &req, flow()));
    assert!(
        !fwd.has(&HeaderName::Via),
        "the SBC's transaction adds its own Via"
    );
    assert!(!fwd.has(&HeaderName::Expires));
    assert_eq!(fwd.uri(), Some("sip:example.com"));
    assert_eq!(fwd.call_id(), Some("c1"));
    assert_eq!(
        fwd.header(&HeaderName::Authorization),
        Some("Digest username=\"alice\""),
        "credentials go up unchanged"
    );
    let list = contact_list(&fwd);
    assert_eq!(list.len(), 1);
    let (uri, expires) = &list[0];
    assert_eq!(*expires, Some(3600), "core sees the long expiry");
    let parsed = Uri::parse(uri).unwrap();
    assert_eq!(parsed.host().unwrap().as_str(), "192.0.2.1");
    assert_eq!(parsed.port(), Some(5080));
    let token = parsed.user().unwrap().to_owned();
    assert!(
        !token.contains("alice") && !uri.contains("10.0.0.2"),
        "{uri}"
    );

    let rsp = c
        .handle_core_response(t0, &core_answer(&fwd, 200, Some(3600), ""))
        .unwrap();
    assert_eq!(rsp.status(), Some(200));
    assert_eq!(
        contact_list(&rsp),
        vec![("sip:alice@10.0.0.2:5060;ob".to_owned(), Some(60))],
        "customer sees its own Contact with the short expiry"
    );
    assert_eq!(
        rsp.via().unwrap().host,
        "10.0.0.2",
        "answered on the customer's transaction"
    );
    assert!(rsp.to().unwrap().tag().is_some());
    assert_eq!(c.core_expires_at(&token), Some(t0 + 3600 * S));
    assert_eq!(c.counters().core_accepted, 1);
}

#[test]
fn refreshes_are_absorbed_until_the_core_binding_nears_expiry() {
    let t0 = Instant::now();
    let mut c = cache();
    let token = registered(&mut c, t0);
    // The phone refreshes every 50 s, before its 60 s run out. The core binding (3600 s)
    // must outlive the next refresh plus the margin: 3600 - 50k > 60 + 32, so k = 1..=70
    // are absorbed and k = 71 (50 s left at the core) is forwarded.
    let mut forwarded_at = None;
    for k in 1..=71u32 {
        let t = t0 + k * 50 * S;
        c.handle_timer(t - S);
        match c.customer_register(t, &register("c1", 1 + k, CONTACT), flow()) {
            CacheAction::Absorb(rsp) => {
                assert_eq!(rsp.status(), Some(200));
                assert_eq!(contact_list(&rsp)[0].1, Some(60));
            }
            CacheAction::Forward(fwd) => {
                forwarded_at = Some(k);
                assert_eq!(
                    contact_list(&fwd)[0].0,
                    format!("sip:{token}@{SBC}"),
                    "same token"
                );
                let rsp = c
                    .handle_core_response(t, &core_answer(&fwd, 200, Some(3600), ""))
                    .unwrap();
                assert_eq!(contact_list(&rsp)[0].1, Some(60));
                assert_eq!(c.core_expires_at(&token), Some(t + 3600 * S));
            }
            CacheAction::Reject(r) => panic!("rejected: {r:?}"),
        }
    }
    assert_eq!(forwarded_at, Some(71));
    assert_eq!(c.counters().absorbed, 70);
    assert_eq!(c.counters().forwarded, 2);
    // After the forwarded refresh the next ones are absorbed again.
    let t = t0 + 72 * 50 * S;
    assert!(matches!(
        c.customer_register(t, &register("c1", 73, CONTACT), flow()),
        CacheAction::Absorb(_)
    ));
}

#[test]
fn a_shorter_core_grant_shortens_the_absorbing_period() {
    let t0 = Instant::now();
    let mut c = cache();
    let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
    c.handle_core_response(t0, &core_answer(&fwd, 200, Some(200), ""))
        .unwrap();
    // 200 - 50 = 150 > 60 + 32: absorbed; 200 - 100 = 100 > 92: absorbed;
    // 200 - 110 = 90: forwarded.
    for (t, cseq) in [(50, 2), (100, 3)] {
        assert!(matches!(
            c.customer_register(t0 + t * S, &register("c1", cseq, CONTACT), flow()),
            CacheAction::Absorb(_)
        ));
    }
    assert!(matches!(
        c.customer_register(t0 + 110 * S, &register("c1", 4, CONTACT), flow()),
        CacheAction::Forward(_)
    ));
    // A core grant below the customer expiry is passed on as is.
    let mut c = cache();
    let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
    let rsp = c
        .handle_core_response(t0, &core_answer(&fwd, 200, Some(40), ""))
        .unwrap();
    assert_eq!(contact_list(&rsp)[0].1, Some(40));
}

#[test]
fn refreshes_that_cannot_be_trusted_are_forwarded() {
    let t0 = Instant::now();
    let mut c = cache();
    registered(&mut c, t0);
    let t = t0 + 30 * S;
    let other_flow = Flow::udp("198.51.100.9:40000".parse().unwrap());
    for (req, f, why) in [
        (register("c1", 2, CONTACT), other_flow, "another flow"),
        (register("c2", 2, CONTACT), flow(), "another Call-ID"),
        (register("c1", 1, CONTACT), flow(), "CSeq not higher"),
        (
            register(
                "c1",
                2,
                "Contact: <sip:alice@10.0.0.2:5060;ob>;expires=0\r\n",
            ),
            flow(),
            "a removal",
        ),
        (
            register("c1", 2, "Contact: <sip:alice@10.0.0.7>\r\n"),
            flow(),
            "a new contact",
        ),
        (register("c1", 2, ""), flow(), "a query"),
    ] {
        assert!(
            matches!(c.customer_register(t, &req, f), CacheAction::Forward(_)),
            "{why}"
        );
    }
    assert_eq!(c.counters().absorbed, 0);
}

#[test]
fn core_challenge_is_relayed_down_and_credentials_up() {
    let t0 = Instant::now();
    let mut c = cache();
    let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
    let challenge = "Digest realm=\"core.example\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\"";
    let rsp = c
        .handle_core_response(
            t0,
            &core_answer(
                &fwd,
                401,
                None,
                &format!("WWW-Authenticate: {challenge}\r\n"),
            ),
        )
        .unwrap();
    assert_eq!(rsp.status(), Some(401));
    assert_eq!(rsp.header(&HeaderName::WwwAuthenticate), Some(challenge));
    assert_eq!(rsp.via().unwrap().host, "10.0.0.2");
    assert!(c.is_empty(), "nothing cached before the core accepts");
    let creds = "Digest username=\"alice\", realm=\"core.example\", nonce=\"abc\", uri=\"sip:example.com\", response=\"00\"";
    let fwd = forwarded(c.customer_register(
        t0 + S,
        &register("c1", 2, &format!("{CONTACT}Authorization: {creds}\r\n")),
        flow(),
    ));
    assert_eq!(fwd.header(&HeaderName::Authorization), Some(creds));
    assert_eq!(c.counters().challenges_relayed, 1);
    // Other failures are relayed by status, with Min-Expires for a 423.
    let rsp = c
        .handle_core_response(
            t0 + S,
            &core_answer(&fwd, 423, None, "Min-Expires: 7200\r\n"),
        )
        .unwrap();
    assert_eq!(rsp.status(), Some(423));
    assert_eq!(rsp.min_expires(), Some(7200));
    // A second answer to the same REGISTER (or a provisional) is not for anyone.
    assert!(c
        .handle_core_response(t0 + S, &core_answer(&fwd, 200, Some(3600), ""))
        .is_none());
}

#[test]
fn binding_address_leads_back_to_the_customer_flow() {
    let t0 = Instant::now();
    let mut c = cache();
    let token = registered(&mut c, t0);
    let target = c
        .lookup_request_uri(t0 + S, &format!("sip:{token}@{SBC}"))
        .unwrap();
    assert_eq!(target.contact, "sip:alice@10.0.0.2:5060;ob");
    assert_eq!(target.flow, flow());
    assert_eq!(target.aor, "sip:alice@example.com");
    assert_eq!(c.lookup_aor(t0, "sip:alice@example.com"), vec![target]);
    assert_eq!(c.lookup_request_uri(t0, &format!("sip:nope@{SBC}")), None);
    // The customer stops refreshing: after 60 s the binding lapses.
    assert_eq!(c.poll_timeout(), Some(t0 + 60 * S));
    c.handle_timer(t0 + 60 * S);
    assert_eq!(
        c.poll_output(),
        Some(CacheOutput::Lapsed {
            aor: "sip:alice@example.com".into(),
            token: token.clone()
        })
    );
    assert_eq!(
        c.lookup_request_uri(t0 + 60 * S, &format!("sip:{token}@{SBC}")),
        None
    );
    assert_eq!(c.counters().lapsed, 1);
}

#[test]
fn unregister_is_forwarded_and_clears_the_cache() {
    let t0 = Instant::now();
    let mut c = cache();
    let token = registered(&mut c, t0);
    let fwd = forwarded(c.customer_register(
        t0 + S,
        &register(
            "c1",
            2,
            "Expires: 0\r\nContact: <sip:alice@10.0.0.2:5060;ob>\r\n",
        ),
        flow(),
    ));
    assert_eq!(
        contact_list(&fwd),
        vec![(format!("sip:{token}@{SBC}"), Some(0))]
    );
    let rsp = c
        .handle_core_response(t0 + S, &core_answer(&fwd, 200, Some(3600), ""))
        .unwrap();
    assert!(contact_list(&rsp).is_empty());
    assert!(c.is_empty());
    // Contact: * with Expires: 0 clears every binding of the AOR.
    registered(&mut c, t0 + 2 * S);
    let fwd = forwarded(c.customer_register(
        t0 + 3 * S,
        &register("c1", 9, "Expires: 0\r\nContact: *\r\n"),
        flow(),
    ));
    assert_eq!(fwd.header(&HeaderName::Contact), Some("*"));
    assert_eq!(fwd.expires(), Some(0));
    c.handle_core_response(t0 + 3 * S, &core_answer(&fwd, 200, None, ""));
    assert!(c.is_empty());
}

#[test]
fn bad_registers_are_rejected_locally() {
    let t0 = Instant::now();
    let mut c = cache();
    for (headers, code) in [
        ("Contact: *\r\n", 400),
        ("Expires: 0\r\nContact: *, <sip:a@10.0.0.1>\r\n", 400),
        ("Contact: <sip:alice@10.0.0.2>;expires=10\r\n", 423),
        ("Expires: never\r\nContact: <sip:alice@10.0.0.2>\r\n", 400),
    ] {
        let CacheAction::Reject(rsp) = c.customer_register(t0, &register("c1", 1, headers), flow())
        else {
            panic!("{headers:?} not rejected")
        };
        assert_eq!(rsp.status(), Some(code), "{headers:?}");
        if code == 423 {
            assert_eq!(rsp.min_expires(), Some(30));
        }
    }
    assert_eq!(c.counters().rejected, 4);
    assert_eq!(c.counters().forwarded, 0);
}

#[test]
fn unanswered_forwards_are_forgotten() {
    let t0 = Instant::now();
    let mut c = cache();
    let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
    assert_eq!(c.poll_timeout(), Some(t0 + PENDING_TIMEOUT));
    c.handle_timer(t0 + PENDING_TIMEOUT);
    assert!(c
        .handle_core_response(
            t0 + PENDING_TIMEOUT,
            &core_answer(&fwd, 200, Some(3600), "")
        )
        .is_none());
    assert!(c.is_empty());
}

#[test]
fn natted_customers_get_keepalives_and_dead_flows_leave_the_cache() {
    let t0 = Instant::now();
    let mut c = cache();
    let fwd = forwarded(c.handle_customer_register(t0, &register("c1", 1, CONTACT), flow(), true));
    c.handle_core_response(t0, &core_answer(&fwd, 200, Some(3600), ""))
        .unwrap();
    let token = Uri::parse(&contact_list(&fwd)[0].0)
        .unwrap()
        .user()
        .unwrap()
        .to_owned();
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + 30 * S),
        "keepalive before expiry"
    );
    c.handle_timer(t0 + 30 * S);
    assert_eq!(
        c.poll_output(),
        Some(CacheOutput::Keepalive {
            token: token.clone(),
            contact: "sip:alice@10.0.0.2:5060;ob".into(),
            flow: flow(),
            kind: KeepaliveKind::Options
        })
    );
    // An absorbed refresh proves the flow; then two explicit failures remove the binding.
    assert!(matches!(
        c.handle_customer_register(t0 + 40 * S, &register("c1", 2, CONTACT), flow(), true),
        CacheAction::Absorb(_)
    ));
    c.handle_keepalive_failure(&token);
    assert_eq!(c.len(), 1);
    c.handle_keepalive_answer(&token);
    c.handle_keepalive_failure(&token);
    assert_eq!(c.len(), 1, "the answer reset the count");
    c.handle_keepalive_failure(&token);
    assert!(c.is_empty());
    assert_eq!(
        c.poll_output(),
        Some(CacheOutput::KeepaliveFailed {
            aor: "sip:alice@example.com".into(),
            token: token.clone()
        })
    );
    assert_eq!(
        c.lookup_request_uri(t0 + 41 * S, &format!("sip:{token}@{SBC}")),
        None
    );
    assert_eq!(c.counters().keepalive_removed, 1);
    // Customers not behind NAT get none.
    let mut c = cache();
    registered(&mut c, t0);
    assert_eq!(
        c.poll_timeout(),
        Some(t0 + 60 * S),
        "only the customer expiry"
    );
}

#[test]
fn hostile_values_never_panic() {
    let t0 = Instant::now();
    let mut c = cache();
    for headers in [
        "Contact: <sip:a@[::1]>;expires=4294967295\r\n",
        "Expires: 4294967296\r\nContact: <sip:a@10.0.0.1>\r\n",
        "Contact: <sip:a@10.0.0.1>;expires=-1\r\n",
        "Contact: <sip:a@10.0.0.1>;q=7\r\n",
        "Contact: *;expires=0\r\n",
        "Contact: <>\r\n",
        "Contact: ,,,\r\n",
        "Contact: <sip:a@10.0.0.1>;+sip.instance=\"<>\";reg-id=99999999999\r\n",
    ] {
        let req = register("c1", 1, headers);
        match c.customer_register(t0, &req, flow()) {
            CacheAction::Reject(r) | CacheAction::Absorb(r) => {
                assert!(matches!(r.status(), Some(200 | 400 | 423)), "{headers:?}");
            }
            CacheAction::Forward(fwd) => {
                // Even a core granting absurd expiries is clamped to what was asked.
                let rsp = c.handle_core_response(t0, &core_answer(&fwd, 200, Some(u32::MAX), ""));
                assert_eq!(rsp.and_then(|r| r.status()), Some(200), "{headers:?}");
            }
        }
    }
    assert!(!c.is_empty());
    for token in c.entries.keys() {
        assert!(c.core_expires_at(token).unwrap() <= t0 + 3600 * S);
    }
}

/// A REGISTER for `user` (its own AOR, Call-ID and contact) asking `expires`.
fn register_user(user: u32, cseq: u32, expires: u32) -> Message {
    parse(format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKu{user}c{cseq}\r\nFrom: <sip:u{user}@example.com>;tag=f{user}\r\nTo: <sip:u{user}@example.com>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:u{user}@10.0.0.2:{port}>;expires={expires}\r\nContent-Length: 0\r\n\r\n",
        port = 1024 + user
    ))
}

/// Registers `user` through the core at `now`.
fn register_through_core(c: &mut RegistrationCache, now: Instant, user: u32, expires: u32) {
    let fwd = forwarded(c.customer_register(now, &register_user(user, 1, expires), flow()));
    let rsp = c.handle_core_response(now, &core_answer(&fwd, 200, Some(3600), ""));
    assert_eq!(rsp.and_then(|r| r.status()), Some(200));
}

#[test]
fn an_absorbed_refresh_moves_the_lapse_and_the_old_one_lapses_nothing() {
    let t0 = Instant::now();
    let mut c = cache();
    register_through_core(&mut c, t0, 1, 60);
    assert_eq!(c.poll_timeout(), Some(t0 + 60 * S), "the customer's 60 s");
    let absorbed = c.customer_register(t0 + 40 * S, &register_user(1, 2, 60), flow());
    assert!(matches!(absorbed, CacheAction::Absorb(_)));
    assert_eq!(c.poll_timeout(), Some(t0 + 100 * S));
    c.handle_timer(t0 + 60 * S);
    assert_eq!(c.len(), 1, "the refreshed binding outlives its old lapse");
    assert_eq!(c.poll_output(), None);
    c.handle_timer(t0 + 100 * S);
    assert!(c.is_empty());
    assert!(matches!(c.poll_output(), Some(CacheOutput::Lapsed { .. })));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn among_many_cached_bindings_a_tick_lapses_exactly_the_due_ones_in_order() {
    let t0 = Instant::now();
    let mut c = RegistrationCache::new(
        CacheConfig {
            customer_expires: 3600,
            ..cache().cfg
        },
        SBC,
        7,
    );
    // 200 users asking 100, 101, ... 299 s, registered in a scrambled order.
    for i in 0..200u32 {
        let user = (i * 7) % 200;
        register_through_core(&mut c, t0, user, 100 + user);
    }
    assert_eq!(c.len(), 200);
    assert_eq!(c.poll_timeout(), Some(t0 + 100 * S));
    // User 5's binding is removed by the operator: its lapse no longer counts, and its AOR
    // finds nothing while user 6's still finds its own contact.
    assert_eq!(c.remove_aor("sip:u5@example.com"), 1);
    assert!(c.lookup_aor(t0, "sip:u5@example.com").is_empty());
    let six = c.lookup_aor(t0, "sip:u6@example.com");
    assert_eq!(six.len(), 1);
    assert_eq!(six[0].contact, "sip:u6@10.0.0.2:1030");
    c.handle_timer(t0 + 150 * S);
    let lapsed: Vec<String> = std::iter::from_fn(|| c.poll_output())
        .map(|o| match o {
            CacheOutput::Lapsed { aor, .. } => aor,
            other => panic!("{other:?}"),
        })
        .collect();
    let want: Vec<String> = (0..=50)
        .filter(|u| *u != 5)
        .map(|u| format!("sip:u{u}@example.com"))
        .collect();
    assert_eq!(lapsed, want, "the 50 due bindings, earliest first");
    assert_eq!(c.len(), 149);
    assert!(c.lookup_aor(t0 + 150 * S, "sip:u50@example.com").is_empty());
    assert_eq!(c.lookup_aor(t0 + 150 * S, "sip:u51@example.com").len(), 1);
    assert_eq!(c.poll_timeout(), Some(t0 + 151 * S));
}

#[test]
fn rapid_absorbed_refreshes_do_not_grow_the_deadline_queue() {
    let t0 = Instant::now();
    let mut c = cache();
    for user in 0..10 {
        register_through_core(&mut c, t0, user, 60);
    }
    // User 3 refreshes every 10 ms, 3,000 times: each absorbed refresh leaves a stale entry.
    for n in 0..3000u32 {
        let at = t0 + Duration::from_millis(10 * u64::from(n + 1));
        let action = c.customer_register(at, &register_user(3, n + 2, 60), flow());
        assert!(matches!(action, CacheAction::Absorb(_)), "{action:?}");
    }
    assert!(
        c.due.len() <= 2 * 10 + 64 + 1,
        "queue holds {}",
        c.due.len()
    );
    assert_eq!(c.poll_timeout(), Some(t0 + 60 * S), "user 0's lapse");
    c.handle_timer(t0 + 60 * S);
    assert_eq!(c.len(), 1, "only the refreshed binding is left");
    assert_eq!(c.poll_timeout(), Some(t0 + 90 * S));
}

#[test]
fn a_closed_connection_takes_only_the_cached_bindings_still_on_it() {
    let t0 = Instant::now();
    let mut c = cache();
    let on = |conn: u64| Flow::tcp("203.0.113.5:50000".parse().unwrap(), conn);
    let through_core = |c: &mut RegistrationCache, user: u32, cseq: u32, flow: Flow| {
        let fwd = forwarded(c.customer_register(t0, &register_user(user, cseq, 60), flow));
        assert!(c
            .handle_core_response(t0, &core_answer(&fwd, 200, Some(3600), ""))
            .is_some());
    };
    through_core(&mut c, 1, 1, on(7));
    through_core(&mut c, 2, 1, on(7));
    // User 1 comes back over connection 8: not absorbed (another flow), so forwarded again.
    through_core(&mut c, 1, 2, on(8));
    assert_eq!(c.len(), 2);
    assert_eq!(c.handle_flow_closed(7), 1, "only user 2 is still on 7");
    assert_eq!(c.lookup_aor(t0, "sip:u1@example.com").len(), 1);
    assert_eq!(c.handle_flow_closed(8), 1);
    assert!(c.is_empty());
}
