//! The B2BUA call core (RFC 3261 §6 "back-to-back user agent", RFC 5853 §3.1, RFC 7092), sans-IO.
//!
//! A call in [`B2bua`] joins two dialogs: leg A, the UAS side that received the INVITE, and leg B,
//! the UAC side the SBC sends its own INVITE on, with a fresh Call-ID, From tag, branch and CSeq
//! from a seeded [`IdGen`]. Nothing crosses from one leg to the other but the Request-URI user,
//! the From/To users and display names, the whitelisted headers of [`HeaderPolicy`] and the SDP,
//! rewritten so that media flows through the relay ([`MediaAnchor`]).
//!
//! [`B2bua`] owns a [`TransactionLayer`](crate::stack::transaction::TransactionLayer) and a
//! [`DialogLayer`](crate::stack::dialog::DialogLayer) and is driven like them: one `handle_*` call, then
//! drain [`B2bua::poll_output`] and sleep until [`B2bua::poll_timeout`]:
//!
//! ```text
//!   parsed message ──► handle_message(now, msg, source) ──┐
//!   clock          ──► handle_timer(now) ─────────────────┼─► poll_output()  ─► Transmit | Event
//!                                                         │   poll_timeout() ─► next wake-up
//!   relay (MediaAnchor, synchronous) ◄── create/add/update/delete
//! ```
//!
//! Flows in this slice: basic call (INVITE with SDP, 1xx, 2xx, ACK end to end, BYE from either
//! side), failures relayed with their code, CANCEL (RFC 3261 §9), and re-INVITE hold/resume with
//! the SDP rewritten and the relay updated (RFC 3264 §8.4), reliable provisionals relayed end
//! to end with RSeq/RAck mapped or PRACKed locally (RFC 3262), downstream forks shown to A
//! as separate early dialogs (RFC 3261 §12.1, §13.2.2.4; see `engine/early.rs`), re-INVITEs
//! with or without an offer (RFC 3261 §14.1), and leg B's retries over its [`Target`]s:
//! failover to the next route, call forwarding on busy or no answer, and 3xx recursion through
//! the configured routes only (RFC 3261 §8.1.3.4, §16.6, §16.7; see `engine/retry.rs`).
//!
//! The management API's commands (`engine/control.rs`): [`B2bua::calls`] (a snapshot of every
//! live call), [`B2bua::terminate`] (BYE with a Reason on both legs, [`EndReason::Admin`]) and
//! [`B2bua::originate`], click-to-dial after RFC 3725 flow I: party A is called without an offer,
//! its offer in the 200 goes to party B, and B's answer goes back to A in the ACK.
//!
//! Session timers (RFC 4028) run per leg ([`SessionTimerConfig`]): each leg negotiates its own
//! interval and refresher with its peer; the SBC refreshes the legs it is refresher on with an
//! UPDATE (or a re-INVITE with the last SDP it sent there) at half the interval, answers a
//! peer's refresh that changes nothing (UPDATE without SDP, re-INVITE with the same SDP as
//! before) itself without bothering the other leg, and ends the call with BYE and a Reason on
//! both legs when a leg's session expires. In-dialog REFER (RFC 3515) and SUBSCRIBE/NOTIFY
//! (RFC 6665) are relayed like INFO, with Event, Subscription-State, Refer-To (a Replaces in it
//! mapped to the far leg of the call it names) and Referred-By crossing.
//!
//! Outside calls (`engine/nondialog.rs`): out-of-dialog MESSAGE (RFC 3428) and PUBLISH
//! (RFC 3903) are routed like INVITEs and re-originated on leg B with the same topology hiding,
//! and an out-of-dialog SUBSCRIBE creates a subscription dialog on each leg whose NOTIFYs and
//! refreshes cross until a terminating NOTIFY (RFC 6665). A request or ACK from leg A in its
//! dialog moves leg A's peer to its source, so the SBC's later requests follow a customer's new
//! NAT mapping (RFC 3581 §4).

mod bundle;
mod codes;
mod dtls;
mod engine;
mod headers;
mod ice;
mod ids;
mod media;
mod sdes;
mod session_timer;
mod target;

#[cfg(test)]
mod tests;

pub use engine::{
    B2bua, CallSnapshot, CallState, ControlError, LegSnapshot, Party, StreamSnapshot,
};
pub use headers::{HeaderPolicy, DEFAULT_COPIED_HEADERS};
pub use ids::IdGen;
pub use media::{leg_signal, relay_direction, MediaAnchor, MediaRelay};
pub use session_timer::SessionTimerConfig;
pub use target::{Target, MAX_ATTEMPTS};

use crate::stack::transaction::{Dest, TimerConfig, Transmit};
use sbc_common::sdp::SdpError;
use sbc_common::sip::Message;
pub use sbc_config::{IcePolicy, SrtpPolicy};
use sbc_relay::api::RelayError;
use sbc_relay::latch::LatchPolicy;
use std::net::IpAddr;
use std::time::Instant;

/// One of the two call legs (RFC 7092 §2: the B2BUA's two user agents).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The side the INVITE came from; the SBC is its UAS (RFC 3261 §12.1.1).
    A,
    /// The side the SBC sent its INVITE to; the SBC is its UAC (RFC 3261 §12.1.2).
    B,
}

impl Leg {
    /// 0 for A, 1 for B, the order of the relay's leg arrays.
    pub fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }

    /// The other leg.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

/// The SBC's presence on one side of a call: its SIP address (Via, Contact) and the relay
/// interface its media ports come from (RFC 5853 §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    /// The SBC's SIP address and transport on this side, written in Via and Contact.
    pub sip: Dest,
    /// The relay interface name for this side's media ports.
    pub media_interface: String,
    /// The IP to write into this side's SDP instead of the relay's bind address, for an SBC
    /// behind 1:1 NAT (the interface's `advertised` address); `None` writes the bind address.
    pub media_advertised: Option<IpAddr>,
    /// Whether this side's media legs are SRTP with SDES keys (RFC 3711, RFC 4568).
    pub srtp: SrtpPolicy,
    /// Whether the SBC is an ICE-lite agent on this side's media legs (RFC 8445 §2.5).
    pub ice: IcePolicy,
}

/// Where a new call goes, decided by the caller's routing (RFC 3263 comes later): both sides and
/// the next hop (RFC 3261 §8.1.2, §16.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The side the INVITE arrived on.
    pub a_side: Side,
    /// The side leg B leaves from.
    pub b_side: Side,
    /// The next hop leg B's requests are sent to.
    pub next_hop: Dest,
    /// Leg B's Request-URI; `None` means `sip:<A's Request-URI user>@<next hop>`.
    pub request_uri: Option<String>,
    /// Leg B's To URI, such as the address-of-record called when the next hop is a registered
    /// contact (RFC 3261 §8.1.1.2); `None` means A's To user on the next hop's host.
    pub to_uri: Option<String>,
    /// Whether an INVITE body the relay cannot anchor (not SDP) is passed to leg B as it is,
    /// and leg B's answers' bodies back, instead of refused with 415 (`[[route]]
    /// pass_bodies`); media is then not relayed.
    pub pass_bodies: bool,
}

/// A routing refusal, answered to leg A with this status (RFC 3261 §8.2, §21.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: &'static str,
}

/// The routing decision for a new INVITE: a [`Route`] or a [`Rejection`] (RFC 3261 §16.5).
///
/// Only [`Router::route`] is required: a router that gives one route and never routes redirect
/// targets makes the core relay every failure and every 3xx to leg A.
pub trait Router {
    /// Routes the INVITE that arrived from `source` (RFC 3261 §16.5).
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection>;

    /// Every target for the INVITE, in the order to try them, with what to do when each fails;
    /// targets chained by [`Target::parallel_with_next`] are one group rung at once; never
    /// empty when `Ok` (RFC 3261 §16.6).
    fn targets(&mut self, invite: &Message, source: Dest) -> Result<Vec<Target>, Rejection> {
        self.route(invite, source).map(|r| vec![Target::new(r)])
    }

    /// The targets for a redirect's Contact `uri`, routed as a request for it arriving from
    /// `source` on `a_side` would be; empty when no route matches, and the Contact is then not
    /// followed (RFC 3261 §8.1.3.4, §16.5).
    fn reroute(&mut self, a_side: &Side, source: Dest, uri: &str) -> Vec<Target> {
        let _ = (a_side, source, uri);
        Vec::new()
    }

    /// The next hop `next_hop` failed an attempt at `now` (a timeout, 503 or a refused
    /// connection), so the router may try it last for a while (RFC 3263 §4.3).
    fn failed(&mut self, now: Instant, next_hop: Dest) {
        let _ = (now, next_hop);
    }
}

impl<F> Router for F
where
    F: FnMut(&Message, Dest) -> Result<Route, Rejection>,
{
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection> {
        self(invite, source)
    }
}

/// The call core's settings (RFC 3261 Appendix A timers, RFC 5853 §3.1 header policy).
#[derive(Clone, Debug)]
pub struct CallConfig {
    /// Which headers cross from one leg to the other.
    pub headers: HeaderPolicy,
    /// The latching policy for every relay leg.
    pub latch: LatchPolicy,
    /// T1/T2/T4 for both layers (RFC 3261 Appendix A).
    pub timers: TimerConfig,
    /// The Server header of stateless answers, if any (RFC 3261 §20.35).
    pub server: Option<String>,
    /// Max-Forwards on requests the SBC starts, and the cap on the value it passes on (RFC 3261
    /// §8.1.1.6, §16.6 item 3).
    pub max_forwards: u32,
    /// Most calls at once; a new INVITE beyond it gets 503 with Retry-After (0: no limit).
    pub max_calls: usize,
    /// The Retry-After seconds sent with that 503 (RFC 3261 §20.33).
    pub retry_after_s: u32,
    /// Longest an answered call may last before the SBC sends BYE on both legs (`None`: no
    /// limit).
    pub max_call_duration: Option<std::time::Duration>,
    /// Session timers on both legs (RFC 4028); off by default.
    pub session_timer: SessionTimerConfig,
    /// Whether [`CallEvent::Started`] names both legs' parties (for CDRs); without CDRs the
    /// event carries only the media session and the Call-IDs, and no copies are made.
    pub records: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            headers: HeaderPolicy::default(),
            latch: LatchPolicy::Strict,
            timers: TimerConfig::default(),
            server: None,
            max_forwards: 70,
            max_calls: 0,
            retry_after_s: 30,
            max_call_duration: None,
            session_timer: SessionTimerConfig::default(),
            records: true,
        }
    }
}

/// A call's handle, unique for the [`B2bua`]'s lifetime, for events, logs and CDRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// Why a call ended, for metrics and CDRs (RFC 3261 §15, §9, §21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// A BYE came from this leg (RFC 3261 §15.1.2).
    Bye(Leg),
    /// Leg B refused the INVITE with a final 3xx–6xx (RFC 3261 §13.2.2.3).
    Rejected,
    /// Leg A cancelled before an answer (RFC 3261 §9).
    Cancelled,
    /// Leg B never answered, or a transport failed (RFC 3261 §17.1.1.2, §17.1.4).
    Timeout,
    /// Leg A never ACKed the 2xx (RFC 3261 §13.3.1.4).
    NoAck,
    /// The SDP could not be read or the relay refused the media (RFC 3264 §5).
    Media,
    /// No media flowed for the relay's inactivity timeout; both legs got a BYE (RFC 3261
    /// §15.1.1).
    MediaTimeout,
    /// The relay's DTLS handshake with a WebRTC peer failed (fingerprint mismatch, no SRTP
    /// profile, timeout): no media could flow; both legs got a BYE (RFC 5763 §5).
    Dtls,
    /// The call reached the configured maximum duration; both legs got a BYE.
    MaxDuration,
    /// A leg's session timer ran out: its refresher did not refresh, or the SBC's own refresh
    /// failed; both legs got a BYE (RFC 4028 §10).
    SessionExpired,
    /// The management API terminated the call: BYE on both answered legs, CANCEL on a ringing
    /// one (RFC 3261 §15.1.1, §9.1).
    Admin,
    /// The SBC shut down after its drain timeout with the call still up; both legs got a BYE.
    Shutdown,
}

impl EndReason {
    /// The RFC 3326 Reason header the SBC puts on the BYEs it sends itself for this ending, if
    /// the SBC (not a party) ended the call.
    pub fn reason_header(self) -> Option<&'static str> {
        match self {
            Self::MediaTimeout => Some("SIP;cause=408;text=\"media inactivity\""),
            Self::NoAck => Some("SIP;cause=408;text=\"no ACK for 2xx\""),
            Self::MaxDuration => Some("SIP;cause=200;text=\"maximum call duration\""),
            Self::Timeout => Some("SIP;cause=408;text=\"no answer\""),
            Self::Media => Some("SIP;cause=488;text=\"media failure\""),
            Self::Dtls => Some("SIP;cause=488;text=\"DTLS-SRTP handshake failed\""),
            Self::SessionExpired => Some("SIP;cause=408;text=\"Session timer expired\""),
            Self::Admin => Some("SIP;cause=200;text=\"terminated by administrator\""),
            Self::Shutdown => Some("SIP;cause=503;text=\"SBC shutting down\""),
            Self::Bye(_) | Self::Rejected | Self::Cancelled => None,
        }
    }
}

/// One leg's identity as its INVITE carries it (RFC 3261 §8.1.1.2, §8.1.1.3, §8.1.1.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegParties {
    /// The Call-ID.
    pub call_id: String,
    /// The From URI (without display name or tag).
    pub from: String,
    /// The To URI.
    pub to: String,
}

/// What a call record needs to know of a new call beyond its Call-IDs: both legs' parties and
/// the relay session its media runs on (RFC 3261 §8.1.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallDetail {
    /// Leg A then leg B.
    pub legs: [LegParties; 2],
    /// The relay session, whose final statistics arrive after the call ends.
    pub media_session: Option<sbc_relay::api::SessionId>,
}

/// What the call core reports, for metrics and CDRs (RFC 3261 §13, §15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// A new call: leg B's INVITE is out (RFC 3261 §13.2.1).
    Started {
        /// The call.
        call: CallKey,
        /// Leg A's Call-ID.
        a_call_id: String,
        /// Leg B's Call-ID, generated by the SBC; empty for a click-to-dial call, whose leg B is
        /// dialled only once party A answers.
        b_call_id: String,
        /// Both legs' From/To and the relay session, for CDRs.
        detail: Box<CallDetail>,
    },
    /// Leg B sent a provisional response above 100 and it was relayed to leg A (RFC 3261
    /// §13.2.2.1), for the call setup metrics.
    Progress {
        /// The call.
        call: CallKey,
        /// The status, 101–199.
        code: u16,
    },
    /// Leg B's attempt failed and a new INVITE went to the call's next target: failover,
    /// forwarding or a followed redirect (RFC 3261 §8.1.3.4, §16.7).
    Rerouted {
        /// The call.
        call: CallKey,
        /// The new target's route name.
        route: String,
        /// What ended the last attempt: its final status, 408 for a timeout, 480 for no answer.
        after: u16,
    },
    /// Leg B answered 2xx and it was relayed to leg A (RFC 3261 §13.2.2.4).
    Answered {
        /// The call.
        call: CallKey,
    },
    /// The call is over; its media session is deleted (RFC 3261 §15).
    Ended {
        /// The call.
        call: CallKey,
        /// Why.
        reason: EndReason,
        /// The status that ended it: leg B's final for failures, 487 for CANCEL, 200 for BYE.
        code: u16,
    },
}

/// One item drained from [`B2bua::poll_output`] (RFC 3261 §17, §18).
#[derive(Clone, Debug, PartialEq)]
pub enum CallOutput {
    /// Send bytes to a peer.
    Transmit(Transmit),
    /// Tell the driver something about a call.
    Event(CallEvent),
}

/// Why the call core refused a message or could not carry a call on (RFC 3261 §8.2, RFC 3264).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The transaction layer refused the message (RFC 3261 §17).
    #[error(transparent)]
    Transaction(#[from] crate::stack::transaction::TransactionError),
    /// The SDP could not be read (RFC 4566).
    #[error("SDP: {0}")]
    Sdp(SdpError),
    /// The relay refused a media operation.
    #[error("relay: {0}")]
    Relay(RelayError),
    /// The SRTP negotiation of a leg failed, SDES (RFC 4568 §7) or DTLS-SRTP and the WebRTC
    /// profile (RFC 5763 §5, RFC 8829), or no codec is left for a browser: the text for the
    /// 488's Warning.
    #[error("SRTP: {0}")]
    Srtp(&'static str),
}
