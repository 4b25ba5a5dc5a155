//! Registration caching for a realm in `forward` mode (RFC 3261 §10, as SBCs do it): REGISTERs
//! are relayed to the core registrar with each Contact rewritten to an SBC address that names the
//! binding, the core is asked for a long expiry and the customer given a short one, and the
//! customer's refreshes in between are answered from the cache without reaching the core.
//!
//! ```text
//!   customer REGISTER + flow ─► handle_customer_register ─► Absorb(200) | Forward(REGISTER) | Reject
//!   core response ────────────► handle_core_response ─────► response for the customer
//!   request from the core ────► lookup_request_uri ───────► customer Contact + flow
//!   clock ────────────────────► handle_timer ─► poll_output() ─► Lapsed
//! ```
//!
//! The forwarded REGISTER keeps the customer's Request-URI, From, To, Call-ID, CSeq and
//! credentials (so the core's 401/407 challenges are answered end to end, the digest covering
//! neither Contact nor Expires); its Via headers are removed for the caller's transaction layer
//! to add the SBC's own. A refresh is absorbed only when it comes on the same flow with the same
//! Call-ID and a higher CSeq than the REGISTER the core accepted, and the core binding outlives
//! the customer's next refresh by [`REFRESH_MARGIN`].
//!
//! Not done here: when a customer stops refreshing, its binding at the core is left to expire
//! there (the SBC cannot answer the core's challenge for an unregister of its own); inbound
//! requests for the lapsed binding find nothing. Customers behind NAT get the same keepalives as
//! in local mode (OPTIONS over UDP, double CRLF over TCP), and a binding whose keepalives go
//! unanswered `keepalive_failures` times in a row leaves the cache.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sbc_common::sip::uri::Uri;
use sbc_common::sip::{Contact, HeaderName, Message, NameAddr};
use sbc_config::Realm;

use super::deadlines::Deadlines;
use super::keepalive::{KeepaliveState, KeepaliveStep};
use super::{aor_of, KeepaliveKind, DEFAULT_EXPIRES};
use crate::edge::nat::Flow;
use crate::Map;

/// How long before the core binding runs out a refresh is forwarded instead of absorbed, on top
/// of the customer's own expiry: time for the REGISTER transaction to finish (64*T1).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(32);

/// How long a forwarded REGISTER waits for the core's final response before it is forgotten
/// (RFC 3261 §17.1.2.2 Timer F).
const PENDING_TIMEOUT: Duration = Duration::from_secs(32);

/// The expiry policy of a forward-mode realm (`[[realm]]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// The expiry given to customers (`customer_expires_s`).
    pub customer_expires: u32,
    /// The expiry asked of the core (`core_expires_s`).
    pub core_expires: u32,
    /// The shortest non-zero expiry accepted from a customer (`min_expires_s`, else 423).
    pub min_expires: u32,
    /// Interval of keepalives to customers behind NAT; zero turns them off.
    pub keepalive_interval: Duration,
    /// Unanswered keepalives in a row after which a binding leaves the cache.
    pub keepalive_failures: u32,
}

impl CacheConfig {
    /// The policy of a `[[realm]]`.
    pub fn from_realm(realm: &Realm) -> Self {
        Self {
            customer_expires: realm.customer_expires_s,
            core_expires: realm.core_expires_s,
            min_expires: realm.min_expires_s,
            keepalive_interval: Duration::from_secs(u64::from(realm.keepalive_interval_s)),
            keepalive_failures: realm.keepalive_failures.max(1),
        }
    }
}

/// What to do with a customer's REGISTER.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheAction {
    /// A refresh answered from the cache: send this 200 to the customer, nothing to the core.
    Absorb(Message),
    /// Send this REGISTER to the core registrar (a new client transaction).
    Forward(Message),
    /// Send this error to the customer (400 or 423).
    Reject(Message),
}

/// What the cache reports by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutput {
    /// A customer binding was not refreshed in time and left the cache; the core keeps its copy
    /// until its own expiry.
    Lapsed {
        /// The address-of-record.
        aor: String,
        /// The binding token.
        token: String,
    },
    /// Send a keepalive to this customer, then report the result with
    /// [`RegistrationCache::handle_keepalive_answer`] or
    /// [`RegistrationCache::handle_keepalive_failure`].
    Keepalive {
        /// The binding token.
        token: String,
        /// The customer's Contact URI (the Request-URI of an OPTIONS ping).
        contact: String,
        /// Where to send it.
        flow: Flow,
        /// OPTIONS over UDP, double CRLF over TCP/TLS.
        kind: KeepaliveKind,
    },
    /// A binding's keepalives went unanswered too often and it left the cache.
    KeepaliveFailed {
        /// The address-of-record.
        aor: String,
        /// The binding token.
        token: String,
    },
}

/// Where a request from the core for a binding address goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedTarget {
    /// The address-of-record.
    pub aor: String,
    /// The customer's Contact URI, the Request-URI towards it.
    pub contact: String,
    /// The customer's flow.
    pub flow: Flow,
}

/// Counters of the cache, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Refreshes answered from the cache.
    pub absorbed: u64,
    /// REGISTERs forwarded to the core.
    pub forwarded: u64,
    /// REGISTERs rejected by the SBC itself.
    pub rejected: u64,
    /// Core 2xx responses applied to the cache.
    pub core_accepted: u64,
    /// Core challenges (401/407) relayed to customers.
    pub challenges_relayed: u64,
    /// Bindings that lapsed for lack of refresh.
    pub lapsed: u64,
    /// Keepalives asked for.
    pub keepalives_sent: u64,
    /// Bindings removed after failed keepalives.
    pub keepalive_removed: u64,
}

#[derive(Clone, Debug)]
struct Entry {
    aor: String,
    contact: String,
    flow: Flow,
    call_id: String,
    cseq: u32,
    core_expires_at: Instant,
    customer_expires_at: Instant,
    keepalive: Option<KeepaliveState>,
}

impl Entry {
    /// When the cache next has work on this binding: its lapse or its next keepalive.
    fn due(&self) -> Instant {
        self.keepalive.map_or(self.customer_expires_at, |k| {
            k.next_at.min(self.customer_expires_at)
        })
    }
}

/// One Contact of a forwarded REGISTER.
#[derive(Clone, Debug)]
struct Planned {
    token: String,
    contact: String,
    /// What the customer asked for; 0 removes.
    requested: u32,
}

#[derive(Clone, Debug)]
struct Pending {
    request: Message,
    aor: String,
    flow: Flow,
    planned: Vec<Planned>,
    star: bool,
    behind_nat: bool,
    sent_at: Instant,
}

/// The registration cache of one forward-mode realm.
#[derive(Debug)]
pub struct RegistrationCache {
    cfg: CacheConfig,
    sbc_host: String,
    entries: Map<String, Entry>,
    by_contact: Map<(String, String), String>,
    /// The tokens of each address-of-record's bindings.
    by_aor: Map<String, Vec<String>>,
    /// The tokens of the bindings registered over each TCP/TLS connection, for its close;
    /// tokens of bindings removed or moved since are skipped then.
    by_connection: Map<u64, Vec<String>>,
    /// Each binding's next lapse or keepalive ([`Entry::due`]), by token.
    due: Deadlines<String>,
    pending: Map<(String, u32), Pending>,
    /// When each forwarded REGISTER stops waiting for the core.
    pending_due: Deadlines<(String, u32)>,
    next: u64,
    salt: u64,
    outputs: VecDeque<CacheOutput>,
    counters: CacheCounters,
}

impl RegistrationCache {
    /// A cache whose binding addresses are `sip:<token>@<sbc_host>` (`sbc_host` is the SBC's
    /// core-side `host:port`); `salt` makes tokens hard to guess (random at start).
    pub fn new(cfg: CacheConfig, sbc_host: &str, salt: u64) -> Self {
        Self {
            cfg,
            sbc_host: sbc_host.to_owned(),
            entries: Map::default(),
            by_contact: Map::default(),
            by_aor: Map::default(),
            by_connection: Map::default(),
            due: Deadlines::default(),
            pending: Map::default(),
            pending_due: Deadlines::default(),
            next: 1,
            salt,
            outputs: VecDeque::new(),
            counters: CacheCounters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> CacheCounters {
        self.counters
    }

    /// Number of cached bindings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no binding is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn new_token(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        format!("rb{n:x}x{:08x}", mix(self.salt ^ n) as u32)
    }

    /// Decides what to do with a customer's (already admitted) REGISTER arriving on `flow`
    /// at `now`: answer from the cache, forward to the core, or reject (RFC 3261 §10.3);
    /// `behind_nat` turns keepalives on for the binding.
    pub fn handle_customer_register(
        &mut self,
        now: Instant,
        req: &Message,
        flow: Flow,
        behind_nat: bool,
    ) -> CacheAction {
        let decided = self.decide(now, req, flow, behind_nat);
        self.settle();
        match decided {
            Ok(action) => action,
            Err((code, reason)) => {
                self.counters.rejected += 1;
                let mut rsp = Message::response_to(req, code, reason);
                if code == 423 {
                    rsp.push_header(HeaderName::MinExpires, self.cfg.min_expires.to_string());
                }
                crate::stack::stateless::add_to_tag(&mut rsp);
                CacheAction::Reject(rsp)
            }
        }
    }

    fn decide(
        &mut self,
        now: Instant,
        req: &Message,
        flow: Flow,
        behind_nat: bool,
    ) -> Result<CacheAction, (u16, &'static str)> {
        let to = req.to().ok_or((400, "Bad To Header"))?;
        let aor = aor_of(to.uri).ok_or((400, "Bad Address-of-Record"))?;
        let call_id = req.call_id().ok_or((400, "Missing Call-ID"))?;
        let cseq = req.cseq().ok_or((400, "Bad CSeq"))?.seq;
        let header_expires = if req.has(&HeaderName::Expires) {
            Some(req.expires().ok_or((400, "Bad Expires"))?)
        } else {
            None
        };
        let mut star = false;
        let mut addrs: Vec<NameAddr<'_>> = Vec::new();
        for c in req.contacts() {
            match c.map_err(|_| (400, "Bad Contact"))? {
                Contact::Star => star = true,
                Contact::Addr(a) => addrs.push(a),
            }
        }
        if star && (!addrs.is_empty() || req.contacts().count() != 1) {
            return Err((400, "Contact * Must Be Alone"));
        }
        if star && header_expires != Some(0) {
            return Err((400, "Contact * Requires Expires: 0"));
        }
        let mut requested = Vec::with_capacity(addrs.len());
        for a in &addrs {
            let e = a.expires().or(header_expires).unwrap_or(DEFAULT_EXPIRES);
            if e != 0 && e < self.cfg.min_expires {
                return Err((423, "Interval Too Brief"));
            }
            requested.push((a.uri.to_owned(), e));
        }
        if let Some(rsp) = self.try_absorb(now, req, &aor, call_id, cseq, flow, &requested) {
            self.counters.absorbed += 1;
            return Ok(CacheAction::Absorb(rsp));
        }
        // Forward: rewrite each Contact to its binding address, ask the core for the long expiry.
        let mut planned = Vec::with_capacity(requested.len());
        for (contact, e) in requested {
            let key = (aor.clone(), contact.clone());
            let token = match self.by_contact.get(&key) {
                Some(t) => t.clone(),
                None => self.new_token(),
            };
            planned.push(Planned {
                token,
                contact,
                requested: e,
            });
        }
        let mut fwd = req.clone();
        fwd.remove_headers(&HeaderName::Via);
        fwd.remove_headers(&HeaderName::Contact);
        fwd.remove_headers(&HeaderName::Expires);
        if star {
            fwd.push_header(HeaderName::Contact, "*");
            fwd.push_header(HeaderName::Expires, "0");
        }
        for p in &planned {
            let core = if p.requested == 0 {
                0
            } else {
                self.cfg.core_expires
            };
            fwd.push_header(
                HeaderName::Contact,
                format!("<sip:{}@{}>;expires={core}", p.token, self.sbc_host),
            );
        }
        self.pending_due
            .push(now + PENDING_TIMEOUT, (call_id.to_owned(), cseq));
        self.pending.insert(
            (call_id.to_owned(), cseq),
            Pending {
                request: req.clone(),
                aor,
                flow,
                planned,
                star,
                behind_nat,
                sent_at: now,
            },
        );
        self.counters.forwarded += 1;
        Ok(CacheAction::Forward(fwd))
    }

    /// The cached 200 for a refresh, if every Contact is a cached binding of this AOR from the
    /// same flow and Call-ID with a higher CSeq, and each core binding outlives the customer's
    /// next refresh.
    #[allow(clippy::too_many_arguments)]
    fn try_absorb(
        &mut self,
        now: Instant,
        req: &Message,
        aor: &str,
        call_id: &str,
        cseq: u32,
        flow: Flow,
        requested: &[(String, u32)],
    ) -> Option<Message> {
        if requested.is_empty() {
            return None;
        }
        let mut grants = Vec::with_capacity(requested.len());
        for (contact, e) in requested {
            if *e == 0 {
                return None;
            }
            let token = self.by_contact.get(&(aor.to_owned(), contact.clone()))?;
            let entry = self.entries.get(token)?;
            let grant = (*e).min(self.cfg.customer_expires);
            let next_refresh = now + Duration::from_secs(u64::from(grant)) + REFRESH_MARGIN;
            if entry.flow != flow
                || entry.call_id != call_id
                || cseq <= entry.cseq
                || entry.customer_expires_at <= now
                || entry.core_expires_at <= next_refresh
            {
                return None;
            }
            grants.push((token.clone(), grant));
        }
        for (token, grant) in grants {
            if let Some(entry) = self.entries.get_mut(&token) {
                entry.cseq = cseq;
                entry.customer_expires_at = now + Duration::from_secs(u64::from(grant));
                // The refresh came on the flow: it is alive.
                if let Some(k) = entry.keepalive.as_mut() {
                    k.answered();
                }
                self.due.push(entry.due(), token);
            }
        }
        Some(self.customer_ok(now, req, aor))
    }

    /// A 200 for the customer listing its cached bindings with their remaining customer expiry.
    fn customer_ok(&self, now: Instant, req: &Message, aor: &str) -> Message {
        let mut rsp = Message::response_to(req, 200, "OK");
        let mut listed: Vec<&Entry> = self
            .entries_of(aor)
            .filter(|e| e.customer_expires_at > now)
            .collect();
        listed.sort_by(|a, b| a.contact.cmp(&b.contact));
        for e in listed {
            let left = e.customer_expires_at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let mut value = format!("<{}>", e.contact);
            let _ = write!(value, ";expires={secs}");
            rsp.push_header(HeaderName::Contact, value);
        }
        crate::stack::stateless::add_to_tag(&mut rsp);
        rsp
    }

    /// Takes the core's response to a forwarded REGISTER and returns the response for the
    /// customer (RFC 3261 §10.3, §22): a 2xx updates the cache and lists the customer's own
    /// Contacts with their customer expiry; a 401/407 is relayed with its challenges; other
    /// finals are relayed by status. `None` for provisional responses and responses to nothing
    /// pending.
    pub fn handle_core_response(&mut self, now: Instant, rsp: &Message) -> Option<Message> {
        let code = rsp.status()?;
        if code < 200 {
            return None;
        }
        let key = (rsp.call_id()?.to_owned(), rsp.cseq()?.seq);
        let pending = self.pending.remove(&key)?;
        let reason = rsp.reason().unwrap_or("");
        if (200..300).contains(&code) {
            self.apply_core_ok(now, rsp, &pending, &key.0, key.1);
            self.settle();
            self.counters.core_accepted += 1;
            return Some(self.customer_ok(now, &pending.request, &pending.aor));
        }
        self.settle();
        let mut out = Message::response_to(&pending.request, code, reason);
        let copied: &[HeaderName] = match code {
            401 | 407 => {
                self.counters.challenges_relayed += 1;
                &[HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate]
            }
            _ => &[
                HeaderName::MinExpires,
                HeaderName::RetryAfter,
                HeaderName::Warning,
            ],
        };
        for name in copied {
            for v in rsp.values(name) {
                out.push_header(name.clone(), v.to_owned());
            }
        }
        crate::stack::stateless::add_to_tag(&mut out);
        Some(out)
    }

    fn apply_core_ok(
        &mut self,
        now: Instant,
        rsp: &Message,
        pending: &Pending,
        call_id: &str,
        cseq: u32,
    ) {
        if pending.star {
            for t in self.by_aor.get(&pending.aor).cloned().unwrap_or_default() {
                self.remove(&t);
            }
            return;
        }
        // The core's grant per binding address, by token.
        let header_expires = rsp.expires();
        let granted: Vec<(String, u32)> = rsp
            .contacts()
            .filter_map(Result::ok)
            .filter_map(|c| match c {
                Contact::Addr(a) => {
                    let token = Uri::parse(a.uri).ok()?.user()?.to_owned();
                    Some((token, a.expires().or(header_expires)?))
                }
                Contact::Star => None,
            })
            .collect();
        for p in &pending.planned {
            let core_grant = granted
                .iter()
                .find(|(t, _)| *t == p.token)
                .map(|&(_, e)| e)
                .unwrap_or(0)
                // A registrar may shorten the expiry, not lengthen it (RFC 3261 §10.3 step 7).
                .min(self.cfg.core_expires);
            if p.requested == 0 || core_grant == 0 {
                self.remove(&p.token);
                continue;
            }
            let customer = p.requested.min(self.cfg.customer_expires).min(core_grant);
            let entry = Entry {
                aor: pending.aor.clone(),
                contact: p.contact.clone(),
                flow: pending.flow,
                call_id: call_id.to_owned(),
                cseq,
                core_expires_at: now + Duration::from_secs(u64::from(core_grant)),
                customer_expires_at: now + Duration::from_secs(u64::from(customer)),
                keepalive: (pending.behind_nat && !self.cfg.keepalive_interval.is_zero())
                    .then(|| KeepaliveState::new(now, self.cfg.keepalive_interval)),
            };
            self.by_contact
                .insert((pending.aor.clone(), p.contact.clone()), p.token.clone());
            self.due.push(entry.due(), p.token.clone());
            let before = self.entries.get(&p.token).and_then(|e| e.flow.connection);
            if let Some(c) = pending.flow.connection.filter(|c| before != Some(*c)) {
                let tokens = self.by_connection.entry(c).or_default();
                tokens.push(p.token.clone());
                // A long-lived connection that registers and unregisters again and again
                // leaves tokens of gone bindings: dropped whenever the list doubles.
                if tokens.len() >= 32 && tokens.len().is_power_of_two() {
                    let entries = &self.entries;
                    tokens.retain(|t| entries.contains_key(t));
                }
            }
            if self.entries.insert(p.token.clone(), entry).is_none() {
                self.by_aor
                    .entry(pending.aor.clone())
                    .or_default()
                    .push(p.token.clone());
            }
        }
    }

    fn remove(&mut self, token: &str) -> Option<Entry> {
        let e = self.entries.remove(token)?;
        self.by_contact.remove(&(e.aor.clone(), e.contact.clone()));
        if let Some(tokens) = self.by_aor.get_mut(&e.aor) {
            tokens.retain(|t| t != token);
            if tokens.is_empty() {
                self.by_aor.remove(&e.aor);
            }
        }
        Some(e)
    }

    /// The cached bindings of `aor`, in no particular order.
    fn entries_of<'a>(&'a self, aor: &str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.by_aor
            .get(aor)
            .into_iter()
            .flatten()
            .filter_map(|t| self.entries.get(t))
    }

    /// Keeps both deadline queues exact after bindings or forwarded REGISTERs changed (see
    /// [`Deadlines::settle`]).
    fn settle(&mut self) {
        let entries = &self.entries;
        self.due.settle(
            entries.len(),
            |at, token| entries.get(token).is_some_and(|e| e.due() == at),
            || entries.iter().map(|(t, e)| (e.due(), t.clone())),
        );
        let pending = &self.pending;
        self.pending_due.settle(
            pending.len(),
            |at, key| {
                pending
                    .get(key)
                    .is_some_and(|p| p.sent_at + PENDING_TIMEOUT == at)
            },
            || {
                pending
                    .iter()
                    .map(|(k, p)| (p.sent_at + PENDING_TIMEOUT, k.clone()))
            },
        );
    }

    /// The customer a request from the core is for, from the binding token in its Request-URI
    /// (`sip:<token>@<sbc_host>`); `None` if the token is unknown or the customer's binding
    /// lapsed (answer 480).
    pub fn lookup_request_uri(&self, now: Instant, request_uri: &str) -> Option<CachedTarget> {
        let uri = Uri::parse(request_uri).ok()?;
        let e = self.entries.get(uri.user()?)?;
        (e.customer_expires_at > now).then(|| CachedTarget {
            aor: e.aor.clone(),
            contact: e.contact.clone(),
            flow: e.flow,
        })
    }

    /// The customers registered for `aor` (canonical, see [`aor_of`]), sorted by contact.
    pub fn lookup_aor(&self, now: Instant, aor: &str) -> Vec<CachedTarget> {
        let mut out: Vec<CachedTarget> = self
            .entries_of(aor)
            .filter(|e| e.customer_expires_at > now)
            .map(|e| CachedTarget {
                aor: e.aor.clone(),
                contact: e.contact.clone(),
                flow: e.flow,
            })
            .collect();
        out.sort_by(|a, b| a.contact.cmp(&b.contact));
        out
    }

    /// Every binding held, with its token and when the customer's registration lapses, for
    /// the management API.
    pub fn all_bindings(&self, now: Instant) -> Vec<(String, CachedTarget, Instant)> {
        self.entries
            .iter()
            .filter(|(_, e)| e.customer_expires_at > now)
            .map(|(token, e)| {
                (
                    token.clone(),
                    CachedTarget {
                        aor: e.aor.clone(),
                        contact: e.contact.clone(),
                        flow: e.flow,
                    },
                    e.customer_expires_at,
                )
            })
            .collect()
    }

    /// Forgets every cached binding of `aor` (calls to its binding addresses get 480 from
    /// then on; the core registrar keeps its copy until its own expiry); returns how many went.
    pub fn remove_aor(&mut self, aor: &str) -> usize {
        let tokens = self.by_aor.get(aor).cloned().unwrap_or_default();
        for t in &tokens {
            self.remove(t);
        }
        self.settle();
        tokens.len()
    }

    /// A TCP/TLS connection closed: the customers registered over it are unreachable, so their
    /// cached bindings go (RFC 5626 §5.3; the core keeps its copy until its own expiry, and
    /// calls to those binding addresses get 480); returns how many went.
    pub fn handle_flow_closed(&mut self, connection: u64) -> usize {
        let mut gone = 0;
        for token in self.by_connection.remove(&connection).unwrap_or_default() {
            let on_it = self
                .entries
                .get(&token)
                .is_some_and(|e| e.flow.connection == Some(connection));
            if on_it {
                self.remove(&token);
                gone += 1;
            }
        }
        self.settle();
        gone
    }

    /// The core-side expiry of the binding behind a token, for monitoring and tests.
    pub fn core_expires_at(&self, token: &str) -> Option<Instant> {
        self.entries.get(token).map(|e| e.core_expires_at)
    }

    /// Drops customer bindings that were not refreshed and forwarded REGISTERs the core never
    /// answered.
    pub fn handle_timer(&mut self, now: Instant) {
        let interval = self.cfg.keepalive_interval;
        let max_misses = self.cfg.keepalive_failures;
        while let Some((at, token)) = self.due.pop_due(now) {
            let Some(e) = self.entries.get_mut(&token).filter(|e| e.due() == at) else {
                continue; // removed or refreshed since
            };
            if e.customer_expires_at <= now {
                if let Some(e) = self.remove(&token) {
                    self.counters.lapsed += 1;
                    self.outputs
                        .push_back(CacheOutput::Lapsed { aor: e.aor, token });
                }
                continue;
            }
            let Some(k) = e.keepalive.as_mut() else {
                continue;
            };
            let mut missed = false;
            match k.on_timer(now, interval, max_misses, &mut missed) {
                KeepaliveStep::Wait => {}
                KeepaliveStep::Remove => {
                    self.keepalive_dead(&token);
                    continue;
                }
                KeepaliveStep::Send => {
                    self.counters.keepalives_sent += 1;
                    self.outputs.push_back(CacheOutput::Keepalive {
                        token: token.clone(),
                        contact: e.contact.clone(),
                        flow: e.flow,
                        kind: KeepaliveKind::for_flow(&e.flow),
                    });
                }
            }
            self.due.push(e.due(), token);
        }
        while let Some((at, key)) = self.pending_due.pop_due(now) {
            if self
                .pending
                .get(&key)
                .is_some_and(|p| p.sent_at + PENDING_TIMEOUT == at)
            {
                self.pending.remove(&key);
            }
        }
        self.settle();
    }

    fn keepalive_dead(&mut self, token: &str) {
        if let Some(e) = self.remove(token) {
            self.counters.keepalive_removed += 1;
            self.outputs.push_back(CacheOutput::KeepaliveFailed {
                aor: e.aor,
                token: token.to_owned(),
            });
        }
    }

    /// The customer answered a keepalive: misses start again from zero.
    pub fn handle_keepalive_answer(&mut self, token: &str) {
        if let Some(k) = self
            .entries
            .get_mut(token)
            .and_then(|e| e.keepalive.as_mut())
        {
            k.answered();
        }
    }

    /// A keepalive failed for sure (timeout, transport error): one miss now, and the binding
    /// leaves the cache at `keepalive_failures` misses.
    pub fn handle_keepalive_failure(&mut self, token: &str) {
        let max_misses = self.cfg.keepalive_failures;
        let gone = self
            .entries
            .get_mut(token)
            .and_then(|e| e.keepalive.as_mut())
            .is_some_and(|k| k.failed(max_misses));
        if gone {
            self.keepalive_dead(token);
            self.settle();
        }
    }

    /// The next instant [`RegistrationCache::handle_timer`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.due.next(), self.pending_due.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next report, oldest first.
    pub fn poll_output(&mut self) -> Option<CacheOutput> {
        self.outputs.pop_front()
    }
}

/// SplitMix64 finaliser: spreads a counter and salt into an unpredictable-looking token suffix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
