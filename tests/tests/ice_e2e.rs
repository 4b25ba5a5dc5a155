//! ICE-lite through the real `sbc` binary with a real ICE agent: aioice (PyPI, a full agent,
//! controlling) is the customer's media endpoint on a side with `ice = "lite"`; the SIP is this
//! test's. The SBC answers the offer with its own ICE-lite credentials and candidate, the
//! relay answers aioice's connectivity checks and takes the nominated pair, and RTP flows both
//! ways with a plain-RTP peer on the core side, whose INVITE carries no ICE at all. An attacker
//! who knows the relay port but not the password gets 401 and never reaches the core (RFC 8445
//! §2.5, §7.3; RFC 8839; RFC 8489 §9.1.3). Needs `.venv` with aioice (`bash .ci/deps`); without
//! it the test fails when `CI` is set and skips loudly otherwise.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Method};
use sbc_common::stun::auth::write_binding_request;
use sbc_common::stun::{attr, Class, Packet};
use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::message::{alice_invite, contact_uri, dialog_request, is_response, tagged_response};
use sbc_tests::{free_udp_port, http_get, metric_value, sdp_audio_addr, Sbc, TestUa};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The values of `a=<name>:` lines of an SDP body, in order.
fn attrs(body: &[u8], name: &str) -> Vec<String> {
    let prefix = format!("a={name}:");
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

#[test]
fn a_full_ice_agent_gets_media_through_the_sbcs_lite_leg_and_an_attacker_does_not() {
    let Some(python) = sbc_tests::venv_python_with("aioice", "ice_full_agent") else {
        return;
    };
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999),
    )
    .route("customer-to-core", core_ua.addr(), "");
    let text = c.render().replace(
        "rtp_port_max = 46999\n",
        "rtp_port_max = 46999\nice = \"lite\"\n",
    );
    let _sbc = Sbc::start_ready(&text);

    let mut agent = Command::new("timeout")
        .arg("40")
        .arg(&python)
        .arg(repo().join("tests/peers/aioice_peer.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run aioice_peer.py");
    let mut out = BufReader::new(agent.stdout.take().expect("stdout"));
    let mut line = || {
        let mut l = String::new();
        out.read_line(&mut l).expect("agent output");
        l.trim().to_owned()
    };
    let (mut ufrag, mut pwd, mut candidates) = (String::new(), String::new(), Vec::new());
    loop {
        let l = line();
        match l.split_once(' ') {
            Some(("ufrag", v)) => ufrag = v.to_owned(),
            Some(("pwd", v)) => pwd = v.to_owned(),
            Some(("candidate", v)) => candidates.push(v.to_owned()),
            _ if l == "ready" => break,
            _ if l.is_empty() => panic!("the agent ended before it was ready"),
            _ => {}
        }
    }
    let port: u16 = candidates[0]
        .split_whitespace()
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    let mut sdp = format!(
        "v=0\r\no=agent 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n\
         a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n"
    );
    for cand in &candidates {
        sdp.push_str(&format!("a=candidate:{cand}\r\n"));
    }

    // The SIP: the phone's INVITE with aioice's ICE, answered by the plain core.
    let phone = TestUa::new();
    let inv = alice_invite("UDP", phone.addr(), "ice-call-1", "ice-a", Some(sdp));
    phone.send(addr(customer), &inv);
    let (b_inv, from) = core_ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the core");
    let b_text = String::from_utf8_lossy(&b_inv.to_bytes()).into_owned();
    for leaked in ["a=candidate", "a=ice-", &ufrag, &pwd] {
        assert!(
            !b_text.contains(leaked),
            "{leaked} reached the core:\n{b_text}"
        );
    }
    let relay_b = sdp_audio_addr(b_inv.body()).expect("the relay's core-side address");
    let mut ok = tagged_response(&b_inv, 200, "ice-b");
    ok.push_header(
        HeaderName::Contact,
        format!("<sip:core@{}>", core_ua.addr()),
    );
    ok.set_body(Bytes::from(core_ua.sdp("core")), Some("application/sdp"));
    core_ua.send(from, &ok);
    let (a_ok, _) = phone
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at the phone");
    let ack = dialog_request(
        Method::Ack,
        contact_uri(&a_ok),
        1,
        format!("SIP/2.0/UDP {};branch=z9hG4bK-ice-ack;rport", phone.addr()),
        &inv,
        &a_ok,
    );
    phone.send(addr(customer), &ack);

    // The SBC's ICE-lite answer: its own credentials and one host candidate (rtcp-mux).
    let body = a_ok.body().clone();
    assert!(
        String::from_utf8_lossy(&body).contains("a=ice-lite"),
        "{a_ok:?}"
    );
    let (sbc_ufrag, sbc_pwd) = (attrs(&body, "ice-ufrag"), attrs(&body, "ice-pwd"));
    let sbc_candidates = attrs(&body, "candidate");
    assert_eq!(
        (sbc_ufrag.len(), sbc_pwd.len(), sbc_candidates.len()),
        (1, 1, 1),
        "{a_ok:?}"
    );
    assert_ne!(
        sbc_ufrag[0], ufrag,
        "the peer's credentials are never echoed"
    );
    let relay_a = sdp_audio_addr(&body).expect("the relay's customer-side address");
    assert!(sbc_candidates[0].contains(&format!(" {} {} typ host", relay_a.ip(), relay_a.port())));
    let stdin = agent.stdin.as_mut().expect("stdin");
    writeln!(stdin, "ufrag {}", sbc_ufrag[0]).unwrap();
    writeln!(stdin, "pwd {}", sbc_pwd[0]).unwrap();
    writeln!(stdin, "candidate {}", sbc_candidates[0]).unwrap();
    writeln!(stdin, "end").unwrap();
    stdin.flush().unwrap();

    let connected = line();
    assert!(
        connected.starts_with("connected"),
        "ICE failed: {connected}"
    );
    // The agent's media reaches the core; the core's reaches the agent.
    let (n, _) = core_ua.count_rtp(0xa11ce, 40, Duration::from_secs(5));
    assert!(n >= 40, "the core got {n} of the agent's 50 packets");
    core_ua.send_rtp(relay_b, 0xc0de, 50);
    let received = line();
    let got: usize = received
        .strip_prefix("received ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("agent: {received}"));
    assert!(got >= 40, "the agent got {got} of the core's 50 packets");
    assert_eq!(line(), "done");
    let _ = agent.wait();

    // An attacker who knows the relay's port but not the password.
    let evil = UdpSocket::bind("127.0.0.1:0").unwrap();
    evil.set_read_timeout(Some(WAIT)).unwrap();
    let mut check = [0u8; 200];
    let username = format!("{}:{ufrag}", sbc_ufrag[0]);
    let n = write_binding_request(
        &mut check,
        &[5; 12],
        username.as_bytes(),
        b"guessed-password-123456",
        sbc_common::stun::auth::Role::Controlling(9),
        true,
    )
    .unwrap();
    evil.send_to(&check[..n], relay_a).unwrap();
    let mut buf = [0u8; 512];
    let (len, _) = evil
        .recv_from(&mut buf)
        .expect("an answer to the attacker's check");
    let p = Packet::new_checked(&buf[..len]).unwrap();
    assert_eq!(p.class(), Class::ErrorResponse);
    let code = p.attribute(attr::ERROR_CODE).unwrap();
    assert_eq!((code[2], code[3]), (4, 1), "401 Unauthorized");
    let mut pkt = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0x0b, 0xad];
    pkt.resize(172, 0);
    for _ in 0..20 {
        evil.send_to(&pkt, relay_a).unwrap();
    }
    let (n, _) = core_ua.count_rtp(0xbad, 1, Duration::from_millis(500));
    assert_eq!(n, 0, "the attacker's RTP reached the core");
    let metrics = http_get(c.admin, "/metrics", None).expect("/metrics").body;
    let refused = metric_value(
        &metrics,
        "sbc_relay_dropped_packets_total{reason=\"stun_auth\"}",
    );
    assert!(refused.is_some_and(|v| v >= 1.0), "{metrics}");
    let answered = metric_value(&metrics, "sbc_relay_stun_answered_total");
    assert!(answered.is_some_and(|v| v >= 2.0), "{metrics}");
}

#[test]
fn turnutils_stunclient_gets_its_mapped_address_from_a_relay_port_of_a_live_call() {
    if Command::new("turnutils_stunclient")
        .arg("-h")
        .output()
        .is_err()
    {
        let why = "turnutils_stunclient missing (apt-get install -y coturn)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED {why}");
        return;
    }
    // A plain call, no ICE anywhere.
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999),
    )
    .route("customer-to-core", core_ua.addr(), "");
    let _sbc = Sbc::start_ready(&c.render());
    let phone = TestUa::new();
    let inv = alice_invite(
        "UDP",
        phone.addr(),
        "stun-call-1",
        "stun-a",
        Some(phone.sdp("alice")),
    );
    phone.send(addr(customer), &inv);
    let (b_inv, from) = core_ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the core");
    let mut ok = tagged_response(&b_inv, 200, "stun-b");
    ok.push_header(
        HeaderName::Contact,
        format!("<sip:core@{}>", core_ua.addr()),
    );
    ok.set_body(Bytes::from(core_ua.sdp("core")), Some("application/sdp"));
    core_ua.send(from, &ok);
    let (a_ok, _) = phone
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at the phone");
    let relay_a = sdp_audio_addr(a_ok.body()).expect("the relay's customer-side address");
    let out = Command::new("timeout")
        .args(["10", "turnutils_stunclient", "-p"])
        .arg(relay_a.port().to_string())
        .arg(relay_a.ip().to_string())
        .output()
        .expect("run turnutils_stunclient");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("turnutils_stunclient said:\n{text}");
    assert!(text.contains("UDP reflexive addr: 127.0.0.1:"), "{text}");
    // The call's media still flows: the STUN client latched nothing.
    phone.send_rtp(relay_a, 0xa, 10);
    let (n, _) = core_ua.count_rtp(0xa, 10, WAIT);
    assert_eq!(n, 10);
}

/// `sdp` with ICE, DTLS and BUNDLE lines naming `private` and `public` addresses.
fn with_candidates(sdp: &str, private: &str, public: &str) -> String {
    let at = sdp.find("m=").unwrap();
    let (head, media) = sdp.split_at(at);
    format!(
        "{head}a=group:BUNDLE 0\r\na=ice-options:trickle\r\n{media}a=mid:0\r\n\
         a=ice-ufrag:Lk9q\r\na=ice-pwd:sEcReTpAsSwOrDsEcReTpA\r\n\
         a=fingerprint:sha-256 12:34:56:78\r\na=setup:actpass\r\n\
         a=candidate:1 1 UDP 2130706431 {private} 50000 typ host\r\n\
         a=candidate:2 1 UDP 1694498815 {public} 61000 typ srflx raddr {private} rport 50000\r\n\
         a=candidate:3 1 UDP 16777215 {public} 62000 typ relay raddr {public} rport 61000\r\n\
         a=end-of-candidates\r\n"
    )
}

fn assert_clean(what: &str, m: &sbc_common::sip::Message, leaked: &[&str]) {
    let text = String::from_utf8_lossy(&m.to_bytes()).into_owned();
    for l in leaked.iter().chain(&[
        "a=candidate",
        "a=ice-",
        "a=fingerprint",
        "a=setup",
        "BUNDLE",
    ]) {
        assert!(!text.contains(l), "{what}: {l} leaked:\n{text}");
    }
    assert!(
        text.contains("a=rtpmap:0 PCMU/8000"),
        "{what}: the media went too:\n{text}"
    );
}

#[test]
fn a_customers_candidates_never_reach_the_core_nor_the_cores_the_customer() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999),
    )
    .route("customer-to-core", core_ua.addr(), "");
    let _sbc = Sbc::start_ready(&c.render());
    let phone = TestUa::new();
    let offer = with_candidates(&phone.sdp("alice"), "192.168.1.23", "198.51.100.99");
    let inv = alice_invite("UDP", phone.addr(), "leak-1", "leak-a", Some(offer));
    phone.send(addr(customer), &inv);
    let (b_inv, from) = core_ua
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the core");
    assert_clean(
        "INVITE to the core",
        &b_inv,
        &["192.168.1.23", "198.51.100.99", "sEcReT"],
    );
    let mut ok = tagged_response(&b_inv, 200, "leak-b");
    ok.push_header(
        HeaderName::Contact,
        format!("<sip:core@{}>", core_ua.addr()),
    );
    let answer = with_candidates(&core_ua.sdp("core"), "10.20.30.40", "192.0.2.77");
    ok.set_body(Bytes::from(answer), Some("application/sdp"));
    core_ua.send(from, &ok);
    let (a_ok, _) = phone
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at the phone");
    assert_clean("200 to the customer", &a_ok, &["10.20.30.40", "192.0.2.77"]);
    let via = |b: &str| format!("SIP/2.0/UDP {};branch=z9hG4bK-{b};rport", phone.addr());
    phone.send(
        addr(customer),
        &dialog_request(
            Method::Ack,
            contact_uri(&a_ok),
            1,
            via("leak-ack"),
            &inv,
            &a_ok,
        ),
    );
    // The phone moves networks: a re-INVITE with new candidates.
    let moved = with_candidates(
        &phone.sdp("alice").replace("o=alice 1 1", "o=alice 1 2"),
        "172.16.5.6",
        "203.0.113.45",
    );
    let mut re = dialog_request(
        Method::Invite,
        contact_uri(&a_ok),
        2,
        via("leak-re"),
        &inv,
        &a_ok,
    );
    re.push_header(HeaderName::Contact, format!("<sip:alice@{}>", phone.addr()));
    re.set_body(Bytes::from(moved), Some("application/sdp"));
    phone.send(addr(customer), &re);
    let (b_re, from) = core_ua
        .recv_until(WAIT, |m| {
            m.method() == Some(&Method::Invite) && m.cseq().is_some_and(|c| c.seq > 1)
        })
        .expect("the re-INVITE at the core");
    assert_clean(
        "re-INVITE to the core",
        &b_re,
        &["172.16.5.6", "203.0.113.45", "192.168.1.23"],
    );
    let mut ok2 = tagged_response(&b_re, 200, "leak-b");
    ok2.push_header(
        HeaderName::Contact,
        format!("<sip:core@{}>", core_ua.addr()),
    );
    let answer2 = with_candidates(
        &core_ua.sdp("core").replace("o=core 1 1", "o=core 1 2"),
        "10.20.30.41",
        "192.0.2.78",
    );
    ok2.set_body(Bytes::from(answer2), Some("application/sdp"));
    core_ua.send(from, &ok2);
    let (a_ok2, _) = phone
        .recv_until(WAIT, |m| {
            is_response(m, 200, "INVITE") && m.cseq().is_some_and(|c| c.seq == 2)
        })
        .expect("200 to the re-INVITE at the phone");
    assert_clean(
        "200 to the re-INVITE",
        &a_ok2,
        &["10.20.30.41", "192.0.2.78"],
    );
}
