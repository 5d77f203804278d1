//! The operator's side: named admin API keys (stored hashed; created, listed and revoked
//! through the API; a bootstrap key registered or generated at start), who a presented key
//! belongs to, and the check that the master key opens what this database holds.
//!
//! Keys found valid are remembered for `KEY_RECHECK`, then looked up again: a key revoked in
//! this process stops working at once, one revoked by another process sharing the database
//! within that bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::crypto::{hash_api_key, random_token, Cipher, Sealed};
use crate::error::{Error, Resource, Result};
use crate::ids::new_id;
use crate::platform::Shared;
use crate::secret::Secret;
use crate::store::{AdminKeyRecord, AdminKeyRegistry, Revocation, SettingsStore};
use crate::time::Timestamp;

pub(crate) const MASTER_KEY_CHECK: &str = "master_key.check";
const MASTER_KEY_PROBE: &str = "dialbridge";

/// How long a key found valid is trusted before the database is asked again.
pub const KEY_RECHECK: Duration = Duration::from_secs(2);
/// `last_used_at` is written at most this often per key (it is a hint, not a log).
const LAST_USED_PRECISION: Duration = Duration::from_secs(60);
/// Generated keys: `dbk_` and 43 characters of randomness (32 bytes).
const KEY_PREFIX: &str = "dbk_";
/// How much of a generated key the API shows to tell keys apart: the prefix and 4 of its 43
/// random characters.
const HINT_LEN: usize = KEY_PREFIX.len() + 4;
const MAX_NAME_CHARS: usize = 64;

/// Who is calling: the admin API key a request was authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    pub key_id: String,
    pub key_name: String,
}

/// `POST /api/v1/admin-keys`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminKeyInput {
    /// Who or what will use the key (1–64 characters), e.g. `billing-service` or `alice`.
    pub name: Option<String>,
}

/// An admin API key as the API shows it: never the key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters (`dbk_AbCd`) for keys dialbridge generated; `null` for a key
    /// the operator chose (`--api-key`).
    pub key_hint: Option<String>,
    pub created_at: Timestamp,
    /// When it was last used, to the minute.
    pub last_used_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl From<AdminKeyRecord> for AdminKeyView {
    fn from(r: AdminKeyRecord) -> Self {
        AdminKeyView {
            id: r.id,
            name: r.name,
            key_hint: r.key_hint,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A key just created, the only time it is shown. (`Debug` leaves the key out.)
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct NewAdminKey {
    pub id: String,
    pub name: String,
    /// The key: send it as `Authorization: Bearer <key>`. It is not shown again.
    pub key: String,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for NewAdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdminKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &"***")
            .finish()
    }
}

/// Keys found valid, by hash, with when they were last looked up. `epoch` changes with every
/// revocation, so a lookup that began before one cannot put its answer back afterwards.
#[derive(Default)]
pub(crate) struct KnownKeys {
    epoch: u64,
    keys: HashMap<String, (AdminIdentity, Instant)>,
}

#[derive(Clone)]
pub struct Admin {
    pub(crate) keys: Arc<dyn AdminKeyRegistry>,
    pub(crate) settings: Arc<dyn SettingsStore>,
    pub(crate) shared: Shared,
    pub(crate) known_keys: Arc<Mutex<KnownKeys>>,
}

impl Admin {
    /// Makes sure an admin key exists. With `configured`, that key is registered under `name`
    /// (unless it was registered before: a key revoked through the API stays revoked); without,
    /// a key is generated when no active key exists and returned so it can be shown once.
    pub async fn bootstrap_admin_key(
        &self,
        configured: Option<&Secret>,
        name: &str,
    ) -> Result<Option<Secret>> {
        if let Some(key) = configured {
            let record = new_record(name, key.expose(), None);
            if !self.keys.insert_admin_key_record(&record).await? {
                let stored = self.keys.find_admin_key(&record.key_hash).await?;
                if stored.is_some_and(|k| k.revoked_at.is_some()) {
                    tracing::warn!("the configured admin API key was revoked and is not accepted");
                }
            }
            return Ok(None);
        }
        if !self.keys.list_admin_keys().await?.is_empty() {
            return Ok(None);
        }
        let key = generate_key();
        let record = new_record(name, key.expose(), Some(hint(key.expose())));
        self.keys.insert_admin_key_record(&record).await?;
        Ok(Some(key))
    }

    /// Creates a key named `input.name`; the answer is the only place the key is shown.
    pub async fn create_key(&self, input: AdminKeyInput) -> Result<NewAdminKey> {
        let name = valid_name(input.name)?;
        let key = generate_key();
        let record = new_record(&name, key.expose(), Some(hint(key.expose())));
        if !self.keys.insert_admin_key_record(&record).await? {
            return Err(Error::Internal("a generated admin API key collided".into()));
        }
        Ok(NewAdminKey {
            id: record.id,
            name: record.name,
            key: key.expose().to_owned(),
            created_at: record.created_at,
        })
    }

    /// The active keys, oldest first.
    pub async fn keys(&self) -> Result<Vec<AdminKeyView>> {
        let keys = self.keys.list_admin_keys().await?;
        Ok(keys.into_iter().map(AdminKeyView::from).collect())
    }

    /// Revokes a key: it stops working at once in this process, and within `KEY_RECHECK` in
    /// others. The last active key cannot be revoked (no one could create another).
    pub async fn revoke_key(&self, id: &str) -> Result<AdminKeyView> {
        match self.keys.revoke_admin_key(id, Timestamp::now()).await? {
            Revocation::Revoked(record) => {
                let mut known = self.known();
                known.epoch += 1;
                known.keys.retain(|_, (identity, _)| identity.key_id != id);
                Ok(record.into())
            }
            Revocation::NotFound => Err(Error::not_found(Resource::AdminKey, id)),
            Revocation::LastKey => Err(Error::LastAdminKey(id.to_owned())),
        }
    }

    /// Whose active key `presented` is, if anyone's.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<AdminIdentity>> {
        let hash = hash_api_key(presented);
        let epoch = match self.remembered(&hash) {
            Ok(identity) => return Ok(Some(identity)),
            Err(epoch) => epoch,
        };
        let record = self.keys.find_admin_key(&hash).await?;
        let Some(record) = record.filter(|k| k.revoked_at.is_none()) else {
            self.known().keys.remove(&hash);
            return Ok(None);
        };
        let now = Timestamp::now();
        if record
            .last_used_at
            .is_none_or(|at| now.since(at) >= LAST_USED_PRECISION)
        {
            if let Err(e) = self.keys.touch_admin_key(&record.id, now).await {
                tracing::warn!(key_id = %record.id, "could not record the key's last use: {e}");
            }
        }
        let identity = AdminIdentity {
            key_id: record.id,
            key_name: record.name,
        };
        let mut known = self.known();
        if known.epoch == epoch {
            known.keys.insert(hash, (identity.clone(), Instant::now()));
        }
        Ok(Some(identity))
    }

    /// Whose key `presented` is when that was found within `KEY_RECHECK`: what `authenticate`
    /// answers without waiting for the database. `None` says only that the database must be
    /// asked.
    pub fn recently_authenticated(&self, presented: &str) -> Option<AdminIdentity> {
        self.remembered(&hash_api_key(presented)).ok()
    }

    /// The identity of the key hashed to `hash` if it was found valid within `KEY_RECHECK`,
    /// else the epoch of revocations the database lookup starts from.
    fn remembered(&self, hash: &str) -> std::result::Result<AdminIdentity, u64> {
        let known = self.known();
        match known.keys.get(hash) {
            Some((identity, checked)) if checked.elapsed() < KEY_RECHECK => Ok(identity.clone()),
            _ => Err(known.epoch),
        }
    }

    pub async fn is_admin_key(&self, presented: &str) -> Result<bool> {
        Ok(self.authenticate(presented).await?.is_some())
    }

    fn known(&self) -> MutexGuard<'_, KnownKeys> {
        self.known_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks that the master key opens what this database already holds, or records a check
    /// value on first start, so a wrong key fails at start-up instead of at first use.
    pub async fn verify_master_key(&self) -> Result<()> {
        if self
            .settings
            .put_setting_if_absent(MASTER_KEY_CHECK, &check_value(self.shared.cipher()))
            .await?
        {
            return Ok(());
        }
        let stored = self
            .settings
            .get_setting(MASTER_KEY_CHECK)
            .await?
            .unwrap_or_default();
        if opens_check_value(self.shared.cipher(), &stored) {
            return Ok(());
        }
        Err(Error::Internal(
            "the master key does not match the one this database was created with".into(),
        ))
    }
}

/// The master-key check value sealed under `cipher`'s current key, as stored (hex).
pub(crate) fn check_value(cipher: &Cipher) -> String {
    hex::encode(cipher.seal(MASTER_KEY_PROBE).0)
}

/// Whether `cipher` opens the stored check value.
pub(crate) fn opens_check_value(cipher: &Cipher, stored: &str) -> bool {
    hex::decode(stored).is_ok_and(|bytes| cipher.open(&Sealed(bytes)).is_ok())
}

fn generate_key() -> Secret {
    Secret::new(format!("{KEY_PREFIX}{}", random_token(32)))
}

fn hint(key: &str) -> String {
    key.chars().take(HINT_LEN).collect()
}

fn new_record(name: &str, key: &str, key_hint: Option<String>) -> AdminKeyRecord {
    AdminKeyRecord {
        id: new_id("key"),
        name: name.to_owned(),
        key_hash: hash_api_key(key),
        key_hint,
        created_at: Timestamp::now(),
        last_used_at: None,
        revoked_at: None,
    }
}

fn valid_name(name: Option<String>) -> Result<String> {
    let name = name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(Error::invalid(
            "name",
            "is required: say who or what will use the key",
        ));
    }
    check_name(name)?;
    Ok(name.to_owned())
}

/// A name for who or what uses a credential (an admin key, an MCP token): at most
/// `MAX_NAME_CHARS` characters, none of them control characters.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(valid_name(Some("  billing  ".into())).unwrap(), "billing");
        for bad in [
            None,
            Some(" ".into()),
            Some("a\nb".into()),
            Some("x".repeat(65)),
        ] {
            assert!(valid_name(bad).is_err());
        }
    }

    #[test]
    fn generated_keys_show_only_a_short_hint() {
        let key = generate_key();
        assert!(key.expose().starts_with("dbk_") && key.expose().len() == 47);
        assert_eq!(hint(key.expose()).len(), 8);
        assert!(key.expose().starts_with(&hint(key.expose())));
    }
}
