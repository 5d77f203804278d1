//! What a Dialpad event means: its kind, the trigger keys it fires, and whether it satisfies a
//! workflow trigger's params.

use serde::Serialize;
use serde_json::Value;

use super::{find, Source, TRIGGERS};
use crate::workflows::TriggerSpec;

/// The kind of a Dialpad event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DialpadEventKind {
    Call,
    Sms,
    Contact,
    AgentStatus,
}

fn has(payload: &Value, field: &str) -> bool {
    payload.get(field).is_some_and(|v| !v.is_null())
}

fn text<'p>(payload: &'p Value, field: &str) -> Option<&'p str> {
    payload.get(field).and_then(Value::as_str)
}

/// What a Dialpad event payload is: a call (`call_id` and `state`), an SMS (`id`,
/// `direction` and `to_numbers`, or `from_number` and `text`), a contact change (`contact` and
/// `change_type`), or an agent status (`agent_type` or `status`, and `user_id`).
pub fn classify(payload: &Value) -> Option<DialpadEventKind> {
    if !payload.is_object() {
        return None;
    }
    if has(payload, "call_id") && has(payload, "state") {
        Some(DialpadEventKind::Call)
    } else if has(payload, "contact") && has(payload, "change_type") {
        Some(DialpadEventKind::Contact)
    } else if (has(payload, "id") && has(payload, "direction") && has(payload, "to_numbers"))
        || (has(payload, "from_number") && has(payload, "text"))
    {
        Some(DialpadEventKind::Sms)
    } else if (has(payload, "agent_type") || has(payload, "status")) && has(payload, "user_id") {
        Some(DialpadEventKind::AgentStatus)
    } else {
        None
    }
}

/// The trigger keys a Dialpad event fires, most specific first (a call always fires
/// `call.state_changed` last).
pub fn trigger_keys(payload: &Value) -> Vec<&'static str> {
    match classify(payload) {
        Some(DialpadEventKind::Call) => {
            let state = text(payload, "state");
            let direction = text(payload, "direction");
            let mut keys: Vec<&'static str> = TRIGGERS
                .iter()
                .filter(|t| match t.source {
                    Source::CallState {
                        state: s,
                        direction: d,
                    } => state == Some(s) && d.is_none_or(|d| direction == Some(d)),
                    _ => false,
                })
                .map(|t| t.key)
                .collect();
            keys.push("call.state_changed");
            keys
        }
        Some(DialpadEventKind::Sms) => match text(payload, "direction") {
            Some("inbound") => vec!["sms.received"],
            Some("outbound") => vec!["sms.sent"],
            _ => Vec::new(),
        },
        Some(DialpadEventKind::Contact) => vec!["contact.changed"],
        Some(DialpadEventKind::AgentStatus) => vec!["agent_status.changed"],
        None => Vec::new(),
    }
}

/// Whether a Dialpad event fires a workflow's trigger: the event fires the trigger's key
/// (`trigger_keys`) and satisfies its params (`call.state_changed`: the state is one of
/// `call_states`, or `all` is; `contact.changed`: the contact's type is `contact_type` when
/// set). Always false for `event`, `schedule` and `api`, which Dialpad events never fire.
pub fn params_match(spec: &TriggerSpec, payload: &Value) -> bool {
    let Some(def) = find(&spec.key) else {
        return false;
    };
    if !trigger_keys(payload).contains(&def.key) {
        return false;
    }
    match def.source {
        Source::CallStates => {
            let state = text(payload, "state");
            spec.params
                .get("call_states")
                .and_then(Value::as_array)
                .is_some_and(|states| {
                    states
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|s| s == "all" || Some(s) == state)
                })
        }
        Source::Contact => match spec.params.get("contact_type").and_then(Value::as_str) {
            Some(wanted) => payload
                .get("contact")
                .and_then(|c| text(c, "type"))
                .is_some_and(|t| t == wanted),
            None => true,
        },
        Source::Vendor | Source::Schedule | Source::Api => false,
        _ => true,
    }
}

/// Whether the vendor event `name` fires an `event` trigger.
pub fn event_name_matches(spec: &TriggerSpec, name: &str) -> bool {
    spec.key == "event" && spec.params.get("event").and_then(Value::as_str) == Some(name)
}
