//! The contract's error answers as OpenAPI responses that several handlers share: each type
//! names the statuses and codes one source of errors can answer, with `ErrorBody` as the body.
//! A handler's own errors (its 404, 409, …) are listed in its `#[utoipa::path]`.
// The types are never built: they only describe responses.
#![allow(dead_code)]

use utoipa::IntoResponses;

use crate::error::ErrorBody;

/// What the admin API key check answers (`auth::behind_api_key` adds it to every operation
/// behind it).
#[derive(IntoResponses)]
pub enum KeyCheck {
    /// `unauthorized`: no `Authorization: Bearer <api key>`, or not a valid admin API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// `too_many_attempts`: too many wrong keys from this address; retry after `Retry-After`
    /// seconds.
    #[response(status = 429)]
    TooManyAttempts(ErrorBody),
    /// `internal_error`: a bug or a database failure; the server log has the details.
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// Rejections of a JSON body (see `extract.rs` for the rule).
#[derive(IntoResponses)]
pub enum JsonBody {
    /// `invalid_request`: the body is not JSON, or is empty where a body is needed.
    #[response(status = 400)]
    Malformed(ErrorBody),
    /// `request_timeout`: the body stopped arriving.
    #[response(status = 408)]
    Stalled(ErrorBody),
    /// `payload_too_large`: the body is over 1 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// `unsupported_media_type`: a body not sent as `content-type: application/json` (or
    /// another `+json` type).
    #[response(status = 415)]
    NotJson(ErrorBody),
}

/// Rejections of a body read as it is (any content type).
#[derive(IntoResponses)]
pub enum RawBody {
    /// `request_timeout`: the body stopped arriving.
    #[response(status = 408)]
    Stalled(ErrorBody),
    /// `payload_too_large`: the body is over 1 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
}

/// `invalid_input`, for handlers whose only 422 is a wrong field, path segment or query
/// parameter.
#[derive(IntoResponses)]
pub enum InvalidInput {
    /// `invalid_input`: a field, path segment or query parameter is wrong; `details` lists
    /// `{field, message}`.
    #[response(status = 422)]
    Invalid(ErrorBody),
}

/// `invalid_input` and `dialpad_rejected`, for handlers that check their input and then
/// call Dialpad, whose 4xx refuses the request as made.
#[derive(IntoResponses)]
pub enum InvalidOrRejected {
    /// `invalid_input`: a field, path segment or query parameter is wrong (nothing was sent to
    /// Dialpad); `details` lists `{field, message}`. `dialpad_rejected`: Dialpad refused the
    /// request with a 4xx (an id that does not exist, a value it does not accept); `details`
    /// has its `status` and `body`.
    #[response(status = 422)]
    Invalid(ErrorBody),
}

/// What calling Dialpad can answer besides its 4xx (`dialpad_rejected`, a 422).
#[derive(IntoResponses)]
pub enum DialpadFailure {
    /// `dialpad_error`: Dialpad failed (5xx) or answered what it does not document; `details`
    /// has its `status` and `body`.
    #[response(status = 502)]
    Dialpad(ErrorBody),
    /// `dialpad_unavailable`: Dialpad could not be reached, or a token refresh is backing off;
    /// `rate_limited`: Dialpad kept answering 429 after the retries (`details.retry_after_secs`).
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The pages a browser gets when a connect link or OAuth state cannot be used.
#[derive(IntoResponses)]
pub enum ConnectPageErrors {
    /// `invalid_connect_link`: the link or OAuth state is unknown, expired or used; a page says
    /// so.
    #[response(status = 400, content_type = "text/html")]
    InvalidLink(String),
    /// `internal_error`: a page saying something went wrong; the server log has the details.
    #[response(status = 500, content_type = "text/html")]
    Internal(String),
}

/// For routes under `/accounts/{account_id}` whose only 404 is the account.
#[derive(IntoResponses)]
pub enum UnknownAccount {
    /// `not_found`: no such account.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// For routes that need the account's Dialpad credentials.
#[derive(IntoResponses)]
pub enum NoConnection {
    /// `not_connected` / `reauth_required`: the account has no usable connection; connect
    /// (again) with `POST /api/v1/accounts/{account_id}/connect`.
    #[response(status = 409)]
    NotConnected(ErrorBody),
}
