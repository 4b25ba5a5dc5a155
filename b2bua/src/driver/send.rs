//! UDP sends in batches: the datagrams the endpoint queued for one socket in one turn leave with
//! one `sendmmsg` (RFC 3261 §18: each datagram is one message), as the relay's workers do; a
//! single datagram goes with `sendto`. What the socket cannot take without blocking is sent one
//! by one, waiting.

use bytes::Bytes;
use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams sent with one system call at most.
pub(super) const SEND_BATCH: usize = 32;

/// Datagrams waiting for their socket's batch, and the reused `sendmmsg` headers.
pub(super) struct SendBatch {
    /// (socket index, destination, bytes), in the order the endpoint queued them.
    queued: Vec<(usize, SocketAddr, Bytes)>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl SendBatch {
    pub(super) fn new() -> Self {
        Self {
            queued: Vec::with_capacity(SEND_BATCH),
            headers: MultiHeaders::preallocate(SEND_BATCH, None),
        }
    }

    /// Queues a datagram for UDP socket `socket`.
    pub(super) fn push(&mut self, socket: usize, to: SocketAddr, bytes: Bytes) {
        self.queued.push((socket, to, bytes));
    }

    /// Whether a batch is full and should go now.
    pub(super) fn full(&self) -> bool {
        self.queued.len() >= SEND_BATCH
    }

    /// Sends everything queued, per socket in queue order: runs of two or more with
    /// `sendmmsg`, the rest (and what would block) with `send_to`.
    pub(super) async fn flush(&mut self, sockets: &[UdpSocket]) {
        if self.queued.is_empty() {
            return;
        }
        let mut queued = std::mem::take(&mut self.queued);
        // Stable by socket: each socket's datagrams keep their order.
        queued.sort_by_key(|(socket, _, _)| *socket);
        let mut at = 0;
        while at < queued.len() {
            let socket = queued[at].0;
            let end = queued[at..]
                .iter()
                .position(|(s, _, _)| *s != socket)
                .map_or(queued.len(), |n| at + n);
            let Some(sock) = sockets.get(socket) else {
                at = end;
                continue;
            };
            let run = &queued[at..end];
            let sent = if run.len() > 1 {
                self.send_many(sock, run)
            } else {
                0
            };
            for (_, to, bytes) in &run[sent..] {
                // At once if the socket takes it (the usual case), else waiting for room.
                let r = match sock.try_send_to(bytes, *to) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        sock.send_to(bytes, *to).await
                    }
                    r => r,
                };
                if let Err(e) = r {
                    tracing::warn!("udp send to {to}: {e}");
                }
            }
            at = end;
        }
        queued.clear();
        self.queued = queued;
    }

    /// One `sendmmsg` of `run` without blocking; returns how many went.
    fn send_many(&mut self, sock: &UdpSocket, run: &[(usize, SocketAddr, Bytes)]) -> usize {
        let fd = sock.as_raw_fd();
        let slices: Vec<[IoSlice<'_>; 1]> = run
            .iter()
            .map(|(_, _, b)| [IoSlice::new(b.as_ref())])
            .collect();
        let addrs: Vec<Option<SockaddrStorage>> = run
            .iter()
            .map(|(_, to, _)| Some(SockaddrStorage::from(*to)))
            .collect();
        let headers = &mut self.headers;
        let r = sock.try_io(Interest::WRITABLE, || {
            sendmmsg(
                fd,
                headers,
                slices.iter(),
                &addrs,
                [],
                MsgFlags::MSG_DONTWAIT,
            )
            .map(Iterator::count)
            .map_err(std::io::Error::from)
        });
        match r {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => {
                tracing::debug!("udp sendmmsg: {e}");
                0
            }
        }
    }
}
