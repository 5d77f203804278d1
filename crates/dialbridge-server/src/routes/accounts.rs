//! `/api/v1/accounts`: the vendor's customers and their Dialpad connections.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dialbridge_core::{
    AccountId, AccountPage, AccountPatch, AccountView, CompanyCheck, Environment, Error,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::ACCOUNT_ID;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, OptionalJson, Path, Query};
use crate::responses::{
    DialpadFailure, InvalidInput, InvalidOrRejected, JsonBody, NoConnection, UnknownAccount,
};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The `cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
}

/// Accounts, ordered by id, a page at a time.
#[utoipa::path(get, path = "/accounts", tag = "accounts", operation_id = "list_accounts",
    params(ListQuery),
    responses((status = OK, body = AccountPage), InvalidInput))]
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

/// Creates or updates an account.
///
/// Absent fields keep their value. The body is optional: an empty body creates the account
/// with no name.
#[utoipa::path(put, path = "/accounts/{account_id}", tag = "accounts", operation_id = "put_account",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    request_body(content = Option<AccountPatch>, description = "May be empty"),
    responses(
        (status = CREATED, description = "Created", body = AccountView),
        (status = OK, description = "Updated", body = AccountView),
        JsonBody, InvalidInput,
    ))]
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

/// An account with its connection and its Dialpad event provisioning.
#[utoipa::path(get, path = "/accounts/{account_id}", tag = "accounts", operation_id = "get_account",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    responses(
        (status = OK, body = AccountView),
        UnknownAccount, InvalidInput,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let id = AccountId::parse(&id)?;
    Ok(axum::Json(state.platform.connections.account(&id).await?))
}

/// Revokes the account's grant at Dialpad (best effort), then deletes the account and its
/// connection.
#[utoipa::path(delete, path = "/accounts/{account_id}", tag = "accounts", operation_id = "delete_account",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        UnknownAccount, InvalidInput,
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = AccountId::parse(&id)?;
    state.platform.connections.delete_account(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// Must be `api_key`: OAuth connections start with `POST …/connect`.
    #[schema(example = "api_key")]
    auth_type: String,
    /// The customer's Dialpad API key.
    api_key: Option<String>,
    /// Default: `production` when configured, else the only configured environment.
    #[schema(value_type = Option<Environment>)]
    environment: Option<String>,
}

/// Connects the account with a Dialpad API key, checked with Dialpad's `GET /api/v2/company`
/// first; nothing is stored when Dialpad refuses it.
#[utoipa::path(put, path = "/accounts/{account_id}/connection", tag = "accounts", operation_id = "put_connection",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    request_body = ConnectionInput,
    responses(
        (status = OK, body = AccountView),
        UnknownAccount,
        (status = CONFLICT, description = "`environment_not_configured`: the environment has no app credentials", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_input`: a field is wrong (a malformed `api_key` is refused before anything is sent); `invalid_credentials`: Dialpad refused the API key; `dialpad_rejected`: Dialpad refused the check otherwise (its 4xx; `details` has its `status` and `body`)", body = ErrorBody),
        JsonBody, DialpadFailure,
    ))]
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

/// Revokes the grant at Dialpad (best effort) and wipes the secrets; the status becomes
/// `disconnected`.
#[utoipa::path(delete, path = "/accounts/{account_id}/connection", tag = "accounts", operation_id = "disconnect",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    responses(
        (status = OK, body = AccountView),
        UnknownAccount,
        (status = CONFLICT, description = "`not_connected`: the account has no connection", body = ErrorBody),
        InvalidInput,
    ))]
pub async fn disconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let id = AccountId::parse(&id)?;
    Ok(axum::Json(
        state.platform.connections.disconnect(&id).await?,
    ))
}

/// Proves the credentials work now: calls Dialpad's `GET /api/v2/company` with them,
/// refreshing the access token if needed.
#[utoipa::path(post, path = "/accounts/{account_id}/connection/check", tag = "accounts", operation_id = "check_connection",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    responses(
        (status = OK, body = CompanyCheck),
        UnknownAccount, NoConnection, InvalidOrRejected, DialpadFailure,
    ))]
pub async fn check_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<CompanyCheck>, ApiError> {
    let id = AccountId::parse(&id)?;
    Ok(axum::Json(
        state.platform.connections.check_connection(&id).await?,
    ))
}
