//! `[[route]] next_hop`: an `ip:port` literal, or a name the SBC locates over DNS (RFC 3263 §4):
//! `sip:trunk.example.net`, `sips:trunk.example.net`, `trunk.example.net:5080;transport=tcp`,
//! `trunk.example.net`. Names come only from this file; a message's hosts are never resolved.

use crate::model::Transport;
use crate::types::{is_valid_domain, parse_socket_addr};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Where a route sends its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// An address: today's behaviour.
    Addr(SocketAddr),
    /// A domain name, located over DNS when the SBC runs.
    Name(HopName),
}

/// A next hop named by domain (RFC 3263 §4): the host, and what the URI fixed of port and
/// transport.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HopName {
    /// The domain, lower case, without a trailing dot.
    pub host: String,
    /// A port written after the host: then A/AAAA only (RFC 3263 §4.2).
    pub port: Option<u16>,
    /// A `;transport=` parameter.
    pub transport: Option<Transport>,
    /// Whether the URI was `sips:` (TLS on every hop).
    pub sips: bool,
}

impl NextHop {
    /// The address of an `ip:port` next hop.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Addr(a) => Some(*a),
            Self::Name(_) => None,
        }
    }

    /// The name of a named next hop.
    pub fn name(&self) -> Option<&HopName> {
        match self {
            Self::Addr(_) => None,
            Self::Name(n) => Some(n),
        }
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(a) => write!(f, "{a}"),
            Self::Name(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for HopName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.sips { "sips:" } else { "sip:" })?;
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(t) = self.transport {
            write!(f, ";transport={}", t.as_str())?;
        }
        Ok(())
    }
}

/// Parses a `next_hop` value: an address, else a SIP URI or host name (with an optional port
/// and `;transport=`).
pub(crate) fn parse_next_hop(s: &str) -> Result<NextHop, String> {
    let text = s.trim();
    let (scheme_sips, rest) = match text.get(..5).map(str::to_ascii_lowercase).as_deref() {
        Some("sips:") => (true, &text[5..]),
        _ => match text.get(..4).map(str::to_ascii_lowercase).as_deref() {
            Some("sip:") => (false, &text[4..]),
            _ => (false, text),
        },
    };
    if rest == text {
        if let Ok(a) = parse_socket_addr(text) {
            return Ok(NextHop::Addr(a));
        }
    }
    let mut parts = rest.split(';');
    let hostport = parts.next().unwrap_or_default();
    let mut transport = None;
    for p in parts {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        if !k.eq_ignore_ascii_case("transport") {
            return Err(format!(
                "{s:?}: only a ;transport= parameter is allowed on a next hop"
            ));
        }
        transport = Some(match v.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            other => return Err(format!("{s:?}: transport {other:?} is not udp, tcp or tls")),
        });
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
            let port: u16 = p
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{s:?} has an invalid port (1-65535)"))?;
            (h, Some(port))
        }
        _ => (hostport, None),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        if rest == text {
            // A bare address needs its port, as before.
            return Err(parse_socket_addr(text).err().unwrap_or_default());
        }
        // An address in URI form: as an ip:port literal.
        let tls = scheme_sips || transport == Some(Transport::Tls);
        let port = port.unwrap_or(if tls { 5061 } else { 5060 });
        let ip: IpAddr = bare.parse().map_err(|_| format!("{s:?}: bad address"))?;
        return Ok(NextHop::Addr(SocketAddr::new(ip, port)));
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if !is_valid_domain(&host) || !host.contains('.') {
        return Err(format!(
            "{s:?} is neither an ip:port nor a SIP URI or host name with a domain"
        ));
    }
    if scheme_sips && matches!(transport, Some(Transport::Udp | Transport::Tcp)) {
        return Err(format!("{s:?}: a sips: next hop is reached over TLS only"));
    }
    Ok(NextHop::Name(HopName {
        host,
        port,
        transport,
        sips: scheme_sips,
    }))
}

pub(crate) fn de_next_hop<'de, D: Deserializer<'de>>(d: D) -> Result<NextHop, D::Error> {
    let text = String::deserialize(d)?;
    parse_next_hop(&text).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &str, port: Option<u16>, transport: Option<Transport>, sips: bool) -> NextHop {
        NextHop::Name(HopName {
            host: host.into(),
            port,
            transport,
            sips,
        })
    }

    #[test]
    fn addresses_names_and_uris_are_read() {
        let addr = |s: &str| NextHop::Addr(s.parse().unwrap());
        for (text, want) in [
            ("127.0.0.1:5090", addr("127.0.0.1:5090")),
            ("[::1]:5090", addr("[::1]:5090")),
            ("sip:192.0.2.1", addr("192.0.2.1:5060")),
            ("sips:192.0.2.1", addr("192.0.2.1:5061")),
            (
                "sip:trunk.example.net",
                name("trunk.example.net", None, None, false),
            ),
            (
                "sips:Trunk.Example.NET.",
                name("trunk.example.net", None, None, true),
            ),
            (
                "trunk.example.net:5080;transport=tcp",
                name("trunk.example.net", Some(5080), Some(Transport::Tcp), false),
            ),
            (
                "trunk.example.net",
                name("trunk.example.net", None, None, false),
            ),
            (
                "sip:trunk.example.net;transport=TLS",
                name("trunk.example.net", None, Some(Transport::Tls), false),
            ),
        ] {
            assert_eq!(parse_next_hop(text), Ok(want), "{text}");
        }
        assert_eq!(
            parse_next_hop("sips:trunk.example.net")
                .unwrap()
                .to_string(),
            "sips:trunk.example.net"
        );
    }

    #[test]
    fn bad_next_hops_say_why() {
        for (text, why) in [
            ("192.0.2.1", "port is missing"),
            ("trunk", "neither an ip:port"),
            ("sip:trunk.example.net;lr", "only a ;transport="),
            (
                "sip:trunk.example.net;transport=sctp",
                "not udp, tcp or tls",
            ),
            ("sips:trunk.example.net;transport=udp", "over TLS only"),
            ("trunk.example.net:0", "invalid port"),
            ("bad_name.example.net", "neither an ip:port"),
        ] {
            let e = parse_next_hop(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
