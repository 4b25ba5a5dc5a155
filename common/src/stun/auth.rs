//! STUN short-term credentials and the answers an ICE-lite agent gives (RFC 8489 §9.1, §14.5,
//! §14.7, §14.8; RFC 8445 §7.3): MESSAGE-INTEGRITY (HMAC-SHA1 keyed by the password) and
//! FINGERPRINT (CRC-32 ⊕ 0x5354554e) checked in place, and Binding success and error responses
//! written into the caller's buffer. Nothing here allocates.

use super::{attr, MessageType, HEADER_LEN, MAGIC_COOKIE};
use crate::stun::Class;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

type HmacSha1 = Hmac<Sha1>;

/// The value FINGERPRINT's CRC-32 is XORed with (RFC 8489 §14.7).
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// Why a STUN message's credentials or fingerprint do not check out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header or an attribute does not fit the message.
    #[error("malformed STUN message")]
    Malformed,
    /// No MESSAGE-INTEGRITY attribute (RFC 8489 §9.1.3: 400).
    #[error("no MESSAGE-INTEGRITY")]
    NoIntegrity,
    /// MESSAGE-INTEGRITY does not match the key (RFC 8489 §9.1.3: 401).
    #[error("MESSAGE-INTEGRITY mismatch")]
    BadIntegrity,
    /// FINGERPRINT present but wrong, or not the last attribute (RFC 8489 §14.7).
    #[error("FINGERPRINT mismatch")]
    BadFingerprint,
}

/// The offset of the first attribute `kind` in `msg` (its 4-byte header) and its value.
fn find(msg: &[u8], kind: u16) -> Option<(usize, &[u8])> {
    let mut at = HEADER_LEN;
    while let Some(head) = msg.get(at..at + 4) {
        let k = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = msg.get(at + 4..at + 4 + len)?;
        if k == kind {
            return Some((at, value));
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// The header of `msg` with its length field set as if the message ended at `end` (RFC 8489
/// §14.5: MESSAGE-INTEGRITY and FINGERPRINT cover the header with the length they see).
fn header_ending_at(msg: &[u8], end: usize) -> Option<[u8; HEADER_LEN]> {
    let mut h: [u8; HEADER_LEN] = msg.get(..HEADER_LEN)?.try_into().ok()?;
    let len = u16::try_from(end.checked_sub(HEADER_LEN)?).ok()?;
    h[2..4].copy_from_slice(&len.to_be_bytes());
    Some(h)
}

/// Checks FINGERPRINT when `msg` carries one: `Ok(true)` present and right, `Ok(false)` absent.
pub fn check_fingerprint(msg: &[u8]) -> Result<bool, AuthError> {
    let Some((at, value)) = find(msg, attr::FINGERPRINT) else {
        return Ok(false);
    };
    if at + 8 != msg.len() || value.len() != 4 {
        return Err(AuthError::BadFingerprint);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header_ending_at(msg, at + 8).ok_or(AuthError::Malformed)?);
    crc.update(msg.get(HEADER_LEN..at).ok_or(AuthError::Malformed)?);
    let want = crc.finalize() ^ FINGERPRINT_XOR;
    let got = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
    if want == got {
        Ok(true)
    } else {
        Err(AuthError::BadFingerprint)
    }
}

/// Checks MESSAGE-INTEGRITY against the short-term `key` (the password, RFC 8489 §9.1.1), in
/// constant time.
pub fn check_integrity(msg: &[u8], key: &[u8]) -> Result<(), AuthError> {
    let (at, value) = find(msg, attr::MESSAGE_INTEGRITY).ok_or(AuthError::NoIntegrity)?;
    if value.len() != 20 {
        return Err(AuthError::Malformed);
    }
    let mut mac = HmacSha1::new_from_slice(key).map_err(|_| AuthError::Malformed)?;
    mac.update(&header_ending_at(msg, at + 24).ok_or(AuthError::Malformed)?);
    mac.update(msg.get(HEADER_LEN..at).ok_or(AuthError::Malformed)?);
    mac.verify_slice(value).map_err(|_| AuthError::BadIntegrity)
}

/// The address of an XOR-MAPPED-ADDRESS value for transaction `txid` (RFC 8489 §14.2).
pub fn xor_address(value: &[u8], txid: &[u8; 12]) -> Option<SocketAddr> {
    let family = *value.get(1)?;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match family {
        1 => {
            let mut a = [0u8; 4];
            for (i, b) in a.iter_mut().enumerate() {
                *b = value.get(4 + i)? ^ cookie[i];
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        2 => {
            let mut a = [0u8; 16];
            for (i, b) in a.iter_mut().enumerate() {
                let pad = if i < 4 { cookie[i] } else { txid[i - 4] };
                *b = value.get(4 + i)? ^ pad;
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Writes STUN messages into a caller's buffer, attribute by attribute.
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn header<'b>(buf: &'b mut [u8], kind: MessageType, txid: &[u8; 12]) -> Option<Writer<'b>> {
        let h = buf.get_mut(..HEADER_LEN)?;
        h[0..2].copy_from_slice(&kind.to_u16().to_be_bytes());
        h[2..4].copy_from_slice(&[0, 0]);
        h[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        h[8..20].copy_from_slice(txid);
        Some(Writer {
            buf,
            len: HEADER_LEN,
        })
    }

    /// Appends attribute `kind` whose value `fill` writes into the `len` bytes given (zero
    /// padded to 32 bits).
    fn attribute(&mut self, kind: u16, len: usize, fill: impl FnOnce(&mut [u8])) -> Option<()> {
        let padded = len.div_ceil(4) * 4;
        let a = self.buf.get_mut(self.len..self.len + 4 + padded)?;
        a[0..2].copy_from_slice(&kind.to_be_bytes());
        a[2..4].copy_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
        a[4..].fill(0);
        fill(&mut a[4..4 + len]);
        self.len += 4 + padded;
        Some(())
    }

    fn set_length(&mut self, end: usize) -> Option<()> {
        let body = u16::try_from(end - HEADER_LEN).ok()?;
        self.buf.get_mut(2..4)?.copy_from_slice(&body.to_be_bytes());
        Some(())
    }

    fn integrity(&mut self, key: &[u8]) -> Option<()> {
        self.set_length(self.len + 24)?;
        let mut mac = HmacSha1::new_from_slice(key).ok()?;
        mac.update(self.buf.get(..self.len)?);
        let tag = mac.finalize().into_bytes();
        self.attribute(attr::MESSAGE_INTEGRITY, 20, |v| v.copy_from_slice(&tag))
    }

    fn fingerprint(&mut self) -> Option<usize> {
        self.set_length(self.len + 8)?;
        let crc = crc32fast::hash(self.buf.get(..self.len)?) ^ FINGERPRINT_XOR;
        self.attribute(attr::FINGERPRINT, 4, |v| {
            v.copy_from_slice(&crc.to_be_bytes())
        })?;
        Some(self.len)
    }
}

/// Writes into `out` the Binding success response to transaction `txid`: XOR-MAPPED-ADDRESS
/// `mapped`, MESSAGE-INTEGRITY keyed by `key` (none for a request that carried no
/// credentials), FINGERPRINT (RFC 8489 §7.3.1, RFC 8445 §7.3.1.5); its length, or `None` if
/// `out` is too small (at most 76 bytes are needed).
pub fn write_binding_success(
    out: &mut [u8],
    txid: &[u8; 12],
    mapped: SocketAddr,
    key: Option<&[u8]>,
) -> Option<usize> {
    let kind = MessageType {
        class: Class::SuccessResponse,
        method: super::METHOD_BINDING,
    };
    let mut w = Writer::header(out, kind, txid)?;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = mapped.port() ^ (MAGIC_COOKIE >> 16) as u16;
    match mapped.ip() {
        IpAddr::V4(ip) => w.attribute(attr::XOR_MAPPED_ADDRESS, 8, |v| {
            v[1] = 1;
            v[2..4].copy_from_slice(&port.to_be_bytes());
            for (i, b) in ip.octets().iter().enumerate() {
                v[4 + i] = b ^ cookie[i];
            }
        })?,
        IpAddr::V6(ip) => w.attribute(attr::XOR_MAPPED_ADDRESS, 20, |v| {
            v[1] = 2;
            v[2..4].copy_from_slice(&port.to_be_bytes());
            for (i, b) in ip.octets().iter().enumerate() {
                let pad = if i < 4 { cookie[i] } else { txid[i - 4] };
                v[4 + i] = b ^ pad;
            }
        })?,
    }
    if let Some(key) = key {
        w.integrity(key)?;
    }
    w.fingerprint()
}

/// The role an ICE agent claims in its checks (RFC 8445 §7.1.3), with its tie-breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// ICE-CONTROLLING.
    Controlling(u64),
    /// ICE-CONTROLLED.
    Controlled(u64),
}

/// Writes into `out` a Binding request for ICE (RFC 8445 §7.2.2): USERNAME `username`
/// (`<peer ufrag>:<own ufrag>`), PRIORITY, the `role` (and USE-CANDIDATE when `nominate`),
/// MESSAGE-INTEGRITY keyed by the peer's password `key`, FINGERPRINT; its length, or `None` if
/// `out` is too small.
pub fn write_binding_request(
    out: &mut [u8],
    txid: &[u8; 12],
    username: &[u8],
    key: &[u8],
    role: Role,
    nominate: bool,
) -> Option<usize> {
    let mut w = Writer::header(out, MessageType::BINDING_REQUEST, txid)?;
    w.attribute(attr::USERNAME, username.len(), |v| {
        v.copy_from_slice(username)
    })?;
    w.attribute(attr::PRIORITY, 4, |v| {
        v.copy_from_slice(&0x6e00_01ffu32.to_be_bytes());
    })?;
    let (kind, tiebreaker) = match role {
        Role::Controlling(t) => (attr::ICE_CONTROLLING, t),
        Role::Controlled(t) => (attr::ICE_CONTROLLED, t),
    };
    w.attribute(kind, 8, |v| {
        v.copy_from_slice(&tiebreaker.to_be_bytes());
    })?;
    if nominate {
        w.attribute(attr::USE_CANDIDATE, 0, |_| {})?;
    }
    w.integrity(key)?;
    w.fingerprint()
}

/// Writes into `out` a Binding error response to `txid` with ERROR-CODE `code` and `reason`
/// (RFC 8489 §14.8), MESSAGE-INTEGRITY keyed by `key` when the request was authenticated (487
/// Role Conflict, RFC 8445 §7.3.1.1) — none for 400 and 401, which answer requests whose
/// credentials could not be trusted (RFC 8489 §9.1.3) — and FINGERPRINT; its length, or
/// `None`.
pub fn write_binding_error(
    out: &mut [u8],
    txid: &[u8; 12],
    code: u16,
    reason: &str,
    key: Option<&[u8]>,
) -> Option<usize> {
    let kind = MessageType {
        class: Class::ErrorResponse,
        method: super::METHOD_BINDING,
    };
    let mut w = Writer::header(out, kind, txid)?;
    let text = reason.as_bytes();
    w.attribute(attr::ERROR_CODE, 4 + text.len(), |v| {
        v[2] = u8::try_from(code / 100).unwrap_or(0) & 0x07;
        v[3] = u8::try_from(code % 100).unwrap_or(0);
        v[4..].copy_from_slice(text);
    })?;
    if let Some(key) = key {
        w.integrity(key)?;
    }
    w.fingerprint()
}

#[cfg(test)]
mod tests;
