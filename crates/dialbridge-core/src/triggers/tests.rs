//! The trigger catalog, Dialpad event classification, subscription needs and schedules.

use serde_json::{json, Map, Value};

use super::schedule::MAX_TICKS;
use super::*;
use crate::workflows::TriggerSpec;

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

fn ms(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
    jiff::civil::datetime(y, mo, d, h, mi, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond()
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
    assert!(contact.event_schema["properties"]["contact"]["properties"]["first_name"].is_object());
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
    let outbound = json!({ "id": "1", "direction": "outbound", "to_numbers": ["+14155550100"] });
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

    let shared = json!({ "change_type": "updated", "contact": { "id": "5", "type": "shared" } });
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
    assert!(schedule_ticks(&params("* * * * *", Some("Nowhere/City")), start, start + 1).is_err());
    assert!(schedule_ticks(&Map::new(), start, start + 1).is_err());
}

#[test]
fn params_checks_name_each_problem() {
    let problems = check_params("schedule", &params("0 25 * * *", Some("Europe/Pariss")));
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["trigger.params.cron", "trigger.params.timezone"]);
    assert!(check_params("schedule", &params("0 9 * * *", Some("Europe/Paris"))).is_empty());
    // Zone names are matched without regard to case.
    assert!(check_params("schedule", &params("0 9 * * *", Some("europe/paris"))).is_empty());
    let problems = check_params("event", &Map::new());
    assert_eq!(problems[0].field, "trigger.params.event");
    let problems = check_params(
        "call.state_changed",
        json!({ "call_states": [] }).as_object().unwrap(),
    );
    assert_eq!(problems[0].field, "trigger.params.call_states");
}
