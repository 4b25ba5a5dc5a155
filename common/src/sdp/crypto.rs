//! SDES key exchange in SDP (RFC 4568): the `a=crypto` attribute read as a view, its inline key
//! decoded, and the attribute the SBC writes with a key it generated for a leg. Key material is
//! never part of `Debug` output.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::media::MediaDescription;

/// One `a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]` (RFC 4568 §9.1).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Crypto<'a> {
    /// The tag that names this offer in the answer (1–999999999).
    pub tag: u32,
    /// The crypto-suite name, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: &'a str,
    /// The key parameters: one or more `inline:...` separated by `;`.
    pub key_params: &'a str,
    /// Session parameters (`UNENCRYPTED_SRTP`, `KDR=`, ...), if any.
    pub session_params: Option<&'a str>,
}

impl std::fmt::Debug for Crypto<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .field("key_params", &"<redacted>")
            .field("session_params", &self.session_params)
            .finish()
    }
}

/// The inline key of an SDES key parameter (RFC 4568 §6.1): `inline:<key||salt>[|lifetime][|MKI:len]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineKey<'a> {
    /// The base64 master key and salt.
    pub key_salt: &'a str,
    /// The lifetime (`2^31` or a number), if given.
    pub lifetime: Option<&'a str>,
    /// The MKI and its length, if given.
    pub mki: Option<&'a str>,
}

impl std::fmt::Debug for InlineKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineKey")
            .field("key_salt", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .field("mki", &self.mki)
            .finish()
    }
}

impl<'a> Crypto<'a> {
    /// Parses an `a=crypto` value; `None` when it is malformed.
    pub fn parse(value: &'a str) -> Option<Self> {
        let mut parts = value.split_ascii_whitespace();
        let tag_text = parts.next()?;
        if tag_text.len() > 9 || !tag_text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let tag = tag_text.parse().ok()?;
        let suite = parts.next()?;
        let key_params = parts.next()?;
        if !key_params.starts_with("inline:") {
            return None;
        }
        let rest = value
            .trim()
            .get(value.trim().find(key_params)? + key_params.len()..)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        Some(Self {
            tag,
            suite,
            key_params,
            session_params: rest,
        })
    }

    /// The first inline key.
    pub fn inline_key(&self) -> Option<InlineKey<'a>> {
        let first = self.key_params.split(';').next()?;
        let body = first.strip_prefix("inline:")?;
        let mut fields = body.split('|');
        let key_salt = fields.next().filter(|k| !k.is_empty())?;
        let mut lifetime = None;
        let mut mki = None;
        for f in fields {
            if f.contains(':') {
                mki = Some(f);
            } else {
                lifetime = Some(f);
            }
        }
        Some(InlineKey {
            key_salt,
            lifetime,
            mki,
        })
    }

    /// Whether there is more than one key, or an MKI, which the SBC does not support.
    pub fn uses_mki(&self) -> bool {
        self.key_params.contains(';') || self.inline_key().is_some_and(|k| k.mki.is_some())
    }
}

impl InlineKey<'_> {
    /// The decoded master key and salt into `out`; `Some(len)` when it decodes and fits.
    pub fn decode_into(&self, out: &mut [u8]) -> Option<usize> {
        STANDARD.decode_slice(self.key_salt, out).ok()
    }
}

/// The `a=crypto` value the SBC writes for a leg: `<tag> <suite> inline:<base64 key||salt>`.
pub fn format_crypto(tag: u32, suite: &str, key_salt: &[u8]) -> String {
    let mut s = format!("{tag} {suite} inline:");
    STANDARD.encode_string(key_salt, &mut s);
    s
}

impl MediaDescription {
    /// The `a=crypto` attributes of this media section, in order; malformed ones are skipped.
    pub fn cryptos(&self) -> impl Iterator<Item = Crypto<'_>> {
        self.attributes()
            .filter(|a| a.name.eq_ignore_ascii_case("crypto"))
            .filter_map(|a| a.value.and_then(Crypto::parse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::Sdp;
    use bytes::Bytes;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\na=crypto:x broken\r\na=crypto:3 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw== KDR=0 UNENCRYPTED_SRTCP\r\n";

    #[test]
    fn rfc4568_offers_are_read_and_malformed_ones_skipped() {
        let sdp = Sdp::from_bytes(Bytes::from_static(OFFER.as_bytes())).unwrap();
        let m = sdp.media().next().unwrap();
        let c: Vec<Crypto<'_>> = m.description().cryptos().collect();
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].tag, c[0].suite), (1, "AES_CM_128_HMAC_SHA1_80"));
        let k = c[0].inline_key().unwrap();
        assert_eq!(k.lifetime, Some("2^20"));
        assert_eq!(k.mki, Some("1:32"));
        assert!(c[0].uses_mki());
        let mut key = [0u8; 30];
        assert_eq!(k.decode_into(&mut key), Some(30));
        assert!(!c[1].uses_mki());
        assert_eq!(c[2].suite, "AEAD_AES_128_GCM");
        assert_eq!(c[2].session_params, Some("KDR=0 UNENCRYPTED_SRTCP"));
        let mut gcm = [0u8; 28];
        assert_eq!(c[2].inline_key().unwrap().decode_into(&mut gcm), Some(28));
        assert_eq!(gcm[27], 27);
        // A key too long for the buffer, or not base64, is refused.
        assert_eq!(c[0].inline_key().unwrap().decode_into(&mut [0u8; 16]), None);
        let bad = Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 inline:@@@@").unwrap();
        assert_eq!(bad.inline_key().unwrap().decode_into(&mut key), None);
        assert!(Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 notinline:x").is_none());
        assert!(Crypto::parse("1234567890 S inline:x").is_none());
    }

    #[test]
    fn written_keys_read_back_and_never_show_in_debug() {
        let key: Vec<u8> = (0..30).collect();
        let v = format_crypto(7, "AES_CM_128_HMAC_SHA1_80", &key);
        assert_eq!(
            v,
            "7 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
        );
        let c = Crypto::parse(&v).unwrap();
        let mut out = [0u8; 30];
        assert_eq!(c.inline_key().unwrap().decode_into(&mut out), Some(30));
        assert_eq!(out.to_vec(), key);
        let dbg = format!("{c:?} {:?}", c.inline_key().unwrap());
        assert!(!dbg.contains("AAECAwQF"), "{dbg}");
    }
}
