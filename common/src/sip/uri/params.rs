//! URI parameters and headers, walked lazily and validated (RFC 3261 §19.1.1).

use super::*;

/// One `;name[=value]` parameter, borrowed and still escaped (RFC 3261 §19.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param<'a> {
    pub(super) name: &'a str,
    pub(super) value: Option<&'a str>,
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
    pub(super) rest: &'a str,
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
    pub(super) name: &'a str,
    pub(super) value: &'a str,
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

    pub(super) fn equivalent(&self, other: &Header<'_>) -> bool {
        esc_eq_ci(self.name, other.name) && esc_eq(self.value, other.value)
    }
}

/// Iterator over `&`-separated URI headers without allocating (RFC 3261 §19.1.1).
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    pub(super) rest: &'a str,
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

pub(super) fn check_sip_params(s: &str) -> Result<(), UriError> {
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

pub(super) fn check_headers(s: &str) -> Result<(), UriError> {
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
