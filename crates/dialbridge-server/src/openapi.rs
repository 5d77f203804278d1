//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 description of every route dialbridge serves,
//! with one path per action carrying the action's input schema (derived from Dialpad's spec).
//! A test calls every operation listed here, so the document and the router cannot drift.

use serde_json::{json, Map, Value};

/// The document; `server_url` is the public URL it is served under.
pub fn document(server_url: &str) -> Value {
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, operation: Value| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = operation;
    };

    add(
        "/healthz",
        "get",
        op(
            "health",
            "Liveness: `{\"status\": \"ok\"}`.",
            None,
            None,
            false,
        ),
    );
    add(
        "/metrics",
        "get",
        op(
            "health",
            "Prometheus metrics of this process (OpenMetrics text).",
            None,
            None,
            false,
        ),
    );
    add(
        "/api/v1/openapi.json",
        "get",
        op("meta", "This document.", None, None, true),
    );

    add(
        "/api/v1/app",
        "get",
        op(
            "app",
            "App settings: callback URL, credentials per environment (never secrets), scopes.",
            None,
            Some("App"),
            true,
        ),
    );
    add(
        "/api/v1/app/credentials/{environment}",
        "put",
        op("app", "Sets the OAuth client of an environment (`production`, `sandbox`, `custom` with `base_url`).", Some(credentials_input()), Some("App"), true)
            .with_params(&[("environment", "production, sandbox or custom")]),
    );
    add(
        "/api/v1/app/scopes",
        "put",
        op(
            "app",
            "Sets the scopes asked at connect time; `offline_access` is always included.",
            Some(scopes_input()),
            Some("App"),
            true,
        ),
    );

    add(
        "/api/v1/accounts",
        "get",
        op(
            "accounts",
            "Accounts, paginated by `cursor` and `limit`.",
            None,
            Some("AccountPage"),
            true,
        )
        .with_query(&[
            ("cursor", "The cursor of the previous page."),
            ("limit", "Page size, 1-100."),
        ]),
    );
    let account = |summary: &str, body: Option<Value>, answer: Option<&str>| {
        op("accounts", summary, body, answer, true)
            .with_params(&[("account_id", "The vendor's id for its customer.")])
    };
    add(
        "/api/v1/accounts/{account_id}",
        "put",
        account(
            "Creates or updates an account (`name`, `metadata`).",
            Some(account_input()),
            Some("Account"),
        ),
    );
    add(
        "/api/v1/accounts/{account_id}",
        "get",
        account("An account with its connection.", None, Some("Account")),
    );
    add(
        "/api/v1/accounts/{account_id}",
        "delete",
        account("Disconnects and removes the account.", None, None),
    );
    add(
        "/api/v1/accounts/{account_id}/connect",
        "post",
        account(
            "A single-use, expiring `connect_url` for the customer's browser.",
            Some(connect_input()),
            None,
        ),
    );
    add(
        "/api/v1/accounts/{account_id}/connection",
        "put",
        account(
            "Connects with a Dialpad API key (`auth_type: api_key`), checked with Dialpad first.",
            Some(connection_input()),
            Some("Account"),
        ),
    );
    add(
        "/api/v1/accounts/{account_id}/connection",
        "delete",
        account(
            "Deauthorizes at Dialpad and wipes the credentials.",
            None,
            Some("Account"),
        ),
    );
    add("/api/v1/accounts/{account_id}/connection/check", "post", account("Calls Dialpad's `GET /api/v2/company` with the account's credentials (refreshing if needed).", None, None));

    add(
        "/api/v1/actions",
        "get",
        op(
            "actions",
            "The action catalog: key, name, description, scopes and input schema of each.",
            None,
            None,
            true,
        ),
    );
    add(
        "/api/v1/actions/{key}",
        "get",
        op("actions", "One action of the catalog.", None, None, true)
            .with_params(&[("key", "The action key.")]),
    );
    for action in dialbridge_core::action_catalog() {
        let summary = format!("{}: {}", action.name, action.description);
        add(
            &format!("/api/v1/accounts/{{account_id}}/actions/{}", action.key),
            "post",
            op(
                "actions",
                &summary,
                Some(action.input_schema.clone()),
                None,
                true,
            )
            .with_params(&[("account_id", "The account to act for.")])
            .with_output(),
        );
    }

    // Triggers, workflows, executions.
    add(
        "/api/v1/triggers",
        "get",
        op(
            "workflows",
            "The trigger catalog: key, name, description, params_schema, event_schema of each.",
            None,
            None,
            true,
        ),
    );
    add(
        "/api/v1/workflows",
        "get",
        op(
            "workflows",
            "Every live workflow's latest version.",
            None,
            None,
            true,
        ),
    );
    let workflow = |summary: &str, body: Option<Value>| {
        op("workflows", summary, body, None, true)
            .with_params(&[("key", "The workflow key (a-z, 0-9, _ and -).")])
    };
    add(
        "/api/v1/workflows/{key}",
        "put",
        workflow("Saves a new version (JSON, or YAML with a YAML content type); 422 lists every problem with its path.", Some(json!({ "type": "object", "description": "A workflow definition: name, trigger, config, steps (see the README)." }))),
    );
    add(
        "/api/v1/workflows/{key}",
        "get",
        workflow("The latest version, or `?version=N`.", None)
            .with_query(&[("version", "A version number.")]),
    );
    add(
        "/api/v1/workflows/{key}",
        "delete",
        workflow(
            "Deletes the workflow and its enablements; executions keep their versions.",
            None,
        ),
    );
    let per_account = |summary: &str, body: Option<Value>| {
        op("workflows", summary, body, None, true)
            .with_params(&[("account_id", "The account."), ("key", "The workflow key.")])
    };
    add(
        "/api/v1/accounts/{account_id}/workflows",
        "get",
        op(
            "workflows",
            "The workflows enabled for the account, with their config.",
            None,
            None,
            true,
        )
        .with_params(&[("account_id", "The account.")]),
    );
    add("/api/v1/accounts/{account_id}/workflows/{key}", "put", per_account("Enables the workflow for the account with `{config}` checked against its config fields; Dialpad subscriptions are provisioned.", Some(json!({ "type": "object", "properties": { "config": { "type": "object" } }, "additionalProperties": false }))));
    add(
        "/api/v1/accounts/{account_id}/workflows/{key}",
        "delete",
        per_account(
            "Disables it; subscriptions no longer needed are removed.",
            None,
        ),
    );
    add(
        "/api/v1/accounts/{account_id}/workflows/{key}/executions",
        "post",
        per_account(
            "Runs the enabled workflow now with `{input}` as `event` → 202 `{execution_id}`.",
            Some(
                json!({ "type": "object", "properties": { "input": {} }, "additionalProperties": false }),
            ),
        ),
    );
    add(
        "/api/v1/accounts/{account_id}/events/{name}",
        "post",
        op("workflows", "A vendor event: any JSON → 202 `{executions}` started by workflows with the `event` trigger of that name.", Some(json!({})), None, true)
            .with_params(&[("account_id", "The account."), ("name", "The event name.")]),
    );
    add(
        "/api/v1/accounts/{account_id}/subscriptions/reconcile",
        "post",
        op("workflows", "Checks the account's Dialpad webhook and subscriptions now and recreates what vanished.", None, None, true).with_params(&[("account_id", "The account.")]),
    );
    add(
        "/api/v1/executions",
        "get",
        op("executions", "Executions, newest first.", None, None, true).with_query(&[
            ("account_id", "Only this account's."),
            ("workflow", "Only this workflow's."),
            ("status", "queued, running, succeeded, failed or cancelled."),
            ("cursor", "The cursor of the previous page."),
            ("limit", "Page size, 1-200."),
        ]),
    );
    let execution = |summary: &str, body: Option<Value>| {
        op("executions", summary, body, None, true).with_params(&[("id", "The execution id.")])
    };
    add(
        "/api/v1/executions/{id}",
        "get",
        execution(
            "An execution with each step's status, attempts, input, output, error and timing.",
            None,
        ),
    );
    add(
        "/api/v1/executions/{id}/cancel",
        "post",
        execution("Cancels a queued or running execution.", None),
    );
    add("/api/v1/executions/{id}/replay", "post", execution("Runs it again with the same event, on its own version or `{\"version\": \"latest\"}` → 202 `{execution_id}`.", Some(json!({ "type": "object", "properties": { "version": { "enum": ["own", "latest"] } } }))));
    add(
        "/webhooks/dialpad/{hook_id}",
        "post",
        op(
            "workflows",
            "Dialpad event ingress: an HS256 JWT signed with the hook's secret (no API key).",
            None,
            None,
            false,
        )
        .with_params(&[("hook_id", "The account's hook id.")]),
    );

    // The vendor's webhook endpoints.
    add(
        "/api/v1/webhook-endpoints",
        "get",
        op(
            "webhooks",
            "The vendor's webhook endpoints.",
            None,
            None,
            true,
        ),
    );
    let endpoint = |summary: &str, body: Option<Value>| {
        op("webhooks", summary, body, None, true).with_params(&[("id", "The endpoint id.")])
    };
    add("/api/v1/webhook-endpoints/{id}", "put", endpoint("Creates or replaces an endpoint `{url, events?}` → `{id, url, events, secret, …}`; messages are signed per Standard Webhooks.", Some(json!({ "type": "object", "properties": { "url": { "type": "string" }, "events": { "type": "array", "items": { "enum": ["connection.created", "connection.expired", "connection.deleted", "execution.succeeded", "execution.failed"] } } }, "required": ["url"] }))));
    add(
        "/api/v1/webhook-endpoints/{id}",
        "get",
        endpoint("One endpoint.", None),
    );
    add(
        "/api/v1/webhook-endpoints/{id}",
        "delete",
        endpoint("Deletes the endpoint and its delivery log.", None),
    );
    add(
        "/api/v1/webhook-endpoints/{id}/deliveries",
        "get",
        endpoint("The delivery log, newest first.", None).with_query(&[("limit", "1-200.")]),
    );

    let proxy = op(
        "proxy",
        "Dialpad's API v2 with the account's credentials: method, query, body and content type are forwarded; Dialpad's status and body come back. Only documented Dialpad operations.",
        None,
        None,
        true,
    )
    .with_params(&[("account_id", "The account to act for."), ("path", "A documented Dialpad path under api/v2/, e.g. `api/v2/users/123`.")]);
    for method in ["get", "post", "put", "patch", "delete"] {
        add("/proxy/{account_id}/{path}", method, proxy.clone());
    }

    let browser = |summary: &str| op("connect", summary, None, None, false);
    add(
        "/connect/{token}",
        "get",
        browser("The connect link: redirects the customer's browser to Dialpad's consent page.")
            .with_params(&[("token", "From `connect_url`.")]),
    );
    add(
        "/connect/{token}/portal",
        "get",
        browser("A page where the customer can paste a Dialpad API key instead.")
            .with_params(&[("token", "From `portal_url`.")]),
    );
    add(
        "/connect/{token}/api-key",
        "post",
        browser("The portal's form (`api_key`, form-encoded).")
            .with_params(&[("token", "From `portal_url`.")]),
    );
    add(
        "/oauth/callback",
        "get",
        browser(
            "Where Dialpad sends the customer back after consent (`code`, `state` or `error`).",
        ),
    );

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dialbridge",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A self-hosted embedded integration platform for Dialpad. Every /api/v1 and /proxy route needs `Authorization: Bearer <admin API key>`. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`.",
        },
        "servers": [{ "url": server_url }],
        "paths": paths,
        "components": {
            "securitySchemes": { "admin_key": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": { "error": { "type": "object", "properties": {
                        "code": { "type": "string" }, "message": { "type": "string" }, "details": {}
                    }, "required": ["code", "message"] } },
                },
                "App": { "type": "object" },
                "Account": { "type": "object" },
                "AccountPage": { "type": "object", "properties": { "items": { "type": "array", "items": { "$ref": "#/components/schemas/Account" } }, "cursor": { "type": "string" } } },
            },
        },
    })
}

/// One operation: a tag, a summary, an optional JSON body schema, the answer's schema name.
fn op(tag: &str, summary: &str, body: Option<Value>, answer: Option<&str>, secured: bool) -> Value {
    let ok = match answer {
        Some(name) => {
            json!({ "description": "OK", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } } })
        }
        None => json!({ "description": "OK" }),
    };
    let mut operation = json!({
        "tags": [tag],
        "summary": summary,
        "responses": {
            "200": ok,
            "default": { "description": "An error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
        },
    });
    if let Some(schema) = body {
        operation["requestBody"] =
            json!({ "content": { "application/json": { "schema": schema } } });
    }
    if secured {
        operation["security"] = json!([{ "admin_key": [] }]);
    }
    operation
}

trait OperationExt {
    fn with_params(self, params: &[(&str, &str)]) -> Self;
    fn with_query(self, params: &[(&str, &str)]) -> Self;
    fn with_output(self) -> Self;
}

impl OperationExt for Value {
    fn with_params(mut self, params: &[(&str, &str)]) -> Value {
        append_params(&mut self, "path", params);
        self
    }

    fn with_query(mut self, params: &[(&str, &str)]) -> Value {
        append_params(&mut self, "query", params);
        self
    }

    /// An action answers `{"output": …}`.
    fn with_output(mut self) -> Value {
        self["responses"]["200"] = json!({
            "description": "The action's output",
            "content": { "application/json": { "schema": { "type": "object", "properties": { "output": {} }, "required": ["output"] } } },
        });
        self
    }
}

fn append_params(operation: &mut Value, location: &str, params: &[(&str, &str)]) {
    let list = operation
        .as_object_mut()
        .map(|o| o.entry("parameters").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = list {
        for (name, description) in params {
            list.push(json!({
                "name": name, "in": location, "required": location == "path",
                "description": description, "schema": { "type": "string" },
            }));
        }
    }
}

fn credentials_input() -> Value {
    json!({ "type": "object", "properties": {
        "client_id": { "type": "string" }, "client_secret": { "type": "string" },
        "base_url": { "type": "string", "description": "Required for `custom`." }
    }, "required": ["client_id", "client_secret"], "additionalProperties": false })
}

fn scopes_input() -> Value {
    json!({ "type": "object", "properties": {
        "scopes": { "type": "array", "items": { "type": "string" } },
        "custom_scopes": { "type": "array", "items": { "type": "string" } }
    }, "required": ["scopes"], "additionalProperties": false })
}

fn account_input() -> Value {
    json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "metadata": { "type": "object" }
    }, "additionalProperties": false })
}

fn connect_input() -> Value {
    json!({ "type": "object", "properties": {
        "environment": { "type": "string", "enum": ["production", "sandbox", "custom"] },
        "redirect_url": { "type": "string", "format": "uri" }
    }, "additionalProperties": false })
}

fn connection_input() -> Value {
    json!({ "type": "object", "properties": {
        "auth_type": { "type": "string", "enum": ["api_key"] },
        "api_key": { "type": "string" },
        "environment": { "type": "string", "enum": ["production", "sandbox", "custom"] }
    }, "required": ["auth_type", "api_key"], "additionalProperties": false })
}
