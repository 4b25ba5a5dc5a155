//! Generic `;name[=value]` parameter lists and quoted strings (RFC 3261 §25.1 `generic-param`).

use std::borrow::Cow;

/// A borrowed list of `;name[=value]` parameters, as found after a URI, a Via or a name-addr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params<'a>(&'a str);

impl<'a> Params<'a> {
    /// Wraps the raw parameter text, starting at (or before) the first `;`.
    pub fn new(raw: &'a str) -> Self {
        Self(raw)
    }

    /// The raw parameter text as received.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Iterates over `(name, value)` pairs; a parameter without `=` has `None` as value.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.0 }
    }

    /// The first parameter with this name (case-insensitive): `Some(None)` if present without value.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of a parameter, with the quotes of a quoted-string value removed.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten().map(unquote_raw)
    }

    /// Whether a parameter with this name is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Checks that every parameter has a well-formed token name and a token, host or quoted value.
    pub fn validate(&self) -> Result<(), &'static str> {
        let mut rest = trim_ws_start(self.0);
        while !rest.is_empty() {
            let Some(r) = rest.strip_prefix(';') else {
                return Err("expected ';' between parameters");
            };
            let end = param_end(r);
            let (item, tail) = r.split_at_checked(end).unwrap_or((r, ""));
            rest = trim_ws_start(tail);
            let (name, value) = split_param(item);
            if !super::method::is_token(name) {
                return Err("bad parameter name");
            }
            if let Some(v) = value {
                if v.starts_with('"') {
                    if quoted_end(v) != Some(v.len()) {
                        return Err("bad quoted parameter value");
                    }
                } else if v.is_empty() || !v.bytes().all(is_value_byte) {
                    return Err("bad parameter value");
                }
            }
        }
        Ok(())
    }
}

/// Iterator over the `(name, value)` pairs of a [`Params`] list.
#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let r = trim_ws_start(self.rest);
            if r.is_empty() {
                self.rest = r;
                return None;
            }
            let r = r.strip_prefix(';').unwrap_or(r);
            let end = param_end(r);
            let (item, tail) = r.split_at_checked(end).unwrap_or((r, ""));
            self.rest = tail;
            let (name, value) = split_param(item);
            if !name.is_empty() {
                return Some((name, value));
            }
        }
    }
}

/// Whether `b` may appear in an unquoted parameter value: token bytes and `[`, `]`, `:` for
/// IPv6 references (RFC 3261 §25.1 `gen-value`, `host`).
fn is_value_byte(b: u8) -> bool {
    crate::sip::method::is_token_byte(b) || matches!(b, b'[' | b']' | b':')
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `s` without leading SP, HTAB, CR and LF (byte-wise: these parsers run on every message).
pub(crate) fn trim_ws_start(s: &str) -> &str {
    let n = s.bytes().take_while(|&b| is_ws(b)).count();
    s.get(n..).unwrap_or_default()
}

/// `s` without leading or trailing SP, HTAB, CR and LF.
pub(crate) fn trim_ws(s: &str) -> &str {
    let s = trim_ws_start(s);
    let n = s.bytes().rev().take_while(|&b| is_ws(b)).count();
    s.get(..s.len() - n).unwrap_or_default()
}

/// The offset of the first `b` in `s`.
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    memchr::memchr(b, s.as_bytes())
}

/// `s.split_once(b as char)` for an ASCII byte `b`, found with memchr rather than the `char`
/// searcher (these splits run on every URI and start line read).
pub(crate) fn split_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, b)?;
    // `b` is ASCII, so both offsets are char boundaries.
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Splits one `name[=value]` item, trimming white space around both parts.
fn split_param(item: &str) -> (&str, Option<&str>) {
    // The `=` follows a short name: a plain scan beats memchr's set-up here.
    match item.bytes().position(|b| b == b'=') {
        Some(i) => (
            trim_ws(item.get(..i).unwrap_or_default()),
            Some(trim_ws(item.get(i + 1..).unwrap_or_default())),
        ),
        None => (trim_ws(item), None),
    }
}

/// The offset of the `;` ending the parameter that starts `s`, skipping quoted strings.
fn param_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = b.get(i..).and_then(|r| memchr::memchr2(b';', b'"', r)) {
        let at = i + off;
        if b.get(at) == Some(&b';') {
            return at;
        }
        // A quoted string: continue after its closing quote; an open one runs to the end.
        let mut j = at + 1;
        loop {
            match b.get(j..).and_then(|r| memchr::memchr2(b'"', b'\\', r)) {
                None => return s.len(),
                Some(q) if b.get(j + q) == Some(&b'"') => {
                    i = j + q + 1;
                    break;
                }
                Some(q) => j += q + 2,
            }
        }
    }
    s.len()
}

/// The offset just past the closing quote of the quoted string that starts `s` (RFC 3261 §25.1).
pub fn quoted_end(s: &str) -> Option<usize> {
    let mut bytes = s.bytes().enumerate();
    if bytes.next()?.1 != b'"' {
        return None;
    }
    let mut esc = false;
    for (i, b) in bytes {
        if esc {
            esc = false;
        } else if b == b'\\' {
            esc = true;
        } else if b == b'"' {
            return Some(i + 1);
        }
    }
    None
}

/// Strips the surrounding quotes of a quoted string without resolving escapes (no allocation).
pub fn unquote_raw(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(s)
}

/// Removes the quotes of a quoted string and resolves its `\x` escapes (RFC 3261 §25.1 `quoted-pair`),
/// allocating only when an escape is present.
pub fn unquote(s: &str) -> Cow<'_, str> {
    let inner = unquote_raw(s);
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `s` as a quoted string, escaping `"` and `\` (RFC 3261 §25.1).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_with_and_without_values() {
        let p = Params::new(";branch=z9hG4bK776;rport ; received=192.0.2.4 ;x=\"a;b\"");
        let all: Vec<_> = p.iter().collect();
        assert_eq!(
            all,
            vec![
                ("branch", Some("z9hG4bK776")),
                ("rport", None),
                ("received", Some("192.0.2.4")),
                ("x", Some("\"a;b\"")),
            ]
        );
        assert_eq!(p.get("RPORT"), Some(None));
        assert_eq!(p.value("x"), Some("a;b"));
        assert_eq!(p.value("nope"), None);
        assert!(p.validate().is_ok());
        assert!(Params::new(";a b=c").validate().is_err());
        assert!(Params::new(";=c").validate().is_err());
        assert!(Params::new(";a=\"unterminated").validate().is_err());
        assert!(Params::new("junk").validate().is_err());
        assert!(Params::new(";maddr=[2001:db8::1]").validate().is_ok());
    }

    /// The byte-at-a-time scan `param_end` replaced, kept as the reference.
    fn reference_param_end(s: &str) -> usize {
        let (mut in_q, mut esc) = (false, false);
        for (i, b) in s.bytes().enumerate() {
            if in_q {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_q = false;
                }
            } else if b == b'"' {
                in_q = true;
            } else if b == b';' {
                return i;
            }
        }
        s.len()
    }

    proptest::proptest! {
        #[test]
        fn param_end_matches_the_byte_scan(s in "[;\"\\\\a =]{0,24}") {
            proptest::prop_assert_eq!(param_end(&s), reference_param_end(&s));
        }
    }

    #[test]
    fn value_bytes_are_token_and_host_bytes() {
        for b in 0..=255u8 {
            let old = crate::sip::method::is_token_byte(b) || b"[]:%".contains(&b);
            assert_eq!(is_value_byte(b), old, "byte {b}");
        }
    }

    #[test]
    fn quoting_round_trip() {
        assert_eq!(unquote(r#""a \"b\" \\ c""#), r#"a "b" \ c"#);
        assert!(matches!(unquote("\"plain\""), Cow::Borrowed("plain")));
        assert_eq!(quote(r#"a "b" \ c"#), r#""a \"b\" \\ c""#);
        assert_eq!(quoted_end(r#""ab\"c" rest"#), Some(7));
        assert_eq!(quoted_end(r#""open"#), None);
    }
}
