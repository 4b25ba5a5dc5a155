//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, with RFC 6026 §8.5–§8.7 Accepted).

use super::timers::{Timer, TimerConfig, TimerTable};
use super::{Effect, TransactionError};
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use std::time::{Duration, Instant};

/// The states of an INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerInviteState {
    /// INVITE received, 100 Trying sent; the TU may send provisionals (RFC 3261 §17.2.1).
    Proceeding,
    /// A 300–699 was sent; G retransmits it until ACK, H gives up (RFC 3261 §17.2.1).
    Completed,
    /// The ACK arrived; timer I absorbs ACK retransmissions (RFC 3261 §17.2.1).
    Confirmed,
    /// A 2xx was sent; timer L absorbs INVITE retransmissions (RFC 6026 §8.7).
    Accepted,
    /// Done; the layer drops the transaction (RFC 3261 §17.2.1).
    Terminated,
}

impl ServerInviteState {
    fn name(self) -> &'static str {
        match self {
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Confirmed => "Confirmed",
            Self::Accepted => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

/// An INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §8.5–§8.7).
///
/// It sends 100 Trying as soon as it is created (RFC 3261 §17.2.1 allows that instead of waiting
/// 200 ms for the TU), so the peer's timer A stops at once.
#[derive(Clone, Debug)]
pub struct ServerInvite {
    state: ServerInviteState,
    /// The latest response sent: a provisional in Proceeding, the final in Completed.
    last: Bytes,
    reliable: bool,
    cfg: TimerConfig,
    timers: TimerTable,
    /// The current timer G interval (RFC 3261 §17.2.1: T1 doubling to T2).
    interval_g: Duration,
}

impl ServerInvite {
    /// Starts the transaction in Proceeding and sends 100 Trying at once (RFC 3261 §17.2.1,
    /// §8.2.6.1).
    pub fn new(
        _now: Instant,
        invite: &Message,
        reliable: bool,
        cfg: TimerConfig,
        out: &mut Vec<Effect>,
    ) -> Self {
        let trying = trying_for(invite).to_bytes();
        out.push(Effect::Send(trying.clone()));
        Self {
            state: ServerInviteState::Proceeding,
            last: trying,
            reliable,
            cfg,
            timers: TimerTable::default(),
            interval_g: cfg.t1,
        }
    }

    /// The current state (RFC 3261 §17.2.1).
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// When [`ServerInvite::on_timer`] must next be called (RFC 3261 §17.2.1).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The deadline of one timer, for inspection (RFC 3261 §17.2.1).
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// Feeds a retransmitted INVITE or an ACK matched to this transaction (RFC 3261 §17.2.1,
    /// RFC 6026 §8.7).
    pub fn on_request(&mut self, now: Instant, req: Message, out: &mut Vec<Effect>) {
        let is_ack = req.method() == Some(&Method::Ack);
        match self.state {
            ServerInviteState::Proceeding | ServerInviteState::Completed => {
                if is_ack {
                    if self.state == ServerInviteState::Completed {
                        self.timers.stop(Timer::G);
                        self.timers.stop(Timer::H);
                        self.state = ServerInviteState::Confirmed;
                        let i = self.cfg.t4_or_zero(self.reliable);
                        if i.is_zero() {
                            self.terminate(out);
                        } else {
                            self.timers.start(Timer::I, now, i);
                        }
                    }
                } else {
                    // A retransmitted INVITE gets the latest response again (RFC 3261 §17.2.1).
                    out.push(Effect::Send(self.last.clone()));
                }
            }
            // ACK and INVITE retransmissions are absorbed (RFC 3261 §17.2.1).
            ServerInviteState::Confirmed | ServerInviteState::Terminated => {}
            ServerInviteState::Accepted => {
                // ACKs go up to the TU, INVITE retransmissions are absorbed (RFC 6026 §8.7).
                if is_ack {
                    out.push(Effect::Ack(req));
                }
            }
        }
    }

    /// Sends a response from the TU (RFC 3261 §17.2.1, RFC 6026 §8.7): provisionals in
    /// Proceeding, the first final, and 2xx retransmissions in Accepted.
    pub fn send_response(
        &mut self,
        now: Instant,
        rsp: &Message,
        out: &mut Vec<Effect>,
    ) -> Result<(), TransactionError> {
        let code = rsp
            .status()
            .ok_or(TransactionError::Malformed("not a response"))?;
        let refuse = TransactionError::NotAllowed {
            code,
            state: self.state.name(),
        };
        match self.state {
            ServerInviteState::Proceeding => {
                let bytes = rsp.to_bytes();
                out.push(Effect::Send(bytes.clone()));
                if code < 200 {
                    self.last = bytes;
                } else if code < 300 {
                    // Accepted absorbs INVITE retransmissions: the provisional is not sent again.
                    self.last = Bytes::new();
                    self.state = ServerInviteState::Accepted;
                    self.timers.start(Timer::L, now, self.cfg.t1_x64());
                } else {
                    self.last = bytes;
                    self.state = ServerInviteState::Completed;
                    if !self.reliable {
                        self.timers.start(Timer::G, now, self.cfg.t1);
                    }
                    self.timers.start(Timer::H, now, self.cfg.t1_x64());
                }
                Ok(())
            }
            ServerInviteState::Accepted => {
                if (200..300).contains(&code) {
                    out.push(Effect::Send(rsp.to_bytes()));
                    Ok(())
                } else {
                    Err(refuse)
                }
            }
            ServerInviteState::Completed
            | ServerInviteState::Confirmed
            | ServerInviteState::Terminated => Err(refuse),
        }
    }

    /// Fires every timer due at `now` (RFC 3261 §17.2.1, RFC 6026 §8.7).
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Effect>) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::G => {
                    if self.state == ServerInviteState::Completed {
                        out.push(Effect::Send(self.last.clone()));
                        self.interval_g = self.cfg.backoff_capped(self.interval_g);
                        self.timers.start(Timer::G, now, self.interval_g);
                    }
                }
                Timer::H => {
                    out.push(Effect::NoAck);
                    self.terminate(out);
                }
                Timer::I | Timer::L => self.terminate(out),
                Timer::A
                | Timer::B
                | Timer::D
                | Timer::E
                | Timer::F
                | Timer::J
                | Timer::K
                | Timer::M => {} // never armed by this transaction
            }
        }
    }

    /// Reports a transport failure sending a response (RFC 3261 §17.2.4); in Accepted the TU
    /// is told and the transaction stays for retransmitted INVITEs (RFC 6026 §8.7).
    pub fn on_transport_error(&mut self, out: &mut Vec<Effect>) {
        match self.state {
            ServerInviteState::Proceeding | ServerInviteState::Completed => {
                out.push(Effect::TransportError);
                self.terminate(out);
            }
            ServerInviteState::Accepted => out.push(Effect::TransportError),
            ServerInviteState::Confirmed | ServerInviteState::Terminated => {}
        }
    }

    fn terminate(&mut self, out: &mut Vec<Effect>) {
        self.timers.stop_all();
        self.state = ServerInviteState::Terminated;
        out.push(Effect::Terminated);
    }
}

/// The 100 Trying for an INVITE: the response_to fields plus any Timestamp (RFC 3261 §8.2.6.1).
pub fn trying_for(invite: &Message) -> Message {
    let mut rsp = Message::response_to(invite, 100, "Trying");
    if let Some(ts) = invite.header(&HeaderName::Timestamp) {
        rsp.push_header(HeaderName::Timestamp, ts.to_owned());
    }
    rsp
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, invite, parse_bytes, request_with, response, sent, t0};
    use super::*;

    fn start(reliable: bool) -> (ServerInvite, Message, Instant, Vec<Effect>) {
        let t0 = t0();
        let inv = invite("z9hG4bKsi1");
        let mut out = Vec::new();
        let tx = ServerInvite::new(t0, &inv, reliable, TimerConfig::default(), &mut out);
        (tx, inv, t0, out)
    }

    fn ack(inv: &Message, to_tag: &str) -> Message {
        request_with(
            "ACK",
            "z9hG4bKsi1",
            inv.cseq().map_or(1, |c| c.seq),
            Some(to_tag),
        )
    }

    #[test]
    fn creation_sends_100_trying_at_once() {
        let (tx, inv, _, out) = start(false);
        assert_eq!(tx.state(), ServerInviteState::Proceeding);
        let trying = parse_bytes(&sent(&out)[0]);
        assert_eq!(trying.status(), Some(100));
        assert_eq!(
            trying.header(&HeaderName::Via),
            inv.header(&HeaderName::Via)
        );
        assert_eq!(trying.to().and_then(|t| t.tag()), None);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn trying_copies_timestamp() {
        let mut inv = invite("z9hG4bKts");
        inv.push_header(HeaderName::Timestamp, "54");
        assert_eq!(trying_for(&inv).header(&HeaderName::Timestamp), Some("54"));
    }

    #[test]
    fn retransmitted_invite_resends_latest_provisional() {
        let (mut tx, inv, t0, first) = start(false);
        let mut out = Vec::new();
        tx.on_request(at(t0, 500), inv.clone(), &mut out);
        assert_eq!(sent(&out), sent(&first), "100 Trying again");
        out.clear();
        let ringing = response(&inv, 180, Some("s1"));
        tx.send_response(at(t0, 600), &ringing, &mut out)
            .unwrap_or(());
        assert_eq!(sent(&out), [ringing.to_bytes()]);
        out.clear();
        tx.on_request(at(t0, 1500), inv.clone(), &mut out);
        assert_eq!(sent(&out), [ringing.to_bytes()]);
        assert_eq!(tx.state(), ServerInviteState::Proceeding);
    }

    #[test]
    fn ack_in_proceeding_is_ignored() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        tx.on_request(at(t0, 10), ack(&inv, "x"), &mut out);
        assert!(out.is_empty());
        assert_eq!(tx.state(), ServerInviteState::Proceeding);
    }

    #[test]
    fn non_2xx_final_enters_completed_with_g_and_h() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        let busy = response(&inv, 486, Some("s1"));
        assert_eq!(tx.send_response(at(t0, 1000), &busy, &mut out), Ok(()));
        assert_eq!(sent(&out), [busy.to_bytes()]);
        assert_eq!(tx.state(), ServerInviteState::Completed);
        assert_eq!(tx.timer(Timer::G), Some(at(t0, 1500)));
        assert_eq!(tx.timer(Timer::H), Some(at(t0, 33_000)));
        // A second final is refused.
        let err = tx.send_response(at(t0, 1001), &response(&inv, 500, Some("s1")), &mut out);
        assert_eq!(
            err,
            Err(TransactionError::NotAllowed {
                code: 500,
                state: "Completed"
            })
        );
    }

    #[test]
    fn g_doubles_capped_at_t2_until_h_gives_no_ack() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        let busy = response(&inv, 486, Some("s1"));
        tx.send_response(t0, &busy, &mut out).unwrap_or(());
        let mut fired = Vec::new();
        let mut last = Vec::new();
        while let Some(next) = tx.next_deadline() {
            out.clear();
            tx.on_timer(next, &mut out);
            for b in sent(&out) {
                assert_eq!(b, busy.to_bytes());
                fired.push(next.duration_since(t0).as_millis());
            }
            last = out.clone();
        }
        assert_eq!(
            fired,
            [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
        );
        assert_eq!(last, [Effect::NoAck, Effect::Terminated]);
        assert_eq!(tx.state(), ServerInviteState::Terminated);
    }

    #[test]
    fn completed_resends_final_on_invite_retransmission() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        let busy = response(&inv, 603, Some("s1"));
        tx.send_response(t0, &busy, &mut out).unwrap_or(());
        out.clear();
        tx.on_request(at(t0, 100), inv.clone(), &mut out);
        assert_eq!(sent(&out), [busy.to_bytes()]);
    }

    #[test]
    fn ack_enters_confirmed_with_i_then_terminates() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        tx.send_response(t0, &response(&inv, 404, Some("s1")), &mut out)
            .unwrap_or(());
        out.clear();
        tx.on_request(at(t0, 700), ack(&inv, "s1"), &mut out);
        assert!(out.is_empty(), "ACK for non-2xx is absorbed");
        assert_eq!(tx.state(), ServerInviteState::Confirmed);
        assert_eq!(tx.timer(Timer::G), None);
        assert_eq!(tx.timer(Timer::H), None);
        assert_eq!(tx.timer(Timer::I), Some(at(t0, 5700)));
        tx.on_request(at(t0, 800), ack(&inv, "s1"), &mut out);
        tx.on_request(at(t0, 900), inv.clone(), &mut out);
        assert!(out.is_empty(), "Confirmed absorbs ACK and INVITE");
        tx.on_timer(at(t0, 5699), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 5700), &mut out);
        assert_eq!(out, [Effect::Terminated]);
    }

    #[test]
    fn reliable_has_no_g_and_i_is_zero() {
        let (mut tx, inv, t0, _) = start(true);
        let mut out = Vec::new();
        tx.send_response(t0, &response(&inv, 480, Some("s1")), &mut out)
            .unwrap_or(());
        assert_eq!(tx.timer(Timer::G), None);
        assert_eq!(tx.timer(Timer::H), Some(at(t0, 32_000)));
        out.clear();
        tx.on_request(at(t0, 10), ack(&inv, "s1"), &mut out);
        assert_eq!(out, [Effect::Terminated]);
        assert_eq!(tx.state(), ServerInviteState::Terminated);
    }

    #[test]
    fn reliable_h_still_fires() {
        let (mut tx, inv, t0, _) = start(true);
        let mut out = Vec::new();
        tx.send_response(t0, &response(&inv, 480, Some("s1")), &mut out)
            .unwrap_or(());
        out.clear();
        tx.on_timer(at(t0, 32_000), &mut out);
        assert_eq!(out, [Effect::NoAck, Effect::Terminated]);
    }

    #[test]
    fn two_xx_enters_accepted_with_l() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        let ok = response(&inv, 200, Some("s1"));
        assert_eq!(tx.send_response(at(t0, 2000), &ok, &mut out), Ok(()));
        assert_eq!(sent(&out), [ok.to_bytes()]);
        assert_eq!(tx.state(), ServerInviteState::Accepted);
        assert_eq!(tx.timer(Timer::L), Some(at(t0, 34_000)));
        assert_eq!(
            tx.timer(Timer::G),
            None,
            "2xx retransmission is the TU's job"
        );
    }

    #[test]
    fn accepted_absorbs_invites_passes_acks_and_tu_2xx() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        let ok = response(&inv, 200, Some("s1"));
        tx.send_response(t0, &ok, &mut out).unwrap_or(());
        out.clear();
        tx.on_request(at(t0, 500), inv.clone(), &mut out);
        assert!(
            out.is_empty(),
            "INVITE retransmission absorbed, 2xx not re-sent"
        );
        assert_eq!(tx.send_response(at(t0, 500), &ok, &mut out), Ok(()));
        assert_eq!(
            sent(&out),
            [ok.to_bytes()],
            "TU's 2xx retransmission passes"
        );
        out.clear();
        let a = ack(&inv, "s1");
        tx.on_request(at(t0, 600), a.clone(), &mut out);
        assert_eq!(out, [Effect::Ack(a)]);
        assert_eq!(tx.state(), ServerInviteState::Accepted);
        assert!(tx
            .send_response(at(t0, 700), &response(&inv, 486, Some("s1")), &mut out)
            .is_err());
        out.clear();
        tx.on_timer(at(t0, 31_999), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 32_000), &mut out);
        assert_eq!(out, [Effect::Terminated]);
    }

    #[test]
    fn provisionals_then_final() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        for code in [180, 183] {
            assert_eq!(
                tx.send_response(t0, &response(&inv, code, Some("s")), &mut out),
                Ok(())
            );
            assert_eq!(tx.state(), ServerInviteState::Proceeding);
        }
        assert_eq!(
            tx.send_response(t0, &response(&inv, 302, Some("s")), &mut out),
            Ok(())
        );
        assert_eq!(tx.state(), ServerInviteState::Completed);
    }

    #[test]
    fn transport_errors() {
        let (mut tx, inv, t0, _) = start(false);
        let mut out = Vec::new();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError, Effect::Terminated]);

        let (mut tx, _, _, _) = start(false);
        out.clear();
        tx.send_response(t0, &response(&inv, 500, Some("s")), &mut out)
            .unwrap_or(());
        out.clear();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError, Effect::Terminated]);

        let (mut tx, _, _, _) = start(false);
        tx.send_response(t0, &response(&inv, 200, Some("s")), &mut out)
            .unwrap_or(());
        out.clear();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError]);
        assert_eq!(tx.state(), ServerInviteState::Accepted);
    }
}
