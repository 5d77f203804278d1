//! `/api/v1/workflows`, per-account enablement, the trigger catalog, and the two triggers the
//! vendor fires by API: its own events and direct executions.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dialbridge_core::{AccountId, EnablementView, ProvisioningView, TriggerInfo, WorkflowView};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::executions::ExecutionStarted;
use super::{Items, ACCOUNT_ID};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, OptionalJson, Path, Query};
use crate::responses::{
    DialpadFailure, InvalidInput, JsonBody, NoConnection, RawBody, UnknownAccount,
};
use crate::state::AppState;

/// The `{key}` path segment of a workflow.
const WORKFLOW_KEY: &str = "The workflow key (a-z, 0-9, `_` and `-`)";

/// The trigger catalog: each trigger's params schema and the `event` it gives expressions.
#[utoipa::path(get, path = "/triggers", tag = "workflows", operation_id = "list_triggers",
    responses((status = OK, body = Vec<TriggerInfo>)))]
pub async fn triggers() -> axum::Json<Vec<TriggerInfo>> {
    axum::Json(dialbridge_core::trigger_catalog())
}

/// `{key, version}` of a saved workflow.
#[derive(Serialize, ToSchema)]
pub struct WorkflowSaved {
    key: String,
    version: i64,
}

/// Saves a new version of the workflow: JSON, or YAML with a YAML content type.
#[utoipa::path(put, path = "/workflows/{key}", tag = "workflows", operation_id = "put_workflow",
    params(("key" = String, Path, description = WORKFLOW_KEY)),
    request_body(description = "A workflow definition: name, trigger, config, steps", content(
        (Object = "application/json"), (String = "application/yaml"))),
    responses(
        (status = CREATED, description = "Version 1", body = WorkflowSaved),
        (status = OK, description = "A new version", body = WorkflowSaved),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_input`: `details` lists every problem with its path", body = ErrorBody),
        RawBody,
    ))]
pub async fn put(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
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
    Ok((status, axum::Json(WorkflowSaved { key, version })).into_response())
}

/// Every live workflow's latest version.
#[utoipa::path(get, path = "/workflows", tag = "workflows", operation_id = "list_workflows",
    responses((status = OK, body = Items<WorkflowView>)))]
pub async fn list(
    State(state): State<AppState>,
) -> Result<axum::Json<Items<WorkflowView>>, ApiError> {
    let items = state.platform.workflows.list().await?;
    Ok(axum::Json(Items { items }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A version number (default: the latest).
    version: Option<i64>,
}

/// The workflow's latest version, or the one asked for.
#[utoipa::path(get, path = "/workflows/{key}", tag = "workflows", operation_id = "get_workflow",
    params(("key" = String, Path, description = WORKFLOW_KEY), VersionQuery),
    responses(
        (status = OK, body = WorkflowView),
        (status = NOT_FOUND, description = "`not_found`: no such workflow or version", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<VersionQuery>,
) -> Result<axum::Json<WorkflowView>, ApiError> {
    Ok(axum::Json(
        state.platform.workflows.get(&key, query.version).await?,
    ))
}

/// Deletes the workflow and its enablements; executions keep their versions.
#[utoipa::path(delete, path = "/workflows/{key}", tag = "workflows", operation_id = "delete_workflow",
    params(("key" = String, Path, description = WORKFLOW_KEY)),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, description = "`not_found`: no such workflow", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.platform.workflows.delete(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableInput {
    /// Values for the workflow's config fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Value,
}

/// Enables the workflow for the account with its config (checked against the workflow's
/// config fields); the Dialpad subscriptions it needs are provisioned.
#[utoipa::path(put, path = "/accounts/{account_id}/workflows/{key}", tag = "workflows", operation_id = "enable_workflow",
    params(("account_id" = String, Path, description = ACCOUNT_ID), ("key" = String, Path, description = WORKFLOW_KEY)),
    request_body(content = Option<EnableInput>, description = "May be empty"),
    responses(
        (status = OK, body = EnablementView),
        (status = NOT_FOUND, description = "`not_found`: no such account or workflow", body = ErrorBody),
        InvalidInput, JsonBody,
    ))]
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

/// Disables the workflow for the account; Dialpad subscriptions no longer needed are removed.
#[utoipa::path(delete, path = "/accounts/{account_id}/workflows/{key}", tag = "workflows", operation_id = "disable_workflow",
    params(("account_id" = String, Path, description = ACCOUNT_ID), ("key" = String, Path, description = WORKFLOW_KEY)),
    responses(
        (status = NO_CONTENT, description = "Disabled"),
        (status = NOT_FOUND, description = "`not_found`: the workflow is not enabled for the account", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn disable(
    State(state): State<AppState>,
    Path((account, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = AccountId::parse(&account)?;
    state.platform.workflows.disable(&account, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The workflows enabled for the account, with their config.
#[utoipa::path(get, path = "/accounts/{account_id}/workflows", tag = "workflows", operation_id = "list_account_workflows",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    responses((status = OK, body = Items<EnablementView>), UnknownAccount, InvalidInput))]
pub async fn account_workflows(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> Result<axum::Json<Items<EnablementView>>, ApiError> {
    let account = AccountId::parse(&account)?;
    let items = state.platform.workflows.enabled_for(&account).await?;
    Ok(axum::Json(Items { items }))
}

/// `{executions}` a vendor event started.
#[derive(Serialize, ToSchema)]
pub struct EventAccepted {
    /// The ids of the executions started, one per matching enabled workflow.
    executions: Vec<String>,
}

/// A vendor event: starts the account's enabled workflows whose `event` trigger names it.
#[utoipa::path(post, path = "/accounts/{account_id}/events/{name}", tag = "workflows", operation_id = "post_event",
    params(("account_id" = String, Path, description = ACCOUNT_ID), ("name" = String, Path, description = "The event name, e.g. `order.shipped`")),
    request_body(content = Option<Object>, description = "Any JSON (absent is `{}`): what expressions see as `event`"),
    responses(
        (status = ACCEPTED, description = "Queued", body = EventAccepted),
        UnknownAccount, InvalidInput, JsonBody,
    ))]
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
        axum::Json(EventAccepted { executions }),
    )
        .into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// What expressions see as `event`.
    #[serde(default)]
    input: Value,
}

/// Runs the workflow, enabled for the account, now with `input` as `event`.
#[utoipa::path(post, path = "/accounts/{account_id}/workflows/{key}/executions", tag = "workflows", operation_id = "run_workflow",
    params(("account_id" = String, Path, description = ACCOUNT_ID), ("key" = String, Path, description = WORKFLOW_KEY)),
    request_body(content = Option<RunInput>, description = "May be empty"),
    responses(
        (status = ACCEPTED, description = "Queued", body = ExecutionStarted),
        (status = NOT_FOUND, description = "`not_found`: no such account, or the workflow is not enabled for it", body = ErrorBody),
        InvalidInput, JsonBody,
    ))]
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
    let execution_id = state
        .platform
        .executions
        .start_api(&account, &key, input)
        .await?;
    let started = ExecutionStarted {
        execution_id,
        replay_of: None,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(started)).into_response())
}

/// `{provisioning}`: the account's Dialpad webhook and subscriptions after a reconcile.
#[derive(Serialize, ToSchema)]
pub struct Reconciled {
    /// `null` when no enabled workflow needs Dialpad events.
    provisioning: Option<ProvisioningView>,
}

/// Checks the account's Dialpad webhook and subscriptions now and recreates what vanished.
#[utoipa::path(post, path = "/accounts/{account_id}/subscriptions/reconcile", tag = "workflows", operation_id = "reconcile_subscriptions",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    responses(
        (status = OK, body = Reconciled),
        UnknownAccount, NoConnection, InvalidInput, DialpadFailure,
    ))]
pub async fn reconcile(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> Result<axum::Json<Reconciled>, ApiError> {
    let account = AccountId::parse(&account)?;
    state.platform.connections.account(&account).await?;
    let provisioning = state.platform.provisioning.reconcile(&account).await?;
    Ok(axum::Json(Reconciled { provisioning }))
}
