//! The endpoint's life: serving, draining after SIGTERM (new INVITEs get 503, live calls run
//! for `[general] drain_timeout_s`), closing (the rest got BYE; serve [`CLOSE_GRACE`] more so
//! those transactions complete and the last CDRs get their media statistics), stopped; and
//! SIGHUP reloads that swap routes, users, realms and limits between messages.

use super::{large_over_tcp, message_log, Endpoint, Output};
use crate::call::MediaRelay;
use crate::ops::cdr::MEDIA_WAIT;
use sbc_config::Config;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After the calls left at the end of a drain got their BYEs, how long the SBC keeps serving so
/// those transactions complete and the last CDRs get their media statistics.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Where the endpoint is in its life (SIGTERM starts the drain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// Taking calls.
    Serving,
    /// New INVITEs get 503; live calls go on until this deadline or their end.
    Draining(Instant),
    /// The remaining calls got BYE; serving until this deadline or until nothing is pending.
    Closing(Instant),
    /// Done: the driver stops after draining the outputs.
    Stopped,
}

impl<M: MediaRelay> Endpoint<M> {
    /// Whether the endpoint has finished its drain: the driver stops once the outputs are
    /// drained (the last CDRs are among them).
    pub fn is_stopped(&self) -> bool {
        self.stage == Stage::Stopped
    }

    /// When the drain needs a look without any other input (its deadlines).
    pub fn stage_deadline(&self) -> Option<Instant> {
        match self.stage {
            Stage::Draining(t) | Stage::Closing(t) => Some(t),
            Stage::Serving | Stage::Stopped => None,
        }
    }

    /// Starts the drain: readiness off, new INVITEs refused from now on.
    pub(super) fn shutdown(&mut self, now: Instant) {
        if self.stage != Stage::Serving {
            // A second SIGTERM: end the drain now.
            if let Stage::Draining(_) = self.stage {
                self.stage = Stage::Draining(now);
            }
            return;
        }
        let drain = self.cfg.general.drain_timeout();
        tracing::info!(
            calls = self.core.call_count(),
            "shutting down: new calls get 503; live calls may run {}s",
            drain.as_secs()
        );
        self.recorder.metrics().set_ready(false);
        self.stage = Stage::Draining(now + drain);
    }

    /// Moves the drain on; on stopping, the CDRs still waiting for statistics are queued.
    pub(super) fn advance(&mut self, now: Instant) {
        match self.stage {
            Stage::Serving | Stage::Stopped => {}
            Stage::Draining(until) => {
                let live = self.core.call_count();
                if live == 0 {
                    tracing::info!("drained: no calls left");
                    self.stage = Stage::Closing(now + MEDIA_WAIT);
                } else if now >= until {
                    tracing::info!(
                        calls = live,
                        "drain timeout: hanging up the remaining calls"
                    );
                    self.core.shut_down_calls(now);
                    self.stage = Stage::Closing(now + CLOSE_GRACE);
                }
            }
            Stage::Closing(until) => {
                let idle = self.records.is_settled()
                    && self.core.call_count() == 0
                    && self.core.dialog_count() == 0;
                if now >= until || idle {
                    for record in self.records.drain() {
                        self.out.push_back(Output::Cdr(Box::new(record)));
                    }
                    self.stage = Stage::Stopped;
                }
            }
        }
    }

    /// Applies a new configuration without touching live calls or registrations: routes, users,
    /// realms, limits, header policy and session timers apply to what comes next; interface,
    /// relay, admin and transaction timer changes need a restart and are left as they run.
    pub(super) fn reload(&mut self, new: Arc<Config>) {
        let old = &self.cfg;
        let mut kept = Vec::new();
        let mut eff = (*new).clone();
        if eff.interfaces != old.interfaces {
            kept.push("interface");
            eff.interfaces.clone_from(&old.interfaces);
        }
        if eff.relay != old.relay {
            kept.push("relay");
            eff.relay = old.relay.clone();
        }
        if eff.admin != old.admin {
            kept.push("admin");
            eff.admin = old.admin.clone();
        }
        if (eff.sip.t1_ms, eff.sip.t2_ms, eff.sip.t4_ms)
            != (old.sip.t1_ms, old.sip.t2_ms, old.sip.t4_ms)
        {
            kept.push("sip timers (t1_ms, t2_ms, t4_ms)");
            (eff.sip.t1_ms, eff.sip.t2_ms, eff.sip.t4_ms) =
                (old.sip.t1_ms, old.sip.t2_ms, old.sip.t4_ms);
        }
        if (
            eff.general.log_level,
            eff.general.log_format,
            &eff.general.node_name,
        ) != (
            old.general.log_level,
            old.general.log_format,
            &old.general.node_name,
        ) {
            kept.push("general (node_name, log_level, log_format)");
            eff.general.log_level = old.general.log_level;
            eff.general.log_format = old.general.log_format;
            eff.general.node_name.clone_from(&old.general.node_name);
        }
        if let Err(e) = eff.validate() {
            tracing::error!("reload refused, the running config is kept: with the running interfaces, relay and admin sections the new config is invalid: {e}");
            return;
        }
        let cfg = Arc::new(eff);
        let limits_changed = cfg.limits != self.cfg.limits;
        self.seed = self
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(1);
        let dropped = self.front.reload(&cfg, self.seed, limits_changed);
        self.gate.reload(&cfg);
        if !dropped.is_empty() {
            tracing::warn!(
                "realm settings changed: the bindings of {} were dropped",
                dropped.join(", ")
            );
        }
        self.core.router_mut().set_config(cfg.clone());
        self.core.set_call_config(super::call_config(&cfg));
        self.limits = crate::limits(&cfg);
        self.large_over_tcp = large_over_tcp(&cfg);
        self.server = super::server_name(&cfg);
        self.message_log = message_log(&cfg);
        tracing::info!(
            routes = cfg.routes.len(),
            users = cfg.users.len(),
            realms = cfg.realms.len(),
            max_calls = cfg.limits.max_calls,
            live_calls = self.core.call_count(),
            "config reloaded"
        );
        if !kept.is_empty() {
            tracing::warn!("changes to {} need a restart: not applied", kept.join(", "));
        }
        self.cfg = cfg;
        self.record_customers();
    }
}
