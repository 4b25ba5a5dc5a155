//! Named next hops on virtual time: the endpoint asks for each configured name at start and
//! when its answer's TTL runs out, routes by what came back, answers 503 while a name resolves
//! to nothing, and never asks for a name taken from a message (RFC 3263; no open relay).

use super::*;
use crate::routing::ResolvedHop;

const NAMED: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]
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
name = "trunk"
from_interface = "customer"
next_hop = "sip:trunk.example.net"
to_interface = "core"
"#;

fn resolves(outs: &[Output]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Resolve { name, .. } => Some(name.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_configured_name_is_asked_for_routed_by_and_asked_again_when_its_ttl_runs_out() {
    let mut net = Net::with_config(NAMED);
    // Due at once: the first timer asks for it, exactly once while the question is out.
    assert!(net.ep.poll_timeout().is_some_and(|t| t <= net.now));
    let outs = net.feed(Input::Timer);
    assert_eq!(resolves(&outs), ["sip:trunk.example.net"]);
    assert!(resolves(&net.feed(Input::Timer)).is_empty());
    // Until it resolves, a call finds no usable route: 503.
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@example.com", "n1", "UDP 192.168.1.20:5060", false),
    );
    let (_, to, refused) = find(&outs, "503");
    assert_eq!(to, addr(PHONE));
    assert_eq!(refused.reason(), Some("Next Hop Not Resolved"));
    // The answer: the call goes to the resolved address; nothing to the Request-URI's host.
    let name = net.ep.cfg.routes[0].next_hop.name().unwrap().clone();
    let hop = ResolvedHop {
        addr: addr("127.0.0.1:5094"),
        priority: 10,
        weight: 0,
    };
    net.feed(Input::Resolved {
        name: name.clone(),
        result: Resolution::Found(vec![hop], Duration::from_secs(60)),
    });
    let outs = net.udp(
        0,
        PHONE,
        &invite("sip:100@example.com", "n2", "UDP 192.168.1.20:5060", false),
    );
    let (socket, to, _) = find(&outs, "INVITE");
    assert_eq!((socket, to), (1, addr("127.0.0.1:5094")));
    // Asked again when the TTL (60 s) runs out, not before.
    net.advance(Duration::from_secs(59));
    assert!(resolves(&net.feed(Input::Timer)).is_empty());
    net.advance(Duration::from_secs(1));
    assert_eq!(resolves(&net.feed(Input::Timer)), ["sip:trunk.example.net"]);
    // A failure is retried after 5 s.
    net.feed(Input::Resolved {
        name,
        result: Resolution::Failed("timed out".into()),
    });
    net.advance(Duration::from_secs(5));
    assert_eq!(resolves(&net.feed(Input::Timer)), ["sip:trunk.example.net"]);
}

#[test]
fn a_reload_asks_for_new_names_and_forgets_old_ones() {
    let mut net = Net::with_config(NAMED);
    net.feed(Input::Timer);
    let text = NAMED.replace(
        "sip:trunk.example.net",
        "sip:other.example.net;transport=udp",
    );
    let cfg = Config::from_toml_str(&text, "t.toml").unwrap();
    net.feed(Input::Reload(Arc::new(cfg)));
    assert_eq!(
        resolves(&net.feed(Input::Timer)),
        ["sip:other.example.net;transport=udp"]
    );
}
