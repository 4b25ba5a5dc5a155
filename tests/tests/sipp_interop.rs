//! Interop with SIPp (Debian package `sip-tester`): a SIPp UAC places 300 calls through the real
//! `sbc` binary to a SIPp UAS on loopback, with RTP played by the UAC (a cut of SIPp's
//! `g711a.pcap`) and echoed by the UAS (`-rtp_echo`) through the relay. Every call must succeed,
//! and the relay must latch both legs of every call (its `media latched` debug log), which it only
//! does after RTP has arrived from the UAC and from the UAS echo; the relay's Prometheus counters
//! (`/metrics`) must show those latches and the packets forwarded both ways.

use sbc_tests::config::SbcConfig;
use sbc_tests::{
    cut_pcap, free_media_ports, free_tcp_port, free_udp_port, http_get, last_stats, metric_value,
    sipp_in, spawn_logged, stat, test_dir, Sbc,
};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const CALLS: usize = 300;
const RATE: u32 = 30;
const LIMIT: u32 = 50;
/// RTP packets kept from `g711a.pcap` (30 ms apart: about 1.2 s, shorter than the UAC's pause).
const PCAP_PACKETS: usize = 40;
/// `line` without ANSI colour sequences (`ESC [ ... m`), which the log has between field names and
/// values.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn config(customer: u16, core: u16, uas: u16, admin: u16) -> String {
    let mut c = SbcConfig::loopback(customer, core, 48000..=48999, 49000..=49999).route(
        "customer-to-core",
        SocketAddr::from(([127, 0, 0, 1], uas)),
        "",
    );
    c.general = "log_level = \"debug\"".into();
    c.admin = SocketAddr::from(([127, 0, 0, 1], admin));
    c.render()
}

#[test]
fn sipp_uac_sbc_sipp_uas_300_calls_with_rtp() {
    let started = Instant::now();
    let dir = test_dir("sbc-sipp");
    cut_pcap(&dir.join("audio.pcap"), PCAP_PACKETS);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp/uac.xml");

    let (customer, core, uas_port) = (free_udp_port(), free_udp_port(), free_udp_port());
    let (uas_media, uac_media) = (free_media_ports(), free_media_ports());
    let admin = free_tcp_port();
    let sbc = Sbc::start_ready(&config(customer, core, uas_port, admin));

    let _uas = spawn_logged(
        sipp_in(&dir)
            .args(["-sn", "uas", "-rtp_echo", "-nostdin"])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &uas_port.to_string(), "-mp", &uas_media.to_string()])
            .args(["-m", &CALLS.to_string()])
            .args(["-trace_err", "-error_file", "uas_errors.log"]),
        Some(&dir.join("uas.out")),
    );
    // SIPp binds its socket straight away; give it a moment before the first INVITE.
    std::thread::sleep(Duration::from_millis(300));

    let stats = dir.join("uac_stats.csv");
    let mut uac = spawn_logged(
        sipp_in(&dir)
            .arg(format!("127.0.0.1:{customer}"))
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args([
                "-p",
                &free_udp_port().to_string(),
                "-mp",
                &uac_media.to_string(),
            ])
            .args([
                "-m",
                &CALLS.to_string(),
                "-r",
                &RATE.to_string(),
                "-l",
                &LIMIT.to_string(),
            ])
            .args(["-timeout", "60s", "-timeout_error", "-nostdin"])
            .args(["-trace_stat", "-stf", "uac_stats.csv", "-fd", "1"])
            .args(["-trace_err", "-error_file", "uac_errors.log"])
            .args(["-trace_screen", "-screen_file", "uac_screen.log"]),
        Some(&dir.join("uac.out")),
    );
    let status = uac.0.wait().expect("wait for sipp uac");
    let elapsed = started.elapsed();
    let show = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let context = || {
        format!(
            "in {}\n--- uac.out\n{}\n--- uac_screen.log\n{}\n--- uac_errors.log\n{}\n--- uas_errors.log\n{}",
            dir.display(),
            show("uac.out"),
            show("uac_screen.log"),
            show("uac_errors.log"),
            show("uas_errors.log"),
        )
    };
    assert!(
        status.success(),
        "sipp uac exited with {status}: {}",
        context()
    );

    let stats = last_stats(&stats);
    let ok = stat(&stats, "SuccessfulCall(C)");
    let failed = stat(&stats, "FailedCall(C)");
    assert_eq!(
        (ok, failed),
        (CALLS as u64, 0),
        "successful/failed calls: {}",
        context()
    );

    // Every call latched both legs: the relay saw RTP from the UAC (customer leg) and the UAS's
    // echo (core leg). The log may lag the last call a little.
    let log = sbc.log.clone();
    let count = |leg: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains("media latched") && l.contains(leg))
            .count()
    };
    let end = Instant::now() + Duration::from_secs(5);
    while (count("leg=0") < CALLS || count("leg=1") < CALLS) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        (count("leg=0"), count("leg=1")),
        (CALLS, CALLS),
        "media latched per leg (customer, core) in {}",
        log.display()
    );
    // The same, from the relay's counters: two latches per call, and RTP forwarded both ways
    // (the UAC plays PCAP_PACKETS per call and the UAS echoes them; allow for a few lost).
    let metrics = http_get(
        format!("127.0.0.1:{admin}").parse().expect("admin addr"),
        "/metrics",
        None,
    )
    .expect("/metrics answers");
    let series = |name: &str| {
        metrics
            .body
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let latches = metric_value(&metrics.body, "sbc_relay_latch_events_total").unwrap_or(0.0);
    let forwarded = series("sbc_relay_forwarded_packets_total");
    assert!(
        latches >= (2 * CALLS) as f64,
        "relay latch events {latches} < {}",
        2 * CALLS
    );
    assert!(
        forwarded >= (2 * CALLS * PCAP_PACKETS) as f64 * 0.9,
        "relay forwarded {forwarded} packets, expected about {}",
        2 * CALLS * PCAP_PACKETS
    );
    eprintln!("{CALLS} calls through sbc with SIPp in {elapsed:?}: {latches} latches, {forwarded} packets forwarded");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
