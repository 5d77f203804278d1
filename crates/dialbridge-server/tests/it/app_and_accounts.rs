//! Admin API authentication, app settings (credentials per environment, scopes) and account
//! CRUD with cursor pagination, on both storage backends.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{self, Backend, TestApp};

on_both_backends!(
    admin_api_needs_the_key,
    app_credentials_and_scopes,
    accounts_crud_and_pagination
);

async fn admin_api_needs_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    for auth in [None, Some("Bearer wrong-key"), Some("Basic abc")] {
        let mut request = app.http.get(format!("{}/api/v1/app", app.base));
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        let (status, body) = support::read(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // Unknown routes under /api/v1 are refused before they can reveal anything.
    let response = app
        .http
        .get(format!("{}/api/v1/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = app.get("/api/v1/nope").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    app.shutdown().await;
}

async fn app_credentials_and_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, view) = app.get("/api/v1/app").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["callback_url"], format!("{}/oauth/callback", app.base));
    assert_eq!(
        view["environments"]["production"]["base_url"],
        "https://dialpad.com"
    );
    assert_eq!(
        view["environments"]["sandbox"]["base_url"],
        "https://sandbox.dialpad.com"
    );
    assert_eq!(view["environments"]["custom"]["configured"], false);
    assert_eq!(
        view["scopes"],
        json!([{"name": "offline_access", "mandatory": true, "custom": false,
        "description": "A refresh token, so access survives the access token's expiry"}])
    );
    let available: Vec<&str> = view["available_scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        available.contains(&"calls:list") && available.contains(&"recordings_export"),
        "{available:?}"
    );

    // `custom` needs a base URL; every problem is named.
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/app/credentials/custom",
            Some(json!({"client_id": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_input");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["client_secret", "base_url"]);
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/app/credentials/staging",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("environment"))
    );

    let (status, view) = app
        .call(Method::PUT, "/api/v1/app/credentials/sandbox", Some(json!({"client_id": "sb-id", "client_secret": "sb-secret-value", "base_url": "https://ignored.example"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        view["environments"]["sandbox"],
        json!({"client_id": "sb-id", "base_url": "https://sandbox.dialpad.com", "configured": true,
               "rate_limits": {"enabled": true, "per_second": 20, "operation_limits": true}})
    );
    // Dialpad's limits per environment: the documented ones unless the vendor sets others.
    let (status, view) = app
        .call(
            Method::PUT,
            "/api/v1/app/credentials/sandbox",
            Some(
                json!({"client_id": "sb-id", "client_secret": "sb-secret-value",
              "rate_limits": {"per_second": 50, "operation_limits": false}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        view["environments"]["sandbox"]["rate_limits"],
        json!({"enabled": true, "per_second": 50, "operation_limits": false})
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/app/credentials/sandbox",
            Some(json!({"client_id": "sb-id", "client_secret": "x",
              "rate_limits": {"per_second": 0}})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["details"][0]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("rate_limits.per_second")
        ),
        "{body}"
    );
    assert!(
        !view.to_string().contains("sb-secret-value"),
        "secrets are never returned"
    );

    // Scopes: catalog names only, unless given as custom; offline_access always in.
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/app/scopes",
            Some(json!({"scopes": ["calls:list", "calls:write"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_scope");
    assert_eq!(body["error"]["details"]["scope"], "calls:write");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("calls:write"));
    let (status, view) = app
        .call(Method::PUT, "/api/v1/app/scopes", Some(json!({"scopes": ["recordings_export", "calls:list"], "custom_scopes": ["settings:write"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let scopes: Vec<(String, bool, bool)> = view["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["mandatory"].as_bool().unwrap(),
                s["custom"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        [
            ("offline_access".into(), true, false),
            ("recordings_export".into(), false, false),
            ("calls:list".into(), false, false),
            ("settings:write".into(), false, true)
        ]
    );
    let (_, again) = app.get("/api/v1/app").await;
    assert_eq!(again["scopes"], view["scopes"], "the selection is stored");
    app.shutdown().await;
}

async fn accounts_crud_and_pagination(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, account) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme-1",
            Some(json!({"name": "Acme", "metadata": {"plan": "pro"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["account_id"], "acme-1");
    assert_eq!(account["connection"], json!(null));
    // Absent fields keep their value.
    let (status, account) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme-1",
            Some(json!({"name": "Acme Inc"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (account["name"].as_str(), &account["metadata"]),
        (Some("Acme Inc"), &json!({"plan": "pro"}))
    );
    let (_, fetched) = app.get("/api/v1/accounts/acme-1").await;
    assert_eq!(fetched["name"], "Acme Inc");

    let (status, body) = app
        .call(Method::PUT, "/api/v1/accounts/bad%20id", Some(json!({})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input"))
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/x",
            Some(json!({"nmae": "typo"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("nmae"));
    let (status, _) = app.get("/api/v1/accounts/missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for i in 2..=5 {
        app.create_account(&format!("acme-{i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/accounts?limit=2&cursor={c}"),
            None => "/api/v1/accounts?limit=2".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|a| a["account_id"].as_str().unwrap().to_owned()),
        );
        match page.get("cursor").and_then(|c| c.as_str()) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["acme-1", "acme-2", "acme-3", "acme-4", "acme-5"]);
    let (status, _) = app.get("/api/v1/accounts?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app.get("/api/v1/accounts?cursor=!!!").await;
    assert_eq!(
        (status, body["error"]["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor"))
    );

    let response = app
        .api(Method::DELETE, "/api/v1/accounts/acme-3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/accounts/acme-3").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = app.get("/api/v1/accounts").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    assert!(page.get("cursor").is_none(), "no cursor on the last page");
    app.shutdown().await;
}

/// `.` and `..` (also as `%2e%2e`, which arrives decoded) are path segments every client that
/// normalises URLs drops, so an account with such an id could never be addressed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn account_ids_made_only_of_dots_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for raw in [
        "/api/v1/accounts/.",
        "/api/v1/accounts/..",
        "/api/v1/accounts/%2e%2e",
        "/api/v1/accounts/%2E%2e",
        "/api/v1/accounts/...",
    ] {
        let (status, body) = support::raw_request(&app, "PUT", raw, Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{raw}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{raw}: {body}");
        assert_eq!(body["error"]["details"][0]["field"], "account_id");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("only of dots"),
            "{raw}: {body}"
        );
    }
    let (_, page) = app.get("/api/v1/accounts").await;
    assert_eq!(page["items"], json!([]), "nothing was created");
    let (status, _) = support::raw_request(&app, "PUT", "/api/v1/accounts/.a.", None).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "dots beside other characters are fine"
    );
    app.shutdown().await;
}
