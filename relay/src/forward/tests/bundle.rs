//! BUNDLE (RFC 8843 §9): a browser's audio and video on one transport of the owner stream,
//! each m-line's media to and from its own stream's SIP leg, under the owner's SRTP.

use super::*;
use crate::srtp::{Context, MasterKey, Suite};

const BROWSER: &str = "192.0.2.50:50000";
const SIP_AUDIO: &str = "198.51.100.2:5000";
const SIP_VIDEO: &str = "198.51.100.2:5002";
const VIDEO: StreamId = StreamId { slot: 4, gen: 2 };
const V_BROWSER_RTP: RawFd = 30;
const V_SIP_RTP: RawFd = 40;

fn ctx(seed: u8) -> Context {
    Context::new(
        Suite::AesCm128HmacSha1_80,
        &MasterKey::from_bytes(&[seed; 30]),
    )
}

fn media(pt: u8, seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = rtp(seq, ssrc, u32::from(seq) * 160);
    p[1] = pt;
    p
}

/// The audio stream `ID` (leg A the browser, SRTP keys 1 in, 2 out) and the video stream
/// `VIDEO` bundled on its leg A for payload types 96 and 97.
fn bundled() -> (Forwarder, Instant) {
    let (mut f, t0) = setup(signal(BROWSER), signal(SIP_AUDIO), true);
    let v_sockets = [
        (
            LegSockets {
                rtp: V_BROWSER_RTP,
                rtcp: None,
            },
            signal(BROWSER),
        ),
        (
            LegSockets {
                rtp: V_SIP_RTP,
                rtcp: None,
            },
            signal(SIP_VIDEO),
        ),
    ];
    f.add_stream(t0, VIDEO, 99, v_sockets).unwrap();
    f.set_crypto(
        ID,
        0,
        Rekey::Key(Box::new(ctx(1))),
        Rekey::Key(Box::new(ctx(2))),
    )
    .unwrap();
    f.set_bundle(ID, 0, &[(VIDEO, payload_mask(&[96, 97]))])
        .unwrap();
    (f, t0)
}

#[test]
fn audio_and_video_on_one_transport_reach_their_own_sip_legs_and_come_back_on_it() {
    let (mut f, t0) = bundled();
    let mut browser_tx = ctx(1);
    // Audio (Opus 111) stays with the owner stream; video (96) goes to the video stream's SIP leg.
    let (fwd, out) = relay(
        &mut f,
        t0,
        a_rtp(),
        BROWSER,
        &protect(&mut browser_tx, &media(111, 1, 0xa0d10)),
    )
    .unwrap();
    assert_eq!((fwd.fd, fwd.to), (B_RTP, addr(SIP_AUDIO)));
    assert_eq!(out, media(111, 1, 0xa0d10), "decrypted for the SIP side");
    let (fwd, out) = relay(
        &mut f,
        t0,
        a_rtp(),
        BROWSER,
        &protect(&mut browser_tx, &media(96, 1, 0x71de0)),
    )
    .unwrap();
    assert_eq!((fwd.fd, fwd.to), (V_SIP_RTP, addr(SIP_VIDEO)));
    assert_eq!(out, media(96, 1, 0x71de0));
    // Statistics are each m-line's.
    let [a_audio, _] = f.stream_stats(ID).unwrap();
    let [a_video, b_video] = f.stream_stats(VIDEO).unwrap();
    assert_eq!((a_audio.packets_in, a_video.packets_in), (1, 1));
    assert_eq!(b_video.packets_out, 1);
    assert_eq!(a_video.ssrc, Some(0x71de0));

    // The SIP side's video goes back on the bundle's socket, encrypted with its key.
    let (fwd, out) = relay(
        &mut f,
        t0,
        VIDEO.token(SocketRole::Rtp { leg: 1 }),
        SIP_VIDEO,
        &media(96, 7, 0x5151),
    )
    .unwrap();
    assert_eq!((fwd.fd, fwd.to), (A_RTP, addr(BROWSER)));
    let mut browser_rx = ctx(2);
    let mut got = out.clone();
    let n = browser_rx
        .unprotect_rtp(&mut got)
        .expect("the bundle's SRTP");
    assert_eq!(&got[..n], media(96, 7, 0x5151).as_slice());
    let (fwd, _) = relay(&mut f, t0, b_rtp(), SIP_AUDIO, &media(0, 7, 0x5252)).unwrap();
    assert_eq!((fwd.fd, fwd.to), (A_RTP, addr(BROWSER)));

    // The browser's RTCP about its video goes to the video's SIP leg, about its audio to the audio's.
    let mut browser_rtcp = ctx(1);
    let mut buf = [0u8; 200];
    let report = sr(0x71de0, 1 << 40);
    buf[..report.len()].copy_from_slice(&report);
    let n = browser_rtcp.protect_rtcp(&mut buf, report.len()).unwrap();
    let (fwd, _) = relay(&mut f, t0, a_rtp(), BROWSER, &buf[..n]).unwrap();
    assert_eq!(fwd.to, addr(SIP_VIDEO));
    let report = sr(0xa0d10, 1 << 40);
    buf[..report.len()].copy_from_slice(&report);
    let n = browser_rtcp.protect_rtcp(&mut buf, report.len()).unwrap();
    let (fwd, _) = relay(&mut f, t0, a_rtp(), BROWSER, &buf[..n]).unwrap();
    // (The audio's SIP leg has its RTCP on the next port.)
    assert_eq!((fwd.fd, fwd.to), (B_RTCP, addr("198.51.100.2:5001")));

    // Forged video from elsewhere is refused by the owner's latch like any media.
    let forged = protect(&mut ctx(1), &media(96, 2, 0x71de0));
    assert!(relay(&mut f, t0, a_rtp(), "203.0.113.66:4000", &forged).is_err());
    assert!(
        relay(&mut f, t0, a_rtp(), BROWSER, &media(96, 3, 0x71de0)).is_err(),
        "clear media"
    );

    // Unbundled: the video stream answers for its own socket again.
    f.set_bundle(ID, 0, &[]).unwrap();
    let (fwd, out) = relay(
        &mut f,
        t0,
        VIDEO.token(SocketRole::Rtp { leg: 1 }),
        SIP_VIDEO,
        &media(96, 8, 0x5151),
    )
    .unwrap();
    assert_eq!((fwd.fd, fwd.to), (V_BROWSER_RTP, addr(BROWSER)));
    assert_eq!(out, media(96, 8, 0x5151), "its own leg has no keys");
    let (fwd, _) = relay(
        &mut f,
        t0,
        a_rtp(),
        BROWSER,
        &protect(&mut browser_tx, &media(96, 4, 0x71de0)),
    )
    .unwrap();
    assert_eq!(fwd.to, addr(SIP_AUDIO), "now the owner's own");
}

#[test]
fn a_removed_member_or_owner_drops_instead_of_misrouting() {
    let (mut f, t0) = bundled();
    let mut browser_tx = ctx(1);
    f.remove_stream(VIDEO).unwrap();
    assert_eq!(
        relay(
            &mut f,
            t0,
            a_rtp(),
            BROWSER,
            &protect(&mut browser_tx, &media(96, 1, 0x71de0))
        )
        .unwrap_err(),
        DropReason::Stale
    );
    // Audio goes on.
    assert!(relay(
        &mut f,
        t0,
        a_rtp(),
        BROWSER,
        &protect(&mut browser_tx, &media(0, 2, 0xa0d10))
    )
    .is_ok());

    let (mut f, t0) = bundled();
    f.remove_stream(ID).unwrap();
    assert_eq!(
        relay(
            &mut f,
            t0,
            VIDEO.token(SocketRole::Rtp { leg: 1 }),
            SIP_VIDEO,
            &media(96, 1, 0x5151)
        )
        .unwrap_err(),
        DropReason::NoDestination
    );
}

#[test]
fn bundled_srtp_survives_sequence_wraps() {
    let (mut f, t0) = bundled();
    let mut tx = ctx(1);
    for i in 0..70_000u32 {
        let seq = (i % 65_536) as u16;
        let p = protect(&mut tx, &media(96, seq, 0x71de0));
        if let Err(e) = relay(&mut f, t0, a_rtp(), BROWSER, &p) {
            panic!("packet {i} (seq {seq}): {e:?}");
        }
    }
}
