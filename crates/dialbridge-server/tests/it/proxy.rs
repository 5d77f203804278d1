//! The Dialpad proxy: Dialpad's official Python SDK pointed at `<public_url>/proxy/<account>`
//! with the admin API key as its token lists users across pages and creates and deletes a
//! contact; the account's credentials and token handling apply; refusals are dialbridge's.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{read, TestApp};

#[path = "../../../dialpad-emulator/tests/it/support/python_sdk.rs"]
mod python_sdk;

const AVERY: &str = "5910974510923776";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_official_sdk_works_through_the_proxy() {
    let app = TestApp::connected("acme").await;
    let base = format!("{}/proxy/acme", app.base);
    let summary = python_sdk::sdk_check(
        &base,
        &app.api_key,
        AVERY,
        &[
            "--page-size",
            "2",
            "--expect-users",
            "3",
            "users-pages",
            "contacts-crud",
        ],
    )
    .await;
    assert_eq!(summary["scenarios"]["users-pages"]["count"], 3, "{summary}");
    assert!(
        summary["scenarios"]["contacts-crud"]["id"].is_string(),
        "{summary}"
    );
    // Dialpad saw the account's OAuth token, never the admin key.
    let (_, log) = app
        .emulator_call(Method::GET, "/_control/requests", None)
        .await;
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["path"] == "/api/v2/contacts" && r["method"] == "POST"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_proxy_forwards_status_body_and_query_and_refuses_what_it_must() {
    let app = TestApp::connected("acme").await;
    let proxy = |method: Method, path: &str| {
        app.http
            .request(method, format!("{}/proxy/acme{path}", app.base))
            .bearer_auth(&app.api_key)
    };
    let response = proxy(Method::GET, "/api/v2/users?company_admin=true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["items"][0]["id"], AVERY);

    // Dialpad's refusals come back as Dialpad gave them.
    let response = proxy(Method::POST, "/api/v2/contacts")
        .json(&json!({ "first_name": "A" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last_name"),
        "{body}"
    );

    // A 401 refreshes the token once and repeats the request.
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    let response = proxy(Method::GET, "/api/v2/company").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // dialbridge's own refusals: no key, an undocumented path, a path escaping /api/v2.
    let response = app
        .http
        .get(format!("{}/proxy/acme/api/v2/company", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = proxy(Method::GET, "/api/v2/contact").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/v2/contacts"),
        "{body}"
    );
    let response = proxy(Method::GET, "/api/v2/users/..%2F..%2Foauth2%2Ftoken")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = proxy(Method::GET, "/api/v2/company").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = proxy(Method::GET, "/oauth2/token").send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "only api/v2 paths"
    );
    // An account that does not exist is not found, not "not connected".
    let (status, body) = app.get("/proxy/nobody/api/v2/company").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(
        body["error"]["message"], "account 'nobody' was not found",
        "{body}"
    );
    // One that exists without a connection is.
    app.create_account("unconnected").await;
    let (status, body) = app.get("/proxy/unconnected/api/v2/company").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_connected");
    app.shutdown().await;
}

/// Dialpad's answer comes back as Dialpad sent it: the same bytes (its keys in its order, its
/// numbers as written) and content type, for a success and for a refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_proxy_answers_dialpads_bytes_unchanged() {
    let app = TestApp::connected("acme").await;
    let key = app.dialpad_api_key().await;
    for path in [
        format!("/api/v2/users/{AVERY}"),
        "/api/v2/users?limit=2".to_owned(),
        "/api/v2/users/0".to_owned(),
    ] {
        let direct = app
            .http
            .get(format!("{}{path}", app.emulator_url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let proxied = app
            .http
            .get(format!("{}/proxy/acme{path}", app.base))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(proxied.status(), direct.status(), "{path}");
        let content_type = |r: &reqwest::Response| {
            r.headers()
                .get(reqwest::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(content_type(&proxied), content_type(&direct), "{path}");
        let (direct, proxied) = (direct.text().await.unwrap(), proxied.text().await.unwrap());
        assert_eq!(proxied, direct, "{path}");
    }
    app.shutdown().await;
}

/// The environment's base URL is read from a cache by every request, parsed once: saving the
/// app's credentials with another base URL moves the very next request there, and back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_base_url_takes_effect_from_the_next_request() {
    let app = TestApp::connected("acme").await;
    let get = || {
        app.http
            .get(format!("{}/proxy/acme/api/v2/users/{AVERY}", app.base))
            .bearer_auth(&app.api_key)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);

    // A port nothing listens on: Dialpad cannot be reached there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unthrottled = || json!({"enabled": false});
    app.save_custom_credentials(&format!("http://{closed}"), unthrottled())
        .await;
    let (status, body) = read(get().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "dialpad_unavailable", "{body}");

    app.save_custom_credentials(&app.emulator_url, unthrottled())
        .await;
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
    app.shutdown().await;
}
