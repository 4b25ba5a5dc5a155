//! Tests over whole SDP bodies: byte-exact round trips of real-world offers, the typed
//! model, every rewrite, hold detection, offer/answer pairs after RFC 4317, refusals, and a
//! no-panic / stability sweep over random and mutated input.
//!
//! Samples are written with `\n` and turned into CRLF bodies by [`crlf`]; addresses are from
//! the documentation ranges (RFC 5737, RFC 3849).

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};

use super::*;

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn parse(body: &[u8]) -> Sdp {
    Sdp::parse(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

fn text(sdp: &Sdp) -> String {
    String::from_utf8(sdp.to_bytes().to_vec()).unwrap()
}

/// Parses, writes back through every output path, and checks the bytes are the input's.
fn assert_round_trip(body: &[u8]) -> Sdp {
    let sdp = parse(body);
    assert_eq!(sdp.to_bytes(), body, "to_bytes");
    assert_eq!(sdp.encoded_len(), body.len(), "encoded_len");
    let mut vec = b"prefix".to_vec();
    sdp.write_to(&mut vec);
    assert_eq!(vec.get(6..), Some(body), "write_to(Vec) appends");
    let mut bm = BytesMut::new();
    sdp.write_to(&mut bm);
    assert_eq!(&bm[..], body, "write_to(BytesMut)");
    let zero_copy = Sdp::from_bytes(Bytes::copy_from_slice(body)).unwrap();
    assert_eq!(zero_copy, sdp);
    assert_eq!(
        parse(&sdp.to_bytes()),
        sdp,
        "parse → write → parse is stable"
    );
    sdp
}

/// A typical desk phone offer: PCMU, PCMA, G.729 and telephone-event.
const PHONE_OFFER: &str = "\
v=0
o=- 20518 0 IN IP4 192.0.2.50
s=SDP data
c=IN IP4 192.0.2.50
t=0 0
m=audio 11780 RTP/AVP 0 8 18 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
";

const IPV6_OFFER: &str = "\
v=0
o=bob 2808844564 2808844564 IN IP6 2001:db8::2
s=-
c=IN IP6 2001:db8::2
t=0 0
m=audio 49172 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=maxptime:150
";

const AUDIO_VIDEO_OFFER: &str = "\
v=0
o=user1 53655765 2353687637 IN IP4 192.0.2.10
s=Talk
c=IN IP4 192.0.2.10
b=AS:2048
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 0 8 101
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=rtpmap:101 telephone-event/8000
m=video 9078 RTP/AVP 96 97
b=AS:1920
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42801F; packetization-mode=1
a=rtcp-fb:* nack pli
a=rtcp-fb:96 ccm fir
a=rtcp-fb:97 nack
a=recvonly
";

/// RFC 3605 `a=rtcp` with an address, RFC 5761 `a=rtcp-mux`, `c=` at media level only.
const RTCP_OFFER: &str = "\
v=0
o=- 3849302 3849302 IN IP4 192.0.2.20
s=-
t=0 0
m=audio 40000 RTP/AVP 8 0 101
c=IN IP4 192.0.2.20
a=rtcp:40001 IN IP4 192.0.2.21
a=rtcp-mux
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
";

/// SDES-SRTP and ICE, as an SRTP phone behind NAT sends it; DTLS lines at session level.
const CRYPTO_ICE_OFFER: &str = "\
v=0
o=- 1634 1635 IN IP4 198.51.100.7
s=Asterisk
c=IN IP4 198.51.100.7
t=0 0
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3B:B5:06:F3:54:9C:51:2F:D8:5E:2E:9E
a=setup:actpass
a=ice-lite
m=audio 18230 RTP/SAVP 0 8 101
a=ice-ufrag:2a6f1ae84c1b7a2c
a=ice-pwd:3c1a7d8e5f4a2b1c9d8e7f6a5b4c3d2e
a=candidate:Hc633640701 1 UDP 2130706431 198.51.100.7 18230 typ host
a=candidate:Hc633640701 2 UDP 2130706430 198.51.100.7 18231 typ host
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
";

const ALL_SAMPLES: [&str; 5] = [
    PHONE_OFFER,
    IPV6_OFFER,
    AUDIO_VIDEO_OFFER,
    RTCP_OFFER,
    CRYPTO_ICE_OFFER,
];

// ---------------------------------------------------------------- round trips

#[test]
fn real_world_offers_round_trip_byte_exact() {
    for sample in ALL_SAMPLES {
        assert_round_trip(&crlf(sample));
    }
}

#[test]
fn bare_lf_round_trips_and_reads_the_same() {
    for sample in ALL_SAMPLES {
        let lf = assert_round_trip(sample.as_bytes());
        let crlf = parse(&crlf(sample));
        assert_eq!(lf.media_count(), crlf.media_count());
        assert_eq!(lf.origin(), crlf.origin());
        assert!(lf.lines().all(|l| l.ending() == LineEnding::Lf));
        for (a, b) in lf.media().zip(crlf.media()) {
            assert_eq!(a.port(), b.port());
            assert_eq!(
                a.codecs().collect::<Vec<_>>(),
                b.codecs().collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn mixed_endings_missing_final_newline_and_blank_lines_round_trip() {
    let body = b"v=0\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\n\r\nc=IN IP4 192.0.2.1\r\nt=0 0\nm=audio 4000 RTP/AVP 0\r\n  \na=sendrecv";
    let sdp = assert_round_trip(body);
    let endings: Vec<_> = sdp.lines().map(Line::ending).collect();
    use LineEnding::{CrLf, Lf, Missing};
    assert_eq!(endings, [Lf, CrLf, Lf, CrLf, CrLf, Lf, CrLf, Lf, Missing]);
    assert_eq!(sdp.lines().filter(|l| l.is_blank()).count(), 2);
    let audio = sdp.media_at(0).unwrap();
    assert_eq!(audio.direction(), Direction::SendRecv);
    assert_eq!(audio.lines().last().unwrap().as_bytes(), b"a=sendrecv");

    let no_media = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=x";
    assert_round_trip(no_media);
}

#[test]
fn unknown_lines_and_non_utf8_values_round_trip() {
    let mut body = crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=Caf\u{e9}\ni=info\nu=http://example.com/\n\
         e=j.doe@example.com\np=+1 617 555-6011\nc=IN IP4 192.0.2.1\nb=CT:128\nt=0 0\n\
         r=7d 1h 0 25h\nz=2882844526 -1h\nk=prompt\nx=unknown-type\n\
         m=audio 4000 RTP/AVP 0\na=X-vendor-thing\na=label:1\n",
    );
    body.extend_from_slice(b"a=charset:ISO-8859-1\r\na=tool:Caf\xe9\r\n");
    let sdp = assert_round_trip(&body);
    assert_eq!(sdp.session_name(), Some("Caf\u{e9}"));
    let audio = sdp.media_at(0).unwrap();
    assert_eq!(audio.attribute("x-VENDOR-thing"), Some(""));
    assert_eq!(audio.attribute("label"), Some("1"));
    // Not UTF-8: kept and written back, but not offered as text.
    assert_eq!(audio.attribute("tool"), None);
    assert!(audio.has_attribute("tool"));
    assert_eq!(audio.lines().last().unwrap().value(), None);
}

// ---------------------------------------------------------------- typed model

#[test]
fn phone_offer_reads() {
    let sdp = parse(&crlf(PHONE_OFFER));
    let o = sdp.origin().unwrap();
    assert_eq!(
        (
            o.username,
            o.session_id,
            o.session_version,
            o.nettype,
            o.addrtype,
            o.address
        ),
        ("-", "20518", "0", "IN", "IP4", "192.0.2.50")
    );
    assert_eq!(o.ip(), Some(ip("192.0.2.50")));
    assert_eq!(sdp.session_name(), Some("SDP data"));
    assert_eq!(sdp.timing(), Some(Timing { start: 0, stop: 0 }));
    let c = sdp.connection().unwrap();
    assert_eq!(
        (c.nettype, c.addrtype, c.ip),
        ("IN", "IP4", Some(ip("192.0.2.50")))
    );
    assert_eq!(sdp.media_count(), 1);
    assert_eq!(sdp.media().len(), 1);

    let audio = sdp.media_at(0).unwrap();
    assert_eq!(audio.index(), 0);
    assert_eq!(
        (audio.media_type(), audio.port(), audio.proto()),
        ("audio", 11780, "RTP/AVP")
    );
    assert_eq!(audio.num_ports(), None);
    assert!(audio.is_rtp());
    assert_eq!(audio.formats().collect::<Vec<_>>(), ["0", "8", "18", "101"]);
    assert_eq!(audio.payload_types().collect::<Vec<_>>(), [0, 8, 18, 101]);
    let names: Vec<_> = audio
        .codecs()
        .map(|(pt, c)| (pt, c.unwrap().encoding))
        .collect();
    assert_eq!(
        names,
        [
            (0, "PCMU"),
            (8, "PCMA"),
            (18, "G729"),
            (101, "telephone-event")
        ]
    );
    assert_eq!(audio.rtpmaps().count(), 4);
    assert_eq!(audio.fmtp("18"), Some("annexb=no"));
    assert_eq!(audio.fmtp("101"), Some("0-15"));
    assert_eq!(audio.fmtps().count(), 2);
    assert_eq!(audio.ptime(), Some(20));
    assert_eq!(audio.maxptime(), None);
    assert_eq!(audio.rtcp(), None);
    assert!(!audio.rtcp_mux());
    assert_eq!(audio.direction(), Direction::SendRecv);
    assert_eq!(audio.media_direction(), Some(Direction::SendRecv));
    assert_eq!(audio.media_connection(), None);
    assert_eq!(audio.connection().unwrap().ip, Some(ip("192.0.2.50")));
    assert!(!audio.is_on_hold());
    assert!(!sdp.is_on_hold());
}

#[test]
fn ipv6_offer_reads() {
    let sdp = parse(&crlf(IPV6_OFFER));
    assert_eq!(sdp.origin().unwrap().addrtype, "IP6");
    let audio = sdp.media_at(0).unwrap();
    let c = audio.connection().unwrap();
    assert_eq!((c.addrtype, c.ip), ("IP6", Some(ip("2001:db8::2"))));
    assert_eq!(audio.maxptime(), Some(150));
    assert_eq!(audio.codec(0).unwrap().encoding, "PCMU");
}

#[test]
fn audio_video_offer_reads() {
    let sdp = parse(&crlf(AUDIO_VIDEO_OFFER));
    assert_eq!(sdp.media_count(), 2);
    assert!(sdp.attribute("rtcp-xr").unwrap().starts_with("rcvr-rtt"));
    let (audio, video) = (sdp.media_at(0).unwrap(), sdp.media_at(1).unwrap());
    assert_eq!((audio.media_type(), video.media_type()), ("audio", "video"));
    // The same dynamic number means different codecs in different sections.
    let opus = audio.codec(96).unwrap();
    assert_eq!(
        (opus.encoding, opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(video.codec(96).unwrap().encoding, "VP8");
    assert_eq!(
        video.fmtp("97"),
        Some("profile-level-id=42801F; packetization-mode=1")
    );
    assert_eq!(
        audio.codec(8).unwrap().encoding,
        "PCMA",
        "static, no rtpmap"
    );
    assert_eq!(video.attributes().filter(|a| a.is("rtcp-fb")).count(), 3);
    assert_eq!(
        (audio.direction(), video.direction()),
        (Direction::SendRecv, Direction::RecvOnly)
    );
    assert_eq!(video.index(), 1);
}

#[test]
fn rtcp_offer_reads() {
    let sdp = parse(&crlf(RTCP_OFFER));
    assert_eq!(sdp.connection(), None);
    let audio = sdp.media_at(0).unwrap();
    let rtcp = audio.rtcp().unwrap();
    assert_eq!((rtcp.port, rtcp.ip()), (40001, Some(ip("192.0.2.21"))));
    assert!(audio.rtcp_mux());
    assert_eq!(audio.connection().unwrap().ip, Some(ip("192.0.2.20")));
    assert_eq!(audio.media_connection().unwrap().ip, Some(ip("192.0.2.20")));
}

#[test]
fn crypto_and_ice_lines_are_kept_as_they_are() {
    let sdp = parse(&crlf(CRYPTO_ICE_OFFER));
    assert_eq!(sdp.attribute("setup"), Some("actpass"));
    assert!(sdp
        .attribute("fingerprint")
        .unwrap()
        .starts_with("sha-256 4A:AD"));
    assert_eq!(sdp.attribute("ice-lite"), Some(""));
    let audio = sdp.media_at(0).unwrap();
    assert_eq!(audio.proto(), "RTP/SAVP");
    assert_eq!(
        audio.attribute("crypto"),
        Some("1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4")
    );
    assert_eq!(audio.attribute("ice-ufrag"), Some("2a6f1ae84c1b7a2c"));
    assert_eq!(audio.attributes().filter(|a| a.is("candidate")).count(), 2);
    assert!(audio.uses_ice());
}

#[test]
fn codec_prefers_rtpmap_over_static_table() {
    let sdp = parse(&crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
         m=audio 4000 RTP/AVP 3 18 96 97 120\na=rtpmap:18 G729a/8000\na=rtpmap:96 AMR/8000/1\n\
         a=rtpmap:97 broken\n",
    ));
    let audio = sdp.media_at(0).unwrap();
    assert_eq!(audio.codec(3).unwrap().encoding, "GSM");
    assert_eq!(audio.codec(18).unwrap().encoding, "G729a");
    let amr = audio.codec(96).unwrap();
    assert_eq!(
        (amr.encoding, amr.channels, amr.channel_count()),
        ("AMR", Some(1), 1)
    );
    assert_eq!(audio.codec(97), None, "malformed rtpmap is ignored");
    assert_eq!(audio.codec(120), None, "dynamic without rtpmap");
    assert_eq!(audio.rtpmap(96).unwrap().payload_type, 96);
}

#[test]
fn lenient_inputs_real_phones_send() {
    // No s=, no t=, doubled and trailing blanks, c= with a domain name, a property
    // attribute with a trailing blank, a rejected m= line without formats, odd ptime.
    let body = crlf(
        "v=0\no=Some User  42 42 IN IP4 192.0.2.9 \nc=IN  IP4 pbx.example.com\n\
         m=audio  5004 RTP/AVP 0  8 \na=sendonly \na=ptime:20.0\nm=video 0 RTP/AVP\n",
    );
    let sdp = assert_round_trip(&body);
    assert_eq!(sdp.session_name(), None);
    assert_eq!(sdp.timing(), None);
    assert_eq!(sdp.origin().unwrap().username, "Some User");
    let c = sdp.connection().unwrap();
    assert_eq!((c.address, c.ip), ("pbx.example.com", None));
    let audio = sdp.media_at(0).unwrap();
    assert_eq!(audio.payload_types().collect::<Vec<_>>(), [0, 8]);
    assert_eq!(audio.direction(), Direction::SendOnly);
    assert_eq!(audio.ptime(), Some(20));
    let video = sdp.media_at(1).unwrap();
    assert!(video.is_rejected());
    assert_eq!(video.formats().count(), 0);
    let mut sdp = sdp.clone();
    assert!(
        !sdp.media_mut(1).unwrap().set_port(4000),
        "no format to carry"
    );
    assert!(sdp.media_at(1).unwrap().is_rejected());
    assert!(sdp.media_mut(0).unwrap().set_port(4000));
}

#[test]
fn multicast_and_port_count() {
    let sdp = parse(&crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 233.252.0.1/127\nt=0 0\n\
         m=video 49170/2 RTP/AVP 31\n",
    ));
    let c = sdp.connection().unwrap();
    assert_eq!((c.address, c.suffix), ("233.252.0.1", Some("127")));
    let video = sdp.media_at(0).unwrap();
    assert_eq!((video.port(), video.num_ports()), (49170, Some(2)));
}

// ---------------------------------------------------------------- refusals

#[test]
fn refuses_garbage_with_a_reason() {
    let ok_head = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n";
    let cases: Vec<(Vec<u8>, SdpError)> = vec![
        (b"".to_vec(), SdpError::Empty),
        (b"\r\n  \r\n".to_vec(), SdpError::Empty),
        (
            b"o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n".to_vec(),
            SdpError::MissingVersion,
        ),
        (b"hello world".to_vec(), SdpError::MalformedLine { line: 1 }),
        (
            b"<html><body>".to_vec(),
            SdpError::MalformedLine { line: 1 },
        ),
        (b"v=1\r\n".to_vec(), SdpError::BadVersion { line: 1 }),
        (b"v=0\r\ns=-\r\nt=0 0\r\n".to_vec(), SdpError::MissingOrigin),
        (
            b"v=0\r\no=- 1 1 IN IP4\r\n".to_vec(),
            SdpError::BadOrigin { line: 2 },
        ),
        (
            format!("{ok_head}v=0\n").into_bytes(),
            SdpError::Misplaced { line: 4, kind: 'v' },
        ),
        (
            format!("{ok_head}o=- 1 1 IN IP4 192.0.2.1\n").into_bytes(),
            SdpError::Misplaced { line: 4, kind: 'o' },
        ),
        (
            format!("{ok_head}m=audio 1 RTP/AVP 0\no=- 1 1 IN IP4 192.0.2.1\n").into_bytes(),
            SdpError::Misplaced { line: 5, kind: 'o' },
        ),
        (
            format!("{ok_head}junk\n").into_bytes(),
            SdpError::MalformedLine { line: 4 },
        ),
        (
            format!("{ok_head} a=x\n").into_bytes(),
            SdpError::MalformedLine { line: 4 },
        ),
        (
            format!("{ok_head}1=x\n").into_bytes(),
            SdpError::MalformedLine { line: 4 },
        ),
        (
            format!("{ok_head}a=x\0y\n").into_bytes(),
            SdpError::IllegalCharacter { line: 4 },
        ),
        (
            format!("{ok_head}a=x\ry\n").into_bytes(),
            SdpError::IllegalCharacter { line: 4 },
        ),
        (
            format!("{ok_head}a=x\r\r\n").into_bytes(),
            SdpError::IllegalCharacter { line: 4 },
        ),
        (
            format!("{ok_head}a=x\r").into_bytes(),
            SdpError::IllegalCharacter { line: 4 },
        ),
        (
            format!("{ok_head}a=x\0").into_bytes(),
            SdpError::IllegalCharacter { line: 4 },
        ),
        (
            format!("{ok_head}a=x\n\0\r\n").into_bytes(),
            SdpError::IllegalCharacter { line: 5 },
        ),
        (
            format!("{ok_head}c=IN IP4\n").into_bytes(),
            SdpError::BadConnection { line: 4 },
        ),
        (
            format!("{ok_head}t=now\n").into_bytes(),
            SdpError::BadTiming { line: 4 },
        ),
        (
            format!("{ok_head}m=audio\n").into_bytes(),
            SdpError::BadMedia {
                line: 4,
                reason: "missing port",
            },
        ),
        (
            format!("{ok_head}m=audio 4000\n").into_bytes(),
            SdpError::BadMedia {
                line: 4,
                reason: "missing transport protocol",
            },
        ),
        (
            format!("{ok_head}m=audio 4000 RTP/AVP\n").into_bytes(),
            SdpError::BadMedia {
                line: 4,
                reason: "no formats",
            },
        ),
        (
            format!("{ok_head}m=audio 70000 RTP/AVP 0\n").into_bytes(),
            SdpError::BadPort { line: 4 },
        ),
        (
            format!("{ok_head}m=audio -1 RTP/AVP 0\n").into_bytes(),
            SdpError::BadPort { line: 4 },
        ),
        (
            format!("{ok_head}m=audio 4000/0 RTP/AVP 0\n").into_bytes(),
            SdpError::BadPort { line: 4 },
        ),
        (
            format!("{ok_head}m=audio 4000 RTP/AVP 0\nc=IN IP4 1.2.3.4 x\n").into_bytes(),
            SdpError::BadConnection { line: 5 },
        ),
    ];
    for (body, expected) in cases {
        let got = Sdp::parse(&body);
        assert_eq!(
            got.as_ref().err(),
            Some(&expected),
            "{:?}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(got.unwrap_err().status_code(), 400);
    }
}

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

// ---------------------------------------------------------------- RFC 4317 offer/answer
//
// Offer/answer pairs after the examples of RFC 4317 (December 2005), written out here from
// that RFC's scenarios; origin numbers and ports follow its style and may differ from its
// text in detail. The assertions check what the typed model reads, not SDP negotiation.

/// Checks the rules of RFC 3264 §6 that the typed model can see: as many streams, in the same
/// order and of the same type; an accepted stream's codecs were offered; directions agree.
fn assert_valid_answer(offer: &Sdp, answer: &Sdp) {
    assert_eq!(offer.media_count(), answer.media_count());
    for (o, a) in offer.media().zip(answer.media()) {
        assert_eq!(o.media_type(), a.media_type());
        if a.is_rejected() {
            continue;
        }
        for (pt, codec) in a.codecs() {
            let codec = codec.unwrap_or_else(|| panic!("answer pt {pt} has no codec"));
            assert!(
                o.codecs()
                    .any(|(_, c)| c.is_some_and(|c| c.same_format(&codec))),
                "answered {codec:?} was not offered"
            );
        }
        let (od, ad) = (o.direction(), a.direction());
        assert!(
            !ad.sends() || od.receives(),
            "answer sends what the offer won't receive"
        );
        assert!(
            !ad.receives() || od.sends(),
            "answer receives what the offer won't send"
        );
    }
}

/// RFC 4317 §2.1, Audio and Video 1: audio and video offered with several codecs; the answer
/// picks one codec for each.
const RFC4317_2_1_OFFER: &str = "\
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
";

const RFC4317_2_1_ANSWER: &str = "\
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 49170 RTP/AVP 32
a=rtpmap:32 MPV/90000
";

#[test]
fn rfc4317_2_1_audio_and_video() {
    let offer = assert_round_trip(&crlf(RFC4317_2_1_OFFER));
    let answer = assert_round_trip(&crlf(RFC4317_2_1_ANSWER));
    assert_valid_answer(&offer, &answer);
    assert_eq!(offer.session_name(), Some(""), "s= with an empty value");
    let c = offer.connection().unwrap();
    assert_eq!((c.address, c.ip), ("host.atlanta.example.com", None));
    let ports: Vec<_> = answer.media().map(|m| m.port()).collect();
    assert_eq!(ports, [49174, 49170]);
    let codecs: Vec<_> = answer
        .media()
        .map(|m| {
            m.description()
                .codec(m.payload_types().next().unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(
        codecs[0],
        Codec {
            encoding: "PCMU",
            clock_rate: 8000,
            channels: None
        }
    );
    assert_eq!(codecs[1].encoding, "MPV");
    assert_eq!(
        offer.media_at(0).unwrap().codec(97).unwrap().encoding,
        "iLBC"
    );
}

/// RFC 4317 §2.2, Audio and Video 2: audio and video offered; the answerer has no video and
/// rejects that stream with port 0.
const RFC4317_2_2_ANSWER: &str = "\
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";

#[test]
fn rfc4317_2_2_video_rejected() {
    let offer = parse(&crlf(RFC4317_2_1_OFFER));
    let answer = assert_round_trip(&crlf(RFC4317_2_2_ANSWER));
    assert_valid_answer(&offer, &answer);
    let (audio, video) = (answer.media_at(0).unwrap(), answer.media_at(1).unwrap());
    assert!(!audio.is_rejected());
    assert_eq!(audio.payload_types().collect::<Vec<_>>(), [0, 8]);
    assert!(video.is_rejected());
    assert_eq!(video.port(), 0);
    assert!(!video.is_on_hold());
    assert!(!answer.is_on_hold());

    // The B2BUA building the same answer from the offer: reject video, narrow audio.
    let mut built = offer.clone();
    built.media_mut(1).unwrap().reject();
    built
        .media_mut(0)
        .unwrap()
        .retain_payload_types(&[0, 8])
        .unwrap();
    assert_valid_answer(&offer, &built);
    assert!(built.media_at(1).unwrap().is_rejected());
    assert_eq!(built.media_at(0).unwrap().codec(97), None);
}

/// RFC 4317 §2.4, Two Audio Streams: a second audio stream carries only telephone-events,
/// offered sendonly and answered recvonly.
const RFC4317_2_4_OFFER: &str = "\
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=audio 49172 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=sendonly
";

const RFC4317_2_4_ANSWER: &str = "\
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=audio 49174 RTP/AVP 98
a=rtpmap:98 telephone-event/8000
a=recvonly
";

#[test]
fn rfc4317_2_4_two_audio_streams() {
    let offer = assert_round_trip(&crlf(RFC4317_2_4_OFFER));
    let answer = assert_round_trip(&crlf(RFC4317_2_4_ANSWER));
    assert_valid_answer(&offer, &answer);
    let dirs: Vec<_> = answer.media().map(|m| m.direction()).collect();
    assert_eq!(dirs, [Direction::SendRecv, Direction::RecvOnly]);
    assert_eq!(offer.media_at(1).unwrap().direction(), Direction::SendOnly);
    assert_eq!(
        answer.media_at(1).unwrap().direction(),
        offer.media_at(1).unwrap().direction().reversed()
    );
    assert_eq!(
        answer.media_at(1).unwrap().codec(98).unwrap().encoding,
        "telephone-event"
    );
    assert!(
        offer.media_at(1).unwrap().is_on_hold(),
        "sendonly reads as hold"
    );
}

/// Codec negotiation after RFC 4317 §2.6 (Audio Only 1): four audio codecs and
/// telephone-event offered; the answer keeps iLBC and telephone-event, with its own fmtp.
const RFC4317_2_6_OFFER: &str = "\
v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97 98 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
a=rtpmap:98 AMR/8000
a=fmtp:98 octet-align=1
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11
";

const RFC4317_2_6_ANSWER: &str = "\
v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97 101
a=rtpmap:97 iLBC/8000
a=fmtp:97 mode=30
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11
";

#[test]
fn rfc4317_2_6_codec_negotiation() {
    let offer = assert_round_trip(&crlf(RFC4317_2_6_OFFER));
    let answer = assert_round_trip(&crlf(RFC4317_2_6_ANSWER));
    assert_valid_answer(&offer, &answer);
    let audio = answer.media_at(0).unwrap();
    let names: Vec<_> = audio
        .codecs()
        .map(|(pt, c)| (pt, c.unwrap().encoding))
        .collect();
    assert_eq!(names, [(97, "iLBC"), (101, "telephone-event")]);
    assert_eq!(audio.fmtp("97"), Some("mode=30"));
    assert_eq!(offer.media_at(0).unwrap().fmtp("98"), Some("octet-align=1"));

    // The B2BUA narrowing the offer to what the other side supports gets the same list.
    let mut narrowed = offer.clone();
    let removed = narrowed
        .media_mut(0)
        .unwrap()
        .retain_payload_types(&[97, 101])
        .unwrap();
    assert_eq!(removed, 3);
    let m = narrowed.media_at(0).unwrap();
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [97, 101]);
    assert_eq!(m.fmtp("98"), None);
    assert_eq!(m.rtpmaps().count(), 2);
}

/// RFC 4317 §3.1, Hold and Unhold 1: an established call, put on hold with sendonly
/// (answered recvonly), then resumed.
const RFC4317_3_1: [&str; 6] = [
    // Offer.
    "v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 97
a=rtpmap:0 PCMU/8000
a=rtpmap:97 iLBC/8000
",
    // Answer.
    "v=0
o=bob 2808844564 2808844564 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
",
    // Bob puts Alice on hold.
    "v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
a=sendonly
",
    // Alice's answer.
    "v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
a=recvonly
",
    // Bob resumes.
    "v=0
o=bob 2808844564 2808844566 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 97
a=rtpmap:97 iLBC/8000
",
    // Alice's answer.
    "v=0
o=alice 2890844526 2890844528 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 97
a=rtpmap:97 iLBC/8000
",
];

#[test]
fn rfc4317_3_1_hold_and_resume() {
    let sdps: Vec<Sdp> = RFC4317_3_1
        .iter()
        .map(|s| assert_round_trip(&crlf(s)))
        .collect();
    for pair in sdps.chunks(2) {
        assert_valid_answer(&pair[0], &pair[1]);
    }
    let dirs: Vec<_> = sdps
        .iter()
        .map(|s| s.media_at(0).unwrap().direction())
        .collect();
    use Direction::{RecvOnly, SendOnly, SendRecv};
    assert_eq!(
        dirs,
        [SendRecv, SendRecv, SendOnly, RecvOnly, SendRecv, SendRecv]
    );
    let holds: Vec<_> = sdps.iter().map(Sdp::is_on_hold).collect();
    assert_eq!(holds, [false, false, true, false, false, false]);
    // Each new offer or answer from the same side carries the next version.
    let versions: Vec<_> = sdps
        .iter()
        .map(|s| s.origin().unwrap().session_version_number().unwrap())
        .collect();
    assert_eq!(versions[2], versions[1] + 1);
    assert_eq!(versions[4], versions[2] + 1);
    assert_eq!(versions[3], versions[0] + 1);
    assert_eq!(versions[5], versions[3] + 1);

    // The hold offer is the first answer with sendonly and the version bumped.
    let mut hold = sdps[1].clone();
    hold.media_mut(0).unwrap().set_direction(SendOnly);
    hold.bump_origin_version().unwrap();
    assert_eq!(hold.to_bytes(), crlf(RFC4317_3_1[2]));
    // And the resume offer drops it again.
    let mut resume = hold.clone();
    resume.media_mut(0).unwrap().remove_attribute("sendonly");
    resume.bump_origin_version().unwrap();
    assert_eq!(resume.to_bytes(), crlf(RFC4317_3_1[4]));
}

/// RFC 4317 §4.3, Audio and Video, Then Video Deleted: the second offer disables video with
/// port 0 and the answer does the same.
const RFC4317_4_3_OFFER2: &str = "\
v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";

const RFC4317_4_3_ANSWER2: &str = "\
v=0
o=bob 2808844564 2808844565 IN IP4 host.biloxi.example.com
s=
c=IN IP4 host.biloxi.example.com
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
";

#[test]
fn rfc4317_4_3_video_deleted() {
    let offer = assert_round_trip(&crlf(RFC4317_4_3_OFFER2));
    let answer = assert_round_trip(&crlf(RFC4317_4_3_ANSWER2));
    assert_valid_answer(&offer, &answer);
    let rejected: Vec<_> = answer.media().map(|m| m.is_rejected()).collect();
    assert_eq!(rejected, [false, true]);
    assert_eq!(
        offer.media_at(1).unwrap().codec(31).unwrap().encoding,
        "H261"
    );
    assert_eq!(answer.media_at(0).unwrap().port(), 49172);
}

// ---------------------------------------------------------------- robustness

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Accepted input must write back byte-exact and re-parse equal; rewrites on it must keep
/// it parseable. Nothing may panic.
fn check_any_input(body: &[u8]) {
    let Ok(sdp) = Sdp::parse(body) else { return };
    assert_eq!(sdp.to_bytes(), body);
    assert_eq!(Sdp::parse(&sdp.to_bytes()).unwrap(), sdp);
    // Exercise every reader.
    let _ = (
        sdp.origin(),
        sdp.session_name(),
        sdp.timing(),
        sdp.connection(),
        sdp.is_on_hold(),
    );
    for m in sdp.media() {
        let _ = (
            m.media_type(),
            m.port(),
            m.proto(),
            m.connection(),
            m.direction(),
            m.rtcp(),
        );
        let _ = (
            m.codecs().count(),
            m.fmtps().count(),
            m.ptime(),
            m.maxptime(),
            m.is_on_hold(),
        );
    }
    let mut w = sdp.clone();
    w.set_connection_address(ip("2001:db8::1"));
    w.set_origin_address(ip("203.0.113.1"));
    let _ = w.bump_origin_version();
    w.set_session_direction(Direction::Inactive);
    for m in w.media_iter_mut() {
        m.set_transport(ip("203.0.113.1"), 30000, 30001);
        let _ = m.remove_payload_types(&[0, 8, 96]);
        m.set_direction(Direction::SendOnly);
        m.remove_attribute("rtcp-fb");
        let _ = m.add_attribute("x", Some("y"));
        m.set_connection_address(ip("203.0.113.2"));
    }
    if let Some(m) = w.media_mut(0) {
        m.reject();
    }
    let again = Sdp::parse(&w.to_bytes()).unwrap_or_else(|e| panic!("rewrite broke the SDP: {e}"));
    assert_eq!(again.to_bytes(), w.to_bytes());
    assert!(w.media().all(|m| m.direction() == Direction::SendOnly));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"vosctma=:/ \r\n\t0123456789IPN.-\x00\xff";
    for _ in 0..20_000 {
        let len = rng.below(200);
        let body: Vec<u8> = if rng.below(2) == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        };
        check_any_input(&body);
    }
}

#[test]
fn mutated_real_sdps_never_panic_and_stay_stable() {
    let mut rng = Rng(42);
    let mut seeds: Vec<Vec<u8>> = ALL_SAMPLES.iter().map(|s| crlf(s)).collect();
    seeds.extend(ALL_SAMPLES.iter().map(|s| s.as_bytes().to_vec()));
    seeds.extend([RFC4317_2_1_OFFER, RFC4317_2_2_ANSWER, RFC4317_2_6_OFFER].map(crlf));
    let interesting: [&[u8]; 12] = [
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"/",
        b":",
        b"0",
        b"m=",
        b"c=IN IP6 ::",
        b"a=sendonly\n",
        b"\xc3",
        b"99999",
    ];
    let mut accepted = 0;
    for round in 0..20_000 {
        let mut body = seeds[round % seeds.len()].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(body.len() + 1);
            match rng.below(4) {
                0 if at < body.len() => body[at] = rng.next() as u8,
                1 if at < body.len() => {
                    let end = (at + rng.below(12)).min(body.len());
                    body.drain(at..end);
                }
                2 => {
                    let piece = interesting[rng.below(interesting.len())];
                    body.splice(at..at, piece.iter().copied());
                }
                _ => body.truncate(at),
            }
        }
        if Sdp::parse(&body).is_ok() {
            accepted += 1;
        }
        check_any_input(&body);
    }
    assert!(
        accepted > 2_000,
        "mutations should often stay valid ({accepted})"
    );
}

#[test]
fn every_sample_survives_the_rewrite_sweep() {
    for sample in ALL_SAMPLES.iter().chain(RFC4317_3_1.iter()) {
        check_any_input(&crlf(sample));
        check_any_input(sample.as_bytes());
    }
}
