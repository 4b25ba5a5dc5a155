//! The Via edits of the transport layer: `received` and `rport` on receipt (RFC 3261 §18.2.1,
//! RFC 3581 §4), the address a response goes to when its connection is gone (RFC 3261 §18.2.2,
//! RFC 3581 §4), and the top Via's transport when a request changes transport (§18.1.1).

use super::Transport;
use sbc_common::sip::{split_list, HeaderName, Message, Via};
use std::net::{IpAddr, SocketAddr};

/// The default SIP port for a transport (RFC 3261 §19.1.2, §18.2.2).
pub fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Udp | Transport::Tcp => 5060,
        Transport::Tls => 5061,
        Transport::Ws => 80,
        Transport::Wss => 443,
    }
}

/// The `host` of a sent-by, IPv6 in brackets (RFC 3261 §25.1).
fn hostport(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// Rewrites the first via-parm of the top Via header with `edit` (which gets the parsed Via and
/// returns the new via-parm text), keeping any further via-parms and headers as they are.
fn edit_top_via(msg: &mut Message, edit: impl FnOnce(&Via<'_>) -> Option<String>) -> bool {
    let Some(index) = msg
        .headers()
        .iter()
        .position(|h| *h.name() == HeaderName::Via)
    else {
        return false;
    };
    let new_value = {
        let Some(value) = msg.headers().get(index).map(|h| h.value()) else {
            return false;
        };
        let mut parms = split_list(value);
        if parms.next().is_none() {
            return false;
        }
        // The first via-parm of the first Via header, as the view cache already parsed it.
        let Some(mut new_value) = msg.via().and_then(|v| edit(&v)) else {
            return false;
        };
        for p in parms {
            new_value.push_str(", ");
            new_value.push_str(p);
        }
        new_value
    };
    // In place: the other headers, and the views of From, To and CSeq, stay where they are.
    msg.replace_header(index, HeaderName::Via, new_value)
}

/// The via-parm `via` with parameters named in `drop` removed and `extra` appended.
fn with_params(via: &Via<'_>, drop: &[&str], extra: &[String]) -> String {
    let port = via.port.map(|p| format!(":{p}")).unwrap_or_default();
    let mut s = format!(
        "{}/{}/{} {}{}",
        via.protocol, via.version, via.transport, via.host, port
    );
    for (name, value) in via.params.iter() {
        if drop.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            continue;
        }
        s.push(';');
        s.push_str(name);
        if let Some(v) = value {
            s.push('=');
            s.push_str(v);
        }
    }
    for e in extra {
        s.push(';');
        s.push_str(e);
    }
    s
}

/// Stamps a received request's top Via with where it came from: `received` when the sent-by
/// host is not the source IP (RFC 3261 §18.2.1), and with `rport` requested, `rport=<port>` and
/// `received` always (RFC 3581 §4). Returns whether the Via changed.
pub fn stamp_received(msg: &mut Message, source: SocketAddr) -> bool {
    if !msg.is_request() {
        return false;
    }
    edit_top_via(msg, |via| {
        let wants_rport = via.rport().is_some();
        let same_host = via.host_ip() == Some(source.ip());
        if same_host && !wants_rport {
            return None;
        }
        let mut extra = vec![format!("received={}", source.ip())];
        if wants_rport {
            extra.push(format!("rport={}", source.port()));
        }
        Some(with_params(via, &["received", "rport"], &extra))
    })
}

/// Where a response goes when the connection its request came on is gone: the top Via's
/// `received` (else its sent-by host, when an IP) and `rport` (else the sent-by port, else the
/// transport's default) (RFC 3261 §18.2.2, RFC 3581 §4). Names are never resolved.
pub fn response_target(msg: &Message) -> Option<SocketAddr> {
    let via = msg.via()?;
    let ip: IpAddr = match via.received() {
        Some(r) => r.trim_matches(|c| c == '[' || c == ']').parse().ok()?,
        None => via.host_ip()?,
    };
    let transport = match via.transport.to_ascii_uppercase().as_str() {
        "TLS" => Transport::Tls,
        "TCP" => Transport::Tcp,
        // A WebSocket client cannot be reached on a new connection (RFC 7118 §5).
        "WS" | "WSS" => return None,
        _ => Transport::Udp,
    };
    let port = via
        .rport()
        .flatten()
        .or(via.port)
        .unwrap_or_else(|| default_port(transport));
    Some(SocketAddr::new(ip, port))
}

/// Moves a request the SBC built to another transport: its top Via (the SBC's own) gets the new
/// transport token and `sent_by`, the SBC's listening address on it (RFC 3261 §18.1.1: "the
/// value in the top Via MUST be changed"). Returns whether the Via changed.
pub fn set_top_via_transport(msg: &mut Message, transport: Transport, sent_by: SocketAddr) -> bool {
    if !msg.is_request() {
        return false;
    }
    edit_top_via(msg, |via| {
        let params = with_params(via, &[], &[]);
        let after_sent_by = params
            .find(';')
            .map_or("", |i| params.get(i..).unwrap_or(""));
        Some(format!(
            "{}/{}/{} {}{}",
            via.protocol,
            via.version,
            transport.via_token(),
            hostport(sent_by),
            after_sent_by
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sbc_common::sip::Limits;

    fn request(via: &str) -> Message {
        let text = format!(
            "BYE sip:b@example.com SIP/2.0\r\nVia: {via}\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKold\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: v1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    fn top(m: &Message) -> String {
        m.header(&HeaderName::Via).unwrap().to_owned()
    }

    #[test]
    fn rport_gets_the_source_port_and_received_even_for_the_same_host() {
        let mut m = request("SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKa;rport");
        assert!(stamp_received(&mut m, "127.0.0.1:40123".parse().unwrap()));
        assert_eq!(
            top(&m),
            "SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKa;received=127.0.0.1;rport=40123"
        );
        assert_eq!(
            m.values(&HeaderName::Via).count(),
            2,
            "the second Via stays"
        );
        assert_eq!(
            response_target(&m),
            Some("127.0.0.1:40123".parse().unwrap())
        );
    }

    #[test]
    fn received_only_when_the_host_differs_and_no_rport() {
        let mut m = request("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKb");
        assert!(stamp_received(&mut m, "127.0.0.2:5060".parse().unwrap()));
        assert_eq!(
            top(&m),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKb;received=127.0.0.2"
        );
        assert_eq!(response_target(&m), Some("127.0.0.2:5060".parse().unwrap()));
        let mut same = request("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc");
        let before = same.to_bytes();
        assert!(!stamp_received(
            &mut same,
            "127.0.0.1:5060".parse().unwrap()
        ));
        assert_eq!(same.to_bytes(), before);
    }

    #[test]
    fn ipv6_received_has_no_brackets_and_comma_lists_keep_their_tail() {
        let mut m = request("SIP/2.0/TCP [::1]:5070;branch=z9hG4bKd;rport, SIP/2.0/UDP 192.0.2.8");
        assert!(stamp_received(&mut m, "[::1]:40000".parse().unwrap()));
        assert_eq!(
            top(&m),
            "SIP/2.0/TCP [::1]:5070;branch=z9hG4bKd;received=::1;rport=40000, SIP/2.0/UDP 192.0.2.8"
        );
        assert_eq!(response_target(&m), Some("[::1]:40000".parse().unwrap()));
    }

    #[test]
    fn response_target_falls_back_to_sent_by_then_default_port() {
        let m = request("SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKe");
        assert_eq!(response_target(&m), Some("127.0.0.1:5060".parse().unwrap()));
        let m = request("SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKe");
        assert_eq!(response_target(&m), Some("127.0.0.1:5061".parse().unwrap()));
        let m = request("SIP/2.0/TCP host.example.com:5070;branch=z9hG4bKe");
        assert_eq!(response_target(&m), None, "names are never resolved");
    }

    #[test]
    fn a_request_moved_to_tcp_says_so_in_its_top_via() {
        let mut m = request("SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKf;rport");
        assert!(set_top_via_transport(
            &mut m,
            Transport::Tcp,
            "127.0.0.1:5081".parse().unwrap()
        ));
        assert_eq!(top(&m), "SIP/2.0/TCP 127.0.0.1:5081;branch=z9hG4bKf;rport");
        let mut v6 = request("SIP/2.0/UDP [::1]:5080;branch=z9hG4bKg");
        set_top_via_transport(&mut v6, Transport::Tcp, "[::1]:5080".parse().unwrap());
        assert_eq!(top(&v6), "SIP/2.0/TCP [::1]:5080;branch=z9hG4bKg");
    }
}
