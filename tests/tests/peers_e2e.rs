//! Real phones against the real `sbc` on loopback: pjsip (pjsua2, `tests/peers/pjsua2_ua.py`)
//! registers with digest, calls through the SBC to a pjsip UA on the core side over TCP, and
//! sends INFO and MESSAGE in the call and MESSAGE outside it. pjsip frames TCP by Content-Length
//! alone and picks SHA-256 when offered, which is how outsiders found two defects: relayed
//! answers without Content-Length, and MD5-only users challenged with SHA-256 first.
//!
//! Needs the venv `.ci/deps` makes (`.venv` with pjsua2-python); without it these tests fail
//! when `CI` is set and skip loudly otherwise.

use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::{free_udp_port, http_get, metric_value, Sbc};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Customer and core interfaces on UDP and TCP, a TCP route to the core UA at `core_ua`, realm
/// example.com with alice (password, any algorithm) and bob (`algorithm = "MD5"`, as in
/// config/examples/production.toml).
fn config(customer: u16, core: u16, core_ua: u16) -> SbcConfig {
    let iface = |port, rtp| Iface::udp(addr(port), rtp).and("tcp", addr(port));
    let mut c = SbcConfig::with(iface(customer, 46000..=46999), iface(core, 47000..=47999)).route(
        "customer-to-core",
        addr(core_ua),
        "transport = \"tcp\"",
    );
    c.extra = "[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n\
               [[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n\n\
               [[user]]\nusername = \"bob\"\nrealm = \"example.com\"\npassword = \"builder\"\n\
               algorithm = \"MD5\"\n"
        .to_owned();
    c
}

/// Runs the pjsua2 phone (`args` after the script) and returns its `key value` outcome lines.
fn run_phone(python: &PathBuf, args: &[&str]) -> BTreeMap<String, String> {
    let out = Command::new("timeout")
        .arg("60")
        .arg(python)
        .arg(repo().join("tests/peers/pjsua2_ua.py"))
        .args(args)
        .output()
        .expect("run pjsua2_ua.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outcomes: BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(
        stdout.lines().any(|l| l == "done"),
        "pjsua2 did not finish: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    outcomes
}

fn metric(admin: SocketAddr, series: &str) -> f64 {
    let rsp = http_get(admin, "/metrics", None).expect("GET /metrics");
    metric_value(&rsp.body, series).unwrap_or_else(|| panic!("{series} missing"))
}

/// A pjsip phone on TCP registers, calls the core's pjsip UA through the SBC, and every request
/// it sends gets its 200: pjsip drops a TCP message without Content-Length, so the SBC's 200s
/// to INFO and MESSAGE (in the call and outside it) must carry it.
#[test]
fn a_pjsip_phone_on_tcp_calls_and_gets_every_answer() {
    let Some(python) =
        sbc_tests::venv_python_with("pjsua2", "a_pjsip_phone_on_tcp_calls_and_gets_every_answer")
    else {
        return;
    };
    let (customer, core, core_ua) = (free_udp_port(), free_udp_port(), free_udp_port());
    let c = config(customer, core, core_ua);
    let _sbc = Sbc::start_ready(&c.render());
    let (sbc_port, core_port) = (customer.to_string(), core_ua.to_string());
    let out = run_phone(
        &python,
        &[&sbc_port, &core_port, "tcp", "alice", "wonderland"],
    );
    let want = [
        ("register", "200"),
        ("call", "CONFIRMED"),
        ("info", "200"),
        ("message", "200"),
        ("ood_message", "200"),
    ];
    for (k, v) in want {
        assert_eq!(out.get(k).map(String::as_str), Some(v), "{k}: {out:?}");
    }
}

/// bob may use MD5 only. pjsip answers the first algorithm it supports, SHA-256 when offered
/// first (RFC 8760 §2.4): the SBC must challenge bob with MD5 alone, so he registers at once,
/// over UDP and TCP, with no failure counted against him or his address.
#[test]
fn an_md5_only_user_registers_from_a_phone_that_prefers_sha256() {
    let Some(python) = sbc_tests::venv_python_with(
        "pjsua2",
        "an_md5_only_user_registers_from_a_phone_that_prefers_sha256",
    ) else {
        return;
    };
    let (customer, core, core_ua) = (free_udp_port(), free_udp_port(), free_udp_port());
    let c = config(customer, core, core_ua);
    let _sbc = Sbc::start_ready(&c.render());
    let sbc_port = customer.to_string();
    for transport in ["udp", "tcp"] {
        let core_port = free_udp_port().to_string();
        let out = run_phone(
            &python,
            &[
                &sbc_port,
                &core_port,
                transport,
                "bob",
                "builder",
                "--no-call",
            ],
        );
        assert_eq!(
            out.get("register").map(String::as_str),
            Some("200"),
            "{transport}: {out:?}"
        );
    }
    assert_eq!(metric(c.admin, "sbc_auth_failures_total"), 0.0);
    // The sbc is still up and answers.
    std::thread::sleep(Duration::from_millis(100));
    assert!(http_get(c.admin, "/ready", None).is_some());
}

/// The same pjsip phone over TLS 1.2, verifying the SBC's certificate: registers, calls the core
/// (UDP) through the SBC and gets every answer on its TLS connection.
#[test]
fn a_pjsip_phone_on_tls_registers_and_calls() {
    let Some(python) =
        sbc_tests::venv_python_with("pjsua2", "a_pjsip_phone_on_tls_registers_and_calls")
    else {
        return;
    };
    let dir = sbc_tests::test_dir("sbc-pjsua2-tls");
    let pki = sbc_tests::tls::Pki::new(&dir);
    let (cert, key) = pki.issue("sbc.test");
    let (customer, core, core_ua) = (free_udp_port(), free_udp_port(), free_udp_port());
    let tls_port = sbc_tests::free_tcp_port();
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999).and("tls", addr(tls_port)),
        Iface::udp(addr(core), 47000..=47999),
    )
    .route("customer-to-core", addr(core_ua), "");
    c.extra = "[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n\
               [[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n"
        .to_owned();
    let tls = format!(
        "[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let text = c.render().replace(
        "rtp_port_max = 46999\n",
        &format!("rtp_port_max = 46999\n{tls}"),
    );
    let _sbc = Sbc::start_ready(&text);
    let ca = format!("--ca={}", pki.ca.display());
    let out = run_phone(
        &python,
        &[
            &tls_port.to_string(),
            &core_ua.to_string(),
            "tls",
            "alice",
            "wonderland",
            &ca,
        ],
    );
    for (k, v) in [
        ("register", "200"),
        ("call", "CONFIRMED"),
        ("info", "200"),
        ("message", "200"),
        ("ood_message", "200"),
    ] {
        assert_eq!(out.get(k).map(String::as_str), Some(v), "{k}: {out:?}");
    }
}

/// The tone powers a party heard, from a `*_hears f700 f1800` line.
fn hears(out: &BTreeMap<String, String>, key: &str) -> (f64, f64) {
    let v = out
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing: {out:?}"));
    let mut it = v.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// An SBC for the SRTP tests: customer side UDP + TLS (certificate for sbc.test, `srtp =
/// "required"`, realm example.com with alice/wonderland), core side UDP with plain RTP, a route
/// to `core_ua`, every SIP message logged.
struct SrtpSbc {
    sbc: Sbc,
    admin: SocketAddr,
    pki: sbc_tests::tls::Pki,
    dir: PathBuf,
    tls_port: u16,
    core: u16,
    core_ua: u16,
}

fn srtp_sbc(test: &str) -> SrtpSbc {
    srtp_sbc_with(test, "")
}

/// [`srtp_sbc`] with `customer_lines` added to the customer interface (e.g. `ice = "lite"`).
fn srtp_sbc_with(test: &str, customer_lines: &str) -> SrtpSbc {
    let dir = sbc_tests::test_dir(test);
    let pki = sbc_tests::tls::Pki::new(&dir);
    let (cert, key) = pki.issue("sbc.test");
    let (customer, core, core_ua) = (free_udp_port(), free_udp_port(), free_udp_port());
    let tls_port = sbc_tests::free_tcp_port();
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999).and("tls", addr(tls_port)),
        Iface::udp(addr(core), 47000..=47999),
    )
    .route("customer-to-core", addr(core_ua), "");
    c.extra = "[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n\
               [[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n"
        .to_owned();
    let customer_side = format!(
        "rtp_port_max = 46999\nsrtp = \"required\"\n{customer_lines}[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    c.general = "log_sip_messages = true\nlog_sip_rate_per_s = 10000\n".to_owned();
    let text = c.render().replace("rtp_port_max = 46999\n", &customer_side);
    SrtpSbc {
        sbc: Sbc::start_ready(&text),
        admin: c.admin,
        pki,
        dir,
        tls_port,
        core,
        core_ua,
    }
}

impl SrtpSbc {
    /// Asserts that no message to or from the core carried keys or an SRTP profile, that no
    /// SRTP packet failed authentication, and that more than `packets` were forwarded.
    fn assert_srtp_stayed_on_the_customer_leg(&self, packets: f64) {
        let log = std::fs::read_to_string(&self.sbc.log).unwrap_or_default();
        let core_peer = format!("127.0.0.1:{}", self.core_ua);
        let core_side: Vec<&str> = log
            .split("sbc::sip")
            .skip(1)
            .filter(|m| m.lines().next().is_some_and(|l| l.contains(&core_peer)))
            .collect();
        assert!(!core_side.is_empty(), "no message to the core in the log");
        for m in &core_side {
            assert!(
                !m.contains("a=crypto") && !m.contains("RTP/SAVP"),
                "SRTP crossed to the core: {m}"
            );
        }
        assert_eq!(
            metric(
                self.admin,
                "sbc_relay_dropped_packets_total{reason=\"srtp_auth\"}"
            ),
            0.0
        );
        let body = http_get(self.admin, "/metrics", None)
            .expect("GET /metrics")
            .body;
        let forwarded: f64 = body
            .lines()
            .filter(|l| l.starts_with("sbc_relay_forwarded_packets_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(forwarded > packets, "forwarded {forwarded}");
    }
}

/// `key value` lines into a map.
fn outcomes(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Asserts that `who`'s recording in `key` holds the far end's tone (700 Hz for the phone's,
/// 1800 Hz for the core's), well above its own and above silence.
fn assert_hears(out: &BTreeMap<String, String>, key: &str, far_is_700: bool) {
    let (p700, p1800) = hears(out, key);
    let (far, near) = if far_is_700 {
        (p700, p1800)
    } else {
        (p1800, p700)
    };
    assert!(
        far > 10.0 * near.max(1.0),
        "{key}: the far tone is missing: {out:?}"
    );
}

#[test]
fn a_pjsip_phone_with_srtp_over_tls_talks_to_a_plain_rtp_core_both_ways() {
    let Some(python) = sbc_tests::venv_python_with(
        "pjsua2",
        "a_pjsip_phone_with_srtp_over_tls_talks_to_a_plain_rtp_core_both_ways",
    ) else {
        return;
    };
    let s = srtp_sbc("sbc-pjsua2-srtp");
    let out = Command::new("timeout")
        .arg("60")
        .arg(&python)
        .arg(repo().join("tests/peers/pjsua2_srtp.py"))
        .args([
            &s.tls_port.to_string(),
            &s.core.to_string(),
            &s.core_ua.to_string(),
            "alice",
            "wonderland",
            s.pki.ca.to_str().unwrap(),
            s.dir.to_str().unwrap(),
        ])
        .output()
        .expect("run pjsua2_srtp.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == "done"),
        "pjsua2 did not finish: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = outcomes(&stdout);
    eprintln!("pjsua2 SRTP call outcomes: {out:?}");
    for (k, v) in [
        ("register", "200"),
        ("out_call", "CONFIRMED"),
        ("in_call", "CONFIRMED"),
        ("out_srtp", "1"),
        ("in_srtp", "1"),
    ] {
        assert_eq!(out.get(k).map(String::as_str), Some(v), "{k}: {out:?}");
    }
    // Each end hears the other's tone, in both calls.
    for call in ["out", "in"] {
        assert_hears(&out, &format!("{call}_core_hears"), true);
        assert_hears(&out, &format!("{call}_phone_hears"), false);
    }
    // Two calls of 2.5 s, 50 packets a second each way.
    s.assert_srtp_stayed_on_the_customer_leg(400.0);
}

/// Whether Debian's linphonec is installed; skips loudly (or fails under `CI`).
fn linphonec_or_skip(test: &str) -> bool {
    let ok = Command::new("linphonec").arg("-v").output().is_ok();
    if !ok {
        let why = format!("{test}: linphonec missing (apt-get install -y linphone-cli)");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED {why}");
    }
    ok
}

#[test]
fn a_linphone_phone_with_srtp_over_tls_talks_to_a_plain_rtp_core_both_ways() {
    linphone_call(
        "a_linphone_phone_with_srtp_over_tls_talks_to_a_plain_rtp_core_both_ways",
        false,
    );
}

#[test]
fn a_linphone_phone_with_ice_completes_it_against_the_sbcs_lite_leg_both_ways() {
    linphone_call(
        "a_linphone_phone_with_ice_completes_it_against_the_sbcs_lite_leg_both_ways",
        true,
    );
}

/// linphonec over TLS with SRTP (and ICE when `ice`: the customer side is then ICE-lite) calls
/// a plain pjsua2 core UA and is called back; tones both ways in both calls.
fn linphone_call(test: &str, ice: bool) {
    let Some(python) = sbc_tests::venv_python_with("pjsua2", test) else {
        return;
    };
    if !linphonec_or_skip(test) {
        return;
    }
    let s = if ice {
        srtp_sbc_with("sbc-linphone-ice", "ice = \"lite\"\n")
    } else {
        srtp_sbc("sbc-linphone-srtp")
    };
    // The core's UA (pjsua2, plain RTP) first, ready before the phone calls.
    let mut core = Command::new("timeout")
        .arg("60")
        .arg(&python)
        .arg(repo().join("tests/peers/pjsua2_core.py"))
        .args([
            &s.core.to_string(),
            &s.core_ua.to_string(),
            "alice",
            s.dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pjsua2_core.py");
    let mut core_out = std::io::BufReader::new(core.stdout.take().expect("stdout"));
    // pjlib prints its own start-up lines first.
    let mut ready = false;
    for _ in 0..50 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut core_out, &mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.trim() == "core_ready" {
            ready = true;
            break;
        }
    }
    assert!(ready, "the core UA did not start");
    let phone_dir = s.dir.join("linphone");
    std::fs::create_dir_all(&phone_dir).unwrap();
    let phone = Command::new("timeout")
        .arg("90")
        .arg("python3")
        .arg(repo().join("tests/peers/linphone_srtp.py"))
        .args([
            &s.tls_port.to_string(),
            "alice",
            "wonderland",
            s.pki.ca.to_str().unwrap(),
            phone_dir.to_str().unwrap(),
            "sip:bob@example.com",
        ])
        .args(ice.then_some("--ice"))
        .output()
        .expect("run linphone_srtp.py");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut core_out, &mut rest).expect("core's output");
    let _ = core.wait();
    let phone_stdout = String::from_utf8_lossy(&phone.stdout);
    assert!(
        phone_stdout.lines().any(|l| l == "done"),
        "linphone did not finish: {phone_stdout}\n{}",
        String::from_utf8_lossy(&phone.stderr)
    );
    let phone = outcomes(&phone_stdout);
    let core = outcomes(&rest);
    eprintln!("linphone: {phone:?}\ncore: {core:?}");
    for (k, v) in [
        ("register", "200"),
        ("out_call", "CONFIRMED"),
        ("in_call", "CONFIRMED"),
        ("out_srtp", "1"),
        ("in_srtp", "1"),
    ] {
        assert_eq!(phone.get(k).map(String::as_str), Some(v), "{k}: {phone:?}");
    }
    for (k, v) in [
        ("core_out_call", "CONFIRMED"),
        ("core_in_call", "CONFIRMED"),
    ] {
        assert_eq!(core.get(k).map(String::as_str), Some(v), "{k}: {core:?}");
    }
    assert_hears(&phone, "out_phone_hears", false);
    assert_hears(&phone, "in_phone_hears", false);
    assert_hears(&core, "core_out_hears", true);
    assert_hears(&core, "core_in_hears", true);
    s.assert_srtp_stayed_on_the_customer_leg(400.0);
}
