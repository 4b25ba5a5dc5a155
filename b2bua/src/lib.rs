//! The SIP back-to-back user agent: the SBC's control plane.
//!
//! This crate is built sans-IO: the modules here are pure functions and state machines fed
//! messages and time; [`driver`], [`admin`] (the HTTP endpoint) and `src/bin/sbc.rs` are the
//! only places with sockets and clocks.
//!
//! Built so far: [`stateless`], the answers the SBC gives without any call state (OPTIONS, 400 for
//! unreadable requests, 501 for what is not built yet), and [`transaction`], the RFC 3261 §17
//! transaction layer on virtual time, and [`dialog`], the RFC 3261 §12/§13 dialog layer (route
//! sets, in-dialog requests, 2xx retransmission until ACK, ACK for 2xx, forking), and [`call`], the
//! B2BUA core: two legs per call with fresh identifiers, topology hiding, SDP anchored in the relay
//! (basic call, busy, CANCEL, BYE, re-INVITE hold/resume so far), and [`transport`], the RFC 3261
//! §18 flow bookkeeping and stream framing, and [`driver`], which runs the call core and the relay
//! over the configured UDP sockets and TCP connections with routes from the `[[route]]` table,
//! recording into [`metrics`], which [`admin`] serves over HTTP with health, readiness and the
//! management API, writing call detail records through [`cdr`] and, when asked, logging SIP
//! messages through [`message_log`].
//!
//! For customers behind NAT (sans-IO, wired in by the driver's front door): [`registrar`], the RFC 3261
//! §10.3 location service with RFC 5626 flows and keepalives, and the forward-mode registration
//! cache; [`auth`], digest challenges and verification; [`throttle`], per-source rate limits and
//! failed-authentication back-off; [`nat`], NAT detection and Contact fix-up; and [`customers`],
//! the front door composing them per `[[realm]]`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod auth;
pub mod call;
pub mod cdr;
pub mod customers;
pub mod dialog;
pub mod driver;
pub mod endpoint;
mod hostport;
pub mod management;
pub mod message_log;
pub mod metrics;
pub mod nat;
pub mod registrar;
pub mod routing;
pub mod stateless;
pub mod throttle;
pub mod transaction;
pub mod transport;

use sbc_common::sip::Limits;

/// The hash map of the control plane's tables (transactions, dialogs, calls): foldhash with a
/// per-map random seed, several times cheaper than SipHash on Call-IDs, tags and branches while
/// keeping them hard to collide on purpose.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;

/// The SIP parser limits from the `[sip]` section of the configuration.
pub fn limits(cfg: &sbc_config::Config) -> Limits {
    Limits {
        max_message_bytes: cfg.sip.max_message_bytes,
        max_body_bytes: cfg.sip.max_message_bytes,
        max_headers: cfg.sip.max_headers,
        max_header_bytes: cfg.sip.max_header_bytes,
        max_uri_bytes: cfg.sip.max_header_bytes,
    }
}
