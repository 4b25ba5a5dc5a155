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

mod rewrite;
mod rfc4317;
mod robustness;
