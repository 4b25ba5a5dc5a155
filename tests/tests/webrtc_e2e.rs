//! A real browser through the SBC (RFC 7118, RFC 5763/5764, RFC 8829): headless Chromium runs a
//! JsSIP page (`tests/js/webrtc_browser.js`) whose microphone plays a 700 Hz tone; it registers
//! over WSS to the SBC's WebRTC side and calls a plain-RTP pjsua2 UA on the core side
//! (`tests/peers/pjsua2_core.py`, playing 1800 Hz and recording), then the core calls it back.
//! The relay terminates ICE-lite and DTLS-SRTP towards the browser and plain RTP towards the
//! core: the core's recordings hold the browser's tone, the browser's WebRTC statistics show
//! audio received, and nothing of DTLS, ICE or SRTP reaches the core.
//!
//! Needs what `.ci/deps` installs (Debian `chromium`, tests/js/node_modules with puppeteer-core,
//! esbuild and jssip, the venv with pjsua2); without them it fails when `CI` is set and skips
//! loudly otherwise. Loopback only.

use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::{free_udp_port, http_get, metric_value, Sbc};
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether the browser, its driver and the core's phone are installed; `false` (after saying
/// so loudly) when not and `CI` is unset; a panic when `CI` is set.
fn peers_installed(test: &str) -> bool {
    let js = repo().join("tests/js/node_modules");
    let missing: Vec<&str> = [
        ("chromium", Path::new("/usr/bin/chromium").exists()),
        ("puppeteer-core", js.join("puppeteer-core").exists()),
        ("esbuild", js.join("esbuild").exists()),
        ("jssip", js.join("jssip").exists()),
        (
            "pjsua2",
            Command::new(repo().join(".venv/bin/python"))
                .args(["-c", "import pjsua2"])
                .output()
                .is_ok_and(|o| o.status.success()),
        ),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{test}: {missing:?} missing; run `bash .ci/deps`");
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("SKIPPED {why}");
    false
}

/// Three seconds of a 700 Hz tone, 48 kHz mono 16-bit PCM: what the browser's microphone plays
/// (Chromium loops it).
fn write_tone(path: &Path) {
    let rate = 48_000u32;
    let samples: Vec<i16> = (0..rate * 3)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            (8000.0 * (2.0 * std::f64::consts::PI * 700.0 * t).sin()) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).expect("tone wav");
}

/// `key value` lines into a map.
fn outcomes(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The 700 Hz and 1800 Hz powers of a `*_hears f700 f1800` line.
fn hears(out: &BTreeMap<String, String>, key: &str) -> (f64, f64) {
    let v = out
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing: {out:?}"));
    let mut it = v.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

fn number(out: &BTreeMap<String, String>, key: &str) -> f64 {
    out.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} missing: {out:?}"))
}

fn metric(admin: SocketAddr, series: &str) -> f64 {
    let body = http_get(admin, "/metrics", None)
        .expect("GET /metrics")
        .body;
    metric_value(&body, series).unwrap_or(0.0)
}

/// Waits (up to 3 s: the metrics refresh on the housekeeping tick) for `series` to reach `at_least`.
fn metric_reaches(admin: SocketAddr, series: &str, at_least: f64) -> f64 {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let v = metric(admin, series);
        if v >= at_least || std::time::Instant::now() > end {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn chromium_with_jssip_calls_a_plain_rtp_core_over_dtls_srtp_and_is_called_back() {
    let test = "chromium_with_jssip_calls_a_plain_rtp_core_over_dtls_srtp_and_is_called_back";
    if !peers_installed(test) {
        return;
    }
    let dir = sbc_tests::test_dir("sbc-webrtc");
    let pki = sbc_tests::tls::Pki::new(&dir);
    let (cert, key) = pki.issue("sbc.test");
    let (customer, core, core_ua) = (free_udp_port(), free_udp_port(), free_udp_port());
    let wss = sbc_tests::free_tcp_port();
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 45200..=45299).and("wss", addr(wss)),
        Iface::udp(addr(core), 45300..=45399),
    )
    .route("customer-to-core", addr(core_ua), "");
    c.extra = "[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n\
               [[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n"
        .to_owned();
    c.general = "log_sip_messages = true\nlog_sip_rate_per_s = 10000\n".to_owned();
    let text = c.render().replacen(
        "rtp_port_max = 45299\n",
        &format!(
            "rtp_port_max = 45299\nprofile = \"webrtc\"\n[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        1,
    );
    let sbc = Sbc::start_ready(&text);

    // The core's phone first, ready before the browser calls.
    let mut core_phone = Command::new("timeout")
        .arg("90")
        .arg(repo().join(".venv/bin/python"))
        .arg(repo().join("tests/peers/pjsua2_core.py"))
        .args([
            &core.to_string(),
            &core_ua.to_string(),
            "alice",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run pjsua2_core.py");
    let mut core_out = std::io::BufReader::new(core_phone.stdout.take().expect("stdout"));
    let mut ready = false;
    for _ in 0..50 {
        let mut line = String::new();
        if core_out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.trim() == "core_ready" {
            ready = true;
            break;
        }
    }
    assert!(ready, "the core's phone did not start");

    let browser_dir = dir.join("browser");
    std::fs::create_dir_all(&browser_dir).unwrap();
    let wav = browser_dir.join("tone700.wav");
    write_tone(&wav);
    let browser = Command::new("timeout")
        .arg("100")
        .arg("node")
        .arg("webrtc_browser.js")
        .current_dir(repo().join("tests/js"))
        .args([
            &format!("wss://127.0.0.1:{wss}"),
            "sip:alice@example.com",
            "wonderland",
            "sip:bob@example.com",
            wav.to_str().unwrap(),
            browser_dir.to_str().unwrap(),
            "4",
        ])
        .output()
        .expect("run webrtc_browser.js");
    let mut rest = String::new();
    core_out.read_to_string(&mut rest).expect("core's output");
    let _ = core_phone.wait();
    let browser_stdout = String::from_utf8_lossy(&browser.stdout);
    let phone = outcomes(&browser_stdout);
    let core_says = outcomes(&rest);
    eprintln!("browser: {phone:?}\ncore: {core_says:?}");
    assert!(
        phone.contains_key("done"),
        "the browser did not finish: {browser_stdout}\n{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    for (k, v) in [
        ("register", "200"),
        ("out_call", "CONFIRMED"),
        ("out_dtls", "connected"),
        ("in_call", "CONFIRMED"),
        ("in_dtls", "connected"),
    ] {
        assert_eq!(phone.get(k).map(String::as_str), Some(v), "{k}: {phone:?}");
    }
    for (k, v) in [
        ("core_out_call", "CONFIRMED"),
        ("core_in_call", "CONFIRMED"),
    ] {
        assert_eq!(
            core_says.get(k).map(String::as_str),
            Some(v),
            "{k}: {core_says:?}"
        );
    }
    // The core heard the browser's tone in both calls (and not mostly its own).
    for key in ["core_out_hears", "core_in_hears"] {
        let (p700, p1800) = hears(&core_says, key);
        assert!(
            p700 > 10.0 * p1800.max(1.0),
            "{key}: the browser's tone is missing: {core_says:?}"
        );
    }
    // The browser received the core's audio, decrypted, with energy in it, both calls.
    for call in ["out", "in"] {
        let packets = number(&phone, &format!("{call}_rx_packets"));
        let energy = number(&phone, &format!("{call}_rx_energy"));
        assert!(packets > 50.0, "{call}: {packets} packets received");
        assert!(energy > 0.01, "{call}: audio energy {energy}");
        assert!(number(&phone, &format!("{call}_tx_packets")) > 50.0);
    }
    // Nothing of WebRTC crossed to the core; no SRTP packet failed; media was relayed.
    let log = std::fs::read_to_string(&sbc.log).unwrap_or_default();
    let core_peer = format!("127.0.0.1:{core_ua}");
    let to_core: Vec<&str> = log
        .split("sbc::sip")
        .skip(1)
        .filter(|m| m.lines().next().is_some_and(|l| l.contains(&core_peer)))
        .collect();
    assert!(!to_core.is_empty(), "no message to the core in the log");
    for m in &to_core {
        for foreign in [
            "a=fingerprint",
            "UDP/TLS",
            "a=ice-",
            "a=candidate",
            "a=crypto",
        ] {
            assert!(!m.contains(foreign), "{foreign} reached the core: {m}");
        }
    }
    assert_eq!(
        metric(
            c.admin,
            "sbc_relay_dropped_packets_total{reason=\"srtp_auth\"}"
        ),
        0.0
    );
    assert!(
        metric(c.admin, "sbc_relay_dropped_packets_total{reason=\"dtls\"}") >= 4.0,
        "the handshakes went through the relay's DTLS"
    );
    let connected = "sbc_relay_dtls_handshakes_total{result=\"connected\"}";
    assert_eq!(
        metric_reaches(c.admin, connected, 2.0),
        2.0,
        "one handshake per call"
    );
    assert_eq!(
        metric(
            c.admin,
            "sbc_relay_dtls_handshakes_total{result=\"failed\"}"
        ),
        0.0
    );
}

/// A WebRTC side (`profile = "webrtc"`, UDP signalling) and a plain core side, routed to
/// `core_ua`, every SIP message logged.
fn webrtc_sbc(core_ua: SocketAddr, base: u16) -> (Sbc, SbcConfig, u16) {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), base..=base + 99),
        Iface::udp(addr(core), base + 100..=base + 199),
    )
    .route("customer-to-core", core_ua, "");
    c.general = "log_sip_messages = true\nlog_sip_rate_per_s = 10000\n".to_owned();
    let max = format!("rtp_port_max = {}\n", base + 99);
    let text = c
        .render()
        .replacen(&max, &format!("{max}profile = \"webrtc\"\n"), 1);
    (Sbc::start_ready(&text), c, customer)
}

/// aiortc's `key value` lines until `done` (or its end).
fn read_until_done(out: &mut impl BufRead) -> BTreeMap<String, String> {
    let mut seen = String::new();
    loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        let done = l.trim() == "done";
        seen.push_str(&l);
        if done {
            break;
        }
    }
    outcomes(&seen)
}

/// The payload types of the `m=<kind>` line and its port, from an SDP body.
fn m_line(body: &[u8], kind: &str) -> Option<(u16, Vec<String>)> {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("m={kind} ")))?;
    let mut it = line.split_whitespace().skip(1);
    let port = it.next()?.parse().ok()?;
    Some((port, it.skip(1).map(str::to_owned).collect()))
}

/// Counts RTP datagrams (not RTCP) on `sock` for `window`, and whether any carried payload
/// type `pt`.
fn count_rtp(sock: &std::net::UdpSocket, window: std::time::Duration, pt: u8) -> (usize, bool) {
    let end = std::time::Instant::now() + window;
    let mut buf = [0u8; 2048];
    let (mut n, mut seen) = (0, false);
    sock.set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .unwrap();
    while std::time::Instant::now() < end {
        if let Ok((len, _)) = sock.recv_from(&mut buf) {
            if len >= 12 && buf[0] >> 6 == 2 && !(192..=223).contains(&buf[1]) {
                n += 1;
                seen |= buf[1] & 0x7f == pt;
            }
        }
    }
    (n, seen)
}

/// Plain RTP from the core to the relay: 20 ms apart for `count` packets.
fn send_rtp(sock: &std::net::UdpSocket, to: SocketAddr, pt: u8, ssrc: u32, count: u16) {
    for seq in 0..count {
        let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p.resize(12 + 160, 0xff);
        let _ = sock.send_to(&p, to);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs one aiortc call (audio + video offered with BUNDLE) to a plain core answering both
/// streams, with `args` for aiortc; returns aiortc's outcomes, the INVITE the core got, what
/// the core received per stream, and the core's UA (to see what happens to the call).
struct AiortcCall {
    peer: BTreeMap<String, String>,
    b_invite: sbc_common::sip::Message,
    answer: sbc_common::sip::Message,
    audio_rx: usize,
    video_rx: usize,
    core: sbc_tests::TestUa,
    admin: SocketAddr,
    _sbc: Sbc,
}

fn aiortc_call(python: &Path, args: &[&str], base: u16) -> AiortcCall {
    use bytes::Bytes;
    use sbc_common::sip::{HeaderName, Method};
    use sbc_tests::message::{
        alice_invite, contact_uri, dialog_request, is_response, tagged_response,
    };
    use std::io::Write;
    const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

    let core = sbc_tests::TestUa::new();
    let video = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (sbc, c, customer) = webrtc_sbc(core.addr(), base);
    let mut peer = Command::new("timeout")
        .arg("40")
        .arg(python)
        .arg(repo().join("tests/peers/aiortc_peer.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run aiortc_peer.py");
    let mut out = std::io::BufReader::new(peer.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("aiortc's offer");
    let offer = first
        .trim()
        .strip_prefix("offer ")
        .unwrap_or_else(|| panic!("aiortc: {first}"));
    let offer = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, offer).unwrap(),
    )
    .unwrap();
    assert!(offer.contains("a=group:BUNDLE 0 1"), "{offer}");

    let phone = sbc_tests::TestUa::new();
    let inv = alice_invite("UDP", phone.addr(), "aiortc-1", "rtc-a", Some(offer));
    phone.send(addr(customer), &inv);
    let (b_inv, from) = core
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("INVITE at the core");
    let (_, audio_pts) = m_line(b_inv.body(), "audio").expect("audio at the core");
    let (_, video_pts) = m_line(b_inv.body(), "video").expect("video at the core");
    let audio_pt = if audio_pts.iter().any(|p| p == "0") {
        "0"
    } else {
        &audio_pts[0]
    };
    let video_pt = video_pts[0].clone();
    let core_rtp = core.rtp_addr();
    let answer = format!(
        "v=0\r\no=core 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP {audio_pt}\r\na=rtcp-mux\r\na=sendrecv\r\n\
         m=video {} RTP/AVP {video_pt}\r\na=rtpmap:{video_pt} VP8/90000\r\na=rtcp-mux\r\na=sendrecv\r\n",
        core_rtp.port(),
        video.local_addr().unwrap().port()
    );
    let mut ok = tagged_response(&b_inv, 200, "rtc-b");
    ok.push_header(HeaderName::Contact, format!("<sip:core@{}>", core.addr()));
    ok.set_body(Bytes::from(answer), Some("application/sdp"));
    core.send(from, &ok);
    let (a_ok, _) = phone
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at the caller");
    let ack = dialog_request(
        Method::Ack,
        contact_uri(&a_ok),
        1,
        format!("SIP/2.0/UDP {};branch=z9hG4bK-rtc-ack;rport", phone.addr()),
        &inv,
        &a_ok,
    );
    phone.send(addr(customer), &ack);
    let stdin = peer.stdin.as_mut().expect("stdin");
    let answer64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, a_ok.body());
    writeln!(stdin, "answer {answer64}").unwrap();
    stdin.flush().unwrap();
    let text = String::from_utf8_lossy(b_inv.body()).into_owned();
    let ip: std::net::IpAddr = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .and_then(|ip| ip.trim().parse().ok())
        .expect("the relay's address");
    let (audio_port, _) = m_line(b_inv.body(), "audio").unwrap();
    let (video_port, _) = m_line(b_inv.body(), "video").unwrap();
    let relay_audio = SocketAddr::new(ip, audio_port);
    let relay_video = SocketAddr::new(ip, video_port);
    // The core talks back on both streams while it counts what arrives.
    let pt_a: u8 = audio_pt.parse().unwrap();
    let pt_v: u8 = video_pt.parse().unwrap();
    let (audio_sock, video_sock) = (core.rtp.try_clone().unwrap(), video.try_clone().unwrap());
    let talk = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let v = std::thread::spawn(move || send_rtp(&video_sock, relay_video, pt_v, 0x71de0, 150));
        send_rtp(&audio_sock, relay_audio, pt_a, 0xc0de, 150);
        let _ = v.join();
    });
    let audio_core = core.rtp.try_clone().unwrap();
    let counter =
        std::thread::spawn(move || count_rtp(&video, std::time::Duration::from_secs(4), pt_v));
    let (audio_rx, audio_pt_seen) = count_rtp(&audio_core, std::time::Duration::from_secs(4), pt_a);
    let (video_rx, _) = counter.join().unwrap();
    let _ = talk.join();
    let peer_out = read_until_done(&mut out);
    let _ = peer.wait();
    assert!(
        audio_rx == 0 || audio_pt_seen,
        "audio arrived with another payload type"
    );
    AiortcCall {
        peer: peer_out,
        b_invite: b_inv,
        answer: a_ok,
        audio_rx,
        video_rx,
        core,
        admin: c.admin,
        _sbc: sbc,
    }
}

#[test]
fn aiortc_bundles_audio_and_video_over_one_dtls_srtp_transport_both_ways_against_a_plain_core() {
    let Some(python) = sbc_tests::venv_python_with("aiortc", "aiortc_dtls_srtp") else {
        return;
    };
    let call = aiortc_call(&python, &[], 45400);
    eprintln!(
        "aiortc: {:?}; core got audio {} video {}",
        call.peer, call.audio_rx, call.video_rx
    );
    let b = String::from_utf8_lossy(call.b_invite.body()).into_owned();
    for foreign in [
        "UDP/TLS",
        "a=fingerprint",
        "a=setup",
        "a=ice-",
        "a=candidate",
        "BUNDLE",
    ] {
        assert!(!b.contains(foreign), "{foreign} reached the core:\n{b}");
    }
    assert_eq!(
        call.peer.get("dtls").map(String::as_str),
        Some("connected"),
        "{:?}",
        call.peer
    );
    // The SBC accepted aiortc's BUNDLE: both lines on one port, one transport, one handshake;
    // the core still got a port per line.
    let (a_port, _) = m_line(call.answer.body(), "audio").unwrap();
    let (v_port, _) = m_line(call.answer.body(), "video").unwrap();
    assert_eq!(a_port, v_port, "{:?}", call.answer);
    assert!(String::from_utf8_lossy(call.answer.body()).contains("a=group:BUNDLE 0 1"));
    assert_eq!(call.peer.get("transports").map(String::as_str), Some("1"));
    let (ca, _) = m_line(call.b_invite.body(), "audio").unwrap();
    let (cv, _) = m_line(call.b_invite.body(), "video").unwrap();
    assert_ne!(ca, cv);
    assert_eq!(
        metric_reaches(
            call.admin,
            "sbc_relay_dtls_handshakes_total{result=\"connected\"}",
            1.0
        ),
        1.0
    );
    // SRTP from aiortc arrives decrypted at the core on both streams...
    assert!(call.audio_rx > 50, "core audio: {}", call.audio_rx);
    assert!(call.video_rx > 5, "core video: {}", call.video_rx);
    // ...and the core's plain RTP reaches aiortc as SRTP it accepts, on both streams.
    assert!(number(&call.peer, "audio_rx") > 50.0, "{:?}", call.peer);
    assert!(number(&call.peer, "video_rx") > 50.0, "{:?}", call.peer);
    assert_eq!(
        metric(
            call.admin,
            "sbc_relay_dropped_packets_total{reason=\"srtp_auth\"}"
        ),
        0.0
    );
}

#[test]
fn a_dtls_certificate_that_is_not_the_offers_fingerprint_ends_the_call_with_a_reason() {
    let Some(python) = sbc_tests::venv_python_with("aiortc", "aiortc_wrong_fingerprint") else {
        return;
    };
    let call = aiortc_call(&python, &["--wrong-fingerprint"], 45600);
    eprintln!("aiortc: {:?}; core got audio {}", call.peer, call.audio_rx);
    // Refused inside the handshake: aiortc never saw it complete on either stream.
    let dtls = call.peer.get("dtls").cloned().unwrap_or_default();
    assert!(!dtls.contains("connected"), "aiortc: {dtls}");
    assert_eq!(call.audio_rx, 0, "no media without a verified peer");
    // The core gets a BYE that says why.
    let (bye, _) = call
        .core
        .recv_until(std::time::Duration::from_secs(5), |m| {
            m.method() == Some(&sbc_common::sip::Method::Bye)
        })
        .expect("BYE at the core");
    let reason = bye
        .header(&sbc_common::sip::HeaderName::Reason)
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("cause=488") && reason.contains("DTLS"),
        "{reason}"
    );
    let failed = "sbc_relay_dtls_handshakes_total{result=\"failed\"}";
    assert!(metric_reaches(call.admin, failed, 1.0) >= 1.0, "counted");
}
