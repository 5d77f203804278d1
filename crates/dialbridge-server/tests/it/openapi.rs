//! `/api/v1/openapi.json` documents every route: each documented operation is called and must
//! reach a handler (not the router's "no such route" nor a 405), every method it does not list
//! is refused, each operation lists what it answers, and each action's path carries the
//! catalog's input schema. `GET /api/docs` shows the document with nothing from another host.

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
        let path = concrete(template);
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

/// A path of the document with its parameters filled in.
fn concrete(template: &str) -> String {
    template
        .replace("{account_id}", "nobody")
        .replace("{environment}", "sandbox")
        .replace("{key}", "list_users")
        .replace("{name}", "order.shipped")
        .replace("{id}", "nothing")
        .replace("{hook_id}", "nothing")
        .replace("{token}", "not-a-token")
        .replace("{path}", "api/v2/users")
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

/// What the document says each route answers: a 204 without a body where the handler answers
/// 204, the admin key and its 401 on every `/api/v1` and `/proxy` operation, HTML and 302s on
/// the browser's routes, a JWT body on Dialpad's ingress; unique operation ids; every `$ref`
/// resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_operation_documents_its_answers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();

    let delete = op("/api/v1/accounts/{account_id}", "delete");
    assert!(delete["responses"]["204"].is_object(), "{delete}");
    assert!(delete["responses"]["204"].get("content").is_none());
    assert!(delete["responses"]["200"].is_null());
    let put = op("/api/v1/accounts/{account_id}", "put");
    assert!(put["responses"]["201"].is_object() && put["responses"]["200"].is_object());
    let run = op(
        "/api/v1/accounts/{account_id}/workflows/{key}/executions",
        "post",
    );
    assert!(run["responses"]["202"].is_object());
    let action = op("/api/v1/accounts/{account_id}/actions/send_sms", "post");
    for status in ["200", "401", "403", "404", "409", "422", "502", "503"] {
        let schema = &action["responses"][status]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "send_sms has no {status}: {action}");
    }
    assert_eq!(
        action["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let unprocessable = action["responses"]["422"]["description"].as_str().unwrap();
    assert!(
        unprocessable.contains("`invalid_input`") && unprocessable.contains("`dialpad_rejected`"),
        "{unprocessable}"
    );
    let bad_gateway = action["responses"]["502"]["description"].as_str().unwrap();
    assert!(bad_gateway.contains("5xx"), "{bad_gateway}");
    // Both routes of the document say it may not be there (its build failed).
    for (path, code) in [
        ("/api/docs/openapi.json", "`internal_error`"),
        ("/api/v1/openapi.json", "`internal_error`"),
    ] {
        let failed = &op(path, "get")["responses"]["500"];
        assert_eq!(
            failed["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{path}: {failed}"
        );
        assert!(failed["description"].as_str().unwrap().contains(code));
    }

    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                operation_ids.insert(id.to_owned()),
                "{method} {path}: operationId {id:?} twice"
            );
            let secured = path.starts_with("/api/v1/") || path.starts_with("/proxy/");
            let security = &operation["security"];
            assert_eq!(
                *security == json!([{"admin_key": []}]),
                secured,
                "{method} {path}"
            );
            assert_eq!(
                operation["responses"]["401"].is_object(),
                secured || path.starts_with("/webhooks/"),
                "{method} {path}"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_key"]["scheme"],
        "bearer"
    );

    let open = op("/connect/{token}", "get");
    assert!(
        open["responses"]["302"]["headers"]["location"].is_object(),
        "{open}"
    );
    assert!(
        open["responses"]["400"]["content"]["text/html"].is_object(),
        "{open}"
    );
    let portal = op("/connect/{token}/portal", "get");
    assert!(
        portal["responses"]["200"]["content"]["text/html"].is_object(),
        "{portal}"
    );
    let form = op("/connect/{token}/api-key", "post");
    assert!(form["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    let callback = op("/oauth/callback", "get");
    assert!(
        callback["responses"]["302"].is_object()
            && callback["responses"]["200"]["content"]["text/html"].is_object()
    );
    let ingress = op("/webhooks/dialpad/{hook_id}", "post");
    assert!(
        ingress["requestBody"]["content"]["application/jwt"].is_object(),
        "{ingress}"
    );
    assert!(doc["paths"]["/proxy/{account_id}/{path}"]["get"].is_object());

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.trim_start_matches('#');
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    app.shutdown().await;
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                refs.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// The router refuses (405) every method the document does not list for a path: no handler
/// is reachable undocumented. (That every path is documented is `routes::tests`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_undocumented_method_reaches_a_handler() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut checked = 0;
    for (template, operations) in doc["paths"].as_object().unwrap() {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if operations.get(method.as_str().to_lowercase()).is_some() {
                continue;
            }
            let response = app
                .api(method.clone(), &concrete(template))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template} is not documented but answers"
            );
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked} checks");
    app.shutdown().await;
}

/// `GET /api/docs` works without network access and without the key: an HTML page whose
/// scripts and styles are same-origin URLs this server answers, whose policy forbids any other
/// host, and which reads the same document as `/api/v1/openapi.json` from
/// `/api/docs/openapi.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_reference_is_served_from_this_host_alone() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = keyless(&app, "/api/docs").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(header(&page, "content-type").starts_with("text/html"));
    let policy = header(&page, "content-security-policy");
    assert!(
        policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//"),
        "{html}"
    );

    let assets = attribute_values(&html, "src=\"")
        .into_iter()
        .chain(attribute_values(&html, "href=\""))
        .collect::<Vec<_>>();
    assert_eq!(assets.len(), 3, "{assets:?}");
    for asset in assets {
        assert!(
            asset.starts_with("docs/"),
            "{asset} is not relative to /api/docs"
        );
        let response = keyless(&app, &format!("/api/{asset}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let expected = if asset.contains(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            header(&response, "content-type").starts_with(expected),
            "{asset}"
        );
        assert!(
            header(&response, "cache-control").contains("immutable"),
            "{asset}"
        );
        let body = response.text().await.unwrap();
        assert!(body.len() > 100, "{asset}");
        if asset.starts_with("docs/api-docs.js") {
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{body}"
            );
            assert!(
                body.contains("url: \"docs/openapi.json\"") && body.contains("validatorUrl: null")
            );
        }
    }
    let missing = keyless(&app, "/api/docs/nothing.js").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let public = keyless(&app, "/api/docs/openapi.json").await;
    assert_eq!(public.status(), StatusCode::OK);
    let public: Value = public.json().await.unwrap();
    let (_, document) = app.get("/api/v1/openapi.json").await;
    assert_eq!(public, document);
    let without_key = keyless(&app, "/api/v1/openapi.json").await;
    assert_eq!(without_key.status(), StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}

/// The document is built aside while the server starts: requests that come before the build is
/// done wait for it, and every one gets the same whole document from either route.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_made_as_the_server_starts_get_the_whole_document() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let requests = (0..16).map(|i| {
        let request = if i % 2 == 0 {
            app.api(Method::GET, "/api/v1/openapi.json")
        } else {
            app.http.get(format!("{}/api/docs/openapi.json", app.base))
        };
        async move {
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.expect("body")
        }
    });
    let bodies = futures::future::join_all(requests).await;
    let document: Value = serde_json::from_slice(&bodies[0]).expect("JSON");
    assert!(document["paths"].as_object().unwrap().len() > 40);
    assert!(
        bodies.iter().all(|body| body == &bodies[0]),
        "the document differs between requests"
    );
    app.shutdown().await;
}

/// `GET path` without the API key.
async fn keyless(app: &TestApp, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", app.base);
    app.http.get(url).send().await.expect("request")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The values of `attribute="…"` in an HTML text.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    html.split(attribute)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}
