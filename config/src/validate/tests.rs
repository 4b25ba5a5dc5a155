//! One precise error per broken config: field path, line and message.

use crate::{Config, ConfigError};

/// A valid base config; tests edit it and expect one precise error.
const BASE: &str = r#"[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }, { transport = "tcp", address = "127.0.0.1:5080" }]
rtp_port_min = 30000
rtp_port_max = 30999

[[route]]
name = "a"
from_interface = "customer"
next_hop = "127.0.0.1:5090"
to_interface = "core"

[[route]]
name = "b"
from_interface = "customer"
next_hop = "127.0.0.1:5091"
to_interface = "core"
"#;

const REALM: &str = r#"
[[realm]]
domain = "office.example.net"
mode = "local"

[[user]]
username = "alice"
realm = "office.example.net"
password = "alice-password"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "t.toml")
}

/// Loads `text`, expects an error, and returns (field, line, full message).
fn err(text: &str) -> (String, Option<usize>, String) {
    let e = load(text).unwrap_err();
    (e.field().unwrap_or("").to_owned(), e.line(), e.to_string())
}

/// 1-based line of the first occurrence of `needle`.
fn line(text: &str, needle: &str) -> Option<usize> {
    Some(text[..text.find(needle).unwrap()].matches('\n').count() + 1)
}

#[test]
fn base_is_valid() {
    load(BASE).unwrap();
    load(&format!("{BASE}{REALM}")).unwrap();
}

#[test]
fn host_name_next_hop() {
    // A name is located over DNS when the SBC runs (RFC 3263); a malformed one is refused.
    let text = BASE.replace("127.0.0.1:5091", "core.example.com:5060");
    let cfg = load(&text).unwrap();
    assert_eq!(
        cfg.routes[1].next_hop.to_string(),
        "sip:core.example.com:5060"
    );
    let text = BASE.replace("127.0.0.1:5091", "core_example:5060");
    assert_eq!(
        err(&text).2,
        "t.toml:22: route[1].next_hop: \"core_example:5060\" is neither an ip:port nor a SIP URI or host name with a domain"
    );
    // The interface must speak the name's transport.
    let text = BASE.replace("127.0.0.1:5091", "sips:core.example.com");
    let (field, _, msg) = err(&text);
    assert!(field.starts_with("route[1]"), "{field}: {msg}");
}

#[test]
fn no_interfaces() {
    assert_eq!(
        err("").2,
        "t.toml: interface: at least one [[interface]] is needed"
    );
}

#[test]
fn duplicate_names() {
    let text = BASE.replace("name = \"core\"", "name = \"customer\"");
    assert_eq!(
        err(&text).2,
        "t.toml:8: interface[1].name: duplicate interface name \"customer\""
    );
    let text = BASE.replace("name = \"b\"", "name = \"a\"");
    assert_eq!(
        err(&text).2,
        "t.toml:20: route[1].name: duplicate route name \"a\""
    );
    let text = format!(
        "{BASE}{REALM}\n[[user]]\nusername = \"alice\"\nrealm = \"OFFICE.example.net\"\npassword = \"x\"\n"
    );
    let (field, l, _) = err(&text);
    assert_eq!(field, "user[1].username");
    assert_eq!(l, line(&text, "alice\"\nrealm = \"OFFICE"));
}

#[test]
fn unknown_interfaces_and_routes() {
    let text = BASE.replacen("to_interface = \"core\"", "to_interface = \"corr\"", 1);
    assert_eq!(
        err(&text).2,
        "t.toml:17: route[0].to_interface: unknown interface \"corr\""
    );
    let text = BASE.replacen(
        "from_interface = \"customer\"",
        "from_interface = \"cust\"",
        1,
    );
    assert_eq!(
        err(&text),
        (
            "route[0].from_interface".into(),
            Some(15),
            "t.toml:15: route[0].from_interface: unknown interface \"cust\"".into()
        )
    );
    let text = format!("{BASE}forward_on = \"zzz\"\n");
    assert_eq!(
        err(&text).2,
        "t.toml:24: route[1].forward_on: unknown route \"zzz\""
    );
    let text = format!("{BASE}forward_on = \"b\"\n");
    assert_eq!(
        err(&text).2,
        "t.toml:24: route[1].forward_on: a route cannot forward to itself"
    );
    let text = format!("{BASE}forward_on = \"a\"\n").replacen(
        "to_interface = \"core\"\n",
        "to_interface = \"core\"\nforward_on = \"b\"\n",
        1,
    );
    let (field, l, msg) = err(&text);
    assert_eq!((field.as_str(), l), ("route[0].forward_on", Some(18)));
    assert!(
        msg.ends_with("forwarding from \"a\" loops back through \"a\""),
        "{msg}"
    );
}

#[test]
fn egress_interface_must_have_transport_and_family() {
    let text = format!("{BASE}transport = \"tcp\"\n").replacen(
        "to_interface = \"core\"",
        "to_interface = \"customer\"\ntransport = \"tcp\"",
        1,
    );
    assert_eq!(
        err(&text).2,
        "t.toml:17: route[0].to_interface: interface \"customer\" has no tcp listen entry"
    );
    let text = BASE.replace("127.0.0.1:5091", "[2001:db8::1]:5060");
    assert_eq!(
        err(&text).2,
        "t.toml:23: route[1].to_interface: interface \"core\" has no IPv6 udp listen entry to reach [2001:db8::1]:5060"
    );
}

#[test]
fn bad_addresses_and_cidrs() {
    let text = format!("{BASE}from_addresses = [\"198.51.100.0/24\", \"192.0.2.1/24\"]\n");
    assert_eq!(
        err(&text).2,
        "t.toml:24: route[1].from_addresses[1]: \"192.0.2.1/24\" is not a valid CIDR: 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)"
    );
    let text = format!("{BASE}from_addresses = [\"trunk.example.com\"]\n");
    let (field, l, msg) = err(&text);
    assert_eq!(
        (field.as_str(), l),
        ("route[1].from_addresses[0]", Some(24))
    );
    assert!(msg.contains("never resolves names"));
    let text = BASE.replace("127.0.0.1:5080\" }, {", "127.0.0.1\" }, {");
    assert_eq!(
        err(&text).2,
        "t.toml:9: interface.core.listen[0].address: \"127.0.0.1\" is not an ip:port (the port is missing)"
    );
    let text = BASE.replace(
        "rtp_port_min = 30000",
        "advertised = \"gw.example.com\"\nrtp_port_min = 30000",
    );
    let (field, l, _) = err(&text);
    assert_eq!((field.as_str(), l), ("interface.core.advertised", Some(10)));
    let text = BASE.replace("127.0.0.1:5060", "0.0.0.0:5060");
    let (field, l, msg) = err(&text);
    assert_eq!(
        (field.as_str(), l),
        ("interface.customer.listen[0].address", Some(3))
    );
    assert!(msg.contains("set `advertised`"), "{msg}");
    let text = BASE
        .replace(
            "name = \"customer\"",
            "name = \"customer\"\nadvertised = \"203.0.113.5\"",
        )
        .replace("127.0.0.1:5060", "0.0.0.0:5060");
    load(&text).unwrap();
    // Two interfaces on the same socket.
    let text = BASE.replacen("127.0.0.1:5080", "127.0.0.1:5060", 1);
    assert_eq!(
        err(&text).2,
        "t.toml:9: interface.core.listen[0].address: udp 127.0.0.1:5060 is already used by interface.customer.listen[0].address"
    );
}

#[test]
fn rtp_port_ranges() {
    let text = BASE.replace("rtp_port_min = 20000", "rtp_port_min = 20001");
    assert_eq!(
        err(&text).2,
        "t.toml:4: interface.customer.rtp_port_min: 20001 must be even (RTP uses even ports, RTCP the next odd one)"
    );
    let text = BASE.replace("rtp_port_max = 30999", "rtp_port_max = 31000");
    let (field, l, _) = err(&text);
    assert_eq!(
        (field.as_str(), l),
        ("interface.core.rtp_port_max", Some(11))
    );
    let text = BASE.replace("rtp_port_min = 20000", "rtp_port_min = 1000");
    let (field, l, msg) = err(&text);
    assert_eq!(
        (field.as_str(), l),
        ("interface.customer.rtp_port_min", Some(4))
    );
    assert!(msg.ends_with("1000 is outside 1024..=65535"));
    let text = BASE.replace("rtp_port_min = 20000", "rtp_port_min = 22000");
    let (field, _, msg) = err(&text);
    assert_eq!(field, "interface.customer.rtp_port_min");
    assert!(msg.ends_with("22000 must be below rtp_port_max (20999)"));
    // Overlapping ranges on the same media address.
    let text = BASE.replace("rtp_port_min = 30000", "rtp_port_min = 20500");
    let (field, l, msg) = err(&text);
    assert_eq!(
        (field.as_str(), l),
        ("interface.core.rtp_port_min", Some(10))
    );
    assert!(msg.contains("overlap interface[0]"), "{msg}");
    // Different media addresses may reuse ports.
    let text = text.replace(
        "rtp_port_min = 20500",
        "media_address = \"127.0.0.2\"\nrtp_port_min = 20500",
    );
    load(&text).unwrap();
    // A range covering a SIP UDP port.
    let text = BASE.replace("rtp_port_min = 20000", "rtp_port_min = 5000");
    let (_, _, msg) = err(&text);
    assert!(msg.contains("include SIP port 5060"), "{msg}");
    // A default range (20000-29999) is used when the keys are absent.
    let text = BASE
        .replace("rtp_port_min = 20000\n", "")
        .replace("rtp_port_max = 20999\n", "");
    let cfg = load(&text).unwrap();
    assert_eq!(cfg.interfaces[0].rtp_port_max, 29999);
}

#[test]
fn sip_timers_and_limits() {
    let text = format!("{BASE}\n[sip]\nt1_ms = 5000\nt2_ms = 4000\n");
    assert_eq!(
        err(&text).2,
        "t.toml:27: sip.t2_ms: 4000 ms must be above t1_ms (5000 ms)"
    );
    let text = format!("{BASE}\n[sip]\nt1_ms = 0\n");
    assert_eq!(err(&text).2, "t.toml:26: sip.t1_ms: must be above 0");
    let text = format!("{BASE}\n[sip]\nt4_ms = 0\n");
    assert_eq!(err(&text).0, "sip.t4_ms");
    let text = format!("{BASE}\n[sip]\nmin_se_s = 60\n");
    assert_eq!(err(&text).0, "sip.min_se_s");
    let text = format!("{BASE}\n[sip]\nsession_expires_s = 100\nmin_se_s = 120\n");
    assert_eq!(err(&text).0, "sip.session_expires_s");
    let text = format!("{BASE}\n[sip]\nmax_header_bytes = 100000\n");
    assert_eq!(err(&text).0, "sip.max_header_bytes");
    let text = format!("{BASE}\n[sip]\ntcp_max_connections = 0\n");
    assert_eq!(err(&text).0, "sip.tcp_max_connections");
    let text =
        format!("{BASE}\n[sip]\ntcp_max_connections = 10\ntcp_max_connections_per_source = 11\n");
    assert_eq!(err(&text).0, "sip.tcp_max_connections_per_source");
    let cfg = load(&format!("{BASE}\n[sip]\ntcp_idle_timeout_s = 0\n")).unwrap();
    assert_eq!(cfg.sip.tcp_idle_timeout(), None);
    assert!(
        cfg.routes.iter().all(|r| r.large_requests_over_tcp),
        "on by default"
    );
    let text = format!("{BASE}\n[sip]\nheader_whitelist = [\"X-Foo\", \"Call-ID\"]\n");
    let (field, l, msg) = err(&text);
    assert_eq!((field.as_str(), l), ("sip.header_whitelist[1]", Some(26)));
    assert!(msg.contains("built by the B2BUA"), "{msg}");
    let text = format!("{BASE}\n[sip]\nheader_whitelist = [\"X-Foo\", \"x-foo\"]\n");
    assert_eq!(err(&text).0, "sip.header_whitelist[1]");
    let text = format!("{BASE}\n[relay]\nio_backend = \"epoll\"\n");
    let (field, l, _) = err(&text);
    assert_eq!((field.as_str(), l), ("relay.io_backend", Some(26)));
    let text = format!("{BASE}\n[relay]\nlearning_window_packets = 0\n");
    assert_eq!(err(&text).0, "relay.learning_window_packets");
    let text = format!("{BASE}\n[relay]\nrealtime_priority = 100\n");
    let (field, l, msg) = err(&text);
    assert_eq!((field.as_str(), l), ("relay.realtime_priority", Some(26)));
    assert!(msg.contains("100 is over 99"), "{msg}");
    let text = format!("{BASE}\n[relay]\nrealtime_priority = 300\n");
    assert_eq!(err(&text).0, "relay.realtime_priority");
}

#[test]
fn websocket_listeners_need_tls_for_wss_and_are_not_next_hops() {
    let ws = BASE.replacen(
        "listen = [{ transport = \"udp\", address = \"127.0.0.1:5060\" }]",
        "listen = [{ transport = \"udp\", address = \"127.0.0.1:5060\" }, { transport = \"ws\", address = \"127.0.0.1:8080\" }]\nwebsocket_origins = [\"https://phone.example.com\"]",
        1,
    );
    let cfg = Config::from_toml_str(&ws, "t.toml").unwrap();
    assert_eq!(
        cfg.interfaces[0].websocket_origins,
        ["https://phone.example.com"]
    );
    let wss = ws.replace("\"ws\"", "\"wss\"");
    let (field, _, msg) = err(&wss);
    assert_eq!(field, "interface.customer.listen[1].transport", "{msg}");
    assert!(
        msg.contains("a wss listener needs [interface.tls]"),
        "{msg}"
    );
    let route = BASE.replacen(
        "to_interface = \"core\"\n",
        "to_interface = \"core\"\ntransport = \"ws\"\n",
        1,
    );
    let (field, _, msg) = err(&route);
    assert_eq!(field, "route[0].transport", "{msg}");
}

#[test]
fn remote_relays_are_checked_and_refuse_what_only_the_in_process_relay_does() {
    let remote = "\n[relay]\nremote = [{ ng = \"127.0.0.1:22222\" }, { ng = \"127.0.0.1:22223\", weight = 0 }]\n";
    let (field, _, msg) = err(&format!("{BASE}{remote}"));
    assert_eq!(field, "relay.remote[1].weight", "{msg}");
    let ok = "\n[relay]\nremote = [{ ng = \"127.0.0.1:22222\", weight = 3 }]\n";
    let cfg = Config::from_toml_str(&format!("{BASE}{ok}"), "t.toml").unwrap();
    assert_eq!(cfg.relay.remote[0].weight, 3);
    assert_eq!(cfg.relay.remote_timeout_ms, 300);
    let srtp = BASE.replacen(
        "rtp_port_max = 20999\n",
        "rtp_port_max = 20999\nsrtp = \"optional\"\n",
        1,
    );
    let (field, _, msg) = err(&format!("{srtp}{ok}"));
    assert_eq!(field, "interface.customer.srtp", "{msg}");
    assert!(msg.contains("in-process relay"), "{msg}");
    let ice = BASE.replacen(
        "rtp_port_max = 30999\n",
        "rtp_port_max = 30999\nice = \"lite\"\n",
        1,
    );
    assert_eq!(err(&format!("{ice}{ok}")).0, "interface.core.ice");
    let bad_addr = "\n[relay]\nremote = [{ ng = \"relay.example.com\" }]\n";
    assert_eq!(err(&format!("{BASE}{bad_addr}")).0, "relay.remote[0].ng");
}

#[test]
fn users_need_exactly_one_secret() {
    let both = format!("{BASE}{REALM}ha1 = \"0123456789abcdef0123456789abcdef\"\n");
    let (field, l, msg) = err(&both);
    assert_eq!((field.as_str(), l), ("user[0].ha1", line(&both, "ha1 =")));
    assert!(msg.ends_with("give either `password` or `ha1`, not both"));
    let neither = format!("{BASE}{REALM}").replace("password = \"alice-password\"\n", "");
    assert_eq!(
        err(&neither).2,
        format!(
            "t.toml:{}: user[0]: needs `password` or `ha1`",
            line(&neither, "[[user]]").unwrap()
        )
    );
    let short_ha1 =
        format!("{BASE}{REALM}").replace("password = \"alice-password\"", "ha1 = \"abc123\"");
    let (field, _, msg) = err(&short_ha1);
    assert_eq!(field, "user[0].ha1");
    assert!(msg.ends_with("has 6 hex digits; expected 32 for MD5 or 64 for SHA-256"));
    let sha = format!("{BASE}{REALM}").replace(
        "password = \"alice-password\"",
        "ha1 = \"0123456789abcdef0123456789abcdef\"\nalgorithm = \"SHA-256\"",
    );
    assert!(err(&sha).2.ends_with("expected 64 for SHA-256"));
    let not_offered =
        format!("{BASE}{REALM}algorithm = \"MD5\"\n\n[auth]\nalgorithms = [\"SHA-256\"]\n");
    assert_eq!(err(&not_offered).0, "user[0].algorithm");
    let unknown_realm = format!("{BASE}{REALM}").replace(
        "realm = \"office.example.net\"",
        "realm = \"other.example.net\"",
    );
    // The realm now has no users either, but the user's reference is reported... after
    // realm checks, which run first: the realm complains that nobody can authenticate.
    assert_eq!(err(&unknown_realm).0, "realm[0].auth_required");
    let unknown_realm = unknown_realm.replace(
        "mode = \"local\"",
        "mode = \"local\"\nauth_required = false",
    );
    assert_eq!(
        err(&unknown_realm).2,
        format!(
            "t.toml:{}: user[0].realm: unknown realm \"other.example.net\"",
            line(&unknown_realm, "realm = \"other").unwrap()
        )
    );
}

#[test]
fn realm_rules() {
    let fwd = format!("{BASE}{REALM}").replace("mode = \"local\"", "mode = \"forward\"");
    assert_eq!(
        err(&fwd).2,
        format!(
            "t.toml:{}: realm[0].registrar: mode = \"forward\" needs `registrar` (the core registrar's ip:port)",
            line(&fwd, "[[realm]]").unwrap()
        )
    );
    let fwd = fwd.replace(
        "mode = \"forward\"",
        "mode = \"forward\"\nregistrar = \"127.0.0.1:5070\"\nregistrar_interface = \"core\"",
    );
    load(&fwd).unwrap();
    let bad = fwd.replace(
        "registrar_interface = \"core\"",
        "registrar_interface = \"core\"\ncustomer_expires_s = 3600\ncore_expires_s = 600",
    );
    assert_eq!(
        err(&bad).2,
        format!(
            "t.toml:{}: realm[0].customer_expires_s: 3600 s must not exceed core_expires_s (600 s)",
            line(&bad, "customer_expires_s").unwrap()
        )
    );
    let no_ifc = fwd.replace("registrar_interface = \"core\"\n", "");
    assert_eq!(err(&no_ifc).0, "realm[0].registrar_interface");
    let local_with_registrar = format!("{BASE}{REALM}").replace(
        "mode = \"local\"",
        "mode = \"local\"\nregistrar = \"127.0.0.1:5070\"",
    );
    assert_eq!(err(&local_with_registrar).0, "realm[0].registrar");
    let dup =
        format!("{BASE}{REALM}\n[[realm]]\ndomain = \"Office.Example.NET\"\nmode = \"local\"\n");
    assert_eq!(err(&dup).0, "realm[1].domain");
    let mode = format!("{BASE}{REALM}").replace("mode = \"local\"", "mode = \"proxy\"");
    let (field, l, _) = err(&mode);
    assert_eq!(
        (field.as_str(), l),
        ("realm[0].mode", line(&mode, "mode ="))
    );
}

#[test]
fn auth_limits_admin() {
    let text = format!("{BASE}\n[admin]\ntoken = \"short\"\n");
    assert_eq!(
        err(&text).2,
        "t.toml:26: admin.token: is 5 characters; use at least 16"
    );
    assert!(!err(&text).2.contains("short\""));
    let text = format!("{BASE}\n[admin]\nlisten = \"0.0.0.0:9090\"\n");
    let (field, l, msg) = err(&text);
    assert_eq!((field.as_str(), l), ("admin.listen", Some(26)));
    assert!(msg.contains("set admin.token"));
    let text =
        format!("{BASE}\n[admin]\nlisten = \"0.0.0.0:9090\"\ntoken = \"0123456789abcdef\"\n");
    load(&text).unwrap();
    let text = format!("{BASE}\n[admin]\nlisten = \"127.0.0.1:5080\"\n");
    assert!(err(&text)
        .2
        .contains("already used by SIP on interface \"core\""));
    let text = format!("{BASE}\n[auth]\nsecret = \"tiny\"\n");
    assert_eq!(err(&text).0, "auth.secret");
    let text = format!("{BASE}\n[auth]\nalgorithms = []\n");
    assert_eq!(err(&text).0, "auth.algorithms");
    let text = format!("{BASE}\n[auth]\nalgorithms = [\"MD5\", \"md5\"]\n");
    assert_eq!(err(&text).0, "auth.algorithms[1]");
    let text = format!("{BASE}\n[limits]\nsource_rate_per_s = 100\nsource_burst = 10\n");
    assert_eq!(
        err(&text).2,
        "t.toml:27: limits.source_burst: 10 must be at least source_rate_per_s (100)"
    );
    let text = format!("{BASE}\n[limits]\nauth_block_s = 0\n");
    assert_eq!(err(&text).0, "limits.auth_block_s");
    // A defaulted field's error points at its section header.
    let text = format!("{BASE}\n[limits]\nsource_rate_per_s = 500\n");
    assert_eq!(
        err(&text).2,
        "t.toml:25: limits.source_burst: 100 must be at least source_rate_per_s (500)"
    );
}

#[test]
fn route_codes_and_redirects() {
    let text = format!("{BASE}failover_on = [503, 302]\n");
    assert_eq!(
        err(&text).2,
        "t.toml:24: route[1].failover_on[1]: 302 is not a failure status (400-699)"
    );
    let text = format!("{BASE}failover_on = [503, 603]\n");
    assert_eq!(
        err(&text).2,
        "t.toml:24: route[1].failover_on[1]: 603 is a global failure (6xx): no other route may be tried after it (RFC 3261 §16.7)"
    );
    let text = format!("{BASE}forward_codes = [486, 600]\n");
    assert!(Config::from_toml_str(&text, "t.toml").is_ok());
    let text = format!("{BASE}follow_redirects = true\nmax_redirects = 0\n");
    assert_eq!(err(&text).0, "route[1].max_redirects");
    let text = format!("{BASE}request_user = \"+1 555\"\n");
    assert_eq!(err(&text).0, "route[1].request_user");
    let text = format!("{BASE}request_domain = \"bad_domain\"\n");
    assert_eq!(err(&text).0, "route[1].request_domain");
    let text = format!("{BASE}next_hop_port = 5\n");
    let (field, l, _) = err(&text);
    assert_eq!((field.as_str(), l), ("route[1].next_hop_port", Some(24)));
}

#[test]
fn srtp_policies_per_interface_and_route() {
    let text = BASE.replace(
        "rtp_port_max = 20999\n",
        "rtp_port_max = 20999\nsrtp = \"required\"\n",
    );
    let text = text.replace(
        "next_hop = \"127.0.0.1:5091\"\n",
        "next_hop = \"127.0.0.1:5091\"\nsrtp = \"optional\"\n",
    );
    let cfg = load(&text).unwrap();
    assert_eq!(cfg.interfaces[0].srtp, crate::SrtpPolicy::Required);
    assert_eq!(cfg.interfaces[1].srtp, crate::SrtpPolicy::Off);
    assert_eq!(cfg.routes[0].srtp, None);
    assert_eq!(cfg.routes[1].srtp, Some(crate::SrtpPolicy::Optional));
    let bad = text.replace("srtp = \"optional\"", "srtp = \"mandatory\"");
    let (field, at, msg) = err(&bad);
    assert_eq!(field, "route[1].srtp", "{msg}");
    assert_eq!(at, line(&bad, "srtp = \"mandatory\""), "{msg}");
    assert!(
        msg.contains("mandatory") && msg.contains("required"),
        "{msg}"
    );
}

#[test]
fn a_webrtc_profile_implies_dtls_srtp_and_ice_lite_and_refuses_what_contradicts_it() {
    let webrtc = BASE.replacen(
        "rtp_port_max = 20999\n",
        "rtp_port_max = 20999\nprofile = \"webrtc\"\n",
        1,
    );
    let cfg = Config::from_toml_str(&webrtc, "t.toml").unwrap();
    let customer = &cfg.interfaces[0];
    assert_eq!(customer.profile, crate::MediaProfile::Webrtc);
    assert_eq!(customer.media_srtp(), crate::SrtpPolicy::Dtls);
    assert_eq!(customer.media_ice(), crate::IcePolicy::Lite);
    assert_eq!(cfg.interfaces[1].media_srtp(), crate::SrtpPolicy::Off);
    let sdes = webrtc.replacen(
        "profile = \"webrtc\"\n",
        "profile = \"webrtc\"\nsrtp = \"required\"\n",
        1,
    );
    let (field, l, msg) = err(&sdes);
    assert_eq!(field, "interface.customer.srtp", "{msg}");
    assert_eq!(l, line(&sdes, "srtp = "));
    assert!(msg.contains("DTLS-SRTP"), "{msg}");
    let strip = webrtc.replacen(
        "profile = \"webrtc\"\n",
        "profile = \"webrtc\"\nice = \"strip\"\n",
        1,
    );
    assert_eq!(err(&strip).0, "interface.customer.ice");
    let remote = "\n[relay]\nremote = [{ ng = \"127.0.0.1:22222\" }]\n";
    let (field, _, msg) = err(&format!("{webrtc}{remote}"));
    assert_eq!(field, "interface.customer.profile", "{msg}");
    // `dtls` is what the profile means, not a value of `srtp`.
    let spelled = BASE.replacen(
        "rtp_port_max = 20999\n",
        "rtp_port_max = 20999\nsrtp = \"dtls\"\n",
        1,
    );
    assert_eq!(err(&spelled).0, "interface.customer.srtp");
    let unknown = BASE.replacen(
        "rtp_port_max = 20999\n",
        "rtp_port_max = 20999\nprofile = \"browser\"\n",
        1,
    );
    assert_eq!(err(&unknown).0, "interface.customer.profile");
}
