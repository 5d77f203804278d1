//! `POST /oauth2/deauthorize`: the bearer access token's grant is revoked (its access tokens and
//! refresh token), as when an app disconnects itself.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::OAuthError;
use crate::authorization;
use crate::Emulator;

pub async fn deauthorize(State(emulator): State<Emulator>, headers: HeaderMap) -> Response {
    let mut store = emulator.store();
    store.stats.deauthorize_requests += 1;
    let Some(token) = authorization::bearer(&headers) else {
        return OAuthError::InvalidToken("a Bearer access token is required".into())
            .into_response();
    };
    match store.tokens.deauthorize(token, Instant::now()) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => OAuthError::InvalidToken(err.to_string()).into_response(),
    }
}
