//! The driver: the one place besides the binary with sockets and clocks. It owns the [`B2bua`]
//! call core, the relay behind it and one UDP socket per configured UDP listen address, and runs
//! them on one tokio task:
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
//! Routing ([`ConfigRouter`]) is the `[[route]]` table only: the interface the INVITE arrived
//! on, its source IP and the Request-URI user and domain pick the route; the call leaves from the
//! route's `to_interface` to its `next_hop`. Nothing is ever routed to the Request-URI's host and
//! no name is resolved.

use crate::call::{
    B2bua, CallConfig, CallEvent, CallOutput, HeaderPolicy, Rejection, Route, Router, Side,
    DEFAULT_COPIED_HEADERS,
};
use crate::stateless::{handle_datagram, Reply};
use crate::transaction::{Dest, TimerConfig, Transmit, Transport};
use bytes::Bytes;
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Limits, Message, Method, Via};
use sbc_config::{Config, IoBackend, Latching};
use sbc_relay::api::{InterfaceConfig, Relay, RelayConfig, RelayError, RelayEvent};
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::{LatchConfig, LatchPolicy};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// How often the relay's events (inactivity, latching, RTP bleed) are collected.
pub const RELAY_POLL: Duration = Duration::from_millis(100);

/// Remembered peer flows (remote address → socket) above which the table is cleared, so a
/// flood of spoofed sources cannot grow it without bound.
const MAX_FLOWS: usize = 65_536;

/// The largest UDP datagram read.
const RECV_BUFFER: usize = 65_536;

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
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
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
}

/// What woke the loop.
enum Wake {
    Datagram(usize, std::io::Result<(usize, SocketAddr)>),
    Timer,
    Relay,
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
        Ok(Self {
            core,
            listeners,
            by_signalling,
            flows: HashMap::new(),
            limits: crate::limits(&cfg),
            server: server_name(&cfg),
            next_poll: 0,
        })
    }

    /// Serves forever: datagrams, timers and relay events, one at a time.
    pub async fn run(mut self) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut relay_tick = tokio::time::interval(RELAY_POLL);
        relay_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            }
            self.flush().await;
        }
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
        self.core.router_mut().set_ingress(ingress);
        let source = Dest {
            addr: from,
            transport: Transport::Udp,
        };
        if let Err(e) = self.core.handle_message(Instant::now(), msg, source) {
            tracing::debug!(%from, "message refused: {e}");
        }
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
                        Some(i) => self.send(i, t.dest.addr, &t.bytes).await,
                        None => tracing::warn!(dest = %t.dest.addr, "dropped: no UDP socket"),
                    }
                }
                CallOutput::Event(e) => log_event(&e),
            }
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
        if let Err(e) = l.sock.send_to(bytes, to).await {
            tracing::warn!("udp send to {to}: {e}");
        }
    }

    /// Drains the relay's events: inactivity hangs answered calls up, the rest is logged.
    fn poll_relay(&mut self) {
        while let Some(event) = self.core.media_mut().poll_event() {
            match event {
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
        } => tracing::info!(call = call.0, a_call_id, b_call_id, "call started"),
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
