//! Routing by the `[[route]]` table ([`ConfigRouter`]): the interface a request arrived on (named
//! by the SBC's local address in its source [`Dest`]), its source IP and the Request-URI user and
//! domain pick the routes; the call leaves from each route's `to_interface` to its `next_hop`.
//! Every matching route is a target of the call, tried in turn on failover, with its forwarding
//! and redirect settings; a redirect's Contacts are routed through the same table. A route's
//! next hop named by domain is one target per address its name resolved to ([`locate`],
//! RFC 3263), as the endpoint last heard from the driver. Nothing is ever routed to the
//! Request-URI's host (or a Contact's), and only names from the configuration are resolved
//! (RFC 3261 §16.5: no open relay).

pub mod locate;

use locate::HoldBack;
use sbc_config::HopName;
use std::cell::Cell;
use std::time::Instant;

use crate::call::{Rejection, Route, Router, Side, Target};
use crate::stack::transaction::{Dest, Transport};
use crate::Map;
use sbc_common::sip::uri::Uri;
use sbc_common::sip::Message;
use sbc_config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const NOT_FOUND: Rejection = Rejection {
    code: 404,
    reason: "Not Found",
};

const UNAVAILABLE: Rejection = Rejection {
    code: 503,
    reason: "Service Unavailable",
};

/// The transaction layer's transport for a configured one (RFC 3261 §18).
pub fn transport_of(t: sbc_config::Transport) -> Transport {
    match t {
        sbc_config::Transport::Udp => Transport::Udp,
        sbc_config::Transport::Tcp => Transport::Tcp,
        sbc_config::Transport::Tls => Transport::Tls,
        sbc_config::Transport::Ws => Transport::Ws,
        sbc_config::Transport::Wss => Transport::Wss,
    }
}

/// Every matching route names its next hop by a name that has not resolved (RFC 3263 §4.3).
const UNRESOLVED: Rejection = Rejection {
    code: 503,
    reason: "Next Hop Not Resolved",
};

/// The side a request leaves from on config route `r` with an `ip:port` next hop, and that
/// next hop; `None` for a named next hop (see [`outbound_side_to`]).
pub fn outbound_side(cfg: &Config, r: &sbc_config::Route) -> Option<(Side, Dest)> {
    outbound_side_to(cfg, r, r.next_hop.addr()?)
}

/// The side a request leaves from on config route `r` towards `hop` (its next hop, or an
/// address its named next hop resolved to), and the next hop: `r`'s `to_interface` listening
/// on the route's transport in `hop`'s IP family (RFC 3261 §18.1.1); `None` when it has no
/// such listener. The next hop names the side's address as its local one.
pub fn outbound_side_to(
    cfg: &Config,
    r: &sbc_config::Route,
    hop: SocketAddr,
) -> Option<(Side, Dest)> {
    let to = cfg.interface(&r.to_interface)?;
    let hop_transport = r.hop_transport();
    let out = to
        .listen
        .iter()
        .find(|l| l.transport == hop_transport && l.address.is_ipv4() == hop.is_ipv4())?;
    let transport = transport_of(hop_transport);
    let local = to.signalling_addr(out.address);
    let side = Side {
        sip: Dest::new(local, transport),
        media_interface: to.name.clone(),
        media_advertised: to.advertised,
        srtp: match to.profile {
            sbc_config::MediaProfile::Webrtc => to.media_srtp(),
            sbc_config::MediaProfile::Sip => r.srtp.unwrap_or(to.srtp),
        },
        ice: to.media_ice(),
    };
    Some((side, Dest::new(hop, transport).from_local(local)))
}

/// Which interface owns each of the SBC's signalling addresses (and bound listen addresses),
/// so a request is routed by where it arrived.
pub fn interfaces_by_address(cfg: &Config) -> Map<SocketAddr, usize> {
    let mut map = Map::default();
    for (index, iface) in cfg.interfaces.iter().enumerate() {
        for l in &iface.listen {
            map.insert(iface.signalling_addr(l.address), index);
            map.entry(l.address).or_insert(index);
        }
    }
    map
}

/// The `[[route]]` table as a [`Router`]: every matching route by priority whose `to_interface`
/// listens on the route's transport in the next hop's IP family, each with its failover,
/// forwarding, no-answer and redirect settings; no match is 404 (RFC 3261 §21.4.5).
#[derive(Debug)]
pub struct ConfigRouter {
    cfg: Arc<Config>,
    /// The SBC's signalling addresses → index into `Config::interfaces`.
    by_address: Map<SocketAddr, usize>,
    /// What each named next hop resolved to last (RFC 3263 §4.4).
    resolved: Map<HopName, Vec<ResolvedHop>>,
    /// Addresses of named next hops that failed lately.
    holdback: HoldBack,
    /// splitmix64 state for the RFC 2782 weighted order, per call.
    random: Cell<u64>,
}

/// One address a named next hop resolved to, with its SRV priority and weight (RFC 2782); an
/// A/AAAA answer has priority and weight 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedHop {
    /// Where to send.
    pub addr: SocketAddr,
    /// Lower first.
    pub priority: u16,
    /// Share within a priority.
    pub weight: u16,
}

impl ConfigRouter {
    /// A router over `cfg`'s routes.
    pub fn new(cfg: Arc<Config>) -> Self {
        Self {
            by_address: interfaces_by_address(&cfg),
            cfg,
            resolved: Map::default(),
            holdback: HoldBack::default(),
            random: Cell::new(0x5bd1_e995),
        }
    }

    /// The same router drawing its RFC 2782 weighted orders from `seed`.
    pub fn seeded(self, seed: u64) -> Self {
        self.random.set(seed);
        self
    }

    /// What `name` resolves to now (an empty list when it did not resolve); names no route uses
    /// any more are forgotten on [`Self::set_config`].
    pub fn set_resolved(&mut self, name: HopName, hops: Vec<ResolvedHop>) {
        self.resolved.insert(name, hops);
    }

    /// Every resolved address of the routes' named next hops, by route index (TLS settings,
    /// trusted peers).
    pub fn resolved_addresses(&self) -> impl Iterator<Item = (usize, SocketAddr)> + '_ {
        self.cfg.routes.iter().enumerate().flat_map(move |(i, r)| {
            r.next_hop
                .name()
                .and_then(|n| self.resolved.get(n))
                .into_iter()
                .flatten()
                .map(move |h| (i, h.addr))
        })
    }

    /// Holds `hop` back for `period` after it failed (timeout, 503, refused connection): the
    /// other addresses of its name are tried first until then.
    pub fn hold_back(&mut self, now: Instant, hop: SocketAddr, period: Duration) {
        self.holdback.hold(now, hop, period);
    }

    /// Forgets hold-backs that are over.
    pub fn expire(&mut self, now: Instant) {
        self.holdback.expire(now);
    }

    fn next_random(&self) -> u64 {
        let mut z = self.random.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.random.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The addresses to try for route `r`, in order: its `ip:port`, or what its name resolved
    /// to by SRV priority and weighted random order (RFC 2782), held-back ones last.
    fn hops(&self, r: &sbc_config::Route) -> Vec<SocketAddr> {
        match &r.next_hop {
            sbc_config::NextHop::Addr(a) => vec![*a],
            sbc_config::NextHop::Name(n) => {
                let Some(found) = self.resolved.get(n) else {
                    return Vec::new();
                };
                let records: Vec<locate::Srv> = found
                    .iter()
                    .map(|h| locate::Srv {
                        priority: h.priority,
                        weight: h.weight,
                        port: h.addr.port(),
                        target: h.addr.to_string(),
                    })
                    .collect();
                let mut random = || self.next_random();
                let mut order: Vec<SocketAddr> = locate::order_srv(&records, &mut random)
                    .iter()
                    .filter_map(|s| s.target.parse().ok())
                    .collect();
                self.holdback.reorder(&mut order);
                order
            }
        }
    }

    /// Routes the next requests with `cfg`'s routes (a reload); its interfaces must be the
    /// running ones, in the same order.
    pub fn set_config(&mut self, cfg: Arc<Config>) {
        self.by_address = interfaces_by_address(&cfg);
        let used: Vec<HopName> = cfg
            .routes
            .iter()
            .filter_map(|r| r.next_hop.name().cloned())
            .collect();
        self.resolved.retain(|n, _| used.contains(n));
        self.cfg = cfg;
    }

    /// The call core's route for config route `r` taken by a request that arrived on interface
    /// `from` at `local` (its address and transport); `None` when `r`'s `to_interface` does not
    /// listen on the route's transport in the next hop's IP family.
    fn leg_route(
        &self,
        from: &sbc_config::Interface,
        local: Dest,
        r: &sbc_config::Route,
        hop: SocketAddr,
    ) -> Option<Route> {
        let (b_side, next_hop) = outbound_side_to(&self.cfg, r, hop)?;
        Some(Route {
            a_side: Side {
                sip: local,
                media_interface: from.name.clone(),
                media_advertised: from.advertised,
                srtp: from.media_srtp(),
                ice: from.media_ice(),
            },
            b_side,
            next_hop,
            request_uri: None,
            to_uri: None,
            pass_bodies: r.pass_bodies,
        })
    }

    /// Config route `r` as targets, one per address of its next hop (a name's, in the order to
    /// try them: RFC 3263 §4.4), each with the route's `forward_on` chain resolved; the chain is
    /// bounded by the number of routes (validation refuses loops, and `depth` guards anyway).
    fn targets_of(
        &self,
        from: &sbc_config::Interface,
        local: Dest,
        r: &sbc_config::Route,
        depth: usize,
    ) -> Vec<Target> {
        self.hops(r)
            .into_iter()
            .filter_map(|hop| self.target(from, local, r, hop, depth))
            .collect()
    }

    fn target(
        &self,
        from: &sbc_config::Interface,
        local: Dest,
        r: &sbc_config::Route,
        hop: SocketAddr,
        depth: usize,
    ) -> Option<Target> {
        let route = self.leg_route(from, local, r, hop)?;
        let forward = r
            .forward_on
            .as_deref()
            .filter(|_| depth < self.cfg.routes.len())
            .and_then(|name| self.cfg.routes.iter().find(|x| x.name == name))
            .and_then(|f| {
                self.targets_of(from, local, f, depth + 1)
                    .into_iter()
                    .next()
            })
            .map(Box::new);
        Some(Target {
            route,
            name: r.name.clone(),
            failover_on: r.failover_on.clone(),
            forward_codes: r.forward_codes.clone(),
            forward,
            no_answer: (r.no_answer_timeout_s > 0)
                .then(|| Duration::from_secs(u64::from(r.no_answer_timeout_s))),
            max_redirects: if r.follow_redirects {
                r.max_redirects
            } else {
                0
            },
            parallel_with_next: false,
        })
    }

    /// The targets for a request for `uri` that arrived on `from` at `local` from `source`:
    /// every matching route that can be used, by priority; 404 when none matches, 503 when
    /// none can be used. The URI's host is only matched against `request_domain`, never
    /// resolved or sent to.
    fn targets_for(
        &self,
        from: &sbc_config::Interface,
        local: Dest,
        source: Dest,
        peer_names: &[String],
        uri: Option<&Uri<'_>>,
    ) -> Result<Vec<Target>, Rejection> {
        let user = uri.and_then(Uri::user_unescaped).unwrap_or_default();
        let domain = uri.and_then(Uri::host).map_or("", |h| h.as_str());
        let routes =
            self.cfg
                .matching_routes(&from.name, source.addr.ip(), peer_names, &user, domain);
        if routes.is_empty() {
            return Err(NOT_FOUND);
        }
        let unresolved = routes.iter().any(|r| {
            r.next_hop
                .name()
                .is_some_and(|n| self.resolved.get(n).is_none_or(Vec::is_empty))
        });
        let targets: Vec<Target> = routes
            .into_iter()
            .flat_map(|r| self.targets_of(from, local, r, 0))
            .collect();
        if targets.is_empty() {
            return Err(if unresolved { UNRESOLVED } else { UNAVAILABLE });
        }
        Ok(targets)
    }
}

impl ConfigRouter {
    /// [`Router::targets`] for a request from a peer whose verified client certificate names
    /// `peer_names`: routes with `from_certificates` can match it too (RFC 5922 §7.3). `None`
    /// when the peer names nothing such a route trusts, so ordinary routing applies.
    pub fn targets_for_peer(
        &self,
        invite: &Message,
        source: Dest,
        peer_names: &[String],
    ) -> Option<Vec<Target>> {
        let local = source.local?;
        let from = self
            .by_address
            .get(&local)
            .and_then(|i| self.cfg.interfaces.get(*i))?;
        let trusted = self.cfg.routes.iter().any(|r| {
            r.from_interface == from.name
                && r.from_certificates
                    .iter()
                    .any(|n| peer_names.iter().any(|p| p.eq_ignore_ascii_case(n)))
        });
        if !trusted {
            return None;
        }
        let local = Dest::new(local, source.transport);
        let uri = invite.request_uri();
        self.targets_for(from, local, source, peer_names, uri.as_ref())
            .ok()
    }
}

impl Router for ConfigRouter {
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection> {
        self.targets(invite, source)?
            .into_iter()
            .next()
            .map(|t| t.route)
            .ok_or(NOT_FOUND)
    }

    fn targets(&mut self, invite: &Message, source: Dest) -> Result<Vec<Target>, Rejection> {
        // The interface is the one owning the address the request arrived at.
        let local = source.local.ok_or(NOT_FOUND)?;
        let from = self
            .by_address
            .get(&local)
            .and_then(|i| self.cfg.interfaces.get(*i))
            .ok_or(NOT_FOUND)?;
        let local = Dest::new(local, source.transport);
        let uri = invite.request_uri();
        self.targets_for(from, local, source, &[], uri.as_ref())
    }

    fn failed(&mut self, now: Instant, next_hop: Dest) {
        let named = self.resolved_addresses().any(|(_, a)| a == next_hop.addr);
        if named {
            let period = Duration::from_secs(u64::from(self.cfg.dns.holdback_s));
            self.hold_back(now, next_hop.addr, period);
        }
    }

    fn reroute(&mut self, a_side: &Side, source: Dest, uri: &str) -> Vec<Target> {
        // Leg A's side names the interface the call came in on (its media interface is the
        // config interface of that name).
        let Some(from) = self.cfg.interface(&a_side.media_interface) else {
            return Vec::new();
        };
        let uri = Uri::parse(uri).ok();
        self.targets_for(from, a_side.sip, source, &[], uri.as_ref())
            .unwrap_or_default()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sbc_common::sip::Limits;

    /// The customer and core interfaces every test table routes between.
    const INTERFACES: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]
media_address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }]
media_address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 30999
"#;

    /// Two routes from the customer side: 911 first, everything else second.
    const ROUTES: &str = r#"
[[route]]
name = "emergency"
from_interface = "customer"
request_user = "911"
next_hop = "127.0.0.1:5091"
to_interface = "core"
priority = 10

[[route]]
name = "default"
from_interface = "customer"
next_hop = "127.0.0.1:5090"
to_interface = "core"
"#;

    fn invite(ruri: &str) -> Message {
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    fn router() -> ConfigRouter {
        let cfg = Config::from_toml_str(&format!("{INTERFACES}{ROUTES}"), "t.toml").unwrap();
        ConfigRouter::new(Arc::new(cfg))
    }

    fn udp(s: &str) -> Dest {
        Dest::new(s.parse().unwrap(), Transport::Udp)
    }

    /// A source on UDP that arrived at the SBC's `local` address.
    fn at(local: &str, source: &str) -> Dest {
        udp(source).from_local(local.parse().unwrap())
    }

    #[test]
    fn routes_by_interface_user_and_priority() {
        let mut r = router();
        let from = at("127.0.0.1:5060", "127.0.0.1:6000");
        let route = r.route(&invite("sip:100@example.com"), from).unwrap();
        assert_eq!(route.a_side.sip, udp("127.0.0.1:5060"));
        assert_eq!(route.a_side.media_interface, "customer");
        assert_eq!(route.b_side.sip, udp("127.0.0.1:5080"));
        assert_eq!(route.b_side.media_interface, "core");
        assert_eq!(route.next_hop, at("127.0.0.1:5080", "127.0.0.1:5090"));
        let route = r.route(&invite("sip:911@example.com"), from).unwrap();
        assert_eq!(route.next_hop, at("127.0.0.1:5080", "127.0.0.1:5091"));
        // Without the local address it arrived at, a request has no interface: 404.
        let err = r
            .route(&invite("sip:100@example.com"), udp("127.0.0.1:6000"))
            .unwrap_err();
        assert_eq!(err.code, 404);
    }

    #[test]
    fn a_tcp_route_leaves_from_the_tcp_listener_and_leg_a_keeps_its_transport() {
        let text = format!("{INTERFACES}{ROUTES}")
            .replace(
                r#"listen = [{ transport = "udp", address = "127.0.0.1:5080" }]"#,
                r#"listen = [{ transport = "udp", address = "127.0.0.1:5080" }, { transport = "tcp", address = "127.0.0.1:5081" }]"#,
            )
            .replace(
                "next_hop = \"127.0.0.1:5091\"\n",
                "next_hop = \"127.0.0.1:5091\"\ntransport = \"tcp\"\n",
            );
        let cfg = Config::from_toml_str(&text, "t.toml").unwrap();
        let mut r = ConfigRouter::new(Arc::new(cfg));
        let tcp = |s: &str| Dest::new(s.parse().unwrap(), Transport::Tcp);
        let from = tcp("127.0.0.1:40000").from_local("127.0.0.1:5060".parse().unwrap());
        let route = r.route(&invite("sip:911@example.com"), from).unwrap();
        assert_eq!(
            route.a_side.sip,
            tcp("127.0.0.1:5060"),
            "leg A stays on TCP"
        );
        assert_eq!(route.b_side.sip, tcp("127.0.0.1:5081"));
        assert_eq!(
            route.next_hop,
            tcp("127.0.0.1:5091").from_local("127.0.0.1:5081".parse().unwrap())
        );
        // The UDP route still leaves from the UDP socket.
        let route = r.route(&invite("sip:100@example.com"), from).unwrap();
        assert_eq!(route.b_side.sip, udp("127.0.0.1:5080"));
        assert_eq!(route.next_hop, at("127.0.0.1:5080", "127.0.0.1:5090"));
    }

    #[test]
    fn no_route_is_404_and_never_the_request_uri_host() {
        let mut r = router();
        let err = r
            .route(
                &invite("sip:100@127.0.0.1:9999"),
                at("127.0.0.1:5080", "127.0.0.1:6000"),
            )
            .unwrap_err();
        assert_eq!(err.code, 404);
    }

    /// Routes with failover, forwarding, no-answer and redirect settings.
    const RETRY_ROUTES: &str = r#"
[[route]]
name = "primary"
from_interface = "customer"
next_hop = "127.0.0.1:5090"
to_interface = "core"
priority = 10
failover_on = [503]
forward_on = "voicemail"
forward_codes = [486]
no_answer_timeout_s = 20
follow_redirects = true
max_redirects = 2

[[route]]
name = "backup"
from_interface = "customer"
next_hop = "127.0.0.1:5092"
to_interface = "core"
priority = 20

[[route]]
name = "partner"
from_interface = "customer"
request_domain = "partner.example.net"
next_hop = "127.0.0.1:5094"
to_interface = "core"
priority = 5

[[route]]
name = "voicemail"
from_interface = "core"
request_user = "vm"
next_hop = "127.0.0.1:5093"
to_interface = "core"
"#;

    fn retry_router() -> ConfigRouter {
        let cfg = Config::from_toml_str(&format!("{INTERFACES}{RETRY_ROUTES}"), "t.toml").unwrap();
        ConfigRouter::new(Arc::new(cfg))
    }

    fn names(targets: &[Target]) -> Vec<&str> {
        targets.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn targets_carry_each_routes_failover_forwarding_and_redirect_settings() {
        let mut r = retry_router();
        let t = r
            .targets(
                &invite("sip:100@example.com"),
                at("127.0.0.1:5060", "127.0.0.1:6000"),
            )
            .unwrap();
        assert_eq!(names(&t), ["primary", "backup"]);
        assert_eq!(t[0].failover_on, [503]);
        assert_eq!(t[0].forward_codes, [486]);
        assert_eq!(t[0].no_answer, Some(Duration::from_secs(20)));
        assert_eq!(t[0].max_redirects, 2);
        // The forward route is used as is: its own match keys (user "vm", interface "core")
        // are not consulted, and leg A stays where the call came in.
        let fwd = t[0].forward.as_deref().unwrap();
        assert_eq!(fwd.name, "voicemail");
        assert_eq!(fwd.route.next_hop, at("127.0.0.1:5080", "127.0.0.1:5093"));
        assert_eq!(fwd.route.a_side.sip, udp("127.0.0.1:5060"));
        assert_eq!(fwd.route.a_side.media_interface, "customer");
        // The defaults: fail over on 408/503, nothing else.
        assert_eq!(t[1].failover_on, [408, 503]);
        assert_eq!((t[1].max_redirects, t[1].no_answer), (0, None));
        assert!(t[1].forward.is_none());
        assert_eq!(
            r.route(
                &invite("sip:100@example.com"),
                at("127.0.0.1:5060", "127.0.0.1:6000")
            )
            .unwrap(),
            t[0].route
        );
    }

    #[test]
    fn redirect_targets_come_from_the_routes_never_from_the_contact_host() {
        let mut r = retry_router();
        let t = r
            .targets(
                &invite("sip:100@example.com"),
                at("127.0.0.1:5060", "127.0.0.1:6000"),
            )
            .unwrap();
        let a_side = t[0].route.a_side.clone();
        // Matched on the Contact's domain, sent to the route's next hop.
        let t = r.reroute(
            &a_side,
            udp("127.0.0.1:6000"),
            "sip:carol@partner.example.net",
        );
        assert_eq!(names(&t), ["partner", "primary", "backup"]);
        // An IP-literal Contact only picks a route; nothing goes to 192.0.2.77.
        let t = r.reroute(&a_side, udp("127.0.0.1:6000"), "sip:carol@192.0.2.77:5060");
        assert_eq!(names(&t), ["primary", "backup"]);
        assert!(t.iter().all(
            |t| t.route.next_hop.addr.ip() != "192.0.2.77".parse::<std::net::IpAddr>().unwrap()
        ));
        // From the core side nothing matches "carol": the Contact is not followed.
        let core = Side {
            sip: udp("127.0.0.1:5080"),
            media_interface: "core".into(),
            media_advertised: None,
            srtp: crate::call::SrtpPolicy::Off,
            ice: crate::call::IcePolicy::Off,
        };
        assert!(r
            .reroute(&core, udp("127.0.0.1:6000"), "sip:carol@127.0.0.1:9999")
            .is_empty());
    }

    #[test]
    fn a_named_next_hop_is_one_target_per_address_and_a_failed_one_goes_last_for_a_while() {
        let routes = r#"
[[route]]
name = "by-name"
from_interface = "customer"
next_hop = "sip:trunk.example.net"
to_interface = "core"

[[route]]
name = "backup"
from_interface = "customer"
next_hop = "127.0.0.1:5099"
to_interface = "core"
priority = 200
"#;
        let cfg = Config::from_toml_str(&format!("{INTERFACES}{routes}"), "t.toml").unwrap();
        let mut r = ConfigRouter::new(Arc::new(cfg.clone()));
        let inv = invite("sip:123@example.com");
        let source = at("127.0.0.1:5060", "127.0.0.1:6000");
        // Not resolved yet: only the backup route.
        let hops = |r: &mut ConfigRouter| -> Vec<String> {
            r.targets(&inv, source)
                .unwrap()
                .iter()
                .map(|t| t.route.next_hop.addr.to_string())
                .collect()
        };
        assert_eq!(hops(&mut r), ["127.0.0.1:5099"]);
        let name = cfg.routes[0].next_hop.name().unwrap().clone();
        let hop = |a: &str, priority| ResolvedHop {
            addr: a.parse().unwrap(),
            priority,
            weight: 0,
        };
        r.set_resolved(
            name.clone(),
            vec![hop("127.0.0.1:5092", 20), hop("127.0.0.1:5091", 10)],
        );
        assert_eq!(
            hops(&mut r),
            ["127.0.0.1:5091", "127.0.0.1:5092", "127.0.0.1:5099"]
        );
        // The priority-10 address fails: tried last of its name for [dns] holdback_s (30 s).
        let t0 = Instant::now();
        r.failed(t0, udp("127.0.0.1:5091"));
        assert_eq!(
            hops(&mut r),
            ["127.0.0.1:5092", "127.0.0.1:5091", "127.0.0.1:5099"]
        );
        r.expire(t0 + Duration::from_secs(29));
        assert_eq!(hops(&mut r)[0], "127.0.0.1:5092");
        r.expire(t0 + Duration::from_secs(30));
        assert_eq!(hops(&mut r)[0], "127.0.0.1:5091");
        // An IP next hop is never held back; a reload without the name forgets it.
        r.failed(t0, udp("127.0.0.1:5099"));
        assert_eq!(hops(&mut r)[2], "127.0.0.1:5099");
        let only_backup = Config::from_toml_str(
            &format!(
                "{INTERFACES}{}",
                &routes[routes.find("[[route]]\nname = \"backup\"").unwrap()..]
            ),
            "t.toml",
        )
        .unwrap();
        r.set_config(Arc::new(only_backup));
        assert!(r.resolved.is_empty());
    }
}
