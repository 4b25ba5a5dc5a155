//! Demultiplexing of a shared media port: STUN, DTLS, RTP and RTCP
//! ([RFC 7983 §7](https://www.rfc-editor.org/rfc/rfc7983#section-7),
//! [RFC 5761 §4](https://www.rfc-editor.org/rfc/rfc5761#section-4)).
//!
//! Classification reads at most the first two bytes and never validates the rest: pass
//! the datagram on to [`crate::rtp::Packet::new_checked`],
//! [`crate::rtcp::Compound`] or [`crate::stun::Packet::new_checked`] afterwards.

/// What the first byte of a datagram says it is (RFC 7983 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FirstByte {
    /// 0–3: STUN (RFC 5389).
    Stun,
    /// 16–19: ZRTP (RFC 6189).
    Zrtp,
    /// 20–63: DTLS (RFC 6347).
    Dtls,
    /// 64–79: TURN ChannelData (RFC 5766).
    TurnChannel,
    /// 128–191: RTP or RTCP (version 2); see [`rtp_or_rtcp`].
    RtpOrRtcp,
    /// Any other value, to be dropped.
    Unknown,
}

/// Classifies a datagram by its first byte (RFC 7983 §7).
pub const fn classify_first_byte(first: u8) -> FirstByte {
    match first {
        0..=3 => FirstByte::Stun,
        16..=19 => FirstByte::Zrtp,
        20..=63 => FirstByte::Dtls,
        64..=79 => FirstByte::TurnChannel,
        128..=191 => FirstByte::RtpOrRtcp,
        _ => FirstByte::Unknown,
    }
}

/// RTP or RTCP on an rtcp-mux port (RFC 5761 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RtpOrRtcp {
    /// An RTP packet.
    Rtp,
    /// An RTCP packet (compound or not).
    Rtcp,
}

/// Tells RTP from RTCP by the second byte: 192–223 (RTCP packet types, which RTP would
/// see as marker set and payload type 64–95) is RTCP, anything else RTP (RFC 5761 §4).
pub const fn rtp_or_rtcp(second: u8) -> RtpOrRtcp {
    match second {
        192..=223 => RtpOrRtcp::Rtcp,
        _ => RtpOrRtcp::Rtp,
    }
}

/// The protocol of a datagram received on a muxed media port (RFC 7983 §7, RFC 5761 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// STUN (ICE connectivity check or keep-alive).
    Stun,
    /// ZRTP.
    Zrtp,
    /// DTLS (DTLS-SRTP handshake).
    Dtls,
    /// TURN ChannelData.
    TurnChannel,
    /// RTP.
    Rtp,
    /// RTCP.
    Rtcp,
    /// Empty, a lone RTP/RTCP byte, or a first byte no RFC 7983 range claims.
    Unknown,
}

/// Classifies a datagram on a muxed port by its first one or two bytes.
pub fn classify(datagram: &[u8]) -> PacketKind {
    let Some((&first, rest)) = datagram.split_first() else {
        return PacketKind::Unknown;
    };
    match classify_first_byte(first) {
        FirstByte::Stun => PacketKind::Stun,
        FirstByte::Zrtp => PacketKind::Zrtp,
        FirstByte::Dtls => PacketKind::Dtls,
        FirstByte::TurnChannel => PacketKind::TurnChannel,
        FirstByte::Unknown => PacketKind::Unknown,
        FirstByte::RtpOrRtcp => match rest.first() {
            Some(&second) => match rtp_or_rtcp(second) {
                RtpOrRtcp::Rtp => PacketKind::Rtp,
                RtpOrRtcp::Rtcp => PacketKind::Rtcp,
            },
            None => PacketKind::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_boundaries() {
        let table = [
            (0, FirstByte::Stun),
            (3, FirstByte::Stun),
            (4, FirstByte::Unknown),
            (15, FirstByte::Unknown),
            (16, FirstByte::Zrtp),
            (19, FirstByte::Zrtp),
            (20, FirstByte::Dtls),
            (22, FirstByte::Dtls),
            (63, FirstByte::Dtls),
            (64, FirstByte::TurnChannel),
            (79, FirstByte::TurnChannel),
            (80, FirstByte::Unknown),
            (127, FirstByte::Unknown),
            (128, FirstByte::RtpOrRtcp),
            (191, FirstByte::RtpOrRtcp),
            (192, FirstByte::Unknown),
            (255, FirstByte::Unknown),
        ];
        for (byte, kind) in table {
            assert_eq!(classify_first_byte(byte), kind, "{byte}");
        }
    }

    #[test]
    fn rtp_vs_rtcp_by_second_byte() {
        for b in 0..=255u8 {
            let expect = if (192..=223).contains(&b) {
                RtpOrRtcp::Rtcp
            } else {
                RtpOrRtcp::Rtp
            };
            assert_eq!(rtp_or_rtcp(b), expect, "{b}");
        }
        // PT 96 with marker (0xe0) and PT 0 are RTP; SR (200) and XR (207) are RTCP;
        // PT 72 without marker (72) is RTP, with marker (200) it is taken as RTCP.
        assert_eq!(rtp_or_rtcp(0xe0), RtpOrRtcp::Rtp);
        assert_eq!(rtp_or_rtcp(0), RtpOrRtcp::Rtp);
        assert_eq!(rtp_or_rtcp(72), RtpOrRtcp::Rtp);
        assert_eq!(rtp_or_rtcp(200), RtpOrRtcp::Rtcp);
        assert_eq!(rtp_or_rtcp(207), RtpOrRtcp::Rtcp);
    }

    #[test]
    fn classify_datagrams() {
        let table: [(&[u8], PacketKind); 10] = [
            (&[], PacketKind::Unknown),
            (&[0x80], PacketKind::Unknown),
            (&[0x80, 0x00, 0x12, 0x34], PacketKind::Rtp),
            (&[0x90, 0xe0], PacketKind::Rtp),
            (&[0x81, 200, 0, 6], PacketKind::Rtcp),
            (&[0x80, 201, 0, 1], PacketKind::Rtcp),
            (
                &[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42],
                PacketKind::Stun,
            ),
            (&[22, 0xfe, 0xfd], PacketKind::Dtls),
            (&[0x40, 0x00, 0x00, 0x04], PacketKind::TurnChannel),
            (&[0x10], PacketKind::Zrtp),
        ];
        for (bytes, kind) in table {
            assert_eq!(classify(bytes), kind, "{bytes:02x?}");
        }
        for b in 0..=255u8 {
            let _ = classify(&[b]);
            let _ = classify(&[b, b]);
        }
    }
}
