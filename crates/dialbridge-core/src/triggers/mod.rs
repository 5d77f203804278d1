//! Triggers: what can start a workflow. Here the catalog — each trigger's parameters and
//! event shape, and the check of a workflow's params; what a Dialpad event means (its kind,
//! the trigger keys it fires) in `classify.rs`; which Dialpad subscriptions enabled triggers
//! need in `subscriptions.rs`; the ticks of a `schedule` trigger in `schedule.rs`.

mod classify;
mod schedule;
mod subscriptions;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{json, Map, Value};

pub use classify::{classify, event_name_matches, params_match, trigger_keys, DialpadEventKind};
pub use schedule::schedule_ticks;
pub use subscriptions::{subscription_needs, SubscriptionNeeds};

use crate::error::FieldError;
use schedule::{parse_cron, parse_timezone};

/// A trigger as `GET /api/v1/triggers` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriggerInfo {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the trigger's `params` (closed: unknown parameters are errors).
    #[schema(value_type = Object)]
    pub params_schema: Value,
    /// JSON Schema of what expressions see as `event`.
    #[schema(value_type = Object)]
    pub event_schema: Value,
}

/// Dialpad's call states (the spec's enum for call subscriptions).
pub const CALL_STATES: [&str; 32] = [
    "admin",
    "admin_recording",
    "ai_playbook",
    "all",
    "barge",
    "blocked",
    "call_transcription",
    "calling",
    "connected",
    "csat",
    "dispositions",
    "eavesdrop",
    "hangup",
    "hold",
    "merged",
    "missed",
    "monitor",
    "parked",
    "pcsat",
    "postcall",
    "preanswer",
    "queued",
    "recap_action_items",
    "recap_outcome",
    "recap_purposes",
    "recap_summary",
    "recording",
    "ringing",
    "takeover",
    "transcription",
    "voicemail",
    "voicemail_uploaded",
];

/// Contact types a contact subscription takes.
pub const CONTACT_TYPES: [&str; 2] = ["local", "shared"];

/// Where a trigger's events come from, and what of them it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A call event in `state`, optionally only in one direction.
    CallState {
        state: &'static str,
        direction: Option<&'static str>,
    },
    /// Call events in the states listed in `params.call_states`.
    CallStates,
    Sms {
        direction: &'static str,
    },
    Contact,
    AgentStatus,
    Vendor,
    Schedule,
    Api,
}

struct TriggerDef {
    key: &'static str,
    name: &'static str,
    description: &'static str,
    source: Source,
}

const fn call(
    key: &'static str,
    name: &'static str,
    description: &'static str,
    state: &'static str,
    direction: Option<&'static str>,
) -> TriggerDef {
    TriggerDef {
        key,
        name,
        description,
        source: Source::CallState { state, direction },
    }
}

static TRIGGERS: &[TriggerDef] = &[
    call("call.outbound_started", "Outbound call started", "An outbound call starts (call state `calling`, direction outbound).", "calling", Some("outbound")),
    call("call.inbound_ringing", "Inbound call ringing", "An inbound call rings (call state `ringing`, direction inbound).", "ringing", Some("inbound")),
    call("call.connected", "Call connected", "A call is answered (call state `connected`).", "connected", None),
    call("call.voicemail_started", "Voicemail started", "A caller starts leaving a voicemail (call state `voicemail`).", "voicemail", None),
    call("call.hangup", "Call hangup", "A call ends (call state `hangup`).", "hangup", None),
    call("call.voicemail_transcribed", "Voicemail transcribed", "A voicemail is ready, with its transcription (call state `voicemail_uploaded`).", "voicemail_uploaded", None),
    call("call.recording_processed", "Call recording processed", "A call recording is ready (call state `recording`).", "recording", None),
    TriggerDef {
        key: "call.state_changed",
        name: "Call state changed",
        description: "A call enters any of the states listed in params.call_states (`all` for every state).",
        source: Source::CallStates,
    },
    TriggerDef {
        key: "sms.received",
        name: "SMS received",
        description: "An inbound SMS arrives.",
        source: Source::Sms { direction: "inbound" },
    },
    TriggerDef {
        key: "sms.sent",
        name: "SMS sent",
        description: "An outbound SMS is sent.",
        source: Source::Sms { direction: "outbound" },
    },
    TriggerDef {
        key: "contact.changed",
        name: "Contact changed",
        description: "A contact is created, updated or deleted; params.contact_type (local or shared) narrows it.",
        source: Source::Contact,
    },
    TriggerDef {
        key: "agent_status.changed",
        name: "Agent status changed",
        description: "A call center agent's status changes.",
        source: Source::AgentStatus,
    },
    TriggerDef {
        key: "event",
        name: "Vendor event",
        description: "The vendor posts the event named by params.event (POST /api/v1/accounts/{id}/events/{name}); `event` is the posted JSON.",
        source: Source::Vendor,
    },
    TriggerDef {
        key: "schedule",
        name: "Schedule",
        description: "Runs for every account that enabled it on a cron schedule (params.cron, 5 or 6 fields; params.timezone, an IANA name, default UTC).",
        source: Source::Schedule,
    },
    TriggerDef {
        key: "api",
        name: "API call",
        description: "Runs when called (POST /api/v1/accounts/{id}/workflows/{key}/executions); `event` is the posted input.",
        source: Source::Api,
    },
];

static CATALOG: LazyLock<Vec<TriggerInfo>> = LazyLock::new(|| TRIGGERS.iter().map(info).collect());

/// Every trigger of the catalog.
pub fn trigger_catalog() -> Vec<TriggerInfo> {
    CATALOG.clone()
}

/// One trigger of the catalog.
pub fn trigger(key: &str) -> Option<TriggerInfo> {
    CATALOG.iter().find(|t| t.key == key).cloned()
}

/// Every trigger key, in catalog order.
pub fn trigger_key_names() -> Vec<&'static str> {
    TRIGGERS.iter().map(|t| t.key).collect()
}

fn find(key: &str) -> Option<&'static TriggerDef> {
    TRIGGERS.iter().find(|t| t.key == key)
}

fn info(def: &TriggerDef) -> TriggerInfo {
    TriggerInfo {
        key: def.key,
        name: def.name,
        description: def.description,
        params_schema: params_schema(def.source),
        event_schema: event_schema(def.source),
    }
}

fn closed_object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn params_schema(source: Source) -> Value {
    match source {
        Source::CallStates => closed_object(
            json!({ "call_states": {
                "type": "array",
                "description": "The call states that start the workflow (`all` for every state).",
                "items": { "type": "string", "enum": CALL_STATES },
                "minItems": 1,
                "uniqueItems": true,
            }}),
            &["call_states"],
        ),
        Source::Contact => closed_object(
            json!({ "contact_type": {
                "type": "string",
                "description": "Only contacts of this type; both when absent.",
                "enum": CONTACT_TYPES,
            }}),
            &[],
        ),
        Source::Vendor => closed_object(
            json!({ "event": {
                "type": "string",
                "description": "The event's name, as posted to /api/v1/accounts/{id}/events/{name}.",
                "minLength": 1,
                "maxLength": 128,
            }}),
            &["event"],
        ),
        Source::Schedule => closed_object(
            json!({
                "cron": {
                    "type": "string",
                    "description": "A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first). Day-of-week 0 or 7 is Sunday.",
                },
                "timezone": {
                    "type": "string",
                    "description": "The IANA time zone the expression is read in (e.g. America/New_York); default UTC.",
                },
            }),
            &["cron"],
        ),
        _ => closed_object(json!({}), &[]),
    }
}

/// A Dialpad resource schema from the spec (the 200 response of `operation_id`), described
/// as an event: open to fields the spec does not list.
fn spec_object(operation_id: &str) -> Map<String, Value> {
    let schema = dialpad_spec::spec()
        .operation(operation_id)
        .and_then(|o| o.response_schema());
    match schema {
        Some(Value::Object(mut schema)) => {
            schema.insert("type".into(), json!("object"));
            schema.insert("additionalProperties".into(), json!(true));
            schema
        }
        _ => Map::from_iter([("type".into(), json!("object"))]),
    }
}

fn event_timestamp() -> Value {
    json!({
        "type": ["string", "integer"],
        "description": "When Dialpad emitted the event (milliseconds since the epoch, as a string).",
    })
}

fn event_schema(source: Source) -> Value {
    match source {
        Source::CallState { .. } | Source::CallStates => {
            let mut schema = spec_object("call.get_call_info");
            schema.insert("title".into(), json!("Call event"));
            let properties = schema
                .entry("properties")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|p| {
                    p.insert(
                        "state".into(),
                        json!({ "type": "string", "description": "The call's new state.", "enum": CALL_STATES }),
                    );
                    p.insert("event_timestamp".into(), event_timestamp());
                })
                .is_some();
            if properties {
                schema.insert("required".into(), json!(["call_id", "state"]));
            }
            Value::Object(schema)
        }
        Source::Sms { .. } => {
            let mut schema = spec_object("sms.send");
            schema.insert("title".into(), json!("SMS event"));
            Value::Object(schema)
        }
        Source::Contact => json!({
            "title": "Contact event",
            "type": "object",
            "properties": {
                "change_type": { "type": "string", "enum": ["created", "updated", "deleted"] },
                "contact": Value::Object(spec_object("contacts.get")),
                "event_timestamp": event_timestamp(),
            },
            "required": ["change_type", "contact"],
        }),
        Source::AgentStatus => json!({
            "title": "Agent status event",
            "type": "object",
            "properties": {
                "agent_type": { "type": "string", "description": "The kind of agent, e.g. callcenter." },
                "user_id": { "type": ["string", "integer"], "description": "The agent's Dialpad user id." },
                "status": { "type": "string", "description": "The agent's new status." },
                "event_timestamp": event_timestamp(),
            },
            "required": ["user_id"],
        }),
        Source::Vendor => json!({
            "title": "Vendor event",
            "type": "object",
            "description": "The JSON the vendor posted.",
        }),
        Source::Api => json!({
            "title": "API input",
            "type": "object",
            "description": "The `input` posted to start the execution.",
        }),
        Source::Schedule => json!({
            "title": "Schedule tick",
            "type": "object",
            "properties": {
                "scheduled_at": { "type": "integer", "description": "The tick (milliseconds since the epoch)." },
            },
            "required": ["scheduled_at"],
        }),
    }
}

/// Checks a trigger's params against its `params_schema` and what the schema cannot say (the
/// cron expression and time zone); problems are at `trigger.params.<name>`.
pub(crate) fn check_params(key: &str, params: &Map<String, Value>) -> Vec<FieldError> {
    let Some(def) = find(key) else {
        return Vec::new();
    };
    let base = "trigger.params";
    let mut problems = Vec::new();
    let schema = params_schema(def.source);
    let known: Vec<&str> = schema["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for name in params.keys() {
        if !known.contains(&name.as_str()) {
            let expected = if known.is_empty() {
                format!("the {key} trigger takes no parameters")
            } else {
                format!("the {key} trigger takes: {}", known.join(", "))
            };
            problems.push(FieldError::new(
                format!("{base}.{name}"),
                format!("unknown parameter '{name}'; {expected}"),
            ));
        }
    }
    for name in schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !params.contains_key(name) {
            problems.push(FieldError::new(
                format!("{base}.{name}"),
                format!("the {key} trigger needs params.{name}"),
            ));
        }
    }
    for (name, value) in params {
        let Some(property) = schema["properties"].get(name) else {
            continue;
        };
        let field = format!("{base}.{name}");
        problems.extend(crate::workflows::schema_problems(
            property, value, &field, false,
        ));
    }
    if def.source == Source::Schedule {
        if let Some(expression) = params.get("cron").and_then(Value::as_str) {
            if let Err(e) = parse_cron(expression) {
                problems.push(FieldError::new(format!("{base}.cron"), e));
            }
        }
        if let Some(name) = params.get("timezone").and_then(Value::as_str) {
            if let Err(e) = parse_timezone(name) {
                problems.push(FieldError::new(format!("{base}.timezone"), e));
            }
        }
    }
    problems
}
