//! URI hosts: host names, IPv4 and IPv6 references, ports (RFC 3261 §25.1, RFC 5118).

use super::*;

/// What kind of host a [`Host`] is (RFC 3261 §25.1 `host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostKind {
    /// A DNS host name.
    Domain,
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference (`[...]`, RFC 5118).
    Ipv6(Ipv6Addr),
}

/// A validated host: its text as written (IPv6 with brackets) and its kind (RFC 3261 §25.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Host<'a> {
    pub(super) raw: &'a str,
    pub(super) kind: HostKind,
}

/// Parses an IPv6 address, also accepting the form RFC 3261's ABNF allows by mistake: three
/// colons before an embedded IPv4 address (`2001:db8:::192.0.2.1`), which RFC 5118 §4.10 asks
/// receivers to accept and senders never to generate (the SBC writes addresses through
/// [`Ipv6Addr`]'s display, which never does).
pub fn parse_ipv6_liberal(s: &str) -> Option<Ipv6Addr> {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some(a);
    }
    let (head, v4) = s.rsplit_once(":::")?;
    if head.contains("::") || !v4.contains('.') {
        return None;
    }
    let mut fixed = String::with_capacity(s.len());
    fixed.push_str(head);
    fixed.push_str("::");
    fixed.push_str(v4);
    fixed.parse().ok()
}

impl<'a> Host<'a> {
    /// Parses a `hostname`, `IPv4address` or bracketed `IPv6reference` (RFC 3261 §25.1, RFC 5118).
    pub fn parse(s: &'a str) -> Result<Self, UriError> {
        if s.is_empty() {
            return Err(UriError::EmptyHost);
        }
        let kind = if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(UriError::BadIpv6("missing ']'"))?;
            let addr = parse_ipv6_liberal(inner).ok_or(UriError::BadIpv6("not an IPv6 address"))?;
            HostKind::Ipv6(addr)
        } else if s.contains(']') {
            return Err(UriError::BadIpv6("']' without '['"));
        } else if s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            HostKind::Ipv4(parse_ipv4(s)?)
        } else {
            check_hostname(s)?;
            HostKind::Domain
        };
        Ok(Self { raw: s, kind })
    }

    /// The host as written; IPv6 references keep their brackets.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Whether the host is a name, an IPv4 or an IPv6 address.
    pub fn kind(&self) -> HostKind {
        self.kind
    }

    /// The IP address when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            HostKind::Domain => None,
            HostKind::Ipv4(a) => Some(IpAddr::V4(a)),
            HostKind::Ipv6(a) => Some(IpAddr::V6(a)),
        }
    }

    /// Whether the host is a DNS name rather than an address.
    pub fn is_domain(&self) -> bool {
        self.kind == HostKind::Domain
    }

    /// Compares hosts: names case-insensitively, addresses by value (RFC 3261 §19.1.4).
    pub fn equivalent(&self, other: &Host<'_>) -> bool {
        match (self.kind, other.kind) {
            (HostKind::Domain, HostKind::Domain) => self.raw.eq_ignore_ascii_case(other.raw),
            (HostKind::Ipv4(a), HostKind::Ipv4(b)) => a == b,
            (HostKind::Ipv6(a), HostKind::Ipv6(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// `IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT`, each at most 255.
pub(super) fn parse_ipv4(s: &str) -> Result<Ipv4Addr, UriError> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for slot in &mut octets {
        let part = parts.next().ok_or(UriError::BadIpv4)?;
        *slot = parse_dec_u8(part).ok_or(UriError::BadIpv4)?;
    }
    if parts.next().is_some() {
        return Err(UriError::BadIpv4);
    }
    Ok(Ipv4Addr::from(octets))
}

/// `1*3DIGIT` with a value of at most 255 (no sign, unlike `u8::from_str`).
pub(super) fn parse_dec_u8(s: &str) -> Option<u8> {
    if (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// `hostname = *( domainlabel "." ) toplabel [ "." ]`.
pub(super) fn check_hostname(s: &str) -> Result<(), UriError> {
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(UriError::InvalidChar {
            component: Component::Host,
            ch: c,
        });
    }
    let body = s.strip_suffix('.').unwrap_or(s);
    let mut top: &[u8] = b"";
    for b in body.as_bytes().split(|&c| c == b'.') {
        match (b.first(), b.last()) {
            (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {}
            (None, _) | (_, None) => return Err(UriError::BadHostname("empty label")),
            _ => {
                return Err(UriError::BadHostname(
                    "label must start and end with a letter or digit",
                ))
            }
        }
        top = b;
    }
    if top.first().is_some_and(u8::is_ascii_alphabetic) {
        Ok(())
    } else {
        Err(UriError::BadHostname("top label must start with a letter"))
    }
}

/// `port = 1*DIGIT`, at most 65535.
pub(super) fn parse_port(s: &str) -> Result<u16, UriError> {
    if s.is_empty() {
        return Err(UriError::BadPort("empty"));
    }
    let mut v: u32 = 0;
    for b in s.bytes() {
        let d = b
            .checked_sub(b'0')
            .filter(|d| *d <= 9)
            .ok_or(UriError::BadPort("not a decimal number"))?;
        v = v * 10 + u32::from(d);
        if v > u32::from(u16::MAX) {
            return Err(UriError::BadPort("greater than 65535"));
        }
    }
    u16::try_from(v).map_err(|_| UriError::BadPort("greater than 65535"))
}

/// Splits `hostport` into host text and optional port text (RFC 3261 §25.1, RFC 5118 §4.3).
pub(super) fn split_hostport(s: &str) -> Result<(&str, Option<&str>), UriError> {
    if s.starts_with('[') {
        let end = s.find(']').ok_or(UriError::BadIpv6("missing ']'"))?;
        let (host, rest) = s
            .split_at_checked(end + 1)
            .ok_or(UriError::BadIpv6("missing ']'"))?;
        if rest.is_empty() {
            Ok((host, None))
        } else if let Some(port) = rest.strip_prefix(':') {
            Ok((host, Some(port)))
        } else {
            Err(UriError::BadIpv6("unexpected text after ']'"))
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) if port.contains(':') => {
                if host.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Err(UriError::BadIpv6("IPv6 address not enclosed in brackets"))
                } else {
                    Err(UriError::BadPort("not a decimal number"))
                }
            }
            Some((host, port)) => Ok((host, Some(port))),
            None => Ok((s, None)),
        }
    }
}
