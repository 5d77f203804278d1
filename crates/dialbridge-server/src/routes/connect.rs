//! The connect flow's HTTP side: creating a link (admin API), the link itself (302 to Dialpad),
//! the portal page, and `GET /oauth/callback`, where Dialpad sends the customer back.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use dialbridge_core::{AccountId, CallbackOutcome, CallbackQuery, ConnectLink, Environment};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{OptionalJson, Path, Query};
use crate::pages;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    environment: Option<String>,
    redirect_url: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(input): OptionalJson<ConnectInput>,
) -> Result<axum::Json<ConnectLink>, ApiError> {
    let id = AccountId::parse(&id)?;
    let environment = input
        .environment
        .as_deref()
        .map(Environment::parse)
        .transpose()?;
    Ok(axum::Json(
        state
            .platform
            .connections
            .start_connect(&id, environment, input.redirect_url)
            .await?,
    ))
}

/// The connect link: used up here, then off to Dialpad's consent page.
pub async fn open(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.platform.connections.open_connect_link(&token).await {
        Ok(authorize_url) => found(authorize_url.as_str()),
        Err(e) => pages::error(e.into()),
    }
}

pub async fn portal(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.platform.connections.portal(&token).await {
        Ok(view) => Html(pages::portal(&view, &token)).into_response(),
        Err(e) => pages::error(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ApiKeyForm {
    api_key: String,
}

pub async fn portal_api_key(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<ApiKeyForm>,
) -> Response {
    match state
        .platform
        .connections
        .connect_from_portal(&token, &form.api_key)
        .await
    {
        Ok(outcome) => finish(outcome),
        Err(e) => pages::error(ApiError::from(e)),
    }
}

pub async fn callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    match state.platform.connections.complete_oauth(query).await {
        Ok(outcome) => finish(outcome),
        Err(e) => pages::error(e.into()),
    }
}

/// Back to the vendor's `redirect_url` with the status, or a result page when there is none.
fn finish(outcome: CallbackOutcome) -> Response {
    match outcome.redirect_target() {
        Some(url) => found(url.as_str()),
        None => Html(pages::result(&outcome)).into_response(),
    }
}

/// 302 Found, as OAuth redirects conventionally are.
fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
