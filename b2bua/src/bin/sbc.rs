//! The `sbc` binary: command line, configuration and logging; the sockets, the call core and
//! the relay run in [`sbc_b2bua::driver`].

use sbc_b2bua::admin::{AdminError, AdminServer};
use sbc_b2bua::driver::{random_seed, Driver, DriverError};
use sbc_config::Config;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc instead of the system allocator: the signalling path builds and drops many small
/// messages per call, where glibc malloc/free were a fifth of the sbc's instructions.
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

EXAMPLES:
    sbc
    sbc --config /etc/sbc/sbc.toml
    sbc check-config config/examples/production.toml

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
            let source = file.as_deref().unwrap_or("embedded default config");
            match run(Arc::new(cfg), source) {
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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
async fn run(cfg: Arc<Config>, source: &str) -> Result<(), RunError> {
    tracing::info!("sbc {} starting on {source}", env!("CARGO_PKG_VERSION"));
    let driver = Driver::start(cfg.clone(), random_seed()).await?;
    let admin = AdminServer::bind(&cfg, driver.metrics())
        .await?
        .with_commands(driver.commands());
    if let Ok(addr) = admin.local_addr() {
        tracing::info!("admin on http://{addr} (/metrics, /health, /ready, /api/v1/)");
    }
    tokio::spawn(admin.run());
    tracing::info!("ready; Ctrl-C or SIGTERM stops");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = sigterm() => {}
        () = driver.run() => {}
    }
    tracing::info!("stopping");
    Ok(())
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
