//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

use super::timers::{Timer, TimerConfig, TimerTable};
use super::{Effect, TransactionError};
use bytes::Bytes;
use sbc_common::sip::Message;
use std::time::Instant;

/// The states of a non-INVITE server transaction (RFC 3261 §17.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// Request received and passed up; retransmissions are absorbed (RFC 3261 §17.2.2).
    Trying,
    /// A provisional was sent; retransmissions get it again (RFC 3261 §17.2.2).
    Proceeding,
    /// A final was sent; timer J re-answers retransmissions with it (RFC 3261 §17.2.2).
    Completed,
    /// Done; the layer drops the transaction (RFC 3261 §17.2.2).
    Terminated,
}

impl ServerNonInviteState {
    fn name(self) -> &'static str {
        match self {
            Self::Trying => "Trying",
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Terminated => "Terminated",
        }
    }
}

/// A non-INVITE server transaction (RFC 3261 §17.2.2).
#[derive(Clone, Debug)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    /// The latest response sent, re-sent for retransmitted requests.
    last: Option<Bytes>,
    reliable: bool,
    cfg: TimerConfig,
    timers: TimerTable,
}

impl ServerNonInvite {
    /// Starts the transaction in Trying; nothing is sent until the TU answers (RFC 3261 §17.2.2).
    pub fn new(reliable: bool, cfg: TimerConfig) -> Self {
        Self {
            state: ServerNonInviteState::Trying,
            last: None,
            reliable,
            cfg,
            timers: TimerTable::default(),
        }
    }

    /// The current state (RFC 3261 §17.2.2).
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// When [`ServerNonInvite::on_timer`] must next be called (RFC 3261 §17.2.2).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The deadline of one timer, for inspection (RFC 3261 §17.2.2).
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// Feeds a retransmission of the request (RFC 3261 §17.2.2).
    pub fn on_request(&mut self, _now: Instant, _req: Message, out: &mut Vec<Effect>) {
        match self.state {
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed => {
                if let Some(last) = &self.last {
                    out.push(Effect::Send(last.clone()));
                }
            }
            ServerNonInviteState::Trying | ServerNonInviteState::Terminated => {}
        }
    }

    /// Sends a response from the TU (RFC 3261 §17.2.2); nothing may follow a final.
    pub fn send_response(
        &mut self,
        now: Instant,
        rsp: &Message,
        out: &mut Vec<Effect>,
    ) -> Result<(), TransactionError> {
        let code = rsp
            .status()
            .ok_or(TransactionError::Malformed("not a response"))?;
        match self.state {
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding => {
                let bytes = rsp.to_bytes();
                out.push(Effect::Send(bytes.clone()));
                self.last = Some(bytes);
                if code < 200 {
                    self.state = ServerNonInviteState::Proceeding;
                } else {
                    self.state = ServerNonInviteState::Completed;
                    let j = self.cfg.timer_j(self.reliable);
                    if j.is_zero() {
                        self.terminate(out);
                    } else {
                        self.timers.start(Timer::J, now, j);
                    }
                }
                Ok(())
            }
            ServerNonInviteState::Completed | ServerNonInviteState::Terminated => {
                Err(TransactionError::NotAllowed {
                    code,
                    state: self.state.name(),
                })
            }
        }
    }

    /// Fires every timer due at `now` (RFC 3261 §17.2.2).
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Effect>) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::J => self.terminate(out),
                Timer::A
                | Timer::B
                | Timer::D
                | Timer::E
                | Timer::F
                | Timer::G
                | Timer::H
                | Timer::I
                | Timer::K
                | Timer::L
                | Timer::M => {} // never armed by this transaction
            }
        }
    }

    /// Reports a transport failure sending a response (RFC 3261 §17.2.4).
    pub fn on_transport_error(&mut self, out: &mut Vec<Effect>) {
        match self.state {
            ServerNonInviteState::Trying
            | ServerNonInviteState::Proceeding
            | ServerNonInviteState::Completed => {
                out.push(Effect::TransportError);
                self.terminate(out);
            }
            ServerNonInviteState::Terminated => {}
        }
    }

    fn terminate(&mut self, out: &mut Vec<Effect>) {
        self.timers.stop_all();
        self.state = ServerNonInviteState::Terminated;
        out.push(Effect::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, request, response, sent, t0};
    use super::*;

    fn start(reliable: bool) -> (ServerNonInvite, Message, Instant) {
        (
            ServerNonInvite::new(reliable, TimerConfig::default()),
            request("BYE", "z9hG4bKsn1"),
            t0(),
        )
    }

    #[test]
    fn trying_absorbs_retransmissions() {
        let (mut tx, req, t0) = start(false);
        assert_eq!(tx.state(), ServerNonInviteState::Trying);
        assert_eq!(tx.next_deadline(), None);
        let mut out = Vec::new();
        tx.on_request(at(t0, 500), req, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn provisional_enters_proceeding_and_is_resent() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        let trying = response(&req, 100, None);
        assert_eq!(tx.send_response(t0, &trying, &mut out), Ok(()));
        assert_eq!(tx.state(), ServerNonInviteState::Proceeding);
        out.clear();
        tx.on_request(at(t0, 500), req.clone(), &mut out);
        assert_eq!(sent(&out), [trying.to_bytes()]);
        let p2 = response(&req, 183, Some("t"));
        tx.send_response(t0, &p2, &mut out).unwrap_or(());
        out.clear();
        tx.on_request(at(t0, 600), req, &mut out);
        assert_eq!(sent(&out), [p2.to_bytes()], "latest provisional");
    }

    #[test]
    fn final_from_trying_enters_completed_with_j() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        let ok = response(&req, 200, Some("t"));
        tx.send_response(at(t0, 100), &ok, &mut out).unwrap_or(());
        assert_eq!(sent(&out), [ok.to_bytes()]);
        assert_eq!(tx.state(), ServerNonInviteState::Completed);
        assert_eq!(tx.timer(Timer::J), Some(at(t0, 32_100)));
    }

    #[test]
    fn completed_resends_final_refuses_more_and_j_terminates() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        tx.send_response(t0, &response(&req, 100, None), &mut out)
            .unwrap_or(());
        let nf = response(&req, 404, Some("t"));
        tx.send_response(t0, &nf, &mut out).unwrap_or(());
        assert_eq!(tx.state(), ServerNonInviteState::Completed);
        out.clear();
        tx.on_request(at(t0, 500), req.clone(), &mut out);
        tx.on_request(at(t0, 1500), req.clone(), &mut out);
        assert_eq!(sent(&out), [nf.to_bytes(), nf.to_bytes()]);
        assert_eq!(
            tx.send_response(t0, &response(&req, 200, Some("t")), &mut out),
            Err(TransactionError::NotAllowed {
                code: 200,
                state: "Completed"
            })
        );
        out.clear();
        tx.on_timer(at(t0, 31_999), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 32_000), &mut out);
        assert_eq!(out, [Effect::Terminated]);
        assert_eq!(tx.state(), ServerNonInviteState::Terminated);
    }

    #[test]
    fn reliable_j_is_zero() {
        let (mut tx, req, t0) = start(true);
        let mut out = Vec::new();
        tx.send_response(t0, &response(&req, 200, Some("t")), &mut out)
            .unwrap_or(());
        assert_eq!(tx.state(), ServerNonInviteState::Terminated);
        assert_eq!(out.last(), Some(&Effect::Terminated));
    }

    #[test]
    fn not_a_response_is_refused() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        assert_eq!(
            tx.send_response(t0, &req, &mut out),
            Err(TransactionError::Malformed("not a response"))
        );
    }

    #[test]
    fn transport_error_terminates() {
        let (mut tx, req, t0) = start(false);
        let mut out = Vec::new();
        tx.send_response(t0, &response(&req, 100, None), &mut out)
            .unwrap_or(());
        out.clear();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError, Effect::Terminated]);
    }
}
