//! Digest access authentication for SIP and HTTP (RFC 2617, RFC 7616, RFC 8760, RFC 3261 §22).
//!
//! The SBC uses digest authentication in two roles:
//!
//! - **Server** (challenging customers): answer an unauthenticated request with a
//!   [`Challenge`] whose nonce comes from a [`NonceIssuer`]; when the request comes back,
//!   parse the `Authorization`/`Proxy-Authorization` value with [`Credentials::parse`], then
//!   1. check that [`Credentials::realm`] is ours and that [`Credentials::uri`] matches the
//!      Request-URI (RFC 2617 §3.2.2.5; this module cannot know the Request-URI),
//!   2. [`NonceIssuer::check`] the nonce: [`NonceCheck::Invalid`] means forged or garbage,
//!      [`NonceCheck::Stale`] means re-challenge with `stale=true` (RFC 7616 §3.3) so the
//!      client retries without asking its user,
//!   3. look up the user's stored HA1 (see [`ha1`]) and call [`verify`], which compares
//!      responses in constant time.
//! - **Client** (registering upstream to a core): parse the core's `WWW-Authenticate`/
//!   `Proxy-Authenticate` value with [`Challenge::parse`] and build the answer with
//!   [`Credentials::answer`], then serialize it with [`Credentials::to_header_value`].
//!
//! Parsers borrow the input: each field is a [`Cow`](std::borrow::Cow) that is borrowed
//! unless the quoted-string contained `\` escapes. Parsing never panics; bad input yields a
//! [`DigestError`].
//!
//! Time and randomness are inputs: [`NonceIssuer::issue`] takes the current Unix time and a
//! salt from the caller, and [`Credentials::answer`] takes the client nonce (`cnonce`).
//!
//! **Not done here:** nonce-count replay tracking (RFC 7616 §3.4, "the server ... SHOULD
//! check that the nonce-count value is greater than the last one"). Nonces are stateless, so
//! within its lifetime a captured request can be replayed; a caller that needs replay
//! protection keeps, per nonce, the highest [`NonceCount`] seen and rejects lower or equal
//! values. The `userhash` parameter and `username*` (RFC 7616 §3.4.4/§3.4) are not
//! supported: they are ignored like any unknown parameter.

mod compute;
mod nonce;
mod params;

use std::fmt;

use subtle::{Choice, ConstantTimeEq};

pub use compute::{compute_ha1, compute_response, ha1, ha2, response, session_ha1, verify};
pub use nonce::{NonceCheck, NonceIssuer};
pub use params::{AnswerParams, Challenge, Credentials, QopOptions};

/// Errors from parsing, serializing or computing digest authentication values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header value does not start with the `Digest` scheme (RFC 7616 §3.3).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// A parameter name (token) was expected at this byte offset.
    #[error("expected a parameter name at byte {offset}")]
    ExpectedParamName {
        /// Byte offset into the header value.
        offset: usize,
    },
    /// A parameter name was not followed by `=`.
    #[error("expected '=' after parameter name at byte {offset}")]
    ExpectedEquals {
        /// Byte offset into the header value.
        offset: usize,
    },
    /// A parameter value (token or quoted-string) was expected at this byte offset.
    #[error("expected a parameter value at byte {offset}")]
    ExpectedValue {
        /// Byte offset into the header value.
        offset: usize,
    },
    /// A quoted-string was not closed.
    #[error("unterminated quoted string starting at byte {offset}")]
    UnterminatedQuote {
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// Two parameters were not separated by a comma.
    #[error("expected ',' between parameters at byte {offset}")]
    ExpectedComma {
        /// Byte offset into the header value.
        offset: usize,
    },
    /// A known parameter appeared twice.
    #[error("duplicate parameter `{0}`")]
    DuplicateParam(&'static str),
    /// A parameter required by RFC 7616 §3.3/§3.4 is absent.
    #[error("missing required parameter `{0}`")]
    MissingParam(&'static str),
    /// The `algorithm` is not one of MD5, SHA-256, SHA-512-256 or their `-sess` variants.
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// The `qop` is not `auth` or `auth-int`, or a challenge offers neither.
    #[error("unsupported quality of protection (qop)")]
    UnsupportedQop,
    /// The `nc` parameter is not exactly 8 hexadecimal digits (RFC 7616 §3.4).
    #[error("invalid nonce count: expected 8 hex digits")]
    InvalidNonceCount,
    /// A value cannot be serialized (it contains control characters such as CR or LF).
    #[error("invalid value for parameter `{0}`")]
    InvalidValue(&'static str),
    /// A stored HA1 is not a hex string of the length the algorithm produces.
    #[error("stored HA1 is not a hex digest of the expected length")]
    InvalidHa1,
}

/// A digest algorithm (RFC 7616 §3.4.2 and §3.4.6; SHA-512-256 from RFC 8760 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the default when no `algorithm` parameter is present (RFC 2617 §3.2.1).
    Md5,
    /// `MD5-sess`: HA1 also covers the server nonce and client nonce.
    Md5Sess,
    /// `SHA-256` (RFC 7616 §3.4.2).
    Sha256,
    /// `SHA-256-sess` (RFC 7616 §3.4.2).
    Sha256Sess,
    /// `SHA-512-256`, SHA-512 truncated to 256 bits (RFC 7616 §3.4.2, RFC 8760 §2.2).
    Sha512_256,
    /// `SHA-512-256-sess` (RFC 7616 §3.4.2).
    Sha512_256Sess,
}

impl Algorithm {
    /// Parses an algorithm name case-insensitively (RFC 7616 §3.3); `None` if unknown.
    pub fn from_name(name: &str) -> Option<Self> {
        const ALL: [Algorithm; 6] = [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
            Algorithm::Sha512_256,
            Algorithm::Sha512_256Sess,
        ];
        ALL.into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The canonical name as written in the `algorithm` parameter (RFC 7616 §3.3).
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Whether this is a `-sess` variant, whose HA1 includes nonce and cnonce (RFC 7616 §3.4.2).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    /// The number of hex digits in this algorithm's digests (32 for MD5, 64 otherwise).
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 | Self::Md5Sess => 32,
            Self::Sha256 | Self::Sha256Sess | Self::Sha512_256 | Self::Sha512_256Sess => 64,
        }
    }
}

/// A quality-of-protection value (RFC 7616 §3.3, RFC 2617 §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: authentication of method and URI.
    Auth,
    /// `auth-int`: authentication with integrity protection of the message body.
    AuthInt,
}

impl Qop {
    /// Parses a qop token case-insensitively; `None` if unknown (e.g. `auth-conf`).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("auth") {
            Some(Self::Auth)
        } else if name.eq_ignore_ascii_case("auth-int") {
            Some(Self::AuthInt)
        } else {
            None
        }
    }

    /// The token as written in the `qop` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

/// A nonce count: exactly 8 hex digits, kept as sent because it enters the response hash
/// verbatim (RFC 7616 §3.4, RFC 2617 §3.2.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceCount([u8; 8]);

impl NonceCount {
    /// Builds the nonce count for the `count`-th request with one nonce, in lower-case hex.
    pub fn new(count: u32) -> Self {
        let mut text = [0u8; 8];
        for (pair, byte) in text.chunks_exact_mut(2).zip(count.to_be_bytes()) {
            if let [hi, lo] = pair {
                *hi = hex_digit(byte >> 4);
                *lo = hex_digit(byte & 0xf);
            }
        }
        Self(text)
    }

    /// Parses an `nc` value, which must be exactly 8 hex digits (RFC 7616 §3.4).
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let bytes: [u8; 8] = text
            .as_bytes()
            .try_into()
            .map_err(|_| DigestError::InvalidNonceCount)?;
        if bytes.iter().all(u8::is_ascii_hexdigit) {
            Ok(Self(bytes))
        } else {
            Err(DigestError::InvalidNonceCount)
        }
    }

    /// The numeric value of the count.
    pub fn value(self) -> u32 {
        self.0.iter().fold(0u32, |acc, &d| {
            (acc << 4) | u32::from(hex_value(d).unwrap_or(0))
        })
    }

    /// The 8 hex digits exactly as sent or built.
    pub fn as_str(&self) -> &str {
        // Always ASCII hex digits, by construction.
        std::str::from_utf8(&self.0).unwrap_or("00000000")
    }
}

impl fmt::Debug for NonceCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NonceCount({})", self.as_str())
    }
}

/// A lower-case hex digest (HA1, HA2 or a response) held on the stack.
///
/// Its `Debug` output is redacted, since an HA1 is password-equivalent and a response is a
/// credential. It has no `PartialEq`; compare with [`ConstantTimeEq`].
#[derive(Clone, Copy)]
pub struct HexDigest {
    buf: [u8; 64],
    len: u8,
}

impl HexDigest {
    /// Encodes raw digest bytes (up to 32) as lower-case hex.
    fn from_bytes(bytes: &[u8]) -> Self {
        let mut buf = [0u8; 64];
        let mut len = 0u8;
        for (pair, &b) in buf.chunks_exact_mut(2).zip(bytes) {
            if let [hi, lo] = pair {
                *hi = hex_digit(b >> 4);
                *lo = hex_digit(b & 0xf);
                len += 2;
            }
        }
        Self { buf, len }
    }

    /// Parses a hex string of at most 64 digits (either case), normalising it to lower case;
    /// `None` if it is empty, too long or not hex.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut buf = [0u8; 64];
        for (dst, src) in buf.iter_mut().zip(hex.bytes()) {
            *dst = src.to_ascii_lowercase();
        }
        let len = u8::try_from(hex.len()).ok()?;
        Some(Self { buf, len })
    }

    /// The digest as lower-case hex.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or(&[]);
        // Always ASCII hex digits, by construction.
        std::str::from_utf8(bytes).unwrap_or("")
    }

    /// The number of hex digits.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the digest is empty (never true for computed digests).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl ConstantTimeEq for HexDigest {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.as_str().as_bytes().ct_eq(other.as_str().as_bytes())
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HexDigest(<redacted>)")
    }
}

/// What the verifier knows about a user: the clear password or the stored HA1.
///
/// A stored HA1 is `H(username ":" realm ":" password)` for the non-`-sess` form of the
/// algorithm (RFC 7616 §3.4.2), as computed by [`ha1`]; it is specific to the algorithm and
/// realm, so an account offered with MD5 and SHA-256 needs one HA1 per algorithm.
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    /// The user's password in clear.
    Password(&'a str),
    /// A precomputed HA1 in hex (either case).
    Ha1(&'a str),
}

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::Ha1(_) => f.write_str("Ha1(<redacted>)"),
        }
    }
}

/// Lower-case hex digit for a nibble (only the low 4 bits are used).
fn hex_digit(nibble: u8) -> u8 {
    match nibble & 0xf {
        n @ 0..=9 => b'0' + n,
        n => b'a' + (n - 10),
    }
}

/// Value of a hex digit of either case.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_case_insensitively() {
        for name in [
            "MD5",
            "MD5-sess",
            "SHA-256",
            "SHA-256-sess",
            "SHA-512-256",
            "SHA-512-256-sess",
        ] {
            let alg = Algorithm::from_name(&name.to_ascii_lowercase()).unwrap();
            assert_eq!(alg.name(), name);
        }
        assert_eq!(Algorithm::from_name("md5-SESS"), Some(Algorithm::Md5Sess));
        assert_eq!(Algorithm::from_name("SHA-1"), None);
        assert_eq!(Algorithm::from_name(""), None);
        assert!(Algorithm::Sha256Sess.is_session());
        assert!(!Algorithm::Sha256.is_session());
        assert_eq!(Algorithm::Md5Sess.hex_len(), 32);
        assert_eq!(Algorithm::Sha512_256.hex_len(), 64);
    }

    #[test]
    fn qop_names() {
        assert_eq!(Qop::from_name("AUTH"), Some(Qop::Auth));
        assert_eq!(Qop::from_name("auth-int"), Some(Qop::AuthInt));
        assert_eq!(Qop::from_name("auth-conf"), None);
        assert_eq!(Qop::AuthInt.name(), "auth-int");
    }

    #[test]
    fn nonce_count_formats_and_parses() {
        assert_eq!(NonceCount::new(1).as_str(), "00000001");
        assert_eq!(NonceCount::new(0xdead_beef).as_str(), "deadbeef");
        assert_eq!(NonceCount::new(u32::MAX).value(), u32::MAX);
        let nc = NonceCount::parse("0000000A").unwrap();
        assert_eq!(nc.value(), 10);
        assert_eq!(nc.as_str(), "0000000A", "kept verbatim for hashing");
        for bad in [
            "",
            "1",
            "0000001",
            "000000001",
            "0000000g",
            "+0000001",
            "0000000é",
        ] {
            assert_eq!(
                NonceCount::parse(bad),
                Err(DigestError::InvalidNonceCount),
                "{bad}"
            );
        }
    }

    #[test]
    fn hex_digest_normalises_and_compares() {
        let a = HexDigest::from_hex("ABCDEF0123").unwrap();
        let b = HexDigest::from_hex("abcdef0123").unwrap();
        assert_eq!(a.as_str(), "abcdef0123");
        assert_eq!(a.len(), 10);
        assert!(bool::from(a.ct_eq(&b)));
        let c = HexDigest::from_hex("abcdef0124").unwrap();
        assert!(!bool::from(a.ct_eq(&c)));
        assert!(HexDigest::from_hex("").is_none());
        assert!(HexDigest::from_hex("xyz").is_none());
        assert!(HexDigest::from_hex(&"a".repeat(65)).is_none());
        assert_eq!(HexDigest::from_bytes(&[0x01, 0xfe]).as_str(), "01fe");
    }

    #[test]
    fn debug_output_is_redacted() {
        let d = HexDigest::from_hex("6629fae49393a05397450978507c4ef1").unwrap();
        assert!(!format!("{d:?}").contains("6629"));
        let s = Secret::Password("Circle Of Life");
        assert!(!format!("{s:?}").contains("Circle"));
        let s = Secret::Ha1("939e7578ed9e3c518a452acee763bce9");
        assert!(!format!("{s:?}").contains("939e"));
    }
}
