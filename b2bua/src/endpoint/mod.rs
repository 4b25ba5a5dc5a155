//! The endpoint: the sans-IO top of the SBC, owning every decision between the sockets and the
//! call core (quinn's `Endpoint` is the model). The driver feeds it [`Input`]s stamped with the
//! time (a datagram with the socket it arrived on, a framed stream message with its flow, a
//! timer, a relay tick, a management command, a reload or a shutdown) and executes the
//! [`Output`]s it drains: a send on an exact UDP socket or stream flow, a connection to open or
//! close, a CDR to write. Nothing here opens a socket or reads a clock.
//!
//! ```text
//!  Input::Datagram / Input::Stream ─► ingress: parse + check once ─► stateless answers (OPTIONS,
//!     400s, drain 503) ─► front door (REGISTER, realms, auth, throttle, calls to registered
//!     customers) ─► B2bua::handle_message(source Dest naming the local address) ─┐
//!  Input::Timer ─► B2bua::handle_timer, registrations, keepalives ─────────────────┤
//!  Input::Relay ─► relay events (inactivity, closed sessions → CDR statistics) ─────┤
//!  Input::Command ─► management ─────────────────────────────────────────────────────┤
//!                      call outputs ─► egress (socket by the Dest's local address, flow,
//!                      §18.1.1 switch to TCP) ─► poll_output(): Udp | Stream | Connect | Close | Cdr
//! ```
//!
//! Which socket a message leaves from: every [`Dest`] the call core sends to carries the SBC's
//! local signalling address of that path (the side the router chose for a request, the socket
//! the request arrived on for a response), so egress maps it to its socket without reading the
//! bytes (RFC 3261 §18.1.1, §18.2.2). Over TCP the peer's address names a flow of the
//! [`FlowTable`]: a response goes back on the connection its request came in on, or, if that
//! closed, on a new one to the Via's `received`/`rport`/sent-by (§18.2.2, RFC 3581 §4); a
//! request reuses an open connection to the peer or opens one from the interface's TCP listen
//! address (§18). A request over 1300 bytes for a UDP next hop of a route with
//! `large_requests_over_tcp` goes over TCP instead, its top Via rewritten, and so do its CANCEL
//! and non-2xx ACK (§18.1.1).
//!
//! Time: one monotonic `now` per input; wall-clock stamps (CDRs, digest nonces) are derived from
//! it and the wall time given at construction, so tests run on virtual time throughout.

mod admission;
mod egress;
mod front_door;
mod ingress;
mod lifecycle;
mod names;
mod operations;
mod records;
pub mod settings;

#[cfg(test)]
mod tests;

use crate::call::{B2bua, MediaRelay};
use crate::edge::customers::Customers;
use crate::ops::cdr::CallRecord;
use crate::ops::management::Command;
use crate::ops::message_log::{redact, MessageLog};
use crate::ops::metrics::{Metrics, MetricsError, Recorder};
use crate::routing::ConfigRouter;
use crate::stack::transaction::{Dest, Transport, TxId};
use crate::stack::transport::{FlowId, FlowTable, StreamInput, Switchover};
use crate::Map;
use bytes::Bytes;
use sbc_common::sip::Limits;
use sbc_config::{Config, HopName};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use lifecycle::CLOSE_GRACE;
pub use names::Resolution;
pub use settings::{call_config, flow_limits, relay_config, server_name};

/// Remembered peer addresses (remote address → socket) above which the table is cleared, so a
/// flood of spoofed sources cannot grow it without bound.
const MAX_PEERS: usize = 65_536;

/// How long a request moved from UDP to TCP (RFC 3261 §18.1.1) is remembered by branch, so its
/// CANCEL and non-2xx ACK follow it: beyond timer C (3 min, §16.6) plus timer B.
const SWITCHED_TTL: Duration = Duration::from_secs(240);

/// One listen address of the configuration, as the driver binds it and the endpoint names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// The address to bind; outgoing TCP connections bind its IP.
    pub bound: SocketAddr,
    /// The address as written in Via and Contact (`advertised` IP when set).
    pub signalling: SocketAddr,
    /// Index into `Config::interfaces`.
    pub interface: usize,
    /// UDP for datagram sockets; TCP or TLS for listeners.
    pub transport: Transport,
}

/// Every listen address of the configuration by transport, in file order: the driver binds
/// `udp[i]` as UDP socket `i` and `tcp[j]` as stream listener `j` (TCP, or TLS over TCP when its
/// `transport` says so).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sockets {
    /// UDP sockets.
    pub udp: Vec<Socket>,
    /// Stream listeners: TCP and TLS.
    pub tcp: Vec<Socket>,
}

impl Sockets {
    /// The listen addresses of `cfg`.
    pub fn of(cfg: &Config) -> Self {
        let mut s = Self::default();
        for (interface, iface) in cfg.interfaces.iter().enumerate() {
            for l in &iface.listen {
                let transport = crate::routing::transport_of(l.transport);
                let socket = Socket {
                    bound: l.address,
                    signalling: iface.signalling_addr(l.address),
                    interface,
                    transport,
                };
                match transport {
                    Transport::Udp => s.udp.push(socket),
                    Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                        s.tcp.push(socket)
                    }
                }
            }
        }
        s
    }
}

/// Bytes queued for a stream flow, with what to do if they never leave (RFC 3261 §18.1.1,
/// §17.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The serialized message.
    pub bytes: Bytes,
    /// The transaction that sent it, told of a transport error if the bytes are not written.
    pub tx: Option<TxId>,
    /// For a request moved from UDP because of its size: where and what to send over UDP if the
    /// connection cannot be opened (RFC 3261 §18.1.1).
    pub udp_fallback: Option<(Dest, Bytes)>,
}

/// What the driver feeds the endpoint.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// A datagram arrived on UDP socket `socket` (index into [`Sockets::udp`]) from `source`.
    Datagram {
        /// The receiving socket.
        socket: usize,
        /// The sender.
        source: SocketAddr,
        /// The datagram.
        bytes: Bytes,
    },
    /// A whole framed message arrived on stream flow `flow`.
    Stream {
        /// The flow.
        flow: FlowId,
        /// The message.
        bytes: Bytes,
    },
    /// An RFC 5626 keep-alive arrived (and was answered) on a flow.
    KeepAlive {
        /// The flow.
        flow: FlowId,
    },
    /// A TLS flow's peer presented a client certificate that verified: the DNS and IP names it
    /// carries (subjectAltName, else its common name), for routes trusting peers by certificate.
    PeerNames {
        /// The flow.
        flow: FlowId,
        /// The names.
        names: Vec<String>,
    },
    /// The flow's connection closed; `unsent` were queued and never written.
    Closed {
        /// The flow.
        flow: FlowId,
        /// Queued messages that were not written.
        unsent: Vec<Outgoing>,
        /// Why it closed.
        why: String,
    },
    /// A message could not be queued on a flow (its queue was full or its task gone): the
    /// driver dropped the connection, the endpoint sends it elsewhere.
    Unsent {
        /// The flow.
        flow: FlowId,
        /// The message.
        out: Outgoing,
    },
    /// The deadline of [`Endpoint::poll_timeout`] passed.
    Timer,
    /// Housekeeping tick: relay events and counters, idle flows.
    Relay,
    /// A management API command.
    Command(Command),
    /// SIGHUP: take routes, users, realms and limits from this (already validated) config;
    /// interfaces, relay and admin changes need a restart.
    Reload(Arc<Config>),
    /// SIGTERM: stop taking calls, drain for `[general] drain_timeout_s`, end the rest.
    Shutdown,
    /// What a configured next hop name resolved to ([`Output::Resolve`]; RFC 3263).
    Resolved {
        /// The name.
        name: HopName,
        /// The addresses, or why not.
        result: Resolution,
    },
}

/// What the endpoint asks the driver to do.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Send a datagram from UDP socket `socket` to `to`.
    Udp {
        /// Index into [`Sockets::udp`].
        socket: usize,
        /// The destination.
        to: SocketAddr,
        /// The datagram.
        bytes: Bytes,
    },
    /// Queue a message on a stream flow; if it cannot be queued, feed [`Input::Unsent`].
    Stream {
        /// The flow.
        flow: FlowId,
        /// The message.
        out: Outgoing,
    },
    /// Open a connection for a new outbound flow from `bind` (port chosen by the OS) to
    /// `remote`; a failure is fed back as [`Input::Closed`] with whatever was queued.
    Connect {
        /// The new flow.
        flow: FlowId,
        /// The local IP.
        bind: IpAddr,
        /// The peer.
        remote: SocketAddr,
        /// For TLS: whose settings say how to verify the peer (server name, CA) and which
        /// client certificate to present (RFC 5922 §7.2).
        tls: Option<TlsPeer>,
    },
    /// Close a flow's connection (idle, or given up on).
    Close {
        /// The flow.
        flow: FlowId,
    },
    /// Write a call detail record.
    Cdr(Box<CallRecord>),
    /// Locate a configured next hop name over DNS (RFC 3263 §4) for `transport`; answer with
    /// [`Input::Resolved`].
    Resolve {
        /// The name.
        name: HopName,
        /// The transport its route uses.
        transport: sbc_config::Transport,
    },
}

/// The configuration that verifies a TLS peer the SBC dials (RFC 5922 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsPeer {
    /// A route's next hop, by index into `Config::routes` (`[route.tls]`).
    Route(usize),
    /// A forward-mode realm's registrar, by index into `Config::realms` (`[realm.tls]`).
    Realm(usize),
}

/// Where a message came in, to route it and answer it on the same path (RFC 3261 §18.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ingress {
    /// Index into `Config::interfaces`.
    pub(crate) interface: usize,
    /// The receiving socket's signalling address.
    pub(crate) local: SocketAddr,
    /// The sender.
    pub(crate) source: SocketAddr,
    /// The socket or flow it came on.
    pub(crate) path: Path,
}

/// A UDP socket or a stream flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// UDP socket index.
    Udp(usize),
    /// A stream flow and its transport.
    Flow(FlowId, Transport),
}

impl Ingress {
    /// The path back to the sender, naming the local address it arrived at.
    pub(crate) fn dest(self) -> Dest {
        let transport = match self.path {
            Path::Udp(_) => Transport::Udp,
            Path::Flow(_, t) => t,
        };
        Dest::new(self.source, transport).from_local(self.local)
    }
}

/// The sans-IO SBC: ingress, front door, call core, egress, lifecycle, records (see the module
/// docs). `M` is the media relay (the real one, or a fake in tests).
pub struct Endpoint<M: MediaRelay> {
    cfg: Arc<Config>,
    core: B2bua<M, ConfigRouter>,
    sockets: Sockets,
    /// Signalling address → UDP socket, TCP listener.
    udp_by_signalling: Map<SocketAddr, usize>,
    tcp_by_signalling: Map<SocketAddr, usize>,
    /// Peer address → the UDP socket it last sent to.
    udp_peers: Map<SocketAddr, usize>,
    /// Peer address → the TCP listener it last connected to, to reopen a flow for a response.
    tcp_peers: Map<SocketAddr, usize>,
    flows: FlowTable,
    /// UDP next hops of routes with `large_requests_over_tcp` (RFC 3261 §18.1.1).
    large_over_tcp: std::collections::HashSet<SocketAddr, foldhash::quality::RandomState>,
    switchover: Switchover,
    limits: Limits,
    server: Option<String>,
    recorder: Recorder,
    message_log: Option<MessageLog>,
    records: records::Records,
    stage: lifecycle::Stage,
    front: front_door::FrontDoor,
    /// Trusted peers, the per-source rate limit's scope and call admission caps.
    gate: admission::Gate,
    /// The verified certificate names of TLS flows whose peers presented one.
    peer_names: Map<FlowId, Vec<String>>,
    /// The instant and wall time the endpoint started, to stamp CDRs and nonces from `now`.
    epoch: (Instant, SystemTime),
    /// Seeds later random draws (reloads).
    seed: u64,
    /// Named next hops and when to locate them again.
    names: names::Names,
    out: VecDeque<Output>,
    /// When `sbc_table_entries` is next refreshed.
    tables_at: Option<Instant>,
}

impl<M: MediaRelay> std::fmt::Debug for Endpoint<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("sockets", &self.sockets)
            .field("calls", &self.core.call_count())
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl<M: MediaRelay> Endpoint<M> {
    /// An endpoint for `cfg` over `media`, started at `now` (wall time `wall`), its IDs drawn
    /// from `seed`; `nonce_secret` keys digest nonces (`[auth] secret`, else random bytes).
    pub fn new(
        cfg: Arc<Config>,
        media: M,
        seed: u64,
        nonce_secret: Vec<u8>,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Self, MetricsError> {
        let sockets = Sockets::of(&cfg);
        let mut udp_by_signalling = Map::default();
        for (i, s) in sockets.udp.iter().enumerate() {
            udp_by_signalling.insert(s.signalling, i);
            udp_by_signalling.entry(s.bound).or_insert(i);
        }
        let mut tcp_by_signalling = Map::default();
        for (i, s) in sockets.tcp.iter().enumerate() {
            tcp_by_signalling.insert(s.signalling, i);
            tcp_by_signalling.entry(s.bound).or_insert(i);
        }
        let customers = Customers::new(&cfg, &nonce_secret, seed.rotate_left(7));
        let front = front_door::FrontDoor::new(&cfg, customers, nonce_secret, seed);
        let mut endpoint = Self {
            core: B2bua::new(
                call_config(&cfg),
                seed,
                media,
                ConfigRouter::new(cfg.clone()).seeded(seed.rotate_left(17)),
            ),
            sockets,
            udp_by_signalling,
            tcp_by_signalling,
            udp_peers: Map::default(),
            tcp_peers: Map::default(),
            flows: FlowTable::new(flow_limits(&cfg)),
            large_over_tcp: large_over_tcp(&cfg),
            switchover: Switchover::new(SWITCHED_TTL, MAX_PEERS),
            limits: crate::limits(&cfg),
            server: server_name(&cfg),
            recorder: Recorder::new(Arc::new(Metrics::new(&cfg.general.node_name)?)),
            message_log: message_log(&cfg),
            records: records::Records::new(&cfg),
            stage: lifecycle::Stage::Serving,
            front,
            gate: admission::Gate::new(&cfg),
            peer_names: Map::default(),
            epoch: (now, wall),
            seed,
            cfg,
            names: names::Names::default(),
            out: VecDeque::new(),
            tables_at: None,
        };
        endpoint.names_from_config(now);
        Ok(endpoint)
    }

    /// The listen addresses the driver binds, by transport, in the order inputs name them.
    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }

    /// The configuration in force (the last one reloaded).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The relay the calls' media is anchored on.
    pub fn media(&self) -> &M {
        self.core.media()
    }

    /// The metrics the endpoint records into, for the admin server (`/metrics`, `/ready`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.recorder.metrics().clone()
    }

    /// The number of entries in every per-call or per-peer table of the endpoint and its call
    /// core, by name (exported as `sbc_table_entries`).
    pub fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        let mut sizes = self.core.table_sizes();
        sizes.extend(self.records.sizes());
        sizes.extend([
            ("call_timings", self.recorder.timed_calls()),
            ("flows", self.flows.len()),
            ("switchover", self.switchover.len()),
            ("udp_peers", self.udp_peers.len()),
            ("tcp_peers", self.tcp_peers.len()),
            ("peer_names", self.peer_names.len()),
        ]);
        sizes
    }

    /// The call core, e.g. for tests and the relay's backend name.
    pub fn core(&self) -> &B2bua<M, ConfigRouter> {
        &self.core
    }

    /// A framer for a new stream connection: the message size limit and the Server header of
    /// its 413/400 replies.
    pub fn stream_input(&self) -> StreamInput {
        StreamInput::new(self.cfg.sip.max_message_bytes, self.server.as_deref())
    }

    /// A connection accepted on TCP listener `listener` from `remote`: its new flow, or `None`
    /// when the connection limits refuse it (the driver then drops it; RFC 3261 §18).
    pub fn accept(&mut self, now: Instant, listener: usize, remote: SocketAddr) -> Option<FlowId> {
        let ep = *self.sockets.tcp.get(listener)?;
        match self.flows.open(
            now,
            ep.transport,
            ep.signalling,
            remote,
            ep.interface,
            false,
        ) {
            Ok(id) => {
                tracing::debug!(%remote, flow = id.0, "tcp connection accepted");
                remember(&mut self.tcp_peers, remote, listener);
                Some(id)
            }
            Err(e) => {
                tracing::warn!(%remote, "tcp connection refused: {e}");
                None
            }
        }
    }

    /// Feeds one input at `now`; drain [`Endpoint::poll_output`] afterwards.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Datagram {
                socket,
                source,
                bytes,
            } => self.on_datagram(now, socket, source, bytes),
            Input::Stream { flow, bytes } => self.on_stream_message(now, flow, bytes),
            Input::KeepAlive { flow } => self.flows.touch(flow, now),
            Input::PeerNames { flow, names } => {
                if self.flows.get(flow).is_some() {
                    self.peer_names.insert(flow, names);
                }
            }
            Input::Closed { flow, unsent, why } => self.on_closed(now, flow, unsent, &why),
            Input::Unsent { flow, out } => self.on_write_failed(now, flow, out),
            Input::Timer => {
                self.core.handle_timer(now);
                self.front_door_timer(now);
                self.gate.housekeeping(now);
                self.names_timer(now);
                self.core.router_mut().expire(now);
            }
            Input::Resolved { name, result } => self.on_resolved(now, name, result),
            Input::Relay => {
                self.on_relay(now);
                self.expire(now);
                if self.tables_at.is_none_or(|at| now >= at) {
                    self.tables_at = Some(now + Duration::from_secs(1));
                    self.recorder.tables(&self.table_sizes());
                }
            }
            Input::Command(cmd) => self.on_command(now, cmd),
            Input::Reload(cfg) => {
                self.reload(cfg);
                self.names_from_config(now);
                self.trust_resolved();
            }
            Input::Shutdown => self.shutdown(now),
        }
        self.flush(now);
        if !self.records.is_settled() {
            // A call that ended without media streams has its relay session closed at once:
            // its CDR need not wait for a wake-up.
            self.drain_relay_events(now);
            self.flush(now);
        }
        self.advance(now);
        self.flush(now);
    }

    /// The next thing for the driver to do, in order; `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to feed [`Input::Timer`] next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.core.poll_timeout(),
            self.front_door_deadline(),
            self.names_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The wall-clock time at `now`.
    fn wall(&self, now: Instant) -> SystemTime {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0)
    }

    /// Seconds since the Unix epoch at `now`, for digest nonces.
    fn unix(&self, now: Instant) -> u64 {
        self.wall(now)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Logs a whole SIP message with credentials redacted, when `[general] log_sip_messages`
    /// is on and the rate allows.
    fn log_message(&mut self, now: Instant, direction: &str, peer: SocketAddr, bytes: &[u8]) {
        let Some(log) = &mut self.message_log else {
            return;
        };
        let Some(suppressed) = log.admit(now) else {
            return;
        };
        let text = String::from_utf8_lossy(bytes);
        tracing::info!(target: "sbc::sip", %peer, suppressed, "{direction} {peer}:\n{}", redact(&text));
    }
}

/// The SIP message log's rate limit, when `[general] log_sip_messages` is on.
fn message_log(cfg: &Config) -> Option<MessageLog> {
    cfg.general
        .log_sip_messages
        .then(|| MessageLog::new(cfg.general.log_sip_rate_per_s))
}

/// The UDP next hops of routes with `large_requests_over_tcp` (RFC 3261 §18.1.1).
fn large_over_tcp(
    cfg: &Config,
) -> std::collections::HashSet<SocketAddr, foldhash::quality::RandomState> {
    cfg.routes
        .iter()
        .filter(|r| r.transport == sbc_config::Transport::Udp && r.large_requests_over_tcp)
        .filter_map(|r| r.next_hop.addr())
        .collect()
}

/// Remembers which socket a peer used, clearing the table first when it is full.
fn remember(map: &mut Map<SocketAddr, usize>, peer: SocketAddr, socket: usize) {
    if map.len() >= MAX_PEERS && !map.contains_key(&peer) {
        map.clear();
    }
    map.insert(peer, socket);
}
