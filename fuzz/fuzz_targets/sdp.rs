//! SDP model: parsing never panics; an accepted body is written back byte for byte (the
//! module's lossless guarantee for an unchanged `Sdp`) and re-parses to an equal `Sdp`; any
//! sequence of the offer/answer rewrites leaves a body that still parses and whose
//! serialization is stable.
//!
//! Input layout: byte 0 gives the number of rewrites (0..=15), then two bytes per rewrite
//! (`op`, `arg`), then the SDP body.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sbc_common::sdp::{Direction, Media, Sdp, SdpError};

const IPS: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
];
const PORTS: [u16; 8] = [0, 1, 9, 4000, 5004, 30000, 49170, 65535];
const DIRECTIONS: [Direction; 4] = [
    Direction::SendRecv,
    Direction::SendOnly,
    Direction::RecvOnly,
    Direction::Inactive,
];
const ATTRIBUTES: [(&str, Option<&str>); 6] = [
    ("rtcp-mux", None),
    ("ptime", Some("20")),
    ("rtcp", Some("9 IN IP4 0.0.0.0")),
    ("sendonly", None),
    ("fmtp", Some("101 0-15")),
    ("x-fuzz", Some("a b:c")),
];

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16);
    if rest.len() < 2 * n {
        return;
    }
    let (ops, body) = rest.split_at(2 * n);

    let Ok(sdp) = Sdp::parse(body) else {
        return;
    };
    // Unchanged: byte for byte as it came in, and the same model from a zero-copy parse.
    let out = sdp.to_bytes();
    assert_eq!(
        &out[..],
        body,
        "unchanged SDP not written back byte for byte"
    );
    assert_eq!(
        sdp.encoded_len(),
        out.len(),
        "encoded_len differs from output"
    );
    let zero_copy = Sdp::from_bytes(Bytes::copy_from_slice(body))
        .unwrap_or_else(|e| panic!("from_bytes rejects what parse accepts: {e:?}"));
    assert_eq!(zero_copy, sdp, "from_bytes and parse differ");
    let again = Sdp::parse(&out).unwrap_or_else(|e| panic!("re-parse failed: {e:?}"));
    assert_eq!(again, sdp, "re-parsed SDP differs");
    exercise_views(&sdp);

    let mut sdp = sdp;
    for op in ops.chunks_exact(2) {
        apply(&mut sdp, op[0], op[1]);
    }

    // After the rewrites: still a valid body, and serialization is stable.
    let out = sdp.to_bytes();
    assert_eq!(
        sdp.encoded_len(),
        out.len(),
        "encoded_len differs after rewrites"
    );
    let again = Sdp::parse(&out).unwrap_or_else(|e| {
        panic!(
            "rewritten SDP does not parse: {e:?}\nops: {ops:?}\n{}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(
        again.media_count(),
        sdp.media_count(),
        "media count changed"
    );
    assert_eq!(
        again.to_bytes(),
        out,
        "serialization of rewritten SDP not stable"
    );
    exercise_views(&again);
});

fn apply(sdp: &mut Sdp, op: u8, arg: u8) {
    let ip = IPS[usize::from(arg >> 6)];
    let port = PORTS[usize::from(arg & 7)];
    let direction = DIRECTIONS[usize::from(arg & 3)];
    let index = usize::from(arg % 4);
    match op % 16 {
        0 => sdp.set_connection_address(ip),
        1 => sdp.set_session_connection_address(ip),
        2 => sdp.set_origin_address(ip),
        3 => {
            let before = sdp.origin().and_then(|o| o.session_version_number());
            if sdp.bump_origin_version().is_ok() {
                let after = sdp.origin().and_then(|o| o.session_version_number());
                if let Some(v) = before.filter(|v| *v < u64::MAX) {
                    assert_eq!(after, Some(v + 1), "bump_origin_version");
                }
            }
        }
        4 => sdp.set_origin_version(u64::from(arg) * 1000),
        5 => {
            sdp.set_session_direction(direction);
            assert_eq!(sdp.session_direction(), Some(direction));
        }
        6 => {
            if let Some(m) = sdp.media_mut(index) {
                if m.set_port(port) {
                    assert_eq!(m.port(), port, "set_port");
                }
            }
        }
        7 => {
            if let Some(m) = sdp.media_mut(index) {
                m.set_rtcp(port, ip);
            }
        }
        8 => {
            if let Some(m) = sdp.media_mut(index) {
                m.set_direction(direction);
                assert_eq!(m.media_direction(), Some(direction), "set_direction");
            }
        }
        9 => {
            if let Some(m) = sdp.media_mut(usize::from(op >> 6)) {
                // Keep the payload types at the positions whose bit is set in `arg`.
                let keep: Vec<u8> = m
                    .payload_types()
                    .enumerate()
                    .filter(|(i, _)| arg & (1 << (i % 8)) != 0)
                    .map(|(_, pt)| pt)
                    .collect();
                let before = m.clone();
                match m.retain_payload_types(&keep) {
                    Ok(_) => assert!(m.payload_types().all(|pt| keep.contains(&pt))),
                    Err(SdpError::NoFormatsLeft) => assert_eq!(*m, before),
                    Err(e) => panic!("retain_payload_types: unexpected {e:?}"),
                }
            }
        }
        10 => {
            if let Some(m) = sdp.media_mut(index) {
                m.reject();
                assert_eq!(m.port(), 0, "reject");
            }
        }
        11 => {
            if let Some(m) = sdp.media_mut(index) {
                m.set_transport(ip, port, port.wrapping_add(1));
            }
        }
        12 => {
            if let Some(m) = sdp.media_mut(index) {
                m.set_connection_address(ip);
            }
        }
        13 => {
            let (name, value) = ATTRIBUTES[usize::from(arg >> 2) % ATTRIBUTES.len()];
            let added = match sdp.media_mut(usize::from(op >> 4) % 5) {
                Some(m) => m.add_attribute(name, value),
                None => sdp.add_attribute(name, value),
            };
            assert!(
                added.is_ok(),
                "add_attribute({name:?}, {value:?}): {added:?}"
            );
        }
        14 => {
            let (name, _) = ATTRIBUTES[usize::from(arg >> 2) % ATTRIBUTES.len()];
            match sdp.media_mut(usize::from(op >> 4) % 5) {
                Some(m) => m.remove_attribute(name),
                None => sdp.remove_attribute(name),
            };
        }
        _ => {
            if arg & 0x80 != 0 {
                for m in sdp.media_iter_mut() {
                    m.set_port(port);
                }
            } else if let Some(m) = sdp.media_mut(usize::from(op >> 4) % 4) {
                let _ = m.remove_payload_types(&[arg & 0x7f]);
            }
        }
    }
}

/// Calls every read accessor; none may panic.
fn exercise_views(sdp: &Sdp) {
    let _ = (
        sdp.origin(),
        sdp.session_name(),
        sdp.timing(),
        sdp.connection(),
    );
    let _ = (
        sdp.session_direction(),
        sdp.attributes().count(),
        sdp.is_on_hold(),
    );
    let _ = (sdp.attribute("group"), sdp.has_attribute("ice-ufrag"));
    if let Some(o) = sdp.origin() {
        let _ = (o.session_version_number(), o.ip());
    }
    for line in sdp.lines() {
        let _ = (line.kind(), line.value(), line.value_bytes(), line.ending());
    }
    for m in sdp.media() {
        exercise_media(&m);
    }
    let _ = sdp.media_at(sdp.media_count());
}

fn exercise_media(m: &Media<'_>) {
    let _ = (
        m.index(),
        m.connection(),
        m.direction(),
        m.is_on_hold(),
        m.uses_ice(),
    );
    let _ = (
        m.media_type(),
        m.port(),
        m.num_ports(),
        m.proto(),
        m.is_rtp(),
    );
    let _ = (m.formats().count(), m.is_rejected(), m.attributes().count());
    let _ = (m.ptime(), m.maxptime(), m.rtcp_mux(), m.media_connection());
    let _ = m.media_direction();
    if let Some(rtcp) = m.rtcp() {
        let _ = rtcp.ip();
    }
    for (pt, codec) in m.codecs() {
        let _ = (m.rtpmap(pt), m.fmtp(&pt.to_string()));
        if let Some(c) = codec {
            let _ = (c.channel_count(), c.is("PCMU"));
        }
    }
    for f in m.fmtps() {
        let _ = f.payload_type();
    }
    let _ = m.description().lines().len();
}
