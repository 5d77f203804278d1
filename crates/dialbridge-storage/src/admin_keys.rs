//! `admin_keys`: the admin API keys as SHA-256 hashes, with their names; a revoked key keeps
//! its row. Revocations serialise on a `store_locks` row, so two at once never revoke the
//! last two keys.

use async_trait::async_trait;
use dialbridge_core::{
    AdminKeyRecord, AdminKeyRegistry, AdminKeyStore, Revocation, StoreResult, Timestamp,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::database::{backend, Database};
use crate::rows::{at, get, ms};

const COLUMNS: &str = "id, name, key_hash, key_hint, created_at, last_used_at, revoked_at";

fn admin_key(row: &AnyRow) -> StoreResult<AdminKeyRecord> {
    Ok(AdminKeyRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        key_hash: get(row, "key_hash")?,
        key_hint: get(row, "key_hint")?,
        created_at: at(row, "created_at")?,
        last_used_at: at(row, "last_used_at")?,
        revoked_at: at(row, "revoked_at")?,
    })
}

#[async_trait]
impl AdminKeyStore for Database {
    /// Registers the key as `bootstrap`, numbered after the keys stored so far.
    async fn insert_admin_key(&self, key_hash: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO admin_keys (id, name, key_hash, created_at) \
             SELECT 'key_' || (COUNT(*) + 1), 'bootstrap', $1, $2 FROM admin_keys WHERE true \
             ON CONFLICT DO NOTHING",
        )
        .bind(key_hash)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn admin_key_exists(&self, key_hash: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM admin_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn count_admin_keys(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM admin_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        row.try_get("n").map_err(backend)
    }
}

#[async_trait]
impl AdminKeyRegistry for Database {
    async fn insert_admin_key_record(&self, k: &AdminKeyRecord) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO admin_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (key_hash) DO NOTHING"
        ))
        .bind(&k.id)
        .bind(&k.name)
        .bind(&k.key_hash)
        .bind(k.key_hint.clone())
        .bind(ms(k.created_at))
        .bind(ms(k.last_used_at))
        .bind(ms(k.revoked_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn find_admin_key(&self, key_hash: &str) -> StoreResult<Option<AdminKeyRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM admin_keys WHERE key_hash = $1"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(admin_key).transpose()
    }

    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM admin_keys WHERE revoked_at IS NULL ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(admin_key).collect()
    }

    async fn revoke_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<Revocation> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A write first, on the row every revocation writes: revocations run one at a time
        // (SQLite's write lock, PostgreSQL's row lock until commit), so the count holds.
        sqlx::query(
            "INSERT INTO store_locks (name, taken_at) VALUES ('revoke_admin_key', $1) \
             ON CONFLICT (name) DO UPDATE SET taken_at = excluded.taken_at",
        )
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let active: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM admin_keys WHERE revoked_at IS NULL")
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        let found =
            sqlx::query("SELECT 1 AS one FROM admin_keys WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if found.is_none() {
            return Ok(Revocation::NotFound);
        }
        if active <= 1 {
            return Ok(Revocation::LastKey);
        }
        let row = sqlx::query(&format!(
            "UPDATE admin_keys SET revoked_at = $2 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let record = admin_key(&row)?;
        tx.commit().await.map_err(backend)?;
        Ok(Revocation::Revoked(record))
    }

    async fn touch_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE admin_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
