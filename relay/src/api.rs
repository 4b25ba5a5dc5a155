//! The control-plane API the B2BUA programs the relay with.
//!
//! [`Relay::add_stream`] allocates ports and binds sockets synchronously, so the caller can rewrite
//! SDP at once; everything else travels as commands over lock-free SPSC rings to the worker that
//! owns the call, and comes back as events from [`Relay::poll_event`]. Nothing here blocks on a
//! worker: a full command ring is an error to the caller ([`RelayError::Busy`]).

use crate::forward::{ForwardEvent, IceParams, LegSignal, LegStats, Rekey, StreamId};
use crate::notify::{Notifier, Notify};
use crate::ports::PortPool;
use crate::srtp::Context;
use crate::worker::{Command, LegSocketsOwned, WorkerEvent};
use ringbuf::traits::{Consumer, Producer};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

mod dtls;
mod host;
mod types;
mod workers;
pub use crate::dtls::{DtlsRole, Fingerprint};
pub use dtls::DtlsParams;
use dtls::{DtlsAction, DtlsLegs};
use host::{bind_pair, wake};
pub use host::{raise_open_file_limit, set_fifo_priority};
pub use types::{
    InterfaceConfig, KeyChange, LegSpec, LocalLeg, RelayConfig, RelayError, RelayEvent,
    RelayMetrics, SessionId,
};
use workers::{spawn_worker, stop_workers, WorkerHandle};

pub(super) const COMMAND_RING: usize = 4096;
pub(super) const EVENT_RING: usize = 16_384;
/// Ports tried per leg before giving up when the OS refuses a bind (port taken by someone else).
const BIND_ATTEMPTS: usize = 8;
/// The media sockets' receive buffer when the configuration does not say otherwise.
pub const DEFAULT_RECV_BUFFER: usize = 256 * 1024;

/// What the control plane remembers of a worker slot: its call, stream index, and the ports to
/// release per leg (interface index, RTP port) once the worker has closed the sockets.
pub(super) struct SlotInfo {
    session: SessionId,
    stream: usize,
    ports: [(usize, u16); 2],
}

struct Session {
    worker: usize,
    streams: Vec<Option<StreamId>>,
    stats: Vec<[LegStats; 2]>,
}

/// A deleted session whose streams the worker has not all closed yet, then its final
/// statistics until the caller takes them.
struct Closing {
    stats: Vec<[LegStats; 2]>,
    open: usize,
}

/// Deleted sessions kept for their final statistics; beyond this many, the finished ones whose
/// statistics were never taken are forgotten.
const MAX_CLOSED: usize = 4096;

struct Interface {
    cfg: InterfaceConfig,
    pool: PortPool,
}

/// The relay as the B2BUA sees it: port allocation, sessions, and the rings to the workers.
pub struct Relay {
    interfaces: Vec<Interface>,
    workers: Vec<WorkerHandle>,
    sessions: HashMap<SessionId, Session>,
    /// Deleted sessions, until their final statistics are taken.
    closing: HashMap<SessionId, Closing>,
    /// Deleted sessions that had no stream, for [`RelayEvent::Closed`].
    closed: std::collections::VecDeque<SessionId>,
    next_session: SessionId,
    backend: &'static str,
    recv_buffer: usize,
    /// The eventfd the workers wake the control plane with.
    notify: Arc<Notify>,
    /// DTLS handshakes of the legs the relay terminates DTLS on.
    dtls: Box<DtlsLegs>,
    /// Their outcomes, for the B2BUA.
    dtls_events: std::collections::VecDeque<RelayEvent>,
    /// Handshakes connected and failed so far.
    dtls_outcomes: [u64; 2],
}

impl Relay {
    /// Starts the worker threads and builds the port pools.
    pub fn start(cfg: RelayConfig) -> Result<Self, RelayError> {
        let mut interfaces = Vec::new();
        for (i, ic) in cfg.interfaces.iter().enumerate() {
            let pool = PortPool::new(ic.port_min, ic.port_max, cfg.seed ^ (i as u64) << 17)
                .map_err(|source| RelayError::Ports {
                    interface: ic.name.clone(),
                    source,
                })?;
            interfaces.push(Interface {
                cfg: ic.clone(),
                pool,
            });
        }
        let n = if cfg.workers == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            cfg.workers
        };
        let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .map_err(std::io::Error::from)?;
        for &c in &cfg.worker_cpus {
            if !allowed.is_set(c).unwrap_or(false) {
                return Err(RelayError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("worker_cpus: CPU {c} is not one this process may run on"),
                )));
            }
        }
        let mut workers = Vec::new();
        let mut backend_name = "";
        let notify = Notify::new()?;
        for w in 0..n {
            match spawn_worker(&cfg, w, &notify) {
                Ok((handle, name)) => {
                    backend_name = name;
                    workers.push(handle);
                }
                Err(e) => {
                    stop_workers(&mut workers);
                    return Err(e);
                }
            }
        }
        Ok(Self {
            interfaces,
            workers,
            sessions: HashMap::new(),
            closing: HashMap::new(),
            closed: std::collections::VecDeque::new(),
            next_session: SessionId(1),
            backend: backend_name,
            recv_buffer: cfg.recv_buffer,
            notify,
            dtls: Box::new(DtlsLegs::new()),
            dtls_events: std::collections::VecDeque::new(),
            dtls_outcomes: [0; 2],
        })
    }

    /// The workers' wake-up: readable when an event waits in [`Relay::poll_event`]; clear it
    /// before draining the events (statistics alone never make it readable).
    pub fn notifier(&self) -> Notifier {
        Notifier(self.notify.clone())
    }

    /// The backend the workers run.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Creates a media session for a call; its streams all live on one worker.
    pub fn create_session(&mut self) -> SessionId {
        let id = self.next_session;
        self.next_session.0 += 1;
        let worker = (id.0 as usize) % self.workers.len().max(1);
        self.sessions.insert(
            id,
            Session {
                worker,
                streams: Vec::new(),
                stats: Vec::new(),
            },
        );
        id
    }

    /// Adds a media stream with two legs; returns each leg's local addresses for the SDP.
    pub fn add_stream(
        &mut self,
        session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError> {
        let worker_idx = self
            .sessions
            .get(&session)
            .ok_or(RelayError::UnknownSession(session))?
            .worker;
        let mut bound: Vec<(usize, u16, LegSocketsOwned, LocalLeg)> = Vec::with_capacity(2);
        for spec in &legs {
            match self.bind_leg(spec) {
                Ok(b) => bound.push(b),
                Err(e) => {
                    for (iface, port, _, _) in bound {
                        self.release_port(iface, port);
                    }
                    return Err(e);
                }
            }
        }
        let (Some(b), Some(a)) = (bound.pop(), bound.pop()) else {
            return Err(RelayError::Busy);
        };
        let local = [a.3, b.3];
        let ports = [(a.0, a.1), (b.0, b.1)];
        let w = self
            .workers
            .get_mut(worker_idx)
            .ok_or(RelayError::UnknownSession(session))?;
        let slot = w.free_slots.pop().unwrap_or_else(|| {
            w.next_slot += 1;
            w.next_slot - 1
        });
        if w.gens.len() <= slot as usize {
            w.gens.resize(slot as usize + 1, 0);
        }
        let gen = w.gens.get(slot as usize).copied().unwrap_or(0);
        let id = StreamId { slot, gen };
        let cmd = Command::AddStream {
            id,
            session,
            sockets: Box::new([a.2, b.2]),
            signals: [legs[0].signal, legs[1].signal],
        };
        if w.commands.try_push(cmd).is_err() {
            w.free_slots.push(slot);
            for (iface, port) in ports {
                self.release_port(iface, port);
            }
            return Err(RelayError::Busy);
        }
        wake(&w.wake);
        let sess = self
            .sessions
            .get_mut(&session)
            .ok_or(RelayError::UnknownSession(session))?;
        let index = sess.streams.len();
        // Most sessions have one stream: no spare slots (a pair of statistics is ~500 bytes).
        sess.streams.reserve_exact(1);
        sess.streams.push(Some(id));
        sess.stats.reserve_exact(1);
        sess.stats.push([LegStats::default(); 2]);
        w.slots.insert(
            slot,
            SlotInfo {
                session,
                stream: index,
                ports,
            },
        );
        Ok((index, local))
    }

    fn bind_leg(
        &mut self,
        spec: &LegSpec,
    ) -> Result<(usize, u16, LegSocketsOwned, LocalLeg), RelayError> {
        let iface_idx = self
            .interfaces
            .iter()
            .position(|i| i.cfg.name == spec.interface)
            .ok_or_else(|| RelayError::UnknownInterface(spec.interface.clone()))?;
        let mut last_err = None;
        let mut last_port = 0;
        for _ in 0..BIND_ATTEMPTS {
            let iface = self
                .interfaces
                .get_mut(iface_idx)
                .ok_or_else(|| RelayError::UnknownInterface(spec.interface.clone()))?;
            let port = iface.pool.allocate().map_err(|source| RelayError::Ports {
                interface: iface.cfg.name.clone(),
                source,
            })?;
            let ip = iface.cfg.address;
            match bind_pair(ip, port, spec.rtcp_mux, self.recv_buffer) {
                Ok((sockets, local)) => return Ok((iface_idx, port, sockets, local)),
                Err(e) => {
                    // Someone else holds the port: keep it out of circulation for now by releasing
                    // it to the back of the queue, and try the next one.
                    let _ = iface.pool.release(port);
                    last_err = Some(e);
                    last_port = port;
                }
            }
        }
        Err(RelayError::Bind {
            interface: spec.interface.clone(),
            port: last_port,
            source: last_err.unwrap_or_else(|| std::io::Error::other("no bindable port")),
        })
    }

    fn release_port(&mut self, iface: usize, port: u16) {
        if let Some(i) = self.interfaces.get_mut(iface) {
            let _ = i.pool.release(port);
        }
    }

    /// New signalling for one or both legs of a stream (offer/answer, hold/resume, re-INVITE).
    pub fn update_stream(
        &mut self,
        session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError> {
        let (wi, id) = self.locate(session, stream)?;
        let w = self
            .workers
            .get_mut(wi)
            .ok_or(RelayError::UnknownSession(session))?;
        w.commands
            .try_push(Command::UpdateStream { id, signals })
            .map_err(|_| RelayError::Busy)?;
        wake(&w.wake);
        Ok(())
    }

    /// New SRTP keys for leg `leg` (0 = A, 1 = B) of a stream: what its peer sends with
    /// (`inbound`) and what the relay sends it with (`outbound`); the session keys are derived
    /// here, off the packet path (RFC 3711 §4.3, RFC 4568 §7).
    pub fn set_crypto(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: usize,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError> {
        let (wi, id) = self.locate(session, stream)?;
        let w = self
            .workers
            .get_mut(wi)
            .ok_or(RelayError::UnknownSession(session))?;
        let cmd = Command::SetCrypto {
            id,
            leg: leg & 1,
            inbound: inbound.into_rekey(),
            outbound: outbound.into_rekey(),
        };
        w.commands.try_push(cmd).map_err(|_| RelayError::Busy)?;
        wake(&w.wake);
        Ok(())
    }

    /// ICE-lite on leg `leg` (0 = A, 1 = B) of a stream: the SBC's ufrag and password there and
    /// the peer's ufrag, or `None` for a leg without ICE (RFC 8445 §2.5).
    pub fn set_ice(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: usize,
        params: Option<IceParams>,
    ) -> Result<(), RelayError> {
        let (wi, id) = self.locate(session, stream)?;
        let w = self
            .workers
            .get_mut(wi)
            .ok_or(RelayError::UnknownSession(session))?;
        let cmd = Command::SetIce {
            id,
            leg: leg & 1,
            params: params.map(Box::new),
        };
        w.commands.try_push(cmd).map_err(|_| RelayError::Busy)?;
        wake(&w.wake);
        Ok(())
    }

    /// The worker and stream id of stream `stream` of a session.
    fn locate(&self, session: SessionId, stream: usize) -> Result<(usize, StreamId), RelayError> {
        let sess = self
            .sessions
            .get(&session)
            .ok_or(RelayError::UnknownSession(session))?;
        let id = sess
            .streams
            .get(stream)
            .copied()
            .flatten()
            .ok_or(RelayError::UnknownStream(session, stream))?;
        Ok((sess.worker, id))
    }

    /// The fingerprint of the relay's DTLS certificate, for `a=fingerprint` on WebRTC legs
    /// (RFC 8122 §5); `None` when the relay could not make one (such legs are then refused).
    pub fn dtls_fingerprint(&self) -> Option<Fingerprint> {
        self.dtls.fingerprint()
    }

    /// Makes the relay the DTLS endpoint of leg `leg` (0 = A, 1 = B) of a stream, in `role`,
    /// taking only a peer certificate with the given fingerprint, or (`None`) stops it
    /// (RFC 5763 §5). The handshake's keys become the leg's SRTP keys both ways (RFC 5764
    /// §4.2); [`RelayEvent::DtlsConnected`] or [`RelayEvent::DtlsFailed`] tells the outcome.
    pub fn set_dtls(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: usize,
        params: Option<DtlsParams>,
    ) -> Result<(), RelayError> {
        let (wi, id) = self.locate(session, stream)?;
        let leg = leg & 1;
        let (toggle, actions) = self
            .dtls
            .set((wi, id, leg), session, stream, params)
            .map_err(|e| RelayError::Io(std::io::Error::other(e.to_string())))?;
        if let Some(on) = toggle {
            let w = self
                .workers
                .get_mut(wi)
                .ok_or(RelayError::UnknownSession(session))?;
            w.commands
                .try_push(Command::SetDtls { id, leg, on })
                .map_err(|_| RelayError::Busy)?;
            wake(&w.wake);
        }
        self.apply_dtls(actions);
        Ok(())
    }

    /// Makes leg `leg` (0 = A, 1 = B) of stream `owner` carry, on that side, the media of the
    /// session's streams `members` too, each known by its RTP payload types (RFC 8843 BUNDLE):
    /// their packets share `owner`'s ports, ICE and DTLS-SRTP there. Empty: no bundle.
    pub fn set_bundle(
        &mut self,
        session: SessionId,
        owner: usize,
        leg: usize,
        members: &[(usize, Vec<u8>)],
    ) -> Result<(), RelayError> {
        let (wi, owner_id) = self.locate(session, owner)?;
        let mut list = Vec::with_capacity(members.len());
        for (stream, pts) in members {
            let (_, id) = self.locate(session, *stream)?;
            list.push((id, crate::forward::payload_mask(pts)));
        }
        let w = self
            .workers
            .get_mut(wi)
            .ok_or(RelayError::UnknownSession(session))?;
        let cmd = Command::SetBundle {
            owner: owner_id,
            leg: leg & 1,
            members: list.into_boxed_slice(),
        };
        w.commands.try_push(cmd).map_err(|_| RelayError::Busy)?;
        wake(&w.wake);
        Ok(())
    }

    /// Carries out what the handshakes asked for.
    fn apply_dtls(&mut self, actions: Vec<DtlsAction>) {
        for a in actions {
            let (wi, cmd) = match a {
                DtlsAction::Event(e) => {
                    match e {
                        RelayEvent::DtlsConnected { .. } => self.dtls_outcomes[0] += 1,
                        RelayEvent::DtlsFailed { .. } => self.dtls_outcomes[1] += 1,
                        _ => {}
                    }
                    self.dtls_events.push_back(e);
                    continue;
                }
                DtlsAction::Send {
                    worker,
                    id,
                    leg,
                    rtcp,
                    to,
                    data,
                } => (
                    worker,
                    Command::SendDtls {
                        id,
                        leg,
                        rtcp,
                        to,
                        data,
                    },
                ),
                DtlsAction::Keys {
                    worker,
                    id,
                    leg,
                    keys,
                } => (
                    worker,
                    Command::SetCrypto {
                        id,
                        leg,
                        inbound: Rekey::Key(Box::new(Context::new(keys.suite, &keys.inbound))),
                        outbound: Rekey::Key(Box::new(Context::new(keys.suite, &keys.outbound))),
                    },
                ),
            };
            if let Some(w) = self.workers.get_mut(wi) {
                if w.commands.try_push(cmd).is_err() {
                    tracing::warn!("relay: command ring full, a DTLS step is lost");
                }
                wake(&w.wake);
            }
        }
    }

    /// Ends a session: its streams stop and their ports return to the pools once the worker has
    /// closed the sockets.
    pub fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        let sess = self
            .sessions
            .remove(&session)
            .ok_or(RelayError::UnknownSession(session))?;
        self.dtls.remove_session(session);
        let open = sess.streams.iter().flatten().count();
        if self.closing.len() >= MAX_CLOSED {
            // Nobody takes the final statistics: forget the finished ones instead of growing.
            self.closing.retain(|_, c| c.open > 0);
        }
        self.closing.insert(
            session,
            Closing {
                stats: sess.stats,
                open,
            },
        );
        if open == 0 {
            // Nothing for a worker to close: Closed is ready at the caller's next poll, and no
            // worker is woken (a call without media costs the relay no system call).
            self.closed.push_back(session);
            return Ok(());
        }
        let w = self
            .workers
            .get_mut(sess.worker)
            .ok_or(RelayError::UnknownSession(session))?;
        for id in sess.streams.into_iter().flatten() {
            // A full ring here would leak the stream; ring capacity is far above what one call
            // needs, so report it as busy after queueing what fits.
            w.commands
                .try_push(Command::RemoveStream { id })
                .map_err(|_| RelayError::Busy)?;
        }
        wake(&w.wake);
        Ok(())
    }

    /// The final statistics of a deleted session's streams (by stream index, both legs), once
    /// [`RelayEvent::Closed`] has been reported for it; each session's are given out once.
    pub fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>> {
        self.closing.get(&session).filter(|c| c.open == 0)?;
        self.closing.remove(&session).map(|c| c.stats)
    }

    /// The latest statistics of a session's streams (refreshed every stats interval).
    pub fn session_stats(&self, session: SessionId) -> Option<&[[LegStats; 2]]> {
        self.sessions.get(&session).map(|s| s.stats.as_slice())
    }

    /// Drains worker events, doing the relay's own bookkeeping, and returns the next event for the
    /// B2BUA, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        if let Some(session) = self.closed.pop_front() {
            return Some(RelayEvent::Closed { session });
        }
        if self.dtls.len() > 0 {
            let actions = self.dtls.tick(Instant::now());
            self.apply_dtls(actions);
        }
        if let Some(e) = self.dtls_events.pop_front() {
            return Some(e);
        }
        for wi in 0..self.workers.len() {
            while let Some(ev) = self.workers.get_mut(wi).and_then(|w| w.events.try_pop()) {
                if let Some(out) = self.handle_worker_event(wi, ev) {
                    return Some(out);
                }
                if let Some(e) = self.dtls_events.pop_front() {
                    return Some(e);
                }
            }
        }
        None
    }

    fn handle_worker_event(&mut self, wi: usize, ev: WorkerEvent) -> Option<RelayEvent> {
        match ev {
            WorkerEvent::Dtls { session, datagram } => {
                if self.sessions.contains_key(&session) {
                    let actions = self.dtls.on_datagram(wi, &datagram);
                    self.apply_dtls(actions);
                }
                None
            }
            WorkerEvent::Removed { id, .. } | WorkerEvent::CommandFailed { id } => {
                let w = self.workers.get_mut(wi)?;
                let info = w.slots.remove(&id.slot)?;
                if let Some(g) = w.gens.get_mut(id.slot as usize) {
                    *g = g.wrapping_add(1) & 0x00ff_ffff;
                }
                w.free_slots.push(id.slot);
                for (iface, port) in info.ports {
                    self.release_port(iface, port);
                }
                let c = self.closing.get_mut(&info.session)?;
                if let (WorkerEvent::Removed { stats, .. }, Some(slot)) =
                    (ev, c.stats.get_mut(info.stream))
                {
                    *slot = *stats;
                }
                c.open = c.open.saturating_sub(1);
                (c.open == 0).then_some(RelayEvent::Closed {
                    session: info.session,
                })
            }
            WorkerEvent::Stats { session, id, stats } => {
                let index = self.stream_index(wi, id)?;
                if let Some(slot) = self
                    .sessions
                    .get_mut(&session)
                    .and_then(|s| s.stats.get_mut(index))
                {
                    *slot = *stats;
                }
                None
            }
            WorkerEvent::Inactive { session, idle } => self
                .sessions
                .contains_key(&session)
                .then_some(RelayEvent::Inactive { session, idle }),
            WorkerEvent::Media { session, event } => match event {
                ForwardEvent::Latched {
                    id,
                    leg,
                    peer,
                    rtcp,
                } => {
                    let stream = self.stream_index(wi, id)?;
                    let actions = self.dtls.on_latched((wi, id, leg), rtcp, peer);
                    self.apply_dtls(actions);
                    Some(RelayEvent::Latched {
                        session,
                        stream,
                        leg,
                        peer,
                    })
                }
                ForwardEvent::SourceRejected {
                    id,
                    leg,
                    from,
                    count,
                } => {
                    let stream = self.stream_index(wi, id)?;
                    Some(RelayEvent::SourceRejected {
                        session,
                        stream,
                        leg,
                        from,
                        count,
                    })
                }
            },
        }
    }

    fn stream_index(&self, wi: usize, id: StreamId) -> Option<usize> {
        self.workers
            .get(wi)?
            .slots
            .get(&id.slot)
            .filter(|s| self.sessions.contains_key(&s.session))
            .map(|s| s.stream)
    }

    /// Totals for Prometheus.
    pub fn metrics(&self) -> RelayMetrics {
        let mut m = RelayMetrics {
            backend: self.backend,
            sessions: self.sessions.len() as u64,
            dtls_connected: self.dtls_outcomes[0],
            dtls_failed: self.dtls_outcomes[1],
            ..RelayMetrics::default()
        };
        for w in &self.workers {
            let x = &w.metrics;
            m.forwarded_packets += x.forwarded_packets.load(Ordering::Relaxed);
            m.forwarded_bytes += x.forwarded_bytes.load(Ordering::Relaxed);
            for (d, s) in m.drops.iter_mut().zip(&x.drops) {
                *d += s.load(Ordering::Relaxed);
            }
            m.latch_events += x.latch_events.load(Ordering::Relaxed);
            m.stun_answered += x.stun_answered.load(Ordering::Relaxed);
            m.turns += x.turns.load(Ordering::Relaxed);
            m.cpu_ns += x.cpu_ns.load(Ordering::Relaxed);
            m.received += x.received.load(Ordering::Relaxed);
            m.syscalls += x.syscalls.load(Ordering::Relaxed);
            m.streams += x.streams.load(Ordering::Relaxed);
            m.twins += x.twins.load(Ordering::Relaxed);
        }
        m.ports = self
            .interfaces
            .iter()
            .map(|i| (i.cfg.name.clone(), i.pool.in_use(), i.pool.free()))
            .collect();
        m
    }

    /// Stops the workers and waits for them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        stop_workers(&mut self.workers);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}
