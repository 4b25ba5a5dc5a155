//! The customer side's front door, sans-IO: per-source rate limit, failed-authentication
//! throttle, digest authentication, and registration by realm (local registrar or forward-mode
//! cache), plus the lookup that sends requests from the core to the customer's flow
//! (RFC 3261 §10.3, §16.5, §22; RFC 3581; RFC 5626).
//!
//! [`Customers`] is what the driver calls for requests from the customer side:
//!
//! ```text
//!   REGISTER + flow ───► handle_register ──► Respond | Forward (to the core registrar) | Drop
//!   other request ─────► admit ────────────► Proceed | Respond (407, 403, 503) | Drop
//!   core's REGISTER answer ► handle_core_response ► response for the customer
//!   request from core ─► route_inbound ────► targets (contact + flow), in fork order
//!   clock ─────────────► handle_timer / poll_timeout / poll_output (keepalives, removals)
//! ```
//!
//! Wiring into the driver (`driver/front_door.rs` does this): build one `Customers` from the configuration with
//! `[auth] secret` (or random bytes) and a random seed; for each request read on the customer
//! interface, [`crate::stack::transport::via::stamp_received`] it with the source address, build its [`Flow`] (source,
//! transport, connection id), then call `handle_register` for REGISTER or `admit` for the rest
//! (dialog-creating requests go on to the call engine only on `Proceed`, with their Contact
//! rewritten by [`nat::contact_for_flow`] when [`nat::detect`] says the customer is behind NAT).
//! Send `Forward` requests through a client transaction on `interface` and hand its final
//! response to `handle_core_response`. For requests arriving on the core side, `route_inbound`
//! gives the customer targets; send to each target's flow with its contact as Request-URI. Call
//! `handle_timer` at `poll_timeout`, send the keepalives `poll_output` asks for (OPTIONS via a
//! client transaction, or `\r\n\r\n` on the TCP connection) and report each result with
//! `handle_keepalive_answer` / `handle_keepalive_failure`; report closed connections with
//! `handle_flow_closed`. `now_unix` is the wall clock in seconds, for nonces.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Message};
use sbc_config::{Config, RealmMode};

use crate::edge::auth::AuthFailure;
use crate::edge::auth::{AuthOutcome, Authenticator};
use crate::edge::nat::{self, Flow};
use crate::edge::registrar::{
    aor_of, CacheAction, CacheConfig, CacheOutput, Registrar, RegistrarConfig, RegistrarOutput,
    RegistrationCache,
};
use crate::edge::throttle::{
    AuthThrottle, AuthThrottleConfig, Claimed, LogBudget, RateLimiter, RateVerdict,
};
use crate::stack::transaction::Transport;
use crate::Map;

/// What to do with a customer's REGISTER.
#[derive(Clone, Debug, PartialEq)]
pub enum RegisterAction {
    /// Send this response to the customer.
    Respond(Message),
    /// Send this REGISTER to the realm's core registrar; hand its final response to
    /// [`Customers::handle_core_response`].
    Forward {
        /// The request (Contacts rewritten, no Via: the SBC's client transaction adds its own).
        request: Message,
        /// The core registrar (`[[realm]] registrar`).
        registrar: SocketAddr,
        /// The transport towards it.
        transport: Transport,
        /// The interface it leaves on (`registrar_interface`).
        interface: Option<String>,
    },
    /// Say nothing (over the source's rate on UDP).
    Drop,
}

/// What to do with a customer's request other than REGISTER.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Go on (route it to the core); `username` is the authenticated user, if the realm asked.
    Proceed {
        /// The digest username, `None` when the realm does not require authentication.
        username: Option<String>,
    },
    /// Send this response instead (407 challenge, 400, 403, 503).
    Respond(Message),
    /// Say nothing (over the source's rate on UDP).
    Drop,
}

/// Where a request from the core goes on the customer side (RFC 3261 §16.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundRoute {
    /// Try these groups in order, each group's targets in parallel.
    Targets(Vec<Vec<InboundTarget>>),
    /// The realm is ours but nobody is registered: answer 480 (RFC 3261 §21.4.18).
    NotRegistered,
    /// Not a customer address of ours: answer 404 (RFC 3261 §21.4.4).
    Unknown,
}

/// One customer contact to send a request to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundTarget {
    /// The address-of-record called, for the To header (RFC 3261 §8.1.1.2, §10.2.1).
    pub aor: String,
    /// The Request-URI: the Contact the customer registered.
    pub contact: String,
    /// Where to send it: the flow the registration came on.
    pub flow: Flow,
}

/// Something the registration state wants done or reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomersOutput {
    /// A local registrar's output (keepalive to send, binding removed), with the realm.
    Registrar {
        /// The realm's domain as configured.
        realm: String,
        /// The output.
        output: RegistrarOutput,
    },
    /// A forward-mode cache's output, with the realm.
    Cache {
        /// The realm's domain as configured.
        realm: String,
        /// The output.
        output: CacheOutput,
    },
}

/// Which binding a keepalive result is for: a local registrar's binding or a forward-mode
/// cache's binding token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepaliveRef {
    /// A binding of a local realm ([`RegistrarOutput::Keepalive`]).
    Binding(crate::edge::registrar::BindingId),
    /// A binding token of a forward realm ([`CacheOutput::Keepalive`]).
    Token(String),
}

#[derive(Debug)]
enum Keeper {
    Local(Registrar),
    Forward {
        cache: RegistrationCache,
        registrar: SocketAddr,
        transport: Transport,
        interface: Option<String>,
    },
}

#[derive(Debug)]
struct RealmState {
    domain: String,
    /// The realm's configuration, to tell on reload whether it changed.
    settings: sbc_config::Realm,
    keeper: Keeper,
}

/// A realm's state as configured: a local registrar, or a forward-mode cache whose binding
/// addresses name the SBC's address towards the core registrar.
fn realm_state(cfg: &Config, r: &sbc_config::Realm, index: usize, seed: u64) -> RealmState {
    let keeper = match (r.mode, r.registrar) {
        (RealmMode::Forward, Some(registrar)) => {
            let interface = r.registrar_interface.clone();
            // (ws and wss are refused for registrars by the config check.)
            let transport = crate::routing::transport_of(r.registrar_transport);
            // The binding addresses name the SBC's own address towards the core.
            let sbc_addr = interface
                .as_deref()
                .and_then(|n| cfg.interface(n))
                .and_then(|itf| {
                    itf.listen_for(r.registrar_transport)
                        .map(|l| itf.signalling_addr(l))
                });
            let host = sbc_addr.map_or_else(|| "127.0.0.1".to_owned(), |a| a.to_string());
            Keeper::Forward {
                cache: RegistrationCache::new(
                    CacheConfig::from_realm(r),
                    &host,
                    seed.wrapping_add(index as u64),
                ),
                registrar,
                transport,
                interface,
            }
        }
        // Validation refuses forward mode without a registrar; act as registrar then.
        _ => Keeper::Local(Registrar::new(RegistrarConfig::from_realm(r))),
    };
    RealmState {
        domain: r.domain.clone(),
        settings: r.clone(),
        keeper,
    }
}

/// One binding as the management API lists it (RFC 3261 §10.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationView {
    /// The realm's domain as configured.
    pub realm: String,
    /// The canonical address-of-record.
    pub aor: String,
    /// The Contact the customer registered.
    pub contact: String,
    /// The flow requests to it go to.
    pub flow: Flow,
    /// Seconds until it lapses unless refreshed.
    pub expires_in_s: u64,
    /// The binding address the core knows it by (forward mode), if any.
    pub token: Option<String>,
}

/// Counters of the front door, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CustomersCounters {
    /// Requests dropped or refused by the per-source rate limit.
    pub rate_limited: u64,
    /// Requests for a domain that is not a configured realm.
    pub unknown_realm: u64,
    /// Authenticated users refused for an address-of-record that is not theirs.
    pub forbidden_aor: u64,
}

/// The customer side's registration and admission state (see the module docs).
#[derive(Debug)]
pub struct Customers {
    realms: Map<String, RealmState>,
    auth: Authenticator,
    rate: RateLimiter,
    throttle: AuthThrottle,
    counters: CustomersCounters,
    /// Lines about refused credentials and blocks, a few per second at most.
    auth_log: LogBudget,
    /// When the rate-limit and throttle tables are next swept for idle entries.
    next_purge: Option<Instant>,
}

/// Log lines per second about authentication failures and blocks.
const AUTH_LOG_PER_S: u32 = 5;

/// How often the timer sweeps the rate-limit and throttle tables: a sweep walks every source
/// seen, and the timer runs at every binding's keepalive.
const PURGE_EVERY: Duration = Duration::from_secs(10);

impl Customers {
    /// Builds the state from the configuration; `nonce_secret` is `[auth] secret` (or random
    /// bytes when unset) and `seed` a random number for nonce salts and binding tokens.
    pub fn new(cfg: &Config, nonce_secret: &[u8], seed: u64) -> Self {
        let mut realms = Map::default();
        for (i, r) in cfg.realms.iter().enumerate() {
            realms.insert(r.domain.to_ascii_lowercase(), realm_state(cfg, r, i, seed));
        }
        Self {
            realms,
            auth: Authenticator::new(cfg, nonce_secret, seed),
            rate: RateLimiter::from_config(&cfg.limits),
            throttle: AuthThrottle::new(AuthThrottleConfig::from_config(&cfg.limits)),
            counters: CustomersCounters::default(),
            auth_log: LogBudget::new(AUTH_LOG_PER_S),
            next_purge: None,
        }
    }

    /// Takes a reloaded configuration: users and `[auth]` apply at once (with the same nonce
    /// secret, so outstanding nonces stay valid); a realm whose settings did not change keeps
    /// its bindings, a changed or new one starts empty, a removed one is dropped; the rate limit
    /// and throttle start afresh only when `[limits]` changed. Returns the domains whose
    /// bindings were dropped.
    pub fn reload(
        &mut self,
        cfg: &Config,
        nonce_secret: &[u8],
        seed: u64,
        limits_changed: bool,
    ) -> Vec<String> {
        let mut old = std::mem::take(&mut self.realms);
        let mut gone = Vec::new();
        for (i, r) in cfg.realms.iter().enumerate() {
            let key = r.domain.to_ascii_lowercase();
            let state = match old.remove(&key) {
                Some(s) if s.settings == *r => s,
                Some(s) => {
                    gone.push(s);
                    realm_state(cfg, r, i, seed)
                }
                None => realm_state(cfg, r, i, seed),
            };
            self.realms.insert(key, state);
        }
        gone.extend(old.into_values());
        self.auth = Authenticator::new(cfg, nonce_secret, seed);
        if limits_changed {
            self.rate = RateLimiter::from_config(&cfg.limits);
            self.throttle = AuthThrottle::new(AuthThrottleConfig::from_config(&cfg.limits));
        }
        gone.into_iter()
            .filter(|s| match &s.keeper {
                Keeper::Local(r) => r.binding_count() > 0,
                Keeper::Forward { cache, .. } => !cache.is_empty(),
            })
            .map(|s| s.domain)
            .collect()
    }

    /// The front door's counters.
    pub fn counters(&self) -> CustomersCounters {
        self.counters
    }

    /// The authenticator (for its counters).
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The rate limiter (for its counters).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate
    }

    /// The authentication throttle (for its counters).
    pub fn auth_throttle(&self) -> &AuthThrottle {
        &self.throttle
    }

    /// The local registrar of `domain`, if that realm is in local mode.
    pub fn registrar(&self, domain: &str) -> Option<&Registrar> {
        match &self.realms.get(&domain.to_ascii_lowercase())?.keeper {
            Keeper::Local(r) => Some(r),
            Keeper::Forward { .. } => None,
        }
    }

    /// The registration cache of `domain`, if that realm is in forward mode.
    pub fn cache(&self, domain: &str) -> Option<&RegistrationCache> {
        match &self.realms.get(&domain.to_ascii_lowercase())?.keeper {
            Keeper::Forward { cache, .. } => Some(cache),
            Keeper::Local(_) => None,
        }
    }

    /// The per-source request rate limit (`[limits] source_rate_per_s`), which the endpoint
    /// applies to every request from a source no route trusts, on every interface, before any
    /// other work: `None` to go on; over the rate, [`Admission::Drop`] on UDP (a flood gets no
    /// answers) or 503 with Retry-After on a connection (RFC 3261 §21.5.4).
    pub fn rate_limit(&mut self, now: Instant, req: &Message, flow: &Flow) -> Option<Admission> {
        if self.rate.check(now, flow.source.ip()) == RateVerdict::Allow {
            return None;
        }
        self.counters.rate_limited += 1;
        if !flow.transport.is_reliable() {
            return Some(Admission::Drop);
        }
        let mut rsp = Message::response_to(req, 503, "Service Unavailable");
        rsp.push_header(HeaderName::RetryAfter, "1");
        crate::stack::stateless::add_to_tag(&mut rsp);
        Some(Admission::Respond(rsp))
    }

    /// The throttle and digest checks shared by REGISTER and other requests.
    fn gate(
        &mut self,
        now: Instant,
        now_unix: u64,
        req: &Message,
        flow: &Flow,
        domain: &str,
    ) -> Admission {
        let claimed = claimed_username(req);
        let source = flow.source.ip();
        let user = claimed.as_deref().map(|name| Claimed {
            realm: domain,
            name,
            known: self.auth.knows(domain, name),
        });
        let verdict = self.throttle.check(now, source, user);
        if let Some(rsp) = verdict.response(now, req) {
            return Admission::Respond(rsp);
        }
        match self.auth.authenticate(now_unix, req, domain) {
            AuthOutcome::NotRequired => Admission::Proceed { username: None },
            AuthOutcome::Authenticated { username } => {
                self.throttle.record_success(source, domain, &username);
                Admission::Proceed {
                    username: Some(username),
                }
            }
            AuthOutcome::Challenge {
                stale,
                failure,
                username,
                algorithm,
            } => {
                if let Some(why) = failure {
                    self.refused(now, source, domain, username.as_deref(), algorithm, why);
                }
                match self.auth.challenge(now_unix, req, domain, stale) {
                    Some(rsp) => Admission::Respond(rsp),
                    None => Admission::Respond(simple(req, 500, "Server Internal Error")),
                }
            }
            AuthOutcome::Malformed => {
                Admission::Respond(simple(req, 400, "Bad Authorization Header"))
            }
        }
    }

    /// Credentials refused for `why`: counted against the throttle when they were a password
    /// guess, and one rate-limited log line naming the user, realm, algorithm and reason (never
    /// the response or a secret), plus one per block that started.
    fn refused(
        &mut self,
        now: Instant,
        source: std::net::IpAddr,
        realm: &str,
        username: Option<&str>,
        algorithm: Option<sbc_common::digest::Algorithm>,
        why: AuthFailure,
    ) {
        let blocks = if why.counts() {
            let user = username.map(|name| Claimed {
                realm,
                name,
                known: why != AuthFailure::UnknownUser,
            });
            self.throttle.record_failure(now, source, user)
        } else {
            Vec::new()
        };
        let user = username.unwrap_or("");
        let algorithm = algorithm.map_or("", |a| a.name());
        if let Some(suppressed) = self.auth_log.admit(now) {
            tracing::info!(
                %source,
                user,
                realm,
                algorithm,
                reason = why.as_str(),
                suppressed,
                "digest authentication refused"
            );
        }
        for b in blocks {
            if let Some(suppressed) = self.auth_log.admit(now) {
                let secs = b.until.saturating_duration_since(now).as_secs();
                tracing::warn!(
                    %source,
                    user,
                    realm,
                    key = b.key.as_str(),
                    block_s = secs,
                    suppressed,
                    "authentication blocked after repeated failures"
                );
            }
        }
    }

    /// Handles a customer's REGISTER that arrived on `flow` at `now` (`now_unix` for nonces):
    /// rate limit, throttle, 401 challenge when the realm requires it, the RFC 3261 §10.3 step 4
    /// check that the user registers its own address-of-record (else 403), then the realm's
    /// registrar or cache.
    pub fn handle_register(
        &mut self,
        now: Instant,
        now_unix: u64,
        req: &Message,
        flow: Flow,
    ) -> RegisterAction {
        if !crate::stack::stateless::sip_address_of_record(req) {
            return RegisterAction::Respond(simple(req, 416, "Unsupported URI Scheme"));
        }
        let Some(domain) = req.to().and_then(|to| uri_host(to.uri)) else {
            return RegisterAction::Respond(simple(req, 400, "Bad To Header"));
        };
        let key = domain.to_ascii_lowercase();
        if !self.realms.contains_key(&key) {
            // Not our domain: refused, not "unknown method" nor "no such user" (RFC 3261 §10.3
            // step 1, §21.4.4).
            self.counters.unknown_realm += 1;
            return RegisterAction::Respond(simple(req, 403, "Domain Not Served"));
        }
        let username = match self.gate(now, now_unix, req, &flow, &domain) {
            Admission::Proceed { username } => username,
            Admission::Respond(m) => return RegisterAction::Respond(m),
            Admission::Drop => return RegisterAction::Drop,
        };
        if let Some(user) = &username {
            let to_user = req
                .to()
                .and_then(|to| aor_of(to.uri))
                .and_then(|aor| aor_user(&aor).map(str::to_owned));
            if to_user.as_deref() != Some(user.as_str()) {
                self.counters.forbidden_aor += 1;
                return RegisterAction::Respond(simple(req, 403, "Forbidden"));
            }
        }
        let behind_nat = nat::detect(req, &flow).behind_nat();
        let Some(state) = self.realms.get_mut(&key) else {
            return RegisterAction::Respond(simple(req, 404, "Domain Not Served"));
        };
        match &mut state.keeper {
            Keeper::Local(registrar) => {
                RegisterAction::Respond(registrar.handle_register(now, req, flow, behind_nat))
            }
            Keeper::Forward {
                cache,
                registrar,
                transport,
                interface,
            } => match cache.handle_customer_register(now, req, flow, behind_nat) {
                CacheAction::Absorb(m) | CacheAction::Reject(m) => RegisterAction::Respond(m),
                CacheAction::Forward(request) => RegisterAction::Forward {
                    request,
                    registrar: *registrar,
                    transport: *transport,
                    interface: interface.clone(),
                },
            },
        }
    }

    /// Takes the core registrar's response to a forwarded REGISTER and returns the response for
    /// the customer; `None` for provisionals and strays.
    pub fn handle_core_response(&mut self, now: Instant, rsp: &Message) -> Option<Message> {
        self.realms.values_mut().find_map(|s| match &mut s.keeper {
            Keeper::Forward { cache, .. } => cache.handle_core_response(now, rsp),
            Keeper::Local(_) => None,
        })
    }

    /// Admits a customer's request other than REGISTER (INVITE, MESSAGE, SUBSCRIBE, ...): rate
    /// limit, throttle, and a 407 challenge when the realm of its From address requires
    /// authentication (RFC 3261 §22.3). Requests from unknown domains are refused with 403.
    pub fn admit(&mut self, now: Instant, now_unix: u64, req: &Message, flow: Flow) -> Admission {
        let Some(domain) = req.from().and_then(|f| uri_host(f.uri)) else {
            return Admission::Respond(simple(req, 400, "Bad From Header"));
        };
        if !self.realms.contains_key(&domain.to_ascii_lowercase()) {
            self.counters.unknown_realm += 1;
            return Admission::Respond(simple(req, 403, "Forbidden"));
        }
        self.gate(now, now_unix, req, &flow, &domain)
    }

    /// Where a request from the core for `request_uri` goes: a local realm's registered
    /// contacts in fork order, or the customer behind a forward-mode binding address.
    pub fn route_inbound(&self, now: Instant, request_uri: &str) -> InboundRoute {
        for s in self.realms.values() {
            if let Keeper::Forward { cache, .. } = &s.keeper {
                if let Some(t) = cache.lookup_request_uri(now, request_uri) {
                    return InboundRoute::Targets(vec![vec![InboundTarget {
                        aor: t.aor,
                        contact: t.contact,
                        flow: t.flow,
                    }]]);
                }
            }
        }
        let Some(aor) = aor_of(request_uri) else {
            return InboundRoute::Unknown;
        };
        let Some(domain) = uri_host(request_uri) else {
            return InboundRoute::Unknown;
        };
        let Some(state) = self.realms.get(&domain.to_ascii_lowercase()) else {
            return InboundRoute::Unknown;
        };
        let groups: Vec<Vec<InboundTarget>> = match &state.keeper {
            Keeper::Local(r) => r
                .fork_plan(now, &aor)
                .into_iter()
                .map(|g| {
                    g.into_iter()
                        .map(|t| InboundTarget {
                            aor: aor.clone(),
                            contact: t.contact,
                            flow: t.flow,
                        })
                        .collect()
                })
                .collect(),
            Keeper::Forward { cache, .. } => {
                let all: Vec<InboundTarget> = cache
                    .lookup_aor(now, &aor)
                    .into_iter()
                    .map(|t| InboundTarget {
                        aor: t.aor,
                        contact: t.contact,
                        flow: t.flow,
                    })
                    .collect();
                if all.is_empty() {
                    Vec::new()
                } else {
                    vec![all]
                }
            }
        };
        if groups.is_empty() {
            InboundRoute::NotRegistered
        } else {
            InboundRoute::Targets(groups)
        }
    }

    /// Runs every realm's timers (expiries, keepalives, lapsed cache entries) and drops idle
    /// throttle entries.
    pub fn handle_timer(&mut self, now: Instant) {
        for s in self.realms.values_mut() {
            match &mut s.keeper {
                Keeper::Local(r) => r.handle_timer(now),
                Keeper::Forward { cache, .. } => cache.handle_timer(now),
            }
        }
        if self.next_purge.is_none_or(|t| now >= t) {
            self.rate.purge(now);
            self.throttle.purge(now);
            self.next_purge = Some(now + PURGE_EVERY);
        }
    }

    /// The next instant [`Customers::handle_timer`] has registration work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.realms
            .values()
            .filter_map(|s| match &s.keeper {
                Keeper::Local(r) => r.poll_timeout(),
                Keeper::Forward { cache, .. } => cache.poll_timeout(),
            })
            .min()
    }

    /// The next keepalive to send or removal to report.
    pub fn poll_output(&mut self) -> Option<CustomersOutput> {
        self.realms.values_mut().find_map(|s| match &mut s.keeper {
            Keeper::Local(r) => r.poll_output().map(|output| CustomersOutput::Registrar {
                realm: s.domain.clone(),
                output,
            }),
            Keeper::Forward { cache, .. } => {
                cache.poll_output().map(|output| CustomersOutput::Cache {
                    realm: s.domain.clone(),
                    output,
                })
            }
        })
    }

    /// Reports a keepalive answer (any response to the OPTIONS, or the CRLF pong) for the
    /// binding a [`CustomersOutput`] keepalive named.
    pub fn handle_keepalive_answer(&mut self, realm: &str, binding: &KeepaliveRef) {
        let Some(s) = self.realms.get_mut(&realm.to_ascii_lowercase()) else {
            return;
        };
        match (&mut s.keeper, binding) {
            (Keeper::Local(r), KeepaliveRef::Binding(id)) => r.handle_keepalive_answer(*id),
            (Keeper::Forward { cache, .. }, KeepaliveRef::Token(t)) => {
                cache.handle_keepalive_answer(t);
            }
            _ => {}
        }
    }

    /// Reports a failed keepalive (transaction timeout, transport error) for the binding a
    /// [`CustomersOutput`] keepalive named.
    pub fn handle_keepalive_failure(&mut self, realm: &str, binding: &KeepaliveRef) {
        let Some(s) = self.realms.get_mut(&realm.to_ascii_lowercase()) else {
            return;
        };
        match (&mut s.keeper, binding) {
            (Keeper::Local(r), KeepaliveRef::Binding(id)) => r.handle_keepalive_failure(*id),
            (Keeper::Forward { cache, .. }, KeepaliveRef::Token(t)) => {
                cache.handle_keepalive_failure(t);
            }
            _ => {}
        }
    }

    /// Every binding of every realm, for the management API.
    pub fn registrations(&self, now: Instant) -> Vec<RegistrationView> {
        let mut out = Vec::new();
        for s in self.realms.values() {
            match &s.keeper {
                Keeper::Local(r) => {
                    out.extend(
                        r.all_bindings(now)
                            .into_iter()
                            .map(|(aor, b)| RegistrationView {
                                realm: s.domain.clone(),
                                aor: aor.to_owned(),
                                contact: b.contact.clone(),
                                flow: b.flow,
                                expires_in_s: b.expires_at.saturating_duration_since(now).as_secs(),
                                token: None,
                            }),
                    );
                }
                Keeper::Forward { cache, .. } => {
                    out.extend(
                        cache
                            .all_bindings(now)
                            .into_iter()
                            .map(|(token, t, until)| RegistrationView {
                                realm: s.domain.clone(),
                                aor: t.aor,
                                contact: t.contact,
                                flow: t.flow,
                                expires_in_s: until.saturating_duration_since(now).as_secs(),
                                token: Some(token),
                            }),
                    );
                }
            }
        }
        out.sort_by(|a, b| (&a.aor, &a.contact).cmp(&(&b.aor, &b.contact)));
        out
    }

    /// Removes every binding of `aor` (any form [`aor_of`] accepts); returns how many went.
    pub fn remove_registration(&mut self, aor: &str) -> usize {
        let Some(aor) = aor_of(aor) else {
            return 0;
        };
        self.realms
            .values_mut()
            .map(|s| match &mut s.keeper {
                Keeper::Local(r) => r.remove_aor(&aor),
                Keeper::Forward { cache, .. } => cache.remove_aor(&aor),
            })
            .sum()
    }

    /// Reports that a TCP/TLS connection closed, removing the bindings that used it.
    pub fn handle_flow_closed(&mut self, connection: u64) {
        for s in self.realms.values_mut() {
            match &mut s.keeper {
                Keeper::Local(r) => r.handle_flow_closed(connection),
                Keeper::Forward { cache, .. } => {
                    cache.handle_flow_closed(connection);
                }
            }
        }
    }
}

/// The username of the first digest credentials in the request, for the per-user throttle.
fn claimed_username(req: &Message) -> Option<String> {
    [HeaderName::Authorization, HeaderName::ProxyAuthorization]
        .iter()
        .flat_map(|h| req.values(h))
        .find_map(|v| sbc_common::digest::Credentials::parse(v).ok())
        .map(|c| c.username.into_owned())
}

/// The host of a SIP URI, as written.
fn uri_host(uri: &str) -> Option<String> {
    Some(Uri::parse(uri).ok()?.host()?.as_str().to_owned())
}

/// The user part of a canonical AOR `sip:user@host`.
fn aor_user(aor: &str) -> Option<&str> {
    aor.strip_prefix("sip:")?.rsplit_once('@').map(|(u, _)| u)
}

fn simple(req: &Message, code: u16, reason: &str) -> Message {
    let mut rsp = Message::response_to(req, code, reason);
    crate::stack::stateless::add_to_tag(&mut rsp);
    rsp
}

#[cfg(test)]
mod tests;
