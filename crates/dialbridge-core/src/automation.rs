//! Workflows as the vendor manages them — definitions with versions, per-account enablement
//! with config — and executions: started by triggers (`start_from_event`, shared by Dialpad
//! events, vendor events, schedules and API calls), listed, read, cancelled and replayed.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, FieldError, Result};
use crate::ids::AccountId;
use crate::platform::Platform;
use crate::store::{
    EnablementRecord, EventRecord, ExecutionFilter, ExecutionRecord, ExecutionStatus, StepRecord,
    WorkflowRecord,
};
use crate::time::{now_ms, Timestamp};
use crate::workflows::{template, ConfigType, Definition};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// A workflow's latest (or a given) version as the API shows it.
#[derive(Debug, Serialize)]
pub struct WorkflowView {
    pub key: String,
    pub version: i64,
    pub definition: Value,
    pub created_at: Timestamp,
}

impl From<WorkflowRecord> for WorkflowView {
    fn from(record: WorkflowRecord) -> Self {
        WorkflowView {
            key: record.key,
            version: record.version,
            definition: record.definition,
            created_at: Timestamp(record.created_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EnablementView {
    pub account_id: AccountId,
    pub workflow: String,
    pub config: Value,
    pub enabled_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<EnablementRecord> for EnablementView {
    fn from(record: EnablementRecord) -> Self {
        EnablementView {
            account_id: record.account_id,
            workflow: record.workflow_key,
            config: record.config,
            enabled_at: Timestamp(record.created_at),
            updated_at: Timestamp(record.updated_at),
        }
    }
}

#[derive(Debug, Serialize)]
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
            started_at: record.started_at.map(Timestamp),
            finished_at: record.finished_at.map(Timestamp),
            wake_at: record.wake_at.map(Timestamp),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ExecutionView {
    pub id: String,
    pub workflow: String,
    pub version: i64,
    pub account_id: AccountId,
    pub status: ExecutionStatus,
    pub trigger: Value,
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
            created_at: Timestamp(record.created_at),
            updated_at: Timestamp(record.updated_at),
            finished_at: record.finished_at.map(Timestamp),
            steps: steps.map(|s| s.into_iter().map(StepView::from).collect()),
        }
    }
}

#[derive(Debug, Serialize)]
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

impl Platform {
    /// Saves a new version of workflow `key` from JSON or YAML; answers the version.
    pub async fn put_workflow(
        &self,
        key: &str,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<i64> {
        check_key(key)?;
        let definition = Definition::parse(body, content_type).map_err(Error::InvalidInput)?;
        let version = self
            .store()
            .insert_workflow_version(key, &definition.to_value(), now_ms())
            .await?;
        tracing::info!(workflow = key, version, "workflow saved");
        Ok(version)
    }

    pub async fn workflow(&self, key: &str, version: Option<i64>) -> Result<WorkflowView> {
        self.store()
            .get_workflow(key, version)
            .await?
            .map(WorkflowView::from)
            .ok_or_else(|| Error::NotFound(format!("workflow '{key}'")))
    }

    pub async fn workflows(&self) -> Result<Vec<WorkflowView>> {
        Ok(self
            .store()
            .list_workflows()
            .await?
            .into_iter()
            .map(WorkflowView::from)
            .collect())
    }

    /// Deletes the workflow and its enablements; executions keep their versions.
    pub async fn delete_workflow(&self, key: &str) -> Result<()> {
        let accounts: Vec<AccountId> = self
            .store()
            .list_enablements(None, Some(key))
            .await?
            .into_iter()
            .map(|e| e.account_id)
            .collect();
        if !self.store().delete_workflow(key, now_ms()).await? {
            return Err(Error::NotFound(format!("workflow '{key}'")));
        }
        for account in accounts {
            self.sync_subscriptions(&account).await;
        }
        Ok(())
    }

    /// Enables the workflow for the account with `config` checked against its config fields
    /// (defaults applied).
    pub async fn enable_workflow(
        &self,
        account: &AccountId,
        key: &str,
        config: &Value,
    ) -> Result<EnablementView> {
        self.find_account(account).await?;
        let workflow = self.workflow(key, None).await?;
        let definition =
            Definition::from_value(&workflow.definition).map_err(Error::InvalidInput)?;
        let config = check_config(&definition, config)?;
        let now = now_ms();
        let existing = self.store().get_enablement(account, key).await?;
        let record = EnablementRecord {
            account_id: account.clone(),
            workflow_key: key.to_owned(),
            config,
            created_at: existing.map_or(now, |e| e.created_at),
            updated_at: now,
        };
        self.store().put_enablement(&record).await?;
        self.sync_subscriptions(account).await;
        Ok(record.into())
    }

    pub async fn disable_workflow(&self, account: &AccountId, key: &str) -> Result<()> {
        if !self.store().delete_enablement(account, key).await? {
            return Err(Error::NotFound(format!(
                "workflow '{key}' enabled for account '{account}'"
            )));
        }
        self.sync_subscriptions(account).await;
        Ok(())
    }

    pub async fn account_workflows(&self, account: &AccountId) -> Result<Vec<EnablementView>> {
        self.find_account(account).await?;
        Ok(self
            .store()
            .list_enablements(Some(account), None)
            .await?
            .into_iter()
            .map(EnablementView::from)
            .collect())
    }

    /// A vendor event (`POST …/events/{name}`): starts every enabled workflow of the account
    /// whose trigger is `event` with that name and whose filter passes; answers their ids.
    pub async fn post_vendor_event(
        &self,
        account: &AccountId,
        name: &str,
        payload: Value,
    ) -> Result<Vec<String>> {
        self.find_account(account).await?;
        let event = EventRecord {
            id: new_id("evt"),
            account_id: account.clone(),
            source: "vendor".into(),
            name: name.to_owned(),
            dedupe_key: None,
            payload,
            received_at: now_ms(),
        };
        let trigger = json!({ "type": "event", "name": name, "event_id": event.id });
        let (_, ids) = self
            .start_from_event(&event, trigger, |spec, _| {
                spec.key == "event"
                    && spec.params.get("event").and_then(Value::as_str) == Some(name)
            })
            .await?;
        Ok(ids)
    }

    /// Fires the `schedule` triggers whose ticks fell in the last `window` (ms) up to `now`:
    /// each tick starts one execution per enabled account, once across the cluster (a tick is
    /// claimed in the database before it runs). Answers the executions started.
    pub async fn fire_due_schedules(&self, now: i64, window: i64) -> Result<Vec<String>> {
        let mut started = Vec::new();
        for workflow in self.store().list_workflows().await? {
            let Ok(definition) = Definition::from_value(&workflow.definition) else {
                continue;
            };
            if definition.trigger.key != "schedule" {
                continue;
            }
            let ticks = match crate::triggers::schedule_ticks(
                &definition.trigger.params,
                now - window,
                now,
            ) {
                Ok(ticks) => ticks,
                Err(e) => {
                    tracing::warn!(workflow = %workflow.key, "the schedule cannot be computed: {e}");
                    continue;
                }
            };
            for enablement in self
                .store()
                .list_enablements(None, Some(&workflow.key))
                .await?
            {
                for &tick in &ticks {
                    let account = &enablement.account_id;
                    if !self
                        .store()
                        .claim_schedule_tick(&workflow.key, account, tick)
                        .await?
                    {
                        continue;
                    }
                    let payload = json!({ "scheduled_at": tick });
                    if let Some(filter) = &definition.trigger.filter {
                        let ctx = json!({ "event": payload, "config": enablement.config, "account": { "id": account } });
                        if !template::eval_bool(filter, &ctx).unwrap_or(false) {
                            continue;
                        }
                    }
                    let trigger = json!({ "type": "schedule", "tick": tick });
                    let execution = new_execution(
                        account,
                        &workflow.key,
                        workflow.version,
                        trigger,
                        payload,
                        now,
                    );
                    started.push(execution.id.clone());
                    self.store().insert_execution(&execution).await?;
                }
            }
        }
        if !started.is_empty() {
            self.wake_executor();
        }
        Ok(started)
    }

    /// Checks the schedules every `every` until `shutdown`; ticks of the last five minutes
    /// are considered, so a short restart loses none (claims keep them from running twice).
    pub async fn run_scheduler(
        &self,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        const WINDOW_MS: i64 = 5 * 60 * 1000;
        loop {
            match self.fire_due_schedules(now_ms(), WINDOW_MS).await {
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

    /// `POST …/workflows/{key}/executions {input}`: runs an enabled workflow now, with `input`
    /// as `event`.
    pub async fn start_api_execution(
        &self,
        account: &AccountId,
        key: &str,
        input: Value,
    ) -> Result<String> {
        self.find_account(account).await?;
        if self.store().get_enablement(account, key).await?.is_none() {
            return Err(Error::NotFound(format!(
                "workflow '{key}' enabled for account '{account}' (enable it with PUT /api/v1/accounts/{account}/workflows/{key})"
            )));
        }
        let workflow = self.workflow(key, None).await?;
        let now = now_ms();
        let execution = new_execution(
            account,
            &workflow.key,
            workflow.version,
            json!({ "type": "api" }),
            input,
            now,
        );
        let id = execution.id.clone();
        self.store().insert_execution(&execution).await?;
        self.wake_executor();
        Ok(id)
    }

    /// Stores `event` and, in the same transaction, one execution per enabled workflow of the
    /// account whose trigger `matches` and whose filter passes. Answers whether the event was
    /// new (a redelivery with the same dedupe key starts nothing) and the execution ids.
    pub(crate) async fn start_from_event(
        &self,
        event: &EventRecord,
        trigger: Value,
        matches: impl Fn(&crate::workflows::TriggerSpec, &Value) -> bool,
    ) -> Result<(bool, Vec<String>)> {
        let now = now_ms();
        let mut executions = Vec::new();
        for enablement in self
            .store()
            .list_enablements(Some(&event.account_id), None)
            .await?
        {
            let Some(workflow) = self
                .store()
                .get_workflow(&enablement.workflow_key, None)
                .await?
            else {
                continue;
            };
            let Ok(definition) = Definition::from_value(&workflow.definition) else {
                tracing::error!(workflow = %workflow.key, "a stored definition no longer parses");
                continue;
            };
            if !matches(&definition.trigger, &event.payload) {
                continue;
            }
            if let Some(filter) = &definition.trigger.filter {
                let ctx = json!({ "event": event.payload, "config": enablement.config, "account": { "id": event.account_id } });
                match template::eval_bool(filter, &ctx) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(workflow = %workflow.key, "the trigger filter failed, so the workflow does not run: {e}");
                        continue;
                    }
                }
            }
            executions.push(new_execution(
                &event.account_id,
                &workflow.key,
                workflow.version,
                trigger.clone(),
                event.payload.clone(),
                now,
            ));
        }
        let new = self.store().record_event(event, &executions).await?;
        self.metrics().event(&event.source, !new);
        if !new {
            return Ok((false, Vec::new()));
        }
        if !executions.is_empty() {
            self.wake_executor();
        }
        Ok((true, executions.into_iter().map(|e| e.id).collect()))
    }

    pub async fn executions(
        &self,
        filter: &ExecutionFilter,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ExecutionPage> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let mut rows = self
            .store()
            .list_executions(filter, cursor, limit + 1)
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let cursor = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
        Ok(ExecutionPage {
            items: rows
                .into_iter()
                .map(|r| ExecutionView::new(r, None))
                .collect(),
            cursor,
        })
    }

    pub async fn execution(&self, id: &str) -> Result<ExecutionView> {
        let record = self
            .store()
            .get_execution(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("execution '{id}'")))?;
        let steps = self.store().list_steps(id).await?;
        Ok(ExecutionView::new(record, Some(steps)))
    }

    pub async fn cancel_execution(&self, id: &str) -> Result<ExecutionView> {
        let current = self.execution(id).await?;
        if current.status.is_finished() {
            return Err(Error::invalid(
                "status",
                format!(
                    "the execution is already {}; only queued or running ones can be cancelled",
                    current.status.as_str()
                ),
            ));
        }
        self.store().cancel_execution(id, now_ms()).await?;
        self.execution(id).await
    }

    /// A new execution with the same account, trigger and event, on the execution's own
    /// version or the workflow's latest; answers its id.
    pub async fn replay_execution(&self, id: &str, version: ReplayVersion) -> Result<String> {
        let original = self
            .store()
            .get_execution(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("execution '{id}'")))?;
        let version = match version {
            ReplayVersion::Own => original.version,
            ReplayVersion::Latest => self.workflow(&original.workflow_key, None).await?.version,
        };
        let mut execution = new_execution(
            &original.account_id,
            &original.workflow_key,
            version,
            original.trigger.clone(),
            original.event.clone(),
            now_ms(),
        );
        execution.replay_of = Some(original.id);
        let new_id = execution.id.clone();
        self.store().insert_execution(&execution).await?;
        self.wake_executor();
        Ok(new_id)
    }

    /// Called when an execution finishes here.
    pub(crate) async fn execution_finished(&self, execution: &ExecutionRecord) {
        self.metrics().execution_finished(execution.status.as_str());
        tracing::info!(
            execution = %execution.id,
            workflow = %execution.workflow_key,
            account_id = %execution.account_id,
            status = execution.status.as_str(),
            "execution finished"
        );
        self.emit_execution_finished(execution).await;
    }

    /// After enablements or the connection change, the Dialpad subscriptions the enabled
    /// workflows need are reconciled; a failure
    /// is recorded on the account's provisioning (and retried by the periodic reconcile), it
    /// does not undo the change.
    pub(crate) async fn sync_subscriptions(&self, account: &AccountId) {
        let connected = matches!(
            self.store().get_connection(account).await,
            Ok(Some(c)) if c.status == crate::account::ConnectionStatus::Connected
        );
        if !connected {
            return;
        }
        if let Err(e) = self.reconcile_subscriptions(account).await {
            tracing::warn!(account_id = %account, "reconciling Dialpad subscriptions failed: {e}");
        }
    }
}

fn new_execution(
    account: &AccountId,
    workflow: &str,
    version: i64,
    trigger: Value,
    event: Value,
    now: i64,
) -> ExecutionRecord {
    ExecutionRecord {
        id: new_id("exe"),
        account_id: account.clone(),
        workflow_key: workflow.to_owned(),
        version,
        status: ExecutionStatus::Queued,
        trigger,
        event,
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

/// Sortable unique ids: a prefix, the time, and randomness.
pub(crate) fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{:013x}{}",
        now_ms(),
        crate::crypto::random_token(8)
    )
}

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "key",
            "must be 1 to 64 characters of a-z, 0-9, '_' or '-'",
        ))
    }
}

/// The config an account gives, checked against the workflow's fields, defaults applied.
fn check_config(definition: &Definition, config: &Value) -> Result<Value> {
    let given = match config {
        Value::Null => Map::new(),
        Value::Object(map) => map.clone(),
        _ => {
            return Err(Error::invalid(
                "config",
                "must be an object of the workflow's config fields",
            ))
        }
    };
    let mut problems = Vec::new();
    for name in given.keys() {
        if !definition.config.contains_key(name) {
            let known: Vec<&str> = definition.config.keys().map(String::as_str).collect();
            problems.push(FieldError::new(
                format!("config.{name}"),
                format!(
                    "is not a config field of this workflow (its fields: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    let mut config = Map::new();
    for (name, field) in &definition.config {
        let value = given.get(name).cloned().or_else(|| field.default.clone());
        match value {
            None | Some(Value::Null) if field.required => {
                problems.push(FieldError::new(format!("config.{name}"), "is required"))
            }
            None | Some(Value::Null) => {}
            Some(value) => {
                if field.kind.fits(&value) {
                    config.insert(name.clone(), value);
                } else {
                    problems.push(FieldError::new(
                        format!("config.{name}"),
                        format!("must be {}", type_name(field.kind)),
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(config))
    } else {
        Err(Error::InvalidInput(problems))
    }
}

fn type_name(kind: ConfigType) -> &'static str {
    match kind {
        ConfigType::String => "a string",
        ConfigType::Number => "a number",
        ConfigType::Integer => "an integer",
        ConfigType::Boolean => "true or false",
        ConfigType::Array => "a list",
        ConfigType::Object => "an object",
    }
}
