//! Call records: each call's log span (both Call-IDs) and its CDR, opened on
//! [`CallEvent::Started`], stamped on answer, and on [`CallEvent::Ended`] held until the relay
//! reports the media session closed with its final statistics (or written at once when the call
//! had no media session), at most [`MEDIA_WAIT`] after the end.

use crate::call::{CallEvent, CallKey, MediaRelay};
use crate::ops::cdr::{CallRecord, MEDIA_WAIT};
use crate::stack::ids::CallId;
use crate::Map;
use sbc_common::sip::Message;
use sbc_config::Config;
use sbc_relay::api::{RelayEvent, SessionId};
use std::time::{Instant, SystemTime};

/// A live call as the endpoint follows it.
#[derive(Debug)]
struct Tracked {
    /// The CDR being filled in; `None` when CDRs are off (the call is still followed for its
    /// log span).
    record: Option<Box<CallRecord>>,
    /// Both legs' Call-IDs, the keys of `Records::by_call_id`.
    call_ids: [CallId; 2],
    media_session: Option<SessionId>,
    span: tracing::Span,
}

/// Live calls' records and spans, and ended calls waiting for media statistics.
#[derive(Debug)]
pub(super) struct Records {
    node: String,
    /// Whether CDRs are written at all (`[admin] cdr_path`).
    enabled: bool,
    calls: Map<CallKey, Tracked>,
    /// Both legs' Call-IDs of live calls, to log a message inside its call's span.
    by_call_id: Map<CallId, CallKey>,
    /// Ended calls waiting for their relay session's final statistics, with a deadline.
    pending: Map<SessionId, (CallRecord, Instant)>,
}

impl Records {
    pub(super) fn new(cfg: &Config) -> Self {
        Self {
            node: cfg.general.node_name.clone(),
            enabled: cfg.admin.cdr_path.is_some(),
            calls: Map::default(),
            by_call_id: Map::default(),
            pending: Map::default(),
        }
    }

    /// Entries in the live-call, Call-ID and waiting-for-statistics tables.
    pub(super) fn sizes(&self) -> [(&'static str, usize); 3] {
        [
            ("records", self.calls.len()),
            ("records_by_call_id", self.by_call_id.len()),
            ("records_pending", self.pending.len()),
        ]
    }

    /// Whether no ended call still waits for its media statistics.
    pub(super) fn is_settled(&self) -> bool {
        self.pending.is_empty()
    }

    /// The log span of the call `msg` belongs to (by either leg's Call-ID), if any.
    pub(super) fn span_of(&self, msg: &Message) -> tracing::Span {
        msg.call_id()
            .and_then(|c| self.by_call_id.get(c))
            .and_then(|k| self.calls.get(k))
            .map_or_else(tracing::Span::none, |t| t.span.clone())
    }

    /// Follows one call event; returns a CDR ready to write.
    pub(super) fn track(
        &mut self,
        e: &CallEvent,
        now: Instant,
        wall: SystemTime,
    ) -> Option<CallRecord> {
        let key = match e {
            CallEvent::Started { call, .. }
            | CallEvent::Progress { call, .. }
            | CallEvent::Rerouted { call, .. }
            | CallEvent::Answered { call }
            | CallEvent::Ended { call, .. } => *call,
        };
        if let CallEvent::Started {
            a_call_id,
            b_call_id,
            detail,
            ..
        } = e
        {
            let span = tracing::info_span!("call", id = key.0, a_call_id = %a_call_id, b_call_id = %b_call_id);
            let call_ids: [CallId; 2] = [a_call_id.as_str().into(), b_call_id.as_str().into()];
            for id in &call_ids {
                self.by_call_id.insert(id.clone(), key);
            }
            let record = self
                .enabled
                .then(|| CallRecord::started(&self.node, e, wall))
                .flatten()
                .map(Box::new);
            self.calls.insert(
                key,
                Tracked {
                    record,
                    call_ids,
                    media_session: detail.media_session,
                    span,
                },
            );
        }
        let span = self
            .calls
            .get(&key)
            .map_or_else(tracing::Span::none, |t| t.span.clone());
        span.in_scope(|| log_event(e));
        match e {
            CallEvent::Answered { .. } => {
                if let Some(r) = self.calls.get_mut(&key).and_then(|t| t.record.as_mut()) {
                    r.answer.get_or_insert(wall);
                }
                None
            }
            CallEvent::Ended { reason, code, .. } => {
                let t = self.calls.remove(&key)?;
                for id in &t.call_ids {
                    self.by_call_id.remove(id);
                }
                let mut record = *t.record?;
                record.end = wall;
                record.reason = *reason;
                record.code = *code;
                match t.media_session {
                    Some(session) => {
                        self.pending.insert(session, (record, now + MEDIA_WAIT));
                        None
                    }
                    None => Some(record),
                }
            }
            CallEvent::Started { .. } | CallEvent::Progress { .. } | CallEvent::Rerouted { .. } => {
                None
            }
        }
    }

    /// The records whose media statistics did not come in time, to write without them.
    pub(super) fn overdue(&mut self, now: Instant) -> Vec<CallRecord> {
        let late: Vec<SessionId> = self
            .pending
            .iter()
            .filter(|(_, (_, deadline))| now >= *deadline)
            .map(|(s, _)| *s)
            .collect();
        late.into_iter()
            .filter_map(|s| self.pending.remove(&s))
            .map(|(record, _)| {
                tracing::debug!(
                    call = record.call,
                    "CDR written without final media statistics"
                );
                record
            })
            .collect()
    }

    /// A media session closed: its call's record with the final statistics, if one waits.
    pub(super) fn media_closed<M: MediaRelay>(
        &mut self,
        media: &mut M,
        session: SessionId,
    ) -> Option<CallRecord> {
        let stats = media.take_final_stats(session);
        let (mut record, _) = self.pending.remove(&session)?;
        record.media = stats.unwrap_or_default();
        Some(record)
    }

    /// Every record still waiting, to write as the endpoint stops.
    pub(super) fn drain(&mut self) -> Vec<CallRecord> {
        self.pending.drain().map(|(_, (r, _))| r).collect()
    }
}

fn log_event(e: &CallEvent) {
    match e {
        CallEvent::Started {
            call,
            a_call_id,
            b_call_id,
            ..
        } => tracing::info!(call = call.0, a_call_id, b_call_id, "call started"),
        CallEvent::Progress { call, code } => tracing::debug!(call = call.0, code, "call progress"),
        CallEvent::Rerouted { call, route, after } => {
            tracing::info!(call = call.0, route, after, "call rerouted");
        }
        CallEvent::Answered { call } => tracing::info!(call = call.0, "call answered"),
        CallEvent::Ended { call, reason, code } => {
            tracing::info!(call = call.0, ?reason, code, "call ended");
        }
    }
}

/// Logs one relay event that needs no action beyond it.
pub(super) fn log_relay_event(event: &RelayEvent) {
    match event {
        RelayEvent::Latched {
            session,
            stream,
            leg,
            peer,
        } => tracing::debug!(session = session.0, stream, leg, %peer, "media latched"),
        RelayEvent::SourceRejected {
            session,
            stream,
            leg,
            from,
            count,
        } => {
            if count.is_power_of_two() {
                tracing::warn!(session = session.0, stream, leg, %from, count, "media from a foreign source dropped");
            }
        }
        RelayEvent::DtlsConnected {
            session,
            stream,
            leg,
        } => tracing::debug!(session = session.0, stream, leg, "DTLS-SRTP keys in place"),
        RelayEvent::Closed { .. } | RelayEvent::Inactive { .. } | RelayEvent::DtlsFailed { .. } => {
        }
    }
}
