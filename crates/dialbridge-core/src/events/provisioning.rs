//! What makes Dialpad send events: `reconcile` gives each connection one Dialpad webhook
//! (`<public_url>/webhooks/dialpad/{hook_id}`, its own secret) and exactly the subscriptions
//! its enabled workflows need; it runs when enablements or the connection change, on demand,
//! and at each account's audit (`subscription_audit.rs`), so subscriptions that vanished at
//! Dialpad come back.

use std::sync::Arc;

use dialpad::{RawBody, RawRequest, RawResponse};
use serde::Serialize;
use serde_json::{json, Value};

use crate::connections::ConnectionStatus;
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::ids::AccountId;
use crate::platform::Shared;
use crate::store::{ConnectionStore, HookRecord, HookStore, WorkflowStore};
use crate::time::Timestamp;
use crate::triggers::{self, SubscriptionNeeds};
use crate::workflows::Definition;

use super::subscription_audit::{next_audit, retry_failed};

/// The account's Dialpad webhook and subscriptions as dialbridge last left them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProvisioningView {
    pub hook_url: String,
    pub dialpad_webhook_id: Option<String>,
    #[schema(value_type = Object)]
    pub subscriptions: Value,
    /// `ok` or `error`.
    pub status: String,
    pub last_error: Option<String>,
    pub updated_at: Timestamp,
}

/// Subscription kinds, as `/api/v2/subscriptions/{kind}` names them, with the spec's
/// `operationId` stem.
const KINDS: [(&str, &str); 4] = [
    ("call", "webhook_call_event_subscription"),
    ("sms", "webhook_sms_event_subscription"),
    ("contact", "webhook_contact_event_subscription"),
    ("agent_status", "webhook_agent_status_event_subscription"),
];

/// Keeps each account's Dialpad webhook and subscriptions in line with its workflows.
#[derive(Clone)]
pub struct Provisioning {
    pub(crate) hooks: Arc<dyn HookStore>,
    pub(crate) workflows: Arc<dyn WorkflowStore>,
    pub(crate) connections: Arc<dyn ConnectionStore>,
    pub(crate) gateway: Gateway,
    pub(crate) shared: Shared,
}

impl Provisioning {
    /// After enablements or the connection change, the subscriptions the enabled workflows
    /// need are reconciled; a failure is recorded on the account's provisioning (and retried by
    /// the periodic reconcile), it does not undo the change.
    pub(crate) async fn sync(&self, account: &AccountId) {
        let connected = matches!(
            self.connections.get_connection(account).await,
            Ok(Some(c)) if c.status == ConnectionStatus::Connected
        );
        if !connected {
            return;
        }
        if let Err(e) = self.reconcile(account).await {
            tracing::warn!(account_id = %account, "reconciling Dialpad subscriptions failed: {e}");
        }
    }

    /// What the account's Dialpad webhook and subscriptions look like, if it has them.
    pub async fn view(&self, account: &AccountId) -> Result<Option<ProvisioningView>> {
        Ok(self
            .hooks
            .get_hook_for_account(account)
            .await?
            .map(|hook| self.provisioning_view(&hook)))
    }

    fn provisioning_view(&self, hook: &HookRecord) -> ProvisioningView {
        ProvisioningView {
            hook_url: self.hook_url(&hook.hook_id),
            dialpad_webhook_id: hook.dialpad_webhook_id.clone(),
            subscriptions: hook.subscriptions.clone(),
            status: hook.status.clone(),
            last_error: hook.last_error.clone(),
            updated_at: hook.updated_at,
        }
    }

    fn hook_url(&self, hook_id: &str) -> String {
        let base = self
            .shared
            .settings()
            .webhook_base_url
            .as_ref()
            .unwrap_or(&self.shared.settings().public_url);
        crate::platform::join(base, &format!("webhooks/dialpad/{hook_id}")).into()
    }

    /// Brings the account's Dialpad webhook and subscriptions in line with its enabled
    /// workflows; the outcome (or the failure) is recorded on the account's provisioning.
    pub async fn reconcile(&self, account: &AccountId) -> Result<Option<ProvisioningView>> {
        let needs = self.subscription_needs(account).await?;
        if needs.is_empty() {
            self.remove(account).await?;
            return Ok(None);
        }
        let mut hook = match self.hooks.get_hook_for_account(account).await? {
            Some(hook) => hook,
            None => {
                let hook = HookRecord {
                    hook_id: crate::crypto::random_token(16),
                    account_id: account.clone(),
                    dialpad_webhook_id: None,
                    secret: self.shared.seal(&crate::crypto::random_token(32)),
                    subscriptions: json!({}),
                    status: "pending".into(),
                    last_error: None,
                    updated_at: Timestamp::now(),
                    next_audit_at: Timestamp::now(),
                };
                self.hooks.put_hook(&hook).await?;
                self.shared.config_changed().await;
                hook
            }
        };
        let before = hook.clone();
        let outcome = self.provision(&mut hook, &needs).await;
        let now = Timestamp::now();
        let interval = self.shared.settings().audit_interval;
        match &outcome {
            Ok(()) => {
                hook.status = "ok".into();
                hook.last_error = None;
                hook.next_audit_at = next_audit(account, now, interval);
            }
            Err(error) => {
                tracing::warn!(account_id = %account, "provisioning Dialpad subscriptions failed: {error}");
                hook.status = "error".into();
                hook.last_error = Some(error.to_string());
                hook.next_audit_at = retry_failed(now, interval);
            }
        }
        let unchanged = hook.dialpad_webhook_id == before.dialpad_webhook_id
            && hook.subscriptions == before.subscriptions
            && hook.status == before.status
            && hook.last_error == before.last_error;
        if unchanged {
            self.hooks
                .set_next_audit(&hook.hook_id, hook.next_audit_at)
                .await?;
        } else {
            hook.updated_at = now;
            self.hooks.put_hook(&hook).await?;
        }
        outcome.map(|()| Some(self.provisioning_view(&hook)))
    }

    /// Deletes the account's Dialpad subscriptions (each kind), then its webhook, and forgets
    /// them. Dialpad does not document that deleting a webhook deletes its subscriptions (and
    /// allows only 100 per kind), so they are deleted one by one first. When Dialpad cannot be
    /// reached the local record is still removed: an orphaned webhook at Dialpad points at a
    /// hook id that no longer accepts anything.
    pub async fn remove(&self, account: &AccountId) -> Result<()> {
        let Some(hook) = self.hooks.get_hook_for_account(account).await? else {
            return Ok(());
        };
        if let Some(webhook_id) = &hook.dialpad_webhook_id {
            for (kind, stem) in KINDS {
                if let Err(e) = self
                    .remove_subscriptions(account, kind, stem, webhook_id)
                    .await
                {
                    tracing::warn!(account_id = %account, kind, "deleting Dialpad subscriptions failed: {e}");
                }
            }
            let path = format!("/api/v2/webhooks/{webhook_id}");
            let deleted = self
                .dialpad(account, "webhooks.delete", "DELETE", &path, None)
                .await;
            if let Err(e) = deleted.and_then(|r| gone(&r, "deleting the webhook")) {
                tracing::warn!(account_id = %account, "deleting the Dialpad webhook failed: {e}");
            }
        }
        self.hooks.delete_hook(&hook.hook_id).await?;
        self.shared.config_changed().await;
        Ok(())
    }

    /// Deletes every subscription of one kind that points at the webhook.
    async fn remove_subscriptions(
        &self,
        account: &AccountId,
        kind: &str,
        stem: &str,
        webhook_id: &str,
    ) -> Result<()> {
        for sub in self
            .list_subscriptions(account, kind, stem, webhook_id)
            .await?
        {
            let Some(id) = id_text(&sub["id"]) else {
                continue;
            };
            let path = format!("/api/v2/subscriptions/{kind}/{id}");
            let response = self
                .dialpad(account, &format!("{stem}.delete"), "DELETE", &path, None)
                .await?;
            gone(&response, "deleting a subscription")?;
        }
        Ok(())
    }

    async fn subscription_needs(&self, account: &AccountId) -> Result<SubscriptionNeeds> {
        let mut specs = Vec::new();
        for enablement in self.workflows.list_enablements(Some(account), None).await? {
            if let Some(workflow) = self
                .workflows
                .get_workflow(&enablement.workflow_key, None)
                .await?
            {
                if let Ok(definition) = Definition::from_value(&workflow.definition) {
                    specs.push(definition.trigger);
                }
            }
        }
        Ok(triggers::subscription_needs(specs.iter()))
    }

    /// Makes Dialpad's side match `needs`: the webhook exists, each wanted subscription exists
    /// once, others of this webhook are deleted.
    async fn provision(&self, hook: &mut HookRecord, needs: &SubscriptionNeeds) -> Result<()> {
        let account = hook.account_id.clone();
        let webhook_id = self.ensure_webhook(hook).await?;
        let mut provisioned = serde_json::Map::new();
        for (kind, stem) in KINDS {
            let wanted = wanted_subscriptions(kind, needs, &webhook_id);
            let existing = self
                .list_subscriptions(&account, kind, stem, &webhook_id)
                .await?;
            let mut kept = Vec::new();
            for sub in &existing {
                let id = sub["id"].as_str().unwrap_or_default().to_owned();
                if wanted.iter().any(|w| same_subscription(kind, w, sub))
                    && !kept.iter().any(|k: &Value| same_subscription(kind, k, sub))
                {
                    kept.push(sub.clone());
                } else {
                    let path = format!("/api/v2/subscriptions/{kind}/{id}");
                    let response = self
                        .dialpad(&account, &format!("{stem}.delete"), "DELETE", &path, None)
                        .await?;
                    expect_success(&response, "deleting a subscription")?;
                }
            }
            for want in wanted {
                if kept.iter().any(|k| same_subscription(kind, &want, k)) {
                    continue;
                }
                let path = format!("/api/v2/subscriptions/{kind}");
                let response = self
                    .dialpad(
                        &account,
                        &format!("{stem}.create"),
                        "POST",
                        &path,
                        Some(want),
                    )
                    .await?;
                expect_success(&response, "creating a subscription")?;
                kept.push(response.body());
            }
            if !kept.is_empty() {
                let summary: Vec<Value> = kept.iter().map(|s| summarize(kind, s)).collect();
                provisioned.insert(kind.to_owned(), Value::Array(summary));
            }
        }
        hook.subscriptions = Value::Object(provisioned);
        Ok(())
    }

    /// The Dialpad webhook of the hook, created (again) when missing.
    async fn ensure_webhook(&self, hook: &mut HookRecord) -> Result<String> {
        let account = hook.account_id.clone();
        if let Some(id) = &hook.dialpad_webhook_id {
            let path = format!("/api/v2/webhooks/{id}");
            let response = self
                .dialpad(&account, "webhooks.get", "GET", &path, None)
                .await?;
            let ours =
                response.body()["hook_url"].as_str() == Some(self.hook_url(&hook.hook_id).as_str());
            if response.is_success() && ours {
                return Ok(id.clone());
            }
            if response.status != 404 && !response.is_success() {
                expect_success(&response, "reading the webhook")?;
            }
        }
        let secret = self.shared.open(&hook.secret)?;
        let body = json!({ "hook_url": self.hook_url(&hook.hook_id), "secret": secret.expose() });
        let response = self
            .dialpad(
                &account,
                "webhooks.create",
                "POST",
                "/api/v2/webhooks",
                Some(body),
            )
            .await?;
        expect_success(&response, "creating the webhook")?;
        let id = id_text(&response.body()["id"])
            .ok_or_else(|| Error::Internal("Dialpad answered a webhook without an id".into()))?;
        hook.dialpad_webhook_id = Some(id.clone());
        self.hooks.put_hook(hook).await?;
        Ok(id)
    }

    /// This webhook's subscriptions of one kind, following cursors.
    async fn list_subscriptions(
        &self,
        account: &AccountId,
        kind: &str,
        stem: &str,
        webhook_id: &str,
    ) -> Result<Vec<Value>> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = raw("GET", &format!("/api/v2/subscriptions/{kind}"), None);
            if let Some(c) = &cursor {
                request.query.push(("cursor".into(), c.clone()));
            }
            let response = self
                .gateway
                .send_operation(account, &format!("{stem}.list"), &request)
                .await?;
            expect_success(&response, "listing subscriptions")?;
            let body = response.body();
            for sub in body["items"].as_array().into_iter().flatten() {
                if id_text(&sub["webhook"]["id"]).as_deref() == Some(webhook_id) {
                    found.push(sub.clone());
                }
            }
            match body["cursor"].as_str().filter(|c| !c.is_empty()) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(found),
            }
        }
    }

    async fn dialpad(
        &self,
        account: &AccountId,
        operation: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<RawResponse> {
        self.gateway
            .send_operation(account, operation, &raw(method, path, body))
            .await
    }
}

/// The create bodies the needs call for, for one kind.
fn wanted_subscriptions(kind: &str, needs: &SubscriptionNeeds, webhook_id: &str) -> Vec<Value> {
    let endpoint: Value = webhook_id
        .parse::<i64>()
        .map_or_else(|_| json!(webhook_id), |n| json!(n));
    match kind {
        "call" if !needs.call_states.is_empty() => {
            vec![
                json!({ "endpoint_id": endpoint, "call_states": needs.call_states, "enabled": true }),
            ]
        }
        "sms" if !needs.sms_directions.is_empty() => {
            let direction = if needs.sms_directions.len() > 1 {
                "all".to_owned()
            } else {
                needs
                    .sms_directions
                    .iter()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| "all".into())
            };
            vec![json!({ "endpoint_id": endpoint, "direction": direction, "enabled": true })]
        }
        "contact" => needs
            .contact_types
            .iter()
            .map(|t| json!({ "endpoint_id": endpoint, "contact_type": t, "enabled": true }))
            .collect(),
        "agent_status" if needs.agent_status => {
            vec![json!({ "endpoint_id": endpoint, "agent_type": "callcenter", "enabled": true })]
        }
        _ => Vec::new(),
    }
}

/// Whether an existing subscription (Dialpad's answer) serves a wanted one.
fn same_subscription(kind: &str, wanted: &Value, existing: &Value) -> bool {
    if existing.get("enabled") == Some(&json!(false)) && wanted.get("webhook").is_none() {
        return false;
    }
    let field = match kind {
        "call" => "call_states",
        "sms" => "direction",
        "contact" => "contact_type",
        _ => "agent_type",
    };
    let sorted = |v: &Value| -> Value {
        match v {
            Value::Array(items) => {
                let mut items: Vec<String> = items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect();
                items.sort();
                json!(items)
            }
            other => other.clone(),
        }
    };
    sorted(&wanted[field]) == sorted(&existing[field])
}

fn summarize(kind: &str, subscription: &Value) -> Value {
    let mut summary = json!({ "id": subscription["id"] });
    for field in ["call_states", "direction", "contact_type", "agent_type"] {
        if let Some(value) = subscription.get(field) {
            summary[field] = value.clone();
        }
    }
    summary["kind"] = json!(kind);
    summary
}

fn raw(method: &str, path: &str, body: Option<Value>) -> RawRequest {
    RawRequest {
        method: method.parse().unwrap_or(reqwest::Method::GET),
        path: path.to_owned(),
        query: Vec::new(),
        body: body.map(RawBody::Json),
    }
}

fn expect_success(response: &RawResponse, doing: &str) -> Result<()> {
    if response.is_success() {
        Ok(())
    } else {
        tracing::debug!(status = response.status, "Dialpad refused {doing}");
        Err(Error::Dialpad {
            status: response.status,
            body: response.body(),
        })
    }
}

/// Success, or a 404: what was to be deleted is gone either way.
fn gone(response: &RawResponse, doing: &str) -> Result<()> {
    if response.status == 404 {
        return Ok(());
    }
    expect_success(response, doing)
}

/// An int64 id as Dialpad writes it (a string) or as a number.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
