//! The Via header view (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).

use super::fields::HeaderError;
use super::params::{find_byte, trim_ws, trim_ws_start, Params};
use std::net::IpAddr;

/// The magic cookie that marks an RFC 3261 branch (RFC 3261 §8.1.1.7).
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// One `via-parm` of a Via header, borrowed from the message (RFC 3261 §20.42).
#[derive(Clone, Copy, Debug)]
pub struct Via<'a> {
    /// The protocol name, normally `SIP`.
    pub protocol: &'a str,
    /// The protocol version, normally `2.0`.
    pub version: &'a str,
    /// The transport (`UDP`, `TCP`, `TLS`, `WS`, ...), as written.
    pub transport: &'a str,
    /// The sent-by host: a name, an IPv4 address or a bracketed IPv6 reference.
    pub host: &'a str,
    /// The sent-by port, if present.
    pub port: Option<u16>,
    /// The parameters after the sent-by.
    pub params: Params<'a>,
    /// The `branch` value when the message's view cache already looked it up (the top Via of a
    /// parsed message); `None` when [`Via::branch`] has to search the parameters.
    pub(crate) branch_hint: Option<Option<&'a str>>,
}

/// Two via-parms are equal when their text is, whether or not the branch was looked up in
/// advance.
impl PartialEq for Via<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.protocol == other.protocol
            && self.version == other.version
            && self.transport == other.transport
            && self.host == other.host
            && self.port == other.port
            && self.params == other.params
    }
}

impl Eq for Via<'_> {}

impl<'a> Via<'a> {
    /// Parses one via-parm such as `SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776;rport`.
    pub fn parse(s: &'a str) -> Result<Self, HeaderError> {
        let err = |reason| HeaderError::new("Via", reason);
        let s = trim_ws(s);
        let (protocol, version, transport, rest) = match canonical_proto(s) {
            Some(found) => found,
            None => {
                let (proto, rest) = split_proto(s).ok_or_else(|| err("missing sent-protocol"))?;
                let mut parts = proto.splitn(3, '/').map(trim_ws);
                let protocol = parts.next().unwrap_or("");
                let version = parts.next().unwrap_or("");
                let transport = parts.next().unwrap_or("");
                if !super::method::is_token(protocol)
                    || !super::method::is_token(version)
                    || !super::method::is_token(transport)
                {
                    return Err(err("bad sent-protocol"));
                }
                (protocol, version, transport, rest)
            }
        };
        let rest = trim_ws_start(rest);
        let (sent_by, params) = match find_byte(rest, b';') {
            Some(i) => rest.split_at_checked(i).unwrap_or((rest, "")),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(trim_ws(sent_by)).ok_or_else(|| err("bad sent-by"))?;
        let params = Params::new(params);
        params.validate().map_err(err)?;
        Ok(Self {
            protocol,
            version,
            transport,
            host,
            port,
            params,
            branch_hint: None,
        })
    }

    /// The branch parameter (RFC 3261 §8.1.1.7).
    pub fn branch(&self) -> Option<&'a str> {
        match self.branch_hint {
            Some(branch) => branch,
            None => self.params.value("branch"),
        }
    }

    /// Whether the branch carries the RFC 3261 magic cookie (otherwise RFC 2543 matching applies).
    pub fn is_rfc3261(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(BRANCH_COOKIE))
    }

    /// The `received` parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&'a str> {
        self.params.value("received")
    }

    /// The `rport` parameter (RFC 3581 §4): `Some(None)` when requested without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The `maddr` parameter (RFC 3261 §18.2.2).
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.value("maddr")
    }

    /// The `ttl` parameter (RFC 3261 §20.42).
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|v| v.parse().ok())
    }

    /// The sent-by host as an IP address, if it is one (IPv6 without its brackets).
    pub fn host_ip(&self) -> Option<IpAddr> {
        parse_host_ip(self.host)
    }
}

/// The sent-protocol as nearly every Via writes it, `SIP/2.0/<transport>` then white space:
/// (protocol, version, transport, rest), what the general path below finds for it, without its
/// passes over the text. `None` for any other spelling.
fn canonical_proto(s: &str) -> Option<(&str, &str, &str, &str)> {
    let after = s.strip_prefix("SIP/2.0/")?;
    let n = after
        .bytes()
        .take_while(|&b| super::method::is_token_byte(b))
        .count();
    if n == 0 || !matches!(after.as_bytes().get(n), Some(b' ' | b'\t')) {
        return None;
    }
    let (transport, rest) = after.split_at_checked(n)?;
    Some((s.get(..3)?, s.get(4..7)?, transport, rest))
}

/// Splits `SIP / 2.0 / UDP host...` into the protocol part and the rest, allowing LWS around `/`.
fn split_proto(s: &str) -> Option<(&str, &str)> {
    let mut slashes = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if b == b'/' {
            slashes += 1;
        } else if b == b' ' || b == b'\t' {
            // White space ends the protocol only once the transport token has started.
            if slashes == 2 {
                let before = s.get(..i)?;
                let after_slash = before.rsplit('/').next().unwrap_or("").trim();
                if !after_slash.is_empty() {
                    return Some((before, s.get(i..)?));
                }
            }
        }
        i += 1;
    }
    None
}

/// Splits `host[:port]` with IPv6 references in brackets (RFC 3261 §25.1 `hostport`).
pub fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    if let Some(found) = plain_host_port(s) {
        return Some(found);
    }
    split_host_port_general(s)
}

/// [`split_host_port`] for any spelling.
fn split_host_port_general(s: &str) -> Option<(&str, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']')?;
        let (h, rest) = s.split_at_checked(close + 1)?;
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if !valid_host(host) {
        return None;
    }
    let port = match port {
        Some(p) => {
            let p = p.trim();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(p.parse::<u16>().ok()?)
        }
        None => None,
    };
    Some((host, port))
}

/// `name-or-ipv4[:digits]` in one pass over the bytes, as [`split_host_port`] reads it; `None`
/// when anything else is there (brackets, white space, a bad host or port) and the general path
/// must decide.
fn plain_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let b = s.as_bytes();
    let colon = b.iter().rposition(|&c| c == b':');
    let host_end = colon.unwrap_or(b.len());
    let host = s.get(..host_end)?;
    if host.is_empty()
        || !host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        return None;
    }
    let Some(colon) = colon else {
        return Some((host, None));
    };
    let digits = b.get(colon + 1..)?;
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let port = digits
        .iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    Some((host, Some(u16::try_from(port).ok()?)))
}

/// Whether `host` is a hostname, IPv4 address or bracketed IPv6 reference (RFC 3261 §25.1).
pub fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return super::uri::parse_ipv6_liberal(inner).is_some();
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Parses a host as an IP address, accepting bracketed IPv6 references.
pub fn parse_host_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => super::uri::parse_ipv6_liberal(inner).map(IpAddr::V6),
        None => host.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_via() {
        let v =
            Via::parse("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport").unwrap();
        assert_eq!(v.protocol, "SIP");
        assert_eq!(v.version, "2.0");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "pc33.atlanta.com");
        assert_eq!(v.port, Some(5066));
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
        assert!(v.is_rfc3261());
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), None);
    }

    #[test]
    fn via_with_lws_ipv6_received_rport_maddr_ttl() {
        let v = Via::parse(
            "SIP / 2.0 / TCP [2001:db8::9:1]:5070 ; branch=abc ;received=192.0.2.1;rport=40000;maddr=239.128.16.254;ttl=16",
        )
        .unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.host, "[2001:db8::9:1]");
        assert_eq!(v.host_ip(), "2001:db8::9:1".parse().ok());
        assert_eq!(v.port, Some(5070));
        assert!(!v.is_rfc3261());
        assert_eq!(v.received(), Some("192.0.2.1"));
        assert_eq!(v.rport(), Some(Some(40000)));
        assert_eq!(v.maddr(), Some("239.128.16.254"));
        assert_eq!(v.ttl(), Some(16));
        let v = Via::parse("SIP/2.0/UDP [2001:db8::10]").unwrap();
        assert_eq!(v.port, None);
    }

    /// The general sent-protocol path the canonical one short-cuts.
    fn general_proto(s: &str) -> Option<(&str, &str, &str, &str)> {
        let (proto, rest) = split_proto(s)?;
        let mut parts = proto.splitn(3, '/').map(trim_ws);
        Some((parts.next()?, parts.next()?, parts.next()?, rest))
    }

    proptest::proptest! {
        #[test]
        fn canonical_proto_agrees_with_the_general_path(
            s in "(SIP/2\\.0/|SIP/2\\.0 /|SIP/)[A-Za-z/ \t]{0,6}[ \t;a-z0-9.:]{0,8}"
        ) {
            if let Some(fast) = canonical_proto(&s) {
                proptest::prop_assert_eq!(Some(fast), general_proto(&s));
            }
        }

        #[test]
        fn plain_host_port_agrees_with_the_general_path(s in "[a-z0-9.\\-\\[\\]: ]{0,12}") {
            if let Some(fast) = plain_host_port(&s) {
                proptest::prop_assert_eq!(Some(fast), split_host_port_general(&s));
            }
            proptest::prop_assert_eq!(split_host_port(&s), split_host_port_general(&s));
        }
    }

    #[test]
    fn canonical_and_general_spellings_read_the_same() {
        let a = Via::parse("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1").unwrap();
        let b = Via::parse("SIP / 2.0 / UDP 127.0.0.1:5060 ;branch=z9hG4bK1");
        assert_eq!(
            b.map(|v| (v.protocol, v.version, v.transport)),
            Ok(("SIP", "2.0", "UDP"))
        );
        assert_eq!((a.host, a.port), ("127.0.0.1", Some(5060)));
        assert_eq!(
            split_host_port("host:000005060"),
            Some(("host", Some(5060)))
        );
        assert_eq!(split_host_port("host:65536"), None);
        assert_eq!(split_host_port("[::1]:5"), Some(("[::1]", Some(5))));
    }

    #[test]
    fn bad_vias() {
        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0 host",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host:abc",
            "SIP/2.0/UDP [2001:db8::1",
            "SIP/2.0/UDP [zz::1]:5060",
            "SIP/2.0/UDP ho st",
            "SIP/2.0/UDP host;bad param",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
