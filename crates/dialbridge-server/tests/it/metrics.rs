//! `GET /metrics`: Prometheus text with dialbridge's own requests, Dialpad requests, actions,
//! events, executions and refreshes; route templates, never raw paths or account ids.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_what_happened_without_naming_accounts() {
    let app = TestApp::connected("acme-secret-customer").await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme-secret-customer/actions/list_users",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme-secret-customer/actions/get_contact",
            Some(json!({ "id": "1" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "Dialpad's 404");
    let (status, _) = app.get("/no/such/route/acme-secret-customer").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "no API key needed");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("openmetrics"));
    let text = response.text().await.unwrap();
    for line in [
        r#"dialbridge_actions_total{action="list_users",outcome="ok"} 1"#,
        r#"dialbridge_actions_total{action="get_contact",outcome="dialpad_rejected"} 1"#,
        r#"dialbridge_dialpad_requests_total{operation="users.list",status="200"} 1"#,
        r#"dialbridge_dialpad_requests_total{operation="contacts.get",status="404"} 1"#,
        r#"dialbridge_http_requests_total{route="/api/v1/accounts/{account_id}/actions/{key}",method="POST",status="200"} 1"#,
        // A path no route serves is counted too, by no path of its own.
        r#"dialbridge_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
    ] {
        assert!(text.contains(line), "{line}\n---\n{text}");
    }
    assert!(
        !text.contains("acme-secret-customer"),
        "no account ids in labels"
    );
    app.shutdown().await;
}
