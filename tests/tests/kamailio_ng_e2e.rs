//! Kamailio (Debian `kamailio`, whose `rtpengine` module is in the base package) with
//! `rtpengine_manage()` in front of the `sbc-relay` daemon over ng, as operators deploy
//! Kamailio with rtpengine: a call from a UAC through Kamailio to a UAS gets both SDPs pointed
//! at the relay, and RTP flows both ways through it. Needs `kamailio`; without it the test fails
//! when `CI` is set and skips loudly otherwise.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::message::{is_response, tagged_response};
use sbc_tests::{free_udp_port, sdp_audio_addr, spawn_logged, test_dir, ChildGuard, TestUa};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules";
const WAIT: Duration = Duration::from_secs(5);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn kamailio_or_skip() -> bool {
    let ok = Command::new("kamailio").arg("-v").output().is_ok()
        && Path::new(MODULES).join("rtpengine.so").exists();
    if !ok {
        let why = "kamailio or its rtpengine module missing (apt-get install -y kamailio)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED {why}");
    }
    ok
}

/// `sbc-relay`, built next to the test executable by `cargo build --workspace --bins`.
fn relay_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("sbc-relay")
}

/// Stops Kamailio with SIGTERM (its main process then ends its children).
struct Kamailio(ChildGuard);

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0 .0.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if matches!(self.0 .0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn invite(uac: &TestUa, kamailio: SocketAddr) -> Message {
    let mut m = Message::request(Method::Invite, format!("sip:bob@{kamailio}"));
    m.push_header(
        HeaderName::Via,
        format!("SIP/2.0/UDP {};branch=z9hG4bKngk1;rport", uac.addr()),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:alice@example.com>;tag=ngk");
    m.push_header(HeaderName::To, "<sip:bob@example.com>");
    m.push_header(HeaderName::CallId, "kam-ng-1");
    m.push_header(HeaderName::CSeq, "1 INVITE");
    m.push_header(HeaderName::Contact, format!("<sip:alice@{}>", uac.addr()));
    m.set_body(Bytes::from(uac.sdp("alice")), Some("application/sdp"));
    m
}

#[test]
fn kamailio_with_rtpengine_manage_anchors_a_call_on_the_sbc_relay_daemon() {
    if !kamailio_or_skip() {
        return;
    }
    let dir = test_dir("sbc-kamailio-ng");
    let (ng_port, kam_port) = (free_udp_port(), free_udp_port());
    let (uac, uas) = (TestUa::new(), TestUa::new());
    let relay_cfg = dir.join("relay.toml");
    std::fs::write(
        &relay_cfg,
        format!(
            "[ng]\nlisten = \"127.0.0.1:{ng_port}\"\nallow = [\"127.0.0.1\"]\n\n\
             [[interface]]\nname = \"default\"\naddress = \"127.0.0.1\"\nport_min = 49200\nport_max = 49399\n"
        ),
    )
    .unwrap();
    let _relay = spawn_logged(
        Command::new(relay_binary()).arg("--config").arg(&relay_cfg),
        Some(&dir.join("relay.log")),
    );
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(
        &cfg,
        format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:{kam_port}
mpath="{MODULES}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:{ng_port}")
request_route {{
    if (has_totag()) {{
        loose_route();
        if (is_method("ACK|BYE")) {{ rtpengine_manage(); }}
        t_relay();
        exit;
    }}
    if (is_method("INVITE")) {{
        record_route();
        rtpengine_manage("replace-origin replace-session-connection");
        t_on_reply("MANAGE");
        t_relay_to_udp("127.0.0.1", "{uas_port}");
        exit;
    }}
    sl_send_reply("200", "OK");
}}
onreply_route[MANAGE] {{
    if (has_body("application/sdp")) {{ rtpengine_manage("replace-origin replace-session-connection"); }}
}}
"#,
            uas_port = uas.addr().port()
        ),
    )
    .unwrap();
    let log = dir.join("kamailio.log");
    let _kamailio = Kamailio(spawn_logged(
        Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-w"])
            .arg(&dir),
        Some(&log),
    ));
    // Up once Kamailio answers an OPTIONS.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let mut o = Message::request(Method::Options, format!("sip:127.0.0.1:{kam_port}"));
        o.push_header(
            HeaderName::Via,
            format!("SIP/2.0/UDP {};branch=z9hG4bKngprobe;rport", uac.addr()),
        );
        o.push_header(HeaderName::MaxForwards, "70");
        o.push_header(HeaderName::From, "<sip:probe@example.com>;tag=p");
        o.push_header(HeaderName::To, "<sip:probe@example.com>");
        o.push_header(HeaderName::CallId, "kam-ng-probe");
        o.push_header(HeaderName::CSeq, "1 OPTIONS");
        o.set_body(Bytes::new(), None);
        uac.send(addr(kam_port), &o);
        if uac.recv(Duration::from_millis(200)).is_some() {
            break;
        }
        assert!(
            Instant::now() < end,
            "kamailio did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    uac.send(addr(kam_port), &invite(&uac, addr(kam_port)));
    let (b_inv, from) = uas
        .recv_until(WAIT, |m| m.method() == Some(&Method::Invite))
        .unwrap_or_else(|| {
            panic!(
                "no INVITE at the UAS: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    let relay_for_uas = sdp_audio_addr(b_inv.body()).expect("SDP in the INVITE");
    assert!(
        (49200..=49399).contains(&relay_for_uas.port()),
        "the offer does not point at the relay: {relay_for_uas}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let mut ok = tagged_response(&b_inv, 200, "uas");
    ok.push_header(HeaderName::Contact, format!("<sip:bob@{}>", uas.addr()));
    ok.set_body(Bytes::from(uas.sdp("bob")), Some("application/sdp"));
    uas.send(from, &ok);
    let (a_ok, _) = uac
        .recv_until(WAIT, |m| is_response(m, 200, "INVITE"))
        .expect("200 at the UAC");
    let relay_for_uac = sdp_audio_addr(a_ok.body()).expect("SDP in the 200");
    assert!(
        (49200..=49399).contains(&relay_for_uac.port()),
        "{relay_for_uac}"
    );
    // RTP both ways through the daemon.
    uac.send_rtp(relay_for_uac, 0xa, 20);
    let (n, from_relay) = uas.count_rtp(0xa, 20, WAIT);
    assert!(n >= 18, "the UAS got {n} of 20");
    assert_eq!(from_relay, Some(relay_for_uas));
    uas.send_rtp(relay_for_uas, 0xb, 20);
    let (n, _) = uac.count_rtp(0xb, 20, WAIT);
    assert!(n >= 18, "the UAC got {n} of 20");
}
