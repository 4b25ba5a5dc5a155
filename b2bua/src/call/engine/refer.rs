//! The extension headers that cross with relayed in-dialog requests and their answers: REFER's
//! Refer-To and Referred-By (RFC 3515, RFC 3892), SUBSCRIBE/NOTIFY's Event,
//! Subscription-State and Expires (RFC 6665), and a relayed UPDATE's session timer.
//!
//! A Replaces inside Refer-To (RFC 3891 §6.1, attended transfer) names a dialog between the
//! referrer and the SBC; it is rewritten to name the far leg of the call that dialog belongs to
//! (that leg's Call-ID, the far peer's tag as to-tag, the SBC's as from-tag), the only dialog
//! the transfer target knows. A Replaces naming no dialog of the SBC, or one whose call has no
//! far leg, gets the REFER a 403. Limitation: the Refer-To URI itself crosses as written, and an
//! INVITE with Replaces that later reaches the SBC is routed as a new call (the SBC does not
//! join it to the replaced one).

use super::B2bua;
use crate::call::headers::{contact, host, rehost_party};
use crate::call::{CallKey, Leg, MediaAnchor, Router};
use crate::stack::dialog::DialogId;
use sbc_common::sip::uri::{escape_header, percent_decode, Uri};
use sbc_common::sip::{HeaderName, Message, Method, NameAddr, Replaces};
use std::time::Instant;

/// Headers of SUBSCRIBE and NOTIFY requests that cross (RFC 6665 §8.2).
const EVENT_HEADERS: &[HeaderName] = &[
    HeaderName::Event,
    HeaderName::SubscriptionState,
    HeaderName::Expires,
];

/// A refusal of a relayed request: status and reason phrase (RFC 3261 §21.4).
type Refusal = (u16, &'static str);

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// Adds to `out`, the copy of in-dialog request `req` going out on leg `to`, the headers
    /// its method needs beyond the whitelist (RFC 3515 §2.1, RFC 6665 §8.2, RFC 4028 §7.4), or
    /// says how to refuse it.
    pub(super) fn cross_in_dialog_headers(
        &mut self,
        req: &Message,
        out: &mut Message,
        key: CallKey,
        to: Leg,
    ) -> Result<(), Refusal> {
        match req.method() {
            Some(Method::Update) => self.decorate_relayed_refresh(key, to, out),
            Some(Method::Refer) => {
                let mut refer_to = req.values(&HeaderName::ReferTo);
                let (Some(target), None) = (refer_to.next(), refer_to.next()) else {
                    // RFC 3515 §2.4.1: exactly one Refer-To.
                    return Err((400, "Exactly One Refer-To Required"));
                };
                let target = self.map_refer_to(target)?;
                // Never the unmapped copy, even if the whitelist names these headers.
                out.remove_headers(&HeaderName::ReferTo);
                out.remove_headers(&HeaderName::ReferredBy);
                out.push_header(HeaderName::ReferTo, target);
                if let Some(by) = req.header(&HeaderName::ReferredBy) {
                    let by = NameAddr::parse(by).map_err(|_| (400, "Bad Referred-By"))?;
                    let side = self.calls.get(&key).map(|c| c.sides[to.index()].sip.addr);
                    if let Some(addr) = side {
                        out.push_header(
                            HeaderName::ReferredBy,
                            rehost_party(Some(by), &host(addr)),
                        );
                    }
                }
                copy_named(req, out, "Refer-Sub");
            }
            Some(Method::Subscribe | Method::Notify) => {
                for name in EVENT_HEADERS {
                    out.remove_headers(name);
                    for v in req.values(name) {
                        out.push_header(name.clone(), v.to_owned());
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Adds to `out`, the answer going back to leg `from` for relayed request `req`, what the
    /// far side's answer `rsp` says beyond the whitelist: Expires of a SUBSCRIBE's 2xx,
    /// Refer-Sub of a REFER's, and a relayed UPDATE's session timer (RFC 6665 §4.1.2.1,
    /// RFC 4488 §4, RFC 4028 §9).
    pub(super) fn cross_in_dialog_answer_headers(
        &mut self,
        now: Instant,
        key: CallKey,
        from: Leg,
        req: &Message,
        rsp: &Message,
        out: &mut Message,
    ) {
        let ok = rsp.status().is_some_and(|s| (200..300).contains(&s));
        if ok && matches!(req.method(), Some(Method::Update | Method::Subscribe)) {
            // A 2xx to a target refresh carries the answerer's Contact: ours on that leg
            // (RFC 3311 §5.2, RFC 6665 §4.1.2.1).
            if let Some(call) = self.calls.get(&key) {
                out.set_header(HeaderName::Contact, contact(&call.sides[from.index()]));
            }
        }
        match req.method() {
            Some(Method::Update) => self.session_relayed_answer(now, key, from, req, rsp, out),
            Some(Method::Subscribe) => {
                if let Some(v) = rsp.header(&HeaderName::Expires) {
                    out.set_header(HeaderName::Expires, v.to_owned());
                }
            }
            Some(Method::Refer) => copy_named(rsp, out, "Refer-Sub"),
            _ => {}
        }
    }

    /// Refer-To `value` with any Replaces in its URI mapped to the far leg of the call whose
    /// dialog it names (RFC 3891 §6.1); see the module doc.
    fn map_refer_to(&self, value: &str) -> Result<String, Refusal> {
        let bad = (400, "Bad Refer-To");
        let target = NameAddr::parse(value).map_err(|_| bad)?;
        let uri = Uri::parse(target.uri).map_err(|_| bad)?;
        let Some(h) = uri
            .headers()
            .find(|h| h.name_unescaped().eq_ignore_ascii_case("Replaces"))
        else {
            return Ok(value.trim().to_owned());
        };
        let bad = (400, "Bad Replaces In Refer-To");
        let decoded = percent_decode(h.value()).map_err(|_| bad)?;
        let named = Replaces::parse(&decoded).map_err(|_| bad)?;
        // The referrer's dialog with the SBC, as the referrer writes it: the to-tag is the
        // SBC's (our local tag), the from-tag the referrer's (RFC 3891 §3).
        let id = DialogId {
            call_id: named.call_id.into(),
            local_tag: named.to_tag.into(),
            remote_tag: named.from_tag.into(),
        };
        let unknown = (403, "Replaces Names No Dialog Of This SBC");
        let &(call, leg) = self.by_dialog.get(&id).ok_or(unknown)?;
        let far = self
            .calls
            .get(&call)
            .and_then(|c| c.dialogs[leg.other().index()].clone())
            .ok_or((403, "Replaced Call Has No Far Leg"))?;
        let mut mapped = format!(
            "{};to-tag={};from-tag={}",
            far.call_id, far.remote_tag, far.local_tag
        );
        if named.early_only {
            mapped.push_str(";early-only");
        }
        let old = format!("{}={}", h.name(), h.value());
        let new = format!("{}={}", h.name(), escape_header(&mapped));
        Ok(value.trim().replacen(&old, &new, 1))
    }
}

/// Copies every header called `name` (an extension without a [`HeaderName`] variant) from
/// `from` to `to`.
fn copy_named(from: &Message, to: &mut Message, name: &str) {
    let name = HeaderName::from_name(name);
    to.remove_headers(&name);
    for v in from.values(&name) {
        to.push_header(name.clone(), v.to_owned());
    }
}
