//! Challenge and credentials header values: parsing, serialization, and the client answer.

use std::borrow::Cow;
use std::fmt;

use super::compute::compute_response;
use super::{Algorithm, DigestError, NonceCount, Qop, Secret};

/// The qop values a challenge offers (RFC 7616 §3.3); unknown values are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QopOptions {
    /// `auth` is offered.
    pub auth: bool,
    /// `auth-int` is offered.
    pub auth_int: bool,
}

impl QopOptions {
    /// Parses the comma-separated list inside a challenge's `qop` parameter.
    pub fn parse(list: &str) -> Self {
        let mut options = Self::default();
        for item in list.split(',') {
            match Qop::from_name(item.trim_matches(is_ws_char)) {
                Some(Qop::Auth) => options.auth = true,
                Some(Qop::AuthInt) => options.auth_int = true,
                None => {}
            }
        }
        options
    }

    /// Whether `qop` is among the offered values.
    pub fn contains(self, qop: Qop) -> bool {
        match qop {
            Qop::Auth => self.auth,
            Qop::AuthInt => self.auth_int,
        }
    }
}

/// A parsed `WWW-Authenticate`/`Proxy-Authenticate` Digest challenge (RFC 7616 §3.3,
/// RFC 3261 §22.4, RFC 3261 §25.1 `digest-cln`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// The protection space (`realm`), required.
    pub realm: Cow<'a, str>,
    /// The optional `domain` list of URIs, kept as one string.
    pub domain: Option<Cow<'a, str>>,
    /// The server nonce, required.
    pub nonce: Cow<'a, str>,
    /// Opaque data the client must echo.
    pub opaque: Option<Cow<'a, str>>,
    /// `stale=true`: the nonce expired but the credentials were right, so retry silently.
    pub stale: bool,
    /// The `algorithm`; `None` means the parameter was absent, which implies MD5.
    pub algorithm: Option<Algorithm>,
    /// The `qop` options; `None` means RFC 2069 compatibility mode (no qop).
    pub qop: Option<QopOptions>,
}

impl<'a> Challenge<'a> {
    /// Parses a challenge header value such as `Digest realm="x", nonce="y", qop="auth"`.
    ///
    /// The scheme and parameter names are case-insensitive, unknown parameters are ignored,
    /// duplicated known parameters are rejected, and an unknown `algorithm` is an error so
    /// that a client facing several challenges (RFC 8760 §2.4) can skip the ones it cannot use.
    pub fn parse(value: &'a str) -> Result<Self, DigestError> {
        let mut realm = None;
        let mut domain = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut stale = None;
        let mut algorithm = None;
        let mut qop = None;
        parse_params(value, |name, v| {
            if name.eq_ignore_ascii_case("realm") {
                put(&mut realm, v, "realm")
            } else if name.eq_ignore_ascii_case("domain") {
                put(&mut domain, v, "domain")
            } else if name.eq_ignore_ascii_case("nonce") {
                put(&mut nonce, v, "nonce")
            } else if name.eq_ignore_ascii_case("opaque") {
                put(&mut opaque, v, "opaque")
            } else if name.eq_ignore_ascii_case("stale") {
                put(&mut stale, v, "stale")
            } else if name.eq_ignore_ascii_case("algorithm") {
                put(&mut algorithm, v, "algorithm")
            } else if name.eq_ignore_ascii_case("qop") {
                put(&mut qop, v, "qop")
            } else {
                Ok(())
            }
        })?;
        Ok(Self {
            realm: realm.ok_or(DigestError::MissingParam("realm"))?,
            domain,
            nonce: nonce.ok_or(DigestError::MissingParam("nonce"))?,
            opaque,
            // RFC 2617 §3.2.1: anything other than "true" means false.
            stale: stale.is_some_and(|s| s.eq_ignore_ascii_case("true")),
            algorithm: algorithm.map(|a| parse_algorithm(&a)).transpose()?,
            qop: qop.map(|q| QopOptions::parse(&q)),
        })
    }

    /// The algorithm to use: the `algorithm` parameter, or MD5 when it is absent.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }

    /// Appends the header value (`Digest realm="..", ...`) to `out`.
    ///
    /// Fails, leaving `out` unchanged, if a value contains control characters (CR, LF, ...),
    /// which could otherwise inject header lines.
    pub fn write_to(&self, out: &mut String) -> Result<(), DigestError> {
        let start = out.len();
        let result = self.write_unchecked(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Returns the header value as a new string; see [`Challenge::write_to`].
    pub fn to_header_value(&self) -> Result<String, DigestError> {
        let mut out = String::with_capacity(128);
        self.write_to(&mut out)?;
        Ok(out)
    }

    fn write_unchecked(&self, out: &mut String) -> Result<(), DigestError> {
        let mut w = ParamWriter::new(out);
        w.quoted("realm", &self.realm)?;
        if let Some(domain) = &self.domain {
            w.quoted("domain", domain)?;
        }
        w.quoted("nonce", &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque)?;
        }
        if self.stale {
            w.token("stale", "true");
        }
        if let Some(algorithm) = self.algorithm {
            w.token("algorithm", algorithm.name());
        }
        if let Some(qop) = self.qop {
            let list = match (qop.auth, qop.auth_int) {
                (true, true) => Some("auth,auth-int"),
                (true, false) => Some("auth"),
                (false, true) => Some("auth-int"),
                (false, false) => None,
            };
            if let Some(list) = list {
                w.quoted("qop", list)?;
            }
        }
        Ok(())
    }
}

/// A parsed `Authorization`/`Proxy-Authorization` Digest credentials value (RFC 7616 §3.4,
/// RFC 3261 §22.4, RFC 3261 §25.1 `digest-response`).
///
/// Its `Debug` output redacts [`Credentials::response`].
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The user name, required.
    pub username: Cow<'a, str>,
    /// The realm, required; the server must check it is its own.
    pub realm: Cow<'a, str>,
    /// The server nonce being answered, required.
    pub nonce: Cow<'a, str>,
    /// The `uri` (digest-uri), required; the server must check it matches the Request-URI.
    pub uri: Cow<'a, str>,
    /// The response digest in hex, required; a credential, never logged.
    pub response: Cow<'a, str>,
    /// The `algorithm`; `None` means the parameter was absent, which implies MD5.
    pub algorithm: Option<Algorithm>,
    /// The client nonce, required when `qop` is present.
    pub cnonce: Option<Cow<'a, str>>,
    /// The server's opaque data, echoed.
    pub opaque: Option<Cow<'a, str>>,
    /// The chosen qop; `None` means RFC 2069 compatibility mode.
    pub qop: Option<Qop>,
    /// The nonce count, required when `qop` is present.
    pub nc: Option<NonceCount>,
}

/// What a client needs, besides the challenge, to answer it (RFC 7616 §3.4).
#[derive(Debug, Clone, Copy)]
pub struct AnswerParams<'a> {
    /// The user name to authenticate as.
    pub username: &'a str,
    /// The password or a precomputed HA1 for the challenge's realm and algorithm.
    pub secret: Secret<'a>,
    /// The request method, e.g. `REGISTER`.
    pub method: &'a str,
    /// The digest-uri: the Request-URI in SIP (RFC 3261 §22.4).
    pub uri: &'a str,
    /// The message body, hashed only for `qop=auth-int`.
    pub body: &'a [u8],
    /// A fresh client nonce chosen by the caller (used only when the challenge has qop).
    pub cnonce: &'a str,
    /// How many requests this client has sent with this nonce, this one included (from 1).
    pub nc: u32,
}

impl<'a> Credentials<'a> {
    /// Parses a credentials header value such as `Digest username="u", realm="r", ...`.
    ///
    /// Requires `username`, `realm`, `nonce`, `uri` and `response`, plus `cnonce` and `nc`
    /// when `qop` is present (RFC 7616 §3.4). Parameter names are case-insensitive, unknown
    /// parameters are ignored, duplicated known parameters are rejected. `qop`, `nc` and
    /// `algorithm` are accepted quoted or not, as some clients quote them.
    pub fn parse(value: &'a str) -> Result<Self, DigestError> {
        let mut username = None;
        let mut realm = None;
        let mut nonce = None;
        let mut uri = None;
        let mut response = None;
        let mut algorithm = None;
        let mut cnonce = None;
        let mut opaque = None;
        let mut qop = None;
        let mut nc = None;
        parse_params(value, |name, v| {
            if name.eq_ignore_ascii_case("username") {
                put(&mut username, v, "username")
            } else if name.eq_ignore_ascii_case("realm") {
                put(&mut realm, v, "realm")
            } else if name.eq_ignore_ascii_case("nonce") {
                put(&mut nonce, v, "nonce")
            } else if name.eq_ignore_ascii_case("uri") {
                put(&mut uri, v, "uri")
            } else if name.eq_ignore_ascii_case("response") {
                put(&mut response, v, "response")
            } else if name.eq_ignore_ascii_case("algorithm") {
                put(&mut algorithm, v, "algorithm")
            } else if name.eq_ignore_ascii_case("cnonce") {
                put(&mut cnonce, v, "cnonce")
            } else if name.eq_ignore_ascii_case("opaque") {
                put(&mut opaque, v, "opaque")
            } else if name.eq_ignore_ascii_case("qop") {
                put(&mut qop, v, "qop")
            } else if name.eq_ignore_ascii_case("nc") {
                put(&mut nc, v, "nc")
            } else {
                Ok(())
            }
        })?;
        let qop = qop
            .map(|q| Qop::from_name(&q).ok_or(DigestError::UnsupportedQop))
            .transpose()?;
        let nc = nc.map(|n| NonceCount::parse(&n)).transpose()?;
        if qop.is_some() {
            if cnonce.is_none() {
                return Err(DigestError::MissingParam("cnonce"));
            }
            if nc.is_none() {
                return Err(DigestError::MissingParam("nc"));
            }
        }
        Ok(Self {
            username: username.ok_or(DigestError::MissingParam("username"))?,
            realm: realm.ok_or(DigestError::MissingParam("realm"))?,
            nonce: nonce.ok_or(DigestError::MissingParam("nonce"))?,
            uri: uri.ok_or(DigestError::MissingParam("uri"))?,
            response: response.ok_or(DigestError::MissingParam("response"))?,
            algorithm: algorithm.map(|a| parse_algorithm(&a)).transpose()?,
            cnonce,
            opaque,
            qop,
            nc,
        })
    }

    /// Builds the credentials answering `challenge` (RFC 7616 §3.4), computing the response.
    ///
    /// Picks `qop=auth` when offered, else `auth-int`; with no qop in the challenge it
    /// answers in RFC 2069 mode (no cnonce, no nc). Echoes `algorithm` and `opaque`.
    /// Fails with [`DigestError::UnsupportedQop`] if the challenge offers only unknown qop
    /// values, and with [`DigestError::MissingParam`] for a `-sess` algorithm without qop.
    pub fn answer(
        challenge: &Challenge<'a>,
        params: &AnswerParams<'a>,
    ) -> Result<Self, DigestError> {
        let (qop, cnonce, nc) = match challenge.qop {
            None => (None, None, None),
            Some(offered) => {
                let qop = if offered.auth {
                    Qop::Auth
                } else if offered.auth_int {
                    Qop::AuthInt
                } else {
                    return Err(DigestError::UnsupportedQop);
                };
                (
                    Some(qop),
                    Some(Cow::Borrowed(params.cnonce)),
                    Some(NonceCount::new(params.nc)),
                )
            }
        };
        let mut credentials = Self {
            username: Cow::Borrowed(params.username),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri: Cow::Borrowed(params.uri),
            response: Cow::Borrowed(""),
            algorithm: challenge.algorithm,
            cnonce,
            opaque: challenge.opaque.clone(),
            qop,
            nc,
        };
        let response = compute_response(&credentials, params.method, params.secret, params.body)?;
        credentials.response = Cow::Owned(response.as_str().to_owned());
        Ok(credentials)
    }

    /// The algorithm in use: the `algorithm` parameter, or MD5 when it is absent.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }

    /// Appends the header value (`Digest username="..", ...`) to `out`.
    ///
    /// Fails, leaving `out` unchanged, if a value contains control characters (CR, LF, ...)
    /// or if `qop` is set without `cnonce` and `nc`.
    pub fn write_to(&self, out: &mut String) -> Result<(), DigestError> {
        let start = out.len();
        let result = self.write_unchecked(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Returns the header value as a new string; see [`Credentials::write_to`].
    pub fn to_header_value(&self) -> Result<String, DigestError> {
        let mut out = String::with_capacity(256);
        self.write_to(&mut out)?;
        Ok(out)
    }

    fn write_unchecked(&self, out: &mut String) -> Result<(), DigestError> {
        let mut w = ParamWriter::new(out);
        w.quoted("username", &self.username)?;
        w.quoted("realm", &self.realm)?;
        w.quoted("nonce", &self.nonce)?;
        w.quoted("uri", &self.uri)?;
        w.quoted("response", &self.response)?;
        if let Some(algorithm) = self.algorithm {
            w.token("algorithm", algorithm.name());
        }
        if let Some(cnonce) = &self.cnonce {
            w.quoted("cnonce", cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque)?;
        }
        if let Some(qop) = self.qop {
            w.token("qop", qop.name());
            let nc = self.nc.ok_or(DigestError::MissingParam("nc"))?;
            if self.cnonce.is_none() {
                return Err(DigestError::MissingParam("cnonce"));
            }
            w.token("nc", nc.as_str());
        } else if let Some(nc) = self.nc {
            w.token("nc", nc.as_str());
        }
        Ok(())
    }
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("nonce", &self.nonce)
            .field("uri", &self.uri)
            .field("response", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("cnonce", &self.cnonce)
            .field("opaque", &self.opaque)
            .field("qop", &self.qop)
            .field("nc", &self.nc)
            .finish()
    }
}

fn parse_algorithm(name: &str) -> Result<Algorithm, DigestError> {
    Algorithm::from_name(name).ok_or(DigestError::UnsupportedAlgorithm)
}

/// Stores `value` in an empty slot, or fails because the parameter is duplicated.
fn put<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), DigestError> {
    if slot.is_some() {
        return Err(DigestError::DuplicateParam(name));
    }
    *slot = Some(value);
    Ok(())
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_ws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `tchar` of RFC 7230 §3.2.6, the characters of a token (SIP's RFC 3261 §25.1 `token` is
/// the same set minus a few that never occur in digest parameter names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte cursor over a header value; every slice is taken with `get`, so it never panics.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Advances over bytes matching `pred` and returns them; the predicates used here stop
    /// only at ASCII bytes or the end, so the slice lies on character boundaries (and `get`
    /// checks that anyway).
    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// Reads a quoted-string (RFC 7230 §3.2.6, RFC 3261 §25.1) starting at `"`, unescaping
    /// quoted-pairs; borrowed when there are none.
    fn quoted(&mut self) -> Result<Cow<'a, str>, DigestError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(DigestError::UnterminatedQuote { offset: open }),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    // Skips the escaped byte; if it starts a multi-byte character, its
                    // continuation bytes are never `"` or `\`, so scanning stays correct.
                    self.pos += 2;
                }
                Some(_) => self.pos += 1,
            }
        }
        let inner = self
            .s
            .get(start..self.pos)
            .ok_or(DigestError::UnterminatedQuote { offset: open })?;
        self.pos += 1;
        if !escaped {
            return Ok(Cow::Borrowed(inner));
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else {
                out.push(c);
            }
        }
        Ok(Cow::Owned(out))
    }
}

/// Parses `Digest` followed by a comma-separated `name=value` list, calling `f` for each
/// parameter; empty list elements and whitespace (including folded CRLF) are tolerated.
fn parse_params<'a>(
    input: &'a str,
    mut f: impl FnMut(&'a str, Cow<'a, str>) -> Result<(), DigestError>,
) -> Result<(), DigestError> {
    let mut lx = Lexer { s: input, pos: 0 };
    lx.skip_ws();
    let scheme = lx.take_while(is_tchar);
    if !scheme.eq_ignore_ascii_case("Digest") || lx.peek().is_some_and(|b| !is_ws(b)) {
        return Err(DigestError::NotDigest);
    }
    loop {
        while lx.peek().is_some_and(|b| is_ws(b) || b == b',') {
            lx.pos += 1;
        }
        if lx.peek().is_none() {
            return Ok(());
        }
        let name_at = lx.pos;
        let name = lx.take_while(is_tchar);
        if name.is_empty() {
            return Err(DigestError::ExpectedParamName { offset: name_at });
        }
        lx.skip_ws();
        if lx.peek() != Some(b'=') {
            return Err(DigestError::ExpectedEquals { offset: lx.pos });
        }
        lx.pos += 1;
        lx.skip_ws();
        let value = if lx.peek() == Some(b'"') {
            lx.quoted()?
        } else {
            let value_at = lx.pos;
            let token = lx.take_while(|b| !is_ws(b) && b != b',' && b != b'"');
            if token.is_empty() {
                return Err(DigestError::ExpectedValue { offset: value_at });
            }
            Cow::Borrowed(token)
        };
        f(name, value)?;
        lx.skip_ws();
        match lx.peek() {
            None => return Ok(()),
            Some(b',') => {}
            Some(_) => return Err(DigestError::ExpectedComma { offset: lx.pos }),
        }
    }
}

/// Writes `name=value` parameters after the `Digest` scheme, separated by `, `.
struct ParamWriter<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> ParamWriter<'o> {
    fn new(out: &'o mut String) -> Self {
        out.push_str("Digest ");
        Self { out, first: true }
    }

    fn sep(&mut self, name: &str) {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        self.out.push_str(name);
        self.out.push('=');
    }

    fn token(&mut self, name: &str, value: &str) {
        self.sep(name);
        self.out.push_str(value);
    }

    fn quoted(&mut self, name: &'static str, value: &str) -> Result<(), DigestError> {
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(DigestError::InvalidValue(name));
        }
        self.sep(name);
        self.out.push('"');
        for c in value.chars() {
            if c == '"' || c == '\\' {
                self.out.push('\\');
            }
            self.out.push(c);
        }
        self.out.push('"');
        Ok(())
    }
}

#[cfg(test)]
mod tests;
