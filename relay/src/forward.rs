//! The per-packet forwarding decision, pure and sans-IO: which stream a datagram belongs to,
//! whether its source may send (latching), whether the call's direction lets it through, where it
//! goes and out of which socket, and the per-leg counters and RFC 3550 statistics.
//!
//! A worker owns one [`Forwarder`] and calls [`Forwarder::on_packet`] for every received datagram;
//! the verdict names the socket (a raw fd number the worker owns) and the destination. Nothing here
//! allocates, locks or logs per packet; events (latched, rejected sources) go into a bounded queue.

mod ice;
mod passthrough;
mod secure;
mod stats;

pub use ice::{ice_token, IceParams, CONSENT_TIMEOUT};
pub use secure::Rekey;
pub use stats::{DropReason, LegStats, ReportedQuality, Totals};

use crate::io::Forward;
use crate::latch::{Latch, LatchConfig, LatchPolicy, LatchVerdict};
use ice::{connectivity_check, LegIce};
use passthrough::pass_through;
use sbc_common::demux::{classify, PacketKind};
use sbc_common::rtcp::{self, RtcpPacket};
use sbc_common::rtp;
use sbc_common::rtpstats::{Jitter, SeqTracker};
use secure::LegCrypto;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Instant;
use thiserror::Error;

/// Identifies a stream in a worker's table: slot index plus a generation that guards against a
/// late packet or command for a previous stream in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// Index in the worker's stream table.
    pub slot: u32,
    /// Generation of the slot.
    pub gen: u32,
}

/// Which of a stream's four sockets a datagram arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketRole {
    /// Leg `leg`'s RTP socket (carries RTCP too when the leg is muxed).
    Rtp {
        /// 0 for leg A, 1 for leg B.
        leg: usize,
    },
    /// Leg `leg`'s RTCP socket.
    Rtcp {
        /// 0 for leg A, 1 for leg B.
        leg: usize,
    },
}

impl StreamId {
    /// The token registered with the IO backend for one socket of this stream: generation in the
    /// high 32 bits, slot and socket role below (fits the 56 bits a backend carries).
    pub fn token(self, role: SocketRole) -> u64 {
        let idx: u64 = match role {
            SocketRole::Rtp { leg } => (leg as u64 & 1) * 2,
            SocketRole::Rtcp { leg } => (leg as u64 & 1) * 2 + 1,
        };
        (u64::from(self.gen & 0x00ff_ffff) << 32) | (u64::from(self.slot & 0x3fff_ffff) << 2) | idx
    }

    /// Decodes a token made by [`StreamId::token`].
    pub fn from_token(token: u64) -> (Self, SocketRole) {
        let idx = (token & 3) as usize;
        let id = Self {
            slot: ((token >> 2) & 0x3fff_ffff) as u32,
            gen: ((token >> 32) & 0x00ff_ffff) as u32,
        };
        let leg = idx / 2;
        let role = if idx.is_multiple_of(2) {
            SocketRole::Rtp { leg }
        } else {
            SocketRole::Rtcp { leg }
        };
        (id, role)
    }
}

/// The media direction of the endpoint behind a leg, from its SDP (RFC 3264 §6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Sends and receives.
    #[default]
    SendRecv,
    /// Only sends (e.g. it put the call on hold with music).
    SendOnly,
    /// Only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// Whether the endpoint sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the endpoint receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// What signalling says about one leg's remote endpoint (from the latest offer or answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegSignal {
    /// The RTP address from SDP (`c=` + `m=` port), if known yet.
    pub remote_rtp: Option<SocketAddr>,
    /// The RTCP address from `a=rtcp` (RFC 3605); `None` means RTP port + 1 (or the RTP address when
    /// the leg is muxed).
    pub remote_rtcp: Option<SocketAddr>,
    /// Latching policy for the leg.
    pub policy: LatchPolicy,
    /// The endpoint's direction.
    pub direction: Direction,
    /// The RTP clock rate of the codec, for jitter (8000 for narrowband audio).
    pub clock_rate: u32,
}

impl Default for LegSignal {
    fn default() -> Self {
        Self {
            remote_rtp: None,
            remote_rtcp: None,
            policy: LatchPolicy::Strict,
            direction: Direction::SendRecv,
            clock_rate: 8000,
        }
    }
}

/// A leg's local sockets, as raw fd numbers owned by the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegSockets {
    /// The RTP socket.
    pub rtp: RawFd,
    /// The RTCP socket, or `None` when rtcp-mux puts RTCP on the RTP socket (RFC 5761).
    pub rtcp: Option<RawFd>,
}

/// Events for the control plane, rare by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardEvent {
    /// A leg latched (or re-latched) onto a peer address.
    Latched {
        /// The stream.
        id: StreamId,
        /// 0 for A, 1 for B.
        leg: usize,
        /// Whether it was the RTCP socket.
        rtcp: bool,
        /// The peer address.
        peer: SocketAddr,
    },
    /// Packets from a source other than the peer were dropped; reported at the 1st, 2nd, 4th,
    /// 8th... rejection on the leg so a flood cannot flood the control plane.
    SourceRejected {
        /// The stream.
        id: StreamId,
        /// 0 for A, 1 for B.
        leg: usize,
        /// The rejected source.
        from: SocketAddr,
        /// Rejections so far on this leg.
        count: u64,
    },
}

/// Errors from the stream-table commands (never from the packet path).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardError {
    /// The slot is already used by a live stream.
    #[error("stream slot {0} is in use")]
    SlotInUse(u32),
    /// No live stream has this id (deleted, or a stale generation).
    #[error("no stream {0:?}")]
    NoSuchStream(StreamId),
}

const EVENT_QUEUE: usize = 1024;

/// DTLS datagrams waiting for the control plane, at most (a handshake is a few).
const DTLS_QUEUE: usize = 64;

/// A DTLS datagram from the peer of a leg whose DTLS the relay terminates, for the control
/// plane's handshake (RFC 5764 §5.1.2). Copied out of the receive buffer: handshakes are a few
/// datagrams per call, and media never comes this way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtlsDatagram {
    /// The stream.
    pub id: StreamId,
    /// 0 for A, 1 for B.
    pub leg: usize,
    /// Whether it came to the leg's RTCP socket.
    pub rtcp: bool,
    /// The peer's address.
    pub from: SocketAddr,
    /// The datagram.
    pub data: Box<[u8]>,
}

#[derive(Debug)]
struct Leg {
    sockets: LegSockets,
    signal: LegSignal,
    rtp_latch: Latch,
    rtcp_latch: Latch,
    stats: LegStats,
    seq: SeqTracker,
    jitter: Jitter,
    /// The last sender report this leg's peer sent: (NTP middle 32 bits, arrival).
    last_sr: Option<(u32, Instant)>,
    rejected: u64,
    origin: Instant,
    /// SRTP keys of the leg, when it is secure.
    crypto: LegCrypto,
    /// ICE-lite state, when the leg negotiated ICE.
    ice: Option<LegIce>,
    /// Whether the relay is the DTLS endpoint of this leg (RFC 5763): its peer's DTLS
    /// datagrams go to the control plane instead of through.
    dtls: bool,
}

impl Leg {
    fn new(now: Instant, cfg: LatchConfig, sockets: LegSockets, signal: LegSignal) -> Self {
        let mut leg = Self {
            sockets,
            signal,
            rtp_latch: Latch::new(cfg),
            rtcp_latch: Latch::new(cfg),
            stats: LegStats::default(),
            seq: SeqTracker::new(),
            jitter: Jitter::new(),
            last_sr: None,
            rejected: 0,
            origin: now,
            crypto: LegCrypto::default(),
            ice: None,
            dtls: false,
        };
        leg.resignal(now, signal);
        leg
    }

    fn resignal(&mut self, now: Instant, signal: LegSignal) {
        self.signal = signal;
        self.rtp_latch.signal(now, signal.remote_rtp, signal.policy);
        let rtcp_sdp = match (self.sockets.rtcp, signal.remote_rtcp, signal.remote_rtp) {
            (None, _, rtp) => rtp,
            (Some(_), Some(explicit), _) => Some(explicit),
            (Some(_), None, Some(rtp)) => rtp.port().checked_add(1).map(|p| {
                let mut a = rtp;
                a.set_port(p);
                a
            }),
            (Some(_), None, None) => None,
        };
        self.rtcp_latch.signal(now, rtcp_sdp, signal.policy);
    }

    /// Where RTCP for this leg's peer goes, and out of which socket.
    fn rtcp_out(&self) -> Option<Forward> {
        match self.sockets.rtcp {
            Some(fd) => self.rtcp_latch.send_target().map(|to| Forward::to(fd, to)),
            None => self
                .rtp_latch
                .send_target()
                .map(|to| Forward::to(self.sockets.rtp, to)),
        }
    }

    fn rtp_out(&self) -> Option<Forward> {
        self.rtp_latch
            .send_target()
            .map(|to| Forward::to(self.sockets.rtp, to))
    }
}

#[derive(Debug)]
struct Stream {
    gen: u32,
    session: u64,
    /// When the stream was created or last re-signalled: inactivity counts from here at the
    /// earliest, so a call that rang for a long time is not idle the moment it is answered.
    signalled: Instant,
    legs: [Leg; 2],
}

/// The stream table of one worker and the per-packet decision over it.
#[derive(Debug)]
pub struct Forwarder {
    latch: LatchConfig,
    streams: Vec<Option<Stream>>,
    totals: Totals,
    events: VecDeque<ForwardEvent>,
    dtls: VecDeque<DtlsDatagram>,
}

impl Forwarder {
    /// An empty table whose latches use `latch`.
    pub fn new(latch: LatchConfig) -> Self {
        Self {
            latch,
            streams: Vec::new(),
            totals: Totals::default(),
            events: VecDeque::with_capacity(EVENT_QUEUE),
            dtls: VecDeque::with_capacity(DTLS_QUEUE),
        }
    }

    /// Adds a stream of call `session` with its two legs (A = index 0, B = index 1).
    pub fn add_stream(
        &mut self,
        now: Instant,
        id: StreamId,
        session: u64,
        legs: [(LegSockets, LegSignal); 2],
    ) -> Result<(), ForwardError> {
        let slot = id.slot as usize;
        if self.streams.len() <= slot {
            self.streams.resize_with(slot + 1, || None);
        }
        let entry = self
            .streams
            .get_mut(slot)
            .ok_or(ForwardError::SlotInUse(id.slot))?;
        if entry.is_some() {
            return Err(ForwardError::SlotInUse(id.slot));
        }
        let [(sa, ga), (sb, gb)] = legs;
        *entry = Some(Stream {
            gen: id.gen,
            session,
            signalled: now,
            legs: [
                Leg::new(now, self.latch, sa, ga),
                Leg::new(now, self.latch, sb, gb),
            ],
        });
        Ok(())
    }

    /// Applies new signalling to either leg (offer/answer, re-INVITE, UPDATE), re-arming latching.
    pub fn update_stream(
        &mut self,
        now: Instant,
        id: StreamId,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), ForwardError> {
        let stream = self.stream_mut(id)?;
        stream.signalled = now;
        for (leg, sig) in stream.legs.iter_mut().zip(signals) {
            if let Some(sig) = sig {
                leg.resignal(now, sig);
            }
        }
        Ok(())
    }

    /// New SRTP keys for leg `leg` (0 = A, 1 = B) of a stream: `inbound` checks and decrypts
    /// what its peer sends, `outbound` encrypts what the relay sends it (RFC 3711, RFC 4568 §7).
    pub fn set_crypto(
        &mut self,
        id: StreamId,
        leg: usize,
        inbound: Rekey,
        outbound: Rekey,
    ) -> Result<(), ForwardError> {
        let stream = self.stream_mut(id)?;
        let leg = stream
            .legs
            .get_mut(leg)
            .ok_or(ForwardError::NoSuchStream(id))?;
        leg.crypto.rekey(inbound, outbound);
        Ok(())
    }

    /// ICE-lite on leg `leg` of a stream (RFC 8445 §2.5): the SBC's credentials there and the
    /// peer's ufrag, or `None` for a leg without ICE (today's latching).
    pub fn set_ice(
        &mut self,
        id: StreamId,
        leg: usize,
        params: Option<IceParams>,
    ) -> Result<(), ForwardError> {
        let stream = self.stream_mut(id)?;
        let leg = stream
            .legs
            .get_mut(leg)
            .ok_or(ForwardError::NoSuchStream(id))?;
        match (params, leg.ice.as_mut()) {
            (Some(p), Some(ice)) => ice.update(p),
            (Some(p), None) => leg.ice = Some(LegIce::new(p)),
            (None, _) => leg.ice = None,
        }
        Ok(())
    }

    /// Whether the relay is the DTLS endpoint of leg `leg` of a stream (RFC 5763): the peer's
    /// DTLS datagrams then wait in [`Forwarder::poll_dtls`] instead of passing through.
    pub fn set_dtls(&mut self, id: StreamId, leg: usize, on: bool) -> Result<(), ForwardError> {
        let stream = self.stream_mut(id)?;
        let leg = stream
            .legs
            .get_mut(leg)
            .ok_or(ForwardError::NoSuchStream(id))?;
        leg.dtls = on;
        Ok(())
    }

    /// The next DTLS datagram for the control plane's handshake.
    pub fn poll_dtls(&mut self) -> Option<DtlsDatagram> {
        self.dtls.pop_front()
    }

    /// Removes a stream; later packets for it count as stale.
    pub fn remove_stream(&mut self, id: StreamId) -> Result<[LegStats; 2], ForwardError> {
        self.stream_mut(id)?;
        let s = self
            .streams
            .get_mut(id.slot as usize)
            .and_then(Option::take)
            .ok_or(ForwardError::NoSuchStream(id))?;
        Ok([s.legs[0].stats, s.legs[1].stats])
    }

    fn stream_mut(&mut self, id: StreamId) -> Result<&mut Stream, ForwardError> {
        self.streams
            .get_mut(id.slot as usize)
            .and_then(Option::as_mut)
            .filter(|s| s.gen == id.gen)
            .ok_or(ForwardError::NoSuchStream(id))
    }

    fn stream(&self, id: StreamId) -> Option<&Stream> {
        self.streams
            .get(id.slot as usize)
            .and_then(Option::as_ref)
            .filter(|s| s.gen == id.gen)
    }

    /// The statistics of both legs of a stream.
    pub fn stream_stats(&self, id: StreamId) -> Option<[LegStats; 2]> {
        self.stream(id).map(|s| [s.legs[0].stats, s.legs[1].stats])
    }

    /// The call a stream belongs to.
    pub fn session_of(&self, id: StreamId) -> Option<u64> {
        self.stream(id).map(|s| s.session)
    }

    /// When the stream last carried an accepted packet on either leg, or was created or
    /// re-signalled if that is later.
    pub fn last_activity(&self, id: StreamId) -> Option<Instant> {
        self.stream(id).map(|s| {
            s.legs
                .iter()
                .filter_map(|l| l.stats.last_packet)
                .fold(s.signalled, Instant::max)
        })
    }

    /// Totals across all streams.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The next event for the control plane.
    pub fn poll_event(&mut self) -> Option<ForwardEvent> {
        self.events.pop_front()
    }

    fn push_event(events: &mut VecDeque<ForwardEvent>, totals: &mut Totals, e: ForwardEvent) {
        if events.len() < EVENT_QUEUE {
            events.push_back(e);
        } else {
            totals.events_dropped += 1;
        }
    }

    /// Decides what to do with the datagram `buf[..len]` received on the socket registered as
    /// `token`: where it goes and how many bytes of `buf` to send. SRTP is undone and redone in
    /// place, so `buf` should have room past `len` for an authentication tag.
    pub fn on_packet(
        &mut self,
        now: Instant,
        token: u64,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Result<(Forward, usize), DropReason> {
        let (id, role) = StreamId::from_token(token);
        let Some(stream) = self
            .streams
            .get_mut(id.slot as usize)
            .and_then(Option::as_mut)
            .filter(|s| s.gen == id.gen)
        else {
            self.totals.drops[DropReason::Stale.index()] += 1;
            return Err(DropReason::Stale);
        };
        let (leg_in, on_rtcp_socket) = match role {
            SocketRole::Rtp { leg } => (leg & 1, false),
            SocketRole::Rtcp { leg } => (leg & 1, true),
        };
        let [a, b] = &mut stream.legs;
        let (src, dst) = if leg_in == 0 { (a, b) } else { (b, a) };
        let packet = Packet {
            from,
            on_rtcp_socket,
            len,
        };
        let verdict = if src.dtls && buf.get(..len).map(classify) == Some(PacketKind::Dtls) {
            to_control_plane(id, leg_in, src, packet, buf, &mut self.dtls)
        } else {
            decide(now, id, leg_in, src, dst, packet, buf)
        };
        let len_in = len as u64;
        src.stats.packets_in += 1;
        src.stats.bytes_in += len_in;
        match verdict {
            Ok(Outcome::Answer(fwd, out, refused, event)) => {
                // A connectivity check answered on the port it came to: neither forwarded nor
                // (unless refused) dropped.
                if let Some(r) = refused {
                    src.stats.drops[r.index()] += 1;
                    self.totals.drops[r.index()] += 1;
                }
                self.totals.stun_answered += 1;
                if let Some(e) = event {
                    self.totals.latch_events += 1;
                    Self::push_event(&mut self.events, &mut self.totals, e);
                }
                Ok((fwd, out))
            }
            Ok(Outcome::Forward(fwd, out, event)) => {
                src.stats.last_packet = Some(now);
                dst.stats.packets_out += 1;
                dst.stats.bytes_out += out as u64;
                self.totals.forwarded_packets += 1;
                self.totals.forwarded_bytes += out as u64;
                if let Some(e) = event {
                    self.totals.latch_events += 1;
                    Self::push_event(&mut self.events, &mut self.totals, e);
                }
                Ok((fwd, out))
            }
            Err((reason, event)) => {
                src.stats.drops[reason.index()] += 1;
                self.totals.drops[reason.index()] += 1;
                if let Some(e) = event {
                    if matches!(e, ForwardEvent::Latched { .. }) {
                        self.totals.latch_events += 1;
                    }
                    Self::push_event(&mut self.events, &mut self.totals, e);
                }
                Err(reason)
            }
        }
    }
}

/// Where a datagram came from and how long it is.
#[derive(Clone, Copy)]
struct Packet {
    from: SocketAddr,
    on_rtcp_socket: bool,
    len: usize,
}

/// What to send for a datagram that is not dropped.
enum Outcome {
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
fn to_control_plane(
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

type Decision = Result<Outcome, (DropReason, Option<ForwardEvent>)>;

/// The decision for one packet from `src`'s peer towards `dst`'s peer; an SRTP leg's packet is
/// authenticated and decrypted before anything reads its payload or latches on its source, and
/// encrypted for an SRTP destination last, once it is sure to leave.
fn decide(
    now: Instant,
    id: StreamId,
    leg: usize,
    src: &mut Leg,
    dst: &mut Leg,
    packet: Packet,
    buf: &mut [u8],
) -> Decision {
    let Packet {
        from,
        on_rtcp_socket,
        len,
    } = packet;
    let kind = buf.get(..len).map_or(PacketKind::Unknown, classify);
    let component = usize::from(on_rtcp_socket);
    let is_rtcp = match kind {
        PacketKind::Stun => return connectivity_check(now, id, leg, src, packet, buf),
        PacketKind::Rtcp => true,
        // On a dedicated RTCP socket everything valid is RTCP.
        PacketKind::Rtp if on_rtcp_socket => return Err((DropReason::Junk, None)),
        PacketKind::Rtp => false,
        PacketKind::Zrtp | PacketKind::Dtls => {
            return pass_through(now, id, leg, src, dst, packet, buf)
        }
        _ => return Err((DropReason::Junk, None)),
    };
    if (src.dtls && !src.crypto.terminates()) || (dst.dtls && !dst.crypto.terminates()) {
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
    let fwd = if is_rtcp {
        observe_rtcp(now, src, dst, data);
        dst.rtcp_out()
    } else {
        observe_rtp(now, src, data);
        if !src.signal.direction.sends() || !dst.signal.direction.receives() {
            return Err((DropReason::Direction, event));
        }
        dst.rtp_out()
    };
    let Some(fwd) = fwd else {
        return Err((DropReason::NoDestination, event));
    };
    if dst.ice.as_ref().is_some_and(|ice| !ice.consents(now)) {
        return Err((DropReason::Consent, event));
    }
    match dst.crypto.protect(buf, len, is_rtcp) {
        Ok(out) => Ok(Outcome::Forward(fwd, out, event)),
        Err(r) => Err((r, event)),
    }
}

/// RFC 3550 A.1/A.8 statistics of an accepted RTP packet.
fn observe_rtp(now: Instant, src: &mut Leg, data: &[u8]) {
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
fn observe_rtcp(now: Instant, src: &mut Leg, dst: &Leg, data: &[u8]) {
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

#[cfg(test)]
mod tests;
