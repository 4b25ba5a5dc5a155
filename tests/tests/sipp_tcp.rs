//! Interop with SIPp over TCP (RFC 3261 §18): a SIPp UAC on one TCP connection (`-t t1`) places
//! calls through the real `sbc` binary to a SIPp UAS that listens on TCP, with the built-in
//! `uac`/`uas` scenarios (INVITE, 180, 200, ACK, BYE, 200). Every call must succeed, which needs
//! the SBC to answer on the UAC's connection and to keep the dialog with the UAS on the one it
//! opened.

use sbc_tests::config::{Iface, SbcConfig};
use sbc_tests::{free_udp_port, sipp_in, spawn_logged, test_dir, Sbc};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CALLS: usize = 100;
const RATE: u32 = 25;

fn config(customer: u16, core: u16, uas: u16) -> String {
    let tcp = |port: u16, rtp| {
        let mut i = Iface::udp(SocketAddr::from(([127, 0, 0, 1], port)), rtp);
        i.listen[0].0 = "tcp";
        i
    };
    SbcConfig::with(tcp(customer, 48000..=48999), tcp(core, 49000..=49999))
        .route(
            "customer-to-core",
            SocketAddr::from(([127, 0, 0, 1], uas)),
            "transport = \"tcp\"",
        )
        .render()
}

#[test]
fn sipp_uac_sbc_sipp_uas_over_tcp() {
    let started = Instant::now();
    let dir = test_dir("sbc-sipp-tcp");
    let (customer, core, uas_port) = (free_udp_port(), free_udp_port(), free_udp_port());
    let sbc = Sbc::start_ready(&config(customer, core, uas_port));

    let _uas = spawn_logged(
        sipp_in(&dir)
            .args(["-sn", "uas", "-t", "t1", "-nostdin"])
            .args(["-i", "127.0.0.1", "-p", &uas_port.to_string()])
            .args(["-m", &CALLS.to_string()])
            .args(["-trace_err", "-error_file", "uas_errors.log"]),
        Some(&dir.join("uas.out")),
    );
    std::thread::sleep(Duration::from_millis(300));

    let mut uac = spawn_logged(
        sipp_in(&dir)
            .arg(format!("127.0.0.1:{customer}"))
            .args(["-sn", "uac", "-t", "t1"])
            .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
            .args(["-m", &CALLS.to_string(), "-r", &RATE.to_string()])
            .args(["-timeout", "40s", "-timeout_error", "-nostdin"])
            .args(["-trace_err", "-error_file", "uac_errors.log"])
            .args(["-trace_screen", "-screen_file", "uac_screen.log"]),
        Some(&dir.join("uac.out")),
    );
    let status = uac.0.wait().expect("wait for sipp uac");
    let show = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let screen = show("uac_screen.log");
    assert!(
        status.success(),
        "sipp uac exited with {status} in {}\n--- uac.out\n{}\n--- uac_screen.log\n{screen}\n--- uac_errors.log\n{}\n--- uas_errors.log\n{}",
        dir.display(),
        show("uac.out"),
        show("uac_errors.log"),
        show("uas_errors.log"),
    );
    // SIPp exits 0 only when every call succeeded; its screen shows the count as well.
    assert!(
        screen
            .lines()
            .any(|l| l.contains("Successful call") && l.contains(&CALLS.to_string())),
        "{screen}"
    );
    let log = std::fs::read_to_string(&sbc.log).unwrap_or_default();
    assert!(log.contains("listening on tcp"), "{log}");
    let elapsed = started.elapsed();
    eprintln!("{CALLS} calls over TCP through sbc with SIPp in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(40), "took {elapsed:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
