use super::*;

mod comparison;

fn p(s: &str) -> Uri<'_> {
    match Uri::parse(s) {
        Ok(u) => u,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn err(s: &str) -> UriError {
    match Uri::parse(s) {
        Ok(u) => panic!("{s:?} should be rejected, got {u:?}"),
        Err(e) => e,
    }
}

fn eqv(a: &str, b: &str) -> bool {
    let (a, b) = (p(a), p(b));
    let ab = a.equivalent(&b);
    assert_eq!(ab, b.equivalent(&a), "equivalence must be symmetric");
    ab
}

// --- grammar: scheme -------------------------------------------------------------

#[test]
fn scheme_names() {
    assert_eq!(p("sip:a.com").scheme(), Scheme::Sip);
    assert_eq!(p("SIP:a.com").scheme(), Scheme::Sip);
    assert_eq!(p("sIpS:a.com").scheme(), Scheme::Sips);
    assert!(p("sips:a.com").is_secure());
    assert_eq!(p("TEL:+1").scheme(), Scheme::Tel);
    assert_eq!(p("urn:service:sos").scheme(), Scheme::Other("urn"));
    assert_eq!(
        p("soap.beep://192.0.2.103:3002").scheme(),
        Scheme::Other("soap.beep")
    );
    assert_eq!(err(""), UriError::Empty);
    assert_eq!(err("example.com"), UriError::MissingScheme);
    assert_eq!(err(":a"), UriError::InvalidScheme);
    assert_eq!(err("1sip:a"), UriError::InvalidScheme);
    assert_eq!(err("<sip:user@example.com>"), UriError::InvalidScheme);
    assert_eq!(Scheme::Sips.default_port(), Some(5061));
}

#[test]
fn other_schemes_are_opaque() {
    let u = p("mailto:alice@example.com?subject=hi");
    assert_eq!(u.opaque(), "alice@example.com?subject=hi");
    assert!(u.host().is_none() && u.user().is_none());
    assert_eq!(
        p("nobodyKnowsThisScheme:totallyopaquecontent").opaque(),
        "totallyopaquecontent"
    );
    assert_eq!(
        p("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6").to_string(),
        "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    );
    assert!(matches!(err("mailto:a b"), UriError::InvalidChar { .. }));
    assert!(matches!(err("urn:%zz"), UriError::BadEscape { .. }));
    assert_eq!(err("urn:"), UriError::EmptyOpaque);
    assert!(eqv("URN:a:b", "urn:a:%62"));
    assert!(!eqv("urn:a:b", "urn:a:B"));
}

// --- grammar: userinfo ------------------------------------------------------------

#[test]
fn userinfo() {
    let u = p("sip:alice:secret@atlanta.com");
    assert_eq!(u.user(), Some("alice"));
    assert_eq!(u.password(), Some("secret"));
    let u = p("sip:alice@atlanta.com");
    assert_eq!(u.password(), None);
    assert_eq!(p("sip:alice:@atlanta.com").password(), Some(""));
    assert!(p("sip:atlanta.com").user().is_none());
    // Telephone-subscriber in the user part, with ':' starting the password (RFC 3261 §19.1.3).
    let u = p("sip:+1-212-555-1212:1234@gateway.com;user=phone");
    assert_eq!(u.user(), Some("+1-212-555-1212"));
    assert_eq!(u.password(), Some("1234"));
    assert_eq!(u.user_param(), Some("phone"));
    // RFC 4475 intmeth: every user-unreserved and mark character, and a password.
    let u = p("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
    assert_eq!(
        u.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        u.password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(u.host().map(|h| h.as_str()), Some("example.com"));
    // '?', '/', '&', '=', '+', '$', ',' are user-unreserved.
    assert_eq!(
        p("sip:a?b/c&d=e+f$g,h@h.com").user(),
        Some("a?b/c&d=e+f$g,h")
    );
}

#[test]
fn semicolon_in_user_part() {
    let u = p("sip:alice;day=tuesday@atlanta.com");
    assert_eq!(u.user(), Some("alice;day=tuesday"));
    assert_eq!(u.params().count(), 0);
    assert_eq!(u.host().map(|h| h.as_str()), Some("atlanta.com"));
    // RFC 4475 semiuri.
    let u = p("sip:user;par=u%40example.net@example.com");
    assert_eq!(u.user(), Some("user;par=u%40example.net"));
    assert_eq!(
        u.user_unescaped().as_deref(),
        Some("user;par=u@example.net")
    );
    assert_eq!(u.host().map(|h| h.as_str()), Some("example.com"));
}

#[test]
fn empty_user_is_rejected() {
    assert_eq!(err("sip:@example.com"), UriError::EmptyUser);
    assert_eq!(err("sip::pw@example.com"), UriError::EmptyUser);
}

#[test]
fn bad_userinfo_chars() {
    assert!(matches!(
        err("sip:al ice@example.com"),
        UriError::InvalidChar {
            component: Component::User,
            ch: ' '
        }
    ));
    assert!(matches!(
        err("sip:al#ice@example.com"),
        UriError::InvalidChar {
            component: Component::User,
            ch: '#'
        }
    ));
    assert!(matches!(
        err("sip:a:p;w@example.com"),
        UriError::InvalidChar {
            component: Component::Password,
            ..
        }
    ));
    assert!(matches!(
        err("sip:al\u{e9}@example.com"),
        UriError::InvalidChar { ch: '\u{e9}', .. }
    ));
}

// --- grammar: escapes -------------------------------------------------------------

#[test]
fn escapes() {
    let u = p("sip:%61lice@atlanta.com;transport=TCP");
    assert_eq!(u.user(), Some("%61lice"));
    assert_eq!(u.user_unescaped().as_deref(), Some("alice"));
    assert_eq!(u.transport(), Some("TCP"));
    // RFC 4475 esc01: escaped ':' and '@' in the user part.
    let u = p("sip:sips%3Auser%40example.com@example.net");
    assert_eq!(u.user_unescaped().as_deref(), Some("sips:user@example.com"));
    assert_eq!(u.host().map(|h| h.as_str()), Some("example.net"));
    // RFC 4475 esc01 Contact: escaped parameter names and values.
    let u = p("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    assert!(u.lr());
    assert_eq!(u.user_unescaped().as_deref(), Some("caller"));
    assert_eq!(
        u.param("name").and_then(|p| p.value_unescaped()).as_deref(),
        Some("value%41")
    );
    assert!(u.equivalent(&p("sip:caller@host5.example.net;lr;name=value%2541")));
    assert!(!u.equivalent(&p("sip:caller@host5.example.net;lr;name=valueA")));
    // RFC 4475 escnull.
    let u = p("sip:null-%00-null@example.com");
    assert_eq!(u.user_unescaped().as_deref(), Some("null-\0-null"));
    // Non-hex and truncated escapes.
    for bad in [
        "sip:%6Glice@a.com",
        "sip:a%@a.com",
        "sip:a%4@a.com",
        "sip:a.com;x=%zz",
        "sip:a.com?h=%",
        "sip:u:%g1@a.com",
    ] {
        assert!(matches!(err(bad), UriError::BadEscape { .. }), "{bad}");
    }
}

#[test]
fn percent_helpers() {
    assert!(matches!(
        percent_decode("alice"),
        Ok(Cow::Borrowed("alice"))
    ));
    assert_eq!(percent_decode("%61lice%20b").as_deref(), Ok("alice b"));
    assert_eq!(percent_decode("caf%C3%A9").as_deref(), Ok("caf\u{e9}"));
    assert_eq!(percent_decode("%FF"), Err(UriError::NotUtf8));
    assert!(percent_decode("%G0").is_err());
    assert!(percent_decode("%0").is_err());
    assert_eq!(
        percent_decode_bytes("%FF%00").as_deref(),
        Ok(&[0xFF, 0][..])
    );
    assert!(matches!(escape_user("alice"), Cow::Borrowed("alice")));
    assert_eq!(escape_user("a b#c@d"), "a%20b%23c%40d");
    assert_eq!(escape_user("100%"), "100%25");
    assert_eq!(escape_password("p;w"), "p%3Bw");
    assert_eq!(escape_param("a;b=c"), "a%3Bb%3Dc");
    assert_eq!(escape_header("<sip:x@y>"), "%3Csip:x%40y%3E");
    // Non-UTF-8 escaped user decodes lossily.
    assert_eq!(
        p("sip:%FF@a.com").user_unescaped().as_deref(),
        Some("\u{fffd}")
    );
}

// --- grammar: host / port ---------------------------------------------------------

#[test]
fn hosts() {
    let h = p("sip:atlanta.com").host();
    assert_eq!(h.map(|h| h.kind()), Some(HostKind::Domain));
    assert!(p("sip:atlanta.com.").host().is_some_and(|h| h.is_domain()));
    assert!(p("sip:a-1.b2.example").host().is_some());
    let u = p("sip:alice@192.0.2.4");
    assert_eq!(u.ip(), Some(IpAddr::from([192, 0, 2, 4])));
    assert_eq!(u.host().map(|h| h.as_str()), Some("192.0.2.4"));
    let u = p("sip:[2001:db8::10]");
    assert_eq!(u.host().map(|h| h.as_str()), Some("[2001:db8::10]"));
    assert_eq!(u.ip(), "2001:db8::10".parse().ok());
    assert_eq!(err("sip:"), UriError::EmptyHost);
    assert_eq!(err("sip:user@"), UriError::EmptyHost);
    assert_eq!(err("sip:;lr"), UriError::EmptyHost);
    assert_eq!(err("sip:user@:5060"), UriError::EmptyHost);
    assert!(matches!(
        err("sip:exa mple.com"),
        UriError::InvalidChar {
            component: Component::Host,
            ch: ' '
        }
    ));
    assert!(matches!(
        err("sip:under_score.com"),
        UriError::InvalidChar { .. }
    ));
    assert!(matches!(err("sip:-a.com"), UriError::BadHostname(_)));
    assert!(matches!(err("sip:a-.com"), UriError::BadHostname(_)));
    assert!(matches!(err("sip:a..com"), UriError::BadHostname(_)));
    assert!(matches!(err("sip:a.123"), UriError::BadHostname(_)));
    assert!(matches!(err("sip:."), UriError::BadHostname(_)));
    assert_eq!(err("sip:192.0.2.256"), UriError::BadIpv4);
    assert_eq!(err("sip:192.0.2"), UriError::BadIpv4);
    assert_eq!(err("sip:192.0.2.1.5"), UriError::BadIpv4);
    assert_eq!(err("sip:1234"), UriError::BadIpv4);
    assert_eq!(err("sip:1.2.3.1234"), UriError::BadIpv4);
    assert_eq!(
        p("sip:010.000.000.001").ip(),
        Some(IpAddr::from([10, 0, 0, 1]))
    );
    assert!(matches!(
        err("sip:a@b@c.com"),
        UriError::InvalidChar { ch: '@', .. }
    ));
    assert!(matches!(err("sip:a.com]"), UriError::BadIpv6(_)));
}

#[test]
fn ports() {
    assert_eq!(p("sip:a.com:5060").port(), Some(5060));
    assert_eq!(p("sip:a.com:0").port(), Some(0));
    assert_eq!(p("sip:a.com:65535").port(), Some(65535));
    assert_eq!(p("sip:a.com:005060").port(), Some(5060));
    assert_eq!(p("sip:a.com").port(), None);
    assert_eq!(p("sip:a.com").port_or_default(), Some(5060));
    assert_eq!(p("sips:a.com").port_or_default(), Some(5061));
    assert!(matches!(
        err("sip:user@example.com:65536"),
        UriError::BadPort(_)
    ));
    assert!(matches!(
        err("sip:a.com:99999999999999999999"),
        UriError::BadPort(_)
    ));
    assert!(matches!(err("sip:a.com:"), UriError::BadPort(_)));
    assert!(matches!(err("sip:a.com:50a"), UriError::BadPort(_)));
    assert!(matches!(err("sip:a.com:-1"), UriError::BadPort(_)));
    assert!(matches!(err("sip:a.com:+5"), UriError::BadPort(_)));
    assert!(matches!(err("sip:a.com:5060:5060"), UriError::BadPort(_)));
}

// RFC 5118 IPv6 torture tests.
#[test]
fn rfc5118_ipv6() {
    // §4.1 valid reference.
    let u = p("sip:[2001:db8::10]");
    assert_eq!(u.port(), None);
    // §4.4 port unambiguous.
    let u = p("sip:[2001:db8::10]:5070");
    assert_eq!(u.host().map(|h| h.as_str()), Some("[2001:db8::10]"));
    assert_eq!(u.port(), Some(5070));
    // §4.3 port ambiguous: all of it is the address, no port.
    let u = p("sip:[2001:db8::10:5070]");
    assert_eq!(u.ip(), "2001:db8::10:5070".parse().ok());
    assert_eq!(u.port(), None);
    // §4.9 IPv4-mapped and §4.10 the ABNF bug ("::" plus an extra ':').
    let u = p("sip:user@[::ffff:192.0.2.10]:5060;transport=udp");
    assert_eq!(u.ip(), "::ffff:192.0.2.10".parse().ok());
    assert_eq!(u.transport(), Some("udp"));
    assert!(p("sip:[2001:db8::192.0.2.1]").ip().is_some());
    // The three-colon form the ABNF bug allows is accepted (RFC 5118 §4.10: receivers
    // should be liberal) as the same address; the SBC never writes it.
    let liberal = p("sip:user@[2001:db8:::192.0.2.1]");
    assert_eq!(liberal.ip(), p("sip:user@[2001:db8::192.0.2.1]").ip());
    assert_eq!(
        liberal.ip().unwrap().to_string(),
        "2001:db8::c000:201",
        "written back in the standard form"
    );
    assert!(matches!(
        err("sip:[2001:db8::::192.0.2.1]"),
        UriError::BadIpv6(_)
    ));
    assert!(matches!(err("sip:[2001:db8:::1]"), UriError::BadIpv6(_)));
    // §4.2 invalid: no brackets, or unbalanced.
    assert!(matches!(err("sip:[2001:db8::10"), UriError::BadIpv6(_)));
    assert!(matches!(err("sip:user@2001:db8::10"), UriError::BadIpv6(_)));
    assert!(matches!(err("sip:2001:db8::10]"), UriError::BadIpv6(_)));
    assert!(matches!(
        err("sip:[2001:db8::10]5060"),
        UriError::BadIpv6(_)
    ));
    assert!(matches!(err("sip:[2001:db8::g]"), UriError::BadIpv6(_)));
    assert!(matches!(err("sip:[192.0.2.1]"), UriError::BadIpv6(_)));
    assert!(matches!(err("sip:[fe80::1%eth0]"), UriError::BadIpv6(_)));
    assert!(matches!(err("sip:[]"), UriError::BadIpv6(_)));
    assert!(matches!(err("sip:[2001:db8::10]:"), UriError::BadPort(_)));
    // Brackets are fine inside parameters.
    assert_eq!(
        p("sip:a.com;maddr=[2001:db8::1]").maddr(),
        Some("[2001:db8::1]")
    );
}

// --- grammar: parameters ----------------------------------------------------------

#[test]
fn params() {
    let u = p("sip:alice@atlanta.com;transport=tcp;lr;ttl=15;maddr=239.255.255.1;method=REGISTER;user=ip;x-foo=b%61r");
    let names: Vec<_> = u.params().map(|p| p.name()).collect();
    assert_eq!(
        names,
        ["transport", "lr", "ttl", "maddr", "method", "user", "x-foo"]
    );
    assert_eq!(u.transport(), Some("tcp"));
    assert!(u.lr());
    assert_eq!(u.ttl(), Some(15));
    assert_eq!(u.maddr(), Some("239.255.255.1"));
    assert_eq!(u.method(), Some("REGISTER"));
    assert_eq!(u.user_param(), Some("ip"));
    assert_eq!(u.param("X-FOO").and_then(|p| p.value()), Some("b%61r"));
    assert_eq!(
        u.param("x-foo")
            .and_then(|p| p.value_unescaped())
            .as_deref(),
        Some("bar")
    );
    assert_eq!(u.param("LR").map(|p| p.value()), Some(None));
    assert!(u.param("nope").is_none());
    assert_eq!(
        u.params_str(),
        "transport=tcp;lr;ttl=15;maddr=239.255.255.1;method=REGISTER;user=ip;x-foo=b%61r"
    );
    assert!(!p("sip:a.com").lr());
    assert_eq!(p("sip:a.com;ttl=256").ttl(), None);
    assert_eq!(p("sip:a.com;ttl=abc").ttl(), None);
    assert_eq!(p("sip:a.com;ttl=+1").ttl(), None);
    assert_eq!(p("sip:a.com;ttl=0").ttl(), Some(0));
    assert_eq!(p("sip:a.com;Transport=UDP").transport(), Some("UDP"));
    // Duplicates: the first wins.
    assert_eq!(p("sip:a.com;x=1;x=2").param_value("x"), Some("1"));
    // Parameter chars: param-unreserved includes '[', ']', '/', ':', '&', '+', '$'.
    assert_eq!(
        p("sip:a.com;x=[a]/b:c&d+e$").param_value("x"),
        Some("[a]/b:c&d+e$")
    );
    assert_eq!(err("sip:a.com;"), UriError::EmptyParamName);
    assert_eq!(err("sip:a.com;;lr"), UriError::EmptyParamName);
    assert_eq!(err("sip:a.com;=x"), UriError::EmptyParamName);
    assert_eq!(err("sip:a.com;transport="), UriError::EmptyParamValue);
    assert!(matches!(
        err("sip:a.com;a=b=c"),
        UriError::InvalidChar { ch: '=', .. }
    ));
    assert!(matches!(
        err("sip:a.com;a=b c"),
        UriError::InvalidChar { ch: ' ', .. }
    ));
    // RFC 4475 lwsruri: whitespace inside the Request-URI.
    assert!(matches!(
        err("sip:user@example.com; lr"),
        UriError::InvalidChar { .. }
    ));
    let many = format!("sip:a.com{}", ";x".repeat(MAX_PARAMS + 1));
    assert_eq!(err(&many), UriError::TooMany);
    let ok = format!("sip:a.com{}", ";x".repeat(MAX_PARAMS));
    assert_eq!(p(&ok).params().count(), MAX_PARAMS);
    // A standalone walker for other users of the grammar.
    assert_eq!(Params::new("a=1;b").count(), 2);
    assert_eq!(Params::new("").count(), 0);
}

// --- grammar: headers -------------------------------------------------------------

#[test]
fn headers() {
    let u = p("sip:alice@atlanta.com?subject=project%20x&priority=urgent");
    let hs: Vec<_> = u.headers().map(|h| (h.name(), h.value())).collect();
    assert_eq!(hs, [("subject", "project%20x"), ("priority", "urgent")]);
    assert_eq!(u.header("SUBJECT"), Some("project%20x"));
    assert_eq!(
        u.headers().next().map(|h| h.value_unescaped()).as_deref(),
        Some("project x")
    );
    assert_eq!(u.headers_str(), "subject=project%20x&priority=urgent");
    // RFC 4475 escruri / regescrt: escaped Route header.
    let u = p("sip:user@example.com?Route=%3Csip:example.com%3E");
    assert_eq!(
        u.headers().next().map(|h| h.value_unescaped()).as_deref(),
        Some("<sip:example.com>")
    );
    let u = p("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com");
    assert_eq!(u.method(), Some("REGISTER"));
    assert_eq!(u.header("to"), Some("sip:bob%40biloxi.com"));
    assert_eq!(p("sip:a.com?subject=").header("subject"), Some(""));
    assert_eq!(p("sip:a.com?b%6fdy=hi").header("body"), Some("hi"));
    assert_eq!(err("sip:a.com?"), UriError::MissingHeaderValue);
    assert_eq!(err("sip:a.com?subject"), UriError::MissingHeaderValue);
    assert_eq!(err("sip:a.com?=x"), UriError::EmptyHeaderName);
    assert_eq!(err("sip:a.com?a=b&"), UriError::MissingHeaderValue);
    assert!(matches!(
        err("sip:a.com?a=b c"),
        UriError::InvalidChar { .. }
    ));
    assert!(matches!(
        err("sip:a.com?a=<x>"),
        UriError::InvalidChar { ch: '<', .. }
    ));
}

// --- tel (RFC 3966) ---------------------------------------------------------------

#[test]
fn tel_uris() {
    let u = p("tel:+1-212-555-0101");
    assert_eq!(u.number(), Some("+1-212-555-0101"));
    assert_eq!(u.number_digits().as_deref(), Some("+12125550101"));
    assert!(u.is_global_number());
    assert!(u.host().is_none());
    let u = p("tel:7042;phone-context=example.com");
    assert_eq!(u.number(), Some("7042"));
    assert!(!u.is_global_number());
    assert_eq!(u.phone_context(), Some("example.com"));
    let u = p("tel:863-1234;phone-context=+1-914-555");
    assert_eq!(u.phone_context(), Some("+1-914-555"));
    let u = p("tel:+1(212)555.0101;ext=22;isub=1411;x-y=%41");
    assert_eq!(u.param_value("ext"), Some("22"));
    assert!(matches!(u.number_digits(), Some(Cow::Owned(_))));
    assert!(matches!(
        p("tel:+12125550101").number_digits(),
        Some(Cow::Borrowed(_))
    ));
    assert!(p("tel:*69#;phone-context=example.com").number().is_some());
    assert!(p("tel:+1").number().is_some());
    assert_eq!(p("sip:a.com").number(), None);
    assert!(matches!(err("tel:7042"), UriError::BadTelNumber(_)));
    assert!(matches!(err("tel:+"), UriError::BadTelNumber(_)));
    assert!(matches!(err("tel:+--"), UriError::BadTelNumber(_)));
    assert!(matches!(err("tel:"), UriError::BadTelNumber(_)));
    assert!(matches!(err("tel:+1 212"), UriError::InvalidChar { .. }));
    assert!(matches!(err("tel:+1a"), UriError::InvalidChar { .. }));
    assert!(matches!(
        err("tel:12;phone-context=-bad"),
        UriError::BadHostname(_)
    ));
    assert_eq!(err("tel:12;phone-context"), UriError::EmptyParamValue);
    assert_eq!(err("tel:+1;"), UriError::EmptyParamName);
    assert_eq!(err("tel:+1;a="), UriError::EmptyParamValue);
    assert!(matches!(err("tel:+1;a_b=1"), UriError::InvalidChar { .. }));
    // RFC 3966 §4 comparison.
    assert!(eqv("tel:+1-212-555-0101", "TEL:+1(212)5550101"));
    assert!(eqv(
        "tel:7042;phone-context=EXAMPLE.com",
        "tel:7042;phone-context=example.com"
    ));
    assert!(eqv("tel:+1;a=1;b=2", "tel:+1;B=2;a=1"));
    assert!(eqv(
        "tel:abc;phone-context=+1-2",
        "tel:ABC;phone-context=+12"
    ));
    assert!(!eqv("tel:+1-212-555-0101", "tel:+1-212-555-0102"));
    assert!(!eqv("tel:+1;a=1", "tel:+1"));
    assert!(!eqv(
        "tel:7042;phone-context=a.com",
        "tel:7042;phone-context=b.com"
    ));
    assert!(!eqv(
        "tel:+12125550101",
        "sip:+12125550101@a.com;user=phone"
    ));
}

// --- RFC 4475 and other odd-but-valid URIs ----------------------------------------

#[test]
fn rfc4475_and_odd_valid() {
    for s in [
        "sip:vivekg@chair-dnrc.example.com;unknownparam",
        "sip:vivekg@chair-dnrc.example.com:5060",
        "sip:user@example.com;transport=sctp",
        "sip:user@example.com;transport=tls",
        "sip:user@example.com;transport=other-transport",
        "sip:+19725552222@gw1.example.net;unknownparam",
        "sip:user@host.example.com?Route=%3Csip:sip.example.com%3E",
        "sip:t.watson@example.org",
        "sips:user@example.com",
        "sip:caller@host5.example.net",
        "sip:user@127.0.0.1:5060",
        "sip:!~*'()-_.@example.com",
        "sip:user@example.com;x=!~*'()-_.",
        "sip:host.example.com;lr;transport=udp?subject=a&priority=b",
        "sip:amazinglylongcallee@example.net;unknownparam=verylongparametervalue;y",
        "sip:%22foo%22@example.com",
        "sip:j.user@example.com;maddr=[::1];ttl=255",
        "sip:user@EXAMPLE.COM:00000000000005060",
        "sip:1.2.3.4.example.com",
        "sip:u@0.0.0.0",
        // RFC 4475 unksm2 (unknown schemes in header fields) and novelsc (soap.beep).
        "http://www.example.com",
        "name:John_Smith",
        "mailto:jdrosen@example.com",
        "soap.beep://192.0.2.103:3002",
    ] {
        let u = p(s);
        assert_eq!(u.to_string(), s, "display round-trip");
        assert!(u.equivalent(&u), "reflexive: {s}");
    }
}

#[test]
fn invalid_uris() {
    for s in [
        "sip:user@example.com:65536",
        "sip:@example.com",
        "sip:exa mple.com",
        "sip: user@example.com",
        "sip:user@example.com ",
        "sip:user@example.com\r\n",
        "sip:user@example.com>",
        // RFC 4475 ltgtruri.
        "<sip:user@example.com>",
        "sip:user@example.com;lr=",
        "sip:user@[2001:db8::10",
        "sip:user@2001:db8::10",
        "sip:user@example.com:5060:5060",
        "sip:%zzuser@example.com",
        "sip:user@exa%6dple.com",
        "sip:user@example..com",
        "sip:user@",
        "sips:",
        "sip:user@example.com#frag",
        "sip:user@example.com;transport=tcp?",
        "sip:user@example.com?a=b?c=d=e",
    ] {
        assert!(Uri::parse(s).is_err(), "{s:?} should be rejected");
    }
    // Errors carry a readable reason.
    assert_eq!(
        err("sip:user@example.com:65536").to_string(),
        "invalid port: greater than 65535"
    );
    assert_eq!(
        err("sip:exa mple.com").to_string(),
        "invalid character ' ' in host"
    );
    assert!(matches!(
        Uri::parse_bytes(b"sip:\xff"),
        Err(UriError::NotUtf8)
    ));
    assert!(Uri::parse_bytes(b"sip:a.com").is_ok());
}

// --- Display and the builder --------------------------------------------------------

#[test]
fn display_round_trip() {
    for s in [
        "sip:alice@atlanta.com",
        "SIP:ALICE:pw@AtLanTa.CoM:5060;Transport=udp;lr?Subject=x&b=%20",
        "sips:[2001:db8::10]:5070;maddr=[::1]",
        "sip:alice;day=tuesday@atlanta.com",
        "tel:+1-212-555-0101;ext=1",
        "tel:7042;phone-context=example.com",
        "urn:service:sos",
    ] {
        let u = p(s);
        let out = u.to_string();
        assert_eq!(out, s);
        assert!(p(&out).equivalent(&u));
    }
}

#[test]
fn builder() {
    let b = UriBuf::sip("192.0.2.1").map(|b| {
        b.with_user("user")
            .with_port(5060)
            .with_param("transport", Some("tcp"))
    });
    let b = match b {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(b.to_string(), "sip:user@192.0.2.1:5060;transport=tcp");
    assert_eq!(b.param("TRANSPORT"), Some(Some("tcp")));
    assert!(b.equivalent(&p("sip:user@192.0.2.1:5060;transport=TCP")));

    let v6: IpAddr = match "2001:db8::10".parse() {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let b = UriBuf::from_ip(v6).with_port(5070).with_param("lr", None);
    assert_eq!(b.to_string(), "sip:[2001:db8::10]:5070;lr");
    assert_eq!(
        UriBuf::sip("2001:db8::1").map(|b| b.to_string()),
        Ok("sip:[2001:db8::1]".into())
    );
    assert_eq!(
        UriBuf::sips("[2001:db8::1]").map(|b| b.to_string()),
        Ok("sips:[2001:db8::1]".into())
    );
    assert!(UriBuf::sip("bad host").is_err());
    assert!(UriBuf::sip("").is_err());

    // Escaping of user, password, params and headers.
    let mut b = match UriBuf::sip("example.com") {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    b = b
        .with_user("al ice@home")
        .with_password("p@ss")
        .with_param("x", Some("a b"))
        .with_param("X", Some("c"))
        .with_param("empty", Some(""))
        .with_param("", Some("ignored"))
        .with_header("Subject", "hi there")
        .with_header("Route", "<sip:x@y>")
        .with_secure(true);
    let s = b.to_string();
    assert_eq!(
        s,
        "sips:al%20ice%40home:p%40ss@example.com;x=c;empty?Subject=hi%20there&Route=%3Csip:x%40y%3E"
    );
    let u = p(&s);
    assert_eq!(u.user_unescaped().as_deref(), Some("al ice@home"));
    assert_eq!(
        u.header("route")
            .map(|v| unescape_lossy(v).into_owned())
            .as_deref(),
        Some("<sip:x@y>")
    );
    assert!(b.is_secure());
    assert_eq!(b.user(), Some("al%20ice%40home"));
    assert_eq!(b.host(), "example.com");

    // Mutators.
    assert!(b.remove_param("x"));
    assert!(!b.remove_param("x"));
    b.clear_headers();
    b.set_user(None);
    b.set_port(Some(5061));
    assert!(b.set_host("[::1]").is_ok());
    assert!(b.set_host("a b").is_err());
    assert_eq!(b.to_string(), "sips:[::1]:5061;empty");
    b.set_ip(IpAddr::from([10, 0, 0, 1]));
    assert_eq!(b.host(), "10.0.0.1");
    assert_eq!(b.port(), Some(5061));

    // Owned copy of a parsed URI, byte for byte.
    for s in [
        "sip:alice:pw@atlanta.com:5060;transport=tcp;lr?subject=a%20b&x=",
        "sips:[2001:db8::10]",
    ] {
        let owned = UriBuf::parse(s);
        assert_eq!(owned.map(|o| o.to_string()), Ok(s.to_owned()));
    }
    assert_eq!(UriBuf::parse("tel:+1"), Err(UriError::NotSip));
    assert_eq!(p("urn:x").to_buf(), Err(UriError::NotSip));
}

// --- robustness -------------------------------------------------------------------

proptest::proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,64}") {
        let _ = Uri::parse(&s);
        let _ = percent_decode(&s);
        let _ = Host::parse(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
        let _ = Uri::parse_bytes(&b);
    }

    #[test]
    fn uri_like_strings_round_trip(
        s in "(sip|sips|SIP|tel):[a-zA-Z0-9%@:;=?&.+\\[\\]_-]{0,40}",
        t in "(sip|tel):[a-zA-Z0-9%@:;=?&.+\\[\\]_-]{0,40}",
    ) {
        if let Ok(u) = Uri::parse(&s) {
            let out = u.to_string();
            proptest::prop_assert_eq!(&out, &s);
            proptest::prop_assert!(u.equivalent(&u));
            if let Ok(b) = u.to_buf() {
                let text = b.to_string();
                proptest::prop_assert!(Uri::parse(&text).is_ok_and(|v| v.equivalent(&u)));
            }
            if let Ok(v) = Uri::parse(&t) {
                proptest::prop_assert_eq!(u.equivalent(&v), v.equivalent(&u));
            }
        }
    }
}
