//! The driver: with [`crate::ops::admin`], the one place besides the binary with sockets and clocks.
//! It binds the [`Endpoint`]'s listen addresses, starts the relay the endpoint's call core
//! programs, and runs one tokio task that feeds the endpoint inputs stamped with `now` and
//! executes its outputs; stream connections run in tasks of their own (`driver/stream.rs`) that
//! only move bytes.
//!
//! ```text
//!   UDP sockets ───────────────► Input::Datagram ──┐
//!   stream tasks (framed) ─────► Input::Stream ────┤
//!   sleep_until(poll_timeout) ─► Input::Timer ─────┼─► Endpoint::handle ─► poll_output:
//!   relay notifier, 1 s tick ──► Input::Relay ─────┤     Udp → send_to on that socket
//!   admin commands, signals ───► Input::Command, ──┘     Stream → the flow's write queue
//!                                Reload, Shutdown        Connect/Close → stream tasks
//!                                                        Cdr → the CDR writer thread
//! ```

use crate::call::CallConfig;
use crate::endpoint::{Endpoint, Input, Outgoing, Output};
use crate::ops::cdr::{CdrError, CdrWriter};
use crate::ops::management::{Command, CommandSender};
use crate::ops::metrics::{Metrics, MetricsError};
use crate::stack::transaction::Transport;
use crate::stack::transport::FlowId;
use crate::Map;
use bytes::Bytes;
use media::Media;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use remote_relay::RemoteRelays;
use sbc_config::Config;
use sbc_relay::api::{Relay, RelayError};
use sbc_relay::notify::Notifier;
use std::future::Future;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::Interest;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

mod media;
mod remote_relay;
mod resolve;
mod send;
mod stream;
mod tls;
mod websocket;

pub use tls::TlsSetupError;

use stream::Note;

pub use crate::endpoint::{relay_config, server_name, CLOSE_GRACE};
pub use crate::routing::{outbound_side, transport_of, ConfigRouter};

/// How often the housekeeping tick runs: relay counters and statistics into the metrics, CDRs
/// whose media statistics are late, idle flows. Relay events that need action wake the loop
/// through the relay's notifier at once.
pub const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// How long after the relay's notifier fires its events are drained, in one go.
pub const RELAY_BATCH: Duration = Duration::from_millis(20);

/// The largest UDP datagram read.
const RECV_BUFFER: usize = 65_536;

/// Datagrams taken from a socket with one system call at most.
const RECV_BATCH: usize = 8;

/// Notes from connection tasks queued before they wait for the loop.
const NOTE_QUEUE: usize = 1024;

/// What the binary tells a running driver (signals).
#[derive(Debug)]
#[non_exhaustive]
pub enum Control {
    /// SIGHUP: take routes, users, realms and limits from this (already validated) config;
    /// interfaces, relay and admin changes need a restart.
    Reload(Arc<Config>),
    /// SIGTERM: stop taking calls, drain for `[general] drain_timeout_s`, end the rest, return.
    Shutdown,
}

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A UDP listen address could not be bound.
    #[error("bind udp {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A TCP listen address could not be bound.
    #[error("bind tcp {addr}: {source}")]
    BindTcp {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The relay could not start (port range, worker threads, IO backend).
    #[error("relay: {0}")]
    Relay(#[from] RelayError),
    /// The metrics could not be registered (a bug).
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The CDR file could not be opened.
    #[error(transparent)]
    Cdr(#[from] CdrError),
    /// A TLS certificate, key or CA file does not work (a key that does not match its
    /// certificate, say).
    #[error("tls: {0}")]
    Tls(#[from] TlsSetupError),
}

/// The call core's settings from the configuration (see [`crate::endpoint::call_config`]).
pub fn call_config(cfg: &Config) -> CallConfig {
    crate::endpoint::call_config(cfg)
}

/// 64 bits from the process's random hasher keys and the clock, to seed Call-IDs, tags, branches
/// (RFC 3261 §8.1.1.4, §19.3) and the relay's port shuffles.
pub fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(SystemTime::now())
}

/// The running SBC: the endpoint, its UDP sockets and TCP listeners, the stream connections'
/// write queues and the CDR writer (RFC 3261 §18).
pub struct Driver {
    endpoint: Endpoint<Media>,
    /// The relay's wake-up, and its socket that turns readable when the relay queued an event
    /// the endpoint must act on.
    /// The in-process relay's event wake-ups (none with remote relays).
    relay_events: Option<(Notifier, tokio::net::UnixDatagram)>,
    udp: Vec<UdpSocket>,
    /// Each flow's write queue; dropping it closes the connection.
    conns: Map<FlowId, mpsc::Sender<Outgoing>>,
    notes_tx: mpsc::Sender<Note>,
    notes_rx: mpsc::Receiver<Note>,
    /// The UDP socket polled first next time, so none starves the others.
    next_poll: usize,
    /// Management API commands from the admin server, and the sender handed to it.
    commands: (CommandSender, mpsc::Receiver<Command>),
    /// The CDR writer thread, when `[admin] cdr_path` is set.
    cdr: Option<CdrWriter>,
    /// TLS acceptors by stream listener, connectors by route.
    tls: tls::Tls,
    /// Each configured certificate's notAfter, for `sbc_tls_certificate_expiry_seconds`.
    expiries: Vec<(String, i64)>,
    /// UDP datagrams of the current turn, sent per socket with `sendmmsg`.
    sends: send::SendBatch,
    /// The resolver of named next hops (`[dns]`), made when the first name is to be located.
    resolver: Option<hickory_resolver::TokioResolver>,
    /// `[dns]` as at start.
    dns: sbc_config::Dns,
}

/// What woke the loop.
enum Wake {
    Datagram(usize),
    Stream(Option<Note>),
    Timer,
    Relay,
    Command(Command),
    Control(Option<Control>),
}

/// Waits until the in-process relay's notifier socket is readable; never with remote relays.
async fn relay_readable(
    events: Option<&(Notifier, tokio::net::UnixDatagram)>,
) -> std::io::Result<()> {
    match events {
        Some((_, socket)) => socket.readable().await,
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Binds every UDP and TCP listen address of `cfg` and starts the relay, logging each.
    pub async fn start(cfg: Arc<Config>, seed: u64) -> Result<Self, DriverError> {
        let relay_cfg = relay_config(&cfg, seed.rotate_left(32));
        let (relay, relay_events) = if cfg.relay.remote.is_empty() {
            let relay = Relay::start(relay_cfg.clone())?;
            let notifier = relay.notifier();
            let socket = notifier
                .socket()
                .and_then(tokio::net::UnixDatagram::from_std)
                .map_err(RelayError::Io)?;
            for i in &relay_cfg.interfaces {
                tracing::info!(
                    interface = %i.name,
                    backend = relay.backend(),
                    "media on {} ports {}-{}",
                    i.address,
                    i.port_min,
                    i.port_max
                );
            }
            (Media::Local(relay), Some((notifier, socket)))
        } else {
            let remote = RemoteRelays::new(
                &cfg.relay.remote,
                Duration::from_millis(u64::from(cfg.relay.remote_timeout_ms)),
                Duration::from_secs(u64::from(cfg.relay.remote_retry_s)),
            )
            .map_err(RelayError::Io)?;
            for r in &cfg.relay.remote {
                tracing::info!(
                    "media on the remote relay at {} (ng, weight {})",
                    r.ng,
                    r.weight
                );
            }
            (Media::Remote(remote), None)
        };
        let secret = cfg
            .auth
            .secret
            .as_ref()
            .map(|s| s.expose().as_bytes().to_vec())
            .unwrap_or_else(|| {
                (0..4)
                    .flat_map(|_| random_seed().to_le_bytes())
                    .collect::<Vec<u8>>()
            });
        let endpoint = Endpoint::new(
            cfg.clone(),
            relay,
            seed,
            secret,
            Instant::now(),
            SystemTime::now(),
        )?;
        let (notes_tx, notes_rx) = mpsc::channel(NOTE_QUEUE);
        let name = |i: usize| cfg.interfaces.get(i).map_or("", |x| x.name.as_str());
        let mut udp = Vec::new();
        for s in &endpoint.sockets().udp {
            let sock = UdpSocket::bind(s.bound)
                .await
                .map_err(|source| DriverError::Bind {
                    addr: s.bound,
                    source,
                })?;
            tracing::info!(interface = %name(s.interface), "listening on udp {}", s.bound);
            udp.push(sock);
        }
        let listeners: Vec<(usize, bool)> = endpoint
            .sockets()
            .tcp
            .iter()
            .map(|s| (s.interface, s.transport.is_secure()))
            .collect();
        let tls = tls::Tls::new(&cfg, &listeners)?;
        for (index, s) in endpoint.sockets().tcp.iter().enumerate() {
            let listener =
                TcpListener::bind(s.bound)
                    .await
                    .map_err(|source| DriverError::BindTcp {
                        addr: s.bound,
                        source,
                    })?;
            let kind = if s.transport == Transport::Tls {
                "tls"
            } else {
                "tcp"
            };
            tracing::info!(interface = %name(s.interface), "listening on {kind} {}", s.bound);
            stream::spawn_accept(listener, index, notes_tx.clone());
        }
        let cdr = match &cfg.admin.cdr_path {
            Some(path) => {
                let w = CdrWriter::open(path, cfg.admin.cdr_rotate_bytes)?;
                tracing::info!("CDRs to {}", path.display());
                Some(w)
            }
            None => None,
        };
        Ok(Self {
            endpoint,
            relay_events,
            udp,
            conns: Map::default(),
            notes_tx,
            notes_rx,
            next_poll: 0,
            commands: crate::ops::management::channel(),
            cdr,
            tls,
            expiries: tls::certificate_expiries(&cfg),
            sends: send::SendBatch::new(),
            resolver: None,
            dns: cfg.dns.clone(),
        })
    }

    /// The metrics this driver records into, for the admin server (`/metrics`, `/ready`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.endpoint.metrics()
    }

    /// The sender of management commands, for the admin server's call endpoints.
    pub fn commands(&self) -> CommandSender {
        self.commands.0.clone()
    }

    /// Serves forever: datagrams, timers and relay events, one at a time.
    pub async fn run(self) {
        let (_keep, control) = mpsc::channel(1);
        self.run_with(control).await;
    }

    /// Serves datagrams, timers, relay events and `control` until a [`Control::Shutdown`] has
    /// drained the calls (or `control` is closed, which is taken as a shutdown); the CDRs are
    /// flushed when it returns.
    pub async fn run_with(mut self, mut control: mpsc::Receiver<Control>) {
        let mut batch = RecvBatch::new();
        let mut relay_tick = tokio::time::interval(HOUSEKEEPING);
        relay_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.endpoint.metrics().set_ready(true);
        let mut control_open = true;
        // After the relay's notifier fires, its events are taken RELAY_BATCH later in one drain
        // (the workers send nothing more until then), so a busy relay costs a wake-up per window
        // rather than one per event.
        let mut relay_due: Option<Instant> = None;
        // One timer for the whole loop, moved only when the deadline does: a new one per wake
        // would enter and leave tokio's timer wheel on every datagram.
        let timer = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        while !self.endpoint.is_stopped() {
            let deadline = [
                self.endpoint.poll_timeout(),
                self.endpoint.stage_deadline(),
                relay_due,
            ]
            .into_iter()
            .flatten()
            .min();
            if let Some(d) = deadline.filter(|d| armed != Some(*d)) {
                timer.as_mut().reset(tokio::time::Instant::from_std(d));
                armed = Some(d);
            }
            let wake = {
                tokio::select! {
                    i = readable_any(&self.udp, self.next_poll) => Wake::Datagram(i),
                    note = self.notes_rx.recv() => Wake::Stream(note),
                    () = &mut timer, if deadline.is_some() => {
                        // Fired: the next deadline arms it again, even if it is the same one.
                        armed = None;
                        Wake::Timer
                    }
                    _ = relay_tick.tick() => Wake::Relay,
                    r = relay_readable(self.relay_events.as_ref()), if relay_due.is_none() => {
                        if let (Ok(()), Some((_, socket))) = (r, &self.relay_events) {
                            // Consume the wake-ups now; disarm and drain when the window ends.
                            let mut b = [0u8; 8];
                            while socket.try_recv(&mut b).is_ok() {}
                        }
                        relay_due = Some(Instant::now() + RELAY_BATCH);
                        continue;
                    }
                    Some(cmd) = self.commands.1.recv() => Wake::Command(cmd),
                    c = control.recv(), if control_open => Wake::Control(c),
                }
            };
            let wake = match (wake, relay_due) {
                (Wake::Timer | Wake::Relay, Some(due)) if Instant::now() >= due => {
                    relay_due = None;
                    if let Some((notifier, _)) = &self.relay_events {
                        notifier.disarm();
                    }
                    if self
                        .endpoint
                        .poll_timeout()
                        .is_some_and(|t| t <= Instant::now())
                    {
                        // Both are due: the relay's events first, then the timers.
                        self.endpoint.handle(Instant::now(), Input::Relay);
                        self.execute().await;
                        Wake::Timer
                    } else {
                        Wake::Relay
                    }
                }
                (wake, _) => wake,
            };
            let input = match wake {
                Wake::Datagram(i) => {
                    self.next_poll = i.wrapping_add(1);
                    let Some(sock) = self.udp.get(i) else {
                        continue;
                    };
                    if let Err(e) = batch.recv(sock) {
                        // ICMP errors for earlier sends surface here on Linux; the socket is
                        // fine.
                        tracing::debug!("udp receive: {e}");
                    }
                    // Every datagram of the batch, then the outputs of all of them.
                    let now = Instant::now();
                    for (bytes, source) in batch.datagrams() {
                        let input = Input::Datagram {
                            socket: i,
                            source,
                            bytes,
                        };
                        self.endpoint.handle(now, input);
                    }
                    self.execute().await;
                    continue;
                }
                Wake::Stream(Some(note)) => match self.on_note(note) {
                    Some(input) => input,
                    None => continue,
                },
                // The loop holds a sender itself, so the channel never closes.
                Wake::Stream(None) => continue,
                Wake::Timer => Input::Timer,
                Wake::Relay => {
                    self.record_expiries();
                    self.record_remote_relays();
                    Input::Relay
                }
                Wake::Command(cmd) => Input::Command(cmd),
                Wake::Control(Some(Control::Reload(cfg))) => {
                    self.reload_tls(&cfg);
                    Input::Reload(cfg)
                }
                Wake::Control(Some(Control::Shutdown)) => Input::Shutdown,
                Wake::Control(None) => {
                    control_open = false;
                    Input::Shutdown
                }
            };
            self.endpoint.handle(Instant::now(), input);
            self.execute().await;
        }
        if let Some(w) = self.cdr.take() {
            let dropped = w.dropped();
            w.close();
            tracing::info!(dropped, "CDRs flushed");
        }
        tracing::info!("stopped");
    }

    /// Seconds until each configured certificate expires, into the metrics.
    /// Whether each remote relay answers, for `/metrics`.
    fn record_remote_relays(&self) {
        if let Media::Remote(remote) = self.endpoint.media() {
            let metrics = self.endpoint.metrics();
            for (addr, up) in remote.health() {
                metrics.remote_relay(&addr.to_string(), up);
            }
        }
    }

    fn record_expiries(&self) {
        if self.expiries.is_empty() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let metrics = self.endpoint.metrics();
        for (label, not_after) in &self.expiries {
            metrics.tls_certificate_expiry(label, not_after.saturating_sub(now));
        }
    }

    /// New certificates, keys and CAs from a reloaded configuration for the connections opened
    /// from now on; live connections keep theirs. Files that do not work together keep the old
    /// ones, with a log line naming the field.
    fn reload_tls(&mut self, cfg: &Config) {
        let listeners: Vec<(usize, bool)> = self
            .endpoint
            .sockets()
            .tcp
            .iter()
            .map(|s| (s.interface, s.transport.is_secure()))
            .collect();
        match tls::Tls::new(cfg, &listeners) {
            Ok(t) => {
                if !t.is_empty() {
                    tracing::info!("tls certificates and keys reloaded for new connections");
                }
                self.tls = t;
                self.expiries = tls::certificate_expiries(cfg);
            }
            Err(e) => tracing::error!("reload: tls kept as it was: {e}"),
        }
    }

    /// A connection task's note as an endpoint input; accepted connections are admitted (or
    /// dropped) here.
    fn on_note(&mut self, note: Note) -> Option<Input> {
        match note {
            Note::Resolved { name, result } => Some(Input::Resolved { name, result }),
            Note::Accepted {
                listener,
                stream,
                remote,
            } => {
                // Dropping the stream closes a refused connection.
                let id = self.endpoint.accept(Instant::now(), listener, remote)?;
                let (tx, rx) = mpsc::channel(stream::WRITE_QUEUE);
                self.conns.insert(id, tx);
                let input = self.endpoint.stream_input();
                let notes = self.notes_tx.clone();
                let socket = self.endpoint.sockets().tcp.get(listener);
                let local = socket.map_or_else(String::new, |s| s.bound.to_string());
                if let Some(s) = socket.filter(|s| s.transport.is_websocket()) {
                    let origins = self
                        .endpoint
                        .config()
                        .interfaces
                        .get(s.interface)
                        .map(|i| i.websocket_origins.clone())
                        .unwrap_or_default();
                    let tls = self
                        .tls
                        .acceptors
                        .get(listener)
                        .cloned()
                        .flatten()
                        .map(|acceptor| stream::TlsServerSide {
                            acceptor,
                            listener: local.clone(),
                            metrics: self.endpoint.metrics(),
                        });
                    let side = websocket::WsServerSide {
                        tls,
                        origins: Arc::new(origins),
                        metrics: self.endpoint.metrics(),
                    };
                    websocket::spawn_ws_accept(id, stream, side, rx, notes);
                    return None;
                }
                match self.tls.acceptors.get(listener).cloned().flatten() {
                    Some(acceptor) => {
                        let server = stream::TlsServerSide {
                            acceptor,
                            listener: local,
                            metrics: self.endpoint.metrics(),
                        };
                        stream::spawn_tls_accept(id, stream, server, rx, notes, input);
                    }
                    None => stream::spawn_connection(id, stream, rx, notes, input),
                }
                None
            }
            Note::Message { flow, bytes } => Some(Input::Stream { flow, bytes }),
            Note::KeepAlive { flow } => Some(Input::KeepAlive { flow }),
            Note::PeerNames { flow, names } => Some(Input::PeerNames { flow, names }),
            Note::Closed { flow, unsent, why } => {
                self.conns.remove(&flow);
                Some(Input::Closed { flow, unsent, why })
            }
        }
    }

    /// Executes the endpoint's outputs; a message a connection cannot take goes back to it.
    async fn execute(&mut self) {
        while let Some(out) = self.endpoint.poll_output() {
            match out {
                Output::Udp { socket, to, bytes } => {
                    self.sends.push(socket, to, bytes);
                    if self.sends.full() {
                        self.sends.flush(&self.udp).await;
                    }
                }
                Output::Stream { flow, out } => {
                    let refused = match self.conns.get(&flow) {
                        Some(conn) => match conn.try_send(out) {
                            Ok(()) => None,
                            Err(
                                mpsc::error::TrySendError::Full(out)
                                | mpsc::error::TrySendError::Closed(out),
                            ) => Some(out),
                        },
                        None => Some(out),
                    };
                    if let Some(out) = refused {
                        // The peer stopped reading or the connection is gone: drop it (its task
                        // ends when the queue goes) and let the endpoint send elsewhere.
                        self.conns.remove(&flow);
                        self.endpoint
                            .handle(Instant::now(), Input::Unsent { flow, out });
                    }
                }
                Output::Connect {
                    flow,
                    bind,
                    remote,
                    tls,
                } => {
                    let (tx, rx) = mpsc::channel(stream::WRITE_QUEUE);
                    self.conns.insert(flow, tx);
                    let input = self.endpoint.stream_input();
                    let tls = tls
                        .and_then(|peer| self.tls.connector(peer))
                        .map(|(c, name)| (c, name, self.endpoint.metrics()));
                    stream::spawn_connect(
                        flow,
                        bind,
                        remote,
                        tls,
                        rx,
                        self.notes_tx.clone(),
                        input,
                    );
                }
                Output::Resolve { name, transport } => {
                    if self.resolver.is_none() {
                        match resolve::resolver(&self.dns) {
                            Ok(r) => self.resolver = Some(r),
                            Err(e) => tracing::error!("no DNS resolver: {e}"),
                        }
                    }
                    let notes = self.notes_tx.clone();
                    let result_name = name.clone();
                    match self.resolver.clone() {
                        Some(r) => {
                            tokio::spawn(async move {
                                let result =
                                    resolve::locate(r, name, transport_of(transport)).await;
                                let _ = notes
                                    .send(Note::Resolved {
                                        name: result_name,
                                        result,
                                    })
                                    .await;
                            });
                        }
                        None => {
                            let _ = notes.try_send(Note::Resolved {
                                name: result_name,
                                result: crate::endpoint::Resolution::Failed(
                                    "no DNS resolver".into(),
                                ),
                            });
                        }
                    }
                }
                Output::Close { flow } => {
                    // Dropping the queue ends the connection task.
                    self.conns.remove(&flow);
                }
                Output::Cdr(record) => {
                    if let Some(w) = &self.cdr {
                        w.write(*record);
                    }
                }
            }
        }
        self.sends.flush(&self.udp).await;
    }
}

/// Waits until any UDP socket is readable, trying them from `start` round-robin; yields its
/// index.
fn readable_any(sockets: &[UdpSocket], start: usize) -> impl Future<Output = usize> + '_ {
    std::future::poll_fn(move |cx| {
        let n = sockets.len();
        for k in 0..n {
            let i = start.wrapping_add(k) % n;
            let Some(s) = sockets.get(i) else {
                continue;
            };
            if let Poll::Ready(r) = s.poll_recv_ready(cx) {
                if let Err(e) = r {
                    tracing::debug!("udp readiness: {e}");
                }
                return Poll::Ready(i);
            }
        }
        Poll::Pending
    })
}

/// Datagrams taken from a UDP socket with one `recvmmsg` (RFC 3261 §18: one message each).
struct RecvBatch {
    /// One buffer per datagram slot.
    bufs: [Vec<u8>; RECV_BATCH],
    /// (length, source) of the datagrams of the last batch.
    got: Vec<(usize, SocketAddr)>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl RecvBatch {
    fn new() -> Self {
        Self {
            bufs: std::array::from_fn(|_| vec![0u8; RECV_BUFFER]),
            got: Vec::with_capacity(RECV_BATCH),
            headers: MultiHeaders::preallocate(RECV_BATCH, None),
        }
    }

    /// Takes what `sock` holds, up to [`RECV_BATCH`] datagrams, without blocking. A short batch
    /// means the socket is drained, so its readiness is cleared without one more (empty)
    /// receive; the datagrams are in `got` either way.
    fn recv(&mut self, sock: &UdpSocket) -> std::io::Result<()> {
        self.got.clear();
        let fd = sock.as_raw_fd();
        let r = sock.try_io(Interest::READABLE, || {
            // On the stack: no allocation per receive.
            let mut iovs = self
                .bufs
                .each_mut()
                .map(|b| [IoSliceMut::new(b.as_mut_slice())]);
            let results = recvmmsg(
                fd,
                &mut self.headers,
                iovs.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )
            .map_err(std::io::Error::from)?;
            for m in results {
                let from =
                    m.address
                        .and_then(|a| match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
                            (Some(v4), _) => Some(SocketAddr::V4((*v4).into())),
                            (_, Some(v6)) => Some(SocketAddr::V6((*v6).into())),
                            _ => None,
                        });
                if let Some(from) = from {
                    self.got.push((m.bytes, from));
                }
            }
            if self.got.len() < RECV_BATCH {
                // Drained: report it so tokio clears the readiness now.
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            r => r,
        }
    }

    /// The datagrams of the last batch: (bytes, source).
    fn datagrams(&self) -> impl Iterator<Item = (Bytes, SocketAddr)> + '_ {
        self.got
            .iter()
            .zip(&self.bufs)
            .map(|(&(n, from), b)| (Bytes::copy_from_slice(b.get(..n).unwrap_or_default()), from))
    }
}
