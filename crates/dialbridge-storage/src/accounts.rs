//! `accounts`: the vendor's customers, read together with their connection.

use async_trait::async_trait;
use dialbridge_core::{
    Account, AccountId, AccountPatch, AccountStore, StoreError, StoreResult, Timestamp,
};
use sqlx::any::AnyRow;

use crate::database::{backend, Database};
use crate::rows::{at, connection, get, ms, to_json, CONNECTION_COLUMNS};

fn select(filter: &str) -> String {
    format!(
        "SELECT a.account_id, a.shard, a.name, a.metadata, a.created_at, a.updated_at, {CONNECTION_COLUMNS} \
         FROM accounts a LEFT JOIN connections c ON c.account_id = a.account_id {filter}"
    )
}

fn account(row: &AnyRow) -> StoreResult<Account> {
    let metadata: String = get(row, "metadata")?;
    Ok(Account {
        account_id: AccountId::from_trusted(get(row, "account_id")?),
        shard: get(row, "shard")?,
        name: get(row, "name")?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Corrupt(format!("metadata: {e}")))?,
        created_at: at(row, "created_at")?,
        updated_at: at(row, "updated_at")?,
        connection: connection(row)?,
    })
}

#[async_trait]
impl AccountStore for Database {
    async fn upsert_account(
        &self,
        id: &AccountId,
        patch: &AccountPatch,
        shard: i64,
        now: Timestamp,
    ) -> StoreResult<(Account, bool)> {
        let metadata = patch.metadata.as_ref().map(to_json).transpose()?;
        // Write first (no read-then-write transaction): an insert that did nothing means the
        // account exists, and the update applies only the fields the patch has.
        let inserted = sqlx::query(
            "INSERT INTO accounts (account_id, name, metadata, created_at, updated_at, shard) \
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(patch.name.clone())
        .bind(metadata.clone().unwrap_or_else(|| "{}".to_owned()))
        .bind(ms(now))
        .bind(shard)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        let created = inserted.rows_affected() == 1;
        if !created {
            sqlx::query(
                "UPDATE accounts SET name = CASE WHEN $2 = 1 THEN $3 ELSE name END, \
                 metadata = CASE WHEN $4 = 1 THEN $5 ELSE metadata END, updated_at = $6 WHERE account_id = $1",
            )
            .bind(id.as_str())
            .bind(i64::from(patch.name.is_some()))
            .bind(patch.name.clone())
            .bind(i64::from(metadata.is_some()))
            .bind(metadata)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        }
        let account = self.get_account(id).await?.ok_or_else(|| {
            StoreError::NotFound(format!("account '{id}' vanished while being written").into())
        })?;
        Ok((account, created))
    }

    async fn set_account_shard(&self, id: &AccountId, shard: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("UPDATE accounts SET shard = $2 WHERE account_id = $1")
            .bind(id.as_str())
            .bind(shard)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "UPDATE executions SET shard = $2 \
             WHERE account_id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id.as_str())
        .bind(shard)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn accounts_without_shard(
        &self,
        limit: u32,
    ) -> StoreResult<Vec<(AccountId, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT a.account_id, c.dialpad_company_id FROM accounts a \
             LEFT JOIN connections c ON c.account_id = a.account_id \
             WHERE a.shard < 0 ORDER BY a.account_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok((
                    AccountId::from_trusted(get(row, "account_id")?),
                    get(row, "dialpad_company_id")?,
                ))
            })
            .collect()
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let row = sqlx::query(&select("WHERE a.account_id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(account).transpose()
    }

    async fn list_accounts(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query(&select(
            "WHERE a.account_id > $1 ORDER BY a.account_id LIMIT $2",
        ))
        .bind(after.map_or("", |a| a.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(account).collect()
    }

    async fn delete_account(&self, id: &AccountId) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The foreign keys cascade too; explicit deletes keep it true without them.
        sqlx::query(
            "DELETE FROM connect_states WHERE token_hash IN \
             (SELECT token_hash FROM connect_sessions WHERE account_id = $1)",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        for table in [
            "connect_sessions",
            "connections",
            "workflow_enablements",
            "hooks",
            "mcp_tokens",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        let deleted = sqlx::query("DELETE FROM accounts WHERE account_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(deleted.rows_affected() == 1)
    }
}
