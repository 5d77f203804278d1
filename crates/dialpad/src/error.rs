//! The two ways a Dialpad call fails: an OAuth endpoint's RFC 6749 error, or an API v2 error
//! with Dialpad's status and body.

/// A failure of `/oauth2/token` or `/oauth2/deauthorize`.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Dialpad answered with an RFC 6749 error code such as `invalid_grant` or `invalid_client`.
    #[error("Dialpad refused the OAuth request: {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        code: String,
        description: Option<String>,
    },
    /// Dialpad could not be reached, or answered with something that is not OAuth.
    #[error("Dialpad's OAuth endpoint failed: {0}")]
    Unavailable(String),
}

impl OAuthError {
    /// The refresh token or code is dead for good: the customer must connect again.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, OAuthError::Refused { code, .. } if code == "invalid_grant")
    }
}

/// A failure of an API v2 call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Dialpad answered with a non-success status.
    #[error("Dialpad answered {status}")]
    Status {
        status: u16,
        body: serde_json::Value,
        retry_after: Option<u64>,
    },
    /// Dialpad could not be reached or the response could not be read; the text says what
    /// happened in plain words (see `describe_transport_error`).
    #[error("Dialpad could not be reached: {0}")]
    Transport(String),
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Transport(_) => None,
        }
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }
}
