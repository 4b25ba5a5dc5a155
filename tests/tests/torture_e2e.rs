//! RFC 4475 / RFC 5118 messages sent to the real `sbc` over UDP, each answered as
//! `tests/vectors/sip/answers.tsv` says: 420 for unknown Require/Proxy-Require tags, 416 for
//! Request-URI schemes the SBC does not serve, 415 for INVITE bodies it cannot anchor, 400 for
//! spaces inside an addr-spec, and RFC 2543 requests, IPv6 references in the liberal form and
//! non-SIP To/From URIs processed. A far end on the route answers 200 (with SDP to INVITEs) to
//! whatever reaches it, so "processed" is seen end to end.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Limits, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::{free_udp_port, Sbc, TestUa};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/sip")
}

/// `data` with every Via's sent-by replaced by `me` (its parameters kept), so the answer comes
/// back to the test's socket; nothing else changes.
fn via_to(data: &[u8], me: SocketAddr) -> Vec<u8> {
    let split = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(data.len(), |i| i + 2);
    let (head, body) = data.split_at(split);
    let mut out = Vec::with_capacity(data.len() + 32);
    for line in head.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let (name, value) = text.split_once(':').unwrap_or(("", ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
            let value = value.trim();
            let params = value.find(';').map_or("", |i| &value[i..]);
            let params = params.trim_end();
            out.extend_from_slice(format!("Via: SIP/2.0/UDP {me}{params}\r\n").as_bytes());
        } else {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

/// The far end's answer: 200 with a To tag, and an SDP answer to an INVITE with an offer.
fn far_answer(req: &Message, far: &TestUa) -> Message {
    let mut r = Message::response_to(req, 200, "OK");
    if req.to().is_some_and(|t| t.tag().is_none()) {
        let to = req.header(&HeaderName::To).unwrap();
        r.set_header(HeaderName::To, format!("{to};tag=far"));
    }
    if req.method() == Some(&Method::Invite) {
        r.push_header(HeaderName::Contact, format!("<sip:far@{}>", far.addr()));
        if req.has_sdp() {
            r.set_body(Bytes::from(far.sdp("far")), Some("application/sdp"));
        }
    }
    r
}

/// Checks one `must_hold` clause against the answer and what reached the far end.
fn holds(clause: &str, answer: &Message, at_far: Option<&Message>) -> Result<(), String> {
    if clause == "-" {
        return Ok(());
    }
    let (target, clause) = match clause.strip_prefix("far:") {
        Some(c) => (at_far.ok_or("nothing reached the far end")?, c),
        None => (answer, clause),
    };
    let (name, text) = clause.split_once('~').ok_or("bad clause")?;
    let value = target
        .header(&HeaderName::from_name(name))
        .ok_or_else(|| format!("no {name} in {target:?}"))?;
    if value.contains(text) {
        Ok(())
    } else {
        Err(format!("{name}: {value:?} lacks {text:?}"))
    }
}

#[test]
fn the_sbc_answers_each_torture_message_as_the_rfcs_ask() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let far = TestUa::new();
    let c = SbcConfig::loopback(customer, core, 46000..=46999, 47000..=47999).route(
        "customer-to-core",
        far.addr(),
        "",
    );
    let _sbc = Sbc::start_ready(&c.render());
    let sbc = SocketAddr::from(([127, 0, 0, 1], customer));
    let index = std::fs::read_to_string(dir().join("answers.tsv")).expect("answers.tsv");
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, answer, reaches, must, ..] = cols[..] else {
            panic!("bad answers.tsv line {line:?}");
        };
        let want: u16 = answer.parse().expect("answer code");
        let phone = TestUa::new();
        let data = std::fs::read(dir().join(file)).expect(file);
        phone
            .sip
            .send_to(&via_to(&data, phone.addr()), sbc)
            .expect("send");
        // The far end answers what reaches it (retransmissions included).
        let mut at_far = None;
        let mut got = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline && got.is_none() {
            if let Some((req, from)) = far.recv(Duration::from_millis(20)) {
                if req.is_request() && req.method() != Some(&Method::Ack) {
                    far.send(from, &far_answer(&req, &far));
                    at_far.get_or_insert(req);
                }
            }
            if let Some((rsp, _)) = phone.recv(Duration::from_millis(20)) {
                if rsp.status().is_some_and(|s| s >= 200) {
                    got = Some(rsp);
                }
            }
        }
        checked += 1;
        let Some(rsp) = got else {
            failures.push(format!("{file}: no final answer"));
            continue;
        };
        if rsp.status() != Some(want) {
            failures.push(format!(
                "{file}: answered {:?} {:?}, want {want}",
                rsp.status(),
                rsp.reason()
            ));
        }
        let reached = at_far.is_some();
        if reached != (reaches == "yes") {
            failures.push(format!("{file}: reached the far end: {reached}"));
        }
        if let Err(e) = holds(must, &rsp, at_far.as_ref()) {
            failures.push(format!("{file}: {e}"));
        }
        // Whatever the SBC sent the far end parses as its own message again.
        if let Some(m) = &at_far {
            if let Err(e) = Message::parse_checked(m.to_bytes(), &Limits::default()) {
                failures.push(format!("{file}: the relayed request does not parse: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 12, "only {checked} vectors");
}

/// On a route with `pass_bodies = true`, RFC 4475's INVITE with an unknown body type is relayed
/// with its body as it came (no 415), and the far end's answer body comes back the same way.
#[test]
fn a_route_that_passes_bodies_relays_an_unknown_body_type() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let far = TestUa::new();
    let c = SbcConfig::loopback(customer, core, 46000..=46999, 47000..=47999).route(
        "customer-to-core",
        far.addr(),
        "pass_bodies = true",
    );
    let _sbc = Sbc::start_ready(&c.render());
    let sbc = SocketAddr::from(([127, 0, 0, 1], customer));
    let phone = TestUa::new();
    let data = std::fs::read(dir().join("rfc4475-invut.sip")).expect("invut");
    phone
        .sip
        .send_to(&via_to(&data, phone.addr()), sbc)
        .expect("send");
    let (at_far, from) = far
        .recv_until(Duration::from_secs(5), |m| {
            m.method() == Some(&Method::Invite)
        })
        .expect("INVITE at the far end");
    assert_eq!(
        at_far.header(&HeaderName::ContentType),
        Some("application/unknownformat")
    );
    let original = Message::parse(Bytes::from(data), &Limits::default()).unwrap();
    assert_eq!(at_far.body(), original.body());
    let mut ok = far_answer(&at_far, &far);
    ok.set_body(
        Bytes::from_static(b"<audio><pcmu port=\"5004\"/></audio>\r\n"),
        Some("application/unknownformat"),
    );
    far.send(from, &ok);
    let (answer, _) = phone
        .recv_until(Duration::from_secs(5), |m| m.status() == Some(200))
        .expect("200 at the phone");
    assert_eq!(
        answer.header(&HeaderName::ContentType),
        Some("application/unknownformat")
    );
    assert_eq!(
        answer.body().as_ref(),
        b"<audio><pcmu port=\"5004\"/></audio>\r\n"
    );
}
