//! Stateless, self-authenticating server nonces (RFC 7616 §3.3 and §5.4).

use std::fmt;

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{hex_digit, hex_value};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC-SHA256 tag kept in a nonce (128 bits, ample against forgery).
const TAG_LEN: usize = 16;
/// Nonce bytes before hex encoding: timestamp (8), salt (8), truncated tag.
const RAW_LEN: usize = 16 + TAG_LEN;
/// Length of an issued nonce: lower-case hex of the raw bytes.
const NONCE_LEN: usize = 2 * RAW_LEN;

/// The verdict on a nonce a client sent back (RFC 7616 §3.3, `stale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceCheck {
    /// Issued by us (same secret and realm) and within its lifetime.
    Valid,
    /// Issued by us but expired: re-challenge with `stale=true` so the client retries
    /// with the same credentials without asking its user.
    Stale,
    /// Not issued by us: forged, tampered with, for another realm, or garbage.
    Invalid,
}

/// Issues and checks stateless nonces: `hex(timestamp || salt || HMAC-SHA256(secret,
/// timestamp || salt || realm)[..16])`, so any node sharing the secret can check a nonce
/// without storing it (RFC 7616 §5.4 suggests a time stamp plus a private-key hash).
///
/// The caller supplies the time and the salt (a counter or random value). A future
/// timestamp on an authentic nonce (clock skew between nodes sharing the secret) is
/// accepted. Nonce-count replay tracking is not done here (see the module docs).
/// `Debug` does not show the secret.
#[derive(Clone)]
pub struct NonceIssuer {
    mac: HmacSha256,
    realm: String,
    lifetime_secs: u64,
}

impl NonceIssuer {
    /// Creates an issuer for `realm` whose nonces last `lifetime_secs` seconds.
    ///
    /// The secret should be at least 32 random bytes, shared by all nodes that check the
    /// nonces; any length is accepted, with standard HMAC key handling.
    pub fn new(secret: &[u8], realm: &str, lifetime_secs: u64) -> Self {
        Self {
            mac: hmac_with_key(secret),
            realm: realm.to_owned(),
            lifetime_secs,
        }
    }

    /// The realm the nonces are bound to.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The nonce lifetime in seconds.
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// Issues a nonce stamped with `now_unix_secs`; `salt` makes nonces issued in the same
    /// second differ and should be random or a counter. Returns 64 lower-case hex digits.
    pub fn issue(&self, now_unix_secs: u64, salt: u64) -> String {
        let mut raw = [0u8; RAW_LEN];
        let (ts, rest) = raw.split_at_mut(8);
        let (salt_bytes, tag) = rest.split_at_mut(8);
        ts.copy_from_slice(&now_unix_secs.to_be_bytes());
        salt_bytes.copy_from_slice(&salt.to_be_bytes());
        let full = self.tag(now_unix_secs, salt);
        for (dst, src) in tag.iter_mut().zip(full) {
            *dst = src;
        }
        let mut out = String::with_capacity(NONCE_LEN);
        for b in raw {
            out.push(char::from(hex_digit(b >> 4)));
            out.push(char::from(hex_digit(b & 0xf)));
        }
        out
    }

    /// Checks a nonce received in credentials at time `now_unix_secs`, comparing the MAC in
    /// constant time. Only the exact form [`NonceIssuer::issue`] produces is accepted.
    pub fn check(&self, nonce: &str, now_unix_secs: u64) -> NonceCheck {
        let Some(raw) = decode(nonce) else {
            return NonceCheck::Invalid;
        };
        let mut ts = [0u8; 8];
        let mut salt = [0u8; 8];
        let mut tag = [0u8; TAG_LEN];
        let mut bytes = raw.into_iter();
        for dst in ts.iter_mut().chain(salt.iter_mut()).chain(tag.iter_mut()) {
            *dst = bytes.next().unwrap_or(0);
        }
        let ts = u64::from_be_bytes(ts);
        let mut mac = self.mac.clone();
        mac.update(&ts.to_be_bytes());
        mac.update(&salt);
        mac.update(self.realm.as_bytes());
        // Constant-time comparison of the leftmost TAG_LEN bytes of the HMAC.
        if mac.verify_truncated_left(&tag).is_err() {
            return NonceCheck::Invalid;
        }
        if now_unix_secs <= ts.saturating_add(self.lifetime_secs) {
            NonceCheck::Valid
        } else {
            NonceCheck::Stale
        }
    }

    fn tag(&self, ts: u64, salt: u64) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&ts.to_be_bytes());
        mac.update(&salt.to_be_bytes());
        mac.update(self.realm.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("secret", &"<redacted>")
            .field("realm", &self.realm)
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

/// Keys HMAC-SHA256 exactly as RFC 2104 §2 does (keys longer than the 64-byte block are
/// hashed, shorter ones zero-padded), through the infallible block-sized key constructor.
fn hmac_with_key(secret: &[u8]) -> HmacSha256 {
    let mut key = Key::<HmacSha256>::default();
    if secret.len() > key.len() {
        let hashed = Sha256::digest(secret);
        for (dst, src) in key.iter_mut().zip(hashed) {
            *dst = src;
        }
    } else {
        for (dst, src) in key.iter_mut().zip(secret) {
            *dst = *src;
        }
    }
    <HmacSha256 as KeyInit>::new(&key)
}

/// Decodes exactly `NONCE_LEN` lower-case hex digits.
fn decode(nonce: &str) -> Option<[u8; RAW_LEN]> {
    if nonce.len() != NONCE_LEN {
        return None;
    }
    let mut raw = [0u8; RAW_LEN];
    for (dst, pair) in raw.iter_mut().zip(nonce.as_bytes().chunks_exact(2)) {
        let [hi, lo] = pair else {
            return None;
        };
        if hi.is_ascii_uppercase() || lo.is_ascii_uppercase() {
            return None;
        }
        *dst = (hex_value(*hi)? << 4) | hex_value(*lo)?;
    }
    Some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const T0: u64 = 1_700_000_000;

    fn issuer() -> NonceIssuer {
        NonceIssuer::new(SECRET, "sbc.example.com", 300)
    }

    #[test]
    fn issued_nonce_is_valid_until_lifetime_then_stale() {
        let iss = issuer();
        let nonce = iss.issue(T0, 42);
        assert_eq!(nonce.len(), 64);
        assert!(nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(nonce.starts_with(&format!("{T0:016x}")));
        assert_eq!(iss.check(&nonce, T0), NonceCheck::Valid);
        assert_eq!(iss.check(&nonce, T0 + 300), NonceCheck::Valid);
        assert_eq!(iss.check(&nonce, T0 + 301), NonceCheck::Stale);
        assert_eq!(iss.check(&nonce, u64::MAX), NonceCheck::Stale);
        // Clock skew between nodes: a slightly future timestamp is authentic.
        assert_eq!(iss.check(&nonce, T0 - 5), NonceCheck::Valid);
    }

    #[test]
    fn salts_make_nonces_differ() {
        let iss = issuer();
        assert_ne!(iss.issue(T0, 1), iss.issue(T0, 2));
        assert_eq!(
            iss.issue(T0, 1),
            iss.issue(T0, 1),
            "deterministic for given inputs"
        );
    }

    #[test]
    fn another_secret_or_realm_rejects() {
        let nonce = issuer().issue(T0, 7);
        let other_secret = NonceIssuer::new(b"another secret", "sbc.example.com", 300);
        assert_eq!(other_secret.check(&nonce, T0), NonceCheck::Invalid);
        let other_realm = NonceIssuer::new(SECRET, "other.example.com", 300);
        assert_eq!(other_realm.check(&nonce, T0), NonceCheck::Invalid);
        // Long secrets are hashed first, and still distinguish keys.
        let long = [7u8; 100];
        let a = NonceIssuer::new(&long, "r", 300);
        assert_eq!(a.check(&a.issue(T0, 1), T0), NonceCheck::Valid);
        assert_eq!(
            NonceIssuer::new(&[7u8; 99], "r", 300).check(&a.issue(T0, 1), T0),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn tampered_nonces_are_invalid() {
        let iss = issuer();
        let nonce = iss.issue(T0, 99);
        // Flip every hex digit in turn: timestamp, salt and tag are all covered.
        for i in 0..nonce.len() {
            let mut bytes = nonce.clone().into_bytes();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(iss.check(&tampered, T0), NonceCheck::Invalid, "digit {i}");
        }
        // Extending the lifetime by rewriting the timestamp is caught.
        let forged = format!("{:016x}{}", T0 + 1000, &nonce[16..]);
        assert_eq!(iss.check(&forged, T0 + 1000), NonceCheck::Invalid);
    }

    #[test]
    fn garbage_is_invalid() {
        let iss = issuer();
        let nonce = iss.issue(T0, 3);
        for bad in [
            String::new(),
            "abc".into(),
            nonce.to_ascii_uppercase(),
            format!("{nonce}0"),
            nonce[..63].to_owned(),
            format!("{}g", &nonce[..63]),
            "é".repeat(32),
            "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
        ] {
            assert_eq!(iss.check(&bad, T0), NonceCheck::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_secret() {
        let dbg = format!("{:?}", issuer());
        assert!(!dbg.contains("0123456789"), "{dbg}");
        assert!(dbg.contains("sbc.example.com"));
        assert_eq!(issuer().realm(), "sbc.example.com");
        assert_eq!(issuer().lifetime_secs(), 300);
    }

    proptest! {
        #[test]
        fn check_never_panics(s in any::<String>(), now in any::<u64>()) {
            let _ = issuer().check(&s, now);
        }

        #[test]
        fn check_hex_garbage_is_invalid(s in "[0-9a-f]{64}") {
            prop_assert_eq!(issuer().check(&s, T0), NonceCheck::Invalid);
        }

        #[test]
        fn issue_then_check_is_valid(now in 0u64..u64::MAX / 2, salt in any::<u64>()) {
            let iss = issuer();
            prop_assert_eq!(iss.check(&iss.issue(now, salt), now), NonceCheck::Valid);
        }
    }
}
