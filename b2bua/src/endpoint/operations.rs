//! Operations inputs: management API commands (registrations here, calls in
//! [`crate::ops::management`]) and the relay's events (inactivity hangs answered calls up, closed
//! sessions complete their CDRs).

use super::{records, Endpoint, Output};
use crate::call::MediaRelay;
use crate::ops::management::{Command, CommandError};
use sbc_relay::api::RelayEvent;
use std::time::Instant;

impl<M: MediaRelay> Endpoint<M> {
    /// Runs a management command: registrations here, the rest on the call core.
    pub(super) fn on_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::ListRegistrations { reply } => {
                let list = self
                    .front
                    .customers
                    .registrations(now)
                    .iter()
                    .map(super::front_door::registration_json)
                    .collect();
                let _ = reply.send(list);
            }
            Command::RemoveRegistration { aor, reply } => {
                let n = self.front.customers.remove_registration(&aor);
                tracing::info!(%aor, bindings = n, "registration removed by the management API");
                self.record_customers();
                let _ = reply.send(if n == 0 {
                    Err(CommandError::NoSuchRegistration)
                } else {
                    Ok(n)
                });
            }
            cmd => crate::ops::management::execute(&mut self.core, &self.cfg, now, cmd),
        }
    }

    /// The housekeeping tick or a relay wake-up: counters, late CDRs, and the relay's events
    /// (inactivity hangs answered calls up, closed sessions complete their CDRs, the rest is
    /// logged).
    pub(super) fn on_relay(&mut self, now: Instant) {
        self.recorder.relay(&self.core.media().metrics());
        for record in self.records.overdue(now) {
            self.out.push_back(Output::Cdr(Box::new(record)));
        }
        self.drain_relay_events(now);
    }

    /// Acts on every event the relay has queued.
    pub(super) fn drain_relay_events(&mut self, now: Instant) {
        while let Some(event) = self.core.media_mut().poll_event() {
            match event {
                RelayEvent::Closed { session } => {
                    if let Some(record) = self.records.media_closed(self.core.media_mut(), session)
                    {
                        self.out.push_back(Output::Cdr(Box::new(record)));
                    }
                }
                RelayEvent::Inactive { session, idle } => {
                    if self.core.handle_media_timeout(now, session) {
                        tracing::info!(session = session.0, ?idle, "no media: call hung up");
                    } else {
                        tracing::debug!(
                            session = session.0,
                            ?idle,
                            "no media on a call not answered yet"
                        );
                    }
                }
                RelayEvent::DtlsFailed {
                    session,
                    stream,
                    leg,
                    reason,
                } => {
                    let ended = self.core.handle_dtls_failure(now, session);
                    tracing::warn!(
                        session = session.0,
                        stream,
                        leg,
                        reason,
                        ended,
                        "DTLS failed"
                    );
                }
                e @ (RelayEvent::Latched { .. }
                | RelayEvent::SourceRejected { .. }
                | RelayEvent::DtlsConnected { .. }) => {
                    records::log_relay_event(&e);
                }
            }
        }
    }
}
