//! The connect flow's HTTP side: creating a link (admin API), the link itself (302 to Dialpad),
//! the portal page, and `GET /oauth/callback`, where Dialpad sends the customer back.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use dialbridge_core::{AccountId, CallbackOutcome, CallbackQuery, ConnectLink, Environment, Error};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ACCOUNT_ID;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{body_error, OptionalJson, Path, Query};
use crate::pages;
use crate::responses::{ConnectPageErrors, InvalidInput, JsonBody, UnknownAccount};
use crate::state::AppState;

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    /// Default: `production` when configured, else the only configured environment.
    #[schema(value_type = Option<Environment>)]
    environment: Option<String>,
    /// Where the browser goes when the attempt ends, with `?account_id=…&status=connected` (or
    /// `status=error&error=…`); without it the browser gets a page saying what happened.
    #[schema(format = "uri")]
    redirect_url: Option<String>,
}

/// An expiring connect link for the customer's browser, spent when it connects the account:
/// `connect_url` goes straight to Dialpad's consent page, `portal_url` offers OAuth or an
/// API-key form.
#[utoipa::path(post, path = "/accounts/{account_id}/connect", tag = "connect", operation_id = "start_connect",
    params(("account_id" = String, Path, description = ACCOUNT_ID)),
    request_body(content = Option<ConnectInput>, description = "May be empty"),
    responses(
        (status = OK, body = ConnectLink),
        (status = CONFLICT, description = "`environment_not_configured`: the environment has no app credentials", body = ErrorBody),
        UnknownAccount, InvalidInput, JsonBody,
    ))]
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

/// The connect link: each opening starts an OAuth attempt of its own (state and PKCE S256) and
/// goes to Dialpad's consent page; the first attempt that connects the account spends the link.
#[utoipa::path(get, path = "/connect/{token}", tag = "connect", operation_id = "open_connect_link",
    params(("token" = String, Path, description = "From `connect_url`")),
    responses(
        (status = FOUND, description = "To Dialpad's authorize URL", headers(("location" = String, description = "Dialpad's authorize URL"))),
        (status = CONFLICT, description = "`environment_not_configured`: a page saying the environment lost its app credentials", body = String, content_type = "text/html"),
        ConnectPageErrors,
    ))]
pub async fn open(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.platform.connections.open_connect_link(&token).await {
        Ok(authorize_url) => found(authorize_url.as_str()),
        Err(e) => pages::error(&pages::brand(&state).await, e.into(), None),
    }
}

/// The portal page: "Sign in with Dialpad", or a form for a Dialpad API key; once the link is
/// used or expired, a page saying so.
#[utoipa::path(get, path = "/connect/{token}/portal", tag = "connect", operation_id = "connect_portal",
    params(("token" = String, Path, description = "From `portal_url`")),
    responses(
        (status = OK, description = "The portal page", body = String, content_type = "text/html"),
        ConnectPageErrors,
    ))]
pub async fn portal(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let brand = pages::brand(&state).await;
    match state.platform.connections.portal(&token).await {
        Ok(view) => Html(pages::portal(&brand, &view, &token)).into_response(),
        Err(e) => pages::error(&brand, e.into(), None),
    }
}

/// The portal's API-key form.
#[derive(Deserialize, ToSchema)]
pub struct ApiKeyForm {
    /// The customer's Dialpad API key.
    api_key: String,
}

/// The portal's form: connects with the API key once Dialpad accepts it.
#[utoipa::path(post, path = "/connect/{token}/api-key", tag = "connect", operation_id = "connect_portal_api_key",
    params(("token" = String, Path, description = "From `portal_url`")),
    request_body(content = ApiKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = FOUND, description = "To the link's `redirect_url`, with `account_id` and `status=connected` or `status=error&error=…`", headers(("location" = String))),
        (status = OK, description = "Without a `redirect_url`: a page saying what happened", body = String, content_type = "text/html"),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_credentials` / `invalid_input` / `dialpad_rejected`: a page saying Dialpad refused the key, or what is wrong with it (a malformed key is refused before anything is sent), or that the form has no `api_key`", body = String, content_type = "text/html"),
        (status = REQUEST_TIMEOUT, description = "`request_timeout`: a page saying the form stopped arriving", body = String, content_type = "text/html"),
        (status = PAYLOAD_TOO_LARGE, description = "`payload_too_large`: a page saying the form is over 1 MiB", body = String, content_type = "text/html"),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "`unsupported_media_type`: a page saying the form is not `application/x-www-form-urlencoded`", body = String, content_type = "text/html"),
        (status = SERVICE_UNAVAILABLE, description = "`dialpad_unavailable` / `rate_limited`: a page saying Dialpad could not check the key", body = String, content_type = "text/html"),
        (status = BAD_GATEWAY, description = "`dialpad_error`: a page saying Dialpad failed (its 5xx) or answered unexpectedly", body = String, content_type = "text/html"),
        (status = CONFLICT, description = "`environment_not_configured`: a page saying the environment lost its app credentials", body = String, content_type = "text/html"),
        ConnectPageErrors,
    ))]
pub async fn portal_api_key(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<ApiKeyForm>, FormRejection>,
) -> Response {
    let brand = pages::brand(&state).await;
    // "Try again" leads back to the portal (relative to this form's URL).
    let retry = Some("portal");
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return pages::error(&brand, form_error(rejection), retry),
    };
    match state
        .platform
        .connections
        .connect_from_portal(&token, &form.api_key)
        .await
    {
        Ok(outcome) => finish(&brand, outcome),
        Err(e) => pages::error(&brand, ApiError::from(e), retry),
    }
}

/// What a portal form that cannot be read answers (as a page).
fn form_error(rejection: FormRejection) -> ApiError {
    match rejection {
        FormRejection::InvalidFormContentType(_) => ApiError::new(
            "unsupported_media_type",
            "send the form as application/x-www-form-urlencoded",
        ),
        FormRejection::FailedToDeserializeForm(_)
        | FormRejection::FailedToDeserializeFormBody(_) => {
            Error::invalid("api_key", "is required").into()
        }
        other => body_error(other.status(), &other),
    }
}

/// Where Dialpad sends the customer back after consent: redeems the code, stores the tokens,
/// and sends the browser on.
#[utoipa::path(get, path = "/oauth/callback", tag = "connect", operation_id = "oauth_callback",
    params(
        ("code" = Option<String>, Query, description = "The authorization code, on consent"),
        ("state" = Option<String>, Query, description = "The state dialbridge sent"),
        ("error" = Option<String>, Query, description = "Dialpad's error code (`access_denied`, `invalid_scope`, …)"),
        ("error_description" = Option<String>, Query, description = "Dialpad's explanation"),
    ),
    responses(
        (status = FOUND, description = "To the link's `redirect_url`, with `account_id` and `status=connected` or `status=error&error=…&error_description=…`", headers(("location" = String))),
        (status = OK, description = "Without a `redirect_url`: a page saying what happened and what to do", body = String, content_type = "text/html"),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_input`: a malformed query", body = ErrorBody),
        ConnectPageErrors,
    ))]
pub async fn callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let brand = pages::brand(&state).await;
    match state.platform.connections.complete_oauth(query).await {
        Ok(outcome) => finish(&brand, outcome),
        Err(e) => pages::error(&brand, e.into(), None),
    }
}

/// Back to the vendor's `redirect_url` with the status, or a result page when there is none.
fn finish(brand: &pages::Brand, outcome: CallbackOutcome) -> Response {
    match outcome.redirect_target() {
        Some(url) => found(url.as_str()),
        None => Html(pages::result(brand, &outcome)).into_response(),
    }
}

/// 302 Found, as OAuth redirects conventionally are.
fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
