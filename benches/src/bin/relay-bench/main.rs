//! `relay-bench`: the throughput harness for sizing a deployment of the SBC's media relay.
//!
//! In one invocation it runs a naive one-packet-per-syscall forwarder (the baseline) and then the
//! relay with each selected IO backend, all over the same RTP-shaped load on 127.0.0.1, and reports
//! offered and forwarded packet rates, loss, one-way latency percentiles, the forwarder's CPU time
//! per packet, and ratios against the baseline. Run `relay-bench --help` for the options.

mod host;
mod load;
mod measure;
mod ng;
mod options;
mod output;

use host::*;
use load::*;
use measure::*;
use ng::{NgRelay, NgTarget};
use nix::errno::Errno;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::socket::{sendmmsg, setsockopt, sockopt, MsgFlags, MultiHeaders};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::Pid;
use options::*;
use output::*;
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
