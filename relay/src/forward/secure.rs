//! SRTP on one leg of a stream (RFC 3711): the context that checks and decrypts what the leg's
//! peer sends, and the one that encrypts what the relay sends it, each keyed by the control plane
//! (SDES, RFC 4568) and replaced on re-keying.

use super::DropReason;
use crate::srtp::{Context, SrtpError};

/// A change to one direction's SRTP key on a leg.
#[derive(Debug)]
pub enum Rekey {
    /// Keep the current key and its rollover counters and replay window.
    Keep,
    /// Plain RTP from now on; the old key is zeroized.
    Plain,
    /// A new key (a context derived off the packet path); the old one is zeroized.
    Key(Box<Context>),
}

/// The SRTP contexts of a leg: `inbound` for its peer's packets, `outbound` for the relay's.
#[derive(Debug, Default)]
pub(super) struct LegCrypto {
    inbound: Option<Box<Context>>,
    outbound: Option<Box<Context>>,
}

fn apply(slot: &mut Option<Box<Context>>, change: Rekey) {
    match change {
        Rekey::Keep => {}
        Rekey::Plain => *slot = None,
        Rekey::Key(ctx) => *slot = Some(ctx),
    }
}

fn reason(e: SrtpError) -> DropReason {
    match e {
        SrtpError::TooShort => DropReason::Junk,
        SrtpError::AuthFailed => DropReason::SrtpAuth,
        SrtpError::Replayed => DropReason::SrtpReplay,
        SrtpError::NoRoom | SrtpError::TooManySsrcs => DropReason::SrtpLimit,
    }
}

impl LegCrypto {
    /// Applies new keys for either direction.
    pub(super) fn rekey(&mut self, inbound: Rekey, outbound: Rekey) {
        apply(&mut self.inbound, inbound);
        apply(&mut self.outbound, outbound);
    }

    /// Whether the relay encrypts or decrypts on this leg.
    pub(super) fn terminates(&self) -> bool {
        self.inbound.is_some() || self.outbound.is_some()
    }

    /// Checks and decrypts the peer's packet `buf[..len]` in place when the leg is SRTP;
    /// returns the plain length (`len` when the leg is plain).
    pub(super) fn unprotect(
        &mut self,
        buf: &mut [u8],
        len: usize,
        rtcp: bool,
    ) -> Result<usize, DropReason> {
        let Some(ctx) = self.inbound.as_deref_mut() else {
            return Ok(len);
        };
        let pkt = buf.get_mut(..len).ok_or(DropReason::Junk)?;
        let r = if rtcp {
            ctx.unprotect_rtcp(pkt)
        } else {
            ctx.unprotect_rtp(pkt)
        };
        r.map_err(reason)
    }

    /// Encrypts the plain packet `buf[..len]` in place for the peer when the leg is SRTP (the
    /// tag goes into the room after it); returns the length to send.
    pub(super) fn protect(
        &mut self,
        buf: &mut [u8],
        len: usize,
        rtcp: bool,
    ) -> Result<usize, DropReason> {
        let Some(ctx) = self.outbound.as_deref_mut() else {
            return Ok(len);
        };
        let r = if rtcp {
            ctx.protect_rtcp(buf, len)
        } else {
            ctx.protect_rtp(buf, len)
        };
        r.map_err(reason)
    }
}
