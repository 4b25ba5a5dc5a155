//! The relay the driver runs the endpoint on: the in-process one, or remote ones over ng
//! (`[relay] remote`).

use super::remote_relay::RemoteRelays;
use crate::call::{Leg, MediaAnchor, MediaRelay};
use sbc_relay::api::{
    DtlsParams, Fingerprint, KeyChange, LegSpec, LocalLeg, Relay, RelayError, RelayEvent,
    RelayMetrics, SessionId,
};
use sbc_relay::forward::{IceParams, LegSignal, LegStats};
use sbc_relay::srtp::MasterKey;

/// The in-process relay or remote relays.
pub(super) enum Media {
    /// The relay in this process.
    Local(Relay),
    /// `sbc-relay` daemons (or rtpengine) over ng.
    Remote(RemoteRelays),
}

macro_rules! both {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            Media::Local($r) => $e,
            Media::Remote($r) => $e,
        }
    };
}

impl MediaAnchor for Media {
    fn create_session(&mut self) -> SessionId {
        both!(self, r => r.create_session())
    }

    fn add_stream(
        &mut self,
        session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError> {
        both!(self, r => MediaAnchor::add_stream(r, session, legs))
    }

    fn update_stream(
        &mut self,
        session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError> {
        both!(self, r => MediaAnchor::update_stream(r, session, stream, signals))
    }

    fn set_crypto(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError> {
        both!(self, r => MediaAnchor::set_crypto(r, session, stream, leg, inbound, outbound))
    }

    fn new_master_key(&mut self) -> Option<MasterKey> {
        both!(self, r => r.new_master_key())
    }

    fn set_ice(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        params: Option<IceParams>,
    ) -> Result<(), RelayError> {
        both!(self, r => MediaAnchor::set_ice(r, session, stream, leg, params))
    }

    fn new_ice_credentials(&mut self) -> Option<(String, String)> {
        both!(self, r => r.new_ice_credentials())
    }

    fn dtls_fingerprint(&self) -> Option<Fingerprint> {
        both!(self, r => MediaAnchor::dtls_fingerprint(r))
    }

    fn set_dtls(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        params: Option<DtlsParams>,
    ) -> Result<(), RelayError> {
        both!(self, r => MediaAnchor::set_dtls(r, session, stream, leg, params))
    }

    fn set_bundle(
        &mut self,
        session: SessionId,
        owner: usize,
        leg: Leg,
        members: &[(usize, Vec<u8>)],
    ) -> Result<(), RelayError> {
        both!(self, r => MediaAnchor::set_bundle(r, session, owner, leg, members))
    }

    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        both!(self, r => MediaAnchor::delete_session(r, session))
    }
}

impl MediaRelay for Media {
    fn poll_event(&mut self) -> Option<RelayEvent> {
        both!(self, r => MediaRelay::poll_event(r))
    }

    fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>> {
        both!(self, r => MediaRelay::take_final_stats(r, session))
    }

    fn session_stats(&self, session: SessionId) -> Option<&[[LegStats; 2]]> {
        both!(self, r => MediaRelay::session_stats(r, session))
    }

    fn metrics(&self) -> RelayMetrics {
        both!(self, r => MediaRelay::metrics(r))
    }
}
