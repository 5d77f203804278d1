//! `/api/v1/executions`: list (filters, cursor), read with each step, cancel, replay.

use axum::extract::State;
use axum::http::StatusCode;
use dialbridge_core::{
    AccountId, Error, ExecutionFilter, ExecutionPage, ExecutionStatus, ExecutionView,
    ReplayVersion, Timestamp,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{OptionalJson, Path, Query};
use crate::responses::{InvalidInput, JsonBody};
use crate::state::AppState;

/// The `{id}` path segment of an execution.
const EXECUTION_ID: &str = "The execution id";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this account's.
    account_id: Option<String>,
    /// Only this workflow's (its key).
    workflow: Option<String>,
    /// Only those with this status.
    #[param(value_type = Option<ExecutionStatus>)]
    status: Option<String>,
    /// Only those created at or after this instant (RFC 3339, UTC).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Only those created before this instant (RFC 3339, UTC).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// The `cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
}

/// Executions, newest first, a page at a time.
#[utoipa::path(get, path = "/executions", tag = "executions", operation_id = "list_executions",
    params(ListQuery),
    responses((status = OK, body = ExecutionPage), InvalidInput))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<ExecutionPage>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(ExecutionStatus::parse_filter(text)?),
    };
    let filter = ExecutionFilter {
        account_id: query
            .account_id
            .as_deref()
            .map(AccountId::parse)
            .transpose()?,
        workflow_key: query.workflow,
        status,
        created_from: query
            .from
            .as_deref()
            .map(|text| Timestamp::parse_filter("from", text))
            .transpose()?,
        created_before: query
            .to
            .as_deref()
            .map(|text| Timestamp::parse_filter("to", text))
            .transpose()?,
    };
    Ok(axum::Json(
        state
            .platform
            .executions
            .list(&filter, query.cursor.as_deref(), query.limit)
            .await?,
    ))
}

/// An execution with each step's status, attempts, input, output, error and timing.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", operation_id = "get_execution",
    params(("id" = String, Path, description = EXECUTION_ID)),
    responses(
        (status = OK, body = ExecutionView),
        (status = NOT_FOUND, description = "`not_found`: no such execution", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ExecutionView>, ApiError> {
    Ok(axum::Json(state.platform.executions.get(&id).await?))
}

/// Cancels a queued or running execution.
#[utoipa::path(post, path = "/executions/{id}/cancel", tag = "executions", operation_id = "cancel_execution",
    params(("id" = String, Path, description = EXECUTION_ID)),
    responses(
        (status = OK, body = ExecutionView),
        (status = NOT_FOUND, description = "`not_found`: no such execution", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_input`: the execution has already finished", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ExecutionView>, ApiError> {
    Ok(axum::Json(state.platform.executions.cancel(&id).await?))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// `own` (default: the version the execution ran) or `latest`.
    #[schema(value_type = Option<String>, example = "latest")]
    version: Option<String>,
}

/// `{execution_id}` of an execution just queued (and `replay_of` for a replay).
#[derive(Serialize, ToSchema)]
pub struct ExecutionStarted {
    pub execution_id: String,
    /// The execution this one replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

/// Runs the execution again with the same event, on its own version or the workflow's latest.
#[utoipa::path(post, path = "/executions/{id}/replay", tag = "executions", operation_id = "replay_execution",
    params(("id" = String, Path, description = EXECUTION_ID)),
    request_body(content = Option<ReplayInput>, description = "May be empty"),
    responses(
        (status = ACCEPTED, description = "Queued", body = ExecutionStarted),
        (status = NOT_FOUND, description = "`not_found`: no such execution (or its workflow version)", body = ErrorBody),
        InvalidInput, JsonBody,
    ))]
pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(input): OptionalJson<ReplayInput>,
) -> Result<(StatusCode, axum::Json<ExecutionStarted>), ApiError> {
    let version = match input.version.as_deref() {
        None | Some("own") => ReplayVersion::Own,
        Some("latest") => ReplayVersion::Latest,
        Some(_) => return Err(Error::invalid("version", "must be \"own\" or \"latest\"").into()),
    };
    let new_id = state.platform.executions.replay(&id, version).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ExecutionStarted {
            execution_id: new_id,
            replay_of: Some(id),
        }),
    ))
}
