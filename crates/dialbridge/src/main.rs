//! The `dialbridge` binary: `serve` (the platform), `emulator` (a local Dialpad alone),
//! `migrate` (apply database migrations and exit) and `rotate-master-key` (re-encrypt every
//! secret under a new master key, see [`rotate`]); `mcp` serves one account's Dialpad to an MCP
//! client over stdio (see [`mcp`]); `action` and `calls` talk to a running server's admin API
//! (see [`cli`]).

mod cli;
mod logging;
mod malloc;
mod mcp;
mod rotate;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dialbridge_server::ServeConfig;
use dialbridge_storage::Database;
use dialpad_emulator::{Emulator, EmulatorConfig};
use tokio_util::sync::CancellationToken;

/// `dialbridge --version`: the package version and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DIALBRIDGE_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "dialbridge",
    version = VERSION,
    about = "A self-hosted embedded integration platform for Dialpad"
)]
struct Cli {
    /// Log format.
    #[arg(long, env = "DIALBRIDGE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the dialbridge server.
    Serve(Box<ServeConfig>),
    /// Run the Dialpad emulator alone.
    Emulator {
        #[arg(
            long,
            env = "DIALBRIDGE_EMULATOR_LISTEN",
            default_value = "127.0.0.1:8090"
        )]
        listen: SocketAddr,
        /// Create a company-admin API key with this value for the first seeded company.
        #[arg(long, env = "DIALBRIDGE_EMULATOR_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Switch Dialpad's rate limits off (for benchmarks).
        #[arg(long)]
        no_rate_limits: bool,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(
            long,
            env = "DIALBRIDGE_DATABASE_URL",
            default_value = "sqlite://dialbridge-data/dialbridge.db"
        )]
        database_url: String,
    },
    /// Re-encrypt every secret of the database under a new master key, while servers run
    /// with both keys (--master-key NEW --previous-master-key OLD).
    RotateMasterKey(rotate::RotateCommand),
    /// Serve one account's Dialpad as MCP tools and resources over stdin/stdout (for desktop
    /// agents), from the server's database.
    Mcp(Box<mcp::McpCommand>),
    /// Run actions for an account, or list them, through a running dialbridge server.
    Action(cli::ActionCommand),
    /// Work with an account's calls through a running dialbridge server.
    Calls(cli::CallsCommand),
}

fn main() -> ExitCode {
    malloc::one_arena_per_core();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the async runtime: {e}"))
        .block_on(run())
}

async fn run() -> ExitCode {
    let args = Cli::parse();
    let log_format = args.log_format;
    let logs = logging::init(log_format);
    let result = match args.command {
        Command::Serve(config) => serve(*config).await,
        Command::Emulator {
            listen,
            api_key,
            no_rate_limits,
        } => {
            let config = EmulatorConfig {
                rate_limits: !no_rate_limits,
                ..EmulatorConfig::default()
            };
            emulator(listen, api_key, config).await
        }
        Command::Migrate { database_url } => migrate(&database_url).await,
        Command::RotateMasterKey(command) => rotate::run(command).await,
        Command::Mcp(command) => mcp::run(*command).await,
        Command::Action(command) => return cli::exit(cli::action::run(command).await),
        Command::Calls(command) => return cli::exit(cli::export::run(command).await),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Once: as a log record for JSON logs, else as a plain line (the text log would
            // say the same a second time).
            match log_format {
                LogFormat::Json => tracing::error!("{message}"),
                LogFormat::Text => {
                    // After the log lines still queued for stderr, not among them.
                    drop(logs);
                    eprintln!("dialbridge: {message}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServeConfig) -> Result<(), String> {
    let dev = config.dev;
    let explicit_key = config.api_key.is_some();
    let shutdown = CancellationToken::new();
    let running = dialbridge_server::start(config, shutdown.clone())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(key) = &running.generated_api_key {
        println!(
            "Generated an admin API key. It is shown only this once; store it now:\n\n    {}\n",
            key.expose()
        );
    }
    if dev && !explicit_key {
        println!(
            "Dev mode: the admin API key is `{}`.",
            dialbridge_server::DEV_API_KEY
        );
    }
    println!("dialbridge is listening on {}", running.public_url);
    tokio::spawn(shutdown_on_signal(shutdown));
    running.wait().await.map_err(|e| e.to_string())?;
    tracing::info!("dialbridge stopped");
    Ok(())
}

async fn emulator(
    listen: SocketAddr,
    api_key: Option<String>,
    config: EmulatorConfig,
) -> Result<(), String> {
    let emulator = Emulator::new(config);
    if let Some(key) = api_key {
        emulator.install_api_key(&key).map_err(|e| e.to_string())?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!("The Dialpad emulator is listening on http://{listen}");
    let shutdown = CancellationToken::new();
    tokio::spawn(shutdown_on_signal(shutdown.clone()));
    emulator
        .serve(listener, async move { shutdown.cancelled().await })
        .await
        .map_err(|e| e.to_string())
}

async fn migrate(database_url: &str) -> Result<(), String> {
    let db = Database::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    db.close().await;
    println!("migrations applied");
    Ok(())
}

/// Fires on Ctrl-C or SIGTERM.
async fn shutdown_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
