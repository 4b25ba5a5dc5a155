//! The customer side's front door of the endpoint: REGISTER to [`Customers`], admission of
//! out-of-dialog requests (digest challenge, rate limit, throttle), calls from the core to
//! registered customers, and keepalives to registered flows (RFC 3261 §10.3, §16.5, §22;
//! RFC 3581; RFC 5626).
//!
//! Which interfaces are the customer side: those with `customers = true` when any interface
//! sets the key, else every interface that is neither a `[[route]]`'s `to_interface` nor a
//! forward realm's `registrar_interface`. Requests arriving elsewhere are from the core.
//!
//! Choices made here:
//! - Forward mode sends the rewritten REGISTER statelessly (one transmission, no
//!   retransmission by the SBC: the customer's own retransmissions are forwarded again) from the
//!   registrar interface, with a Via branch of its own; the registrar's response is recognised by
//!   that branch and handed to [`Customers::handle_core_response`]; the customer's response
//!   goes back to its Via (`received`/`rport`).
//! - Admission applies to out-of-dialog requests on the customer side whose From domain is a
//!   configured realm; other domains keep being routed by the `[[route]]` table (source-IP
//!   trunks) as before.
//! - A call from the core to a registered address-of-record goes to the registrar's fork
//!   groups in order: every contact of one group at once (parallel forking, the first 2xx wins
//!   and the others are cancelled), the next group once all of them failed; each sent to its
//!   binding's flow with the Contact as Request-URI. An address of a realm
//!   with nobody registered goes by the `[[route]]` table when a route matches, else gets 480.
//! - Keepalives: OPTIONS over UDP sent statelessly, any response to its branch is an answer
//!   (one still unanswered when the next is due is a miss, counted by the registrar or cache;
//!   the branch is forgotten after 64·T1); over TCP a double CRLF whose successful write counts as an
//!   answer (a dead connection is noticed when it closes, which removes its bindings).

mod sent;

use super::{Endpoint, Ingress, Path};
use crate::call::{MediaRelay, Route, Side, Target};
use crate::edge::customers::{
    Admission, Customers, CustomersOutput, InboundRoute, KeepaliveRef, RegisterAction,
};
use crate::edge::nat::Flow;
use crate::edge::registrar::{CacheOutput, KeepaliveKind, RegistrarOutput};
use crate::stack::stateless;
use crate::stack::transaction::{Dest, Transmit, Transport};
use crate::stack::transport::via::response_target;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_config::Config;
use sent::{Pending, Sent};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Prefix of the Via branches of requests the front door sends itself.
const BRANCH_PREFIX: &str = "z9hG4bK-sbcfd";

impl Ingress {
    /// The NAT flow of this arrival (RFC 5626 §3.2).
    pub(super) fn flow(self) -> Flow {
        match self.path {
            Path::Udp(_) => Flow::udp(self.source),
            Path::Flow(id, transport) => Flow::stream(self.source, transport, id.0),
        }
    }
}

/// What the endpoint does with a request after the front door looked at it.
pub(super) enum Verdict {
    /// Feed it to the call core, routed by the route table.
    Core(Message),
    /// Feed it to the call core, routed by the route table; it was authenticated as this user.
    Caller(Message, String),
    /// Feed it to the call core, to these targets (registered contacts).
    Targets(Message, Vec<Target>),
    /// It was answered or dropped here.
    Done,
}

/// The front door's state: the customer side's registrations, authentication and admission,
/// and the requests it sent itself.
#[derive(Debug)]
pub(super) struct FrontDoor {
    /// Registration, authentication and admission state of the customer side.
    pub(super) customers: Customers,
    /// Which interfaces face customers.
    customer_ifaces: Vec<bool>,
    /// Requests the front door sent (forwarded REGISTERs, OPTIONS keepalives) by branch,
    /// with when to give up.
    pending: Sent,
    /// How long the front door waits for an answer: 64·T1 (RFC 3261 §17.1.2.2 timer F).
    timeout: Duration,
    seq: u64,
    salt: u64,
    /// The digest nonce key (`[auth] secret`, or random at start), kept across reloads.
    secret: Vec<u8>,
}

impl FrontDoor {
    pub(super) fn new(cfg: &Config, customers: Customers, secret: Vec<u8>, seed: u64) -> Self {
        Self {
            customers,
            customer_ifaces: customer_interfaces(cfg),
            pending: Sent::default(),
            timeout: cfg.sip.t1() * 64,
            seq: 0,
            salt: seed.rotate_left(17),
            secret,
        }
    }

    /// Takes a reloaded configuration; returns the realms whose bindings were dropped.
    pub(super) fn reload(&mut self, cfg: &Config, seed: u64, limits_changed: bool) -> Vec<String> {
        self.customer_ifaces = customer_interfaces(cfg);
        self.customers
            .reload(cfg, &self.secret, seed, limits_changed)
    }

    /// A new branch of the front door's own.
    fn branch(&mut self) -> String {
        self.seq = self.seq.wrapping_add(1);
        format!("{BRANCH_PREFIX}{:x}.{:x}", self.salt, self.seq)
    }
}

/// Whether each interface of `cfg` faces customers (see the module docs).
pub(super) fn customer_interfaces(cfg: &Config) -> Vec<bool> {
    if cfg.interfaces.iter().any(|i| i.customers.is_some()) {
        return cfg
            .interfaces
            .iter()
            .map(|i| i.customers == Some(true))
            .collect();
    }
    cfg.interfaces
        .iter()
        .map(|i| {
            !cfg.routes.iter().any(|r| r.to_interface == i.name)
                && !cfg
                    .realms
                    .iter()
                    .any(|r| r.registrar_interface.as_deref() == Some(i.name.as_str()))
        })
        .collect()
}

/// The top Via's branch of a message.
fn branch_of(msg: &Message) -> Option<String> {
    msg.via().and_then(|v| v.branch().map(str::to_owned))
}

/// One binding as the management API shows it (`docs/admin-api.yaml`, `Registration`).
pub(super) fn registration_json(r: &crate::edge::customers::RegistrationView) -> serde_json::Value {
    let transport = r.flow.transport.as_str();
    serde_json::json!({
        "realm": r.realm,
        "aor": r.aor,
        "contact": r.contact,
        "flow": {
            "transport": transport,
            "source": r.flow.source.to_string(),
            "connection": r.flow.connection,
        },
        "expires_s": r.expires_in_s,
        "binding": r.token,
    })
}

impl<M: MediaRelay> Endpoint<M> {
    /// A response to a request the front door sent (by its branch): handled here, `true`;
    /// anything else is for the call core.
    pub(super) fn front_door_response(&mut self, now: Instant, rsp: &Message) -> bool {
        let Some(branch) = branch_of(rsp).filter(|b| b.starts_with(BRANCH_PREFIX)) else {
            return false;
        };
        let status = rsp.status().unwrap_or(0);
        let Some(pending) = self.front.pending.get(branch.as_str()) else {
            return true;
        };
        match pending {
            Pending::Ping { realm, binding } => {
                let (realm, binding) = (realm.clone(), binding.clone());
                self.front.pending.remove(branch.as_str());
                self.front
                    .customers
                    .handle_keepalive_answer(&realm, &binding);
            }
            Pending::Register => {
                if status >= 200 {
                    self.front.pending.remove(branch.as_str());
                }
                if let Some(out) = self.front.customers.handle_core_response(now, rsp) {
                    self.send_to_customer(now, out);
                }
            }
        }
        self.record_customers();
        true
    }

    /// A request the front door sent that could not be written (the registrar's connection was
    /// refused or its TLS handshake failed): a forwarded REGISTER is answered for the registrar
    /// with 503, so the customer hears at once instead of at its Timer F (RFC 3261 §8.1.3.1,
    /// §21.5.4).
    pub(super) fn front_door_unsent(&mut self, now: Instant, bytes: &Bytes) {
        let Some(branch) = super::egress::top_via_branch(bytes) else {
            return;
        };
        if !matches!(
            self.front.pending.get(branch.as_str()),
            Some(Pending::Register)
        ) {
            return;
        }
        let Ok(req) = Message::parse(bytes.clone(), &self.limits) else {
            return;
        };
        tracing::warn!("REGISTER not delivered to the registrar: 503 to the customer");
        let mut rsp = Message::response_to(&req, 503, "Service Unavailable");
        rsp.push_header(HeaderName::RetryAfter, "30");
        self.front_door_response(now, &rsp);
    }

    /// Sends a response for a customer to its Via (received/rport), on the transport of its
    /// Via (RFC 3261 §18.2.2, RFC 3581 §4).
    fn send_to_customer(&mut self, now: Instant, mut rsp: Message) {
        let Some(target) = response_target(&rsp) else {
            tracing::debug!("customer response without a usable Via dropped");
            return;
        };
        let token = rsp.via().map(|v| v.transport.to_ascii_uppercase());
        stateless::stamp_server(&mut rsp, self.server.as_deref());
        let transport = match token.as_deref() {
            Some("TCP") => Transport::Tcp,
            Some("TLS") => Transport::Tls,
            _ => Transport::Udp,
        };
        let t = Transmit {
            dest: Dest::new(target, transport),
            bytes: rsp.to_bytes(),
            tx: None,
        };
        self.transmit(now, t);
    }

    /// Looks at a (Via-stamped) request before the call core: REGISTER, admission on the
    /// customer side, calls from the core to registered customers.
    pub(super) fn front_door(&mut self, now: Instant, msg: Message, ingress: Ingress) -> Verdict {
        if self.cfg.realms.is_empty() {
            return Verdict::Core(msg);
        }
        let customer_side = self
            .front
            .customer_ifaces
            .get(ingress.interface)
            .copied()
            .unwrap_or(false);
        let method = msg.method().cloned();
        let out_of_dialog = msg.to().is_some_and(|t| t.tag().is_none());
        if method == Some(Method::Register) {
            let unix = self.unix(now);
            let action = self
                .front
                .customers
                .handle_register(now, unix, &msg, ingress.flow());
            match action {
                RegisterAction::Respond(rsp) => self.reply(now, ingress, rsp),
                RegisterAction::Drop => {}
                RegisterAction::Forward {
                    request,
                    registrar,
                    transport,
                    interface,
                } => {
                    self.forward_register(now, request, registrar, transport, interface);
                }
            }
            self.record_customers();
            return Verdict::Done;
        }
        let known = msg.call_id().is_some_and(|c| self.core.has_call_id(c));
        if !out_of_dialog || known || matches!(method, Some(Method::Ack | Method::Cancel) | None) {
            return Verdict::Core(msg);
        }
        if customer_side {
            let realm_from = msg
                .from()
                .and_then(|f| sbc_common::sip::uri::Uri::parse(f.uri).ok())
                .and_then(|u| u.host().map(|h| h.as_str().to_ascii_lowercase()))
                .is_some_and(|d| {
                    self.cfg
                        .realms
                        .iter()
                        .any(|r| r.domain.eq_ignore_ascii_case(&d))
                });
            if !realm_from {
                // Only a source a route trusts by address (`from_addresses`: a PBX or trunk) may
                // skip the realm's authentication; anyone else on the customer side naming a
                // foreign domain would otherwise reach the core unauthenticated (toll fraud).
                if self.trusted_source(ingress) {
                    return Verdict::Core(msg);
                }
                tracing::info!(
                    from = msg.header(&HeaderName::From).unwrap_or_default(),
                    "refused: customer request outside every realm from an untrusted source"
                );
                let mut rsp = Message::response_to(&msg, 403, "Forbidden");
                stateless::add_to_tag(&mut rsp);
                self.reply(now, ingress, rsp);
                return Verdict::Done;
            }
            let unix = self.unix(now);
            let verdict = self.front.customers.admit(now, unix, &msg, ingress.flow());
            self.record_customers();
            return match verdict {
                Admission::Proceed { username } => match username {
                    Some(u) => {
                        tracing::debug!(user = %u, "customer authenticated");
                        Verdict::Caller(msg, u)
                    }
                    None => Verdict::Core(msg),
                },
                Admission::Respond(rsp) => {
                    self.reply(now, ingress, rsp);
                    Verdict::Done
                }
                Admission::Drop => Verdict::Done,
            };
        }
        // Requests that start something at a customer (a call, a message, a subscription, a
        // publication) go to its registered flows (RFC 3261 §10, RFC 3428, RFC 6665).
        if !matches!(
            method,
            Some(Method::Invite | Method::Message | Method::Subscribe | Method::Publish)
        ) {
            return Verdict::Core(msg);
        }
        let uri = msg.uri().unwrap_or_default().to_owned();
        match self.front.customers.route_inbound(now, &uri) {
            InboundRoute::Unknown => Verdict::Core(msg),
            InboundRoute::NotRegistered if self.has_route(&uri, ingress) => Verdict::Core(msg),
            InboundRoute::NotRegistered => {
                let mut rsp = Message::response_to(&msg, 480, "Temporarily Unavailable");
                stateless::add_to_tag(&mut rsp);
                self.reply(now, ingress, rsp);
                Verdict::Done
            }
            InboundRoute::Targets(groups) => {
                let a_side = Side {
                    sip: Dest::new(ingress.local, ingress.dest().transport),
                    media_interface: self
                        .cfg
                        .interfaces
                        .get(ingress.interface)
                        .map(|i| i.name.clone())
                        .unwrap_or_default(),
                    media_advertised: self
                        .cfg
                        .interfaces
                        .get(ingress.interface)
                        .and_then(|i| i.advertised),
                    srtp: self
                        .cfg
                        .interfaces
                        .get(ingress.interface)
                        .map(sbc_config::Interface::media_srtp)
                        .unwrap_or_default(),
                    ice: self
                        .cfg
                        .interfaces
                        .get(ingress.interface)
                        .map(sbc_config::Interface::media_ice)
                        .unwrap_or_default(),
                };
                // One fork group of the registrar is one parallel group of targets: each one
                // but the group's last is tried at the same time as the next (RFC 3261 §16.6).
                let mut targets: Vec<Target> = Vec::new();
                for group in groups {
                    let mut members: Vec<Target> = group
                        .into_iter()
                        .filter_map(|t| self.customer_target(&a_side, &t.aor, &t.contact, t.flow))
                        .collect();
                    let last = members.len().saturating_sub(1);
                    for (i, t) in members.iter_mut().enumerate() {
                        t.parallel_with_next = i < last;
                    }
                    targets.extend(members);
                }
                if targets.is_empty() {
                    let mut rsp = Message::response_to(&msg, 480, "Temporarily Unavailable");
                    stateless::add_to_tag(&mut rsp);
                    self.reply(now, ingress, rsp);
                    return Verdict::Done;
                }
                Verdict::Targets(msg, targets)
            }
        }
    }

    /// Whether a `[[route]]` from the ingress interface names this peer's address in its
    /// `from_addresses` (a trunk or PBX trusted by address rather than by digest).
    fn trusted_source(&self, ingress: Ingress) -> bool {
        let Some(iface) = self.cfg.interfaces.get(ingress.interface) else {
            return false;
        };
        let source = ingress.source.ip();
        let names = self.names_of(ingress);
        self.cfg.routes.iter().any(|r| {
            r.from_interface == iface.name
                && (r.from_addresses.iter().any(|net| net.contains(source))
                    || r.from_certificates
                        .iter()
                        .any(|n| names.iter().any(|p| p.eq_ignore_ascii_case(n))))
        })
    }

    /// The verified certificate names of the flow a request came on (none for UDP, TCP, or TLS
    /// without a client certificate).
    pub(super) fn names_of(&self, ingress: Ingress) -> &[String] {
        match ingress.path {
            Path::Flow(flow, _) => self.peer_names.get(&flow).map_or(&[], Vec::as_slice),
            Path::Udp(_) => &[],
        }
    }

    /// Whether a `[[route]]` from the ingress interface matches `uri` from this peer: a realm
    /// address nobody registered still goes where the route table says, if it says anything.
    fn has_route(&self, uri: &str, ingress: Ingress) -> bool {
        let Some(iface) = self.cfg.interfaces.get(ingress.interface) else {
            return false;
        };
        let source = ingress.source.ip();
        let parsed = sbc_common::sip::uri::Uri::parse(uri).ok();
        let user = parsed
            .as_ref()
            .and_then(sbc_common::sip::uri::Uri::user_unescaped)
            .unwrap_or_default();
        let domain = parsed
            .as_ref()
            .and_then(sbc_common::sip::uri::Uri::host)
            .map_or("", |h| h.as_str());
        !self
            .cfg
            .matching_routes(&iface.name, source, self.names_of(ingress), &user, domain)
            .is_empty()
    }

    /// The call target for a registered contact: leg B leaves from the socket the binding's
    /// REGISTER arrived on, to its flow, with the Contact as Request-URI and the address-of-record
    /// in To (RFC 3261 §8.1.1.2, RFC 5626 §5.3).
    fn customer_target(
        &self,
        a_side: &Side,
        aor: &str,
        contact: &str,
        flow: Flow,
    ) -> Option<Target> {
        let (local, interface) = match flow.transport {
            Transport::Udp => {
                let i = self.udp_peers.get(&flow.source).copied().or_else(|| {
                    self.sockets.udp.iter().position(|l| {
                        self.front
                            .customer_ifaces
                            .get(l.interface)
                            .copied()
                            .unwrap_or(false)
                            && l.signalling.is_ipv4() == flow.source.is_ipv4()
                    })
                })?;
                let l = self.sockets.udp.get(i)?;
                (l.signalling, l.interface)
            }
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                let f = self
                    .flows
                    .find(flow.transport, flow.source)
                    .and_then(|id| self.flows.get(id).copied())?;
                (f.local, f.interface)
            }
        };
        let iface = self.cfg.interfaces.get(interface)?;
        let route = Route {
            a_side: a_side.clone(),
            b_side: Side {
                sip: Dest::new(local, flow.transport),
                media_interface: iface.name.clone(),
                media_advertised: iface.advertised,
                srtp: iface.media_srtp(),
                ice: iface.media_ice(),
            },
            next_hop: flow.dest().from_local(local),
            request_uri: Some(contact.to_owned()),
            to_uri: Some(aor.to_owned()),
            pass_bodies: false,
        };
        let mut target = Target::new(route);
        target.name = format!("registered {contact}");
        // Any failure of one contact (of a whole parallel group) moves on to the next group
        // (sequential forking, §16.6).
        target.failover_on = (300..700).collect();
        Some(target)
    }

    /// The signalling address of interface `name` (or any, when unset) on `transport`, in
    /// `to`'s IP family.
    fn local_for(
        &self,
        name: Option<&str>,
        transport: Transport,
        to: SocketAddr,
    ) -> Option<SocketAddr> {
        let idx = name.and_then(|n| self.cfg.interfaces.iter().position(|i| i.name == n));
        let fits = |iface: usize, addr: SocketAddr| {
            idx.is_none_or(|x| x == iface) && addr.is_ipv4() == to.is_ipv4()
        };
        let sockets = match transport {
            Transport::Udp => &self.sockets.udp,
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => &self.sockets.tcp,
        };
        sockets
            .iter()
            .filter(|s| s.transport == transport)
            .find(|s| fits(s.interface, s.signalling))
            .map(|s| s.signalling)
    }

    /// Sends a customer's rewritten REGISTER to the core registrar (see the module docs).
    fn forward_register(
        &mut self,
        now: Instant,
        mut request: Message,
        registrar: SocketAddr,
        transport: Transport,
        interface: Option<String>,
    ) {
        let Some(local) = self.local_for(interface.as_deref(), transport, registrar) else {
            tracing::warn!(%registrar, "no listen address towards the registrar: REGISTER dropped");
            return;
        };
        let branch = self.front.branch();
        let proto = transport.via_token();
        request.insert_header(
            0,
            HeaderName::Via,
            format!("SIP/2.0/{proto} {local};branch={branch};rport"),
        );
        self.front
            .pending
            .insert(branch.into(), Pending::Register, now + self.front.timeout);
        let t = Transmit {
            dest: Dest::new(registrar, transport).from_local(local),
            bytes: request.to_bytes(),
            tx: None,
        };
        self.transmit(now, t);
    }

    /// Runs the registration timers and sends what they ask for.
    pub(super) fn front_door_timer(&mut self, now: Instant) {
        if self
            .front
            .customers
            .poll_timeout()
            .is_some_and(|d| d <= now)
        {
            self.front.customers.handle_timer(now);
        }
        while let Some(out) = self.front.customers.poll_output() {
            match out {
                CustomersOutput::Registrar {
                    realm,
                    output:
                        RegistrarOutput::Keepalive {
                            binding,
                            contact,
                            flow,
                            kind,
                            ..
                        },
                } => {
                    self.keepalive(
                        now,
                        realm,
                        KeepaliveRef::Binding(binding),
                        &contact,
                        flow,
                        kind,
                    );
                }
                CustomersOutput::Registrar {
                    realm,
                    output: RegistrarOutput::Removed { aor, reason, .. },
                } => tracing::info!(%realm, %aor, ?reason, "binding removed"),
                CustomersOutput::Cache {
                    realm,
                    output:
                        CacheOutput::Keepalive {
                            token,
                            contact,
                            flow,
                            kind,
                        },
                } => {
                    self.keepalive(now, realm, KeepaliveRef::Token(token), &contact, flow, kind);
                }
                CustomersOutput::Cache { realm, output } => {
                    tracing::info!(%realm, ?output, "cached binding removed");
                }
            }
        }
        // An unanswered ping is counted as a miss by the registrar itself when the next one is
        // due; here it is only forgotten.
        self.front.pending.expire(now);
        self.record_customers();
    }

    /// Sends one keepalive on a binding's flow (RFC 5626 §3.5.1, §4.4.1).
    fn keepalive(
        &mut self,
        now: Instant,
        realm: String,
        binding: KeepaliveRef,
        contact: &str,
        flow: Flow,
        kind: KeepaliveKind,
    ) {
        match kind {
            KeepaliveKind::DoubleCrlf => match self.flows.find(flow.transport, flow.source) {
                Some(id) => {
                    let out = super::Outgoing {
                        bytes: Bytes::from_static(b"\r\n\r\n"),
                        tx: None,
                        udp_fallback: None,
                    };
                    self.flows.touch(id, now);
                    self.out.push_back(super::Output::Stream { flow: id, out });
                    self.front
                        .customers
                        .handle_keepalive_answer(&realm, &binding);
                }
                None => self
                    .front
                    .customers
                    .handle_keepalive_failure(&realm, &binding),
            },
            KeepaliveKind::Options => {
                let Some(i) = self.udp_peers.get(&flow.source).copied().or_else(|| {
                    self.sockets
                        .udp
                        .iter()
                        .position(|l| l.signalling.is_ipv4() == flow.source.is_ipv4())
                }) else {
                    self.front
                        .customers
                        .handle_keepalive_failure(&realm, &binding);
                    return;
                };
                let Some(local) = self.sockets.udp.get(i).map(|l| l.signalling) else {
                    return;
                };
                let branch = self.front.branch();
                let text = format!(
                    "OPTIONS {contact} SIP/2.0\r\n\
                     Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
                     Max-Forwards: 70\r\n\
                     From: <sip:keepalive@{local}>;tag={branch}\r\n\
                     To: <{contact}>\r\n\
                     Call-ID: {branch}@{local}\r\n\
                     CSeq: 1 OPTIONS\r\n\
                     {user_agent}\
                     Content-Length: 0\r\n\r\n",
                    user_agent = match &self.server {
                        Some(s) => format!("User-Agent: {s}\r\n"),
                        None => String::new(),
                    }
                );
                self.front.pending.insert(
                    branch.into(),
                    Pending::Ping { realm, binding },
                    now + self.front.timeout,
                );
                self.send_datagram(now, i, flow.source, Bytes::from(text));
            }
        }
    }

    /// The next instant the front door has timer work.
    pub(super) fn front_door_deadline(&self) -> Option<Instant> {
        let pending = self.front.pending.next_deadline();
        [self.front.customers.poll_timeout(), pending]
            .into_iter()
            .flatten()
            .min()
    }

    /// Moves the registration and authentication numbers into the metrics.
    pub(super) fn record_customers(&mut self) {
        let mut active = 0usize;
        let mut absorbed = 0u64;
        for r in &self.cfg.realms {
            if let Some(reg) = self.front.customers.registrar(&r.domain) {
                active += reg.binding_count();
            }
            if let Some(cache) = self.front.customers.cache(&r.domain) {
                active += cache.len();
                absorbed += cache.counters().absorbed;
            }
        }
        let auth = self.front.customers.authenticator();
        self.recorder
            .registrations(crate::ops::metrics::RegistrationNumbers {
                active,
                refreshes_absorbed: absorbed,
                auth_challenges: auth.challenges(),
                auth_failures: auth.failures(),
                rate_limited: self.front.customers.counters().rate_limited,
                auth_blocks: self.front.customers.auth_throttle().blocks(),
            });
    }
}

#[cfg(test)]
mod tests {
    use super::customer_interfaces;

    const BASE: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }]
rtp_port_min = 30000
rtp_port_max = 30999

[[route]]
name = "out"
from_interface = "customer"
next_hop = "127.0.0.1:5090"
to_interface = "core"
"#;

    fn parse(text: &str) -> sbc_config::Config {
        sbc_config::Config::from_toml_str(text, "t.toml").unwrap()
    }

    #[test]
    fn customer_side_is_what_routes_do_not_lead_to_unless_the_interfaces_say() {
        assert_eq!(customer_interfaces(&parse(BASE)), [true, false]);
        // An inbound route towards the customer side makes the guess useless...
        let both = format!(
            "{BASE}\n[[route]]\nname = \"in\"\nfrom_interface = \"core\"\nnext_hop = \"127.0.0.1:5070\"\nto_interface = \"customer\"\n"
        );
        assert_eq!(customer_interfaces(&parse(&both)), [false, false]);
        // ...so the interface says it.
        let marked = both.replacen(
            "name = \"customer\"\n",
            "name = \"customer\"\ncustomers = true\n",
            1,
        );
        assert_eq!(customer_interfaces(&parse(&marked)), [true, false]);
    }
}
