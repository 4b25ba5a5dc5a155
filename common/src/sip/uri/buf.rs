//! [`UriBuf`](super::UriBuf): the owned builder of new `sip:`/`sips:` URIs.

use super::*;

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
pub(super) fn host_wire(host: &str) -> Result<String, UriError> {
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return Ok(format!("[{v6}]"));
    }
    Host::parse(host).map(|h| h.as_str().to_owned())
}

pub(super) fn ip_wire(ip: IpAddr) -> String {
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
