//! Each flag's effect on what the relay is told and on the SDP returned, over a recording fake
//! relay (no sockets), and the service's replay cache, session limit and source allow-list.

use super::*;
use crate::api::{KeyChange, LegSpec, LocalLeg, RelayError, SessionId};
use crate::forward::{IceParams, LegSignal, LegStats};
use crate::latch::LatchPolicy;
use sbc_common::bencode::{self, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the fake relay was asked, in order.
#[derive(Debug, Default)]
struct Fake {
    sessions: u64,
    ports: u16,
    added: Vec<[LegSpec; 2]>,
    updates: Vec<(usize, [Option<LegSignal>; 2])>,
    crypto: Vec<(usize, usize, bool, bool)>,
    ice: Vec<(usize, usize, Option<IceParams>)>,
    deleted: Vec<SessionId>,
}

impl Anchor for Fake {
    fn create_session(&mut self) -> SessionId {
        self.sessions += 1;
        SessionId(self.sessions)
    }

    fn add_stream(
        &mut self,
        _session: SessionId,
        legs: [LegSpec; 2],
    ) -> Result<(usize, [LocalLeg; 2]), RelayError> {
        let base = [20_000u16, 30_000u16];
        let mut local = [LocalLeg {
            rtp: "127.0.0.1:1".parse().unwrap(),
            rtcp: None,
        }; 2];
        for (i, spec) in legs.iter().enumerate() {
            let ip = if spec.interface == "core" {
                "10.0.0.1"
            } else {
                "198.51.100.1"
            };
            let port = base[i] + self.ports;
            local[i] = LocalLeg {
                rtp: SocketAddr::new(ip.parse().unwrap(), port),
                rtcp: (!spec.rtcp_mux).then(|| SocketAddr::new(ip.parse().unwrap(), port + 1)),
            };
        }
        self.ports += 2;
        self.added.push(legs);
        Ok((self.added.len() - 1, local))
    }

    fn update_stream(
        &mut self,
        _session: SessionId,
        stream: usize,
        signals: [Option<LegSignal>; 2],
    ) -> Result<(), RelayError> {
        self.updates.push((stream, signals));
        Ok(())
    }

    fn set_crypto(
        &mut self,
        _session: SessionId,
        stream: usize,
        leg: usize,
        inbound: KeyChange,
        outbound: KeyChange,
    ) -> Result<(), RelayError> {
        let keyed = |k: &KeyChange| matches!(k, KeyChange::Key(..));
        self.crypto
            .push((stream, leg, keyed(&inbound), keyed(&outbound)));
        Ok(())
    }

    fn set_ice(
        &mut self,
        _session: SessionId,
        stream: usize,
        leg: usize,
        params: Option<IceParams>,
    ) -> Result<(), RelayError> {
        self.ice.push((stream, leg, params));
        Ok(())
    }

    fn delete_session(&mut self, session: SessionId) -> Result<(), RelayError> {
        self.deleted.push(session);
        Ok(())
    }

    fn stats(&self, _session: SessionId) -> Vec<[LegStats; 2]> {
        Vec::new()
    }

    fn relayed(&self) -> (u64, u64) {
        (7, 1)
    }

    fn take_final_stats(&mut self, session: SessionId) -> Option<Vec<[LegStats; 2]>> {
        self.deleted.contains(&session).then(|| {
            let leg = LegStats {
                packets_in: 42,
                ..LegStats::default()
            };
            vec![[leg, leg]]
        })
    }
}

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\na=sendrecv\r\n";
const ICE_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\na=ice-options:trickle\r\nm=audio 4000 RTP/AVP 0\r\na=ice-ufrag:Offr\r\na=ice-pwd:offererpasswordoffererpw\r\na=candidate:1 1 UDP 2130706431 192.168.1.20 4000 typ host\r\na=candidate:2 1 UDP 1694498815 203.0.113.9 61000 typ srflx raddr 192.168.1.20 rport 4000\r\n";
const SRTP_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";
const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 10.9.9.9\r\ns=-\r\nc=IN IP4 10.9.9.9\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

/// An ng datagram: `pairs` after the command, call-id `c1`.
fn request(command: &str, pairs: &[(&str, Value<'_>)]) -> Vec<u8> {
    let mut all: Vec<(&[u8], Value<'_>)> = vec![
        (b"command", Value::Bytes(command.as_bytes())),
        (b"call-id", Value::Bytes(b"c1")),
    ];
    if !pairs.iter().any(|(k, _)| *k == "from-tag") {
        all.push((b"from-tag", Value::Bytes(b"alice")));
    }
    all.extend(pairs.iter().map(|(k, v)| (k.as_bytes(), v.clone())));
    let mut out = b"ck ".to_vec();
    Value::Dict(all).encode(&mut out);
    out
}

fn b(s: &str) -> Value<'_> {
    Value::Bytes(s.as_bytes())
}

fn list<'a>(items: &[&'a str]) -> Value<'a> {
    Value::List(items.iter().map(|s| Value::Bytes(s.as_bytes())).collect())
}

fn offer(calls: &mut Calls, fake: &mut Fake, sdp: &str, extra: &[(&str, Value<'_>)]) -> String {
    let mut pairs = vec![("sdp", b(sdp)), ("direction", list(&["customer", "core"]))];
    pairs.extend(extra.iter().cloned());
    let msg = request("offer", &pairs);
    let out = calls.offer(fake, &parse(&msg).unwrap()).unwrap();
    String::from_utf8(out).unwrap()
}

fn answer(calls: &mut Calls, fake: &mut Fake, sdp: &str, extra: &[(&str, Value<'_>)]) -> String {
    let mut pairs = vec![("sdp", b(sdp))];
    if !extra.iter().any(|(k, _)| *k == "to-tag") {
        pairs.push(("to-tag", b("bob")));
    }
    pairs.extend(extra.iter().cloned());
    let msg = request("answer", &pairs);
    let out = calls.answer(fake, &parse(&msg).unwrap()).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn an_offer_points_at_the_leg_facing_the_answerer_and_origin_only_when_asked() {
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(&mut calls, &mut fake, OFFER, &[]);
    assert!(out.contains("c=IN IP4 10.0.0.1\r\n"), "{out}");
    assert!(out.contains("m=audio 30000 RTP/AVP 0 8\r\n"), "{out}");
    assert!(
        out.contains("o=- 1 1 IN IP4 192.168.1.20"),
        "origin kept: {out}"
    );
    assert_eq!(fake.added[0][0].interface, "customer");
    assert_eq!(fake.added[0][1].interface, "core");
    let first = fake.added[0][0].signal;
    assert_eq!(first.remote_rtp, Some("192.168.1.20:4000".parse().unwrap()));
    assert_eq!(first.policy, LatchPolicy::Strict);

    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(
        &mut calls,
        &mut fake,
        OFFER,
        &[("replace", list(&["origin"]))],
    );
    assert!(out.contains("o=- 1 1 IN IP4 10.0.0.1\r\n"), "{out}");
    assert!(!out.contains("192.168.1.20"), "{out}");
}

#[test]
fn media_address_and_sip_source_address_override_the_sdp_address() {
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    offer(
        &mut calls,
        &mut fake,
        OFFER,
        &[("media-address", b("203.0.113.50"))],
    );
    assert_eq!(
        fake.added[0][0].signal.remote_rtp,
        Some("203.0.113.50:4000".parse().unwrap())
    );

    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let rf = [("received-from", list(&["IP4", "203.0.113.7"]))];
    offer(&mut calls, &mut fake, OFFER, &rf);
    assert_eq!(
        fake.added[0][0].signal.remote_rtp,
        Some("192.168.1.20:4000".parse().unwrap()),
        "trust-address is the default"
    );
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let sip_source = [rf[0].clone(), ("flags", list(&["SIP source address"]))];
    offer(&mut calls, &mut fake, OFFER, &sip_source);
    assert_eq!(
        fake.added[0][0].signal.remote_rtp,
        Some("203.0.113.7:4000".parse().unwrap())
    );
}

#[test]
fn asymmetric_turns_latching_off_and_media_handover_follows_the_ssrc() {
    for (flag, policy) in [
        ("asymmetric", LatchPolicy::Off),
        ("media-handover", LatchPolicy::Handover),
        ("strict-source", LatchPolicy::Strict),
        ("symmetric", LatchPolicy::Strict),
    ] {
        let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
        offer(&mut calls, &mut fake, OFFER, &[("flags", list(&[flag]))]);
        assert_eq!(fake.added[0][0].signal.policy, policy, "{flag}");
        answer(&mut calls, &mut fake, ANSWER, &[("flags", list(&[flag]))]);
        assert_eq!(fake.updates[0].1[1].unwrap().policy, policy, "{flag}");
    }
}

#[test]
fn rtcp_mux_is_passed_on_demuxed_offered_or_required_as_asked() {
    // Default: the offerer's mux is accepted and offered on.
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(&mut calls, &mut fake, OFFER, &[]);
    assert!(fake.added[0][0].rtcp_mux && !fake.added[0][1].rtcp_mux);
    assert!(
        out.contains("a=rtcp-mux\r\n") && out.contains("a=rtcp:30001\r\n"),
        "{out}"
    );
    // demux: not offered on, still accepted back.
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(
        &mut calls,
        &mut fake,
        OFFER,
        &[("rtcp-mux", list(&["demux"]))],
    );
    assert!(!out.contains("a=rtcp-mux"), "{out}");
    let back = answer(&mut calls, &mut fake, ANSWER, &[]);
    assert!(
        back.contains("a=rtcp-mux\r\n") && !back.contains("a=rtcp:"),
        "{back}"
    );
    // require: one port on the answerer's leg, no a=rtcp.
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(
        &mut calls,
        &mut fake,
        OFFER,
        &[("rtcp-mux", list(&["require"]))],
    );
    assert!(fake.added[0][1].rtcp_mux);
    assert!(
        out.contains("a=rtcp-mux\r\n") && !out.contains("a=rtcp:"),
        "{out}"
    );
    // offer: mux offered even though the offerer has none; reject: the offerer's refused.
    let plain = OFFER.replace("a=rtcp-mux\r\n", "");
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(
        &mut calls,
        &mut fake,
        &plain,
        &[("rtcp-mux", list(&["offer"]))],
    );
    assert!(out.contains("a=rtcp-mux\r\n"), "{out}");
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    offer(
        &mut calls,
        &mut fake,
        OFFER,
        &[("rtcp-mux", list(&["reject"]))],
    );
    assert!(!fake.added[0][0].rtcp_mux);
    let back = answer(&mut calls, &mut fake, ANSWER, &[]);
    assert!(
        !back.contains("a=rtcp-mux") && back.contains("a=rtcp:20001"),
        "{back}"
    );
}

#[test]
fn ice_is_stripped_and_the_relay_answers_as_lite_agent_by_default() {
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(&mut calls, &mut fake, ICE_OFFER, &[]);
    assert!(
        !out.contains("192.168.1.20 4000") && !out.contains("203.0.113.9"),
        "{out}"
    );
    assert!(
        !out.contains("ice-options") && !out.contains("Offr"),
        "{out}"
    );
    assert!(out.contains("a=ice-lite\r\n"), "{out}");
    assert!(
        out.contains("a=candidate:1 1 UDP 2130706431 10.0.0.1 30000 typ host"),
        "{out}"
    );
    // The answerer answers with ICE: its checks are answered on leg 1; the offerer gets the
    // relay's lite credentials for leg 0 and its checks are answered there.
    let ice_answer = ANSWER.replace(
        "m=audio 5000 RTP/AVP 0\r\n",
        "m=audio 5000 RTP/AVP 0\r\na=ice-ufrag:Answ\r\na=ice-pwd:answererpasswordanswerer\r\n",
    );
    let back = answer(&mut calls, &mut fake, &ice_answer, &[]);
    assert!(
        back.contains("a=ice-lite\r\n") && back.contains("198.51.100.1 20000 typ host"),
        "{back}"
    );
    assert!(!back.contains("Answ"), "{back}");
    let leg = |l: usize| {
        fake.ice
            .iter()
            .rev()
            .find(|(_, leg, _)| *leg == l)
            .unwrap()
            .2
            .clone()
    };
    assert_eq!(leg(1).unwrap().remote_ufrag.as_deref(), Some("Answ"));
    assert_eq!(leg(0).unwrap().remote_ufrag.as_deref(), Some("Offr"));

    // ICE=remove: nothing added, nothing programmed.
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(&mut calls, &mut fake, ICE_OFFER, &[("ICE", b("remove"))]);
    assert!(!out.contains("ice-") && !out.contains("candidate"), "{out}");
    answer(&mut calls, &mut fake, ANSWER, &[]);
    assert!(fake.ice.iter().all(|(_, _, p)| p.is_none()));

    // ICE=force on an offer without ICE: the answerer is offered the relay as lite agent.
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(&mut calls, &mut fake, OFFER, &[("ICE", b("force"))]);
    assert!(
        out.contains("a=ice-lite\r\n") && out.contains("a=ice-ufrag:"),
        "{out}"
    );
}

#[test]
fn transport_protocol_terminates_sdes_on_the_srtp_side() {
    // SRTP offerer, plain answerer: the offer's key is the relay's inbound key on leg 0, the
    // answerer gets RTP/AVP without a=crypto, the offerer gets the relay's own key back.
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(
        &mut calls,
        &mut fake,
        SRTP_OFFER,
        &[("transport-protocol", b("RTP/AVP"))],
    );
    assert!(
        out.contains("m=audio 30000 RTP/AVP 0\r\n") && !out.contains("crypto"),
        "{out}"
    );
    assert_eq!(fake.crypto, [(0, 0, true, true)]);
    let back = answer(&mut calls, &mut fake, ANSWER, &[]);
    assert!(back.contains("m=audio 20000 RTP/SAVP 0\r\n"), "{back}");
    assert!(
        back.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{back}"
    );
    assert!(
        !back.contains("WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"),
        "the offerer's key never echoes: {back}"
    );

    // Plain offerer, SRTP asked towards the answerer: the relay offers its key, takes the
    // answerer's from the answer.
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    let out = offer(
        &mut calls,
        &mut fake,
        OFFER,
        &[("transport-protocol", b("RTP/SAVP"))],
    );
    assert!(
        out.contains("RTP/SAVP 0 8\r\n")
            && out.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{out}"
    );
    assert_eq!(fake.crypto, [(0, 1, false, true)]);
    let srtp_answer = ANSWER.replace("RTP/AVP 0\r\n", "RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n");
    let back = answer(&mut calls, &mut fake, &srtp_answer, &[]);
    assert_eq!(fake.crypto[1], (0, 1, true, false));
    assert!(
        back.contains("RTP/AVP 0\r\n") && !back.contains("crypto"),
        "{back}"
    );
}

#[test]
fn a_re_offer_from_the_callee_signals_the_legs_the_other_way() {
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    offer(&mut calls, &mut fake, OFFER, &[]);
    answer(&mut calls, &mut fake, ANSWER, &[]);
    let reinvite = ANSWER.replace("5000", "5002");
    let out = offer(&mut calls, &mut fake, &reinvite, &[("from-tag", b("bob"))]);
    assert!(
        out.contains("m=audio 20000 ") && out.contains("c=IN IP4 198.51.100.1"),
        "{out}"
    );
    let (_, signals) = fake.updates.last().unwrap();
    assert!(signals[0].is_none());
    assert_eq!(
        signals[1].unwrap().remote_rtp,
        Some("10.9.9.9:5002".parse().unwrap())
    );
    assert_eq!(fake.added.len(), 1, "the same stream");
}

#[test]
fn deleting_a_losing_fork_keeps_the_call_and_delete_delay_defers_the_end() {
    let (mut calls, mut fake) = (Calls::new("customer"), Fake::default());
    offer(&mut calls, &mut fake, OFFER, &[]);
    answer(&mut calls, &mut fake, ANSWER, &[("to-tag", b("fork1"))]);
    answer(&mut calls, &mut fake, ANSWER, &[("to-tag", b("fork2"))]);
    let now = Instant::now();
    let del = |tag: &'static str| request("delete", &[("to-tag", b(tag))]);
    let msg = del("fork1");
    assert!(matches!(
        calls.delete(&mut fake, &parse(&msg).unwrap(), now, Duration::ZERO),
        Ok(Deleted::Branch)
    ));
    assert!(calls.contains("c1") && fake.deleted.is_empty());
    let msg = del("fork2");
    calls
        .delete(
            &mut fake,
            &parse(&msg).unwrap(),
            now,
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(calls.contains("c1"), "kept for the delay");
    assert_eq!(calls.expire(&mut fake, now + Duration::from_secs(29)), 0);
    assert_eq!(calls.expire(&mut fake, now + Duration::from_secs(30)), 1);
    assert_eq!(fake.deleted, [SessionId(1)]);
    assert!(!calls.contains("c1"));
}

fn service(max_sessions: usize) -> Service {
    Service::new(ServiceConfig {
        allow: vec!["127.0.0.1".parse().unwrap()],
        max_sessions,
        delete_delay: Duration::ZERO,
        default_interface: "customer".into(),
    })
}

fn reply_dict(reply: &[u8]) -> Value<'_> {
    let at = reply.iter().position(|&c| c == b' ').unwrap();
    bencode::decode(&reply[at + 1..]).unwrap()
}

#[test]
fn the_service_refuses_strangers_replays_cookies_and_applies_the_session_limit() {
    let mut svc = service(1);
    let mut fake = Fake::default();
    let now = Instant::now();
    let us: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let ping = b"p1 d7:command4:pinge";
    assert_eq!(
        svc.handle(&mut fake, now, "192.0.2.1:5060".parse().unwrap(), ping),
        None
    );
    assert_eq!(svc.counters().refused_sources, 1);
    let offer1 = request("offer", &[("sdp", b(OFFER))]);
    let first = svc.handle(&mut fake, now, us, &offer1).unwrap();
    let again = svc.handle(&mut fake, now, us, &offer1).unwrap();
    assert_eq!(first, again);
    assert_eq!(
        (fake.added.len(), svc.counters().replays),
        (1, 1),
        "acted on once"
    );
    // A second call is over the limit: an error, or `load limit` to a client that says so.
    let mut second = request("offer", &[("sdp", b(OFFER))]);
    second = String::from_utf8(second)
        .unwrap()
        .replace("2:c1", "2:c2")
        .replace("ck ", "c2 ")
        .into_bytes();
    let refused = svc.handle(&mut fake, now, us, &second).unwrap();
    let d = reply_dict(&refused);
    assert_eq!(
        d.get("error-reason").and_then(Value::as_str),
        Some("Parallel session limit reached")
    );
    let mut with_ext = request(
        "offer",
        &[("sdp", b(OFFER)), ("supports", list(&["load limit"]))],
    );
    with_ext = String::from_utf8(with_ext)
        .unwrap()
        .replace("2:c1", "2:c3")
        .replace("ck ", "c3 ")
        .into_bytes();
    let limited = svc.handle(&mut fake, now, us, &with_ext).unwrap();
    assert_eq!(
        reply_dict(&limited).get("result").and_then(Value::as_str),
        Some("load limit")
    );
    assert_eq!(svc.counters().load_limited, 2);
}

#[test]
fn query_list_statistics_and_delete_report_the_call() {
    let mut svc = service(0);
    let mut fake = Fake::default();
    let now = Instant::now();
    let us: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let msg = |cookie: &str, m: Vec<u8>| {
        let s = String::from_utf8(m)
            .unwrap()
            .replacen("ck ", &format!("{cookie} "), 1);
        s.into_bytes()
    };
    svc.handle(
        &mut fake,
        now,
        us,
        &msg(
            "o",
            request("offer", &[("sdp", b(OFFER)), ("label", b("caller"))]),
        ),
    )
    .unwrap();
    svc.handle(
        &mut fake,
        now,
        us,
        &msg(
            "a",
            request("answer", &[("sdp", b(ANSWER)), ("to-tag", b("bob"))]),
        ),
    )
    .unwrap();
    let q = svc
        .handle(&mut fake, now, us, &msg("q", request("query", &[])))
        .unwrap();
    let d = reply_dict(&q);
    assert_eq!(d.get("result").and_then(Value::as_str), Some("ok"));
    let alice = d.get("tags").and_then(|t| t.get("alice")).unwrap();
    assert_eq!(alice.get("label").and_then(Value::as_str), Some("caller"));
    assert_eq!(
        alice.get("in dialogue with").and_then(Value::as_str),
        Some("bob")
    );
    let media = &alice.get("medias").and_then(Value::as_list).unwrap()[0];
    assert_eq!(
        media.get("protocol").and_then(Value::as_str),
        Some("RTP/AVP")
    );
    let stream = &media.get("streams").and_then(Value::as_list).unwrap()[0];
    assert_eq!(
        stream.get("local port").and_then(Value::as_int),
        Some(20_000)
    );
    let l = svc
        .handle(
            &mut fake,
            now,
            us,
            &msg("l", b"x d7:command4:liste".to_vec()),
        )
        .unwrap();
    let calls = reply_dict(&l);
    assert_eq!(
        calls.get("calls").and_then(Value::as_list).map(<[_]>::len),
        Some(1)
    );
    let st = svc
        .handle(&mut fake, now, us, b"s d7:command10:statisticse")
        .unwrap();
    let total = reply_dict(&st);
    let total = total
        .get("statistics")
        .and_then(|s| s.get("totalstatistics"))
        .unwrap();
    assert_eq!(total.get("relayedpackets").and_then(Value::as_int), Some(7));
    // The delete's reply waits for the relay's final statistics of the call (a retransmission
    // meanwhile is not acted on again), then carries them, as rtpengine's does.
    let delete = msg("d", request("delete", &[]));
    assert_eq!(svc.handle_via(&mut fake, now, us, 1, &delete), None);
    assert_eq!(svc.handle_via(&mut fake, now, us, 1, &delete), None);
    assert_eq!(fake.deleted, [SessionId(1)]);
    assert_eq!(svc.calls(), 0);
    let late = svc
        .closed(&mut fake, now, SessionId(1))
        .expect("the delete reply");
    assert_eq!((late.via, late.to), (1, us));
    assert!(late.reply.starts_with(b"d "));
    let deleted = reply_dict(&late.reply);
    let bob = deleted.get("tags").and_then(|t| t.get("bob")).unwrap();
    let media = &bob.get("medias").and_then(Value::as_list).unwrap()[0];
    let stream = &media.get("streams").and_then(Value::as_list).unwrap()[0];
    let packets = stream.get("stats").and_then(|s| s.get("packets"));
    assert_eq!(packets.and_then(Value::as_int), Some(42), "{deleted:?}");
    assert_eq!(
        svc.handle(&mut fake, now, us, &delete),
        Some(late.reply.clone()),
        "a later retransmission gets the same reply"
    );
    // Without the relay's statistics in time, the reply goes anyway.
    svc.handle(
        &mut fake,
        now,
        us,
        &msg("o2", request("offer", &[("sdp", b(OFFER))])),
    )
    .unwrap();
    assert_eq!(
        svc.handle(&mut fake, now, us, &msg("d4", request("delete", &[]))),
        None
    );
    assert!(svc
        .tick(&mut fake, now + Duration::from_millis(50))
        .is_empty());
    let late = svc.tick(&mut fake, now + Duration::from_millis(100));
    assert_eq!(late.len(), 1);
    assert!(reply_dict(&late[0].reply).get("tags").is_some());
    // Deleting again: a warning, or an error with `fatal`.
    let again = svc
        .handle(&mut fake, now, us, &msg("d2", request("delete", &[])))
        .unwrap();
    assert_eq!(
        reply_dict(&again).get("warning").and_then(Value::as_str),
        Some("Unknown call-id")
    );
    let fatal = svc
        .handle(
            &mut fake,
            now,
            us,
            &msg("d3", request("delete", &[("flags", list(&["fatal"]))])),
        )
        .unwrap();
    assert_eq!(
        reply_dict(&fatal).get("result").and_then(Value::as_str),
        Some("error")
    );
}
