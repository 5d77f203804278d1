//! `/api/v1/accounts`: the vendor's customers and their Dialpad connections.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dialbridge_core::{
    AccountId, AccountPage, AccountPatch, AccountView, CompanyCheck, Environment, Error,
};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Json, OptionalJson, Path, Query};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<AccountPage>, ApiError> {
    Ok(axum::Json(
        state
            .platform
            .connections
            .accounts(q.cursor.as_deref(), q.limit)
            .await?,
    ))
}

/// The body is optional: an empty body creates the account with no name.
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(patch): OptionalJson<AccountPatch>,
) -> Result<Response, ApiError> {
    let id = AccountId::parse(&id)?;
    let (account, created) = state.platform.connections.put_account(&id, patch).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(account)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let id = AccountId::parse(&id)?;
    Ok(axum::Json(state.platform.connections.account(&id).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = AccountId::parse(&id)?;
    state.platform.connections.delete_account(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    auth_type: String,
    api_key: Option<String>,
    environment: Option<String>,
}

/// `PUT …/connection` with `{auth_type: "api_key", api_key, environment?}`.
pub async fn put_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<ConnectionInput>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let id = AccountId::parse(&id)?;
    if input.auth_type != "api_key" {
        return Err(Error::invalid(
            "auth_type",
            "must be \"api_key\"; OAuth connections start with POST /api/v1/accounts/{account_id}/connect",
        )
        .into());
    }
    let environment = input
        .environment
        .as_deref()
        .map(Environment::parse)
        .transpose()?;
    let api_key = input.api_key.unwrap_or_default();
    Ok(axum::Json(
        state
            .platform
            .connections
            .connect_api_key(&id, environment, &api_key)
            .await?,
    ))
}

pub async fn disconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let id = AccountId::parse(&id)?;
    Ok(axum::Json(
        state.platform.connections.disconnect(&id).await?,
    ))
}

pub async fn check_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<CompanyCheck>, ApiError> {
    let id = AccountId::parse(&id)?;
    Ok(axum::Json(
        state.platform.connections.check_connection(&id).await?,
    ))
}
