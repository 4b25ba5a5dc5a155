use super::*;

fn named(host: &str, port: Option<u16>, transport: Option<Transport>, sips: bool) -> Named {
    Named {
        host: host.into(),
        port,
        transport,
        sips,
    }
}

const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

#[test]
fn the_first_question_follows_rfc_3263_section_4() {
    assert_eq!(
        named("trunk.test", None, None, false).question(),
        Question::Naptr("trunk.test".into())
    );
    assert_eq!(
        named("trunk.test", None, Some(Transport::Tcp), false).question(),
        Question::Srv(Transport::Tcp, "_sip._tcp.trunk.test".into())
    );
    assert_eq!(
        named("trunk.test", None, None, true).question(),
        Question::Srv(Transport::Tls, "_sips._tcp.trunk.test".into())
    );
    assert_eq!(
        named("trunk.test", Some(5080), None, false).question(),
        Question::Address(Transport::Udp, "trunk.test".into(), 5080)
    );
    assert_eq!(
        named("trunk.test", Some(5081), Some(Transport::Tls), false).question(),
        Question::Address(Transport::Tls, "trunk.test".into(), 5081)
    );
    assert_eq!(
        (default_port(Transport::Udp), default_port(Transport::Tls)),
        (5060, 5061)
    );
}

#[test]
fn naptr_services_are_ordered_and_filtered_by_what_the_sbc_speaks() {
    let r = |order, preference, flags: &str, service: &str, replacement: &str| Naptr {
        order,
        preference,
        flags: flags.into(),
        service: service.into(),
        replacement: replacement.into(),
    };
    let records = [
        r(50, 50, "s", "SIP+D2U", "_sip._udp.trunk.test."),
        r(30, 50, "s", "SIPS+D2T", "_sips._tcp.trunk.test."),
        r(40, 50, "s", "SIP+D2T", "_sip._tcp.trunk.test."),
        r(10, 10, "s", "SIP+D2S", "_sip._sctp.trunk.test."),
        r(10, 10, "u", "SIP+D2U", "!^.*$!sip:x@y!"),
        r(40, 10, "S", "sip+d2t", "_sip._tcp.first.test"),
    ];
    assert_eq!(
        from_naptr(&records, &ALL, false),
        [
            (Transport::Tls, "_sips._tcp.trunk.test".to_owned()),
            (Transport::Tcp, "_sip._tcp.first.test".to_owned()),
            (Transport::Tcp, "_sip._tcp.trunk.test".to_owned()),
            (Transport::Udp, "_sip._udp.trunk.test".to_owned()),
        ]
    );
    // A sips: name takes only SIPS+D2T; an SBC without TLS skips it.
    assert_eq!(
        from_naptr(&records, &ALL, true),
        [(Transport::Tls, "_sips._tcp.trunk.test".to_owned())]
    );
    assert_eq!(from_naptr(&records, &[Transport::Udp], false).len(), 1);
    assert!(from_naptr(&records, &[Transport::Udp], true).is_empty());
}

#[test]
fn without_naptr_the_srv_names_are_tried_tls_first() {
    let n = named("trunk.test", None, None, false);
    assert_eq!(
        n.srv_fallback(&ALL),
        [
            (Transport::Tls, "_sips._tcp.trunk.test".to_owned()),
            (Transport::Tcp, "_sip._tcp.trunk.test".to_owned()),
            (Transport::Udp, "_sip._udp.trunk.test".to_owned()),
        ]
    );
    assert_eq!(n.srv_fallback(&[Transport::Udp]).len(), 1);
    assert_eq!(
        named("trunk.test", None, None, true).srv_fallback(&[Transport::Udp]),
        []
    );
}

/// splitmix64, for reproducible "random" numbers.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn srv(priority: u16, weight: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight,
        port: 5060,
        target: target.into(),
    }
}

#[test]
fn srv_records_go_by_priority_and_weight_shares_the_first_pick() {
    let records = [
        srv(20, 0, "backup.test"),
        srv(10, 80, "a.test"),
        srv(10, 20, "b.test"),
        srv(30, 5, "."),
    ];
    let mut random = rng(7);
    let mut first_a = 0;
    for _ in 0..10_000 {
        let order = order_srv(&records, &mut random);
        let names: Vec<&str> = order.iter().map(|r| r.target.as_str()).collect();
        // Priority 10 before 20; the "." target (no service) is dropped.
        assert_eq!(names.len(), 3);
        assert_eq!(names[2], "backup.test");
        if names[0] == "a.test" {
            first_a += 1;
        }
    }
    // 80/20 within one priority (RFC 2782): a.test first about 80 % of the time.
    assert!((7_700..=8_300).contains(&first_a), "{first_a}");
}

#[test]
fn zero_weight_records_get_a_small_chance() {
    let records = [srv(10, 0, "zero.test"), srv(10, 10, "ten.test")];
    let mut random = rng(11);
    let zero_first = (0..11_000)
        .filter(|_| order_srv(&records, &mut random)[0].target == "zero.test")
        .count();
    // Picked when the random number is 0 of 0..=10: about 1 in 11.
    assert!((700..=1_300).contains(&zero_first), "{zero_first}");
    // All zero: every record still comes out.
    let zeros = [srv(1, 0, "x.test"), srv(1, 0, "y.test")];
    assert_eq!(order_srv(&zeros, &mut random).len(), 2);
}

#[test]
fn a_held_back_target_goes_last_until_its_time_is_up() {
    let t0 = Instant::now();
    let (a, b, c): (SocketAddr, SocketAddr, SocketAddr) = (
        "192.0.2.1:5060".parse().unwrap(),
        "192.0.2.2:5060".parse().unwrap(),
        "192.0.2.3:5060".parse().unwrap(),
    );
    let mut hb = HoldBack::default();
    hb.hold(t0, a, Duration::from_secs(30));
    let mut targets = vec![a, b, c];
    hb.expire(t0 + Duration::from_secs(1));
    hb.reorder(&mut targets);
    assert_eq!(targets, [b, c, a]);
    assert!(hb.is_held(t0 + Duration::from_secs(29), a));
    assert!(!hb.is_held(t0 + Duration::from_secs(30), a));
    let mut targets = vec![a, b, c];
    hb.expire(t0 + Duration::from_secs(30));
    hb.reorder(&mut targets);
    assert_eq!(targets, [a, b, c]);
    assert!(hb.until.is_empty(), "expired entries are forgotten");
}
