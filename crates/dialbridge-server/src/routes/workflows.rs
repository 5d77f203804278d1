//! `/api/v1/workflows`, per-account enablement, the trigger catalog, and the two triggers the
//! vendor fires by API: its own events and direct executions.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dialbridge_core::{AccountId, EnablementView, WorkflowView};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{OptionalJson, Path, Query};
use crate::state::AppState;

pub async fn triggers() -> axum::Json<Value> {
    axum::Json(json!(dialbridge_core::trigger_catalog()))
}

/// JSON, or YAML with a YAML content type.
pub async fn put(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let version = state
        .platform
        .workflows
        .save(&key, &body, content_type)
        .await?;
    let status = if version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(json!({ "key": key, "version": version })),
    )
        .into_response())
}

pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    let items = state.platform.workflows.list().await?;
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Deserialize)]
pub struct VersionQuery {
    version: Option<i64>,
}

pub async fn get(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Result<axum::Json<WorkflowView>, ApiError> {
    Ok(axum::Json(
        state.platform.workflows.get(&key, query.version).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.platform.workflows.delete(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnableInput {
    #[serde(default)]
    config: Value,
}

pub async fn enable(
    State(state): State<AppState>,
    Path((account, key)): Path<(String, String)>,
    OptionalJson(input): OptionalJson<EnableInput>,
) -> Result<axum::Json<EnablementView>, ApiError> {
    let account = AccountId::parse(&account)?;
    Ok(axum::Json(
        state
            .platform
            .workflows
            .enable(&account, &key, &input.config)
            .await?,
    ))
}

pub async fn disable(
    State(state): State<AppState>,
    Path((account, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = AccountId::parse(&account)?;
    state.platform.workflows.disable(&account, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn account_workflows(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let account = AccountId::parse(&account)?;
    let items = state.platform.workflows.enabled_for(&account).await?;
    Ok(axum::Json(json!({ "items": items })))
}

/// `POST /api/v1/accounts/{id}/events/{name}` with any JSON → 202 `{executions}`.
pub async fn post_event(
    State(state): State<AppState>,
    Path((account, name)): Path<(String, String)>,
    OptionalJson(payload): OptionalJson<Value>,
) -> Result<Response, ApiError> {
    let account = AccountId::parse(&account)?;
    let payload = if payload.is_null() {
        json!({})
    } else {
        payload
    };
    let executions = state
        .platform
        .ingress
        .post_vendor_event(&account, &name, payload)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "executions": executions })),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    #[serde(default)]
    input: Value,
}

/// `POST /api/v1/accounts/{id}/workflows/{key}/executions {input}` → 202 `{execution_id}`.
pub async fn run(
    State(state): State<AppState>,
    Path((account, key)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<RunInput>,
) -> Result<Response, ApiError> {
    let account = AccountId::parse(&account)?;
    let input = if body.input.is_null() {
        json!({})
    } else {
        body.input
    };
    let id = state
        .platform
        .executions
        .start_api(&account, &key, input)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "execution_id": id })),
    )
        .into_response())
}

/// `POST /api/v1/accounts/{id}/subscriptions/reconcile`: checks the account's Dialpad webhook
/// and subscriptions now and recreates what vanished; answers what is provisioned.
pub async fn reconcile(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let account = AccountId::parse(&account)?;
    state.platform.connections.account(&account).await?;
    let provisioning = state.platform.provisioning.reconcile(&account).await?;
    Ok(axum::Json(json!({ "provisioning": provisioning })))
}
