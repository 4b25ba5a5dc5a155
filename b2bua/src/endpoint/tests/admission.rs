//! Call admission caps, applied before the core makes state.

use super::*;

#[test]
fn admission_caps_a_routes_calls_and_a_sources_calls_before_the_core_makes_state() {
    // The default route takes one call at once; each source two.
    let text = CONFIG.replace(
        "name = \"default\"\n",
        "name = \"default\"\nmax_calls = 1\n",
    ) + "\n[limits]\ncalls_per_source = 2\ncall_rate_per_source = 0\n";
    let mut net = Net::with_config(&text);
    let first = net.udp(
        0,
        PHONE,
        &invite(
            "sip:100@example.com",
            "cap1",
            "UDP 192.168.1.20:5060",
            false,
        ),
    );
    find(&first, "INVITE");
    // A second call on the same route, from another source: 503 + Retry-After, no leg B.
    let second = net.udp(
        0,
        "203.0.113.6:40000",
        &invite(
            "sip:101@example.com",
            "cap2",
            "UDP 192.168.1.21:5060",
            false,
        ),
    );
    let (_, to, rsp) = find(&second, "503");
    assert_eq!(to, addr("203.0.113.6:40000"));
    assert!(rsp.header(&HeaderName::RetryAfter).is_some());
    assert!(
        datagrams(&second)
            .iter()
            .all(|(_, _, m)| m.method() != Some(&Method::Invite)),
        "no leg B for the refused call"
    );
    assert_eq!(net.ep.core().call_count(), 1);
    // The emergency route is not capped; the phone's own per-source cap (2) still allows it.
    let third = net.udp(
        0,
        PHONE,
        &invite(
            "sip:911@example.com",
            "cap3",
            "UDP 192.168.1.20:5060",
            false,
        ),
    );
    assert!(
        third.iter().any(|o| matches!(o, Output::Connect { .. })),
        "911 goes out"
    );
    // A third call from the phone: over its per-source cap.
    let fourth = net.udp(
        0,
        PHONE,
        &invite(
            "sip:912@example.net",
            "cap4",
            "UDP 192.168.1.20:5060",
            false,
        ),
    );
    find(&fourth, "503");
    let metrics = net.ep.metrics().encode();
    assert!(
        metrics.contains("sbc_admission_refused_total{limit=\"route_calls\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sbc_admission_refused_total{limit=\"source_calls\"} 1"),
        "{metrics}"
    );
}
