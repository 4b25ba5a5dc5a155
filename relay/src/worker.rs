//! A relay worker thread: owns its sockets, its [`Forwarder`] and its IO backend, shares nothing on
//! the packet path, and talks to the control plane only through two lock-free SPSC rings (commands
//! in, events out) plus an eventfd that wakes it.

use crate::api::SessionId;
use crate::forward::{
    ForwardEvent, Forwarder, LegSignal, LegSockets, LegStats, SocketRole, StreamId,
};
use crate::io::{Backend, BackendStats};
use crate::notify::Notify;
use crate::twin::Twins;
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most commands applied per loop turn, so a burst of signalling cannot stall forwarding.
const COMMANDS_PER_TURN: usize = 256;

mod messages;
pub use messages::{Command, LegSocketsOwned, WorkerConfig, WorkerEvent, WorkerMetrics};

/// The state a worker thread runs on.
pub struct Worker {
    backend: Box<dyn Backend>,
    core: Core,
}

/// A change to the backend's socket set that waits for the end of the current loop turn (the
/// backend is busy inside a turn, and commands may be applied there).
enum IoChange {
    /// Register a stream's sockets, with their tokens.
    Register(StreamId),
    /// Deregister a removed stream's sockets, then close them and report the removal.
    Deregister {
        /// The removed stream.
        id: StreamId,
        /// Its sockets, closed only after the backend let go of them.
        sockets: Box<[LegSocketsOwned; 2]>,
        /// Its final statistics.
        stats: Box<[LegStats; 2]>,
    },
}

/// Everything of a worker but its backend: the forwarder, the rings and the stream bookkeeping.
/// Kept apart so the packet handler, which runs inside a backend turn, can apply commands.
struct Core {
    commands: HeapCons<Command>,
    events: HeapProd<WorkerEvent>,
    backlog: VecDeque<WorkerEvent>,
    /// Wakes the control plane when an event it must act on is queued.
    notify: Arc<Notify>,
    metrics: Arc<WorkerMetrics>,
    cfg: WorkerConfig,
    fwd: Forwarder,
    sockets: HashMap<u32, Box<[LegSocketsOwned; 2]>>,
    streams_by_session: HashMap<SessionId, Vec<StreamId>>,
    inactive_reported: HashMap<SessionId, Instant>,
    /// Socket registrations and removals applied to the forwarder, waiting for the backend.
    io_changes: Vec<IoChange>,
    /// Connected twins of the leg sockets.
    twins: Twins,
    /// A [`Command::Shutdown`] was taken from the ring.
    shutdown: bool,
}

impl Worker {
    /// A worker over a backend and its two rings; `notify` wakes the control plane for events.
    pub fn new(
        backend: Box<dyn Backend>,
        commands: HeapCons<Command>,
        events: HeapProd<WorkerEvent>,
        notify: Arc<Notify>,
        metrics: Arc<WorkerMetrics>,
        cfg: WorkerConfig,
    ) -> Self {
        Self {
            backend,
            core: Core {
                commands,
                events,
                backlog: VecDeque::new(),
                notify,
                metrics,
                cfg,
                fwd: Forwarder::new(cfg.latch),
                sockets: HashMap::new(),
                streams_by_session: HashMap::new(),
                inactive_reported: HashMap::new(),
                io_changes: Vec::new(),
                twins: Twins::new(),
                shutdown: false,
            },
        }
    }

    /// Runs the loop until a [`Command::Shutdown`].
    pub fn run(mut self) {
        let mut next_check = Instant::now() + self.core.check_period();
        while !self.core.shutdown {
            let now = Instant::now();
            let timeout = next_check
                .saturating_duration_since(now)
                .min(Duration::from_millis(50));
            self.turn(timeout);
            let now = Instant::now();
            if now >= next_check {
                self.core.periodic(now);
                next_check = now + self.core.check_period();
            }
            self.core.flush_backlog();
            self.publish();
        }
        // Dropping `self` closes every socket.
    }

    /// One loop turn: pending commands, one backend turn (waiting up to `timeout`), then the
    /// socket changes and events it produced.
    ///
    /// A command queued while the backend waits or drains is applied before the next packet is
    /// handled, inside the turn: the control plane queues a stream's new remote address before
    /// its SIP answer goes out, so the first packet the answer provokes must already see it.
    fn turn(&mut self, timeout: Duration) {
        self.core.apply_commands(Instant::now());
        self.apply_io_changes();
        if self.core.shutdown {
            return;
        }
        let core = &mut self.core;
        let mut turn_now: Option<Instant> = None;
        let result = self.backend.turn(timeout, &mut |token, from, buf, len| {
            // One clock read per turn: the time the wait returned.
            let t = *turn_now.get_or_insert_with(Instant::now);
            if !core.commands.is_empty() {
                core.apply_commands(t);
            }
            let (f, out) = core.fwd.on_packet(t, token, from, buf, len).ok()?;
            Some((core.twins.route(f), out))
        });
        if let Err(e) = result {
            tracing::warn!("relay worker turn failed: {e}");
        }
        self.apply_io_changes();
        self.apply_twins();
        while let Some(e) = self.core.fwd.poll_event() {
            let session = match e {
                ForwardEvent::Latched { id, .. } | ForwardEvent::SourceRejected { id, .. } => {
                    self.core.fwd.session_of(id).map_or(SessionId(0), SessionId)
                }
            };
            self.core.emit(WorkerEvent::Media { session, event: e });
        }
        while let Some(d) = self.core.fwd.poll_dtls() {
            let session = self
                .core
                .fwd
                .session_of(d.id)
                .map_or(SessionId(0), SessionId);
            self.core.emit(WorkerEvent::Dtls {
                session,
                datagram: Box::new(d),
            });
        }
    }

    /// Registers the sockets of streams added and deregisters (then closes) those of streams
    /// removed since the last call, in command order.
    fn apply_io_changes(&mut self) {
        // Taken out (the loop needs `self`) and put back empty, keeping its capacity.
        let mut changes = std::mem::take(&mut self.core.io_changes);
        for change in changes.drain(..) {
            match change {
                IoChange::Register(id) => {
                    let Some(sockets) = self.core.sockets.get(&id.slot) else {
                        continue;
                    };
                    for (leg, s) in sockets.iter().enumerate() {
                        let regs = [
                            Some((&s.rtp, SocketRole::Rtp { leg })),
                            s.rtcp.as_ref().map(|r| (r, SocketRole::Rtcp { leg })),
                        ];
                        for (sock, role) in regs.into_iter().flatten() {
                            let token = id.token(role);
                            match self.backend.register(sock.as_raw_fd(), token) {
                                Ok(()) => self.core.twins.on_register(sock, token),
                                Err(e) => tracing::warn!("relay: cannot register socket: {e}"),
                            }
                        }
                    }
                }
                IoChange::Deregister { id, sockets, stats } => {
                    for s in sockets.iter() {
                        for fd in std::iter::once(s.rtp.as_raw_fd())
                            .chain(s.rtcp.as_ref().map(AsRawFd::as_raw_fd))
                        {
                            if let Some(twin) = self.core.twins.on_deregister(fd) {
                                let _ = self.backend.deregister(twin.socket.as_raw_fd());
                                drop(twin); // closed before the leg socket: the port is free
                            }
                            let _ = self.backend.deregister(fd);
                        }
                    }
                    drop(sockets); // closes them: the ports may be bound again
                    self.core.emit(WorkerEvent::Removed { id, stats });
                }
            }
        }
        self.core.io_changes = changes;
    }

    /// Opens or re-targets the connected twins the last turn asked for ([`crate::twin`]) and
    /// registers new ones under their leg socket's token. A twin that cannot be opened leaves
    /// its leg on the unconnected socket, which works the same, only slower.
    fn apply_twins(&mut self) {
        for p in self.core.twins.take_pending() {
            let (token, is_new) = (p.token, p.twin.is_none());
            let leg = self.core.leg_socket(token);
            // The leg socket shares its port from its first twin on.
            let shared = !is_new || leg.is_some_and(|leg| crate::twin::share_port(leg).is_ok());
            let mut s = match leg {
                Some(leg) if shared => p.connect(leg),
                _ => p.settled(Err(None)),
            };
            if let (true, Ok(twin)) = (is_new, &s.result) {
                if let Err(e) = self.backend.register(twin.socket.as_raw_fd(), token) {
                    tracing::debug!("relay: cannot register a connected twin: {e}");
                    s.result = Err(None);
                }
            }
            if let Err(None) = &s.result {
                tracing::debug!(
                    "relay: no connected twin for a leg socket sending to {}",
                    s.to
                );
            }
            self.core.twins.settle(s);
        }
    }

    fn publish(&self) {
        let c = &self.core;
        let m = &c.metrics;
        let t = c.fwd.totals();
        let b: BackendStats = self.backend.stats();
        m.forwarded_packets
            .store(t.forwarded_packets, Ordering::Relaxed);
        m.forwarded_bytes
            .store(t.forwarded_bytes, Ordering::Relaxed);
        for (slot, v) in m.drops.iter().zip(t.drops) {
            slot.store(v, Ordering::Relaxed);
        }
        m.latch_events.store(t.latch_events, Ordering::Relaxed);
        m.stun_answered.store(t.stun_answered, Ordering::Relaxed);
        m.turns.store(b.turns, Ordering::Relaxed);
        m.received.store(b.received, Ordering::Relaxed);
        m.syscalls.store(b.syscalls, Ordering::Relaxed);
        m.send_errors.store(b.send_errors, Ordering::Relaxed);
        m.streams.store(c.sockets.len() as u64, Ordering::Relaxed);
        m.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
        m.twins.store(c.twins.open() as u64, Ordering::Relaxed);
    }
}

impl Core {
    /// The leg socket registered under `token`.
    fn leg_socket(&self, token: u64) -> Option<&UdpSocket> {
        let (id, role) = StreamId::from_token(token);
        let legs = self.sockets.get(&id.slot)?;
        match role {
            SocketRole::Rtp { leg } => legs.get(leg).map(|l| &l.rtp),
            SocketRole::Rtcp { leg } => legs.get(leg).and_then(|l| l.rtcp.as_ref()),
        }
    }

    fn check_period(&self) -> Duration {
        let mut p = Duration::from_millis(500);
        if !self.cfg.stats_interval.is_zero() {
            p = p.min(self.cfg.stats_interval);
        }
        p
    }

    /// Applies queued commands to the forwarder (socket changes wait in `io_changes`); stops at
    /// a shutdown.
    fn apply_commands(&mut self, now: Instant) {
        for _ in 0..COMMANDS_PER_TURN {
            if self.shutdown {
                return;
            }
            let Some(cmd) = self.commands.try_pop() else {
                return;
            };
            match cmd {
                Command::Shutdown => self.shutdown = true,
                Command::AddStream {
                    id,
                    session,
                    sockets,
                    signals,
                } => self.add_stream(now, id, session, sockets, signals),
                Command::UpdateStream { id, signals } => {
                    if self.fwd.update_stream(now, id, signals).is_err() {
                        self.emit(WorkerEvent::CommandFailed { id });
                    }
                }
                Command::SetCrypto {
                    id,
                    leg,
                    inbound,
                    outbound,
                } => {
                    if self.fwd.set_crypto(id, leg, inbound, outbound).is_err() {
                        self.emit(WorkerEvent::CommandFailed { id });
                    }
                }
                Command::SetIce { id, leg, params } => {
                    if self.fwd.set_ice(id, leg, params.map(|p| *p)).is_err() {
                        self.emit(WorkerEvent::CommandFailed { id });
                    }
                }
                Command::SetDtls { id, leg, on } => {
                    if self.fwd.set_dtls(id, leg, on).is_err() {
                        self.emit(WorkerEvent::CommandFailed { id });
                    }
                }
                Command::SetBundle {
                    owner,
                    leg,
                    members,
                } => {
                    if self.fwd.set_bundle(owner, leg, &members).is_err() {
                        self.emit(WorkerEvent::CommandFailed { id: owner });
                    }
                }
                Command::SendDtls {
                    id,
                    leg,
                    rtcp,
                    to,
                    data,
                } => self.send_dtls(id, leg, rtcp, to, &data),
                Command::RemoveStream { id } => self.remove_stream(id),
            }
        }
    }

    fn add_stream(
        &mut self,
        now: Instant,
        id: StreamId,
        session: SessionId,
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
        if self.fwd.add_stream(now, id, session.0, legs).is_err() {
            self.emit(WorkerEvent::CommandFailed { id });
            return;
        }
        self.sockets.insert(id.slot, sockets);
        self.io_changes.push(IoChange::Register(id));
        self.streams_by_session.entry(session).or_default().push(id);
    }

    /// Sends a handshake datagram from a live stream's leg socket (non-blocking; a full socket
    /// buffer loses it, and DTLS resends).
    fn send_dtls(&mut self, id: StreamId, leg: usize, rtcp: bool, to: SocketAddr, data: &[u8]) {
        if self.fwd.session_of(id).is_none() {
            return;
        }
        let Some(legs) = self.sockets.get(&id.slot) else {
            return;
        };
        let Some(l) = legs.get(leg) else {
            return;
        };
        let socket = match (rtcp, &l.rtcp) {
            (true, Some(s)) => s,
            _ => &l.rtp,
        };
        if let Err(e) = socket.send_to(data, to) {
            tracing::debug!("relay: DTLS datagram not sent: {e}");
        }
    }

    fn remove_stream(&mut self, id: StreamId) {
        let session = self.fwd.session_of(id).map(SessionId);
        match self.fwd.remove_stream(id) {
            Ok(stats) => {
                if let Some(sockets) = self.sockets.remove(&id.slot) {
                    self.io_changes.push(IoChange::Deregister {
                        id,
                        sockets,
                        stats: Box::new(stats),
                    });
                } else {
                    self.emit(WorkerEvent::Removed {
                        id,
                        stats: Box::new(stats),
                    });
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
                            stats: Box::new(stats),
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
        let urgent = !matches!(e, WorkerEvent::Stats { .. });
        match self.events.try_push(e) {
            Ok(()) => {
                if urgent {
                    self.notify.signal();
                }
            }
            Err(e) => self.keep(e),
        }
    }

    /// Keeps an event the ring had no room for.
    fn keep(&mut self, e: WorkerEvent) {
        // The control plane is behind: keep the event (rare; allocation only here).
        if self.backlog.len() < 65_536 {
            self.backlog.push_back(e);
        } else {
            self.metrics.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush_backlog(&mut self) {
        let mut pushed = false;
        while let Some(e) = self.backlog.pop_front() {
            if let Err(e) = self.events.try_push(e) {
                self.backlog.push_front(e);
                break;
            }
            pushed = true;
        }
        if pushed {
            self.notify.signal();
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Forward;
    use crate::latch::LatchConfig;
    use ringbuf::traits::Split;
    use ringbuf::{HeapCons, HeapRb};
    use std::net::SocketAddr;
    use std::os::fd::RawFd;
    use std::sync::Mutex;

    /// What the scripted backend saw and did.
    #[derive(Default)]
    struct Log {
        registered: Vec<RawFd>,
        deregistered: Vec<RawFd>,
        forwards: Vec<Option<Forward>>,
    }

    /// A backend driven by the test: each turn first runs `before_packets` (standing in for the
    /// control plane, which runs concurrently with the worker's wait), then hands the handler the
    /// scripted datagrams.
    struct Scripted {
        log: Arc<Mutex<Log>>,
        #[allow(clippy::type_complexity)]
        turns: VecDeque<(Box<dyn FnOnce() + Send>, Vec<(RawFd, SocketAddr, Vec<u8>)>)>,
        tokens: HashMap<RawFd, u64>,
    }

    impl Backend for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn register(&mut self, fd: RawFd, token: u64) -> std::io::Result<()> {
            self.tokens.insert(fd, token);
            self.log.lock().unwrap().registered.push(fd);
            Ok(())
        }
        fn deregister(&mut self, fd: RawFd) -> std::io::Result<()> {
            self.tokens.remove(&fd);
            self.log.lock().unwrap().deregistered.push(fd);
            Ok(())
        }
        fn turn(
            &mut self,
            _timeout: Duration,
            handler: &mut crate::io::Handler<'_>,
        ) -> std::io::Result<usize> {
            let Some((before, packets)) = self.turns.pop_front() else {
                return Ok(0);
            };
            before();
            let n = packets.len();
            for (fd, from, data) in packets {
                let token = self.tokens[&fd];
                let mut buf = data.clone();
                let len = buf.len();
                buf.resize(crate::io::MAX_DATAGRAM, 0);
                let f = handler(token, from, &mut buf, len).map(|(f, n)| {
                    assert_eq!(n, len, "plain forwarding keeps the length");
                    f
                });
                self.log.lock().unwrap().forwards.push(f);
            }
            Ok(n)
        }
        fn wake_fd(&self) -> RawFd {
            -1
        }
        fn stats(&self) -> BackendStats {
            BackendStats::default()
        }
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0u8; 160]);
        p
    }

    fn sockets() -> Box<[LegSocketsOwned; 2]> {
        let leg = || LegSocketsOwned {
            rtp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            rtcp: Some(UdpSocket::bind("127.0.0.1:0").unwrap()),
        };
        Box::new([leg(), leg()])
    }

    const A_PHONE: &str = "127.0.0.1:4000";
    const ID: StreamId = StreamId { slot: 0, gen: 1 };

    /// A worker on a scripted backend, run for two turns. Turn 1 adds one stream (leg A's phone
    /// at [`A_PHONE`] in its SDP, leg B not signalled yet). In turn 2 `control` queues commands
    /// while the worker waits, as the control plane does concurrently, then A's phone sends one
    /// RTP packet. Returns what the backend saw, the event ring, the worker and leg B's RTP fd.
    fn two_turns(
        control: impl FnOnce(&mut HeapProd<Command>) + Send + 'static,
    ) -> (Arc<Mutex<Log>>, HeapCons<WorkerEvent>, Worker, RawFd) {
        let (prod, cons) = HeapRb::<Command>::new(16).split();
        let prod = Arc::new(Mutex::new(prod));
        let (eprod, econs) = HeapRb::<WorkerEvent>::new(16).split();
        let log = Arc::new(Mutex::new(Log::default()));
        let a_phone: SocketAddr = A_PHONE.parse().unwrap();
        let socks = sockets();
        let (a_rtp, b_rtp) = (socks[0].rtp.as_raw_fd(), socks[1].rtp.as_raw_fd());
        let p2 = prod.clone();
        let backend = Scripted {
            log: log.clone(),
            turns: VecDeque::from([
                (Box::new(|| {}) as Box<dyn FnOnce() + Send>, vec![]),
                (
                    Box::new(move || control(&mut p2.lock().unwrap())),
                    vec![(a_rtp, a_phone, rtp(1))],
                ),
            ]),
            tokens: HashMap::new(),
        };
        let mut w = Worker::new(
            Box::new(backend),
            cons,
            eprod,
            Notify::new().unwrap(),
            Arc::new(WorkerMetrics::default()),
            WorkerConfig {
                latch: LatchConfig::default(),
                inactivity_timeout: Duration::ZERO,
                stats_interval: Duration::ZERO,
            },
        );
        let a = LegSignal {
            remote_rtp: Some(a_phone),
            ..LegSignal::default()
        };
        assert!(prod
            .lock()
            .unwrap()
            .try_push(Command::AddStream {
                id: ID,
                session: SessionId(7),
                sockets: socks,
                signals: [a, LegSignal::default()],
            })
            .is_ok());
        w.turn(Duration::ZERO);
        assert_eq!(log.lock().unwrap().registered.len(), 4);
        w.turn(Duration::ZERO);
        (log, econs, w, b_rtp)
    }

    #[test]
    fn a_command_queued_during_a_turn_is_applied_before_the_next_packet_is_handled() {
        let b_phone: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        // The control plane learns B's address from the answer and queues it; the answer then
        // makes A's phone send its first packet.
        let (log, _events, _w, b_rtp) = two_turns(move |p| {
            let b = LegSignal {
                remote_rtp: Some(b_phone),
                ..LegSignal::default()
            };
            let update = Command::UpdateStream {
                id: ID,
                signals: [None, Some(b)],
            };
            assert!(p.try_push(update).is_ok());
        });
        assert_eq!(
            log.lock().unwrap().forwards,
            vec![Some(Forward::to(b_rtp, b_phone))],
            "the first packet after the answer goes to the answer's address"
        );
    }

    #[test]
    fn a_stream_removed_inside_a_turn_is_deregistered_before_its_removal_is_reported() {
        let (log, mut events, w, _) = two_turns(|p| {
            assert!(p.try_push(Command::RemoveStream { id: ID }).is_ok());
        });
        let l = log.lock().unwrap();
        // The packet after the removal finds no stream; the sockets were let go of after the
        // turn, and only then was the removal (ports free again) reported.
        assert_eq!(l.forwards, vec![None]);
        assert_eq!(l.deregistered.len(), 4);
        let removed = std::iter::from_fn(|| events.try_pop())
            .filter(|e| matches!(e, WorkerEvent::Removed { id, .. } if *id == ID))
            .count();
        assert_eq!(removed, 1);
        assert!(w.core.sockets.is_empty());
    }
}
