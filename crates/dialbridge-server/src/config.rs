//! The one configuration struct of `dialbridge serve`: every flag has an environment twin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use url::Url;

/// The API key `serve --dev` accepts when none is configured.
pub const DEV_API_KEY: &str = "dialbridge-dev";

#[derive(Debug, Clone, Parser)]
#[command(name = "serve", about = "Run the dialbridge server")]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "DIALBRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// `sqlite://path` (created on first start) or `postgres://…`.
    #[arg(
        long,
        env = "DIALBRIDGE_DATABASE_URL",
        default_value = "sqlite://dialbridge-data/dialbridge.db"
    )]
    pub database_url: String,

    /// Base URL that browsers and Dialpad reach this server at [default: http://<listen>].
    #[arg(long, env = "DIALBRIDGE_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// OAuth redirect URI registered with Dialpad, when it differs from <public-url>/oauth/callback
    /// (e.g. behind another proxy).
    #[arg(long, env = "DIALBRIDGE_CALLBACK_URL")]
    pub callback_url: Option<Url>,

    /// Admin API key. When unset, one is generated on first start, stored hashed and printed once.
    #[arg(long, env = "DIALBRIDGE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// 32-byte key (64 hex characters or base64) that encrypts secrets at rest. When unset with
    /// SQLite, one is generated into the data folder; required with PostgreSQL.
    #[arg(long, env = "DIALBRIDGE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// The master key being rotated away from: values sealed under it are still opened (new
    /// ones are sealed under --master-key). Set it on every server while
    /// `dialbridge rotate-master-key` runs, then restart without it.
    #[arg(long, env = "DIALBRIDGE_PREVIOUS_MASTER_KEY", hide_env_values = true)]
    pub previous_master_key: Option<String>,

    /// Also run the Dialpad emulator under /emulator and point the `custom` environment at it;
    /// with no --api-key, the admin API key is `dialbridge-dev`.
    #[arg(long, env = "DIALBRIDGE_DEV")]
    pub dev: bool,

    /// Refresh OAuth access tokens this many seconds before they expire.
    #[arg(long, env = "DIALBRIDGE_REFRESH_MARGIN_SECS", default_value_t = 300)]
    pub refresh_margin_secs: u64,

    /// How long a connect link stays valid, in seconds.
    #[arg(long, env = "DIALBRIDGE_CONNECT_LINK_TTL_SECS", default_value_t = 1800)]
    pub connect_link_ttl_secs: u64,

    /// How often this process refreshes the tokens of its shards whose refresh moment has come
    /// (a jittered moment in the refresh margin), in seconds.
    #[arg(long, env = "DIALBRIDGE_REFRESH_INTERVAL_SECS", default_value_t = 15)]
    pub refresh_interval_secs: u64,

    /// How often each account's Dialpad webhook and subscriptions are audited (and recreated
    /// when they vanished at Dialpad), in seconds: each account at its own moment of the
    /// interval, by the process holding its shard. Changes reconcile at once regardless.
    #[arg(
        long,
        env = "DIALBRIDGE_AUDIT_INTERVAL_SECS",
        default_value_t = 86_400,
        alias = "reconcile-interval-secs"
    )]
    pub audit_interval_secs: u64,

    /// Where Dialpad posts events, when it differs from the public URL (another proxy):
    /// events go to `<this>/webhooks/dialpad/{hook_id}`.
    #[arg(long, env = "DIALBRIDGE_WEBHOOK_BASE_URL")]
    pub webhook_base_url: Option<Url>,

    /// Workflow executions this process runs at once.
    #[arg(long, env = "DIALBRIDGE_EXECUTION_WORKERS", default_value_t = 64)]
    pub execution_workers: usize,

    /// Executions of one account running at once, across all processes.
    #[arg(long, env = "DIALBRIDGE_ACCOUNT_CONCURRENCY", default_value_t = 16)]
    pub account_concurrency: u32,

    /// How long a process holds its shards of the accounts without renewing them, in seconds
    /// (PostgreSQL; renewed every third of it). When a process dies, the others take its
    /// shards — its executions, refreshes and audits — over within this.
    #[arg(long, env = "DIALBRIDGE_SHARD_LEASE_SECS", default_value_t = 15)]
    pub shard_lease_secs: u64,

    /// The longest the executor goes without looking for work it was not told of, in
    /// milliseconds. New work is signalled at once (between processes by PostgreSQL's
    /// `LISTEN`/`NOTIFY`); this look is the fallback for a lost signal.
    #[arg(long, env = "DIALBRIDGE_EXECUTION_POLL_MS", default_value_t = 1000)]
    pub execution_poll_ms: u64,

    /// How long a process's claim on an execution holds without renewal, in seconds; after a
    /// crash, another process takes the execution over once it runs out.
    #[arg(long, env = "DIALBRIDGE_EXECUTION_LEASE_SECS", default_value_t = 60)]
    pub execution_lease_secs: u64,

    /// The longest one attempt of one workflow step may take (`30s`, `5m`); past it the attempt
    /// fails with `timeout` and the step's retries apply.
    #[arg(long, env = "DIALBRIDGE_STEP_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub step_timeout: Duration,

    /// The longest an execution may run at a stretch, from its claim to its end or its next
    /// durable delay (`15m`); past it the execution fails with `timeout`.
    #[arg(long, env = "DIALBRIDGE_EXECUTION_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration)]
    pub execution_timeout: Duration,

    /// The most bytes of JSON one step's output keeps (at least 1024); a larger output is
    /// stored, and seen by later steps, as `{"truncated": true, "bytes", "limit_bytes",
    /// "preview", "message"}`.
    #[arg(long, env = "DIALBRIDGE_STEP_OUTPUT_LIMIT_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub step_output_limit_bytes: u64,

    /// How long finished executions (with their steps) and settled vendor-webhook deliveries
    /// are kept (`30d`, `12h`); unfinished ones are kept whatever their age.
    #[arg(long, env = "DIALBRIDGE_EXECUTION_RETENTION", default_value = "30d", value_parser = parse_retention)]
    pub execution_retention: Duration,

    /// How long received events are kept (`30d`); a redelivery is recognised as long as the
    /// event is kept.
    #[arg(long, env = "DIALBRIDGE_EVENT_RETENTION", default_value = "30d", value_parser = parse_retention)]
    pub event_retention: Duration,

    /// Hosts workflow `http` steps may call, comma-separated (`api.example.com`, `*.example.com`).
    #[arg(long, env = "DIALBRIDGE_HTTP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub http_allowed_hosts: Vec<String>,

    /// The unit of the vendor webhooks' retry schedule, in milliseconds: retries wait 5, 30,
    /// 120, 600, 1800, 3600, then 7200 units (the default gives 5 s … 2 h).
    #[arg(long, env = "DIALBRIDGE_WEBHOOK_RETRY_BASE_MS", default_value_t = 1000)]
    pub webhook_retry_base_ms: u64,

    /// Connections served at once; further ones wait in the listen backlog until one closes.
    #[arg(long, env = "DIALBRIDGE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// A request head (request line and headers) must arrive whole within this many seconds,
    /// or the connection is closed. For HTTP/1.1 the wait for the next request on a kept-alive
    /// connection counts too.
    #[arg(
        long,
        env = "DIALBRIDGE_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 15
    )]
    pub header_read_timeout_secs: u64,

    /// A request body must keep arriving: a gap longer than this many seconds answers 408.
    #[arg(long, env = "DIALBRIDGE_BODY_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub body_read_timeout_secs: u64,

    /// A request that takes longer than this many seconds to answer gets 503 `timeout`.
    #[arg(long, env = "DIALBRIDGE_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,

    /// A connection with no request in flight for this many seconds is closed.
    #[arg(long, env = "DIALBRIDGE_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// On shutdown, how many seconds requests in flight get to finish before their connections
    /// are dropped.
    #[arg(long, env = "DIALBRIDGE_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
}

/// A retention: a duration of at least an hour (a shorter one would purge what is still being
/// redelivered and replayed).
fn parse_retention(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration < Duration::from_secs(3600) {
        return Err(format!("{text} is under an hour; keep history at least 1h"));
    }
    Ok(duration)
}

impl ServeConfig {
    /// The folder of the SQLite database file, where a generated master key is kept.
    pub fn sqlite_data_dir(&self) -> Option<PathBuf> {
        let path = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = path.split('?').next().unwrap_or(path);
        let parent = std::path::Path::new(path).parent()?;
        Some(if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        })
    }
}
