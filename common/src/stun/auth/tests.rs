use super::*;

/// The short-term password of RFC 5769 §2.1–2.3.
const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
const TXID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// RFC 5769 §2.2: the sample IPv4 response (SOFTWARE padded with a space, as printed).
#[rustfmt::skip]
const RFC5769_IPV4_RESPONSE: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42,
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14,
    0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74,
    0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
];

/// RFC 5769 §2.3: the sample IPv6 response.
#[rustfmt::skip]
const RFC5769_IPV6_RESPONSE: [u8; 92] = [
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42,
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47,
    0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84,
    0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
];

fn v4() -> SocketAddr {
    "192.0.2.1:32853".parse().unwrap()
}

fn v6() -> SocketAddr {
    "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .unwrap()
}

#[test]
fn rfc5769_vectors_verify_integrity_fingerprint_and_addresses() {
    let request = &crate::stun::tests::RFC5769_REQUEST[..];
    for msg in [
        request,
        &RFC5769_IPV4_RESPONSE[..],
        &RFC5769_IPV6_RESPONSE[..],
    ] {
        assert_eq!(check_fingerprint(msg), Ok(true));
        assert_eq!(check_integrity(msg, PASSWORD), Ok(()));
        assert_eq!(
            check_integrity(msg, b"VOkJxbRl1RmTxUk/WvJxBu"),
            Err(AuthError::BadIntegrity)
        );
    }
    let xma = |m: &[u8]| find(m, attr::XOR_MAPPED_ADDRESS).unwrap().1.to_vec();
    assert_eq!(xor_address(&xma(&RFC5769_IPV4_RESPONSE), &TXID), Some(v4()));
    assert_eq!(xor_address(&xma(&RFC5769_IPV6_RESPONSE), &TXID), Some(v6()));
}

#[test]
fn any_changed_bit_fails_the_checks() {
    let request = crate::stun::tests::RFC5769_REQUEST;
    // Every byte but the FINGERPRINT attribute's own header (a changed type there makes it an
    // unknown attribute after MESSAGE-INTEGRITY, which is ignored).
    for i in (0..request.len()).filter(|i| !(100..104).contains(i)) {
        let mut m = request;
        m[i] ^= 0x01;
        if (2..4).contains(&i) {
            // The length field is the parser's to check; the hashes cover the length they see.
            assert!(crate::stun::Packet::new_checked(&m[..]).is_err());
            continue;
        }
        let integrity = check_integrity(&m, PASSWORD);
        let fingerprint = check_fingerprint(&m);
        assert!(
            integrity.is_err() || fingerprint.is_err(),
            "byte {i} flipped and both checks passed"
        );
    }
    // Without MESSAGE-INTEGRITY: 400 territory.
    assert_eq!(
        check_integrity(&request[..20], PASSWORD),
        Err(AuthError::NoIntegrity)
    );
}

#[test]
fn written_responses_carry_the_rfc5769_address_bytes_and_verify() {
    for (mapped, vector) in [
        (v4(), &RFC5769_IPV4_RESPONSE[..]),
        (v6(), &RFC5769_IPV6_RESPONSE[..]),
    ] {
        let mut out = [0u8; 128];
        let n = write_binding_success(&mut out, &TXID, mapped, Some(PASSWORD)).unwrap();
        let msg = &out[..n];
        let p = crate::stun::Packet::new_checked(msg).unwrap();
        assert_eq!(p.class(), Class::SuccessResponse);
        assert_eq!(p.transaction_id(), TXID);
        // The XOR-MAPPED-ADDRESS attribute is byte for byte the vector's.
        assert_eq!(
            find(msg, attr::XOR_MAPPED_ADDRESS).map(|a| a.1),
            find(vector, attr::XOR_MAPPED_ADDRESS).map(|a| a.1)
        );
        assert_eq!(check_integrity(msg, PASSWORD), Ok(()));
        assert_eq!(check_fingerprint(msg), Ok(true));
        // Too small a buffer is refused, never overrun.
        assert!(write_binding_success(&mut out[..n - 1], &TXID, mapped, Some(PASSWORD)).is_none());
        // Without credentials: no MESSAGE-INTEGRITY, still a FINGERPRINT.
        let n = write_binding_success(&mut out, &TXID, mapped, None).unwrap();
        assert_eq!(
            check_integrity(&out[..n], PASSWORD),
            Err(AuthError::NoIntegrity)
        );
        assert_eq!(check_fingerprint(&out[..n]), Ok(true));
    }
}

#[test]
fn written_requests_verify_and_carry_the_ice_attributes() {
    let mut out = [0u8; 160];
    let n = write_binding_request(
        &mut out,
        &TXID,
        b"evtj:h6vY",
        PASSWORD,
        Role::Controlling(7),
        true,
    )
    .unwrap();
    let msg = &out[..n];
    let p = crate::stun::Packet::new_checked(msg).unwrap();
    assert!(p.is_binding_request());
    assert_eq!(p.attribute(attr::USERNAME), Some(&b"evtj:h6vY"[..]));
    assert_eq!(p.attribute(attr::USE_CANDIDATE), Some(&[][..]));
    assert_eq!(
        p.attribute(attr::ICE_CONTROLLING),
        Some(&7u64.to_be_bytes()[..])
    );
    assert_eq!(check_integrity(msg, PASSWORD), Ok(()));
    assert_eq!(check_fingerprint(msg), Ok(true));
}

#[test]
fn error_responses_name_the_code_and_carry_a_fingerprint() {
    let mut out = [0u8; 128];
    let n = write_binding_error(&mut out, &TXID, 401, "Unauthorized", None).unwrap();
    let msg = &out[..n];
    let p = crate::stun::Packet::new_checked(msg).unwrap();
    assert_eq!(p.class(), Class::ErrorResponse);
    let code = p.attribute(attr::ERROR_CODE).unwrap();
    assert_eq!((code[2], code[3], &code[4..]), (4, 1, &b"Unauthorized"[..]));
    assert_eq!(check_fingerprint(msg), Ok(true));
    assert_eq!(check_integrity(msg, PASSWORD), Err(AuthError::NoIntegrity));
    // 487 to an authenticated request carries MESSAGE-INTEGRITY.
    let n = write_binding_error(&mut out, &TXID, 487, "Role Conflict", Some(PASSWORD)).unwrap();
    assert_eq!(check_integrity(&out[..n], PASSWORD), Ok(()));
    assert_eq!(check_fingerprint(&out[..n]), Ok(true));
}
