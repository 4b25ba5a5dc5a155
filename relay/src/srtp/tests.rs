//! The transform against RFC 3711 Appendix B, libsrtp's reference packet and RFC 7714 §16, and
//! its refusals (replays, forgeries, short input).

use super::keys::{GcmKeys, Keys, SessionKeys};
use super::replay::Stream;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn master(key_hex: &str, salt_hex: &str) -> MasterKey {
    let mut b = [0u8; 30];
    b[..16].copy_from_slice(&hex(key_hex));
    b[16..].copy_from_slice(&hex(salt_hex));
    MasterKey::from_bytes(&b)
}

/// RFC 3711 Appendix B.3.
const B3_KEY: &str = "E1F97A0D3E018BE0D64FA32C06DE4139";
const B3_SALT: &str = "0EC675AD498AFEEBB6960B3AABE6";

#[test]
fn key_derivation_matches_rfc3711_b3() {
    let m = master(B3_KEY, B3_SALT);
    let k = SessionKeys::derive(&m, 0);
    assert_eq!(k.cipher.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    assert_eq!(k.salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    assert_eq!(
        k.auth.to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
}

#[test]
fn aes_cm_keystream_matches_rfc3711_b2() {
    // Session key and salt of B.2, SSRC 0, index 0: the keystream is what encrypting zeros
    // gives.
    let keys = SessionKeys {
        cipher: hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap(),
        salt: hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap(),
        auth: [0; 20],
    };
    let mut stream = vec![0u8; 48];
    keys.crypt(0, 0, &mut stream);
    assert_eq!(
        stream,
        hex("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0")
    );
}

/// libsrtp's `srtp_validate` vector (AES_CM_128_HMAC_SHA1_80, the B.3 master key): RTP
/// header 800f1234 decafbad cafebabe, payload 16 × ab.
#[test]
fn a_packet_protects_to_libsrtps_reference_and_back() {
    let m = master(B3_KEY, B3_SALT);
    let mut tx = Context::new(Suite::AesCm128HmacSha1_80, &m);
    let mut rx = Context::new(Suite::AesCm128HmacSha1_80, &m);
    let plain = hex("800f1234decafbadcafebabeabababababababababababababababab");
    let mut buf = plain.clone();
    buf.resize(plain.len() + 10, 0);
    let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
    assert_eq!(
        buf[..n].to_vec(),
        hex("800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb")
    );
    let n = rx.unprotect_rtp(&mut buf[..n]).unwrap();
    assert_eq!(buf[..n].to_vec(), plain);
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&u32::from(seq).wrapping_mul(160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x55; 160]);
    p
}

fn protect(tx: &mut Context, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + tx.suite().rtp_tag_len(), 0);
    let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn replays_forgeries_and_rollover_are_handled() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
        let m = master(B3_KEY, B3_SALT);
        let (mut tx, mut rx) = (Context::new(suite, &m), Context::new(suite, &m));
        // Across the 16-bit sequence wrap: the rollover counter follows on both sides.
        let seqs: Vec<u16> = (65_530..=65_535).chain(0..5).collect();
        let protected: Vec<Vec<u8>> = seqs.iter().map(|&s| protect(&mut tx, &rtp(s, 7))).collect();
        // Delivered out of order within the window: all accepted once.
        let mut order: Vec<usize> = (0..protected.len()).collect();
        order.swap(2, 7);
        for &i in &order {
            let mut p = protected[i].clone();
            let n = rx.unprotect_rtp(&mut p).unwrap();
            assert_eq!(
                p[..n].to_vec(),
                rtp(seqs[i], 7),
                "{suite:?} seq {}",
                seqs[i]
            );
        }
        // The same packets again: replays.
        let mut again = protected[3].clone();
        assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replayed));
        // A flipped payload bit or tag bit: authentication fails, state untouched.
        let mut forged = protect(&mut tx, &rtp(5, 7));
        forged[20] ^= 1;
        assert_eq!(rx.unprotect_rtp(&mut forged), Err(SrtpError::AuthFailed));
        forged[20] ^= 1;
        let last = forged.len() - 1;
        forged[last] ^= 0x80;
        assert_eq!(rx.unprotect_rtp(&mut forged), Err(SrtpError::AuthFailed));
        forged[last] ^= 0x80;
        assert!(
            rx.unprotect_rtp(&mut forged).is_ok(),
            "the genuine packet still passes"
        );
        // Another key: nothing passes.
        let mut other = Context::new(suite, &master("00112233445566778899AABBCCDDEEFF", B3_SALT));
        let mut p = protect(&mut tx, &rtp(6, 7));
        assert_eq!(other.unprotect_rtp(&mut p), Err(SrtpError::AuthFailed));
    }
}

#[test]
fn srtcp_round_trips_with_its_index_and_refuses_replays_and_forgeries() {
    let m = master(B3_KEY, B3_SALT);
    let (mut tx, mut rx) = (
        Context::new(Suite::AesCm128HmacSha1_80, &m),
        Context::new(Suite::AesCm128HmacSha1_80, &m),
    );
    let plain =
        hex("81c8000bcafebabeabababababababababababababababababababababababababababababababab");
    let mut packets = Vec::new();
    for _ in 0..3 {
        let mut buf = plain.clone();
        buf.resize(plain.len() + Suite::AesCm128HmacSha1_80.rtcp_overhead(), 0);
        let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
        assert_eq!(n, plain.len() + 14);
        assert_eq!(&buf[..8], &plain[..8], "the first 8 bytes stay in clear");
        assert_ne!(&buf[8..plain.len()], &plain[8..], "the rest is encrypted");
        packets.push(buf);
    }
    assert_eq!(&packets[1][plain.len()..plain.len() + 4], &[0x80, 0, 0, 1]);
    for p in &packets {
        let mut p = p.clone();
        let n = rx.unprotect_rtcp(&mut p).unwrap();
        assert_eq!(p[..n].to_vec(), plain);
    }
    let mut replay = packets[0].clone();
    assert_eq!(rx.unprotect_rtcp(&mut replay), Err(SrtpError::Replayed));
    let mut forged = packets[2].clone();
    forged[10] ^= 4;
    let mut fresh_rx = Context::new(Suite::AesCm128HmacSha1_80, &m);
    assert_eq!(
        fresh_rx.unprotect_rtcp(&mut forged),
        Err(SrtpError::AuthFailed)
    );
}

/// A GCM context with the session key and salt given directly, as RFC 7714 §16 does.
fn gcm_session(key: &str, salt: &str) -> Context {
    let k = || GcmKeys {
        key: hex(key).try_into().unwrap(),
        salt: hex(salt).try_into().unwrap(),
    };
    Context {
        suite: Suite::AeadAes128Gcm,
        keys: Keys::Gcm {
            rtp: k(),
            rtcp: k(),
        },
        streams: [Stream::default(); MAX_SSRCS],
        rtcp_index: 0,
        rtcp_window: Stream::default(),
    }
}

/// RFC 7714 §16.1.1: AEAD_AES_128_GCM, ROC 0, the packet "Gallia est omnis divisa in partes
/// tres".
#[test]
fn gcm_matches_rfc7714_16_1_1_and_refuses_tampering() {
    let key = "000102030405060708090a0b0c0d0e0f";
    let salt = "517569642070726f2071756f";
    let plain = hex("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573");
    let expected = hex("8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce");
    let mut tx = gcm_session(key, salt);
    let mut buf = plain.clone();
    buf.resize(plain.len() + 16, 0);
    let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
    assert_eq!(buf[..n].to_vec(), expected);
    let mut rx = gcm_session(key, salt);
    let mut p = expected.clone();
    let n = rx.unprotect_rtp(&mut p).unwrap();
    assert_eq!(p[..n].to_vec(), plain);
    let mut again = expected.clone();
    assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replayed));
    // The header is authenticated too (AAD): a changed marker bit fails.
    let mut forged = expected.clone();
    forged[1] ^= 0x80;
    let mut fresh = gcm_session(key, salt);
    assert_eq!(fresh.unprotect_rtp(&mut forged), Err(SrtpError::AuthFailed));
}

#[test]
fn gcm_from_a_master_key_round_trips_rtp_and_rtcp() {
    let key: [u8; 16] = hex(B3_KEY).try_into().unwrap();
    let m = MasterKey::new(&key, &hex("517569642070726f2071756f")).unwrap();
    let (mut tx, mut rx) = (
        Context::new(Suite::AeadAes128Gcm, &m),
        Context::new(Suite::AeadAes128Gcm, &m),
    );
    for seq in [65_534u16, 65_535, 0, 1] {
        let mut p = protect(&mut tx, &rtp(seq, 9));
        let n = rx.unprotect_rtp(&mut p).unwrap();
        assert_eq!(p[..n].to_vec(), rtp(seq, 9));
    }
    let plain = hex("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef");
    let over = Suite::AeadAes128Gcm.rtcp_overhead();
    let mut buf = plain.clone();
    buf.resize(plain.len() + over, 0);
    let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
    assert_eq!(n, plain.len() + 20);
    assert_eq!(
        &buf[n - 4..n],
        &[0x80, 0, 0, 0],
        "E flag and index after the tag"
    );
    let mut forged = buf.clone();
    forged[n - 1] = 1;
    assert_eq!(rx.unprotect_rtcp(&mut forged), Err(SrtpError::AuthFailed));
    let len = rx.unprotect_rtcp(&mut buf).unwrap();
    assert_eq!(buf[..len].to_vec(), plain);
    assert!(MasterKey::new(&key, &[0; 13]).is_none());
}

#[test]
fn sdes_names_and_short_input() {
    assert_eq!(
        Suite::from_sdes("AES_CM_128_HMAC_SHA1_32"),
        Some(Suite::AesCm128HmacSha1_32)
    );
    assert_eq!(Suite::from_sdes("F8_128_HMAC_SHA1_80"), None);
    assert_eq!(
        Suite::from_sdes("AEAD_AES_128_GCM"),
        Some(Suite::AeadAes128Gcm)
    );
    assert_eq!(Suite::AeadAes128Gcm.salt_len(), 12);
    assert_eq!(
        Suite::AesCm128HmacSha1_80.sdes_name(),
        "AES_CM_128_HMAC_SHA1_80"
    );
    let mut c = Context::new(Suite::AesCm128HmacSha1_80, &master(B3_KEY, B3_SALT));
    assert_eq!(c.unprotect_rtp(&mut [0x80; 15]), Err(SrtpError::TooShort));
    let mut small = [0x80u8; 20];
    assert_eq!(c.protect_rtp(&mut small, 20), Err(SrtpError::NoRoom));
    assert!(format!("{:?}", master(B3_KEY, B3_SALT)).contains("redacted"));
}
