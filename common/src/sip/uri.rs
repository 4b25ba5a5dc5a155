//! SIP, SIPS and tel URIs: a borrowed zero-copy view, an owned builder, escaping and
//! comparison (RFC 3261 §19.1, §25.1; RFC 3966; RFC 5118).
//!
//! [`Uri::parse`] validates the whole URI once against the RFC 3261 §25.1 character classes
//! and then hands out slices of the input; accessors never allocate except where a value has
//! to be unescaped, and never panic. Parameters and headers are walked lazily by
//! [`Params`] and [`Headers`]. [`UriBuf`] builds new `sip:`/`sips:` URIs (Contact,
//! Request-URI) and [`Uri::equivalent`] implements the comparison rules of RFC 3261 §19.1.4.
//!
//! Decisions where the RFCs leave room:
//! - `sip:@host` (an `@` with an empty user) is rejected: `user = 1*(...)` (RFC 3261 §25.1).
//!   An empty password (`sip:user:@host`) is accepted: `password = *(...)`.
//! - A parameter written `;name=` (empty value) and an empty parameter (`;;`, trailing `;`)
//!   are rejected (`pvalue = 1*paramchar`); `;name` without `=` is a valueless parameter.
//! - A header without `=` (`?subject`) is rejected; an empty header value (`?subject=`) is not.
//! - IPv4 hosts must be four dotted decimals of at most 255; all-numeric dotted names that
//!   are not are rejected. Host names follow `hostname` strictly (no `_`).
//! - At most [`MAX_PARAMS`] parameters and [`MAX_PARAMS`] headers are accepted so that
//!   comparison (quadratic in the parameter count) stays cheap on hostile input.
//! - Duplicate parameter names are accepted; lookups and comparison use the first one.

use super::params::split_once_byte;
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most parameters (and, separately, the most headers) one URI may carry.
pub const MAX_PARAMS: usize = 64;

/// Why a URI was rejected (RFC 3261 §25.1, RFC 3966 §3, RFC 5118).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The input is empty.
    #[error("empty URI")]
    Empty,
    /// No `:` ends a scheme name.
    #[error("missing scheme")]
    MissingScheme,
    /// The scheme is not `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
    #[error("invalid scheme name")]
    InvalidScheme,
    /// A character outside the component's RFC 3261 §25.1 character class.
    #[error("invalid character {ch:?} in {component}")]
    InvalidChar {
        /// Where the character was found.
        component: Component,
        /// The offending character.
        ch: char,
    },
    /// A `%` not followed by two hexadecimal digits.
    #[error("malformed %-escape in {component}")]
    BadEscape {
        /// Where the escape was found.
        component: Component,
    },
    /// `@` with nothing before it (`sip:@host`).
    #[error("empty user part before '@'")]
    EmptyUser,
    /// Nothing after the scheme of a URI with an opaque part (`urn:`).
    #[error("empty opaque part")]
    EmptyOpaque,
    /// No host (`sip:`, `sip:user@`, `sip:;lr`).
    #[error("empty host")]
    EmptyHost,
    /// The host is neither a valid host name nor an IP address.
    #[error("invalid host name: {0}")]
    BadHostname(&'static str),
    /// The host looks like an IPv4 address but is not one.
    #[error("invalid IPv4 address")]
    BadIpv4,
    /// The host is a malformed IPv6 reference (RFC 5118 §4.2, §4.10).
    #[error("invalid IPv6 reference: {0}")]
    BadIpv6(&'static str),
    /// The port is empty, not decimal or above 65535.
    #[error("invalid port: {0}")]
    BadPort(&'static str),
    /// A parameter with an empty name (`;;`, `;=x`, trailing `;`).
    #[error("empty parameter name")]
    EmptyParamName,
    /// A parameter written `name=` with no value.
    #[error("empty parameter value")]
    EmptyParamValue,
    /// A header with an empty name (`?=x`, `&&`).
    #[error("empty header name")]
    EmptyHeaderName,
    /// A header without `=` (`?subject`).
    #[error("header without '='")]
    MissingHeaderValue,
    /// More than [`MAX_PARAMS`] parameters or headers.
    #[error("too many parameters or headers")]
    TooMany,
    /// A malformed telephone number in a tel URI (RFC 3966 §3).
    #[error("invalid telephone number: {0}")]
    BadTelNumber(&'static str),
    /// The URI is not a `sip:` or `sips:` URI where one is required.
    #[error("not a sip or sips URI")]
    NotSip,
    /// Escaped octets do not decode to UTF-8.
    #[error("escaped octets are not valid UTF-8")]
    NotUtf8,
}

/// The part of a URI an error refers to (RFC 3261 §25.1 rule names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// The scheme name.
    Scheme,
    /// The `user` (or `telephone-subscriber`) part of `userinfo`.
    User,
    /// The `password` part of `userinfo`.
    Password,
    /// The `host`.
    Host,
    /// The `port`.
    Port,
    /// A `uri-parameter`.
    Param,
    /// A `header` after `?`.
    Header,
    /// The number of a tel URI.
    TelNumber,
    /// The opaque part of another scheme, or free-standing escaped text.
    Opaque,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scheme => "scheme",
            Self::User => "user",
            Self::Password => "password",
            Self::Host => "host",
            Self::Port => "port",
            Self::Param => "parameter",
            Self::Header => "header",
            Self::TelNumber => "telephone number",
            Self::Opaque => "opaque part",
        })
    }
}

// ---------------------------------------------------------------------------------------
// Character classes (RFC 3261 §25.1).

fn is_mark(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
    )
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || is_mark(b)
}

fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
    )
}

fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

fn is_opaque_char(b: u8) -> bool {
    is_unreserved(b) || is_reserved(b) || matches!(b, b'#' | b'[' | b']')
}

fn is_visual_separator(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b'(' | b')')
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Checks that `s` holds only characters of `allowed` and well-formed `%HH` escapes.
fn check_chars(s: &str, component: Component, allowed: fn(u8) -> bool) -> Result<(), UriError> {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let ok = matches!((chars.next(), chars.next()),
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit());
            if !ok {
                return Err(UriError::BadEscape { component });
            }
        } else if !u8::try_from(c).is_ok_and(allowed) {
            return Err(UriError::InvalidChar { component, ch: c });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Escaping.

/// Decodes `%HH` escapes into octets, borrowing when `s` holds no `%` (RFC 3261 §19.1.2).
pub fn percent_decode_bytes(s: &str) -> Result<Cow<'_, [u8]>, UriError> {
    if !s.contains('%') {
        return Ok(Cow::Borrowed(s.as_bytes()));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let h = bytes.next().and_then(hex_val);
            let l = bytes.next().and_then(hex_val);
            match (h, l) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => {
                    return Err(UriError::BadEscape {
                        component: Component::Opaque,
                    })
                }
            }
        } else {
            out.push(b);
        }
    }
    Ok(Cow::Owned(out))
}

/// Decodes `%HH` escapes into text, allocating only when an escape is present (RFC 3261 §19.1.2).
pub fn percent_decode(s: &str) -> Result<Cow<'_, str>, UriError> {
    match percent_decode_bytes(s)? {
        Cow::Borrowed(_) => Ok(Cow::Borrowed(s)),
        Cow::Owned(v) => String::from_utf8(v)
            .map(Cow::Owned)
            .map_err(|_| UriError::NotUtf8),
    }
}

/// Unescapes a component already validated by the parser; bad UTF-8 becomes U+FFFD.
fn unescape_lossy(s: &str) -> Cow<'_, str> {
    match percent_decode_bytes(s) {
        Ok(Cow::Owned(v)) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
        Ok(Cow::Borrowed(_)) | Err(_) => Cow::Borrowed(s),
    }
}

fn escape_with(s: &str, allowed: fn(u8) -> bool) -> Cow<'_, str> {
    if s.bytes().all(allowed) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if allowed(b) {
            out.push(char::from(b));
        } else {
            use fmt::Write as _;
            // Writing into a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    Cow::Owned(out)
}

/// Escapes text for the user part of a SIP URI (RFC 3261 §19.1.2, `user`).
pub fn escape_user(s: &str) -> Cow<'_, str> {
    escape_with(s, is_user_char)
}

/// Escapes text for the password part of a SIP URI (RFC 3261 §25.1, `password`).
pub fn escape_password(s: &str) -> Cow<'_, str> {
    escape_with(s, is_password_char)
}

/// Escapes text for a URI parameter name or value (RFC 3261 §25.1, `paramchar`).
pub fn escape_param(s: &str) -> Cow<'_, str> {
    escape_with(s, is_param_char)
}

/// Escapes text for a URI header name or value (RFC 3261 §25.1, `hname`/`hvalue`).
pub fn escape_header(s: &str) -> Cow<'_, str> {
    escape_with(s, is_header_char)
}

/// Octets of an escaped string for comparison: `(octet, escaped_reserved)`.
///
/// RFC 3261 §19.1.4: characters outside the reserved set equal their `%HH` form; an escaped
/// reserved character is not the same as the literal one.
#[derive(Clone)]
struct Octets<'a> {
    bytes: std::str::Bytes<'a>,
}

impl Iterator for Octets<'_> {
    type Item = (u8, bool);

    fn next(&mut self) -> Option<(u8, bool)> {
        let b = self.bytes.next()?;
        if b == b'%' {
            let mut look = self.bytes.clone();
            if let (Some(h), Some(l)) =
                (look.next().and_then(hex_val), look.next().and_then(hex_val))
            {
                self.bytes = look;
                let v = h << 4 | l;
                return Some((v, is_reserved(v)));
            }
        }
        Some((b, false))
    }
}

fn octets(s: &str) -> Octets<'_> {
    Octets { bytes: s.bytes() }
}

/// Compares two escaped strings octet by octet, without allocating.
fn esc_eq(a: &str, b: &str) -> bool {
    octets(a).eq(octets(b))
}

/// Compares two escaped strings octet by octet, ASCII case-insensitively.
fn esc_eq_ci(a: &str, b: &str) -> bool {
    let fold = |(o, e): (u8, bool)| (o.to_ascii_lowercase(), e);
    octets(a).map(fold).eq(octets(b).map(fold))
}

// ---------------------------------------------------------------------------------------
// Scheme.

/// A URI scheme: `sip`, `sips`, `tel` or any other kept as written (RFC 3261 §19.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme<'a> {
    /// `sip:` (RFC 3261 §19.1).
    Sip,
    /// `sips:` (RFC 3261 §19.1).
    Sips,
    /// `tel:` (RFC 3966).
    Tel,
    /// Any other scheme; its name as written, the rest of the URI kept opaque.
    Other(&'a str),
}

impl<'a> Scheme<'a> {
    fn from_name(name: &'a str) -> Self {
        if name.eq_ignore_ascii_case("sip") {
            Self::Sip
        } else if name.eq_ignore_ascii_case("sips") {
            Self::Sips
        } else if name.eq_ignore_ascii_case("tel") {
            Self::Tel
        } else {
            Self::Other(name)
        }
    }

    /// The scheme name, lower case for the known schemes.
    pub fn as_str(&self) -> &'a str {
        match self {
            Self::Sip => "sip",
            Self::Sips => "sips",
            Self::Tel => "tel",
            Self::Other(s) => s,
        }
    }

    /// The port used when a SIP URI has none: 5060 or 5061 (RFC 3261 §19.1.2).
    pub fn default_port(&self) -> Option<u16> {
        match self {
            Self::Sip => Some(5060),
            Self::Sips => Some(5061),
            Self::Tel | Self::Other(_) => None,
        }
    }

    fn same(&self, other: &Scheme<'_>) -> bool {
        match (self, other) {
            (Self::Sip, Scheme::Sip) | (Self::Sips, Scheme::Sips) | (Self::Tel, Scheme::Tel) => {
                true
            }
            (Self::Other(a), Scheme::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

impl fmt::Display for Scheme<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn check_scheme(s: &str) -> Result<(), UriError> {
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        Ok(())
    } else {
        Err(UriError::InvalidScheme)
    }
}

// ---------------------------------------------------------------------------------------
// Host.

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
    raw: &'a str,
    kind: HostKind,
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
fn parse_ipv4(s: &str) -> Result<Ipv4Addr, UriError> {
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
fn parse_dec_u8(s: &str) -> Option<u8> {
    if (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// `hostname = *( domainlabel "." ) toplabel [ "." ]`.
fn check_hostname(s: &str) -> Result<(), UriError> {
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
fn parse_port(s: &str) -> Result<u16, UriError> {
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
fn split_hostport(s: &str) -> Result<(&str, Option<&str>), UriError> {
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

// ---------------------------------------------------------------------------------------
// Parameters and headers.

/// One `;name[=value]` parameter, borrowed and still escaped (RFC 3261 §19.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param<'a> {
    name: &'a str,
    value: Option<&'a str>,
}

impl<'a> Param<'a> {
    /// The parameter name as written (compare it case-insensitively).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value as written, `None` for a valueless parameter such as `lr`.
    pub fn value(&self) -> Option<&'a str> {
        self.value
    }

    /// The value with `%HH` escapes decoded; non-UTF-8 octets become U+FFFD.
    pub fn value_unescaped(&self) -> Option<Cow<'a, str>> {
        self.value.map(unescape_lossy)
    }
}

/// Iterator over `;`-separated parameters without allocating (RFC 3261 §19.1.1).
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a str,
}

impl<'a> Params<'a> {
    /// Walks `name[=value]` items separated by `;`, given the text after the first `;`.
    pub fn new(raw: &'a str) -> Self {
        Self { rest: raw }
    }

    /// The first parameter named `name`, compared case-insensitively after unescaping.
    pub fn named(self, name: &str) -> Option<Param<'a>> {
        let mut it = self;
        it.find(|p| esc_eq_ci(p.name, name))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (item, tail) = self.rest.split_once(';').unwrap_or((self.rest, ""));
        self.rest = tail;
        Some(match item.split_once('=') {
            Some((name, value)) => Param {
                name,
                value: Some(value),
            },
            None => Param {
                name: item,
                value: None,
            },
        })
    }
}

/// One `name=value` header of a SIP URI, borrowed and still escaped (RFC 3261 §19.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    name: &'a str,
    value: &'a str,
}

impl<'a> Header<'a> {
    /// The header name as written (compare it case-insensitively).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value as written, possibly empty.
    pub fn value(&self) -> &'a str {
        self.value
    }

    /// The name with `%HH` escapes decoded; non-UTF-8 octets become U+FFFD.
    pub fn name_unescaped(&self) -> Cow<'a, str> {
        unescape_lossy(self.name)
    }

    /// The value with `%HH` escapes decoded; non-UTF-8 octets become U+FFFD.
    pub fn value_unescaped(&self) -> Cow<'a, str> {
        unescape_lossy(self.value)
    }

    fn equivalent(&self, other: &Header<'_>) -> bool {
        esc_eq_ci(self.name, other.name) && esc_eq(self.value, other.value)
    }
}

/// Iterator over `&`-separated URI headers without allocating (RFC 3261 §19.1.1).
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    rest: &'a str,
}

impl<'a> Headers<'a> {
    /// Walks `name=value` items separated by `&`, given the text after `?`.
    pub fn new(raw: &'a str) -> Self {
        Self { rest: raw }
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (item, tail) = self.rest.split_once('&').unwrap_or((self.rest, ""));
        self.rest = tail;
        let (name, value) = item.split_once('=').unwrap_or((item, ""));
        Some(Header { name, value })
    }
}

fn check_sip_params(s: &str) -> Result<(), UriError> {
    let mut count = 0usize;
    for item in s.split(';') {
        count += 1;
        if count > MAX_PARAMS {
            return Err(UriError::TooMany);
        }
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if name.is_empty() {
            return Err(UriError::EmptyParamName);
        }
        check_chars(name, Component::Param, is_param_char)?;
        if let Some(v) = value {
            if v.is_empty() {
                return Err(UriError::EmptyParamValue);
            }
            check_chars(v, Component::Param, is_param_char)?;
        }
    }
    Ok(())
}

fn check_headers(s: &str) -> Result<(), UriError> {
    let mut count = 0usize;
    for item in s.split('&') {
        count += 1;
        if count > MAX_PARAMS {
            return Err(UriError::TooMany);
        }
        let (name, value) = item.split_once('=').ok_or(UriError::MissingHeaderValue)?;
        if name.is_empty() {
            return Err(UriError::EmptyHeaderName);
        }
        check_chars(name, Component::Header, is_header_char)?;
        check_chars(value, Component::Header, is_header_char)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// tel URIs (RFC 3966 §3).

fn check_global_digits(digits: &str) -> Result<(), UriError> {
    if let Some(c) = digits
        .chars()
        .find(|c| !u8::try_from(*c).is_ok_and(|b| b.is_ascii_digit() || is_visual_separator(b)))
    {
        return Err(UriError::InvalidChar {
            component: Component::TelNumber,
            ch: c,
        });
    }
    if digits.bytes().any(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(UriError::BadTelNumber("global number without digits"))
    }
}

fn check_tel(number: &str, params: &str) -> Result<(), UriError> {
    let global = if let Some(digits) = number.strip_prefix('+') {
        check_global_digits(digits)?;
        true
    } else {
        let ok =
            |b: u8| b.is_ascii_hexdigit() || matches!(b, b'*' | b'#') || is_visual_separator(b);
        if let Some(c) = number.chars().find(|c| !u8::try_from(*c).is_ok_and(ok)) {
            return Err(UriError::InvalidChar {
                component: Component::TelNumber,
                ch: c,
            });
        }
        if number.bytes().all(is_visual_separator) {
            return Err(UriError::BadTelNumber("empty number"));
        }
        false
    };
    let mut context = false;
    let mut count = 0usize;
    for item in params.split(';').filter(|_| !params.is_empty()) {
        count += 1;
        if count > MAX_PARAMS {
            return Err(UriError::TooMany);
        }
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if name.is_empty() {
            return Err(UriError::EmptyParamName);
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(UriError::InvalidChar {
                component: Component::Param,
                ch: c,
            });
        }
        if let Some(v) = value {
            if v.is_empty() {
                return Err(UriError::EmptyParamValue);
            }
            check_chars(v, Component::Param, is_param_char)?;
        }
        if name.eq_ignore_ascii_case("phone-context") {
            context = true;
            match value {
                Some(v) => match v.strip_prefix('+') {
                    Some(digits) => check_global_digits(digits)?,
                    None => check_hostname(v)?,
                },
                None => return Err(UriError::EmptyParamValue),
            }
        }
    }
    if !global && !context {
        return Err(UriError::BadTelNumber("local number without phone-context"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Uri.

/// A parsed URI borrowing its input: `sip:`, `sips:`, `tel:` or another scheme kept opaque
/// (RFC 3261 §19.1, RFC 3966).
///
/// `Uri` does not implement `PartialEq` on purpose: use [`Uri::equivalent`] for the RFC 3261
/// §19.1.4 rules or compare [`Uri::as_str`] for textual identity.
#[derive(Debug, Clone, Copy)]
pub struct Uri<'a> {
    raw: &'a str,
    scheme: Scheme<'a>,
    scheme_text: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: Option<Host<'a>>,
    port: Option<u16>,
    /// The port as written (leading zeros kept), empty when there is none.
    port_text: &'a str,
    /// The text after the first `;` (sip, sips, tel), empty when there are no parameters.
    params: &'a str,
    /// The text after `?` (sip, sips), empty when there are no headers.
    headers: &'a str,
    /// The number of a tel URI, or everything after `scheme:` for other schemes.
    body: &'a str,
}

impl<'a> Uri<'a> {
    /// Parses and validates a URI (RFC 3261 §25.1 `SIP-URI`/`SIPS-URI`, RFC 3966 `telephone-uri`).
    pub fn parse(s: &'a str) -> Result<Self, UriError> {
        if s.is_empty() {
            return Err(UriError::Empty);
        }
        let (scheme_text, rest) = split_once_byte(s, b':').ok_or(UriError::MissingScheme)?;
        check_scheme(scheme_text)?;
        let scheme = Scheme::from_name(scheme_text);
        let mut uri = Self {
            raw: s,
            scheme,
            scheme_text,
            user: None,
            password: None,
            host: None,
            port: None,
            port_text: "",
            params: "",
            headers: "",
            body: "",
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(rest)?,
            Scheme::Tel => {
                let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
                check_tel(number, params)?;
                if rest.contains(';') && params.is_empty() {
                    return Err(UriError::EmptyParamName);
                }
                uri.body = number;
                uri.params = params;
            }
            Scheme::Other(_) => {
                if rest.is_empty() {
                    return Err(UriError::EmptyOpaque);
                }
                check_chars(rest, Component::Opaque, is_opaque_char)?;
                uri.body = rest;
            }
        }
        Ok(uri)
    }

    /// Parses a URI from octets, which must be UTF-8 (they are ASCII in any valid URI).
    pub fn parse_bytes(b: &'a [u8]) -> Result<Self, UriError> {
        let s = std::str::from_utf8(b).map_err(|_| UriError::NotUtf8)?;
        Self::parse(s)
    }

    fn parse_sip(&mut self, rest: &'a str) -> Result<(), UriError> {
        let after = match split_once_byte(rest, b'@') {
            Some((userinfo, after)) => {
                let (user, password) = match split_once_byte(userinfo, b':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(UriError::EmptyUser);
                }
                check_chars(user, Component::User, is_user_char)?;
                if let Some(p) = password {
                    check_chars(p, Component::Password, is_password_char)?;
                }
                self.user = Some(user);
                self.password = password;
                after
            }
            None => rest,
        };
        let (before_headers, headers) = match split_once_byte(after, b'?') {
            Some((b, h)) => {
                check_headers(h)?;
                (b, h)
            }
            None => (after, ""),
        };
        let (hostport, params) = match split_once_byte(before_headers, b';') {
            Some((hp, p)) => {
                check_sip_params(p)?;
                (hp, p)
            }
            None => (before_headers, ""),
        };
        let (host, port) = split_hostport(hostport)?;
        self.host = Some(Host::parse(host)?);
        self.port = port.map(parse_port).transpose()?;
        self.port_text = port.unwrap_or("");
        self.params = params;
        self.headers = headers;
        Ok(())
    }

    /// The URI exactly as it was parsed.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The scheme (RFC 3261 §19.1.1).
    pub fn scheme(&self) -> Scheme<'a> {
        self.scheme
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// Whether this is a `sips:` URI (RFC 3261 §19.1).
    pub fn is_secure(&self) -> bool {
        self.scheme == Scheme::Sips
    }

    /// The user part as written, still escaped; `None` without `@` (RFC 3261 §19.1.1).
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }

    /// The user part with `%HH` escapes decoded; non-UTF-8 octets become U+FFFD.
    pub fn user_unescaped(&self) -> Option<Cow<'a, str>> {
        self.user.map(unescape_lossy)
    }

    /// The password as written, still escaped (RFC 3261 §19.1.1, not recommended).
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }

    /// The host of a SIP URI; `None` for tel and other schemes (RFC 3261 §19.1.1).
    pub fn host(&self) -> Option<Host<'a>> {
        self.host
    }

    /// The host's IP address when the host is one (RFC 5118 for IPv6).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.and_then(|h| h.ip())
    }

    /// The explicit port, if any (RFC 3261 §19.1.1).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The explicit port, else the scheme's default 5060/5061 (RFC 3261 §19.1.2).
    pub fn port_or_default(&self) -> Option<u16> {
        self.port.or_else(|| self.scheme.default_port())
    }

    /// The raw parameter text after the first `;`, empty when there is none.
    pub fn params_str(&self) -> &'a str {
        self.params
    }

    /// The parameters in order, without allocating (RFC 3261 §19.1.1, RFC 3966 §3).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first parameter called `name`, compared case-insensitively after unescaping.
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().named(name)
    }

    /// The value of parameter `name` (still escaped); `None` if absent or valueless.
    pub fn param_value(&self, name: &str) -> Option<&'a str> {
        self.param(name).and_then(|p| p.value)
    }

    /// Whether parameter `name` is present, with or without a value.
    pub fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// The `transport` parameter (RFC 3261 §19.1.1); compare it case-insensitively.
    pub fn transport(&self) -> Option<&'a str> {
        self.param_value("transport")
    }

    /// The `user` parameter, e.g. `phone` or `ip` (RFC 3261 §19.1.1).
    pub fn user_param(&self) -> Option<&'a str> {
        self.param_value("user")
    }

    /// Whether the loose-routing `lr` parameter is present (RFC 3261 §19.1.1).
    pub fn lr(&self) -> bool {
        self.has_param("lr")
    }

    /// The `maddr` parameter as written; [`Host::parse`] validates it (RFC 3261 §19.1.1).
    pub fn maddr(&self) -> Option<&'a str> {
        self.param_value("maddr")
    }

    /// The `ttl` parameter, `None` if absent or not a number up to 255 (RFC 3261 §19.1.1).
    pub fn ttl(&self) -> Option<u8> {
        self.param_value("ttl").and_then(parse_dec_u8)
    }

    /// The `method` parameter (RFC 3261 §19.1.1); methods are case-sensitive.
    pub fn method(&self) -> Option<&'a str> {
        self.param_value("method")
    }

    /// The raw header text after `?`, empty when there is none.
    pub fn headers_str(&self) -> &'a str {
        self.headers
    }

    /// The headers after `?` in order, without allocating (RFC 3261 §19.1.1).
    pub fn headers(&self) -> Headers<'a> {
        Headers::new(self.headers)
    }

    /// The (escaped) value of the first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers()
            .find(|h| esc_eq_ci(h.name, name))
            .map(|h| h.value)
    }

    /// The number of a tel URI as written, with its `+` and separators (RFC 3966 §3).
    pub fn number(&self) -> Option<&'a str> {
        (self.scheme == Scheme::Tel).then_some(self.body)
    }

    /// The number of a tel URI without visual separators `-.()` (RFC 3966 §5.1.1).
    pub fn number_digits(&self) -> Option<Cow<'a, str>> {
        self.number().map(strip_separators)
    }

    /// Whether this is a tel URI with a global (`+`) number (RFC 3966 §5.1.4).
    pub fn is_global_number(&self) -> bool {
        self.number().is_some_and(|n| n.starts_with('+'))
    }

    /// The `phone-context` of a local tel number (RFC 3966 §5.1.5).
    pub fn phone_context(&self) -> Option<&'a str> {
        self.param_value("phone-context")
    }

    /// Everything after `scheme:`, e.g. the opaque part of `urn:` or `mailto:` URIs.
    pub fn opaque(&self) -> &'a str {
        self.raw.split_once(':').map_or("", |(_, rest)| rest)
    }

    /// Copies a `sip:`/`sips:` URI into an owned [`UriBuf`] ([`UriError::NotSip`] otherwise).
    pub fn to_buf(&self) -> Result<UriBuf, UriError> {
        UriBuf::try_from(self)
    }

    /// Compares two URIs by the rules of RFC 3261 §19.1.4 (sip/sips) or RFC 3966 §4 (tel).
    ///
    /// Scheme must match; userinfo is compared case-sensitively after unescaping; the host
    /// case-insensitively (addresses by value); a present and an absent port differ;
    /// `user`, `ttl`, `method`, `maddr` and `transport` must match when in either URI, other
    /// parameters only when in both; headers must all match. `transport`, `user` and `maddr`
    /// values compare case-insensitively, other parameter values and `method` case-sensitively.
    /// Other schemes compare the scheme case-insensitively and the rest octet by octet.
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        if !self.scheme.same(&other.scheme) {
            return false;
        }
        match self.scheme {
            Scheme::Sip | Scheme::Sips => sip_equivalent(self, other),
            Scheme::Tel => tel_equivalent(self, other),
            Scheme::Other(_) => esc_eq(self.body, other.body),
        }
    }
}

impl<'a> TryFrom<&'a str> for Uri<'a> {
    type Error = UriError;

    fn try_from(s: &'a str) -> Result<Self, UriError> {
        Self::parse(s)
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme_text)?;
        f.write_str(":")?;
        match self.scheme {
            Scheme::Sip | Scheme::Sips => {
                if let Some(user) = self.user {
                    f.write_str(user)?;
                    if let Some(p) = self.password {
                        write!(f, ":{p}")?;
                    }
                    f.write_str("@")?;
                }
                if let Some(h) = self.host {
                    f.write_str(h.raw)?;
                }
                if self.port.is_some() {
                    write!(f, ":{}", self.port_text)?;
                }
                if !self.params.is_empty() {
                    write!(f, ";{}", self.params)?;
                }
                if !self.headers.is_empty() {
                    write!(f, "?{}", self.headers)?;
                }
                Ok(())
            }
            Scheme::Tel => {
                f.write_str(self.body)?;
                if !self.params.is_empty() {
                    write!(f, ";{}", self.params)?;
                }
                Ok(())
            }
            Scheme::Other(_) => f.write_str(self.body),
        }
    }
}

/// Compares two URIs by RFC 3261 §19.1.4 (see [`Uri::equivalent`]).
pub fn uri_eq(a: &Uri<'_>, b: &Uri<'_>) -> bool {
    a.equivalent(b)
}

fn strip_separators(n: &str) -> Cow<'_, str> {
    if n.bytes().any(is_visual_separator) {
        Cow::Owned(n.chars().filter(|c| !"-.()".contains(*c)).collect())
    } else {
        Cow::Borrowed(n)
    }
}

fn opt_eq(a: Option<&str>, b: Option<&str>, eq: fn(&str, &str) -> bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => eq(x, y),
        _ => false,
    }
}

/// Compares two values of the same URI parameter (RFC 3261 §19.1.4).
fn param_value_eq(name: &str, a: Option<&str>, b: Option<&str>) -> bool {
    if esc_eq_ci(name, "ttl") {
        if let (Some(x), Some(y)) = (a, b) {
            if let (Some(x), Some(y)) = (parse_dec_u8(x), parse_dec_u8(y)) {
                return x == y;
            }
        }
    }
    let ci = ["transport", "user", "maddr"]
        .iter()
        .any(|n| esc_eq_ci(name, n));
    opt_eq(a, b, if ci { esc_eq_ci } else { esc_eq })
}

const SPECIAL_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

fn sip_equivalent(a: &Uri<'_>, b: &Uri<'_>) -> bool {
    if !opt_eq(a.user, b.user, esc_eq) || !opt_eq(a.password, b.password, esc_eq) {
        return false;
    }
    let hosts = match (a.host, b.host) {
        (Some(x), Some(y)) => x.equivalent(&y),
        _ => false,
    };
    if !hosts || a.port != b.port {
        return false;
    }
    for name in SPECIAL_PARAMS {
        let ok = match (a.param(name), b.param(name)) {
            (None, None) => true,
            (Some(x), Some(y)) => param_value_eq(name, x.value, y.value),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    for p in a.params() {
        if SPECIAL_PARAMS.iter().any(|n| esc_eq_ci(p.name, n)) {
            continue;
        }
        // A duplicated name compares by its first occurrence, as lookups do.
        let p = a.param(p.name).unwrap_or(p);
        if let Some(q) = b.param(p.name) {
            if !param_value_eq(p.name, p.value, q.value) {
                return false;
            }
        }
    }
    headers_equivalent(a.headers(), b.headers())
}

/// Headers match as multisets: same count, and each header occurs equally often in both.
fn headers_equivalent(a: Headers<'_>, b: Headers<'_>) -> bool {
    if a.clone().count() != b.clone().count() {
        return false;
    }
    a.clone().all(|h| {
        let in_a = a.clone().filter(|x| x.equivalent(&h)).count();
        let in_b = b.clone().filter(|x| x.equivalent(&h)).count();
        in_a == in_b
    })
}

/// Octets of a tel number or context without visual separators, lower-cased.
fn tel_fold(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes()
        .filter(|c| !is_visual_separator(*c))
        .map(|c| c.to_ascii_lowercase())
}

/// RFC 3966 §4: same number ignoring visual separators, same parameter set, all case-insensitive.
fn tel_equivalent(a: &Uri<'_>, b: &Uri<'_>) -> bool {
    if !tel_fold(a.body).eq(tel_fold(b.body)) {
        return false;
    }
    if a.params().count() != b.params().count() {
        return false;
    }
    a.params().all(|p| {
        // A duplicated name compares by its first occurrence, as lookups do.
        let p = a.param(p.name).unwrap_or(p);
        b.param(p.name).is_some_and(|q| {
            if p.name.eq_ignore_ascii_case("phone-context") || p.name.eq_ignore_ascii_case("ext") {
                tel_fold(p.value.unwrap_or("")).eq(tel_fold(q.value.unwrap_or("")))
            } else {
                opt_eq(p.value, q.value, esc_eq_ci)
            }
        })
    })
}

// ---------------------------------------------------------------------------------------
// UriBuf.

/// An owned `sip:`/`sips:` URI for building Contact and Request-URIs (RFC 3261 §19.1).
///
/// Fields are kept in wire form (escaped, IPv6 bracketed); the `with_*`/`set_*` methods take
/// plain text and escape it. `PartialEq` is textual; use [`UriBuf::equivalent`] for
/// RFC 3261 §19.1.4 comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UriBuf {
    secure: bool,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    params: Vec<(String, Option<String>)>,
    headers: Vec<(String, String)>,
}

/// Validates a host for [`UriBuf`], bracketing a bare IPv6 address (RFC 5118 §4.1).
fn host_wire(host: &str) -> Result<String, UriError> {
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return Ok(format!("[{v6}]"));
    }
    Host::parse(host).map(|h| h.as_str().to_owned())
}

fn ip_wire(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

impl UriBuf {
    /// A `sip:` URI for `host` (name, IPv4, or IPv6 with or without brackets).
    pub fn sip(host: &str) -> Result<Self, UriError> {
        Ok(Self::with_host_wire(false, host_wire(host)?))
    }

    /// A `sips:` URI for `host` (name, IPv4, or IPv6 with or without brackets).
    pub fn sips(host: &str) -> Result<Self, UriError> {
        Ok(Self::with_host_wire(true, host_wire(host)?))
    }

    /// A `sip:` URI for an IP address, bracketing IPv6 (RFC 5118 §4.1).
    pub fn from_ip(ip: IpAddr) -> Self {
        Self::with_host_wire(false, ip_wire(ip))
    }

    fn with_host_wire(secure: bool, host: String) -> Self {
        Self {
            secure,
            user: None,
            password: None,
            host,
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Parses a `sip:`/`sips:` URI into an owned one.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        Uri::parse(s)?.to_buf()
    }

    /// Sets `sips:` (true) or `sip:` (false).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets the user part from plain text, escaping as needed; empty text removes it.
    pub fn with_user(mut self, user: &str) -> Self {
        self.set_user(Some(user));
        self
    }

    /// Sets the password from plain text, escaping as needed; it is written only with a user.
    pub fn with_password(mut self, password: &str) -> Self {
        self.password = Some(escape_password(password).into_owned());
        self
    }

    /// Sets the port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets parameter `name` (replacing one of the same name), escaping name and value.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Self {
        self.set_param(name, value);
        self
    }

    /// Appends header `name=value`, escaping both; an empty name is ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if !name.is_empty() {
            self.headers.push((
                escape_header(name).into_owned(),
                escape_header(value).into_owned(),
            ));
        }
        self
    }

    /// Sets or clears the user part from plain text; empty text clears it (and the password).
    pub fn set_user(&mut self, user: Option<&str>) {
        self.user = user
            .filter(|u| !u.is_empty())
            .map(|u| escape_user(u).into_owned());
        if self.user.is_none() {
            self.password = None;
        }
    }

    /// Sets the host (name, IPv4, or IPv6 with or without brackets).
    pub fn set_host(&mut self, host: &str) -> Result<(), UriError> {
        self.host = host_wire(host)?;
        Ok(())
    }

    /// Sets the host to an IP address, bracketing IPv6.
    pub fn set_ip(&mut self, ip: IpAddr) {
        self.host = ip_wire(ip);
    }

    /// Sets or clears the port.
    pub fn set_port(&mut self, port: Option<u16>) {
        self.port = port;
    }

    /// Sets parameter `name`, replacing one of the same name; empty names are ignored and an
    /// empty value is written as a valueless parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        if name.is_empty() {
            return;
        }
        let name = escape_param(name).into_owned();
        let value = value
            .filter(|v| !v.is_empty())
            .map(|v| escape_param(v).into_owned());
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(slot) => slot.1 = value,
            None => self.params.push((name, value)),
        }
    }

    /// Removes every parameter called `name` (case-insensitive); returns whether one was there.
    pub fn remove_param(&mut self, name: &str) -> bool {
        let before = self.params.len();
        self.params.retain(|(n, _)| !esc_eq_ci(n, name));
        before != self.params.len()
    }

    /// Removes all headers.
    pub fn clear_headers(&mut self) {
        self.headers.clear();
    }

    /// Whether this is a `sips:` URI.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The user part in wire (escaped) form.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The host in wire form (IPv6 bracketed).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if set.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The value of parameter `name` in wire form: `Some(None)` for a valueless one.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| esc_eq_ci(n, name))
            .map(|(_, v)| v.as_deref())
    }

    /// Compares with a parsed URI by RFC 3261 §19.1.4; the written form is parsed again.
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        let text = self.to_string();
        Uri::parse(&text).is_ok_and(|u| u.equivalent(other))
    }
}

impl TryFrom<&Uri<'_>> for UriBuf {
    type Error = UriError;

    fn try_from(u: &Uri<'_>) -> Result<Self, UriError> {
        let (Scheme::Sip | Scheme::Sips, Some(host)) = (u.scheme, u.host) else {
            return Err(UriError::NotSip);
        };
        Ok(Self {
            secure: u.is_secure(),
            user: u.user.map(str::to_owned),
            password: u.password.map(str::to_owned),
            host: host.raw.to_owned(),
            port: u.port,
            params: u
                .params()
                .map(|p| (p.name.to_owned(), p.value.map(str::to_owned)))
                .collect(),
            headers: u
                .headers()
                .map(|h| (h.name.to_owned(), h.value.to_owned()))
                .collect(),
        })
    }
}

impl fmt::Display for UriBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for (name, value) in &self.params {
            write!(f, ";{name}")?;
            if let Some(v) = value {
                write!(f, "={v}")?;
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Uri<'_> {
        match Uri::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn err(s: &str) -> UriError {
        match Uri::parse(s) {
            Ok(u) => panic!("{s:?} should be rejected, got {u:?}"),
            Err(e) => e,
        }
    }

    fn eqv(a: &str, b: &str) -> bool {
        let (a, b) = (p(a), p(b));
        let ab = a.equivalent(&b);
        assert_eq!(ab, b.equivalent(&a), "equivalence must be symmetric");
        ab
    }

    // --- grammar: scheme -------------------------------------------------------------

    #[test]
    fn scheme_names() {
        assert_eq!(p("sip:a.com").scheme(), Scheme::Sip);
        assert_eq!(p("SIP:a.com").scheme(), Scheme::Sip);
        assert_eq!(p("sIpS:a.com").scheme(), Scheme::Sips);
        assert!(p("sips:a.com").is_secure());
        assert_eq!(p("TEL:+1").scheme(), Scheme::Tel);
        assert_eq!(p("urn:service:sos").scheme(), Scheme::Other("urn"));
        assert_eq!(
            p("soap.beep://192.0.2.103:3002").scheme(),
            Scheme::Other("soap.beep")
        );
        assert_eq!(err(""), UriError::Empty);
        assert_eq!(err("example.com"), UriError::MissingScheme);
        assert_eq!(err(":a"), UriError::InvalidScheme);
        assert_eq!(err("1sip:a"), UriError::InvalidScheme);
        assert_eq!(err("<sip:user@example.com>"), UriError::InvalidScheme);
        assert_eq!(Scheme::Sips.default_port(), Some(5061));
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = p("mailto:alice@example.com?subject=hi");
        assert_eq!(u.opaque(), "alice@example.com?subject=hi");
        assert!(u.host().is_none() && u.user().is_none());
        assert_eq!(
            p("nobodyKnowsThisScheme:totallyopaquecontent").opaque(),
            "totallyopaquecontent"
        );
        assert_eq!(
            p("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6").to_string(),
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
        );
        assert!(matches!(err("mailto:a b"), UriError::InvalidChar { .. }));
        assert!(matches!(err("urn:%zz"), UriError::BadEscape { .. }));
        assert_eq!(err("urn:"), UriError::EmptyOpaque);
        assert!(eqv("URN:a:b", "urn:a:%62"));
        assert!(!eqv("urn:a:b", "urn:a:B"));
    }

    // --- grammar: userinfo ------------------------------------------------------------

    #[test]
    fn userinfo() {
        let u = p("sip:alice:secret@atlanta.com");
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("secret"));
        let u = p("sip:alice@atlanta.com");
        assert_eq!(u.password(), None);
        assert_eq!(p("sip:alice:@atlanta.com").password(), Some(""));
        assert!(p("sip:atlanta.com").user().is_none());
        // Telephone-subscriber in the user part, with ':' starting the password (RFC 3261 §19.1.3).
        let u = p("sip:+1-212-555-1212:1234@gateway.com;user=phone");
        assert_eq!(u.user(), Some("+1-212-555-1212"));
        assert_eq!(u.password(), Some("1234"));
        assert_eq!(u.user_param(), Some("phone"));
        // RFC 4475 intmeth: every user-unreserved and mark character, and a password.
        let u = p("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(u.host().map(|h| h.as_str()), Some("example.com"));
        // '?', '/', '&', '=', '+', '$', ',' are user-unreserved.
        assert_eq!(
            p("sip:a?b/c&d=e+f$g,h@h.com").user(),
            Some("a?b/c&d=e+f$g,h")
        );
    }

    #[test]
    fn semicolon_in_user_part() {
        let u = p("sip:alice;day=tuesday@atlanta.com");
        assert_eq!(u.user(), Some("alice;day=tuesday"));
        assert_eq!(u.params().count(), 0);
        assert_eq!(u.host().map(|h| h.as_str()), Some("atlanta.com"));
        // RFC 4475 semiuri.
        let u = p("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some("user;par=u@example.net")
        );
        assert_eq!(u.host().map(|h| h.as_str()), Some("example.com"));
    }

    #[test]
    fn empty_user_is_rejected() {
        assert_eq!(err("sip:@example.com"), UriError::EmptyUser);
        assert_eq!(err("sip::pw@example.com"), UriError::EmptyUser);
    }

    #[test]
    fn bad_userinfo_chars() {
        assert!(matches!(
            err("sip:al ice@example.com"),
            UriError::InvalidChar {
                component: Component::User,
                ch: ' '
            }
        ));
        assert!(matches!(
            err("sip:al#ice@example.com"),
            UriError::InvalidChar {
                component: Component::User,
                ch: '#'
            }
        ));
        assert!(matches!(
            err("sip:a:p;w@example.com"),
            UriError::InvalidChar {
                component: Component::Password,
                ..
            }
        ));
        assert!(matches!(
            err("sip:al\u{e9}@example.com"),
            UriError::InvalidChar { ch: '\u{e9}', .. }
        ));
    }

    // --- grammar: escapes -------------------------------------------------------------

    #[test]
    fn escapes() {
        let u = p("sip:%61lice@atlanta.com;transport=TCP");
        assert_eq!(u.user(), Some("%61lice"));
        assert_eq!(u.user_unescaped().as_deref(), Some("alice"));
        assert_eq!(u.transport(), Some("TCP"));
        // RFC 4475 esc01: escaped ':' and '@' in the user part.
        let u = p("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(u.user_unescaped().as_deref(), Some("sips:user@example.com"));
        assert_eq!(u.host().map(|h| h.as_str()), Some("example.net"));
        // RFC 4475 esc01 Contact: escaped parameter names and values.
        let u = p("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
        assert!(u.lr());
        assert_eq!(u.user_unescaped().as_deref(), Some("caller"));
        assert_eq!(
            u.param("name").and_then(|p| p.value_unescaped()).as_deref(),
            Some("value%41")
        );
        assert!(u.equivalent(&p("sip:caller@host5.example.net;lr;name=value%2541")));
        assert!(!u.equivalent(&p("sip:caller@host5.example.net;lr;name=valueA")));
        // RFC 4475 escnull.
        let u = p("sip:null-%00-null@example.com");
        assert_eq!(u.user_unescaped().as_deref(), Some("null-\0-null"));
        // Non-hex and truncated escapes.
        for bad in [
            "sip:%6Glice@a.com",
            "sip:a%@a.com",
            "sip:a%4@a.com",
            "sip:a.com;x=%zz",
            "sip:a.com?h=%",
            "sip:u:%g1@a.com",
        ] {
            assert!(matches!(err(bad), UriError::BadEscape { .. }), "{bad}");
        }
    }

    #[test]
    fn percent_helpers() {
        assert!(matches!(
            percent_decode("alice"),
            Ok(Cow::Borrowed("alice"))
        ));
        assert_eq!(percent_decode("%61lice%20b").as_deref(), Ok("alice b"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Ok("caf\u{e9}"));
        assert_eq!(percent_decode("%FF"), Err(UriError::NotUtf8));
        assert!(percent_decode("%G0").is_err());
        assert!(percent_decode("%0").is_err());
        assert_eq!(
            percent_decode_bytes("%FF%00").as_deref(),
            Ok(&[0xFF, 0][..])
        );
        assert!(matches!(escape_user("alice"), Cow::Borrowed("alice")));
        assert_eq!(escape_user("a b#c@d"), "a%20b%23c%40d");
        assert_eq!(escape_user("100%"), "100%25");
        assert_eq!(escape_password("p;w"), "p%3Bw");
        assert_eq!(escape_param("a;b=c"), "a%3Bb%3Dc");
        assert_eq!(escape_header("<sip:x@y>"), "%3Csip:x%40y%3E");
        // Non-UTF-8 escaped user decodes lossily.
        assert_eq!(
            p("sip:%FF@a.com").user_unescaped().as_deref(),
            Some("\u{fffd}")
        );
    }

    // --- grammar: host / port ---------------------------------------------------------

    #[test]
    fn hosts() {
        let h = p("sip:atlanta.com").host();
        assert_eq!(h.map(|h| h.kind()), Some(HostKind::Domain));
        assert!(p("sip:atlanta.com.").host().is_some_and(|h| h.is_domain()));
        assert!(p("sip:a-1.b2.example").host().is_some());
        let u = p("sip:alice@192.0.2.4");
        assert_eq!(u.ip(), Some(IpAddr::from([192, 0, 2, 4])));
        assert_eq!(u.host().map(|h| h.as_str()), Some("192.0.2.4"));
        let u = p("sip:[2001:db8::10]");
        assert_eq!(u.host().map(|h| h.as_str()), Some("[2001:db8::10]"));
        assert_eq!(u.ip(), "2001:db8::10".parse().ok());
        assert_eq!(err("sip:"), UriError::EmptyHost);
        assert_eq!(err("sip:user@"), UriError::EmptyHost);
        assert_eq!(err("sip:;lr"), UriError::EmptyHost);
        assert_eq!(err("sip:user@:5060"), UriError::EmptyHost);
        assert!(matches!(
            err("sip:exa mple.com"),
            UriError::InvalidChar {
                component: Component::Host,
                ch: ' '
            }
        ));
        assert!(matches!(
            err("sip:under_score.com"),
            UriError::InvalidChar { .. }
        ));
        assert!(matches!(err("sip:-a.com"), UriError::BadHostname(_)));
        assert!(matches!(err("sip:a-.com"), UriError::BadHostname(_)));
        assert!(matches!(err("sip:a..com"), UriError::BadHostname(_)));
        assert!(matches!(err("sip:a.123"), UriError::BadHostname(_)));
        assert!(matches!(err("sip:."), UriError::BadHostname(_)));
        assert_eq!(err("sip:192.0.2.256"), UriError::BadIpv4);
        assert_eq!(err("sip:192.0.2"), UriError::BadIpv4);
        assert_eq!(err("sip:192.0.2.1.5"), UriError::BadIpv4);
        assert_eq!(err("sip:1234"), UriError::BadIpv4);
        assert_eq!(err("sip:1.2.3.1234"), UriError::BadIpv4);
        assert_eq!(
            p("sip:010.000.000.001").ip(),
            Some(IpAddr::from([10, 0, 0, 1]))
        );
        assert!(matches!(
            err("sip:a@b@c.com"),
            UriError::InvalidChar { ch: '@', .. }
        ));
        assert!(matches!(err("sip:a.com]"), UriError::BadIpv6(_)));
    }

    #[test]
    fn ports() {
        assert_eq!(p("sip:a.com:5060").port(), Some(5060));
        assert_eq!(p("sip:a.com:0").port(), Some(0));
        assert_eq!(p("sip:a.com:65535").port(), Some(65535));
        assert_eq!(p("sip:a.com:005060").port(), Some(5060));
        assert_eq!(p("sip:a.com").port(), None);
        assert_eq!(p("sip:a.com").port_or_default(), Some(5060));
        assert_eq!(p("sips:a.com").port_or_default(), Some(5061));
        assert!(matches!(
            err("sip:user@example.com:65536"),
            UriError::BadPort(_)
        ));
        assert!(matches!(
            err("sip:a.com:99999999999999999999"),
            UriError::BadPort(_)
        ));
        assert!(matches!(err("sip:a.com:"), UriError::BadPort(_)));
        assert!(matches!(err("sip:a.com:50a"), UriError::BadPort(_)));
        assert!(matches!(err("sip:a.com:-1"), UriError::BadPort(_)));
        assert!(matches!(err("sip:a.com:+5"), UriError::BadPort(_)));
        assert!(matches!(err("sip:a.com:5060:5060"), UriError::BadPort(_)));
    }

    // RFC 5118 IPv6 torture tests.
    #[test]
    fn rfc5118_ipv6() {
        // §4.1 valid reference.
        let u = p("sip:[2001:db8::10]");
        assert_eq!(u.port(), None);
        // §4.4 port unambiguous.
        let u = p("sip:[2001:db8::10]:5070");
        assert_eq!(u.host().map(|h| h.as_str()), Some("[2001:db8::10]"));
        assert_eq!(u.port(), Some(5070));
        // §4.3 port ambiguous: all of it is the address, no port.
        let u = p("sip:[2001:db8::10:5070]");
        assert_eq!(u.ip(), "2001:db8::10:5070".parse().ok());
        assert_eq!(u.port(), None);
        // §4.9 IPv4-mapped and §4.10 the ABNF bug ("::" plus an extra ':').
        let u = p("sip:user@[::ffff:192.0.2.10]:5060;transport=udp");
        assert_eq!(u.ip(), "::ffff:192.0.2.10".parse().ok());
        assert_eq!(u.transport(), Some("udp"));
        assert!(p("sip:[2001:db8::192.0.2.1]").ip().is_some());
        // The three-colon form the ABNF bug allows is accepted (RFC 5118 §4.10: receivers
        // should be liberal) as the same address; the SBC never writes it.
        let liberal = p("sip:user@[2001:db8:::192.0.2.1]");
        assert_eq!(liberal.ip(), p("sip:user@[2001:db8::192.0.2.1]").ip());
        assert_eq!(
            liberal.ip().unwrap().to_string(),
            "2001:db8::c000:201",
            "written back in the standard form"
        );
        assert!(matches!(
            err("sip:[2001:db8::::192.0.2.1]"),
            UriError::BadIpv6(_)
        ));
        assert!(matches!(err("sip:[2001:db8:::1]"), UriError::BadIpv6(_)));
        // §4.2 invalid: no brackets, or unbalanced.
        assert!(matches!(err("sip:[2001:db8::10"), UriError::BadIpv6(_)));
        assert!(matches!(err("sip:user@2001:db8::10"), UriError::BadIpv6(_)));
        assert!(matches!(err("sip:2001:db8::10]"), UriError::BadIpv6(_)));
        assert!(matches!(
            err("sip:[2001:db8::10]5060"),
            UriError::BadIpv6(_)
        ));
        assert!(matches!(err("sip:[2001:db8::g]"), UriError::BadIpv6(_)));
        assert!(matches!(err("sip:[192.0.2.1]"), UriError::BadIpv6(_)));
        assert!(matches!(err("sip:[fe80::1%eth0]"), UriError::BadIpv6(_)));
        assert!(matches!(err("sip:[]"), UriError::BadIpv6(_)));
        assert!(matches!(err("sip:[2001:db8::10]:"), UriError::BadPort(_)));
        // Brackets are fine inside parameters.
        assert_eq!(
            p("sip:a.com;maddr=[2001:db8::1]").maddr(),
            Some("[2001:db8::1]")
        );
    }

    // --- grammar: parameters ----------------------------------------------------------

    #[test]
    fn params() {
        let u = p("sip:alice@atlanta.com;transport=tcp;lr;ttl=15;maddr=239.255.255.1;method=REGISTER;user=ip;x-foo=b%61r");
        let names: Vec<_> = u.params().map(|p| p.name()).collect();
        assert_eq!(
            names,
            ["transport", "lr", "ttl", "maddr", "method", "user", "x-foo"]
        );
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.ttl(), Some(15));
        assert_eq!(u.maddr(), Some("239.255.255.1"));
        assert_eq!(u.method(), Some("REGISTER"));
        assert_eq!(u.user_param(), Some("ip"));
        assert_eq!(u.param("X-FOO").and_then(|p| p.value()), Some("b%61r"));
        assert_eq!(
            u.param("x-foo")
                .and_then(|p| p.value_unescaped())
                .as_deref(),
            Some("bar")
        );
        assert_eq!(u.param("LR").map(|p| p.value()), Some(None));
        assert!(u.param("nope").is_none());
        assert_eq!(
            u.params_str(),
            "transport=tcp;lr;ttl=15;maddr=239.255.255.1;method=REGISTER;user=ip;x-foo=b%61r"
        );
        assert!(!p("sip:a.com").lr());
        assert_eq!(p("sip:a.com;ttl=256").ttl(), None);
        assert_eq!(p("sip:a.com;ttl=abc").ttl(), None);
        assert_eq!(p("sip:a.com;ttl=+1").ttl(), None);
        assert_eq!(p("sip:a.com;ttl=0").ttl(), Some(0));
        assert_eq!(p("sip:a.com;Transport=UDP").transport(), Some("UDP"));
        // Duplicates: the first wins.
        assert_eq!(p("sip:a.com;x=1;x=2").param_value("x"), Some("1"));
        // Parameter chars: param-unreserved includes '[', ']', '/', ':', '&', '+', '$'.
        assert_eq!(
            p("sip:a.com;x=[a]/b:c&d+e$").param_value("x"),
            Some("[a]/b:c&d+e$")
        );
        assert_eq!(err("sip:a.com;"), UriError::EmptyParamName);
        assert_eq!(err("sip:a.com;;lr"), UriError::EmptyParamName);
        assert_eq!(err("sip:a.com;=x"), UriError::EmptyParamName);
        assert_eq!(err("sip:a.com;transport="), UriError::EmptyParamValue);
        assert!(matches!(
            err("sip:a.com;a=b=c"),
            UriError::InvalidChar { ch: '=', .. }
        ));
        assert!(matches!(
            err("sip:a.com;a=b c"),
            UriError::InvalidChar { ch: ' ', .. }
        ));
        // RFC 4475 lwsruri: whitespace inside the Request-URI.
        assert!(matches!(
            err("sip:user@example.com; lr"),
            UriError::InvalidChar { .. }
        ));
        let many = format!("sip:a.com{}", ";x".repeat(MAX_PARAMS + 1));
        assert_eq!(err(&many), UriError::TooMany);
        let ok = format!("sip:a.com{}", ";x".repeat(MAX_PARAMS));
        assert_eq!(p(&ok).params().count(), MAX_PARAMS);
        // A standalone walker for other users of the grammar.
        assert_eq!(Params::new("a=1;b").count(), 2);
        assert_eq!(Params::new("").count(), 0);
    }

    // --- grammar: headers -------------------------------------------------------------

    #[test]
    fn headers() {
        let u = p("sip:alice@atlanta.com?subject=project%20x&priority=urgent");
        let hs: Vec<_> = u.headers().map(|h| (h.name(), h.value())).collect();
        assert_eq!(hs, [("subject", "project%20x"), ("priority", "urgent")]);
        assert_eq!(u.header("SUBJECT"), Some("project%20x"));
        assert_eq!(
            u.headers().next().map(|h| h.value_unescaped()).as_deref(),
            Some("project x")
        );
        assert_eq!(u.headers_str(), "subject=project%20x&priority=urgent");
        // RFC 4475 escruri / regescrt: escaped Route header.
        let u = p("sip:user@example.com?Route=%3Csip:example.com%3E");
        assert_eq!(
            u.headers().next().map(|h| h.value_unescaped()).as_deref(),
            Some("<sip:example.com>")
        );
        let u = p("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com");
        assert_eq!(u.method(), Some("REGISTER"));
        assert_eq!(u.header("to"), Some("sip:bob%40biloxi.com"));
        assert_eq!(p("sip:a.com?subject=").header("subject"), Some(""));
        assert_eq!(p("sip:a.com?b%6fdy=hi").header("body"), Some("hi"));
        assert_eq!(err("sip:a.com?"), UriError::MissingHeaderValue);
        assert_eq!(err("sip:a.com?subject"), UriError::MissingHeaderValue);
        assert_eq!(err("sip:a.com?=x"), UriError::EmptyHeaderName);
        assert_eq!(err("sip:a.com?a=b&"), UriError::MissingHeaderValue);
        assert!(matches!(
            err("sip:a.com?a=b c"),
            UriError::InvalidChar { .. }
        ));
        assert!(matches!(
            err("sip:a.com?a=<x>"),
            UriError::InvalidChar { ch: '<', .. }
        ));
    }

    // --- tel (RFC 3966) ---------------------------------------------------------------

    #[test]
    fn tel_uris() {
        let u = p("tel:+1-212-555-0101");
        assert_eq!(u.number(), Some("+1-212-555-0101"));
        assert_eq!(u.number_digits().as_deref(), Some("+12125550101"));
        assert!(u.is_global_number());
        assert!(u.host().is_none());
        let u = p("tel:7042;phone-context=example.com");
        assert_eq!(u.number(), Some("7042"));
        assert!(!u.is_global_number());
        assert_eq!(u.phone_context(), Some("example.com"));
        let u = p("tel:863-1234;phone-context=+1-914-555");
        assert_eq!(u.phone_context(), Some("+1-914-555"));
        let u = p("tel:+1(212)555.0101;ext=22;isub=1411;x-y=%41");
        assert_eq!(u.param_value("ext"), Some("22"));
        assert!(matches!(u.number_digits(), Some(Cow::Owned(_))));
        assert!(matches!(
            p("tel:+12125550101").number_digits(),
            Some(Cow::Borrowed(_))
        ));
        assert!(p("tel:*69#;phone-context=example.com").number().is_some());
        assert!(p("tel:+1").number().is_some());
        assert_eq!(p("sip:a.com").number(), None);
        assert!(matches!(err("tel:7042"), UriError::BadTelNumber(_)));
        assert!(matches!(err("tel:+"), UriError::BadTelNumber(_)));
        assert!(matches!(err("tel:+--"), UriError::BadTelNumber(_)));
        assert!(matches!(err("tel:"), UriError::BadTelNumber(_)));
        assert!(matches!(err("tel:+1 212"), UriError::InvalidChar { .. }));
        assert!(matches!(err("tel:+1a"), UriError::InvalidChar { .. }));
        assert!(matches!(
            err("tel:12;phone-context=-bad"),
            UriError::BadHostname(_)
        ));
        assert_eq!(err("tel:12;phone-context"), UriError::EmptyParamValue);
        assert_eq!(err("tel:+1;"), UriError::EmptyParamName);
        assert_eq!(err("tel:+1;a="), UriError::EmptyParamValue);
        assert!(matches!(err("tel:+1;a_b=1"), UriError::InvalidChar { .. }));
        // RFC 3966 §4 comparison.
        assert!(eqv("tel:+1-212-555-0101", "TEL:+1(212)5550101"));
        assert!(eqv(
            "tel:7042;phone-context=EXAMPLE.com",
            "tel:7042;phone-context=example.com"
        ));
        assert!(eqv("tel:+1;a=1;b=2", "tel:+1;B=2;a=1"));
        assert!(eqv(
            "tel:abc;phone-context=+1-2",
            "tel:ABC;phone-context=+12"
        ));
        assert!(!eqv("tel:+1-212-555-0101", "tel:+1-212-555-0102"));
        assert!(!eqv("tel:+1;a=1", "tel:+1"));
        assert!(!eqv(
            "tel:7042;phone-context=a.com",
            "tel:7042;phone-context=b.com"
        ));
        assert!(!eqv(
            "tel:+12125550101",
            "sip:+12125550101@a.com;user=phone"
        ));
    }

    // --- RFC 3261 §19.1.4 comparison ----------------------------------------------------

    #[test]
    fn rfc3261_equivalent_pairs() {
        assert!(eqv(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(eqv(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eqv(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;security=on"
        ));
        assert!(eqv(
            "sip:carol@chicago.com;newparam=5",
            "sip:carol@chicago.com;security=on"
        ));
        assert!(eqv(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(eqv(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
    }

    #[test]
    fn rfc3261_non_equivalent_pairs() {
        // Different usernames.
        assert!(!eqv(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        // Can resolve to different ports.
        assert!(!eqv("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        // Can resolve to different transports.
        assert!(!eqv(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        // Can resolve to different port and transports.
        assert!(!eqv(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com:6000;transport=tcp"
        ));
        // Different header component.
        assert!(!eqv(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting"
        ));
        // Even though that's what phone21.boxesbybob.com resolves to.
        assert!(!eqv("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
    }

    #[test]
    fn more_comparisons() {
        // sip vs sips never equal.
        assert!(!eqv("sip:alice@a.com", "sips:alice@a.com"));
        // Escaped and unescaped user (%75 is u, %72 is r).
        assert!(eqv("sip:%75se%72@example.com", "sip:user@example.com"));
        // An escaped reserved character is not the literal one.
        assert!(!eqv("sip:a%3Bb@example.com", "sip:a;b@example.com"));
        assert!(eqv("sip:a%3bb@example.com", "sip:a%3Bb@example.com"));
        // Userinfo presence and password.
        assert!(!eqv("sip:a.com", "sip:u@a.com"));
        assert!(!eqv("sip:u:p@a.com", "sip:u@a.com"));
        assert!(!eqv("sip:u:p@a.com", "sip:u:P@a.com"));
        // Host by value for addresses.
        assert!(eqv("sip:[2001:db8::1]", "sip:[2001:DB8:0::1]"));
        assert!(!eqv("sip:[::ffff:192.0.2.10]", "sip:192.0.2.10"));
        assert!(eqv("sip:a.com:5060", "sip:A.COM:05060"));
        // Special parameters must match when present in either.
        assert!(!eqv("sip:a.com;user=phone", "sip:a.com"));
        assert!(!eqv("sip:a.com;ttl=1", "sip:a.com"));
        assert!(eqv("sip:a.com;ttl=01", "sip:a.com;ttl=1"));
        assert!(!eqv("sip:a.com;maddr=1.2.3.4", "sip:a.com"));
        assert!(eqv("sip:a.com;maddr=Host.COM", "sip:a.com;MADDR=host.com"));
        assert!(!eqv("sip:a.com;method=INVITE", "sip:a.com;method=invite"));
        assert!(!eqv("sip:a.com;method=INVITE", "sip:a.com"));
        // Other parameters compared only when in both, case-sensitive values.
        assert!(eqv("sip:a.com;lr", "sip:a.com"));
        assert!(eqv("sip:a.com;x=1", "sip:a.com;y=2"));
        assert!(!eqv("sip:a.com;x=1", "sip:a.com;X=2"));
        assert!(!eqv("sip:a.com;x=a", "sip:a.com;x=A"));
        assert!(!eqv("sip:a.com;lr", "sip:a.com;lr=on"));
        assert!(eqv("sip:a.com;x=%61", "sip:a.com;x=a"));
        // Headers: names case-insensitive, values unescaped, multiset.
        assert!(eqv(
            "sip:a.com?Subject=hi%20there",
            "sip:a.com?subject=hi there".replace(' ', "%20").as_str()
        ));
        assert!(!eqv("sip:a.com?subject=Hi", "sip:a.com?subject=hi"));
        assert!(!eqv("sip:a.com?a=1&a=1", "sip:a.com?a=1&b=1"));
        assert!(!eqv("sip:a.com?a=1", "sip:a.com?a=1&a=1"));
        assert!(eqv("sip:a.com?a=1&b=2&a=1", "sip:a.com?b=2&a=1&a=1"));
        assert!(uri_eq(&p("sip:a.com"), &p("SIP:A.com")));
        assert!(!eqv("sip:a.com", "tel:+1"));
    }

    #[test]
    fn duplicate_params_compare_by_first_occurrence() {
        // Found by the sip_message fuzz target: with a repeated parameter name the later
        // occurrence was compared with the other URI's first one, so a URI was not
        // equivalent to itself.
        let fuzzed = "sip:ce.net;%6C%72;n%61me=v%612;n%61me=lue%24%34%31";
        assert!(eqv(fuzzed, fuzzed));
        assert!(eqv("sip:a.com;x=1;x=2", "sip:a.com;x=1;x=2"));
        assert!(eqv("sip:a.com;x=1;x=2", "sip:a.com;x=1"));
        assert!(!eqv("sip:a.com;x=1;x=2", "sip:a.com;x=2"));
        assert!(eqv("tel:+1234;x=1;x=2", "tel:+1234;x=1;x=2"));
        assert!(!eqv("tel:+1234;x=1;x=2", "tel:+1234;x=2;x=1"));
    }

    // --- RFC 4475 and other odd-but-valid URIs ----------------------------------------

    #[test]
    fn rfc4475_and_odd_valid() {
        for s in [
            "sip:vivekg@chair-dnrc.example.com;unknownparam",
            "sip:vivekg@chair-dnrc.example.com:5060",
            "sip:user@example.com;transport=sctp",
            "sip:user@example.com;transport=tls",
            "sip:user@example.com;transport=other-transport",
            "sip:+19725552222@gw1.example.net;unknownparam",
            "sip:user@host.example.com?Route=%3Csip:sip.example.com%3E",
            "sip:t.watson@example.org",
            "sips:user@example.com",
            "sip:caller@host5.example.net",
            "sip:user@127.0.0.1:5060",
            "sip:!~*'()-_.@example.com",
            "sip:user@example.com;x=!~*'()-_.",
            "sip:host.example.com;lr;transport=udp?subject=a&priority=b",
            "sip:amazinglylongcallee@example.net;unknownparam=verylongparametervalue;y",
            "sip:%22foo%22@example.com",
            "sip:j.user@example.com;maddr=[::1];ttl=255",
            "sip:user@EXAMPLE.COM:00000000000005060",
            "sip:1.2.3.4.example.com",
            "sip:u@0.0.0.0",
            // RFC 4475 unksm2 (unknown schemes in header fields) and novelsc (soap.beep).
            "http://www.example.com",
            "name:John_Smith",
            "mailto:jdrosen@example.com",
            "soap.beep://192.0.2.103:3002",
        ] {
            let u = p(s);
            assert_eq!(u.to_string(), s, "display round-trip");
            assert!(u.equivalent(&u), "reflexive: {s}");
        }
    }

    #[test]
    fn invalid_uris() {
        for s in [
            "sip:user@example.com:65536",
            "sip:@example.com",
            "sip:exa mple.com",
            "sip: user@example.com",
            "sip:user@example.com ",
            "sip:user@example.com\r\n",
            "sip:user@example.com>",
            // RFC 4475 ltgtruri.
            "<sip:user@example.com>",
            "sip:user@example.com;lr=",
            "sip:user@[2001:db8::10",
            "sip:user@2001:db8::10",
            "sip:user@example.com:5060:5060",
            "sip:%zzuser@example.com",
            "sip:user@exa%6dple.com",
            "sip:user@example..com",
            "sip:user@",
            "sips:",
            "sip:user@example.com#frag",
            "sip:user@example.com;transport=tcp?",
            "sip:user@example.com?a=b?c=d=e",
        ] {
            assert!(Uri::parse(s).is_err(), "{s:?} should be rejected");
        }
        // Errors carry a readable reason.
        assert_eq!(
            err("sip:user@example.com:65536").to_string(),
            "invalid port: greater than 65535"
        );
        assert_eq!(
            err("sip:exa mple.com").to_string(),
            "invalid character ' ' in host"
        );
        assert!(matches!(
            Uri::parse_bytes(b"sip:\xff"),
            Err(UriError::NotUtf8)
        ));
        assert!(Uri::parse_bytes(b"sip:a.com").is_ok());
    }

    // --- Display and the builder --------------------------------------------------------

    #[test]
    fn display_round_trip() {
        for s in [
            "sip:alice@atlanta.com",
            "SIP:ALICE:pw@AtLanTa.CoM:5060;Transport=udp;lr?Subject=x&b=%20",
            "sips:[2001:db8::10]:5070;maddr=[::1]",
            "sip:alice;day=tuesday@atlanta.com",
            "tel:+1-212-555-0101;ext=1",
            "tel:7042;phone-context=example.com",
            "urn:service:sos",
        ] {
            let u = p(s);
            let out = u.to_string();
            assert_eq!(out, s);
            assert!(p(&out).equivalent(&u));
        }
    }

    #[test]
    fn builder() {
        let b = UriBuf::sip("192.0.2.1").map(|b| {
            b.with_user("user")
                .with_port(5060)
                .with_param("transport", Some("tcp"))
        });
        let b = match b {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(b.to_string(), "sip:user@192.0.2.1:5060;transport=tcp");
        assert_eq!(b.param("TRANSPORT"), Some(Some("tcp")));
        assert!(b.equivalent(&p("sip:user@192.0.2.1:5060;transport=TCP")));

        let v6: IpAddr = match "2001:db8::10".parse() {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        let b = UriBuf::from_ip(v6).with_port(5070).with_param("lr", None);
        assert_eq!(b.to_string(), "sip:[2001:db8::10]:5070;lr");
        assert_eq!(
            UriBuf::sip("2001:db8::1").map(|b| b.to_string()),
            Ok("sip:[2001:db8::1]".into())
        );
        assert_eq!(
            UriBuf::sips("[2001:db8::1]").map(|b| b.to_string()),
            Ok("sips:[2001:db8::1]".into())
        );
        assert!(UriBuf::sip("bad host").is_err());
        assert!(UriBuf::sip("").is_err());

        // Escaping of user, password, params and headers.
        let mut b = match UriBuf::sip("example.com") {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        };
        b = b
            .with_user("al ice@home")
            .with_password("p@ss")
            .with_param("x", Some("a b"))
            .with_param("X", Some("c"))
            .with_param("empty", Some(""))
            .with_param("", Some("ignored"))
            .with_header("Subject", "hi there")
            .with_header("Route", "<sip:x@y>")
            .with_secure(true);
        let s = b.to_string();
        assert_eq!(
            s,
            "sips:al%20ice%40home:p%40ss@example.com;x=c;empty?Subject=hi%20there&Route=%3Csip:x%40y%3E"
        );
        let u = p(&s);
        assert_eq!(u.user_unescaped().as_deref(), Some("al ice@home"));
        assert_eq!(
            u.header("route")
                .map(|v| unescape_lossy(v).into_owned())
                .as_deref(),
            Some("<sip:x@y>")
        );
        assert!(b.is_secure());
        assert_eq!(b.user(), Some("al%20ice%40home"));
        assert_eq!(b.host(), "example.com");

        // Mutators.
        assert!(b.remove_param("x"));
        assert!(!b.remove_param("x"));
        b.clear_headers();
        b.set_user(None);
        b.set_port(Some(5061));
        assert!(b.set_host("[::1]").is_ok());
        assert!(b.set_host("a b").is_err());
        assert_eq!(b.to_string(), "sips:[::1]:5061;empty");
        b.set_ip(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(b.host(), "10.0.0.1");
        assert_eq!(b.port(), Some(5061));

        // Owned copy of a parsed URI, byte for byte.
        for s in [
            "sip:alice:pw@atlanta.com:5060;transport=tcp;lr?subject=a%20b&x=",
            "sips:[2001:db8::10]",
        ] {
            let owned = UriBuf::parse(s);
            assert_eq!(owned.map(|o| o.to_string()), Ok(s.to_owned()));
        }
        assert_eq!(UriBuf::parse("tel:+1"), Err(UriError::NotSip));
        assert_eq!(p("urn:x").to_buf(), Err(UriError::NotSip));
    }

    // --- robustness -------------------------------------------------------------------

    proptest::proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,64}") {
            let _ = Uri::parse(&s);
            let _ = percent_decode(&s);
            let _ = Host::parse(&s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = Uri::parse_bytes(&b);
        }

        #[test]
        fn uri_like_strings_round_trip(
            s in "(sip|sips|SIP|tel):[a-zA-Z0-9%@:;=?&.+\\[\\]_-]{0,40}",
            t in "(sip|tel):[a-zA-Z0-9%@:;=?&.+\\[\\]_-]{0,40}",
        ) {
            if let Ok(u) = Uri::parse(&s) {
                let out = u.to_string();
                proptest::prop_assert_eq!(&out, &s);
                proptest::prop_assert!(u.equivalent(&u));
                if let Ok(b) = u.to_buf() {
                    let text = b.to_string();
                    proptest::prop_assert!(Uri::parse(&text).is_ok_and(|v| v.equivalent(&u)));
                }
                if let Ok(v) = Uri::parse(&t) {
                    proptest::prop_assert_eq!(u.equivalent(&v), v.equivalent(&u));
                }
            }
        }
    }
}
