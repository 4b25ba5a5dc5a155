//! Relays driven over rtpengine's ng protocol: our `sbc-relay` daemon and Debian's
//! `rtpengine` (userspace, `--table=-1`), each started and stopped by the bench on 127.0.0.1,
//! or any ng relay already running at an address. Streams are set up as a SIP proxy would:
//! one call per stream, an offer with the generator's address and an answer with the sink's;
//! the replies say where the generator sends and where the sink hears from. CPU time is the
//! relay process's own, summed over its threads (`/proc/PID/task/*/schedstat`).

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use sbc_common::bencode::{decode, Value};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ng port of relays the bench starts.
const NG_PORT: u16 = 22_290;

/// Which ng relay a run uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NgTarget {
    /// `sbc-relay`, next to this binary, started by the bench.
    Ours,
    /// `rtpengine` from PATH, started by the bench with `--table=-1` (no kernel module).
    Rtpengine,
    /// A relay already running at this address, with its process id for CPU accounting.
    External(SocketAddr, Option<u32>),
}

impl NgTarget {
    /// `sbc-relay`, `rtpengine`, or `ADDR[@PID]`.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s {
            "sbc-relay" | "ours" => Ok(Self::Ours),
            "rtpengine" => Ok(Self::Rtpengine),
            other => {
                let (addr, pid) = match other.split_once('@') {
                    Some((a, p)) => (
                        a,
                        Some(
                            p.parse()
                                .map_err(|_| format!("--ng: bad pid in {other:?}"))?,
                        ),
                    ),
                    None => (other, None),
                };
                let addr: SocketAddr = addr.parse().map_err(|_| {
                    format!("--ng: {other:?} is not sbc-relay, rtpengine or ADDR[@PID]")
                })?;
                if !addr.ip().is_loopback() {
                    return Err(format!("--ng: {addr} is not a loopback address"));
                }
                Ok(Self::External(addr, pid))
            }
        }
    }

    /// The name in the results.
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Ours => "ng:sbc-relay".into(),
            Self::Rtpengine => "ng:rtpengine".into(),
            Self::External(a, _) => format!("ng:{a}"),
        }
    }
}

/// A running ng relay and the calls the bench made on it.
pub(crate) struct NgRelay {
    child: Option<Child>,
    pid: Option<u32>,
    addr: SocketAddr,
    sock: UdpSocket,
    cookie: u64,
    calls: usize,
    /// The `direction` to send (our daemon has two interfaces).
    direction: Option<[&'static str; 2]>,
    _dir: Option<PathBuf>,
}

fn sdp(addr: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=bench\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

/// The RTP address an SDP points at (`c=` and the first `m=`).
fn sdp_addr(sdp: &str) -> Option<SocketAddr> {
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim();
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

/// A thread's CPU time from its schedstat line, ns.
fn task_runtime(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path.join("schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl NgRelay {
    /// Starts (or reaches) `target` with `workers` forwarding threads, its whole process pinned
    /// to `cpus` when given, and waits until it answers a ping.
    pub(crate) fn start(
        target: &NgTarget,
        workers: usize,
        cpus: Option<&[usize]>,
    ) -> Result<Self, String> {
        let ng: SocketAddr = ([127, 0, 0, 1], NG_PORT).into();
        let (child, addr, direction, dir) = match target {
            NgTarget::Ours => {
                let exe = std::env::current_exe().map_err(|e| e.to_string())?;
                let bin = exe.with_file_name("sbc-relay");
                if !bin.exists() {
                    return Err(format!(
                        "--ng sbc-relay: {} is missing; build it with `cargo build --release -p sbc-relay --bin sbc-relay`",
                        bin.display()
                    ));
                }
                let dir =
                    std::env::temp_dir().join(format!("relay-bench-ng-{}", std::process::id()));
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let cfg = dir.join("sbc-relay.toml");
                std::fs::write(
                    &cfg,
                    format!(
                        "[ng]\nlisten = \"{ng}\"\nallow = [\"127.0.0.1\"]\n\n[relay]\nworkers = {workers}\n\n\
                         [[interface]]\nname = \"customer\"\naddress = \"127.0.0.1\"\nport_min = 20000\nport_max = 29999\n\n\
                         [[interface]]\nname = \"core\"\naddress = \"127.0.0.1\"\nport_min = 30000\nport_max = 39999\n"
                    ),
                )
                .map_err(|e| e.to_string())?;
                let child = Command::new(&bin)
                    .arg("--config")
                    .arg(&cfg)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("starting {}: {e}", bin.display()))?;
                (Some(child), ng, Some(["customer", "core"]), Some(dir))
            }
            NgTarget::Rtpengine => {
                let child = Command::new("rtpengine")
                    .args([
                        "--config-file=none",
                        "--foreground",
                        "--table=-1",
                        "--interface=127.0.0.1",
                        &format!("--listen-ng={ng}"),
                        "--port-min=20000",
                        "--port-max=39999",
                        &format!("--num-threads={workers}"),
                        "--log-stderr",
                        "--log-level=3",
                        "--delete-delay=0",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| {
                        format!("starting rtpengine: {e} (apt-get install rtpengine-daemon)")
                    })?;
                (Some(child), ng, None, None)
            }
            NgTarget::External(a, _) => (None, *a, None, None),
        };
        let pid = match target {
            NgTarget::External(_, pid) => *pid,
            _ => child.as_ref().map(Child::id),
        };
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut relay = Self {
            child,
            pid,
            addr,
            sock,
            cookie: 0,
            calls: 0,
            direction,
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            match relay.request(&[(b"command", Value::Bytes(b"ping"))], 1) {
                Ok(r) if r.result.as_deref() == Some("pong") => break,
                _ if Instant::now() < end => {
                    if let Some(Ok(Some(status))) = relay.child.as_mut().map(Child::try_wait) {
                        return Err(format!("{} exited at start: {status}", target.label()));
                    }
                }
                _ => {
                    return Err(format!(
                        "{}: no pong from {addr} within 10 s",
                        target.label()
                    ))
                }
            }
        }
        if let (Some(cpus), Some(pid)) = (cpus, relay.pid) {
            relay.pin(pid, cpus)?;
        }
        Ok(relay)
    }

    /// Pins every thread of `pid` to `cpus`.
    fn pin(&self, pid: u32, cpus: &[usize]) -> Result<(), String> {
        let mut set = CpuSet::new();
        for &c in cpus {
            set.set(c).map_err(|e| format!("cpu {c}: {e}"))?;
        }
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
        for t in tasks.flatten() {
            if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                sched_setaffinity(Pid::from_raw(tid), &set)
                    .map_err(|e| format!("pinning thread {tid} of {pid}: {e}"))?;
            }
        }
        Ok(())
    }

    /// Sends one request (retransmitted with the same cookie up to `tries` times) and returns
    /// the reply dictionary as owned text pairs.
    fn request(&mut self, pairs: &[(&[u8], Value<'_>)], tries: usize) -> Result<Reply, String> {
        self.cookie += 1;
        let mut msg = format!("rb{} ", self.cookie).into_bytes();
        Value::Dict(pairs.to_vec()).encode(&mut msg);
        let mut buf = vec![0u8; 65_536];
        for _ in 0..tries.max(1) {
            self.sock
                .send_to(&msg, self.addr)
                .map_err(|e| format!("ng send: {e}"))?;
            let deadline = Instant::now() + Duration::from_millis(600);
            while Instant::now() < deadline {
                let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                    continue;
                };
                let reply = &buf[..n];
                let Some(at) = reply.iter().position(|&b| b == b' ') else {
                    continue;
                };
                if reply[..at] != msg[..at] {
                    continue; // a late reply to an earlier cookie
                }
                let v = decode(&reply[at + 1..]).map_err(|e| format!("ng reply: {e}"))?;
                return Ok(Reply::of(&v));
            }
        }
        Err("ng: no reply".into())
    }

    /// One call per generator/sink pair; returns where each generator sends (leg A) and where
    /// each sink hears from (leg B).
    pub(crate) fn add_streams(
        &mut self,
        gens: &[SocketAddr],
        sinks: &[SocketAddr],
    ) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>), String> {
        let mut a = Vec::with_capacity(gens.len());
        let mut b = Vec::with_capacity(gens.len());
        for (i, (&g, &s)) in gens.iter().zip(sinks).enumerate() {
            let call_id = format!("relay-bench-{i}");
            let dir: Vec<Value<'_>> = self
                .direction
                .iter()
                .flatten()
                .map(|d| Value::Bytes(d.as_bytes()))
                .collect();
            let offer_sdp = sdp(g);
            let mut offer: Vec<(&[u8], Value<'_>)> = vec![
                (b"command", Value::Bytes(b"offer")),
                (b"call-id", Value::Bytes(call_id.as_bytes())),
                (b"from-tag", Value::Bytes(b"gen")),
                (b"sdp", Value::Bytes(offer_sdp.as_bytes())),
            ];
            if !dir.is_empty() {
                offer.push((b"direction", Value::List(dir)));
            }
            let r = self.request(&offer, 3)?;
            let towards_sink = r
                .sdp_addr()
                .ok_or_else(|| format!("offer {i}: {}", r.text))?;
            self.calls = i + 1;
            let answer_sdp = sdp(s);
            let answer: Vec<(&[u8], Value<'_>)> = vec![
                (b"command", Value::Bytes(b"answer")),
                (b"call-id", Value::Bytes(call_id.as_bytes())),
                (b"from-tag", Value::Bytes(b"gen")),
                (b"to-tag", Value::Bytes(b"sink")),
                (b"sdp", Value::Bytes(answer_sdp.as_bytes())),
            ];
            let r = self.request(&answer, 3)?;
            let towards_gen = r
                .sdp_addr()
                .ok_or_else(|| format!("answer {i}: {}", r.text))?;
            a.push(towards_gen);
            b.push(towards_sink);
        }
        Ok((a, b))
    }

    /// The relay process's CPU time so far, ns (0 without a pid).
    pub(crate) fn cpu_ns(&self) -> u64 {
        let Some(pid) = self.pid else { return 0 };
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| tasks.flatten().map(|t| task_runtime(&t.path())).sum())
            .unwrap_or(0)
    }

    /// Deletes the bench's calls and stops a relay the bench started.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Its calls end with it.
            self.calls = 0;
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        for i in 0..self.calls {
            let call_id = format!("relay-bench-{i}");
            let _ = self.request(
                &[
                    (b"command", Value::Bytes(b"delete")),
                    (b"call-id", Value::Bytes(call_id.as_bytes())),
                    (b"from-tag", Value::Bytes(b"gen")),
                ],
                1,
            );
        }
        self.calls = 0;
    }
}

impl Drop for NgRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A reply dictionary, kept as text for the few keys the bench reads.
struct Reply {
    text: String,
    result: Option<String>,
    sdp: Option<String>,
}

impl Reply {
    fn of(v: &Value<'_>) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Self {
            text: format!(
                "result {:?}, error-reason {:?}",
                s("result"),
                s("error-reason")
            ),
            result: s("result"),
            sdp: s("sdp"),
        }
    }

    fn sdp_addr(&self) -> Option<SocketAddr> {
        sdp_addr(self.sdp.as_deref()?)
    }
}
