//! Customers behind NAT, end to end: the real `sbc` in its own network namespace, a customer
//! host on a private LAN behind a namespace that masquerades with random source ports, and a
//! core UA in a third namespace (see `sbc_tests::netns`). Needs root, `ip`, `nft` and
//! `conntrack`; without them these tests fail when `CI` is set and skip loudly otherwise.
//!
//! What the SBC can do today is checked here: a call from the customer whose SDP carries its
//! private address gets two-way RTP through the relay by latching (symmetric RTP, RFC 4961); SIP
//! responses find their way back through the NAT, with or without `rport` (RFC 3581); in-dialog
//! MESSAGE, SUBSCRIBE/NOTIFY and BYE cross the NAT both ways (the SBC sends to the flow the
//! INVITE came in on, not the private Contact); after the NAT forgets its mappings the relay
//! follows the customer's stream to the new one under `handover` latching and keeps the dead one
//! under `strict`. A customer registers through the NAT with digest authentication, the core
//! calls it at its NAT mapping (never its private Contact) with media both ways, and after the
//! NAT forgets its mappings the customer's next REGISTER makes it reachable again. With the NAT's
//! UDP timeout cut to a few seconds, the SBC's OPTIONS keepalives alone keep a registered
//! customer reachable long past it; without them the mapping times out and the core's INVITE is
//! lost, and a customer that stops answering them loses its binding (480 to the core).

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::{
    callee_request, contact_addr, contact_uri, dialog_request, is_response, udp_via,
};
use sbc_tests::netns::{
    customer_ip, sweep_stale, topology_or_skip, Topology, CORE_IP, NAT_PORTS, NAT_WAN_IP, PREFIX,
    SBC_CORE_IP, SBC_CUSTOMER_IP,
};
use sbc_tests::{sdp_audio_addr, Sbc, TestUa};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const A_RTP: RangeInclusive<u16> = 46000..=46999;
const B_RTP: RangeInclusive<u16> = 47000..=47999;
const WAIT: Duration = Duration::from_secs(5);
const SIP_PORT: u16 = 5060;
/// The customer hosts' fixed port in the NAT sanity test, outside [`NAT_PORTS`].
const PRIVATE_PORT: u16 = 45060;
const SSRC_A: u32 = 0xa1a1_a1a1;
const SSRC_B: u32 = 0xb2b2_b2b2;

fn sbc_a() -> SocketAddr {
    SocketAddr::new(SBC_CUSTOMER_IP.into(), SIP_PORT)
}

fn sbc_b() -> SocketAddr {
    SocketAddr::new(SBC_CORE_IP.into(), SIP_PORT)
}

/// The SBC's config: customer interface on the NAT-facing subnet, core interface on the core
/// subnet, every customer call routed to `core_ua`. The namespaces are private, so fixed ports
/// cannot collide with anything.
fn config(core_ua: SocketAddr, latching: &str) -> String {
    let mut c =
        SbcConfig::new(sbc_a(), sbc_b(), A_RTP, B_RTP).route("customer-to-core", core_ua, "");
    c.relay = format!("latching = \"{latching}\"");
    c.admin = "127.0.0.1:9090".parse().unwrap();
    c.render()
}

/// A request in the customer's dialog (RFC 3261 §12.2.1.1); Via names the private address, as
/// a UA behind NAT that knows nothing of it writes it.
fn in_dialog(method: Method, seq: u32, a: &TestUa, call: &Call, branch: &str) -> Message {
    let via = format!("SIP/2.0/UDP {};branch={branch}{}", a.addr(), call.via_rport);
    dialog_request(
        method,
        contact_uri(&call.a_ok),
        seq,
        via,
        &call.invite,
        &call.a_ok,
    )
}

/// A request in the core's dialog with the SBC (RFC 3261 §12.2.1.1).
fn from_core(method: Method, seq: u32, call: &Call, branch: &str) -> Message {
    let local = format!(
        "{};tag=nat-b-tag",
        call.b_invite.header(&HeaderName::To).unwrap()
    );
    let via = udp_via(call.b.addr(), branch);
    callee_request(method, seq, via, &call.b_invite, &local)
}

/// An answered call from the customer behind the NAT to the core UA. Field order is drop order:
/// the SBC is killed before the namespaces go.
struct Call {
    sbc: Sbc,
    a: TestUa,
    b: TestUa,
    invite: Message,
    a_ok: Message,
    b_invite: Message,
    relay_a: SocketAddr,
    relay_b: SocketAddr,
    /// `;rport` when the customer asks for symmetric response routing (RFC 3581), else empty.
    via_rport: &'static str,
    topo: Topology,
}

/// Builds the network, starts the SBC in its namespace and runs INVITE / 180 / 200 / ACK from
/// the customer (private Via, Contact and SDP) to the core UA; `None` when the test is skipped.
fn answered_call(test: &str, latching: &str, via_rport: &'static str) -> Option<Call> {
    let topo = topology_or_skip(test, 1)?;
    let a = topo.enter(topo.customer(0), || TestUa::bind(customer_ip(0).into()));
    let b = topo.enter(topo.core(), || TestUa::bind(CORE_IP.into()));
    let mut sbc = Sbc::start_in_netns(&topo, topo.sbc(), &config(b.addr(), latching));
    assert!(
        sbc.wait_log("ready; SIGHUP", Duration::from_secs(10)),
        "sbc did not start in {}: {}{}",
        topo.sbc(),
        std::fs::read_to_string(&sbc.log).unwrap_or_default(),
        std::fs::read_to_string(sbc.log.with_file_name("sbc.err")).unwrap_or_default()
    );

    // Customer → NAT → SBC: an INVITE that only knows the private address.
    let private = a.addr().ip().to_string();
    assert!(private.starts_with("10.77.1."), "{private}");
    let mut invite = Message::request(Method::Invite, "sip:bob@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKnat1{via_rport}", a.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(
        HeaderName::From,
        "\"Alice\" <sip:alice@example.com>;tag=nat-a-tag",
    );
    invite.push_header(HeaderName::To, "<sip:bob@example.com>");
    invite.push_header(HeaderName::CallId, "nat-call-a@10.77.1.10");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    invite.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    assert_eq!(
        sdp_audio_addr(invite.body()).map(|s| s.ip()),
        Some(a.addr().ip()),
        "the customer's offer carries its private address"
    );
    a.send(sbc_a(), &invite);

    // SBC → core: nothing of the private network in the core's INVITE.
    let (b_invite, from) = b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .unwrap_or_else(|| {
            panic!(
                "no INVITE at the core; NAT mappings:\n{}\nsbc log:\n{}",
                topo.nat_mappings(),
                std::fs::read_to_string(&sbc.log).unwrap_or_default()
            )
        });
    assert_eq!(from, sbc_b());
    let raw = String::from_utf8_lossy(&b_invite.to_bytes()).into_owned();
    assert!(
        !raw.contains("10.77.1."),
        "private address leaked to the core:\n{raw}"
    );
    let relay_b = sdp_audio_addr(b_invite.body()).expect("SDP in the core's INVITE");
    assert_eq!(relay_b.ip(), IpAddr::from(SBC_CORE_IP));
    assert!(B_RTP.contains(&relay_b.port()), "{relay_b}");

    // Core → SBC: 180 and 200 with an answer.
    let b_to = format!(
        "{};tag=nat-b-tag",
        b_invite.header(&HeaderName::To).unwrap()
    );
    for (code, reason) in [(180, "Ringing"), (200, "OK")] {
        let mut rsp = Message::response_to(&b_invite, code, reason);
        rsp.set_header(HeaderName::To, b_to.clone());
        rsp.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
        if code == 200 {
            rsp.set_body(Bytes::from(b.sdp("bob")), Some("application/sdp"));
        }
        b.send(from, &rsp);
    }

    // SBC → NAT → customer: the responses find the NAT's mapping, not the private Via.
    let mut seen = Vec::new();
    let (a_ok, from) = a
        .recv_until(WAIT, |m| {
            seen.extend(m.status());
            is_response(m, 200, "INVITE")
        })
        .unwrap_or_else(|| {
            panic!(
                "no 200 at the customer behind the NAT (saw {seen:?}); NAT mappings:\n{}\nsbc log:\n{}",
                topo.nat_mappings(),
                std::fs::read_to_string(&sbc.log).unwrap_or_default()
            )
        });
    assert_eq!(from, sbc_a());
    let relay_a = sdp_audio_addr(a_ok.body()).expect("SDP in the 200 to the customer");
    assert_eq!(relay_a.ip(), IpAddr::from(SBC_CUSTOMER_IP));
    assert!(A_RTP.contains(&relay_a.port()), "{relay_a}");
    assert_eq!(contact_addr(&a_ok), sbc_a());

    let mut call = Call {
        sbc,
        a,
        b,
        invite,
        a_ok,
        b_invite,
        relay_a,
        relay_b,
        via_rport,
        topo,
    };
    let ack = in_dialog(Method::Ack, 1, &call.a, &call, "z9hG4bKnat2");
    call.a.send(contact_addr(&call.a_ok), &ack);
    let (b_ack, _) = call
        .b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Ack))
        .expect("ACK at the core");
    assert_eq!(b_ack.call_id(), call.b_invite.call_id());
    assert!(call.sbc.child.try_wait().unwrap().is_none(), "sbc exited");
    Some(call)
}

/// RTP customer → relay → core, then core → relay → customer, numbered from `first_seq`;
/// returns how many packets each end got (of 20) and from where.
fn media_both_ways(
    call: &Call,
    first_seq: u16,
) -> ((usize, Option<SocketAddr>), (usize, Option<SocketAddr>)) {
    call.a.send_rtp_from(call.relay_a, SSRC_A, first_seq, 20);
    let at_b = call.b.count_rtp(SSRC_A, 20, Duration::from_secs(2));
    call.b.send_rtp_from(call.relay_b, SSRC_B, first_seq, 20);
    let at_a = call.a.count_rtp(SSRC_B, 20, Duration::from_secs(2));
    (at_b, at_a)
}

/// The customer hangs up and the core answers the relayed BYE; the customer's 200 must come
/// back through whatever mapping the NAT holds now.
fn hang_up(call: &Call, seq: u32, branch: &str) {
    let bye = in_dialog(Method::Bye, seq, &call.a, call, branch);
    call.a.send(contact_addr(&call.a_ok), &bye);
    let (b_bye, from) = call
        .b
        .recv_until(WAIT, |m| m.method() == Some(&Method::Bye))
        .expect("BYE at the core");
    assert_eq!(from, sbc_b());
    assert_eq!(b_bye.call_id(), call.b_invite.call_id());
    call.b.send(from, &Message::response_to(&b_bye, 200, "OK"));
    call.a
        .recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE at the customer behind the NAT");
}

#[test]
fn nat_rewrites_source_ports_and_hides_the_private_subnet() {
    let Some(topo) = topology_or_skip("nat_rewrites_source_ports", 2) else {
        return;
    };
    let echo_addr = SocketAddr::new(SBC_CUSTOMER_IP.into(), 7000);
    let echo = topo.enter(topo.sbc(), || UdpSocket::bind(echo_addr).unwrap());
    echo.set_read_timeout(Some(WAIT)).unwrap();
    let hosts: Vec<UdpSocket> = (0..2)
        .map(|i| {
            let s = topo.enter(topo.customer(i), || {
                UdpSocket::bind((customer_ip(i), PRIVATE_PORT)).unwrap()
            });
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            s
        })
        .collect();
    let mut buf = [0u8; 64];

    // Each host's datagram arrives from the NAT's outside address with a port of the NAT's
    // choosing, and the reply to that mapping gets back to the private socket.
    let mut mapped = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        host.send_to(format!("ping{i}").as_bytes(), echo_addr)
            .unwrap();
        let (n, from) = echo.recv_from(&mut buf).expect("datagram through the NAT");
        assert_eq!(&buf[..n], format!("ping{i}").as_bytes());
        assert_eq!(from.ip(), IpAddr::from(NAT_WAN_IP), "source not translated");
        assert!(
            NAT_PORTS.contains(&from.port()),
            "the NAT kept the private port {PRIVATE_PORT}: got {from}"
        );
        echo.send_to(b"pong", from).unwrap();
        let (n, back) = host
            .recv_from(&mut buf)
            .expect("reply through the NAT mapping");
        assert_eq!((&buf[..n], back), (&b"pong"[..], echo_addr));
        mapped.push(from);
    }
    assert_ne!(mapped[0], mapped[1], "two hosts share one mapping");

    // The SBC's namespace has no route to the private LAN.
    let direct = echo.send_to(
        b"direct",
        SocketAddr::new(customer_ip(0).into(), PRIVATE_PORT),
    );
    assert!(
        direct.is_err(),
        "the private subnet is routable from the SBC's namespace"
    );

    // After the NAT forgets its mappings the old one leads nowhere, and the host's next
    // datagram gets a new one.
    topo.flush_nat_conntrack().unwrap();
    echo.send_to(b"stale", mapped[0]).unwrap();
    assert!(
        hosts[0].recv_from(&mut buf).is_err(),
        "a flushed mapping still delivers"
    );
    hosts[0].send_to(b"again", echo_addr).unwrap();
    let (_, from) = echo.recv_from(&mut buf).expect("datagram after the flush");
    assert_eq!(from.ip(), IpAddr::from(NAT_WAN_IP));
    assert_ne!(from, mapped[0], "the NAT reused the flushed mapping");
}

/// Waits (bounded) until process `pid` has joined the network namespace with inode `ns_inode`
/// (`ip netns exec` switches before it execs the program).
fn wait_in_namespace(pid: u32, ns_inode: u64) {
    let proc_ns = format!("/proc/{pid}/ns/net");
    let deadline = std::time::Instant::now() + WAIT;
    while std::fs::metadata(&proc_ns).map(|m| m.ino()).ok() != Some(ns_inode) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} never joined namespace inode {ns_inode}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn topology_runs_children_inside_deletes_its_namespaces_and_sweeps_stale_ones() {
    let Some(first) = topology_or_skip("topology_cleanup", 1) else {
        return;
    };
    // A namespace "left over" by a run whose process is gone.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let stale = format!("{PREFIX}{dead_pid}-0-core");
    let ip = first.tools().ip.clone();
    assert!(Command::new(&ip)
        .args(["netns", "add", &stale])
        .status()
        .unwrap()
        .success());
    // ... with a process still running inside, as an `sbc` whose test was killed would be.
    let mut orphan = Command::new(&ip)
        .args(["netns", "exec", &stale, "sleep", "30"])
        .spawn()
        .unwrap();
    let stale_inode = std::fs::metadata(Path::new("/run/netns").join(&stale))
        .unwrap()
        .ino();
    wait_in_namespace(orphan.id(), stale_inode);
    let names: Vec<String> = [first.customer(0), first.nat(), first.sbc(), first.core()]
        .map(str::to_owned)
        .to_vec();
    for ns in &names {
        assert!(
            Path::new("/run/netns").join(ns).exists(),
            "{ns} not created"
        );
    }
    // A child spawned in a namespace lives in it (its net namespace is the one `ip netns` names).
    let ns_inode = std::fs::metadata(Path::new("/run/netns").join(first.sbc()))
        .unwrap()
        .ino();
    let mut child = first.spawn(first.sbc(), "sleep", &["30"]).unwrap();
    wait_in_namespace(child.0.id(), ns_inode);
    assert!(child.0.try_wait().unwrap().is_none());
    drop(child);
    drop(first);
    for ns in &names {
        assert!(
            !Path::new("/run/netns").join(ns).exists(),
            "{ns} left behind"
        );
    }
    // Topology::build sweeps once per process (already done for `first`); sweep again here.
    sweep_stale(&ip);
    let swept = !Path::new("/run/netns").join(&stale).exists();
    if !swept {
        let _ = Command::new(&ip).args(["netns", "delete", &stale]).status();
    }
    let orphan_end = std::time::Instant::now() + WAIT;
    let mut orphan_status = orphan.try_wait().unwrap();
    while orphan_status.is_none() && std::time::Instant::now() < orphan_end {
        std::thread::sleep(Duration::from_millis(10));
        orphan_status = orphan.try_wait().unwrap();
    }
    if orphan_status.is_none() {
        let _ = orphan.kill();
        let _ = orphan.wait();
    }
    assert!(
        swept,
        "stale namespace {stale} of dead pid {dead_pid} not swept"
    );
    assert_eq!(
        orphan_status.and_then(|s| s.signal()),
        Some(9),
        "the process inside the stale namespace was not killed by the sweep"
    );
}

#[test]
fn customer_behind_nat_calls_core_and_media_flows_both_ways_by_latching() {
    let Some(call) = answered_call("customer_behind_nat_calls_core", "strict", ";rport") else {
        return;
    };
    // The customer's SDP said 10.77.1.10, unreachable from the SBC: audio reaches it only
    // because the relay latched to the NAT's mapping of its RTP socket.
    let ((n_b, src_b), (n_a, src_a)) = media_both_ways(&call, 0);
    assert!(
        n_b >= 15,
        "core got {n_b} of 20 RTP packets from the customer"
    );
    assert_eq!(
        src_b,
        Some(call.relay_b),
        "media reaches the core from the relay"
    );
    assert!(
        n_a >= 15,
        "customer got {n_a} of 20 RTP packets from the core; NAT mappings:\n{}",
        call.topo.nat_mappings()
    );
    assert_eq!(
        src_a,
        Some(call.relay_a),
        "media reaches the customer from the relay"
    );
    hang_up(&call, 2, "z9hG4bKnat3");
    let mut sbc = call.sbc;
    assert!(
        sbc.wait_log("call ended", WAIT),
        "no 'call ended' in the log"
    );
}

#[test]
fn after_the_nat_forgets_its_mappings_handover_latching_follows_the_customer() {
    let Some(call) = answered_call("nat_rebinding_handover", "handover", ";rport") else {
        return;
    };
    let ((n_b, _), (n_a, _)) = media_both_ways(&call, 0);
    assert!(
        n_b >= 15 && n_a >= 15,
        "media before the flush: {n_b} / {n_a}"
    );

    // The NAT "reboots": the customer's RTP (same SSRC, next sequence numbers) now comes from
    // a new outside port, and the relay hands the stream over to it.
    call.topo.flush_nat_conntrack().unwrap();
    let ((n_b, _), (n_a, src_a)) = media_both_ways(&call, 20);
    assert!(
        n_b >= 15,
        "core got {n_b} of 20 RTP packets after the flush"
    );
    assert!(
        n_a >= 15,
        "customer got {n_a} of 20 RTP packets after the flush; NAT mappings:\n{}",
        call.topo.nat_mappings()
    );
    assert_eq!(src_a, Some(call.relay_a));
    // Signalling, too, comes from a new mapping now; the 200 to BYE must follow it (rport).
    hang_up(&call, 2, "z9hG4bKnat4");
}

#[test]
fn after_the_nat_forgets_its_mappings_strict_latching_keeps_the_old_one() {
    let Some(call) = answered_call("nat_rebinding_strict", "strict", ";rport") else {
        return;
    };
    let ((n_b, _), (n_a, _)) = media_both_ways(&call, 0);
    assert!(
        n_b >= 15 && n_a >= 15,
        "media before the flush: {n_b} / {n_a}"
    );
    // Strict latching never moves (no RTP hijack), so the rebound stream is refused and the
    // relay keeps sending to the dead mapping: this is what the keepalive work must address.
    call.topo.flush_nat_conntrack().unwrap();
    let ((n_b, _), (n_a, _)) = media_both_ways(&call, 20);
    assert_eq!(n_b, 0, "strict latching accepted a new source");
    assert_eq!(
        n_a, 0,
        "media reached the customer through a flushed mapping"
    );
    hang_up(&call, 2, "z9hG4bKnat5");
}

/// `request` (already addressed) goes from `sender` to the SBC, arrives at `receiver` with the
/// same method and body, is answered 200 there, and the 200 gets back to `sender`.
fn relay_and_answer(
    request: &Message,
    (sender, to_sbc): (&TestUa, SocketAddr),
    (receiver, from_sbc): (&TestUa, SocketAddr),
    extra_200: &[(HeaderName, String)],
) -> Message {
    let method = request.method().unwrap().clone();
    sender.send(to_sbc, request);
    let (got, from) = receiver
        .recv_until(WAIT, |m| m.method() == Some(&method))
        .unwrap_or_else(|| panic!("{} not relayed", method.as_str()));
    assert_eq!(
        from,
        from_sbc,
        "{} came from the wrong socket",
        method.as_str()
    );
    assert_eq!(
        got.body(),
        request.body(),
        "{} body changed",
        method.as_str()
    );
    let mut ok = Message::response_to(&got, 200, "OK");
    for (name, value) in extra_200 {
        ok.push_header(name.clone(), value.clone());
    }
    receiver.send(from, &ok);
    sender
        .recv_until(WAIT, |m| is_response(m, 200, method.as_str()))
        .unwrap_or_else(|| panic!("no 200 to {} back at the sender", method.as_str()));
    got
}

#[test]
fn in_dialog_message_subscribe_notify_and_bye_cross_the_nat_both_ways() {
    let Some(call) = answered_call("in_dialog_requests_cross_the_nat", "strict", ";rport") else {
        return;
    };
    let customer = (&call.a, contact_addr(&call.a_ok));
    let core = (&call.b, sbc_b());
    let (to_customer, to_core) = ((&call.a, sbc_a()), (&call.b, sbc_b()));

    // MESSAGE (RFC 3428) each way inside the call. The core's reaches the customer although
    // the customer's Contact names its private address: the SBC sends to the INVITE's flow.
    let mut up = in_dialog(Method::Message, 2, &call.a, &call, "z9hG4bKnatm1");
    up.set_body(Bytes::from_static(b"hello core"), Some("text/plain"));
    relay_and_answer(&up, customer, to_core, &[]);
    let mut down = from_core(Method::Message, 1, &call, "z9hG4bKnatm2");
    down.set_body(Bytes::from_static(b"hello customer"), Some("text/plain"));
    let got = relay_and_answer(&down, core, to_customer, &[]);
    assert_eq!(got.call_id(), call.invite.call_id());

    // SUBSCRIBE from the customer, NOTIFY back to it through the NAT (RFC 6665).
    let mut sub = in_dialog(Method::Subscribe, 3, &call.a, &call, "z9hG4bKnats1");
    sub.push_header(HeaderName::Event, "dialog");
    sub.push_header(HeaderName::Expires, "600");
    relay_and_answer(
        &sub,
        customer,
        to_core,
        &[
            (HeaderName::Expires, "600".to_owned()),
            (HeaderName::Contact, format!("<sip:bob@{}>", call.b.addr())),
        ],
    );
    let mut notify = from_core(Method::Notify, 2, &call, "z9hG4bKnatn1");
    notify.push_header(HeaderName::Event, "dialog");
    notify.push_header(HeaderName::SubscriptionState, "active;expires=600");
    notify.set_body(
        Bytes::from_static(b"<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"0\" state=\"full\" entity=\"sip:bob@example.com\"/>"),
        Some("application/dialog-info+xml"),
    );
    let got = relay_and_answer(&notify, core, to_customer, &[]);
    assert_eq!(got.header(&HeaderName::Event), Some("dialog"));

    // The core hangs up; the BYE, too, finds the customer behind the NAT.
    let bye = from_core(Method::Bye, 3, &call, "z9hG4bKnatb1");
    relay_and_answer(&bye, core, to_customer, &[]);
    let mut sbc = call.sbc;
    assert!(
        sbc.wait_log("call ended", WAIT),
        "no 'call ended' in the log"
    );
}

#[test]
fn a_customer_that_does_not_ask_for_rport_still_gets_its_responses_through_the_nat() {
    // Many phones behind NAT omit `rport`; RFC 3261 §18.2.2 would then send responses to the
    // Via's private port. The SBC answers on the flow the request came in on (the source
    // address and port), so the call still completes through the NAT.
    let Some(call) = answered_call("customer_without_rport", "strict", "") else {
        return;
    };
    assert!(call.invite.via().unwrap().rport().is_none());
    let ((n_b, _), (n_a, _)) = media_both_ways(&call, 0);
    assert!(n_b >= 15 && n_a >= 15, "media: {n_b} / {n_a}");
    hang_up(&call, 2, "z9hG4bKnat6");
}

/// The SBC's config with a local realm `example.com` that requires digest authentication and
/// has one user, alice.
fn config_with_realm(core_ua: SocketAddr) -> String {
    config_with_realm_keepalives(core_ua, 30)
}

/// [`config_with_realm`] with OPTIONS keepalives to alice behind the NAT every `interval_s`
/// seconds (0: none), three unanswered in a row removing her binding.
fn config_with_realm_keepalives(core_ua: SocketAddr, interval_s: u32) -> String {
    format!(
        "{}\n[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\nkeepalive_interval_s = {interval_s}\nkeepalive_failures = 3\n\n[[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n",
        config(core_ua, "handover")
    )
}

/// Registers alice from behind the NAT with digest (401, then REGISTER with Authorization,
/// 200); the Contact and Via name only the private address. CSeq numbers `cseq`, `cseq + 1`.
fn register_through_nat(a: &TestUa, cseq: u32) {
    let register = |seq: u32| {
        let mut m = Message::request(Method::Register, "sip:example.com");
        m.push_header(
            HeaderName::Via,
            format!("SIP/2.0/UDP {};branch=z9hG4bKnatreg{seq};rport", a.addr()),
        );
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=natreg");
        m.push_header(HeaderName::To, "<sip:alice@example.com>");
        m.push_header(HeaderName::CallId, "nat-reg@10.77.1.10");
        m.push_header(HeaderName::CSeq, format!("{seq} REGISTER"));
        m.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
        m.push_header(HeaderName::Expires, "300");
        m.set_body(Bytes::new(), None);
        m
    };
    let final_to = |m: &Message| {
        m.status().is_some_and(|s| s >= 200) && m.cseq().is_some_and(|c| c.method == "REGISTER")
    };
    a.send(sbc_a(), &register(cseq));
    let (challenge, _) = a
        .recv_until(WAIT, final_to)
        .expect("answer to REGISTER through the NAT");
    assert_eq!(challenge.status(), Some(401), "{challenge:?}");
    let mut again = register(cseq + 1);
    again.push_header(
        HeaderName::Authorization,
        sbc_tests::digest_authorization(
            &challenge,
            &HeaderName::WwwAuthenticate,
            "REGISTER",
            "sip:example.com",
            "alice",
            "wonderland",
        )
        .expect("a usable challenge"),
    );
    a.send(sbc_a(), &again);
    let (ok, _) = a
        .recv_until(WAIT, final_to)
        .expect("answer to the authenticated REGISTER");
    assert_eq!(ok.status(), Some(200), "{ok:?}");
}

/// The core calls alice; returns the INVITE the customer got behind the NAT, after answering it
/// and checking the core got the 200.
fn core_calls_customer(a: &TestUa, b: &TestUa, call_id: &str) -> (Message, Message) {
    let mut invite = Message::request(Method::Invite, "sip:alice@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bK{call_id};rport", b.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core-nat");
    invite.push_header(HeaderName::To, "<sip:alice@example.com>");
    invite.push_header(HeaderName::CallId, call_id);
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:carol@{}>", b.addr()));
    invite.set_body(Bytes::from(b.sdp("carol")), Some("application/sdp"));
    b.send(sbc_b(), &invite);
    let (a_invite, from) = a
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .expect("the core's INVITE at the customer behind the NAT");
    assert_eq!(from, sbc_a());
    assert_eq!(
        a_invite.uri().map(str::to_owned),
        Some(format!("sip:alice@{}", a.addr())),
        "Request-URI is the registered Contact"
    );
    let mut ok = Message::response_to(&a_invite, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!(
            "{};tag=alice-nat",
            a_invite.header(&HeaderName::To).unwrap()
        ),
    );
    ok.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    ok.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    a.send(from, &ok);
    let (b_ok, _) = b
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("the customer's 200 at the core");
    (a_invite, b_ok)
}

#[test]
fn customer_registers_through_the_nat_and_the_core_reaches_it_again_after_the_nat_forgets() {
    let Some(topo) = topology_or_skip("registers_through_the_nat", 1) else {
        return;
    };
    let a = topo.enter(topo.customer(0), || TestUa::bind(customer_ip(0).into()));
    let b = topo.enter(topo.core(), || TestUa::bind(CORE_IP.into()));
    let mut sbc = Sbc::start_in_netns(&topo, topo.sbc(), &config_with_realm(b.addr()));
    assert!(
        sbc.wait_log("ready; SIGHUP", Duration::from_secs(10)),
        "sbc did not start: {}",
        std::fs::read_to_string(&sbc.log).unwrap_or_default()
    );

    register_through_nat(&a, 1);
    let (a_invite, b_ok) = core_calls_customer(&a, &b, "nat-core-call-1");
    // Media: the customer speaks first (the relay latches onto its NAT mapping), then the core.
    let relay_a = sdp_audio_addr(a_invite.body()).expect("SDP offer to the customer");
    let relay_b = sdp_audio_addr(b_ok.body()).expect("SDP answer to the core");
    a.send_rtp(relay_a, SSRC_A, 20);
    let (n, _) = b.count_rtp(SSRC_A, 20, Duration::from_secs(2));
    assert!(n >= 15, "core got {n} of 20 RTP packets from the customer");
    b.send_rtp(relay_b, SSRC_B, 20);
    let (n, _) = a.count_rtp(SSRC_B, 20, Duration::from_secs(2));
    assert!(
        n >= 15,
        "customer got {n} of 20 RTP packets through the NAT"
    );

    // The NAT forgets; the customer's next REGISTER comes from a new mapping and the core
    // reaches it there.
    topo.flush_nat_conntrack().expect("flush conntrack");
    register_through_nat(&a, 3);
    core_calls_customer(&a, &b, "nat-core-call-2");
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
    drop(sbc);
    drop(topo);
}

/// How long the NAT keeps an idle UDP mapping in the keepalive tests, in seconds.
const NAT_UDP_TIMEOUT_S: u32 = 3;
/// How long the keepalive tests leave alice without any REGISTER: twice the NAT's timeout.
const IDLE: Duration = Duration::from_secs(2 * NAT_UDP_TIMEOUT_S as u64);

/// The NAT (with short UDP timeouts), the core UA, alice registered through the NAT, and the SBC
/// sending her keepalives every `keepalive_s` seconds; `None` when the test is skipped. Drop the
/// `Sbc` before the `Topology`.
fn registered_with_short_nat_timeout(
    test: &str,
    keepalive_s: u32,
) -> Option<(Topology, TestUa, TestUa, Sbc)> {
    let topo = topology_or_skip(test, 1)?;
    topo.set_nat_udp_timeout(NAT_UDP_TIMEOUT_S)
        .expect("NAT UDP conntrack timeouts");
    let a = topo.enter(topo.customer(0), || TestUa::bind(customer_ip(0).into()));
    let b = topo.enter(topo.core(), || TestUa::bind(CORE_IP.into()));
    let mut sbc = Sbc::start_in_netns(
        &topo,
        topo.sbc(),
        &config_with_realm_keepalives(b.addr(), keepalive_s),
    );
    assert!(
        sbc.wait_log("ready; SIGHUP", Duration::from_secs(10)),
        "sbc did not start: {}",
        std::fs::read_to_string(&sbc.log).unwrap_or_default()
    );
    register_through_nat(&a, 1);
    Some((topo, a, b, sbc))
}

/// Whether the NAT holds a UDP mapping for alice's private SIP socket.
fn nat_maps(topo: &Topology, a: &TestUa) -> bool {
    let private = a.addr();
    topo.nat_mappings().lines().any(|l| {
        l.contains(&format!("src={} ", private.ip()))
            && l.contains(&format!("sport={} ", private.port()))
    })
}

#[test]
fn keepalives_to_a_registered_customer_keep_its_nat_mapping_alive_without_re_register() {
    let Some((topo, a, b, mut sbc)) = registered_with_short_nat_timeout("keepalive_keeps_nat", 1)
    else {
        return;
    };
    // Alice never registers again; she only answers the SBC's OPTIONS (RFC 3261 §11.2), which
    // arrive through her NAT mapping and keep it from timing out.
    let end = std::time::Instant::now() + IDLE;
    let mut pings = 0;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        let Some((options, from)) = a.recv_until(left, |m| m.method() == Some(&Method::Options))
        else {
            break;
        };
        assert_eq!(from, sbc_a());
        assert_eq!(
            options.uri().map(str::to_owned),
            Some(format!("sip:alice@{}", a.addr())),
            "the keepalive is addressed to the registered Contact"
        );
        a.send(from, &Message::response_to(&options, 200, "OK"));
        pings += 1;
    }
    assert!(
        pings >= 4,
        "{pings} keepalives in {IDLE:?} at a 1 s interval; sbc log:\n{}",
        std::fs::read_to_string(&sbc.log).unwrap_or_default()
    );
    assert!(
        nat_maps(&topo, &a),
        "the NAT dropped alice's mapping despite the keepalives:\n{}",
        topo.nat_mappings()
    );
    // Long past the NAT's idle timeout, the core still reaches alice at her registered flow.
    core_calls_customer(&a, &b, "nat-keepalive-call");
    let log = std::fs::read_to_string(&sbc.log).unwrap_or_default();
    assert!(!log.contains("binding removed"), "{log}");
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
    drop(sbc);
    drop(topo);
}

#[test]
fn without_keepalives_or_re_register_the_nat_forgets_the_customer_and_the_core_cannot_reach_it() {
    // The control for the test above: keepalives off, everything else the same.
    let Some((topo, a, b, sbc)) = registered_with_short_nat_timeout("no_keepalive_nat_forgets", 0)
    else {
        return;
    };
    assert!(
        a.recv(IDLE).is_none(),
        "alice got traffic with keepalives off"
    );
    assert!(
        !nat_maps(&topo, &a),
        "the NAT still maps alice after {IDLE:?} idle:\n{}",
        topo.nat_mappings()
    );
    // The SBC still has the binding and sends the INVITE to the flow, which leads nowhere now.
    let mut invite = Message::request(Method::Invite, "sip:alice@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKnatlost;rport", b.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core-lost");
    invite.push_header(HeaderName::To, "<sip:alice@example.com>");
    invite.push_header(HeaderName::CallId, "nat-lost-call");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.push_header(HeaderName::Contact, format!("<sip:carol@{}>", b.addr()));
    invite.set_body(Bytes::from(b.sdp("carol")), Some("application/sdp"));
    b.send(sbc_b(), &invite);
    assert!(
        a.recv(WAIT).is_none(),
        "the core's INVITE reached alice through a mapping the NAT had forgotten"
    );
    // The binding stays until it expires (no keepalive tells the SBC otherwise), so the core
    // gets no final answer yet: the SBC is still retransmitting to the lost flow.
    let final_answer = b.recv_until(Duration::from_millis(200), |m| {
        m.status().is_some_and(|s| s >= 200)
    });
    assert!(
        final_answer.is_none(),
        "the core got a final answer while the SBC still tries the lost flow: {final_answer:?}"
    );
    drop(sbc);
    drop(topo);
}

#[test]
fn a_customer_that_stops_answering_keepalives_is_removed_and_the_core_gets_480() {
    let Some((topo, a, b, mut sbc)) = registered_with_short_nat_timeout("keepalive_unanswered", 1)
    else {
        return;
    };
    // Alice stays silent: the keepalives still refresh her NAT mapping (they travel through it),
    // but the SBC counts each unanswered one, and at the third miss her binding goes.
    let end = std::time::Instant::now() + IDLE;
    let mut pings = 0;
    while let Some((_, from)) = a.recv_until(
        end.saturating_duration_since(std::time::Instant::now()),
        |m| m.method() == Some(&Method::Options),
    ) {
        assert_eq!(from, sbc_a());
        pings += 1;
    }
    assert!(
        sbc.wait_log("binding removed", Duration::from_secs(1)),
        "alice's binding was not removed after {pings} unanswered keepalives; sbc log:\n{}",
        std::fs::read_to_string(&sbc.log).unwrap_or_default()
    );
    assert_eq!(
        pings, 3,
        "keepalives sent before the third miss removed the binding"
    );
    // With nobody registered and no route from the core, the INVITE gets 480 (RFC 3261
    // §21.4.18) and never reaches alice.
    let mut invite = Message::request(Method::Invite, "sip:alice@example.com");
    invite.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKnatgone;rport", b.addr()),
    );
    invite.push_header(HeaderName::MaxForwards, "70");
    invite.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core-gone");
    invite.push_header(HeaderName::To, "<sip:alice@example.com>");
    invite.push_header(HeaderName::CallId, "nat-gone-call");
    invite.push_header(HeaderName::CSeq, "1 INVITE");
    invite.set_body(Bytes::new(), None);
    b.send(sbc_b(), &invite);
    let (rsp, _) = b
        .recv_until(WAIT, |m| m.status().is_some_and(|s| s >= 200))
        .expect("a final answer at the core");
    assert_eq!(rsp.status(), Some(480), "{rsp:?}");
    assert!(
        a.recv_until(Duration::from_millis(500), |m| m.method()
            == Some(&Method::Invite))
            .is_none(),
        "the INVITE reached alice after her binding was removed"
    );
    drop(sbc);
    drop(topo);
}

/// An out-of-dialog request from alice behind the NAT to carol at the core, digest-authenticated
/// on the 407 the SBC answers first; returns it as the core received it, with its source.
fn customer_request_to_core(
    a: &TestUa,
    b: &TestUa,
    method: Method,
    call_id: &str,
    decorate: impl Fn(&mut Message),
) -> (Message, SocketAddr) {
    let uri = "sip:carol@core.example";
    let request = |seq: u32| {
        let mut m = Message::request(method.clone(), uri);
        m.push_header(
            HeaderName::Via,
            format!(
                "SIP/2.0/UDP {};branch=z9hG4bK{call_id}{seq};rport",
                a.addr()
            ),
        );
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=nat-ood");
        m.push_header(HeaderName::To, format!("<{uri}>"));
        m.push_header(HeaderName::CallId, call_id.to_owned());
        m.push_header(HeaderName::CSeq, format!("{seq} {method}"));
        decorate(&mut m);
        m
    };
    a.send(sbc_a(), &request(1));
    let (challenge, _) = a
        .recv_until(WAIT, |m| is_response(m, 407, method.as_str()))
        .expect("407 to the customer's request");
    let mut again = request(2);
    again.push_header(
        HeaderName::ProxyAuthorization,
        sbc_tests::digest_authorization(
            &challenge,
            &HeaderName::ProxyAuthenticate,
            method.as_str(),
            uri,
            "alice",
            "wonderland",
        )
        .expect("a usable challenge"),
    );
    a.send(sbc_a(), &again);
    b.recv_until(WAIT, |m| m.method() == Some(&method))
        .expect("the customer's request at the core")
}

#[test]
fn out_of_dialog_message_and_subscribe_notify_cross_the_nat_both_ways() {
    let Some(topo) = topology_or_skip("ood_cross_the_nat", 1) else {
        return;
    };
    let a = topo.enter(topo.customer(0), || TestUa::bind(customer_ip(0).into()));
    let b = topo.enter(topo.core(), || TestUa::bind(CORE_IP.into()));
    let mut sbc = Sbc::start_in_netns(&topo, topo.sbc(), &config_with_realm(b.addr()));
    assert!(
        sbc.wait_log("ready; SIGHUP", Duration::from_secs(10)),
        "sbc did not start: {}",
        std::fs::read_to_string(&sbc.log).unwrap_or_default()
    );
    register_through_nat(&a, 1);
    let private = a.addr().ip().to_string();

    // Core → customer: a MESSAGE to alice's AOR reaches her through the NAT at her registered
    // flow; her 200 comes back.
    let mut message = Message::request(Method::Message, "sip:alice@example.com");
    message.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKnatm1;rport", b.addr()),
    );
    message.push_header(HeaderName::MaxForwards, "70");
    message.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core-m");
    message.push_header(HeaderName::To, "<sip:alice@example.com>");
    message.push_header(HeaderName::CallId, "nat-ood-m1");
    message.push_header(HeaderName::CSeq, "1 MESSAGE");
    message.set_body(Bytes::from_static(b"to alice"), Some("text/plain"));
    b.send(sbc_b(), &message);
    let (at_a, from) = a
        .recv_until(WAIT, |m| m.method() == Some(&Method::Message))
        .expect("the core's MESSAGE at the customer behind the NAT");
    assert_eq!(from, sbc_a());
    assert_eq!(at_a.body().as_ref(), b"to alice");
    let mut ok = Message::response_to(&at_a, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!("{};tag=alice-m", at_a.header(&HeaderName::To).unwrap()),
    );
    a.send(from, &ok);
    b.recv_until(WAIT, |m| is_response(m, 200, "MESSAGE"))
        .expect("the customer's 200 to MESSAGE at the core");

    // Customer → core: a MESSAGE (after the 407) reaches the core with no private address.
    let (at_b, from) = customer_request_to_core(&a, &b, Method::Message, "natoodm2", |m| {
        m.set_body(Bytes::from_static(b"to carol"), Some("text/plain"));
    });
    assert_eq!(at_b.body().as_ref(), b"to carol");
    assert!(!String::from_utf8_lossy(&at_b.to_bytes()).contains(&private));
    b.send(from, &Message::response_to(&at_b, 200, "OK"));
    a.recv_until(WAIT, |m| is_response(m, 200, "MESSAGE"))
        .expect("200 to MESSAGE back through the NAT");

    // Customer → core: SUBSCRIBE (presence); the core's 200 and then its NOTIFY reach the
    // customer through the NAT in the subscription's dialog.
    let (sub, from) = customer_request_to_core(&a, &b, Method::Subscribe, "natoods1", |m| {
        m.push_header(HeaderName::Event, "presence");
        m.push_header(HeaderName::Expires, "300");
        m.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
        m.set_body(Bytes::new(), None);
    });
    assert!(!String::from_utf8_lossy(&sub.to_bytes()).contains(&private));
    let mut ok = Message::response_to(&sub, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!("{};tag=carol-s", sub.header(&HeaderName::To).unwrap()),
    );
    ok.push_header(HeaderName::Contact, format!("<sip:carol@{}>", b.addr()));
    ok.push_header(HeaderName::Expires, "300");
    b.send(from, &ok);
    let (a_ok, _) = a
        .recv_until(WAIT, |m| is_response(m, 200, "SUBSCRIBE"))
        .expect("200 to SUBSCRIBE through the NAT");
    let mut notify = Message::request(Method::Notify, contact_uri(&sub));
    notify.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKnatn1;rport", b.addr()),
    );
    notify.push_header(HeaderName::MaxForwards, "70");
    notify.push_header(
        HeaderName::From,
        format!("{};tag=carol-s", sub.header(&HeaderName::To).unwrap()),
    );
    notify.push_header(
        HeaderName::To,
        sub.header(&HeaderName::From).unwrap().to_owned(),
    );
    notify.push_header(HeaderName::CallId, sub.call_id().unwrap().to_owned());
    notify.push_header(HeaderName::CSeq, "1 NOTIFY");
    notify.push_header(HeaderName::Contact, format!("<sip:carol@{}>", b.addr()));
    notify.push_header(HeaderName::Event, "presence");
    notify.push_header(HeaderName::SubscriptionState, "active;expires=300");
    notify.set_body(
        Bytes::from_static(b"<presence/>"),
        Some("application/pidf+xml"),
    );
    b.send(sbc_b(), &notify);
    let (a_notify, from) = a
        .recv_until(WAIT, |m| m.method() == Some(&Method::Notify))
        .expect("NOTIFY at the customer behind the NAT");
    assert_eq!(from, sbc_a());
    assert_eq!(a_notify.call_id(), Some("natoods1"));
    assert_eq!(a_notify.to().unwrap().tag(), a_ok.from().unwrap().tag());
    assert_eq!(a_notify.body().as_ref(), b"<presence/>");
    a.send(from, &Message::response_to(&a_notify, 200, "OK"));
    b.recv_until(WAIT, |m| is_response(m, 200, "NOTIFY"))
        .expect("the customer's 200 to NOTIFY at the core");
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
    drop(sbc);
    drop(topo);
}
