//! What the B2BUA and the relay say to each other: sessions and legs, key changes, events,
//! errors, the relay's configuration and its counters.

use crate::forward::{DropReason, LegSignal, Rekey};
use crate::io::uring::UringConfig;
use crate::io::BackendKind;
use crate::latch::LatchConfig;
use crate::ports::PortError;
use crate::srtp::{Context, MasterKey, Suite};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use thiserror::Error;

/// A change to one direction's SRTP key on a leg, as the control plane asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyChange {
    /// Keep the current key (and its rollover counters and replay window).
    Keep,
    /// Plain RTP.
    Plain,
    /// A new SDES key (RFC 4568 §6.1).
    Key(Suite, MasterKey),
}

impl KeyChange {
    pub(super) fn into_rekey(self) -> Rekey {
        match self {
            Self::Keep => Rekey::Keep,
            Self::Plain => Rekey::Plain,
            Self::Key(suite, master) => Rekey::Key(Box::new(Context::new(suite, &master))),
        }
    }
}

/// One local address the relay allocates media ports on (e.g. customer side, core side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The interface's name, as routes and calls refer to it.
    pub name: String,
    /// The local IP media sockets bind to.
    pub address: IpAddr,
    /// Lowest port of the RTP range.
    pub port_min: u16,
    /// Highest port of the range.
    pub port_max: u16,
}

/// How to start the relay.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Media interfaces.
    pub interfaces: Vec<InterfaceConfig>,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// CPUs the worker threads are pinned to: worker `i` runs on `worker_cpus[i % len]`
    /// (empty: not pinned, the threads may run anywhere the process may).
    pub worker_cpus: Vec<usize>,
    /// Real-time priority of the worker threads: `Some(p)` runs them under `SCHED_FIFO` at `p`
    /// (1..=99), so housekeeping threads and daemons cannot delay the media they have in hand
    /// (needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` of at least `p`); `None` keeps the normal
    /// scheduler.
    pub worker_rt_priority: Option<u8>,
    /// `SO_RCVBUF` of each media socket in bytes (the kernel doubles it and caps it at
    /// `net.core.rmem_max`; 0 keeps the system default). Under overload a smaller buffer drops
    /// stale media sooner instead of queueing it: it bounds the latency an overload adds.
    pub recv_buffer: usize,
    /// IO backend.
    pub backend: BackendKind,
    /// io_uring tuning (buffer ring size, wait batching); ignored by the mmsg backend.
    pub uring: UringConfig,
    /// Latching windows and handover limits.
    pub latch: LatchConfig,
    /// No media on a call for this long → [`RelayEvent::Inactive`] (zero: never).
    pub inactivity_timeout: Duration,
    /// Period of per-stream statistics (zero: never).
    pub stats_interval: Duration,
    /// Seed of the port shuffles (give the process's random seed; tests give a fixed one).
    pub seed: u64,
}

/// Errors the control plane gets back, synchronously.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RelayError {
    /// No interface with this name.
    #[error("no media interface named {0:?}")]
    UnknownInterface(String),
    /// The interface's port range is used up.
    #[error("media interface {interface:?}: {source}")]
    Ports {
        /// The interface.
        interface: String,
        /// What the pool said.
        source: PortError,
    },
    /// No session with this id.
    #[error("no relay session {0}")]
    UnknownSession(SessionId),
    /// No stream with this index in the session.
    #[error("relay session {0} has no stream {1}")]
    UnknownStream(SessionId, usize),
    /// No port of the interface could be bound (each attempt's port was taken by another process).
    #[error("media interface {interface:?}: cannot bind a port (last tried {port}): {source}")]
    Bind {
        /// The interface.
        interface: String,
        /// The last port tried.
        port: u16,
        /// The last bind error.
        source: std::io::Error,
    },
    /// The worker's command ring is full; try again later.
    #[error("relay worker busy")]
    Busy,
    /// A worker thread could not take the configured real-time priority.
    #[error(
        "relay worker: cannot run under SCHED_FIFO at priority {priority}: {source} (needs \
         CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {priority})"
    )]
    Priority {
        /// The priority asked for.
        priority: u8,
        /// What `sched_setscheduler` said.
        source: std::io::Error,
    },
    /// A socket or thread could not be created.
    #[error("relay io: {0}")]
    Io(#[from] std::io::Error),
}

/// A call's media session handle, the key of the relay's session tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What the caller needs to describe one leg of a stream.
#[derive(Clone, Debug)]
pub struct LegSpec {
    /// Interface name the leg's ports are allocated on.
    pub interface: String,
    /// Whether the leg uses one port for RTP and RTCP (RFC 5761).
    pub rtcp_mux: bool,
    /// What signalling says of the remote side so far.
    pub signal: LegSignal,
}

/// Local ports of one leg, to write into SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalLeg {
    /// The local RTP address.
    pub rtp: SocketAddr,
    /// The local RTCP address (`None` with rtcp-mux).
    pub rtcp: Option<SocketAddr>,
}

/// An event for the B2BUA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// A leg latched onto its peer's address.
    Latched {
        /// The call.
        session: SessionId,
        /// Stream index within the call.
        stream: usize,
        /// 0 for A, 1 for B.
        leg: usize,
        /// The peer address.
        peer: SocketAddr,
    },
    /// Packets from a foreign source were dropped on a leg (RTP bleed attempt).
    SourceRejected {
        /// The call.
        session: SessionId,
        /// Stream index within the call.
        stream: usize,
        /// 0 for A, 1 for B.
        leg: usize,
        /// The rejected source.
        from: SocketAddr,
        /// Rejections so far.
        count: u64,
    },
    /// No media on any stream of the call for the inactivity timeout.
    Inactive {
        /// The call.
        session: SessionId,
        /// How long it has been quiet.
        idle: Duration,
    },
    /// The DTLS handshake of a leg finished; its SRTP keys are in place (RFC 5764 §4.2).
    DtlsConnected {
        /// The call.
        session: SessionId,
        /// Stream index within the call.
        stream: usize,
        /// 0 for A, 1 for B.
        leg: usize,
    },
    /// The DTLS handshake of a leg failed (fingerprint mismatch, no SRTP profile, timeout):
    /// the call cannot carry media and should end with `reason`.
    DtlsFailed {
        /// The call.
        session: SessionId,
        /// Stream index within the call.
        stream: usize,
        /// 0 for A, 1 for B.
        leg: usize,
        /// Why, for the call's end.
        reason: &'static str,
    },
    /// Every stream of a deleted session is closed; its final statistics wait in
    /// [`Relay::take_final_stats`](super::Relay::take_final_stats) (for CDRs).
    Closed {
        /// The call.
        session: SessionId,
    },
}

/// Totals for Prometheus, summed over workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayMetrics {
    /// The backend name (`io_uring` or `mmsg`).
    pub backend: &'static str,
    /// Datagrams forwarded.
    pub forwarded_packets: u64,
    /// Bytes forwarded.
    pub forwarded_bytes: u64,
    /// Drops by reason, in `DropReason::ALL` order.
    pub drops: [u64; DropReason::COUNT],
    /// Latch events.
    pub latch_events: u64,
    /// STUN requests answered on leg ports.
    pub stun_answered: u64,
    /// Worker loop turns.
    pub turns: u64,
    /// Worker CPU time, nanoseconds.
    pub cpu_ns: u64,
    /// Datagrams received.
    pub received: u64,
    /// Backend system calls.
    pub syscalls: u64,
    /// Sessions active.
    pub sessions: u64,
    /// Streams active.
    pub streams: u64,
    /// Connected twins open (leg sockets sending to a steady peer through a connected socket).
    pub twins: u64,
    /// Per interface: (name, ports in use, ports free).
    pub ports: Vec<(String, usize, usize)>,
    /// DTLS handshakes that gave SRTP keys (RFC 5764).
    pub dtls_connected: u64,
    /// DTLS handshakes that failed (fingerprint mismatch, no SRTP profile, timeout).
    pub dtls_failed: u64,
}
