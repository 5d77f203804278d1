//! Errors of the emulated Dialpad API v2, answered in Dialpad's shape
//! `{"error": {"code": <status>, "message": "..."}}` by the one `IntoResponse` below — also
//! the answer to an unknown route, a method a route does not take, and a body too large.

use std::time::Duration;

use axum::http::header::{ALLOW, RETRY_AFTER};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    MethodNotAllowed {
        message: String,
        allowed: Vec<String>,
    },
    #[error("rate limit exceeded: {limit}")]
    RateLimited {
        limit: String,
        retry_after: Duration,
    },
    /// A failure injected through the control API.
    #[error("injected fault: the emulator was asked to fail this request")]
    Injected(StatusCode),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The `Retry-After` of a 429, in whole seconds (rounded up, at least 1).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after, .. } => {
                Some(retry_after.as_millis().div_ceil(1000).max(1) as u64)
            }
            ApiError::Injected(StatusCode::TOO_MANY_REQUESTS) => Some(1),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Injected(status) => *status,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({ "error": { "code": status.as_u16(), "message": self.to_string() } });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::RateLimited { .. } | ApiError::Injected(StatusCode::TOO_MANY_REQUESTS) => {
                if let Some(secs) = self.retry_after_secs() {
                    headers.insert(RETRY_AFTER, secs.into());
                }
            }
            ApiError::MethodNotAllowed { allowed, .. } if !allowed.is_empty() => {
                if let Ok(value) = allowed.join(", ").parse() {
                    headers.insert(ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// The router's fallback: a path the emulator does not serve at all.
pub async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "{method} {} is not a route of the emulator: Dialpad's API is under /api/v2, OAuth under /oauth2, the control API under /_control",
        uri.path()
    ))
}

/// A known route asked with a method it does not take.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        message: format!("{method} is not allowed on {}", uri.path()),
        allowed: Vec::new(),
    }
}
