//! The per-packet forwarding decision, pure and sans-IO: which stream a datagram belongs to,
//! whether its source may send (latching), whether the call's direction lets it through, where it
//! goes and out of which socket, and the per-leg counters and RFC 3550 statistics.
//!
//! A worker owns one [`Forwarder`] and calls [`Forwarder::on_packet`] for every received datagram;
//! the verdict names the socket (a raw fd number the worker owns) and the destination. Nothing here
//! allocates, locks or logs per packet; events (latched, rejected sources) go into a bounded queue.

mod bundle;
mod decide;
mod ice;
mod passthrough;
mod secure;
mod stats;

pub use bundle::payload_mask;
pub use ice::{ice_token, IceParams, CONSENT_TIMEOUT};
pub use secure::Rekey;
pub use stats::{DropReason, LegStats, ReportedQuality, Totals};

use crate::io::Forward;
use crate::latch::{Latch, LatchConfig, LatchPolicy};
use bundle::Bundle;
use decide::{decide, to_control_plane, Decision, Legs, Outcome, Packet};
use ice::LegIce;
use sbc_common::demux::{classify, PacketKind};
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
    /// ICE-lite state, when the leg negotiated ICE (boxed: most legs have none, and a stream
    /// slot is kept per stream).
    ice: Option<Box<LegIce>>,
    /// Whether the relay is the DTLS endpoint of this leg (RFC 5763): its peer's DTLS
    /// datagrams go to the control plane instead of through.
    dtls: bool,
    /// The other streams whose media rides this leg's transport (BUNDLE owner, RFC 8843).
    bundle: Option<Box<Bundle>>,
    /// The stream whose leg's transport this leg's media rides (BUNDLE member).
    bundled_to: Option<StreamId>,
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
            bundle: None,
            bundled_to: None,
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
            (Some(p), None) => leg.ice = Some(Box::new(LegIce::new(p))),
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

    /// Makes leg `leg` of stream `owner` carry the media of `members` on that side too (RFC
    /// 8843 BUNDLE): their packets arrive at `owner`'s sockets, told apart by RTP payload type
    /// (each member's mask, [`payload_mask`]) and RTCP sender SSRC, and theirs for the peer
    /// leave from `owner`'s sockets under its ICE and SRTP. An empty list ends the bundle.
    pub fn set_bundle(
        &mut self,
        owner: StreamId,
        leg: usize,
        members: &[(StreamId, u128)],
    ) -> Result<(), ForwardError> {
        let leg = leg & 1;
        let old: Vec<StreamId> = self
            .stream_mut(owner)?
            .legs
            .get(leg)
            .and_then(|l| l.bundle.as_deref())
            .map(|b| b.members().collect())
            .unwrap_or_default();
        for id in old {
            if let Ok(s) = self.stream_mut(id) {
                s.legs[leg].bundled_to = None;
            }
        }
        let mut kept = Vec::with_capacity(members.len());
        for &(id, mask) in members {
            if id == owner {
                continue;
            }
            if let Ok(s) = self.stream_mut(id) {
                s.legs[leg].bundled_to = Some(owner);
                kept.push((id, mask));
            }
        }
        let o = &mut self.stream_mut(owner)?.legs[leg];
        o.bundle = (!kept.is_empty()).then(|| Box::new(Bundle::new(kept)));
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
        let slot = id.slot as usize;
        let (leg_in, on_rtcp_socket) = match role {
            SocketRole::Rtp { leg } => (leg & 1, false),
            SocketRole::Rtcp { leg } => (leg & 1, true),
        };
        let out = leg_in ^ 1;
        let packet = Packet {
            from,
            on_rtcp_socket,
            len,
        };
        let Some(stream) = self
            .streams
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|s| s.gen == id.gen)
        else {
            self.totals.drops[DropReason::Stale.index()] += 1;
            return Err(DropReason::Stale);
        };
        let data = buf.get(..len).unwrap_or_default();
        let kind = classify(data);
        // A BUNDLE member's media on this leg's transport, or this stream's media for the peer
        // riding another leg's transport (RFC 8843 §9).
        let member = match (kind, stream.legs[leg_in].bundle.as_deref_mut()) {
            (PacketKind::Rtp | PacketKind::Rtcp, Some(b)) => {
                b.route(data, kind == PacketKind::Rtcp)
            }
            _ => None,
        };
        let carrier = stream.legs[out].bundled_to;
        let Self {
            streams,
            dtls,
            events,
            totals,
            ..
        } = self;
        match (member, carrier) {
            (Some(m), _) => {
                let Some((owner, mem)) = pair_mut(streams, slot, m) else {
                    totals.drops[DropReason::Stale.index()] += 1;
                    return Err(DropReason::Stale);
                };
                let [ma, mb] = &mut mem.legs;
                let (m_src, m_dst) = if leg_in == 0 { (ma, mb) } else { (mb, ma) };
                let src = &mut owner.legs[leg_in];
                let verdict = if m_dst.bundled_to.is_some() {
                    // Bundled on both sides: not a shape the SBC builds.
                    Err((DropReason::Junk, None))
                } else {
                    let legs = Legs {
                        src,
                        src_media: Some(&mut *m_src),
                        dst: &mut *m_dst,
                        dst_transport: None,
                    };
                    decide(now, id, leg_in, legs, packet, buf)
                };
                account(now, verdict, m_src, m_dst, totals, events, len)
            }
            (None, Some(c)) => {
                let Some((this, carrier)) = pair_mut(streams, slot, c) else {
                    totals.drops[DropReason::NoDestination.index()] += 1;
                    return Err(DropReason::NoDestination);
                };
                let [a, b] = &mut this.legs;
                let (src, dst) = if leg_in == 0 { (a, b) } else { (b, a) };
                let verdict = if src.dtls && kind == PacketKind::Dtls {
                    to_control_plane(id, leg_in, src, packet, buf, dtls)
                } else {
                    let legs = Legs {
                        src: &mut *src,
                        src_media: None,
                        dst: &mut *dst,
                        dst_transport: Some(&mut carrier.legs[out]),
                    };
                    decide(now, id, leg_in, legs, packet, buf)
                };
                account(now, verdict, src, dst, totals, events, len)
            }
            (None, None) => {
                let stream = streams
                    .get_mut(slot)
                    .and_then(Option::as_mut)
                    .ok_or(DropReason::Stale)?;
                let [a, b] = &mut stream.legs;
                let (src, dst) = if leg_in == 0 { (a, b) } else { (b, a) };
                let verdict = if src.dtls && kind == PacketKind::Dtls {
                    to_control_plane(id, leg_in, src, packet, buf, dtls)
                } else {
                    let legs = Legs {
                        src: &mut *src,
                        src_media: None,
                        dst: &mut *dst,
                        dst_transport: None,
                    };
                    decide(now, id, leg_in, legs, packet, buf)
                };
                account(now, verdict, src, dst, totals, events, len)
            }
        }
    }
}

/// Two different live streams of the table, mutably: the one in `slot` and `other`.
fn pair_mut(
    streams: &mut [Option<Stream>],
    slot: usize,
    other: StreamId,
) -> Option<(&mut Stream, &mut Stream)> {
    let o = other.slot as usize;
    let (a, b) = match slot.cmp(&o) {
        std::cmp::Ordering::Less => {
            let (x, y) = streams.split_at_mut(o);
            (x.get_mut(slot)?, y.first_mut()?)
        }
        std::cmp::Ordering::Greater => {
            let (x, y) = streams.split_at_mut(slot);
            (y.first_mut()?, x.get_mut(o)?)
        }
        std::cmp::Ordering::Equal => return None,
    };
    let b = b.as_mut().filter(|s| s.gen == other.gen)?;
    Some((a.as_mut()?, b))
}

/// Counts a verdict on the media legs it concerned (`src` received, `dst` sent) and in the
/// totals, and queues its event.
fn account(
    now: Instant,
    verdict: Decision,
    src: &mut Leg,
    dst: &mut Leg,
    totals: &mut Totals,
    events: &mut VecDeque<ForwardEvent>,
    len: usize,
) -> Result<(Forward, usize), DropReason> {
    src.stats.packets_in += 1;
    src.stats.bytes_in += len as u64;
    match verdict {
        Ok(Outcome::Answer(fwd, out, refused, event)) => {
            // A connectivity check answered on the port it came to: neither forwarded nor
            // (unless refused) dropped.
            if let Some(r) = refused {
                src.stats.drops[r.index()] += 1;
                totals.drops[r.index()] += 1;
            }
            totals.stun_answered += 1;
            if let Some(e) = event {
                totals.latch_events += 1;
                Forwarder::push_event(events, totals, e);
            }
            Ok((fwd, out))
        }
        Ok(Outcome::Forward(fwd, out, event)) => {
            src.stats.last_packet = Some(now);
            dst.stats.packets_out += 1;
            dst.stats.bytes_out += out as u64;
            totals.forwarded_packets += 1;
            totals.forwarded_bytes += out as u64;
            if let Some(e) = event {
                totals.latch_events += 1;
                Forwarder::push_event(events, totals, e);
            }
            Ok((fwd, out))
        }
        Err((reason, event)) => {
            src.stats.drops[reason.index()] += 1;
            totals.drops[reason.index()] += 1;
            if let Some(e) = event {
                if matches!(e, ForwardEvent::Latched { .. }) {
                    totals.latch_events += 1;
                }
                Forwarder::push_event(events, totals, e);
            }
            Err(reason)
        }
    }
}

#[cfg(test)]
mod tests;
