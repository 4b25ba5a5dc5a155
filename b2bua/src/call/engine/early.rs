//! Early dialogs and reliable provisional responses across the two legs (RFC 3261 §12.1,
//! §13.2.2.4, RFC 3262).
//!
//! **Forking.** Each early dialog a downstream fork opens on leg B (one per To tag) gets its own
//! early dialog on leg A, with a To tag of the SBC's, so A sees the forks apart as RFC 3261
//! §12.1.1 lets a forking proxy show them; the first fork keeps the call's `a_tag`. The first
//! 2xx wins: it reaches A in the A dialog mapped to its fork, and the other early dialogs of both
//! legs end (for A they end implicitly with that final response, RFC 3261 §13.2.2.4); a later
//! 2xx is ACKed and hung up, a later 18x dropped. Early media follows the fork whose SDP arrived
//! last (each B SDP reprograms the relay's B side); a fork's repeated SDP (its 18x answer again
//! in its 2xx) reaches A byte for byte as first sent in that A dialog (RFC 3264 §8).
//!
//! **Reliable provisionals** (RFC 3262), in one of three modes chosen from A's INVITE
//! ([`Rel100::of`]):
//! - end to end, A supports or requires `100rel`: B's INVITE says `Supported: 100rel` (and
//!   `Require: 100rel` when A required it). B's reliable 18x reaches A reliable, with an RSeq the
//!   SBC numbers per A dialog, retransmitted by the dialog layer until A's PRACK (T1 doubling,
//!   5xx to A at 64*T1). A's PRACK becomes a PRACK on B's fork with B's RSeq in RAck, and B's
//!   answer to it answers A's. SDP in the 18x, the PRACK and its 2xx is anchored like any other.
//! - local, A does not support `100rel` but its INVITE has an offer: B's INVITE still says
//!   `Supported: 100rel`; the SBC PRACKs B's reliable 18x itself (the answer is in the 18x, so
//!   the PRACK needs no body) and relays a plain 18x to A.
//! - off, a delayed-offer INVITE from a peer without `100rel`: B's INVITE does not offer it, since
//!   a reliable 18x could carry an offer only A could answer. A reliable 18x B sends anyway is
//!   PRACKed locally, without a body.
//!
//! The `100rel` tag of Supported and Require never crosses from one leg to the other
//! (`HeaderPolicy::copy` drops it): the SBC writes it per leg. The 2xx rule of RFC 3262 §3 (no
//! 2xx while a reliable 18x with SDP is unacknowledged) holds on A because B is bound by it too
//! and B's PRACK only leaves once A's arrived. Not handled: converting B's unreliable 18x into reliable ones for an A that
//! requires `100rel` (B was told to require it too), and UPDATE in early dialogs.

use super::super::headers::{contact_answering, via};
use super::Exchange;
use super::{B2bua, CallKey, Leg, Phase, TxRole};
use crate::call::{EndReason, MediaAnchor, Router};
use crate::stack::dialog::{reliable_rseq, Dialog, DialogId, DialogKey, TerminateReason};
use crate::stack::transaction::TxId;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use std::time::Instant;

/// The option tag of reliable provisional responses (RFC 3262 §8).
const REL100: &str = "100rel";

/// How a call handles reliable provisional responses, from A's INVITE (RFC 3262 §3, §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rel100 {
    /// A supports `100rel`: reliable 18x are relayed reliable, PRACKs end to end.
    EndToEnd,
    /// A does not, but offered SDP: the SBC PRACKs B itself and relays plain 18x.
    Local,
    /// A does not and made no offer: `100rel` is not offered to B.
    Off,
}

impl Rel100 {
    /// The mode for a call whose leg-A INVITE is `invite` (RFC 3262 §4); `Off` once the call
    /// has let its INVITE go (it is answered: no more provisionals reach A).
    pub(super) fn of(invite: Option<&Message>) -> Self {
        let Some(invite) = invite else {
            return Self::Off;
        };
        if invite.has_token(&HeaderName::Require, REL100)
            || invite.has_token(&HeaderName::Supported, REL100)
        {
            Self::EndToEnd
        } else if invite.has_sdp() {
            Self::Local
        } else {
            Self::Off
        }
    }
}

/// One downstream fork: B's early dialog and the A dialog it maps to (RFC 3261 §12.1).
#[derive(Debug)]
struct Fork {
    /// Leg B's dialog, by the fork's To tag.
    b: DialogId,
    /// Leg A's dialog shown for it.
    a: DialogId,
    /// The last in-order RSeq received from the fork (RFC 3262 §4).
    b_rseq: Option<u32>,
    /// The RSeq of the next reliable provisional the SBC sends in `a` (RFC 3262 §3).
    next_a_rseq: u32,
    /// The reliable provisional relayed to A awaiting A's PRACK.
    unacked: Option<Unacked>,
    /// The last SDP the fork sent and what the SBC sent in `a` for it (RFC 3264 §8).
    sdp: Option<(Bytes, Bytes)>,
}

/// A reliable provisional relayed to A and awaiting A's PRACK: what the PRACK sent on to B needs,
/// kept from when the provisional went, since the call may be answered before A's PRACK comes
/// and no longer keep either INVITE (RFC 3262 §3, §5, §7.2).
#[derive(Clone, Copy, Debug)]
struct Unacked {
    /// The RSeq A was given.
    a_rseq: u32,
    /// B's RSeq, for RAck.
    b_rseq: u32,
    /// The CSeq number of the INVITE B's provisional answered, for RAck.
    invite_cseq: u32,
    /// Whether A's INVITE carried an offer: A's PRACK then carries a new offer, else the answer.
    a_offered: bool,
}

/// A call's downstream forks and their reliable provisionals (RFC 3261 §12.1, RFC 3262).
#[derive(Debug, Default)]
pub(super) struct Early {
    forks: Vec<Fork>,
}

impl Early {
    fn by_b(&mut self, b: &DialogId) -> Option<&mut Fork> {
        self.forks.iter_mut().find(|f| f.b == *b)
    }

    fn by_a(&mut self, a: &DialogId) -> Option<&mut Fork> {
        self.forks.iter_mut().find(|f| f.a == *a)
    }
}

/// Sets or clears option tag `tag` in `msg`'s `name` header list, leaving the other tags; the
/// list is rewritten as one header before the body headers (RFC 3261 §7.3.1, §20.37).
fn set_option_tag(msg: &mut Message, name: &HeaderName, tag: &str, on: bool) {
    let mut tags: Vec<String> = msg
        .values(name)
        .filter(|t| !t.eq_ignore_ascii_case(tag))
        .map(str::to_owned)
        .collect();
    if on {
        tags.push(tag.to_owned());
    }
    msg.remove_headers(name);
    if !tags.is_empty() {
        push_before_body(msg, name.clone(), tags.join(", "));
    }
}

/// Adds a header before Content-Type/Content-Length, or last if there are none.
fn push_before_body(msg: &mut Message, name: HeaderName, value: String) {
    let at = msg.headers().iter().position(|h| {
        matches!(
            h.name(),
            HeaderName::ContentType | HeaderName::ContentLength
        )
    });
    match at {
        Some(i) => msg.insert_header(i, name, value),
        None => msg.push_header(name, value),
    }
}

/// Writes leg B's `100rel` option tags for a call whose A INVITE is `a_invite`: Supported
/// unless the mode is [`Rel100::Off`], Require only when A required it (RFC 3262 §4).
pub(super) fn advertise_100rel(a_invite: &Message, b_invite: &mut Message) {
    let mode = Rel100::of(Some(a_invite));
    set_option_tag(
        b_invite,
        &HeaderName::Supported,
        REL100,
        mode != Rel100::Off,
    );
    let required = a_invite.has_token(&HeaderName::Require, REL100);
    set_option_tag(b_invite, &HeaderName::Require, REL100, required);
}

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// Maps B's dialog `b` (a fork's 101–299) to its A dialog, creating one with a fresh tag for
    /// a new fork, and makes the pair the call's current dialogs (RFC 3261 §12.1.1).
    pub(super) fn map_fork(&mut self, key: CallKey, b: &DialogId, status: u16) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(a) = call.early.by_b(b).map(|f| f.a.clone()) {
            if self.dialogs.get(&a).is_some() {
                call.dialogs[Leg::A.index()] = Some(a);
            }
            return;
        }
        let a = if call.early.forks.is_empty() {
            // The first fork gets A's dialog with the call's own tag, created now or by an
            // earlier tagless provisional.
            self.a_dialog(key, status)
        } else {
            let tag = self.ids.tag();
            self.a_fork_dialog(key, &tag, status)
        };
        let Some(a) = a else {
            return;
        };
        let next_a_rseq = self.ids.cseq();
        if let Some(call) = self.calls.get_mut(&key) {
            call.dialogs[Leg::A.index()] = Some(a.clone());
            // Most calls have one fork: no spare slots (a Fork is over 200 bytes).
            call.early.forks.reserve_exact(1);
            call.early.forks.push(Fork {
                b: b.clone(),
                a,
                b_rseq: None,
                next_a_rseq,
                unacked: None,
                sdp: None,
            });
        }
    }

    /// A request in early dialog `id` on `leg` goes to the fork it belongs to: the mapped
    /// dialog on the other leg becomes the call's current one, and on leg B the fork's parallel
    /// branch (its flow) too (RFC 3261 §12.2, RFC 3311 §5.1).
    pub(super) fn follow_fork(&mut self, key: CallKey, leg: Leg, id: &DialogId) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.phase != Phase::Proceeding {
            return;
        }
        let fork = match leg {
            Leg::A => call.early.by_a(id),
            Leg::B => call.early.by_b(id),
        };
        let Some((a, b)) = fork.map(|f| (f.a.clone(), f.b.clone())) else {
            return;
        };
        call.dialogs = [Some(a), Some(b.clone())];
        self.select_branch_by_tag(key, &b.local_tag);
    }

    /// A further A dialog with tag `tag` for a new fork (RFC 3261 §12.1.1).
    fn a_fork_dialog(&mut self, key: CallKey, tag: &str, status: u16) -> Option<DialogId> {
        let call = self.calls.get(&key)?;
        let invite = call.a_invite.as_deref()?;
        let dialog = Dialog::uas_from_request(
            invite,
            tag,
            &contact_answering(&call.sides[Leg::A.index()], invite),
            self.ids.cseq(),
            call.peers[Leg::A.index()],
            status,
        )
        .ok()?;
        let id = self.dialogs.insert(dialog).ok()?;
        self.by_dialog.insert(id.clone(), (key, Leg::A));
        Some(id)
    }

    /// A response from fork `b` after another fork's 2xx won: a 2xx is ACKed then hung up, an
    /// 18x's early dialog ended; leg A hears of neither (RFC 3261 §13.2.2.4).
    pub(super) fn on_late_fork(&mut self, now: Instant, key: CallKey, b: &DialogId, rsp: &Message) {
        let (Some(status), Some(cseq)) = (rsp.status(), rsp.cseq().map(|c| c.seq)) else {
            return;
        };
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        if status < 200 {
            let _ = self.dialogs.terminate(b, TerminateReason::Local);
            return;
        }
        let side = call.sides[Leg::B.index()].clone();
        let peer = call.peers[Leg::B.index()];
        let ack_via = via(&side, &self.ids.branch());
        let _ = self.dialogs.send_ack(b, cseq, &ack_via, None);
        self.flush_dialog_sends();
        let bye_via = via(&side, &self.ids.branch());
        if let Ok(bye) = self.dialogs.new_request(b, Method::Bye, Some(&bye_via)) {
            if let Ok(t) = self.tx.send_request(now, bye, peer) {
                self.by_tx.insert(t, (key, TxRole::Other));
            }
        }
    }

    /// Whether B's provisional `rsp` goes on to A: a reliable one is taken only in order and
    /// once (RFC 3262 §4), at most one outstanding per A dialog end to end (§3), and PRACKed by
    /// the SBC itself unless A supports `100rel`.
    pub(super) fn accept_provisional(&mut self, now: Instant, key: CallKey, rsp: &Message) -> bool {
        let Some(b_rseq) = reliable_rseq(rsp) else {
            return true;
        };
        let Some(b) = DialogId::for_response(rsp) else {
            // A reliable provisional must open a dialog (RFC 3262 §3); without one it cannot
            // be PRACKed, so it goes on as a plain one.
            return true;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        let mode = Rel100::of(call.a_invite.as_deref());
        let Some(fork) = call.early.by_b(&b) else {
            return false;
        };
        match fork.b_rseq {
            // A retransmission (not yet PRACKed end to end) or out of order: not acknowledged
            // and not relayed (RFC 3262 §4).
            Some(last) if b_rseq != last.wrapping_add(1) => return false,
            _ => {}
        }
        if mode == Rel100::EndToEnd && fork.unacked.is_some() {
            // B may not send its next one before our PRACK (RFC 3262 §3).
            return false;
        }
        fork.b_rseq = Some(b_rseq);
        if mode != Rel100::EndToEnd {
            // RAck names the request the provisional answers: its own CSeq (RFC 3262 §7.2).
            let invite_cseq = rsp.cseq().map_or(1, |c| c.seq);
            self.send_prack(now, key, &b, (b_rseq, invite_cseq), None);
        }
        true
    }

    /// Makes a response relayed to A fit A's dialog `a`: a fork's repeated SDP is sent as first sent in `a`, and a reliable provisional from B gets A's RSeq
    /// and `Require: 100rel` when A supports it (RFC 3262 §3, RFC 3264 §8).
    pub(super) fn prepare_for_a(
        &mut self,
        key: CallKey,
        a: &DialogId,
        rsp: &Message,
        out: &mut Message,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let mode = Rel100::of(call.a_invite.as_deref());
        let a_offered = call.a_invite.as_ref().is_some_and(|i| i.has_sdp());
        // Compared borrowed: no copy of B's Call-ID and tags for each relayed response.
        let b = DialogKey::for_response(rsp);
        let Some(fork) = call.early.by_a(a).filter(|f| Some(f.b.key()) == b) else {
            return;
        };
        if rsp.has_sdp() && out.has_sdp() {
            match &fork.sdp {
                Some((raw, sent)) if raw == rsp.body() => {
                    out.set_body(sent.clone(), Some("application/sdp"));
                }
                _ => fork.sdp = Some((rsp.body().clone(), out.body().clone())),
            }
        }
        let (Some(b_rseq), Rel100::EndToEnd) = (reliable_rseq(rsp), mode) else {
            return;
        };
        let a_rseq = fork.next_a_rseq;
        fork.next_a_rseq = a_rseq.wrapping_add(1);
        fork.unacked = Some(Unacked {
            a_rseq,
            b_rseq,
            invite_cseq: rsp.cseq().map_or(1, |c| c.seq),
            a_offered,
        });
        push_before_body(out, HeaderName::Require, REL100.to_owned());
        push_before_body(out, HeaderName::RSeq, a_rseq.to_string());
    }

    /// Once a 2xx went to A in dialog `a`: every other fork's early dialog ends on both legs
    /// (RFC 3261 §13.2.2.4).
    pub(super) fn settle_forks(&mut self, key: CallKey, a: &DialogId) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        // No fork sends A an SDP again: what each last sent is forgotten, and with it the
        // received message it was a view of.
        for fork in &mut call.early.forks {
            fork.sdp = None;
        }
        let winner = call.dialogs[Leg::B.index()].clone();
        let losers: Vec<(DialogId, DialogId)> = call
            .early
            .forks
            .iter()
            .filter(|f| f.a != *a && Some(&f.b) != winner.as_ref())
            .map(|f| (f.a.clone(), f.b.clone()))
            .collect();
        for (a, b) in losers {
            let _ = self.dialogs.terminate(&a, TerminateReason::Local);
            let _ = self.dialogs.terminate(&b, TerminateReason::Local);
        }
    }

    /// Ends the early dialogs of a failed parallel branch, whose INVITE had From tag `tag`, on
    /// both legs, so a reliable 18x A never PRACKed stops being retransmitted and cannot end
    /// the call (RFC 3261 §12.3, RFC 3262 §3). Its forks stay listed, like a failed attempt's.
    pub(super) fn drop_branch_forks(&mut self, key: CallKey, tag: &str) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let ids: Vec<DialogId> = call
            .early
            .forks
            .iter()
            .filter(|f| f.b.local_tag == tag)
            .flat_map(|f| [f.a.clone(), f.b.clone()])
            .collect();
        for id in ids {
            if self
                .dialogs
                .get(&id)
                .is_some_and(|d| d.state() == crate::stack::dialog::DialogState::Early)
            {
                let _ = self.dialogs.terminate(&id, TerminateReason::Local);
            }
        }
    }

    /// Ends the early dialogs an ended call leaves on both legs (RFC 3261 §12.3).
    pub(super) fn drop_forks(&mut self, early: &Early) {
        for f in &early.forks {
            for id in [&f.a, &f.b] {
                if self
                    .dialogs
                    .get(id)
                    .is_some_and(|d| d.state() == crate::stack::dialog::DialogState::Early)
                {
                    let _ = self.dialogs.terminate(id, TerminateReason::Local);
                }
            }
        }
    }

    /// A's PRACK in its early dialog `a` (the dialog layer matched its RAck): sent on the mapped
    /// fork with B's RSeq in RAck and any SDP anchored; B's answer answers it (RFC 3262 §7.2).
    pub(super) fn on_prack(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Message,
        key: CallKey,
        a: &DialogId,
    ) {
        let Some(rseq) = req.rack().map(|r| r.rseq) else {
            return self.reply(now, tx, &req, 481, "No Matching Reliable Provisional");
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
        };
        let Some(fork) = call
            .early
            .by_a(a)
            .filter(|f| f.unacked.is_some_and(|u| u.a_rseq == rseq))
        else {
            return self.reply(now, tx, &req, 481, "No Matching Reliable Provisional");
        };
        let Some(unacked) = fork.unacked.take() else {
            return;
        };
        let b = fork.b.clone();
        // A PRACK answers an offer made in a reliable 18x to an INVITE without SDP; otherwise it
        // carries a new offer (RFC 3262 §5).
        let kind = if unacked.a_offered {
            Exchange::Offer
        } else {
            Exchange::Answer
        };
        let body = if req.has_sdp() {
            match self.relay_call_sdp(key, Leg::A, kind, req.body()) {
                Ok(b) => Some((b, "application/sdp".to_owned())),
                Err(_) => return self.reply(now, tx, &req, 488, "Not Acceptable Here"),
            }
        } else if !req.body().is_empty() {
            let ct = req.content_type().unwrap_or("application/octet-stream");
            Some((req.body().clone(), ct.to_owned()))
        } else {
            None
        };
        let Some(client) = self.send_prack(
            now,
            key,
            &b,
            (unacked.b_rseq, unacked.invite_cseq),
            Some((&req, body)),
        ) else {
            return self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
        };
        self.track_relayed(tx, client, req, key, Leg::A);
    }

    /// Sends a PRACK for B's reliable provisional in fork `b`, its RAck from B's RSeq and the
    /// CSeq number of the INVITE the provisional answered: relaying A's (`from`, with its
    /// whitelisted headers and the body to send) or the SBC's own (RFC 3262 §7.2).
    fn send_prack(
        &mut self,
        now: Instant,
        key: CallKey,
        b: &DialogId,
        (b_rseq, invite_cseq): (u32, u32),
        from: Option<(&Message, Option<(Bytes, String)>)>,
    ) -> Option<TxId> {
        // The fork may be another parallel branch's than the current one.
        self.select_branch_by_tag(key, &b.local_tag);
        let call = self.calls.get(&key)?;
        let via = via(&call.sides[Leg::B.index()], &self.ids.branch());
        let peer = call.peers[Leg::B.index()];
        let mut prack = self
            .dialogs
            .new_request(b, Method::Prack, Some(&via))
            .ok()?;
        prack.push_header(HeaderName::RAck, format!("{b_rseq} {invite_cseq} INVITE"));
        let mut body = None;
        if let Some((req, b)) = from {
            self.cfg.headers.copy(req, &mut prack);
            body = b;
        }
        match body {
            Some((b, ct)) => prack.set_body(b, Some(&ct)),
            None => prack.set_body(Bytes::new(), None),
        }
        let client = self.tx.send_request(now, prack, peer).ok()?;
        self.by_tx.insert(client, (key, TxRole::Other));
        Some(client)
    }

    /// No PRACK came from A for 64*T1: A's INVITE gets a 5xx, leg B is cancelled and the call
    /// ends (RFC 3262 §3).
    pub(super) fn on_no_prack(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.phase != Phase::Proceeding {
            return;
        }
        call.cancelling = true;
        self.final_to_a(now, key, 500, "Reliable Provisional Not Acknowledged", None);
        self.send_cancel(now, key);
        self.end_call(now, key, EndReason::Timeout, 500, None);
    }
}
