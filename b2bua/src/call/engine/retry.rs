//! Leg B's next attempt after a failed one: failover to the next route, call forwarding on busy
//! or no answer, and 3xx recursion through the configured routes; plus the attempts given up on
//! while still ringing, which are cancelled (RFC 3261 §8.1.3.4, §9.1, §16.6, §16.7).
//!
//! Each attempt is a new INVITE client transaction on the same leg-B Call-ID with a new branch,
//! From tag and CSeq one higher (RFC 3261 §8.1.3.4 allows a new request; the new From tag keeps
//! one attempt's early dialogs and PRACK CSeqs apart from the next one's). Leg A keeps its one
//! INVITE transaction: it hears provisionals from any attempt, each attempt's early dialogs
//! shown as forks would be (their own To tags, see `early.rs`; a failed attempt's end with it),
//! and only the final of the last attempt. Leg A's offer is anchored again for each attempt: on
//! the same relay streams when leg B stays on the same relay interface (what the last B said is
//! forgotten), else on a new relay session.

use super::Exchange;
use super::{B2bua, Phase, TxRole};
use crate::call::headers::via;
use crate::call::media::MediaState;
use crate::call::target::{redirect_uris, Failure, Retired, MAX_ATTEMPTS};
use crate::call::{CallEvent, CallKey, EndReason, Leg, MediaAnchor, Router};
use crate::stack::dialog::{ResponseOutcome, TerminateReason};
use crate::stack::transaction::TxId;
use bytes::Bytes;
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Message, Method};
use std::cmp::Reverse;
use std::time::Instant;

/// Leg B's CANCEL for `invite`: its Request-URI, top Via, From, To, Call-ID and CSeq number
/// (RFC 3261 §9.1).
pub(super) fn cancel_for(invite: &Message) -> Message {
    let mut cancel = Message::request(Method::Cancel, invite.uri().unwrap_or_default().to_owned());
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
    ] {
        if let Some(v) = invite.header(&name) {
            cancel.push_header(name, v.to_owned());
        }
    }
    // The INVITE's Max-Forwards, already within `[sip] max_forwards`.
    let max_forwards = invite.header(&HeaderName::MaxForwards).unwrap_or("70");
    cancel.insert_header(1, HeaderName::MaxForwards, max_forwards.to_owned());
    let seq = invite.cseq().map_or(1, |c| c.seq);
    cancel.push_header(HeaderName::CSeq, format!("{seq} CANCEL"));
    cancel.set_body(Bytes::new(), None);
    cancel
}

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// A final 3xx–6xx on leg B's INVITE transaction `tx`: moves the call to its next target
    /// when the target set says so and returns `true`; `false` leaves the response to the usual
    /// relay to leg A (RFC 3261 §8.1.3.4, §16.7).
    pub(super) fn retry_on_final(
        &mut self,
        now: Instant,
        key: CallKey,
        tx: TxId,
        rsp: &Message,
    ) -> bool {
        // A 422 is the session-timer negotiation's to answer, with the same target (RFC 4028
        // §7.4; see `timers.rs`), never a reason to fail over.
        let Some(status) = rsp.status().filter(|s| *s >= 300 && *s != 422) else {
            return false;
        };
        let Some(call) = self.calls.get(&key) else {
            return false;
        };
        if call.phase != Phase::Proceeding || call.cancelling {
            return false;
        }
        if call.targets.tx != Some(tx) {
            // An earlier attempt's transaction: its outcome no longer matters.
            return true;
        }
        if status == 503 {
            if let Some(hop) = call.targets.current().map(|t| t.route.next_hop) {
                self.router.failed(now, hop);
            }
        }
        let Some(call) = self.calls.get(&key) else {
            return false;
        };
        let moved = if (300..400).contains(&status) {
            call.targets.may_follow() && self.follow_redirect(key, rsp)
        } else {
            self.calls
                .get_mut(&key)
                .is_some_and(|c| c.targets.after(Failure::Status(status)))
        };
        if moved {
            self.end_attempt(key);
            self.start_attempt(now, key, status);
        }
        moved
    }

    /// Timer B or a transport failure on leg B's INVITE transaction `tx`: moves the call to its
    /// next target and returns `true`, or `false` to let leg A have its 408 (RFC 3261
    /// §17.1.1.2, §16.7).
    pub(super) fn retry_on_timeout(&mut self, now: Instant, key: CallKey, tx: TxId) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        if call.phase != Phase::Proceeding || call.cancelling {
            return false;
        }
        if call.targets.tx != Some(tx) {
            return true;
        }
        if let Some(hop) = call.targets.current().map(|t| t.route.next_hop) {
            self.router.failed(now, hop);
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        if !call.targets.after(Failure::Timeout) {
            return false;
        }
        self.end_attempt(key);
        self.start_attempt(now, key, 408);
        true
    }

    /// Routes a 3xx's Contacts, in `q` order, through the router as requests from leg A's side
    /// would be; a Contact no route matches is skipped. `true` when the call moved to the first
    /// of them (RFC 3261 §8.1.3.4).
    fn follow_redirect(&mut self, key: CallKey, rsp: &Message) -> bool {
        let Some(call) = self.calls.get(&key) else {
            return false;
        };
        let (a_side, source) = (
            call.sides[Leg::A.index()].clone(),
            call.peers[Leg::A.index()],
        );
        let mut targets = Vec::new();
        for uri in redirect_uris(rsp) {
            let user = Uri::parse(&uri)
                .ok()
                .and_then(|u| u.user().map(str::to_owned));
            for mut t in self.router.reroute(&a_side, source, &uri) {
                if t.route.request_uri.is_none() {
                    // The redirect target's user, on the routed next hop: the Contact's host
                    // only chose the route.
                    let hop = t.route.next_hop.addr;
                    t.route.request_uri = Some(match &user {
                        Some(u) => format!("sip:{u}@{hop}"),
                        None => format!("sip:{hop}"),
                    });
                }
                targets.push(t);
            }
            if targets.len() >= MAX_ATTEMPTS {
                break;
            }
        }
        self.calls
            .get_mut(&key)
            .is_some_and(|c| c.targets.redirect(targets))
    }

    /// Ends the current attempt's early dialogs on leg B, and the early dialogs shown for them
    /// on leg A, so a reliable 18x A never PRACKed stops being retransmitted and cannot end the
    /// call (RFC 3261 §12.3, RFC 3262 §3). The forks stay listed, so the next attempt's first
    /// one gets a new A dialog (a new To tag) and a fresh RSeq space.
    fn end_attempt(&mut self, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let early = std::mem::take(&mut call.early);
        self.drop_forks(&early);
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        call.early = early;
        call.dialogs[Leg::B.index()] = None;
        call.pending_ack[Leg::B.index()] = None;
        let Some(b_invite) = call.b_invite.as_deref() else {
            return;
        };
        let call_id = b_invite.call_id().unwrap_or_default().to_owned();
        let tag = b_invite
            .from()
            .and_then(|f| f.tag())
            .unwrap_or_default()
            .to_owned();
        self.dialogs
            .terminate_early(&call_id, &tag, TerminateReason::Rejected);
    }

    /// Sends leg B's INVITE to the call's current target: leg A's offer anchored again for the
    /// new B side, a fresh transaction on leg B's Call-ID; `after` is what ended the last
    /// attempt, for [`CallEvent::Rerouted`] (RFC 3261 §8.1.3.4, RFC 3264 §5).
    fn start_attempt(&mut self, now: Instant, key: CallKey, after: u16) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        // Only a call not answered yet has another attempt, and it still has A's INVITE.
        let Some(a_invite) = call.a_invite.as_deref().cloned() else {
            return;
        };
        let Some((route, name)) = call
            .targets
            .current()
            .map(|t| (t.route.clone(), t.name.clone()))
        else {
            return;
        };
        let b = Leg::B.index();
        let same_side = call.sides[b].media_interface == route.b_side.media_interface
            && call.sides[b].media_advertised == route.b_side.media_advertised;
        call.sides[b] = route.b_side.clone();
        let mut media_ok = true;
        if same_side {
            // Same relay interface: the streams stay, B's ports too; only what the last B
            // endpoint said is forgotten.
            if let Some(m) = call.media.as_mut() {
                media_ok = m.reset_leg(&mut self.media, Leg::B, self.cfg.latch).is_ok();
            }
        } else {
            // Another relay interface: new streams. Leg A's ports change with them.
            if let Some(old) = call.media.take() {
                let _ = self.media.delete_session(old.session);
            }
            call.media = Some(MediaState::new(self.media.create_session()));
        }
        let body = if !media_ok {
            None
        } else if a_invite.has_sdp() {
            call.media.as_mut().and_then(|m| {
                m.relay_sdp(
                    &mut self.media,
                    &call.sides,
                    self.cfg.latch,
                    Leg::A,
                    Exchange::Offer,
                    a_invite.body(),
                )
                .ok()
            })
        } else {
            Some(Bytes::new())
        };
        let call_id = call.call_id(Leg::B).to_owned();
        let seq = call.b_cseq().unwrap_or(1).saturating_add(1);
        let Some(body) = body else {
            self.final_to_a(now, key, 500, "Media Relay Failure", None);
            return self.end_call(now, key, EndReason::Media, 500, None);
        };
        let max_forwards = a_invite.max_forwards().unwrap_or(70).saturating_sub(1);
        let mut invite = self.build_b_invite(&a_invite, &route, max_forwards, body);
        invite.set_header(HeaderName::CallId, call_id);
        invite.set_header(HeaderName::CSeq, format!("{seq} INVITE"));
        let Ok(b_tx) = self.tx.send_request(now, invite.clone(), route.next_hop) else {
            self.final_to_a(now, key, 500, "Server Internal Error", None);
            return self.end_call(now, key, EndReason::Timeout, 500, None);
        };
        self.by_tx.insert(b_tx, (key, TxRole::BInvite));
        // A new next hop is a new session-timer negotiation, from the offer just sent.
        self.track_session_timer(key, &a_invite);
        if let Some(call) = self.calls.get_mut(&key) {
            call.b_invite = Some(Box::new(invite));
            call.peers[b] = route.next_hop;
            call.b_provisional = false;
            call.cancel_sent = false;
            call.targets.tx = Some(b_tx);
        }
        self.start_siblings(now, key);
        self.arm_no_answer(now, key);
        self.event(CallEvent::Rerouted {
            call: key,
            route: name,
            after,
        });
    }

    /// Arms the no-answer timer of call `key`'s current attempt when its target has one.
    pub(super) fn arm_no_answer(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let Some(at) = call
            .targets
            .current()
            .and_then(|t| t.no_answer)
            .and_then(|d| now.checked_add(d))
        else {
            return;
        };
        self.no_answer
            .push(Reverse((at, key, call.targets.attempt())));
    }

    /// When the next no-answer timer is due.
    pub(super) fn next_no_answer(&self) -> Option<Instant> {
        self.no_answer.peek().map(|r| r.0 .0)
    }

    /// Fires the no-answer timers due at `now` whose attempt is still the call's current one
    /// and unanswered: the attempt is cancelled and the call forwarded, or ended with 480.
    pub(super) fn fire_no_answer(&mut self, now: Instant) {
        while let Some(&Reverse((at, key, attempt))) = self.no_answer.peek() {
            if at > now {
                break;
            }
            self.no_answer.pop();
            let ringing = self.calls.get(&key).is_some_and(|c| {
                c.phase == Phase::Proceeding && !c.cancelling && c.targets.attempt() == attempt
            });
            if ringing {
                self.on_no_answer(now, key);
                self.pump(now);
            }
        }
    }

    /// Nobody answered the current attempt in time: it is cancelled, and the call goes to the
    /// target's forward route or ends with 480 (RFC 3261 §9.1, §21.4.18).
    fn on_no_answer(&mut self, now: Instant, key: CallKey) {
        self.retire_attempt(now, key);
        self.end_attempt(key);
        let moved = self
            .calls
            .get_mut(&key)
            .is_some_and(|c| c.targets.after(Failure::NoAnswer));
        if moved {
            self.start_attempt(now, key, 480);
        } else {
            self.final_to_a(now, key, 480, "No Answer", None);
            self.end_call(now, key, EndReason::Timeout, 480, None);
        }
    }

    /// Moves the current attempt's INVITE to the retired ones and cancels it: now if it had a
    /// provisional, else on its first one (RFC 3261 §9.1).
    fn retire_attempt(&mut self, now: Instant, key: CallKey) {
        self.cancel_siblings(now, key);
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(invite) = call.b_invite.as_deref().cloned() else {
            return;
        };
        let Some(tx) = call.targets.tx.take() else {
            return;
        };
        let provisional = call.b_provisional;
        self.retired.insert(
            tx,
            Retired {
                key,
                invite,
                side: call.sides[Leg::B.index()].clone(),
                peer: call.peers[Leg::B.index()],
                cancel_sent: false,
            },
        );
        if provisional {
            self.cancel_retired(now, tx);
        }
    }

    /// Sends the CANCEL of retired INVITE `tx` (RFC 3261 §9.1).
    pub(super) fn cancel_retired(&mut self, now: Instant, tx: TxId) {
        let Some(r) = self.retired.get_mut(&tx) else {
            return;
        };
        if r.cancel_sent {
            return;
        }
        r.cancel_sent = true;
        let (cancel, peer, key) = (cancel_for(&r.invite), r.peer, r.key);
        if let Ok(t) = self.tx.send_request(now, cancel, peer) {
            self.by_tx.insert(t, (key, TxRole::Other));
        }
    }

    /// Whether `tx` is a retired INVITE.
    pub(super) fn is_retired(&self, tx: TxId) -> bool {
        self.retired.contains_key(&tx)
    }

    /// Forgets retired INVITE `tx` once its transaction is over.
    pub(super) fn forget_retired(&mut self, tx: TxId) -> bool {
        self.retired.remove(&tx).is_some()
    }

    /// A response to a retired INVITE: its first provisional lets the CANCEL go, a 2xx that
    /// won the race with it is ACKed and hung up, a final non-2xx ends its early dialogs
    /// (RFC 3261 §9.1, §13.2.2.4, §15).
    pub(super) fn on_retired_response(&mut self, now: Instant, tx: TxId, rsp: &Message) {
        let Some(status) = rsp.status() else { return };
        let Some(r) = self.retired.get(&tx) else {
            return;
        };
        match status {
            100..=199 => self.cancel_retired(now, tx),
            200..=299 => {
                let (invite, side, peer, key) = (r.invite.clone(), r.side.clone(), r.peer, r.key);
                let outcome = self.dialogs.handle_creating_response(&invite, rsp, peer);
                let Ok(ResponseOutcome::Created(id)) = outcome else {
                    return;
                };
                let cseq = invite.cseq().map_or(1, |c| c.seq);
                let ack_via = via(&side, &self.ids.branch());
                let _ = self.dialogs.send_ack(&id, cseq, &ack_via, None);
                self.flush_dialog_sends();
                let bye_via = via(&side, &self.ids.branch());
                if let Ok(mut bye) = self.dialogs.new_request(&id, Method::Bye, Some(&bye_via)) {
                    bye.push_header(
                        HeaderName::Reason,
                        "SIP;cause=480;text=\"no answer in time\"",
                    );
                    if let Ok(t) = self.tx.send_request(now, bye, peer) {
                        self.by_tx.insert(t, (key, TxRole::Other));
                    }
                }
            }
            _ => {
                self.dialogs
                    .terminate_early_of(&r.invite, TerminateReason::Rejected);
            }
        }
    }
}
