//! Every error on every route is the contract's JSON error (or an HTML page on the routes a
//! browser visits): unknown routes, wrong methods (with `Allow`), bodies over the limit, and
//! one content-type rule for every JSON body — `application/json` or a `+json` type, and an
//! empty body only where the body is optional.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Backend, TestApp};

/// `(status, content type, body)` of a request built by `request`.
async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, String, String) {
    answer_of(request.send().await.expect("request")).await
}

/// Asserts a contract JSON error with `code`.
fn assert_contract(
    what: &str,
    (status, content_type, body): &(StatusCode, String, String),
    code: &str,
) {
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {status} {content_type} {body}"
    );
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_routes_and_wrong_methods_answer_the_contract_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // `/` is not among them: it redirects to the dashboard.
    for path in ["/nope", "/proxy/acme", "/api/v1/nope", "/webhooks/dialpad"] {
        let got = answer(app.api(Method::GET, path)).await;
        assert_eq!(got.0, StatusCode::NOT_FOUND, "GET {path}");
        assert_contract(&format!("GET {path}"), &got, "not_found");
    }
    for (method, path, allowed) in [
        (Method::DELETE, "/healthz", "GET"),
        (Method::POST, "/api/v1/app", "GET"),
        (Method::GET, "/webhooks/dialpad/some-hook", "POST"),
    ] {
        let response = app.api(method.clone(), path).send().await.unwrap();
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            allow.as_deref().is_some_and(|a| a.contains(allowed)),
            "{method} {path}: Allow {allow:?}"
        );
        let got = answer_of(response).await;
        assert_eq!(got.0, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_contract(&format!("{method} {path}"), &got, "method_not_allowed");
    }
    // The browser's routes answer pages, and keep the Allow header.
    let response = app
        .http
        .get(format!("{}/connect/some-token/api-key", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key("allow"));
    let (_, content_type, _) = answer_of(response).await;
    assert!(content_type.starts_with("text/html"), "{content_type}");
    app.shutdown().await;
}

async fn answer_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_over_the_limit_answer_the_contract_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_account("acme").await;
    let big = vec![b'a'; 1024 * 1024 + 1024];
    for (method, path, content_type) in [
        (
            Method::POST,
            "/proxy/acme/api/v2/contacts",
            "application/json",
        ),
        (
            Method::POST,
            "/webhooks/dialpad/some-hook",
            "application/jwt",
        ),
        (Method::PUT, "/api/v1/workflows/big", "application/yaml"),
        (Method::PUT, "/api/v1/accounts/acme", "application/json"),
        (Method::PUT, "/api/v1/app/scopes", "application/json"),
    ] {
        let request = app
            .api(method.clone(), path)
            .header("content-type", content_type)
            .body(big.clone());
        let got = answer(request).await;
        assert_eq!(got.0, StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}");
        assert_contract(&format!("{method} {path}"), &got, "payload_too_large");
    }
    // The portal's form is a browser's: a page.
    let form = app
        .http
        .post(format!("{}/connect/some-token/api-key", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big);
    let (status, content_type, _) = answer(form).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let json_form = app
        .http
        .post(format!("{}/connect/some-token/api-key", app.base))
        .header("content-type", "application/json")
        .body("{\"api_key\": \"k\"}");
    let (status, content_type, _) = answer(json_form).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    app.shutdown().await;
}

/// One rule for every JSON body: a body must come as JSON, whether the route needs one or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_json_body_needs_a_json_content_type() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_account("acme").await;
    let routes = [
        (Method::PUT, "/api/v1/accounts/acme", "{\"name\": \"Acme\"}"),
        (Method::POST, "/api/v1/accounts/acme/connect", "{}"),
        (
            Method::POST,
            "/api/v1/accounts/acme/actions/list_users",
            "{}",
        ),
        (Method::PUT, "/api/v1/accounts/acme/workflows/nothing", "{}"),
        (
            Method::POST,
            "/api/v1/accounts/acme/events/order.shipped",
            "{}",
        ),
        (
            Method::POST,
            "/api/v1/accounts/acme/workflows/nothing/executions",
            "{}",
        ),
        (Method::POST, "/api/v1/executions/nothing/replay", "{}"),
        (
            Method::PUT,
            "/api/v1/accounts/acme/connection",
            "{\"auth_type\": \"api_key\"}",
        ),
        (Method::PUT, "/api/v1/app/scopes", "{\"scopes\": []}"),
        (
            Method::PUT,
            "/api/v1/webhook-endpoints/e1",
            "{\"url\": \"https://vendor.example/hook\"}",
        ),
    ];
    for (method, path, body) in routes {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            None,
        ] {
            let mut request = app.api(method.clone(), path).body(body);
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let got = answer(request).await;
            let what = format!("{method} {path} as {content_type:?}");
            assert_eq!(
                got.0,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{what}: {}",
                got.2
            );
            assert_contract(&what, &got, "unsupported_media_type");
        }
    }
    // `+json` types are JSON; parameters are allowed.
    for content_type in [
        "application/vnd.api+json",
        "application/json; charset=utf-8",
    ] {
        let request = app
            .api(Method::PUT, "/api/v1/accounts/acme")
            .header("content-type", content_type)
            .body("{\"name\": \"Acme\"}");
        let (status, _, body) = answer(request).await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {body}");
    }
    // An optional body may be empty, whatever its content type; a required one may not.
    let empty = app
        .api(Method::PUT, "/api/v1/accounts/beta")
        .header("content-type", "text/plain");
    assert_eq!(answer(empty).await.0, StatusCode::CREATED);
    let empty = app
        .api(Method::PUT, "/api/v1/app/scopes")
        .header("content-type", "application/json");
    let got = answer(empty).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST);
    assert_contract("an empty required body", &got, "invalid_request");
    app.shutdown().await;
}

/// A misspelt action, trigger or workflow is answered with the closest known name.
#[tokio::test]
async fn unknown_names_come_with_a_suggestion() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_account("acme").await;
    let not_found = |(status, body): (StatusCode, Value), suggestion: &str| {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(
            body["error"]["details"]["did_you_mean"], suggestion,
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("did you mean {suggestion}?")),
            "{message}"
        );
    };
    not_found(
        app.call(
            Method::POST,
            "/api/v1/accounts/acme/actions/list_user",
            Some(json!({})),
        )
        .await,
        "list_users",
    );
    not_found(
        app.call(Method::GET, "/api/v1/actions/sned_sms", None)
            .await,
        "send_sms",
    );

    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/workflows/missed-call",
            Some(json!({"name": "t", "trigger": {"type": "call.hangp"},
                        "steps": [{"id": "a", "set": {"x": "1"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean call.hangup?"),
        "{body}"
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/workflows/missed-call",
            Some(json!({"name": "t", "trigger": {"type": "api"},
                        "steps": [{"id": "a", "set": {"x": "1"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (method, path, body) in [
        (Method::GET, "/api/v1/workflows/missed-cal", None),
        (
            Method::PUT,
            "/api/v1/accounts/acme/workflows/missed-cal",
            Some(json!({"config": {}})),
        ),
        (
            Method::DELETE,
            "/api/v1/accounts/acme/workflows/missed-cal",
            None,
        ),
        (
            Method::POST,
            "/api/v1/accounts/acme/workflows/missed-cal/executions",
            Some(json!({"input": {}})),
        ),
        (Method::DELETE, "/api/v1/workflows/missed-cal", None),
    ] {
        not_found(app.call(method, path, body).await, "missed-call");
    }
    app.shutdown().await;
}

/// A query parameter that does not read as what the route takes is `invalid_input` with the
/// parameter in `details`, like a bad body field, and says what it must be.
#[tokio::test]
async fn a_malformed_query_parameter_is_named_in_details() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (path, field, words) in [
        (
            "/api/v1/executions?limit=abc",
            "limit",
            "must be a whole number",
        ),
        ("/api/v1/accounts?limit=", "limit", "must be a whole number"),
        (
            "/api/v1/events?limit=1.5",
            "limit",
            "must be a whole number",
        ),
        ("/api/v1/executions?status=bogus", "status", "must be"),
        (
            "/api/v1/accounts?since=yesterday",
            "since",
            "is not a parameter here; expected `cursor` or `limit`",
        ),
        (
            "/api/v1/workflows/missed-call?verison=2",
            "verison",
            "is not a parameter here; expected `version`",
        ),
        // A made-up cursor, or another listing's, is refused, not read as the end.
        (
            "/api/v1/executions?cursor=garbage",
            "cursor",
            "is not a cursor this API returned",
        ),
        (
            "/api/v1/events?cursor=exe_0193aaaaaaaaaAAAAAAAAAAA",
            "cursor",
            "is not a cursor this API returned",
        ),
        (
            "/api/v1/audit-log?cursor=aud_",
            "cursor",
            "is not a cursor this API returned",
        ),
    ] {
        let (status, body) = app.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{path}: {body}");
        assert_eq!(
            body["error"]["details"][0]["field"], field,
            "{path}: {body}"
        );
        let message = body["error"]["details"][0]["message"].as_str().unwrap();
        assert!(message.contains(words), "{path}: {body}");
        assert!(
            !body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Failed to deserialize"),
            "{path}: {body}"
        );
    }
    // An empty cursor (`?cursor=`, a client filling in "no cursor") is the first page.
    app.create_account("acme").await;
    for path in ["/api/v1/accounts?cursor=", "/api/v1/audit-log?cursor="] {
        let (status, body) = app.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["items"].as_array().unwrap().len(), 1, "{path}: {body}");
    }
    app.shutdown().await;
}

/// JSON that does not fit its route is `invalid_input` naming the field in `details`, in JSON's
/// words (never Rust's: `u32`, `struct …`, `a sequence`), and without repeating a string it was
/// sent; JSON that is not JSON stays `invalid_request`, with where it broke.
#[tokio::test]
async fn a_body_that_does_not_fit_names_the_field() {
    const ACCOUNT: &str = "/api/v1/accounts/acme";
    const CREDENTIALS: &str = "/api/v1/app/credentials/custom";
    const SCOPES: &str = "/api/v1/app/scopes";
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Credentials that are right but for `fields`.
    let credentials = |fields: Value| {
        let mut body =
            json!({"client_id": "c", "client_secret": "s", "base_url": "http://127.0.0.1:9"});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        body
    };
    let secret = "a-string-that-must-not-come-back";
    for (path, body, field, words) in [
        (
            ACCOUNT,
            json!({"name": 5}),
            "name",
            "must be a string, got 5",
        ),
        (ACCOUNT, json!([]), "body", "must be an object"),
        (
            ACCOUNT,
            json!("abc"),
            "body",
            "must be an object, got a string",
        ),
        (
            ACCOUNT,
            json!({"name": "Acme", "bogus": 1}),
            "bogus",
            "is not a field here; expected `name` or `metadata`",
        ),
        (
            CREDENTIALS,
            credentials(json!({"rate_limits": {"per_second": -3}})),
            "rate_limits.per_second",
            "must be a whole number from 0 to 4294967295, got -3",
        ),
        (
            CREDENTIALS,
            credentials(json!({"rate_limits": {"enabled": secret}})),
            "rate_limits.enabled",
            "must be true or false, got a string",
        ),
        (
            CREDENTIALS,
            credentials(json!({"rate_limits": "x"})),
            "rate_limits",
            "must be an object, got a string",
        ),
        (
            SCOPES,
            json!({"scopes": "calls:list"}),
            "scopes",
            "must be an array, got a string",
        ),
        (SCOPES, json!({}), "scopes", "is required"),
        // A misspelt optional field is refused, not ignored.
        (
            SCOPES,
            json!({"scopes": [], "custom_scope": ["x:y"]}),
            "custom_scope",
            "is not a field here; expected `scopes` or `custom_scopes`",
        ),
        (
            CREDENTIALS,
            credentials(json!({"rate_limit": {"enabled": false}})),
            "rate_limit",
            "is not a field here; expected one of `client_id`, `client_secret`, `base_url`, \
             `rate_limits`",
        ),
    ] {
        let what = format!("PUT {path} {body}");
        let (status, answer) = app.call(Method::PUT, path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_input", "{what}: {answer}");
        let problem = &answer["error"]["details"][0];
        assert_eq!(problem["field"], field, "{what}: {answer}");
        assert_eq!(problem["message"], words, "{what}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert_eq!(
            message,
            format!("invalid input: {field}: {words}"),
            "{what}"
        );
        assert!(!message.contains(secret), "{what}: {message}");
    }
    let (status, refused) = app
        .call(
            Method::POST,
            "/api/v1/admin-keys",
            Some(json!({"name": ["x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        refused["error"]["details"][0],
        json!({"field": "name", "message": "must be a string, got an array"})
    );
    // Not JSON at all: the request is malformed, and the message says where.
    let broken = app
        .api(Method::PUT, ACCOUNT)
        .header("content-type", "application/json")
        .body("{\"name\": \"Acme\"");
    let got = answer(broken).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.2);
    assert_contract("a body cut short", &got, "invalid_request");
    assert!(got.2.contains("line 1 column"), "{}", got.2);
    app.shutdown().await;
}
