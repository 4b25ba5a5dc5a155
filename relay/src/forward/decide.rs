//! The decision for one datagram on a stream's leg, pure and sans-IO: demultiplexing (STUN, DTLS,
//! ZRTP, RTP, RTCP), SRTP, the ICE source check, latching, direction, and where it leaves.
//!
//! The legs a datagram involves are named apart ([`Legs`]): the transport legs (sockets, ICE,
//! DTLS and SRTP, latching) and the media legs (direction, statistics). They are the same legs
//! except when one side rides another stream's transport (BUNDLE, RFC 8843 §9): a member's
//! packets arrive at the bundle owner's sockets, and its packets for the peer leave from them.

use super::ice::connectivity_check;
use super::passthrough::pass_through;
use super::{DropReason, DtlsDatagram, ForwardEvent, Leg, StreamId, DTLS_QUEUE};
use crate::io::Forward;
use crate::latch::LatchVerdict;
use sbc_common::demux::{classify, PacketKind};
use sbc_common::rtcp::{self, RtcpPacket};
use sbc_common::rtp;
use sbc_common::rtpstats::{Jitter, SeqTracker};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a datagram came from and how long it is.
#[derive(Clone, Copy)]
pub(super) struct Packet {
    pub(super) from: SocketAddr,
    pub(super) on_rtcp_socket: bool,
    pub(super) len: usize,
}

/// What to send for a datagram that is not dropped.
pub(super) enum Outcome {
    /// Forwarded to the other leg's peer: where, how many bytes.
    Forward(Forward, usize, Option<ForwardEvent>),
    /// A STUN answer back to the sender: where, how many bytes, and the drop reason it counts as
    /// when it refuses the request.
    Answer(Forward, usize, Option<DropReason>, Option<ForwardEvent>),
}

/// A DTLS datagram on a leg whose DTLS the relay terminates: queued for the control plane when
/// it comes from the address ICE selected (or from anywhere on a leg without ICE: the handshake
/// then binds the peer), dropped when the queue is full. Either way it is not forwarded: it
/// counts as [`DropReason::Dtls`] when queued.
pub(super) fn to_control_plane(
    id: StreamId,
    leg: usize,
    src: &Leg,
    packet: Packet,
    buf: &[u8],
    queue: &mut VecDeque<DtlsDatagram>,
) -> Decision {
    let Packet {
        from,
        on_rtcp_socket,
        len,
    } = packet;
    if let Some(ice) = &src.ice {
        if ice.selected(usize::from(on_rtcp_socket)) != Some(from) {
            return Err((DropReason::SourceRejected, None));
        }
    }
    if queue.len() >= DTLS_QUEUE {
        return Err((DropReason::Junk, None));
    }
    let data = buf.get(..len).ok_or((DropReason::Junk, None))?;
    queue.push_back(DtlsDatagram {
        id,
        leg,
        rtcp: on_rtcp_socket,
        from,
        data: data.into(),
    });
    Err((DropReason::Dtls, None))
}

pub(super) type Decision = Result<Outcome, (DropReason, Option<ForwardEvent>)>;

/// The legs one datagram involves.
pub(super) struct Legs<'a> {
    /// Where it arrived: sockets, ICE, SRTP, latching.
    pub(super) src: &'a mut Leg,
    /// Whose media it is on the arriving side (statistics, direction) when that is another
    /// stream's leg than `src` (a BUNDLE member's, RFC 8843).
    pub(super) src_media: Option<&'a mut Leg>,
    /// Where it goes: direction and statistics, and its sockets unless `dst_transport`.
    pub(super) dst: &'a mut Leg,
    /// The transport it leaves on when `dst` rides another leg's (BUNDLE): sockets, ICE
    /// consent, SRTP.
    pub(super) dst_transport: Option<&'a mut Leg>,
}

/// The decision for one packet from `src`'s peer towards `dst`'s peer; an SRTP leg's packet is
/// authenticated and decrypted before anything reads its payload or latches on its source, and
/// encrypted for an SRTP destination last, once it is sure to leave.
pub(super) fn decide(
    now: Instant,
    id: StreamId,
    leg: usize,
    legs: Legs<'_>,
    packet: Packet,
    buf: &mut [u8],
) -> Decision {
    let Legs {
        src,
        src_media,
        dst,
        dst_transport,
    } = legs;
    let Packet {
        from,
        on_rtcp_socket,
        len,
    } = packet;
    let kind = buf.get(..len).map_or(PacketKind::Unknown, classify);
    let component = usize::from(on_rtcp_socket);
    let bundled = src_media.is_some() || dst_transport.is_some();
    let is_rtcp = match kind {
        PacketKind::Stun if src_media.is_none() => {
            return connectivity_check(now, id, leg, src, packet, buf)
        }
        PacketKind::Rtcp => true,
        // On a dedicated RTCP socket everything valid is RTCP.
        PacketKind::Rtp if on_rtcp_socket => return Err((DropReason::Junk, None)),
        PacketKind::Rtp => false,
        PacketKind::Zrtp | PacketKind::Dtls if !bundled => {
            return pass_through(now, id, leg, src, dst, packet, buf)
        }
        _ => return Err((DropReason::Junk, None)),
    };
    let out_unkeyed = match &dst_transport {
        Some(t) => t.dtls && !t.crypto.terminates(),
        None => dst.dtls && !dst.crypto.terminates(),
    };
    if (src.dtls && !src.crypto.terminates()) || out_unkeyed {
        return Err((DropReason::Unkeyed, None));
    }
    let len = src
        .crypto
        .unprotect(buf, len, is_rtcp)
        .map_err(|r| (r, None))?;
    let data = buf.get(..len).ok_or((DropReason::Junk, None))?;
    // An ICE leg takes media only from the address a check nominated (RFC 8445 §7.3.1.5).
    if let Some(ice) = &src.ice {
        if ice.selected(component) != Some(from) {
            src.rejected += 1;
            let ev = src
                .rejected
                .is_power_of_two()
                .then_some(ForwardEvent::SourceRejected {
                    id,
                    leg,
                    from,
                    count: src.rejected,
                });
            return Err((DropReason::SourceRejected, ev));
        }
    }
    // Latching: RTP (and muxed RTCP) against the RTP latch, RTCP on its own port against its own.
    let (latch, ssrc, seq) = if is_rtcp {
        let l = if on_rtcp_socket {
            &mut src.rtcp_latch
        } else {
            &mut src.rtp_latch
        };
        (l, None, None)
    } else {
        let Ok(p) = rtp::Packet::new_checked(data) else {
            return Err((DropReason::Junk, None));
        };
        (
            &mut src.rtp_latch,
            Some(p.ssrc()),
            Some(p.sequence_number()),
        )
    };
    let event = match latch.on_packet(now, from, ssrc, seq) {
        LatchVerdict::Accept => None,
        LatchVerdict::Latched { peer } => Some(ForwardEvent::Latched {
            id,
            leg,
            rtcp: on_rtcp_socket,
            peer,
        }),
        LatchVerdict::Reject(_) => {
            src.rejected += 1;
            let ev = src
                .rejected
                .is_power_of_two()
                .then_some(ForwardEvent::SourceRejected {
                    id,
                    leg,
                    from,
                    count: src.rejected,
                });
            return Err((DropReason::SourceRejected, ev));
        }
    };
    // From here on the media legs: statistics and direction are the m-line's.
    let media: &mut Leg = match src_media {
        Some(m) => m,
        None => src,
    };
    if is_rtcp {
        observe_rtcp(now, media, dst, data);
    } else {
        observe_rtp(now, media, data);
        if !media.signal.direction.sends() || !dst.signal.direction.receives() {
            return Err((DropReason::Direction, event));
        }
    }
    let out: &mut Leg = match dst_transport {
        Some(t) => t,
        None => dst,
    };
    let fwd = if is_rtcp {
        out.rtcp_out()
    } else {
        out.rtp_out()
    };
    let Some(fwd) = fwd else {
        return Err((DropReason::NoDestination, event));
    };
    if out.ice.as_ref().is_some_and(|ice| !ice.consents(now)) {
        return Err((DropReason::Consent, event));
    }
    match out.crypto.protect(buf, len, is_rtcp) {
        Ok(out) => Ok(Outcome::Forward(fwd, out, event)),
        Err(r) => Err((r, event)),
    }
}

/// RFC 3550 A.1/A.8 statistics of an accepted RTP packet.
pub(super) fn observe_rtp(now: Instant, src: &mut Leg, data: &[u8]) {
    let p = rtp::Packet::new_unchecked(data);
    let ssrc = p.ssrc();
    if src.stats.ssrc != Some(ssrc) {
        src.stats.ssrc = Some(ssrc);
        src.seq = SeqTracker::new();
        src.jitter = Jitter::new();
    }
    if src.seq.update_seq(p.sequence_number()) {
        // Arrival time in RTP timestamp units since the leg was set up; jitter uses differences.
        let micros = now.saturating_duration_since(src.origin).as_micros() as u64;
        let arrival = (micros.wrapping_mul(u64::from(src.signal.clock_rate)) / 1_000_000) as u32;
        src.jitter.update(p.timestamp(), arrival);
    }
    src.stats.lost = src.seq.lost();
    src.stats.expected = src.seq.expected();
    src.stats.jitter = src.jitter.jitter();
    src.stats.peer = src.rtp_latch.peer();
}

/// Reads the report blocks of an accepted RTCP compound packet: quality the peer reports, sender
/// reports for RTT matching (RFC 3550 §6.4).
pub(super) fn observe_rtcp(now: Instant, src: &mut Leg, dst: &Leg, data: &[u8]) {
    for pkt in rtcp::Compound::new(data).flatten() {
        let blocks = match RtcpPacket::parse(pkt.as_bytes()) {
            Ok(RtcpPacket::SenderReport(sr)) => {
                let ntp = sr.ntp_timestamp();
                src.last_sr = Some((((ntp >> 16) & 0xffff_ffff) as u32, now));
                sr.report_blocks()
            }
            Ok(RtcpPacket::ReceiverReport(rr)) => rr.report_blocks(),
            _ => continue,
        };
        for block in blocks {
            let q = &mut src.stats.reported;
            q.fraction_lost = block.fraction_lost();
            q.cumulative_lost = block.cumulative_lost();
            q.jitter = block.jitter();
            let (lsr, dlsr) = (block.last_sr(), block.delay_since_last_sr());
            if let Some((sr_mid, at)) = dst.last_sr {
                if lsr != 0 && lsr == sr_mid {
                    let since = now.saturating_duration_since(at).as_micros() as u64;
                    let dlsr_us = u64::from(dlsr) * 1_000_000 / 65_536;
                    q.rtt_us = Some(since.saturating_sub(dlsr_us));
                }
            }
        }
    }
}
