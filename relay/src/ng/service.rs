//! The ng service, sans IO: a datagram from a source in, the reply out. It refuses sources not
//! allowed, answers a retransmitted cookie from the replay cache, enforces the session limit
//! (with rtpengine's `load limit` extension for clients that support it), carries out the
//! commands on an [`Anchor`], and counts what it did for the daemon's metrics.

use super::anchor::Anchor;
use super::calls::{Call, CallStats, Calls, Deleted};
use super::{error_reply, parse, Command, NgError, ReplayCache, Request};
use crate::api::SessionId;
use crate::forward::LegStats;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How the service is set up.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Source addresses allowed to send commands.
    pub allow: Vec<IpAddr>,
    /// Most calls anchored at once (0: no limit).
    pub max_sessions: usize,
    /// `delete-delay` when a request gives none.
    pub delete_delay: Duration,
    /// The interface of legs whose request names no `direction`.
    pub default_interface: String,
}

/// What the service counted, for Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NgCounters {
    /// Requests acted on, by command (in [`Command::ALL`] order).
    pub requests: [u64; Command::ALL.len()],
    /// Error replies sent.
    pub errors: u64,
    /// Datagrams from sources not allowed, dropped unanswered.
    pub refused_sources: u64,
    /// Datagrams that could not be read as requests.
    pub malformed: u64,
    /// Retransmissions answered from the replay cache.
    pub replays: u64,
    /// Offers refused at the session limit.
    pub load_limited: u64,
}

/// An owned bencode value for replies whose text is computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Out>),
    /// A dictionary, keys in the given order.
    Dict(Vec<(String, Out)>),
}

impl Out {
    fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    fn dict<const N: usize>(pairs: [(&str, Out); N]) -> Self {
        Self::Dict(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn int(n: u64) -> Self {
        Self::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// Appends the bencoding of this value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn bytes(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(b.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(b);
        }
        match self {
            Self::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Self::Str(s) => bytes(out, s.as_bytes()),
            Self::List(items) => {
                out.push(b'l');
                items.iter().for_each(|v| v.encode(out));
                out.push(b'e');
            }
            Self::Dict(pairs) => {
                out.push(b'd');
                for (k, v) in pairs {
                    bytes(out, k.as_bytes());
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn ok_with(cookie: &[u8], mut pairs: Vec<(String, Out)>) -> Vec<u8> {
    pairs.insert(0, ("result".to_owned(), Out::str("ok")));
    let mut out = cookie.to_vec();
    out.push(b' ');
    Out::Dict(pairs).encode(&mut out);
    out
}

fn totals(stats: CallStats) -> Out {
    Out::dict([(
        "RTP",
        Out::dict([
            ("packets", Out::int(stats.packets)),
            ("bytes", Out::int(stats.bytes)),
            ("errors", Out::int(stats.errors)),
        ]),
    )])
}

/// A `delete` whose reply waits for the relay's final statistics of the call.
#[derive(Debug)]
struct PendingDelete {
    call: Box<Call>,
    cookie: Vec<u8>,
    from: SocketAddr,
    via: usize,
    /// When to reply without them.
    deadline: Instant,
}

/// How long a `delete` reply may wait for the final statistics.
const FINAL_STATS_WAIT: Duration = Duration::from_millis(100);

/// A reply to send later: on the socket `via`, to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LateReply {
    /// The index of the socket the request came in on.
    pub via: usize,
    /// The requester.
    pub to: SocketAddr,
    /// The datagram.
    pub reply: Vec<u8>,
}

/// The ng protocol served over one relay.
#[derive(Debug)]
pub struct Service {
    calls: Calls,
    pending: HashMap<SessionId, PendingDelete>,
    cache: ReplayCache,
    cfg: ServiceConfig,
    counters: NgCounters,
    started: Instant,
}

impl Service {
    /// A service with no calls.
    pub fn new(cfg: ServiceConfig) -> Self {
        Self {
            calls: Calls::new(&cfg.default_interface),
            pending: HashMap::new(),
            cache: ReplayCache::new(4096, Duration::from_secs(30)),
            cfg,
            counters: NgCounters::default(),
            started: Instant::now(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> NgCounters {
        self.counters
    }

    /// Calls anchored now.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Replaces the allow-list and limits (SIGHUP); calls are kept.
    pub fn reconfigure(&mut self, allow: Vec<IpAddr>, max_sessions: usize, delay: Duration) {
        self.cfg.allow = allow;
        self.cfg.max_sessions = max_sessions;
        self.cfg.delete_delay = delay;
    }

    /// Delayed deletes due at `now`, and `delete` replies that waited long enough for final
    /// statistics (sent with the last ones known).
    pub fn tick(&mut self, relay: &mut dyn Anchor, now: Instant) -> Vec<LateReply> {
        self.calls.expire(relay, now);
        let due: Vec<SessionId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        due.into_iter()
            .filter_map(|s| self.finish_delete(now, s, Vec::new()))
            .collect()
    }

    /// The relay closed `session` (its final statistics wait in the relay): the `delete`
    /// reply that waited for them, if any.
    pub fn closed(
        &mut self,
        relay: &mut dyn Anchor,
        now: Instant,
        session: SessionId,
    ) -> Option<LateReply> {
        if !self.pending.contains_key(&session) {
            return None;
        }
        let stats = relay.take_final_stats(session).unwrap_or_default();
        self.finish_delete(now, session, stats)
    }

    fn finish_delete(
        &mut self,
        now: Instant,
        session: SessionId,
        stats: Vec<[LegStats; 2]>,
    ) -> Option<LateReply> {
        let p = self.pending.remove(&session)?;
        let reply = ok_with(&p.cookie, detail_of(&p.call, &stats));
        self.cache.put(now, &p.cookie, reply.clone());
        Some(LateReply {
            via: p.via,
            to: p.from,
            reply,
        })
    }

    /// Ends every call (shutdown).
    pub fn shutdown(&mut self, relay: &mut dyn Anchor) {
        self.calls.clear(relay);
    }

    /// One datagram from `from`: the reply to send back, if any.
    pub fn handle(
        &mut self,
        relay: &mut dyn Anchor,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Option<Vec<u8>> {
        self.handle_via(relay, now, from, 0, datagram)
    }

    /// [`Service::handle`] for a datagram that came in on socket `via`: a `delete` reply that
    /// waits for the call's final statistics comes later from [`Service::closed`] or
    /// [`Service::tick`], for that socket.
    pub fn handle_via(
        &mut self,
        relay: &mut dyn Anchor,
        now: Instant,
        from: SocketAddr,
        via: usize,
        datagram: &[u8],
    ) -> Option<Vec<u8>> {
        if !self.cfg.allow.contains(&from.ip()) {
            self.counters.refused_sources += 1;
            return None;
        }
        let req = match parse(datagram) {
            Ok(r) => r,
            Err((cookie, e)) => {
                self.counters.malformed += 1;
                self.counters.errors += u64::from(cookie.is_some());
                return cookie.map(|c| error_reply(c, &e));
            }
        };
        if let Some(cached) = self.cache.get(now, req.cookie) {
            self.counters.replays += 1;
            return Some(cached.to_vec());
        }
        if self.pending.values().any(|p| p.cookie == req.cookie) {
            // A retransmitted delete whose reply is on its way.
            self.counters.replays += 1;
            return None;
        }
        if let Some(i) = Command::ALL.iter().position(|c| *c == req.command) {
            self.counters.requests[i] += 1;
        }
        let out = match self.act(relay, now, &req) {
            Ok(Acted::Reply(out)) => out,
            Ok(Acted::Deleting(call)) => {
                self.pending.insert(
                    call.session,
                    PendingDelete {
                        call,
                        cookie: req.cookie.to_vec(),
                        from,
                        via,
                        deadline: now + FINAL_STATS_WAIT,
                    },
                );
                return None;
            }
            Err(e) => {
                self.counters.errors += 1;
                error_reply(req.cookie, &e)
            }
        };
        self.cache.put(now, req.cookie, out.clone());
        Some(out)
    }

    fn act(
        &mut self,
        relay: &mut dyn Anchor,
        now: Instant,
        req: &Request<'_>,
    ) -> Result<Acted, NgError> {
        if req.command == Command::Delete {
            return self.delete(relay, now, req);
        }
        self.answer(relay, req).map(Acted::Reply)
    }

    fn delete(
        &mut self,
        relay: &mut dyn Anchor,
        now: Instant,
        req: &Request<'_>,
    ) -> Result<Acted, NgError> {
        let cookie = req.cookie;
        let delay = req.delete_delay.map_or(self.cfg.delete_delay, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(0))
        });
        let fast = req.has_flag("fast");
        // Statistics now, for a delayed delete (the call stays until then).
        let snapshot = req
            .call_id
            .and_then(|id| self.calls.get(id))
            .map(|c| detail_of(c, &relay.stats(c.session)));
        match self.calls.delete(relay, req, now, delay) {
            Ok(Deleted::Now(call)) if !fast => Ok(Acted::Deleting(call)),
            Ok(Deleted::Later) if !fast => {
                Ok(Acted::Reply(ok_with(cookie, snapshot.unwrap_or_default())))
            }
            Ok(_) => Ok(Acted::Reply(ok_with(cookie, Vec::new()))),
            // Without `fatal`, an unknown call is a warning, as in rtpengine.
            Err(e @ NgError::UnknownCall(_)) if !req.has_flag("fatal") => Ok(Acted::Reply(
                ok_with(cookie, vec![("warning".into(), Out::str(e.reason()))]),
            )),
            Err(e) => Err(e),
        }
    }

    fn answer(&mut self, relay: &mut dyn Anchor, req: &Request<'_>) -> Result<Vec<u8>, NgError> {
        let cookie = req.cookie;
        match req.command {
            Command::Ping => {
                let mut out = cookie.to_vec();
                out.push(b' ');
                Out::dict([("result", Out::str("pong"))]).encode(&mut out);
                Ok(out)
            }
            Command::Offer => {
                let new = !self.calls.contains(req.call_id.unwrap_or_default());
                if new && self.cfg.max_sessions > 0 && self.calls.len() >= self.cfg.max_sessions {
                    self.counters.load_limited += 1;
                    if req.supports("load limit") {
                        let mut out = cookie.to_vec();
                        out.push(b' ');
                        Out::dict([
                            ("result", Out::str("load limit")),
                            ("message", Out::str("Parallel session limit reached")),
                        ])
                        .encode(&mut out);
                        return Ok(out);
                    }
                    return Err(NgError::LoadLimit);
                }
                let sdp = self.calls.offer(relay, req)?;
                Ok(ok_with(cookie, vec![("sdp".into(), sdp_out(sdp))]))
            }
            Command::Answer => {
                let sdp = self.calls.answer(relay, req)?;
                Ok(ok_with(cookie, vec![("sdp".into(), sdp_out(sdp))]))
            }
            Command::Delete => Err(NgError::UnknownCommand("delete".into())),
            Command::Query => self.query(relay, req),
            Command::List => {
                let limit = req.limit.filter(|&n| n > 0).unwrap_or(32);
                let ids = self.calls.list(usize::try_from(limit).unwrap_or(32));
                let list = ids.into_iter().map(Out::str).collect();
                Ok(ok_with(cookie, vec![("calls".into(), Out::List(list))]))
            }
            Command::Statistics => {
                let (relayed, dropped) = relay.relayed();
                let current = Out::dict([
                    ("sessionsown", Out::int(self.calls.len() as u64)),
                    ("sessionsforeign", Out::Int(0)),
                    ("sessionstotal", Out::int(self.calls.len() as u64)),
                ]);
                let total = Out::dict([
                    (
                        "uptime",
                        Out::str(self.started.elapsed().as_secs().to_string()),
                    ),
                    ("managedsessions", Out::int(self.calls.created_total)),
                    ("rejectedsessions", Out::int(self.counters.load_limited)),
                    ("relayedpackets", Out::int(relayed)),
                    ("relayedpacketerrors", Out::int(dropped)),
                ]);
                Ok(ok_with(
                    cookie,
                    vec![(
                        "statistics".into(),
                        Out::dict([("currentstatistics", current), ("totalstatistics", total)]),
                    )],
                ))
            }
        }
    }

    fn query(&self, relay: &dyn Anchor, req: &Request<'_>) -> Result<Vec<u8>, NgError> {
        let call_id = req.call_id.ok_or(NgError::Missing("call-id"))?;
        let call = self
            .calls
            .get(call_id)
            .ok_or_else(|| NgError::UnknownCall(call_id.to_owned()))?;
        Ok(ok_with(
            req.cookie,
            detail_of(call, &relay.stats(call.session)),
        ))
    }
}

/// What the service did with a request.
enum Acted {
    /// The reply, now.
    Reply(Vec<u8>),
    /// A call being deleted: its reply waits for the final statistics.
    Deleting(Box<Call>),
}

/// What `query` (and `delete`, as rtpengine does) reports of a call with `stats`: `created`,
/// `last signal`, `tags` with each side's media and statistics, `totals`.
fn detail_of(call: &Call, stats: &[[LegStats; 2]]) -> Vec<(String, Out)> {
    let mut tags = Vec::new();
    for side in 0..2 {
        let tag = call.tags[side].clone().unwrap_or_default();
        let other = call.tags[1 - side].clone();
        let mut medias = Vec::new();
        for (pos, st) in call.streams.iter().enumerate() {
            let Some(st) = st else { continue };
            let leg = stats.get(st.index).map(|l| l[side]);
            let endpoint = |a: Option<SocketAddr>| match a {
                Some(a) => Out::dict([
                    (
                        "family",
                        Out::str(if a.is_ipv4() { "IPv4" } else { "IPv6" }),
                    ),
                    ("address", Out::str(a.ip().to_string())),
                    ("port", Out::Int(i64::from(a.port()))),
                ]),
                None => Out::Dict(Vec::new()),
            };
            let stream = Out::dict([
                ("local port", Out::Int(i64::from(st.local[side].rtp.port()))),
                (
                    "endpoint",
                    endpoint(leg.and_then(|l| l.peer).or(st.advertised[side])),
                ),
                ("advertised endpoint", endpoint(st.advertised[side])),
                (
                    "stats",
                    Out::dict([
                        ("packets", Out::int(leg.map_or(0, |l| l.packets_in))),
                        ("bytes", Out::int(leg.map_or(0, |l| l.bytes_in))),
                        ("errors", Out::int(leg.map_or(0, |l| l.drops.iter().sum()))),
                    ]),
                ),
            ]);
            let mut flags = vec![Out::str("initialized")];
            if st.mux[side] {
                flags.push(Out::str("rtcp-mux"));
            }
            medias.push(Out::dict([
                ("index", Out::int(pos as u64 + 1)),
                ("type", Out::str(st.media_type.clone())),
                ("protocol", Out::str(st.proto[side].clone())),
                ("flags", Out::List(flags)),
                ("streams", Out::List(vec![stream])),
            ]));
        }
        let mut entry = vec![
            ("tag".to_owned(), Out::str(tag.clone())),
            ("created".to_owned(), Out::int(call.created)),
            ("medias".to_owned(), Out::List(medias)),
        ];
        if let Some(label) = &call.labels[side] {
            entry.push(("label".to_owned(), Out::str(label.clone())));
        }
        if let Some(o) = other {
            entry.push(("in dialogue with".to_owned(), Out::str(o)));
        }
        tags.push((tag, Out::Dict(entry)));
    }
    let totals = totals(CallStats::of(stats));
    vec![
        ("created".into(), Out::int(call.created)),
        ("last signal".into(), Out::int(call.last_signal)),
        ("tags".into(), Out::Dict(tags)),
        ("totals".into(), totals),
    ]
}

fn sdp_out(sdp: Vec<u8>) -> Out {
    // SDP is text; a body that is not UTF-8 was refused by the parser already.
    Out::Str(String::from_utf8_lossy(&sdp).into_owned())
}
