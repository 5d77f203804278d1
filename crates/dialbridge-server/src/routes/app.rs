//! `/api/v1/app`: the vendor's OAuth app — credentials per environment, scopes, and the brand
//! its customers see on the connect page.

use axum::extract::State;
use dialbridge_core::{AppView, Branding, CredentialsInput, Environment, ScopesInput};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path};
use crate::responses::{InvalidInput, JsonBody};
use crate::state::AppState;

/// The app: callback URL, credentials per environment (never a secret), scopes.
#[utoipa::path(get, path = "/app", tag = "app", operation_id = "get_app",
    responses((status = OK, body = AppView)))]
pub async fn get(State(state): State<AppState>) -> Result<axum::Json<AppView>, ApiError> {
    Ok(axum::Json(state.platform.app.view().await?))
}

/// Sets the OAuth client of an environment; register the app's `callback_url` as its redirect
/// URI at Dialpad.
#[utoipa::path(put, path = "/app/credentials/{environment}", tag = "app", operation_id = "put_app_credentials",
    params(("environment" = Environment, Path, description = "`production`, `sandbox` or `custom` (which needs `base_url`)")),
    request_body = CredentialsInput,
    responses((status = OK, body = AppView), JsonBody, InvalidInput))]
pub async fn put_credentials(
    State(state): State<AppState>,
    Path(environment): Path<String>,
    Json(input): Json<CredentialsInput>,
) -> Result<axum::Json<AppView>, ApiError> {
    let environment = Environment::parse(&environment)?;
    Ok(axum::Json(
        state
            .platform
            .app
            .put_credentials(environment, input)
            .await?,
    ))
}

/// Sets the scopes asked at connect time; `offline_access` is always among them.
#[utoipa::path(put, path = "/app/scopes", tag = "app", operation_id = "put_app_scopes",
    request_body = ScopesInput,
    responses(
        (status = OK, body = AppView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_scope`: a name in `scopes` is outside Dialpad's catalog (`details.scope`); `invalid_input`: a field is wrong", body = ErrorBody),
        JsonBody,
    ))]
pub async fn put_scopes(
    State(state): State<AppState>,
    Json(input): Json<ScopesInput>,
) -> Result<axum::Json<AppView>, ApiError> {
    Ok(axum::Json(state.platform.app.put_scopes(input).await?))
}

/// Sets the brand the hosted connect page shows the vendor's customers.
#[utoipa::path(put, path = "/app/branding", tag = "app", operation_id = "put_app_branding",
    request_body = Branding,
    responses((status = OK, body = AppView), JsonBody, InvalidInput))]
pub async fn put_branding(
    State(state): State<AppState>,
    Json(input): Json<Branding>,
) -> Result<axum::Json<AppView>, ApiError> {
    Ok(axum::Json(state.platform.app.put_branding(input).await?))
}
