//! The SIP back-to-back user agent: the SBC's control plane. The folders are its layers, each
//! sans-IO except the driver and the admin server:
//!
//! ```text
//!   driver (sockets, tasks, clock) ── Input ──► endpoint ── Output ──► driver
//!                                                 │  ingress, egress, lifecycle, records
//!                 ┌───────────────────────────────┼─────────────────────┐
//!        edge (front door: realms,          routing (the           ops (management,
//!        registrar, auth, throttle, NAT)    [[route]] table)       metrics, CDR, SIP log)
//!                                                 │
//!                                    call (the B2BUA core: two legs per call, SDP anchored
//!                                          in the relay, failover, forking, session timers)
//!                                                 │
//!                     stack (transaction, dialog, transport, stateless answers)
//! ```
//!
//! - [`stack`]: the RFC 3261 SIP stack on virtual time.
//! - [`call`]: the B2BUA core: fresh identifiers per leg, topology hiding, SDP anchored in the
//!   relay, CANCEL, BYE, re-INVITE, PRACK, UPDATE, REFER, out-of-dialog requests.
//! - [`edge`]: the customer side: registrations, digest, throttles, NAT.
//! - [`routing`]: the `[[route]]` table as the call core's router; never the Request-URI host.
//! - [`endpoint`]: the sans-IO top owning every decision between the sockets and the core.
//! - [`driver`]: sockets, connection tasks and the clock; feeds the endpoint, executes outputs.
//! - [`ops`]: the admin HTTP server, Prometheus metrics, CDRs, the management commands.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod call;
pub mod driver;
pub mod edge;
pub mod endpoint;
pub mod ops;
pub mod routing;
pub mod stack;

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
