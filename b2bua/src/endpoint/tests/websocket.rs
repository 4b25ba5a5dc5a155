//! SIP over WebSocket on virtual time (RFC 7118, RFC 5626): a browser's REGISTER on a WS flow
//! binds its address-of-record to that flow whatever `.invalid` host its Contact and Via name;
//! the core's call goes down the flow; the binding goes when the flow closes.

use super::*;

/// The customer side with a UDP and a WS listener (stream listener 0), the core on UDP.
const WS_CONFIG: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }, { transport = "ws", address = "127.0.0.1:8080" }]
media_address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }]
media_address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 30999

[[route]]
name = "default"
from_interface = "customer"
request_domain = "example.com"
next_hop = "127.0.0.1:5090"
to_interface = "core"
"#;

fn register(auth: &str, cseq: u32) -> String {
    format!(
        "REGISTER sip:office.example.net SIP/2.0\r\n\
         Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws{cseq}\r\nMax-Forwards: 70\r\n\
         From: <sip:alice@office.example.net>;tag=w\r\nTo: <sip:alice@office.example.net>\r\n\
         Call-ID: wsreg\r\nCSeq: {cseq} REGISTER\r\nSupported: path, outbound, gruu\r\n\
         Contact: <sip:r7qvm3ua@3t5f8gd7k2ld.invalid;transport=ws;ob>;reg-id=1;\
         +sip.instance=\"<urn:uuid:6f4a1c2e-7a5b-4d3e-9f10-aa11bb22cc33>\";expires=600\r\n\
         {auth}Content-Length: 0\r\n\r\n"
    )
}

/// The messages sent on `flow` among `outs`.
fn on_flow(outs: &[Output], flow: FlowId) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Stream { flow: f, out } if *f == flow => {
                Message::parse(out.bytes.clone(), &Limits::default()).ok()
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_browser_registered_on_a_ws_flow_gets_its_calls_there_until_the_flow_closes() {
    let mut net = Net::with_config(&format!("{WS_CONFIG}\n{REALM}"));
    let ws: Vec<Transport> = net.ep.sockets().tcp.iter().map(|s| s.transport).collect();
    assert_eq!(ws, [Transport::Ws]);
    let flow = net.ep.accept(net.now, 0, addr(PHONE)).expect("accepted");
    let outs = net.feed(Input::Stream {
        flow,
        bytes: Bytes::from(register("", 1)),
    });
    let challenge = on_flow(&outs, flow)
        .into_iter()
        .find(|m| m.status() == Some(401))
        .expect("401 on the WebSocket");
    let auth = format!(
        "Authorization: {}\r\n",
        authorization(&challenge, "REGISTER", "sip:office.example.net")
    );
    let outs = net.feed(Input::Stream {
        flow,
        bytes: Bytes::from(register(&auth, 2)),
    });
    let ok = on_flow(&outs, flow)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("200 on the WebSocket");
    assert!(ok
        .header(&HeaderName::Contact)
        .is_some_and(|c| c.contains("3t5f8gd7k2ld.invalid")));
    // The core calls alice: the INVITE goes down her WebSocket, not to the `.invalid` host.
    let outs = net.udp(
        1,
        UAS,
        &invite(
            "sip:alice@office.example.net",
            "ws-in1",
            "UDP 127.0.0.1:5090",
            false,
        ),
    );
    let inv = on_flow(&outs, flow)
        .into_iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .expect("INVITE on the WebSocket");
    assert_eq!(
        inv.uri(),
        Some("sip:r7qvm3ua@3t5f8gd7k2ld.invalid;transport=ws;ob")
    );
    assert_eq!(inv.via().unwrap().transport, "WS");
    assert!(datagrams(&outs)
        .iter()
        .all(|(_, _, m)| m.method() != Some(&Method::Invite)));
    // The browser closes the tab: the binding goes, the core's next call gets 480.
    net.feed(Input::Closed {
        flow,
        unsent: Vec::new(),
        why: "websocket closed".into(),
    });
    let outs = net.udp(
        1,
        UAS,
        &invite(
            "sip:alice@office.example.net",
            "ws-in2",
            "UDP 127.0.0.1:5090",
            false,
        ),
    );
    find(&outs, "480");
}
