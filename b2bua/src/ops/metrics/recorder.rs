//! The endpoint's side of the metrics: what it records per message, per call event and per
//! housekeeping tick into the shared [`Metrics`], with the per-call setup times and the last
//! totals it needs to turn running totals into counter increments.

use super::*;

/// What the endpoint remembers of a live call for the setup-time histograms.
#[derive(Clone, Copy, Debug)]
pub(super) struct CallTiming {
    invite: Instant,
    provisional: bool,
    answered: bool,
}

/// The endpoint's side of the metrics: records into a shared [`Metrics`], keeping the per-call
/// start times and the relay's last totals that need no sharing (RFC 3261 §13 call setup).
#[derive(Debug)]
pub struct Recorder {
    metrics: Arc<Metrics>,
    pub(super) calls: Map<CallKey, CallTiming>,
    relay_last: RelayMetrics,
    registrations_last: RegistrationNumbers,
    admission_last: [u64; 6],
}

impl Recorder {
    /// A recorder writing into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            calls: Map::default(),
            relay_last: RelayMetrics::default(),
            registrations_last: RegistrationNumbers::default(),
            admission_last: [0; 6],
        }
    }

    /// How many calls' setup times are being followed.
    pub fn timed_calls(&self) -> usize {
        self.calls.len()
    }

    /// The shared metrics, for the admin server.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Counts a parsed message received (RFC 3261 §7: request by method, response by class).
    pub fn received(&self, msg: &Message) {
        let m = &self.metrics;
        match (msg.method(), msg.status()) {
            (Some(method), _) => m.requests_received.inc(method.as_str()),
            (None, Some(status)) => m.responses_received.inc(status),
            (None, None) => {}
        }
    }

    /// Records the front door's totals: the gauge is set, the counters move by what is new
    /// since the last call (RFC 3261 §10.3, §22).
    pub fn registrations(&mut self, now: RegistrationNumbers) {
        let m = &self.metrics.registrations;
        m.active.set(i64::try_from(now.active).unwrap_or(i64::MAX));
        let last = self.registrations_last;
        // A total below the last one was restarted (a reload rebuilt its source): all of it is
        // new.
        let new = |now: u64, last: u64| if now >= last { now - last } else { now };
        m.refreshes_absorbed
            .inc_by(new(now.refreshes_absorbed, last.refreshes_absorbed));
        m.auth_challenges
            .inc_by(new(now.auth_challenges, last.auth_challenges));
        m.auth_failures
            .inc_by(new(now.auth_failures, last.auth_failures));
        m.rate_limited
            .inc_by(new(now.rate_limited, last.rate_limited));
        for (i, key) in crate::edge::throttle::ThrottleKey::ALL.iter().enumerate() {
            m.auth_blocks
                .with_label_values(&[key.as_str()])
                .inc_by(new(now.auth_blocks[i], last.auth_blocks[i]));
        }
        self.registrations_last = now;
    }

    /// Moves the admission refusal totals (in `edge::admission::Refusal::ALL` order) into
    /// `sbc_admission_refused_total`.
    pub fn admission(&mut self, now: &[u64; 6]) {
        for (i, refusal) in crate::edge::admission::Refusal::ALL.iter().enumerate() {
            let new = now[i].saturating_sub(self.admission_last[i]);
            if new > 0 {
                self.metrics
                    .admission_refused
                    .with_label_values(&[refusal.as_str()])
                    .inc_by(new);
            }
        }
        self.admission_last = *now;
    }

    /// Counts a datagram that did not parse as SIP.
    pub fn unreadable(&self) {
        self.metrics.unreadable.inc();
    }

    /// Counts a serialized message sent, read from its start line (RFC 3261 §7.1, §7.2).
    pub fn sent(&self, bytes: &[u8]) {
        let m = &self.metrics;
        if let Some(rest) = bytes.strip_prefix(b"SIP/2.0 ") {
            let status = rest
                .get(..3)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<u16>().ok());
            if let Some(s) = status {
                m.responses_sent.inc(s);
            }
        } else {
            let end = bytes.iter().position(|&b| b == b' ').unwrap_or(0);
            let token = bytes
                .get(..end)
                .and_then(|t| std::str::from_utf8(t).ok())
                .unwrap_or(OTHER);
            m.requests_sent.inc(token);
        }
    }

    /// Records a call event at `now`: calls started and ended, setup times (RFC 3261 §13).
    pub fn call_event(&mut self, now: Instant, event: &CallEvent) {
        let m = &self.metrics;
        match event {
            CallEvent::Started { call, .. } => {
                if self.calls.len() >= MAX_TIMED_CALLS {
                    self.calls.clear();
                }
                self.calls.insert(
                    *call,
                    CallTiming {
                        invite: now,
                        provisional: false,
                        answered: false,
                    },
                );
            }
            CallEvent::Progress { call, .. } => {
                if let Some(t) = self.calls.get_mut(call).filter(|t| !t.provisional) {
                    t.provisional = true;
                    m.setup_provisional
                        .observe(now.saturating_duration_since(t.invite).as_secs_f64());
                }
            }
            // A new leg-B attempt is part of the same call's setup; only the log shows it.
            CallEvent::Rerouted { .. } => {}
            CallEvent::Answered { call } => {
                if let Some(t) = self.calls.get_mut(call).filter(|t| !t.answered) {
                    t.answered = true;
                    m.setup_answer
                        .observe(now.saturating_duration_since(t.invite).as_secs_f64());
                }
            }
            CallEvent::Ended { call, reason, code } => {
                let answered = self.calls.remove(call).is_some_and(|t| t.answered);
                let outcome = Outcome::of(answered, *reason, *code);
                if let Some(c) = m.calls.get(outcome.index()) {
                    c.inc();
                }
            }
        }
    }

    /// Records the call core's live counts (RFC 3261 §12, §17).
    pub fn core(&self, calls: usize, transactions: usize, dialogs: usize) {
        let m = &self.metrics;
        let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
        m.calls_active.set(n(calls));
        m.transactions_active.set(n(transactions));
        m.dialogs_active.set(n(dialogs));
    }

    /// Records the size of each named table ([`crate::endpoint::Endpoint::table_sizes`]).
    pub fn tables(&self, sizes: &[(&'static str, usize)]) {
        for (name, n) in sizes {
            self.metrics
                .tables
                .with_label_values(&[name])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// Records the relay's totals: counters grow by the change since the last call (never
    /// backwards), gauges are set.
    pub fn relay(&mut self, now: &RelayMetrics) {
        let h = &self.metrics.relay;
        let last = &self.relay_last;
        let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        let add = |c: &GenericCounter<AtomicU64>, new: u64, old: u64| {
            c.inc_by(new.saturating_sub(old));
        };
        let backend = [now.backend];
        add(
            &h.forwarded_packets.with_label_values(&backend),
            now.forwarded_packets,
            last.forwarded_packets,
        );
        add(
            &h.forwarded_bytes.with_label_values(&backend),
            now.forwarded_bytes,
            last.forwarded_bytes,
        );
        add(
            &h.received_packets.with_label_values(&backend),
            now.received,
            last.received,
        );
        add(
            &h.syscalls.with_label_values(&backend),
            now.syscalls,
            last.syscalls,
        );
        for ((c, new), old) in h.drops.iter().zip(now.drops).zip(last.drops) {
            add(c, new, old);
        }
        add(&h.latch_events, now.latch_events, last.latch_events);
        add(&h.stun_answered, now.stun_answered, last.stun_answered);
        add(
            &h.dtls.with_label_values(&["connected"]),
            now.dtls_connected,
            last.dtls_connected,
        );
        add(
            &h.dtls.with_label_values(&["failed"]),
            now.dtls_failed,
            last.dtls_failed,
        );
        add(&h.turns, now.turns, last.turns);
        let cpu_ns = now.cpu_ns.saturating_sub(last.cpu_ns);
        // Nanoseconds to seconds; u64 → f64 loses precision only past 2^53 ns (104 days).
        #[allow(clippy::cast_precision_loss)]
        h.cpu_seconds.inc_by(cpu_ns as f64 / 1e9);
        h.sessions.set(n(now.sessions));
        h.streams.set(n(now.streams));
        h.twins.set(n(now.twins));
        for (iface, in_use, free) in &now.ports {
            let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
            h.ports_in_use.with_label_values(&[iface]).set(n(*in_use));
            h.ports_free.with_label_values(&[iface]).set(n(*free));
        }
        self.relay_last = now.clone();
    }
}
