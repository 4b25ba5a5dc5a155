//! The media relay data plane: forwards and latches RTP/RTCP between the legs of a call.
//!
//! ```text
//!   B2BUA ──[api::Relay]── command rings ──► worker threads (one per core)
//!          ◄──────────────── event rings ───  │ owns sockets, Forwarder, IO backend
//!                                             ▼
//!        leg A socket ──► forward::Forwarder::on_packet ──► leg B socket
//! ```
//!
//! - [`api`]: what the B2BUA calls: sessions, streams (ports allocated synchronously), events.
//! - [`forward`]: the pure per-packet decision and per-leg statistics.
//! - [`latch`]: symmetric-RTP latching policies (RTP-bleed defence).
//! - [`ports`]: the per-interface RTP/RTCP port pool.
//! - [`twin`]: connected twins of leg sockets (no route lookup per send, kernel-side steering).
//! - [`worker`]: the worker loop and the command/event rings.
//! - [`notify`]: the eventfd the workers wake the control plane with when they queue an event.
//! - [`dtls`]: DTLS-SRTP on WebRTC legs (RFC 5763/5764): certificate, handshake, key export.
//! - [`srtp`]: the SRTP/SRTCP transform (RFC 3711, AES-CM + HMAC-SHA1), in place, for SDES legs.
//! - [`io`]: the io_uring and epoll + recvmmsg/sendmmsg backends (the only `unsafe` code).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod dtls;
pub mod forward;
pub mod io;
pub mod latch;
pub mod ng;
pub mod notify;
pub mod ports;
pub mod srtp;
pub mod twin;
pub mod worker;
