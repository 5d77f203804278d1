//! Workflows end to end against the emulator over real HTTP: a simulated missed inbound call
//! runs a workflow that looks the call up and texts the caller; forged, unsigned and
//! redelivered events; provisioning and reconciling Dialpad subscriptions; a failing step
//! and its replay; precise errors when a definition is saved.

use std::time::Duration;

use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{self, eventually, eventually_within, Backend, Options, TestApp};

const MISSED_CALL: &str = r#"
name: Text back missed callers
trigger:
  type: call.hangup
  filter: "event.direction == 'inbound'"
config:
  reply_from: {type: string, required: true, description: Number to text from}
steps:
  - id: call
    action: get_call
    input: {id: "{{ event.call_id }}"}
  - id: missed
    if: "steps.call.output.duration == 0"
    then:
      - id: sms
        action: send_sms
        input:
          user_id: "{{ event.target.id }}"
          from_number: "{{ config.reply_from }}"
          to_numbers: ["{{ event.external_number }}"]
          text: "Sorry we missed you, {{ event.contact.name }}."
"#;

async fn save_yaml(app: &TestApp, key: &str, yaml: &str) -> (StatusCode, Value) {
    let response = app
        .api(Method::PUT, &format!("/api/v1/workflows/{key}"))
        .header("content-type", "application/yaml")
        .body(yaml.to_owned())
        .send()
        .await
        .unwrap();
    support::read(response).await
}

async fn with_missed_call_workflow() -> TestApp {
    missed_call_workflow_on(Backend::Sqlite).await
}

async fn missed_call_workflow_on(backend: Backend) -> TestApp {
    let app = TestApp::connected_on(backend, "acme").await;
    let (status, body) = save_yaml(&app, "missed-call", MISSED_CALL).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({ "key": "missed-call", "version": 1 }));
    enable_missed_call(&app).await;
    app
}

async fn enable_missed_call(app: &TestApp) {
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme/workflows/missed-call",
            Some(json!({ "config": { "reply_from": "+14155550101" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Saves a JSON definition (a new workflow) and enables it for `acme` with no config.
pub(crate) async fn save_and_enable(app: &TestApp, key: &str, definition: Value) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/workflows/{key}"),
            Some(definition),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    enable(app, key).await;
}

/// Enables the workflow `key` for `acme` with an empty config.
async fn enable(app: &TestApp, key: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/accounts/acme/workflows/{key}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn executions(app: &TestApp) -> Vec<Value> {
    let (status, page) = app.get("/api/v1/executions?account_id=acme").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

pub(crate) async fn wait_finished(app: &TestApp, id: &str) -> Value {
    wait_finished_within(app, id, Duration::from_secs(10)).await
}

async fn dialpad_sms(app: &TestApp) -> Vec<Value> {
    let (_, log) = app
        .emulator_call(Method::GET, "/_control/requests", None)
        .await;
    log.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v2/sms")
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect()
}

/// A company-admin API key of the emulator's first company (Acme), to look at Dialpad's side.
async fn emulator_admin_key(app: &TestApp) -> String {
    let company = app
        .emulator_call(Method::GET, "/_control/companies", None)
        .await
        .1[0]["id"]
        .clone();
    let (_, key) = app
        .emulator_call(
            Method::POST,
            "/_control/api-keys",
            Some(json!({ "company_id": company })),
        )
        .await;
    key["api_key"].as_str().unwrap().to_owned()
}

/// The secret Dialpad signs this account's events with, read back from the emulator.
async fn dialpad_secret(app: &TestApp) -> (String, String) {
    let (_, account) = app.get("/api/v1/accounts/acme").await;
    let hook_url = account["dialpad_events"]["hook_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook_id = account["dialpad_events"]["dialpad_webhook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = emulator_admin_key(app).await;
    let webhook = app
        .dialpad_get(&format!("/api/v2/webhooks/{webhook_id}"), &key)
        .await;
    (
        hook_url,
        webhook["signature"]["secret"].as_str().unwrap().to_owned(),
    )
}

on_both_backends!(a_missed_inbound_call_texts_the_caller_back);

async fn a_missed_inbound_call_texts_the_caller_back(backend: Backend) {
    let app = missed_call_workflow_on(backend).await;
    // Enabling provisioned one webhook and the one subscription the workflow needs.
    let (_, account) = app.get("/api/v1/accounts/acme").await;
    let events = &account["dialpad_events"];
    assert_eq!(events["status"], "ok", "{account}");
    assert!(events["hook_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/webhooks/dialpad/", app.base)));
    assert_eq!(
        events["subscriptions"]["call"][0]["call_states"],
        json!(["hangup"])
    );

    let (status, call) = app
        .emulator_call(
            Method::POST,
            "/_control/calls",
            Some(json!({ "direction": "inbound", "scenario": "missed" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    eventually("the workflow ran", || async {
        !executions(&app).await.is_empty()
    })
    .await;
    let id = executions(&app).await[0]["id"].as_str().unwrap().to_owned();
    let execution = wait_finished(&app, &id).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(
        execution["trigger"]["keys"],
        json!(["call.hangup", "call.state_changed"])
    );
    let steps: Vec<&str> = execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["call", "missed", "missed.sms"]);
    let sms = dialpad_sms(&app).await;
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0]["to_numbers"], json!(["+14155550150"]));
    assert_eq!(sms[0]["from_number"], "+14155550101");
    assert_eq!(
        sms[0]["user_id"],
        json!(5910974510923776_i64),
        "sent in the spec's type"
    );
    assert_eq!(sms[0]["text"], "Sorry we missed you, Dana Diaz.");

    // An answered inbound call runs the workflow but texts nobody; an outbound call is
    // filtered out before any execution starts.
    app.emulator_call(
        Method::POST,
        "/_control/calls",
        Some(json!({ "direction": "inbound" })),
    )
    .await;
    app.emulator_call(
        Method::POST,
        "/_control/calls",
        Some(json!({ "direction": "outbound" })),
    )
    .await;
    // A marker: Dialpad sends a webhook's events one after another in order, and dialbridge
    // stores an event's executions before it answers, so once the marker call's execution
    // exists the outbound call's event was handled.
    app.emulator_call(
        Method::POST,
        "/_control/calls",
        Some(json!({ "direction": "inbound" })),
    )
    .await;
    eventually("the answered call and the marker ran", || async {
        executions(&app).await.len() >= 3
    })
    .await;
    let listed = executions(&app).await;
    assert_eq!(listed.len(), 3, "the outbound call started nothing");
    for execution in &listed {
        let execution = wait_finished(&app, execution["id"].as_str().unwrap()).await;
        assert_eq!(execution["status"], "succeeded");
        assert_eq!(execution["event"]["direction"], "inbound", "{execution:#}");
    }
    let second = listed[1]["id"].as_str().unwrap();
    let execution = wait_finished(&app, second).await;
    assert_eq!(execution["steps"][1]["output"]["branch"], "else");
    assert_eq!(dialpad_sms(&app).await.len(), 1);
    app.shutdown().await;
}

/// A Dialpad event's execution that starts at ingest takes its account's room before the
/// commit; a redelivery, which stores nothing, gives it back. With room for one execution per
/// account, a new event after five redeliveries still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redeliveries_give_back_the_room_they_took() {
    let options = Options {
        serve_args: vec!["--account-concurrency".into(), "1".into()],
        ..Options::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, options).await;
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    let on_hangup = json!({
        "name": "On hangup",
        "trigger": { "type": "call.hangup" },
        "steps": [{ "id": "echo", "set": { "call": "{{ event.call_id }}" } }],
    });
    save_and_enable(&app, "on-hangup", on_hangup).await;
    let (hook_url, secret) = dialpad_secret(&app).await;
    let post = |call_id: &str| {
        let event = json!({ "call_id": call_id, "state": "hangup", "direction": "inbound" });
        let signed = encode(
            &Header::default(),
            &event,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        let request = app
            .http
            .post(&hook_url)
            .header("content-type", "application/jwt")
            .body(signed);
        async move { support::read(request.send().await.unwrap()).await }
    };
    let (status, first) = post("1").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let done = wait_finished(&app, first["executions"][0].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    for _ in 0..5 {
        let (status, again) = post("1").await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["duplicate"], true, "{again}");
    }
    let (status, next) = post("2").await;
    assert_eq!(status, StatusCode::OK, "{next}");
    let done = wait_finished(&app, next["executions"][0].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done["steps"][0]["output"], json!({ "call": "2" }));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_unsigned_and_redelivered_events() {
    let app = with_missed_call_workflow().await;
    let (hook_url, secret) = dialpad_secret(&app).await;
    let event = json!({
        "call_id": "4800000000000099", "state": "hangup", "direction": "inbound",
        "external_number": "+14155550150", "internal_number": "+14155550101",
        "duration": 0, "contact": { "name": "Dana Diaz" }, "target": { "id": "5910974510923776", "type": "user" },
    });
    let post = |body: String, content_type: &'static str| {
        let request = app
            .http
            .post(&hook_url)
            .header("content-type", content_type)
            .body(body);
        async move { support::read(request.send().await.unwrap()).await }
    };
    let (status, body) = post(event.to_string(), "application/json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_signature");
    let forged = encode(
        &Header::default(),
        &event,
        &EncodingKey::from_secret(b"not the secret"),
    )
    .unwrap();
    let (status, _) = post(forged, "application/jwt").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .http
        .post(format!("{}/webhooks/dialpad/unknown-hook", app.base))
        .body("x")
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(executions(&app).await.is_empty(), "nothing ran");

    let signed = encode(
        &Header::default(),
        &event,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let (status, first) = post(signed.clone(), "application/jwt").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["executions"].as_array().unwrap().len(), 1);
    // Delivered twice more: each copy a duplicate that starts nothing.
    for _ in 0..2 {
        let (status, again) = post(signed.clone(), "application/jwt").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["executions"], json!([]));
    }
    // An event's executions are stored before it is answered: nothing can appear later.
    assert_eq!(
        executions(&app).await.len(),
        1,
        "the redelivery ran nothing"
    );
    // The events page's duplicate flag: the stored event counts the copy.
    let (status, page) = app.get("/api/v1/events?account_id=acme").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let stored: Vec<(&str, i64)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap(),
                e["redeliveries"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored, [("dialpad", 2)], "{page}");
    // And `/metrics` counts one new event and two redeliveries.
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await;
    let metrics = metrics.unwrap().text().await.unwrap();
    for line in [
        r#"dialbridge_events_total{source="dialpad",duplicate="false"} 1"#,
        r#"dialbridge_events_total{source="dialpad",duplicate="true"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line}\n---\n{metrics}");
    }
    // The unsigned and the forged delivery were not stored, but this process says why.
    let (status, refused) = app.get("/api/v1/events/refused?account_id=acme").await;
    assert_eq!(status, StatusCode::OK, "{refused}");
    let codes: Vec<&str> = refused["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["invalid_signature", "invalid_signature"],
        "{refused}"
    );
    let (_, none) = app.get("/api/v1/events/refused?account_id=other").await;
    assert_eq!(none["items"], json!([]));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriptions_follow_enablement_and_come_back_when_they_vanish() {
    let app = with_missed_call_workflow().await;
    let (_, account) = app.get("/api/v1/accounts/acme").await;
    let sub_id = account["dialpad_events"]["subscriptions"]["call"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = emulator_admin_key(&app).await;
    let list_calls_subs = || async {
        let page = app.dialpad_get("/api/v2/subscriptions/call", &key).await;
        page["items"].as_array().unwrap().clone()
    };
    assert_eq!(list_calls_subs().await.len(), 1);

    // Someone deletes the subscription at Dialpad; an on-demand reconcile recreates it.
    app.http
        .delete(format!(
            "{}/api/v2/subscriptions/call/{sub_id}",
            app.emulator_url
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(list_calls_subs().await.is_empty());
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/subscriptions/reconcile",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recreated = list_calls_subs().await;
    assert_eq!(recreated.len(), 1);
    assert_eq!(recreated[0]["call_states"], json!(["hangup"]));

    // Disabling the only workflow deletes its subscriptions, then the webhook (the emulator
    // keeps a deleted webhook's subscriptions, so none may be left to a cascade).
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/v1/accounts/acme/workflows/missed-call",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(list_calls_subs().await.is_empty());
    let (_, account) = app.get("/api/v1/accounts/acme").await;
    assert!(account.get("dialpad_events").is_none(), "{account}");

    // Enabled again, then disconnected: everything goes.
    app.call(
        Method::PUT,
        "/api/v1/accounts/acme/workflows/missed-call",
        Some(json!({ "config": { "reply_from": "+14155550101" } })),
    )
    .await;
    assert_eq!(list_calls_subs().await.len(), 1);
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/accounts/acme/connection", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(list_calls_subs().await.is_empty());
    app.shutdown().await;
}

/// What dialbridge holds at Dialpad for the account: subscriptions per kind, and webhooks.
async fn dialpad_side(app: &TestApp, key: &str) -> (Vec<usize>, usize) {
    let mut per_kind = Vec::new();
    for kind in ["call", "sms", "contact", "agent_status"] {
        let page = app
            .dialpad_get(&format!("/api/v2/subscriptions/{kind}"), key)
            .await;
        per_kind.push(page["items"].as_array().unwrap().len());
    }
    let webhooks = app.dialpad_get("/api/v2/webhooks", key).await;
    (per_kind, webhooks["items"].as_array().unwrap().len())
}

/// Disabling the workflows or disconnecting deletes every subscription dialbridge made, each
/// kind, and then the webhook: Dialpad does not say a webhook's subscriptions go with it, and
/// the emulator keeps them, so nothing here relies on a cascade.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removal_deletes_each_kind_of_subscription_then_the_webhook() {
    let app = TestApp::connected("acme").await;
    let workflows = [
        ("calls", json!({ "type": "call.hangup" })),
        ("texts", json!({ "type": "sms.received" })),
        (
            "contacts",
            json!({ "type": "contact.changed", "params": { "contact_type": "shared" } }),
        ),
        ("agents", json!({ "type": "agent_status.changed" })),
    ];
    for (key, trigger) in &workflows {
        let definition = json!({
            "name": key, "trigger": trigger, "steps": [{ "id": "noop", "set": { "seen": true } }],
        });
        save_and_enable(&app, key, definition).await;
    }
    let dialpad_key = emulator_admin_key(&app).await;
    assert_eq!(
        dialpad_side(&app, &dialpad_key).await,
        (vec![1, 1, 1, 1], 1)
    );

    for (key, _) in &workflows {
        let (status, body) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/accounts/acme/workflows/{key}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(
        dialpad_side(&app, &dialpad_key).await,
        (vec![0, 0, 0, 0], 0),
        "disabling the last workflow leaves nothing at Dialpad"
    );

    for (key, _) in &workflows {
        enable(&app, key).await;
    }
    assert_eq!(
        dialpad_side(&app, &dialpad_key).await,
        (vec![1, 1, 1, 1], 1)
    );
    let (status, body) = app
        .call(Method::DELETE, "/api/v1/accounts/acme/connection", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        dialpad_side(&app, &dialpad_key).await,
        (vec![0, 0, 0, 0], 0),
        "disconnecting leaves nothing at Dialpad"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_step_fails_the_execution_and_a_replay_after_the_fix_succeeds() {
    let app = TestApp::connected("acme").await;
    let yaml = r#"
name: New lead
trigger: {type: api}
steps:
  - id: contact
    action: create_contact
    input: {first_name: "{{ event.first }}", last_name: "{{ event.last }}"}
  - id: note
    set: {created: "{{ steps.contact.output.id }}"}
"#;
    let (status, body) = save_yaml(&app, "new-lead", yaml).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.call(
        Method::PUT,
        "/api/v1/accounts/acme/workflows/new-lead",
        Some(json!({})),
    )
    .await;

    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "fault_every_nth": 1, "fault_status": 503 })),
    )
    .await;
    let (status, started) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/workflows/new-lead/executions",
            Some(json!({ "input": { "first": "Ada", "last": "Lovelace" } })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let failed = wait_finished(&app, started["execution_id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(failed["error"]["step"], "contact");
    let step = &failed["steps"][0];
    assert_eq!(step["status"], "failed");
    assert_eq!(step["error"]["code"], "dialpad_error");
    assert_eq!(step["error"]["status"], 503, "Dialpad's status is recorded");
    assert_eq!(
        step["input"],
        json!({ "first_name": "Ada", "last_name": "Lovelace" })
    );

    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "fault_every_nth": 0 })),
    )
    .await;
    let (status, replay) = app
        .call(
            Method::POST,
            &format!(
                "/api/v1/executions/{}/replay",
                failed["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    let done = wait_finished(&app, replay["execution_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done["replay_of"], failed["id"]);
    assert_eq!(
        done["steps"][1]["output"]["created"],
        done["steps"][0]["output"]["id"]
    );

    // Dialpad's 4xx is recorded as the caller's mistake, with Dialpad's status and body.
    let lookup = json!({
        "name": "Look up a contact",
        "trigger": { "type": "api" },
        "steps": [{ "id": "contact", "action": "get_contact", "input": { "id": "{{ event.id }}" } }],
    });
    save_and_enable(&app, "lookup", lookup).await;
    let (status, started) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/workflows/lookup/executions",
            Some(json!({ "input": { "id": "1" } })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let failed = wait_finished(&app, started["execution_id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let error = &failed["steps"][0]["error"];
    assert_eq!(error["code"], "dialpad_rejected", "{failed:#}");
    assert_eq!(error["status"], 404);
    assert_eq!(error["body"]["error"]["message"], "contact 1 not found");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saving_a_definition_names_every_problem() {
    let app = TestApp::connected("acme").await;
    let yaml = r#"
name: Broken
trigger: {type: call.hangupp}
steps:
  - id: first
    action: send_smss
    input: {}
  - id: second
    set: {x: "{{ steps.third.output }}"}
  - id: third
    action: get_call
    input: {id: "{{ event.call_id", bogus: 1}
"#;
    let (status, body) = save_yaml(&app, "broken", yaml).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<String> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap().to_owned())
        .collect();
    let text = fields.join(" ");
    for expected in [
        "trigger",
        "steps[0]",
        "steps[1]",
        "steps[2].input.id",
        "steps[2].input.bogus",
    ] {
        assert!(
            fields.iter().any(|f| f.starts_with(expected)),
            "{expected} in {text}\n{body:#}"
        );
    }
    let (status, _) = app.get("/api/v1/workflows/broken").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was saved");

    // Versions: each save is a new one; enabling checks config.
    save_yaml(&app, "missed-call", MISSED_CALL).await;
    let (status, body) = save_yaml(&app, "missed-call", MISSED_CALL).await;
    assert_eq!(
        (status, body["version"].clone()),
        (StatusCode::OK, json!(2))
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme/workflows/missed-call",
            Some(json!({ "config": { "reply_from": 5, "extra": true } })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"config.reply_from") && fields.contains(&"config.extra"),
        "{body}"
    );
    let (status, triggers) = app.get("/api/v1/triggers").await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<&str> = triggers
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    for key in [
        "call.hangup",
        "call.state_changed",
        "sms.received",
        "contact.changed",
        "event",
        "schedule",
        "api",
    ] {
        assert!(keys.contains(&key), "{key}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vendor_events_and_schedules_start_executions() {
    let app = TestApp::connected("acme").await;
    let on_order = json!({
        "name": "On order",
        "trigger": { "type": "event", "event": "order.shipped", "filter": "event.total > 10" },
        "steps": [{ "id": "echo", "set": { "order": "{{ event.order_id }}", "total": "{{ event.total }}" } }],
    });
    save_and_enable(&app, "on-order", on_order).await;

    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/events/order.shipped",
            Some(json!({ "order_id": "o-1", "total": 42 })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let ids = body["executions"].as_array().unwrap();
    assert_eq!(ids.len(), 1);
    let done = wait_finished(&app, ids[0].as_str().unwrap()).await;
    assert_eq!(
        done["steps"][0]["output"],
        json!({ "order": "o-1", "total": 42 }),
        "one-expression strings keep their type"
    );
    let (_, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/events/order.shipped",
            Some(json!({ "order_id": "o-2", "total": 5 })),
        )
        .await;
    assert_eq!(body["executions"], json!([]), "the filter keeps it out");
    let (_, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/events/other",
            Some(json!({})),
        )
        .await;
    assert_eq!(body["executions"], json!([]));

    let nightly = json!({
        "name": "Every minute",
        "trigger": { "type": "schedule", "cron": "* * * * *", "timezone": "Europe/London" },
        "steps": [{ "id": "tick", "set": { "at": "{{ event.scheduled_at }}" } }],
    });
    save_and_enable(&app, "every-minute", nightly).await;
    // An hour ago: the background scheduler (which looks at the last five minutes) never
    // sees these ticks, so only the test's two calls race for them.
    let now = dialbridge_core::Timestamp::now() - Duration::from_secs(3600);
    let window = Duration::from_secs(5 * 60);
    // Two processes looking at the same five minutes start each tick once.
    let (a, b) = tokio::join!(
        app.platform.executions.fire_due_schedules(now, window),
        app.platform.executions.fire_due_schedules(now, window)
    );
    let started = a.unwrap().len() + b.unwrap().len();
    assert_eq!(started, 5, "one execution per minute tick");
    assert!(app
        .platform
        .executions
        .fire_due_schedules(now, window)
        .await
        .unwrap()
        .is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loops_retries_continue_on_error_http_limits_and_cancel() {
    let app = TestApp::connected("acme").await;
    let definition = json!({
        "name": "Many steps",
        "trigger": { "type": "api" },
        "steps": [
            { "id": "each", "for_each": "event.names", "as": "name", "steps": [
                { "id": "greet", "set": { "text": "{{ loop.index }}:{{ name }}", "last": "{{ loop.last }}" } },
            ] },
            { "id": "missing", "action": "get_contact", "input": { "id": "1" },
              "retry": { "max_attempts": 2, "backoff": "10ms" }, "on_error": "continue" },
            { "id": "outside", "http": { "method": "POST", "url": "https://not-allowed.example/hook" }, "on_error": "continue" },
            { "id": "summary", "set": {
                "missing_status": "{{ steps.missing.error.status }}",
                "http_code": "{{ steps.outside.error.code }}",
            } },
        ],
    });
    save_and_enable(&app, "many", definition).await;
    let (_, started) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/workflows/many/executions",
            Some(json!({ "input": { "names": ["Ada", "Grace"] } })),
        )
        .await;
    let done = wait_finished(&app, started["execution_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let step = |id: &str| {
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        step("each[0].greet")["output"],
        json!({ "text": "0:Ada", "last": false })
    );
    assert_eq!(
        step("each[1].greet")["output"],
        json!({ "text": "1:Grace", "last": true })
    );
    assert_eq!(step("each")["output"], json!({ "count": 2 }));
    assert_eq!(step("missing")["status"], "failed");
    assert_eq!(step("missing")["attempts"], 2, "retried once");
    assert_eq!(
        step("outside")["error"]["code"],
        "invalid_input",
        "{:#}",
        step("outside")
    );
    assert!(step("outside")["error"]["message"]
        .as_str()
        .unwrap()
        .contains("allowed hosts"));
    assert_eq!(
        step("summary")["output"],
        json!({ "missing_status": 404, "http_code": "invalid_input" })
    );

    // A long delay can be cancelled; a finished execution cannot.
    let waiting = json!({
        "name": "Waits", "trigger": { "type": "api" },
        "steps": [{ "id": "wait", "delay": "1h" }, { "id": "never", "set": { "x": 1 } }],
    });
    save_and_enable(&app, "waits", waiting).await;
    let (_, started) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/workflows/waits/executions",
            Some(json!({})),
        )
        .await;
    let id = started["execution_id"].as_str().unwrap().to_owned();
    eventually("the delay is journaled", || async {
        let (_, e) = app.get(&format!("/api/v1/executions/{id}")).await;
        e["steps"][0]["status"] == "waiting"
    })
    .await;
    let (status, cancelled) = app
        .call(
            Method::POST,
            &format!("/api/v1/executions/{id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/executions/{id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, page) = app
        .get("/api/v1/executions?account_id=acme&status=cancelled")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_brings_vanished_subscriptions_back_and_otherwise_writes_only_its_next_moment() {
    let options = Options {
        serve_args: vec!["--audit-interval-secs".into(), "2".into()],
        ..Options::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, options).await;
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    let (status, body) = save_yaml(&app, "missed-call", MISSED_CALL).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    enable_missed_call(&app).await;
    let key = emulator_admin_key(&app).await;
    let subscriptions = || async {
        let page = app.dialpad_get("/api/v2/subscriptions/call", &key).await;
        page["items"].as_array().unwrap().clone()
    };
    let vanished = subscriptions().await[0]["id"].as_str().unwrap().to_owned();

    // Deleted at Dialpad behind dialbridge's back: the account's next audit recreates it.
    app.http
        .delete(format!(
            "{}/api/v2/subscriptions/call/{vanished}",
            app.emulator_url
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    eventually_within(
        Duration::from_secs(30),
        "the audit to recreate the subscription",
        || async {
            subscriptions()
                .await
                .first()
                .is_some_and(|s| s["id"] != vanished.as_str())
        },
    )
    .await;

    // Audits that find nothing to change move the next moment on and write nothing else.
    eventually_within(
        Duration::from_secs(30),
        "the audit to record what it did",
        || async {
            app.stored_hook("acme").await.subscriptions["call"][0]["id"] != vanished.as_str()
        },
    )
    .await;
    let repaired = app.stored_hook("acme").await;
    let later = repaired.next_audit_at + Duration::from_secs(2);
    eventually_within(Duration::from_secs(30), "two more audits", || async {
        let hook = app.stored_hook("acme").await;
        // Past the one after next, and not a claim's lease (ten minutes ahead).
        hook.next_audit_at >= later && hook.next_audit_at < later + Duration::from_secs(60)
    })
    .await;
    let audited = app.stored_hook("acme").await;
    assert_eq!(
        (audited.updated_at, &audited.subscriptions, &audited.status),
        (
            repaired.updated_at,
            &repaired.subscriptions,
            &repaired.status
        )
    );
    assert_eq!(subscriptions().await.len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provisioning_failure_is_visible_on_the_account_and_a_reconcile_repairs_it() {
    let app = TestApp::connected("acme").await;
    let (status, body) = save_yaml(&app, "missed-call", MISSED_CALL).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "fault_every_nth": 1, "fault_status": 500 })),
    )
    .await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme/workflows/missed-call",
            Some(json!({ "config": { "reply_from": "+14155550101" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the enablement stands: {body}");
    let (_, account) = app.get("/api/v1/accounts/acme").await;
    assert_eq!(account["dialpad_events"]["status"], "error", "{account:#}");
    assert!(account["dialpad_events"]["last_error"]
        .as_str()
        .unwrap()
        .contains("500"));

    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "fault_every_nth": 0 })),
    )
    .await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/subscriptions/reconcile",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, account) = app.get("/api/v1/accounts/acme").await;
    assert_eq!(account["dialpad_events"]["status"], "ok", "{account:#}");
    assert_eq!(
        account["dialpad_events"]["subscriptions"]["call"][0]["call_states"],
        json!(["hangup"])
    );
    app.shutdown().await;
}

/// Starts workflow `key` for `acme` through the API with `input`; answers the finished
/// execution.
pub(crate) async fn run_to_end(app: &TestApp, key: &str, input: Value) -> Value {
    let (status, started) = app
        .call(
            Method::POST,
            &format!("/api/v1/accounts/acme/workflows/{key}/executions"),
            Some(json!({ "input": input })),
        )
        .await;
    assert!(status.is_success(), "{status} {started}");
    wait_finished(app, started["execution_id"].as_str().unwrap()).await
}

/// Saves `definition` as `key`, enables it for `acme` and runs it to its end with `input`.
async fn run_finished(app: &TestApp, key: &str, definition: Value, input: Value) -> Value {
    save_and_enable(app, key, definition).await;
    run_to_end(app, key, input).await
}

/// Templates run where the execution is when they fit a small budget, and are moved off the
/// async workers with the whole budget when they do not: both give their results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_past_the_small_budget_still_run_with_the_whole_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_account("acme").await;
    let definition = json!({
        "name": "Long loops",
        "trigger": { "type": "api" },
        "steps": [
            { "id": "short", "set": { "n": "{{ event.n + 1 }}" } },
            // Each well past the small budget's 5,000 steps or 64 KiB, well within the whole.
            { "id": "steps", "set": { "text": "{% for i in range(3000) %}{% endfor %}{{ steps.short.output.n }}" } },
            { "id": "bytes", "set": { "n": "{{ (('x' * 10000) * 8) | length }}" } },
        ],
    });
    let done = run_finished(&app, "long", definition, json!({ "n": 41 })).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let outputs: Vec<Value> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["output"].clone())
        .collect();
    assert_eq!(
        outputs,
        vec![
            json!({ "n": 42 }),
            json!({ "text": "42" }),
            json!({ "n": 80_000 })
        ],
        "{done:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_output_over_the_limit_is_kept_as_a_visible_marker() {
    let options = Options {
        serve_args: vec!["--step-output-limit-bytes".into(), "2048".into()],
        ..Options::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, options).await;
    app.create_account("acme").await;
    let definition = json!({
        "name": "Big output",
        "trigger": { "type": "api" },
        "steps": [
            { "id": "small", "set": { "text": "fits" } },
            { "id": "big", "set": { "text": "{% for i in range(500) %}0123456789{% endfor %}" } },
            { "id": "after", "set": {
                "saw_truncated": "{{ steps.big.output.truncated }}",
                "small_text": "{{ steps.small.output.text }}",
            } },
        ],
    });
    let done = run_finished(&app, "big", definition, json!({})).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    let step = |id: &str| {
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(step("small")["output"], json!({ "text": "fits" }));
    let big = step("big")["output"].clone();
    assert_eq!(big["truncated"], true, "{big:#}");
    assert_eq!(big["bytes"], 5_011);
    assert_eq!(big["limit_bytes"], 2_048);
    assert!(
        big["preview"]
            .as_str()
            .unwrap()
            .starts_with("{\"text\":\"0123456789"),
        "{big:#}"
    );
    assert!(big["message"]
        .as_str()
        .unwrap()
        .contains("--step-output-limit-bytes"));
    assert_eq!(
        step("after")["output"],
        json!({ "saw_truncated": true, "small_text": "fits" }),
        "later steps see what the journal keeps"
    );
    app.shutdown().await;
}

/// Polls execution `id` until `ready` holds for it; answers it.
async fn wait_until(app: &TestApp, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (_, execution) = app.get(&format!("/api/v1/executions/{id}")).await;
        if ready(&execution) {
            return execution;
        }
        last = execution;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("execution {id} never reached {what}: {last:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_execution_keeps_its_version_and_a_replay_runs_its_own_or_the_latest() {
    let mut app = TestApp::connected("acme").await;
    let version = |mark: u32| {
        json!({
            "name": "Versioned",
            "trigger": { "type": "api" },
            "steps": [
                { "id": "wait", "delay": "3s" },
                { "id": "mark", "set": { "version": mark } },
            ],
        })
    };
    save_and_enable(&app, "versioned", version(1)).await;
    let (status, started) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/workflows/versioned/executions",
            Some(json!({ "input": {} })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["execution_id"].as_str().unwrap().to_owned();
    wait_until(&app, &id, "its delay", |e| {
        e["steps"][0]["id"] == "wait" && e["steps"][0]["wake_at"].is_string()
    })
    .await;

    // Version 2 is saved while the version-1 execution waits, and the process restarts, so
    // the one that wakes the execution has no definition in memory yet.
    let (status, body) = app
        .call(Method::PUT, "/api/v1/workflows/versioned", Some(version(2)))
        .await;
    assert_eq!(
        (status, body["version"].clone()),
        (StatusCode::OK, json!(2))
    );
    let master_key = app.master_key.clone();
    app.restart_with_keys(&master_key, None)
        .await
        .expect("restarts");
    let (_, waiting) = app.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(
        waiting["steps"].as_array().map(Vec::len),
        Some(1),
        "version 2 was saved and the process restarted while the delay still ran: {waiting:#}"
    );

    let done = wait_finished(&app, &id).await;
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert_eq!(done["version"], 1);
    assert_eq!(
        done["steps"][1]["output"],
        json!({ "version": 1 }),
        "the execution finished on its own version"
    );

    for (asked, expected) in [
        (json!({ "version": "own" }), 1),
        (json!({ "version": "latest" }), 2),
    ] {
        let (status, replay) = app
            .call(
                Method::POST,
                &format!("/api/v1/executions/{id}/replay"),
                Some(asked.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
        let replayed = wait_until(
            &app,
            replay["execution_id"].as_str().unwrap(),
            "the end",
            |e| e["status"] == "succeeded",
        )
        .await;
        assert_eq!(replayed["version"], expected, "{asked}: {replayed:#}");
        assert_eq!(
            replayed["steps"][1]["output"],
            json!({ "version": expected }),
            "{asked} ran that version's steps"
        );
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn action_steps_wait_for_the_companys_budget_instead_of_failing() {
    const RUNS: usize = 14;
    let app = TestApp::connected("acme").await;
    // One request a second for the company: the 11th request of a burst would wait more than
    // the throttle's 10 s bound, which an API caller gets as 503 rate_limited at once.
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/app/credentials/custom",
            Some(json!({
                "client_id": dialpad_emulator::Emulator::DEV_CLIENT_ID,
                "client_secret": dialpad_emulator::Emulator::DEV_CLIENT_SECRET,
                "base_url": app.emulator_url,
                "rate_limits": {"enabled": true, "per_second": 1, "operation_limits": false},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let definition = json!({
        "name": "One call",
        "trigger": { "type": "api" },
        "steps": [{ "id": "users", "action": "list_users", "input": {} }],
    });
    save_and_enable(&app, "one-call", definition).await;
    let mut ids = Vec::new();
    for _ in 0..RUNS {
        let (status, started) = app
            .call(
                Method::POST,
                "/api/v1/accounts/acme/workflows/one-call/executions",
                Some(json!({ "input": {} })),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        ids.push(started["execution_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let done = wait_finished_within(&app, id, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "succeeded", "{done:#}");
    }
    app.shutdown().await;
}

async fn wait_finished_within(app: &TestApp, id: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let (_, execution) = app.get(&format!("/api/v1/executions/{id}")).await;
        if ["succeeded", "failed", "cancelled"]
            .contains(&execution["status"].as_str().unwrap_or(""))
        {
            return execution;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "execution {id} did not finish: {execution}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executions_are_filtered_by_when_they_were_created() {
    let app = TestApp::connected("acme").await;
    let on_order = json!({
        "name": "On order",
        "trigger": { "type": "event", "event": "order.shipped" },
        "steps": [{ "id": "echo", "set": { "order": "{{ event.order_id }}" } }],
    });
    save_and_enable(&app, "on-order", on_order).await;
    let mut ids = Vec::new();
    for order in ["o-1", "o-2"] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/accounts/acme/events/order.shipped",
                Some(json!({ "order_id": order })),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(body["executions"][0].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, second) = app.get(&format!("/api/v1/executions/{}", ids[1])).await;
    let at = second["created_at"].as_str().unwrap();
    let listed = |query: String| {
        let app = &app;
        async move {
            let (status, page) = app.get(&format!("/api/v1/executions?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(format!("from={at}")).await,
        [ids[1].clone()],
        "from is inclusive"
    );
    assert_eq!(
        listed(format!("to={at}")).await,
        [ids[0].clone()],
        "to is exclusive"
    );
    assert_eq!(
        listed("account_id=acme&from=2000-01-01&to=2999-01-01T00:00".into()).await,
        [ids[1].clone(), ids[0].clone()]
    );
    let (status, body) = app.get("/api/v1/executions?from=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "from", "{body}");
    app.shutdown().await;
}
