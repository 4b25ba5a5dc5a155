//! Requests inside a call's dialogs: BYE, re-INVITE, in-dialog INFO/MESSAGE/UPDATE relayed to the
//! other leg and their answers relayed back (RFC 3261 §12.2, §14, §15, RFC 6086, RFC 3311).

use super::Exchange;
use super::{B2bua, Phase, Reinvite, Relayed, TxRole};
use crate::call::headers::via;
use crate::call::{CallError, CallKey, EndReason, Leg, MediaAnchor, Router};
use crate::stack::dialog::DialogId;
use crate::stack::transaction::{Dest, TxId};
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use std::time::Instant;

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// A request with a To tag: the dialog's verdict first, then BYE, re-INVITE, or 501
    /// (RFC 3261 §12.2.2).
    pub(super) fn on_in_dialog(
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
    pub(super) fn on_bye(&mut self, now: Instant, tx: TxId, bye: &Message, key: CallKey, leg: Leg) {
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
    pub(super) fn relay_in_dialog(
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
            match self.relay_call_sdp(key, leg, Exchange::Offer, req.body()) {
                Ok(body) => out.set_body(body, Some("application/sdp")),
                Err(e) => {
                    let side = self.calls.get(&key).map(|c| c.sides[leg.index()].clone());
                    return match side {
                        Some(side) => self.refuse_offer_in_dialog(now, tx, &req, id, &e, &side),
                        None => self.reply_in_dialog(now, tx, &req, id, 488, "Not Acceptable Here"),
                    };
                }
            }
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
    pub(super) fn track_relayed(
        &mut self,
        server: TxId,
        client: TxId,
        req: Message,
        key: CallKey,
        from: Leg,
    ) {
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
    pub(super) fn answer_relayed(
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
                if let Ok(body) = self.relay_call_sdp(key, from.other(), Exchange::Answer, r.body())
                {
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
    pub(super) fn on_reinvite(
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
                    Exchange::Offer,
                    req.body(),
                ),
                None => Err(CallError::Sdp(sbc_common::sdp::SdpError::MissingOrigin)),
            };
            match body {
                Ok(body) => Some(body),
                Err(e) => {
                    let side = call.sides[leg.index()].clone();
                    return self.refuse_offer_in_dialog(now, tx, &req, id, &e, &side);
                }
            }
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
            call.reinvite = Some(Box::new(Reinvite {
                from: leg,
                server_tx: tx,
                request: req,
            }));
        }
    }

    /// A response to a re-INVITE the SBC relayed: the final goes back to the leg it came from,
    /// with the answer rewritten and the relay updated (RFC 3261 §14, RFC 3264 §8).
    pub(super) fn on_reinvite_response(&mut self, now: Instant, key: CallKey, rsp: &Message) {
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
                    // A re-INVITE without SDP gets the offer in the 2xx (RFC 3261 §14.1).
                    if re.request.has_sdp() {
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
        }
        out.set_body(body, content_type);
        let _ = self.tx.send_response(now, re.server_tx, &out);
        let _ = self.dialogs.handle_response_sent(now, &id, &out);
    }
}
