//! `events`, `executions`, `execution_steps` and `schedule_ticks`: what happened, the runs it
//! started, each run's step journal, and which schedule ticks were already fired.
//!
//! Leases are compare-and-set updates (`… WHERE lease is free or expired`, one row each), so two
//! claimers never hold one execution. Claims also serialise on a `store_locks` row, which makes
//! the per-account limit exact across processes (the count and the claims are one transaction).

use std::collections::HashMap;

use async_trait::async_trait;
use dialbridge_core::{
    AccountId, EventRecord, ExecutionFilter, ExecutionRecord, ExecutionStatus, ExecutionStore,
    StepRecord, StepStatus, StoreError, StoreResult, Timestamp,
};
use sqlx::any::AnyRow;

use crate::database::{backend, misuse, Database};
use crate::rows::{at, get, json, json_opt, ms, to_json};

const EVENT_COLUMNS: &str = "id, account_id, source, name, dedupe_key, payload, received_at";

const EXECUTION_COLUMNS: &str =
    "id, account_id, workflow_key, version, status, trigger_json, event_json, error, \
    run_at, lease_owner, lease_until, replay_of, created_at, updated_at, finished_at, shard, event_id";

const STEP_COLUMNS: &str =
    "execution_id, step_id, seq, status, attempts, input, output, error, started_at, \
    finished_at, wake_at";

/// Not finished: may still be claimed, released, finished or cancelled.
const UNFINISHED: &str = "status IN ('queued', 'running')";

/// How many candidates a claim reads per round.
const CLAIM_BATCH: i64 = 64;

fn event(row: &AnyRow) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        id: get(row, "id")?,
        account_id: AccountId::from_trusted(get(row, "account_id")?),
        source: get(row, "source")?,
        name: get(row, "name")?,
        dedupe_key: get(row, "dedupe_key")?,
        payload: json(row, "payload")?,
        received_at: at(row, "received_at")?,
    })
}

fn execution(row: &AnyRow) -> StoreResult<ExecutionRecord> {
    let status: String = get(row, "status")?;
    Ok(ExecutionRecord {
        id: get(row, "id")?,
        account_id: AccountId::from_trusted(get(row, "account_id")?),
        workflow_key: get(row, "workflow_key")?,
        version: get(row, "version")?,
        status: ExecutionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("execution status '{status}'")))?,
        trigger: json(row, "trigger_json")?,
        // Filled from the event by `with_events` when `event_id` is set.
        event: json(row, "event_json")?,
        event_id: get(row, "event_id")?,
        shard: get(row, "shard")?,
        error: json_opt(row, "error")?,
        run_at: at(row, "run_at")?,
        lease_owner: get(row, "lease_owner")?,
        lease_until: at(row, "lease_until")?,
        replay_of: get(row, "replay_of")?,
        created_at: at(row, "created_at")?,
        updated_at: at(row, "updated_at")?,
        finished_at: at(row, "finished_at")?,
    })
}

fn step(row: &AnyRow) -> StoreResult<StepRecord> {
    let status: String = get(row, "status")?;
    Ok(StepRecord {
        execution_id: get(row, "execution_id")?,
        step_id: get(row, "step_id")?,
        seq: get(row, "seq")?,
        status: StepStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("step status '{status}'")))?,
        attempts: get(row, "attempts")?,
        input: json_opt(row, "input")?,
        output: json_opt(row, "output")?,
        error: json_opt(row, "error")?,
        started_at: at(row, "started_at")?,
        finished_at: at(row, "finished_at")?,
        wake_at: at(row, "wake_at")?,
    })
}

/// Inserts executions, several rows per statement. An execution with an `event_id` stores
/// no copy of its event (`event_json` is `null`): the event holds the payload.
async fn insert_executions<'c, E>(executor: E, executions: &[ExecutionRecord]) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    if executions.is_empty() {
        return Ok(());
    }
    let mut sql = format!("INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES ");
    for i in 0..executions.len() {
        let n = i * 17;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(
            &(1..=17)
                .map(|k| format!("${}", n + k))
                .collect::<Vec<_>>()
                .join(", "),
        );
        sql.push(')');
    }
    let mut query = sqlx::query(&sql);
    for e in executions {
        let event_json = match e.event_id {
            Some(_) => "null".to_owned(),
            None => to_json(&e.event)?,
        };
        query = query
            .bind(e.id.clone())
            .bind(e.account_id.as_str().to_owned())
            .bind(e.workflow_key.clone())
            .bind(e.version)
            .bind(e.status.as_str())
            .bind(to_json(&e.trigger)?)
            .bind(event_json)
            .bind(e.error.as_ref().map(to_json).transpose()?)
            .bind(ms(e.run_at))
            .bind(e.lease_owner.clone())
            .bind(ms(e.lease_until))
            .bind(e.replay_of.clone())
            .bind(ms(e.created_at))
            .bind(ms(e.updated_at))
            .bind(ms(e.finished_at))
            .bind(e.shard)
            .bind(e.event_id.clone());
    }
    query.execute(executor).await.map_err(backend)?;
    Ok(())
}

/// Executions inserted per statement: 17 columns each, well under SQLite's 32,766 variables.
const INSERT_CHUNK: usize = 500;

impl Database {
    /// Puts each execution's event payload in `event` (they store only the event's id).
    async fn with_events(
        &self,
        mut executions: Vec<ExecutionRecord>,
    ) -> StoreResult<Vec<ExecutionRecord>> {
        let ids: Vec<&str> = executions
            .iter()
            .filter_map(|e| e.event_id.as_deref())
            .collect();
        if ids.is_empty() {
            return Ok(executions);
        }
        let mut payloads = HashMap::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, payload FROM events WHERE id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await.map_err(backend)? {
                payloads.insert(get::<String>(&row, "id")?, json(&row, "payload")?);
            }
        }
        for e in &mut executions {
            if let Some(id) = &e.event_id {
                // An event purged by retention leaves the execution without one.
                e.event = payloads.get(id).cloned().unwrap_or(serde_json::Value::Null);
            }
        }
        Ok(executions)
    }
}

#[async_trait]
impl ExecutionStore for Database {
    async fn record_events(
        &self,
        batch: &[(EventRecord, Vec<ExecutionRecord>)],
    ) -> StoreResult<Vec<bool>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut new = Vec::with_capacity(batch.len());
        let mut executions = Vec::new();
        for (ev, started) in batch {
            // DO NOTHING keeps a PostgreSQL transaction usable on a duplicate; NULL keys never
            // conflict (NULLs are distinct in the unique index).
            let inserted = sqlx::query(&format!(
                "INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (account_id, dedupe_key) DO NOTHING"
            ))
            .bind(&ev.id)
            .bind(ev.account_id.as_str())
            .bind(&ev.source)
            .bind(&ev.name)
            .bind(ev.dedupe_key.clone())
            .bind(to_json(&ev.payload)?)
            .bind(ms(ev.received_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let stored = inserted.rows_affected() == 1;
            new.push(stored);
            if stored {
                executions.extend(started.iter().cloned());
            }
        }
        for chunk in executions.chunks(INSERT_CHUNK) {
            insert_executions(&mut *tx, chunk).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(new)
    }

    async fn get_event(&self, id: &str) -> StoreResult<Option<EventRecord>> {
        let row = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(event).transpose()
    }

    async fn insert_execution(&self, e: &ExecutionRecord) -> StoreResult<()> {
        insert_executions(&self.pool, std::slice::from_ref(e)).await
    }

    async fn get_execution(&self, id: &str) -> StoreResult<Option<ExecutionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let found = row.as_ref().map(execution).transpose()?;
        Ok(self.with_events(found.into_iter().collect()).await?.pop())
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ExecutionRecord>> {
        let mut conditions = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        if let Some(account) = &filter.account_id {
            values.push(account.as_str());
            conditions.push(format!("account_id = ${}", values.len()));
        }
        if let Some(key) = &filter.workflow_key {
            values.push(key);
            conditions.push(format!("workflow_key = ${}", values.len()));
        }
        if let Some(status) = filter.status {
            values.push(status.as_str());
            conditions.push(format!("status = ${}", values.len()));
        }
        if let Some(cursor) = cursor {
            // Strictly after the cursor row in (created_at desc, id desc) order; an unknown
            // cursor compares with NULL and matches nothing.
            values.push(cursor);
            let n = values.len();
            conditions.push(format!(
                "(created_at < (SELECT c.created_at FROM executions c WHERE c.id = ${n}) \
                 OR (created_at = (SELECT c.created_at FROM executions c WHERE c.id = ${n}) AND id < ${n}))"
            ));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions {filter} ORDER BY created_at DESC, id DESC LIMIT ${}",
            values.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let found = rows
            .iter()
            .map(execution)
            .collect::<StoreResult<Vec<_>>>()?;
        self.with_events(found).await
    }

    async fn claim_executions(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        per_account_limit: u32,
    ) -> StoreResult<Vec<ExecutionRecord>> {
        if limit == 0 || per_account_limit == 0 {
            return Ok(Vec::new());
        }
        let per_account = i64::from(per_account_limit);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A write first, on one row every claimer writes: claims run one at a time (SQLite's
        // write lock, PostgreSQL's row lock until commit), so the per-account count below stays
        // true while this transaction claims.
        sqlx::query(
            "INSERT INTO store_locks (name, taken_at) VALUES ('claim_executions', $1) \
             ON CONFLICT (name) DO UPDATE SET taken_at = excluded.taken_at",
        )
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let leased = sqlx::query(&format!(
            "SELECT account_id, COUNT(*) AS n FROM executions \
             WHERE {UNFINISHED} AND lease_until IS NOT NULL AND lease_until >= $1 GROUP BY account_id"
        ))
        .bind(ms(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        // Accounts already at the limit are left out by the candidates query; the counts stop
        // the others at it as this claim adds leases.
        let mut counts = HashMap::new();
        for row in &leased {
            counts.insert(get::<String>(row, "account_id")?, get::<i64>(row, "n")?);
        }

        let candidates_sql = format!(
            "SELECT id, account_id, run_at FROM executions \
             WHERE {UNFINISHED} AND run_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
             AND (run_at > $2 OR (run_at = $2 AND id > $3)) \
             AND account_id NOT IN (SELECT account_id FROM executions \
                 WHERE {UNFINISHED} AND lease_until IS NOT NULL AND lease_until >= $1 \
                 GROUP BY account_id HAVING COUNT(*) >= $4) \
             ORDER BY run_at, id LIMIT $5"
        );
        let claim_sql = format!(
            "UPDATE executions SET lease_owner = $2, lease_until = $3, status = 'running', updated_at = $4 \
             WHERE id = $1 AND {UNFINISHED} AND run_at <= $4 AND (lease_until IS NULL OR lease_until < $4) \
             RETURNING {EXECUTION_COLUMNS}"
        );
        let mut claimed = Vec::new();
        let mut after: (i64, String) = (i64::MIN, String::new());
        'rounds: loop {
            let rows = sqlx::query(&candidates_sql)
                .bind(ms(now))
                .bind(after.0)
                .bind(after.1.clone())
                .bind(per_account)
                .bind(CLAIM_BATCH)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
            let exhausted = (rows.len() as i64) < CLAIM_BATCH;
            for row in &rows {
                let id: String = get(row, "id")?;
                let account: String = get(row, "account_id")?;
                after = (get(row, "run_at")?, id.clone());
                let count = counts.entry(account).or_insert(0);
                if *count >= per_account {
                    continue;
                }
                let done = sqlx::query(&claim_sql)
                    .bind(&id)
                    .bind(owner)
                    .bind(ms(lease_until))
                    .bind(ms(now))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                if let Some(done) = done {
                    *count += 1;
                    claimed.push(execution(&done)?);
                    if claimed.len() >= limit as usize {
                        break 'rounds;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        tx.commit().await.map_err(backend)?;
        self.with_events(claimed).await
    }

    async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "UPDATE executions SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND {UNFINISHED}"
        ))
        .bind(id)
        .bind(owner)
        .bind(ms(lease_until))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_execution(
        &self,
        id: &str,
        owner: &str,
        run_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "UPDATE executions SET status = 'running', run_at = $3, lease_owner = NULL, lease_until = NULL, \
             updated_at = $4 WHERE id = $1 AND lease_owner = $2 AND {UNFINISHED}"
        ))
        .bind(id)
        .bind(owner)
        .bind(ms(run_at))
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_execution(
        &self,
        id: &str,
        owner: &str,
        status: ExecutionStatus,
        error: Option<&serde_json::Value>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        if !status.is_finished() {
            return Err(misuse(format!(
                "cannot finish an execution as '{}'",
                status.as_str()
            )));
        }
        let done = sqlx::query(&format!(
            "UPDATE executions SET status = $3, error = $4, finished_at = $5, updated_at = $5, \
             lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND {UNFINISHED}"
        ))
        .bind(id)
        .bind(owner)
        .bind(status.as_str())
        .bind(error.map(to_json).transpose()?)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn cancel_execution(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "UPDATE executions SET status = 'cancelled', finished_at = $2, updated_at = $2, \
             lease_owner = NULL, lease_until = NULL WHERE id = $1 AND {UNFINISHED}"
        ))
        .bind(id)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn next_run_at(&self) -> StoreResult<Option<Timestamp>> {
        // A leased execution becomes claimable when its lease has run out (`lease_until < now`),
        // so at `lease_until + 1` if that is after its `run_at`.
        let next: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(CASE WHEN lease_until IS NULL OR lease_until < run_at THEN run_at \
             ELSE lease_until + 1 END) FROM executions WHERE {UNFINISHED}"
        ))
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(next.map(Timestamp::from_millis))
    }

    async fn put_step(&self, s: &StepRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO execution_steps ({STEP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (execution_id, step_id) DO UPDATE SET seq = excluded.seq, status = excluded.status, \
             attempts = excluded.attempts, input = excluded.input, output = excluded.output, \
             error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at, \
             wake_at = excluded.wake_at"
        ))
        .bind(&s.execution_id)
        .bind(&s.step_id)
        .bind(s.seq)
        .bind(s.status.as_str())
        .bind(s.attempts)
        .bind(s.input.as_ref().map(to_json).transpose()?)
        .bind(s.output.as_ref().map(to_json).transpose()?)
        .bind(s.error.as_ref().map(to_json).transpose()?)
        .bind(ms(s.started_at))
        .bind(ms(s.finished_at))
        .bind(ms(s.wake_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn list_steps(&self, execution_id: &str) -> StoreResult<Vec<StepRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {STEP_COLUMNS} FROM execution_steps WHERE execution_id = $1 ORDER BY seq, step_id"
        ))
        .bind(execution_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(step).collect()
    }

    async fn claim_schedule_tick(
        &self,
        workflow_key: &str,
        account: &AccountId,
        tick: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO schedule_ticks (workflow_key, account_id, tick) VALUES ($1, $2, $3) \
             ON CONFLICT (workflow_key, account_id, tick) DO NOTHING",
        )
        .bind(workflow_key)
        .bind(account.as_str())
        .bind(tick)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}
