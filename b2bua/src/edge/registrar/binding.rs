//! A binding of the location service (RFC 3261 §10.3, RFC 5626 §6): the contact an
//! address-of-record registered, the flow its REGISTER really came on, its expiry and keepalive
//! schedule, and the target a request to the address-of-record is sent to.

use super::keepalive::KeepaliveState;
use crate::edge::nat::Flow;
use crate::stack::transaction::Transport;
use std::time::Instant;

/// A binding's handle, unique for the registrar's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(pub(super) u64);

impl BindingId {
    /// The raw number, for logs and for building binding tokens.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// How a keepalive is sent on a flow (RFC 5626 §3.5.1, §4.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepaliveKind {
    /// An OPTIONS request over UDP; any response counts as an answer.
    Options,
    /// A double CRLF over TCP/TLS; the single-CRLF pong counts as an answer.
    DoubleCrlf,
}

impl KeepaliveKind {
    /// OPTIONS for UDP flows, double CRLF for connection flows (RFC 5626 §3.5.1); on a
    /// WebSocket flow the driver sends the double CRLF as a WebSocket ping (RFC 6455 §5.5.2).
    pub fn for_flow(flow: &Flow) -> Self {
        match flow.transport {
            Transport::Udp => Self::Options,
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => Self::DoubleCrlf,
        }
    }
}

/// One contact registered for an address-of-record (RFC 3261 §10.3, RFC 5626 §6).
#[derive(Clone, Debug)]
pub struct Binding {
    /// The binding's handle.
    pub id: BindingId,
    /// The Contact URI as the customer wrote it (used as Request-URI towards it).
    pub contact: String,
    /// The `q` value in thousandths, if given (RFC 3261 §20.10).
    pub q: Option<u16>,
    /// When the binding lapses unless refreshed.
    pub expires_at: Instant,
    /// The Call-ID of the REGISTER that last wrote it (RFC 3261 §10.3 step 7).
    pub call_id: String,
    /// The CSeq number of that REGISTER.
    pub cseq: u32,
    /// Where the REGISTER really came from; requests to the contact go here.
    pub flow: Flow,
    /// Whether the customer looked to be behind NAT when it registered.
    pub behind_nat: bool,
    /// The `+sip.instance` (RFC 5626 §4.1), without `<>`.
    pub instance: Option<String>,
    /// The `reg-id` when the binding is an outbound flow (RFC 5626 §4.2).
    pub reg_id: Option<u32>,
    pub(super) keepalive: Option<KeepaliveState>,
}

impl Binding {
    /// Consecutive unanswered keepalives.
    pub fn keepalive_misses(&self) -> u32 {
        self.keepalive.map_or(0, |k| k.misses)
    }

    /// The next keepalive, if keepalives run for this binding.
    pub fn next_keepalive(&self) -> Option<Instant> {
        self.keepalive.map(|k| k.next_at)
    }

    /// When the registrar next has work on this binding: its expiry or its next keepalive.
    pub(super) fn due(&self) -> Instant {
        self.keepalive
            .map_or(self.expires_at, |k| k.next_at.min(self.expires_at))
    }
}

/// Why a binding left the location service without a REGISTER removing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    /// It was not refreshed in time (RFC 3261 §10.3 step 8, "expired").
    Expired,
    /// Its keepalives went unanswered `keepalive_failures` times in a row.
    KeepaliveFailed,
    /// Its TCP/TLS connection closed (RFC 5626 §5.3: the flow is gone).
    FlowClosed,
}

/// One contact a request to an address-of-record is sent to (RFC 3261 §16.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The binding.
    pub binding: BindingId,
    /// The Request-URI: the Contact as registered.
    pub contact: String,
    /// Where to send the request: the customer's flow.
    pub flow: Flow,
    /// The `q` value in thousandths; an absent q ranks as 1.0.
    pub q: u16,
}
