//! Connected twins of leg sockets: once a leg socket keeps sending to one address, a second socket
//! bound to the same local address and port (`SO_REUSEPORT`, which the worker sets on the leg
//! socket only then: until it has a twin, a leg's port is exclusive) and `connect()`ed to that
//! address takes over the sends to it and the datagrams from it.
//!
//! Sending on a connected UDP socket skips the route lookup and the address copy the kernel does
//! for every `sendto`, and the kernel steers the peer's datagrams to the connected socket (it
//! scores higher in the UDP lookup, and reuseport never hands other sources to it). Everything
//! else (an attacker, a phone's new NAT binding) still arrives on the unconnected socket, where
//! the forwarder drops, counts or re-latches it as before: a twin changes no decision, received
//! datagrams keep their real source and the twin is registered under its leg socket's token.
//!
//! The price of a connected socket: the kernel reports ICMP errors to it. After a port
//! unreachable from the peer (or one forged by someone who knows the peer's address and port and
//! the relay's), the next send fails once with `ECONNREFUSED` (a counted send error: that datagram
//! is lost) and the twin's receive is re-armed. An unconnected socket ignores such errors.
//!
//! [`Twins`] is the bookkeeping the packet path consults ([`Twins::route`]: one table lookup per
//! forwarded datagram, no allocation, no system call); the worker creates, re-targets and closes
//! the sockets between backend turns ([`Twins::take_pending`], [`open_twin`], [`retarget`]).

use crate::io::Forward;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

/// Consecutive datagrams a leg socket sends to one address before it gets a twin connected there
/// (at 50 packets/s, the first 0.3 s of a call or of a new latch).
pub const STREAK: u32 = 16;
/// Most twins created or re-targeted per loop turn (each costs a few system calls).
pub const PER_TURN: usize = 64;

/// A connected twin of a leg socket.
#[derive(Debug)]
pub struct Twin {
    /// The connected socket.
    pub socket: UdpSocket,
    /// The address it is connected to.
    pub peer: SocketAddr,
}

/// What [`Twins`] knows about one registered leg socket (indexed by its descriptor). Kept small
/// (88 bytes): the table spans every descriptor number of the process, in every worker. What a
/// twin is opened with (the leg's local address and receive buffer) is read from the leg socket
/// when it is opened.
#[derive(Debug, Default)]
struct Entry {
    /// The socket is registered (its descriptor is live and ours).
    live: bool,
    /// Waiting in the pending list.
    queued: bool,
    /// Some destination was refused a twin: see `Twins::refused`.
    refused: bool,
    /// How many datagrams in a row went to `last_to`.
    streak: u32,
    /// The token the leg socket is registered under; its twin gets the same.
    token: u64,
    /// The destination of the last datagrams sent out of the leg socket.
    last_to: Option<SocketAddr>,
    twin: Option<Twin>,
}

/// The twin table of one worker.
#[derive(Debug)]
pub struct Twins {
    by_fd: Vec<Entry>,
    /// Destinations a leg socket's twin could not be opened or connected for: not tried again
    /// (rare, so kept aside rather than in every entry).
    refused: std::collections::HashSet<(RawFd, SocketAddr)>,
    /// Leg sockets whose twin should be opened or re-targeted to their `last_to`.
    pending: Vec<RawFd>,
    /// A twin whose descriptor number reaches this is closed again: descriptors are handed out
    /// lowest first, so this keeps the last quarter of `RLIMIT_NOFILE` for legs and signalling.
    fd_ceiling: RawFd,
    /// Twins open now.
    open: usize,
}

impl Default for Twins {
    fn default() -> Self {
        Self::new()
    }
}

impl Twins {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            by_fd: Vec::new(),
            refused: std::collections::HashSet::new(),
            pending: Vec::with_capacity(PER_TURN),
            fd_ceiling: fd_ceiling(),
            open: 0,
        }
    }

    /// Records a leg socket registered with the backend under `token` (a reused descriptor
    /// number starts afresh).
    pub fn on_register(&mut self, leg: &UdpSocket, token: u64) {
        let fd = leg.as_raw_fd();
        let Ok(i) = usize::try_from(fd) else { return };
        if self.by_fd.len() <= i {
            // Grown by a quarter, not doubled: the table is as long as the highest descriptor.
            let want = (i + 1)
                .max(self.by_fd.len() + self.by_fd.len() / 4)
                .max(256);
            self.by_fd.reserve_exact(want - self.by_fd.len());
            self.by_fd.resize_with(i + 1, Entry::default);
        }
        if self.by_fd[i].twin.is_some() {
            self.open = self.open.saturating_sub(1);
        }
        if self.by_fd[i].refused {
            self.refused.retain(|(f, _)| *f != fd);
        }
        self.by_fd[i] = Entry {
            live: true,
            token,
            ..Entry::default()
        };
    }

    /// Forgets a leg socket about to be closed; returns its twin, which the caller deregisters
    /// and closes first.
    pub fn on_deregister(&mut self, fd: RawFd) -> Option<Twin> {
        let e = usize::try_from(fd)
            .ok()
            .and_then(|i| self.by_fd.get_mut(i))?;
        let twin = e.twin.take();
        if e.refused {
            self.refused.retain(|(f, _)| *f != fd);
        }
        *e = Entry::default();
        if twin.is_some() {
            self.open = self.open.saturating_sub(1);
        }
        twin
    }

    /// The packet path: sends `f` out of the twin when one is connected to its destination;
    /// otherwise counts the streak towards this destination and, at [`STREAK`], queues the leg
    /// socket for a twin (at most [`PER_TURN`] queued at once).
    pub fn route(&mut self, f: Forward) -> Forward {
        let Some(e) = usize::try_from(f.fd)
            .ok()
            .and_then(|i| self.by_fd.get_mut(i))
        else {
            return f;
        };
        if !e.live {
            return f;
        }
        if let Some(t) = &e.twin {
            if t.peer == f.to {
                return Forward {
                    fd: t.socket.as_raw_fd(),
                    to: f.to,
                    connected: true,
                };
            }
        }
        if e.last_to == Some(f.to) {
            e.streak = e.streak.saturating_add(1);
        } else {
            e.last_to = Some(f.to);
            e.streak = 1;
        }
        if e.streak >= STREAK
            && !e.queued
            && self.pending.len() < PER_TURN
            && !(e.refused && self.refused.contains(&(f.fd, f.to)))
        {
            e.queued = true;
            self.pending.push(f.fd);
        }
        f
    }

    /// Takes the queued work, one [`Pending`] per leg socket; the caller opens or re-targets
    /// each twin and hands it back with [`Twins::settle`].
    pub fn take_pending(&mut self) -> Vec<Pending> {
        let mut out = Vec::new();
        for fd in self.pending.drain(..) {
            let Some(e) = usize::try_from(fd).ok().and_then(|i| self.by_fd.get_mut(i)) else {
                continue;
            };
            e.queued = false;
            if let (true, Some(to)) = (e.live, e.last_to) {
                if e.twin.is_some() {
                    self.open = self.open.saturating_sub(1); // back in settle()
                }
                out.push(Pending {
                    fd_ceiling: self.fd_ceiling,
                    fd,
                    token: e.token,
                    to,
                    twin: e.twin.take(),
                });
            }
        }
        out
    }

    /// Hands back a leg socket's twin after the caller opened or re-targeted it: `Ok` is the twin
    /// now connected to the destination; `Err` keeps the old twin (if any) and never tries that
    /// destination again.
    pub fn settle(&mut self, s: Settled) {
        let Some(e) = usize::try_from(s.fd)
            .ok()
            .and_then(|i| self.by_fd.get_mut(i))
        else {
            return;
        };
        match s.result {
            Ok(t) => e.twin = Some(t),
            Err(old) => {
                e.twin = old;
                e.refused = true;
                self.refused.insert((s.fd, s.to));
            }
        }
        if e.twin.is_some() {
            self.open += 1;
        }
    }

    /// Twins currently open.
    pub fn open(&self) -> usize {
        self.open
    }
}

/// Three quarters of the soft `RLIMIT_NOFILE` (as a descriptor number).
fn fd_ceiling() -> RawFd {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    RawFd::try_from(soft / 4 * 3).unwrap_or(RawFd::MAX)
}

/// A leg socket waiting for its twin to be opened or re-targeted.
#[derive(Debug)]
pub struct Pending {
    /// See [`Twins`]: a new twin at or above this descriptor number is not kept.
    fd_ceiling: RawFd,
    /// The leg socket.
    pub fd: RawFd,
    /// Its backend token (the twin is registered under the same).
    pub token: u64,
    /// The destination to connect the twin to.
    pub to: SocketAddr,
    /// The current twin, to re-target; `None`: open one.
    pub twin: Option<Twin>,
}

impl Pending {
    /// Opens the twin of `leg` (the leg socket this item names: the twin binds its local address
    /// with its receive buffer), or re-targets the current one; a failure carries the current
    /// twin back.
    pub fn connect(mut self, leg: &UdpSocket) -> Settled {
        let result = match self.twin.take() {
            Some(t) => retarget(t, self.to),
            None => match leg.local_addr().and_then(|local| {
                let recv_buffer = socket2::SockRef::from(leg).recv_buffer_size().unwrap_or(0);
                open_twin(local, recv_buffer, self.to)
            }) {
                // Too many descriptors open: the leg keeps working on its unconnected socket.
                Ok(t) if t.socket.as_raw_fd() >= self.fd_ceiling => Err(None),
                Ok(t) => Ok(t),
                Err(_) => Err(None),
            },
        };
        self.settled(result)
    }

    /// This work item's outcome, to hand back with [`Twins::settle`].
    pub fn settled(&self, result: Result<Twin, Option<Twin>>) -> Settled {
        Settled {
            fd: self.fd,
            to: self.to,
            result,
        }
    }
}

/// The outcome of a [`Pending`] item, for [`Twins::settle`].
#[derive(Debug)]
pub struct Settled {
    /// The leg socket.
    pub fd: RawFd,
    /// The destination the twin was to connect to.
    pub to: SocketAddr,
    /// The twin now connected there, or the failure carrying the previous twin back.
    pub result: Result<Twin, Option<Twin>>,
}

/// Opens a twin of a leg socket bound to `local`: a non-blocking UDP socket with `SO_REUSEPORT`
/// and the leg's receive buffer (`recv_buffer` as the kernel reports it), bound to `local` and
/// connected to `to`.
pub fn open_twin(local: SocketAddr, recv_buffer: usize, to: SocketAddr) -> std::io::Result<Twin> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(local),
        socket2::Type::DGRAM.nonblocking(),
        Some(socket2::Protocol::UDP),
    )?;
    if local.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    // The kernel reports twice what was set; halve it so both sockets queue alike.
    if recv_buffer > 0 {
        let _ = s.set_recv_buffer_size(recv_buffer / 2);
    }
    s.bind(&local.into())?;
    s.connect(&to.into())?;
    Ok(Twin {
        socket: s.into(),
        peer: to,
    })
}

/// Lets a leg socket share its port with its twin (`SO_REUSEPORT`; the twin sets it too). Set
/// after the leg's bind, so the leg never joined a port someone else held.
pub fn share_port(leg: &UdpSocket) -> std::io::Result<()> {
    socket2::SockRef::from(leg).set_reuse_port(true)
}

/// Connects an existing twin to a new destination (connect(2) on a connected UDP socket moves it).
pub fn retarget(mut twin: Twin, to: SocketAddr) -> Result<Twin, Option<Twin>> {
    match socket2::SockRef::from(&twin.socket).connect(&to.into()) {
        Ok(()) => {
            twin.peer = to;
            Ok(twin)
        }
        Err(_) => Err(Some(twin)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Routes [`STREAK`] datagrams out of leg socket `fd` to `to`.
    fn streak(t: &mut Twins, fd: RawFd, to: SocketAddr) {
        for _ in 0..STREAK {
            t.route(Forward::to(fd, to));
        }
    }

    #[test]
    fn a_leg_socket_is_queued_once_after_a_streak_to_one_destination() {
        let mut t = Twins::new();
        let leg = UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd7 = leg.as_raw_fd();
        t.on_register(&leg, 99);
        let to = addr("192.0.2.1:4000");
        for _ in 0..STREAK - 1 {
            assert_eq!(t.route(Forward::to(fd7, to)), Forward::to(fd7, to));
        }
        assert!(t.pending.is_empty(), "not before {STREAK} in a row");
        t.route(Forward::to(fd7, to));
        t.route(Forward::to(fd7, to));
        assert_eq!(t.pending, vec![fd7], "queued once");
        let work = t.take_pending();
        assert_eq!(work.len(), 1);
        let w = &work[0];
        assert_eq!((w.fd, w.token, w.to), (fd7, 99, to));
        assert!(w.twin.is_none(), "no twin yet: open one");
    }

    #[test]
    fn a_refusal_is_kept_aside_and_forgotten_with_the_descriptor() {
        assert!(
            size_of::<Entry>() <= 88,
            "an entry per descriptor per worker"
        );
        let mut t = Twins::new();
        let leg = UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = leg.as_raw_fd();
        t.on_register(&leg, 3);
        let to = addr("192.0.2.1:4000");
        streak(&mut t, fd, to);
        for p in t.take_pending() {
            t.settle(p.settled(Err(None)));
        }
        assert!(t.refused.contains(&(fd, to)));
        streak(&mut t, fd, to);
        assert!(t.pending.is_empty(), "refused: not tried again");
        // Another destination is tried.
        streak(&mut t, fd, addr("192.0.2.2:4000"));
        assert_eq!(t.take_pending().len(), 1);
        // The descriptor closed and reused: a new socket starts afresh.
        assert!(t.on_deregister(fd).is_none());
        assert!(t.refused.is_empty());
        t.on_register(&leg, 4);
        streak(&mut t, fd, to);
        assert_eq!(t.pending, vec![fd]);
    }

    #[test]
    fn a_changing_destination_restarts_the_streak_and_unregistered_sockets_are_ignored() {
        let mut t = Twins::new();
        let leg = UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = leg.as_raw_fd();
        t.on_register(&leg, 1);
        for i in 0..(STREAK * 2) {
            let to = if i % 2 == 0 {
                addr("192.0.2.1:4000")
            } else {
                addr("192.0.2.2:4000")
            };
            t.route(Forward::to(fd, to));
        }
        assert!(t.pending.is_empty());
        let other = UdpSocket::bind("127.0.0.1:0").unwrap(); // never registered
        for _ in 0..STREAK * 2 {
            t.route(Forward::to(other.as_raw_fd(), addr("192.0.2.1:4000")));
        }
        assert!(t.pending.is_empty());
    }

    #[test]
    fn sends_go_out_of_the_connected_twin_and_a_new_destination_retargets_it() {
        let leg = UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = leg.as_raw_fd();
        let peer1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer2 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (p1, p2) = (peer1.local_addr().unwrap(), peer2.local_addr().unwrap());
        let mut t = Twins::new();
        t.on_register(&leg, 5);
        streak(&mut t, fd, p1);
        // The leg socket was bound without SO_REUSEPORT: the twin cannot share its port, and
        // the destination is not tried again.
        for p in t.take_pending() {
            let s = p.connect(&leg);
            assert!(s.result.is_err());
            t.settle(s);
        }
        for _ in 0..STREAK * 2 {
            assert_eq!(t.route(Forward::to(fd, p1)), Forward::to(fd, p1));
        }
        assert!(t.pending.is_empty(), "a refused destination is not retried");

        // A leg socket bound as the relay binds them: exclusively, then SO_REUSEPORT. Nobody
        // else (without the flag, or before it was set) could have joined its port.
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        s.bind(&addr("127.0.0.1:0").into()).unwrap();
        let leg: UdpSocket = s.into();
        share_port(&leg).unwrap();
        let fd = leg.as_raw_fd();
        t.on_register(&leg, 6);
        streak(&mut t, fd, p1);
        for p in t.take_pending() {
            assert_eq!(p.token, 6);
            assert!(p.twin.is_none());
            t.settle(p.connect(&leg));
        }
        assert_eq!(t.open(), 1);
        let f = t.route(Forward::to(fd, p1));
        assert!(f.connected && f.fd != fd && f.to == p1, "{f:?}");
        // The twin shares the leg's port, is connected to peer 1, and peer 1's datagrams to
        // that port reach the twin; another source's reach the leg socket.
        let twin_fd = f.fd;
        let twin = t.by_fd[fd as usize].twin.as_ref().unwrap();
        assert_eq!(twin.socket.local_addr().unwrap(), leg.local_addr().unwrap());
        assert_eq!(twin.socket.peer_addr().unwrap(), p1);
        twin.socket.send(b"hello").unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer1.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"hello"[..], leg.local_addr().unwrap())
        );
        peer1.send_to(b"from p1", from).unwrap();
        peer2.send_to(b"from p2", from).unwrap();
        twin.socket.set_nonblocking(false).unwrap();
        let n = twin.socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"from p1");
        let (n, src) = leg.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], src), (&b"from p2"[..], p2));

        // The leg now sends to peer 2 (a new latch): after a streak the twin moves there.
        for _ in 0..STREAK {
            assert!(!t.route(Forward::to(fd, p2)).connected);
        }
        for p in t.take_pending() {
            assert!(p.twin.is_some(), "the twin to re-target");
            t.settle(p.connect(&leg));
        }
        let f = t.route(Forward::to(fd, p2));
        assert!(
            f.connected && f.fd == twin_fd,
            "same socket, re-targeted: {f:?}"
        );
        assert!(!t.route(Forward::to(fd, p1)).connected);
        // Deregistering hands the twin back for closing and forgets the socket.
        assert!(t.on_deregister(fd).is_some());
        assert_eq!(t.open(), 0);
        assert_eq!(t.route(Forward::to(fd, p2)), Forward::to(fd, p2));

        // Near the descriptor limit no twin is kept: the leg stays on its unconnected socket.
        let mut t = Twins {
            fd_ceiling: 3,
            ..Twins::new()
        };
        t.on_register(&leg, 7);
        streak(&mut t, fd, p1);
        for p in t.take_pending() {
            let s = p.connect(&leg);
            assert!(matches!(s.result, Err(None)), "refused at the ceiling");
            t.settle(s);
        }
        assert_eq!(t.open(), 0);
        assert!(!t.route(Forward::to(fd, p1)).connected);
    }
}
