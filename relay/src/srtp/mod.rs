//! SRTP and SRTCP (RFC 3711), the transform the relay will run on the packet path of a leg that
//! negotiated SDES keys (RFC 4568): AES_CM_128_HMAC_SHA1_80 (the mandatory suite),
//! AES_CM_128_HMAC_SHA1_32, and AEAD_AES_128_GCM (RFC 7714).
//!
//! Everything works in place on the caller's buffer: no allocation, no lock and no log per
//! packet; session keys are derived once per context (§4.3, key derivation rate 0) and every
//! key byte is zeroized when the context is dropped. A packet that fails authentication or
//! replays an index already seen is refused with the reason, never decrypted or forwarded.
//!
//! Not built yet: MKI, key derivation rates above 0, AES-256 suites.

mod keys;
mod replay;
#[cfg(test)]
mod tests;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Nonce, Tag};
use keys::{GcmKeys, Keys, SessionKeys};
use replay::Stream;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

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

impl MasterKey {
    /// A fresh master key and salt from the operating system's CSPRNG (RFC 4568 §6.1: each
    /// leg gets its own key); `None` only if the OS has no randomness to give.
    pub fn random() -> Option<Self> {
        let mut bytes = [0u8; 30];
        getrandom::getrandom(&mut bytes).ok()?;
        let key = Self::from_bytes(&bytes);
        bytes.zeroize();
        Some(key)
    }

    /// The key from an SDES inline value decoded for `suite`: 16 + 14 bytes for AES-CM,
    /// 16 + 12 for GCM (RFC 4568 §6.2, RFC 7714 §12); `None` for another length.
    pub fn from_sdes(suite: Suite, bytes: &[u8]) -> Option<Self> {
        let key: &[u8; 16] = bytes.get(..16)?.try_into().ok()?;
        let salt = bytes.get(16..)?;
        (salt.len() == suite.salt_len())
            .then(|| Self::new(key, salt))
            .flatten()
    }

    /// The bytes SDES carries for `suite` (key then salt) into `out`; returns their length.
    pub fn write_sdes(&self, suite: Suite, out: &mut [u8; 30]) -> usize {
        let n = 16 + suite.salt_len();
        out[..16].copy_from_slice(&self.key);
        out[16..n].copy_from_slice(&self.salt[..suite.salt_len()]);
        n
    }
}

impl PartialEq for MasterKey {
    /// Constant-time comparison, so re-keying checks leak nothing about the keys.
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.key.ct_eq(&other.key) & self.salt.ct_eq(&other.salt))
    }
}

impl Eq for MasterKey {}

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
