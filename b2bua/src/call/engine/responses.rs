//! Responses on either leg: leg B's provisionals and finals relayed to leg A (forks, reliable
//! provisionals, the answer), re-INVITE answers, and transaction failures (RFC 3261 §13.2.2,
//! §16.7, §17.1).

use super::Exchange;
use super::{fork, opaque_body, B2bua, Phase, TxRole};
use crate::call::headers::contact_answering;
use crate::call::{CallEvent, CallKey, EndReason, Leg, MediaAnchor, Router};
use crate::stack::dialog::{Dialog, DialogId, ResponseOutcome, TerminateReason};
use crate::stack::transaction::TxId;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message};
use std::time::Instant;

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// A response on one of the core's client transactions, handled by what the transaction
    /// was for: leg B's INVITE, a relayed request, a re-INVITE, a CANCEL or BYE (RFC 3261 §17.1).
    pub(super) fn on_response(&mut self, now: Instant, tx: TxId, rsp: &Message) {
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
    pub(super) fn on_b_invite_final(
        &mut self,
        now: Instant,
        key: CallKey,
        tx: TxId,
        rsp: &Message,
    ) {
        if !self.retry_on_final(now, key, tx, rsp) {
            self.on_b_invite_response(now, key, rsp);
        }
    }

    /// A response to leg B's INVITE: provisionals and 2xx relayed with the answer rewritten,
    /// failures relayed with their code, 487 after CANCEL (RFC 3261 §9.1, §13.2.2, §16.7).
    pub(super) fn on_b_invite_response(&mut self, now: Instant, key: CallKey, rsp: &Message) {
        let Some(status) = rsp.status() else { return };
        if status == 422 && self.retry_after_422(now, key, rsp) {
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let peer = call.peers[Leg::B.index()];
        let outcome = match (&call.b_invite, &call.dialogs[Leg::B.index()]) {
            (Some(invite), _) => self.dialogs.handle_creating_response(invite, rsp, peer),
            (None, Some(b)) => self.dialogs.handle_sibling_response(b, rsp, peer),
            (None, None) => return,
        };
        let fork = match outcome {
            Ok(ResponseOutcome::Created(id) | ResponseOutcome::Matched(id)) => Some(id),
            _ => None,
        };
        if let Some(id) = fork.filter(|_| status < 300) {
            if call.phase == Phase::Answered && call.dialogs[Leg::B.index()].as_ref() != Some(&id) {
                // Another fork after the first 2xx won (RFC 3261 §13.2.2.4).
                return self.on_late_fork(now, key, &id, rsp);
            }
            self.by_dialog.insert(id.clone(), (key, Leg::B));
            call.dialogs[Leg::B.index()] = Some(id.clone());
            if call.phase == Phase::Proceeding && !call.cancelling && !call.originated {
                self.map_fork(key, &id, status);
            }
        }
        let fresh_answer = (200..300).contains(&status)
            && self
                .calls
                .get(&key)
                .is_some_and(|c| c.phase != Phase::Answered && !c.cancelling);
        let refused = fresh_answer && self.answer_refused(key, rsp);
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
            200..=299 if refused => {
                // B answered without the SRTP key its side requires (RFC 4568 §7.1.2): ACK and
                // BYE leg B, 488 to A; no media ever flows unprotected.
                call.phase = Phase::Answered;
                let cseq = call.b_cseq().unwrap_or(1);
                call.pending_ack[Leg::B.index()] = Some(cseq);
                let except = (!call.originated).then_some(Leg::A);
                self.final_to_a(now, key, 488, "Not Acceptable Here", None);
                self.end_call(now, key, EndReason::Media, 488, except);
            }
            200..=299 if call.cancelling => {
                // CANCEL lost the race (RFC 3261 §9.1): ACK and BYE leg B, 487 to A.
                call.phase = Phase::Answered;
                let cseq = call.b_cseq().unwrap_or(1);
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
                // Answered: leg B's INVITE is let go (a late fork's 2xx takes our side from
                // B's dialog); a click-to-dial call reads it until A's ACK.
                if let Some(call) = self.calls.get_mut(&key).filter(|c| !c.originated) {
                    call.b_invite = None;
                }
            }
            _ => {
                if let Some(invite) = call.b_invite.as_deref() {
                    self.dialogs
                        .terminate_early_of(invite, TerminateReason::Rejected);
                }
                let (code, reason, why) = if call.cancelling {
                    (487, "Request Terminated", EndReason::Cancelled)
                } else {
                    (
                        status,
                        rsp.reason().unwrap_or_default(),
                        EndReason::Rejected,
                    )
                };
                let (a_code, a_reason) = crate::call::codes::for_leg_a(code, reason);
                let a_reason = a_reason.to_owned();
                self.final_to_a(now, key, a_code, &a_reason, Some(rsp));
                self.end_call(now, key, why, code, None);
            }
        }
    }

    /// Whether B's 2xx carries an answer the SDES negotiation refuses (leg B requires SRTP and
    /// the answer has no key for it); an answer that is accepted is anchored here, and found
    /// again unchanged when the response is relayed.
    fn answer_refused(&mut self, key: CallKey, rsp: &Message) -> bool {
        let answers = self
            .calls
            .get(&key)
            .is_some_and(|c| c.a_invite.as_ref().is_some_and(|i| i.has_sdp()) && !c.originated);
        answers
            && rsp.has_sdp()
            && matches!(
                self.relay_call_sdp(key, Leg::B, Exchange::Answer, rsp.body()),
                Err(crate::call::CallError::Srtp(_))
            )
    }

    /// Relays a 101–299 from leg B to leg A in A's dialog, created on the first one, with any
    /// SDP rewritten; a 2xx starts A's 2xx retransmission (RFC 3261 §12.1.1, §13.3.1.4).
    pub(super) fn relay_to_a(&mut self, now: Instant, key: CallKey, rsp: &Message) {
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
        let (Some(dialog), Some(a_invite)) = (self.dialogs.get(&id), call.a_invite.as_deref())
        else {
            return;
        };
        let mut out = dialog.response(a_invite, status, rsp.reason().unwrap_or_default());
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
                    // Without SDP in A's INVITE, B's answer carries the offer (RFC 3264 §4).
                    if call.a_invite.as_ref().is_some_and(|i| i.has_sdp()) {
                        Exchange::Answer
                    } else {
                        Exchange::Offer
                    },
                    rsp.body(),
                ) {
                    body = b;
                    content_type = Some("application/sdp");
                }
            }
        } else if call.a_invite.as_deref().is_some_and(opaque_body) && opaque_body(rsp) {
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
            // Leg A has its 2xx: the INVITE answered nothing more (its retransmissions stop at
            // the server transaction, the 2xx's own at A's dialog), so an answered call keeps
            // only its Call-ID.
            if let Some(call) = self.calls.get_mut(&key) {
                call.a_invite = None;
            }
        }
    }

    /// Leg A's dialog, created by the first 101–299 the SBC sends there (RFC 3261 §12.1.1).
    pub(super) fn a_dialog(&mut self, key: CallKey, status: u16) -> Option<DialogId> {
        let call = self.calls.get_mut(&key)?;
        if let Some(id) = &call.dialogs[Leg::A.index()] {
            return Some(id.clone());
        }
        let invite = call.a_invite.as_deref()?;
        let dialog = Dialog::uas_from_request(
            invite,
            &call.a_tag,
            &contact_answering(&call.sides[Leg::A.index()], invite),
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
    pub(super) fn final_to_a(
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
        let Some(a_invite) = call.a_invite.as_deref() else {
            // Leg A has its 2xx: its INVITE has no final response left to take.
            return;
        };
        let a_id = call.dialogs[Leg::A.index()].clone();
        let mut out = match a_id.as_ref().and_then(|id| self.dialogs.get(id)) {
            Some(d) => d.response(a_invite, code, reason),
            None => {
                let mut r = Message::response_to(a_invite, code, reason);
                if let Some(to) = a_invite.header(&HeaderName::To) {
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
                    out.push_header(HeaderName::Contact, h.value_bytes());
                }
            }
            out.set_body(Bytes::new(), None);
        }
        let _ = self.tx.send_response(now, call.a_tx, &out);
        if let Some(id) = a_id {
            let _ = self.dialogs.handle_response_sent(now, &id, &out);
        }
    }

    /// Timer B/F or a transport failure on a transaction the call depends on (RFC 3261
    /// §17.1.1.2, §17.1.4): leg B moves to its next target if it has one, else leg A gets 408
    /// (487 when cancelling) and the call ends.
    pub(super) fn on_tx_failure(&mut self, now: Instant, tx: TxId) {
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
    pub(super) fn on_b_invite_timeout(&mut self, now: Instant, key: CallKey, tx: TxId) {
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
}
