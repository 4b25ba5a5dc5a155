//! The configuration sections as plain serde structs. Every struct refuses unknown keys; defaults
//! live here and are listed in the crate's README.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::types::{de, IpNet, Secret, UserPattern};

mod interface;
pub use interface::{IcePolicy, Interface, Listen, MediaProfile, SrtpPolicy, Transport};

/// The whole SBC configuration, one field per TOML section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[general]`: node identity and logging.
    #[serde(default)]
    pub general: General,
    /// `[[interface]]`: the signalling and media sides (e.g. "customer", "core").
    #[serde(default, rename = "interface")]
    pub interfaces: Vec<Interface>,
    /// `[sip]`: transaction timers, message size limits, header policy, session timers.
    #[serde(default)]
    pub sip: Sip,
    /// `[relay]`: the RTP relay's threads, IO backend and latching policy.
    #[serde(default)]
    pub relay: Relay,
    /// `[[route]]`: static routes, tried by priority with failover.
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    /// `[[realm]]`: customer SIP domains and how their registrations are handled.
    #[serde(default, rename = "realm")]
    pub realms: Vec<Realm>,
    /// `[[user]]`: digest credentials for local authentication.
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
    /// `[auth]`: digest nonce and algorithm settings.
    #[serde(default)]
    pub auth: Auth,
    /// `[limits]`: call admission and abuse throttles.
    #[serde(default)]
    pub limits: Limits,
    /// `[admin]`: the HTTP metrics and management endpoint and CDR output.
    #[serde(default)]
    pub admin: Admin,
    /// `[dns]`: how named next hops are located (RFC 3263).
    #[serde(default)]
    pub dns: Dns,
}

/// `[dns]`: the resolver of named next hops (RFC 3263). Only names in this file are resolved.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dns {
    /// DNS servers (`ip:port`); empty: those of /etc/resolv.conf.
    #[serde(deserialize_with = "de::socket_addrs")]
    pub servers: Vec<SocketAddr>,
    /// How long one query may take before it is retried or given up, in milliseconds.
    pub timeout_ms: u32,
    /// How long an address of a named next hop that failed (timeout, 503, refused connection)
    /// is tried after the others of its name, in seconds.
    pub holdback_s: u32,
}

impl Default for Dns {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            timeout_ms: 2000,
            holdback_s: 30,
        }
    }
}

/// `[general]`: node identity and logging.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct General {
    /// Name of this node in logs, metrics and CDRs.
    pub node_name: String,
    /// Minimum level of log records written.
    pub log_level: LogLevel,
    /// Log line format.
    pub log_format: LogFormat,
    /// Value of the `User-Agent` / `Server` header the SBC adds; `None` sends neither.
    pub user_agent: Option<String>,
    /// Seconds calls may go on after SIGTERM before the SBC sends BYE on both legs and exits.
    pub drain_timeout_s: u32,
    /// Whether every SIP message sent and received is logged (credentials redacted).
    pub log_sip_messages: bool,
    /// Most SIP messages logged per second when `log_sip_messages` is on; the rest are counted.
    pub log_sip_rate_per_s: u32,
}

impl General {
    /// The drain timeout as a duration.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.drain_timeout_s))
    }
}

impl Default for General {
    fn default() -> Self {
        Self {
            node_name: "sbc".to_owned(),
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            user_agent: None,
            drain_timeout_s: 30,
            log_sip_messages: false,
            log_sip_rate_per_s: 20,
        }
    }
}

/// Log verbosity, as understood by `tracing` filters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Normal operation messages.
    #[default]
    Info,
    /// Per-call detail.
    Debug,
    /// Per-message detail.
    Trace,
}

impl LogLevel {
    /// The level's name as a `tracing` filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Largest UDP payload over IPv4: 65535 − 8 (UDP header) − 20 (IPv4 header).
pub const MAX_DATAGRAM_BYTES: usize = 65507;

/// `[sip]`: transaction timers (RFC 3261 §17), size limits, header policy and session timers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sip {
    /// T1, the RTT estimate in milliseconds (RFC 3261 §17.1.1.1).
    pub t1_ms: u32,
    /// T2, the cap on non-INVITE and 2xx retransmit intervals in milliseconds.
    pub t2_ms: u32,
    /// T4, how long a message stays in the network, in milliseconds.
    pub t4_ms: u32,
    /// Largest SIP message accepted over TCP; over UDP it is capped at [`MAX_DATAGRAM_BYTES`].
    pub max_message_bytes: usize,
    /// Most header fields in one message (more → 400).
    pub max_headers: usize,
    /// Largest single header field, name and value, in bytes (more → 400).
    pub max_header_bytes: usize,
    /// Extra header names copied across the B2BUA (case-insensitive); others are dropped.
    pub header_whitelist: Vec<String>,
    /// Max-Forwards value for requests the SBC originates, and the cap it applies.
    pub max_forwards: u8,
    /// Session-Expires offered on INVITE (RFC 4028); 0 disables session timers.
    pub session_expires_s: u32,
    /// Min-SE: smallest session interval accepted (RFC 4028, at least 90).
    pub min_se_s: u32,
    /// Seconds without traffic (messages or RFC 5626 keep-alives) after which a TCP connection
    /// is closed; 0 keeps idle connections open.
    pub tcp_idle_timeout_s: u32,
    /// Most TCP connections open at once, accepted and opened together.
    pub tcp_max_connections: u32,
    /// Most accepted TCP connections from one source IP.
    pub tcp_max_connections_per_source: u32,
}

impl Default for Sip {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_message_bytes: 65535,
            max_headers: 128,
            max_header_bytes: 8192,
            header_whitelist: Vec::new(),
            max_forwards: 70,
            session_expires_s: 1800,
            min_se_s: 90,
            tcp_idle_timeout_s: 600,
            tcp_max_connections: 4096,
            tcp_max_connections_per_source: 32,
        }
    }
}

impl Sip {
    /// T1 as a duration.
    pub fn t1(&self) -> Duration {
        Duration::from_millis(u64::from(self.t1_ms))
    }

    /// T2 as a duration.
    pub fn t2(&self) -> Duration {
        Duration::from_millis(u64::from(self.t2_ms))
    }

    /// T4 as a duration.
    pub fn t4(&self) -> Duration {
        Duration::from_millis(u64::from(self.t4_ms))
    }

    /// The TCP idle timeout, `None` when 0 (off).
    pub fn tcp_idle_timeout(&self) -> Option<Duration> {
        (self.tcp_idle_timeout_s > 0)
            .then(|| Duration::from_secs(u64::from(self.tcp_idle_timeout_s)))
    }

    /// Largest message accepted in one UDP datagram.
    pub fn max_datagram_bytes(&self) -> usize {
        self.max_message_bytes.min(MAX_DATAGRAM_BYTES)
    }

    /// Whether header `name` is on the whitelist (case-insensitive).
    pub fn header_allowed(&self, name: &str) -> bool {
        self.header_whitelist
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// `[relay]`: the RTP relay's threads, IO backend and latching policy.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Relay {
    /// Forwarding threads; 0 means one per CPU core.
    pub workers: u16,
    /// Socket IO backend.
    pub io_backend: IoBackend,
    /// How the relay learns where to send media (symmetric RTP / NAT latching).
    pub latching: Latching,
    /// Seconds without media in either direction before a stream is reported dead.
    pub inactivity_timeout_s: u32,
    /// Packets from one source needed to latch (or, with `handover`, to move the latch).
    pub learning_window_packets: u32,
    /// Interval of per-stream statistics snapshots in milliseconds; 0 disables them.
    pub stats_interval_ms: u32,
    /// `SCHED_FIFO` priority (1..=99) of the forwarding threads, so daemons and housekeeping
    /// threads cannot hold media up; 0 keeps the normal scheduler.
    pub realtime_priority: u8,
    /// Relays on other hosts driven over rtpengine's ng protocol; empty: the in-process relay.
    pub remote: Vec<RemoteRelay>,
    /// How long one ng request to a remote relay may take before it is sent again (once) and
    /// then the relay is taken as down, in milliseconds.
    pub remote_timeout_ms: u32,
    /// Seconds after which a relay taken as down is pinged again before a new call.
    pub remote_retry_s: u32,
}

/// One remote relay of `[relay] remote`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteRelay {
    /// The relay's ng address (UDP).
    pub ng: SocketAddr,
    /// Its share of new calls among the relays that are up.
    #[serde(default = "default_weight")]
    pub weight: u16,
}

fn default_weight() -> u16 {
    1
}

impl Default for Relay {
    fn default() -> Self {
        Self {
            workers: 0,
            io_backend: IoBackend::Auto,
            latching: Latching::Strict,
            inactivity_timeout_s: 60,
            learning_window_packets: 3,
            stats_interval_ms: 1000,
            realtime_priority: 0,
            remote: Vec::new(),
            remote_timeout_ms: 300,
            remote_retry_s: 5,
        }
    }
}

impl Relay {
    /// The inactivity timeout as a duration.
    pub fn inactivity_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.inactivity_timeout_s))
    }
}

/// Relay socket IO backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum IoBackend {
    /// io_uring when the kernel supports it, else `mmsg`.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// Linux io_uring.
    #[serde(rename = "io_uring")]
    IoUring,
    /// `recvmmsg`/`sendmmsg` batching.
    #[serde(rename = "mmsg")]
    Mmsg,
}

/// Media latching policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Latching {
    /// Latch on the first source that sends `learning_window_packets` packets; never move.
    #[default]
    Strict,
    /// As `strict`, but a new source may take over once the latched one goes silent.
    Handover,
    /// No latching: send to the address and port in the SDP.
    Off,
}

/// `[[route]]`: a static route from one interface to a next hop on another.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique route name (used by `forward_on`, logs and CDRs).
    pub name: String,
    /// Interface the request must arrive on.
    pub from_interface: String,
    /// Source prefixes allowed to use this route (e.g. trusted trunks); empty means any.
    #[serde(default)]
    pub from_addresses: Vec<IpNet>,
    /// Names (DNS or IP) one of which a peer's verified client certificate must carry for this
    /// route to match (mutual TLS on `from_interface`): a trunk trusted by certificate identity
    /// rather than by address; empty means no such condition.
    #[serde(default)]
    pub from_certificates: Vec<String>,
    /// Request-URI user pattern (`+1*`); absent means any.
    #[serde(default)]
    pub request_user: Option<UserPattern>,
    /// Request-URI host to match, case-insensitive; absent means any.
    #[serde(default)]
    pub request_domain: Option<String>,
    /// Where to send the request: an `ip:port` literal, or a name located over DNS (RFC 3263).
    #[serde(deserialize_with = "crate::next_hop::de_next_hop")]
    pub next_hop: crate::NextHop,
    /// Transport towards the next hop.
    #[serde(default)]
    pub transport: Transport,
    /// With `transport = "udp"`, whether requests over 1300 bytes go to the next hop over TCP
    /// instead (RFC 3261 §18.1.1), falling back to UDP when the connection is refused.
    #[serde(default = "default_true")]
    pub large_requests_over_tcp: bool,
    /// Interface the request leaves on.
    pub to_interface: String,
    /// Lower is tried first; matching routes of equal priority keep file order.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Final 4xx/5xx responses that make the SBC try the next matching route (408 includes a
    /// local timeout).
    #[serde(default = "default_failover_on")]
    pub failover_on: Vec<u16>,
    /// Name of the route a call is forwarded to on `forward_codes` or no answer.
    #[serde(default)]
    pub forward_on: Option<String>,
    /// Final responses that trigger `forward_on` (busy, timeout, unavailable).
    #[serde(default = "default_forward_codes")]
    pub forward_codes: Vec<u16>,
    /// Seconds after the INVITE is sent on this route without a final answer before the attempt
    /// is cancelled and the call forwarded (or ended with 480); 0 = no limit.
    #[serde(default)]
    pub no_answer_timeout_s: u32,
    /// Whether 3xx Contacts are followed instead of relayed upstream; each Contact is routed
    /// through the route table, and one that matches no route is skipped.
    #[serde(default)]
    pub follow_redirects: bool,
    /// Most redirects followed for one call.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u8,
    /// Most calls up at once on this route (its first choice); more get 503 with Retry-After;
    /// 0 = no cap.
    #[serde(default)]
    pub max_calls: u32,
    /// Most new calls per second on this route (bursts up to twice that); 0 = no cap.
    #[serde(default)]
    pub call_rate_per_s: u32,
    /// Whether INVITE bodies that are not SDP (so cannot be anchored) pass through unchanged,
    /// with the answers' bodies back, instead of being refused with 415.
    #[serde(default)]
    pub pass_bodies: bool,
    /// The SRTP policy of the leg towards the next hop, instead of `to_interface`'s.
    #[serde(default)]
    pub srtp: Option<SrtpPolicy>,
    /// How the next hop of a `transport = "tls"` route is verified, and the client certificate
    /// presented to it.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsClient>,
}

fn default_priority() -> u32 {
    100
}

fn default_failover_on() -> Vec<u16> {
    vec![408, 503]
}

fn default_forward_codes() -> Vec<u16> {
    vec![486, 408, 480]
}

fn default_max_redirects() -> u8 {
    3
}

impl Route {
    /// The transport towards the next hop: a named hop's `;transport=` (TLS for `sips:`), else
    /// the route's `transport`.
    pub fn hop_transport(&self) -> Transport {
        match &self.next_hop {
            crate::NextHop::Name(n) => n
                .transport
                .or_else(|| n.sips.then_some(Transport::Tls))
                .unwrap_or(self.transport),
            crate::NextHop::Addr(_) => self.transport,
        }
    }

    /// Whether a request that arrived on `interface` from `source` for `user@domain` matches.
    pub fn matches(
        &self,
        interface: &str,
        source: IpAddr,
        peer_names: &[String],
        user: &str,
        domain: &str,
    ) -> bool {
        self.from_interface == interface
            && (self.from_addresses.is_empty()
                || self.from_addresses.iter().any(|net| net.contains(source)))
            && (self.from_certificates.is_empty()
                || self
                    .from_certificates
                    .iter()
                    .any(|n| peer_names.iter().any(|p| p.eq_ignore_ascii_case(n))))
            && self.request_user.as_ref().is_none_or(|p| p.matches(user))
            && self
                .request_domain
                .as_ref()
                .is_none_or(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Whether final response `status` should make the SBC try the next route.
    pub fn fails_over_on(&self, status: u16) -> bool {
        self.failover_on.contains(&status)
    }
}

/// `[[realm]]`: a customer SIP domain.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Realm {
    /// The SIP domain (Request-URI / To host), matched case-insensitively; also the digest realm.
    pub domain: String,
    /// Who keeps the registrations.
    pub mode: RealmMode,
    /// Core registrar `ip:port` that REGISTERs are relayed to (mode `forward` only).
    #[serde(default, deserialize_with = "de::opt_socket_addr")]
    pub registrar: Option<SocketAddr>,
    /// Transport towards the registrar.
    #[serde(default)]
    pub registrar_transport: Transport,
    /// Interface REGISTERs leave on towards the registrar (mode `forward` only).
    #[serde(default)]
    pub registrar_interface: Option<String>,
    /// How the registrar is verified over `registrar_transport = "tls"` (server name, CA) and
    /// the client certificate presented to it, as `[route.tls]` does for a next hop.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsClient>,
    /// Whether the SBC challenges this realm's customers against `[[user]]` credentials.
    #[serde(default = "default_true")]
    pub auth_required: bool,
    /// Expires granted to customers: to every customer in `forward` mode, and to customers
    /// behind NAT in `local` mode (short, so NAT bindings stay fresh).
    #[serde(default = "default_customer_expires")]
    pub customer_expires_s: u32,
    /// Expires requested from the core registrar; customer refreshes in between are absorbed.
    #[serde(default = "default_core_expires")]
    pub core_expires_s: u32,
    /// Shortest Expires accepted from a customer (shorter → 423 Interval Too Brief).
    #[serde(default = "default_min_expires")]
    pub min_expires_s: u32,
    /// Longest Expires the local registrar grants; longer requests are cut to it.
    #[serde(default = "default_max_expires")]
    pub max_expires_s: u32,
    /// Seconds between OPTIONS keepalives to registered contacts; 0 disables them.
    #[serde(default = "default_keepalive_interval")]
    pub keepalive_interval_s: u32,
    /// Consecutive unanswered keepalives after which a contact is dropped.
    #[serde(default = "default_keepalive_failures")]
    pub keepalive_failures: u32,
    /// How calls to an address-of-record with several contacts are forked.
    #[serde(default)]
    pub fork_mode: ForkMode,
    /// Digest algorithms offered to this realm's users, in order; `None`: `[auth] algorithms`.
    #[serde(default)]
    pub algorithms: Option<Vec<DigestAlgorithm>>,
}

fn default_true() -> bool {
    true
}

fn default_customer_expires() -> u32 {
    60
}

fn default_core_expires() -> u32 {
    3600
}

fn default_min_expires() -> u32 {
    30
}

fn default_max_expires() -> u32 {
    7200
}

fn default_keepalive_interval() -> u32 {
    30
}

fn default_keepalive_failures() -> u32 {
    3
}

/// Who keeps a realm's registrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RealmMode {
    /// The SBC is the registrar.
    Local,
    /// REGISTERs are relayed to a core registrar, with caching.
    Forward,
}

/// How calls to several registered contacts are forked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForkMode {
    /// Ring all contacts at once.
    #[default]
    Parallel,
    /// Ring contacts one after another.
    Serial,
}

/// `[[user]]`: digest credentials of one user in one realm.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Digest username (usually the AOR user part).
    pub username: String,
    /// Domain of the `[[realm]]` this user belongs to.
    pub realm: String,
    /// Clear-text password (give this or `ha1`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Pre-computed H(username:realm:password) in hex (give this or `password`).
    #[serde(default)]
    pub ha1: Option<Secret>,
    /// Digest algorithm this user is limited to; with `ha1` it follows from the hash length.
    #[serde(default)]
    pub algorithm: Option<DigestAlgorithm>,
}

impl User {
    /// The algorithm the user is restricted to: explicit, or implied by the `ha1` length.
    pub fn effective_algorithm(&self) -> Option<DigestAlgorithm> {
        self.algorithm.or_else(|| {
            self.ha1
                .as_ref()
                .and_then(|h| DigestAlgorithm::from_ha1_len(h.expose().len()))
        })
    }
}

/// Digest algorithm (RFC 8760).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum DigestAlgorithm {
    /// MD5, for older phones.
    #[serde(rename = "MD5", alias = "md5")]
    Md5,
    /// SHA-256.
    #[serde(rename = "SHA-256", alias = "sha-256")]
    Sha256,
}

impl DigestAlgorithm {
    /// The token used in `WWW-Authenticate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// Length in hex characters of an HA1 computed with this algorithm.
    pub fn ha1_hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 => 64,
        }
    }

    fn from_ha1_len(len: usize) -> Option<Self> {
        match len {
            32 => Some(Self::Md5),
            64 => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// `[auth]`: digest authentication settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// Seconds a nonce stays valid (stale=true after that).
    pub nonce_lifetime_s: u32,
    /// Key for stateless nonces; generated at start when absent (nonces then die on restart).
    pub secret: Option<Secret>,
    /// Algorithms offered in challenges, one `WWW-Authenticate` each, in this order.
    pub algorithms: Vec<DigestAlgorithm>,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            nonce_lifetime_s: 300,
            secret: None,
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
        }
    }
}

/// `[limits]`: call admission and abuse throttles.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Concurrent calls allowed; more get 503 with Retry-After; 0 = no limit.
    pub max_calls: u32,
    /// Retry-After seconds on those 503s.
    pub retry_after_s: u32,
    /// Sustained requests per second accepted from one source IP on any interface, unless a
    /// route trusts it; 0 disables the limiter.
    pub source_rate_per_s: u32,
    /// Burst size of that per-source token bucket.
    pub source_burst: u32,
    /// Failed authentications for one user from one source IP before that pair is blocked; each
    /// failure before that doubles a back-off (1 s, 2 s, 4 s, ...) answered 503 with
    /// Retry-After; 0 disables the whole authentication throttle.
    pub auth_fail_max: u32,
    /// Failed authentications for one user from all sources together before the user is blocked
    /// everywhere (guessing spread over many addresses); 0 = no such limit.
    pub auth_fail_user_max: u32,
    /// Failed authentications naming unknown users from one source IP before that source's
    /// requests for unknown users are blocked (username enumeration); known users behind the same
    /// address are not affected; 0 = no such limit.
    pub auth_fail_source_max: u32,
    /// Window in seconds over which failures are counted.
    pub auth_fail_window_s: u32,
    /// Seconds a blocked user, source-and-user pair or source stays blocked (its authentication
    /// attempts are answered 403).
    pub auth_block_s: u32,
    /// Longest call in seconds before the SBC hangs it up with BYE; 0 = no limit.
    pub max_call_duration_s: u32,
    /// Calls up at once from one source IP a route does not trust; 0 = no cap.
    pub calls_per_source: u32,
    /// New calls per second from one source IP a route does not trust (bursts up to twice
    /// that); 0 = no cap.
    pub call_rate_per_source: u32,
    /// Calls up at once for one authenticated user; 0 = no cap.
    pub calls_per_user: u32,
    /// New calls per second for one authenticated user (bursts up to twice that); 0 = no cap.
    pub call_rate_per_user: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_calls: 1000,
            retry_after_s: 30,
            source_rate_per_s: 50,
            source_burst: 100,
            auth_fail_max: 5,
            auth_fail_user_max: 20,
            auth_fail_source_max: 100,
            auth_fail_window_s: 60,
            auth_block_s: 300,
            max_call_duration_s: 0,
            calls_per_source: 100,
            call_rate_per_source: 20,
            calls_per_user: 0,
            call_rate_per_user: 0,
        }
    }
}

/// `[admin]`: HTTP metrics + management API and CDR output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// `ip:port` of the HTTP endpoint (`/metrics` and the management API).
    #[serde(deserialize_with = "de::socket_addr")]
    pub listen: SocketAddr,
    /// Bearer token required by the management API (at least 16 characters).
    pub token: Option<Secret>,
    /// File CDRs are appended to (one JSON object per line); absent disables CDRs.
    pub cdr_path: Option<PathBuf>,
    /// Size in bytes at which the CDR file is rotated; 0 never rotates.
    pub cdr_rotate_bytes: u64,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9090),
            token: None,
            cdr_path: None,
            cdr_rotate_bytes: 64 * 1024 * 1024,
        }
    }
}
