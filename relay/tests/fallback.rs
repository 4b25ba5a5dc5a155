//! The automatic backend choice falls back to epoll + recvmmsg/sendmmsg when io_uring is
//! forbidden, as under a container seccomp profile that blocks it, and media still flows.

#![allow(unsafe_code)] // installing a seccomp filter is a raw prctl

mod common;

use sbc_relay::api::{InterfaceConfig, Relay, RelayConfig};
use sbc_relay::io::uring::{UringBackend, UringConfig};
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use std::time::Duration;

#[test]
fn auto_falls_back_to_mmsg_when_seccomp_forbids_io_uring_and_media_flows() {
    // A thread of its own: the filter must not reach the other tests' threads.
    std::thread::spawn(|| {
        common::forbid_in_this_thread(libc::SYS_io_uring_setup);
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
        let got = common::packets_across(&mut r, 20);
        assert_eq!(got, 20, "every packet crossed the fallback relay");
        r.shutdown();
    })
    .join()
    .unwrap();
}
