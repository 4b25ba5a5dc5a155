//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

use super::timers::{Timer, TimerConfig, TimerTable};
use super::Effect;
use bytes::Bytes;
use sbc_common::sip::Message;
use std::time::{Duration, Instant};

/// The states of a non-INVITE client transaction (RFC 3261 §17.1.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// Request sent, no response yet; timers E and F run (RFC 3261 §17.1.2.2).
    Trying,
    /// A provisional arrived; E keeps retransmitting every T2 (RFC 3261 §17.1.2.2).
    Proceeding,
    /// A final arrived; timer K absorbs retransmitted responses (RFC 3261 §17.1.2.2).
    Completed,
    /// Done; the layer drops the transaction (RFC 3261 §17.1.2.2).
    Terminated,
}

/// A non-INVITE client transaction (RFC 3261 §17.1.2).
#[derive(Clone, Debug)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    /// The request as sent, for timer E retransmissions.
    bytes: Bytes,
    reliable: bool,
    cfg: TimerConfig,
    timers: TimerTable,
    /// The current timer E interval (RFC 3261 §17.1.2.2: T1 doubling to T2).
    interval_e: Duration,
}

impl ClientNonInvite {
    /// Starts the transaction in Trying: sends the request, arms E (unreliable only) and F
    /// (RFC 3261 §17.1.2.2).
    pub fn new(
        now: Instant,
        request: &Message,
        reliable: bool,
        cfg: TimerConfig,
        out: &mut Vec<Effect>,
    ) -> Self {
        let bytes = request.to_bytes();
        let mut timers = TimerTable::default();
        if !reliable {
            timers.start(Timer::E, now, cfg.t1);
        }
        timers.start(Timer::F, now, cfg.t1_x64());
        out.push(Effect::Send(bytes.clone()));
        Self {
            state: ClientNonInviteState::Trying,
            bytes,
            reliable,
            cfg,
            timers,
            interval_e: cfg.t1,
        }
    }

    /// The current state (RFC 3261 §17.1.2.2).
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// When [`ClientNonInvite::on_timer`] must next be called (RFC 3261 §17.1.2.2).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The deadline of one timer, for inspection (RFC 3261 §17.1.2.2).
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// Feeds a response matched to this transaction (RFC 3261 §17.1.2.2).
    pub fn on_response(&mut self, now: Instant, rsp: Message, out: &mut Vec<Effect>) {
        let Some(code) = rsp.status() else {
            return;
        };
        match self.state {
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding => {
                out.push(Effect::Response(rsp));
                if code < 200 {
                    self.state = ClientNonInviteState::Proceeding;
                } else {
                    self.timers.stop_all();
                    self.state = ClientNonInviteState::Completed;
                    let k = self.cfg.t4_or_zero(self.reliable);
                    if k.is_zero() {
                        self.terminate(out);
                    } else {
                        self.timers.start(Timer::K, now, k);
                    }
                }
            }
            // Retransmitted responses are absorbed (RFC 3261 §17.1.2.2).
            ClientNonInviteState::Completed | ClientNonInviteState::Terminated => {}
        }
    }

    /// Fires every timer due at `now` (RFC 3261 §17.1.2.2).
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Effect>) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::E => {
                    out.push(Effect::Send(self.bytes.clone()));
                    self.interval_e = match self.state {
                        ClientNonInviteState::Proceeding => self.cfg.t2,
                        ClientNonInviteState::Trying
                        | ClientNonInviteState::Completed
                        | ClientNonInviteState::Terminated => {
                            self.cfg.backoff_capped(self.interval_e)
                        }
                    };
                    self.timers.start(Timer::E, now, self.interval_e);
                }
                Timer::F => {
                    out.push(Effect::Timeout(Timer::F));
                    self.terminate(out);
                }
                Timer::K => self.terminate(out),
                Timer::A
                | Timer::B
                | Timer::D
                | Timer::G
                | Timer::H
                | Timer::I
                | Timer::J
                | Timer::L
                | Timer::M => {} // never armed by this transaction
            }
        }
    }

    /// Reports a transport failure (RFC 3261 §17.1.4): Trying and Proceeding end with an error.
    pub fn on_transport_error(&mut self, out: &mut Vec<Effect>) {
        match self.state {
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding => {
                out.push(Effect::TransportError);
                self.terminate(out);
            }
            ClientNonInviteState::Completed | ClientNonInviteState::Terminated => {}
        }
    }

    fn terminate(&mut self, out: &mut Vec<Effect>) {
        self.timers.stop_all();
        self.state = ClientNonInviteState::Terminated;
        out.push(Effect::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, request, response, sent, t0};
    use super::*;

    fn start(reliable: bool) -> (ClientNonInvite, Message, Instant) {
        let t0 = t0();
        let req = request("OPTIONS", "z9hG4bKcn1");
        let mut out = Vec::new();
        let tx = ClientNonInvite::new(t0, &req, reliable, TimerConfig::default(), &mut out);
        assert_eq!(sent(&out), [req.to_bytes()]);
        (tx, req, t0)
    }

    /// Runs the timers to the end and returns the instants (ms after t0) of retransmissions.
    fn run(tx: &mut ClientNonInvite, t0: Instant) -> (Vec<u128>, Vec<Effect>) {
        let mut fired = Vec::new();
        let mut last = Vec::new();
        while let Some(next) = tx.next_deadline() {
            let mut out = Vec::new();
            tx.on_timer(next, &mut out);
            if !sent(&out).is_empty() {
                fired.push(next.duration_since(t0).as_millis());
            }
            last = out;
        }
        (fired, last)
    }

    #[test]
    fn trying_arms_e_at_t1_and_f_at_64_t1() {
        let (tx, _, t0) = start(false);
        assert_eq!(tx.state(), ClientNonInviteState::Trying);
        assert_eq!(tx.timer(Timer::E), Some(at(t0, 500)));
        assert_eq!(tx.timer(Timer::F), Some(at(t0, 32_000)));
    }

    #[test]
    fn e_doubles_to_t2_then_f_times_out() {
        let (mut tx, _, t0) = start(false);
        let (fired, last) = run(&mut tx, t0);
        // 0.5, 1.5, 3.5, 7.5, then every 4 s.
        assert_eq!(
            fired,
            [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
        );
        assert_eq!(last, [Effect::Timeout(Timer::F), Effect::Terminated]);
        assert_eq!(tx.state(), ClientNonInviteState::Terminated);
    }

    #[test]
    fn proceeding_retransmits_every_t2() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        tx.on_timer(at(t0, 500), &mut out); // E -> 1000 ms interval, next at 1500
        out.clear();
        tx.on_response(at(t0, 600), response(&req, 100, None), &mut out);
        assert_eq!(tx.state(), ClientNonInviteState::Proceeding);
        assert_eq!(out.len(), 1, "provisional goes up");
        assert_eq!(tx.timer(Timer::E), Some(at(t0, 1500)), "E keeps running");
        let (fired, last) = run(&mut tx, t0);
        assert_eq!(
            fired,
            [1500, 5500, 9500, 13_500, 17_500, 21_500, 25_500, 29_500]
        );
        assert_eq!(last, [Effect::Timeout(Timer::F), Effect::Terminated]);
    }

    #[test]
    fn final_enters_completed_with_k_and_absorbs_retransmissions() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        tx.on_response(at(t0, 100), response(&req, 180, None), &mut out);
        tx.on_response(at(t0, 200), response(&req, 200, Some("t")), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(tx.state(), ClientNonInviteState::Completed);
        assert_eq!(tx.timer(Timer::K), Some(at(t0, 5200)));
        assert_eq!(tx.timer(Timer::E), None);
        assert_eq!(tx.timer(Timer::F), None);
        out.clear();
        tx.on_response(at(t0, 300), response(&req, 200, Some("t")), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 5199), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 5200), &mut out);
        assert_eq!(out, [Effect::Terminated]);
    }

    #[test]
    fn final_from_trying_for_each_class() {
        for code in [200, 302, 404, 500, 603] {
            let (mut tx, req, t0) = start(false);
            let mut out = Vec::new();
            tx.on_response(at(t0, 10), response(&req, code, Some("t")), &mut out);
            assert_eq!(tx.state(), ClientNonInviteState::Completed, "{code}");
            assert_eq!(out, [Effect::Response(response(&req, code, Some("t")))]);
        }
    }

    #[test]
    fn reliable_has_no_e_and_k_is_zero() {
        let (mut tx, req, t0) = start(true);
        assert_eq!(tx.timer(Timer::E), None);
        assert_eq!(tx.timer(Timer::F), Some(at(t0, 32_000)));
        let mut out = Vec::new();
        tx.on_response(at(t0, 10), response(&req, 200, Some("t")), &mut out);
        assert_eq!(tx.state(), ClientNonInviteState::Terminated);
        assert_eq!(out.last(), Some(&Effect::Terminated));
    }

    #[test]
    fn reliable_f_times_out() {
        let (mut tx, _, t0) = start(true);
        let (fired, last) = run(&mut tx, t0);
        assert!(fired.is_empty());
        assert_eq!(last, [Effect::Timeout(Timer::F), Effect::Terminated]);
    }

    #[test]
    fn transport_error_terminates_in_trying_and_proceeding() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError, Effect::Terminated]);

        let (mut tx, _, _) = start(false);
        out.clear();
        tx.on_response(at(t0, 1), response(&req, 100, None), &mut out);
        out.clear();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError, Effect::Terminated]);
    }
}
