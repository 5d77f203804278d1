//! `Platform`: the one handle the server holds. It builds dialbridge's parts once — each named
//! for what it does and holding only the store traits it uses — and hands them out as fields:
//! `platform.connections.start_connect(…)`, `platform.executions.replay(…)`. `Settings` is
//! what the domain reads of the configuration; `Shared` is what every part needs besides its
//! stores (the cipher, one HTTP client, the settings, metrics, this process's name).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::actions::Actions;
use crate::admin::Admin;
use crate::app::{AppSettings, Configured};
use crate::audit::Audit;
use crate::cache::TtlCache;
use crate::cluster::{Cluster, Ownership};
use crate::connections::{Account, Connections, Tokens};
use crate::crypto::{random_token, Cipher, Sealed};
use crate::error::{Error, Result};
use crate::events::{EventHistory, Ingress, Provisioning, RefusedDeliveries, WebhookKey};
use crate::executions::routing::AccountRoutes;
use crate::executions::{Executions, ExecutorSettings};
use crate::gateway::{Gateway, RetryPolicy, Throttle};
use crate::ids::AccountId;
use crate::mcp::Mcp;
use crate::metrics::Metrics;
use crate::retention::Retention;
use crate::secret::Secret;
use crate::signals::{Signal, Signals};
use crate::store::{EndpointRecord, Store};
use crate::vendor_webhooks::VendorWebhooks;
use crate::workflows::Definition;
use crate::workflows::Workflows;

/// Settings the domain reads; built once from the server's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL that browsers reach dialbridge at.
    pub public_url: Url,
    /// Where Dialpad sends the customer back: `<public_url>/oauth/callback` unless overridden.
    pub callback_url: Url,
    /// How long a connect link stays valid.
    pub connect_link_ttl: Duration,
    /// Refresh an access token this long before it expires.
    pub refresh_margin: Duration,
    /// How often idle connections are checked for expiring tokens.
    pub refresh_interval: Duration,
    /// How often each account's Dialpad webhook and subscriptions are audited against Dialpad
    /// (each account at its own moment of the interval).
    pub audit_interval: Duration,
    /// How often `schedule` triggers are looked at.
    pub schedule_interval: Duration,
    /// The unit of the vendor-webhook retry schedule.
    pub webhook_retry_base: Duration,
    /// How long finished executions (with their steps) and settled vendor deliveries are kept.
    pub execution_retention: Duration,
    /// How long events (and so the memory of their redeliveries) are kept.
    pub event_retention: Duration,
    /// How long a process holds its shards unrenewed (PostgreSQL); when one dies, the others
    /// take its shards over within this.
    pub shard_lease: Duration,
    /// How actions retry Dialpad's 429s, 5xx and timeouts.
    pub retry: RetryPolicy,
    /// How workflow executions run.
    pub executor: ExecutorSettings,
    /// Where Dialpad posts events (`<this>/webhooks/dialpad/{hook_id}`), when it differs from
    /// the public URL (another proxy).
    pub webhook_base_url: Option<Url>,
}

impl Settings {
    pub fn new(public_url: Url) -> Self {
        let callback_url = join(&public_url, "oauth/callback");
        Settings {
            public_url,
            callback_url,
            connect_link_ttl: Duration::from_secs(30 * 60),
            refresh_margin: Duration::from_secs(5 * 60),
            refresh_interval: Duration::from_secs(15),
            audit_interval: Duration::from_secs(24 * 3600),
            schedule_interval: Duration::from_secs(15),
            webhook_retry_base: Duration::from_secs(1),
            execution_retention: Duration::from_secs(30 * 24 * 3600),
            event_retention: Duration::from_secs(30 * 24 * 3600),
            shard_lease: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            executor: ExecutorSettings::default(),
            webhook_base_url: None,
        }
    }

    /// `<public_url>/<path>`, keeping any path prefix of the public URL.
    pub fn public(&self, path: &str) -> Url {
        join(&self.public_url, path)
    }
}

pub(crate) fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/{path}"));
    url.set_query(None);
    url
}

/// What every part needs besides its stores.
#[derive(Clone)]
pub(crate) struct Shared(Arc<SharedInner>);

struct SharedInner {
    cipher: Cipher,
    http: reqwest::Client,
    settings: Settings,
    metrics: Metrics,
    /// Names this process in leases (shards, token refreshes, executions, deliveries).
    owner: String,
    signals: Signals,
    ownership: Ownership,
    caches: ConfigCaches,
}

/// What parts keep in memory of the configuration (workflows, enablements, accounts, hooks),
/// emptied together when it changes (`Shared::config_changed`, or `Signal::Config` from
/// another process) and expiring on their own as a backstop.
pub(crate) struct ConfigCaches {
    /// Per account: its shard and the routes of its enabled workflows (`None`: no account).
    pub routes: TtlCache<AccountId, Option<Arc<AccountRoutes>>>,
    /// Per workflow version: the parsed definition (versions never change).
    pub definitions: TtlCache<(String, i64), Arc<Definition>>,
    /// Per hook id: the account and the secret its events are signed with (`None`: no hook).
    pub hooks: TtlCache<String, Option<Arc<HookSecret>>>,
    /// The vendor's webhook endpoints.
    pub endpoints: TtlCache<(), Arc<Vec<EndpointRecord>>>,
    /// The app's credentials per environment.
    pub app: TtlCache<(), Arc<Vec<Arc<Configured>>>>,
    /// Per account: it and its connection, for actions and the proxy (`None`: no account).
    /// Forgotten when the connection changes (`Shared::connection_changed`, or
    /// `Signal::Account` from another process).
    pub accounts: TtlCache<AccountId, Option<Arc<Account>>>,
}

/// A Dialpad webhook's account and signing key.
pub(crate) struct HookSecret {
    pub account_id: AccountId,
    pub key: WebhookKey,
}

/// How long a cached view of the configuration is trusted without a signal.
const CONFIG_TTL: Duration = Duration::from_secs(5);
const CONFIG_CAPACITY: usize = 100_000;

impl ConfigCaches {
    fn new() -> Self {
        ConfigCaches {
            routes: TtlCache::new(CONFIG_TTL, CONFIG_CAPACITY),
            definitions: TtlCache::new(Duration::from_secs(3600), 10_000),
            hooks: TtlCache::new(CONFIG_TTL, CONFIG_CAPACITY),
            endpoints: TtlCache::new(CONFIG_TTL, 1),
            app: TtlCache::new(CONFIG_TTL, 1),
            accounts: TtlCache::new(CONFIG_TTL, CONFIG_CAPACITY),
        }
    }

    pub(crate) fn clear(&self) {
        self.routes.clear();
        self.hooks.clear();
        self.endpoints.clear();
        self.app.clear();
        self.accounts.clear();
    }
}

impl Shared {
    fn new(
        cipher: Cipher,
        settings: Settings,
        owner: String,
        signals: Signals,
        ownership: Ownership,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("dialbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Shared(Arc::new(SharedInner {
            cipher,
            http,
            settings,
            metrics: Metrics::default(),
            owner,
            signals,
            ownership,
            caches: ConfigCaches::new(),
        })))
    }

    pub(crate) fn caches(&self) -> &ConfigCaches {
        &self.0.caches
    }

    /// Configuration changed here: empties this process's caches at once and tells the others.
    pub(crate) async fn config_changed(&self) {
        self.0.caches.clear();
        self.0.signals.send(Signal::Config).await;
    }

    /// An account's connection changed here (connected, disconnected, tokens refreshed, a
    /// refresh failed): forgets this process's copy at once and tells the others to forget
    /// theirs. Until their signal arrives (or, if it is lost, for at most `CONFIG_TTL`) another
    /// process may still send with the token from before; a refreshed-away token that Dialpad
    /// refuses sends it to the stored one (`Tokens::credential_after_unauthorized`).
    pub(crate) async fn connection_changed(&self, account: &AccountId) {
        self.0.caches.accounts.remove(account);
        self.0.signals.send(Signal::Account(account.clone())).await;
    }

    /// This process's signal bus.
    pub(crate) fn signals(&self) -> &Signals {
        &self.0.signals
    }

    /// The shards this process holds.
    pub(crate) fn ownership(&self) -> &Ownership {
        &self.0.ownership
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub(crate) fn owner(&self) -> &str {
        &self.0.owner
    }

    pub(crate) fn seal(&self, plaintext: &str) -> Sealed {
        self.0.cipher.seal(plaintext)
    }

    pub(crate) fn open(&self, sealed: &Sealed) -> Result<Secret> {
        self.0
            .cipher
            .open(sealed)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.0.cipher
    }
}

/// dialbridge's parts, built once; cheap to clone.
#[derive(Clone)]
pub struct Platform(Arc<Parts>);

/// The parts, by what they do.
pub struct Parts {
    /// The vendor's Dialpad app: credentials per environment, scopes.
    pub app: AppSettings,
    /// Admin API keys and the master-key check.
    pub admin: Admin,
    /// The record of admin changes: who, what, when.
    pub audit: Audit,
    /// Accounts and their Dialpad connections: connect links, OAuth, API keys, disconnects.
    pub connections: Connections,
    /// Valid credentials for an account, refreshing OAuth tokens once across the cluster.
    pub tokens: Tokens,
    /// The action catalog run for an account, and the SDK-compatible proxy.
    pub actions: Actions,
    /// Events in: Dialpad webhooks and the vendor's own events.
    pub ingress: Ingress,
    /// The stored events, with the executions each started.
    pub events: EventHistory,
    /// The Dialpad webhook and subscriptions each account's enabled workflows need.
    pub provisioning: Provisioning,
    /// Workflow definitions and their enablement per account.
    pub workflows: Workflows,
    /// Durable runs: started, claimed and run, listed, cancelled, replayed.
    pub executions: Executions,
    /// dialbridge's own webhooks to the vendor.
    pub vendor_webhooks: VendorWebhooks,
    /// History past its age limit, removed.
    pub retention: Retention,
    /// MCP tokens, and each account's tools and resources for MCP clients.
    pub mcp: Mcp,
    store: Arc<dyn Store>,
    shared: Shared,
    /// Taken by `start_background`.
    cluster: std::sync::Mutex<Option<Cluster>>,
}

impl Deref for Platform {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Platform {
    pub fn new(store: Arc<dyn Store>, cipher: Cipher, settings: Settings) -> Result<Self> {
        let owner = random_token(12);
        let signals = Signals::new(store.clone());
        let (cluster, ownership) = Cluster::new(store.clone(), owner.clone(), settings.shard_lease);
        let shared = Shared::new(cipher, settings, owner, signals, ownership)?;
        // Each part is given the store traits it uses (upcast from the one store), the parts
        // it calls, and what every part shares.
        let app = AppSettings {
            credentials: store.clone(),
            values: store.clone(),
            shared: shared.clone(),
        };
        let admin = Admin {
            keys: store.clone(),
            settings: store.clone(),
            shared: shared.clone(),
            known_keys: Arc::default(),
        };
        let audit = Audit {
            records: store.clone(),
        };
        let vendor_webhooks = VendorWebhooks {
            endpoints: store.clone(),
            connections: store.clone(),
            shared: shared.clone(),
        };
        let tokens = Tokens {
            connections: store.clone(),
            app: app.clone(),
            vendor_webhooks: vendor_webhooks.clone(),
            shared: shared.clone(),
            refresh_locks: Arc::default(),
            exchanges: tokio_util::task::TaskTracker::new(),
        };
        let gateway = Gateway {
            tokens: tokens.clone(),
            app: app.clone(),
            throttle: Arc::new(Throttle::new(store.clone())),
            shared: shared.clone(),
        };
        let provisioning = Provisioning {
            hooks: store.clone(),
            workflows: store.clone(),
            connections: store.clone(),
            gateway: gateway.clone(),
            shared: shared.clone(),
        };
        let connections = Connections {
            accounts: store.clone(),
            connections: store.clone(),
            sessions: store.clone(),
            app: app.clone(),
            tokens: tokens.clone(),
            gateway: gateway.clone(),
            provisioning: provisioning.clone(),
            vendor_webhooks: vendor_webhooks.clone(),
            shared: shared.clone(),
        };
        let actions = Actions {
            accounts: store.clone(),
            gateway,
            shared: shared.clone(),
        };
        let executions = Executions {
            executions: store.clone(),
            workflows: store.clone(),
            accounts: store.clone(),
            actions: actions.clone(),
            vendor_webhooks: vendor_webhooks.clone(),
            shared: shared.clone(),
            journal_writer: Arc::default(),
            slots: Arc::default(),
        };
        let refused = RefusedDeliveries::default();
        let ingress = Ingress {
            hooks: store.clone(),
            executions: executions.clone(),
            shared: shared.clone(),
            writer: Arc::default(),
            refused: refused.clone(),
        };
        let events = EventHistory {
            executions: store.clone(),
            refused,
        };
        let workflows = Workflows {
            workflows: store.clone(),
            accounts: store.clone(),
            provisioning: provisioning.clone(),
            shared: shared.clone(),
        };
        let retention = Retention {
            store: store.clone(),
            shared: shared.clone(),
        };
        let mcp = Mcp {
            tokens: store.clone(),
            workflows: store.clone(),
            actions: actions.clone(),
            executions: executions.clone(),
            shared: shared.clone(),
        };
        Ok(Platform(Arc::new(Parts {
            app,
            admin,
            audit,
            connections,
            tokens,
            actions,
            ingress,
            events,
            provisioning,
            workflows,
            executions,
            vendor_webhooks,
            retention,
            mcp,
            store,
            shared,
            cluster: std::sync::Mutex::new(Some(cluster)),
        })))
    }

    /// The storage behind every part: for `/healthz`, operators' tools and tests that look at
    /// what was stored.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    pub fn settings(&self) -> &Settings {
        self.0.shared.settings()
    }

    /// This process's Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        self.0.shared.metrics()
    }

    /// The signal bus: what changed, here and in other processes.
    pub fn signals(&self) -> &Signals {
        self.0.shared.signals()
    }

    /// The shards this process holds.
    pub fn ownership(&self) -> &Ownership {
        self.0.shared.ownership()
    }

    pub(crate) fn clear_caches(&self) {
        self.0.shared.caches().clear();
    }

    pub(crate) fn forget_account(&self, account: &AccountId) {
        self.0.shared.caches().accounts.remove(account);
    }

    pub(crate) fn take_cluster(&self) -> Option<Cluster> {
        self.0
            .cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_keep_a_path_prefix() {
        let s = Settings::new(Url::parse("https://example.com/bridge/").unwrap());
        assert_eq!(
            s.callback_url.as_str(),
            "https://example.com/bridge/oauth/callback"
        );
        let s = Settings::new(Url::parse("http://127.0.0.1:8080").unwrap());
        assert_eq!(
            s.callback_url.as_str(),
            "http://127.0.0.1:8080/oauth/callback"
        );
        assert_eq!(
            s.public("connect/abc").as_str(),
            "http://127.0.0.1:8080/connect/abc"
        );
    }
}
