//! The automatic backend choice falls back to epoll + recvmmsg/sendmmsg when io_uring is
//! forbidden, as under a container seccomp profile that blocks it, and media still flows.

#![allow(unsafe_code)] // installing a seccomp filter is a raw prctl

use sbc_relay::api::{InterfaceConfig, LegSpec, Relay, RelayConfig};
use sbc_relay::forward::LegSignal;
use sbc_relay::io::uring::{UringBackend, UringConfig};
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use std::net::UdpSocket;
use std::time::Duration;

/// Makes `io_uring_setup(2)` fail with EPERM for the calling thread and the threads it starts
/// afterwards (seccomp filters are per thread and inherited), as Docker's default profile does.
fn forbid_io_uring_in_this_thread() {
    const fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }
    let nr = libc::SYS_io_uring_setup as u32;
    let mut prog = [
        // A = seccomp_data.nr
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        // if A == io_uring_setup fall through to EPERM, else skip to ALLOW
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

#[test]
fn auto_falls_back_to_mmsg_when_seccomp_forbids_io_uring_and_media_flows() {
    // A thread of its own: the filter must not reach the other tests' threads.
    std::thread::spawn(|| {
        forbid_io_uring_in_this_thread();
        let err = UringBackend::with_config(UringConfig::default())
            .err()
            .expect("io_uring is refused under the filter");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        let mut r = Relay::start(RelayConfig {
            interfaces: vec![
                InterfaceConfig {
                    name: "customer".into(),
                    address: "127.0.0.1".parse().unwrap(),
                    port_min: 27_000,
                    port_max: 27_099,
                },
                InterfaceConfig {
                    name: "core".into(),
                    address: "127.0.0.1".parse().unwrap(),
                    port_min: 27_100,
                    port_max: 27_199,
                },
            ],
            workers: 1,
            worker_cpus: Vec::new(),
            worker_rt_priority: None,
            recv_buffer: sbc_relay::api::DEFAULT_RECV_BUFFER,
            backend: BackendKind::Auto,
            uring: UringConfig::default(),
            latch: LatchConfig::default(),
            inactivity_timeout: Duration::ZERO,
            stats_interval: Duration::ZERO,
            seed: 27_000,
        })
        .expect("the relay starts on the fallback backend");
        assert_eq!(r.backend(), "mmsg");
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
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
        for seq in 0..20u16 {
            let mut p = vec![0u8; 172];
            p[0] = 0x80;
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
            a.send_to(&p, local_a.rtp).unwrap();
            if let Ok((n, _)) = b.recv_from(&mut buf) {
                assert_eq!(&buf[2..4], &seq.to_be_bytes());
                assert_eq!(n, 172);
                got += 1;
            }
        }
        assert_eq!(got, 20, "every packet crossed the fallback relay");
        r.shutdown();
    })
    .join()
    .unwrap();
}
