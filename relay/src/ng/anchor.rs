//! The relay operations ng commands are carried out with, as a trait so the command logic runs
//! on the real [`Relay`] and, in unit tests, on a recording fake.

use crate::api::{KeyChange, LegSpec, LocalLeg, Relay, RelayError, SessionId};
use crate::forward::{IceParams, LegSignal, LegStats};

/// What `offer`, `answer`, `delete` and `query` need of a relay.
pub trait Anchor {
    /// A new media session.
    fn create_session(&mut self) -> SessionId;
    /// Ports on both legs for one stream (RFC 3264 §5, §6).
    fn add_stream(
        &mut self,
        session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError>;
    /// New signalling for one or both legs of a stream (RFC 3264 §8).
    fn update_stream(
        &mut self,
        session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError>;
    /// SRTP keys of one leg: what its peer sends with and what the relay sends it with
    /// (RFC 3711, RFC 4568).
    fn set_crypto(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: usize,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError>;
    /// ICE-lite on one leg, or none (RFC 8445 §2.5).
    fn set_ice(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: usize,
        params: Option<IceParams>,
    ) -> Result<(), RelayError>;
    /// Ends a session and frees its ports.
    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError>;
    /// The latest statistics of a session's streams.
    fn stats(&self, session: SessionId) -> Vec<[LegStats; 2]>;
    /// Packets forwarded and packets dropped since start.
    fn relayed(&self) -> (u64, u64);
    /// The final statistics of a closed session, once.
    fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>>;
}

impl Anchor for Relay {
    fn create_session(&mut self) -> SessionId {
        Relay::create_session(self)
    }

    fn add_stream(
        &mut self,
        session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError> {
        Relay::add_stream(self, session, legs)
    }

    fn update_stream(
        &mut self,
        session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError> {
        Relay::update_stream(self, session, stream, signals)
    }

    fn set_crypto(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: usize,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError> {
        Relay::set_crypto(self, session, stream, leg, inbound, outbound)
    }

    fn set_ice(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: usize,
        params: Option<IceParams>,
    ) -> Result<(), RelayError> {
        Relay::set_ice(self, session, stream, leg, params)
    }

    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        Relay::delete_session(self, session)
    }

    fn stats(&self, session: SessionId) -> Vec<[LegStats; 2]> {
        Relay::session_stats(self, session)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    fn relayed(&self) -> (u64, u64) {
        let m = Relay::metrics(self);
        (m.forwarded_packets, m.drops.iter().sum())
    }

    fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>> {
        Relay::take_final_stats(self, session)
    }
}
