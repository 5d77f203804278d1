//! Runs one execution's steps. The interpreter walks the workflow version the execution
//! started with and keeps a journal (one `StepRecord` per step path): a step whose entry says it
//! finished is never run again, its recorded output is used instead. So an execution taken over
//! after a crash resumes after its last finished step, and a durable delay is a journal entry
//! with a wake-up time plus the execution handed back until then. Each kind runs in its own
//! module (`workflows/steps/`) through `StepRun`: the journal, retries and `on_error` are here.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::Executions;
use crate::actions::Actions;
use crate::error::Error;
use crate::ids::AccountId;
use crate::store::{ExecutionRecord, JournalWrite, StepRecord, StepStatus};
use crate::time::Timestamp;
use crate::workflows::{template, Definition, OnError, Step};

/// How a walk through steps ended.
#[derive(Debug)]
pub enum Flow {
    /// Every step ran (or was skipped / continued past).
    Done,
    /// A delay is pending: hand the execution back until then (ms).
    Wait(Timestamp),
    /// A step failed with `on_error: fail`; the error as recorded.
    Fail(Value),
    /// The execution was cancelled meanwhile.
    Cancelled,
}

pub struct Interpreter<'a> {
    executions: &'a Executions,
    execution: &'a ExecutionRecord,
    journal: HashMap<String, StepRecord>,
    /// The steps (paths) whose entry in `journal` changed since the journal was last written.
    pending: Vec<String>,
    next_seq: i64,
    /// What templates see, shared with the evaluations reading it (`template::render`);
    /// changed in place between them.
    ctx: Arc<Value>,
    cancel: &'a CancellationToken,
    /// Run at ingest (`at_ingest.rs`): each evaluation must succeed within the small budget.
    at_ingest: bool,
    /// At ingest, an evaluation did not succeed within the small budget (it needs more, or it
    /// fails): the run's outcome is not to be used, the executor runs the execution instead.
    gave_up: AtomicBool,
}

type Walk<'b> = Pin<Box<dyn Future<Output = Result<Flow, Error>> + Send + 'b>>;

impl<'a> Interpreter<'a> {
    pub fn new(
        executions: &'a Executions,
        execution: &'a ExecutionRecord,
        journal: Vec<StepRecord>,
        ctx: Value,
        cancel: &'a CancellationToken,
    ) -> Self {
        let next_seq = journal.iter().map(|s| s.seq + 1).max().unwrap_or(0);
        let journal = journal
            .into_iter()
            .map(|s| (s.step_id.clone(), s))
            .collect();
        Interpreter {
            executions,
            execution,
            journal,
            pending: Vec::new(),
            next_seq,
            ctx: Arc::new(ctx),
            cancel,
            at_ingest: false,
            gave_up: AtomicBool::new(false),
        }
    }

    /// A new execution's interpreter at ingest: its templates run within the small budget
    /// (microseconds) where they are called, and one that does not succeed there ends the
    /// run's use (`gave_up`).
    pub fn at_ingest(
        executions: &'a Executions,
        execution: &'a ExecutionRecord,
        ctx: Value,
        cancel: &'a CancellationToken,
    ) -> Self {
        Interpreter {
            at_ingest: true,
            ..Interpreter::new(executions, execution, Vec::new(), ctx, cancel)
        }
    }

    /// Whether an evaluation at ingest did not succeed within the small budget.
    pub fn gave_up(&self) -> bool {
        self.gave_up.load(Ordering::Relaxed)
    }

    /// Runs template work: at ingest within the small budget only, else `off_the_runtime`.
    fn evaluate<T>(
        &self,
        work: impl Fn() -> Result<T, template::TemplateError>,
    ) -> Result<T, template::TemplateError> {
        if !self.at_ingest {
            return off_the_runtime(work);
        }
        template::within_small_budget(&work).ok_or_else(|| {
            self.gave_up.store(true, Ordering::Relaxed);
            template::TemplateError {
                message: "not within the small budget at ingest; the executor runs it".into(),
            }
        })
    }

    /// What templates saw, taken out (an empty context is left), for the caller to free
    /// where it chooses.
    pub fn take_context(&mut self) -> Arc<Value> {
        std::mem::replace(&mut self.ctx, Arc::new(Value::Null))
    }

    /// The entries recorded since the journal was last written (for the final write).
    pub fn take_pending(mut self) -> Vec<StepRecord> {
        let pending = std::mem::take(&mut self.pending);
        pending
            .iter()
            .filter_map(|path| self.journal.remove(path))
            .collect()
    }

    /// Writes the entries recorded so far (a group commit with other executions' journals).
    /// Before a step that reaches outside runs, what finished before it must be on record: a
    /// resumed execution never repeats a finished step. When the write fails the entries stay
    /// pending, for the execution's final write (`take_pending`).
    async fn flush(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let write = JournalWrite {
            execution_id: self.execution.id.clone(),
            owner: self.executions.shared.owner().to_owned(),
            steps: self
                .pending
                .iter()
                .filter_map(|path| self.journal.get(path).cloned())
                .collect(),
            outcome: None,
            deliveries: Vec::new(),
            now: Timestamp::now(),
        };
        self.executions.write_journal(write).await?;
        self.pending.clear();
        Ok(())
    }

    /// The entry of the step at `path` recorded since the last write, if any.
    fn pending_entry(&self, path: &str) -> Option<StepRecord> {
        let pending = self.pending.iter().any(|p| p == path);
        pending.then(|| self.journal.get(path).cloned()).flatten()
    }

    /// Puts back `earlier` as the pending entry of the step at `path` (none: no entry), undoing
    /// what was recorded for it since.
    fn restore_pending(&mut self, path: &str, earlier: Option<StepRecord>) {
        match earlier {
            Some(record) => {
                self.journal.insert(path.to_owned(), record);
            }
            None => self.pending.retain(|p| p != path),
        }
    }

    pub async fn run(&mut self, definition: &Definition) -> Result<Flow, Error> {
        self.walk(&definition.steps, String::new()).await
    }

    /// Runs `steps` in order; `prefix` makes the journal path of a step (`each[2].`).
    fn walk<'b>(&'b mut self, steps: &'b [Step], prefix: String) -> Walk<'b> {
        Box::pin(async move {
            for step in steps {
                if self.cancel.is_cancelled() {
                    return Ok(Flow::Cancelled);
                }
                let path = format!("{prefix}{}", step.id);
                match self.step(step, &path).await? {
                    Flow::Done => {}
                    other => return Ok(other),
                }
            }
            Ok(Flow::Done)
        })
    }

    async fn step(&mut self, step: &Step, path: &str) -> Result<Flow, Error> {
        let done = self
            .journal
            .get(path)
            .filter(|r| is_final(r.status))
            .cloned();
        if let Some(done) = &done {
            // Finished before (this run or an earlier one): reuse what it recorded.
            self.set_step(&step.id, step_entry(done));
        }
        let mut run = StepRun {
            interpreter: self,
            step,
            path,
        };
        match done {
            Some(done) => step.kind.replay(&mut run, &done).await,
            None => step.kind.run(&mut run).await,
        }
    }

    /// Writes the journal entry of the step at `path` (keeping its sequence number, start time
    /// and wake-up time from before).
    async fn record(&mut self, path: &str, entry: JournalEntry) -> Result<(), Error> {
        let JournalEntry {
            status,
            attempts,
            input,
            output,
            error,
            wake_at,
        } = entry;
        let now = Timestamp::now();
        let previous = self.journal.get(path);
        let seq = previous.map_or_else(
            || {
                let seq = self.next_seq;
                self.next_seq += 1;
                seq
            },
            |p| p.seq,
        );
        let started_at = previous.and_then(|p| p.started_at).or(Some(now));
        let finished = is_final(status);
        let record = StepRecord {
            execution_id: self.execution.id.clone(),
            step_id: path.to_owned(),
            seq,
            status,
            attempts,
            input,
            output,
            error,
            started_at,
            finished_at: finished.then_some(now),
            wake_at: wake_at.or_else(|| previous.and_then(|p| p.wake_at)),
        };
        self.pending.retain(|p| p != path);
        self.pending.push(path.to_owned());
        self.journal.insert(path.to_owned(), record);
        Ok(())
    }

    fn set_step(&mut self, id: &str, entry: Value) {
        let ctx = Arc::make_mut(&mut self.ctx);
        if !ctx["steps"].is_object() {
            ctx["steps"] = Value::Object(Map::new());
        }
        ctx["steps"][id] = entry;
    }
}

/// One step being run, as its kind's `run` sees it: what templates see, the step's journal
/// entry, and the ways it ends (`succeed`, `fail`, or `attempt` with the step's retries).
pub(crate) struct StepRun<'r, 'a> {
    interpreter: &'r mut Interpreter<'a>,
    step: &'r Step,
    path: &'r str,
}

impl StepRun<'_, '_> {
    /// What templates and expressions see.
    pub fn ctx(&self) -> &Arc<Value> {
        &self.interpreter.ctx
    }

    /// Renders the templates in `value` (see `template::render`), within the template budget
    /// and off the async workers (at ingest: within the small budget, see `evaluate`).
    pub fn render(&self, value: &Value) -> Result<Value, template::TemplateError> {
        self.interpreter
            .evaluate(|| template::render(value, self.ctx()))
    }

    /// Evaluates an expression to a JSON value, like `render`.
    pub fn eval(&self, expr: &str) -> Result<Value, template::TemplateError> {
        self.interpreter
            .evaluate(|| template::eval(expr, self.ctx()))
    }

    /// Evaluates an expression for its truth, like `render`.
    pub fn eval_bool(&self, expr: &str) -> Result<bool, template::TemplateError> {
        self.interpreter
            .evaluate(|| template::eval_bool(expr, self.ctx()))
    }

    /// For a kind that puts names in scope for the steps inside it (a loop's item).
    pub fn ctx_mut(&mut self) -> &mut Value {
        Arc::make_mut(&mut self.interpreter.ctx)
    }

    /// The step's journal entry from before, if any (it has not finished).
    pub fn journaled(&self) -> Option<&StepRecord> {
        self.interpreter.journal.get(self.path)
    }

    pub async fn record(&mut self, entry: JournalEntry) -> Result<(), Error> {
        self.interpreter.record(self.path, entry).await
    }

    pub fn account(&self) -> &AccountId {
        &self.interpreter.execution.account_id
    }

    pub fn actions(&self) -> Actions {
        self.interpreter.executions.actions.clone()
    }

    pub fn http_client(&self) -> reqwest::Client {
        self.interpreter.executions.shared.http().clone()
    }

    /// The hosts `http` steps may call (`--http-allowed-hosts`).
    pub fn http_allowed_hosts(&self) -> Vec<String> {
        let settings = self.interpreter.executions.shared.settings();
        settings.executor.http_allowed_hosts.clone()
    }

    /// Runs `steps` inside this step; their journal paths are this step's path, `suffix`
    /// (a loop's `[2]`), a dot and their id.
    pub fn walk<'s>(&'s mut self, steps: &'s [Step], suffix: &str) -> Walk<'s> {
        let prefix = format!("{}{suffix}.", self.path);
        self.interpreter.walk(steps, prefix)
    }

    /// Runs `call` with the step's retry policy, journaling each attempt.
    pub async fn attempt<F, Fut>(&mut self, input: Value, call: F) -> Result<Flow, Error>
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
    {
        let retry = self.step.retry.as_ref();
        let max_attempts = retry.map_or(1, |r| r.max_attempts.max(1));
        let backoff = retry.map_or(Duration::from_secs(1), |r| r.backoff);
        let already = self.journaled().map_or(0, |r| r.attempts);
        let mut attempt = already;
        let timeout = self.step_timeout();
        loop {
            attempt += 1;
            let earlier = self.interpreter.pending_entry(self.path);
            self.record(JournalEntry::running(attempt, Some(input.clone())))
                .await?;
            if let Err(e) = self.interpreter.flush().await {
                // The attempt never started: it is not on record (a resumed execution would
                // count it), what finished before it is, with the execution's final write.
                self.interpreter.restore_pending(self.path, earlier);
                return Err(e);
            }
            let cancel = self.interpreter.cancel.clone();
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return Ok(Flow::Cancelled),
                outcome = tokio::time::timeout(timeout, call(input.clone())) => outcome,
            };
            let outcome = outcome.unwrap_or_else(|_| {
                Err(Error::StepTimeout {
                    seconds: timeout.as_secs(),
                })
            });
            match outcome {
                Ok(output) => {
                    self.succeed(Some(input), output, attempt).await?;
                    return Ok(Flow::Done);
                }
                // dialbridge's own database went away, not the step's work: the execution
                // stops here and resumes once it is back (see `Executions::execute`).
                Err(Error::Store(e)) if e.is_unavailable() => return Err(Error::Store(e)),
                // Not done, and not a failure of the step: Dialpad was not asked, or refused.
                Err(error @ Error::RateLimited { .. }) => {
                    return self.wait_for_budget(input, attempt - 1, error).await;
                }
                Err(error) if attempt - already < i64::from(max_attempts) => {
                    tracing::info!(execution = %self.interpreter.execution.id, step = self.path, attempt, "step failed, retrying: {error}");
                    let exponent = (attempt - already - 1).clamp(0, 10) as u32;
                    tokio::time::sleep(backoff.saturating_mul(1 << exponent)).await;
                }
                Err(error) => return self.fail(Some(input), attempt, error.to_json()).await,
            }
        }
    }

    /// The longest one attempt of a step may take (`--step-timeout`), and a step may wait
    /// for Dialpad's budget in all.
    fn step_timeout(&self) -> Duration {
        let settings = self.interpreter.executions.shared.settings();
        settings.executor.step_timeout
    }

    /// The company's Dialpad budget is spent for now (a per-minute limit, or other work ahead
    /// of this step): the execution is handed back until the budget allows the request, so
    /// its worker runs other executions (other accounts') meanwhile, and the step runs again
    /// then. A step that has waited longer in all than its time budget (`--step-timeout`) fails
    /// with the `rate_limited` error instead.
    async fn wait_for_budget(
        &mut self,
        input: Value,
        attempts: i64,
        error: Error,
    ) -> Result<Flow, Error> {
        let now = Timestamp::now();
        let budget = self.step_timeout();
        let waited = self
            .journaled()
            .and_then(|r| r.started_at)
            .map_or(Duration::ZERO, |started| now.since(started));
        if waited >= budget {
            return self.fail(Some(input), attempts, error.to_json()).await;
        }
        let retry_after = error.retry_after_secs().unwrap_or(1).clamp(1, 60);
        let wake_at = now + Duration::from_secs(retry_after);
        self.record(JournalEntry {
            attempts,
            error: Some(error.to_json()),
            ..JournalEntry::waiting(input, wake_at)
        })
        .await?;
        Ok(Flow::Wait(wake_at))
    }

    /// Records the output (capped at `--step-output-limit-bytes`); later steps see it as
    /// `steps.<id>.output`.
    pub async fn succeed(
        &mut self,
        input: Option<Value>,
        output: Value,
        attempts: i64,
    ) -> Result<(), Error> {
        let limit = self
            .interpreter
            .executions
            .shared
            .settings()
            .executor
            .step_output_limit;
        let output = capped(output, limit);
        self.interpreter
            .set_step(&self.step.id, step_value(output.clone(), None));
        self.record(JournalEntry::succeeded(attempts, input, output))
            .await
    }

    /// Records the failure; `on_error: continue` goes on with the error visible as
    /// `steps.<id>.error`, `fail` ends the execution.
    pub async fn fail(
        &mut self,
        input: Option<Value>,
        attempts: i64,
        error: Value,
    ) -> Result<Flow, Error> {
        self.record(JournalEntry::failed(attempts, input, error.clone()))
            .await?;
        self.interpreter
            .set_step(&self.step.id, step_value(Value::Null, Some(error.clone())));
        match self.step.on_error {
            OnError::Continue => Ok(Flow::Done),
            OnError::Fail => Ok(Flow::Fail(json!({ "step": self.path, "error": error }))),
        }
    }
}

/// What one write of a step's journal entry says.
pub(crate) struct JournalEntry {
    status: StepStatus,
    attempts: i64,
    input: Option<Value>,
    output: Option<Value>,
    error: Option<Value>,
    /// When a waiting delay ends; `None` keeps what the entry had.
    wake_at: Option<Timestamp>,
}

impl JournalEntry {
    pub fn running(attempts: i64, input: Option<Value>) -> Self {
        JournalEntry {
            status: StepStatus::Running,
            attempts,
            input,
            output: None,
            error: None,
            wake_at: None,
        }
    }

    pub fn waiting(input: Value, wake_at: Timestamp) -> Self {
        JournalEntry {
            status: StepStatus::Waiting,
            wake_at: Some(wake_at),
            ..JournalEntry::running(1, Some(input))
        }
    }

    pub fn succeeded(attempts: i64, input: Option<Value>, output: Value) -> Self {
        JournalEntry {
            status: StepStatus::Succeeded,
            output: Some(output),
            ..JournalEntry::running(attempts, input)
        }
    }

    pub fn failed(attempts: i64, input: Option<Value>, error: Value) -> Self {
        JournalEntry {
            status: StepStatus::Failed,
            error: Some(error),
            ..JournalEntry::running(attempts, input)
        }
    }
}

/// How much of an output too large to keep its marker shows.
const PREVIEW_CHARS: usize = 1024;

/// The output itself when its JSON fits in `limit` bytes; else a marker that says it was cut,
/// how large it was, and how it starts. The journal and later steps see the same value, so a
/// resumed execution sees what the first run saw.
fn capped(output: Value, limit: usize) -> Value {
    let text = output.to_string();
    if text.len() <= limit {
        return output;
    }
    let preview: String = text.chars().take(PREVIEW_CHARS.min(limit)).collect();
    json!({
        "truncated": true,
        "bytes": text.len(),
        "limit_bytes": limit,
        "preview": preview,
        "message": format!(
            "the output was {} bytes of JSON, over the {limit}-byte limit \
             (--step-output-limit-bytes); only its start is kept",
            text.len()
        ),
    })
}

/// Runs template work where it cannot hold up the async workers: here when it
/// succeeds within the small budget (microseconds: nearly every template), else again off the
/// workers with the whole budget (their other tasks move to another thread while it runs;
/// its time is bounded by the template budget). Moving costs a thread hand-over each time: at
/// thousands of executions a second, moving every evaluation kept ~60 threads waking.
fn off_the_runtime<T>(
    work: impl Fn() -> Result<T, template::TemplateError>,
) -> Result<T, template::TemplateError> {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if !multi_thread {
        return work();
    }
    match template::within_small_budget(&work) {
        Some(done) => Ok(done),
        None => tokio::task::block_in_place(work),
    }
}

/// A step in one of these states is never run again: a failure is final too (retries happen
/// inside one attempt loop and are journaled as `running` with their count).
fn is_final(status: StepStatus) -> bool {
    matches!(
        status,
        StepStatus::Succeeded | StepStatus::Skipped | StepStatus::Failed
    )
}

/// What `steps.<id>` shows for a journaled step.
fn step_entry(record: &StepRecord) -> Value {
    step_value(
        record.output.clone().unwrap_or(Value::Null),
        record.error.clone(),
    )
}

/// What `steps.<id>` shows: the step's output, and its error when it failed. A map of the
/// values themselves: `json!` would serialize a copy of each (an output may be large).
fn step_value(output: Value, error: Option<Value>) -> Value {
    let mut entry = Map::new();
    entry.insert("output".into(), output);
    if let Some(error) = error {
        entry.insert("error".into(), error);
    }
    Value::Object(entry)
}

/// The error of a step whose template or expression failed.
pub(crate) fn template_error(error: &template::TemplateError) -> Value {
    json!({ "code": "template_error", "message": error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_over_the_limit_are_kept_as_a_marker_with_their_start() {
        let small = json!({"id": 1});
        assert_eq!(capped(small.clone(), 64), small);
        let big = json!({"items": ["x".repeat(5_000)]});
        let marker = capped(big, 2_000);
        assert_eq!(marker["truncated"], true);
        assert_eq!(marker["bytes"], 5_014);
        assert_eq!(marker["limit_bytes"], 2_000);
        let preview = marker["preview"].as_str().unwrap();
        assert!(preview.starts_with("{\"items\":[\"xxx"), "{preview}");
        assert_eq!(preview.len(), PREVIEW_CHARS);
    }
}
