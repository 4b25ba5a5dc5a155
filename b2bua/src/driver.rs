//! The driver: with [`crate::admin`], the one place besides the binary with sockets and clocks.
//! It owns the [`B2bua`] call core, the relay behind it and one UDP socket per configured UDP
//! listen address, and runs them on one tokio task, recording into [`crate::metrics`]:
//!
//! ```text
//!   UDP sockets ─► parse ─► B2bua::handle_message(now, msg, source) ─┐
//!   sleep_until(poll_timeout) ─► B2bua::handle_timer(now) ───────────┼─► poll_output ─► send / log
//!   every 100 ms: Relay::poll_event ─► B2bua::handle_media_timeout ──┘
//! ```
//!
//! Which socket a message leaves from: a request carries the SBC's own Via, written by the call
//! core from the [`Side`] the router chose for that leg, so it leaves from the socket whose
//! address is its top Via's sent-by (RFC 3261 §18.1.1); a response leaves from the socket the
//! peer last sent from (RFC 3261 §18.2.2: the flow the request came in on).
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
//! route's `to_interface` to its `next_hop`. Nothing is ever routed to the Request-URI's host and
//! no name is resolved.

use crate::call::{
    B2bua, CallConfig, CallEvent, CallKey, CallOutput, HeaderPolicy, Rejection, Route, Router,
    SessionTimerConfig, Side, DEFAULT_COPIED_HEADERS,
};
use crate::cdr::{CallRecord, CdrError, CdrWriter, MEDIA_WAIT};
use crate::message_log::{redact, MessageLog};
use crate::metrics::{Metrics, MetricsError, Recorder};
use crate::stateless::{handle_datagram, Reply};
use crate::transaction::{Dest, TimerConfig, Transmit, Transport};
use bytes::Bytes;
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Limits, Message, Method, Via};
use sbc_config::{Config, IoBackend, Latching};
use sbc_relay::api::{InterfaceConfig, Relay, RelayConfig, RelayError, RelayEvent, SessionId};
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::{LatchConfig, LatchPolicy};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// How often the relay's events (inactivity, latching, RTP bleed) are collected.
pub const RELAY_POLL: Duration = Duration::from_millis(100);

/// Remembered peer flows (remote address → socket) above which the table is cleared, so a
/// flood of spoofed sources cannot grow it without bound.
const MAX_FLOWS: usize = 65_536;

/// The largest UDP datagram read.
const RECV_BUFFER: usize = 65_536;

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

/// Where the message being fed to the core arrived: the interface and the socket's address as
/// written in Via and Contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ingress {
    /// Index into `Config::interfaces`.
    pub interface: usize,
    /// The receiving socket's signalling address (`advertised` IP when set).
    pub local: SocketAddr,
}

const NOT_FOUND: Rejection = Rejection {
    code: 404,
    reason: "Not Found",
};

const UNAVAILABLE: Rejection = Rejection {
    code: 503,
    reason: "Service Unavailable",
};

/// The `[[route]]` table as a [`Router`]: the first matching route by priority that can leave
/// over UDP; no match is 404 (RFC 3261 §21.4.5).
#[derive(Debug)]
pub struct ConfigRouter {
    cfg: Arc<Config>,
    /// Set by the driver before each message it feeds the core.
    ingress: Option<Ingress>,
}

impl ConfigRouter {
    /// A router over `cfg`'s routes.
    pub fn new(cfg: Arc<Config>) -> Self {
        Self { cfg, ingress: None }
    }

    /// Routes the next INVITEs with `cfg`'s routes (a reload); its interfaces must be the
    /// running ones, in the same order.
    pub fn set_config(&mut self, cfg: Arc<Config>) {
        self.cfg = cfg;
    }

    /// Says where the next message fed to the core arrived; the INVITE's leg A is that socket.
    pub fn set_ingress(&mut self, ingress: Ingress) {
        self.ingress = Some(ingress);
    }
}

impl Router for ConfigRouter {
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection> {
        let ingress = self.ingress.ok_or(NOT_FOUND)?;
        let from = self
            .cfg
            .interfaces
            .get(ingress.interface)
            .ok_or(NOT_FOUND)?;
        let uri = invite.uri().and_then(|u| Uri::parse(u).ok());
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
        for r in routes {
            if r.transport != sbc_config::Transport::Udp {
                continue;
            }
            let Some(to) = self.cfg.interface(&r.to_interface) else {
                continue;
            };
            let Some(out) = to.listen.iter().find(|l| {
                l.transport == sbc_config::Transport::Udp
                    && l.address.is_ipv4() == r.next_hop.is_ipv4()
            }) else {
                continue;
            };
            let udp = |addr| Dest {
                addr,
                transport: Transport::Udp,
            };
            return Ok(Route {
                a_side: Side {
                    sip: udp(ingress.local),
                    media_interface: from.name.clone(),
                    media_advertised: from.advertised,
                },
                b_side: Side {
                    sip: udp(to.signalling_addr(out.address)),
                    media_interface: to.name.clone(),
                    media_advertised: to.advertised,
                },
                next_hop: udp(r.next_hop),
                request_uri: None,
            });
        }
        Err(UNAVAILABLE)
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

/// The running SBC: the call core, the relay, and the UDP sockets (RFC 3261 §18).
pub struct Driver {
    core: B2bua<Relay, ConfigRouter>,
    listeners: Vec<Listener>,
    /// Signalling address → listener, for requests by their top Via.
    by_signalling: HashMap<SocketAddr, usize>,
    /// Peer address → the listener it last sent to, for responses.
    flows: HashMap<SocketAddr, usize>,
    limits: Limits,
    server: String,
    /// The listener polled first next time, so none starves the others.
    next_poll: usize,
    /// Prometheus metrics, shared with the admin server.
    recorder: Recorder,
    /// The running configuration (the last good reload).
    cfg: Arc<Config>,
    /// The CDR writer thread, when `[admin] cdr_path` is set.
    cdr: Option<CdrWriter>,
    /// Live calls: their record so far and their log span.
    calls: HashMap<CallKey, Tracked>,
    /// Both legs' Call-IDs of live calls, to log a message inside its call's span.
    by_call_id: HashMap<String, CallKey>,
    /// Ended calls waiting for their relay session's final statistics, with a deadline.
    pending_cdrs: HashMap<SessionId, (CallRecord, Instant)>,
    /// Rate limit of SIP message logging, when on.
    message_log: Option<MessageLog>,
    stage: Stage,
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
    Timer,
    Relay,
    Control(Option<Control>),
}

impl Driver {
    /// Binds every UDP listen address of `cfg` and starts the relay, logging each; TCP listen
    /// entries are skipped with a warning (not built yet).
    pub async fn start(cfg: Arc<Config>, seed: u64) -> Result<Self, DriverError> {
        let mut listeners = Vec::new();
        let mut by_signalling = HashMap::new();
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
                    sbc_config::Transport::Tcp => tracing::warn!(
                        interface = %iface.name,
                        "{} listener {} not started: only UDP is built so far",
                        l.transport.as_str(),
                        l.address
                    ),
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
            flows: HashMap::new(),
            limits: crate::limits(&cfg),
            server: server_name(&cfg),
            next_poll: 0,
            recorder: Recorder::new(Arc::new(Metrics::new(&cfg.general.node_name)?)),
            message_log: cfg
                .general
                .log_sip_messages
                .then(|| MessageLog::new(cfg.general.log_sip_rate_per_s)),
            cfg,
            cdr,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            pending_cdrs: HashMap::new(),
            stage: Stage::Serving,
        })
    }

    /// The metrics this driver records into, for the admin server (`/metrics`, `/ready`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.recorder.metrics().clone()
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
            let deadline = self.core.poll_timeout();
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
                    () = timer => Wake::Timer,
                    _ = relay_tick.tick() => Wake::Relay,
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
                Wake::Timer => self.core.handle_timer(Instant::now()),
                Wake::Relay => self.poll_relay(),
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
        self.core.router_mut().set_config(cfg.clone());
        self.core.set_call_config(call_config(&cfg));
        self.limits = crate::limits(&cfg);
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
    }

    async fn on_datagram(&mut self, i: usize, data: Bytes, from: SocketAddr) {
        let Some(l) = self.listeners.get(i) else {
            return;
        };
        let ingress = Ingress {
            interface: l.interface,
            local: l.signalling,
        };
        if self.flows.len() >= MAX_FLOWS && !self.flows.contains_key(&from) {
            self.flows.clear();
        }
        self.flows.insert(from, i);
        let msg = match Message::parse_checked(data.clone(), &self.limits) {
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
        if self.stage != Stage::Serving
            && msg.method() == Some(&Method::Invite)
            && msg.to().is_some_and(|t| t.tag().is_none())
            && !msg.call_id().is_some_and(|c| self.core.has_call_id(c))
        {
            // Draining: a new call is refused, overloaded-style, with when to come back (RFC
            // 3261 §21.5.4); retransmissions of INVITEs already taken still reach the core.
            let mut rsp = Message::response_to(&msg, 503, "Service Unavailable");
            if let Some(to) = msg.header(&HeaderName::To) {
                let tagged = format!("{to};tag=drain{:x}", self.core.call_count());
                rsp.set_header(HeaderName::To, tagged);
            }
            rsp.push_header(
                HeaderName::RetryAfter,
                self.cfg.limits.retry_after_s.to_string(),
            );
            rsp.push_header(HeaderName::Server, self.server.clone());
            tracing::info!(%from, call_id = msg.call_id().unwrap_or_default(), "new call refused: shutting down");
            let bytes = rsp.to_bytes();
            self.log_message("sent to", from, &bytes);
            self.send(i, from, &bytes).await;
            return;
        }
        self.core.router_mut().set_ingress(ingress);
        let source = Dest {
            addr: from,
            transport: Transport::Udp,
        };
        let span = msg
            .call_id()
            .and_then(|c| self.by_call_id.get(c))
            .and_then(|k| self.calls.get(k))
            .map_or_else(tracing::Span::none, |t| t.span.clone());
        let _in_call = span.enter();
        if let Err(e) = self.core.handle_message(Instant::now(), msg, source) {
            tracing::debug!(%from, "message refused: {e}");
        }
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
                CallOutput::Transmit(t) => {
                    if t.dest.transport != Transport::Udp {
                        tracing::warn!(dest = %t.dest.addr, "dropped: only UDP is built so far");
                        continue;
                    }
                    match self.socket_for(&t) {
                        Some(i) => {
                            self.log_message("sent to", t.dest.addr, &t.bytes);
                            self.send(i, t.dest.addr, &t.bytes).await;
                        }
                        None => tracing::warn!(dest = %t.dest.addr, "dropped: no UDP socket"),
                    }
                }
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
            CallEvent::Started { .. } | CallEvent::Progress { .. } => {}
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
            .or_else(|| self.flows.get(&t.dest.addr).copied())
            .or_else(|| (!self.listeners.is_empty()).then_some(0))
    }

    async fn send(&self, i: usize, to: SocketAddr, bytes: &[u8]) {
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

fn log_event(e: &CallEvent) {
    match e {
        CallEvent::Started {
            call,
            a_call_id,
            b_call_id,
            ..
        } => tracing::info!(call = call.0, a_call_id, b_call_id, "call started"),
        CallEvent::Progress { call, code } => tracing::debug!(call = call.0, code, "call progress"),
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

/// The sent-by of a serialized request's top Via as an address (default port 5060), read
/// without parsing the whole message (RFC 3261 §18.1.1, §20.42).
fn top_via_sent_by(bytes: &[u8]) -> Option<SocketAddr> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = std::str::from_utf8(bytes.get(..end)?).ok()?;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
            let first = value.split(',').next()?;
            let via = Via::parse(first).ok()?;
            return Some(SocketAddr::new(via.host_ip()?, via.port.unwrap_or(5060)));
        }
    }
    None
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
    fn no_route_is_404_and_never_the_request_uri_host() {
        let mut r = router();
        r.set_ingress(Ingress {
            interface: 1,
            local: "127.0.0.1:5080".parse().unwrap(),
        });
        let err = r
            .route(&invite("sip:100@127.0.0.1:9999"), udp("127.0.0.1:6000"))
            .unwrap_err();
        assert_eq!(err.code, 404);
    }

    #[test]
    fn reads_the_top_via_of_a_request() {
        let req = b"BYE sip:a@x SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx;rport, SIP/2.0/UDP 10.0.0.1\r\nVia: SIP/2.0/UDP 10.0.0.2:1\r\n\r\n";
        assert_eq!(top_via_sent_by(req), "127.0.0.1:5080".parse().ok());
        assert_eq!(top_via_sent_by(b"BYE sip:a@x SIP/2.0\r\n\r\n"), None);
    }

    #[test]
    fn relay_and_call_config_follow_the_file() {
        let cfg = Config::from_toml_str(CONFIG, "t.toml").unwrap();
        let rc = relay_config(&cfg, 7);
        assert_eq!(rc.interfaces.len(), 2);
        assert_eq!(rc.interfaces[1].name, "core");
        assert_eq!(rc.interfaces[1].port_min, 30000);
        assert_eq!(rc.inactivity_timeout, Duration::from_secs(60));
        let cc = call_config(&cfg);
        assert_eq!(cc.timers.t1, Duration::from_millis(500));
        assert!(cc.server.starts_with("sbc/"));
    }
}
