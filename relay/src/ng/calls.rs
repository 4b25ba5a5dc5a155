//! What `offer`, `answer` and `delete` do to the relay (rtpengine docs/ng_control_protocol.md):
//! one relay session per `call-id`, one stream per live `m=` line; the offer's SDP comes back
//! pointing at the relay's side that faces the answerer (`direction`'s second interface), the
//! answer's at the side facing the offerer (the first). Legs without `direction` use the first
//! interface of the relay on both sides.
//!
//! Not built yet: most flags (ICE, rtcp-mux handling, transport-protocol, media-address,
//! symmetric/asymmetric, strict-source), forks by to-tag and label, delete-delay, query/list.

use super::{NgError, Request};
use crate::api::{LegSpec, LocalLeg, Relay, SessionId};
use crate::forward::LegSignal;
use crate::latch::LatchPolicy;
use sbc_common::sdp::Sdp;
use std::collections::HashMap;
use std::net::SocketAddr;

/// A call the relay anchors for an ng client.
#[derive(Debug)]
struct Call {
    session: SessionId,
    /// The relay's stream index and local legs, by `m=` line position (`None`: rejected).
    streams: Vec<Option<(usize, [LocalLeg; 2])>>,
}

/// The calls by `call-id`.
#[derive(Debug, Default)]
pub struct Calls {
    calls: HashMap<String, Call>,
    /// The interface used when a request names no `direction`.
    default_interface: String,
}

/// The RTP address an `m=` line of `sdp` names, if it is live.
fn remote(sdp: &Sdp, index: usize) -> Option<SocketAddr> {
    let m = sdp.media().nth(index)?;
    let ip = m.connection()?.ip?;
    let port = m.port();
    (port != 0 && !ip.is_unspecified()).then(|| SocketAddr::new(ip, port))
}

/// Rewrites `sdp` to point every live `m=` line at `locals` (by position), and `c=`/`o=` at
/// their address.
fn point_at(sdp: &mut Sdp, locals: &[Option<LocalLeg>]) -> Vec<u8> {
    if let Some(ip) = locals.iter().flatten().map(|l| l.rtp.ip()).next() {
        sdp.set_connection_address(ip);
        sdp.set_origin_address(ip);
    }
    for (m, local) in sdp.media_iter_mut().zip(locals) {
        if let Some(l) = local {
            let rtp = l.rtp.port();
            m.set_transport(l.rtp.ip(), rtp, l.rtcp.map_or(rtp, |a| a.port()));
        }
    }
    sdp.to_bytes().to_vec()
}

fn signal(remote: Option<SocketAddr>) -> LegSignal {
    LegSignal {
        remote_rtp: remote,
        policy: LatchPolicy::Strict,
        ..LegSignal::default()
    }
}

impl Calls {
    /// Calls on `relay`, legs without `direction` on `default_interface`.
    pub fn new(default_interface: &str) -> Self {
        Self {
            calls: HashMap::new(),
            default_interface: default_interface.to_owned(),
        }
    }

    /// How many calls are anchored.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call is anchored.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    fn interfaces<'a>(&'a self, req: &Request<'a>) -> [&'a str; 2] {
        match req.direction.as_slice() {
            [a, b, ..] => [*a, *b],
            [a] => [*a, *a],
            [] => [self.default_interface.as_str(); 2],
        }
    }

    /// `offer`: anchors each live `m=` line (new streams for new lines, new signalling for
    /// known ones) and returns the SDP for the answerer.
    pub fn offer(&mut self, relay: &mut Relay, req: &Request<'_>) -> Result<Vec<u8>, NgError> {
        let call_id = req.call_id.ok_or(NgError::Missing("call-id"))?;
        let body = req.sdp.ok_or(NgError::Missing("sdp"))?;
        let mut sdp = Sdp::parse(body).map_err(|e| NgError::Sdp(e.to_string()))?;
        let [from_if, to_if] = self.interfaces(req);
        let (from_if, to_if) = (from_if.to_owned(), to_if.to_owned());
        let lines: Vec<(bool, bool)> = sdp
            .media()
            .map(|m| (m.is_rejected(), m.rtcp_mux()))
            .collect();
        let call = match self.calls.get_mut(call_id) {
            Some(c) => c,
            None => {
                let session = relay.create_session();
                self.calls.entry(call_id.to_owned()).or_insert(Call {
                    session,
                    streams: Vec::new(),
                })
            }
        };
        let mut locals = Vec::with_capacity(lines.len());
        for (i, (rejected, mux)) in lines.into_iter().enumerate() {
            if rejected {
                locals.push(None);
                continue;
            }
            let offerer = remote(&sdp, i);
            match call.streams.get(i).copied().flatten() {
                Some((stream, local)) => {
                    relay
                        .update_stream(call.session, stream, [Some(signal(offerer)), None])
                        .map_err(NgError::relay)?;
                    locals.push(Some(local[1]));
                }
                None => {
                    let spec = |interface: &str, remote| LegSpec {
                        interface: interface.to_owned(),
                        rtcp_mux: mux,
                        signal: signal(remote),
                    };
                    let (stream, local) = relay
                        .add_stream(call.session, [spec(&from_if, offerer), spec(&to_if, None)])
                        .map_err(NgError::relay)?;
                    if call.streams.len() <= i {
                        call.streams.resize(i + 1, None);
                    }
                    call.streams[i] = Some((stream, local));
                    locals.push(Some(local[1]));
                }
            }
        }
        Ok(point_at(&mut sdp, &locals))
    }

    /// `answer`: the answerer's addresses to the relay, and the SDP for the offerer.
    pub fn answer(&mut self, relay: &mut Relay, req: &Request<'_>) -> Result<Vec<u8>, NgError> {
        let call_id = req.call_id.ok_or(NgError::Missing("call-id"))?;
        let body = req.sdp.ok_or(NgError::Missing("sdp"))?;
        let call = self
            .calls
            .get(call_id)
            .ok_or_else(|| NgError::UnknownCall(call_id.to_owned()))?;
        let mut sdp = Sdp::parse(body).map_err(|e| NgError::Sdp(e.to_string()))?;
        let count = sdp.media().count();
        let mut locals = Vec::with_capacity(count);
        for i in 0..count {
            match call.streams.get(i).copied().flatten() {
                Some((stream, local)) => {
                    relay
                        .update_stream(call.session, stream, [None, Some(signal(remote(&sdp, i)))])
                        .map_err(NgError::relay)?;
                    locals.push(Some(local[0]));
                }
                None => locals.push(None),
            }
        }
        Ok(point_at(&mut sdp, &locals))
    }

    /// `delete`: ends the call's relay session.
    pub fn delete(&mut self, relay: &mut Relay, req: &Request<'_>) -> Result<(), NgError> {
        let call_id = req.call_id.ok_or(NgError::Missing("call-id"))?;
        let call = self
            .calls
            .remove(call_id)
            .ok_or_else(|| NgError::UnknownCall(call_id.to_owned()))?;
        relay.delete_session(call.session).map_err(NgError::relay)
    }
}
