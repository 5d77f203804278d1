//! Runs one execution's steps — where a step runs. The interpreter walks the workflow version
//! the execution started with and keeps a journal (one `StepRecord` per step path): a step whose
//! entry says it finished is never run again, its recorded output is used instead. So an
//! execution taken over after a crash resumes after its last finished step, and a durable delay
//! is a journal entry with a wake-up time plus the execution handed back until then.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::Executions;
use crate::error::Error;
use crate::store::{ExecutionRecord, StepRecord, StepStatus};
use crate::time::now_ms;
use crate::workflows::{template, Definition, OnError, Step, StepKind};

/// How a walk through steps ended.
#[derive(Debug)]
pub enum Flow {
    /// Every step ran (or was skipped / continued past).
    Done,
    /// A delay is pending: hand the execution back until then (ms).
    Wait(i64),
    /// A step failed with `on_error: fail`; the error as recorded.
    Fail(Value),
    /// The execution was cancelled meanwhile.
    Cancelled,
}

pub struct Interpreter<'a> {
    executions: &'a Executions,
    execution: &'a ExecutionRecord,
    journal: HashMap<String, StepRecord>,
    next_seq: i64,
    /// What templates see.
    ctx: Value,
}

type Walk<'b> = Pin<Box<dyn Future<Output = Result<Flow, Error>> + Send + 'b>>;

impl<'a> Interpreter<'a> {
    pub fn new(
        executions: &'a Executions,
        execution: &'a ExecutionRecord,
        journal: Vec<StepRecord>,
        ctx: Value,
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
            next_seq,
            ctx,
        }
    }

    pub async fn run(&mut self, definition: &Definition) -> Result<Flow, Error> {
        self.walk(&definition.steps, String::new()).await
    }

    /// Runs `steps` in order; `prefix` makes the journal path of a step (`each[2].`).
    fn walk<'b>(&'b mut self, steps: &'b [Step], prefix: String) -> Walk<'b> {
        Box::pin(async move {
            for step in steps {
                if self.cancelled().await? {
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
        if let Some(done) = self
            .journal
            .get(path)
            .filter(|r| is_final(r.status))
            .cloned()
        {
            // Finished before (this run or an earlier one): reuse what it recorded.
            let entry = step_entry(&done);
            self.set_step(&step.id, entry);
            // Containers still walk their children, which find their own journal entries.
            return match &step.kind {
                StepKind::If {
                    then, otherwise, ..
                } if done.status == StepStatus::Succeeded => {
                    let branch = done
                        .output
                        .as_ref()
                        .and_then(|o| o.get("branch"))
                        .and_then(Value::as_str)
                        .unwrap_or("else");
                    let steps = if branch == "then" { then } else { otherwise };
                    self.walk(steps, format!("{path}.")).await
                }
                _ => Ok(Flow::Done),
            };
        }
        match &step.kind {
            StepKind::Action { action, input } => {
                let rendered = match template::render(input, &self.ctx) {
                    Ok(value) => value,
                    Err(e) => return self.fail(step, path, None, 0, template_error(&e)).await,
                };
                let account = self.execution.account_id.clone();
                let action = action.clone();
                self.attempt(step, path, rendered, move |executions, input| {
                    let account = account.clone();
                    let action = action.clone();
                    async move { executions.actions.run(&account, &action, &input).await }
                })
                .await
            }
            StepKind::Http {
                method,
                url,
                headers,
                body,
            } => {
                let request =
                    json!({ "method": method, "url": url, "headers": headers, "body": body });
                let rendered = match template::render(&request, &self.ctx) {
                    Ok(value) => value,
                    Err(e) => return self.fail(step, path, None, 0, template_error(&e)).await,
                };
                self.attempt(step, path, rendered, |executions, request| async move {
                    executions.http_step(&request).await
                })
                .await
            }
            StepKind::Set { values } => {
                let input = Value::Object(values.clone());
                match template::render(&input, &self.ctx) {
                    Ok(output) => {
                        self.succeed(step, path, Some(input), output, 1).await?;
                        Ok(Flow::Done)
                    }
                    Err(e) => {
                        self.fail(step, path, Some(input), 1, template_error(&e))
                            .await
                    }
                }
            }
            StepKind::If {
                condition,
                then,
                otherwise,
            } => {
                let truth = match template::eval_bool(condition, &self.ctx) {
                    Ok(truth) => truth,
                    Err(e) => return self.fail(step, path, None, 1, template_error(&e)).await,
                };
                let branch = if truth { "then" } else { "else" };
                let output = json!({ "branch": branch, "condition": truth });
                self.succeed(
                    step,
                    path,
                    Some(json!({ "condition": condition })),
                    output,
                    1,
                )
                .await?;
                let steps = if truth { then } else { otherwise };
                self.walk(steps, format!("{path}.")).await
            }
            StepKind::ForEach {
                items,
                as_name,
                steps,
                max_iterations,
            } => {
                self.for_each(step, path, items, as_name, steps, *max_iterations)
                    .await
            }
            StepKind::Delay { duration } => self.delay(step, path, *duration).await,
        }
    }

    async fn for_each(
        &mut self,
        step: &Step,
        path: &str,
        items_expr: &str,
        as_name: &str,
        steps: &[Step],
        max_iterations: u32,
    ) -> Result<Flow, Error> {
        // The items are evaluated once and journaled, so a resumed loop sees the same list.
        let items = match self.journal.get(path).and_then(|r| r.input.clone()) {
            Some(recorded) => recorded,
            None => match template::eval(items_expr, &self.ctx) {
                Ok(Value::Array(items)) => Value::Array(items),
                Ok(other) => {
                    let error = json!({ "code": "invalid_items", "message": format!("for_each items must be a list; `{items_expr}` gave {other}") });
                    return self.fail(step, path, None, 1, error).await;
                }
                Err(e) => return self.fail(step, path, None, 1, template_error(&e)).await,
            },
        };
        let list = items.as_array().cloned().unwrap_or_default();
        if list.len() > max_iterations as usize {
            let error = json!({ "code": "too_many_items", "message": format!("for_each got {} items; max_iterations is {max_iterations}", list.len()) });
            return self.fail(step, path, Some(items), 1, error).await;
        }
        self.record(path, JournalEntry::running(1, Some(items.clone())))
            .await?;
        let count = list.len();
        for (index, item) in list.into_iter().enumerate() {
            self.ctx[as_name] = item;
            self.ctx["loop"] =
                json!({ "index": index, "first": index == 0, "last": index + 1 == count });
            match self.walk(steps, format!("{path}[{index}].")).await? {
                Flow::Done => {}
                other => return Ok(other),
            }
        }
        if let Some(ctx) = self.ctx.as_object_mut() {
            ctx.remove(as_name);
            ctx.remove("loop");
        }
        self.succeed(step, path, Some(items), json!({ "count": count }), 1)
            .await?;
        Ok(Flow::Done)
    }

    async fn delay(&mut self, step: &Step, path: &str, duration: Duration) -> Result<Flow, Error> {
        let now = now_ms();
        let wake_at = match self.journal.get(path).and_then(|r| r.wake_at) {
            Some(wake_at) => wake_at,
            None => {
                let wake_at = now + duration.as_millis() as i64;
                let input = json!({ "delay_ms": duration.as_millis() as u64 });
                self.record(path, JournalEntry::waiting(input, wake_at))
                    .await?;
                wake_at
            }
        };
        if now < wake_at {
            return Ok(Flow::Wait(wake_at));
        }
        let input = self.journal.get(path).and_then(|r| r.input.clone());
        self.succeed(step, path, input, json!({ "waited_until": wake_at }), 1)
            .await?;
        Ok(Flow::Done)
    }

    /// Runs `call` with the step's retry policy, journaling each attempt.
    async fn attempt<F, Fut>(
        &mut self,
        step: &Step,
        path: &str,
        input: Value,
        call: F,
    ) -> Result<Flow, Error>
    where
        F: Fn(Executions, Value) -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
    {
        let max_attempts = step.retry.as_ref().map_or(1, |r| r.max_attempts.max(1));
        let backoff = step
            .retry
            .as_ref()
            .map_or(Duration::from_secs(1), |r| r.backoff);
        let already = self.journal.get(path).map_or(0, |r| r.attempts);
        let mut attempt = already;
        loop {
            attempt += 1;
            self.record(path, JournalEntry::running(attempt, Some(input.clone())))
                .await?;
            match call(self.executions.clone(), input.clone()).await {
                Ok(output) => {
                    self.succeed(step, path, Some(input), output, attempt)
                        .await?;
                    return Ok(Flow::Done);
                }
                Err(error) if attempt - already < i64::from(max_attempts) => {
                    tracing::info!(execution = %self.execution.id, step = path, attempt, "step failed, retrying: {error}");
                    let exponent = (attempt - already - 1).clamp(0, 10) as u32;
                    tokio::time::sleep(backoff.saturating_mul(1 << exponent)).await;
                }
                Err(error) => {
                    return self
                        .fail(step, path, Some(input), attempt, error.to_json())
                        .await
                }
            }
        }
    }

    async fn succeed(
        &mut self,
        step: &Step,
        path: &str,
        input: Option<Value>,
        output: Value,
        attempts: i64,
    ) -> Result<(), Error> {
        self.set_step(&step.id, json!({ "output": output }));
        self.record(path, JournalEntry::succeeded(attempts, input, output))
            .await
    }

    /// Records the failure; `on_error: continue` goes on with the error visible as
    /// `steps.<id>.error`, `fail` ends the execution.
    async fn fail(
        &mut self,
        step: &Step,
        path: &str,
        input: Option<Value>,
        attempts: i64,
        error: Value,
    ) -> Result<Flow, Error> {
        self.record(path, JournalEntry::failed(attempts, input, error.clone()))
            .await?;
        self.set_step(&step.id, json!({ "output": null, "error": error }));
        match step.on_error {
            OnError::Continue => Ok(Flow::Done),
            OnError::Fail => Ok(Flow::Fail(json!({ "step": path, "error": error }))),
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
        let now = now_ms();
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
        self.executions.executions.put_step(&record).await?;
        self.journal.insert(path.to_owned(), record);
        Ok(())
    }

    fn set_step(&mut self, id: &str, entry: Value) {
        if !self.ctx["steps"].is_object() {
            self.ctx["steps"] = Value::Object(Map::new());
        }
        self.ctx["steps"][id] = entry;
    }

    async fn cancelled(&self) -> Result<bool, Error> {
        let current = self
            .executions
            .executions
            .get_execution(&self.execution.id)
            .await?;
        Ok(current.is_none_or(|e| e.status == crate::store::ExecutionStatus::Cancelled))
    }
}

/// What one write of a step's journal entry says.
struct JournalEntry {
    status: StepStatus,
    attempts: i64,
    input: Option<Value>,
    output: Option<Value>,
    error: Option<Value>,
    /// When a waiting delay ends; `None` keeps what the entry had.
    wake_at: Option<i64>,
}

impl JournalEntry {
    fn running(attempts: i64, input: Option<Value>) -> Self {
        JournalEntry {
            status: StepStatus::Running,
            attempts,
            input,
            output: None,
            error: None,
            wake_at: None,
        }
    }

    fn waiting(input: Value, wake_at: i64) -> Self {
        JournalEntry {
            status: StepStatus::Waiting,
            wake_at: Some(wake_at),
            ..JournalEntry::running(1, Some(input))
        }
    }

    fn succeeded(attempts: i64, input: Option<Value>, output: Value) -> Self {
        JournalEntry {
            status: StepStatus::Succeeded,
            output: Some(output),
            ..JournalEntry::running(attempts, input)
        }
    }

    fn failed(attempts: i64, input: Option<Value>, error: Value) -> Self {
        JournalEntry {
            status: StepStatus::Failed,
            error: Some(error),
            ..JournalEntry::running(attempts, input)
        }
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
    let mut entry = json!({ "output": record.output.clone().unwrap_or(Value::Null) });
    if let Some(error) = &record.error {
        entry["error"] = error.clone();
    }
    entry
}

fn template_error(error: &template::TemplateError) -> Value {
    json!({ "code": "template_error", "message": error.to_string() })
}
