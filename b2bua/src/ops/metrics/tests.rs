//! The metrics registry and the recorder: names, labels and what each event counts.

use super::*;
use bytes::Bytes;
use sbc_common::sip::Limits;

/// The value of the series `series` (name and labels as written) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn outcome_mapping_follows_the_documented_table() {
    use EndReason::*;
    assert_eq!(
        Outcome::of(true, Bye(crate::call::Leg::A), 200),
        Outcome::Answered
    );
    assert_eq!(Outcome::of(true, MediaTimeout, 408), Outcome::Answered);
    assert_eq!(Outcome::of(false, Rejected, 486), Outcome::Busy);
    assert_eq!(Outcome::of(false, Rejected, 600), Outcome::Busy);
    assert_eq!(Outcome::of(false, Rejected, 480), Outcome::NoAnswer);
    assert_eq!(Outcome::of(false, Rejected, 408), Outcome::NoAnswer);
    assert_eq!(Outcome::of(false, Timeout, 408), Outcome::NoAnswer);
    assert_eq!(Outcome::of(false, Cancelled, 487), Outcome::Cancelled);
    assert_eq!(Outcome::of(false, Admin, 487), Outcome::Cancelled);
    assert_eq!(Outcome::of(true, Admin, 200), Outcome::Answered);
    assert_eq!(Outcome::of(false, Rejected, 302), Outcome::Failed3xx);
    assert_eq!(Outcome::of(false, Rejected, 404), Outcome::Failed4xx);
    assert_eq!(Outcome::of(false, Media, 488), Outcome::Failed4xx);
    assert_eq!(Outcome::of(false, Rejected, 503), Outcome::Failed5xx);
    assert_eq!(Outcome::of(false, Rejected, 603), Outcome::Failed6xx);
    assert_eq!(Outcome::of(false, NoAck, 0), Outcome::FailedOther);
}

#[test]
fn every_series_exists_at_zero_before_any_event() {
    let m = Metrics::new("node-1").unwrap();
    let text = m.encode();
    for series in [
        "sbc_sip_requests_received_total{method=\"INVITE\"}",
        "sbc_sip_requests_sent_total{method=\"other\"}",
        "sbc_sip_responses_sent_total{class=\"6xx\"}",
        "sbc_calls_total{outcome=\"answered\"}",
        "sbc_calls_total{outcome=\"failed_other\"}",
        "sbc_call_setup_seconds_count{stage=\"answer\"}",
        "sbc_relay_dropped_packets_total{reason=\"source_rejected\"}",
        "sbc_registrations_active",
        "sbc_auth_failures_total",
    ] {
        assert_eq!(value(&text, series), Some(0.0), "{series} in\n{text}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert!(text.contains(&format!(
        "sbc_build_info{{node=\"node-1\",version=\"{version}\"}} 1"
    )));
    assert!(text.contains("process_open_fds "), "{text}");
}

#[test]
fn messages_are_counted_by_method_and_class() {
    let rec = Recorder::new(Arc::new(Metrics::new("n").unwrap()));
    let invite = Message::parse(
        Bytes::from_static(b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
        &Limits::default(),
    )
    .unwrap();
    rec.received(&invite);
    rec.received(&invite);
    rec.sent(b"SIP/2.0 180 Ringing\r\n\r\n");
    rec.sent(b"SIP/2.0 486 Busy Here\r\n\r\n");
    rec.sent(b"BYE sip:a@x SIP/2.0\r\n\r\n");
    rec.sent(b"FOO sip:a@x SIP/2.0\r\n\r\n");
    rec.unreadable();
    let text = rec.metrics().encode();
    let v = |s: &str| value(&text, s);
    assert_eq!(
        v("sbc_sip_requests_received_total{method=\"INVITE\"}"),
        Some(2.0)
    );
    assert_eq!(v("sbc_sip_responses_sent_total{class=\"1xx\"}"), Some(1.0));
    assert_eq!(v("sbc_sip_responses_sent_total{class=\"4xx\"}"), Some(1.0));
    assert_eq!(v("sbc_sip_responses_sent_total{class=\"2xx\"}"), Some(0.0));
    assert_eq!(v("sbc_sip_requests_sent_total{method=\"BYE\"}"), Some(1.0));
    assert_eq!(
        v("sbc_sip_requests_sent_total{method=\"other\"}"),
        Some(1.0)
    );
    assert_eq!(v("sbc_sip_unreadable_messages_total"), Some(1.0));
}

#[test]
fn call_events_give_outcomes_and_setup_times() {
    let mut rec = Recorder::new(Arc::new(Metrics::new("n").unwrap()));
    let t0 = Instant::now();
    let ms = |n| t0 + std::time::Duration::from_millis(n);
    let started = |k| CallEvent::Started {
        call: CallKey(k),
        a_call_id: "a".into(),
        b_call_id: "b".into(),
        detail: Box::default(),
    };
    // Call 1: 180 after 30 ms (twice: only the first counts), answered after 3 s, BYE.
    rec.call_event(t0, &started(1));
    for at in [30, 40] {
        let e = CallEvent::Progress {
            call: CallKey(1),
            code: 180,
        };
        rec.call_event(ms(at), &e);
    }
    rec.call_event(ms(3000), &CallEvent::Answered { call: CallKey(1) });
    let bye = CallEvent::Ended {
        call: CallKey(1),
        reason: EndReason::Bye(crate::call::Leg::B),
        code: 200,
    };
    rec.call_event(ms(9000), &bye);
    // Call 2: busy.
    rec.call_event(t0, &started(2));
    let busy = CallEvent::Ended {
        call: CallKey(2),
        reason: EndReason::Rejected,
        code: 486,
    };
    rec.call_event(ms(100), &busy);
    let text = rec.metrics().encode();
    let v = |s: &str| value(&text, s);
    assert_eq!(v("sbc_calls_total{outcome=\"answered\"}"), Some(1.0));
    assert_eq!(v("sbc_calls_total{outcome=\"busy\"}"), Some(1.0));
    assert_eq!(v("sbc_calls_total{outcome=\"cancelled\"}"), Some(0.0));
    let p = "sbc_call_setup_seconds";
    assert_eq!(v(&format!("{p}_count{{stage=\"provisional\"}}")), Some(1.0));
    assert_eq!(v(&format!("{p}_sum{{stage=\"provisional\"}}")), Some(0.03));
    assert_eq!(
        v(&format!("{p}_bucket{{stage=\"provisional\",le=\"0.025\"}}")),
        Some(0.0)
    );
    assert_eq!(
        v(&format!("{p}_bucket{{stage=\"provisional\",le=\"0.05\"}}")),
        Some(1.0)
    );
    assert_eq!(v(&format!("{p}_count{{stage=\"answer\"}}")), Some(1.0));
    assert_eq!(v(&format!("{p}_sum{{stage=\"answer\"}}")), Some(3.0));
    assert!(rec.calls.is_empty(), "ended calls are forgotten");
}

#[test]
fn relay_totals_become_monotonic_counters() {
    let mut rec = Recorder::new(Arc::new(Metrics::new("n").unwrap()));
    let mut m = RelayMetrics {
        backend: "mmsg",
        forwarded_packets: 10,
        forwarded_bytes: 1720,
        drops: [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        cpu_ns: 1_500_000_000,
        sessions: 1,
        streams: 2,
        twins: 3,
        ports: vec![("core".into(), 4, 996)],
        ..RelayMetrics::default()
    };
    rec.relay(&m);
    m.forwarded_packets = 25;
    rec.relay(&m);
    // A total that went backwards (it should not) leaves the counter where it was.
    m.forwarded_packets = 5;
    m.sessions = 0;
    rec.relay(&m);
    let text = rec.metrics().encode();
    let v = |s: &str| value(&text, s);
    assert_eq!(
        v("sbc_relay_forwarded_packets_total{backend=\"mmsg\"}"),
        Some(25.0)
    );
    assert_eq!(
        v("sbc_relay_forwarded_bytes_total{backend=\"mmsg\"}"),
        Some(1720.0)
    );
    assert_eq!(
        v("sbc_relay_dropped_packets_total{reason=\"source_rejected\"}"),
        Some(2.0)
    );
    assert_eq!(v("sbc_relay_worker_cpu_seconds_total"), Some(1.5));
    assert_eq!(v("sbc_relay_sessions_active"), Some(0.0));
    assert_eq!(v("sbc_relay_streams_active"), Some(2.0));
    assert_eq!(v("sbc_relay_connected_twins"), Some(3.0));
    assert_eq!(v("sbc_relay_ports_in_use{interface=\"core\"}"), Some(4.0));
    assert_eq!(v("sbc_relay_ports_free{interface=\"core\"}"), Some(996.0));
}
