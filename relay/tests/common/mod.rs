//! Helpers of the relay's integration tests: a configuration, a seccomp refusal, one stream
//! carrying media.

use sbc_relay::api::{InterfaceConfig, LegSpec, Relay, RelayConfig};
use sbc_relay::forward::LegSignal;
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use std::net::UdpSocket;
use std::time::Duration;

/// A relay configuration with interfaces `customer` (ports `base`..`base`+99) and `core`
/// (the next 100) on 127.0.0.1, `workers` workers on the automatic backend, no timers.
pub(crate) fn config(base: u16, workers: usize) -> RelayConfig {
    let iface = |name: &str, min: u16| InterfaceConfig {
        name: name.into(),
        address: "127.0.0.1".parse().unwrap(),
        port_min: min,
        port_max: min + 99,
    };
    RelayConfig {
        interfaces: vec![iface("customer", base), iface("core", base + 100)],
        workers,
        worker_cpus: Vec::new(),
        worker_rt_priority: None,
        recv_buffer: sbc_relay::api::DEFAULT_RECV_BUFFER,
        backend: BackendKind::Auto,
        uring: UringConfig::default(),
        latch: LatchConfig::default(),
        inactivity_timeout: Duration::ZERO,
        stats_interval: Duration::ZERO,
        seed: u64::from(base),
    }
}

/// Makes system call `nr` fail with EPERM for the calling thread and the threads it starts
/// afterwards (seccomp filters are per thread and inherited), as a container profile does.
pub(crate) fn forbid_in_this_thread(nr: libc::c_long) {
    const fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }
    let nr = nr as u32;
    let mut prog = [
        // A = seccomp_data.nr
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        // if A == nr fall through to EPERM, else skip to ALLOW
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: nr,
        },
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls; `fprog` points at `prog`, alive for the call (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &raw const fprog,
                0,
                0
            ),
            0,
            "seccomp filter refused: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Adds a session with one stream between two fresh loopback peers (interfaces `customer` and
/// `core`) and sends `n` RTP packets from A; returns how many B received in order, intact.
pub(crate) fn packets_across(r: &mut Relay, n: u16) -> u16 {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Generous: the full suite loads both cores, and a packet late by half a second is still a
    // packet forwarded (the first run of session 6 saw 4 of 5 within 500 ms).
    b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let leg = |iface: &str, s: &UdpSocket| LegSpec {
        interface: iface.into(),
        rtcp_mux: false,
        signal: LegSignal {
            remote_rtp: Some(s.local_addr().unwrap()),
            ..LegSignal::default()
        },
    };
    let s = r.create_session();
    let (_, [local_a, _]) = r
        .add_stream(s, [leg("customer", &a), leg("core", &b)])
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut got = 0;
    for seq in 0..n {
        let mut p = vec![0u8; 172];
        p[0] = 0x80;
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        a.send_to(&p, local_a.rtp).unwrap();
        if let Ok((len, _)) = b.recv_from(&mut buf) {
            assert_eq!(&buf[2..4], &seq.to_be_bytes());
            assert_eq!(len, 172);
            got += 1;
        }
    }
    got
}
