//! Digest challenge and credential parameters: RFC vectors, malformed input, round trips and
//! redaction.

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
    let c =
        Challenge::parse(r#"Digest realm="r", nonce="n", qop=" auth-conf , auth-int ""#).unwrap();
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
