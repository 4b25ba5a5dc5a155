//! Routes by name through the real `sbc` binary (RFC 3263, RFC 2782): a DNS server run by the
//! test on loopback (Debian `dnsmasq`, on a high port, answering only for `*.test` names it is
//! given) publishes `_sip._tcp.trunk.test` with a priority-10 and a priority-20 target; the SBC
//! resolves only the name in its configuration. Calls reach the priority-10 target; when it
//! refuses connections they fail over to the priority-20 one at once; a name that does not
//! resolve gives the caller 503 promptly. Needs `dnsmasq` (`bash .ci/deps`); without it the test
//! fails when `CI` is set and skips loudly otherwise.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::message::{alice_invite, is_request, tagged_response};
use sbc_tests::tcp::{accept_within, TcpPeer};
use sbc_tests::{free_tcp_port, free_udp_port, spawn_logged, test_dir, ChildGuard, Sbc, TestUa};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The SBC config `c` with its admin port moved off `listener`'s port: two `free_tcp_port()`
/// calls in a row may return the same port.
fn admin_apart(mut c: SbcConfig) -> SbcConfig {
    let taken: Vec<u16> = c.core.listen.iter().map(|(_, a)| a.port()).collect();
    while taken.contains(&c.admin.port()) {
        c.admin = addr(free_tcp_port());
    }
    c
}

fn dnsmasq_or_skip() -> bool {
    let ok = Command::new("dnsmasq").arg("--version").output().is_ok();
    if !ok {
        let why = "dnsmasq missing (apt-get install -y dnsmasq-base)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED {why}");
    }
    ok
}

/// dnsmasq on 127.0.0.1:`port` answering only from its command line: `records` are
/// `--srv-host`/`--host-record` values; everything else is NXDOMAIN (no upstream servers).
fn dnsmasq(port: u16, records: &[String]) -> ChildGuard {
    let dir = test_dir("sbc-dnsmasq");
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--log-queries",
        "--log-facility=-",
    ])
    .arg(format!("--port={port}"))
    .arg(format!("--pid-file={}", dir.join("pid").display()))
    .arg("--local=/test/");
    for r in records {
        cmd.arg(r);
    }
    let child = spawn_logged(&mut cmd, Some(&dir.join("dnsmasq.log")));
    // Up once it answers a query on UDP.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let query = [
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b'p', b'i', b'n', b'g', 4, b't', b'e', b's',
        b't', 0, 0, 1, 0, 1,
    ];
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = probe.send_to(&query, addr(port));
        let mut buf = [0u8; 512];
        if probe.recv_from(&mut buf).is_ok() {
            break;
        }
        assert!(Instant::now() < end, "dnsmasq did not start");
    }
    child
}

/// Answers one INVITE on the next connection to `listener` with 486 (so the call ends at once).
fn answer_busy(listener: &TcpListener) -> Message {
    let stream = accept_within(listener, WAIT).expect("the SBC connects");
    let mut peer = TcpPeer::from_stream(stream);
    let inv = peer
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at the trunk");
    peer.send(&tagged_response(&inv, 486, "trunk"));
    let _ = peer.recv_until(Duration::from_millis(500), |m| is_request(m, &Method::Ack));
    inv
}

fn final_status(phone: &TestUa) -> Option<u16> {
    phone
        .recv_until(Duration::from_secs(10), |m| {
            m.status().is_some_and(|s| s >= 200) && m.cseq().is_some_and(|c| c.method == "INVITE")
        })
        .and_then(|(m, _)| m.status())
}

#[test]
fn a_route_by_name_reaches_the_srv_target_and_fails_over_by_priority() {
    if !dnsmasq_or_skip() {
        return;
    }
    let first = TcpListener::bind("127.0.0.1:0").unwrap();
    let second = TcpListener::bind("127.0.0.1:0").unwrap();
    let (p1, p2) = (
        first.local_addr().unwrap().port(),
        second.local_addr().unwrap().port(),
    );
    let dns_port = free_udp_port();
    let _dns = dnsmasq(
        dns_port,
        &[
            format!("--srv-host=_sip._tcp.trunk.test,uas1.trunk.test,{p1},10,50"),
            format!("--srv-host=_sip._tcp.trunk.test,uas2.trunk.test,{p2},20,50"),
            "--host-record=uas1.trunk.test,127.0.0.1".to_owned(),
            "--host-record=uas2.trunk.test,127.0.0.1".to_owned(),
            "--host-record=ping.test,127.0.0.1".to_owned(),
        ],
    );
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999).and("tcp", addr(free_tcp_port())),
    )
    .route("by-name", addr(1), "");
    c = admin_apart(c);
    c.extra = format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\ntimeout_ms = 500\n");
    let text = c.render().replace(
        "next_hop = \"127.0.0.1:1\"",
        "next_hop = \"sip:trunk.test;transport=tcp\"",
    );
    let mut sbc = Sbc::start_ready(&text);
    assert!(
        sbc.wait_log("next hop name resolves to", WAIT),
        "the SBC did not log what trunk.test resolves to"
    );
    let phone = TestUa::new();
    let call = |id: &str| {
        let inv = alice_invite("UDP", phone.addr(), id, "dns-a", Some(phone.sdp("alice")));
        phone.send(addr(customer), &inv);
    };
    // Priority 10 first.
    call("dns-call-1");
    answer_busy(&first);
    assert_eq!(final_status(&phone), Some(486));
    // The priority-10 target refuses connections: the call fails over to priority 20 at once.
    drop(first);
    let t0 = Instant::now();
    call("dns-call-2");
    let inv = answer_busy(&second);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "failover took {:?}",
        t0.elapsed()
    );
    assert!(inv.header(&HeaderName::CallId).is_some());
    assert_eq!(final_status(&phone), Some(486));
}

#[test]
fn a_name_that_does_not_resolve_gets_503_promptly() {
    if !dnsmasq_or_skip() {
        return;
    }
    let dns_port = free_udp_port();
    let _dns = dnsmasq(dns_port, &["--host-record=ping.test,127.0.0.1".to_owned()]);
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999).and("tcp", addr(free_tcp_port())),
    )
    .route("by-name", addr(1), "");
    c = admin_apart(c);
    c.extra = format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\ntimeout_ms = 500\n");
    let text = c.render().replace(
        "next_hop = \"127.0.0.1:1\"",
        "next_hop = \"sip:nowhere.test;transport=tcp\"",
    );
    let mut sbc = Sbc::start_ready(&text);
    assert!(sbc.wait_log("did not resolve", WAIT) || sbc.wait_log("no usable address", WAIT));
    let phone = TestUa::new();
    let t0 = Instant::now();
    let inv = alice_invite(
        "UDP",
        phone.addr(),
        "dns-nx-1",
        "dns-a",
        Some(phone.sdp("alice")),
    );
    phone.send(addr(customer), &inv);
    let (rsp, _) = phone
        .recv_until(WAIT, |m| m.status().is_some_and(|s| s >= 200))
        .expect("a final answer");
    assert_eq!(rsp.status(), Some(503), "{rsp:?}");
    assert_eq!(rsp.reason(), Some("Next Hop Not Resolved"));
    assert!(t0.elapsed() < Duration::from_secs(2));
    let metrics = sbc_tests::http_get(c.admin, "/metrics", None)
        .expect("/metrics")
        .body;
    let failed = sbc_tests::metric_value(
        &metrics,
        "sbc_dns_failures_total{name=\"sip:nowhere.test;transport=tcp\"}",
    );
    assert!(failed.is_some_and(|v| v >= 1.0), "{metrics}");
}

/// Answers every INVITE arriving at `ua` with 486 until `stop` (at most 30 s); how many it
/// answered.
fn busy_until(ua: TestUa, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(30);
        let mut n = 0;
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            if let Some((m, from)) = ua.recv(Duration::from_millis(100)) {
                if m.method() == Some(&Method::Invite) {
                    let mut busy = tagged_response(&m, 486, "w");
                    busy.set_body(Bytes::new(), None);
                    ua.send(from, &busy);
                    n += 1;
                }
            }
        }
        n
    })
}

#[test]
fn srv_weights_share_the_calls_80_20() {
    if !dnsmasq_or_skip() {
        return;
    }
    let (heavy, light) = (TestUa::new(), TestUa::new());
    let (ph, pl) = (heavy.addr().port(), light.addr().port());
    let dns_port = free_udp_port();
    let _dns = dnsmasq(
        dns_port,
        &[
            format!("--srv-host=_sip._udp.trunk.test,heavy.trunk.test,{ph},10,80"),
            format!("--srv-host=_sip._udp.trunk.test,light.trunk.test,{pl},10,20"),
            "--host-record=heavy.trunk.test,127.0.0.1".to_owned(),
            "--host-record=light.trunk.test,127.0.0.1".to_owned(),
            "--host-record=ping.test,127.0.0.1".to_owned(),
        ],
    );
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999),
    )
    .route("by-name", addr(1), "");
    c = admin_apart(c);
    c.extra = format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\n");
    let text = c.render().replace(
        "next_hop = \"127.0.0.1:1\"",
        "next_hop = \"sip:trunk.test;transport=udp\"",
    );
    let mut sbc = Sbc::start_ready(&text);
    assert!(sbc.wait_log("next hop name resolves to", WAIT));
    let stop = Arc::new(AtomicBool::new(false));
    let (h, l) = (
        busy_until(heavy, stop.clone()),
        busy_until(light, stop.clone()),
    );
    let phone = TestUa::new();
    let mut answered = 0;
    for i in 0..200 {
        let id = format!("dns-w-{i}");
        let inv = alice_invite("UDP", phone.addr(), &id, "dns-w", None);
        phone.send(addr(customer), &inv);
        if final_status(&phone) == Some(486) {
            answered += 1;
        }
    }
    assert_eq!(answered, 200);
    stop.store(true, Ordering::Relaxed);
    let (h, l) = (h.join().unwrap(), l.join().unwrap());
    eprintln!("80/20 SRV weights over 200 calls: heavy {h}, light {l}");
    assert_eq!(h + l, 200);
    // 80/20 by weight: 160 expected on the heavy target; allow for chance (±4 sigma ≈ ±23).
    assert!((137..=183).contains(&h), "heavy {h}, light {l}");
}

#[test]
fn a_tls_route_by_name_verifies_the_trunk_certificate_against_that_name() {
    if !dnsmasq_or_skip() {
        return;
    }
    let dir = test_dir("sbc-dns-tls");
    let pki = sbc_tests::tls::Pki::new(&dir);
    let (sbc_cert, sbc_key) = pki.issue("sbc.test");
    let (good_cert, good_key) = pki.issue("trunk.test");
    let (bad_cert, bad_key) = pki.issue("impostor.test");
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let bad = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pg, pb) = (
        good.local_addr().unwrap().port(),
        bad.local_addr().unwrap().port(),
    );
    let dns_port = free_udp_port();
    let _dns = dnsmasq(
        dns_port,
        &[
            format!("--srv-host=_sips._tcp.trunk.test,tls1.trunk.test,{pg},10,50"),
            format!("--srv-host=_sips._tcp.other.test,tls1.other.test,{pb},10,50"),
            "--host-record=tls1.trunk.test,127.0.0.1".to_owned(),
            "--host-record=tls1.other.test,127.0.0.1".to_owned(),
            "--host-record=ping.test,127.0.0.1".to_owned(),
        ],
    );
    let (customer, core) = (free_udp_port(), free_udp_port());
    let ca = format!("[route.tls]\nca = \"{}\"\n", pki.ca.display());
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999).and("tls", addr(free_tcp_port())),
    )
    .route("good", addr(1), &format!("request_user = \"1*\"\n{ca}"))
    .route("bad", addr(2), &format!("request_user = \"2*\"\n{ca}"));
    c = admin_apart(c);
    c.extra = format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\n");
    let text = c
        .render()
        .replace("next_hop = \"127.0.0.1:1\"", "next_hop = \"sips:trunk.test\"")
        .replace("next_hop = \"127.0.0.1:2\"", "next_hop = \"sips:other.test\"")
        .replace(
            "rtp_port_max = 47999\n",
            &format!(
                "rtp_port_max = 47999\n[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
                sbc_cert.display(),
                sbc_key.display()
            ),
        );
    let mut sbc = Sbc::start_ready(&text);
    assert!(sbc.wait_log("next hop name resolves to", WAIT));
    let phone = TestUa::new();
    let call = |user: &str, id: &str| {
        let mut inv = alice_invite("UDP", phone.addr(), id, "dns-t", Some(phone.sdp("alice")));
        inv.set_uri(format!("sip:{user}@example.com"));
        phone.send(addr(customer), &inv);
    };
    // trunk.test presents a certificate for trunk.test: verified against the route's name.
    call("100", "dns-tls-1");
    let mut trunk = sbc_tests::tls::TlsPeer::accept(
        &good,
        sbc_tests::tls::server_config(&good_cert, &good_key),
        WAIT,
    )
    .expect("the SBC's TLS connection to trunk.test");
    let inv = trunk
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at the trunk over TLS");
    trunk.send(&tagged_response(&inv, 486, "tls"));
    assert_eq!(final_status(&phone), Some(486));
    // other.test's address presents a certificate for another name: refused, the call fails.
    call("200", "dns-tls-2");
    let refused = sbc_tests::tls::TlsPeer::accept(
        &bad,
        sbc_tests::tls::server_config(&bad_cert, &bad_key),
        WAIT,
    );
    assert!(
        refused.is_err(),
        "the SBC accepted impostor.test for other.test"
    );
    let status = final_status(&phone).expect("a final answer");
    assert!(status == 408 || status >= 500, "{status}");
    let metrics = sbc_tests::http_get(c.admin, "/metrics", None)
        .expect("/metrics")
        .body;
    let failures = sbc_tests::metric_value(
        &metrics,
        "sbc_tls_handshake_failures_total{reason=\"certificate_name\"}",
    );
    assert!(failures.is_some_and(|v| v >= 1.0), "{metrics}");
}

#[test]
fn a_plain_name_is_located_through_naptr_then_srv() {
    if !dnsmasq_or_skip() {
        return;
    }
    let trunk = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = trunk.local_addr().unwrap().port();
    let dns_port = free_udp_port();
    let _dns = dnsmasq(
        dns_port,
        &[
            // The SBC speaks TCP on this route: SIP+D2T wins over an earlier SIPS+D2T, and the
            // UDP record comes later by order.
            "--naptr-record=naptr.test,5,10,S,SIPS+D2T,,_sips._tcp.naptr.test".to_owned(),
            // The replacement is an SRV name the RFC 3263 fallback would never ask for: only the
            // NAPTR answer leads there.
            "--naptr-record=naptr.test,10,10,S,SIP+D2T,,_sip._tcp.pool.naptr.test".to_owned(),
            "--naptr-record=naptr.test,20,10,S,SIP+D2U,,_sip._udp.naptr.test".to_owned(),
            format!("--srv-host=_sip._tcp.pool.naptr.test,pbx.naptr.test,{port},10,50"),
            "--host-record=pbx.naptr.test,127.0.0.1".to_owned(),
            "--host-record=ping.test,127.0.0.1".to_owned(),
        ],
    );
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999).and("tcp", addr(free_tcp_port())),
    )
    .route("by-naptr", addr(1), "transport = \"tcp\"\n");
    c = admin_apart(c);
    c.extra = format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\n");
    let text = c.render().replace(
        "next_hop = \"127.0.0.1:1\"",
        "next_hop = \"sip:naptr.test\"",
    );
    let mut sbc = Sbc::start_ready(&text);
    assert!(
        sbc.wait_log("next hop name resolves to", WAIT),
        "naptr.test did not resolve"
    );
    let phone = TestUa::new();
    let inv = alice_invite(
        "UDP",
        phone.addr(),
        "dns-naptr-1",
        "dns-n",
        Some(phone.sdp("alice")),
    );
    phone.send(addr(customer), &inv);
    answer_busy(&trunk);
    assert_eq!(final_status(&phone), Some(486));
}
