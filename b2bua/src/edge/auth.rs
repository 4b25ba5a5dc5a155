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
mod tests;
