//! The daemon's TOML configuration: `[ng]`, `[[interface]]`, `[relay]`, `[metrics]`; errors
//! name the file, the line and the field.

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The configuration used when no file is given: everything on 127.0.0.1.
pub(crate) const DEFAULT: &str = r#"
[ng]
listen = ["127.0.0.1:22222"]
allow = ["127.0.0.1"]

[[interface]]
name = "default"
address = "127.0.0.1"
port_min = 30000
port_max = 39999
"#;

/// The daemon's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) ng: Ng,
    #[serde(rename = "interface")]
    pub(crate) interfaces: Vec<Interface>,
    #[serde(default)]
    pub(crate) relay: RelayOpts,
    #[serde(default)]
    pub(crate) metrics: Option<Metrics>,
}

/// One address or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Listen {
    One(SocketAddr),
    Many(Vec<SocketAddr>),
}

impl Listen {
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        match self {
            Self::One(a) => vec![*a],
            Self::Many(v) => v.clone(),
        }
    }
}

/// `[ng]`: where the control protocol is served, to whom, and its limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ng {
    pub(crate) listen: Listen,
    /// Source addresses allowed to send commands; others are dropped and counted.
    pub(crate) allow: Vec<IpAddr>,
    /// Most calls at once (0: no limit); beyond it offers get "Parallel session limit
    /// reached" (or `load limit` to clients that support it).
    #[serde(default)]
    pub(crate) max_sessions: usize,
    /// Seconds a deleted call is kept when `delete` gives no `delete-delay` (default 0).
    #[serde(default)]
    pub(crate) delete_delay_s: u64,
}

/// `[[interface]]`: an address and port range the relay allocates legs on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Interface {
    pub(crate) name: String,
    pub(crate) address: IpAddr,
    pub(crate) port_min: u16,
    pub(crate) port_max: u16,
}

/// `[relay]`: workers and IO.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RelayOpts {
    /// Worker threads (default 1).
    #[serde(default)]
    pub(crate) workers: Option<usize>,
    /// `auto` (default), `io_uring` or `mmsg`.
    #[serde(default)]
    pub(crate) backend: Option<String>,
    /// SCHED_FIFO priority of the workers (1..=99).
    #[serde(default)]
    pub(crate) realtime_priority: Option<u8>,
    /// CPUs the workers are pinned to.
    #[serde(default)]
    pub(crate) worker_cpus: Vec<usize>,
    /// Seconds without media after which a call's session is closed (0: never).
    #[serde(default)]
    pub(crate) inactivity_timeout_s: u64,
    /// Packets from one source needed to latch onto it (1..=1000, default 3).
    #[serde(default)]
    pub(crate) learning_window_packets: Option<u32>,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metrics {
    pub(crate) listen: SocketAddr,
}

impl Config {
    pub(crate) fn delete_delay(&self) -> Duration {
        Duration::from_secs(self.ng.delete_delay_s)
    }
}

/// The 1-based line of the `n`th occurrence of `[[interface]]` in `text`.
fn interface_line(text: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[interface]]"))
        .nth(n)
        .map_or(0, |(i, _)| i + 1)
}

/// Reads and checks a configuration; `name` is the file's name for errors.
pub(crate) fn load(text: &str, name: &str) -> Result<Config, String> {
    let cfg: Config = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let msg = e.message().replace('\n', " ");
        match line {
            Some(l) => format!("{name}:{l}: {msg}"),
            None => format!("{name}: {msg}"),
        }
    })?;
    if cfg.interfaces.is_empty() {
        return Err(format!(
            "{name}: interface: at least one [[interface]] is needed"
        ));
    }
    if cfg.ng.listen.addrs().is_empty() {
        return Err(format!("{name}: ng.listen: at least one address is needed"));
    }
    for (i, itf) in cfg.interfaces.iter().enumerate() {
        let at = interface_line(text, i);
        if itf.port_min == 0 || itf.port_min % 2 != 0 || itf.port_max <= itf.port_min {
            return Err(format!(
                "{name}:{at}: interface[{i}].port_min: must be even and below port_max ({})",
                itf.name
            ));
        }
        if cfg.interfaces[..i].iter().any(|o| o.name == itf.name) {
            return Err(format!(
                "{name}:{at}: interface[{i}].name: {:?} is used twice",
                itf.name
            ));
        }
    }
    if let Some(b) = &cfg.relay.backend {
        if !["auto", "io_uring", "mmsg"].contains(&b.as_str()) {
            return Err(format!(
                "{name}: relay.backend: {b:?} is not auto, io_uring or mmsg"
            ));
        }
    }
    if cfg
        .relay
        .realtime_priority
        .is_some_and(|p| p == 0 || p > 99)
    {
        return Err(format!("{name}: relay.realtime_priority: must be 1..=99"));
    }
    if cfg
        .relay
        .learning_window_packets
        .is_some_and(|n| !(1..=1000).contains(&n))
    {
        return Err(format!(
            "{name}: relay.learning_window_packets: must be 1..=1000"
        ));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_loads() {
        let cfg = load(DEFAULT, "default").unwrap();
        assert_eq!(cfg.ng.listen.addrs().len(), 1);
        assert_eq!(cfg.interfaces[0].name, "default");
    }

    #[test]
    fn the_shipped_example_loads() {
        let text = include_str!("../../../examples/sbc-relay.toml");
        let cfg = load(text, "sbc-relay.toml").unwrap();
        assert!(cfg.metrics.is_some());
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let text = "[ng]\nlisten = \"127.0.0.1:1\"\nallow = []\n\n[[interface]]\nname = \"a\"\naddress = \"127.0.0.1\"\nport_min = 3001\nport_max = 4000\n";
        let e = load(text, "r.toml").unwrap_err();
        assert!(e.starts_with("r.toml:5: interface[0].port_min"), "{e}");
        let e = load(
            "[ng]\nlisten = \"127.0.0.1:1\"\nallow = []\nbogus = 1\n",
            "r.toml",
        )
        .unwrap_err();
        assert!(e.starts_with("r.toml:4: ") && e.contains("bogus"), "{e}");
        let e = load(
            &text
                .replace("3001", "3000")
                .replace("[ng]", "[relay]\nbackend = \"dpdk\"\n[ng]"),
            "r.toml",
        )
        .unwrap_err();
        assert!(e.contains("relay.backend"), "{e}");
        let fixed = text.replace("3001", "3000");
        let e = load(
            &fixed.replace("[ng]", "[relay]\nlearning_window_packets = 0\n[ng]"),
            "r.toml",
        )
        .unwrap_err();
        assert!(e.contains("relay.learning_window_packets"), "{e}");
    }
}
