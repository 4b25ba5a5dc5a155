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
}
