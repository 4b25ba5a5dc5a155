//! ICE-lite per leg in SDP (RFC 8445 §2.5, RFC 8839): on a leg whose side runs `ice = "lite"`,
//! the SBC offers, and answers an offer with ICE, with `a=ice-lite`, its own ufrag and password
//! for that leg and one host candidate per component (the relay's ports); the peer's ufrag comes
//! from its SDP. Both known, the relay answers the peer's checks on that leg ([`wanted`]).
//!
//! [`wanted`]: LegIce::wanted

use super::sdes::Exchange;
use sbc_common::sdp::{MediaDescription, Sdp};
use sbc_config::IcePolicy;
use sbc_relay::api::LocalLeg;
use sbc_relay::forward::IceParams;
use std::net::IpAddr;

/// The ICE state of one stream on one leg.
#[derive(Clone, Debug, Default)]
pub(super) struct LegIce {
    /// The SBC's ufrag and password on this leg, made once (RFC 8839 §5.4).
    local: Option<(Box<str>, Box<str>)>,
    /// The peer's ufrag from its last SDP, when that SDP had ICE.
    remote_ufrag: Option<Box<str>>,
    /// What the relay was last told.
    programmed: Option<IceParams>,
}

/// The peer's `ice-ufrag` and whether it gave a password, from `m` or the session level.
fn peer_credentials<'a>(sdp: &'a Sdp, m: &'a MediaDescription) -> Option<&'a str> {
    let ufrag = m
        .attribute("ice-ufrag")
        .or_else(|| sdp.attribute("ice-ufrag"))?;
    let pwd = m
        .attribute("ice-pwd")
        .or_else(|| sdp.attribute("ice-pwd"))?;
    (!ufrag.is_empty() && !pwd.is_empty()).then_some(ufrag)
}

/// RFC 8445 §5.1.2.1 priority of a host candidate of `component`: type preference 126, local
/// preference 65535.
fn host_priority(component: u32) -> u32 {
    (126 << 24) + (65_535 << 8) + (256 - component)
}

impl LegIce {
    /// Whether nothing is known on this leg: no credentials either way, nothing programmed.
    pub(super) fn is_blank(&self) -> bool {
        self.local.is_none() && self.remote_ufrag.is_none() && self.programmed.is_none()
    }

    /// Reads what the peer's SDP `m` (in `sdp`) says of ICE: its ufrag, or that it has none.
    pub(super) fn receive(&mut self, sdp: &Sdp, m: &MediaDescription) {
        self.remote_ufrag = peer_credentials(sdp, m).map(Box::from);
    }

    /// Writes the SBC's ICE-lite attributes into `m` (going to this leg's peer) when the leg
    /// runs ICE-lite and this is an offer, or an answer to an offer with ICE; returns whether
    /// it did, so the caller adds `a=ice-lite` at session level (RFC 8839 §5.3).
    pub(super) fn send(
        &mut self,
        policy: IcePolicy,
        kind: Exchange,
        m: &mut MediaDescription,
        local: LocalLeg,
        ip: IpAddr,
        fresh: &mut dyn FnMut() -> Option<(String, String)>,
    ) -> bool {
        let wanted =
            policy == IcePolicy::Lite && (kind == Exchange::Offer || self.remote_ufrag.is_some());
        if !wanted {
            return false;
        }
        if self.local.is_none() {
            self.local = fresh().map(|(u, p)| (u.into(), p.into()));
        }
        let Some((ufrag, pwd)) = &self.local else {
            return false;
        };
        let _ = m.add_attribute("ice-ufrag", Some(ufrag));
        let _ = m.add_attribute("ice-pwd", Some(pwd));
        let mut components = vec![(1, local.rtp.port())];
        if let Some(rtcp) = local.rtcp {
            components.push((2, rtcp.port()));
        }
        for (component, port) in components {
            let candidate = format!(
                "1 {component} UDP {} {ip} {port} typ host",
                host_priority(component)
            );
            let _ = m.add_attribute("candidate", Some(&candidate));
        }
        true
    }

    /// What the relay should run on this leg: the SBC's credentials and the peer's ufrag when
    /// both sides have ICE, else none.
    pub(super) fn wanted(&self) -> Option<IceParams> {
        let (ufrag, pwd) = self.local.as_ref()?;
        Some(IceParams {
            local_ufrag: ufrag.clone(),
            local_pwd: pwd.clone(),
            remote_ufrag: Some(self.remote_ufrag.clone()?),
        })
    }

    /// The change to tell the relay, if [`Self::wanted`] differs from what it was told.
    pub(super) fn change(&mut self, riding: bool) -> Option<Option<IceParams>> {
        // A BUNDLE member rides its owner's transport: none of its own.
        let wanted = if riding { None } else { self.wanted() };
        if wanted == self.programmed {
            return None;
        }
        self.programmed.clone_from(&wanted);
        Some(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_candidates_have_the_rfc_8445_priorities() {
        assert_eq!(host_priority(1), 2_130_706_431);
        assert_eq!(host_priority(2), 2_130_706_430);
    }
}
