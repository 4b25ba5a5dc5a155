//! DTLS-SRTP termination over real loopback sockets (RFC 5763, RFC 5764): a WebRTC-style peer
//! handshakes with the relay on its leg's port, then its SRTP reaches the plain leg as RTP and
//! the plain leg's RTP reaches it as SRTP under the exported keys; a certificate that does not
//! match the SDP fingerprint fails the leg with a reason.

use sbc_relay::api::{
    DtlsParams, DtlsRole, InterfaceConfig, LegSpec, Relay, RelayConfig, RelayEvent, SessionId,
};
use sbc_relay::dtls::{DtlsEndpoint, DtlsIdentity, DtlsState};
use sbc_relay::forward::LegSignal;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use sbc_relay::srtp::Context;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn relay(base: u16) -> Relay {
    Relay::start(RelayConfig {
        interfaces: vec![
            InterfaceConfig {
                name: "browser".into(),
                address: "127.0.0.1".parse().unwrap(),
                port_min: base,
                port_max: base + 99,
            },
            InterfaceConfig {
                name: "core".into(),
                address: "127.0.0.1".parse().unwrap(),
                port_min: base + 100,
                port_max: base + 199,
            },
        ],
        workers: 1,
        worker_cpus: Vec::new(),
        worker_rt_priority: None,
        recv_buffer: sbc_relay::api::DEFAULT_RECV_BUFFER,
        backend: BackendKind::Auto,
        uring: sbc_relay::io::uring::UringConfig::default(),
        latch: LatchConfig::default(),
        inactivity_timeout: Duration::ZERO,
        stats_interval: Duration::ZERO,
        seed: u64::from(base),
    })
    .expect("relay starts")
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0u8; 200];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p[12..20].copy_from_slice(b"tone....");
    p.truncate(172);
    p
}

/// A call with leg A towards `browser` (rtcp-mux, DTLS terminated) and leg B towards `plain`.
fn call(r: &mut Relay, browser: &UdpSocket, plain: &UdpSocket) -> (SessionId, [SocketAddr; 2]) {
    let s = r.create_session();
    let spec = |iface: &str, remote: SocketAddr, mux: bool| LegSpec {
        interface: iface.into(),
        rtcp_mux: mux,
        signal: LegSignal {
            remote_rtp: Some(remote),
            ..LegSignal::default()
        },
    };
    let (_, local) = r
        .add_stream(
            s,
            [
                spec("browser", browser.local_addr().unwrap(), true),
                spec("core", plain.local_addr().unwrap(), false),
            ],
        )
        .unwrap();
    (s, [local[0].rtp, local[1].rtp])
}

/// Runs the handshake between `client` on `browser` and the relay's leg at `to` until the
/// relay reports an outcome; returns the relay's events.
fn handshake(
    r: &mut Relay,
    client: &mut DtlsEndpoint,
    browser: &UdpSocket,
    to: SocketAddr,
) -> Vec<RelayEvent> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut events = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        while let Some(d) = client.poll_transmit() {
            browser.send_to(&d, to).unwrap();
        }
        if let Ok((n, _)) = browser.recv_from(&mut buf) {
            client.handle(&buf[..n]);
        }
        while let Some(e) = r.poll_event() {
            events.push(e);
        }
        let outcome = events.iter().any(|e| {
            matches!(
                e,
                RelayEvent::DtlsConnected { .. } | RelayEvent::DtlsFailed { .. }
            )
        });
        if outcome && *client.state() != DtlsState::Handshaking {
            return events;
        }
        if events
            .iter()
            .any(|e| matches!(e, RelayEvent::DtlsFailed { .. }))
        {
            return events;
        }
    }
    events
}

#[test]
fn a_dtls_peer_gets_srtp_the_plain_leg_rtp_both_ways() {
    let mut r = relay(41_000);
    let (browser, plain) = (peer(), peer());
    let (s, [leg_a, leg_b]) = call(&mut r, &browser, &plain);
    let mine = DtlsIdentity::generate().unwrap();
    let theirs = r.dtls_fingerprint().expect("the relay has a certificate");
    r.set_dtls(
        s,
        0,
        0,
        Some(DtlsParams {
            role: DtlsRole::Server,
            fingerprint: mine.fingerprint(),
        }),
    )
    .unwrap();
    let mut client = DtlsEndpoint::new(&mine, DtlsRole::Client, theirs).unwrap();
    let events = handshake(&mut r, &mut client, &browser, leg_a);
    assert_eq!(client.state(), &DtlsState::Connected, "{events:?}");
    assert!(
        events.contains(&RelayEvent::DtlsConnected {
            session: s,
            stream: 0,
            leg: 0
        }),
        "{events:?}"
    );
    let keys = client.take_keys().unwrap();
    let mut tx = Context::new(keys.suite, &keys.outbound);
    let mut rx = Context::new(keys.suite, &keys.inbound);
    // The relay keys the leg when the worker takes the command: the first packets may beat it.
    let mut buf = [0u8; 2048];
    let mut through = 0;
    for seq in 1..=50u16 {
        let mut p = rtp(seq, 0x1111);
        let len = p.len();
        p.resize(len + 16, 0);
        let n = tx.protect_rtp(&mut p, len).unwrap();
        browser.send_to(&p[..n], leg_a).unwrap();
        if let Ok((n, from)) = plain.recv_from(&mut buf) {
            assert_eq!(from, leg_b);
            assert_eq!(n, 172, "plain RTP on the core leg");
            assert_eq!(&buf[12..20], b"tone....");
            through += 1;
        }
    }
    assert!(
        through >= 45,
        "{through} of 50 SRTP packets reached the plain leg"
    );
    let mut back = 0;
    for seq in 1..=50u16 {
        plain.send_to(&rtp(seq, 0x2222), leg_b).unwrap();
        if let Ok((n, from)) = browser.recv_from(&mut buf) {
            assert_eq!(from, leg_a);
            assert_eq!(n, 172 + 10, "SRTP with an 80-bit tag");
            let plain_len = rx.unprotect_rtp(&mut buf[..n]).expect("decrypts");
            assert_eq!(plain_len, 172);
            assert_eq!(&buf[12..20], b"tone....");
            back += 1;
        }
    }
    assert!(back >= 45, "{back} of 50 RTP packets reached the DTLS peer");
    r.shutdown();
}

#[test]
fn a_certificate_other_than_the_sdp_fingerprint_fails_the_leg_with_a_reason() {
    let mut r = relay(41_300);
    let (browser, plain) = (peer(), peer());
    let (s, [leg_a, leg_b]) = call(&mut r, &browser, &plain);
    let mine = DtlsIdentity::generate().unwrap();
    let announced = DtlsIdentity::generate().unwrap();
    r.set_dtls(
        s,
        0,
        0,
        Some(DtlsParams {
            role: DtlsRole::Server,
            fingerprint: announced.fingerprint(),
        }),
    )
    .unwrap();
    let mut client =
        DtlsEndpoint::new(&mine, DtlsRole::Client, r.dtls_fingerprint().unwrap()).unwrap();
    let events = handshake(&mut r, &mut client, &browser, leg_a);
    assert!(
        events.contains(&RelayEvent::DtlsFailed {
            session: s,
            stream: 0,
            leg: 0,
            reason: "DTLS fingerprint mismatch"
        }),
        "{events:?}"
    );
    // No keys: nothing the peer sends passes as media, nothing reaches it in clear.
    let mut buf = [0u8; 2048];
    while browser.recv_from(&mut buf).is_ok() {} // the relay's last handshake flight
    for seq in 1..=5u16 {
        browser.send_to(&rtp(seq, 0x1111), leg_a).unwrap();
        plain.send_to(&rtp(seq, 0x2222), leg_b).unwrap();
    }
    assert!(
        plain.recv_from(&mut buf).is_err(),
        "media from an unkeyed DTLS leg"
    );
    assert!(
        browser.recv_from(&mut buf).is_err(),
        "clear media to a DTLS leg"
    );
    let m = r.metrics();
    let unkeyed = sbc_relay::forward::DropReason::ALL
        .iter()
        .position(|d| d.as_str() == "unkeyed")
        .unwrap();
    assert!(m.drops[unkeyed] >= 10, "{:?}", m.drops);
    r.shutdown();
}

#[test]
fn a_client_leg_sends_its_hello_to_the_address_ice_nominates_and_keys_both_ways() {
    use sbc_common::stun::auth::{write_binding_request, Role};
    use sbc_relay::forward::IceParams;
    let mut r = relay(41_600);
    let (browser, plain) = (peer(), peer());
    let (s, [leg_a, leg_b]) = call(&mut r, &browser, &plain);
    let theirs = DtlsIdentity::generate().unwrap();
    r.set_ice(
        s,
        0,
        0,
        Some(IceParams {
            local_ufrag: "relay".into(),
            local_pwd: "relaypasswordrelaypasswd".into(),
            remote_ufrag: Some("brws".into()),
        }),
    )
    .unwrap();
    // The browser answered setup:passive: the relay is the client, and waits for a peer.
    r.set_dtls(
        s,
        0,
        0,
        Some(DtlsParams {
            role: DtlsRole::Client,
            fingerprint: theirs.fingerprint(),
        }),
    )
    .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        browser.recv_from(&mut buf).is_err(),
        "no hello before a peer"
    );
    // The browser's nominating check: the relay answers, selects it, and says hello there.
    let mut check = [0u8; 200];
    let n = write_binding_request(
        &mut check,
        &[7; 12],
        b"relay:brws",
        b"relaypasswordrelaypasswd",
        Role::Controlling(5),
        true,
    )
    .unwrap();
    browser.send_to(&check[..n], leg_a).unwrap();
    let mut server =
        DtlsEndpoint::new(&theirs, DtlsRole::Server, r.dtls_fingerprint().unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut events = Vec::new();
    while Instant::now() < deadline && *server.state() == DtlsState::Handshaking {
        while let Some(e) = r.poll_event() {
            events.push(e);
        }
        if let Ok((n, _)) = browser.recv_from(&mut buf) {
            if buf[0] > 3 {
                server.handle(&buf[..n]);
            }
        }
        while let Some(d) = server.poll_transmit() {
            browser.send_to(&d, leg_a).unwrap();
        }
    }
    assert_eq!(server.state(), &DtlsState::Connected, "{events:?}");
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end
        && !events
            .iter()
            .any(|e| matches!(e, RelayEvent::DtlsConnected { .. }))
    {
        while let Some(e) = r.poll_event() {
            events.push(e);
        }
        if let Ok((n, _)) = browser.recv_from(&mut buf) {
            server.handle(&buf[..n]);
        }
    }
    assert!(
        events.contains(&RelayEvent::DtlsConnected {
            session: s,
            stream: 0,
            leg: 0
        }),
        "{events:?}"
    );
    // Keys crosswise: the core's RTP reaches the browser as SRTP under the server's inbound key.
    let keys = server.take_keys().unwrap();
    let mut rx = Context::new(keys.suite, &keys.inbound);
    let mut got = 0;
    for seq in 1..=20u16 {
        plain.send_to(&rtp(seq, 0x2222), leg_b).unwrap();
        if let Ok((n, _)) = browser.recv_from(&mut buf) {
            if buf[0] >> 6 == 2 && rx.unprotect_rtp(&mut buf[..n]).is_ok() {
                got += 1;
            }
        }
    }
    assert!(got >= 15, "{got} of 20 decrypted at the browser");
    r.shutdown();
}
