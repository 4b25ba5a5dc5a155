//! SRTP and SRTCP (RFC 3711), the transform the relay will run on the packet path of a leg that
//! negotiated SDES keys (RFC 4568): AES_CM_128_HMAC_SHA1_80 (the mandatory suite),
//! AES_CM_128_HMAC_SHA1_32, and AEAD_AES_128_GCM (RFC 7714).
//!
//! Everything works in place on the caller's buffer: no allocation, no lock and no log per
//! packet; session keys are derived once per context (§4.3, key derivation rate 0) and every
//! key byte is zeroized when the context is dropped. A packet that fails authentication or
//! replays an index already seen is refused with the reason, never decrypted or forwarded.
//!
//! Not built yet: MKI, key derivation rates above 0, AES-256 suites; the relay does not call this
//! module yet.

use aes::cipher::{KeyIvInit, StreamCipher};
use aes::Aes128;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

type Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha1 = Hmac<Sha1>;

/// A crypto suite of RFC 4568 §6.2 (SDES `a=crypto` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 tag of 80 bits (RFC 3711's default, mandatory to offer).
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 tag of 32 bits on SRTP (80 on SRTCP).
    AesCm128HmacSha1_32,
    /// AES-128 in Galois/Counter Mode, a 16-byte tag, 12-byte salts (RFC 7714).
    AeadAes128Gcm,
}

impl Suite {
    /// The suite an SDES crypto-suite name names, if the relay can run it.
    pub fn from_sdes(name: &str) -> Option<Self> {
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(Self::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Self::AesCm128HmacSha1_32),
            "AEAD_AES_128_GCM" => Some(Self::AeadAes128Gcm),
            _ => None,
        }
    }

    /// The SDES name (RFC 4568 §6.2).
    pub fn sdes_name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// Bytes of authentication tag an SRTP packet carries.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
            Self::AeadAes128Gcm => 16,
        }
    }

    /// Bytes an SRTCP packet adds: the E flag and index (4) and the tag (80 bits for AES-CM,
    /// RFC 3711 §3.4; 128 for GCM, RFC 7714 §9.3).
    pub fn rtcp_overhead(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 | Self::AesCm128HmacSha1_32 => 4 + 10,
            Self::AeadAes128Gcm => 4 + 16,
        }
    }

    /// Bytes of master salt: 14 for AES-CM, 12 for GCM (RFC 7714 §12).
    pub fn salt_len(self) -> usize {
        match self {
            Self::AeadAes128Gcm => 12,
            _ => 14,
        }
    }
}

/// A master key and salt (RFC 3711 §8.2): 16 + 14 bytes, as SDES carries them base64-encoded.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    key: [u8; 16],
    salt: [u8; 14],
}

impl MasterKey {
    /// A master key from its 30 bytes (key then salt).
    pub fn from_bytes(bytes: &[u8; 30]) -> Self {
        let mut key = [0u8; 16];
        let mut salt = [0u8; 14];
        key.copy_from_slice(&bytes[..16]);
        salt.copy_from_slice(&bytes[16..]);
        Self { key, salt }
    }

    /// A master key from its 16 key bytes and 12 (GCM) or 14 (AES-CM) salt bytes; a 12-byte
    /// salt is padded with zeros for the key derivation (RFC 7714 §12).
    pub fn new(key: &[u8; 16], salt: &[u8]) -> Option<Self> {
        if salt.len() != 12 && salt.len() != 14 {
            return None;
        }
        let mut s = [0u8; 14];
        s[..salt.len()].copy_from_slice(salt);
        Some(Self { key: *key, salt: s })
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Why a packet was refused (for the relay's drop counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// Shorter than a header plus tag, or a header that runs past the packet.
    #[error("packet too short")]
    TooShort,
    /// The buffer has no room for the tag (protect).
    #[error("no room for the authentication tag")]
    NoRoom,
    /// The tag does not match: forged, corrupted, or keyed differently.
    #[error("authentication failed")]
    AuthFailed,
    /// An index at or before the replay window, or one already seen (§3.3.2).
    #[error("replayed packet")]
    Replayed,
    /// More SSRCs than a context follows at once.
    #[error("too many SSRCs")]
    TooManySsrcs,
}

/// The session keys of one direction of SRTP or SRTCP (§4.3).
#[derive(Zeroize, ZeroizeOnDrop)]
struct SessionKeys {
    cipher: [u8; 16],
    salt: [u8; 14],
    auth: [u8; 20],
}

impl SessionKeys {
    /// Derives the keys with labels `base`, `base + 1`, `base + 2` (0 for SRTP, 3 for SRTCP).
    fn derive(master: &MasterKey, base: u8) -> Self {
        let mut keys = Self {
            cipher: [0; 16],
            salt: [0; 14],
            auth: [0; 20],
        };
        kdf(master, base, &mut keys.cipher);
        kdf(master, base + 1, &mut keys.auth);
        kdf(master, base + 2, &mut keys.salt);
        keys
    }

    /// Encrypts or decrypts `data` in place with the AES-CM keystream of (`ssrc`, `index`)
    /// (§4.1.1): IV = salt·2¹⁶ ⊕ SSRC·2⁶⁴ ⊕ index·2¹⁶.
    fn crypt(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        let mut c = Ctr::new(&self.cipher.into(), &iv.into());
        c.apply_keystream(data);
        iv.zeroize();
    }

    /// HMAC-SHA1 over `parts`, truncated into `tag`.
    fn tag(&self, parts: &[&[u8]], tag: &mut [u8]) {
        // Hmac over a fixed-size key: neither this nor finalize allocates.
        let Ok(mut mac) = <HmacSha1 as Mac>::new_from_slice(&self.auth) else {
            return;
        };
        for p in parts {
            mac.update(p);
        }
        let full = mac.finalize().into_bytes();
        let n = tag.len().min(full.len());
        tag[..n].copy_from_slice(&full[..n]);
    }
}

/// The AES-CM PRF of §4.3.1 with key derivation rate 0: `out` = keystream(master key,
/// IV = (label·2⁴⁸ ⊕ master salt)·2¹⁶).
fn kdf(master: &MasterKey, label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(&master.salt);
    iv[7] ^= label;
    out.fill(0);
    let mut c = Ctr::new(&master.key.into(), &iv.into());
    c.apply_keystream(out);
    iv.zeroize();
}

/// The session key and 12-byte salt of one direction under AEAD_AES_128_GCM (RFC 7714 §8, §11).
#[derive(Zeroize, ZeroizeOnDrop)]
struct GcmKeys {
    key: [u8; 16],
    salt: [u8; 12],
}

impl GcmKeys {
    fn derive(master: &MasterKey, base: u8) -> Self {
        let mut keys = Self {
            key: [0; 16],
            salt: [0; 12],
        };
        kdf(master, base, &mut keys.key);
        kdf(master, base + 2, &mut keys.salt);
        keys
    }

    fn cipher(&self) -> Aes128Gcm {
        Aes128Gcm::new(&self.key.into())
    }

    /// The 12-byte IV of an SRTP packet: (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) ⊕ salt (RFC 7714 §8.1).
    fn rtp_iv(&self, ssrc: u32, index: u64) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
        for (b, s) in iv.iter_mut().zip(&self.salt) {
            *b ^= s;
        }
        iv
    }

    /// The IV of an SRTCP packet: (0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ index) ⊕ salt (RFC 7714 §9.1).
    fn rtcp_iv(&self, ssrc: u32, index: u32) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[8..12].copy_from_slice(&index.to_be_bytes());
        for (b, s) in iv.iter_mut().zip(&self.salt) {
            *b ^= s;
        }
        iv
    }
}

/// The keys of one direction: AES-CM with HMAC-SHA1, or GCM.
enum Keys {
    Cm { rtp: SessionKeys, rtcp: SessionKeys },
    Gcm { rtp: GcmKeys, rtcp: GcmKeys },
}

/// What one SSRC's receiver or sender remembers: the rollover counter, the highest sequence
/// number and the replay window (§3.3.1, §3.3.2).
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    ssrc: u32,
    roc: u32,
    highest: u16,
    started: bool,
    /// Bit i set: index (highest_index − i) was received.
    window: u64,
}

impl Stream {
    fn highest_index(&self) -> u64 {
        (u64::from(self.roc) << 16) | u64::from(self.highest)
    }

    /// The packet index for sequence number `seq` (§3.3.1, Appendix A).
    fn estimate(&self, seq: u16) -> u64 {
        if !self.started {
            return u64::from(seq);
        }
        let (s_l, roc) = (i64::from(self.highest), i64::from(self.roc));
        let seq_i = i64::from(seq);
        let v = if s_l < 32_768 {
            if seq_i - s_l > 32_768 {
                roc - 1
            } else {
                roc
            }
        } else if s_l - 32_768 > seq_i {
            roc + 1
        } else {
            roc
        };
        (u64::try_from(v.max(0)).unwrap_or(0) << 16) | u64::from(seq)
    }

    /// Whether `index` is new to the window.
    fn fresh(&self, index: u64) -> bool {
        if !self.started {
            return true;
        }
        let top = self.highest_index();
        if index > top {
            return true;
        }
        let back = top - index;
        back < 64 && self.window & (1 << back) == 0
    }

    /// Records `index` as received.
    fn accept(&mut self, index: u64) {
        let top = self.highest_index();
        if !self.started || index > top {
            let shift = if self.started { index - top } else { 64 };
            self.window = if shift >= 64 { 0 } else { self.window << shift };
            self.window |= 1;
            self.roc = u32::try_from(index >> 16).unwrap_or(u32::MAX);
            self.highest = (index & 0xffff) as u16;
            self.started = true;
        } else {
            self.window |= 1 << (top - index);
        }
    }
}

/// SSRCs one context follows at once (several share a key under SDES).
const MAX_SSRCS: usize = 4;

/// One direction of one leg: SRTP and SRTCP keys derived from a master key, per-SSRC rollover
/// counters and replay windows, and the SRTCP index (RFC 3711 §3.2).
pub struct Context {
    suite: Suite,
    keys: Keys,
    streams: [Stream; MAX_SSRCS],
    rtcp_index: u32,
    rtcp_window: Stream,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// The RTP header length (fixed part, CSRCs and extension) of `pkt`, if it fits.
fn rtp_header_len(pkt: &[u8]) -> Option<usize> {
    let first = *pkt.first()?;
    let mut len = 12 + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        let ext = pkt.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    (len <= pkt.len()).then_some(len)
}

impl Context {
    /// A context for `suite` keyed by `master`.
    pub fn new(suite: Suite, master: &MasterKey) -> Self {
        let keys = match suite {
            Suite::AeadAes128Gcm => Keys::Gcm {
                rtp: GcmKeys::derive(master, 0),
                rtcp: GcmKeys::derive(master, 3),
            },
            _ => Keys::Cm {
                rtp: SessionKeys::derive(master, 0),
                rtcp: SessionKeys::derive(master, 3),
            },
        };
        Self {
            suite,
            keys,
            streams: [Stream::default(); MAX_SSRCS],
            rtcp_index: 0,
            rtcp_window: Stream::default(),
        }
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    fn stream(&mut self, ssrc: u32) -> Result<&mut Stream, SrtpError> {
        let i = self
            .streams
            .iter()
            .position(|s| s.started && s.ssrc == ssrc)
            .or_else(|| self.streams.iter().position(|s| !s.started))
            .ok_or(SrtpError::TooManySsrcs)?;
        let s = &mut self.streams[i];
        s.ssrc = ssrc;
        Ok(s)
    }

    /// Protects the RTP packet in `buf[..len]` in place (payload encrypted, tag appended);
    /// returns the SRTP length. `buf` needs room for [`Suite::rtp_tag_len`] more bytes.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtp_tag_len();
        if buf.len() < len + tag_len {
            return Err(SrtpError::NoRoom);
        }
        let pkt = buf.get(..len).ok_or(SrtpError::TooShort)?;
        let header = rtp_header_len(pkt).ok_or(SrtpError::TooShort)?;
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let stream = self.stream(ssrc)?;
        let index = stream.estimate(seq);
        stream.accept(index);
        let roc = u32::try_from(index >> 16).unwrap_or(0);
        match &self.keys {
            Keys::Cm { rtp, .. } => {
                rtp.crypt(ssrc, index, &mut buf[header..len]);
                let (body, tag) = buf.split_at_mut(len);
                rtp.tag(&[body, &roc.to_be_bytes()], &mut tag[..tag_len]);
            }
            Keys::Gcm { rtp, .. } => {
                let iv = rtp.rtp_iv(ssrc, index);
                let (head, rest) = buf.split_at_mut(header);
                let (payload, tag) = rest.split_at_mut(len - header);
                let t = rtp
                    .cipher()
                    .encrypt_in_place_detached(Nonce::from_slice(&iv), head, payload)
                    .map_err(|_| SrtpError::TooShort)?;
                tag[..16].copy_from_slice(&t);
            }
        }
        Ok(len + tag_len)
    }

    /// Checks and decrypts the SRTP packet `buf` in place; returns the RTP length. A packet
    /// whose tag fails or whose index was seen is refused and leaves no trace in the state.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtp_tag_len();
        let len = buf
            .len()
            .checked_sub(tag_len)
            .filter(|&l| l >= 12)
            .ok_or(SrtpError::TooShort)?;
        let header = rtp_header_len(&buf[..len]).ok_or(SrtpError::TooShort)?;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let stream = *self.stream(ssrc)?;
        let index = stream.estimate(seq);
        if !stream.fresh(index) {
            return Err(SrtpError::Replayed);
        }
        let roc = u32::try_from(index >> 16).unwrap_or(0);
        match &self.keys {
            Keys::Cm { rtp, .. } => {
                let mut expected = [0u8; 10];
                let (body, tag) = buf.split_at_mut(len);
                rtp.tag(&[body, &roc.to_be_bytes()], &mut expected[..tag_len]);
                if !bool::from(expected[..tag_len].ct_eq(&tag[..tag_len])) {
                    return Err(SrtpError::AuthFailed);
                }
                rtp.crypt(ssrc, index, &mut body[header..]);
            }
            Keys::Gcm { rtp, .. } => {
                let iv = rtp.rtp_iv(ssrc, index);
                let (head, rest) = buf.split_at_mut(header);
                let (payload, tag) = rest.split_at_mut(len - header);
                rtp.cipher()
                    .decrypt_in_place_detached(
                        Nonce::from_slice(&iv),
                        head,
                        payload,
                        Tag::from_slice(&tag[..16]),
                    )
                    .map_err(|_| SrtpError::AuthFailed)?;
            }
        }
        self.stream(ssrc)?.accept(index);
        Ok(len)
    }

    /// Protects the RTCP compound packet in `buf[..len]` in place: all but the first 8 bytes
    /// encrypted, the E flag and SRTCP index and the tag appended (RFC 3711 §3.4, RFC 7714 §9);
    /// returns the SRTCP length. `buf` needs room for [`Suite::rtcp_overhead`] more bytes.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let overhead = self.suite.rtcp_overhead();
        if len < 8 {
            return Err(SrtpError::TooShort);
        }
        if buf.len() < len + overhead {
            return Err(SrtpError::NoRoom);
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let index = self.rtcp_index & 0x7fff_ffff;
        self.rtcp_index = (index + 1) & 0x7fff_ffff;
        let e_index = (index | 0x8000_0000).to_be_bytes();
        match &self.keys {
            Keys::Cm { rtcp, .. } => {
                rtcp.crypt(ssrc, u64::from(index), &mut buf[8..len]);
                buf[len..len + 4].copy_from_slice(&e_index);
                let (body, tag) = buf.split_at_mut(len + 4);
                rtcp.tag(&[body], &mut tag[..10]);
            }
            Keys::Gcm { rtcp, .. } => {
                // AAD: the first 8 bytes and E ‖ index; the tag precedes E ‖ index (§9.3).
                let iv = rtcp.rtcp_iv(ssrc, index);
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&buf[..8]);
                aad[8..].copy_from_slice(&e_index);
                let t = rtcp
                    .cipher()
                    .encrypt_in_place_detached(Nonce::from_slice(&iv), &aad, &mut buf[8..len])
                    .map_err(|_| SrtpError::TooShort)?;
                buf[len..len + 16].copy_from_slice(&t);
                buf[len + 16..len + 20].copy_from_slice(&e_index);
            }
        }
        Ok(len + overhead)
    }

    /// Checks and decrypts the SRTCP packet `buf` in place; returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let len = buf
            .len()
            .checked_sub(self.suite.rtcp_overhead())
            .filter(|&l| l >= 8)
            .ok_or(SrtpError::TooShort)?;
        let at = match self.keys {
            Keys::Cm { .. } => len,
            Keys::Gcm { .. } => len + 16,
        };
        let e_index = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let index = e_index & 0x7fff_ffff;
        // The SRTCP index is explicit: the replay window follows it directly.
        if !self.rtcp_window.fresh(u64::from(index)) {
            return Err(SrtpError::Replayed);
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let encrypted = e_index & 0x8000_0000 != 0;
        match &self.keys {
            Keys::Cm { rtcp, .. } => {
                let mut expected = [0u8; 10];
                let (body, tag) = buf.split_at_mut(len + 4);
                rtcp.tag(&[body], &mut expected);
                if !bool::from(expected.ct_eq(&tag[..10])) {
                    return Err(SrtpError::AuthFailed);
                }
                if encrypted {
                    rtcp.crypt(ssrc, u64::from(index), &mut body[8..len]);
                }
            }
            Keys::Gcm { rtcp, .. } => {
                if !encrypted {
                    // RFC 7714 §9.2's unencrypted SRTCP is not offered by the SBC.
                    return Err(SrtpError::AuthFailed);
                }
                let iv = rtcp.rtcp_iv(ssrc, index);
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&buf[..8]);
                aad[8..].copy_from_slice(&e_index.to_be_bytes());
                let mut tag = [0u8; 16];
                tag.copy_from_slice(&buf[len..len + 16]);
                rtcp.cipher()
                    .decrypt_in_place_detached(
                        Nonce::from_slice(&iv),
                        &aad,
                        &mut buf[8..len],
                        Tag::from_slice(&tag),
                    )
                    .map_err(|_| SrtpError::AuthFailed)?;
            }
        }
        self.rtcp_window.accept(u64::from(index));
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
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
            let protected: Vec<Vec<u8>> =
                seqs.iter().map(|&s| protect(&mut tx, &rtp(s, 7))).collect();
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
            let mut other =
                Context::new(suite, &master("00112233445566778899AABBCCDDEEFF", B3_SALT));
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
}
