//! The SBC configuration model: TOML read with serde, checked, with an embedded default.
//!
//! ```text
//!  text ──toml──▶ Config (serde, unknown keys refused) ──validate──▶ Ok(Config)
//!    │                 │ type error (span)                 │ Problem (field path)
//!    └──▶ span tree ───┴──────────── line + path ──────────┴──▶ ConfigError "file:line: field: why"
//! ```
//!
//! [`Config::from_toml_str`] and [`Config::load`] return a config that passed every check in
//! `validate.rs`; [`Config::embedded`] gives the built-in loopback-only default ([`DEFAULT_TOML`]),
//! so the `sbc` binary runs with no file. Field paths use 0-based indices for arrays of tables
//! (`route[0]`) and names for interfaces (`interface.core.rtp_port_min`). Secrets are wrapped in
//! [`Secret`], whose `Debug` is redacted. The README beside this crate is the key reference.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
mod locate;
mod model;
mod next_hop;
pub mod tls;
mod types;
mod validate;

use std::net::IpAddr;
use std::path::Path;

pub use error::{ConfigError, Location};
pub use model::{
    Admin, Auth, Config, DigestAlgorithm, Dns, ForkMode, General, IcePolicy, Interface, IoBackend,
    Latching, Limits, Listen, LogFormat, LogLevel, MediaProfile, Realm, RealmMode, Relay,
    RemoteRelay, Route, Sip, SrtpPolicy, Transport, User, MAX_DATAGRAM_BYTES,
};
pub use next_hop::{HopName, NextHop};
pub use types::{IpNet, Secret, UserPattern};

use locate::{interface_namer, line_of, Node};

/// The built-in configuration: loopback only, customer side on 5060, core side on 5080,
/// admin on 9090, and one example route from customer to a core next hop at 127.0.0.1:5090.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

/// File name used in errors about [`DEFAULT_TOML`].
pub const EMBEDDED_FILE_NAME: &str = "<embedded default>";

impl Config {
    /// Parses and checks `text`; `file_name` is only used in error messages.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Self, ConfigError> {
        let location = |offset: Option<usize>| Location {
            file: file_name.to_owned(),
            line: offset.map(|o| line_of(text, o)),
        };
        // The schema-free tree first: it fails only on TOML syntax, and gives spans for the rest.
        let tree: Node = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            location: location(e.span().map(|s| s.start)),
            message: one_line(e.message()),
        })?;
        let namer = interface_namer(tree.interface_names());
        let config: Self = toml::from_str(text).map_err(|e| {
            let message = one_line(e.message());
            let mut span = e.span();
            let mut path = span.as_ref().map(|s| tree.path_at(s)).unwrap_or_default();
            // For these serde names the key; the span covers only the key or its table.
            for prefix in ["unknown field `", "missing field `"] {
                if let Some(name) = message
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.split('`').next())
                {
                    if !path.ends_with_key(name) {
                        path = path.key(name);
                    }
                }
            }
            // toml blames the whole array for a bad element; narrow it down when we can.
            if let Some((element, element_span)) = tree.element_named_in(&path, &message) {
                path = element;
                span = Some(element_span);
            }
            ConfigError::Invalid {
                location: location(span.map(|s| s.start)),
                field: path.render(&namer),
                message,
            }
        })?;
        validate::validate(&config).map_err(|p| ConfigError::Invalid {
            location: location(tree.span_of(&p.path).map(|s| s.start)),
            field: p.path.render(&namer),
            message: p.message,
        })?;
        Ok(config)
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Self::from_toml_str(&text, &file)
    }

    /// The built-in default ([`DEFAULT_TOML`]); a unit test guarantees it loads.
    pub fn embedded() -> Result<Self, ConfigError> {
        Self::from_toml_str(DEFAULT_TOML, EMBEDDED_FILE_NAME)
    }

    /// Runs the semantic checks on a config built in code (errors carry no line).
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self).map_err(|p| ConfigError::Invalid {
            location: Location {
                file: "<config>".to_owned(),
                line: None,
            },
            field: p
                .path
                .render(&|i| self.interfaces.get(i).map(|x| x.name.clone())),
            message: p.message,
        })
    }

    /// The interface called `name`.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// The route called `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// The realm for SIP domain `domain` (case-insensitive).
    pub fn realm(&self, domain: &str) -> Option<&Realm> {
        self.realms
            .iter()
            .find(|r| r.domain.eq_ignore_ascii_case(domain))
    }

    /// The credentials of `username` in realm `domain`.
    pub fn user(&self, username: &str, domain: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username == username && u.realm.eq_ignore_ascii_case(domain))
    }

    /// Routes matching a request from `source` whose verified certificate (if any) names
    /// `peer_names`, in the order to try them (priority, then file order).
    pub fn matching_routes(
        &self,
        interface: &str,
        source: IpAddr,
        peer_names: &[String],
        user: &str,
        domain: &str,
    ) -> Vec<&Route> {
        let mut found: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.matches(interface, source, peer_names, user, domain))
            .collect();
        found.sort_by_key(|r| r.priority);
        found
    }
}

fn one_line(message: &str) -> String {
    message.trim().replace('\n', "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../examples/production.toml");

    fn err(text: &str) -> ConfigError {
        Config::from_toml_str(text, "t.toml").unwrap_err()
    }

    #[test]
    fn embedded_default_loads_and_is_loopback_only() {
        let cfg = Config::embedded().unwrap();
        assert_eq!(cfg.interfaces.len(), 2);
        let customer = cfg.interface("customer").unwrap();
        let core = cfg.interface("core").unwrap();
        for ifc in &cfg.interfaces {
            assert!(ifc.advertised.is_none());
            assert!(ifc.media_ip().is_loopback(), "{}", ifc.name);
            for l in &ifc.listen {
                assert!(l.address.ip().is_loopback(), "{:?}", l);
            }
        }
        let addrs = |i: &Interface| -> Vec<(Transport, String)> {
            i.listen
                .iter()
                .map(|l| (l.transport, l.address.to_string()))
                .collect()
        };
        assert_eq!(
            addrs(customer),
            [
                (Transport::Udp, "127.0.0.1:5060".to_owned()),
                (Transport::Tcp, "127.0.0.1:5060".to_owned())
            ]
        );
        assert_eq!(
            addrs(core),
            [
                (Transport::Udp, "127.0.0.1:5080".to_owned()),
                (Transport::Tcp, "127.0.0.1:5080".to_owned())
            ]
        );
        assert_eq!(cfg.admin.listen.to_string(), "127.0.0.1:9090");
        assert!(cfg.admin.token.is_none());
        assert_eq!(cfg.routes.len(), 1);
        let route = &cfg.routes[0];
        assert_eq!(route.next_hop.to_string(), "127.0.0.1:5090");
        assert_eq!(
            (route.from_interface.as_str(), route.to_interface.as_str()),
            ("customer", "core")
        );
        let found = cfg.matching_routes("customer", "127.0.0.1".parse().unwrap(), &[], "1000", "x");
        assert_eq!(found.len(), 1);
        // Defaults of sections absent from the file.
        assert_eq!(cfg.sip, Sip::default());
        assert_eq!(cfg.sip.t1_ms, 500);
        assert_eq!(cfg.sip.max_datagram_bytes(), MAX_DATAGRAM_BYTES);
        assert_eq!(cfg.relay.inactivity_timeout_s, 60);
        assert_eq!(cfg.general.log_level.as_str(), "info");
        assert_eq!(DEFAULT_TOML, include_str!("../default.toml"));
    }

    #[test]
    fn production_example_loads() {
        let cfg = Config::from_toml_str(EXAMPLE, "production.toml").unwrap();
        let customer = cfg.interface("customer").unwrap();
        assert_eq!(customer.advertised, Some("203.0.113.10".parse().unwrap()));
        assert_eq!(customer.sdp_ip().to_string(), "203.0.113.10");
        assert_eq!(
            customer
                .signalling_addr("10.0.0.10:5060".parse().unwrap())
                .to_string(),
            "203.0.113.10:5060"
        );
        assert_eq!(cfg.general.log_format, LogFormat::Json);
        assert_eq!(
            cfg.general.drain_timeout(),
            std::time::Duration::from_secs(60)
        );
        assert_eq!(cfg.relay.latching, Latching::Handover);
        let forward = cfg.realm("VOICE.example.com").unwrap();
        assert_eq!(forward.mode, RealmMode::Forward);
        assert_eq!(
            (forward.customer_expires_s, forward.core_expires_s),
            (60, 3600)
        );
        let local = cfg.realm("office.example.net").unwrap();
        assert_eq!(local.mode, RealmMode::Local);
        assert_eq!(local.fork_mode, ForkMode::Serial);
        assert_eq!(
            cfg.user("bob", "office.example.net")
                .unwrap()
                .effective_algorithm(),
            Some(DigestAlgorithm::Md5)
        );
        assert!(cfg.user("alice", "office.example.net").is_some());
        assert!(cfg.sip.header_allowed("p-asserted-identity"));
        // Trunk calls: A (priority 10) then B (20); failover on 408/503.
        let trunk: IpAddr = "198.51.100.5".parse().unwrap();
        let names: Vec<&str> = cfg
            .matching_routes("customer", trunk, &[], "+4930123", "voice.example.com")
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "pbx-to-softswitch-a",
                "pbx-to-softswitch-b",
                "phones-to-core"
            ]
        );
        assert!(cfg.route("pbx-to-softswitch-a").unwrap().fails_over_on(503));
        // An untrusted source does not get the trunk routes; *98 reaches voicemail.
        let phone: IpAddr = "203.0.113.99".parse().unwrap();
        let names: Vec<&str> = cfg
            .matching_routes("customer", phone, &[], "*98", "voice.example.com")
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["voicemail", "phones-to-core"]);
        cfg.validate().unwrap();
    }

    #[test]
    fn load_reads_files_and_names_them() {
        let dir = std::env::temp_dir().join(format!("sbc-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sbc.toml");
        std::fs::write(&path, DEFAULT_TOML.replace("5090", "5091")).unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.routes[0].next_hop.addr().map(|a| a.port()), Some(5091));
        std::fs::write(&path, "[general]\nnode_name = \"a\"\nfoo = 1\n").unwrap();
        let e = Config::load(&path).unwrap_err();
        assert_eq!(e.file(), path.display().to_string());
        assert_eq!(e.line(), Some(3));
        let missing = dir.join("absent.toml");
        let e = Config::load(&missing).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(e
            .to_string()
            .starts_with(&format!("{}: cannot read:", missing.display())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn readme_documents_every_key_of_the_example() {
        fn keys(value: &toml::Value, out: &mut Vec<String>) {
            match value {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        out.push(k.clone());
                        keys(v, out);
                    }
                }
                toml::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
                _ => {}
            }
        }
        let readme = include_str!("../README.md");
        let mut all = Vec::new();
        keys(&toml::from_str(EXAMPLE).unwrap(), &mut all);
        keys(&toml::from_str(DEFAULT_TOML).unwrap(), &mut all);
        for key in all {
            assert!(
                readme.contains(&format!("`{key}`")) || readme.contains(&format!("[{key}]")),
                "README does not document `{key}`"
            );
        }
    }

    #[test]
    fn truncated_or_mangled_input_gives_errors_not_panics() {
        let cut_points = (0..EXAMPLE.len())
            .step_by(7)
            .filter(|&i| EXAMPLE.is_char_boundary(i));
        for cut in cut_points {
            let _ = Config::from_toml_str(&EXAMPLE[..cut], "cut.toml");
        }
        for (from, to) in [
            ("=", "= ="),
            ("]", ""),
            ("\"", "'"),
            ("[[", "["),
            ("5060", "-1"),
        ] {
            let e = err(&EXAMPLE.replacen(from, to, 3));
            assert!(e.line().is_some(), "{e}");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let cfg = Config::from_toml_str(EXAMPLE, "production.toml").unwrap();
        let dump = format!("{cfg:?}");
        for secret in [
            "change-me-alice-7Qx2",
            "0f0e3a6a9bd2bd0f5a9b0c8a2ef1e3d4",
            "replace-with-32-random-characters",
            "replace-with-a-long-random-token",
        ] {
            assert!(EXAMPLE.contains(secret));
            assert!(!dump.contains(secret), "{secret} leaked");
        }
        assert!(dump.contains("Secret(<redacted>)"));
        let alice = cfg.user("alice", "office.example.net").unwrap();
        assert_eq!(
            alice.password.as_ref().unwrap().expose(),
            "change-me-alice-7Qx2"
        );
        assert!(!format!("{:?}", cfg.auth).contains("replace-with"));
        assert!(!format!("{:?}", cfg.admin).contains("replace-with"));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = err("[general]\nnode_name = \"a\n\n");
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
        assert_eq!(e.line(), Some(2));
        assert!(
            e.to_string().starts_with("t.toml:2: TOML syntax error: "),
            "{e}"
        );
        let e = err("[general]\nnode_name = \"a\"\nnode_name = \"b\"\n");
        assert_eq!(e.line(), Some(3), "{e}");
        let e = err("[[interface]\nname = \"x\"\n");
        assert_eq!(e.line(), Some(1), "{e}");
    }

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        let text = DEFAULT_TOML.replace(
            "log_format = \"text\"",
            "log_format = \"text\"\nlog_colour = true",
        );
        let e = err(&text);
        let line = line_of(&text, text.find("log_colour").unwrap());
        assert_eq!(e.line(), Some(line));
        assert_eq!(e.field(), Some("general.log_colour"));
        assert!(e.to_string().starts_with(&format!(
            "t.toml:{line}: general.log_colour: unknown field `log_colour`"
        )));
        // Inside an inline table inside an array of an interface.
        let text = DEFAULT_TOML.replace(
            "{ transport = \"tcp\", address = \"127.0.0.1:5080\" }",
            "{ transport = \"tcp\", address = \"127.0.0.1:5080\", tls = true }",
        );
        let e = err(&text);
        assert_eq!(e.field(), Some("interface.core.listen[1].tls"));
        assert_eq!(e.line(), Some(line_of(&text, text.find("tls").unwrap())));
        // At top level.
        let e = err(&format!("{DEFAULT_TOML}\n[metrics]\nport = 1\n"));
        assert_eq!(e.field(), Some("metrics"));
        assert!(e.line().is_some());
    }

    #[test]
    fn type_errors_have_field_and_line() {
        let text = DEFAULT_TOML.replace("rtp_port_max = 34999", "rtp_port_max = 70000");
        let e = err(&text);
        let line = line_of(&text, text.find("70000").unwrap());
        assert_eq!(
            e.to_string(),
            format!(
                "t.toml:{line}: interface.core.rtp_port_max: invalid value: integer `70000`, expected u16"
            )
        );
        let text = DEFAULT_TOML.replace("log_level = \"info\"", "log_level = \"loud\"");
        let e = err(&text);
        assert_eq!(e.field(), Some("general.log_level"));
        assert_eq!(e.line(), Some(line_of(&text, text.find("loud").unwrap())));
        let text = DEFAULT_TOML.replace(
            "log_format = \"text\"",
            "log_format = \"text\"\ndrain_timeout_s = 4000",
        );
        let e = err(&text);
        assert_eq!(e.field(), Some("general.drain_timeout_s"));
        assert!(
            e.to_string().ends_with("4000 is above 3600 (one hour)"),
            "{e}"
        );
        let text = DEFAULT_TOML.replace(
            "log_format = \"text\"",
            "log_format = \"text\"\nlog_sip_messages = true\nlog_sip_rate_per_s = 0",
        );
        assert_eq!(err(&text).field(), Some("general.log_sip_rate_per_s"));
        let text =
            DEFAULT_TOML.replace("listen = \"127.0.0.1:9090\"", "listen = \"localhost:9090\"");
        let e = err(&text);
        assert_eq!(e.field(), Some("admin.listen"));
        assert!(e.to_string().ends_with(
            "admin.listen: \"localhost:9090\" is not an ip:port (the SBC never resolves names)"
        ));
    }

    #[test]
    fn missing_key_points_at_its_table() {
        let text = DEFAULT_TOML.replace("next_hop = \"127.0.0.1:5090\"\n", "");
        let e = err(&text);
        assert_eq!(e.field(), Some("route[0].next_hop"));
        assert_eq!(
            e.line(),
            Some(line_of(&text, text.find("[[route]]").unwrap()))
        );
        assert!(e.to_string().contains("missing field `next_hop`"));
    }

    #[test]
    fn validate_on_built_config_has_no_line() {
        let mut cfg = Config::embedded().unwrap();
        cfg.sip.t2_ms = 100;
        let e = cfg.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "<config>: sip.t2_ms: 100 ms must be above t1_ms (500 ms)"
        );
        let mut cfg = Config::embedded().unwrap();
        cfg.interfaces[1].rtp_port_min = 30001;
        assert_eq!(
            cfg.validate().unwrap_err().field(),
            Some("interface.core.rtp_port_min")
        );
    }
}
