//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, with RFC 6026 §8.4 Accepted).

use super::timers::{Timer, TimerConfig, TimerTable};
use super::Effect;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use std::time::{Duration, Instant};

/// The states of an INVITE client transaction (RFC 3261 §17.1.1.2, RFC 6026 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientInviteState {
    /// INVITE sent, no response yet; timers A and B run (RFC 3261 §17.1.1.2).
    Calling,
    /// A provisional response arrived; no more retransmissions (RFC 3261 §17.1.1.2).
    Proceeding,
    /// A 300–699 arrived and was ACKed; timer D absorbs retransmissions (RFC 3261 §17.1.1.2).
    Completed,
    /// A 2xx arrived; timer M passes 2xx retransmissions to the TU (RFC 6026 §8.4).
    Accepted,
    /// Done; the layer drops the transaction (RFC 3261 §17.1.1.2).
    Terminated,
}

/// An INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §8.4).
#[derive(Clone, Debug)]
pub struct ClientInvite {
    state: ClientInviteState,
    /// The INVITE, needed to build the ACK for a non-2xx response (RFC 3261 §17.1.1.3); let go
    /// at the final response, so a transaction in Accepted or Completed holds no request.
    invite: Option<Box<Message>>,
    /// The INVITE as sent, for timer A retransmissions; emptied at the first response.
    bytes: Bytes,
    /// The ACK sent for the non-2xx final, re-sent for each retransmission of it.
    ack: Option<Bytes>,
    reliable: bool,
    cfg: TimerConfig,
    timers: TimerTable,
    /// The current timer A interval (RFC 3261 §17.1.1.2: T1, doubled each time).
    interval_a: Duration,
}

impl ClientInvite {
    /// Starts the transaction in Calling: sends the INVITE, arms A (unreliable only) and B
    /// (RFC 3261 §17.1.1.2).
    pub fn new(
        now: Instant,
        invite: Message,
        reliable: bool,
        cfg: TimerConfig,
        out: &mut Vec<Effect>,
    ) -> Self {
        let bytes = invite.to_bytes();
        let mut timers = TimerTable::default();
        if !reliable {
            timers.start(Timer::A, now, cfg.t1);
        }
        timers.start(Timer::B, now, cfg.t1_x64());
        out.push(Effect::Send(bytes.clone()));
        Self {
            state: ClientInviteState::Calling,
            invite: Some(Box::new(invite)),
            bytes,
            ack: None,
            reliable,
            cfg,
            timers,
            interval_a: cfg.t1,
        }
    }

    /// The current state (RFC 3261 §17.1.1.2).
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// The INVITE that created the transaction, until its final response (RFC 3261 §17.1.1).
    pub fn request(&self) -> Option<&Message> {
        self.invite.as_deref()
    }

    /// When [`ClientInvite::on_timer`] must next be called (RFC 3261 §17.1.1.2).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The deadline of one timer, for inspection (RFC 3261 §17.1.1.2).
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// Feeds a response matched to this transaction (RFC 3261 §17.1.1.2, RFC 6026 §8.4).
    pub fn on_response(&mut self, now: Instant, rsp: Message, out: &mut Vec<Effect>) {
        let Some(code) = rsp.status() else {
            return;
        };
        match self.state {
            ClientInviteState::Calling | ClientInviteState::Proceeding => {
                // No more timer A retransmissions once anything came back.
                self.bytes = Bytes::new();
                if code < 200 {
                    // Timer B covers Calling only (RFC 3261 Figure 5); Proceeding waits on the TU.
                    self.timers.stop(Timer::A);
                    self.timers.stop(Timer::B);
                    self.state = ClientInviteState::Proceeding;
                    out.push(Effect::Response(rsp));
                } else if code < 300 {
                    self.invite = None;
                    self.timers.stop_all();
                    self.timers.start(Timer::M, now, self.cfg.t1_x64());
                    self.state = ClientInviteState::Accepted;
                    out.push(Effect::Response(rsp));
                } else {
                    self.timers.stop_all();
                    if let Some(invite) = self.invite.take() {
                        let ack = build_ack(&invite, &rsp).to_bytes();
                        out.push(Effect::Send(ack.clone()));
                        self.ack = Some(ack);
                    }
                    out.push(Effect::Response(rsp));
                    self.state = ClientInviteState::Completed;
                    let d = self.cfg.timer_d(self.reliable);
                    if d.is_zero() {
                        self.terminate(out);
                    } else {
                        self.timers.start(Timer::D, now, d);
                    }
                }
            }
            ClientInviteState::Completed => {
                // Retransmitted non-2xx finals are absorbed and ACKed again (RFC 3261 §17.1.1.2).
                if code >= 300 {
                    if let Some(ack) = &self.ack {
                        out.push(Effect::Send(ack.clone()));
                    }
                }
            }
            ClientInviteState::Accepted => {
                // Every 2xx goes up so the TU can ACK each one (RFC 6026 §8.4).
                if (200..300).contains(&code) {
                    out.push(Effect::Response(rsp));
                }
            }
            ClientInviteState::Terminated => {}
        }
    }

    /// Fires every timer due at `now` (RFC 3261 §17.1.1.2, RFC 6026 §8.4).
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Effect>) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::A => {
                    if self.state == ClientInviteState::Calling {
                        out.push(Effect::Send(self.bytes.clone()));
                        self.interval_a = self.interval_a.saturating_mul(2);
                        self.timers.start(Timer::A, now, self.interval_a);
                    }
                }
                Timer::B => {
                    out.push(Effect::Timeout(Timer::B));
                    self.terminate(out);
                }
                Timer::D | Timer::M => self.terminate(out),
                Timer::E
                | Timer::F
                | Timer::G
                | Timer::H
                | Timer::I
                | Timer::J
                | Timer::K
                | Timer::L => {} // never armed by this transaction
            }
        }
    }

    /// Reports a transport failure for this transaction's sends (RFC 3261 §17.1.4); in Accepted
    /// the transaction sends nothing itself, so the error only goes up.
    pub fn on_transport_error(&mut self, out: &mut Vec<Effect>) {
        match self.state {
            ClientInviteState::Calling
            | ClientInviteState::Proceeding
            | ClientInviteState::Completed => {
                out.push(Effect::TransportError);
                self.terminate(out);
            }
            ClientInviteState::Accepted => out.push(Effect::TransportError),
            ClientInviteState::Terminated => {}
        }
    }

    fn terminate(&mut self, out: &mut Vec<Effect>) {
        self.timers.stop_all();
        self.state = ClientInviteState::Terminated;
        out.push(Effect::Terminated);
    }
}

/// Builds the ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's Request-URI,
/// Call-ID, From, CSeq number and top Via, the response's To, and the INVITE's Route headers.
pub fn build_ack(invite: &Message, rsp: &Message) -> Message {
    let uri = invite.uri().unwrap_or_default().to_owned();
    let mut ack = Message::request(Method::Ack, uri);
    if let Some(via) = invite.values(&HeaderName::Via).next() {
        ack.push_header(HeaderName::Via, via.trim().to_owned());
    }
    let max_forwards = invite.header(&HeaderName::MaxForwards).unwrap_or("70");
    ack.push_header(HeaderName::MaxForwards, max_forwards.to_owned());
    for route in invite.headers_named(&HeaderName::Route) {
        ack.push_header(HeaderName::Route, route.value().to_owned());
    }
    if let Some(from) = invite.header(&HeaderName::From) {
        ack.push_header(HeaderName::From, from.to_owned());
    }
    if let Some(to) = rsp
        .header(&HeaderName::To)
        .or_else(|| invite.header(&HeaderName::To))
    {
        ack.push_header(HeaderName::To, to.to_owned());
    }
    if let Some(call_id) = invite.call_id() {
        ack.push_header(HeaderName::CallId, call_id.to_owned());
    }
    if let Some(cseq) = invite.cseq() {
        ack.push_header(HeaderName::CSeq, format!("{} ACK", cseq.seq));
    }
    ack.set_body(Bytes::new(), None);
    ack
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, invite, parse_bytes, response, sent, t0};
    use super::*;

    fn cfg() -> TimerConfig {
        TimerConfig::default()
    }

    fn start(reliable: bool) -> (ClientInvite, Instant, Vec<Effect>) {
        let t0 = t0();
        let mut out = Vec::new();
        let tx = ClientInvite::new(t0, invite("z9hG4bKci1"), reliable, cfg(), &mut out);
        (tx, t0, out)
    }

    #[test]
    fn calling_sends_invite_and_arms_a_and_b() {
        let (tx, t0, out) = start(false);
        assert_eq!(tx.state(), ClientInviteState::Calling);
        assert_eq!(sent(&out).len(), 1);
        assert_eq!(parse_bytes(&sent(&out)[0]), invite("z9hG4bKci1"));
        assert_eq!(tx.timer(Timer::A), Some(at(t0, 500)));
        assert_eq!(tx.timer(Timer::B), Some(at(t0, 32_000)));
        assert_eq!(tx.next_deadline(), Some(at(t0, 500)));
    }

    #[test]
    fn timer_a_doubles_t1_2t1_4t1_until_b_times_out() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let mut fired = Vec::new();
        while let Some(next) = tx.next_deadline() {
            out.clear();
            tx.on_timer(next, &mut out);
            let ms = next.duration_since(t0).as_millis();
            if !sent(&out).is_empty() {
                fired.push(ms);
            }
            if out.contains(&Effect::Terminated) {
                assert_eq!(ms, 32_000);
                assert_eq!(out, [Effect::Timeout(Timer::B), Effect::Terminated]);
            }
        }
        // Retransmits at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s (intervals 500 ms doubling).
        assert_eq!(fired, [500, 1500, 3500, 7500, 15_500, 31_500]);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn nothing_fires_before_its_deadline() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        tx.on_timer(at(t0, 499), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 500), &mut out);
        assert_eq!(sent(&out).len(), 1);
        assert_eq!(tx.timer(Timer::A), Some(at(t0, 1500)));
    }

    #[test]
    fn late_wakeup_fires_a_once_then_b() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        tx.on_timer(at(t0, 40_000), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
        assert!(out.contains(&Effect::Timeout(Timer::B)));
    }

    #[test]
    fn provisional_stops_a_and_b_and_goes_up() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        tx.on_response(at(t0, 100), response(&inv, 180, Some("b1")), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Proceeding);
        assert_eq!(out, [Effect::Response(response(&inv, 180, Some("b1")))]);
        assert_eq!(tx.next_deadline(), None);
        out.clear();
        tx.on_timer(at(t0, 60_000), &mut out);
        assert!(out.is_empty(), "no retransmission or timeout in Proceeding");
        tx.on_response(at(t0, 200), response(&inv, 183, Some("b1")), &mut out);
        assert_eq!(out.len(), 1, "further provisionals go up");
        assert_eq!(tx.state(), ClientInviteState::Proceeding);
    }

    #[test]
    fn a_final_response_lets_go_of_the_request_and_the_ack_still_follows_retransmissions() {
        for code in [200, 486] {
            let (mut tx, t0, _) = start(false);
            let mut out = Vec::new();
            let inv = tx.request().unwrap().clone();
            tx.on_response(at(t0, 100), response(&inv, code, Some("t")), &mut out);
            assert!(
                tx.request().is_none(),
                "{code}: request kept after the final"
            );
            out.clear();
            tx.on_response(at(t0, 600), response(&inv, code, Some("t")), &mut out);
            if code == 486 {
                // The retransmitted non-2xx is ACKed again from the ACK kept as bytes.
                assert_eq!(sent(&out).len(), 1);
                assert_eq!(parse_bytes(&sent(&out)[0]).method(), Some(&Method::Ack));
            }
        }
    }

    #[test]
    fn non_2xx_final_sends_ack_with_rfc3261_17_1_1_3_headers() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        let rsp = response(&inv, 486, Some("busy7"));
        tx.on_response(at(t0, 300), rsp.clone(), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Completed);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], Effect::Response(rsp));
        let ack = parse_bytes(&sent(&out)[0]);
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.uri(), inv.uri());
        assert_eq!(ack.call_id(), inv.call_id());
        assert_eq!(ack.header(&HeaderName::From), inv.header(&HeaderName::From));
        assert_eq!(ack.to().and_then(|t| t.tag()), Some("busy7"));
        assert_eq!(ack.header(&HeaderName::CSeq), Some("314159 ACK"));
        let vias: Vec<_> = ack.values(&HeaderName::Via).collect();
        assert_eq!(vias, [inv.values(&HeaderName::Via).next().unwrap_or("")]);
        let routes: Vec<_> = ack.values(&HeaderName::Route).collect();
        let inv_routes: Vec<_> = inv.values(&HeaderName::Route).collect();
        assert_eq!(routes, inv_routes);
        assert_eq!(routes.len(), 2);
        assert_eq!(ack.content_length(), Some(0));
        assert_eq!(tx.timer(Timer::D), Some(at(t0, 32_300)));
        assert_eq!(tx.timer(Timer::A), None);
        assert_eq!(tx.timer(Timer::B), None);
    }

    #[test]
    fn completed_absorbs_retransmitted_finals_with_ack_then_d_terminates() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        tx.on_response(at(t0, 100), response(&inv, 180, Some("x")), &mut out);
        tx.on_response(at(t0, 300), response(&inv, 603, Some("x")), &mut out);
        let first_ack = sent(&out)[0].clone();
        out.clear();
        tx.on_response(at(t0, 800), response(&inv, 603, Some("x")), &mut out);
        assert_eq!(
            out,
            [Effect::Send(first_ack)],
            "ACK re-sent, response not passed up"
        );
        out.clear();
        tx.on_timer(at(t0, 32_299), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 32_300), &mut out);
        assert_eq!(out, [Effect::Terminated]);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
    }

    #[test]
    fn final_from_calling_for_each_class_3xx_to_6xx() {
        for code in [302, 404, 503, 600] {
            let (mut tx, t0, _) = start(false);
            let mut out = Vec::new();
            let inv = tx.request().unwrap().clone();
            tx.on_response(at(t0, 10), response(&inv, code, Some("t")), &mut out);
            assert_eq!(tx.state(), ClientInviteState::Completed, "{code}");
            assert_eq!(sent(&out).len(), 1);
        }
    }

    #[test]
    fn two_xx_enters_accepted_with_m_and_passes_retransmissions_up() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        let ok = response(&inv, 200, Some("ok1"));
        tx.on_response(at(t0, 1000), ok.clone(), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Accepted);
        assert_eq!(
            out,
            [Effect::Response(ok.clone())],
            "no ACK from the transaction"
        );
        assert_eq!(tx.timer(Timer::M), Some(at(t0, 33_000)));
        assert_eq!(tx.timer(Timer::A), None);
        assert_eq!(tx.timer(Timer::B), None);
        out.clear();
        tx.on_response(at(t0, 1500), ok.clone(), &mut out);
        let forked = response(&inv, 200, Some("ok2"));
        tx.on_response(at(t0, 1600), forked.clone(), &mut out);
        tx.on_response(at(t0, 1700), response(&inv, 180, Some("ok3")), &mut out);
        tx.on_response(at(t0, 1800), response(&inv, 486, Some("ok4")), &mut out);
        assert_eq!(out, [Effect::Response(ok), Effect::Response(forked)]);
        out.clear();
        tx.on_timer(at(t0, 32_999), &mut out);
        assert!(out.is_empty());
        tx.on_timer(at(t0, 33_000), &mut out);
        assert_eq!(out, [Effect::Terminated]);
    }

    #[test]
    fn two_xx_from_proceeding_enters_accepted() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        tx.on_response(at(t0, 100), response(&inv, 100, None), &mut out);
        tx.on_response(at(t0, 200), response(&inv, 200, Some("a")), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Accepted);
        assert_eq!(tx.timer(Timer::M), Some(at(t0, 32_200)));
    }

    #[test]
    fn reliable_has_no_a_and_d_is_zero() {
        let (mut tx, t0, _) = start(true);
        assert_eq!(tx.timer(Timer::A), None);
        assert_eq!(tx.timer(Timer::B), Some(at(t0, 32_000)));
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        tx.on_response(at(t0, 50), response(&inv, 404, Some("n")), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
        assert_eq!(sent(&out).len(), 1, "ACK still sent");
        assert_eq!(out.last(), Some(&Effect::Terminated));
    }

    #[test]
    fn reliable_b_still_times_out() {
        let (mut tx, t0, _) = start(true);
        let mut out = Vec::new();
        tx.on_timer(at(t0, 32_000), &mut out);
        assert_eq!(out, [Effect::Timeout(Timer::B), Effect::Terminated]);
    }

    #[test]
    fn transport_error_terminates_with_error_event() {
        let (mut tx, _, _) = start(false);
        let mut out = Vec::new();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError, Effect::Terminated]);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
        out.clear();
        tx.on_transport_error(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn transport_error_in_accepted_only_informs() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        tx.on_response(at(t0, 10), response(&inv, 200, Some("a")), &mut out);
        out.clear();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError]);
        assert_eq!(tx.state(), ClientInviteState::Accepted);
    }

    #[test]
    fn transport_error_in_completed_terminates() {
        let (mut tx, t0, _) = start(false);
        let mut out = Vec::new();
        let inv = tx.request().unwrap().clone();
        tx.on_response(at(t0, 10), response(&inv, 500, Some("a")), &mut out);
        out.clear();
        tx.on_transport_error(&mut out);
        assert_eq!(out, [Effect::TransportError, Effect::Terminated]);
    }
}
