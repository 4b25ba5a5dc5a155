//! Scripted call flows on virtual time: phone A ⇄ SBC ⇄ phone B, messages in, expected
//! messages out, and the relay calls a fake records (RFC 3665 §3, RFC 3261 §9, §14, §15).

use super::*;
use crate::stack::transaction::Transport;
use sbc_common::sdp::Sdp;
use sbc_common::sip::{HeaderName, Limits, Message, Method};
use sbc_relay::api::{KeyChange, LegSpec, LocalLeg, SessionId};
use sbc_relay::forward::{Direction, IceParams, LegSignal};
use sbc_relay::srtp::MasterKey;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const PHONE_A: &str = "198.51.100.10:5060";
const SBC_A: &str = "203.0.113.1:5060";
const SBC_B: &str = "10.0.0.1:5060";
const PHONE_B: &str = "10.0.0.20:5060";
/// A third party on leg B's side: a failover, forward or redirect target.
const PHONE_C: &str = "10.0.0.30:5060";

fn dest(s: &str) -> Dest {
    Dest::new(s.parse().unwrap(), Transport::Udp)
}

/// What the fake relay was asked to do.
#[derive(Clone, Debug)]
enum Op {
    Create(SessionId),
    Add(SessionId, [LegSpec; 2]),
    Update(SessionId, usize, [Option<LegSignal>; 2]),
    Crypto(SessionId, usize, Leg, KeyChange, KeyChange),
    Ice(SessionId, usize, Leg, Option<IceParams>),
    Dtls(SessionId, usize, Leg, Option<sbc_relay::api::DtlsParams>),
    Bundle(SessionId, usize, Leg, Vec<(usize, Vec<u8>)>),
    Delete(SessionId),
}

/// A relay that records calls and hands out predictable ports: 20000, 20002, ... on the
/// interface's address ("public" = SBC_A's, "core" = SBC_B's).
#[derive(Debug, Default)]
struct FakeAnchor {
    ops: Vec<Op>,
    next_session: SessionId,
    next_port: u16,
    streams: usize,
    keys: u8,
    ice: u32,
}

impl FakeAnchor {
    fn take(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.ops)
    }
}

impl MediaAnchor for FakeAnchor {
    fn create_session(&mut self) -> SessionId {
        self.next_session.0 += 1;
        self.ops.push(Op::Create(self.next_session));
        self.next_session
    }

    fn add_stream(
        &mut self,
        session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError> {
        let mut local = |spec: &LegSpec| {
            let ip: IpAddr = if spec.interface == "public" {
                "203.0.113.1".parse().unwrap()
            } else {
                "10.0.0.1".parse().unwrap()
            };
            let port = 20000 + self.next_port;
            self.next_port += 2;
            LocalLeg {
                rtp: SocketAddr::new(ip, port),
                rtcp: (!spec.rtcp_mux).then(|| SocketAddr::new(ip, port + 1)),
            }
        };
        let l = [local(&legs[0]), local(&legs[1])];
        self.ops.push(Op::Add(session, legs));
        self.streams += 1;
        Ok((self.streams - 1, l))
    }

    fn update_stream(
        &mut self,
        session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError> {
        self.ops.push(Op::Update(session, stream, signals));
        Ok(())
    }

    fn set_crypto(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError> {
        self.ops
            .push(Op::Crypto(session, stream, leg, inbound, outbound));
        Ok(())
    }

    fn set_ice(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        params: Option<IceParams>,
    ) -> Result<(), RelayError> {
        self.ops.push(Op::Ice(session, stream, leg, params));
        Ok(())
    }

    /// `ufragN` / `passwordN...` for the N-th pair asked for.
    fn new_ice_credentials(&mut self) -> Option<(String, String)> {
        self.ice += 1;
        Some((
            format!("ufrag{}", self.ice),
            format!("password{:016}", self.ice),
        ))
    }

    /// Keys 0x01.., 0x02.., ...: each byte the key's number.
    fn new_master_key(&mut self) -> Option<MasterKey> {
        self.keys += 1;
        Some(MasterKey::from_bytes(&[self.keys; 30]))
    }

    /// Bytes 0x5a: the relay's certificate in these tests.
    fn dtls_fingerprint(&self) -> Option<sbc_relay::api::Fingerprint> {
        Some(sbc_relay::api::Fingerprint([0x5a; 32]))
    }

    fn set_dtls(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        params: Option<sbc_relay::api::DtlsParams>,
    ) -> Result<(), RelayError> {
        self.ops.push(Op::Dtls(session, stream, leg, params));
        Ok(())
    }

    fn set_bundle(
        &mut self,
        session: SessionId,
        owner: usize,
        leg: Leg,
        members: &[(usize, Vec<u8>)],
    ) -> Result<(), RelayError> {
        self.ops
            .push(Op::Bundle(session, owner, leg, members.to_vec()));
        Ok(())
    }

    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        self.ops.push(Op::Delete(session));
        Ok(())
    }
}

type Core = B2bua<FakeAnchor, AnyRouter>;

/// Any [`Router`] a test picks: a plain routing function or a table of targets.
struct AnyRouter(Box<dyn Router>);

impl std::fmt::Debug for AnyRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyRouter")
    }
}

impl Router for AnyRouter {
    fn route(&mut self, invite: &Message, source: Dest) -> Result<Route, Rejection> {
        self.0.route(invite, source)
    }

    fn targets(&mut self, invite: &Message, source: Dest) -> Result<Vec<Target>, Rejection> {
        self.0.targets(invite, source)
    }

    fn reroute(&mut self, a_side: &Side, source: Dest, uri: &str) -> Vec<Target> {
        self.0.reroute(a_side, source, uri)
    }
}

fn route(_: &Message, _: Dest) -> Result<Route, Rejection> {
    Ok(Route {
        a_side: Side {
            sip: dest(SBC_A),
            media_interface: "public".into(),
            media_advertised: None,
            srtp: SrtpPolicy::Off,
            ice: IcePolicy::Off,
        },
        b_side: Side {
            sip: dest(SBC_B),
            media_interface: "core".into(),
            media_advertised: None,
            srtp: SrtpPolicy::Off,
            ice: IcePolicy::Off,
        },
        next_hop: dest(PHONE_B),
        request_uri: None,
        to_uri: None,
        pass_bodies: false,
    })
}

/// UA-A ⇄ SBC ⇄ UA-B on virtual time.
struct Net {
    sbc: Core,
    now: Instant,
    to_a: Vec<Message>,
    to_b: Vec<Message>,
    to_c: Vec<Message>,
    /// Messages sent to addresses a test added to `elsewhere` (a phone's new NAT mapping).
    to_elsewhere: Vec<(Dest, Message)>,
    elsewhere: Vec<Dest>,
    events: Vec<CallEvent>,
}

impl Net {
    fn new() -> Self {
        Self::with_config(CallConfig::default())
    }

    fn with_config(cfg: CallConfig) -> Self {
        Self::with_router(cfg, route)
    }

    fn with_router(cfg: CallConfig, router: impl Router + 'static) -> Self {
        Self {
            sbc: B2bua::new(cfg, 42, FakeAnchor::default(), AnyRouter(Box::new(router))),
            now: Instant::now(),
            to_a: Vec::new(),
            to_b: Vec::new(),
            to_c: Vec::new(),
            to_elsewhere: Vec::new(),
            elsewhere: Vec::new(),
            events: Vec::new(),
        }
    }

    fn feed(&mut self, msg: Message, from: &str) {
        let msg = parse(&msg.to_bytes());
        self.sbc.handle_message(self.now, msg, dest(from)).unwrap();
        self.drain();
    }

    fn send_a(&mut self, msg: Message) {
        self.feed(msg, PHONE_A);
    }

    fn send_b(&mut self, msg: Message) {
        self.feed(msg, PHONE_B);
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.sbc.handle_timer(self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(o) = self.sbc.poll_output() {
            match o {
                CallOutput::Transmit(t) => {
                    let msg = parse(&t.bytes);
                    if t.dest == dest(PHONE_A) {
                        self.to_a.push(msg);
                    } else if t.dest == dest(PHONE_B) {
                        self.to_b.push(msg);
                    } else if t.dest == dest(PHONE_C) {
                        self.to_c.push(msg);
                    } else if self.elsewhere.contains(&t.dest) {
                        self.to_elsewhere.push((t.dest, msg));
                    } else {
                        panic!("sent to {:?}", t.dest);
                    }
                }
                CallOutput::Event(e) => self.events.push(e),
            }
        }
    }

    fn a(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.to_a)
    }

    fn b(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.to_b)
    }

    /// The single message sent to A, asserting there was exactly one.
    fn one_a(&mut self) -> Message {
        let mut v = self.a();
        assert_eq!(v.len(), 1, "to A: {v:?}");
        v.remove(0)
    }

    fn one_b(&mut self) -> Message {
        let mut v = self.b();
        assert_eq!(v.len(), 1, "to B: {v:?}");
        v.remove(0)
    }

    fn ops(&mut self) -> Vec<Op> {
        self.sbc.media_mut().take()
    }
}

fn parse(bytes: &[u8]) -> Message {
    Message::parse(bytes::Bytes::copy_from_slice(bytes), &Limits::default()).unwrap()
}

fn sdp(origin: &str, version: u32, ip: &str, port: u16, dir: &str) -> String {
    format!(
        "v=0\r\no={origin} 1000 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na={dir}\r\n"
    )
}

fn sdp_a(version: u32, dir: &str) -> String {
    sdp("alice", version, "198.51.100.10", 49170, dir)
}

fn sdp_b(version: u32, dir: &str) -> String {
    sdp("bob", version, "10.0.0.20", 30000, dir)
}

fn with_sdp(mut m: Message, body: Option<&str>) -> Message {
    match body {
        Some(b) => m.set_body(bytes::Bytes::from(b.to_owned()), Some("application/sdp")),
        None => m.set_body(bytes::Bytes::new(), None),
    }
    m
}

fn invite_a(max_forwards: u32) -> Message {
    let mut m = Message::request(Method::Invite, "sip:bob@203.0.113.1:5060");
    for (n, v) in [
        ("Via", "SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKa1"),
        ("Max-Forwards", &max_forwards.to_string()),
        ("From", "\"Alice\" <sip:alice@a.example.com>;tag=atag"),
        ("To", "<sip:bob@b.example.com>"),
        ("Call-ID", "a-call-1@a.example.com"),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:alice@198.51.100.10:5060>"),
        ("Record-Route", "<sip:proxy.a.example.com;lr>"),
        ("User-Agent", "PhoneA/1.0"),
        ("X-Secret", "internal"),
    ] {
        m.push_header(HeaderName::from_name(n), v.to_owned());
    }
    with_sdp(m, Some(&sdp_a(1, "sendrecv")))
}

/// Phone B's answer to `req`, with its To tag and Contact.
fn reply_b(req: &Message, code: u16, body: Option<&str>) -> Message {
    let mut r = Message::response_to(req, code, "");
    if code > 100 && req.to().unwrap().tag().is_none() {
        let to = req.header(&HeaderName::To).unwrap().to_owned();
        r.set_header(HeaderName::To, format!("{to};tag=btag"));
    }
    if (101..300).contains(&code) && req.method() != Some(&Method::Bye) {
        r.push_header(HeaderName::Contact, "<sip:bob@10.0.0.20:5060>");
    }
    r.push_header(HeaderName::Server, "PhoneB/2.0");
    with_sdp(r, body)
}

/// Phone A's answer to an in-dialog request the SBC sent it.
fn reply_a(req: &Message, code: u16, body: Option<&str>) -> Message {
    let mut r = Message::response_to(req, code, "");
    if (101..300).contains(&code) && req.method() == Some(&Method::Invite) {
        r.push_header(HeaderName::Contact, "<sip:alice@198.51.100.10:5060>");
    }
    with_sdp(r, body)
}

/// An in-dialog request from a phone: `from`/`to` already carry their tags.
#[allow(clippy::too_many_arguments)]
fn request(
    method: Method,
    ruri: &str,
    via_host: &str,
    branch: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    body: Option<&str>,
) -> Message {
    let cseq = format!("{cseq} {method}");
    let is_invite = method == Method::Invite;
    let mut m = Message::request(method, ruri.to_owned());
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {via_host};branch={branch}"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, from.to_owned());
    m.push_header(HeaderName::To, to.to_owned());
    m.push_header(HeaderName::CallId, call_id.to_owned());
    m.push_header(HeaderName::CSeq, cseq);
    if is_invite {
        m.push_header(HeaderName::Contact, "<sip:alice@198.51.100.10:5060>");
    }
    with_sdp(m, body)
}

/// A request from phone A in the dialog the SBC's 2xx `ok` set up.
fn from_a(method: Method, ok: &Message, cseq: u32, branch: &str, body: Option<&str>) -> Message {
    let contact = ok.contacts().next().unwrap().unwrap();
    let sbc_c::Contact::Addr(addr) = contact else {
        panic!("star")
    };
    request(
        method,
        addr.uri,
        PHONE_A,
        branch,
        ok.header(&HeaderName::From).unwrap(),
        ok.header(&HeaderName::To).unwrap(),
        ok.call_id().unwrap(),
        cseq,
        body,
    )
}

/// A request from phone B in the dialog of the INVITE it received.
fn from_b(method: Method, inv: &Message, cseq: u32, branch: &str, body: Option<&str>) -> Message {
    let to = inv.header(&HeaderName::To).unwrap();
    request(
        method,
        "sip:10.0.0.1:5060",
        PHONE_B,
        branch,
        &format!("{to};tag=btag"),
        inv.header(&HeaderName::From).unwrap(),
        inv.call_id().unwrap(),
        cseq,
        body,
    )
}

mod sbc_c {
    pub(super) use sbc_common::sip::Contact;
}

fn media_of(msg: &Message) -> (String, u16, String, Option<u64>, String) {
    let sdp = Sdp::parse(msg.body()).unwrap();
    let m = sdp.media().next().unwrap();
    let conn = m.connection().unwrap().address.to_owned();
    let origin = sdp.origin().unwrap();
    (
        conn,
        m.port(),
        m.direction().as_str().to_owned(),
        origin.session_version_number(),
        origin.ip().unwrap().to_string(),
    )
}

fn top_branch(msg: &Message) -> String {
    msg.via().unwrap().branch().unwrap().to_owned()
}

/// The A-side and B-side messages of an answered call.
struct Answered {
    b_invite: Message,
    a_ok: Message,
}

/// Runs INVITE → 100 → 180 → 200 → ACK and checks everything on the way.
fn answered_call(net: &mut Net) -> Answered {
    let a_inv = invite_a(70);
    net.send_a(a_inv.clone());
    let trying = net.one_a();
    assert_eq!(trying.status(), Some(100));
    let b_invite = net.one_b();
    let ops = net.ops();
    assert!(matches!(ops[0], Op::Create(SessionId(1))));
    let Op::Add(SessionId(1), legs) = &ops[1] else {
        panic!("{ops:?}")
    };
    assert_eq!(legs[0].interface, "public");
    assert_eq!(
        legs[0].signal.remote_rtp,
        Some("198.51.100.10:49170".parse().unwrap())
    );
    assert_eq!(legs[1].interface, "core");
    assert_eq!(legs[1].signal.remote_rtp, None);

    net.send_b(reply_b(&b_invite, 100, None));
    assert!(net.a().is_empty() && net.b().is_empty());
    net.send_b(reply_b(&b_invite, 180, None));
    let ringing = net.one_a();
    assert_eq!(ringing.status(), Some(180));
    assert!(ringing.to().unwrap().tag().is_some());
    assert_eq!(
        ringing.header(&HeaderName::Contact),
        Some("<sip:203.0.113.1:5060>")
    );
    assert!(ringing.body().is_empty());

    net.send_b(reply_b(&b_invite, 200, Some(&sdp_b(7, "sendrecv"))));
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    assert_eq!(a_ok.call_id(), Some("a-call-1@a.example.com"));
    assert_eq!(a_ok.to().unwrap().tag(), ringing.to().unwrap().tag());
    assert_eq!(
        a_ok.header(&HeaderName::Contact),
        Some("<sip:203.0.113.1:5060>")
    );
    assert_eq!(a_ok.header(&HeaderName::Server), Some("PhoneB/2.0"));
    let text = String::from_utf8(a_ok.to_bytes().to_vec()).unwrap();
    assert!(!text.contains("10.0.0.20"), "B's address leaked: {text}");
    assert!(!text.contains("btag"), "B's tag leaked: {text}");
    // The relay's A-side port for the stream (the fake gave A 20000, B 20002).
    assert_eq!(
        media_of(&a_ok),
        (
            "203.0.113.1".into(),
            20000,
            "sendrecv".into(),
            Some(7),
            "203.0.113.1".into()
        )
    );
    let ops = net.ops();
    let [Op::Update(SessionId(1), 0, [None, Some(sig)])] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(sig.remote_rtp, Some("10.0.0.20:30000".parse().unwrap()));
    assert_eq!(sig.direction, Direction::SendRecv);
    assert!(net.b().is_empty(), "B's 2xx is ACKed when A ACKs");
    assert!(matches!(
        net.events[..],
        [
            CallEvent::Started { .. },
            CallEvent::Progress { code: 180, .. },
            CallEvent::Answered { .. }
        ]
    ));

    net.send_a(from_a(Method::Ack, &a_ok, 1, "z9hG4bKa2", None));
    let ack = net.one_b();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.call_id(), b_invite.call_id());
    assert_eq!(ack.cseq().unwrap().seq, b_invite.cseq().unwrap().seq);
    assert_eq!(ack.to().unwrap().tag(), Some("btag"));
    assert_ne!(top_branch(&ack), top_branch(&b_invite));
    assert!(net.a().is_empty());
    Answered { b_invite, a_ok }
}

/// Like `route`, but the core side sits behind 1:1 NAT with a public media address.
fn route_behind_nat(m: &Message, d: Dest) -> Result<Route, Rejection> {
    let mut r = route(m, d)?;
    r.b_side.media_advertised = Some("203.0.113.50".parse().expect("ip"));
    Ok(r)
}

// ----- helpers for reliable provisionals and forking (provisionals.rs, prack.rs, parallel.rs) -----

/// Phone A's INVITE advertising `100rel` in `header` (Supported or Require), with an offer.
fn invite_a_100rel(header: HeaderName) -> Message {
    let mut m = invite_a(70);
    m.push_header(header, "100rel");
    m.push_header(HeaderName::Supported, "replaces");
    m
}

/// A provisional from a fork of B: its own To tag and Contact, reliable when `rseq` is given.
fn fork_reply(
    req: &Message,
    code: u16,
    tag: &str,
    contact: &str,
    rseq: Option<u32>,
    body: Option<&str>,
) -> Message {
    let mut r = Message::response_to(req, code, "");
    let to = req.header(&HeaderName::To).unwrap().to_owned();
    r.set_header(HeaderName::To, format!("{to};tag={tag}"));
    r.push_header(HeaderName::Contact, format!("<{contact}>"));
    if let Some(rseq) = rseq {
        r.push_header(HeaderName::Require, "100rel");
        r.push_header(HeaderName::RSeq, rseq.to_string());
    }
    r.push_header(HeaderName::Supported, "100rel, timer");
    with_sdp(r, body)
}

/// Phone A's PRACK for the reliable provisional `prov` the SBC sent it.
fn prack_a(prov: &Message, cseq: u32, branch: &str, body: Option<&str>) -> Message {
    let rseq = prov.rseq().expect("a reliable provisional");
    let mut m = from_a(Method::Prack, prov, cseq, branch, body);
    m.push_header(HeaderName::RAck, format!("{rseq} 1 INVITE"));
    let body = m.body().clone();
    let ct = m.content_type().map(str::to_owned);
    m.set_body(body, ct.as_deref());
    m
}

fn tokens(m: &Message, name: &HeaderName) -> Vec<String> {
    m.values(name).map(str::to_owned).collect()
}

/// An audio + video SDP; `video_port` 0 rejects the video line (RFC 3264 §8.2).
fn sdp_av(origin: &str, version: u32, ip: &str, port: u16, video_port: u16) -> String {
    format!(
        "{}m=video {video_port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
        sdp(origin, version, ip, port, "sendrecv")
    )
}

/// The port of every `m=` line.
fn ports_of(msg: &Message) -> Vec<u16> {
    Sdp::parse(msg.body())
        .unwrap()
        .media()
        .map(|m| m.port())
        .collect()
}

// ----- helpers for session timers (session_timers.rs) -----

fn timer_config(min_se_s: u32) -> CallConfig {
    CallConfig {
        session_timer: SessionTimerConfig {
            expires_s: 1800,
            min_se_s,
        },
        ..CallConfig::default()
    }
}

fn with_headers(mut m: Message, extra: &[(&str, &str)]) -> Message {
    for (n, v) in extra {
        m.push_header(HeaderName::from_name(n), (*v).to_owned());
    }
    m
}

/// INVITE (with `a_extra`) → 200 from B (with `b_extra`) → ACK, returning both legs' messages.
fn call_with(net: &mut Net, a_extra: &[(&str, &str)], b_extra: &[(&str, &str)]) -> Answered {
    net.send_a(with_headers(invite_a(70), a_extra));
    assert_eq!(net.one_a().status(), Some(100));
    let b_invite = net.one_b();
    let ok = with_headers(
        reply_b(&b_invite, 200, Some(&sdp_b(7, "sendrecv"))),
        b_extra,
    );
    net.send_b(ok);
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    net.send_a(from_a(Method::Ack, &a_ok, 1, "z9hG4bKa2", None));
    assert_eq!(net.one_b().method(), Some(&Method::Ack));
    net.ops();
    Answered { b_invite, a_ok }
}

fn assert_session_expired(net: &mut Net) {
    let bye_a = net.one_a();
    let bye_b = net.one_b();
    for bye in [&bye_a, &bye_b] {
        assert_eq!(bye.method(), Some(&Method::Bye));
        assert_eq!(
            bye.header(&HeaderName::Reason),
            Some("SIP;cause=408;text=\"Session timer expired\"")
        );
    }
    assert!(matches!(
        net.events.last(),
        Some(CallEvent::Ended {
            reason: EndReason::SessionExpired,
            code: 408,
            ..
        })
    ));
    assert!(matches!(net.ops()[..], [Op::Delete(SessionId(1))]));
    assert_eq!(net.sbc.call_count(), 0);
}

// ----- helpers for REFER and its NOTIFYs (in_dialog.rs) -----

fn notify_b(inv: &Message, cseq: u32, branch: &str, state: &str, frag: &'static str) -> Message {
    let mut n = with_headers(
        from_b(Method::Notify, inv, cseq, branch, None),
        &[("Event", "refer"), ("Subscription-State", state)],
    );
    n.set_body(
        bytes::Bytes::from_static(frag.as_bytes()),
        Some("message/sipfrag"),
    );
    n
}

mod basic;
mod control;
mod hygiene;
mod in_dialog;
mod nondialog;
mod operations;
mod parallel;
mod prack;
mod provisionals;
mod retries;
mod session_timers;
mod srtp;
mod webrtc;
