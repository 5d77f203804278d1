//! The domain's one error type. The server maps each variant to a status and a contract error
//! code in one place; the messages here are written for the person who must fix something.

use serde::Serialize;

use crate::app::Environment;
use crate::ids::AccountId;
use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", summarize(.0))]
    InvalidInput(Vec<FieldError>),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("'{scope}' is not a Dialpad scope dialbridge knows; pick one of GET /api/v1/app's available_scopes, or pass it in custom_scopes if Dialpad supports it")]
    InvalidScope { scope: String },
    #[error("{0}")]
    InvalidCredentials(String),
    #[error("the {0} environment has no app credentials yet: set them with PUT /api/v1/app/credentials/{0}")]
    EnvironmentNotConfigured(Environment),
    #[error("account '{0}' has no Dialpad connection: connect it first (POST /api/v1/accounts/{0}/connect)")]
    NotConnected(AccountId),
    #[error("account '{0}' must connect again: Dialpad no longer accepts its credentials (POST /api/v1/accounts/{0}/connect)")]
    ReauthRequired(AccountId),
    #[error("{0}")]
    InvalidConnectLink(String),
    #[error("Dialpad answered {status}")]
    Dialpad {
        status: u16,
        body: serde_json::Value,
    },
    #[error("Dialpad could not be reached: {0}")]
    DialpadUnavailable(String),
    #[error("{action} needs the Dialpad scope '{scope}', which this account's connection was not granted: add it to the app (PUT /api/v1/app/scopes), then connect the account again (POST /api/v1/accounts/{{id}}/connect)")]
    MissingScope { action: String, scope: String },
    #[error("Dialpad's rate limit was reached and the retries are spent{}", .retry_after_secs.map(|s| format!("; retry in {s} s")).unwrap_or_default())]
    RateLimited {
        retry_after_secs: Option<u64>,
        body: serde_json::Value,
    },
    #[error("{0}")]
    InvalidSignature(String),
    #[error("the http step's request was answered {status}")]
    HttpStep {
        status: u16,
        body: serde_json::Value,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The contract's error code for this error (the server pairs it with a status).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "invalid_input",
            Error::NotFound(_) => "not_found",
            Error::InvalidScope { .. } => "invalid_scope",
            Error::InvalidCredentials(_) => "invalid_credentials",
            Error::EnvironmentNotConfigured(_) => "environment_not_configured",
            Error::NotConnected(_) => "not_connected",
            Error::ReauthRequired(_) => "reauth_required",
            Error::InvalidConnectLink(_) => "invalid_connect_link",
            Error::Dialpad { .. } => "dialpad_error",
            Error::DialpadUnavailable(_) => "dialpad_unavailable",
            Error::MissingScope { .. } => "missing_scope",
            Error::RateLimited { .. } => "rate_limited",
            Error::HttpStep { .. } => "http_error",
            Error::InvalidSignature(_) => "invalid_signature",
            Error::Store(_) | Error::Internal(_) => "internal_error",
        }
    }

    /// The error as an execution records it: code, message and, for Dialpad's answers, its
    /// status and body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        match self {
            Error::Dialpad { status, body } => {
                json["status"] = (*status).into();
                json["body"] = body.clone();
            }
            Error::RateLimited { body, .. } => {
                json["status"] = 429.into();
                json["body"] = body.clone();
            }
            Error::HttpStep { status, body } => {
                json["status"] = (*status).into();
                json["body"] = body.clone();
            }
            Error::InvalidInput(problems) => json["details"] = serde_json::json!(problems),
            _ => {}
        }
        json
    }

    /// A single-field validation failure.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput(vec![FieldError::new(field, message)])
    }
}

fn summarize(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    format!("invalid input: {}", parts.join("; "))
}

impl From<dialpad::ApiError> for Error {
    fn from(err: dialpad::ApiError) -> Self {
        match err {
            dialpad::ApiError::Status { status, body, .. } => Error::Dialpad { status, body },
            dialpad::ApiError::Transport(msg) => Error::DialpadUnavailable(msg),
        }
    }
}
