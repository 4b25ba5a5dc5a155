//! The io_uring backend: one multishot `RecvMsg` per socket into a provided buffer ring, one
//! `Send` with a destination address per forward straight from the receive buffer, all of a turn's
//! sends in one submit, and a batched wait (about as many datagrams as arrive per `min_wait`
//! window, woken by the one that completes the batch) so low packet rates coalesce into few system
//! calls and wake-ups.
//!
//! Every `user_data` carries its kind in the top 8 bits (`KIND_SHIFT`): receive completions
//! carry the socket's slot index and generation (so completions still in flight for a removed
//! socket are recognised and dropped), send completions carry the buffer id. A multishot receive
//! that ends (no `IORING_CQE_F_MORE`: buffer ring ran dry, error) is re-armed at the start of the
//! next turn, so no socket is ever given up on.
//!
//! The ring is created disabled and enabled by the first [`Backend::turn`] or
//! [`Backend::deregister`]; that thread becomes the ring's single issuer and must own the backend
//! from then on (the worker does).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{Fd, Fixed, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

use super::{
    new_eventfd, sockaddr_from_bytes, sockaddr_write, Backend, BackendStats, Forward, Handler,
    RawAddr, MAX_DATAGRAM, SOCKADDR_LEN,
};

/// Bit position of the completion kind in `user_data`.
const KIND_SHIFT: u32 = 56;
/// Completion of a socket's multishot receive.
const KIND_RECV: u64 = 1;
/// Completion of a forward's send.
const KIND_SEND: u64 = 2;
/// Completion of the wake eventfd read.
const KIND_WAKE: u64 = 3;
/// Completion of a cancel request (ignored).
const KIND_CANCEL: u64 = 4;
/// Slot generations are kept to 24 bits so they fit between the kind and the slot index.
const GEN_MASK: u32 = 0x00ff_ffff;
/// The provided buffer group id.
const BGID: u16 = 0;
/// Size of `struct io_uring_recvmsg_out`, which precedes the name in each receive buffer.
const RECV_OUT_HDR: usize = 16;
/// One provided buffer: the recvmsg header, the source address and a full datagram.
const BUF_SIZE: usize = (RECV_OUT_HDR + SOCKADDR_LEN + MAX_DATAGRAM).next_multiple_of(64);
/// Completions copied out of the completion queue at a time.
const CQE_BATCH: usize = 256;
/// Most sockets in the registered file table (fewer if `RLIMIT_NOFILE` is lower); sockets beyond
/// it are used by descriptor, which costs a file lookup per operation.
const MAX_FIXED_FILES: u32 = 65_536;
/// `fixed_of_fd` entry of a descriptor that is not in the registered file table.
const NOT_FIXED: u32 = u32::MAX;
/// Longest a batching wait holds out for its batch when fewer datagrams come than the recent rate
/// promised. Longer than a scheduler tick (4 ms at 250 Hz), so arming and cancelling its timer
/// does not reprogram the timer hardware each turn, which a sub-tick timer does: in a VM every
/// reprogramming is an exit (measured on the dev VM: a thread woken every 300 µs by a datagram
/// pays about 15 µs of CPU per wake-up with no short timer armed, 22 µs with one armed and
/// cancelled, 30 µs when a timer wakes it).
const BATCH_BACKSTOP: Duration = Duration::from_millis(5);

/// Tuning of the io_uring backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UringConfig {
    /// Receive buffers in the provided buffer ring (a power of two, at most 32768).
    pub buffers: u16,
    /// Most completions a wait gathers before returning (1 disables batching).
    pub wait_batch: u32,
    /// The batching window: a wait asks for about as many receive wake-ups (at RTP rates:
    /// datagrams) as came per window lately (at most `wait_batch`), so it is woken by the
    /// datagram that completes the batch.
    pub min_wait: Duration,
    /// Longest a wait holds a datagram back while its batch fills: once this much has passed,
    /// the wait returns as soon as anything came (kernel 6.12 `min_wait_usec`; zero, or an older
    /// kernel: only the 5 ms backstop bounds it).
    pub max_hold: Duration,
}

impl Default for UringConfig {
    fn default() -> Self {
        Self {
            buffers: 1024,
            wait_batch: 64,
            // At 1000 streams x 50 pps on the dev VM a 500 µs window (batches of about 22, each
            // wait ended by the datagram completing it) puts the median packet about 0.32 ms
            // late, as the former timer-ended 300 µs wait did, for about 9 % less CPU per packet;
            // a 300 µs window cuts the median to about 0.2 ms for the CPU the timer wait cost.
            min_wait: Duration::from_micros(500),
            // A few hundred µs: above the window, so a steady rate's batches fill before it.
            max_hold: Duration::from_micros(700),
        }
    }
}

/// An anonymous private memory mapping (page-aligned, zeroed), unmapped on drop.
struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

impl Region {
    /// Maps `len` bytes.
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: an anonymous mapping with a null hint touches no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap null"))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`, unmapped only here.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// `struct io_uring_buf`: one entry of the provided buffer ring (entry 0's `resv` is the tail).
#[repr(C)]
struct BufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// One registered socket.
#[derive(Clone, Copy)]
struct Slot {
    fd: RawFd,
    token: u64,
    generation: u32,
    active: bool,
    /// A multishot receive for this registration is in the kernel.
    armed: bool,
    /// The socket sits in the registered file table at this slot's index.
    fixed: bool,
}

/// io_uring backend (multishot receive, provided buffer ring, batched sends).
pub struct UringBackend {
    // Declared first so it is dropped (and its requests torn down) before the memory below.
    ring: IoUring,
    cfg: UringConfig,
    bufs: Region,
    buf_ring: Region,
    br_tail: u16,
    recv_msg: Box<libc::msghdr>,
    /// Destination address of each buffer id's send; stays untouched while that send is in
    /// flight (the kernel reads it when it issues the send).
    send_to: Box<[RawAddr]>,
    wake: OwnedFd,
    wake_buf: Box<u64>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_fd: HashMap<RawFd, u32>,
    /// Per descriptor number, its index in the registered file table (or [`NOT_FIXED`]), so a
    /// send finds it without hashing.
    fixed_of_fd: Vec<u32>,
    /// Size of the registered file table (0: none).
    fixed_cap: u32,
    /// Sockets whose multishot receive ended, oldest first: re-armed in this order, so a socket
    /// that ran out of buffers is served before one that ran out later (round robin).
    rearm: VecDeque<u32>,
    cqes: Box<[(u64, i32, u32)]>,
    enabled: bool,
    wake_armed: bool,
    /// Receive wake-ups per `min_wait` window lately (moving average over turns).
    per_window: f64,
    /// Receive wake-ups seen since the last wait (see [`UringBackend::on_recv`]).
    wakeups: usize,
    /// Slot of the last receive completion, to tell a socket's next datagram from a new wake-up.
    last_recv: usize,
    /// When the previous turn's wait returned.
    last_wait: Option<Instant>,
    /// The batch the last wait asked for.
    last_batch: u32,
    /// `max_hold` in µs when the kernel supports it (0: not used).
    hold_us: u32,
    stats: BackendStats,
}

// SAFETY: the raw pointers inside the receive msghdr and the mappings point only into memory this
// backend owns; the ring is driven only by the thread that owns the backend (see module docs).
unsafe impl Send for UringBackend {}

/// True for the errors a wait may end with that are not failures (timeout, signal, busy CQ).
fn benign_wait_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
    )
}

/// An all-zero `msghdr`.
fn zero_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is a plain C struct of integers and raw pointers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

impl UringBackend {
    /// Opens an io_uring backend with the default [`UringConfig`]; fails if io_uring is unavailable.
    pub fn new() -> io::Result<Self> {
        Self::with_config(UringConfig::default())
    }

    /// Opens an io_uring backend with the given tuning; fails if io_uring is unavailable.
    pub fn with_config(cfg: UringConfig) -> io::Result<Self> {
        let n = cfg.buffers;
        if n == 0 || !n.is_power_of_two() || n > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffers must be a power of two in 1..=32768",
            ));
        }
        let entries = u32::from(n).max(64);
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_r_disabled()
            .setup_submit_all()
            .setup_cqsize(entries * 4)
            .setup_clamp()
            .build(entries)
            .or_else(|_| {
                // Pre-6.1 kernels: no deferred task running; still a working ring.
                IoUring::builder()
                    .setup_r_disabled()
                    .setup_cqsize(entries * 4)
                    .setup_clamp()
                    .build(entries)
            })?;
        let bufs = Region::new(usize::from(n) * BUF_SIZE)?;
        let buf_ring = Region::new(usize::from(n) * size_of::<BufEntry>())?;
        let mut me = Self {
            ring,
            cfg,
            bufs,
            buf_ring,
            br_tail: 0,
            recv_msg: Box::new(zero_msghdr()),
            send_to: vec![RawAddr::ZERO; usize::from(n)].into_boxed_slice(),
            wake: new_eventfd()?,
            wake_buf: Box::new(0),
            slots: Vec::new(),
            free: Vec::new(),
            by_fd: HashMap::new(),
            fixed_of_fd: Vec::new(),
            fixed_cap: 0,
            rearm: VecDeque::new(),
            cqes: vec![(0, 0, 0); CQE_BATCH].into_boxed_slice(),
            enabled: false,
            wake_armed: false,
            per_window: 0.0,
            wakeups: 0,
            last_recv: usize::MAX,
            last_wait: None,
            last_batch: 1,
            hold_us: 0,
            stats: BackendStats::default(),
        };
        me.recv_msg.msg_namelen = SOCKADDR_LEN as libc::socklen_t;
        for bid in 0..n {
            me.give_back(bid);
        }
        // A registered file table saves a file lookup and reference count per receive and send;
        // without one (old kernel, low RLIMIT_NOFILE) sockets are used by descriptor.
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(0, |(soft, _)| soft);
        let cap = u32::try_from(nofile.min(u64::from(MAX_FIXED_FILES))).unwrap_or(0);
        if cap > 0 && me.ring.submitter().register_files_sparse(cap).is_ok() {
            me.fixed_cap = cap;
        }
        // SAFETY: `buf_ring` is a page-aligned mapping of `n` entries owned by `me`, which
        // outlives the ring (the ring field is dropped first).
        unsafe {
            me.ring.submitter().register_buf_ring_with_flags(
                me.buf_ring.ptr.as_ptr() as u64,
                n,
                BGID,
                0,
            )?;
        }
        if me.ring.params().is_feature_min_timeout() {
            me.hold_us = u32::try_from(cfg.max_hold.as_micros()).unwrap_or(u32::MAX);
        }
        Ok(me)
    }

    /// The buffer ring mask (entries - 1).
    fn mask(&self) -> u16 {
        self.cfg.buffers - 1
    }

    /// Returns buffer `bid` to the provided buffer ring and publishes the new tail.
    fn give_back(&mut self, bid: u16) {
        if bid >= self.cfg.buffers {
            return;
        }
        let i = usize::from(self.br_tail & self.mask());
        let base = self.buf_ring.ptr.as_ptr().cast::<BufEntry>();
        let addr = self.bufs.ptr.as_ptr() as u64 + (usize::from(bid) * BUF_SIZE) as u64;
        // SAFETY: entry `i` < entries lies in the ring mapping; it sits at the unpublished tail,
        // so the kernel does not read it yet. Fields are written through raw pointers so entry 0's
        // `resv` (the tail the kernel reads) is never covered by a Rust reference.
        unsafe {
            let e = base.add(i);
            std::ptr::addr_of_mut!((*e).addr).write(addr);
            std::ptr::addr_of_mut!((*e).len).write(BUF_SIZE as u32);
            std::ptr::addr_of_mut!((*e).bid).write(bid);
        }
        self.br_tail = self.br_tail.wrapping_add(1);
        // SAFETY: the tail is the u16 at offset 14 of entry 0 (`resv`), naturally aligned, in our
        // mapping; the kernel only reads it (acquire), so an atomic release store is the protocol.
        let tail = unsafe { &*base.cast::<u8>().add(14).cast::<AtomicU16>() };
        tail.store(self.br_tail, Ordering::Release);
    }

    /// Pushes one SQE, submitting what is queued first if the submission queue is full.
    ///
    /// # Safety
    /// Whatever `e` points to must stay valid until its completion arrives.
    unsafe fn push(&mut self, e: &squeue::Entry) -> io::Result<()> {
        for _ in 0..4 {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            self.stats.syscalls += 1;
            if let Err(err) = self.ring.submit() {
                if !benign_wait_error(&err) {
                    return Err(err);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "io_uring submission queue stays full",
        ))
    }

    /// Enables the ring on first use (making this thread its issuer) and arms the wake read.
    fn ensure_enabled(&mut self) -> io::Result<()> {
        if !self.enabled {
            self.ring.submitter().register_enable_rings()?;
            self.enabled = true;
        }
        if !self.wake_armed {
            let buf = std::ptr::from_mut(&mut *self.wake_buf).cast::<u8>();
            let e = opcode::Read::new(Fd(self.wake.as_raw_fd()), buf, 8)
                .build()
                .user_data(KIND_WAKE << KIND_SHIFT);
            // SAFETY: `wake_buf` is boxed (stable address) and owned by `self`; it is not touched
            // again until this read completes, and the ring is torn down before it is freed.
            unsafe { self.push(&e)? };
            self.wake_armed = true;
        }
        Ok(())
    }

    /// Arms a multishot receive for every registered socket whose previous one ended.
    fn rearm_all(&mut self) -> io::Result<()> {
        while let Some(idx) = self.rearm.pop_front() {
            let Some(s) = self.slots.get(idx as usize).copied() else {
                continue;
            };
            if !s.active || s.armed {
                continue;
            }
            let ud = (KIND_RECV << KIND_SHIFT)
                | (u64::from(s.generation & GEN_MASK) << 32)
                | u64::from(idx);
            let e = if s.fixed {
                opcode::RecvMsgMulti::new(Fixed(idx), &*self.recv_msg, BGID).build()
            } else {
                opcode::RecvMsgMulti::new(Fd(s.fd), &*self.recv_msg, BGID).build()
            }
            .user_data(ud);
            // SAFETY: `recv_msg` is boxed and lives as long as the ring; the receive buffers come
            // from the registered buffer ring, whose memory also outlives the ring.
            if let Err(err) = unsafe { self.push(&e) } {
                self.rearm.push_front(idx); // keep it for the next turn: never give up on a socket
                return Err(err);
            }
            self.slots[idx as usize].armed = true;
        }
        Ok(())
    }

    /// Waits up to `timeout` for a batch of completions (submitting everything queued).
    ///
    /// The batch is the number of receive wake-ups (sockets turning readable; one per datagram
    /// at RTP rates) per `min_wait` window lately, so the wait normally ends when the datagram
    /// completing it arrives (woken by the sender's side)
    /// rather than by a timer, which costs a VM far more (see [`BATCH_BACKSTOP`]). Should the
    /// batch not fill, the wait ends after [`BATCH_BACKSTOP`]; at low rates (a batch of one) any
    /// datagram ends it.
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let batch = if timeout.is_zero() || self.cfg.min_wait.is_zero() {
            1
        } else {
            // Slightly under the estimate, so a batch fills before the rate's noise makes it wait.
            // Never more than a quarter of the receive buffers: a batch the buffer ring cannot
            // hold (receives stop with ENOBUFS until the next turn re-arms them) would never fill.
            let most = self
                .cfg
                .wait_batch
                .min(u32::from(self.cfg.buffers / 4))
                .max(1);
            let n = (self.per_window * 0.9).floor();
            if n >= f64::from(most) {
                most
            } else if n >= 1.0 {
                n as u32
            } else {
                1
            }
        };
        self.last_batch = batch;
        let timeout = if batch > 1 {
            timeout.min(BATCH_BACKSTOP)
        } else {
            timeout
        };
        let ts = Timespec::from(timeout);
        let mut args = SubmitArgs::new().timespec(&ts);
        if batch > 1 && self.hold_us > 0 {
            args = args.min_wait_usec(self.hold_us);
        }
        self.stats.syscalls += 1;
        match self
            .ring
            .submitter()
            .submit_with_args(batch as usize, &args)
        {
            Ok(_) => Ok(()),
            Err(e) if benign_wait_error(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether this kernel lets a wait's hold be bounded by [`UringConfig::max_hold`]
    /// (`IORING_FEAT_MIN_TIMEOUT`, Linux 6.12) and the configuration asks for it.
    pub fn bounds_hold(&self) -> bool {
        self.hold_us > 0
    }

    /// Updates the wake-ups-per-window estimate with a wait after which `got` receive wake-ups
    /// were handled.
    ///
    /// A moving average while batches fill; a batch that did not fill (the rate fell, the wait
    /// ran to its backstop) sets the estimate to what was seen, so only one wait runs long.
    fn learn_rate(&mut self, got: usize) {
        // (A wait cut short by max_hold also saw fewer than its batch: the same reset applies.)
        let now = Instant::now();
        if let Some(prev) = self.last_wait.replace(now) {
            let dt = now.duration_since(prev).as_secs_f64();
            if dt > 0.0 {
                let seen = got as f64 * self.cfg.min_wait.as_secs_f64() / dt;
                self.per_window = if got < self.last_batch as usize {
                    seen
                } else {
                    0.75 * self.per_window + 0.25 * seen
                };
            }
        }
    }

    /// Handles every completion currently in the completion queue; returns datagrams received.
    ///
    /// Never stops half-way through a batch: a failure to queue a follow-up (send, re-arm) is
    /// accounted for where it happens and retried or dropped, never leaks a buffer.
    fn drain(&mut self, handler: &mut Handler<'_>) -> usize {
        let mut got = 0;
        // Bounded: at most a few completion queues' worth per drain.
        let mut budget = self.ring.params().cq_entries() as usize * 2;
        while budget > 0 {
            let mut n = 0;
            for cqe in self.ring.completion() {
                self.cqes[n] = (cqe.user_data(), cqe.result(), cqe.flags());
                n += 1;
                if n == self.cqes.len() {
                    break;
                }
            }
            if n == 0 {
                break;
            }
            budget = budget.saturating_sub(n);
            for i in 0..n {
                let (ud, res, flags) = self.cqes[i];
                match ud >> KIND_SHIFT {
                    KIND_RECV => got += self.on_recv(ud, res, flags, handler),
                    KIND_SEND => {
                        if res < 0 {
                            self.stats.send_errors += 1;
                        } else {
                            self.stats.sent += 1;
                        }
                        self.give_back((ud & 0xffff) as u16);
                    }
                    KIND_WAKE => {
                        self.wake_armed = false;
                        // On failure the next turn's `ensure_enabled` re-arms it.
                        let _ = self.ensure_enabled();
                    }
                    _ => {} // KIND_CANCEL and anything unknown
                }
            }
        }
        got
    }

    /// Handles one receive completion; returns 1 if it delivered a datagram to the handler.
    fn on_recv(&mut self, ud: u64, res: i32, flags: u32, handler: &mut Handler<'_>) -> usize {
        let idx = (ud & 0xffff_ffff) as usize;
        // The kernel counts a wait's batch in receive wake-ups (one per socket that became
        // readable), each posting that socket's queued datagrams back to back: a run of
        // completions from one slot is one wake-up.
        if idx != self.last_recv {
            self.wakeups += 1;
            self.last_recv = idx;
        }
        let generation = ((ud >> 32) as u32) & GEN_MASK;
        let bid = cqueue::buffer_select(flags);
        let slot = match self.slots.get(idx) {
            Some(s) if s.active && s.generation & GEN_MASK == generation => Some(*s),
            _ => None, // a completion still in flight for a removed socket
        };
        if slot.is_some() && !cqueue::more(flags) {
            // The multishot ended (ring ran dry, error): re-arm next turn.
            self.slots[idx].armed = false;
            self.rearm.push_back(idx as u32);
        }
        let (Some(slot), Some(bid), Ok(len)) = (slot, bid, usize::try_from(res)) else {
            if let Some(b) = bid {
                self.give_back(b);
            }
            if slot.is_some() && res < 0 && res != -libc::ENOBUFS && res != -libc::ECANCELED {
                self.stats.recv_errors += 1;
            }
            return 0;
        };
        if bid >= self.cfg.buffers {
            return 0;
        }
        let start = usize::from(bid) * BUF_SIZE;
        // SAFETY: this completion hands buffer `bid` (BUF_SIZE bytes of `bufs`) to us; it is not
        // back in the ring until `give_back`, so nothing else touches it while this slice lives
        // (not past the handler and the send setup).
        let buf: &mut [u8] =
            unsafe { std::slice::from_raw_parts_mut(self.bufs.ptr.as_ptr().add(start), BUF_SIZE) };
        let parsed = RecvMsgOut::parse(&buf[..len.min(BUF_SIZE)], &self.recv_msg)
            .ok()
            .filter(|m| !m.is_payload_truncated() && !m.is_name_data_truncated());
        let Some(msg) = parsed else {
            self.stats.recv_errors += 1;
            self.give_back(bid);
            return 0;
        };
        let Some(from) = sockaddr_from_bytes(msg.name_data()) else {
            self.stats.recv_errors += 1;
            self.give_back(bid);
            return 0;
        };
        let payload = msg.payload_data();
        let at = payload.as_ptr() as usize - buf.as_ptr() as usize; // the rest is headroom
        let plen = payload.len();
        self.stats.received += 1;
        let room = &mut buf[at..];
        match handler(slot.token, from, room, plen) {
            None => self.give_back(bid),
            Some((fwd, n)) => {
                let n = n.min(room.len());
                self.send(bid, fwd, room.as_ptr(), n);
            }
        }
        1
    }

    /// Queues a send of `len` bytes at `data` (inside buffer `bid`) per `fwd`; if it cannot be
    /// queued the datagram is counted as a send error and its buffer goes straight back.
    ///
    /// A plain `Send` with a destination address, not `SendMsg`: the kernel then copies only the
    /// address, not a `msghdr` and an iovec, per packet; on a connected socket not even that.
    fn send(&mut self, bid: u16, fwd: Forward, data: *const u8, len: usize) {
        let addr = &mut self.send_to[usize::from(bid)];
        let (addr_ptr, addr_len) = if fwd.connected {
            (std::ptr::null(), 0)
        } else {
            let addr_len = sockaddr_write(&fwd.to, addr);
            (
                std::ptr::from_ref(&*addr).cast::<libc::sockaddr>(),
                addr_len,
            )
        };
        // Datagrams are at most MAX_DATAGRAM bytes, so the length always fits.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let fixed = usize::try_from(fwd.fd)
            .ok()
            .and_then(|i| self.fixed_of_fd.get(i).copied())
            .unwrap_or(NOT_FIXED);
        let e = if fixed == NOT_FIXED {
            opcode::Send::new(Fd(fwd.fd), data, len)
        } else {
            opcode::Send::new(Fixed(fixed), data, len)
        }
        .dest_addr(addr_ptr)
        .dest_addr_len(addr_len)
        .build()
        .user_data((KIND_SEND << KIND_SHIFT) | u64::from(bid));
        // SAFETY: address slot `bid` and buffer `bid` belong to this send until its completion
        // returns the buffer: the buffer id is not reused before then.
        if unsafe { self.push(&e) }.is_err() {
            self.stats.send_errors += 1;
            self.give_back(bid);
        }
    }
}

impl Drop for UringBackend {
    fn drop(&mut self) {
        if self.enabled {
            // Cancel everything still armed and wait (bounded) until every receive has posted
            // its last completion, so no request outlives the memory it points into and none
            // keeps a socket open after its descriptor is closed.
            let e = opcode::AsyncCancel2::new(io_uring::types::CancelBuilder::any())
                .build()
                .user_data(KIND_CANCEL << KIND_SHIFT);
            // SAFETY: a cancel request points at no memory of ours.
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                let mut armed = self.slots.iter().filter(|s| s.armed).count();
                let ts = Timespec::from(Duration::from_millis(10));
                for _ in 0..10 {
                    let args = SubmitArgs::new().timespec(&ts);
                    let _ = self.ring.submitter().submit_with_args(1, &args);
                    for cqe in self.ring.completion() {
                        if cqe.user_data() >> KIND_SHIFT == KIND_RECV && !cqueue::more(cqe.flags())
                        {
                            armed = armed.saturating_sub(1);
                        }
                    }
                    if armed == 0 {
                        break;
                    }
                }
            }
        }
        if self.fixed_cap > 0 {
            // Drop the table's references now rather than in the ring's asynchronous teardown,
            // so the sockets close (and their ports can be bound again) when the worker closes
            // their descriptors.
            let _ = self.ring.submitter().unregister_files();
        }
    }
}

impl Backend for UringBackend {
    fn name(&self) -> &'static str {
        "io_uring"
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
                    armed: false,
                    fixed: false,
                });
                i
            }
        };
        let fixed = idx < self.fixed_cap
            && self
                .ring
                .submitter()
                .register_files_update(idx, &[fd])
                .is_ok();
        let s = &mut self.slots[idx as usize];
        *s = Slot {
            fd,
            token,
            generation: s.generation.wrapping_add(1) & GEN_MASK,
            active: true,
            armed: false,
            fixed,
        };
        self.by_fd.insert(fd, idx);
        if let Ok(i) = usize::try_from(fd) {
            if self.fixed_of_fd.len() <= i {
                self.fixed_of_fd.resize(i + 1, NOT_FIXED);
            }
            self.fixed_of_fd[i] = if fixed { idx } else { NOT_FIXED };
        }
        // Room for every slot twice so re-arm bookkeeping never allocates on the packet path.
        let want = self.slots.len() * 2 + 1;
        self.rearm.reserve(want.saturating_sub(self.rearm.len()));
        self.rearm.push_back(idx); // armed by the next turn's submit
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(idx) = self.by_fd.remove(&fd) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "socket not registered",
            ));
        };
        let s = self.slots[idx as usize];
        self.slots[idx as usize].active = false;
        self.slots[idx as usize].armed = false;
        self.slots[idx as usize].fixed = false;
        self.free.push(idx);
        if let Some(f) = usize::try_from(fd)
            .ok()
            .and_then(|i| self.fixed_of_fd.get_mut(i))
        {
            *f = NOT_FIXED;
        }
        if s.armed {
            self.ensure_enabled()?;
            let ud = (KIND_RECV << KIND_SHIFT)
                | (u64::from(s.generation & GEN_MASK) << 32)
                | u64::from(idx);
            let e = opcode::AsyncCancel::new(ud)
                .build()
                .user_data(KIND_CANCEL << KIND_SHIFT);
            // SAFETY: a cancel request points at no memory of ours.
            unsafe { self.push(&e)? };
            self.stats.syscalls += 1;
            self.ring.submit()?;
        }
        if s.fixed {
            // Drops the table's reference, so closing the descriptor really closes the socket
            // (once the cancelled receive has completed).
            self.ring.submitter().register_files_update(idx, &[-1])?;
        }
        Ok(())
    }

    fn turn(&mut self, timeout: Duration, handler: &mut Handler<'_>) -> io::Result<usize> {
        self.ensure_enabled()?;
        self.stats.turns += 1;
        // Completions posted by the previous turn's submit (mostly sends: frees their buffers).
        let mut got = self.drain(handler);
        self.rearm_all()?;
        self.wait(if got > 0 { Duration::ZERO } else { timeout })?;
        self.wakeups = 0;
        self.last_recv = usize::MAX;
        got += self.drain(handler);
        self.learn_rate(self.wakeups);
        // This turn's sends (and any re-arms) go out in one submit.
        if !self.ring.submission().is_empty() {
            self.stats.syscalls += 1;
            if let Err(e) = self.ring.submit() {
                if !benign_wait_error(&e) {
                    return Err(e);
                }
            }
        }
        Ok(got)
    }

    fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}
