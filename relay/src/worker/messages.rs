//! What crosses a worker's rings and what it publishes: the control plane's commands, the
//! worker's events, its settings and its counters.

use crate::api::SessionId;
use crate::forward::{
    DropReason, DtlsDatagram, ForwardEvent, IceParams, LegSignal, LegStats, Rekey, StreamId,
};
use crate::latch::LatchConfig;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// One leg's sockets as the worker receives them: RTP, and RTCP unless the leg is muxed.
#[derive(Debug)]
pub struct LegSocketsOwned {
    /// The bound RTP socket.
    pub rtp: UdpSocket,
    /// The bound RTCP socket, `None` with rtcp-mux.
    pub rtcp: Option<UdpSocket>,
}

/// A command from the control plane.
#[derive(Debug)]
pub enum Command {
    /// Start relaying a stream on these sockets.
    AddStream {
        /// The stream's id in this worker.
        id: StreamId,
        /// The call it belongs to.
        session: SessionId,
        /// Sockets of leg A and leg B.
        sockets: Box<[LegSocketsOwned; 2]>,
        /// Signalling of leg A and leg B.
        signals: [LegSignal; 2],
    },
    /// New signalling for one or both legs.
    UpdateStream {
        /// The stream.
        id: StreamId,
        /// New signalling per leg (`None`: unchanged).
        signals: [Option<LegSignal>; 2],
    },
    /// New SRTP keys for one leg of a stream (contexts derived by the control plane).
    SetCrypto {
        /// The stream.
        id: StreamId,
        /// 0 for leg A, 1 for leg B.
        leg: usize,
        /// The key the leg's peer sends with.
        inbound: Rekey,
        /// The key the relay sends to the peer with.
        outbound: Rekey,
    },
    /// ICE-lite credentials for one leg of a stream (`None`: no ICE on that leg).
    SetIce {
        /// The stream.
        id: StreamId,
        /// 0 for leg A, 1 for leg B.
        leg: usize,
        /// The SBC's ufrag/password there and the peer's ufrag.
        params: Option<Box<IceParams>>,
    },
    /// Whether the relay is the DTLS endpoint of one leg of a stream (RFC 5763).
    SetDtls {
        /// The stream.
        id: StreamId,
        /// 0 for leg A, 1 for leg B.
        leg: usize,
        /// On or off.
        on: bool,
    },
    /// Bundle other streams' media on one leg of a stream (RFC 8843); empty: unbundle.
    SetBundle {
        /// The stream whose leg carries the bundle.
        owner: StreamId,
        /// 0 for leg A, 1 for leg B.
        leg: usize,
        /// The members with their payload-type masks.
        members: Box<[(StreamId, u128)]>,
    },
    /// Send a datagram of the control plane's DTLS handshake from one leg's socket.
    SendDtls {
        /// The stream.
        id: StreamId,
        /// 0 for leg A, 1 for leg B.
        leg: usize,
        /// From the leg's RTCP socket instead of its RTP one.
        rtcp: bool,
        /// The peer.
        to: SocketAddr,
        /// The datagram.
        data: Box<[u8]>,
    },
    /// Stop relaying a stream and close its sockets.
    RemoveStream {
        /// The stream.
        id: StreamId,
    },
    /// Stop the worker.
    Shutdown,
}

/// An event for the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerEvent {
    /// A DTLS datagram for the handshake of a leg the relay terminates DTLS on.
    Dtls {
        /// The call.
        session: SessionId,
        /// The datagram and where it came from.
        datagram: Box<DtlsDatagram>,
    },
    /// A latch or source-rejected event from the forwarder.
    Media {
        /// The call.
        session: SessionId,
        /// What happened.
        event: ForwardEvent,
    },
    /// A stream was removed and its sockets closed: its ports may be reused.
    Removed {
        /// The stream.
        id: StreamId,
        /// Its final statistics (boxed: ring entries stay small).
        stats: Box<[LegStats; 2]>,
    },
    /// A command named a stream that does not exist (or a slot in use): a control-plane bug.
    CommandFailed {
        /// The stream.
        id: StreamId,
    },
    /// No accepted packet on any stream of the call for the inactivity timeout.
    Inactive {
        /// The call.
        session: SessionId,
        /// How long it has been quiet.
        idle: Duration,
    },
    /// Periodic statistics of one stream.
    Stats {
        /// The call.
        session: SessionId,
        /// The stream.
        id: StreamId,
        /// Both legs (boxed: a ring entry is a tenth of their size, so the event rings' pages
        /// are not a cost per call; one allocation per stream and statistics interval, never
        /// per packet).
        stats: Box<[LegStats; 2]>,
    },
}

/// Counters a worker publishes for Prometheus (single writer, relaxed atomics).
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    /// Datagrams forwarded.
    pub forwarded_packets: AtomicU64,
    /// Bytes forwarded.
    pub forwarded_bytes: AtomicU64,
    /// Drops by reason, in `DropReason::ALL` order.
    pub drops: [AtomicU64; DropReason::COUNT],
    /// Latch events.
    pub latch_events: AtomicU64,
    /// STUN requests answered on leg ports (ICE checks and plain Binding requests).
    pub stun_answered: AtomicU64,
    /// Loop turns.
    pub turns: AtomicU64,
    /// Streams live in this worker.
    pub streams: AtomicU64,
    /// Datagrams received by the backend.
    pub received: AtomicU64,
    /// System calls made by the backend.
    pub syscalls: AtomicU64,
    /// Sends the kernel refused.
    pub send_errors: AtomicU64,
    /// CPU time used by the worker thread, in nanoseconds.
    pub cpu_ns: AtomicU64,
    /// Connected twins open ([`crate::twin`]).
    pub twins: AtomicU64,
    /// Events dropped because the event ring stayed full.
    pub events_dropped: AtomicU64,
}

/// Settings of one worker.
#[derive(Clone, Copy, Debug)]
pub struct WorkerConfig {
    /// Latching windows and handover limits.
    pub latch: LatchConfig,
    /// No media on any stream of a call for this long → [`WorkerEvent::Inactive`] (zero: never).
    pub inactivity_timeout: Duration,
    /// How often [`WorkerEvent::Stats`] is sent for each stream (zero: never).
    pub stats_interval: Duration,
}
