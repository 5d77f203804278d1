//! `hooks`: the Dialpad webhook dialbridge provisions for each connection (at most one per
//! account), its sealed signing secret and what was subscribed.

use async_trait::async_trait;
use dialbridge_core::{AccountId, HookRecord, HookStore, StoreError, StoreResult, Timestamp};
use sqlx::any::AnyRow;

use crate::database::{backend, Database, Dialect};
use crate::rows::{at, get, in_shards, json, ms, sealed, to_json};

const COLUMNS: &str = "hook_id, account_id, dialpad_webhook_id, secret, subscriptions, status, \
    last_error, updated_at, next_audit_at";

fn hook(row: &AnyRow) -> StoreResult<HookRecord> {
    Ok(HookRecord {
        hook_id: get(row, "hook_id")?,
        account_id: AccountId::from_trusted(get(row, "account_id")?),
        dialpad_webhook_id: get(row, "dialpad_webhook_id")?,
        secret: sealed(row, "secret")?
            .ok_or_else(|| StoreError::Corrupt("hooks.secret is NULL".into()))?,
        subscriptions: json(row, "subscriptions")?,
        status: get(row, "status")?,
        last_error: get(row, "last_error")?,
        updated_at: at(row, "updated_at")?,
        next_audit_at: at(row, "next_audit_at")?,
    })
}

#[async_trait]
impl HookStore for Database {
    async fn put_hook(&self, h: &HookRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO hooks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (hook_id) DO UPDATE SET account_id = excluded.account_id, \
             dialpad_webhook_id = excluded.dialpad_webhook_id, secret = excluded.secret, \
             subscriptions = excluded.subscriptions, status = excluded.status, \
             last_error = excluded.last_error, updated_at = excluded.updated_at, \
             next_audit_at = excluded.next_audit_at"
        ))
        .bind(&h.hook_id)
        .bind(h.account_id.as_str())
        .bind(h.dialpad_webhook_id.clone())
        .bind(h.secret.0.clone())
        .bind(to_json(&h.subscriptions)?)
        .bind(&h.status)
        .bind(h.last_error.clone())
        .bind(ms(h.updated_at))
        .bind(ms(h.next_audit_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_hook(&self, hook_id: &str) -> StoreResult<Option<HookRecord>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM hooks WHERE hook_id = $1"))
            .bind(hook_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(hook).transpose()
    }

    async fn get_hook_for_account(&self, account: &AccountId) -> StoreResult<Option<HookRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM hooks WHERE account_id = $1"
        ))
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(hook).transpose()
    }

    async fn delete_hook(&self, hook_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM hooks WHERE hook_id = $1")
            .bind(hook_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_audits(
        &self,
        shards: &[i64],
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AccountId>> {
        if shards.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let (hooks, skip_locked) = match self.dialect() {
            Dialect::Postgres => ("hooks h", "FOR UPDATE OF h SKIP LOCKED"),
            Dialect::Sqlite => ("hooks h INDEXED BY hooks_by_audit", ""),
        };
        let sql = format!(
            "UPDATE hooks SET next_audit_at = $2 WHERE hook_id IN ( \
                 SELECT h.hook_id FROM {hooks} JOIN accounts a ON a.account_id = h.account_id \
                 WHERE h.next_audit_at <= $1 AND {} \
                 ORDER BY h.next_audit_at LIMIT $3 {skip_locked}) \
             RETURNING account_id",
            in_shards("a.shard", shards)
        );
        let rows = sqlx::query(&sql)
            .bind(ms(now))
            .bind(ms(until))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| Ok(AccountId::from_trusted(get(row, "account_id")?)))
            .collect()
    }

    async fn bring_audits_within(&self, now: Timestamp, period_ms: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE hooks SET next_audit_at = $1 + ((next_audit_at - $1) % $2) \
             WHERE next_audit_at > $1 + $2",
        )
        .bind(ms(now))
        .bind(period_ms.max(1))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn set_next_audit(&self, hook_id: &str, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE hooks SET next_audit_at = $2 WHERE hook_id = $1")
            .bind(hook_id)
            .bind(ms(at))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
