//! Semantic checks run after deserialization: cross references, ranges and policy rules that a
//! type alone cannot express. The first problem found is reported, with its field path.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use crate::locate::FieldPath;
use crate::model::{Config, Interface, Transport, MAX_DATAGRAM_BYTES};
use crate::types::{is_name, is_token, is_valid_domain};

/// One failed check: the field and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The offending field.
    pub(crate) path: FieldPath,
    /// What is wrong.
    pub(crate) message: String,
}

pub(crate) type Check = Result<(), Problem>;

mod accounts;

pub(crate) fn fail<T>(path: FieldPath, message: impl Into<String>) -> Result<T, Problem> {
    Err(Problem {
        path,
        message: message.into(),
    })
}

/// Headers the B2BUA builds itself on each leg; whitelisting them would break dialogs.
const MANAGED_HEADERS: &[&str] = &[
    "via",
    "v",
    "from",
    "f",
    "to",
    "t",
    "call-id",
    "i",
    "cseq",
    "contact",
    "m",
    "record-route",
    "route",
    "content-length",
    "l",
    "max-forwards",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
];

/// Smallest and largest RTP port allowed in a range.
const RTP_PORTS: std::ops::RangeInclusive<u16> = 1024..=65535;

/// Runs every check on `cfg` in file-section order.
pub(crate) fn validate(cfg: &Config) -> Check {
    general(cfg)?;
    interfaces(cfg)?;
    sip(cfg)?;
    relay(cfg)?;
    routes(cfg)?;
    accounts::realms(cfg)?;
    accounts::users(cfg)?;
    accounts::auth(cfg)?;
    limits(cfg)?;
    crate::tls::check(cfg)?;
    admin(cfg)
}

fn general(cfg: &Config) -> Check {
    let g = &cfg.general;
    let p = FieldPath::new("general");
    if !is_token(&g.node_name) || g.node_name.len() > 64 {
        return fail(
            p.key("node_name"),
            format!("{:?} must be 1-64 letters, digits or `-._`", g.node_name),
        );
    }
    if let Some(ua) = &g.user_agent {
        if ua.trim().is_empty() || ua.len() > 256 || ua.chars().any(char::is_control) {
            return fail(
                p.key("user_agent"),
                "must be 1-256 printable characters (it becomes a header value)",
            );
        }
    }
    if g.drain_timeout_s > 3600 {
        return fail(
            p.key("drain_timeout_s"),
            format!("{} is above 3600 (one hour)", g.drain_timeout_s),
        );
    }
    if g.log_sip_messages && !(1..=10_000).contains(&g.log_sip_rate_per_s) {
        return fail(
            p.key("log_sip_rate_per_s"),
            format!(
                "{} must be 1-10000 when log_sip_messages is on",
                g.log_sip_rate_per_s
            ),
        );
    }
    Ok(())
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Whether two bound IPs can collide: equal, or one is the wildcard of the same family.
fn ips_overlap(a: IpAddr, b: IpAddr) -> bool {
    a == b || (same_family(a, b) && (a.is_unspecified() || b.is_unspecified()))
}

fn interfaces(cfg: &Config) -> Check {
    if cfg.interfaces.is_empty() {
        return fail(
            FieldPath::new("interface"),
            "at least one [[interface]] is needed",
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut sockets: Vec<(Transport, SocketAddr, FieldPath)> = Vec::new();
    for (i, ifc) in cfg.interfaces.iter().enumerate() {
        let p = FieldPath::new("interface").at(i);
        if !is_name(&ifc.name) {
            return fail(
                p.key("name"),
                format!("{:?} must be 1-64 letters, digits, `-` or `_`", ifc.name),
            );
        }
        if names.insert(&ifc.name, i).is_some() {
            return fail(
                p.key("name"),
                format!("duplicate interface name {:?}", ifc.name),
            );
        }
        if ifc.listen.is_empty() {
            return fail(p.key("listen"), "needs at least one listen entry");
        }
        for (j, l) in ifc.listen.iter().enumerate() {
            let lp = p.key("listen").at(j).key("address");
            let ip = l.address.ip();
            if ip.is_multicast() {
                return fail(lp, format!("{} is a multicast address", l.address));
            }
            if ip.is_unspecified() && ifc.advertised.is_none() {
                return fail(
                    lp,
                    format!(
                        "{} is a wildcard address; set `advertised` to the IP peers must use",
                        l.address
                    ),
                );
            }
            for (t, other, op) in &sockets {
                if t.is_stream() == l.transport.is_stream()
                    && other.port() == l.address.port()
                    && ips_overlap(other.ip(), ip)
                {
                    let other_name = op.render(&|k| cfg.interfaces.get(k).map(|x| x.name.clone()));
                    return fail(
                        lp,
                        format!(
                            "{} {} is already used by {other_name}",
                            l.transport.as_str(),
                            l.address
                        ),
                    );
                }
            }
            sockets.push((l.transport, l.address, lp));
        }
        if let Some(adv) = ifc.advertised {
            if adv.is_unspecified() || adv.is_multicast() {
                return fail(
                    p.key("advertised"),
                    format!("{adv} cannot be advertised to peers"),
                );
            }
        }
        if let Some(media) = ifc.media_address {
            if media.is_multicast() {
                return fail(
                    p.key("media_address"),
                    format!("{media} is a multicast address"),
                );
            }
            if media.is_unspecified() && ifc.advertised.is_none() {
                return fail(
                    p.key("media_address"),
                    format!("{media} is a wildcard address; set `advertised` so SDP has a usable address"),
                );
            }
        }
        rtp_range(cfg, i, ifc, &p)?;
        if ifc.profile == crate::MediaProfile::Webrtc {
            if ifc.srtp != crate::SrtpPolicy::Off {
                return fail(
                    p.key("srtp"),
                    "profile = \"webrtc\" keys media with DTLS-SRTP; leave srtp unset",
                );
            }
            if ifc.ice == crate::IcePolicy::Strip {
                return fail(
                    p.key("ice"),
                    "profile = \"webrtc\" runs ICE-lite, which browsers need; leave ice unset",
                );
            }
            if !cfg.relay.remote.is_empty() {
                return fail(
                    p.key("profile"),
                    "webrtc needs the in-process relay for DTLS-SRTP ([relay] remote is set)",
                );
            }
        }
    }
    Ok(())
}

fn rtp_range(cfg: &Config, i: usize, ifc: &Interface, p: &FieldPath) -> Check {
    let (min, max) = (ifc.rtp_port_min, ifc.rtp_port_max);
    if !RTP_PORTS.contains(&min) {
        return fail(
            p.key("rtp_port_min"),
            format!("{min} is outside 1024..=65535"),
        );
    }
    if min % 2 != 0 {
        return fail(
            p.key("rtp_port_min"),
            format!("{min} must be even (RTP uses even ports, RTCP the next odd one)"),
        );
    }
    if max % 2 != 1 {
        return fail(
            p.key("rtp_port_max"),
            format!("{max} must be odd (the range must hold whole RTP/RTCP pairs)"),
        );
    }
    if min >= max {
        return fail(
            p.key("rtp_port_min"),
            format!("{min} must be below rtp_port_max ({max})"),
        );
    }
    let media = ifc.media_ip();
    for (k, other) in cfg.interfaces.iter().enumerate().take(i) {
        if ips_overlap(other.media_ip(), media)
            && min <= other.rtp_port_max
            && other.rtp_port_min <= max
        {
            return fail(
                p.key("rtp_port_min"),
                format!(
                    "RTP ports {min}-{max} on {media} overlap interface[{k}] ({:?}) ports {}-{}",
                    other.name, other.rtp_port_min, other.rtp_port_max
                ),
            );
        }
    }
    for other in &cfg.interfaces {
        for l in &other.listen {
            let port = l.address.port();
            if l.transport == Transport::Udp
                && ips_overlap(l.address.ip(), media)
                && (min..=max).contains(&port)
            {
                return fail(
                    p.key("rtp_port_min"),
                    format!(
                        "RTP ports {min}-{max} on {media} include SIP port {port} of interface {:?}",
                        other.name
                    ),
                );
            }
        }
    }
    Ok(())
}

fn sip(cfg: &Config) -> Check {
    let s = &cfg.sip;
    let p = FieldPath::new("sip");
    if s.t1_ms == 0 {
        return fail(p.key("t1_ms"), "must be above 0");
    }
    if s.t1_ms > 60_000 {
        return fail(p.key("t1_ms"), format!("{} ms is over 60000", s.t1_ms));
    }
    if s.t2_ms <= s.t1_ms {
        return fail(
            p.key("t2_ms"),
            format!("{} ms must be above t1_ms ({} ms)", s.t2_ms, s.t1_ms),
        );
    }
    if s.t2_ms > 600_000 {
        return fail(p.key("t2_ms"), format!("{} ms is over 600000", s.t2_ms));
    }
    if s.t4_ms == 0 {
        return fail(p.key("t4_ms"), "must be above 0");
    }
    if !(1024..=1_048_576).contains(&s.max_message_bytes) {
        return fail(
            p.key("max_message_bytes"),
            format!(
                "{} is outside 1024..=1048576 (UDP is capped at {MAX_DATAGRAM_BYTES} anyway)",
                s.max_message_bytes
            ),
        );
    }
    if !(16..=1024).contains(&s.max_headers) {
        return fail(
            p.key("max_headers"),
            format!("{} is outside 16..=1024", s.max_headers),
        );
    }
    if s.tcp_max_connections == 0 {
        return fail(p.key("tcp_max_connections"), "must be above 0");
    }
    if s.tcp_max_connections_per_source == 0
        || s.tcp_max_connections_per_source > s.tcp_max_connections
    {
        return fail(
            p.key("tcp_max_connections_per_source"),
            format!(
                "{} must be between 1 and tcp_max_connections ({})",
                s.tcp_max_connections_per_source, s.tcp_max_connections
            ),
        );
    }
    if s.max_header_bytes < 256 || s.max_header_bytes > s.max_message_bytes {
        return fail(
            p.key("max_header_bytes"),
            format!(
                "{} must be between 256 and max_message_bytes ({})",
                s.max_header_bytes, s.max_message_bytes
            ),
        );
    }
    let mut seen = HashSet::new();
    for (i, h) in s.header_whitelist.iter().enumerate() {
        let hp = p.key("header_whitelist").at(i);
        if !is_token(h) {
            return fail(hp, format!("{h:?} is not a header name"));
        }
        let lower = h.to_ascii_lowercase();
        if MANAGED_HEADERS.contains(&lower.as_str()) {
            return fail(
                hp,
                format!("{h:?} is built by the B2BUA on each leg and cannot be whitelisted"),
            );
        }
        if !seen.insert(lower) {
            return fail(hp, format!("{h:?} is listed twice"));
        }
    }
    if s.max_forwards == 0 {
        return fail(p.key("max_forwards"), "must be above 0");
    }
    if s.min_se_s < 90 {
        return fail(
            p.key("min_se_s"),
            format!("{} s is below 90 (RFC 4028 §5)", s.min_se_s),
        );
    }
    if s.session_expires_s != 0 && s.session_expires_s < s.min_se_s {
        return fail(
            p.key("session_expires_s"),
            format!(
                "{} s is below min_se_s ({} s); use 0 to disable session timers",
                s.session_expires_s, s.min_se_s
            ),
        );
    }
    Ok(())
}

fn relay(cfg: &Config) -> Check {
    let r = &cfg.relay;
    let p = FieldPath::new("relay");
    if r.workers > 1024 {
        return fail(p.key("workers"), format!("{} is over 1024", r.workers));
    }
    if r.realtime_priority > 99 {
        return fail(
            p.key("realtime_priority"),
            format!(
                "{} is over 99 (SCHED_FIFO priorities are 1..=99; 0 keeps the normal scheduler)",
                r.realtime_priority
            ),
        );
    }
    if r.inactivity_timeout_s == 0 {
        return fail(p.key("inactivity_timeout_s"), "must be above 0");
    }
    for (i, remote) in r.remote.iter().enumerate() {
        if remote.weight == 0 {
            return fail(p.key("remote").at(i).key("weight"), "must be above 0");
        }
    }
    if !r.remote.is_empty() {
        if !(10..=10_000).contains(&r.remote_timeout_ms) {
            return fail(p.key("remote_timeout_ms"), "must be 10..=10000");
        }
        // SDES keys and ICE-lite credentials are handed to the in-process relay only.
        for (i, itf) in cfg.interfaces.iter().enumerate() {
            let at = FieldPath::new("interface").at(i);
            if itf.srtp != crate::SrtpPolicy::Off {
                return fail(
                    at.key("srtp"),
                    "needs the in-process relay ([relay] remote is set)",
                );
            }
            if itf.ice == crate::IcePolicy::Lite {
                return fail(
                    at.key("ice"),
                    "needs the in-process relay ([relay] remote is set)",
                );
            }
        }
        for (i, route) in cfg.routes.iter().enumerate() {
            if route.srtp.is_some_and(|s| s != crate::SrtpPolicy::Off) {
                return fail(
                    FieldPath::new("route").at(i).key("srtp"),
                    "needs the in-process relay ([relay] remote is set)",
                );
            }
        }
    }
    if !(1..=1000).contains(&r.learning_window_packets) {
        return fail(
            p.key("learning_window_packets"),
            format!("{} is outside 1..=1000", r.learning_window_packets),
        );
    }
    if r.stats_interval_ms != 0 && r.stats_interval_ms < 100 {
        return fail(
            p.key("stats_interval_ms"),
            format!("{} ms is below 100 (0 disables stats)", r.stats_interval_ms),
        );
    }
    Ok(())
}

/// Checks that `name` is an interface that can reach `hop` over `transport`.
pub(super) fn egress(
    cfg: &Config,
    name: &str,
    transport: Transport,
    hop: SocketAddr,
) -> Result<(), String> {
    let Some(ifc) = cfg.interfaces.iter().find(|i| i.name == name) else {
        return Err(format!("unknown interface {name:?}"));
    };
    let family = |a: &SocketAddr| same_family(a.ip(), hop.ip());
    if !ifc.listen.iter().any(|l| l.transport == transport) {
        return Err(format!(
            "interface {name:?} has no {} listen entry",
            transport.as_str()
        ));
    }
    if !ifc
        .listen
        .iter()
        .any(|l| l.transport == transport && family(&l.address))
    {
        let fam = if hop.is_ipv4() { "IPv4" } else { "IPv6" };
        return Err(format!(
            "interface {name:?} has no {fam} {} listen entry to reach {hop}",
            transport.as_str()
        ));
    }
    Ok(())
}

fn check_codes(p: &FieldPath, codes: &[u16]) -> Check {
    for (k, code) in codes.iter().enumerate() {
        if !(400..=699).contains(code) {
            return fail(p.at(k), format!("{code} is not a failure status (400-699)"));
        }
    }
    Ok(())
}

fn routes(cfg: &Config) -> Check {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, r) in cfg.routes.iter().enumerate() {
        let p = FieldPath::new("route").at(i);
        if !is_name(&r.name) {
            return fail(
                p.key("name"),
                format!("{:?} must be 1-64 letters, digits, `-` or `_`", r.name),
            );
        }
        if names.insert(&r.name, i).is_some() {
            return fail(p.key("name"), format!("duplicate route name {:?}", r.name));
        }
        if r.transport.is_websocket() {
            return fail(
                p.key("transport"),
                "ws and wss are for listeners (browsers connect in); a route's next hop is udp, tcp or tls",
            );
        }
    }
    for (i, r) in cfg.routes.iter().enumerate() {
        let p = FieldPath::new("route").at(i);
        if !cfg.interfaces.iter().any(|x| x.name == r.from_interface) {
            return fail(
                p.key("from_interface"),
                format!("unknown interface {:?}", r.from_interface),
            );
        }
        if let Some(d) = &r.request_domain {
            if !is_valid_domain(d) {
                return fail(
                    p.key("request_domain"),
                    format!("{d:?} is not a host name or IP literal"),
                );
            }
        }
        match &r.next_hop {
            crate::NextHop::Addr(addr) => {
                let hop = addr.ip();
                if hop.is_unspecified() || hop.is_multicast() {
                    return fail(p.key("next_hop"), format!("{addr} cannot be a next hop"));
                }
                if let Err(why) = egress(cfg, &r.to_interface, r.transport, *addr) {
                    return fail(p.key("to_interface"), why);
                }
            }
            crate::NextHop::Name(_) => {
                let t = r.hop_transport();
                let listens = cfg
                    .interface(&r.to_interface)
                    .is_some_and(|i| i.listen.iter().any(|l| l.transport == t));
                if !listens {
                    return fail(
                        p.key("to_interface"),
                        format!(
                            "interface {:?} has no {} listen entry to reach {}",
                            r.to_interface,
                            t.as_str(),
                            r.next_hop
                        ),
                    );
                }
            }
        }
        check_codes(&p.key("failover_on"), &r.failover_on)?;
        if let Some((k, code)) = r.failover_on.iter().enumerate().find(|(_, c)| **c >= 600) {
            return fail(
                p.key("failover_on").at(k),
                format!(
                    "{code} is a global failure (6xx): no other route may be tried after it (RFC 3261 §16.7)"
                ),
            );
        }
        check_codes(&p.key("forward_codes"), &r.forward_codes)?;
        if let Some(fwd) = &r.forward_on {
            if fwd == &r.name {
                return fail(p.key("forward_on"), "a route cannot forward to itself");
            }
            if !names.contains_key(fwd.as_str()) {
                return fail(p.key("forward_on"), format!("unknown route {fwd:?}"));
            }
            // Follow the forward chain; coming back to this route is a loop.
            let mut seen = HashSet::from([r.name.as_str()]);
            let mut next = Some(fwd.as_str());
            while let Some(n) = next {
                if !seen.insert(n) {
                    return fail(
                        p.key("forward_on"),
                        format!("forwarding from {:?} loops back through {n:?}", r.name),
                    );
                }
                next = cfg
                    .routes
                    .iter()
                    .find(|x| x.name == n)
                    .and_then(|x| x.forward_on.as_deref());
            }
        }
        if r.follow_redirects && !(1..=10).contains(&r.max_redirects) {
            return fail(
                p.key("max_redirects"),
                format!("{} is outside 1..=10", r.max_redirects),
            );
        }
    }
    Ok(())
}

fn limits(cfg: &Config) -> Check {
    let l = &cfg.limits;
    let p = FieldPath::new("limits");
    if !(1..=3600).contains(&l.retry_after_s) {
        return fail(
            p.key("retry_after_s"),
            format!("{} s is outside 1..=3600", l.retry_after_s),
        );
    }
    if l.source_rate_per_s != 0 && l.source_burst < l.source_rate_per_s {
        return fail(
            p.key("source_burst"),
            format!(
                "{} must be at least source_rate_per_s ({})",
                l.source_burst, l.source_rate_per_s
            ),
        );
    }
    if l.auth_fail_max != 0 {
        if l.auth_fail_window_s == 0 {
            return fail(
                p.key("auth_fail_window_s"),
                "must be above 0 when auth_fail_max is set",
            );
        }
        if l.auth_block_s == 0 {
            return fail(
                p.key("auth_block_s"),
                "must be above 0 when auth_fail_max is set",
            );
        }
    }
    Ok(())
}

fn admin(cfg: &Config) -> Check {
    let a = &cfg.admin;
    let p = FieldPath::new("admin");
    if let Some(token) = &a.token {
        let n = token.expose().chars().count();
        if n < 16 {
            return fail(
                p.key("token"),
                format!("is {n} characters; use at least 16"),
            );
        }
    }
    let ip = a.listen.ip();
    if ip.is_multicast() {
        return fail(
            p.key("listen"),
            format!("{} is a multicast address", a.listen),
        );
    }
    if !ip.to_canonical().is_loopback() && a.token.is_none() {
        return fail(
            p.key("listen"),
            format!(
                "{} is reachable from the network; set admin.token (or listen on loopback)",
                a.listen
            ),
        );
    }
    for ifc in &cfg.interfaces {
        for l in &ifc.listen {
            if l.transport.is_stream()
                && l.address.port() == a.listen.port()
                && ips_overlap(l.address.ip(), ip)
            {
                return fail(
                    p.key("listen"),
                    format!(
                        "{} is already used by SIP on interface {:?}",
                        a.listen, ifc.name
                    ),
                );
            }
        }
    }
    if let Some(path) = &a.cdr_path {
        if path.as_os_str().is_empty() {
            return fail(p.key("cdr_path"), "is empty; omit it to disable CDRs");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
