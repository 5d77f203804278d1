//! The audit log: every kind of admin change made through the API appears once, newest first,
//! with the name of the key that made it and a summary a person can read, and none of the
//! secrets that went through (client secret, Dialpad API key, endpoint secret, admin keys,
//! config values, connect links). Reads, failed changes and traffic are not recorded.

use dialpad_emulator::Emulator;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{read, Backend, TestApp};

on_both_backends!(each_admin_change_is_recorded_once_with_who_made_it_and_no_secret);

/// A request made with `key` rather than the app's bootstrap key.
async fn with_key(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.expect("request")).await
}

/// The whole log, a page of 4 at a time, newest first.
async fn whole_log(app: &TestApp) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = "/api/v1/audit-log?limit=4".to_owned();
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/audit-log?limit=4&cursor={cursor}"),
            None => return items,
        }
    }
}

async fn each_admin_change_is_recorded_once_with_who_made_it_and_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, ops) = app
        .call(
            Method::POST,
            "/api/v1/admin-keys",
            Some(json!({"name": "ops"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ops}");
    let (ops_key, ops_id) = (ops["key"].as_str().unwrap(), ops["id"].as_str().unwrap());
    let dialpad_key = app.dialpad_api_key().await;
    let config_value = "cfg-VALUE-7c1e";

    let app_ref = &app;
    let change = |method: Method, path: &'static str, body: Option<Value>| {
        let method2 = method.clone();
        async move {
            let (status, answer) = with_key(app_ref, ops_key, method2, path, body).await;
            assert!(status.is_success(), "{method} {path}: {status} {answer}");
            answer
        }
    };
    change(
        Method::PUT,
        "/api/v1/app/credentials/custom",
        Some(json!({"client_id": Emulator::DEV_CLIENT_ID, "client_secret": Emulator::DEV_CLIENT_SECRET, "base_url": app.emulator_url})),
    )
    .await;
    change(
        Method::PUT,
        "/api/v1/app/scopes",
        Some(json!({"scopes": ["calls:list"]})),
    )
    .await;
    change(
        Method::PUT,
        "/api/v1/accounts/acme",
        Some(json!({"name": "Acme"})),
    )
    .await;
    let link = change(
        Method::POST,
        "/api/v1/accounts/acme/connect",
        Some(json!({})),
    )
    .await;
    let connect_token = link["connect_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    change(
        Method::PUT,
        "/api/v1/accounts/acme/connection",
        Some(json!({"auth_type": "api_key", "api_key": dialpad_key, "environment": "custom"})),
    )
    .await;
    let waiter = json!({
        "name": "Waits", "trigger": {"type": "api"},
        "config": {"greeting": {"type": "string"}},
        "steps": [{"id": "wait", "delay": "1h"}],
    });
    change(Method::PUT, "/api/v1/workflows/waiter", Some(waiter)).await;
    change(
        Method::PUT,
        "/api/v1/accounts/acme/workflows/waiter",
        Some(json!({"config": {"greeting": config_value}})),
    )
    .await;
    // Traffic, reads and refused changes are not recorded.
    let started = change(
        Method::POST,
        "/api/v1/accounts/acme/workflows/waiter/executions",
        Some(json!({"input": {}})),
    )
    .await;
    let execution = started["execution_id"].as_str().unwrap().to_owned();
    change(Method::POST, "/api/v1/accounts/acme/connection/check", None).await;
    change(Method::GET, "/api/v1/app", None).await;
    let (status, _) = with_key(
        &app,
        ops_key,
        Method::PUT,
        "/api/v1/app/scopes",
        Some(json!({"scopes": ["no-such-scope"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    for (method, action) in [(Method::POST, "cancel"), (Method::POST, "replay")] {
        let path = format!("/api/v1/executions/{execution}/{action}");
        let (status, answer) = with_key(&app, ops_key, method, &path, None).await;
        assert!(status.is_success(), "{path}: {answer}");
    }
    let endpoint = change(
        Method::PUT,
        "/api/v1/webhook-endpoints/vendor",
        Some(json!({"url": "https://vendor.example/hooks"})),
    )
    .await;
    let endpoint_secret = endpoint["secret"].as_str().unwrap().to_owned();
    change(Method::DELETE, "/api/v1/webhook-endpoints/vendor", None).await;
    change(
        Method::DELETE,
        "/api/v1/accounts/acme/workflows/waiter",
        None,
    )
    .await;
    change(Method::DELETE, "/api/v1/workflows/waiter", None).await;
    change(Method::DELETE, "/api/v1/accounts/acme/connection", None).await;
    change(Method::DELETE, "/api/v1/accounts/acme", None).await;
    let temp = change(
        Method::POST,
        "/api/v1/admin-keys",
        Some(json!({"name": "temp"})),
    )
    .await;
    let temp_id = temp["id"].as_str().unwrap().to_owned();
    let (status, _) = with_key(
        &app,
        ops_key,
        Method::DELETE,
        &format!("/api/v1/admin-keys/{temp_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let log = whole_log(&app).await;
    let seen: Vec<(&str, &str, &str)> = log
        .iter()
        .rev()
        .map(|e| {
            (
                e["key_name"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    let temp_target = format!("admin_key/{temp_id}");
    let ops_target = format!("admin_key/{ops_id}");
    let execution_target = format!("execution/{execution}");
    assert_eq!(
        seen,
        [
            ("bootstrap", "admin_key.create", ops_target.as_str()),
            ("ops", "app.credentials.put", "environment/custom"),
            ("ops", "app.scopes.put", "app"),
            ("ops", "account.put", "account/acme"),
            ("ops", "account.connect", "account/acme"),
            ("ops", "connection.put", "account/acme"),
            ("ops", "workflow.put", "workflow/waiter"),
            ("ops", "workflow.enable", "account/acme/workflow/waiter"),
            ("ops", "execution.cancel", execution_target.as_str()),
            ("ops", "execution.replay", execution_target.as_str()),
            ("ops", "webhook_endpoint.put", "webhook_endpoint/vendor"),
            ("ops", "webhook_endpoint.delete", "webhook_endpoint/vendor"),
            ("ops", "workflow.disable", "account/acme/workflow/waiter"),
            ("ops", "workflow.delete", "workflow/waiter"),
            ("ops", "connection.delete", "account/acme"),
            ("ops", "account.delete", "account/acme"),
            ("ops", "admin_key.create", temp_target.as_str()),
            ("ops", "admin_key.delete", temp_target.as_str()),
        ]
    );
    for entry in &log {
        assert_eq!(entry["source"], "api");
        assert!(entry["at"].is_string());
        let expected_key = if entry["key_name"] == "ops" {
            ops_id
        } else {
            ""
        };
        if !expected_key.is_empty() {
            assert_eq!(entry["key_id"], expected_key);
        }
    }
    let summary = |action: &str| {
        log.iter()
            .find(|e| e["action"] == action)
            .map(|e| e["summary"].clone())
            .unwrap()
    };
    assert_eq!(
        summary("app.credentials.put"),
        json!({"client_id": Emulator::DEV_CLIENT_ID, "base_url": app.emulator_url})
    );
    assert_eq!(
        summary("app.scopes.put"),
        json!({"scopes": ["offline_access", "calls:list"]})
    );
    assert_eq!(
        summary("account.put"),
        json!({"name": "Acme", "created": true})
    );
    assert_eq!(
        summary("connection.put"),
        json!({"auth_type": "api_key", "environment": "custom", "status": "connected"})
    );
    assert_eq!(summary("workflow.put"), json!({"version": 1}));
    assert_eq!(
        summary("workflow.enable"),
        json!({"config_fields": ["greeting"]})
    );
    assert_eq!(summary("execution.cancel"), json!({"status": "cancelled"}));
    assert!(summary("execution.replay")["new_execution_id"].is_string());
    assert_eq!(
        summary("webhook_endpoint.put")["url"],
        "https://vendor.example/hooks"
    );
    assert_eq!(summary("admin_key.delete"), json!({"name": "temp"}));

    let text = serde_json::to_string(&log).unwrap();
    let temp_key = temp["key"].as_str().unwrap();
    for secret in [
        Emulator::DEV_CLIENT_SECRET,
        &dialpad_key,
        &endpoint_secret,
        ops_key,
        temp_key,
        &app.api_key,
        config_value,
        &connect_token,
    ] {
        assert!(
            !text.contains(secret),
            "a secret ({}…) is in the audit log",
            &secret[..4]
        );
    }
    app.shutdown().await;
}
