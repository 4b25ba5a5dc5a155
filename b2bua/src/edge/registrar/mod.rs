//! The SBC as registrar of a customer realm (`mode = "local"`): REGISTER processing by
//! RFC 3261 §10.3, the in-memory location service, RFC 5626 outbound flows, and keepalives to
//! contacts behind NAT, sans-IO.
//!
//! One [`Registrar`] serves one realm. It is fed authenticated REGISTERs with the [`Flow`] they
//! came on and the instant they arrived, and answers each with the response to send. Time moves
//! with [`Registrar::handle_timer`]; what it wants done (send a keepalive, report a removed
//! binding) is drained with [`Registrar::poll_output`]:
//!
//! ```text
//!   REGISTER + flow ─► handle_register ─► response
//!   clock ───────────► handle_timer ──────┐
//!   OPTIONS 200 / CRLF pong ─► handle_keepalive_answer    ├─► poll_output()  ─► Keepalive | Removed
//!   timeout / ICMP ──► handle_keepalive_failure ──────────┘   poll_timeout() ─► next wake-up
//!   INVITE to an AOR ─► lookup / fork_plan ─► targets (contact URI + flow)
//! ```
//!
//! Every binding keeps the flow the REGISTER really came from (source address, transport, TCP
//! connection), not the Contact it claims, so requests to the customer go back through its NAT
//! (RFC 5626 §5.3). Expiries and keepalives wait in a deadline queue (`deadlines.rs`), so a
//! timer tick or a `poll_timeout` touches only what is due, and a closed connection finds its
//! bindings by an index.

mod binding;
pub mod cache;
pub(crate) mod deadlines;
mod keepalive;
#[cfg(test)]
mod tests;

pub use binding::{Binding, BindingId, KeepaliveKind, RemovalReason, Target};
use deadlines::Deadlines;
use keepalive::{KeepaliveState, KeepaliveStep};

pub use cache::{
    CacheAction, CacheConfig, CacheCounters, CacheOutput, CachedTarget, RegistrationCache,
};

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sbc_common::sip::uri::{Scheme, Uri};
use sbc_common::sip::{Contact, HeaderName, Message, NameAddr};
use sbc_config::{ForkMode, Realm};

use crate::edge::nat::Flow;
use crate::Map;

/// The expiry a contact gets when neither its `expires` parameter nor an Expires header gives
/// one (RFC 3261 §10.2.1.1).
pub const DEFAULT_EXPIRES: u32 = 3600;

/// Most bindings one address-of-record may hold; more are refused with 403.
pub const MAX_BINDINGS_PER_AOR: usize = 16;

/// A realm's registration policy (`[[realm]]`, RFC 3261 §10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest non-zero expiry accepted; shorter gets 423 with Min-Expires (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longest expiry granted; longer requests are cut to it.
    pub max_expires: u32,
    /// Longest expiry granted to a customer behind NAT, so its refreshes keep the pinhole open.
    pub nat_expires: u32,
    /// Interval of keepalives to contacts behind NAT; zero turns them off.
    pub keepalive_interval: Duration,
    /// Unanswered keepalives in a row after which a binding is removed.
    pub keepalive_failures: u32,
    /// How [`Registrar::fork_plan`] orders several contacts.
    pub fork_mode: ForkMode,
}

impl RegistrarConfig {
    /// The policy of a `[[realm]]` (`min_expires_s`, `max_expires_s`, `customer_expires_s` for
    /// customers behind NAT, `keepalive_*`, `fork_mode`).
    pub fn from_realm(realm: &Realm) -> Self {
        Self {
            min_expires: realm.min_expires_s,
            max_expires: realm.max_expires_s,
            nat_expires: realm.customer_expires_s,
            keepalive_interval: Duration::from_secs(u64::from(realm.keepalive_interval_s)),
            keepalive_failures: realm.keepalive_failures.max(1),
            fork_mode: realm.fork_mode,
        }
    }
}

/// What the registrar wants done, drained with [`Registrar::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarOutput {
    /// Send a keepalive on this binding's flow, then report the result with
    /// [`Registrar::handle_keepalive_answer`] or [`Registrar::handle_keepalive_failure`].
    Keepalive {
        /// The binding.
        binding: BindingId,
        /// Its address-of-record.
        aor: String,
        /// Its Contact URI (the Request-URI of an OPTIONS ping).
        contact: String,
        /// Where to send it.
        flow: Flow,
        /// OPTIONS over UDP, double CRLF over TCP/TLS.
        kind: KeepaliveKind,
    },
    /// A binding was removed by the registrar itself.
    Removed {
        /// The binding.
        binding: BindingId,
        /// Its address-of-record.
        aor: String,
        /// Why.
        reason: RemovalReason,
    },
}

/// Counters of one registrar, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrarCounters {
    /// REGISTERs answered 200.
    pub accepted: u64,
    /// REGISTERs answered with an error (400, 403, 423).
    pub rejected: u64,
    /// Bindings created.
    pub created: u64,
    /// Bindings refreshed or updated.
    pub refreshed: u64,
    /// Bindings removed by REGISTER (Expires 0 or `*`).
    pub unregistered: u64,
    /// Bindings that expired.
    pub expired: u64,
    /// Bindings removed after failed keepalives.
    pub keepalive_removed: u64,
    /// Keepalives asked for.
    pub keepalives_sent: u64,
    /// Keepalives that went unanswered.
    pub keepalive_misses: u64,
}

/// The registrar and location service of one realm (RFC 3261 §10.3, RFC 5626 §6).
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    aors: Map<String, Vec<Binding>>,
    index: Map<BindingId, String>,
    /// Each binding's next expiry or keepalive ([`Binding::due`]).
    due: Deadlines<BindingId>,
    /// The bindings registered over each TCP/TLS connection, for its close; ids of bindings
    /// removed or moved since are skipped then (see [`Registrar::handle_flow_closed`]).
    by_connection: Map<u64, Vec<BindingId>>,
    next_id: u64,
    outputs: VecDeque<RegistrarOutput>,
    counters: RegistrarCounters,
}

/// The canonical address-of-record of a SIP URI (RFC 3261 §10.3 step 5): `sip:user@host[:port]`
/// with the user unescaped, the host in lower case, and parameters and headers dropped; `sips`
/// becomes `sip`. `None` for non-SIP URIs and URIs without a user.
pub fn aor_of(uri: &str) -> Option<String> {
    let u = Uri::parse(uri).ok()?;
    if !matches!(u.scheme(), Scheme::Sip | Scheme::Sips) {
        return None;
    }
    let user = u.user_unescaped()?;
    let host = u.host()?;
    let mut aor = String::with_capacity(uri.len());
    aor.push_str("sip:");
    aor.push_str(&user);
    aor.push('@');
    aor.push_str(&host.as_str().to_ascii_lowercase());
    if let Some(p) = u.port() {
        let _ = write!(aor, ":{p}");
    }
    Some(aor)
}

/// What one Contact of a REGISTER asks for.
struct Change {
    contact: String,
    expires: u32,
    q: Option<u16>,
    instance: Option<String>,
    reg_id: Option<u32>,
}

/// A rejection: status, reason phrase, and for 423 the Min-Expires to add.
struct Reject(u16, &'static str);

impl Registrar {
    /// An empty registrar with this policy.
    pub fn new(cfg: RegistrarConfig) -> Self {
        Self {
            cfg,
            aors: Map::default(),
            index: Map::default(),
            due: Deadlines::default(),
            by_connection: Map::default(),
            next_id: 1,
            outputs: VecDeque::new(),
            counters: RegistrarCounters::default(),
        }
    }

    /// The policy.
    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// The counters.
    pub fn counters(&self) -> RegistrarCounters {
        self.counters
    }

    /// Processes an (already authenticated) REGISTER that arrived on `flow` at `now`, and returns
    /// the response (RFC 3261 §10.3 steps 5–8, RFC 5626 §6); `behind_nat` caps the expiry at
    /// `nat_expires` and turns keepalives on.
    ///
    /// The request is applied atomically: any bad contact, a too-brief expiry (423) or an
    /// out-of-order CSeq (400) leaves every binding as it was.
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Message,
        flow: Flow,
        behind_nat: bool,
    ) -> Message {
        let result = self.register(now, req, flow, behind_nat);
        self.settle();
        match result {
            Ok(rsp) => {
                self.counters.accepted += 1;
                rsp
            }
            Err(Reject(code, reason)) => {
                self.counters.rejected += 1;
                let mut rsp = Message::response_to(req, code, reason);
                if code == 423 {
                    rsp.push_header(HeaderName::MinExpires, self.cfg.min_expires.to_string());
                }
                crate::stack::stateless::add_to_tag(&mut rsp);
                rsp
            }
        }
    }

    fn register(
        &mut self,
        now: Instant,
        req: &Message,
        flow: Flow,
        behind_nat: bool,
    ) -> Result<Message, Reject> {
        let to = req.to().ok_or(Reject(400, "Bad To Header"))?;
        let aor = aor_of(to.uri).ok_or(Reject(400, "Bad Address-of-Record"))?;
        let call_id = req.call_id().ok_or(Reject(400, "Missing Call-ID"))?;
        let cseq = req.cseq().ok_or(Reject(400, "Bad CSeq"))?.seq;
        let header_expires = if req.has(&HeaderName::Expires) {
            Some(req.expires().ok_or(Reject(400, "Bad Expires"))?)
        } else {
            None
        };
        let mut star = false;
        let mut addrs: Vec<NameAddr<'_>> = Vec::new();
        for c in req.contacts() {
            match c.map_err(|_| Reject(400, "Bad Contact"))? {
                Contact::Star => star = true,
                Contact::Addr(a) => addrs.push(a),
            }
        }
        if star {
            // RFC 3261 §10.2.2, §10.3 step 6: `*` only alone and only with Expires: 0.
            if !addrs.is_empty() || req.contacts().count() != 1 {
                return Err(Reject(400, "Contact * Must Be Alone"));
            }
            if header_expires != Some(0) {
                return Err(Reject(400, "Contact * Requires Expires: 0"));
            }
            if let Some(list) = self.aors.get(&aor) {
                if list.iter().any(|b| b.call_id == call_id && cseq <= b.cseq) {
                    return Err(Reject(400, "Out Of Order CSeq"));
                }
            }
            let removed = self.aors.remove(&aor).unwrap_or_default();
            for b in &removed {
                self.index.remove(&b.id);
            }
            self.counters.unregistered += removed.len() as u64;
            return Ok(self.ok(now, req, &aor, false));
        }
        // RFC 5626 §6: outbound only when the UA said so; one reg-id contact per REGISTER.
        let outbound_asked = req.has_token(&HeaderName::Supported, "outbound");
        let flows = addrs
            .iter()
            .filter(|a| a.instance().is_some() && a.reg_id().is_some())
            .count();
        if outbound_asked && flows > 1 {
            return Err(Reject(400, "Several reg-id Contacts"));
        }
        let outbound = outbound_asked && flows == 1;
        let mut changes = Vec::with_capacity(addrs.len());
        for a in &addrs {
            let requested = a.expires().or(header_expires).unwrap_or(DEFAULT_EXPIRES);
            if requested != 0 && requested < self.cfg.min_expires {
                return Err(Reject(423, "Interval Too Brief"));
            }
            let mut granted = requested.min(self.cfg.max_expires);
            if behind_nat && granted != 0 {
                granted = granted.min(self.cfg.nat_expires.max(self.cfg.min_expires));
            }
            let instance = a.instance().map(str::to_owned);
            changes.push(Change {
                contact: a.uri.to_owned(),
                expires: granted,
                q: a.q(),
                reg_id: if outbound && instance.is_some() {
                    a.reg_id()
                } else {
                    None
                },
                instance,
            });
        }
        // RFC 3261 §10.3 step 7: an existing binding from the same Call-ID must see a higher
        // CSeq, else the whole request fails.
        let existing = self.aors.get(&aor).map(Vec::as_slice).unwrap_or_default();
        for ch in &changes {
            if let Some(b) = existing.iter().find(|b| same_binding(b, ch)) {
                if b.call_id == call_id && cseq <= b.cseq {
                    return Err(Reject(400, "Out Of Order CSeq"));
                }
            }
        }
        let new_count = changes
            .iter()
            .filter(|ch| ch.expires != 0 && !existing.iter().any(|b| same_binding(b, ch)))
            .count();
        if existing.len() + new_count > MAX_BINDINGS_PER_AOR {
            return Err(Reject(403, "Too Many Contacts"));
        }
        for ch in changes {
            self.apply(now, &aor, ch, call_id, cseq, flow, behind_nat);
        }
        Ok(self.ok(now, req, &aor, outbound))
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        now: Instant,
        aor: &str,
        ch: Change,
        call_id: &str,
        cseq: u32,
        flow: Flow,
        behind_nat: bool,
    ) {
        let keepalive = (behind_nat && !self.cfg.keepalive_interval.is_zero())
            .then(|| KeepaliveState::new(now, self.cfg.keepalive_interval));
        let list = self.aors.entry(aor.to_owned()).or_default();
        let pos = list.iter().position(|b| same_binding(b, &ch));
        if ch.expires == 0 {
            if let Some(i) = pos {
                let b = list.remove(i);
                self.index.remove(&b.id);
                self.counters.unregistered += 1;
            }
            if list.is_empty() {
                self.aors.remove(aor);
            }
            return;
        }
        let expires_at = now + Duration::from_secs(u64::from(ch.expires));
        // A binding that is new on a TCP/TLS connection, for the connection's index.
        let mut joined = None;
        match pos.and_then(|i| list.get_mut(i)) {
            Some(b) => {
                if flow.connection != b.flow.connection {
                    joined = flow.connection.map(|c| (c, b.id));
                }
                b.contact = ch.contact;
                b.q = ch.q;
                b.expires_at = expires_at;
                call_id.clone_into(&mut b.call_id);
                b.cseq = cseq;
                b.flow = flow;
                b.behind_nat = behind_nat;
                b.instance = ch.instance;
                b.reg_id = ch.reg_id;
                b.keepalive = keepalive;
                self.due.push(b.due(), b.id);
                self.counters.refreshed += 1;
            }
            None => {
                let id = BindingId(self.next_id);
                self.next_id += 1;
                let b = Binding {
                    id,
                    contact: ch.contact,
                    q: ch.q,
                    expires_at,
                    call_id: call_id.to_owned(),
                    cseq,
                    flow,
                    behind_nat,
                    instance: ch.instance,
                    reg_id: ch.reg_id,
                    keepalive,
                };
                self.due.push(b.due(), id);
                joined = flow.connection.map(|c| (c, id));
                list.push(b);
                self.index.insert(id, aor.to_owned());
                self.counters.created += 1;
            }
        }
        if let Some((connection, id)) = joined {
            let ids = self.by_connection.entry(connection).or_default();
            ids.push(id);
            // A long-lived connection that registers and unregisters again and again leaves
            // ids of gone bindings: dropped whenever the list doubles.
            if ids.len() >= 32 && ids.len().is_power_of_two() {
                let index = &self.index;
                ids.retain(|i| index.contains_key(i));
            }
        }
    }

    /// The 200 listing every current binding of `aor` with its remaining expiry
    /// (RFC 3261 §10.3 step 8), with `Require: outbound` when outbound was used (RFC 5626 §6).
    fn ok(&self, now: Instant, req: &Message, aor: &str, outbound: bool) -> Message {
        let mut rsp = Message::response_to(req, 200, "OK");
        for b in self.aors.get(aor).map(Vec::as_slice).unwrap_or_default() {
            let remaining = b.expires_at.saturating_duration_since(now);
            let secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
            let mut value = format!("<{}>;expires={secs}", b.contact);
            if let Some(q) = b.q {
                value.push_str(";q=");
                value.push_str(&format_q(q));
            }
            if let Some(inst) = &b.instance {
                let _ = write!(value, ";+sip.instance=\"<{inst}>\"");
            }
            if let Some(r) = b.reg_id {
                let _ = write!(value, ";reg-id={r}");
            }
            rsp.push_header(HeaderName::Contact, value);
        }
        if outbound {
            rsp.push_header(HeaderName::Require, "outbound");
        }
        crate::stack::stateless::add_to_tag(&mut rsp);
        rsp
    }

    /// Every live binding of `aor` (canonical form, see [`aor_of`]).
    pub fn bindings(&self, now: Instant, aor: &str) -> Vec<&Binding> {
        self.aors
            .get(aor)
            .map(|l| l.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default()
    }

    /// Every live binding with its address-of-record, for the management API (RFC 3261 §10.3).
    pub fn all_bindings(&self, now: Instant) -> Vec<(&str, &Binding)> {
        self.aors
            .iter()
            .flat_map(|(aor, l)| {
                l.iter()
                    .filter(move |b| b.expires_at > now)
                    .map(move |b| (aor.as_str(), b))
            })
            .collect()
    }

    /// Removes every binding of `aor` (an administrative unregistration, as a REGISTER with
    /// `Contact: *` would, RFC 3261 §10.3 step 6); returns how many went.
    pub fn remove_aor(&mut self, aor: &str) -> usize {
        let Some(list) = self.aors.remove(aor) else {
            return 0;
        };
        for b in &list {
            self.index.remove(&b.id);
        }
        self.counters.unregistered += list.len() as u64;
        self.settle();
        list.len()
    }

    /// Number of bindings held, across all addresses-of-record.
    pub fn binding_count(&self) -> usize {
        self.index.len()
    }

    /// The targets for a request to `aor`, highest q first, newest first among equals
    /// (RFC 3261 §16.5, §16.6); empty when nobody is registered (answer 480).
    pub fn lookup(&self, now: Instant, aor: &str) -> Vec<Target> {
        let mut targets: Vec<Target> = self
            .bindings(now, aor)
            .into_iter()
            .map(|b| Target {
                binding: b.id,
                contact: b.contact.clone(),
                flow: b.flow,
                q: b.q.unwrap_or(1000),
            })
            .collect();
        targets.sort_by(|a, b| b.q.cmp(&a.q).then(b.binding.cmp(&a.binding)));
        targets
    }

    /// The order to try the targets of `aor` in: one group rung in parallel (`fork_mode =
    /// "parallel"`), or groups of equal q tried one after another, highest q first, each group
    /// rung in parallel (`"serial"`, RFC 3261 §16.6 step 1).
    pub fn fork_plan(&self, now: Instant, aor: &str) -> Vec<Vec<Target>> {
        let targets = self.lookup(now, aor);
        if targets.is_empty() {
            return Vec::new();
        }
        match self.cfg.fork_mode {
            ForkMode::Parallel => vec![targets],
            ForkMode::Serial => {
                let mut groups: Vec<Vec<Target>> = Vec::new();
                for t in targets {
                    match groups.last_mut() {
                        Some(g) if g.first().is_some_and(|f| f.q == t.q) => g.push(t),
                        _ => groups.push(vec![t]),
                    }
                }
                groups
            }
        }
    }

    /// Removes expired bindings and sends due keepalives; a keepalive still unanswered when the
    /// next one is due counts as a miss, and `keepalive_failures` misses in a row remove the
    /// binding (RFC 3261 §10.3, RFC 5626 §4.4).
    pub fn handle_timer(&mut self, now: Instant) {
        let interval = self.cfg.keepalive_interval;
        let max_misses = self.cfg.keepalive_failures;
        while let Some((at, id)) = self.due.pop_due(now) {
            let Some(aor) = self.index.get(&id) else {
                continue; // removed since
            };
            let Some(b) = self
                .aors
                .get_mut(aor.as_str())
                .and_then(|l| l.iter_mut().find(|b| b.id == id))
            else {
                continue;
            };
            if b.due() != at {
                continue; // refreshed since: its newer entry comes later
            }
            if b.expires_at <= now {
                self.remove(id, RemovalReason::Expired);
                continue;
            }
            let Some(k) = b.keepalive.as_mut() else {
                continue;
            };
            let mut missed = false;
            let step = k.on_timer(now, interval, max_misses, &mut missed);
            if missed {
                self.counters.keepalive_misses += 1;
            }
            match step {
                KeepaliveStep::Wait => {}
                KeepaliveStep::Remove => {
                    self.remove(id, RemovalReason::KeepaliveFailed);
                    continue;
                }
                KeepaliveStep::Send => {
                    self.counters.keepalives_sent += 1;
                    self.outputs.push_back(RegistrarOutput::Keepalive {
                        binding: b.id,
                        aor: aor.clone(),
                        contact: b.contact.clone(),
                        flow: b.flow,
                        kind: KeepaliveKind::for_flow(&b.flow),
                    });
                }
            }
            self.due.push(b.due(), id);
        }
        self.settle();
    }

    /// Keeps the deadline queue exact after bindings changed (see [`Deadlines::settle`]).
    fn settle(&mut self) {
        let (index, aors) = (&self.index, &self.aors);
        self.due.settle(
            index.len(),
            |at, id| {
                index
                    .get(id)
                    .and_then(|aor| aors.get(aor.as_str()))
                    .and_then(|l| l.iter().find(|b| b.id == *id))
                    .is_some_and(|b| b.due() == at)
            },
            || aors.values().flatten().map(|b| (b.due(), b.id)),
        );
    }

    fn note_removed(&mut self, id: BindingId, aor: String, reason: RemovalReason) {
        self.index.remove(&id);
        match reason {
            RemovalReason::Expired => self.counters.expired += 1,
            RemovalReason::KeepaliveFailed => self.counters.keepalive_removed += 1,
            RemovalReason::FlowClosed => {}
        }
        self.outputs.push_back(RegistrarOutput::Removed {
            binding: id,
            aor,
            reason,
        });
    }

    fn binding_mut(&mut self, id: BindingId) -> Option<&mut Binding> {
        let aor = self.index.get(&id)?;
        self.aors.get_mut(aor)?.iter_mut().find(|b| b.id == id)
    }

    /// The customer answered a keepalive (any response to OPTIONS, or the CRLF pong): the miss
    /// count starts again from zero.
    pub fn handle_keepalive_answer(&mut self, id: BindingId) {
        if let Some(k) = self.binding_mut(id).and_then(|b| b.keepalive.as_mut()) {
            k.answered();
        }
    }

    /// A keepalive failed for sure (transaction timeout, transport error): one miss now, and the
    /// binding goes once `keepalive_failures` misses are reached.
    pub fn handle_keepalive_failure(&mut self, id: BindingId) {
        let max_misses = self.cfg.keepalive_failures;
        let Some(k) = self.binding_mut(id).and_then(|b| b.keepalive.as_mut()) else {
            return;
        };
        let gone = k.failed(max_misses);
        self.counters.keepalive_misses += 1;
        if gone {
            self.remove(id, RemovalReason::KeepaliveFailed);
            self.settle();
        }
    }

    /// A TCP/TLS connection closed: bindings whose flow used it are removed (RFC 5626 §5.3).
    pub fn handle_flow_closed(&mut self, connection: u64) {
        for id in self.by_connection.remove(&connection).unwrap_or_default() {
            let on_it = self
                .index
                .get(&id)
                .and_then(|aor| self.aors.get(aor.as_str()))
                .and_then(|l| l.iter().find(|b| b.id == id))
                .is_some_and(|b| b.flow.connection == Some(connection));
            if on_it {
                self.remove(id, RemovalReason::FlowClosed);
            }
        }
        self.settle();
    }

    fn remove(&mut self, id: BindingId, reason: RemovalReason) {
        let Some(aor) = self.index.get(&id).cloned() else {
            return;
        };
        if let Some(list) = self.aors.get_mut(&aor) {
            list.retain(|b| b.id != id);
            if list.is_empty() {
                self.aors.remove(&aor);
            }
        }
        self.note_removed(id, aor, reason);
    }

    /// How many entries the deadline queue holds, live and stale.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.due.len()
    }

    /// The next instant [`Registrar::handle_timer`] has work: an expiry or a keepalive.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due.next()
    }

    /// The next thing to do, oldest first.
    pub fn poll_output(&mut self) -> Option<RegistrarOutput> {
        self.outputs.pop_front()
    }
}

/// Whether an existing binding is the one a Contact refers to: the same instance and reg-id
/// for outbound flows (RFC 5626 §6), else an equivalent URI (RFC 3261 §10.3 step 7, §19.1.4).
fn same_binding(b: &Binding, ch: &Change) -> bool {
    if let (Some(r), Some(inst)) = (ch.reg_id, &ch.instance) {
        return b.reg_id == Some(r) && b.instance.as_deref() == Some(inst.as_str());
    }
    if b.reg_id.is_some() {
        return false;
    }
    if b.contact == ch.contact {
        return true;
    }
    match (Uri::parse(&b.contact), Uri::parse(&ch.contact)) {
        (Ok(x), Ok(y)) => x.equivalent(&y),
        _ => false,
    }
}

/// A q value in thousandths written as `0.5`, `1`, `0.125` (RFC 3261 §25.1 `qvalue`).
fn format_q(q: u16) -> String {
    if q >= 1000 {
        return "1".to_owned();
    }
    let mut s = format!("0.{q:03}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.push('0');
    }
    s
}
