//! RTP latching ("symmetric RTP", RFC 4961 / COMEDIA-style NAT traversal,
//! RFC 4145 `a=direction`) resistant to RTP bleed.
//!
//! One [`Latch`] guards one leg: the socket that receives media from one
//! remote peer. It is sans-IO: time comes in as [`Instant`]s, and the
//! per-packet path ([`Latch::on_packet`]) neither allocates nor panics.
//!
//! # Learning window
//!
//! Every [`Latch::signal`] (offer or answer for the leg) re-arms learning: a
//! window opens that closes after [`LatchConfig::learning_window`] (3 s, like
//! rtpengine's delayed endpoint learning) or after
//! [`LatchConfig::learning_window_packets`] received packets (any source),
//! whichever comes first. Inside the window sources are ranked against the SDP
//! address, like rtpengine's `heuristic` endpoint learning:
//! exact address and port > same IP address > any other source.
//!
//! * A packet from exactly the SDP address latches at once and closes the window.
//! * Otherwise the first source seen is latched at once (media flows without
//!   waiting for the window, and [`Latch::send_target`] points at it), but only
//!   tentatively: a strictly better ranked source later in the window
//!   re-latches. A source of equal or lower rank is rejected.
//! * When the window closes the peer is fixed; in [`LatchPolicy::Strict`] every
//!   other source is rejected from then on (RTP bleed protection).
//! * If the window closes with nothing latched, only the exact SDP address is
//!   accepted (and latched on its first packet); everything else is rejected.
//!   Without an SDP address the leg stays closed until the next signal.
//!
//! **Trade-off:** without an SDP-exact match (the peer is behind NAT), an
//! attacker whose packet arrives before the real peer's first packet is
//! latched, and the real peer is rejected; this is inherent to latching
//! without ICE/SRTP. The window is kept short (a few packets) to narrow the
//! attack to the first milliseconds after signalling, and an exact SDP match
//! or a same-IP source still displaces such a candidate while the window is
//! open. Rejected packets are counted ([`Latch::rejected`]) for alarms.
//!
//! # Re-signalling (re-INVITE / UPDATE)
//!
//! * Same SDP address: the current peer stays latched and keeps receiving
//!   media, but learning is re-armed. If the peer's packet is the first one in
//!   the new window it is confirmed (plain [`LatchVerdict::Accept`]); if a new
//!   source of at least the same rank arrives first, it re-latches (NAT
//!   binding changed while on hold). A peer that matches the SDP address
//!   exactly cannot be displaced. If nothing arrives, the peer stays.
//! * Different SDP address (or a policy change to/from [`LatchPolicy::Off`]):
//!   the media endpoint moved, so the old latch is dropped (never leak media
//!   to the previous device) and media is sent to the new SDP address until a
//!   source latches.
//! * An unspecified SDP address (`0.0.0.0`, `::` or port 0, RFC 3264 §8.4
//!   hold) counts as no address.
//!
//! # Handover
//!
//! [`LatchPolicy::Handover`] learns like `Strict`; after the window, a new
//! source re-latches only if it continues the latched stream: the same SSRC
//! and a sequence number 1..=[`LatchConfig::handover_seq_window`] ahead of the
//! highest seen (RFC 3550 §A.1 style wrapping arithmetic), and at most one
//! handover per [`LatchConfig::handover_min_interval`]. This follows roaming
//! phones and NAT rebinding without opening the leg to RTP bleed (the
//! attacker does not see the peer's SSRC and sequence). Packets without
//! SSRC/sequence (RTCP, STUN) never trigger a handover.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

/// How a leg learns and enforces its remote peer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatchPolicy {
    /// Learn the peer in the learning window, then drop every other source (rtpengine `strict-source`).
    #[default]
    Strict,
    /// Like `Strict`, but follow the same SSRC with in-window sequence to a new source (rtpengine `media-handover`).
    Handover,
    /// No latching: accept any source and always send to the SDP address.
    Off,
}

/// Tunables of the latching algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchConfig {
    /// Packets after which the learning window closes (0 is treated as 1).
    pub learning_window_packets: u32,
    /// Time after signalling after which the learning window closes (rtpengine uses 3 s).
    pub learning_window: Duration,
    /// Maximum forward sequence-number distance accepted for a handover.
    pub handover_seq_window: u16,
    /// Minimum time between two handovers.
    pub handover_min_interval: Duration,
}

impl Default for LatchConfig {
    fn default() -> Self {
        Self {
            learning_window_packets: 3,
            learning_window: Duration::from_secs(3),
            handover_seq_window: 100,
            handover_min_interval: Duration::from_secs(1),
        }
    }
}

/// Why a packet's source was not allowed (counted as an RTP-bleed attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RejectReason {
    /// The leg has not been signalled yet.
    #[error("leg not signalled yet")]
    NotSignalled,
    /// The source is not the latched peer and may not displace it.
    #[error("source is not the latched peer")]
    NotLatchedPeer,
    /// The learning window closed without a latch and the source is not the SDP address.
    #[error("learning window closed and source is not the SDP address")]
    NotSdpAddress,
    /// Handover refused: SSRC missing or different from the latched stream's.
    #[error("handover refused: SSRC does not continue the latched stream")]
    SsrcMismatch,
    /// Handover refused: sequence number missing or not within the forward window.
    #[error("handover refused: sequence number out of window")]
    SequenceOutOfWindow,
    /// Handover refused: the previous handover was too recent.
    #[error("handover refused: rate limited")]
    HandoverRateLimited,
}

/// Decision for one received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchVerdict {
    /// Forward the packet.
    Accept,
    /// Forward the packet; the leg just latched or re-latched to `peer` (a control-plane event).
    Latched {
        /// The newly latched remote address.
        peer: SocketAddr,
    },
    /// Drop the packet: its source is not allowed.
    Reject(RejectReason),
}

/// How well a source matches the SDP address (higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Any,
    SameIp,
    Exact,
}

/// Learning state of the leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Never signalled.
    Idle,
    /// Learning window open since `since`, `seen` packets received in it.
    Learning { since: Instant, seen: u32 },
    /// Window closed; the peer (if any) is fixed.
    Locked,
}

/// The latched peer and what we know of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Peer {
    addr: SocketAddr,
    /// Sent at least one packet since the last signal.
    confirmed: bool,
    ssrc: Option<u32>,
    seq: Option<u16>,
}

/// Per-leg latch: decides which sources may send to the leg and where the leg sends.
#[derive(Debug, Clone)]
pub struct Latch {
    config: LatchConfig,
    policy: LatchPolicy,
    sdp_addr: Option<SocketAddr>,
    phase: Phase,
    peer: Option<Peer>,
    last_handover: Option<Instant>,
    rejected: u64,
}

impl Latch {
    /// Creates an unsignalled latch that rejects everything until [`Latch::signal`].
    #[must_use]
    pub fn new(config: LatchConfig) -> Self {
        Self {
            config,
            policy: LatchPolicy::default(),
            sdp_addr: None,
            phase: Phase::Idle,
            peer: None,
            last_handover: None,
            rejected: 0,
        }
    }

    /// Applies an offer/answer for this leg and re-arms learning (see the module doc).
    pub fn signal(&mut self, now: Instant, sdp_addr: Option<SocketAddr>, policy: LatchPolicy) {
        let sdp_addr = sdp_addr.filter(|a| !a.ip().is_unspecified() && a.port() != 0);
        let endpoint_moved = sdp_addr != self.sdp_addr;
        let off_toggled = (policy == LatchPolicy::Off) != (self.policy == LatchPolicy::Off);
        if endpoint_moved || off_toggled || policy == LatchPolicy::Off {
            self.peer = None;
            self.last_handover = None;
        }
        if let Some(peer) = self.peer.as_mut() {
            peer.confirmed = false;
        }
        self.sdp_addr = sdp_addr;
        self.policy = policy;
        self.phase = Phase::Learning {
            since: now,
            seen: 0,
        };
    }

    /// Decides whether a packet received from `from` may be forwarded.
    ///
    /// `ssrc` and `seq` come from the RTP header (RFC 3550 §5.1) when the packet is RTP.
    pub fn on_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ssrc: Option<u32>,
        seq: Option<u16>,
    ) -> LatchVerdict {
        let verdict = self.decide(now, from, ssrc, seq);
        if matches!(verdict, LatchVerdict::Reject(_)) {
            self.rejected = self.rejected.saturating_add(1);
        }
        verdict
    }

    /// Makes `addr` the peer at once, whatever the SDP said, and closes the learning window: an
    /// ICE connectivity check nominated it (RFC 8445 §7.3.1.5).
    pub fn nominate(&mut self, addr: SocketAddr) {
        if self.peer.map(|p| p.addr) != Some(addr) {
            self.peer = Some(Peer {
                addr,
                confirmed: true,
                ssrc: None,
                seq: None,
            });
        }
        self.phase = Phase::Locked;
    }

    /// Where packets to this peer go: the latched address once latched, else the SDP address.
    #[must_use]
    pub fn send_target(&self) -> Option<SocketAddr> {
        match self.policy {
            LatchPolicy::Off => self.sdp_addr,
            LatchPolicy::Strict | LatchPolicy::Handover => {
                self.peer.map(|p| p.addr).or(self.sdp_addr)
            }
        }
    }

    /// The currently latched remote address (tentative while learning), if any.
    #[must_use]
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer.map(|p| p.addr)
    }

    /// The SDP address of the last signal, if it was a usable address.
    #[must_use]
    pub fn sdp_addr(&self) -> Option<SocketAddr> {
        self.sdp_addr
    }

    /// The policy of the last signal.
    #[must_use]
    pub fn policy(&self) -> LatchPolicy {
        self.policy
    }

    /// Tells whether the learning window is still open at `now`.
    #[must_use]
    pub fn is_learning(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Learning { since, seen } => !self.window_closed(now, since, seen),
            Phase::Idle | Phase::Locked => false,
        }
    }

    /// Number of packets rejected so far (RTP-bleed attempts).
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    fn window_closed(&self, now: Instant, since: Instant, seen: u32) -> bool {
        seen >= self.config.learning_window_packets.max(1)
            || now.saturating_duration_since(since) >= self.config.learning_window
    }

    fn rank(&self, addr: SocketAddr) -> Rank {
        match self.sdp_addr {
            Some(sdp) if sdp == addr => Rank::Exact,
            Some(sdp) if sdp.ip() == addr.ip() => Rank::SameIp,
            Some(_) | None => Rank::Any,
        }
    }

    /// Makes `addr` the peer; returns `Latched` if the address changed.
    fn latch_to(&mut self, addr: SocketAddr, ssrc: Option<u32>, seq: Option<u16>) -> LatchVerdict {
        let changed = self.peer.map(|p| p.addr) != Some(addr);
        self.peer = Some(Peer {
            addr,
            confirmed: true,
            ssrc,
            seq,
        });
        if changed {
            LatchVerdict::Latched { peer: addr }
        } else {
            LatchVerdict::Accept
        }
    }

    fn decide(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ssrc: Option<u32>,
        seq: Option<u16>,
    ) -> LatchVerdict {
        if self.policy == LatchPolicy::Off {
            return match self.phase {
                Phase::Idle => LatchVerdict::Reject(RejectReason::NotSignalled),
                Phase::Learning { .. } | Phase::Locked => LatchVerdict::Accept,
            };
        }
        match self.phase {
            Phase::Idle => LatchVerdict::Reject(RejectReason::NotSignalled),
            Phase::Learning { since, seen } if !self.window_closed(now, since, seen) => {
                self.learn(from, ssrc, seq, since, seen)
            }
            Phase::Learning { .. } | Phase::Locked => {
                self.phase = Phase::Locked;
                self.locked(now, from, ssrc, seq)
            }
        }
    }

    fn learn(
        &mut self,
        from: SocketAddr,
        ssrc: Option<u32>,
        seq: Option<u16>,
        since: Instant,
        seen: u32,
    ) -> LatchVerdict {
        let rank = self.rank(from);
        let verdict = match self.peer {
            Some(peer) if peer.addr == from => {
                self.track(ssrc, seq);
                if let Some(p) = self.peer.as_mut() {
                    p.confirmed = true;
                }
                LatchVerdict::Accept
            }
            Some(peer) => {
                let current = self.rank(peer.addr);
                if rank > current || (rank == current && !peer.confirmed) {
                    self.latch_to(from, ssrc, seq)
                } else {
                    LatchVerdict::Reject(RejectReason::NotLatchedPeer)
                }
            }
            None => self.latch_to(from, ssrc, seq),
        };
        self.phase = if rank == Rank::Exact && !matches!(verdict, LatchVerdict::Reject(_)) {
            Phase::Locked
        } else {
            Phase::Learning {
                since,
                seen: seen.saturating_add(1),
            }
        };
        verdict
    }

    fn locked(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ssrc: Option<u32>,
        seq: Option<u16>,
    ) -> LatchVerdict {
        let Some(peer) = self.peer else {
            return if self.sdp_addr == Some(from) {
                self.latch_to(from, ssrc, seq)
            } else {
                LatchVerdict::Reject(RejectReason::NotSdpAddress)
            };
        };
        if peer.addr == from {
            self.track(ssrc, seq);
            return LatchVerdict::Accept;
        }
        match self.policy {
            LatchPolicy::Handover => self.handover(now, peer, from, ssrc, seq),
            LatchPolicy::Strict | LatchPolicy::Off => {
                LatchVerdict::Reject(RejectReason::NotLatchedPeer)
            }
        }
    }

    fn handover(
        &mut self,
        now: Instant,
        peer: Peer,
        from: SocketAddr,
        ssrc: Option<u32>,
        seq: Option<u16>,
    ) -> LatchVerdict {
        if ssrc.is_none() || ssrc != peer.ssrc {
            return LatchVerdict::Reject(RejectReason::SsrcMismatch);
        }
        let in_window = match (seq, peer.seq) {
            (Some(new), Some(last)) => {
                let delta = new.wrapping_sub(last);
                delta >= 1 && delta <= self.config.handover_seq_window
            }
            (Some(_) | None, None) | (None, Some(_)) => false,
        };
        if !in_window {
            return LatchVerdict::Reject(RejectReason::SequenceOutOfWindow);
        }
        if let Some(last) = self.last_handover {
            if now.saturating_duration_since(last) < self.config.handover_min_interval {
                return LatchVerdict::Reject(RejectReason::HandoverRateLimited);
            }
        }
        self.last_handover = Some(now);
        self.latch_to(from, ssrc, seq)
    }

    /// Records SSRC / highest sequence number of a packet from the latched peer.
    fn track(&mut self, ssrc: Option<u32>, seq: Option<u16>) {
        let Some(peer) = self.peer.as_mut() else {
            return;
        };
        let Some(ssrc) = ssrc else {
            return;
        };
        if peer.ssrc != Some(ssrc) {
            peer.ssrc = Some(ssrc);
            peer.seq = seq;
            return;
        }
        match (peer.seq, seq) {
            (Some(last), Some(new)) if new.wrapping_sub(last) < 0x8000 => peer.seq = Some(new),
            (None, Some(new)) => peer.seq = Some(new),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
