//! SRTP terminated on a leg: protect, unprotect, forgeries, replays, SRTCP, re-keying.

use super::*;
use crate::srtp::{Context, MasterKey, Suite};

const A: &str = "192.0.2.1:4000";
const B: &str = "198.51.100.2:5000";

fn key(seed: u8) -> MasterKey {
    MasterKey::from_bytes(&[seed; 30])
}

fn ctx(suite: Suite, seed: u8) -> Context {
    Context::new(suite, &key(seed))
}

/// Leg B is SRTP: its peer sends with key 1, the relay sends it with key 2.
fn secure_b(suite: Suite) -> (Forwarder, Instant) {
    let (mut f, t0) = setup(signal(A), signal(B), false);
    f.set_crypto(
        ID,
        1,
        Rekey::Key(Box::new(ctx(suite, 1))),
        Rekey::Key(Box::new(ctx(suite, 2))),
    )
    .unwrap();
    (f, t0)
}

#[test]
fn plain_rtp_from_a_leaves_encrypted_for_b_and_b_srtp_arrives_plain_at_a() {
    for suite in [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AeadAes128Gcm,
    ] {
        let (mut f, t0) = secure_b(suite);
        let plain = rtp(1, 0xa, 0);
        let (fwd, out) = relay(&mut f, t0, a_rtp(), A, &plain).unwrap();
        assert_eq!(fwd, Forward::to(B_RTP, addr(B)));
        assert_eq!(out.len(), plain.len() + suite.rtp_tag_len());
        assert_ne!(
            out[12..plain.len()],
            plain[12..],
            "{suite:?}: payload encrypted"
        );
        // B's peer decrypts with the relay's key for it.
        let mut got = out.clone();
        let n = ctx(suite, 2).unprotect_rtp(&mut got).unwrap();
        assert_eq!(got[..n], plain[..]);

        let from_b = rtp(7, 0xb, 160);
        let mut b_key = ctx(suite, 1);
        let (fwd, out) = relay(&mut f, t0, b_rtp(), B, &protect(&mut b_key, &from_b)).unwrap();
        assert_eq!(fwd, Forward::to(A_RTP, addr(A)));
        assert_eq!(out, from_b, "{suite:?}: A gets plain RTP");
        let [a, b] = f.stream_stats(ID).unwrap();
        assert_eq!((a.packets_out, b.packets_out), (1, 1));
        assert_eq!(b.bytes_out, (plain.len() + suite.rtp_tag_len()) as u64);
    }
}

#[test]
fn forged_and_replayed_srtp_is_dropped_counted_and_never_latches() {
    let suite = Suite::AesCm128HmacSha1_80;
    let (mut f, t0) = secure_b(suite);
    let mut b_key = ctx(suite, 1);
    let good = protect(&mut b_key, &rtp(1, 0xb, 0));
    assert!(relay(&mut f, t0, b_rtp(), B, &good).is_ok());
    while f.poll_event().is_some() {}
    assert_eq!(
        relay(&mut f, t0, b_rtp(), B, &good).unwrap_err(),
        DropReason::SrtpReplay
    );
    let mut forged = protect(&mut b_key, &rtp(2, 0xb, 160));
    forged[20] ^= 1;
    assert_eq!(
        relay(&mut f, t0, b_rtp(), B, &forged).unwrap_err(),
        DropReason::SrtpAuth
    );
    // A stranger's packet keyed with another key: dropped before the latch sees it.
    let mut other = ctx(suite, 9);
    let evil = protect(&mut other, &rtp(3, 0xe, 320));
    assert_eq!(
        relay(&mut f, t0, b_rtp(), "203.0.113.9:6666", &evil).unwrap_err(),
        DropReason::SrtpAuth
    );
    assert_eq!(f.poll_event(), None);
    let b = f.stream_stats(ID).unwrap()[1];
    assert_eq!(b.drops[DropReason::SrtpReplay as usize], 1);
    assert_eq!(b.drops[DropReason::SrtpAuth as usize], 2);
    assert_eq!(b.peer, Some(addr(B)));
    assert_eq!(f.totals().drops[DropReason::SrtpAuth as usize], 2);
    // A plain RTP packet on the secure leg fails authentication too: never forwarded.
    assert_eq!(
        relay(&mut f, t0, b_rtp(), B, &rtp(4, 0xb, 480)).unwrap_err(),
        DropReason::SrtpAuth
    );
}

#[test]
fn rtcp_is_protected_and_unprotected_on_the_secure_leg() {
    let suite = Suite::AesCm128HmacSha1_80;
    let (mut f, t0) = secure_b(suite);
    let a_rtcp = ID.token(SocketRole::Rtcp { leg: 0 });
    let b_rtcp = ID.token(SocketRole::Rtcp { leg: 1 });
    let report = sr(0xa, 1 << 40);
    let (fwd, out) = relay(&mut f, t0, a_rtcp, "192.0.2.1:4001", &report).unwrap();
    assert_eq!(fwd, Forward::to(B_RTCP, addr("198.51.100.2:5001")));
    assert_eq!(out.len(), report.len() + suite.rtcp_overhead());
    let mut got = out.clone();
    let n = ctx(suite, 2).unprotect_rtcp(&mut got).unwrap();
    assert_eq!(got[..n], report[..]);

    let from_b = sr(0xb, 2 << 40);
    let mut buf = [0u8; 200];
    buf[..from_b.len()].copy_from_slice(&from_b);
    let n = ctx(suite, 1).protect_rtcp(&mut buf, from_b.len()).unwrap();
    let (fwd, out) = relay(&mut f, t0, b_rtcp, "198.51.100.2:5001", &buf[..n]).unwrap();
    assert_eq!(fwd, Forward::to(A_RTCP, addr("192.0.2.1:4001")));
    assert_eq!(out, from_b);
}

#[test]
fn rekeying_replaces_one_direction_and_plain_ends_srtp() {
    let suite = Suite::AesCm128HmacSha1_80;
    let (mut f, t0) = secure_b(suite);
    // B's peer re-keys (re-INVITE): its new key 3; the relay's key for B is kept.
    f.set_crypto(ID, 1, Rekey::Key(Box::new(ctx(suite, 3))), Rekey::Keep)
        .unwrap();
    let mut old = ctx(suite, 1);
    assert_eq!(
        relay(&mut f, t0, b_rtp(), B, &protect(&mut old, &rtp(1, 0xb, 0))).unwrap_err(),
        DropReason::SrtpAuth
    );
    let mut new = ctx(suite, 3);
    assert!(relay(&mut f, t0, b_rtp(), B, &protect(&mut new, &rtp(2, 0xb, 0))).is_ok());
    let (_, out) = relay(&mut f, t0, a_rtp(), A, &rtp(1, 0xa, 0)).unwrap();
    let mut got = out.clone();
    assert!(
        ctx(suite, 2).unprotect_rtp(&mut got).is_ok(),
        "outbound key kept"
    );
    // Back to plain RTP both ways.
    f.set_crypto(ID, 1, Rekey::Plain, Rekey::Plain).unwrap();
    let plain = rtp(2, 0xa, 160);
    assert_eq!(relay(&mut f, t0, a_rtp(), A, &plain).unwrap().1, plain);
    assert!(f
        .set_crypto(StreamId { slot: 3, gen: 8 }, 0, Rekey::Plain, Rekey::Plain)
        .is_err());
}

/// A DTLS record header (content type 22, DTLS 1.2) and a few bytes.
fn dtls_record() -> Vec<u8> {
    vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 1, 2, 3]
}

#[test]
fn a_dtls_leg_hands_its_dtls_over_and_relays_no_media_before_its_keys() {
    let (mut f, t0) = setup(signal(A), signal(B), false);
    f.set_dtls(ID, 1, true).unwrap();
    // The peer's DTLS goes to the control plane, not through.
    assert_eq!(
        relay(&mut f, t0, b_rtp(), B, &dtls_record()).unwrap_err(),
        DropReason::Dtls
    );
    let d = f.poll_dtls().expect("queued for the handshake");
    assert_eq!((d.id, d.leg, d.rtcp, d.from), (ID, 1, false, addr(B)));
    assert_eq!(&*d.data, dtls_record().as_slice());
    assert!(f.poll_dtls().is_none());
    // No media either way until the handshake keys the leg: nothing in clear to a browser.
    assert_eq!(
        relay(&mut f, t0, a_rtp(), A, &rtp(1, 0xa, 0)).unwrap_err(),
        DropReason::Unkeyed
    );
    assert_eq!(
        relay(&mut f, t0, b_rtp(), B, &rtp(1, 0xb, 0)).unwrap_err(),
        DropReason::Unkeyed
    );
    // Keyed: SRTP both ways, as with SDES.
    let suite = Suite::AesCm128HmacSha1_80;
    f.set_crypto(
        ID,
        1,
        Rekey::Key(Box::new(ctx(suite, 1))),
        Rekey::Key(Box::new(ctx(suite, 2))),
    )
    .unwrap();
    let (_, out) = relay(&mut f, t0, a_rtp(), A, &rtp(2, 0xa, 0)).unwrap();
    assert_eq!(out.len(), 12 + 160 + 10);
    let sent = protect(&mut ctx(suite, 1), &rtp(1, 0xb, 0));
    let (_, out) = relay(&mut f, t0, b_rtp(), B, &sent).unwrap();
    assert_eq!(out, rtp(1, 0xb, 0));
    // The queue is bounded: a flood of DTLS is dropped as junk past it.
    for _ in 0..100 {
        let _ = relay(&mut f, t0, b_rtp(), B, &dtls_record());
    }
    let mut queued = 0;
    while f.poll_dtls().is_some() {
        queued += 1;
    }
    assert_eq!(queued, 64);
    // Off again: DTLS between keyed legs is junk, never passed through.
    f.set_dtls(ID, 1, false).unwrap();
    assert_eq!(
        relay(&mut f, t0, b_rtp(), B, &dtls_record()).unwrap_err(),
        DropReason::Junk
    );
}
