//! `sbc-relay`: the media relay on its own, driven over rtpengine's ng protocol.
//! `sbc-relay [--config FILE]` serves ng on UDP from the configured source addresses;
//! `sbc-relay check-config FILE` validates a file. Without a file it runs an embedded default
//! on 127.0.0.1. SIGHUP re-reads the file (allow-list and limits; a bad file is refused and the
//! running configuration kept), SIGTERM/SIGINT end every call and exit 0.

mod config;
mod metrics;

use config::Config;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use sbc_relay::api::RelayEvent;
use sbc_relay::api::{InterfaceConfig, Relay, RelayConfig, DEFAULT_RECV_BUFFER};
use sbc_relay::io::uring::UringConfig;
use sbc_relay::io::BackendKind;
use sbc_relay::latch::LatchConfig;
use sbc_relay::ng::{LateReply, Service, ServiceConfig};
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Blocks SIGHUP, SIGTERM and SIGINT in this thread and every thread it starts, and returns a
/// descriptor they can be read from, so signals are handled in the control loop.
fn signal_fd() -> Result<SignalFd, String> {
    let mut set = SigSet::empty();
    for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        set.add(s);
    }
    set.thread_block()
        .map_err(|e| format!("blocking signals: {e}"))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (text, name, file) = match args.as_slice() {
        [] => (
            config::DEFAULT.to_owned(),
            "(embedded default)".to_owned(),
            None,
        ),
        [flag, file] if flag == "--config" || flag == "check-config" => {
            match std::fs::read_to_string(file) {
                Ok(t) => (t, file.clone(), Some(file.clone())),
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
    let cfg = match config::load(&text, &name) {
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
    let signals = match signal_fd() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sbc-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serve(cfg, file, &signals) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sbc-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn relay_config(cfg: &Config) -> RelayConfig {
    RelayConfig {
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
        worker_cpus: cfg.relay.worker_cpus.clone(),
        worker_rt_priority: cfg.relay.realtime_priority,
        recv_buffer: DEFAULT_RECV_BUFFER,
        backend: match cfg.relay.backend.as_deref() {
            Some("io_uring") => BackendKind::IoUring,
            Some("mmsg") => BackendKind::Mmsg,
            _ => BackendKind::Auto,
        },
        uring: UringConfig::default(),
        latch: LatchConfig {
            learning_window_packets: cfg.relay.learning_window_packets.unwrap_or(3),
            ..LatchConfig::default()
        },
        inactivity_timeout: Duration::from_secs(cfg.relay.inactivity_timeout_s),
        stats_interval: Duration::from_secs(1),
        seed: u64::from(std::process::id()),
    }
}

/// Re-reads `file` on SIGHUP: the allow-list and limits change, calls stay.
fn reload(file: Option<&str>, service: &mut Service, running: &Config) {
    let Some(file) = file else {
        eprintln!("sbc-relay: SIGHUP: running on the embedded default, nothing to re-read");
        return;
    };
    let loaded = std::fs::read_to_string(file)
        .map_err(|e| format!("{file}: {e}"))
        .and_then(|t| config::load(&t, file));
    match loaded {
        Ok(new) => {
            if new.ng.listen.addrs() != running.ng.listen.addrs()
                || new.interfaces.len() != running.interfaces.len()
            {
                eprintln!(
                    "sbc-relay: SIGHUP: ng listen addresses and interfaces change only on restart"
                );
            }
            service.reconfigure(
                new.ng.allow.clone(),
                new.ng.max_sessions,
                new.delete_delay(),
            );
            eprintln!(
                "sbc-relay: SIGHUP: {file} reloaded (allow-list, max_sessions, delete_delay_s)"
            );
        }
        Err(e) => eprintln!("sbc-relay: SIGHUP: {e}; keeping the running configuration"),
    }
}

fn serve(cfg: Config, file: Option<String>, signals: &SignalFd) -> Result<(), String> {
    let mut relay = Relay::start(relay_config(&cfg)).map_err(|e| format!("relay: {e}"))?;
    let mut sockets = Vec::new();
    for addr in cfg.ng.listen.addrs() {
        let s = UdpSocket::bind(addr).map_err(|e| format!("ng {addr}: {e}"))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        sockets.push(s);
    }
    let snapshot: metrics::Snapshot = Arc::new(Mutex::new(String::new()));
    if let Some(m) = &cfg.metrics {
        metrics::serve(m.listen, snapshot.clone())
            .map_err(|e| format!("metrics {}: {e}", m.listen))?;
    }
    let mut service = Service::new(ServiceConfig {
        allow: cfg.ng.allow.clone(),
        max_sessions: cfg.ng.max_sessions,
        delete_delay: cfg.delete_delay(),
        default_interface: cfg.interfaces[0].name.clone(),
    });
    let listening: Vec<String> = sockets
        .iter()
        .filter_map(|s| s.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    eprintln!(
        "sbc-relay: ng on udp {} ({} backend); ready",
        listening.join(", "),
        relay.backend()
    );
    let mut buf = vec![0u8; sbc_relay::ng::MAX_REQUEST + 1];
    // The workers' wake-up: a closed session's final statistics complete a `delete` reply.
    let notifier = relay.notifier();
    let wake = notifier
        .socket()
        .map_err(|e| format!("relay notifier: {e}"))?;
    let mut last_snapshot = Instant::now() - Duration::from_secs(1);
    let mut refused_logged = 0u64;
    'serve: loop {
        {
            let mut fds: Vec<PollFd<'_>> = sockets
                .iter()
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(wake.as_fd(), PollFlags::POLLIN));
            let _ = poll(&mut fds, 100u16);
        }
        let mut late: Vec<LateReply> = Vec::new();
        while let Ok(Some(info)) = signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGHUP) => reload(file.as_deref(), &mut service, &cfg),
                _ => break 'serve,
            }
        }
        notifier.clear();
        let now = Instant::now();
        while let Some(event) = relay.poll_event() {
            if let RelayEvent::Closed { session } = event {
                late.extend(service.closed(&mut relay, now, session));
            }
        }
        for (via, socket) in sockets.iter().enumerate() {
            // At most a bounded burst per socket per turn, so timers and signals still run.
            for _ in 0..256 {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    break;
                };
                if let Some(reply) = service.handle_via(&mut relay, now, from, via, &buf[..n]) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        }
        let refused = service.counters().refused_sources;
        if refused > refused_logged && refused.is_power_of_two() {
            eprintln!(
                "sbc-relay: ng datagrams from sources not in [ng] allow refused: {refused} so far"
            );
            refused_logged = refused;
        }
        late.extend(service.tick(&mut relay, now));
        for r in late {
            if let Some(socket) = sockets.get(r.via) {
                let _ = socket.send_to(&r.reply, r.to);
            }
        }
        if now.duration_since(last_snapshot) >= Duration::from_millis(500) {
            last_snapshot = now;
            let text = metrics::render(&relay.metrics(), &service.counters(), service.calls());
            if let Ok(mut s) = snapshot.lock() {
                *s = text;
            }
        }
    }
    let calls = service.calls();
    service.shutdown(&mut relay);
    eprintln!("sbc-relay: stopping; {calls} calls ended");
    Ok(())
}
