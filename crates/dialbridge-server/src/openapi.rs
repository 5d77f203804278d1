//! The OpenAPI document, `GET /api/v1/openapi.json` (and `/api/docs/openapi.json` for the API
//! reference page). Its operations come from the handlers' `#[utoipa::path]`s, collected by
//! the `OpenApiRouter` that registers them (`routes/mod.rs`), so no route is served
//! undescribed. Here is only what the handlers cannot say: the document's frame (title,
//! security scheme, tags), the public URL, and one operation per action carrying that
//! action's input schema (derived from Dialpad's spec), cloned from the generic
//! `POST …/actions/{key}`.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::Server;
use utoipa::{Modify, OpenApi};

use crate::contract::is_browser_route;
use crate::error::{ApiError, ErrorBody};
use crate::heap;

/// The name of the admin API key's security scheme.
pub const ADMIN_KEY: &str = "admin_key";

/// The path of the generic action operation, expanded into one path per action.
const RUN_ACTION: &str = "/api/v1/accounts/{account_id}/actions/{key}";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dialbridge",
        description = "A self-hosted embedded integration platform for Dialpad. Every `/api/v1` and `/proxy` route needs `Authorization: Bearer <admin API key>`. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    components(schemas(ErrorBody)),
    modifiers(&AdminKey),
    tags(
        (name = "app", description = "The vendor's Dialpad OAuth app: credentials per environment, scopes."),
        (name = "accounts", description = "The vendor's customers and their Dialpad connections."),
        (name = "connect", description = "The connect flow: links for the customer's browser, the pages it sees, the OAuth callback."),
        (name = "actions", description = "Dialpad operations run for a connected account, by key; one path per action carries its input schema."),
        (name = "workflows", description = "Triggers, workflows, their enablement per account, and the events that start them."),
        (name = "executions", description = "Durable runs of workflows."),
        (name = "webhooks", description = "dialbridge's own webhooks to the vendor (Standard Webhooks), and their delivery logs."),
        (name = "admin", description = "Admin API keys (named, revocable) and the audit log of admin changes."),
        (name = "mcp", description = "Tokens for MCP clients: each reaches one account's tools and resources at `/mcp` (MCP over Streamable HTTP, not described here: JSON-RPC with the token as bearer)."),
        (name = "proxy", description = "Dialpad's API v2 with an account's credentials, for Dialpad's SDKs."),
        (name = "health", description = "Liveness and metrics."),
        (name = "meta", description = "This document and the API reference page."),
    )
)]
struct Frame;

/// Declares the admin API key as an HTTP bearer scheme.
struct AdminKey;

impl Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An admin API key (`dialbridge serve --api-key`, or the one printed at first start)."))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(ADMIN_KEY, SecurityScheme::Http(scheme));
    }
}

/// The frame the router's operations are collected into.
pub fn frame() -> utoipa::openapi::OpenApi {
    Frame::openapi()
}

/// The finished document, serialised once, as the handlers serve it. It is built on a thread
/// of its own while the server starts, not before it listens: its action paths carry schemas
/// read from Dialpad's spec, so building it parses the spec too, and the two were a third of
/// the CPU from process start to the first answer. The thread hands it over on a watch
/// channel, which the handlers wait on.
#[derive(Clone)]
pub struct Document(watch::Receiver<Option<Bytes>>);

impl Document {
    /// The document of these operations under `server_url`, its build started aside.
    pub fn new(openapi: utoipa::openapi::OpenApi, server_url: String) -> Self {
        Document::built_aside(move || Bytes::from(finish(openapi, &server_url).to_string()))
    }

    fn built_aside(build: impl FnOnce() -> Bytes + Send + 'static) -> Self {
        let (built, document) = watch::channel(None);
        let spawned = std::thread::Builder::new()
            .name("openapi-document".into())
            .spawn(move || {
                built.send_replace(Some(build()));
                // The build freed several times what it keeps, in this thread's arena: 8 MiB
                // of an idle process's 14 were that.
                heap::trim();
            });
        if let Err(e) = spawned {
            tracing::error!(
                "no thread to build the OpenAPI document on ({e}): its routes answer 500"
            );
        }
        Document(document)
    }

    /// The document as served. A request that comes before the build is done (tens of
    /// milliseconds after start) waits for it without holding a runtime worker. Should the
    /// build have failed (its thread panicked or never started; the log says which), the
    /// answer is a 500.
    pub async fn response(mut self) -> Response {
        let built = self
            .0
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|built| built.clone());
        match built {
            Some(document) => ([(CONTENT_TYPE, "application/json")], document).into_response(),
            None => ApiError::new(
                "internal_error",
                "the OpenAPI document could not be built; the server log has the details",
            )
            .into_response(),
        }
    }
}

/// The document as served: the collected operations under `server_url`, with axum's
/// `{*name}` wildcards written as OpenAPI's `{name}`, and one path per action.
pub fn finish(mut openapi: utoipa::openapi::OpenApi, server_url: &str) -> Value {
    openapi.servers = Some(vec![Server::new(server_url)]);
    let mut document = serde_json::to_value(&openapi).unwrap_or_else(|e| {
        unreachable!("an OpenAPI document always serialises: {e}");
    });
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        *paths = std::mem::take(paths)
            .into_iter()
            .map(|(path, item)| (path.replace("{*", "{"), item))
            .collect();
        for (path, item) in paths.iter_mut() {
            if let Some(item) = item.as_object_mut() {
                tidy_operations(path, item);
            }
        }
        add_action_paths(paths);
    }
    document
}

/// What a path parameter accepts, by path prefix and name: the domain's rules for ids and keys,
/// so that generated clients and fuzzers send what the handlers take.
const PATH_PATTERNS: &[(&str, &str, &str)] = &[
    ("/", "account_id", "^[A-Za-z0-9._~-]{1,128}$"),
    ("/api/v1/workflows/", "key", "^[a-z0-9_-]{1,64}$"),
    (
        "/api/v1/accounts/{account_id}/workflows/",
        "key",
        "^[a-z0-9_-]{1,64}$",
    ),
    ("/api/v1/webhook-endpoints/", "id", "^[A-Za-z0-9_-]{1,64}$"),
];

/// What utoipa writes that OpenAPI (or the truth) wants otherwise, in one path's operations.
fn tidy_operations(path: &str, item: &mut Map<String, Value>) {
    let ids: Vec<&Value> = item.values().map(|op| &op["operationId"]).collect();
    // One handler for several methods (the proxy) shares its id: ids must be unique.
    let shared = ids.len() > 1 && ids.windows(2).all(|pair| pair[0] == pair[1]);
    for (method, operation) in item.iter_mut() {
        absent_not_null(operation);
        constrain_path_parameters(path, operation);
        document_request_timeout(path, operation);
        if shared {
            let id = operation["operationId"].as_str().unwrap_or_default();
            operation["operationId"] = json!(format!("{id}_{method}"));
        }
    }
}

/// Any request can run out of the request timeout (`listener.rs`): 503 `timeout`, or a page on
/// the browser's routes.
fn document_request_timeout(path: &str, operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let description = "`timeout`: the request took longer than the server's request timeout and was stopped; it may have taken effect";
    let content = if is_browser_route(path) {
        json!({ "text/html": { "schema": { "type": "string" } } })
    } else {
        json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } })
    };
    responses
        .entry("503")
        .or_insert_with(|| json!({ "description": description, "content": content }));
}

fn constrain_path_parameters(path: &str, operation: &mut Value) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters.iter_mut().filter(|p| p["in"] == "path") {
        let pattern = PATH_PATTERNS
            .iter()
            .find(|(prefix, name, _)| path.starts_with(prefix) && parameter["name"] == *name);
        if let Some((_, _, pattern)) = pattern {
            parameter["schema"]["pattern"] = json!(pattern);
        }
    }
}

/// utoipa marks a body optional when its type is `Option<T>`, and then also writes `T` as
/// nullable; what may be left out is the body, not a `null` one.
fn absent_not_null(operation: &mut Value) {
    let Some(content) = operation.pointer_mut("/requestBody/content/application~1json") else {
        return;
    };
    if let Some([null, schema]) = content["schema"]["oneOf"].as_array().map(Vec::as_slice) {
        if null == &json!({ "type": "null" }) {
            content["schema"] = schema.clone();
        }
    }
}

/// `POST /api/v1/accounts/{account_id}/actions/<key>` for each action: the generic operation
/// with the action's summary and input schema.
fn add_action_paths(paths: &mut Map<String, Value>) {
    let Some(generic) = paths
        .get(RUN_ACTION)
        .and_then(|item| item.get("post"))
        .cloned()
    else {
        return;
    };
    for action in dialbridge_core::action_catalog() {
        let mut operation = generic.clone();
        operation["operationId"] = json!(format!("run_{}", action.key));
        operation["summary"] = json!(format!("{}: {}", action.name, action.description));
        operation["description"] = json!(action_description(&action));
        if let Some(parameters) = operation["parameters"].as_array_mut() {
            parameters.retain(|p| p["name"] != "key");
        }
        operation["requestBody"]["content"] =
            json!({ "application/json": { "schema": action.input_schema } });
        paths.insert(
            format!("/api/v1/accounts/{{account_id}}/actions/{}", action.key),
            json!({ "post": operation }),
        );
    }
}

fn action_description(action: &dialbridge_core::ActionInfo) -> String {
    let mut text = match &action.operation {
        Some(op) => format!(
            "Runs Dialpad's `{} {}` (`{}`) for the account; answers `{{\"output\": …}}`.",
            op["method"].as_str().unwrap_or_default().to_uppercase(),
            op["path"].as_str().unwrap_or_default(),
            op["operation_id"].as_str().unwrap_or_default(),
        ),
        None => "Calls any documented Dialpad `/api/v2/…` operation for the account; answers `{\"output\": {status, headers, body}}`.".to_owned(),
    };
    if !action.required_scopes.is_empty() {
        text.push_str(&format!(
            " Needs the scopes {}.",
            action
                .required_scopes
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use axum::body::to_bytes;
    use axum::http::StatusCode;

    use super::*;

    async fn served(document: Document) -> (StatusCode, Bytes) {
        let response = document.response().await;
        let status = response.status();
        (
            status,
            to_bytes(response.into_body(), 1 << 20).await.unwrap(),
        )
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_before_the_build_is_done_waits_for_it() {
        // The build ends when the test lets it (or after two seconds, should the wait hold
        // the runtime's one thread, so that the test fails rather than hangs).
        let (finish, finished) = mpsc::channel::<()>();
        let document = Document::built_aside(move || {
            let _ = finished.recv_timeout(Duration::from_secs(2));
            Bytes::from_static(b"{}")
        });
        let waiting = tokio::spawn(served(document.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "answered before the document was built, or the wait held the runtime's thread"
        );
        let _ = finish.send(());
        assert_eq!(
            waiting.await.unwrap(),
            (StatusCode::OK, Bytes::from_static(b"{}"))
        );
        assert_eq!(
            served(document).await,
            (StatusCode::OK, Bytes::from_static(b"{}"))
        );
    }

    #[tokio::test]
    async fn a_failed_build_answers_500_with_the_contract_body() {
        let document = Document::built_aside(|| panic!("a bug in the build"));
        let (status, body) = served(document).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
    }
}
