//! Every action of the catalog against the emulator over real HTTP: the exact request Dialpad
//! received and the output; bad input, missing scope, 429, 5xx and 401 paths; the client-side
//! throttle. (Actions do not touch storage beyond reading the connection, so these run on
//! SQLite; the storage paths they use are proven on both backends elsewhere.)

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{hang_up_once, Backend, TestApp};

const AVERY: &str = "5910974510923776";
const BLAKE: &str = "4785074604081152";
const ACME_HQ: &str = "6192449487634432";

async fn run(app: &TestApp, key: &str, input: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/api/v1/accounts/acme/actions/{key}"),
        Some(input),
    )
    .await
}

async fn ok(app: &TestApp, key: &str, input: Value) -> Value {
    let (status, body) = run(app, key, input).await;
    assert_eq!(status, StatusCode::OK, "{key}: {body}");
    body["output"].clone()
}

/// The API v2 requests the emulator received since the last call, oldest first.
async fn dialpad_requests(app: &TestApp) -> Vec<Value> {
    app.take_dialpad_requests()
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/api/v2/"))
        .collect()
}

/// Exactly one request reached Dialpad, with this method, path, query and JSON body.
async fn sent(app: &TestApp, method: &str, path: &str, query: Option<&str>, body: Option<Value>) {
    let requests = dialpad_requests(app).await;
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request["method"], method);
    assert_eq!(request["path"], path);
    assert_eq!(request["query"].as_str(), query, "{request}");
    assert_eq!(request["auth_scheme"], "Bearer");
    match body {
        Some(expected) => {
            let got: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
            assert_eq!(got, expected);
            assert_eq!(request["content_type"], "application/json");
        }
        None => assert_eq!(request["body"], ""),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_catalog_derives_every_input_schema_from_the_spec() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, catalog) = app.get("/api/v1/actions").await;
    assert_eq!(status, StatusCode::OK);
    let items = catalog.as_array().unwrap();
    assert_eq!(items.len(), 20);
    let list_calls = items.iter().find(|a| a["key"] == "list_calls").unwrap();
    assert_eq!(list_calls["required_scopes"], json!(["calls:list"]));
    assert_eq!(list_calls["operation"]["path"], "/api/v2/call");
    for field in [
        "started_after",
        "started_before",
        "target_id",
        "target_type",
        "limit",
        "cursor",
        "all",
        "max_items",
    ] {
        assert!(
            list_calls["input_schema"]["properties"][field].is_object(),
            "{field}"
        );
    }
    let create = items.iter().find(|a| a["key"] == "create_contact").unwrap();
    assert_eq!(
        create["input_schema"]["required"],
        json!(["first_name", "last_name"])
    );
    assert_eq!(create["input_schema"]["additionalProperties"], false);
    let (status, one) = app.get("/api/v1/actions/send_sms").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["operation"]["method"], "POST");
    let (status, body) = app.get("/api/v1/actions/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_contacts_channels_and_sms_actions_send_exactly_what_they_should() {
    let app = TestApp::connected("acme").await;
    dialpad_requests(&app).await;

    let users = ok(&app, "list_users", json!({ "limit": 2 })).await;
    sent(&app, "GET", "/api/v2/users", Some("limit=2"), None).await;
    assert_eq!(users["items"].as_array().unwrap().len(), 2);
    assert!(users["cursor"].is_string());

    let all = ok(&app, "list_users", json!({ "all": true, "limit": 1 })).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    assert!(all.get("cursor").is_none());
    assert_eq!(
        dialpad_requests(&app).await.len(),
        3,
        "one request per page"
    );

    let user = ok(
        &app,
        "get_user",
        json!({ "id": BLAKE.parse::<i64>().unwrap() }),
    )
    .await;
    sent(&app, "GET", &format!("/api/v2/users/{BLAKE}"), None, None).await;
    assert_eq!(user["first_name"], "Blake");

    let created = ok(
        &app,
        "create_user",
        json!({ "email": "nia@acme.example", "office_id": ACME_HQ, "first_name": "Nia" }),
    )
    .await;
    // The spec types office_id as int64: an id given as a string is sent as a number.
    sent(
        &app,
        "POST",
        "/api/v2/users",
        None,
        Some(json!({ "email": "nia@acme.example", "office_id": ACME_HQ.parse::<i64>().unwrap(), "first_name": "Nia" })),
    )
    .await;
    let nia = created["id"].as_str().unwrap().to_owned();

    let updated = ok(
        &app,
        "update_user",
        json!({ "id": nia, "job_title": "Agent" }),
    )
    .await;
    sent(
        &app,
        "PATCH",
        &format!("/api/v2/users/{nia}"),
        None,
        Some(json!({ "job_title": "Agent" })),
    )
    .await;
    assert_eq!(updated["job_title"], "Agent");
    assert_eq!(updated["first_name"], "Nia");

    let contacts = ok(&app, "list_contacts", json!({ "include_local": true })).await;
    sent(
        &app,
        "GET",
        "/api/v2/contacts",
        Some("include_local=true"),
        None,
    )
    .await;
    // Avery's token sees the shared contacts; Blake's local one is Blake's.
    assert_eq!(contacts["items"].as_array().unwrap().len(), 3);

    let contact = ok(
        &app,
        "create_contact",
        json!({ "first_name": "Kim", "last_name": "Kwan", "phones": ["+14155550177"] }),
    )
    .await;
    sent(
        &app,
        "POST",
        "/api/v2/contacts",
        None,
        Some(json!({ "first_name": "Kim", "last_name": "Kwan", "phones": ["+14155550177"] })),
    )
    .await;
    let contact_id = contact["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v2/contacts/{contact_id}");

    let got = ok(&app, "get_contact", json!({ "id": contact_id })).await;
    sent(&app, "GET", &path, None, None).await;
    assert_eq!(got, contact);

    let changed = ok(
        &app,
        "update_contact",
        json!({ "id": contact_id, "last_name": "King" }),
    )
    .await;
    sent(
        &app,
        "PATCH",
        &path,
        None,
        Some(json!({ "last_name": "King" })),
    )
    .await;
    assert_eq!(changed["display_name"], "Kim King");
    assert_eq!(changed["phones"], json!(["+14155550177"]));

    let deleted = ok(&app, "delete_contact", json!({ "id": contact_id })).await;
    sent(&app, "DELETE", &path, None, None).await;
    assert_eq!(deleted["id"], contact_id.as_str());

    let channels = ok(&app, "list_channels", json!({})).await;
    sent(&app, "GET", "/api/v2/channels", None, None).await;
    assert_eq!(channels["items"].as_array().unwrap().len(), 2);

    let channel = ok(
        &app,
        "create_channel",
        json!({ "name": "launch", "description": "Launch day", "privacy_type": "public" }),
    )
    .await;
    sent(
        &app,
        "POST",
        "/api/v2/channels",
        None,
        Some(json!({ "name": "launch", "description": "Launch day", "privacy_type": "public" })),
    )
    .await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let got = ok(&app, "get_channel", json!({ "id": channel_id })).await;
    sent(
        &app,
        "GET",
        &format!("/api/v2/channels/{channel_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(got["name"], "launch");
    let deleted = ok(&app, "delete_channel", json!({ "id": channel_id })).await;
    sent(
        &app,
        "DELETE",
        &format!("/api/v2/channels/{channel_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(deleted, json!({}));

    let sms = ok(
        &app,
        "send_sms",
        json!({ "to_numbers": ["+14155550150"], "text": "Your order shipped", "user_id": BLAKE }),
    )
    .await;
    sent(
        &app,
        "POST",
        "/api/v2/sms",
        None,
        Some(json!({ "to_numbers": ["+14155550150"], "text": "Your order shipped", "user_id": BLAKE.parse::<i64>().unwrap() })),
    )
    .await;
    assert_eq!(sms["direction"], "outbound");
    assert_eq!(sms["from_number"], "+14155550102");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_actions_and_http_request() {
    let app = TestApp::connected("acme").await;
    dialpad_requests(&app).await;

    let calls = ok(
        &app,
        "list_calls",
        json!({ "target_type": "user", "target_id": AVERY }),
    )
    .await;
    sent(
        &app,
        "GET",
        "/api/v2/call",
        Some(&format!("target_id={AVERY}&target_type=user")),
        None,
    )
    .await;
    let items = calls["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let call_id = items[0]["call_id"].as_str().unwrap().to_owned();

    let call = ok(&app, "get_call", json!({ "id": call_id })).await;
    sent(&app, "GET", &format!("/api/v2/call/{call_id}"), None, None).await;
    assert_eq!(call, items[0]);

    // A live call to act on.
    let (status, live) = app
        .emulator_call(
            Method::POST,
            "/_control/calls",
            Some(json!({ "direction": "inbound", "scenario": "connected" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{live}");
    let live = live["call_id"].as_str().unwrap().to_owned();

    let added = ok(
        &app,
        "add_participant",
        json!({ "id": live, "participant": { "number": "+14155550199" } }),
    )
    .await;
    sent(
        &app,
        "POST",
        &format!("/api/v2/call/{live}/participants/add"),
        None,
        Some(json!({ "participant": { "number": "+14155550199" } })),
    )
    .await;
    let leg = added["call_id"].as_str().unwrap().to_owned();

    let transferred = ok(
        &app,
        "transfer_call",
        json!({ "id": leg, "to": { "target_id": BLAKE, "target_type": "user" }, "transfer_state": "hold" }),
    )
    .await;
    sent(
        &app,
        "POST",
        &format!("/api/v2/call/{leg}/transfer"),
        None,
        Some(json!({ "to": { "target_id": BLAKE.parse::<i64>().unwrap(), "target_type": "user" }, "transfer_state": "hold" })),
    )
    .await;
    assert_eq!(transferred["transferred_to_number"], "+14155550102");

    let hung_up = ok(&app, "hangup_call", json!({ "id": live })).await;
    sent(
        &app,
        "PUT",
        &format!("/api/v2/call/{live}/actions/hangup"),
        None,
        None,
    )
    .await;
    assert_eq!(hung_up, json!({}));

    let raw = ok(
        &app,
        "http_request",
        json!({ "method": "GET", "path": "/api/v2/users", "query": { "company_admin": true } }),
    )
    .await;
    sent(
        &app,
        "GET",
        "/api/v2/users",
        Some("company_admin=true"),
        None,
    )
    .await;
    assert_eq!(raw["status"], 200);
    assert_eq!(raw["headers"]["content-type"], "application/json");
    assert_eq!(raw["body"]["items"][0]["id"], AVERY);

    // http_request answers Dialpad's status even when it is not a success.
    let missing = ok(
        &app,
        "http_request",
        json!({ "method": "GET", "path": "/api/v2/contacts/1" }),
    )
    .await;
    assert_eq!(missing["status"], 404);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_and_missing_scopes_send_nothing() {
    let app = TestApp::connected("acme").await;
    dialpad_requests(&app).await;

    let (status, body) = run(
        &app,
        "create_contact",
        json!({ "first_name": 7, "nickname": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for field in ["first_name", "last_name", "nickname"] {
        assert!(fields.contains(&field), "{field} in {body}");
    }
    let (status, body) = run(&app, "send_sms", json!({ "to_numbers": "+1415" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = run(&app, "get_call", json!({ "id": "abc" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    for (path, needle) in [
        ("/api/v2/contact", "did you mean /api/v2/contacts"),
        ("https://evil.example/api/v2/users", "not a URL"),
        ("/api/v2/../oauth2/token", ".."),
        ("/api/v2/%2e%2e/oauth2/token", ".."),
        ("/oauth2/token", "/api/v2/"),
    ] {
        let (status, body) = run(
            &app,
            "http_request",
            json!({ "method": "GET", "path": path }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    assert!(
        dialpad_requests(&app).await.is_empty(),
        "nothing reached Dialpad"
    );

    // The app no longer asks for calls:list; an account connected now lacks it.
    app.call(
        Method::PUT,
        "/api/v1/app/scopes",
        Some(json!({ "scopes": [] })),
    )
    .await;
    app.create_account("plain").await;
    app.connect_oauth("plain").await;
    dialpad_requests(&app).await; // connecting reads the company and user
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/plain/actions/list_calls",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "missing_scope");
    assert_eq!(body["error"]["details"]["scope"], "calls:list");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("connect the account again"));
    assert!(dialpad_requests(&app).await.is_empty());

    let (status, body) = run(&app, "no_such_action", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_5xx_and_401_are_handled_as_promised() {
    let app = TestApp::connected("acme").await;
    dialpad_requests(&app).await;
    let config = |body: Value| app.emulator_call(Method::PATCH, "/_control/config", Some(body));

    // Every 2nd request answers 429 (Retry-After: 1): the action waits and succeeds.
    config(json!({ "fault_every_nth": 2, "fault_status": 429 })).await;
    ok(&app, "list_users", json!({})).await;
    let started = Instant::now();
    ok(&app, "list_users", json!({})).await;
    assert!(
        started.elapsed().as_millis() >= 900,
        "waited for Retry-After"
    );
    assert_eq!(dialpad_requests(&app).await.len(), 3);

    // Always 429: rate_limited once the retries are spent.
    config(json!({ "fault_every_nth": 1, "fault_status": 429 })).await;
    let (status, body) = run(&app, "list_users", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(dialpad_requests(&app).await.len(), 4, "1 + 3 retries");

    // A read is retried through 503s; a write is never repeated.
    config(json!({ "fault_every_nth": 2, "fault_status": 503 })).await;
    ok(&app, "list_users", json!({})).await;
    let (status, body) = run(&app, "list_users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(dialpad_requests(&app).await.len(), 3);
    config(json!({ "fault_every_nth": 1, "fault_status": 503 })).await;
    let (status, body) = run(
        &app,
        "create_contact",
        json!({ "first_name": "A", "last_name": "B" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "dialpad_error");
    assert_eq!(body["error"]["details"]["status"], 503);
    assert_eq!(
        dialpad_requests(&app).await.len(),
        1,
        "the write was sent once"
    );
    let (status, _) = run(&app, "list_users", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        dialpad_requests(&app).await.len(),
        4,
        "a read: 1 + 3 retries"
    );
    config(json!({ "fault_every_nth": 0 })).await;

    // A 401 refreshes the token once and repeats the request once.
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    let refreshes = app.refresh_count().await;
    ok(&app, "list_users", json!({})).await;
    assert_eq!(app.refresh_count().await, refreshes + 1);
    assert_eq!(dialpad_requests(&app).await.len(), 2);

    app.shutdown().await;
}

/// Dialpad's 4xx is the caller's request refused as made: 422 `dialpad_rejected` with
/// Dialpad's status and body, and its message; its 5xx stays Dialpad's failure (502, above).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dialpads_4xx_is_dialpad_rejected_with_its_status_and_body() {
    let app = TestApp::connected("acme").await;
    // A contact that does not exist.
    let (status, body) = run(&app, "get_contact", json!({ "id": "1" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "dialpad_rejected");
    assert_eq!(body["error"]["details"]["status"], 404);
    assert_eq!(body["error"]["details"]["body"]["error"]["code"], 404);
    assert_eq!(
        body["error"]["message"],
        "Dialpad refused the request (404): contact 1 not found"
    );
    // An SMS without recipients: the spec lets it through, Dialpad refuses it.
    let (status, body) = run(&app, "send_sms", json!({ "user_id": AVERY, "text": "hi" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "dialpad_rejected");
    assert_eq!(body["error"]["details"]["status"], 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("to_numbers"),
        "{body}"
    );
    // `http_request` answers whatever Dialpad said, 4xx included.
    let (status, body) = run(
        &app,
        "http_request",
        json!({ "method": "GET", "path": "/api/v2/contacts/1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["status"], 404);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_throttle_keeps_bursts_under_dialpads_limits() {
    let app = TestApp::connected("acme").await;
    app.hold_dialpads_limits().await;
    let started = Instant::now();
    let runs = futures::future::join_all((0..30).map(|_| run(&app, "list_users", json!({})))).await;
    for (status, body) in runs {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(
        started.elapsed().as_millis() >= 900,
        "30 requests need two seconds' windows"
    );
    assert_eq!(
        app.emulator_stats().await["rate_limited"],
        0,
        "Dialpad never answered 429"
    );
    app.shutdown().await;
}

/// A request whose caller hangs up after it left still counts: Dialpad counted it. Giving
/// its slot back would send the next request inside the same second, into a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_whose_caller_hangs_up_after_it_left_keeps_its_slot() {
    let app = TestApp::connected("acme").await;
    app.hold_dialpads_limits_as(json!({ "per_second": 1 }))
        .await;
    // One request per second on both sides; Dialpad answers a second after counting one.
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "company_requests_per_second": 1, "latency_ms": 1000 })),
    )
    .await;
    // The connection's own requests (identifying it) leave the windows.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = app.emulator_stats().await["api_requests"].as_u64().unwrap();

    let first = app
        .http
        .post(format!(
            "{}/api/v1/accounts/acme/actions/list_users",
            app.base
        ))
        .bearer_auth(&app.api_key)
        .json(&json!({}));
    hang_up_once(first, "the first request reached Dialpad", || async {
        app.emulator_stats().await["api_requests"].as_u64() == Some(before + 1)
    })
    .await;

    let (status, body) = run(&app, "list_users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats = app.emulator_stats().await;
    assert_eq!(stats["rate_limited"], 0, "Dialpad answered 429: {stats}");
    app.shutdown().await;
}

/// The two requests that identify a new connection (`/company`, `/users/me`) leave before its
/// company is known, so before its budget could be asked; Dialpad counts them all the same.
/// They are counted in the company's budget once it is known, so a burst of actions right
/// after connecting, and a connection check among them, meet no 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_requests_that_identify_a_connection_count_in_its_companys_budget() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.configure_app().await;
    app.hold_dialpads_limits().await;
    app.create_account("acme").await;
    let api_key = app.dialpad_api_key().await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme/connection",
            Some(json!({ "auth_type": "api_key", "api_key": api_key, "environment": "custom" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actions = futures::future::join_all((0..20).map(|_| run(&app, "list_users", json!({}))));
    let check = app.check(&app.base, "acme");
    let (runs, (status, body)) = futures::join!(actions, check);
    assert_eq!(status, StatusCode::OK, "{body}");
    for (status, body) in runs {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let stats = app.emulator_stats().await;
    assert_eq!(stats["rate_limited"], 0, "Dialpad answered 429: {stats}");
    app.shutdown().await;
}

/// Every route with an account id in its path answers 404 `not_found` for an account that
/// does not exist — never 409 `not_connected`, which is for accounts that exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_accounts_are_not_found_wherever_an_account_is_in_the_path() {
    let app = TestApp::connected("acme").await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        if !template.contains("{account_id}") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if template == "/api/v1/accounts/{account_id}" && method == "put" {
                continue; // creates the account
            }
            let path = template
                .replace("{account_id}", "ghost")
                .replace("{key}", "list_users")
                .replace("{name}", "signup")
                .replace("{*path}", "api/v2/company")
                .replace("{path}", "api/v2/company");
            let body = match (template.as_str(), method.as_str()) {
                (t, "put") if t.ends_with("/connection") => {
                    json!({ "auth_type": "api_key", "api_key": "k", "environment": "custom" })
                }
                (t, "put") if t.contains("/workflows/") => json!({ "config": {} }),
                (t, _) if t.ends_with("/executions") => json!({ "input": {} }),
                _ => json!({}),
            };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, error) = app.call(method.clone(), &path, Some(body)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {error}");
            assert_eq!(error["error"]["code"], "not_found", "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} operations checked");
    // Where the account is what was not found, the message says so.
    for (method, path) in [
        (Method::POST, "/api/v1/accounts/ghost/actions/list_users"),
        (Method::POST, "/api/v1/accounts/ghost/actions/http_request"),
        (Method::POST, "/api/v1/accounts/ghost/connection/check"),
        (Method::GET, "/proxy/ghost/api/v2/company"),
    ] {
        let (status, error) = app.call(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {error}");
        assert_eq!(
            error["error"]["message"], "account 'ghost' was not found",
            "{method} {path}"
        );
    }
    app.shutdown().await;
}

/// Each operation's own per-minute limit binds, not only the company's 20 per second: a burst
/// of `get_call` (10/min) and of `send_sms` (100/min) reaches Dialpad — with its limits on —
/// exactly up to each limit, with no 429; the rest are refused by dialbridge as `rate_limited`
/// before they are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_operations_per_minute_limit_is_held() {
    let app = TestApp::connected("acme").await;
    app.hold_dialpads_limits().await;
    let (status, call) = app
        .emulator_call(
            Method::POST,
            "/_control/calls",
            Some(json!({ "direction": "inbound", "scenario": "missed" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    let sms = json!({ "to_numbers": ["+14155550150"], "text": "hi", "user_id": BLAKE });
    for (action, input, limit, burst) in [
        ("get_call", json!({ "id": call_id }), 10, 14),
        ("send_sms", sms, 100, 106),
    ] {
        let runs =
            futures::future::join_all((0..burst).map(|_| run(&app, action, input.clone()))).await;
        let mut refused = 0;
        for (status, body) in &runs {
            if *status != StatusCode::OK {
                assert_eq!(
                    body["error"]["code"], "rate_limited",
                    "{action}: {status} {body}"
                );
                refused += 1;
            }
        }
        assert_eq!(
            (burst - refused, refused),
            (limit, burst - limit),
            "{action}: as many as its per-minute limit went through"
        );
        assert_eq!(
            app.emulator_stats().await["rate_limited"],
            0,
            "{action}: Dialpad never answered 429"
        );
    }
    app.shutdown().await;
}

/// Actions and the proxy keep the account and its connection in memory between requests;
/// each change to the connection made through this process is seen by the very next request:
/// disconnected, it answers `not_connected`; connected again with another company's API key,
/// it acts as that company.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_next_request_after_a_connection_changes_uses_the_new_connection() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.configure_app().await;
    app.create_account("acme").await;
    let (_, companies) = app
        .emulator_call(Method::GET, "/_control/companies", None)
        .await;
    let connect = |n: usize| {
        let app = &app;
        let company = companies[n]["id"].clone();
        async move {
            let (status, made) = app
                .emulator_call(
                    Method::POST,
                    "/_control/api-keys",
                    Some(json!({ "company_id": company })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{made}");
            let (status, body) = app
                .call(
                    Method::PUT,
                    "/api/v1/accounts/acme/connection",
                    Some(json!({ "auth_type": "api_key", "api_key": made["api_key"], "environment": "custom" })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let company = || async {
        let (status, body) = app.get("/proxy/acme/api/v2/company").await;
        (status, body["id"].clone())
    };
    connect(0).await;
    for _ in 0..2 {
        assert_eq!(
            company().await,
            (StatusCode::OK, companies[0]["id"].clone())
        );
    }
    let (status, body) = app
        .call(Method::DELETE, "/api/v1/accounts/acme/connection", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = run(&app, "list_users", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_connected", "{body}");
    connect(1).await;
    assert_eq!(
        company().await,
        (StatusCode::OK, companies[1]["id"].clone())
    );
    app.shutdown().await;
}
