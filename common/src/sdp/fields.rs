//! Typed views of the lines and attributes the SBC reads. Each borrows from its [`Line`].

use std::fmt;
use std::net::IpAddr;

use super::line::{tokens, Line, Token, Tokens};
use super::payload::Codec;

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal number made of digits only (no sign, no blanks), as SDP writes numbers.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if all_digits(s) {
        s.parse().ok()
    } else {
        None
    }
}

pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    parse_u64(s).and_then(|n| u32::try_from(n).ok())
}

pub(crate) fn parse_u16(s: &str) -> Option<u16> {
    parse_u64(s).and_then(|n| u16::try_from(n).ok())
}

/// A payload type number, 0–127 (RFC 3550 §5.1 gives it seven bits).
pub(crate) fn parse_payload_type(s: &str) -> Option<u8> {
    parse_u64(s)
        .and_then(|n| u8::try_from(n).ok())
        .filter(|&pt| pt <= 127)
}

/// The `addrtype` that goes with an address: `IP4` or `IP6`.
pub(crate) fn addrtype_of(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// Appends the decimal text of `n` (the SDP rewrite runs on every offer and answer).
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    out.push_str(crate::decimal::decimal(n, &mut Default::default()));
}

/// Appends the text form of `ip`: IPv4 with a plain digit loop, IPv6 through `Display`
/// (RFC 4566 §5.7 `unicast-address`).
pub(crate) fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// `<addrtype> <ip>`, the tail of a `c=` or `o=` value (RFC 4566 §5.2, §5.7).
pub(crate) fn addr_text(ip: IpAddr) -> String {
    let mut s = String::with_capacity(48);
    push_addr(&mut s, ip);
    s
}

/// Appends `<addrtype> <ip>` (RFC 4566 §5.2, §5.7).
fn push_addr(out: &mut String, ip: IpAddr) {
    out.push_str(addrtype_of(ip));
    out.push(' ');
    push_ip(out, ip);
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 4566 §5.2).
///
/// Some phones put blanks in the username; the last five fields are taken from the right
/// and everything before them is the username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// Username, `-` when the host has no notion of user IDs.
    pub username: &'a str,
    /// Session id, a numeric string.
    pub session_id: &'a str,
    /// Session version, a numeric string that increases with each change (RFC 3264 §8).
    pub session_version: &'a str,
    /// Network type, `IN`.
    pub nettype: &'a str,
    /// Address type, `IP4` or `IP6`.
    pub addrtype: &'a str,
    /// Address of the originating host, an IP literal or a domain name.
    pub address: &'a str,
}

impl<'a> Origin<'a> {
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let t = OriginTokens::parse(value)?;
        Some(Self {
            username: value.get(t.username.0..t.username.1)?,
            session_id: t.session_id.text,
            session_version: t.session_version.text,
            nettype: t.nettype.text,
            addrtype: t.addrtype.text,
            address: t.address.text,
        })
    }

    /// The session version as a number, if it fits in 64 bits.
    pub fn session_version_number(&self) -> Option<u64> {
        parse_u64(self.session_version)
    }

    /// The address as an IP address, if it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

/// Where the fields of an `o=` value lie, for rewrites that keep the rest byte-exact.
pub(crate) struct OriginTokens<'a> {
    pub(crate) username: (usize, usize),
    pub(crate) session_id: Token<'a>,
    pub(crate) session_version: Token<'a>,
    pub(crate) nettype: Token<'a>,
    pub(crate) addrtype: Token<'a>,
    pub(crate) address: Token<'a>,
}

impl<'a> OriginTokens<'a> {
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let mut t = tokens(value);
        let address = t.next_back()?;
        let addrtype = t.next_back()?;
        let nettype = t.next_back()?;
        let session_version = t.next_back()?;
        let session_id = t.next_back()?;
        let first = t.next()?;
        let last = t.next_back().unwrap_or(first);
        Some(Self {
            username: (first.start, last.end()),
            session_id,
            session_version,
            nettype,
            addrtype,
            address,
        })
    }
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 4566 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    /// Network type, `IN`.
    pub nettype: &'a str,
    /// Address type, `IP4` or `IP6`.
    pub addrtype: &'a str,
    /// The address without any `/ttl` or `/count` suffix: an IP literal or a domain name.
    pub address: &'a str,
    /// What followed the first `/` of a multicast address (`127` or `127/3`), if anything.
    pub suffix: Option<&'a str>,
    /// The address parsed as an IP address, when it is a literal and the nettype is `IN`.
    pub ip: Option<IpAddr>,
}

impl<'a> Connection<'a> {
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let mut t = tokens(value);
        let (nettype, addrtype, full) = (t.next()?.text, t.next()?.text, t.next()?.text);
        if t.next().is_some() {
            return None;
        }
        let (address, suffix) = match full.split_once('/') {
            Some((a, s)) => (a, Some(s)),
            None => (full, None),
        };
        let ip = if nettype.eq_ignore_ascii_case("IN") {
            address.parse().ok()
        } else {
            None
        };
        Some(Self {
            nettype,
            addrtype,
            address,
            suffix,
            ip,
        })
    }

    /// Whether the address is `0.0.0.0` or `::`, the RFC 2543 way of putting a stream on hold.
    pub fn is_unspecified(&self) -> bool {
        self.ip.is_some_and(|ip| ip.is_unspecified())
    }

    /// The `c=` value for a unicast address: `IN IP4 <ip>` or `IN IP6 <ip>`.
    pub(crate) fn value_for(ip: IpAddr) -> String {
        let mut s = String::with_capacity(48);
        s.push_str("IN ");
        push_addr(&mut s, ip);
        s
    }
}

/// The first `t=<start-time> <stop-time>` line (RFC 4566 §5.9); `0 0` for SIP sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timing {
    /// Start time in NTP seconds, 0 for unbounded.
    pub start: u64,
    /// Stop time in NTP seconds, 0 for unbounded.
    pub stop: u64,
}

impl Timing {
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let mut t = tokens(value);
        let start = parse_u64(t.next()?.text)?;
        let stop = parse_u64(t.next()?.text)?;
        t.next().is_none().then_some(Self { start, stop })
    }
}

/// Why an `m=` line was refused.
pub(crate) enum MediaLineError {
    Port,
    Media(&'static str),
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 4566 §5.14).
#[derive(Debug, Clone)]
pub(crate) struct MediaLine<'a> {
    pub(crate) media: &'a str,
    pub(crate) port: u16,
    pub(crate) port_token: Token<'a>,
    pub(crate) num_ports: Option<u16>,
    pub(crate) proto: Token<'a>,
    /// The format tokens, in order.
    pub(crate) formats: Tokens<'a>,
}

impl<'a> MediaLine<'a> {
    pub(crate) fn parse(value: &'a str) -> Result<Self, MediaLineError> {
        let mut t = tokens(value);
        let media = t.next().ok_or(MediaLineError::Media("empty"))?.text;
        let port_token = t.next().ok_or(MediaLineError::Media("missing port"))?;
        let (port, num_ports) = match port_token.text.split_once('/') {
            Some((p, n)) => (
                p,
                Some(
                    parse_u16(n)
                        .filter(|&n| n > 0)
                        .ok_or(MediaLineError::Port)?,
                ),
            ),
            None => (port_token.text, None),
        };
        let port = parse_u16(port).ok_or(MediaLineError::Port)?;
        let proto = t
            .next()
            .ok_or(MediaLineError::Media("missing transport protocol"))?;
        // RFC 4566 wants at least one format; a rejected stream without one is tolerated.
        if port != 0 && t.clone().next().is_none() {
            return Err(MediaLineError::Media("no formats"));
        }
        Ok(Self {
            media,
            port,
            port_token,
            num_ports,
            proto,
            formats: t,
        })
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 4566 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpMap<'a> {
    /// The payload type it binds, 0–127.
    pub payload_type: u8,
    /// Encoding name, clock rate and channels.
    pub codec: Codec<'a>,
}

impl<'a> RtpMap<'a> {
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let mut t = tokens(value);
        let payload_type = parse_payload_type(t.next()?.text)?;
        let spec = t.next()?.text;
        if t.next().is_some() {
            return None;
        }
        let mut parts = spec.split('/');
        let encoding = parts.next().filter(|e| !e.is_empty())?;
        let clock_rate = parse_u32(parts.next()?)?;
        let channels = match parts.next() {
            Some(c) => Some(parse_u16(c)?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            payload_type,
            codec: Codec {
                encoding,
                clock_rate,
                channels,
            },
        })
    }
}

/// `a=fmtp:<format> <format specific parameters>` (RFC 4566 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fmtp<'a> {
    /// The format it applies to, as in the `m=` line.
    pub format: &'a str,
    /// The parameters, kept as one string (e.g. `0-16` or `mode=20`).
    pub params: &'a str,
}

impl<'a> Fmtp<'a> {
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let mut t = tokens(value);
        let format = t.next()?.text;
        Some(Self {
            format,
            params: t.rest(),
        })
    }

    /// The format as a payload type, when it is one.
    pub fn payload_type(&self) -> Option<u8> {
        parse_payload_type(self.format)
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605): where RTCP goes
/// when it is not the RTP port plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp<'a> {
    /// RTCP port.
    pub port: u16,
    /// The address part, when given.
    pub connection: Option<Connection<'a>>,
}

impl<'a> Rtcp<'a> {
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let mut t = tokens(value);
        let port = parse_u16(t.next()?.text)?;
        let rest = t.rest();
        let connection = if rest.is_empty() {
            None
        } else {
            Some(Connection::parse(rest)?)
        };
        Some(Self { port, connection })
    }

    /// The RTCP address, when given as an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.connection.and_then(|c| c.ip)
    }
}

/// Stream direction attributes (RFC 3264 §5.1, §6.1; RFC 4566 §6).
///
/// Read from the point of view of the side that wrote the SDP: `SendOnly` means "I will
/// send and not receive".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`, the default when no direction attribute is present.
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an attribute name stands for (ASCII case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        [
            Self::SendRecv,
            Self::SendOnly,
            Self::RecvOnly,
            Self::Inactive,
        ]
        .into_iter()
        .find(|d| name.eq_ignore_ascii_case(d.as_str().as_bytes()))
    }

    /// Whether the writer of the SDP sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the writer of the SDP receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The same flow seen from the other end: `sendonly` and `recvonly` swap. This is the
    /// direction an answer takes when it accepts everything offered (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `a=` line: `a=<name>` (a property) or `a=<name>:<value>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute name (compare with [`Attribute::is`]).
    pub name: &'a str,
    /// The text after the first `:`; `None` for a property attribute such as `a=rtcp-mux`.
    pub value: Option<&'a str>,
}

impl<'a> Attribute<'a> {
    /// The attribute on an `a=` line; `None` for other lines and for a line that is not UTF-8
    /// (such a line stays in the body and is written back, but is not offered as text).
    pub(crate) fn from_line(line: &'a Line) -> Option<Self> {
        let (name, value) = line.attribute_parts()?;
        let name = std::str::from_utf8(name).ok()?;
        let value = match value {
            Some(v) => Some(std::str::from_utf8(v).ok()?),
            None => None,
        };
        Some(Self { name, value })
    }

    /// Whether the name is `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_digits_only() {
        assert_eq!(parse_u16("65535"), Some(65535));
        assert_eq!(parse_u16("65536"), None);
        assert_eq!(parse_u16("+5"), None);
        assert_eq!(parse_u16(""), None);
        assert_eq!(parse_u16("0x10"), None);
        assert_eq!(parse_u64("99999999999999999999999"), None);
        assert_eq!(parse_payload_type("127"), Some(127));
        assert_eq!(parse_payload_type("128"), None);
    }

    #[test]
    fn origin_with_blank_in_username() {
        let o = Origin::parse("Some User  123 456 IN IP4 10.0.0.1 ").unwrap();
        assert_eq!(o.username, "Some User");
        assert_eq!(o.session_id, "123");
        assert_eq!(o.session_version_number(), Some(456));
        assert_eq!(o.ip(), Some("10.0.0.1".parse().unwrap()));
        assert!(Origin::parse("a 1 2 IN IP4").is_none());
    }

    #[test]
    fn connection_forms() {
        let c = Connection::parse("IN IP4 224.2.1.1/127/3").unwrap();
        assert_eq!((c.address, c.suffix), ("224.2.1.1", Some("127/3")));
        assert_eq!(c.ip, Some("224.2.1.1".parse().unwrap()));
        let c = Connection::parse("IN IP4 host.example.com").unwrap();
        assert_eq!(c.ip, None);
        assert_eq!(c.address, "host.example.com");
        let c = Connection::parse("IN IP6 ::").unwrap();
        assert!(c.is_unspecified());
        assert!(Connection::parse("IN IP4").is_none());
        assert!(Connection::parse("IN IP4 1.2.3.4 extra").is_none());
        let c = Connection::parse("TN RFC2543 1.2.3.4").unwrap();
        assert_eq!(c.ip, None, "not an IN address");
    }

    #[test]
    fn rtpmap_forms() {
        let r = RtpMap::parse("97 iLBC/8000").unwrap();
        assert_eq!(
            (r.payload_type, r.codec.encoding, r.codec.clock_rate),
            (97, "iLBC", 8000)
        );
        assert_eq!(r.codec.channels, None);
        let r = RtpMap::parse("111 opus/48000/2 ").unwrap();
        assert_eq!(r.codec.channels, Some(2));
        for bad in [
            "",
            "97",
            "97 iLBC",
            "x iLBC/8000",
            "200 a/8000",
            "97 /8000",
            "97 a/8000/2/1",
            "97 a/b",
        ] {
            assert!(RtpMap::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn fmtp_and_rtcp() {
        let f = Fmtp::parse("101 0-15").unwrap();
        assert_eq!(
            (f.format, f.params, f.payload_type()),
            ("101", "0-15", Some(101))
        );
        let f = Fmtp::parse("t38 T38FaxVersion=0; x=1 ").unwrap();
        assert_eq!((f.params, f.payload_type()), ("T38FaxVersion=0; x=1", None));
        let r = Rtcp::parse("53020").unwrap();
        assert_eq!((r.port, r.connection), (53020, None));
        let r = Rtcp::parse("53020 IN IP6 2001:db8::1").unwrap();
        assert_eq!(r.ip(), Some("2001:db8::1".parse().unwrap()));
        assert!(Rtcp::parse("x").is_none());
        assert!(Rtcp::parse("5 IN IP4").is_none());
    }

    #[test]
    fn direction_names() {
        assert_eq!(Direction::from_name(b"SendOnly"), Some(Direction::SendOnly));
        assert_eq!(Direction::from_name(b"sendonlyx"), None);
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert!(Direction::SendRecv.sends() && Direction::SendRecv.receives());
        assert!(!Direction::Inactive.sends() && !Direction::Inactive.receives());
        assert_eq!(Direction::default().to_string(), "sendrecv");
        for ip in [
            "0.0.0.0",
            "10.0.0.1",
            "192.168.100.255",
            "255.255.255.255",
            "2001:db8::1",
            "::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
        for n in [0, 7, 10, 65535, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn timing() {
        assert_eq!(Timing::parse("0 0"), Some(Timing { start: 0, stop: 0 }));
        assert_eq!(Timing::parse("0"), None);
        assert_eq!(Timing::parse("0 0 0"), None);
    }
}
