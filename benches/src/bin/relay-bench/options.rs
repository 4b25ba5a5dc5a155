//! The command line: `--help` text and option parsing.

use super::*;

pub(super) const HELP: &str = "\
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

pub(super) fn parse_secs(name: &str, v: &str, min: f64, max: f64) -> Result<Duration, String> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("{name}: not a number of seconds: {v:?}"))?;
    if !(min..=max).contains(&s) {
        return Err(format!("{name}: {s} is outside {min}..={max} seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

pub(super) fn parse_int(name: &str, v: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = v
        .parse()
        .map_err(|_| format!("{name}: not a whole number: {v:?}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("{name}: {n} is outside {min}..={max}"));
    }
    Ok(n)
}

/// Parses the options; `Ok(None)` means `--help`.
pub(super) fn parse_args(
    args: impl IntoIterator<Item = String>,
) -> Result<Option<Options>, String> {
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
