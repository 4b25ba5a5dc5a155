//! The ng service, sans IO: a datagram from a source in, the reply out. It refuses sources not
//! allowed, answers a retransmitted cookie from the replay cache, enforces the session limit
//! (with rtpengine's `load limit` extension for clients that support it), carries out the
//! commands on an [`Anchor`], and counts what it did for the daemon's metrics.

use super::anchor::Anchor;
use super::calls::{CallStats, Calls};
use super::{error_reply, parse, Command, NgError, ReplayCache, Request};
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

/// The ng protocol served over one relay.
#[derive(Debug)]
pub struct Service {
    calls: Calls,
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

    /// Delayed deletes due at `now`.
    pub fn tick(&mut self, relay: &mut dyn Anchor, now: Instant) -> usize {
        self.calls.expire(relay, now)
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
        if let Some(i) = Command::ALL.iter().position(|c| *c == req.command) {
            self.counters.requests[i] += 1;
        }
        let out = match self.act(relay, now, &req) {
            Ok(out) => out,
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
    ) -> Result<Vec<u8>, NgError> {
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
            Command::Delete => {
                let delay = req.delete_delay.map_or(self.cfg.delete_delay, |s| {
                    Duration::from_secs(u64::try_from(s).unwrap_or(0))
                });
                match self.calls.delete(relay, req, now, delay) {
                    Ok(Some(stats)) if !req.has_flag("fast") => {
                        Ok(ok_with(cookie, vec![("totals".into(), totals(stats))]))
                    }
                    Ok(_) => Ok(ok_with(cookie, Vec::new())),
                    // Without `fatal`, an unknown call is a warning, as in rtpengine.
                    Err(e @ NgError::UnknownCall(_)) if !req.has_flag("fatal") => Ok(ok_with(
                        cookie,
                        vec![("warning".into(), Out::str(e.reason()))],
                    )),
                    Err(e) => Err(e),
                }
            }
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
        let stats = relay.stats(call.session);
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
        let totals = totals(CallStats::of(&stats));
        Ok(ok_with(
            req.cookie,
            vec![
                ("created".into(), Out::int(call.created)),
                ("last signal".into(), Out::int(call.last_signal)),
                ("tags".into(), Out::Dict(tags)),
                ("totals".into(), totals),
            ],
        ))
    }
}

fn sdp_out(sdp: Vec<u8>) -> Out {
    // SDP is text; a body that is not UTF-8 was refused by the parser already.
    Out::Str(String::from_utf8_lossy(&sdp).into_owned())
}
