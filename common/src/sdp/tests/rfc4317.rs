//! Offer/answer pairs after RFC 4317's examples, read through the typed model.

use super::*;

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
pub(super) const RFC4317_2_1_OFFER: &str = "\
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
pub(super) const RFC4317_2_2_ANSWER: &str = "\
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
pub(super) const RFC4317_2_6_OFFER: &str = "\
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
pub(super) const RFC4317_3_1: [&str; 6] = [
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
