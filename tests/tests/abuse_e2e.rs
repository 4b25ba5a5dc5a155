//! Authentication throttling through a real NAT: the real `sbc` in its own network namespace
//! and two customers on a private LAN behind a masquerading NAT (see `sbc_tests::netns`), so
//! both reach the SBC from the same public address, as an office or a carrier-grade NAT does.
//! Needs root, `ip`, `nft` and `conntrack`; without them these tests fail when `CI` is set and
//! skip loudly otherwise.

use bytes::Bytes;
use sbc_common::sip::{HeaderName, Message, Method};
use sbc_tests::config::SbcConfig;
use sbc_tests::netns::{customer_ip, topology_or_skip, Topology, SBC_CORE_IP, SBC_CUSTOMER_IP};
use sbc_tests::{digest_authorization, http_get, metric_value, Sbc, TestUa};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn sbc_a() -> SocketAddr {
    SocketAddr::new(SBC_CUSTOMER_IP.into(), 5060)
}

/// The SBC with a local realm `example.com` (alice and bob, digest required) and `limits`
/// lines under `[limits]`; the admin listener on the SBC namespace's loopback.
fn start(topo: &Topology, limits: &str) -> (Sbc, SocketAddr) {
    let core = SocketAddr::new(SBC_CORE_IP.into(), 5060);
    let mut c = SbcConfig::new(sbc_a(), core, 46000..=46999, 47000..=47999);
    c.admin = "127.0.0.1:9099".parse().unwrap();
    c.extra = format!(
        "[[realm]]\ndomain = \"example.com\"\nmode = \"local\"\nauth_required = true\n\n\
         [[user]]\nusername = \"alice\"\nrealm = \"example.com\"\npassword = \"wonderland\"\n\n\
         [[user]]\nusername = \"bob\"\nrealm = \"example.com\"\npassword = \"builder\"\n\n\
         [limits]\n{limits}\n"
    );
    let mut sbc = Sbc::start_in_netns(topo, topo.sbc(), &c.render());
    assert!(
        sbc.wait_log("ready; SIGHUP", Duration::from_secs(10)),
        "sbc did not start: {}",
        std::fs::read_to_string(&sbc.log).unwrap_or_default()
    );
    (sbc, c.admin)
}

/// A REGISTER for `user` from `ua` (its private address in Via and Contact).
fn register(ua: &TestUa, user: &str, seq: u32) -> Message {
    let mut m = Message::request(Method::Register, "sip:example.com");
    m.push_header(
        HeaderName::Via,
        format!(
            "SIP/2.0/UDP {};branch=z9hG4bKab{user}{seq};rport",
            ua.addr()
        ),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(
        HeaderName::From,
        format!("<sip:{user}@example.com>;tag={user}"),
    );
    m.push_header(HeaderName::To, format!("<sip:{user}@example.com>"));
    m.push_header(HeaderName::CallId, format!("abuse-{user}@10.77.1.10"));
    m.push_header(HeaderName::CSeq, format!("{seq} REGISTER"));
    m.push_header(HeaderName::Contact, format!("<sip:{user}@{}>", ua.addr()));
    m.push_header(HeaderName::Expires, "300");
    m.set_body(Bytes::new(), None);
    m
}

/// Sends `m` from `ua` and returns the final response to it.
fn exchange(ua: &TestUa, m: &Message) -> Message {
    ua.send(sbc_a(), m);
    let (rsp, _) = ua
        .recv_until(WAIT, |r| {
            r.status().is_some_and(|s| s >= 200) && r.cseq().is_some_and(|c| c.method == "REGISTER")
        })
        .expect("a final response to REGISTER");
    rsp
}

/// REGISTER with `password` answering the 401 `challenge` (CSeq `seq`).
fn register_with(
    ua: &TestUa,
    user: &str,
    password: &str,
    seq: u32,
    challenge: &Message,
) -> Message {
    let mut m = register(ua, user, seq);
    let auth = digest_authorization(
        challenge,
        &HeaderName::WwwAuthenticate,
        "REGISTER",
        "sip:example.com",
        user,
        password,
    )
    .expect("a usable challenge");
    m.push_header(HeaderName::Authorization, auth);
    m
}

fn metric(topo: &Topology, admin: SocketAddr, series: &str) -> f64 {
    let rsp = topo
        .enter(topo.sbc(), || http_get(admin, "/metrics", None))
        .expect("GET /metrics");
    metric_value(&rsp.body, series).unwrap_or_else(|| panic!("{series} missing"))
}

/// Alice's phone keeps answering with a wrong password: after its back-offs it is blocked, but
/// only alice from that address. Bob, behind the same NAT and so from the same public address,
/// registers at once; the block is logged once and counted.
#[test]
fn one_customer_guessing_wrong_does_not_lock_out_the_others_behind_the_same_nat() {
    let Some(topo) = topology_or_skip("abuse_same_nat", 2) else {
        return;
    };
    let alice = topo.enter(topo.customer(0), || TestUa::bind(customer_ip(0).into()));
    let bob = topo.enter(topo.customer(1), || TestUa::bind(customer_ip(1).into()));
    let (mut sbc, admin) = start(&topo, "auth_fail_max = 3\nauth_block_s = 60");

    let mut challenge = exchange(&alice, &register(&alice, "alice", 1));
    assert_eq!(challenge.status(), Some(401));
    // Failures 1 and 2 start back-offs of 1 s and 2 s (503 + Retry-After meanwhile).
    let mut seq = 2;
    for backoff_s in [1u64, 2] {
        let rsp = exchange(
            &alice,
            &register_with(&alice, "alice", "guess", seq, &challenge),
        );
        assert_eq!(rsp.status(), Some(401), "{rsp:?}");
        challenge = rsp;
        seq += 1;
        let early = exchange(
            &alice,
            &register_with(&alice, "alice", "guess", seq, &challenge),
        );
        assert_eq!(early.status(), Some(503), "during the back-off: {early:?}");
        assert!(early.header(&HeaderName::RetryAfter).is_some());
        seq += 1;
        std::thread::sleep(Duration::from_millis(backoff_s * 1000 + 100));
    }
    // Failure 3 starts the block: alice from this address gets 403, even with her password.
    let rsp = exchange(
        &alice,
        &register_with(&alice, "alice", "guess", seq, &challenge),
    );
    assert_eq!(rsp.status(), Some(401));
    seq += 1;
    let blocked = exchange(
        &alice,
        &register_with(&alice, "alice", "wonderland", seq, &rsp),
    );
    assert_eq!(blocked.status(), Some(403), "{blocked:?}");

    // Bob, behind the same NAT, registers straight away.
    let ch = exchange(&bob, &register(&bob, "bob", 1));
    assert_eq!(ch.status(), Some(401), "{ch:?}");
    let ok = exchange(&bob, &register_with(&bob, "bob", "builder", 2, &ch));
    assert_eq!(ok.status(), Some(200), "bob locked out by alice: {ok:?}");

    assert!(
        sbc.wait_log("authentication blocked after repeated failures", WAIT),
        "no block line in the log"
    );
    let log = std::fs::read_to_string(&sbc.log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("authentication blocked"))
        .unwrap();
    assert!(
        line.contains("alice") && line.contains("source_user"),
        "{line}"
    );
    let refused = log
        .lines()
        .filter(|l| l.contains("digest authentication refused"))
        .collect::<Vec<_>>();
    assert!(
        refused
            .iter()
            .all(|l| l.contains("wrong password") && l.contains("alice")),
        "{refused:?}"
    );
    assert!(!log.contains("response="), "a digest response was logged");
    assert_eq!(
        metric(&topo, admin, "sbc_auth_blocks_total{key=\"source_user\"}"),
        1.0
    );
    assert!(sbc.child.try_wait().unwrap().is_none(), "sbc exited");
    drop(sbc);
    drop(topo);
}
