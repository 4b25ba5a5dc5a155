//! Debian's `kamailio` as a peer in end-to-end tests: started on a config file, stopped with
//! SIGTERM, and waited for until it answers.

use crate::{spawn_logged, ChildGuard, TestUa};
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where Debian puts Kamailio's modules.
pub const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules";

/// A running Kamailio, stopped with SIGTERM when dropped (its main process then ends its
/// children; SIGKILL would orphan them).
pub struct Kamailio {
    child: ChildGuard,
    /// Its log (stderr).
    pub log: PathBuf,
}

impl Kamailio {
    /// Starts `kamailio -f cfg` with `dir` as working directory, logging to `log`.
    pub fn start(cfg: &Path, dir: &Path, log: &Path) -> Self {
        let child = spawn_logged(
            Command::new("kamailio")
                .arg("-f")
                .arg(cfg)
                .args(["-DD", "-E", "-w"])
                .arg(dir),
            Some(log),
        );
        Self {
            child,
            log: log.to_owned(),
        }
    }

    /// Its log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 10 s) until it answers an OPTIONS on UDP at `addr`.
    pub fn wait_options(&self, addr: SocketAddr) {
        let probe = TestUa::new();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let mut m = Message::request(Method::Options, format!("sip:{addr}"));
            m.push_header(
                HeaderName::Via,
                format!("SIP/2.0/UDP {};branch=z9hG4bKprobe;rport", probe.addr()),
            );
            m.push_header(HeaderName::MaxForwards, "70");
            m.push_header(HeaderName::From, "<sip:probe@example.com>;tag=p");
            m.push_header(HeaderName::To, "<sip:probe@example.com>");
            m.push_header(HeaderName::CallId, "kam-probe");
            m.push_header(HeaderName::CSeq, "1 OPTIONS");
            m.set_body(Bytes::new(), None);
            probe.send(addr, &m);
            if probe.recv(Duration::from_millis(200)).is_some() {
                return;
            }
            assert!(
                Instant::now() < end,
                "kamailio did not start: {}",
                self.log_text()
            );
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if matches!(self.child.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
