//! One source flooding the real `sbc` while others call: the per-source request rate limit
//! applies to every source a route does not trust, and call admission caps what the source
//! that gets through may hold, so legitimate callers keep their calls. All on loopback, each
//! party on its own 127.0.0.x address (Linux routes the whole 127.0.0.0/8 to `lo`):
//!
//! - 127.0.0.1: the SBC and a SIPp UAS behind the route (a trusted peer: the route's next hop);
//! - 127.0.0.2: the flood, INVITEs at ten times the source's request limit, never ACKed;
//! - 127.0.0.3: a SIPp UAC calling at 90 % of the limit (three requests per call);
//! - 127.0.0.4, 127.0.0.5: SIPp UACs with ordinary traffic.

use sbc_tests::config::SbcConfig;
use sbc_tests::{
    free_tcp_port, free_udp_port, http_get, last_stats, metric_value, sipp_in, spawn_logged, stat,
    test_dir, ChildGuard, Sbc,
};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

/// Requests per second one untrusted source may send.
const SOURCE_RATE: u32 = 30;
/// Calls one untrusted source may hold at once.
const CALLS_PER_SOURCE: u32 = 10;
/// All calls the SBC takes at once: the flood alone would fill it in a few seconds.
const MAX_CALLS: u32 = 60;
/// How long the flood lasts (the legitimate calls fit inside it).
const FLOOD: Duration = Duration::from_secs(12);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A SIPp UAC (built-in `uac` scenario, SDP offer) from `from` placing `calls` calls at `rate`
/// per second to the SBC's customer side, with its statistics in `<name>.csv`.
fn uac(dir: &Path, name: &str, from: IpAddr, sbc: SocketAddr, calls: u32, rate: u32) -> ChildGuard {
    spawn_logged(
        sipp_in(dir)
            .arg(sbc.to_string())
            .args(["-sn", "uac", "-nostdin"])
            .args(["-i", &from.to_string(), "-mi", &from.to_string()])
            .args(["-p", &free_udp_port().to_string()])
            .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
            .args(["-timeout", "60s", "-timeout_error"])
            .args(["-trace_stat", "-stf", &format!("{name}.csv"), "-fd", "1"]),
        Some(&dir.join(format!("{name}.out"))),
    )
}

/// INVITEs from `from` to `sbc` at `per_s` for `how_long`, each a new call, never ACKed;
/// returns how many were sent. Bounded in count and time.
fn flood(from: IpAddr, sbc: SocketAddr, per_s: u32, how_long: Duration) -> u32 {
    let socket = UdpSocket::bind((from, 0)).expect("bind flood socket");
    let me = socket.local_addr().unwrap();
    let gap = Duration::from_secs(1) / per_s;
    let start = Instant::now();
    let mut sent = 0u32;
    while start.elapsed() < how_long && sent < per_s * 60 {
        let invite = format!(
            "INVITE sip:flood@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKflood{sent};rport\r\nMax-Forwards: 70\r\nFrom: <sip:flood@{from}>;tag=f{sent}\r\nTo: <sip:victim@example.com>\r\nCall-ID: flood-{sent}@{from}\r\nCSeq: 1 INVITE\r\nContact: <sip:flood@{me}>\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = socket.send_to(invite.as_bytes(), sbc);
        sent += 1;
        let next = start + gap * sent;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    sent
}

/// (successful, failed) calls of a finished SIPp UAC.
fn outcome(dir: &Path, name: &str, mut child: ChildGuard) -> (u64, u64) {
    let _ = child.0.wait();
    let stats = last_stats(&dir.join(format!("{name}.csv")));
    (
        stat(&stats, "SuccessfulCall(C)"),
        stat(&stats, "FailedCall(C)"),
    )
}

#[test]
fn a_flooding_source_is_held_to_its_limits_and_other_callers_complete() {
    let dir = test_dir("sbc-flood");
    let (customer, core, uas_port) = (free_udp_port(), free_udp_port(), free_udp_port());
    let uas_addr = SocketAddr::from(([127, 0, 0, 1], uas_port));
    let mut c = SbcConfig::loopback(customer, core, 46000..=46999, 47000..=47999).route(
        "customer-to-core",
        uas_addr,
        "",
    );
    c.admin = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
    c.extra = format!(
        "[limits]\nmax_calls = {MAX_CALLS}\nsource_rate_per_s = {SOURCE_RATE}\nsource_burst = {}\n\
         calls_per_source = {CALLS_PER_SOURCE}\ncall_rate_per_source = 20\n",
        SOURCE_RATE * 2
    );
    let _sbc = Sbc::start_ready(&c.render());
    let sbc = SocketAddr::from(([127, 0, 0, 1], customer));
    let _uas = spawn_logged(
        sipp_in(&dir)
            .args([
                "-sn",
                "uas",
                "-nostdin",
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
            ])
            .args(["-p", &uas_port.to_string()]),
        Some(&dir.join("uas.out")),
    );
    std::thread::sleep(Duration::from_millis(300));

    let flooder = std::thread::spawn(move || flood(ip(2), sbc, SOURCE_RATE * 10, FLOOD));
    // Let the flood take what it can first.
    std::thread::sleep(Duration::from_secs(2));
    let at_limit = uac(&dir, "at-limit", ip(3), sbc, 80, SOURCE_RATE * 9 / 10 / 3);
    let legit_a = uac(&dir, "legit-a", ip(4), sbc, 80, 10);
    let legit_b = uac(&dir, "legit-b", ip(5), sbc, 80, 10);
    let results = [
        ("at-limit", outcome(&dir, "at-limit", at_limit)),
        ("legit-a", outcome(&dir, "legit-a", legit_a)),
        ("legit-b", outcome(&dir, "legit-b", legit_b)),
    ];
    let flooded = flooder.join().expect("flood thread");

    let metrics = http_get(c.admin, "/metrics", None).expect("/metrics").body;
    let m = |series: &str| metric_value(&metrics, series).unwrap_or(0.0);
    let rate_limited = m("sbc_rate_limited_requests_total");
    let capped = m("sbc_admission_refused_total{limit=\"source_calls\"}")
        + m("sbc_admission_refused_total{limit=\"source_rate\"}");
    let summary = format!(
        "flood sent {flooded} INVITEs; rate-limited {rate_limited}, admission-refused {capped}; {results:?}; files in {}",
        dir.display()
    );
    eprintln!("{summary}");
    for (name, (ok, failed)) in results {
        let total = ok + failed;
        assert!(total > 0, "{name} placed no calls: {summary}");
        assert!(
            ok * 100 >= total * 99,
            "{name}: {ok} of {total} calls completed: {summary}"
        );
    }
    // Nine in ten of the flood's INVITEs were over its request rate and dropped unanswered;
    // of the rest, the source's call caps refused all but a handful.
    assert!(
        rate_limited >= f64::from(flooded) * 0.8,
        "rate limit did not hold the flood: {summary}"
    );
    assert!(capped > 0.0, "admission caps never applied: {summary}");
    let _ = std::fs::remove_dir_all(&dir);
}
