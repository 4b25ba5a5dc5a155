//! Prometheus text exposition of the daemon: the relay metrics the SBC exports (same names),
//! plus the ng service's counters, served by a small HTTP thread from a snapshot the control
//! loop refreshes.

use sbc_relay::api::RelayMetrics;
use sbc_relay::forward::DropReason;
use sbc_relay::ng::{Command, NgCounters};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The latest exposition text.
pub(crate) type Snapshot = Arc<Mutex<String>>;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The exposition text of `m`, the ng counters `ng` and the calls anchored.
pub(crate) fn render(m: &RelayMetrics, ng: &NgCounters, calls: usize) -> String {
    let mut o = String::with_capacity(4096);
    let b = m.backend;
    let counter = |o: &mut String, name: &str, help: &str, v: u64| {
        family(o, name, "counter", help);
        let _ = writeln!(o, "{name}{{backend=\"{b}\"}} {v}");
    };
    counter(
        &mut o,
        "sbc_relay_forwarded_packets_total",
        "Datagrams the relay forwarded.",
        m.forwarded_packets,
    );
    counter(
        &mut o,
        "sbc_relay_forwarded_bytes_total",
        "Bytes the relay forwarded.",
        m.forwarded_bytes,
    );
    counter(
        &mut o,
        "sbc_relay_received_packets_total",
        "Datagrams the relay received.",
        m.received,
    );
    counter(
        &mut o,
        "sbc_relay_syscalls_total",
        "System calls made by the relay's IO backend.",
        m.syscalls,
    );
    family(
        &mut o,
        "sbc_relay_dropped_packets_total",
        "counter",
        "Datagrams the relay dropped, by reason.",
    );
    for (d, v) in DropReason::ALL.iter().zip(m.drops) {
        let _ = writeln!(
            o,
            "sbc_relay_dropped_packets_total{{reason=\"{}\"}} {v}",
            d.as_str()
        );
    }
    let plain = |o: &mut String, name: &str, kind: &str, help: &str, v: String| {
        family(o, name, kind, help);
        let _ = writeln!(o, "{name} {v}");
    };
    plain(
        &mut o,
        "sbc_relay_latch_events_total",
        "counter",
        "Legs that latched onto a peer.",
        m.latch_events.to_string(),
    );
    plain(
        &mut o,
        "sbc_relay_stun_answered_total",
        "counter",
        "STUN requests answered on leg ports.",
        m.stun_answered.to_string(),
    );
    plain(
        &mut o,
        "sbc_relay_worker_turns_total",
        "counter",
        "Relay worker loop turns.",
        m.turns.to_string(),
    );
    plain(
        &mut o,
        "sbc_relay_worker_cpu_seconds_total",
        "counter",
        "CPU time of the relay's worker threads.",
        format!("{}", m.cpu_ns as f64 / 1e9),
    );
    plain(
        &mut o,
        "sbc_relay_sessions_active",
        "gauge",
        "Relay media sessions.",
        m.sessions.to_string(),
    );
    plain(
        &mut o,
        "sbc_relay_streams_active",
        "gauge",
        "Relay media streams.",
        m.streams.to_string(),
    );
    plain(
        &mut o,
        "sbc_relay_connected_twins",
        "gauge",
        "Leg sockets sending through a connected twin.",
        m.twins.to_string(),
    );
    family(
        &mut o,
        "sbc_relay_ports_in_use",
        "gauge",
        "Relay ports allocated, by interface.",
    );
    for (name, used, _) in &m.ports {
        let _ = writeln!(o, "sbc_relay_ports_in_use{{interface=\"{name}\"}} {used}");
    }
    family(
        &mut o,
        "sbc_relay_ports_free",
        "gauge",
        "Relay ports free, by interface.",
    );
    for (name, _, free) in &m.ports {
        let _ = writeln!(o, "sbc_relay_ports_free{{interface=\"{name}\"}} {free}");
    }
    family(
        &mut o,
        "sbc_relay_ng_requests_total",
        "counter",
        "ng requests acted on, by command.",
    );
    for (c, v) in Command::ALL.iter().zip(ng.requests) {
        let _ = writeln!(
            o,
            "sbc_relay_ng_requests_total{{command=\"{}\"}} {v}",
            c.name()
        );
    }
    family(
        &mut o,
        "sbc_relay_ng_dropped_total",
        "counter",
        "ng datagrams not acted on, by reason.",
    );
    for (reason, v) in [
        ("refused_source", ng.refused_sources),
        ("malformed", ng.malformed),
        ("load_limit", ng.load_limited),
    ] {
        let _ = writeln!(o, "sbc_relay_ng_dropped_total{{reason=\"{reason}\"}} {v}");
    }
    plain(
        &mut o,
        "sbc_relay_ng_errors_total",
        "counter",
        "ng error replies sent.",
        ng.errors.to_string(),
    );
    plain(
        &mut o,
        "sbc_relay_ng_replays_total",
        "counter",
        "Retransmitted ng requests answered from the replay cache.",
        ng.replays.to_string(),
    );
    plain(
        &mut o,
        "sbc_relay_ng_calls",
        "gauge",
        "Calls anchored over ng.",
        calls.to_string(),
    );
    o
}

/// Serves `GET /metrics` on `addr` from `snapshot` in a thread of its own.
pub(crate) fn serve(addr: SocketAddr, snapshot: Snapshot) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                // The request head, however many segments it comes in (up to 8 kB).
                let mut buf = Vec::with_capacity(1024);
                let mut chunk = [0u8; 1024];
                while buf.len() < 8192 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let (status, body) = if head.starts_with("GET /metrics ") {
                    let text = snapshot.lock().map(|t| t.clone()).unwrap_or_default();
                    ("200 OK", text)
                } else {
                    ("404 Not Found", "only GET /metrics here\n".to_owned())
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        })?;
    Ok(())
}
