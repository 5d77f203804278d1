//! `/api/v1/openapi.json` documents every route: each documented operation is called and must
//! reach a handler (not the router's "no such route" nor a 405), and each action's path carries
//! the catalog's input schema.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_documented_operation_reaches_a_handler() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (template, operations) in paths {
        let path = template
            .replace("{account_id}", "nobody")
            .replace("{environment}", "sandbox")
            .replace("{key}", "list_users")
            .replace("{name}", "order.shipped")
            .replace("{id}", "nothing")
            .replace("{hook_id}", "nothing")
            .replace("{token}", "not-a-token")
            .replace("{path}", "api/v2/users");
        for method in operations.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let mut request = app.api(method.clone(), &path);
            if method != Method::GET && method != Method::DELETE {
                request = request.json(&json!({}));
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template}"
            );
            let unrouted = status == StatusCode::NOT_FOUND
                && (text.is_empty() || text.contains("no such route"));
            assert!(
                !unrouted,
                "{method} {template} is documented but not routed: {text}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked} operations");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_action_is_documented_with_its_input_schema() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let (_, catalog) = app.get("/api/v1/actions").await;
    for action in catalog.as_array().unwrap() {
        let path = format!(
            "/api/v1/accounts/{{account_id}}/actions/{}",
            action["key"].as_str().unwrap()
        );
        let schema =
            &doc["paths"][&path]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(schema, &action["input_schema"], "{path}");
    }
    assert_eq!(doc["servers"][0]["url"], Value::String(app.base.clone()));
    app.shutdown().await;
}
