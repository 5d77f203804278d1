//! `connections`: an account's sealed Dialpad credentials, their version (for compare-and-swap)
//! and the refresh lease that keeps a refresh to one process at a time.

use async_trait::async_trait;
use dialbridge_core::{
    AccountId, ConnectionRecord, ConnectionStore, RefreshFailure, StoreResult, Timestamp,
    TokenUpdate,
};

use crate::database::{backend, Database, Dialect};
use crate::rows::{connection, get, in_shards, ms, to_json, CONNECTION_COLUMNS};

#[async_trait]
impl ConnectionStore for Database {
    async fn get_connection(&self, id: &AccountId) -> StoreResult<Option<ConnectionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections c WHERE c.account_id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(match row {
            Some(row) => connection(&row)?,
            None => None,
        })
    }

    async fn put_connection(&self, r: &ConnectionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO connections (account_id, environment, auth_type, status, scopes, dialpad_user_id, dialpad_company_id, \
             connected_at, access_token, refresh_token, api_key, expires_at, token_version, refresh_failures, next_refresh_at, \
             last_error, updated_at, refresh_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (account_id) DO UPDATE SET environment = excluded.environment, auth_type = excluded.auth_type, \
             status = excluded.status, scopes = excluded.scopes, dialpad_user_id = excluded.dialpad_user_id, \
             dialpad_company_id = excluded.dialpad_company_id, connected_at = excluded.connected_at, \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token, api_key = excluded.api_key, \
             expires_at = excluded.expires_at, token_version = excluded.token_version, \
             refresh_failures = excluded.refresh_failures, next_refresh_at = excluded.next_refresh_at, \
             last_error = excluded.last_error, updated_at = excluded.updated_at, refresh_at = excluded.refresh_at",
        )
        .bind(r.account_id.as_str())
        .bind(r.environment.as_str())
        .bind(r.auth_type.as_str())
        .bind(r.status.as_str())
        .bind(to_json(&r.scopes)?)
        .bind(r.dialpad_user_id.clone())
        .bind(r.dialpad_company_id.clone())
        .bind(ms(r.connected_at))
        .bind(r.access_token.as_ref().map(|s| s.0.clone()))
        .bind(r.refresh_token.as_ref().map(|s| s.0.clone()))
        .bind(r.api_key.as_ref().map(|s| s.0.clone()))
        .bind(ms(r.expires_at))
        .bind(r.token_version)
        .bind(r.refresh_failures)
        .bind(ms(r.next_refresh_at))
        .bind(r.last_error.clone())
        .bind(ms(r.updated_at))
        .bind(ms(r.refresh_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn swap_tokens(
        &self,
        id: &AccountId,
        expected_version: i64,
        u: &TokenUpdate,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE connections SET access_token = $3, refresh_token = $4, expires_at = $5, scopes = $6, \
             token_version = token_version + 1, refresh_failures = 0, next_refresh_at = NULL, last_error = NULL, updated_at = $7, \
             refresh_at = $8 WHERE account_id = $1 AND token_version = $2",
        )
        .bind(id.as_str())
        .bind(expected_version)
        .bind(u.access_token.0.clone())
        .bind(u.refresh_token.0.clone())
        .bind(ms(u.expires_at))
        .bind(to_json(&u.scopes)?)
        .bind(ms(u.now))
        .bind(ms(u.refresh_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_refresh_failure(&self, id: &AccountId, f: &RefreshFailure) -> StoreResult<()> {
        sqlx::query(
            "UPDATE connections SET status = $2, refresh_failures = $3, next_refresh_at = $4, last_error = $5, updated_at = $6, \
             refresh_at = CASE WHEN $2 = 'connected' THEN $4 ELSE NULL END WHERE account_id = $1",
        )
        .bind(id.as_str())
        .bind(f.status.as_str())
        .bind(f.failures)
        .bind(ms(f.next_refresh_at))
        .bind(f.last_error.clone())
        .bind(ms(f.now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn try_lock_refresh(
        &self,
        id: &AccountId,
        owner: &str,
        version: i64,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE connections SET refresh_lock_owner = $2, refresh_lock_until = $4 WHERE account_id = $1 \
             AND token_version = $5 \
             AND (refresh_lock_until IS NULL OR refresh_lock_until < $3 OR refresh_lock_owner = $2)",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(ms(now))
        .bind(ms(until))
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn unlock_refresh(&self, id: &AccountId, owner: &str) -> StoreResult<()> {
        sqlx::query("UPDATE connections SET refresh_lock_owner = NULL, refresh_lock_until = NULL WHERE account_id = $1 AND refresh_lock_owner = $2")
            .bind(id.as_str())
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn claim_refreshes(
        &self,
        shards: &[i64],
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AccountId>> {
        if shards.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Rows another claimer is picking are skipped, not waited for (SQLite has one writer).
        let skip_locked = match self.dialect() {
            Dialect::Postgres => "FOR UPDATE OF c SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE connections SET refresh_lock_owner = $1, refresh_lock_until = $3 WHERE account_id IN ( \
                 SELECT c.account_id FROM {} JOIN accounts a ON a.account_id = c.account_id \
                 WHERE {} AND {} \
                 AND (c.refresh_lock_until IS NULL OR c.refresh_lock_until < $2) \
                 ORDER BY c.refresh_at LIMIT $4 {skip_locked}) \
             RETURNING account_id",
            by_refresh_at(self.dialect()),
            due("$2"),
            in_shards("a.shard", shards)
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
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

    async fn oldest_due_refresh(
        &self,
        shards: &[i64],
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>> {
        if shards.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT c.refresh_at FROM {} JOIN accounts a ON a.account_id = c.account_id \
             WHERE {} AND {} ORDER BY c.refresh_at LIMIT 1",
            by_refresh_at(self.dialect()),
            due("$1"),
            in_shards("a.shard", shards)
        );
        let oldest: Option<i64> = sqlx::query_scalar(&sql)
            .bind(ms(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .flatten();
        Ok(oldest.map(Timestamp::from_millis))
    }
}

/// `connections c`, read through the partial index of due refreshes on SQLite (whose planner,
/// without statistics, takes `connections_by_expiry` for `status = 'connected'` instead).
fn by_refresh_at(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "connections c INDEXED BY connections_by_refresh_at",
        Dialect::Postgres => "connections c",
    }
}

/// A connection the background refresh should take (`now`: the moment's placeholder); the
/// partial index `connections_by_refresh_at` covers it.
fn due(now: &str) -> String {
    format!("c.status = 'connected' AND c.auth_type = 'oauth' AND c.refresh_at <= {now}")
}
