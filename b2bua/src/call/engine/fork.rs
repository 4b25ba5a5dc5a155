//! Parallel forking on leg B: every target of a parallel group gets its own INVITE at once,
//! the first 2xx wins and the others are cancelled, and when every branch failed the best
//! final response goes on (RFC 3261 §16.6, §16.7, §16.10).
//!
//! The branches share leg B's Call-ID and the B-side offer (one relay anchor, the same relay
//! ports); each has its own client transaction, Via branch, From tag and CSeq, so each one's
//! early dialogs stay apart (`early.rs` maps them to A's early dialogs as forks). One branch is
//! the call's current one (`Call::b_invite`, B's side and peer, `TargetSet::tx`); a response
//! on another makes it current first, so provisionals, PRACKs and the answer use its dialog
//! and its flow. A branch's failure is remembered while others still run; the last failure of
//! the group decides with the best of them (6xx first, else the lowest class, first received
//! among equals; a 422 counts as a plain failure while other branches run). The relay
//! interface is the first target's: the group's targets should share it (the registered
//! contacts of one customer side do).

use super::{B2bua, Phase, TxRole};
use crate::call::target::{Retired, Target};
use crate::call::{CallKey, Leg, MediaAnchor, Router, Side};
use crate::stack::dialog::TerminateReason;
use crate::stack::transaction::{Dest, TxId};
use sbc_common::sip::{HeaderName, Message};
use std::time::Instant;

/// One running INVITE of a parallel group other than the call's current one (RFC 3261 §16.6).
#[derive(Debug)]
pub(super) struct Branch {
    /// Its INVITE client transaction.
    tx: TxId,
    /// The INVITE as sent.
    invite: Message,
    /// The SBC's side it left from.
    side: Side,
    /// Where it went.
    peer: Dest,
    /// It had a provisional, so a CANCEL may go (RFC 3261 §9.1).
    provisional: bool,
    /// Its target.
    target: Target,
}

/// What the group makes of a final response on leg B (RFC 3261 §16.7).
pub(super) enum Verdict {
    /// Handle it as the call's own response, as without forking.
    Own,
    /// Other branches still run: nothing more to do.
    Absorbed,
    /// The group is over and this earlier response is the best one.
    Best(Message),
    /// The group is over and a timeout (408 without response) was the best.
    Timeout,
}

/// How good a final status is for leg A: lower is better, a 6xx best, then by class, with the
/// codes that only mean something on leg B counted as the 500 A would get (RFC 3261 §16.7
/// step 6).
fn rank(status: u16) -> u16 {
    let (code, _) = crate::call::codes::for_leg_a(status, "");
    if code >= 600 {
        0
    } else {
        code / 100
    }
}

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// Sends an INVITE to every sibling of the current target in its parallel group, with the
    /// current INVITE's offer and Call-ID (RFC 3261 §16.6).
    pub(super) fn start_siblings(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let siblings = call.targets.take_siblings();
        if siblings.is_empty() {
            return;
        }
        let Some(a_invite) = call.a_invite.as_deref().cloned() else {
            return;
        };
        let Some(b_invite) = call.b_invite.as_deref() else {
            return;
        };
        let body = b_invite.body().clone();
        let call_id = b_invite.call_id().unwrap_or_default().to_owned();
        let max_forwards = a_invite.max_forwards().unwrap_or(70).saturating_sub(1);
        for target in siblings {
            let mut invite =
                self.build_b_invite(&a_invite, &target.route, max_forwards, body.clone());
            invite.set_header(HeaderName::CallId, call_id.clone());
            let Ok(tx) = self
                .tx
                .send_request(now, invite.clone(), target.route.next_hop)
            else {
                continue;
            };
            self.by_tx.insert(tx, (key, TxRole::BInvite));
            if let Some(call) = self.calls.get_mut(&key) {
                call.siblings.push(Branch {
                    tx,
                    invite,
                    side: target.route.b_side.clone(),
                    peer: target.route.next_hop,
                    provisional: false,
                    target,
                });
            }
        }
    }

    /// Makes branch `tx` of call `key` the current one when it is a running sibling.
    pub(super) fn select_branch(&mut self, key: CallKey, tx: TxId) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.targets.tx == Some(tx) {
            return;
        }
        let Some(i) = call.siblings.iter().position(|b| b.tx == tx) else {
            return;
        };
        let branch = call.siblings.remove(i);
        let old = self.make_current(key, branch);
        if let (Some(old), Some(call)) = (old, self.calls.get_mut(&key)) {
            call.siblings.push(old);
        }
    }

    /// Makes the running branch whose INVITE's From tag is `tag` the current one, so a request
    /// in one of its early dialogs (a PRACK) goes to its flow with its CSeq (RFC 3262 §7.2).
    pub(super) fn select_branch_by_tag(&mut self, key: CallKey, tag: &str) {
        let tx = self.calls.get(&key).and_then(|c| {
            c.siblings
                .iter()
                .find(|b| b.invite.from().and_then(|f| f.tag()) == Some(tag))
                .map(|b| b.tx)
        });
        if let Some(tx) = tx {
            self.select_branch(key, tx);
        }
    }

    /// Puts `branch` in the call's current place; the branch it replaces, if any.
    fn make_current(&mut self, key: CallKey, branch: Branch) -> Option<Branch> {
        let call = self.calls.get_mut(&key)?;
        let b = Leg::B.index();
        let target = call.targets.swap_current(branch.target);
        let old_tx = call.targets.tx.replace(branch.tx);
        let invite = *call.b_invite.replace(Box::new(branch.invite))?;
        let side = std::mem::replace(&mut call.sides[b], branch.side);
        let peer = std::mem::replace(&mut call.peers[b], branch.peer);
        let provisional = std::mem::replace(&mut call.b_provisional, branch.provisional);
        Some(Branch {
            tx: old_tx?,
            invite,
            side,
            peer,
            provisional,
            target: target?,
        })
    }

    /// A final failure (`rsp`, or a timeout when `None`) on the current branch of call `key`:
    /// remembered and absorbed while siblings run, else the group's best (RFC 3261 §16.7).
    pub(super) fn branch_failed(
        &mut self,
        key: CallKey,
        tx: TxId,
        rsp: Option<&Message>,
    ) -> Verdict {
        let status = rsp.and_then(Message::status).unwrap_or(408);
        let Some(call) = self.calls.get_mut(&key) else {
            return Verdict::Own;
        };
        // A 422 is renegotiated with its target only when no other branch runs: the session
        // timer offer is the call's, one for all branches (RFC 4028 §7.4).
        if call.targets.tx != Some(tx)
            || status < 300
            || (status == 422 && call.siblings.is_empty())
            || call.phase != Phase::Proceeding
            || call.cancelling
        {
            return Verdict::Own;
        }
        let better = call.best.as_ref().is_none_or(|b| rank(status) < rank(b.0));
        if call.siblings.is_empty() {
            if better {
                call.best = None;
                return Verdict::Own;
            }
            return match call.best.take().map(|b| *b) {
                Some((_, Some(best))) => Verdict::Best(best),
                Some((_, None)) => Verdict::Timeout,
                None => Verdict::Own,
            };
        }
        if better {
            call.best = Some(Box::new((status, rsp.cloned())));
        }
        // This branch is over: its early dialogs on leg B end, and a sibling takes its place.
        let call_id = call.call_id(Leg::B).to_owned();
        let tag = call
            .b_invite
            .as_deref()
            .and_then(|i| i.from())
            .and_then(|f| f.tag())
            .unwrap_or_default()
            .to_owned();
        if call.dialogs[Leg::B.index()]
            .as_ref()
            .is_some_and(|d| *d.local_tag == *tag)
        {
            call.dialogs[Leg::B.index()] = None;
        }
        let next = call.siblings.remove(0);
        self.drop_branch_forks(key, &tag);
        self.dialogs
            .terminate_early(&call_id, &tag, TerminateReason::Rejected);
        let _ = self.make_current(key, next);
        Verdict::Absorbed
    }

    /// Retires every running sibling of call `key`: each is cancelled once it had a
    /// provisional, and a 2xx it still sends is ACKed and hung up (RFC 3261 §9.1, §16.10).
    pub(super) fn cancel_siblings(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        call.best = None;
        let siblings = std::mem::take(&mut call.siblings);
        for b in siblings {
            self.retired.insert(
                b.tx,
                Retired {
                    key,
                    invite: b.invite,
                    side: b.side,
                    peer: b.peer,
                    cancel_sent: false,
                },
            );
            if b.provisional {
                self.cancel_retired(now, b.tx);
            }
        }
    }
}
