//! What the operator's side needs from a database: named admin API keys (hashed, revocable),
//! the audit log of admin changes, and every sealed value, read and replaced in batches when
//! the master key is rotated.

use async_trait::async_trait;

use super::StoreResult;
use crate::crypto::Sealed;
use crate::time::Timestamp;

/// An admin API key as stored: its SHA-256 hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKeyRecord {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    /// The first characters of a key dialbridge generated (`dbk_AbCd`), to tell keys apart;
    /// `None` for keys chosen by the operator.
    pub key_hint: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// What revoking a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked now; the record as it is afterwards.
    Revoked(AdminKeyRecord),
    /// No active key has this id.
    NotFound,
    /// It is the only active key: nothing was changed.
    LastKey,
}

#[async_trait]
pub trait AdminKeyRegistry: Send + Sync {
    /// Stores a key unless its hash is stored already (revoked or not); answers whether it
    /// inserted.
    async fn insert_admin_key_record(&self, record: &AdminKeyRecord) -> StoreResult<bool>;
    /// The key with this hash, revoked or not.
    async fn find_admin_key(&self, key_hash: &str) -> StoreResult<Option<AdminKeyRecord>>;
    /// The active keys, oldest first.
    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKeyRecord>>;
    /// Revokes an active key, unless it is the last active one; two revocations at once
    /// never leave no key.
    async fn revoke_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<Revocation>;
    async fn touch_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<()>;
}

/// One admin change: who made it, what it changed, when.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: String,
    pub at: Timestamp,
    /// `api` (an admin API key) or `cli` (a command run against the database).
    pub source: String,
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    /// What was done, e.g. `app.credentials.put`.
    pub action: String,
    /// What it was done to, e.g. `environment/custom`.
    pub target: String,
    /// A few words of what changed, never a secret.
    pub summary: serde_json::Value,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_record(&self, record: &AuditRecord) -> StoreResult<()>;
    /// Newest first (`at` desc, then `id` desc); `cursor` is the `id` of the last item of the
    /// previous page.
    async fn list_audit_records(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>>;
}

/// Every place the schema keeps a sealed value. A new sealed column belongs here, or a
/// master-key rotation leaves it under the old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedColumn {
    AppClientSecret,
    ConnectionAccessToken,
    ConnectionRefreshToken,
    ConnectionApiKey,
    HookSecret,
    EndpointSecret,
    ConnectSessionVerifier,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 7] = [
        SealedColumn::AppClientSecret,
        SealedColumn::ConnectionAccessToken,
        SealedColumn::ConnectionRefreshToken,
        SealedColumn::ConnectionApiKey,
        SealedColumn::HookSecret,
        SealedColumn::EndpointSecret,
        SealedColumn::ConnectSessionVerifier,
    ];

    /// For a person: what the values are.
    pub fn describe(self) -> &'static str {
        match self {
            SealedColumn::AppClientSecret => "app client secrets",
            SealedColumn::ConnectionAccessToken => "connections' access tokens",
            SealedColumn::ConnectionRefreshToken => "connections' refresh tokens",
            SealedColumn::ConnectionApiKey => "connections' Dialpad API keys",
            SealedColumn::HookSecret => "Dialpad webhook secrets",
            SealedColumn::EndpointSecret => "vendor webhook endpoint secrets",
            SealedColumn::ConnectSessionVerifier => "connect attempts' PKCE verifiers",
        }
    }
}

/// A sealed value and the key of its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCell {
    pub row: String,
    pub value: Sealed,
}

#[async_trait]
pub trait ResealStore: Send + Sync {
    /// Up to `limit` values (NULLs left out) of `column`, in row-key order, after `after`.
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SealedCell>>;
    /// In one transaction, writes each new value where its row still holds the value that
    /// was read (a row changed meanwhile is left as it is); answers how many were written.
    async fn reseal(
        &self,
        column: SealedColumn,
        changes: &[(SealedCell, Sealed)],
    ) -> StoreResult<u64>;
}
