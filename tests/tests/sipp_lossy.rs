//! Lossy signalling: SIPp's UAC reaches the `sbc` through a proxy socket that drops every 7th
//! datagram in each direction (≈14 %); calls still complete through retransmissions on both sides
//! (SIPp's, and the sbc's transaction and dialog timers). Signalling only, on 127.0.0.1.

use sbc_tests::config::SbcConfig;
use sbc_tests::{free_media_ports, free_udp_port, sipp_in, spawn_logged, test_dir, Sbc};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CALLS: usize = 60;
const DROP_EVERY: u64 = 7;

/// A UDP proxy between a client and `upstream` that drops every `DROP_EVERY`th datagram in each
/// direction; stops when dropped.
struct LossyProxy {
    front: SocketAddr,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl LossyProxy {
    fn start(upstream: SocketAddr) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind front");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind back");
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
        }
        let addr = front.local_addr().expect("addr");
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (front2, back2) = (
            front.try_clone().expect("clone"),
            back.try_clone().expect("clone"),
        );
        let up = {
            let (client, stop, dropped) = (client.clone(), stop.clone(), dropped.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    *client.lock().expect("lock") = Some(from);
                    n += 1;
                    if n.is_multiple_of(DROP_EVERY) {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let _ = back.send_to(&buf[..len], upstream);
                }
            })
        };
        let down = {
            let (stop, dropped) = (stop.clone(), dropped.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, _)) = back2.recv_from(&mut buf) else {
                        continue;
                    };
                    n += 1;
                    if n.is_multiple_of(DROP_EVERY) {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Some(to) = *client.lock().expect("lock") {
                        let _ = front2.send_to(&buf[..len], to);
                    }
                }
            })
        };
        Self {
            front: addr,
            stop,
            dropped,
            threads: vec![up, down],
        }
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn config(customer: u16, core: u16, uas: u16) -> String {
    SbcConfig::loopback(customer, core, 46000..=46999, 47000..=47999)
        .route(
            "customer-to-core",
            SocketAddr::from(([127, 0, 0, 1], uas)),
            "",
        )
        .render()
}

#[test]
fn calls_complete_through_retransmissions_when_signalling_is_lossy() {
    let started = Instant::now();
    let dir = test_dir("sbc-lossy");
    let (customer, core, uas_port) = (free_udp_port(), free_udp_port(), free_udp_port());
    let _sbc = Sbc::start_ready(&config(customer, core, uas_port));
    let proxy = LossyProxy::start(format!("127.0.0.1:{customer}").parse().expect("addr"));

    let _uas = spawn_logged(
        sipp_in(&dir)
            .args(["-sn", "uas", "-nostdin", "-i", "127.0.0.1"])
            .args([
                "-p",
                &uas_port.to_string(),
                "-mp",
                &free_media_ports().to_string(),
            ]),
        None,
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut uac = spawn_logged(
        sipp_in(&dir)
            .arg(proxy.front.to_string())
            .args(["-sn", "uac", "-nostdin", "-i", "127.0.0.1"])
            .args([
                "-p",
                &free_udp_port().to_string(),
                "-mp",
                &free_media_ports().to_string(),
            ])
            .args(["-m", &CALLS.to_string(), "-r", "10", "-l", "30"])
            .args(["-timeout", "80s", "-timeout_error"])
            .args(["-trace_stat", "-stf", "uac_stats.csv", "-fd", "1"])
            .args(["-trace_err", "-error_file", "uac_errors.log"]),
        None,
    );
    let status = uac.0.wait().expect("wait for sipp uac");
    let csv = std::fs::read_to_string(dir.join("uac_stats.csv")).unwrap_or_default();
    let errors = std::fs::read_to_string(dir.join("uac_errors.log")).unwrap_or_default();
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = lines.next_back().unwrap_or_default().split(';').collect();
    let col = |name: &str| -> u64 {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {csv}"))
    };
    let (ok, failed, retrans) = (
        col("SuccessfulCall(C)"),
        col("FailedCall(C)"),
        col("Retransmissions(C)"),
    );
    let dropped = proxy.dropped.load(Ordering::Relaxed);
    assert!(
        status.success(),
        "sipp uac exited with {status}; errors:\n{errors}"
    );
    assert_eq!((ok, failed), (CALLS as u64, 0), "errors:\n{errors}");
    // The loss was real and was recovered by retransmissions.
    assert!(
        dropped >= (CALLS as u64),
        "only {dropped} datagrams dropped"
    );
    assert!(retrans > 0, "SIPp saw no retransmissions");
    eprintln!(
        "{CALLS} calls, {dropped} datagrams dropped, {retrans} SIPp retransmissions, {:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
