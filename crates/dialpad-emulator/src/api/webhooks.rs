//! Webhooks: list, get, create (`hook_url`, optional `secret` to sign events), update and
//! delete, as `schemas.webhook.WebhookProto`. Deleting a webhook leaves its subscriptions in
//! place: Dialpad does not document a cascade, so the emulator takes the stricter reading —
//! they stay listable, deliver nothing, and count toward the cap of 100 per kind.

use serde::Deserialize;
use serde_json::Value;

use super::page::page;
use super::request::ApiRequest;
use crate::error::ApiError;
use crate::ids::WebhookId;
use crate::store::Store;
use crate::world::Webhook;

pub fn list(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let webhooks: Vec<Value> = store
        .world
        .webhooks
        .iter()
        .filter(|w| w.company_id == request.caller.company_id)
        .map(Webhook::proto)
        .collect();
    page(webhooks, request)
}

pub fn get(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find(store, request)?;
    Ok(store.world.webhooks[index].proto())
}

#[derive(Deserialize)]
struct WebhookFields {
    hook_url: Option<String>,
    secret: Option<String>,
}

pub fn create(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: WebhookFields = request.body()?;
    let hook_url = body
        .hook_url
        .ok_or_else(|| ApiError::BadRequest("hook_url is required".into()))?;
    check_url(&hook_url)?;
    let webhook = Webhook {
        id: WebhookId(store.world.next_id()),
        company_id: request.caller.company_id,
        hook_url,
        secret: body.secret.filter(|s| !s.is_empty()),
    };
    let proto = webhook.proto();
    store.world.webhooks.push(webhook);
    Ok(proto)
}

pub fn update(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: WebhookFields = request.body()?;
    if let Some(url) = &body.hook_url {
        check_url(url)?;
    }
    let index = find(store, request)?;
    let webhook = &mut store.world.webhooks[index];
    if let Some(url) = body.hook_url {
        webhook.hook_url = url;
    }
    if let Some(secret) = body.secret {
        webhook.secret = Some(secret).filter(|s| !s.is_empty());
    }
    Ok(webhook.proto())
}

pub fn delete(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find(store, request)?;
    let webhook = store.world.webhooks.remove(index);
    Ok(webhook.proto())
}

fn check_url(url: &str) -> Result<(), ApiError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        _ => Err(ApiError::BadRequest(format!(
            "hook_url must be an absolute http(s) URL, not {url:?}"
        ))),
    }
}

fn find(store: &Store, request: &ApiRequest) -> Result<usize, ApiError> {
    let id: WebhookId = request.id("id", "webhook")?;
    store
        .world
        .webhooks
        .iter()
        .position(|w| w.id == id && w.company_id == request.caller.company_id)
        .ok_or_else(|| ApiError::NotFound(format!("webhook {id} not found")))
}
