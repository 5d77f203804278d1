//! Event subscriptions of the four kinds dialbridge uses — `call`, `sms`, `contact`,
//! `agent_status` — with one implementation: list (`target_type`/`target_id` filters for
//! call and SMS), get, create, update (only the fields given) and delete. Each points at a
//! webhook of the company (`endpoint_id`); at most 100 per kind per company, counting those
//! whose webhook was deleted (they outlive it, see `webhooks.rs`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::page::page;
use super::request::ApiRequest;
use crate::error::ApiError;
use crate::ids::{SubscriptionId, TargetId, WebhookId};
use crate::store::Store;
use crate::world::{
    AgentStatusSubscription, CallSubscription, ContactSubscription, ContactType,
    SmsDirectionFilter, SmsSubscription, Subscription, SubscriptionKind, TargetType,
};

/// Dialpad's cap of subscriptions per kind per company.
const MAX_PER_KIND: usize = 100;

/// The union of the kinds' create and update messages; the spec has already refused fields
/// a kind does not have.
#[derive(Deserialize)]
struct Fields {
    endpoint_id: Option<WebhookId>,
    enabled: Option<bool>,
    call_states: Option<Vec<String>>,
    group_calls_only: Option<bool>,
    target_type: Option<TargetType>,
    target_id: Option<TargetId>,
    direction: Option<SmsDirectionFilter>,
    include_internal: Option<bool>,
    status: Option<bool>,
    contact_type: Option<ContactType>,
    agent_type: Option<String>,
}

pub fn list(store: &mut Store, request: &ApiRequest, kind: &str) -> Result<Value, ApiError> {
    let target_type = request.query("target_type");
    let target_id = request.query("target_id");
    let items: Vec<Value> = store
        .world
        .subscriptions
        .iter()
        .filter(|s| s.company_id == request.caller.company_id && s.kind.segment() == kind)
        .filter(|s| {
            let (t, id) = target_of(&s.kind);
            target_type.is_none_or(|want| t.is_some_and(|t| name(&t) == want))
                && target_id.is_none_or(|want| id.is_some_and(|id| id == want))
        })
        .map(|s| proto(store, s))
        .collect();
    page(items, request)
}

pub fn get(store: &mut Store, request: &ApiRequest, kind: &str) -> Result<Value, ApiError> {
    let index = find(store, request, kind)?;
    Ok(proto(store, &store.world.subscriptions[index]))
}

pub fn create(store: &mut Store, request: &ApiRequest, kind: &str) -> Result<Value, ApiError> {
    let fields: Fields = request.body()?;
    let company = request.caller.company_id;
    let webhook_id = fields.endpoint_id.ok_or_else(|| {
        ApiError::BadRequest(
            "endpoint_id is required: the id of the webhook that receives the events".into(),
        )
    })?;
    check_webhook(store, request, webhook_id)?;
    let count = store
        .world
        .subscriptions
        .iter()
        .filter(|s| s.company_id == company && s.kind.segment() == kind)
        .count();
    if count >= MAX_PER_KIND {
        return Err(ApiError::BadRequest(format!(
            "the company already has {MAX_PER_KIND} {kind} event subscriptions, the most Dialpad allows per type; delete one first"
        )));
    }
    check_target(&fields)?;
    let target_id = fields.target_id.map(|id| id.to_string());
    let subscription_kind = match kind {
        "call" => SubscriptionKind::Call(CallSubscription {
            call_states: fields
                .call_states
                .filter(|states| !states.is_empty())
                .unwrap_or_else(|| vec!["all".into()]),
            group_calls_only: fields.group_calls_only.unwrap_or(false),
            target_type: fields.target_type,
            target_id,
        }),
        "sms" => SubscriptionKind::Sms(SmsSubscription {
            direction: fields
                .direction
                .ok_or_else(|| ApiError::BadRequest("direction is required".into()))?,
            include_internal: fields.include_internal.unwrap_or(false),
            status: fields.status.unwrap_or(false),
            target_type: fields.target_type,
            target_id,
        }),
        "contact" => SubscriptionKind::Contact(ContactSubscription {
            contact_type: fields
                .contact_type
                .ok_or_else(|| ApiError::BadRequest("contact_type is required".into()))?,
        }),
        _ => SubscriptionKind::AgentStatus(AgentStatusSubscription {
            agent_type: fields
                .agent_type
                .ok_or_else(|| ApiError::BadRequest("agent_type is required".into()))?,
        }),
    };
    let subscription = Subscription {
        id: SubscriptionId(store.world.next_id()),
        company_id: company,
        webhook_id,
        enabled: fields.enabled.unwrap_or(true),
        kind: subscription_kind,
        scopes: request.caller.scopes.clone(),
    };
    let answer = proto(store, &subscription);
    store.world.subscriptions.push(subscription);
    Ok(answer)
}

pub fn update(store: &mut Store, request: &ApiRequest, kind: &str) -> Result<Value, ApiError> {
    let fields: Fields = request.body()?;
    let index = find(store, request, kind)?;
    if let Some(webhook_id) = fields.endpoint_id {
        check_webhook(store, request, webhook_id)?;
    }
    check_target(&fields)?;
    let subscription = &mut store.world.subscriptions[index];
    if let Some(webhook_id) = fields.endpoint_id {
        subscription.webhook_id = webhook_id;
    }
    if let Some(enabled) = fields.enabled {
        subscription.enabled = enabled;
    }
    let target_id = fields.target_id.map(|id| id.to_string());
    match &mut subscription.kind {
        SubscriptionKind::Call(call) => {
            if let Some(states) = fields.call_states.filter(|s| !s.is_empty()) {
                call.call_states = states;
            }
            if let Some(v) = fields.group_calls_only {
                call.group_calls_only = v;
            }
            if fields.target_type.is_some() {
                call.target_type = fields.target_type;
                call.target_id = target_id;
            }
        }
        SubscriptionKind::Sms(sms) => {
            if let Some(v) = fields.direction {
                sms.direction = v;
            }
            if let Some(v) = fields.include_internal {
                sms.include_internal = v;
            }
            if let Some(v) = fields.status {
                sms.status = v;
            }
            if fields.target_type.is_some() {
                sms.target_type = fields.target_type;
                sms.target_id = target_id;
            }
        }
        SubscriptionKind::Contact(contact) => {
            if let Some(v) = fields.contact_type {
                contact.contact_type = v;
            }
        }
        SubscriptionKind::AgentStatus(agent) => {
            if let Some(v) = fields.agent_type {
                agent.agent_type = v;
            }
        }
    }
    Ok(proto(store, &store.world.subscriptions[index]))
}

pub fn delete(store: &mut Store, request: &ApiRequest, kind: &str) -> Result<Value, ApiError> {
    let index = find(store, request, kind)?;
    let removed = store.world.subscriptions.remove(index);
    Ok(proto(store, &removed))
}

fn proto(store: &Store, subscription: &Subscription) -> Value {
    let webhook = store
        .world
        .webhooks
        .iter()
        .find(|w| w.id == subscription.webhook_id);
    subscription.proto(webhook)
}

fn check_webhook(store: &Store, request: &ApiRequest, id: WebhookId) -> Result<(), ApiError> {
    if store
        .world
        .webhooks
        .iter()
        .any(|w| w.id == id && w.company_id == request.caller.company_id)
    {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "endpoint_id {id} is not a webhook of this company; create one with POST /api/v2/webhooks"
        )))
    }
}

/// `target_type` and `target_id` come together or not at all.
fn check_target(fields: &Fields) -> Result<(), ApiError> {
    match (fields.target_type, fields.target_id) {
        (Some(_), None) | (None, Some(_)) => Err(ApiError::BadRequest(
            "target_type and target_id must be given together".into(),
        )),
        _ => Ok(()),
    }
}

fn target_of(kind: &SubscriptionKind) -> (Option<TargetType>, Option<&str>) {
    match kind {
        SubscriptionKind::Call(c) => (c.target_type, c.target_id.as_deref()),
        SubscriptionKind::Sms(s) => (s.target_type, s.target_id.as_deref()),
        _ => (None, None),
    }
}

fn name(target: &TargetType) -> String {
    json!(target).as_str().unwrap_or_default().to_owned()
}

fn find(store: &Store, request: &ApiRequest, kind: &str) -> Result<usize, ApiError> {
    let id: SubscriptionId = request.id("id", "subscription")?;
    store
        .world
        .subscriptions
        .iter()
        .position(|s| {
            s.id == id && s.company_id == request.caller.company_id && s.kind.segment() == kind
        })
        .ok_or_else(|| ApiError::NotFound(format!("{kind} subscription {id} not found")))
}
