//! `admin_api_keys`: SHA-256 hashes of the admin API keys.

use async_trait::async_trait;
use dialbridge_core::{AdminKeyStore, StoreResult, Timestamp};
use sqlx::Row;

use crate::database::{backend, Database};
use crate::rows::ms;

#[async_trait]
impl AdminKeyStore for Database {
    async fn insert_admin_key(&self, key_hash: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("INSERT INTO admin_api_keys (key_hash, created_at) VALUES ($1, $2) ON CONFLICT (key_hash) DO NOTHING")
            .bind(key_hash)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn admin_key_exists(&self, key_hash: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM admin_api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn count_admin_keys(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM admin_api_keys")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        row.try_get("n").map_err(backend)
    }
}
