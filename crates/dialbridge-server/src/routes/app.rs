//! `/api/v1/app`: the vendor's OAuth app — credentials per environment and scopes.

use axum::extract::State;
use dialbridge_core::{AppView, CredentialsInput, Environment, ScopesInput};

use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> Result<axum::Json<AppView>, ApiError> {
    Ok(axum::Json(state.platform.app.view().await?))
}

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

pub async fn put_scopes(
    State(state): State<AppState>,
    Json(input): Json<ScopesInput>,
) -> Result<axum::Json<AppView>, ApiError> {
    Ok(axum::Json(state.platform.app.put_scopes(input).await?))
}
