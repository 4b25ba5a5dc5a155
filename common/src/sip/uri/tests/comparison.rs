//! URI comparison tests (RFC 3261 §19.1.4).

use super::*;

#[test]
fn rfc3261_equivalent_pairs() {
    assert!(eqv(
        "sip:%61lice@atlanta.com;transport=TCP",
        "sip:alice@AtLanTa.CoM;Transport=tcp"
    ));
    assert!(eqv(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;newparam=5"
    ));
    assert!(eqv(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;security=on"
    ));
    assert!(eqv(
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;security=on"
    ));
    assert!(eqv(
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
    ));
    assert!(eqv(
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
    ));
}

#[test]
fn rfc3261_non_equivalent_pairs() {
    // Different usernames.
    assert!(!eqv(
        "SIP:ALICE@AtLanTa.CoM;Transport=udp",
        "sip:alice@AtLanTa.CoM;Transport=UDP"
    ));
    // Can resolve to different ports.
    assert!(!eqv("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
    // Can resolve to different transports.
    assert!(!eqv(
        "sip:bob@biloxi.com",
        "sip:bob@biloxi.com;transport=udp"
    ));
    // Can resolve to different port and transports.
    assert!(!eqv(
        "sip:bob@biloxi.com",
        "sip:bob@biloxi.com:6000;transport=tcp"
    ));
    // Different header component.
    assert!(!eqv(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com?Subject=next%20meeting"
    ));
    // Even though that's what phone21.boxesbybob.com resolves to.
    assert!(!eqv("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
}

#[test]
fn more_comparisons() {
    // sip vs sips never equal.
    assert!(!eqv("sip:alice@a.com", "sips:alice@a.com"));
    // Escaped and unescaped user (%75 is u, %72 is r).
    assert!(eqv("sip:%75se%72@example.com", "sip:user@example.com"));
    // An escaped reserved character is not the literal one.
    assert!(!eqv("sip:a%3Bb@example.com", "sip:a;b@example.com"));
    assert!(eqv("sip:a%3bb@example.com", "sip:a%3Bb@example.com"));
    // Userinfo presence and password.
    assert!(!eqv("sip:a.com", "sip:u@a.com"));
    assert!(!eqv("sip:u:p@a.com", "sip:u@a.com"));
    assert!(!eqv("sip:u:p@a.com", "sip:u:P@a.com"));
    // Host by value for addresses.
    assert!(eqv("sip:[2001:db8::1]", "sip:[2001:DB8:0::1]"));
    assert!(!eqv("sip:[::ffff:192.0.2.10]", "sip:192.0.2.10"));
    assert!(eqv("sip:a.com:5060", "sip:A.COM:05060"));
    // Special parameters must match when present in either.
    assert!(!eqv("sip:a.com;user=phone", "sip:a.com"));
    assert!(!eqv("sip:a.com;ttl=1", "sip:a.com"));
    assert!(eqv("sip:a.com;ttl=01", "sip:a.com;ttl=1"));
    assert!(!eqv("sip:a.com;maddr=1.2.3.4", "sip:a.com"));
    assert!(eqv("sip:a.com;maddr=Host.COM", "sip:a.com;MADDR=host.com"));
    assert!(!eqv("sip:a.com;method=INVITE", "sip:a.com;method=invite"));
    assert!(!eqv("sip:a.com;method=INVITE", "sip:a.com"));
    // Other parameters compared only when in both, case-sensitive values.
    assert!(eqv("sip:a.com;lr", "sip:a.com"));
    assert!(eqv("sip:a.com;x=1", "sip:a.com;y=2"));
    assert!(!eqv("sip:a.com;x=1", "sip:a.com;X=2"));
    assert!(!eqv("sip:a.com;x=a", "sip:a.com;x=A"));
    assert!(!eqv("sip:a.com;lr", "sip:a.com;lr=on"));
    assert!(eqv("sip:a.com;x=%61", "sip:a.com;x=a"));
    // Headers: names case-insensitive, values unescaped, multiset.
    assert!(eqv(
        "sip:a.com?Subject=hi%20there",
        "sip:a.com?subject=hi there".replace(' ', "%20").as_str()
    ));
    assert!(!eqv("sip:a.com?subject=Hi", "sip:a.com?subject=hi"));
    assert!(!eqv("sip:a.com?a=1&a=1", "sip:a.com?a=1&b=1"));
    assert!(!eqv("sip:a.com?a=1", "sip:a.com?a=1&a=1"));
    assert!(eqv("sip:a.com?a=1&b=2&a=1", "sip:a.com?b=2&a=1&a=1"));
    assert!(uri_eq(&p("sip:a.com"), &p("SIP:A.com")));
    assert!(!eqv("sip:a.com", "tel:+1"));
}

#[test]
fn duplicate_params_compare_by_first_occurrence() {
    // Found by the sip_message fuzz target: with a repeated parameter name the later
    // occurrence was compared with the other URI's first one, so a URI was not
    // equivalent to itself.
    let fuzzed = "sip:ce.net;%6C%72;n%61me=v%612;n%61me=lue%24%34%31";
    assert!(eqv(fuzzed, fuzzed));
    assert!(eqv("sip:a.com;x=1;x=2", "sip:a.com;x=1;x=2"));
    assert!(eqv("sip:a.com;x=1;x=2", "sip:a.com;x=1"));
    assert!(!eqv("sip:a.com;x=1;x=2", "sip:a.com;x=2"));
    assert!(eqv("tel:+1234;x=1;x=2", "tel:+1234;x=1;x=2"));
    assert!(!eqv("tel:+1234;x=1;x=2", "tel:+1234;x=2;x=1"));
}
