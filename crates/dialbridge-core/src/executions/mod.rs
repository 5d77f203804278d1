//! Executions: durable runs of a workflow version for an account. Started by triggers
//! (`start_from_event`, shared by Dialpad events and vendor events; `start_api`; schedules in
//! `scheduler.rs`), claimed and run by the executor (`executor.rs`, steps walked by
//! `interpreter.rs`, each kind run by its module in `workflows/steps/`) — or, for a workflow of
//! `set` and `if` steps, run to its end at ingest (`at_ingest.rs`) — listed, read, cancelled
//! and replayed.

mod at_ingest;
mod executor;
mod interpreter;
pub(crate) mod routing;
mod scheduler;
mod slots;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

pub use executor::ExecutorSettings;
pub(crate) use interpreter::{template_error, Flow, JournalEntry, StepRun};
pub(crate) use slots::AfterIngest;

use crate::actions::Actions;
use crate::error::{Error, Resource, Result};
use crate::ids::{new_id, AccountId};
use crate::paging::{cut_page, id_cursor, page_size};
use crate::platform::Shared;
use crate::signals::Signal;
use crate::store::{
    AccountStore, EventRecord, ExecutionFilter, ExecutionRecord, ExecutionStatus, ExecutionStore,
    StepRecord, WorkflowStore,
};
use crate::time::Timestamp;
use crate::vendor_webhooks::VendorWebhooks;
use crate::workflows::unknown_workflow;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub id: String,
    pub status: crate::store::StepStatus,
    pub attempts: i64,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<Timestamp>,
}

impl From<StepRecord> for StepView {
    fn from(record: StepRecord) -> Self {
        StepView {
            id: record.step_id,
            status: record.status,
            attempts: record.attempts,
            input: record.input,
            output: record.output,
            error: record.error,
            started_at: record.started_at,
            finished_at: record.finished_at,
            wake_at: record.wake_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionView {
    pub id: String,
    pub workflow: String,
    pub version: i64,
    pub account_id: AccountId,
    pub status: ExecutionStatus,
    /// What started it: `{type, event_id?, name?, …}`.
    #[schema(value_type = Object)]
    pub trigger: Value,
    /// What expressions saw as `event`.
    pub event: Value,
    pub error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Present when one execution is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
}

impl ExecutionView {
    fn new(record: ExecutionRecord, steps: Option<Vec<StepRecord>>) -> Self {
        ExecutionView {
            id: record.id,
            workflow: record.workflow_key,
            version: record.version,
            account_id: record.account_id,
            status: record.status,
            trigger: record.trigger,
            event: record.event,
            error: record.error,
            replay_of: record.replay_of,
            created_at: record.created_at,
            updated_at: record.updated_at,
            finished_at: record.finished_at,
            steps: steps.map(|s| s.into_iter().map(StepView::from).collect()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Which version a replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVersion {
    /// The version the execution ran.
    Own,
    /// The workflow's latest version.
    Latest,
}

/// Starts, runs and reports executions.
#[derive(Clone)]
pub struct Executions {
    pub(crate) executions: Arc<dyn ExecutionStore>,
    pub(crate) workflows: Arc<dyn WorkflowStore>,
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) actions: Actions,
    pub(crate) vendor_webhooks: VendorWebhooks,
    pub(crate) shared: Shared,
    /// The group-commit writer of journals, started on first use.
    pub(crate) journal_writer: executor::JournalWriter,
    /// The executor's room, shared with ingest (`slots.rs`).
    pub(crate) slots: Arc<slots::Slots>,
}

impl Executions {
    async fn latest_workflow(&self, key: &str) -> Result<crate::store::WorkflowRecord> {
        match self.workflows.get_workflow(key, None).await? {
            Some(workflow) => Ok(workflow),
            None => Err(unknown_workflow(self.workflows.as_ref(), key).await),
        }
    }

    /// `POST …/workflows/{key}/executions {input}`: runs an enabled workflow now, with `input`
    /// as `event`.
    pub async fn start_api(&self, account: &AccountId, key: &str, input: Value) -> Result<String> {
        let Some(routes) = self.routes(account).await? else {
            return Err(Error::not_found(Resource::Account, account.as_str()));
        };
        if self.workflows.get_enablement(account, key).await?.is_none() {
            self.latest_workflow(key).await?;
            return Err(Error::NotEnabled {
                account: account.clone(),
                workflow: key.to_owned(),
            });
        }
        let workflow = self.latest_workflow(key).await?;
        let event = own_event(account, "api", key, input);
        let execution = new_execution(
            account,
            routes.shard,
            &workflow.key,
            workflow.version,
            json!({ "type": "api", "event_id": event.id }),
            Some(&event),
            Timestamp::now(),
        );
        let id = execution.id.clone();
        self.executions
            .record_event(&event, std::slice::from_ref(&execution))
            .await?;
        self.queued(std::slice::from_ref(&execution)).await;
        Ok(id)
    }

    /// Tells the executors (this process's and, through signals, the shards' owners) that
    /// these executions are waiting.
    pub(crate) async fn queued(&self, executions: &[ExecutionRecord]) {
        let mut by_shard: std::collections::BTreeMap<i64, Vec<AccountId>> = Default::default();
        for e in executions {
            let accounts = by_shard.entry(e.shard).or_default();
            if !accounts.contains(&e.account_id) {
                accounts.push(e.account_id.clone());
            }
        }
        for (shard, accounts) in by_shard {
            self.shared
                .signals()
                .send(Signal::Work { shard, accounts })
                .await;
        }
    }

    pub async fn list(
        &self,
        filter: &ExecutionFilter,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ExecutionPage> {
        let limit = page_size(limit)?;
        let cursor = id_cursor(cursor, "exe")?;
        let mut rows = self
            .executions
            .list_executions(filter, cursor, limit + 1)
            .await?;
        let cursor = cut_page(&mut rows, limit, |r| r.id.clone());
        Ok(ExecutionPage {
            items: rows
                .into_iter()
                .map(|r| ExecutionView::new(r, None))
                .collect(),
            cursor,
        })
    }

    pub async fn get(&self, id: &str) -> Result<ExecutionView> {
        let record = self
            .executions
            .get_execution(id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Execution, id))?;
        let steps = self.executions.list_steps(id).await?;
        Ok(ExecutionView::new(record, Some(steps)))
    }

    pub async fn cancel(&self, id: &str) -> Result<ExecutionView> {
        let current = self.get(id).await?;
        if current.status.is_finished() {
            return Err(Error::invalid(
                "status",
                format!(
                    "the execution is already {}; only queued or running ones can be cancelled",
                    current.status.as_str()
                ),
            ));
        }
        if self
            .executions
            .cancel_execution(id, Timestamp::now())
            .await?
        {
            // Stops it where it runs, in this process or another.
            self.shared
                .signals()
                .send(Signal::Cancel {
                    execution_id: id.to_owned(),
                })
                .await;
        }
        self.get(id).await
    }

    /// A new execution with the same account, trigger and event, on the execution's own
    /// version or the workflow's latest; answers its id.
    pub async fn replay(&self, id: &str, version: ReplayVersion) -> Result<String> {
        let original = self
            .executions
            .get_execution(id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Execution, id))?;
        let version = match version {
            ReplayVersion::Own => original.version,
            ReplayVersion::Latest => self.latest_workflow(&original.workflow_key).await?.version,
        };
        let shard = match self.routes(&original.account_id).await? {
            Some(routes) => routes.shard,
            None => {
                return Err(Error::not_found(
                    Resource::Account,
                    original.account_id.as_str(),
                ))
            }
        };
        // The replay runs on the same event; one written before events held their payload
        // gets an event of its own.
        let copied = match &original.event_id {
            Some(_) => None,
            None => Some(own_event(
                &original.account_id,
                "replay",
                &original.workflow_key,
                original.event.clone(),
            )),
        };
        let mut execution = new_execution(
            &original.account_id,
            shard,
            &original.workflow_key,
            version,
            original.trigger.clone(),
            copied.as_ref(),
            Timestamp::now(),
        );
        if copied.is_none() {
            execution.event_id = original.event_id.clone();
        }
        execution.replay_of = Some(original.id);
        let new_id = execution.id.clone();
        match &copied {
            Some(event) => {
                self.executions
                    .record_event(event, std::slice::from_ref(&execution))
                    .await?;
            }
            None => self.executions.insert_execution(&execution).await?,
        }
        self.queued(std::slice::from_ref(&execution)).await;
        Ok(new_id)
    }

    /// Called when an execution finished here (its vendor webhooks were queued with it).
    pub(crate) fn execution_finished(&self, execution: &ExecutionRecord) {
        self.count_finished(execution);
        FinishedLine::of(execution).say();
    }

    /// Counts an execution that finished here; its log line is `FinishedLine`'s to say.
    pub(crate) fn count_finished(&self, execution: &ExecutionRecord) {
        self.shared
            .metrics()
            .execution_finished(execution.status.as_str());
    }
}

/// The log's line for an execution that finished. Those that finish at ingest are said after
/// their events are answered (`AfterIngest`), outside the event writer's turn.
pub(crate) struct FinishedLine {
    id: String,
    workflow_key: String,
    account_id: AccountId,
    status: ExecutionStatus,
}

impl FinishedLine {
    pub(crate) fn of(execution: &ExecutionRecord) -> FinishedLine {
        FinishedLine {
            id: execution.id.clone(),
            workflow_key: execution.workflow_key.clone(),
            account_id: execution.account_id.clone(),
            status: execution.status,
        }
    }

    pub(crate) fn say(&self) {
        tracing::info!(
            execution = %self.id,
            workflow = %self.workflow_key,
            account_id = %self.account_id,
            status = self.status.as_str(),
            "execution finished"
        );
    }
}

/// A queued execution of a workflow version for the account, started by `event` (whose
/// payload it does not copy: the event holds it).
pub(crate) fn new_execution(
    account: &AccountId,
    shard: i64,
    workflow: &str,
    version: i64,
    trigger: Value,
    event: Option<&EventRecord>,
    now: Timestamp,
) -> ExecutionRecord {
    ExecutionRecord {
        id: new_id("exe"),
        account_id: account.clone(),
        workflow_key: workflow.to_owned(),
        version,
        status: ExecutionStatus::Queued,
        trigger,
        event: Value::Null,
        event_id: event.map(|e| e.id.clone()),
        shard,
        error: None,
        run_at: now,
        lease_owner: None,
        lease_until: None,
        replay_of: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
    }
}

/// An event that dialbridge itself makes: an API call's input, a schedule tick, a replay.
pub(crate) fn own_event(
    account: &AccountId,
    source: &str,
    name: &str,
    payload: Value,
) -> EventRecord {
    EventRecord {
        id: new_id("evt"),
        account_id: account.clone(),
        source: source.to_owned(),
        name: name.to_owned(),
        dedupe_key: None,
        payload,
        received_at: Timestamp::now(),
    }
}
