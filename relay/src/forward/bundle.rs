//! BUNDLE on one leg (RFC 8843 §9): the streams of other `m=` lines whose media shares a leg's
//! transport (its sockets, ICE, DTLS-SRTP). Their RTP is told apart by payload type (unique
//! across a bundle, RFC 8843 §9.1), and their RTCP by the sender SSRC, learned from the RTP
//! (RFC 8843 §9.2); what matches no member is the owner's own. No allocation per packet.

use super::StreamId;

/// SSRCs remembered per bundle for RTCP (audio, video, their retransmission streams, ...).
const SSRCS: usize = 8;

/// The members of a bundle and what identifies their packets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Bundle {
    /// Each member with the payload types (bit N: type N) of its RTP.
    members: Vec<(StreamId, u128)>,
    /// SSRCs seen on members' RTP, for their RTCP; oldest replaced first.
    ssrcs: [(u32, Option<StreamId>); SSRCS],
    next: usize,
}

/// The mask of payload types `pts` (each below 128).
pub fn payload_mask(pts: &[u8]) -> u128 {
    pts.iter()
        .filter(|&&pt| pt < 128)
        .fold(0u128, |m, &pt| m | (1u128 << pt))
}

impl Bundle {
    /// A bundle of `members`, each with its payload-type mask.
    pub(super) fn new(members: Vec<(StreamId, u128)>) -> Self {
        Self {
            members,
            ssrcs: [(0, None); SSRCS],
            next: 0,
        }
    }

    /// The members.
    pub(super) fn members(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.members.iter().map(|(id, _)| *id)
    }

    /// The member an RTP or RTCP datagram belongs to, `None` for the owner's own: RTP by its
    /// payload type (its SSRC remembered for the member's RTCP), RTCP by the first packet's
    /// sender SSRC. The headers read are in clear under SRTP and SRTCP.
    pub(super) fn route(&mut self, data: &[u8], rtcp: bool) -> Option<StreamId> {
        let ssrc = data
            .get(4..8)
            .filter(|_| rtcp)
            .or_else(|| data.get(8..12))?;
        let ssrc = u32::from_be_bytes(ssrc.try_into().ok()?);
        if rtcp {
            return self
                .ssrcs
                .iter()
                .find(|(s, m)| m.is_some() && *s == ssrc)
                .and_then(|(_, m)| *m);
        }
        let pt = data.get(1)? & 0x7f;
        let member = self
            .members
            .iter()
            .find(|(_, mask)| mask & (1u128 << pt) != 0)
            .map(|(id, _)| *id)?;
        if !self
            .ssrcs
            .iter()
            .any(|(s, m)| *s == ssrc && *m == Some(member))
        {
            if let Some(slot) = self.ssrcs.get_mut(self.next) {
                *slot = (ssrc, Some(member));
            }
            self.next = (self.next + 1) % SSRCS;
        }
        Some(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIDEO: StreamId = StreamId { slot: 9, gen: 1 };

    fn rtp(pt: u8, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.resize(40, 0);
        p
    }

    fn rtcp_sr(ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 200, 0, 6];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.resize(28, 0);
        p
    }

    #[test]
    fn rtp_goes_by_payload_type_and_rtcp_by_the_ssrc_learned_from_it() {
        let mut b = Bundle::new(vec![(VIDEO, payload_mask(&[96, 97]))]);
        // Audio (Opus 111, PCMU 0) is the owner's own.
        assert_eq!(b.route(&rtp(111, 0xa0d10), false), None);
        assert_eq!(b.route(&rtp(0, 0xa0d10), false), None);
        // Video and its retransmissions are the member's, marker bit or not.
        assert_eq!(b.route(&rtp(96, 0x71de0), false), Some(VIDEO));
        assert_eq!(b.route(&rtp(97 | 0x80, 0x5e7d), false), Some(VIDEO));
        // RTCP of a video SSRC goes with the video; of the audio or an unknown one, the owner's.
        assert_eq!(b.route(&rtcp_sr(0x71de0), true), Some(VIDEO));
        assert_eq!(b.route(&rtcp_sr(0x5e7d), true), Some(VIDEO));
        assert_eq!(b.route(&rtcp_sr(0xa0d10), true), None);
        assert_eq!(b.route(&rtcp_sr(0xdead), true), None);
        // Truncated headers belong to nobody in particular.
        assert_eq!(b.route(&[0x80, 96, 0], false), None);
        assert_eq!(b.route(&[0x80, 200], true), None);
    }

    #[test]
    fn the_ssrc_memory_is_bounded_and_keeps_the_newest() {
        let mut b = Bundle::new(vec![(VIDEO, payload_mask(&[96]))]);
        for ssrc in 0..20u32 {
            assert_eq!(b.route(&rtp(96, 1000 + ssrc), false), Some(VIDEO));
        }
        assert_eq!(b.route(&rtcp_sr(1019), true), Some(VIDEO));
        assert_eq!(b.route(&rtcp_sr(1012), true), Some(VIDEO));
        assert_eq!(b.route(&rtcp_sr(1000), true), None, "forgotten");
        assert_eq!(payload_mask(&[0, 127, 200]), 1 | (1u128 << 127));
    }
}
