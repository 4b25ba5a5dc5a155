//! NAT detection and the customer's flow (RFC 3581, RFC 5626 §3, RFC 1918, RFC 6598, RFC 4193).
//!
//! A customer behind NAT writes private addresses into its Via, Contact and SDP; what the SBC can
//! trust is the *flow*: the source address and port its request really came from, and the TCP
//! connection it came on. This module says whether a request shows signs of NAT and rewrites a
//! Contact so that later requests go to the flow instead of the private address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sbc_common::sip::via::parse_host_ip;
use sbc_common::sip::{Message, Via};

use crate::stack::transaction::{Dest, Transport};

/// The path a customer's request really took: source address, transport and, for TCP/TLS, the
/// connection it arrived on (RFC 5626 §3.1 "flow").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The source address and port of the packet (after any NAT).
    pub source: SocketAddr,
    /// The transport the request arrived on.
    pub transport: Transport,
    /// The endpoint's flow id of the TCP/TLS connection, `None` for UDP.
    pub connection: Option<u64>,
}

impl Flow {
    /// A UDP flow from `source` (RFC 5626 §3.1).
    pub fn udp(source: SocketAddr) -> Self {
        Self {
            source,
            transport: Transport::Udp,
            connection: None,
        }
    }

    /// A TCP flow from `source` on connection `connection` (RFC 5626 §3.1).
    pub fn tcp(source: SocketAddr, connection: u64) -> Self {
        Self::stream(source, Transport::Tcp, connection)
    }

    /// A TCP or TLS flow from `source` on connection `connection` (RFC 5626 §3.1).
    pub fn stream(source: SocketAddr, transport: Transport, connection: u64) -> Self {
        Self {
            source,
            transport,
            connection: Some(connection),
        }
    }

    /// Where to send requests for this flow: back to the source, on the same transport
    /// (RFC 5626 §5.3, RFC 3581 §4).
    pub fn dest(&self) -> Dest {
        Dest::new(self.source, self.transport)
    }
}

/// Whether `ip` is a private or shared address that cannot be reached from the Internet:
/// RFC 1918, RFC 6598 carrier-grade NAT space, link-local, and IPv6 unique-local (RFC 4193)
/// or link-local; IPv4-mapped IPv6 addresses are judged by their IPv4 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private() // 10/8, 172.16/12, 192.168/16 (RFC 1918)
        || (a == 100 && (b & 0xc0) == 64) // 100.64/10 (RFC 6598)
        || ip.is_link_local() // 169.254/16 (RFC 3927)
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    (first & 0xfe00) == 0xfc00 // fc00::/7 (RFC 4193)
        || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
}

/// Whether the top Via's sent-by differs from where the request came from (RFC 3581 §4,
/// RFC 3261 §18.2.1): a host that is not the source IP, or a port that is not the source port.
///
/// A sent-by written as a domain name cannot be compared without DNS and counts as different.
pub fn via_differs(via: &Via<'_>, source: SocketAddr) -> bool {
    if via.host_ip() != Some(source.ip()) {
        return true;
    }
    let default_port = if via.transport.eq_ignore_ascii_case("TLS") {
        5061
    } else {
        5060
    };
    via.port.unwrap_or(default_port) != source.port()
}

/// Whether a SIP URI's host is a private IP address literal (RFC 1918, RFC 6598, RFC 4193).
pub fn uri_is_private(uri: &str) -> bool {
    split_uri(uri)
        .and_then(|parts| parse_host_ip(parts.host))
        .is_some_and(is_private)
}

/// Whether an SDP body names a private address in any `c=` or `o=` line (RFC 8866 §5.7, §5.2).
pub fn sdp_has_private_address(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    text.lines().any(|line| {
        let addr = if let Some(c) = line.strip_prefix("c=") {
            c.split_whitespace().nth(2)
        } else if let Some(o) = line.strip_prefix("o=") {
            o.split_whitespace().nth(5)
        } else {
            None
        };
        addr.map(|a| a.split('/').next().unwrap_or(a))
            .and_then(|a| a.parse::<IpAddr>().ok())
            .is_some_and(is_private)
    })
}

/// The signs of NAT one request shows (RFC 3581, RFC 5626 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatSigns {
    /// The top Via's sent-by is not the source address (RFC 3581 §4).
    pub via_differs: bool,
    /// A Contact names a private address (RFC 1918, RFC 6598, RFC 4193).
    pub private_contact: bool,
    /// The SDP body names a private address.
    pub private_sdp: bool,
    /// The source address itself is private (the SBC sits inside the same private network).
    pub private_source: bool,
}

impl NatSigns {
    /// Whether the request should be treated as coming from behind a NAT: the Via or a Contact
    /// disagree with the flow (RFC 3581 §4).
    pub fn behind_nat(&self) -> bool {
        self.via_differs || self.private_contact || self.private_sdp
    }
}

/// Examines a request that arrived on `flow` for signs of NAT (RFC 3581 §4, RFC 5626 §3).
pub fn detect(req: &Message, flow: &Flow) -> NatSigns {
    let contact_private = req.contacts().filter_map(Result::ok).any(|c| match c {
        sbc_common::sip::Contact::Addr(a) => uri_is_private(a.uri),
        sbc_common::sip::Contact::Star => false,
    });
    NatSigns {
        via_differs: req.via().is_some_and(|v| via_differs(&v, flow.source)),
        private_contact: contact_private,
        private_sdp: req.has_sdp() && sdp_has_private_address(req.body()),
        private_source: is_private(flow.source.ip()),
    }
}

/// The parts of a `sip:`/`sips:` URI the fix-up needs, borrowed from it.
struct UriParts<'a> {
    /// Everything up to and including `:` and any `user@`.
    prefix: &'a str,
    /// The host, IPv6 references with brackets.
    host: &'a str,
    /// Everything after host and port: `;params?headers`.
    suffix: &'a str,
}

fn split_uri(uri: &str) -> Option<UriParts<'_>> {
    let colon = uri.find(':')?;
    let scheme = uri.get(..colon)?;
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return None;
    }
    let rest = uri.get(colon + 1..)?;
    // The user part ends at the last '@' before any ';' or '?' of the host part.
    let host_end_guess = rest.find(['?']).unwrap_or(rest.len());
    let user_end = rest.get(..host_end_guess)?.rfind('@').map_or(0, |i| i + 1);
    let after = rest.get(user_end..)?;
    let (host, port_and_rest) = if after.starts_with('[') {
        let close = after.find(']')?;
        (after.get(..=close)?, after.get(close + 1..)?)
    } else {
        let end = after.find([':', ';', '?']).unwrap_or(after.len());
        (after.get(..end)?, after.get(end..)?)
    };
    let suffix = match port_and_rest.strip_prefix(':') {
        Some(p) => p.get(p.find([';', '?']).unwrap_or(p.len())..)?,
        None => port_and_rest,
    };
    if host.is_empty() {
        return None;
    }
    Some(UriParts {
        prefix: uri.get(..colon + 1 + user_end)?,
        host,
        suffix,
    })
}

/// The Contact URI with its host and port replaced by the flow's public source address, so that
/// in-dialog requests and inbound calls reach the customer through its NAT (RFC 3581 §4 applied
/// to Contact, as SBCs do); `None` if the URI is not a `sip:`/`sips:` URI.
///
/// User part and parameters are kept; a `transport` parameter stays as the customer wrote it.
pub fn contact_for_flow(uri: &str, flow: &Flow) -> Option<String> {
    let parts = split_uri(uri)?;
    let mut out = String::with_capacity(uri.len() + 8);
    out.push_str(parts.prefix);
    match flow.source {
        SocketAddr::V4(a) => out.push_str(&a.to_string()),
        SocketAddr::V6(a) => {
            out.push('[');
            out.push_str(&a.ip().to_string());
            out.push_str("]:");
            out.push_str(&a.port().to_string());
        }
    }
    out.push_str(parts.suffix);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sbc_common::sip::HeaderName;
    use sbc_common::sip::Limits;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_ranges() {
        for p in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.10",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.3.4",
            "fd00::1",
            "fc12:3456::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_private(ip(p)), "{p}");
        }
        for p in [
            "192.0.2.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "11.0.0.1",
            "8.8.8.8",
            "2001:db8::1",
            "fe00::1",
            "::ffff:192.0.2.1",
        ] {
            assert!(!is_private(ip(p)), "{p}");
        }
    }

    #[test]
    fn via_sent_by_against_source() {
        let src: SocketAddr = "192.0.2.10:5060".parse().unwrap();
        let v = |s: &'static str| Via::parse(s).unwrap();
        assert!(!via_differs(
            &v("SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1"),
            src
        ));
        assert!(!via_differs(
            &v("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1"),
            src
        ));
        assert!(via_differs(
            &v("SIP/2.0/UDP 10.0.0.2:5060;rport;branch=z9hG4bK1"),
            src
        ));
        assert!(via_differs(
            &v("SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1"),
            src
        ));
        assert!(via_differs(
            &v("SIP/2.0/UDP phone.example.com;branch=z9hG4bK1"),
            src
        ));
        let tls: SocketAddr = "192.0.2.10:5061".parse().unwrap();
        assert!(!via_differs(
            &v("SIP/2.0/TLS 192.0.2.10;branch=z9hG4bK1"),
            tls
        ));
    }

    #[test]
    fn contact_rewritten_to_flow() {
        let flow = Flow::udp("203.0.113.7:40123".parse().unwrap());
        assert_eq!(
            contact_for_flow("sip:alice@10.0.0.2:5060;transport=udp;ob", &flow).unwrap(),
            "sip:alice@203.0.113.7:40123;transport=udp;ob"
        );
        assert_eq!(
            contact_for_flow("sip:192.168.1.2", &flow).unwrap(),
            "sip:203.0.113.7:40123"
        );
        assert_eq!(
            contact_for_flow("sips:bob@[fd00::5]:5061?X=1", &flow).unwrap(),
            "sips:bob@203.0.113.7:40123?X=1"
        );
        let v6 = Flow::udp("[2001:db8::9]:7000".parse().unwrap());
        assert_eq!(
            contact_for_flow("sip:bob@10.1.1.1", &v6).unwrap(),
            "sip:bob@[2001:db8::9]:7000"
        );
        assert_eq!(contact_for_flow("tel:+15551234", &flow), None);
        assert!(uri_is_private("sip:alice@10.0.0.2:5060;ob"));
        assert!(uri_is_private("sip:[fd00::1]"));
        assert!(!uri_is_private("sip:alice@192.0.2.4"));
        assert!(!uri_is_private("sip:alice@pc.example.com"));
    }

    #[test]
    fn via_stamped_with_received_and_rport() {
        // The driver stamps with the transport layer's function; its NAT rules are checked here.
        use crate::stack::transport::via::stamp_received as stamp_via;
        let msg = |vias: &str| {
            Message::parse(
                Bytes::from(format!(
                    "OPTIONS sip:sbc.example.com SIP/2.0\r\n{vias}From: <sip:a@example.com>;tag=1\r\nTo: <sip:sbc.example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                )),
                &Limits::default(),
            )
            .unwrap()
        };
        let src: SocketAddr = "203.0.113.7:40123".parse().unwrap();
        let mut m = msg("Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.9.9.9\r\nVia: SIP/2.0/UDP 10.1.1.1\r\n");
        assert!(stamp_via(&mut m, src));
        let vias: Vec<&str> = m.values(&HeaderName::Via).collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123",
                "SIP/2.0/UDP 10.9.9.9",
                "SIP/2.0/UDP 10.1.1.1"
            ]
        );
        let top = m.via().unwrap();
        assert_eq!(top.rport(), Some(Some(40123)));
        assert_eq!(top.received(), Some("203.0.113.7"));
        // Without rport only received is added, and only when the host differs.
        let mut m = msg("Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\n");
        assert!(stamp_via(&mut m, src));
        assert_eq!(
            m.header(&HeaderName::Via),
            Some("SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1;received=203.0.113.7")
        );
        let mut m = msg("Via: SIP/2.0/UDP 203.0.113.7:40123;branch=z9hG4bK1\r\n");
        assert!(!stamp_via(&mut m, src));
        // rport with the same host still gets both (RFC 3581 §4).
        let mut m = msg("Via: SIP/2.0/UDP 203.0.113.7;branch=z9hG4bK1;rport\r\n");
        assert!(stamp_via(&mut m, src));
        assert_eq!(m.via().unwrap().rport(), Some(Some(40123)));
    }

    #[test]
    fn detect_reports_each_sign() {
        let msg = |via: &str, contact: &str, c_line: &str| {
            let body = format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 {c_line}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
            let text = format!(
                "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK1;rport\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <{contact}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            Message::parse(Bytes::from(text), &Limits::default()).unwrap()
        };
        let flow = Flow::udp("192.0.2.10:5060".parse().unwrap());
        let clean = detect(
            &msg("192.0.2.10:5060", "sip:a@192.0.2.10", "192.0.2.10"),
            &flow,
        );
        assert_eq!(clean, NatSigns::default());
        assert!(!clean.behind_nat());
        let natted = detect(&msg("10.0.0.2:5060", "sip:a@10.0.0.2", "10.0.0.2"), &flow);
        assert!(natted.via_differs && natted.private_contact && natted.private_sdp);
        assert!(natted.behind_nat());
        let sdp_only = detect(&msg("192.0.2.10", "sip:a@192.0.2.10", "100.64.1.1"), &flow);
        assert!(sdp_only.private_sdp && !sdp_only.via_differs && sdp_only.behind_nat());
    }
}
