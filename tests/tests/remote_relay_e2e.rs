//! The SBC with its media on remote `sbc-relay` daemons over ng (`[relay] remote`): calls get
//! SDP pointing at a daemon's ports and RTP flows both ways through it; new calls are spread by
//! weight and move to the other relay when one stops answering; and a daemon keeps forwarding
//! an established call while the SBC process is killed and started again.

use bytes::Bytes;
use sbc_common::bencode::{decode, Value};
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::message::{
    alice_invite, contact_uri, dialog_request, is_request, is_response, tagged_response, udp_via,
};
use sbc_tests::{free_udp_port, sdp_audio_addr, spawn_logged, test_dir, ChildGuard, Sbc, TestUa};
use std::net::{SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

/// `sbc-relay`, built next to the test executable by `cargo build --workspace --bins`.
fn relay_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("sbc-relay")
}

/// A running daemon: its ng address and its two interfaces' port ranges.
struct Daemon {
    ng: SocketAddr,
    customer: RangeInclusive<u16>,
    core: RangeInclusive<u16>,
    child: Option<ChildGuard>,
    /// Its config file and log, to start it again.
    cfg: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Starts a daemon with interfaces `customer` and `core` (as the SBC names its own) from
    /// port `base`.
    fn start(dir: &std::path::Path, name: &str, base: u16) -> Self {
        let port = free_udp_port();
        let customer = base..=base + 99;
        let core = base + 100..=base + 199;
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[ng]\nlisten = \"127.0.0.1:{port}\"\nallow = [\"127.0.0.1\"]\n\n\
                 [[interface]]\nname = \"customer\"\naddress = \"127.0.0.1\"\nport_min = {}\nport_max = {}\n\n\
                 [[interface]]\nname = \"core\"\naddress = \"127.0.0.1\"\nport_min = {}\nport_max = {}\n",
                customer.start(),
                customer.end(),
                core.start(),
                core.end()
            ),
        )
        .unwrap();
        let mut d = Self {
            ng: SocketAddr::from(([127, 0, 0, 1], port)),
            customer,
            core,
            child: None,
            cfg,
            log: dir.join(format!("{name}.log")),
        };
        d.run();
        d
    }

    /// Starts the process (again) and waits until it answers a ping.
    fn run(&mut self) {
        self.child = Some(spawn_logged(
            Command::new(relay_binary()).arg("--config").arg(&self.cfg),
            Some(&self.log),
        ));
        let end = Instant::now() + Duration::from_secs(10);
        while self.ng_request(b"p d7:command4:pinge").is_none() {
            assert!(Instant::now() < end, "{} did not answer ng", self.ng);
        }
    }

    fn ng_request(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s.send_to(msg, self.ng).unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    /// How many calls the daemon anchors (`list`).
    fn calls(&self) -> usize {
        // A cookie of its own each time: a repeated one gets the cached reply.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = self
            .ng_request(format!("l{n} d7:command4:liste").as_bytes())
            .expect("list reply");
        let at = r.iter().position(|&b| b == b' ').unwrap();
        let v = decode(&r[at + 1..]).unwrap();
        v.get("calls")
            .and_then(Value::as_list)
            .map_or(0, <[_]>::len)
    }

    fn stop(&mut self) {
        self.child = None;
    }
}

fn remote_config(customer: u16, core: u16, b: SocketAddr, relays: &[(&Daemon, u16)]) -> SbcConfig {
    let mut cfg = SbcConfig::loopback(customer, core, 40000..=40099, 40100..=40199).route(
        "customer-to-core",
        b,
        "",
    );
    let list: Vec<String> = relays
        .iter()
        .map(|(d, w)| format!("{{ ng = \"{}\", weight = {w} }}", d.ng))
        .collect();
    cfg.relay = format!(
        "remote = [{}]\nremote_timeout_ms = 200\nremote_retry_s = 1\n",
        list.join(", ")
    );
    cfg
}

/// One answered call through the SBC: what each phone was told.
struct Call {
    invite: Message,
    a_ok: Message,
    relay_for_a: SocketAddr,
    relay_for_b: SocketAddr,
}

fn call(sbc: SocketAddr, a: &TestUa, b: &TestUa, id: &str) -> Call {
    let invite = alice_invite(
        "UDP",
        a.addr(),
        id,
        &format!("{id}-a"),
        Some(a.sdp("alice")),
    );
    a.send(sbc, &invite);
    let (b_inv, from) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at B");
    let relay_for_b = sdp_audio_addr(b_inv.body()).expect("SDP to B");
    let mut ok = tagged_response(&b_inv, 200, &format!("{id}-b"));
    ok.push_header(HeaderName::Contact, format!("<sip:bob@{}>", b.addr()));
    ok.set_body(Bytes::from(b.sdp("bob")), Some("application/sdp"));
    b.send(from, &ok);
    let (a_ok, _) = a
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at A");
    let relay_for_a = sdp_audio_addr(a_ok.body()).expect("SDP to A");
    let ack = dialog_request(
        Method::Ack,
        contact_uri(&a_ok),
        1,
        udp_via(a.addr(), &format!("z9hG4bK{id}ack")),
        &invite,
        &a_ok,
    );
    a.send(sbc, &ack);
    b.recv_until(WAIT, |m| is_request(m, &Method::Ack))
        .expect("ACK at B");
    Call {
        invite,
        a_ok,
        relay_for_a,
        relay_for_b,
    }
}

fn hang_up(sbc: SocketAddr, a: &TestUa, b: &TestUa, c: &Call) {
    // A branch of its own per BYE: a repeated one would be taken as a retransmission.
    let branch = format!("z9hG4bK{}bye", c.invite.call_id().unwrap_or_default());
    let bye = dialog_request(
        Method::Bye,
        contact_uri(&c.a_ok),
        2,
        udp_via(a.addr(), &branch),
        &c.invite,
        &c.a_ok,
    );
    a.send(sbc, &bye);
    let (b_bye, from) = b
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE at B");
    b.send(from, &Message::response_to(&b_bye, 200, "OK"));
    a.recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE at A");
}

/// RTP both ways: each side gets at least 18 of 20 packets, from the address it was told.
fn media_flows(a: &TestUa, b: &TestUa, c: &Call, ssrc: u32) {
    a.send_rtp(c.relay_for_a, ssrc, 20);
    let (n, from) = b.count_rtp(ssrc, 20, WAIT);
    assert!(n >= 18, "B got {n} of 20");
    assert_eq!(from, Some(c.relay_for_b));
    b.send_rtp(c.relay_for_b, ssrc + 1, 20);
    let (n, from) = a.count_rtp(ssrc + 1, 20, WAIT);
    assert!(n >= 18, "A got {n} of 20");
    assert_eq!(from, Some(c.relay_for_a));
}

#[test]
fn calls_are_anchored_on_remote_relays_by_weight_and_fail_over_when_one_stops() {
    let dir = test_dir("sbc-remote-relay");
    let mut r1 = Daemon::start(&dir, "relay1", 46000);
    let r2 = Daemon::start(&dir, "relay2", 46200);
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (a, b) = (TestUa::new(), TestUa::new());
    let mut sbc_cfg = remote_config(customer, core, b.addr(), &[(&r1, 1), (&r2, 1)]);
    let cdr = dir.join("cdr.jsonl");
    sbc_cfg.admin_lines = format!("cdr_path = \"{}\"", cdr.display());
    let _sbc = Sbc::start_ready(&sbc_cfg.render());
    let sbc = SocketAddr::from(([127, 0, 0, 1], customer));

    // Two calls, one on each relay (equal weights): A is told a customer-side port, B a
    // core-side port of the same daemon.
    let mut on = Vec::new();
    for (i, id) in ["rr-1", "rr-2"].into_iter().enumerate() {
        let c = call(sbc, &a, &b, id);
        let d = [&r1, &r2]
            .into_iter()
            .position(|d| d.customer.contains(&c.relay_for_a.port()))
            .unwrap_or_else(|| panic!("A's SDP points at no relay: {}", c.relay_for_a));
        let d_ref = [&r1, &r2][d];
        assert!(
            d_ref.core.contains(&c.relay_for_b.port()),
            "B's SDP: {}",
            c.relay_for_b
        );
        media_flows(&a, &b, &c, 0x100 + i as u32 * 2);
        on.push(d);
        hang_up(sbc, &a, &b, &c);
    }
    on.sort_unstable();
    assert_eq!(on, [0, 1], "equal weights share the calls");
    assert_eq!(
        (r1.calls(), r2.calls()),
        (0, 0),
        "BYE deleted the relays' calls"
    );
    // Each call's CDR carries the packets the relay got from each side (its delete reply).
    let end = Instant::now() + WAIT;
    let records = loop {
        let text = std::fs::read_to_string(&cdr).unwrap_or_default();
        if text.lines().count() >= 2 || Instant::now() > end {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines: Vec<&str> = records.lines().collect();
    assert_eq!(lines.len(), 2, "{records}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON CDR");
        let packets = |leg: &str| v["media"][0][leg]["packets_in"].as_u64().unwrap_or(0);
        assert!(packets("a") >= 18 && packets("b") >= 18, "{line}");
    }

    // relay1 stops: every new call goes to relay2, with media.
    r1.stop();
    for (i, id) in ["fo-1", "fo-2", "fo-3"].into_iter().enumerate() {
        let c = call(sbc, &a, &b, id);
        assert!(
            r2.customer.contains(&c.relay_for_a.port()),
            "call {id} not on relay2: {}",
            c.relay_for_a
        );
        media_flows(&a, &b, &c, 0x200 + i as u32 * 2);
        hang_up(sbc, &a, &b, &c);
    }
    // relay1 is back: after remote_retry_s a ping (sent without holding calls up) finds it, and
    // new calls are shared again.
    r1.run();
    std::thread::sleep(Duration::from_millis(1200));
    let mut back = Vec::new();
    for (i, id) in ["back-1", "back-2", "back-3"].into_iter().enumerate() {
        let started = Instant::now();
        let c = call(sbc, &a, &b, id);
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "call {id} waited {:?} for the relays",
            started.elapsed()
        );
        back.push(r1.customer.contains(&c.relay_for_a.port()));
        media_flows(&a, &b, &c, 0x280 + i as u32 * 2);
        hang_up(sbc, &a, &b, &c);
    }
    assert!(
        back.iter().skip(1).any(|&on_r1| on_r1),
        "no call went back to relay1: {back:?}"
    );
}

#[test]
fn a_remote_relay_keeps_media_flowing_while_the_sbc_restarts() {
    let dir = test_dir("sbc-remote-restart");
    let r = Daemon::start(&dir, "relay", 46400);
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (a, b) = (TestUa::new(), TestUa::new());
    let sbc_cfg = remote_config(customer, core, b.addr(), &[(&r, 1)]).render();
    let sbc_addr = SocketAddr::from(([127, 0, 0, 1], customer));
    let mut sbc = Sbc::start_ready(&sbc_cfg);
    let c = call(sbc_addr, &a, &b, "restart-1");
    media_flows(&a, &b, &c, 0x300);
    // The SBC dies (no BYE, no delete): the daemon still forwards the call.
    sbc.child.kill().unwrap();
    sbc.child.wait().unwrap();
    media_flows(&a, &b, &c, 0x310);
    assert_eq!(r.calls(), 1);
    // A new SBC process on the same relay: the old call's media still flows, new calls work.
    drop(sbc);
    let _sbc = Sbc::start_ready(&sbc_cfg);
    media_flows(&a, &b, &c, 0x320);
    let c2 = call(sbc_addr, &a, &b, "restart-2");
    media_flows(&a, &b, &c2, 0x330);
    assert_eq!(r.calls(), 2);
    media_flows(&a, &b, &c, 0x340);
}
