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
