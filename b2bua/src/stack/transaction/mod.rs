//! The SIP transaction layer (RFC 3261 §17, RFC 6026), sans-IO.
//!
//! Four state machines, one per transaction kind, each with its own state enum so that impossible
//! states do not exist: [`ClientInvite`] (RFC 3261 §17.1.1), [`ClientNonInvite`] (§17.1.2),
//! [`ServerInvite`] (§17.2.1) and [`ServerNonInvite`] (§17.2.2), with RFC 6026's `Accepted` state
//! for both INVITE machines. A machine is fed messages and time (`on_*`, `on_timer(now)`), writes
//! what it wants done into a caller-owned `Vec<Effect>`, and says when it next needs to be woken
//! (`next_deadline`). It never reads a clock, opens a socket or sleeps.
//!
//! [`TransactionLayer`] owns every live transaction, matches incoming messages to them
//! (RFC 3261 §17.1.3, §17.2.3, with the RFC 2543 fallback), keeps one timer heap, and is drained
//! with `poll_output` / `poll_timeout` after each `handle_*` call:
//!
//! ```text
//!   datagram ──► handle_request / handle_response ──┐
//!   TU       ──► send_request / send_response ──────┼─► poll_output()  ─► Transmit | Event
//!   clock    ──► handle_timer(now) ─────────────────┘   poll_timeout() ─► next wake-up
//! ```
#![deny(clippy::wildcard_enum_match_arm)]

mod client_invite;
mod client_non_invite;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod table;
mod timers;

#[cfg(test)]
mod tests;

pub use client_invite::{build_ack, ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use key::{ClientKey, Rfc2543Key, Rfc3261Key, ServerKey, TxKey};
pub use layer::{Dest, Output, TransactionLayer, Transmit, Transport, TxEvent, TxId, TxState};
pub use server_invite::{trying_for, ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use table::TxMap;
pub use timers::{Timer, TimerConfig, TimerTable, TIMER_D_UNRELIABLE};

use bytes::Bytes;
use sbc_common::sip::Message;

/// One thing a transaction state machine wants done, written into the caller's buffer
/// (RFC 3261 §17: the transaction talks to the transport layer below and the TU above).
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Hand these bytes to the transport for the transaction's peer (RFC 3261 §17, §18).
    Send(Bytes),
    /// Pass this response up to the TU (client transactions, RFC 3261 §17.1.1.2, §17.1.2.2).
    Response(Message),
    /// Pass this ACK up to the TU (INVITE server in Accepted, RFC 6026 §7.1).
    Ack(Message),
    /// Timer B or F fired with no final response (RFC 3261 §17.1.1.2, §17.1.2.2).
    Timeout(Timer),
    /// Timer H fired: no ACK came for a non-2xx final response (RFC 3261 §17.2.1).
    NoAck,
    /// The transport reported a failure (RFC 3261 §17.1.4, §17.2.4).
    TransportError,
    /// The machine reached Terminated and may be dropped (RFC 3261 §17).
    Terminated,
}

/// Why the transaction layer refused a message or a TU call (RFC 3261 §17).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The message lacks a field transactions need (top Via, CSeq, branch, ...; RFC 3261 §8.1.1).
    #[error("message unusable for a transaction: {0}")]
    Malformed(&'static str),
    /// No live transaction has this id (it ended or never existed).
    #[error("no transaction {0:?}")]
    UnknownTransaction(TxId),
    /// A client transaction with the same branch and method already exists (RFC 3261 §17.1.3).
    #[error("a transaction with this key already exists")]
    Duplicate,
    /// The response may not be sent in the transaction's current state (RFC 3261 §17.2).
    #[error("response {code} not allowed in state {state}")]
    NotAllowed {
        /// The status code the TU tried to send.
        code: u16,
        /// The state the transaction was in.
        state: &'static str,
    },
    /// ACK is never sent in a client transaction (RFC 3261 §17.1.1.3, §13.2.2.4).
    #[error("ACK has no client transaction")]
    AckWithoutTransaction,
    /// The call needs the other role (a response through a client transaction or vice versa).
    #[error("wrong transaction role")]
    WrongRole,
}
