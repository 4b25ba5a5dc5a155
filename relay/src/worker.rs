//! A relay worker thread: owns its sockets, its [`Forwarder`] and its IO backend, shares nothing on
//! the packet path, and talks to the control plane only through two lock-free SPSC rings (commands
//! in, events out) plus an eventfd that wakes it.

use crate::forward::{
    ForwardEvent, Forwarder, LegSignal, LegSockets, LegStats, SocketRole, StreamId,
};
use crate::io::{Backend, BackendStats};
use crate::latch::LatchConfig;
use ringbuf::traits::{Consumer, Producer};
use ringbuf::{HeapCons, HeapProd};
use std::collections::{HashMap, VecDeque};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most commands applied per loop turn, so a burst of signalling cannot stall forwarding.
const COMMANDS_PER_TURN: usize = 256;

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
        session: u64,
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
    /// Stop relaying a stream and close its sockets.
    RemoveStream {
        /// The stream.
        id: StreamId,
    },
    /// Stop the worker.
    Shutdown,
}

/// An event for the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerEvent {
    /// A latch or source-rejected event from the forwarder.
    Media {
        /// The call.
        session: u64,
        /// What happened.
        event: ForwardEvent,
    },
    /// A stream was removed and its sockets closed: its ports may be reused.
    Removed {
        /// The stream.
        id: StreamId,
        /// Its final statistics.
        stats: [LegStats; 2],
    },
    /// A command named a stream that does not exist (or a slot in use): a control-plane bug.
    CommandFailed {
        /// The stream.
        id: StreamId,
    },
    /// No accepted packet on any stream of the call for the inactivity timeout.
    Inactive {
        /// The call.
        session: u64,
        /// How long it has been quiet.
        idle: Duration,
    },
    /// Periodic statistics of one stream.
    Stats {
        /// The call.
        session: u64,
        /// The stream.
        id: StreamId,
        /// Both legs.
        stats: [LegStats; 2],
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
    pub drops: [AtomicU64; 6],
    /// Latch events.
    pub latch_events: AtomicU64,
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

/// The state a worker thread runs on.
pub struct Worker {
    backend: Box<dyn Backend>,
    commands: HeapCons<Command>,
    events: HeapProd<WorkerEvent>,
    backlog: VecDeque<WorkerEvent>,
    metrics: Arc<WorkerMetrics>,
    cfg: WorkerConfig,
    fwd: Forwarder,
    sockets: HashMap<u32, Box<[LegSocketsOwned; 2]>>,
    streams_by_session: HashMap<u64, Vec<StreamId>>,
    inactive_reported: HashMap<u64, Instant>,
}

impl Worker {
    /// A worker over a backend and its two rings.
    pub fn new(
        backend: Box<dyn Backend>,
        commands: HeapCons<Command>,
        events: HeapProd<WorkerEvent>,
        metrics: Arc<WorkerMetrics>,
        cfg: WorkerConfig,
    ) -> Self {
        Self {
            backend,
            commands,
            events,
            backlog: VecDeque::new(),
            metrics,
            cfg,
            fwd: Forwarder::new(cfg.latch),
            sockets: HashMap::new(),
            streams_by_session: HashMap::new(),
            inactive_reported: HashMap::new(),
        }
    }

    /// Runs the loop until a [`Command::Shutdown`].
    pub fn run(mut self) {
        let mut next_check = Instant::now() + self.check_period();
        loop {
            if self.apply_commands() {
                break;
            }
            let now = Instant::now();
            let timeout = next_check
                .saturating_duration_since(now)
                .min(Duration::from_millis(50));
            let fwd = &mut self.fwd;
            let mut turn_now: Option<Instant> = None;
            let result = self.backend.turn(timeout, &mut |token, from, data| {
                // One clock read per turn: the time the wait returned.
                let t = *turn_now.get_or_insert_with(Instant::now);
                fwd.on_packet(t, token, from, data).ok()
            });
            if let Err(e) = result {
                tracing::warn!("relay worker turn failed: {e}");
            }
            while let Some(e) = self.fwd.poll_event() {
                let session = match e {
                    ForwardEvent::Latched { id, .. } | ForwardEvent::SourceRejected { id, .. } => {
                        self.fwd.session_of(id).unwrap_or(0)
                    }
                };
                self.emit(WorkerEvent::Media { session, event: e });
            }
            let now = Instant::now();
            if now >= next_check {
                self.periodic(now);
                next_check = now + self.check_period();
            }
            self.flush_backlog();
            self.publish();
        }
        // Dropping `self` closes every socket.
    }

    fn check_period(&self) -> Duration {
        let mut p = Duration::from_millis(500);
        if !self.cfg.stats_interval.is_zero() {
            p = p.min(self.cfg.stats_interval);
        }
        p
    }

    /// Applies queued commands; returns true on shutdown.
    fn apply_commands(&mut self) -> bool {
        for _ in 0..COMMANDS_PER_TURN {
            let Some(cmd) = self.commands.try_pop() else {
                return false;
            };
            match cmd {
                Command::Shutdown => return true,
                Command::AddStream {
                    id,
                    session,
                    sockets,
                    signals,
                } => self.add_stream(id, session, sockets, signals),
                Command::UpdateStream { id, signals } => {
                    if self.fwd.update_stream(Instant::now(), id, signals).is_err() {
                        self.emit(WorkerEvent::CommandFailed { id });
                    }
                }
                Command::RemoveStream { id } => self.remove_stream(id),
            }
        }
        false
    }

    fn add_stream(
        &mut self,
        id: StreamId,
        session: u64,
        sockets: Box<[LegSocketsOwned; 2]>,
        signals: [LegSignal; 2],
    ) {
        let legs = [0, 1].map(|i| {
            let s = &sockets[i];
            (
                LegSockets {
                    rtp: s.rtp.as_raw_fd(),
                    rtcp: s.rtcp.as_ref().map(AsRawFd::as_raw_fd),
                },
                signals[i],
            )
        });
        if self
            .fwd
            .add_stream(Instant::now(), id, session, legs)
            .is_err()
        {
            self.emit(WorkerEvent::CommandFailed { id });
            return;
        }
        for (leg, s) in sockets.iter().enumerate() {
            let regs = [
                Some((s.rtp.as_raw_fd(), SocketRole::Rtp { leg })),
                s.rtcp
                    .as_ref()
                    .map(|r| (r.as_raw_fd(), SocketRole::Rtcp { leg })),
            ];
            for (fd, role) in regs.into_iter().flatten() {
                if let Err(e) = self.backend.register(fd, id.token(role)) {
                    tracing::warn!("relay: cannot register socket: {e}");
                }
            }
        }
        self.sockets.insert(id.slot, sockets);
        self.streams_by_session.entry(session).or_default().push(id);
    }

    fn remove_stream(&mut self, id: StreamId) {
        let session = self.fwd.session_of(id);
        match self.fwd.remove_stream(id) {
            Ok(stats) => {
                if let Some(sockets) = self.sockets.remove(&id.slot) {
                    for s in sockets.iter() {
                        let _ = self.backend.deregister(s.rtp.as_raw_fd());
                        if let Some(r) = &s.rtcp {
                            let _ = self.backend.deregister(r.as_raw_fd());
                        }
                    }
                }
                if let Some(session) = session {
                    if let Some(list) = self.streams_by_session.get_mut(&session) {
                        list.retain(|s| *s != id);
                        if list.is_empty() {
                            self.streams_by_session.remove(&session);
                            self.inactive_reported.remove(&session);
                        }
                    }
                }
                self.emit(WorkerEvent::Removed { id, stats });
            }
            Err(_) => self.emit(WorkerEvent::CommandFailed { id }),
        }
    }

    /// Inactivity checks and periodic statistics.
    fn periodic(&mut self, now: Instant) {
        let mut out = Vec::new();
        for (&session, ids) in &self.streams_by_session {
            let last = ids
                .iter()
                .filter_map(|id| self.fwd.last_activity(*id))
                .max();
            if let Some(last) = last {
                let idle = now.saturating_duration_since(last);
                let timeout = self.cfg.inactivity_timeout;
                if !timeout.is_zero()
                    && idle >= timeout
                    && self.inactive_reported.get(&session) != Some(&last)
                {
                    out.push(WorkerEvent::Inactive { session, idle });
                }
            }
            if !self.cfg.stats_interval.is_zero() {
                for id in ids {
                    if let Some(stats) = self.fwd.stream_stats(*id) {
                        out.push(WorkerEvent::Stats {
                            session,
                            id: *id,
                            stats,
                        });
                    }
                }
            }
        }
        for e in out {
            if let WorkerEvent::Inactive { session, .. } = e {
                // Report once per quiet period: remember the activity time it was reported for.
                if let Some(last) = self.streams_by_session.get(&session).and_then(|ids| {
                    ids.iter()
                        .filter_map(|id| self.fwd.last_activity(*id))
                        .max()
                }) {
                    self.inactive_reported.insert(session, last);
                }
            }
            self.emit(e);
        }
    }

    fn emit(&mut self, e: WorkerEvent) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(e);
            return;
        }
        if let Err(e) = self.events.try_push(e) {
            // The control plane is behind: keep the event (rare; allocation only here).
            if self.backlog.len() < 65_536 {
                self.backlog.push_back(e);
            } else {
                self.metrics.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn flush_backlog(&mut self) {
        while let Some(e) = self.backlog.pop_front() {
            if let Err(e) = self.events.try_push(e) {
                self.backlog.push_front(e);
                break;
            }
        }
    }

    fn publish(&self) {
        let m = &self.metrics;
        let t = self.fwd.totals();
        let b: BackendStats = self.backend.stats();
        m.forwarded_packets
            .store(t.forwarded_packets, Ordering::Relaxed);
        m.forwarded_bytes
            .store(t.forwarded_bytes, Ordering::Relaxed);
        for (slot, v) in m.drops.iter().zip(t.drops) {
            slot.store(v, Ordering::Relaxed);
        }
        m.latch_events.store(t.latch_events, Ordering::Relaxed);
        m.turns.store(b.turns, Ordering::Relaxed);
        m.received.store(b.received, Ordering::Relaxed);
        m.syscalls.store(b.syscalls, Ordering::Relaxed);
        m.send_errors.store(b.send_errors, Ordering::Relaxed);
        m.streams
            .store(self.sockets.len() as u64, Ordering::Relaxed);
        m.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    }
}

/// CPU time of the calling thread in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
                + u64::try_from(t.tv_nsec()).unwrap_or(0)
        })
        .unwrap_or(0)
}
