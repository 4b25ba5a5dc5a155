//! The B2BUA engine: calls, the two legs' dialogs and transactions, and the flows between them
//! (RFC 3261 §9, §13, §14, §15, RFC 3264 §8, RFC 7092).

use super::headers::{contact, host, party_at, rehost_party, uri_user, via};
use super::media::MediaState;
use super::{
    CallConfig, CallError, CallEvent, CallKey, CallOutput, EndReason, Leg, MediaAnchor, Route,
    Router, Side, Target,
};
use crate::stack::dialog::TerminateReason;
use crate::stack::dialog::{
    Dialog, DialogEvent, DialogId, DialogLayer, DialogOutput, ResponseOutcome,
};
use crate::stack::ids::CallId;
use crate::stack::stateless::{self, Reply};
use crate::stack::transaction::{Dest, Output, TransactionLayer, TxEvent, TxId};
use crate::Map;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_relay::api::SessionId;
use std::collections::VecDeque;
use std::time::Instant;

mod control;
mod early;
mod fork;
mod nondialog;
mod record;
mod refer;
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
    a_invite: Message,
    a_tx: TxId,
    a_tag: String,
    b_invite: Message,
    dialogs: [Option<DialogId>; 2],
    /// The CSeq of a 2xx to our INVITE on this leg, ACKed when the other leg's ACK arrives.
    pending_ack: [Option<u32>; 2],
    reinvite: Option<Reinvite>,
    media: Option<MediaState>,
    /// Leg B's forks and their reliable provisionals (RFC 3261 §12.1, RFC 3262).
    early: early::Early,
    /// Leg B's targets: the one being tried and the ones left (see [`retry`]).
    targets: TargetSet,
    /// The other running INVITEs of the current parallel group (see [`fork`]).
    siblings: Vec<fork::Branch>,
    /// The best final failure of the current parallel group so far, with the response unless
    /// it was a timeout (RFC 3261 §16.7 step 6).
    best: Option<(u16, Option<Message>)>,
    /// When the call started and when it was answered, for the management API.
    started: Instant,
    answered_at: Option<Instant>,
    /// A click-to-dial call: leg A is a UAC dialog too, and B's answer goes to A in the ACK
    /// (`engine/control.rs`).
    originated: bool,
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
    by_tx: Map<TxId, (CallKey, TxRole)>,
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
            relays: Map::default(),
            deadlines: std::collections::BinaryHeap::new(),
            no_answer: std::collections::BinaryHeap::new(),
            retired: Map::default(),
            session: super::session_timer::SessionTimers::default(),
            by_tx: Map::default(),
            by_dialog: Map::default(),
            deferred: VecDeque::new(),
            out: VecDeque::new(),
            dialing: Map::default(),
            nondialog: nondialog::NonDialog::default(),
        }
    }

    /// The relay behind the core, e.g. for a test to inspect (RFC 3264 §5).
    pub fn media(&self) -> &M {
        &self.media
    }

    /// The relay behind the core, e.g. for the driver to poll its events (RFC 3264 §5).
    pub fn media_mut(&mut self) -> &mut M {
        &mut self.media
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
        self.hang_up(now, key, EndReason::MediaTimeout, 408);
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
                    DialogOutput::Send { msg, dest } => self.tx.send_stateless(&msg, dest),
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
                    self.relay_call_sdp(key, leg, ack.body()).ok()
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

    /// A new INVITE on leg A: checks, routing, relay session, leg B's INVITE (RFC 3261 §8.2,
    /// §16.6 step 3, RFC 5853 §3.1).
    fn on_invite(
        &mut self,
        now: Instant,
        tx: TxId,
        invite: Message,
        source: Dest,
        preset: Option<Vec<Target>>,
    ) {
        let max_forwards = invite.max_forwards().unwrap_or(70);
        if max_forwards == 0 {
            return self.reply(now, tx, &invite, 483, "Too Many Hops");
        }
        if invite
            .call_id()
            .is_some_and(|id| self.b_call_ids.contains_key(id))
        {
            // Our own leg-B INVITE came back: the routes form a loop (RFC 3261 §16.3 item 4).
            return self.reply(now, tx, &invite, 482, "Loop Detected");
        }
        if self.cfg.max_calls > 0 && self.calls.len() >= self.cfg.max_calls {
            // RFC 3261 §21.5.4: overloaded; say when to come back.
            let mut rsp = self.tagged_response(&invite, 503, "Service Unavailable");
            rsp.push_header(HeaderName::RetryAfter, self.cfg.retry_after_s.to_string());
            let _ = self.tx.send_response(now, tx, &rsp);
            return;
        }
        // No Contact is accepted from RFC 2543 peers (RFC 3261 §8.2): the dialog then reaches
        // A at its From URI, and in practice at the flow it came on.
        if invite.from().is_none() || invite.to().is_none() {
            return self.reply(now, tx, &invite, 400, "Missing From or To");
        }
        if self.refuse_session_interval(now, tx, &invite, None) {
            return;
        }
        let routed = match preset.filter(|t| !t.is_empty()) {
            Some(t) => Ok(t),
            None => self.router.targets(&invite, source),
        };
        let mut targets = match routed {
            Ok(t) => t,
            Err(rej) => return self.reply(now, tx, &invite, rej.code, rej.reason),
        };
        if invite
            .uri()
            .is_some_and(|u| u.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("sips:")))
        {
            // A SIPS Request-URI asks for TLS on every hop: never downgraded (RFC 3261 §26.2.2,
            // RFC 5630 §3.1.2).
            targets
                .retain(|t| t.route.next_hop.transport == crate::stack::transport::Transport::Tls);
            if targets.is_empty() {
                return self.reply(now, tx, &invite, 480, "No TLS Route For SIPS");
            }
        }
        let Some(mut targets) = TargetSet::new(targets) else {
            return self.reply(now, tx, &invite, 404, "Not Found");
        };
        let route = targets.current().route.clone();
        if opaque_body(&invite) && !route.pass_bodies {
            // A body the relay cannot anchor (multipart bodies were cut to their SDP part on
            // arrival): refused, saying what is accepted (RFC 3261 §21.4.13).
            let mut rsp = self.tagged_response(&invite, 415, "Unsupported Media Type");
            rsp.push_header(HeaderName::Accept, stateless::ACCEPT);
            let _ = self.tx.send_response(now, tx, &rsp);
            return;
        }
        let key = CallKey(self.next_call);
        self.next_call += 1;
        let sides = [route.a_side.clone(), route.b_side.clone()];
        let mut media = MediaState::new(self.media.create_session());
        // Delayed offer (RFC 3261 §13.2.1, RFC 3264 §4): no SDP here means the offer comes in
        // B's 2xx and the answer in A's ACK.
        let body = if invite.has_sdp() {
            media.relay_sdp(
                &mut self.media,
                &sides,
                self.cfg.latch,
                Leg::A,
                invite.body(),
            )
        } else {
            Ok(Bytes::new())
        };
        let Ok(body) = body else {
            let _ = self.media.delete_session(media.session);
            return self.reply(now, tx, &invite, 488, "Not Acceptable Here");
        };
        let b_invite = self.build_b_invite(&invite, &route, max_forwards - 1, body);
        let Ok(b_tx) = self.tx.send_request(now, b_invite.clone(), route.next_hop) else {
            let _ = self.media.delete_session(media.session);
            return self.reply(now, tx, &invite, 500, "Server Internal Error");
        };
        let a_call_id = invite.call_id().unwrap_or_default().to_owned();
        let b_call_id = b_invite.call_id().unwrap_or_default().to_owned();
        self.by_tx.insert(tx, (key, TxRole::AInvite));
        self.by_tx.insert(b_tx, (key, TxRole::BInvite));
        self.b_call_ids.insert(b_call_id.as_str().into(), key);
        targets.tx = Some(b_tx);
        self.track_session_timer(key, &invite);
        let detail = record::detail(&invite, &b_invite, media.session);
        self.calls.insert(
            key,
            Box::new(Call {
                phase: Phase::Proceeding,
                cancelling: false,
                cancel_sent: false,
                b_provisional: false,
                sides,
                peers: [source, route.next_hop],
                a_invite: invite,
                a_tx: tx,
                a_tag: self.ids.tag(),
                b_invite,
                dialogs: [None, None],
                pending_ack: [None, None],
                reinvite: None,
                media: Some(media),
                early: early::Early::default(),
                targets,
                siblings: Vec::new(),
                best: None,
                started: now,
                answered_at: None,
                originated: false,
            }),
        );
        self.start_siblings(now, key);
        self.arm_no_answer(now, key);
        self.event(CallEvent::Started {
            call: key,
            a_call_id,
            b_call_id,
            detail,
        });
    }

    /// The head every request the SBC originates on leg B shares: Request-URI (the route's, or
    /// A's user at the next hop), the SBC's Via, Max-Forwards capped at `[sip] max_forwards`,
    /// From and To re-hosted with a fresh From tag, a fresh Call-ID and CSeq (RFC 3261 §8.1.1,
    /// RFC 5853 §3.1).
    fn b_request_head(
        &mut self,
        req: &Message,
        method: &Method,
        route: &Route,
        max_forwards: u32,
    ) -> Message {
        let mut next = String::with_capacity(48);
        crate::stack::hostport::push_socket_addr(&mut next, route.next_hop.addr);
        let ruri = route.request_uri.clone().unwrap_or_else(|| {
            let mut s = String::with_capacity(next.len() + 40);
            s.push_str("sip:");
            if let Some(user) = req.uri().and_then(uri_user) {
                s.push_str(user);
                s.push('@');
            }
            s.push_str(&next);
            s
        });
        let b = &route.b_side;
        let mut msg = Message::request(method.clone(), ruri);
        msg.push_header(HeaderName::Via, via(b, &self.ids.branch()));
        let max_forwards = max_forwards.min(self.cfg.max_forwards);
        msg.push_header(HeaderName::MaxForwards, max_forwards.to_string());
        let mut from = rehost_party(req.from(), &host(b.sip.addr));
        from.push_str(";tag=");
        from.push_str(&self.ids.tag());
        msg.push_header(HeaderName::From, from);
        let to = match &route.to_uri {
            Some(uri) => party_at(req.to(), uri),
            None => rehost_party(req.to(), &next),
        };
        msg.push_header(HeaderName::To, to);
        msg.push_header(HeaderName::CallId, self.ids.call_id());
        let mut cseq = String::with_capacity(24);
        crate::stack::hostport::push_u64(&mut cseq, u64::from(self.ids.cseq()));
        cseq.push(' ');
        cseq.push_str(method.as_str());
        msg.push_header(HeaderName::CSeq, cseq);
        msg
    }

    /// Leg B's INVITE: fresh Call-ID, tag, branch and CSeq, Request-URI on the next hop, the
    /// SBC's Via and Contact, From/To users kept on the SBC's and the next hop's host,
    /// Max-Forwards one less, whitelisted headers only (RFC 3261 §8.1.1, RFC 5853 §3.1).
    fn build_b_invite(
        &mut self,
        invite: &Message,
        route: &Route,
        max_forwards: u32,
        body: Bytes,
    ) -> Message {
        let mut msg = self.b_request_head(invite, &Method::Invite, route, max_forwards);
        let b = &route.b_side;
        msg.push_header(HeaderName::Contact, contact(b));
        self.cfg.headers.copy(invite, &mut msg);
        early::advertise_100rel(invite, &mut msg);
        self.offer_session_timer(&mut msg);
        if opaque_body(invite) {
            // Only on a route with `pass_bodies`: the body goes as it came, unanchored.
            let ct = invite.header(&HeaderName::ContentType).map(str::to_owned);
            msg.set_body(invite.body().clone(), ct.as_deref());
        } else {
            let content_type = (!body.is_empty()).then_some("application/sdp");
            msg.set_body(body, content_type);
        }
        msg
    }

    /// CANCEL: 200 to it, then CANCEL on leg B once B has sent a provisional; A gets 487 when B
    /// answers the INVITE (RFC 3261 §9.1, §9.2).
    fn on_cancel(&mut self, now: Instant, tx: TxId, cancel: &Message) {
        let found = self
            .tx
            .find_invite_for_cancel(cancel)
            .and_then(|invite_tx| self.by_tx.get(&invite_tx).copied());
        let Some((key, role)) = found else {
            return self.reply(now, tx, cancel, 481, "Call/Transaction Does Not Exist");
        };
        let mut ok = Message::response_to(cancel, 200, "OK");
        if let (Some(call), Some(to)) = (self.calls.get(&key), cancel.header(&HeaderName::To)) {
            if cancel.to().is_some_and(|t| t.tag().is_none()) {
                ok.set_header(HeaderName::To, format!("{to};tag={}", call.a_tag));
            }
        }
        let _ = self.tx.send_response(now, tx, &ok);
        if role == TxRole::AInvite {
            self.cancel_b(now, key);
        }
    }

    /// Starts cancelling leg B: at once if it sent a provisional, else on the first one
    /// (RFC 3261 §9.1).
    fn cancel_b(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.phase != Phase::Proceeding {
            return;
        }
        call.cancelling = true;
        let provisional = call.b_provisional;
        self.cancel_siblings(now, key);
        if provisional {
            self.send_cancel(now, key);
        }
    }

    /// Leg B's CANCEL: the INVITE's Request-URI, top Via, From, To, Call-ID and CSeq number
    /// (RFC 3261 §9.1).
    fn send_cancel(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.cancel_sent {
            return;
        }
        call.cancel_sent = true;
        let cancel = retry::cancel_for(&call.b_invite);
        let dest = call.peers[Leg::B.index()];
        if let Ok(t) = self.tx.send_request(now, cancel, dest) {
            self.by_tx.insert(t, (key, TxRole::Other));
        }
    }

    /// A request with a To tag: the dialog's verdict first, then BYE, re-INVITE, or 501
    /// (RFC 3261 §12.2.2).
    fn on_in_dialog(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Message,
        method: &Method,
        source: Dest,
    ) {
        let Ok((id, verdict)) = self.dialogs.handle_request(&req) else {
            if self.notify_before_answer(&req) {
                return self.on_in_dialog(now, tx, req, method, source);
            }
            return self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
        };
        if let Some(rsp) = verdict.response(&req, self.ids.retry_after()) {
            let _ = self.tx.send_response(now, tx, &rsp);
            return;
        }
        if self.is_subscription_dialog(&id) {
            return self.on_subscription_request(now, tx, req, &id, source);
        }
        let Some(&(key, leg)) = self.by_dialog.get(&id) else {
            return self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
        };
        self.follow_source(&id, source);
        if self.session_refresh_in(now, tx, &req, key, leg, &id) {
            return;
        }
        match method {
            Method::Bye => self.on_bye(now, tx, &req, key, leg),
            Method::Invite => self.on_reinvite(now, tx, req, key, leg, &id),
            Method::Info
            | Method::Message
            | Method::Update
            | Method::Refer
            | Method::Notify
            | Method::Subscribe => {
                self.relay_in_dialog(now, tx, req, key, leg, &id);
            }
            Method::Prack if leg == Leg::A => self.on_prack(now, tx, req, key, &id),
            _ => self.reply(now, tx, &req, 501, "Not Implemented"),
        }
    }

    /// BYE from `leg`: 200 there, BYE on the other leg, relay session deleted (RFC 3261 §15.1).
    fn on_bye(&mut self, now: Instant, tx: TxId, bye: &Message, key: CallKey, leg: Leg) {
        self.reply(now, tx, bye, 200, "OK");
        let answered = self
            .calls
            .get(&key)
            .is_some_and(|c| c.phase == Phase::Answered);
        if answered {
            self.end_call(now, key, EndReason::Bye(leg), 200, Some(leg));
        } else {
            // A BYE on an early dialog cancels the INVITE (RFC 3261 §15).
            self.cancel_b(now, key);
        }
    }

    /// An in-dialog INFO, MESSAGE or UPDATE from `leg`: sent in the other leg's dialog with its
    /// body (an UPDATE's SDP offer anchored in the relay) and whitelisted headers; the other
    /// side's final answer comes back (RFC 6086, RFC 3428, RFC 3311).
    fn relay_in_dialog(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Message,
        key: CallKey,
        leg: Leg,
        id: &DialogId,
    ) {
        self.follow_fork(key, leg, id);
        let Some(call) = self.calls.get(&key) else {
            return self.reply_in_dialog(now, tx, &req, id, 481, "Call/Transaction Does Not Exist");
        };
        let other = leg.other();
        let Some(other_id) = call.dialogs[other.index()].clone() else {
            return self.reply_in_dialog(now, tx, &req, id, 481, "Call/Transaction Does Not Exist");
        };
        let via = via(&call.sides[other.index()], &self.ids.branch());
        let dest = call.peers[other.index()];
        let Some(method) = req.method().cloned() else {
            return;
        };
        let Ok(mut out) = self.dialogs.new_request(&other_id, method, Some(&via)) else {
            return self.reply_in_dialog(now, tx, &req, id, 500, "Server Internal Error");
        };
        self.cfg.headers.copy(&req, &mut out);
        if let Err((code, reason)) = self.cross_in_dialog_headers(&req, &mut out, key, other) {
            return self.reply_in_dialog(now, tx, &req, id, code, reason);
        }
        if req.has_sdp() {
            // An UPDATE carrying an offer (RFC 3311 §5.1): anchored like a re-INVITE's.
            let Ok(body) = self.relay_call_sdp(key, leg, req.body()) else {
                return self.reply_in_dialog(now, tx, &req, id, 488, "Not Acceptable Here");
            };
            out.set_body(body, Some("application/sdp"));
        } else if !req.body().is_empty() {
            let ct = req.header(&HeaderName::ContentType).map(str::to_owned);
            out.set_body(req.body().clone(), ct.as_deref());
        }
        let Ok(client) = self.tx.send_request(now, out, dest) else {
            return self.reply_in_dialog(now, tx, &req, id, 500, "Server Internal Error");
        };
        self.track_relayed(tx, client, req, key, leg);
    }

    /// Remembers that request `req`, received from `from` on server transaction `server`, went
    /// to the other leg on client transaction `client`, so its answer finds its way back.
    fn track_relayed(&mut self, server: TxId, client: TxId, req: Message, key: CallKey, from: Leg) {
        self.by_tx.insert(server, (key, TxRole::RelayIn));
        self.by_tx.insert(client, (key, TxRole::RelayOut));
        self.relays.insert(
            client,
            Relayed {
                server,
                request: req,
                key,
                from,
            },
        );
    }

    /// Answers a relayed INFO/MESSAGE with the other side's final response (its code, reason,
    /// body and whitelisted headers), or with `fallback` when it failed or timed out.
    fn answer_relayed(
        &mut self,
        now: Instant,
        client: TxId,
        rsp: Option<&Message>,
        fallback: (u16, &str),
    ) {
        let Some(Relayed {
            server,
            request: req,
            key,
            from,
        }) = self.relays.remove(&client)
        else {
            return;
        };
        let (code, reason) = rsp
            .and_then(|r| Some((r.status()?, r.reason().unwrap_or(""))))
            .unwrap_or(fallback);
        let mut out = Message::response_to(&req, code, reason);
        // The request was in-dialog: its To already carries our tag on that leg.
        if let Some(r) = rsp {
            self.cfg.headers.copy(r, &mut out);
            self.cross_in_dialog_answer_headers(now, key, from, &req, r, &mut out);
            if r.has_sdp() {
                // The answer to an UPDATE's offer, anchored for the leg the offer came from.
                if let Ok(body) = self.relay_call_sdp(key, from.other(), r.body()) {
                    out.set_body(body, Some("application/sdp"));
                }
            } else if !r.body().is_empty() {
                let ct = r.header(&HeaderName::ContentType).map(str::to_owned);
                out.set_body(r.body().clone(), ct.as_deref());
            }
        }
        let _ = self.tx.send_response(now, server, &out);
    }

    /// A re-INVITE from `leg`: SDP rewritten for the other leg, relay updated, sent there in
    /// that leg's dialog (RFC 3261 §14, RFC 3264 §8).
    fn on_reinvite(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Message,
        key: CallKey,
        leg: Leg,
        id: &DialogId,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return self.reply_in_dialog(now, tx, &req, id, 481, "Call/Transaction Does Not Exist");
        };
        let other_id = call.dialogs[leg.other().index()].clone();
        let (Phase::Answered, None, Some(other_id)) = (call.phase, &call.reinvite, other_id) else {
            return self.reply_in_dialog(now, tx, &req, id, 491, "Request Pending");
        };
        // Without SDP it is a delayed offer (RFC 3261 §14.1, RFC 3264 §8): it crosses without a
        // body, the other side's offer comes back in its 2xx and the answer in the ACK, both
        // anchored on the way (on_reinvite_response, DialogEvent::Acked).
        let body = if req.has_sdp() {
            let body = match call.media.as_mut() {
                Some(m) => m.relay_sdp(
                    &mut self.media,
                    &call.sides,
                    self.cfg.latch,
                    leg,
                    req.body(),
                ),
                None => Err(CallError::Sdp(sbc_common::sdp::SdpError::MissingOrigin)),
            };
            let Ok(body) = body else {
                return self.reply_in_dialog(now, tx, &req, id, 488, "Not Acceptable Here");
            };
            Some(body)
        } else {
            None
        };
        let other = leg.other();
        let via = via(&call.sides[other.index()], &self.ids.branch());
        let dest = call.peers[other.index()];
        let Ok(mut out) = self
            .dialogs
            .new_request(&other_id, Method::Invite, Some(&via))
        else {
            return self.reply_in_dialog(now, tx, &req, id, 500, "Server Internal Error");
        };
        self.cfg.headers.copy(&req, &mut out);
        self.decorate_relayed_refresh(key, other, &mut out);
        if let Some(body) = body {
            out.set_body(body, Some("application/sdp"));
        }
        let Ok(client) = self.tx.send_request(now, out, dest) else {
            return self.reply_in_dialog(now, tx, &req, id, 500, "Server Internal Error");
        };
        self.by_tx.insert(tx, (key, TxRole::ReinviteIn));
        self.by_tx.insert(client, (key, TxRole::ReinviteOut));
        if let Some(call) = self.calls.get_mut(&key) {
            call.reinvite = Some(Reinvite {
                from: leg,
                server_tx: tx,
                request: req,
            });
        }
    }

    // ----- responses -----------------------------------------------------------------------

    fn on_response(&mut self, now: Instant, tx: TxId, rsp: &Message) {
        if self.is_retired(tx) {
            return self.on_retired_response(now, tx, rsp);
        }
        let Some(&(key, role)) = self.by_tx.get(&tx) else {
            return;
        };
        match role {
            TxRole::BInvite => {
                self.select_branch(key, tx);
                let status = rsp.status().unwrap_or(0);
                if status >= 300 {
                    match self.branch_failed(key, tx, Some(rsp)) {
                        fork::Verdict::Absorbed => return,
                        fork::Verdict::Best(best) => {
                            return self.on_b_invite_final(now, key, tx, &best)
                        }
                        fork::Verdict::Timeout => return self.on_b_invite_timeout(now, key, tx),
                        fork::Verdict::Own => {}
                    }
                } else if status >= 200
                    && self
                        .calls
                        .get(&key)
                        .is_some_and(|c| c.targets.tx == Some(tx))
                {
                    // The first 2xx of a parallel group wins (RFC 3261 §16.7 step 5).
                    self.cancel_siblings(now, key);
                }
                self.on_b_invite_final(now, key, tx, rsp);
            }
            TxRole::ReinviteOut => self.on_reinvite_response(now, key, rsp),
            TxRole::Refresh(leg) => self.on_refresh_response(now, key, leg, rsp),
            TxRole::Dial => self.on_dial_response(now, key, rsp),
            TxRole::RelayOut => {
                if rsp.status().is_some_and(|c| c >= 200) {
                    self.answer_relayed(now, tx, Some(rsp), (500, "Server Internal Error"));
                }
            }
            TxRole::NonDialog => self.on_non_dialog_response(now, tx, rsp),
            TxRole::AInvite | TxRole::ReinviteIn | TxRole::RelayIn | TxRole::Other => {
                // A BYE's or CANCEL's answer: the BYE's dialog is gone already (RFC 3261
                // §15.1.1), and a 200 to CANCEL must not reach the early dialog, which the
                // dialog layer would confirm on any 2xx (RFC 3261 §9.1).
            }
        }
    }

    /// A response `rsp` on leg B's INVITE transaction `tx`: the next target on a failure that
    /// calls for one, else handled as the call's answer (RFC 3261 §16.7).
    fn on_b_invite_final(&mut self, now: Instant, key: CallKey, tx: TxId, rsp: &Message) {
        if !self.retry_on_final(now, key, tx, rsp) {
            self.on_b_invite_response(now, key, rsp);
        }
    }

    /// A response to leg B's INVITE: provisionals and 2xx relayed with the answer rewritten,
    /// failures relayed with their code, 487 after CANCEL (RFC 3261 §9.1, §13.2.2, §16.7).
    fn on_b_invite_response(&mut self, now: Instant, key: CallKey, rsp: &Message) {
        let Some(status) = rsp.status() else { return };
        if status == 422 && self.retry_after_422(now, key, rsp) {
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let peer = call.peers[Leg::B.index()];
        let outcome = self
            .dialogs
            .handle_creating_response(&call.b_invite, rsp, peer);
        let fork = match outcome {
            Ok(ResponseOutcome::Created(id) | ResponseOutcome::Matched(id)) => Some(id),
            _ => None,
        };
        if let Some(id) = fork.filter(|_| status < 300) {
            if call.phase == Phase::Answered && call.dialogs[Leg::B.index()].as_ref() != Some(&id) {
                // Another fork after the first 2xx won (RFC 3261 §13.2.2.4).
                return self.on_late_fork(now, key, &id, status);
            }
            self.by_dialog.insert(id.clone(), (key, Leg::B));
            call.dialogs[Leg::B.index()] = Some(id.clone());
            if call.phase == Phase::Proceeding && !call.cancelling && !call.originated {
                self.map_fork(key, &id, status);
            }
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        match status {
            100..=199 => {
                call.b_provisional = true;
                if call.cancelling {
                    self.send_cancel(now, key);
                } else if status > 100 && self.accept_provisional(now, key, rsp) {
                    self.relay_to_a(now, key, rsp);
                    self.event(CallEvent::Progress {
                        call: key,
                        code: status,
                    });
                }
            }
            200..=299 if call.phase == Phase::Answered => {
                // A retransmission: the dialog layer handles its ACK (RFC 3261 §13.2.2.4).
            }
            200..=299 if call.cancelling => {
                // CANCEL lost the race (RFC 3261 §9.1): ACK and BYE leg B, 487 to A.
                call.phase = Phase::Answered;
                let cseq = call.b_invite.cseq().map_or(1, |c| c.seq);
                call.pending_ack[Leg::B.index()] = Some(cseq);
                // A click-to-dial call's leg A is answered: it gets a BYE too.
                let except = (!call.originated).then_some(Leg::A);
                self.final_to_a(now, key, 487, "Request Terminated", None);
                self.end_call(now, key, EndReason::Cancelled, 487, except);
            }
            200..=299 => {
                call.phase = Phase::Answered;
                call.answered_at = Some(now);
                call.targets.settle();
                if let Some(limit) = self.cfg.max_call_duration {
                    if let Some(at) = now.checked_add(limit) {
                        self.deadlines.push(std::cmp::Reverse((at, key)));
                        if self.deadlines.len() > 2 * self.calls.len() + 64 {
                            // Ended calls' deadlines (hours away) would pile up with the
                            // call rate: keep the live calls' only.
                            let calls = &self.calls;
                            self.deadlines
                                .retain(|std::cmp::Reverse((_, k))| calls.contains_key(k));
                        }
                    }
                }
                self.relay_to_a(now, key, rsp);
                self.event(CallEvent::Answered { call: key });
            }
            _ => {
                self.dialogs
                    .terminate_early_of(&call.b_invite, TerminateReason::Rejected);
                let (code, reason, why) = if call.cancelling {
                    (487, "Request Terminated", EndReason::Cancelled)
                } else {
                    (
                        status,
                        rsp.reason().unwrap_or_default(),
                        EndReason::Rejected,
                    )
                };
                let (a_code, a_reason) = super::codes::for_leg_a(code, reason);
                let a_reason = a_reason.to_owned();
                self.final_to_a(now, key, a_code, &a_reason, Some(rsp));
                self.end_call(now, key, why, code, None);
            }
        }
    }

    /// Relays a 101–299 from leg B to leg A in A's dialog, created on the first one, with any
    /// SDP rewritten; a 2xx starts A's 2xx retransmission (RFC 3261 §12.1.1, §13.3.1.4).
    fn relay_to_a(&mut self, now: Instant, key: CallKey, rsp: &Message) {
        let Some(status) = rsp.status() else { return };
        if self.answer_dialled(now, key, rsp) {
            return;
        }
        let Some(id) = self.a_dialog(key, status) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(dialog) = self.dialogs.get(&id) else {
            return;
        };
        let mut out = dialog.response(&call.a_invite, status, rsp.reason().unwrap_or_default());
        self.cfg.headers.copy(rsp, &mut out);
        if (200..300).contains(&status) {
            self.session_answered(now, key, rsp, &mut out);
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let mut body = Bytes::new();
        let mut content_type = None;
        if rsp.has_sdp() {
            if let Some(m) = call.media.as_mut() {
                // An unreadable answer is dropped from the relayed response (left for later:
                // a 2xx with one should end the call).
                if let Ok(b) = m.relay_sdp(
                    &mut self.media,
                    &call.sides,
                    self.cfg.latch,
                    Leg::B,
                    rsp.body(),
                ) {
                    body = b;
                    content_type = Some("application/sdp");
                }
            }
        } else if opaque_body(&call.a_invite) && opaque_body(rsp) {
            // A call on a `pass_bodies` route: B's answer body goes back as it came.
            body = rsp.body().clone();
            content_type = rsp.header(&HeaderName::ContentType);
        }
        out.set_body(body, content_type);
        let a_tx = call.a_tx;
        self.prepare_for_a(key, &id, rsp, &mut out);
        let _ = self.tx.send_response(now, a_tx, &out);
        // A reliable provisional starts its retransmission (RFC 3262 §3), a 2xx its own.
        let _ = self.dialogs.handle_response_sent(now, &id, &out);
        if status >= 200 {
            self.settle_forks(key, &id);
        }
    }

    /// Leg A's dialog, created by the first 101–299 the SBC sends there (RFC 3261 §12.1.1).
    fn a_dialog(&mut self, key: CallKey, status: u16) -> Option<DialogId> {
        let call = self.calls.get_mut(&key)?;
        if let Some(id) = &call.dialogs[Leg::A.index()] {
            return Some(id.clone());
        }
        let dialog = Dialog::uas_from_request(
            &call.a_invite,
            &call.a_tag,
            &contact(&call.sides[Leg::A.index()]),
            self.ids.cseq(),
            call.peers[Leg::A.index()],
            status,
        )
        .ok()?;
        let id = self.dialogs.insert(dialog).ok()?;
        call.dialogs[Leg::A.index()] = Some(id.clone());
        self.by_dialog.insert(id.clone(), (key, Leg::A));
        Some(id)
    }

    /// A final non-2xx to leg A's INVITE, in its early dialog if there is one, with the
    /// whitelisted headers of `from` (RFC 3261 §8.2.6, §16.7).
    fn final_to_a(
        &mut self,
        now: Instant,
        key: CallKey,
        code: u16,
        reason: &str,
        from: Option<&Message>,
    ) {
        let Some(call) = self.calls.get(&key).filter(|c| !c.originated) else {
            // A click-to-dial call's leg A is answered already: end_call ACKs and BYEs it.
            return;
        };
        let a_id = call.dialogs[Leg::A.index()].clone();
        let mut out = match a_id.as_ref().and_then(|id| self.dialogs.get(id)) {
            Some(d) => d.response(&call.a_invite, code, reason),
            None => {
                let mut r = Message::response_to(&call.a_invite, code, reason);
                if let Some(to) = call.a_invite.header(&HeaderName::To) {
                    r.set_header(HeaderName::To, format!("{to};tag={}", call.a_tag));
                }
                r
            }
        };
        if let Some(from) = from {
            self.cfg.headers.copy(from, &mut out);
            if (300..400).contains(&code) {
                // A relayed redirect is only useful with its targets (RFC 3261 §21.3); they are
                // the next hop's to give, so they cross unchanged.
                out.remove_headers(&HeaderName::Contact);
                for h in from.headers_named(&HeaderName::Contact) {
                    out.push_header(HeaderName::Contact, h.value_bytes().clone());
                }
            }
            out.set_body(Bytes::new(), None);
        }
        let _ = self.tx.send_response(now, call.a_tx, &out);
        if let Some(id) = a_id {
            let _ = self.dialogs.handle_response_sent(now, &id, &out);
        }
    }

    /// A response to a re-INVITE the SBC relayed: the final goes back to the leg it came from,
    /// with the answer rewritten and the relay updated (RFC 3261 §14, RFC 3264 §8).
    fn on_reinvite_response(&mut self, now: Instant, key: CallKey, rsp: &Message) {
        let _ = self.dialogs.handle_response(rsp);
        let Some(status) = rsp.status().filter(|s| *s >= 200) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(re) = call.reinvite.take() else {
            return;
        };
        let Some(id) = call.dialogs[re.from.index()].clone() else {
            return;
        };
        let Some(dialog) = self.dialogs.get(&id) else {
            return;
        };
        let mut out = dialog.response(&re.request, status, rsp.reason().unwrap_or_default());
        self.cfg.headers.copy(rsp, &mut out);
        self.session_relayed_answer(now, key, re.from, &re.request, rsp, &mut out);
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let mut body = Bytes::new();
        let mut content_type = None;
        if (200..300).contains(&status) && rsp.has_sdp() {
            if let Some(m) = call.media.as_mut() {
                let from = re.from.other();
                if let Ok(b) = m.relay_sdp(
                    &mut self.media,
                    &call.sides,
                    self.cfg.latch,
                    from,
                    rsp.body(),
                ) {
                    body = b;
                    content_type = Some("application/sdp");
                }
            }
        }
        out.set_body(body, content_type);
        let _ = self.tx.send_response(now, re.server_tx, &out);
        let _ = self.dialogs.handle_response_sent(now, &id, &out);
    }

    /// Timer B/F or a transport failure on a transaction the call depends on (RFC 3261
    /// §17.1.1.2, §17.1.4): leg B moves to its next target if it has one, else leg A gets 408
    /// (487 when cancelling) and the call ends.
    fn on_tx_failure(&mut self, now: Instant, tx: TxId) {
        if self.forget_retired(tx) {
            return;
        }
        let Some(&(key, role)) = self.by_tx.get(&tx) else {
            return;
        };
        match role {
            TxRole::RelayOut => {
                self.answer_relayed(now, tx, None, (408, "Request Timeout"));
            }
            TxRole::Dial => self.on_dial_failure(key),
            TxRole::NonDialog => self.on_non_dialog_failure(now, tx),
            TxRole::Refresh(_) => {
                // RFC 4028 §10: a refresh that times out ends the session.
                self.hang_up(now, key, EndReason::SessionExpired, 408);
            }
            TxRole::BInvite => {
                self.select_branch(key, tx);
                match self.branch_failed(key, tx, None) {
                    fork::Verdict::Absorbed => {}
                    fork::Verdict::Best(best) => self.on_b_invite_final(now, key, tx, &best),
                    fork::Verdict::Timeout | fork::Verdict::Own => {
                        self.on_b_invite_timeout(now, key, tx);
                    }
                }
            }
            TxRole::ReinviteOut => {
                let Some(call) = self.calls.get_mut(&key) else {
                    return;
                };
                let Some(re) = call.reinvite.take() else {
                    return;
                };
                if let Some(id) = call.dialogs[re.from.index()].clone() {
                    let out = self
                        .dialogs
                        .get(&id)
                        .map(|d| d.response(&re.request, 408, "Request Timeout"));
                    if let Some(out) = out {
                        let _ = self.tx.send_response(now, re.server_tx, &out);
                        let _ = self.dialogs.handle_response_sent(now, &id, &out);
                    }
                }
            }
            TxRole::AInvite | TxRole::ReinviteIn | TxRole::RelayIn | TxRole::Other => {}
        }
    }

    /// Timer B or a transport failure decides leg B's INVITE `tx`: the next target if there is
    /// one, else leg A gets 408 (487 when cancelling) and the call ends (RFC 3261 §17.1.1.2).
    fn on_b_invite_timeout(&mut self, now: Instant, key: CallKey, tx: TxId) {
        if self.retry_on_timeout(now, key, tx) {
            return;
        }
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        if call.phase != Phase::Proceeding {
            return;
        }
        let (code, reason, why) = if call.cancelling {
            (487, "Request Terminated", EndReason::Cancelled)
        } else {
            (408, "Request Timeout", EndReason::Timeout)
        };
        self.final_to_a(now, key, code, reason, None);
        self.end_call(now, key, why, code, None);
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
                DialogOutput::Send { msg, dest } => self.tx.send_stateless(&msg, dest),
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
        if let Some(id) = call.b_invite.call_id() {
            self.b_call_ids.remove(id);
        }
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
        body: &Bytes,
    ) -> Result<Bytes, CallError> {
        match self
            .calls
            .get_mut(&key)
            .and_then(|c| c.media.as_mut().map(|m| (m, &c.sides)))
        {
            Some((m, sides)) => m.relay_sdp(&mut self.media, sides, self.cfg.latch, from, body),
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

    fn event(&mut self, event: CallEvent) {
        self.out.push_back(CallOutput::Event(event));
    }
}

/// Whether `msg` has a body that is not SDP, which the relay cannot anchor (RFC 3261 §21.4.13).
fn opaque_body(msg: &Message) -> bool {
    !msg.body().is_empty() && !msg.has_sdp()
}
