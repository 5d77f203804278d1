//! Retention: the history dialbridge keeps has an age limit. Finished executions (with their
//! steps) and settled vendor-webhook deliveries older than `Settings::execution_retention`, and
//! events (with their deduplication keys) older than `Settings::event_retention`, are removed
//! in bounded steps by the process holding shard 0 (so one process at a time, and with SQLite
//! the one process), hourly; the database drops whole days where it keeps them apart
//! (PostgreSQL) and gives the space back (SQLite). Unfinished executions and pending deliveries
//! are kept whatever their age. The partitions of the coming week are made here too.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::platform::Shared;
use crate::store::{Purged, RetentionStore};
use crate::time::Timestamp;

/// Rows of each kind one purge step removes at most.
const PURGE_BATCH: u32 = 1_000;
/// A pause between steps, so a long purge leaves the database to the traffic in between.
const BETWEEN_STEPS: Duration = Duration::from_millis(20);
/// How far ahead each day's partitions are made.
const DAYS_AHEAD: u32 = 7;
const DAY: Duration = Duration::from_secs(24 * 3600);
/// The shard whose holder purges: one process in a cluster.
const PURGING_SHARD: i64 = 0;

/// Removes history past its retention.
#[derive(Clone)]
pub struct Retention {
    pub(crate) store: Arc<dyn RetentionStore>,
    pub(crate) shared: Shared,
}

impl Retention {
    /// One retention cycle, when this process holds the purging shard: the coming days'
    /// partitions, then purge steps until nothing old is left, then the space given back.
    /// Answers what was removed (nothing when another process purges).
    pub async fn run_cycle(&self) -> Result<Purged> {
        if !self.shared.ownership().holds(PURGING_SHARD) {
            return Ok(Purged::default());
        }
        let now = Timestamp::now();
        self.store
            .prepare_days(now - DAY, now + DAY * DAYS_AHEAD)
            .await?;
        let settings = self.shared.settings();
        let executions_before = now - settings.execution_retention;
        let events_before = now - settings.event_retention;
        let mut total = Purged::default();
        loop {
            let step = self
                .store
                .purge(executions_before, events_before, PURGE_BATCH)
                .await?;
            self.shared.metrics().purged(&step);
            total.executions += step.executions;
            total.events += step.events;
            total.deliveries += step.deliveries;
            total.partitions += step.partitions;
            let batch = u64::from(PURGE_BATCH);
            if step.executions < batch && step.events < batch && step.deliveries < batch {
                break;
            }
            tokio::time::sleep(BETWEEN_STEPS).await;
        }
        self.store.reclaim_space().await?;
        if total != Purged::default() {
            tracing::info!(
                executions = total.executions,
                events = total.events,
                deliveries = total.deliveries,
                partitions = total.partitions,
                "purged history past its retention"
            );
        }
        Ok(total)
    }
}
