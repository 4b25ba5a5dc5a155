//! The portable backend: level-triggered epoll, `recvmmsg` in bounded chunks per ready socket, and
//! one `sendmmsg` per outgoing socket per flush.
//!
//! At RTP rates a socket holds one datagram when it turns readable, so batching comes from
//! waiting: while many sockets turn readable per [`WINDOW`], a turn sleeps out the window and
//! then serves everything ready with one `epoll_wait` (see `MmsgBackend::coalesced_wait`).
//!
//! All buffers, iovecs, `mmsghdr`s and socket addresses live in fixed pools allocated by
//! [`MmsgBackend::new`]; a received datagram is sent from the very buffer it was received into.
//! A socket that still has data after [`MAX_PER_SOCKET_PER_TURN`] datagrams simply stays readable
//! (level-triggered), so epoll reports it again next turn: no socket is ever given up on.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::{
    new_eventfd, sockaddr_from_bytes, sockaddr_write, Backend, BackendStats, Handler, RawAddr,
    MAX_DATAGRAM, MAX_PER_SOCKET_PER_TURN, SOCKADDR_LEN,
};

/// Datagram buffers per backend: how many received datagrams can wait for a flush.
const POOL: usize = 1024;
/// Most epoll events taken per wait.
const EPOLL_BATCH: usize = 256;
/// The epoll data marking the wake eventfd (never a slot key: slot keys have generation bits).
const WAKE_KEY: u64 = u64::MAX;
/// The coalescing window: while at least [`COALESCE_FROM`] sockets turned readable per window
/// lately, a turn first sleeps until a window has passed since the previous wait returned, then
/// collects everything ready at once, instead of waking for the first readable socket.
pub const WINDOW: Duration = Duration::from_micros(500);
/// Readable sockets per [`WINDOW`] from which coalescing pays for its timer wake-up.
pub const COALESCE_FROM: f64 = 4.0;

/// One registered socket.
#[derive(Clone, Copy)]
struct Slot {
    fd: RawFd,
    token: u64,
    generation: u32,
    active: bool,
}

/// A forward waiting for the flush: out of `fd`, the datagram in pool entry `idx`, `len` bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    fd: RawFd,
    idx: u32,
    len: u32,
    to_len: libc::socklen_t,
}

/// epoll + `recvmmsg`/`sendmmsg` backend.
pub struct MmsgBackend {
    epoll: OwnedFd,
    wake: OwnedFd,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_fd: HashMap<RawFd, u32>,
    events: Box<[libc::epoll_event]>,
    bufs: Box<[u8]>,
    src: Box<[RawAddr]>,
    dst: Box<[RawAddr]>,
    iovs: Box<[libc::iovec]>,
    msgs: Box<[libc::mmsghdr]>,
    queue: Vec<Queued>,
    used: usize,
    /// Sockets turning readable per [`WINDOW`] lately (moving average over turns).
    per_window: f64,
    /// When the previous wait returned.
    last_wait: Option<Instant>,
    /// The coalescing window ([`WINDOW`]; zero: never coalesce).
    window: Duration,
    stats: BackendStats,
}

// SAFETY: the raw pointers inside the preallocated iovecs/mmsghdrs only ever point into this
// backend's own boxed pools and are rewritten before each system call; nothing is shared with
// another thread, so moving the whole backend to the worker thread is sound.
unsafe impl Send for MmsgBackend {}

/// Maps a -1 return to the thread's last OS error.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Converts a wait timeout to epoll's milliseconds, rounding up so short waits do not spin.
fn epoll_timeout_ms(timeout: Duration) -> libc::c_int {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}

/// An all-zero `mmsghdr` (null pointers, zero lengths).
fn zero_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is a plain C struct of integers and raw pointers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

impl MmsgBackend {
    /// Creates the epoll instance, the wake eventfd and all buffer pools.
    pub fn new() -> io::Result<Self> {
        Self::with_window(WINDOW)
    }

    /// [`MmsgBackend::new`] with another coalescing window (zero: every wait ends at the first
    /// readable socket).
    pub fn with_window(window: Duration) -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers; the result is checked.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epfd` is a fresh descriptor owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };
        let wake = new_eventfd()?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_KEY,
        };
        // SAFETY: both fds are valid and `ev` is a valid epoll_event for the call's duration.
        cvt(unsafe {
            libc::epoll_ctl(
                epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                wake.as_raw_fd(),
                &mut ev,
            )
        })?;
        let iov0 = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Ok(Self {
            epoll,
            wake,
            slots: Vec::new(),
            free: Vec::new(),
            by_fd: HashMap::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EPOLL_BATCH].into_boxed_slice(),
            bufs: vec![0u8; POOL * MAX_DATAGRAM].into_boxed_slice(),
            src: vec![RawAddr::ZERO; POOL].into_boxed_slice(),
            dst: vec![RawAddr::ZERO; POOL].into_boxed_slice(),
            iovs: vec![iov0; POOL].into_boxed_slice(),
            msgs: vec![zero_mmsghdr(); POOL].into_boxed_slice(),
            queue: Vec::with_capacity(POOL),
            used: 0,
            per_window: 0.0,
            last_wait: None,
            window,
            stats: BackendStats::default(),
        })
    }

    /// Clears the wake eventfd (reading it resets the counter).
    fn drain_wake(&mut self) {
        let mut v = 0u64;
        // SAFETY: reads at most 8 bytes into `v`, which is 8 bytes and live for the call.
        let _ = unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                std::ptr::from_mut(&mut v).cast(),
                size_of::<u64>(),
            )
        };
        self.stats.syscalls += 1;
    }

    /// One `epoll_wait` into `events`; returns the number of events.
    fn epoll_wait(&mut self, timeout: Duration) -> io::Result<usize> {
        // SAFETY: `events` holds EPOLL_BATCH writable epoll_events.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                EPOLL_BATCH as libc::c_int,
                epoll_timeout_ms(timeout),
            )
        };
        self.stats.syscalls += 1;
        usize::try_from(cvt(n)?).map_err(io::Error::other)
    }

    /// Waits up to `timeout` for readable sockets. While sockets turn readable at a rate worth
    /// batching ([`COALESCE_FROM`] per [`WINDOW`]), it first sleeps out the rest of the window
    /// and then takes what is ready, so one wake-up serves many sockets; a datagram is held at
    /// most about one window (a command from the control plane too: the wake eventfd is read
    /// after the sleep). Otherwise (low rates) the first readable socket ends the wait.
    fn coalesced_wait(&mut self, timeout: Duration) -> io::Result<usize> {
        let start = Instant::now();
        let mut n = 0;
        let mut waited = false;
        if !timeout.is_zero() && !self.window.is_zero() && self.per_window >= COALESCE_FROM {
            if let Some(last) = self.last_wait {
                let due = last + self.window.min(timeout);
                if due > start {
                    std::thread::sleep(due - start);
                    self.stats.syscalls += 1;
                }
            }
            n = self.epoll_wait(Duration::ZERO)?;
            waited = n > 0;
        }
        if !waited {
            // Nothing yet (or not batching): wait for the first readable socket as usual.
            n = self.epoll_wait(timeout.saturating_sub(start.elapsed()))?;
        }
        let now = Instant::now();
        if let Some(last) = self.last_wait.replace(now) {
            let dt = now.duration_since(last).as_secs_f64();
            if dt > 0.0 {
                // A socket's event is one wake-up's worth of datagrams at RTP rates.
                let seen = n as f64 * self.window.as_secs_f64() / dt;
                self.per_window = 0.75 * self.per_window + 0.25 * seen;
            }
        }
        Ok(n)
    }

    /// Reads up to [`MAX_PER_SOCKET_PER_TURN`] datagrams from `slot`, handling each.
    fn serve(&mut self, slot: Slot, handler: &mut Handler<'_>) -> usize {
        let mut left = MAX_PER_SOCKET_PER_TURN;
        let mut got = 0;
        while left > 0 {
            if self.used == POOL {
                self.flush();
            }
            let start = self.used;
            let n = left.min(POOL - start);
            let base = self.bufs.as_mut_ptr();
            for i in start..start + n {
                // The pool pointers are rebuilt per call, so they never go stale.
                self.iovs[i] = libc::iovec {
                    // `i * MAX_DATAGRAM` is within `bufs` (POOL * MAX_DATAGRAM bytes).
                    iov_base: base.wrapping_add(i * MAX_DATAGRAM).cast(),
                    iov_len: MAX_DATAGRAM,
                };
                let h = &mut self.msgs[i].msg_hdr;
                h.msg_name = std::ptr::from_mut(&mut self.src[i]).cast();
                h.msg_namelen = SOCKADDR_LEN as libc::socklen_t;
                h.msg_iov = std::ptr::from_mut(&mut self.iovs[i]);
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
                self.msgs[i].msg_len = 0;
            }
            // SAFETY: `msgs[start..start + n]` are initialised mmsghdrs whose name/iov pointers
            // point into this backend's pools (`src`, `iovs`, `bufs`) with the lengths given;
            // none of those pools is touched by Rust code until the call returns.
            let r = unsafe {
                libc::recvmmsg(
                    slot.fd,
                    self.msgs.as_mut_ptr().add(start),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            self.stats.syscalls += 1;
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => {}
                    io::ErrorKind::Interrupted => continue,
                    _ => self.stats.recv_errors += 1,
                }
                break;
            }
            let r = r as usize;
            for i in start..start + r {
                let h = &self.msgs[i].msg_hdr;
                let len = self.msgs[i].msg_len as usize;
                if h.msg_flags & libc::MSG_TRUNC != 0 || len > MAX_DATAGRAM {
                    self.stats.recv_errors += 1;
                    continue;
                }
                let name_len = (h.msg_namelen as usize).min(SOCKADDR_LEN);
                let Some(from) = sockaddr_from_bytes(&self.src[i].bytes[..name_len]) else {
                    self.stats.recv_errors += 1;
                    continue;
                };
                self.stats.received += 1;
                got += 1;
                let off = i * MAX_DATAGRAM;
                let buf = &mut self.bufs[off..off + MAX_DATAGRAM];
                if let Some((fwd, len)) = handler(slot.token, from, buf, len) {
                    let len = len.min(MAX_DATAGRAM);
                    // A connected socket sends without an address (length 0: no msg_name).
                    let to_len = if fwd.connected {
                        0
                    } else {
                        sockaddr_write(&fwd.to, &mut self.dst[i])
                    };
                    self.queue.push(Queued {
                        fd: fwd.fd,
                        idx: i as u32,
                        len: len as u32,
                        to_len,
                    });
                }
            }
            self.used = start + r;
            left -= r;
            if r < n {
                break; // drained
            }
        }
        got
    }

    /// Sends every queued forward, one `sendmmsg` run per outgoing socket, and frees the pool.
    fn flush(&mut self) {
        // (fd, idx) order keeps each socket's datagrams in arrival order; no allocation.
        self.queue.sort_unstable();
        let count = self.queue.len();
        let base = self.bufs.as_mut_ptr();
        for (k, q) in self.queue.iter().enumerate() {
            let i = q.idx as usize;
            // Reuse the receive iovec/mmsghdr array positions by queue order for the sends.
            self.iovs[k] = libc::iovec {
                iov_base: base.wrapping_add(i * MAX_DATAGRAM).cast(),
                iov_len: q.len as usize,
            };
        }
        // Receive iovecs for entries < count are overwritten above; that's fine: they were
        // consumed already and are rebuilt before the next receive.
        for k in 0..count {
            let q = self.queue[k];
            let h = &mut self.msgs[k].msg_hdr;
            h.msg_name = if q.to_len == 0 {
                std::ptr::null_mut()
            } else {
                std::ptr::from_mut(&mut self.dst[q.idx as usize]).cast()
            };
            h.msg_namelen = q.to_len;
            h.msg_iov = std::ptr::from_mut(&mut self.iovs[k]);
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.msgs[k].msg_len = 0;
        }
        let mut a = 0;
        while a < count {
            let fd = self.queue[a].fd;
            let mut b = a;
            while b < count && self.queue[b].fd == fd {
                b += 1;
            }
            let mut at = a;
            while at < b {
                // SAFETY: `msgs[at..b]` are initialised above with pointers into `dst`, `iovs`
                // and `bufs`, all owned by this backend and untouched during the call.
                let r = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.msgs.as_mut_ptr().add(at),
                        (b - at) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                self.stats.syscalls += 1;
                if r < 0 {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::Interrupted => continue,
                        io::ErrorKind::WouldBlock => {
                            // Socket buffer full: the rest would fail the same way; drop them.
                            self.stats.send_errors += (b - at) as u64;
                            at = b;
                        }
                        _ => {
                            // This datagram is refused (bad address, unreachable...); skip it.
                            self.stats.send_errors += 1;
                            at += 1;
                        }
                    }
                } else if r == 0 {
                    self.stats.send_errors += (b - at) as u64;
                    at = b;
                } else {
                    self.stats.sent += r as u64;
                    at += r as usize;
                }
            }
            a = b;
        }
        self.queue.clear();
        self.used = 0;
    }
}

impl Backend for MmsgBackend {
    fn name(&self) -> &'static str {
        "mmsg"
    }

    fn register(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        if self.by_fd.contains_key(&fd) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "socket already registered",
            ));
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len())
                    .map_err(|_| io::Error::other("too many sockets"))?;
                self.slots.push(Slot {
                    fd: -1,
                    token: 0,
                    generation: 0,
                    active: false,
                });
                i
            }
        };
        let slot = &mut self.slots[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let key = (u64::from(slot.generation) << 32) | u64::from(idx);
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: key,
        };
        // SAFETY: `ev` is a valid epoll_event for the call; bad fds are reported as errors.
        let r = cvt(unsafe {
            libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev)
        });
        if let Err(e) = r {
            self.free.push(idx);
            return Err(e);
        }
        *slot = Slot {
            fd,
            token,
            generation: slot.generation,
            active: true,
        };
        self.by_fd.insert(fd, idx);
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(idx) = self.by_fd.remove(&fd) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "socket not registered",
            ));
        };
        self.slots[idx as usize].active = false;
        self.free.push(idx);
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is valid for the call (ignored by EPOLL_CTL_DEL on modern kernels).
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })
            .map(drop)
    }

    fn turn(&mut self, timeout: Duration, handler: &mut Handler<'_>) -> io::Result<usize> {
        self.stats.turns += 1;
        let n = match self.coalesced_wait(timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut got = 0;
        for e in 0..n {
            let key = self.events[e].u64;
            if key == WAKE_KEY {
                self.drain_wake();
                continue;
            }
            let Some(&slot) = self.slots.get((key & 0xffff_ffff) as usize) else {
                continue;
            };
            if !slot.active || u64::from(slot.generation) != key >> 32 {
                continue; // deregistered since the wait returned
            }
            got += self.serve(slot, handler);
        }
        self.flush();
        Ok(got)
    }

    fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}
