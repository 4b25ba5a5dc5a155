//! The automatic backend choice falls back to epoll + recvmmsg/sendmmsg when io_uring is
//! forbidden, as under a container seccomp profile that blocks it, and media still flows.

#![allow(unsafe_code)] // installing a seccomp filter is a raw prctl

mod common;

use sbc_relay::api::Relay;
use sbc_relay::io::uring::{UringBackend, UringConfig};

#[test]
fn auto_falls_back_to_mmsg_when_seccomp_forbids_io_uring_and_media_flows() {
    // A thread of its own: the filter must not reach the other tests' threads.
    std::thread::spawn(|| {
        common::forbid_in_this_thread(libc::SYS_io_uring_setup);
        let err = UringBackend::with_config(UringConfig::default())
            .err()
            .expect("io_uring is refused under the filter");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        let mut r = Relay::start(common::config(27_000, 1))
            .expect("the relay starts on the fallback backend");
        assert_eq!(r.backend(), "mmsg");
        let got = common::packets_across(&mut r, 20);
        assert_eq!(got, 20, "every packet crossed the fallback relay");
        r.shutdown();
    })
    .join()
    .unwrap();
}
