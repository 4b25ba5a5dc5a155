//! The endpoint's settings from the configuration: the call core's, the relay's, the TCP flow
//! limits and the Server header.

use crate::call::{CallConfig, HeaderPolicy, SessionTimerConfig, DEFAULT_COPIED_HEADERS};
use crate::stack::transaction::TimerConfig;
use crate::stack::transport::FlowLimits;
use sbc_config::{Config, IoBackend, Latching};
use sbc_relay::api::{InterfaceConfig, RelayConfig};
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::{LatchConfig, LatchPolicy};
use std::time::Duration;

/// The product name the SBC puts in Server (responses) and User-Agent (requests it originates):
/// `[general] user_agent`; absent, neither header is sent, hiding the product (RFC 3261 §20.35,
/// §20.41).
pub fn server_name(cfg: &Config) -> Option<String> {
    cfg.general.user_agent.clone()
}

/// The call core's settings from the configuration: header whitelist, latching policy, T1/T2/T4
/// (RFC 3261 Appendix A) and the Server header.
pub fn call_config(cfg: &Config) -> CallConfig {
    let names = DEFAULT_COPIED_HEADERS
        .iter()
        .copied()
        .chain(cfg.sip.header_whitelist.iter().map(String::as_str));
    CallConfig {
        headers: HeaderPolicy::new(names),
        latch: match cfg.relay.latching {
            Latching::Strict => LatchPolicy::Strict,
            Latching::Handover => LatchPolicy::Handover,
            Latching::Off => LatchPolicy::Off,
        },
        timers: TimerConfig {
            t1: cfg.sip.t1(),
            t2: cfg.sip.t2(),
            t4: cfg.sip.t4(),
        },
        server: server_name(cfg),
        max_forwards: u32::from(cfg.sip.max_forwards),
        max_calls: usize::try_from(cfg.limits.max_calls).unwrap_or(usize::MAX),
        retry_after_s: cfg.limits.retry_after_s,
        max_call_duration: (cfg.limits.max_call_duration_s > 0)
            .then(|| Duration::from_secs(u64::from(cfg.limits.max_call_duration_s))),
        session_timer: SessionTimerConfig {
            expires_s: cfg.sip.session_expires_s,
            min_se_s: cfg.sip.min_se_s,
        },
        records: cfg.admin.cdr_path.is_some(),
    }
}

/// The relay's settings from the configuration: one media interface per `[[interface]]` (its
/// media IP and RTP port range), workers, IO backend, learning window, inactivity timeout and
/// statistics interval; `seed` shuffles the port pools.
pub fn relay_config(cfg: &Config, seed: u64) -> RelayConfig {
    RelayConfig {
        interfaces: cfg
            .interfaces
            .iter()
            .map(|i| InterfaceConfig {
                name: i.name.clone(),
                address: i.media_ip(),
                port_min: i.rtp_port_min,
                port_max: i.rtp_port_max,
            })
            .collect(),
        workers: usize::from(cfg.relay.workers),
        worker_cpus: Vec::new(),
        worker_rt_priority: (cfg.relay.realtime_priority > 0)
            .then_some(cfg.relay.realtime_priority),
        recv_buffer: sbc_relay::api::DEFAULT_RECV_BUFFER,
        backend: match cfg.relay.io_backend {
            IoBackend::Auto => BackendKind::Auto,
            IoBackend::IoUring => BackendKind::IoUring,
            IoBackend::Mmsg => BackendKind::Mmsg,
        },
        uring: UringConfig::default(),
        latch: LatchConfig {
            learning_window_packets: cfg.relay.learning_window_packets,
            ..LatchConfig::default()
        },
        inactivity_timeout: cfg.relay.inactivity_timeout(),
        stats_interval: Duration::from_millis(u64::from(cfg.relay.stats_interval_ms)),
        seed,
    }
}

/// The TCP connection limits from `[sip]` (RFC 3261 §26.1.5).
pub fn flow_limits(cfg: &Config) -> FlowLimits {
    FlowLimits {
        max_flows: usize::try_from(cfg.sip.tcp_max_connections).unwrap_or(usize::MAX),
        max_per_source: usize::try_from(cfg.sip.tcp_max_connections_per_source)
            .unwrap_or(usize::MAX),
        idle_timeout: cfg.sip.tcp_idle_timeout(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two interfaces, each with its media range; routes play no part here.
    const CONFIG: &str = r#"
[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:5060" }]
rtp_port_min = 20000
rtp_port_max = 20999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:5080" }]
rtp_port_min = 30000
rtp_port_max = 30999
"#;

    #[test]
    fn flow_limits_follow_the_file() {
        let text = format!(
            "{CONFIG}\n[sip]\ntcp_idle_timeout_s = 30\ntcp_max_connections = 100\ntcp_max_connections_per_source = 5\n"
        );
        let cfg = Config::from_toml_str(&text, "t.toml").unwrap();
        let l = flow_limits(&cfg);
        assert_eq!(l.idle_timeout, Some(Duration::from_secs(30)));
        assert_eq!((l.max_flows, l.max_per_source), (100, 5));
    }

    #[test]
    fn relay_and_call_config_follow_the_file() {
        let cfg = Config::from_toml_str(CONFIG, "t.toml").unwrap();
        let rc = relay_config(&cfg, 7);
        assert_eq!(rc.interfaces.len(), 2);
        assert_eq!(rc.interfaces[1].name, "core");
        assert_eq!(rc.interfaces[1].port_min, 30000);
        assert_eq!(rc.inactivity_timeout, Duration::from_secs(60));
        assert_eq!(rc.worker_rt_priority, None, "0 keeps the normal scheduler");
        let rt = Config::from_toml_str(
            &format!("{CONFIG}\n[relay]\nrealtime_priority = 12\n"),
            "t.toml",
        );
        assert_eq!(relay_config(&rt.unwrap(), 7).worker_rt_priority, Some(12));
        let cc = call_config(&cfg);
        assert_eq!(cc.timers.t1, Duration::from_millis(500));
        assert_eq!(cc.server, None, "no user_agent: no Server header");
    }
}
