//! Retention: history older than the vendor keeps is removed in bounded steps. PostgreSQL
//! drops whole days (the daily partitions of `events`, `executions` with `execution_steps`,
//! and `webhook_deliveries`, see migration 20261202000031) once nothing in them is still
//! needed; what remains older (the default partitions, a day holding an unfinished execution)
//! and everything in SQLite is deleted `batch` rows at a time. SQLite gives the freed pages back
//! by incremental vacuum.

use async_trait::async_trait;
use dialbridge_core::{Purged, RetentionStore, StoreResult, Timestamp};

use crate::database::{backend, Database, Dialect};
use crate::executions::UNFINISHED;
use crate::rows::{marks, ms};

const DAY_MS: i64 = 86_400_000;
/// How long dropping a day may wait for the lock on its table before trying next time: the
/// drop needs the parent table to itself for a moment, and must not queue requests behind it.
const DROP_LOCK_TIMEOUT: &str = "2s";
/// Pages one incremental vacuum step frees (4 KiB each).
const VACUUM_STEP_PAGES: i64 = 2_048;

/// The partitioned tables, the prefix of their ids, and what keeps an old day alive.
const DAILY: [(&str, &str); 3] = [
    ("events", "TRUE"),
    ("executions", UNFINISHED),
    ("webhook_deliveries", "status = 'pending'"),
];

#[async_trait]
impl RetentionStore for Database {
    async fn prepare_days(&self, from: Timestamp, to: Timestamp) -> StoreResult<()> {
        if self.dialect() != Dialect::Postgres {
            return Ok(());
        }
        let mut day = from.as_millis() - from.as_millis().rem_euclid(DAY_MS);
        while day <= to.as_millis() {
            sqlx::query("SELECT dialbridge_day_partitions($1)")
                .bind(day)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            day += DAY_MS;
        }
        Ok(())
    }

    async fn purge(
        &self,
        executions_before: Timestamp,
        events_before: Timestamp,
        batch: u32,
    ) -> StoreResult<Purged> {
        let mut purged = Purged::default();
        if self.dialect() == Dialect::Postgres {
            purged.partitions = self.drop_old_days(executions_before, events_before).await?;
        }
        purged.executions = self.purge_executions(executions_before, batch).await?;
        purged.deliveries = self
            .delete_rows(
                "webhook_deliveries",
                "id",
                "created_at < $1 AND status <> 'pending'",
                executions_before,
                batch,
            )
            .await?;
        purged.events = self
            .delete_rows("events", "id", "received_at < $1", events_before, batch)
            .await?;
        self.delete_rows(
            "event_dedupe",
            "account_id, dedupe_key",
            "received_at < $1",
            events_before,
            batch,
        )
        .await?;
        Ok(purged)
    }

    async fn reclaim_space(&self) -> StoreResult<()> {
        if self.dialect() != Dialect::Sqlite {
            return Ok(());
        }
        loop {
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
            if free == 0 {
                break;
            }
            sqlx::query(&format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            // Another writer may be freeing pages as fast: one pass over what was free is enough.
            if free <= VACUUM_STEP_PAGES {
                break;
            }
        }
        // The file shrinks when the write-ahead log is written back (a reader in the way only
        // postpones it to the next checkpoint).
        crate::checkpoint::write_back_all(&self.pool)
            .await
            .map_err(backend)
    }
}

impl Database {
    /// Drops each daily partition whose day ended before its table's cutoff and holds nothing
    /// still needed; an execution day goes with its steps' day. Answers how many were dropped.
    async fn drop_old_days(
        &self,
        executions_before: Timestamp,
        events_before: Timestamp,
    ) -> StoreResult<u64> {
        let mut dropped = 0;
        for (table, keeps) in DAILY {
            let before = match table {
                "events" => events_before,
                _ => executions_before,
            };
            let days: Vec<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 \
                 AND c.relname::text ~ '_d[0-9]{8}$' ORDER BY 1",
            )
            .bind(table)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            for partition in days {
                let Some(day_end) = day_end_of(&partition) else {
                    continue;
                };
                if day_end > before.as_millis() {
                    break;
                }
                // Nothing in it is kept by any rule other than age: unfinished executions and
                // pending deliveries wait for their outcome whatever their day.
                let needed: bool = keeps != "TRUE"
                    && sqlx::query_scalar::<_, bool>(&format!(
                        "SELECT EXISTS (SELECT 1 FROM {partition} WHERE {keeps})"
                    ))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
                if needed {
                    continue;
                }
                let mut victims = vec![partition.clone()];
                if table == "executions" {
                    victims.insert(0, partition.replacen("executions", "execution_steps", 1));
                }
                let mut tx = self.pool.begin().await.map_err(backend)?;
                sqlx::query(&format!("SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                for victim in &victims {
                    sqlx::query(&format!("DROP TABLE IF EXISTS {victim}"))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)?;
                dropped += victims.len() as u64;
            }
        }
        Ok(dropped)
    }

    /// Deletes up to `batch` finished executions created before `before`, and their steps.
    async fn purge_executions(&self, before: Timestamp, batch: u32) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "DELETE FROM executions WHERE id IN (SELECT id FROM executions \
             WHERE created_at < $1 AND NOT {UNFINISHED} ORDER BY created_at LIMIT $2) RETURNING id"
        ))
        .bind(ms(before))
        .bind(i64::from(batch))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for chunk in ids.chunks(500) {
            let sql = format!(
                "DELETE FROM execution_steps WHERE execution_id IN ({})",
                marks(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(ids.len() as u64)
    }

    /// Deletes up to `batch` rows of `table` matching `old` (with `$1` the cutoff), picked by
    /// the columns of `key`. Answers how many.
    async fn delete_rows(
        &self,
        table: &str,
        key: &str,
        old: &str,
        before: Timestamp,
        batch: u32,
    ) -> StoreResult<u64> {
        let done = sqlx::query(&format!(
            "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {old} LIMIT $2)"
        ))
        .bind(ms(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

/// The end of the UTC day a partition named `…_dYYYYMMDD` holds, in milliseconds.
fn day_end_of(partition: &str) -> Option<i64> {
    let digits = partition.rsplit("_d").next()?;
    let day = chrono::NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
    Some(start + DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::day_end_of;

    #[test]
    fn a_partition_name_says_its_day() {
        assert_eq!(
            day_end_of("executions_d19700102"),
            Some(2 * 86_400_000),
            "the end of 2 January 1970"
        );
        assert_eq!(day_end_of("executions_default"), None);
        assert_eq!(day_end_of("events_d2026130"), None);
    }
}
