//! The B2BUA engine: calls, the two legs' dialogs and transactions, and the flows between them
//! (RFC 3261 §9, §13, §14, §15, RFC 3264 §8, RFC 7092).

use super::headers::via;
use super::media::MediaState;
pub(super) use super::sdes::Exchange;
use super::{
    CallConfig, CallError, CallEvent, CallKey, CallOutput, EndReason, Leg, MediaAnchor, Router,
    Side, Target,
};
use crate::stack::dialog::TerminateReason;
use crate::stack::dialog::{DialogEvent, DialogId, DialogLayer, DialogOutput};
use crate::stack::ids::CallId;
use crate::stack::stateless::{self, Reply};
use crate::stack::transaction::{Dest, Output, TransactionLayer, TxEvent, TxId, TxMap};
use crate::Map;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_relay::api::SessionId;
use std::collections::VecDeque;
use std::time::Instant;

mod control;
mod early;
mod fork;
mod in_dialog;
mod invite;
mod nondialog;
mod record;
mod refer;
mod responses;
mod retry;
mod timers;

use super::target::{Retired, TargetSet};
pub use control::{CallSnapshot, CallState, ControlError, LegSnapshot, Party, StreamSnapshot};

/// What a transaction is to its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxRole {
    /// Leg A's INVITE (server).
    AInvite,
    /// Leg B's INVITE (client).
    BInvite,
    /// A re-INVITE relayed from one leg (server side).
    ReinviteIn,
    /// The re-INVITE the SBC sent on the other leg (client side).
    ReinviteOut,
    /// An in-dialog INFO or MESSAGE received on one leg (server side), answered with the other
    /// leg's final response.
    RelayIn,
    /// The INFO or MESSAGE the SBC sent on the other leg (client side); its final response goes
    /// back to the server transaction recorded in `B2bua::relays`.
    RelayOut,
    /// A session refresh the SBC sent itself on this leg (RFC 4028 §10), answered locally.
    Refresh(Leg),
    /// The click-to-dial INVITE the SBC sent to party A (client side, `engine/control.rs`).
    Dial,
    /// An out-of-dialog MESSAGE, PUBLISH or SUBSCRIBE, or a request in a subscription, the
    /// SBC relayed (client side, `engine/nondialog.rs`).
    NonDialog,
    /// Anything else the SBC sent (CANCEL, BYE): responses are only absorbed.
    Other,
}

/// An in-dialog request relayed to the other leg, waiting for its answer.
#[derive(Debug)]
struct Relayed {
    /// The server transaction it arrived on.
    server: TxId,
    /// The request as received, to answer it from.
    request: Message,
    /// The call and the leg it came from (for SDP in UPDATE answers).
    key: CallKey,
    from: Leg,
}

/// Where a call is (RFC 3261 §13, §15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Leg B's INVITE has no final response yet.
    Proceeding,
    /// Leg B answered 2xx, relayed to A.
    Answered,
}

/// A re-INVITE crossing the call (RFC 3261 §14).
#[derive(Debug)]
struct Reinvite {
    /// The leg it came from.
    from: Leg,
    /// Its server transaction on that leg.
    server_tx: TxId,
    /// The request as received, to answer it.
    request: Message,
}

/// One call: leg A's dialog (UAS), leg B's (UAC), their transactions and the media.
#[derive(Debug)]
struct Call {
    phase: Phase,
    /// CANCEL received from A, CANCEL to B sent or waiting for B's first provisional (§9.1).
    cancelling: bool,
    cancel_sent: bool,
    /// Leg B sent a provisional response, so a CANCEL may go (RFC 3261 §9.1).
    b_provisional: bool,
    sides: [Side; 2],
    /// Where each leg's requests go: A's source flow, B's next hop.
    peers: [Dest; 2],
    /// Leg A's INVITE, until the SBC has sent its 2xx: after that only its Call-ID is read,
    /// and the call keeps that (`a_call_id`). Boxed so the call shrinks when it goes.
    a_invite: Option<Box<Message>>,
    a_tx: TxId,
    a_tag: String,
    /// Leg A's Call-ID, shared with the core's index of live calls by it.
    a_call_id: CallId,
    /// Leg B's INVITE, until the call is answered (a click-to-dial call keeps it): a late
    /// fork's response then takes our side from leg B's dialog (`handle_sibling_response`).
    b_invite: Option<Box<Message>>,
    dialogs: [Option<DialogId>; 2],
    /// The CSeq of a 2xx to our INVITE on this leg, ACKed when the other leg's ACK arrives.
    pending_ack: [Option<u32>; 2],
    /// Boxed, like `best`: most calls never have one, and a call is kept for its whole life.
    reinvite: Option<Box<Reinvite>>,
    media: Option<MediaState>,
    /// Leg B's forks and their reliable provisionals (RFC 3261 §12.1, RFC 3262).
    early: early::Early,
    /// Leg B's targets: the one being tried and the ones left (see [`retry`]).
    targets: TargetSet,
    /// The other running INVITEs of the current parallel group (see [`fork`]).
    siblings: Vec<fork::Branch>,
    /// The best final failure of the current parallel group so far, with the response unless
    /// it was a timeout (RFC 3261 §16.7 step 6).
    best: Option<Box<(u16, Option<Message>)>>,
    /// When the call started and when it was answered, for the management API.
    started: Instant,
    answered_at: Option<Instant>,
    /// A click-to-dial call: leg A is a UAC dialog too, and B's answer goes to A in the ACK
    /// (`engine/control.rs`).
    originated: bool,
}

impl Call {
    /// Leg `leg`'s Call-ID: leg A's as kept by the call; leg B's from its INVITE or, once that
    /// is let go, from its dialog.
    fn call_id(&self, leg: Leg) -> &str {
        if leg == Leg::A {
            return self.a_call_id.as_str();
        }
        match (&self.b_invite, &self.dialogs[leg.index()]) {
            (Some(invite), _) => invite.call_id().unwrap_or_default(),
            (None, Some(id)) => id.call_id.as_str(),
            (None, None) => "",
        }
    }

    /// The CSeq number of leg B's INVITE while the call keeps it.
    fn b_cseq(&self) -> Option<u32> {
        self.b_invite.as_ref().and_then(|i| i.cseq()).map(|c| c.seq)
    }
}

/// The B2BUA call core: a transaction layer, a dialog layer, the calls joining pairs of dialogs,
/// the relay behind [`MediaAnchor`] and the caller's [`Router`] (RFC 3261 §6, RFC 7092).
///
/// After each `handle_*` call, drain [`B2bua::poll_output`] until `None`, then sleep until
/// [`B2bua::poll_timeout`] and call [`B2bua::handle_timer`].
#[derive(Debug)]
pub struct B2bua<M, R> {
    cfg: CallConfig,
    tx: TransactionLayer,
    dialogs: DialogLayer,
    ids: super::IdGen,
    media: M,
    router: R,
    next_call: u64,
    /// Boxed: a call is over 2 kB, and the table's spare slots should not be.
    calls: Map<CallKey, Box<Call>>,
    /// The Call-IDs of our leg-B INVITEs: one coming back to us is a routing loop.
    b_call_ids: Map<CallId, CallKey>,
    /// How many live calls have each leg-A Call-ID, so [`B2bua::has_call_id`] is one lookup
    /// rather than a walk over every call.
    a_call_ids: Map<CallId, u32>,
    /// Relayed in-dialog requests: our client transaction -> (the server transaction it came
    /// in on, the received request, to answer it from).
    relays: Map<TxId, Relayed>,
    /// Maximum-duration deadlines of answered calls (lazily deleted: ended calls are skipped).
    deadlines: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, CallKey)>>,
    /// No-answer deadlines of leg-B attempts: (when, call, attempt number), lazily deleted.
    no_answer: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, CallKey, usize)>>,
    /// Leg-B INVITEs given up on while ringing, by their client transaction.
    retired: Map<TxId, Retired>,
    /// Each answered call's per-leg session timers (RFC 4028).
    session: super::session_timer::SessionTimers,
    /// What each transaction is to which call (indexed like the transaction table).
    by_tx: TxMap<(CallKey, TxRole)>,
    by_dialog: Map<DialogId, (CallKey, Leg)>,
    /// Dialog events popped early by [`B2bua::flush_dialog_sends`], handled before newer ones.
    deferred: VecDeque<(DialogId, DialogEvent)>,
    out: VecDeque<CallOutput>,
    /// Click-to-dial calls still waiting for party A's answer.
    dialing: Map<CallKey, control::Dialing>,
    /// Out-of-dialog requests and subscriptions (`engine/nondialog.rs`).
    nondialog: nondialog::NonDialog,
}

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// A core with no calls, its IDs drawn from a generator seeded with `seed` (RFC 3261 §19.3).
    pub fn new(cfg: CallConfig, seed: u64, media: M, router: R) -> Self {
        Self {
            tx: TransactionLayer::new(cfg.timers),
            dialogs: {
                let mut d = DialogLayer::new(cfg.timers);
                d.set_max_forwards(cfg.max_forwards);
                d
            },
            cfg,
            ids: super::IdGen::new(seed),
            media,
            router,
            next_call: 1,
            calls: Map::default(),
            b_call_ids: Map::default(),
            a_call_ids: Map::default(),
            relays: Map::default(),
            deadlines: std::collections::BinaryHeap::new(),
            no_answer: std::collections::BinaryHeap::new(),
            retired: Map::default(),
            session: super::session_timer::SessionTimers::default(),
            by_tx: TxMap::default(),
            by_dialog: Map::default(),
            deferred: VecDeque::new(),
            out: VecDeque::new(),
            dialing: Map::default(),
            nondialog: nondialog::NonDialog::default(),
        }
    }

    /// Whether call `key` still holds leg A's whole INVITE (it should not once answered).
    #[cfg(test)]
    pub(crate) fn keeps_a_invite(&self, key: CallKey) -> bool {
        self.calls.get(&key).is_some_and(|c| c.a_invite.is_some())
    }

    /// How many `m=` lines call `key` keeps SDES, ICE and DTLS state for.
    #[cfg(test)]
    pub(crate) fn media_lines(&self, key: CallKey) -> Option<[usize; 3]> {
        Some(self.calls.get(&key)?.media.as_ref()?.table_lines())
    }

    /// Whether call `key` still holds leg B's whole INVITE (it should not once answered).
    #[cfg(test)]
    pub(crate) fn keeps_b_invite(&self, key: CallKey) -> bool {
        self.calls.get(&key).is_some_and(|c| c.b_invite.is_some())
    }

    /// The relay behind the core, e.g. for a test to inspect (RFC 3264 §5).
    pub fn media(&self) -> &M {
        &self.media
    }

    /// The relay behind the core, e.g. for the driver to poll its events (RFC 3264 §5).
    pub fn media_mut(&mut self) -> &mut M {
        &mut self.media
    }

    /// The router behind the core (RFC 3261 §16.5).
    pub fn router(&self) -> &R {
        &self.router
    }

    /// The router behind the core, e.g. to give it a reloaded route table (RFC 3261 §16.5).
    pub fn router_mut(&mut self) -> &mut R {
        &mut self.router
    }

    /// The relay found no media on `session` for its inactivity timeout: an answered call on it
    /// is hung up with BYE on both legs and ends with [`EndReason::MediaTimeout`] (RFC 3261
    /// §15.1.1); a call still ringing is left alone. Returns whether a call ended; drain
    /// [`B2bua::poll_output`] afterwards.
    pub fn handle_media_timeout(&mut self, now: Instant, session: SessionId) -> bool {
        self.hang_up_media(now, session, EndReason::MediaTimeout, 408)
    }

    /// The relay's DTLS handshake on `session` failed: an answered call on it is hung up with
    /// BYE on both legs and ends with [`EndReason::Dtls`] (RFC 5763 §5); returns whether a call
    /// ended.
    pub fn handle_dtls_failure(&mut self, now: Instant, session: SessionId) -> bool {
        self.hang_up_media(now, session, EndReason::Dtls, 488)
    }

    fn hang_up_media(
        &mut self,
        now: Instant,
        session: SessionId,
        reason: EndReason,
        code: u16,
    ) -> bool {
        let key = self
            .calls
            .iter()
            .find(|(_, c)| {
                c.phase == Phase::Answered && c.media.as_ref().is_some_and(|m| m.session == session)
            })
            .map(|(k, _)| *k);
        let Some(key) = key else {
            return false;
        };
        self.hang_up(now, key, reason, code);
        self.pump(now);
        true
    }

    /// How many calls are live, click-to-dial calls still dialling party A included (RFC 7092
    /// §2).
    pub fn call_count(&self) -> usize {
        self.calls.len() + self.dialing.len()
    }

    /// How many transactions are live, client and server (RFC 3261 §17).
    pub fn transaction_count(&self) -> usize {
        self.tx.len()
    }

    /// How many dialogs are live, early and confirmed (RFC 3261 §12).
    pub fn dialog_count(&self) -> usize {
        self.dialogs.len()
    }

    /// The number of entries in each of the core's per-call tables, by name: all zero once
    /// every call has ended and its timers have run (a leak shows here first).
    pub fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("calls", self.calls.len()),
            ("b_call_ids", self.b_call_ids.len()),
            ("relays", self.relays.len()),
            ("deadlines", self.deadlines.len()),
            ("no_answer", self.no_answer.len()),
            ("retired", self.retired.len()),
            ("by_tx", self.by_tx.len()),
            ("by_dialog", self.by_dialog.len()),
            ("deferred", self.deferred.len()),
            ("dialing", self.dialing.len()),
            ("transactions", self.tx.len()),
            ("transaction_timers", self.tx.timer_entries()),
            ("dialogs", self.dialogs.len()),
            ("dialog_timers", self.dialogs.timer_entries()),
            ("session_timers", self.session.len()),
            ("session_timer_queue", self.session.queued()),
            ("nondialog", self.nondialog.len()),
            ("nondialog_expiries", self.nondialog.queued()),
        ]
    }

    /// Feeds one parsed message that arrived from `source` (its `local` names the SBC's
    /// address it arrived at, which the [`Router`] routes a new request by; RFC 3261 §17.1.3,
    /// §17.2.3).
    pub fn handle_message(
        &mut self,
        now: Instant,
        msg: Message,
        source: Dest,
    ) -> Result<(), CallError> {
        self.handle_routed(now, msg, source, None)
    }

    /// Feeds a new request that goes to `targets` instead of the router's choice, such as a
    /// call to a registered customer's contacts (RFC 3261 §16.5, RFC 5626 §5.3); a
    /// retransmission or in-dialog request ignores them.
    pub fn handle_message_to(
        &mut self,
        now: Instant,
        msg: Message,
        source: Dest,
        targets: Vec<Target>,
    ) -> Result<(), CallError> {
        self.handle_routed(now, msg, source, Some(targets))
    }

    fn handle_routed(
        &mut self,
        now: Instant,
        msg: Message,
        source: Dest,
        mut preset: Option<Vec<Target>>,
    ) -> Result<(), CallError> {
        let result = if msg.is_request() {
            self.tx.handle_request(now, msg, source)
        } else {
            self.tx.handle_response(now, msg)
        };
        self.pump_routed(now, &mut preset);
        result.map_err(CallError::from)
    }

    /// Tells transaction `tx` that the transport could not deliver what it sent, such as a TCP
    /// connection that could not be opened (RFC 3261 §17.1.4, §17.2.4).
    pub fn handle_transport_error(&mut self, now: Instant, tx: TxId) {
        if self.tx.handle_transport_error(tx).is_ok() {
            self.pump(now);
        }
    }

    /// Fires every transaction and dialog timer due at `now` (RFC 3261 §13.3.1.4, §17).
    pub fn handle_timer(&mut self, now: Instant) {
        self.tx.handle_timer(now);
        self.dialogs.handle_timer(now);
        self.pump(now);
        while let Some(std::cmp::Reverse((at, key))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if self.calls.contains_key(&key) {
                self.hang_up(now, key, EndReason::MaxDuration, 200);
                self.pump(now);
            }
        }
        self.fire_no_answer(now);
        self.fire_session_timers(now);
        self.expire_subscriptions(now);
        self.pump(now);
    }

    /// The next output to act on, in order; `None` when drained (RFC 3261 §17).
    pub fn poll_output(&mut self) -> Option<CallOutput> {
        self.out.pop_front()
    }

    /// When [`B2bua::handle_timer`] must next be called (RFC 3261 §17).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let max_duration = self.deadlines.peek().map(|r| r.0 .0);
        [
            self.tx.poll_timeout(),
            self.dialogs.poll_timeout(),
            max_duration,
            self.next_no_answer(),
            self.session.next_due(),
            self.nondialog.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Drains both layers, acting on their events, until neither has anything left.
    fn pump(&mut self, now: Instant) {
        self.pump_routed(now, &mut None);
    }

    /// [`B2bua::pump`], handing `preset` targets to the new request the transaction layer
    /// passes up, if any.
    fn pump_routed(&mut self, now: Instant, preset: &mut Option<Vec<Target>>) {
        loop {
            if let Some(o) = self.tx.poll_output() {
                match o {
                    Output::Transmit(t) => self.out.push_back(CallOutput::Transmit(t)),
                    Output::Event(TxEvent::Request { tx, msg, source }) => {
                        self.on_request(now, tx, msg, source, preset.take());
                    }
                    Output::Event(e) => self.on_tx_event(now, e),
                }
                continue;
            }
            if let Some((id, event)) = self.deferred.pop_front() {
                self.on_dialog_event(now, &id, event);
                continue;
            }
            if let Some(o) = self.dialogs.poll_output() {
                match o {
                    DialogOutput::Send { bytes, dest } => self.tx.send_bytes(bytes, dest),
                    DialogOutput::Event { id, event } => self.on_dialog_event(now, &id, event),
                }
                continue;
            }
            break;
        }
    }

    fn on_tx_event(&mut self, now: Instant, event: TxEvent) {
        match event {
            TxEvent::Request { tx, msg, source } => self.on_request(now, tx, msg, source, None),
            TxEvent::Response { tx, msg } => self.on_response(now, tx, &msg),
            TxEvent::Ack { msg, .. } => {
                // Unknown dialogs and stale ACKs need no answer (RFC 3261 §17.2.3).
                let _ = self.dialogs.handle_request(&msg);
            }
            TxEvent::StrayAck { msg, source } => {
                // The ACK for a 2xx: leg A's peer follows where it came from (RFC 3581 §4).
                if let Ok((id, _)) = self.dialogs.handle_request(&msg) {
                    self.follow_source(&id, source);
                }
            }
            TxEvent::StrayResponse { msg } => {
                // A 2xx retransmitted after timer M: the dialog re-sends its ACK (§13.2.2.4).
                let _ = self.dialogs.handle_response(&msg);
            }
            TxEvent::Timeout { tx, .. } | TxEvent::TransportError { tx } => {
                self.on_tx_failure(now, tx);
            }
            TxEvent::NoAck { .. } => {}
            TxEvent::Terminated { tx } => {
                self.by_tx.remove(&tx);
                self.forget_retired(tx);
            }
        }
    }

    fn on_dialog_event(&mut self, now: Instant, id: &DialogId, event: DialogEvent) {
        let Some(&(key, leg)) = self.by_dialog.get(id) else {
            return self.on_subscription_dialog_event(id, &event);
        };
        match event {
            DialogEvent::AckNeeded { cseq } => {
                if self.ack_own_refresh(key, leg, cseq) || self.ack_dialled_b(key, leg, cseq) {
                    return;
                }
                if let Some(call) = self.calls.get_mut(&key) {
                    call.pending_ack[leg.index()] = Some(cseq);
                }
            }
            DialogEvent::Acked { ack } => {
                // An ACK carrying SDP is the answer to an offer made in our 2xx (delayed offer).
                let body = if ack.has_sdp() {
                    self.relay_call_sdp(key, leg, Exchange::Answer, ack.body())
                        .ok()
                } else {
                    None
                };
                self.send_pending_ack(key, leg.other(), body);
            }
            DialogEvent::NoAck { .. } => self.hang_up(now, key, EndReason::NoAck, 408),
            DialogEvent::NoPrack { .. } => self.on_no_prack(now, key),
            DialogEvent::Terminated(_) => {
                self.by_dialog.remove(id);
                if let Some(call) = self.calls.get_mut(&key) {
                    if call.dialogs[leg.index()].as_ref() == Some(id) {
                        call.dialogs[leg.index()] = None;
                    }
                }
            }
            DialogEvent::Early | DialogEvent::Confirmed | DialogEvent::TargetRefreshed { .. } => {}
        }
    }

    // ----- requests ------------------------------------------------------------------------

    fn on_request(
        &mut self,
        now: Instant,
        tx: TxId,
        msg: Message,
        source: Dest,
        preset: Option<Vec<Target>>,
    ) {
        let Some(method) = msg.method().cloned() else {
            return;
        };
        if method == Method::Cancel {
            return self.on_cancel(now, tx, &msg);
        }
        if msg.to().is_some_and(|t| t.tag().is_some()) {
            return self.on_in_dialog(now, tx, msg, &method, source);
        }
        if method == Method::Invite {
            return self.on_invite(now, tx, msg, source, preset);
        }
        if matches!(
            method,
            Method::Message | Method::Publish | Method::Subscribe
        ) {
            return self.on_out_of_dialog(now, tx, msg, source, preset);
        }
        // OPTIONS and the methods not built yet: the stateless answers (RFC 3261 §11).
        if let Reply::Send(rsp) = stateless::answer(&msg, self.cfg.server.as_deref()) {
            let _ = self.tx.send_response(now, tx, &rsp);
        }
    }

    // ----- helpers -------------------------------------------------------------------------

    /// A request or ACK that matched leg A's dialog `id` came from `source`: later requests to
    /// leg A go there, following the customer's current NAT mapping (symmetric response
    /// routing, RFC 3581 §4, RFC 5626 §5.3 spirit). Leg B's peer stays the routed next hop.
    fn follow_source(&mut self, id: &DialogId, source: Dest) {
        let Some(&(key, Leg::A)) = self.by_dialog.get(id) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.peers[Leg::A.index()] != source {
            call.peers[Leg::A.index()] = source;
            let _ = self.dialogs.set_peer(id, source);
        }
    }

    /// Sends the ACK for the 2xx leg `leg` is waiting to have ACKed (RFC 3261 §13.2.2.4).
    fn send_pending_ack(&mut self, key: CallKey, leg: Leg, body: Option<Bytes>) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let (Some(cseq), Some(id)) = (
            call.pending_ack[leg.index()].take(),
            call.dialogs[leg.index()].clone(),
        ) else {
            return;
        };
        let via = via(&call.sides[leg.index()], &self.ids.branch());
        let body = body.map(|b| (b, "application/sdp"));
        let _ = self.dialogs.send_ack(&id, cseq, &via, body);
        self.flush_dialog_sends();
    }

    /// Hands the dialog layer's queued messages to the transport now, so an ACK leaves before
    /// a BYE sent right after it; its events are kept, in order, for [`B2bua::pump`].
    fn flush_dialog_sends(&mut self) {
        while let Some(o) = self.dialogs.poll_output() {
            match o {
                DialogOutput::Send { bytes, dest } => self.tx.send_bytes(bytes, dest),
                DialogOutput::Event { id, event } => self.deferred.push_back((id, event)),
            }
        }
    }

    /// Ends an answered call from the SBC's side: BYE on both legs (RFC 3261 §15.1.1).
    fn hang_up(&mut self, now: Instant, key: CallKey, reason: EndReason, code: u16) {
        self.end_call(now, key, reason, code, None);
    }

    /// Ends a call: ACKs any unACKed 2xx, BYEs every confirmed leg but `except`, ends early
    /// dialogs, deletes the relay session and reports [`CallEvent::Ended`] (RFC 3261 §15.1.1).
    fn end_call(
        &mut self,
        now: Instant,
        key: CallKey,
        reason: EndReason,
        code: u16,
        except: Option<Leg>,
    ) {
        for leg in [Leg::A, Leg::B] {
            self.send_pending_ack(key, leg, None);
        }
        self.cancel_siblings(now, key);
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        self.session.forget(key);
        self.b_call_ids.remove(call.call_id(Leg::B));
        self.unindex_a_call_id(&call.a_call_id);
        for leg in [Leg::A, Leg::B] {
            let Some(id) = call.dialogs[leg.index()].take() else {
                continue;
            };
            let confirmed = self
                .dialogs
                .get(&id)
                .is_some_and(|d| d.state() == crate::stack::dialog::DialogState::Confirmed);
            if confirmed && Some(leg) != except {
                let via = via(&call.sides[leg.index()], &self.ids.branch());
                if let Ok(mut bye) = self.dialogs.new_request(&id, Method::Bye, Some(&via)) {
                    if let Some(r) = reason.reason_header() {
                        bye.push_header(HeaderName::Reason, r);
                    }
                    if let Ok(t) = self.tx.send_request(now, bye, call.peers[leg.index()]) {
                        self.by_tx.insert(t, (key, TxRole::Other));
                    }
                }
            } else {
                let _ = self.dialogs.terminate(&id, TerminateReason::Local);
            }
        }
        self.drop_forks(&call.early);
        if let Some(media) = call.media.take() {
            let _ = self.media.delete_session(media.session);
        }
        self.event(CallEvent::Ended {
            call: key,
            reason,
            code,
        });
    }

    /// Answers request `req` on server transaction `tx` outside any dialog, with a To tag when
    /// it had none (RFC 3261 §8.2.6).
    fn reply(&mut self, now: Instant, tx: TxId, req: &Message, code: u16, reason: &str) {
        let rsp = self.tagged_response(req, code, reason);
        let _ = self.tx.send_response(now, tx, &rsp);
    }

    /// Rewrites SDP from `from` for the other leg of call `key` and programs the relay
    /// (RFC 3264 §5); an ended call or one without media state is a media error.
    fn relay_call_sdp(
        &mut self,
        key: CallKey,
        from: Leg,
        kind: Exchange,
        body: &Bytes,
    ) -> Result<Bytes, CallError> {
        match self
            .calls
            .get_mut(&key)
            .and_then(|c| c.media.as_mut().map(|m| (m, &c.sides)))
        {
            Some((m, sides)) => {
                m.relay_sdp(&mut self.media, sides, self.cfg.latch, from, kind, body)
            }
            None => Err(CallError::Sdp(sbc_common::sdp::SdpError::MissingOrigin)),
        }
    }

    /// A response to an out-of-dialog request with a fresh To tag when it had none
    /// (RFC 3261 §8.2.6.2).
    fn tagged_response(&mut self, req: &Message, code: u16, reason: &str) -> Message {
        let mut rsp = Message::response_to(req, code, reason);
        if let (Some(to), Some(false)) = (
            req.header(&HeaderName::To),
            req.to().map(|t| t.tag().is_some()),
        ) {
            rsp.set_header(HeaderName::To, format!("{to};tag={}", self.ids.tag()));
        }
        rsp
    }

    /// Answers an in-dialog INVITE and tells the dialog, so its pending INVITE clears
    /// (RFC 3261 §14.2).
    fn reply_in_dialog(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Message,
        id: &DialogId,
        code: u16,
        reason: &str,
    ) {
        let rsp = Message::response_to(req, code, reason);
        let _ = self.tx.send_response(now, tx, &rsp);
        let _ = self.dialogs.handle_response_sent(now, id, &rsp);
    }

    /// Refuses an in-dialog offer with 488, with a Warning when SRTP was the reason
    /// (RFC 3261 §14.2, §21.4.26, RFC 4568 §7.1.2).
    fn refuse_offer_in_dialog(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Message,
        id: &DialogId,
        err: &CallError,
        side: &Side,
    ) {
        let mut rsp = Message::response_to(req, 488, "Not Acceptable Here");
        if let Some(w) = srtp_warning(err, side) {
            rsp.push_header(HeaderName::Warning, w);
        }
        let _ = self.tx.send_response(now, tx, &rsp);
        let _ = self.dialogs.handle_response_sent(now, id, &rsp);
    }

    fn event(&mut self, event: CallEvent) {
        self.out.push_back(CallOutput::Event(event));
    }
}

/// The `Warning` value for an offer refused for SRTP reasons, naming the SBC on `side` as the
/// warn-agent (RFC 3261 §20.43, RFC 4568 §7.1.2); `None` for other refusals.
pub(super) fn srtp_warning(err: &CallError, side: &Side) -> Option<String> {
    match err {
        CallError::Srtp(text) => Some(format!(
            "399 {}:{} \"{text}\"",
            super::headers::host(side.sip.addr),
            side.sip.addr.port()
        )),
        _ => None,
    }
}

/// Whether `msg` has a body that is not SDP, which the relay cannot anchor (RFC 3261 §21.4.13).
fn opaque_body(msg: &Message) -> bool {
    !msg.body().is_empty() && !msg.has_sdp()
}
