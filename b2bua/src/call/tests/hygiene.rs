//! SDP hygiene on virtual time: what describes one leg's own transport (ICE candidates and
//! credentials, DTLS fingerprint and setup, BUNDLE) never reaches the other leg, in offers,
//! answers and re-INVITEs (RFC 8839 §5, RFC 8122, RFC 8843).

use super::*;

/// `base` with ICE, DTLS and BUNDLE lines naming `private` and `public` addresses.
fn with_ice(base: &str, private: &str, public: &str) -> String {
    let session_end = base.find("m=").unwrap();
    let (head, media) = base.split_at(session_end);
    format!(
        "{head}a=group:BUNDLE 0\r\na=ice-options:trickle\r\na=fingerprint:sha-256 12:34:56\r\n{media}\
         a=mid:0\r\na=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n\
         a=candidate:1 1 UDP 2130706431 {private} 49170 typ host\r\n\
         a=candidate:2 1 UDP 1694498815 {public} 61000 typ srflx raddr {private} rport 49170\r\n\
         a=end-of-candidates\r\na=setup:actpass\r\n"
    )
}

fn assert_clean(msg: &Message, leaked: &[&str]) {
    let text = String::from_utf8_lossy(&msg.to_bytes()).into_owned();
    for l in leaked {
        assert!(!text.contains(l), "{l} leaked:\n{text}");
    }
    for attr in [
        "a=candidate",
        "a=ice-",
        "a=fingerprint",
        "a=setup",
        "BUNDLE",
        "end-of-candidates",
    ] {
        assert!(!text.contains(attr), "{attr} crossed:\n{text}");
    }
    // The media itself still crosses.
    assert!(text.contains("a=rtpmap:0 PCMU/8000"), "{text}");
}

#[test]
fn candidates_and_ice_credentials_never_cross_in_either_direction_nor_in_reinvites() {
    let mut net = Net::new();
    let offer = with_ice(&sdp_a(1, "sendrecv"), "192.168.1.23", "198.51.100.99");
    net.send_a(with_sdp(invite_a(70), Some(&offer)));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    assert_clean(&b_inv, &["192.168.1.23", "198.51.100.99", "x9cml"]);
    // The core answers with its own ICE: none of it reaches the customer.
    let answer = with_ice(&sdp_b(1, "sendrecv"), "10.9.8.7", "192.0.2.200");
    net.send_b(reply_b(&b_inv, 200, Some(&answer)));
    let ok = net.one_a();
    assert_eq!(ok.status(), Some(200));
    assert_clean(&ok, &["10.9.8.7", "192.0.2.200"]);
    net.send_a(from_a(Method::Ack, &ok, 1, "z9hG4bKa2", None));
    net.b();
    // A re-INVITE with fresh candidates (the phone moved networks).
    let moved = with_ice(&sdp_a(2, "sendrecv"), "172.16.0.4", "203.0.113.50");
    net.send_a(from_a(Method::Invite, &ok, 2, "z9hG4bKa3", Some(&moved)));
    net.a();
    let re = net.one_b();
    assert_eq!(re.method(), Some(&Method::Invite));
    assert_clean(&re, &["172.16.0.4", "203.0.113.50", "192.168.1.23"]);
    net.send_b(reply_b(&re, 200, Some(&answer)));
    let ok2 = net.one_a();
    assert_clean(&ok2, &["10.9.8.7", "192.0.2.200"]);
}
