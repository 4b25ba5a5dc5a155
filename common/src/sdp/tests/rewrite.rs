//! Rewrites of the typed model (addresses, ports, payload types, direction, attributes) and hold
//! detection; untouched lines stay byte-exact.

use super::*;

// ---------------------------------------------------------------- rewrites

#[test]
fn set_connection_address_switches_address_family() {
    let mut sdp = parse(&crlf(AUDIO_VIDEO_OFFER));
    sdp.set_connection_address(ip("2001:db8::5"));
    let c = sdp.connection().unwrap();
    assert_eq!((c.addrtype, c.ip), ("IP6", Some(ip("2001:db8::5"))));
    assert!(text(&sdp).contains("\r\nc=IN IP6 2001:db8::5\r\nb=AS:2048\r\n"));
    for m in sdp.media() {
        assert_eq!(m.connection().unwrap().ip, Some(ip("2001:db8::5")));
    }
    sdp.set_connection_address(ip("203.0.113.5"));
    assert_eq!(
        text(&sdp),
        String::from_utf8(crlf(AUDIO_VIDEO_OFFER))
            .unwrap()
            .replace("c=IN IP4 192.0.2.10", "c=IN IP4 203.0.113.5")
    );
}

#[test]
fn set_connection_address_rewrites_media_level_lines_and_fills_gaps() {
    // c= only in the first media section: the second needs a session-level one.
    let mut sdp = parse(&crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n\
         c=IN IP4 192.0.2.1/127\nm=video 0 RTP/AVP 31\n",
    ));
    sdp.set_connection_address(ip("203.0.113.5"));
    assert_eq!(
        text(&sdp),
        String::from_utf8(crlf(
            "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\n\
             m=audio 4000 RTP/AVP 0\nc=IN IP4 203.0.113.5\nm=video 0 RTP/AVP 31\n"
        ))
        .unwrap()
    );

    // Every section has its own c=: no session-level one is added.
    let mut sdp = parse(&crlf(RTCP_OFFER));
    sdp.set_connection_address(ip("203.0.113.5"));
    assert_eq!(sdp.connection(), None);
    assert_eq!(
        sdp.media_at(0).unwrap().connection().unwrap().ip,
        Some(ip("203.0.113.5"))
    );
}

#[test]
fn session_and_media_connection_setters() {
    let mut sdp = parse(&crlf(RTCP_OFFER));
    sdp.set_session_connection_address(ip("203.0.113.7"));
    assert!(text(&sdp).contains("s=-\r\nc=IN IP4 203.0.113.7\r\nt=0 0\r\n"));
    assert_eq!(
        sdp.media_at(0).unwrap().connection().unwrap().ip,
        Some(ip("192.0.2.20"))
    );

    let mut sdp = parse(&crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 0\ni=main audio\na=sendrecv\n",
    ));
    sdp.media_mut(0)
        .unwrap()
        .set_connection_address(ip("2001:db8::9"));
    assert!(text(&sdp).ends_with("i=main audio\r\nc=IN IP6 2001:db8::9\r\na=sendrecv\r\n"));
    assert_eq!(sdp.connection().unwrap().ip, Some(ip("192.0.2.1")));
    assert_eq!(
        sdp.media_at(0).unwrap().connection().unwrap().ip,
        Some(ip("2001:db8::9"))
    );
    sdp.media_mut(0)
        .unwrap()
        .set_connection_address(ip("203.0.113.1"));
    assert_eq!(
        sdp.media_at(0)
            .unwrap()
            .lines()
            .iter()
            .filter(|l| l.kind() == Some('c'))
            .count(),
        1
    );
}

#[test]
fn set_port_and_rtcp() {
    let mut sdp = parse(&crlf(RTCP_OFFER));
    let audio = sdp.media_mut(0).unwrap();
    audio.set_port(30000);
    assert_eq!(audio.port(), 30000);
    assert_eq!(
        audio.rtcp().unwrap().port,
        40001,
        "set_port leaves a=rtcp alone"
    );
    assert!(audio.set_rtcp(30001, ip("203.0.113.5")));
    let rtcp = audio.rtcp().unwrap();
    assert_eq!((rtcp.port, rtcp.ip()), (30001, Some(ip("203.0.113.5"))));
    let out = text(&sdp);
    assert!(out.contains("\r\nm=audio 30000 RTP/AVP 8 0 101\r\n"));
    assert!(out.contains("\r\na=rtcp:30001 IN IP4 203.0.113.5\r\n"));

    // Without an address, a=rtcp stays port-only; IPv6 switches the addrtype.
    let mut sdp = parse(b"v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000/2 RTP/AVP 0\na=RTCP:4001\n");
    let audio = sdp.media_mut(0).unwrap();
    assert!(audio.set_rtcp(5001, ip("2001:db8::1")));
    audio.set_port(5000);
    assert_eq!(
        text(&sdp),
        "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 5000/2 RTP/AVP 0\na=RTCP:5001\n",
        "changed lines keep their LF endings"
    );
    let mut sdp = parse(&crlf(PHONE_OFFER));
    assert!(
        !sdp.media_mut(0).unwrap().set_rtcp(1, ip("192.0.2.1")),
        "no a=rtcp"
    );
    assert_eq!(sdp.to_bytes(), crlf(PHONE_OFFER));
}

#[test]
fn set_transport_points_a_stream_at_the_relay() {
    let mut sdp = parse(&crlf(RTCP_OFFER));
    sdp.media_mut(0)
        .unwrap()
        .set_transport(ip("203.0.113.5"), 30000, 30000);
    let audio = sdp.media_at(0).unwrap();
    assert_eq!(audio.port(), 30000);
    assert_eq!(audio.rtcp().unwrap().port, 30000);
    assert_eq!(audio.rtcp().unwrap().ip(), Some(ip("203.0.113.5")));
    assert_eq!(audio.connection().unwrap().ip, Some(ip("203.0.113.5")));
    assert_round_trip(&sdp.to_bytes());
}

#[test]
fn reject_sets_port_zero() {
    let mut sdp = parse(&crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 0\nm=video 5000/2 RTP/AVP 31\na=rtpmap:31 H261/90000\n",
    ));
    sdp.media_mut(1).unwrap().reject();
    let video = sdp.media_at(1).unwrap();
    assert!(video.is_rejected());
    assert_eq!((video.port(), video.num_ports()), (0, None));
    assert!(text(&sdp).ends_with("m=video 0 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n"));
    assert!(!sdp.media_at(0).unwrap().is_rejected());
}

#[test]
fn origin_rewrites() {
    let mut sdp = parse(&crlf(PHONE_OFFER));
    sdp.bump_origin_version().unwrap();
    assert_eq!(sdp.origin().unwrap().session_version, "1");
    sdp.set_origin_address(ip("2001:db8::1"));
    let o = sdp.origin().unwrap();
    assert_eq!(
        (o.addrtype, o.address, o.session_id),
        ("IP6", "2001:db8::1", "20518")
    );
    assert!(text(&sdp).starts_with("v=0\r\no=- 20518 1 IN IP6 2001:db8::1\r\ns=SDP data\r\n"));
    sdp.set_origin_version(99);
    sdp.bump_origin_version().unwrap();
    assert_eq!(sdp.origin().unwrap().session_version_number(), Some(100));

    // Odd spacing and the username are kept; the version grows past u64.
    let mut sdp = parse(b"v=0\no=Some User  7 18446744073709551615 IN IP4 192.0.2.1 \n");
    sdp.bump_origin_version().unwrap();
    assert_eq!(
        text(&sdp),
        "v=0\no=Some User  7 18446744073709551616 IN IP4 192.0.2.1 \n"
    );

    let mut sdp = parse(b"v=0\no=- 1 v2 IN IP4 192.0.2.1\n");
    assert_eq!(
        sdp.bump_origin_version(),
        Err(SdpError::BadOrigin { line: 2 })
    );
}

#[test]
fn retain_and_remove_payload_types() {
    let mut sdp = parse(&crlf(AUDIO_VIDEO_OFFER));
    let video = sdp.media_mut(1).unwrap();
    assert_eq!(video.retain_payload_types(&[97]), Ok(1));
    assert_eq!(video.payload_types().collect::<Vec<_>>(), [97]);
    assert!(video.rtpmap(96).is_none());
    let kept: Vec<_> = video
        .attributes()
        .filter(|a| a.is("rtcp-fb"))
        .map(|a| a.value.unwrap())
        .collect();
    assert_eq!(
        kept,
        ["* nack pli", "97 nack"],
        "wildcard kept, 96's dropped"
    );

    let audio = sdp.media_mut(0).unwrap();
    assert_eq!(audio.remove_payload_types(&[96, 97, 13]), Ok(2));
    assert_eq!(audio.formats().collect::<Vec<_>>(), ["0", "8", "101"]);
    assert_eq!(audio.fmtp("96"), None);
    assert_eq!(audio.remove_payload_types(&[13]), Ok(0), "nothing to do");
    let before = sdp.clone();
    let audio = sdp.media_mut(0).unwrap();
    assert_eq!(
        audio.retain_payload_types(&[]),
        Err(SdpError::NoFormatsLeft)
    );
    assert_eq!(SdpError::NoFormatsLeft.status_code(), 488);
    assert_eq!(sdp, before, "unchanged on error");
    let out = text(&sdp);
    assert!(out.contains(
        "\r\nm=audio 7078 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video"
    ));
    assert!(out.contains("\r\nm=video 9078 RTP/AVP 97\r\nb=AS:1920\r\na=rtpmap:97 H264/90000\r\n"));
    assert_round_trip(out.as_bytes());
}

#[test]
fn non_payload_formats_survive_payload_filtering() {
    let mut sdp = parse(&crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=image 4000 udptl t38\na=T38FaxVersion:0\n",
    ));
    let image = sdp.media_mut(0).unwrap();
    assert!(!image.is_rtp());
    assert_eq!(image.retain_payload_types(&[0]), Ok(0));
    assert_eq!(image.formats().collect::<Vec<_>>(), ["t38"]);
}

#[test]
fn set_direction_replaces_or_adds() {
    let mut sdp = parse(&crlf(PHONE_OFFER));
    sdp.media_mut(0).unwrap().set_direction(Direction::SendOnly);
    assert!(text(&sdp).ends_with("a=ptime:20\r\na=sendonly\r\n"));
    assert_eq!(sdp.media_at(0).unwrap().direction(), Direction::SendOnly);

    let mut sdp = parse(&crlf(IPV6_OFFER));
    sdp.media_mut(0).unwrap().set_direction(Direction::Inactive);
    assert!(text(&sdp).ends_with("a=maxptime:150\r\na=inactive\r\n"));

    // Several direction lines collapse into one where the first was.
    let mut sdp =
        parse(b"v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\na=sendrecv\na=x\na=recvonly\n");
    assert_eq!(
        sdp.media_at(0).unwrap().direction(),
        Direction::RecvOnly,
        "last one wins"
    );
    sdp.media_mut(0).unwrap().set_direction(Direction::SendOnly);
    assert_eq!(
        text(&sdp),
        "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\na=sendonly\r\na=x\n"
    );

    // Session level.
    let mut sdp = parse(&crlf(AUDIO_VIDEO_OFFER));
    sdp.set_session_direction(Direction::Inactive);
    assert!(text(&sdp).contains("voip-metrics\r\na=inactive\r\nm=audio"));
    assert_eq!(sdp.session_direction(), Some(Direction::Inactive));
    assert_eq!(
        sdp.media_at(0).unwrap().direction(),
        Direction::Inactive,
        "inherited"
    );
    assert_eq!(
        sdp.media_at(1).unwrap().direction(),
        Direction::RecvOnly,
        "overridden"
    );
}

#[test]
fn add_and_remove_attributes() {
    let mut sdp = parse(&crlf(CRYPTO_ICE_OFFER));
    let audio = sdp.media_mut(0).unwrap();
    assert_eq!(audio.remove_attribute("candidate"), 2);
    assert_eq!(
        audio.remove_attribute("ICE-UFRAG") + audio.remove_attribute("ice-pwd"),
        2
    );
    assert_eq!(audio.remove_attribute("crypto"), 1);
    assert_eq!(audio.remove_attribute("nothing"), 0);
    audio.add_attribute("rtcp-mux", None).unwrap();
    audio.add_attribute("label", Some("main")).unwrap();
    assert!(audio.rtcp_mux());
    assert_eq!(audio.attribute("label"), Some("main"));
    assert_eq!(sdp.remove_attribute("fingerprint"), 1);
    sdp.add_attribute("tool", Some("sbc")).unwrap();
    let out = text(&sdp);
    assert!(out.contains("a=ice-lite\r\na=tool:sbc\r\nm=audio"));
    assert!(out.ends_with("a=sendrecv\r\na=rtcp-mux\r\na=label:main\r\n"));
    assert!(!out.contains("candidate") && !out.contains("crypto") && !out.contains("fingerprint"));

    for (name, value) in [
        ("x\r\nm=evil", None),
        ("", None),
        ("a:b", None),
        ("x", Some("1\n2")),
        ("x", Some("\0")),
    ] {
        assert_eq!(
            sdp.add_attribute(name, value),
            Err(SdpError::InvalidText),
            "{name:?}"
        );
    }
    assert_eq!(text(&sdp), out, "refused additions change nothing");
}

#[test]
fn lines_added_after_a_last_line_without_newline() {
    let mut sdp = parse(b"v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\na=x");
    sdp.media_mut(0).unwrap().add_attribute("y", None).unwrap();
    assert_eq!(
        text(&sdp),
        "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 1 RTP/AVP 0\na=x\r\na=y\r\n"
    );
    assert_round_trip(&sdp.to_bytes());

    // Trailing blank lines stay at the end.
    let mut sdp = parse(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\r\n");
    sdp.add_attribute("y", None).unwrap();
    assert_eq!(text(&sdp), "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\na=y\r\n\r\n");
}

#[test]
fn untouched_lines_stay_byte_exact_after_rewrites() {
    let body = AUDIO_VIDEO_OFFER.as_bytes();
    let mut sdp = parse(body);
    sdp.set_connection_address(ip("203.0.113.5"));
    sdp.media_mut(0).unwrap().set_port(30000);
    let out = text(&sdp);
    let changed: Vec<_> = AUDIO_VIDEO_OFFER
        .lines()
        .zip(out.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [
            ("c=IN IP4 192.0.2.10", "c=IN IP4 203.0.113.5"),
            (
                "m=audio 7078 RTP/AVP 96 97 0 8 101",
                "m=audio 30000 RTP/AVP 96 97 0 8 101"
            ),
        ]
    );
    assert!(!out.contains('\r'), "replaced lines keep their LF ending");
}

// ---------------------------------------------------------------- hold detection

fn hold_case(session_extra: &str, c: &str, media_extra: &str) -> Sdp {
    parse(&crlf(&format!(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 {c}\nt=0 0\n{session_extra}\
         m=audio 4000 RTP/AVP 0\n{media_extra}"
    )))
}

#[test]
fn hold_detection() {
    let on_hold = |sdp: &Sdp| sdp.media_at(0).unwrap().is_on_hold();
    assert!(!on_hold(&hold_case("", "192.0.2.1", "")));
    assert!(!on_hold(&hold_case("", "192.0.2.1", "a=sendrecv\n")));
    assert!(on_hold(&hold_case("", "192.0.2.1", "a=sendonly\n")));
    assert!(on_hold(&hold_case("", "192.0.2.1", "a=inactive\n")));
    assert!(
        !on_hold(&hold_case("", "192.0.2.1", "a=recvonly\n")),
        "recvonly is not hold"
    );
    assert!(
        on_hold(&hold_case("a=sendonly\n", "192.0.2.1", "")),
        "session level"
    );
    assert!(
        !on_hold(&hold_case("a=sendonly\n", "192.0.2.1", "a=sendrecv\n")),
        "media overrides"
    );
    assert!(on_hold(&hold_case("", "0.0.0.0", "")), "RFC 2543 style");
    assert!(
        on_hold(&hold_case("", "192.0.2.1", "c=IN IP4 0.0.0.0\n")),
        "media-level 0.0.0.0"
    );
    assert!(
        !on_hold(&hold_case("", "0.0.0.0", "c=IN IP4 192.0.2.7\n")),
        "media c= wins"
    );
    assert!(on_hold(&hold_case("", "192.0.2.1", "c=IN IP6 ::\n")));
    assert!(
        !on_hold(&hold_case("", "0.0.0.0", "a=ice-ufrag:F7gI\na=ice-pwd:x\n")),
        "trickle ICE"
    );
    assert!(
        !on_hold(&hold_case("a=ice-ufrag:F7gI\n", "0.0.0.0", "")),
        "trickle ICE"
    );

    let mut rejected = hold_case("", "192.0.2.1", "a=inactive\n");
    rejected.media_mut(0).unwrap().reject();
    assert!(!on_hold(&rejected), "a rejected stream is not on hold");
    assert!(!rejected.is_on_hold(), "no active stream");

    // Whole session: every active stream must be on hold.
    let mut sdp = parse(&crlf(AUDIO_VIDEO_OFFER));
    assert!(!sdp.is_on_hold());
    sdp.media_mut(0).unwrap().set_direction(Direction::SendOnly);
    assert!(!sdp.is_on_hold(), "video is recvonly");
    sdp.media_mut(1).unwrap().set_direction(Direction::Inactive);
    assert!(sdp.is_on_hold());
    sdp.media_mut(1).unwrap().reject();
    assert!(sdp.is_on_hold(), "rejected streams do not count");
}
