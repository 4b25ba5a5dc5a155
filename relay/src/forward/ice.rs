//! ICE-lite on one leg of a stream (RFC 8445 §2.5, §7.3; RFC 7675): the relay answers the
//! peer's connectivity checks on the leg's ports with the SBC's short-term credentials for that
//! leg, selects the address a check nominates as the leg's peer for that component, and keeps
//! sending to it only while checks keep arriving (consent freshness).
//!
//! Checks are verified in place (FINGERPRINT, USERNAME, MESSAGE-INTEGRITY) and answered in the
//! receive buffer; nothing here allocates or logs. Credentials come from the control plane.

use super::{Decision, DropReason, ForwardEvent, Leg, Outcome, Packet as Datagram, StreamId};
use crate::io::Forward;
use sbc_common::stun::{attr, auth, Packet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long consent lasts after the last valid check (RFC 7675 §5.1).
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The ICE parameters of one leg: the SBC's own ufrag and password there (from the SDP it sent)
/// and the peer's ufrag (from the SDP it sent), RFC 8839 §5.4.
#[derive(Clone, PartialEq, Eq)]
pub struct IceParams {
    /// The SBC's ufrag on this leg.
    pub local_ufrag: Box<str>,
    /// The SBC's password on this leg: the key of the checks' MESSAGE-INTEGRITY.
    pub local_pwd: Box<str>,
    /// The peer's ufrag, when its SDP gave one.
    pub remote_ufrag: Option<Box<str>>,
}

impl std::fmt::Debug for IceParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceParams")
            .field("local_ufrag", &self.local_ufrag)
            .field("local_pwd", &"<redacted>")
            .field("remote_ufrag", &self.remote_ufrag)
            .finish()
    }
}

/// A fresh ICE ufrag or password of `len` ice-chars (RFC 8839 §5.4: ALPHA / DIGIT / "+" /
/// "/") from the OS CSPRNG; `None` only if the OS has no randomness to give.
pub fn ice_token(len: usize) -> Option<String> {
    const ICE_CHARS: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut raw = vec![0u8; len];
    getrandom::getrandom(&mut raw).ok()?;
    // 256 is a multiple of 64: every character is equally likely.
    Some(
        raw.iter()
            .map(|b| char::from(ICE_CHARS[usize::from(b % 64)]))
            .collect(),
    )
}

/// What a STUN datagram on an ICE leg came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Check {
    /// A valid check, answered with `len` bytes now in the buffer; `nominate` when it selects
    /// its source (USE-CANDIDATE from the controlling peer).
    Answered { len: usize, nominate: bool },
    /// A valid check from a peer in the controlled role too: answered 487 Role Conflict.
    Conflict { len: usize },
    /// A check with missing or wrong credentials, answered 400/401 (`len` bytes) and counted.
    Refused { len: usize },
    /// Not a Binding request (an indication, a response, junk): dropped and counted.
    Dropped(DropReason),
}

/// Answers in `buf` a Binding request `buf[..len]` from `from` that carries no credentials at
/// all (no USERNAME, no MESSAGE-INTEGRITY: a plain STUN client learning its mapped address,
/// RFC 8489 §6.3.1) with XOR-MAPPED-ADDRESS and FINGERPRINT; its length, or `None` when the
/// datagram is something else. Such an answer latches nothing and renews no consent.
pub(super) fn answer_plain_binding(from: SocketAddr, buf: &mut [u8], len: usize) -> Option<usize> {
    let msg = buf.get(..len)?;
    let p = Packet::new_checked(msg).ok()?;
    let plain = p.is_binding_request()
        && p.attribute(attr::USERNAME).is_none()
        && p.attribute(attr::MESSAGE_INTEGRITY).is_none()
        && auth::check_fingerprint(msg).is_ok();
    if !plain {
        return None;
    }
    let txid = p.transaction_id();
    auth::write_binding_success(buf, &txid, from, None)
}

/// The ICE-lite state of one leg.
#[derive(Debug)]
pub(super) struct LegIce {
    params: IceParams,
    /// The nominated address of each component: RTP socket, RTCP socket.
    selected: [Option<SocketAddr>; 2],
    /// When the last valid check arrived.
    last_check: Option<Instant>,
}

impl LegIce {
    pub(super) fn new(params: IceParams) -> Self {
        Self {
            params,
            selected: [None, None],
            last_check: None,
        }
    }

    /// New credentials (an ICE restart or re-offer): the selection stays until a new check
    /// nominates, consent stays as it was (RFC 8445 §9).
    pub(super) fn update(&mut self, params: IceParams) {
        self.params = params;
    }

    /// The nominated address of `component` (0: RTP socket, 1: RTCP socket).
    pub(super) fn selected(&self, component: usize) -> Option<SocketAddr> {
        self.selected.get(component).copied().flatten()
    }

    /// Makes `addr` the nominated address of `component`; whether it changed.
    pub(super) fn select(&mut self, component: usize, addr: SocketAddr) -> bool {
        match self.selected.get_mut(component) {
            Some(slot) if *slot != Some(addr) => {
                *slot = Some(addr);
                true
            }
            _ => false,
        }
    }

    /// Whether the peer still consents to receive media at `now` (RFC 7675 §5.1).
    pub(super) fn consents(&self, now: Instant) -> bool {
        self.last_check
            .is_some_and(|t| now.saturating_duration_since(t) < CONSENT_TIMEOUT)
    }

    /// Whether `username` is `<our ufrag>:<peer ufrag>` (RFC 8445 §7.2.2).
    fn username_ok(&self, username: &[u8]) -> bool {
        let ours = self.params.local_ufrag.as_bytes();
        let Some(rest) = username
            .strip_prefix(ours)
            .and_then(|r| r.strip_prefix(b":"))
        else {
            return false;
        };
        match &self.params.remote_ufrag {
            Some(theirs) => rest == theirs.as_bytes(),
            None => !rest.is_empty(),
        }
    }

    /// Handles the STUN datagram `buf[..len]` from `from`: a valid Binding request is answered
    /// in `buf` (XOR-MAPPED-ADDRESS `from`, MESSAGE-INTEGRITY, FINGERPRINT) and renews consent;
    /// one with bad credentials is answered 400/401 (RFC 8489 §9.1.3).
    pub(super) fn on_stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Check {
        let Some(msg) = buf.get(..len) else {
            return Check::Dropped(DropReason::Junk);
        };
        let Ok(p) = Packet::new_checked(msg) else {
            return Check::Dropped(DropReason::Junk);
        };
        if !p.is_binding_request() {
            return Check::Dropped(DropReason::Stun);
        }
        if auth::check_fingerprint(msg).is_err() {
            return Check::Dropped(DropReason::StunAuth);
        }
        let txid = p.transaction_id();
        let nominate = p.attribute(attr::USE_CANDIDATE).is_some();
        // A lite agent is always controlled (RFC 8445 §6.1.1): a peer that also thinks itself
        // controlled is told of the role conflict, and then checks again as controlling and
        // nominates (§7.3.1.1).
        let conflict = p.attribute(attr::ICE_CONTROLLED).is_some();
        let verdict = match p.attribute(attr::USERNAME) {
            None => Err((400, "Bad Request")),
            Some(_) if p.attribute(attr::MESSAGE_INTEGRITY).is_none() => Err((400, "Bad Request")),
            Some(u) if !self.username_ok(u) => Err((401, "Unauthorized")),
            Some(_) => auth::check_integrity(msg, self.params.local_pwd.as_bytes())
                .map_err(|_| (401, "Unauthorized")),
        };
        match verdict {
            Ok(()) if conflict => {
                let key = self.params.local_pwd.as_bytes();
                match auth::write_binding_error(buf, &txid, 487, "Role Conflict", Some(key)) {
                    Some(len) => Check::Conflict { len },
                    None => Check::Dropped(DropReason::Junk),
                }
            }
            Ok(()) => {
                self.last_check = Some(now);
                let key = self.params.local_pwd.as_bytes();
                match auth::write_binding_success(buf, &txid, from, Some(key)) {
                    Some(len) => Check::Answered { len, nominate },
                    None => Check::Dropped(DropReason::Junk),
                }
            }
            Err((code, reason)) => {
                match auth::write_binding_error(buf, &txid, code, reason, None) {
                    Some(len) => Check::Refused { len },
                    None => Check::Dropped(DropReason::StunAuth),
                }
            }
        }
    }
}

/// A STUN datagram on `src`'s port: a Binding request without credentials is answered on any
/// leg (its mapped address); a check is answered when the leg runs ICE (a nominating one latches
/// its source for that component at once); anything else is dropped and counted.
pub(super) fn connectivity_check(
    now: Instant,
    id: StreamId,
    leg: usize,
    src: &mut Leg,
    packet: Datagram,
    buf: &mut [u8],
) -> Decision {
    let Datagram {
        from,
        on_rtcp_socket,
        len,
    } = packet;
    let back = Forward::to(
        match (on_rtcp_socket, src.sockets.rtcp) {
            (true, Some(fd)) => fd,
            _ => src.sockets.rtp,
        },
        from,
    );
    if let Some(len) = answer_plain_binding(from, buf, len) {
        return Ok(Outcome::Answer(back, len, None, None));
    }
    let Some(ice) = src.ice.as_mut() else {
        return Err((DropReason::Stun, None));
    };
    let component = usize::from(on_rtcp_socket);
    match ice.on_stun(now, from, buf, len) {
        Check::Answered { len, nominate } => {
            let mut event = None;
            if nominate && ice.select(component, from) {
                let latch = if on_rtcp_socket {
                    &mut src.rtcp_latch
                } else {
                    &mut src.rtp_latch
                };
                latch.nominate(from);
                event = Some(ForwardEvent::Latched {
                    id,
                    leg,
                    rtcp: on_rtcp_socket,
                    peer: from,
                });
            }
            Ok(Outcome::Answer(back, len, None, event))
        }
        Check::Refused { len } => Ok(Outcome::Answer(back, len, Some(DropReason::StunAuth), None)),
        Check::Conflict { len } => Ok(Outcome::Answer(back, len, None, None)),
        Check::Dropped(r) => Err((r, None)),
    }
}
