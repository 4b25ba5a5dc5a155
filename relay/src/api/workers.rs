//! The relay's worker threads as the control plane holds them: their rings, wake-up and
//! slot bookkeeping, started (pinned, at the configured priority) and stopped.

use super::host::{pin_current_thread, set_fifo_priority, wake};
use super::{RelayConfig, RelayError, SlotInfo, COMMAND_RING, EVENT_RING};
use crate::io::open_backend;
use crate::notify::Notify;
use crate::worker::{Command, Worker, WorkerConfig, WorkerEvent, WorkerMetrics};
use ringbuf::traits::{Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::thread::JoinHandle;

/// A worker thread as the control plane holds it.
pub(super) struct WorkerHandle {
    pub(super) commands: HeapProd<Command>,
    pub(super) events: HeapCons<WorkerEvent>,
    pub(super) wake: OwnedFd,
    pub(super) thread: Option<JoinHandle<()>>,
    pub(super) metrics: Arc<WorkerMetrics>,
    pub(super) free_slots: Vec<u32>,
    pub(super) next_slot: u32,
    pub(super) gens: Vec<u32>,
    pub(super) slots: HashMap<u32, SlotInfo>,
}

/// Opens worker `w`'s backend and rings and starts its thread (pinned and at the configured
/// priority); returns its handle and the backend's name.
pub(super) fn spawn_worker(
    cfg: &RelayConfig,
    w: usize,
    notify: &Arc<Notify>,
) -> Result<(WorkerHandle, &'static str), RelayError> {
    let backend = open_backend(cfg.backend, cfg.uring)?;
    let backend_name = backend.name();
    // Dup the eventfd so the control plane can wake the worker.
    let wake = crate::io::dup_wake_fd(backend.as_ref())?;
    let (cprod, ccons) = HeapRb::<Command>::new(COMMAND_RING).split();
    let (eprod, econs) = HeapRb::<WorkerEvent>::new(EVENT_RING).split();
    let metrics = Arc::new(WorkerMetrics::default());
    let worker = Worker::new(
        backend,
        ccons,
        eprod,
        notify.clone(),
        metrics.clone(),
        WorkerConfig {
            latch: cfg.latch,
            inactivity_timeout: cfg.inactivity_timeout,
            stats_interval: cfg.stats_interval,
        },
    );
    let cpu = (!cfg.worker_cpus.is_empty())
        .then(|| cfg.worker_cpus.get(w % cfg.worker_cpus.len()).copied())
        .flatten();
    let rt = cfg.worker_rt_priority;
    // The thread says whether it took its priority before it runs the worker, so a
    // refusal is the caller's error now rather than a worker silently at normal priority.
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), RelayError>>(1);
    let thread = std::thread::Builder::new()
        .name(format!("relay-{w}"))
        .spawn(move || {
            if let Some(c) = cpu {
                pin_current_thread(c);
            }
            let ready = match rt {
                Some(priority) => set_fifo_priority(priority)
                    .map_err(|source| RelayError::Priority { priority, source }),
                None => Ok(()),
            };
            let ok = ready.is_ok();
            let _ = ready_tx.send(ready);
            if ok {
                worker.run();
            }
        })?;
    let ready = ready_rx
        .recv()
        .unwrap_or_else(|_| Err(RelayError::Io(std::io::Error::other("relay worker died"))));
    if let Err(e) = ready {
        let _ = thread.join();
        return Err(e);
    }
    let handle = WorkerHandle {
        commands: cprod,
        events: econs,
        wake,
        thread: Some(thread),
        metrics,
        free_slots: Vec::new(),
        next_slot: 0,
        gens: Vec::new(),
        slots: HashMap::new(),
    };
    Ok((handle, backend_name))
}

/// Asks every worker to stop and joins its thread.
pub(super) fn stop_workers(workers: &mut [WorkerHandle]) {
    for w in workers.iter_mut() {
        let _ = w.commands.try_push(Command::Shutdown);
        wake(&w.wake);
    }
    for w in workers.iter_mut() {
        if let Some(t) = w.thread.take() {
            let _ = t.join();
        }
    }
}
