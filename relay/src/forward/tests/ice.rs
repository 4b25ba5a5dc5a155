//! ICE-lite on a leg: checks answered, nomination, bad credentials, consent, plain STUN.

use super::*;
use sbc_common::stun::auth::{
    check_fingerprint, check_integrity, write_binding_request, xor_address, Role,
};
use sbc_common::stun::{attr, Class, Packet as Stun};

const A: &str = "192.0.2.1:4000";
const B: &str = "198.51.100.2:5000";
/// Where the ICE peer really is (a NAT mapping, not what its SDP said).
const PEER: &str = "203.0.113.7:61000";
const PWD: &str = "sbcPasswordForLegA0123456789";

fn params() -> IceParams {
    IceParams {
        local_ufrag: "sbcA".into(),
        local_pwd: PWD.into(),
        remote_ufrag: Some("peer".into()),
    }
}

/// Leg A runs ICE-lite; its SDP said `A`.
fn ice_a() -> (Forwarder, Instant) {
    let (mut f, t0) = setup(signal(A), signal(B), false);
    f.set_ice(ID, 0, Some(params())).unwrap();
    (f, t0)
}

fn check(username: &str, key: &str, nominate: bool) -> Vec<u8> {
    check_as(username, key, Role::Controlling(1), nominate)
}

fn check_as(username: &str, key: &str, role: Role, nominate: bool) -> Vec<u8> {
    let mut buf = [0u8; 200];
    let n = write_binding_request(
        &mut buf,
        &[9; 12],
        username.as_bytes(),
        key.as_bytes(),
        role,
        nominate,
    )
    .unwrap();
    buf[..n].to_vec()
}

/// Runs `data` from `from` into leg A's RTP socket: the verdict and the bytes to send.
fn to_a(
    f: &mut Forwarder,
    t: Instant,
    from: &str,
    data: &[u8],
) -> Result<(Forward, Vec<u8>), DropReason> {
    let mut buf = [0u8; 1600];
    buf[..data.len()].copy_from_slice(data);
    let (fwd, n) = f.on_packet(t, a_rtp(), addr(from), &mut buf, data.len())?;
    Ok((fwd, buf[..n].to_vec()))
}

#[test]
fn a_valid_check_is_answered_from_the_port_it_reached_and_a_nomination_latches_at_once() {
    let (mut f, t0) = ice_a();
    // A plain check: answered with the source as XOR-MAPPED-ADDRESS, keyed by our password.
    let (fwd, rsp) = to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, false)).unwrap();
    assert_eq!(fwd, Forward::to(A_RTP, addr(PEER)));
    let p = Stun::new_checked(&rsp[..]).unwrap();
    assert_eq!(p.class(), Class::SuccessResponse);
    assert_eq!(p.transaction_id(), [9; 12]);
    let mapped = xor_address(p.attribute(attr::XOR_MAPPED_ADDRESS).unwrap(), &[9; 12]);
    assert_eq!(mapped, Some(addr(PEER)));
    assert_eq!(check_integrity(&rsp, PWD.as_bytes()), Ok(()));
    assert_eq!(check_fingerprint(&rsp), Ok(true));
    // Not nominated yet: media from the peer is refused, even from the SDP address.
    assert_eq!(
        f.plain(t0, a_rtp(), addr(PEER), &rtp(1, 0xa, 0)),
        Err(DropReason::SourceRejected)
    );
    assert_eq!(
        f.plain(t0, a_rtp(), addr(A), &rtp(1, 0xa, 0)),
        Err(DropReason::SourceRejected)
    );
    while f.poll_event().is_some() {}
    // USE-CANDIDATE: the peer is latched at once, whatever the SDP said.
    to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap();
    assert_eq!(
        f.poll_event(),
        Some(ForwardEvent::Latched {
            id: ID,
            leg: 0,
            rtcp: false,
            peer: addr(PEER)
        })
    );
    assert_eq!(
        f.plain(t0, a_rtp(), addr(PEER), &rtp(2, 0xa, 160)),
        Ok(Forward::to(B_RTP, addr(B)))
    );
    // B's media goes to the nominated address, not the SDP one.
    assert_eq!(
        f.plain(t0, b_rtp(), addr(B), &rtp(1, 0xb, 0)),
        Ok(Forward::to(A_RTP, addr(PEER)))
    );
    assert_eq!(f.totals().stun_answered, 2);
}

#[test]
fn checks_with_wrong_credentials_get_401_or_400_and_never_latch() {
    let (mut f, t0) = ice_a();
    let evil = "192.0.2.66:6666";
    for (username, key, code) in [
        ("sbcA:peer", "not-the-password-at-all!", 1),
        ("other:peer", PWD, 1),
        ("sbcA:someone", PWD, 1),
    ] {
        let (fwd, rsp) = to_a(&mut f, t0, evil, &check(username, key, true)).unwrap();
        assert_eq!(fwd.to, addr(evil));
        let p = Stun::new_checked(&rsp[..]).unwrap();
        assert_eq!(p.class(), Class::ErrorResponse, "{username}");
        let err = p.attribute(attr::ERROR_CODE).unwrap();
        assert_eq!((err[2], err[3]), (4, code), "{username}");
    }
    // A USERNAME without MESSAGE-INTEGRITY: 400.
    let mut half = check("sbcA:peer", PWD, true);
    half.truncate(36);
    half[2..4].copy_from_slice(&16u16.to_be_bytes());
    let (_, rsp) = to_a(&mut f, t0, evil, &half).unwrap();
    let p = Stun::new_checked(&rsp[..]).unwrap();
    assert_eq!(
        p.attribute(attr::ERROR_CODE).map(|e| (e[2], e[3])),
        Some((4, 0))
    );
    // No credentials at all: a plain STUN client gets its mapped address, nothing more.
    let mut bare = check("sbcA:peer", PWD, true);
    bare.truncate(20);
    bare[2..4].copy_from_slice(&[0, 0]);
    let (_, rsp) = to_a(&mut f, t0, evil, &bare).unwrap();
    let p = Stun::new_checked(&rsp[..]).unwrap();
    assert_eq!(p.class(), Class::SuccessResponse);
    assert_eq!(p.attribute(attr::MESSAGE_INTEGRITY), None);
    let mapped = xor_address(p.attribute(attr::XOR_MAPPED_ADDRESS).unwrap(), &[9; 12]);
    assert_eq!(mapped, Some(addr(evil)));
    // A corrupted fingerprint: dropped without an answer.
    let mut bad = check("sbcA:peer", PWD, true);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        to_a(&mut f, t0, evil, &bad).unwrap_err(),
        DropReason::StunAuth
    );
    // Nothing latched: the attacker's media is refused, and so nothing reaches B.
    assert_eq!(f.poll_event(), None);
    assert_eq!(
        f.plain(t0, a_rtp(), addr(evil), &rtp(1, 0xe, 0)),
        Err(DropReason::SourceRejected)
    );
    let a = f.stream_stats(ID).unwrap()[0];
    assert_eq!(a.drops[DropReason::StunAuth as usize], 5);
    assert_eq!(f.totals().stun_answered, 5);
}

#[test]
fn consent_expires_without_checks_and_a_roaming_peer_is_re_latched() {
    let (mut f, t0) = ice_a();
    to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap();
    assert!(f.plain(t0, b_rtp(), addr(B), &rtp(1, 0xb, 0)).is_ok());
    // 29 s later B's media still goes; at 30 s without a check it stops (counted).
    let t29 = t0 + Duration::from_secs(29);
    assert!(f.plain(t29, b_rtp(), addr(B), &rtp(2, 0xb, 160)).is_ok());
    let t30 = t0 + CONSENT_TIMEOUT;
    assert_eq!(
        f.plain(t30, b_rtp(), addr(B), &rtp(3, 0xb, 320)),
        Err(DropReason::Consent)
    );
    // The peer roams (NAT rebinding): a nominating check from the new address re-latches.
    let moved = "203.0.113.7:62000";
    to_a(&mut f, t30, moved, &check("sbcA:peer", PWD, true)).unwrap();
    assert_eq!(
        f.plain(t30, b_rtp(), addr(B), &rtp(4, 0xb, 480)),
        Ok(Forward::to(A_RTP, addr(moved)))
    );
    assert_eq!(
        f.plain(t30, a_rtp(), addr(PEER), &rtp(5, 0xa, 0)),
        Err(DropReason::SourceRejected),
        "the old address is no longer the peer"
    );
    let b = f.stream_stats(ID).unwrap()[1];
    assert_eq!(b.drops[DropReason::Consent as usize], 1);
}

#[test]
fn a_plain_binding_request_is_answered_on_a_leg_without_ice_and_latches_nothing() {
    let (mut f, t0) = setup(signal(A), signal(B), false);
    let mut bare = check("x:y", PWD, false);
    bare.truncate(20);
    bare[2..4].copy_from_slice(&[0, 0]);
    let (fwd, rsp) = to_a(&mut f, t0, PEER, &bare).unwrap();
    assert_eq!(fwd, Forward::to(A_RTP, addr(PEER)));
    let p = Stun::new_checked(&rsp[..]).unwrap();
    let mapped = xor_address(p.attribute(attr::XOR_MAPPED_ADDRESS).unwrap(), &[9; 12]);
    assert_eq!(mapped, Some(addr(PEER)));
    assert_eq!(check_fingerprint(&rsp), Ok(true));
    assert_eq!(f.poll_event(), None, "nothing latched");
    assert_eq!(f.stream_stats(ID).unwrap()[0].peer, None);
}

#[test]
fn stun_on_a_leg_without_ice_is_dropped_as_before() {
    let (mut f, t0) = setup(signal(A), signal(B), false);
    assert_eq!(
        to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap_err(),
        DropReason::Stun
    );
    f.set_ice(ID, 0, Some(params())).unwrap();
    assert!(to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).is_ok());
    f.set_ice(ID, 0, None).unwrap();
    assert_eq!(
        to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap_err(),
        DropReason::Stun
    );
}

#[test]
fn a_peer_that_also_claims_the_controlled_role_gets_487_and_latches_only_once_controlling() {
    let (mut f, t0) = ice_a();
    // linphone as an answerer keeps the controlled role against an ICE-lite offerer.
    let (_, rsp) = to_a(
        &mut f,
        t0,
        PEER,
        &check_as("sbcA:peer", PWD, Role::Controlled(5), false),
    )
    .unwrap();
    let p = Stun::new_checked(&rsp[..]).unwrap();
    assert_eq!(p.class(), Class::ErrorResponse);
    let code = p.attribute(attr::ERROR_CODE).unwrap();
    assert_eq!((code[2], code[3]), (4, 87), "487 Role Conflict");
    assert_eq!(
        check_integrity(&rsp, PWD.as_bytes()),
        Ok(()),
        "authenticated"
    );
    assert_eq!(f.poll_event(), None, "no latch on a conflict");
    assert_eq!(
        f.plain(t0, b_rtp(), addr(B), &rtp(1, 0xb, 0)),
        Err(DropReason::Consent),
        "a conflicting check grants no consent"
    );
    // It switches to controlling and nominates: latched.
    to_a(&mut f, t0, PEER, &check("sbcA:peer", PWD, true)).unwrap();
    assert!(matches!(f.poll_event(), Some(ForwardEvent::Latched { .. })));
}
