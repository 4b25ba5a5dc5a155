//! Datagrams that are neither RTP, RTCP nor STUN on a leg's port (RFC 7983 §7): ZRTP and DTLS
//! between peers that key their own media, passed through when the relay does not terminate it.

use super::DropReason;
use super::{Decision, ForwardEvent, Leg, Outcome, Packet, StreamId};
use crate::latch::LatchVerdict;
use std::time::Instant;

/// A ZRTP or DTLS datagram (RFC 7983 §7): forwarded unchanged from the leg's peer to the other
/// leg's when neither leg has the relay terminate SRTP, so end-to-end ZRTP (and DTLS between
/// peers that agreed on it) works through the SBC; counted with the forwarded packets.
pub(super) fn pass_through(
    now: Instant,
    id: StreamId,
    leg: usize,
    src: &mut Leg,
    dst: &mut Leg,
    packet: Packet,
    buf: &[u8],
) -> Decision {
    let Packet {
        from,
        on_rtcp_socket,
        len,
    } = packet;
    if src.crypto.terminates() || dst.crypto.terminates() || buf.get(..len).is_none() {
        return Err((DropReason::Junk, None));
    }
    let component = usize::from(on_rtcp_socket);
    if let Some(ice) = &src.ice {
        if ice.selected(component) != Some(from) {
            return Err((DropReason::SourceRejected, None));
        }
    }
    let latch = if on_rtcp_socket {
        &mut src.rtcp_latch
    } else {
        &mut src.rtp_latch
    };
    let event = match latch.on_packet(now, from, None, None) {
        LatchVerdict::Accept => None,
        LatchVerdict::Latched { peer } => Some(ForwardEvent::Latched {
            id,
            leg,
            rtcp: on_rtcp_socket,
            peer,
        }),
        LatchVerdict::Reject(_) => return Err((DropReason::SourceRejected, None)),
    };
    let fwd = if on_rtcp_socket {
        dst.rtcp_out()
    } else {
        dst.rtp_out()
    };
    match fwd {
        Some(f) => Ok(Outcome::Forward(f, len, event)),
        None => Err((DropReason::NoDestination, event)),
    }
}
