//! Arbitrary bytes never panic any parser: SIP (datagram, checked, stream framer), URIs, SDP
//! (parse and rewrite), RTP/RTCP/STUN views, digest headers, and the config loader. Each bug
//! found by fuzzing gets its input added to `REGRESSIONS` below.

use bytes::Bytes;
use proptest::prelude::*;
use sbc_common::sip::{uri::Uri, Limits, Message, StreamFramer};
use sbc_common::{demux, digest, rtcp, rtp, sdp::Sdp, stun};

/// Inputs that once crashed something, kept so they are replayed on every run.
const REGRESSIONS: &[&[u8]] = &[
    b"",
    b"\r\n\r\n",
    b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n",
    b"v=0\r\nm=audio 0 RTP/AVP\r\n",
    b"\x80\x00",
    b"\x8f\xc8\x00\x01",
];

fn feed(bytes: &[u8]) {
    let data = Bytes::copy_from_slice(bytes);
    if let Err(e) = Message::parse_checked(data.clone(), &Limits::default()) {
        let _ = e.reply();
    }
    let _ = Message::parse_stream(data, &Limits::default());
    let mut f = StreamFramer::new(4096);
    f.push(bytes);
    for _ in 0..64 {
        match f.poll() {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(u) = Uri::parse(text) {
            let _ = u.equivalent(&u);
        }
        let _ = digest::Challenge::parse(text);
        let _ = digest::Credentials::parse(text);
        let _ = sbc_config::Config::from_toml_str(text, "fuzz.toml");
    }
    if let Ok(mut s) = Sdp::parse(bytes) {
        let _ = s.bump_origin_version();
        s.set_connection_address("192.0.2.1".parse().unwrap());
        for m in s.media_iter_mut() {
            let _ = m.set_port(40000);
        }
        let _ = Sdp::parse(&s.to_bytes());
    }
    if let Ok(p) = rtp::Packet::new_checked(bytes) {
        let _ = (p.sequence_number(), p.payload().len(), p.csrcs().count());
    }
    for p in rtcp::Compound::new(bytes).flatten() {
        let _ = rtcp::RtcpPacket::parse(p.as_bytes());
    }
    let _ = stun::is_stun(bytes);
    let _ = demux::classify(bytes);
}

#[test]
fn regressions_do_not_panic() {
    for r in REGRESSIONS {
        feed(r);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        feed(&bytes);
    }

    #[test]
    fn sip_like_text_never_panics(s in "(INVITE|SIP/2.0|v=0|Via:|From:|m=|c=|\\r\\n|[ -~]){0,80}") {
        feed(s.as_bytes());
    }
}
