//! The trigger catalog: what can start a workflow, each trigger's parameters and event shape;
//! what a Dialpad event means (its kind, the trigger keys it fires), which Dialpad
//! subscriptions enabled triggers need, and the ticks of a `schedule` trigger.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::FieldError;
use crate::workflows::TriggerSpec;

/// A trigger as `GET /api/v1/triggers` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerInfo {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the trigger's `params` (closed: unknown parameters are errors).
    pub params_schema: Value,
    /// JSON Schema of what expressions see as `event`.
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

/// The most ticks `schedule_ticks` answers for one window.
pub const MAX_TICKS: usize = 1000;

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

/// The Dialpad subscriptions a set of enabled triggers needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionNeeds {
    /// Call states to subscribe to; just `all` when any trigger wants every state.
    pub call_states: BTreeSet<String>,
    /// `inbound` and/or `outbound` (both may become one `all` subscription: the caller's
    /// choice).
    pub sms_directions: BTreeSet<String>,
    /// `local` and/or `shared`.
    pub contact_types: BTreeSet<String>,
    pub agent_status: bool,
}

impl SubscriptionNeeds {
    /// Whether nothing at Dialpad is needed.
    pub fn is_empty(&self) -> bool {
        self.call_states.is_empty()
            && self.sms_directions.is_empty()
            && self.contact_types.is_empty()
            && !self.agent_status
    }
}

/// The union of what `specs` need from Dialpad; unknown keys and non-Dialpad triggers add
/// nothing.
pub fn subscription_needs<'a>(
    specs: impl IntoIterator<Item = &'a TriggerSpec>,
) -> SubscriptionNeeds {
    let mut needs = SubscriptionNeeds::default();
    for spec in specs {
        let Some(def) = find(&spec.key) else { continue };
        match def.source {
            Source::CallState { state, .. } => {
                needs.call_states.insert(state.to_owned());
            }
            Source::CallStates => {
                let states = spec.params.get("call_states").and_then(Value::as_array);
                for state in states.into_iter().flatten().filter_map(Value::as_str) {
                    needs.call_states.insert(state.to_owned());
                }
            }
            Source::Sms { direction } => {
                needs.sms_directions.insert(direction.to_owned());
            }
            Source::Contact => match spec.params.get("contact_type").and_then(Value::as_str) {
                Some(kind) => {
                    needs.contact_types.insert(kind.to_owned());
                }
                None => needs
                    .contact_types
                    .extend(CONTACT_TYPES.iter().map(|t| (*t).to_owned())),
            },
            Source::AgentStatus => needs.agent_status = true,
            Source::Vendor | Source::Schedule | Source::Api => {}
        }
    }
    if needs.call_states.contains("all") {
        needs.call_states = BTreeSet::from(["all".to_owned()]);
    }
    needs
}

/// Parses a cron expression of 5 fields, or 6 with seconds first (or a nickname such as
/// `@daily`).
fn parse_cron(expression: &str) -> Result<Cron, String> {
    let expression = expression.trim();
    if !expression.starts_with('@') {
        let fields = expression.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "'{expression}' has {fields} fields; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
            ));
        }
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| format!("'{expression}' is not a valid cron expression: {e}"))
}

fn parse_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(name.trim()).map_err(|_| {
        format!("'{name}' is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)")
    })
}

/// The ticks (epoch ms) of a `schedule` trigger with `params` `{cron, timezone?}` in
/// `(after_ms, until_ms]`, oldest first, at most `MAX_TICKS` of them. The expression is read
/// in the time zone's wall clock, so `0 9 * * *` stays at 9:00 local across DST changes; a
/// time skipped by a DST jump runs once just after the gap, a repeated one runs once.
pub fn schedule_ticks(
    params: &Map<String, Value>,
    after_ms: i64,
    until_ms: i64,
) -> Result<Vec<i64>, String> {
    let expression = params
        .get("cron")
        .and_then(Value::as_str)
        .ok_or("the schedule trigger needs params.cron")?;
    let cron = parse_cron(expression)?;
    let tz = match params.get("timezone").and_then(Value::as_str) {
        Some(name) => parse_timezone(name)?,
        None => chrono_tz::UTC,
    };
    if until_ms <= after_ms {
        return Ok(Vec::new());
    }
    let start: DateTime<Utc> = DateTime::from_timestamp_millis(after_ms)
        .ok_or_else(|| format!("{after_ms} is not a time"))?;
    let ticks = cron
        .iter_after(tz.from_utc_datetime(&start.naive_utc()))
        .map(|tick| tick.timestamp_millis())
        .take_while(|ms| *ms <= until_ms)
        .take(MAX_TICKS)
        .collect();
    Ok(ticks)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &str, params: Value) -> TriggerSpec {
        TriggerSpec {
            key: key.into(),
            filter: None,
            params: params.as_object().cloned().unwrap_or_default(),
        }
    }

    fn call_event(state: &str, direction: &str) -> Value {
        json!({ "call_id": "6512306011824128", "state": state, "direction": direction, "external_number": "+14155550100", "contact": { "type": "local" } })
    }

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_catalog_has_every_design_trigger_with_closed_params() {
        let catalog = trigger_catalog();
        let keys: Vec<&str> = catalog.iter().map(|t| t.key).collect();
        assert_eq!(
            keys,
            [
                "call.outbound_started",
                "call.inbound_ringing",
                "call.connected",
                "call.voicemail_started",
                "call.hangup",
                "call.voicemail_transcribed",
                "call.recording_processed",
                "call.state_changed",
                "sms.received",
                "sms.sent",
                "contact.changed",
                "agent_status.changed",
                "event",
                "schedule",
                "api"
            ]
        );
        for info in &catalog {
            assert_eq!(info.params_schema["additionalProperties"], json!(false));
            jsonschema::validator_for(&info.params_schema).unwrap();
            jsonschema::validator_for(&info.event_schema).unwrap();
        }
        let hangup = trigger("call.hangup").unwrap();
        let properties = &hangup.event_schema["properties"];
        for field in [
            "call_id",
            "state",
            "direction",
            "external_number",
            "duration",
            "contact",
            "target",
            "master_call_id",
        ] {
            assert!(properties[field].is_object(), "{field}");
        }
        assert!(properties["state"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("voicemail_uploaded")));
        let sms = trigger("sms.received").unwrap();
        assert!(sms.event_schema["properties"]["to_numbers"].is_object());
        let contact = trigger("contact.changed").unwrap();
        assert!(
            contact.event_schema["properties"]["contact"]["properties"]["first_name"].is_object()
        );
        assert_eq!(
            trigger("schedule").unwrap().params_schema["required"],
            json!(["cron"])
        );
        assert!(trigger("nope").is_none());
        // A real call event fits its schema.
        let validator = jsonschema::validator_for(&hangup.event_schema).unwrap();
        let event = json!({ "call_id": "1", "state": "hangup", "direction": "inbound", "date_started": "1700000000000", "duration": 1000.0, "event_timestamp": "1700000001000", "labels": [] });
        assert!(
            validator.is_valid(&event),
            "{:?}",
            validator
                .iter_errors(&event)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn call_events_fire_the_trigger_of_their_state() {
        let cases: [(&str, &str, &[&str]); 12] = [
            ("calling", "outbound", &["call.outbound_started"]),
            ("calling", "inbound", &[]),
            ("ringing", "inbound", &["call.inbound_ringing"]),
            ("ringing", "outbound", &[]),
            ("connected", "inbound", &["call.connected"]),
            ("connected", "outbound", &["call.connected"]),
            ("voicemail", "inbound", &["call.voicemail_started"]),
            ("hangup", "inbound", &["call.hangup"]),
            ("hangup", "outbound", &["call.hangup"]),
            (
                "voicemail_uploaded",
                "inbound",
                &["call.voicemail_transcribed"],
            ),
            ("recording", "outbound", &["call.recording_processed"]),
            ("hold", "inbound", &[]),
        ];
        for (state, direction, expected) in cases {
            let event = call_event(state, direction);
            assert_eq!(classify(&event), Some(DialpadEventKind::Call));
            let mut want: Vec<&str> = expected.to_vec();
            want.push("call.state_changed");
            assert_eq!(trigger_keys(&event), want, "{state} {direction}");
        }
    }

    #[test]
    fn sms_contact_and_agent_events_are_told_apart() {
        let inbound = json!({ "id": "4771330891137024", "direction": "inbound", "from_number": "+14155550100", "to_numbers": ["+14155550199"], "text": "hi", "target_id": "1", "target_type": "user" });
        assert_eq!(classify(&inbound), Some(DialpadEventKind::Sms));
        assert_eq!(trigger_keys(&inbound), ["sms.received"]);
        let outbound =
            json!({ "id": "1", "direction": "outbound", "to_numbers": ["+14155550100"] });
        assert_eq!(trigger_keys(&outbound), ["sms.sent"]);
        // Without message_content_export there is no text, but there are the numbers.
        let no_text =
            json!({ "id": "1", "direction": "inbound", "from_number": "+1", "to_numbers": [] });
        assert_eq!(classify(&no_text), Some(DialpadEventKind::Sms));

        let contact = json!({ "change_type": "created", "contact": { "id": "5", "type": "shared", "first_name": "Ada" }, "event_timestamp": "1700000000000" });
        assert_eq!(classify(&contact), Some(DialpadEventKind::Contact));
        assert_eq!(trigger_keys(&contact), ["contact.changed"]);

        let agent = json!({ "agent_type": "callcenter", "user_id": "7", "status": "available", "event_timestamp": "1700000000000" });
        assert_eq!(classify(&agent), Some(DialpadEventKind::AgentStatus));
        assert_eq!(trigger_keys(&agent), ["agent_status.changed"]);

        for other in [
            json!({ "hello": 1 }),
            json!([1]),
            json!("x"),
            json!({ "call_id": "1" }),
        ] {
            assert_eq!(classify(&other), None, "{other}");
            assert!(trigger_keys(&other).is_empty());
        }
    }

    #[test]
    fn params_narrow_what_fires() {
        let ringing = call_event("ringing", "inbound");
        let hangup = call_event("hangup", "inbound");
        let chosen = spec(
            "call.state_changed",
            json!({ "call_states": ["ringing", "connected"] }),
        );
        assert!(params_match(&chosen, &ringing));
        assert!(!params_match(&chosen, &hangup));
        let all = spec("call.state_changed", json!({ "call_states": ["all"] }));
        assert!(params_match(&all, &hangup));
        assert!(params_match(&spec("call.hangup", json!({})), &hangup));
        assert!(!params_match(&spec("call.hangup", json!({})), &ringing));
        assert!(!params_match(
            &spec("call.outbound_started", json!({})),
            &call_event("calling", "inbound")
        ));
        assert!(!params_match(&spec("sms.received", json!({})), &hangup));

        let shared =
            json!({ "change_type": "updated", "contact": { "id": "5", "type": "shared" } });
        let local = json!({ "change_type": "updated", "contact": { "id": "6", "type": "local" } });
        let only_shared = spec("contact.changed", json!({ "contact_type": "shared" }));
        assert!(params_match(&only_shared, &shared));
        assert!(!params_match(&only_shared, &local));
        assert!(params_match(&spec("contact.changed", json!({})), &local));

        // Dialpad events never fire the vendor, schedule or API triggers.
        for key in ["event", "schedule", "api", "nope"] {
            assert!(
                !params_match(&spec(key, json!({ "event": "x" })), &hangup),
                "{key}"
            );
        }
        let vendor = spec("event", json!({ "event": "order.created" }));
        assert!(event_name_matches(&vendor, "order.created"));
        assert!(!event_name_matches(&vendor, "order.deleted"));
        assert!(!event_name_matches(
            &spec("api", json!({})),
            "order.created"
        ));
    }

    #[test]
    fn subscription_needs_are_the_union_of_the_triggers() {
        let specs = [
            spec("call.hangup", json!({})),
            spec("call.inbound_ringing", json!({})),
            spec(
                "call.state_changed",
                json!({ "call_states": ["hangup", "voicemail"] }),
            ),
            spec("call.voicemail_transcribed", json!({})),
            spec("sms.received", json!({})),
            spec("contact.changed", json!({ "contact_type": "shared" })),
            spec("event", json!({ "event": "x" })),
            spec("schedule", json!({ "cron": "* * * * *" })),
            spec("api", json!({})),
        ];
        let needs = subscription_needs(&specs);
        assert_eq!(
            needs
                .call_states
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["hangup", "ringing", "voicemail", "voicemail_uploaded"]
        );
        assert_eq!(needs.sms_directions.iter().collect::<Vec<_>>(), ["inbound"]);
        assert_eq!(needs.contact_types.iter().collect::<Vec<_>>(), ["shared"]);
        assert!(!needs.agent_status);
        assert!(!needs.is_empty());

        let more = [
            spec("sms.sent", json!({})),
            spec("sms.received", json!({})),
            spec("contact.changed", json!({})),
            spec("agent_status.changed", json!({})),
            spec("call.state_changed", json!({ "call_states": ["all"] })),
            spec("call.connected", json!({})),
        ];
        let needs = subscription_needs(&more);
        assert_eq!(needs.call_states.iter().collect::<Vec<_>>(), ["all"]);
        assert_eq!(
            needs.sms_directions.iter().collect::<Vec<_>>(),
            ["inbound", "outbound"]
        );
        assert_eq!(
            needs.contact_types.iter().collect::<Vec<_>>(),
            ["local", "shared"]
        );
        assert!(needs.agent_status);

        assert!(subscription_needs(&[spec("api", json!({}))]).is_empty());
        assert!(subscription_needs(std::iter::empty()).is_empty());
    }

    fn params(cron: &str, timezone: Option<&str>) -> Map<String, Value> {
        let mut params = Map::new();
        params.insert("cron".into(), json!(cron));
        if let Some(tz) = timezone {
            params.insert("timezone".into(), json!(tz));
        }
        params
    }

    #[test]
    fn schedule_ticks_follow_the_wall_clock_across_dst() {
        // New York leaves daylight saving time on 2026-11-01: 9:00 is 13:00 UTC before, 14:00 after.
        let ticks = schedule_ticks(
            &params("0 9 * * *", Some("America/New_York")),
            ms(2026, 10, 30, 0, 0),
            ms(2026, 11, 3, 0, 0),
        )
        .unwrap();
        assert_eq!(
            ticks,
            [
                ms(2026, 10, 30, 13, 0),
                ms(2026, 10, 31, 13, 0),
                ms(2026, 11, 1, 14, 0),
                ms(2026, 11, 2, 14, 0)
            ]
        );
        // 1:30 happens twice on 2026-11-01 in New York; it runs once.
        let ticks = schedule_ticks(
            &params("30 1 * * *", Some("America/New_York")),
            ms(2026, 10, 31, 12, 0),
            ms(2026, 11, 2, 12, 0),
        )
        .unwrap();
        assert_eq!(ticks.len(), 2, "{ticks:?}");
        assert_eq!(ticks[1], ms(2026, 11, 2, 6, 30));
        // 2:30 does not happen on 2026-03-08; it runs once that day, just after the gap.
        let ticks = schedule_ticks(
            &params("30 2 * * *", Some("America/New_York")),
            ms(2026, 3, 7, 12, 0),
            ms(2026, 3, 9, 12, 0),
        )
        .unwrap();
        assert_eq!(ticks.len(), 2, "{ticks:?}");
        assert!(
            ticks[0] >= ms(2026, 3, 8, 7, 0) && ticks[0] <= ms(2026, 3, 8, 7, 30),
            "{ticks:?}"
        );
        assert_eq!(ticks[1], ms(2026, 3, 9, 6, 30));
    }

    #[test]
    fn schedule_ticks_are_in_the_half_open_window() {
        let hourly = params("0 * * * *", None);
        let start = ms(2026, 1, 1, 10, 0);
        // A tick at `after` is excluded; one at `until` is included.
        assert_eq!(
            schedule_ticks(&hourly, start, start + 3_600_000).unwrap(),
            [start + 3_600_000]
        );
        assert!(schedule_ticks(&hourly, start, start + 3_599_999)
            .unwrap()
            .is_empty());
        assert!(schedule_ticks(&hourly, start, start).unwrap().is_empty());
        assert!(schedule_ticks(&hourly, start, start - 1)
            .unwrap()
            .is_empty());
        // Six fields: seconds first.
        let ticks = schedule_ticks(
            &params("*/15 * * * * *", Some("UTC")),
            start,
            start + 60_000,
        )
        .unwrap();
        assert_eq!(ticks, [15_000, 30_000, 45_000, 60_000].map(|d| start + d));
        // Day-of-week is POSIX: 1-5 is Monday to Friday (2026-01-03 is a Saturday).
        let weekdays = schedule_ticks(
            &params("0 9 * * 1-5", None),
            ms(2026, 1, 2, 0, 0),
            ms(2026, 1, 6, 0, 0),
        )
        .unwrap();
        assert_eq!(weekdays, [ms(2026, 1, 2, 9, 0), ms(2026, 1, 5, 9, 0)]);
        // Capped.
        let every_second =
            schedule_ticks(&params("* * * * * *", None), start, start + 86_400_000).unwrap();
        assert_eq!(every_second.len(), MAX_TICKS);
        assert!(schedule_ticks(&params("nope", None), start, start + 1).is_err());
        assert!(
            schedule_ticks(&params("* * * * *", Some("Nowhere/City")), start, start + 1).is_err()
        );
        assert!(schedule_ticks(&Map::new(), start, start + 1).is_err());
    }

    #[test]
    fn params_checks_name_each_problem() {
        let problems = check_params("schedule", &params("0 25 * * *", Some("Europe/Pariss")));
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["trigger.params.cron", "trigger.params.timezone"]);
        assert!(check_params("schedule", &params("0 9 * * *", Some("Europe/Paris"))).is_empty());
        let problems = check_params("event", &Map::new());
        assert_eq!(problems[0].field, "trigger.params.event");
        let problems = check_params(
            "call.state_changed",
            json!({ "call_states": [] }).as_object().unwrap(),
        );
        assert_eq!(problems[0].field, "trigger.params.call_states");
    }
}
