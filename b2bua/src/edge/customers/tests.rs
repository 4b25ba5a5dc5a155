//! The front door end to end on virtual time: rate limit, throttle, digest, registrar, cache.

use super::*;
use crate::edge::registrar::KeepaliveKind;
use bytes::Bytes;
use sbc_common::digest::{self, AnswerParams, Challenge, Credentials};
use sbc_common::sip::{Contact, Limits};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);
const NOW: u64 = 1_800_000_000;

fn config(limits: &str) -> Config {
    let text = format!(
        r#"{}
[[realm]]
domain = "example.com"
mode = "local"
customer_expires_s = 300
keepalive_interval_s = 30
keepalive_failures = 2

[[realm]]
domain = "fwd.example.net"
mode = "forward"
registrar = "127.0.0.1:5090"
registrar_interface = "core"
auth_required = false

[[user]]
username = "alice"
realm = "example.com"
password = "wonderland"

[[user]]
username = "bob"
realm = "example.com"
password = "builder"

[auth]
secret = "0123456789abcdef0123456789abcdef"

[limits]
{limits}
"#,
        sbc_config::DEFAULT_TOML
    );
    Config::from_toml_str(&text, "test").unwrap()
}

fn customers(limits: &str) -> Customers {
    let cfg = config(limits);
    Customers::new(&cfg, b"0123456789abcdef0123456789abcdef", 42)
}

fn natted() -> Flow {
    Flow::udp("203.0.113.5:40000".parse().unwrap())
}

fn register(user: &str, domain: &str, cseq: u32, extra: &str) -> Message {
    let text = format!(
        "REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK{cseq};rport\r\nFrom: <sip:{user}@{domain}>;tag=f1\r\nTo: <sip:{user}@{domain}>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@10.0.0.2:5060>\r\nExpires: 3600\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text), &Limits::default()).unwrap()
}

fn respond(a: RegisterAction) -> Message {
    match a {
        RegisterAction::Respond(m) => m,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn answer(ch: &Message, user: &str, password: &str, method: &str, uri: &str) -> String {
    let name = if ch.status() == Some(401) {
        HeaderName::WwwAuthenticate
    } else {
        HeaderName::ProxyAuthenticate
    };
    let challenge = Challenge::parse(ch.values(&name).next().unwrap()).unwrap();
    Credentials::answer(
        &challenge,
        &AnswerParams {
            username: user,
            secret: digest::Secret::Password(password),
            method,
            uri,
            body: b"",
            cnonce: "abc",
            nc: 1,
        },
    )
    .unwrap()
    .to_header_value()
    .unwrap()
}

#[test]
fn local_realm_challenge_then_register_then_inbound_lookup_and_keepalive() {
    let t0 = Instant::now();
    let mut c = customers("");
    let ch =
        respond(c.handle_register(t0, NOW, &register("alice", "example.com", 1, ""), natted()));
    assert_eq!(ch.status(), Some(401));
    let creds = answer(&ch, "alice", "wonderland", "REGISTER", "sip:example.com");
    let ok = respond(c.handle_register(
        t0,
        NOW,
        &register(
            "alice",
            "example.com",
            2,
            &format!("Authorization: {creds}\r\n"),
        ),
        natted(),
    ));
    assert_eq!(ok.status(), Some(200));
    // Behind NAT (private Contact, Via differs): customer_expires_s (300) granted.
    let Some(Ok(Contact::Addr(a))) = ok.contacts().next() else {
        panic!("no contact")
    };
    assert_eq!(a.expires(), Some(300));
    // A call from the core to alice goes to her public flow with her Contact as Request-URI.
    let InboundRoute::Targets(groups) = c.route_inbound(t0, "sip:alice@EXAMPLE.com") else {
        panic!("not routed")
    };
    assert_eq!(
        groups,
        vec![vec![InboundTarget {
            aor: "sip:alice@example.com".into(),
            contact: "sip:alice@10.0.0.2:5060".into(),
            flow: natted()
        }]]
    );
    assert_eq!(
        c.route_inbound(t0, "sip:bob@example.com"),
        InboundRoute::NotRegistered
    );
    assert_eq!(
        c.route_inbound(t0, "sip:bob@elsewhere.example"),
        InboundRoute::Unknown
    );
    // Keepalives: OPTIONS at 30 s, answered; then unanswered at 60 and 90 s, so with
    // keepalive_failures = 2 the binding goes at 120 s.
    assert_eq!(c.poll_timeout(), Some(t0 + 30 * S));
    c.handle_timer(t0 + 30 * S);
    let Some(CustomersOutput::Registrar {
        realm,
        output:
            RegistrarOutput::Keepalive {
                binding,
                kind,
                flow,
                ..
            },
    }) = c.poll_output()
    else {
        panic!("keepalive expected")
    };
    assert_eq!(
        (realm.as_str(), kind, flow),
        ("example.com", KeepaliveKind::Options, natted())
    );
    c.handle_keepalive_answer(&realm, &KeepaliveRef::Binding(binding));
    for t in [60, 90] {
        c.handle_timer(t0 + t * S);
    }
    assert!(matches!(
        c.route_inbound(t0 + 90 * S, "sip:alice@example.com"),
        InboundRoute::Targets(_)
    ));
    c.handle_timer(t0 + 120 * S);
    let outs: Vec<_> = std::iter::from_fn(|| c.poll_output()).collect();
    assert!(outs.iter().any(|o| matches!(
        o,
        CustomersOutput::Registrar {
            output: RegistrarOutput::Removed {
                reason: crate::edge::registrar::RemovalReason::KeepaliveFailed,
                ..
            },
            ..
        }
    )));
    assert_eq!(
        c.route_inbound(t0 + 120 * S, "sip:alice@example.com"),
        InboundRoute::NotRegistered
    );
}

#[test]
fn a_user_may_only_register_its_own_aor() {
    let t0 = Instant::now();
    let mut c = customers("");
    let ch =
        respond(c.handle_register(t0, NOW, &register("alice", "example.com", 1, ""), natted()));
    // bob's valid credentials on alice's AOR.
    let creds = answer(&ch, "bob", "builder", "REGISTER", "sip:example.com");
    let rsp = respond(c.handle_register(
        t0,
        NOW,
        &register(
            "alice",
            "example.com",
            2,
            &format!("Authorization: {creds}\r\n"),
        ),
        natted(),
    ));
    assert_eq!(rsp.status(), Some(403));
    assert_eq!(c.counters().forbidden_aor, 1);
    assert_eq!(c.registrar("example.com").unwrap().binding_count(), 0);
    // Unknown domains are not served: 403 with a reason, not 404 or 501.
    let rsp = respond(c.handle_register(t0, NOW, &register("x", "other.example", 1, ""), natted()));
    assert_eq!(rsp.status(), Some(403));
    assert_eq!(rsp.reason(), Some("Domain Not Served"));
}

#[test]
fn guessing_passwords_backs_off_then_blocks_with_403() {
    let t0 = Instant::now();
    let mut c = customers("auth_fail_max = 3\nauth_fail_window_s = 60\nauth_block_s = 300\n");
    let ch =
        respond(c.handle_register(t0, NOW, &register("alice", "example.com", 1, ""), natted()));
    let wrong = answer(&ch, "alice", "guess", "REGISTER", "sip:example.com");
    let req = register(
        "alice",
        "example.com",
        2,
        &format!("Authorization: {wrong}\r\n"),
    );
    // First failure: a new challenge (401), and a 1 s back-off starts.
    assert_eq!(
        respond(c.handle_register(t0, NOW, &req, natted())).status(),
        Some(401)
    );
    let rsp = respond(c.handle_register(t0, NOW, &req, natted()));
    assert_eq!(rsp.status(), Some(503));
    assert_eq!(rsp.header(&HeaderName::RetryAfter), Some("1"));
    // Second failure after the back-off: 2 s back-off.
    assert_eq!(
        respond(c.handle_register(t0 + S, NOW, &req, natted())).status(),
        Some(401)
    );
    let rsp = respond(c.handle_register(t0 + 2 * S, NOW, &req, natted()));
    assert_eq!(rsp.header(&HeaderName::RetryAfter), Some("1"));
    // Third failure: blocked, 403 for 300 s, even with the right password.
    assert_eq!(
        respond(c.handle_register(t0 + 3 * S, NOW, &req, natted())).status(),
        Some(401)
    );
    let right = answer(&ch, "alice", "wonderland", "REGISTER", "sip:example.com");
    let good = register(
        "alice",
        "example.com",
        3,
        &format!("Authorization: {right}\r\n"),
    );
    assert_eq!(
        respond(c.handle_register(t0 + 4 * S, NOW, &good, natted())).status(),
        Some(403)
    );
    assert_eq!(
        respond(c.handle_register(t0 + 302 * S, NOW, &good, natted())).status(),
        Some(403)
    );
    assert_eq!(
        respond(c.handle_register(t0 + 303 * S, NOW, &good, natted())).status(),
        Some(200)
    );
    assert_eq!(c.auth_throttle().failures(), 3);
}

#[test]
fn unknown_users_are_throttled_like_known_ones() {
    let t0 = Instant::now();
    let mut c = customers("auth_fail_max = 2\n");
    let ch = respond(c.handle_register(
        t0,
        NOW,
        &register("mallory", "example.com", 1, ""),
        natted(),
    ));
    let creds = answer(&ch, "mallory", "x", "REGISTER", "sip:example.com");
    let req = register(
        "mallory",
        "example.com",
        2,
        &format!("Authorization: {creds}\r\n"),
    );
    assert_eq!(
        respond(c.handle_register(t0, NOW, &req, natted())).status(),
        Some(401)
    );
    assert_eq!(
        respond(c.handle_register(t0 + S, NOW, &req, natted())).status(),
        Some(401)
    );
    assert_eq!(
        respond(c.handle_register(t0 + 2 * S, NOW, &req, natted())).status(),
        Some(403)
    );
}

#[test]
fn source_rate_limit_drops_udp_and_answers_503_on_tcp() {
    let t0 = Instant::now();
    let mut c = customers("source_rate_per_s = 2\nsource_burst = 2\n");
    let req = register("alice", "example.com", 1, "");
    for _ in 0..2 {
        assert!(c.rate_limit(t0, &req, &natted()).is_none());
    }
    assert!(matches!(
        c.rate_limit(t0, &req, &natted()),
        Some(Admission::Drop)
    ));
    let tcp = Flow::tcp("203.0.113.5:40000".parse().unwrap(), 1);
    let Some(Admission::Respond(rsp)) = c.rate_limit(t0, &req, &tcp) else {
        panic!("503 expected on TCP")
    };
    assert_eq!(rsp.status(), Some(503));
    assert_eq!(rsp.header(&HeaderName::RetryAfter), Some("1"));
    assert_eq!(c.counters().rate_limited, 2);
    assert_eq!(c.rate_limiter().exceeded(), 2);
    // Half a second later one more fits; the REGISTER itself is not charged again.
    assert!(c
        .rate_limit(t0 + Duration::from_millis(500), &req, &natted())
        .is_none());
    assert!(matches!(
        c.handle_register(t0 + Duration::from_millis(500), NOW, &req, natted()),
        RegisterAction::Respond(_)
    ));
}

#[test]
fn forward_realm_goes_to_the_core_and_inbound_finds_the_customer() {
    let t0 = Instant::now();
    let mut c = customers("");
    let RegisterAction::Forward {
        request,
        registrar,
        transport,
        interface,
    } = c.handle_register(
        t0,
        NOW,
        &register("carol", "fwd.example.net", 1, ""),
        natted(),
    )
    else {
        panic!("not forwarded")
    };
    assert_eq!(registrar, "127.0.0.1:5090".parse().unwrap());
    assert_eq!(transport, Transport::Udp);
    assert_eq!(interface.as_deref(), Some("core"));
    let contact = request.header(&HeaderName::Contact).unwrap().to_owned();
    // The binding address is on the core interface's UDP listen address (127.0.0.1:5080).
    assert!(
        contact.contains("@127.0.0.1:5080>;expires=3600"),
        "{contact}"
    );
    let uri = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let core_ok = Message::parse(
        Bytes::from(format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx\r\nFrom: <sip:carol@fwd.example.net>;tag=f1\r\nTo: <sip:carol@fwd.example.net>;tag=c\r\nCall-ID: reg-carol\r\nCSeq: 1 REGISTER\r\nContact: <{uri}>;expires=3600\r\nContent-Length: 0\r\n\r\n"
        )),
        &Limits::default(),
    )
    .unwrap();
    let rsp = c.handle_core_response(t0, &core_ok).unwrap();
    assert_eq!(rsp.status(), Some(200));
    assert_eq!(
        c.route_inbound(t0 + S, &uri),
        InboundRoute::Targets(vec![vec![InboundTarget {
            aor: "sip:carol@fwd.example.net".into(),
            contact: "sip:carol@10.0.0.2:5060".into(),
            flow: natted()
        }]])
    );
    assert!(matches!(
        c.route_inbound(t0 + S, "sip:carol@fwd.example.net"),
        InboundRoute::Targets(_)
    ));
    assert_eq!(c.cache("fwd.example.net").unwrap().len(), 1);
}

#[test]
fn invites_get_407_then_proceed() {
    let t0 = Instant::now();
    let mut c = customers("");
    let invite = |extra: &str| {
        Message::parse(
            Bytes::from(format!(
                "INVITE sip:+15551234@core.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKi\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:+15551234@core.example>\r\nCall-ID: inv\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
            )),
            &Limits::default(),
        )
        .unwrap()
    };
    let Admission::Respond(ch) = c.admit(t0, NOW, &invite(""), natted()) else {
        panic!("no challenge")
    };
    assert_eq!(ch.status(), Some(407));
    let creds = answer(
        &ch,
        "alice",
        "wonderland",
        "INVITE",
        "sip:+15551234@core.example",
    );
    assert_eq!(
        c.admit(
            t0,
            NOW,
            &invite(&format!("Proxy-Authorization: {creds}\r\n")),
            natted()
        ),
        Admission::Proceed {
            username: Some("alice".into())
        }
    );
    // A realm without auth_required proceeds without credentials; unknown domains are refused.
    let from_fwd = Message::parse(
        Bytes::from_static(b"MESSAGE sip:x@core.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKm\r\nFrom: <sip:carol@fwd.example.net>;tag=1\r\nTo: <sip:x@core.example>\r\nCall-ID: m\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        c.admit(t0, NOW, &from_fwd, natted()),
        Admission::Proceed { username: None }
    );
}

#[test]
fn reload_keeps_unchanged_realms_bindings_applies_new_passwords_and_drops_changed_realms() {
    let t0 = Instant::now();
    let secret = b"0123456789abcdef0123456789abcdef";
    let mut c = customers("");
    let ch =
        respond(c.handle_register(t0, NOW, &register("alice", "example.com", 1, ""), natted()));
    let creds = answer(&ch, "alice", "wonderland", "REGISTER", "sip:example.com");
    let ok = respond(c.handle_register(
        t0,
        NOW,
        &register(
            "alice",
            "example.com",
            2,
            &format!("Authorization: {creds}\r\n"),
        ),
        natted(),
    ));
    assert_eq!(ok.status(), Some(200));
    assert_eq!(c.registrations(t0).len(), 1);

    // Same realms, alice's password changed: the binding stays, the new password applies.
    let mut cfg = config("");
    if let Some(u) = cfg.users.iter_mut().find(|u| u.username == "alice") {
        u.password = Some(sbc_config::Secret::new("looking-glass"));
    }
    assert!(c.reload(&cfg, secret, 7, false).is_empty());
    assert_eq!(c.registrations(t0).len(), 1);
    let ch =
        respond(c.handle_register(t0, NOW, &register("alice", "example.com", 3, ""), natted()));
    let old = answer(&ch, "alice", "wonderland", "REGISTER", "sip:example.com");
    let refused = respond(c.handle_register(
        t0,
        NOW,
        &register(
            "alice",
            "example.com",
            4,
            &format!("Authorization: {old}\r\n"),
        ),
        natted(),
    ));
    assert_eq!(
        refused.status(),
        Some(401),
        "the old password no longer works"
    );

    // The realm's settings change: its bindings are dropped and reported.
    cfg.realms[0].customer_expires_s = 120;
    assert_eq!(
        c.reload(&cfg, secret, 8, false),
        vec!["example.com".to_owned()]
    );
    assert!(c.registrations(t0).is_empty());
}

#[test]
fn a_closed_connection_removes_forward_mode_bindings_made_over_it() {
    let t0 = Instant::now();
    let mut c = customers("");
    let flow = Flow::tcp("203.0.113.9:41000".parse().unwrap(), 77);
    let RegisterAction::Forward { request, .. } =
        c.handle_register(t0, NOW, &register("carol", "fwd.example.net", 1, ""), flow)
    else {
        panic!("not forwarded")
    };
    let contact = request.header(&HeaderName::Contact).unwrap().to_owned();
    let uri = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let core_ok = Message::parse(
        Bytes::from(format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx\r\nFrom: <sip:carol@fwd.example.net>;tag=f1\r\nTo: <sip:carol@fwd.example.net>;tag=c\r\nCall-ID: reg-carol\r\nCSeq: 1 REGISTER\r\nContact: <{uri}>;expires=3600\r\nContent-Length: 0\r\n\r\n"
        )),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        c.handle_core_response(t0, &core_ok)
            .and_then(|m| m.status()),
        Some(200)
    );
    assert_eq!(c.registrations(t0).len(), 1);
    // Another connection closing changes nothing; this one removes the binding.
    c.handle_flow_closed(78);
    assert_eq!(c.registrations(t0).len(), 1);
    c.handle_flow_closed(77);
    assert!(c.registrations(t0).is_empty());
    assert!(!matches!(
        c.route_inbound(t0, &uri),
        InboundRoute::Targets(_)
    ));
    assert_eq!(
        c.route_inbound(t0, "sip:carol@fwd.example.net"),
        InboundRoute::NotRegistered
    );
}

#[test]
fn the_timer_sweeps_idle_rate_entries_at_most_every_ten_seconds() {
    let t0 = Instant::now();
    let mut c = customers("source_rate_per_s = 2\nsource_burst = 2\n");
    let req = register("alice", "example.com", 1, "");
    let from = |i: u8| Flow::udp(SocketAddr::from(([203, 0, 113, i], 5060)));
    c.rate_limit(t0, &req, &from(1));
    c.handle_timer(t0 + 5 * S);
    assert_eq!(
        c.rate_limiter().tracked(),
        0,
        "the first tick sweeps (bucket full again)"
    );
    // The timer runs at every binding's keepalive: ticks in between do not walk the table.
    c.rate_limit(t0 + 6 * S, &req, &from(2));
    c.handle_timer(t0 + 10 * S);
    c.handle_timer(t0 + 14 * S);
    assert_eq!(
        c.rate_limiter().tracked(),
        1,
        "no sweep before 10 s have passed"
    );
    c.handle_timer(t0 + 15 * S);
    assert_eq!(c.rate_limiter().tracked(), 0);
}
