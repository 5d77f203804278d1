//! `mcp_tokens`: MCP tokens as SHA-256 hashes, each bound to one account (deleted with it),
//! with the JSON list of tools it may see; revoking deletes the row.

use async_trait::async_trait;
use dialbridge_core::{
    AccountId, McpTokenRecord, McpTokenStore, StoreError, StoreResult, Timestamp,
};
use sqlx::any::AnyRow;

use crate::database::{backend, Database};
use crate::rows::{at, get, ms, to_json};

const COLUMNS: &str = "id, account_id, name, token_hash, tools, created_at, last_used_at";

fn mcp_token(row: &AnyRow) -> StoreResult<McpTokenRecord> {
    let tools: Option<String> = get(row, "tools")?;
    let tools = tools
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("tools: {e}")))
        })
        .transpose()?;
    Ok(McpTokenRecord {
        id: get(row, "id")?,
        account_id: AccountId::from_trusted(get(row, "account_id")?),
        name: get(row, "name")?,
        token_hash: get(row, "token_hash")?,
        tools,
        created_at: at(row, "created_at")?,
        last_used_at: at(row, "last_used_at")?,
    })
}

#[async_trait]
impl McpTokenStore for Database {
    async fn insert_mcp_token(&self, t: &McpTokenRecord) -> StoreResult<()> {
        let tools = t.tools.as_ref().map(to_json).transpose()?;
        sqlx::query(&format!(
            "INSERT INTO mcp_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&t.id)
        .bind(t.account_id.as_str())
        .bind(t.name.clone())
        .bind(&t.token_hash)
        .bind(tools)
        .bind(ms(t.created_at))
        .bind(ms(t.last_used_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn find_mcp_token(&self, token_hash: &str) -> StoreResult<Option<McpTokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mcp_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(mcp_token).transpose()
    }

    async fn list_mcp_tokens(&self, account: &AccountId) -> StoreResult<Vec<McpTokenRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mcp_tokens WHERE account_id = $1 ORDER BY created_at, id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(mcp_token).collect()
    }

    async fn delete_mcp_token(&self, account: &AccountId, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM mcp_tokens WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_mcp_token(&self, id: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE mcp_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
