//! The WebRTC media profile per leg on virtual time (RFC 5763, RFC 8829, RFC 8843): a
//! browser's offer becomes a plain SIP offer and the SIP answer a WebRTC answer; a SIP offer
//! becomes a WebRTC offer with only the codecs browsers run; DTLS roles follow `a=setup`; a
//! re-INVITE (hold) keeps the handshake; what cannot work is refused with 488 and a Warning.

use super::*;
use sbc_config::IcePolicy;
use sbc_relay::api::{DtlsParams, DtlsRole, Fingerprint};

/// The browser's certificate in these tests.
const BROWSER_FP: [u8; 32] = [0x11; 32];

fn fp_value(bytes: [u8; 32]) -> String {
    Fingerprint(bytes).sdp_value()
}

/// A net whose leg A (`a_webrtc`) or leg B (otherwise) is a WebRTC side.
fn net(a_webrtc: bool) -> Net {
    Net::with_router(CallConfig::default(), move |m: &Message, d: Dest| {
        let mut r = route(m, d)?;
        let side = if a_webrtc {
            &mut r.a_side
        } else {
            &mut r.b_side
        };
        side.srtp = SrtpPolicy::Dtls;
        side.ice = IcePolicy::Lite;
        Ok(r)
    })
}

/// What Chrome offers for one audio track, candidates gathered, with BUNDLE and feedback.
fn browser_offer(setup: &str, fingerprint: Option<[u8; 32]>) -> String {
    let mut s = String::from(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE 0\r\na=msid-semantic: WMS s\r\n\
         m=audio 50000 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
         c=IN IP4 198.51.100.10\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
         a=candidate:1 1 udp 2122260223 198.51.100.10 50000 typ host generation 0\r\n\
         a=ice-ufrag:brws\r\na=ice-pwd:browserpasswordbrowserpw\r\na=ice-options:trickle\r\n",
    );
    if let Some(f) = fingerprint {
        s.push_str(&format!("a=fingerprint:{}\r\n", fp_value(f)));
    }
    s.push_str(&format!(
        "a=setup:{setup}\r\na=mid:0\r\n\
         a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\n\
         a=msid:s t\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n\
         a=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:63 red/48000/2\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\n\
         a=rtpmap:126 telephone-event/8000\r\na=ssrc:1234 cname:abcd\r\n"
    ));
    s
}

/// A browser's answer: its role, its certificate, PCMU.
fn browser_answer(version: u32, setup: &str, dir: &str) -> String {
    format!(
        "v=0\r\no=- 77 {version} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         m=audio 50002 UDP/TLS/RTP/SAVPF 0 101\r\nc=IN IP4 10.0.0.20\r\n\
         a=candidate:1 1 udp 2122260223 10.0.0.20 50002 typ host\r\n\
         a=ice-ufrag:ansr\r\na=ice-pwd:answererpasswordanswerer\r\n\
         a=fingerprint:{}\r\na=setup:{setup}\r\na=mid:0\r\na=rtcp-mux\r\na={dir}\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        fp_value([0x22; 32])
    )
}

fn m_line(msg: &Message) -> String {
    let text = String::from_utf8_lossy(msg.body()).into_owned();
    text.lines()
        .find(|l| l.starts_with("m="))
        .unwrap_or_default()
        .to_owned()
}

fn has_line(msg: &Message, prefix: &str) -> bool {
    String::from_utf8_lossy(msg.body())
        .lines()
        .any(|l| l.starts_with(prefix))
}

fn dtls_ops(ops: &[Op]) -> Vec<(Leg, Option<DtlsParams>)> {
    ops.iter()
        .filter_map(|o| match o {
            Op::Dtls(SessionId(1), 0, leg, p) => Some((*leg, *p)),
            _ => None,
        })
        .collect()
}

fn warning(msg: &Message) -> String {
    msg.header(&HeaderName::Warning)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_browser_offer_reaches_sip_as_plain_rtp_and_the_answer_returns_as_webrtc() {
    let mut net = net(true);
    net.send_a(with_sdp(
        invite_a(70),
        Some(&browser_offer("actpass", Some(BROWSER_FP))),
    ));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    // Plain RTP/AVP for the SIP side: no DTLS, ICE, BUNDLE or feedback of the browser's.
    assert!(
        m_line(&b_inv).starts_with("m=audio 20002 RTP/AVP 111 63 9 0 8 13 110 126"),
        "{}",
        m_line(&b_inv)
    );
    for gone in [
        "a=fingerprint",
        "a=setup",
        "a=ice-",
        "a=candidate",
        "a=group:BUNDLE",
        "a=rtcp-fb",
        "a=crypto",
    ] {
        assert!(!has_line(&b_inv, gone), "{gone} reached the SIP side");
    }
    assert!(!String::from_utf8_lossy(b_inv.body()).contains("198.51.100.10"));
    let ops = net.ops();
    let Some(Op::Add(_, legs)) = ops.iter().find(|o| matches!(o, Op::Add(..))) else {
        panic!("{ops:?}")
    };
    assert!(legs[0].rtcp_mux, "the browser leg is muxed");
    // The relay is the DTLS server (the browser said actpass) and takes only its certificate.
    assert_eq!(
        dtls_ops(&ops),
        [(
            Leg::A,
            Some(DtlsParams {
                role: DtlsRole::Server,
                fingerprint: Fingerprint(BROWSER_FP),
            })
        )]
    );

    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert!(
        m_line(&ok).starts_with("m=audio 20000 UDP/TLS/RTP/SAVPF 0 101"),
        "{}",
        m_line(&ok)
    );
    let relay_fp = format!("a=fingerprint:{}", fp_value([0x5a; 32]));
    for needed in [
        relay_fp.as_str(),
        "a=setup:passive",
        "a=rtcp-mux",
        "a=ice-lite",
        "a=ice-ufrag:",
        "a=candidate:1 1 UDP",
    ] {
        assert!(
            has_line(&ok, needed),
            "{needed} missing from the browser's answer"
        );
    }
    assert!(!String::from_utf8_lossy(ok.body()).contains("10.0.0.20"));
    // ICE-lite on the browser leg once the SBC's credentials went out in the answer.
    assert!(net.ops().iter().any(|o| matches!(
        o,
        Op::Ice(_, 0, Leg::A, Some(p)) if p.remote_ufrag.as_deref() == Some("brws")
    )));
    assert_eq!(net.sbc.media_lines(CallKey(1)), Some([1, 1, 1]));
}

#[test]
fn a_sip_offer_reaches_a_browser_as_webrtc_with_browser_codecs_and_hold_keeps_the_handshake() {
    let mut net = net(false);
    let offer = sdp_a(1, "sendrecv").replace(
        "RTP/AVP 0 101\r\n",
        "RTP/AVP 18 0 101\r\na=rtpmap:18 G729/8000\r\n",
    );
    net.send_a(with_sdp(invite_a(70), Some(&offer)));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    // G.729 is not a browser codec: left out; the rest goes as a WebRTC offer.
    assert!(
        m_line(&b_inv).starts_with("m=audio 20002 UDP/TLS/RTP/SAVPF 0 101"),
        "{}",
        m_line(&b_inv)
    );
    assert!(!String::from_utf8_lossy(b_inv.body()).contains("G729"));
    for needed in [
        "a=setup:actpass",
        "a=rtcp-mux",
        "a=ice-lite",
        "a=fingerprint:sha-256 5A:",
    ] {
        assert!(has_line(&b_inv, needed), "{needed} missing from the offer");
    }
    assert!(dtls_ops(&net.ops()).is_empty(), "no role before the answer");

    // The browser answers active: the relay is the server, with the browser's certificate.
    net.send_b(reply_b(
        &b_inv,
        200,
        Some(&browser_answer(1, "active", "sendrecv")),
    ));
    let ok = net.one_a();
    assert_eq!(m_line(&ok), "m=audio 20000 RTP/AVP 0 101");
    assert!(!has_line(&ok, "a=fingerprint") && !has_line(&ok, "a=setup"));
    let want = Some(DtlsParams {
        role: DtlsRole::Server,
        fingerprint: Fingerprint([0x22; 32]),
    });
    assert_eq!(dtls_ops(&net.ops()), [(Leg::B, want)]);
    let ack = from_a(Method::Ack, &ok, 1, "z9hG4bKack1", None);
    net.send_a(ack);
    net.drain();

    // Hold from the SIP side: a new actpass offer; the same answer changes nothing in DTLS.
    let hold = from_a(
        Method::Invite,
        &ok,
        2,
        "z9hG4bKhold",
        Some(&sdp_a(2, "sendonly")),
    );
    net.send_a(hold);
    let re = net
        .b()
        .into_iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("re-INVITE to the browser");
    assert!(has_line(&re, "a=setup:actpass") && has_line(&re, "a=sendonly"));
    net.ops();
    net.send_b(reply_b(
        &re,
        200,
        Some(&browser_answer(2, "active", "recvonly")),
    ));
    assert!(net.a().iter().any(|m| m.status() == Some(200)));
    assert!(
        dtls_ops(&net.ops()).is_empty(),
        "the handshake is not restarted"
    );
}

#[test]
fn a_browser_answering_passive_makes_the_relay_the_dtls_client() {
    let mut net = net(false);
    net.send_a(invite_a(70));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    net.ops();
    net.send_b(reply_b(
        &b_inv,
        200,
        Some(&browser_answer(1, "passive", "sendrecv")),
    ));
    assert_eq!(net.one_a().status(), Some(200));
    let ops = dtls_ops(&net.ops());
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].1.map(|p| p.role), Some(DtlsRole::Client));
}

#[test]
fn what_cannot_work_with_a_browser_is_refused_with_488_and_a_warning() {
    // A SIP offer with no codec a browser runs.
    let mut n = net(false);
    let g729 = sdp_a(1, "sendrecv").replace(
        "RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n",
        "RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\n",
    );
    n.send_a(with_sdp(invite_a(70), Some(&g729)));
    let a = n.a();
    let refusal = a.iter().find(|m| m.status() == Some(488)).expect("488");
    assert!(
        warning(refusal).contains("no audio codec the WebRTC side runs"),
        "{}",
        warning(refusal)
    );
    assert!(n.b().is_empty(), "nothing reaches the browser");

    // A browser offer without a fingerprint.
    let mut n = net(true);
    n.send_a(with_sdp(
        invite_a(70),
        Some(&browser_offer("actpass", None)),
    ));
    let a = n.a();
    let refusal = a.iter().find(|m| m.status() == Some(488)).expect("488");
    assert!(
        warning(refusal).contains("DTLS fingerprint"),
        "{}",
        warning(refusal)
    );

    // A browser offer without rtcp-mux.
    let mut n = net(true);
    let unmuxed = browser_offer("actpass", Some(BROWSER_FP)).replace("a=rtcp-mux\r\n", "");
    n.send_a(with_sdp(invite_a(70), Some(&unmuxed)));
    let a = n.a();
    let refusal = a.iter().find(|m| m.status() == Some(488)).expect("488");
    assert!(
        warning(refusal).contains("rtcp-mux"),
        "{}",
        warning(refusal)
    );

    // A browser's offer on a side that is not WebRTC.
    let mut n = Net::with_router(CallConfig::default(), route);
    n.send_a(with_sdp(
        invite_a(70),
        Some(&browser_offer("actpass", Some(BROWSER_FP))),
    ));
    let a = n.a();
    let refusal = a.iter().find(|m| m.status() == Some(488)).expect("488");
    assert!(
        warning(refusal).contains("profile = webrtc"),
        "{}",
        warning(refusal)
    );
}

/// Chrome's offer with audio and video bundled (balanced policy: a port per line).
fn browser_av_offer() -> String {
    let audio = browser_offer("actpass", Some(BROWSER_FP))
        .replace("a=group:BUNDLE 0\r\n", "a=group:BUNDLE 0 1\r\n");
    format!(
        "{audio}m=video 50004 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 198.51.100.10\r\n\
         a=candidate:1 1 udp 2122260223 198.51.100.10 50004 typ host generation 0\r\n\
         a=ice-ufrag:brws\r\na=ice-pwd:browserpasswordbrowserpw\r\n\
         a=fingerprint:{}\r\na=setup:actpass\r\na=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\n\
         a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n",
        fp_value(BROWSER_FP)
    )
}

/// The core's answer to audio and video (`video_port` 0 rejects the video).
fn core_av_answer(video_port: u16) -> String {
    format!(
        "{}m=video {video_port} RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=sendrecv\r\n",
        sdp_b(1, "sendrecv")
    )
}

fn m_lines(msg: &Message) -> Vec<String> {
    String::from_utf8_lossy(msg.body())
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(str::to_owned)
        .collect()
}

fn attribute_values(msg: &Message, name: &str) -> Vec<String> {
    let prefix = format!("a={name}:");
    String::from_utf8_lossy(msg.body())
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

#[test]
fn a_browsers_bundle_is_accepted_on_one_port_and_unbundled_towards_sip() {
    let mut net = net(true);
    net.send_a(with_sdp(invite_a(70), Some(&browser_av_offer())));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    // The SIP side gets a port per line and no group.
    let lines = m_lines(&b_inv);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("m=audio 20002 RTP/AVP"), "{lines:?}");
    assert!(
        lines[1].starts_with("m=video 20006 RTP/AVP 96 97"),
        "{lines:?}"
    );
    assert!(!has_line(&b_inv, "a=group"));
    let mut ops = net.ops();

    net.send_b(reply_b(&b_inv, 200, Some(&core_av_answer(30002))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    // The browser's answer bundles both lines on the audio's port and credentials.
    let lines = m_lines(&ok);
    assert!(
        lines[0].starts_with("m=audio 20000 UDP/TLS/RTP/SAVPF"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("m=video 20000 UDP/TLS/RTP/SAVPF 96"),
        "{lines:?}"
    );
    assert!(has_line(&ok, "a=group:BUNDLE 0 1"));
    assert_eq!(attribute_values(&ok, "mid"), ["0", "1"]);
    let ufrags = attribute_values(&ok, "ice-ufrag");
    assert_eq!(ufrags.len(), 2);
    assert_eq!(ufrags[0], ufrags[1], "one ICE agent for the bundle");
    assert!(attribute_values(&ok, "candidate")
        .iter()
        .all(|c| c.contains(" 20000 typ host")));
    // The relay: the video stream rides the audio stream's browser leg, by its payload type;
    // ICE and DTLS run once, on the owner (the video line's own DTLS, set up with the offer,
    // is stopped).
    ops.extend(net.ops());
    assert!(
        ops.iter().any(
            |o| matches!(o, Op::Bundle(SessionId(1), 0, Leg::A, m) if m == &vec![(1, vec![96])])
        ),
        "{ops:?}"
    );
    let last_dtls = |stream: usize| {
        ops.iter().rev().find_map(|o| match o {
            Op::Dtls(_, s, Leg::A, p) if *s == stream => Some(p.is_some()),
            _ => None,
        })
    };
    assert_eq!(last_dtls(0), Some(true));
    assert_ne!(last_dtls(1), Some(true));
    let ice: Vec<_> = ops
        .iter()
        .filter_map(|o| match o {
            Op::Ice(_, s, Leg::A, Some(_)) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(ice, [0]);
}

#[test]
fn a_bundle_whose_video_the_core_rejects_is_not_bundled() {
    let mut net = net(true);
    net.send_a(with_sdp(invite_a(70), Some(&browser_av_offer())));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    net.ops();
    net.send_b(reply_b(&b_inv, 200, Some(&core_av_answer(0))));
    let ok = net.one_a();
    let lines = m_lines(&ok);
    assert!(lines[1].starts_with("m=video 0 "), "{lines:?}");
    assert!(
        !has_line(&ok, "a=group"),
        "one live line: nothing to bundle"
    );
    assert!(!net.ops().iter().any(|o| matches!(o, Op::Bundle(..))));
}

#[test]
fn a_max_bundle_offers_bundle_only_video_is_anchored_and_bundled() {
    // Firefox-style max-bundle: the video line is port 0, bundle-only, no transport of its own.
    let offer = browser_offer("actpass", Some(BROWSER_FP)).replace("a=group:BUNDLE 0\r\n", "a=group:BUNDLE 0 1\r\n")
        + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 198.51.100.10\r\na=bundle-only\r\na=mid:1\r\n\
           a=sendrecv\r\na=rtpmap:96 VP8/90000\r\n";
    let mut net = net(true);
    net.send_a(with_sdp(invite_a(70), Some(&offer)));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    let lines = m_lines(&b_inv);
    assert!(
        lines[1].starts_with("m=video 20006 RTP/AVP 96"),
        "{lines:?}"
    );
    assert!(!has_line(&b_inv, "a=bundle-only"));
    net.send_b(reply_b(&b_inv, 200, Some(&core_av_answer(30002))));
    let ok = net.one_a();
    let lines = m_lines(&ok);
    assert!(lines[1].starts_with("m=video 20000 "), "{lines:?}");
    assert!(has_line(&ok, "a=group:BUNDLE 0 1"));
    assert!(net
        .ops()
        .iter()
        .any(|o| matches!(o, Op::Bundle(_, 0, Leg::A, _))));
}

#[test]
fn a_browser_putting_the_call_on_hold_keeps_its_handshake_and_bundle() {
    let mut net = net(true);
    net.send_a(with_sdp(invite_a(70), Some(&browser_av_offer())));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    net.send_b(reply_b(&b_inv, 200, Some(&core_av_answer(30002))));
    let ok = net.one_a();
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKack1", None));
    net.drain();
    net.ops();
    // JsSIP's hold: the same offer, sendonly, one version up.
    let hold = browser_av_offer()
        .replace("a=sendrecv", "a=sendonly")
        .replace(" 2 IN IP4 127.0.0.1", " 3 IN IP4 127.0.0.1");
    net.send_a(from_a(Method::Invite, &ok, 2, "z9hG4bKhold", Some(&hold)));
    let re = net
        .b()
        .into_iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("re-INVITE to the core");
    assert!(has_line(&re, "a=sendonly"));
    assert!(!has_line(&re, "a=group") && !has_line(&re, "a=fingerprint"));
    net.send_b(reply_b(
        &re,
        200,
        Some(&core_av_answer(30002).replace("a=sendrecv", "a=recvonly")),
    ));
    let ok2 = net
        .a()
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to the browser");
    assert!(has_line(&ok2, "a=group:BUNDLE 0 1") && has_line(&ok2, "a=recvonly"));
    let ops = net.ops();
    assert!(
        !ops.iter()
            .any(|o| matches!(o, Op::Dtls(..) | Op::Bundle(..) | Op::Ice(..))),
        "hold restarts nothing: {ops:?}"
    );
}
