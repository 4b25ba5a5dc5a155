//! Real-time priority of the worker threads (`RelayConfig::worker_rt_priority`): the workers run
//! under `SCHED_FIFO` at the configured priority, and a priority the system refuses is a clear
//! error from `Relay::start`, never a worker silently left at normal priority.
//!
//! Its own test binary: it looks at every thread named `relay-*` in the process.

#![allow(unsafe_code)] // sched_setscheduler and a seccomp filter are raw libc calls

mod common;

use sbc_relay::api::{Relay, RelayConfig, RelayError};
use std::time::{Duration, Instant};

fn config(base: u16, rt: Option<u8>) -> RelayConfig {
    RelayConfig {
        worker_rt_priority: rt,
        ..common::config(base, 2)
    }
}

/// (policy, rt_priority) of every thread of this process named `relay-*`, from
/// /proc/self/task/*/stat (fields 41 and 40, proc(5)).
fn relay_threads() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = t.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if !comm.starts_with("relay-") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the parenthesised command name start at field 3 (state).
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        out.push((f[41 - 3].parse().unwrap(), f[40 - 3].parse().unwrap()));
    }
    out
}

/// Whether every `relay-*` thread has left /proc/self/task within 2 s: a joined thread can stay
/// listed for a moment while the kernel finishes its exit (pthread_join returns when the thread
/// has released its memory, before it leaves the thread group).
fn relay_threads_gone() -> bool {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        if relay_threads().is_empty() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether this process may put a thread under SCHED_FIFO at `priority` (tried on a scratch
/// thread, which then ends).
fn fifo_allowed(priority: i32) -> bool {
    std::thread::spawn(move || {
        let p = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: pid 0 is the calling (scratch) thread; `p` outlives the call.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) == 0 }
    })
    .join()
    .unwrap()
}

/// One test: both parts count the process's `relay-*` threads, so they must not overlap.
#[test]
fn workers_run_under_sched_fifo_at_the_configured_priority_and_a_refusal_fails_start() {
    a_refused_priority_fails_start_with_the_priority_and_leaves_no_worker_running();
    workers_run_under_sched_fifo_at_the_configured_priority();
}

fn workers_run_under_sched_fifo_at_the_configured_priority() {
    // Without the option the workers keep the normal scheduler (SCHED_OTHER = 0).
    let r = Relay::start(config(28_000, None)).expect("relay starts");
    let threads = relay_threads();
    assert_eq!(threads.len(), 2, "two workers: {threads:?}");
    assert!(
        threads.iter().all(|&(policy, _)| policy == 0),
        "{threads:?}"
    );
    drop(r);
    assert!(relay_threads_gone(), "the first relay's workers joined");

    if !fifo_allowed(7) {
        // An unprivileged run: the refusal is the caller's error, and no worker is left behind.
        let err = Relay::start(config(28_200, Some(7)))
            .err()
            .expect("refused");
        assert!(
            matches!(err, RelayError::Priority { priority: 7, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("CAP_SYS_NICE"), "{err}");
        assert!(relay_threads_gone());
        return;
    }
    let mut r = Relay::start(config(28_200, Some(7))).expect("relay starts at priority 7");
    let threads = relay_threads();
    assert_eq!(threads.len(), 2, "two workers: {threads:?}");
    assert!(
        threads.iter().all(|&t| t == (1, 7)),
        "every worker under SCHED_FIFO (1) at 7: {threads:?}"
    );
    // Media still flows through a real-time worker.
    assert_eq!(common::packets_across(&mut r, 5), 5);
    r.shutdown();
    assert!(relay_threads_gone(), "workers joined");
}

fn a_refused_priority_fails_start_with_the_priority_and_leaves_no_worker_running() {
    // A thread whose sched_setscheduler is forbidden (as a container without CAP_SYS_NICE would
    // refuse it, even to root); its workers inherit the filter.
    std::thread::spawn(|| {
        common::forbid_in_this_thread(libc::SYS_sched_setscheduler);
        let err = Relay::start(config(28_400, Some(5)))
            .err()
            .expect("refused");
        let RelayError::Priority { priority, source } = &err else {
            panic!("not a priority error: {err}");
        };
        assert_eq!(*priority, 5);
        assert_eq!(source.raw_os_error(), Some(libc::EPERM));
        assert!(
            err.to_string().contains("SCHED_FIFO at priority 5"),
            "{err}"
        );
        // Out-of-range priorities are refused before any system call.
        let err = Relay::start(config(28_400, Some(0)))
            .err()
            .expect("0 refused");
        assert!(
            matches!(err, RelayError::Priority { priority: 0, .. }),
            "{err}"
        );
        let err = Relay::start(config(28_400, Some(100)))
            .err()
            .expect("100 refused");
        assert!(
            matches!(err, RelayError::Priority { priority: 100, .. }),
            "{err}"
        );
    })
    .join()
    .unwrap();
    assert!(relay_threads_gone(), "no worker left running");
}
