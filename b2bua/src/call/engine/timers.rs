//! The engine's side of session timers (RFC 4028): the 422 gate, leg B's offer and 422 retry,
//! arming both legs on answer, the SBC's own refreshes and their answers, peers' refreshes
//! answered locally when they change nothing, and expiry.
//!
//! Choice: a peer's refresh that changes nothing — an UPDATE without SDP, or a re-INVITE whose
//! SDP is byte-identical to the last one received from that peer — is answered by the SBC
//! itself (the SDP it last sent on that leg, same version, RFC 3264 §8) and never reaches the
//! other leg, whose timer is its own business. A refresh that changes the session is relayed
//! like any re-INVITE/UPDATE, with each leg's Session-Expires written on its side.
//! Not done: the SDP answer in the 2xx to the SBC's own refresh re-INVITE is not checked
//! against the session (a peer that changes its media in it is not followed).

use super::{B2bua, Phase, TxRole};
use crate::call::headers::via;
use crate::call::session_timer::{
    self, LegTimer, PeerTimer, RefreshSide, MAX_422_RETRIES, MAX_MIN_SE,
};
use crate::call::{CallKey, EndReason, Leg, MediaAnchor, Router};
use crate::stack::dialog::{DialogId, TerminateReason};
use crate::stack::transaction::TxId;
use bytes::Bytes;
use sbc_common::sdp::Sdp;
use sbc_common::sip::{HeaderName, Message, Method};
use std::time::{Duration, Instant};

/// How long the SBC waits before trying a refresh again after one failed without ending the
/// session (491, 5xx) or collided with a re-INVITE in progress (RFC 3261 §14.1).
const REFRESH_RETRY: Duration = Duration::from_secs(4);

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// Answers a request whose Session-Expires or Min-SE cannot be read with 400, and one
    /// asking for an interval below the SBC's Min-SE with 422 and Min-SE (RFC 4028 §6); returns
    /// whether it answered. `id` is the request's dialog, `None` for a new INVITE.
    pub(super) fn refuse_session_interval(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Message,
        id: Option<&DialogId>,
    ) -> bool {
        let cfg = self.cfg.session_timer;
        if !cfg.enabled() {
            return false;
        }
        let (code, reason, min_se) = match PeerTimer::read(req) {
            Err(e) => (400, e.to_string(), None),
            Ok(p) => match p.too_small(cfg.min_se()) {
                Some(min) => (422, "Session Interval Too Small".to_owned(), Some(min)),
                None => return false,
            },
        };
        let mut rsp = match id {
            Some(_) => Message::response_to(req, code, &reason),
            None => self.tagged_response(req, code, &reason),
        };
        if let Some(min) = min_se {
            rsp.insert_header(
                rsp.headers().len().saturating_sub(1),
                HeaderName::MinSe,
                min.to_string(),
            );
        }
        let _ = self.tx.send_response(now, tx, &rsp);
        if let Some(id) = id {
            let _ = self.dialogs.handle_response_sent(now, id, &rsp);
        }
        true
    }

    /// Puts the SBC's Session-Expires, Min-SE and Supported: timer on leg B's INVITE
    /// (RFC 4028 §7.1).
    pub(super) fn offer_session_timer(&self, invite: &mut Message) {
        let cfg = self.cfg.session_timer;
        if cfg.enabled() {
            session_timer::offer(invite, cfg.expires_s.max(cfg.min_se()), cfg.min_se());
        } else {
            session_timer::withdraw_support(invite);
        }
    }

    /// Starts tracking a new call's session timers: what A asked for, what B was offered.
    pub(super) fn track_session_timer(&mut self, key: CallKey, a_invite: &Message) {
        let cfg = self.cfg.session_timer;
        if cfg.enabled() {
            let asked = PeerTimer::read(a_invite).unwrap_or_default();
            let offer = (cfg.expires_s.max(cfg.min_se()), cfg.min_se());
            self.session.start(key, asked, offer);
        }
    }

    /// Leg B answered 422 (RFC 4028 §7.4): the INVITE goes again with Session-Expires and
    /// Min-SE raised to B's Min-SE, at most [`MAX_422_RETRIES`] times; after that, or when B's
    /// demand is absurd, A gets 500 and the call ends. Returns whether the 422 was dealt with.
    pub(super) fn retry_after_422(&mut self, now: Instant, key: CallKey, rsp: &Message) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let Some(timers) = self.session.get_mut(key) else {
            return false;
        };
        if call.cancelling || call.phase != Phase::Proceeding {
            return false;
        }
        let (offered, our_min) = timers.b_offer;
        let theirs = rsp.min_se().unwrap_or(0);
        let Some(b_invite) = call.b_invite.as_deref() else {
            return false;
        };
        self.dialogs
            .terminate_early_of(b_invite, TerminateReason::Rejected);
        let retry =
            timers.retries_422 < MAX_422_RETRIES && theirs > offered && theirs <= MAX_MIN_SE;
        let seq = b_invite.cseq().map_or(1, |c| c.seq).checked_add(1);
        let (true, Some(seq)) = (retry, seq) else {
            self.final_to_a(now, key, 500, "Session Timer Negotiation Failed", None);
            self.end_call(now, key, EndReason::Rejected, 422, None);
            return true;
        };
        timers.retries_422 += 1;
        timers.b_offer = (theirs, theirs.max(our_min));
        let mut invite = b_invite.clone();
        invite.set_header(
            HeaderName::Via,
            via(&call.sides[Leg::B.index()], &self.ids.branch()),
        );
        invite.set_header(HeaderName::CSeq, format!("{seq} INVITE"));
        session_timer::offer(&mut invite, theirs, theirs.max(our_min));
        let peer = call.peers[Leg::B.index()];
        let Ok(b_tx) = self.tx.send_request(now, invite.clone(), peer) else {
            return false;
        };
        call.b_invite = Some(Box::new(invite));
        call.b_provisional = false;
        // Still the same target: its attempt goes on in this transaction.
        call.targets.tx = Some(b_tx);
        self.by_tx.insert(b_tx, (key, TxRole::BInvite));
        true
    }

    /// Leg B's 2xx is going to A as `a_2xx`: arms both legs' timers, B's from its answer, A's
    /// from A's INVITE, and writes A's Session-Expires into `a_2xx` (RFC 4028 §7.2, §9).
    pub(super) fn session_answered(
        &mut self,
        now: Instant,
        key: CallKey,
        b_2xx: &Message,
        a_2xx: &mut Message,
    ) {
        let cfg = self.cfg.session_timer;
        let Some(timers) = self.session.get_mut(key) else {
            return;
        };
        let a = LegTimer::as_uas(&timers.a_request, &cfg, now, None);
        let answer = PeerTimer::read(b_2xx).unwrap_or_default();
        let b = LegTimer::as_uac(&answer, timers.b_offer.0, now, None);
        a.decorate_answer(a_2xx);
        self.session.set_leg(key, Leg::A, a);
        self.session.set_leg(key, Leg::B, b);
    }

    /// Runs the session timers due at `now`: an expired leg ends the call with BYE and a
    /// Reason on both legs, a leg the SBC refreshes gets its refresh (RFC 4028 §10).
    pub(super) fn fire_session_timers(&mut self, now: Instant) {
        while let Some((key, leg)) = self.session.pop_due(now) {
            let Some(timer) = self.session.leg(key, leg).cloned() else {
                continue;
            };
            if !self.calls.contains_key(&key) {
                self.session.forget(key);
                continue;
            }
            if timer.expired(now) {
                self.hang_up(now, key, EndReason::SessionExpired, 408);
            } else if timer.refresher == RefreshSide::Sbc && timer.pending.is_none() {
                self.send_refresh(now, key, leg);
            }
            self.pump(now);
        }
    }

    /// Sends the SBC's own refresh on `leg`: UPDATE without SDP when the peer allows UPDATE
    /// (or no SDP was ever sent there), else a re-INVITE with the last SDP sent on the leg,
    /// both with Session-Expires;refresher=uac (RFC 4028 §7.4, §10).
    fn send_refresh(&mut self, now: Instant, key: CallKey, leg: Leg) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let Some(timer) = self.session.leg(key, leg).cloned() else {
            return;
        };
        let Some(id) = call.dialogs[leg.index()].clone() else {
            return;
        };
        let sdp = call
            .media
            .as_ref()
            .and_then(|m| m.last_sent_on(leg))
            .cloned();
        let update = timer.peer_allows_update || sdp.is_none();
        if !update && (call.reinvite.is_some() || call.phase != Phase::Answered) {
            // An INVITE is crossing this dialog already (RFC 3261 §14.1): try again shortly.
            self.session
                .update_leg(key, leg, |t| t.retry_at = Some(now + REFRESH_RETRY));
            return;
        }
        let method = if update {
            Method::Update
        } else {
            Method::Invite
        };
        let via = via(&call.sides[leg.index()], &self.ids.branch());
        let dest = call.peers[leg.index()];
        let Ok(mut req) = self.dialogs.new_request(&id, method.clone(), Some(&via)) else {
            return;
        };
        timer.decorate_request(&mut req, self.cfg.session_timer.min_se());
        if let (false, Some(body)) = (update, sdp) {
            req.set_body(body, Some("application/sdp"));
        }
        let seq = req.cseq().map_or(0, |c| c.seq);
        match self.tx.send_request(now, req, dest) {
            Ok(tx) => {
                self.by_tx.insert(tx, (key, TxRole::Refresh(leg)));
                if method == Method::Invite {
                    if let Some(t) = self.session.get_mut(key) {
                        t.own_invite[leg.index()] = Some(seq);
                    }
                }
                self.session.update_leg(key, leg, |t| {
                    t.pending = Some((seq, method));
                    t.retry_at = None;
                });
            }
            Err(_) => self
                .session
                .update_leg(key, leg, |t| t.retry_at = Some(now + REFRESH_RETRY)),
        }
    }

    /// The answer to the SBC's own refresh on `leg` (RFC 4028 §10): a 2xx restarts the leg's
    /// timer with the interval and refresher it names; 408 or 481 end the call; 405/501 to an
    /// UPDATE switch to re-INVITE; 422 retries with the larger Min-SE; anything else is retried
    /// shortly until the session runs out.
    pub(super) fn on_refresh_response(
        &mut self,
        now: Instant,
        key: CallKey,
        leg: Leg,
        rsp: &Message,
    ) {
        let _ = self.dialogs.handle_response(rsp);
        let Some(status) = rsp.status().filter(|s| *s >= 200) else {
            return;
        };
        let Some(timer) = self.session.leg(key, leg).cloned() else {
            return;
        };
        let method = timer.pending.as_ref().map(|p| p.1.clone());
        self.session.update_leg(key, leg, |t| t.pending = None);
        match status {
            200..=299 => {
                if method == Some(Method::Invite) && rsp.has_sdp() {
                    if let Some(m) = self.calls.get_mut(&key).and_then(|c| c.media.as_mut()) {
                        let _ = m.refresh_answer(&mut self.media, leg, rsp.body());
                    }
                }
                let answer = PeerTimer::read(rsp).unwrap_or_default();
                let next = LegTimer::as_uac(&answer, timer.interval, now, Some(&timer));
                self.session.set_leg(key, leg, next);
            }
            408 | 481 => self.hang_up(now, key, EndReason::SessionExpired, 408),
            405 | 501 if method == Some(Method::Update) => {
                self.session
                    .update_leg(key, leg, |t| t.peer_allows_update = false);
                self.send_refresh(now, key, leg);
            }
            422 if rsp
                .min_se()
                .is_some_and(|m| m > timer.interval && m <= MAX_MIN_SE) =>
            {
                let min = rsp.min_se().unwrap_or(timer.interval);
                self.session.update_leg(key, leg, |t| t.interval = min);
                self.send_refresh(now, key, leg);
            }
            _ => self
                .session
                .update_leg(key, leg, |t| t.retry_at = Some(now + REFRESH_RETRY)),
        }
    }

    /// ACKs a 2xx to the SBC's own refresh re-INVITE on `leg` (RFC 3261 §13.2.2.4); returns
    /// whether `cseq` was one.
    pub(super) fn ack_own_refresh(&mut self, key: CallKey, leg: Leg, cseq: u32) -> bool {
        let own = self
            .session
            .get_mut(key)
            .and_then(|t| t.own_invite[leg.index()]);
        if own != Some(cseq) {
            return false;
        }
        let Some(call) = self.calls.get(&key) else {
            return false;
        };
        let Some(id) = call.dialogs[leg.index()].clone() else {
            return false;
        };
        let via = via(&call.sides[leg.index()], &self.ids.branch());
        let _ = self.dialogs.send_ack(&id, cseq, &via, None);
        self.flush_dialog_sends();
        true
    }

    /// A re-INVITE or UPDATE from `leg` of an answered call with session timers: a bad or too
    /// small interval is refused (400, 422), and a pure refresh — UPDATE without a body,
    /// re-INVITE with the same SDP as last time — is answered here with Session-Expires and
    /// restarts the leg's timer (RFC 4028 §9, §10). Returns whether the request was answered;
    /// if not it is relayed as usual.
    pub(super) fn session_refresh_in(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Message,
        key: CallKey,
        leg: Leg,
        id: &DialogId,
    ) -> bool {
        let method = req.method().cloned();
        if !matches!(method, Some(Method::Invite | Method::Update)) {
            return false;
        }
        let Some(current) = self.session.leg(key, leg).cloned() else {
            return false;
        };
        if self.refuse_session_interval(now, tx, req, Some(id)) {
            return true;
        }
        let Some(call) = self.calls.get(&key) else {
            return false;
        };
        if call.phase != Phase::Answered || call.reinvite.is_some() {
            return false;
        }
        let body: Option<Bytes> = match method {
            Some(Method::Update) if req.body().is_empty() => None,
            Some(Method::Invite) if req.has_sdp() => {
                match call
                    .media
                    .as_ref()
                    .and_then(|m| m.unchanged_answer(leg, req.body()))
                    .filter(|sdp| answer_fits_offer(sdp, req.body()))
                {
                    Some(sdp) => Some(sdp.clone()),
                    None => return false,
                }
            }
            _ => return false,
        };
        let Some(dialog) = self.dialogs.get(id) else {
            return false;
        };
        let asked = PeerTimer::read(req).unwrap_or_default();
        let timer = LegTimer::as_uas(&asked, &self.cfg.session_timer, now, Some(&current));
        let mut rsp = dialog.response(req, 200, "OK");
        timer.decorate_answer(&mut rsp);
        if let Some(sdp) = body {
            rsp.set_body(sdp, Some("application/sdp"));
        }
        let _ = self.tx.send_response(now, tx, &rsp);
        let _ = self.dialogs.handle_response_sent(now, id, &rsp);
        self.session.set_leg(key, leg, timer);
        true
    }

    /// Writes leg `to`'s Session-Expires, Min-SE and Supported: timer on a re-INVITE or UPDATE
    /// relayed there, so the relayed request refreshes that leg too (RFC 4028 §7.4); on a leg
    /// without a timer, a copied `timer` option tag is taken out of Supported.
    pub(super) fn decorate_relayed_refresh(&self, key: CallKey, to: Leg, out: &mut Message) {
        match self.session.leg(key, to) {
            Some(timer) => timer.decorate_request(out, self.cfg.session_timer.min_se()),
            None => session_timer::withdraw_support(out),
        }
    }

    /// A 2xx to a re-INVITE or UPDATE relayed from leg `from` is going back there as `out`:
    /// both legs were refreshed — the far one by its answer, `from` by its request, whose
    /// Session-Expires goes into `out` (RFC 4028 §7.2, §9).
    pub(super) fn session_relayed_answer(
        &mut self,
        now: Instant,
        key: CallKey,
        from: Leg,
        request: &Message,
        rsp: &Message,
        out: &mut Message,
    ) {
        let refresh = matches!(request.method(), Some(Method::Invite | Method::Update));
        if !refresh || !rsp.status().is_some_and(|s| (200..300).contains(&s)) {
            return;
        }
        let far = from.other();
        if let Some(current) = self.session.leg(key, far).cloned() {
            let answer = PeerTimer::read(rsp).unwrap_or_default();
            let next = LegTimer::as_uac(&answer, current.interval, now, Some(&current));
            self.session.set_leg(key, far, next);
        }
        if let Some(current) = self.session.leg(key, from).cloned() {
            let asked = PeerTimer::read(request).unwrap_or_default();
            let next = LegTimer::as_uas(&asked, &self.cfg.session_timer, now, Some(&current));
            next.decorate_answer(out);
            self.session.set_leg(key, from, next);
        }
    }
}

/// Whether `answer`, the SDP the SBC last sent on a leg, can answer `offer` as it stands: as
/// many `m=` lines, each listing only formats the offer lists (RFC 3264 §6.1). It may not when
/// the SBC's SDP was itself an offer with more codecs than the peer kept in its answer, which
/// the peer now offers back; such a refresh is relayed instead.
fn answer_fits_offer(answer: &Bytes, offer: &Bytes) -> bool {
    let (Ok(answer), Ok(offer)) = (Sdp::parse(answer), Sdp::parse(offer)) else {
        return false;
    };
    answer.media().count() == offer.media().count()
        && answer.media().zip(offer.media()).all(|(a, o)| {
            let offered: Vec<&str> = o.formats().collect();
            a.is_rejected() || a.formats().all(|f| offered.contains(&f))
        })
}
