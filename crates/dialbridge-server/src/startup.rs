//! `start`: open and migrate the database, resolve the master key, bootstrap the admin key,
//! mount the emulator in dev mode, serve until the shutdown token fires, and run the
//! background refresh of idle connections.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dialbridge_core::{
    Background, Cipher, CredentialsInput, Environment, ExecutorSettings, MasterKey, Platform,
    Secret, Settings,
};
use dialbridge_storage::{Database, Dialect, StorageError};
use dialpad_emulator::{Emulator, EmulatorConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::{ServeConfig, DEV_API_KEY};
use crate::listener::{self, Limits};
use crate::routes;
use crate::state::AppState;
use crate::ui::Dashboard;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] StorageError),
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Domain(#[from] dialbridge_core::Error),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// A started server.
pub struct Running {
    pub local_addr: SocketAddr,
    pub public_url: Url,
    /// An admin API key generated on this start (first start without one): show it once.
    pub generated_api_key: Option<Secret>,
    pub platform: Platform,
    server: JoinHandle<Result<(), std::io::Error>>,
    background: Background,
}

impl Running {
    /// Waits until the server has shut down (after the shutdown token fired).
    pub async fn wait(self) -> Result<(), StartError> {
        let served = self
            .server
            .await
            .map_err(|e| StartError::Serve(std::io::Error::other(e)))?;
        self.background.wait().await;
        served.map_err(StartError::Serve)
    }
}

pub async fn start(
    config: ServeConfig,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    let (db, cipher) = open_database(&config).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{local_addr}"))
            .map_err(|e| StartError::MasterKey(e.to_string()))?,
    };

    let platform = open_platform(db, cipher.clone(), settings(&config, public_url.clone())).await?;
    let assigned = platform.connections.assign_missing_shards().await?;
    if assigned > 0 {
        tracing::info!(accounts = assigned, "accounts placed in their shards");
    }

    // The key of the command line or of dev mode, else one generated on first start.
    let (api_key, key_name) = match (&config.api_key, config.dev) {
        (Some(key), _) => (Some(key.clone()), "bootstrap"),
        (None, true) => (Some(DEV_API_KEY.to_owned()), "dev"),
        (None, false) => (None, "bootstrap"),
    };
    let generated_api_key = platform
        .admin
        .bootstrap_admin_key(api_key.map(Secret::new).as_ref(), key_name)
        .await?;

    let emulator = config
        .dev
        .then(|| Emulator::new(EmulatorConfig::default()).router());
    let dashboard = Dashboard::new(cipher, public_url.scheme() == "https", emulator.clone());
    let mut app = routes::router(AppState::new(platform.clone(), dashboard, shutdown.clone()));
    if let Some(emulator) = emulator {
        app = app.nest("/emulator", emulator);
        let input = CredentialsInput {
            client_id: Some(Emulator::DEV_CLIENT_ID.to_owned()),
            client_secret: Some(Emulator::DEV_CLIENT_SECRET.to_owned()),
            base_url: Some(format!(
                "{}/emulator",
                public_url.as_str().trim_end_matches('/')
            )),
            rate_limits: None,
        };
        platform
            .app
            .put_credentials(Environment::Custom, input)
            .await?;
        tracing::info!(
            "dev mode: the Dialpad emulator is at {}emulator and the custom environment uses it",
            public_url
        );
    }

    let background = platform.start_background(shutdown.clone());
    tracing::info!(%local_addr, %public_url, "dialbridge is listening");
    let limits = Limits::of(&config);
    let server = tokio::spawn(listener::serve(listener, app, limits, shutdown));
    Ok(Running {
        local_addr,
        public_url,
        generated_api_key,
        platform,
        server,
        background,
    })
}

/// The configured database, migrated, and the cipher of its master key (and of the previous
/// one during a rotation).
async fn open_database(config: &ServeConfig) -> Result<(Database, Cipher), StartError> {
    let db = Database::connect(&config.database_url).await?;
    db.migrate().await?;
    let mut cipher = Cipher::new(&resolve_master_key(config, db.dialect())?);
    if let Some(previous) = &config.previous_master_key {
        let previous = MasterKey::parse(previous)
            .map_err(|e| StartError::MasterKey(format!("previous master key: {e}")))?;
        cipher = cipher.with_previous(&previous);
    }
    Ok((db, cipher))
}

/// What the domain reads of the configuration.
fn settings(config: &ServeConfig, public_url: Url) -> Settings {
    let mut settings = Settings::new(public_url);
    if let Some(callback) = &config.callback_url {
        settings.callback_url = callback.clone();
    }
    settings.refresh_margin = Duration::from_secs(config.refresh_margin_secs);
    settings.connect_link_ttl = Duration::from_secs(config.connect_link_ttl_secs);
    settings.webhook_base_url = config.webhook_base_url.clone();
    settings.refresh_interval = Duration::from_secs(config.refresh_interval_secs.max(1));
    settings.audit_interval = Duration::from_secs(config.audit_interval_secs.max(1));
    settings.webhook_retry_base = Duration::from_millis(config.webhook_retry_base_ms.max(1));
    settings.shard_lease = Duration::from_secs(config.shard_lease_secs.max(1));
    settings.executor = ExecutorSettings {
        poll: Duration::from_millis(config.execution_poll_ms.max(10)),
        workers: config.execution_workers.max(1),
        per_account: config.account_concurrency.max(1),
        lease: Duration::from_secs(config.execution_lease_secs.max(1)),
        http_allowed_hosts: config.http_allowed_hosts.clone(),
        step_timeout: config.step_timeout,
        execution_timeout: config.execution_timeout,
        step_output_limit: usize::try_from(config.step_output_limit_bytes).unwrap_or(usize::MAX),
        ..ExecutorSettings::default()
    };
    settings.execution_retention = config.execution_retention;
    settings.event_retention = config.event_retention;
    settings
}

async fn open_platform(
    db: Database,
    cipher: Cipher,
    settings: Settings,
) -> Result<Platform, StartError> {
    let platform = Platform::new(Arc::new(db), cipher, settings)?;
    platform.admin.verify_master_key().await?;
    Ok(platform)
}

/// The platform on a server's database, configured as the server is, without serving or
/// background work: for commands that act beside the servers (`dialbridge mcp`).
pub async fn platform_of(config: &ServeConfig) -> Result<Platform, StartError> {
    let (db, cipher) = open_database(config).await?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{}", config.listen))
            .map_err(|e| StartError::MasterKey(e.to_string()))?,
    };
    open_platform(db, cipher, settings(config, public_url)).await
}

/// The master key from the configuration; with SQLite and none configured, the one kept in
/// the data folder (generated there on first start).
fn resolve_master_key(config: &ServeConfig, dialect: Dialect) -> Result<MasterKey, StartError> {
    if let Some(text) = &config.master_key {
        return MasterKey::parse(text).map_err(|e| StartError::MasterKey(e.to_string()));
    }
    let dir = match (dialect, config.sqlite_data_dir()) {
        (Dialect::Sqlite, Some(dir)) => dir,
        _ => {
            return Err(StartError::MasterKey(
                "DIALBRIDGE_MASTER_KEY (or --master-key) is required with PostgreSQL: 32 bytes as 64 hex characters, e.g. from `openssl rand -hex 32`".into(),
            ))
        }
    };
    let path = dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::parse(&text)
            .map_err(|e| StartError::MasterKey(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            write_private(&path, key.to_hex().expose())
                .map_err(|e| StartError::MasterKey(format!("{}: {e}", path.display())))?;
            tracing::warn!(
                "generated a master key into {}: back it up, and set DIALBRIDGE_MASTER_KEY in production",
                path.display()
            );
            Ok(key)
        }
        Err(e) => Err(StartError::MasterKey(format!("{}: {e}", path.display()))),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
