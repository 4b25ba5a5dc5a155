//! BUNDLE on a WebRTC leg (RFC 8843): a browser that offers `a=group:BUNDLE` gets an answer
//! that accepts it — every bundled `m=` line on the first one's port, ICE credentials and
//! candidate, with the group repeated — and the relay carries the other lines' media on that
//! line's transport, told apart by payload type. Towards the SIP leg each `m=` line keeps a
//! port of its own. The SBC's own offers to a browser do not bundle (browsers accept that).

use sbc_common::sdp::Sdp;

/// A bundle as the relay is told it: the owner line, and each member line with its RTP
/// payload types.
pub(super) type Programmed = (usize, Vec<(usize, Vec<u8>)>);

/// The BUNDLE state of one leg.
#[derive(Clone, Debug, Default)]
pub(super) struct LegBundle {
    /// The `m=` line indexes the peer's last offer bundled, in the group's order.
    offered: Vec<usize>,
    /// The lines bundled in the SBC's answer on this leg, owner first.
    answered: Vec<usize>,
    /// What the relay was last told: owner line and member lines with their payload types.
    programmed: Option<Programmed>,
}

/// The `m=` line indexes named by the first `a=group:BUNDLE` of `sdp` (by `a=mid`), in the
/// group's order; lines with port 0 are left out (RFC 8843 §7.3.3).
fn offered_group(sdp: &Sdp) -> Vec<usize> {
    let Some(group) = sdp
        .attributes()
        .filter(|a| a.is("group"))
        .filter_map(|a| a.value)
        .find_map(|v| {
            let (semantics, mids) = v.split_once(' ')?;
            semantics.eq_ignore_ascii_case("BUNDLE").then_some(mids)
        })
    else {
        return Vec::new();
    };
    group
        .split_whitespace()
        .filter_map(|mid| {
            sdp.media()
                .find(|m| m.description().attribute("mid") == Some(mid))
                .filter(|m| !m.is_rejected())
                .map(|m| m.index())
        })
        .collect()
}

/// Opens the `bundle-only` lines of a browser's offer (port 0, RFC 8843 §6, as `max-bundle`
/// pages send them) onto the port of the group's first line, with that line's transport
/// attributes where they have none, so they are anchored like any bundled line.
pub(super) fn open_bundle_only(sdp: &mut Sdp) {
    let group = offered_group(sdp);
    let Some(&owner) = group.first() else {
        return;
    };
    let Some(o) = sdp.media_at(owner) else {
        return;
    };
    let port = o.port();
    let mids: Vec<String> = sdp
        .attributes()
        .filter(|a| a.is("group"))
        .filter_map(|a| a.value)
        .filter_map(|v| v.strip_prefix("BUNDLE ").map(str::to_owned))
        .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    const TRANSPORT: [&str; 5] = ["fingerprint", "setup", "rtcp-mux", "ice-ufrag", "ice-pwd"];
    let inherited: Vec<(&str, Option<String>)> = TRANSPORT
        .iter()
        .filter_map(|&name| {
            let value = o.description().attribute(name)?;
            Some((name, (!value.is_empty()).then(|| value.to_owned())))
        })
        .collect();
    for m in sdp.media_iter_mut() {
        let in_group = m
            .attribute("mid")
            .is_some_and(|mid| mids.iter().any(|g| g == mid));
        if !(m.port() == 0 && in_group && m.has_attribute("bundle-only")) {
            continue;
        }
        m.set_port(port);
        for (name, value) in &inherited {
            if !m.has_attribute(name) {
                let _ = m.add_attribute(name, value.as_deref());
            }
        }
    }
}

impl LegBundle {
    /// Reads the group of an offer from this leg's peer (before its transport lines go).
    pub(super) fn receive_offer(&mut self, sdp: &Sdp) {
        self.offered = offered_group(sdp);
    }

    /// Settles the bundle of the answer going to this leg's peer: the offered lines still
    /// live in it (`live(i)`), the first of them the owner; none when fewer than two are left.
    pub(super) fn answer(&mut self, live: impl Fn(usize) -> bool) {
        self.answered = self.offered.iter().copied().filter(|&i| live(i)).collect();
        if self.answered.len() < 2 {
            self.answered.clear();
        }
    }

    /// The line whose transport line `i` rides in the answer, when it is a member (not the
    /// owner) of the bundle.
    pub(super) fn carrier_of(&self, i: usize) -> Option<usize> {
        let owner = *self.answered.first()?;
        (i != owner && self.answered.contains(&i)).then_some(owner)
    }

    /// Whether line `i` is a member riding another line's transport (its own ICE and DTLS are
    /// then not run).
    pub(super) fn is_member(&self, i: usize) -> bool {
        self.carrier_of(i).is_some()
    }

    /// The session-level `a=group:BUNDLE` value of the answer, from the lines' mids.
    pub(super) fn group_value(&self, sdp: &Sdp) -> Option<String> {
        if self.answered.is_empty() {
            return None;
        }
        let mids: Vec<&str> = self
            .answered
            .iter()
            .filter_map(|&i| sdp.media_at(i)?.description().attribute("mid"))
            .collect();
        (mids.len() == self.answered.len()).then(|| format!("BUNDLE {}", mids.join(" ")))
    }

    /// What the relay should be told now, if it changed since last time: the owner line and
    /// each member line with the payload types of its `m=` line in `sdp`; an empty member
    /// list ends the bundle of the owner named.
    pub(super) fn change(&mut self, sdp: &Sdp) -> Option<Programmed> {
        let wanted = self.answered.split_first().map(|(&owner, members)| {
            let list = members
                .iter()
                .map(|&i| {
                    let pts = sdp
                        .media_at(i)
                        .map(|m| m.description().payload_types().collect())
                        .unwrap_or_default();
                    (i, pts)
                })
                .collect();
            (owner, list)
        });
        if wanted == self.programmed {
            return None;
        }
        match (
            std::mem::replace(&mut self.programmed, wanted.clone()),
            wanted,
        ) {
            (_, Some(w)) => Some(w),
            (Some((owner, _)), None) => Some((owner, Vec::new())),
            (None, None) => None,
        }
    }
}
