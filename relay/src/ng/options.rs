//! What the flags of an `offer` or `answer` ask of the relay (rtpengine
//! docs/ng_control_protocol.md): address trust, latching, ICE, rtcp-mux, transport protocol,
//! which `o=`/`c=` lines to rewrite.

use super::Request;
use crate::latch::LatchPolicy;
use std::net::IpAddr;

/// `ICE`: what the relay does with ICE in the SDP it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceMode {
    /// Strip ICE, and act as an ICE-lite agent towards a side whose SDP had ICE (`default`).
    Default,
    /// Strip ICE and add none (`remove`).
    Remove,
    /// Strip ICE and always offer the relay as the only (lite) candidate (`force`).
    Force,
}

/// `rtcp-mux` (RFC 5761) as the request asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MuxFlags {
    /// Offer rtcp-mux to the answerer even if the offerer did not.
    pub offer: bool,
    /// Offer rtcp-mux only, without a separate RTCP port (WebRTC peers).
    pub require: bool,
    /// Do not pass the offerer's rtcp-mux on (but accept it back to the offerer).
    pub demux: bool,
    /// Refuse the offerer's rtcp-mux.
    pub reject: bool,
}

/// The flags of one request, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Rewrite `o=`'s address (`replace: origin`).
    pub replace_origin: bool,
    /// Latching of the legs this request signals.
    pub policy: LatchPolicy,
    /// Use this address for the sender's media instead of the SDP's (`media-address`, or the
    /// `received-from` address under `SIP-source-address`).
    pub media_address: Option<IpAddr>,
    /// ICE handling.
    pub ice: IceMode,
    /// rtcp-mux handling.
    pub mux: MuxFlags,
    /// The transport protocol the receiver of the returned SDP gets (`transport-protocol`),
    /// when it differs in SRTP-ness from what the sender speaks.
    pub transport: Option<String>,
}

impl Options {
    /// Reads the flags of `req`.
    pub fn of(req: &Request<'_>) -> Self {
        let received_from = match req.received_from.as_slice() {
            [_, addr] => addr.parse().ok(),
            _ => None,
        };
        let sip_source = req.has_flag("SIP-source-address") && !req.has_flag("trust-address");
        let media_address = req
            .media_address
            .and_then(|a| a.parse().ok())
            .or(if sip_source { received_from } else { None });
        let policy = if req.has_flag("asymmetric") {
            LatchPolicy::Off
        } else if req.has_flag("media-handover") {
            LatchPolicy::Handover
        } else {
            // Learn the peer, then refuse other sources: rtpengine's `strict-source`, and this
            // relay's behaviour whether or not the flag is given (RTP bleed).
            LatchPolicy::Strict
        };
        let ice = match req.ice {
            Some("remove") => IceMode::Remove,
            Some("force") | Some("force-relay") => IceMode::Force,
            _ => IceMode::Default,
        };
        let has_mux = |w: &str| req.rtcp_mux.iter().any(|f| super::same_word(f, w));
        let mux = MuxFlags {
            offer: has_mux("offer") || req.has_flag("rtcp-mux-offer"),
            require: has_mux("require") || req.has_flag("rtcp-mux-require"),
            demux: has_mux("demux") || req.has_flag("rtcp-mux-demux"),
            reject: has_mux("reject") || req.has_flag("rtcp-mux-reject"),
        };
        let transport = req
            .transport_protocol
            .filter(|p| matches!(*p, "RTP/AVP" | "RTP/AVPF" | "RTP/SAVP" | "RTP/SAVPF"))
            .map(str::to_owned);
        Self {
            replace_origin: req.replaces("origin")
                || req.replaces("origin-full")
                || req.has_flag("replace-origin"),
            policy,
            media_address,
            ice,
            mux,
            transport,
        }
    }
}

/// Whether an `m=` protocol is secure RTP (RFC 3711 profiles).
pub fn is_srtp(proto: &str) -> bool {
    proto.contains("SAVP")
}
