//! The SIP dialog layer (RFC 3261 §12, §13, §15), sans-IO.
//!
//! A [`Dialog`] is the peer-to-peer relationship one INVITE or SUBSCRIBE creates: its id
//! (Call-ID and both tags), the CSeq counters, the remote target and the route set. It is fed
//! *transaction events* and time, never bytes or sockets: the caller hands it the requests and
//! responses the transaction layer passes up and the instant they arrived, and it answers with
//! [`DialogOutput`]s: messages to send statelessly (the ACK for a 2xx, 2xx retransmissions) and
//! [`DialogEvent`]s.
//!
//! [`DialogLayer`] keeps every dialog of a shard, matches in-dialog requests and responses to
//! them (RFC 3261 §12.2.2), holds the forked early dialogs of one INVITE side by side (keyed by
//! remote tag), and drives the dialog timers from one heap:
//!
//! ```text
//!   TxEvent::Request/Ack/StrayAck ──► handle_request ──┐
//!   TxEvent::Response/StrayResponse ► handle_response ─┼─► poll_output()  ─► Send | Event
//!   TU ──► new_request / send_2xx / send_ack / bye ────┤   poll_timeout() ─► next wake-up
//!   clock ──► handle_timer(now) ───────────────────────┘
//! ```
//!
//! Ownership of the RFC 3261 §13 2xx rules: the UAS dialog retransmits its 2xx to INVITE (T1
//! doubling up to T2) until the ACK arrives or 64*T1 passes (§13.3.1.4); the UAC dialog ACKs
//! every 2xx, re-sending the very same ACK for a retransmitted 2xx (§13.2.2.4).
//! Likewise for RFC 3262 §3: a UAS dialog retransmits a reliable provisional (T1 doubling, no
//! cap) until the PRACK whose RAck matches it, a final response, or 64*T1
//! ([`DialogEvent::NoPrack`]); a PRACK matching nothing is refused with 481.

mod layer;
mod machine;
mod route;

#[cfg(test)]
mod tests;

pub use layer::{DialogLayer, ResponseOutcome};
pub use machine::{is_target_refresh, reliable_rseq, Dialog, RequestVerdict};
pub use route::{literal_dest, next_hop_uri, RequestTarget, RouteSet};

use crate::stack::ids::{CallId, Tag};
use crate::stack::transaction::Dest;
use sbc_common::sip::Message;
use std::fmt;

/// A dialog's identity: Call-ID plus local and remote tag, as seen from this side
/// (RFC 3261 §12).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID (RFC 3261 §20.8).
    pub call_id: CallId,
    /// Our tag: From tag in our requests, To tag in requests we receive.
    pub local_tag: Tag,
    /// The peer's tag.
    pub remote_tag: Tag,
}

impl DialogId {
    /// The id of the dialog an incoming request belongs to: Call-ID, To tag (local), From tag
    /// (remote, empty for RFC 2543 peers) (RFC 3261 §12.2.2); `None` without a To tag.
    pub fn for_incoming_request(req: &Message) -> Option<Self> {
        DialogKey::for_incoming_request(req).map(DialogKey::to_id)
    }

    /// The id of the dialog a response to our request belongs to: Call-ID, From tag (local),
    /// To tag (remote) (RFC 3261 §12.1.2, §12.2.1.2); `None` without a To tag.
    pub fn for_response(rsp: &Message) -> Option<Self> {
        DialogKey::for_response(rsp).map(DialogKey::to_id)
    }

    /// This id as a borrowed [`DialogKey`].
    pub fn key(&self) -> DialogKey<'_> {
        DialogKey {
            call_id: &self.call_id,
            local_tag: &self.local_tag,
            remote_tag: &self.remote_tag,
        }
    }
}

/// A dialog's identity borrowed from a message, to find its [`DialogId`] in a table without
/// copying the identifiers (RFC 3261 §12); it hashes as the `DialogId` with the same text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DialogKey<'a> {
    /// The Call-ID.
    pub call_id: &'a str,
    /// Our tag.
    pub local_tag: &'a str,
    /// The peer's tag.
    pub remote_tag: &'a str,
}

impl<'a> DialogKey<'a> {
    /// As [`DialogId::for_incoming_request`], borrowed (RFC 3261 §12.2.2).
    pub fn for_incoming_request(req: &'a Message) -> Option<Self> {
        Some(Self {
            call_id: req.call_id()?,
            local_tag: req.to()?.tag()?,
            remote_tag: req.from()?.tag().unwrap_or_default(),
        })
    }

    /// As [`DialogId::for_response`], borrowed (RFC 3261 §12.2.1.2).
    pub fn for_response(rsp: &'a Message) -> Option<Self> {
        Some(Self {
            call_id: rsp.call_id()?,
            local_tag: rsp.from()?.tag()?,
            remote_tag: rsp.to()?.tag()?,
        })
    }

    /// The owned id with this text.
    pub fn to_id(self) -> DialogId {
        DialogId {
            call_id: self.call_id.into(),
            local_tag: self.local_tag.into(),
            remote_tag: self.remote_tag.into(),
        }
    }
}

impl hashbrown::Equivalent<DialogId> for DialogKey<'_> {
    fn equivalent(&self, id: &DialogId) -> bool {
        *id.call_id == *self.call_id
            && *id.local_tag == *self.local_tag
            && *id.remote_tag == *self.remote_tag
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};l={};r={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// Which side of the dialog-creating request we were (RFC 3261 §12.1.1, §12.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request (RFC 3261 §12.1.2).
    Uac,
    /// We received the request (RFC 3261 §12.1.1).
    Uas,
}

/// A dialog's state (RFC 3261 §12: early after a 1xx with a tag, confirmed after a 2xx).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a provisional response (RFC 3261 §12.1).
    Early,
    /// Created or confirmed by a 2xx (RFC 3261 §12.1, §13.2.2.4).
    Confirmed,
    /// Ended by BYE, a non-2xx final, 481/408 or a timeout (RFC 3261 §12.3, §15).
    Terminated,
}

/// Why a dialog ended (RFC 3261 §12.3, §15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TerminateReason {
    /// We sent a BYE (RFC 3261 §15.1.1).
    ByeSent,
    /// The peer sent a BYE (RFC 3261 §15.1.2).
    ByeReceived,
    /// A non-2xx final response ended an early dialog (RFC 3261 §12.3, §13.2.2.3).
    Rejected,
    /// A 481 or 408 to an in-dialog request (RFC 3261 §12.2.1.2).
    Gone,
    /// The caller ended the dialog (another fork won, a timeout, shutdown; RFC 3261 §12.3).
    Local,
}

/// Something a dialog tells the call layer (RFC 3261 §12, §13).
#[derive(Clone, Debug, PartialEq)]
pub enum DialogEvent {
    /// A UAC dialog was created by a provisional response with a To tag (RFC 3261 §12.1.2).
    Early,
    /// The dialog became confirmed by a 2xx (RFC 3261 §12.1, §13.2.2.4).
    Confirmed,
    /// A UAC got a first 2xx to INVITE `cseq` that has no ACK yet; call
    /// [`DialogLayer::send_ack`] (RFC 3261 §13.2.2.4).
    AckNeeded {
        /// The CSeq number of the INVITE the 2xx answers.
        cseq: u32,
    },
    /// The ACK for our 2xx arrived and stopped its retransmission; it may carry the answer
    /// (RFC 3261 §13.3.1.4, RFC 3264 §5).
    Acked {
        /// The ACK.
        ack: Message,
    },
    /// No ACK came for our 2xx within 64*T1: the call should send BYE (RFC 3261 §13.3.1.4).
    NoAck {
        /// The CSeq number of the INVITE the 2xx answered.
        cseq: u32,
    },
    /// No PRACK came for our reliable provisional within 64*T1: the INVITE should get a 5xx
    /// (RFC 3262 §3).
    NoPrack {
        /// The RSeq of the unacknowledged provisional.
        rseq: u32,
    },
    /// The remote target changed after a target refresh (RFC 3261 §12.2.1.2, §12.2.2).
    TargetRefreshed {
        /// The new remote target URI.
        target: String,
    },
    /// The dialog ended and was removed (RFC 3261 §12.3, §15).
    Terminated(TerminateReason),
}

/// One item drained from the dialog layer (RFC 3261 §12, §13).
#[derive(Clone, Debug, PartialEq)]
pub enum DialogOutput {
    /// Send `msg` statelessly to `dest` with `TransactionLayer::send_stateless` (an ACK for a
    /// 2xx or a 2xx retransmission, RFC 3261 §13.2.2.4, §13.3.1.4).
    Send {
        /// The message as it goes on the wire.
        bytes: bytes::Bytes,
        /// Where to send it.
        dest: Dest,
    },
    /// Tell the call layer something about dialog `id`.
    Event {
        /// The dialog.
        id: DialogId,
        /// What happened.
        event: DialogEvent,
    },
}

/// Why the dialog layer refused a message or a call (RFC 3261 §12).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// The message lacks a field dialogs need (Call-ID, tags, CSeq, Contact; RFC 3261 §12.1).
    #[error("message unusable for a dialog: {0}")]
    Malformed(&'static str),
    /// The message cannot create a dialog (no To tag, wrong status or method; RFC 3261 §12.1).
    #[error("message does not create a dialog: {0}")]
    NotDialogCreating(&'static str),
    /// A dialog with this id already exists.
    #[error("dialog {0} already exists")]
    Duplicate(DialogId),
    /// No live dialog has this id.
    #[error("no dialog {0}")]
    UnknownDialog(DialogId),
    /// The dialog is terminated and sends nothing more (RFC 3261 §12.3).
    #[error("dialog terminated")]
    Terminated,
    /// No ACK is known for this INVITE CSeq, or the call needs the other role
    /// (RFC 3261 §13.2.2.4, §13.3.1.4).
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
}
