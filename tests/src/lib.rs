//! Shared helpers for the end-to-end tests: find and start the real `sbc` binary, pick free
//! loopback ports, and stop the process when the test ends.
#![forbid(unsafe_code)]

pub mod config;
pub mod kamailio;
pub mod message;
pub mod netns;
pub mod tcp;
pub mod tls;
pub mod websocket;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root (the tests crate's parent folder).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match here.parent() {
        Some(root) => root.to_path_buf(),
        None => here,
    }
}

/// The venv's Python (`.venv`, made by `.ci/deps`) when it can import `module`; `None` (after
/// saying so loudly) when it cannot and `CI` is unset; a panic naming `test` when `CI` is set.
pub fn venv_python_with(module: &str, test: &str) -> Option<PathBuf> {
    let python = repo_root().join(".venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let why = format!(
        "{test}: {} cannot import {module}; run `bash .ci/deps`",
        python.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("SKIPPED {why}");
    None
}

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

/// Ports the end-to-end tests reserve for the relay's RTP ranges; [`free_udp_port`] never returns
/// one, since the config check refuses a SIP port inside an RTP range.
pub const RTP_TEST_PORTS: std::ops::RangeInclusive<u16> = 40000..=49999;

/// A free UDP port on 127.0.0.1 outside [`RTP_TEST_PORTS`] (bound and released; good enough for
/// tests on loopback).
pub fn free_udp_port() -> u16 {
    for _ in 0..10_000 {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = s.local_addr().expect("addr").port();
        // SIP listeners often take the same number for TCP (and TLS): a port whose TCP side is
        // taken (another test's connection) would fail that SBC's start.
        let tcp_free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if !RTP_TEST_PORTS.contains(&port) && tcp_free && first_time_given(port) {
            return port;
        }
    }
    panic!("no free UDP port outside {RTP_TEST_PORTS:?}")
}

/// Whether `port` was never handed out by [`free_udp_port`] or [`free_tcp_port`] in this test
/// process, and records it: a port given for one test's admin listener, not bound yet, once
/// came back as the next SBC's SIP port and that SBC refused its config.
fn first_time_given(port: u16) -> bool {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if given.contains(&port) {
        return false;
    }
    given.push(port);
    true
}

/// The first of four free consecutive UDP ports on 127.0.0.1 (even, outside
/// [`RTP_TEST_PORTS`]), for SIPp's `-mp`: SIPp binds its audio RTP/RTCP there and its video
/// RTP/RTCP two above, and a port next to a free one may be another test's.
pub fn free_media_ports() -> u16 {
    for _ in 0..1_000 {
        let base = free_udp_port() & !1;
        let all_free = (base..base.saturating_add(4))
            .all(|p| !RTP_TEST_PORTS.contains(&p) && UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if base > 1024 && all_free {
            return base;
        }
    }
    panic!("no four free consecutive UDP ports")
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
        Self::spawn(config, Command::new(sbc_binary()))
    }

    /// [`Sbc::start`], then waits (up to 10 s) for its "ready" log line; panics with the log if
    /// it does not come (the config was refused or the process died).
    pub fn start_ready(config: &str) -> Self {
        let mut sbc = Self::start(config);
        assert!(
            sbc.wait_log("ready; SIGHUP", Duration::from_secs(10)),
            "sbc did not start: {}\n{}",
            std::fs::read_to_string(&sbc.log).unwrap_or_default(),
            std::fs::read_to_string(sbc.log.with_extension("err")).unwrap_or_default()
        );
        sbc
    }

    /// Starts `sbc --config <file>` inside network namespace `ns` (`ip netns exec`, which execs
    /// the binary, so killing the child kills the SBC).
    pub fn start_in_netns(topology: &netns::Topology, ns: &str, config: &str) -> Self {
        Self::spawn(config, topology.command(ns, sbc_binary()))
    }

    /// Starts `command` (which runs the sbc binary, e.g. under `setpriv`) with `--config <file>`
    /// appended, logging to a temp file.
    pub fn start_command(config: &str, command: Command) -> Self {
        Self::spawn(config, command)
    }

    fn spawn(config: &str, mut command: Command) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sbc-test-{}-{}",
            std::process::id(),
            free_udp_port()
        ));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let cfg = dir.join("sbc.toml");
        std::fs::write(&cfg, config).expect("write config");
        let log = dir.join("sbc.log");
        let child = command
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

/// A minimal SIP user agent for end-to-end tests: one loopback UDP socket for SIP and one for RTP,
/// messages built and checked by the test itself.
pub struct TestUa {
    /// The SIP socket.
    pub sip: UdpSocket,
    /// The RTP socket (RTCP is not used).
    pub rtp: UdpSocket,
}

impl Default for TestUa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestUa {
    /// A UA on two fresh 127.0.0.1 sockets.
    pub fn new() -> Self {
        Self::bind(IpAddr::from([127, 0, 0, 1]))
    }

    /// A UA on two fresh sockets bound to `ip` (inside [`netns::Topology::enter`], an address
    /// of that namespace).
    pub fn bind(ip: IpAddr) -> Self {
        Self {
            sip: UdpSocket::bind((ip, 0)).expect("bind sip"),
            rtp: UdpSocket::bind((ip, 0)).expect("bind rtp"),
        }
    }

    /// The SIP socket's address.
    pub fn addr(&self) -> SocketAddr {
        self.sip.local_addr().expect("sip addr")
    }

    /// The RTP socket's address.
    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp.local_addr().expect("rtp addr")
    }

    /// An SDP offer or answer for one PCMU stream on the RTP socket (RFC 4566).
    pub fn sdp(&self, user: &str) -> String {
        let rtp = self.rtp_addr();
        format!(
            "v=0\r\no={user} 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
            ip = rtp.ip(),
            port = rtp.port()
        )
    }

    /// Sends a message to `to`.
    pub fn send(&self, to: SocketAddr, msg: &sbc_common::sip::Message) {
        self.sip.send_to(&msg.to_bytes(), to).expect("send sip");
    }

    /// The next SIP message within `timeout` and where it came from.
    pub fn recv(&self, timeout: Duration) -> Option<(sbc_common::sip::Message, SocketAddr)> {
        self.sip.set_read_timeout(Some(timeout)).ok()?;
        let mut buf = vec![0u8; 65_536];
        let (n, from) = self.sip.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        let msg = sbc_common::sip::Message::parse(
            bytes::Bytes::from(buf),
            &sbc_common::sip::Limits::default(),
        )
        .ok()?;
        Some((msg, from))
    }

    /// The first message within `timeout` for which `want` holds, skipping others (such as
    /// retransmissions); every message seen is passed to `want`.
    pub fn recv_until(
        &self,
        timeout: Duration,
        mut want: impl FnMut(&sbc_common::sip::Message) -> bool,
    ) -> Option<(sbc_common::sip::Message, SocketAddr)> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            let (msg, from) = self.recv(left)?;
            if want(&msg) {
                return Some((msg, from));
            }
        }
    }

    /// Sends `count` 172-byte PCMU RTP packets (RFC 3550 §5.1) to `to`, 5 ms apart.
    pub fn send_rtp(&self, to: SocketAddr, ssrc: u32, count: u16) {
        self.send_rtp_from(to, ssrc, 0, count);
    }

    /// Like [`Self::send_rtp`], numbering the packets from `first_seq` on (a stream that goes on).
    pub fn send_rtp_from(&self, to: SocketAddr, ssrc: u32, first_seq: u16, count: u16) {
        for seq in (0..count).map(|i| first_seq.wrapping_add(i)) {
            let mut pkt = vec![0x80, 0x00];
            pkt.extend_from_slice(&seq.to_be_bytes());
            pkt.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            pkt.extend_from_slice(&ssrc.to_be_bytes());
            pkt.resize(12 + 160, 0xff);
            self.rtp.send_to(&pkt, to).expect("send rtp");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Counts RTP packets with `ssrc` arriving within `timeout` (stopping at `want`), and the
    /// source of the last one.
    pub fn count_rtp(
        &self,
        ssrc: u32,
        want: usize,
        timeout: Duration,
    ) -> (usize, Option<SocketAddr>) {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        let (mut n, mut source) = (0, None);
        while n < want {
            let Some(left) = end.checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() || self.rtp.set_read_timeout(Some(left)).is_err() {
                break;
            }
            let Ok((len, from)) = self.rtp.recv_from(&mut buf) else {
                break;
            };
            if len >= 12 && buf.get(8..12) == Some(&ssrc.to_be_bytes()[..]) {
                n += 1;
                source = Some(from);
            }
        }
        (n, source)
    }
}

/// A UA whose SIP port is also listened on over TCP (a next hop that takes both transports at
/// one port); another process's connection may hold the number on TCP, so it draws again.
pub fn ua_with_tcp() -> (TestUa, std::net::TcpListener) {
    (0..50)
        .find_map(|_| {
            let ua = TestUa::new();
            std::net::TcpListener::bind(ua.addr()).ok().map(|l| (ua, l))
        })
        .expect("a port free on UDP and TCP")
}

/// The RTP address of the first audio stream of an SDP body: `c=` address and `m=audio` port.
pub fn sdp_audio_addr(body: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(body).ok()?;
    let mut ip = None;
    let mut port = None;
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("c=IN IP4 ") {
            ip = ip.or_else(|| c.trim().parse::<IpAddr>().ok());
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split_whitespace().next()?.parse::<u16>().ok();
            break;
        }
    }
    Some(SocketAddr::new(ip?, port?))
}

/// Kills and reaps a child process (SIPp) when the test ends, however it ends.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sipp` from PATH, or a failure saying how to get it: SIPp tests never pass silently.
pub fn sipp_binary() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("sipp"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("`sipp` not found on PATH: install sip-tester: apt-get install -y sip-tester")
        })
}

/// The last row of SIPp's `-trace_stat` CSV as (column name, value) pairs.
pub fn last_stats(csv: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(csv).unwrap_or_else(|e| panic!("{}: {e}", csv.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().expect("stat header");
    let last = lines.next_back().expect("stat row");
    header
        .split(';')
        .map(str::to_owned)
        .zip(last.split(';').map(str::to_owned))
        .collect()
}

/// The value of column `name` in [`last_stats`]' row (panics when missing or not a number).
pub fn stat(stats: &[(String, String)], name: &str) -> u64 {
    let (_, v) = stats
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in the stat file: {stats:?}"));
    v.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{name} = {v:?}: {e}"))
}

/// A fresh scratch directory for one test's files: `<tmp>/<prefix>-<pid>-<n>`.
pub fn test_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        free_udp_port()
    ));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

/// SIPp ([`sipp_binary`]) to run in `dir`, its stdin closed.
pub fn sipp_in(dir: &std::path::Path) -> Command {
    let mut c = Command::new(sipp_binary());
    c.current_dir(dir).stdin(Stdio::null());
    c
}

/// Spawns `cmd` with stdout and stderr to the file `log` (`None`: discarded); the child is killed
/// when the guard drops.
pub fn spawn_logged(cmd: &mut Command, log: Option<&std::path::Path>) -> ChildGuard {
    match log {
        Some(path) => {
            let f = std::fs::File::create(path).expect("log file");
            cmd.stdout(Stdio::from(f.try_clone().expect("clone")))
                .stderr(Stdio::from(f));
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    ChildGuard(cmd.spawn().expect("spawn"))
}

/// A free TCP port on 127.0.0.1 outside [`RTP_TEST_PORTS`], for the admin HTTP endpoint; never
/// one this process handed out before (two calls in a row could otherwise get the same port,
/// e.g. a TLS listener and the admin endpoint of one SBC).
pub fn free_tcp_port() -> u16 {
    for _ in 0..10_000 {
        let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = s.local_addr().expect("addr").port();
        if !RTP_TEST_PORTS.contains(&port) && first_time_given(port) {
            return port;
        }
    }
    panic!("no free TCP port outside {RTP_TEST_PORTS:?}")
}

/// An HTTP response as [`http_get`] read it.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` on `addr` over HTTP/1.1 with an optional `Authorization` value, read to the end
/// (the admin endpoint closes every connection); `None` if it did not answer within 5 s.
pub fn http_get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> Option<HttpResponse> {
    http_request(addr, "GET", path, authorization, None)
}

/// `method path` on `addr` over HTTP/1.1 with an optional `Authorization` value and an optional
/// JSON body, read to the end; `None` if it did not answer within 5 s.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    json: Option<&str>,
) -> Option<HttpResponse> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let body = json
        .map(|b| {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )
        })
        .unwrap_or_else(|| "\r\n".to_owned());
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n{body}"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// The value of sample `series` (name and labels exactly as exposed, e.g.
/// `sbc_calls_total{outcome="answered"}`) in a Prometheus text exposition, if present.
pub fn metric_value(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The sample names in a Prometheus text exposition (histograms give `_bucket`, `_sum`,
/// `_count`).
pub fn metric_names(exposition: &str) -> std::collections::BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// `promtool` from PATH. `None` only outside CI: with `CI` set a missing promtool fails the
/// test, since `.ci/deps` installs it (Debian package `prometheus`).
pub fn promtool_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "`promtool` not found on PATH in CI: .ci/deps must install the Debian package `prometheus`"
        );
        eprintln!(
            "SKIPPED the promtool check: `promtool` not on PATH (apt-get install -y prometheus)"
        );
    }
    found
}

/// The `Authorization`/`Proxy-Authorization` value answering the first usable Digest challenge
/// of `rsp` in header `header` for `username`/`password` (RFC 7616 §3.4, qop=auth, nc=1).
pub fn digest_authorization(
    rsp: &sbc_common::sip::Message,
    header: &sbc_common::sip::HeaderName,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
) -> Option<String> {
    use sbc_common::digest::{ha1, ha2, response, Challenge, NonceCount, Qop};
    let ch = rsp
        .headers()
        .iter()
        .filter(|h| h.name() == header)
        .find_map(|h| Challenge::parse(h.value()).ok())?;
    let alg = ch.algorithm();
    let key = ha1(alg, username, &ch.realm, password);
    let cnonce = "e2ecnonce";
    let nc = NonceCount::new(1);
    let h2 = ha2(alg, method, uri, Some(Qop::Auth), b"");
    let digest = response(alg, &key, &ch.nonce, Some((Qop::Auth, nc, cnonce)), &h2);
    let mut v = format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{}\", algorithm={}, qop=auth, nc={}, cnonce=\"{cnonce}\"",
        ch.realm,
        ch.nonce,
        digest.as_str(),
        alg.name(),
        nc.as_str()
    );
    if let Some(o) = &ch.opaque {
        v.push_str(&format!(", opaque=\"{o}\""));
    }
    Some(v)
}

/// SIPp's own G.711 A-law capture (Debian `sip-tester`).
pub const SIPP_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// Writes the first `packets` records of SIPp's `g711a.pcap` to `to` (pcap: 24-byte global
/// header, then 16-byte record headers with the captured length at bytes 8..12), for a SIPp
/// UAC's `play_pcap_audio` (tests/sipp/uac.xml plays `audio.pcap`).
pub fn cut_pcap(to: &std::path::Path, packets: usize) {
    let data = std::fs::read(SIPP_PCAP).unwrap_or_else(|e| {
        panic!("{SIPP_PCAP}: {e} (install sip-tester: apt-get install -y sip-tester)")
    });
    assert_eq!(
        data.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "{SIPP_PCAP}: not a little-endian pcap"
    );
    let mut end = 24;
    for _ in 0..packets {
        let header = data.get(end..end + 16).expect("pcap record header");
        let len = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
        end += 16 + len;
        assert!(end <= data.len(), "{SIPP_PCAP}: truncated record");
    }
    std::fs::write(to, &data[..end]).expect("write pcap");
}
