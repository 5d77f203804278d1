//! The executor: workers claim due executions from the database with leases (so another process
//! takes over the work of one that dies), run them with the interpreter (`interpreter.rs`), and
//! finish, fail or hand them back until a delay ends. Workers wake when work is queued in this
//! process (`Executions::wake_executor`) and otherwise sleep until the next due execution, at
//! most `poll` (other processes' work and expired leases are found that way).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::interpreter::{Flow, Interpreter};
use super::Executions;
use crate::error::{Error, Resource, Result};
use crate::store::{ExecutionRecord, ExecutionStatus};
use crate::time::Timestamp;
use crate::workflows::Definition;

/// How the executor runs; from the server's configuration.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Executions running at once in this process.
    pub workers: usize,
    /// Executions of one account running at once across the cluster.
    pub per_account: u32,
    /// How long a claim holds; renewed while the execution runs.
    pub lease: Duration,
    /// The longest sleep between looks at the queue.
    pub poll: Duration,
    /// Hosts `http` steps may call (exact host names, or `*.example.com`).
    pub http_allowed_hosts: Vec<String>,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            workers: 8,
            per_account: 4,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            http_allowed_hosts: Vec::new(),
        }
    }
}

impl Executions {
    /// Runs the executor until `shutdown`: claims due executions and runs them.
    pub async fn run_executor(&self, shutdown: CancellationToken) {
        let settings = self.shared.settings().executor.clone();
        let slots = Arc::new(Semaphore::new(settings.workers.max(1)));
        loop {
            let free = slots.available_permits() as u32;
            let claimed = if free == 0 {
                Vec::new()
            } else {
                let now = Timestamp::now();
                let until = now + settings.lease;
                self.executions
                    .claim_executions(self.shared.owner(), now, until, free, settings.per_account)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!("claiming executions failed: {e}");
                        Vec::new()
                    })
            };
            let idle = claimed.is_empty();
            for execution in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let this = self.clone();
                tokio::spawn(async move {
                    this.execute(execution).await;
                    drop(permit);
                });
            }
            if !idle {
                continue;
            }
            let sleep = self.sleep_until_next(settings.poll).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    async fn sleep_until_next(&self, poll: Duration) -> Duration {
        match self.executions.next_run_at().await {
            Ok(Some(at)) => at.since(Timestamp::now()).min(poll),
            _ => poll,
        }
    }

    /// Runs one claimed execution to its next resting point, renewing the lease meanwhile.
    async fn execute(&self, execution: ExecutionRecord) {
        let lease = self.shared.settings().executor.lease;
        let renewing = CancellationToken::new();
        let renewer = {
            let this = self.clone();
            let id = execution.id.clone();
            let stop = renewing.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(lease / 3) => {}
                    }
                    let until = Timestamp::now() + lease;
                    match this
                        .executions
                        .renew_lease(&id, this.shared.owner(), until)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(execution = %id, "lost the lease");
                            return;
                        }
                        Err(e) => tracing::warn!(execution = %id, "renewing the lease failed: {e}"),
                    }
                }
            })
        };
        let outcome = self.interpret(&execution).await;
        renewing.cancel();
        let _ = renewer.await;
        let now = Timestamp::now();
        let store = &self.executions;
        let id = execution.id.as_str();
        let finish = |status, error: Option<Value>| async move {
            store
                .finish_execution(id, self.shared.owner(), status, error.as_ref(), now)
                .await
        };
        let result = match outcome {
            Ok(Flow::Done) => finish(ExecutionStatus::Succeeded, None).await,
            Ok(Flow::Fail(error)) => finish(ExecutionStatus::Failed, Some(error)).await,
            Ok(Flow::Wait(wake_at)) => {
                store
                    .release_execution(&execution.id, self.shared.owner(), wake_at, now)
                    .await
            }
            Ok(Flow::Cancelled) => Ok(true),
            Err(error) => {
                // The store or the definition failed, not a step: record it on the execution.
                tracing::error!(execution = %execution.id, "execution could not run: {error}");
                let error = json!({ "error": error.to_json() });
                finish(ExecutionStatus::Failed, Some(error)).await
            }
        };
        match result {
            Ok(true) => {
                if let Ok(Some(done)) = store.get_execution(&execution.id).await {
                    if done.status.is_finished() {
                        self.execution_finished(&done).await;
                    }
                }
            }
            Ok(false) => {
                tracing::warn!(execution = %execution.id, "the execution changed hands or was cancelled before it finished here")
            }
            Err(e) => {
                tracing::error!(execution = %execution.id, "recording the outcome failed: {e}")
            }
        }
    }

    async fn interpret(&self, execution: &ExecutionRecord) -> Result<Flow> {
        let workflow = self
            .workflows
            .get_workflow(&execution.workflow_key, Some(execution.version))
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    Resource::Workflow,
                    format!("{} version {}", execution.workflow_key, execution.version),
                )
            })?;
        let definition =
            Definition::from_value(&workflow.definition).map_err(Error::InvalidInput)?;
        let ctx = self.execution_context(execution).await?;
        let journal = self.executions.list_steps(&execution.id).await?;
        Interpreter::new(self, execution, journal, ctx)
            .run(&definition)
            .await
    }

    /// What templates see: `event`, `account`, `config`, `steps`, `execution`.
    pub(crate) async fn execution_context(&self, execution: &ExecutionRecord) -> Result<Value> {
        let account = self.accounts.get_account(&execution.account_id).await?;
        let config = self
            .workflows
            .get_enablement(&execution.account_id, &execution.workflow_key)
            .await?
            .map_or_else(|| json!({}), |e| e.config);
        Ok(json!({
            "event": execution.event,
            "account": {
                "id": execution.account_id,
                "name": account.as_ref().and_then(|a| a.name.clone()),
                "metadata": account.map(|a| Value::Object(a.metadata)).unwrap_or_else(|| json!({})),
            },
            "config": config,
            "steps": {},
            "execution": {
                "id": execution.id,
                "workflow": execution.workflow_key,
                "version": execution.version,
                "trigger": execution.trigger,
                "started_at": execution.created_at.as_millis(),
            },
        }))
    }
}
