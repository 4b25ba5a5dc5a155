//! Requests outside any call: out-of-dialog MESSAGE (RFC 3428) and PUBLISH (RFC 3903) relayed
//! as one transaction each, and SUBSCRIBE (RFC 6665) creating a subscription dialog on each
//! leg, with the same topology hiding as calls (RFC 5853 §3.1).
//!
//! Each request is routed with the call [`Router`] (never by its Request-URI host; 404 when no
//! route matches) and re-originated on leg B with a fresh Call-ID, From tag, branch and CSeq,
//! the SBC's Via (and Contact for SUBSCRIBE), the whitelisted headers, the body with its
//! Content-Type, and the headers the method needs: Event and Expires, SIP-If-Match for PUBLISH.
//! Leg B's final answer goes back to the original transaction with a To tag, a PUBLISH's
//! SIP-ETag, Expires, Min-Expires and Allow-Events crossing; 408 when leg B never answers.
//!
//! A SUBSCRIBE's 2xx creates the UAC dialog on leg B and the UAS dialog on leg A (the SBC's
//! Contact in the 2xx). NOTIFYs from B and re-SUBSCRIBEs from A (Expires: 0 included) are
//! relayed in the other leg's dialog with Event, Subscription-State and Expires, and their
//! answers come back. A subscription ends, both dialogs with it, once a NOTIFY with
//! Subscription-State: terminated has been answered, when a relayed request in it fails (408,
//! 481 or no answer), or, forgotten silently, 32 s after its last granted expiry.
//!
//! A NOTIFY that overtakes the SUBSCRIBE's 2xx (RFC 6665 §4.1.2.4, possible over UDP) creates
//! both dialogs as the 2xx would and is relayed at once; the 2xx then finds them in place.
//!
//! An out-of-dialog request fails over through its targets like an INVITE: a final status in
//! the current target's `failover_on` (408 for a timeout) sends it, with a fresh Call-ID, to
//! the next one; forwarding and redirects are not followed.
//!
//! Limitations: a forked SUBSCRIBE keeps only the
//! first dialog (a NOTIFY from a second notifier gets 481); an expired subscription is
//! forgotten without a NOTIFY to the subscriber.

use super::{B2bua, TxRole};
use crate::call::headers::{contact, contact_answering, via};
use crate::call::{CallKey, Leg, MediaAnchor, Route, Router, Side, Target};
use crate::stack::dialog::{Dialog, DialogEvent, DialogId, ResponseOutcome, TerminateReason};
use crate::stack::ids::CallId;
use crate::stack::transaction::{Dest, TxId};
use crate::Map;
use sbc_common::sip::{HeaderName, Message, Method};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Headers of an out-of-dialog request that cross whatever the whitelist says: the event
/// package, the lifetime and the entity tag it refreshes (RFC 6665 §8.2, RFC 3903 §11).
const REQUEST_HEADERS: &[HeaderName] = &[
    HeaderName::Event,
    HeaderName::Expires,
    HeaderName::SipIfMatch,
];

/// Headers of the far side's answer that cross back: the lifetime granted, the entity tag, and
/// what a 423 or 489 asks for (RFC 3903 §11.3, RFC 3261 §21.4.17, RFC 6665 §8.2.2).
const ANSWER_HEADERS: &[HeaderName] = &[
    HeaderName::Expires,
    HeaderName::SipETag,
    HeaderName::MinExpires,
    HeaderName::AllowEvents,
];

/// Headers of in-subscription SUBSCRIBE and NOTIFY requests that cross (RFC 6665 §8.2).
const EVENT_HEADERS: &[HeaderName] = &[
    HeaderName::Event,
    HeaderName::SubscriptionState,
    HeaderName::Expires,
];

/// How long a subscription is kept beyond its granted expiry before it is forgotten (64*T1,
/// like RFC 6665 §4.1.2.4's Timer N).
const EXPIRY_GRACE: Duration = Duration::from_secs(32);

/// The expiry assumed when neither the SUBSCRIBE nor its 2xx names one (RFC 6665 §4.1.2.1
/// leaves the default to the event package; an hour is the common one).
const DEFAULT_EXPIRES_S: u32 = 3600;

/// What a relayed request's answer goes back to.
#[derive(Debug)]
enum Kind {
    /// An out-of-dialog MESSAGE or PUBLISH, sent on leg B with this Call-ID.
    Standalone { b_call_id: String },
    /// The SUBSCRIBE that creates subscription `key`.
    Creating(CallKey),
    /// A request inside subscription `key` from leg `from`; `terminates` for a NOTIFY with
    /// Subscription-State: terminated.
    InDialog {
        key: CallKey,
        from: Leg,
        terminates: bool,
    },
}

/// A request relayed to the far leg, waiting for its final answer.
#[derive(Debug)]
struct Pending {
    server: TxId,
    request: Message,
    kind: Kind,
    /// The finals that move an out-of-dialog request to its next target, and those targets
    /// (RFC 3261 §16.6, §16.7).
    failover_on: Vec<u16>,
    rest: Vec<Target>,
}

/// One subscription: its two dialogs (leg A UAS, leg B UAC) once the 2xx came (RFC 6665 §4).
#[derive(Debug)]
struct Subscription {
    sides: [Side; 2],
    /// Where each leg's requests go: A's latest source flow, B's next hop.
    peers: [Dest; 2],
    a_request: Message,
    a_tag: String,
    b_request: Message,
    dialogs: [Option<DialogId>; 2],
    expires_at: Option<Instant>,
}

/// The core's out-of-dialog and subscription state (RFC 3428, RFC 3903, RFC 6665).
#[derive(Debug, Default)]
pub(super) struct NonDialog {
    pending: Map<TxId, Pending>,
    subs: Map<CallKey, Subscription>,
    by_dialog: Map<DialogId, (CallKey, Leg)>,
    /// Leg B's Call-IDs: a SUBSCRIBE's, for a NOTIFY that overtakes the 2xx, and every
    /// request still waiting for its answer, to spot one coming back to us (a routing loop).
    by_b_call: Map<CallId, CallKey>,
    /// Subscription expiries, lazily deleted (a refreshed one is skipped).
    expiries: BinaryHeap<Reverse<(Instant, CallKey)>>,
}

impl NonDialog {
    /// Entries in the pending, subscription and index tables together.
    pub(super) fn len(&self) -> usize {
        self.pending.len() + self.subs.len() + self.by_dialog.len() + self.by_b_call.len()
    }

    /// Entries in the expiry queue, stale ones included.
    pub(super) fn queued(&self) -> usize {
        self.expiries.len()
    }

    /// When the next subscription may expire.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.expiries.peek().map(|r| r.0 .0)
    }
}

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// How many subscriptions are live, each with a dialog on both legs once answered
    /// (RFC 6665 §4).
    pub fn subscription_count(&self) -> usize {
        self.nondialog.subs.len()
    }

    /// An out-of-dialog MESSAGE, PUBLISH or SUBSCRIBE from `source`: checked, routed and
    /// re-originated on leg B (RFC 3428 §7, RFC 3903 §6, RFC 6665 §4.1.1).
    pub(super) fn on_out_of_dialog(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Message,
        source: Dest,
        preset: Option<Vec<Target>>,
    ) {
        let Some(method) = req.method().cloned() else {
            return;
        };
        let max_forwards = req.max_forwards().unwrap_or(70);
        if max_forwards == 0 {
            return self.reply(now, tx, &req, 483, "Too Many Hops");
        }
        if req.from().is_none() || req.to().is_none() {
            return self.reply(now, tx, &req, 400, "Missing From or To");
        }
        let looped = req.call_id().is_some_and(|id| {
            self.nondialog.by_b_call.contains_key(id) || self.b_call_ids.contains_key(id)
        });
        if looped {
            // One of our own leg-B requests came back: the routes form a loop (RFC 3261 §16.3
            // item 4).
            return self.reply(now, tx, &req, 482, "Loop Detected");
        }
        let subscribe = method == Method::Subscribe;
        if subscribe && req.contacts().next().is_none() {
            return self.reply(now, tx, &req, 400, "Missing Contact");
        }
        if method != Method::Message && req.header(&HeaderName::Event).is_none() {
            // RFC 6665 §8.2.1, RFC 3903 §4: Event is mandatory.
            return self.reply(now, tx, &req, 400, "Missing Event Header");
        }
        let routed = match preset.filter(|t| !t.is_empty()) {
            Some(t) => Ok(t),
            None => self.router.targets(&req, source),
        };
        let targets = match routed {
            Ok(t) => t,
            Err(rej) => return self.reply(now, tx, &req, rej.code, rej.reason),
        };
        let mut targets = targets.into_iter();
        let Some(Target {
            route, failover_on, ..
        }) = targets.next()
        else {
            return self.reply(now, tx, &req, 404, "Not Found");
        };
        let out = self.build_b_request(&req, &method, &route, max_forwards - 1);
        let Ok(client) = self.tx.send_request(now, out.clone(), route.next_hop) else {
            return self.reply(now, tx, &req, 500, "Server Internal Error");
        };
        let key = CallKey(self.next_call);
        self.next_call += 1;
        self.by_tx.insert(client, (key, TxRole::NonDialog));
        let b_call_id = out.call_id().map(str::to_owned);
        if let Some(id) = &b_call_id {
            self.nondialog.by_b_call.insert(id.as_str().into(), key);
        }
        let kind = if subscribe {
            let a_tag = self.ids.tag();
            self.nondialog.subs.insert(
                key,
                Subscription {
                    sides: [route.a_side, route.b_side],
                    peers: [source, route.next_hop],
                    a_request: req.clone(),
                    a_tag,
                    b_request: out,
                    dialogs: [None, None],
                    expires_at: None,
                },
            );
            Kind::Creating(key)
        } else {
            Kind::Standalone {
                b_call_id: b_call_id.unwrap_or_default(),
            }
        };
        self.nondialog.pending.insert(
            client,
            Pending {
                server: tx,
                request: req,
                kind,
                failover_on,
                rest: targets.collect(),
            },
        );
    }

    /// Leg B's copy of out-of-dialog request `req`: fresh Call-ID, tag, branch and CSeq, the
    /// SBC's Via (and Contact for SUBSCRIBE), From/To users on the SBC's and the next hop's
    /// host, whitelisted and method headers, the body (RFC 3261 §8.1.1, RFC 5853 §3.1).
    fn build_b_request(
        &mut self,
        req: &Message,
        method: &Method,
        route: &Route,
        max_forwards: u32,
    ) -> Message {
        let mut msg = self.b_request_head(req, method, route, max_forwards);
        let b = &route.b_side;
        if *method == Method::Subscribe {
            msg.push_header(HeaderName::Contact, contact(b));
        }
        self.cfg.headers.copy(req, &mut msg);
        cross(req, &mut msg, REQUEST_HEADERS);
        copy_body(req, &mut msg);
        msg
    }

    /// A response on a client transaction of this module: finals go back to the request they
    /// relay (RFC 3428 §7, RFC 3903 §6, RFC 6665 §4.1.2.1).
    pub(super) fn on_non_dialog_response(&mut self, now: Instant, tx: TxId, rsp: &Message) {
        if rsp.status().is_some_and(|s| s >= 200) {
            self.answer_pending(now, tx, Some(rsp));
        }
    }

    /// Leg B never answered, or its transport failed: 408 goes back (RFC 3261 §17.1.2.2).
    pub(super) fn on_non_dialog_failure(&mut self, now: Instant, tx: TxId) {
        self.answer_pending(now, tx, None);
    }

    /// Answers the request relayed on client transaction `client` with `rsp`, or 408 without
    /// one.
    fn answer_pending(&mut self, now: Instant, client: TxId, rsp: Option<&Message>) {
        let Some(mut pending) = self.nondialog.pending.remove(&client) else {
            return;
        };
        let (code, reason) = rsp
            .and_then(|r| Some((r.status()?, r.reason().unwrap_or_default().to_owned())))
            .unwrap_or_else(|| (408, "Request Timeout".to_owned()));
        if let Some(next) = self.next_attempt(now, client, &mut pending, code) {
            self.nondialog.pending.insert(next, pending);
            return;
        }
        let Pending {
            server,
            request,
            kind,
            ..
        } = pending;
        match kind {
            Kind::Standalone { b_call_id } => {
                self.nondialog.by_b_call.remove(b_call_id.as_str());
                let mut out = self.tagged_response(&request, code, &reason);
                if let Some(r) = rsp {
                    self.cfg.headers.copy(r, &mut out);
                    cross(r, &mut out, ANSWER_HEADERS);
                    copy_body(r, &mut out);
                }
                let _ = self.tx.send_response(now, server, &out);
            }
            Kind::Creating(key) => self.answer_subscribe(now, key, server, &request, rsp, code),
            Kind::InDialog {
                key,
                from,
                terminates,
            } => {
                if let Some(r) = rsp {
                    // A 2xx refreshes the far leg's target, a 481/408 ends its dialog.
                    let _ = self.dialogs.handle_response(r);
                }
                let mut out = Message::response_to(&request, code, &reason);
                if let Some(r) = rsp {
                    self.cfg.headers.copy(r, &mut out);
                    cross(r, &mut out, ANSWER_HEADERS);
                    copy_body(r, &mut out);
                }
                let ok = (200..300).contains(&code);
                if ok && request.method() == Some(&Method::Subscribe) {
                    if let Some(sub) = self.nondialog.subs.get(&key) {
                        out.set_header(HeaderName::Contact, contact(&sub.sides[from.index()]));
                    }
                    self.arm_expiry(now, key, &request, rsp);
                }
                let _ = self.tx.send_response(now, server, &out);
                if terminates || matches!(code, 408 | 481) {
                    // RFC 6665 §4.1.2.3, §4.2.2: the subscription is over once the terminating
                    // NOTIFY is answered, or when a request in it times out or finds no
                    // subscription; other failures are relayed and the subscription stays.
                    self.end_subscription(key);
                }
            }
        }
    }

    /// Sends the out-of-dialog request of `p`, whose attempt on `client` failed with `code`, to
    /// its next target when its current one fails over on that code (RFC 3261 §16.6, §16.7; a
    /// timeout counts as 408); the new client transaction, or `None` to answer with `code`.
    fn next_attempt(
        &mut self,
        now: Instant,
        client: TxId,
        p: &mut Pending,
        code: u16,
    ) -> Option<TxId> {
        if matches!(p.kind, Kind::InDialog { .. }) || !p.failover_on.contains(&code) {
            return None;
        }
        let key = self.by_tx.get(&client).map(|(k, _)| *k)?;
        let method = p.request.method()?.clone();
        let max_forwards = p.request.max_forwards().unwrap_or(70).saturating_sub(1);
        while !p.rest.is_empty() {
            let target = p.rest.remove(0);
            let route = target.route;
            let out = self.build_b_request(&p.request, &method, &route, max_forwards);
            let Ok(next) = self.tx.send_request(now, out.clone(), route.next_hop) else {
                continue;
            };
            self.by_tx.insert(next, (key, TxRole::NonDialog));
            let new_id = out.call_id().unwrap_or_default().to_owned();
            self.nondialog.by_b_call.insert(new_id.as_str().into(), key);
            match &mut p.kind {
                Kind::Standalone { b_call_id } => {
                    self.nondialog.by_b_call.remove(b_call_id.as_str());
                    *b_call_id = new_id;
                }
                Kind::Creating(key) => {
                    if let Some(sub) = self.nondialog.subs.get_mut(key) {
                        if let Some(old) = sub.b_request.call_id() {
                            self.nondialog.by_b_call.remove(old);
                        }
                        sub.sides = [route.a_side, route.b_side];
                        sub.peers[Leg::B.index()] = route.next_hop;
                        sub.b_request = out;
                    }
                }
                Kind::InDialog { .. } => {}
            }
            p.failover_on = target.failover_on;
            return Some(next);
        }
        None
    }

    /// The final answer to the SUBSCRIBE that creates subscription `key`: a 2xx creates leg
    /// B's UAC and leg A's UAS dialog and goes to A with the SBC's Contact; anything else ends
    /// the subscription (RFC 6665 §4.1.2.1, RFC 3261 §12.1).
    fn answer_subscribe(
        &mut self,
        now: Instant,
        key: CallKey,
        server: TxId,
        request: &Message,
        rsp: Option<&Message>,
        code: u16,
    ) {
        let mut reason = rsp.and_then(Message::reason).unwrap_or("Request Timeout");
        let mut code = code;
        let created = match rsp.filter(|_| (200..300).contains(&code)) {
            Some(r) => self.create_sub_dialogs(key, r),
            None => None,
        };
        if (200..300).contains(&code) && created.is_none() {
            // A 2xx that cannot make a dialog (no To tag or Contact; RFC 6665 §4.1.2.1).
            (code, reason) = (502, "Bad Gateway: Unusable 2xx To SUBSCRIBE");
        }
        let Some(sub) = self.nondialog.subs.get(&key) else {
            return;
        };
        let mut out = match created
            .as_ref()
            .and_then(|(a, _)| self.dialogs.get(a))
            .map(|d| d.response(request, code, reason))
        {
            Some(out) => out,
            None => {
                let mut out = Message::response_to(request, code, reason);
                if let Some(to) = request.header(&HeaderName::To) {
                    out.set_header(HeaderName::To, format!("{to};tag={}", sub.a_tag));
                }
                out
            }
        };
        if let Some(r) = rsp.filter(|r| r.status() == Some(code)) {
            self.cfg.headers.copy(r, &mut out);
            cross(r, &mut out, ANSWER_HEADERS);
            copy_body(r, &mut out);
        }
        let _ = self.tx.send_response(now, server, &out);
        if created.is_some() {
            self.arm_expiry(now, key, request, rsp);
        } else {
            self.end_subscription(key);
        }
    }

    /// Leg B's dialog from its 2xx, then leg A's for the SUBSCRIBE A sent (RFC 3261 §12.1.1,
    /// §12.1.2).
    fn create_sub_dialogs(&mut self, key: CallKey, rsp: &Message) -> Option<(DialogId, DialogId)> {
        let sub = self.nondialog.subs.get_mut(&key)?;
        let outcome =
            self.dialogs
                .handle_creating_response(&sub.b_request, rsp, sub.peers[Leg::B.index()]);
        let Ok(ResponseOutcome::Created(b_id) | ResponseOutcome::Matched(b_id)) = outcome else {
            return None;
        };
        if let [Some(a_id), Some(_)] = &sub.dialogs {
            // A NOTIFY that overtook this 2xx created both dialogs already.
            return Some((a_id.clone(), b_id));
        }
        let a = Dialog::uas_from_request(
            &sub.a_request,
            &sub.a_tag,
            &contact_answering(&sub.sides[Leg::A.index()], &sub.a_request),
            self.ids.cseq(),
            sub.peers[Leg::A.index()],
            200,
        );
        let Some(a_id) = a.ok().and_then(|d| self.dialogs.insert(d).ok()) else {
            let _ = self.dialogs.terminate(&b_id, TerminateReason::Local);
            return None;
        };
        sub.dialogs = [Some(a_id.clone()), Some(b_id.clone())];
        self.nondialog.by_dialog.insert(a_id.clone(), (key, Leg::A));
        self.nondialog.by_dialog.insert(b_id.clone(), (key, Leg::B));
        Some((a_id, b_id))
    }

    /// A NOTIFY in no known dialog that answers a SUBSCRIBE whose 2xx has not arrived yet
    /// (its Call-ID and To tag are leg B's SUBSCRIBE's): it creates leg B's dialog as the 2xx
    /// would, and leg A's with it, so it can be relayed (RFC 6665 §4.1.2.4); `false` when it
    /// answers no such SUBSCRIBE.
    pub(super) fn notify_before_answer(&mut self, req: &Message) -> bool {
        if req.method() != Some(&Method::Notify) {
            return false;
        }
        let Some(&key) = req.call_id().and_then(|c| self.nondialog.by_b_call.get(c)) else {
            return false;
        };
        let Some(sub) = self.nondialog.subs.get(&key) else {
            return false;
        };
        let ours = sub.b_request.from().and_then(|f| f.tag());
        if sub.dialogs[Leg::B.index()].is_some() || req.to().and_then(|t| t.tag()) != ours {
            return false;
        }
        // The dialog the 2xx would have created: the notifier's tag and Contact, and its
        // Record-Route reversed as a UAC reads a response's (RFC 3261 §12.1.2).
        let mut as_2xx = Message::response_to(&sub.b_request, 200, "OK");
        if let Some(from) = req.header(&HeaderName::From) {
            as_2xx.set_header(HeaderName::To, from.to_owned());
        }
        for c in req.values(&HeaderName::Contact) {
            as_2xx.push_header(HeaderName::Contact, c.to_owned());
        }
        let rr: Vec<String> = req
            .values(&HeaderName::RecordRoute)
            .map(str::to_owned)
            .collect();
        for r in rr.into_iter().rev() {
            as_2xx.push_header(HeaderName::RecordRoute, r);
        }
        self.create_sub_dialogs(key, &as_2xx).is_some()
    }

    /// Keeps subscription `key` until the expiry its SUBSCRIBE `req` was granted in `rsp` (or
    /// asked for) plus a grace period (RFC 6665 §4.1.2.1).
    fn arm_expiry(&mut self, now: Instant, key: CallKey, req: &Message, rsp: Option<&Message>) {
        let secs = rsp
            .and_then(Message::expires)
            .or_else(|| req.expires())
            .unwrap_or(DEFAULT_EXPIRES_S);
        let at = now + Duration::from_secs(u64::from(secs)) + EXPIRY_GRACE;
        if let Some(sub) = self.nondialog.subs.get_mut(&key) {
            sub.expires_at = Some(at);
            self.nondialog.expiries.push(Reverse((at, key)));
        }
    }

    /// Forgets every subscription whose expiry (plus grace) has passed, with both dialogs
    /// (RFC 6665 §4.1.2.4, §4.2.2).
    pub(super) fn expire_subscriptions(&mut self, now: Instant) {
        while let Some(Reverse((at, key))) = self.nondialog.expiries.peek().copied() {
            if at > now {
                break;
            }
            self.nondialog.expiries.pop();
            let due = self
                .nondialog
                .subs
                .get(&key)
                .is_some_and(|s| s.expires_at == Some(at));
            if due {
                self.end_subscription(key);
            }
        }
    }

    /// Whether dialog `id` is one of a subscription's, not a call's (RFC 6665 §4).
    pub(super) fn is_subscription_dialog(&self, id: &DialogId) -> bool {
        self.nondialog.by_dialog.contains_key(id)
    }

    /// An in-dialog request matching one of a subscription's dialogs: relayed in the other
    /// leg's dialog with its event headers and body (RFC 6665 §4.1.2.2, §4.2.1, §4.2.2);
    /// call only for a dialog [`B2bua::is_subscription_dialog`] owns.
    pub(super) fn on_subscription_request(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Message,
        id: &DialogId,
        source: Dest,
    ) {
        let Some(&(key, leg)) = self.nondialog.by_dialog.get(id) else {
            return self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
        };
        let Some(sub) = self.nondialog.subs.get_mut(&key) else {
            return self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
        };
        if leg == Leg::A {
            // Symmetric response routing: later requests follow A's current NAT mapping.
            sub.peers[Leg::A.index()] = source;
            let _ = self.dialogs.set_peer(id, source);
        }
        let method = req.method().cloned();
        let Some(method @ (Method::Subscribe | Method::Notify)) = method else {
            // RFC 3261 §21.4.6: a 405 lists what is allowed.
            let mut rsp = Message::response_to(&req, 405, "Method Not Allowed In Subscription");
            rsp.push_header(HeaderName::Allow, "SUBSCRIBE, NOTIFY");
            let _ = self.tx.send_response(now, tx, &rsp);
            return;
        };
        let other = leg.other();
        let Some(sub) = self.nondialog.subs.get(&key) else {
            return;
        };
        let (Some(other_id), via, dest) = (
            sub.dialogs[other.index()].clone(),
            via(&sub.sides[other.index()], &self.ids.branch()),
            sub.peers[other.index()],
        ) else {
            self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        let Ok(mut out) = self
            .dialogs
            .new_request(&other_id, method.clone(), Some(&via))
        else {
            self.reply(now, tx, &req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        self.cfg.headers.copy(&req, &mut out);
        cross(&req, &mut out, EVENT_HEADERS);
        copy_body(&req, &mut out);
        let Ok(client) = self.tx.send_request(now, out, dest) else {
            self.reply(now, tx, &req, 500, "Server Internal Error");
            return;
        };
        let terminates = method == Method::Notify
            && req.header(&HeaderName::SubscriptionState).is_some_and(|s| {
                s.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("terminated")
            });
        self.by_tx.insert(client, (key, TxRole::NonDialog));
        self.nondialog.pending.insert(
            client,
            Pending {
                server: tx,
                request: req,
                kind: Kind::InDialog {
                    key,
                    from: leg,
                    terminates,
                },
                failover_on: Vec::new(),
                rest: Vec::new(),
            },
        );
    }

    /// A dialog event for a dialog of no call: a subscription dialog that ended takes the
    /// whole subscription with it (RFC 6665 §4.1.2.4).
    pub(super) fn on_subscription_dialog_event(&mut self, id: &DialogId, event: &DialogEvent) {
        if let DialogEvent::Terminated(_) = event {
            if let Some((key, _)) = self.nondialog.by_dialog.remove(id) {
                self.end_subscription(key);
            }
        }
    }

    /// Ends subscription `key`: both dialogs terminated and forgotten (RFC 6665 §4.4.1).
    fn end_subscription(&mut self, key: CallKey) {
        let Some(sub) = self.nondialog.subs.remove(&key) else {
            return;
        };
        if let Some(id) = sub.b_request.call_id() {
            self.nondialog.by_b_call.remove(id);
        }
        for id in sub.dialogs.into_iter().flatten() {
            self.nondialog.by_dialog.remove(&id);
            let _ = self.dialogs.terminate(&id, TerminateReason::Local);
        }
    }
}

/// Copies every `names` header of `from` to `to`, replacing any already there.
fn cross(from: &Message, to: &mut Message, names: &[HeaderName]) {
    for name in names {
        if from.header(name).is_none() {
            continue;
        }
        to.remove_headers(name);
        for v in from.values(name) {
            to.push_header(name.clone(), v.to_owned());
        }
    }
}

/// Copies `from`'s body and its Content-Type to `to` (RFC 3428 §7, RFC 3261 §7.4).
fn copy_body(from: &Message, to: &mut Message) {
    if from.body().is_empty() {
        return;
    }
    let ct = from.header(&HeaderName::ContentType).map(str::to_owned);
    to.set_body(from.body().clone(), ct.as_deref());
}
