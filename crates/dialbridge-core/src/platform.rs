//! `Platform` holds what every domain operation needs (storage, the cipher, an HTTP client for
//! Dialpad, settings); the operations live in the module of their concern as `impl Platform`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use crate::actions::{RetryPolicy, Throttle};
use crate::crypto::{hash_api_key, random_token, Cipher, Sealed};
use crate::error::{Error, Result};
use crate::executor::ExecutorSettings;
use crate::ids::AccountId;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::store::Store;
use crate::time::now_ms;

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

#[derive(Clone)]
pub struct Platform(Arc<Inner>);

struct Inner {
    store: Arc<dyn Store>,
    cipher: Cipher,
    http: reqwest::Client,
    settings: Settings,
    /// Names this process in cross-process refresh leases.
    owner: String,
    /// One refresh at a time per account inside this process.
    refresh_locks: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>,
    /// Admin key hashes already seen valid.
    known_admin_keys: Mutex<std::collections::HashSet<String>>,
    /// Dialpad's rate limits, kept per account by this process.
    throttle: Throttle,
    /// Wakes this process's executor when work is queued.
    executor_wake: tokio::sync::Notify,
    metrics: Metrics,
}

impl Platform {
    pub fn new(store: Arc<dyn Store>, cipher: Cipher, settings: Settings) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("dialbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Platform(Arc::new(Inner {
            store,
            cipher,
            http,
            settings,
            owner: random_token(12),
            refresh_locks: Mutex::new(HashMap::new()),
            known_admin_keys: Mutex::new(Default::default()),
            throttle: Throttle::default(),
            executor_wake: tokio::sync::Notify::new(),
            metrics: Metrics::default(),
        })))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.0.cipher
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    /// This process's Prometheus metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Tells this process's executor that work was queued.
    pub fn wake_executor(&self) {
        self.0.executor_wake.notify_one();
    }

    pub(crate) async fn executor_notified(&self) {
        self.0.executor_wake.notified().await;
    }

    pub(crate) fn throttle(&self) -> &Throttle {
        &self.0.throttle
    }

    pub(crate) fn owner(&self) -> &str {
        &self.0.owner
    }

    pub(crate) fn open(&self, sealed: &Sealed) -> Result<Secret> {
        self.0
            .cipher
            .open(sealed)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    pub(crate) fn refresh_lock(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .0
            .refresh_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Forget locks nobody holds, so the map does not grow with every account ever seen.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(account.clone()).or_default().clone()
    }

    /// Makes sure an admin key exists. With `configured`, that key is registered; without,
    /// a key is generated when none exists yet and returned so it can be shown once.
    pub async fn bootstrap_admin_key(&self, configured: Option<&Secret>) -> Result<Option<Secret>> {
        if let Some(key) = configured {
            self.store()
                .insert_admin_key(&hash_api_key(key.expose()), now_ms())
                .await?;
            return Ok(None);
        }
        if self.store().count_admin_keys().await? > 0 {
            return Ok(None);
        }
        let key = Secret::new(format!("dbk_{}", random_token(32)));
        self.store()
            .insert_admin_key(&hash_api_key(key.expose()), now_ms())
            .await?;
        Ok(Some(key))
    }

    pub async fn is_admin_key(&self, presented: &str) -> Result<bool> {
        let hash = hash_api_key(presented);
        if self
            .0
            .known_admin_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&hash)
        {
            return Ok(true);
        }
        let exists = self.store().admin_key_exists(&hash).await?;
        if exists {
            self.0
                .known_admin_keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash);
        }
        Ok(exists)
    }

    /// Checks that the master key opens what this database already holds, or records a check
    /// value on first start, so a wrong key fails at start-up instead of at first use.
    pub async fn verify_master_key(&self) -> Result<()> {
        const KEY: &str = "master_key.check";
        let probe = self.cipher().seal("dialbridge");
        let encoded = hex::encode(&probe.0);
        if self.store().put_setting_if_absent(KEY, &encoded).await? {
            return Ok(());
        }
        let stored = self.store().get_setting(KEY).await?.unwrap_or_default();
        let sealed = Sealed(hex::decode(stored).map_err(|e| Error::Internal(e.to_string()))?);
        self.cipher().open(&sealed).map(|_| ()).map_err(|_| {
            Error::Internal(
                "the master key does not match the one this database was created with".into(),
            )
        })
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
