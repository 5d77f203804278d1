//! What makes the emulator faithful rather than merely helpful: routes and bodies are held to
//! the official spec (404, 405, 400 naming the problem), OAuth scopes and roles are enforced,
//! the spec's rate limits answer 429 with `Retry-After`, and faults come on demand.

use std::time::{Duration, Instant};

use dialpad_emulator::EmulatorConfig;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

const ACME: usize = 0;

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn routes_the_spec_lacks_are_404_and_wrong_methods_405() {
    let emu = TestEmulator::spawn().await;
    let key = emu.company_key(ACME).await;
    let (status, body, _) = emu.send(Method::GET, "/api/v2/contact", &key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message(&body).contains("not an operation"), "{body}");
    let (status, _, _) = emu
        .send(Method::GET, "/api/v2/contacts/1/2", &key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body, headers) = emu.send(Method::DELETE, "/api/v2/users", &key, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    let allow = headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // A documented operation the emulator does not implement is not a 404.
    let (status, body, _) = emu.send(Method::GET, "/api/v2/offices", &key, None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{body}");
    assert!(message(&body).contains("offices.list"));
}

#[tokio::test]
async fn bodies_that_break_the_request_schema_are_400_naming_the_problem() {
    let emu = TestEmulator::spawn().await;
    let key = emu.company_key(ACME).await;
    let cases = [
        (
            "/api/v2/contacts",
            json!({ "first_name": "A" }),
            "last_name",
        ),
        (
            "/api/v2/contacts",
            json!({ "first_name": "A", "last_name": 7 }),
            "last_name",
        ),
        (
            "/api/v2/contacts",
            json!({ "first_name": "A", "last_name": "B", "nickname": "x" }),
            "nickname",
        ),
        (
            "/api/v2/channels",
            json!({ "name": "x", "description": "y", "privacy_type": "secret" }),
            "privacy_type",
        ),
        (
            "/api/v2/subscriptions/sms",
            json!({ "direction": "sideways" }),
            "direction",
        ),
    ];
    for (path, body, field) in cases {
        let (status, error, _) = emu.send(Method::POST, path, &key, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {error}");
        assert!(
            message(&error).contains(field),
            "{path} {body}: {error} should name {field}"
        );
    }
    let response = emu
        .http
        .post(emu.url("/api/v2/contacts"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(message(&body).contains("not valid JSON"));

    // Query parameters are typed too.
    let (status, body) = emu.api("/api/v2/call?started_after=yesterday", &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("started_after"), "{body}");
    // ids may be strings or numbers
    let (status, _, _) = emu
        .send(
            Method::POST,
            "/api/v2/channels",
            &key,
            Some(json!({ "name": "n", "description": "d", "privacy_type": "public", "user_id": 5910974510923776_i64 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Wording only serde or axum would use: none of it may reach a caller.
const INTERNAL_WORDING: [&str; 6] = [
    "untagged enum",
    "invalid type",
    "missing field",
    "did not match any variant",
    "expected value",
    "Failed to buffer",
];

fn assert_dialpad_error(status: StatusCode, body: &Value, want: StatusCode, names: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(
        body["error"]["code"],
        want.as_u16(),
        "Dialpad's shape: {body}"
    );
    let text = message(body);
    assert!(text.contains(names), "{body} should name {names}");
    for internal in INTERNAL_WORDING {
        assert!(!text.contains(internal), "{body} leaks {internal:?}");
    }
}

/// The spec makes nearly every field nullable, required ones included: `null` passes the
/// schema. An optional field given as `null` is absent; a required one is semantically
/// missing, a 400 naming it in Dialpad's shape — never serde's wording.
#[tokio::test]
async fn nulls_the_spec_allows_are_accepted_and_a_null_required_field_is_named() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let user = emu.user_id(ACME, 0).await;

    let (status, body, _) = emu
        .send(
            Method::POST,
            "/api/v2/channels",
            &key,
            Some(json!({ "name": null, "description": "d", "privacy_type": "public" })),
        )
        .await;
    assert_dialpad_error(status, &body, StatusCode::BAD_REQUEST, "`name`");
    let (status, body, _) = emu
        .send(
            Method::POST,
            "/api/v2/channels",
            &key,
            Some(json!({ "name": "nulls", "description": "d", "privacy_type": "public", "user_id": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "an optional null is absent: {body}");

    let (status, body, _) = emu
        .send(
            Method::POST,
            "/api/v2/call",
            &key,
            Some(json!({ "phone_number": null, "user_id": user })),
        )
        .await;
    assert_dialpad_error(status, &body, StatusCode::BAD_REQUEST, "`phone_number`");
    let (status, ringing, _) = emu
        .send(
            Method::POST,
            "/api/v2/call",
            &key,
            Some(json!({
                "phone_number": "+14155550150", "user_id": user,
                "custom_data": null, "group_id": null, "group_type": null, "is_consult": null,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ringing}");
    let call = ringing["call_id"].as_str().unwrap();

    let add = format!("/api/v2/call/{call}/participants/add");
    for (participant, names) in [
        (json!(null), "`participant`"),
        (json!({ "number": null }), "participant.number"),
        (
            json!({ "target_id": user, "target_type": null }),
            "participant.target_type",
        ),
    ] {
        let (status, body, _) = emu
            .send(
                Method::POST,
                &add,
                &key,
                Some(json!({ "participant": participant })),
            )
            .await;
        assert_dialpad_error(status, &body, StatusCode::BAD_REQUEST, names);
    }
    // `to` is optional in the spec but a transfer needs it: named, not serde's wording.
    let transfer = format!("/api/v2/call/{call}/transfer");
    let (status, body, _) = emu
        .send(
            Method::POST,
            &transfer,
            &key,
            Some(json!({ "to": null, "custom_data": null })),
        )
        .await;
    assert_dialpad_error(status, &body, StatusCode::BAD_REQUEST, "`to`");
    let (status, body, _) = emu
        .send(
            Method::POST,
            &add,
            &key,
            Some(json!({ "participant": { "number": "+14155550151" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Every error the emulator gives is JSON in Dialpad's shape: a body too large, an unknown
/// route, a method a route does not take, a body that is not JSON.
#[tokio::test]
async fn every_error_is_json_in_dialpads_shape() {
    let emu = TestEmulator::spawn().await;
    let key = emu.company_key(ACME).await;
    let read = |response: reqwest::Response| async move {
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{status}: {content_type}"
        );
        let body: Value = response.json().await.unwrap();
        (status, body)
    };

    let huge = format!(
        r#"{{"first_name": "{}", "last_name": "B"}}"#,
        "a".repeat(1 << 20)
    );
    let response = emu
        .http
        .post(emu.url("/api/v2/contacts"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_dialpad_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "1 MiB");

    for path in ["/nope", "/api/v3/users", "/oauth2/nope", "/_control/nope"] {
        let response = emu.http.get(emu.url(path)).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_dialpad_error(status, &body, StatusCode::NOT_FOUND, path);
    }
    for (method, path) in [
        (Method::GET, "/oauth2/token"),
        (Method::DELETE, "/_control/stats"),
    ] {
        let response = emu
            .http
            .request(method, emu.url(path))
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_dialpad_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, path);
    }

    for (text, names) in [
        (r#"{"first_name": "A",, }"#, "line 1, column 20"),
        (r#"{"first_name": "A""#, "ends before"),
    ] {
        let response = emu
            .http
            .post(emu.url("/api/v2/contacts"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(text)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_dialpad_error(status, &body, StatusCode::BAD_REQUEST, names);
    }
}

#[tokio::test]
async fn oauth_tokens_need_the_operations_scopes() {
    let emu = TestEmulator::spawn().await;
    let plain = emu.connect().await;
    let token = plain["access_token"].as_str().unwrap();
    let (status, body) = emu.api("/api/v2/call", token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("calls:list"), "{body}");

    let pkce = Pkce::new();
    let code = emu.code("offline_access calls:list", &pkce).await;
    let scoped = emu.exchange(&code, &pkce).await;
    let (status, body) = emu
        .api("/api/v2/call", scoped["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // API keys as Bearer or `apikey`; no credentials, bad or expired ones are 401.
    let key = emu.company_key(ACME).await;
    let response = emu
        .http
        .get(emu.url(&format!("/api/v2/call?apikey={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = emu.http.get(emu.url("/api/v2/call")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        emu.api("/api/v2/users", "nope").await.0,
        StatusCode::UNAUTHORIZED
    );
    emu.control(Method::POST, "/_control/tokens/expire", None)
        .await;
    assert_eq!(
        emu.api("/api/v2/users", token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn company_admin_operations_refuse_other_users() {
    let emu = TestEmulator::spawn().await;
    let companies = emu.companies().await;
    let (_, user_key) = emu
        .control(
            Method::POST,
            "/_control/api-keys",
            Some(json!({ "company_id": companies[0]["id"], "user_id": companies[0]["users"][1]["id"] })),
        )
        .await;
    let user_key = user_key["api_key"].as_str().unwrap();
    let admin_key = emu.company_key(ACME).await;
    let (_, webhook, _) = emu
        .send(
            Method::POST,
            "/api/v2/webhooks",
            &admin_key,
            Some(json!({ "hook_url": "http://127.0.0.1:9/h" })),
        )
        .await;
    let body = json!({ "endpoint_id": webhook["id"], "contact_type": "shared" });
    let (status, error, _) = emu
        .send(
            Method::POST,
            "/api/v2/subscriptions/contact",
            user_key,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let (status, _, _) = emu
        .send(
            Method::POST,
            "/api/v2/subscriptions/contact",
            &admin_key,
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn per_operation_limits_answer_429_with_retry_after() {
    let emu = TestEmulator::spawn().await;
    let key = emu.company_key(ACME).await;
    let (_, calls) = emu.api("/api/v2/call?limit=1", &key).await;
    let path = format!(
        "/api/v2/call/{}",
        calls["items"][0]["call_id"].as_str().unwrap()
    );
    // `GET /api/v2/call/{id}` allows 10 per minute.
    for i in 0..10 {
        let (status, body) = emu.api(&path, &key).await;
        assert_eq!(status, StatusCode::OK, "request {i}: {body}");
        tokio::time::sleep(Duration::from_millis(60)).await; // stay under 20/s
    }
    let (status, body, headers) = emu.send(Method::GET, &path, &key, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(message(&body).contains("10 per minute"), "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=60).contains(&retry_after), "{retry_after}");
    // Other operations are not affected; switched off, the limit is gone.
    assert_eq!(emu.api("/api/v2/users", &key).await.0, StatusCode::OK);
    emu.control(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "rate_limits": false })),
    )
    .await;
    assert_eq!(emu.api(&path, &key).await.0, StatusCode::OK);
    assert_eq!(emu.emulator.stats().rate_limited, 1);
}

/// Requests one after another until the first 429: the emulator refused only when 20 were
/// accepted within the second before, and never accepted 21 within one second. Each request is
/// known to have reached the emulator between its sending and its answer, so 21 accepted
/// requests from the first's sending to the last's answer in under a second would be 21 within
/// a second there too; however slow the machine, this asserts something, since the run must end
/// in a 429.
#[tokio::test]
async fn twenty_requests_per_second_per_company() {
    let emu = TestEmulator::spawn().await;
    let acme = emu.company_key(ACME).await;
    let globex = emu.company_key(1).await;
    // (sent, answered) of each accepted request, in order.
    let mut accepted: Vec<(Instant, Instant)> = Vec::new();
    let mut refused_at = None;
    for _ in 0..500 {
        let sent = Instant::now();
        let (status, _, headers) = emu.send(Method::GET, "/api/v2/company", &acme, None).await;
        let answered = Instant::now();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(headers["retry-after"], "1");
            refused_at = Some(sent);
            break;
        }
        assert_eq!(status, StatusCode::OK);
        accepted.push((sent, answered));
    }
    let refused_at = refused_at.expect("500 requests in a row never met the limit");
    assert!(
        accepted.len() >= 20,
        "{} accepted before a 429",
        accepted.len()
    );
    for run in accepted.windows(21) {
        let span = run[20].1 - run[0].0;
        assert!(
            span >= Duration::from_secs(1),
            "21 requests accepted within {span:?}"
        );
    }
    let recent = accepted
        .iter()
        .filter(|(_, answered)| refused_at.duration_since(*answered) < Duration::from_secs(1))
        .count();
    assert!(
        recent >= 20,
        "refused with only {recent} accepted in the second before"
    );
    assert_eq!(
        emu.api("/api/v2/company", &globex).await.0,
        StatusCode::OK,
        "per company"
    );
}

#[tokio::test]
async fn no_rate_limits_config_for_benchmarks() {
    let config = EmulatorConfig {
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    let emu = TestEmulator::spawn_with(config, None).await;
    let key = emu.company_key(ACME).await;
    for _ in 0..40 {
        assert_eq!(emu.api("/api/v2/company", &key).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn faults_every_nth_request_and_latency() {
    let emu = TestEmulator::spawn().await;
    let key = emu.company_key(ACME).await;
    let (status, _) = emu
        .control(
            Method::PATCH,
            "/_control/config",
            Some(json!({ "fault_every_nth": 3, "fault_status": 429 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, _, headers) = emu.send(Method::GET, "/api/v2/users", &key, None).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(headers["retry-after"], "1");
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);

    emu.control(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "fault_every_nth": 2, "fault_status": 503 })),
    )
    .await;
    assert_eq!(emu.api("/api/v2/users", &key).await.0, StatusCode::OK);
    assert_eq!(
        emu.api("/api/v2/users", &key).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, body) = emu
        .control(
            Method::PATCH,
            "/_control/config",
            Some(json!({ "fault_status": 418 })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    emu.control(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "fault_every_nth": 0, "latency_ms": 300 })),
    )
    .await;
    let started = Instant::now();
    assert_eq!(emu.api("/api/v2/users", &key).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(emu.emulator.stats().faults_injected, 3);
}

#[tokio::test]
async fn revoking_a_company_ends_its_tokens() {
    let emu = TestEmulator::spawn().await;
    let tokens = emu.connect().await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(emu.api("/api/v2/users", token).await.0, StatusCode::OK);
    let company = emu.companies().await[ACME]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.control(
        Method::POST,
        &format!("/_control/companies/{company}/revoke"),
        None,
    )
    .await;
    let (status, body) = emu.api("/api/v2/users", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message(&body).contains("revoked"));
}

#[tokio::test]
async fn the_control_api_lists_the_implemented_operations() {
    let emu = TestEmulator::spawn().await;
    let (status, body) = emu.control(Method::GET, "/_control/operations", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["spec_operations"].as_u64(),
        Some(dialpad_spec::spec().operations().len() as u64)
    );
    let implemented: Vec<&str> = body["implemented"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for id in [
        "company.get",
        "users.list",
        "users.get",
        "users.create",
        "users.update",
        "contacts.list",
        "contacts.get",
        "contacts.create",
        "contacts.update",
        "contacts.delete",
        "channels.list",
        "channels.get",
        "channels.post",
        "channels.delete",
        "call.list",
        "call.get_call_info",
        "call.participants.add",
        "call.transfer_call",
        "call.actions.hangup",
        "sms.send",
        "webhooks.list",
        "webhooks.get",
        "webhooks.create",
        "webhook.update",
        "webhooks.delete",
        "webhook_call_event_subscription.create",
        "webhook_sms_event_subscription.list",
        "webhook_contact_event_subscription.update",
        "webhook_agent_status_event_subscription.delete",
    ] {
        assert!(implemented.contains(&id), "{id} is implemented");
    }
    assert_eq!(
        implemented.len(),
        46,
        "1 company, 4 users, 5 contacts, 4 channels, 6 calls, sms, 5 webhooks, 20 subscriptions"
    );
}
