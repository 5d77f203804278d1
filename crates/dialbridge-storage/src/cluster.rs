//! `nodes` and `shard_leases`: the processes sharing a PostgreSQL database and the shards each
//! holds; and signals between them over `LISTEN`/`NOTIFY` on the `dialbridge` channel. With
//! SQLite there is one process: it holds every shard and signals stay in-process.

use async_trait::async_trait;
use dialbridge_core::{
    ClusterStore, RateStore, SignalStore, StoreError, StoreResult, Timestamp, Window, SHARDS,
};
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use crate::database::{backend, Database, Dialect};
use crate::rows::{get, ms, to_json};

/// The `NOTIFY` channel.
const CHANNEL: &str = "dialbridge";

#[async_trait]
impl ClusterStore for Database {
    fn shares_work(&self) -> bool {
        self.dialect() == Dialect::Postgres
    }

    async fn heartbeat(
        &self,
        owner: &str,
        now: Timestamp,
        alive_since: Timestamp,
    ) -> StoreResult<u32> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO nodes (owner, heartbeat_at) VALUES ($1, $2) \
             ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(owner)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM nodes WHERE heartbeat_at < $1")
            .bind(ms(alive_since))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // A gone process's shards are free at once, not only when their leases run out.
        sqlx::query(
            "UPDATE shard_leases SET owner = NULL, lease_until = 0 \
             WHERE owner IS NOT NULL AND owner NOT IN (SELECT owner FROM nodes)",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nodes")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(u32::try_from(live).unwrap_or(1).max(1))
    }

    async fn hold_shards(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        want: u32,
    ) -> StoreResult<Vec<i64>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Every shard has a row, created by whoever comes first.
        sqlx::query(
            "INSERT INTO shard_leases (shard, owner, lease_until) \
             SELECT g, NULL, 0 FROM generate_series(0, $1 - 1) AS g ON CONFLICT (shard) DO NOTHING",
        )
        .bind(i64::from(SHARDS))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let rows = sqlx::query(
            "UPDATE shard_leases SET lease_until = $2 WHERE owner = $1 RETURNING shard",
        )
        .bind(owner)
        .bind(ms(until))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let mut held = rows
            .iter()
            .map(|row| get::<i64>(row, "shard"))
            .collect::<StoreResult<Vec<_>>>()?;
        held.sort_unstable();
        let want = want as usize;
        if held.len() > want {
            // Keep the lowest `want`, give back the rest for a newcomer to take.
            let keep_up_to = held[want - 1];
            sqlx::query(
                "UPDATE shard_leases SET owner = NULL, lease_until = 0 \
                 WHERE owner = $1 AND shard > $2",
            )
            .bind(owner)
            .bind(keep_up_to)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            held.truncate(want);
        } else if held.len() < want {
            let taken = sqlx::query(
                "UPDATE shard_leases SET owner = $1, lease_until = $2 WHERE shard IN ( \
                     SELECT shard FROM shard_leases WHERE owner IS NULL OR lease_until < $3 \
                     ORDER BY shard LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING shard",
            )
            .bind(owner)
            .bind(ms(until))
            .bind(ms(now))
            .bind((want - held.len()) as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            for row in &taken {
                held.push(get(row, "shard")?);
            }
            held.sort_unstable();
        }
        tx.commit().await.map_err(backend)?;
        Ok(held)
    }

    async fn leave(&self, owner: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("UPDATE shard_leases SET owner = NULL, lease_until = 0 WHERE owner = $1")
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM nodes WHERE owner = $1")
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl SignalStore for Database {
    fn shares_signals(&self) -> bool {
        self.dialect() == Dialect::Postgres
    }

    async fn publish(&self, texts: &[String]) -> StoreResult<()> {
        if !self.shares_signals() {
            return Ok(());
        }
        for text in texts {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(text)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn listen(&self) -> StoreResult<mpsc::Receiver<String>> {
        let Some(url) = &self.postgres_url else {
            return Err(StoreError::Backend(
                "signals between processes need PostgreSQL".into(),
            ));
        };
        let mut listener = PgListener::connect(url).await.map_err(backend)?;
        listener.listen(CHANNEL).await.map_err(backend)?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        if tx.send(notification.payload().to_owned()).await.is_err() {
                            return;
                        }
                    }
                    // The connection dropped (its notifications may be lost): end the stream
                    // so the caller listens again and looks for what it missed.
                    Ok(None) | Err(_) => return,
                }
            }
        });
        Ok(rx)
    }
}

#[async_trait]
impl RateStore for Database {
    fn shares_rate_windows(&self) -> bool {
        self.dialect() == Dialect::Postgres
    }

    async fn update_rate_windows(
        &self,
        keys: &[String],
        now: Timestamp,
        update: &mut (dyn for<'w> FnMut(&'w mut [Window]) + Send),
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for key in keys {
            sqlx::query(
                "INSERT INTO rate_windows (key, state, updated_at) VALUES ($1, '{}', $2) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key.as_str())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        // Locked in key order, so two updaters of the same keys never wait on each other in
        // a circle.
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let mut windows = Vec::with_capacity(keys.len());
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort();
        let mut states = std::collections::HashMap::new();
        for key in sorted {
            let state: String = sqlx::query_scalar(&format!(
                "SELECT state FROM rate_windows WHERE key = $1{lock}"
            ))
            .bind(key.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            states.insert(key.clone(), state);
        }
        for key in keys {
            let window = serde_json::from_str(&states[key]).unwrap_or_default();
            windows.push(window);
        }
        update(&mut windows);
        for (key, window) in keys.iter().zip(&windows) {
            sqlx::query("UPDATE rate_windows SET state = $2, updated_at = $3 WHERE key = $1")
                .bind(key.as_str())
                .bind(to_json(window)?)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }
}
