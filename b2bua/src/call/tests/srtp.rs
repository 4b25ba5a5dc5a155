//! SDES-SRTP per leg on virtual time: each leg's keys are the SBC's own, a peer's key reaches
//! only the relay, and a leg's policy decides its profile and what is refused (RFC 4568 §7,
//! RFC 3711, RFC 3264 §6).

use super::*;
use sbc_common::sdp::crypto::format_crypto;
use sbc_relay::srtp::Suite;

/// Alice's key, as she offers it (30 bytes of 0xaa).
const ALICE_KEY: &str = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";

fn net(a: SrtpPolicy, b: SrtpPolicy) -> Net {
    net_with(CallConfig::default(), a, b)
}

fn net_with(cfg: CallConfig, a: SrtpPolicy, b: SrtpPolicy) -> Net {
    Net::with_router(cfg, move |m: &Message, d: Dest| {
        let mut r = route(m, d)?;
        r.a_side.srtp = a;
        r.b_side.srtp = b;
        Ok(r)
    })
}

/// An SDP with profile `proto` and the given `a=crypto` values.
fn sdp_crypto(
    origin: &str,
    version: u32,
    ip: &str,
    port: u16,
    proto: &str,
    cryptos: &[&str],
) -> String {
    let mut s = sdp(origin, version, ip, port, "sendrecv").replace("RTP/AVP", proto);
    for c in cryptos {
        s.push_str(&format!("a=crypto:{c}\r\n"));
    }
    s
}

fn alice_srtp(version: u32, key: &str) -> String {
    sdp_crypto(
        "alice",
        version,
        "198.51.100.10",
        49170,
        "RTP/SAVP",
        &[
            &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}"),
            &format!("2 AES_CM_128_HMAC_SHA1_32 inline:{key}"),
        ],
    )
}

fn cryptos(msg: &Message) -> Vec<String> {
    let sdp = Sdp::parse(msg.body()).unwrap();
    let m = sdp.media().next().unwrap();
    m.description()
        .attributes()
        .filter(|a| a.is("crypto"))
        .map(|a| a.value.unwrap_or_default().to_owned())
        .collect()
}

fn proto(msg: &Message) -> String {
    Sdp::parse(msg.body())
        .unwrap()
        .media()
        .next()
        .unwrap()
        .proto()
        .to_owned()
}

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes(&[byte; 30])
}

fn crypto_ops(ops: Vec<Op>) -> Vec<(Leg, KeyChange, KeyChange)> {
    ops.into_iter()
        .filter_map(|o| match o {
            Op::Crypto(SessionId(1), 0, leg, i, o) => Some((leg, i, o)),
            _ => None,
        })
        .collect()
}

/// A → SBC → B with `a_sdp` from A; returns what B got.
fn invite_with(net: &mut Net, a_sdp: &str) -> Message {
    net.send_a(with_sdp(invite_a(70), Some(a_sdp)));
    assert_eq!(net.one_a().status(), Some(100));
    net.one_b()
}

#[test]
fn an_srtp_customer_meets_a_plain_core_with_keys_made_per_leg() {
    let mut net = net(SrtpPolicy::Optional, SrtpPolicy::Off);
    let b_inv = invite_with(&mut net, &alice_srtp(1, ALICE_KEY));
    // The core gets plain RTP and never Alice's key.
    assert_eq!(proto(&b_inv), "RTP/AVP");
    assert!(cryptos(&b_inv).is_empty());
    assert!(!String::from_utf8_lossy(&b_inv.to_bytes()).contains(ALICE_KEY));
    net.ops();
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    // Alice's answer: her profile, her first suite under her tag, the SBC's own key (#1).
    assert_eq!(proto(&ok), "RTP/SAVP");
    assert_eq!(
        cryptos(&ok),
        [format_crypto(1, "AES_CM_128_HMAC_SHA1_80", &[1; 30])]
    );
    let alice = key(0xaa);
    assert_eq!(
        crypto_ops(net.ops()),
        [(
            Leg::A,
            KeyChange::Key(Suite::AesCm128HmacSha1_80, alice),
            KeyChange::Key(Suite::AesCm128HmacSha1_80, key(1))
        )]
    );
    // SDES state for the one line; no ICE or DTLS state.
    assert_eq!(net.sbc.media_lines(CallKey(1)), Some([1, 0, 0]));
}

#[test]
fn a_plain_customer_reaches_an_srtp_required_trunk_and_the_answer_picks_a_suite() {
    let mut net = net(SrtpPolicy::Off, SrtpPolicy::Required);
    let b_inv = invite_with(&mut net, &sdp_a(1, "sendrecv"));
    assert_eq!(proto(&b_inv), "RTP/SAVP");
    let offered = cryptos(&b_inv);
    let mut gcm = [2u8; 28];
    gcm[..16].copy_from_slice(&[2; 16]);
    assert_eq!(
        offered,
        [
            format_crypto(1, "AES_CM_128_HMAC_SHA1_80", &[1; 30]),
            format_crypto(2, "AEAD_AES_128_GCM", &gcm),
            format_crypto(3, "AES_CM_128_HMAC_SHA1_32", &[3; 30]),
        ]
    );
    net.ops();
    // The trunk takes GCM (tag 2) with its own 28-byte key.
    let trunk_key = "u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7uw==";
    let answer = sdp_crypto(
        "bob",
        1,
        "10.0.0.20",
        30000,
        "RTP/SAVP",
        &[&format!("2 AEAD_AES_128_GCM inline:{trunk_key}")],
    );
    net.send_b(reply_b(&b_inv, 200, Some(&answer)));
    let ok = net.one_a();
    assert_eq!((ok.status(), proto(&ok)), (Some(200), "RTP/AVP".into()));
    assert!(cryptos(&ok).is_empty());
    let ops = crypto_ops(net.ops());
    let [(
        Leg::B,
        KeyChange::Key(Suite::AeadAes128Gcm, _),
        KeyChange::Key(Suite::AeadAes128Gcm, ours),
    )] = ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(*ours, MasterKey::new(&[2; 16], &[2; 12]).unwrap());
}

#[test]
fn offers_without_acceptable_keys_get_488_with_a_warning() {
    // Required side, plain offer.
    let mut net1 = net(SrtpPolicy::Required, SrtpPolicy::Off);
    net1.send_a(invite_a(70));
    let r = net1.a().pop().unwrap();
    assert_eq!(r.status(), Some(488));
    assert_eq!(
        r.header(&HeaderName::Warning),
        Some("399 203.0.113.1:5060 \"SRTP required\"")
    );
    assert!(net1.b().is_empty());
    // An SRTP offer where SRTP is off.
    let mut net2 = net(SrtpPolicy::Off, SrtpPolicy::Off);
    net2.send_a(with_sdp(invite_a(70), Some(&alice_srtp(1, ALICE_KEY))));
    let r = net2.a().pop().unwrap();
    assert_eq!(r.status(), Some(488));
    assert!(r
        .header(&HeaderName::Warning)
        .unwrap()
        .contains("SRTP is not enabled"));
    // Only suites the relay does not run, or a key with an MKI.
    let mut net3 = net(SrtpPolicy::Optional, SrtpPolicy::Off);
    let odd = sdp_crypto(
        "alice",
        1,
        "198.51.100.10",
        49170,
        "RTP/SAVP",
        &[
            &format!("1 AES_256_CM_HMAC_SHA1_80 inline:{ALICE_KEY}"),
            &format!("2 AES_CM_128_HMAC_SHA1_80 inline:{ALICE_KEY}|2^20|1:4"),
        ],
    );
    net3.send_a(with_sdp(invite_a(70), Some(&odd)));
    let r = net3.a().pop().unwrap();
    assert_eq!(r.status(), Some(488));
    assert!(r
        .header(&HeaderName::Warning)
        .unwrap()
        .contains("no acceptable SRTP crypto suite"));
    assert!(net3.b().is_empty());
}

#[test]
fn a_required_trunk_answering_without_a_key_is_hung_up_and_a_gets_488() {
    let mut net = net(SrtpPolicy::Off, SrtpPolicy::Required);
    let b_inv = invite_with(&mut net, &sdp_a(1, "sendrecv"));
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let to_b: Vec<Option<Method>> = net.b().iter().map(|m| m.method().cloned()).collect();
    assert_eq!(to_b, [Some(Method::Ack), Some(Method::Bye)]);
    let to_a = net.a();
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a[0].status(), Some(488));
    assert!(
        crypto_ops(net.ops()).is_empty(),
        "no key ever reached the relay"
    );
}

#[test]
fn optional_offers_best_effort_keys_and_a_plain_answer_stays_plain() {
    let mut net = net(SrtpPolicy::Off, SrtpPolicy::Optional);
    let b_inv = invite_with(&mut net, &sdp_a(1, "sendrecv"));
    assert_eq!(proto(&b_inv), "RTP/AVP");
    assert_eq!(cryptos(&b_inv).len(), 3);
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    assert_eq!(net.one_a().status(), Some(200));
    assert!(crypto_ops(net.ops()).is_empty());
}

#[test]
fn a_reinvite_rekeys_only_the_direction_that_changed() {
    let mut net = net(SrtpPolicy::Optional, SrtpPolicy::Off);
    let b_inv = invite_with(&mut net, &alice_srtp(1, ALICE_KEY));
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    let first = cryptos(&ok);
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    net.b();
    net.ops();
    // Hold with the same key: nothing to re-key, the same SBC key in the answer.
    let hold = alice_srtp(2, ALICE_KEY).replace("sendrecv", "sendonly");
    net.send_a(from_a(Method::Invite, &ok, 2, "z9hG4bKa3", Some(&hold)));
    net.a();
    let re = net.one_b();
    assert!(cryptos(&re).is_empty());
    net.send_b(reply_b(&re, 200, Some(&sdp_b(2, "recvonly"))));
    let ok2 = net.one_a();
    assert_eq!(cryptos(&ok2), first);
    assert!(crypto_ops(net.ops()).is_empty());
    net.send_a(from_a(Method::Ack, &ok2, 2, "z9hG4bKa4", None));
    net.b();
    // Alice re-keys: her new key reaches the relay; the SBC's key for her is kept.
    let new_key = "u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7";
    net.send_a(from_a(
        Method::Invite,
        &ok,
        3,
        "z9hG4bKa5",
        Some(&alice_srtp(3, new_key)),
    ));
    net.a();
    let re = net.one_b();
    net.send_b(reply_b(&re, 200, Some(&sdp_b(3, "sendrecv"))));
    let ok3 = net.one_a();
    assert_eq!(cryptos(&ok3), first);
    let ops = crypto_ops(net.ops());
    let [(Leg::A, KeyChange::Key(Suite::AesCm128HmacSha1_80, k), KeyChange::Keep)] = ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(*k, key(0xbb));
}

#[test]
fn a_peer_that_rekeys_in_its_answer_to_the_sbcs_session_refresh_is_followed() {
    let cfg = CallConfig {
        session_timer: SessionTimerConfig {
            expires_s: 1800,
            min_se_s: 90,
        },
        ..CallConfig::default()
    };
    let mut net = net_with(cfg, SrtpPolicy::Optional, SrtpPolicy::Off);
    let b_inv = invite_with(&mut net, &alice_srtp(1, ALICE_KEY));
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(1, "sendrecv"))));
    let ok = net.one_a();
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    net.b();
    net.ops();
    // At half the interval the SBC refreshes leg A with the SDP it last sent there.
    net.advance(900_000);
    let re = net.one_a();
    assert_eq!((re.method(), re.body()), (Some(&Method::Invite), ok.body()));
    net.b(); // leg B's own refresh (plain, no keys)
             // Alice answers the SBC's key with a new key of hers (RFC 4568 §7.1.4).
    let new_key = "u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7";
    let answer = sdp_crypto(
        "alice",
        2,
        "198.51.100.10",
        49170,
        "RTP/SAVP",
        &[&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{new_key}")],
    );
    net.send_a(reply_a(&re, 200, Some(&answer)));
    assert_eq!(net.one_a().method(), Some(&Method::Ack));
    assert_eq!(
        crypto_ops(net.ops()),
        [(
            Leg::A,
            KeyChange::Key(Suite::AesCm128HmacSha1_80, key(0xbb)),
            KeyChange::Keep
        )]
    );
}
