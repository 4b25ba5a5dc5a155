//! What `offer`, `answer`, `delete`, `query` and `list` do to the relay (rtpengine
//! docs/ng_control_protocol.md): one relay session per `call-id`, one stream per live `m=` line.
//! Leg 0 of every stream faces the call's first offerer (its `from-tag`), leg 1 the answerer;
//! an offer from the answerer's tag (a re-INVITE from the callee) signals the legs the other
//! way round. The SDP that comes back points at the leg facing the side that will read it, on
//! the interfaces `direction` named at the first offer.
//!
//! Flags ([`Options`]): `media-address` / `SIP-source-address` + `received-from` /
//! `trust-address`; `asymmetric`, `media-handover` (the default is strict: learn the peer,
//! then refuse other sources); `ICE` remove/force/default with the relay as ICE-lite agent;
//! `rtcp-mux` offer/require/demux/accept/reject; `transport-protocol` between RTP/AVP(F) and
//! RTP/SAVP(F) with SDES terminated by the relay; `replace` origin. Forks: each answering
//! `to-tag` is a branch; the last answer wins the media, and deleting a branch that did not
//! win leaves the call up.

use super::anchor::Anchor;
use super::options::{is_srtp, IceMode, Options};
use super::{NgError, Request};
use crate::api::{KeyChange, LegSpec, LocalLeg, SessionId};
use crate::forward::{ice_token, IceParams, LegSignal, LegStats};
use crate::srtp::{MasterKey, Suite};
use sbc_common::sdp::crypto::format_crypto;
use sbc_common::sdp::{MediaDescription, Sdp};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The SDES suite the relay offers when it adds SRTP to a leg (RFC 4568 §6.2.1).
const OFFERED_SUITE: Suite = Suite::AesCm128HmacSha1_80;

/// An SRTP key with its `a=crypto` tag.
#[derive(Clone, Debug)]
struct Keyed {
    tag: u32,
    suite: Suite,
    key: MasterKey,
}

/// One `m=` line's relay stream.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) index: usize,
    pub(super) local: [LocalLeg; 2],
    pub(super) media_type: String,
    /// The protocol each leg's peer speaks.
    pub(super) proto: [String; 2],
    /// The address each leg's peer advertised (after `media-address` and the like).
    pub(super) advertised: [Option<SocketAddr>; 2],
    /// The relay's ICE credentials on each leg, once it offered ICE there.
    ice: [Option<(Box<str>, Box<str>)>; 2],
    /// Each leg's peer's ICE ufrag, when its SDP had ICE.
    remote_ufrag: [Option<Box<str>>; 2],
    /// The relay's own SRTP key on each leg where it terminates SRTP.
    ours: [Option<Keyed>; 2],
    /// Whether each leg's peer muxes RTCP (RFC 5761).
    pub(super) mux: [bool; 2],
}

/// A call the relay anchors for an ng client.
#[derive(Debug)]
pub struct Call {
    pub(super) session: SessionId,
    /// Seconds since the epoch.
    pub(super) created: u64,
    pub(super) last_signal: u64,
    /// The tag on each leg's side: `[first offerer, answerer]`.
    pub(super) tags: [Option<String>; 2],
    pub(super) labels: [Option<String>; 2],
    /// Answering branches (to-tags) seen, in order.
    branches: Vec<String>,
    /// Streams by `m=` position (`None`: rejected line).
    pub(super) streams: Vec<Option<Stream>>,
    /// When a delayed `delete` takes effect.
    delete_at: Option<Instant>,
    interfaces: [String; 2],
}

/// The calls by `call-id`.
#[derive(Debug, Default)]
pub struct Calls {
    pub(super) calls: HashMap<String, Call>,
    /// The interface used when a request names no `direction`.
    default_interface: String,
    /// Calls created since start.
    pub(super) created_total: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the sender's SDP says of one `m=` line, read before the line is rewritten.
struct Sent {
    rejected: bool,
    mux: bool,
    proto: String,
    media_type: String,
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    ice_ufrag: Option<Box<str>>,
    crypto: Option<Keyed>,
}

fn read_sent(sdp: &Sdp, index: usize, opts: &Options) -> Option<Sent> {
    let m = sdp.media_at(index)?;
    let d = m.description();
    let conn_ip = m.connection().and_then(|c| c.ip);
    let ip = opts.media_address.or(conn_ip);
    let port = m.port();
    let live = port != 0;
    let remote = ip
        .filter(|ip| !ip.is_unspecified() && live)
        .map(|ip| SocketAddr::new(ip, port));
    let remote_rtcp = d
        .rtcp()
        .and_then(|r| {
            Some(SocketAddr::new(
                r.ip().filter(|_| opts.media_address.is_none()).or(ip)?,
                r.port,
            ))
        })
        .filter(|a| !a.ip().is_unspecified() && live);
    let ice_ufrag = d
        .attribute("ice-ufrag")
        .or_else(|| sdp.attribute("ice-ufrag"))
        .filter(|u| !u.is_empty())
        .map(Box::from);
    let crypto = d.cryptos().find_map(|c| {
        let suite = Suite::from_sdes(c.suite)?;
        if c.uses_mki() || c.session_params.is_some() {
            return None;
        }
        let mut buf = [0u8; 48];
        let n = c.inline_key()?.decode_into(&mut buf)?;
        let key = MasterKey::from_sdes(suite, buf.get(..n)?);
        buf.fill(0);
        Some(Keyed {
            tag: c.tag,
            suite,
            key: key?,
        })
    });
    Some(Sent {
        rejected: m.is_rejected(),
        mux: d.rtcp_mux(),
        proto: d.proto().to_owned(),
        media_type: d.media_type().to_owned(),
        remote,
        remote_rtcp,
        ice_ufrag,
        crypto,
    })
}

fn new_credentials() -> Result<(Box<str>, Box<str>), NgError> {
    let token = |n| ice_token(n).ok_or_else(|| NgError::Relay("no randomness".into()));
    Ok((token(8)?.into(), token(24)?.into()))
}

fn signal(remote: Option<SocketAddr>, rtcp: Option<SocketAddr>, opts: &Options) -> LegSignal {
    LegSignal {
        remote_rtp: remote,
        remote_rtcp: rtcp,
        policy: opts.policy,
        ..LegSignal::default()
    }
}

fn fresh_key(suite: Suite, tag: u32) -> Result<Keyed, NgError> {
    let key = MasterKey::random().ok_or_else(|| NgError::Relay("no randomness".into()))?;
    let mut raw = [0u8; 30];
    let n = key.write_sdes(suite, &mut raw);
    let cut = MasterKey::from_sdes(suite, &raw[..n]);
    raw.fill(0);
    Ok(Keyed {
        tag,
        suite,
        key: cut.ok_or_else(|| NgError::Relay("no randomness".into()))?,
    })
}

fn write_crypto(m: &mut MediaDescription, k: &Keyed) {
    let mut raw = [0u8; 30];
    let n = k.key.write_sdes(k.suite, &mut raw);
    let value = format_crypto(k.tag, k.suite.sdes_name(), &raw[..n]);
    let _ = m.add_attribute("crypto", Some(&value));
    raw.fill(0);
}

/// RFC 8445 §5.1.2.1 priority of a host candidate of `component`.
fn host_priority(component: u32) -> u32 {
    (126 << 24) + (65_535 << 8) + (256 - component)
}

/// Writes the relay's ICE-lite attributes for `local` into `m` (RFC 8839 §5).
fn write_ice(m: &mut MediaDescription, creds: &(Box<str>, Box<str>), local: LocalLeg) {
    let _ = m.add_attribute("ice-ufrag", Some(&creds.0));
    let _ = m.add_attribute("ice-pwd", Some(&creds.1));
    let mut components = vec![(1, local.rtp)];
    if let Some(rtcp) = local.rtcp {
        components.push((2, rtcp));
    }
    for (component, addr) in components {
        let c = format!(
            "1 {component} UDP {} {} {} typ host",
            host_priority(component),
            addr.ip(),
            addr.port()
        );
        let _ = m.add_attribute("candidate", Some(&c));
    }
}

/// How an `offer` or `answer` rewrites one line for its reader.
struct Rewrite<'o> {
    opts: &'o Options,
    /// The reader's protocol.
    out_proto: String,
    /// rtcp-mux advertised to the reader.
    mux: bool,
    /// ICE attributes to add, with the credentials of `out_leg`.
    ice: Option<(Box<str>, Box<str>)>,
    /// An SRTP key of the relay's to write.
    crypto: Option<Keyed>,
}

impl Rewrite<'_> {
    fn apply(&self, m: &mut MediaDescription, local: LocalLeg, sender_proto: &str) {
        if self.out_proto != sender_proto {
            m.set_proto(&self.out_proto);
        }
        if is_srtp(sender_proto) != is_srtp(&self.out_proto) {
            m.remove_attribute("crypto");
        }
        if let Some(k) = &self.crypto {
            write_crypto(m, k);
        }
        m.remove_attribute("rtcp-mux");
        m.remove_attribute("rtcp");
        let rtp = local.rtp.port();
        m.set_transport(local.rtp.ip(), rtp, rtp);
        if self.mux {
            let _ = m.add_attribute("rtcp-mux", None);
        }
        if let Some(rtcp) = local.rtcp.filter(|_| !self.mux || !self.opts.mux.require) {
            let _ = m.add_attribute("rtcp", Some(&rtcp.port().to_string()));
        }
        if let Some(creds) = &self.ice {
            write_ice(m, creds, local);
        }
    }
}

impl Calls {
    /// Calls whose legs default to `default_interface` when a request names no `direction`.
    pub fn new(default_interface: &str) -> Self {
        Self {
            calls: HashMap::new(),
            default_interface: default_interface.to_owned(),
            created_total: 0,
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

    /// Whether `call_id` is anchored.
    pub fn contains(&self, call_id: &str) -> bool {
        self.calls.contains_key(call_id)
    }

    fn interfaces(&self, req: &Request<'_>) -> [String; 2] {
        match req.direction.as_slice() {
            [a, b, ..] => [(*a).to_owned(), (*b).to_owned()],
            [a] => [(*a).to_owned(), (*a).to_owned()],
            [] => [
                self.default_interface.clone(),
                self.default_interface.clone(),
            ],
        }
    }

    /// `offer`: anchors each live `m=` line (new streams for new lines, new signalling for
    /// known ones) and returns the SDP for the answerer.
    pub fn offer(&mut self, relay: &mut dyn Anchor, req: &Request<'_>) -> Result<Vec<u8>, NgError> {
        let call_id = req.call_id.ok_or(NgError::Missing("call-id"))?;
        let from_tag = req.from_tag.ok_or(NgError::Missing("from-tag"))?;
        let body = req.sdp.ok_or(NgError::Missing("sdp"))?;
        let opts = Options::of(req);
        let mut sdp = Sdp::parse(body).map_err(|e| NgError::Sdp(e.to_string()))?;
        let sent: Vec<Sent> = (0..sdp.media_count())
            .filter_map(|i| read_sent(&sdp, i, &opts))
            .collect();
        let had_ice = sent.iter().any(|s| s.ice_ufrag.is_some());
        let interfaces = self.interfaces(req);
        let created = &mut self.created_total;
        let call = self.calls.entry(call_id.to_owned()).or_insert_with(|| {
            let now = unix_now();
            *created += 1;
            Call {
                session: relay.create_session(),
                created: now,
                last_signal: now,
                tags: [Some(from_tag.to_owned()), None],
                labels: [req.label.map(str::to_owned), None],
                branches: Vec::new(),
                streams: Vec::new(),
                delete_at: None,
                interfaces,
            }
        });
        call.delete_at = None;
        call.last_signal = unix_now();
        // The offerer's side: leg 1 when the answerer re-offers (a re-INVITE from the callee).
        let s = usize::from(
            call.tags[1].as_deref() == Some(from_tag) && call.tags[0].as_deref() != Some(from_tag),
        );
        let r = 1 - s;
        let sdp_ice = had_ice;
        sdp.strip_foreign_transport();
        let mut out_ip: Option<IpAddr> = None;
        for (i, sent) in sent.iter().enumerate() {
            if sent.rejected {
                continue;
            }
            let in_mux = sent.mux && !opts.mux.reject;
            let out_mux = opts.mux.require
                || opts.mux.offer
                || (sent.mux && !opts.mux.demux && !opts.mux.reject);
            let out_proto = match &opts.transport {
                Some(p) => p.clone(),
                None => call
                    .streams
                    .get(i)
                    .and_then(Option::as_ref)
                    .map_or_else(|| sent.proto.clone(), |st| st.proto[r].clone()),
            };
            let sig = signal(sent.remote, sent.remote_rtcp, &opts);
            if let Some(st) = call.streams.get_mut(i).and_then(Option::as_mut) {
                let mut signals = [None, None];
                signals[s] = Some(sig);
                relay
                    .update_stream(call.session, st.index, signals)
                    .map_err(NgError::relay)?;
                st.advertised[s] = sent.remote;
                st.proto = {
                    let mut p = st.proto.clone();
                    p[s] = sent.proto.clone();
                    p[r] = out_proto.clone();
                    p
                };
                st.mux[s] = in_mux;
            } else {
                let mut specs = [
                    LegSpec {
                        interface: call.interfaces[0].clone(),
                        rtcp_mux: false,
                        signal: LegSignal::default(),
                    },
                    LegSpec {
                        interface: call.interfaces[1].clone(),
                        rtcp_mux: false,
                        signal: LegSignal::default(),
                    },
                ];
                specs[s].rtcp_mux = in_mux;
                specs[s].signal = sig;
                specs[r].rtcp_mux = opts.mux.require;
                specs[r].signal.policy = opts.policy;
                let (index, local) = relay
                    .add_stream(call.session, specs)
                    .map_err(NgError::relay)?;
                let mut proto = [String::new(), String::new()];
                proto[s] = sent.proto.clone();
                proto[r] = out_proto.clone();
                let mut advertised = [None, None];
                advertised[s] = sent.remote;
                let mut mux = [false, false];
                mux[s] = in_mux;
                if call.streams.len() <= i {
                    call.streams.resize_with(i + 1, || None);
                }
                call.streams[i] = Some(Stream {
                    index,
                    local,
                    media_type: sent.media_type.clone(),
                    proto,
                    advertised,
                    ice: [None, None],
                    remote_ufrag: [None, None],
                    ours: [None, None],
                    mux,
                });
            }
            let Some(st) = call.streams.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            // SDES terminated by the relay where the two sides differ in SRTP-ness.
            let mut crypto_out = None;
            if is_srtp(&sent.proto) && !is_srtp(&out_proto) {
                let theirs = sent
                    .crypto
                    .clone()
                    .ok_or_else(|| NgError::Sdp("no usable a=crypto".into()))?;
                let ours = match &st.ours[s] {
                    Some(k) if k.suite == theirs.suite && k.tag == theirs.tag => k.clone(),
                    _ => fresh_key(theirs.suite, theirs.tag)?,
                };
                relay
                    .set_crypto(
                        call.session,
                        st.index,
                        s,
                        KeyChange::Key(theirs.suite, theirs.key.clone()),
                        KeyChange::Key(ours.suite, ours.key.clone()),
                    )
                    .map_err(NgError::relay)?;
                st.ours[s] = Some(ours);
            } else if !is_srtp(&sent.proto) && is_srtp(&out_proto) {
                let ours = match &st.ours[r] {
                    Some(k) => k.clone(),
                    None => fresh_key(OFFERED_SUITE, 1)?,
                };
                relay
                    .set_crypto(
                        call.session,
                        st.index,
                        r,
                        KeyChange::Keep,
                        KeyChange::Key(ours.suite, ours.key.clone()),
                    )
                    .map_err(NgError::relay)?;
                crypto_out = Some(ours.clone());
                st.ours[r] = Some(ours);
            }
            // ICE-lite towards the offerer, in the answer, when its offer had ICE.
            st.remote_ufrag[s] = sent.ice_ufrag.clone();
            if st.ice[s].is_none()
                && (opts.ice == IceMode::Force
                    || (opts.ice == IceMode::Default && sent.ice_ufrag.is_some()))
            {
                st.ice[s] = Some(new_credentials()?);
            }
            if opts.ice == IceMode::Remove {
                st.ice = [None, None];
            }
            // ICE-lite towards the answerer.
            let want_ice = match opts.ice {
                IceMode::Remove => false,
                IceMode::Force => true,
                IceMode::Default => sdp_ice,
            };
            let ice = if want_ice {
                if st.ice[r].is_none() {
                    st.ice[r] = Some(new_credentials()?);
                }
                st.ice[r].clone()
            } else {
                None
            };
            let rw = Rewrite {
                opts: &opts,
                out_proto,
                mux: out_mux,
                ice,
                crypto: crypto_out,
            };
            let local = st.local[r];
            out_ip.get_or_insert_with(|| local.rtp.ip());
            if let Some(m) = sdp.media_mut(i) {
                rw.apply(m, local, &sent.proto);
            }
        }
        if let Some(ip) = out_ip {
            sdp.set_connection_address(ip);
            if opts.replace_origin {
                sdp.set_origin_address(ip);
            }
        }
        if call.streams.iter().flatten().any(|st| st.ice[r].is_some()) {
            let _ = sdp.add_attribute("ice-lite", None);
        }
        Ok(sdp.to_bytes().to_vec())
    }

    /// `answer`: the answerer's addresses to the relay, and the SDP for the offerer.
    pub fn answer(
        &mut self,
        relay: &mut dyn Anchor,
        req: &Request<'_>,
    ) -> Result<Vec<u8>, NgError> {
        let call_id = req.call_id.ok_or(NgError::Missing("call-id"))?;
        let from_tag = req.from_tag.ok_or(NgError::Missing("from-tag"))?;
        let body = req.sdp.ok_or(NgError::Missing("sdp"))?;
        let opts = Options::of(req);
        let call = self
            .calls
            .get_mut(call_id)
            .ok_or_else(|| NgError::UnknownCall(call_id.to_owned()))?;
        let mut sdp = Sdp::parse(body).map_err(|e| NgError::Sdp(e.to_string()))?;
        let sent: Vec<Sent> = (0..sdp.media_count())
            .filter_map(|i| read_sent(&sdp, i, &opts))
            .collect();
        // The answerer's side: leg 1 unless the answer goes to a re-offer from the callee.
        let reversed =
            call.tags[1].as_deref() == Some(from_tag) && call.tags[0].as_deref() != Some(from_tag);
        let (s, r) = if reversed { (0, 1) } else { (1, 0) };
        if let Some(to_tag) = req.to_tag {
            if !reversed {
                call.tags[1] = Some(to_tag.to_owned());
                call.labels[1] = req
                    .label
                    .map(str::to_owned)
                    .or_else(|| call.labels[1].take());
                if !call.branches.iter().any(|b| b == to_tag) {
                    call.branches.push(to_tag.to_owned());
                }
            }
        }
        call.last_signal = unix_now();
        sdp.strip_foreign_transport();
        let mut out_ip = None;
        let mut any_ice = false;
        for (i, sent) in sent.iter().enumerate() {
            let Some(st) = call.streams.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if sent.rejected {
                continue;
            }
            let muxed = sent.mux && !opts.mux.reject;
            // A muxing answerer takes RTCP on its RTP port (RFC 5761 §5.1.3).
            let rtcp = if muxed { sent.remote } else { sent.remote_rtcp };
            let mut signals = [None, None];
            signals[s] = Some(signal(sent.remote, rtcp, &opts));
            relay
                .update_stream(call.session, st.index, signals)
                .map_err(NgError::relay)?;
            st.advertised[s] = sent.remote;
            st.mux[s] = muxed;
            // SDES: the answerer's key where the relay offered SRTP to it; the relay's key
            // towards the offerer where it took the offerer's SRTP off.
            if is_srtp(&st.proto[s]) && !is_srtp(&st.proto[r]) {
                if let Some(theirs) = &sent.crypto {
                    relay
                        .set_crypto(
                            call.session,
                            st.index,
                            s,
                            KeyChange::Key(theirs.suite, theirs.key.clone()),
                            KeyChange::Keep,
                        )
                        .map_err(NgError::relay)?;
                } else {
                    return Err(NgError::Sdp("the answer has no usable a=crypto".into()));
                }
            }
            let crypto_out = (is_srtp(&st.proto[r]) && !is_srtp(&st.proto[s]))
                .then(|| st.ours[r].clone())
                .flatten();
            // ICE: the relay answers checks on a leg whose peer's SDP had ICE and to which it
            // gave its own credentials (RFC 8445 §2.5); other legs latch as usual.
            st.remote_ufrag[s] = sent.ice_ufrag.clone();
            for leg in [s, r] {
                let params = match (&st.ice[leg], &st.remote_ufrag[leg]) {
                    (Some((u, p)), Some(remote)) => Some(IceParams {
                        local_ufrag: u.clone(),
                        local_pwd: p.clone(),
                        remote_ufrag: Some(remote.clone()),
                    }),
                    _ => None,
                };
                relay
                    .set_ice(call.session, st.index, leg, params)
                    .map_err(NgError::relay)?;
            }
            let out_proto = st.proto[r].clone();
            let rw = Rewrite {
                opts: &opts,
                out_proto,
                mux: st.mux[r],
                ice: st.ice[r].clone(),
                crypto: crypto_out,
            };
            any_ice |= rw.ice.is_some();
            let local = st.local[r];
            out_ip.get_or_insert_with(|| local.rtp.ip());
            let sender_proto = sent.proto.clone();
            if let Some(m) = sdp.media_mut(i) {
                rw.apply(m, local, &sender_proto);
            }
        }
        if let Some(ip) = out_ip {
            sdp.set_connection_address(ip);
            if opts.replace_origin {
                sdp.set_origin_address(ip);
            }
        }
        if any_ice {
            let _ = sdp.add_attribute("ice-lite", None);
        }
        Ok(sdp.to_bytes().to_vec())
    }

    /// `delete`: ends the call's relay session now (the call is handed back, so its final
    /// statistics can be reported once the relay has them), or after `delay` (the call stays
    /// listed and a new offer revives it); with the `to-tag` of a branch that did not win the
    /// media, forgets only that branch.
    pub fn delete(
        &mut self,
        relay: &mut dyn Anchor,
        req: &Request<'_>,
        now: Instant,
        delay: Duration,
    ) -> Result<Deleted, NgError> {
        let call_id = req.call_id.ok_or(NgError::Missing("call-id"))?;
        let call = self
            .calls
            .get_mut(call_id)
            .ok_or_else(|| NgError::UnknownCall(call_id.to_owned()))?;
        if let Some(to_tag) = req.to_tag {
            let winner = call.tags[1].as_deref() == Some(to_tag);
            if !winner && call.branches.iter().any(|b| b == to_tag) {
                call.branches.retain(|b| b != to_tag);
                return Ok(Deleted::Branch);
            }
        }
        if !delay.is_zero() {
            call.delete_at = Some(now + delay);
            return Ok(Deleted::Later);
        }
        let session = call.session;
        let call = self
            .calls
            .remove(call_id)
            .ok_or_else(|| NgError::UnknownCall(call_id.to_owned()))?;
        relay.delete_session(session).map_err(NgError::relay)?;
        Ok(Deleted::Now(Box::new(call)))
    }

    /// Carries out delayed deletes due at `now`; returns how many calls ended.
    pub fn expire(&mut self, relay: &mut dyn Anchor, now: Instant) -> usize {
        let due: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, c)| c.delete_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            if let Some(call) = self.calls.remove(id) {
                let _ = relay.delete_session(call.session);
            }
        }
        due.len()
    }

    /// Ends every call (shutdown).
    pub fn clear(&mut self, relay: &mut dyn Anchor) {
        for (_, call) in self.calls.drain() {
            let _ = relay.delete_session(call.session);
        }
    }

    /// The first `limit` call-ids (`list`).
    pub fn list(&self, limit: usize) -> Vec<&str> {
        let mut ids: Vec<&str> = self.calls.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids.truncate(limit);
        ids
    }

    pub(super) fn get(&self, call_id: &str) -> Option<&Call> {
        self.calls.get(call_id)
    }
}

/// What a `delete` did.
#[derive(Debug)]
pub enum Deleted {
    /// Forgot a fork that did not win the media; the call goes on.
    Branch,
    /// The call ends after its delete-delay.
    Later,
    /// The call's session is being closed; here is the call as it was.
    Now(Box<Call>),
}

/// Packet totals of a call, for `delete` and `query` replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Packets received from the peers.
    pub packets: u64,
    /// Bytes received from the peers.
    pub bytes: u64,
    /// Packets dropped.
    pub errors: u64,
}

impl CallStats {
    /// The totals of a session's stream statistics.
    pub fn of(streams: &[[LegStats; 2]]) -> Self {
        let mut t = Self::default();
        for leg in streams.iter().flatten() {
            t.packets += leg.packets_in;
            t.bytes += leg.bytes_in;
            t.errors += leg.drops.iter().sum::<u64>();
        }
        t
    }
}
