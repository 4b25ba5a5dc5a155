//! Message-level tests: parsing, byte-exact round trips, errors and their replies.

use super::*;
use bytes::Bytes;

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 5\r\n\
\r\n\
v=0\r\n";

fn parse(s: &str) -> Result<Message, ParseError> {
    Message::parse_checked(Bytes::copy_from_slice(s.as_bytes()), &Limits::default())
}

#[test]
fn parses_a_typical_invite() {
    let m = parse(INVITE).unwrap();
    assert!(m.is_request());
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.uri(), Some("sip:bob@biloxi.example.com"));
    let via = m.via().unwrap();
    assert_eq!(via.host, "pc33.atlanta.example.com");
    assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(m.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(m.to().unwrap().tag(), None);
    assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.atlanta.example.com"));
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (314159, "INVITE"));
    assert_eq!(m.max_forwards(), Some(70));
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert!(m.has_sdp());
    assert_eq!(m.body().as_ref(), b"v=0\r\n");
    assert_eq!(m.contacts().count(), 1);
}

#[test]
fn unchanged_message_round_trips_byte_identical() {
    let odd = "REGISTER sip:example.com SIP/2.0\r\n\
v:   SIP/2.0/TCP [2001:db8::1]:5061 ;branch=z9hG4bKx\r\n\
f: <sip:u@example.com>;tag=1\r\n\
t:\tsip:u@example.com\r\n\
i: abc\r\n\
CSEQ: 1 REGISTER\r\n\
m: \"A, B\" <sip:u@192.0.2.1;transport=tcp>;expires=60,\r\n <sip:u@192.0.2.2>\r\n\
X-Custom :  keep   spacing  \r\n\
l: 0\r\n\
\r\n";
    let m = parse(odd).unwrap();
    assert_eq!(m.to_bytes().as_ref(), odd.as_bytes());
    // The folded Contact reads as two contacts with folding replaced by a space.
    assert_eq!(m.contacts().count(), 2);
    assert_eq!(
        m.header(&HeaderName::from_name("x-custom")),
        Some("keep   spacing")
    );
    let bare_lf = INVITE.replace("\r\n", "\n");
    let m = Message::parse(Bytes::from(bare_lf.clone()), &Limits::default());
    // Bare LF: header ends and body keep their bytes; Content-Length 5 now covers "v=0\n" + 1 byte short.
    assert!(m.is_err());
    let bare_lf = bare_lf.replace("Content-Length: 5", "Content-Length: 4");
    let m = Message::parse(Bytes::from(bare_lf.clone()), &Limits::default()).unwrap();
    assert_eq!(m.to_bytes().as_ref(), bare_lf.as_bytes());
}

#[test]
fn changes_are_written_canonically() {
    let mut m = parse(INVITE).unwrap();
    m.set_uri("sip:bob@192.0.2.10:5060");
    m.remove_headers(&HeaderName::Via);
    m.insert_header(
        0,
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew",
    );
    m.set_header(HeaderName::MaxForwards, "69");
    m.set_body(
        Bytes::from_static(b"v=0\r\no=x\r\n"),
        Some("application/sdp"),
    );
    let out = String::from_utf8(m.to_bytes().to_vec()).unwrap();
    assert!(out.starts_with("INVITE sip:bob@192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew\r\nMax-Forwards: 69\r\n"));
    assert!(out.contains("Content-Length: 10\r\n\r\nv=0\r\no=x\r\n"));
    let again = parse(&out).unwrap();
    assert_eq!(again, m);
}

#[test]
fn response_to_copies_the_right_headers() {
    let m = parse(INVITE).unwrap();
    let r = Message::response_to(&m, 180, "");
    assert_eq!(r.status(), Some(180));
    assert_eq!(r.reason(), Some("Ringing"));
    let names: Vec<_> = r.headers().iter().map(|h| h.name().as_str()).collect();
    assert_eq!(
        names,
        ["Via", "To", "From", "Call-ID", "CSeq", "Content-Length"]
    );
    let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
    assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"));
    let back = Message::parse(r.to_bytes(), &Limits::default()).unwrap();
    assert_eq!(back.status(), Some(180));
}

#[test]
fn leading_crlf_is_ignored_and_extra_body_bytes_discarded() {
    let m = parse(&format!("\r\n\r\n{INVITE}trailing-garbage")).unwrap();
    assert_eq!(m.body().as_ref(), b"v=0\r\n");
}

#[test]
fn errors_map_to_status_and_carry_a_reply() {
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "Max-Forwards: 70",
            "Max-Forwards: seventy",
            400,
            "Bad Max-Forwards header: not a number 0-255",
        ),
        (
            "CSeq: 314159 INVITE",
            "CSeq: 314159 BYE",
            400,
            "CSeq Method Mismatch",
        ),
        (
            "INVITE sip:bob",
            "INVITE mailto:bob",
            416,
            "Unsupported URI Scheme",
        ),
        (
            "SIP/2.0\r\nVia",
            "SIP/7.0\r\nVia",
            505,
            "Version Not Supported",
        ),
        (
            "Content-Length: 5",
            "Content-Length: 50",
            400,
            "Content-Length Exceeds Body",
        ),
        (
            "Contact: <sip:alice@pc33.atlanta.example.com>",
            "Contact: <sip:alice@pc33",
            400,
            "Bad Contact header: missing '>'",
        ),
    ];
    for (from, to, status, reason) in cases {
        let text = INVITE.replacen(from, to, 1);
        let e = parse(&text).unwrap_err();
        assert_eq!(
            (e.status(), e.reason().as_str()),
            (*status, *reason),
            "{to}"
        );
    }
    // A bad Max-Forwards still leaves enough to answer with a 400 that names it.
    let e = parse(&INVITE.replace("Max-Forwards: 70", "Max-Forwards: x")).unwrap_err();
    let reply = e.reply().unwrap();
    assert_eq!(reply.status(), Some(400));
    assert_eq!(
        reply.reason(),
        Some("Bad Max-Forwards header: not a number 0-255")
    );
    assert_eq!(
        reply.call_id(),
        Some("a84b4c76e66710@pc33.atlanta.example.com")
    );
    // Missing Call-ID: no reply can be built.
    let e = parse(&INVITE.replace("Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", ""))
        .unwrap_err();
    assert_eq!(e.reason(), "Missing Call-ID Header");
    assert!(e.reply().is_none());
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_message_bytes: 100,
        ..Limits::default()
    };
    let e = Message::parse(Bytes::from_static(INVITE.as_bytes()), &limits).unwrap_err();
    assert_eq!(e.status(), 513);
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    let e = Message::parse(Bytes::from_static(INVITE.as_bytes()), &limits).unwrap_err();
    assert_eq!(e.reason(), "Too Many Headers");
    let limits = Limits {
        max_header_bytes: 40,
        ..Limits::default()
    };
    let e = Message::parse(Bytes::from_static(INVITE.as_bytes()), &limits).unwrap_err();
    assert_eq!(e.reason(), "Header Too Long: Via");
    let limits = Limits {
        max_uri_bytes: 10,
        ..Limits::default()
    };
    let e = Message::parse(Bytes::from_static(INVITE.as_bytes()), &limits).unwrap_err();
    assert_eq!(e.status(), 414);
    let limits = Limits {
        max_body_bytes: 2,
        ..Limits::default()
    };
    let e = Message::parse(Bytes::from_static(INVITE.as_bytes()), &limits).unwrap_err();
    assert_eq!(e.status(), 413);
}

#[test]
fn stream_parse_requires_content_length() {
    let text = INVITE.replace("Content-Length: 5\r\n", "");
    assert!(parse(&text).is_ok());
    let e = Message::parse_stream(Bytes::from(text), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::MissingContentLength);
}

#[test]
fn extension_methods_and_all_known_methods_parse() {
    for m in Method::KNOWN.iter().map(Method::as_str).chain(["FOO"]) {
        let text = INVITE.replace("INVITE", m);
        let msg = parse(&text).unwrap();
        assert_eq!(msg.method().unwrap().as_str(), m);
    }
}

#[test]
fn typed_header_accessors() {
    let text = INVITE.replace(
        "Content-Type",
        "Supported: 100rel, timer\r\nRequire: 100rel\r\nSession-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\nRSeq: 7\r\nRAck: 7 314159 INVITE\r\nEvent: presence;id=1\r\nSubscription-State: active;expires=60\r\nRefer-To: <sip:carol@example.com?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\nReferred-By: <sip:alice@example.com>\r\nReplaces: abc;to-tag=1;from-tag=2\r\nAllow: INVITE, ACK,BYE\r\nExpires: 120\r\nMin-Expires: 60\r\nUser-Agent: test/1.0\r\nRecord-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\nRoute: <sip:p3.example.com;lr>\r\nContent-Type",
    );
    let m = parse(&text).unwrap();
    assert!(m.has_token(&HeaderName::Supported, "TIMER"));
    assert!(m.has_token(&HeaderName::Require, "100rel"));
    assert_eq!(
        m.tokens(&HeaderName::Allow).collect::<Vec<_>>(),
        ["INVITE", "ACK", "BYE"]
    );
    assert_eq!(m.session_expires().unwrap().delta, 1800);
    assert_eq!(m.min_se(), Some(90));
    assert_eq!(m.rseq(), Some(7));
    assert_eq!(m.rack().unwrap().cseq, 314159);
    assert_eq!(m.event().unwrap().value, "presence");
    assert_eq!(m.subscription_state().unwrap().expires, Some(60));
    assert!(m
        .refer_to()
        .unwrap()
        .uri
        .starts_with("sip:carol@example.com?Replaces="));
    assert_eq!(m.referred_by().unwrap().uri, "sip:alice@example.com");
    assert_eq!(m.replaces().unwrap().to_tag, "1");
    assert_eq!((m.expires(), m.min_expires()), (Some(120), Some(60)));
    assert_eq!(m.user_agent(), Some("test/1.0"));
    let rr: Vec<_> = m.record_routes().map(|r| r.unwrap().uri).collect();
    assert_eq!(rr, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert_eq!(m.routes().count(), 1);
}

#[test]
fn garbage_never_panics() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..400), |bytes| {
            let _ = Message::parse_checked(Bytes::from(bytes.clone()), &Limits::default());
            let mut f = StreamFramer::new(1000);
            f.push(&bytes);
            while let Ok(Some(_)) = f.poll() {}
            Ok(())
        })
        .unwrap();
    // Mutations of a valid message: every single-byte change parses or fails cleanly.
    let base = INVITE.as_bytes();
    for i in 0..base.len() {
        for b in [b'\0', b' ', b'\r', b'\n', b':', b';', b'<', b'"', 0xff] {
            let mut v = base.to_vec();
            v[i] = b;
            let _ = Message::parse_checked(Bytes::from(v), &Limits::default());
        }
    }
}

#[test]
fn views_read_after_header_edits_see_the_edit() {
    let mut m = parse(INVITE).unwrap();
    // Read every cached view once, then edit each header they come from.
    assert_eq!(m.via().unwrap().host, "pc33.atlanta.example.com");
    assert_eq!(m.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(m.to().unwrap().tag(), None);
    assert_eq!(m.cseq().unwrap().seq, 314159);

    m.insert_header(
        0,
        HeaderName::Via,
        "SIP/2.0/TCP sbc.example.com;branch=z9hG4bKtop",
    );
    assert_eq!(m.via().unwrap().host, "sbc.example.com");
    assert_eq!(m.vias().count(), 2);
    m.set_header(HeaderName::To, "Bob <sip:bob@biloxi.example.com>;tag=b1");
    assert_eq!(m.to().unwrap().tag(), Some("b1"));
    m.set_header(HeaderName::CSeq, "7 INVITE");
    assert_eq!(m.cseq().unwrap().seq, 7);
    m.remove_first(&HeaderName::Via);
    assert_eq!(m.via().unwrap().host, "pc33.atlanta.example.com");
    m.retain_headers(|h| *h.name() != HeaderName::From);
    assert!(m.from().is_none());
    m.push_header(HeaderName::From, "<sip:carol@example.com>;tag=c");
    assert_eq!(m.from().unwrap().tag(), Some("c"));
    assert_eq!(m.remove_headers(&HeaderName::Via), 1);
    assert!(m.via().is_none());
    assert_eq!(m.vias().count(), 0);

    // A clone keeps answering from its own headers.
    let c = m.clone();
    m.set_header(HeaderName::From, "<sip:dave@example.com>;tag=d");
    assert_eq!(c.from().unwrap().tag(), Some("c"));
    assert_eq!(m.from().unwrap().tag(), Some("d"));
}

#[test]
fn a_bad_top_via_reads_as_none_and_fails_the_check() {
    let mut m = parse(INVITE).unwrap();
    assert!(m.via().is_some());
    m.insert_header(0, HeaderName::Via, "SIP/2.0/UDP host:99999");
    assert!(m.via().is_none());
    assert!(matches!(m.vias().next(), Some(Err(_))));
    assert_eq!(
        m.check(),
        Err(ParseErrorKind::BadHeader(HeaderError::new(
            "Via",
            "bad sent-by"
        )))
    );
}

#[test]
fn whitespace_in_call_id_is_found_as_char_is_whitespace_finds_it() {
    for c in (0u32..0x3100).filter_map(char::from_u32) {
        let s = format!("a{c}b");
        assert_eq!(
            message::has_whitespace(&s),
            s.contains(char::is_whitespace),
            "{c:?}"
        );
    }
}

#[test]
fn check_reports_the_first_problem_in_header_order() {
    let k = |text: String| parse(&text).unwrap_err().kind;
    assert_eq!(
        k(INVITE.replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nMax-Forwards: 69\r\n"
        )),
        ParseErrorKind::DuplicateHeader("Max-Forwards")
    );
    assert_eq!(
        k(INVITE.replace("Max-Forwards: 70\r\n", "Max-Forwards: 300\r\n")),
        ParseErrorKind::BadHeader(HeaderError::new("Max-Forwards", "not a number 0-255"))
    );
    assert_eq!(
        k(INVITE.replace("Max-Forwards: 70\r\n", "Expires: 1\r\nExpires: 2\r\n")),
        ParseErrorKind::DuplicateHeader("Expires")
    );
    // A bad From is reported before a duplicate Max-Forwards further down the list of checks.
    assert_eq!(
        k(INVITE
            .replace(
                "Max-Forwards: 70\r\n",
                "Max-Forwards: 70\r\nMax-Forwards: 69\r\n"
            )
            .replace(
                "From: Alice <sip:alice@atlanta.example.com>",
                "From: Alice sip:alice"
            )),
        ParseErrorKind::BadHeader(HeaderError::new("From", "bad URI"))
    );
    // Without Max-Forwards or Expires there is nothing to check about them.
    assert!(parse(&INVITE.replace("Max-Forwards: 70\r\n", "")).is_ok());
}

proptest::proptest! {
    #[test]
    fn request_line_parts_split_like_split_on_spaces(line in "[A :/.]{0,12}") {
        let mut parts = line.split(' ');
        let old = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(u), Some(v), None) => Some((m, u, v)),
            _ => None,
        };
        proptest::prop_assert_eq!(message::request_line_parts(&line), old);
    }
}

#[test]
fn cached_views_carry_the_tag_and_branch_their_parameters_hold() {
    let msg = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP a.example.com;rport;BRANCH=\"z9hG4bKq\";x=1\r\n\
Via: SIP/2.0/UDP b.example.com;branch=z9hG4bKsecond\r\n\
To: <sip:bob@biloxi.example.com>;x=1;TAG=\"q t\"\r\n\
From: Alice <sip:alice@atlanta.example.com>;x\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";
    let m = parse(msg).unwrap();
    for _ in 0..2 {
        // The first read fills the cache, the second rebuilds from it: both agree with a search
        // of the parameters, quotes removed, names matched case-insensitively.
        let (from, to, via) = (m.from().unwrap(), m.to().unwrap(), m.via().unwrap());
        assert_eq!(from.tag(), None);
        assert_eq!(from.params.value("tag"), None);
        assert_eq!(to.tag(), Some("q t"));
        assert_eq!(to.tag(), to.params.value("tag"));
        assert_eq!(via.branch(), Some("z9hG4bKq"));
        assert_eq!(via.branch(), via.params.value("branch"));
        // A view from the cache equals the same text parsed afresh.
        let fresh = NameAddr::parse(m.header(&HeaderName::To).unwrap()).unwrap();
        assert!(to.tag_hint.is_some() && fresh.tag_hint.is_none());
        assert_eq!(to, fresh);
        let top = Via::parse(m.values(&HeaderName::Via).next().unwrap()).unwrap();
        assert_eq!(via, top);
    }
    // After an edit the cache is rebuilt from the new text.
    let mut m = m;
    m.set_header(HeaderName::To, "<sip:bob@biloxi.example.com>;tag=new");
    assert_eq!(m.to().unwrap().tag(), Some("new"));
}

#[test]
fn a_head_longer_than_the_kept_line_ends_parses_line_by_line_past_them() {
    // 60 extra headers before the mandatory ones, a folded value across the 64th line end and
    // another past it: every header is read, folds joined, wherever the kept ends run out.
    for lf in ["\r\n", "\n"] {
        let mut text = format!("OPTIONS sip:bob@biloxi.example.com SIP/2.0{lf}");
        for i in 0..60 {
            text.push_str(&format!("X-Filler-{i}: {i}{lf}"));
        }
        text.push_str(&format!("Subject: first{lf} half{lf}\tsecond half{lf}"));
        text.push_str(&format!(
            "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKlong{lf}\
             To: <sip:bob@biloxi.example.com>{lf}\
             From: <sip:alice@atlanta.example.com>;tag=1{lf}\
             Call-ID: long{lf}\
             CSeq: 1 OPTIONS{lf}\
             X-Late: a{lf}  b{lf}\
             Content-Length: 0{lf}{lf}"
        ));
        let m = parse(&text).unwrap();
        assert_eq!(m.headers().len(), 60 + 1 + 7, "{lf:?}");
        assert_eq!(m.header(&HeaderName::from_name("X-Filler-59")), Some("59"));
        assert_eq!(
            m.header(&HeaderName::Subject),
            Some("first half second half")
        );
        assert_eq!(m.header(&HeaderName::from_name("X-Late")), Some("a b"));
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bKlong"));
        assert_eq!(m.to_bytes().as_ref(), text.as_bytes(), "{lf:?}");
    }
}

#[test]
fn a_built_message_is_written_in_one_allocation_with_its_numbers_in_decimal() {
    let req = parse(INVITE).unwrap();
    for (code, body) in [(100, ""), (180, "x"), (200, "v=0\r\nbody"), (699, "")] {
        let mut rsp = Message::response_to(&req, code, "");
        rsp.set_body(Bytes::copy_from_slice(body.as_bytes()), Some("text/plain"));
        rsp.remove_headers(&HeaderName::ContentLength);
        let out = rsp.to_bytes();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with(&format!("SIP/2.0 {code} ")), "{text}");
        assert!(
            text.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
            "{text}"
        );
        assert!(
            out.len() <= rsp.encoded_len(),
            "{} > {}",
            out.len(),
            rsp.encoded_len()
        );
    }
    let mut big = Message::request(Method::Options, "sip:bob@example.com");
    big.set_body(Bytes::from(vec![b'a'; 1_234_567]), Some("text/plain"));
    big.remove_headers(&HeaderName::ContentLength);
    let out = big.to_bytes();
    assert!(std::str::from_utf8(&out[..200])
        .unwrap()
        .contains("Content-Length: 1234567\r\n"));
    assert!(out.len() <= big.encoded_len());
    // A parsed message written back: the same bytes, within the estimate.
    assert_eq!(req.to_bytes().as_ref(), INVITE.as_bytes());
    assert!(INVITE.len() <= req.encoded_len());
}

#[test]
fn an_edit_in_place_forgets_only_its_own_view_and_one_that_moves_headers_forgets_all() {
    let mut m = parse(INVITE).unwrap();
    let read = |m: &Message| {
        (
            m.via().map(|v| v.host.to_owned()),
            m.from().and_then(|f| f.tag()).map(str::to_owned),
            m.to().and_then(|t| t.tag()).map(str::to_owned),
            m.cseq().map(|c| c.seq),
        )
    };
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        read(&m),
        (
            s("pc33.atlanta.example.com"),
            s("1928301774"),
            None,
            Some(314159)
        )
    );
    // Appended: nothing moves; a To appended after the first is not the one read.
    m.push_header(HeaderName::from_name("X-New"), "1");
    m.push_header(HeaderName::To, "<sip:other@example.com>;tag=second");
    assert_eq!(
        read(&m),
        (
            s("pc33.atlanta.example.com"),
            s("1928301774"),
            None,
            Some(314159)
        )
    );
    // Replaced in place: its view is read again, the others keep theirs.
    let via = m
        .headers()
        .iter()
        .position(|h| *h.name() == HeaderName::Via)
        .unwrap();
    assert!(m.replace_header(
        via,
        HeaderName::Via,
        "SIP/2.0/TCP moved.example.com;branch=z9hG4bKx"
    ));
    assert!(!m.replace_header(999, HeaderName::Via, "SIP/2.0/UDP nowhere"));
    assert_eq!(
        read(&m),
        (s("moved.example.com"), s("1928301774"), None, Some(314159))
    );
    // set_header on the first To removes the appended one: later headers move up, and every
    // view is still found where its header now is.
    m.set_header(HeaderName::To, "Bob <sip:bob@biloxi.example.com>;tag=b1");
    assert_eq!(m.headers_named(&HeaderName::To).count(), 1);
    assert_eq!(
        read(&m),
        (
            s("moved.example.com"),
            s("1928301774"),
            s("b1"),
            Some(314159)
        )
    );
    m.set_header(HeaderName::CSeq, "315000 INVITE");
    m.remove_first(&HeaderName::Via);
    assert_eq!(read(&m), (None, s("1928301774"), s("b1"), Some(315000)));
    // Replacing a header with one of another name forgets both names' views.
    let cseq = m
        .headers()
        .iter()
        .position(|h| *h.name() == HeaderName::CSeq)
        .unwrap();
    assert!(m.replace_header(
        cseq,
        HeaderName::Via,
        "SIP/2.0/UDP again.example.com;branch=z9hG4bKy"
    ));
    assert_eq!(
        read(&m),
        (s("again.example.com"), s("1928301774"), s("b1"), None)
    );
}

#[test]
fn the_request_uri_is_parsed_once_and_read_again_after_it_changes() {
    let mut m = parse(INVITE).unwrap();
    for _ in 0..2 {
        let u = m.request_uri().unwrap();
        assert_eq!(u.user(), Some("bob"));
        assert_eq!(u.host().map(|h| h.as_str()), Some("biloxi.example.com"));
        assert_eq!(
            format!("{u:?}"),
            format!(
                "{:?}",
                uri::Uri::parse("sip:bob@biloxi.example.com").unwrap()
            )
        );
    }
    m.set_uri("sips:carol@[2001:db8::1]:5061;transport=tcp?subject=x");
    let u = m.request_uri().unwrap();
    let fresh = uri::Uri::parse("sips:carol@[2001:db8::1]:5061;transport=tcp?subject=x").unwrap();
    assert_eq!(format!("{u:?}"), format!("{fresh:?}"));
    assert_eq!(u.port(), Some(5061));
    m.set_uri("tel:+1-201-555-0123;phone-context=example.com");
    assert_eq!(
        format!("{:?}", m.request_uri().unwrap()),
        format!(
            "{:?}",
            uri::Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap()
        )
    );
    m.set_uri("sip:bad uri@example.com");
    assert!(m.request_uri().is_none());
    assert!(Message::response(200, "").request_uri().is_none());
}
