//! The ng commands carried out on a real relay over loopback sockets (rtpengine
//! docs/ng_control_protocol.md): an offer's SDP comes back pointing at the relay's side facing
//! the answerer, the answer's at the side facing the offerer, RTP then flows both ways between
//! two UDP peers through the relay, and delete ends the session.

use sbc_common::bencode::Value;
use sbc_relay::api::{InterfaceConfig, Relay, RelayConfig};
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use sbc_relay::ng::{parse, Calls, NgError};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

fn relay() -> Relay {
    let iface = |name: &str, min: u16| InterfaceConfig {
        name: name.into(),
        address: "127.0.0.1".parse().unwrap(),
        port_min: min,
        port_max: min + 99,
    };
    Relay::start(RelayConfig {
        interfaces: vec![iface("customer", 35_000), iface("core", 35_200)],
        workers: 1,
        worker_cpus: Vec::new(),
        worker_rt_priority: None,
        recv_buffer: sbc_relay::api::DEFAULT_RECV_BUFFER,
        backend: BackendKind::Mmsg,
        uring: UringConfig::default(),
        latch: LatchConfig::default(),
        inactivity_timeout: Duration::ZERO,
        stats_interval: Duration::from_millis(100),
        seed: 35,
    })
    .expect("relay starts")
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn sdp(addr: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

/// An ng request datagram.
fn request(cookie: &str, command: &str, sdp: Option<&str>, tag: (&str, &str)) -> Vec<u8> {
    let mut pairs: Vec<(&[u8], Value<'_>)> = vec![
        (b"command", Value::Bytes(command.as_bytes())),
        (b"call-id", Value::Bytes(b"ng-call-1")),
        (tag.0.as_bytes(), Value::Bytes(tag.1.as_bytes())),
        (
            b"direction",
            Value::List(vec![Value::Bytes(b"customer"), Value::Bytes(b"core")]),
        ),
    ];
    if let Some(s) = sdp {
        pairs.push((b"sdp", Value::Bytes(s.as_bytes())));
    }
    if tag.0 == "to-tag" {
        pairs.push((b"from-tag", Value::Bytes(b"ft")));
    }
    let mut out = format!("{cookie} ").into_bytes();
    Value::Dict(pairs).encode(&mut out);
    out
}

/// The RTP address of an SDP's first `m=` line.
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

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p
}

#[test]
fn offer_answer_and_delete_anchor_a_call_and_rtp_flows_both_ways() {
    let mut relay = relay();
    let mut calls = Calls::new("customer");
    let (a, b) = (peer(), peer());
    let offer = request(
        "c1",
        "offer",
        Some(&sdp(a.local_addr().unwrap())),
        ("from-tag", "ft"),
    );
    let req = parse(&offer).unwrap();
    let to_b = calls.offer(&mut relay, &req).unwrap();
    let relay_b = audio(&to_b);
    assert_ne!(
        relay_b,
        a.local_addr().unwrap(),
        "the offer now names the relay"
    );
    assert!(
        (35_200..35_300).contains(&relay_b.port()),
        "the core side faces the answerer"
    );
    let answer = request(
        "c2",
        "answer",
        Some(&sdp(b.local_addr().unwrap())),
        ("to-tag", "tt"),
    );
    let to_a = calls.answer(&mut relay, &parse(&answer).unwrap()).unwrap();
    let relay_a = audio(&to_a);
    assert!(
        (35_000..35_100).contains(&relay_a.port()),
        "the customer side faces the offerer"
    );
    let mut buf = [0u8; 2048];
    for i in 0..10u16 {
        a.send_to(&rtp(i, 0xa), relay_a).unwrap();
        let (n, from) = b.recv_from(&mut buf).expect("B hears A");
        assert_eq!((n, from), (172, relay_b));
        b.send_to(&rtp(i, 0xb), relay_b).unwrap();
        let (_, from) = a.recv_from(&mut buf).expect("A hears B");
        assert_eq!(from, relay_a);
    }
    assert_eq!(calls.len(), 1);
    let delete = request("c3", "delete", None, ("from-tag", "ft"));
    calls
        .delete(
            &mut relay,
            &parse(&delete).unwrap(),
            std::time::Instant::now(),
            Duration::ZERO,
        )
        .unwrap();
    assert!(calls.is_empty());
    // A second delete, or an answer for it, names an unknown call.
    let e = calls
        .delete(
            &mut relay,
            &parse(&delete).unwrap(),
            std::time::Instant::now(),
            Duration::ZERO,
        )
        .unwrap_err();
    assert_eq!(e.reason(), "Unknown call-id");
    assert!(matches!(
        calls.answer(&mut relay, &parse(&answer).unwrap()),
        Err(NgError::UnknownCall(_))
    ));
    relay.shutdown();
}
