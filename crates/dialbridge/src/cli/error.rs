//! The errors of the admin-API commands, and how they reach a person: one `dialbridge: …` line
//! on stderr (the server's error code first when it sent one), its `details` as pretty JSON,
//! and an exit code (2 for a usage mistake, as clap does; 1 for everything else).

use std::path::PathBuf;

use serde_json::Value;

/// Anything that stops an admin-API command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No key was given and the server refused the dev key: it is not a dev server.
    #[error("the server refused the dev key dialbridge-dev (sent because no key was given): set --api-key or DIALBRIDGE_API_KEY to an admin API key")]
    MissingApiKey,
    #[error("--server {url:?} is not a usable http(s) URL: {reason}")]
    BadServerUrl { url: String, reason: String },
    #[error("--input: {0}")]
    Input(#[from] InputError),
    #[error(
        "--since {0:?}: expected an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01)"
    )]
    Since(String),
    /// The server answered `{"error": {code, message, details}}`.
    #[error("{code}: {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
        details: Value,
    },
    #[error("cannot reach the dialbridge server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server answered HTTP {status} without an error body: {body}")]
    UnexpectedStatus { status: u16, body: String },
    #[error("unexpected answer from the server: {0}")]
    BadResponse(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A progress file that cannot be resumed from (other arguments, damaged, …).
    #[error("{0}")]
    Resume(String),
}

/// A `--input` that cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
    #[error("{origin} is not valid JSON: {error}")]
    NotJson {
        origin: String,
        error: serde_json::Error,
    },
    #[error("{origin} must be a JSON object (the action's input fields), not {found}")]
    NotObject { origin: String, found: &'static str },
}

impl CliError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.into(),
            source,
        }
    }

    /// 2 for a mistake in the command line (as clap answers), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::MissingApiKey
            | CliError::BadServerUrl { .. }
            | CliError::Input(_)
            | CliError::Since(_)
            | CliError::Resume(_) => 2,
            _ => 1,
        }
    }

    /// Prints the error for a person on stderr.
    pub fn report(&self) {
        eprintln!("dialbridge: {self}");
        if let CliError::Server { details, .. } = self {
            if !details.is_null() {
                let pretty =
                    serde_json::to_string_pretty(details).unwrap_or_else(|_| details.to_string());
                eprintln!("{pretty}");
            }
        }
    }
}

/// `"an array"`, `"a string"`, … for messages about a JSON value of the wrong kind.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
