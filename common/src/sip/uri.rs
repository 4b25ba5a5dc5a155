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

mod at;
mod buf;
mod escape;
mod host;
mod params;
mod tel;
pub(crate) use at::UriAt;
pub use buf::*;
pub use escape::*;
pub use host::*;
pub use params::*;
use tel::*;

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

#[cfg(test)]
mod tests;
