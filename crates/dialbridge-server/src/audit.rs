//! The audit log's one recording point: a layer on the admin API that, once a change has
//! succeeded (a 2xx answer to a PUT, POST or DELETE), records who made it (the `AdminIdentity`
//! the key check left in the request), what it was and what it was done to.
//!
//! `change_of` is the table from a route to the change it makes, in the domain's words
//! (`app.credentials.put` on `environment/custom`). Every route that changes something is in
//! it, or in `NOT_AUDITED` with the reason (a test holds each mutating route of the document to
//! one of the two). A summary names the fields it takes from the answer, so a secret gets in
//! only if it is named here, and the domain drops fields named like secrets besides.

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use dialbridge_core::{Actor, AdminIdentity, Change};
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::gate::{Checked, Gate, GateLayer, Route, Wait};
use crate::state::AppState;

/// A route's path parameters, by name.
type Params = HashMap<String, String>;

/// The change a successful request made, from its path parameters, its answer and status.
type Describe = fn(&Params, &Value, StatusCode) -> Change;

/// Routes that change something but are traffic rather than administration, and why (the test
/// that holds every route to the table reads it).
#[cfg(test)]
pub(crate) const NOT_AUDITED: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/accounts/{account_id}/actions/{key}",
        "runs a Dialpad operation for the account: traffic, which Dialpad records",
    ),
    (
        "POST",
        "/api/v1/accounts/{account_id}/connection/check",
        "only proves that the credentials work",
    ),
    (
        "POST",
        "/api/v1/accounts/{account_id}/events/{name}",
        "the vendor's events: traffic; the executions they start are their record",
    ),
    (
        "POST",
        "/api/v1/accounts/{account_id}/workflows/{key}/executions",
        "starts a run: the execution is its record",
    ),
    (
        "POST",
        "/api/v1/accounts/{account_id}/subscriptions/reconcile",
        "brings Dialpad back in line with the configuration, which it leaves as it is",
    ),
];

/// `api` behind the recording layer (on its routes only: the fallback changes nothing).
pub fn recorded(api: OpenApiRouter<AppState>, state: &AppState) -> OpenApiRouter<AppState> {
    api.route_layer(GateLayer(RecordChanges {
        state: state.clone(),
    }))
}

#[derive(Clone)]
struct RecordChanges {
    state: AppState,
}

impl Gate for RecordChanges {
    /// Requests that change nothing (reads, traffic) go to the route as they are.
    fn check(&self, request: Request) -> Checked {
        let route = request.extensions().get::<MatchedPath>();
        let Some(describe) = route.and_then(|r| change_of(request.method(), r.as_str())) else {
            return Checked::Pass(request);
        };
        let Some(identity) = request.extensions().get::<AdminIdentity>().cloned() else {
            tracing::error!("a change reached the audit layer without an admin identity");
            return Checked::Pass(request);
        };
        let state = self.state.clone();
        let then: Wait = Box::new(move |request, route| {
            Box::pin(record_change(state, describe, identity, request, route))
        });
        Checked::Wait(request, then)
    }
}

/// Runs the change on `route`, and records it if it succeeded.
async fn record_change(
    state: AppState,
    describe: Describe,
    identity: AdminIdentity,
    request: Request,
    route: Route,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let params: Params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|raw| {
            raw.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let Ok(response) = route.oneshot(Request::from_parts(parts, body)).await;
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!("cannot read the answer to record the change: {e}");
            return ApiError::new(
                "internal_error",
                "internal error; the server log has the details",
            )
            .into_response();
        }
    };
    let answer = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let change = describe(&params, &answer, parts.status);
    let (action, target) = (change.action.clone(), change.target.clone());
    if let Err(e) = state
        .platform
        .audit
        .record(&Actor::Key(identity), change)
        .await
    {
        // The change stands: say loudly that its record is missing.
        tracing::error!(%action, %target, "the change was made but not recorded in the audit log: {e}");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether a mutating route is audited or said not to be, for the test that holds every route
/// to one of the two.
#[cfg(test)]
pub(crate) fn accounted_for(method: &Method, route: &str) -> bool {
    change_of(method, route).is_some()
        || NOT_AUDITED
            .iter()
            .any(|(m, r, _)| *m == method.as_str() && *r == route)
}

/// The change each route makes.
fn change_of(method: &Method, route: &str) -> Option<Describe> {
    let describe: Describe = match (method.as_str(), route) {
        ("PUT", "/api/v1/app/credentials/{environment}") => |p, answer, _| {
            let environment = param(p, "environment");
            let credentials = &answer["environments"][environment];
            Change::new(
                "app.credentials.put",
                format!("environment/{environment}"),
                pick(credentials, &["client_id", "base_url"]),
            )
        },
        ("PUT", "/api/v1/app/scopes") => |_, answer, _| {
            let names = answer["scopes"].as_array().into_iter().flatten();
            let scopes: Vec<&Value> = names.map(|scope| &scope["name"]).collect();
            Change::new("app.scopes.put", "app", json!({ "scopes": scopes }))
        },
        ("PUT", "/api/v1/app/branding") => |_, answer, _| {
            let branding = &answer["branding"];
            Change::new(
                "app.branding.put",
                "app",
                pick(branding, &["display_name", "accent_color", "support_url"]),
            )
        },
        ("PUT", "/api/v1/accounts/{account_id}") => |p, answer, status| {
            let summary = created(pick(answer, &["name"]), status);
            Change::new("account.put", account(p), summary)
        },
        ("DELETE", "/api/v1/accounts/{account_id}") => {
            |p, _, _| Change::new("account.delete", account(p), json!({}))
        }
        ("POST", "/api/v1/accounts/{account_id}/connect") => |p, answer, _| {
            let summary = json!({ "link_expires_at": answer["expires_at"] });
            Change::new("account.connect", account(p), summary)
        },
        ("PUT", "/api/v1/accounts/{account_id}/connection") => |p, answer, _| {
            let summary = pick(
                &answer["connection"],
                &["auth_type", "environment", "status"],
            );
            Change::new("connection.put", account(p), summary)
        },
        ("DELETE", "/api/v1/accounts/{account_id}/connection") => {
            |p, _, _| Change::new("connection.delete", account(p), json!({}))
        }
        ("PUT", "/api/v1/workflows/{key}") => |p, answer, _| {
            let target = format!("workflow/{}", param(p, "key"));
            Change::new("workflow.put", target, pick(answer, &["version"]))
        },
        ("DELETE", "/api/v1/workflows/{key}") => |p, _, _| {
            let target = format!("workflow/{}", param(p, "key"));
            Change::new("workflow.delete", target, json!({}))
        },
        ("PUT", "/api/v1/accounts/{account_id}/workflows/{key}") => |p, answer, _| {
            // The config's values may be credentials of the vendor's: only its field names.
            let fields: Vec<&String> = answer["config"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            let summary = json!({ "config_fields": fields });
            Change::new("workflow.enable", enablement(p), summary)
        },
        ("DELETE", "/api/v1/accounts/{account_id}/workflows/{key}") => {
            |p, _, _| Change::new("workflow.disable", enablement(p), json!({}))
        }
        ("POST", "/api/v1/executions/{id}/cancel") => |p, answer, _| {
            let target = format!("execution/{}", param(p, "id"));
            Change::new("execution.cancel", target, pick(answer, &["status"]))
        },
        ("POST", "/api/v1/executions/{id}/replay") => |p, answer, _| {
            let target = format!("execution/{}", param(p, "id"));
            let summary = json!({ "new_execution_id": answer["execution_id"] });
            Change::new("execution.replay", target, summary)
        },
        ("PUT", "/api/v1/webhook-endpoints/{id}") => |p, answer, status| {
            let target = format!("webhook_endpoint/{}", param(p, "id"));
            let summary = created(pick(answer, &["url", "events"]), status);
            Change::new("webhook_endpoint.put", target, summary)
        },
        ("DELETE", "/api/v1/webhook-endpoints/{id}") => |p, _, _| {
            let target = format!("webhook_endpoint/{}", param(p, "id"));
            Change::new("webhook_endpoint.delete", target, json!({}))
        },
        ("POST", "/api/v1/webhook-endpoints/{id}/test") => |p, answer, _| {
            let target = format!("webhook_endpoint/{}", param(p, "id"));
            let summary = json!({ "delivery_id": answer["id"] });
            Change::new("webhook_endpoint.test", target, summary)
        },
        ("POST", "/api/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry") => {
            |p, answer, _| {
                let target = format!("webhook_delivery/{}", param(p, "delivery_id"));
                Change::new(
                    "webhook_delivery.retry",
                    target,
                    pick(answer, &["attempts"]),
                )
            }
        }
        ("POST", "/api/v1/admin-keys") => |_, answer, _| {
            let target = format!("admin_key/{}", answer["id"].as_str().unwrap_or_default());
            Change::new("admin_key.create", target, pick(answer, &["name"]))
        },
        ("DELETE", "/api/v1/admin-keys/{id}") => |p, answer, _| {
            let target = format!("admin_key/{}", param(p, "id"));
            Change::new("admin_key.delete", target, pick(answer, &["name"]))
        },
        ("POST", "/api/v1/accounts/{account_id}/mcp-tokens") => |p, answer, _| {
            let target = format!(
                "{}/mcp_token/{}",
                account(p),
                answer["id"].as_str().unwrap_or_default()
            );
            Change::new("mcp_token.create", target, pick(answer, &["name", "tools"]))
        },
        ("DELETE", "/api/v1/accounts/{account_id}/mcp-tokens/{token_id}") => |p, _, _| {
            let target = format!("{}/mcp_token/{}", account(p), param(p, "token_id"));
            Change::new("mcp_token.delete", target, json!({}))
        },
        _ => return None,
    };
    Some(describe)
}

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

fn account(p: &Params) -> String {
    format!("account/{}", param(p, "account_id"))
}

fn enablement(p: &Params) -> String {
    format!(
        "account/{}/workflow/{}",
        param(p, "account_id"),
        param(p, "key")
    )
}

/// The named fields of `from` that it has.
fn pick(from: &Value, fields: &[&str]) -> Value {
    let picked: Map<String, Value> = fields
        .iter()
        .filter_map(|f| from.get(*f).map(|v| ((*f).to_owned(), v.clone())))
        .collect();
    Value::Object(picked)
}

/// `summary` with `"created": true` when the answer was 201.
fn created(mut summary: Value, status: StatusCode) -> Value {
    if status == StatusCode::CREATED {
        summary["created"] = json!(true);
    }
    summary
}
