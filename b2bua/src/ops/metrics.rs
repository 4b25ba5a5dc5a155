//! Prometheus metrics: one [`Metrics`] owning a [`Registry`] and every metric handle, shared
//! (`Arc`, all atomics) between the SIP task that records and the admin server that encodes, and
//! one [`Recorder`] owned by the endpoint that turns what the endpoint sees (messages in and out,
//! [`CallEvent`]s, the relay's totals) into metric updates.
//!
//! Names follow the Prometheus conventions: base units (`_seconds`, `_bytes`), `_total` on
//! counters, and only labels with a small fixed set of values (method, response class, outcome,
//! drop reason, relay interface, IO backend). The full list with meanings is in
//! `docs/operations.md`; every series a label can take is created at start, at zero, so
//! dashboards and alerts see it before the first event.
//!
//! The customer front door's numbers: registrations (`sbc_registrations_active`,
//! `sbc_registration_refreshes_absorbed_total`), digest authentication
//! (`sbc_auth_challenges_total`, `sbc_auth_failures_total`) and rate limiting
//! (`sbc_rate_limited_requests_total`), set by [`Recorder::registrations`].

use crate::call::{CallEvent, CallKey, EndReason};
use crate::Map;
use prometheus::core::{AtomicU64, GenericCounter};
use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sbc_common::sip::{Message, Method};
use sbc_relay::api::RelayMetrics;
use sbc_relay::forward::DropReason;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The content type of the text exposition format, for the `/metrics` response.
pub const TEXT_CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Call setup histogram buckets, seconds: from a fast provisional to a long ring.
const SETUP_BUCKETS: [f64; 15] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// Calls whose start time is remembered above which the table is cleared (calls end and are
/// removed; this only bounds a table a bug could leak into).
const MAX_TIMED_CALLS: usize = 1 << 20;

/// The label for a method outside [`Method::KNOWN`], so extension methods cannot grow the label
/// set.
const OTHER: &str = "other";

/// Response class labels, index `status / 100 - 1`.
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// Why the metrics could not be set up (a duplicate or malformed metric: a bug).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// How a call ended, the `outcome` label of `sbc_calls_total` (RFC 3261 §21 status classes).
///
/// The mapping from the call core's [`CallEvent::Ended`] is [`Outcome::of`]; calls refused
/// before a call starts (no route, call limit, unreadable request) are not calls: they show in
/// `sbc_sip_responses_sent_total` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Leg B answered 2xx, however the call ended afterwards (RFC 3261 §13.2.2.4).
    Answered,
    /// Leg B was busy: 486 Busy Here or 600 Busy Everywhere (RFC 3261 §21.4.24, §21.6.1).
    Busy,
    /// Nobody answered: no final response in time, 408 Request Timeout or 480 Temporarily
    /// Unavailable (RFC 3261 §17.1.1.2, §21.4.9, §21.4.18).
    NoAnswer,
    /// Leg A cancelled before the answer (RFC 3261 §9).
    Cancelled,
    /// Any other 3xx final (redirects are not followed yet; RFC 3261 §21.3).
    Failed3xx,
    /// Any other 4xx final (RFC 3261 §21.4).
    Failed4xx,
    /// Any other 5xx final (RFC 3261 §21.5).
    Failed5xx,
    /// Any other 6xx final (RFC 3261 §21.6).
    Failed6xx,
    /// Ended before an answer with no 3xx–6xx code (should not happen; kept so every call
    /// is counted).
    FailedOther,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Self; 9] = [
        Self::Answered,
        Self::Busy,
        Self::NoAnswer,
        Self::Cancelled,
        Self::Failed3xx,
        Self::Failed4xx,
        Self::Failed5xx,
        Self::Failed6xx,
        Self::FailedOther,
    ];

    /// The outcome of a call that ended with `reason` and `code`, `answered` saying whether
    /// leg B's 2xx reached leg A first (RFC 3261 §13.2.2.4, §21).
    pub fn of(answered: bool, reason: EndReason, code: u16) -> Self {
        if answered {
            return Self::Answered;
        }
        match (reason, code) {
            (EndReason::Cancelled | EndReason::Admin, _) => Self::Cancelled,
            (EndReason::Timeout, _) | (_, 408 | 480) => Self::NoAnswer,
            (_, 486 | 600) => Self::Busy,
            (_, 300..=399) => Self::Failed3xx,
            (_, 400..=499) => Self::Failed4xx,
            (_, 500..=599) => Self::Failed5xx,
            (_, 600..=699) => Self::Failed6xx,
            _ => Self::FailedOther,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Cancelled => "cancelled",
            Self::Failed3xx => "failed_3xx",
            Self::Failed4xx => "failed_4xx",
            Self::Failed5xx => "failed_5xx",
            Self::Failed6xx => "failed_6xx",
            Self::FailedOther => "failed_other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One counter per method in [`Method::KNOWN`] order, then `other`.
#[derive(Clone, Debug)]
struct ByMethod(Vec<IntCounter>);

impl ByMethod {
    fn new(vec: &IntCounterVec) -> Self {
        let names = Method::KNOWN.iter().map(Method::as_str).chain([OTHER]);
        Self(names.map(|m| vec.with_label_values(&[m])).collect())
    }

    fn inc(&self, token: &str) {
        let i = Method::KNOWN
            .iter()
            .position(|m| m.as_str() == token)
            .unwrap_or(Method::KNOWN.len());
        if let Some(c) = self.0.get(i) {
            c.inc();
        }
    }
}

/// One counter per response class, `1xx` to `6xx`.
#[derive(Clone, Debug)]
struct ByClass(Vec<IntCounter>);

impl ByClass {
    fn new(vec: &IntCounterVec) -> Self {
        Self(
            CLASSES
                .iter()
                .map(|c| vec.with_label_values(&[c]))
                .collect(),
        )
    }

    fn inc(&self, status: u16) {
        let i = usize::from(status / 100).wrapping_sub(1);
        if let Some(c) = self.0.get(i) {
            c.inc();
        }
    }
}

/// The relay's counters, one handle each, fed from [`RelayMetrics`] deltas.
#[derive(Clone, Debug)]
struct RelayHandles {
    sessions: IntGauge,
    streams: IntGauge,
    twins: IntGauge,
    forwarded_packets: IntCounterVec,
    forwarded_bytes: IntCounterVec,
    received_packets: IntCounterVec,
    syscalls: IntCounterVec,
    drops: Vec<IntCounter>,
    latch_events: IntCounter,
    stun_answered: IntCounter,
    dtls: IntCounterVec,
    turns: IntCounter,
    cpu_seconds: Counter,
    ports_in_use: IntGaugeVec,
    ports_free: IntGaugeVec,
}

/// Every metric of the SBC in one [`Registry`] (the process's too), safe to share: handles are
/// atomics, so the SIP task records and the admin server encodes without waiting on each other.
#[derive(Debug)]
pub struct Metrics {
    registrations: RegistrationHandles,
    registry: Registry,
    requests_received: ByMethod,
    requests_sent: ByMethod,
    responses_received: ByClass,
    responses_sent: ByClass,
    unreadable: IntCounter,
    admission_refused: IntCounterVec,
    tls_connections: IntCounterVec,
    tls_failures: IntCounterVec,
    dns_failures: IntCounterVec,
    websocket_refused: IntCounterVec,
    remote_relay_up: IntGaugeVec,
    tls_expiry: IntGaugeVec,
    transactions_active: IntGauge,
    dialogs_active: IntGauge,
    calls_active: IntGauge,
    tables: IntGaugeVec,
    calls: Vec<IntCounter>,
    setup_provisional: Histogram,
    setup_answer: Histogram,
    relay: RelayHandles,
    ready: AtomicBool,
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    label: &str,
) -> Result<IntCounterVec, MetricsError> {
    let v = IntCounterVec::new(Opts::new(name, help), &[label])?;
    r.register(Box::new(v.clone()))?;
    Ok(v)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    label: &str,
) -> Result<IntGaugeVec, MetricsError> {
    let v = IntGaugeVec::new(Opts::new(name, help), &[label])?;
    r.register(Box::new(v.clone()))?;
    Ok(v)
}

fn counter(r: &Registry, name: &str, help: &str) -> Result<IntCounter, MetricsError> {
    let c = IntCounter::new(name, help)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge, MetricsError> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// The registration and authentication series.
#[derive(Debug)]
struct RegistrationHandles {
    active: IntGauge,
    refreshes_absorbed: IntCounter,
    auth_challenges: IntCounter,
    auth_failures: IntCounter,
    auth_blocks: IntCounterVec,
    rate_limited: IntCounter,
}

/// The front door's totals so far, as the endpoint reads them (RFC 3261 §10.3, §22).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrationNumbers {
    /// Bindings held now.
    pub active: usize,
    /// Refreshes answered from the forward-mode cache since start.
    pub refreshes_absorbed: u64,
    /// Digest challenges sent since start.
    pub auth_challenges: u64,
    /// Digest failures since start.
    pub auth_failures: u64,
    /// Requests refused by the rate limit since start.
    pub rate_limited: u64,
    /// Authentication blocks started since start, by key (source_user, user, source).
    pub auth_blocks: [u64; 3],
}

impl Metrics {
    /// Registers every metric, the process collector (CPU, RSS, open fds) and
    /// `sbc_build_info{version,node}`; `node` is `[general] node_name`.
    pub fn new(node: &str) -> Result<Self, MetricsError> {
        let r = Registry::new();
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let info = IntGaugeVec::new(
            Opts::new(
                "sbc_build_info",
                "Always 1; the labels name the build and node.",
            ),
            &["version", "node"],
        )?;
        r.register(Box::new(info.clone()))?;
        info.with_label_values(&[env!("CARGO_PKG_VERSION"), node])
            .set(1);

        let requests_received = ByMethod::new(&counter_vec(
            &r,
            "sbc_sip_requests_received_total",
            "SIP requests received, by method (extension methods as \"other\").",
            "method",
        )?);
        let requests_sent = ByMethod::new(&counter_vec(
            &r,
            "sbc_sip_requests_sent_total",
            "SIP requests sent, retransmissions included, by method.",
            "method",
        )?);
        let responses_received = ByClass::new(&counter_vec(
            &r,
            "sbc_sip_responses_received_total",
            "SIP responses received, by status class.",
            "class",
        )?);
        let responses_sent = ByClass::new(&counter_vec(
            &r,
            "sbc_sip_responses_sent_total",
            "SIP responses sent, retransmissions included, by status class.",
            "class",
        )?);
        let unreadable = counter(
            &r,
            "sbc_sip_unreadable_messages_total",
            "Datagrams received that did not parse as SIP.",
        )?;
        let admission_refused = counter_vec(
            &r,
            "sbc_admission_refused_total",
            "New calls refused with 503 by an admission cap: limit=source_calls, source_rate, \
             user_calls, user_rate, route_calls or route_rate.",
            "limit",
        )?;
        let tls_connections = counter_vec(
            &r,
            "sbc_tls_connections_total",
            "TLS connections established, by local listen address (accepted) or `outbound`.",
            "listener",
        )?;
        let tls_failures = counter_vec(
            &r,
            "sbc_tls_handshake_failures_total",
            "TLS handshakes that failed, by reason: not_tls (plaintext or garbage), timeout, eof, \
             no_client_certificate, unknown_issuer, certificate_name, expired, bad_certificate, \
             alert, incompatible, io, other.",
            "reason",
        )?;
        let dns_failures = counter_vec(
            &r,
            "sbc_dns_failures_total",
            "Lookups of a configured next hop name that found no usable address, by name.",
            "name",
        )?;
        let websocket_refused = counter_vec(
            &r,
            "sbc_websocket_refused_total",
            "WebSocket upgrades refused, by reason: the sip subprotocol is required, origin not \
             allowed, bad upgrade, timeout.",
            "reason",
        )?;
        let remote_relay_up = gauge_vec(
            &r,
            "sbc_relay_remote_up",
            "Whether each remote relay ([relay] remote, by ng address) answers: 1 up, 0 taken \
             as down (new calls go to the others).",
            "relay",
        )?;
        let tls_expiry = gauge_vec(
            &r,
            "sbc_tls_certificate_expiry_seconds",
            "Seconds until each configured certificate expires (negative: expired), by its \
             place in the configuration (interface.NAME, route.NAME).",
            "certificate",
        )?;
        let transactions_active = gauge(
            &r,
            "sbc_sip_transactions_active",
            "SIP transactions (client and server) alive.",
        )?;
        let dialogs_active = gauge(&r, "sbc_sip_dialogs_active", "SIP dialogs alive.")?;
        let tables = gauge_vec(
            &r,
            "sbc_table_entries",
            "Entries in each of the SIP side's in-memory tables and timer queues (refreshed \
             once a second): one growing while the calls up stay level is a leak.",
            "table",
        )?;
        let calls_active = gauge(&r, "sbc_calls_active", "Calls alive (ringing or answered).")?;
        let calls_vec = counter_vec(&r, "sbc_calls_total", "Calls ended, by outcome.", "outcome")?;
        let calls = Outcome::ALL
            .iter()
            .map(|o| calls_vec.with_label_values(&[o.as_str()]))
            .collect();
        let setup = HistogramVec::new(
            HistogramOpts::new(
                "sbc_call_setup_seconds",
                "Time from the INVITE to the first provisional relayed to the caller \
                 (stage=\"provisional\") and to the answer (stage=\"answer\").",
            )
            .buckets(SETUP_BUCKETS.to_vec()),
            &["stage"],
        )?;
        r.register(Box::new(setup.clone()))?;
        let setup_provisional = setup.with_label_values(&["provisional"]);
        let setup_answer = setup.with_label_values(&["answer"]);

        let registrations = RegistrationHandles {
            active: gauge(
                &r,
                "sbc_registrations_active",
                "Customer bindings held (local registrars and forward-mode caches).",
            )?,
            refreshes_absorbed: counter(
                &r,
                "sbc_registration_refreshes_absorbed_total",
                "REGISTER refreshes answered from the forward-mode cache.",
            )?,
            auth_challenges: counter(
                &r,
                "sbc_auth_challenges_total",
                "Digest challenges sent (401 and 407).",
            )?,
            auth_failures: counter(
                &r,
                "sbc_auth_failures_total",
                "Digest authentication failures (wrong credentials, unknown users).",
            )?,
            auth_blocks: counter_vec(
                &r,
                "sbc_auth_blocks_total",
                "Authentication blocks started, by what was blocked: key=\"source_user\" (one \
                 username from one address), \"user\" (one username everywhere), \"source\" \
                 (unknown usernames from one address).",
                "key",
            )?,
            rate_limited: counter(
                &r,
                "sbc_rate_limited_requests_total",
                "Customer requests dropped or refused by the per-source rate limit.",
            )?,
        };

        let relay = RelayHandles {
            sessions: gauge(
                &r,
                "sbc_relay_sessions_active",
                "Relay sessions (calls with media).",
            )?,
            streams: gauge(&r, "sbc_relay_streams_active", "Relay media streams.")?,
            twins: gauge(
                &r,
                "sbc_relay_connected_twins",
                "Leg sockets sending to a steady peer through a connected twin socket.",
            )?,
            forwarded_packets: counter_vec(
                &r,
                "sbc_relay_forwarded_packets_total",
                "Datagrams forwarded by the relay, by IO backend.",
                "backend",
            )?,
            forwarded_bytes: counter_vec(
                &r,
                "sbc_relay_forwarded_bytes_total",
                "Bytes forwarded by the relay, by IO backend.",
                "backend",
            )?,
            received_packets: counter_vec(
                &r,
                "sbc_relay_received_packets_total",
                "Datagrams received by the relay, by IO backend.",
                "backend",
            )?,
            syscalls: counter_vec(
                &r,
                "sbc_relay_syscalls_total",
                "System calls made by the relay's IO backend.",
                "backend",
            )?,
            drops: {
                let v = counter_vec(
                    &r,
                    "sbc_relay_dropped_packets_total",
                    "Datagrams the relay dropped, by reason.",
                    "reason",
                )?;
                DropReason::ALL
                    .iter()
                    .map(|d| v.with_label_values(&[d.as_str()]))
                    .collect()
            },
            latch_events: counter(
                &r,
                "sbc_relay_latch_events_total",
                "Times a relay leg latched onto (or moved to) its peer's address.",
            )?,
            stun_answered: counter(
                &r,
                "sbc_relay_stun_answered_total",
                "STUN requests the relay answered on leg ports (ICE connectivity checks, plain Binding requests).",
            )?,
            dtls: counter_vec(
                &r,
                "sbc_relay_dtls_handshakes_total",
                "DTLS handshakes of the relay on WebRTC legs, by result (connected: SRTP keyed; failed: fingerprint mismatch, no SRTP profile or timeout, the call ended).",
                "result",
            )?,
            turns: counter(
                &r,
                "sbc_relay_worker_turns_total",
                "Relay worker event-loop turns.",
            )?,
            cpu_seconds: {
                let c = Counter::new(
                    "sbc_relay_worker_cpu_seconds_total",
                    "CPU time used by the relay worker threads.",
                )?;
                r.register(Box::new(c.clone()))?;
                c
            },
            ports_in_use: gauge_vec(
                &r,
                "sbc_relay_ports_in_use",
                "RTP ports allocated, by media interface.",
                "interface",
            )?,
            ports_free: gauge_vec(
                &r,
                "sbc_relay_ports_free",
                "RTP ports free, by media interface.",
                "interface",
            )?,
        };
        Ok(Self {
            registrations,
            registry: r,
            requests_received,
            requests_sent,
            responses_received,
            responses_sent,
            unreadable,
            admission_refused,
            tls_connections,
            tls_failures,
            dns_failures,
            websocket_refused,
            remote_relay_up,
            tls_expiry,
            transactions_active,
            dialogs_active,
            tables,
            calls_active,
            calls,
            setup_provisional,
            setup_answer,
            relay,
            ready: AtomicBool::new(false),
        })
    }

    /// Everything in the text exposition format (Prometheus `text/plain; version=0.0.4`).
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec fails only on a malformed family, which the registry refuses.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// The registry, for a caller that adds its own collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether the SBC is ready for traffic: SIP sockets bound, relay started, driver loop
    /// running (the admin server's `/ready`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Sets readiness (see [`Metrics::is_ready`]).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Live calls, transactions and dialogs as last recorded.
    pub fn core_gauges(&self) -> (i64, i64, i64) {
        (
            self.calls_active.get(),
            self.transactions_active.get(),
            self.dialogs_active.get(),
        )
    }

    /// Counts a TLS connection established on `listener` (a listen address, or `outbound`).
    pub fn tls_connected(&self, listener: &str) {
        self.tls_connections.with_label_values(&[listener]).inc();
    }

    /// Sets the seconds until the certificate at `label` expires.
    pub fn tls_certificate_expiry(&self, label: &str, seconds: i64) {
        self.tls_expiry.with_label_values(&[label]).set(seconds);
    }

    /// Counts a failed TLS handshake by `reason`.
    pub fn tls_handshake_failed(&self, reason: &str) {
        self.tls_failures.with_label_values(&[reason]).inc();
    }

    /// Counts a lookup of the configured next hop name `name` that found no usable address.
    pub fn dns_failed(&self, name: &str) {
        self.dns_failures.with_label_values(&[name]).inc();
    }

    /// Counts a refused WebSocket upgrade by `reason`.
    pub fn websocket_refused(&self, reason: &str) {
        self.websocket_refused.with_label_values(&[reason]).inc();
    }

    /// Records whether the remote relay at `relay` answers.
    pub fn remote_relay(&self, relay: &str, up: bool) {
        self.remote_relay_up
            .with_label_values(&[relay])
            .set(i64::from(up));
    }

    /// Relay sessions and streams as last recorded.
    pub fn relay_gauges(&self) -> (i64, i64) {
        (self.relay.sessions.get(), self.relay.streams.get())
    }
}

mod recorder;
pub use recorder::Recorder;

#[cfg(test)]
mod tests;
