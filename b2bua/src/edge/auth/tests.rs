//! The authenticator against its own challenges, RFC 7616's vectors, algorithm restrictions
//! per user and per realm, and refusals by reason.

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
