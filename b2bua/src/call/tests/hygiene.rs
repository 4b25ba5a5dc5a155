//! SDP hygiene and ICE-lite on virtual time: what describes one leg's own transport (ICE
//! candidates and credentials, DTLS fingerprint and setup, BUNDLE) never reaches the other leg,
//! in offers, answers and re-INVITEs (RFC 8839 §5, RFC 8122, RFC 8843); a side with `ice =
//! "lite"` gets the SBC's own ICE-lite attributes and the relay runs ICE there when both ends
//! have it (RFC 8445 §2.5).

use super::*;

/// `base` with ICE, DTLS and BUNDLE lines naming `private` and `public` addresses.
fn with_ice(base: &str, private: &str, public: &str) -> String {
    let session_end = base.find("m=").unwrap();
    let (head, media) = base.split_at(session_end);
    format!(
        "{head}a=group:BUNDLE 0\r\na=ice-options:trickle\r\na=fingerprint:sha-256 12:34:56\r\n{media}\
         a=mid:0\r\na=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n\
         a=candidate:1 1 UDP 2130706431 {private} 49170 typ host\r\n\
         a=candidate:2 1 UDP 1694498815 {public} 61000 typ srflx raddr {private} rport 49170\r\n\
         a=end-of-candidates\r\na=setup:actpass\r\n"
    )
}

fn assert_clean(msg: &Message, leaked: &[&str]) {
    let text = String::from_utf8_lossy(&msg.to_bytes()).into_owned();
    for l in leaked {
        assert!(!text.contains(l), "{l} leaked:\n{text}");
    }
    for attr in [
        "a=candidate",
        "a=ice-",
        "a=fingerprint",
        "a=setup",
        "BUNDLE",
        "end-of-candidates",
    ] {
        assert!(!text.contains(attr), "{attr} crossed:\n{text}");
    }
    // The media itself still crosses.
    assert!(text.contains("a=rtpmap:0 PCMU/8000"), "{text}");
}

#[test]
fn candidates_and_ice_credentials_never_cross_in_either_direction_nor_in_reinvites() {
    let mut net = Net::new();
    let offer = with_ice(&sdp_a(1, "sendrecv"), "192.168.1.23", "198.51.100.99");
    net.send_a(with_sdp(invite_a(70), Some(&offer)));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    assert_clean(&b_inv, &["192.168.1.23", "198.51.100.99", "x9cml"]);
    // The core answers with its own ICE: none of it reaches the customer.
    let answer = with_ice(&sdp_b(1, "sendrecv"), "10.9.8.7", "192.0.2.200");
    net.send_b(reply_b(&b_inv, 200, Some(&answer)));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_clean(&ok, &["10.9.8.7", "192.0.2.200"]);
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    net.b();
    // A re-INVITE with fresh candidates (the phone moved networks).
    let moved = with_ice(&sdp_a(2, "sendrecv"), "172.16.0.4", "203.0.113.50");
    net.send_a(from_a(Method::Invite, &ok, 2, "z9hG4bKa3", Some(&moved)));
    net.a();
    let re = net.one_b();
    assert_eq!(re.method(), Some(&Method::Invite));
    assert_clean(&re, &["172.16.0.4", "203.0.113.50", "192.168.1.23"]);
    net.send_b(reply_b(&re, 200, Some(&answer)));
    let ok2 = net.one_a();
    assert_clean(&ok2, &["10.9.8.7", "192.0.2.200"]);
}

fn ice_net(a: IcePolicy, b: IcePolicy) -> Net {
    Net::with_router(CallConfig::default(), move |m: &Message, d: Dest| {
        let mut r = route(m, d)?;
        r.a_side.ice = a;
        r.b_side.ice = b;
        Ok(r)
    })
}

fn attr_values(msg: &Message, name: &str) -> Vec<String> {
    let sdp = Sdp::parse(msg.body()).unwrap();
    let session = sdp
        .attributes()
        .filter(|a| a.is(name))
        .map(|a| a.value.unwrap_or_default().to_owned());
    let media: Vec<String> = sdp
        .media()
        .flat_map(|m| {
            m.description()
                .attributes()
                .filter(|a| a.is(name))
                .map(|a| a.value.unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    session.chain(media).collect()
}

fn ice_ops(ops: Vec<Op>) -> Vec<(Leg, Option<IceParams>)> {
    ops.into_iter()
        .filter_map(|o| match o {
            Op::Ice(SessionId(1), 0, leg, p) => Some((leg, p)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_ice_offer_on_a_lite_side_is_answered_as_ice_lite_with_the_relay_ports() {
    let mut net = ice_net(IcePolicy::Lite, IcePolicy::Off);
    let offer = with_ice(&sdp_a(1, "sendrecv"), "192.168.1.23", "198.51.100.99");
    net.send_a(with_sdp(invite_a(70), Some(&offer)));
    net.a();
    let b_inv = net.one_b();
    assert!(
        attr_values(&b_inv, "ice-lite").is_empty(),
        "no ICE on the core leg"
    );
    assert!(attr_values(&b_inv, "candidate").is_empty());
    net.ops();
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(attr_values(&ok, "ice-lite"), [""]);
    assert_eq!(attr_values(&ok, "ice-ufrag"), ["ufrag1"]);
    assert_eq!(attr_values(&ok, "ice-pwd"), ["password0000000000000001"]);
    // One host candidate per component: the relay's A-side RTP and RTCP ports.
    assert_eq!(
        attr_values(&ok, "candidate"),
        [
            "1 1 UDP 2130706431 203.0.113.1 20000 typ host",
            "1 2 UDP 2130706430 203.0.113.1 20001 typ host"
        ]
    );
    assert_eq!(
        ice_ops(net.ops()),
        [(
            Leg::A,
            Some(IceParams {
                local_ufrag: "ufrag1".into(),
                local_pwd: "password0000000000000001".into(),
                remote_ufrag: Some("F7gI".into()),
            })
        )]
    );
    // A re-INVITE keeps the credentials: nothing new for the relay.
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    net.b();
    let again = with_ice(&sdp_a(2, "sendonly"), "192.168.1.23", "198.51.100.99");
    net.send_a(from_a(Method::Invite, &ok, 2, "z9hG4bKa3", Some(&again)));
    net.a();
    let re = net.one_b();
    net.send_b(reply_b(&re, 200, Some(&sdp_b(2, "recvonly"))));
    let ok2 = net.one_a();
    assert_eq!(attr_values(&ok2, "ice-ufrag"), ["ufrag1"]);
    assert!(ice_ops(net.ops()).is_empty());
}

#[test]
fn a_plain_offer_on_a_lite_side_gets_no_ice_and_the_relay_runs_none() {
    let mut net = ice_net(IcePolicy::Lite, IcePolicy::Off);
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert!(attr_values(&ok, "ice-ufrag").is_empty());
    assert!(attr_values(&ok, "ice-lite").is_empty());
    assert!(ice_ops(net.ops()).is_empty());
}

#[test]
fn the_sbc_offers_ice_lite_on_a_lite_side_and_runs_it_only_if_the_answer_has_ice() {
    for answer_ice in [false, true] {
        let mut net = ice_net(IcePolicy::Off, IcePolicy::Lite);
        net.send_a(invite_a(70));
        net.a();
        let b_inv = net.one_b();
        assert_eq!(attr_values(&b_inv, "ice-lite"), [""]);
        assert_eq!(attr_values(&b_inv, "ice-ufrag"), ["ufrag1"]);
        assert_eq!(
            attr_values(&b_inv, "candidate"),
            [
                "1 1 UDP 2130706431 10.0.0.1 20002 typ host",
                "1 2 UDP 2130706430 10.0.0.1 20003 typ host"
            ]
        );
        net.ops();
        let answer = if answer_ice {
            with_ice(&sdp_b(1, "sendrecv"), "10.9.8.7", "192.0.2.200")
        } else {
            sdp_b(1, "sendrecv")
        };
        net.send_b(reply_b(&b_inv, 200, Some(&answer)));
        let ok = net.one_a();
        assert!(attr_values(&ok, "ice-ufrag").is_empty(), "A's side is off");
        let ops = ice_ops(net.ops());
        if answer_ice {
            assert_eq!(ops.len(), 1, "{ops:?}");
            assert_eq!(ops[0].0, Leg::B);
            assert_eq!(
                ops[0].1.as_ref().and_then(|p| p.remote_ufrag.as_deref()),
                Some("F7gI")
            );
        } else {
            assert!(ops.is_empty(), "{ops:?}");
        }
    }
}

#[test]
fn candidates_never_cross_in_early_media_nor_in_a_delayed_offer() {
    // 183 with SDP from the core.
    let mut net = Net::new();
    net.send_a(invite_a(70));
    net.a();
    let b_inv = net.one_b();
    let early = with_ice(&sdp_b(1, "sendrecv"), "10.9.8.7", "192.0.2.200");
    net.send_b(reply_b(&b_inv, 183, Some(&early)));
    let progress = net.one_a();
    assert_eq!(progress.status(), Some(183));
    assert_clean(&progress, &["10.9.8.7", "192.0.2.200"]);
    // Delayed offer: the offer in B's 200, the answer in A's ACK.
    let mut net = Net::new();
    let mut inv = invite_a(70);
    inv.set_body(bytes::Bytes::new(), None);
    net.send_a(inv);
    net.a();
    let b_inv = net.one_b();
    let offer = with_ice(&sdp_b(3, "sendrecv"), "10.9.8.7", "192.0.2.200");
    net.send_b(reply_b(&b_inv, 200, Some(&offer)));
    let ok = net.one_a();
    assert_clean(&ok, &["10.9.8.7", "192.0.2.200"]);
    let answer = with_ice(&sdp_a(1, "sendrecv"), "192.168.1.23", "198.51.100.99");
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", Some(&answer)));
    let ack = net.one_b();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_clean(&ack, &["192.168.1.23", "198.51.100.99"]);
}
