//! HA1, HA2 and response computation and constant-time verification (RFC 7616 §3.4.1–§3.4.3,
//! RFC 2617 §3.2.2, RFC 2069 §2.1.2).

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use subtle::ConstantTimeEq;

use super::{Algorithm, Credentials, DigestError, HexDigest, NonceCount, Qop, Secret};

/// One running hash of the algorithm's family.
enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
    Sha512_256(Sha512_256),
}

impl Hasher {
    fn new(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Md5 | Algorithm::Md5Sess => Self::Md5(Md5::new()),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Self::Sha256(Sha256::new()),
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => {
                Self::Sha512_256(Sha512_256::new())
            }
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Md5(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha512_256(h) => h.update(data),
        }
    }

    fn finish(self) -> HexDigest {
        match self {
            Self::Md5(h) => HexDigest::from_bytes(&h.finalize()),
            Self::Sha256(h) => HexDigest::from_bytes(&h.finalize()),
            Self::Sha512_256(h) => HexDigest::from_bytes(&h.finalize()),
        }
    }
}

/// `H(p1 ":" p2 ":" ...)` in hex, without building the joined string.
fn hash_joined(alg: Algorithm, parts: &[&[u8]]) -> HexDigest {
    let mut hasher = Hasher::new(alg);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    hasher.finish()
}

/// The base HA1, `H(username ":" realm ":" password)` (RFC 7616 §3.4.2), which is also what
/// a user database stores instead of the password; `-sess` algorithms use the same base.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> HexDigest {
    hash_joined(
        alg,
        &[username.as_bytes(), realm.as_bytes(), password.as_bytes()],
    )
}

/// The `-sess` HA1, `H(base_ha1 ":" nonce ":" cnonce)` (RFC 7616 §3.4.2, RFC 2617 §3.2.2.2).
pub fn session_ha1(alg: Algorithm, base_ha1: &HexDigest, nonce: &str, cnonce: &str) -> HexDigest {
    hash_joined(
        alg,
        &[
            base_ha1.as_str().as_bytes(),
            nonce.as_bytes(),
            cnonce.as_bytes(),
        ],
    )
}

/// The HA1 that enters the response (RFC 7616 §3.4.2): from the password or a stored base
/// HA1, then turned into the session HA1 for `-sess` algorithms, which need `cnonce`.
///
/// Fails with [`DigestError::InvalidHa1`] if a stored HA1 is not hex of the algorithm's
/// length, and with [`DigestError::MissingParam`] for a `-sess` algorithm without `cnonce`.
pub fn compute_ha1(
    alg: Algorithm,
    username: &str,
    realm: &str,
    secret: Secret<'_>,
    nonce: &str,
    cnonce: Option<&str>,
) -> Result<HexDigest, DigestError> {
    let base = match secret {
        Secret::Password(password) => ha1(alg, username, realm, password),
        Secret::Ha1(stored) => HexDigest::from_hex(stored)
            .filter(|d| d.len() == alg.hex_len())
            .ok_or(DigestError::InvalidHa1)?,
    };
    if alg.is_session() {
        let cnonce = cnonce.ok_or(DigestError::MissingParam("cnonce"))?;
        Ok(session_ha1(alg, &base, nonce, cnonce))
    } else {
        Ok(base)
    }
}

/// HA2 (RFC 7616 §3.4.3): `H(method ":" uri)`, or `H(method ":" uri ":" H(body))` for
/// `qop=auth-int`; `body` is ignored otherwise (RFC 3261 §22.4 hashes an empty body as "").
pub fn ha2(alg: Algorithm, method: &str, uri: &str, qop: Option<Qop>, body: &[u8]) -> HexDigest {
    if qop == Some(Qop::AuthInt) {
        let mut body_hasher = Hasher::new(alg);
        body_hasher.update(body);
        let body_hash = body_hasher.finish();
        hash_joined(
            alg,
            &[
                method.as_bytes(),
                uri.as_bytes(),
                body_hash.as_str().as_bytes(),
            ],
        )
    } else {
        hash_joined(alg, &[method.as_bytes(), uri.as_bytes()])
    }
}

/// The response digest (RFC 7616 §3.4.1): `H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)`
/// when `qop` is `Some((qop, nc, cnonce))`, else the RFC 2069 form `H(HA1 ":" nonce ":" HA2)`.
pub fn response(
    alg: Algorithm,
    ha1: &HexDigest,
    nonce: &str,
    qop: Option<(Qop, NonceCount, &str)>,
    ha2: &HexDigest,
) -> HexDigest {
    match qop {
        Some((qop, nc, cnonce)) => hash_joined(
            alg,
            &[
                ha1.as_str().as_bytes(),
                nonce.as_bytes(),
                nc.as_str().as_bytes(),
                cnonce.as_bytes(),
                qop.name().as_bytes(),
                ha2.as_str().as_bytes(),
            ],
        ),
        None => hash_joined(
            alg,
            &[
                ha1.as_str().as_bytes(),
                nonce.as_bytes(),
                ha2.as_str().as_bytes(),
            ],
        ),
    }
}

/// Computes the response `credentials` should carry for a request with this method and
/// body (RFC 7616 §3.4.1); the credentials' own `response` field is ignored.
///
/// Fails if `qop` is set without `nc`/`cnonce`, if a `-sess` algorithm lacks `cnonce`, or if
/// a stored HA1 is malformed.
pub fn compute_response(
    credentials: &Credentials<'_>,
    method: &str,
    secret: Secret<'_>,
    body: &[u8],
) -> Result<HexDigest, DigestError> {
    let alg = credentials.algorithm();
    let cnonce = credentials.cnonce.as_deref();
    let ha1 = compute_ha1(
        alg,
        &credentials.username,
        &credentials.realm,
        secret,
        &credentials.nonce,
        cnonce,
    )?;
    let qop = match credentials.qop {
        Some(qop) => Some((
            qop,
            credentials.nc.ok_or(DigestError::MissingParam("nc"))?,
            cnonce.ok_or(DigestError::MissingParam("cnonce"))?,
        )),
        None => None,
    };
    let ha2 = ha2(alg, method, &credentials.uri, credentials.qop, body);
    Ok(response(alg, &ha1, &credentials.nonce, qop, &ha2))
}

/// Checks the credentials' response against the password or stored HA1 for a request with
/// this method and body, comparing the hex digests in constant time (RFC 7616 §3.4.1).
///
/// Returns `false` for any failure, including a malformed stored HA1 or response. The
/// caller still checks realm, digest-uri and nonce freshness (see the module docs).
pub fn verify(
    credentials: &Credentials<'_>,
    method: &str,
    secret: Secret<'_>,
    body: &[u8],
) -> bool {
    let Ok(expected) = compute_response(credentials, method, secret, body) else {
        return false;
    };
    let Some(given) = HexDigest::from_hex(&credentials.response) else {
        return false;
    };
    bool::from(expected.ct_eq(&given))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::digest::{AnswerParams, Challenge};

    const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
    const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn rfc7616_credentials(alg: Algorithm, response: &str) -> String {
        format!(
            r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html",
               algorithm={}, nonce="{RFC7616_NONCE}", nc=00000001, cnonce="{RFC7616_CNONCE}",
               qop=auth, response="{response}", opaque="{RFC7616_OPAQUE}""#,
            alg.name()
        )
    }

    #[test]
    fn rfc2617_section_3_5_example() {
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,
            nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",
            opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = Credentials::parse(header).unwrap();
        let got = compute_response(&c, "GET", Secret::Password("Circle Of Life"), b"").unwrap();
        assert_eq!(got.as_str(), "6629fae49393a05397450978507c4ef1");
        assert!(verify(&c, "GET", Secret::Password("Circle Of Life"), b""));
        assert!(!verify(&c, "GET", Secret::Password("Circle of Life"), b""));
        assert!(!verify(&c, "POST", Secret::Password("Circle Of Life"), b""));
        // The same with a stored HA1 (upper case is accepted).
        let stored = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(stored.as_str(), "939e7578ed9e3c518a452acee763bce9");
        assert!(verify(&c, "GET", Secret::Ha1(stored.as_str()), b""));
        let upper = stored.as_str().to_ascii_uppercase();
        assert!(verify(&c, "GET", Secret::Ha1(&upper), b""));
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_and_sha256() {
        for (alg, expected) in [
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let header = rfc7616_credentials(alg, expected);
            let c = Credentials::parse(&header).unwrap();
            assert_eq!(c.algorithm, Some(alg));
            let got = compute_response(&c, "GET", Secret::Password("Circle of Life"), b"").unwrap();
            assert_eq!(got.as_str(), expected, "{alg:?}");
            assert!(verify(&c, "GET", Secret::Password("Circle of Life"), b""));
            let stored = ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life");
            assert!(verify(&c, "GET", Secret::Ha1(stored.as_str()), b""));
        }
    }

    #[test]
    fn rfc7616_client_answer_reproduces_example() {
        let header = format!(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256,
               nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}""#
        );
        let challenge = Challenge::parse(&header).unwrap();
        let params = AnswerParams {
            username: "Mufasa",
            secret: Secret::Password("Circle of Life"),
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
            cnonce: RFC7616_CNONCE,
            nc: 1,
        };
        let c = Credentials::answer(&challenge, &params).unwrap();
        assert_eq!(
            c.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.opaque.as_deref(), Some(RFC7616_OPAQUE));
        let text = c.to_header_value().unwrap();
        let back = Credentials::parse(&text).unwrap();
        assert!(verify(
            &back,
            "GET",
            Secret::Password("Circle of Life"),
            b""
        ));
    }

    #[test]
    fn rfc2069_no_qop() {
        // RFC 2069 §2.4 example; the RFC prints a wrong response (see its erratum),
        // the correct one is 1949323746fe6a43ef61f9606e7febea.
        let c = Credentials::parse(
            r#"Digest username="Mufasa", realm="testrealm@host.com",
               nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html",
               response="1949323746fe6a43ef61f9606e7febea",
               opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert!(verify(&c, "GET", Secret::Password("CircleOfLife"), b""));
        // RFC 2617 password, no qop (value computed independently).
        let mut c2 = c.clone();
        c2.response = "670fd8c2df070c60b045671b8b24ff02".into();
        assert!(verify(&c2, "GET", Secret::Password("Circle Of Life"), b""));
    }

    #[test]
    fn sess_variants() {
        // Expected values computed independently (Python hashlib) per RFC 7616 §3.4.2.
        for (alg, expected) in [
            (Algorithm::Md5Sess, "e783283f46242139c486a698fec7211d"),
            (
                Algorithm::Sha256Sess,
                "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
            ),
            (
                Algorithm::Sha512_256Sess,
                "3f2a34f923c38b0fb26dce2fdfc2ce326c23cecf86fbb1444f3e51fbbc2cb92e",
            ),
            (
                Algorithm::Sha512_256,
                "430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0",
            ),
        ] {
            let header = rfc7616_credentials(alg, expected);
            let c = Credentials::parse(&header).unwrap();
            assert!(
                verify(&c, "GET", Secret::Password("Circle of Life"), b""),
                "{alg:?}"
            );
            // A stored base HA1 works for -sess too.
            let stored = ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life");
            assert!(
                verify(&c, "GET", Secret::Ha1(stored.as_str()), b""),
                "{alg:?}"
            );
        }
        // -sess needs a cnonce.
        assert_eq!(
            compute_ha1(
                Algorithm::Md5Sess,
                "u",
                "r",
                Secret::Password("p"),
                "n",
                None
            )
            .err(),
            Some(DigestError::MissingParam("cnonce"))
        );
    }

    #[test]
    fn auth_int_hashes_the_body() {
        let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
        let c = Credentials::parse(
            r#"Digest username="alice", realm="example.com", nonce="abc123",
               uri="sip:bob@example.com", qop=auth-int, nc=00000002, cnonce="xyz",
               response="8d9cc370cb62260108186de0442704d8""#,
        )
        .unwrap();
        assert!(verify(&c, "INVITE", Secret::Password("secret"), body));
        assert!(!verify(
            &c,
            "INVITE",
            Secret::Password("secret"),
            b"v=1\r\n"
        ));
        assert!(!verify(&c, "INVITE", Secret::Password("secret"), b""));
        // Empty body with SHA-256 (RFC 3261 §22.4: H("") for no body).
        let c = Credentials::parse(
            r#"Digest username="alice", realm="example.com", nonce="abc123",
               uri="sip:bob@example.com", qop=auth-int, nc=00000002, cnonce="xyz",
               algorithm=SHA-256,
               response="d09e47e843c41bb7df938cdb2335a3a3cfa8b7504262af032f848b4c61effcbf""#,
        )
        .unwrap();
        assert!(verify(&c, "INVITE", Secret::Password("secret"), b""));
        // HA2 ignores the body for qop=auth.
        let a = ha2(Algorithm::Md5, "INVITE", "sip:x", Some(Qop::Auth), b"one");
        let b = ha2(Algorithm::Md5, "INVITE", "sip:x", None, b"two");
        assert_eq!(a.as_str(), b.as_str());
    }

    #[test]
    fn sip_register_upstream_and_back() {
        // The SBC registers upstream: the core challenges, the SBC answers.
        let challenge = Challenge::parse(
            r#"Digest realm="example.com", nonce="5f2b3e8c1a", qop="auth", algorithm=MD5"#,
        )
        .unwrap();
        let params = AnswerParams {
            username: "alice",
            secret: Secret::Password("s3cr3t"),
            method: "REGISTER",
            uri: "sip:example.com",
            body: b"",
            cnonce: "0a1b2c3d",
            nc: 1,
        };
        let c = Credentials::answer(&challenge, &params).unwrap();
        assert_eq!(c.response, "03544dc0bae1d0d978770bc212f17295");
        assert_eq!(
            c.to_header_value().unwrap(),
            r#"Digest username="alice", realm="example.com", nonce="5f2b3e8c1a", uri="sip:example.com", response="03544dc0bae1d0d978770bc212f17295", algorithm=MD5, cnonce="0a1b2c3d", qop=auth, nc=00000001"#
        );
        assert!(verify(&c, "REGISTER", Secret::Password("s3cr3t"), b""));
        assert!(!verify(&c, "INVITE", Secret::Password("s3cr3t"), b""));

        // A core without qop (RFC 2069 style): no cnonce, no nc.
        let challenge =
            Challenge::parse(r#"Digest realm="example.com", nonce="5f2b3e8c1a""#).unwrap();
        let c = Credentials::answer(&challenge, &params).unwrap();
        assert_eq!(c.response, "aafc21bd6cc52c76791484ab8ca2000f");
        assert_eq!(c.cnonce, None);
        assert_eq!(c.nc, None);
        assert_eq!(c.algorithm, None);

        // Only auth-int offered: the body is protected.
        let challenge =
            Challenge::parse(r#"Digest realm="example.com", nonce="n", qop="auth-int""#).unwrap();
        let with_body = AnswerParams {
            body: b"hello",
            ..params
        };
        let c = Credentials::answer(&challenge, &with_body).unwrap();
        assert_eq!(c.qop, Some(Qop::AuthInt));
        assert!(verify(&c, "REGISTER", Secret::Password("s3cr3t"), b"hello"));

        // Only unknown qop values offered, or -sess without qop.
        let challenge =
            Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-conf""#).unwrap();
        assert_eq!(
            Credentials::answer(&challenge, &params),
            Err(DigestError::UnsupportedQop)
        );
        let challenge =
            Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=MD5-sess"#).unwrap();
        assert_eq!(
            Credentials::answer(&challenge, &params),
            Err(DigestError::MissingParam("cnonce"))
        );
    }

    #[test]
    fn verify_rejects_one_character_difference() {
        let good = "6629fae49393a05397450978507c4ef1";
        let header = |response: &str| {
            format!(
                r#"Digest username="Mufasa", realm="testrealm@host.com",
                   nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,
                   nc=00000001, cnonce="0a4f113b", response="{response}""#
            )
        };
        let pw = Secret::Password("Circle Of Life");
        let text = header(good);
        assert!(verify(&Credentials::parse(&text).unwrap(), "GET", pw, b""));
        // Upper-case hex from a client is accepted.
        let upper = good.to_ascii_uppercase();
        let text = header(&upper);
        assert!(verify(&Credentials::parse(&text).unwrap(), "GET", pw, b""));
        for i in 0..good.len() {
            let mut bad: Vec<u8> = good.bytes().collect();
            bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap();
            let text = header(&bad);
            let c = Credentials::parse(&text).unwrap();
            assert!(!verify(&c, "GET", pw, b""), "position {i}");
        }
        for bad in [
            "",
            "6629fae49393a05397450978507c4ef",
            "6629fae49393a05397450978507c4ef1a",
        ] {
            let text = header(bad);
            let c = Credentials::parse(&text).unwrap();
            assert!(!verify(&c, "GET", pw, b""), "{bad:?}");
        }
        let text = header("zz29fae49393a05397450978507c4ef1");
        let c = Credentials::parse(&text).unwrap();
        assert!(!verify(&c, "GET", pw, b""));
    }

    #[test]
    fn malformed_stored_ha1_fails_closed() {
        let text = rfc7616_credentials(Algorithm::Sha256, "00");
        let c = Credentials::parse(&text).unwrap();
        let md5_ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        // An MD5 HA1 offered for a SHA-256 exchange has the wrong length.
        assert_eq!(
            compute_response(&c, "GET", Secret::Ha1(md5_ha1.as_str()), b"").map(|_| ()),
            Err(DigestError::InvalidHa1)
        );
        assert!(!verify(&c, "GET", Secret::Ha1(md5_ha1.as_str()), b""));
        assert!(!verify(&c, "GET", Secret::Ha1("not hex"), b""));
    }

    #[test]
    fn compute_response_needs_nc_and_cnonce_with_qop() {
        let text = rfc7616_credentials(Algorithm::Md5, "00");
        let mut c = Credentials::parse(&text).unwrap();
        c.nc = None;
        assert_eq!(
            compute_response(&c, "GET", Secret::Password("x"), b"").map(|_| ()),
            Err(DigestError::MissingParam("nc"))
        );
        c.nc = Some(NonceCount::new(1));
        c.cnonce = None::<Cow<'_, str>>;
        assert_eq!(
            compute_response(&c, "GET", Secret::Password("x"), b"").map(|_| ()),
            Err(DigestError::MissingParam("cnonce"))
        );
    }
}
