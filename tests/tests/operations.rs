//! Operating the real `sbc` binary on loopback: CDR lines for answered, busy and cancelled calls;
//! SIGHUP with a good and a bad config; SIGTERM draining with a live call.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::{
    contact_addr, contact_uri, dialog_request, is_response, tagged_response, udp_via,
};
use sbc_tests::{free_udp_port, sdp_audio_addr, Sbc, TestUa};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

/// RTP ranges per test (inside `RTP_TEST_PORTS`, apart from the other test files' ranges), so
/// the tests of this file can run in parallel.
fn rtp_ranges(slot: u16) -> (u16, u16) {
    (42_000 + slot * 300, 43_000 + slot * 300)
}

/// Two interfaces, a route from the customer side to `next_hop`, `extra` appended to
/// `[general]`, CDRs to `cdr` when given.
fn config(
    slot: u16,
    (customer, core): (u16, u16),
    next_hop: SocketAddr,
    general: &str,
    cdr: Option<&Path>,
) -> String {
    let (a_min, b_min) = rtp_ranges(slot);
    let mut c = SbcConfig::loopback(customer, core, a_min..=a_min + 299, b_min..=b_min + 299)
        .route("customer-to-core", next_hop, "");
    c.general = format!("node_name = \"ops-test\"\n{general}");
    c.relay = "stats_interval_ms = 200".into();
    if let Some(p) = cdr {
        c.admin_lines = format!("cdr_path = \"{}\"", p.display());
    }
    c.render()
}

/// A started SBC and its two SIP addresses.
struct Node {
    sbc: Sbc,
    sbc_a: SocketAddr,
    sbc_b: SocketAddr,
}

impl Node {
    fn start(text: impl FnOnce(u16, u16) -> String) -> Self {
        let (customer, core) = (free_udp_port(), free_udp_port());
        let sbc = Sbc::start_ready(&text(customer, core));
        Self {
            sbc,
            sbc_a: format!("127.0.0.1:{customer}").parse().unwrap(),
            sbc_b: format!("127.0.0.1:{core}").parse().unwrap(),
        }
    }

    /// The config file the SBC runs on.
    fn config_path(&self) -> PathBuf {
        self.sbc.log.with_file_name("sbc.toml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.sbc.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .arg("-s")
            .arg(name)
            .arg(self.sbc.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {name} failed");
    }

    /// Waits (bounded) until `needle` is in the log `count` times.
    fn wait_log_count(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log().matches(needle).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// A call from `a` that `b` answers 486 Busy Here (`what` names the INVITE's arrival at B in
/// a failure); A acknowledges the 486.
fn busy_call(sbc_a: SocketAddr, a: &TestUa, b: &TestUa, call_id: &str, what: &str) {
    let inv = invite(a, call_id);
    a.send(sbc_a, &inv);
    let (b_inv, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect(what);
    b.send(from, &answer(b, &b_inv, 486));
    let (busy, _) = a
        .recv_until(WAIT, |m| is_response(m, 486, "INVITE"))
        .expect("486 at A");
    a.send(sbc_a, &in_dialog(Method::Ack, 1, a, &inv, &busy));
}

/// Phone A's INVITE with an SDP offer.
fn invite(a: &TestUa, call_id: &str) -> Message {
    let mut m = Message::request(Method::Invite, "sip:bob@example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bK-{call_id};rport", a.addr()),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(
        HeaderName::From,
        "\"Alice\" <sip:alice@example.com>;tag=ops-a",
    );
    m.push_header(HeaderName::To, "<sip:bob@example.com>");
    m.push_header(HeaderName::CallId, call_id);
    m.push_header(HeaderName::CSeq, "1 INVITE");
    m.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    m.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    m
}

/// A request in A's dialog (RFC 3261 §12.2.1.1); an ACK for a non-2xx copies the INVITE's
/// branch and goes to the SBC (RFC 3261 §17.1.1.3).
fn in_dialog(method: Method, seq: u32, a: &TestUa, invite: &Message, rsp: &Message) -> Message {
    let answered = rsp.status().is_some_and(|s| s < 300);
    let (target, branch) = if answered {
        (
            contact_uri(rsp),
            format!("z9hG4bK-{}-{seq}", method.as_str()),
        )
    } else {
        // The ACK of a non-2xx final response is part of the INVITE transaction (§17.1.1.3).
        let branch = invite.via().unwrap().branch().unwrap().to_owned();
        (invite.uri().unwrap().to_owned(), branch)
    };
    dialog_request(method, target, seq, udp_via(a.addr(), &branch), invite, rsp)
}

/// Phone B's answer to `req` with its tag and Contact (and SDP for a 200 to INVITE).
fn answer(b: &TestUa, req: &Message, code: u16) -> Message {
    let mut r = tagged_response(req, code, "ops-b");
    r.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
    if code == 200 && req.method() == Some(&Method::Invite) {
        r.set_body(Bytes::from(b.sdp("bob")), Some("application/sdp"));
    }
    r
}

/// An answered call: A's INVITE and 200, B's INVITE and where it came from.
struct Answered {
    invite: Message,
    a_ok: Message,
    b_invite: Message,
    from_b: SocketAddr,
}

/// INVITE / 200 / ACK from `a` through the SBC to `b`.
fn answered_call(node: &Node, a: &TestUa, b: &TestUa, call_id: &str) -> Answered {
    let invite = invite(a, call_id);
    a.send(node.sbc_a, &invite);
    let (b_invite, from_b) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at B");
    assert_eq!(from_b, node.sbc_b, "leg B leaves from the core socket");
    b.send(from_b, &answer(b, &b_invite, 200));
    let (a_ok, _) = a
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at A");
    a.send(
        contact_addr(&a_ok),
        &in_dialog(Method::Ack, 1, a, &invite, &a_ok),
    );
    b.recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at B");
    Answered {
        invite,
        a_ok,
        b_invite,
        from_b,
    }
}

/// The CDR lines in `path` once there are at least `n` (bounded wait).
fn cdr_lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if lines.len() >= n || Instant::now() > end {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cdr_for<'a>(lines: &'a [serde_json::Value], a_call_id: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["a"]["call_id"] == a_call_id)
        .unwrap_or_else(|| panic!("no CDR for {a_call_id} in {lines:?}"))
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sbc-ops-{name}-{}-{}",
        std::process::id(),
        free_udp_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cdr_lines_for_answered_busy_and_cancelled_calls() {
    let cdr = tmp_dir("cdr").join("cdr.jsonl");
    let (a, b) = (TestUa::new(), TestUa::new());
    let node = Node::start(|c, k| config(0, (c, k), b.addr(), "", Some(&cdr)));

    // 1: answered, RTP both ways, A hangs up.
    let call = answered_call(&node, &a, &b, "ops-answered");
    let relay_a = sdp_audio_addr(call.a_ok.body()).unwrap();
    let relay_b = sdp_audio_addr(call.b_invite.body()).unwrap();
    a.send_rtp(relay_a, 0xa1a1_a1a1, 20);
    let (n_b, _) = b.count_rtp(0xa1a1_a1a1, 20, Duration::from_secs(3));
    b.send_rtp(relay_b, 0xb2b2_b2b2, 10);
    let (n_a, _) = a.count_rtp(0xb2b2_b2b2, 10, Duration::from_secs(3));
    assert!(
        n_b >= 15 && n_a >= 5,
        "media through the relay: {n_b}, {n_a}"
    );
    let bye = in_dialog(Method::Bye, 2, &a, &call.invite, &call.a_ok);
    a.send(contact_addr(&call.a_ok), &bye);
    let (b_bye, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE at B");
    b.send(from, &Message::response_to(&b_bye, 200, "OK"));
    a.recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE");

    // 2: busy.
    busy_call(node.sbc_a, &a, &b, "ops-busy", "INVITE at B");

    // 3: cancelled while ringing.
    let inv = invite(&a, "ops-cancel");
    a.send(node.sbc_a, &inv);
    let (b_inv, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at B");
    b.send(from, &answer(&b, &b_inv, 180));
    a.recv_until(WAIT, |m| is_response(m, 180, "INVITE"))
        .expect("180 at A");
    let mut cancel = Message::request(Method::Cancel, inv.uri().unwrap().to_owned());
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
    ] {
        cancel.push_header(name.clone(), inv.header(&name).unwrap().to_owned());
    }
    cancel.push_header(HeaderName::MaxForwards, "70");
    cancel.push_header(HeaderName::CSeq, "1 CANCEL");
    cancel.set_body(Bytes::new(), None);
    a.send(node.sbc_a, &cancel);
    let (b_cancel, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Cancel))
        .expect("CANCEL at B");
    b.send(from, &Message::response_to(&b_cancel, 200, "OK"));
    b.send(from, &answer(&b, &b_inv, 487));
    let (terminated, _) = a
        .recv_until(WAIT, |m| is_response(m, 487, "INVITE"))
        .expect("487 at A");
    a.send(
        node.sbc_a,
        &in_dialog(Method::Ack, 1, &a, &inv, &terminated),
    );

    let lines = cdr_lines(&cdr, 3);
    assert_eq!(lines.len(), 3, "{lines:?}");

    let answered = cdr_for(&lines, "ops-answered");
    assert_eq!(answered["node"], "ops-test");
    assert_eq!(answered["outcome"], "answered");
    assert_eq!(answered["code"], 200);
    assert_eq!(answered["ended_by"], "caller");
    assert_eq!(answered["end_reason"], "bye");
    assert!(answered["answer"].is_string(), "{answered}");
    assert!(answered["start"].as_str().unwrap() <= answered["answer"].as_str().unwrap());
    assert!(answered["answer"].as_str().unwrap() <= answered["end"].as_str().unwrap());
    assert!(answered["duration_ms"].as_u64().unwrap() <= answered["total_ms"].as_u64().unwrap());
    assert_eq!(answered["a"]["from"], "sip:alice@example.com");
    assert_eq!(answered["a"]["to"], "sip:bob@example.com");
    assert_eq!(
        answered["b"]["call_id"].as_str(),
        call.b_invite.call_id(),
        "{answered}"
    );
    assert_eq!(
        answered["b"]["to"].as_str(),
        call.b_invite.to().map(|t| t.uri)
    );
    // Per-stream media: what A sent came in on leg a and what B received went out on leg b, and
    // back. (A packet that reaches the relay before the worker has applied B's answer has
    // nowhere to go yet; on a loaded machine that happens, so the counts out are the phones'.)
    let m = &answered["media"][0];
    assert_eq!(m["a"]["packets_in"], 20, "{m}");
    assert_eq!(m["b"]["packets_out"], n_b, "{m}");
    assert_eq!(m["b"]["packets_in"], 10, "{m}");
    assert_eq!(m["a"]["packets_out"], n_a, "{m}");
    assert_eq!(m["a"]["lost"], 0, "{m}");
    // RFC 3550 A.1: the sequence base is set once the source is validated (first or second
    // packet).
    assert!(
        (19..=20).contains(&m["a"]["expected"].as_u64().unwrap()),
        "{m}"
    );
    assert!(m["a"]["jitter"].is_u64(), "{m}");

    let busy = cdr_for(&lines, "ops-busy");
    assert_eq!(busy["outcome"], "busy");
    assert_eq!(busy["code"], 486);
    assert_eq!(busy["ended_by"], "callee");
    assert_eq!(busy["end_reason"], "rejected");
    assert!(busy["answer"].is_null());
    assert_eq!(busy["duration_ms"], 0);

    let cancelled = cdr_for(&lines, "ops-cancel");
    assert_eq!(cancelled["outcome"], "cancelled");
    assert_eq!(cancelled["code"], 487);
    assert_eq!(cancelled["ended_by"], "caller");
    assert_eq!(cancelled["end_reason"], "cancelled");
    assert!(cancelled["answer"].is_null());

    // Every call's log lines carry its span with both Call-IDs.
    let log = node.log();
    let b_call_id = call.b_invite.call_id().unwrap();
    assert!(
        log.lines().any(|l| l.contains("call answered")
            && l.contains("a_call_id=ops-answered")
            && l.contains(&format!("b_call_id={b_call_id}"))),
        "{log}"
    );
}

#[test]
fn sighup_applies_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let (a, b1, b2) = (TestUa::new(), TestUa::new(), TestUa::new());
    let mut first = String::new();
    let node = Node::start(|c, k| {
        first = config(1, (c, k), b1.addr(), "", None);
        first.clone()
    });
    let live = answered_call(&node, &a, &b1, "ops-live");

    // Good: the route now goes to B2. The reload is logged; the next call goes to B2.
    let good = first.replace(
        &format!("next_hop = \"{}\"", b1.addr()),
        &format!("next_hop = \"{}\"", b2.addr()),
    );
    assert_ne!(good, first);
    std::fs::write(node.config_path(), &good).unwrap();
    node.signal("HUP");
    assert!(
        node.wait_log_count("config reloaded", 1, WAIT),
        "{}",
        node.log()
    );
    let a2 = TestUa::new();
    let inv = invite(&a2, "ops-after-reload");
    a2.send(node.sbc_a, &inv);
    let (b_inv, from) = b2
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("the new call reaches B2 after the reload");
    assert!(
        b1.recv(Duration::from_millis(200)).is_none(),
        "B1 got a new call"
    );
    b2.send(from, &answer(&b2, &b_inv, 486));
    let (busy, _) = a2
        .recv_until(WAIT, |m| is_response(m, 486, "INVITE"))
        .expect("486");
    a2.send(node.sbc_a, &in_dialog(Method::Ack, 1, &a2, &inv, &busy));

    // Bad: refused with file, line, field and reason; the running config stays.
    let bad = good.replace(
        &format!("next_hop = \"{}\"", b2.addr()),
        // Malformed (an underscore in a host name): refused without any DNS query.
        "next_hop = \"b1_example:5060\"",
    );
    assert_ne!(bad, good);
    std::fs::write(node.config_path(), &bad).unwrap();
    node.signal("HUP");
    assert!(
        node.wait_log_count("reload refused", 1, WAIT),
        "{}",
        node.log()
    );
    let log = node.log();
    let line = bad.lines().position(|l| l.contains("b1_example")).unwrap() + 1;
    assert!(
        log.contains(&format!("sbc.toml:{line}: route[0].next_hop:")),
        "the error names file, line and field:\n{log}"
    );
    assert_eq!(log.matches("config reloaded").count(), 1);
    let a3 = TestUa::new();
    busy_call(
        node.sbc_a,
        &a3,
        &b2,
        "ops-after-bad-reload",
        "the good reload's route still works",
    );

    // The call from before both reloads is still up: A's BYE reaches B1 in its dialog.
    let bye = in_dialog(Method::Bye, 2, &a, &live.invite, &live.a_ok);
    a.send(contact_addr(&live.a_ok), &bye);
    let (b_bye, from) = b1
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE of the live call at B1");
    assert_eq!(b_bye.call_id(), live.b_invite.call_id());
    assert_eq!(from, live.from_b);
    b1.send(from, &Message::response_to(&b_bye, 200, "OK"));
    a.recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE at A");
}

#[test]
fn sigterm_refuses_new_calls_drains_then_byes_both_legs_and_exits_0() {
    let cdr = tmp_dir("drain").join("cdr.jsonl");
    let (a, b) = (TestUa::new(), TestUa::new());
    let mut node =
        Node::start(|c, k| config(2, (c, k), b.addr(), "drain_timeout_s = 2", Some(&cdr)));
    let call = answered_call(&node, &a, &b, "ops-draining");
    node.signal("TERM");
    let t0 = Instant::now();
    assert!(
        node.wait_log_count("shutting down", 1, WAIT),
        "{}",
        node.log()
    );

    // A new call gets 503 with Retry-After and never reaches B.
    let c = TestUa::new();
    let inv = invite(&c, "ops-refused");
    c.send(node.sbc_a, &inv);
    let (refused, _) = c
        .recv_until(WAIT, |m| m.status().is_some_and(|s| s >= 200))
        .expect("an answer to the new INVITE");
    assert_eq!(refused.status(), Some(503));
    assert!(refused.header(&HeaderName::RetryAfter).is_some());
    c.send(node.sbc_a, &in_dialog(Method::Ack, 1, &c, &inv, &refused));

    // The live call still works in-dialog: an INFO crosses and is answered.
    let info = in_dialog(Method::Info, 2, &a, &call.invite, &call.a_ok);
    a.send(contact_addr(&call.a_ok), &info);
    let (b_info, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Info))
        .expect("INFO at B while draining");
    b.send(from, &Message::response_to(&b_info, 200, "OK"));
    a.recv_until(WAIT, |m| is_response(m, 200, "INFO"))
        .expect("200 to INFO at A");

    // After the 2 s drain timeout both legs get BYE with a Reason.
    let (bye_a, from_a) = a
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE at A");
    assert!(
        t0.elapsed() >= Duration::from_millis(1800),
        "BYE before the drain timeout"
    );
    a.send(from_a, &Message::response_to(&bye_a, 200, "OK"));
    let (bye_b, from_b) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE at B");
    b.send(from_b, &Message::response_to(&bye_b, 200, "OK"));
    for bye in [&bye_a, &bye_b] {
        let reason = bye.header(&HeaderName::Reason).unwrap_or_default();
        assert!(reason.contains("cause=503"), "{reason}");
    }
    assert_eq!(bye_b.call_id(), call.b_invite.call_id());

    // The process exits 0 with the CDR written.
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = node.sbc.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "sbc did not exit:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit {status:?}:\n{}", node.log());
    let lines = cdr_lines(&cdr, 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let rec = cdr_for(&lines, "ops-draining");
    assert_eq!(rec["outcome"], "answered");
    assert_eq!(rec["ended_by"], "sbc");
    assert_eq!(rec["end_reason"], "shutdown");
    assert!(node.log().contains("CDRs flushed"), "{}", node.log());
}

#[test]
fn json_logs_carry_the_call_span_and_sip_messages_without_credentials() {
    let (a, b) = (TestUa::new(), TestUa::new());
    let general = "log_format = \"json\"\nlog_sip_messages = true\nlog_sip_rate_per_s = 1000";
    let node = Node::start(|c, k| config(3, (c, k), b.addr(), general, None));
    let mut inv = invite(&a, "ops-json");
    inv.push_header(
        HeaderName::Authorization,
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"n1\", uri=\"sip:bob@example.com\", response=\"5ecre7d19e57c0ffee5ecre7d19e57c0\"",
    );
    // An SDES key in the offer (RFC 4568): never to be logged either.
    let sdp = format!(
        "{}a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:S3cr3tK3yS3cr3tK3yS3cr3tK3yS3cr3tK3yS3cr|2^31\r\n",
        String::from_utf8_lossy(inv.body())
    );
    inv.set_body(Bytes::from(sdp), Some("application/sdp"));
    a.send(node.sbc_a, &inv);
    let (b_inv, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at B");
    b.send(from, &answer(&b, &b_inv, 486));
    let (busy, _) = a
        .recv_until(WAIT, |m| is_response(m, 486, "INVITE"))
        .expect("486 at A");
    a.send(node.sbc_a, &in_dialog(Method::Ack, 1, &a, &inv, &busy));
    assert!(node.wait_log_count("call ended", 1, WAIT), "{}", node.log());

    let log = node.log();
    assert!(
        !log.contains("5ecre7d19e57c0ffee"),
        "a digest response was logged:\n{log}"
    );
    assert!(!log.contains("S3cr3tK3y"), "an SDES key was logged:\n{log}");
    assert!(
        log.contains("inline:<redacted>"),
        "the crypto line was not logged redacted"
    );
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    // The INVITE was logged, with its Authorization value redacted.
    let invite_line = lines
        .iter()
        .find(|l| {
            l["target"] == "sbc::sip"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("INVITE sip:bob@example.com"))
        })
        .unwrap_or_else(|| panic!("the INVITE was not logged:\n{log}"));
    let text = invite_line["fields"]["message"].as_str().unwrap();
    assert!(text.contains("Authorization: Digest <redacted>"), "{text}");
    // The call's lines carry its span with both Call-IDs.
    let ended = lines
        .iter()
        .find(|l| l["fields"]["message"] == "call ended")
        .expect("call ended line");
    assert_eq!(ended["span"]["a_call_id"], "ops-json", "{ended}");
    assert_eq!(
        ended["span"]["b_call_id"].as_str(),
        b_inv.call_id(),
        "{ended}"
    );
}
