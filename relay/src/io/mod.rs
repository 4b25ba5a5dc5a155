//! The relay's IO backends: the only code that touches sockets on the packet path.
//!
//! A worker thread owns one [`Backend`]. Each loop turn it calls [`Backend::turn`], which waits up
//! to a timeout for datagrams on the registered sockets, hands every received datagram to the
//! worker's handler (the pure forwarding/latching decision), and sends the ones the handler
//! forwards, batched, from the backend's own buffers (no copy). Two implementations run the same
//! handler: [`uring`] (io_uring, multishot receive into a provided buffer ring, batched sends) and
//! [`mmsg`] (epoll + recvmmsg/sendmmsg), chosen by [`open_backend`].
//!
//! Work per socket per turn is bounded ([`MAX_PER_SOCKET_PER_TURN`]) but no socket is ever given
//! up on: a socket with more queued data is served again on the next turn.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::time::Duration;

pub mod mmsg;
#[cfg(test)]
mod tests;
pub mod uring;

/// Largest datagram the relay accepts; anything longer is truncated by the kernel and dropped.
pub const MAX_DATAGRAM: usize = 2048;
/// Most datagrams read from one socket in one loop turn, so one flooded socket cannot starve others.
pub const MAX_PER_SOCKET_PER_TURN: usize = 64;

/// Where the handler wants a received datagram sent: out of socket `fd`, to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    /// The socket to send from (the other leg's local socket).
    pub fd: RawFd,
    /// The destination address.
    pub to: SocketAddr,
    /// `fd` is connected to `to` (a [`crate::twin`] socket): send without an address, so the
    /// kernel uses the socket's cached route. The forwarder always leaves it `false`.
    pub connected: bool,
}

impl Forward {
    /// A datagram to send out of the unconnected socket `fd` to `to`.
    pub fn to(fd: RawFd, to: SocketAddr) -> Self {
        Self {
            fd,
            to,
            connected: false,
        }
    }
}

/// The per-packet decision the worker plugs into a backend: given the receiving socket's token, the
/// source, the receive buffer and the datagram's length (`buf[..len]`; the rest of `buf` is room
/// to grow in place, as SRTP's tag needs), forward `new_len` bytes of `buf` somewhere or drop it
/// (`None`).
pub type Handler<'h> =
    dyn FnMut(u64, SocketAddr, &mut [u8], usize) -> Option<(Forward, usize)> + 'h;

/// Counters a backend keeps about itself (single writer: the worker thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams handed to the kernel for sending.
    pub sent: u64,
    /// Sends the kernel refused (e.g. unreachable, buffer full).
    pub send_errors: u64,
    /// Receive calls/completions that failed or were truncated.
    pub recv_errors: u64,
    /// System calls made (receive, send, wait, submit), to judge batching.
    pub syscalls: u64,
    /// Loop turns run.
    pub turns: u64,
}

/// One IO backend owned by one worker thread.
pub trait Backend: Send {
    /// The backend's name as shown in metrics and the bench (`io_uring`, `mmsg`).
    fn name(&self) -> &'static str;
    /// Starts receiving on a bound, non-blocking UDP socket; `token` comes back with each datagram.
    fn register(&mut self, fd: RawFd, token: u64) -> io::Result<()>;
    /// Stops receiving on a socket before it is closed.
    fn deregister(&mut self, fd: RawFd) -> io::Result<()>;
    /// Runs one loop turn: waits up to `timeout` for datagrams (returning early when some arrive or
    /// when the [`Backend::wake_fd`] eventfd fires), calls `handler` for each, and submits the forwards.
    /// Returns the number of datagrams received.
    fn turn(&mut self, timeout: Duration, handler: &mut Handler<'_>) -> io::Result<usize>;
    /// An eventfd the control plane writes to wake the worker when it queues a command.
    fn wake_fd(&self) -> RawFd;
    /// The backend's own counters.
    fn stats(&self) -> BackendStats;
}

/// Which backend to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// io_uring if the kernel allows it, else epoll + mmsg.
    Auto,
    /// io_uring only (fails if unavailable).
    IoUring,
    /// epoll + recvmmsg/sendmmsg.
    Mmsg,
}

/// A duplicate of a backend's wake eventfd, owned by the control plane so it can wake the worker
/// after the backend has moved to the worker thread.
pub fn dup_wake_fd(backend: &dyn Backend) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: the backend owns its eventfd for its whole life and `backend` is borrowed for this
    // call, so the descriptor is open while we duplicate it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(backend.wake_fd()) };
    borrowed.try_clone_to_owned()
}

/// Opens a backend of the asked kind; `Auto` probes io_uring and falls back to mmsg when it is
/// unavailable (old kernel, seccomp, `io_uring_disabled`).
pub fn open_backend(kind: BackendKind, uring: uring::UringConfig) -> io::Result<Box<dyn Backend>> {
    match kind {
        BackendKind::IoUring => Ok(Box::new(uring::UringBackend::with_config(uring)?)),
        BackendKind::Mmsg => Ok(Box::new(mmsg::MmsgBackend::new()?)),
        BackendKind::Auto => match uring::UringBackend::with_config(uring) {
            Ok(b) => Ok(Box::new(b)),
            Err(_) => Ok(Box::new(mmsg::MmsgBackend::new()?)),
        },
    }
}

/// Bytes of a kernel socket address big enough for IPv4 and IPv6 (`sockaddr_in6`).
const SOCKADDR_LEN: usize = size_of::<libc::sockaddr_in6>();

/// Room for a `sockaddr_in`/`sockaddr_in6` in kernel layout, aligned like the C structs.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct RawAddr {
    bytes: [u8; SOCKADDR_LEN],
}

impl RawAddr {
    /// An all-zero address (family `AF_UNSPEC`).
    const ZERO: Self = Self {
        bytes: [0; SOCKADDR_LEN],
    };
}

/// Decodes a `sockaddr_in`/`sockaddr_in6` the kernel wrote into `b` (already cut to its length).
fn sockaddr_from_bytes(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    if i32::from(family) == libc::AF_INET {
        let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
        Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    } else if i32::from(family) == libc::AF_INET6 {
        let flow = u32::from_ne_bytes(b.get(4..8)?.try_into().ok()?);
        let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
        let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            flow,
            scope,
        )))
    } else {
        None
    }
}

/// Encodes `addr` as a kernel `sockaddr_in`/`sockaddr_in6` into `out`; returns its length.
fn sockaddr_write(addr: &SocketAddr, out: &mut RawAddr) -> libc::socklen_t {
    let b = &mut out.bytes;
    *b = [0; SOCKADDR_LEN];
    b[2..4].copy_from_slice(&addr.port().to_be_bytes());
    match addr {
        SocketAddr::V4(a) => {
            // AF_INET/AF_INET6 are small positive constants; the casts cannot truncate.
            b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            b[4..8].copy_from_slice(&a.ip().octets());
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            b[4..8].copy_from_slice(&a.flowinfo().to_ne_bytes());
            b[8..24].copy_from_slice(&a.ip().octets());
            b[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
            SOCKADDR_LEN as libc::socklen_t
        }
    }
}

/// Creates a non-blocking, close-on-exec eventfd for [`Backend::wake_fd`].
fn new_eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: eventfd takes no pointers; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own and nothing else will close it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
