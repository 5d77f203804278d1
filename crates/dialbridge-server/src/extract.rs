//! Extractors whose rejections answer the contract's error body instead of axum's plain text,
//! and the one rule for JSON bodies: a body that is not empty must come as
//! `content-type: application/json` (or a `+json` type) or it is refused with 415; an empty
//! body is allowed only where the body is optional (`OptionalJson`).

use std::error::Error as StdError;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use dialbridge_core::Error;

use crate::error::ApiError;
use crate::serde_errors::{self, Part};

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The raw body, read whole (within the body limit and the body read timeout).
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|rejection| body_error(rejection.status(), &rejection))
    }
}

/// What a body that could not be read answers: 408 when it stopped arriving, 413 when it is
/// over the limit, 400 otherwise.
pub fn body_error(status: StatusCode, err: &(dyn StdError + 'static)) -> ApiError {
    let mut source = Some(err);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                "request_timeout",
                "the request body stopped arriving; send it whole, without pauses",
            );
        }
        source = err.source();
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new("payload_too_large", "the body is over 1 MiB");
    }
    ApiError::new(
        "invalid_request",
        format!("the body could not be read: {err}"),
    )
}

/// A JSON body, required.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        require_json_type(request.headers())?;
        let Body(bytes) = Body::from_request(request, state).await?;
        if is_blank(&bytes) {
            return Err(ApiError::new(
                "invalid_request",
                "the body is empty; this route needs a JSON body",
            ));
        }
        parse(&bytes).map(Json)
    }
}

/// A JSON body that may be absent: an empty body reads as `T::default()`, whatever its
/// content type.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let Body(bytes) = Body::from_request(request, state).await?;
        if is_blank(&bytes) {
            return Ok(OptionalJson(T::default()));
        }
        require_json_type(&headers)?;
        parse(&bytes).map(OptionalJson)
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn require_json_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let is_json = essence.as_deref().is_some_and(|t| {
        t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            "unsupported_media_type",
            "send the JSON body with 'content-type: application/json'",
        ))
    }
}

/// A body that is not JSON is `invalid_request`; JSON that does not fit the route is
/// `invalid_input` naming the field, like every other wrong field. Only a body that failed is
/// read a second time, with its path followed, so a body that fits pays nothing for that.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let e = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if !e.is_data() {
        return Err(ApiError::new(
            "invalid_request",
            format!("the JSON body is not valid: {e}"),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let (path, e) = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(traced) => (traced.path().to_string(), traced.into_inner()),
        Ok(_) => (".".to_owned(), e),
    };
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(end) if e.line() > 0 => &message[..end],
        _ => &message,
    };
    Err(Error::InvalidInput(vec![serde_errors::field_error(Part::Body, &path, message)]).into())
}
