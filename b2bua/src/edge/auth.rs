//! Digest authentication of customers (RFC 3261 §22, RFC 7616, RFC 8760): challenges with
//! `qop=auth` for each configured algorithm (SHA-256, MD5), verification of `Authorization`
//! (REGISTER, 401) and `Proxy-Authorization` (other requests, 407) against `[[user]]`, stateless
//! nonces with `stale=true` re-challenges.
//!
//! The computation, nonces and constant-time comparison are [`sbc_common::digest`]'s; this module
//! adds the server policy. An unknown user and a wrong password take the same path (a digest is
//! computed for the unknown user against a throw-away secret) and get the same challenge, so the
//! answers do not reveal which usernames exist.
//!
//! Not done: nonce-count replay tracking (see [`sbc_common::digest`]); `auth-int`.

use std::borrow::Cow;

use sbc_common::digest::{
    self, Algorithm, Challenge, Credentials, NonceCheck, NonceIssuer, QopOptions,
};
use sbc_common::sip::uri::Uri;
use sbc_common::sip::{HeaderName, Message, Method};

use crate::Map;

/// Which header pair a challenge uses (RFC 3261 §22.1, §22.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// The SBC acts as the registrar: 401 with `WWW-Authenticate`, answered in `Authorization`.
    Www,
    /// The SBC acts as a proxy: 407 with `Proxy-Authenticate`, answered in `Proxy-Authorization`.
    Proxy,
}

impl AuthKind {
    /// 401 for REGISTER (the SBC is the user agent server of the registration), 407 for every
    /// other request (RFC 3261 §22.3).
    pub fn for_method(method: &Method) -> Self {
        if *method == Method::Register {
            Self::Www
        } else {
            Self::Proxy
        }
    }

    /// The status code of the challenge (RFC 3261 §21.4.2, §21.4.8).
    pub fn status(self) -> u16 {
        match self {
            Self::Www => 401,
            Self::Proxy => 407,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::Www => "Unauthorized",
            Self::Proxy => "Proxy Authentication Required",
        }
    }

    fn challenge_header(self) -> HeaderName {
        match self {
            Self::Www => HeaderName::WwwAuthenticate,
            Self::Proxy => HeaderName::ProxyAuthenticate,
        }
    }

    fn credentials_header(self) -> HeaderName {
        match self {
            Self::Www => HeaderName::Authorization,
            Self::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// The result of checking one request's credentials (RFC 3261 §22.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The realm does not require authentication (`auth_required = false`).
    NotRequired,
    /// Valid credentials for this user, with a fresh nonce.
    Authenticated {
        /// The digest username.
        username: String,
    },
    /// Answer with [`Authenticator::challenge`].
    Challenge {
        /// The digest was right but the nonce expired or is not ours: `stale=true`
        /// (RFC 7616 §3.3).
        stale: bool,
        /// Why the credentials present were refused; `None` for a first request without
        /// credentials and for stale nonces. Only [`AuthFailure::counts`] failures feed the
        /// throttle.
        failure: Option<AuthFailure>,
        /// The username the credentials named, for the per-user throttle.
        username: Option<String>,
        /// The algorithm the credentials used, for the log.
        algorithm: Option<Algorithm>,
    },
    /// The credentials header cannot be parsed: answer 400 (RFC 3261 §21.4.1).
    Malformed,
}

/// Why credentials were refused, for the log and the throttle (RFC 3261 §22.3, RFC 7616 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No such user in the realm.
    UnknownUser,
    /// The response does not match: a wrong password.
    WrongPassword,
    /// An algorithm this user has no secret for or the realm does not offer (RFC 8760 §2.4):
    /// the client answered a challenge it should not have been given, not a wrong password.
    Algorithm,
    /// The digest `uri` is not the Request-URI (RFC 2617 §3.2.2.5).
    WrongUri,
    /// No `qop=auth`, which every challenge asks for (RFC 7616 §3.4).
    Qop,
    /// Right credentials on an expired nonce or one not issued here (RFC 7616 §3.3).
    StaleNonce,
}

impl AuthFailure {
    /// Whether the failure is a guess at a password (unknown user or wrong password), which the
    /// throttle counts; algorithm, uri, qop and nonce problems are client or timing issues.
    pub fn counts(self) -> bool {
        matches!(self, Self::UnknownUser | Self::WrongPassword)
    }

    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown user",
            Self::WrongPassword => "wrong password",
            Self::Algorithm => "algorithm not usable by this user",
            Self::WrongUri => "uri is not the Request-URI",
            Self::Qop => "qop=auth missing",
            Self::StaleNonce => "stale nonce",
        }
    }
}

/// A user's secret as configured (RFC 7616 §3.4.2).
#[derive(Clone)]
struct UserSecret {
    password: Option<String>,
    /// A stored HA1 and the algorithm it was computed with.
    ha1: Option<(String, Algorithm)>,
    /// The algorithm the user is restricted to.
    only: Option<Algorithm>,
}

impl UserSecret {
    /// Whether this user has a secret usable with `alg`.
    fn can_use(&self, alg: Algorithm) -> bool {
        self.for_algorithm(alg).is_some()
    }

    /// The secret usable with `alg`, if any.
    fn for_algorithm(&self, alg: Algorithm) -> Option<digest::Secret<'_>> {
        if self.only.is_some_and(|only| only != alg) {
            return None;
        }
        if let Some(p) = &self.password {
            return Some(digest::Secret::Password(p));
        }
        match &self.ha1 {
            Some((h, a)) if *a == alg => Some(digest::Secret::Ha1(h)),
            _ => None,
        }
    }
}

impl std::fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserSecret(<redacted>)")
    }
}

#[derive(Debug)]
struct RealmAuth {
    /// The realm as configured (the digest realm string).
    name: String,
    required: bool,
    issuer: NonceIssuer,
    users: Map<String, UserSecret>,
    /// The algorithms challenged with, in order: the realm's `algorithms`, else `[auth]`'s.
    algorithms: Vec<Algorithm>,
}

/// The digest authenticator of all customer realms (RFC 3261 §22, RFC 7616).
///
/// Time enters as Unix seconds (`now_unix`), since nonces must stay checkable across restarts
/// and cluster nodes sharing `[auth] secret`.
#[derive(Debug)]
pub struct Authenticator {
    realms: Map<String, RealmAuth>,
    salt: u64,
    challenges: u64,
    successes: u64,
    failures: u64,
    stale: u64,
}

/// The password a username that does not exist is checked against, so that unknown users cost
/// the same work as known ones.
const DECOY_PASSWORD: &str = "\u{1}decoy";

fn algorithm_of(a: sbc_config::DigestAlgorithm) -> Algorithm {
    match a {
        sbc_config::DigestAlgorithm::Md5 => Algorithm::Md5,
        sbc_config::DigestAlgorithm::Sha256 => Algorithm::Sha256,
    }
}

impl Authenticator {
    /// Builds the authenticator from `[[realm]]`, `[[user]]` and `[auth]`; `secret` is the nonce
    /// key (`[auth] secret`, or random bytes when unset) and `salt_seed` starts the nonce salt
    /// counter (random at start, so nonces differ across restarts).
    pub fn new(cfg: &sbc_config::Config, secret: &[u8], salt_seed: u64) -> Self {
        let mut realms = Map::default();
        for r in &cfg.realms {
            realms.insert(
                r.domain.to_ascii_lowercase(),
                RealmAuth {
                    name: r.domain.clone(),
                    required: r.auth_required,
                    issuer: NonceIssuer::new(
                        secret,
                        &r.domain,
                        u64::from(cfg.auth.nonce_lifetime_s),
                    ),
                    users: Map::default(),
                    algorithms: r
                        .algorithms
                        .as_ref()
                        .unwrap_or(&cfg.auth.algorithms)
                        .iter()
                        .map(|&a| algorithm_of(a))
                        .collect(),
                },
            );
        }
        for u in &cfg.users {
            let Some(realm) = realms.get_mut(&u.realm.to_ascii_lowercase()) else {
                continue;
            };
            let only = u.effective_algorithm().map(algorithm_of);
            let ha1 = u.ha1.as_ref().and_then(|h| {
                let alg = only.unwrap_or(Algorithm::Md5);
                (h.expose().len() == alg.hex_len()).then(|| (h.expose().to_owned(), alg))
            });
            realm.users.insert(
                u.username.clone(),
                UserSecret {
                    password: u.password.as_ref().map(|p| p.expose().to_owned()),
                    ha1,
                    only,
                },
            );
        }
        Self {
            realms,
            salt: salt_seed,
            challenges: 0,
            successes: 0,
            failures: 0,
            stale: 0,
        }
    }

    /// Checks the credentials `req` carries for `realm` (a configured domain, compared
    /// case-insensitively) at `now_unix` (RFC 3261 §22.3, RFC 7616 §3.4).
    ///
    /// Accepted: the header of [`AuthKind::for_method`] whose realm is ours, with `qop=auth`, an
    /// offered algorithm the user may use, a `uri` equal to the Request-URI, a nonce we issued
    /// and a matching response. An unknown realm is treated as not requiring authentication:
    /// the caller decides what an unknown domain gets.
    pub fn authenticate(&mut self, now_unix: u64, req: &Message, realm: &str) -> AuthOutcome {
        let Some(method) = req.method() else {
            return AuthOutcome::Malformed;
        };
        let Some(ra) = self.realms.get(&realm.to_ascii_lowercase()) else {
            return AuthOutcome::NotRequired;
        };
        if !ra.required {
            return AuthOutcome::NotRequired;
        }
        let kind = AuthKind::for_method(method);
        let header = kind.credentials_header();
        let mut creds = None;
        for value in req.values(&header) {
            match Credentials::parse(value) {
                Ok(c) if c.realm.eq_ignore_ascii_case(&ra.name) => {
                    creds = Some(c);
                    break;
                }
                Ok(_) => {}
                Err(digest::DigestError::NotDigest) => {}
                Err(_) => return AuthOutcome::Malformed,
            }
        }
        let Some(creds) = creds else {
            return AuthOutcome::Challenge {
                stale: false,
                failure: None,
                username: None,
                algorithm: None,
            };
        };
        let username = creds.username.to_string();
        let alg = creds.algorithm();
        let user = ra.users.get(username.as_str());
        let secret = user
            .filter(|_| ra.algorithms.contains(&alg))
            .and_then(|u| u.for_algorithm(alg));
        // Unknown users (and users without a secret for this algorithm) are checked against a
        // decoy, so both paths hash the same amount.
        let digest_ok = match secret {
            Some(s) => digest::verify(&creds, method.as_str(), s, req.body()),
            None => {
                let _ = digest::verify(
                    &creds,
                    method.as_str(),
                    digest::Secret::Password(DECOY_PASSWORD),
                    req.body(),
                );
                false
            }
        };
        let failure = if user.is_none() {
            Some(AuthFailure::UnknownUser)
        } else if secret.is_none() {
            Some(AuthFailure::Algorithm)
        } else if !digest_ok {
            Some(AuthFailure::WrongPassword)
        } else if creds.qop != Some(digest::Qop::Auth) {
            Some(AuthFailure::Qop)
        } else if !uri_matches(&creds.uri, req.uri().unwrap_or("")) {
            Some(AuthFailure::WrongUri)
        } else {
            None
        };
        if failure.is_some() {
            self.failures += 1;
            return AuthOutcome::Challenge {
                stale: false,
                failure,
                username: Some(username),
                algorithm: Some(alg),
            };
        }
        match ra.issuer.check(&creds.nonce, now_unix) {
            NonceCheck::Valid => {
                self.successes += 1;
                AuthOutcome::Authenticated { username }
            }
            NonceCheck::Stale | NonceCheck::Invalid => {
                self.stale += 1;
                AuthOutcome::Challenge {
                    stale: true,
                    failure: Some(AuthFailure::StaleNonce),
                    username: Some(username),
                    algorithm: Some(alg),
                }
            }
        }
    }

    /// Whether `realm` has a user called `username`, for the throttle's unknown-user limit.
    pub fn knows(&self, realm: &str, username: &str) -> bool {
        self.realms
            .get(&realm.to_ascii_lowercase())
            .is_some_and(|ra| ra.users.contains_key(username))
    }

    /// Builds the 401 (REGISTER) or 407 challenge to `req` for `realm`: one
    /// `WWW-Authenticate`/`Proxy-Authenticate` per algorithm, in the realm's order, each with the
    /// realm, a fresh nonce, `algorithm` and `qop="auth"`, plus `stale=true` when asked
    /// (RFC 3261 §22.1, RFC 7616 §3.3, RFC 8760 §2.4). A known user (named by the request's
    /// credentials, else its To user for REGISTER or From user otherwise) is offered only the
    /// algorithms it can pass, since a phone answers the first one it supports (RFC 8760 §2.4).
    /// `None` for an unknown realm or a response.
    pub fn challenge(
        &mut self,
        now_unix: u64,
        req: &Message,
        realm: &str,
        stale: bool,
    ) -> Option<Message> {
        let kind = AuthKind::for_method(req.method()?);
        let ra = self.realms.get(&realm.to_ascii_lowercase())?;
        let user = challenged_user(req).and_then(|u| ra.users.get(u.as_ref()));
        let usable: Vec<Algorithm> = match user {
            Some(u) if ra.algorithms.iter().any(|&a| u.can_use(a)) => ra
                .algorithms
                .iter()
                .copied()
                .filter(|&a| u.can_use(a))
                .collect(),
            _ => ra.algorithms.clone(),
        };
        self.salt = self.salt.wrapping_add(1);
        let nonce = ra.issuer.issue(now_unix, self.salt);
        let mut rsp = Message::response_to(req, kind.status(), kind.reason());
        crate::stack::stateless::add_to_tag(&mut rsp);
        for alg in usable {
            let ch = Challenge {
                realm: Cow::Borrowed(&ra.name),
                domain: None,
                nonce: Cow::Borrowed(&nonce),
                opaque: None,
                stale,
                algorithm: Some(alg),
                qop: Some(QopOptions {
                    auth: true,
                    auth_int: false,
                }),
            };
            // The realm comes from the validated configuration and the nonce is hex, so this
            // cannot fail; a failure would only drop that one challenge.
            if let Ok(value) = ch.to_header_value() {
                rsp.push_header(kind.challenge_header(), value);
            }
        }
        self.challenges += 1;
        Some(rsp)
    }

    /// Challenges sent (for metrics).
    pub fn challenges(&self) -> u64 {
        self.challenges
    }

    /// Successful authentications (for metrics).
    pub fn successes(&self) -> u64 {
        self.successes
    }

    /// Failed authentications: wrong or unknown credentials (for metrics).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Right credentials on an expired or foreign nonce, re-challenged with `stale=true`.
    pub fn stale(&self) -> u64 {
        self.stale
    }
}

/// The username a challenge is for: the credentials' username if the request carries any, else
/// the To user of a REGISTER (its address-of-record) or the From user of another request.
fn challenged_user(req: &Message) -> Option<Cow<'_, str>> {
    let from_credentials = [HeaderName::Authorization, HeaderName::ProxyAuthorization]
        .iter()
        .flat_map(|h| req.values(h))
        .find_map(|v| Credentials::parse(v).ok())
        .map(|c| Cow::Owned(c.username.into_owned()));
    from_credentials.or_else(|| {
        let party = if req.method() == Some(&Method::Register) {
            req.to()
        } else {
            req.from()
        };
        let uri = Uri::parse(party?.uri).ok()?;
        uri.user_unescaped().map(|u| Cow::Owned(u.into_owned()))
    })
}

/// Whether the credentials' `uri` names the Request-URI (RFC 2617 §3.2.2.5): equal text, or
/// equivalent SIP URIs (RFC 3261 §19.1.4).
fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    match (Uri::parse(digest_uri), Uri::parse(request_uri)) {
        (Ok(a), Ok(b)) => a.equivalent(&b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sbc_common::digest::AnswerParams;
    use sbc_common::sip::Limits;

    const NOW: u64 = 1_800_000_000;

    fn config(extra_user: &str) -> sbc_config::Config {
        let text = format!(
            r#"{}
[[realm]]
domain = "Example.com"
mode = "local"

[[realm]]
domain = "open.example.net"
mode = "local"
auth_required = false

[[user]]
username = "alice"
realm = "example.com"
password = "wonderland"

[[user]]
username = "md5only"
realm = "example.com"
password = "x"
algorithm = "MD5"
{extra_user}
[auth]
secret = "0123456789abcdef0123456789abcdef"
"#,
            sbc_config::DEFAULT_TOML
        );
        sbc_config::Config::from_toml_str(&text, "test").unwrap()
    }

    fn auth() -> Authenticator {
        Authenticator::new(&config(""), b"0123456789abcdef0123456789abcdef", 7)
    }

    fn register(extra: &str) -> Message {
        let text = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.1>\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    fn invite(extra: &str) -> Message {
        let text = format!(
            "INVITE sip:bob@core.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK2\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@core.example.com>\r\nCall-ID: inv1\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    /// Answers a REGISTER's challenge with SHA-256 as `user` with `password`.
    fn register_answer(ch: &Message, user: &str, password: &str) -> String {
        answer(
            ch,
            Algorithm::Sha256,
            user,
            password,
            "REGISTER",
            "sip:example.com",
        )
    }

    /// Answers the challenge with `alg` as a phone would.
    fn answer(
        ch: &Message,
        alg: Algorithm,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
    ) -> String {
        let name = if ch.status() == Some(401) {
            HeaderName::WwwAuthenticate
        } else {
            HeaderName::ProxyAuthenticate
        };
        let value = ch
            .values(&name)
            .find(|v| Challenge::parse(v).unwrap().algorithm() == alg)
            .unwrap();
        let challenge = Challenge::parse(value).unwrap();
        Credentials::answer(
            &challenge,
            &AnswerParams {
                username: user,
                secret: digest::Secret::Password(password),
                method,
                uri,
                body: b"",
                cnonce: "0a4f113b",
                nc: 1,
            },
        )
        .unwrap()
        .to_header_value()
        .unwrap()
    }

    #[test]
    fn first_register_is_challenged_with_both_algorithms() {
        let mut a = auth();
        let req = register("");
        assert_eq!(
            a.authenticate(NOW, &req, "example.com"),
            AuthOutcome::Challenge {
                stale: false,
                failure: None,
                username: None,
                algorithm: None
            }
        );
        let ch = a.challenge(NOW, &req, "example.com", false).unwrap();
        assert_eq!(ch.status(), Some(401));
        assert!(ch.to().unwrap().tag().is_some());
        let values: Vec<_> = ch.values(&HeaderName::WwwAuthenticate).collect();
        assert_eq!(values.len(), 2);
        let first = Challenge::parse(values[0]).unwrap();
        let second = Challenge::parse(values[1]).unwrap();
        assert_eq!(first.algorithm, Some(Algorithm::Sha256), "config order");
        assert_eq!(second.algorithm, Some(Algorithm::Md5));
        for c in [&first, &second] {
            assert_eq!(c.realm, "Example.com");
            assert!(!c.stale);
            assert_eq!(
                c.qop,
                Some(QopOptions {
                    auth: true,
                    auth_int: false
                })
            );
        }
        assert_eq!(first.nonce, second.nonce);
        // INVITE gets 407 with Proxy-Authenticate.
        let ch = a.challenge(NOW, &invite(""), "example.com", false).unwrap();
        assert_eq!(ch.status(), Some(407));
        assert_eq!(ch.values(&HeaderName::ProxyAuthenticate).count(), 2);
        assert_eq!(a.challenges(), 2);
    }

    #[test]
    fn register_authenticates_with_sha256_and_md5() {
        let mut a = auth();
        for alg in [Algorithm::Sha256, Algorithm::Md5] {
            let ch = a
                .challenge(NOW, &register(""), "example.com", false)
                .unwrap();
            let creds = answer(
                &ch,
                alg,
                "alice",
                "wonderland",
                "REGISTER",
                "sip:example.com",
            );
            let req = register(&format!("Authorization: {creds}\r\n"));
            assert_eq!(
                a.authenticate(NOW + 10, &req, "EXAMPLE.COM"),
                AuthOutcome::Authenticated {
                    username: "alice".into()
                },
                "{alg:?}"
            );
        }
        assert_eq!(a.successes(), 2);
    }

    #[test]
    fn invite_authenticates_with_proxy_authorization_only() {
        let mut a = auth();
        let ch = a.challenge(NOW, &invite(""), "example.com", false).unwrap();
        let creds = answer(
            &ch,
            Algorithm::Sha256,
            "alice",
            "wonderland",
            "INVITE",
            "sip:bob@core.example.com",
        );
        let ok = invite(&format!("Proxy-Authorization: {creds}\r\n"));
        assert!(matches!(
            a.authenticate(NOW, &ok, "example.com"),
            AuthOutcome::Authenticated { .. }
        ));
        // The same credentials in the wrong header are not looked at.
        let wrong_header = invite(&format!("Authorization: {creds}\r\n"));
        assert!(matches!(
            a.authenticate(NOW, &wrong_header, "example.com"),
            AuthOutcome::Challenge { failure: None, .. }
        ));
        // Credentials computed for another Request-URI fail.
        let other = answer(
            &ch,
            Algorithm::Sha256,
            "alice",
            "wonderland",
            "INVITE",
            "sip:eve@core.example.com",
        );
        let req = invite(&format!("Proxy-Authorization: {other}\r\n"));
        assert!(matches!(
            a.authenticate(NOW, &req, "example.com"),
            AuthOutcome::Challenge {
                failure: Some(AuthFailure::WrongUri),
                ..
            }
        ));
    }

    #[test]
    fn expired_nonce_with_right_password_is_stale() {
        let mut a = auth();
        let ch = a
            .challenge(NOW, &register(""), "example.com", false)
            .unwrap();
        let creds = register_answer(&ch, "alice", "wonderland");
        let req = register(&format!("Authorization: {creds}\r\n"));
        // Default nonce lifetime 300 s.
        assert!(matches!(
            a.authenticate(NOW + 300, &req, "example.com"),
            AuthOutcome::Authenticated { .. }
        ));
        let out = a.authenticate(NOW + 301, &req, "example.com");
        assert_eq!(
            out,
            AuthOutcome::Challenge {
                stale: true,
                failure: Some(AuthFailure::StaleNonce),
                username: Some("alice".into()),
                algorithm: Some(Algorithm::Sha256)
            }
        );
        let ch = a.challenge(NOW + 301, &req, "example.com", true).unwrap();
        assert!(ch
            .values(&HeaderName::WwwAuthenticate)
            .all(|v| Challenge::parse(v).unwrap().stale));
        // A stale nonce with a wrong password is a plain failure, not stale.
        let bad = register_answer(&ch, "alice", "nope");
        let req = register(&format!("Authorization: {bad}\r\n"));
        assert!(matches!(
            a.authenticate(NOW + 10_000, &req, "example.com"),
            AuthOutcome::Challenge {
                stale: false,
                failure: Some(AuthFailure::WrongPassword),
                ..
            }
        ));
        assert_eq!(a.stale(), 1);
    }

    #[test]
    fn forged_nonce_is_not_accepted() {
        let mut a = auth();
        let other = Authenticator::new(&config(""), b"another secret entirely, 32 bytes", 1)
            .challenge(NOW, &register(""), "example.com", false)
            .unwrap();
        let creds = register_answer(&other, "alice", "wonderland");
        let req = register(&format!("Authorization: {creds}\r\n"));
        assert!(matches!(
            a.authenticate(NOW, &req, "example.com"),
            AuthOutcome::Challenge { stale: true, .. }
        ));
    }

    /// The challenge text with the nonce blanked out.
    fn without_nonce(msg: &Message) -> Vec<u8> {
        let text = String::from_utf8(msg.to_bytes().to_vec()).unwrap();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("nonce=\"") {
            out.push_str(&rest[..i + 7]);
            rest = &rest[i + 7..];
            let end = rest.find('"').unwrap();
            rest = &rest[end..];
        }
        out.push_str(rest);
        out.into_bytes()
    }

    #[test]
    fn unknown_user_and_wrong_password_look_the_same() {
        let mut a = auth();
        let ch = a
            .challenge(NOW, &register(""), "example.com", false)
            .unwrap();
        let wrong = register_answer(&ch, "alice", "guess");
        let unknown = register_answer(&ch, "mallory", "guess");
        // Same request apart from the username, so the same Call-ID and tags.
        let req_wrong = register(&format!("Authorization: {wrong}\r\n"));
        let req_unknown = register(&format!("Authorization: {unknown}\r\n"));
        let out_wrong = a.authenticate(NOW, &req_wrong, "example.com");
        let out_unknown = a.authenticate(NOW, &req_unknown, "example.com");
        assert_eq!(
            out_wrong,
            AuthOutcome::Challenge {
                stale: false,
                failure: Some(AuthFailure::WrongPassword),
                username: Some("alice".into()),
                algorithm: Some(Algorithm::Sha256)
            }
        );
        assert_eq!(
            out_unknown,
            AuthOutcome::Challenge {
                stale: false,
                failure: Some(AuthFailure::UnknownUser),
                username: Some("mallory".into()),
                algorithm: Some(Algorithm::Sha256)
            }
        );
        let rsp_wrong = a.challenge(NOW, &req_wrong, "example.com", false).unwrap();
        let rsp_unknown = a
            .challenge(NOW, &req_unknown, "example.com", false)
            .unwrap();
        assert_ne!(rsp_wrong.to_bytes(), rsp_unknown.to_bytes(), "fresh nonces");
        assert_eq!(without_nonce(&rsp_wrong), without_nonce(&rsp_unknown));
        assert_eq!(a.failures(), 2);
    }

    #[test]
    fn algorithm_restrictions_and_policy() {
        let mut a = auth();
        let ch = a
            .challenge(NOW, &register(""), "example.com", false)
            .unwrap();
        // md5only may not use SHA-256 even with the right password: an algorithm mismatch,
        // which is not a password guess.
        let sha = register_answer(&ch, "md5only", "x");
        assert!(matches!(
            a.authenticate(
                NOW,
                &register(&format!("Authorization: {sha}\r\n")),
                "example.com"
            ),
            AuthOutcome::Challenge {
                failure: Some(AuthFailure::Algorithm),
                ..
            }
        ));
        let md5 = answer(
            &ch,
            Algorithm::Md5,
            "md5only",
            "x",
            "REGISTER",
            "sip:example.com",
        );
        assert!(matches!(
            a.authenticate(
                NOW,
                &register(&format!("Authorization: {md5}\r\n")),
                "example.com"
            ),
            AuthOutcome::Authenticated { .. }
        ));
        // RFC 2069 answers (no qop) are refused although the digest itself would be right.
        let mut no_qop = Challenge::parse(ch.values(&HeaderName::WwwAuthenticate).next().unwrap())
            .unwrap()
            .into_owned_for_test();
        no_qop.qop = None;
        let creds = Credentials::answer(
            &no_qop,
            &AnswerParams {
                username: "alice",
                secret: digest::Secret::Password("wonderland"),
                method: "REGISTER",
                uri: "sip:example.com",
                body: b"",
                cnonce: "c",
                nc: 1,
            },
        )
        .unwrap()
        .to_header_value()
        .unwrap();
        assert!(matches!(
            a.authenticate(
                NOW,
                &register(&format!("Authorization: {creds}\r\n")),
                "example.com"
            ),
            AuthOutcome::Challenge {
                failure: Some(AuthFailure::Qop),
                ..
            }
        ));
        // Garbage credentials are a 400, credentials for another realm are ignored.
        assert_eq!(
            a.authenticate(
                NOW,
                &register("Authorization: Digest username=\r\n"),
                "example.com"
            ),
            AuthOutcome::Malformed
        );
        let foreign = "Digest username=\"alice\", realm=\"elsewhere\", nonce=\"n\", uri=\"sip:example.com\", response=\"00\"";
        assert!(matches!(
            a.authenticate(
                NOW,
                &register(&format!("Authorization: {foreign}\r\n")),
                "example.com"
            ),
            AuthOutcome::Challenge { failure: None, .. }
        ));
        // A realm without auth_required and an unknown realm need nothing.
        assert_eq!(
            a.authenticate(NOW, &register(""), "open.example.net"),
            AuthOutcome::NotRequired
        );
        assert_eq!(
            a.authenticate(NOW, &register(""), "unknown.example"),
            AuthOutcome::NotRequired
        );
    }

    /// The algorithms in a challenge's headers, in order.
    fn offered(ch: &Message) -> Vec<Algorithm> {
        ch.values(&HeaderName::WwwAuthenticate)
            .map(|v| Challenge::parse(v).unwrap().algorithm())
            .collect()
    }

    #[test]
    fn each_user_is_challenged_only_with_the_algorithms_it_can_pass() {
        let ha1 = digest::ha1(Algorithm::Md5, "dave", "Example.com", "pw");
        let mut a = Authenticator::new(
            &config(&format!(
                "[[user]]\nusername = \"dave\"\nrealm = \"example.com\"\nha1 = \"{}\"\n",
                ha1.as_str()
            )),
            b"k",
            1,
        );
        let for_user = |user: &str| {
            let text = format!(
                "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:{user}@example.com>;tag=1\r\nTo: <sip:{user}@example.com>\r\nCall-ID: reg1\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@192.0.2.1>\r\nContent-Length: 0\r\n\r\n"
            );
            Message::parse(Bytes::from(text), &Limits::default()).unwrap()
        };
        // A user with a password gets every algorithm; an MD5-restricted user and one with a
        // 32-digit HA1 get MD5 only, so a SHA-256 phone answers with MD5 (RFC 8760 §2.4); an
        // unknown name gets the realm's list.
        for (user, want) in [
            ("alice", vec![Algorithm::Sha256, Algorithm::Md5]),
            ("md5only", vec![Algorithm::Md5]),
            ("dave", vec![Algorithm::Md5]),
            ("nobody", vec![Algorithm::Sha256, Algorithm::Md5]),
        ] {
            let ch = a
                .challenge(NOW, &for_user(user), "example.com", false)
                .unwrap();
            assert_eq!(offered(&ch), want, "{user}");
        }
        // The MD5 answer to that challenge authenticates.
        let ch = a
            .challenge(NOW, &for_user("dave"), "example.com", false)
            .unwrap();
        let md5 = answer(
            &ch,
            Algorithm::Md5,
            "dave",
            "pw",
            "REGISTER",
            "sip:example.com",
        );
        let mut req = for_user("dave");
        req.push_header(HeaderName::Authorization, md5);
        assert!(matches!(
            a.authenticate(NOW, &req, "example.com"),
            AuthOutcome::Authenticated { .. }
        ));
    }

    #[test]
    fn a_realm_can_offer_its_own_algorithms() {
        let mut cfg = config("");
        cfg.realms[0].algorithms = Some(vec![sbc_config::DigestAlgorithm::Md5]);
        let mut a = Authenticator::new(&cfg, b"k", 1);
        let ch = a
            .challenge(NOW, &register(""), "example.com", false)
            .unwrap();
        assert_eq!(offered(&ch), [Algorithm::Md5]);
        // SHA-256 credentials are an algorithm mismatch there even for a password user.
        let full = Authenticator::new(&config(""), b"k", 1)
            .challenge(NOW, &register(""), "example.com", false)
            .unwrap();
        let sha = register_answer(&full, "alice", "wonderland");
        assert!(matches!(
            a.authenticate(
                NOW,
                &register(&format!("Authorization: {sha}\r\n")),
                "example.com"
            ),
            AuthOutcome::Challenge {
                failure: Some(AuthFailure::Algorithm),
                ..
            }
        ));
    }

    #[test]
    fn stored_ha1_users_authenticate() {
        let ha1 = digest::ha1(Algorithm::Sha256, "carol", "Example.com", "s3cret");
        let cfg = config(&format!(
            "[[user]]\nusername = \"carol\"\nrealm = \"example.com\"\nha1 = \"{}\"\n",
            ha1.as_str()
        ));
        let mut a = Authenticator::new(&cfg, b"k", 1);
        let ch = a
            .challenge(NOW, &register(""), "example.com", false)
            .unwrap();
        let sha = register_answer(&ch, "carol", "s3cret");
        assert!(matches!(
            a.authenticate(
                NOW,
                &register(&format!("Authorization: {sha}\r\n")),
                "example.com"
            ),
            AuthOutcome::Authenticated { .. }
        ));
        // A SHA-256 HA1 cannot answer an MD5 challenge.
        let md5 = answer(
            &ch,
            Algorithm::Md5,
            "carol",
            "s3cret",
            "REGISTER",
            "sip:example.com",
        );
        assert!(matches!(
            a.authenticate(
                NOW,
                &register(&format!("Authorization: {md5}\r\n")),
                "example.com"
            ),
            AuthOutcome::Challenge {
                failure: Some(AuthFailure::Algorithm),
                ..
            }
        ));
    }

    /// RFC 7616 §3.9.1: the example credentials (MD5 and SHA-256) verify through the server
    /// path; their nonce is not one of ours, so the right digest earns `stale=true` and a wrong
    /// password a plain failure.
    #[test]
    fn rfc7616_vectors_verify_through_the_authenticator() {
        let mut cfg = sbc_config::Config::embedded().unwrap();
        let mut realm = config("").realms.remove(0);
        realm.domain = "http-auth@example.org".into();
        cfg.realms = vec![realm];
        let user = |password: &str| sbc_config::User {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            password: Some(sbc_config::Secret::new(password)),
            ha1: None,
            algorithm: None,
        };
        let request = |alg: Algorithm, response: &str| {
            let mut m = Message::request(Method::from_token("GET").unwrap(), "/dir/index.html");
            m.push_header(
                HeaderName::ProxyAuthorization,
                format!(
                    "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", algorithm={}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, response=\"{response}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
                    alg.name()
                ),
            );
            m
        };
        for (alg, response) in [
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            for (password, stale, failure) in [
                ("Circle of Life", true, AuthFailure::StaleNonce),
                ("Circle Of Life", false, AuthFailure::WrongPassword),
            ] {
                cfg.users = vec![user(password)];
                let mut a = Authenticator::new(&cfg, b"k", 1);
                assert_eq!(
                    a.authenticate(NOW, &request(alg, response), "http-auth@example.org"),
                    AuthOutcome::Challenge {
                        stale,
                        failure: Some(failure),
                        username: Some("Mufasa".into()),
                        algorithm: Some(alg)
                    },
                    "{alg:?} {password}"
                );
            }
        }
    }

    trait IntoOwned {
        fn into_owned_for_test(self) -> Challenge<'static>;
    }

    impl IntoOwned for Challenge<'_> {
        fn into_owned_for_test(self) -> Challenge<'static> {
            Challenge {
                realm: Cow::Owned(self.realm.into_owned()),
                domain: None,
                nonce: Cow::Owned(self.nonce.into_owned()),
                opaque: None,
                stale: self.stale,
                algorithm: self.algorithm,
                qop: self.qop,
            }
        }
    }
}
