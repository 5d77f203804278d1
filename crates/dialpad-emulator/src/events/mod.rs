//! Dialpad events: what a change in the world tells the webhooks subscribed to it.
//! `emit` (called with the store locked) matches an event to the company's enabled
//! subscriptions and queues one delivery per matching webhook; `Emulator::flush_events`
//! (called after the lock is released) hands queued deliveries to the delivery tasks
//! (`delivery.rs`: signing, retries, the delivery log).
//!
//! # Which subscriptions an event reaches
//! Only enabled subscriptions of the event's own company (the call's, message's, contact's or
//! user's), and only when their webhook exists and belongs to that company:
//! - call: `call_states` names the call's new state or `all`; `group_calls_only` subscriptions
//!   get nothing (the emulator has no group calls); a target filter must match (below).
//! - sms: `direction` is `all` or the message's direction; a target filter must match;
//!   without `include_internal`, a message from one of the company's users to only the
//!   company's users is skipped. `status` (delivery-status updates) is accepted and ignored:
//!   the emulator sends one event per message, when it is sent or received.
//! - contact: `contact_type` (`local`/`shared`) is the contact's type.
//! - agent_status: every agent status event (`agent_type` is always `callcenter`).
//!
//! Target filter (`target_type`, `target_id`; either may be absent, absent matches all): the
//! call's `target` (`type`, `id`) or the message's `target_type`/`target_id` must equal it;
//! besides, `target_type: office` matches calls and messages whose target is a user of that
//! office. Other group targets (call centers, departments, …) do not exist in the emulator.
//!
//! Several matching subscriptions of one webhook make one delivery (it lists them all); what
//! the payload may carry is then the most any of them was allowed.
//!
//! # Payloads
//! Built when the event is emitted (a snapshot), as the JWT claims or the JSON body:
//! - call: `schemas.call.CallProto` plus `state` and `event_timestamp` (DIALPAD.md, "Call
//!   events"). `call_recording_share_links` and `voicemail_share_link` only when the
//!   subscription was created with `recordings_export` (or with an API key).
//! - sms: `schemas.sms.SMSProto`; `text` only with `message_content_export` or
//!   `message_content_export:all` (or an API key). The emulator does not narrow `:all`
//!   versus the user's own messages.
//! - contact: `{"change_type": "created"|"updated"|"deleted", "contact": ContactProto,
//!   "event_timestamp": "<ms>"}`. Dialpad documents the change type and the contact; the
//!   field names `change_type` and `event_timestamp` are unconfirmed (DIALPAD.md).
//! - agent_status: `{"agent_type": "callcenter", "user_id": "<id>", "status": "<status>",
//!   "event_timestamp": "<ms>"}`. Every field name here is unconfirmed: no public page shows
//!   an agent status payload.
//!
//! Epoch milliseconds are strings, as Dialpad writes every int64.

mod delivery;
mod payload;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

pub use delivery::{Attempt, DeliveryRecord, DeliverySettings, DeliveryState, SettingsPatch};

use crate::ids::{CompanyId, SubscriptionId, UserId, WebhookId};
use crate::store::Store;
use crate::world::{Call, Contact, Sms, Subscription, SubscriptionKind, TargetType, User, World};

/// Something that happened in a company, as subscriptions see it.
#[derive(Clone, Debug)]
pub enum Event {
    /// A call changed state; the call as it is after the change (its `state` is the new one).
    Call(Call),
    /// An SMS was sent or received.
    Sms(Sms),
    /// A contact was created, updated or deleted (the contact as it was last).
    Contact {
        change: ContactChange,
        contact: Contact,
    },
    /// A user's agent (call center duty) status changed.
    AgentStatus { user: User, status: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactChange {
    Created,
    Updated,
    Deleted,
}

impl ContactChange {
    /// The `change_type` of a contact event payload.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactChange::Created => "created",
            ContactChange::Updated => "updated",
            ContactChange::Deleted => "deleted",
        }
    }
}

/// The kind of an event, as the delivery log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Call,
    Sms,
    Contact,
    AgentStatus,
}

impl Event {
    /// The company whose subscriptions may hear of the event.
    pub fn company_id(&self) -> CompanyId {
        match self {
            Event::Call(call) => call.company_id,
            Event::Sms(sms) => sms.company_id,
            Event::Contact { contact, .. } => contact.company_id,
            Event::AgentStatus { user, .. } => user.company_id,
        }
    }

    pub fn event_type(&self) -> EventType {
        match self {
            Event::Call(_) => EventType::Call,
            Event::Sms(_) => EventType::Sms,
            Event::Contact { .. } => EventType::Contact,
            Event::AgentStatus { .. } => EventType::AgentStatus,
        }
    }
}

/// How many deliveries the log keeps (the oldest go first).
pub const LOG_CAPACITY: usize = 1000;

/// Queued deliveries waiting for `flush_events`, the delivery log, and the delivery settings.
#[derive(Debug)]
pub struct Outbox {
    /// Retry and timeout knobs, changed through `PATCH /_control/deliveries/settings`.
    pub settings: DeliverySettings,
    queue: Vec<Delivery>,
    log: VecDeque<DeliveryRecord>,
    next_id: u64,
    /// Changes on every clear (and a reset makes a new outbox): delivery tasks of an older
    /// generation stop instead of retrying into a log that no longer has them.
    generation: u64,
    /// Per webhook, the signal that the last delivery handed out made its first attempt; the
    /// next delivery to that webhook waits for it, so first attempts keep the event order.
    chains: HashMap<WebhookId, oneshot::Receiver<()>>,
}

/// Generations are unique in the process, so a reset (a new `Outbox`) is told apart too.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            settings: DeliverySettings::default(),
            queue: Vec::new(),
            log: VecDeque::new(),
            next_id: 1,
            generation: next_generation(),
            chains: HashMap::new(),
        }
    }
}

/// One event on its way to one webhook.
#[derive(Debug)]
struct Delivery {
    id: u64,
    webhook_id: WebhookId,
    hook_url: String,
    secret: Option<String>,
    payload: Value,
}

impl Outbox {
    /// The delivery log, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.log.iter().cloned().collect()
    }

    /// Forgets the log and anything queued; deliveries still retrying stop.
    pub fn clear(&mut self) {
        self.log.clear();
        self.queue.clear();
        self.chains.clear();
        self.generation = next_generation();
    }

    fn push(
        &mut self,
        webhook: &crate::world::Webhook,
        subscription_ids: Vec<SubscriptionId>,
        event_type: EventType,
        payload: Value,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(DeliveryRecord {
            id,
            webhook_id: webhook.id,
            subscription_ids,
            hook_url: webhook.hook_url.clone(),
            event_type,
            payload: payload.clone(),
            signed: webhook.secret.is_some(),
            attempts: Vec::new(),
            state: DeliveryState::Pending,
        });
        self.queue.push(Delivery {
            id,
            webhook_id: webhook.id,
            hook_url: webhook.hook_url.clone(),
            secret: webhook.secret.clone(),
            payload,
        });
        id
    }

    /// Records an attempt of delivery `id`; false when the delivery belongs to a cleared
    /// generation (its task should stop).
    fn record_attempt(
        &mut self,
        generation: u64,
        id: u64,
        attempt: Attempt,
        state: DeliveryState,
    ) -> bool {
        if self.generation != generation {
            return false;
        }
        // Newer deliveries are at the back; a record pushed out by the cap is simply gone.
        if let Some(record) = self.log.iter_mut().rev().find(|r| r.id == id) {
            record.attempts.push(attempt);
            record.state = state;
        }
        true
    }
}

/// Queues a delivery of `event` to every matching enabled subscription's webhook.
pub fn emit(store: &mut Store, event: Event) {
    queue(store, &event);
}

/// `emit`, answering the ids of the deliveries queued (for the control API's answers).
pub(crate) fn queue(store: &mut Store, event: &Event) -> Vec<u64> {
    let company = event.company_id();
    let now = crate::clock::now_ms();
    // Matching subscriptions grouped by webhook, in subscription order.
    let mut targets: Vec<(WebhookId, Vec<SubscriptionId>, payload::Access)> = Vec::new();
    for sub in &store.world.subscriptions {
        if !sub.enabled || sub.company_id != company || !matches(&store.world, sub, event) {
            continue;
        }
        let access = payload::Access::of(sub.scopes.as_deref());
        match targets
            .iter_mut()
            .find(|(webhook, ..)| *webhook == sub.webhook_id)
        {
            Some((_, subs, allowed)) => {
                subs.push(sub.id);
                *allowed = allowed.union(access);
            }
            None => targets.push((sub.webhook_id, vec![sub.id], access)),
        }
    }
    let mut ids = Vec::new();
    for (webhook_id, subs, access) in targets {
        let Some(webhook) = store
            .world
            .webhooks
            .iter()
            .find(|w| w.id == webhook_id && w.company_id == company)
        else {
            continue;
        };
        match payload::build(event, access, now) {
            Ok(payload) => ids.push(
                store
                    .events
                    .push(webhook, subs, event.event_type(), payload),
            ),
            Err(error) => tracing::warn!(%error, "could not serialize an event payload"),
        }
    }
    ids
}

fn matches(world: &World, sub: &Subscription, event: &Event) -> bool {
    match (&sub.kind, event) {
        (SubscriptionKind::Call(filter), Event::Call(call)) => {
            !filter.group_calls_only
                && filter
                    .call_states
                    .iter()
                    .any(|s| s == "all" || s == call.state.as_str())
                && target_matches(
                    world,
                    filter.target_type,
                    filter.target_id.as_deref(),
                    &call.target.kind,
                    &call.target.id,
                )
        }
        (SubscriptionKind::Sms(filter), Event::Sms(sms)) => {
            use crate::world::{Direction, SmsDirectionFilter};
            let direction = match filter.direction {
                SmsDirectionFilter::All => true,
                SmsDirectionFilter::Inbound => sms.direction == Direction::Inbound,
                SmsDirectionFilter::Outbound => sms.direction == Direction::Outbound,
            };
            direction
                && target_matches(
                    world,
                    filter.target_type,
                    filter.target_id.as_deref(),
                    target_type_name(sms.target_type),
                    &sms.target_id,
                )
                && (filter.include_internal || !is_internal(world, sms))
        }
        (SubscriptionKind::Contact(filter), Event::Contact { contact, .. }) => {
            filter.contact_type == contact.contact_type
        }
        (SubscriptionKind::AgentStatus(_), Event::AgentStatus { .. }) => true,
        _ => false,
    }
}

/// Whether a target (`kind`, `id`) passes a subscription's target filter (see the module doc).
fn target_matches(
    world: &World,
    want_type: Option<TargetType>,
    want_id: Option<&str>,
    kind: &str,
    id: &str,
) -> bool {
    let id_ok = |candidate: &str| want_id.is_none_or(|want| want == candidate);
    let direct = want_type.is_none_or(|t| target_type_name(t) == kind) && id_ok(id);
    if direct {
        return true;
    }
    // A user's calls and messages are their office's too.
    want_type == Some(TargetType::Office)
        && kind == "user"
        && id
            .parse::<UserId>()
            .ok()
            .and_then(|user| world.user(user))
            .is_some_and(|user| id_ok(&user.office_id.to_string()))
}

fn target_type_name(t: TargetType) -> &'static str {
    match t {
        TargetType::Callcenter => "callcenter",
        TargetType::Callrouter => "callrouter",
        TargetType::Channel => "channel",
        TargetType::Coachinggroup => "coachinggroup",
        TargetType::Coachingteam => "coachingteam",
        TargetType::Department => "department",
        TargetType::Office => "office",
        TargetType::Room => "room",
        TargetType::Staffgroup => "staffgroup",
        TargetType::Unknown => "unknown",
        TargetType::User => "user",
    }
}

/// A message between users of its own company: sent from one of the company's numbers to
/// nothing but the company's numbers.
fn is_internal(world: &World, sms: &Sms) -> bool {
    let ours = |number: &str| world.user_by_number(sms.company_id, number).is_some();
    ours(&sms.from_number) && !sms.to_numbers.is_empty() && sms.to_numbers.iter().all(|n| ours(n))
}
