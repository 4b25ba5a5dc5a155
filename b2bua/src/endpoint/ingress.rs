//! Ingress: one path for datagrams and stream messages. A message is parsed and checked once;
//! unreadable requests get the parser's 400, out-of-dialog OPTIONS a stateless 200, new calls
//! while draining a 503; the rest gets `received`/`rport` (RFC 3261 §18.2.1, RFC 3581 §4), passes
//! the front door and reaches the call core with a source [`Dest`] naming the local address it
//! arrived at, which routing and every answer use.

use super::front_door::Verdict;
use super::{remember, Endpoint, Ingress, Outgoing, Output, Path};
use crate::call::MediaRelay;
use crate::stack::stateless::{self, Reply};
use crate::stack::transport::via::stamp_received;
use crate::stack::transport::FlowId;
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method, ParseError};
use std::net::SocketAddr;
use std::time::Instant;

impl<M: MediaRelay> Endpoint<M> {
    /// A datagram on UDP socket `socket` from `source`.
    pub(super) fn on_datagram(
        &mut self,
        now: Instant,
        socket: usize,
        source: SocketAddr,
        bytes: Bytes,
    ) {
        let Some(s) = self.sockets.udp.get(socket) else {
            return;
        };
        let ingress = Ingress {
            interface: s.interface,
            local: s.signalling,
            source,
            path: Path::Udp(socket),
        };
        remember(&mut self.udp_peers, source, socket);
        let parsed = Message::parse_checked(bytes.clone(), &self.limits);
        self.on_message(now, ingress, parsed, &bytes);
    }

    /// A framed message from a flow (RFC 3261 §18.3).
    pub(super) fn on_stream_message(&mut self, now: Instant, flow: FlowId, bytes: Bytes) {
        let Some(f) = self.flows.get(flow).copied() else {
            return;
        };
        self.flows.touch(flow, now);
        let ingress = Ingress {
            interface: f.interface,
            local: f.local,
            source: f.remote,
            path: Path::Flow(flow, f.transport),
        };
        let parsed = Message::parse_stream(bytes.clone(), &self.limits).and_then(Message::checked);
        self.on_message(now, ingress, parsed, &bytes);
    }

    /// The one ingress pipeline (see the module docs).
    fn on_message(
        &mut self,
        now: Instant,
        ingress: Ingress,
        parsed: Result<Message, ParseError>,
        bytes: &Bytes,
    ) {
        let from = ingress.source;
        let mut msg = match parsed {
            Ok(m) => m,
            Err(e) => {
                self.recorder.unreadable();
                match e.reply() {
                    Some(r) => {
                        tracing::debug!(%from, "unreadable request: {}", e.kind);
                        self.reply(now, ingress, r);
                    }
                    None => tracing::debug!(%from, "dropped unreadable message: {}", e.kind),
                }
                return;
            }
        };
        self.recorder.received(&msg);
        self.log_message(now, "received from", from, bytes);
        if self.over_source_rate(now, &msg, ingress) {
            return;
        }
        if !msg.is_request() && self.front_door_response(now, &msg) {
            return;
        }
        if let Some(rsp) = stateless::bad_extension(&msg, self.server.as_deref()) {
            tracing::debug!(%from, "refused: unsupported extension");
            self.reply(now, ingress, rsp);
            return;
        }
        let out_of_dialog = msg.to().is_some_and(|t| t.tag().is_none());
        if out_of_dialog && msg.method() == Some(&Method::Options) {
            // Out-of-dialog OPTIONS (trunk keep-alives, probes) are answered statelessly, as a
            // stateless UAS may (RFC 3261 §8.2.7, §11): no transaction state per ping, and a
            // prober reusing a branch from a new port still gets its answer.
            match stateless::answer(&msg, self.server.as_deref()) {
                Reply::Send(rsp) => self.reply(now, ingress, rsp),
                Reply::Drop(why) => tracing::debug!(%from, "dropped: {why}"),
            }
            return;
        }
        if self.refuse_while_draining(&msg, from) {
            let rsp = self.drain_refusal(&msg);
            self.reply(now, ingress, rsp);
            return;
        }
        stamp_received(&mut msg, from);
        // A multipart body (SIP-I/SIP-T) carries the session in one part: the SBC anchors that
        // and drops the rest, as topology hiding would anyway (RFC 5621 §3).
        if let Some(sdp) = sbc_common::sip::multipart::sdp_part(&msg) {
            msg.set_body(sdp, Some("application/sdp"));
        }
        let (msg, targets, user) = match self.front_door(now, msg, ingress) {
            Verdict::Core(m) => (m, None, None),
            Verdict::Caller(m, user) => (m, None, Some(user)),
            Verdict::Targets(m, targets) => (m, Some(targets), None),
            Verdict::Done => return,
        };
        // A peer trusted by its certificate (mutual TLS) may use routes that require it.
        let targets = match targets {
            None if msg.to().is_some_and(|t| t.tag().is_none()) => {
                let names = self.names_of(ingress).to_vec();
                if names.is_empty() {
                    None
                } else {
                    self.core
                        .router_mut()
                        .targets_for_peer(&msg, ingress.dest(), &names)
                }
            }
            t => t,
        };
        let Ok(ticket) = self.admit_call(now, &msg, ingress, user.as_deref(), targets.as_deref())
        else {
            return;
        };
        let span = self.records.span_of(&msg);
        let _in_call = span.enter();
        let source = ingress.dest();
        let result = match targets {
            None => self.core.handle_message(now, msg, source),
            Some(t) => self.core.handle_message_to(now, msg, source, t),
        };
        if let Err(e) = result {
            tracing::debug!(%from, "message refused: {e}");
        }
        if let Some(call_id) = ticket {
            self.settle_admission(&call_id);
        }
    }

    /// Sends a stateless reply on the path its request came on, with the Server header.
    pub(super) fn reply(&mut self, now: Instant, ingress: Ingress, mut rsp: Message) {
        stateless::stamp_server(&mut rsp, self.server.as_deref());
        let bytes = rsp.to_bytes();
        match ingress.path {
            Path::Udp(socket) => self.send_datagram(now, socket, ingress.source, bytes),
            Path::Flow(flow, _) => self.write(
                now,
                flow,
                Outgoing {
                    bytes,
                    tx: None,
                    udp_fallback: None,
                },
            ),
        }
    }

    /// Queues a datagram from UDP socket `socket`, counting and logging it.
    pub(super) fn send_datagram(
        &mut self,
        now: Instant,
        socket: usize,
        to: SocketAddr,
        bytes: Bytes,
    ) {
        self.log_message(now, "sent to", to, &bytes);
        self.recorder.sent(&bytes);
        self.out.push_back(Output::Udp { socket, to, bytes });
    }

    /// Whether `msg` is a new INVITE to refuse because the SBC is draining: retransmissions of
    /// INVITEs already taken still reach the core.
    fn refuse_while_draining(&self, msg: &Message, from: SocketAddr) -> bool {
        let refuse = self.stage != super::lifecycle::Stage::Serving
            && msg.method() == Some(&Method::Invite)
            && msg.to().is_some_and(|t| t.tag().is_none())
            && !msg.call_id().is_some_and(|c| self.core.has_call_id(c));
        if refuse {
            tracing::info!(%from, call_id = msg.call_id().unwrap_or_default(), "new call refused: shutting down");
        }
        refuse
    }

    /// The 503 a new call gets while draining, overloaded-style, with when to come back (RFC
    /// 3261 §21.5.4).
    fn drain_refusal(&self, msg: &Message) -> Message {
        let mut rsp = Message::response_to(msg, 503, "Service Unavailable");
        if let Some(to) = msg.header(&HeaderName::To) {
            let tagged = format!("{to};tag=drain{:x}", self.core.call_count());
            rsp.set_header(HeaderName::To, tagged);
        }
        rsp.push_header(
            HeaderName::RetryAfter,
            self.cfg.limits.retry_after_s.to_string(),
        );
        rsp
    }
}
