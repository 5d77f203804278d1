//! `schedule` triggers: every tick of a workflow's cron starts one execution per enabled
//! account, once across the cluster (a tick is claimed in the database before it runs).

use std::sync::Arc;

use serde_json::json;

use super::{new_execution, own_event, Executions};
use crate::error::Result;
use crate::time::Timestamp;
use crate::workflows::{template, Definition};

impl Executions {
    /// Fires the `schedule` triggers whose ticks fell in the last `window` (ms) up to `now`:
    /// each tick starts one execution per enabled account, once across the cluster (a tick is
    /// claimed in the database before it runs). Answers the executions started.
    pub async fn fire_due_schedules(
        &self,
        now: Timestamp,
        window: std::time::Duration,
    ) -> Result<Vec<String>> {
        let mut started = Vec::new();
        let mut queued = Vec::new();
        for workflow in self.workflows.list_workflows().await? {
            let Ok(definition) = Definition::from_value(&workflow.definition) else {
                continue;
            };
            if definition.trigger.key != "schedule" {
                continue;
            }
            let ticks = match crate::triggers::schedule_ticks(
                &definition.trigger.params,
                (now - window).as_millis(),
                now.as_millis(),
            ) {
                Ok(ticks) => ticks,
                Err(e) => {
                    tracing::warn!(workflow = %workflow.key, "the schedule cannot be computed: {e}");
                    continue;
                }
            };
            for enablement in self
                .workflows
                .list_enablements(None, Some(&workflow.key))
                .await?
            {
                for &tick in &ticks {
                    let account = &enablement.account_id;
                    if !self
                        .executions
                        .claim_schedule_tick(&workflow.key, account, tick)
                        .await?
                    {
                        continue;
                    }
                    let payload = json!({ "scheduled_at": tick });
                    if let Some(filter) = &definition.trigger.filter {
                        let ctx = json!({ "event": payload, "config": enablement.config, "account": { "id": account } });
                        if !template::eval_bool(filter, &Arc::new(ctx)).unwrap_or(false) {
                            continue;
                        }
                    }
                    let Some(routes) = self.routes(account).await? else {
                        continue;
                    };
                    let event = own_event(account, "schedule", &workflow.key, payload);
                    let trigger = json!({ "type": "schedule", "tick": tick, "event_id": event.id });
                    let execution = new_execution(
                        account,
                        routes.shard,
                        &workflow.key,
                        workflow.version,
                        trigger,
                        Some(&event),
                        now,
                    );
                    started.push(execution.id.clone());
                    self.executions
                        .record_event(&event, std::slice::from_ref(&execution))
                        .await?;
                    queued.push(execution);
                }
            }
        }
        self.queued(&queued).await;
        Ok(started)
    }

    /// Checks the schedules every `every` until `shutdown`; ticks of the last five minutes
    /// are considered, so a short restart loses none (claims keep them from running twice).
    pub async fn run_scheduler(
        &self,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        const WINDOW: std::time::Duration = std::time::Duration::from_secs(5 * 60);
        loop {
            match self.fire_due_schedules(Timestamp::now(), WINDOW).await {
                Ok(started) if !started.is_empty() => {
                    tracing::info!(count = started.len(), "scheduled executions started")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("checking schedules failed: {e}"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
