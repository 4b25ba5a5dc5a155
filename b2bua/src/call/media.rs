//! Media anchoring: the relay operations the call core needs, as a trait the driver implements
//! over [`sbc_relay::api::Relay`] and tests over a fake, and the SDP rewriting that points each
//! leg at the relay (RFC 3264 §5, §6, §8, RFC 4566 §5.2, §5.7).

use super::bundle::LegBundle;
use super::dtls::LegDtls;
use super::ice::LegIce;
use super::sdes::{Exchange, LegKeys};
use super::{CallError, Leg, Side, SrtpPolicy};
use bytes::Bytes;
use sbc_common::sdp::{self, Media, Sdp};
use sbc_relay::api::{
    DtlsParams, Fingerprint, KeyChange, LegSpec, LocalLeg, Relay, RelayError, RelayEvent,
    RelayMetrics, SessionId,
};
use sbc_relay::forward::{ice_token, Direction, IceParams, LegSignal, LegStats};
use sbc_relay::latch::LatchPolicy;
use sbc_relay::srtp::MasterKey;
use std::net::{IpAddr, SocketAddr};

/// The relay operations of one call, synchronous so SDP can be rewritten at once; the driver
/// implements it over `sbc_relay::api::Relay`, tests over a recording fake (RFC 3264 §5).
pub trait MediaAnchor {
    /// Creates a media session for a call.
    fn create_session(&mut self) -> SessionId;

    /// Allocates both legs' local ports for a stream; returns its index and the local addresses
    /// to write into each leg's SDP (RFC 3264 §5, §6).
    fn add_stream(
        &mut self,
        session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError>;

    /// New signalling (remote address, direction) for one or both legs of a stream, after an
    /// offer or answer (RFC 3264 §8).
    fn update_stream(
        &mut self,
        session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError>;

    /// New SRTP keys for leg `leg` of a stream: what its peer sends with and what the relay
    /// sends it with (RFC 3711, RFC 4568 §7).
    fn set_crypto(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError>;

    /// A fresh SRTP master key for one leg, from a cryptographically secure source
    /// (RFC 4568 §6.1); `None` when there is none.
    fn new_master_key(&mut self) -> Option<MasterKey>;

    /// ICE-lite on leg `leg` of a stream, or none (RFC 8445 §2.5).
    fn set_ice(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        params: Option<IceParams>,
    ) -> Result<(), RelayError>;

    /// A fresh ICE ufrag (8 characters) and password (24) for one leg, from a cryptographically
    /// secure source (RFC 8445 §5.3); `None` when there is none.
    fn new_ice_credentials(&mut self) -> Option<(String, String)>;

    /// The fingerprint of the relay's DTLS certificate for WebRTC legs (RFC 8122 §5); `None`
    /// when the relay runs no DTLS-SRTP (WebRTC legs are then refused).
    fn dtls_fingerprint(&self) -> Option<Fingerprint> {
        None
    }

    /// DTLS-SRTP on leg `leg` of a stream: the relay's role and the peer's fingerprint, or
    /// none (RFC 5763 §5).
    fn set_dtls(
        &mut self,
        _session: SessionId,
        _stream: usize,
        _leg: Leg,
        params: Option<DtlsParams>,
    ) -> Result<(), RelayError> {
        match params {
            None => Ok(()),
            Some(_) => Err(RelayError::Io(std::io::Error::other(
                "this relay runs no DTLS-SRTP",
            ))),
        }
    }

    /// Leg `leg` of stream `owner` carries the media of `members` (stream, payload types) on
    /// that side too (RFC 8843 BUNDLE); empty: no bundle.
    fn set_bundle(
        &mut self,
        _session: SessionId,
        _owner: usize,
        _leg: Leg,
        members: &[(usize, Vec<u8>)],
    ) -> Result<(), RelayError> {
        if members.is_empty() {
            Ok(())
        } else {
            Err(RelayError::Io(std::io::Error::other(
                "this relay runs no BUNDLE",
            )))
        }
    }

    /// Ends a session and frees its ports.
    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError>;
}

impl MediaAnchor for Relay {
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
        leg: Leg,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError> {
        Relay::set_crypto(self, session, stream, leg.index(), inbound, outbound)
    }

    fn new_master_key(&mut self) -> Option<MasterKey> {
        MasterKey::random()
    }

    fn set_ice(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        params: Option<IceParams>,
    ) -> Result<(), RelayError> {
        Relay::set_ice(self, session, stream, leg.index(), params)
    }

    fn new_ice_credentials(&mut self) -> Option<(String, String)> {
        Some((ice_token(8)?, ice_token(24)?))
    }

    fn dtls_fingerprint(&self) -> Option<Fingerprint> {
        Relay::dtls_fingerprint(self)
    }

    fn set_dtls(
        &mut self,
        session: SessionId,
        stream: usize,
        leg: Leg,
        params: Option<DtlsParams>,
    ) -> Result<(), RelayError> {
        Relay::set_dtls(self, session, stream, leg.index(), params)
    }

    fn set_bundle(
        &mut self,
        session: SessionId,
        owner: usize,
        leg: Leg,
        members: &[(usize, Vec<u8>)],
    ) -> Result<(), RelayError> {
        Relay::set_bundle(self, session, owner, leg.index(), members)
    }

    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        Relay::delete_session(self, session)
    }
}

/// What the endpoint needs of the relay beyond [`MediaAnchor`]: its events (inactivity,
/// latching, closed sessions), statistics and counters, so the endpoint runs on the real
/// relay and on a fake alike.
pub trait MediaRelay: MediaAnchor {
    /// The next event the relay's workers reported, if any.
    fn poll_event(&mut self) -> Option<RelayEvent>;

    /// The final statistics of a closed session, once.
    fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>>;

    /// The latest statistics of a live session's streams.
    fn session_stats(&self, session: SessionId) -> Option<&[[LegStats; 2]]>;

    /// The relay's totals for Prometheus.
    fn metrics(&self) -> RelayMetrics;
}

impl MediaRelay for Relay {
    fn poll_event(&mut self) -> Option<RelayEvent> {
        Relay::poll_event(self)
    }

    fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>> {
        Relay::take_final_stats(self, session)
    }

    fn session_stats(&self, session: SessionId) -> Option<&[[LegStats; 2]]> {
        Relay::session_stats(self, session)
    }

    fn metrics(&self) -> RelayMetrics {
        Relay::metrics(self)
    }
}

/// The relay's view of an SDP direction attribute: the endpoint's own direction
/// (RFC 3264 §5.1, §6.1).
pub fn relay_direction(d: sdp::Direction) -> Direction {
    match d {
        sdp::Direction::SendRecv => Direction::SendRecv,
        sdp::Direction::SendOnly => Direction::SendOnly,
        sdp::Direction::RecvOnly => Direction::RecvOnly,
        sdp::Direction::Inactive => Direction::Inactive,
    }
}

/// What one `m=` section says about the endpoint behind a leg: RTP address (`c=` + port),
/// RTCP address (RFC 3605), direction, clock rate of the first format (RFC 3264 §5, §8.4).
pub fn leg_signal(m: &Media<'_>, policy: LatchPolicy) -> LegSignal {
    let conn = m.connection();
    let ip = conn.and_then(|c| c.ip);
    // One read of the m= line for the port and the rejected flag (port 0).
    let port = m.port();
    let live = port != 0;
    let remote_rtp = ip
        .filter(|ip| !ip.is_unspecified() && live)
        .map(|ip| SocketAddr::new(ip, port));
    let remote_rtcp = m
        .rtcp()
        .and_then(|r| Some(SocketAddr::new(r.ip().or(ip)?, r.port)))
        .filter(|a| !a.ip().is_unspecified() && live);
    let mut direction = relay_direction(m.direction());
    // With ICE, c=0.0.0.0 only says no candidate was gathered yet (RFC 8839 §5.1).
    if conn.is_some_and(|c| c.is_unspecified()) && !m.uses_ice() {
        // RFC 2543 hold (c=0.0.0.0): the endpoint cannot receive (RFC 3264 §8.4).
        direction = if direction.sends() {
            Direction::SendOnly
        } else {
            Direction::Inactive
        };
    }
    let clock_rate = m
        .payload_types()
        .next()
        .and_then(|pt| m.codec(pt))
        .map_or(8000, |c| c.clock_rate);
    LegSignal {
        remote_rtp,
        remote_rtcp,
        policy,
        direction,
        clock_rate,
    }
}

/// One `m=` line's relay stream: its index and the local addresses on legs A and B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stream {
    pub(super) index: usize,
    pub(super) local: [LocalLeg; 2],
}

/// A call's media state: the relay session, one stream per live `m=` line, and the SDP
/// version the SBC last sent on each leg (RFC 3264 §8).
#[derive(Debug)]
pub(super) struct MediaState {
    pub(super) session: SessionId,
    /// By `m=` line position; `None` for a rejected line.
    streams: Vec<Option<Stream>>,
    /// The `o=` sess-version last sent on each leg (RFC 3264 §8).
    version: [Option<u64>; 2],
    /// The last SDP received from each leg and what the SBC sent for it on the other one, so a
    /// repeated SDP (18x then 200) is sent unchanged with the same version (RFC 3264 §8).
    last: [Option<(Bytes, Bytes)>; 2],
    /// SDES keys by `m=` line position, per leg (RFC 4568).
    keys: Vec<[LegKeys; 2]>,
    /// ICE by `m=` line position, per leg (RFC 8839).
    ice: Vec<[LegIce; 2]>,
    /// DTLS-SRTP by `m=` line position, per leg (RFC 5763).
    dtls: Vec<[LegDtls; 2]>,
    /// BUNDLE per leg (RFC 8843).
    bundle: [LegBundle; 2],
}

impl MediaState {
    /// The live streams (rejected `m=` lines left out), for the management API.
    pub(super) fn streams(&self) -> impl Iterator<Item = &Stream> {
        self.streams.iter().flatten()
    }

    /// How many `m=` lines have SDES, ICE and DTLS state.
    #[cfg(test)]
    pub(super) fn table_lines(&self) -> [usize; 3] {
        [self.keys.len(), self.ice.len(), self.dtls.len()]
    }

    /// A state for a new relay session.
    pub(super) fn new(session: SessionId) -> Self {
        Self {
            session,
            streams: Vec::new(),
            version: [None, None],
            last: [None, None],
            keys: Vec::new(),
            ice: Vec::new(),
            dtls: Vec::new(),
            bundle: Default::default(),
        }
    }

    /// The SDP the SBC last sent on `leg`, for a session refresh re-INVITE there (RFC 4028
    /// §10, RFC 3264 §8: the same version when nothing changed).
    pub(super) fn last_sent_on(&self, leg: Leg) -> Option<&Bytes> {
        self.last[leg.other().index()]
            .as_ref()
            .map(|(_, sent)| sent)
    }

    /// When `body` is the very SDP last received from `leg`, the SDP the SBC sent on `leg`
    /// against it: an offer that changes nothing can be answered with it without involving the
    /// other leg (RFC 3264 §8, RFC 4028 §10).
    pub(super) fn unchanged_answer(&self, leg: Leg, body: &Bytes) -> Option<&Bytes> {
        match &self.last[leg.index()] {
            Some((raw, _)) if raw == body => self.last_sent_on(leg),
            _ => None,
        }
    }

    /// Takes an offer or answer `body` received on leg `from`, programs the relay (new streams
    /// for new `m=` lines, updates for known ones, SRTP keys per leg) and returns the SDP to
    /// send on the other leg: `c=`, `m=` ports and `a=rtcp` on the relay's side of that leg,
    /// `o=` address the SBC's, `o=` version one above the last one sent there, and that leg's
    /// own profile and SDES keys (RFC 3264 §5, §6, §8, RFC 4566 §5.2, RFC 4568 §7).
    pub(super) fn relay_sdp<M: MediaAnchor>(
        &mut self,
        anchor: &mut M,
        sides: &[Side; 2],
        policy: LatchPolicy,
        from: Leg,
        kind: Exchange,
        body: &Bytes,
    ) -> Result<Bytes, CallError> {
        if let Some((raw, sent)) = &self.last[from.index()] {
            if raw == body {
                return Ok(sent.clone());
            }
        }
        let to = from.other();
        let mut sdp = Sdp::parse(body).map_err(CallError::Sdp)?;
        if kind == Exchange::Offer && sides[from.index()].srtp == SrtpPolicy::Dtls {
            super::bundle::open_bundle_only(&mut sdp);
            self.bundle[from.index()].receive_offer(&sdp);
        }
        for m in sdp.media() {
            if !m.is_rejected() {
                let i = m.index();
                on_line(&mut self.ice, i, from, LegIce::is_blank, |ice| {
                    ice.receive(&sdp, m.description());
                });
                on_line(&mut self.dtls, i, from, LegDtls::is_blank, |dtls| {
                    dtls.receive(sides[from.index()].srtp, kind, &sdp, m.description())
                })
                .map_err(CallError::Srtp)?;
            }
        }
        // Keys first: a refused offer or answer leaves the relay as it was.
        let mut rekeys: Vec<(usize, Leg, (KeyChange, KeyChange))> = Vec::new();
        let incoming: Vec<(usize, bool)> =
            sdp.media().map(|m| (m.index(), m.is_rejected())).collect();
        for (i, rejected) in incoming {
            let (Some(m), false) = (sdp.media_mut(i), rejected) else {
                continue;
            };
            let srtp = sides[from.index()].srtp;
            let received = on_line(&mut self.keys, i, from, LegKeys::is_blank, |keys| {
                keys.receive(srtp, kind, m)
            });
            if let Some(r) = received.map_err(CallError::Srtp)? {
                rekeys.push((i, from, r));
            }
        }
        // What described `from`'s own transport (ICE, DTLS, BUNDLE) never reaches `to`.
        sdp.strip_foreign_transport();
        let lines: Vec<(LegSignal, bool, bool)> = sdp
            .media()
            .map(|m| (leg_signal(&m, policy), m.is_rejected(), m.rtcp_mux()))
            .collect();
        let mut locals: Vec<Option<LocalLeg>> = Vec::with_capacity(lines.len());
        for (i, (signal, rejected, mux)) in lines.into_iter().enumerate() {
            let known = self.streams.get(i).copied().flatten();
            match known {
                Some(stream) => {
                    let mut signals = [None, None];
                    signals[from.index()] = Some(signal);
                    anchor
                        .update_stream(self.session, stream.index, signals)
                        .map_err(CallError::Relay)?;
                    locals.push((!rejected).then_some(stream.local[to.index()]));
                }
                None if rejected => locals.push(None),
                None => {
                    let spec = |leg: Leg| LegSpec {
                        interface: sides[leg.index()].media_interface.clone(),
                        // RTCP is always muxed with a browser (RFC 8829 §5.1.3).
                        rtcp_mux: mux || sides[leg.index()].srtp == SrtpPolicy::Dtls,
                        signal: if leg == from {
                            signal
                        } else {
                            LegSignal {
                                policy,
                                ..LegSignal::default()
                            }
                        },
                    };
                    let (index, local) = anchor
                        .add_stream(self.session, [spec(Leg::A), spec(Leg::B)])
                        .map_err(CallError::Relay)?;
                    if self.streams.len() <= i {
                        lines_to(&mut self.streams, i + 1);
                    }
                    if let Some(slot) = self.streams.get_mut(i) {
                        *slot = Some(Stream { index, local });
                    }
                    locals.push(Some(local[to.index()]));
                }
            }
        }
        let advertised = sides[to.index()].media_advertised;
        let ip: IpAddr = advertised.unwrap_or_else(|| {
            locals
                .iter()
                .flatten()
                .map(|l| l.rtp.ip())
                .next()
                .unwrap_or_else(|| sides[to.index()].sip.addr.ip())
        });
        sdp.set_connection_address(ip);
        let (srtp, ice) = (sides[to.index()].srtp, sides[to.index()].ice);
        let from_webrtc = sides[from.index()].srtp == SrtpPolicy::Dtls;
        let fingerprint = anchor.dtls_fingerprint();
        // A browser's BUNDLE is accepted in the answer to it; the SBC's offers do not bundle.
        let live: Vec<bool> = sdp
            .media()
            .map(|m| !m.is_rejected() && locals.get(m.index()).is_some_and(Option::is_some))
            .collect();
        let bundle_to = &mut self.bundle[to.index()];
        match kind {
            Exchange::Answer if srtp == SrtpPolicy::Dtls => {
                bundle_to.answer(|i| live.get(i).copied().unwrap_or(false));
            }
            _ => bundle_to.answer(|_| false),
        }
        let mut any_ice = false;
        for (i, (m, local)) in sdp.media_iter_mut().zip(&locals).enumerate() {
            let Some(own) = local else {
                m.remove_attribute("crypto");
                continue;
            };
            // A bundle member rides its owner's transport: port, ICE (RFC 8843 §7.3.1).
            let carrier = self.bundle[to.index()].carrier_of(i);
            let local = carrier
                .and_then(|o| locals.get(o).copied().flatten())
                .unwrap_or(*own);
            let local = &local;
            let rtp = local.rtp.port();
            let rtcp = local.rtcp.map_or(rtp, |a| a.port());
            let media_ip = advertised.unwrap_or_else(|| local.rtp.ip());
            m.set_transport(media_ip, rtp, rtcp);
            let mut fresh = || anchor.new_master_key();
            let sent = on_line(&mut self.keys, i, to, LegKeys::is_blank, |keys| {
                keys.send(srtp, kind, m, &mut fresh)
            });
            if let Some(r) = sent.map_err(CallError::Srtp)? {
                rekeys.push((i, to, r));
            }
            on_line(&mut self.dtls, i, to, LegDtls::is_blank, |dtls| {
                dtls.send(srtp, kind, i, m, fingerprint)
            })
            .map_err(CallError::Srtp)?;
            if from_webrtc && srtp != SrtpPolicy::Dtls {
                super::dtls::to_sip(m);
            }
            let mut fresh = || anchor.new_ice_credentials();
            any_ice |= on_line(
                &mut self.ice,
                carrier.unwrap_or(i),
                to,
                LegIce::is_blank,
                |state| state.send(ice, kind, m, *local, media_ip, &mut fresh),
            );
        }
        if any_ice {
            let _ = sdp.add_attribute("ice-lite", None);
        }
        if let Some(group) = self.bundle[to.index()].group_value(&sdp) {
            let _ = sdp.add_attribute("group", Some(&group));
        }
        if let Some((owner, members)) = self.bundle[to.index()].change(&sdp) {
            let stream_of = |line: usize| self.streams.get(line).copied().flatten();
            if let Some(o) = stream_of(owner) {
                let list: Vec<(usize, Vec<u8>)> = members
                    .into_iter()
                    .filter_map(|(line, pts)| Some((stream_of(line)?.index, pts)))
                    .collect();
                anchor
                    .set_bundle(self.session, o.index, to, &list)
                    .map_err(CallError::Relay)?;
            }
        }
        for (i, lines) in self.ice.iter_mut().enumerate() {
            let Some(stream) = self.streams.get(i).copied().flatten() else {
                continue;
            };
            for leg in [Leg::A, Leg::B] {
                let riding = self.bundle[leg.index()].is_member(i);
                if let Some(change) = lines[leg.index()].change(riding) {
                    anchor
                        .set_ice(self.session, stream.index, leg, change)
                        .map_err(CallError::Relay)?;
                }
            }
        }
        for (i, lines) in self.dtls.iter_mut().enumerate() {
            let Some(stream) = self.streams.get(i).copied().flatten() else {
                continue;
            };
            for leg in [Leg::A, Leg::B] {
                let riding = self.bundle[leg.index()].is_member(i);
                if let Some(change) = lines[leg.index()].change(riding) {
                    anchor
                        .set_dtls(self.session, stream.index, leg, change)
                        .map_err(CallError::Relay)?;
                }
            }
        }
        for (i, leg, (inbound, outbound)) in rekeys {
            let Some(stream) = self.streams.get(i).copied().flatten() else {
                continue;
            };
            if inbound == KeyChange::Keep && outbound == KeyChange::Keep {
                continue;
            }
            anchor
                .set_crypto(self.session, stream.index, leg, inbound, outbound)
                .map_err(CallError::Relay)?;
        }
        sdp.set_origin_address(ip);
        let slot = &mut self.version[to.index()];
        let version = match *slot {
            Some(v) => v.saturating_add(1),
            None => sdp
                .origin()
                .and_then(|o| o.session_version_number())
                .unwrap_or(1),
        };
        *slot = Some(version);
        sdp.set_origin_version(version);
        let out = sdp.to_bytes();
        // A copy, not a view: the view would keep the whole received message alive for the
        // call's life (the call lets its INVITEs go once answered).
        self.last[from.index()] = Some((Bytes::copy_from_slice(body), out.clone()));
        Ok(out)
    }

    /// Takes the peer's answer on `leg` to a refresh re-INVITE the SBC sent with the SDP last
    /// sent there (RFC 4028 §10): only a new SRTP key of the peer's is applied (RFC 4568
    /// §7.1.4); the media otherwise stays as negotiated.
    pub(super) fn refresh_answer<M: MediaAnchor>(
        &mut self,
        anchor: &mut M,
        leg: Leg,
        body: &Bytes,
    ) -> Result<(), CallError> {
        let sdp = Sdp::parse(body).map_err(CallError::Sdp)?;
        for m in sdp.media() {
            let i = m.index();
            let Some(stream) = self.streams.get(i).copied().flatten() else {
                continue;
            };
            let Some(keys) = self.keys.get_mut(i).map(|k| &mut k[leg.index()]) else {
                continue;
            };
            if let Some((inbound, outbound)) = keys.refresh_answer(m.description()) {
                anchor
                    .set_crypto(self.session, stream.index, leg, inbound, outbound)
                    .map_err(CallError::Relay)?;
            }
        }
        Ok(())
    }

    /// Forgets what the endpoint on `leg` said, before an attempt towards another endpoint
    /// there: its streams' signalling in the relay goes back to none (RFC 3264 §8).
    pub(super) fn reset_leg<M: MediaAnchor>(
        &mut self,
        anchor: &mut M,
        leg: Leg,
        policy: LatchPolicy,
    ) -> Result<(), CallError> {
        if self.last[leg.index()].take().is_none() {
            return Ok(());
        }
        for stream in self.streams.iter().flatten() {
            let mut signals = [None, None];
            signals[leg.index()] = Some(LegSignal {
                policy,
                ..LegSignal::default()
            });
            anchor
                .update_stream(self.session, stream.index, signals)
                .map_err(CallError::Relay)?;
        }
        Ok(())
    }
}

/// Runs `f` on leg `leg`'s state of `m=` line `line` in a per-line table. A line is only added
/// once some leg's state there is not blank, so a plain RTP call keeps no ICE or DTLS lines: a
/// missing line reads as blank everywhere (no change for the relay, no key).
fn on_line<T: Default, R>(
    table: &mut Vec<[T; 2]>,
    line: usize,
    leg: Leg,
    blank: fn(&T) -> bool,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    if let Some(states) = table.get_mut(line) {
        return f(&mut states[leg.index()]);
    }
    let mut state = T::default();
    let out = f(&mut state);
    if !blank(&state) {
        lines_to(table, line + 1);
        table[line][leg.index()] = state;
    }
    out
}

/// Grows a per-m-line table to `len` lines with exactly that capacity: a call keeps its media
/// state for its whole life, and most calls have one line (a plain `resize` would reserve 4).
fn lines_to<T: Default>(v: &mut Vec<T>, len: usize) {
    v.reserve_exact(len.saturating_sub(v.len()));
    v.resize_with(len, T::default);
}
