//! The driver: with [`crate::admin`], the one place besides the binary with sockets and clocks.
//! It owns the [`B2bua`] call core, the relay behind it, one UDP socket per configured UDP
//! listen address and one TCP listener per TCP listen address with its connections (a task
//! each, in `driver/stream.rs`), and runs them on one tokio task, recording into
//! [`crate::metrics`]:
//!
//! ```text
//!   UDP sockets ─► parse ─► B2bua::handle_message(now, msg, source) ─┐
//!   TCP flows (stream tasks, framed) ─► parse ─► (same) ─────────────┤
//!   sleep_until(poll_timeout) ─► B2bua::handle_timer(now) ───────────┼─► poll_output ─► send / log
//!   every 100 ms: Relay::poll_event ─► B2bua::handle_media_timeout ──┤
//!   admin commands ─► management::execute (calls, terminate, originate) ┘
//! ```
//!
//! Which socket a message leaves from: a request carries the SBC's own Via, written by the call
//! core from the [`Side`] the router chose for that leg, so it leaves from the socket whose
//! address is its top Via's sent-by (RFC 3261 §18.1.1); a response leaves from the socket the
//! peer last sent from (RFC 3261 §18.2.2: the flow the request came in on).
//!
//! Over TCP the core's [`Dest`] (transport and peer address) names a flow of the
//! [`FlowTable`]: a response goes back on the connection its request came in on, or, if that
//! closed, on a new one to the Via's `received`/`rport`/sent-by (§18.2.2, RFC 3581 §4); a
//! request reuses an open connection to the peer or opens one from the interface's TCP listen
//! address (§18). A request over 1300 bytes for a UDP next hop of a route with
//! `large_requests_over_tcp` goes over TCP instead, its top Via rewritten, and so do its CANCEL
//! and non-2xx ACK (same branch); UDP retransmissions of it are not repeated on the reliable
//! connection, and a refused connection sends it over UDP after all (§18.1.1). Every received
//! request's top Via gets `received`/`rport` (§18.2.1, RFC 3581 §4).
//!
//! Out-of-dialog OPTIONS are answered statelessly here ([`crate::stateless`]) and never reach
//! the core; everything else that parses goes to the core, and what does not parse gets the
//! parser's 400 when it can be answered.
//!
//! Operations: each call's log lines run inside a `call` span with both Call-IDs; each finished
//! call becomes a [`CallRecord`] handed to the CDR writer thread ([`crate::cdr`]) once the relay
//! reports its media streams closed with their final statistics; SIP messages are logged
//! redacted and rate-limited when configured ([`crate::message_log`]). [`Control::Reload`]
//! swaps routes, users, realms and limits between messages; [`Control::Shutdown`] refuses new
//! INVITEs with 503, lets calls run for the drain timeout, then hangs the rest up
//! ([`B2bua::shut_down_calls`]), serves up to [`CLOSE_GRACE`] more and returns.
//!
//! Routing ([`ConfigRouter`]) is the `[[route]]` table only: the interface the INVITE arrived
//! on, its source IP and the Request-URI user and domain pick the route; the call leaves from the
//! route's `to_interface` to its `next_hop`. Every matching route is a target of the call, tried
//! in turn on failover, with its forwarding and redirect settings; a redirect's Contacts are
//! routed through the same table. Nothing is ever routed to the Request-URI's host (or a
//! Contact's) and no name is resolved.

use crate::call::{
    B2bua, CallConfig, CallEvent, CallKey, CallOutput, HeaderPolicy, Rejection, Route, Router,
    SessionTimerConfig, Side, Target, DEFAULT_COPIED_HEADERS,
};
use crate::cdr::{CallRecord, CdrError, CdrWriter, MEDIA_WAIT};
use crate::customers::Customers;
use crate::management::{Command, CommandSender};
use crate::message_log::{redact, MessageLog};
use crate::metrics::{Metrics, MetricsError, Recorder};
use crate::stateless::{handle_datagram, Reply};
use crate::transaction::{Dest, TimerConfig, Transmit, Transport, TxId};
use crate::transport::via::{response_target, set_top_via_transport, stamp_received};
use crate::transport::{
    too_large_for_udp, Carrier, FlowId, FlowLimits, FlowTable, StreamInput, Switchover,
};
use crate::Map;
use bytes::Bytes;
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Limits, Message, Method, Via};
use sbc_config::{Config, IoBackend, Latching};
use sbc_relay::api::{InterfaceConfig, Relay, RelayConfig, RelayError, RelayEvent, SessionId};
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::{LatchConfig, LatchPolicy};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

mod front_door;
mod stream;

use stream::{Note, Outgoing};

/// How often the relay's events (inactivity, latching, RTP bleed) are collected.
pub const RELAY_POLL: Duration = Duration::from_millis(100);

/// Remembered peer flows (remote address → socket) above which the table is cleared, so a
/// flood of spoofed sources cannot grow it without bound.
const MAX_FLOWS: usize = 65_536;

/// The largest UDP datagram read.
const RECV_BUFFER: usize = 65_536;

/// How long a request moved from UDP to TCP (RFC 3261 §18.1.1) is remembered by branch, so its
/// CANCEL and non-2xx ACK follow it: beyond timer C (3 min, §16.6) plus timer B.
const SWITCHED_TTL: Duration = Duration::from_secs(240);

/// Notes from connection tasks queued before they wait for the loop.
const NOTE_QUEUE: usize = 1024;

/// After the calls left at the end of a drain got their BYEs, how long the SBC keeps serving so
/// those transactions complete and the last CDRs get their media statistics.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Where the driver is in its life (SIGTERM starts the drain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Taking calls.
    Serving,
    /// New INVITEs get 503; live calls go on until this deadline or their end.
    Draining(Instant),
    /// The remaining calls got BYE; serving until this deadline or until nothing is pending.
    Closing(Instant),
}

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
}

/// The Server header value: `[general] user_agent`, else `sbc/<version>` (RFC 3261 §20.35).
pub fn server_name(cfg: &Config) -> String {
    cfg.general
        .user_agent
        .clone()
        .unwrap_or_else(|| format!("sbc/{}", env!("CARGO_PKG_VERSION")))
}

/// The call core's settings from the configuration: header whitelist, latching policy, T1/T2/T4
/// (RFC 3261 Appendix A) and the Server header.
pub fn call_config(cfg: &Config) -> CallConfig {
    let names = DEFAULT_COPIED_HEADERS
        .iter()
        .copied()
        .chain(cfg.sip.header_whitelist.iter().map(String::as_str));
    CallConfig {
        headers: HeaderPolicy::new(names),
        latch: match cfg.relay.latching {
            Latching::Strict => LatchPolicy::Strict,
            Latching::Handover => LatchPolicy::Handover,
            Latching::Off => LatchPolicy::Off,
        },
        timers: TimerConfig {
            t1: cfg.sip.t1(),
            t2: cfg.sip.t2(),
            t4: cfg.sip.t4(),
        },
        server: server_name(cfg),
        max_calls: usize::try_from(cfg.limits.max_calls).unwrap_or(usize::MAX),
        retry_after_s: cfg.limits.retry_after_s,
        max_call_duration: (cfg.limits.max_call_duration_s > 0)
            .then(|| Duration::from_secs(u64::from(cfg.limits.max_call_duration_s))),
        session_timer: SessionTimerConfig {
            expires_s: cfg.sip.session_expires_s,
            min_se_s: cfg.sip.min_se_s,
        },
    }
}

/// The relay's settings from the configuration: one media interface per `[[interface]]` (its
/// media IP and RTP port range), workers, IO backend, learning window, inactivity timeout and
/// statistics interval; `seed` shuffles the port pools.
pub fn relay_config(cfg: &Config, seed: u64) -> RelayConfig {
    RelayConfig {
        interfaces: cfg
            .interfaces
            .iter()
            .map(|i| InterfaceConfig {
                name: i.name.clone(),
                address: i.media_ip(),
                port_min: i.rtp_port_min,
                port_max: i.rtp_port_max,
            })
            .collect(),
        workers: usize::from(cfg.relay.workers),
        worker_cpus: Vec::new(),
        worker_rt_priority: (cfg.relay.realtime_priority > 0)
            .then_some(cfg.relay.realtime_priority),
        recv_buffer: sbc_relay::api::DEFAULT_RECV_BUFFER,
        backend: match cfg.relay.io_backend {
            IoBackend::Auto => BackendKind::Auto,
            IoBackend::IoUring => BackendKind::IoUring,
            IoBackend::Mmsg => BackendKind::Mmsg,
        },
        uring: UringConfig::default(),
        latch: LatchConfig {
            learning_window_packets: cfg.relay.learning_window_packets,
            ..LatchConfig::default()
        },
        inactivity_timeout: cfg.relay.inactivity_timeout(),
        stats_interval: Duration::from_millis(u64::from(cfg.relay.stats_interval_ms)),
        seed,
    }
}

/// 64 bits from the process's random hasher keys and the clock, to seed Call-IDs, tags, branches
/// (RFC 3261 §8.1.1.4, §19.3) and the relay's port shuffles.
pub fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(SystemTime::now())
}

/// Where the message being fed to the core arrived: the interface, the socket's address as
/// written in Via and Contact, and the transport (RFC 3261 §18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ingress {
    /// Index into `Config::interfaces`.
    pub interface: usize,
    /// The receiving socket's signalling address (`advertised` IP when set).
    pub local: SocketAddr,
    /// The transport it arrived over.
    pub transport: Transport,
}

/// The transaction layer's transport for a configured one (RFC 3261 §18).
pub fn transport_of(t: sbc_config::Transport) -> Transport {
    match t {
        sbc_config::Transport::Udp => Transport::Udp,
        sbc_config::Transport::Tcp => Transport::Tcp,
    }
}

const NOT_FOUND: Rejection = Rejection {
    code: 404,
    reason: "Not Found",
};

const UNAVAILABLE: Rejection = Rejection {
    code: 503,
    reason: "Service Unavailable",
};

/// The side a request leaves from on config route `r`, and its next hop: `r`'s `to_interface`
/// listening on the route's transport in the next hop's IP family (RFC 3261 §18.1.1); `None`
/// when it has no such listener.
pub fn outbound_side(cfg: &Config, r: &sbc_config::Route) -> Option<(Side, Dest)> {
    let to = cfg.interface(&r.to_interface)?;
    let out = to
        .listen
        .iter()
        .find(|l| l.transport == r.transport && l.address.is_ipv4() == r.next_hop.is_ipv4())?;
    let transport = transport_of(r.transport);
    let side = Side {
        sip: Dest {
            addr: to.signalling_addr(out.address),
            transport,
        },
        media_interface: to.name.clone(),
        media_advertised: to.advertised,
    };
    let next_hop = Dest {
        addr: r.next_hop,
        transport,
    };
    Some((side, next_hop))
}

/// The `[[route]]` table as a [`Router`]: every matching route by priority whose `to_interface`
/// listens on the route's transport in the next hop's IP family, each with its failover,
/// forwarding, no-answer and redirect settings; no match is 404
/// (RFC 3261 §21.4.5).
#[derive(Debug)]
pub struct ConfigRouter {
    cfg: Arc<Config>,
    /// Set by the driver before each message it feeds the core.
    ingress: Option<Ingress>,
    /// Registered customer contacts the next INVITE goes to instead of the route table, set by
    /// the front door for a call from the core to a registered address-of-record.
    customer_targets: Option<Vec<Target>>,
}

impl ConfigRouter {
    /// A router over `cfg`'s routes.
    pub fn new(cfg: Arc<Config>) -> Self {
        Self {
            cfg,
            ingress: None,
            customer_targets: None,
        }
    }

    /// Routes the next INVITEs with `cfg`'s routes (a reload); its interfaces must be the
    /// running ones, in the same order.
    pub fn set_config(&mut self, cfg: Arc<Config>) {
        self.cfg = cfg;
    }

    /// Says where the next message fed to the core arrived; the INVITE's leg A is that socket.
    pub fn set_ingress(&mut self, ingress: Ingress) {
        self.ingress = Some(ingress);
        self.customer_targets = None;
    }

    /// Sends the next INVITE fed to the core to these registered customer contacts, in order
    /// (RFC 3261 §16.5, RFC 5626 §5.3), instead of the route table; cleared by
    /// [`ConfigRouter::set_ingress`].
    pub fn set_customer_targets(&mut self, targets: Vec<Target>) {
        self.customer_targets = Some(targets);
    }
}

impl ConfigRouter {
    /// The call core's route for config route `r` taken by a request that arrived on interface
    /// `from` at `local` (its address and transport); `None` when `r`'s `to_interface` does not
    /// listen on the route's transport in the next hop's IP family.
    fn leg_route(
        &self,
        from: &sbc_config::Interface,
        local: Dest,
        r: &sbc_config::Route,
    ) -> Option<Route> {
        let (b_side, next_hop) = outbound_side(&self.cfg, r)?;
        Some(Route {
            a_side: Side {
                sip: local,
                media_interface: from.name.clone(),
                media_advertised: from.advertised,
            },
            b_side,
            next_hop,
            request_uri: None,
        })
    }

    /// Config route `r` as a target, its `forward_on` chain resolved; the chain is bounded by
    /// the number of routes (validation refuses loops, and `depth` guards anyway).
    fn target(
        &self,
        from: &sbc_config::Interface,
        local: Dest,
        r: &sbc_config::Route,
        depth: usize,
    ) -> Option<Target> {
        let route = self.leg_route(from, local, r)?;
        let forward = r
            .forward_on
            .as_deref()
            .filter(|_| depth < self.cfg.routes.len())
            .and_then(|name| self.cfg.routes.iter().find(|x| x.name == name))
            .and_then(|f| self.target(from, local, f, depth + 1))
            .map(Box::new);
        Some(Target {
            route,
            name: r.name.clone(),
            failover_on: r.failover_on.clone(),
            forward_codes: r.forward_codes.clone(),
            forward,
            no_answer: (r.no_answer_timeout_s > 0)
                .then(|| Duration::from_secs(u64::from(r.no_answer_timeout_s))),
            max_redirects: if r.follow_redirects {
                r.max_redirects
            } else {
                0
            },
            parallel_with_next: false,
        })
    }

    /// The targets for a request for `uri` that arrived on `from` at `local` from `source`:
    /// every matching route that can be used, by priority; 404 when none matches, 503 when
    /// none can be used. The URI's host is only matched against `request_domain`, never
    /// resolved or sent to.
    fn targets_for(
        &self,
        from: &sbc_config::Interface,
        local: Dest,
        source: Dest,
        uri: &str,
    ) -> Result<Vec<Target>, Rejection> {
        let uri = Uri::parse(uri).ok();
        let user = uri
            .as_ref()
            .and_then(Uri::user_unescaped)
            .unwrap_or_default();
        let domain = uri.as_ref().and_then(Uri::host).map_or("", |h| h.as_str());
        let routes = self
            .cfg
            .matching_routes(&from.name, source.addr.ip(), &user, domain);
        if routes.is_empty() {
            return Err(NOT_FOUND);
        }
        let targets: Vec<Target> = routes
            .into_iter()
            .filter_map(|r| self.target(from, local, r, 0))
            .collect();
        if targets.is_empty() {
            return Err(UNAVAILABLE);
        }
        Ok(targets)
    }
}

impl Router for ConfigRouter {
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection> {
        self.targets(invite, source)?
            .into_iter()
            .next()
            .map(|t| t.route)
            .ok_or(NOT_FOUND)
    }

    fn targets(&mut self, invite: &Message, source: Dest) -> Result<Vec<Target>, Rejection> {
        if let Some(targets) = self.customer_targets.take().filter(|t| !t.is_empty()) {
            return Ok(targets);
        }
        let ingress = self.ingress.ok_or(NOT_FOUND)?;
        let from = self
            .cfg
            .interfaces
            .get(ingress.interface)
            .ok_or(NOT_FOUND)?;
        let local = Dest {
            addr: ingress.local,
            transport: ingress.transport,
        };
        self.targets_for(from, local, source, invite.uri().unwrap_or_default())
    }

    fn reroute(&mut self, a_side: &Side, source: Dest, uri: &str) -> Vec<Target> {
        // Leg A's side names the interface the call came in on (its media interface is the
        // config interface of that name).
        let Some(from) = self.cfg.interface(&a_side.media_interface) else {
            return Vec::new();
        };
        self.targets_for(from, a_side.sip, source, uri)
            .unwrap_or_default()
    }
}

/// One bound UDP listen address.
#[derive(Debug)]
struct Listener {
    sock: UdpSocket,
    /// The address as written in Via and Contact.
    signalling: SocketAddr,
    /// Index into `Config::interfaces`.
    interface: usize,
}

/// One TCP listen address (its listener runs in a task of `driver/stream.rs`).
#[derive(Debug)]
struct TcpEndpoint {
    /// The bound address; outgoing connections bind its IP.
    bound: SocketAddr,
    /// The address as written in Via and Contact.
    signalling: SocketAddr,
    /// Index into `Config::interfaces`.
    interface: usize,
}

/// The running SBC: the call core, the relay, the UDP sockets and the TCP flows (RFC 3261 §18).
pub struct Driver {
    core: B2bua<Relay, ConfigRouter>,
    listeners: Vec<Listener>,
    /// Signalling address → listener, for requests by their top Via.
    by_signalling: Map<SocketAddr, usize>,
    /// Peer address → the UDP listener it last sent to, for responses.
    udp_peers: Map<SocketAddr, usize>,
    /// TCP listen addresses.
    tcp: Vec<TcpEndpoint>,
    /// Signalling address → TCP endpoint, for requests by their top Via.
    tcp_by_signalling: Map<SocketAddr, usize>,
    /// Peer address → the TCP endpoint it last connected to, to reopen a flow for a response.
    tcp_peers: Map<SocketAddr, usize>,
    /// Open TCP flows.
    flows: FlowTable,
    /// Each flow's write queue; dropping it closes the connection.
    conns: Map<FlowId, mpsc::Sender<Outgoing>>,
    notes_tx: mpsc::Sender<Note>,
    notes_rx: mpsc::Receiver<Note>,
    /// UDP next hops of routes with `large_requests_over_tcp` (RFC 3261 §18.1.1).
    large_over_tcp: std::collections::HashSet<SocketAddr, foldhash::quality::RandomState>,
    /// Requests moved from UDP to TCP for their size (RFC 3261 §18.1.1).
    switchover: Switchover,
    hasher: std::collections::hash_map::RandomState,
    limits: Limits,
    /// Largest message on a stream (`[sip] max_message_bytes`).
    max_stream_message: usize,
    server: String,
    /// The listener polled first next time, so none starves the others.
    next_poll: usize,
    /// Prometheus metrics, shared with the admin server.
    recorder: Recorder,
    /// Management API commands from the admin server, and the sender handed to it.
    commands: (CommandSender, mpsc::Receiver<Command>),
    /// The running configuration (the last good reload).
    cfg: Arc<Config>,
    /// The CDR writer thread, when `[admin] cdr_path` is set.
    cdr: Option<CdrWriter>,
    /// Live calls: their record so far and their log span.
    calls: Map<CallKey, Tracked>,
    /// Both legs' Call-IDs of live calls, to log a message inside its call's span.
    by_call_id: Map<String, CallKey>,
    /// Ended calls waiting for their relay session's final statistics, with a deadline.
    pending_cdrs: Map<SessionId, (CallRecord, Instant)>,
    /// Rate limit of SIP message logging, when on.
    message_log: Option<MessageLog>,
    stage: Stage,
    /// Registration, authentication and admission state of the customer side.
    customers: Customers,
    /// Which interfaces face customers (see `driver/front_door.rs`).
    customer_ifaces: Vec<bool>,
    /// Requests the front door sent (forwarded REGISTERs, OPTIONS keepalives) by branch,
    /// with when to give up.
    front_pending: Map<String, (front_door::Pending, Instant)>,
    /// How long the front door waits for an answer: 64·T1 (RFC 3261 §17.1.2.2 timer F).
    front_timeout: Duration,
    front_seq: u64,
    front_salt: u64,
    /// The digest nonce key (`[auth] secret`, or random at start), kept across reloads.
    front_secret: Vec<u8>,
}

/// A live call as the driver follows it.
#[derive(Debug)]
struct Tracked {
    record: CallRecord,
    media_session: Option<SessionId>,
    span: tracing::Span,
}

/// What woke the loop.
enum Wake {
    Datagram(usize, std::io::Result<(usize, SocketAddr)>),
    Stream(Option<Note>),
    Timer,
    Relay,
    Command(Command),
    Control(Option<Control>),
}

impl Driver {
    /// Binds every UDP and TCP listen address of `cfg` and starts the relay, logging each.
    pub async fn start(cfg: Arc<Config>, seed: u64) -> Result<Self, DriverError> {
        let mut listeners = Vec::new();
        let mut by_signalling = Map::default();
        let mut tcp = Vec::new();
        let mut tcp_by_signalling = Map::default();
        let (notes_tx, notes_rx) = mpsc::channel(NOTE_QUEUE);
        for (index, iface) in cfg.interfaces.iter().enumerate() {
            for l in &iface.listen {
                match l.transport {
                    sbc_config::Transport::Udp => {
                        let sock = UdpSocket::bind(l.address).await.map_err(|source| {
                            DriverError::Bind {
                                addr: l.address,
                                source,
                            }
                        })?;
                        tracing::info!(interface = %iface.name, "listening on udp {}", l.address);
                        let signalling = iface.signalling_addr(l.address);
                        by_signalling.insert(signalling, listeners.len());
                        by_signalling.entry(l.address).or_insert(listeners.len());
                        listeners.push(Listener {
                            sock,
                            signalling,
                            interface: index,
                        });
                    }
                    sbc_config::Transport::Tcp => {
                        let listener = TcpListener::bind(l.address).await.map_err(|source| {
                            DriverError::BindTcp {
                                addr: l.address,
                                source,
                            }
                        })?;
                        tracing::info!(interface = %iface.name, "listening on tcp {}", l.address);
                        let signalling = iface.signalling_addr(l.address);
                        tcp_by_signalling.insert(signalling, tcp.len());
                        tcp_by_signalling.entry(l.address).or_insert(tcp.len());
                        stream::spawn_accept(listener, tcp.len(), notes_tx.clone());
                        tcp.push(TcpEndpoint {
                            bound: l.address,
                            signalling,
                            interface: index,
                        });
                    }
                }
            }
        }
        let relay_cfg = relay_config(&cfg, seed.rotate_left(32));
        let relay = Relay::start(relay_cfg.clone())?;
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
        let core = B2bua::new(
            call_config(&cfg),
            seed,
            relay,
            ConfigRouter::new(cfg.clone()),
        );
        let large_over_tcp = cfg
            .routes
            .iter()
            .filter(|r| r.transport == sbc_config::Transport::Udp && r.large_requests_over_tcp)
            .map(|r| r.next_hop)
            .collect();
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
        let customers = Customers::new(&cfg, &secret, seed.rotate_left(7));
        let front_secret = secret;
        let cfg_for_front = cfg.clone();
        let cdr = match &cfg.admin.cdr_path {
            Some(path) => {
                let w = CdrWriter::open(path, cfg.admin.cdr_rotate_bytes)?;
                tracing::info!("CDRs to {}", path.display());
                Some(w)
            }
            None => None,
        };
        Ok(Self {
            core,
            listeners,
            by_signalling,
            udp_peers: Map::default(),
            tcp,
            tcp_by_signalling,
            tcp_peers: Map::default(),
            flows: FlowTable::new(flow_limits(&cfg)),
            conns: Map::default(),
            notes_tx,
            notes_rx,
            large_over_tcp,
            switchover: Switchover::new(SWITCHED_TTL, MAX_FLOWS),
            hasher: std::collections::hash_map::RandomState::new(),
            limits: crate::limits(&cfg),
            max_stream_message: cfg.sip.max_message_bytes,
            server: server_name(&cfg),
            next_poll: 0,
            recorder: Recorder::new(Arc::new(Metrics::new(&cfg.general.node_name)?)),
            commands: crate::management::channel(),
            message_log: cfg
                .general
                .log_sip_messages
                .then(|| MessageLog::new(cfg.general.log_sip_rate_per_s)),
            cfg,
            cdr,
            calls: Map::default(),
            by_call_id: Map::default(),
            pending_cdrs: Map::default(),
            stage: Stage::Serving,
            customers,
            customer_ifaces: front_door::customer_interfaces(&cfg_for_front),
            front_pending: Map::default(),
            front_timeout: cfg_for_front.sip.t1() * 64,
            front_seq: 0,
            front_salt: seed.rotate_left(17),
            front_secret,
        })
    }

    /// The metrics this driver records into, for the admin server (`/metrics`, `/ready`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.recorder.metrics().clone()
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
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut relay_tick = tokio::time::interval(RELAY_POLL);
        relay_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.recorder.metrics().set_ready(true);
        let mut control_open = true;
        loop {
            let deadline = [self.core.poll_timeout(), self.front_door_deadline()]
                .into_iter()
                .flatten()
                .min();
            let wake = {
                let timer = async {
                    match deadline {
                        Some(d) => {
                            tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    (i, r) = recv_any(&self.listeners, &mut buf, self.next_poll) => Wake::Datagram(i, r),
                    note = self.notes_rx.recv() => Wake::Stream(note),
                    () = timer => Wake::Timer,
                    _ = relay_tick.tick() => Wake::Relay,
                    Some(cmd) = self.commands.1.recv() => Wake::Command(cmd),
                    c = control.recv(), if control_open => Wake::Control(c),
                }
            };
            match wake {
                Wake::Datagram(i, Ok((n, from))) => {
                    self.next_poll = i.wrapping_add(1);
                    let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    self.on_datagram(i, data, from).await;
                }
                Wake::Datagram(i, Err(e)) => {
                    // ICMP errors for earlier sends surface here on Linux; the socket is fine.
                    self.next_poll = i.wrapping_add(1);
                    tracing::debug!("udp receive: {e}");
                }
                Wake::Stream(Some(note)) => self.on_note(note).await,
                // The loop holds a sender itself, so the channel never closes.
                Wake::Stream(None) => {}
                Wake::Timer => {
                    let now = Instant::now();
                    self.core.handle_timer(now);
                    self.front_door_timer(now).await;
                }
                Wake::Relay => {
                    self.poll_relay();
                    self.expire(Instant::now());
                }
                Wake::Command(cmd) => self.on_command(Instant::now(), cmd),
                Wake::Control(Some(Control::Reload(cfg))) => self.reload(cfg),
                Wake::Control(Some(Control::Shutdown)) => self.shutdown(Instant::now()),
                Wake::Control(None) => {
                    control_open = false;
                    self.shutdown(Instant::now());
                }
            }
            self.flush().await;
            let done = self.stage_done(Instant::now());
            self.flush().await;
            if done {
                break;
            }
        }
        self.finish();
    }

    /// Starts the drain: readiness off, new INVITEs refused from now on.
    fn shutdown(&mut self, now: Instant) {
        if self.stage != Stage::Serving {
            // A second SIGTERM: end the drain now.
            if let Stage::Draining(_) = self.stage {
                self.stage = Stage::Draining(now);
            }
            return;
        }
        let drain = self.cfg.general.drain_timeout();
        tracing::info!(
            calls = self.core.call_count(),
            "shutting down: new calls get 503; live calls may run {}s",
            drain.as_secs()
        );
        self.recorder.metrics().set_ready(false);
        self.stage = Stage::Draining(now + drain);
    }

    /// Moves the drain on; `true` when the loop should stop.
    fn stage_done(&mut self, now: Instant) -> bool {
        match self.stage {
            Stage::Serving => false,
            Stage::Draining(until) => {
                let live = self.core.call_count();
                if live == 0 {
                    tracing::info!("drained: no calls left");
                    self.stage = Stage::Closing(now + MEDIA_WAIT);
                } else if now >= until {
                    tracing::info!(
                        calls = live,
                        "drain timeout: hanging up the remaining calls"
                    );
                    self.core.shut_down_calls(now);
                    self.stage = Stage::Closing(now + CLOSE_GRACE);
                }
                false
            }
            Stage::Closing(until) => {
                now >= until
                    || (self.pending_cdrs.is_empty()
                        && self.core.call_count() == 0
                        && self.core.dialog_count() == 0)
            }
        }
    }

    /// Writes the CDRs still waiting for media statistics and closes the CDR file.
    fn finish(&mut self) {
        for (_, (record, _)) in self.pending_cdrs.drain() {
            if let Some(w) = &self.cdr {
                w.write(record);
            }
        }
        if let Some(w) = self.cdr.take() {
            let dropped = w.dropped();
            w.close();
            tracing::info!(dropped, "CDRs flushed");
        }
        tracing::info!("stopped");
    }

    /// Applies a new configuration without touching live calls or registrations: routes, users,
    /// realms, limits, header policy and session timers apply to what comes next; interface,
    /// relay, admin and transaction timer changes need a restart and are left as they run.
    fn reload(&mut self, new: Arc<Config>) {
        let old = &self.cfg;
        let mut kept = Vec::new();
        let mut eff = (*new).clone();
        if eff.interfaces != old.interfaces {
            kept.push("interface");
            eff.interfaces.clone_from(&old.interfaces);
        }
        if eff.relay != old.relay {
            kept.push("relay");
            eff.relay = old.relay.clone();
        }
        if eff.admin != old.admin {
            kept.push("admin");
            eff.admin = old.admin.clone();
        }
        if (eff.sip.t1_ms, eff.sip.t2_ms, eff.sip.t4_ms)
            != (old.sip.t1_ms, old.sip.t2_ms, old.sip.t4_ms)
        {
            kept.push("sip timers (t1_ms, t2_ms, t4_ms)");
            (eff.sip.t1_ms, eff.sip.t2_ms, eff.sip.t4_ms) =
                (old.sip.t1_ms, old.sip.t2_ms, old.sip.t4_ms);
        }
        if (
            eff.general.log_level,
            eff.general.log_format,
            &eff.general.node_name,
        ) != (
            old.general.log_level,
            old.general.log_format,
            &old.general.node_name,
        ) {
            kept.push("general (node_name, log_level, log_format)");
            eff.general.log_level = old.general.log_level;
            eff.general.log_format = old.general.log_format;
            eff.general.node_name.clone_from(&old.general.node_name);
        }
        if let Err(e) = eff.validate() {
            tracing::error!("reload refused, the running config is kept: with the running interfaces, relay and admin sections the new config is invalid: {e}");
            return;
        }
        let cfg = Arc::new(eff);
        let limits_changed = cfg.limits != self.cfg.limits;
        let dropped =
            self.customers
                .reload(&cfg, &self.front_secret, random_seed(), limits_changed);
        if !dropped.is_empty() {
            tracing::warn!(
                "realm settings changed: the bindings of {} were dropped",
                dropped.join(", ")
            );
        }
        self.customer_ifaces = front_door::customer_interfaces(&cfg);
        self.core.router_mut().set_config(cfg.clone());
        self.core.set_call_config(call_config(&cfg));
        self.limits = crate::limits(&cfg);
        self.large_over_tcp = cfg
            .routes
            .iter()
            .filter(|r| r.transport == sbc_config::Transport::Udp && r.large_requests_over_tcp)
            .map(|r| r.next_hop)
            .collect();
        self.server = server_name(&cfg);
        self.message_log = cfg
            .general
            .log_sip_messages
            .then(|| MessageLog::new(cfg.general.log_sip_rate_per_s));
        tracing::info!(
            routes = cfg.routes.len(),
            users = cfg.users.len(),
            realms = cfg.realms.len(),
            max_calls = cfg.limits.max_calls,
            live_calls = self.core.call_count(),
            "config reloaded"
        );
        if !kept.is_empty() {
            tracing::warn!("changes to {} need a restart: not applied", kept.join(", "));
        }
        self.cfg = cfg;
        self.record_customers();
    }

    async fn on_datagram(&mut self, i: usize, data: Bytes, from: SocketAddr) {
        let Some(l) = self.listeners.get(i) else {
            return;
        };
        let ingress = Ingress {
            interface: l.interface,
            local: l.signalling,
            transport: Transport::Udp,
        };
        if self.udp_peers.len() >= MAX_FLOWS && !self.udp_peers.contains_key(&from) {
            self.udp_peers.clear();
        }
        self.udp_peers.insert(from, i);
        let mut msg = match Message::parse_checked(data.clone(), &self.limits) {
            Ok(m) => m,
            Err(e) => {
                self.recorder.unreadable();
                match e.reply() {
                    Some(mut r) => {
                        tracing::debug!(%from, "unreadable request: {}", e.kind);
                        r.push_header(HeaderName::Server, self.server.clone());
                        self.send(i, from, &r.to_bytes()).await;
                    }
                    None => tracing::debug!(%from, "dropped unreadable message: {}", e.kind),
                }
                return;
            }
        };
        self.recorder.received(&msg);
        self.log_message("received from", from, &data);
        if !msg.is_request() && self.front_door_response(Instant::now(), &msg).await {
            return;
        }
        if msg.method() == Some(&Method::Options) && msg.to().is_some_and(|t| t.tag().is_none()) {
            // Out-of-dialog OPTIONS (trunk keep-alives, probes) are answered statelessly, as a
            // stateless UAS may (RFC 3261 §8.2.7, §11): no transaction state per ping, and a
            // prober reusing a branch from a new port still gets its answer.
            match handle_datagram(data, &self.limits, &self.server) {
                Reply::Send(rsp) => self.send(i, from, &rsp.to_bytes()).await,
                Reply::Drop(why) => tracing::debug!(%from, "dropped: {why}"),
            }
            return;
        }
        if self.refuse_while_draining(&msg, from) {
            let rsp = self.drain_refusal(&msg);
            self.send(i, from, &rsp.to_bytes()).await;
            return;
        }
        stamp_received(&mut msg, from);
        self.core.router_mut().set_ingress(ingress);
        let now = Instant::now();
        let msg = match self
            .front_door(now, msg, front_door::Peer::Udp(i, from), ingress)
            .await
        {
            front_door::Verdict::Core(m) => m,
            front_door::Verdict::Done => return,
        };
        let source = Dest {
            addr: from,
            transport: Transport::Udp,
        };
        let span = self.span_of(&msg);
        let _in_call = span.enter();
        if let Err(e) = self.core.handle_message(now, msg, source) {
            tracing::debug!(%from, "message refused: {e}");
        }
    }

    /// Whether `msg` is a new INVITE to refuse because the SBC is draining: retransmissions of
    /// INVITEs already taken still reach the core.
    fn refuse_while_draining(&self, msg: &Message, from: SocketAddr) -> bool {
        let refuse = self.stage != Stage::Serving
            && msg.method() == Some(&Method::Invite)
            && msg.to().is_some_and(|t| t.tag().is_none())
            && !msg.call_id().is_some_and(|c| self.core.has_call_id(c));
        if refuse {
            tracing::info!(%from, call_id = msg.call_id().unwrap_or_default(), "new call refused: shutting down");
        }
        refuse
    }

    /// The 503 a new call gets while draining, overloaded-style, with when to come back (RFC
    /// 3261 §21.5.4).
    fn drain_refusal(&self, msg: &Message) -> Message {
        let mut rsp = Message::response_to(msg, 503, "Service Unavailable");
        if let Some(to) = msg.header(&HeaderName::To) {
            let tagged = format!("{to};tag=drain{:x}", self.core.call_count());
            rsp.set_header(HeaderName::To, tagged);
        }
        rsp.push_header(
            HeaderName::RetryAfter,
            self.cfg.limits.retry_after_s.to_string(),
        );
        rsp.push_header(HeaderName::Server, self.server.clone());
        rsp
    }

    /// The log span of the call `msg` belongs to (by either leg's Call-ID), if any.
    fn span_of(&self, msg: &Message) -> tracing::Span {
        msg.call_id()
            .and_then(|c| self.by_call_id.get(c))
            .and_then(|k| self.calls.get(k))
            .map_or_else(tracing::Span::none, |t| t.span.clone())
    }

    /// Acts on a connection task's note: new connections, framed messages, closed flows.
    async fn on_note(&mut self, note: Note) {
        let now = Instant::now();
        match note {
            Note::Accepted {
                listener,
                stream,
                remote,
            } => {
                let Some(ep) = self.tcp.get(listener) else {
                    return;
                };
                match self.flows.open(
                    now,
                    Transport::Tcp,
                    ep.signalling,
                    remote,
                    ep.interface,
                    false,
                ) {
                    Ok(id) => {
                        tracing::debug!(%remote, flow = id.0, "tcp connection accepted");
                        if self.tcp_peers.len() >= MAX_FLOWS
                            && !self.tcp_peers.contains_key(&remote)
                        {
                            self.tcp_peers.clear();
                        }
                        self.tcp_peers.insert(remote, listener);
                        let (tx, rx) = mpsc::channel(stream::WRITE_QUEUE);
                        self.conns.insert(id, tx);
                        let input = StreamInput::new(self.max_stream_message, &self.server);
                        stream::spawn_connection(id, stream, rx, self.notes_tx.clone(), input);
                    }
                    // Dropping the stream closes it.
                    Err(e) => tracing::warn!(%remote, "tcp connection refused: {e}"),
                }
            }
            Note::Message { flow, bytes } => self.on_stream_message(now, flow, bytes).await,
            Note::KeepAlive { flow } => self.flows.touch(flow, now),
            Note::Closed { flow, unsent, why } => {
                self.conns.remove(&flow);
                let closed = self.flows.close(flow);
                self.customers.handle_flow_closed(flow.0);
                self.record_customers();
                if let Some(f) = closed {
                    tracing::debug!(remote = %f.remote, flow = flow.0, "tcp connection closed: {why}");
                }
                for out in unsent {
                    // A response stranded on a connection the peer opened gets one more try on
                    // a new connection to its Via (RFC 3261 §18.2.2); a connection the SBC
                    // opened itself is not retried, so a refused peer cannot make a loop.
                    match closed {
                        Some(f) if !f.outbound && out.bytes.starts_with(b"SIP/") => {
                            self.send_stream(now, f.remote, out).await;
                        }
                        _ => self.on_unsent(now, out).await,
                    }
                }
            }
        }
    }

    /// A queued message that never left on its connection: a request moved to TCP for its size
    /// goes over UDP after all (RFC 3261 §18.1.1); otherwise its transaction learns of the
    /// transport error (§17.1.4, §17.2.4).
    async fn on_unsent(&mut self, now: Instant, out: Outgoing) {
        if let Some((dest, bytes)) = out.udp_fallback {
            if let Some(b) = top_via_branch(&bytes) {
                self.switchover.fall_back(&b);
            }
            tracing::info!(%dest, "tcp refused: large request sent over udp");
            let t = Transmit {
                dest: Dest {
                    addr: dest,
                    transport: Transport::Udp,
                },
                bytes,
                tx: out.tx,
            };
            if let Some(i) = self.socket_for(&t) {
                self.send(i, dest, &t.bytes).await;
            }
            return;
        }
        if let Some(tx) = out.tx {
            self.core.handle_transport_error(now, tx);
        }
    }

    /// A framed message from a flow: parsed, answered statelessly (OPTIONS) or fed to the core
    /// with the flow as its source (RFC 3261 §18.3, §18.2.1).
    async fn on_stream_message(&mut self, now: Instant, flow: FlowId, bytes: Bytes) {
        let Some(f) = self.flows.get(flow).copied() else {
            return;
        };
        self.flows.touch(flow, now);
        let from = f.remote;
        let mut msg =
            match Message::parse_stream(bytes.clone(), &self.limits).and_then(Message::checked) {
                Ok(m) => m,
                Err(e) => {
                    self.recorder.unreadable();
                    match e.reply() {
                        Some(mut r) => {
                            tracing::debug!(%from, "unreadable request: {}", e.kind);
                            r.push_header(HeaderName::Server, self.server.clone());
                            self.write(flow, r.to_bytes(), None);
                        }
                        None => tracing::debug!(%from, "dropped unreadable message: {}", e.kind),
                    }
                    return;
                }
            };
        self.recorder.received(&msg);
        self.log_message("received from", from, &bytes);
        if !msg.is_request() && self.front_door_response(now, &msg).await {
            return;
        }
        if msg.method() == Some(&Method::Options) && msg.to().is_some_and(|t| t.tag().is_none()) {
            match handle_datagram(bytes, &self.limits, &self.server) {
                Reply::Send(rsp) => {
                    self.write(flow, rsp.to_bytes(), None);
                }
                Reply::Drop(why) => tracing::debug!(%from, "dropped: {why}"),
            }
            return;
        }
        if self.refuse_while_draining(&msg, from) {
            let rsp = self.drain_refusal(&msg).to_bytes();
            self.write(flow, rsp, None);
            return;
        }
        stamp_received(&mut msg, from);
        let ingress = Ingress {
            interface: f.interface,
            local: f.local,
            transport: f.transport,
        };
        self.core.router_mut().set_ingress(ingress);
        let msg = match self
            .front_door(now, msg, front_door::Peer::Tcp(flow, from), ingress)
            .await
        {
            front_door::Verdict::Core(m) => m,
            front_door::Verdict::Done => return,
        };
        let source = Dest {
            addr: from,
            transport: f.transport,
        };
        let span = self.span_of(&msg);
        let _in_call = span.enter();
        if let Err(e) = self.core.handle_message(now, msg, source) {
            tracing::debug!(%from, "message refused: {e}");
        }
    }

    /// Queues bytes on a flow; false if it has no open connection.
    fn write(&mut self, flow: FlowId, bytes: Bytes, tx: Option<TxId>) -> bool {
        self.write_out(
            flow,
            Outgoing {
                bytes,
                tx,
                udp_fallback: None,
            },
        )
        .is_ok()
    }

    /// Queues `out` on a flow, handing it back if the flow is gone or its queue is full.
    fn write_out(&mut self, flow: FlowId, out: Outgoing) -> Result<(), Outgoing> {
        let Some(conn) = self.conns.get(&flow) else {
            return Err(out);
        };
        let bytes = out.bytes.clone();
        let peer = self.flows.get(flow).map(|f| f.remote);
        match conn.try_send(out) {
            Ok(()) => {
                self.recorder.sent(&bytes);
                if let Some(peer) = peer {
                    self.log_message("sent to", peer, &bytes);
                }
                self.flows.touch(flow, Instant::now());
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(out)) => {
                // The peer stopped reading: drop the connection (its task ends when the queue
                // goes) and let the caller try a fresh one.
                tracing::warn!(flow = flow.0, "tcp write queue full: connection closed");
                self.conns.remove(&flow);
                self.flows.close(flow);
                Err(out)
            }
            Err(mpsc::error::TrySendError::Closed(out)) => Err(out),
        }
    }

    /// Sends over TCP to `dest`: on the open flow that reaches it, else — for a response — the
    /// flow or a new connection to its Via's received/rport/sent-by (RFC 3261 §18.2.2, RFC 3581
    /// §4), else on a new connection from the sending interface's TCP address (§18.1.1).
    async fn send_stream(&mut self, now: Instant, dest: SocketAddr, out: Outgoing) {
        let out = match self.flows.find(Transport::Tcp, dest) {
            Some(id) => match self.write_out(id, out) {
                Ok(()) => return,
                Err(out) => out,
            },
            None => out,
        };
        let is_response = out.bytes.starts_with(b"SIP/");
        let (target, endpoint) = if is_response {
            let target = parse_own(&out.bytes, &self.limits)
                .and_then(|m| response_target(&m))
                .unwrap_or(dest);
            let ep = self
                .tcp_peers
                .get(&dest)
                .or_else(|| self.tcp_peers.get(&target))
                .copied()
                .or_else(|| {
                    self.tcp
                        .iter()
                        .position(|e| e.bound.is_ipv4() == target.is_ipv4())
                });
            (target, ep)
        } else {
            let ep = top_via_sent_by(&out.bytes)
                .and_then(|a| self.tcp_by_signalling.get(&a).copied())
                .or_else(|| {
                    self.tcp
                        .iter()
                        .position(|e| e.bound.is_ipv4() == dest.is_ipv4())
                });
            (dest, ep)
        };
        if target != dest {
            if let Some(id) = self.flows.find(Transport::Tcp, target) {
                match self.write_out(id, out) {
                    Ok(()) => return,
                    Err(back) => return self.on_unsent(now, back).await,
                }
            }
        }
        let Some(ep) = endpoint.and_then(|i| self.tcp.get(i)) else {
            tracing::warn!(%target, "dropped: no tcp listen address to send from");
            return self.on_unsent(now, out).await;
        };
        let (bind, signalling, interface) = (ep.bound.ip(), ep.signalling, ep.interface);
        let id = match self
            .flows
            .open(now, Transport::Tcp, signalling, target, interface, true)
        {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(%target, "no tcp connection opened: {e}");
                return self.on_unsent(now, out).await;
            }
        };
        tracing::debug!(%target, flow = id.0, "opening tcp connection");
        let (tx, rx) = mpsc::channel(stream::WRITE_QUEUE);
        // The queue is new and its receiver alive, so this cannot fail.
        let _ = tx.try_send(out);
        self.conns.insert(id, tx);
        let input = StreamInput::new(self.max_stream_message, &self.server);
        stream::spawn_connect(id, bind, target, rx, self.notes_tx.clone(), input);
    }

    /// Sends a transmit over UDP, unless it is a request that RFC 3261 §18.1.1 moves to TCP (too
    /// large, or the CANCEL/ACK of one that was moved) or a retransmission of a moved one.
    async fn send_udp(&mut self, now: Instant, t: Transmit) {
        let large = too_large_for_udp(t.bytes.len());
        if !t.bytes.starts_with(b"SIP/") && (large || !self.switchover.is_empty()) {
            if let Some(branch) = top_via_branch(&t.bytes) {
                let tcp = if large && self.large_over_tcp.contains(&t.dest.addr) {
                    self.tcp_sent_by(&t)
                } else {
                    None
                };
                let fingerprint = self.hash(&t.bytes);
                let carrier = self.switchover.carrier(
                    now,
                    &branch,
                    fingerprint,
                    t.bytes.len(),
                    tcp.is_some(),
                );
                match carrier {
                    Carrier::Udp => {}
                    Carrier::Skip => return,
                    Carrier::Tcp => {
                        // A follower (CANCEL, ACK) of a moved request finds its endpoint here.
                        let tcp = tcp.or_else(|| self.tcp_sent_by(&t));
                        if let Some(bytes) = tcp.and_then(|a| self.moved_to_tcp(&t.bytes, a)) {
                            tracing::debug!(dest = %t.dest.addr, len = t.bytes.len(), "request sent over tcp");
                            let out = Outgoing {
                                bytes,
                                tx: t.tx,
                                udp_fallback: Some((t.dest.addr, t.bytes.clone())),
                            };
                            return self.send_stream(now, t.dest.addr, out).await;
                        }
                    }
                }
            }
        }
        match self.socket_for(&t) {
            Some(i) => self.send(i, t.dest.addr, &t.bytes).await,
            None => tracing::warn!(dest = %t.dest.addr, "dropped: no UDP socket"),
        }
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(bytes);
        h.finish()
    }

    /// The TCP signalling address of the interface a UDP request leaves from (by its top Via),
    /// in the destination's IP family: the sent-by once the request moves to TCP (§18.1.1).
    fn tcp_sent_by(&self, t: &Transmit) -> Option<SocketAddr> {
        let udp = top_via_sent_by(&t.bytes)?;
        let interface = self
            .by_signalling
            .get(&udp)
            .and_then(|i| self.listeners.get(*i))?
            .interface;
        self.tcp
            .iter()
            .find(|e| e.interface == interface && e.bound.is_ipv4() == t.dest.addr.is_ipv4())
            .map(|e| e.signalling)
    }

    /// `bytes` with the top Via saying TCP and `sent_by` (RFC 3261 §18.1.1).
    fn moved_to_tcp(&self, bytes: &Bytes, sent_by: SocketAddr) -> Option<Bytes> {
        let mut msg = parse_own(bytes, &self.limits)?;
        set_top_via_transport(&mut msg, Transport::Tcp, sent_by);
        Some(msg.to_bytes())
    }

    /// Closes idle TCP flows and forgets old §18.1.1 switches.
    fn expire(&mut self, now: Instant) {
        for id in self.flows.idle(now) {
            if let Some(f) = self.flows.close(id) {
                tracing::debug!(remote = %f.remote, flow = id.0, "idle tcp connection closed");
            }
            // Dropping the queue ends the connection task.
            self.conns.remove(&id);
        }
        self.switchover.expire(now);
    }

    /// Logs a whole SIP message with credentials redacted, when `[general] log_sip_messages`
    /// is on and the rate allows.
    fn log_message(&mut self, direction: &str, peer: SocketAddr, bytes: &[u8]) {
        let Some(log) = &mut self.message_log else {
            return;
        };
        let Some(suppressed) = log.admit(Instant::now()) else {
            return;
        };
        let text = String::from_utf8_lossy(bytes);
        tracing::info!(target: "sbc::sip", %peer, suppressed, "{direction} {peer}:\n{}", redact(&text));
    }

    /// Acts on everything the core has queued: sends and call events.
    async fn flush(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                CallOutput::Transmit(t) => match t.dest.transport {
                    Transport::Udp => self.send_udp(Instant::now(), t).await,
                    Transport::Tcp => {
                        let out = Outgoing {
                            bytes: t.bytes,
                            tx: t.tx,
                            udp_fallback: None,
                        };
                        self.send_stream(Instant::now(), t.dest.addr, out).await;
                    }
                    Transport::Tls => {
                        tracing::warn!(dest = %t.dest.addr, "dropped: TLS is not built yet");
                    }
                },
                CallOutput::Event(e) => {
                    self.recorder.call_event(Instant::now(), &e);
                    self.track(&e);
                }
            }
        }
        let core = &self.core;
        self.recorder.core(
            core.call_count(),
            core.transaction_count(),
            core.dialog_count(),
        );
    }

    /// Follows a call for its log span and its CDR: opens both on [`CallEvent::Started`],
    /// stamps the answer, and on [`CallEvent::Ended`] queues the record for the relay's final
    /// media statistics (or writes it at once when the call had no media session).
    fn track(&mut self, e: &CallEvent) {
        let key = match e {
            CallEvent::Started { call, .. }
            | CallEvent::Progress { call, .. }
            | CallEvent::Rerouted { call, .. }
            | CallEvent::Answered { call }
            | CallEvent::Ended { call, .. } => *call,
        };
        if let CallEvent::Started {
            a_call_id,
            b_call_id,
            detail,
            ..
        } = e
        {
            let span = tracing::info_span!("call", id = key.0, a_call_id = %a_call_id, b_call_id = %b_call_id);
            if let Some(record) =
                CallRecord::started(&self.cfg.general.node_name, e, SystemTime::now())
            {
                self.by_call_id.insert(a_call_id.clone(), key);
                self.by_call_id.insert(b_call_id.clone(), key);
                self.calls.insert(
                    key,
                    Tracked {
                        record,
                        media_session: detail.media_session,
                        span,
                    },
                );
            }
        }
        let span = self
            .calls
            .get(&key)
            .map_or_else(tracing::Span::none, |t| t.span.clone());
        span.in_scope(|| log_event(e));
        match e {
            CallEvent::Answered { .. } => {
                if let Some(t) = self.calls.get_mut(&key) {
                    t.record.answer.get_or_insert_with(SystemTime::now);
                }
            }
            CallEvent::Ended { reason, code, .. } => {
                let Some(mut t) = self.calls.remove(&key) else {
                    return;
                };
                for leg in &t.record.legs {
                    self.by_call_id.remove(&leg.call_id);
                }
                t.record.end = SystemTime::now();
                t.record.reason = *reason;
                t.record.code = *code;
                if self.cdr.is_none() {
                    return;
                }
                match t.media_session {
                    Some(session) => {
                        self.pending_cdrs
                            .insert(session, (t.record, Instant::now() + MEDIA_WAIT));
                    }
                    None => self.write_cdr(t.record),
                }
            }
            CallEvent::Started { .. } | CallEvent::Progress { .. } | CallEvent::Rerouted { .. } => {
            }
        }
    }

    fn write_cdr(&self, record: CallRecord) {
        if let Some(w) = &self.cdr {
            w.write(record);
        }
    }

    /// The socket a message leaves from: a request's by its top Via (the side the core wrote
    /// it for), a response's by the peer's flow, else the first socket.
    fn socket_for(&self, t: &Transmit) -> Option<usize> {
        let by_via = if t.bytes.starts_with(b"SIP/") {
            None
        } else {
            top_via_sent_by(&t.bytes).and_then(|a| self.by_signalling.get(&a).copied())
        };
        by_via
            .or_else(|| self.udp_peers.get(&t.dest.addr).copied())
            .or_else(|| (!self.listeners.is_empty()).then_some(0))
    }

    async fn send(&mut self, i: usize, to: SocketAddr, bytes: &[u8]) {
        self.log_message("sent to", to, bytes);
        let Some(l) = self.listeners.get(i) else {
            return;
        };
        match l.sock.send_to(bytes, to).await {
            Ok(_) => self.recorder.sent(bytes),
            Err(e) => tracing::warn!("udp send to {to}: {e}"),
        }
    }

    /// Drains the relay's events: inactivity hangs answered calls up, the rest is logged.
    fn poll_relay(&mut self) {
        self.recorder.relay(&self.core.media().metrics());
        let now = Instant::now();
        let late: Vec<SessionId> = self
            .pending_cdrs
            .iter()
            .filter(|(_, (_, deadline))| now >= *deadline)
            .map(|(s, _)| *s)
            .collect();
        for session in late {
            if let Some((record, _)) = self.pending_cdrs.remove(&session) {
                tracing::debug!(
                    call = record.call,
                    "CDR written without final media statistics"
                );
                self.write_cdr(record);
            }
        }
        while let Some(event) = self.core.media_mut().poll_event() {
            match event {
                RelayEvent::Closed { session } => {
                    let stats = self.core.media_mut().take_final_stats(session);
                    if let Some((mut record, _)) = self.pending_cdrs.remove(&session) {
                        record.media = stats.unwrap_or_default();
                        self.write_cdr(record);
                    }
                }
                RelayEvent::Inactive { session, idle } => {
                    if self.core.handle_media_timeout(Instant::now(), session) {
                        tracing::info!(session, ?idle, "no media: call hung up");
                    } else {
                        tracing::debug!(session, ?idle, "no media on a call not answered yet");
                    }
                }
                RelayEvent::Latched {
                    session,
                    stream,
                    leg,
                    peer,
                } => tracing::debug!(session, stream, leg, %peer, "media latched"),
                RelayEvent::SourceRejected {
                    session,
                    stream,
                    leg,
                    from,
                    count,
                } => {
                    if count.is_power_of_two() {
                        tracing::warn!(session, stream, leg, %from, count, "media from a foreign source dropped");
                    }
                }
            }
        }
    }
}

/// The TCP connection limits from `[sip]` (RFC 3261 §26.1.5).
pub fn flow_limits(cfg: &Config) -> FlowLimits {
    FlowLimits {
        max_flows: usize::try_from(cfg.sip.tcp_max_connections).unwrap_or(usize::MAX),
        max_per_source: usize::try_from(cfg.sip.tcp_max_connections_per_source)
            .unwrap_or(usize::MAX),
        idle_timeout: cfg.sip.tcp_idle_timeout(),
    }
}

/// Parses a message the SBC itself serialized (for its Via), `None` if it does not parse.
fn parse_own(bytes: &Bytes, limits: &Limits) -> Option<Message> {
    Message::parse(bytes.clone(), limits).ok()
}

fn log_event(e: &CallEvent) {
    match e {
        CallEvent::Started {
            call,
            a_call_id,
            b_call_id,
            ..
        } => tracing::info!(call = call.0, a_call_id, b_call_id, "call started"),
        CallEvent::Progress { call, code } => tracing::debug!(call = call.0, code, "call progress"),
        CallEvent::Rerouted { call, route, after } => {
            tracing::info!(call = call.0, route, after, "call rerouted");
        }
        CallEvent::Answered { call } => tracing::info!(call = call.0, "call answered"),
        CallEvent::Ended { call, reason, code } => {
            tracing::info!(call = call.0, ?reason, code, "call ended");
        }
    }
}

/// Waits for a datagram on any listener, trying them from `start` round-robin; yields the
/// listener's index and what its `recv_from` returned (length, source).
fn recv_any<'a>(
    listeners: &'a [Listener],
    buf: &'a mut [u8],
    start: usize,
) -> impl Future<Output = (usize, std::io::Result<(usize, SocketAddr)>)> + 'a {
    std::future::poll_fn(move |cx| {
        let n = listeners.len();
        for k in 0..n {
            let i = start.wrapping_add(k) % n;
            let Some(l) = listeners.get(i) else {
                continue;
            };
            let mut rb = tokio::io::ReadBuf::new(&mut *buf);
            if let Poll::Ready(r) = l.sock.poll_recv_from(cx, &mut rb) {
                let len = rb.filled().len();
                return Poll::Ready((i, r.map(|from| (len, from))));
            }
        }
        Poll::Pending
    })
}

/// The first via-parm of a serialized message's top Via, read without parsing the whole
/// message (RFC 3261 §20.42).
fn top_via_text(bytes: &[u8]) -> Option<&str> {
    // Line by line up to the Via (normally the second line), not over the whole message: this
    // runs for every datagram sent.
    let mut rest = bytes;
    let mut first = true;
    loop {
        let (line, next) = match find_crlf(rest) {
            Some(i) => (rest.get(..i)?, rest.get(i + 2..)),
            None => (rest, None),
        };
        if !first && line.is_empty() {
            // The blank line ending the header section.
            return None;
        }
        let line = std::str::from_utf8(line).ok()?;
        if !first {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
                    return value.split(',').next();
                }
            }
        }
        first = false;
        rest = next?;
    }
}

/// The offset of the first CRLF in `b`.
fn find_crlf(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + b.get(from..)?.iter().position(|&c| c == b'\r')?;
        if b.get(i + 1) == Some(&b'\n') {
            return Some(i);
        }
        from = i + 1;
    }
}

/// The sent-by of a serialized request's top Via as an address (default port 5060), read
/// without parsing the whole message (RFC 3261 §18.1.1, §20.42).
fn top_via_sent_by(bytes: &[u8]) -> Option<SocketAddr> {
    let via = Via::parse(top_via_text(bytes)?).ok()?;
    Some(SocketAddr::new(via.host_ip()?, via.port.unwrap_or(5060)))
}

/// The branch of a serialized message's top Via, read without parsing the whole message
/// (RFC 3261 §8.1.1.7): an INVITE, its CANCEL and its non-2xx ACK share it.
fn top_via_branch(bytes: &[u8]) -> Option<String> {
    let via = Via::parse(top_via_text(bytes)?).ok()?;
    via.branch().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]
media_address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }]
media_address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 30999

[[route]]
name = "emergency"
from_interface = "customer"
request_user = "911"
next_hop = "127.0.0.1:5091"
to_interface = "core"
priority = 10

[[route]]
name = "default"
from_interface = "customer"
next_hop = "127.0.0.1:5090"
to_interface = "core"
"#;

    fn invite(ruri: &str) -> Message {
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    fn router() -> ConfigRouter {
        let cfg = Config::from_toml_str(CONFIG, "t.toml").unwrap();
        ConfigRouter::new(Arc::new(cfg))
    }

    fn udp(s: &str) -> Dest {
        Dest {
            addr: s.parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    #[test]
    fn routes_by_interface_user_and_priority() {
        let mut r = router();
        r.set_ingress(Ingress {
            interface: 0,
            local: "127.0.0.1:5060".parse().unwrap(),
            transport: Transport::Udp,
        });
        let route = r
            .route(&invite("sip:100@example.com"), udp("127.0.0.1:6000"))
            .unwrap();
        assert_eq!(route.a_side.sip, udp("127.0.0.1:5060"));
        assert_eq!(route.a_side.media_interface, "customer");
        assert_eq!(route.b_side.sip, udp("127.0.0.1:5080"));
        assert_eq!(route.b_side.media_interface, "core");
        assert_eq!(route.next_hop, udp("127.0.0.1:5090"));
        let route = r
            .route(&invite("sip:911@example.com"), udp("127.0.0.1:6000"))
            .unwrap();
        assert_eq!(route.next_hop, udp("127.0.0.1:5091"));
    }

    #[test]
    fn a_tcp_route_leaves_from_the_tcp_listener_and_leg_a_keeps_its_transport() {
        let text = CONFIG
            .replace(
                r#"listen = [{ transport = "udp", address = "127.0.0.1:5080" }]"#,
                r#"listen = [{ transport = "udp", address = "127.0.0.1:5080" }, { transport = "tcp", address = "127.0.0.1:5081" }]"#,
            )
            .replace(
                "next_hop = \"127.0.0.1:5091\"\n",
                "next_hop = \"127.0.0.1:5091\"\ntransport = \"tcp\"\n",
            );
        let cfg = Config::from_toml_str(&text, "t.toml").unwrap();
        let mut r = ConfigRouter::new(Arc::new(cfg));
        r.set_ingress(Ingress {
            interface: 0,
            local: "127.0.0.1:5060".parse().unwrap(),
            transport: Transport::Tcp,
        });
        let tcp = |s: &str| Dest {
            addr: s.parse().unwrap(),
            transport: Transport::Tcp,
        };
        let route = r
            .route(&invite("sip:911@example.com"), tcp("127.0.0.1:40000"))
            .unwrap();
        assert_eq!(
            route.a_side.sip,
            tcp("127.0.0.1:5060"),
            "leg A stays on TCP"
        );
        assert_eq!(route.b_side.sip, tcp("127.0.0.1:5081"));
        assert_eq!(route.next_hop, tcp("127.0.0.1:5091"));
        // The UDP route still leaves from the UDP socket.
        let route = r
            .route(&invite("sip:100@example.com"), tcp("127.0.0.1:40000"))
            .unwrap();
        assert_eq!(route.b_side.sip, udp("127.0.0.1:5080"));
        assert_eq!(route.next_hop, udp("127.0.0.1:5090"));
    }

    #[test]
    fn flow_limits_follow_the_file() {
        let text = format!(
            "{CONFIG}\n[sip]\ntcp_idle_timeout_s = 30\ntcp_max_connections = 100\ntcp_max_connections_per_source = 5\n"
        );
        let cfg = Config::from_toml_str(&text, "t.toml").unwrap();
        let l = flow_limits(&cfg);
        assert_eq!(l.idle_timeout, Some(Duration::from_secs(30)));
        assert_eq!((l.max_flows, l.max_per_source), (100, 5));
    }

    #[test]
    fn no_route_is_404_and_never_the_request_uri_host() {
        let mut r = router();
        r.set_ingress(Ingress {
            interface: 1,
            local: "127.0.0.1:5080".parse().unwrap(),
            transport: Transport::Udp,
        });
        let err = r
            .route(&invite("sip:100@127.0.0.1:9999"), udp("127.0.0.1:6000"))
            .unwrap_err();
        assert_eq!(err.code, 404);
    }

    const RETRY_CONFIG: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]
media_address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }]
media_address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 30999

[[route]]
name = "primary"
from_interface = "customer"
next_hop = "127.0.0.1:5090"
to_interface = "core"
priority = 10
failover_on = [503]
forward_on = "voicemail"
forward_codes = [486]
no_answer_timeout_s = 20
follow_redirects = true
max_redirects = 2

[[route]]
name = "backup"
from_interface = "customer"
next_hop = "127.0.0.1:5092"
to_interface = "core"
priority = 20

[[route]]
name = "partner"
from_interface = "customer"
request_domain = "partner.example.net"
next_hop = "127.0.0.1:5094"
to_interface = "core"
priority = 5

[[route]]
name = "voicemail"
from_interface = "core"
request_user = "vm"
next_hop = "127.0.0.1:5093"
to_interface = "core"
"#;

    fn retry_router() -> ConfigRouter {
        let cfg = Config::from_toml_str(RETRY_CONFIG, "t.toml").unwrap();
        let mut r = ConfigRouter::new(Arc::new(cfg));
        r.set_ingress(Ingress {
            interface: 0,
            local: "127.0.0.1:5060".parse().unwrap(),
            transport: Transport::Udp,
        });
        r
    }

    fn names(targets: &[Target]) -> Vec<&str> {
        targets.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn targets_carry_each_routes_failover_forwarding_and_redirect_settings() {
        let mut r = retry_router();
        let t = r
            .targets(&invite("sip:100@example.com"), udp("127.0.0.1:6000"))
            .unwrap();
        assert_eq!(names(&t), ["primary", "backup"]);
        assert_eq!(t[0].failover_on, [503]);
        assert_eq!(t[0].forward_codes, [486]);
        assert_eq!(t[0].no_answer, Some(Duration::from_secs(20)));
        assert_eq!(t[0].max_redirects, 2);
        // The forward route is used as is: its own match keys (user "vm", interface "core")
        // are not consulted, and leg A stays where the call came in.
        let fwd = t[0].forward.as_deref().unwrap();
        assert_eq!(fwd.name, "voicemail");
        assert_eq!(fwd.route.next_hop, udp("127.0.0.1:5093"));
        assert_eq!(fwd.route.a_side.sip, udp("127.0.0.1:5060"));
        assert_eq!(fwd.route.a_side.media_interface, "customer");
        // The defaults: fail over on 408/503, nothing else.
        assert_eq!(t[1].failover_on, [408, 503]);
        assert_eq!((t[1].max_redirects, t[1].no_answer), (0, None));
        assert!(t[1].forward.is_none());
        assert_eq!(
            r.route(&invite("sip:100@example.com"), udp("127.0.0.1:6000"))
                .unwrap(),
            t[0].route
        );
    }

    #[test]
    fn redirect_targets_come_from_the_routes_never_from_the_contact_host() {
        let mut r = retry_router();
        let t = r
            .targets(&invite("sip:100@example.com"), udp("127.0.0.1:6000"))
            .unwrap();
        let a_side = t[0].route.a_side.clone();
        // Matched on the Contact's domain, sent to the route's next hop.
        let t = r.reroute(
            &a_side,
            udp("127.0.0.1:6000"),
            "sip:carol@partner.example.net",
        );
        assert_eq!(names(&t), ["partner", "primary", "backup"]);
        // An IP-literal Contact only picks a route; nothing goes to 192.0.2.77.
        let t = r.reroute(&a_side, udp("127.0.0.1:6000"), "sip:carol@192.0.2.77:5060");
        assert_eq!(names(&t), ["primary", "backup"]);
        assert!(t.iter().all(
            |t| t.route.next_hop.addr.ip() != "192.0.2.77".parse::<std::net::IpAddr>().unwrap()
        ));
        // From the core side nothing matches "carol": the Contact is not followed.
        let core = Side {
            sip: udp("127.0.0.1:5080"),
            media_interface: "core".into(),
            media_advertised: None,
        };
        assert!(r
            .reroute(&core, udp("127.0.0.1:6000"), "sip:carol@127.0.0.1:9999")
            .is_empty());
    }

    #[test]
    fn reads_the_top_via_of_a_request() {
        let req = b"BYE sip:a@x SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx;rport, SIP/2.0/UDP 10.0.0.1\r\nVia: SIP/2.0/UDP 10.0.0.2:1\r\n\r\n";
        assert_eq!(top_via_sent_by(req), "127.0.0.1:5080".parse().ok());
        assert_eq!(top_via_sent_by(b"BYE sip:a@x SIP/2.0\r\n\r\n"), None);
        assert_eq!(top_via_branch(req).as_deref(), Some("z9hG4bKx"));
        assert_eq!(top_via_branch(b"BYE sip:a@x SIP/2.0\r\n\r\n"), None);
        // A Via-like line in the body is not a header.
        let body_via =
            b"BYE sip:a@x SIP/2.0\r\nMax-Forwards: 70\r\n\r\nVia: SIP/2.0/UDP 10.0.0.9:1\r\n";
        assert_eq!(top_via_sent_by(body_via), None);
        // A header line with a lone CR in it is still one line.
        let cr = b"BYE sip:a@x SIP/2.0\r\nX-A: a\rb\r\nVia: SIP/2.0/UDP 10.0.0.9:1\r\n\r\n";
        assert_eq!(top_via_sent_by(cr), "10.0.0.9:1".parse().ok());
    }

    #[test]
    fn relay_and_call_config_follow_the_file() {
        let cfg = Config::from_toml_str(CONFIG, "t.toml").unwrap();
        let rc = relay_config(&cfg, 7);
        assert_eq!(rc.interfaces.len(), 2);
        assert_eq!(rc.interfaces[1].name, "core");
        assert_eq!(rc.interfaces[1].port_min, 30000);
        assert_eq!(rc.inactivity_timeout, Duration::from_secs(60));
        assert_eq!(rc.worker_rt_priority, None, "0 keeps the normal scheduler");
        let rt = Config::from_toml_str(
            &format!("{CONFIG}\n[relay]\nrealtime_priority = 12\n"),
            "t.toml",
        );
        assert_eq!(relay_config(&rt.unwrap(), 7).worker_rt_priority, Some(12));
        let cc = call_config(&cfg);
        assert_eq!(cc.timers.t1, Duration::from_millis(500));
        assert!(cc.server.starts_with("sbc/"));
    }
}
