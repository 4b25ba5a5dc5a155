//! Egress: the socket or flow each message leaves on (RFC 3261 §18.1.1, §18.2.2), the §18.1.1
//! switch of large UDP requests to TCP, and what happens to messages a connection never wrote.
//! The [`Dest`] of every transmit names the SBC's local signalling address of its path, so the
//! socket is a table lookup; no message is re-read to find it.

use super::{Endpoint, Outgoing, Output, TlsPeer};
use crate::call::{CallOutput, MediaRelay};
use crate::stack::transaction::{Dest, Transmit, Transport};
use crate::stack::transport::via::{response_target, set_top_via_transport};
use crate::stack::transport::{too_large_for_udp, Carrier, FlowId};
use bytes::Bytes;
use sbc_common::sip::{Message, Via};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

impl<M: MediaRelay> Endpoint<M> {
    /// Acts on everything the call core queued: sends and call events.
    pub(super) fn flush(&mut self, now: Instant) {
        while let Some(out) = self.core.poll_output() {
            match out {
                CallOutput::Transmit(t) => self.transmit(now, t),
                CallOutput::Event(e) => {
                    self.admission_event(&e);
                    self.recorder.call_event(now, &e);
                    let wall = self.wall(now);
                    if let Some(record) = self.records.track(&e, now, wall) {
                        self.out.push_back(Output::Cdr(Box::new(record)));
                    }
                }
            }
        }
        let core = &self.core;
        self.recorder.core(
            core.call_count(),
            core.transaction_count(),
            core.dialog_count(),
        );
    }

    /// Sends a request or response over its `dest`'s transport (RFC 3261 §18).
    pub(super) fn transmit(&mut self, now: Instant, t: Transmit) {
        match t.dest.transport {
            Transport::Udp => self.send_udp(now, t),
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                let out = Outgoing {
                    bytes: t.bytes,
                    tx: t.tx,
                    udp_fallback: None,
                };
                self.send_stream(now, t.dest, out);
            }
        }
    }

    /// Sends a transmit over UDP, unless it is a request that RFC 3261 §18.1.1 moves to TCP (too
    /// large, or the CANCEL/ACK of one that was moved) or a retransmission of a moved one.
    fn send_udp(&mut self, now: Instant, t: Transmit) {
        let large = too_large_for_udp(t.bytes.len());
        if !t.bytes.starts_with(b"SIP/") && (large || !self.switchover.is_empty()) {
            if let Some(branch) = top_via_branch(&t.bytes) {
                let tcp = if large && self.large_over_tcp.contains(&t.dest.addr) {
                    self.tcp_sent_by(t.dest)
                } else {
                    None
                };
                let fingerprint = self.fingerprint(&t.bytes);
                let carrier = self.switchover.carrier(
                    now,
                    &branch,
                    fingerprint,
                    t.bytes.len(),
                    tcp.is_some(),
                );
                match carrier {
                    Carrier::Udp => {}
                    Carrier::Skip => return,
                    Carrier::Tcp => {
                        // A follower (CANCEL, ACK) of a moved request finds its endpoint here.
                        let tcp = tcp.or_else(|| self.tcp_sent_by(t.dest));
                        if let Some((bytes, local)) =
                            tcp.and_then(|a| self.moved_to_tcp(&t.bytes, a).map(|b| (b, a)))
                        {
                            tracing::debug!(dest = %t.dest.addr, len = t.bytes.len(), "request sent over tcp");
                            let out = Outgoing {
                                bytes,
                                tx: t.tx,
                                udp_fallback: Some((t.dest, t.bytes.clone())),
                            };
                            let dest = Dest::new(t.dest.addr, Transport::Tcp).from_local(local);
                            return self.send_stream(now, dest, out);
                        }
                    }
                }
            }
        }
        match self.udp_socket_for(t.dest) {
            Some(i) => self.send_datagram(now, i, t.dest.addr, t.bytes),
            None => tracing::warn!(dest = %t.dest.addr, "dropped: no UDP socket"),
        }
    }

    /// The UDP socket a message to `dest` leaves from: the one of its local address, else the
    /// one the peer last sent to, else the first in the peer's IP family.
    fn udp_socket_for(&self, dest: Dest) -> Option<usize> {
        dest.local
            .and_then(|l| self.udp_by_signalling.get(&l).copied())
            .or_else(|| self.udp_peers.get(&dest.addr).copied())
            .or_else(|| {
                self.sockets
                    .udp
                    .iter()
                    .position(|s| s.bound.is_ipv4() == dest.addr.is_ipv4())
            })
            .or_else(|| (!self.sockets.udp.is_empty()).then_some(0))
    }

    /// A 64-bit fingerprint of a request's bytes, to tell a retransmission from a new request.
    fn fingerprint(&self, bytes: &[u8]) -> u64 {
        let mut h = foldhash::fast::FixedState::with_seed(self.seed).build_hasher();
        h.write(bytes);
        h.finish()
    }

    /// The TCP signalling address of the interface a UDP request leaves from, in the
    /// destination's IP family: the sent-by once the request moves to TCP (§18.1.1).
    fn tcp_sent_by(&self, dest: Dest) -> Option<SocketAddr> {
        let interface = self
            .udp_socket_for(dest)
            .and_then(|i| self.sockets.udp.get(i))?
            .interface;
        self.sockets
            .tcp
            .iter()
            .find(|e| e.interface == interface && e.bound.is_ipv4() == dest.addr.is_ipv4())
            .map(|e| e.signalling)
    }

    /// `bytes` with the top Via saying TCP and `sent_by` (RFC 3261 §18.1.1).
    fn moved_to_tcp(&self, bytes: &Bytes, sent_by: SocketAddr) -> Option<Bytes> {
        let mut msg = Message::parse(bytes.clone(), &self.limits).ok()?;
        set_top_via_transport(&mut msg, Transport::Tcp, sent_by);
        Some(msg.to_bytes())
    }

    /// Sends over TCP to `dest`: on the open flow that reaches it, else — for a response — the
    /// flow or a new connection to its Via's received/rport/sent-by (RFC 3261 §18.2.2, RFC 3581
    /// §4), else on a new connection from the TCP listen address of `dest`'s local address, or
    /// the first in its IP family (§18.1.1).
    pub(super) fn send_stream(&mut self, now: Instant, dest: Dest, out: Outgoing) {
        let transport = dest.transport;
        if let Some(id) = self.flows.find(transport, dest.addr) {
            return self.write(now, id, out);
        }
        let is_response = out.bytes.starts_with(b"SIP/");
        let same_family = |s: &super::Socket, a: SocketAddr| {
            s.bound.is_ipv4() == a.is_ipv4() && s.transport == transport
        };
        let (target, endpoint) = if is_response {
            // Rare: the connection the request came on is gone; the Via says where to reopen.
            let target = Message::parse(out.bytes.clone(), &self.limits)
                .ok()
                .and_then(|m| response_target(&m))
                .unwrap_or(dest.addr);
            let ep = self
                .tcp_peers
                .get(&dest.addr)
                .or_else(|| self.tcp_peers.get(&target))
                .copied()
                .or_else(|| self.sockets.tcp.iter().position(|e| same_family(e, target)));
            (target, ep)
        } else {
            let ep = dest
                .local
                .and_then(|l| self.tcp_by_signalling.get(&l).copied())
                .or_else(|| {
                    self.sockets
                        .tcp
                        .iter()
                        .position(|e| same_family(e, dest.addr))
                });
            (dest.addr, ep)
        };
        if target != dest.addr {
            if let Some(id) = self.flows.find(transport, target) {
                return self.write(now, id, out);
            }
        }
        // TLS needs to know whom it talks to: only next hops of TLS routes are dialled (a
        // customer's TLS connection that is gone cannot be reopened to it).
        let tls = match transport {
            Transport::Tls => {
                let route = self
                    .cfg
                    .routes
                    .iter()
                    .position(|r| {
                        r.hop_transport() == sbc_config::Transport::Tls
                            && r.next_hop.addr() == Some(target)
                    })
                    .or_else(|| {
                        // An address a TLS route's name resolved to (RFC 5922 §4: verified
                        // against the route's server name).
                        self.core
                            .router()
                            .resolved_addresses()
                            .find(|(i, a)| {
                                *a == target
                                    && self.cfg.routes.get(*i).is_some_and(|r| {
                                        r.hop_transport() == sbc_config::Transport::Tls
                                    })
                            })
                            .map(|(i, _)| i)
                    });
                let realm = || {
                    self.cfg.realms.iter().position(|r| {
                        r.registrar == Some(target)
                            && r.registrar_transport == sbc_config::Transport::Tls
                            && r.tls.is_some()
                    })
                };
                let peer = route
                    .map(TlsPeer::Route)
                    .or_else(|| realm().map(TlsPeer::Realm));
                if peer.is_none() {
                    tracing::warn!(%target, "dropped: no TLS route or registrar to open a connection to");
                    return self.on_unsent(now, out);
                }
                peer
            }
            _ => None,
        };
        let Some(ep) = endpoint.and_then(|i| self.sockets.tcp.get(i)).copied() else {
            tracing::warn!(%target, "dropped: no tcp listen address to send from");
            return self.on_unsent(now, out);
        };
        let id = match self
            .flows
            .open(now, transport, ep.signalling, target, ep.interface, true)
        {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(%target, "no tcp connection opened: {e}");
                return self.on_unsent(now, out);
            }
        };
        tracing::debug!(%target, flow = id.0, ?transport, "opening connection");
        self.out.push_back(Output::Connect {
            flow: id,
            bind: ep.bound.ip(),
            remote: target,
            tls,
        });
        self.write(now, id, out);
    }

    /// Queues `out` on flow `id`, counting and logging it.
    pub(super) fn write(&mut self, now: Instant, id: FlowId, out: Outgoing) {
        if let Some(peer) = self.flows.get(id).map(|f| f.remote) {
            self.log_message(now, "sent to", peer, &out.bytes);
        }
        self.recorder.sent(&out.bytes);
        self.flows.touch(id, now);
        self.out.push_back(Output::Stream { flow: id, out });
    }

    /// A message the driver could not queue on `flow` (full queue: the peer stopped reading, or
    /// the connection just ended): the flow is dropped and the message tries a fresh one.
    pub(super) fn on_write_failed(&mut self, now: Instant, flow: FlowId, out: Outgoing) {
        let Some(f) = self.flows.close(flow) else {
            return self.on_unsent(now, out);
        };
        tracing::warn!(
            flow = flow.0,
            "tcp connection dropped: its write queue is full or gone"
        );
        self.out.push_back(Output::Close { flow });
        self.front.customers.handle_flow_closed(flow.0);
        let dest = Dest::new(f.remote, f.transport).from_local(f.local);
        self.send_stream(now, dest, out);
    }

    /// A connection closed: its bindings go, and what it never wrote is re-sent or failed.
    pub(super) fn on_closed(
        &mut self,
        now: Instant,
        flow: FlowId,
        unsent: Vec<Outgoing>,
        why: &str,
    ) {
        let closed = self.flows.close(flow);
        self.peer_names.remove(&flow);
        self.front.customers.handle_flow_closed(flow.0);
        self.record_customers();
        if let Some(f) = closed {
            tracing::debug!(remote = %f.remote, flow = flow.0, "tcp connection closed: {why}");
        }
        for out in unsent {
            // A response stranded on a connection the peer opened gets one more try on a new
            // connection to its Via (RFC 3261 §18.2.2); a connection the SBC opened itself is
            // not retried, so a refused peer cannot make a loop.
            match closed {
                Some(f) if !f.outbound && out.bytes.starts_with(b"SIP/") => {
                    self.send_stream(now, Dest::new(f.remote, f.transport), out);
                }
                _ => self.on_unsent(now, out),
            }
        }
    }

    /// A message that never left on its connection: a request moved to TCP for its size goes
    /// over UDP after all (RFC 3261 §18.1.1); otherwise its transaction learns of the transport
    /// error (§17.1.4, §17.2.4).
    fn on_unsent(&mut self, now: Instant, out: Outgoing) {
        if let Some((dest, bytes)) = out.udp_fallback {
            if let Some(b) = top_via_branch(&bytes) {
                self.switchover.fall_back(&b);
            }
            tracing::info!(dest = %dest.addr, "tcp refused: large request sent over udp");
            if let Some(i) = self.udp_socket_for(dest) {
                self.send_datagram(now, i, dest.addr, bytes);
            }
            return;
        }
        if let Some(tx) = out.tx {
            self.core.handle_transport_error(now, tx);
        } else {
            self.front_door_unsent(now, &out.bytes);
        }
    }

    /// Closes idle TCP flows and forgets old §18.1.1 switches.
    pub(super) fn expire(&mut self, now: Instant) {
        for id in self.flows.idle(now) {
            if let Some(f) = self.flows.close(id) {
                tracing::debug!(remote = %f.remote, flow = id.0, "idle tcp connection closed");
            }
            self.out.push_back(Output::Close { flow: id });
        }
        self.switchover.expire(now);
    }
}

/// The first via-parm of a serialized message's top Via, read without parsing the whole
/// message (RFC 3261 §20.42).
fn top_via_text(bytes: &[u8]) -> Option<&str> {
    // Line by line up to the Via (normally the second line), not over the whole message.
    let mut rest = bytes;
    let mut first = true;
    loop {
        let (line, next) = match find_crlf(rest) {
            Some(i) => (rest.get(..i)?, rest.get(i + 2..)),
            None => (rest, None),
        };
        if !first && line.is_empty() {
            // The blank line ending the header section.
            return None;
        }
        let line = std::str::from_utf8(line).ok()?;
        if !first {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
                    return value.split(',').next();
                }
            }
        }
        first = false;
        rest = next?;
    }
}

/// The offset of the first CRLF in `b`.
fn find_crlf(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + b.get(from..)?.iter().position(|&c| c == b'\r')?;
        if b.get(i + 1) == Some(&b'\n') {
            return Some(i);
        }
        from = i + 1;
    }
}

/// The branch of a serialized request's top Via, read without parsing the whole message
/// (RFC 3261 §8.1.1.7): an INVITE, its CANCEL and its non-2xx ACK share it. Only large requests
/// and those following a moved one are read this way.
pub(super) fn top_via_branch(bytes: &[u8]) -> Option<String> {
    let via = Via::parse(top_via_text(bytes)?).ok()?;
    via.branch().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::top_via_branch;

    #[test]
    fn reads_the_top_via_branch_of_a_request() {
        let req = b"BYE sip:a@x SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx;rport, SIP/2.0/UDP 10.0.0.1\r\nVia: SIP/2.0/UDP 10.0.0.2:1\r\n\r\n";
        assert_eq!(top_via_branch(req).as_deref(), Some("z9hG4bKx"));
        assert_eq!(top_via_branch(b"BYE sip:a@x SIP/2.0\r\n\r\n"), None);
        // A Via-like line in the body is not a header.
        let body_via =
            b"BYE sip:a@x SIP/2.0\r\nMax-Forwards: 70\r\n\r\nVia: SIP/2.0/UDP 10.0.0.9:1;branch=z9hG4bKb\r\n";
        assert_eq!(top_via_branch(body_via), None);
        // A header line with a lone CR in it is still one line.
        let cr = b"BYE sip:a@x SIP/2.0\r\nX-A: a\rb\r\nVia: SIP/2.0/UDP 10.0.0.9:1;branch=z9hG4bKc\r\n\r\n";
        assert_eq!(top_via_branch(cr).as_deref(), Some("z9hG4bKc"));
    }
}
