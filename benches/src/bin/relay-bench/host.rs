//! The host: CPU pinning of forwarder and load, the load's sockets, the file limit.

use super::*;

/// Which CPUs the forwarder and the load threads run on.
#[derive(Clone, Debug)]
pub(super) struct PinPlan {
    pub(super) forwarder: Vec<usize>,
    pub(super) load: usize,
}

pub(super) fn cpuset(cpus: &[usize]) -> Result<CpuSet, String> {
    let mut s = CpuSet::new();
    for &c in cpus {
        s.set(c).map_err(|e| format!("cpu {c}: {e}"))?;
    }
    Ok(s)
}

pub(super) fn allowed_cpus() -> Result<Vec<usize>, String> {
    let set = sched_getaffinity(Pid::from_raw(0)).map_err(|e| format!("sched_getaffinity: {e}"))?;
    Ok((0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect())
}

pub(super) fn plan_pinning(opts: &Options) -> Result<Option<PinPlan>, String> {
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
pub(super) fn pin_current(cpus: &[usize]) -> Result<(), String> {
    sched_setaffinity(Pid::from_raw(0), &cpuset(cpus)?)
        .map_err(|e| format!("sched_setaffinity({cpus:?}): {e}"))
}

pub(super) fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The allowed CPUs of this process's threads named `<prefix><digits>`, from /proc (for the report).
pub(super) fn threads_affinity(prefix: &str) -> Vec<String> {
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

pub(super) fn bind_local(rcvbuf: usize, sndbuf: usize) -> Result<UdpSocket, String> {
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

pub(super) fn bind_many(n: usize, rcvbuf: usize, sndbuf: usize) -> Result<Vec<UdpSocket>, String> {
    (0..n).map(|_| bind_local(rcvbuf, sndbuf)).collect()
}

pub(super) fn addrs(socks: &[UdpSocket]) -> Result<Vec<SocketAddr>, String> {
    socks
        .iter()
        .map(|s| s.local_addr().map_err(|e| format!("local_addr: {e}")))
        .collect()
}

/// Raises the open-files soft limit to the hard limit and checks `need` descriptors fit.
pub(super) fn ensure_fds(need: u64) -> Result<(), String> {
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
