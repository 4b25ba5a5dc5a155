//! Wire types shared by the SBC's control plane (B2BUA) and data plane (relay).
//!
//! Everything here is pure: no sockets, no clocks, no threads. Parsers work on
//! [`bytes::Bytes`] and hand out views that slice the original buffer, so a parsed
//! message that is not changed serializes byte-identical.
//!
//! - [`digest`]: digest authentication (RFC 2617, RFC 7616, RFC 8760).
//! - [`sip`]: SIP messages, headers, URIs and stream framing (RFC 3261).
//! - [`sdp`]: lossless SDP model and offer/answer rewrites (RFC 4566, RFC 3264).
//! - [`rtp`], [`rtcp`], [`stun`], [`demux`]: zero-copy packet views for the relay (RFC 3550,
//!   RFC 5761, RFC 5389, RFC 7983), and [`rtpstats`]: loss and jitter (RFC 3550 A.1, A.3, A.8).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bencode;
pub mod decimal;
pub mod demux;
pub mod digest;
pub mod rtcp;
pub mod rtp;
pub mod rtpstats;
pub mod sdp;
pub mod sip;
pub mod stun;
