//! The executor: this process's dispatcher of executions. It knows, in memory, which accounts
//! of the shards it holds have work — from its own ingest, from other processes' signals, from a
//! full look when it takes a shard and a short look every `poll` for what it was not told of —
//! and claims for them in turns: each account at most `per_account` at once, all accounts at
//! most `workers`, so one busy account cannot starve the others. Claims are leases (renewed for
//! all running executions together), so an execution of a process that dies is taken over by
//! the shard's next holder. Each execution runs with a time budget and a cancel token; its
//! journal is written in batches with other executions' (`write_journal`), and its finish in the
//! same write as its vendor webhooks.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::interpreter::{Flow, Interpreter};
use super::routing::AccountRoutes;
use super::Executions;
use crate::batch::Batcher;
use crate::error::{Error, Resource, Result};
use crate::ids::AccountId;
use crate::signals::Signal;
use crate::store::{
    ClaimWant, Claimed, ExecutionRecord, ExecutionStatus, JournalOutcome, JournalWrite,
};
use crate::time::Timestamp;

/// How the executor runs; from the server's configuration.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Executions running at once in this process.
    pub workers: usize,
    /// Executions of one account running at once (the shard's holder is its only runner).
    pub per_account: u32,
    /// How long a claim holds; renewed while the execution runs.
    pub lease: Duration,
    /// The longest the executor goes without looking for work it was not told of.
    pub poll: Duration,
    /// Hosts `http` steps may call (exact host names, or `*.example.com`).
    pub http_allowed_hosts: Vec<String>,
    /// The longest one attempt of one step may take.
    pub step_timeout: Duration,
    /// The longest an execution may run at a stretch (from its claim to its end or its next
    /// durable delay).
    pub execution_timeout: Duration,
    /// The most bytes of JSON a step's output keeps; a larger one is stored (and seen by later
    /// steps) as a marker saying so, with the start of the output.
    pub step_output_limit: usize,
    /// On shutdown, how long running executions may take to finish before they are left to
    /// the next holder of their shard.
    pub drain: Duration,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            workers: 64,
            per_account: 16,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            http_allowed_hosts: Vec::new(),
            step_timeout: Duration::from_secs(5 * 60),
            execution_timeout: Duration::from_secs(15 * 60),
            step_output_limit: 64 * 1024,
            drain: Duration::from_secs(10),
        }
    }
}

/// Journal writes a commit takes at most, and how many may wait for one.
const JOURNAL_BATCH: usize = 512;
const JOURNAL_QUEUE: usize = 8192;
/// The first pause before a failed journal write is tried again, and the longest.
const JOURNAL_RETRY_FIRST: Duration = Duration::from_millis(250);
const JOURNAL_RETRY_MAX: Duration = Duration::from_secs(4);
/// New work is looked for from this long before the previous look (clocks differ).
const SCAN_OVERLAP: Duration = Duration::from_secs(2);

impl Executions {
    /// Runs the executor until `shutdown`: claims due executions of the shards this process
    /// holds and runs them; then gives running ones `drain` to finish.
    pub async fn run_executor(&self, shutdown: CancellationToken) {
        let (done, finished) = mpsc::unbounded_channel();
        let settings = &self.shared.settings().executor;
        let Some(handed) = self.slots.open(settings.per_account, settings.workers) else {
            tracing::error!("an executor already runs in this process");
            return;
        };
        let mut dispatcher = Dispatcher {
            executions: self.clone(),
            settings: settings.clone(),
            accounts: HashMap::new(),
            turns: VecDeque::new(),
            timers: BinaryHeap::new(),
            running: HashMap::new(),
            done,
            held: BTreeSet::new(),
            last_look: None,
            unsure_claims: false,
        };
        dispatcher.run(shutdown, finished, handed).await;
    }

    /// Writes a journal through the group commit; answers whether its outcome applied.
    pub(crate) async fn write_journal(&self, write: JournalWrite) -> Result<bool> {
        let writer = self.journal_writer.get_or_init(|| {
            let store = self.executions.clone();
            Batcher::spawn(
                JOURNAL_BATCH,
                JOURNAL_QUEUE,
                move |writes: Vec<JournalWrite>| {
                    let store = store.clone();
                    async move {
                        match store.write_journal(&writes).await {
                            Ok(applied) => applied.into_iter().map(Ok).collect(),
                            Err(e) => {
                                tracing::warn!(
                                    writes = writes.len(),
                                    "writing journals failed: {e}"
                                );
                                writes
                                    .iter()
                                    .map(|_| Err(Error::Store(e.replicate())))
                                    .collect()
                            }
                        }
                    }
                },
            )
        });
        writer
            .submit(write)
            .await
            .unwrap_or_else(|| Err(Error::Internal("the journal writer stopped".into())))
    }

    /// Runs one claimed execution to its next resting point: finished, failed, handed back
    /// until a delay ends, or cancelled; answers when it is due again if it was handed back.
    async fn execute(&self, claimed: Claimed, cancel: CancellationToken) -> Option<Timestamp> {
        let execution = claimed.execution;
        let budget = self.shared.settings().executor.execution_timeout;
        let mut interpreter = None;
        let outcome = tokio::time::timeout(
            budget,
            self.interpret(&execution, claimed.resumed, &cancel, &mut interpreter),
        )
        .await
        .unwrap_or_else(|_| {
            Ok(Flow::Fail(json!({ "error": {
                "code": "execution_timeout",
                "message": format!(
                    "the execution ran longer than its budget of {} s (--execution-timeout)",
                    budget.as_secs()
                ),
            }})))
        });
        let steps = interpreter
            .map(Interpreter::take_pending)
            .unwrap_or_default();
        let now = Timestamp::now();
        let finish = |status, error: Option<Value>| JournalOutcome::Finish { status, error };
        let outcome = match outcome {
            Ok(Flow::Done) => Some(finish(ExecutionStatus::Succeeded, None)),
            Ok(Flow::Fail(error)) => Some(finish(ExecutionStatus::Failed, Some(error))),
            Ok(Flow::Wait(run_at)) => Some(JournalOutcome::Release { run_at }),
            Ok(Flow::Cancelled) => None,
            Err(Error::Store(e)) if e.is_unavailable() => {
                // The database went away under a step: what ran is kept, the rest runs again
                // once it is back, as it would after a crash.
                tracing::warn!(execution = %execution.id, "the database went away during the execution; it resumes shortly: {e}");
                Some(JournalOutcome::Release {
                    run_at: now + JOURNAL_RETRY_FIRST,
                })
            }
            Err(error) => {
                // The store or the definition failed, not a step: record it on the execution.
                tracing::error!(execution = %execution.id, "execution could not run: {error}");
                Some(finish(
                    ExecutionStatus::Failed,
                    Some(json!({ "error": error.to_json() })),
                ))
            }
        };
        let finished = match &outcome {
            Some(JournalOutcome::Finish { status, error }) => {
                let mut done = execution.clone();
                done.status = *status;
                done.error = error.clone();
                done.finished_at = Some(now);
                Some(done)
            }
            _ => None,
        };
        let deliveries = match &finished {
            Some(done) => self.vendor_webhooks.deliveries_for_execution(done).await,
            None => Vec::new(),
        };
        let write = JournalWrite {
            execution_id: execution.id.clone(),
            owner: self.shared.owner().to_owned(),
            steps,
            outcome,
            deliveries,
            now,
        };
        let run_at = match &write.outcome {
            Some(JournalOutcome::Release { run_at }) => Some(*run_at),
            _ => None,
        };
        match self.write_journal_persistently(write).await {
            Ok(true) => {
                if let Some(done) = &finished {
                    self.execution_finished(done);
                }
                run_at
            }
            Ok(false) => {
                tracing::warn!(execution = %execution.id, "the execution changed hands or was cancelled before it finished here");
                None
            }
            Err(e) => {
                tracing::error!(execution = %execution.id, "recording the outcome failed: {e}");
                None
            }
        }
    }

    /// Writes a journal, trying again while the database is away, for as long as the
    /// execution's lease would last: what its steps did is recorded as soon as the database is
    /// back, instead of the steps running again after the lease (a second SMS). Past that the
    /// execution is left to its lease, like one whose process died.
    async fn write_journal_persistently(&self, write: JournalWrite) -> Result<bool> {
        let give_up = Instant::now() + self.shared.settings().executor.lease;
        let mut pause = JOURNAL_RETRY_FIRST;
        loop {
            match self.write_journal(write.clone()).await {
                Err(e) if Instant::now() + pause < give_up => {
                    tracing::warn!(execution = %write.execution_id, "recording the outcome failed; trying again in {pause:?}: {e}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(JOURNAL_RETRY_MAX);
                }
                other => return other,
            }
        }
    }

    async fn interpret<'a>(
        &'a self,
        execution: &'a ExecutionRecord,
        resumed: bool,
        cancel: &'a CancellationToken,
        slot: &mut Option<Interpreter<'a>>,
    ) -> Result<Flow> {
        let definition = self
            .definition(&execution.workflow_key, execution.version)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    Resource::Workflow,
                    format!("{} version {}", execution.workflow_key, execution.version),
                )
            })?;
        let routes = self.routes(&execution.account_id).await?;
        let ctx = context(routes.as_deref(), execution);
        let journal = if resumed {
            self.executions.list_steps(&execution.id).await?
        } else {
            Vec::new()
        };
        let interpreter = slot.insert(Interpreter::new(self, execution, journal, ctx, cancel));
        interpreter.run(&definition).await
    }
}

/// What templates of `execution` see: `event`, `account`, `config`, `steps`, `execution`, with
/// its account's routes (`None`: the account is gone).
pub(crate) fn context(routes: Option<&AccountRoutes>, execution: &ExecutionRecord) -> Value {
    context_with_event(routes, execution, execution.event.clone())
}

/// `context`, with the event's payload given apart and moved in: an execution run at ingest
/// carries no copy of it (`at_ingest.rs`), so it is copied once, here, not twice.
pub(crate) fn context_with_event(
    routes: Option<&AccountRoutes>,
    execution: &ExecutionRecord,
    event: Value,
) -> Value {
    let account = routes.map_or_else(
        || json!({ "id": execution.account_id, "name": null, "metadata": {} }),
        |r| r.account.clone(),
    );
    let config = routes
        .and_then(|r| {
            r.routes
                .iter()
                .find(|route| route.workflow_key == execution.workflow_key)
        })
        .map_or_else(|| json!({}), |route| route.config.clone());
    // Built as maps of values, not with `json!`: it would serialize the event, the account,
    // the config and the trigger into new values (twice the work of copying them).
    let mut about = Map::new();
    about.insert("id".into(), execution.id.clone().into());
    about.insert("workflow".into(), execution.workflow_key.clone().into());
    about.insert("version".into(), execution.version.into());
    about.insert("trigger".into(), execution.trigger.clone());
    about.insert("started_at".into(), execution.created_at.as_millis().into());
    let mut ctx = Map::new();
    ctx.insert("event".into(), event);
    ctx.insert("account".into(), account);
    ctx.insert("config".into(), config);
    ctx.insert("steps".into(), Value::Object(Map::new()));
    ctx.insert("execution".into(), Value::Object(about));
    Value::Object(ctx)
}

/// An account of a held shard, as the dispatcher tracks it. What runs of it, and whether it
/// may have due work (it has, or will get, a turn), are kept in `Slots`, which ingest reads.
struct Account {
    shard: i64,
}

/// A running execution: its account, and how to stop it.
struct Running {
    account: AccountId,
    cancel: CancellationToken,
}

struct Dispatcher {
    executions: Executions,
    settings: ExecutorSettings,
    accounts: HashMap<AccountId, Account>,
    /// Accounts with due work and room, in turn order.
    turns: VecDeque<AccountId>,
    /// When an account's next execution becomes claimable.
    timers: BinaryHeap<Reverse<(Timestamp, AccountId)>>,
    running: HashMap<String, Running>,
    /// A finished run's execution id, and when it is due again if a delay handed it back.
    done: mpsc::UnboundedSender<(String, Option<Timestamp>)>,
    /// The shards held at the last look.
    held: BTreeSet<i64>,
    /// When work was last looked for.
    last_look: Option<Timestamp>,
    /// A claim (or an ingest commit of executions started at ingest) failed: it may have
    /// committed with its answer lost, leaving executions leased here that nothing runs.
    /// Until they are given back (`release_unstarted`), they would wait for their lease.
    unsure_claims: bool,
}

impl Dispatcher {
    async fn run(
        &mut self,
        shutdown: CancellationToken,
        mut finished: mpsc::UnboundedReceiver<(String, Option<Timestamp>)>,
        mut handed: mpsc::UnboundedReceiver<Claimed>,
    ) {
        let shared = self.executions.shared.clone();
        let mut signals = shared.signals().subscribe();
        let mut ownership = shared.ownership().clone();
        let renewal = self.settings.lease / 3;
        let mut renew_at = tokio::time::Instant::now() + renewal;
        self.follow_shards().await;
        loop {
            if self.executions.slots.take_unsure() {
                self.unsure_claims = true;
            }
            if self.unsure_claims {
                self.release_unstarted().await;
            }
            self.dispatch().await;
            let wake = self.next_wake();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                signal = signals.recv() => match signal {
                    Ok(signal) => self.on_signal(signal),
                    // Missed some: look for everything.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.look(None).await,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some((id, wake_at)) = finished.recv() => self.on_finished(&id, wake_at),
                Some(claimed) = handed.recv() => self.start_handed(claimed),
                _ = ownership.changed() => self.follow_shards().await,
                _ = tokio::time::sleep_until(renew_at) => {
                    self.renew().await;
                    renew_at = tokio::time::Instant::now() + renewal;
                }
                _ = tokio::time::sleep(wake) => self.on_timers().await,
            }
            self.take_waiting(&mut signals, &mut finished, &mut handed)
                .await;
        }
        self.executions.slots.close();
        self.drain(finished, handed).await;
    }

    /// Takes in every signal, finished run and execution started at ingest already waiting,
    /// so that the next `dispatch` (one claim) serves them all. One turn of the loop per
    /// message made a claim per event: at 500 events/s the claims queued behind each other,
    /// and an event waited 15–26 ms (p50) for one.
    async fn take_waiting(
        &mut self,
        signals: &mut broadcast::Receiver<Signal>,
        finished: &mut mpsc::UnboundedReceiver<(String, Option<Timestamp>)>,
        handed: &mut mpsc::UnboundedReceiver<Claimed>,
    ) {
        let mut lagged = false;
        loop {
            match signals.try_recv() {
                Ok(signal) => self.on_signal(signal),
                Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                // Empty, or closed (the loop's `recv` sees that next).
                Err(_) => break,
            }
        }
        while let Ok((id, wake_at)) = finished.try_recv() {
            self.on_finished(&id, wake_at);
        }
        while let Ok(claimed) = handed.try_recv() {
            self.start_handed(claimed);
        }
        if lagged {
            self.look(None).await;
        }
    }

    /// How long until a timer fires or it is time to look for work again.
    fn next_wake(&self) -> Duration {
        let now = Timestamp::now();
        let mut wake = self.settings.poll;
        if let Some(Reverse((at, _))) = self.timers.peek() {
            wake = wake.min(at.since(now));
        }
        wake
    }

    /// Fires due timers and, every `poll`, looks for work created since the last look.
    async fn on_timers(&mut self) {
        let now = Timestamp::now();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, account))) = self.timers.pop() else {
                break;
            };
            self.mark_due(&account);
        }
        let looked = self
            .last_look
            .is_some_and(|at| now.since(at) < self.settings.poll);
        if !looked {
            let since = self.last_look.map(|at| at - SCAN_OVERLAP);
            self.look(since).await;
        }
    }

    fn on_signal(&mut self, signal: Signal) {
        match signal {
            Signal::Work { shard, accounts } if self.held.contains(&shard) => {
                for account in accounts {
                    self.accounts
                        .entry(account.clone())
                        .or_insert(Account { shard });
                    self.mark_due(&account);
                }
            }
            Signal::Cancel { execution_id } => {
                if let Some(running) = self.running.get(&execution_id) {
                    running.cancel.cancel();
                }
            }
            _ => {}
        }
    }

    /// A run ended; an execution a delay handed back gets a timer for its wake-up (the timer
    /// set at its claim was for its lease's end).
    fn on_finished(&mut self, id: &str, wake_at: Option<Timestamp>) {
        let Some(running) = self.running.remove(id) else {
            return;
        };
        let slots = &self.executions.slots;
        slots.give_back(&running.account, 1);
        if slots.waiting(&running.account) && !self.turns.contains(&running.account) {
            self.turns.push_back(running.account.clone());
        }
        if let Some(at) = wake_at {
            self.schedule(running.account, at, Timestamp::now());
        }
    }

    /// Takes note of shards taken (looks at all their work) and shards lost (forgets their
    /// accounts; what runs here finishes, and the new holder waits for the leases).
    async fn follow_shards(&mut self) {
        let held: BTreeSet<i64> = self
            .executions
            .shared
            .ownership()
            .shards()
            .iter()
            .copied()
            .collect();
        let taken: Vec<i64> = held.difference(&self.held).copied().collect();
        let lost: BTreeSet<i64> = self.held.difference(&held).copied().collect();
        self.held = held;
        if !lost.is_empty() {
            let slots = &self.executions.slots;
            self.accounts.retain(|id, a| {
                let kept = !lost.contains(&a.shard);
                if !kept {
                    slots.set_waiting(id, false);
                }
                kept
            });
            let accounts = &self.accounts;
            self.turns.retain(|id| accounts.contains_key(id));
        }
        if !taken.is_empty() {
            self.look_in(&taken, None).await;
        }
    }

    /// Looks for accounts with work in the held shards (created since `since`, if given).
    async fn look(&mut self, since: Option<Timestamp>) {
        let shards: Vec<i64> = self.held.iter().copied().collect();
        self.look_in(&shards, since).await;
    }

    async fn look_in(&mut self, shards: &[i64], since: Option<Timestamp>) {
        let now = Timestamp::now();
        match self
            .executions
            .executions
            .work_in_shards(shards, since)
            .await
        {
            Ok(found) => {
                if since.is_none() || self.last_look.is_some() {
                    self.last_look = Some(now);
                }
                for (account, shard, next) in found {
                    self.accounts
                        .entry(account.clone())
                        .or_insert(Account { shard });
                    self.schedule(account, next, now);
                }
            }
            Err(e) => tracing::warn!("looking for executions failed: {e}"),
        }
    }

    fn schedule(&mut self, account: AccountId, next: Timestamp, now: Timestamp) {
        if next <= now {
            self.mark_due(&account);
        } else {
            self.timers.push(Reverse((next, account)));
        }
    }

    fn mark_due(&mut self, id: &AccountId) {
        if !self.accounts.contains_key(id) {
            return;
        }
        let slots = &self.executions.slots;
        slots.set_waiting(id, true);
        if slots.busy(id) < self.settings.per_account && !self.turns.contains(id) {
            self.turns.push_back(id.clone());
        }
    }

    /// Claims for accounts in turn while workers are free, and starts what it got.
    async fn dispatch(&mut self) {
        let slots = self.executions.slots.clone();
        loop {
            let mut wants = Vec::new();
            while slots.free() > 0 {
                let Some(id) = self.turns.pop_front() else {
                    break;
                };
                if !self.accounts.contains_key(&id) {
                    continue;
                }
                // Taken now, so that ingest cannot start more of the account meanwhile.
                let room = slots.take(&id, self.settings.per_account);
                if room == 0 {
                    continue;
                }
                wants.push(ClaimWant { account: id, room });
            }
            if wants.is_empty() {
                return;
            }
            let now = Timestamp::now();
            let claimed = match self
                .executions
                .executions
                .claim_due(
                    self.executions.shared.owner(),
                    now,
                    now + self.settings.lease,
                    &wants,
                )
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::error!("claiming executions failed: {e}");
                    self.unsure_claims = true;
                    // Try again at the next wake.
                    for want in wants {
                        slots.give_back(&want.account, want.room);
                        self.turns.push_back(want.account);
                    }
                    return;
                }
            };
            let mut got: HashMap<AccountId, u32> = HashMap::new();
            for claimed in claimed {
                *got.entry(claimed.execution.account_id.clone()).or_default() += 1;
                self.start(claimed);
            }
            for want in wants {
                let got = got.get(&want.account).copied().unwrap_or(0);
                slots.give_back(&want.account, want.room.saturating_sub(got));
                if got >= want.room {
                    // There may be more: another turn.
                    self.mark_due(&want.account);
                    continue;
                }
                // Nothing more due now: when next?
                slots.set_waiting(&want.account, false);
                match self
                    .executions
                    .executions
                    .next_claimable(&want.account)
                    .await
                {
                    Ok(Some(next)) => self.schedule(want.account, next, Timestamp::now()),
                    Ok(None) => {
                        if slots.busy(&want.account) == 0 {
                            self.accounts.remove(&want.account);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(account_id = %want.account, "reading an account's next execution failed: {e}")
                    }
                }
            }
        }
    }

    /// Runs a claimed execution, whose room is taken.
    fn start(&mut self, claimed: Claimed) {
        let id = claimed.execution.id.clone();
        let account = claimed.execution.account_id.clone();
        let cancel = CancellationToken::new();
        self.running.insert(
            id.clone(),
            Running {
                account,
                cancel: cancel.clone(),
            },
        );
        let executions = self.executions.clone();
        let done = self.done.clone();
        tokio::spawn(async move {
            let wake_at = executions.execute(claimed, cancel).await;
            let _ = done.send((id, wake_at));
        });
    }

    /// An execution started at ingest (`slots.rs`): stored leased here, its room taken.
    fn start_handed(&mut self, claimed: Claimed) {
        self.executions.slots.received(&claimed.execution.id);
        self.start(claimed);
    }

    /// Gives back the executions leased here that nothing here runs (a claim whose answer was
    /// lost), then looks at all the held shards' work again, so they run now rather than when
    /// their lease ends. Tried at every wake until the database answers.
    async fn release_unstarted(&mut self) {
        // Executions started at ingest and not yet taken are leased here too. None starts
        // while the statement runs: one stored after the list was made would be given back
        // while it runs.
        let slots = self.executions.slots.clone();
        let mut running: Vec<String> = self.running.keys().cloned().collect();
        running.extend(slots.pause_ingest_starts());
        let released = self
            .executions
            .executions
            .release_unstarted(self.executions.shared.owner(), &running, Timestamp::now())
            .await;
        slots.resume_ingest_starts();
        match released {
            Ok(accounts) => {
                self.unsure_claims = false;
                if !accounts.is_empty() {
                    tracing::info!(
                        accounts = accounts.len(),
                        "gave back executions claimed while the database was failing"
                    );
                    self.look(None).await;
                }
            }
            Err(e) => tracing::warn!("giving back unstarted executions failed: {e}"),
        }
    }

    /// Renews the leases of every running execution at once; one no longer ours (cancelled,
    /// finished elsewhere, taken over) is stopped.
    async fn renew(&mut self) {
        if self.running.is_empty() {
            return;
        }
        let ids: Vec<String> = self.running.keys().cloned().collect();
        let until = Timestamp::now() + self.settings.lease;
        match self
            .executions
            .executions
            .renew_leases(self.executions.shared.owner(), &ids, until)
            .await
        {
            Ok(renewed) => {
                let renewed: std::collections::HashSet<String> = renewed.into_iter().collect();
                for (id, running) in &self.running {
                    if !renewed.contains(id) {
                        tracing::info!(execution = %id, "lost the lease (cancelled or taken over): stopping");
                        running.cancel.cancel();
                    }
                }
            }
            Err(e) => tracing::warn!("renewing execution leases failed: {e}"),
        }
    }

    /// On shutdown: no more claims; running executions get `drain` to finish, then are left
    /// to the next holder of their shard (their leases run out). Executions started at ingest
    /// that arrive meanwhile run too; one stored after this ends waits for its lease, like a
    /// running one.
    async fn drain(
        &mut self,
        mut finished: mpsc::UnboundedReceiver<(String, Option<Timestamp>)>,
        mut handed: mpsc::UnboundedReceiver<Claimed>,
    ) {
        let deadline = tokio::time::Instant::now() + self.settings.drain;
        loop {
            while let Ok(claimed) = handed.try_recv() {
                self.start_handed(claimed);
            }
            if self.running.is_empty() {
                return;
            }
            tokio::select! {
                Some((id, _)) = finished.recv() => { self.running.remove(&id); }
                Some(claimed) = handed.recv() => self.start_handed(claimed),
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(running = self.running.len(), "shutting down with executions still running; they resume elsewhere once their leases run out");
                    for running in self.running.values() {
                        running.cancel.cancel();
                    }
                    return;
                }
            }
        }
    }
}

/// The lazily started journal writer of an `Executions`.
pub(crate) type JournalWriter = Arc<OnceLock<Batcher<JournalWrite, Result<bool>>>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::new_execution;

    /// What templates see: the event given apart (not the execution's own copy), the account
    /// (as far as it is known without its routes), no config or steps yet, and the execution.
    #[test]
    fn the_context_holds_the_event_the_account_and_the_execution() {
        let account = AccountId::parse("acme").unwrap();
        let started = Timestamp::from_millis(1_700_000_000_000);
        let trigger = json!({ "type": "call.hangup" });
        let mut execution = new_execution(&account, 3, "notes", 7, trigger, None, started);
        execution.event = json!({ "copy": "the execution's own" });
        let ctx = context_with_event(None, &execution, json!({ "call_id": 1 }));
        assert_eq!(
            ctx,
            json!({
                "event": { "call_id": 1 },
                "account": { "id": "acme", "name": null, "metadata": {} },
                "config": {},
                "steps": {},
                "execution": {
                    "id": execution.id,
                    "workflow": "notes",
                    "version": 7,
                    "trigger": { "type": "call.hangup" },
                    "started_at": 1_700_000_000_000_i64,
                },
            })
        );
        let own = context(None, &execution);
        assert_eq!(own["event"], json!({ "copy": "the execution's own" }));
        assert_eq!(own["execution"], ctx["execution"]);
    }
}
