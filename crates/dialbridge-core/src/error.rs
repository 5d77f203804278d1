//! The domain's one error type. Each variant says what went wrong in words for the person who
//! must fix it, and carries its contract error code (`code`) and structured details
//! (`details`). The domain knows no HTTP: the server pairs each code with a status, and adds
//! the route that fixes the problem, in one table (`dialbridge-server/src/error.rs`).

use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};

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

/// What was looked for and not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Account,
    Action,
    Trigger,
    Workflow,
    Execution,
    WebhookEndpoint,
    /// One message to a webhook endpoint, by id.
    WebhookDelivery,
    /// A Dialpad webhook dialbridge provisioned (`/webhooks/dialpad/{hook_id}`).
    DialpadHook,
    /// An operation of Dialpad's API (method and path).
    DialpadOperation,
    /// An active admin API key, by id.
    AdminKey,
    /// An account's MCP token, by id.
    McpToken,
    /// A tool an MCP client may call.
    McpTool,
    /// A resource an MCP client may read, by URI.
    McpResource,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Account => "account",
            Resource::Action => "action",
            Resource::Trigger => "trigger",
            Resource::Workflow => "workflow",
            Resource::Execution => "execution",
            Resource::WebhookEndpoint => "webhook endpoint",
            Resource::WebhookDelivery => "webhook delivery",
            Resource::DialpadHook => "webhook",
            Resource::DialpadOperation => "Dialpad operation",
            Resource::AdminKey => "admin API key",
            Resource::McpToken => "MCP token",
            Resource::McpTool => "tool",
            Resource::McpResource => "resource",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", summarize(.0))]
    InvalidInput(Vec<FieldError>),
    #[error("{resource} '{id}' was not found{}", did_you_mean(.suggestion))]
    NotFound {
        resource: Resource,
        id: String,
        /// The closest known name, when there is one.
        suggestion: Option<String>,
    },
    #[error("workflow '{workflow}' is not enabled for account '{account}'")]
    NotEnabled {
        account: AccountId,
        workflow: String,
    },
    #[error("'{scope}' is not a Dialpad scope dialbridge knows; pick one of the app's available scopes, or pass it in custom_scopes if Dialpad supports it")]
    InvalidScope { scope: String },
    #[error("{0}")]
    InvalidCredentials(String),
    #[error("the {0} environment has no app credentials yet")]
    EnvironmentNotConfigured(Environment),
    #[error("account '{0}' has no Dialpad connection: connect it first")]
    NotConnected(AccountId),
    #[error("account '{0}' must connect again: Dialpad no longer accepts its credentials")]
    ReauthRequired(AccountId),
    #[error("{0}")]
    InvalidConnectLink(String),
    /// Dialpad failed (5xx), or answered what a caller cannot act on (a 401 that survived a
    /// token refresh, a status it does not document).
    #[error("Dialpad answered {status}{}", dialpad_says(.body))]
    Dialpad { status: u16, body: Value },
    /// Dialpad refused the request as the caller made it (its 4xx: an id that does not exist,
    /// a field it does not accept): the caller's to fix, not Dialpad's failure.
    #[error("Dialpad refused the request ({status}){}", dialpad_says(.body))]
    DialpadRejected { status: u16, body: Value },
    #[error("Dialpad could not be reached: {0}")]
    DialpadUnavailable(String),
    #[error("{action} needs the Dialpad scope '{scope}', which this account's connection was not granted: add it to the app's scopes, then connect the account again")]
    MissingScope { action: String, scope: String },
    #[error("Dialpad's rate limit was reached and the retries are spent{}", .retry_after_secs.map(|s| format!("; retry in {s} s")).unwrap_or_default())]
    RateLimited {
        retry_after_secs: Option<u64>,
        body: Value,
    },
    #[error("{0}")]
    InvalidSignature(String),
    #[error(
        "admin API key '{0}' is the last active one and cannot be revoked: create another first"
    )]
    LastAdminKey(String),
    #[error("the http step's request was answered {status}")]
    HttpStep { status: u16, body: Value },
    #[error("the step took longer than its budget of {seconds} s (--step-timeout)")]
    StepTimeout { seconds: u64 },
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
            Error::NotFound { .. } | Error::NotEnabled { .. } => "not_found",
            Error::InvalidScope { .. } => "invalid_scope",
            Error::InvalidCredentials(_) => "invalid_credentials",
            Error::EnvironmentNotConfigured(_) => "environment_not_configured",
            Error::NotConnected(_) => "not_connected",
            Error::ReauthRequired(_) => "reauth_required",
            Error::InvalidConnectLink(_) => "invalid_connect_link",
            Error::Dialpad { .. } => "dialpad_error",
            Error::DialpadRejected { .. } => "dialpad_rejected",
            Error::DialpadUnavailable(_) => "dialpad_unavailable",
            Error::MissingScope { .. } => "missing_scope",
            Error::RateLimited { .. } => "rate_limited",
            Error::HttpStep { .. } => "http_error",
            Error::StepTimeout { .. } => "step_timeout",
            Error::InvalidSignature(_) => "invalid_signature",
            Error::LastAdminKey(_) => "last_admin_key",
            Error::Store(e) => e.code(),
            Error::Internal(_) => "internal_error",
        }
    }

    /// What a program needs besides the code: the fields at fault, the scope, Dialpad's (or
    /// an http step's) status and body.
    pub fn details(&self) -> Option<Value> {
        match self {
            Error::InvalidInput(problems) => Some(json!(problems)),
            Error::InvalidScope { scope } => Some(json!({ "scope": scope })),
            Error::MissingScope { action, scope } => {
                Some(json!({ "action": action, "scope": scope }))
            }
            Error::Dialpad { status, body }
            | Error::DialpadRejected { status, body }
            | Error::HttpStep { status, body } => Some(json!({ "status": status, "body": body })),
            Error::RateLimited {
                retry_after_secs,
                body,
            } => Some(json!({ "status": 429, "retry_after_secs": retry_after_secs, "body": body })),
            Error::NotFound {
                suggestion: Some(suggestion),
                ..
            } => Some(json!({ "did_you_mean": suggestion })),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed (Dialpad or the database was
    /// unavailable, a rate limit): what the server says with `Retry-After`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::RateLimited {
                retry_after_secs, ..
            } => Some(retry_after_secs.unwrap_or(1)),
            Error::Store(e) if e.is_unavailable() => Some(1),
            _ => None,
        }
    }

    /// The error as an execution records it: code, message and, for Dialpad's answers, its
    /// status and body.
    pub fn to_json(&self) -> Value {
        let mut json = json!({ "code": self.code(), "message": self.to_string() });
        match self {
            Error::Dialpad { status, body }
            | Error::DialpadRejected { status, body }
            | Error::HttpStep { status, body } => {
                json["status"] = (*status).into();
                json["body"] = body.clone();
            }
            Error::RateLimited { body, .. } => {
                json["status"] = 429.into();
                json["body"] = body.clone();
            }
            Error::InvalidInput(problems) => json["details"] = json!(problems),
            _ => {}
        }
        json
    }

    /// Dialpad's answer `status` with `body` as an error: its 4xx is the caller's request
    /// refused (`dialpad_rejected`) — except 401, which a token refresh could not cure, and
    /// 429, its rate limit — and anything else is Dialpad's failure (`dialpad_error`).
    pub fn dialpad_answered(status: u16, body: Value) -> Self {
        match status {
            401 | 429 => Error::Dialpad { status, body },
            400..=499 => Error::DialpadRejected { status, body },
            _ => Error::Dialpad { status, body },
        }
    }

    /// A single-field validation failure.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput(vec![FieldError::new(field, message)])
    }

    /// `resource` `id` does not exist.
    pub fn not_found(resource: Resource, id: impl Into<String>) -> Self {
        Error::NotFound {
            resource,
            id: id.into(),
            suggestion: None,
        }
    }

    /// `id` is none of `known`; the closest of them is suggested.
    pub fn unknown(resource: Resource, id: &str, known: &[&str]) -> Self {
        Error::NotFound {
            resource,
            id: id.to_owned(),
            suggestion: crate::suggest::closest(id, known).map(str::to_owned),
        }
    }
}

fn summarize(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    format!("invalid input: {}", parts.join("; "))
}

/// `: <Dialpad's message>` when its answer carries one (`{"error": {"message"}}`, as Dialpad
/// writes errors, or a top-level `message`), so the caller reads why without the details.
fn dialpad_says(body: &Value) -> String {
    let message = body
        .pointer("/error/message")
        .or_else(|| body.get("message"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty());
    match message {
        Some(m) if m.chars().count() > 300 => {
            format!(": {}…", m.chars().take(300).collect::<String>())
        }
        Some(m) => format!(": {m}"),
        None => String::new(),
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean {s}?"))
        .unwrap_or_default()
}

impl From<dialpad::ApiError> for Error {
    fn from(err: dialpad::ApiError) -> Self {
        match err {
            dialpad::ApiError::Status { status, body, .. } => Error::dialpad_answered(status, body),
            dialpad::ApiError::Transport(msg) => Error::DialpadUnavailable(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_suggest_the_closest_known_one() {
        let err = Error::unknown(Resource::Action, "list_user", &["list_users", "send_sms"]);
        assert_eq!(err.code(), "not_found");
        assert_eq!(
            err.to_string(),
            "action 'list_user' was not found; did you mean list_users?"
        );
        assert_eq!(err.details(), Some(json!({ "did_you_mean": "list_users" })));
        let err = Error::unknown(Resource::Action, "zzz", &["list_users", "send_sms"]);
        assert_eq!(err.to_string(), "action 'zzz' was not found");
    }

    #[test]
    fn dialpads_4xx_is_the_callers_to_fix_and_its_5xx_its_own_failure() {
        let body = json!({ "error": { "code": 404, "message": "contact 1 not found" } });
        let err = Error::dialpad_answered(404, body.clone());
        assert_eq!(err.code(), "dialpad_rejected");
        assert_eq!(
            err.to_string(),
            "Dialpad refused the request (404): contact 1 not found"
        );
        assert_eq!(err.details(), Some(json!({ "status": 404, "body": body })));
        assert_eq!(err.to_json()["code"], "dialpad_rejected");
        assert_eq!(err.to_json()["status"], 404);
        for status in [400, 403, 409, 422] {
            assert_eq!(
                Error::dialpad_answered(status, Value::Null).code(),
                "dialpad_rejected"
            );
        }
        for status in [401, 429, 500, 502, 503, 302, 200] {
            assert_eq!(
                Error::dialpad_answered(status, Value::Null).code(),
                "dialpad_error",
                "{status}"
            );
        }
        assert_eq!(
            Error::dialpad_answered(503, json!("upstream down")).to_string(),
            "Dialpad answered 503"
        );
    }
}
