//! DTLS-SRTP and the rest of the WebRTC media profile per leg in SDP (RFC 5763 §5, RFC 8842,
//! RFC 8829 §5): on a leg whose side is `profile = "webrtc"`, the peer's `a=fingerprint` and
//! `a=setup` decide the relay's DTLS role and the certificate it takes; what the SBC sends there
//! carries the relay's fingerprint, `a=setup` (`actpass` in offers, the opposite of the peer's
//! in answers), `a=rtcp-mux`, `UDP/TLS/RTP/SAVPF`, and in offers only the audio codecs browsers
//! run, so a browser is never offered a call it could only carry in silence.

use super::sdes::{Exchange, Refusal};
use super::SrtpPolicy;
use sbc_common::sdp::{MediaDescription, Sdp};
use sbc_relay::api::{DtlsParams, DtlsRole, Fingerprint};

/// The transport protocol of a WebRTC media line (RFC 5764 §8, RFC 8829 §5.1.2).
pub(super) const WEBRTC_PROTO: &str = "UDP/TLS/RTP/SAVPF";

/// Audio codecs every browser runs (RFC 7874 §3: Opus, G.711; G.722 in practice), plus the
/// telephone-event and comfort-noise formats that travel with them.
const WEBRTC_AUDIO: [&str; 6] = ["opus", "G722", "PCMU", "PCMA", "telephone-event", "CN"];

/// Formats that are not a codec of their own: an offer of only these carries no audio.
const AUXILIARY: [&str; 2] = ["telephone-event", "CN"];

/// `a=setup` (RFC 4145 §4, RFC 5763 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    Active,
    Passive,
    ActPass,
    HoldConn,
}

impl Setup {
    fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "active" => Some(Self::Active),
            "passive" => Some(Self::Passive),
            "actpass" => Some(Self::ActPass),
            "holdconn" => Some(Self::HoldConn),
            _ => None,
        }
    }
}

/// Whether `proto` is DTLS-SRTP's (`UDP/TLS/RTP/SAVP` or `…/SAVPF`, RFC 5764 §8).
pub(super) fn is_dtls_proto(proto: &str) -> bool {
    proto.len() > 8 && proto[..8].eq_ignore_ascii_case("UDP/TLS/")
}

/// The DTLS state of one stream on one leg.
#[derive(Clone, Debug, Default)]
pub(super) struct LegDtls {
    /// The peer's certificate fingerprint from its last SDP.
    fingerprint: Option<Fingerprint>,
    /// The relay's role as the last offer or answer settled it.
    role: Option<DtlsRole>,
    /// The `a=mid` of the peer's last offer, which the answer repeats (RFC 8843 §7.3).
    mid: Option<Box<str>>,
    /// What the relay was last told.
    programmed: Option<DtlsParams>,
}

impl LegDtls {
    /// Whether nothing is known on this leg: no fingerprint, role or mid, nothing programmed.
    pub(super) fn is_blank(&self) -> bool {
        self.fingerprint.is_none()
            && self.role.is_none()
            && self.mid.is_none()
            && self.programmed.is_none()
    }

    /// Reads the peer's DTLS attributes in `m` (or `sdp`'s session level) on a WebRTC leg
    /// (RFC 5763 §5): an offer's `actpass` or `active` makes the relay the server, `passive`
    /// the client; an answer's `active` the server, `passive` the client.
    pub(super) fn receive(
        &mut self,
        policy: SrtpPolicy,
        kind: Exchange,
        sdp: &Sdp,
        m: &MediaDescription,
    ) -> Result<(), Refusal> {
        if policy != SrtpPolicy::Dtls || !m.is_rtp() {
            return Ok(());
        }
        if !is_dtls_proto(m.proto()) {
            return Err("the WebRTC side needs DTLS-SRTP (UDP/TLS/RTP/SAVPF)");
        }
        if !m.rtcp_mux() {
            return Err("the WebRTC side must mux RTCP (a=rtcp-mux, RFC 8829 §5.1.3)");
        }
        let fingerprint = m
            .attribute("fingerprint")
            .or_else(|| sdp.attribute("fingerprint"))
            .and_then(Fingerprint::parse)
            .ok_or("no sha-256 DTLS fingerprint from the WebRTC side")?;
        let setup = m
            .attribute("setup")
            .or_else(|| sdp.attribute("setup"))
            .and_then(Setup::parse);
        let role = match (kind, setup) {
            // An offer without a=setup is actpass's default for DTLS-SRTP; an answer's is
            // active (RFC 4145 §4).
            (Exchange::Offer, None | Some(Setup::ActPass | Setup::Active))
            | (Exchange::Answer, None | Some(Setup::Active)) => DtlsRole::Server,
            (_, Some(Setup::Passive)) => DtlsRole::Client,
            (Exchange::Answer, Some(Setup::ActPass)) => {
                return Err("a DTLS answer said setup:actpass")
            }
            (_, Some(Setup::HoldConn)) => return Err("DTLS setup:holdconn"),
        };
        self.fingerprint = Some(fingerprint);
        self.role = Some(role);
        if kind == Exchange::Offer {
            self.mid = m.attribute("mid").map(Box::from);
        }
        Ok(())
    }

    /// Writes the relay's DTLS attributes and the WebRTC profile into `m` (the `line`-th
    /// `m=` line), going to this leg's peer, when the leg is WebRTC (RFC 5763 §5, RFC 8829
    /// §5.2): the protocol, `rtcp-mux`, the relay's fingerprint and `a=setup`, an `a=mid`
    /// (the offer's in an answer, RFC 8843 §7.3), and on offers only the codecs browsers run.
    pub(super) fn send(
        &mut self,
        policy: SrtpPolicy,
        kind: Exchange,
        line: usize,
        m: &mut MediaDescription,
        relay_fingerprint: Option<Fingerprint>,
    ) -> Result<(), Refusal> {
        if policy != SrtpPolicy::Dtls || !m.is_rtp() {
            return Ok(());
        }
        let fingerprint = relay_fingerprint.ok_or("the media relay runs no DTLS-SRTP")?;
        if kind == Exchange::Offer && m.media_type().eq_ignore_ascii_case("audio") {
            browser_codecs(m)?;
        }
        m.set_proto(WEBRTC_PROTO);
        static_rtpmaps(m);
        if !m.rtcp_mux() {
            let _ = m.add_attribute("rtcp-mux", None);
        }
        let _ = m.add_attribute("fingerprint", Some(&fingerprint.sdp_value()));
        let setup = match (kind, self.role) {
            (Exchange::Offer, _) => "actpass",
            (Exchange::Answer, Some(DtlsRole::Client)) => "active",
            (Exchange::Answer, _) => "passive",
        };
        let _ = m.add_attribute("setup", Some(setup));
        // A browser pairs the answer's sections with its offer's by mid (RFC 8829 §5.3.1).
        let mid = match kind {
            Exchange::Answer => self.mid.as_deref().map(str::to_owned),
            Exchange::Offer => Some(line.to_string()),
        };
        if let (Some(mid), false) = (mid, m.has_attribute("mid")) {
            let _ = m.add_attribute("mid", Some(&mid));
        }
        Ok(())
    }

    /// What the relay should run on this leg: its role and the peer's fingerprint, once the
    /// peer has sent them.
    pub(super) fn wanted(&self) -> Option<DtlsParams> {
        Some(DtlsParams {
            role: self.role?,
            fingerprint: self.fingerprint?,
        })
    }

    /// The change to tell the relay, if [`Self::wanted`] differs from what it was told.
    pub(super) fn change(&mut self, riding: bool) -> Option<Option<DtlsParams>> {
        // A BUNDLE member rides its owner's transport: none of its own.
        let wanted = if riding { None } else { self.wanted() };
        if wanted == self.programmed {
            return None;
        }
        self.programmed = wanted;
        Some(wanted)
    }
}

/// Keeps the audio formats of `m` a browser runs; refuses an offer that keeps none but
/// telephone-event and comfort noise (no transcoding: the call fails with 488, RFC 3264 §6).
fn browser_codecs(m: &mut MediaDescription) -> Result<(), Refusal> {
    const NONE: Refusal = "no audio codec the WebRTC side runs (opus, G722, PCMU, PCMA)";
    let keep: Vec<(u8, bool)> = m
        .codecs()
        .filter_map(|(pt, codec)| {
            let codec = codec?;
            WEBRTC_AUDIO
                .iter()
                .any(|c| codec.is(c))
                .then(|| (pt, AUXILIARY.iter().any(|a| codec.is(a))))
        })
        .collect();
    if keep.iter().all(|(_, aux)| *aux) {
        return Err(NONE);
    }
    m.retain_payload_types_by(|pt| keep.iter().any(|(k, _)| *k == pt))
        .map_err(|_| NONE)?;
    Ok(())
}

/// Adds `a=rtpmap` for static payload types that have none (a SIP phone may leave them out,
/// RFC 3264 §5.1; JSEP stacks expect every format mapped, RFC 8829 §5.2.1).
fn static_rtpmaps(m: &mut MediaDescription) {
    let missing: Vec<String> = m
        .payload_types()
        .filter(|&pt| m.rtpmap(pt).is_none())
        .filter_map(|pt| {
            let c = sbc_common::sdp::payload::static_codec(pt)?;
            Some(match c.channels {
                Some(ch) => format!("{pt} {}/{}/{ch}", c.encoding, c.clock_rate),
                None => format!("{pt} {}/{}", c.encoding, c.clock_rate),
            })
        })
        .collect();
    for value in missing {
        let _ = m.add_attribute("rtpmap", Some(&value));
    }
}

/// Leaves out of an `m=` line going to a SIP leg what only a WebRTC peer uses: RTCP feedback
/// on a profile without it (RFC 4585 §4.2), when the line came from a WebRTC leg.
pub(super) fn to_sip(m: &mut MediaDescription) {
    if !m.proto().ends_with('F') && !m.proto().ends_with('f') {
        m.remove_attribute("rtcp-fb");
    }
}
