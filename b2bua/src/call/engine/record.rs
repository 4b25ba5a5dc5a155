//! What the operator's side of the SBC needs from the call core: who a call is between (for
//! CDRs and logs), a configuration swap on reload, and the calls left when the SBC shuts down.
//!
//! On shutdown the driver stops routing new INVITEs itself (503, RFC 3261 §21.5.4) and, after its
//! drain timeout, calls [`B2bua::shut_down_calls`]: answered calls get a BYE on both legs with a
//! Reason (RFC 3326) and end with [`EndReason::Shutdown`]; calls not answered yet are cancelled on
//! leg B (RFC 3261 §9.1) and end as cancelled once B answers the CANCEL.

use super::{B2bua, Phase};
use crate::call::{CallConfig, CallDetail, EndReason, LegParties, MediaAnchor, Router};
use crate::stack::ids::CallId;
use sbc_common::sip::Message;
use sbc_relay::api::SessionId;
use std::time::Instant;

/// Leg A's and leg B's parties from their INVITEs if call records are kept (`records`), and the
/// call's relay session.
pub(super) fn detail(
    a: &Message,
    b: &Message,
    session: SessionId,
    records: bool,
) -> Box<CallDetail> {
    Box::new(CallDetail {
        legs: if records {
            [parties(a), parties(b)]
        } else {
            Default::default()
        },
        media_session: Some(session),
    })
}

/// The Call-ID and the From and To URIs of an INVITE (RFC 3261 §8.1.1).
pub(super) fn parties(invite: &Message) -> LegParties {
    LegParties {
        call_id: invite.call_id().unwrap_or_default().to_owned(),
        from: invite.from().map(|f| f.uri.to_owned()).unwrap_or_default(),
        to: invite.to().map(|t| t.uri.to_owned()).unwrap_or_default(),
    }
}

impl<M: MediaAnchor, R: Router> B2bua<M, R> {
    /// Replaces the call settings (limits, header policy, session timers, Server) for what comes
    /// next; live calls keep their state. T1/T2/T4 stay as the core was built with (RFC 3261
    /// Appendix A), since live transactions run on them.
    pub fn set_call_config(&mut self, cfg: CallConfig) {
        let timers = self.cfg.timers;
        self.dialogs.set_max_forwards(cfg.max_forwards);
        self.cfg = cfg;
        self.cfg.timers = timers;
    }

    /// Whether a live call's leg A has this Call-ID, e.g. for an INVITE retransmission that must
    /// still reach its transaction while the SBC refuses new calls (RFC 3261 §17.2.3).
    pub fn has_call_id(&self, call_id: &str) -> bool {
        self.a_call_ids.contains_key(call_id)
    }

    /// Counts one more live call with leg-A Call-ID `call_id`.
    pub(super) fn index_a_call_id(&mut self, call_id: &CallId) {
        *self.a_call_ids.entry(call_id.clone()).or_insert(0) += 1;
    }

    /// Counts one live call with leg-A Call-ID `call_id` fewer.
    pub(super) fn unindex_a_call_id(&mut self, call_id: &CallId) {
        if let Some(n) = self.a_call_ids.get_mut(call_id.as_str()) {
            *n -= 1;
            if *n == 0 {
                self.a_call_ids.remove(call_id);
            }
        }
    }

    /// Ends every live call for a shutdown: BYE with a Reason on both legs of answered calls,
    /// CANCEL on leg B of the others (RFC 3261 §9.1, §15.1.1, RFC 3326). Returns how many calls
    /// were live; drain [`B2bua::poll_output`] afterwards.
    pub fn shut_down_calls(&mut self, now: Instant) -> usize {
        let mut keys: Vec<_> = self.calls.iter().map(|(k, c)| (*k, c.phase)).collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        let n = keys.len();
        for (key, phase) in keys {
            if phase == Phase::Answered {
                self.hang_up(now, key, EndReason::Shutdown, 200);
            } else {
                self.cancel_b(now, key);
            }
        }
        self.pump(now);
        n
    }
}
