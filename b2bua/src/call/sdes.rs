//! SDES-SRTP negotiated per leg (RFC 4568, RFC 3711): each leg's peer gets keys the SBC made
//! for that leg, the peer's own keys go only to the relay, and a leg's policy
//! ([`SrtpPolicy`]) decides its profile (`RTP/AVP` or `RTP/SAVP`, with or without `F`) and
//! whether an offer or answer without an acceptable key is refused.
//!
//! The relay terminates SRTP, so what one leg says about keys never reaches the other leg: every
//! `a=crypto` that came in is removed from what goes out, and the SBC's own are added.

use super::SrtpPolicy;
use sbc_common::sdp::crypto::{format_crypto, Crypto};
use sbc_common::sdp::MediaDescription;
use sbc_relay::api::KeyChange;
use sbc_relay::srtp::{MasterKey, Suite};

/// Whether an SDP is an offer or an answer (RFC 3264 §5, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exchange {
    /// An offer: the receiver answers it.
    Offer,
    /// The answer to the last offer the other way.
    Answer,
}

/// Suites the SBC offers, in its order of preference; the tags are 1, 2, 3 (RFC 4568 §6.2,
/// RFC 7714 §14.2).
const OFFER_SUITES: [Suite; 3] = [
    Suite::AesCm128HmacSha1_80,
    Suite::AeadAes128Gcm,
    Suite::AesCm128HmacSha1_32,
];

/// Why the SDES negotiation of a leg failed: the text of a `Warning: 399` on the 488.
pub(super) type Refusal = &'static str;

/// A key with its tag and suite (RFC 4568 §9.1).
#[derive(Clone, Debug, PartialEq, Eq)]
struct TaggedKey {
    tag: u32,
    suite: Suite,
    key: MasterKey,
}

/// What the peer of a leg last offered on one stream.
#[derive(Clone, Debug)]
struct PeerOffer {
    /// Its transport protocol, which the answer must repeat (RFC 3264 §6).
    proto: String,
    /// The offered key the SBC takes, if any.
    accepted: Option<TaggedKey>,
}

/// The SDES state of one stream on one leg.
#[derive(Clone, Debug, Default)]
pub(super) struct LegKeys {
    peer_offer: Option<PeerOffer>,
    /// Keys the SBC offered on this leg, until the answer picks one.
    offered: Vec<TaggedKey>,
    /// The peer's key in use (what the relay decrypts with).
    inbound: Option<TaggedKey>,
    /// The SBC's key in use (what the relay encrypts with).
    outbound: Option<TaggedKey>,
}

/// Relay key changes for one leg: inbound, outbound.
pub(super) type Rekey = (KeyChange, KeyChange);

/// The first `a=crypto` of `m` whose suite the relay runs, without MKI or session parameters
/// and with a key of the suite's length (RFC 4568 §6.1, §7.1.1).
fn acceptable<'a>(
    mut cryptos: impl Iterator<Item = Crypto<'a>>,
    wanted: impl Fn(&Crypto<'a>, Suite) -> bool,
) -> Option<TaggedKey> {
    cryptos.find_map(|c| {
        let suite = Suite::from_sdes(c.suite)?;
        if c.uses_mki() || c.session_params.is_some() || !wanted(&c, suite) {
            return None;
        }
        let mut buf = [0u8; 48];
        let n = c.inline_key()?.decode_into(&mut buf)?;
        let key = MasterKey::from_sdes(suite, buf.get(..n)?)?;
        Some(TaggedKey {
            tag: c.tag,
            suite,
            key,
        })
    })
}

/// Whether the transport protocol is SRTP's (`RTP/SAVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVP(F)`).
fn secure_proto(proto: &str) -> bool {
    proto
        .rsplit('/')
        .next()
        .is_some_and(|p| p.eq_ignore_ascii_case("SAVP") || p.eq_ignore_ascii_case("SAVPF"))
}

/// The RTP profile a leg is offered: `RTP/SAVP` when SRTP is required there, else `RTP/AVP`,
/// with `F` when the incoming offer used feedback (RFC 4585, RFC 5124) and was not a WebRTC
/// offer (whose feedback is the browser's business, not a SIP phone's).
fn offer_proto(incoming: &str, policy: SrtpPolicy) -> &'static str {
    let feedback = (incoming.ends_with('F') || incoming.ends_with('f'))
        && !super::dtls::is_dtls_proto(incoming);
    match (policy == SrtpPolicy::Required, feedback) {
        (true, true) => "RTP/SAVPF",
        (true, false) => "RTP/SAVP",
        (false, true) => "RTP/AVPF",
        (false, false) => "RTP/AVP",
    }
}

fn change(current: Option<&TaggedKey>, new: Option<&TaggedKey>) -> KeyChange {
    match (current, new) {
        (Some(c), Some(n)) if c.suite == n.suite && c.key == n.key => KeyChange::Keep,
        (_, Some(n)) => KeyChange::Key(n.suite, n.key.clone()),
        (None, None) => KeyChange::Keep,
        (Some(_), None) => KeyChange::Plain,
    }
}

/// A fresh key cut to what `suite` carries: GCM's salt is 12 bytes (RFC 7714 §12), so the
/// relay must key itself with exactly what the peer reads from the SDP.
fn fresh_for(
    suite: Suite,
    fresh: &mut dyn FnMut() -> Option<MasterKey>,
) -> Result<MasterKey, Refusal> {
    let key = fresh().ok_or("no randomness for an SRTP key")?;
    let mut raw = [0u8; 30];
    let n = key.write_sdes(suite, &mut raw);
    let cut = MasterKey::from_sdes(suite, &raw[..n]);
    raw.fill(0);
    cut.ok_or("no randomness for an SRTP key")
}

fn write_crypto(m: &mut MediaDescription, k: &TaggedKey) {
    let mut raw = [0u8; 30];
    let n = k.key.write_sdes(k.suite, &mut raw);
    let value = format_crypto(k.tag, k.suite.sdes_name(), &raw[..n]);
    let _ = m.add_attribute("crypto", Some(&value));
    raw.fill(0);
}

impl LegKeys {
    /// Whether nothing is known on this leg: no peer offer, no keys offered or in use.
    pub(super) fn is_blank(&self) -> bool {
        self.peer_offer.is_none()
            && self.offered.is_empty()
            && self.inbound.is_none()
            && self.outbound.is_none()
    }

    /// Reads the keys of `m`, received from this leg's peer, against `policy` (RFC 4568 §7).
    /// An offer is remembered for the answer; an answer picks one of the keys the SBC offered
    /// and returns the relay's new keys for this leg.
    pub(super) fn receive(
        &mut self,
        policy: SrtpPolicy,
        kind: Exchange,
        m: &MediaDescription,
    ) -> Result<Option<Rekey>, Refusal> {
        if !m.is_rtp() {
            return Ok(None);
        }
        if policy == SrtpPolicy::Dtls {
            // Keyed by the DTLS handshake, not SDP (RFC 5763 §5); `dtls` checks the profile.
            if kind == Exchange::Offer {
                self.peer_offer = Some(PeerOffer {
                    proto: m.proto().to_owned(),
                    accepted: None,
                });
            }
            return Ok(None);
        }
        let secure = secure_proto(m.proto());
        match kind {
            Exchange::Offer => {
                let accepted = match policy {
                    _ if super::dtls::is_dtls_proto(m.proto()) => {
                        return Err("DTLS-SRTP (WebRTC) offered on a side without profile = webrtc")
                    }
                    SrtpPolicy::Off if secure => return Err("SRTP is not enabled on this side"),
                    SrtpPolicy::Off => None,
                    _ => acceptable(m.cryptos(), |_, _| true),
                };
                if accepted.is_none() && (secure || policy == SrtpPolicy::Required) {
                    return Err(if secure {
                        "no acceptable SRTP crypto suite"
                    } else {
                        "SRTP required"
                    });
                }
                self.peer_offer = Some(PeerOffer {
                    proto: m.proto().to_owned(),
                    accepted,
                });
                Ok(None)
            }
            Exchange::Answer => {
                // Kept for a later answer to the same offer (18x then 2xx, another fork).
                let offered = &self.offered;
                let theirs = acceptable(m.cryptos(), |c, suite| {
                    offered.iter().any(|o| o.tag == c.tag && o.suite == suite)
                });
                let ours = theirs
                    .as_ref()
                    .and_then(|t| offered.iter().find(|o| o.tag == t.tag))
                    .cloned();
                if ours.is_none() && policy == SrtpPolicy::Required {
                    return Err("answer without an acceptable SRTP key");
                }
                let rekey = (
                    change(self.inbound.as_ref(), theirs.as_ref()),
                    change(self.outbound.as_ref(), ours.as_ref()),
                );
                self.inbound = theirs;
                self.outbound = ours;
                Ok(Some(rekey))
            }
        }
    }

    /// Reads the peer's answer `m` to an offer the SBC repeated on this leg (a session refresh
    /// re-INVITE carrying the SDP last sent there, RFC 4028 §10): the peer may answer the key in
    /// use with a new key of its own (RFC 4568 §7.1.4); returns the relay's change then.
    pub(super) fn refresh_answer(&mut self, m: &MediaDescription) -> Option<Rekey> {
        let ours = self.outbound.as_ref()?;
        let theirs = acceptable(m.cryptos(), |c, suite| {
            c.tag == ours.tag && suite == ours.suite
        })?;
        let change = change(self.inbound.as_ref(), Some(&theirs));
        self.inbound = Some(theirs);
        (change != KeyChange::Keep).then_some((change, KeyChange::Keep))
    }

    /// Writes this leg's keys into `m`, the SDP the SBC sends to the leg's peer: every `a=crypto`
    /// from the other leg removed, the profile set, and the SBC's keys added — all suites it runs
    /// on an offer (the key in use kept for its suite, RFC 4568 §7.1.4), the one matching the
    /// peer's accepted offer on an answer, which returns the relay's new keys for this leg.
    pub(super) fn send(
        &mut self,
        policy: SrtpPolicy,
        kind: Exchange,
        m: &mut MediaDescription,
        fresh: &mut dyn FnMut() -> Option<MasterKey>,
    ) -> Result<Option<Rekey>, Refusal> {
        m.remove_attribute("crypto");
        if !m.is_rtp() || policy == SrtpPolicy::Dtls {
            // A WebRTC leg's profile, setup and fingerprint are `dtls`'s to write.
            return Ok(None);
        }
        match kind {
            Exchange::Offer => {
                let proto = offer_proto(m.proto(), policy);
                m.set_proto(proto);
                self.offered.clear();
                if policy == SrtpPolicy::Off {
                    return Ok(None);
                }
                for (tag, suite) in (1u32..).zip(OFFER_SUITES) {
                    let key = match &self.outbound {
                        Some(k) if k.suite == suite => k.key.clone(),
                        _ => fresh_for(suite, fresh)?,
                    };
                    let k = TaggedKey { tag, suite, key };
                    write_crypto(m, &k);
                    self.offered.push(k);
                }
                Ok(None)
            }
            Exchange::Answer => {
                // Kept: a 2xx may answer again what an 18x answered.
                let Some(offer) = self.peer_offer.clone() else {
                    return Ok(None);
                };
                m.set_proto(&offer.proto);
                let ours = match &offer.accepted {
                    None => None,
                    Some(theirs) => {
                        let key = match &self.outbound {
                            Some(k) if k.suite == theirs.suite => k.key.clone(),
                            _ => fresh_for(theirs.suite, fresh)?,
                        };
                        let k = TaggedKey {
                            tag: theirs.tag,
                            suite: theirs.suite,
                            key,
                        };
                        write_crypto(m, &k);
                        Some(k)
                    }
                };
                let rekey = (
                    change(self.inbound.as_ref(), offer.accepted.as_ref()),
                    change(self.outbound.as_ref(), ours.as_ref()),
                );
                self.inbound = offer.accepted;
                self.outbound = ours;
                Ok(Some(rekey))
            }
        }
    }
}
