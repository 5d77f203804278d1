//! The contract's error body, `{"error": {"code", "message", "details"}}`, built in this one
//! place. A domain error brings its code, message and details; the table below gives each code
//! its status, and `route_hint` adds the API route that fixes the problem. `ErrorBody` is both
//! what is sent and what the OpenAPI document describes. 500s never carry internal detail (the
//! log has it); errors a retry may cure carry `Retry-After`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialbridge_core::{Error, Resource};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::serde_errors::{self, Part};

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
    /// `invalid_scope` and `missing_scope`, Dialpad's `status` and `body` of
    /// `dialpad_rejected` and `dialpad_error`, the `retry_after_secs` of `rate_limited`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Every error code the API answers, with its status. A code missing here answers 500.
const STATUS_OF_CODE: &[(&str, StatusCode)] = &[
    ("invalid_request", StatusCode::BAD_REQUEST),
    ("invalid_connect_link", StatusCode::BAD_REQUEST),
    ("unauthorized", StatusCode::UNAUTHORIZED),
    ("invalid_signature", StatusCode::UNAUTHORIZED),
    ("missing_scope", StatusCode::FORBIDDEN),
    ("not_found", StatusCode::NOT_FOUND),
    ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
    ("request_timeout", StatusCode::REQUEST_TIMEOUT),
    ("conflict", StatusCode::CONFLICT),
    ("environment_not_configured", StatusCode::CONFLICT),
    ("not_connected", StatusCode::CONFLICT),
    ("reauth_required", StatusCode::CONFLICT),
    ("last_admin_key", StatusCode::CONFLICT),
    ("not_acceptable", StatusCode::NOT_ACCEPTABLE),
    ("forbidden", StatusCode::FORBIDDEN),
    ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
    ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ("invalid_input", StatusCode::UNPROCESSABLE_ENTITY),
    ("invalid_scope", StatusCode::UNPROCESSABLE_ENTITY),
    ("invalid_credentials", StatusCode::UNPROCESSABLE_ENTITY),
    ("dialpad_rejected", StatusCode::UNPROCESSABLE_ENTITY),
    ("too_many_attempts", StatusCode::TOO_MANY_REQUESTS),
    ("internal_error", StatusCode::INTERNAL_SERVER_ERROR),
    ("dialpad_error", StatusCode::BAD_GATEWAY),
    ("http_error", StatusCode::BAD_GATEWAY),
    ("step_timeout", StatusCode::GATEWAY_TIMEOUT),
    ("dialpad_unavailable", StatusCode::SERVICE_UNAVAILABLE),
    ("rate_limited", StatusCode::SERVICE_UNAVAILABLE),
    ("too_many_sessions", StatusCode::SERVICE_UNAVAILABLE),
    ("database_unavailable", StatusCode::SERVICE_UNAVAILABLE),
    ("timeout", StatusCode::SERVICE_UNAVAILABLE),
];

fn status_of(code: &str) -> StatusCode {
    STATUS_OF_CODE
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(StatusCode::INTERNAL_SERVER_ERROR, |(_, status)| *status)
}

/// The API route that fixes the problem, appended to the domain's message.
fn route_hint(err: &Error) -> Option<String> {
    Some(match err {
        Error::NotFound {
            resource: Resource::Action,
            ..
        } => " (GET /api/v1/actions lists them)".into(),
        Error::NotFound {
            resource: Resource::Workflow,
            ..
        } => " (GET /api/v1/workflows lists them)".into(),
        Error::NotEnabled { account, workflow } => {
            format!(" (enable it with PUT /api/v1/accounts/{account}/workflows/{workflow})")
        }
        Error::InvalidScope { .. } => {
            " (GET /api/v1/app lists available_scopes; PUT /api/v1/app/scopes sets them)".into()
        }
        Error::EnvironmentNotConfigured(environment) => {
            format!(": set them with PUT /api/v1/app/credentials/{environment}")
        }
        Error::NotConnected(account) | Error::ReauthRequired(account) => {
            format!(" (POST /api/v1/accounts/{account}/connect)")
        }
        Error::MissingScope { .. } => {
            " (PUT /api/v1/app/scopes, then POST /api/v1/accounts/{id}/connect)".into()
        }
        _ => return None,
    })
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error of the edge itself (a malformed request, a missing key), by its code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: status_of(code),
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            "unauthorized",
            "send the admin API key as 'Authorization: Bearer <api key>'",
        )
    }

    pub fn not_found_route() -> Self {
        ApiError::new("not_found", "no such route; see GET /api/v1/openapi.json")
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let code = err.code();
        let status = status_of(code);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error: {err:#}");
            return ApiError::new(
                "internal_error",
                "internal error; the server log has the details",
            );
        }
        let mut message = err.to_string();
        if let Some(hint) = route_hint(&err) {
            message.push_str(&hint);
        }
        if code == "database_unavailable" {
            tracing::warn!("{err}");
            message = "the database is unavailable; retry in a moment".into();
        }
        ApiError {
            status,
            code,
            message,
            details: err.details(),
            retry_after_secs: err.retry_after_secs(),
        }
    }
}

/// serde's error for a query string, with the parameter it was reading: what axum's `Query`
/// (`serde_path_to_error` over `serde_urlencoded`) puts under its rejection.
type QueryError = serde_path_to_error::Error<serde::de::value::Error>;

/// A query string that does not read as the route's parameters is invalid input like any other:
/// the parameter in `details`, with what it must be.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let mut source = std::error::Error::source(&rejection);
        while let Some(err) = source {
            if let Some(traced) = err.downcast_ref::<QueryError>() {
                let path = traced.path().to_string();
                let problem =
                    serde_errors::field_error(Part::Query, &path, &traced.inner().to_string());
                return Error::InvalidInput(vec![problem]).into();
            }
            source = err.source();
        }
        let problem = serde_errors::field_error(Part::Query, ".", &rejection.body_text());
        Error::InvalidInput(vec![problem]).into()
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new("invalid_request", rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ErrorDetail {
            code: self.code,
            message: self.message,
            details: self.details,
        };
        let mut response = (self.status, Json(ErrorBody { error })).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_code_has_a_status() {
        let errors = [
            Error::invalid("f", "m"),
            Error::not_found(Resource::Account, "a"),
            Error::InvalidScope { scope: "x".into() },
            Error::InvalidCredentials("x".into()),
            Error::EnvironmentNotConfigured(dialbridge_core::Environment::Custom),
            Error::InvalidConnectLink("x".into()),
            Error::Dialpad {
                status: 500,
                body: Value::Null,
            },
            Error::DialpadRejected {
                status: 404,
                body: Value::Null,
            },
            Error::DialpadUnavailable("x".into()),
            Error::MissingScope {
                action: "a".into(),
                scope: "s".into(),
            },
            Error::RateLimited {
                retry_after_secs: None,
                body: Value::Null,
            },
            Error::InvalidSignature("x".into()),
            Error::LastAdminKey("key_1".into()),
            Error::HttpStep {
                status: 500,
                body: Value::Null,
            },
        ];
        for err in errors {
            assert_ne!(
                status_of(err.code()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{} has no status",
                err.code()
            );
        }
    }

    #[test]
    fn an_unavailable_database_is_a_503_with_retry_after_and_no_detail() {
        let err = Error::Store(dialbridge_core::StoreError::Unavailable(
            "connection refused to 10.0.0.7:5432".into(),
        ));
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.code, "database_unavailable");
        assert_eq!(api.retry_after_secs, Some(1));
        assert!(!api.message.contains("10.0.0.7"), "{}", api.message);
        let response = api.into_response();
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn route_hints_are_added_at_the_edge() {
        let account = dialbridge_core::AccountId::parse("acme").unwrap();
        let api = ApiError::from(Error::NotConnected(account));
        assert_eq!(
            api.message,
            "account 'acme' has no Dialpad connection: connect it first (POST /api/v1/accounts/acme/connect)"
        );
    }
}
