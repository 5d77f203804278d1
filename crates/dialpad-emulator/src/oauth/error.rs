//! OAuth error responses (RFC 6749 §5.2): `{"error", "error_description"}` with 400, or 401 for
//! client authentication and bearer token failures. Never cached.

use axum::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::tokens::GrantError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// A missing, unknown, expired or revoked bearer token (deauthorize).
    #[error("{0}")]
    InvalidToken(String),
}

impl OAuthError {
    fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidToken(_) => "invalid_token",
        }
    }
}

impl From<GrantError> for OAuthError {
    fn from(err: GrantError) -> Self {
        if err.is_invalid_request() {
            OAuthError::InvalidRequest(err.to_string())
        } else {
            OAuthError::InvalidGrant(err.to_string())
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.code(), "error_description": self.to_string() }));
        let no_cache = [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")];
        match self {
            OAuthError::InvalidClient(_) => (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, r#"Basic realm="Dialpad""#)],
                no_cache,
                body,
            )
                .into_response(),
            OAuthError::InvalidToken(_) => (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)],
                no_cache,
                body,
            )
                .into_response(),
            _ => (StatusCode::BAD_REQUEST, no_cache, body).into_response(),
        }
    }
}
