//! The executor's room, shared by the dispatcher and ingest: how many executions run here, per
//! account and in all, and which accounts have due work the dispatcher is claiming for.
//!
//! The dispatcher claims within this room. Ingest may also **start an execution at ingest**: the
//! event's new execution is stored already leased to this process, in the event's own commit,
//! and handed straight to the dispatcher, with no claim. That saves, per event, the claim
//! statement, its read of the event, and the look for the account's next work. Ingest does this
//! only when all of these hold:
//! - this process holds the account's shard;
//! - the executor is running;
//! - the dispatcher is not claiming for due work of the account, so a new execution does not
//!   overtake work it knows is waiting;
//! - the account and the process both have room.
//!
//! Otherwise the execution is stored queued and claimed as before. (An execution of a
//! self-contained workflow runs to its end before the commit instead, taking no room:
//! `at_ingest.rs`.)
//!
//! An execution stored leased counts as claimed once. If this process dies before the execution
//! ends, its lease runs out and the next claim resumes it from its journal, like any claimed
//! execution.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc;

use super::{Executions, FinishedLine};
use crate::ids::AccountId;
use crate::store::{Claimed, ExecutionRecord, ExecutionStatus, IncomingEvent};
use crate::time::Timestamp;

/// See the module's documentation.
pub(crate) struct Slots {
    state: Mutex<State>,
    handoff: mpsc::UnboundedSender<Claimed>,
    /// The dispatcher's end of `handoff`, taken when the executor starts.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Claimed>>>,
}

#[derive(Default)]
struct State {
    /// The executor runs and takes executions started at ingest.
    open: bool,
    /// The dispatcher is giving back leases that nothing here runs: nothing starts at ingest
    /// meanwhile.
    paused: bool,
    per_account: u32,
    workers: usize,
    /// Executions running here (or about to: claimed, or started at ingest), per account.
    busy: HashMap<AccountId, u32>,
    /// The same in all.
    total: usize,
    /// Accounts of the dispatcher with due work that it claims for. Their new executions
    /// queue behind that work.
    waiting: HashSet<AccountId>,
    /// Executions started at ingest that the dispatcher has not taken yet. They are leased
    /// here, so the clean-up of leases that nothing here runs must leave them alone.
    handed: HashSet<String>,
    /// A commit of executions started at ingest failed. It may have committed with its answer
    /// lost, leaving them leased here with nothing to run them: the dispatcher gives such
    /// leases back, as after a claim whose answer was lost.
    unsure: bool,
}

impl State {
    /// Takes room for up to `want` executions of `account`; answers how many it got.
    fn take(&mut self, account: &AccountId, want: u32) -> u32 {
        let busy = self.busy.get(account).copied().unwrap_or(0);
        let free = self.workers.saturating_sub(self.total);
        let got = want
            .min(self.per_account.saturating_sub(busy))
            .min(u32::try_from(free).unwrap_or(u32::MAX));
        if got > 0 {
            *self.busy.entry(account.clone()).or_default() += got;
            self.total += got as usize;
        }
        got
    }
}

impl Default for Slots {
    fn default() -> Self {
        let (handoff, receiver) = mpsc::unbounded_channel();
        Slots {
            state: Mutex::default(),
            handoff,
            receiver: Mutex::new(Some(receiver)),
        }
    }
}

impl Slots {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is left consistent at every step, so a panic elsewhere does not spoil it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The executor starts with these limits; answers where executions started at ingest
    /// arrive (`None` if an executor already took it).
    pub(crate) fn open(
        &self,
        per_account: u32,
        workers: usize,
    ) -> Option<mpsc::UnboundedReceiver<Claimed>> {
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        let mut state = self.state();
        state.open = true;
        state.per_account = per_account;
        state.workers = workers;
        Some(receiver)
    }

    /// The executor stops: no more executions start at ingest.
    pub(crate) fn close(&self) {
        self.state().open = false;
    }

    /// Takes room for up to `want` executions of `account` (for a claim). Answers how many
    /// it got.
    pub(crate) fn take(&self, account: &AccountId, want: u32) -> u32 {
        self.state().take(account, want)
    }

    /// Gives back room for `n` executions of `account`: they ended, or a claim got fewer.
    pub(crate) fn give_back(&self, account: &AccountId, n: u32) {
        if n == 0 {
            return;
        }
        let mut state = self.state();
        state.total = state.total.saturating_sub(n as usize);
        if let Some(busy) = state.busy.get_mut(account) {
            *busy = busy.saturating_sub(n);
            if *busy == 0 {
                state.busy.remove(account);
            }
        }
    }

    /// Executions of `account` running here (or about to).
    pub(crate) fn busy(&self, account: &AccountId) -> u32 {
        self.state().busy.get(account).copied().unwrap_or(0)
    }

    /// Room left in all.
    pub(crate) fn free(&self) -> usize {
        let state = self.state();
        state.workers.saturating_sub(state.total)
    }

    /// Whether the dispatcher is claiming for due work of `account` (set with `set_waiting`).
    pub(crate) fn waiting(&self, account: &AccountId) -> bool {
        self.state().waiting.contains(account)
    }

    /// Whether the dispatcher is claiming for due work of `account`.
    pub(crate) fn set_waiting(&self, account: &AccountId, waiting: bool) {
        let mut state = self.state();
        if waiting {
            if !state.waiting.contains(account) {
                state.waiting.insert(account.clone());
            }
        } else {
            state.waiting.remove(account);
        }
    }

    /// Ingest: takes room to start `execution` of `account` at ingest, if the executor runs,
    /// the account has no due work waiting, and there is room. The caller has checked that
    /// this process holds the account's shard. Until `handed_over` or `not_stored`, the
    /// execution counts as handed.
    pub(crate) fn start_at_ingest(&self, account: &AccountId, execution: &str) -> bool {
        let mut state = self.state();
        let room = state.open
            && !state.paused
            && !state.waiting.contains(account)
            && state.take(account, 1) == 1;
        if room {
            state.handed.insert(execution.to_owned());
        }
        room
    }

    /// Whether the executor runs here (between `open` and `close`).
    pub(crate) fn is_open(&self) -> bool {
        self.state().open
    }

    /// Ingest: an execution started at ingest was stored; the dispatcher runs it.
    pub(crate) fn hand_over(&self, claimed: Claimed) {
        let account = claimed.execution.account_id.clone();
        let id = claimed.execution.id.clone();
        if self.handoff.send(claimed).is_err() {
            // No executor to run it. It stays leased here, and the next claim after its lease
            // runs out resumes it.
            self.not_stored(&account, &id);
        }
    }

    /// Ingest: an execution started at ingest was not stored (its commit failed, or its event
    /// was a redelivery). Its room is given back.
    pub(crate) fn not_stored(&self, account: &AccountId, execution: &str) {
        if self.state().handed.remove(execution) {
            self.give_back(account, 1);
        }
    }

    /// Ingest: a commit holding executions started at ingest failed (their room is given back
    /// with `not_stored`).
    pub(crate) fn commit_unsure(&self) {
        self.state().unsure = true;
    }

    /// The dispatcher: whether a commit of executions started at ingest failed since it last
    /// asked.
    pub(crate) fn take_unsure(&self) -> bool {
        std::mem::take(&mut self.state().unsure)
    }

    /// The dispatcher took an execution started at ingest.
    pub(crate) fn received(&self, execution: &str) {
        self.state().handed.remove(execution);
    }

    /// Stops starting executions at ingest until `resume_ingest_starts`; answers those started
    /// at ingest that the dispatcher has not taken yet.
    pub(crate) fn pause_ingest_starts(&self) -> Vec<String> {
        let mut state = self.state();
        state.paused = true;
        state.handed.iter().cloned().collect()
    }

    pub(crate) fn resume_ingest_starts(&self) {
        self.state().paused = false;
    }
}

impl Executions {
    /// Ingest, before the commit: leases to this process the executions of a new event that
    /// can start here at once, so they are stored claimed with the event.
    pub(crate) fn start_at_ingest(&self, started: &mut [ExecutionRecord], now: Timestamp) {
        let lease = self.shared.settings().executor.lease;
        let ownership = self.shared.ownership();
        for execution in started {
            // One that ran to its end at ingest (`at_ingest.rs`) is stored finished.
            if !execution.status.is_finished()
                && ownership.holds(execution.shard)
                && self
                    .slots
                    .start_at_ingest(&execution.account_id, &execution.id)
            {
                execution.status = ExecutionStatus::Running;
                execution.lease_owner = Some(self.shared.owner().to_owned());
                execution.lease_until = Some(now + lease);
            }
        }
    }

    /// Ingest, when the commit failed: the room of the executions started at ingest is given
    /// back, and the dispatcher told to give back their leases in case the commit happened.
    pub(crate) fn ingest_failed(&self, batch: &[IncomingEvent]) {
        let mut any = false;
        // Not stored: nothing is told afterwards.
        let mut nothing = AfterIngest::default();
        for incoming in batch {
            any |= incoming.executions.iter().any(|e| e.lease_owner.is_some());
            self.ingested(incoming, false, &mut nothing);
        }
        if any {
            self.slots.commit_unsure();
        }
    }

    /// Ingest, after the commit: the executions an event started. Those leased here run at
    /// once (when `stored`); those that ran to their end at ingest are counted, and their log
    /// lines added to `after.finished`; the others are added to `after.queued`, to be
    /// signalled as queued work. Not `stored` (a redelivery, or a failed commit): none of them
    /// exists, and the room of those leased here is given back.
    pub(crate) fn ingested(&self, incoming: &IncomingEvent, stored: bool, after: &mut AfterIngest) {
        for execution in &incoming.executions {
            let here = execution.lease_owner.is_some();
            if !stored {
                if here {
                    self.slots.not_stored(&execution.account_id, &execution.id);
                }
            } else if execution.status.is_finished() {
                self.shared.metrics().execution_run_at_ingest();
                self.count_finished(execution);
                after.finished.push(FinishedLine::of(execution));
            } else if here {
                let mut execution = execution.clone();
                execution.event = incoming.event.payload.clone();
                self.slots.hand_over(Claimed {
                    execution,
                    resumed: false,
                });
            } else {
                after.queued.push(execution.clone());
            }
        }
    }
}

/// What is left of a batch of events once they are answered, done by a task of its own so
/// that the event writer goes on to the next batch (every event of which waits for the
/// writer's turn): telling other processes of the executions stored queued (a database round
/// trip per shard; a lost signal only delays, as the executors also look), the log lines of
/// those that finished at ingest, and freeing the batch and its runs' template contexts
/// (formatting the lines and freeing took about a sixth of the turn).
#[derive(Default)]
pub(crate) struct AfterIngest {
    pub queued: Vec<ExecutionRecord>,
    pub finished: Vec<FinishedLine>,
    pub spent_events: Vec<IncomingEvent>,
    pub spent_contexts: Vec<Arc<Value>>,
}

impl AfterIngest {
    pub(crate) fn spawn(self, executions: &Executions) {
        let executions = executions.clone();
        let AfterIngest {
            queued,
            finished,
            spent_events,
            spent_contexts,
        } = self;
        tokio::spawn(async move {
            for line in &finished {
                line.say();
            }
            // Freed here, named so that the task takes them: a field the task did not use
            // would be freed where it is spawned, in the writer's turn.
            drop((spent_events, spent_contexts));
            if !queued.is_empty() {
                executions.queued(&queued).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    #[test]
    fn ingest_starts_only_with_room_and_nothing_waiting() {
        let slots = Slots::default();
        let a = account("a");
        assert!(
            !slots.start_at_ingest(&a, "exe_1"),
            "closed until the executor runs"
        );
        let _receiver = slots.open(2, 3).unwrap();
        assert!(slots.start_at_ingest(&a, "exe_1"));
        assert!(slots.start_at_ingest(&a, "exe_2"));
        assert!(!slots.start_at_ingest(&a, "exe_3"), "the account is full");
        let b = account("b");
        slots.set_waiting(&b, true);
        assert!(
            !slots.start_at_ingest(&b, "exe_4"),
            "b's due work goes first"
        );
        slots.set_waiting(&b, false);
        assert!(slots.start_at_ingest(&b, "exe_4"));
        let c = account("c");
        assert!(!slots.start_at_ingest(&c, "exe_5"), "the process is full");
        assert_eq!(slots.take(&c, 5), 0);
        slots.not_stored(&a, "exe_2");
        assert_eq!(slots.busy(&a), 1);
        slots.not_stored(&a, "exe_2");
        assert_eq!(slots.busy(&a), 1, "given back once");
        assert_eq!(slots.take(&c, 5), 1);
        slots.close();
        slots.give_back(&c, 1);
        assert!(!slots.start_at_ingest(&c, "exe_6"), "closed again");
    }

    #[test]
    fn handed_executions_are_known_until_the_dispatcher_takes_them() {
        let slots = Slots::default();
        let mut receiver = slots.open(4, 4).unwrap();
        let a = account("a");
        assert!(slots.start_at_ingest(&a, "exe_1"));
        assert_eq!(slots.pause_ingest_starts(), vec!["exe_1".to_owned()]);
        assert!(!slots.start_at_ingest(&a, "exe_2"), "paused");
        slots.resume_ingest_starts();
        let mut execution = crate::executions::new_execution(
            &a,
            0,
            "wf",
            1,
            serde_json::Value::Null,
            None,
            crate::time::Timestamp::now(),
        );
        execution.id = "exe_1".into();
        slots.hand_over(Claimed {
            execution,
            resumed: false,
        });
        let got = receiver.try_recv().unwrap();
        assert_eq!(got.execution.id, "exe_1");
        assert_eq!(slots.pause_ingest_starts(), vec!["exe_1".to_owned()]);
        slots.received("exe_1");
        assert!(slots.pause_ingest_starts().is_empty());
        assert_eq!(slots.busy(&a), 1, "running until it ends");
        assert!(slots.open(4, 4).is_none(), "one executor");
        assert!(!slots.take_unsure());
        slots.commit_unsure();
        assert!(slots.take_unsure());
        assert!(!slots.take_unsure(), "told once");
    }
}
