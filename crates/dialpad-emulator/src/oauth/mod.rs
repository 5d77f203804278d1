//! Dialpad's OAuth 2.0 endpoints: authorize (consent page and decision), token, deauthorize.
//! The authorize rules live in `authorize` so the control API can reuse them without a browser.

mod authorize;
mod consent;
mod deauthorize;
mod error;
mod token;
mod token_request;

use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use url::Url;

use crate::Emulator;

pub use authorize::{decide, validate, AuthorizeParams, AuthorizeRequest, Decision, Refusal};

pub fn routes() -> Router<Emulator> {
    Router::new()
        .route("/oauth2/authorize", get(consent::page))
        .route("/oauth2/decision", post(consent::decision))
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/deauthorize", post(deauthorize::deauthorize))
}

/// `302 Found` to `location`, as Dialpad answers an authorize request.
fn found(location: &Url) -> Response {
    (StatusCode::FOUND, [(LOCATION, location.as_str())]).into_response()
}
