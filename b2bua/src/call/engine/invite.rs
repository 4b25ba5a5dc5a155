//! A new call: leg A's INVITE checked, routed and re-originated as leg B's, and CANCEL (RFC 3261
//! §8.2, §9, §16.6, RFC 5853 §3.1).

use super::Exchange;
use super::{early, opaque_body, record, retry, srtp_warning, B2bua, Call, Phase, TxRole};
use crate::call::headers::{contact, host, party_at, rehost_party, via};
use crate::call::media::MediaState;
use crate::call::target::TargetSet;
use crate::call::{CallEvent, CallKey, Leg, MediaAnchor, Route, Router, Target};
use crate::stack::ids::CallId;
use crate::stack::stateless;
use crate::stack::transaction::{Dest, TxId};
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use std::time::Instant;

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// A new INVITE on leg A: checks, routing, relay session, leg B's INVITE (RFC 3261 §8.2,
    /// §16.6 step 3, RFC 5853 §3.1).
    pub(super) fn on_invite(
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
        let Some(route) = targets.current().map(|t| t.route.clone()) else {
            return self.reply(now, tx, &invite, 500, "Server Internal Error");
        };
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
                Exchange::Offer,
                invite.body(),
            )
        } else {
            Ok(Bytes::new())
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                let _ = self.media.delete_session(media.session);
                let mut rsp = self.tagged_response(&invite, 488, "Not Acceptable Here");
                if let Some(w) = srtp_warning(&e, &sides[0]) {
                    rsp.push_header(HeaderName::Warning, w);
                }
                let _ = self.tx.send_response(now, tx, &rsp);
                return;
            }
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
        let a_id = CallId::from(a_call_id.as_str());
        self.index_a_call_id(&a_id);
        targets.tx = Some(b_tx);
        self.track_session_timer(key, &invite);
        let detail = record::detail(&invite, &b_invite, media.session, self.cfg.records);
        self.calls.insert(
            key,
            Box::new(Call {
                phase: Phase::Proceeding,
                cancelling: false,
                cancel_sent: false,
                b_provisional: false,
                sides,
                peers: [source, route.next_hop],
                a_invite: Some(Box::new(invite)),
                a_tx: tx,
                a_tag: self.ids.tag(),
                a_call_id: a_id,
                b_invite: Some(Box::new(b_invite)),
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
    pub(super) fn b_request_head(
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
            if let Some(user) = req.request_uri().and_then(|u| u.user()) {
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
    pub(super) fn build_b_invite(
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
        // Kept by the call for its whole life.
        msg.shrink_to_fit();
        msg
    }

    /// CANCEL: 200 to it, then CANCEL on leg B once B has sent a provisional; A gets 487 when B
    /// answers the INVITE (RFC 3261 §9.1, §9.2).
    pub(super) fn on_cancel(&mut self, now: Instant, tx: TxId, cancel: &Message) {
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
    pub(super) fn cancel_b(&mut self, now: Instant, key: CallKey) {
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
    pub(super) fn send_cancel(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(b_invite) = call.b_invite.as_deref().filter(|_| !call.cancel_sent) else {
            return;
        };
        let cancel = retry::cancel_for(b_invite);
        call.cancel_sent = true;
        let dest = call.peers[Leg::B.index()];
        if let Ok(t) = self.tx.send_request(now, cancel, dest) {
            self.by_tx.insert(t, (key, TxRole::Other));
        }
    }
}
