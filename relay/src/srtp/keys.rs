//! The session keys of SRTP and SRTCP: the AES-CM key derivation (RFC 3711 §4.3, rate 0), the
//! AES-CM keystream and HMAC-SHA1 tag (§4.1.1, §4.2), and the GCM key, salt and IVs (RFC 7714
//! §8, §9). Every key byte is zeroized on drop.

use super::MasterKey;
use aes::cipher::{KeyIvInit, StreamCipher};
use aes::Aes128;
use aes_gcm::{Aes128Gcm, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::{Zeroize, ZeroizeOnDrop};

type Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha1 = Hmac<Sha1>;

/// The session keys of one direction of SRTP or SRTCP (§4.3).
#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct SessionKeys {
    pub(super) cipher: [u8; 16],
    pub(super) salt: [u8; 14],
    pub(super) auth: [u8; 20],
}

impl SessionKeys {
    /// Derives the keys with labels `base`, `base + 1`, `base + 2` (0 for SRTP, 3 for SRTCP).
    pub(super) fn derive(master: &MasterKey, base: u8) -> Self {
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
    pub(super) fn crypt(&self, ssrc: u32, index: u64, data: &mut [u8]) {
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
    pub(super) fn tag(&self, parts: &[&[u8]], tag: &mut [u8]) {
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
pub(super) struct GcmKeys {
    pub(super) key: [u8; 16],
    pub(super) salt: [u8; 12],
}

impl GcmKeys {
    pub(super) fn derive(master: &MasterKey, base: u8) -> Self {
        let mut keys = Self {
            key: [0; 16],
            salt: [0; 12],
        };
        kdf(master, base, &mut keys.key);
        kdf(master, base + 2, &mut keys.salt);
        keys
    }

    pub(super) fn cipher(&self) -> Aes128Gcm {
        Aes128Gcm::new(&self.key.into())
    }

    /// The 12-byte IV of an SRTP packet: (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) ⊕ salt (RFC 7714 §8.1).
    pub(super) fn rtp_iv(&self, ssrc: u32, index: u64) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
        for (b, s) in iv.iter_mut().zip(&self.salt) {
            *b ^= s;
        }
        iv
    }

    /// The IV of an SRTCP packet: (0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ index) ⊕ salt (RFC 7714 §9.1).
    pub(super) fn rtcp_iv(&self, ssrc: u32, index: u32) -> [u8; 12] {
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
pub(super) enum Keys {
    Cm { rtp: SessionKeys, rtcp: SessionKeys },
    Gcm { rtp: GcmKeys, rtcp: GcmKeys },
}
