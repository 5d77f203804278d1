//! What the domain needs from a database, as small traits; `dialbridge-storage` implements them
//! for SQLite and PostgreSQL. Secrets cross this boundary only as `Sealed` ciphertext.

use async_trait::async_trait;

use crate::account::{Account, AccountPatch, ConnectionRecord, ConnectionStatus};
use crate::app::Environment;
use crate::connect::ConnectSession;
use crate::crypto::Sealed;
use crate::ids::AccountId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Backend(String),
    #[error("stored data is not what dialbridge wrote: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Small named values: the scope selection, the master-key check.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Writes only when the key is absent; answers whether it wrote.
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;
}

/// The app's client credentials, one row per environment.
#[derive(Debug, Clone)]
pub struct AppCredentialsRecord {
    pub environment: Environment,
    pub client_id: String,
    pub client_secret: Sealed,
    pub base_url: String,
    pub updated_at: i64,
}

#[async_trait]
pub trait AppStore: Send + Sync {
    async fn list_app_credentials(&self) -> StoreResult<Vec<AppCredentialsRecord>>;
    async fn put_app_credentials(&self, record: &AppCredentialsRecord) -> StoreResult<()>;
}

/// Hashes of the admin API keys.
#[async_trait]
pub trait AdminKeyStore: Send + Sync {
    /// Idempotent: inserting a hash twice keeps one row.
    async fn insert_admin_key(&self, key_hash: &str, now: i64) -> StoreResult<()>;
    async fn admin_key_exists(&self, key_hash: &str) -> StoreResult<bool>;
    async fn count_admin_keys(&self) -> StoreResult<i64>;
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the account or applies the patch; answers the account and whether it was created.
    async fn upsert_account(
        &self,
        id: &AccountId,
        patch: &AccountPatch,
        now: i64,
    ) -> StoreResult<(Account, bool)>;
    /// The account with its connection, if any.
    async fn get_account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    /// Accounts ordered by id, strictly after `after`.
    async fn list_accounts(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<Account>>;
    /// Deletes the account, its connection and its connect sessions.
    async fn delete_account(&self, id: &AccountId) -> StoreResult<bool>;
}

/// New tokens from a refresh.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    pub access_token: Sealed,
    pub refresh_token: Sealed,
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
    pub now: i64,
}

/// A failed refresh: when to try again, and the connection's status afterwards.
#[derive(Debug, Clone)]
pub struct RefreshFailure {
    pub status: ConnectionStatus,
    pub failures: i64,
    pub next_refresh_at: Option<i64>,
    pub last_error: String,
    pub now: i64,
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn get_connection(&self, id: &AccountId) -> StoreResult<Option<ConnectionRecord>>;
    /// Writes the whole record (insert or replace) with `record.token_version` as given.
    async fn put_connection(&self, record: &ConnectionRecord) -> StoreResult<()>;
    /// Stores refreshed tokens only if the token version is still `expected_version`
    /// (compare-and-swap); bumps the version and clears failures. Answers whether it wrote.
    async fn swap_tokens(
        &self,
        id: &AccountId,
        expected_version: i64,
        update: &TokenUpdate,
    ) -> StoreResult<bool>;
    async fn record_refresh_failure(
        &self,
        id: &AccountId,
        failure: &RefreshFailure,
    ) -> StoreResult<()>;
    /// Takes the cross-process refresh lease if it is free or expired. Answers whether it did.
    async fn try_lock_refresh(
        &self,
        id: &AccountId,
        owner: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool>;
    async fn unlock_refresh(&self, id: &AccountId, owner: &str) -> StoreResult<()>;
    /// Connected OAuth connections whose access token expires before `before`.
    async fn connections_expiring_before(
        &self,
        before: i64,
        limit: u32,
    ) -> StoreResult<Vec<AccountId>>;
}

#[async_trait]
pub trait ConnectSessionStore: Send + Sync {
    async fn insert_connect_session(&self, session: &ConnectSession) -> StoreResult<()>;
    async fn find_connect_session(&self, token_hash: &str) -> StoreResult<Option<ConnectSession>>;
    /// Marks an unexpired, unopened, uncompleted session opened and binds the OAuth state and
    /// PKCE verifier to it, atomically. `None` when the link is unknown, expired or used.
    async fn open_connect_session(
        &self,
        token_hash: &str,
        state_hash: &str,
        code_verifier: &Sealed,
        now: i64,
    ) -> StoreResult<Option<ConnectSession>>;
    /// Marks the opened session with this state completed, atomically: a state redeems once.
    async fn complete_connect_session_by_state(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectSession>>;
    /// Marks an unexpired, unopened session completed (the portal's API-key form).
    async fn complete_connect_session_by_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectSession>>;
    async fn purge_connect_sessions(&self, expired_before: i64) -> StoreResult<u64>;
}

/// Everything the platform stores.
#[async_trait]
pub trait Store:
    SettingsStore + AppStore + AdminKeyStore + AccountStore + ConnectionStore + ConnectSessionStore
{
    /// A cheap round trip, for `/healthz`.
    async fn ping(&self) -> StoreResult<()>;
}
