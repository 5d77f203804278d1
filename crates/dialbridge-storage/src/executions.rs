//! `events`, `executions`, `execution_steps` and `schedule_ticks`: what happened, the runs it
//! started, each run's step journal, and which schedule ticks were already fired.
//!
//! Leases are compare-and-set updates (`… WHERE lease is free or expired`, one row each), so two
//! claimers never hold one execution. Claims also serialise on a `store_locks` row, which makes
//! the per-account limit exact across processes (the count and the claims are one transaction).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use dialbridge_core::{
    legacy_dedupe_key, AccountId, ClaimWant, Claimed, DeliveryRecord, EventRecord, EventsTx,
    ExecutionFilter, ExecutionRecord, ExecutionStatus, ExecutionStore, IncomingEvent,
    JournalOutcome, JournalWrite, StepRecord, StepStatus, StoreError, StoreResult, Timestamp,
};
use sqlx::any::AnyRow;

use crate::database::{again_if_aborted, backend, misuse, Database, Dialect};
use crate::rows::{at, get, json, json_opt, marks, ms, shard_list, to_json};
use crate::write_tx::WriteTx;

const EVENT_COLUMNS: &str = "id, account_id, source, name, dedupe_key, payload, received_at";
/// PostgreSQL's types of `EVENT_COLUMNS`, for the rows of a multi-row insert (`WriteTx::rows`).
const EVENT_TYPES: &[&str] = &["text", "text", "text", "text", "text", "text", "int8"];

const EXECUTION_COLUMNS: &str =
    "id, account_id, workflow_key, version, status, trigger_json, event_json, error, \
    run_at, lease_owner, lease_until, replay_of, created_at, updated_at, finished_at, shard, event_id";
/// PostgreSQL's types of `EXECUTION_COLUMNS` and `claims`.
const EXECUTION_TYPES: &[&str] = &[
    "text", "text", "text", "int8", "text", "text", "text", "text", "int8", "text", "int8", "text",
    "int8", "int8", "int8", "int8", "text", "int8",
];

const STEP_COLUMNS: &str =
    "execution_id, step_id, seq, status, attempts, input, output, error, started_at, \
    finished_at, wake_at";
/// PostgreSQL's types of `STEP_COLUMNS`.
const STEP_TYPES: &[&str] = &[
    "text", "text", "int8", "text", "int8", "text", "text", "text", "int8", "int8", "int8",
];

/// Not finished: may still be claimed, released, finished or cancelled.
pub(crate) const UNFINISHED: &str = "status IN ('queued', 'running')";

/// When an unfinished execution becomes claimable: at its `run_at`, or, while another holds it,
/// just after that lease runs out.
const NEXT_CLAIMABLE: &str =
    "CASE WHEN lease_until IS NULL OR lease_until < run_at THEN run_at ELSE lease_until + 1 END";

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
fn insert_executions(tx: &mut WriteTx<'_>, executions: &[&ExecutionRecord]) -> StoreResult<()> {
    if executions.is_empty() {
        return Ok(());
    }
    // An execution stored leased was started where it was stored (`slots.rs` in
    // dialbridge-core): that is its first claim, so a later claim resumes it from its journal.
    // One stored finished ran there to its end (`at_ingest.rs`): it was claimed once too.
    let sql = format!(
        "INSERT INTO executions ({EXECUTION_COLUMNS}, claims) {}",
        tx.rows(executions.len(), EXECUTION_TYPES)
    );
    let mut query = tx.push_rows(&sql, EXECUTION_TYPES.len());
    for e in executions {
        let event_json = match e.event_id {
            Some(_) => "null".to_owned(),
            None => to_json(&e.event)?,
        };
        query
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
            .bind(e.event_id.clone())
            .bind(i64::from(e.lease_owner.is_some() || e.status.is_finished()));
    }
    Ok(())
}

/// Creates or replaces journal entries, several rows per statement.
fn upsert_steps(tx: &mut WriteTx<'_>, steps: &[&StepRecord]) -> StoreResult<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO execution_steps ({STEP_COLUMNS}) {} \
         ON CONFLICT (execution_id, step_id) DO UPDATE SET seq = excluded.seq, status = excluded.status, \
         attempts = excluded.attempts, input = excluded.input, output = excluded.output, \
         error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at, \
         wake_at = excluded.wake_at",
        tx.rows(steps.len(), STEP_TYPES)
    );
    let mut query = tx.push_rows(&sql, STEP_TYPES.len());
    for s in steps {
        query
            .bind(s.execution_id.clone())
            .bind(s.step_id.clone())
            .bind(s.seq)
            .bind(s.status.as_str())
            .bind(s.attempts)
            .bind(s.input.as_ref().map(to_json).transpose()?)
            .bind(s.output.as_ref().map(to_json).transpose()?)
            .bind(s.error.as_ref().map(to_json).transpose()?)
            .bind(ms(s.started_at))
            .bind(ms(s.finished_at))
            .bind(ms(s.wake_at));
    }
    Ok(())
}

/// Executions inserted per statement: 18 columns each, well under SQLite's 32,766 variables.
const INSERT_CHUNK: usize = 500;
/// Accounts one SQLite claim statement picks from (four parameters each).
const CLAIM_CHUNK: usize = 200;

/// A journal that finishes its execution, with the status and error it finishes it with.
type Finishing<'a> = (
    &'a JournalWrite,
    ExecutionStatus,
    Option<&'a serde_json::Value>,
);

/// How a journal's outcome reads in the rows `finish_executions` and `release_executions`
/// return (`id`, `outcome`).
const FINISHED: &str = "finished";
const RELEASED: &str = "released";

/// Finishes the executions of `finishes` still held by their writer's lease, in
/// one statement: one round trip for a whole batch of journals instead of one per execution.
/// Its rows (`id`, `outcome`: the executions it finished) come back from the transaction's
/// next flush or commit.
fn finish_executions<'q>(tx: &mut WriteTx<'_>, finishes: &[Finishing<'q>]) -> StoreResult<()> {
    let types = ["text", "text", "text", "text", "int8"];
    let sql = format!(
        "UPDATE executions SET status = f.column3, error = f.column4, finished_at = f.column5, \
         updated_at = f.column5, lease_owner = NULL, lease_until = NULL \
         FROM ({}) AS f WHERE executions.id = f.column1 AND executions.lease_owner = f.column2 \
         AND executions.{UNFINISHED} RETURNING executions.id, '{FINISHED}' AS outcome",
        tx.rows(finishes.len(), &types)
    );
    let mut query = tx.push_rows(&sql, types.len());
    for (write, status, error) in finishes {
        if !status.is_finished() {
            return Err(misuse(format!(
                "cannot finish an execution as '{}'",
                status.as_str()
            )));
        }
        query
            .bind(write.execution_id.as_str())
            .bind(write.owner.as_str())
            .bind(status.as_str())
            .bind(error.as_ref().map(to_json).transpose()?)
            .bind(ms(write.now));
    }
    Ok(())
}

/// Gives back the executions of `releases` still held by their writer's lease, each to run
/// again at its `run_at`, in one statement. Its rows (`id`, `outcome`: the executions it
/// released) come back from the transaction's next flush or commit.
fn release_executions(tx: &mut WriteTx<'_>, releases: &[(&JournalWrite, Timestamp)]) {
    let types = ["text", "text", "int8", "int8"];
    let sql = format!(
        "UPDATE executions SET run_at = r.column3, updated_at = r.column4, lease_owner = NULL, \
         lease_until = NULL FROM ({}) AS r WHERE executions.id = r.column1 \
         AND executions.lease_owner = r.column2 AND executions.{UNFINISHED} \
         RETURNING executions.id, '{RELEASED}' AS outcome",
        tx.rows(releases.len(), &types)
    );
    let mut query = tx.push_rows(&sql, types.len());
    for (write, run_at) in releases {
        query
            .bind(write.execution_id.as_str())
            .bind(write.owner.as_str())
            .bind(ms(*run_at))
            .bind(ms(write.now));
    }
}

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
            let sql = format!(
                "SELECT id, payload FROM events WHERE id IN ({})",
                marks(1, chunk.len())
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

    async fn renew_leases_once(
        &self,
        owner: &str,
        ids: &[String],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<String>> {
        let mut writer = self.writer().await?;
        let mut renewed = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE executions SET lease_until = $2 WHERE lease_owner = $1 AND {UNFINISHED} \
                 AND id IN ({}) RETURNING id",
                marks(3, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(owner).bind(ms(lease_until));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&mut *writer).await.map_err(backend)? {
                renewed.push(get(&row, "id")?);
            }
        }
        Ok(renewed)
    }

    async fn write_journal_once(&self, writes: &[JournalWrite]) -> StoreResult<Vec<bool>> {
        let mut tx = self.write_tx();
        // A step written twice in one commit (two writes of one execution met in the batch)
        // goes in once, as its later entry: PostgreSQL refuses a statement that touches a row
        // twice, which would fail every other write of the batch with it.
        let mut latest: HashMap<(&str, &str), usize> = HashMap::new();
        let all: Vec<&StepRecord> = writes.iter().flat_map(|w| &w.steps).collect();
        for (i, s) in all.iter().enumerate() {
            latest.insert((s.execution_id.as_str(), s.step_id.as_str()), i);
        }
        let steps: Vec<&StepRecord> = all
            .iter()
            .enumerate()
            .filter(|(i, s)| latest[&(s.execution_id.as_str(), s.step_id.as_str())] == *i)
            .map(|(_, s)| *s)
            .collect();
        for chunk in steps.chunks(INSERT_CHUNK) {
            upsert_steps(&mut tx, chunk)?;
        }
        // Each execution's row is taken in the order of their ids, as in any other batch: two
        // batches never wait for each other in a circle.
        let mut order: Vec<&JournalWrite> = writes.iter().collect();
        order.sort_by(|a, b| a.execution_id.cmp(&b.execution_id));
        let mut finishing: Vec<Finishing> = Vec::new();
        let mut releasing = Vec::new();
        for write in order {
            match &write.outcome {
                Some(JournalOutcome::Finish { status, error }) => {
                    finishing.push((write, *status, error.as_ref()))
                }
                Some(JournalOutcome::Release { run_at }) => releasing.push((write, *run_at)),
                None => {}
            }
        }
        for chunk in finishing.chunks(INSERT_CHUNK) {
            finish_executions(&mut tx, chunk)?;
        }
        for chunk in releasing.chunks(INSERT_CHUNK) {
            release_executions(&mut tx, chunk);
        }
        // Which writes took effect decides which deliveries are queued: without any, nothing
        // waits for that answer, and the whole journal goes with its commit.
        if writes.iter().all(|w| w.deliveries.is_empty()) {
            let done = outcomes(&tx.commit().await?)?;
            return Ok(writes.iter().map(|w| applied(w, &done)).collect());
        }
        let done = outcomes(&tx.flush().await?)?;
        let applied: Vec<bool> = writes.iter().map(|w| applied(w, &done)).collect();
        let deliveries: Vec<&DeliveryRecord> = writes
            .iter()
            .zip(&applied)
            .filter(|(_, applied)| **applied)
            .flat_map(|(w, _)| &w.deliveries)
            .collect();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            crate::endpoints::insert_deliveries(&mut tx, chunk)?;
        }
        tx.commit().await?;
        Ok(applied)
    }
}

/// The finished and released executions in the rows of `finish_executions` and
/// `release_executions`.
fn outcomes(rows: &[AnyRow]) -> StoreResult<HashSet<(String, String)>> {
    rows.iter()
        .map(|row| Ok((get(row, "id")?, get(row, "outcome")?)))
        .collect()
}

/// Whether a journal write took effect: always without an outcome; with one, when its
/// execution was still held by its writer (its row came back from the statement).
fn applied(write: &JournalWrite, done: &HashSet<(String, String)>) -> bool {
    let outcome = match &write.outcome {
        None => return true,
        Some(JournalOutcome::Finish { .. }) => FINISHED,
        Some(JournalOutcome::Release { .. }) => RELEASED,
    };
    done.contains(&(write.execution_id.clone(), outcome.to_owned()))
}

/// An ingest batch's transaction (`EventsTx`): the redelivery keys queued, then the rows.
struct EventsWrite<'c> {
    tx: WriteTx<'c>,
    /// Per event of the batch, in order: its id, when it has a redelivery key.
    keyed: Vec<Option<String>>,
}

#[async_trait]
impl EventsTx for EventsWrite<'_> {
    async fn insert_keys(&mut self) -> StoreResult<Vec<bool>> {
        // What follows depends on which keys went in: the one answer waited for before the
        // commit (none when no event has a key).
        let fresh = self
            .tx
            .flush()
            .await?
            .iter()
            .map(|row| get::<String>(row, "event_id"))
            .collect::<StoreResult<HashSet<String>>>()?;
        Ok(self
            .keyed
            .iter()
            .map(|id| id.as_ref().is_none_or(|id| fresh.contains(id)))
            .collect())
    }

    async fn finish(self: Box<Self>, batch: &[IncomingEvent], new: &[bool]) -> StoreResult<()> {
        let EventsWrite { mut tx, keyed } = *self;
        if batch.len() != keyed.len() || new.len() != keyed.len() {
            return Err(misuse(format!(
                "a batch of {} events finished with {} events and {} answers",
                keyed.len(),
                batch.len(),
                new.len()
            )));
        }
        let (stored, redelivered): (Vec<_>, Vec<_>) =
            batch.iter().zip(new).partition(|(_, new)| **new);
        let stored: Vec<&IncomingEvent> = stored.into_iter().map(|(item, _)| item).collect();
        // Redeliveries are rare: one counting statement each.
        for (IncomingEvent { event: ev, .. }, _) in redelivered {
            tx.push(
                "UPDATE event_dedupe SET redeliveries = redeliveries + 1 \
                 WHERE account_id = $1 AND dedupe_key IN ($2, $3)",
            )
            .bind(ev.account_id.as_str())
            .bind(ev.dedupe_key.as_deref())
            .bind(ev.dedupe_key.as_deref().and_then(legacy_dedupe_key));
        }
        for chunk in stored.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO events ({EVENT_COLUMNS}) {}",
                tx.rows(chunk.len(), EVENT_TYPES)
            );
            let mut query = tx.push_rows(&sql, EVENT_TYPES.len());
            for IncomingEvent { event: ev, .. } in chunk {
                query
                    .bind(ev.id.as_str())
                    .bind(ev.account_id.as_str())
                    .bind(ev.source.as_str())
                    .bind(ev.name.as_str())
                    .bind(ev.dedupe_key.as_deref())
                    .bind(to_json(&ev.payload)?)
                    .bind(ms(ev.received_at));
            }
        }
        let executions: Vec<&ExecutionRecord> =
            stored.iter().flat_map(|item| &item.executions).collect();
        for chunk in executions.chunks(INSERT_CHUNK) {
            insert_executions(&mut tx, chunk)?;
        }
        // Executions that ran to their end at ingest come with their journal and deliveries.
        let steps: Vec<&StepRecord> = stored.iter().flat_map(|item| &item.steps).collect();
        for chunk in steps.chunks(INSERT_CHUNK) {
            upsert_steps(&mut tx, chunk)?;
        }
        let deliveries: Vec<&DeliveryRecord> =
            stored.iter().flat_map(|item| &item.deliveries).collect();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            crate::endpoints::insert_deliveries(&mut tx, chunk)?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl ExecutionStore for Database {
    fn begin_events<'s>(&'s self, batch: &[IncomingEvent]) -> Box<dyn EventsTx + 's> {
        let mut tx = self.write_tx();
        // A keyed event is new when its key goes in; a key already there, or twice in this
        // batch, or stored in its legacy form by an older version, is a redelivery (DO NOTHING
        // keeps a PostgreSQL transaction usable).
        let keyed: Vec<(&EventRecord, &str)> = batch
            .iter()
            .filter_map(|item| Some((&item.event, item.event.dedupe_key.as_deref()?)))
            .collect();
        // The legacy form is looked up in the partial index of legacy keys (migration
        // 20261205000010), empty once retention has removed them; SQLite's planner would take
        // the primary key's index instead and read a random page of it per event.
        let legacy_index = match self.dialect() {
            Dialect::Sqlite => "INDEXED BY event_dedupe_legacy_keys",
            Dialect::Postgres => "",
        };
        for chunk in keyed.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO event_dedupe (account_id, dedupe_key, event_id, received_at) \
                 SELECT column1, column2, column3, column4 FROM ({}) AS v \
                 WHERE NOT EXISTS (SELECT 1 FROM event_dedupe d {legacy_index} \
                 WHERE d.account_id = v.column1 AND d.dedupe_key = v.column5 \
                 AND length(d.dedupe_key) = 64) \
                 ON CONFLICT (account_id, dedupe_key) DO NOTHING RETURNING event_id",
                tx.rows(chunk.len(), &["text", "text", "text", "int8", "text"])
            );
            let mut query = tx.push_rows(&sql, 5);
            for (ev, key) in chunk {
                query
                    .bind(ev.account_id.as_str())
                    .bind(*key)
                    .bind(ev.id.as_str())
                    .bind(ms(ev.received_at))
                    .bind(legacy_dedupe_key(key).unwrap_or(key));
            }
        }
        let keyed = batch
            .iter()
            .map(|item| {
                item.event
                    .dedupe_key
                    .as_ref()
                    .map(|_| item.event.id.clone())
            })
            .collect();
        Box::new(EventsWrite { tx, keyed })
    }

    async fn get_event(&self, id: &str) -> StoreResult<Option<EventRecord>> {
        let row = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(event).transpose()
    }

    async fn list_events(
        &self,
        account: Option<&AccountId>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        let mut conditions = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        if let Some(account) = account {
            values.push(account.as_str());
            conditions.push(format!("account_id = ${}", values.len()));
        }
        if let Some(cursor) = cursor {
            // Strictly after the cursor row in (received_at desc, id desc) order; an unknown
            // cursor compares with NULL and matches nothing.
            values.push(cursor);
            let n = values.len();
            conditions.push(format!(
                "(received_at < (SELECT c.received_at FROM events c WHERE c.id = ${n}) \
                 OR (received_at = (SELECT c.received_at FROM events c WHERE c.id = ${n}) AND id < ${n}))"
            ));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events {filter} ORDER BY received_at DESC, id DESC LIMIT ${}",
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
        rows.iter().map(event).collect()
    }

    async fn redeliveries_of_events(
        &self,
        event_ids: &[String],
    ) -> StoreResult<Vec<(String, i64)>> {
        let mut counts = Vec::new();
        for chunk in event_ids.chunks(500) {
            let sql = format!(
                "SELECT event_id, redeliveries FROM event_dedupe \
                 WHERE event_id IN ({}) AND redeliveries > 0",
                marks(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&self.pool).await.map_err(backend)? {
                counts.push((
                    get::<String>(&row, "event_id")?,
                    get::<i64>(&row, "redeliveries")?,
                ));
            }
        }
        Ok(counts)
    }

    async fn executions_of_events(
        &self,
        event_ids: &[String],
    ) -> StoreResult<Vec<(String, String)>> {
        let mut pairs = Vec::new();
        for chunk in event_ids.chunks(500) {
            let sql = format!(
                "SELECT event_id, id FROM executions WHERE event_id IN ({}) \
                 ORDER BY event_id, created_at, id",
                marks(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&self.pool).await.map_err(backend)? {
                pairs.push((get::<String>(&row, "event_id")?, get::<String>(&row, "id")?));
            }
        }
        Ok(pairs)
    }

    async fn insert_execution(&self, e: &ExecutionRecord) -> StoreResult<()> {
        let mut tx = self.write_tx();
        insert_executions(&mut tx, &[e])?;
        tx.commit().await?;
        Ok(())
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
        // The time bounds are numbers, bound after the texts.
        let mut bounds: Vec<i64> = Vec::new();
        for (bound, op) in [(filter.created_from, ">="), (filter.created_before, "<")] {
            if let Some(at) = bound {
                bounds.push(at.as_millis());
                let n = values.len() + bounds.len();
                conditions.push(format!("created_at {op} ${n}"));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions {filter} ORDER BY created_at DESC, id DESC LIMIT ${}",
            values.len() + bounds.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        for bound in bounds {
            query = query.bind(bound);
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

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        wants: &[ClaimWant],
    ) -> StoreResult<Vec<Claimed>> {
        let wants: Vec<&ClaimWant> = wants.iter().filter(|w| w.room > 0).collect();
        if wants.is_empty() {
            return Ok(Vec::new());
        }
        // What a claim answers, `table` naming the updated table as its statement does: the
        // execution, its claim count, and its event (one round trip less than fetching it after).
        let returning = |table: &str| {
            let columns: Vec<String> = EXECUTION_COLUMNS
                .split(", ")
                .map(|c| format!("{table}.{c}"))
                .collect();
            format!(
                "{}, {table}.claims, (SELECT payload FROM events WHERE events.id = {table}.event_id) AS event_payload",
                columns.join(", ")
            )
        };
        let rows = match self.dialect() {
            // One statement: per account, its oldest due executions (the partial index of
            // unfinished work), locked so concurrent claimers skip them, leased and returned.
            Dialect::Postgres => {
                let wanted: Vec<serde_json::Value> = wants
                    .iter()
                    .map(|w| serde_json::json!({"account_id": w.account.as_str(), "room": w.room}))
                    .collect();
                let sql = format!(
                    "UPDATE executions e SET status = 'running', lease_owner = $1, lease_until = $2, \
                     updated_at = $3, claims = e.claims + 1 \
                     FROM (SELECT x.id FROM json_to_recordset($4::json) AS w(account_id text, room int) \
                           CROSS JOIN LATERAL (SELECT id FROM executions \
                               WHERE account_id = w.account_id AND {UNFINISHED} AND run_at <= $3 \
                               AND (lease_until IS NULL OR lease_until < $3) \
                               ORDER BY run_at, id LIMIT w.room FOR UPDATE SKIP LOCKED) x) picked \
                     WHERE e.id = picked.id RETURNING {}",
                    returning("e")
                );
                sqlx::query(&sql)
                    .bind(owner)
                    .bind(ms(lease_until))
                    .bind(ms(now))
                    .bind(serde_json::Value::Array(wanted).to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
            }
            // SQLite has one writer: one statement for a chunk of accounts, each account's
            // oldest due executions picked by its own subquery; the chunks in one transaction,
            // sent through the write queue together with the other writes waiting for it.
            Dialect::Sqlite => {
                let returning = returning("executions");
                let mut tx = self.write_tx();
                for chunk in wants.chunks(CLAIM_CHUNK) {
                    let picks: Vec<String> = (0..chunk.len())
                        .map(|k| {
                            let p = 4 + 4 * k;
                            format!(
                                "SELECT id FROM (SELECT id FROM executions WHERE account_id = ${p} \
                                 AND {UNFINISHED} AND run_at <= ${} \
                                 AND (lease_until IS NULL OR lease_until < ${}) \
                                 ORDER BY run_at, id LIMIT ${})",
                                p + 1,
                                p + 2,
                                p + 3
                            )
                        })
                        .collect();
                    let sql = format!(
                        "UPDATE executions SET status = 'running', lease_owner = $1, lease_until = $2, \
                         updated_at = $3, claims = claims + 1 WHERE id IN ({}) RETURNING {returning}",
                        picks.join(" UNION ALL ")
                    );
                    let mut query = tx.push(&sql);
                    query.bind(owner).bind(ms(lease_until)).bind(ms(now));
                    for want in chunk {
                        query
                            .bind(want.account.as_str())
                            .bind(ms(now))
                            .bind(ms(now))
                            .bind(i64::from(want.room));
                    }
                }
                tx.commit().await?
            }
        };
        let mut resumed = HashMap::new();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut execution = execution(row)?;
            resumed.insert(execution.id.clone(), get::<i64>(row, "claims")? > 1);
            if execution.event_id.is_some() {
                // An event purged by retention leaves the execution without one.
                execution.event = json_opt(row, "event_payload")?.unwrap_or_default();
            }
            claimed.push(execution);
        }
        claimed.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
        Ok(claimed
            .into_iter()
            .map(|execution| Claimed {
                resumed: resumed.get(&execution.id).copied().unwrap_or(true),
                execution,
            })
            .collect())
    }

    async fn next_claimable(&self, account: &AccountId) -> StoreResult<Option<Timestamp>> {
        let next: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN({NEXT_CLAIMABLE}) FROM executions WHERE account_id = $1 AND {UNFINISHED}"
        ))
        .bind(account.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(next.map(Timestamp::from_millis))
    }

    async fn work_in_shards(
        &self,
        shards: &[i64],
        since: Option<Timestamp>,
    ) -> StoreResult<Vec<(AccountId, i64, Timestamp)>> {
        if shards.is_empty() {
            return Ok(Vec::new());
        }
        let since_filter = if since.is_some() {
            "AND created_at >= $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT account_id, MIN(shard) AS shard, MIN({NEXT_CLAIMABLE}) AS next FROM executions \
             WHERE {UNFINISHED} AND shard IN ({}) {since_filter} GROUP BY account_id",
            shard_list(shards)
        );
        let mut query = sqlx::query(&sql);
        if let Some(since) = since {
            query = query.bind(ms(since));
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok((
                    AccountId::from_trusted(get(row, "account_id")?),
                    get(row, "shard")?,
                    at(row, "next")?,
                ))
            })
            .collect()
    }

    async fn renew_leases(
        &self,
        owner: &str,
        ids: &[String],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<String>> {
        // Many rows in one statement, taken in whatever order PostgreSQL reads them: a journal
        // write of the same process can hold one of them and wait for another.
        again_if_aborted(|| self.renew_leases_once(owner, ids, lease_until)).await
    }

    async fn release_unstarted(
        &self,
        owner: &str,
        running: &[String],
        now: Timestamp,
    ) -> StoreResult<Vec<AccountId>> {
        // `running` is at most the process's workers; one statement, one parameter per id.
        let kept = if running.is_empty() {
            String::new()
        } else {
            format!("AND id NOT IN ({})", marks(3, running.len()))
        };
        let sql = format!(
            "UPDATE executions SET lease_owner = NULL, lease_until = NULL, updated_at = $2 \
             WHERE lease_owner = $1 AND {UNFINISHED} {kept} RETURNING account_id"
        );
        let mut query = sqlx::query(&sql).bind(owner).bind(ms(now));
        for id in running {
            query = query.bind(id.as_str());
        }
        let mut writer = self.writer().await?;
        let mut accounts = Vec::new();
        for row in query.fetch_all(&mut *writer).await.map_err(backend)? {
            accounts.push(AccountId::from_trusted(get(&row, "account_id")?));
        }
        accounts.sort();
        accounts.dedup();
        Ok(accounts)
    }

    async fn write_journal(&self, writes: &[JournalWrite]) -> StoreResult<Vec<bool>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        // A batch of several executions' journals in one transaction: PostgreSQL may pick it as
        // a deadlock's victim (against a lease renewal), and a step's record must not be lost to
        // that — it would fail the execution, or run the step again.
        again_if_aborted(|| self.write_journal_once(writes)).await
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
