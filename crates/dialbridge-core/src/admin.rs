//! The operator's side: admin API keys (stored hashed, a key generated on first start when none
//! is configured) and the check that the master key opens what this database holds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::crypto::{hash_api_key, random_token, Sealed};
use crate::error::{Error, Result};
use crate::platform::Shared;
use crate::secret::Secret;
use crate::store::{AdminKeyStore, SettingsStore};
use crate::time::Timestamp;

const MASTER_KEY_CHECK: &str = "master_key.check";

#[derive(Clone)]
pub struct Admin {
    pub(crate) keys: Arc<dyn AdminKeyStore>,
    pub(crate) settings: Arc<dyn SettingsStore>,
    pub(crate) shared: Shared,
    /// Admin key hashes already seen valid.
    pub(crate) known_keys: Arc<Mutex<HashSet<String>>>,
}

impl Admin {
    /// Makes sure an admin key exists. With `configured`, that key is registered; without,
    /// a key is generated when none exists yet and returned so it can be shown once.
    pub async fn bootstrap_admin_key(&self, configured: Option<&Secret>) -> Result<Option<Secret>> {
        if let Some(key) = configured {
            self.keys
                .insert_admin_key(&hash_api_key(key.expose()), Timestamp::now())
                .await?;
            return Ok(None);
        }
        if self.keys.count_admin_keys().await? > 0 {
            return Ok(None);
        }
        let key = Secret::new(format!("dbk_{}", random_token(32)));
        self.keys
            .insert_admin_key(&hash_api_key(key.expose()), Timestamp::now())
            .await?;
        Ok(Some(key))
    }

    pub async fn is_admin_key(&self, presented: &str) -> Result<bool> {
        let hash = hash_api_key(presented);
        let known = |keys: &Mutex<HashSet<String>>| {
            keys.lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&hash)
        };
        if known(&self.known_keys) {
            return Ok(true);
        }
        let exists = self.keys.admin_key_exists(&hash).await?;
        if exists {
            self.known_keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash);
        }
        Ok(exists)
    }

    /// Checks that the master key opens what this database already holds, or records a check
    /// value on first start, so a wrong key fails at start-up instead of at first use.
    pub async fn verify_master_key(&self) -> Result<()> {
        let probe = self.shared.seal("dialbridge");
        let encoded = hex::encode(&probe.0);
        if self
            .settings
            .put_setting_if_absent(MASTER_KEY_CHECK, &encoded)
            .await?
        {
            return Ok(());
        }
        let stored = self
            .settings
            .get_setting(MASTER_KEY_CHECK)
            .await?
            .unwrap_or_default();
        let sealed = Sealed(hex::decode(stored).map_err(|e| Error::Internal(e.to_string()))?);
        self.shared.cipher().open(&sealed).map(|_| ()).map_err(|_| {
            Error::Internal(
                "the master key does not match the one this database was created with".into(),
            )
        })
    }
}
