//! What the relay asks of the host: leg sockets bound exclusively, the open-file limit, worker
//! CPU pinning and real-time priority, and eventfd wake-ups.

use super::LocalLeg;
use crate::ports::rtcp_port;
use crate::worker::LegSocketsOwned;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;

/// Binds the RTP socket (and RTCP on port + 1 unless muxed), non-blocking.
pub(super) fn bind_pair(
    ip: IpAddr,
    port: u16,
    mux: bool,
    recv_buffer: usize,
) -> std::io::Result<(LegSocketsOwned, LocalLeg)> {
    let rtp = bind_one(SocketAddr::new(ip, port), recv_buffer)?;
    let rtcp = if mux {
        None
    } else {
        let p = rtcp_port(port).ok_or_else(|| std::io::Error::other("no RTCP port"))?;
        Some(bind_one(SocketAddr::new(ip, p), recv_buffer)?)
    };
    // The sockets are bound to exactly these addresses: no getsockname needed.
    let local = LocalLeg {
        rtp: SocketAddr::new(ip, port),
        rtcp: rtcp_port(port)
            .filter(|_| rtcp.is_some())
            .map(|p| SocketAddr::new(ip, p)),
    };
    Ok((LegSocketsOwned { rtp, rtcp }, local))
}

fn bind_one(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    // Non-blocking (and close-on-exec, which socket2 always sets) from socket(2) itself: two
    // fcntl calls fewer per socket, four sockets per call.
    let s = socket2::Socket::new(
        domain,
        socket2::Type::DGRAM.nonblocking(),
        Some(socket2::Protocol::UDP),
    )?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if recv_buffer > 0 {
        // Best effort: the kernel caps it at net.core.rmem_max.
        let _ = s.set_recv_buffer_size(recv_buffer);
    }
    // Exclusive: the bind fails on a port anyone holds (another process, a socket not closed
    // yet). The worker sets SO_REUSEPORT later, when the leg gets a connected twin (crate::twin).
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Pins the calling worker thread to `cpu` (checked against the allowed set at start); a failure
/// leaves it unpinned, which costs performance, not correctness.
pub(super) fn pin_current_thread(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    let pinned = set
        .set(cpu)
        .and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set));
    if let Err(e) = pinned {
        tracing::warn!("relay worker: cannot pin to CPU {cpu}: {e}");
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (each stream holds four to
/// eight sockets: RTP and RTCP per leg, and their connected twins); returns (before, after).
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64)> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(std::io::Error::from)?;
    }
    Ok((soft, hard.max(soft)))
}

/// Puts the calling thread under the real-time `SCHED_FIFO` policy at `priority` (1..=99), as
/// [`RelayConfig::worker_rt_priority`](super::RelayConfig::worker_rt_priority) does for the workers (sched(7)).
#[allow(unsafe_code)] // nix has no sched_setscheduler wrapper
pub fn set_fifo_priority(priority: u8) -> std::io::Result<()> {
    if !(1..=99).contains(&priority) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "SCHED_FIFO priorities are 1..=99",
        ));
    }
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: pid 0 names the calling thread; `param` is an initialised sched_param that lives
    // across the call and the kernel only reads it.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Wakes a worker by writing to its eventfd.
pub(super) fn wake(fd: &OwnedFd) {
    let one: u64 = 1;
    // A failed wake only delays the command until the worker's next timeout.
    let _ = nix::unistd::write(fd, &one.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        use nix::sys::resource::{getrlimit, Resource};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let (before, after) = raise_open_file_limit().unwrap();
        assert!(before <= after);
        assert_eq!(after, hard);
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }

    #[test]
    fn a_leg_socket_never_joins_a_port_someone_holds_but_its_twin_may_join_it() {
        // Another socket (same user, SO_REUSEPORT) holds a port: the relay's bind is refused,
        // so the pool moves on instead of sharing that port's traffic.
        let other =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        other.set_reuse_port(true).unwrap();
        other
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let held = other.local_addr().unwrap().as_socket().unwrap();
        assert!(bind_one(held, 0).is_err());
        // A port the relay bound itself takes its connected twin once the worker has set
        // SO_REUSEPORT on the leg (crate::twin::share_port).
        let leg = bind_one("127.0.0.1:0".parse().unwrap(), 64 * 1024).unwrap();
        let peer0 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local0 = leg.local_addr().unwrap();
        assert!(
            crate::twin::open_twin(local0, 0, peer0.local_addr().unwrap()).is_err(),
            "no sharing before share_port"
        );
        crate::twin::share_port(&leg).unwrap();
        let local = leg.local_addr().unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rcv = socket2::SockRef::from(&leg).recv_buffer_size().unwrap();
        let twin = crate::twin::open_twin(local, rcv, peer.local_addr().unwrap()).unwrap();
        assert_eq!(twin.socket.local_addr().unwrap(), local);
        assert_eq!(
            socket2::SockRef::from(&twin.socket)
                .recv_buffer_size()
                .unwrap(),
            rcv,
            "the twin queues like its leg"
        );
    }
}
