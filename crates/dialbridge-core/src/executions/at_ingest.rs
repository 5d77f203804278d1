//! Executions that run to their end at ingest. A workflow whose steps are all `set` and `if`
//! (`Kind::SELF_CONTAINED`) reaches nothing outside dialbridge and never waits: its run is
//! decided by what its templates see (the event, the account, its config). When the process
//! storing the event holds the account's shard and its executor runs, the event writer
//! (`events/ingress.rs`) runs such an execution before the event's commit and stores it
//! finished, with its step journal and its vendor-webhook deliveries, in that commit. Per event
//! that saves the hand-over to the dispatcher, a journal write, and the update that finished
//! the execution (on PostgreSQL a new version of its row, with an entry in each of its
//! indexes).
//!
//! Nothing of the run is seen before the commit: when the event is a redelivery or the commit
//! fails, none of it exists, as for any execution of that event. Each of its evaluations must
//! succeed within the templates' small budget (microseconds) where it is called; one that needs
//! more or fails, or anything unexpected, leaves the execution to start as before, and the
//! executor runs it from its first step with the whole budget.
//!
//! The run takes no room of the executor (`slots.rs`) and does not queue behind the account's
//! due work: it takes no worker, calls nothing, and never yields while its steps run, so it
//! cannot hold up the executions the room is kept for. Taking room made it fall back whenever
//! the dispatcher was claiming for the account (a claim takes the account's room while it
//! runs), and each fallback queued work that made the next claim: under load the account then
//! stayed on the claim path.

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::executor::context_with_event;
use super::interpreter::{Flow, Interpreter};
use super::routing::{AccountRoutes, Route};
use super::Executions;
use crate::store::{ExecutionRecord, ExecutionStatus, IncomingEvent, StepRecord};
use crate::time::Timestamp;

impl Executions {
    /// Ingest, in the writer before the commit: runs to their end the executions of `incoming`
    /// that can (see the module's documentation), and adds their steps and deliveries to it.
    /// The runs' template contexts are added to `spent`, to be freed outside the writer's turn.
    pub(crate) async fn run_at_ingest(
        &self,
        routes: &AccountRoutes,
        incoming: &mut IncomingEvent,
        spent: &mut Vec<Arc<Value>>,
    ) {
        let ownership = self.shared.ownership();
        for execution in &mut incoming.executions {
            let Some(route) = routes.routes.iter().find(|r| {
                r.workflow_key == execution.workflow_key && r.version == execution.version
            }) else {
                continue;
            };
            if !route.definition.is_self_contained()
                || !ownership.holds(execution.shard)
                || !self.slots.is_open()
            {
                continue;
            }
            let ran = self
                .run_to_end(routes, route, execution, &incoming.event.payload, spent)
                .await;
            let Some((status, error, steps)) = ran else {
                continue;
            };
            // Finished in place; it keeps no copy of its event's payload (the event holds it).
            let now = Timestamp::now();
            execution.status = status;
            execution.error = error;
            execution.finished_at = Some(now);
            execution.updated_at = now;
            let deliveries = self
                .vendor_webhooks
                .deliveries_for_execution(execution)
                .await;
            incoming.steps.extend(steps);
            incoming.deliveries.extend(deliveries);
        }
    }

    /// Runs `execution` (of `route`, started by an event with `payload`) through its steps;
    /// answers how it ended, with its journal, or `None` when the run is not to be used. The
    /// run's template context is added to `spent`.
    async fn run_to_end(
        &self,
        routes: &AccountRoutes,
        route: &Route,
        execution: &ExecutionRecord,
        payload: &Value,
        spent: &mut Vec<Arc<Value>>,
    ) -> Option<(ExecutionStatus, Option<Value>, Vec<StepRecord>)> {
        // Nothing of the run reads the execution's own copy of the payload: templates read
        // it from the context, its one copy.
        let ctx = context_with_event(Some(routes), execution, payload.clone());
        let cancel = CancellationToken::new();
        let mut interpreter = Interpreter::at_ingest(self, execution, ctx, &cancel);
        let flow = interpreter.run(&route.definition).await;
        spent.push(interpreter.take_context());
        if interpreter.gave_up() {
            return None;
        }
        let (status, error) = match flow {
            Ok(Flow::Done) => (ExecutionStatus::Succeeded, None),
            Ok(Flow::Fail(error)) => (ExecutionStatus::Failed, Some(error)),
            // Self-contained steps never wait and nothing cancels this run; a store error
            // cannot happen without a store. Whatever it was, the executor runs it.
            Ok(Flow::Wait(_) | Flow::Cancelled) | Err(_) => return None,
        };
        Some((status, error, interpreter.take_pending()))
    }
}
