//! `/api/v1/executions`: list (filters, cursor), read with each step, cancel, replay.

use axum::extract::State;
use dialbridge_core::{
    AccountId, Error, ExecutionFilter, ExecutionPage, ExecutionStatus, ExecutionView, ReplayVersion,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{OptionalJson, Path, Query};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    account_id: Option<String>,
    workflow: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<ExecutionPage>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(ExecutionStatus::parse(text).ok_or_else(|| {
            Error::invalid(
                "status",
                "must be queued, running, succeeded, failed or cancelled",
            )
        })?),
    };
    let filter = ExecutionFilter {
        account_id: query
            .account_id
            .as_deref()
            .map(AccountId::parse)
            .transpose()?,
        workflow_key: query.workflow,
        status,
    };
    Ok(axum::Json(
        state
            .platform
            .executions
            .list(&filter, query.cursor.as_deref(), query.limit)
            .await?,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ExecutionView>, ApiError> {
    Ok(axum::Json(state.platform.executions.get(&id).await?))
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ExecutionView>, ApiError> {
    Ok(axum::Json(state.platform.executions.cancel(&id).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// `own` (default: the version the execution ran) or `latest`.
    version: Option<String>,
}

pub async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(input): OptionalJson<ReplayInput>,
) -> Result<(axum::http::StatusCode, axum::Json<Value>), ApiError> {
    let version = match input.version.as_deref() {
        None | Some("own") => ReplayVersion::Own,
        Some("latest") => ReplayVersion::Latest,
        Some(_) => return Err(Error::invalid("version", "must be \"own\" or \"latest\"").into()),
    };
    let new_id = state.platform.executions.replay(&id, version).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        axum::Json(json!({ "execution_id": new_id, "replay_of": id })),
    ))
}
