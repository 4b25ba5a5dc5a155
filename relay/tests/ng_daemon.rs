//! The `sbc-relay` daemon over its ng port on loopback, as Kamailio's rtpengine module talks to
//! it: ping/pong, an offer and an answer whose SDP point at the relay so RTP flows both ways
//! between two peers, a retransmitted cookie answered from the replay cache, and a source
//! outside `[ng] allow` ignored.

use sbc_common::bencode::{decode, Value};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ng(client: &UdpSocket, to: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    client.send_to(msg, to).unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = client.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn request(cookie: &str, pairs: Vec<(&[u8], Value<'_>)>) -> Vec<u8> {
    let mut out = format!("{cookie} ").into_bytes();
    Value::Dict(pairs).encode(&mut out);
    out
}

fn sdp(addr: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

fn audio(sdp: &[u8]) -> SocketAddr {
    let text = std::str::from_utf8(sdp).unwrap();
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap()
        .trim();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    format!("{ip}:{port}").parse().unwrap()
}

/// The body of a reply (after the cookie) as a dictionary.
fn body(reply: &[u8]) -> Value<'_> {
    let at = reply.iter().position(|&b| b == b' ').unwrap();
    decode(&reply[at + 1..]).unwrap()
}

#[test]
fn the_daemon_answers_ng_and_relays_the_calls_it_is_given() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("sbc-relay-ng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ng]\nlisten = \"127.0.0.1:{port}\"\nallow = [\"127.0.0.1\"]\n\n\
             [[interface]]\nname = \"customer\"\naddress = \"127.0.0.1\"\nport_min = 36000\nport_max = 36099\n\n\
             [[interface]]\nname = \"core\"\naddress = \"127.0.0.1\"\nport_min = 36200\nport_max = 36299\n"
        ),
    )
    .unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_sbc-relay"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_sbc-relay"))
            .arg("--config")
            .arg(&cfg)
            .spawn()
            .unwrap(),
    );
    let ng_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // Up once it answers a ping.
    let end = Instant::now() + Duration::from_secs(10);
    let pong = loop {
        if let Some(r) = ng(&client, ng_addr, b"p1 d7:command4:pinge") {
            break r;
        }
        assert!(Instant::now() < end, "the daemon did not answer");
    };
    assert_eq!(pong, b"p1 d6:result4:ponge");

    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    a.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    b.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let direction = Value::List(vec![Value::Bytes(b"customer"), Value::Bytes(b"core")]);
    let a_sdp = sdp(a.local_addr().unwrap());
    let offer = request(
        "o1",
        vec![
            (b"command", Value::Bytes(b"offer")),
            (b"call-id", Value::Bytes(b"ng-d-1")),
            (b"from-tag", Value::Bytes(b"ft")),
            (b"direction", direction.clone()),
            (b"sdp", Value::Bytes(a_sdp.as_bytes())),
        ],
    );
    let r = ng(&client, ng_addr, &offer).expect("offer reply");
    let v = body(&r);
    assert_eq!(
        v.get("result").and_then(Value::as_str),
        Some("ok"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
    let relay_b = audio(v.get("sdp").and_then(Value::as_str).unwrap().as_bytes());
    // Kamailio retransmits: the same cookie gets the same reply, no second stream.
    assert_eq!(ng(&client, ng_addr, &offer).expect("replayed reply"), r);
    let b_sdp = sdp(b.local_addr().unwrap());
    let answer = request(
        "a1",
        vec![
            (b"command", Value::Bytes(b"answer")),
            (b"call-id", Value::Bytes(b"ng-d-1")),
            (b"from-tag", Value::Bytes(b"ft")),
            (b"to-tag", Value::Bytes(b"tt")),
            (b"direction", direction),
            (b"sdp", Value::Bytes(b_sdp.as_bytes())),
        ],
    );
    let r = ng(&client, ng_addr, &answer).expect("answer reply");
    let v = body(&r);
    let relay_a = audio(v.get("sdp").and_then(Value::as_str).unwrap().as_bytes());
    let mut pkt = vec![0u8; 172];
    pkt[0] = 0x80;
    let mut buf = [0u8; 2048];
    for seq in 0..5u16 {
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        a.send_to(&pkt, relay_a).unwrap();
        assert_eq!(b.recv_from(&mut buf).expect("B hears A").1, relay_b);
        b.send_to(&pkt, relay_b).unwrap();
        assert_eq!(a.recv_from(&mut buf).expect("A hears B").1, relay_a);
    }
    // A source outside [ng] allow gets nothing at all.
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(ng(&stranger, ng_addr, b"s1 d7:command4:pinge").is_none());
    // An unknown command gets rtpengine's error reason.
    let r = ng(&client, ng_addr, b"e1 d7:command3:fooe").expect("error reply");
    assert_eq!(
        body(&r).get("error-reason").and_then(Value::as_str),
        Some("Unrecognized command")
    );
    let delete = request(
        "d1",
        vec![
            (b"command", Value::Bytes(b"delete")),
            (b"call-id", Value::Bytes(b"ng-d-1")),
            (b"from-tag", Value::Bytes(b"ft")),
        ],
    );
    let r = ng(&client, ng_addr, &delete).expect("delete reply");
    assert_eq!(body(&r).get("result").and_then(Value::as_str), Some("ok"));
}

fn scrape(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn metrics_sighup_and_sigterm_behave_as_an_operator_expects() {
    let port = free_port();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("sbc-relay-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("relay.toml");
    let text = |allow: &str| {
        format!(
            "[ng]\nlisten = [\"127.0.0.1:{port}\", \"127.0.0.2:{port}\"]\nallow = [{allow}]\n\n\
             [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n\n\
             [[interface]]\nname = \"default\"\naddress = \"127.0.0.1\"\nport_min = 36400\nport_max = 36499\n"
        )
    };
    std::fs::write(&cfg, text("\"127.0.0.1\"")).unwrap();
    let log = dir.join("relay.log");
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_sbc-relay"))
            .arg("--config")
            .arg(&cfg)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let ng_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ng_addr2: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while ng(&client, ng_addr, b"p1 d7:command4:pinge").is_none() {
        assert!(Instant::now() < end, "the daemon did not answer");
    }
    // A call, then a stranger (127.0.0.2 is not allowed yet).
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let offer = request(
        "o1",
        vec![
            (b"command", Value::Bytes(b"offer")),
            (b"call-id", Value::Bytes(b"ops-1")),
            (b"from-tag", Value::Bytes(b"ft")),
            (
                b"sdp",
                Value::Bytes(sdp(a.local_addr().unwrap()).as_bytes()),
            ),
        ],
    );
    let r = ng(&client, ng_addr, &offer).expect("offer reply");
    let relay_port = audio(
        body(&r)
            .get("sdp")
            .and_then(Value::as_str)
            .unwrap()
            .as_bytes(),
    )
    .port();
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(ng(&stranger, ng_addr2, b"s1 d7:command4:pinge").is_none());
    let r = ng(&client, ng_addr, b"l1 d7:command4:liste").unwrap();
    assert_eq!(
        body(&r).get("calls"),
        Some(&Value::List(vec![Value::Bytes(b"ops-1")]))
    );

    // /metrics: the relay's families and the ng counters, valid exposition.
    let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let page = scrape(metrics_addr);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let exposition = &page[page.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        metric(exposition, "sbc_relay_ng_calls"),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(metric(exposition, "sbc_relay_sessions_active"), Some(1.0));
    assert_eq!(
        metric(
            exposition,
            "sbc_relay_ng_dropped_total{reason=\"refused_source\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(exposition, "sbc_relay_ng_requests_total{command=\"offer\"}"),
        Some(1.0)
    );
    if let Ok(mut check) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(exposition.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // SIGHUP with a bad file: refused, the daemon keeps serving on the old allow-list.
    std::fs::write(&cfg, "[ng]\nlisten = 7\n").unwrap();
    signal(&daemon.0, "-HUP");
    std::thread::sleep(Duration::from_millis(400));
    assert!(ng(&client, ng_addr, b"p2 d7:command4:pinge").is_some());
    // SIGHUP with 127.0.0.2 allowed: the stranger is answered now, the call is still there.
    std::fs::write(&cfg, text("\"127.0.0.1\", \"127.0.0.2\"")).unwrap();
    signal(&daemon.0, "-HUP");
    let end = Instant::now() + Duration::from_secs(3);
    while ng(&stranger, ng_addr2, b"s2 d7:command4:pinge").is_none() {
        assert!(Instant::now() < end, "the reload did not take");
    }
    let r = ng(&client, ng_addr, b"l2 d7:command4:liste").unwrap();
    assert_eq!(
        body(&r)
            .get("calls")
            .and_then(Value::as_list)
            .map(<[_]>::len),
        Some(1)
    );

    // SIGTERM: every call ended, ports freed, exit 0.
    signal(&daemon.0, "-TERM");
    let end = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        UdpSocket::bind(("127.0.0.1", relay_port)).is_ok(),
        "the call's port was freed"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("keeping the running configuration"), "{log}");
    assert!(log.contains("1 calls ended"), "{log}");
}
