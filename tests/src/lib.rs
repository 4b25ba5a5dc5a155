//! Shared helpers for the end-to-end tests: find and start the real `sbc` binary, pick free
//! loopback ports, and stop the process when the test ends.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of the `sbc` binary built next to the test executable (`cargo build --bins` first).
pub fn sbc_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/sbc
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("sbc");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace --bins` before `cargo test` (see README)",
        bin.display()
    );
    bin
}

/// A free UDP port on 127.0.0.1 (bound and released; good enough for tests on loopback).
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// A running `sbc` process, killed when dropped.
pub struct Sbc {
    /// The child process.
    pub child: Child,
    /// Where its log went.
    pub log: PathBuf,
}

impl Sbc {
    /// Starts `sbc --config <file>` with the given config text, logging to a temp file.
    pub fn start(config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sbc-test-{}-{}",
            std::process::id(),
            free_udp_port()
        ));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let cfg = dir.join("sbc.toml");
        std::fs::write(&cfg, config).expect("write config");
        let log = dir.join("sbc.log");
        let child = Command::new(sbc_binary())
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log")))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("sbc.err")).expect("err"),
            ))
            .spawn()
            .expect("spawn sbc");
        Self { child, log }
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains(needle)) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Sbc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `msg` from a fresh loopback socket to `to` and returns the reply, if one comes within 2 s.
pub fn udp_exchange(to: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.send_to(msg, to).ok()?;
    let mut buf = vec![0u8; 65_536];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}
