//! Accounts (the vendor's customers) and their Dialpad connection as stored.

use serde::{Deserialize, Serialize};

use crate::app::Environment;
use crate::crypto::Sealed;
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub struct Account {
    pub account_id: AccountId,
    /// Where its work runs (see `cluster.rs`); -1 until assigned.
    pub shard: i64,
    pub name: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub connection: Option<ConnectionRecord>,
}

/// `PUT /api/v1/accounts/{id}`: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// At most 256 characters.
    pub name: Option<String>,
    /// Any JSON object, at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AccountPatch {
    pub fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name {
            if name.chars().count() > 256 {
                return Err(Error::invalid("name", "must be at most 256 characters"));
            }
        }
        if let Some(metadata) = &self.metadata {
            let size = serde_json::to_vec(metadata).map(|v| v.len()).unwrap_or(0);
            if size > 16 * 1024 {
                return Err(Error::invalid("metadata", "must be at most 16 KiB of JSON"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Pending,
    Connected,
    ReauthRequired,
    Disconnected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    Oauth,
    ApiKey,
}

macro_rules! str_enum {
    ($ty:ty { $($variant:ident = $text:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
            pub fn from_db(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

str_enum!(ConnectionStatus {
    Pending = "pending",
    Connected = "connected",
    ReauthRequired = "reauth_required",
    Disconnected = "disconnected",
});
str_enum!(AuthType { Oauth = "oauth", ApiKey = "api_key" });

/// An account's Dialpad credentials and their state. Secrets are sealed.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub account_id: AccountId,
    pub environment: Environment,
    pub auth_type: AuthType,
    pub status: ConnectionStatus,
    /// Scopes Dialpad granted (OAuth only).
    pub scopes: Vec<String>,
    pub dialpad_user_id: Option<String>,
    pub dialpad_company_id: Option<String>,
    pub connected_at: Option<Timestamp>,
    pub access_token: Option<Sealed>,
    pub refresh_token: Option<Sealed>,
    pub api_key: Option<Sealed>,
    /// When the access token expires, if Dialpad said.
    pub expires_at: Option<Timestamp>,
    /// Bumped on every credential change; refreshes compare-and-swap on it.
    pub token_version: i64,
    pub refresh_failures: i64,
    /// After a failed refresh: not before this moment again.
    pub next_refresh_at: Option<Timestamp>,
    /// When the background refresh takes this connection: a jittered moment within the refresh
    /// margin before `expires_at`, or `next_refresh_at` after a failure (`None`: never).
    pub refresh_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub updated_at: Timestamp,
}

impl ConnectionRecord {
    /// A record with no credentials, as a starting point.
    pub fn empty(
        account_id: AccountId,
        environment: Environment,
        auth_type: AuthType,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Self {
        ConnectionRecord {
            account_id,
            environment,
            auth_type,
            status,
            scopes: Vec::new(),
            dialpad_user_id: None,
            dialpad_company_id: None,
            connected_at: None,
            access_token: None,
            refresh_token: None,
            api_key: None,
            expires_at: None,
            token_version: 0,
            refresh_failures: 0,
            next_refresh_at: None,
            refresh_at: None,
            last_error: None,
            updated_at: now,
        }
    }
}
