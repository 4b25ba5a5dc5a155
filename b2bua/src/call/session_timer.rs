//! Session timers, negotiated and run on each leg independently (RFC 4028): what a peer asks
//! for, what the SBC answers or offers, who refreshes, and when the next refresh or expiry is
//! due. Pure state on virtual time; the engine sends the refreshes and the BYEs.
//!
//! Each leg has its own interval and refresher: leg A is negotiated with A's INVITE (the SBC is
//! its UAS, §9), leg B with the SBC's offer and B's 2xx (the SBC is its UAC, §7). When the SBC
//! refreshes a leg it does so at half the interval (§10); when the peer refreshes, the leg
//! expires `min(32, interval/3)` seconds before the interval ends (§10).

use crate::Map;
use sbc_common::sip::{HeaderError, HeaderName, Message, Method, Refresher, SessionExpires};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::{CallKey, Leg};

/// The smallest session interval RFC 4028 §5 allows anyone to ask for, in seconds.
pub(super) const MIN_SE_FLOOR: u32 = 90;

/// Most 422 answers to leg B's INVITE the SBC retries after before giving up (RFC 4028 §7.4).
pub(super) const MAX_422_RETRIES: u8 = 2;

/// The largest Min-SE a peer may demand in a 422 before the SBC gives up (one day).
pub(super) const MAX_MIN_SE: u32 = 86_400;

/// Session timer settings (RFC 4028 §4, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Session-Expires the SBC offers on leg B and uses on leg A when A asks for none, in
    /// seconds; 0 turns session timers off.
    pub expires_s: u32,
    /// Min-SE: the smallest interval the SBC accepts, in seconds (raised to 90, RFC 4028 §5).
    pub min_se_s: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        Self {
            expires_s: 0,
            min_se_s: MIN_SE_FLOOR,
        }
    }
}

impl SessionTimerConfig {
    /// Whether session timers are on (RFC 4028 §4).
    pub fn enabled(&self) -> bool {
        self.expires_s > 0
    }

    /// The Min-SE the SBC enforces and advertises, never below 90 s (RFC 4028 §5).
    pub fn min_se(&self) -> u32 {
        self.min_se_s.max(MIN_SE_FLOOR)
    }
}

/// Who sends the refreshes on one leg (RFC 4028 §4 `refresher`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RefreshSide {
    /// The SBC refreshes at half the interval.
    Sbc,
    /// The peer refreshes; the SBC ends the call if it does not.
    Peer,
}

/// What a peer's request or response says about session timers (RFC 4028 §4, §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct PeerTimer {
    /// Its Session-Expires, if any.
    pub(super) session_expires: Option<SessionExpires>,
    /// Its Min-SE, if any.
    pub(super) min_se: Option<u32>,
    /// Whether it lists `timer` in Supported or Require.
    pub(super) supports: bool,
    /// Whether its Allow lists UPDATE (`None` when it sent no Allow).
    pub(super) allows_update: Option<bool>,
}

impl PeerTimer {
    /// Reads a message; an unreadable Session-Expires or Min-SE is a [`HeaderError`] for a 400
    /// (RFC 3261 §21.4.1).
    pub(super) fn read(msg: &Message) -> Result<Self, HeaderError> {
        let session_expires = msg
            .header(&HeaderName::SessionExpires)
            .map(SessionExpires::parse)
            .transpose()?;
        let min_se = match msg.header(&HeaderName::MinSe) {
            Some(v) => Some(
                msg.min_se()
                    .filter(|_| !v.trim().is_empty())
                    .ok_or_else(|| HeaderError::new("Min-SE", "bad delta-seconds"))?,
            ),
            None => None,
        };
        let supports = msg.has_token(&HeaderName::Supported, "timer")
            || msg.has_token(&HeaderName::Require, "timer");
        let allows_update = msg
            .has(&HeaderName::Allow)
            .then(|| msg.has_token(&HeaderName::Allow, "UPDATE"));
        Ok(Self {
            session_expires,
            min_se,
            supports,
            allows_update,
        })
    }

    /// The Min-SE to answer with in a 422 when this request's interval is below `min_se`
    /// (RFC 4028 §6); `None` when it is acceptable or asks for no timer.
    pub(super) fn too_small(&self, min_se: u32) -> Option<u32> {
        self.session_expires
            .filter(|se| se.delta < min_se)
            .map(|_| min_se)
    }
}

/// One leg's running session timer (RFC 4028 §10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LegTimer {
    /// The session interval in seconds.
    pub(super) interval: u32,
    /// Who refreshes.
    pub(super) refresher: RefreshSide,
    /// Whether the peer said it supports timers (Require: timer goes in our 2xx, RFC 4028 §9).
    pub(super) peer_supports: bool,
    /// Whether the peer allows UPDATE, the SBC's preferred refresh (RFC 4028 §10).
    pub(super) peer_allows_update: bool,
    /// When the session was last refreshed.
    pub(super) last: Instant,
    /// The CSeq and method of the SBC's own refresh still waiting for its answer.
    pub(super) pending: Option<(u32, Method)>,
    /// A retry of a refresh that failed without ending the session (491, 5xx), if scheduled.
    pub(super) retry_at: Option<Instant>,
}

impl LegTimer {
    /// The leg the SBC negotiates as UAS from a peer's request (RFC 4028 §9): the requested
    /// interval (or `cfg`'s, raised to the request's Min-SE), the requested refresher, or the
    /// peer when it supports timers and the SBC when it does not; `current` keeps a running
    /// leg's refresher and UPDATE support when the request does not say.
    pub(super) fn as_uas(
        req: &PeerTimer,
        cfg: &SessionTimerConfig,
        now: Instant,
        current: Option<&Self>,
    ) -> Self {
        let wanted = current.map_or(cfg.expires_s, |c| c.interval);
        let interval = match req.session_expires {
            Some(se) => se.delta,
            None => wanted.max(req.min_se.unwrap_or(0)).max(cfg.min_se()),
        };
        // A peer that never said it supports timers cannot be made the refresher (§9); one
        // that did may leave Supported out of a later refresh.
        let supports = req.supports || current.is_some_and(|c| c.peer_supports);
        let refresher = match req.session_expires.and_then(|se| se.refresher) {
            _ if !supports => RefreshSide::Sbc,
            Some(Refresher::Uac) => RefreshSide::Peer,
            Some(Refresher::Uas) => RefreshSide::Sbc,
            None => current.map_or(RefreshSide::Peer, |c| c.refresher),
        };
        Self {
            interval,
            refresher,
            peer_supports: supports,
            peer_allows_update: req
                .allows_update
                .or_else(|| current.map(|c| c.peer_allows_update))
                .unwrap_or(false),
            last: now,
            pending: None,
            retry_at: None,
        }
    }

    /// The leg the SBC negotiated as UAC, from the peer's 2xx to its request that offered
    /// `offered` seconds (RFC 4028 §7.2): the answer's interval and refresher (`uac` or none:
    /// the SBC), or the offered interval with the SBC refreshing when the peer ignored timers.
    pub(super) fn as_uac(
        rsp: &PeerTimer,
        offered: u32,
        now: Instant,
        current: Option<&Self>,
    ) -> Self {
        let (interval, refresher) = match rsp.session_expires {
            Some(se) => (
                se.delta.max(MIN_SE_FLOOR),
                match se.refresher {
                    Some(Refresher::Uas) => RefreshSide::Peer,
                    Some(Refresher::Uac) | None => RefreshSide::Sbc,
                },
            ),
            None => (offered, RefreshSide::Sbc),
        };
        Self {
            interval,
            refresher,
            peer_supports: rsp.supports || current.is_some_and(|c| c.peer_supports),
            peer_allows_update: rsp
                .allows_update
                .or_else(|| current.map(|c| c.peer_allows_update))
                .unwrap_or(false),
            last: now,
            pending: None,
            retry_at: None,
        }
    }

    /// When this leg next needs attention: the SBC's refresh at half the interval (or its
    /// scheduled retry), the hard expiry while the SBC's refresh is unanswered, or the peer's
    /// deadline `interval - min(32, interval/3)` (RFC 4028 §10).
    pub(super) fn due(&self) -> Instant {
        let interval = u64::from(self.interval);
        let expiry = self.last + Duration::from_secs(interval);
        match self.refresher {
            RefreshSide::Sbc if self.pending.is_some() => expiry,
            RefreshSide::Sbc => self
                .retry_at
                .unwrap_or_else(|| self.last + Duration::from_millis(interval * 500))
                .min(expiry),
            RefreshSide::Peer => expiry - Duration::from_secs(interval.div_ceil(3).min(32)),
        }
    }

    /// Whether the session has run out on this leg at `now`: the peer's refresh did not come,
    /// or the SBC's own refresh got no answer within the interval (RFC 4028 §10).
    pub(super) fn expired(&self, now: Instant) -> bool {
        match self.refresher {
            RefreshSide::Peer => now >= self.due(),
            RefreshSide::Sbc => now >= self.last + Duration::from_secs(u64::from(self.interval)),
        }
    }

    /// The `refresher` parameter for a message the SBC sends in a transaction where it is the
    /// UAC (`sbc_is_uac`) or the UAS (RFC 4028 §4).
    fn refresher_param(&self, sbc_is_uac: bool) -> &'static str {
        match (self.refresher == RefreshSide::Sbc, sbc_is_uac) {
            (true, true) | (false, false) => "uac",
            (true, false) | (false, true) => "uas",
        }
    }

    /// Session-Expires (and Require: timer when the peer supports timers) on a 2xx the SBC
    /// sends to the peer's INVITE or UPDATE (RFC 4028 §9).
    pub(super) fn decorate_answer(&self, rsp: &mut Message) {
        set_header(
            rsp,
            HeaderName::SessionExpires,
            format!(
                "{};refresher={}",
                self.interval,
                self.refresher_param(false)
            ),
        );
        if self.peer_supports && !rsp.has_token(&HeaderName::Require, "timer") {
            push_before_body(rsp, HeaderName::Require, "timer".to_owned());
        }
    }

    /// Session-Expires with this leg's refresher, Min-SE and Supported: timer on an INVITE or
    /// UPDATE the SBC sends to the peer (RFC 4028 §7.4).
    pub(super) fn decorate_request(&self, req: &mut Message, min_se: u32) {
        set_header(
            req,
            HeaderName::SessionExpires,
            format!("{};refresher={}", self.interval, self.refresher_param(true)),
        );
        set_header(req, HeaderName::MinSe, min_se.to_string());
        if !req.has_token(&HeaderName::Supported, "timer") {
            push_before_body(req, HeaderName::Supported, "timer".to_owned());
        }
    }
}

/// The SBC's offer on leg B's initial INVITE (RFC 4028 §7.1): Session-Expires without a
/// refresher (the UAS chooses), Min-SE, Supported: timer.
pub(super) fn offer(invite: &mut Message, interval: u32, min_se: u32) {
    set_header(invite, HeaderName::SessionExpires, interval.to_string());
    set_header(invite, HeaderName::MinSe, min_se.to_string());
    if !invite.has_token(&HeaderName::Supported, "timer") {
        push_before_body(invite, HeaderName::Supported, "timer".to_owned());
    }
}

/// Takes `timer` out of the Supported headers copied onto a request the SBC sends on a leg
/// without a session timer, so the peer does not pick the SBC as a refresher it will never be
/// (RFC 4028 §7.1, §9).
pub(super) fn withdraw_support(req: &mut Message) {
    if !req.has_token(&HeaderName::Supported, "timer") {
        return;
    }
    let kept: Vec<String> = req
        .tokens(&HeaderName::Supported)
        .filter(|t| !t.eq_ignore_ascii_case("timer"))
        .map(str::to_owned)
        .collect();
    req.remove_headers(&HeaderName::Supported);
    if !kept.is_empty() {
        push_before_body(req, HeaderName::Supported, kept.join(", "));
    }
}

/// Replaces every `name` header of `msg` with one holding `value`, before the body headers.
fn set_header(msg: &mut Message, name: HeaderName, value: String) {
    msg.remove_headers(&name);
    push_before_body(msg, name, value);
}

/// Adds a header before Content-Type/Content-Length, or last when there are none.
fn push_before_body(msg: &mut Message, name: HeaderName, value: String) {
    let at = msg
        .headers()
        .iter()
        .position(|h| {
            matches!(
                h.name(),
                HeaderName::ContentType | HeaderName::ContentLength
            )
        })
        .unwrap_or_else(|| msg.headers().len());
    msg.insert_header(at, name, value);
}

/// One call's session timer state: the legs once negotiated, and leg B's offer while the
/// INVITE is out (RFC 4028 §7, §9).
#[derive(Debug)]
pub(super) struct CallTimers {
    /// What leg A's INVITE asked for.
    pub(super) a_request: PeerTimer,
    /// The interval offered on leg B's INVITE and the Min-SE sent with it.
    pub(super) b_offer: (u32, u32),
    /// How many 422s leg B's INVITE has been retried after.
    pub(super) retries_422: u8,
    /// Each leg's timer, once the call is answered.
    pub(super) legs: [Option<LegTimer>; 2],
    /// The CSeq of the SBC's own refresh re-INVITE on each leg, whose 2xx the SBC ACKs itself.
    pub(super) own_invite: [Option<u32>; 2],
}

/// Every call's session timers and a queue of their due times, checked lazily: an entry whose
/// leg is gone or due at another time is skipped (RFC 4028 §10).
#[derive(Debug, Default)]
pub(super) struct SessionTimers {
    /// Boxed: over 200 bytes, and the table keeps spare slots.
    calls: Map<CallKey, Box<CallTimers>>,
    queue: BinaryHeap<Reverse<(Instant, CallKey, usize)>>,
}

impl SessionTimers {
    /// Starts tracking call `key` whose leg A asked for `a_request` and whose leg B INVITE
    /// offered `b_offer` (RFC 4028 §7.1, §9).
    pub(super) fn start(&mut self, key: CallKey, a_request: PeerTimer, b_offer: (u32, u32)) {
        self.calls.insert(
            key,
            Box::new(CallTimers {
                a_request,
                b_offer,
                retries_422: 0,
                legs: [None, None],
                own_invite: [None, None],
            }),
        );
    }

    /// How many calls are tracked.
    pub(super) fn len(&self) -> usize {
        self.calls.len()
    }

    /// Entries in the due-time queue, stale ones included.
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The call's state, if tracked.
    pub(super) fn get_mut(&mut self, key: CallKey) -> Option<&mut CallTimers> {
        self.calls.get_mut(&key).map(|c| &mut **c)
    }

    /// Leg `leg`'s running timer, if any.
    pub(super) fn leg(&self, key: CallKey, leg: Leg) -> Option<&LegTimer> {
        self.calls.get(&key)?.legs[leg.index()].as_ref()
    }

    /// Installs or replaces leg `leg`'s timer and queues its next due time.
    pub(super) fn set_leg(&mut self, key: CallKey, leg: Leg, timer: LegTimer) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        self.queue.push(Reverse((timer.due(), key, leg.index())));
        call.legs[leg.index()] = Some(timer);
        self.prune();
    }

    /// Changes leg `leg`'s timer with `f` and queues its new due time.
    pub(super) fn update_leg(&mut self, key: CallKey, leg: Leg, f: impl FnOnce(&mut LegTimer)) {
        let Some(timer) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.legs[leg.index()].as_mut())
        else {
            return;
        };
        f(timer);
        self.queue.push(Reverse((timer.due(), key, leg.index())));
        self.prune();
    }

    /// Drops the stale entries once they outnumber the live ones: entries of ended calls would
    /// otherwise stay until their due time (half an hour by default), and the queue would grow
    /// with the call rate rather than with the calls up.
    fn prune(&mut self) {
        if self.queue.len() > 4 * self.calls.len() + 64 {
            let calls = &self.calls;
            self.queue
                .retain(|Reverse((at, key, leg))| is_current(calls, *at, *key, *leg));
        }
    }

    /// Forgets an ended call.
    pub(super) fn forget(&mut self, key: CallKey) {
        self.calls.remove(&key);
    }

    /// The earliest queued due time, stale entries dropped first.
    pub(super) fn next_due(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key, leg))) = self.queue.peek().copied() {
            if self.is_current(at, key, leg) {
                return Some(at);
            }
            self.queue.pop();
        }
        None
    }

    /// The next leg due at or before `now`, removed from the queue.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(CallKey, Leg)> {
        while let Some(Reverse((at, key, leg))) = self.queue.peek().copied() {
            if at > now {
                return None;
            }
            self.queue.pop();
            if self.is_current(at, key, leg) {
                // The same due time may have been queued more than once: fire it once.
                while self.queue.peek() == Some(&Reverse((at, key, leg))) {
                    self.queue.pop();
                }
                return Some((key, if leg == 0 { Leg::A } else { Leg::B }));
            }
        }
        None
    }

    fn is_current(&self, at: Instant, key: CallKey, leg: usize) -> bool {
        is_current(&self.calls, at, key, leg)
    }
}

/// Whether a queue entry is leg `leg` of call `key`'s running timer, due at `at`.
fn is_current(
    calls: &Map<CallKey, Box<CallTimers>>,
    at: Instant,
    key: CallKey,
    leg: usize,
) -> bool {
    calls
        .get(&key)
        .and_then(|c| c.legs.get(leg)?.as_ref())
        .is_some_and(|t| t.due() == at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbc_common::sip::Limits;

    fn msg(headers: &str) -> Message {
        let text = format!(
            "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 INVITE\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        Message::parse(bytes::Bytes::from(text), &Limits::default()).unwrap()
    }

    const CFG: SessionTimerConfig = SessionTimerConfig {
        expires_s: 1800,
        min_se_s: 120,
    };

    #[test]
    fn uas_honours_the_request_and_picks_the_refresher() {
        let now = Instant::now();
        let req = PeerTimer::read(&msg(
            "Session-Expires: 600;refresher=uac\r\nSupported: timer\r\nAllow: INVITE, UPDATE\r\n",
        ))
        .unwrap();
        assert_eq!(req.too_small(CFG.min_se()), None);
        let t = LegTimer::as_uas(&req, &CFG, now, None);
        assert_eq!((t.interval, t.refresher), (600, RefreshSide::Peer));
        assert!(t.peer_allows_update && t.peer_supports);
        // The peer refreshes: expiry 600 - min(32, 200) s after the last refresh.
        assert_eq!(t.due(), now + Duration::from_secs(568));
        // A refresher=uac put in by a proxy for a UAC without timer support: the SBC refreshes.
        let proxied = PeerTimer::read(&msg("Session-Expires: 600;refresher=uac\r\n")).unwrap();
        let t = LegTimer::as_uas(&proxied, &CFG, now, None);
        assert_eq!((t.interval, t.refresher), (600, RefreshSide::Sbc));
        // No timer support: the SBC refreshes at half the configured interval.
        let t = LegTimer::as_uas(&PeerTimer::read(&msg("")).unwrap(), &CFG, now, None);
        assert_eq!((t.interval, t.refresher), (1800, RefreshSide::Sbc));
        assert_eq!(t.due(), now + Duration::from_secs(900));
        // A short interval: the guard is a third of it.
        let t = LegTimer {
            interval: 90,
            refresher: RefreshSide::Peer,
            ..t
        };
        assert_eq!(t.due(), now + Duration::from_secs(60));
    }

    #[test]
    fn too_small_and_unreadable_values() {
        let req = PeerTimer::read(&msg("Session-Expires: 100\r\n")).unwrap();
        assert_eq!(req.too_small(CFG.min_se()), Some(120));
        assert!(PeerTimer::read(&msg("Session-Expires: soon\r\n")).is_err());
        assert!(PeerTimer::read(&msg("Min-SE: x\r\n")).is_err());
        assert_eq!(SessionTimerConfig::default().min_se(), 90);
    }

    #[test]
    fn uac_reads_the_answer() {
        let now = Instant::now();
        let rsp = PeerTimer::read(&msg("Session-Expires: 900;refresher=uas\r\n")).unwrap();
        let t = LegTimer::as_uac(&rsp, 1800, now, None);
        assert_eq!((t.interval, t.refresher), (900, RefreshSide::Peer));
        let t = LegTimer::as_uac(&PeerTimer::read(&msg("")).unwrap(), 1800, now, None);
        assert_eq!((t.interval, t.refresher), (1800, RefreshSide::Sbc));
        let mut out = msg("");
        t.decorate_request(&mut out, 120);
        assert_eq!(
            out.header(&HeaderName::SessionExpires),
            Some("1800;refresher=uac")
        );
        assert_eq!(out.header(&HeaderName::MinSe), Some("120"));
        let mut rsp = msg("");
        t.decorate_answer(&mut rsp);
        assert_eq!(
            rsp.header(&HeaderName::SessionExpires),
            Some("1800;refresher=uas")
        );
        assert!(!rsp.has(&HeaderName::Require));
    }

    #[test]
    fn the_queue_skips_stale_entries() {
        let now = Instant::now();
        let mut q = SessionTimers::default();
        let key = CallKey(1);
        q.start(key, PeerTimer::read(&msg("")).unwrap(), (1800, 90));
        let t = LegTimer::as_uac(&PeerTimer::read(&msg("")).unwrap(), 200, now, None);
        q.set_leg(key, Leg::B, t);
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(100)));
        // A refresh moves the due time: the old entry is stale.
        q.update_leg(key, Leg::B, |t| t.last = now + Duration::from_secs(50));
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(150)));
        assert_eq!(q.pop_due(now + Duration::from_secs(149)), None);
        assert_eq!(
            q.pop_due(now + Duration::from_secs(150)),
            Some((key, Leg::B))
        );
        q.forget(key);
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn the_queue_grows_with_the_calls_up_not_with_the_calls_made() {
        let now = Instant::now();
        let mut q = SessionTimers::default();
        let peer = PeerTimer::read(&msg("")).unwrap();
        for n in 0..10_000 {
            let key = CallKey(n);
            q.start(key, peer, (1800, 90));
            q.set_leg(key, Leg::B, LegTimer::as_uac(&peer, 1800, now, None));
            // Each call ends long before its timer is due.
            q.forget(key);
        }
        assert!(q.queue.len() <= 64 + 4, "{} entries", q.queue.len());
        // A live call's entry survives the pruning.
        let key = CallKey(99_999);
        q.start(key, peer, (1800, 90));
        q.set_leg(key, Leg::B, LegTimer::as_uac(&peer, 200, now, None));
        for n in 0..200 {
            q.start(CallKey(n), peer, (1800, 90));
            q.set_leg(CallKey(n), Leg::B, LegTimer::as_uac(&peer, 1800, now, None));
            q.forget(CallKey(n));
        }
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(100)));
    }
}
