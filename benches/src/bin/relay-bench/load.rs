//! The load: RTP generator (paced or flat out) and the sink that times what arrives.

use super::*;

/// What the generator and sink need to know about the load.
#[derive(Clone, Copy, Debug)]
pub(super) struct Load {
    pub(super) clock: Clock,
    pub(super) rate: Rate,
    pub(super) payload: usize,
    pub(super) sink: SinkMode,
    pub(super) window_start: u64,
    pub(super) window_end: u64,
    /// Whether the generator sends SRTP (keyed by [`SRTP_KEY`]).
    pub(super) srtp: bool,
    /// Until when (ns) the generator sends flat out before pacing (`--overload`; 0: never).
    pub(super) overload_end: u64,
}

/// The SRTP suite and master key of `--srtp` runs (the generator's and the relay's leg A).
pub(super) const SRTP_SUITE: Suite = Suite::AesCm128HmacSha1_80;
pub(super) const SRTP_KEY: [u8; 30] = [0x5a; 30];

/// One SRTP sender per stream (a context follows a few SSRCs; each stream has its own), or
/// none for a plain run.
pub(super) fn srtp_senders(n: usize, srtp: bool) -> Vec<Context> {
    let key = MasterKey::from_bytes(&SRTP_KEY);
    if srtp {
        (0..n).map(|_| Context::new(SRTP_SUITE, &key)).collect()
    } else {
        Vec::new()
    }
}

/// Protects the packet `buf[..len]` of stream `i` when the run is SRTP; the length to send.
pub(super) fn seal(senders: &mut [Context], i: usize, buf: &mut [u8], len: usize) -> usize {
    match senders.get_mut(i) {
        Some(ctx) => ctx.protect_rtp(buf, len).unwrap_or(len),
        None => len,
    }
}

/// Writes an RTP packet for stream `i` into `buf` (header + payload; send time in payload[0..8]).
pub(super) fn fill_packet(buf: &mut [u8], i: usize, seq: u16, send_ns: u64) {
    if let Some(h) = buf.get_mut(..20) {
        h[0] = 0x80; // V=2, no padding, no extension, no CSRC
        h[1] = 0; // M=0, PT=0 (PCMU)
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&u32::from(seq).wrapping_mul(160).to_be_bytes());
        h[8..12].copy_from_slice(&(0x5eed_0000u32.wrapping_add(i as u32)).to_be_bytes());
        h[12..20].copy_from_slice(&send_ns.to_le_bytes());
    }
}

/// Generator totals.
pub(super) struct GenResult {
    /// Paced: how late each window packet went out against its schedule, ns.
    pub(super) late: Histogram,
    /// Packets accepted by the kernel with a send time in the window.
    pub(super) in_window: u64,
    /// Sends refused (buffer full and the like).
    pub(super) refused: u64,
    /// `--overload`: packets sent in the overload phase.
    pub(super) overload_sent: u64,
    /// Each stream's next RTP sequence number when the run ended.
    pub(super) next_seq: Vec<u16>,
}

impl GenResult {
    pub(super) fn new() -> Self {
        Self {
            late: Histogram::new(),
            in_window: 0,
            refused: 0,
            overload_sent: 0,
            next_seq: Vec::new(),
        }
    }
}

pub(super) fn generator(socks: &[UdpSocket], load: Load) -> GenResult {
    match load.rate {
        Rate::Max => {
            // Flat out, the generator would take CPU from the sink it shares a core with, and the
            // sink's drops would be charged to the forwarder: let it have only what the sink leaves.
            set_idle_priority();
            generate_max(socks, load)
        }
        // Paced: normal priority, and the sink is in SCHED_IDLE, so nothing on this CPU runs
        // between a packet's time stamp and its send.
        Rate::PerStream(pps) if load.overload_end > 0 => {
            // Flat out first (in SCHED_IDLE, as at --rate max, and staying there), then paced.
            set_idle_priority();
            let flood = Load {
                window_start: 0,
                window_end: load.overload_end,
                ..load
            };
            let over = generate_max(socks, flood);
            // Each stream's sequence numbers go on from the flood's, as a real sender's would.
            let mut res = generate_paced(socks, load, pps, &over.next_seq);
            res.overload_sent = over.in_window;
            res
        }
        Rate::PerStream(pps) => generate_paced(socks, load, pps, &[]),
    }
}

/// Puts the calling thread in `SCHED_IDLE` (allowed unprivileged), best effort.
#[allow(unsafe_code)] // nix 0.29 has no sched_setscheduler wrapper
pub(super) fn set_idle_priority() {
    let param = nix::libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` is a valid, initialised sched_param that
    // lives across the call, and the kernel only reads it.
    let _ = unsafe { nix::libc::sched_setscheduler(0, nix::libc::SCHED_IDLE, &param) };
}

/// Round-robins the streams, one sendmmsg batch of [`BATCH`] packets per stream socket.
pub(super) fn generate_max(socks: &[UdpSocket], load: Load) -> GenResult {
    let len = 12 + load.payload;
    let mut senders = srtp_senders(socks.len(), load.srtp);
    let mut bufs: [Vec<u8>; BATCH] =
        std::array::from_fn(|_| vec![0u8; len + SRTP_SUITE.rtp_tag_len()]);
    let mut lens = [len; BATCH];
    let mut seqs = vec![0u16; socks.len()];
    let mut hdrs = MultiHeaders::<()>::preallocate(BATCH, None);
    let no_addrs = [None::<()>; BATCH];
    let mut res = GenResult::new();
    'run: loop {
        for (i, (s, seq)) in socks.iter().zip(seqs.iter_mut()).enumerate() {
            let now = load.clock.now_ns();
            if now >= load.window_end {
                break 'run;
            }
            for (k, (b, l)) in bufs.iter_mut().zip(lens.iter_mut()).enumerate() {
                fill_packet(b, i, seq.wrapping_add(k as u16), now);
                *l = seal(&mut senders, i, b, len);
            }
            let iovs: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|k| {
                let b = bufs.get(k).map_or(&[][..], Vec::as_slice);
                [IoSlice::new(b.get(..lens[k]).unwrap_or(b))]
            });
            let sent = match sendmmsg(
                s.as_raw_fd(),
                &mut hdrs,
                &iovs,
                no_addrs,
                [],
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(r) => r.count(),
                Err(_) => 0,
            };
            *seq = seq.wrapping_add(sent as u16);
            res.refused += (BATCH - sent) as u64;
            if now >= load.window_start {
                res.in_window += sent as u64;
            }
        }
    }
    res.next_seq = seqs;
    res
}

/// Sends `pps` packets per second per stream, spread evenly: packet k goes to stream k % n at
/// k / (n * pps) seconds.
pub(super) fn generate_paced(
    socks: &[UdpSocket],
    load: Load,
    pps: u32,
    seq_base: &[u16],
) -> GenResult {
    let n = socks.len() as u64;
    let total = u128::from(n * u64::from(pps)).max(1);
    let len = 12 + load.payload;
    let mut buf = vec![0u8; len + SRTP_SUITE.rtp_tag_len()];
    let mut senders = srtp_senders(socks.len(), load.srtp);
    let mut res = GenResult::new();
    // Packets due before now are not sent (after an overload phase the schedule starts here).
    let mut k = u64::try_from(u128::from(load.clock.now_ns()) * total / 1_000_000_000).unwrap_or(0);
    let k0 = k;
    loop {
        let now = load.clock.now_ns();
        if now >= load.window_end {
            break;
        }
        let due = u64::try_from(u128::from(now) * total / 1_000_000_000).unwrap_or(u64::MAX);
        while k < due {
            let i = (k % n) as usize;
            let Some(s) = socks.get(i) else { break };
            let t = load.clock.now_ns();
            let base = seq_base.get(i).copied().unwrap_or(0);
            fill_packet(&mut buf, i, base.wrapping_add(((k - k0) / n) as u16), t);
            let sealed = seal(&mut senders, i, &mut buf, len);
            match s.send(buf.get(..sealed).unwrap_or(&buf)) {
                Ok(_) if t >= load.window_start && t < load.window_end => {
                    res.in_window += 1;
                    let due = u64::try_from(u128::from(k) * 1_000_000_000 / total).unwrap_or(0);
                    res.late.record(t.saturating_sub(due));
                }
                Ok(_) => {}
                Err(_) => res.refused += 1,
            }
            k += 1;
        }
        // Packet k falls due once floor(now * total / 1e9) > k, i.e. at ceil((k + 1) * 1e9 / total).
        let next = ((u128::from(k) + 1) * 1_000_000_000).div_ceil(total);
        let next = u64::try_from(next).unwrap_or(u64::MAX);
        let now = load.clock.now_ns();
        if next > now {
            std::thread::sleep(Duration::from_nanos((next - now).min(5_000_000)));
        }
    }
    res
}

/// Sink totals.
pub(super) struct SinkResult {
    /// Packets with a send time in the window that arrived.
    pub(super) delivered: u64,
    /// Per stream, packets in the window.
    pub(super) per_stream: Vec<u64>,
    /// One-way latency of those packets, ns.
    pub(super) latency: Histogram,
    /// Of the delivered packets, those without a kernel receive stamp (timed in user space).
    pub(super) unstamped: u64,
    /// Datagrams read, in the window or not.
    pub(super) seen: u64,
}

/// Control-message room per datagram: one `SCM_TIMESTAMPNS` (`CMSG_SPACE(16)` = 32) with slack.
pub(super) const CMSG_ROOM: usize = 64;

/// One `recvmmsg` batch with a kernel receive-time control message per datagram.
///
/// Hand-rolled rather than nix's `MultiHeaders` because the kernel rewrites each `msg_controllen`
/// and nix does not restore it between calls, so one datagram without a stamp would truncate the
/// control data of every later one received into that slot.
pub(super) struct RxBatch {
    pub(super) bufs: Box<[[u8; RX_BUF]; RX_BATCH]>,
    pub(super) iovs: Box<[nix::libc::iovec; RX_BATCH]>,
    pub(super) cmsgs: Box<[[u64; CMSG_ROOM / 8]; RX_BATCH]>,
    pub(super) hdrs: Box<[nix::libc::mmsghdr; RX_BATCH]>,
}

// SAFETY: the raw pointers in `iovs`/`hdrs` point only into the boxes this value owns.
#[allow(unsafe_code)]
unsafe impl Send for RxBatch {}

#[allow(unsafe_code)] // recvmmsg with control messages, and reading the SCM_TIMESTAMPNS cmsg
impl RxBatch {
    pub(super) fn new() -> Self {
        let mut me = Self {
            bufs: Box::new([[0u8; RX_BUF]; RX_BATCH]),
            iovs: Box::new(
                [nix::libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                }; RX_BATCH],
            ),
            cmsgs: Box::new([[0u64; CMSG_ROOM / 8]; RX_BATCH]),
            // SAFETY: mmsghdr is a plain C struct of integers and raw pointers; all-zero is valid.
            hdrs: Box::new(unsafe { std::mem::zeroed() }),
        };
        for i in 0..RX_BATCH {
            me.iovs[i] = nix::libc::iovec {
                iov_base: me.bufs[i].as_mut_ptr().cast(),
                iov_len: RX_BUF,
            };
            let h = &mut me.hdrs[i].msg_hdr;
            h.msg_iov = std::ptr::from_mut(&mut me.iovs[i]);
            h.msg_iovlen = 1;
            h.msg_control = me.cmsgs[i].as_mut_ptr().cast();
        }
        me
    }

    /// Receives up to [`RX_BATCH`] datagrams from `fd` without blocking; returns how many.
    pub(super) fn recv(&mut self, fd: std::os::fd::RawFd) -> Result<usize, Errno> {
        for h in self.hdrs.iter_mut() {
            h.msg_hdr.msg_controllen = CMSG_ROOM as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at its own iovec, buffer and control area, all owned by
        // `self` and alive for the call; the kernel writes at most the lengths given.
        let n = unsafe {
            nix::libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                RX_BATCH as _,
                nix::libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        Errno::result(n).map(|n| usize::try_from(n).unwrap_or(0))
    }

    /// Datagram `i` of the last batch: its bytes and its kernel receive time (`CLOCK_REALTIME` ns).
    pub(super) fn get(&self, i: usize) -> (&[u8], Option<u64>) {
        let Some(h) = self.hdrs.get(i) else {
            return (&[], None);
        };
        let len = (h.msg_len as usize).min(RX_BUF);
        let data = self.bufs.get(i).map_or(&[][..], |b| &b[..len]);
        let mut stamp = None;
        let m = &h.msg_hdr;
        // SAFETY: `m` is a msghdr the kernel just filled: its control pointer and (rewritten)
        // length describe our control area, so the CMSG_* walk stays inside it.
        unsafe {
            let mut c = nix::libc::CMSG_FIRSTHDR(m);
            while !c.is_null() {
                if (*c).cmsg_level == nix::libc::SOL_SOCKET
                    && (*c).cmsg_type == nix::libc::SCM_TIMESTAMPNS
                {
                    let ts = std::ptr::read_unaligned(
                        nix::libc::CMSG_DATA(c).cast::<nix::libc::timespec>(),
                    );
                    stamp = Some(
                        u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
                            + u64::try_from(ts.tv_nsec).unwrap_or(0),
                    );
                }
                c = nix::libc::CMSG_NXTHDR(m, c);
            }
        }
        (data, stamp)
    }
}

/// Receives on every sink socket (epoll + recvmmsg) until `stop`, counting window packets.
///
/// Latency is measured against the kernel's receive stamp of each datagram (`SO_TIMESTAMPNS`),
/// not against when this thread got round to reading it, so the sink's own scheduling (it runs
/// in `SCHED_IDLE` at paced rates) does not show up in the figures.
pub(super) fn sink(
    socks: &[UdpSocket],
    load: Load,
    stop: &AtomicBool,
) -> Result<SinkResult, String> {
    for s in socks {
        setsockopt(s, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| format!("sink SO_TIMESTAMPNS: {e}"))?;
    }
    let polling = matches!(load.rate, Rate::PerStream(_)) && load.sink == SinkMode::Poll;
    let epoll =
        Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll_create: {e}"))?;
    if !polling {
        // Only when the sink sleeps in epoll: a registration hangs a callback on the socket's
        // wait queue, and every datagram delivered to it would run that callback (on the
        // forwarder's CPU, charged to the forwarder) even with nobody waiting.
        for (i, s) in socks.iter().enumerate() {
            epoll
                .add(s, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
                .map_err(|e| format!("sink epoll_ctl: {e}"))?;
        }
    }
    let mut out = SinkResult {
        delivered: 0,
        per_stream: vec![0; socks.len()],
        latency: Histogram::new(),
        unstamped: 0,
        seen: 0,
    };
    let mut rx = RxBatch::new();
    if matches!(load.rate, Rate::PerStream(_)) {
        // Paced: the generator (normal priority, same CPU) must never wait for the sink between
        // stamping a packet and sending it; the kernel stamps what the sink reads late.
        set_idle_priority();
    }
    if polling {
        // Poll instead of sleeping in epoll: nobody sleeps on a sink socket, so the forwarder's
        // sends do not pay for waking a receiver (they would not on a real network either).
        while !stop.load(Ordering::Relaxed) {
            for (i, s) in socks.iter().enumerate() {
                drain_sink_socket(s, i, &mut rx, load, &mut out)?;
            }
        }
    }
    let mut events = vec![EpollEvent::empty(); 256];
    while !stop.load(Ordering::Relaxed) {
        let n = match epoll.wait(&mut events, 20u16) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(format!("sink epoll_wait: {e}")),
        };
        for ev in events.iter().take(n) {
            let i = ev.data() as usize;
            if let Some(s) = socks.get(i) {
                drain_sink_socket(s, i, &mut rx, load, &mut out)?;
            }
        }
    }
    // Whatever is still queued (a sink in SCHED_IDLE may be behind): the kernel stamped it on
    // arrival, so reading it late changes no figure. Sweep until a whole pass finds nothing.
    loop {
        let before = out.seen;
        for (i, s) in socks.iter().enumerate() {
            drain_sink_socket(s, i, &mut rx, load, &mut out)?;
        }
        if out.seen == before {
            break;
        }
    }
    Ok(out)
}

/// Reads sink socket `i` (stream `i`) until it would block, recording window packets.
pub(super) fn drain_sink_socket(
    s: &UdpSocket,
    i: usize,
    rx: &mut RxBatch,
    load: Load,
    out: &mut SinkResult,
) -> Result<(), String> {
    loop {
        let got = match rx.recv(s.as_raw_fd()) {
            Ok(c) => c,
            Err(Errno::EAGAIN | Errno::EINTR) => 0,
            Err(e) => return Err(format!("sink recvmmsg: {e}")),
        };
        out.seen += got as u64;
        let mut user_now = None;
        for k in 0..got {
            let (b, stamp) = rx.get(k);
            let Some(ts) = b.get(12..20) else { continue };
            let mut t = [0u8; 8];
            t.copy_from_slice(ts);
            let sent = u64::from_le_bytes(t);
            if sent < load.window_start || sent >= load.window_end {
                continue;
            }
            out.delivered += 1;
            if let Some(c) = out.per_stream.get_mut(i) {
                *c += 1;
            }
            let at = match stamp {
                Some(real) => load.clock.since_start(real),
                None => {
                    out.unstamped += 1;
                    *user_now.get_or_insert_with(|| load.clock.now_ns())
                }
            };
            out.latency.record(at.saturating_sub(sent));
        }
        if got < RX_BATCH {
            return Ok(());
        }
    }
}
