//! A reliable provisional's PRACK crossing the answer on virtual time: A PRACKs B's reliable 183
//! after B's 2xx reached it, when the call keeps neither INVITE (RFC 3262 §3, §5, §7.2).

use super::*;

#[test]
fn a_prack_after_the_answer_names_leg_bs_invite_and_carries_a_new_offer() {
    let mut net = Net::new();
    net.send_a(invite_a_100rel(HeaderName::Supported));
    assert_eq!(net.one_a().status(), Some(100));
    let b_inv = net.one_b();
    let b_seq = b_inv.cseq().unwrap().seq;
    assert_ne!(
        b_seq, 1,
        "leg B's CSeq is not the default the bug fell back to"
    );
    net.ops();
    net.send_b(fork_reply(
        &b_inv,
        183,
        "btag",
        "sip:bob@10.0.0.20:5060",
        Some(777),
        Some(&sdp_b(7, "sendrecv")),
    ));
    let a_183 = net.one_a();
    assert!(a_183.has_token(&HeaderName::Require, "100rel"));
    net.ops();
    // B answers before A's PRACK arrives: A gets the 200 and the call lets both INVITEs go.
    net.send_b(reply_b(&b_inv, 200, Some(&sdp_b(7, "sendrecv"))));
    let a_ok = net.one_a();
    assert_eq!(a_ok.status(), Some(200));
    assert!(!net.sbc.keeps_a_invite(CallKey(1)));
    net.ops();
    net.b();
    // A's PRACK, sent before it saw the 200, carries a new offer (its INVITE had one: RFC 3262
    // §5): B gets it in a PRACK whose RAck names B's RSeq and B's INVITE.
    net.send_a(prack_a(
        &a_183,
        2,
        "z9hG4bKpa1",
        Some(&sdp_a(2, "sendonly")),
    ));
    let b_prack = net.one_b();
    assert_eq!(b_prack.method(), Some(&Method::Prack));
    assert_eq!(
        b_prack.header(&HeaderName::RAck),
        Some(format!("777 {b_seq} INVITE").as_str())
    );
    assert!(b_prack.has_sdp(), "the offer goes on to B");
    let text = String::from_utf8(b_prack.to_bytes().to_vec()).unwrap();
    assert!(
        !text.contains("198.51.100.10"),
        "A's address is not leaked: {text}"
    );
    assert!(text.contains("a=sendonly"), "{text}");
    assert!(net.a().is_empty(), "A's PRACK waits for B's answer");
}
