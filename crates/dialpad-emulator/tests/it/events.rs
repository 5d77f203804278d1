//! Events end to end over real HTTP: webhooks and subscriptions made through Dialpad's API
//! with an API key, events simulated through `/_control`, and a small receiver standing in
//! for the webhook (it records what arrives and can fail requests on purpose).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestEmulator;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    content_type: String,
    body: String,
}

/// A webhook endpoint that answers 500 to its first `failures` requests and 200 after.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn spawn(failures: usize) -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let content_type = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let mut seen = seen.lock().unwrap();
                    seen.push(Received { content_type, body });
                    if seen.len() <= failures {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The JSON bodies received (unsigned webhooks).
    fn json(&self) -> Vec<Value> {
        self.received()
            .iter()
            .map(|r| {
                assert_eq!(r.content_type, "application/json");
                serde_json::from_str(&r.body).unwrap()
            })
            .collect()
    }
}

/// The claims of an HS256 JWT, verified with `secret`.
fn claims(jwt: &str, secret: &str) -> jsonwebtoken::errors::Result<Value> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        jwt,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
}

/// A company of the seeded world, with an API key to call Dialpad's API as its admin.
struct Company {
    id: String,
    key: String,
    users: Vec<Value>,
}

async fn company(emu: &TestEmulator, index: usize) -> Company {
    let companies = emu.companies().await;
    let company = &companies[index];
    let id = company["id"].as_str().unwrap().to_owned();
    let (status, body) = emu
        .control(
            Method::POST,
            "/_control/api-keys",
            Some(json!({ "company_id": id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Company {
        id,
        key: body["api_key"].as_str().unwrap().to_owned(),
        users: company["users"].as_array().unwrap().clone(),
    }
}

impl Company {
    /// A user who is not the admin.
    fn member(&self) -> &Value {
        self.users.iter().find(|u| u["is_admin"] == false).unwrap()
    }
}

/// `POST` to Dialpad's API with the company's key; the answer must be 200.
async fn api_post(emu: &TestEmulator, company: &Company, path: &str, body: Value) -> Value {
    let response = emu
        .http
        .post(emu.url(path))
        .bearer_auth(&company.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    answer
}

/// A webhook of the company; its id.
async fn webhook(emu: &TestEmulator, company: &Company, url: &str, secret: Option<&str>) -> String {
    let mut body = json!({ "hook_url": url });
    if let Some(secret) = secret {
        body["secret"] = json!(secret);
    }
    let hook = api_post(emu, company, "/api/v2/webhooks", body).await;
    hook["id"].as_str().unwrap().to_owned()
}

/// A subscription of `kind` (`call`, `sms`, `contact`, `agent_status`) on `webhook_id`.
async fn subscribe(
    emu: &TestEmulator,
    company: &Company,
    kind: &str,
    webhook_id: &str,
    mut fields: Value,
) -> Value {
    fields["endpoint_id"] = json!(webhook_id);
    api_post(
        emu,
        company,
        &format!("/api/v2/subscriptions/{kind}"),
        fields,
    )
    .await
}

async fn simulate(emu: &TestEmulator, path: &str, body: Value) -> Value {
    let (status, answer) = emu.control(Method::POST, path, Some(body)).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

async fn deliveries(emu: &TestEmulator) -> Vec<Value> {
    let (status, log) = emu.control(Method::GET, "/_control/deliveries", None).await;
    assert_eq!(status, StatusCode::OK);
    log.as_array().unwrap().clone()
}

/// The delivery log once it has at least `count` deliveries and none is pending.
async fn settled(emu: &TestEmulator, count: usize) -> Vec<Value> {
    for _ in 0..400 {
        let log = deliveries(emu).await;
        if log.len() >= count && log.iter().all(|d| d["state"] != "pending") {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "deliveries did not settle: {:#}",
        json!(deliveries(emu).await)
    );
}

async fn fast_retries(emu: &TestEmulator, max_attempts: u32) {
    let (status, settings) = emu
        .control(
            Method::PATCH,
            "/_control/deliveries/settings",
            Some(json!({ "retry_base_ms": 50, "max_attempts": max_attempts })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["retry_base_ms"], 50);
    assert_eq!(settings["max_attempts"], max_attempts);
}

#[tokio::test]
async fn an_answered_inbound_call_arrives_as_signed_jwts_in_order() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &receiver.url, Some("hook-secret")).await;
    subscribe(
        &emu,
        &acme,
        "call",
        &hook,
        json!({ "call_states": ["all"], "enabled": true }),
    )
    .await;

    let answer = simulate(&emu, "/_control/calls", json!({ "direction": "inbound" })).await;
    assert_eq!(answer["states"], json!(["ringing", "connected", "hangup"]));
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 3);
    let call_id = answer["call_id"].as_str().unwrap();

    let log = settled(&emu, 3).await;
    for delivery in &log {
        assert_eq!(delivery["state"], "delivered", "{delivery}");
        assert_eq!(delivery["signed"], true);
        assert_eq!(delivery["event_type"], "call");
        assert_eq!(delivery["webhook_id"], hook.as_str());
        assert_eq!(delivery["attempts"][0]["status"], 200);
    }
    let received = receiver.received();
    let states: Vec<Value> = received
        .iter()
        .map(|r| {
            assert_eq!(r.content_type, "application/jwt");
            assert!(claims(&r.body, "wrong-secret").is_err());
            let call = claims(&r.body, "hook-secret").unwrap();
            assert_eq!(call["call_id"], call_id);
            assert_eq!(call["direction"], "inbound");
            assert_eq!(call["target"]["type"], "user");
            call["state"].clone()
        })
        .collect();
    assert_eq!(states, vec!["ringing", "connected", "hangup"]);
    let hangup = claims(&received[2].body, "hook-secret").unwrap();
    assert!(hangup["date_ended"].is_string());
    assert!(hangup["duration"].is_number());
}

#[tokio::test]
async fn a_webhook_without_secret_gets_plain_json() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &receiver.url, None).await;
    subscribe(
        &emu,
        &acme,
        "call",
        &hook,
        json!({ "call_states": ["all"] }),
    )
    .await;

    simulate(
        &emu,
        "/_control/calls",
        json!({ "direction": "outbound", "external_number": "+15005550006" }),
    )
    .await;
    let log = settled(&emu, 3).await;
    assert!(log.iter().all(|d| d["signed"] == false));
    let events = receiver.json();
    let states: Vec<&Value> = events.iter().map(|e| &e["state"]).collect();
    assert_eq!(states, vec!["calling", "connected", "hangup"]);
    assert_eq!(events[0]["external_number"], "+15005550006");
    assert_eq!(events[0]["contact"]["type"], "unknown");
}

#[tokio::test]
async fn state_filters_disabled_subscriptions_and_other_companies() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let globex = company(&emu, 1).await;
    let hangups = Receiver::spawn(0).await;
    let disabled = Receiver::spawn(0).await;
    let foreign = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &hangups.url, None).await;
    subscribe(
        &emu,
        &acme,
        "call",
        &hook,
        json!({ "call_states": ["hangup"] }),
    )
    .await;
    let hook = webhook(&emu, &acme, &disabled.url, None).await;
    let sub = subscribe(
        &emu,
        &acme,
        "call",
        &hook,
        json!({ "call_states": ["all"], "enabled": false }),
    )
    .await;
    assert_eq!(sub["enabled"], false);
    let hook = webhook(&emu, &globex, &foreign.url, None).await;
    subscribe(
        &emu,
        &globex,
        "call",
        &hook,
        json!({ "call_states": ["all"] }),
    )
    .await;

    let answer = simulate(
        &emu,
        "/_control/calls",
        json!({ "company_id": acme.id, "direction": "inbound" }),
    )
    .await;
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 1);
    let log = settled(&emu, 1).await;
    assert_eq!(log.len(), 1);
    let events = hangups.json();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["state"], "hangup");
    assert!(disabled.received().is_empty());
    assert!(foreign.received().is_empty());

    // Globex's own calls do reach Globex's webhook.
    simulate(
        &emu,
        "/_control/calls",
        json!({ "company_id": globex.id, "direction": "inbound", "scenario": "missed" }),
    )
    .await;
    settled(&emu, 4).await;
    let states: Vec<Value> = foreign.json().iter().map(|e| e["state"].clone()).collect();
    assert_eq!(states, vec!["ringing", "missed", "hangup"]);
    assert_eq!(hangups.received().len(), 1, "Globex calls stay with Globex");
}

#[tokio::test]
async fn failed_attempts_are_retried_until_delivered() {
    let emu = TestEmulator::spawn().await;
    fast_retries(&emu, 5).await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(2).await;
    let hook = webhook(&emu, &acme, &receiver.url, Some("s")).await;
    subscribe(
        &emu,
        &acme,
        "agent_status",
        &hook,
        json!({ "agent_type": "callcenter" }),
    )
    .await;

    simulate(
        &emu,
        "/_control/agent-status",
        json!({ "status": "available" }),
    )
    .await;
    let log = settled(&emu, 1).await;
    assert_eq!(log[0]["state"], "delivered");
    let statuses: Vec<&Value> = log[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(statuses, vec![500, 500, 200]);
    let at: Vec<i64> = log[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["at_ms"].as_i64().unwrap())
        .collect();
    assert!(
        at[1] - at[0] >= 50 && at[2] - at[1] >= 100,
        "backoff: {at:?}"
    );
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.body == received[0].body));
}

#[tokio::test]
async fn a_delivery_that_always_fails_is_given_up_after_max_attempts() {
    let emu = TestEmulator::spawn().await;
    fast_retries(&emu, 3).await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(usize::MAX).await;
    let hook = webhook(&emu, &acme, &receiver.url, None).await;
    subscribe(
        &emu,
        &acme,
        "contact",
        &hook,
        json!({ "contact_type": "shared" }),
    )
    .await;
    // Nothing listens on this one: connection errors.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = webhook(&emu, &acme, &closed_url, None).await;
    subscribe(
        &emu,
        &acme,
        "contact",
        &unreachable,
        json!({ "contact_type": "shared" }),
    )
    .await;

    simulate(
        &emu,
        "/_control/contacts/events",
        json!({ "change": "created" }),
    )
    .await;
    let log = settled(&emu, 2).await;
    for delivery in &log {
        assert_eq!(delivery["state"], "failed", "{delivery}");
        assert_eq!(delivery["attempts"].as_array().unwrap().len(), 3);
    }
    assert_eq!(log[0]["attempts"][2]["status"], 500);
    assert!(log[1]["attempts"][0]["status"].is_null());
    assert!(log[1]["attempts"][0]["error"].is_string());
    assert_eq!(receiver.received().len(), 3);

    let (status, _) = emu
        .control(Method::DELETE, "/_control/deliveries", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(deliveries(&emu).await.is_empty());
}

#[tokio::test]
async fn sms_subscriptions_filter_by_direction() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let inbound = Receiver::spawn(0).await;
    let outbound = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &inbound.url, None).await;
    subscribe(&emu, &acme, "sms", &hook, json!({ "direction": "inbound" })).await;
    let hook = webhook(&emu, &acme, &outbound.url, None).await;
    subscribe(
        &emu,
        &acme,
        "sms",
        &hook,
        json!({ "direction": "outbound" }),
    )
    .await;

    let received = simulate(
        &emu,
        "/_control/sms",
        json!({ "direction": "inbound", "text": "Is my order ready?" }),
    )
    .await;
    let sent = simulate(
        &emu,
        "/_control/sms",
        json!({ "direction": "outbound", "text": "Yes, it is." }),
    )
    .await;
    settled(&emu, 2).await;
    let events = inbound.json();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], received["sms_id"]);
    assert_eq!(events[0]["direction"], "inbound");
    // Subscribed with an API key: the text is there.
    assert_eq!(events[0]["text"], "Is my order ready?");
    let events = outbound.json();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], sent["sms_id"]);
    assert_eq!(events[0]["direction"], "outbound");
    assert_eq!(
        events[0]["to_numbers"],
        json!([received["sms"]["from_number"]])
    );
}

#[tokio::test]
async fn contact_changes_are_announced() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &receiver.url, None).await;
    subscribe(
        &emu,
        &acme,
        "contact",
        &hook,
        json!({ "contact_type": "shared" }),
    )
    .await;

    let created = simulate(
        &emu,
        "/_control/contacts/events",
        json!({ "change": "created" }),
    )
    .await;
    let id = created["contact_id"].as_str().unwrap();
    for change in ["updated", "deleted"] {
        simulate(
            &emu,
            "/_control/contacts/events",
            json!({ "change": change, "contact_id": id }),
        )
        .await;
    }
    settled(&emu, 3).await;
    let events = receiver.json();
    let changes: Vec<&Value> = events.iter().map(|e| &e["change_type"]).collect();
    assert_eq!(changes, vec!["created", "updated", "deleted"]);
    assert!(events.iter().all(|e| e["contact"]["id"] == id));
    assert_eq!(events[0]["contact"]["type"], "shared");
    assert!(events[1]["contact"]["job_title"]
        .as_str()
        .unwrap()
        .starts_with("Updated"));
    assert!(events[2]["event_timestamp"].is_string());

    let (status, _) = emu
        .control(
            Method::POST,
            "/_control/contacts/events",
            Some(json!({ "change": "deleted", "contact_id": id })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already deleted");
}

#[tokio::test]
async fn agent_status_changes_are_announced() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &receiver.url, None).await;
    subscribe(
        &emu,
        &acme,
        "agent_status",
        &hook,
        json!({ "agent_type": "callcenter" }),
    )
    .await;
    let user = acme.member()["id"].as_str().unwrap().to_owned();

    let answer = simulate(
        &emu,
        "/_control/agent-status",
        json!({ "user_id": user, "status": "busy" }),
    )
    .await;
    assert_eq!(answer["user_id"], user.as_str());
    settled(&emu, 1).await;
    let events = receiver.json();
    assert_eq!(
        (
            &events[0]["agent_type"],
            &events[0]["user_id"],
            &events[0]["status"]
        ),
        (&json!("callcenter"), &json!(user), &json!("busy"))
    );
    assert!(events[0]["event_timestamp"].is_string());
}

#[tokio::test]
async fn a_live_call_moves_on_through_the_control_api() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &receiver.url, None).await;
    subscribe(
        &emu,
        &acme,
        "call",
        &hook,
        json!({ "call_states": ["all"] }),
    )
    .await;

    let call = simulate(
        &emu,
        "/_control/calls",
        json!({ "direction": "inbound", "scenario": "connected" }),
    )
    .await;
    assert_eq!(call["states"], json!(["ringing", "connected"]));
    let path = format!(
        "/_control/calls/{}/state",
        call["call_id"].as_str().unwrap()
    );
    simulate(&emu, &path, json!({ "state": "hangup" })).await;
    let recording = simulate(&emu, &path, json!({ "state": "recording" })).await;
    assert_eq!(recording["call"]["was_recorded"], true);
    let (status, error) = emu
        .control(Method::POST, &path, Some(json!({ "state": "connected" })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    settled(&emu, 4).await;
    let events = receiver.json();
    let states: Vec<&Value> = events.iter().map(|e| &e["state"]).collect();
    assert_eq!(states, vec!["ringing", "connected", "hangup", "recording"]);
    assert!(events[3]["call_recording_share_links"][0].is_string());
}

#[tokio::test]
async fn voicemail_scenario_ends_with_the_transcription() {
    let emu = TestEmulator::spawn().await;
    let acme = company(&emu, 0).await;
    let receiver = Receiver::spawn(0).await;
    let hook = webhook(&emu, &acme, &receiver.url, None).await;
    subscribe(
        &emu,
        &acme,
        "call",
        &hook,
        json!({ "call_states": ["voicemail", "voicemail_uploaded"] }),
    )
    .await;
    simulate(
        &emu,
        "/_control/calls",
        json!({ "direction": "inbound", "scenario": "voicemail" }),
    )
    .await;
    settled(&emu, 2).await;
    let events = receiver.json();
    let states: Vec<&Value> = events.iter().map(|e| &e["state"]).collect();
    assert_eq!(states, vec!["voicemail", "voicemail_uploaded"]);
    assert!(events[1]["transcription_text"].is_string());
    assert!(events[1]["voicemail_share_link"].is_string());
}

#[tokio::test]
async fn control_errors() {
    let emu = TestEmulator::spawn().await;
    let cases = [
        (
            Method::POST,
            "/_control/calls",
            json!({ "direction": "outbound", "scenario": "missed" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/_control/calls",
            json!({ "direction": "sideways" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/_control/calls",
            json!({ "direction": "inbound", "user_id": "1" }),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/_control/calls/1/state",
            json!({ "state": "hangup" }),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/_control/sms",
            json!({ "direction": "inbound" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/_control/contacts/events",
            json!({ "change": "created", "contact_id": "1" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/_control/agent-status",
            json!({ "status": "" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/_control/deliveries/settings",
            json!({ "max_attempts": 0 }),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, error) = emu.control(method, path, Some(body.clone())).await;
        assert_eq!(status, expected, "{path} {body}: {error}");
        assert!(error["error"]["message"].is_string(), "{error}");
        assert!(error["error"]["code"].is_string(), "{error}");
    }
}
