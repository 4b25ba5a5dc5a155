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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC2617_AUTH: &str = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn parses_rfc2617_challenge() {
        let c = Challenge::parse(
            r#"Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(
            c.qop,
            Some(QopOptions {
                auth: true,
                auth_int: true
            })
        );
        assert!(!c.stale);
        assert_eq!(c.algorithm, None);
        assert_eq!(c.algorithm(), Algorithm::Md5);
        assert!(matches!(c.realm, Cow::Borrowed(_)), "zero-copy");
    }

    #[test]
    fn parses_sip_challenge_rfc3665() {
        // RFC 3665 §3.1 F2 style Proxy-Authenticate, with a stale flag and odd casing.
        let c = Challenge::parse(
            r#"dIgEsT REALM="atlanta.example.com", domain="sip:ss1.example.com",
               QOP="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="",
               stale=TRUE, algorithm=md5"#,
        )
        .unwrap();
        assert_eq!(c.realm, "atlanta.example.com");
        assert_eq!(c.domain.as_deref(), Some("sip:ss1.example.com"));
        assert_eq!(c.opaque.as_deref(), Some(""));
        assert!(c.stale);
        assert_eq!(c.algorithm, Some(Algorithm::Md5));
        assert!(c.qop.unwrap().contains(Qop::Auth));
        assert!(!c.qop.unwrap().contains(Qop::AuthInt));
    }

    #[test]
    fn stale_other_than_true_is_false() {
        for v in ["FALSE", "false", "\"yes\"", "1"] {
            let text = format!("Digest realm=r, nonce=n, stale={v}");
            let c = Challenge::parse(&text).unwrap();
            assert!(!c.stale, "{v}");
        }
        let c = Challenge::parse("Digest realm=r, nonce=n, stale=\"true\"").unwrap();
        assert!(c.stale);
    }

    #[test]
    fn challenge_qop_ignores_unknown_values() {
        let c = Challenge::parse(r#"Digest realm="r", nonce="n", qop=" auth-conf , auth-int ""#)
            .unwrap();
        assert_eq!(
            c.qop,
            Some(QopOptions {
                auth: false,
                auth_int: true
            })
        );
    }

    #[test]
    fn parses_rfc2617_credentials() {
        let c = Credentials::parse(RFC2617_AUTH).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.uri, "/dir/index.html");
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc, Some(NonceCount::new(1)));
        assert_eq!(c.cnonce.as_deref(), Some("0a4f113b"));
        assert_eq!(c.response, "6629fae49393a05397450978507c4ef1");
        assert_eq!(c.algorithm(), Algorithm::Md5);
    }

    #[test]
    fn parses_sip_credentials_rfc3665() {
        let c = Credentials::parse(
            r#"Digest username="bob", realm="biloxi.example.com",
               nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="",
               uri="sip:ss2.example.com", response="dfe56131d1958046689d83306477ecc""#,
        )
        .unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(c.uri, "sip:ss2.example.com");
        assert_eq!(c.qop, None);
        assert_eq!(c.nc, None);
    }

    #[test]
    fn tolerates_quoted_tokens_and_messy_commas() {
        let c = Credentials::parse(
            " Digest ,, username = \"u\" ,realm=\"r\",,nonce=\"n\", uri=\"sip:a\", \
             response=\"00\", qop=\"AUTH\", nc=\"0000000a\", cnonce=\"c\", algorithm=\"sha-256\", \
             x-unknown=\"whatever, with comma\", another=tok ,",
        )
        .unwrap();
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc.unwrap().value(), 10);
        assert_eq!(c.algorithm, Some(Algorithm::Sha256));
    }

    #[test]
    fn unescapes_quoted_pairs() {
        let c = Challenge::parse(r#"Digest realm="a \"quoted\" \\ realm", nonce="n\x""#).unwrap();
        assert_eq!(c.realm, r#"a "quoted" \ realm"#);
        assert!(matches!(c.realm, Cow::Owned(_)));
        assert_eq!(c.nonce, "nx");
        // Non-ASCII content, escaped or not.
        let c = Challenge::parse("Digest realm=\"rö\\ä\", nonce=\"ñ\"").unwrap();
        assert_eq!(c.realm, "röä");
        assert_eq!(c.nonce, "ñ");
    }

    #[test]
    fn rejects_malformed_headers() {
        use DigestError as E;
        let cases: &[(&str, DigestError)] = &[
            ("", E::NotDigest),
            ("Basic realm=\"x\"", E::NotDigest),
            ("Digestrealm=\"x\"", E::NotDigest),
            ("Digest, realm=x, nonce=y", E::NotDigest),
            (
                "Digest realm=\"x\", nonce=\"y",
                E::UnterminatedQuote { offset: 24 },
            ),
            ("Digest realm=\"x\\\"", E::UnterminatedQuote { offset: 13 }),
            (
                "Digest realm=\"x\" nonce=\"y\"",
                E::ExpectedComma { offset: 17 },
            ),
            ("Digest realm \"x\"", E::ExpectedEquals { offset: 13 }),
            ("Digest realm=, nonce=y", E::ExpectedValue { offset: 13 }),
            ("Digest realm=", E::ExpectedValue { offset: 13 }),
            ("Digest =x", E::ExpectedParamName { offset: 7 }),
            (
                "Digest realm=x, nonce=y, Realm=z",
                E::DuplicateParam("realm"),
            ),
            ("Digest nonce=y", E::MissingParam("realm")),
            ("Digest realm=x", E::MissingParam("nonce")),
            ("Digest", E::MissingParam("realm")),
            (
                "Digest realm=x, nonce=y, algorithm=SHA-1",
                E::UnsupportedAlgorithm,
            ),
            (
                "Digest realm=x, nonce=y, Basic realm=z",
                E::ExpectedEquals { offset: 31 },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Challenge::parse(input).as_ref(), Err(want), "{input:?}");
        }
        let base = r#"Digest username="u", realm="r", nonce="n", uri="/", response="00""#;
        let cred_cases: &[(String, DigestError)] = &[
            (
                format!("{base}, qop=auth, nc=00000001"),
                E::MissingParam("cnonce"),
            ),
            (format!("{base}, qop=auth, cnonce=c"), E::MissingParam("nc")),
            (
                format!("{base}, qop=auth-conf, cnonce=c, nc=00000001"),
                E::UnsupportedQop,
            ),
            (
                format!("{base}, qop=auth, cnonce=c, nc=1"),
                E::InvalidNonceCount,
            ),
            (format!("{base}, username=v"), E::DuplicateParam("username")),
            (format!("{base}, algorithm=foo"), E::UnsupportedAlgorithm),
            (base.replace("uri=\"/\", ", ""), E::MissingParam("uri")),
            (
                base.replace(", response=\"00\"", ""),
                E::MissingParam("response"),
            ),
        ];
        for (input, want) in cred_cases {
            assert_eq!(Credentials::parse(input).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn challenge_round_trips() {
        let c = Challenge {
            realm: "sbc \"edge\" \\ example.com".into(),
            domain: Some("sip:example.com sip:example.net".into()),
            nonce: "abc/+=".into(),
            opaque: Some(String::new().into()),
            stale: true,
            algorithm: Some(Algorithm::Sha256),
            qop: Some(QopOptions {
                auth: true,
                auth_int: true,
            }),
        };
        let text = c.to_header_value().unwrap();
        assert_eq!(
            text,
            r#"Digest realm="sbc \"edge\" \\ example.com", domain="sip:example.com sip:example.net", nonce="abc/+=", opaque="", stale=true, algorithm=SHA-256, qop="auth,auth-int""#
        );
        assert_eq!(Challenge::parse(&text).unwrap(), c);

        let minimal = Challenge {
            realm: "r".into(),
            domain: None,
            nonce: "n".into(),
            opaque: None,
            stale: false,
            algorithm: None,
            qop: None,
        };
        let text = minimal.to_header_value().unwrap();
        assert_eq!(text, r#"Digest realm="r", nonce="n""#);
        assert_eq!(Challenge::parse(&text).unwrap(), minimal);
    }

    #[test]
    fn credentials_round_trip() {
        let c = Credentials::parse(RFC2617_AUTH).unwrap();
        let text = c.to_header_value().unwrap();
        assert_eq!(
            text,
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001"#
        );
        assert_eq!(Credentials::parse(&text).unwrap(), c);
    }

    #[test]
    fn serialization_rejects_control_characters() {
        let mut c = Credentials::parse(RFC2617_AUTH).unwrap();
        c.username = "evil\r\nVia: x".into();
        let mut out = String::from("prefix");
        assert_eq!(
            c.write_to(&mut out),
            Err(DigestError::InvalidValue("username"))
        );
        assert_eq!(out, "prefix", "buffer restored on error");
        let mut c = Credentials::parse(RFC2617_AUTH).unwrap();
        c.nc = None;
        assert_eq!(c.to_header_value(), Err(DigestError::MissingParam("nc")));
        let ch = Challenge {
            realm: "r\0".into(),
            domain: None,
            nonce: "n".into(),
            opaque: None,
            stale: false,
            algorithm: None,
            qop: None,
        };
        assert_eq!(
            ch.to_header_value(),
            Err(DigestError::InvalidValue("realm"))
        );
    }

    #[test]
    fn debug_redacts_response() {
        let c = Credentials::parse(RFC2617_AUTH).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("6629fae4"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        assert!(dbg.contains("Mufasa"));
        let params = AnswerParams {
            username: "u",
            secret: Secret::Password("hunter2"),
            method: "REGISTER",
            uri: "sip:example.com",
            body: b"",
            cnonce: "c",
            nc: 1,
        };
        assert!(!format!("{params:?}").contains("hunter2"));
    }

    fn value_strategy() -> impl Strategy<Value = String> {
        // Printable text including quotes, backslashes, commas, '=' and non-ASCII.
        "[ -~\tàé€]{0,24}"
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            let _ = Challenge::parse(&s);
            let _ = Credentials::parse(&s);
        }

        #[test]
        fn parsers_never_panic_on_digest_like_input(
            s in r#"[Dd]igest[ ,]{0,3}[a-zA-Z =,"\\\t\r\n0-9é]{0,80}"#
        ) {
            let _ = Challenge::parse(&s);
            let _ = Credentials::parse(&s);
        }

        #[test]
        fn challenge_serialize_parse_round_trip(
            realm in value_strategy(),
            nonce in value_strategy(),
            opaque in proptest::option::of(value_strategy()),
            stale in any::<bool>(),
            auth in any::<bool>(),
        ) {
            let c = Challenge {
                realm: realm.into(),
                domain: None,
                nonce: nonce.into(),
                opaque: opaque.map(Cow::Owned),
                stale,
                algorithm: Some(Algorithm::Sha256Sess),
                qop: Some(QopOptions { auth, auth_int: true }),
            };
            let text = c.to_header_value().unwrap();
            prop_assert_eq!(Challenge::parse(&text).unwrap(), c);
        }

        #[test]
        fn credentials_serialize_parse_round_trip(
            username in value_strategy(),
            uri in value_strategy(),
            cnonce in value_strategy(),
            nc in any::<u32>(),
        ) {
            let c = Credentials {
                username: username.into(),
                realm: "r".into(),
                nonce: "n".into(),
                uri: uri.into(),
                response: "00ff".into(),
                algorithm: Some(Algorithm::Md5),
                cnonce: Some(cnonce.into()),
                opaque: None,
                qop: Some(Qop::AuthInt),
                nc: Some(NonceCount::new(nc)),
            };
            let text = c.to_header_value().unwrap();
            prop_assert_eq!(Credentials::parse(&text).unwrap(), c);
        }
    }
}
