//! A typed client for Dialpad's API v2: the OAuth 2.0 flow (authorize URL, code exchange,
//! refresh, deauthorize) and the API calls dialbridge makes. No database, no server.

mod api;
mod error;
mod ids;
mod oauth;
mod raw;
mod transport;

pub use api::{Company, DialpadClient, User};
pub use error::{ApiError, OAuthError};
pub use oauth::{OAuthApp, Pkce, TokenSet};
pub use raw::{RawBody, RawRequest, RawResponse};
pub use transport::describe as describe_transport_error;

/// Dialpad's production host.
pub const PRODUCTION_URL: &str = "https://dialpad.com";
/// Dialpad's sandbox host.
pub const SANDBOX_URL: &str = "https://sandbox.dialpad.com";
