//! Webhooks (where events go, with an optional HS256 secret) and the event subscriptions that
//! point at them: call, SMS, contact and agent status. A subscription is answered with its
//! webhook inside, as `schemas.*_event_subscription.*Proto`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids::{CompanyId, SubscriptionId, WebhookId};

#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: WebhookId,
    pub company_id: CompanyId,
    pub hook_url: String,
    pub secret: Option<String>,
}

impl Webhook {
    /// `schemas.webhook.WebhookProto`; `signature` only when events are signed.
    pub fn proto(&self) -> Value {
        let mut proto = json!({ "id": self.id, "hook_url": self.hook_url });
        if let Some(secret) = &self.secret {
            proto["signature"] = json!({ "algo": "HS256", "secret": secret, "type": "jwt" });
        }
        proto
    }
}

/// The spec's target types (of calls, SMS and subscriptions).
#[allow(dead_code)] // the spec's full enum
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Callcenter,
    Callrouter,
    Channel,
    Coachinggroup,
    Coachingteam,
    Department,
    Office,
    Room,
    Staffgroup,
    Unknown,
    User,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsDirectionFilter {
    All,
    Inbound,
    Outbound,
}

#[derive(Clone, Debug, Serialize)]
pub struct CallSubscription {
    pub call_states: Vec<String>,
    pub group_calls_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SmsSubscription {
    pub direction: SmsDirectionFilter,
    pub include_internal: bool,
    pub status: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContactSubscription {
    pub contact_type: super::ContactType,
}

#[derive(Clone, Debug, Serialize)]
pub struct AgentStatusSubscription {
    pub agent_type: String,
}

#[derive(Clone, Debug)]
pub enum SubscriptionKind {
    Call(CallSubscription),
    Sms(SmsSubscription),
    Contact(ContactSubscription),
    AgentStatus(AgentStatusSubscription),
}

impl SubscriptionKind {
    /// The path segment of the kind: `/api/v2/subscriptions/{segment}`.
    pub fn segment(&self) -> &'static str {
        match self {
            SubscriptionKind::Call(_) => "call",
            SubscriptionKind::Sms(_) => "sms",
            SubscriptionKind::Contact(_) => "contact",
            SubscriptionKind::AgentStatus(_) => "agent_status",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub company_id: CompanyId,
    pub webhook_id: WebhookId,
    pub enabled: bool,
    pub kind: SubscriptionKind,
    /// The scopes of the token that created the subscription; `None` when an API key created
    /// it (everything allowed). Decides what its events may carry (`events` module).
    pub scopes: Option<Vec<String>>,
}

impl Subscription {
    /// The proto of the subscription's kind, with its webhook embedded; a subscription whose
    /// webhook was deleted shows only the webhook's id.
    pub fn proto(&self, webhook: Option<&Webhook>) -> Value {
        let mut proto = match &self.kind {
            SubscriptionKind::Call(k) => serde_json::to_value(k),
            SubscriptionKind::Sms(k) => serde_json::to_value(k),
            SubscriptionKind::Contact(k) => serde_json::to_value(k),
            SubscriptionKind::AgentStatus(k) => serde_json::to_value(k),
        }
        .unwrap_or_else(|_| json!({}));
        proto["id"] = json!(self.id);
        proto["enabled"] = json!(self.enabled);
        proto["webhook"] = match webhook {
            Some(webhook) => webhook.proto(),
            None => json!({ "id": self.webhook_id }),
        };
        proto
    }
}
