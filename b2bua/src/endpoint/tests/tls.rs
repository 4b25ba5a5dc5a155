//! A TLS route dials TLS verified by that route; a TLS listener takes TLS flows.

use super::*;

/// The test certificate and key of `config/testdata/tls`.
fn test_tls_files() -> (String, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/testdata/tls");
    (format!("{dir}/cert.pem"), format!("{dir}/key.pem"))
}

#[test]
fn a_tls_route_dials_tls_verified_by_that_route_and_a_tls_listener_takes_tls_flows() {
    let (cert, key) = test_tls_files();
    let text = format!(
        r#"
[[interface]]
name = "customer"
listen = [{{ transport = "udp", address = "127.0.0.1:5060" }}, {{ transport = "tls", address = "127.0.0.1:5061" }}]
media_address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 20999
[interface.tls]
certificate = "{cert}"
private_key = "{key}"

[[interface]]
name = "core"
listen = [{{ transport = "udp", address = "127.0.0.1:5080" }}, {{ transport = "tls", address = "127.0.0.1:5081" }}]
media_address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 30999
[interface.tls]
certificate = "{cert}"
private_key = "{key}"

[[route]]
name = "secure-trunk"
from_interface = "customer"
next_hop = "127.0.0.1:5093"
transport = "tls"
to_interface = "core"
[route.tls]
server_name = "trunk.example.net"
"#
    );
    let mut net = Net::with_config(&text);
    // Both TLS listeners are stream listeners marked TLS.
    let tls_listeners: Vec<usize> = net
        .ep
        .sockets()
        .tcp
        .iter()
        .enumerate()
        .filter(|(_, s)| s.transport == Transport::Tls)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(tls_listeners, [0, 1]);
    // A phone on the customer TLS listener: its flow is TLS, its 100 goes back on it.
    let flow = net.ep.accept(net.now, 0, addr(PHONE)).expect("accepted");
    let outs = net.feed(Input::Stream {
        flow,
        bytes: Bytes::from(invite(
            "sip:100@example.com",
            "tls1",
            "TLS 192.168.1.20:5061",
            false,
        )),
    });
    let on_flow = |f: FlowId| {
        outs.iter()
            .filter_map(move |o| match o {
                Output::Stream { flow, out } if *flow == f => {
                    Message::parse(out.bytes.clone(), &Limits::default()).ok()
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(on_flow(flow).iter().any(|m| m.status() == Some(100)));
    // Leg B: a TLS connection to the route's next hop, verified as that route says (index 0),
    // from the core interface's IP, and the INVITE on it says TLS with the core TLS port.
    let (b_flow, bind, remote) = outs
        .iter()
        .find_map(|o| match o {
            Output::Connect {
                flow,
                bind,
                remote,
                tls: Some(TlsPeer::Route(0)),
            } => Some((*flow, *bind, *remote)),
            _ => None,
        })
        .expect("a TLS connection is opened for route 0");
    assert_eq!(
        (bind, remote),
        (addr("127.0.0.1:5081").ip(), addr("127.0.0.1:5093"))
    );
    let b_msgs = on_flow(b_flow);
    let b = b_msgs
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("leg B's INVITE on the TLS flow");
    let via = b.via().unwrap();
    assert!(via.transport.eq_ignore_ascii_case("TLS"), "{via:?}");
    assert_eq!(via.port, Some(5081));
    let contact = b.header(&HeaderName::Contact).unwrap();
    assert!(
        contact.contains("sips:") || contact.contains("transport=tls"),
        "{contact}"
    );
    assert!(datagrams(&outs).is_empty(), "nothing over UDP");
}
