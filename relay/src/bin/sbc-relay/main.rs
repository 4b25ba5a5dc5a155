//! `sbc-relay`: the media relay on its own, driven over rtpengine's ng protocol (issue 17, first
//! cut): `sbc-relay [--config FILE]` serves ng on UDP (ping, offer, answer, delete) from the
//! configured source addresses only; `sbc-relay check-config FILE` validates a file. Without a
//! file it runs an embedded default on 127.0.0.1.

use sbc_common::bencode::Value;
use sbc_relay::api::{InterfaceConfig, Relay, RelayConfig, DEFAULT_RECV_BUFFER};
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use sbc_relay::ng::{error_reply, parse, reply, Calls, Command, ReplayCache};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const DEFAULT: &str = r#"
[ng]
listen = "127.0.0.1:22222"
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
struct Config {
    ng: Ng,
    #[serde(rename = "interface")]
    interfaces: Vec<Interface>,
    #[serde(default)]
    relay: RelayOpts,
}

/// `[ng]`: where the control protocol is served and to whom.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ng {
    listen: SocketAddr,
    /// Source addresses allowed to send commands; others are dropped and counted.
    allow: Vec<IpAddr>,
}

/// `[[interface]]`: an address and port range the relay allocates legs on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Interface {
    name: String,
    address: IpAddr,
    port_min: u16,
    port_max: u16,
}

/// `[relay]`: worker threads.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayOpts {
    #[serde(default)]
    workers: Option<usize>,
}

fn load(text: &str, name: &str) -> Result<Config, String> {
    let cfg: Config = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    if cfg.interfaces.is_empty() {
        return Err(format!("{name}: at least one [[interface]] is needed"));
    }
    for (i, itf) in cfg.interfaces.iter().enumerate() {
        if itf.port_min == 0 || itf.port_min % 2 != 0 || itf.port_max <= itf.port_min {
            return Err(format!(
                "{name}: interface[{i}] ({}): port_min must be even and below port_max",
                itf.name
            ));
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (text, name) = match args.as_slice() {
        [] => (DEFAULT.to_owned(), "(embedded default)".to_owned()),
        [flag, file] if flag == "--config" || flag == "check-config" => {
            match std::fs::read_to_string(file) {
                Ok(t) => (t, file.clone()),
                Err(e) => {
                    eprintln!("sbc-relay: {file}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("usage: sbc-relay [--config FILE] | sbc-relay check-config FILE");
            return ExitCode::from(2);
        }
    };
    let cfg = match load(&text, &name) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sbc-relay: {e}");
            return ExitCode::from(2);
        }
    };
    if args.first().is_some_and(|a| a == "check-config") {
        println!("{name}: ok");
        return ExitCode::SUCCESS;
    }
    match serve(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sbc-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cfg: &Config) -> Result<(), String> {
    let mut relay = Relay::start(RelayConfig {
        interfaces: cfg
            .interfaces
            .iter()
            .map(|i| InterfaceConfig {
                name: i.name.clone(),
                address: i.address,
                port_min: i.port_min,
                port_max: i.port_max,
            })
            .collect(),
        workers: cfg.relay.workers.unwrap_or(1).max(1),
        worker_cpus: Vec::new(),
        worker_rt_priority: None,
        recv_buffer: DEFAULT_RECV_BUFFER,
        backend: BackendKind::Auto,
        uring: UringConfig::default(),
        latch: LatchConfig::default(),
        inactivity_timeout: Duration::ZERO,
        stats_interval: Duration::from_secs(1),
        seed: u64::from(std::process::id()),
    })
    .map_err(|e| format!("relay: {e}"))?;
    let socket =
        UdpSocket::bind(cfg.ng.listen).map_err(|e| format!("ng {}: {e}", cfg.ng.listen))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "sbc-relay: ng on udp {} ({} backend); ready",
        cfg.ng.listen,
        relay.backend()
    );
    let mut calls = Calls::new(&cfg.interfaces[0].name);
    let mut cache = ReplayCache::new(1024, Duration::from_secs(30));
    let mut buf = vec![0u8; sbc_relay::ng::MAX_REQUEST + 1];
    let mut refused_sources = 0u64;
    loop {
        while relay.poll_event().is_some() {}
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(format!("ng receive: {e}")),
        };
        if !cfg.ng.allow.contains(&from.ip()) {
            refused_sources += 1;
            if refused_sources.is_power_of_two() {
                eprintln!("sbc-relay: ng from {from} refused (not in [ng] allow; {refused_sources} so far)");
            }
            continue;
        }
        let now = Instant::now();
        let datagram = &buf[..n];
        let out = match parse(datagram) {
            Err((None, _)) => continue,
            Err((Some(cookie), e)) => error_reply(cookie, &e),
            Ok(req) => {
                if let Some(cached) = cache.get(now, req.cookie) {
                    let _ = socket.send_to(cached, from);
                    continue;
                }
                let result = match req.command {
                    Command::Ping => Ok(reply(req.cookie, &[(b"result", Value::Bytes(b"pong"))])),
                    Command::Offer => calls.offer(&mut relay, &req).map(|sdp| {
                        reply(
                            req.cookie,
                            &[
                                (b"result", Value::Bytes(b"ok")),
                                (b"sdp", Value::Bytes(&sdp)),
                            ],
                        )
                    }),
                    Command::Answer => calls.answer(&mut relay, &req).map(|sdp| {
                        reply(
                            req.cookie,
                            &[
                                (b"result", Value::Bytes(b"ok")),
                                (b"sdp", Value::Bytes(&sdp)),
                            ],
                        )
                    }),
                    Command::Delete => calls
                        .delete(&mut relay, &req)
                        .map(|()| reply(req.cookie, &[(b"result", Value::Bytes(b"ok"))])),
                    Command::Query | Command::List | Command::Statistics => {
                        Err(sbc_relay::ng::NgError::UnknownCommand(format!(
                            "{:?} (not yet)",
                            req.command
                        )))
                    }
                };
                let out = result.unwrap_or_else(|e| error_reply(req.cookie, &e));
                cache.put(now, req.cookie, out.clone());
                out
            }
        };
        let _ = socket.send_to(&out, from);
    }
}
