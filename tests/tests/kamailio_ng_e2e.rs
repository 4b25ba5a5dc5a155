//! Kamailio (Debian `kamailio`, whose `rtpengine` module is in the base package) with
//! `rtpengine_manage()` in front of the `sbc-relay` daemon over ng, as operators deploy
//! Kamailio with rtpengine: a call from a UAC through Kamailio to a UAS gets both SDPs pointed
//! at the relay, and RTP flows both ways through it. Needs `kamailio`; without it the test fails
//! when `CI` is set and skips loudly otherwise.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::kamailio::{Kamailio, MODULES};
use sbc_tests::message::{is_response, tagged_response};
use sbc_tests::{
    cut_pcap, free_media_ports, free_tcp_port, free_udp_port, http_get, last_stats, metric_value,
    sdp_audio_addr, sipp_in, spawn_logged, stat, test_dir, ChildGuard, TestUa,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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

/// The relay daemon (ng, with `/metrics`) and Kamailio in front of it, routing INVITEs to
/// `uas` with `rtpengine_manage()` on offers, answers, ACK and BYE.
struct Stack {
    kam_port: u16,
    metrics: SocketAddr,
    log: PathBuf,
    _kamailio: Kamailio,
    _relay: ChildGuard,
}

impl Stack {
    /// `ports`: the daemon's media port range (each test its own: they run in parallel).
    fn start(dir: &Path, uas: SocketAddr, ports: (u16, u16)) -> Self {
        let (ng_port, kam_port) = (free_udp_port(), free_udp_port());
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
        let relay_cfg = dir.join("relay.toml");
        std::fs::write(
            &relay_cfg,
            format!(
                "[ng]\nlisten = \"127.0.0.1:{ng_port}\"\nallow = [\"127.0.0.1\"]\n\n\
                 [metrics]\nlisten = \"{metrics}\"\n\n\
                 [[interface]]\nname = \"default\"\naddress = \"127.0.0.1\"\nport_min = {}\nport_max = {}\n",
                ports.0, ports.1
            ),
        )
        .unwrap();
        let relay = spawn_logged(
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
        t_relay_to_udp("{uas_ip}", "{uas_port}");
        exit;
    }}
    sl_send_reply("200", "OK");
}}
onreply_route[MANAGE] {{
    if (has_body("application/sdp")) {{ rtpengine_manage("replace-origin replace-session-connection"); }}
}}
"#,
                uas_ip = uas.ip(),
                uas_port = uas.port()
            ),
        )
        .unwrap();
        let log = dir.join("kamailio.log");
        let kamailio = Kamailio::start(&cfg, dir, &log);
        kamailio.wait_options(addr(kam_port));
        Self {
            kam_port,
            metrics,
            log,
            _kamailio: kamailio,
            _relay: relay,
        }
    }
}

#[test]
fn kamailio_with_rtpengine_manage_anchors_a_call_on_the_sbc_relay_daemon() {
    if !kamailio_or_skip() {
        return;
    }
    let dir = test_dir("sbc-kamailio-ng");
    let (uac, uas) = (TestUa::new(), TestUa::new());
    let stack = Stack::start(&dir, uas.addr(), (49200, 49399));
    let (kam_port, log) = (stack.kam_port, stack.log.clone());
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

/// SIPp UAC → Kamailio (rtpengine_manage) → SIPp UAS, RTP played by the UAC and echoed by the
/// UAS through the daemon: every call succeeds, the daemon latched both sides of every call and
/// forwarded the packets both ways (its `/metrics`), and BYE deleted every call.
#[test]
fn sipp_calls_through_kamailio_have_rtp_both_ways_through_the_daemon() {
    if !kamailio_or_skip() {
        return;
    }
    const CALLS: usize = 20;
    const PACKETS: usize = 40;
    let dir = test_dir("sbc-kamailio-ng-sipp");
    cut_pcap(&dir.join("audio.pcap"), PACKETS);
    let (uas_port, uas_media, uac_media) =
        (free_udp_port(), free_media_ports(), free_media_ports());
    let stack = Stack::start(&dir, addr(uas_port), (49400, 49599));
    let _uas = spawn_logged(
        sipp_in(&dir)
            .args(["-sn", "uas", "-rtp_echo", "-nostdin"])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &uas_port.to_string(), "-mp", &uas_media.to_string()])
            .args(["-m", &CALLS.to_string()]),
        Some(&dir.join("uas.out")),
    );
    std::thread::sleep(Duration::from_millis(300));
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp/uac.xml");
    let mut uac = spawn_logged(
        sipp_in(&dir)
            .arg(format!("127.0.0.1:{}", stack.kam_port))
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args([
                "-p",
                &free_udp_port().to_string(),
                "-mp",
                &uac_media.to_string(),
            ])
            .args(["-m", &CALLS.to_string(), "-r", "10", "-l", "10"])
            .args(["-timeout", "60s", "-timeout_error", "-nostdin"])
            .args(["-trace_stat", "-stf", "uac_stats.csv", "-fd", "1"])
            .args(["-trace_err", "-error_file", "uac_errors.log"]),
        Some(&dir.join("uac.out")),
    );
    let status = uac.0.wait().expect("wait for sipp uac");
    let show = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(
        status.success(),
        "sipp uac: {status}\n{}\n{}\n{}",
        show("uac.out"),
        show("uac_errors.log"),
        show("kamailio.log")
    );
    let stats = last_stats(&dir.join("uac_stats.csv"));
    assert_eq!(
        (
            stat(&stats, "SuccessfulCall(C)"),
            stat(&stats, "FailedCall(C)")
        ),
        (CALLS as u64, 0)
    );
    // The daemon's counters: a latch per side per call, the UAC's packets and the UAS's echo
    // forwarded (a few may be lost), and no call left after the BYEs.
    std::thread::sleep(Duration::from_millis(700));
    let page = http_get(stack.metrics, "/metrics", None).expect("the daemon's /metrics");
    let value = |name: &str| metric_value(&page.body, name).unwrap_or(0.0);
    assert!(
        value("sbc_relay_latch_events_total") >= (2 * CALLS) as f64,
        "{}",
        page.body
    );
    let forwarded: f64 = page
        .body
        .lines()
        .filter(|l| l.starts_with("sbc_relay_forwarded_packets_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        forwarded >= (2 * CALLS * PACKETS) as f64 * 0.9,
        "forwarded {forwarded}: {}",
        page.body
    );
    assert_eq!(value("sbc_relay_ng_calls"), 0.0, "{}", page.body);
    assert_eq!(
        value("sbc_relay_ng_requests_total{command=\"delete\"}"),
        CALLS as f64
    );
}
