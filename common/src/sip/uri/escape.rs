//! Character classes and escaping of URI components (RFC 3261 §25.1, §19.1.2, §19.1.4).

use super::*;

pub(super) fn is_mark(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
    )
}

pub(super) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || is_mark(b)
}

pub(super) fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
    )
}

pub(super) fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

pub(super) fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

pub(super) fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

pub(super) fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

pub(super) fn is_opaque_char(b: u8) -> bool {
    is_unreserved(b) || is_reserved(b) || matches!(b, b'#' | b'[' | b']')
}

pub(super) fn is_visual_separator(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b'(' | b')')
}

pub(super) fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Checks that `s` holds only characters of `allowed` and well-formed `%HH` escapes.
pub(super) fn check_chars(
    s: &str,
    component: Component,
    allowed: fn(u8) -> bool,
) -> Result<(), UriError> {
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
pub(super) fn unescape_lossy(s: &str) -> Cow<'_, str> {
    match percent_decode_bytes(s) {
        Ok(Cow::Owned(v)) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
        Ok(Cow::Borrowed(_)) | Err(_) => Cow::Borrowed(s),
    }
}

pub(super) fn escape_with(s: &str, allowed: fn(u8) -> bool) -> Cow<'_, str> {
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
pub(super) struct Octets<'a> {
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

pub(super) fn octets(s: &str) -> Octets<'_> {
    Octets { bytes: s.bytes() }
}

/// Compares two escaped strings octet by octet, without allocating.
pub(super) fn esc_eq(a: &str, b: &str) -> bool {
    octets(a).eq(octets(b))
}

/// Compares two escaped strings octet by octet, ASCII case-insensitively.
pub(super) fn esc_eq_ci(a: &str, b: &str) -> bool {
    let fold = |(o, e): (u8, bool)| (o.to_ascii_lowercase(), e);
    octets(a).map(fold).eq(octets(b).map(fold))
}
