//! The transport layer (RFC 3261 §18), sans-IO: what the driver needs to run SIP over
//! connection-oriented transports next to UDP.
//!
//! A [`Flow`] is one connection: its [`Transport`] kind, the SBC's local signalling address, the
//! peer's address and a [`FlowId`]. The [`FlowTable`] indexes flows the way RFC 3261 §18 asks —
//! by the far end's address, port and transport — so that responses go back on the connection
//! their request came in on (§18.2.2) and later requests to the same peer reuse it (§18). The
//! call, dialog and transaction layers only ever see a [`crate::transaction::Dest`] (transport and
//! peer address); the driver turns that into a flow here. [`StreamInput`] cuts a stream into
//! messages (Content-Length framing, RFC 5626 keep-alives, size limits with a 413/400 reply).
//! [`Switchover`] decides which requests move from UDP to TCP for their size and keeps a moved
//! request's CANCEL, non-2xx ACK and retransmissions with it (§18.1.1). [`via`] holds the Via
//! edits the transport layer owns: `received`/`rport` on receipt (§18.2.1, RFC 3581 §4), where a
//! response goes when its connection is gone (§18.2.2, RFC 3581 §4), and the top Via's
//! transport when a large request moves from UDP to TCP (§18.1.1).
//!
//! TLS and WebSocket slot in as more [`Transport`] kinds: a variant with its reliability, Via
//! token and Contact URI form ([`Transport::via_token`], [`Transport::uri`], which the call core
//! writes Via and Contact from), and its IO in the driver. The flow table, the stream input (for
//! TLS; WebSocket frames each message itself, RFC 7118 §5) and the driver's connection task,
//! which is generic over the byte stream, serve them unchanged; the call, dialog and transaction
//! layers do not change.

mod flow;
mod stream;
mod switchover;
pub mod via;

pub use crate::transaction::Transport;
pub use flow::{Flow, FlowError, FlowId, FlowLimits, FlowTable};
pub use stream::{StreamEvent, StreamInput};
pub use switchover::{Carrier, Switchover};

/// Requests larger than this that would go over UDP go over a congestion-controlled transport
/// instead when the path MTU is unknown (RFC 3261 §18.1.1).
pub const UDP_REQUEST_LIMIT: usize = 1300;

/// Whether a request of `len` bytes must leave over TCP instead of UDP (RFC 3261 §18.1.1: larger
/// than 1300 bytes with the path MTU unknown).
pub fn too_large_for_udp(len: usize) -> bool {
    len > UDP_REQUEST_LIMIT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transport_names_itself_in_via_and_contact() {
        let v4: std::net::SocketAddr = "192.0.2.1:5080".parse().unwrap();
        let v6: std::net::SocketAddr = "[2001:db8::1]:5061".parse().unwrap();
        assert_eq!(Transport::Udp.via_token(), "UDP");
        assert_eq!(Transport::Tcp.via_token(), "TCP");
        assert_eq!(Transport::Tls.via_token(), "TLS");
        assert_eq!(Transport::Udp.uri(v4), "sip:192.0.2.1:5080");
        assert_eq!(Transport::Tcp.uri(v4), "sip:192.0.2.1:5080;transport=tcp");
        assert_eq!(Transport::Tls.uri(v6), "sips:[2001:db8::1]:5061");
    }

    #[test]
    fn the_udp_request_limit_is_1300_bytes() {
        assert!(!too_large_for_udp(1300));
        assert!(too_large_for_udp(1301));
    }
}
