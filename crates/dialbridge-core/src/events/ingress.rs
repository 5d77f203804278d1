//! Events in. Where a webhook enters: `receive_dialpad_event` accepts only an HS256 JWT valid
//! for the hook's secret (and, when it says so, not expired nor early), then hands the event to
//! the writer, which stores it with the executions it starts before it is acknowledged (a
//! redelivered identical event is recognised and starts nothing). The vendor's own events
//! (`post_vendor_event`) take the same path.
//!
//! The writer is a group commit (`batch.rs`): concurrent events are routed in memory
//! (`executions/routing.rs`) and stored in one transaction, so a burst of N events costs one
//! commit, and no event is acknowledged before its commit. A failed commit answers every event
//! of the batch with the error (Dialpad retries on a 5xx).
//!
//! Routing runs in the request. Before the commit, the writer runs to its end an execution
//! whose steps are all self-contained, which is stored finished (`executions/at_ingest.rs`). Of
//! the others, one that can start here at once is stored already leased to this process and
//! handed to the executor, with no claim (`executions/slots.rs`); the rest are stored queued
//! and signalled.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use super::dedupe_key::dedupe_key;
use super::jwt::{self, WebhookKey};
use super::refusals::{RefusedDeliveries, RefusedDelivery};
use crate::batch::{Batcher, Submitted};
use crate::error::{Error, Resource, Result};
use crate::executions::routing::EventKind;
use crate::executions::{AfterIngest, Executions};
use crate::ids::{new_id, AccountId};
use crate::platform::{HookSecret, Shared};
use crate::store::{EventRecord, HookStore, IncomingEvent, StoreError};
use crate::time::Timestamp;
use crate::triggers;

/// Events a commit takes at most, and how many may wait for one.
const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;
/// The longest an event waits for the writer to take it. Dialpad gives up on a delivery after
/// 5 s; an event not taken by then is withdrawn — never stored — and answered 503, so Dialpad
/// sends it again and its 5xx always means "not stored". One taken is answered after its
/// commit.
const QUEUE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the ingress did with an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngressOutcome {
    /// The trigger keys the event maps to.
    pub triggers: Vec<&'static str>,
    /// The same event was received before: nothing ran again.
    pub duplicate: bool,
    pub executions: Vec<String>,
}

/// Receives events and hands them to the executions they start.
#[derive(Clone)]
pub struct Ingress {
    pub(crate) hooks: Arc<dyn HookStore>,
    pub(crate) executions: Executions,
    pub(crate) shared: Shared,
    /// The group-commit writer, started on first use.
    pub(crate) writer: Arc<OnceLock<Batcher<IncomingEvent, Result<Landed>>>>,
    /// The last deliveries refused here (for the events page).
    pub(crate) refused: RefusedDeliveries,
}

/// How an event landed: new or a duplicate, and the executions it started.
pub(crate) struct Landed {
    new: bool,
    executions: Vec<String>,
}

impl Ingress {
    /// `POST /webhooks/dialpad/{hook_id}`.
    pub async fn receive_dialpad_event(
        &self,
        hook_id: &str,
        body: &[u8],
    ) -> Result<IngressOutcome> {
        let hook = self.hook(hook_id).await?;
        let DialpadEvent {
            payload,
            keys,
            dedupe_key,
        } = read_dialpad_event(body, &hook.key, Timestamp::now()).inspect_err(|e| {
            self.refused.record(RefusedDelivery {
                account_id: hook.account_id.clone(),
                received_at: Timestamp::now(),
                code: e.code().to_owned(),
                message: e.to_string(),
            })
        })?;
        let event = EventRecord {
            id: new_id("evt"),
            account_id: hook.account_id.clone(),
            source: "dialpad".into(),
            name: keys.join(","),
            dedupe_key: Some(dedupe_key),
            payload,
            received_at: Timestamp::now(),
        };
        let landed = self
            .land(event, EventKind::Dialpad { keys: keys.clone() })
            .await?;
        Ok(IngressOutcome {
            triggers: keys,
            duplicate: !landed.new,
            executions: landed.executions,
        })
    }

    /// A vendor event (`POST …/events/{name}`): starts every enabled workflow of the account
    /// whose trigger is `event` with that name and whose filter passes; answers their ids.
    pub async fn post_vendor_event(
        &self,
        account: &AccountId,
        name: &str,
        payload: Value,
    ) -> Result<Vec<String>> {
        let event = EventRecord {
            id: new_id("evt"),
            account_id: account.clone(),
            source: "vendor".into(),
            name: name.to_owned(),
            dedupe_key: None,
            payload,
            received_at: Timestamp::now(),
        };
        let landed = self
            .land(
                event,
                EventKind::Vendor {
                    name: name.to_owned(),
                },
            )
            .await?;
        Ok(landed.executions)
    }

    /// The hook's account and secret, from the cache or the store.
    async fn hook(&self, hook_id: &str) -> Result<Arc<HookSecret>> {
        let load = || async {
            match self.hooks.get_hook(hook_id).await? {
                Some(hook) => Ok::<_, Error>(Some(Arc::new(HookSecret {
                    account_id: hook.account_id,
                    key: WebhookKey::new(self.shared.open(&hook.secret)?.expose().as_bytes()),
                }))),
                None => Ok(None),
            }
        };
        let caches = self.shared.caches();
        let found = caches.hooks.get_or_load(hook_id.to_owned(), load).await?;
        found.ok_or_else(|| Error::not_found(Resource::DialpadHook, hook_id))
    }

    /// Routes the event, hands it to the writer and waits until it is stored (or refused, or
    /// withdrawn unstored after `QUEUE_DEADLINE` in the queue).
    async fn land(&self, event: EventRecord, kind: EventKind) -> Result<Landed> {
        let executions = &self.executions;
        let Some(routes) = executions.routes(&event.account_id).await? else {
            return Err(Error::not_found(
                Resource::Account,
                event.account_id.as_str(),
            ));
        };
        let started = executions.route(&routes, &event, &kind, Timestamp::now());
        let incoming = IncomingEvent::new(event, started);
        let writer = self.writer.get_or_init(|| {
            let executions = self.executions.clone();
            Batcher::spawn(MAX_BATCH, QUEUE, move |batch| {
                let executions = executions.clone();
                async move { land_batch(&executions, batch).await }
            })
        });
        match writer.submit_within(incoming, QUEUE_DEADLINE).await {
            Submitted::Done(landed) => landed,
            Submitted::Withdrawn => Err(Error::Store(StoreError::Unavailable(
                "the database did not take the event in time; it was not stored".into(),
            ))),
            Submitted::Gone => Err(Error::Internal("the event writer stopped".into())),
        }
    }
}

/// Stores a batch of routed events, with their executions, in one transaction. Executions that
/// can run to their end do so here, in the writer's turn (run in each request instead, SQLite
/// ingest spent up to a third more CPU per event in some runs: BENCHMARKS.md, *Executions of
/// `set`/`if` workflows run at ingest*), while the database takes the batch's redelivery keys
/// rather than before, so that the database does not wait for them (*The event writer's turn,
/// step by step*; on this project's two cores, no faster).
async fn land_batch(executions: &Executions, mut batch: Vec<IncomingEvent>) -> Vec<Result<Landed>> {
    executions.shared.metrics().ingest_batch(batch.len());
    let mut after = AfterIngest::default();
    let stored = async {
        let mut tx = executions.executions.begin_events(&batch);
        let prepared = prepare(executions, &mut batch, &mut after.spent_contexts);
        let (new, ()) = tokio::join!(tx.insert_keys(), prepared);
        let new = new?;
        tx.finish(&batch, &new).await?;
        Ok::<_, StoreError>(new)
    };
    let new = match stored.await {
        Ok(new) => new,
        Err(e) => {
            tracing::warn!(
                events = batch.len(),
                "storing a batch of events failed: {e}"
            );
            executions.ingest_failed(&batch);
            return batch
                .iter()
                .map(|_| Err(Error::Store(e.replicate())))
                .collect();
        }
    };
    for (incoming, &new) in batch.iter().zip(&new) {
        executions
            .shared
            .metrics()
            .event(&incoming.event.source, !new);
        executions.ingested(incoming, new, &mut after);
    }
    let landed = batch
        .iter()
        .zip(new)
        .map(|(incoming, new)| {
            Ok(Landed {
                new,
                executions: if new {
                    incoming.executions.iter().map(|e| e.id.clone()).collect()
                } else {
                    Vec::new()
                },
            })
        })
        .collect();
    after.spent_events = batch;
    after.spawn(executions);
    landed
}

/// Runs the batch's executions that can run to their end, and starts here those that can
/// start at once (`executions/slots.rs`). The runs' template contexts are added to `spent`.
async fn prepare(
    executions: &Executions,
    batch: &mut [IncomingEvent],
    spent: &mut Vec<Arc<Value>>,
) {
    let now = Timestamp::now();
    for incoming in batch {
        if let Ok(Some(routes)) = executions.routes(&incoming.event.account_id).await {
            executions.run_at_ingest(&routes, incoming, spent).await;
        }
        executions.start_at_ingest(&mut incoming.executions, now);
    }
}

/// A Dialpad event read from a webhook's body, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DialpadEvent {
    /// The JWT's claims: the event.
    pub payload: Value,
    /// The trigger keys the event maps to.
    pub keys: Vec<&'static str>,
    /// What a redelivery of the same event shares (`dedupe_key.rs`).
    pub dedupe_key: String,
}

/// Reads the body of `POST /webhooks/dialpad/{hook_id}` for the hook's `key` at `now`: the
/// verified claims (`jwt.rs`), their trigger keys and their redelivery digest. Pure, so the
/// fuzz targets (`crates/dialbridge-fuzz`) drive exactly what the route runs.
pub fn read_dialpad_event(body: &[u8], key: &WebhookKey, now: Timestamp) -> Result<DialpadEvent> {
    let payload = jwt::verify(body, key, now)?;
    Ok(DialpadEvent {
        keys: triggers::trigger_keys(&payload),
        dedupe_key: dedupe_key(&payload),
        payload,
    })
}
