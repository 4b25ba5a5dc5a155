//! The media relay data plane: forwards and latches RTP/RTCP between the legs of a call.
//!
//! Built so far (sans-IO, tested without sockets): [`latch`], the symmetric-RTP latching policies
//! that decide which source a leg accepts and where its packets go, and [`ports`], the per-interface
//! RTP/RTCP port pool. The workers, IO backends (io_uring, epoll + mmsg), control rings and stats
//! follow.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod latch;
pub mod ports;
