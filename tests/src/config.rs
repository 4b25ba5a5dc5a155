//! The configuration the end-to-end tests start the SBC with: a `customer` and a `core`
//! interface, one relay worker, routes from customer to core, and an admin listener.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

/// One SIP interface of the test SBC: where it listens, its media address and RTP ports.
#[derive(Clone, Debug)]
pub struct Iface {
    /// (transport, address) pairs it listens on.
    pub listen: Vec<(&'static str, SocketAddr)>,
    /// The relay's address on this side.
    pub media: IpAddr,
    /// The relay's RTP ports on this side.
    pub rtp: RangeInclusive<u16>,
}

impl Iface {
    /// Listens on UDP at `addr`, media on the same IP.
    pub fn udp(addr: SocketAddr, rtp: RangeInclusive<u16>) -> Self {
        Self {
            listen: vec![("udp", addr)],
            media: addr.ip(),
            rtp,
        }
    }

    /// Also listens with `transport` at `addr`.
    pub fn and(mut self, transport: &'static str, addr: SocketAddr) -> Self {
        self.listen.push((transport, addr));
        self
    }
}

/// An SBC configuration for a test, rendered to TOML by [`SbcConfig::render`].
#[derive(Clone, Debug)]
pub struct SbcConfig {
    /// Lines under `[general]` (none: no such section).
    pub general: String,
    /// The `customer` interface.
    pub customer: Iface,
    /// The `core` interface.
    pub core: Iface,
    /// Lines under `[relay]` after `workers = 1`.
    pub relay: String,
    /// `[[route]]` tables, in order.
    pub routes: Vec<String>,
    /// Address of the admin listener.
    pub admin: SocketAddr,
    /// Bearer token of the admin API (none: the API is closed).
    pub admin_token: Option<String>,
    /// Further lines under `[admin]` (`cdr_path`, ...).
    pub admin_lines: String,
    /// Further tables appended as they are (`[[realm]]`, `[[user]]`, ...).
    pub extra: String,
}

impl SbcConfig {
    /// UDP interfaces at `customer` and `core` with the given RTP ranges, no routes, an admin
    /// listener on a free loopback port.
    pub fn new(
        customer: SocketAddr,
        core: SocketAddr,
        customer_rtp: RangeInclusive<u16>,
        core_rtp: RangeInclusive<u16>,
    ) -> Self {
        Self::with(
            Iface::udp(customer, customer_rtp),
            Iface::udp(core, core_rtp),
        )
    }

    /// The given interfaces, no routes, an admin listener on a free loopback port.
    pub fn with(customer: Iface, core: Iface) -> Self {
        Self {
            general: String::new(),
            customer,
            core,
            relay: String::new(),
            routes: Vec::new(),
            admin: SocketAddr::from(([127, 0, 0, 1], crate::free_tcp_port())),
            admin_token: None,
            admin_lines: String::new(),
            extra: String::new(),
        }
    }

    /// [`SbcConfig::new`] on 127.0.0.1 at the given ports.
    pub fn loopback(
        customer: u16,
        core: u16,
        customer_rtp: RangeInclusive<u16>,
        core_rtp: RangeInclusive<u16>,
    ) -> Self {
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self::new(at(customer), at(core), customer_rtp, core_rtp)
    }

    /// Adds a route from customer to core named `name` towards `next_hop`, with `extra` lines
    /// (transport, priority, failover codes...).
    pub fn route(self, name: &str, next_hop: SocketAddr, extra: &str) -> Self {
        self.route_between(name, ("customer", "core"), next_hop, extra)
    }

    /// Adds a route named `name` from interface `from` to interface `to` (the pair) towards
    /// `next_hop`, with `extra` lines.
    pub fn route_between(
        mut self,
        name: &str,
        (from, to): (&str, &str),
        next_hop: SocketAddr,
        extra: &str,
    ) -> Self {
        let mut r = format!(
            "[[route]]\nname = \"{name}\"\nfrom_interface = \"{from}\"\nnext_hop = \"{next_hop}\"\nto_interface = \"{to}\"\n"
        );
        r.push_str(extra);
        if !r.ends_with('\n') {
            r.push('\n');
        }
        self.routes.push(r);
        self
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let mut t = String::new();
        if !self.general.is_empty() {
            let _ = writeln!(t, "[general]\n{}\n", self.general.trim_end());
        }
        for (name, i) in [("customer", &self.customer), ("core", &self.core)] {
            let listen: Vec<String> = i
                .listen
                .iter()
                .map(|(tr, addr)| format!("{{ transport = \"{tr}\", address = \"{addr}\" }}"))
                .collect();
            let _ = writeln!(
                t,
                "[[interface]]\nname = \"{name}\"\nlisten = [{}]\nmedia_address = \"{}\"\nrtp_port_min = {}\nrtp_port_max = {}\n",
                listen.join(", "),
                i.media,
                i.rtp.start(),
                i.rtp.end()
            );
        }
        let _ = writeln!(t, "[relay]\nworkers = 1\n{}", self.relay.trim_end());
        for r in &self.routes {
            let _ = writeln!(t, "\n{r}");
        }
        let _ = writeln!(t, "[admin]\nlisten = \"{}\"", self.admin);
        if let Some(token) = &self.admin_token {
            let _ = writeln!(t, "token = \"{token}\"");
        }
        if !self.admin_lines.is_empty() {
            let _ = writeln!(t, "{}", self.admin_lines.trim_end());
        }
        if !self.extra.is_empty() {
            let _ = writeln!(t, "\n{}", self.extra);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_config_passes_the_sbc_config_check() {
        let mut c = SbcConfig::loopback(5060, 5080, 40000..=40099, 40100..=40199)
            .route(
                "primary",
                "127.0.0.1:5090".parse().unwrap(),
                "priority = 10\nfailover_on = [503]",
            )
            .route("backup", "127.0.0.1:5092".parse().unwrap(), "priority = 20");
        c.general = "node_name = \"t\"".into();
        c.customer = c.customer.and("tcp", "[::1]:5060".parse().unwrap());
        c.relay = "stats_interval_ms = 200".into();
        c.admin_token = Some("secret-token-123456".into());
        c.admin_lines = "cdr_path = \"/tmp/cdr.jsonl\"".into();
        let text = c.render();
        let cfg = sbc_config::Config::from_toml_str(&text, "test.toml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(cfg.routes.len(), 2, "{text}");
        assert_eq!(cfg.interfaces[0].listen.len(), 2, "{text}");
        assert!(cfg.admin.cdr_path.is_some(), "{text}");
    }
}
