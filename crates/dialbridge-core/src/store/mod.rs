//! What the domain needs from a database, as small traits; `dialbridge-storage` implements them
//! for SQLite and PostgreSQL. Secrets cross this boundary only as `Sealed` ciphertext.

mod cluster;
mod mcp;
mod operators;

use async_trait::async_trait;

pub use cluster::{ClusterStore, RateStore, SignalStore};
pub use mcp::{McpTokenRecord, McpTokenStore};
pub use operators::{
    AdminKeyRecord, AdminKeyRegistry, AuditRecord, AuditStore, ResealStore, Revocation, SealedCell,
    SealedColumn,
};

use crate::app::Environment;
use crate::connections::{Account, AccountPatch, ConnectionRecord, ConnectionStatus};
use crate::connections::{ConnectSession, ConnectState};
use crate::crypto::Sealed;
use crate::gateway::RateLimits;
use crate::ids::AccountId;
use crate::time::Timestamp;

/// Why the database could not do what was asked; the database's own error is kept as the
/// source (it carries no bound values, so no secrets).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is too busy to answer now: a retry may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The write conflicts with another one (a unique key taken, a serialisation failure).
    #[error("the write conflicts with another: {0}")]
    Conflict(#[source] BoxError),
    /// A row the write refers to does not exist (any more).
    #[error("a row the write refers to does not exist: {0}")]
    NotFound(#[source] BoxError),
    /// Any other failure of the database: a bug to look at.
    #[error("the database failed: {0}")]
    Backend(#[source] BoxError),
    #[error("stored data is not what dialbridge wrote: {0}")]
    Corrupt(String),
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl StoreError {
    /// The contract's error code: `database_unavailable` (retry later), `conflict`,
    /// `not_found`, or `internal_error`.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "database_unavailable",
            StoreError::Conflict(_) => "conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::Backend(_) | StoreError::Corrupt(_) => "internal_error",
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// The same kind of error with the same message, for when one failure answers several
    /// callers (a group commit).
    pub fn replicate(&self) -> StoreError {
        let message: BoxError = match self {
            StoreError::Unavailable(e)
            | StoreError::Conflict(e)
            | StoreError::NotFound(e)
            | StoreError::Backend(e) => e.to_string().into(),
            StoreError::Corrupt(message) => return StoreError::Corrupt(message.clone()),
        };
        match self {
            StoreError::Unavailable(_) => StoreError::Unavailable(message),
            StoreError::Conflict(_) => StoreError::Conflict(message),
            StoreError::NotFound(_) => StoreError::NotFound(message),
            _ => StoreError::Backend(message),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Small named values: the scope selection, the master-key check.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Writes only when the key is absent; answers whether it wrote.
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;
}

/// The app's client credentials, one row per environment.
#[derive(Debug, Clone)]
pub struct AppCredentialsRecord {
    pub environment: Environment,
    pub client_id: String,
    pub client_secret: Sealed,
    pub base_url: String,
    /// Dialpad's limits for this environment, when the vendor set them.
    pub rate_limits: Option<RateLimits>,
    pub updated_at: Timestamp,
}

#[async_trait]
pub trait AppStore: Send + Sync {
    async fn list_app_credentials(&self) -> StoreResult<Vec<AppCredentialsRecord>>;
    async fn put_app_credentials(&self, record: &AppCredentialsRecord) -> StoreResult<()>;
}

/// Hashes of the admin API keys.
#[async_trait]
pub trait AdminKeyStore: Send + Sync {
    /// Idempotent: inserting a hash twice keeps one row.
    async fn insert_admin_key(&self, key_hash: &str, now: Timestamp) -> StoreResult<()>;
    async fn admin_key_exists(&self, key_hash: &str) -> StoreResult<bool>;
    async fn count_admin_keys(&self) -> StoreResult<i64>;
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the account or applies the patch; answers the account and whether it was created.
    /// Creates the account (in `shard`) or applies the patch (the shard stays); answers the
    /// account and whether it was created.
    async fn upsert_account(
        &self,
        id: &AccountId,
        patch: &AccountPatch,
        shard: i64,
        now: Timestamp,
    ) -> StoreResult<(Account, bool)>;
    /// Moves the account, and its unfinished executions, to `shard`.
    async fn set_account_shard(&self, id: &AccountId, shard: i64) -> StoreResult<()>;
    /// Accounts written before shards existed (shard -1), with their Dialpad company if known.
    async fn accounts_without_shard(
        &self,
        limit: u32,
    ) -> StoreResult<Vec<(AccountId, Option<String>)>>;
    /// The account with its connection, if any.
    async fn get_account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    /// Accounts ordered by id, strictly after `after`.
    async fn list_accounts(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<Account>>;
    /// Deletes the account, its connection and its connect sessions.
    async fn delete_account(&self, id: &AccountId) -> StoreResult<bool>;
}

/// New tokens from a refresh.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    pub access_token: Sealed,
    pub refresh_token: Sealed,
    pub expires_at: Option<Timestamp>,
    /// When the background refresh takes it next (see `ConnectionRecord::refresh_at`).
    pub refresh_at: Option<Timestamp>,
    pub scopes: Vec<String>,
    pub now: Timestamp,
}

/// A failed refresh: when to try again (`next_refresh_at`, also the background refresh's next
/// moment), and the connection's status afterwards.
#[derive(Debug, Clone)]
pub struct RefreshFailure {
    pub status: ConnectionStatus,
    pub failures: i64,
    pub next_refresh_at: Option<Timestamp>,
    pub last_error: String,
    pub now: Timestamp,
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn get_connection(&self, id: &AccountId) -> StoreResult<Option<ConnectionRecord>>;
    /// Writes the whole record (insert or replace) with `record.token_version` as given.
    async fn put_connection(&self, record: &ConnectionRecord) -> StoreResult<()>;
    /// Stores refreshed tokens only if the token version is still `expected_version`
    /// (compare-and-swap); bumps the version and clears failures. Answers whether it wrote.
    async fn swap_tokens(
        &self,
        id: &AccountId,
        expected_version: i64,
        update: &TokenUpdate,
    ) -> StoreResult<bool>;
    async fn record_refresh_failure(
        &self,
        id: &AccountId,
        failure: &RefreshFailure,
    ) -> StoreResult<()>;
    /// Takes the cross-process refresh lease if it is free or expired (or `owner`'s) and the
    /// connection still holds token `version`: a token another process replaced meanwhile is
    /// never refreshed again. Answers whether it did.
    async fn try_lock_refresh(
        &self,
        id: &AccountId,
        owner: &str,
        version: i64,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool>;
    async fn unlock_refresh(&self, id: &AccountId, owner: &str) -> StoreResult<()>;
    /// Takes the refresh lease (as `try_lock_refresh`, until `until`) of up to `limit`
    /// connected OAuth connections of accounts in `shards` whose refresh moment (`refresh_at`)
    /// has come, the most overdue first, skipping those another process leased or is picking.
    async fn claim_refreshes(
        &self,
        shards: &[i64],
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AccountId>>;
    /// The earliest refresh moment at or before `now` among connected OAuth connections of
    /// accounts in `shards`: how overdue the most overdue token is.
    async fn oldest_due_refresh(
        &self,
        shards: &[i64],
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>>;
}

#[async_trait]
pub trait ConnectSessionStore: Send + Sync {
    async fn insert_connect_session(&self, session: &ConnectSession) -> StoreResult<()>;
    async fn find_connect_session(&self, token_hash: &str) -> StoreResult<Option<ConnectSession>>;
    /// Adds an OAuth attempt to a live link (unexpired, unspent, with fewer than `max_states`
    /// attempts), atomically. `None` when the link is not live or has `max_states` attempts.
    async fn add_connect_state(
        &self,
        state: &ConnectState,
        now: Timestamp,
        max_states: u32,
    ) -> StoreResult<Option<ConnectSession>>;
    /// Removes the attempt with this state and answers it: a state is taken once. The link it
    /// belongs to may be spent or expired meanwhile; the caller checks.
    async fn take_connect_state(&self, state_hash: &str) -> StoreResult<Option<ConnectState>>;
    /// Spends a live link (unexpired, unspent) at `now`, atomically: the first caller wins.
    /// `None` when the link is unknown, expired or already spent.
    async fn spend_connect_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<ConnectSession>>;
    /// Gives back a link spent at `spent_at` by an attempt that then failed.
    async fn unspend_connect_session(
        &self,
        token_hash: &str,
        spent_at: Timestamp,
    ) -> StoreResult<()>;
    /// Forgets every OAuth attempt of a link (once it is spent for good).
    async fn delete_connect_states(&self, token_hash: &str) -> StoreResult<u64>;
    async fn purge_connect_sessions(&self, expired_before: Timestamp) -> StoreResult<u64>;
}

// ---- Workflows, events and executions -------------------------------------------------

/// One saved version of a workflow definition (normalised JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub key: String,
    pub version: i64,
    pub definition: serde_json::Value,
    pub created_at: Timestamp,
}

/// A workflow enabled for an account, with the account's config values.
#[derive(Debug, Clone, PartialEq)]
pub struct EnablementRecord {
    pub account_id: AccountId,
    pub workflow_key: String,
    pub config: serde_json::Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Saves a new version (1 for a new key, else the latest + 1, also after a delete) and
    /// answers its number. A deleted workflow saved again is live again.
    async fn insert_workflow_version(
        &self,
        key: &str,
        definition: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<i64>;
    /// A version, or the latest of a live (not deleted) workflow when `version` is `None`.
    /// Versions of deleted workflows stay readable by number (executions keep theirs).
    async fn get_workflow(
        &self,
        key: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<WorkflowRecord>>;
    /// The latest version of every live workflow, by key.
    async fn list_workflows(&self) -> StoreResult<Vec<WorkflowRecord>>;
    /// Marks the workflow deleted and removes its enablements; answers whether it was live.
    async fn delete_workflow(&self, key: &str, now: Timestamp) -> StoreResult<bool>;

    /// Creates or replaces the enablement (keeping `created_at` when it existed).
    async fn put_enablement(&self, record: &EnablementRecord) -> StoreResult<()>;
    async fn get_enablement(
        &self,
        account: &AccountId,
        workflow_key: &str,
    ) -> StoreResult<Option<EnablementRecord>>;
    async fn delete_enablement(&self, account: &AccountId, workflow_key: &str)
        -> StoreResult<bool>;
    /// Filtered by account and/or workflow, ordered by account then workflow.
    async fn list_enablements(
        &self,
        account: Option<&AccountId>,
        workflow_key: Option<&str>,
    ) -> StoreResult<Vec<EnablementRecord>>;
}

/// Something that may start executions: a Dialpad event, a vendor event, a schedule tick or an
/// API call. Stored before it is acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: String,
    pub account_id: AccountId,
    /// `dialpad`, `vendor`, `schedule` or `api`.
    pub source: String,
    /// The trigger keys it maps to (Dialpad events), or the event's name.
    pub name: String,
    /// Identical redeliveries share it; a second event with the same key for the same account
    /// is not stored again.
    pub dedupe_key: Option<String>,
    pub payload: serde_json::Value,
    pub received_at: Timestamp,
}

/// An event to store with the executions it starts (`ExecutionStore::record_events`).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub event: EventRecord,
    /// Queued, leased to the storing process, or already finished: an execution that ran to
    /// its end at ingest (`executions/at_ingest.rs`).
    pub executions: Vec<ExecutionRecord>,
    /// The step journals of the executions that already finished.
    pub steps: Vec<StepRecord>,
    /// Their vendor-webhook deliveries (`execution.succeeded`/`failed`).
    pub deliveries: Vec<DeliveryRecord>,
}

impl IncomingEvent {
    /// An event with executions that have not run yet.
    pub fn new(event: EventRecord, executions: Vec<ExecutionRecord>) -> Self {
        IncomingEvent {
            event,
            executions,
            steps: Vec::new(),
            deliveries: Vec::new(),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }

    /// A status a person gave as a filter; `invalid_input` on `status`, naming the five.
    pub fn parse_filter(text: &str) -> Result<Self, crate::Error> {
        Self::parse(text).ok_or_else(|| {
            crate::Error::invalid(
                "status",
                "must be queued, running, succeeded, failed or cancelled",
            )
        })
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ExecutionStatus::Queued,
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Succeeded | ExecutionStatus::Failed | ExecutionStatus::Cancelled
        )
    }
}

/// One run of one workflow version for one account.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub id: String,
    pub account_id: AccountId,
    pub workflow_key: String,
    pub version: i64,
    pub status: ExecutionStatus,
    /// What started it: `{type, event_id?, name?, …}`.
    pub trigger: serde_json::Value,
    /// What templates see as `event`: the payload of the event `event_id`, stored once with
    /// the event (or, for executions written before events held it, a copy).
    pub event: serde_json::Value,
    /// The event that started it (its payload is `event`).
    pub event_id: Option<String>,
    /// The account's shard: the process holding it runs the execution.
    pub shard: i64,
    pub error: Option<serde_json::Value>,
    /// Not claimed before this instant (ms); a durable delay moves it forward.
    pub run_at: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    /// The execution this one replays.
    pub replay_of: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    Waiting,
    Succeeded,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Waiting => "waiting",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            StepStatus::Running,
            StepStatus::Waiting,
            StepStatus::Succeeded,
            StepStatus::Failed,
            StepStatus::Skipped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// The journal entry of one step of an execution; `step_id` is the step's path
/// (`sms`, `each[2].sms`). A finished step is never run again when an execution resumes.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub execution_id: String,
    pub step_id: String,
    /// Order of first appearance within the execution.
    pub seq: i64,
    pub status: StepStatus,
    pub attempts: i64,
    pub input: Option<serde_json::Value>,
    pub output: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// A waiting step's wake-up time: a delay's end, or when Dialpad's budget allows an
    /// action step's request.
    pub wake_at: Option<Timestamp>,
}

/// One account's share of a claim: up to `room` executions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimWant {
    pub account: AccountId,
    pub room: u32,
}

/// A claimed execution; `resumed` when it was claimed before (its journal has entries).
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub execution: ExecutionRecord,
    pub resumed: bool,
}

/// What a journal write ends with.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalOutcome {
    /// Succeeded or failed, with the error as recorded.
    Finish {
        status: ExecutionStatus,
        error: Option<serde_json::Value>,
    },
    /// Handed back until `run_at` (a durable delay).
    Release { run_at: Timestamp },
}

/// An execution's journal entries since the last write, and what it ends with, if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalWrite {
    pub execution_id: String,
    /// The lease holder; the outcome applies only while it holds the lease.
    pub owner: String,
    pub steps: Vec<StepRecord>,
    pub outcome: Option<JournalOutcome>,
    /// Vendor webhook deliveries to queue with a finish (`execution.succeeded`/`failed`).
    pub deliveries: Vec<DeliveryRecord>,
    pub now: Timestamp,
}

impl JournalWrite {
    pub fn outcome(id: &str, owner: &str, outcome: JournalOutcome, now: Timestamp) -> Self {
        JournalWrite {
            execution_id: id.to_owned(),
            owner: owner.to_owned(),
            steps: Vec::new(),
            outcome: Some(outcome),
            deliveries: Vec::new(),
            now,
        }
    }
}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub account_id: Option<AccountId>,
    pub workflow_key: Option<String>,
    pub status: Option<ExecutionStatus>,
    /// Only those created at or after this instant.
    pub created_from: Option<Timestamp>,
    /// Only those created before this instant.
    pub created_before: Option<Timestamp>,
}

/// The transaction of a batch of events, begun by `ExecutionStore::begin_events` with the
/// batch's redelivery keys queued. Ingest sends the keys and, while the database takes them,
/// runs the batch's executions that finish at ingest; it then finishes with the batch as they
/// left it. Dropped before `finish`, nothing of it is kept.
#[async_trait]
pub trait EventsTx: Send {
    /// Sends the redelivery keys; answers, per event of the batch given to `begin_events`
    /// and in its order, whether it is new: without a key, or with one not stored before for
    /// its account nor earlier in the batch.
    async fn insert_keys(&mut self) -> StoreResult<Vec<bool>>;
    /// Stores the new events of `batch` (the batch given to `begin_events`, in its order, its
    /// executions, steps and deliveries since filled in) with theirs, counts the others as
    /// redeliveries, and commits. All or nothing: on an error nothing of the batch is stored.
    async fn finish(self: Box<Self>, batch: &[IncomingEvent], new: &[bool]) -> StoreResult<()>;
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Begins the transaction that stores `batch` (see `EventsTx`); sends nothing yet.
    fn begin_events<'s>(&'s self, batch: &[IncomingEvent]) -> Box<dyn EventsTx + 's>;
    /// In one transaction (a group commit): stores each event with its executions and their
    /// steps and deliveries, except an event whose `dedupe_key` exists for its account (stored
    /// before, or earlier in the batch), which stores nothing. Answers, per event, whether it
    /// was new. All or nothing: on an error nothing of the batch is stored.
    async fn record_events(&self, batch: &[IncomingEvent]) -> StoreResult<Vec<bool>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_events(batch);
        let new = tx.insert_keys().await?;
        tx.finish(batch, &new).await?;
        Ok(new)
    }
    /// `record_events` for one event.
    async fn record_event(
        &self,
        event: &EventRecord,
        executions: &[ExecutionRecord],
    ) -> StoreResult<bool> {
        let batch = [IncomingEvent::new(event.clone(), executions.to_vec())];
        Ok(self.record_events(&batch).await?.first() == Some(&true))
    }
    async fn get_event(&self, id: &str) -> StoreResult<Option<EventRecord>>;
    /// Events, newest first (`received_at` desc, then `id` desc), only `account`'s when given;
    /// `cursor` is the `id` of the last event of the previous page.
    async fn list_events(
        &self,
        account: Option<&AccountId>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>>;
    /// How many times each of these events was delivered again after it was stored, as
    /// `(event_id, count)` pairs for those delivered again at least once.
    async fn redeliveries_of_events(&self, event_ids: &[String])
        -> StoreResult<Vec<(String, i64)>>;
    /// The executions these events started, as `(event_id, execution_id)` pairs, each event's
    /// in the order they were created.
    async fn executions_of_events(
        &self,
        event_ids: &[String],
    ) -> StoreResult<Vec<(String, String)>>;
    async fn insert_execution(&self, execution: &ExecutionRecord) -> StoreResult<()>;
    async fn get_execution(&self, id: &str) -> StoreResult<Option<ExecutionRecord>>;
    /// Newest first (`created_at` desc, then `id` desc); `cursor` is the `id` of the last item
    /// of the previous page.
    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ExecutionRecord>>;
    /// For each account, takes up to `room` of its executions that are queued or running, due
    /// (`run_at <= now`) and not leased (or whose lease ran out), oldest `run_at` first, and
    /// marks them `running` leased to `owner` until `lease_until`. Two claimers never get the
    /// same execution. (The per-account cap is the caller's `room`: the shard's owner is the only
    /// claimer of an account.)
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        wants: &[ClaimWant],
    ) -> StoreResult<Vec<Claimed>>;
    /// When the account's next execution becomes claimable: its earliest `run_at`, or just
    /// after the lease of one that is held. `None` when it has no unfinished execution.
    async fn next_claimable(&self, account: &AccountId) -> StoreResult<Option<Timestamp>>;
    /// The accounts with unfinished executions in these shards (those created since `since`,
    /// when given), each with its shard and when its next execution becomes claimable.
    async fn work_in_shards(
        &self,
        shards: &[i64],
        since: Option<Timestamp>,
    ) -> StoreResult<Vec<(AccountId, i64, Timestamp)>>;
    /// Extends the leases `owner` still holds on unfinished executions among `ids`; answers
    /// those it extended (the others were finished, cancelled or taken over).
    async fn renew_leases(
        &self,
        owner: &str,
        ids: &[String],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<String>>;
    /// Gives back every unfinished execution `owner` holds a lease on except `running`, so it
    /// can be claimed again at once: a claim that committed while its answer was lost (the
    /// database went away in between) leaves executions leased to a process that never started
    /// them. Answers the accounts of those given back.
    async fn release_unstarted(
        &self,
        owner: &str,
        running: &[String],
        now: Timestamp,
    ) -> StoreResult<Vec<AccountId>>;
    /// In one transaction (a group commit of several executions' journals): upserts each
    /// write's steps and applies its outcome — finish or release — only where its owner still
    /// holds the lease and the execution is unfinished; a finish also queues its vendor
    /// deliveries. Answers, per write, whether its outcome applied (true when it has none).
    async fn write_journal(&self, writes: &[JournalWrite]) -> StoreResult<Vec<bool>>;
    /// Gives the execution back (still `running`) to be claimed again at `run_at`: a durable
    /// delay. Only by the lease owner.
    async fn release_execution(
        &self,
        id: &str,
        owner: &str,
        run_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let write = JournalWrite::outcome(id, owner, JournalOutcome::Release { run_at }, now);
        Ok(self.write_journal(&[write]).await?[0])
    }
    /// Finishes it (succeeded/failed) and clears the lease, only by the lease owner and only if
    /// it was not cancelled meanwhile.
    async fn finish_execution(
        &self,
        id: &str,
        owner: &str,
        status: ExecutionStatus,
        error: Option<&serde_json::Value>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let outcome = JournalOutcome::Finish {
            status,
            error: error.cloned(),
        };
        let write = JournalWrite::outcome(id, owner, outcome, now);
        Ok(self.write_journal(&[write]).await?[0])
    }
    /// Cancels an unfinished execution; answers whether it did.
    async fn cancel_execution(&self, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Creates or replaces the step's journal entry (keyed by execution and step id).
    async fn put_step(&self, step: &StepRecord) -> StoreResult<()> {
        let write = JournalWrite {
            execution_id: step.execution_id.clone(),
            owner: String::new(),
            steps: vec![step.clone()],
            outcome: None,
            deliveries: Vec::new(),
            now: step.started_at.unwrap_or_default(),
        };
        self.write_journal(&[write]).await?;
        Ok(())
    }
    /// The journal of an execution in `seq` order.
    async fn list_steps(&self, execution_id: &str) -> StoreResult<Vec<StepRecord>>;
    /// Claims a schedule tick across the cluster: `true` for the first caller only.
    async fn claim_schedule_tick(
        &self,
        workflow_key: &str,
        account: &AccountId,
        tick: i64,
    ) -> StoreResult<bool>;
}

// ---- Dialpad webhooks dialbridge provisions, and the vendor's webhook endpoints ----------

/// The Dialpad webhook of one connection (`/webhooks/dialpad/{hook_id}`) and the
/// subscriptions made for it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRecord {
    pub hook_id: String,
    pub account_id: AccountId,
    /// The id Dialpad gave the webhook, once created.
    pub dialpad_webhook_id: Option<String>,
    /// The HS256 secret Dialpad signs events with.
    pub secret: Sealed,
    /// What was provisioned: `{"call": [{"id", "call_states"}], "sms": […], …}`.
    pub subscriptions: serde_json::Value,
    /// `ok` or `error`; with `last_error` saying what failed.
    pub status: String,
    pub last_error: Option<String>,
    pub updated_at: Timestamp,
    /// When the subscriptions are next audited against Dialpad (the epoch: at once).
    pub next_audit_at: Timestamp,
}

#[async_trait]
pub trait HookStore: Send + Sync {
    async fn put_hook(&self, hook: &HookRecord) -> StoreResult<()>;
    async fn get_hook(&self, hook_id: &str) -> StoreResult<Option<HookRecord>>;
    async fn get_hook_for_account(&self, account: &AccountId) -> StoreResult<Option<HookRecord>>;
    async fn delete_hook(&self, hook_id: &str) -> StoreResult<bool>;
    /// Leases up to `limit` hooks of accounts in `shards` whose audit is due
    /// (`next_audit_at <= now`), the most overdue first, by moving their `next_audit_at` to
    /// `until` (so a process that dies mid-audit leaves them due again then); skips those
    /// another process is picking. Answers their accounts.
    async fn claim_audits(
        &self,
        shards: &[i64],
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AccountId>>;
    /// Sets only the hook's next audit (an audit that found nothing to change).
    async fn set_next_audit(&self, hook_id: &str, at: Timestamp) -> StoreResult<()>;
    /// Every hook whose next audit is more than `period_ms` after `now` gets it at
    /// `now + (its distance from now modulo period_ms)`: within one period, the hooks as
    /// spread as before. Answers how many moved.
    async fn bring_audits_within(&self, now: Timestamp, period_ms: i64) -> StoreResult<u64>;
}

/// A vendor's webhook endpoint (`PUT /api/v1/webhook-endpoints/{id}`).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRecord {
    pub id: String,
    pub url: String,
    /// Event types it receives; empty means all.
    pub events: Vec<String>,
    pub secret: Sealed,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// How its recent attempts went; kept by the delivery worker, never by `put_endpoint`.
    pub circuit: EndpointCircuit,
}

/// An endpoint's circuit breaker: failed attempts since its last success, and until when no
/// attempt is made (set once the failures reach the breaker's threshold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointCircuit {
    pub failures_in_a_row: i64,
    pub open_until: Option<Timestamp>,
}

/// One endpoint's share of a delivery claim: up to `room` deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryWant {
    pub endpoint_id: String,
    pub room: u32,
}

/// One message to one endpoint and how its delivery went.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

#[async_trait]
pub trait EndpointStore: Send + Sync {
    async fn put_endpoint(&self, endpoint: &EndpointRecord) -> StoreResult<()>;
    async fn get_endpoint(&self, id: &str) -> StoreResult<Option<EndpointRecord>>;
    async fn list_endpoints(&self) -> StoreResult<Vec<EndpointRecord>>;
    async fn delete_endpoint(&self, id: &str) -> StoreResult<bool>;
    async fn insert_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()>;
    /// Per wanted endpoint, up to its `room` of pending deliveries due by `now`, the earliest
    /// due first, leased to `owner` until `lease_until`; no two owners get the same one, and
    /// one statement per claim on PostgreSQL (rows another claimer is taking are skipped).
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        wants: &[DeliveryWant],
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Counts one more failed attempt in a row for the endpoint; answers the new count.
    async fn count_endpoint_failure(&self, endpoint_id: &str) -> StoreResult<i64>;
    /// Stops attempts to the endpoint until `until`.
    async fn open_endpoint_circuit(&self, endpoint_id: &str, until: Timestamp) -> StoreResult<()>;
    /// An attempt succeeded: the failures in a row are forgotten and the circuit closes.
    async fn close_endpoint_circuit(&self, endpoint_id: &str) -> StoreResult<()>;
    /// Records an attempt's outcome (status, attempts, next_attempt_at, last_*, delivered_at)
    /// and clears the lease.
    async fn update_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()>;
    /// Newest first.
    async fn list_deliveries(
        &self,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// One of the endpoint's deliveries.
    async fn get_delivery(
        &self,
        endpoint_id: &str,
        id: &str,
    ) -> StoreResult<Option<DeliveryRecord>>;
    /// Makes a `failed` delivery of the endpoint `pending` again, due at `now` (its attempts
    /// and last answer kept); answers whether it did (false when it is not failed, or unknown).
    async fn retry_delivery(
        &self,
        endpoint_id: &str,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

/// What one purge step removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub executions: u64,
    pub events: u64,
    pub deliveries: u64,
    /// Whole days dropped at once (PostgreSQL's daily partitions, each table's day counted).
    pub partitions: u64,
}

impl Purged {
    pub fn rows(&self) -> u64 {
        self.executions + self.events + self.deliveries
    }
}

/// Retention: old history removed in bounded steps, the space given back.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Makes sure each UTC day from `from` through `to` has its partitions where the database
    /// keeps days apart (PostgreSQL); nothing otherwise.
    async fn prepare_days(&self, from: Timestamp, to: Timestamp) -> StoreResult<()>;
    /// One bounded step: removes finished executions (with their steps) and settled vendor
    /// deliveries created before `executions_before`, and events (with their deduplication
    /// keys) received before `events_before` — whole days at once where the database keeps
    /// days apart, else at most `batch` rows of each. Unfinished executions and pending
    /// deliveries stay, whatever their age.
    async fn purge(
        &self,
        executions_before: Timestamp,
        events_before: Timestamp,
        batch: u32,
    ) -> StoreResult<Purged>;
    /// Gives the space freed by purges back to the file system (SQLite's incremental vacuum;
    /// dropped partitions need nothing).
    async fn reclaim_space(&self) -> StoreResult<()>;
}

/// Everything the platform stores.
#[async_trait]
pub trait Store:
    SettingsStore
    + AppStore
    + AdminKeyStore
    + AccountStore
    + ConnectionStore
    + ConnectSessionStore
    + WorkflowStore
    + ExecutionStore
    + HookStore
    + EndpointStore
    + ClusterStore
    + SignalStore
    + RateStore
    + AdminKeyRegistry
    + AuditStore
    + ResealStore
    + RetentionStore
    + McpTokenStore
{
    /// A cheap round trip, for `/healthz`.
    async fn ping(&self) -> StoreResult<()>;
}
