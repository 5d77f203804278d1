//! `GET /api/v1/events`: the stored events newest first, a page at a time, filtered by
//! account, each naming the executions it started.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestApp;
use crate::workflows::save_and_enable;

async fn post_event(app: &TestApp, account: &str, name: &str, payload: Value) -> Vec<Value> {
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/accounts/{account}/events/{name}"),
            Some(payload),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["executions"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_listed_newest_first_with_the_executions_they_started() {
    let app = TestApp::connected("acme").await;
    let on_order = json!({
        "name": "On order",
        "trigger": { "type": "event", "event": "order.shipped" },
        "steps": [{ "id": "echo", "set": { "order": "{{ event.order_id }}" } }],
    });
    save_and_enable(&app, "on-order", on_order).await;
    let (status, body) = app
        .call(Method::PUT, "/api/v1/accounts/beta", Some(json!({})))
        .await;
    assert!(status.is_success(), "{body}");

    let started = post_event(&app, "acme", "order.shipped", json!({ "order_id": "o-1" })).await;
    assert_eq!(started.len(), 1);
    assert!(post_event(&app, "beta", "order.shipped", json!({}))
        .await
        .is_empty());
    assert!(post_event(&app, "acme", "other", json!({ "n": 3 }))
        .await
        .is_empty());

    let (status, page) = app.get("/api/v1/events").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = items
        .iter()
        .map(|e| {
            (
                e["account_id"].as_str().unwrap(),
                e["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("acme", "other"),
            ("beta", "order.shipped"),
            ("acme", "order.shipped")
        ],
        "newest first"
    );
    assert!(page.get("cursor").is_none(), "one page holds them all");
    let first = &items[2];
    assert_eq!(first["source"], "vendor");
    assert_eq!(first["payload"], json!({ "order_id": "o-1" }));
    assert_eq!(
        first["executions"],
        json!(started),
        "it names its execution"
    );
    assert_eq!(items[0]["executions"], json!([]));
    assert!(first["id"].as_str().unwrap().starts_with("evt_"));
    let (_, execution) = app
        .get(&format!(
            "/api/v1/executions/{}",
            started[0].as_str().unwrap()
        ))
        .await;
    assert_eq!(execution["trigger"]["event_id"], first["id"]);

    // One account's, a page of one at a time.
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?account_id=acme&limit=1&cursor={c}"),
            None => "/api/v1/events?account_id=acme&limit=1".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["account_id"], "acme");
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        match page["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["other", "order.shipped"]);

    let (status, body) = app.get("/api/v1/events?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
    let (status, body) = app.get("/api/v1/events?account_id=no%20spaces").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    app.shutdown().await;
}
