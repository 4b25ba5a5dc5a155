//! The management API's call commands, sent by [`crate::ops::admin`] over a channel and executed on
//! the driver task and executed by its endpoint, the only owner of the call core and the relay (RFC 7092
//! §2, RFC 3725 §4.1).
//!
//! ```text
//!   admin task ── Command ──► driver task ─► Endpoint: execute(core, cmd) ── reply (oneshot) ──► admin task
//! ```
//!
//! A click-to-dial party is named by a Request-URI user and a `[[route]]` name: the route's
//! `to_interface` is the SBC's side towards the party and its `next_hop` the destination, so the
//! API can only reach what the configuration already routes to, never a host given in a request.

use crate::call::{B2bua, CallKey, CallSnapshot, ControlError, MediaRelay, Party, Router};
use sbc_config::Config;
use sbc_relay::forward::LegStats;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Commands waiting for the driver, at most.
pub const QUEUE: usize = 32;

/// One click-to-dial party as the API names it: a Request-URI user and a configured route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The Request-URI user.
    pub user: String,
    /// The `[[route]]` whose `to_interface` and `next_hop` reach the party.
    pub route: String,
}

/// Why a command failed, with the HTTP status the API answers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No live call has this id (404).
    #[error("no such call")]
    NoSuchCall,
    /// The request names something invalid (400).
    #[error("{0}")]
    Invalid(String),
    /// The call limit is reached (503).
    #[error("call limit reached")]
    Busy,
    /// The call core could not send the INVITE (500).
    #[error("could not send the INVITE")]
    Send,
    /// No binding has this address-of-record (404).
    #[error("no such registration")]
    NoSuchRegistration,
}

impl CommandError {
    /// The HTTP status for this error (RFC 9110 §15).
    pub fn status(&self) -> u16 {
        match self {
            Self::NoSuchCall | Self::NoSuchRegistration => 404,
            Self::Invalid(_) => 400,
            Self::Busy => 503,
            Self::Send => 500,
        }
    }
}

impl From<ControlError> for CommandError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::NoSuchCall => Self::NoSuchCall,
            ControlError::Busy => Self::Busy,
            ControlError::BadUser(_) => Self::Invalid(e.to_string()),
            _ => Self::Send,
        }
    }
}

/// One management command and where its answer goes.
#[derive(Debug)]
pub enum Command {
    /// Every live call as JSON objects (see `docs/admin-api.yaml`, `Call`).
    ListCalls {
        /// The answer.
        reply: oneshot::Sender<Vec<serde_json::Value>>,
    },
    /// One call as a JSON object.
    GetCall {
        /// The call id.
        id: u64,
        /// The answer.
        reply: oneshot::Sender<Result<serde_json::Value, CommandError>>,
    },
    /// Terminate a call: BYE on both legs (RFC 3261 §15.1.1).
    Terminate {
        /// The call id.
        id: u64,
        /// The answer.
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    /// Click-to-dial: call `a`, then bridge to `b` (RFC 3725 §4.1).
    Originate {
        /// The party called first.
        a: Target,
        /// The party called once `a` answers.
        b: Target,
        /// The new call's id.
        reply: oneshot::Sender<Result<u64, CommandError>>,
    },
    /// Every customer binding as JSON objects (see `docs/admin-api.yaml`, `Registration`).
    ListRegistrations {
        /// The answer.
        reply: oneshot::Sender<Vec<serde_json::Value>>,
    },
    /// Remove every binding of an address-of-record (RFC 3261 §10.3 step 6, as `Contact: *`).
    RemoveRegistration {
        /// The address-of-record, e.g. `sip:alice@example.com`.
        aor: String,
        /// How many bindings went; [`CommandError::NoSuchRegistration`] when none.
        reply: oneshot::Sender<Result<usize, CommandError>>,
    },
}

/// The admin side of the command channel.
pub type CommandSender = mpsc::Sender<Command>;

/// A command channel: the sender for the admin endpoint, the receiver for the driver.
pub fn channel() -> (CommandSender, mpsc::Receiver<Command>) {
    mpsc::channel(QUEUE)
}

/// Runs `cmd` on the call core and answers it; the caller then drains the core's output.
pub fn execute<M: MediaRelay, R: Router>(
    core: &mut B2bua<M, R>,
    cfg: &Config,
    now: Instant,
    cmd: Command,
) {
    match cmd {
        Command::ListCalls { reply } => {
            let calls = core
                .calls()
                .iter()
                .map(|c| call_json(core.media(), now, c))
                .collect();
            let _ = reply.send(calls);
        }
        Command::GetCall { id, reply } => {
            let call = core
                .calls()
                .iter()
                .find(|c| c.key == CallKey(id))
                .map(|c| call_json(core.media(), now, c))
                .ok_or(CommandError::NoSuchCall);
            let _ = reply.send(call);
        }
        Command::Terminate { id, reply } => {
            let _ = reply.send(core.terminate(now, CallKey(id)).map_err(Into::into));
        }
        Command::Originate { a, b, reply } => {
            let result = party(cfg, &a).and_then(|a| {
                let b = party(cfg, &b)?;
                Ok(core.originate(now, a, b)?.0)
            });
            let _ = reply.send(result);
        }
        // Answered by the endpoint, which owns the registrations.
        Command::ListRegistrations { reply } => {
            let _ = reply.send(Vec::new());
        }
        Command::RemoveRegistration { reply, .. } => {
            let _ = reply.send(Err(CommandError::NoSuchRegistration));
        }
    }
}

/// Resolves a target through its route: the SBC's UDP side on the route's `to_interface`
/// (same IP family as the next hop) and the route's next hop.
fn party(cfg: &Config, t: &Target) -> Result<Party, CommandError> {
    let route = cfg
        .route(&t.route)
        .ok_or_else(|| CommandError::Invalid(format!("unknown route {:?}", t.route)))?;
    if route.transport != sbc_config::Transport::Udp {
        return Err(CommandError::Invalid(format!(
            "route {:?} is not UDP; only UDP is built so far",
            t.route
        )));
    }
    let to = cfg
        .interface(&route.to_interface)
        .ok_or_else(|| CommandError::Invalid(format!("route {:?} has no interface", t.route)))?;
    let (side, next_hop) = crate::routing::outbound_side(cfg, route).ok_or_else(|| {
        CommandError::Invalid(format!(
            "interface {:?} has no UDP listener for route {:?}",
            to.name, t.route
        ))
    })?;
    Ok(Party {
        user: t.user.clone(),
        side,
        next_hop,
    })
}

/// A call as the API's JSON `Call` object, with each stream's latest relay statistics.
pub fn call_json<M: MediaRelay>(relay: &M, now: Instant, c: &CallSnapshot) -> serde_json::Value {
    let stats = c.media_session.and_then(|s| relay.session_stats(s));
    let leg = |i: usize| {
        let l = &c.legs[i];
        serde_json::json!({
            "call_id": l.call_id,
            "local": l.local.addr.to_string(),
            "peer": l.peer.addr.to_string(),
            "transport": l.peer.transport.as_str(),
        })
    };
    let streams: Vec<serde_json::Value> = c
        .streams
        .iter()
        .map(|s| {
            let legs = stats.and_then(|st| st.get(s.index));
            let side = |i: usize| {
                let st = legs.and_then(|l| l.get(i)).copied().unwrap_or_default();
                leg_stats(&st, s.local.get(i).map(ToString::to_string))
            };
            serde_json::json!({ "index": s.index, "a": side(0), "b": side(1) })
        })
        .collect();
    let secs = |from: Instant| now.saturating_duration_since(from).as_secs_f64();
    serde_json::json!({
        "id": c.key.0,
        "state": c.state.as_str(),
        "originated": c.originated,
        "age_seconds": secs(c.started),
        "duration_seconds": c.answered.map_or(0.0, secs),
        "legs": { "a": leg(0), "b": leg(1) },
        "media_session": c.media_session.map(|s| s.0),
        "streams": streams,
    })
}

/// One leg of a stream: the SBC's local RTP address and the relay's counters.
fn leg_stats(s: &LegStats, local: Option<String>) -> serde_json::Value {
    serde_json::json!({
        "local": local,
        "peer": s.peer.map(|p| p.to_string()),
        "packets_in": s.packets_in,
        "bytes_in": s.bytes_in,
        "packets_out": s.packets_out,
        "bytes_out": s.bytes_out,
        "dropped": s.drops.iter().sum::<u64>(),
        "lost": s.lost,
        "jitter": s.jitter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::transport::Transport;

    const CONFIG: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]
advertised = "203.0.113.1"
media_address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [
  { transport = "udp", address = "127.0.0.1:5080" },
  { transport = "tcp", address = "127.0.0.1:5080" },
]
media_address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 30999

[[route]]
name = "to-pbx"
from_interface = "core"
next_hop = "127.0.0.1:5070"
to_interface = "customer"

[[route]]
name = "to-carrier-tcp"
from_interface = "customer"
next_hop = "127.0.0.1:5090"
transport = "tcp"
to_interface = "core"
"#;

    fn target(user: &str, route: &str) -> Target {
        Target {
            user: user.into(),
            route: route.into(),
        }
    }

    #[test]
    fn a_party_is_reached_only_through_its_route() {
        let cfg = Config::from_toml_str(CONFIG, "t.toml").unwrap();
        let p = party(&cfg, &target("alice", "to-pbx")).unwrap();
        assert_eq!(p.user, "alice");
        assert_eq!(p.next_hop.addr, "127.0.0.1:5070".parse().unwrap());
        assert_eq!(p.next_hop.transport, Transport::Udp);
        assert_eq!(p.side.media_interface, "customer");
        assert_eq!(p.side.sip.addr, "203.0.113.1:5060".parse().unwrap());
        assert_eq!(
            p.side.media_advertised,
            Some("203.0.113.1".parse().unwrap())
        );
        let err = party(&cfg, &target("alice", "127.0.0.1:5070")).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("unknown route"), "{err}");
        let err = party(&cfg, &target("bob", "to-carrier-tcp")).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("not UDP"), "{err}");
    }
}
