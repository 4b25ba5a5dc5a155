//! The control plane's side of DTLS-SRTP (RFC 5763, RFC 5764): one handshake per leg whose DTLS
//! the relay terminates, fed with the datagrams the worker hands over, its answers sent back
//! from the leg's socket by the worker, and its exported keys given to the worker as SRTP
//! contexts. Handshakes run here, on the control plane's thread, so they never hold up a
//! worker's packet loop.

use super::{RelayEvent, SessionId};
use crate::dtls::{DtlsEndpoint, DtlsIdentity, DtlsRole, DtlsState, Fingerprint, SrtpKeys};
use crate::forward::{DtlsDatagram, StreamId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a handshake may take from the peer's first datagram (or, for a client, from the
/// peer's address becoming known) before the leg fails.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// How often pending handshakes are driven for OpenSSL's retransmission timer.
const DRIVE_PERIOD: Duration = Duration::from_millis(100);

/// What signalling says of a leg's DTLS: the relay's role (from the peer's `a=setup`) and the
/// fingerprint the peer's certificate must have (RFC 5763 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtlsParams {
    /// The relay's role.
    pub role: DtlsRole,
    /// The peer's `a=fingerprint`.
    pub fingerprint: Fingerprint,
}

/// Something the relay must do for a handshake.
#[derive(Debug)]
pub(super) enum DtlsAction {
    /// Send a datagram from a leg's socket.
    Send {
        worker: usize,
        id: StreamId,
        leg: usize,
        rtcp: bool,
        to: SocketAddr,
        data: Box<[u8]>,
    },
    /// Key the leg's SRTP with what the handshake exported.
    Keys {
        worker: usize,
        id: StreamId,
        leg: usize,
        keys: SrtpKeys,
    },
    /// Tell the B2BUA.
    Event(RelayEvent),
}

/// Which leg: worker, stream id, leg index.
type LegKey = (usize, StreamId, usize);

struct DtlsLeg {
    session: SessionId,
    stream: usize,
    params: DtlsParams,
    endpoint: DtlsEndpoint,
    /// The peer's address and whether it is on the RTCP socket, once known.
    peer: Option<(SocketAddr, bool)>,
    /// When the peer became known: the handshake timeout counts from here.
    since: Option<Instant>,
    /// Whether the outcome was reported.
    reported: bool,
}

/// The relay's DTLS identity and every leg's handshake.
pub(super) struct DtlsLegs {
    identity: Option<DtlsIdentity>,
    legs: HashMap<LegKey, DtlsLeg>,
    last_drive: Option<Instant>,
}

impl DtlsLegs {
    /// Handshakes under a fresh identity; without one (OpenSSL refused), no leg can run DTLS.
    pub(super) fn new() -> Self {
        let identity = match DtlsIdentity::generate() {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!("relay: no DTLS certificate, WebRTC legs are refused: {e}");
                None
            }
        };
        Self {
            identity,
            legs: HashMap::new(),
            last_drive: None,
        }
    }

    /// The fingerprint of the relay's certificate, for the SDP.
    pub(super) fn fingerprint(&self) -> Option<Fingerprint> {
        self.identity.as_ref().map(DtlsIdentity::fingerprint)
    }

    /// Starts, replaces or (with `None`) ends the handshake of a leg; whether the worker must
    /// hand over (or stop handing over) the leg's DTLS, and what to do now.
    pub(super) fn set(
        &mut self,
        key: LegKey,
        session: SessionId,
        stream: usize,
        params: Option<DtlsParams>,
    ) -> Result<(Option<bool>, Vec<DtlsAction>), crate::dtls::DtlsError> {
        let Some(params) = params else {
            return Ok((self.legs.remove(&key).map(|_| false), Vec::new()));
        };
        if self.legs.get(&key).is_some_and(|l| l.params == params) {
            return Ok((None, Vec::new()));
        }
        let Some(identity) = &self.identity else {
            return Ok((None, Vec::new()));
        };
        let endpoint = DtlsEndpoint::new(identity, params.role, params.fingerprint)?;
        // A re-offer with a new fingerprint or role restarts the handshake on the same peer.
        let peer = self.legs.get(&key).and_then(|l| l.peer);
        let fresh = !self.legs.contains_key(&key);
        let mut leg = DtlsLeg {
            session,
            stream,
            params,
            endpoint,
            peer,
            since: None,
            reported: false,
        };
        let mut actions = Vec::new();
        if peer.is_some() {
            leg.since = Some(Instant::now());
            flush(key, &mut leg, &mut actions);
        }
        self.legs.insert(key, leg);
        Ok((fresh.then_some(true), actions))
    }

    /// A leg latched (an ICE nomination): a client leg learns where to send its ClientHello.
    pub(super) fn on_latched(
        &mut self,
        key: LegKey,
        rtcp: bool,
        peer: SocketAddr,
    ) -> Vec<DtlsAction> {
        let mut actions = Vec::new();
        if let Some(leg) = self.legs.get_mut(&key) {
            if leg.peer.is_none() || *leg.endpoint.state() == DtlsState::Handshaking {
                leg.peer = Some((peer, rtcp));
                leg.since.get_or_insert_with(Instant::now);
                flush(key, leg, &mut actions);
            }
        }
        actions
    }

    /// A datagram the worker handed over.
    pub(super) fn on_datagram(&mut self, worker: usize, d: &DtlsDatagram) -> Vec<DtlsAction> {
        let mut actions = Vec::new();
        let key = (worker, d.id, d.leg);
        let Some(leg) = self.legs.get_mut(&key) else {
            return actions;
        };
        match leg.peer {
            Some((p, _)) if p != d.from && *leg.endpoint.state() != DtlsState::Handshaking => {
                // Connected to one peer: another address's DTLS is not this leg's.
                return actions;
            }
            _ => leg.peer = Some((d.from, d.rtcp)),
        }
        leg.since.get_or_insert_with(Instant::now);
        leg.endpoint.handle(&d.data);
        flush(key, leg, &mut actions);
        actions
    }

    /// Drives pending handshakes for retransmission and fails those that took too long.
    pub(super) fn tick(&mut self, now: Instant) -> Vec<DtlsAction> {
        let mut actions = Vec::new();
        if self
            .last_drive
            .is_some_and(|t| now.saturating_duration_since(t) < DRIVE_PERIOD)
        {
            return actions;
        }
        self.last_drive = Some(now);
        for (&key, leg) in self.legs.iter_mut() {
            if leg.reported || *leg.endpoint.state() != DtlsState::Handshaking {
                continue;
            }
            leg.endpoint.drive();
            if leg
                .since
                .is_some_and(|t| now.saturating_duration_since(t) >= HANDSHAKE_TIMEOUT)
            {
                leg.reported = true;
                actions.push(DtlsAction::Event(RelayEvent::DtlsFailed {
                    session: leg.session,
                    stream: leg.stream,
                    leg: key.2,
                    reason: "DTLS handshake timed out",
                }));
                continue;
            }
            flush(key, leg, &mut actions);
        }
        actions
    }

    /// Forgets the legs of a deleted session.
    pub(super) fn remove_session(&mut self, session: SessionId) {
        self.legs.retain(|_, l| l.session != session);
    }

    /// Handshakes in progress or done, for metrics.
    pub(super) fn len(&self) -> usize {
        self.legs.len()
    }
}

/// Sends what the endpoint queued to the known peer, and reports the outcome once.
fn flush(key: LegKey, leg: &mut DtlsLeg, actions: &mut Vec<DtlsAction>) {
    let (worker, id, index) = key;
    if let Some((to, rtcp)) = leg.peer {
        while let Some(data) = leg.endpoint.poll_transmit() {
            actions.push(DtlsAction::Send {
                worker,
                id,
                leg: index,
                rtcp,
                to,
                data: data.into(),
            });
        }
    }
    if leg.reported {
        return;
    }
    match leg.endpoint.state() {
        DtlsState::Handshaking => {}
        DtlsState::Connected => {
            if let Some(keys) = leg.endpoint.take_keys() {
                leg.reported = true;
                actions.push(DtlsAction::Keys {
                    worker,
                    id,
                    leg: index,
                    keys,
                });
                actions.push(DtlsAction::Event(RelayEvent::DtlsConnected {
                    session: leg.session,
                    stream: leg.stream,
                    leg: index,
                }));
            }
        }
        DtlsState::Failed(reason) => {
            leg.reported = true;
            actions.push(DtlsAction::Event(RelayEvent::DtlsFailed {
                session: leg.session,
                stream: leg.stream,
                leg: index,
                reason,
            }));
        }
    }
}
