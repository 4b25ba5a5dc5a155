//! The real `sbc` binary: command line, config checking, and its first SIP answers on loopback.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Limits, Message};
use sbc_tests::{free_udp_port, sbc_binary, udp_exchange, Sbc};
use std::process::Command;
use std::time::Duration;

fn config(customer: u16, core: u16) -> String {
    format!(
        r#"[[interface]]
name = "customer"
listen = [{{ transport = "udp", address = "127.0.0.1:{customer}" }}]
media_address = "127.0.0.1"
rtp_port_min = 40000
rtp_port_max = 40999

[[interface]]
name = "core"
listen = [{{ transport = "udp", address = "127.0.0.1:{core}" }}]
media_address = "127.0.0.1"
rtp_port_min = 41000
rtp_port_max = 41999

[admin]
listen = "127.0.0.1:{admin}"
"#,
        admin = free_udp_port()
    )
}

fn options(extra: &str) -> String {
    format!(
        "OPTIONS sip:sbc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKcli1;rport\r\nFrom: <sip:probe@example.com>;tag=42\r\nTo: <sip:sbc@127.0.0.1>\r\nCall-ID: cli-1@127.0.0.1\r\nCSeq: 7 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn help_version_and_bad_arguments() {
    let out = Command::new(sbc_binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("check-config") && text.contains("EXAMPLES"));
    let out = Command::new(sbc_binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sbc "));
    let out = Command::new(sbc_binary()).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_config_accepts_good_files_and_names_file_line_field_for_bad_ones() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let good = root.join("config/examples/production.toml");
    let out = Command::new(sbc_binary())
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = std::env::temp_dir().join(format!("sbc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    let text = config(5060, 5080).replace("rtp_port_min = 41000", "rtp_port_min = 41001");
    std::fs::write(&bad, &text).unwrap();
    let out = Command::new(sbc_binary())
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().position(|l| l.contains("41001")).unwrap() + 1;
    assert!(
        err.contains(&format!("bad.toml:{line}:")) && err.contains("rtp_port_min"),
        "{err}"
    );

    std::fs::write(
        &bad,
        text.replace("name = \"core\"", "name = \"core\"\nfoo = 1"),
    )
    .unwrap();
    let out = Command::new(sbc_binary())
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("foo"));
}

#[test]
fn answers_options_and_rejects_bad_requests_with_a_reason() {
    let (customer, core) = (free_udp_port(), free_udp_port());
    let mut sbc = Sbc::start(&config(customer, core));
    assert!(
        sbc.wait_log(
            &format!("listening on udp 127.0.0.1:{core}"),
            Duration::from_secs(10)
        ),
        "sbc did not start"
    );
    let to = format!("127.0.0.1:{customer}").parse().unwrap();

    let reply = udp_exchange(to, options("").as_bytes()).expect("reply to OPTIONS");
    let m = Message::parse(Bytes::from(reply), &Limits::default()).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.call_id(), Some("cli-1@127.0.0.1"));
    assert!(m.header(&HeaderName::Allow).unwrap().contains("INVITE"));

    let bad = options("Max-Forwards: many\r\n");
    let reply = udp_exchange(to, bad.as_bytes()).expect("reply to bad request");
    let m = Message::parse(Bytes::from(reply), &Limits::default()).unwrap();
    assert_eq!(m.status(), Some(400));
    assert_eq!(
        m.reason(),
        Some("Bad Max-Forwards header: not a number 0-255")
    );

    // Junk gets no answer, and the SBC keeps serving.
    assert!(udp_exchange(to, b"\x00\x01junk").is_none());
    assert!(udp_exchange(to, options("").as_bytes()).is_some());
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
}

/// (policy, rt_priority) of the process's threads named `relay-*` (proc(5) stat fields 41, 40).
fn relay_thread_policies(pid: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("relay-") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        out.push((f[41 - 3].parse().unwrap(), f[40 - 3].parse().unwrap()));
    }
    out
}

#[test]
fn realtime_priority_puts_the_relay_workers_under_sched_fifo_and_a_refusal_stops_the_start() {
    let text = format!(
        "{}\n[relay]\nworkers = 2\nrealtime_priority = 5\n",
        config(free_udp_port(), free_udp_port())
    );
    let allowed = Command::new("chrt")
        .args(["-f", "5", "true"])
        .status()
        .is_ok_and(|s| s.success());
    // Refused: without CAP_SYS_NICE and with an RLIMIT_RTPRIO of 0 (what an unprivileged service
    // without LimitRTPRIO= gets), the SBC does not start and says why.
    // (Dropping CAP_SYS_NICE from the bounding set needs CAP_SETPCAP: as an ordinary user the
    // capability is not there to drop.)
    let can_drop = Command::new("setpriv")
        .args(["--bounding-set=-sys_nice", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let mut refused = Command::new("prlimit");
    refused.arg("--rtprio=0:0");
    if can_drop {
        refused.args(["setpriv", "--bounding-set=-sys_nice"]);
    }
    refused.arg(sbc_binary());
    let mut sbc = Sbc::start_command(&text, refused);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = sbc.child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "sbc kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&sbc.log).unwrap_or_default()
        + &std::fs::read_to_string(sbc.log.with_extension("err")).unwrap_or_default();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("cannot run under SCHED_FIFO at priority 5") && log.contains("RLIMIT_RTPRIO"),
        "{log}"
    );
    assert!(!log.contains("ready"), "{log}");
    if !allowed {
        eprintln!("this process may not use SCHED_FIFO 5: the running case is not checked");
        return;
    }
    // Allowed: both workers run under SCHED_FIFO (1) at 5.
    let sbc = Sbc::start_ready(&text);
    let threads = relay_thread_policies(sbc.child.id());
    assert_eq!(threads, vec![(1, 5), (1, 5)], "relay workers");
}
