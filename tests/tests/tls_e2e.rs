//! SIP over TLS through the real `sbc` binary on loopback (RFC 3261 §18, §26.2.1; RFC 5922): a
//! phone on a TLS connection to the customer side verifying the SBC's certificate, a TLS trunk
//! on the core side that the SBC verifies under the route's server name, a trunk with the wrong
//! name refused, plaintext on the TLS port dropped and counted, and `openssl s_client` seeing
//! TLS 1.2 and 1.3 and the served chain. Certificates come from a throw-away CA made with the
//! `openssl` command.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::message::{alice_invite, contact_uri, dialog_request, is_request, is_response};
use sbc_tests::tls::{server_config, Pki, TlsPeer};
use sbc_tests::{free_tcp_port, free_udp_port, http_get, metric_value, test_dir, Sbc, TestUa};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Setup {
    sbc: Sbc,
    /// The SBC's certificate file (rewritten by the SIGHUP test).
    cert: std::path::PathBuf,
    admin: SocketAddr,
    pki: Pki,
    /// The customer side's TLS listener.
    customer_tls: SocketAddr,
    /// The core side's TLS listener.
    core_tls: SocketAddr,
    /// The core side's UDP socket.
    core_udp: SocketAddr,
}

/// Both interfaces on UDP and TLS (the SBC's certificate for `sbc.test`), a TLS route to
/// `trunk` whose certificate must name `trunk_name`.
fn start(test: &str, trunk: SocketAddr, trunk_name: &str) -> Setup {
    let dir = test_dir(test);
    start_with(Pki::new(&dir), trunk, trunk_name, ("", "", ""))
}

/// [`start`] with lines added to the core interface's `[interface.tls]` and the route's
/// `[route.tls]` (client CA, client certificate), and `extra` tables (realms, users).
fn start_with(
    pki: Pki,
    trunk: SocketAddr,
    trunk_name: &str,
    (core_tls_lines, route_tls_lines, extra): (&str, &str, &str),
) -> Setup {
    let (cert, key) = pki.issue("sbc.test");
    let (customer, core) = (free_udp_port(), free_udp_port());
    let (customer_tls, core_tls) = (free_tcp_port(), free_tcp_port());
    let mut c = SbcConfig::with(
        Iface::udp(addr(customer), 46000..=46999).and("tls", addr(customer_tls)),
        Iface::udp(addr(core), 47000..=47999).and("tls", addr(core_tls)),
    )
    .route(
        "customer-to-core",
        trunk,
        &format!(
            "transport = \"tls\"\n[route.tls]\nserver_name = \"{trunk_name}\"\nca = \"{}\"\n{route_tls_lines}",
            pki.ca.display()
        ),
    );
    c.admin = addr(free_tcp_port());
    extra.clone_into(&mut c.extra);
    let tls = format!(
        "[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    // Each interface's [interface.tls] goes right after its table.
    let text = c
        .render()
        .replace(
            "rtp_port_max = 46999\n",
            &format!("rtp_port_max = 46999\n{tls}"),
        )
        .replace(
            "rtp_port_max = 47999\n",
            &format!("rtp_port_max = 47999\n{tls}{core_tls_lines}"),
        );
    let sbc = Sbc::start_ready(&text);
    Setup {
        sbc,
        cert,
        admin: c.admin,
        pki,
        customer_tls: addr(customer_tls),
        core_tls: addr(core_tls),
        core_udp: addr(core),
    }
}

fn metric(admin: SocketAddr, series: &str) -> f64 {
    let rsp = http_get(admin, "/metrics", None).expect("GET /metrics");
    metric_value(&rsp.body, series).unwrap_or(0.0)
}

/// An INVITE from a TLS phone at `local` with an SDP offer for `media`.
fn invite(local: SocketAddr, media: &TestUa, call_id: &str) -> Message {
    alice_invite("TLS", local, call_id, "tls-a", Some(media.sdp("alice")))
}

#[test]
fn a_tls_phone_calls_a_tls_trunk_that_the_sbc_verifies_by_name() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let trunk_addr = listener.local_addr().unwrap();
    let s = start("sbc-tls-call", trunk_addr, "trunk.test");
    let (trunk_cert, trunk_key) = s.pki.issue("trunk.test");
    let media_a = TestUa::new();
    let media_b = TestUa::new();

    let mut phone = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client())
        .expect("the phone's handshake with the SBC");
    let local = phone.local();
    let inv = invite(local, &media_a, "tls-call-1");
    phone.send(&inv);

    let mut trunk = TlsPeer::accept(&listener, server_config(&trunk_cert, &trunk_key), WAIT)
        .expect("the SBC's TLS connection to the trunk");
    let b_inv = trunk
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at the trunk");
    let via = b_inv.via().unwrap();
    assert_eq!(
        via.transport, "TLS",
        "RFC 3261 §26.2.1: the SBC's Via says TLS"
    );
    // RFC 5630: a SIP (not SIPS) dialog over TLS gets `sip:...;transport=tls`.
    let contact = contact_uri(&b_inv);
    assert!(
        contact.starts_with("sip:127.0.0.1:") && contact.ends_with(";transport=tls"),
        "a Contact reachable over TLS: {contact}"
    );
    let mut ok = Message::response_to(&b_inv, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!("{};tag=tls-b", b_inv.header(&HeaderName::To).unwrap()),
    );
    ok.push_header(
        HeaderName::Contact,
        format!("<sip:bob@{trunk_addr};transport=tls>"),
    );
    ok.set_body(Bytes::from(media_b.sdp("bob")), Some("application/sdp"));
    trunk.send(&ok);

    let a_ok = phone
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at the phone over TLS");
    assert_eq!(
        contact_uri(&a_ok),
        format!("sip:{};transport=tls", s.customer_tls),
        "RFC 5630 §4.1: the answer to a sip: request over TLS"
    );
    let a_via = |br: &str| format!("SIP/2.0/TLS {local};branch=z9hG4bK-{br};rport");
    let in_dialog = |m: Method, seq, br: &str| {
        dialog_request(m, contact_uri(&a_ok), seq, a_via(br), &inv, &a_ok)
    };
    phone.send(&in_dialog(Method::Ack, 1, "tls-ack"));
    trunk
        .recv_until(WAIT, |m| is_request(m, &Method::Ack))
        .expect("ACK on the trunk's connection");
    phone.send(&in_dialog(Method::Bye, 2, "tls-bye"));
    let bye = trunk
        .recv_until(WAIT, |m| is_request(m, &Method::Bye))
        .expect("BYE on the same TLS connection");
    trunk.send(&Message::response_to(&bye, 200, "OK"));
    phone
        .recv_until(WAIT, |m| is_response(m, 200, "BYE"))
        .expect("200 to BYE at the phone");
    // A SIPS request forms a SIPS dialog: the SBC's Contact in its answer is a SIPS URI
    // (RFC 3261 §12.1.1, RFC 5630 §4.1).
    let mut sips = invite(local, &media_a, "tls-call-2");
    let uri = sips.uri().unwrap().replacen("sip:", "sips:", 1);
    sips.set_uri(uri);
    phone.send(&sips);
    let b_inv = trunk
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("the SIPS INVITE at the trunk");
    let tagged = |code, reason| {
        let mut r = Message::response_to(&b_inv, code, reason);
        r.set_header(
            HeaderName::To,
            format!("{};tag=tls-b2", b_inv.header(&HeaderName::To).unwrap()),
        );
        r
    };
    let mut ringing = tagged(180, "Ringing");
    ringing.push_header(HeaderName::Contact, format!("<sips:bob@{trunk_addr}>"));
    trunk.send(&ringing);
    let a_ringing = phone
        .recv_until(WAIT, |m| is_response(m, 180, "INVITE"))
        .expect("180 at the phone");
    assert_eq!(contact_uri(&a_ringing), format!("sips:{}", s.customer_tls));
    trunk.send(&tagged(486, "Busy Here"));
    let busy = phone
        .recv_until(WAIT, |m| is_response(m, 486, "INVITE"))
        .expect("486 at the phone");
    let mut ack = dialog_request(
        Method::Ack,
        sips.uri().unwrap().to_owned(),
        1,
        a_via("tls-ack2"),
        &sips,
        &busy,
    );
    ack.set_header(
        HeaderName::Via,
        sips.header(&HeaderName::Via).unwrap().to_owned(),
    );
    phone.send(&ack);
    // One connection each way, both counted; nothing failed.
    assert!(
        TlsPeer::accept(
            &listener,
            server_config(&trunk_cert, &trunk_key),
            Duration::from_millis(300)
        )
        .is_err(),
        "the SBC opened a second connection to the trunk"
    );
    assert_eq!(
        metric(s.admin, "sbc_tls_connections_total{listener=\"outbound\"}"),
        1.0
    );
    let accepted = format!(
        "sbc_tls_connections_total{{listener=\"{}\"}}",
        s.customer_tls
    );
    assert_eq!(metric(s.admin, &accepted), 1.0);
    drop(s.sbc);
}

#[test]
fn a_trunk_whose_certificate_names_another_host_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let trunk_addr = listener.local_addr().unwrap();
    // The route expects "trunk.test"; the trunk presents "impostor.test", signed by the same CA.
    let mut s = start("sbc-tls-name", trunk_addr, "trunk.test");
    let (cert, key) = s.pki.issue("impostor.test");
    let media_a = TestUa::new();
    let mut phone = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("phone");
    phone.send(&invite(phone.local(), &media_a, "tls-call-2"));
    // The trunk side accepts TCP and offers its certificate; the SBC must refuse it.
    let refused = TlsPeer::accept(&listener, server_config(&cert, &key), WAIT);
    assert!(
        refused.is_err(),
        "the SBC accepted a certificate for the wrong name"
    );
    let failure = phone
        .recv_until(Duration::from_secs(10), |m| {
            m.status().is_some_and(|c| c >= 300) && m.cseq().is_some_and(|c| c.method == "INVITE")
        })
        .expect("a failure for the call at the phone");
    assert!(
        matches!(failure.status(), Some(408 | 500 | 503)),
        "{failure:?}"
    );
    assert!(s.sbc.wait_log("tls handshake failed", WAIT));
    assert!(
        metric(
            s.admin,
            "sbc_tls_handshake_failures_total{reason=\"certificate_name\"}"
        ) >= 1.0
    );
}

#[test]
fn plaintext_on_the_tls_port_is_dropped_and_counted_and_tls_still_works() {
    let s = start("sbc-tls-plain", addr(free_tcp_port()), "trunk.test");
    let mut tcp = TcpStream::connect(s.customer_tls).unwrap();
    tcp.write_all(b"OPTIONS sip:sbc.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKplain\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:sbc.test>\r\nCall-ID: plain\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 512];
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).contains("SIP/2.0"),
        "plaintext SIP answered on the TLS port"
    );
    let deadline = std::time::Instant::now() + WAIT;
    while metric(
        s.admin,
        "sbc_tls_handshake_failures_total{reason=\"not_tls\"}",
    ) < 1.0
    {
        assert!(std::time::Instant::now() < deadline, "not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The listener still serves TLS.
    let mut phone = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("phone");
    let mut opt = Message::request(Method::Options, "sip:sbc.test");
    opt.push_header(
        HeaderName::Via,
        format!("SIP/2.0/TLS {};branch=z9hG4bKtlsopt;rport", phone.local()),
    );
    opt.push_header(HeaderName::MaxForwards, "70");
    opt.push_header(HeaderName::From, "<sip:a@example.com>;tag=2");
    opt.push_header(HeaderName::To, "<sip:sbc.test>");
    opt.push_header(HeaderName::CallId, "tls-options");
    opt.push_header(HeaderName::CSeq, "1 OPTIONS");
    opt.set_body(Bytes::new(), None);
    phone.send(&opt);
    let ok = phone
        .recv_until(WAIT, |m| is_response(m, 200, "OPTIONS"))
        .expect("200 to OPTIONS over TLS");
    assert_eq!(ok.call_id(), Some("tls-options"));
}

/// `openssl s_client` against the TLS listener: `version` is `-tls1_2` or `-tls1_3`.
fn s_client(to: SocketAddr, ca: &Path, version: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &to.to_string(),
            "-servername",
            "sbc.test",
        ])
        .args([
            "-CAfile",
            &ca.display().to_string(),
            "-verify_return_error",
            "-showcerts",
            version,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn openssl_sees_tls_1_2_and_1_3_and_the_served_chain() {
    let s = start("sbc-tls-openssl", addr(free_tcp_port()), "trunk.test");
    for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(s.customer_tls, &s.pki.ca, flag);
        assert!(out.contains("Verify return code: 0 (ok)"), "{flag}: {out}");
        assert!(out.contains(name), "{flag}: {out}");
        assert!(
            out.contains("CN = sbc.test") || out.contains("CN=sbc.test"),
            "{out}"
        );
    }
    // The certificates' remaining lifetime is exported (the test CA issues for one day).
    let deadline = std::time::Instant::now() + WAIT;
    for iface in ["customer", "core"] {
        let series =
            format!("sbc_tls_certificate_expiry_seconds{{certificate=\"interface.{iface}\"}}");
        let left = loop {
            let v = metric(s.admin, &series);
            if v != 0.0 || std::time::Instant::now() > deadline {
                break v;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!((80_000.0..=86_400.0).contains(&left), "{series} = {left}");
    }
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &s.customer_tls.to_string(),
            "-tls1_1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no peer certificate available"),
        "TLS 1.1 accepted: {text}"
    );
}

/// An OPTIONS over `phone`'s TLS connection, answered 200 by the SBC.
fn options_ok(phone: &mut TlsPeer<rustls::ClientConnection>, call_id: &str) -> bool {
    let mut opt = Message::request(Method::Options, "sip:sbc.test");
    opt.push_header(
        HeaderName::Via,
        format!(
            "SIP/2.0/TLS {};branch=z9hG4bK{call_id};rport",
            phone.local()
        ),
    );
    opt.push_header(HeaderName::MaxForwards, "70");
    opt.push_header(HeaderName::From, "<sip:a@example.com>;tag=o");
    opt.push_header(HeaderName::To, "<sip:sbc.test>");
    opt.push_header(HeaderName::CallId, call_id);
    opt.push_header(HeaderName::CSeq, "1 OPTIONS");
    opt.set_body(Bytes::new(), None);
    phone.send(&opt);
    phone
        .recv_until(WAIT, |m| is_response(m, 200, "OPTIONS"))
        .is_some_and(|m| m.call_id() == Some(call_id))
}

/// The DER of the first certificate in a PEM file.
fn leaf_of(pem: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn sighup_swaps_the_certificate_for_new_connections_and_old_ones_go_on() {
    let s = start("sbc-tls-hup", addr(free_tcp_port()), "trunk.test");
    let mut old = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("old");
    let first = leaf_of(&s.cert);
    assert_eq!(old.peer_leaf().as_deref(), Some(first.as_slice()));
    // A new key and certificate in the same files, then SIGHUP.
    s.pki.issue("sbc.test");
    let second = leaf_of(&s.cert);
    assert_ne!(first, second);
    let ok = std::process::Command::new("kill")
        .args(["-s", "HUP", &s.sbc.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = std::time::Instant::now() + WAIT;
    let fresh = loop {
        let p = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("new");
        if p.peer_leaf().as_deref() == Some(second.as_slice()) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still the old certificate"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(fresh);
    // The connection made before the reload still works, on its old certificate.
    assert!(options_ok(&mut old, "tls-hup-old"));
    assert_eq!(old.peer_leaf().as_deref(), Some(first.as_slice()));
}

/// Mutual TLS both ways: the core listener requires trunks to present a certificate from the
/// CA (none, or one from another CA, is refused and counted); the route presents the SBC's own
/// client certificate to a trunk that requires one.
#[test]
fn mutual_tls_refuses_trunks_without_a_trusted_certificate_and_presents_one_to_the_trunk() {
    let dir = test_dir("sbc-mtls");
    let pki = Pki::new(&dir);
    let (client_cert, client_key) = pki.issue("sbc-client.test");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let trunk_addr = listener.local_addr().unwrap();
    let core_tls = format!("client_ca = \"{}\"\n", pki.ca.display());
    let route_tls = format!(
        "certificate = \"{}\"\nprivate_key = \"{}\"\n",
        client_cert.display(),
        client_key.display()
    );
    let s = start_with(pki, trunk_addr, "trunk.test", (&core_tls, &route_tls, ""));
    // A trunk with no certificate: refused (TLS 1.3 reports it on the first read, so the test
    // tries one request).
    let served = TlsPeer::connect(s.core_tls, "sbc.test", s.pki.client())
        .map(|mut p| options_ok(&mut p, "mtls-none"))
        .unwrap_or(false);
    assert!(!served, "a trunk without a certificate was served");
    // One signed by another CA: refused too.
    let other = Pki::new(&test_dir("sbc-mtls-other"));
    let (rogue, rogue_key) = other.issue("rogue.test");
    let served = TlsPeer::connect(
        s.core_tls,
        "sbc.test",
        other_client(&s.pki, &rogue, &rogue_key),
    )
    .map(|mut p| options_ok(&mut p, "mtls-rogue"))
    .unwrap_or(false);
    assert!(!served, "a trunk with an untrusted certificate was served");
    // A trunk with a certificate from the CA is served.
    let (trunk_cert, trunk_key) = s.pki.issue("trunk.test");
    let mut good = TlsPeer::connect(
        s.core_tls,
        "sbc.test",
        s.pki.client_with(&trunk_cert, &trunk_key),
    )
    .expect("a trusted trunk's handshake");
    assert!(options_ok(&mut good, "mtls-good"));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let failures = [
            "no_client_certificate",
            "unknown_issuer",
            "bad_certificate",
            "alert",
        ]
        .iter()
        .map(|r| {
            metric(
                s.admin,
                &format!("sbc_tls_handshake_failures_total{{reason=\"{r}\"}}"),
            )
        })
        .sum::<f64>();
        if failures >= 2.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "refusals not counted: {failures}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Outbound: the trunk requires a client certificate; the SBC presents its own.
    let media = TestUa::new();
    let mut phone = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("phone");
    phone.send(&invite(phone.local(), &media, "mtls-call"));
    let mut trunk = TlsPeer::accept(
        &listener,
        s.pki.server_requiring_clients(&trunk_cert, &trunk_key),
        WAIT,
    )
    .expect("the SBC's handshake with a trunk requiring its certificate");
    assert_eq!(trunk.peer_leaf(), Some(leaf_of(&client_cert)));
    trunk
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE at the trunk");
}

/// A client configuration trusting `pki`'s CA and presenting `cert` (from some other CA).
fn other_client(pki: &Pki, cert: &Path, key: &Path) -> std::sync::Arc<rustls::ClientConfig> {
    pki.client_with(cert, key)
}

/// A customer registered over TLS gets the core's call on that TLS connection, with the
/// registered Contact as Request-URI and a TLS Via (RFC 5626 §5.3).
#[test]
fn a_customer_registered_over_tls_is_called_on_its_tls_connection() {
    let core_ua = TestUa::new();
    let dir = test_dir("sbc-tls-reg");
    let realm = "[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n\
                 [[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n";
    let s = start_with(
        Pki::new(&dir),
        core_ua.addr(),
        "trunk.test",
        ("", "", realm),
    );
    let mut phone = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("phone");
    let register = |seq: u32, auth: Option<String>| {
        let mut m = Message::request(Method::Register, "sip:example.com");
        m.push_header(
            HeaderName::Via,
            format!("SIP/2.0/TLS 10.0.0.9:5061;branch=z9hG4bKtlsreg{seq};rport"),
        );
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=treg");
        m.push_header(HeaderName::To, "<sip:alice@example.com>");
        m.push_header(HeaderName::CallId, "tls-reg");
        m.push_header(HeaderName::CSeq, format!("{seq} REGISTER"));
        m.push_header(
            HeaderName::Contact,
            "<sip:alice@10.0.0.9:5061;transport=tls>",
        );
        m.push_header(HeaderName::Expires, "300");
        if let Some(a) = auth {
            m.push_header(HeaderName::Authorization, a);
        }
        m.set_body(Bytes::new(), None);
        m
    };
    phone.send(&register(1, None));
    let challenge = phone
        .recv_until(WAIT, |m| is_response(m, 401, "REGISTER"))
        .expect("401 over TLS");
    let auth = sbc_tests::digest_authorization(
        &challenge,
        &HeaderName::WwwAuthenticate,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
    );
    phone.send(&register(2, auth));
    phone
        .recv_until(WAIT, |m| is_response(m, 200, "REGISTER"))
        .expect("200 to the REGISTER over TLS");
    // The core calls alice: the INVITE comes down the phone's TLS connection.
    let mut inv = Message::request(Method::Invite, "sip:alice@example.com");
    inv.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKtlscore;rport", core_ua.addr()),
    );
    inv.push_header(HeaderName::MaxForwards, "70");
    inv.push_header(HeaderName::From, "<sip:carol@core.example>;tag=core");
    inv.push_header(HeaderName::To, "<sip:alice@example.com>");
    inv.push_header(HeaderName::CallId, "tls-core-call");
    inv.push_header(HeaderName::CSeq, "1 INVITE");
    inv.push_header(
        HeaderName::Contact,
        format!("<sip:carol@{}>", core_ua.addr()),
    );
    inv.set_body(Bytes::from(core_ua.sdp("carol")), Some("application/sdp"));
    core_ua.send(s.core_udp, &inv);
    let at_phone = phone
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("the core's INVITE on the customer's TLS connection");
    assert_eq!(
        at_phone.uri(),
        Some("sip:alice@10.0.0.9:5061;transport=tls")
    );
    let via = at_phone.via().unwrap();
    assert_eq!(via.transport, "TLS");
}

/// A route may trust a trunk by the name in its verified client certificate instead of by its
/// address: an INVITE from the trunk whose certificate names `trunk.test` takes that route; one
/// from a peer with another certificate from the same CA matches no route (404).
#[test]
fn a_route_trusts_a_trunk_by_its_certificate_name() {
    let dir = test_dir("sbc-tls-identity");
    let pki = Pki::new(&dir);
    let ua = TestUa::new();
    let core_tls = format!("client_ca = \"{}\"\n", pki.ca.display());
    let extra = format!(
        "[[route]]\nname = \"trunk-in\"\nfrom_interface = \"core\"\nfrom_certificates = [\"trunk.test\"]\nnext_hop = \"{}\"\nto_interface = \"customer\"\n",
        ua.addr()
    );
    let s = start_with(
        pki,
        addr(free_tcp_port()),
        "trunk.test",
        (&core_tls, "", &extra),
    );
    let media = TestUa::new();
    for (name, call_id, routed) in [("trunk.test", "id-1", true), ("other.test", "id-2", false)] {
        let (cert, key) = s.pki.issue(name);
        let mut trunk = TlsPeer::connect(s.core_tls, "sbc.test", s.pki.client_with(&cert, &key))
            .expect("a trusted CA's certificate is accepted");
        trunk.send(&invite(trunk.local(), &media, call_id));
        if routed {
            let (at_ua, from) = ua
                .recv_until(WAIT, |m| is_request(m, &Method::Invite))
                .expect("the trunk's INVITE routed by its certificate");
            assert!(at_ua.uri().unwrap().starts_with("sip:bob@"), "{at_ua:?}");
            let mut busy = Message::response_to(&at_ua, 486, "Busy Here");
            busy.set_header(
                HeaderName::To,
                format!("{};tag=ua", at_ua.header(&HeaderName::To).unwrap()),
            );
            ua.send(from, &busy);
            trunk
                .recv_until(WAIT, |m| is_response(m, 486, "INVITE"))
                .expect("the 486 back on the trunk's connection");
        } else {
            let rsp = trunk
                .recv_until(WAIT, |m| m.status().is_some_and(|c| c >= 300))
                .expect("a refusal");
            assert_eq!(rsp.status(), Some(404), "{rsp:?}");
            let leaked = ua.recv_until(Duration::from_millis(300), |m| {
                is_request(m, &Method::Invite)
            });
            assert!(leaked.is_none(), "routed anyway: {leaked:?}");
        }
    }
}

/// A REGISTER for alice from a TLS phone at 10.0.0.9 (behind NAT).
fn tls_register(seq: u32) -> Message {
    let mut m = Message::request(Method::Register, "sip:example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/TLS 10.0.0.9:5061;branch=z9hG4bKfwdreg{seq};rport"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=freg");
    m.push_header(HeaderName::To, "<sip:alice@example.com>");
    m.push_header(HeaderName::CallId, format!("tls-fwd-reg-{seq}"));
    m.push_header(HeaderName::CSeq, format!("{seq} REGISTER"));
    m.push_header(
        HeaderName::Contact,
        "<sip:alice@10.0.0.9:5061;transport=tls>",
    );
    m.push_header(HeaderName::Expires, "300");
    m.set_body(Bytes::new(), None);
    m
}

#[test]
fn a_forward_mode_realm_reaches_its_registrar_over_tls_verified_by_name() {
    let registrar = TcpListener::bind("127.0.0.1:0").unwrap();
    let registrar_addr = registrar.local_addr().unwrap();
    let dir = test_dir("sbc-tls-registrar");
    let pki = Pki::new(&dir);
    let realm = format!(
        "[[realm]]\ndomain = \"example.com\"\nmode = \"forward\"\nauth_required = false\n\
         registrar = \"{registrar_addr}\"\nregistrar_interface = \"core\"\nregistrar_transport = \"tls\"\n\
         [realm.tls]\nserver_name = \"registrar.test\"\nca = \"{}\"\n",
        pki.ca.display()
    );
    let unused_trunk = addr(free_udp_port());
    let s = start_with(pki, unused_trunk, "trunk.test", ("", "", &realm));
    let (good_cert, good_key) = s.pki.issue("registrar.test");
    let (bad_cert, bad_key) = s.pki.issue("impostor.test");

    // A registrar whose certificate names someone else: refused at the handshake, counted.
    let mut phone = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("phone");
    phone.send(&tls_register(1));
    let refused = TlsPeer::accept(&registrar, server_config(&bad_cert, &bad_key), WAIT);
    assert!(
        refused.is_err(),
        "the SBC completed a handshake with the impostor"
    );
    let failures = "sbc_tls_handshake_failures_total{reason=\"certificate_name\"}";
    let deadline = std::time::Instant::now() + WAIT;
    while metric(s.admin, failures) < 1.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(metric(s.admin, failures), 1.0);
    let failed = phone
        .recv_until(WAIT, |m| {
            m.status().is_some_and(|c| c >= 300) && m.cseq().is_some_and(|c| c.method == "REGISTER")
        })
        .expect("the REGISTER fails at once");
    assert!(failed.status().unwrap() >= 500, "{failed:?}");

    // The real registrar: the REGISTER arrives over TLS from the core side, and its 200 comes back.
    phone.send(&tls_register(2));
    let mut reg = TlsPeer::accept(&registrar, server_config(&good_cert, &good_key), WAIT)
        .expect("the SBC's TLS connection to the registrar");
    let fwd = reg
        .recv_until(WAIT, |m| is_request(m, &Method::Register))
        .expect("REGISTER at the registrar");
    assert_eq!(fwd.via().unwrap().transport, "TLS");
    let binding = contact_uri(&fwd);
    assert!(
        !binding.contains("10.0.0.9"),
        "the phone's address leaked: {binding}"
    );
    let mut ok = Message::response_to(&fwd, 200, "OK");
    ok.set_header(
        HeaderName::To,
        format!("{};tag=reg-core", fwd.header(&HeaderName::To).unwrap()),
    );
    ok.push_header(HeaderName::Contact, format!("<{binding}>;expires=3600"));
    reg.send(&ok);
    phone
        .recv_until(WAIT, |m| is_response(m, 200, "REGISTER"))
        .expect("200 to the phone's REGISTER");
    assert_eq!(
        metric(s.admin, "sbc_tls_connections_total{listener=\"outbound\"}"),
        1.0
    );
}

#[test]
fn a_truncated_handshake_is_counted_and_the_listener_goes_on() {
    let s = start("sbc-tls-truncated", addr(free_tcp_port()), "trunk.test");
    // A real ClientHello, cut in half, then the connection closed.
    let name = rustls::pki_types::ServerName::try_from("sbc.test").unwrap();
    let mut client = rustls::ClientConnection::new(s.pki.client(), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    assert!(hello.len() > 100, "a ClientHello: {} bytes", hello.len());
    let mut tcp = TcpStream::connect(s.customer_tls).unwrap();
    tcp.write_all(&hello[..hello.len() / 2]).unwrap();
    drop(tcp);
    let eof = "sbc_tls_handshake_failures_total{reason=\"eof\"}";
    let deadline = std::time::Instant::now() + WAIT;
    while metric(s.admin, eof) < 1.0 {
        assert!(std::time::Instant::now() < deadline, "not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The next phone is served.
    let mut phone = TlsPeer::connect(s.customer_tls, "sbc.test", s.pki.client()).expect("phone");
    assert!(options_ok(&mut phone, "after-truncated"));
}

#[test]
fn a_tls_listener_on_ipv6_serves_phones_over_ipv6() {
    let dir = test_dir("sbc-tls-ipv6");
    let pki = Pki::new(&dir);
    let (cert, key) = pki.issue("sbc.test");
    let v6 = |port: u16| SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let tls_port = free_tcp_port();
    let mut c = SbcConfig::with(
        Iface::udp(v6(free_udp_port()), 46000..=46999).and("tls", v6(tls_port)),
        Iface::udp(v6(free_udp_port()), 47000..=47999),
    )
    .route("customer-to-core", v6(free_udp_port()), "");
    c.admin = addr(free_tcp_port());
    let tls = format!(
        "[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let text = c.render().replace(
        "rtp_port_max = 46999\n",
        &format!("rtp_port_max = 46999\n{tls}"),
    );
    let _sbc = Sbc::start_ready(&text);
    let mut phone = TlsPeer::connect(v6(tls_port), "sbc.test", pki.client())
        .expect("a TLS handshake over IPv6");
    assert!(phone.local().is_ipv6());
    assert!(options_ok(&mut phone, "tls-v6-options"));
    let accepted = format!("sbc_tls_connections_total{{listener=\"{}\"}}", v6(tls_port));
    assert_eq!(metric(c.admin, &accepted), 1.0);
}
