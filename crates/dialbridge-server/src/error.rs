//! The contract's error body, `{"error": {"code", "message", "details"}}`, built in this one
//! place from domain errors and request rejections, and described to OpenAPI by the same type
//! (`ErrorBody`). 500s never carry internal detail.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialbridge_core::Error;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// `{"error": {"code", "message", "details"}}`: every error dialbridge answers in JSON.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, for a program: `not_found`, `invalid_input`, `not_connected`, …
    #[schema(example = "not_found")]
    pub code: &'static str,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// More, by code: the `[{field, message}]` of `invalid_input`, the `scope` of
    /// `invalid_scope` and `missing_scope`, Dialpad's `status` and `body` of `dialpad_error`,
    /// the `retry_after_secs` of `rate_limited`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin API key as 'Authorization: Bearer <api key>'",
        )
    }

    pub fn not_found_route() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route; see GET /api/v1/openapi.json",
        )
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        use StatusCode as S;
        let message = err.to_string();
        match err {
            Error::InvalidInput(problems) => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_input", message)
                    .with_details(json!(problems))
            }
            Error::NotFound(_) => ApiError::new(S::NOT_FOUND, "not_found", message),
            Error::InvalidScope { scope } => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_scope", message)
                    .with_details(json!({"scope": scope}))
            }
            Error::InvalidCredentials(_) => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_credentials", message)
            }
            Error::EnvironmentNotConfigured(_) => {
                ApiError::new(S::CONFLICT, "environment_not_configured", message)
            }
            Error::NotConnected(_) => ApiError::new(S::CONFLICT, "not_connected", message),
            Error::ReauthRequired(_) => ApiError::new(S::CONFLICT, "reauth_required", message),
            Error::InvalidConnectLink(_) => {
                ApiError::new(S::BAD_REQUEST, "invalid_connect_link", message)
            }
            Error::Dialpad { status, body } => {
                ApiError::new(S::BAD_GATEWAY, "dialpad_error", message)
                    .with_details(json!({"status": status, "body": body}))
            }
            Error::DialpadUnavailable(_) => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "dialpad_unavailable", message)
            }
            Error::MissingScope { action, scope } => {
                ApiError::new(S::FORBIDDEN, "missing_scope", message)
                    .with_details(json!({"action": action, "scope": scope}))
            }
            Error::RateLimited {
                retry_after_secs,
                body,
            } => ApiError::new(S::SERVICE_UNAVAILABLE, "rate_limited", message).with_details(
                json!({"status": 429, "retry_after_secs": retry_after_secs, "body": body}),
            ),
            Error::InvalidSignature(_) => {
                ApiError::new(S::UNAUTHORIZED, "invalid_signature", message)
            }
            Error::HttpStep { status, body } => {
                ApiError::new(S::BAD_GATEWAY, "http_error", message)
                    .with_details(json!({"status": status, "body": body}))
            }
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!("internal error: {message}");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error; the server log has the details",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, code) = match &rejection {
            JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            rejection.body_text(),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            rejection.body_text(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ErrorDetail {
            code: self.code,
            message: self.message,
            details: self.details,
        };
        (self.status, Json(ErrorBody { error })).into_response()
    }
}
