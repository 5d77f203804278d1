//! Named admin API keys: created (the key shown once, stored hashed), listed without the key,
//! revoked at once in this process and within seconds in another sharing the database, never
//! the last one; a configured key revoked through the API stays revoked after a restart.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{eventually, Backend, TestApp};

on_both_backends!(
    keys_are_created_listed_and_revoked,
    a_key_revoked_by_one_server_stops_working_on_another_within_seconds,
);

/// `GET /api/v1/app` with `key` at `base`: 200 or 401.
async fn status_with(app: &TestApp, base: &str, key: &str) -> StatusCode {
    let request = app.http.get(format!("{base}/api/v1/app")).bearer_auth(key);
    request.send().await.expect("request").status()
}

async fn create_key(app: &TestApp, name: &str) -> Value {
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/admin-keys",
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn keys_are_created_listed_and_revoked(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let (status, list) = app.get("/api/v1/admin-keys").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let bootstrap = list["items"][0].clone();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(bootstrap["name"], "bootstrap");
    assert_eq!(
        bootstrap["key_hint"],
        Value::Null,
        "no hint of a chosen key"
    );
    assert!(
        bootstrap["last_used_at"].is_string(),
        "it was just used: {bootstrap}"
    );

    let created = create_key(&app, "  billing-service ").await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("dbk_") && key.len() == 47, "{key}");
    assert_eq!(created["name"], "billing-service");
    assert!(created["created_at"].is_string());
    assert_eq!(status_with(&app, &app.base, &key).await, StatusCode::OK);

    let (_, list) = app.get("/api/v1/admin-keys").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let listed = items.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(listed["key_hint"], key[..8]);
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert!(
        !list.to_string().contains(&key[8..]),
        "the list never shows a key"
    );
    let stored = app
        .platform
        .store()
        .find_admin_key(&dialbridge_core::hash_api_key(&key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, id, "stored as its SHA-256");

    for (body, field) in [(json!({}), "name"), (json!({ "name": " " }), "name")] {
        let (status, error) = app
            .call(Method::POST, "/api/v1/admin-keys", Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["details"][0]["field"], field);
    }

    // Revoked: refused at once, gone from the list, unknown to a second revocation.
    let (status, revoked) = app
        .call(Method::DELETE, &format!("/api/v1/admin-keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["name"], "billing-service");
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(
        status_with(&app, &app.base, &key).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = app.get("/api/v1/admin-keys").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, error) = app
        .call(Method::DELETE, &format!("/api/v1/admin-keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");

    // The last active key stays.
    let bootstrap_id = bootstrap["id"].as_str().unwrap();
    let (status, error) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin-keys/{bootstrap_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["error"]["code"], "last_admin_key");

    // A key may revoke the one it was made with, and a revoked configured key stays revoked
    // when the server starts again with it.
    let ops = create_key(&app, "ops").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .http
        .delete(format!("{}/api/v1/admin-keys/{bootstrap_id}", app.base))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        status_with(&app, &app.base, &app.api_key).await,
        StatusCode::UNAUTHORIZED
    );
    let master_key = app.master_key.clone();
    app.restart_with_keys(&master_key, None).await.unwrap();
    assert_eq!(
        status_with(&app, &app.base, &app.api_key).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_with(&app, &app.base, &ops).await, StatusCode::OK);
    app.shutdown().await;
}

async fn a_key_revoked_by_one_server_stops_working_on_another_within_seconds(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let other = app.second_server().await;
    let created = create_key(&app, "short-lived").await;
    let key = created["key"].as_str().unwrap().to_owned();
    // The other server has seen it valid (and remembers it).
    assert_eq!(status_with(&app, &other, &key).await, StatusCode::OK);
    assert_eq!(status_with(&app, &other, &key).await, StatusCode::OK);

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin-keys/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let revoked_at = Instant::now();
    assert_eq!(
        status_with(&app, &app.base, &key).await,
        StatusCode::UNAUTHORIZED
    );
    eventually("the other server refuses the revoked key", || async {
        status_with(&app, &other, &key).await == StatusCode::UNAUTHORIZED
    })
    .await;
    let bound = dialbridge_core::KEY_RECHECK + Duration::from_secs(1);
    assert!(revoked_at.elapsed() <= bound, "{:?}", revoked_at.elapsed());
    // And it stays refused.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        status_with(&app, &other, &key).await,
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
}
