//! Kamailio (Debian `kamailio` + `kamailio-tls-modules`) as a mutual-TLS trunk behind the real
//! `sbc`: the trunk's TLS listener requires a client certificate from the test CA. A call from a
//! customer reaches it over TLS when the route presents the SBC's client certificate (Kamailio logs
//! the certificate's name and answers 486), and fails at the handshake when the route presents
//! none; and Kamailio as a trunk that dials the SBC's mutual-TLS listener gets in with a
//! certificate from the trusted CA and is refused (counted) with one from another CA. Needs
//! `kamailio` with its TLS module; without them these tests fail when `CI` is set and skip loudly
//! otherwise.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::kamailio::Kamailio;
use sbc_tests::message::is_response;
use sbc_tests::tls::Pki;
use sbc_tests::{free_tcp_port, free_udp_port, http_get, metric_value, test_dir, Sbc, TestUa};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TLS_MODULE: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether kamailio and its TLS module are installed; skips loudly (or fails under `CI`).
fn kamailio_or_skip(test: &str) -> bool {
    let ok = Command::new("kamailio").arg("-v").output().is_ok() && Path::new(TLS_MODULE).exists();
    if !ok {
        let why = format!(
            "{test}: kamailio or {TLS_MODULE} missing (apt-get install -y kamailio kamailio-tls-modules)"
        );
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED {why}");
    }
    ok
}

/// Kamailio on 127.0.0.1:`port` over TLS only, presenting `trunk.test` and requiring a client
/// certificate from the CA; it answers every INVITE 486 after logging who connected.
fn start_kamailio(dir: &Path, pki: &Pki, port: u16) -> (Kamailio, PathBuf) {
    let (cert, key) = pki.issue("trunk.test");
    let tls_cfg = dir.join("kamailio-tls.cfg");
    std::fs::write(
        &tls_cfg,
        format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nprivate_key = {}\ncertificate = {}\nca_list = {}\n",
            key.display(),
            cert.display(),
            pki.ca.display()
        ),
    )
    .unwrap();
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(
        &cfg,
        format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
enable_tls=yes
listen=tls:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tls.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
modparam("tls", "config", "{}")
request_route {{
    if (is_method("ACK")) {{ exit; }}
    if (is_method("INVITE")) {{
        xlog("L_INFO", "TRUNK-INVITE proto=$pr peer=$tls_peer_subject_cn\n");
        sl_send_reply("486", "Busy Here From Kamailio");
        exit;
    }}
    sl_send_reply("200", "OK");
}}
"#,
            tls_cfg.display()
        ),
    )
    .unwrap();
    let log = dir.join("kamailio.log");
    let child = Kamailio::start(&cfg, dir, &log);
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr(port)).is_err() {
        assert!(
            Instant::now() < end,
            "kamailio did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, log)
}

/// The SBC: customer side UDP, core side UDP + TLS, a TLS route to Kamailio verified as
/// `trunk.test`, presenting `sbc-client.test` when `client_cert`.
fn start_sbc(pki: &Pki, trunk: SocketAddr, client_cert: bool) -> (Sbc, SocketAddr, SocketAddr) {
    let (cert, key) = pki.issue("sbc.test");
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut route = format!(
        "transport = \"tls\"\n[route.tls]\nserver_name = \"trunk.test\"\nca = \"{}\"\n",
        pki.ca.display()
    );
    if client_cert {
        let (c, k) = pki.issue("sbc-client.test");
        route.push_str(&format!(
            "certificate = \"{}\"\nprivate_key = \"{}\"\n",
            c.display(),
            k.display()
        ));
    }
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999),
        Iface::udp(addr(core), 47000..=47999).and("tls", addr(free_tcp_port())),
    )
    .route("customer-to-trunk", trunk, &route);
    c.admin = addr(free_tcp_port());
    let tls = format!(
        "[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let text = c.render().replace(
        "rtp_port_max = 47999\n",
        &format!("rtp_port_max = 47999\n{tls}"),
    );
    (Sbc::start_ready(&text), addr(customer), c.admin)
}

fn invite(a: &TestUa, call_id: &str) -> Message {
    let mut m = Message::request(Method::Invite, "sip:+15551234@example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bK{call_id};rport", a.addr()),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=kam");
    m.push_header(HeaderName::To, "<sip:+15551234@example.com>");
    m.push_header(HeaderName::CallId, call_id);
    m.push_header(HeaderName::CSeq, "1 INVITE");
    m.push_header(HeaderName::Contact, format!("<sip:alice@{}>", a.addr()));
    m.set_body(Bytes::from(a.sdp("alice")), Some("application/sdp"));
    m
}

fn final_status(a: &TestUa) -> Option<u16> {
    a.recv_until(Duration::from_secs(15), |m| {
        m.status().is_some_and(|s| s >= 200) && m.cseq().is_some_and(|c| c.method == "INVITE")
    })
    .and_then(|(m, _)| m.status())
}

#[test]
fn a_call_reaches_a_kamailio_mutual_tls_trunk_with_the_sbcs_client_certificate() {
    if !kamailio_or_skip("kamailio_mtls_call") {
        return;
    }
    let dir = test_dir("sbc-kamailio-tls");
    let pki = Pki::new(&dir);
    let port = free_tcp_port();
    let (_kamailio, log) = start_kamailio(&dir, &pki, port);
    let (_sbc, customer, _) = start_sbc(&pki, addr(port), true);
    let a = TestUa::new();
    a.send(customer, &invite(&a, "kam-mtls-1"));
    let (rsp, _) = a
        .recv_until(Duration::from_secs(15), |m| is_response(m, 486, "INVITE"))
        .expect("Kamailio's 486 relayed to the caller");
    assert_eq!(rsp.status(), Some(486));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("TRUNK-INVITE proto=tls peer=sbc-client.test"),
        "Kamailio did not see the SBC's certificate:\n{text}"
    );
}

#[test]
fn without_a_client_certificate_the_kamailio_trunk_refuses_the_sbc() {
    if !kamailio_or_skip("kamailio_mtls_refused") {
        return;
    }
    let dir = test_dir("sbc-kamailio-notls");
    let pki = Pki::new(&dir);
    let port = free_tcp_port();
    let (_kamailio, log) = start_kamailio(&dir, &pki, port);
    let (_sbc, customer, admin) = start_sbc(&pki, addr(port), false);
    let a = TestUa::new();
    a.send(customer, &invite(&a, "kam-mtls-2"));
    let status = final_status(&a).expect("a final answer to the caller");
    assert!((500..=599).contains(&status) || status == 408, "{status}");
    // Kamailio may log the refused handshake after the caller already has its answer.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut text = std::fs::read_to_string(&log).unwrap();
    while !text.contains("did not return a certificate") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        text = std::fs::read_to_string(&log).unwrap();
    }
    assert!(
        !text.contains("TRUNK-INVITE"),
        "the INVITE got through:\n{text}"
    );
    assert!(text.contains("did not return a certificate"), "{text}");
    let metrics = http_get(admin, "/metrics", None).expect("/metrics").body;
    let failures: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("sbc_tls_handshake_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(failures >= 1.0, "not counted:\n{metrics}");
    let _ = metric_value(&metrics, "sbc_tls_connections_total");
}

/// Kamailio as a trunk that dials the SBC: SIP over UDP on 127.0.0.1:`udp_port`, every INVITE
/// relayed statefully over TLS to `sbc`, presenting `cert`/`key` and verifying the SBC against
/// `pki`'s CA.
fn start_kamailio_client(
    dir: &Path,
    pki: &Pki,
    (cert, key): (&Path, &Path),
    udp_port: u16,
    sbc: SocketAddr,
) -> (Kamailio, PathBuf) {
    let tls_cfg = dir.join("kamailio-client-tls.cfg");
    std::fs::write(
        &tls_cfg,
        format!(
            "[server:default]\nmethod = TLSv1.2+\nprivate_key = {k}\ncertificate = {c}\n\n\
             [client:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\n\
             private_key = {k}\ncertificate = {c}\nca_list = {ca}\nserver_name = sbc.test\n",
            k = key.display(),
            c = cert.display(),
            ca = pki.ca.display()
        ),
    )
    .unwrap();
    let cfg = dir.join("kamailio-client.cfg");
    std::fs::write(
        &cfg,
        format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
enable_tls=yes
listen=udp:127.0.0.1:{udp_port}
listen=tls:127.0.0.1:{tls_port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tls.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "pv.so"
loadmodule "xlog.so"
modparam("tls", "config", "{tls_cfg}")
request_route {{
    if (is_method("INVITE|ACK|CANCEL")) {{
        xlog("L_INFO", "TO-SBC $rm\n");
        t_relay_to_tls("{ip}", "{port}");
        exit;
    }}
    sl_send_reply("200", "OK");
}}
"#,
            tls_port = free_tcp_port(),
            tls_cfg = tls_cfg.display(),
            ip = sbc.ip(),
            port = sbc.port()
        ),
    )
    .unwrap();
    let log = dir.join("kamailio-client.log");
    let child = Kamailio::start(&cfg, dir, &log);
    // Up once it answers an OPTIONS on UDP.
    child.wait_options(addr(udp_port));
    (child, log)
}

/// The SBC with a mutual-TLS core listener (client CA: `pki`'s) and a route from the core side
/// to `customer_ua`: (sbc, core TLS address, admin).
fn start_sbc_mtls_listener(pki: &Pki, customer_ua: SocketAddr) -> (Sbc, SocketAddr, SocketAddr) {
    let (cert, key) = pki.issue("sbc.test");
    let core_tls = addr(free_tcp_port());
    let mut c = SbcConfig::with(
        Iface::udp(addr(free_udp_port()), 46000..=46999),
        Iface::udp(addr(free_udp_port()), 47000..=47999).and("tls", core_tls),
    );
    c = c.route("core-to-customer", customer_ua, "");
    c.admin = addr(free_tcp_port());
    let tls = format!(
        "[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\nclient_ca = \"{}\"\n",
        cert.display(),
        key.display(),
        pki.ca.display()
    );
    let text = c
        .render()
        .replace(
            "rtp_port_max = 47999\n",
            &format!("rtp_port_max = 47999\n{tls}"),
        )
        .replace("from_interface = \"customer\"", "from_interface = \"core\"")
        .replace("to_interface = \"core\"", "to_interface = \"customer\"");
    (Sbc::start_ready(&text), core_tls, c.admin)
}

/// Handshake failures the SBC counted, whatever the reason.
fn failures(admin: SocketAddr) -> f64 {
    let metrics = http_get(admin, "/metrics", None).expect("/metrics").body;
    metrics
        .lines()
        .filter(|l| l.starts_with("sbc_tls_handshake_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_kamailio_trunk_dialling_the_sbc_gets_in_only_with_a_trusted_certificate() {
    if !kamailio_or_skip("kamailio_dials_sbc") {
        return;
    }
    let dir = test_dir("sbc-kamailio-client");
    let pki = Pki::new(&dir);
    let other_dir = dir.join("other-ca");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = Pki::new(&other_dir);
    let customer = TestUa::new();
    let (_sbc, core_tls, admin) = start_sbc_mtls_listener(&pki, customer.addr());
    let a = TestUa::new();
    let call = |kam_udp: u16, call_id: &str| {
        let mut inv = invite(&a, call_id);
        inv.set_uri(format!("sip:+15551234@127.0.0.1:{kam_udp}"));
        a.send(addr(kam_udp), &inv);
    };

    // A certificate from a CA the SBC does not trust (same subject names, another key): refused
    // at the handshake (bad signature), counted.
    let (bad_cert, bad_key) = other.issue("kam-client.test");
    let bad_udp = free_udp_port();
    let (kam_bad, log_bad) =
        start_kamailio_client(&other_dir, &pki, (&bad_cert, &bad_key), bad_udp, core_tls);
    call(bad_udp, "kam-dials-1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while failures(admin) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "not refused: {}",
            std::fs::read_to_string(&log_bad).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        customer.recv(Duration::from_millis(500)).is_none(),
        "the untrusted trunk's INVITE got through"
    );
    drop(kam_bad);

    // The trusted trunk: its INVITE reaches the customer side, whose 486 goes back.
    let good_dir = dir.join("good");
    std::fs::create_dir_all(&good_dir).unwrap();
    let (cert, key) = pki.issue("kam-client.test");
    let good_udp = free_udp_port();
    let (_kam, log) = start_kamailio_client(&good_dir, &pki, (&cert, &key), good_udp, core_tls);
    call(good_udp, "kam-dials-2");
    let (inv, from) = customer
        .recv_until(Duration::from_secs(10), |m| {
            m.method() == Some(&Method::Invite)
        })
        .unwrap_or_else(|| {
            panic!(
                "no INVITE from the trusted trunk: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    let mut busy = Message::response_to(&inv, 486, "Busy Here");
    busy.set_header(
        HeaderName::To,
        format!("{};tag=cust", inv.header(&HeaderName::To).unwrap()),
    );
    customer.send(from, &busy);
    let (rsp, _) = a
        .recv_until(Duration::from_secs(10), |m| is_response(m, 486, "INVITE"))
        .expect("the customer's 486 back through Kamailio");
    assert_eq!(rsp.status(), Some(486));
    assert_eq!(
        failures(admin),
        1.0,
        "the trusted trunk was counted as a failure"
    );
}
