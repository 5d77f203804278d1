//! What MCP tokens need from a database: each token as a hash, bound to one account, with the
//! tools it may see; found by hash, listed per account, deleted to revoke.

use async_trait::async_trait;

use super::StoreResult;
use crate::ids::AccountId;
use crate::time::Timestamp;

/// An MCP token as stored: its SHA-256 hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpTokenRecord {
    pub id: String,
    pub account_id: AccountId,
    pub name: Option<String>,
    pub token_hash: String,
    /// The tool names it may see; `None`: every tool the account's scopes allow.
    pub tools: Option<Vec<String>>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[async_trait]
pub trait McpTokenStore: Send + Sync {
    async fn insert_mcp_token(&self, record: &McpTokenRecord) -> StoreResult<()>;
    /// The token with this hash.
    async fn find_mcp_token(&self, token_hash: &str) -> StoreResult<Option<McpTokenRecord>>;
    /// The account's tokens, oldest first.
    async fn list_mcp_tokens(&self, account: &AccountId) -> StoreResult<Vec<McpTokenRecord>>;
    /// Deletes the account's token `id`; answers whether there was one.
    async fn delete_mcp_token(&self, account: &AccountId, id: &str) -> StoreResult<bool>;
    async fn touch_mcp_token(&self, id: &str, now: Timestamp) -> StoreResult<()>;
}
