//! Remote relays over rtpengine's ng protocol (`[relay] remote`): the call core's relay
//! operations ([`MediaAnchor`]) carried out by `sbc-relay` daemons (or rtpengine) on other
//! hosts. Each call is an ng call of its own on one relay, chosen by weight among the relays that
//! are up, and keeps that relay for its whole life; a relay that does not answer a request
//! (sent twice) is taken as down and new calls go to the others until it answers a ping again
//! (sent without waiting, every `remote_retry_s`, when a call is placed).
//!
//! The operations are synchronous, as the call core asks them to be (it rewrites SDP at once):
//! each waits for the relay's reply, about a round trip on a LAN; a relay that is down costs
//! the first call that meets it two timeouts. Leg A is the ng offerer (`from-tag` "a"), leg B
//! the answerer (`to-tag` "b"); every change re-sends the side that changed with all the
//! call's streams as `m=` lines. SDES keys and ICE-lite need the in-process relay (the config
//! check refuses them with remote relays). A call's packet counts come back in the relay's
//! `delete` reply, for its CDR; live statistics and events (latching, inactivity) do not.

use crate::call::{Leg, MediaAnchor, MediaRelay};
use sbc_common::bencode::{decode, Value};
use sbc_common::sdp::Sdp;
use sbc_config::RemoteRelay;
use sbc_relay::api::{
    KeyChange, LegSpec, LocalLeg, RelayError, RelayEvent, RelayMetrics, SessionId,
};
use sbc_relay::forward::{ice_token, Direction, IceParams, LegSignal, LegStats};
use sbc_relay::latch::LatchPolicy;
use sbc_relay::srtp::MasterKey;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// One remote relay and what the SBC knows of its health.
#[derive(Debug)]
struct Remote {
    addr: SocketAddr,
    weight: u16,
    /// When it was taken as down (`None`: up).
    down_since: Option<Instant>,
    /// When it was last pinged while down.
    last_ping: Option<Instant>,
    /// Smooth weighted round-robin state.
    current: i64,
}

/// One stream of a remote call.
#[derive(Clone, Debug)]
struct Stream {
    specs: [LegSpec; 2],
    local: [LocalLeg; 2],
}

/// One call on a remote relay.
#[derive(Debug)]
struct Call {
    relay: usize,
    call_id: String,
    streams: Vec<Stream>,
}

/// Counters for `/metrics` and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RemoteCounters {
    /// Requests sent (first tries).
    pub requests: u64,
    /// Requests that got no reply in time (after the retry).
    pub timeouts: u64,
    /// Error replies.
    pub errors: u64,
    /// Calls moved to another relay because the chosen one did not answer.
    pub failovers: u64,
}

/// The remote relays of `[relay] remote`.
#[derive(Debug)]
pub(super) struct RemoteRelays {
    relays: Vec<Remote>,
    sock: UdpSocket,
    timeout: Duration,
    retry: Duration,
    cookie: u64,
    /// Makes call-ids unique to this process (a restarted SBC must not meet its old calls).
    prefix: String,
    next_session: u64,
    calls: HashMap<SessionId, Call>,
    counters: RemoteCounters,
    /// `Closed` events for deleted calls, so their CDRs go out at once.
    events: std::collections::VecDeque<RelayEvent>,
    /// Deleted calls' packet counts from the relay's delete reply, for their CDRs.
    final_stats: HashMap<SessionId, Vec<[LegStats; 2]>>,
}

fn direction_attr(d: Direction) -> &'static str {
    match d {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "sendonly",
        Direction::RecvOnly => "recvonly",
        Direction::Inactive => "inactive",
    }
}

fn latch_flag(p: LatchPolicy) -> &'static [u8] {
    match p {
        LatchPolicy::Strict => b"strict-source",
        LatchPolicy::Handover => b"media-handover",
        LatchPolicy::Off => b"asymmetric",
    }
}

/// The SDP of one side (`leg`) of a call: one `m=` line per stream with that side's peer
/// address (or `0.0.0.0` port 9 while unknown), RTCP address, direction and rtcp-mux.
fn side_sdp(streams: &[Stream], leg: usize) -> String {
    let mut s = String::from("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=sbc\r\nt=0 0\r\n");
    for st in streams {
        let sig = &st.specs[leg].signal;
        let (ip, port) = sig
            .remote_rtp
            .map_or((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9), |a| {
                (a.ip(), a.port())
            });
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        s.push_str(&format!(
            "m=audio {port} RTP/AVP 0\r\nc=IN {family} {ip}\r\na=rtpmap:0 PCMU/8000\r\n"
        ));
        if let Some(rtcp) = sig.remote_rtcp {
            let fam = if rtcp.is_ipv4() { "IP4" } else { "IP6" };
            s.push_str(&format!(
                "a=rtcp:{} IN {fam} {}\r\n",
                rtcp.port(),
                rtcp.ip()
            ));
        }
        if st.specs[leg].rtcp_mux {
            s.push_str("a=rtcp-mux\r\n");
        }
        s.push_str(&format!("a={}\r\n", direction_attr(sig.direction)));
    }
    s
}

/// The relay's addresses, per `m=` line, in a reply SDP; RTCP as `a=rtcp` says, or port + 1,
/// or none on a muxed leg.
fn reply_locals(sdp: &[u8], muxed: &[bool]) -> Option<Vec<LocalLeg>> {
    let sdp = Sdp::parse(sdp).ok()?;
    let mut out = Vec::new();
    for (m, &mux) in sdp.media().zip(muxed) {
        let ip = m.connection()?.ip?;
        let rtp = SocketAddr::new(ip, m.port());
        let rtcp = if mux {
            None
        } else {
            let port = m
                .rtcp()
                .map_or_else(|| rtp.port().wrapping_add(1), |r| r.port);
            Some(SocketAddr::new(ip, port))
        };
        out.push(LocalLeg { rtp, rtcp });
    }
    Some(out)
}

impl RemoteRelays {
    /// The relays of `remote`, with `timeout` per request try and `retry` between pings of a
    /// relay taken as down.
    pub(super) fn new(
        remote: &[RemoteRelay],
        timeout: Duration,
        retry: Duration,
    ) -> std::io::Result<Self> {
        let any: SocketAddr = if remote.first().is_some_and(|r| r.ng.is_ipv6()) {
            "[::]:0".parse().map_err(std::io::Error::other)?
        } else {
            "0.0.0.0:0".parse().map_err(std::io::Error::other)?
        };
        let sock = UdpSocket::bind(any)?;
        sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        Ok(Self {
            relays: remote
                .iter()
                .map(|r| Remote {
                    addr: r.ng,
                    weight: r.weight,
                    down_since: None,
                    last_ping: None,
                    current: 0,
                })
                .collect(),
            sock,
            timeout,
            retry,
            cookie: 0,
            prefix: ice_token(8).unwrap_or_else(|| format!("{}", std::process::id())),
            next_session: 0,
            calls: HashMap::new(),
            counters: RemoteCounters::default(),
            events: std::collections::VecDeque::new(),
            final_stats: HashMap::new(),
        })
    }

    /// Which relays are up, by ng address.
    pub(super) fn health(&self) -> Vec<(SocketAddr, bool)> {
        self.relays
            .iter()
            .map(|r| (r.addr, r.down_since.is_none()))
            .collect()
    }

    /// Sends `pairs` to relay `index` and waits for the reply (one retry with the same cookie).
    fn request(
        &mut self,
        index: usize,
        pairs: &[(&[u8], Value<'_>)],
    ) -> Result<Vec<u8>, RelayError> {
        let addr = self.relays[index].addr;
        self.cookie += 1;
        let mut msg = format!("{}-{} ", self.prefix, self.cookie).into_bytes();
        let cookie_len = msg.len() - 1;
        Value::Dict(pairs.to_vec()).encode(&mut msg);
        self.counters.requests += 1;
        let mut buf = vec![0u8; 65_536];
        for _ in 0..2 {
            self.sock.send_to(&msg, addr).map_err(RelayError::Io)?;
            let deadline = Instant::now() + self.timeout;
            while Instant::now() < deadline {
                let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
                    continue;
                };
                if from != addr || n <= cookie_len || buf[..cookie_len] != msg[..cookie_len] {
                    let stray = buf[..n].to_vec();
                    self.absorb(from, &stray); // a pong, or a late reply
                    continue;
                }
                buf.truncate(n);
                return Ok(buf.split_off(cookie_len + 1));
            }
        }
        self.counters.timeouts += 1;
        if self.relays[index].down_since.is_none() {
            tracing::warn!(relay = %addr, "remote relay did not answer; new calls go to the others");
            self.relays[index].down_since = Some(Instant::now());
        }
        Err(RelayError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("relay {addr} did not answer"),
        )))
    }

    /// Sends a ping to relay `index` without waiting: its pong is taken whenever it arrives
    /// ([`RemoteRelays::absorb`]), so a relay that is down never holds the loop up.
    fn ping(&mut self, index: usize) {
        self.relays[index].last_ping = Some(Instant::now());
        let mut msg = format!("{}-ping-{index} ", self.prefix).into_bytes();
        Value::Dict(vec![(b"command", Value::Bytes(b"ping"))]).encode(&mut msg);
        let _ = self.sock.send_to(&msg, self.relays[index].addr);
    }

    /// A datagram that is no reply to the request in flight: a pong brings its relay back up.
    fn absorb(&mut self, from: SocketAddr, datagram: &[u8]) {
        let prefix = format!("{}-ping-", self.prefix);
        let Some(rest) = datagram.strip_prefix(prefix.as_bytes()) else {
            return;
        };
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            return;
        };
        let index = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        let pong = decode(&rest[space + 1..])
            .ok()
            .and_then(|v| v.get("result").and_then(Value::as_str).map(|r| r == "pong"))
            .unwrap_or(false);
        if let Some(r) = index.and_then(|i| self.relays.get_mut(i)) {
            if pong && r.addr == from && r.down_since.take().is_some() {
                tracing::info!(relay = %r.addr, "remote relay answers again");
            }
        }
    }

    /// Takes the datagrams waiting on the socket (late pongs), without blocking.
    fn drain(&mut self) {
        if self.sock.set_nonblocking(true).is_err() {
            return;
        }
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = self.sock.recv_from(&mut buf) {
            let datagram = buf[..n].to_vec();
            self.absorb(from, &datagram);
        }
        let _ = self.sock.set_nonblocking(false);
    }

    /// The relay for a new call: smooth weighted round-robin over those up (pinging, first,
    /// those down for longer than the retry interval); `None` when none is up.
    fn choose(&mut self, except: &[usize]) -> Option<usize> {
        self.drain();
        let now = Instant::now();
        for i in 0..self.relays.len() {
            let r = &self.relays[i];
            let due = r.down_since.is_some()
                && r.last_ping
                    .is_none_or(|t| now.duration_since(t) >= self.retry);
            if due && !except.contains(&i) {
                self.ping(i);
            }
        }
        let up: Vec<usize> = (0..self.relays.len())
            .filter(|i| self.relays[*i].down_since.is_none() && !except.contains(i))
            .collect();
        let total: i64 = up.iter().map(|&i| i64::from(self.relays[i].weight)).sum();
        let best = *up.iter().max_by_key(|&&i| {
            let r = &mut self.relays[i];
            (r.current + i64::from(r.weight), std::cmp::Reverse(i))
        })?;
        for &i in &up {
            self.relays[i].current += i64::from(self.relays[i].weight);
        }
        self.relays[best].current -= total;
        Some(best)
    }

    /// Sends leg A's side as an offer (or leg B's as an answer) and reads the relay's
    /// addresses for the other leg from the reply.
    fn signal(&mut self, session: SessionId, leg: usize) -> Result<(), RelayError> {
        let call = self
            .calls
            .get(&session)
            .ok_or(RelayError::UnknownSession(session))?;
        let relay = call.relay;
        let sdp = side_sdp(&call.streams, leg);
        let call_id = call.call_id.clone();
        let muxed: Vec<bool> = call
            .streams
            .iter()
            .map(|s| s.specs[1 - leg].rtcp_mux)
            .collect();
        let policy = call
            .streams
            .first()
            .map(|s| s.specs[leg].signal.policy)
            .unwrap_or_default();
        let interfaces: Vec<String> = call
            .streams
            .first()
            .map(|s| vec![s.specs[0].interface.clone(), s.specs[1].interface.clone()])
            .unwrap_or_default();
        let require_mux = call.streams.iter().any(|s| s.specs[1].rtcp_mux);
        let command: &[u8] = if leg == 0 { b"offer" } else { b"answer" };
        let mut pairs: Vec<(&[u8], Value<'_>)> = vec![
            (b"command", Value::Bytes(command)),
            (b"call-id", Value::Bytes(call_id.as_bytes())),
            (b"from-tag", Value::Bytes(b"a")),
            (b"sdp", Value::Bytes(sdp.as_bytes())),
            (
                b"flags",
                Value::List(vec![Value::Bytes(latch_flag(policy))]),
            ),
            (b"ICE", Value::Bytes(b"remove")),
        ];
        if leg == 1 {
            pairs.push((b"to-tag", Value::Bytes(b"b")));
        } else {
            let list = interfaces
                .iter()
                .map(|i| Value::Bytes(i.as_bytes()))
                .collect();
            pairs.push((b"direction", Value::List(list)));
            if require_mux {
                pairs.push((b"rtcp-mux", Value::List(vec![Value::Bytes(b"require")])));
            }
        }
        let reply = self.request(relay, &pairs)?;
        let v = decode(&reply).map_err(|e| io_error(format!("relay reply: {e}")))?;
        if v.get("result").and_then(Value::as_str) != Some("ok") {
            self.counters.errors += 1;
            let reason = v
                .get("error-reason")
                .and_then(Value::as_str)
                .unwrap_or("error reply");
            return Err(io_error(format!(
                "relay {}: {reason}",
                self.relays[relay].addr
            )));
        }
        let sdp = match v.get("sdp") {
            Some(Value::Bytes(b)) => *b,
            _ => return Err(io_error("relay reply without SDP".into())),
        };
        let locals = reply_locals(sdp, &muxed)
            .filter(|l| l.len() == muxed.len())
            .ok_or_else(|| io_error("relay reply SDP unreadable".into()))?;
        if let Some(call) = self.calls.get_mut(&session) {
            for (st, l) in call.streams.iter_mut().zip(locals) {
                st.local[1 - leg] = l;
            }
        }
        Ok(())
    }

    /// Both sides of a call, on the relay it has or on one chosen for it now (failing over
    /// to another relay when the chosen one does not answer).
    fn signal_both(&mut self, session: SessionId) -> Result<(), RelayError> {
        let assigned = self
            .calls
            .get(&session)
            .ok_or(RelayError::UnknownSession(session))?
            .relay;
        if assigned != UNASSIGNED {
            self.signal(session, 0)?;
            return self.signal(session, 1);
        }
        let mut tried = Vec::new();
        loop {
            let Some(relay) = self.choose(&tried) else {
                return Err(io_error("no remote relay answers".into()));
            };
            if let Some(call) = self.calls.get_mut(&session) {
                call.relay = relay;
            }
            match self
                .signal(session, 0)
                .and_then(|()| self.signal(session, 1))
            {
                Ok(()) => return Ok(()),
                Err(e) if self.relays[relay].down_since.is_some() => {
                    tracing::warn!(relay = %self.relays[relay].addr, "new call moved to another relay: {e}");
                    self.counters.failovers += 1;
                    tried.push(relay);
                }
                Err(e) => {
                    if let Some(call) = self.calls.get_mut(&session) {
                        call.relay = UNASSIGNED;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// A call not yet given a relay.
const UNASSIGNED: usize = usize::MAX;

fn io_error(msg: String) -> RelayError {
    RelayError::Io(std::io::Error::other(msg))
}

impl MediaAnchor for RemoteRelays {
    fn create_session(&mut self) -> SessionId {
        self.next_session += 1;
        let id = SessionId(self.next_session);
        self.calls.insert(
            id,
            Call {
                relay: UNASSIGNED,
                call_id: format!("{}-{}", self.prefix, self.next_session),
                streams: Vec::new(),
            },
        );
        id
    }

    fn add_stream(
        &mut self,
        session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError> {
        let call = self
            .calls
            .get_mut(&session)
            .ok_or(RelayError::UnknownSession(session))?;
        let none = LocalLeg {
            rtp: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            rtcp: None,
        };
        call.streams.push(Stream {
            specs: legs,
            local: [none; 2],
        });
        let index = call.streams.len() - 1;
        match self.signal_both(session) {
            Ok(()) => {
                let call = self
                    .calls
                    .get(&session)
                    .ok_or(RelayError::UnknownSession(session))?;
                Ok((index, call.streams[index].local))
            }
            Err(e) => {
                if let Some(call) = self.calls.get_mut(&session) {
                    call.streams.pop();
                }
                Err(e)
            }
        }
    }

    fn update_stream(
        &mut self,
        session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError> {
        let call = self
            .calls
            .get_mut(&session)
            .ok_or(RelayError::UnknownSession(session))?;
        let st = call
            .streams
            .get_mut(stream)
            .ok_or(RelayError::UnknownStream(session, stream))?;
        for (leg, sig) in signals.iter().enumerate() {
            if let Some(sig) = sig {
                st.specs[leg].signal = *sig;
            }
        }
        for (leg, sig) in signals.iter().enumerate() {
            if sig.is_some() {
                self.signal(session, leg)?;
            }
        }
        Ok(())
    }

    fn set_crypto(
        &mut self,
        _session: SessionId,
        _stream: usize,
        _leg: Leg,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError> {
        match (inbound, outbound) {
            (KeyChange::Key(..), _) | (_, KeyChange::Key(..)) => {
                Err(io_error("SDES keys need the in-process relay".into()))
            }
            _ => Ok(()),
        }
    }

    fn new_master_key(&mut self) -> Option<MasterKey> {
        MasterKey::random()
    }

    fn set_ice(
        &mut self,
        _session: SessionId,
        _stream: usize,
        _leg: Leg,
        params: Option<IceParams>,
    ) -> Result<(), RelayError> {
        match params {
            None => Ok(()),
            Some(_) => Err(io_error("ICE-lite needs the in-process relay".into())),
        }
    }

    fn new_ice_credentials(&mut self) -> Option<(String, String)> {
        Some((ice_token(8)?, ice_token(24)?))
    }

    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        let call = self
            .calls
            .remove(&session)
            .ok_or(RelayError::UnknownSession(session))?;
        self.events.push_back(RelayEvent::Closed { session });
        if call.relay == UNASSIGNED || self.relays[call.relay].down_since.is_some() {
            return Ok(());
        }
        let reply = self.request(
            call.relay,
            &[
                (b"command", Value::Bytes(b"delete")),
                (b"call-id", Value::Bytes(call.call_id.as_bytes())),
                (b"from-tag", Value::Bytes(b"a")),
            ],
        )?;
        if let Ok(v) = decode(&reply) {
            self.final_stats
                .insert(session, stats_of(&v, call.streams.len()));
        }
        Ok(())
    }
}

/// Each stream's packets and bytes received from each leg's peer, from a `delete` (or
/// `query`) reply: tag `a` is leg A, tag `b` leg B; the first of a media's streams is its RTP.
fn stats_of(reply: &Value<'_>, streams: usize) -> Vec<[LegStats; 2]> {
    let mut out = vec![[LegStats::default(); 2]; streams];
    let Some(tags) = reply.get("tags") else {
        return out;
    };
    for (leg, tag) in ["a", "b"].into_iter().enumerate() {
        let Some(medias) = tags
            .get(tag)
            .and_then(|t| t.get("medias"))
            .and_then(Value::as_list)
        else {
            continue;
        };
        for (pos, m) in medias.iter().enumerate() {
            let index = m
                .get("index")
                .and_then(Value::as_int)
                .and_then(|i| usize::try_from(i - 1).ok())
                .unwrap_or(pos);
            let Some(stats) = m
                .get("streams")
                .and_then(Value::as_list)
                .and_then(<[_]>::first)
                .and_then(|s| s.get("stats"))
            else {
                continue;
            };
            let count = |k: &str| {
                stats
                    .get(k)
                    .and_then(Value::as_int)
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0)
            };
            if let Some(slot) = out.get_mut(index) {
                slot[leg].packets_in = count("packets");
                slot[leg].bytes_in = count("bytes");
            }
        }
    }
    out
}

impl MediaRelay for RemoteRelays {
    fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>> {
        self.final_stats.remove(&session)
    }

    fn session_stats(&self, _session: SessionId) -> Option<&[[LegStats; 2]]> {
        None
    }

    fn metrics(&self) -> RelayMetrics {
        RelayMetrics {
            backend: "ng",
            sessions: self.calls.len() as u64,
            streams: self.calls.values().map(|c| c.streams.len() as u64).sum(),
            ..RelayMetrics::default()
        }
    }
}
