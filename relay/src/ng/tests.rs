use super::*;

/// A request as Kamailio's `rtpengine_offer("replace-origin replace-session-connection
/// trust-address direction=customer direction=core ICE=remove rtcp-mux-demux")` sends it.
fn kamailio_offer(cookie: &str) -> Vec<u8> {
    let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let mut dict = Vec::new();
    Value::Dict(vec![
        (&b"sdp"[..], Value::Bytes(sdp.as_bytes())),
        (b"flags", Value::List(vec![Value::Bytes(b"trust-address")])),
        (
            b"replace",
            Value::List(vec![
                Value::Bytes(b"origin"),
                Value::Bytes(b"session-connection"),
            ]),
        ),
        (
            b"direction",
            Value::List(vec![Value::Bytes(b"customer"), Value::Bytes(b"core")]),
        ),
        (b"ICE", Value::Bytes(b"remove")),
        (b"rtcp-mux", Value::List(vec![Value::Bytes(b"demux")])),
        (b"call-id", Value::Bytes(b"c1@pbx")),
        (
            b"received-from",
            Value::List(vec![Value::Bytes(b"IP4"), Value::Bytes(b"192.0.2.7")]),
        ),
        (b"from-tag", Value::Bytes(b"ft1")),
        (b"command", Value::Bytes(b"offer")),
    ])
    .encode(&mut dict);
    let mut out = format!("{cookie} ").into_bytes();
    out.extend_from_slice(&dict);
    out
}

#[test]
fn a_kamailio_offer_is_read_with_its_flags() {
    let msg = kamailio_offer("5323_1");
    let req = parse(&msg).unwrap();
    assert_eq!(req.cookie, b"5323_1");
    assert_eq!(req.command, Command::Offer);
    assert_eq!(
        (req.call_id, req.from_tag, req.to_tag),
        (Some("c1@pbx"), Some("ft1"), None)
    );
    assert!(req.sdp.unwrap().starts_with(b"v=0"));
    assert_eq!(req.flags, ["trust-address"]);
    assert_eq!(req.replace, ["origin", "session-connection"]);
    assert_eq!(req.direction, ["customer", "core"]);
    assert_eq!(req.received_from, ["IP4", "192.0.2.7"]);
    assert_eq!(
        (req.ice, req.rtcp_mux.as_slice()),
        (Some("remove"), &["demux"][..])
    );
}

#[test]
fn ping_is_a_command_and_replies_repeat_the_cookie() {
    let req = parse(b"abc d7:command4:pinge").unwrap();
    assert_eq!(req.command, Command::Ping);
    let r = reply(req.cookie, &[(b"result", Value::Bytes(b"pong"))]);
    assert_eq!(r, b"abc d6:result4:ponge");
}

#[test]
fn bad_requests_get_an_error_reply_when_they_have_a_cookie() {
    for (msg, reason) in [
        (&b"k1 d7:command3:fooe"[..], "Unrecognized command"),
        (b"k2 d4:callli1eee", "no command"),
        (b"k3 garbage", "malformed bencode"),
        (
            b"k4 d7:command5:offer7:call-id1:x8:from-tag1:ye",
            "No sdp in message",
        ),
        (
            b"k5 d7:command6:delete8:from-tag1:ye",
            "No call-id in message",
        ),
    ] {
        let (cookie, e) = parse(msg).unwrap_err();
        let cookie = cookie.expect("a cookie");
        let r = error_reply(cookie, &e);
        let text = String::from_utf8_lossy(&r).into_owned();
        assert!(
            text.starts_with(&format!(
                "{} d6:result5:error12:error-reason",
                String::from_utf8_lossy(cookie)
            )),
            "{text}"
        );
        assert!(text.contains(reason), "{text}");
    }
    // Without a cookie there is nobody to answer.
    assert_eq!(parse(b"d7:command4:pinge").unwrap_err().0, None);
    assert_eq!(parse(b"").unwrap_err(), (None, NgError::NoCookie));
    let huge = [b'x'; MAX_REQUEST + 1];
    assert_eq!(parse(&huge).unwrap_err().1, NgError::TooLarge);
}

#[test]
fn a_retransmitted_cookie_gets_the_same_reply_until_it_ages_out() {
    let t0 = Instant::now();
    let mut cache = ReplayCache::new(2, Duration::from_secs(30));
    cache.put(t0, b"c1", b"c1 d6:result2:oke".to_vec());
    assert_eq!(cache.get(t0, b"c1"), Some(&b"c1 d6:result2:oke"[..]));
    assert_eq!(cache.get(t0, b"c2"), None);
    // Bounded: a third entry pushes the oldest out.
    cache.put(t0, b"c2", b"r2".to_vec());
    cache.put(t0, b"c3", b"r3".to_vec());
    assert_eq!(cache.get(t0, b"c1"), None);
    assert_eq!(
        cache.get(t0 + Duration::from_secs(29), b"c3"),
        Some(&b"r3"[..])
    );
    assert_eq!(cache.get(t0 + Duration::from_secs(30), b"c3"), None);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        if let Err((Some(cookie), e)) = parse(&bytes) {
            let _ = error_reply(cookie, &e);
        }
    }
}
