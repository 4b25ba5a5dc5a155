//! Smoke test of the `relay-bench` binary: a ~1 s run with 10 streams per forwarder (baseline and
//! both relay backends, and `--srtp`) must move packets and print one JSON line per forwarder with
//! every field.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FIELDS: [&str; 12] = [
    "\"backend\":",
    "\"streams\":10,",
    "\"offered_pps\":",
    "\"forwarded_pps\":",
    "\"loss_pct\":",
    "\"latency_us\":{\"p50\":",
    "\"p99\":",
    "\"p999\":",
    "\"relay_cpu_ns_per_packet\":",
    "\"baseline_ratio\":",
    "\"pps_ratio\":",
    "\"cpu_ratio\":",
];

/// The number after `"key":` in a JSON line (`None` for `null` or a missing key).
fn number(line: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\":");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Runs relay-bench with 10 streams at 50 pps for 1 s (+ 0.3 s warm-up) and `extra` options;
/// returns its stdout after asserting it exited 0 within 30 s.
/// The relay's port ranges are fixed: one relay-bench at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(extra: &[&str]) -> String {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay-bench"))
        .args([
            "--streams",
            "10",
            "--duration",
            "1",
            "--warmup",
            "0.3",
            "--rate",
            "50",
            "--json",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relay-bench starts");
    // Three forwarders x (0.3 s warm-up + 1 s + 0.3 s drain) plus setup: well under 30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("relay-bench did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    assert!(
        status.success(),
        "exit {status}: stderr: {err}\nstdout: {out}"
    );
    out
}

fn backend(line: &str) -> &str {
    let start = line.find("\"backend\":\"").expect("backend") + 11;
    let end = start + line[start..].find('"').expect("backend end");
    &line[start..end]
}

#[test]
fn ten_streams_for_a_second_per_backend() {
    let out = run(&["--backend", "all"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "one line per forwarder: {out}");
    let backends: Vec<&str> = lines.iter().map(|l| backend(l)).collect();
    assert_eq!(backends, ["baseline", "io_uring", "mmsg"]);
    for line in &lines {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        for f in FIELDS {
            assert!(line.contains(f), "{f} missing in {line}");
        }
        let offered = number(line, "offered_pps").expect("offered_pps");
        let forwarded = number(line, "forwarded_pps").expect("forwarded_pps");
        // 10 streams x 50 pps = 500 pps offered; allow a slow, shared CI machine.
        assert!(offered > 250.0, "offered {offered}: {line}");
        assert!(forwarded > 0.5 * offered, "forwarded {forwarded}: {line}");
        assert_eq!(number(line, "streams_flowing"), Some(10.0), "{line}");
        assert!(number(line, "p50").is_some(), "{line}");
        assert!(number(line, "relay_cpu_ns_per_packet").is_some(), "{line}");
    }
    assert_eq!(
        number(lines[0], "baseline_ratio"),
        Some(1.0),
        "{}",
        lines[0]
    );
}

#[test]
fn srtp_runs_decrypt_every_packet_beside_the_plain_run() {
    let out = run(&["--backend", "mmsg", "--srtp"]);
    let lines: Vec<&str> = out.lines().collect();
    let backends: Vec<&str> = lines.iter().map(|l| backend(l)).collect();
    assert_eq!(backends, ["baseline", "mmsg", "mmsg+srtp"], "{out}");
    let srtp = lines[2];
    let offered = number(srtp, "offered_pps").expect("offered_pps");
    let forwarded = number(srtp, "forwarded_pps").expect("forwarded_pps");
    // Every packet the generator sealed must pass the relay's authentication to be forwarded.
    assert!(offered > 250.0, "offered {offered}: {srtp}");
    assert!(forwarded > 0.5 * offered, "forwarded {forwarded}: {srtp}");
    assert_eq!(number(srtp, "streams_flowing"), Some(10.0), "{srtp}");
    assert!(number(srtp, "relay_cpu_ns_per_packet").is_some(), "{srtp}");
}

#[test]
fn the_sbc_relay_daemon_runs_over_ng_and_recovers_after_an_overload() {
    // `sbc-relay` is built next to relay-bench by `cargo build --workspace --bins`.
    let daemon =
        std::path::Path::new(env!("CARGO_BIN_EXE_relay-bench")).with_file_name("sbc-relay");
    if !daemon.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} missing",
            daemon.display()
        );
        eprintln!(
            "SKIPPED: {} not built (cargo build --workspace --bins)",
            daemon.display()
        );
        return;
    }
    let out = run(&["--no-inprocess", "--ng", "sbc-relay", "--overload", "0.5"]);
    let lines: Vec<&str> = out.lines().collect();
    let backends: Vec<&str> = lines.iter().map(|l| backend(l)).collect();
    assert_eq!(backends, ["baseline", "ng:sbc-relay"], "{out}");
    let ng = lines[1];
    let offered = number(ng, "offered_pps").expect("offered_pps");
    let forwarded = number(ng, "forwarded_pps").expect("forwarded_pps");
    assert!(offered > 250.0, "offered {offered}: {ng}");
    assert!(forwarded > 0.5 * offered, "forwarded {forwarded}: {ng}");
    assert_eq!(
        number(ng, "streams_flowing"),
        Some(10.0),
        "every stream forwards after the flood: {ng}"
    );
    assert!(number(ng, "relay_cpu_ns_per_packet").is_some(), "{ng}");
}
