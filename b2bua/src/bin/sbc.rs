//! The `sbc` binary: command line, configuration and logging; the sockets, the call core and
//! the relay run in [`sbc_b2bua::driver`].

use sbc_b2bua::driver::{random_seed, Control, Driver, DriverError};
use sbc_b2bua::ops::admin::{AdminError, AdminServer};
use sbc_config::Config;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc instead of the system allocator: the signalling path builds and drops many small
/// messages per call, where glibc malloc/free were a fifth of the sbc's instructions. Built
/// with `no_thp` (workspace Cargo.toml): with transparent huge pages its arenas cost a third
/// more memory per held call and some CPU (README, issue 12 figures).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELP: &str = "\
sbc - SIP session border controller (B2BUA + RTP relay)

USAGE:
    sbc                          run on the embedded default config (127.0.0.1 only)
    sbc --config FILE            run on FILE
    sbc check-config FILE        validate FILE; exit 0 if good, 1 with the error otherwise
    sbc print-default-config     print the embedded default config
    sbc --version | --help

SIGNALS:
    SIGHUP     reload FILE: routes, users, realms and limits change without dropping calls or
               registrations; a bad file is refused with its error and the running config kept
    SIGTERM    drain: new calls get 503, live calls may run [general] drain_timeout_s, then
               both legs get BYE, CDRs are flushed and sbc exits 0 (a second SIGTERM or Ctrl-C
               ends the drain at once)

LOGGING:
    [general] log_level / log_format in FILE; RUST_LOG (e.g. RUST_LOG=debug) wins over log_level.

EXAMPLES:
    sbc
    sbc --config /etc/sbc/sbc.toml
    sbc check-config config/examples/production.toml
    RUST_LOG=info,sbc::sip=info sbc --config sbc.toml
    kill -HUP $(pidof sbc)        # reload
    systemctl reload sbc          # the same, with ops/systemd/sbc.service

The config reference is config/README.md; a commented example is config/examples/production.toml.
";

enum Command {
    Run(Option<String>),
    Check(String),
    PrintDefault,
    Version,
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Run(None)),
        [flag, file] if flag == "--config" || flag == "-c" => Ok(Command::Run(Some(file.clone()))),
        [cmd, file] if cmd == "check-config" => Ok(Command::Check(file.clone())),
        [cmd] if cmd == "print-default-config" => Ok(Command::PrintDefault),
        [flag] if flag == "--version" || flag == "-V" => Ok(Command::Version),
        [flag] if flag == "--help" || flag == "-h" => Ok(Command::Help),
        _ => Err(format!("unrecognised arguments: {}", args.join(" "))),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sbc: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        Command::Help => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("sbc {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::PrintDefault => {
            print!("{}", sbc_config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Command::Check(file) => match Config::load(&file) {
            Ok(_) => {
                println!("{file}: OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Run(file) => {
            let cfg = match &file {
                Some(f) => Config::load(f),
                None => Config::embedded(),
            };
            let cfg = match cfg {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            init_logging(&cfg);
            match sbc_relay::api::raise_open_file_limit() {
                Ok((before, after)) if before < after => {
                    tracing::info!("open file limit raised from {before} to {after}");
                }
                Ok((_, limit)) => tracing::info!("open file limit {limit}"),
                Err(e) => tracing::warn!("cannot raise the open file limit: {e}"),
            }
            match run(Arc::new(cfg), file.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(cfg.general.log_level.as_str()));
    // Colours only on a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    if matches!(cfg.general.log_format, sbc_config::LogFormat::Json) {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Why the SBC could not start.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

#[tokio::main(flavor = "current_thread")]
async fn run(cfg: Arc<Config>, file: Option<&str>) -> Result<(), RunError> {
    let source = file.unwrap_or("embedded default config");
    tracing::info!("sbc {} starting on {source}", env!("CARGO_PKG_VERSION"));
    let driver = Driver::start(cfg.clone(), random_seed()).await?;
    let admin = AdminServer::bind(&cfg, driver.metrics())
        .await?
        .with_commands(driver.commands());
    if let Ok(addr) = admin.local_addr() {
        tracing::info!("admin on http://{addr} (/metrics, /health, /ready, /api/v1/)");
    }
    tokio::spawn(admin.run());
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(signals(tx, file.map(str::to_owned)));
    tracing::info!("ready; SIGHUP reloads, SIGTERM drains and stops");
    driver.run_with(rx).await;
    Ok(())
}

/// Turns SIGHUP into a reload of `file` (validated here, off the SIP task) and SIGTERM or
/// Ctrl-C into a shutdown.
async fn signals(tx: tokio::sync::mpsc::Sender<Control>, file: Option<String>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers: SIGHUP and SIGTERM will not work");
        // Keep the channel open: dropping it would stop the driver.
        std::future::pending::<()>().await;
        return;
    };
    loop {
        let control = tokio::select! {
            _ = term.recv() => Some(Control::Shutdown),
            _ = tokio::signal::ctrl_c() => Some(Control::Shutdown),
            _ = hup.recv() => {
                let file = file.clone();
                tokio::task::spawn_blocking(move || reload(file.as_deref()))
                    .await
                    .ok()
                    .flatten()
            }
        };
        if let Some(c) = control {
            if tx.send(c).await.is_err() {
                return;
            }
        }
    }
}

/// Reads and validates `file` for a reload; `None` (with the error logged) keeps the running
/// config.
fn reload(file: Option<&str>) -> Option<Control> {
    let Some(file) = file else {
        tracing::warn!("SIGHUP ignored: running on the embedded default config, no file to reload");
        return None;
    };
    tracing::info!("SIGHUP: reloading {file}");
    match Config::load(file) {
        Ok(cfg) => Some(Control::Reload(Arc::new(cfg))),
        Err(e) => {
            tracing::error!("reload refused, the running config is kept: {e}");
            None
        }
    }
}
