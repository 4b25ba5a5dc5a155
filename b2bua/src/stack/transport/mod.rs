//! The transport layer (RFC 3261 §18), sans-IO: what the endpoint needs to run SIP over
//! connection-oriented transports next to UDP.
//!
//! A [`Flow`] is one connection: its [`Transport`] kind, the SBC's local signalling address, the
//! peer's address and a [`FlowId`]. The [`FlowTable`] indexes flows the way RFC 3261 §18 asks —
//! by the far end's address, port and transport — so that responses go back on the connection
//! their request came in on (§18.2.2) and later requests to the same peer reuse it (§18). The
//! call, dialog and transaction layers only ever see a [`Dest`] (transport, peer address and
//! the SBC's local address of the path); the endpoint turns that into a socket or a flow here. [`StreamInput`] cuts a stream into
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

pub use flow::{Flow, FlowError, FlowId, FlowLimits, FlowTable};
pub use stream::{StreamEvent, StreamInput};
pub use switchover::{Carrier, Switchover};

use std::net::SocketAddr;

/// The transport a message travels on; all but UDP are reliable (RFC 3261 §17.1.1.2, §18,
/// RFC 7118 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so requests and INVITE finals are retransmitted (RFC 3261 §18).
    Udp,
    /// TCP: reliable (RFC 3261 §18).
    Tcp,
    /// TLS over TCP: reliable (RFC 3261 §26.2).
    Tls,
    /// SIP over WebSocket: one message per WebSocket message, reliable (RFC 7118).
    Ws,
    /// SIP over secure WebSocket (TLS): reliable (RFC 7118).
    Wss,
}

impl Transport {
    /// Whether the transport is reliable, which turns off timers A, E, G and zeroes D, I, J, K
    /// (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        match self {
            Self::Udp => false,
            Self::Tcp | Self::Tls | Self::Ws | Self::Wss => true,
        }
    }

    /// The transport token written in a Via header (RFC 3261 §18, §20.42).
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// The lowercase name (`udp`, `tcp`, `tls`, `ws`, `wss`), as in URIs and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Whether the transport runs over TLS (RFC 5630: what `sips:` asks of every hop).
    pub fn is_secure(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// Whether messages are framed by WebSocket rather than by Content-Length (RFC 7118 §5).
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    /// The SIP URI naming `addr` on this transport, as the SBC writes it in Contact: `sip:`,
    /// with `;transport=tcp` over TCP and `;transport=tls` over TLS, so the peer comes back on
    /// the same transport without the dialog becoming SIPS (RFC 3261 §19.1.1, RFC 5630 §3.1.3,
    /// §4.1); [`Self::sips_uri`] for dialogs that are SIPS.
    pub fn uri(self, addr: SocketAddr) -> String {
        let mut s = String::with_capacity(64);
        s.push_str("sip:");
        crate::stack::hostport::push_socket_addr(&mut s, addr);
        match self {
            Self::Udp => {}
            Self::Tcp => s.push_str(";transport=tcp"),
            Self::Tls => s.push_str(";transport=tls"),
            Self::Ws => s.push_str(";transport=ws"),
            Self::Wss => s.push_str(";transport=wss"),
        }
        s
    }

    /// The SIPS URI naming `addr`, the Contact of a dialog whose request was SIPS (RFC 3261
    /// §8.1.1.8, §12.1.1, RFC 5630 §4.1): TLS on every hop, so no transport parameter.
    pub fn sips_uri(self, addr: SocketAddr) -> String {
        let mut s = String::with_capacity(64);
        s.push_str("sips:");
        crate::stack::hostport::push_socket_addr(&mut s, addr);
        s
    }
}

/// Where a message goes or came from: the peer's address, the transport, and the SBC's own
/// signalling address it leaves from or arrived at, so an output names its egress and IO never
/// re-derives it from the bytes (RFC 3261 §18.1.1, §18.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dest {
    /// The peer's address.
    pub addr: SocketAddr,
    /// The transport to use.
    pub transport: Transport,
    /// The SBC's signalling address on this path (as written in Via and Contact); `None` lets
    /// the endpoint pick any socket of the transport in the peer's IP family.
    pub local: Option<SocketAddr>,
}

impl Dest {
    /// A path to `addr` over `transport` from no particular local address.
    pub fn new(addr: SocketAddr, transport: Transport) -> Self {
        Self {
            addr,
            transport,
            local: None,
        }
    }

    /// The same path, leaving from (or arrived at) the SBC's signalling address `local`.
    pub fn from_local(self, local: SocketAddr) -> Self {
        Self {
            local: Some(local),
            ..self
        }
    }
}

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
        let v4: SocketAddr = "192.0.2.1:5080".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:5061".parse().unwrap();
        assert_eq!(Transport::Udp.via_token(), "UDP");
        assert_eq!(Transport::Tcp.via_token(), "TCP");
        assert_eq!(Transport::Tls.via_token(), "TLS");
        assert_eq!(Transport::Udp.uri(v4), "sip:192.0.2.1:5080");
        assert_eq!(Transport::Tcp.uri(v4), "sip:192.0.2.1:5080;transport=tcp");
        assert_eq!(
            Transport::Tls.uri(v6),
            "sip:[2001:db8::1]:5061;transport=tls"
        );
        assert_eq!(Transport::Tls.sips_uri(v6), "sips:[2001:db8::1]:5061");
    }

    #[test]
    fn the_udp_request_limit_is_1300_bytes() {
        assert!(!too_large_for_udp(1300));
        assert!(too_large_for_udp(1301));
    }
}
