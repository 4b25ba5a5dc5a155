//! What the forwarder counts: drop reasons, per-leg statistics and what peers report in RTCP,
//! and the totals across a worker's streams (RFC 3550 §6.4, A.3, A.8).

use std::net::SocketAddr;
use std::time::Instant;

/// Why a datagram was dropped; each reason has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The token names no live stream (a late packet for a deleted stream).
    Stale,
    /// Too short, or not RTP/RTCP version 2.
    Junk,
    /// A STUN message on a leg without ICE, or not a Binding request (counted, not forwarded).
    Stun,
    /// The source is not the latched peer (RTP bleed defence).
    SourceRejected,
    /// The call's direction does not let media through (hold, inactive).
    Direction,
    /// The other leg has no destination yet.
    NoDestination,
    /// An SRTP/SRTCP packet whose authentication tag did not verify (RFC 3711 §3.3, step 5).
    SrtpAuth,
    /// An SRTP/SRTCP packet replaying an index already seen (RFC 3711 §3.3.2).
    SrtpReplay,
    /// An SRTP limit: too many SSRCs on one key, or no room for the tag.
    SrtpLimit,
    /// A connectivity check with missing or wrong credentials, or a bad FINGERPRINT (answered
    /// 400/401 when it could be, never forwarded; RFC 8489 §9.1.3).
    StunAuth,
    /// The ICE peer's consent expired: no valid check for 30 s (RFC 7675 §5.1).
    Consent,
    /// A DTLS datagram taken by the relay's own handshake on a leg it terminates DTLS on
    /// (RFC 5764): not forwarded, and not lost.
    Dtls,
    /// Media from or to a DTLS-SRTP leg before its handshake gave keys: never relayed in
    /// clear (RFC 5763 §5).
    Unkeyed,
}

impl DropReason {
    /// How many reasons there are.
    pub const COUNT: usize = 13;

    /// Every reason, in counter order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Stale,
        Self::Junk,
        Self::Stun,
        Self::SourceRejected,
        Self::Direction,
        Self::NoDestination,
        Self::SrtpAuth,
        Self::SrtpReplay,
        Self::SrtpLimit,
        Self::StunAuth,
        Self::Consent,
        Self::Dtls,
        Self::Unkeyed,
    ];

    /// The reason as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stale => "stale",
            Self::Junk => "junk",
            Self::Stun => "stun",
            Self::SourceRejected => "source_rejected",
            Self::Direction => "direction",
            Self::NoDestination => "no_destination",
            Self::SrtpAuth => "srtp_auth",
            Self::SrtpReplay => "srtp_replay",
            Self::SrtpLimit => "srtp_limit",
            Self::StunAuth => "stun_auth",
            Self::Consent => "consent",
            Self::Dtls => "dtls",
            Self::Unkeyed => "unkeyed",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Figures a peer reported about the stream it receives, read from its RTCP SR/RR report blocks
/// (RFC 3550 §6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportedQuality {
    /// Fraction lost (out of 256) in the last report.
    pub fraction_lost: u8,
    /// Cumulative packets lost.
    pub cumulative_lost: i32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Round-trip time between the relay and this leg's peer in microseconds, from LSR/DLSR
    /// matched against the sender report the relay forwarded (RFC 3550 §6.4.1).
    pub rtt_us: Option<u64>,
}

/// Counters and statistics of one leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegStats {
    /// Datagrams received from the leg's peer (accepted or not).
    pub packets_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Datagrams sent to the leg's peer.
    pub packets_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Drops of packets received on this leg, by [`DropReason`] (in `DropReason::ALL` order).
    pub drops: [u64; DropReason::COUNT],
    /// When the last accepted packet arrived.
    pub last_packet: Option<Instant>,
    /// The SSRC of the peer's RTP.
    pub ssrc: Option<u32>,
    /// Packets lost from the peer's RTP, by sequence numbers (RFC 3550 A.3).
    pub lost: i32,
    /// Packets expected from the peer's RTP (RFC 3550 A.3).
    pub expected: u32,
    /// Interarrival jitter of the peer's RTP, RTP timestamp units (RFC 3550 A.8).
    pub jitter: u32,
    /// The latched peer address.
    pub peer: Option<SocketAddr>,
    /// What the peer reported in RTCP.
    pub reported: ReportedQuality,
}

/// Totals across all streams of a forwarder, for Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Datagrams forwarded.
    pub forwarded_packets: u64,
    /// Bytes forwarded.
    pub forwarded_bytes: u64,
    /// Drops by reason (in `DropReason::ALL` order).
    pub drops: [u64; DropReason::COUNT],
    /// Latch and re-latch events.
    pub latch_events: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// STUN connectivity checks answered (valid or refused) on ICE legs.
    pub stun_answered: u64,
}
