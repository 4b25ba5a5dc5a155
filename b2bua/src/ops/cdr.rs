//! Call detail records: one JSON object per finished call, one per line, appended to
//! `[admin] cdr_path` by a writer thread, so the SIP task never waits on the disk.
//!
//! The endpoint builds a [`CallRecord`] from the call core's events ([`CallEvent`]) and the relay's
//! final per-stream statistics (RFC 3550 §6.4: packets, loss, interarrival jitter) and hands it
//! to [`CdrWriter::write`], which only tries a bounded channel: when the writer is behind and the
//! channel is full the record is dropped, counted ([`CdrWriter::dropped`]) and a warning logged.
//!
//! Rotation: once the file reaches `cdr_rotate_bytes`, `cdr.jsonl.8` becomes `.9` (the old `.9`
//! is deleted), …, `cdr.jsonl` becomes `cdr.jsonl.1`, and a new `cdr.jsonl` is started, so at
//! most [`KEEP_ROTATED`] old files are kept. The writer flushes whenever its queue runs empty and
//! on [`CdrWriter::close`].
//!
//! A line looks like this (wrapped here):
//!
//! ```text
//! {"node":"sbc","call":3,"start":"2026-01-02T03:04:05.678Z","answer":"2026-01-02T03:04:07.001Z",
//!  "end":"2026-01-02T03:05:07.001Z","duration_ms":60000,"total_ms":61323,"outcome":"answered",
//!  "code":200,"ended_by":"caller","end_reason":"bye",
//!  "a":{"call_id":"…","from":"sip:alice@…","to":"sip:bob@…"},"b":{…},
//!  "media":[{"stream":0,"a":{"packets_in":3000,"packets_out":2990,"bytes_in":…,"bytes_out":…,
//!   "lost":2,"expected":3002,"jitter":12},"b":{…}}]}
//! ```
//!
//! `a`/`b` under a stream are the relay's two legs: `packets_in` came from that leg's peer,
//! `packets_out` went to it; `lost`, `expected` and `jitter` (RTP timestamp units) describe the
//! RTP the peer sent (RFC 3550 A.3, A.8).

use crate::call::{CallEvent, EndReason, Leg, LegParties};
use crate::ops::metrics::Outcome;
use sbc_relay::forward::LegStats;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// Records waiting for the writer thread; more are dropped and counted.
pub const QUEUE: usize = 4096;

/// Rotated files kept next to the live one (`.1` newest … `.9` oldest).
pub const KEEP_ROTATED: u32 = 9;

/// Why the CDR file could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CdrError {
    /// Opening or creating the file failed.
    #[error("cdr file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cdr writer thread: {0}")]
    Thread(std::io::Error),
}

/// Who ended a call, as a CDR says it (RFC 3261 §9, §15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBy {
    /// Leg A (the caller): its BYE or CANCEL.
    Caller,
    /// Leg B (the callee): its BYE or its final refusal.
    Callee,
    /// The SBC: timeouts, media failures, limits, shutdown.
    Sbc,
}

impl EndedBy {
    /// Who ended a call that ended with `reason`.
    pub fn of(reason: EndReason) -> Self {
        match reason {
            EndReason::Bye(Leg::A) | EndReason::Cancelled => Self::Caller,
            EndReason::Bye(Leg::B) | EndReason::Rejected => Self::Callee,
            EndReason::Timeout
            | EndReason::NoAck
            | EndReason::Media
            | EndReason::MediaTimeout
            | EndReason::Dtls
            | EndReason::MaxDuration
            | EndReason::SessionExpired
            | EndReason::Admin
            | EndReason::Shutdown => Self::Sbc,
        }
    }

    /// The CDR value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Callee => "callee",
            Self::Sbc => "sbc",
        }
    }
}

/// The CDR's `end_reason` value for an [`EndReason`].
pub fn reason_str(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Bye(_) => "bye",
        EndReason::Rejected => "rejected",
        EndReason::Cancelled => "cancelled",
        EndReason::Timeout => "timeout",
        EndReason::NoAck => "no_ack",
        EndReason::Media => "media_failure",
        EndReason::MediaTimeout => "media_timeout",
        EndReason::Dtls => "dtls_failed",
        EndReason::MaxDuration => "max_duration",
        EndReason::SessionExpired => "session_expired",
        EndReason::Admin => "admin",
        EndReason::Shutdown => "shutdown",
    }
}

/// One finished call (RFC 3261 §13, §15) with its media statistics (RFC 3550 §6.4).
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    /// `[general] node_name`.
    pub node: String,
    /// The call's number in this process.
    pub call: u64,
    /// When leg A's INVITE was accepted and leg B's sent.
    pub start: SystemTime,
    /// When leg B's 2xx was relayed to leg A.
    pub answer: Option<SystemTime>,
    /// When the call ended.
    pub end: SystemTime,
    /// Leg A's and leg B's parties.
    pub legs: [LegParties; 2],
    /// Why the call ended.
    pub reason: EndReason,
    /// The status that ended it (leg B's final for failures, 487 for CANCEL, 200 for BYE).
    pub code: u16,
    /// Per stream, both relay legs' final counters.
    pub media: Vec<[LegStats; 2]>,
}

impl CallRecord {
    /// The record of a call from its [`CallEvent::Started`] (`None` for other events), at wall
    /// time `now`.
    pub fn started(node: &str, event: &CallEvent, now: SystemTime) -> Option<Self> {
        let CallEvent::Started { call, detail, .. } = event else {
            return None;
        };
        Some(Self {
            node: node.to_owned(),
            call: call.0,
            start: now,
            answer: None,
            end: now,
            legs: detail.legs.clone(),
            reason: EndReason::Rejected,
            code: 0,
            media: Vec::new(),
        })
    }

    /// How the call went (answered, busy, cancelled, …), as the metrics count it.
    pub fn outcome(&self) -> Outcome {
        Outcome::of(self.answer.is_some(), self.reason, self.code)
    }

    /// The record as one line of JSON, without the newline.
    pub fn to_json(&self) -> String {
        use serde_json::json;
        let ms = |from: SystemTime, to: SystemTime| {
            to.duration_since(from)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        let party = |p: &LegParties| json!({"call_id": p.call_id, "from": p.from, "to": p.to});
        let leg = |s: &LegStats| {
            json!({
                "packets_in": s.packets_in,
                "packets_out": s.packets_out,
                "bytes_in": s.bytes_in,
                "bytes_out": s.bytes_out,
                "lost": s.lost,
                "expected": s.expected,
                "jitter": s.jitter,
            })
        };
        let media: Vec<_> = self
            .media
            .iter()
            .enumerate()
            .map(|(i, [a, b])| json!({"stream": i, "a": leg(a), "b": leg(b)}))
            .collect();
        json!({
            "node": self.node,
            "call": self.call,
            "start": rfc3339(self.start),
            "answer": self.answer.map(rfc3339),
            "end": rfc3339(self.end),
            "duration_ms": self.answer.map_or(0, |a| ms(a, self.end)),
            "total_ms": ms(self.start, self.end),
            "outcome": self.outcome().as_str(),
            "code": self.code,
            "ended_by": EndedBy::of(self.reason).as_str(),
            "end_reason": reason_str(self.reason),
            "a": party(&self.legs[0]),
            "b": party(&self.legs[1]),
            "media": media,
        })
        .to_string()
    }
}

/// A wall-clock time as RFC 3339 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Year, month, day of a count of days since 1970-01-01 (the proleptic Gregorian calendar;
/// H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// The CDR file: appends lines, rotating by size.
#[derive(Debug)]
struct CdrFile {
    path: PathBuf,
    rotate_bytes: u64,
    out: BufWriter<File>,
    size: u64,
}

impl CdrFile {
    fn open(path: &Path, rotate_bytes: u64) -> std::io::Result<Self> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        let size = f.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            rotate_bytes,
            out: BufWriter::new(f),
            size,
        })
    }

    /// Appends one line, rotating first when the file has reached its size.
    fn append(&mut self, line: &str) -> std::io::Result<()> {
        if self.rotate_bytes > 0 && self.size >= self.rotate_bytes {
            self.rotate()?;
        }
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    /// `.8` → `.9`, …, live → `.1`, then a new live file.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        for n in (1..KEEP_ROTATED).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        *self = Self::open(&self.path, self.rotate_bytes)?;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The handle the driver writes the endpoint's CDRs through; the file is written by its own thread.
#[derive(Debug)]
pub struct CdrWriter {
    tx: Option<SyncSender<CallRecord>>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl CdrWriter {
    /// Opens (or creates) `path` for appending and starts the writer thread; `rotate_bytes` 0
    /// never rotates.
    pub fn open(path: &Path, rotate_bytes: u64) -> Result<Self, CdrError> {
        Self::with_queue(path, rotate_bytes, QUEUE)
    }

    /// [`CdrWriter::open`] with a queue of `queue` records.
    pub fn with_queue(path: &Path, rotate_bytes: u64, queue: usize) -> Result<Self, CdrError> {
        let file = CdrFile::open(path, rotate_bytes).map_err(|source| CdrError::Open {
            path: path.to_owned(),
            source,
        })?;
        let (tx, rx) = sync_channel(queue);
        let written = Arc::new(AtomicU64::new(0));
        let w = written.clone();
        let thread = std::thread::Builder::new()
            .name("cdr".into())
            .spawn(move || run(file, &rx, &w))
            .map_err(CdrError::Thread)?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            written,
        })
    }

    /// Queues a record without waiting; a full queue drops it (counted, warned).
    pub fn write(&self, record: CallRecord) {
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(r)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    call = r.call,
                    dropped = n,
                    "CDR writer behind: record dropped"
                );
            }
            Err(TrySendError::Disconnected(r)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(
                    call = r.call,
                    dropped = n,
                    "CDR writer gone: record dropped"
                );
            }
        }
    }

    /// Records dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the file so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes what is queued, flushes the file and stops the thread.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CdrWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The writer thread: JSON off the SIP task, a flush each time the queue runs empty.
fn run(mut file: CdrFile, rx: &Receiver<CallRecord>, written: &AtomicU64) {
    let write = |file: &mut CdrFile, r: &CallRecord| match file.append(&r.to_json()) {
        Ok(()) => {
            written.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tracing::error!(call = r.call, "CDR not written: {e}"),
    };
    while let Ok(r) = rx.recv() {
        write(&mut file, &r);
        while let Ok(r) = rx.try_recv() {
            write(&mut file, &r);
        }
        if let Err(e) = file.flush() {
            tracing::error!("CDR flush: {e}");
        }
    }
    let _ = file.flush();
}

/// How long after a call ends its record waits for the relay's final media statistics.
pub const MEDIA_WAIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CallDetail, CallKey};

    fn record(call: u64) -> CallRecord {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_323_045_678);
        let ev = CallEvent::Started {
            call: CallKey(call),
            a_call_id: "a1".into(),
            b_call_id: "b1".into(),
            detail: Box::new(CallDetail {
                legs: [
                    LegParties {
                        call_id: "a1".into(),
                        from: "sip:alice@example.com".into(),
                        to: "sip:bob@example.com".into(),
                    },
                    LegParties {
                        call_id: "b1".into(),
                        from: "sip:alice@192.0.2.1".into(),
                        to: "sip:bob@192.0.2.2".into(),
                    },
                ],
                media_session: Some(sbc_relay::api::SessionId(1)),
            }),
        };
        CallRecord::started("node-1", &ev, t0).unwrap()
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sbc-cdr-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("cdr.jsonl")
    }

    #[test]
    fn formats_wall_clock_as_rfc3339_utc() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_323_045_678);
        assert_eq!(rfc3339(t), "2026-01-02T03:04:05.678Z");
        // 2024-02-29 (leap day) 23:59:59.999
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_251_199_999);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.999Z");
    }

    #[test]
    fn answered_call_record_has_times_parties_and_media() {
        let mut r = record(7);
        r.answer = Some(r.start + Duration::from_millis(1500));
        r.end = r.start + Duration::from_millis(61_500);
        r.reason = EndReason::Bye(Leg::B);
        r.code = 200;
        let a = LegStats {
            packets_in: 100,
            packets_out: 98,
            lost: 2,
            expected: 102,
            jitter: 12,
            ..LegStats::default()
        };
        r.media = vec![[a, LegStats::default()]];
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["node"], "node-1");
        assert_eq!(v["call"], 7);
        assert_eq!(v["start"], "2026-01-02T03:04:05.678Z");
        assert_eq!(v["answer"], "2026-01-02T03:04:07.178Z");
        assert_eq!(v["duration_ms"], 60_000);
        assert_eq!(v["total_ms"], 61_500);
        assert_eq!(v["outcome"], "answered");
        assert_eq!(v["ended_by"], "callee");
        assert_eq!(v["end_reason"], "bye");
        assert_eq!(v["a"]["from"], "sip:alice@example.com");
        assert_eq!(v["b"]["call_id"], "b1");
        assert_eq!(v["media"][0]["a"]["packets_in"], 100);
        assert_eq!(v["media"][0]["a"]["lost"], 2);
        assert_eq!(v["media"][0]["a"]["jitter"], 12);
        assert_eq!(v["media"][0]["b"]["packets_in"], 0);
    }

    #[test]
    fn busy_and_cancelled_records_say_who_ended_them() {
        let mut r = record(1);
        r.reason = EndReason::Rejected;
        r.code = 486;
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["outcome"], "busy");
        assert_eq!(v["answer"], serde_json::Value::Null);
        assert_eq!(v["duration_ms"], 0);
        assert_eq!(v["ended_by"], "callee");
        r.reason = EndReason::Cancelled;
        r.code = 487;
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            (v["outcome"].as_str(), v["ended_by"].as_str()),
            (Some("cancelled"), Some("caller"))
        );
        assert_eq!(EndedBy::of(EndReason::Shutdown), EndedBy::Sbc);
        assert_eq!(reason_str(EndReason::MediaTimeout), "media_timeout");
    }

    #[test]
    fn writer_appends_lines_and_rotates_by_size() {
        let path = tmp("rotate");
        let line = record(1).to_json().len() as u64 + 1;
        // Room for two lines per file: the third line of a file starts a new one.
        let w = CdrWriter::open(&path, 2 * line).unwrap();
        for call in 1..=5 {
            w.write(record(call));
        }
        w.close();
        let calls = |p: &Path| -> Vec<u64> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["call"]
                        .as_u64()
                        .unwrap()
                })
                .collect()
        };
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        assert_eq!(calls(&path), vec![5]);
        assert_eq!(calls(&rotated(1)), vec![3, 4]);
        assert_eq!(calls(&rotated(2)), vec![1, 2]);
        assert!(!rotated(3).exists());
        // Reopening appends to the live file and counts its size.
        let w = CdrWriter::open(&path, 2 * line).unwrap();
        w.write(record(6));
        w.write(record(7));
        w.close();
        assert_eq!(calls(&path), vec![7]);
        assert_eq!(calls(&rotated(1)), vec![5, 6]);
        assert_eq!(calls(&rotated(3)), vec![1, 2]);
    }

    #[test]
    fn rotation_keeps_a_bounded_number_of_files() {
        let path = tmp("bounded");
        let w = CdrWriter::open(&path, 1).unwrap();
        for call in 1..=(u64::from(KEEP_ROTATED) + 5) {
            w.write(record(call));
        }
        assert_eq!(w.dropped(), 0);
        w.close();
        let dir = path.parent().unwrap();
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            KEEP_ROTATED as usize + 1
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let path = tmp("full");
        // A queue of zero: a send only succeeds when the thread is waiting right then, so a
        // burst is mostly dropped, never blocking.
        let w = CdrWriter::with_queue(&path, 0, 0).unwrap();
        for call in 1..=200 {
            w.write(record(call));
        }
        let dropped = w.dropped();
        assert!(dropped > 0, "nothing dropped");
        w.close();
        let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
        assert_eq!(lines + dropped, 200);
    }

    #[test]
    fn an_unwritable_path_is_an_error_at_open() {
        let e = CdrWriter::open(Path::new("/nonexistent-dir/cdr.jsonl"), 0).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cdr file /nonexistent-dir/cdr.jsonl:"),
            "{e}"
        );
    }
}
