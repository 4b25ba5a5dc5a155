//! SIP over WebSocket (RFC 7118) against the real `sbc`: the upgrade rules (the `sip`
//! subprotocol, the Origin allow-list: HTTP 400/403 otherwise, counted), a browser-style client
//! registering with RFC 5626 outbound over `ws`, getting the core's call on its WebSocket,
//! calling out through it, and losing its binding when the WebSocket closes.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::message::{contact_uri, is_request, is_response, tagged_response};
use sbc_tests::websocket::WsPeer;
use sbc_tests::{free_udp_port, http_get, metric_value, sdp_audio_addr, Sbc, TestUa};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
const ORIGIN: &str = "https://phone.example.com";
const REALM: &str = "\n[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n[[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The customer side on UDP and `ws` at the same port (origins: [`ORIGIN`]), the core on UDP
/// with a route to `core_ua`, and alice's realm.
fn start(customer: u16, core: u16, core_ua: SocketAddr) -> (Sbc, SbcConfig) {
    let customer_if = Iface::udp(addr(customer), 44000..=44099).and("ws", addr(customer));
    let mut c = SbcConfig::with(customer_if, Iface::udp(addr(core), 44100..=44199)).route(
        "customer-to-core",
        core_ua,
        "",
    );
    c.extra = REALM.to_owned();
    let text = c.render().replacen(
        "rtp_port_max = 44099\n",
        &format!("rtp_port_max = 44099\nwebsocket_origins = [\"{ORIGIN}\"]\n"),
        1,
    );
    (Sbc::start_ready(&text), c)
}

/// A REGISTER as JsSIP sends it: an `.invalid` host in Via and Contact, RFC 5626 outbound.
fn register(seq: u32, authorization: Option<String>, transport: &str) -> Message {
    let mut m = Message::request(Method::Register, "sip:example.com");
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/{transport} 3t5f8gd7k2ld.invalid;branch=z9hG4bKwsreg{seq}"),
    );
    m.push_header(HeaderName::MaxForwards, "69");
    m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=wsreg");
    m.push_header(HeaderName::To, "<sip:alice@example.com>");
    m.push_header(HeaderName::CallId, "ws-register-1");
    m.push_header(HeaderName::CSeq, format!("{seq} REGISTER"));
    m.push_header(
        HeaderName::Contact,
        format!("<sip:r7qvm3ua@3t5f8gd7k2ld.invalid;transport={}>;+sip.instance=\"<urn:uuid:3e2f0a4c-3c5d-4b8e-9d7a-2f1c6b5a4e3d>\";reg-id=1;expires=600", transport.to_ascii_lowercase()),
    );
    m.push_header(HeaderName::Supported, "path,gruu,outbound");
    if let Some(a) = authorization {
        m.push_header(HeaderName::Authorization, a);
    }
    m.set_body(Bytes::new(), None);
    m
}

fn final_register(m: &Message) -> bool {
    m.status().is_some_and(|s| s >= 200) && m.cseq().is_some_and(|c| c.method == "REGISTER")
}

/// Registers alice over `ws` or `wss` (`transport`: `WS`, `WSS`): challenge, then the answer.
fn register_alice(ws: &mut WsPeer, transport: &str) {
    ws.send(&register(1, None, transport));
    let challenge = ws
        .recv_until(WAIT, final_register)
        .expect("an answer on the WebSocket");
    assert_eq!(challenge.status(), Some(401), "{challenge:?}");
    let auth = sbc_tests::digest_authorization(
        &challenge,
        &HeaderName::WwwAuthenticate,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
    )
    .expect("a usable challenge");
    ws.send(&register(2, Some(auth), transport));
    let ok = ws
        .recv_until(WAIT, final_register)
        .expect("200 on the WebSocket");
    assert_eq!(ok.status(), Some(200), "{ok:?}");
}

/// The core calls alice at the SBC's core side.
fn call_alice(core_ua: &TestUa, core: u16, call_id: &str) {
    let mut inv = Message::request(Method::Invite, "sip:alice@example.com");
    inv.push_header(
        HeaderName::Via,
        format!(
            "SIP/2.0/UDP {};branch=z9hG4bK{call_id};rport",
            core_ua.addr()
        ),
    );
    inv.push_header(HeaderName::MaxForwards, "70");
    inv.push_header(HeaderName::From, "<sip:carol@core.example>;tag=tcore");
    inv.push_header(HeaderName::To, "<sip:alice@example.com>");
    inv.push_header(HeaderName::CallId, call_id);
    inv.push_header(HeaderName::CSeq, "1 INVITE");
    inv.push_header(
        HeaderName::Contact,
        format!("<sip:carol@{}>", core_ua.addr()),
    );
    inv.set_body(Bytes::from(core_ua.sdp("carol")), Some("application/sdp"));
    core_ua.send(addr(core), &inv);
}

#[test]
fn upgrades_without_the_sip_subprotocol_or_from_another_origin_are_refused_and_counted() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let (_sbc, cfg) = start(customer, core, core_ua.addr());
    let r = WsPeer::connect(addr(customer), None, Some(ORIGIN))
        .err()
        .expect("refused without a subprotocol");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("sip subprotocol"), "{r:?}");
    let r = WsPeer::connect(addr(customer), Some("sip"), Some("https://evil.example"))
        .err()
        .expect("refused from another origin");
    assert_eq!(r.status, 403, "{r:?}");
    assert!(WsPeer::connect(addr(customer), Some("sip"), Some(ORIGIN)).is_ok());
    let metrics = http_get(cfg.admin, "/metrics", None).expect("/metrics");
    let refused = |reason: &str| {
        metric_value(
            &metrics.body,
            &format!("sbc_websocket_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(refused("the sip subprotocol is required"), Some(1.0));
    assert_eq!(refused("origin not allowed"), Some(1.0));
}

#[test]
fn a_browser_registered_over_websocket_gets_calls_there_and_calls_out_until_it_closes() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let (_sbc, _) = start(customer, core, core_ua.addr());
    let mut ws = WsPeer::connect(addr(customer), Some("sip"), Some(ORIGIN)).expect("upgrade");
    register_alice(&mut ws, "WS");

    // The core's call comes down the WebSocket, to the registered Contact, Via WS.
    call_alice(&core_ua, core, "ws-in-1");
    let inv = ws
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE on the WebSocket");
    assert_eq!(
        inv.uri(),
        Some("sip:r7qvm3ua@3t5f8gd7k2ld.invalid;transport=ws")
    );
    let via = inv.via().expect("Via");
    assert!(via.transport.eq_ignore_ascii_case("WS"), "{inv:?}");
    assert!(contact_uri(&inv).contains("transport=ws"), "{inv:?}");
    let mut ok = tagged_response(&inv, 200, "wsans");
    ok.push_header(
        HeaderName::Contact,
        "<sip:r7qvm3ua@3t5f8gd7k2ld.invalid;transport=ws>",
    );
    ok.set_body(Bytes::from(core_ua.sdp("alice")), Some("application/sdp"));
    ws.send(&ok);
    let (core_ok, _) = core_ua
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at the core");
    assert!(sdp_audio_addr(core_ok.body()).is_some());

    // Alice calls out over the same WebSocket.
    let mut out = Message::request(Method::Invite, "sip:carol@example.com");
    out.push_header(
        HeaderName::Via,
        "SIP/2.0/WS 3t5f8gd7k2ld.invalid;branch=z9hG4bKwsout1",
    );
    out.push_header(HeaderName::MaxForwards, "69");
    out.push_header(HeaderName::From, "<sip:alice@example.com>;tag=wsout");
    out.push_header(HeaderName::To, "<sip:carol@example.com>");
    out.push_header(HeaderName::CallId, "ws-out-1");
    out.push_header(HeaderName::CSeq, "1 INVITE");
    out.push_header(
        HeaderName::Contact,
        "<sip:r7qvm3ua@3t5f8gd7k2ld.invalid;transport=ws;ob>",
    );
    out.set_body(Bytes::from(core_ua.sdp("alice")), Some("application/sdp"));
    ws.send(&out);
    let first = ws.recv(WAIT).expect("an answer on the WebSocket");
    let auth = if first.status() == Some(407) {
        let a = sbc_tests::digest_authorization(
            &first,
            &HeaderName::ProxyAuthenticate,
            "INVITE",
            "sip:carol@example.com",
            "alice",
            "wonderland",
        )
        .expect("a usable challenge");
        Some(a)
    } else {
        None
    };
    if let Some(a) = auth {
        let mut again = out.clone();
        again.set_header(
            HeaderName::Via,
            "SIP/2.0/WS 3t5f8gd7k2ld.invalid;branch=z9hG4bKwsout2",
        );
        again.set_header(HeaderName::CSeq, "2 INVITE");
        again.push_header(HeaderName::ProxyAuthorization, a);
        ws.send(&again);
    }
    let (b_inv, from) = core_ua
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("the browser's INVITE at the core");
    assert!(
        b_inv
            .via()
            .is_some_and(|v| v.transport.eq_ignore_ascii_case("UDP")),
        "{b_inv:?}"
    );
    let mut b_ok = tagged_response(&b_inv, 200, "corans");
    b_ok.push_header(
        HeaderName::Contact,
        format!("<sip:carol@{}>", core_ua.addr()),
    );
    b_ok.set_body(Bytes::from(core_ua.sdp("carol")), Some("application/sdp"));
    core_ua.send(from, &b_ok);
    let a_ok = ws
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 on the WebSocket");
    assert!(contact_uri(&a_ok).contains("transport=ws"), "{a_ok:?}");

    // The tab closes: the binding goes with the WebSocket, so the next call is 480.
    ws.close();
    std::thread::sleep(Duration::from_millis(300));
    call_alice(&core_ua, core, "ws-in-2");
    let (rsp, _) = core_ua
        .recv_until(WAIT, |m| {
            m.status().is_some_and(|s| s >= 200) && m.call_id() == Some("ws-in-2")
        })
        .expect("final answer to the second call");
    assert_eq!(rsp.status(), Some(480), "{rsp:?}");
}

#[test]
fn a_browser_registers_over_wss_with_the_interfaces_certificate() {
    let dir = sbc_tests::test_dir("sbc-wss");
    let pki = sbc_tests::tls::Pki::new(&dir);
    let (cert, key) = pki.issue("sbc.test");
    let (customer, core, wss) = (free_udp_port(), free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let customer_if = Iface::udp(addr(customer), 44200..=44299).and("wss", addr(wss));
    let mut c = SbcConfig::with(customer_if, Iface::udp(addr(core), 44300..=44399)).route(
        "customer-to-core",
        core_ua.addr(),
        "",
    );
    c.extra = REALM.to_owned();
    let text = c.render().replacen(
        "rtp_port_max = 44299\n",
        &format!(
            "rtp_port_max = 44299\n[interface.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        1,
    );
    let _sbc = Sbc::start_ready(&text);
    let mut ws = WsPeer::connect_tls(addr(wss), "sbc.test", pki.client(), Some(ORIGIN))
        .expect("wss upgrade");
    register_alice(&mut ws, "WSS");
    // The core's call comes down the secure WebSocket, Via WSS, Contact transport=wss.
    call_alice(&core_ua, core, "wss-in-1");
    let inv = ws
        .recv_until(WAIT, |m| is_request(m, &Method::Invite))
        .expect("INVITE on the secure WebSocket");
    assert_eq!(
        inv.uri(),
        Some("sip:r7qvm3ua@3t5f8gd7k2ld.invalid;transport=wss")
    );
    assert!(
        inv.via()
            .is_some_and(|v| v.transport.eq_ignore_ascii_case("WSS")),
        "{inv:?}"
    );
    assert!(contact_uri(&inv).contains("transport=wss"), "{inv:?}");
}

/// The JsSIP peer's folder (npm packages installed there by `.ci/deps`).
fn jssip_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    let ok = dir.join("node_modules/jssip").exists()
        && dir.join("node_modules/jssip-node-websocket").exists()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok();
    if !ok {
        let why =
            "node or tests/js/node_modules (jssip, jssip-node-websocket) missing: bash .ci/deps";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED {why}");
    }
    ok.then_some(dir)
}

#[test]
fn jssip_registers_over_websocket_and_exchanges_messages_with_the_core() {
    let Some(js) = jssip_dir() else { return };
    let (customer, core) = (free_udp_port(), free_udp_port());
    let core_ua = TestUa::new();
    let (_sbc, _) = start(customer, core, core_ua.addr());
    let out = std::env::temp_dir().join(format!("jssip-{}-{customer}.log", std::process::id()));
    let mut child = sbc_tests::spawn_logged(
        std::process::Command::new("node")
            .current_dir(&js)
            .arg("jssip_peer.js")
            .arg(format!("ws://127.0.0.1:{customer}"))
            .arg(ORIGIN)
            .arg("sip:alice@example.com")
            .arg("wonderland")
            .arg("sip:carol@example.com"),
        Some(&out),
    );
    let log = || std::fs::read_to_string(&out).unwrap_or_default();
    // JsSIP's MESSAGE reaches the core through the SBC.
    let (msg, from) = core_ua
        .recv_until(Duration::from_secs(10), |m| is_request(m, &Method::Message))
        .unwrap_or_else(|| panic!("no MESSAGE from JsSIP at the core: {}", log()));
    assert_eq!(&msg.body()[..], b"hello from jssip");
    core_ua.send(from, &Message::response_to(&msg, 200, "OK"));
    // The core's MESSAGE reaches JsSIP on its WebSocket.
    let mut m = Message::request(Method::Message, "sip:alice@example.com");
    m.push_header(
        HeaderName::Via,
        format!(
            "SIP/2.0/UDP {};branch=z9hG4bKcoremsg1;rport",
            core_ua.addr()
        ),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:carol@core.example>;tag=cmsg");
    m.push_header(HeaderName::To, "<sip:alice@example.com>");
    m.push_header(HeaderName::CallId, "core-msg-1");
    m.push_header(HeaderName::CSeq, "1 MESSAGE");
    m.set_body(
        Bytes::from_static(b"hello from the core"),
        Some("text/plain"),
    );
    core_ua.send(addr(core), &m);
    let (rsp, _) = core_ua
        .recv_until(WAIT, |r| is_response(r, 200, "MESSAGE"))
        .unwrap_or_else(|| panic!("no 200 from JsSIP: {}", log()));
    assert_eq!(rsp.status(), Some(200));
    let status = child.0.wait().expect("node exits");
    let text = log();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("REGISTERED") && text.contains("SENT"),
        "{text}"
    );
    assert!(text.contains("RECEIVED hello from the core"), "{text}");
}
