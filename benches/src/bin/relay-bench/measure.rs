//! Clocks, CPU time and the latency histogram.

use super::*;

/// The clock generator and sink share: `CLOCK_REALTIME` nanoseconds since a common start.
///
/// Realtime, not monotonic, because it is the clock the kernel stamps received datagrams with
/// (`SO_TIMESTAMPNS`); a clock step (NTP) during a run would spoil that run's latencies.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    /// When the run started, for the main thread's sleeps.
    pub(super) t0: Instant,
    /// The same moment on `CLOCK_REALTIME`, ns since the epoch.
    pub(super) t0_real_ns: u64,
}

impl Clock {
    pub(super) fn start() -> Self {
        Self {
            t0: Instant::now(),
            t0_real_ns: realtime_ns(),
        }
    }

    /// Now, ns since the start.
    pub(super) fn now_ns(self) -> u64 {
        realtime_ns().saturating_sub(self.t0_real_ns)
    }

    /// A kernel receive stamp (`CLOCK_REALTIME`, ns since the epoch) as ns since the start.
    pub(super) fn since_start(self, real_ns: u64) -> u64 {
        real_ns.saturating_sub(self.t0_real_ns)
    }
}

/// `CLOCK_REALTIME` now, ns since the epoch (vDSO: no system call).
pub(super) fn realtime_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_REALTIME).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0)
    })
}

/// CPU time of the calling thread, ns (CLOCK_THREAD_CPUTIME_ID, as the relay's workers report).
pub(super) fn thread_cpu_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0)
    })
}

/// Sub-buckets per power of two (4 bits: about 6 % resolution).
pub(super) const SUB_BITS: u32 = 4;
pub(super) const SUB: u64 = 1 << SUB_BITS;
pub(super) const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// A fixed log-linear histogram of nanosecond values; recording never allocates.
pub(super) struct Histogram {
    pub(super) counts: Box<[u64; BUCKETS]>,
    pub(super) total: u64,
}

impl Histogram {
    pub(super) fn new() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }

    pub(super) fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= SUB_BITS
        let mant = (v >> (e - SUB_BITS)) - SUB; // 0..SUB
        ((e - SUB_BITS + 1) as usize) * SUB as usize + mant as usize
    }

    /// The middle of bucket `i`.
    pub(super) fn value(i: usize) -> f64 {
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

    pub(super) fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(Self::index(v)) {
            *c += 1;
            self.total += 1;
        }
    }

    /// Percentage of recorded values above `ns` (to the bucket resolution); `None` when empty.
    pub(super) fn percent_above(&self, ns: u64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let above: u64 = self.counts.iter().skip(Self::index(ns) + 1).sum();
        Some(100.0 * above as f64 / self.total as f64)
    }

    /// The value at quantile `q` (0..=1), ns; `None` when empty.
    pub(super) fn quantile(&self, q: f64) -> Option<f64> {
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
pub(super) const CLK_TCK: f64 = 100.0;

/// CPU time of the whole machine and of this process, to tell how much else ran during a run.
#[derive(Clone, Copy, Debug)]
pub(super) struct CpuTicks {
    /// user + nice + system of all CPUs (/proc/stat), ticks; irq and softirq left out, as the
    /// packet path's softirq time may be accounted there rather than to this process.
    pub(super) busy: u64,
    /// utime + stime of this process (/proc/self/stat), ticks.
    pub(super) ours: u64,
    /// CPUs in /proc/stat.
    pub(super) cpus: usize,
}

impl CpuTicks {
    pub(super) fn now() -> Option<Self> {
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
