//! Commands from the management API (RFC 7092 §2, RFC 3725 §4.1): a snapshot of the live calls,
//! terminating a call, and click-to-dial.
//!
//! Click-to-dial follows RFC 3725 flow I: the SBC sends party A an INVITE without SDP
//! (RFC 3261 §13.2.1 delayed offer); A answers 200 with an offer, which is anchored in the relay
//! and sent to party B in an INVITE built like any leg B's; B's 200 is ACKed and its answer,
//! rewritten, goes to A in the ACK of A's 200 (RFC 3264 §4). From then on it is an ordinary
//! call whose two legs are both UAC dialogs. A's 200 is retransmitted until B answers, so B has
//! about 64·T1 to do so (RFC 3725 §4.1 names this limit of flow I). Both parties' next hops come
//! from the caller (the driver takes them from the configured routes), never from a URI.
//!
//! Not built: session timers on click-to-dial calls, and a valid SDP answer (all streams
//! rejected) in A's ACK when B fails; A's ACK then carries no body and a BYE follows.

use super::Exchange;
use super::{B2bua, Call, Phase, TxRole};
use crate::call::headers::{contact, host, via};
use crate::call::media::MediaState;
use crate::call::target::{Target, TargetSet};
use crate::call::{CallEvent, CallKey, EndReason, Leg, MediaAnchor, Route, Router, Side};
use crate::stack::dialog::{ResponseOutcome, TerminateReason};
use crate::stack::ids::CallId;
use crate::stack::transaction::{Dest, TxId};
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_relay::api::SessionId;
use std::net::SocketAddr;
use std::time::Instant;

/// The longest Request-URI user a click-to-dial party may have.
const MAX_USER: usize = 64;

/// One party of a click-to-dial call: the Request-URI user, the SBC's side towards it and its
/// next hop (RFC 3725 §4.1; the caller resolves side and next hop from its routes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// The Request-URI user (`sip:<user>@<next hop>`), RFC 3261 §19.1.1 characters only.
    pub user: String,
    /// The SBC's SIP address and media interface towards this party.
    pub side: Side,
    /// Where this party's requests are sent.
    pub next_hop: Dest,
}

/// Where a call is, for the management API (RFC 3261 §13, RFC 3725 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// Click-to-dial: party A has not answered yet.
    Dialing,
    /// Leg B's INVITE has no final response yet.
    Proceeding,
    /// Leg B answered.
    Answered,
}

impl CallState {
    /// The lower-case name used in the API's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dialing => "dialing",
            Self::Proceeding => "proceeding",
            Self::Answered => "answered",
        }
    }
}

/// One leg of a call as the management API shows it (RFC 7092 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegSnapshot {
    /// The leg's Call-ID (RFC 3261 §8.1.1.4); empty for a leg not dialled yet.
    pub call_id: String,
    /// The SBC's SIP address on this leg.
    pub local: Dest,
    /// The peer's address (A's source flow or the next hop).
    pub peer: Dest,
}

/// One relay stream of a call: the relay's stream index and the SBC's local RTP address on each
/// leg (RFC 3264 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSnapshot {
    /// The relay's index of the stream in the call's session.
    pub index: usize,
    /// The local RTP addresses on legs A and B.
    pub local: [SocketAddr; 2],
}

/// A live call as the management API shows it (RFC 7092 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSnapshot {
    /// The call's handle.
    pub key: CallKey,
    /// Where it is.
    pub state: CallState,
    /// Whether it was created by click-to-dial.
    pub originated: bool,
    /// When it started (leg A's INVITE received or sent).
    pub started: Instant,
    /// When leg B answered.
    pub answered: Option<Instant>,
    /// Legs A and B.
    pub legs: [LegSnapshot; 2],
    /// The relay session, once there is one.
    pub media_session: Option<SessionId>,
    /// The relay streams.
    pub streams: Vec<StreamSnapshot>,
}

/// Why a management command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No live call has this key.
    #[error("no such call")]
    NoSuchCall,
    /// A click-to-dial party's user is empty, too long or has characters a SIP URI user may
    /// not (RFC 3261 §25.1 `user`).
    #[error("invalid user {0:?}: 1-64 characters from A-Z a-z 0-9 -_.!~*'()&=+$,/")]
    BadUser(String),
    /// The configured call limit is reached.
    #[error("call limit reached")]
    Busy,
    /// The transaction layer refused the INVITE.
    #[error("could not send the INVITE")]
    Send,
}

/// A click-to-dial call waiting for party A's answer.
#[derive(Debug)]
pub(super) struct Dialing {
    a: Party,
    b: Party,
    /// The INVITE sent to A and its client transaction.
    invite: Message,
    tx: TxId,
    started: Instant,
    /// A sent a provisional, so a CANCEL may go (RFC 3261 §9.1).
    provisional: bool,
    /// Terminated by the API before A answered.
    cancelling: bool,
    cancel_sent: bool,
}

/// Whether `user` may stand unescaped as a SIP URI user (RFC 3261 §25.1), minus `;` and `?`.
fn valid_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= MAX_USER
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,/".contains(&b))
}

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// A snapshot of every live call, click-to-dial calls still dialling included, ordered by
    /// key (RFC 7092 §2).
    pub fn calls(&self) -> Vec<CallSnapshot> {
        let mut out: Vec<CallSnapshot> = self
            .calls
            .iter()
            .map(|(key, c)| CallSnapshot {
                key: *key,
                state: match c.phase {
                    Phase::Proceeding => CallState::Proceeding,
                    Phase::Answered => CallState::Answered,
                },
                originated: c.originated,
                started: c.started,
                answered: c.answered_at,
                legs: [
                    LegSnapshot {
                        call_id: c.call_id(Leg::A).to_owned(),
                        local: c.sides[Leg::A.index()].sip,
                        peer: c.peers[Leg::A.index()],
                    },
                    LegSnapshot {
                        call_id: c.call_id(Leg::B).to_owned(),
                        local: c.sides[Leg::B.index()].sip,
                        peer: c.peers[Leg::B.index()],
                    },
                ],
                media_session: c.media.as_ref().map(|m| m.session),
                streams: c
                    .media
                    .as_ref()
                    .map(|m| {
                        m.streams()
                            .map(|s| StreamSnapshot {
                                index: s.index,
                                local: [s.local[0].rtp, s.local[1].rtp],
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        out.extend(self.dialing.iter().map(|(key, d)| CallSnapshot {
            key: *key,
            state: CallState::Dialing,
            originated: true,
            started: d.started,
            answered: None,
            legs: [
                LegSnapshot {
                    call_id: d.invite.call_id().unwrap_or_default().to_owned(),
                    local: d.a.side.sip,
                    peer: d.a.next_hop,
                },
                LegSnapshot {
                    call_id: String::new(),
                    local: d.b.side.sip,
                    peer: d.b.next_hop,
                },
            ],
            media_session: None,
            streams: Vec::new(),
        }));
        out.sort_by_key(|c| c.key);
        out
    }

    /// Terminates call `key` from the management API: an answered call gets a BYE with a
    /// Reason on both legs (RFC 3261 §15.1.1, RFC 3326), a ringing one is cancelled towards B
    /// (A then gets 487, RFC 3261 §9.1), a click-to-dial call still dialling A is cancelled
    /// towards A. Drain [`B2bua::poll_output`] afterwards.
    pub fn terminate(&mut self, now: Instant, key: CallKey) -> Result<(), ControlError> {
        if let Some(d) = self.dialing.get_mut(&key) {
            d.cancelling = true;
            if d.provisional {
                self.cancel_dial(now, key);
            }
        } else {
            let call = self.calls.get(&key).ok_or(ControlError::NoSuchCall)?;
            match call.phase {
                Phase::Answered => self.hang_up(now, key, EndReason::Admin, 200),
                Phase::Proceeding => self.cancel_b(now, key),
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Click-to-dial (RFC 3725 flow I): sends party `a` an INVITE without SDP; once it answers,
    /// party `b` is called with A's offer. Returns the new call's key; drain
    /// [`B2bua::poll_output`] afterwards.
    pub fn originate(&mut self, now: Instant, a: Party, b: Party) -> Result<CallKey, ControlError> {
        for p in [&a, &b] {
            if !valid_user(&p.user) {
                return Err(ControlError::BadUser(p.user.clone()));
            }
        }
        if self.cfg.max_calls > 0 && self.call_count() >= self.cfg.max_calls {
            return Err(ControlError::Busy);
        }
        let next = a.next_hop.addr.to_string();
        let mut invite = Message::request(Method::Invite, format!("sip:{}@{next}", a.user));
        invite.push_header(HeaderName::Via, via(&a.side, &self.ids.branch()));
        invite.push_header(HeaderName::MaxForwards, self.cfg.max_forwards.to_string());
        invite.push_header(
            HeaderName::From,
            format!(
                "<sip:{}@{}>;tag={}",
                b.user,
                host(a.side.sip.addr),
                self.ids.tag()
            ),
        );
        invite.push_header(HeaderName::To, format!("<sip:{}@{next}>", a.user));
        invite.push_header(HeaderName::CallId, self.ids.call_id());
        invite.push_header(HeaderName::CSeq, format!("{} INVITE", self.ids.cseq()));
        invite.push_header(HeaderName::Contact, contact(&a.side));
        invite.push_header(HeaderName::Allow, "INVITE, ACK, CANCEL, BYE, OPTIONS");
        invite.set_body(Bytes::new(), None);
        let tx = self
            .tx
            .send_request(now, invite.clone(), a.next_hop)
            .map_err(|_| ControlError::Send)?;
        let key = CallKey(self.next_call);
        self.next_call += 1;
        self.by_tx.insert(tx, (key, TxRole::Dial));
        let a_call_id = invite.call_id().unwrap_or_default().to_owned();
        self.dialing.insert(
            key,
            Dialing {
                a,
                b,
                invite,
                tx,
                started: now,
                provisional: false,
                cancelling: false,
                cancel_sent: false,
            },
        );
        // Leg B and the media session come when party A answers; the record knows A so far.
        let mut detail = Box::<crate::call::CallDetail>::default();
        detail.legs[0] = super::record::parties(&self.dialing[&key].invite);
        self.event(CallEvent::Started {
            call: key,
            a_call_id,
            b_call_id: String::new(),
            detail,
        });
        self.pump(now);
        Ok(key)
    }

    /// CANCEL to party A of a click-to-dial call, once (RFC 3261 §9.1).
    fn cancel_dial(&mut self, now: Instant, key: CallKey) {
        let Some(d) = self.dialing.get_mut(&key).filter(|d| !d.cancel_sent) else {
            return;
        };
        d.cancel_sent = true;
        let cancel = super::retry::cancel_for(&d.invite);
        let dest = d.a.next_hop;
        if let Ok(t) = self.tx.send_request(now, cancel, dest) {
            self.by_tx.insert(t, (key, TxRole::Other));
        }
    }

    /// A response to the click-to-dial INVITE to party A (RFC 3261 §13.2.2).
    pub(super) fn on_dial_response(&mut self, now: Instant, key: CallKey, rsp: &Message) {
        let Some(status) = rsp.status() else { return };
        let Some(d) = self.dialing.get_mut(&key) else {
            // A retransmitted 2xx once the call exists: its dialog re-sends the ACK.
            if (200..300).contains(&status) {
                let _ = self.dialogs.handle_response(rsp);
            }
            return;
        };
        match status {
            100 => {}
            101..=199 => {
                d.provisional = true;
                if d.cancelling {
                    self.cancel_dial(now, key);
                }
            }
            200..=299 => {
                if let Some(d) = self.dialing.remove(&key) {
                    self.on_dial_answered(now, key, d, rsp);
                }
            }
            _ => {
                let Some(d) = self.dialing.remove(&key) else {
                    return;
                };
                self.dialogs
                    .terminate_early_of(&d.invite, TerminateReason::Rejected);
                let reason = if d.cancelling {
                    EndReason::Admin
                } else {
                    EndReason::Rejected
                };
                self.event(CallEvent::Ended {
                    call: key,
                    reason,
                    code: status,
                });
            }
        }
    }

    /// Timer B or a transport failure on the INVITE to party A (RFC 3261 §17.1.1.2).
    pub(super) fn on_dial_failure(&mut self, key: CallKey) {
        if let Some(d) = self.dialing.remove(&key) {
            let reason = if d.cancelling {
                EndReason::Admin
            } else {
                EndReason::Timeout
            };
            self.event(CallEvent::Ended {
                call: key,
                reason,
                code: 408,
            });
        }
    }

    /// Party A answered: its dialog is set up, its offer anchored in the relay and sent to
    /// party B in a new leg B; A's ACK waits for B's answer (RFC 3725 §4.1, RFC 3264 §4).
    fn on_dial_answered(&mut self, now: Instant, key: CallKey, d: Dialing, rsp: &Message) {
        let outcome = self
            .dialogs
            .handle_creating_response(&d.invite, rsp, d.a.next_hop);
        let Ok(ResponseOutcome::Created(id) | ResponseOutcome::Matched(id)) = outcome else {
            // Without a dialog (no Contact, no To tag) it can neither be ACKed nor ended.
            return self.event(CallEvent::Ended {
                call: key,
                reason: EndReason::Media,
                code: 500,
            });
        };
        self.by_dialog.insert(id.clone(), (key, Leg::A));
        let sides = [d.a.side.clone(), d.b.side.clone()];
        let mut media = MediaState::new(self.media.create_session());
        let offer = if rsp.has_sdp() {
            media
                .relay_sdp(
                    &mut self.media,
                    &sides,
                    self.cfg.latch,
                    Leg::A,
                    Exchange::Offer,
                    rsp.body(),
                )
                .ok()
        } else {
            None
        };
        // Leg B's INVITE is built as if A had called B: From A's user, To B's.
        let b_next = d.b.next_hop.addr.to_string();
        let mut as_if = Message::request(Method::Invite, format!("sip:{}@{b_next}", d.b.user));
        as_if.push_header(
            HeaderName::From,
            format!("<sip:{}@{}>", d.a.user, host(d.a.side.sip.addr)),
        );
        as_if.push_header(HeaderName::To, format!("<sip:{}@{b_next}>", d.b.user));
        let route = Route {
            a_side: d.a.side.clone(),
            b_side: d.b.side.clone(),
            next_hop: d.b.next_hop,
            request_uri: None,
            to_uri: None,
            pass_bodies: false,
        };
        let b_invite = self.build_b_invite(&as_if, &route, 70, offer.clone().unwrap_or_default());
        let a_cseq = d.invite.cseq().map_or(1, |c| c.seq);
        let a_tag = d
            .invite
            .from()
            .and_then(|f| f.tag())
            .unwrap_or_default()
            .to_owned();
        // Leg B has one target, the party's route: no failover for a dialled call.
        let Some(targets) = TargetSet::new(vec![Target::new(route.clone())]) else {
            return self.end_call(now, key, EndReason::Media, 500, None);
        };
        let a_id = CallId::from(d.invite.call_id().unwrap_or_default());
        self.index_a_call_id(&a_id);
        self.calls.insert(
            key,
            Box::new(Call {
                phase: Phase::Proceeding,
                cancelling: false,
                cancel_sent: false,
                b_provisional: false,
                sides,
                peers: [d.a.next_hop, d.b.next_hop],
                a_invite: Some(Box::new(d.invite)),
                a_tx: d.tx,
                a_tag,
                a_call_id: a_id,
                b_invite: Some(Box::new(b_invite.clone())),
                dialogs: [Some(id), None],
                // Set now, not on the dialog's AckNeeded, so that ending the call below ACKs
                // A's 200 before its BYE.
                pending_ack: [Some(a_cseq), None],
                reinvite: None,
                media: Some(media),
                early: super::early::Early::default(),
                siblings: Vec::new(),
                best: None,
                targets,
                started: d.started,
                answered_at: None,
                originated: true,
            }),
        );
        if d.cancelling {
            return self.end_call(now, key, EndReason::Admin, 200, None);
        }
        if offer.is_none() {
            // RFC 3725 flow I needs A's offer in its 200.
            return self.end_call(now, key, EndReason::Media, 488, None);
        }
        let Ok(b_tx) = self.tx.send_request(now, b_invite.clone(), d.b.next_hop) else {
            return self.end_call(now, key, EndReason::Media, 500, None);
        };
        self.by_tx.insert(b_tx, (key, TxRole::BInvite));
        if let Some(call) = self.calls.get_mut(&key) {
            call.targets.tx = Some(b_tx);
        }
        if let Some(id) = b_invite.call_id() {
            self.b_call_ids.insert(id.into(), key);
        }
    }

    /// For a click-to-dial call, takes B's response in place of relaying it to A: a 2xx's
    /// answer, rewritten, goes to A in the ACK of A's 200 (RFC 3725 §4.1); provisionals stay
    /// here. Returns whether the call is a click-to-dial call.
    pub(super) fn answer_dialled(&mut self, now: Instant, key: CallKey, rsp: &Message) -> bool {
        if !self.calls.get(&key).is_some_and(|c| c.originated) {
            return false;
        }
        if !rsp.status().is_some_and(|s| (200..300).contains(&s)) {
            return true;
        }
        let answer = if rsp.has_sdp() {
            self.relay_call_sdp(key, Leg::B, Exchange::Answer, rsp.body())
                .ok()
        } else {
            None
        };
        let failed = answer.is_none();
        self.send_pending_ack(key, Leg::A, answer);
        if failed {
            // B's 200 is ACKed by end_call before its BYE (its AckNeeded comes too late).
            if let Some(call) = self.calls.get_mut(&key) {
                call.pending_ack[Leg::B.index()] = Some(call.b_cseq().unwrap_or(1));
            }
            self.hang_up(now, key, EndReason::Media, 488);
        }
        true
    }

    /// ACKs B's 2xx to the click-to-dial INVITE at once: A's answer went out in A's ACK
    /// already (RFC 3261 §13.2.2.4). Returns whether it did.
    pub(super) fn ack_dialled_b(&mut self, key: CallKey, leg: Leg, cseq: u32) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return false;
        };
        if !call.originated || leg != Leg::B || call.b_cseq() != Some(cseq) {
            return false;
        }
        call.pending_ack[Leg::B.index()] = Some(cseq);
        self.send_pending_ack(key, Leg::B, None);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::valid_user;

    #[test]
    fn user_characters_are_checked() {
        for ok in ["alice", "+15551234", "a.b-c_d", "x*y"] {
            assert!(valid_user(ok), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "a b",
            "a@b",
            "a;x=y",
            "a?b",
            "a\r\nb",
            "a:b",
            long.as_str(),
        ] {
            assert!(!valid_user(bad), "{bad:?}");
        }
    }
}
