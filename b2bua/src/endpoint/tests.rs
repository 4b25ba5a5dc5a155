//! The endpoint on virtual time with scripted inputs and the outputs expected, no sockets:
//! ingress per interface and transport, routing and the no-open-relay rule, the front door,
//! drain, reload, management commands, CDRs, and the socket or flow each output uses.

use super::*;
use crate::call::MediaAnchor;
use crate::ops::management::Command;
use sbc_common::digest::{self, AnswerParams, Challenge, Credentials};
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_relay::api::{LegSpec, LocalLeg, RelayError, RelayEvent, RelayMetrics, SessionId};
use sbc_relay::forward::{LegSignal, LegStats};
use std::net::SocketAddr;
use tokio::sync::oneshot;

mod admission;
mod names;
mod tls;
mod websocket;

/// The customer interface: UDP socket 0 and TCP listener 0; the core: UDP socket 1 and TCP
/// listener 1.
const CONFIG: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }, { transport = "tcp", address = "127.0.0.1:5061" }]
media_address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }, { transport = "tcp", address = "127.0.0.1:5081" }]
media_address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 30999

[[route]]
name = "emergency"
from_interface = "customer"
request_user = "911"
next_hop = "127.0.0.1:5091"
transport = "tcp"
to_interface = "core"
priority = 10

[[route]]
name = "default"
from_interface = "customer"
request_domain = "example.com"
next_hop = "127.0.0.1:5090"
to_interface = "core"
"#;

const REALM: &str = r#"
[[realm]]
domain = "office.example.net"
mode = "local"
auth_required = true

[[user]]
username = "alice"
realm = "office.example.net"
password = "wonderland"

[auth]
secret = "0123456789abcdef0123456789abcdef"
"#;

const PHONE: &str = "203.0.113.5:40000";
const UAS: &str = "127.0.0.1:5090";

/// A relay that hands out ports and replays the events a test queues.
#[derive(Debug, Default)]
struct FakeRelay {
    next_session: SessionId,
    next_port: u16,
    streams: usize,
    deleted: Vec<SessionId>,
    events: VecDeque<RelayEvent>,
}

impl MediaAnchor for FakeRelay {
    fn create_session(&mut self) -> SessionId {
        self.next_session.0 += 1;
        self.next_session
    }

    fn add_stream(
        &mut self,
        _: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError> {
        let mut local = |spec: &LegSpec| {
            let base = if spec.interface == "customer" {
                20000
            } else {
                30000
            };
            let port = base + self.next_port;
            self.next_port += 2;
            LocalLeg {
                rtp: SocketAddr::from(([127, 0, 0, 1], port)),
                rtcp: None,
            }
        };
        let l = [local(&legs[0]), local(&legs[1])];
        self.streams += 1;
        Ok((self.streams - 1, l))
    }

    fn update_stream(
        &mut self,
        _: SessionId,
        _: usize,
        _: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError> {
        Ok(())
    }

    fn set_crypto(
        &mut self,
        _: SessionId,
        _: usize,
        _: crate::call::Leg,
        _: sbc_relay::api::KeyChange,
        _: sbc_relay::api::KeyChange,
    ) -> Result<(), RelayError> {
        Ok(())
    }

    fn new_master_key(&mut self) -> Option<sbc_relay::srtp::MasterKey> {
        Some(sbc_relay::srtp::MasterKey::from_bytes(&[7; 30]))
    }

    fn set_ice(
        &mut self,
        _: SessionId,
        _: usize,
        _: crate::call::Leg,
        _: Option<sbc_relay::forward::IceParams>,
    ) -> Result<(), RelayError> {
        Ok(())
    }

    fn new_ice_credentials(&mut self) -> Option<(String, String)> {
        Some(("ufrag".into(), "password0123456789012345".into()))
    }

    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        self.deleted.push(session);
        Ok(())
    }
}

impl MediaRelay for FakeRelay {
    fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    fn take_final_stats(&mut self, _: SessionId) -> Option<Vec<[LegStats; 2]>> {
        let stats = LegStats {
            packets_in: 500,
            ..LegStats::default()
        };
        Some(vec![[stats, stats]])
    }

    fn session_stats(&self, _: SessionId) -> Option<&[[LegStats; 2]]> {
        None
    }

    fn metrics(&self) -> RelayMetrics {
        RelayMetrics::default()
    }
}

/// One endpoint and its virtual clock.
struct Net {
    ep: Endpoint<FakeRelay>,
    now: Instant,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Net {
    fn new(extra: &str) -> Self {
        Self::with_config(&format!("{CONFIG}\n{extra}"))
    }

    fn with_config(text: &str) -> Self {
        let cfg = Config::from_toml_str(text, "t.toml").unwrap();
        let now = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ep = Endpoint::new(
            Arc::new(cfg),
            FakeRelay::default(),
            7,
            b"0123456789abcdef0123456789abcdef".to_vec(),
            now,
            wall,
        )
        .unwrap();
        Self { ep, now }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn feed(&mut self, input: Input) -> Vec<Output> {
        self.ep.handle(self.now, input);
        std::iter::from_fn(|| self.ep.poll_output()).collect()
    }

    fn udp(&mut self, socket: usize, from: &str, text: &str) -> Vec<Output> {
        self.feed(Input::Datagram {
            socket,
            source: addr(from),
            bytes: Bytes::from(text.to_owned()),
        })
    }
}

/// The datagrams among `outs` as (socket, destination, parsed message).
fn datagrams(outs: &[Output]) -> Vec<(usize, SocketAddr, Message)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Udp { socket, to, bytes } => Some((
                *socket,
                *to,
                Message::parse(bytes.clone(), &Limits::default()).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

/// The one datagram with this status or method.
fn find(outs: &[Output], what: &str) -> (usize, SocketAddr, Message) {
    datagrams(outs)
        .into_iter()
        .find(|(_, _, m)| {
            m.status().map(|s| s.to_string()).as_deref() == Some(what)
                || m.method().map(|x| x.as_str()) == Some(what)
        })
        .unwrap_or_else(|| panic!("no {what} in {outs:#?}"))
}

fn invite(ruri: &str, call_id: &str, via: &str, sdp: bool) -> String {
    let body = if sdp {
        "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    } else {
        ""
    };
    let ctype = if sdp {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/{via};branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@office.example.net>;tag=a1\r\nTo: <{ruri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.168.1.20:5060>\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A response to `req` from its far end, with a To tag (and an SDP answer for a 200).
fn answer_to(req: &Message, code: u16, reason: &str) -> String {
    let mut rsp = Message::response_to(req, code, reason);
    let to = rsp.header(&HeaderName::To).unwrap().to_owned();
    rsp.set_header(HeaderName::To, format!("{to};tag=b1"));
    if code == 200 {
        rsp.push_header(HeaderName::Contact, "<sip:uas@127.0.0.1:5090>");
        if req.has_sdp() {
            let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
            rsp.set_body(Bytes::from_static(sdp.as_bytes()), Some("application/sdp"));
        }
    }
    String::from_utf8(rsp.to_bytes().to_vec()).unwrap()
}

/// Places a call from the phone through the customer socket to the UAS and answers it; returns
/// leg B's INVITE as the UAS got it and the 200 leg A got.
fn answered_call(net: &mut Net, call_id: &str, sdp: bool) -> (Message, Message) {
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@example.com", call_id, "UDP 192.168.1.20:5060", sdp),
    );
    let (_, _, b_invite) = find(&outs, "INVITE");
    net.advance(Duration::from_millis(20));
    let outs = net.udp(1, UAS, &answer_to(&b_invite, 200, "OK"));
    let (socket, to, ok) = find(&outs, "200");
    assert_eq!(
        (socket, to),
        (0, addr(PHONE)),
        "A's 200 leaves the customer socket"
    );
    (b_invite, ok)
}

#[test]
fn a_udp_invite_leaves_from_the_core_socket_and_its_answer_from_the_customer_socket() {
    let mut net = Net::new("");
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@example.com", "c1", "UDP 192.168.1.20:5060", false),
    );
    // 100 Trying back out of the socket the INVITE came in on, to its source.
    let (socket, to, trying) = find(&outs, "100");
    assert_eq!((socket, to), (0, addr(PHONE)));
    assert_eq!(trying.call_id(), Some("c1"));
    // Leg B from the core socket to the route's next hop, with the core address in Via and
    // nothing of the customer's addresses.
    let (socket, to, b) = find(&outs, "INVITE");
    assert_eq!((socket, to), (1, addr(UAS)));
    assert_eq!(
        b.via().unwrap().host_ip(),
        Some(addr("127.0.0.1:5080").ip())
    );
    assert_eq!(b.via().unwrap().port, Some(5080));
    let text = String::from_utf8(b.to_bytes().to_vec()).unwrap();
    assert!(!text.contains("192.168.1.20") && !text.contains("203.0.113.5"));
    assert_ne!(b.call_id(), Some("c1"));
    // The 180 comes back on the core socket and goes out of the customer socket.
    let outs = net.udp(1, UAS, &answer_to(&b, 180, "Ringing"));
    let (socket, to, _) = find(&outs, "180");
    assert_eq!((socket, to), (0, addr(PHONE)));
    assert_eq!(net.ep.core().call_count(), 1);
}

#[test]
fn no_route_is_404_on_the_arrival_socket_and_nothing_goes_to_the_request_uri_host() {
    let mut net = Net::new("");
    // From the core side there is no route at all; the Request-URI names a host and port.
    let outs = net.udp(
        1,
        "127.0.0.1:7000",
        &invite("sip:100@127.0.0.1:9999", "c2", "UDP 127.0.0.1:7000", false),
    );
    let (socket, to, rsp) = find(&outs, "404");
    assert_eq!((socket, to), (1, addr("127.0.0.1:7000")));
    assert_eq!(rsp.reason(), Some("Not Found"));
    assert!(outs
        .iter()
        .all(|o| !matches!(o, Output::Udp { to, .. } if to.port() == 9999)));
    // A customer asking for a domain no route names: 404 too.
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@198.51.100.7", "c3", "UDP 192.168.1.20:5060", false),
    );
    find(&outs, "404");
    assert_eq!(datagrams(&outs).len(), 2, "100 and 404, nothing else");
}

#[test]
fn a_tcp_invite_is_answered_on_its_flow_and_a_tcp_route_opens_a_connection_from_the_core() {
    let mut net = Net::new("");
    let flow = net.ep.accept(net.now, 0, addr(PHONE)).expect("accepted");
    let outs = net.feed(Input::Stream {
        flow,
        bytes: Bytes::from(invite(
            "sip:911@example.com",
            "t1",
            "TCP 192.168.1.20:5060",
            false,
        )),
    });
    let streams: Vec<(FlowId, Message)> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Stream { flow, out } => Some((
                *flow,
                Message::parse(out.bytes.clone(), &Limits::default()).unwrap(),
            )),
            _ => None,
        })
        .collect();
    // 100 Trying on the customer's own connection.
    assert!(streams
        .iter()
        .any(|(f, m)| *f == flow && m.status() == Some(100)));
    // A new connection from the core interface's IP to the TCP route's next hop, then the
    // INVITE on it with the core TCP address in Via.
    let connect = outs
        .iter()
        .find_map(|o| match o {
            Output::Connect {
                flow,
                bind,
                remote,
                tls: None,
            } => Some((*flow, *bind, *remote)),
            _ => None,
        })
        .expect("a connection is opened");
    assert_eq!(connect.1, addr("127.0.0.1:5081").ip());
    assert_eq!(connect.2, addr("127.0.0.1:5091"));
    let (_, b) = streams
        .iter()
        .find(|(f, m)| *f == connect.0 && m.method().is_some())
        .expect("leg B's INVITE on the new flow");
    let via = b.via().unwrap();
    assert!(via.transport.eq_ignore_ascii_case("TCP"));
    assert_eq!(via.port, Some(5081));
    assert!(datagrams(&outs).is_empty(), "nothing over UDP");
}

#[test]
fn out_of_dialog_options_is_answered_statelessly_and_an_unreadable_request_gets_400() {
    let mut net = Net::new("");
    let options = "OPTIONS sip:sbc@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bKo1\r\nMax-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=p\r\nTo: <sip:sbc@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let outs = net.udp(1, "127.0.0.1:7000", options);
    let (socket, _, ok) = find(&outs, "200");
    assert_eq!(socket, 1);
    assert!(ok.header(&HeaderName::Allow).is_some());
    assert!(
        ok.header(&HeaderName::Server).is_none(),
        "no user_agent configured: no Server header"
    );
    assert_eq!(net.ep.core().transaction_count(), 0, "no state per ping");
    let bad = options.replace("Max-Forwards: 70", "Max-Forwards: lots");
    let outs = net.udp(1, "127.0.0.1:7000", &bad);
    let (_, _, rsp) = find(&outs, "400");
    assert!(rsp.reason().unwrap().contains("Max-Forwards"));
}

#[test]
fn drain_refuses_new_calls_with_503_lets_live_ones_end_and_then_stops() {
    let mut net = Net::new("[general]\ndrain_timeout_s = 30\n");
    let (b_invite, _) = answered_call(&mut net, "d1", false);
    assert!(net.feed(Input::Shutdown).is_empty());
    assert!(!net.ep.metrics().is_ready());
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@example.com", "d2", "UDP 192.168.1.20:5060", false),
    );
    let (_, _, rsp) = find(&outs, "503");
    assert!(rsp.header(&HeaderName::RetryAfter).is_some());
    assert!(!net.ep.is_stopped());
    // The far end hangs the live call up: BYE from the UAS to leg B.
    let bye = format!(
        "BYE sip:b@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKbye\r\nMax-Forwards: 70\r\nFrom: {};tag=b1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        b_invite.header(&HeaderName::To).unwrap(),
        b_invite.header(&HeaderName::From).unwrap(),
        b_invite.call_id().unwrap()
    );
    let outs = net.udp(1, UAS, &bye);
    let (socket, to, a_bye) = find(&outs, "BYE");
    assert_eq!((socket, to), (0, addr(PHONE)));
    let ok = Message::response_to(&a_bye, 200, "OK");
    net.udp(0, PHONE, std::str::from_utf8(&ok.to_bytes()).unwrap());
    assert_eq!(net.ep.core().call_count(), 0);
    // Closing waits for the last media statistics, at most MEDIA_WAIT, then stops.
    net.advance(crate::ops::cdr::MEDIA_WAIT + Duration::from_secs(1));
    net.feed(Input::Timer);
    assert!(net.ep.is_stopped());
}

#[test]
fn a_reload_routes_the_next_call_by_the_new_table() {
    let mut net = Net::new("");
    let text = CONFIG.replace("127.0.0.1:5090", "127.0.0.1:5092");
    let cfg = Config::from_toml_str(&text, "t.toml").unwrap();
    net.feed(Input::Reload(Arc::new(cfg)));
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@example.com", "r1", "UDP 192.168.1.20:5060", false),
    );
    let (socket, to, _) = find(&outs, "INVITE");
    assert_eq!((socket, to), (1, addr("127.0.0.1:5092")));
    // An interface change needs a restart: the sockets stay as they were.
    let moved = CONFIG.replace("127.0.0.1:5060", "127.0.0.1:6060");
    let cfg = Config::from_toml_str(&moved, "t.toml").unwrap();
    net.feed(Input::Reload(Arc::new(cfg)));
    assert_eq!(
        net.ep.sockets().udp.first().unwrap().bound,
        addr("127.0.0.1:5060")
    );
}

#[test]
fn management_lists_and_terminates_a_call_with_bye_on_both_legs() {
    let mut net = Net::new("");
    answered_call(&mut net, "m1", false);
    let (reply, mut rx) = oneshot::channel();
    net.feed(Input::Command(Command::ListCalls { reply }));
    let calls = rx.try_recv().unwrap();
    assert_eq!(calls.len(), 1);
    let id = calls[0]["id"].as_u64().unwrap();
    let (reply, mut rx) = oneshot::channel();
    let outs = net.feed(Input::Command(Command::Terminate { id, reply }));
    assert_eq!(rx.try_recv().unwrap(), Ok(()));
    let byes: Vec<(usize, SocketAddr)> = datagrams(&outs)
        .into_iter()
        .filter(|(_, _, m)| m.method().map(|x| x.as_str()) == Some("BYE"))
        .map(|(s, to, _)| (s, to))
        .collect();
    assert_eq!(byes, [(0, addr(PHONE)), (1, addr(UAS))]);
}

#[test]
fn a_call_with_media_gets_its_cdr_when_the_relay_reports_the_session_closed() {
    let mut net = Net::new("[admin]\ncdr_path = \"/tmp/unused-by-the-endpoint.cdr\"\n");
    let (b_invite, _) = answered_call(&mut net, "cdr1", true);
    let bye = format!(
        "BYE sip:b@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKbye2\r\nMax-Forwards: 70\r\nFrom: {};tag=b1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        b_invite.header(&HeaderName::To).unwrap(),
        b_invite.header(&HeaderName::From).unwrap(),
        b_invite.call_id().unwrap()
    );
    net.advance(Duration::from_secs(10));
    let outs = net.udp(1, UAS, &bye);
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Cdr(_))),
        "the CDR waits for the media statistics"
    );
    let session = net.ep.core().media().deleted[0];
    net.ep
        .core
        .media_mut()
        .events
        .push_back(RelayEvent::Closed { session });
    let outs = net.feed(Input::Relay);
    let cdr = outs
        .iter()
        .find_map(|o| match o {
            Output::Cdr(r) => Some(r),
            _ => None,
        })
        .expect("a CDR");
    assert_eq!(cdr.code, 200);
    assert_eq!(cdr.media.len(), 1);
    assert_eq!(cdr.media[0][0].packets_in, 500);
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(
        secs(cdr.start),
        1_800_000_000,
        "wall time from the virtual clock"
    );
    assert_eq!(secs(cdr.end), 1_800_000_010);
    assert_eq!(cdr.legs[0].call_id, "cdr1");
}

/// The digest answer to a challenge.
fn authorization(ch: &Message, method: &str, uri: &str) -> String {
    let challenge = Challenge::parse(ch.header(&HeaderName::WwwAuthenticate).unwrap()).unwrap();
    Credentials::answer(
        &challenge,
        &AnswerParams {
            username: "alice",
            secret: digest::Secret::Password("wonderland"),
            method,
            uri,
            body: b"",
            cnonce: "abc",
            nc: 1,
        },
    )
    .unwrap()
    .to_header_value()
    .unwrap()
}

#[test]
fn a_realm_customer_is_challenged_registered_and_called_on_the_socket_its_register_used() {
    let mut net = Net::new(REALM);
    let register = |auth: &str| {
        format!(
            "REGISTER sip:office.example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKr{};rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@office.example.net>;tag=r\r\nTo: <sip:alice@office.example.net>\r\nCall-ID: reg1\r\nCSeq: {} REGISTER\r\nContact: <sip:alice@192.168.1.20:5060>\r\nExpires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
            auth.len(),
            1 + usize::from(!auth.is_empty())
        )
    };
    let outs = net.udp(0, PHONE, &register(""));
    let (socket, to, ch) = find(&outs, "401");
    assert_eq!((socket, to), (0, addr(PHONE)));
    let auth = format!(
        "Authorization: {}\r\n",
        authorization(&ch, "REGISTER", "sip:office.example.net")
    );
    let outs = net.udp(0, PHONE, &register(&auth));
    find(&outs, "200");
    // The core calls alice: the INVITE leaves the customer socket for her NAT address.
    let outs = net.udp(
        1,
        UAS,
        &invite(
            "sip:alice@office.example.net",
            "in1",
            "UDP 127.0.0.1:5090",
            false,
        ),
    );
    let (socket, to, inv) = find(&outs, "INVITE");
    assert_eq!((socket, to), (0, addr(PHONE)));
    assert_eq!(inv.uri(), Some("sip:alice@192.168.1.20:5060"));
    assert_eq!(inv.via().unwrap().port, Some(5060));
    // Someone else in the realm, unregistered and unrouted, gets 480.
    let outs = net.udp(
        1,
        UAS,
        &invite(
            "sip:carol@office.example.net",
            "in2",
            "UDP 127.0.0.1:5090",
            false,
        ),
    );
    find(&outs, "480");
}

#[test]
fn an_unauthenticated_realm_call_is_challenged_and_a_foreign_domain_from_an_untrusted_source_refused(
) {
    let mut net = Net::new(REALM);
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@example.com", "u1", "UDP 192.168.1.20:5060", false),
    );
    let (_, _, rsp) = find(&outs, "407");
    assert!(rsp.header(&HeaderName::ProxyAuthenticate).is_some());
    assert_eq!(net.ep.core().call_count(), 0);
    let foreign = invite("sip:100@example.com", "u2", "UDP 192.168.1.20:5060", false)
        .replace("alice@office.example.net", "mallory@evil.example.org");
    let outs = net.udp(0, PHONE, &foreign);
    find(&outs, "403");
    assert!(find_none(&outs, "INVITE"));
}

fn find_none(outs: &[Output], method: &str) -> bool {
    datagrams(outs)
        .iter()
        .all(|(_, _, m)| m.method().map(|x| x.as_str()) != Some(method))
}

#[test]
fn a_message_the_flow_could_not_take_closes_it_and_a_response_reopens_to_the_via() {
    let mut net = Net::new("");
    let flow = net.ep.accept(net.now, 0, addr(PHONE)).unwrap();
    let outs = net.feed(Input::Stream {
        flow,
        bytes: Bytes::from(invite(
            "sip:100@example.com",
            "w1",
            "TCP 192.168.1.20:5060;rport",
            false,
        )),
    });
    let trying = outs
        .iter()
        .find_map(|o| match o {
            Output::Stream { flow: f, out } if *f == flow => Some(out.clone()),
            _ => None,
        })
        .unwrap();
    // The driver could not queue it: the flow is closed and the response goes on a new
    // connection to the Via's received/rport (the NAT address).
    let outs = net.feed(Input::Unsent { flow, out: trying });
    assert!(outs.contains(&Output::Close { flow }));
    let (new, remote) = outs
        .iter()
        .find_map(|o| match o {
            Output::Connect { flow, remote, .. } => Some((*flow, *remote)),
            _ => None,
        })
        .expect("a new connection");
    assert_ne!(new, flow);
    assert_eq!(remote, addr(PHONE));
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Stream { flow: f, .. } if *f == new)));
}

#[test]
fn idle_flows_are_closed_by_the_housekeeping_tick() {
    let mut net = Net::new("[sip]\ntcp_idle_timeout_s = 30\n");
    let flow = net.ep.accept(net.now, 0, addr(PHONE)).unwrap();
    assert!(net.feed(Input::Relay).is_empty());
    net.advance(Duration::from_secs(31));
    assert_eq!(net.feed(Input::Relay), [Output::Close { flow }]);
}

#[test]
fn a_finished_call_leaves_no_transaction_dialog_or_call_behind_once_its_timers_ran() {
    for sdp in [false, true] {
        finished_call_leaves_nothing(sdp);
    }
}

fn finished_call_leaves_nothing(sdp: bool) {
    let mut net = Net::new("[limits]\nmax_call_duration_s = 3600\n");
    let (b_invite, ok) = answered_call(&mut net, "gone1", sdp);
    // Leg A ACKs the 200; the SBC ACKs leg B's.
    let ack = format!(
        "ACK sip:b@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKack1\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: gone1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        ok.header(&HeaderName::From).unwrap(),
        ok.header(&HeaderName::To).unwrap(),
    );
    net.udp(0, PHONE, &ack);
    // The tables are exported on the housekeeping tick: the call is in them.
    net.feed(Input::Relay);
    let text = net.ep.metrics().encode();
    for table in ["calls", "dialogs", "by_dialog", "records"] {
        let line = format!("sbc_table_entries{{table=\"{table}\"}} ");
        let n = text.lines().find_map(|l| l.strip_prefix(line.as_str()));
        assert!(n.is_some_and(|n| n != "0"), "{table}: {n:?}");
    }
    // The caller hangs up; the UAS answers leg B's BYE.
    let bye = ack
        .replace("ACK sip:", "BYE sip:")
        .replace("CSeq: 1 ACK", "CSeq: 2 BYE")
        .replace("z9hG4bKack1", "z9hG4bKbye1");
    let outs = net.udp(0, PHONE, &bye);
    let (_, _, b_bye) = find(&outs, "BYE");
    assert_eq!(b_bye.call_id(), b_invite.call_id());
    let ok_bye = Message::response_to(&b_bye, 200, "OK");
    net.udp(1, UAS, std::str::from_utf8(&ok_bye.to_bytes()).unwrap());
    assert_eq!(net.ep.core().call_count(), 0);
    // Every timer the call left (2xx retransmission, J, K, L, M, D) runs out within 64·T1, woken
    // only when the endpoint asks, as the driver does.
    let end = net.now + Duration::from_secs(80);
    while let Some(at) = net.ep.poll_timeout().filter(|t| *t <= end) {
        net.now = net.now.max(at);
        net.feed(Input::Timer);
    }
    let core = net.ep.core();
    assert_eq!(
        (
            core.transaction_count(),
            core.dialog_count(),
            core.call_count()
        ),
        (0, 0, 0)
    );
    // The maximum-duration heap is pruned lazily (up to 2 × live calls + 64 entries); every
    // other table is empty.
    net.feed(Input::Relay);
    let text = net.ep.metrics().encode();
    assert!(
        text.contains("sbc_table_entries{table=\"calls\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("sbc_table_entries{table=\"transactions\"} 0"),
        "{text}"
    );
    let core = net.ep.core();
    let sizes = core.table_sizes();
    let left: Vec<_> = sizes
        .iter()
        .filter(|(name, n)| *n > 0 && *name != "deadlines")
        .collect();
    assert!(left.is_empty(), "per-call entries left behind: {left:?}");
    assert!(
        sizes.contains(&("deadlines", 1)),
        "this call's, pruned later: {sizes:?}"
    );
}
