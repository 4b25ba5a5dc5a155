//! Dialog tests on virtual time, messages written as text and parsed (RFC 3261 §12, §13, §15).

use super::*;
use crate::stack::transaction::{TimerConfig, Transport};
use bytes::Bytes;
use sbc_common::sip::{HeaderName, Limits, Method};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn t0() -> Instant {
    Instant::now()
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn parse(text: &str) -> Message {
    let wire = text.replace("\r\n", "\n").replace('\n', "\r\n");
    Message::parse(Bytes::from(wire), &Limits::default()).expect("test message parses")
}

fn udp(last: u8) -> Dest {
    Dest::new(SocketAddr::from(([192, 0, 2, last], 5060)), Transport::Udp)
}

fn drain(layer: &mut DialogLayer) -> Vec<DialogOutput> {
    std::iter::from_fn(|| layer.poll_output()).collect()
}

fn events(outs: &[DialogOutput]) -> Vec<DialogEvent> {
    outs.iter()
        .filter_map(|o| match o {
            DialogOutput::Event { event, .. } => Some(event.clone()),
            DialogOutput::Send { .. } => None,
        })
        .collect()
}

fn sends(outs: &[DialogOutput]) -> Vec<(Message, Dest)> {
    outs.iter()
        .filter_map(|o| match o {
            DialogOutput::Send { bytes, dest } => Some((
                Message::parse(bytes.clone(), &Limits::default()).expect("sent message parses"),
                *dest,
            )),
            DialogOutput::Event { .. } => None,
        })
        .collect()
}

fn routes(msg: &Message) -> Vec<String> {
    msg.values(&HeaderName::Route).map(str::to_owned).collect()
}

// ---- UAS side: the SBC answers Alice's INVITE (RFC 3261 §12.1.1) ----

const ALICE_CALL_ID: &str = "a84b4c76e66710@pc33.atlanta.example.com";

/// An INVITE (or other method) from Alice through proxies p1 (nearest the SBC) and p0.
fn alice_request(method: &str, cseq: u32, to_tag: Option<&str>, contact: &str) -> Message {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    parse(&format!(
        "{method} sip:bob@sbc.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1{cseq}\n\
         Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKa{cseq}\n\
         Max-Forwards: 69\n\
         Record-Route: <sip:p1.example.com;lr>\n\
         Record-Route: <sip:p0.example.com;lr>\n\
         To: Bob <sip:bob@biloxi.example.com>{to_tag}\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n\
         Call-ID: {ALICE_CALL_ID}\n\
         CSeq: {cseq} {method}\n\
         Contact: <{contact}>\n\
         Content-Length: 0\n\n"
    ))
}

const ALICE_CONTACT: &str = "sip:alice@pc33.atlanta.example.com";

fn alice_invite() -> Message {
    alice_request("INVITE", 314_159, None, ALICE_CONTACT)
}

/// The SBC's UAS dialog for Alice's INVITE answered with `status`; local CSeq starts at 1000.
fn uas_dialog(status: u16) -> Dialog {
    Dialog::uas_from_request(
        &alice_invite(),
        "sbc1",
        "<sip:sbc@192.0.2.1:5060>",
        1000,
        udp(10),
        status,
    )
    .expect("dialog-creating INVITE")
}

fn alice_in_dialog(method: &str, cseq: u32) -> Message {
    alice_request(method, cseq, Some("sbc1"), ALICE_CONTACT)
}

#[test]
fn uas_dialog_from_invite_keeps_record_route_order() {
    let d = uas_dialog(200);
    assert_eq!(
        d.id(),
        &DialogId {
            call_id: ALICE_CALL_ID.into(),
            local_tag: "sbc1".into(),
            remote_tag: "1928301774".into(),
        }
    );
    assert_eq!(d.role(), Role::Uas);
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(
        d.route_set().entries(),
        ["<sip:p1.example.com;lr>", "<sip:p0.example.com;lr>"]
    );
    assert_eq!(d.remote_target(), ALICE_CONTACT);
    assert_eq!(d.remote_cseq(), Some(314_159));
    assert_eq!(d.local_cseq(), 1000);
    assert_eq!(d.local_party(), "Bob <sip:bob@biloxi.example.com>;tag=sbc1");
    assert_eq!(
        d.remote_party(),
        "Alice <sip:alice@atlanta.example.com>;tag=1928301774"
    );
    assert!(!d.is_secure());
    assert_eq!(d.next_hop_uri(), "sip:p1.example.com;lr");
    assert_eq!(uas_dialog(180).state(), DialogState::Early);
}

#[test]
fn uas_creation_refuses_bad_input() {
    let inv = alice_invite();
    let mk = |req: &Message, status| {
        Dialog::uas_from_request(req, "sbc1", "<sip:sbc@192.0.2.1>", 1, udp(10), status)
    };
    assert!(matches!(
        mk(&inv, 100),
        Err(DialogError::NotDialogCreating(_))
    ));
    assert!(matches!(
        mk(&inv, 486),
        Err(DialogError::NotDialogCreating(_))
    ));
    let tagged = alice_in_dialog("INVITE", 5);
    assert!(matches!(
        mk(&tagged, 200),
        Err(DialogError::NotDialogCreating(_))
    ));
    let options = alice_request("OPTIONS", 5, None, ALICE_CONTACT);
    assert!(matches!(
        mk(&options, 200),
        Err(DialogError::NotDialogCreating(_))
    ));
}

#[test]
fn uas_bye_is_a_full_in_dialog_request_with_loose_routes() {
    let mut d = uas_dialog(200);
    let bye = d
        .new_request(
            Method::Bye,
            Some("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbye1"),
        )
        .expect("BYE");
    let expected = parse(&format!(
        "BYE sip:alice@pc33.atlanta.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbye1\n\
         Max-Forwards: 70\n\
         Route: <sip:p1.example.com;lr>\n\
         Route: <sip:p0.example.com;lr>\n\
         To: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n\
         From: Bob <sip:bob@biloxi.example.com>;tag=sbc1\n\
         Call-ID: {ALICE_CALL_ID}\n\
         CSeq: 1001 BYE\n\
         Content-Length: 0\n\n"
    ));
    assert_eq!(bye, expected);
    assert_eq!(d.state(), DialogState::Terminated);
    assert_eq!(d.terminate_reason(), Some(TerminateReason::ByeSent));
    assert_eq!(
        d.new_request(Method::Info, None),
        Err(DialogError::Terminated)
    );
}

#[test]
fn uas_response_carries_tag_record_route_and_contact() {
    let d = uas_dialog(200);
    let rsp = d.response(&alice_invite(), 200, "");
    assert_eq!(rsp.to().and_then(|t| t.tag()), Some("sbc1"));
    assert_eq!(
        rsp.values(&HeaderName::RecordRoute).collect::<Vec<_>>(),
        ["<sip:p1.example.com;lr>", "<sip:p0.example.com;lr>"]
    );
    assert_eq!(
        rsp.header(&HeaderName::Contact),
        Some("<sip:sbc@192.0.2.1:5060>")
    );
    // The message survives a round trip with Content-Length last.
    assert_eq!(parse(&String::from_utf8_lossy(&rsp.to_bytes())), rsp);
    let busy = d.response(&alice_invite(), 486, "");
    assert!(!busy.has(&HeaderName::Contact));
}

// ---- UAC side: the SBC calls Bob (RFC 3261 §12.1.2) ----

const SBC_CALL_ID: &str = "b2b-1@sbc.example.com";
const BOB_CONTACT: &str = "sip:bob@192.0.2.4";

fn sbc_invite() -> Message {
    parse(&format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsbc1\n\
         Max-Forwards: 70\n\
         To: Bob <sip:bob@biloxi.example.com>\n\
         From: SBC <sip:sbc@sbc.example.com>;tag=sbctag\n\
         Call-ID: {SBC_CALL_ID}\n\
         CSeq: 7 INVITE\n\
         Contact: <sip:sbc@192.0.2.1:5060>\n\
         Content-Length: 0\n\n"
    ))
}

/// A response from Bob's side to a request of ours with CSeq `cseq method`; `extra` lines go
/// before Content-Length.
fn bob_response(code: u16, tag: &str, cseq: &str, extra: &str) -> Message {
    parse(&format!(
        "SIP/2.0 {code} Whatever\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsbc1\n\
         To: Bob <sip:bob@biloxi.example.com>;tag={tag}\n\
         From: SBC <sip:sbc@sbc.example.com>;tag=sbctag\n\
         Call-ID: {SBC_CALL_ID}\n\
         CSeq: {cseq}\n\
         {extra}Content-Length: 0\n\n"
    ))
}

/// Record-Route as Bob's response carries it: p2 nearest Bob first, p1 nearest us last.
const BOB_RR: &str = "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\n";

fn bob_200(tag: &str) -> Message {
    bob_response(
        200,
        tag,
        "7 INVITE",
        &format!("{BOB_RR}Contact: <{BOB_CONTACT}>\n"),
    )
}

fn uac_dialog() -> Dialog {
    Dialog::uac_from_response(&sbc_invite(), &bob_200("bob1"), udp(20)).expect("2xx creates")
}

#[test]
fn uac_dialog_from_2xx_reverses_record_route() {
    let d = uac_dialog();
    assert_eq!(d.role(), Role::Uac);
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(
        d.id(),
        &DialogId {
            call_id: SBC_CALL_ID.into(),
            local_tag: "sbctag".into(),
            remote_tag: "bob1".into(),
        }
    );
    assert_eq!(
        d.route_set().entries(),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(d.remote_target(), BOB_CONTACT);
    assert_eq!(d.local_cseq(), 7);
    assert_eq!(d.remote_cseq(), None);
    assert_eq!(d.local_contact(), "<sip:sbc@192.0.2.1:5060>");
    assert_eq!(d.peer(), udp(20));
}

#[test]
fn uac_creation_needs_a_to_tag_and_a_matching_cseq() {
    let no_tag = parse(&format!(
        "SIP/2.0 180 Ringing\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsbc1\n\
         To: Bob <sip:bob@biloxi.example.com>\n\
         From: SBC <sip:sbc@sbc.example.com>;tag=sbctag\n\
         Call-ID: {SBC_CALL_ID}\n\
         CSeq: 7 INVITE\n\
         Content-Length: 0\n\n"
    ));
    assert!(matches!(
        Dialog::uac_from_response(&sbc_invite(), &no_tag, udp(20)),
        Err(DialogError::NotDialogCreating(_))
    ));
    let other_cseq = bob_response(200, "b", "8 INVITE", "");
    assert!(matches!(
        Dialog::uac_from_response(&sbc_invite(), &other_cseq, udp(20)),
        Err(DialogError::Malformed(_))
    ));
}

#[test]
fn uac_requests_use_loose_routes_and_increment_cseq() {
    let mut d = uac_dialog();
    let info = d.new_request(Method::Info, None).expect("INFO");
    assert_eq!(info.uri(), Some(BOB_CONTACT));
    assert_eq!(
        routes(&info),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(info.header(&HeaderName::CSeq), Some("8 INFO"));
    assert!(!info.has(&HeaderName::Contact), "INFO is no target refresh");
    assert!(!info.has(&HeaderName::Via), "the caller adds the Via");
    assert_eq!(info.max_forwards(), Some(70));
    let reinvite = d.new_request(Method::Invite, None).expect("re-INVITE");
    assert_eq!(reinvite.header(&HeaderName::CSeq), Some("9 INVITE"));
    assert_eq!(
        reinvite.header(&HeaderName::Contact),
        Some("<sip:sbc@192.0.2.1:5060>")
    );
    assert_eq!(
        reinvite.header(&HeaderName::From),
        Some("SBC <sip:sbc@sbc.example.com>;tag=sbctag")
    );
    assert_eq!(
        reinvite.header(&HeaderName::To),
        Some("Bob <sip:bob@biloxi.example.com>;tag=bob1")
    );
    assert_eq!(d.local_cseq(), 9);
    assert!(matches!(
        d.new_request(Method::Ack, None),
        Err(DialogError::NotAllowed(_))
    ));
}

#[test]
fn strict_router_first_goes_to_request_uri_and_target_to_last_route() {
    let rsp = bob_response(
        200,
        "bob1",
        "7 INVITE",
        &format!(
            "Record-Route: <sip:p2.example.com;lr>\n\
             Record-Route: <sip:strict.example.com;method=INVITE;transport=udp?X-H=1>\n\
             Contact: <{BOB_CONTACT}>\n"
        ),
    );
    let mut d = Dialog::uac_from_response(&sbc_invite(), &rsp, udp(20)).expect("creates");
    assert!(d.route_set().first_is_strict());
    let bye = d.new_request(Method::Bye, None).expect("BYE");
    assert_eq!(bye.uri(), Some("sip:strict.example.com;transport=udp"));
    assert_eq!(
        routes(&bye),
        ["<sip:p2.example.com;lr>", "<sip:bob@192.0.2.4>"]
    );
}

#[test]
fn empty_route_set_sends_to_the_target_without_route() {
    let rsp = bob_response(200, "b", "7 INVITE", &format!("Contact: <{BOB_CONTACT}>\n"));
    let mut d = Dialog::uac_from_response(&sbc_invite(), &rsp, udp(20)).expect("creates");
    let bye = d.new_request(Method::Bye, None).expect("BYE");
    assert_eq!(bye.uri(), Some(BOB_CONTACT));
    assert!(!bye.has(&HeaderName::Route));
    assert_eq!(d.next_hop_uri(), BOB_CONTACT);
    assert_eq!(literal_dest(d.next_hop_uri()), Some(udp(4)));
}

#[test]
fn literal_dest_reads_ip_port_and_transport() {
    let tcp = literal_dest("sip:192.0.2.7:5080;transport=TCP;lr").expect("IP literal");
    assert_eq!(tcp.addr, SocketAddr::from(([192, 0, 2, 7], 5080)));
    assert_eq!(tcp.transport, Transport::Tcp);
    let tls = literal_dest("sips:[2001:db8::1]").expect("IPv6 literal");
    assert_eq!(tls.addr.port(), 5061);
    assert_eq!(tls.transport, Transport::Tls);
    assert_eq!(literal_dest("sip:p1.example.com;lr"), None);
}

// ---- Receiving in-dialog requests (RFC 3261 §12.2.2) ----

#[test]
fn remote_cseq_must_grow_or_500() {
    let mut d = uas_dialog(200);
    let mut out = Vec::new();
    for seq in [314_158, 314_159] {
        let verdict = d.on_request(&alice_in_dialog("INFO", seq), &mut out);
        assert_eq!(
            verdict,
            RequestVerdict::Reject {
                status: 500,
                reason: "CSeq Out Of Order",
                retry_after: false
            },
            "CSeq {seq}"
        );
        let rsp = verdict
            .response(&alice_in_dialog("INFO", seq), 0)
            .expect("reject");
        assert_eq!(rsp.status(), Some(500));
        assert!(!rsp.has(&HeaderName::RetryAfter));
    }
    assert_eq!(d.remote_cseq(), Some(314_159));
    assert_eq!(
        d.on_request(&alice_in_dialog("INFO", 314_200), &mut out),
        RequestVerdict::Accept
    );
    assert_eq!(d.remote_cseq(), Some(314_200));
    assert!(out.is_empty());
}

#[test]
fn uac_dialog_accepts_any_first_remote_cseq() {
    let mut d = uac_dialog();
    let mut out = Vec::new();
    let info = parse(&format!(
        "INFO sip:sbc@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb1\n\
         To: SBC <sip:sbc@sbc.example.com>;tag=sbctag\n\
         From: Bob <sip:bob@biloxi.example.com>;tag=bob1\n\
         Call-ID: {SBC_CALL_ID}\n\
         CSeq: 1 INFO\n\
         Content-Length: 0\n\n"
    ));
    assert_eq!(d.on_request(&info, &mut out), RequestVerdict::Accept);
    assert_eq!(d.remote_cseq(), Some(1));
}

#[test]
fn reinvite_refreshes_target_and_overlapping_invites_are_refused() {
    let mut d = uas_dialog(180);
    let mut out = Vec::new();
    // Our 2xx to the first INVITE has not gone yet: a second INVITE gets 500 + Retry-After.
    let early = alice_request("INVITE", 314_160, Some("sbc1"), "sip:alice@192.0.2.99");
    let verdict = d.on_request(&early, &mut out);
    assert_eq!(
        verdict,
        RequestVerdict::Reject {
            status: 500,
            reason: "Previous INVITE Pending",
            retry_after: true
        }
    );
    let rsp = verdict.response(&early, 7).expect("reject");
    assert_eq!(rsp.header(&HeaderName::RetryAfter), Some("7"));
    assert_eq!(d.remote_target(), ALICE_CONTACT);

    d.on_response_sent(
        t0(),
        &d.response(&alice_invite(), 200, ""),
        TimerConfig::default(),
        &mut out,
    );
    assert_eq!(events(&out), [DialogEvent::Confirmed]);
    out.clear();
    let reinvite = alice_request("INVITE", 314_161, Some("sbc1"), "sip:alice@192.0.2.99");
    assert_eq!(d.on_request(&reinvite, &mut out), RequestVerdict::Accept);
    assert_eq!(d.remote_target(), "sip:alice@192.0.2.99");
    assert_eq!(
        events(&out),
        [DialogEvent::TargetRefreshed {
            target: "sip:alice@192.0.2.99".into()
        }]
    );
    // A BYE to the new target uses it as Request-URI.
    let bye = d.new_request(Method::Bye, None).expect("BYE");
    assert_eq!(bye.uri(), Some("sip:alice@192.0.2.99"));
}

#[test]
fn glare_gets_491() {
    let mut d = uac_dialog();
    let mut out = Vec::new();
    d.new_request(Method::Invite, None).expect("re-INVITE");
    let theirs = parse(&format!(
        "INVITE sip:sbc@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb2\n\
         To: SBC <sip:sbc@sbc.example.com>;tag=sbctag\n\
         From: Bob <sip:bob@biloxi.example.com>;tag=bob1\n\
         Call-ID: {SBC_CALL_ID}\n\
         CSeq: 100 INVITE\n\
         Contact: <{BOB_CONTACT}>\n\
         Content-Length: 0\n\n"
    ));
    assert!(matches!(
        d.on_request(&theirs, &mut out),
        RequestVerdict::Reject { status: 491, .. }
    ));
    // Once our re-INVITE is answered, theirs goes through.
    d.on_response(&bob_response(491, "bob1", "8 INVITE", ""), &mut out);
    let mut again = theirs.clone();
    again.set_header(HeaderName::CSeq, "101 INVITE");
    assert_eq!(d.on_request(&again, &mut out), RequestVerdict::Accept);
}

#[test]
fn reinvite_2xx_refreshes_target_only_for_the_latest_refresh() {
    let mut d = uac_dialog();
    let mut out = Vec::new();
    d.new_request(Method::Invite, None).expect("re-INVITE 8");
    d.new_request(Method::Update, None).expect("UPDATE 9");
    // The 2xx to the older re-INVITE does not move the target (the UPDATE is newer).
    d.on_response(
        &bob_response(200, "bob1", "8 INVITE", "Contact: <sip:bob@192.0.2.50>\n"),
        &mut out,
    );
    assert_eq!(d.remote_target(), BOB_CONTACT);
    assert_eq!(events(&out), [DialogEvent::AckNeeded { cseq: 8 }]);
    out.clear();
    d.on_response(
        &bob_response(200, "bob1", "9 UPDATE", "Contact: <sip:bob@192.0.2.51>\n"),
        &mut out,
    );
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.51");
    assert_eq!(
        events(&out),
        [DialogEvent::TargetRefreshed {
            target: "sip:bob@192.0.2.51".into()
        }]
    );
}

#[test]
fn in_dialog_481_or_408_ends_the_dialog() {
    for code in [481, 408] {
        let mut d = uac_dialog();
        let mut out = Vec::new();
        d.new_request(Method::Info, None).expect("INFO");
        d.on_response(&bob_response(code, "bob1", "8 INFO", ""), &mut out);
        assert_eq!(d.terminate_reason(), Some(TerminateReason::Gone));
    }
    let mut d = uac_dialog();
    let mut out = Vec::new();
    d.new_request(Method::Invite, None).expect("re-INVITE");
    d.on_response(&bob_response(488, "bob1", "8 INVITE", ""), &mut out);
    assert_eq!(
        d.state(),
        DialogState::Confirmed,
        "a failed re-INVITE keeps the dialog"
    );
}

#[test]
fn a_borrowed_key_hashes_and_compares_as_the_id_with_the_same_text() {
    use std::hash::BuildHasher;
    let id = DialogId {
        call_id: "c1@example.com".into(),
        local_tag: "ours".into(),
        remote_tag: "theirs".into(),
    };
    let key = DialogKey {
        call_id: "c1@example.com",
        local_tag: "ours",
        remote_tag: "theirs",
    };
    let state = foldhash::quality::RandomState::default();
    assert_eq!(state.hash_one(&id), state.hash_one(key));
    assert_eq!(id.key(), key);
    assert_eq!(key.to_id(), id);
    assert!(hashbrown::Equivalent::equivalent(&key, &id));
    // The same text split differently is another dialog.
    let shifted = DialogKey {
        call_id: "c1@example.com",
        local_tag: "our",
        remote_tag: "stheirs",
    };
    assert!(!hashbrown::Equivalent::equivalent(&shifted, &id));
    assert_ne!(state.hash_one(&id), state.hash_one(shifted));
}

mod layer;
