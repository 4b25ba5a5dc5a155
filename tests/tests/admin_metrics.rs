//! The admin endpoint of the real `sbc` binary: `/metrics` before and after a real call
//! (SIP counters, call outcome, setup histograms and relay packet counters move; `promtool check
//! metrics` accepts the exposition), the Grafana dashboard queries only metrics a live scrape
//! has, and the management API's bearer token (RFC 6750).

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::{contact_addr, contact_uri, dialog_request, udp_via};
use sbc_tests::{
    free_udp_port, http_get, metric_names, metric_value, promtool_binary, sdp_audio_addr, Sbc,
    TestUa,
};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

const A_RTP: RangeInclusive<u16> = 44000..=44999;
const B_RTP: RangeInclusive<u16> = 45000..=45999;
const WAIT: Duration = Duration::from_secs(5);
const TOKEN: &str = "e2e-admin-token-0123456789";

/// An SBC with a customer and a core interface, one route to `phone_b`, and the admin endpoint
/// on `admin` with [`TOKEN`].
struct Setup {
    sbc: Sbc,
    sbc_a: SocketAddr,
    sbc_b: SocketAddr,
    admin: SocketAddr,
}

fn start(phone_b: SocketAddr) -> Setup {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut config =
        SbcConfig::loopback(customer, core, A_RTP, B_RTP).route("customer-to-core", phone_b, "");
    config.general = "node_name = \"e2e-node\"".into();
    config.admin_token = Some(TOKEN.into());
    let admin = config.admin;
    let text = config.render();
    let sbc = Sbc::start_ready(&text);
    Setup {
        sbc,
        sbc_a: format!("127.0.0.1:{customer}").parse().unwrap(),
        sbc_b: format!("127.0.0.1:{core}").parse().unwrap(),
        admin,
    }
}

/// `/metrics` without credentials, checked to be a 200 in the text format.
fn scrape(admin: SocketAddr) -> String {
    let rsp = http_get(admin, "/metrics", None).expect("/metrics answers");
    assert_eq!(rsp.status, 200, "{}", rsp.body);
    assert_eq!(
        rsp.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    rsp.body
}

/// Scrapes until `done` holds for the exposition (the relay's totals are published every
/// 100 ms), at most 5 s; returns the last scrape.
fn scrape_until(admin: SocketAddr, done: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + WAIT;
    loop {
        let text = scrape(admin);
        if done(&text) || Instant::now() > end {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request in A's dialog, built from the INVITE and the SBC's 2xx (RFC 3261 §12.2.1.1).
fn in_dialog(method: Method, seq: u32, a: &TestUa, invite: &Message, ok: &Message) -> Message {
    let via = udp_via(a.addr(), &format!("z9hG4bKadm{seq}"));
    dialog_request(method, contact_uri(ok), seq, via, invite, ok)
}

/// One whole call A → SBC → B: INVITE, 180, 200, ACK, 20 RTP packets each way through the
/// relay, BYE from A; returns the RTP packets each phone received.
fn call(s: &Setup, a: &TestUa, b: &TestUa) -> (usize, usize) {
    let mut invite = Message::request(Method::Invite, "sip:bob@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKadm0;rport", a.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:alice@example.com>;tag=adm-a");
    invite.push_header(HeaderName::To, "<sip:bob@example.com>");
    invite.push_header(HeaderName::CallId, "admin-metrics-call@127.0.0.1");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    invite.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    a.send(s.sbc_a, &invite);

    let (b_invite, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at B");
    assert_eq!(from, s.sbc_b);
    let relay_b = sdp_audio_addr(b_invite.body()).expect("SDP at B");
    let b_to = format!("{};tag=adm-b", b_invite.header(&HeaderName::To).unwrap());
    let mut ringing = Message::response_to(&b_invite, 180, "Ringing");
    ringing.set_header(HeaderName::To, b_to.clone());
    ringing.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
    b.send(from, &ringing);
    let mut ok = Message::response_to(&b_invite, 200, "OK");
    ok.set_header(HeaderName::To, b_to);
    ok.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
    ok.set_body(Bytes::from(b.sdp("bob")), Some("application/sdp"));
    b.send(from, &ok);

    let (a_ok, _) = a
        .recv_until(WAIT, |m| {
            m.status() == Some(200) && m.cseq().is_some_and(|c| c.method == "INVITE")
        })
        .expect("200 at A");
    let relay_a = sdp_audio_addr(a_ok.body()).expect("SDP at A");
    a.send(
        contact_addr(&a_ok),
        &in_dialog(Method::Ack, 1, a, &invite, &a_ok),
    );
    b.recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at B");

    a.send_rtp(relay_a, 0xadad_0001, 20);
    let (at_b, _) = b.count_rtp(0xadad_0001, 20, Duration::from_secs(3));
    b.send_rtp(relay_b, 0xadad_0002, 20);
    let (at_a, _) = a.count_rtp(0xadad_0002, 20, Duration::from_secs(3));

    a.send(
        contact_addr(&a_ok),
        &in_dialog(Method::Bye, 2, a, &invite, &a_ok),
    );
    let (bye, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE at B");
    b.send(from, &Message::response_to(&bye, 200, "OK"));
    a.recv_until(WAIT, |m| {
        m.status() == Some(200) && m.cseq().is_some_and(|c| c.method == "BYE")
    })
    .expect("200 to BYE at A");
    (at_a, at_b)
}

/// Runs `promtool check metrics` on `exposition`, failing with its findings.
fn promtool_check(exposition: &str) {
    use std::io::Write;
    let Some(promtool) = promtool_binary() else {
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_move_under_a_real_call_and_pass_promtool() {
    let (a, b) = (TestUa::new(), TestUa::new());
    let s = start(b.addr());
    let has_relay = |t: &str| t.contains("sbc_relay_forwarded_packets_total{");
    let before = scrape_until(s.admin, has_relay);
    promtool_check(&before);

    let (at_a, at_b) = call(&s, &a, &b);
    assert!(
        at_a >= 15 && at_b >= 15,
        "RTP through the relay: A {at_a}, B {at_b}"
    );

    let answered = "sbc_calls_total{outcome=\"answered\"}";
    let forwarded = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("sbc_relay_forwarded_packets_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let fwd_before = forwarded(&before);
    let after = scrape_until(s.admin, |t| {
        metric_value(t, answered) == Some(1.0)
            && metric_value(t, "sbc_calls_active") == Some(0.0)
            && forwarded(t) - fwd_before >= (at_a + at_b) as f64
    });
    promtool_check(&after);

    let delta = |series: &str| {
        let v = |t: &str| metric_value(t, series).unwrap_or_else(|| panic!("{series} in\n{t}"));
        v(&after) - v(&before)
    };
    assert_eq!(delta(answered), 1.0, "{after}");
    assert_eq!(delta("sbc_calls_total{outcome=\"busy\"}"), 0.0);
    assert_eq!(metric_value(&after, "sbc_calls_active"), Some(0.0));
    // A's INVITE, ACK and BYE in; leg B's INVITE, ACK and BYE out.
    for method in ["INVITE", "ACK", "BYE"] {
        let rx = format!("sbc_sip_requests_received_total{{method=\"{method}\"}}");
        let tx = format!("sbc_sip_requests_sent_total{{method=\"{method}\"}}");
        assert!(delta(&rx) >= 1.0, "{rx}\n{after}");
        assert!(delta(&tx) >= 1.0, "{tx}\n{after}");
    }
    // B's 180 and two 200s in; 100, 180 and two 200s to A out.
    assert!(delta("sbc_sip_responses_received_total{class=\"1xx\"}") >= 1.0);
    assert!(delta("sbc_sip_responses_received_total{class=\"2xx\"}") >= 2.0);
    assert!(delta("sbc_sip_responses_sent_total{class=\"1xx\"}") >= 2.0);
    assert!(delta("sbc_sip_responses_sent_total{class=\"2xx\"}") >= 2.0);
    assert_eq!(delta("sbc_sip_responses_sent_total{class=\"4xx\"}"), 0.0);
    assert_eq!(
        delta("sbc_call_setup_seconds_count{stage=\"provisional\"}"),
        1.0
    );
    assert_eq!(delta("sbc_call_setup_seconds_count{stage=\"answer\"}"), 1.0);
    let fwd = forwarded(&after) - fwd_before;
    assert!(
        fwd >= (at_a + at_b) as f64,
        "relay forwarded {fwd} packets, phones got {}\n{after}",
        at_a + at_b
    );
    let bytes = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("sbc_relay_forwarded_bytes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert!(bytes(&after) - bytes(&before) >= 172.0 * (at_a + at_b) as f64);
    assert!(metric_value(&after, "sbc_relay_ports_free{interface=\"core\"}").is_some());
    assert!(metric_value(&after, "process_resident_memory_bytes").unwrap_or(0.0) > 0.0);
}

/// Metric names used by a PromQL expression: identifiers that are not functions,
/// aggregations, keywords, label names (inside `{}` or a `by (...)` list) or durations.
fn promql_metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 11] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
    ];
    // Aggregations may put `by (...)` between their name and their parenthesis.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let bytes = expr.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    // Set after a keyword whose parenthesised list holds label names.
    let mut label_list = false;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'"' | b'\'' | b'`' => {
                let end = expr[i + 1..]
                    .find(c as char)
                    .map_or(expr.len(), |e| i + 2 + e);
                i = end;
            }
            b'{' | b'[' => {
                let close = if c == b'{' { '}' } else { ']' };
                i = expr[i..].find(close).map_or(expr.len(), |e| i + e + 1);
            }
            b'(' if label_list => {
                i = expr[i..].find(')').map_or(expr.len(), |e| i + e + 1);
                label_list = false;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().chars().next();
                if KEYWORDS.contains(&word) {
                    label_list = next == Some('(')
                        && !matches!(word, "bool" | "and" | "or" | "unless" | "offset");
                } else if next != Some('(') && !AGGREGATIONS.contains(&word) {
                    names.push(word.to_owned());
                }
            }
            c if c.is_ascii_digit() || c == b'.' => {
                // A number (durations only appear inside [] which are skipped whole).
                while bytes
                    .get(i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')
                {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Every `expr` string anywhere in a JSON value.
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn promql_name_extraction_skips_functions_labels_and_ranges() {
    let names = promql_metric_names(
        "histogram_quantile(0.95, sum by (le, stage) (rate(sbc_call_setup_seconds_bucket{stage=\"answer\",job=~\"$job\"}[$__rate_interval])))",
    );
    assert_eq!(names, ["sbc_call_setup_seconds_bucket"]);
    let names = promql_metric_names(
        "sum(rate(a_total[5m])) / ignoring(x) group_left sum(b_total offset 1h) > bool 0",
    );
    assert_eq!(names, ["a_total", "b_total"]);
}

#[test]
fn grafana_dashboard_queries_only_metrics_a_live_scrape_has() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ops/grafana/sbc-dashboard.json"
    );
    let text = std::fs::read_to_string(path).expect("dashboard JSON");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mut all = Vec::new();
    exprs(&dashboard["panels"], &mut all);
    assert!(all.len() >= 10, "only {} panel queries", all.len());

    let b = TestUa::new();
    let s = start(b.addr());
    let live = metric_names(&scrape_until(s.admin, |t| {
        t.contains("sbc_relay_forwarded_packets_total{")
    }));
    let mut missing = BTreeSet::new();
    let mut used = BTreeSet::new();
    for expr in &all {
        for name in promql_metric_names(expr) {
            if !live.contains(&name) {
                missing.insert(format!("{name} (in `{expr}`)"));
            }
            used.insert(name);
        }
    }
    assert!(missing.is_empty(), "not in a live scrape: {missing:#?}");
    for core in [
        "sbc_calls_active",
        "sbc_calls_total",
        "sbc_relay_forwarded_packets_total",
        "process_resident_memory_bytes",
    ] {
        assert!(used.contains(core), "the dashboard has no panel on {core}");
    }
}

#[test]
fn api_needs_the_bearer_token_and_probes_answer() {
    let b = TestUa::new();
    let s = start(b.addr());
    let get = |path: &str, auth: Option<&str>| {
        http_get(s.admin, path, auth).unwrap_or_else(|| panic!("{path} answers"))
    };

    let missing = get("/api/v1/status", None);
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"sbc\"")
    );
    for wrong in ["Bearer wrong-token-0123456789", "Basic ZTJlOmUyZQ==", TOKEN] {
        let rsp = get("/api/v1/status", Some(wrong));
        assert_eq!(rsp.status, 401, "{wrong}: {}", rsp.body);
        assert!(
            rsp.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer ") && h.contains("invalid_token")),
            "{rsp:?}"
        );
    }
    let ok = get("/api/v1/status", Some(&format!("Bearer {TOKEN}")));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(v["node"], "e2e-node");
    assert_eq!(v["ready"], true);
    assert_eq!(v["calls_active"], 0);

    assert_eq!(get("/health", None).status, 200);
    assert_eq!(get("/ready", None).status, 200);
    assert_eq!(get("/metrics", None).status, 200);
    assert_eq!(get("/metrics", Some("Bearer wrong-token")).status, 401);
    assert_eq!(get("/nowhere", None).status, 404);

    // Every path the OpenAPI description documents is served.
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/admin-api.yaml"
    ))
    .expect("docs/admin-api.yaml");
    let paths: Vec<&str> = spec
        .split_once("\npaths:\n")
        .expect("a paths section")
        .1
        .lines()
        .filter_map(|l| l.strip_prefix("  /")?.strip_suffix(':'))
        .collect();
    assert!(paths.len() >= 4, "{paths:?}");
    for p in paths {
        // A call id no call has is 404; removing a registration is DELETE only (405 to GET);
        // everything else answers 200.
        let (path, want) = match p {
            "api/v1/calls/{id}" => ("api/v1/calls/999999".to_owned(), 404),
            "api/v1/registrations/{aor}" => ("api/v1/registrations/sip:a@b".to_owned(), 405),
            _ => (p.to_owned(), 200),
        };
        let rsp = get(&format!("/{path}"), Some(&format!("Bearer {TOKEN}")));
        assert_eq!(rsp.status, want, "/{p} is documented but answers {rsp:?}");
    }
    let mut sbc = s.sbc;
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
}

/// Sends `request` as is on a fresh connection and reads the answer to the end.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect admin");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request).expect("send request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read answer");
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn admin_answers_malformed_requests_with_a_clear_status() {
    let b = TestUa::new();
    let s = start(b.addr());
    let huge = format!(
        "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let cases: [(&[u8], &str); 5] = [
        (b"GARBAGE\r\n\r\n", "HTTP/1.1 400 "),
        (huge.as_bytes(), "HTTP/1.1 431 "),
        (
            b"POST /api/v1/status HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 501 ",
        ),
        (b"GET /health HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "),
        (
            b"GET /api/v1/status HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
            "HTTP/1.1 413 ",
        ),
    ];
    for (request, want) in cases {
        let answer = raw_exchange(s.admin, request);
        assert!(
            answer.starts_with(want),
            "{want:?} for {:?}, got {answer:?}",
            String::from_utf8_lossy(&request[..request.len().min(60)])
        );
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
    }
    // HEAD: the GET's headers, no body.
    let head = raw_exchange(s.admin, b"HEAD /health HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "{head:?}");
    // A client that gives up mid-request changes nothing for the next one.
    {
        use std::io::Write;
        let mut half = std::net::TcpStream::connect(s.admin).unwrap();
        half.write_all(b"GET /metr").unwrap();
    }
    let rsp = http_get(s.admin, "/health", None).expect("/health after a broken client");
    assert_eq!(rsp.status, 200);
    let mut sbc = s.sbc;
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
}
