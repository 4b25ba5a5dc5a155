//! One dialog: creation from the UAC and UAS side, in-dialog requests out and in, the 2xx/ACK
//! rules of INVITE and the 2xx retransmission timer (RFC 3261 §12, §13.2.2.4, §13.3.1.4, §14, §15).

use super::route::RouteSet;
use super::{DialogError, DialogEvent, DialogId, DialogOutput, DialogState, Role, TerminateReason};
use crate::stack::transaction::{Dest, TimerConfig};
use bytes::Bytes;
use sbc_common::sip::{Contact, HeaderName, Message, Method};
use std::time::{Duration, Instant};

mod create;

/// Whether requests with this method refresh the remote target: re-INVITE, UPDATE, SUBSCRIBE
/// and NOTIFY (RFC 3261 §12.2, RFC 3311 §5.1, RFC 6665 §4.1).
pub fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify
    )
}

/// What the caller must do with an in-dialog request the dialog examined (RFC 3261 §12.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestVerdict {
    /// In order: process it and answer as its method requires (RFC 3261 §12.2.2).
    Accept,
    /// An ACK for one of our 2xx (or a duplicate of one): no answer (RFC 3261 §13.3.1.4).
    AckAbsorbed,
    /// Answer with this status only: 500 out of order (§12.2.2), 500 + Retry-After for an INVITE
    /// overlapping our answer to another (§14.2), 491 for glare (§14.2), 481 once terminated.
    Reject {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: &'static str,
        /// Whether a Retry-After of 0–10 s, chosen by the caller at random, must be added (§14.2).
        retry_after: bool,
    },
}

impl RequestVerdict {
    /// The rejection response to `req` for a [`RequestVerdict::Reject`], with Retry-After
    /// `retry_after_secs` when required (RFC 3261 §12.2.2, §14.2); `None` for other verdicts.
    pub fn response(&self, req: &Message, retry_after_secs: u32) -> Option<Message> {
        match *self {
            Self::Reject {
                status,
                reason,
                retry_after,
            } => {
                let mut rsp = Message::response_to(req, status, reason);
                if retry_after {
                    rsp.insert_header(
                        rsp.headers().len().saturating_sub(1),
                        HeaderName::RetryAfter,
                        retry_after_secs.to_string(),
                    );
                }
                Some(rsp)
            }
            Self::Accept | Self::AckAbsorbed => None,
        }
    }
}

/// The 2xx to INVITE a UAS dialog retransmits until ACKed (RFC 3261 §13.3.1.4).
#[derive(Clone, Debug)]
struct Retransmit {
    cseq: u32,
    /// The response as sent, re-sent as it is.
    bytes: Bytes,
    next: Instant,
    interval: Duration,
    t2: Duration,
    give_up: Instant,
}

impl Retransmit {
    /// Runs the timer at `now`: the message to re-send, with the interval doubled (capped at
    /// `t2`), or `Err(cseq)` once `give_up` is reached (RFC 3261 §13.3.1.4, RFC 3262 §3).
    fn tick(&mut self, now: Instant) -> Result<Option<Bytes>, u32> {
        if now >= self.give_up {
            return Err(self.cseq);
        }
        if now < self.next {
            return Ok(None);
        }
        self.interval = self.interval.saturating_mul(2).min(self.t2);
        self.next += self.interval;
        if self.next <= now {
            // Woken late: keep the cadence from now rather than bursting.
            self.next = now + self.interval;
        }
        Ok(Some(self.bytes.clone()))
    }

    fn deadline(&self) -> Instant {
        self.next.min(self.give_up)
    }
}

/// A reliable provisional response we sent and the peer has not PRACKed yet (RFC 3262 §3).
#[derive(Clone, Debug)]
struct Unacked {
    /// Its RSeq.
    rseq: u32,
    /// Its retransmission, T1 doubling without cap, until PRACK, a final response or 64*T1.
    retransmit: Option<Retransmit>,
}

/// The RSeq of a reliable provisional response: a 101–199 with `Require: 100rel` and an RSeq
/// (RFC 3262 §3, §7.1).
pub fn reliable_rseq(rsp: &Message) -> Option<u32> {
    let status = rsp.status()?;
    if !(101..200).contains(&status) || !rsp.has_token(&HeaderName::Require, "100rel") {
        return None;
    }
    rsp.rseq()
}

/// One SIP dialog and its state (RFC 3261 §12).
#[derive(Clone, Debug)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    state: DialogState,
    ended: Option<TerminateReason>,
    /// The From value of our requests, our tag included (RFC 3261 §12.2.1.1).
    local_party: String,
    /// The To value of our requests, the remote tag included (RFC 3261 §12.2.1.1).
    remote_party: String,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    remote_target: String,
    route_set: RouteSet,
    secure: bool,
    local_contact: String,
    peer: Dest,
    /// CSeq of the dialog-creating request, whose non-2xx final ends an early dialog.
    initial_cseq: u32,
    /// CSeq of our latest target-refresh request, whose 2xx refreshes the target (§12.2.1.2).
    refresh_cseq: Option<u32>,
    /// CSeq of our INVITE still waiting for its final response (§14.1).
    invite_out: Option<u32>,
    /// CSeq of a received INVITE we have not answered with a final response yet (§14.2).
    invite_in: Option<u32>,
    /// UAS: the 2xx being retransmitted (§13.3.1.4).
    retransmit: Option<Box<Retransmit>>,
    /// UAS: the INVITE CSeq whose 2xx was last ACKed, so ACK retransmissions are absorbed.
    acked_cseq: Option<u32>,
    /// UAC: the ACK built for the latest 2xx, re-sent for its retransmissions (§13.2.2.4).
    ack: Option<(u32, Bytes)>,
    /// UAS: the reliable provisional waiting for its PRACK (RFC 3262 §3).
    unacked: Option<Box<Unacked>>,
}

/// The URI of the first Contact address in `msg` (RFC 3261 §20.10).
fn contact_uri(msg: &Message) -> Option<String> {
    msg.contacts().find_map(|c| match c {
        Ok(Contact::Addr(a)) => Some(a.uri.to_owned()),
        Ok(Contact::Star) | Err(_) => None,
    })
}

impl Dialog {
    /// The dialog id (RFC 3261 §12).
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// UAC or UAS (RFC 3261 §12.1).
    pub fn role(&self) -> Role {
        self.role
    }

    /// Early, confirmed or terminated (RFC 3261 §12).
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Why the dialog ended, once terminated (RFC 3261 §12.3).
    pub fn terminate_reason(&self) -> Option<TerminateReason> {
        self.ended
    }

    /// The From value of our requests, tag included: the local URI (RFC 3261 §12.1).
    pub fn local_party(&self) -> &str {
        &self.local_party
    }

    /// The To value of our requests, tag included: the remote URI (RFC 3261 §12.1).
    pub fn remote_party(&self) -> &str {
        &self.remote_party
    }

    /// The last CSeq number we used (RFC 3261 §12.2.1.1).
    pub fn local_cseq(&self) -> u32 {
        self.local_cseq
    }

    /// The last CSeq number the peer used, unset until a request arrives (RFC 3261 §12.2.2).
    pub fn remote_cseq(&self) -> Option<u32> {
        self.remote_cseq
    }

    /// The remote target, the peer's Contact URI (RFC 3261 §12.1).
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, first hop first (RFC 3261 §12.1).
    pub fn route_set(&self) -> &RouteSet {
        &self.route_set
    }

    /// Whether the dialog is secure: created over TLS with a SIPS Request-URI (RFC 3261 §12.1).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The Contact value we put in target-refresh requests (RFC 3261 §12.2.1.1).
    pub fn local_contact(&self) -> &str {
        &self.local_contact
    }

    /// Replaces our Contact, e.g. after a local address change (RFC 3261 §12.2.1.1).
    pub fn set_local_contact(&mut self, contact: &str) {
        contact.clone_into(&mut self.local_contact);
    }

    /// Where stateless messages of this dialog go: the flow the caller chose (RFC 3261 §18).
    pub fn peer(&self) -> Dest {
        self.peer
    }

    /// Overrides the peer, e.g. with the NAT flow the B2BUA knows (RFC 3261 §18, RFC 5626).
    pub fn set_peer(&mut self, peer: Dest) {
        self.peer = peer;
    }

    /// The URI of the first hop of in-dialog requests (RFC 3261 §8.1.2, §12.2.1.1).
    pub fn next_hop_uri(&self) -> &str {
        super::route::next_hop_uri(&self.route_set, &self.remote_target)
    }

    /// Builds a request inside the dialog (RFC 3261 §12.2.1.1): Request-URI and Route from the
    /// route set and remote target, To/From with tags, Call-ID, CSeq one above the last,
    /// Max-Forwards 70, Contact for target refreshes, and `via` as top Via when given. Sending a
    /// BYE terminates the dialog (RFC 3261 §15.1.1). ACK and CANCEL are built elsewhere
    /// ([`Dialog::ack_for_2xx`], RFC 3261 §9.1).
    pub fn new_request(
        &mut self,
        method: Method,
        via: Option<&str>,
    ) -> Result<Message, DialogError> {
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(DialogError::NotAllowed(
                "ACK/CANCEL reuse the INVITE's CSeq",
            ));
        }
        let seq = self
            .local_cseq
            .checked_add(1)
            .filter(|n| *n < 1 << 31)
            .ok_or(DialogError::NotAllowed("CSeq space exhausted"))?;
        self.local_cseq = seq;
        let refresh = is_target_refresh(&method);
        let (is_invite, is_bye) = (method == Method::Invite, method == Method::Bye);
        let msg = self.build(method, seq, via, refresh);
        if refresh {
            self.refresh_cseq = Some(seq);
        }
        if is_invite {
            self.invite_out = Some(seq);
        }
        if is_bye {
            self.terminate(TerminateReason::ByeSent);
        }
        Ok(msg)
    }

    /// Builds the ACK for a 2xx to our INVITE `cseq` (RFC 3261 §13.2.2.4): like any in-dialog
    /// request but with the INVITE's CSeq number, no Contact, `via` as top Via and `body` (with
    /// its content type) when the 2xx carried an offer. The dialog keeps it and re-sends the
    /// same ACK for retransmissions of that 2xx.
    pub fn ack_for_2xx(&mut self, cseq: u32, via: &str, body: Option<(Bytes, &str)>) -> Message {
        let mut ack = self.build(Method::Ack, cseq, Some(via), false);
        if let Some((body, content_type)) = body {
            ack.set_body(body, Some(content_type));
        }
        self.ack = Some((cseq, ack.to_bytes()));
        ack
    }

    /// The ACK kept for 2xx retransmissions of INVITE `cseq`, if built (RFC 3261 §13.2.2.4).
    pub fn ack_for(&self, cseq: u32) -> Option<&Bytes> {
        self.ack.as_ref().filter(|a| a.0 == cseq).map(|a| &a.1)
    }

    /// A response to in-dialog or dialog-creating request `req` (RFC 3261 §12.1.1, §8.2.6): our
    /// To tag, the request's Record-Route, and our Contact on 101–299 answers to target
    /// refreshes and dialog-creating requests.
    pub fn response(&self, req: &Message, status: u16, reason: &str) -> Message {
        let mut rsp = Message::response_to(req, status, reason);
        if req.to().is_some_and(|t| t.tag().is_none()) {
            rsp.set_header(HeaderName::To, self.local_party.clone());
        }
        let method = req.method();
        if (101..300).contains(&status)
            && method.is_some_and(|m| m.creates_dialog() || is_target_refresh(m))
        {
            for rr in req.headers_named(&HeaderName::RecordRoute) {
                rsp.insert_header(
                    rsp.headers().len().saturating_sub(1),
                    HeaderName::RecordRoute,
                    rr.value().to_owned(),
                );
            }
            rsp.insert_header(
                rsp.headers().len().saturating_sub(1),
                HeaderName::Contact,
                self.local_contact.clone(),
            );
        }
        rsp
    }

    /// Examines a request received in this dialog (RFC 3261 §12.2.2): ACKs stop 2xx
    /// retransmission; other requests must carry a CSeq above the remote CSeq (an equal one is a
    /// new transaction reusing a number, since the transaction layer absorbs retransmissions, and
    /// is refused too); target refreshes update the remote target; BYE terminates (§15.1.2).
    pub fn on_request(&mut self, req: &Message, out: &mut Vec<DialogOutput>) -> RequestVerdict {
        let Some(method) = req.method() else {
            return reject(400, "Not A Request", false);
        };
        let Some(seq) = req.cseq().map(|c| c.seq) else {
            return reject(400, "Bad CSeq", false);
        };
        if *method == Method::Ack {
            self.on_ack(req, seq, out);
            return RequestVerdict::AckAbsorbed;
        }
        if self.state == DialogState::Terminated {
            return reject(481, "Call/Transaction Does Not Exist", false);
        }
        if *method == Method::Cancel {
            // CANCEL carries the INVITE's number and is handled by the transaction layer (§9.2).
            return RequestVerdict::Accept;
        }
        if self.remote_cseq.is_some_and(|r| seq <= r) {
            return reject(500, "CSeq Out Of Order", false);
        }
        self.remote_cseq = Some(seq);
        if *method == Method::Prack {
            if !self.prack_matches(req) {
                // RFC 3262 §3: a PRACK for no unacknowledged reliable provisional gets 481.
                return reject(481, "No Matching Reliable Provisional", false);
            }
            self.unacked = None;
        }
        if *method == Method::Invite {
            if self.invite_in.is_some() {
                return reject(500, "Previous INVITE Pending", true);
            }
            if self.invite_out.is_some() {
                return reject(491, "Request Pending", false);
            }
            self.invite_in = Some(seq);
        }
        if is_target_refresh(method) {
            self.refresh_target(req, out);
        }
        if *method == Method::Bye {
            self.terminate(TerminateReason::ByeReceived);
        }
        RequestVerdict::Accept
    }

    /// Tells the dialog about a response we sent to a request in it (RFC 3261 §13.3.1.4): a
    /// final answer clears the pending INVITE; a 2xx to INVITE confirms an early dialog and starts
    /// its retransmission at `now` + T1, doubling up to T2, until ACK or 64*T1; a non-2xx final
    /// to the dialog-creating INVITE ends an early dialog (§12.3). A reliable provisional
    /// ([`reliable_rseq`]) is retransmitted at `now` + T1, doubling without cap, until its PRACK,
    /// a final response or 64*T1 (RFC 3262 §3).
    pub fn on_response_sent(
        &mut self,
        now: Instant,
        rsp: &Message,
        timers: TimerConfig,
        out: &mut Vec<DialogOutput>,
    ) {
        let (Some(status), Some(cseq)) = (rsp.status(), rsp.cseq()) else {
            return;
        };
        if cseq.method() != Some(Method::Invite) {
            return;
        }
        if status < 200 {
            if let (Some(rseq), Role::Uas) = (reliable_rseq(rsp), self.role) {
                self.unacked = Some(Box::new(Unacked {
                    rseq,
                    retransmit: Some(Retransmit {
                        cseq: cseq.seq,
                        bytes: rsp.to_bytes(),
                        next: now + timers.t1,
                        interval: timers.t1,
                        t2: Duration::MAX,
                        give_up: now + timers.t1_x64(),
                    }),
                }));
            }
            return;
        }
        if self.invite_in == Some(cseq.seq) {
            self.invite_in = None;
        }
        if let Some(u) = self.unacked.as_mut() {
            // RFC 3262 §3: no more retransmissions once final, but a late PRACK still matches.
            u.retransmit = None;
        }
        if (200..300).contains(&status) {
            self.confirm(out);
            self.retransmit = Some(Box::new(Retransmit {
                cseq: cseq.seq,
                bytes: rsp.to_bytes(),
                next: now + timers.t1,
                interval: timers.t1,
                t2: timers.t2,
                give_up: now + timers.t1_x64(),
            }));
        } else if self.state == DialogState::Early && cseq.seq == self.initial_cseq {
            self.terminate(TerminateReason::Rejected);
        }
    }

    /// Feeds a response to a request we sent in this dialog, including every 2xx retransmission
    /// (RFC 3261 §12.2.1.2, §13.2.2.4): a 2xx confirms an early dialog and recomputes its route
    /// set, refreshes the target when it answers our latest target refresh, and for INVITE
    /// re-sends the kept ACK or asks for one; 481 and 408 end the dialog.
    pub fn on_response(&mut self, rsp: &Message, out: &mut Vec<DialogOutput>) {
        let (Some(status), Some(cseq)) = (rsp.status(), rsp.cseq()) else {
            return;
        };
        let (seq, method) = (cseq.seq, cseq.method());
        let is_invite = method == Some(Method::Invite);
        if is_invite && status >= 200 && self.invite_out == Some(seq) {
            self.invite_out = None;
        }
        match status {
            101..=199 if self.state == DialogState::Early && seq == self.initial_cseq => {
                // RFC 6141 §3.1 / common practice: a provisional may move the early target.
                self.refresh_target(rsp, out);
            }
            200..=299 => {
                // Only a 2xx to the dialog-creating request confirms an early dialog: a 200 to the
                // CANCEL of that INVITE carries the same CSeq number and To tag but must not.
                let creating =
                    seq == self.initial_cseq && method.as_ref().is_some_and(Method::creates_dialog);
                if self.state == DialogState::Early && creating {
                    if self.role == Role::Uac {
                        self.route_set = RouteSet::for_uac(rsp);
                    }
                    self.confirm(out);
                }
                if method.as_ref().is_some_and(is_target_refresh) && self.refresh_cseq == Some(seq)
                {
                    self.refresh_target(rsp, out);
                }
                if is_invite {
                    match self.ack_for(seq) {
                        Some(ack) => out.push(DialogOutput::Send {
                            bytes: ack.clone(),
                            dest: self.peer,
                        }),
                        None => self.event(out, DialogEvent::AckNeeded { cseq: seq }),
                    }
                }
            }
            408 | 481 => self.terminate(TerminateReason::Gone),
            300..=699
                if is_invite && self.state == DialogState::Early && seq == self.initial_cseq =>
            {
                self.terminate(TerminateReason::Rejected);
            }
            _ => {}
        }
    }

    /// Ends the dialog for `reason` and stops any 2xx retransmission (RFC 3261 §12.3).
    pub fn terminate(&mut self, reason: TerminateReason) {
        if self.state != DialogState::Terminated {
            self.state = DialogState::Terminated;
            self.ended = Some(reason);
        }
        self.retransmit = None;
        self.unacked = None;
    }

    /// When [`Dialog::on_timer`] must next run: the next 2xx or reliable provisional
    /// retransmission, or its 64*T1 limit (RFC 3261 §13.3.1.4, RFC 3262 §3).
    pub fn next_deadline(&self) -> Option<Instant> {
        let provisional = self
            .unacked
            .as_ref()
            .and_then(|u| u.retransmit.as_ref())
            .map(Retransmit::deadline);
        let final_2xx = self.retransmit.as_deref().map(Retransmit::deadline);
        [provisional, final_2xx].into_iter().flatten().min()
    }

    /// Runs the retransmission timers at `now` (RFC 3261 §13.3.1.4, RFC 3262 §3): at 64*T1
    /// reports [`DialogEvent::NoAck`] (2xx) or [`DialogEvent::NoPrack`] (reliable provisional)
    /// and stops; before that re-sends the response and doubles the interval, capped at T2 for
    /// a 2xx only.
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<DialogOutput>) {
        if let Some(u) = self.unacked.as_mut() {
            if let Some(r) = u.retransmit.as_mut() {
                match r.tick(now) {
                    Ok(Some(bytes)) => out.push(DialogOutput::Send {
                        bytes,
                        dest: self.peer,
                    }),
                    Ok(None) => {}
                    Err(_) => {
                        u.retransmit = None;
                        let rseq = u.rseq;
                        self.event(out, DialogEvent::NoPrack { rseq });
                    }
                }
            }
        }
        if let Some(r) = self.retransmit.as_mut() {
            match r.tick(now) {
                Ok(Some(bytes)) => out.push(DialogOutput::Send {
                    bytes,
                    dest: self.peer,
                }),
                Ok(None) => {}
                Err(cseq) => {
                    self.retransmit = None;
                    self.event(out, DialogEvent::NoAck { cseq });
                }
            }
        }
    }

    /// The RSeq of the reliable provisional still waiting for its PRACK, if any (RFC 3262 §3).
    pub fn unacked_rseq(&self) -> Option<u32> {
        self.unacked.as_ref().map(|u| u.rseq)
    }

    /// Whether a 2xx is being retransmitted while waiting for its ACK (RFC 3261 §13.3.1.4).
    pub fn awaiting_ack(&self) -> bool {
        self.retransmit.is_some()
    }

    fn on_ack(&mut self, ack: &Message, seq: u32, out: &mut Vec<DialogOutput>) {
        if self.retransmit.as_ref().is_some_and(|r| r.cseq == seq) {
            self.retransmit = None;
            self.acked_cseq = Some(seq);
            self.event(out, DialogEvent::Acked { ack: ack.clone() });
        }
        // Otherwise a retransmitted ACK (acked_cseq) or a stale one: nothing to do (§13.3.1.4).
    }

    /// Whether `prack`'s RAck names our unacknowledged reliable provisional to the INVITE
    /// that created the dialog (RFC 3262 §3, §7.2).
    fn prack_matches(&self, prack: &Message) -> bool {
        match (prack.rack(), &self.unacked) {
            (Some(rack), Some(u)) => {
                rack.rseq == u.rseq
                    && rack.cseq == self.initial_cseq
                    && rack.method.eq_ignore_ascii_case("INVITE")
            }
            _ => false,
        }
    }

    fn confirm(&mut self, out: &mut Vec<DialogOutput>) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
            self.event(out, DialogEvent::Confirmed);
        }
    }

    fn refresh_target(&mut self, msg: &Message, out: &mut Vec<DialogOutput>) {
        if let Some(target) = contact_uri(msg) {
            if target != self.remote_target {
                self.remote_target.clone_from(&target);
                self.event(out, DialogEvent::TargetRefreshed { target });
            }
        }
    }

    fn event(&self, out: &mut Vec<DialogOutput>, event: DialogEvent) {
        out.push(DialogOutput::Event {
            id: self.id.clone(),
            event,
        });
    }

    /// The common part of every request we send in the dialog (RFC 3261 §12.2.1.1).
    fn build(&self, method: Method, seq: u32, via: Option<&str>, contact: bool) -> Message {
        let target = self.route_set.target(&self.remote_target);
        let mut cseq = String::with_capacity(24);
        crate::stack::hostport::push_u64(&mut cseq, u64::from(seq));
        cseq.push(' ');
        cseq.push_str(method.as_str());
        let mut msg = Message::request(method, target.request_uri);
        if let Some(via) = via {
            msg.push_header(HeaderName::Via, via.to_owned());
        }
        msg.push_header(HeaderName::MaxForwards, "70");
        for route in target.routes {
            msg.push_header(HeaderName::Route, route);
        }
        msg.push_header(HeaderName::To, self.remote_party.clone());
        msg.push_header(HeaderName::From, self.local_party.clone());
        msg.push_header(HeaderName::CallId, self.id.call_id.as_str());
        msg.push_header(HeaderName::CSeq, cseq);
        if contact {
            msg.push_header(HeaderName::Contact, self.local_contact.clone());
        }
        msg.set_body(Bytes::new(), None);
        msg
    }
}

fn reject(status: u16, reason: &'static str, retry_after: bool) -> RequestVerdict {
    RequestVerdict::Reject {
        status,
        reason,
        retry_after,
    }
}
