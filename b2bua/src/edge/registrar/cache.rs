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
    pending: Map<(String, u32), Pending>,
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
            pending: Map::default(),
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
        match self.decide(now, req, flow, behind_nat) {
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
            }
        }
        Some(self.customer_ok(now, req, aor))
    }

    /// A 200 for the customer listing its cached bindings with their remaining customer expiry.
    fn customer_ok(&self, now: Instant, req: &Message, aor: &str) -> Message {
        let mut rsp = Message::response_to(req, 200, "OK");
        let mut listed: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| e.aor == aor && e.customer_expires_at > now)
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
            self.counters.core_accepted += 1;
            return Some(self.customer_ok(now, &pending.request, &pending.aor));
        }
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
            let tokens: Vec<String> = self
                .entries
                .iter()
                .filter(|(_, e)| e.aor == pending.aor)
                .map(|(t, _)| t.clone())
                .collect();
            for t in tokens {
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
            self.entries.insert(p.token.clone(), entry);
        }
    }

    fn remove(&mut self, token: &str) -> Option<Entry> {
        let e = self.entries.remove(token)?;
        self.by_contact.remove(&(e.aor.clone(), e.contact.clone()));
        Some(e)
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
            .entries
            .values()
            .filter(|e| e.aor == aor && e.customer_expires_at > now)
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
        let tokens: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.aor == aor)
            .map(|(t, _)| t.clone())
            .collect();
        for t in &tokens {
            self.remove(t);
        }
        tokens.len()
    }

    /// A TCP/TLS connection closed: the customers registered over it are unreachable, so their
    /// cached bindings go (RFC 5626 §5.3; the core keeps its copy until its own expiry, and
    /// calls to those binding addresses get 480); returns how many went.
    pub fn handle_flow_closed(&mut self, connection: u64) -> usize {
        let tokens: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.flow.connection == Some(connection))
            .map(|(t, _)| t.clone())
            .collect();
        for t in &tokens {
            self.remove(t);
        }
        tokens.len()
    }

    /// The core-side expiry of the binding behind a token, for monitoring and tests.
    pub fn core_expires_at(&self, token: &str) -> Option<Instant> {
        self.entries.get(token).map(|e| e.core_expires_at)
    }

    /// Drops customer bindings that were not refreshed and forwarded REGISTERs the core never
    /// answered.
    pub fn handle_timer(&mut self, now: Instant) {
        let lapsed: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.customer_expires_at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for token in lapsed {
            if let Some(e) = self.remove(&token) {
                self.counters.lapsed += 1;
                self.outputs
                    .push_back(CacheOutput::Lapsed { aor: e.aor, token });
            }
        }
        let interval = self.cfg.keepalive_interval;
        let max_misses = self.cfg.keepalive_failures;
        let mut dead = Vec::new();
        for (token, e) in &mut self.entries {
            let Some(k) = e.keepalive.as_mut() else {
                continue;
            };
            let mut missed = false;
            match k.on_timer(now, interval, max_misses, &mut missed) {
                KeepaliveStep::Wait => {}
                KeepaliveStep::Remove => dead.push(token.clone()),
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
        }
        for token in dead {
            self.keepalive_dead(&token);
        }
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.sent_at) < PENDING_TIMEOUT);
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
        }
    }

    /// The next instant [`RegistrationCache::handle_timer`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let entries = self
            .entries
            .values()
            .flat_map(|e| [Some(e.customer_expires_at), e.keepalive.map(|k| k.next_at)]);
        let pending = self
            .pending
            .values()
            .map(|p| Some(p.sent_at + PENDING_TIMEOUT));
        entries.chain(pending).flatten().min()
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
mod tests {
    use super::*;
    use bytes::Bytes;
    use sbc_common::sip::Limits;

    const S: Duration = Duration::from_secs(1);
    const SBC: &str = "192.0.2.1:5080";

    impl RegistrationCache {
        /// A REGISTER from a customer not behind NAT.
        fn customer_register(&mut self, now: Instant, req: &Message, flow: Flow) -> CacheAction {
            self.handle_customer_register(now, req, flow, false)
        }
    }

    fn cache() -> RegistrationCache {
        RegistrationCache::new(
            CacheConfig {
                customer_expires: 60,
                core_expires: 3600,
                min_expires: 30,
                keepalive_interval: Duration::from_secs(30),
                keepalive_failures: 2,
            },
            SBC,
            0x5eed,
        )
    }

    fn flow() -> Flow {
        Flow::udp("203.0.113.5:40000".parse().unwrap())
    }

    fn parse(text: String) -> Message {
        Message::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    fn register(call_id: &str, cseq: u32, headers: &str) -> Message {
        parse(format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKc{cseq};rport\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:alice@example.com>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{headers}Content-Length: 0\r\n\r\n"
        ))
    }

    const CONTACT: &str = "Expires: 3600\r\nContact: <sip:alice@10.0.0.2:5060;ob>\r\n";

    /// The core's answer to a forwarded REGISTER: `code`, echoing its Contacts with `expires`.
    fn core_answer(fwd: &Message, code: u16, expires: Option<u32>, extra: &str) -> Message {
        let mut contacts = String::new();
        if let Some(e) = expires {
            for c in fwd.contacts() {
                if let Ok(Contact::Addr(a)) = c {
                    if a.expires() != Some(0) {
                        contacts.push_str(&format!("Contact: <{}>;expires={e}\r\n", a.uri));
                    }
                }
            }
        }
        parse(format!(
            "SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/UDP {SBC};branch=z9hG4bKsbc\r\nFrom: {}\r\nTo: {};tag=core1\r\nCall-ID: {}\r\nCSeq: {}\r\n{contacts}{extra}Content-Length: 0\r\n\r\n",
            fwd.header(&HeaderName::From).unwrap(),
            fwd.header(&HeaderName::To).unwrap(),
            fwd.call_id().unwrap(),
            fwd.header(&HeaderName::CSeq).unwrap(),
        ))
    }

    fn forwarded(action: CacheAction) -> Message {
        match action {
            CacheAction::Forward(m) => m,
            other => panic!("expected Forward, got {other:?}"),
        }
    }

    fn contact_list(m: &Message) -> Vec<(String, Option<u32>)> {
        m.contacts()
            .filter_map(|c| match c.unwrap() {
                Contact::Addr(a) => Some((a.uri.to_owned(), a.expires())),
                Contact::Star => None,
            })
            .collect()
    }

    /// Registers alice at t0 and returns the binding token.
    fn registered(c: &mut RegistrationCache, t0: Instant) -> String {
        let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
        let token = Uri::parse(&contact_list(&fwd)[0].0)
            .unwrap()
            .user()
            .unwrap()
            .to_owned();
        let rsp = c
            .handle_core_response(t0, &core_answer(&fwd, 200, Some(3600), ""))
            .unwrap();
        assert_eq!(rsp.status(), Some(200));
        token
    }

    #[test]
    fn customer_gets_short_expiry_and_core_long_with_rewritten_contact() {
        let t0 = Instant::now();
        let mut c = cache();
        let req = register(
            "c1",
            1,
            &format!("{CONTACT}Authorization: Digest username=\"alice\"\r\n"),
        );
        let fwd = forwarded(c.customer_register(t0, &req, flow()));
        assert!(
            !fwd.has(&HeaderName::Via),
            "the SBC's transaction adds its own Via"
        );
        assert!(!fwd.has(&HeaderName::Expires));
        assert_eq!(fwd.uri(), Some("sip:example.com"));
        assert_eq!(fwd.call_id(), Some("c1"));
        assert_eq!(
            fwd.header(&HeaderName::Authorization),
            Some("Digest username=\"alice\""),
            "credentials go up unchanged"
        );
        let list = contact_list(&fwd);
        assert_eq!(list.len(), 1);
        let (uri, expires) = &list[0];
        assert_eq!(*expires, Some(3600), "core sees the long expiry");
        let parsed = Uri::parse(uri).unwrap();
        assert_eq!(parsed.host().unwrap().as_str(), "192.0.2.1");
        assert_eq!(parsed.port(), Some(5080));
        let token = parsed.user().unwrap().to_owned();
        assert!(
            !token.contains("alice") && !uri.contains("10.0.0.2"),
            "{uri}"
        );

        let rsp = c
            .handle_core_response(t0, &core_answer(&fwd, 200, Some(3600), ""))
            .unwrap();
        assert_eq!(rsp.status(), Some(200));
        assert_eq!(
            contact_list(&rsp),
            vec![("sip:alice@10.0.0.2:5060;ob".to_owned(), Some(60))],
            "customer sees its own Contact with the short expiry"
        );
        assert_eq!(
            rsp.via().unwrap().host,
            "10.0.0.2",
            "answered on the customer's transaction"
        );
        assert!(rsp.to().unwrap().tag().is_some());
        assert_eq!(c.core_expires_at(&token), Some(t0 + 3600 * S));
        assert_eq!(c.counters().core_accepted, 1);
    }

    #[test]
    fn refreshes_are_absorbed_until_the_core_binding_nears_expiry() {
        let t0 = Instant::now();
        let mut c = cache();
        let token = registered(&mut c, t0);
        // The phone refreshes every 50 s, before its 60 s run out. The core binding (3600 s)
        // must outlive the next refresh plus the margin: 3600 - 50k > 60 + 32, so k = 1..=70
        // are absorbed and k = 71 (50 s left at the core) is forwarded.
        let mut forwarded_at = None;
        for k in 1..=71u32 {
            let t = t0 + k * 50 * S;
            c.handle_timer(t - S);
            match c.customer_register(t, &register("c1", 1 + k, CONTACT), flow()) {
                CacheAction::Absorb(rsp) => {
                    assert_eq!(rsp.status(), Some(200));
                    assert_eq!(contact_list(&rsp)[0].1, Some(60));
                }
                CacheAction::Forward(fwd) => {
                    forwarded_at = Some(k);
                    assert_eq!(
                        contact_list(&fwd)[0].0,
                        format!("sip:{token}@{SBC}"),
                        "same token"
                    );
                    let rsp = c
                        .handle_core_response(t, &core_answer(&fwd, 200, Some(3600), ""))
                        .unwrap();
                    assert_eq!(contact_list(&rsp)[0].1, Some(60));
                    assert_eq!(c.core_expires_at(&token), Some(t + 3600 * S));
                }
                CacheAction::Reject(r) => panic!("rejected: {r:?}"),
            }
        }
        assert_eq!(forwarded_at, Some(71));
        assert_eq!(c.counters().absorbed, 70);
        assert_eq!(c.counters().forwarded, 2);
        // After the forwarded refresh the next ones are absorbed again.
        let t = t0 + 72 * 50 * S;
        assert!(matches!(
            c.customer_register(t, &register("c1", 73, CONTACT), flow()),
            CacheAction::Absorb(_)
        ));
    }

    #[test]
    fn a_shorter_core_grant_shortens_the_absorbing_period() {
        let t0 = Instant::now();
        let mut c = cache();
        let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
        c.handle_core_response(t0, &core_answer(&fwd, 200, Some(200), ""))
            .unwrap();
        // 200 - 50 = 150 > 60 + 32: absorbed; 200 - 100 = 100 > 92: absorbed;
        // 200 - 110 = 90: forwarded.
        for (t, cseq) in [(50, 2), (100, 3)] {
            assert!(matches!(
                c.customer_register(t0 + t * S, &register("c1", cseq, CONTACT), flow()),
                CacheAction::Absorb(_)
            ));
        }
        assert!(matches!(
            c.customer_register(t0 + 110 * S, &register("c1", 4, CONTACT), flow()),
            CacheAction::Forward(_)
        ));
        // A core grant below the customer expiry is passed on as is.
        let mut c = cache();
        let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
        let rsp = c
            .handle_core_response(t0, &core_answer(&fwd, 200, Some(40), ""))
            .unwrap();
        assert_eq!(contact_list(&rsp)[0].1, Some(40));
    }

    #[test]
    fn refreshes_that_cannot_be_trusted_are_forwarded() {
        let t0 = Instant::now();
        let mut c = cache();
        registered(&mut c, t0);
        let t = t0 + 30 * S;
        let other_flow = Flow::udp("198.51.100.9:40000".parse().unwrap());
        for (req, f, why) in [
            (register("c1", 2, CONTACT), other_flow, "another flow"),
            (register("c2", 2, CONTACT), flow(), "another Call-ID"),
            (register("c1", 1, CONTACT), flow(), "CSeq not higher"),
            (
                register(
                    "c1",
                    2,
                    "Contact: <sip:alice@10.0.0.2:5060;ob>;expires=0\r\n",
                ),
                flow(),
                "a removal",
            ),
            (
                register("c1", 2, "Contact: <sip:alice@10.0.0.7>\r\n"),
                flow(),
                "a new contact",
            ),
            (register("c1", 2, ""), flow(), "a query"),
        ] {
            assert!(
                matches!(c.customer_register(t, &req, f), CacheAction::Forward(_)),
                "{why}"
            );
        }
        assert_eq!(c.counters().absorbed, 0);
    }

    #[test]
    fn core_challenge_is_relayed_down_and_credentials_up() {
        let t0 = Instant::now();
        let mut c = cache();
        let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
        let challenge =
            "Digest realm=\"core.example\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\"";
        let rsp = c
            .handle_core_response(
                t0,
                &core_answer(
                    &fwd,
                    401,
                    None,
                    &format!("WWW-Authenticate: {challenge}\r\n"),
                ),
            )
            .unwrap();
        assert_eq!(rsp.status(), Some(401));
        assert_eq!(rsp.header(&HeaderName::WwwAuthenticate), Some(challenge));
        assert_eq!(rsp.via().unwrap().host, "10.0.0.2");
        assert!(c.is_empty(), "nothing cached before the core accepts");
        let creds = "Digest username=\"alice\", realm=\"core.example\", nonce=\"abc\", uri=\"sip:example.com\", response=\"00\"";
        let fwd = forwarded(c.customer_register(
            t0 + S,
            &register("c1", 2, &format!("{CONTACT}Authorization: {creds}\r\n")),
            flow(),
        ));
        assert_eq!(fwd.header(&HeaderName::Authorization), Some(creds));
        assert_eq!(c.counters().challenges_relayed, 1);
        // Other failures are relayed by status, with Min-Expires for a 423.
        let rsp = c
            .handle_core_response(
                t0 + S,
                &core_answer(&fwd, 423, None, "Min-Expires: 7200\r\n"),
            )
            .unwrap();
        assert_eq!(rsp.status(), Some(423));
        assert_eq!(rsp.min_expires(), Some(7200));
        // A second answer to the same REGISTER (or a provisional) is not for anyone.
        assert!(c
            .handle_core_response(t0 + S, &core_answer(&fwd, 200, Some(3600), ""))
            .is_none());
    }

    #[test]
    fn binding_address_leads_back_to_the_customer_flow() {
        let t0 = Instant::now();
        let mut c = cache();
        let token = registered(&mut c, t0);
        let target = c
            .lookup_request_uri(t0 + S, &format!("sip:{token}@{SBC}"))
            .unwrap();
        assert_eq!(target.contact, "sip:alice@10.0.0.2:5060;ob");
        assert_eq!(target.flow, flow());
        assert_eq!(target.aor, "sip:alice@example.com");
        assert_eq!(c.lookup_aor(t0, "sip:alice@example.com"), vec![target]);
        assert_eq!(c.lookup_request_uri(t0, &format!("sip:nope@{SBC}")), None);
        // The customer stops refreshing: after 60 s the binding lapses.
        assert_eq!(c.poll_timeout(), Some(t0 + 60 * S));
        c.handle_timer(t0 + 60 * S);
        assert_eq!(
            c.poll_output(),
            Some(CacheOutput::Lapsed {
                aor: "sip:alice@example.com".into(),
                token: token.clone()
            })
        );
        assert_eq!(
            c.lookup_request_uri(t0 + 60 * S, &format!("sip:{token}@{SBC}")),
            None
        );
        assert_eq!(c.counters().lapsed, 1);
    }

    #[test]
    fn unregister_is_forwarded_and_clears_the_cache() {
        let t0 = Instant::now();
        let mut c = cache();
        let token = registered(&mut c, t0);
        let fwd = forwarded(c.customer_register(
            t0 + S,
            &register(
                "c1",
                2,
                "Expires: 0\r\nContact: <sip:alice@10.0.0.2:5060;ob>\r\n",
            ),
            flow(),
        ));
        assert_eq!(
            contact_list(&fwd),
            vec![(format!("sip:{token}@{SBC}"), Some(0))]
        );
        let rsp = c
            .handle_core_response(t0 + S, &core_answer(&fwd, 200, Some(3600), ""))
            .unwrap();
        assert!(contact_list(&rsp).is_empty());
        assert!(c.is_empty());
        // Contact: * with Expires: 0 clears every binding of the AOR.
        registered(&mut c, t0 + 2 * S);
        let fwd = forwarded(c.customer_register(
            t0 + 3 * S,
            &register("c1", 9, "Expires: 0\r\nContact: *\r\n"),
            flow(),
        ));
        assert_eq!(fwd.header(&HeaderName::Contact), Some("*"));
        assert_eq!(fwd.expires(), Some(0));
        c.handle_core_response(t0 + 3 * S, &core_answer(&fwd, 200, None, ""));
        assert!(c.is_empty());
    }

    #[test]
    fn bad_registers_are_rejected_locally() {
        let t0 = Instant::now();
        let mut c = cache();
        for (headers, code) in [
            ("Contact: *\r\n", 400),
            ("Expires: 0\r\nContact: *, <sip:a@10.0.0.1>\r\n", 400),
            ("Contact: <sip:alice@10.0.0.2>;expires=10\r\n", 423),
            ("Expires: never\r\nContact: <sip:alice@10.0.0.2>\r\n", 400),
        ] {
            let CacheAction::Reject(rsp) =
                c.customer_register(t0, &register("c1", 1, headers), flow())
            else {
                panic!("{headers:?} not rejected")
            };
            assert_eq!(rsp.status(), Some(code), "{headers:?}");
            if code == 423 {
                assert_eq!(rsp.min_expires(), Some(30));
            }
        }
        assert_eq!(c.counters().rejected, 4);
        assert_eq!(c.counters().forwarded, 0);
    }

    #[test]
    fn unanswered_forwards_are_forgotten() {
        let t0 = Instant::now();
        let mut c = cache();
        let fwd = forwarded(c.customer_register(t0, &register("c1", 1, CONTACT), flow()));
        assert_eq!(c.poll_timeout(), Some(t0 + PENDING_TIMEOUT));
        c.handle_timer(t0 + PENDING_TIMEOUT);
        assert!(c
            .handle_core_response(
                t0 + PENDING_TIMEOUT,
                &core_answer(&fwd, 200, Some(3600), "")
            )
            .is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn natted_customers_get_keepalives_and_dead_flows_leave_the_cache() {
        let t0 = Instant::now();
        let mut c = cache();
        let fwd =
            forwarded(c.handle_customer_register(t0, &register("c1", 1, CONTACT), flow(), true));
        c.handle_core_response(t0, &core_answer(&fwd, 200, Some(3600), ""))
            .unwrap();
        let token = Uri::parse(&contact_list(&fwd)[0].0)
            .unwrap()
            .user()
            .unwrap()
            .to_owned();
        assert_eq!(
            c.poll_timeout(),
            Some(t0 + 30 * S),
            "keepalive before expiry"
        );
        c.handle_timer(t0 + 30 * S);
        assert_eq!(
            c.poll_output(),
            Some(CacheOutput::Keepalive {
                token: token.clone(),
                contact: "sip:alice@10.0.0.2:5060;ob".into(),
                flow: flow(),
                kind: KeepaliveKind::Options
            })
        );
        // An absorbed refresh proves the flow; then two explicit failures remove the binding.
        assert!(matches!(
            c.handle_customer_register(t0 + 40 * S, &register("c1", 2, CONTACT), flow(), true),
            CacheAction::Absorb(_)
        ));
        c.handle_keepalive_failure(&token);
        assert_eq!(c.len(), 1);
        c.handle_keepalive_answer(&token);
        c.handle_keepalive_failure(&token);
        assert_eq!(c.len(), 1, "the answer reset the count");
        c.handle_keepalive_failure(&token);
        assert!(c.is_empty());
        assert_eq!(
            c.poll_output(),
            Some(CacheOutput::KeepaliveFailed {
                aor: "sip:alice@example.com".into(),
                token: token.clone()
            })
        );
        assert_eq!(
            c.lookup_request_uri(t0 + 41 * S, &format!("sip:{token}@{SBC}")),
            None
        );
        assert_eq!(c.counters().keepalive_removed, 1);
        // Customers not behind NAT get none.
        let mut c = cache();
        registered(&mut c, t0);
        assert_eq!(
            c.poll_timeout(),
            Some(t0 + 60 * S),
            "only the customer expiry"
        );
    }

    #[test]
    fn hostile_values_never_panic() {
        let t0 = Instant::now();
        let mut c = cache();
        for headers in [
            "Contact: <sip:a@[::1]>;expires=4294967295\r\n",
            "Expires: 4294967296\r\nContact: <sip:a@10.0.0.1>\r\n",
            "Contact: <sip:a@10.0.0.1>;expires=-1\r\n",
            "Contact: <sip:a@10.0.0.1>;q=7\r\n",
            "Contact: *;expires=0\r\n",
            "Contact: <>\r\n",
            "Contact: ,,,\r\n",
            "Contact: <sip:a@10.0.0.1>;+sip.instance=\"<>\";reg-id=99999999999\r\n",
        ] {
            let req = register("c1", 1, headers);
            match c.customer_register(t0, &req, flow()) {
                CacheAction::Reject(r) | CacheAction::Absorb(r) => {
                    assert!(matches!(r.status(), Some(200 | 400 | 423)), "{headers:?}");
                }
                CacheAction::Forward(fwd) => {
                    // Even a core granting absurd expiries is clamped to what was asked.
                    let rsp =
                        c.handle_core_response(t0, &core_answer(&fwd, 200, Some(u32::MAX), ""));
                    assert_eq!(rsp.and_then(|r| r.status()), Some(200), "{headers:?}");
                }
            }
        }
        assert!(!c.is_empty());
        for token in c.entries.keys() {
            assert!(c.core_expires_at(token).unwrap() <= t0 + 3600 * S);
        }
    }
}
