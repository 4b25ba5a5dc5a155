//! Leg B's target set: the routes one call may try in turn, and the choice made after each
//! failed attempt: failover to the next route, call forwarding, or following a redirect
//! (RFC 3261 §8.1.3.4, §16.6, §16.7, RFC 5853 §3.1).
//!
//! Every target is a route the [`Router`](super::Router) chose from configuration: a redirect's
//! Contacts are routed like new requests from leg A's side, never sent to the host they name.
//!
//! Targets form groups: a target with [`Target::parallel_with_next`] is sent together with the
//! next one (parallel forking, `engine/fork.rs`); the set moves to the next group once the
//! whole group failed, by the failure rules of the group member that failed last.

use super::{CallKey, Route, Side};
use crate::stack::transaction::{Dest, TxId};
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{Contact, Message};
use std::collections::VecDeque;
use std::time::Duration;

/// Most INVITEs leg B sends for one call, over failover, forwarding and redirects together.
pub const MAX_ATTEMPTS: usize = 16;

/// One route leg B may try, with what to do when it fails (RFC 3261 §16.6, §16.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Where the attempt goes.
    pub route: Route,
    /// The route's name, for logs.
    pub name: String,
    /// Final statuses that move the call to the next target; 408 includes a local timeout.
    pub failover_on: Vec<u16>,
    /// Final statuses that forward the call to `forward` (call-forward busy/unavailable).
    pub forward_codes: Vec<u16>,
    /// Where the call goes on `forward_codes` or no answer, used as is.
    pub forward: Option<Box<Target>>,
    /// How long the attempt may go without a final answer before it is cancelled (and the call
    /// forwarded, or ended with 480).
    pub no_answer: Option<Duration>,
    /// A 3xx to this target is followed while the call has followed fewer redirects than
    /// this; 0 relays every 3xx.
    pub max_redirects: u8,
    /// The next target is tried at the same time as this one, in one parallel fork group;
    /// the group's first 2xx wins and the next group is tried only once every member failed
    /// (RFC 3261 §16.6, §16.7).
    pub parallel_with_next: bool,
}

impl Target {
    /// A target with no failover, forwarding, no-answer limit or redirect following: a 3xx is
    /// relayed to leg A (RFC 3261 §16.7).
    pub fn new(route: Route) -> Self {
        Self {
            route,
            name: String::new(),
            failover_on: Vec::new(),
            forward_codes: Vec::new(),
            forward: None,
            no_answer: None,
            max_redirects: 0,
            parallel_with_next: false,
        }
    }
}

/// How one attempt on leg B ended without an answer (RFC 3261 §17.1.1.2, §21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// A final 4xx–6xx with this status.
    Status(u16),
    /// Timer B or a transport failure: counts as 408 (RFC 3261 §17.1.1.2).
    Timeout,
    /// The target's no-answer time passed.
    NoAnswer,
}

/// A call's targets: the one being tried, the rest of its parallel group, and the ones left
/// (RFC 3261 §16.6).
#[derive(Debug)]
pub(super) struct TargetSet {
    /// `None` once the call is answered ([`TargetSet::settle`]): nothing fails over any more,
    /// and an answered call should not keep a route of ~450 bytes it never reads again.
    current: Option<Box<Target>>,
    /// The current target's parallel group siblings not yet sent (RFC 3261 §16.6).
    group: Vec<Target>,
    pending: VecDeque<Target>,
    /// INVITEs sent so far, bounded by [`MAX_ATTEMPTS`].
    attempts: usize,
    /// Redirects followed so far.
    redirects: u8,
    /// The current attempt's INVITE client transaction.
    pub(super) tx: Option<TxId>,
}

impl TargetSet {
    /// A set trying `targets` in order; `None` when empty.
    pub(super) fn new(targets: Vec<Target>) -> Option<Self> {
        let mut pending = VecDeque::from(targets);
        let current = pending.pop_front()?;
        pending.truncate(MAX_ATTEMPTS - 1);
        // The router's buffer is kept only while it holds targets still to try.
        pending.shrink_to_fit();
        let mut set = Self {
            current: Some(Box::new(current)),
            group: Vec::new(),
            pending,
            attempts: 1,
            redirects: 0,
            tx: None,
        };
        set.take_group();
        Some(set)
    }

    /// Moves the current target's parallel siblings out of the pending ones.
    fn take_group(&mut self) {
        let mut last = self.current.as_ref().is_some_and(|c| c.parallel_with_next);
        while last && self.attempts < MAX_ATTEMPTS {
            let Some(next) = self.pending.pop_front() else {
                break;
            };
            last = next.parallel_with_next;
            self.attempts += 1;
            self.group.push(next);
        }
    }

    /// Forgets the targets not tried: the call was answered, so nothing fails over any more
    /// (RFC 3261 §16.6).
    pub(super) fn settle(&mut self) {
        self.group = Vec::new();
        self.pending = VecDeque::new();
        self.current = None;
    }

    /// Takes the current group's targets still to be sent alongside the current one.
    pub(super) fn take_siblings(&mut self) -> Vec<Target> {
        std::mem::take(&mut self.group)
    }

    /// Makes `target`, a sibling of the current one in its parallel group, current, and
    /// returns the one it replaces (`None` once settled).
    pub(super) fn swap_current(&mut self, target: Target) -> Option<Target> {
        self.current.replace(Box::new(target)).map(|t| *t)
    }

    /// The target of the current attempt; `None` once the call is answered.
    pub(super) fn current(&self) -> Option<&Target> {
        self.current.as_deref()
    }

    /// How many attempts have been made, the current one included: a token for timers that
    /// belong to one attempt.
    pub(super) fn attempt(&self) -> usize {
        self.attempts
    }

    /// Whether a 3xx on the current attempt may be followed: the current target follows
    /// redirects, fewer than its `max_redirects` were followed, and attempts are left.
    pub(super) fn may_follow(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| self.redirects < c.max_redirects)
            && self.attempts < MAX_ATTEMPTS
    }

    /// Follows a redirect to `targets`, the routes of its Contacts in order, which replace the
    /// targets left; `false` (nothing changed) when there are none (RFC 3261 §8.1.3.4).
    pub(super) fn redirect(&mut self, targets: Vec<Target>) -> bool {
        if !self.may_follow() || targets.is_empty() {
            return false;
        }
        self.redirects += 1;
        self.group.clear();
        self.pending = targets.into();
        self.advance()
    }

    /// Moves to the next target after `failure`: the next route when the status is one of the
    /// current target's `failover_on`, else its forward target when the status is one of its
    /// `forward_codes` or nobody answered; `false` when the call should give up (RFC 3261
    /// §16.7).
    pub(super) fn after(&mut self, failure: Failure) -> bool {
        let Some(current) = self
            .current
            .as_mut()
            .filter(|_| self.attempts < MAX_ATTEMPTS)
        else {
            return false;
        };
        let (failover, forward) = match failure {
            Failure::Status(code) => (
                current.failover_on.contains(&code),
                current.forward_codes.contains(&code),
            ),
            Failure::Timeout => (
                current.failover_on.contains(&408),
                current.forward_codes.contains(&408),
            ),
            Failure::NoAnswer => (false, true),
        };
        if failover && !self.pending.is_empty() {
            return self.advance();
        }
        match current.forward.take() {
            Some(next) if forward => {
                self.pending.clear();
                self.pending.push_front(*next);
                self.advance()
            }
            other => {
                current.forward = other;
                false
            }
        }
    }

    /// Makes the first pending target current.
    fn advance(&mut self) -> bool {
        let Some(next) = self.pending.pop_front() else {
            return false;
        };
        self.current = Some(Box::new(next));
        self.attempts += 1;
        self.tx = None;
        self.group.clear();
        self.take_group();
        true
    }
}

/// The Contact URIs of a 3xx in the order to try them: highest `q` first, file order among
/// equals (no `q` counts as 1.0), `*`, unreadable, non-SIP and repeated ones left out, at most
/// [`MAX_ATTEMPTS`] (RFC 3261 §8.1.3.4, §20.10).
pub(super) fn redirect_uris(rsp: &Message) -> Vec<String> {
    let mut found: Vec<(u16, String)> = Vec::new();
    for c in rsp.contacts() {
        let Ok(Contact::Addr(addr)) = c else { continue };
        // URI headers (`?Replaces=…`) are the redirecting party's to set, not ours to send.
        let uri = addr.uri.split('?').next().unwrap_or_default();
        let sip = Uri::parse(uri).is_ok_and(|u| u.is_sip());
        if !sip || found.iter().any(|(_, u)| u == uri) {
            continue;
        }
        found.push((addr.q().unwrap_or(1000), uri.to_owned()));
        if found.len() == MAX_ATTEMPTS {
            break;
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, u)| u).collect()
}

/// A leg-B INVITE given up on while it may still be answered (the no-answer time passed): it
/// is cancelled, and a late 2xx to it is ACKed and hung up (RFC 3261 §9.1, §15).
#[derive(Debug)]
pub(super) struct Retired {
    /// The call it belonged to.
    pub(super) key: CallKey,
    /// The INVITE as sent.
    pub(super) invite: Message,
    /// The SBC's side it left from.
    pub(super) side: Side,
    /// Where it went.
    pub(super) peer: Dest,
    /// Whether its CANCEL is out; until then it goes with the first provisional (RFC 3261 §9.1).
    pub(super) cancel_sent: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::transaction::Transport;

    fn target(name: &str, failover_on: &[u16], forward_codes: &[u16]) -> Target {
        let dest = Dest::new("127.0.0.1:5060".parse().unwrap(), Transport::Udp);
        let side = Side {
            sip: dest,
            media_interface: "x".into(),
            media_advertised: None,
            srtp: sbc_config::SrtpPolicy::Off,
            ice: sbc_config::IcePolicy::Off,
        };
        Target {
            name: name.into(),
            failover_on: failover_on.to_vec(),
            forward_codes: forward_codes.to_vec(),
            ..Target::new(Route {
                a_side: side.clone(),
                b_side: side,
                next_hop: dest,
                request_uri: None,
                to_uri: None,
                pass_bodies: false,
            })
        }
    }

    #[test]
    fn failover_walks_the_list_on_listed_codes_only() {
        let mut set = TargetSet::new(vec![
            target("a", &[503, 408], &[]),
            target("b", &[503], &[]),
            target("c", &[], &[]),
        ])
        .unwrap();
        assert!(set.after(Failure::Timeout));
        assert_eq!(set.current().unwrap().name, "b");
        assert!(!set.after(Failure::Timeout), "b does not fail over on 408");
        assert!(set.after(Failure::Status(503)));
        assert_eq!(set.current().unwrap().name, "c");
        assert!(!set.after(Failure::Status(503)));
        assert_eq!(set.attempt(), 3);
    }

    #[test]
    fn forwarding_replaces_the_rest_and_happens_once() {
        let mut first = target("a", &[503], &[486]);
        first.forward = Some(Box::new(target("voicemail", &[], &[])));
        let mut set = TargetSet::new(vec![first, target("b", &[], &[])]).unwrap();
        assert!(!set.after(Failure::Status(404)));
        assert_eq!(
            set.current().unwrap().name,
            "a",
            "404 is neither failover nor forward"
        );
        assert!(set.after(Failure::Status(486)));
        assert_eq!(set.current().unwrap().name, "voicemail");
        assert!(
            !set.after(Failure::Status(503)),
            "the other routes are gone"
        );
        assert!(!set.after(Failure::NoAnswer));
    }

    #[test]
    fn no_answer_forwards_only_when_there_is_a_forward_target() {
        let mut set = TargetSet::new(vec![target("a", &[408], &[])]).unwrap();
        assert!(!set.after(Failure::NoAnswer));
        let mut first = target("a", &[], &[]);
        first.forward = Some(Box::new(target("mobile", &[], &[])));
        let mut set = TargetSet::new(vec![first]).unwrap();
        assert!(set.after(Failure::NoAnswer));
        assert_eq!(set.current().unwrap().name, "mobile");
    }

    #[test]
    fn redirects_are_bounded() {
        let mut first = target("a", &[], &[]);
        first.max_redirects = 1;
        let mut set = TargetSet::new(vec![first.clone()]).unwrap();
        assert!(!set.redirect(Vec::new()), "no routable Contact");
        assert!(set.redirect(vec![first.clone()]));
        assert!(!set.may_follow());
        assert!(!set.redirect(vec![first]));
        assert_eq!(set.attempt(), 2);
    }

    #[test]
    fn attempts_are_bounded() {
        let many = vec![target("a", &[503], &[]); MAX_ATTEMPTS + 5];
        let mut set = TargetSet::new(many).unwrap();
        let mut tries = 1;
        while set.after(Failure::Status(503)) {
            tries += 1;
        }
        assert_eq!(tries, MAX_ATTEMPTS);
    }

    #[test]
    fn parallel_groups_are_sent_together_and_tried_in_turn() {
        let grouped = |name: &str, parallel: bool| Target {
            parallel_with_next: parallel,
            ..target(name, &[486], &[])
        };
        let mut set = TargetSet::new(vec![
            grouped("a1", true),
            grouped("a2", true),
            grouped("a3", false),
            grouped("b1", false),
            grouped("c1", true),
            grouped("c2", false),
        ])
        .unwrap();
        assert_eq!(set.current().unwrap().name, "a1");
        let names = |v: Vec<Target>| v.into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(names(set.take_siblings()), ["a2", "a3"]);
        assert!(set.take_siblings().is_empty(), "taken once");
        assert_eq!(set.attempt(), 3, "each branch is an attempt");
        assert!(set.after(Failure::Status(486)));
        assert_eq!(set.current().unwrap().name, "b1");
        assert!(set.take_siblings().is_empty(), "a group of one");
        assert!(set.after(Failure::Status(486)));
        assert_eq!(set.current().unwrap().name, "c1");
        let old = set.swap_current(grouped("c2", false)).unwrap();
        assert_eq!(
            (old.name.as_str(), set.current().unwrap().name.as_str()),
            ("c1", "c2")
        );
        assert!(!set.after(Failure::Status(486)), "no group left");
        // Answered: the current target is let go, nothing fails over or follows a redirect.
        set.settle();
        assert!(set.current().is_none());
        assert!(!set.after(Failure::Status(503)));
        assert!(!set.may_follow());
    }

    #[test]
    fn redirect_contacts_go_in_q_order() {
        let text = "SIP/2.0 302 Moved\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
            From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
            Contact: <sip:low@192.0.2.1>;q=0.1, <sip:plain@192.0.2.2>, *\r\n\
            Contact: <sip:high@192.0.2.3?Subject=x>;q=1.0, <sip:mid@192.0.2.4>;q=0.5\r\n\
            Contact: <sip:low@192.0.2.1>;q=0.9, <tel:+15551234>;q=1\r\nContent-Length: 0\r\n\r\n";
        let rsp = Message::parse(
            bytes::Bytes::from(text),
            &sbc_common::sip::Limits::default(),
        )
        .unwrap();
        assert_eq!(
            redirect_uris(&rsp),
            [
                "sip:plain@192.0.2.2",
                "sip:high@192.0.2.3",
                "sip:mid@192.0.2.4",
                "sip:low@192.0.2.1"
            ]
        );
    }
}
