//! `relay-bench`: the throughput harness for sizing a deployment of the SBC's media relay.
//!
//! In one invocation it runs a naive one-packet-per-syscall forwarder (the baseline) and then the
//! relay with each selected IO backend, all over the same RTP-shaped load on 127.0.0.1, and reports
//! offered and forwarded packet rates, loss, one-way latency percentiles, the forwarder's CPU time
//! per packet, and ratios against the baseline. Run `relay-bench --help` for the options.

mod ng;

use ng::{NgRelay, NgTarget};
use nix::errno::Errno;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::socket::{sendmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::Pid;
use sbc_relay::api::{
    set_fifo_priority, InterfaceConfig, KeyChange, LegSpec, Relay, RelayConfig, RelayError,
    DEFAULT_RECV_BUFFER,
};
use sbc_relay::forward::LegSignal;
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use sbc_relay::srtp::{Context, MasterKey, Suite};
use std::fmt::Write as _;
use std::io::{ErrorKind, IoSlice};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const HELP: &str = "\
relay-bench: throughput harness for the SBC media relay (sizing a deployment).

In ONE invocation it runs, over the same load, a naive baseline forwarder and then the relay with
each selected IO backend (in-process, on 127.0.0.1 only), and prints one result per forwarder.

Each stream: generator socket --RTP--> relay leg A (interface customer, 127.0.0.1:20000-29999)
             relay leg B (interface core, 127.0.0.1:30000-39999) --RTP--> sink socket
Packets: 12-byte RTP header (v2, PT 0, per-stream SSRC, sequence numbers) + payload whose first
8 bytes are the send time (CLOCK_REALTIME ns, read just before that packet's own send).
The generator (one socket per stream) and the sink (recvmmsg over all sink sockets, a per-stream
counter and a log-linear latency histogram) run in two threads of this process, on one CPU.
Baseline: one thread, epoll_wait, then for each ready leg-A socket one recv_from and one send_to
out of its leg-B socket (one packet per syscall), over its own sockets.

LATENCY METHOD: every sink socket has SO_TIMESTAMPNS, so each datagram carries the kernel's
receive stamp (CLOCK_REALTIME, taken when the forwarder's send enters loopback delivery); latency
= that stamp - the send time in the payload. When the sink thread gets round to reading does not
matter, so at paced rates it runs in SCHED_IDLE and never delays the generator (normal priority)
between stamping a packet and sending it. The generator sleeps until the next packet is due and
stamps each packet itself; `generator_late_us` shows how far behind schedule it ran. What remains
in the tail is the forwarder and the machine (on the dev VM, its stalls put 0.6-10 % of the
packets of any forwarder, the baseline included, over 1 ms). An NTP step spoils that run.

USAGE:
    relay-bench [OPTIONS]

OPTIONS:
    --streams N          streams (one session each, 4 relay ports per stream) [default: 1000, 1..=4000]
    --duration SECS      measured seconds, after the warm-up [default: 10, 0.2..=600]
    --warmup SECS        warm-up seconds, not counted (latching happens here) [default: 1, 0..=60]
    --rate R             `max` (as fast as the generator can send: one thread round-robins the
                         streams with sendmmsg batches of 16 stamped once per batch, in SCHED_IDLE
                         so the sink (epoll, normal priority) on the same CPU always drains first;
                         latency there is the standing queue of an overloaded forwarder), or
                         packets per second per stream, paced evenly over all streams
                         [default: 50, i.e. one packet per 20 ms]
    --pps-per-stream N   same as --rate N
    --payload BYTES      RTP payload bytes after the 12-byte header [default: 160, 8..=1400]
    --uring-buffers N    io_uring provided-buffer ring size, a power of two [default: the relay's]
    --uring-batch N      most completions an io_uring wait gathers [default: the relay's]
    --uring-min-wait-us N  io_uring batching window: a wait asks for about as many datagrams as
                         arrived per window lately [default: the relay's]
    --uring-max-hold-us N  longest an io_uring wait holds a datagram back while its batch fills
                         (then it returns with what came; Linux 6.12+, else the 5 ms backstop
                         bounds it; 0: backstop only) [default: the relay's]
    --recv-buffer BYTES  SO_RCVBUF of the relay's and the baseline's sockets (0: system default)
                         [default: 262144]
    --sink S             paced rates only: `poll` (the sink polls every socket in SCHED_IDLE, so
                         no receiver is ever asleep and the forwarder's sends wake nobody, as with
                         a real network peer) or `epoll` (the sink sleeps in epoll_wait in
                         SCHED_IDLE; each send that finds it asleep pays a cross-CPU wake-up on
                         the forwarder's CPU time, a loopback artefact) [default: poll]
    --rt-priority N      run the forwarder threads (relay workers through
                         RelayConfig::worker_rt_priority, and the baseline thread) and, at paced
                         rates, the generator under SCHED_FIFO at N (1..=99; 0: the normal
                         scheduler), as `[relay] realtime_priority` does in the SBC; needs
                         CAP_SYS_NICE. On a shared VM it keeps daemons from delaying media by
                         a time slice (2-3 ms on the dev VM), which is most of the tail
                         [default: 0]
    --workers N          relay worker threads [default: 1, 1..=64]
    --backend B          io_uring | mmsg | all [default: all]; the baseline always runs
    --pin / --no-pin     pin the forwarder (relay workers through RelayConfig::worker_cpus, or the
                         baseline thread) to the first allowed CPU (the first N with --workers N)
                         and generator+sink to the next one [default: on when at least workers+1
                         CPUs are allowed]
    --srtp               after each relay backend's plain run, run it again with SRTP
                         terminated on leg A (SDES AES_CM_128_HMAC_SHA1_80): the generator
                         encrypts each packet after stamping it, the relay authenticates and
                         decrypts it and forwards plain RTP; the table then says how many ns of
                         relay CPU per packet SRTP adds over the plain run of the same backend
    --ng LIST            after the in-process runs, run relays driven over rtpengine's ng protocol
                         (comma-separated, in order), each set up as a SIP proxy would (one call
                         per stream: offer with the generator's address, answer with the sink's):
                         `sbc-relay`: this repository's daemon (next to relay-bench; build it with
                         `cargo build --release -p sbc-relay --bin sbc-relay`), `rtpengine`:
                         Debian's rtpengine-daemon in userspace (`rtpengine --config-file=none
                         --foreground --table=-1 --interface=127.0.0.1 --num-threads=WORKERS
                         --delete-delay=0`); both started by the bench on ng 127.0.0.1:22290 with
                         media ports 20000-39999 and stopped (SIGTERM) after their run; or
                         ADDR[@PID]: an ng relay already running on loopback (CPU figures only
                         with its PID). CPU per packet: the relay process's threads' CPU time
                         (/proc/PID/task/*/schedstat) / packets the sinks received; --pin pins
                         the whole process to the forwarder CPU
    --no-inprocess       skip the in-process relay runs (baseline and --ng relays only)
    --overload SECS      overload-and-recover: each forwarder first gets SECS of traffic as fast as
                         the generator can send (as --rate max, several times what it forwards at
                         the paced rate), then the warm-up and the measured window at --rate;
                         the summary says, per forwarder, how many streams forward again in the
                         window (streams_flowing) and the overload's offered rate
    --json               one JSON object per line per forwarder instead of the table
    -h, --help           this text

FIGURES (per forwarder; the window is [warm-up end, warm-up end + duration)):
    offered_pps               packets the generator sent with a send time in the window / duration
    forwarded_pps             of those, packets that reached the sinks / duration
    loss_pct                  100 * (1 - delivered / offered) (at --rate max this is overload loss)
    latency_us p50/p90/p99/p999  kernel receive stamp at the sink - send time, over delivered
                              packets (see LATENCY METHOD; histogram buckets of 1/16 octave:
                              values are exact to about 6 %); over_1ms_pct: share above 1 ms
    relay_cpu_ns_per_packet   forwarder CPU time in the window / packets it forwarded in the window
                              (relay: deltas of metrics().cpu_ns and forwarded_packets, i.e. the
                              worker threads' CLOCK_THREAD_CPUTIME_ID; baseline: its own thread's)
    pps_ratio                 forwarded_pps / baseline forwarded_pps            (> 1: faster)
    cpu_ratio                 baseline cpu_ns_per_packet / this cpu_ns_per_packet (> 1: cheaper)
    baseline_ratio            pps_ratio with --rate max, cpu_ratio with a paced rate (the figure
                              that matters at that load; > 1 is better; 1.0 for the baseline)
    foreign_cpu_pct           share of all CPUs used by OTHER processes and kernel threads during
                              the window (/proc/stat user+nice+system minus this process): above a
                              few % something else competed with the run; do not trust its tails
    JSON also has: rate, payload, workers, duration_s, sent, forwarder_received, forwarded,
    delivered, streams_flowing (streams with at least one packet delivered in the window),
    stream_delivered_min/max (fairness: fewest and most packets delivered for one stream),
    syscalls_per_packet, unstamped (packets timed in user space for want of a kernel stamp),
    generator_late_us p50/p99 (paced), sink, forwarder_pinned, rt_priority (null: normal
    scheduler), connected_twins (relay: leg sockets sending through a connected twin at the
    window's end; about one per stream here, leg B's RTP), pps_ratio, cpu_ratio.

EXAMPLES:
    relay-bench                                        # 1000 streams x 50 pps, baseline + both backends
    relay-bench --rate max --streams 1000 --duration 10
    relay-bench --backend mmsg --streams 200 --duration 3 --json
    relay-bench --rate 100 --payload 320 --workers 2 --no-pin
    relay-bench --ng sbc-relay,rtpengine               # + our daemon and rtpengine over ng
    cargo run --release -p sbc-benches --bin relay-bench -- --streams 1000 --rate 50 --duration 10

Exit status: 0 on success, 2 on bad options, 1 on setup errors (ports, sockets, io_uring missing).
";

/// Largest accepted `--streams` (4 relay ports per stream in 5000-pair ranges, plus slack).
const MAX_STREAMS: usize = 4000;
/// Packets per sendmmsg batch at `--rate max`, and per recvmmsg call in the sink.
const BATCH: usize = 16;
/// Receive batch of the sink.
const RX_BATCH: usize = 32;
/// Receive buffer size.
const RX_BUF: usize = 2048;
/// How long the sink keeps receiving after the generator stopped.
const DRAIN: Duration = Duration::from_millis(300);

/// The load's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rate {
    /// As fast as the generator can send.
    Max,
    /// Packets per second per stream.
    PerStream(u32),
}

/// How the sink waits for datagrams at paced rates (at `--rate max` it always uses epoll).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SinkMode {
    /// `SCHED_IDLE`, polling every socket: no receiver is ever woken by the forwarder's sends.
    Poll,
    /// `SCHED_IDLE`, sleeping in epoll: each send that finds the sink asleep wakes it, and the
    /// forwarder pays for that wake-up (a loopback artefact a real network peer does not cause).
    Epoll,
}

/// Command-line options.
#[derive(Clone, Debug)]
struct Options {
    streams: usize,
    duration: Duration,
    warmup: Duration,
    rate: Rate,
    payload: usize,
    workers: usize,
    pin: Option<bool>,
    backends: Vec<BackendKind>,
    json: bool,
    sink: SinkMode,
    recv_buffer: usize,
    uring: UringConfig,
    /// `SCHED_FIFO` priority of the forwarder threads and of the paced generator.
    rt_priority: Option<u8>,
    /// Whether each relay backend also runs with SRTP terminated on leg A.
    srtp: bool,
    /// ng relays to run after the in-process ones.
    ng: Vec<NgTarget>,
    /// Skip the in-process relay runs (baseline and ng relays only).
    no_inprocess: bool,
    /// Seconds of max-rate overload before the warm-up (`--overload`).
    overload: Duration,
}

fn parse_secs(name: &str, v: &str, min: f64, max: f64) -> Result<Duration, String> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("{name}: not a number of seconds: {v:?}"))?;
    if !(min..=max).contains(&s) {
        return Err(format!("{name}: {s} is outside {min}..={max} seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn parse_int(name: &str, v: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = v
        .parse()
        .map_err(|_| format!("{name}: not a whole number: {v:?}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("{name}: {n} is outside {min}..={max}"));
    }
    Ok(n)
}

/// Parses the options; `Ok(None)` means `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        streams: 1000,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        rate: Rate::PerStream(50),
        payload: 160,
        workers: 1,
        pin: None,
        backends: vec![BackendKind::IoUring, BackendKind::Mmsg],
        json: false,
        sink: SinkMode::Poll,
        recv_buffer: DEFAULT_RECV_BUFFER,
        uring: UringConfig::default(),
        rt_priority: None,
        srtp: false,
        ng: Vec::new(),
        no_inprocess: false,
        overload: Duration::ZERO,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let flag = |inline: &Option<String>| match inline {
            Some(_) => Err(format!("{name} takes no value")),
            None => Ok(()),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--srtp" => {
                flag(&inline)?;
                o.srtp = true;
                continue;
            }
            "--json" => {
                flag(&inline)?;
                o.json = true;
                continue;
            }
            "--no-inprocess" => {
                flag(&inline)?;
                o.no_inprocess = true;
                continue;
            }
            "--pin" => {
                flag(&inline)?;
                o.pin = Some(true);
                continue;
            }
            "--no-pin" => {
                flag(&inline)?;
                o.pin = Some(false);
                continue;
            }
            _ => {}
        }
        let Some(value) = inline.or_else(|| it.next()) else {
            return Err(format!("{name} needs a value (see --help)"));
        };
        let v = value.as_str();
        match name.as_str() {
            "--streams" => o.streams = parse_int(&name, v, 1, MAX_STREAMS as u64)? as usize,
            "--duration" => o.duration = parse_secs(&name, v, 0.2, 600.0)?,
            "--warmup" => o.warmup = parse_secs(&name, v, 0.0, 60.0)?,
            "--overload" => o.overload = parse_secs(&name, v, 0.0, 60.0)?,
            "--rate" | "--pps-per-stream" => {
                o.rate = if v == "max" && name == "--rate" {
                    Rate::Max
                } else {
                    Rate::PerStream(parse_int(&name, v, 1, 10_000)? as u32)
                }
            }
            "--payload" => o.payload = parse_int(&name, v, 8, 1400)? as usize,
            "--uring-buffers" => {
                let n = parse_int(&name, v, 64, 32_768)?;
                if !n.is_power_of_two() {
                    return Err(format!("{name}: {n} is not a power of two"));
                }
                o.uring.buffers = n as u16;
            }
            "--uring-batch" => o.uring.wait_batch = parse_int(&name, v, 1, 4096)? as u32,
            "--uring-max-hold-us" => {
                o.uring.max_hold = Duration::from_micros(parse_int(&name, v, 0, 100_000)?);
            }
            "--uring-min-wait-us" => {
                o.uring.min_wait = Duration::from_micros(parse_int(&name, v, 0, 100_000)?);
            }
            "--sink" => {
                o.sink = match v {
                    "poll" => SinkMode::Poll,
                    "epoll" => SinkMode::Epoll,
                    _ => return Err(format!("--sink: {v:?} is not poll or epoll")),
                }
            }
            "--recv-buffer" => o.recv_buffer = parse_int(&name, v, 0, 64 << 20)? as usize,
            "--rt-priority" => {
                o.rt_priority = match parse_int(&name, v, 0, 99)? {
                    0 => None,
                    p => Some(p as u8),
                }
            }
            "--workers" => o.workers = parse_int(&name, v, 1, 64)? as usize,
            "--ng" => {
                for t in v.split(',').filter(|t| !t.is_empty()) {
                    o.ng.push(NgTarget::parse(t)?);
                }
            }
            "--backend" => {
                o.backends = match v {
                    "io_uring" | "uring" => vec![BackendKind::IoUring],
                    "mmsg" => vec![BackendKind::Mmsg],
                    "all" => vec![BackendKind::IoUring, BackendKind::Mmsg],
                    _ => return Err(format!("--backend: {v:?} is not io_uring, mmsg or all")),
                }
            }
            _ => return Err(format!("unknown option {name:?} (see --help)")),
        }
    }
    if !o.overload.is_zero() && o.rate == Rate::Max {
        return Err("--overload: needs a paced --rate for the recovery window".into());
    }
    if let Rate::PerStream(p) = o.rate {
        let total = o.streams as u64 * u64::from(p);
        if total > 2_000_000 {
            return Err(format!(
                "--rate: {} streams x {p} pps = {total} pps; above 2000000, use --rate max",
                o.streams
            ));
        }
    }
    Ok(Some(o))
}

// ---------------------------------------------------------------------------------------------
// Clock, CPU time, histogram

/// The clock generator and sink share: `CLOCK_REALTIME` nanoseconds since a common start.
///
/// Realtime, not monotonic, because it is the clock the kernel stamps received datagrams with
/// (`SO_TIMESTAMPNS`); a clock step (NTP) during a run would spoil that run's latencies.
#[derive(Clone, Copy, Debug)]
struct Clock {
    /// When the run started, for the main thread's sleeps.
    t0: Instant,
    /// The same moment on `CLOCK_REALTIME`, ns since the epoch.
    t0_real_ns: u64,
}

impl Clock {
    fn start() -> Self {
        Self {
            t0: Instant::now(),
            t0_real_ns: realtime_ns(),
        }
    }

    /// Now, ns since the start.
    fn now_ns(self) -> u64 {
        realtime_ns().saturating_sub(self.t0_real_ns)
    }

    /// A kernel receive stamp (`CLOCK_REALTIME`, ns since the epoch) as ns since the start.
    fn since_start(self, real_ns: u64) -> u64 {
        real_ns.saturating_sub(self.t0_real_ns)
    }
}

/// `CLOCK_REALTIME` now, ns since the epoch (vDSO: no system call).
fn realtime_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_REALTIME).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0)
    })
}

/// CPU time of the calling thread, ns (CLOCK_THREAD_CPUTIME_ID, as the relay's workers report).
fn thread_cpu_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0)
    })
}

/// Sub-buckets per power of two (4 bits: about 6 % resolution).
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// A fixed log-linear histogram of nanosecond values; recording never allocates.
struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= SUB_BITS
        let mant = (v >> (e - SUB_BITS)) - SUB; // 0..SUB
        ((e - SUB_BITS + 1) as usize) * SUB as usize + mant as usize
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> f64 {
        let i = i as u64;
        if i < SUB {
            return i as f64;
        }
        let e = i / SUB - 1 + u64::from(SUB_BITS);
        let mant = i % SUB;
        let lo = (SUB + mant) << (e - u64::from(SUB_BITS));
        let width = 1u64 << (e - u64::from(SUB_BITS));
        lo as f64 + (width as f64 - 1.0) / 2.0
    }

    fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(Self::index(v)) {
            *c += 1;
            self.total += 1;
        }
    }

    /// Percentage of recorded values above `ns` (to the bucket resolution); `None` when empty.
    fn percent_above(&self, ns: u64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let above: u64 = self.counts.iter().skip(Self::index(ns) + 1).sum();
        Some(100.0 * above as f64 / self.total as f64)
    }

    /// The value at quantile `q` (0..=1), ns; `None` when empty.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value(i));
            }
        }
        None
    }
}

/// Clock ticks per second of /proc/stat and /proc/self/stat (USER_HZ, 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// CPU time of the whole machine and of this process, to tell how much else ran during a run.
#[derive(Clone, Copy, Debug)]
struct CpuTicks {
    /// user + nice + system of all CPUs (/proc/stat), ticks; irq and softirq left out, as the
    /// packet path's softirq time may be accounted there rather than to this process.
    busy: u64,
    /// utime + stime of this process (/proc/self/stat), ticks.
    ours: u64,
    /// CPUs in /proc/stat.
    cpus: usize,
}

impl CpuTicks {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let all = stat.lines().next()?;
        let f: Vec<u64> = all
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let busy = f.first()? + f.get(1)? + f.get(2)?;
        let cpus = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        let me = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
        let rest = me.get(me.rfind(')')? + 2..)?;
        let v: Vec<&str> = rest.split_whitespace().collect();
        let ours = v.get(11)?.parse::<u64>().ok()? + v.get(12)?.parse::<u64>().ok()?;
        Some(Self {
            busy,
            ours,
            cpus: cpus.max(1),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// CPU pinning

/// Which CPUs the forwarder and the load threads run on.
#[derive(Clone, Debug)]
struct PinPlan {
    forwarder: Vec<usize>,
    load: usize,
}

fn cpuset(cpus: &[usize]) -> Result<CpuSet, String> {
    let mut s = CpuSet::new();
    for &c in cpus {
        s.set(c).map_err(|e| format!("cpu {c}: {e}"))?;
    }
    Ok(s)
}

fn allowed_cpus() -> Result<Vec<usize>, String> {
    let set = sched_getaffinity(Pid::from_raw(0)).map_err(|e| format!("sched_getaffinity: {e}"))?;
    Ok((0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect())
}

fn plan_pinning(opts: &Options) -> Result<Option<PinPlan>, String> {
    let cpus = allowed_cpus()?;
    let enough = cpus.len() > opts.workers;
    match opts.pin {
        Some(false) => Ok(None),
        Some(true) if !enough => Err(format!(
            "--pin needs {} CPUs (workers + 1 for generator and sink); {} allowed",
            opts.workers + 1,
            cpus.len()
        )),
        None if !enough => Ok(None),
        _ => Ok(Some(PinPlan {
            forwarder: cpus.iter().copied().take(opts.workers).collect(),
            load: cpus.get(opts.workers).copied().unwrap_or(0),
        })),
    }
}

/// Pins the calling thread to `cpus`.
fn pin_current(cpus: &[usize]) -> Result<(), String> {
    sched_setaffinity(Pid::from_raw(0), &cpuset(cpus)?)
        .map_err(|e| format!("sched_setaffinity({cpus:?}): {e}"))
}

fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The allowed CPUs of this process's threads named `<prefix><digits>`, from /proc (for the report).
fn threads_affinity(prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let p = entry.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        // Worker threads are named `relay-<n>`; this process itself may be `relay-bench`.
        let Some(rest) = comm.trim_end().strip_prefix(prefix) else {
            continue;
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let status = std::fs::read_to_string(p.join("status")).unwrap_or_default();
        if let Some(l) = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        {
            out.push(l.trim().to_owned());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Sockets

fn bind_local(rcvbuf: usize, sndbuf: usize) -> Result<UdpSocket, String> {
    let s =
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    s.set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max (0: keep the default).
    if rcvbuf > 0 {
        let _ = setsockopt(&s, sockopt::RcvBuf, &rcvbuf);
    }
    let _ = setsockopt(&s, sockopt::SndBuf, &sndbuf);
    Ok(s)
}

fn bind_many(n: usize, rcvbuf: usize, sndbuf: usize) -> Result<Vec<UdpSocket>, String> {
    (0..n).map(|_| bind_local(rcvbuf, sndbuf)).collect()
}

fn addrs(socks: &[UdpSocket]) -> Result<Vec<SocketAddr>, String> {
    socks
        .iter()
        .map(|s| s.local_addr().map_err(|e| format!("local_addr: {e}")))
        .collect()
}

/// Raises the open-files soft limit to the hard limit and checks `need` descriptors fit.
fn ensure_fds(need: u64) -> Result<(), String> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit(NOFILE): {e}"))?;
    if soft < need && hard > soft {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let (soft, _) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit(NOFILE): {e}"))?;
    if soft < need {
        return Err(format!(
            "need about {need} open files for these streams, the limit is {soft} (raise `ulimit -n` or lower --streams)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Forwarders

/// What a forwarder has done so far.
#[derive(Clone, Copy, Debug, Default)]
struct FwdSnap {
    cpu_ns: u64,
    received: u64,
    forwarded: u64,
    syscalls: u64,
    /// Relay: connected twins open.
    twins: Option<u64>,
}

/// Counters the baseline thread publishes after each loop turn.
#[derive(Debug, Default)]
struct BaselineStats {
    cpu_ns: AtomicU64,
    received: AtomicU64,
    forwarded: AtomicU64,
    syscalls: AtomicU64,
}

/// A running forwarder.
enum Running {
    Relay(Relay),
    Ng(NgRelay),
    Baseline {
        stop: Arc<AtomicBool>,
        stats: Arc<BaselineStats>,
        thread: Option<JoinHandle<Result<(), String>>>,
    },
}

impl Running {
    fn snapshot(&mut self) -> FwdSnap {
        match self {
            Self::Relay(r) => {
                while r.poll_event().is_some() {}
                let m = r.metrics();
                FwdSnap {
                    cpu_ns: m.cpu_ns,
                    received: m.received,
                    forwarded: m.forwarded_packets,
                    syscalls: m.syscalls,
                    twins: Some(m.twins),
                }
            }
            Self::Ng(n) => FwdSnap {
                cpu_ns: n.cpu_ns(),
                received: 0,
                forwarded: 0,
                syscalls: 0,
                twins: None,
            },
            Self::Baseline { stats, .. } => FwdSnap {
                cpu_ns: stats.cpu_ns.load(Ordering::Relaxed),
                received: stats.received.load(Ordering::Relaxed),
                forwarded: stats.forwarded.load(Ordering::Relaxed),
                syscalls: stats.syscalls.load(Ordering::Relaxed),
                twins: None,
            },
        }
    }

    /// Keeps the relay's event rings drained while waiting.
    fn idle(&mut self) {
        if let Self::Relay(r) = self {
            while r.poll_event().is_some() {}
        }
    }

    /// Stops the forwarder, closing its sockets; reports a baseline thread failure.
    fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        match self {
            Self::Relay(_) => Ok(()), // dropping the relay stops and joins its workers
            Self::Ng(n) => {
                n.stop();
                Ok(())
            }
            Self::Baseline { stop, thread, .. } => {
                stop.store(true, Ordering::Relaxed);
                match thread.take().map(JoinHandle::join) {
                    Some(Ok(r)) => r,
                    Some(Err(_)) => Err("baseline thread panicked".to_owned()),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// The relay's port ranges (customer side, core side) on 127.0.0.1.
const RELAY_PORTS: [std::ops::RangeInclusive<u16>; 2] = [20_000..=29_999, 30_000..=39_999];

/// Waits, at most `limit`, until every port of [`RELAY_PORTS`] can be bound again; returns how
/// many still cannot. A relay phase that just ended can hold some of its sockets for a moment
/// after its workers return (an io_uring ring's teardown finishes in the kernel, asynchronously),
/// and every phase draws its ports in the same seeded order, so the next phase would meet them.
fn wait_relay_ports_free(limit: Duration) -> usize {
    let end = Instant::now() + limit;
    let mut busy: Vec<u16> = RELAY_PORTS.iter().flat_map(|r| r.clone()).collect();
    loop {
        busy.retain(|&p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_err());
        if busy.is_empty() || Instant::now() >= end {
            return busy.len();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn relay_config(opts: &Options, kind: BackendKind, pin: Option<&PinPlan>) -> RelayConfig {
    let iface = |name: &str, ports: &std::ops::RangeInclusive<u16>| InterfaceConfig {
        name: name.to_owned(),
        address: Ipv4Addr::LOCALHOST.into(),
        port_min: *ports.start(),
        port_max: *ports.end(),
    };
    RelayConfig {
        interfaces: vec![
            iface("customer", &RELAY_PORTS[0]),
            iface("core", &RELAY_PORTS[1]),
        ],
        workers: opts.workers,
        worker_cpus: pin.map(|p| p.forwarder.clone()).unwrap_or_default(),
        worker_rt_priority: opts.rt_priority,
        recv_buffer: opts.recv_buffer,
        backend: kind,
        uring: opts.uring,
        latch: LatchConfig::default(),
        inactivity_timeout: Duration::ZERO,
        stats_interval: Duration::ZERO,
        seed: 0x5eed_be9c,
    }
}

fn backend_label(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::IoUring => "io_uring",
        BackendKind::Mmsg => "mmsg",
        BackendKind::Auto => "auto",
    }
}

/// Each stream's forwarder addresses: leg A (where the generator sends) and leg B (where the
/// sink hears from).
struct Legs {
    a: Vec<SocketAddr>,
    b: Vec<SocketAddr>,
}

/// Starts the relay (workers pinned through `RelayConfig::worker_cpus` when `pin` is given), adds one session with one
/// stream per generator/sink pair, and waits until every worker owns its streams. Returns the relay
/// and each stream's leg addresses.
fn start_relay(
    opts: &Options,
    kind: BackendKind,
    gens: &[SocketAddr],
    sinks: &[SocketAddr],
    pin: Option<&PinPlan>,
    srtp: bool,
) -> Result<(Relay, Legs), String> {
    let label = backend_label(kind);
    let busy = wait_relay_ports_free(Duration::from_secs(3));
    if busy > 0 {
        eprintln!("relay-bench: {busy} relay ports still in use after 3 s; starting anyway");
    }
    let cfg = relay_config(opts, kind, pin);
    let mut relay =
        Relay::start(cfg).map_err(|e| format!("starting the relay with backend {label}: {e}"))?;
    let mut leg_a = Vec::with_capacity(gens.len());
    let mut leg_b = Vec::with_capacity(gens.len());
    for (&g, &s) in gens.iter().zip(sinks) {
        let leg = |interface: &str, remote: SocketAddr| LegSpec {
            interface: interface.to_owned(),
            rtcp_mux: false,
            signal: LegSignal {
                remote_rtp: Some(remote),
                ..LegSignal::default()
            },
        };
        let session = relay.create_session();
        let deadline = Instant::now() + Duration::from_secs(5);
        let (stream, local) = loop {
            match relay.add_stream(session, [leg("customer", g), leg("core", s)]) {
                Ok(added) => break added,
                Err(RelayError::Busy) if Instant::now() < deadline => {
                    while relay.poll_event().is_some() {}
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(format!("{label}: adding stream {}: {e}", leg_a.len())),
            }
        };
        if srtp {
            loop {
                // Leg A's peer (the generator) sends SRTP; the relay sends it nothing.
                let key = KeyChange::Key(SRTP_SUITE, MasterKey::from_bytes(&SRTP_KEY));
                match relay.set_crypto(session, stream, 0, key, KeyChange::Plain) {
                    Ok(()) => break,
                    Err(RelayError::Busy) if Instant::now() < deadline => {
                        while relay.poll_event().is_some() {}
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(format!("{label}: keying stream {}: {e}", leg_a.len())),
                }
            }
        }
        leg_a.push(local[0].rtp);
        leg_b.push(local[1].rtp);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while relay.poll_event().is_some() {}
        let m = relay.metrics();
        if m.streams >= gens.len() as u64 {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{label}: workers own {} of {} streams after 10 s",
                m.streams,
                gens.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((relay, Legs { a: leg_a, b: leg_b }))
}

/// Starts the naive forwarder over its own sockets; returns it and each stream's leg addresses.
fn start_baseline(
    sinks: &[SocketAddr],
    pin: Option<&PinPlan>,
    recv_buffer: usize,
    rt_priority: Option<u8>,
) -> Result<(Running, Legs), String> {
    // Same receive buffer as the relay's sockets, so both queue alike under overload.
    let a = bind_many(sinks.len(), recv_buffer, 256 * 1024)?;
    let b = bind_many(sinks.len(), recv_buffer, 256 * 1024)?;
    let legs = Legs {
        a: addrs(&a)?,
        b: addrs(&b)?,
    };
    let epoll =
        Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll_create: {e}"))?;
    for (i, s) in a.iter().enumerate() {
        epoll
            .add(s, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
            .map_err(|e| format!("epoll_ctl: {e}"))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(BaselineStats::default());
    let cpus = pin.map(|p| p.forwarder.iter().copied().take(1).collect::<Vec<_>>());
    let sinks = sinks.to_vec();
    let (stop2, stats2) = (stop.clone(), stats.clone());
    let thread = std::thread::Builder::new()
        .name("baseline-fwd".to_owned())
        .spawn(move || {
            if let Some(c) = cpus {
                pin_current(&c)?;
            }
            if let Some(p) = rt_priority {
                set_fifo_priority(p).map_err(|e| format!("baseline: SCHED_FIFO {p}: {e}"))?;
            }
            baseline_loop(&epoll, &a, &b, &sinks, &stop2, &stats2)
        })
        .map_err(|e| format!("spawning the baseline thread: {e}"))?;
    Ok((
        Running::Baseline {
            stop,
            stats,
            thread: Some(thread),
        },
        legs,
    ))
}

/// The baseline: epoll_wait, then per ready leg-A socket one recv_from and one send_to.
fn baseline_loop(
    epoll: &Epoll,
    a: &[UdpSocket],
    b: &[UdpSocket],
    sinks: &[SocketAddr],
    stop: &AtomicBool,
    stats: &BaselineStats,
) -> Result<(), String> {
    let mut events = [EpollEvent::empty(); 256];
    let mut buf = [0u8; RX_BUF];
    let (mut received, mut forwarded, mut syscalls) = (0u64, 0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        syscalls += 1;
        let n = match epoll.wait(&mut events, 50u16) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(format!("baseline epoll_wait: {e}")),
        };
        for ev in events.iter().take(n) {
            let i = ev.data() as usize;
            let (Some(rx), Some(tx), Some(&to)) = (a.get(i), b.get(i), sinks.get(i)) else {
                continue;
            };
            syscalls += 1;
            match rx.recv_from(&mut buf) {
                Ok((len, _)) => {
                    received += 1;
                    syscalls += 1;
                    if tx.send_to(buf.get(..len).unwrap_or_default(), to).is_ok() {
                        forwarded += 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("baseline recv_from: {e}")),
            }
        }
        stats.received.store(received, Ordering::Relaxed);
        stats.forwarded.store(forwarded, Ordering::Relaxed);
        stats.syscalls.store(syscalls, Ordering::Relaxed);
        stats.cpu_ns.store(thread_cpu_ns(), Ordering::Relaxed);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Load: generator and sink

/// What the generator and sink need to know about the load.
#[derive(Clone, Copy, Debug)]
struct Load {
    clock: Clock,
    rate: Rate,
    payload: usize,
    sink: SinkMode,
    window_start: u64,
    window_end: u64,
    /// Whether the generator sends SRTP (keyed by [`SRTP_KEY`]).
    srtp: bool,
    /// Until when (ns) the generator sends flat out before pacing (`--overload`; 0: never).
    overload_end: u64,
}

/// The SRTP suite and master key of `--srtp` runs (the generator's and the relay's leg A).
const SRTP_SUITE: Suite = Suite::AesCm128HmacSha1_80;
const SRTP_KEY: [u8; 30] = [0x5a; 30];

/// One SRTP sender per stream (a context follows a few SSRCs; each stream has its own), or
/// none for a plain run.
fn srtp_senders(n: usize, srtp: bool) -> Vec<Context> {
    let key = MasterKey::from_bytes(&SRTP_KEY);
    if srtp {
        (0..n).map(|_| Context::new(SRTP_SUITE, &key)).collect()
    } else {
        Vec::new()
    }
}

/// Protects the packet `buf[..len]` of stream `i` when the run is SRTP; the length to send.
fn seal(senders: &mut [Context], i: usize, buf: &mut [u8], len: usize) -> usize {
    match senders.get_mut(i) {
        Some(ctx) => ctx.protect_rtp(buf, len).unwrap_or(len),
        None => len,
    }
}

/// Writes an RTP packet for stream `i` into `buf` (header + payload; send time in payload[0..8]).
fn fill_packet(buf: &mut [u8], i: usize, seq: u16, send_ns: u64) {
    if let Some(h) = buf.get_mut(..20) {
        h[0] = 0x80; // V=2, no padding, no extension, no CSRC
        h[1] = 0; // M=0, PT=0 (PCMU)
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&u32::from(seq).wrapping_mul(160).to_be_bytes());
        h[8..12].copy_from_slice(&(0x5eed_0000u32.wrapping_add(i as u32)).to_be_bytes());
        h[12..20].copy_from_slice(&send_ns.to_le_bytes());
    }
}

/// Generator totals.
struct GenResult {
    /// Paced: how late each window packet went out against its schedule, ns.
    late: Histogram,
    /// Packets accepted by the kernel with a send time in the window.
    in_window: u64,
    /// Sends refused (buffer full and the like).
    refused: u64,
    /// `--overload`: packets sent in the overload phase.
    overload_sent: u64,
    /// Each stream's next RTP sequence number when the run ended.
    next_seq: Vec<u16>,
}

impl GenResult {
    fn new() -> Self {
        Self {
            late: Histogram::new(),
            in_window: 0,
            refused: 0,
            overload_sent: 0,
            next_seq: Vec::new(),
        }
    }
}

fn generator(socks: &[UdpSocket], load: Load) -> GenResult {
    match load.rate {
        Rate::Max => {
            // Flat out, the generator would take CPU from the sink it shares a core with, and the
            // sink's drops would be charged to the forwarder: let it have only what the sink leaves.
            set_idle_priority();
            generate_max(socks, load)
        }
        // Paced: normal priority, and the sink is in SCHED_IDLE, so nothing on this CPU runs
        // between a packet's time stamp and its send.
        Rate::PerStream(pps) if load.overload_end > 0 => {
            // Flat out first (in SCHED_IDLE, as at --rate max, and staying there), then paced.
            set_idle_priority();
            let flood = Load {
                window_start: 0,
                window_end: load.overload_end,
                ..load
            };
            let over = generate_max(socks, flood);
            // Each stream's sequence numbers go on from the flood's, as a real sender's would.
            let mut res = generate_paced(socks, load, pps, &over.next_seq);
            res.overload_sent = over.in_window;
            res
        }
        Rate::PerStream(pps) => generate_paced(socks, load, pps, &[]),
    }
}

/// Puts the calling thread in `SCHED_IDLE` (allowed unprivileged), best effort.
#[allow(unsafe_code)] // nix 0.29 has no sched_setscheduler wrapper
fn set_idle_priority() {
    let param = nix::libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` is a valid, initialised sched_param that
    // lives across the call, and the kernel only reads it.
    let _ = unsafe { nix::libc::sched_setscheduler(0, nix::libc::SCHED_IDLE, &param) };
}

/// Round-robins the streams, one sendmmsg batch of [`BATCH`] packets per stream socket.
fn generate_max(socks: &[UdpSocket], load: Load) -> GenResult {
    let len = 12 + load.payload;
    let mut senders = srtp_senders(socks.len(), load.srtp);
    let mut bufs: [Vec<u8>; BATCH] =
        std::array::from_fn(|_| vec![0u8; len + SRTP_SUITE.rtp_tag_len()]);
    let mut lens = [len; BATCH];
    let mut seqs = vec![0u16; socks.len()];
    let mut hdrs = MultiHeaders::<()>::preallocate(BATCH, None);
    let no_addrs = [None::<()>; BATCH];
    let mut res = GenResult::new();
    'run: loop {
        for (i, (s, seq)) in socks.iter().zip(seqs.iter_mut()).enumerate() {
            let now = load.clock.now_ns();
            if now >= load.window_end {
                break 'run;
            }
            for (k, (b, l)) in bufs.iter_mut().zip(lens.iter_mut()).enumerate() {
                fill_packet(b, i, seq.wrapping_add(k as u16), now);
                *l = seal(&mut senders, i, b, len);
            }
            let iovs: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|k| {
                let b = bufs.get(k).map_or(&[][..], Vec::as_slice);
                [IoSlice::new(b.get(..lens[k]).unwrap_or(b))]
            });
            let sent = match sendmmsg(
                s.as_raw_fd(),
                &mut hdrs,
                &iovs,
                no_addrs,
                [],
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(r) => r.count(),
                Err(_) => 0,
            };
            *seq = seq.wrapping_add(sent as u16);
            res.refused += (BATCH - sent) as u64;
            if now >= load.window_start {
                res.in_window += sent as u64;
            }
        }
    }
    res.next_seq = seqs;
    res
}

/// Sends `pps` packets per second per stream, spread evenly: packet k goes to stream k % n at
/// k / (n * pps) seconds.
fn generate_paced(socks: &[UdpSocket], load: Load, pps: u32, seq_base: &[u16]) -> GenResult {
    let n = socks.len() as u64;
    let total = u128::from(n * u64::from(pps)).max(1);
    let len = 12 + load.payload;
    let mut buf = vec![0u8; len + SRTP_SUITE.rtp_tag_len()];
    let mut senders = srtp_senders(socks.len(), load.srtp);
    let mut res = GenResult::new();
    // Packets due before now are not sent (after an overload phase the schedule starts here).
    let mut k = u64::try_from(u128::from(load.clock.now_ns()) * total / 1_000_000_000).unwrap_or(0);
    let k0 = k;
    loop {
        let now = load.clock.now_ns();
        if now >= load.window_end {
            break;
        }
        let due = u64::try_from(u128::from(now) * total / 1_000_000_000).unwrap_or(u64::MAX);
        while k < due {
            let i = (k % n) as usize;
            let Some(s) = socks.get(i) else { break };
            let t = load.clock.now_ns();
            let base = seq_base.get(i).copied().unwrap_or(0);
            fill_packet(&mut buf, i, base.wrapping_add(((k - k0) / n) as u16), t);
            let sealed = seal(&mut senders, i, &mut buf, len);
            match s.send(buf.get(..sealed).unwrap_or(&buf)) {
                Ok(_) if t >= load.window_start && t < load.window_end => {
                    res.in_window += 1;
                    let due = u64::try_from(u128::from(k) * 1_000_000_000 / total).unwrap_or(0);
                    res.late.record(t.saturating_sub(due));
                }
                Ok(_) => {}
                Err(_) => res.refused += 1,
            }
            k += 1;
        }
        // Packet k falls due once floor(now * total / 1e9) > k, i.e. at ceil((k + 1) * 1e9 / total).
        let next = ((u128::from(k) + 1) * 1_000_000_000).div_ceil(total);
        let next = u64::try_from(next).unwrap_or(u64::MAX);
        let now = load.clock.now_ns();
        if next > now {
            std::thread::sleep(Duration::from_nanos((next - now).min(5_000_000)));
        }
    }
    res
}

/// Sink totals.
struct SinkResult {
    /// Packets with a send time in the window that arrived.
    delivered: u64,
    /// Per stream, packets in the window.
    per_stream: Vec<u64>,
    /// One-way latency of those packets, ns.
    latency: Histogram,
    /// Of the delivered packets, those without a kernel receive stamp (timed in user space).
    unstamped: u64,
    /// Datagrams read, in the window or not.
    seen: u64,
}

/// Control-message room per datagram: one `SCM_TIMESTAMPNS` (`CMSG_SPACE(16)` = 32) with slack.
const CMSG_ROOM: usize = 64;

/// One `recvmmsg` batch with a kernel receive-time control message per datagram.
///
/// Hand-rolled rather than nix's `MultiHeaders` because the kernel rewrites each `msg_controllen`
/// and nix does not restore it between calls, so one datagram without a stamp would truncate the
/// control data of every later one received into that slot.
struct RxBatch {
    bufs: Box<[[u8; RX_BUF]; RX_BATCH]>,
    iovs: Box<[nix::libc::iovec; RX_BATCH]>,
    cmsgs: Box<[[u64; CMSG_ROOM / 8]; RX_BATCH]>,
    hdrs: Box<[nix::libc::mmsghdr; RX_BATCH]>,
}

// SAFETY: the raw pointers in `iovs`/`hdrs` point only into the boxes this value owns.
#[allow(unsafe_code)]
unsafe impl Send for RxBatch {}

#[allow(unsafe_code)] // recvmmsg with control messages, and reading the SCM_TIMESTAMPNS cmsg
impl RxBatch {
    fn new() -> Self {
        let mut me = Self {
            bufs: Box::new([[0u8; RX_BUF]; RX_BATCH]),
            iovs: Box::new(
                [nix::libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                }; RX_BATCH],
            ),
            cmsgs: Box::new([[0u64; CMSG_ROOM / 8]; RX_BATCH]),
            // SAFETY: mmsghdr is a plain C struct of integers and raw pointers; all-zero is valid.
            hdrs: Box::new(unsafe { std::mem::zeroed() }),
        };
        for i in 0..RX_BATCH {
            me.iovs[i] = nix::libc::iovec {
                iov_base: me.bufs[i].as_mut_ptr().cast(),
                iov_len: RX_BUF,
            };
            let h = &mut me.hdrs[i].msg_hdr;
            h.msg_iov = std::ptr::from_mut(&mut me.iovs[i]);
            h.msg_iovlen = 1;
            h.msg_control = me.cmsgs[i].as_mut_ptr().cast();
        }
        me
    }

    /// Receives up to [`RX_BATCH`] datagrams from `fd` without blocking; returns how many.
    fn recv(&mut self, fd: std::os::fd::RawFd) -> Result<usize, Errno> {
        for h in self.hdrs.iter_mut() {
            h.msg_hdr.msg_controllen = CMSG_ROOM as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at its own iovec, buffer and control area, all owned by
        // `self` and alive for the call; the kernel writes at most the lengths given.
        let n = unsafe {
            nix::libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                RX_BATCH as _,
                nix::libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        Errno::result(n).map(|n| usize::try_from(n).unwrap_or(0))
    }

    /// Datagram `i` of the last batch: its bytes and its kernel receive time (`CLOCK_REALTIME` ns).
    fn get(&self, i: usize) -> (&[u8], Option<u64>) {
        let Some(h) = self.hdrs.get(i) else {
            return (&[], None);
        };
        let len = (h.msg_len as usize).min(RX_BUF);
        let data = self.bufs.get(i).map_or(&[][..], |b| &b[..len]);
        let mut stamp = None;
        let m = &h.msg_hdr;
        // SAFETY: `m` is a msghdr the kernel just filled: its control pointer and (rewritten)
        // length describe our control area, so the CMSG_* walk stays inside it.
        unsafe {
            let mut c = nix::libc::CMSG_FIRSTHDR(m);
            while !c.is_null() {
                if (*c).cmsg_level == nix::libc::SOL_SOCKET
                    && (*c).cmsg_type == nix::libc::SCM_TIMESTAMPNS
                {
                    let ts = std::ptr::read_unaligned(
                        nix::libc::CMSG_DATA(c).cast::<nix::libc::timespec>(),
                    );
                    stamp = Some(
                        u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
                            + u64::try_from(ts.tv_nsec).unwrap_or(0),
                    );
                }
                c = nix::libc::CMSG_NXTHDR(m, c);
            }
        }
        (data, stamp)
    }
}

/// Receives on every sink socket (epoll + recvmmsg) until `stop`, counting window packets.
///
/// Latency is measured against the kernel's receive stamp of each datagram (`SO_TIMESTAMPNS`),
/// not against when this thread got round to reading it, so the sink's own scheduling (it runs
/// in `SCHED_IDLE` at paced rates) does not show up in the figures.
fn sink(socks: &[UdpSocket], load: Load, stop: &AtomicBool) -> Result<SinkResult, String> {
    for s in socks {
        setsockopt(s, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| format!("sink SO_TIMESTAMPNS: {e}"))?;
    }
    let polling = matches!(load.rate, Rate::PerStream(_)) && load.sink == SinkMode::Poll;
    let epoll =
        Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll_create: {e}"))?;
    if !polling {
        // Only when the sink sleeps in epoll: a registration hangs a callback on the socket's
        // wait queue, and every datagram delivered to it would run that callback (on the
        // forwarder's CPU, charged to the forwarder) even with nobody waiting.
        for (i, s) in socks.iter().enumerate() {
            epoll
                .add(s, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
                .map_err(|e| format!("sink epoll_ctl: {e}"))?;
        }
    }
    let mut out = SinkResult {
        delivered: 0,
        per_stream: vec![0; socks.len()],
        latency: Histogram::new(),
        unstamped: 0,
        seen: 0,
    };
    let mut rx = RxBatch::new();
    if matches!(load.rate, Rate::PerStream(_)) {
        // Paced: the generator (normal priority, same CPU) must never wait for the sink between
        // stamping a packet and sending it; the kernel stamps what the sink reads late.
        set_idle_priority();
    }
    if polling {
        // Poll instead of sleeping in epoll: nobody sleeps on a sink socket, so the forwarder's
        // sends do not pay for waking a receiver (they would not on a real network either).
        while !stop.load(Ordering::Relaxed) {
            for (i, s) in socks.iter().enumerate() {
                drain_sink_socket(s, i, &mut rx, load, &mut out)?;
            }
        }
    }
    let mut events = vec![EpollEvent::empty(); 256];
    while !stop.load(Ordering::Relaxed) {
        let n = match epoll.wait(&mut events, 20u16) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(format!("sink epoll_wait: {e}")),
        };
        for ev in events.iter().take(n) {
            let i = ev.data() as usize;
            if let Some(s) = socks.get(i) {
                drain_sink_socket(s, i, &mut rx, load, &mut out)?;
            }
        }
    }
    // Whatever is still queued (a sink in SCHED_IDLE may be behind): the kernel stamped it on
    // arrival, so reading it late changes no figure. Sweep until a whole pass finds nothing.
    loop {
        let before = out.seen;
        for (i, s) in socks.iter().enumerate() {
            drain_sink_socket(s, i, &mut rx, load, &mut out)?;
        }
        if out.seen == before {
            break;
        }
    }
    Ok(out)
}

/// Reads sink socket `i` (stream `i`) until it would block, recording window packets.
fn drain_sink_socket(
    s: &UdpSocket,
    i: usize,
    rx: &mut RxBatch,
    load: Load,
    out: &mut SinkResult,
) -> Result<(), String> {
    loop {
        let got = match rx.recv(s.as_raw_fd()) {
            Ok(c) => c,
            Err(Errno::EAGAIN | Errno::EINTR) => 0,
            Err(e) => return Err(format!("sink recvmmsg: {e}")),
        };
        out.seen += got as u64;
        let mut user_now = None;
        for k in 0..got {
            let (b, stamp) = rx.get(k);
            let Some(ts) = b.get(12..20) else { continue };
            let mut t = [0u8; 8];
            t.copy_from_slice(ts);
            let sent = u64::from_le_bytes(t);
            if sent < load.window_start || sent >= load.window_end {
                continue;
            }
            out.delivered += 1;
            if let Some(c) = out.per_stream.get_mut(i) {
                *c += 1;
            }
            let at = match stamp {
                Some(real) => load.clock.since_start(real),
                None => {
                    out.unstamped += 1;
                    *user_now.get_or_insert_with(|| load.clock.now_ns())
                }
            };
            out.latency.record(at.saturating_sub(sent));
        }
        if got < RX_BATCH {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One run

/// Which forwarder a run measures.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Forwarder {
    Baseline,
    /// The relay with this backend; `true`: SRTP terminated on leg A.
    Relay(BackendKind, bool),
    /// A relay driven over ng.
    Ng(NgTarget),
}

/// The figures of one run.
#[derive(Clone, Debug)]
struct RunResult {
    backend: String,
    streams: usize,
    offered_pps: f64,
    forwarded_pps: f64,
    loss_pct: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    p90_us: Option<f64>,
    /// Percentage of delivered window packets later than 1 ms.
    over_1ms_pct: Option<f64>,
    /// Delivered window packets timed in user space for want of a kernel stamp.
    unstamped: u64,
    /// Paced: how late the generator sent packets against their schedule, p50 and p99, µs.
    gen_late_us: (Option<f64>, Option<f64>),
    cpu_ns_per_packet: Option<f64>,
    syscalls_per_packet: Option<f64>,
    sent: u64,
    forwarder_received: u64,
    forwarded: u64,
    delivered: u64,
    streams_flowing: usize,
    /// Fewest and most window packets delivered for one stream.
    stream_min_max: (u64, u64),
    /// Share of all CPUs' time used by other processes and kernel threads in the window, %.
    foreign_cpu_pct: Option<f64>,
    pinned: String,
    /// Relay: connected twins open at the window's end.
    twins: Option<u64>,
    /// `--overload`: packets per second offered in the overload phase.
    overload_pps: Option<f64>,
}

fn join<T>(h: JoinHandle<T>, what: &str) -> Result<T, String> {
    h.join().map_err(|_| format!("{what} thread panicked"))
}

fn run_one(opts: &Options, fwd: Forwarder, pin: Option<&PinPlan>) -> Result<RunResult, String> {
    let n = opts.streams;
    let sinks = bind_many(n, 1 << 20, 64 * 1024)?;
    let gens = bind_many(n, 64 * 1024, 1 << 20)?;
    let sink_addrs = addrs(&sinks)?;
    let gen_addrs = addrs(&gens)?;
    let (mut running, legs, label) = match &fwd {
        Forwarder::Baseline => {
            let (r, a) = start_baseline(&sink_addrs, pin, opts.recv_buffer, opts.rt_priority)?;
            (r, a, "baseline".to_owned())
        }
        Forwarder::Ng(target) => {
            let busy = wait_relay_ports_free(Duration::from_secs(3));
            if busy > 0 {
                eprintln!(
                    "relay-bench: {busy} relay ports still in use after 3 s; starting anyway"
                );
            }
            let cpus = pin.map(|p| p.forwarder.clone());
            let mut relay = NgRelay::start(target, opts.workers, cpus.as_deref())?;
            let (a, b) = relay.add_streams(&gen_addrs, &sink_addrs)?;
            // Let the relay's workers take the new streams.
            std::thread::sleep(Duration::from_millis(200));
            (Running::Ng(relay), Legs { a, b }, target.label())
        }
        Forwarder::Relay(kind, srtp) => {
            let (kind, srtp) = (*kind, *srtp);
            let (r, a) = start_relay(opts, kind, &gen_addrs, &sink_addrs, pin, srtp)?;
            let name = if srtp {
                format!("{}+srtp", r.backend())
            } else {
                r.backend().to_owned()
            };
            (Running::Relay(r), a, name)
        }
    };
    for (g, a) in gens.iter().zip(&legs.a) {
        g.connect(a).map_err(|e| format!("connect {a}: {e}"))?;
    }
    // Each sink takes datagrams from its stream's leg-B address only, as a phone doing
    // symmetric RTP would: a forwarder sending from any other port shows as loss. (It also
    // spares the forwarder's CPU the unconnected-socket lookup of the sink's receive path,
    // which on loopback runs there; every forwarder alike.)
    for (k, b) in sinks.iter().zip(&legs.b) {
        k.connect(b)
            .map_err(|e| format!("connect sink to {b}: {e}"))?;
    }
    let pinned = match (pin, &fwd) {
        (None, _) => "no".to_owned(),
        (Some(p), Forwarder::Baseline) => {
            format!("baseline cpu {}", p.forwarder.first().copied().unwrap_or(0))
        }
        (Some(p), Forwarder::Ng(_)) => {
            format!("ng relay process cpu {}", cpu_list(&p.forwarder))
        }
        (Some(p), Forwarder::Relay(..)) => {
            let want = cpu_list(&p.forwarder);
            let seen = threads_affinity("relay-");
            if !seen.is_empty() && seen.iter().all(|s| *s == want) {
                format!("relay workers cpu {want} (worker_cpus)")
            } else {
                format!("no (relay workers allowed on {})", seen.join(" / "))
            }
        }
    };

    let clock = Clock::start();
    let over = u64::try_from(opts.overload.as_nanos()).unwrap_or(u64::MAX);
    let warm = over.saturating_add(u64::try_from(opts.warmup.as_nanos()).unwrap_or(u64::MAX));
    let dur = u64::try_from(opts.duration.as_nanos()).unwrap_or(u64::MAX);
    let load = Load {
        clock,
        rate: opts.rate,
        payload: opts.payload,
        sink: opts.sink,
        window_start: warm,
        window_end: warm.saturating_add(dur),
        srtp: matches!(fwd, Forwarder::Relay(_, true)),
        overload_end: over,
    };
    let load_cpu = pin.map(|p| vec![p.load]);
    let stop_sink = Arc::new(AtomicBool::new(false));
    let sink_thread = {
        let stop = stop_sink.clone();
        let cpus = load_cpu.clone();
        std::thread::Builder::new()
            .name("bench-sink".to_owned())
            .spawn(move || {
                if let Some(c) = cpus {
                    pin_current(&c)?;
                }
                sink(&sinks, load, &stop)
            })
            .map_err(|e| format!("spawning the sink: {e}"))?
    };
    let gen_rt = opts.rt_priority.filter(|_| opts.rate != Rate::Max);
    let gen_thread = std::thread::Builder::new()
        .name("bench-gen".to_owned())
        .spawn(move || {
            if let Some(c) = load_cpu {
                pin_current(&c)?;
            }
            // Paced, the generator runs at the forwarder's priority so that no other thread runs
            // between a packet's time stamp and its send (at max rate it stays in SCHED_IDLE).
            if let Some(p) = gen_rt {
                set_fifo_priority(p).map_err(|e| format!("generator: SCHED_FIFO {p}: {e}"))?;
            }
            Ok::<_, String>(generator(&gens, load))
        });
    let gen_thread = match gen_thread {
        Ok(t) => t,
        Err(e) => {
            stop_sink.store(true, Ordering::Relaxed);
            let _ = sink_thread.join();
            return Err(format!("spawning the generator: {e}"));
        }
    };

    let wait_until = |running: &mut Running, at: Instant| {
        loop {
            let now = Instant::now();
            if now >= at {
                break;
            }
            running.idle();
            std::thread::sleep((at - now).min(Duration::from_millis(20)));
        }
        running.snapshot()
    };
    let start = opts.overload + opts.warmup;
    let before = wait_until(&mut running, clock.t0 + start);
    let cpu_before = CpuTicks::now();
    let after = wait_until(&mut running, clock.t0 + start + opts.duration);
    let cpu_after = CpuTicks::now();
    let gen = join(gen_thread, "generator");
    std::thread::sleep(DRAIN);
    stop_sink.store(true, Ordering::Relaxed);
    let sink_res = join(sink_thread, "sink");
    let stopped = running.stop();
    let gen = gen??;
    let sink_res = sink_res??;
    stopped?;

    let secs = opts.duration.as_secs_f64();
    let foreign_cpu_pct = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) => {
            let foreign =
                a.busy.saturating_sub(b.busy) as f64 - a.ours.saturating_sub(b.ours) as f64;
            Some((100.0 * foreign / (a.cpus as f64 * secs * CLK_TCK)).max(0.0))
        }
        _ => None,
    };
    // An ng relay's own packet counters are not read: what reached the sinks is what it forwarded.
    let forwarded = match fwd {
        Forwarder::Ng(_) => sink_res.delivered,
        _ => after.forwarded.saturating_sub(before.forwarded),
    };
    let cpu = after.cpu_ns.saturating_sub(before.cpu_ns);
    let per = |x: u64| (forwarded > 0).then(|| x as f64 / forwarded as f64);
    let q = |x: f64| sink_res.latency.quantile(x).map(|ns| ns / 1000.0);
    let loss_pct = if gen.in_window == 0 {
        100.0
    } else {
        100.0 * (1.0 - sink_res.delivered as f64 / gen.in_window as f64).max(0.0)
    };
    Ok(RunResult {
        backend: label,
        streams: n,
        offered_pps: gen.in_window as f64 / secs,
        forwarded_pps: sink_res.delivered as f64 / secs,
        loss_pct,
        p50_us: q(0.5),
        p99_us: q(0.99),
        p999_us: q(0.999),
        p90_us: q(0.9),
        over_1ms_pct: sink_res.latency.percent_above(1_000_000),
        unstamped: sink_res.unstamped,
        gen_late_us: (
            gen.late.quantile(0.5).map(|ns| ns / 1000.0),
            gen.late.quantile(0.99).map(|ns| ns / 1000.0),
        ),
        cpu_ns_per_packet: per(cpu),
        syscalls_per_packet: match fwd {
            Forwarder::Ng(_) => None,
            _ => per(after.syscalls.saturating_sub(before.syscalls)),
        },
        sent: gen.in_window,
        forwarder_received: after.received.saturating_sub(before.received),
        forwarded,
        delivered: sink_res.delivered,
        streams_flowing: sink_res.per_stream.iter().filter(|&&c| c > 0).count(),
        foreign_cpu_pct,
        stream_min_max: (
            sink_res.per_stream.iter().copied().min().unwrap_or(0),
            sink_res.per_stream.iter().copied().max().unwrap_or(0),
        ),
        pinned,
        twins: after.twins,
        overload_pps: (!opts.overload.is_zero())
            .then(|| gen.overload_sent as f64 / opts.overload.as_secs_f64()),
    })
}

// ---------------------------------------------------------------------------------------------
// Output

/// Ratios against the baseline: (pps_ratio, cpu_ratio, baseline_ratio).
fn ratios(r: &RunResult, base: &RunResult, rate: Rate) -> (Option<f64>, Option<f64>, Option<f64>) {
    let pps = (base.forwarded_pps > 0.0).then(|| r.forwarded_pps / base.forwarded_pps);
    let cpu = match (base.cpu_ns_per_packet, r.cpu_ns_per_packet) {
        (Some(b), Some(t)) if t > 0.0 => Some(b / t),
        _ => None,
    };
    let headline = match rate {
        Rate::Max => pps,
        Rate::PerStream(_) => cpu,
    };
    (pps, cpu, headline)
}

fn json_num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "null".to_owned(),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn rate_label(rate: Rate) -> String {
    match rate {
        Rate::Max => "max".to_owned(),
        Rate::PerStream(p) => p.to_string(),
    }
}

fn json_line(opts: &Options, r: &RunResult, base: &RunResult) -> String {
    let (pps, cpu, headline) = ratios(r, base, opts.rate);
    let rate = match opts.rate {
        Rate::Max => "\"max\"".to_owned(),
        Rate::PerStream(p) => p.to_string(),
    };
    format!(
        "{{\"backend\":{},\"streams\":{},\"rate\":{},\"payload\":{},\"workers\":{},\"duration_s\":{},\
\"offered_pps\":{},\"forwarded_pps\":{},\"loss_pct\":{},\
\"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"over_1ms_pct\":{}}},\"relay_cpu_ns_per_packet\":{},\
\"baseline_ratio\":{},\"pps_ratio\":{},\"cpu_ratio\":{},\"syscalls_per_packet\":{},\
\"unstamped\":{},\"generator_late_us\":{{\"p50\":{},\"p99\":{}}},\"sink\":{},\"foreign_cpu_pct\":{},\"sent\":{},\"forwarder_received\":{},\"forwarded\":{},\"delivered\":{},\"streams_flowing\":{},\"stream_delivered_min\":{},\"stream_delivered_max\":{},\
\"forwarder_pinned\":{},\"rt_priority\":{},\"connected_twins\":{}}}",
        json_str(&r.backend),
        r.streams,
        rate,
        opts.payload,
        if r.backend == "baseline" { 1 } else { opts.workers },
        json_num(Some(opts.duration.as_secs_f64()), 3),
        json_num(Some(r.offered_pps), 1),
        json_num(Some(r.forwarded_pps), 1),
        json_num(Some(r.loss_pct), 4),
        json_num(r.p50_us, 1),
        json_num(r.p90_us, 1),
        json_num(r.p99_us, 1),
        json_num(r.p999_us, 1),
        json_num(r.over_1ms_pct, 3),
        json_num(r.cpu_ns_per_packet, 1),
        json_num(headline, 3),
        json_num(pps, 3),
        json_num(cpu, 3),
        json_num(r.syscalls_per_packet, 4),
        r.unstamped,
        json_num(r.gen_late_us.0, 1),
        json_num(r.gen_late_us.1, 1),
        json_str(match (opts.rate, opts.sink) {
            (Rate::Max, _) => "epoll",
            (_, SinkMode::Poll) => "poll",
            (_, SinkMode::Epoll) => "epoll",
        }),
        json_num(r.foreign_cpu_pct, 1),
        r.sent,
        r.forwarder_received,
        r.forwarded,
        r.delivered,
        r.streams_flowing,
        r.stream_min_max.0,
        r.stream_min_max.1,
        json_str(&r.pinned),
        opts.rt_priority.map_or_else(|| "null".to_owned(), |p| p.to_string()),
        r.twins.map_or_else(|| "null".to_owned(), |t| t.to_string()),
    )
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.decimals$}"))
}

fn print_table(opts: &Options, results: &[RunResult]) {
    let Some(base) = results.first() else { return };
    println!(
        "{:<13} {:>7} {:>11} {:>11} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9}",
        "backend",
        "streams",
        "offered_pps",
        "fwd_pps",
        "loss%",
        "p50_us",
        "p99_us",
        "p999_us",
        "cpu_ns/pk",
        "sys/pk",
        "pps_ratio",
        "cpu_ratio",
        "baseline_ratio"
    );
    for r in results {
        let (pps, cpu, headline) = ratios(r, base, opts.rate);
        println!(
            "{:<13} {:>7} {:>11.0} {:>11.0} {:>7.3} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9}",
            r.backend,
            r.streams,
            r.offered_pps,
            r.forwarded_pps,
            r.loss_pct,
            fmt_opt(r.p50_us, 1),
            fmt_opt(r.p99_us, 1),
            fmt_opt(r.p999_us, 1),
            fmt_opt(r.cpu_ns_per_packet, 0),
            fmt_opt(r.syscalls_per_packet, 3),
            fmt_opt(pps, 2),
            fmt_opt(cpu, 2),
            fmt_opt(headline, 2),
        );
    }
    for r in results {
        let Some(plain) = r.backend.strip_suffix("+srtp") else {
            continue;
        };
        let Some(p) = results.iter().find(|p| p.backend == plain) else {
            continue;
        };
        if let (Some(s), Some(c)) = (r.cpu_ns_per_packet, p.cpu_ns_per_packet) {
            println!(
                "{}: SRTP terminated on leg A adds {:.0} ns of relay CPU per packet over {plain} ({:.0} -> {s:.0}, same invocation)",
                r.backend,
                s - c,
                c
            );
        }
    }
    println!();
    println!(
        "baseline_ratio = {} (> 1: better than the naive one-packet-per-syscall forwarder)",
        match opts.rate {
            Rate::Max => "pps_ratio = forwarded_pps / baseline forwarded_pps",
            Rate::PerStream(_) => {
                "cpu_ratio = baseline cpu_ns_per_packet / this cpu_ns_per_packet"
            }
        }
    );
    match opts.rt_priority {
        Some(p) => println!(
            "forwarder threads{} under SCHED_FIFO at priority {p}",
            if opts.rate == Rate::Max {
                ""
            } else {
                " and generator"
            }
        ),
        None => println!("normal scheduler (no --rt-priority)"),
    }
    for r in results {
        println!(
            "{:<13} pinned: {}; sent {} forwarder rx {} forwarded {} delivered {}; streams flowing {}/{}",
            r.backend,
            r.pinned,
            r.sent,
            r.forwarder_received,
            r.forwarded,
            r.delivered,
            r.streams_flowing,
            r.streams
        );
    }
    if !opts.overload.is_zero() {
        println!(
            "overload: {:.1} s flat out before the warm-up; streams forwarding again in the window:",
            opts.overload.as_secs_f64()
        );
        for r in results {
            println!(
                "{:<13} offered {:.0} pps in the overload ({:.1}x what it forwarded in the window); recovered {}/{} streams ({:.1} %), min {} max {} packets per stream",
                r.backend,
                r.overload_pps.unwrap_or(0.0),
                r.overload_pps.unwrap_or(0.0) / r.forwarded_pps.max(1.0),
                r.streams_flowing,
                r.streams,
                100.0 * r.streams_flowing as f64 / r.streams.max(1) as f64,
                r.stream_min_max.0,
                r.stream_min_max.1
            );
        }
    }
}

fn run(opts: &Options) -> Result<(), String> {
    // Per stream: 4 relay ports, up to 4 connected twins (relay::twin; they stay under three
    // quarters of the limit), generator + sink (+ 2 baseline sockets), plus slack.
    ensure_fds(opts.streams as u64 * 10 + 256)?;
    let pin = plan_pinning(opts)?;
    if !opts.json {
        println!(
            "relay-bench: {} streams, rate {} pps/stream, payload {} B, warm-up {:.1} s, measured {:.1} s, {} relay worker(s)",
            opts.streams,
            rate_label(opts.rate),
            opts.payload,
            opts.warmup.as_secs_f64(),
            opts.duration.as_secs_f64(),
            opts.workers
        );
        match &pin {
            Some(p) => println!(
                "pinning: forwarder on cpu {}, generator+sink on cpu {}",
                cpu_list(&p.forwarder),
                p.load
            ),
            None => println!("pinning: off"),
        }
    }
    let mut results: Vec<RunResult> = Vec::new();
    let srtp_runs: &[bool] = if opts.srtp { &[false, true] } else { &[false] };
    let inprocess: &[BackendKind] = if opts.no_inprocess {
        &[]
    } else {
        &opts.backends
    };
    let runs = std::iter::once(Forwarder::Baseline)
        .chain(
            inprocess
                .iter()
                .flat_map(|&k| srtp_runs.iter().map(move |&s| Forwarder::Relay(k, s))),
        )
        .chain(opts.ng.iter().cloned().map(Forwarder::Ng));
    for fwd in runs {
        let r = run_one(opts, fwd, pin.as_ref())?;
        if opts.json {
            let base = results.first().unwrap_or(&r);
            println!("{}", json_line(opts, &r, base));
        }
        results.push(r);
    }
    if !opts.json {
        println!();
        print_table(opts, &results);
    }
    Ok(())
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("relay-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
